/* corral: the policy file (/etc/corral/policy.json) and its profiles.
 * Parsing is strict: unknown keys, wrong types and invalid names are errors
 * carrying the JSON path of the offending value. */
#ifndef CORRAL_POLICY_H
#define CORRAL_POLICY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"
#include "spec/budget.h"
#include "spec/egress.h"
#include "base/json.h"

#define POLICY_MAX_SIZE (1024 * 1024)
#define ANNOTATION_PREFIX "run.corral."
/* Bounds of user.accept_range: Debian's dynamically allocated user ids. */
#define USER_ACCEPT_MIN 1000
#define USER_ACCEPT_MAX 59999

enum mount_action
{
  MOUNT_REFUSE,   /* the container does not start */
  MOUNT_READONLY, /* the mount is kept, read-only */
};

#ifndef CORRAL_LOG_DIR
#define CORRAL_LOG_DIR "/var/log/corral"
#endif
#define AUDIT_DEFAULT_PATH CORRAL_LOG_DIR "/audit.jsonl"
#define AUDIT_DEFAULT_KEY "/etc/corral/audit.key"

/* Where a container's audit records go (section "audit"). */
struct audit_config_s
{
  char *path;
  char *key_path;
  bool fsync;
  bool fail_closed; /* a create whose record cannot be written is refused */
};
typedef struct audit_config_s audit_config_t;

void audit_config_defaults (audit_config_t *c);
void audit_config_release (audit_config_t *c);

struct mount_rule_s
{
  char *source;      /* glob on the canonical host path, or NULL */
  char *destination; /* glob on the container path, or NULL */
  enum mount_action action;
};

struct tmpfs_s
{
  char *path;
  char *size; /* tmpfs size= value, e.g. "64m" */
};

/* Deny the syscall when any of flags is set in argument arg. */
struct flag_rule_s
{
  char *syscall;
  unsigned arg;
  uint64_t flags;
};

enum env_mode
{
  ENV_STRIP,     /* remove variables whose names match env_patterns */
  ENV_ALLOWLIST, /* keep only variables whose names match env_patterns */
};

struct corral_profile_s
{
  char *name;
  char *runtime; /* key of policy.runtimes */
  char *description;

  uint32_t uid, gid;
  /* The engine's user is kept when uid and gid both lie in
   * [accept_min, accept_max]; 0 and 0: never (always uid:gid). */
  uint32_t accept_min, accept_max;
  uint32_t *additional_gids;
  size_t n_additional_gids;

  bool readonly_root;
  struct tmpfs_s *tmpfs;
  size_t n_tmpfs;
  char **writable_mounts; /* container paths whose bind mounts stay writable */
  struct mount_rule_s *mount_rules;
  size_t n_mount_rules;
  char **masked_paths;
  char **readonly_paths;

  char **capabilities;                 /* kept, canonical "CAP_…" names */
  int64_t rlimit_nofile, rlimit_nproc; /* -1 = not set */

  char **seccomp_deny;   /* syscalls denied outright */
  char **seccomp_enosys; /* denied with ENOSYS, so libc falls back */
  int seccomp_errno;     /* errno for denied syscalls */
  struct flag_rule_s *seccomp_flags;
  size_t n_seccomp_flags;

  enum env_mode env_mode;
  char **env_patterns;

  int64_t memory;    /* bytes, 0 = no limit from the profile */
  int64_t pids;      /* 0 = none */
  int64_t cpu_quota; /* µs per cpu_period, 0 = none */
  uint64_t cpu_period;
  uint64_t cpu_shares;

  bool network;          /* false: offline, the container gets a fresh netns */
  egress_rule_t *egress; /* allowlist; everything else is denied */
  size_t n_egress;
  uint16_t log_group; /* NFLOG group of denied packets */
  /* Name-bound egress (egress.bind_names): a TCP flow to an address the
   * DNS guard added goes through only if its TLS SNI or HTTP Host is an
   * allowed name that resolved to that address here. */
  bool bind_names;
  /* Ports that new inbound connections may reach; all others are dropped. */
  ingress_port_t *ingress;
  size_t n_ingress;
  /* Names held for a human's approval (corral approve/deny) by the guard. */
  egress_rule_t *ask;
  size_t n_ask;
  uint32_t ask_timeout; /* seconds without a decision before it is denied */
  char **ask_alert;     /* argv run with each new request's JSON event */
  /* The DNS guard, for egress entries that are domain names ("dns"). */
  char *dns_upstream;       /* "IP:port" / "[IPv6]:port", NULL if none */
  uint32_t dns_grace;       /* seconds added to each answer's TTL */
  uint8_t dns_denied_rcode; /* DNS_RCODE_REFUSED or DNS_RCODE_NXDOMAIN */
  char **overridable;       /* annotation names a container may use to tighten */
  corral_budgets_t budgets; /* watched by the per-container watchdog */
};
typedef struct corral_profile_s corral_profile_t;

struct runtime_s
{
  char *name;
  char *path;
};

struct corral_policy_s
{
  char *default_profile;
  char *gvisor_platform; /* runsc --platform: ptrace, systrap or kvm */
  char *gvisor_network;  /* runsc --network: sandbox (default) or host */
  /* The annotation the engine sets that names the tenant behind daily
   * budgets (e.g. the Kubernetes namespace), or NULL. */
  char *tenant_annotation;
  audit_config_t audit;
  struct runtime_s *runtimes;
  size_t n_runtimes;
  corral_profile_t *profiles;
  size_t n_profiles;
};
typedef struct corral_policy_s corral_policy_t;

/* Parse a policy from memory.  name is for messages. */
corral_policy_t *policy_parse (const char *data, size_t len, const char *name, corral_error_t *err);
/* Load a policy file (root-owned regular file, at most POLICY_MAX_SIZE). */
corral_policy_t *policy_load (const char *path, corral_error_t *err);
void policy_free (corral_policy_t *p);
static inline void
policy_freep (corral_policy_t **p)
{
  policy_free (*p);
}
#define cleanup_policy __attribute__ ((cleanup (policy_freep)))

const corral_profile_t *policy_find_profile (const corral_policy_t *p, const char *name);
const char *policy_runtime_path (const corral_policy_t *p, const char *runtime);

/* Choose the profile for a spec: the engine's --profile (operator's choice)
 * and the annotation run.corral.profile must agree when both are set. */
const corral_profile_t *policy_select_profile (const corral_policy_t *p, const char *flag_profile,
                                               const json_t *annotations, corral_error_t *err);

/* Copy of profile tightened by the spec's run.corral.* annotations.  Unknown
 * annotations, ones the profile does not let a container set, and values
 * that would loosen the profile are errors. */
corral_profile_t *profile_with_annotations (const corral_profile_t *profile, const json_t *annotations,
                                            corral_error_t *err);
void profile_free (corral_profile_t *p);
static inline void
profile_freep (corral_profile_t **p)
{
  profile_free (*p);
}
#define cleanup_profile __attribute__ ((cleanup (profile_freep)))

/* Does the profile allow any domain name (and so need the DNS guard)? */
bool profile_has_domains (const corral_profile_t *p);

/* Human-readable summary for `corral policy check`. */
char *policy_summary (const corral_policy_t *p);

#endif
