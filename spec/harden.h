/* corral: the hardening pipeline.  Each step is a pure function over the
 * spec tree and the (annotation-tightened) profile that appends what it
 * changed, and why, to a change log. */
#ifndef CORRAL_HARDEN_H
#define CORRAL_HARDEN_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "base/json.h"
#include "spec/policy.h"

struct change_s
{
  char *step;
  char *what;
};

struct changes_s
{
  struct change_s *items;
  size_t n;
};
typedef struct changes_s changes_t;

void changes_add (changes_t *c, const char *step, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));
void changes_release (changes_t *c);
#define cleanup_changes __attribute__ ((cleanup (changes_release)))

/* Facts about the host that steps need; gathered once by the caller so the
 * steps themselves do no I/O. */
typedef struct harden_ctx_s harden_ctx_t;
struct harden_ctx_s
{
  const corral_profile_t *profile;
  /* The spec's network namespace is the caller's own (or there is none). */
  bool netns_is_host;
  /* Seccomp architectures of this machine: native first, then compat. */
  const char *const *seccomp_arches;
  /* Canonical host path of a bind-mount source (symlinks resolved), or
   * NULL to use the source as written. Returns malloc'd or NULL. */
  char *(*resolve_source) (const char *source);
  /* The corral binary the injected hooks run, and the container's state
   * directory they read their instructions from. */
  const char *hook_path;
  const char *state_dir;
  /* The resolv.conf (in the state directory) that names the DNS guard,
   * bound over /etc/resolv.conf when the profile allows domain names. */
  const char *resolv_conf;
  /* Classify a namespace path the spec joins (NULL: every join is
   * unproven).  sandbox_id is the pod sandbox the spec's CRI annotations
   * name, or NULL. */
  enum ns_join (*classify_join) (const harden_ctx_t *ctx, const char *type, const char *path, const char *sandbox_id);
  /* The engine's --root (NULL: runc's default), for classify_join. */
  const char *engine_root;
  /* lstat mode of a canonical bind source, or 0 when unknown (NULL: not
   * checked). */
  unsigned (*source_mode) (const char *canon);
  /* Is a cgroupfs path already a cgroup (NULL: not checked)? */
  bool (*cgroup_exists) (const char *path);
  /* Owner of the directory process.env HOME names in the image's rootfs,
   * or -1 when HOME is unset, missing or not a directory. */
  int64_t image_home_uid;
};

/* What the caller proved about a namespace `path` the spec joins. */
enum ns_join
{
  NS_JOIN_UNPROVEN = 0, /* nothing: refused */
  NS_JOIN_HOST,         /* the caller's own namespace */
  NS_JOIN_POD_SANDBOX,  /* the namespace of the pod sandbox the spec names, created by corral */
  NS_JOIN_FRESH_NETNS,  /* a named netns (/run/netns) no process is in yet */
};

/* Host ids a user namespace may map onto start here: below lie root, the
 * system accounts and people's own accounts (their files on the host). */
#define USERNS_MIN_HOST_ID 65536

typedef int (*harden_step_fn) (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err);

int harden_namespaces (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err);
int harden_user (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err);
/* Does a host path expose what a mount-rule pattern names (the path, an
 * ancestor or something below it)?  harden_fs.c. */
bool harden_pattern_hits (const char *pattern, const char *path);

/* Is mount m a bind (type bind, or options bind/rbind)?  harden_mounts.c,
 * which judges binds; the shim stages the same ones (shim/binds.c). */
bool harden_mount_is_bind (const json_t *m);
/* What a bind source of file type mode (st_mode) is when it is refused
 * whatever the policy says ("socket", "FIFO", "device node"), else NULL.
 * The one rule for the judge and for the shim's check of the opened
 * source. */
const char *harden_source_kind_refused (unsigned mode);

int harden_fields (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err);
int harden_mounts (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err);
int harden_filesystem (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err);
int harden_home (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err);
int harden_devices (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err);
int harden_privileges (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err);
int harden_seccomp (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err);
int harden_vsock (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err);
int harden_environment (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err);
int harden_resources (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err);
int harden_dns (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err);
int harden_hooks (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err);
int harden_budgets (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err);
int harden_runsc_limits (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err);

/* Where HOME goes when the image's HOME is not the agent's: a tmpfs. */
#define HARDEN_HOME_SCRATCH "/home/agent"

/* process.env HOME of spec, or NULL. */
const char *harden_env_home (const json_t *spec);

/* A scratch tmpfs owned by uid:gid (nosuid, nodev). */
json_t *harden_new_tmpfs (const char *path, const char *size, const char *mode, int64_t uid, int64_t gid);

/* The process fields of an exec'd process judged as at create (unknown
 * keys refused, rlimits, oomScoreAdj, I/O priority). */
int harden_process_fields (json_t *process, changes_t *changes, corral_error_t *err);

/* An exec'd process runs as the container's process does: its user was
 * judged at create (accept_range included), whatever the process file
 * asks for. */
void harden_exec_user (json_t *wrapper, const json_t *container_spec, changes_t *changes);

/* An exec'd process gets the container's scratch HOME, not the image's. */
void harden_exec_home (json_t *wrapper, const json_t *container_spec, changes_t *changes);

/* Run every step in order; stops at the first error. */
int harden_spec (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err);

/* Seccomp architectures of the running machine (static storage). */
const char *const *harden_native_arches (void);

#endif
