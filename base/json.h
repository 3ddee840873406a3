/* corral: the only module that knows the JSON library.  A parsed document is
 * a tree that callers read and edit through these functions; serialising it
 * re-emits every value corral did not touch as it was (numbers keep their
 * original text). */
#ifndef CORRAL_JSON_H
#define CORRAL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct yajl_val_s json_t;

/* Nesting deeper than this is refused: no real OCI spec comes close, yajl_gen stops at 128, and it
 * bounds every recursive walk over a tree. */
#define JSON_MAX_DEPTH 64

/* Strict parse of exactly len bytes: one value, no comments, valid UTF-8, no
 * NUL bytes, no duplicate keys, depth bounded.  The error says where. */
json_t *json_parse (const char *buf, size_t len, corral_error_t *err);
void json_free (json_t *v);
static inline void
json_freep (json_t **v)
{
  json_free (*v);
}
#define cleanup_json __attribute__ ((cleanup (json_freep)))

/* Serialise; pretty adds newlines and indentation. */
char *json_serialize (const json_t *v, bool pretty);
/* A C string as a quoted, escaped JSON string. */
char *json_quote (const char *s);

bool json_is_object (const json_t *v);
bool json_is_array (const json_t *v);
bool json_is_string (const json_t *v);
bool json_is_number (const json_t *v);
bool json_is_bool (const json_t *v);
bool json_is_null (const json_t *v);
const char *json_type_name (const json_t *v);

/* Readers return NULL / false when v is absent or of another type. */
json_t *json_get (const json_t *obj, const char *key);
const char *json_get_string (const json_t *obj, const char *key);
const char *json_string (const json_t *v);
bool json_int64 (const json_t *v, int64_t *ret);
/* A number as written in the document (for exact decimals), or NULL. */
const char *json_number_text (const json_t *v);
bool json_bool (const json_t *v, bool *ret);
size_t json_len (const json_t *v); /* array elements or object members */
json_t *json_at (const json_t *arr, size_t i);
const char *json_key_at (const json_t *obj, size_t i);
json_t *json_value_at (const json_t *obj, size_t i);

json_t *json_new_object (void);
json_t *json_new_array (void);
json_t *json_new_string (const char *s);
json_t *json_new_int (int64_t i);
/* A number written as the caller formatted it (a decimal such as "2.864");
 * aborts unless text is a JSON number (callers pass their own formatting). */
json_t *json_new_number (const char *text);
json_t *json_new_bool (bool b);
json_t *json_new_null (void);
json_t *json_deep_copy (const json_t *v);
bool json_equal (const json_t *a, const json_t *b);

/* JSON lines, the format of corral's logs (egress, DNS, budget).  A record
 * starts as {"time": now in RFC 3339, "event": event}. */
json_t *json_new_record (const char *event);
/* Write v compact and newline-terminated with one write(2), so records of
 * appenders sharing an O_APPEND log never interleave.  A negative fd is a
 * log that could not be opened: nothing is written. */
int json_write_line (int fd, const json_t *v);

/* Editors take ownership of val.  json_set replaces an existing key in place
 * (keeping member order) or appends it. */
void json_set (json_t *obj, const char *key, json_t *val);
bool json_del (json_t *obj, const char *key);
/* json_set a copy of each member of src into obj. */
void json_merge (json_t *obj, const json_t *src);
/* Return obj[key], first creating it (or replacing a value of the wrong type)
 * as an empty object / array. */
json_t *json_ensure_object (json_t *obj, const char *key);
json_t *json_ensure_array (json_t *obj, const char *key);
void json_push (json_t *arr, json_t *val);
void json_insert_at (json_t *arr, size_t i, json_t *val);
void json_remove_at (json_t *arr, size_t i);
bool json_array_has_string (const json_t *arr, const char *s);

/* obj must be an object whose keys are all in allowed (NULL-terminated);
 * errors name path and the first unknown key. */
int json_check_keys (const json_t *obj, const char *path, const char *const allowed[], corral_error_t *err);

#endif
