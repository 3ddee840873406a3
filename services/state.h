/* corral: per-container records of which delegate runtime owns a container.
 * Layout: <base>/<key>/root           the engine's --root, in clear
 *         <base>/<key>/<id>/record.json
 *         <base>/<key>/<id>/binds/<n>      bind sources staged for the delegate
 * where key is a hash of the engine's --root so two engines (or two
 * containerd namespaces) with the same container id never collide. */
#ifndef CORRAL_STATE_H
#define CORRAL_STATE_H

#include <stdbool.h>

#include "base/error.h"

#define CORRAL_STATE_BASE "/run/corral"
/* runc's own default when the engine passes no --root (Podman). */
#define RUNC_DEFAULT_ROOT "/run/runc"

struct state_record_s
{
  char *delegate;      /* absolute path of the runtime that created it */
  char *delegate_name; /* "runc" or "gvisor" */
  char *profile;
  char *bundle;
  /* What the createRuntime hook installs (it reads the record from the
   * container's state directory). */
  char *id;
  char **delegate_args; /* global flags the delegate gets on every command (runsc) */
  char **egress;        /* canonical allowlist entries, NULL-terminated */
  char **ingress;       /* published ports ("8080/tcp"), NULL-terminated */
  int log_group;
  bool bind_names; /* name-bound egress (spec/namebind.h) */
  /* The DNS guard's plan when egress has domain names (else NULL / 0). */
  char *dns_upstream;
  int dns_grace;
  int dns_rcode;
  char **ask;       /* names held for a human's decision, canonical entries */
  int ask_timeout;  /* seconds */
  char **ask_alert; /* argv of the alert command, or NULL */
  /* Audit: who the container is, and where its records go. */
  char *agent;
  char *engine;
  char *audit_path;
  char *audit_key;
  bool audit_fsync;
};
typedef struct state_record_s state_record_t;

void state_record_release (state_record_t *r);
/* A record that owns its strings, released when it goes out of scope. */
#define cleanup_record __attribute__ ((cleanup (state_record_release)))

/* Container ids become file names in the state directory: letters, digits
 * and "_+-." only, not "." or "..", at most 1024 bytes (runc's own rule). */
bool state_id_is_valid (const char *id);

/* runsc's --root for containers of one engine root: "<base>/runsc/<key>". */
char *state_runsc_root (const char *base, const char *engine_root);

/* Directory for one container: "<base>/<key>/<id>". */
char *state_container_dir (const char *base, const char *engine_root, const char *id);

/* Make the container's directory (0700), as state_record_write does, for
 * what goes there before the record (the staged binds, shim/binds.h). */
int state_container_dir_create (const char *base, const char *engine_root, const char *id, corral_error_t *err);

int state_record_write (const char *base, const char *engine_root, const char *id, const state_record_t *r,
                        corral_error_t *err);
/* Returns 1 and fills *ret when found, 0 when there is no record. */
int state_record_read (const char *base, const char *engine_root, const char *id, state_record_t *ret,
                       corral_error_t *err);
/* Read the record in a container directory given by path (the hooks). */
int state_record_read_dir (const char *dir, state_record_t *ret, corral_error_t *err);
/* Removes the container's directory and everything in it; absent is fine. */
int state_record_remove (const char *base, const char *engine_root, const char *id, corral_error_t *err);

#endif
