/* corral: the tamper-evident audit log.  One JSON object per line, each
 * carrying a sequence number, the previous record's MAC and its own
 * HMAC-SHA-256 (keyed by a root-only key) over the previous MAC and the
 * record's canonical bytes, so an edited, dropped, reordered or forged
 * line breaks the chain at that line. */
#ifndef CORRAL_AUDIT_H
#define CORRAL_AUDIT_H

#include <stdbool.h>
#include <stdio.h>

#include "base/error.h"
#include "services/state.h"
#include "spec/policy.h"
#include "base/json.h"

/* Who the record is about. */
struct audit_subject_s
{
  const char *container;
  const char *agent;
  const char *engine;
};
typedef struct audit_subject_s audit_subject_t;

/* What one record may hold (see services/audit_bound.c): lists and objects
 * keep their first AUDIT_LIST_MAX items (a cut list adds "<key>_total"),
 * strings their first AUDIT_STRING_MAX bytes. */
#define AUDIT_LIST_MAX 64
#define AUDIT_STRING_MAX 1024
json_t *audit_bound_fields (const json_t *fields);
char *audit_bound_string (const char *s);

/* Append one record (fields: an object, owned by the caller), bounded as
 * above. */
int audit_append (const audit_config_t *c, const audit_subject_t *who, const char *event, const json_t *fields,
                  corral_error_t *err);

/* Append a record about the container of a state record, to the log the
 * record names (nothing when it names none). */
int audit_record_event (const state_record_t *rec, const char *event, const json_t *fields, corral_error_t *err);

/* Who is running this command, for records of human decisions: the login
 * behind sudo, else the user's name, else "uid N". */
const char *audit_actor (char *buf, size_t len);

/* The record line for seq/prev (pure, for unit tests): canonical JSON with
 * "mac" appended, no newline. */
char *audit_record_line (const unsigned char *key, size_t key_len, int64_t seq, const char *prev_mac, const char *time,
                         const char *host, const audit_subject_t *who, const char *event, const json_t *fields);

/* Check a whole log; on a break prints "FILE: line N: why" to out and
 * returns 1; 0 if the chain holds; -1 on an I/O error. */
int audit_verify (const char *path, const char *key_path, FILE *out, corral_error_t *err);
/* The same over files in chain order (rotated ones oldest first, the live
 * log last): every file but the last must end in a seal record, and each
 * must continue the one before it. */
int audit_verify_files (char *const *paths, size_t n, const char *key_path, FILE *out, corral_error_t *err);

/* Seal the live log, move it to "<path>.<UTC time>" and start a new one
 * whose first record continues the chain; then, when keep >= 0, remove all
 * but the keep newest rotated files.  Safe against concurrent writers. */
int audit_rotate (const audit_config_t *c, int keep, FILE *out, corral_error_t *err);

/* The rotated files of the log at path, oldest first (NULL-terminated;
 * NULL when there are none). */
char **audit_rotated_files (const char *path, size_t *ret_n);

/* Print records matching the filters (NULL = any) as text, JSON or CSV. */
int audit_show (const char *path, const char *container, const char *agent, const char *since, const char *format,
                FILE *out, corral_error_t *err);

#endif
