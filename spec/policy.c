/* corral: strict parsing of policy.json into corral_policy_t. */
#include "config.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <seccomp.h>
#include <stdio.h>
#include <sys/capability.h>
#include <sys/stat.h>

#include "base/fs.h"
#include "base/util.h"
#include "spec/bundle.h"
#include "spec/dns.h"
#include "spec/policy.h"

/* ---- typed getters: every error names the JSON path ---- */

void
audit_config_defaults (audit_config_t *c)
{
  c->path = xstrdup (AUDIT_DEFAULT_PATH);
  c->key_path = xstrdup (AUDIT_DEFAULT_KEY);
  c->fsync = true;
  c->fail_closed = true;
}

void
audit_config_release (audit_config_t *c)
{
  free (c->path);
  free (c->key_path);
  c->path = c->key_path = NULL;
}

static int
get_string (const json_t *obj, const char *key, const char *path, char **ret, corral_error_t *err)
{
  json_t *v = json_get (obj, key);

  if (v == NULL)
    return 0;
  if (!json_is_string (v))
    return corral_error_make (err, 0, "%s.%s: expected a string, found %s", path, key, json_type_name (v));
  free (*ret);
  *ret = xstrdup (json_string (v));
  return 1;
}

static int
get_bool (const json_t *obj, const char *key, const char *path, bool *ret, corral_error_t *err)
{
  json_t *v = json_get (obj, key);

  if (v == NULL)
    return 0;
  if (!json_bool (v, ret))
    return corral_error_make (err, 0, "%s.%s: expected true or false, found %s", path, key, json_type_name (v));
  return 1;
}

static int
get_int (const json_t *obj, const char *key, const char *path, int64_t min, int64_t max, int64_t *ret,
         corral_error_t *err)
{
  json_t *v = json_get (obj, key);
  int64_t n;

  if (v == NULL)
    return 0;
  if (!json_int64 (v, &n))
    return corral_error_make (err, 0, "%s.%s: expected an integer, found %s", path, key, json_type_name (v));
  if (n < min || n > max)
    return corral_error_make (err, 0, "%s.%s: %" PRId64 " is out of range [%" PRId64 ", %" PRId64 "]", path, key, n,
                              min, max);
  *ret = n;
  return 1;
}

static int
get_size (const json_t *obj, const char *key, const char *path, int64_t *ret, corral_error_t *err)
{
  json_t *v = json_get (obj, key);

  if (v == NULL)
    return 0;
  if (json_is_string (v))
    {
      if (parse_size (json_string (v), ret) < 0)
        return corral_error_make (err, 0, "%s.%s: invalid size \"%s\" (bytes, or a number with k, m or g)", path, key,
                                  json_string (v));
      return 1;
    }
  return get_int (obj, key, path, 0, INT64_MAX, ret, err);
}

typedef int (*str_check_fn) (const char *s, const char *path, char **ret_canonical, corral_error_t *err);

static int
get_strv (const json_t *obj, const char *key, const char *path, str_check_fn check, char ***ret, corral_error_t *err)
{
  json_t *v = json_get (obj, key);
  cleanup_strv char **out = NULL;
  size_t n;

  if (v == NULL)
    return 0;
  if (!json_is_array (v))
    return corral_error_make (err, 0, "%s.%s: expected an array, found %s", path, key, json_type_name (v));
  n = json_len (v);
  out = xmalloc0 ((n + 1) * sizeof (char *));
  for (size_t i = 0; i < n; i++)
    {
      const char *s = json_string (json_at (v, i));
      cleanup_free char *ipath = NULL;

      xasprintf (&ipath, "%s.%s[%zu]", path, key, i);
      if (s == NULL)
        return corral_error_make (err, 0, "%s: expected a string, found %s", ipath, json_type_name (json_at (v, i)));
      if (check)
        {
          char *canon = NULL;
          if (check (s, ipath, &canon, err) < 0)
            return -1;
          out[i] = canon ? canon : xstrdup (s);
        }
      else
        out[i] = xstrdup (s);
    }
  strv_free (*ret);
  *ret = steal_pointer (&out);
  return 1;
}

/* ---- value checks ---- */

static int
check_abs_path (const char *s, const char *path, char **ret, corral_error_t *err)
{
  (void) ret;
  if (s[0] != '/' || strstr (s, "/../") || (strlen (s) >= 3 && str_eq (s + strlen (s) - 3, "/..")))
    return corral_error_make (err, 0, "%s: \"%s\" is not an absolute path without \"..\"", path, s);
  return 0;
}

static int
check_capability (const char *s, const char *path, char **ret, corral_error_t *err)
{
  cap_value_t cap;
  char *name;

  if (cap_from_name (s, &cap) < 0)
    return corral_error_make (err, 0, "%s: unknown capability \"%s\"", path, s);
  name = cap_to_name (cap);
  if (name == NULL)
    return corral_error_make (err, errno, "%s: capability \"%s\"", path, s);
  *ret = xstrdup (name);
  cap_free (name);
  for (char *c = *ret; *c; c++)
    *c = (char) (*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c);
  return 0;
}

/* A syscall name must be known to libseccomp on the native architecture or
 * one of its compat architectures (e.g. "_llseek" exists only on x86). */
static int
check_syscall (const char *s, const char *path, char **ret, corral_error_t *err)
{
  static const uint32_t arches[] = { 0 /* native */, SCMP_ARCH_X86, SCMP_ARCH_X32, SCMP_ARCH_AARCH64, SCMP_ARCH_ARM };
  (void) ret;

  for (size_t i = 0; i < sizeof (arches) / sizeof (arches[0]); i++)
    {
      int nr = arches[i] ? seccomp_syscall_resolve_name_arch (arches[i], s) : seccomp_syscall_resolve_name (s);
      if (nr != __NR_SCMP_ERROR)
        return 0;
    }
  return corral_error_make (err, 0, "%s: unknown syscall \"%s\"", path, s);
}

static int
check_glob (const char *s, const char *path, char **ret, corral_error_t *err)
{
  (void) ret;
  if (*s == '\0')
    return corral_error_make (err, 0, "%s: empty pattern", path);
  return 0;
}

static int
check_annotation (const char *s, const char *path, char **ret, corral_error_t *err)
{
  static const char *const known[] = { "run.corral.memory",       "run.corral.pids",    "run.corral.env.strip",
                                       "run.corral.egress.allow", "run.corral.runtime", NULL };
  (void) ret;
  for (size_t i = 0; known[i]; i++)
    if (str_eq (known[i], s))
      return 0;
  if (budget_annotation_known (s))
    return 0;
  return corral_error_make (err, 0, "%s: \"%s\" is not an annotation a container can use to tighten a profile", path,
                            s);
}

struct named_value
{
  const char *name;
  uint64_t value;
};

static const struct named_value flag_names[] = {
  { "CLONE_NEWNS", 0x00020000 },       { "CLONE_NEWCGROUP", 0x02000000 },  { "CLONE_NEWUTS", 0x04000000 },
  { "CLONE_NEWIPC", 0x08000000 },      { "CLONE_NEWUSER", 0x10000000 },    { "CLONE_NEWPID", 0x20000000 },
  { "CLONE_NEWNET", 0x40000000 },      { "CLONE_NEWTIME", 0x00000080 },    { "UNAME26", 0x0020000 },
  { "ADDR_NO_RANDOMIZE", 0x0040000 },  { "FDPIC_FUNCPTRS", 0x0080000 },    { "MMAP_PAGE_ZERO", 0x0100000 },
  { "ADDR_COMPAT_LAYOUT", 0x0200000 }, { "READ_IMPLIES_EXEC", 0x0400000 }, { "ADDR_LIMIT_32BIT", 0x0800000 },
  { "SHORT_INODE", 0x1000000 },        { "WHOLE_SECONDS", 0x2000000 },     { "STICKY_TIMEOUTS", 0x4000000 },
  { "ADDR_LIMIT_3GB", 0x8000000 },
};

static const struct named_value errno_names[] = {
  { "EPERM", EPERM }, { "EACCES", EACCES }, { "ENOSYS", ENOSYS }, { "EINVAL", EINVAL }, { "ENOTSUP", ENOTSUP },
};

static int
lookup_name (const struct named_value *table, size_t n, const char *name, uint64_t *ret)
{
  for (size_t i = 0; i < n; i++)
    if (str_eq (table[i].name, name))
      {
        *ret = table[i].value;
        return 0;
      }
  return -1;
}

/* ---- sections ---- */

/* user.accept_range [min, max]: the engine's own non-root user (podman run
 * --user 1000:1000) is kept when both its uid and gid lie in the range.
 * Only Debian's dynamically allocated user ids qualify (1000-59999, Debian
 * Policy 9.2.2): root, system accounts, nobody (65534) and the subordinate
 * ranges of user namespaces (100000 and up) can never be asked for. */
static int
parse_accept_range (corral_profile_t *p, const json_t *r, const char *path, corral_error_t *err)
{
  int64_t lo, hi;

  if (r == NULL)
    return 0;
  if (!json_is_array (r) || json_len (r) != 2 || !json_int64 (json_at (r, 0), &lo) || !json_int64 (json_at (r, 1), &hi))
    return corral_error_make (err, 0, "%s.accept_range: expected [min, max], two integers", path);
  if (lo < USER_ACCEPT_MIN || hi > USER_ACCEPT_MAX || lo > hi)
    return corral_error_make (err, 0,
                              "%s.accept_range: [%" PRId64 ", %" PRId64 "] must lie within [%d, %d] with min <= max "
                              "(root, system and nobody ids are never accepted from the engine)",
                              path, lo, hi, USER_ACCEPT_MIN, USER_ACCEPT_MAX);
  p->accept_min = (uint32_t) lo;
  p->accept_max = (uint32_t) hi;
  return 0;
}

static int
parse_user (corral_profile_t *p, const json_t *u, const char *path, corral_error_t *err)
{
  static const char *const keys[] = { "uid", "gid", "additional_gids", "accept_range", NULL };
  json_t *gids;
  int64_t n;

  if (json_check_keys (u, path, keys, err) < 0)
    return -1;
  if (get_int (u, "uid", path, 0, UINT32_MAX - 1, &n, err) < 0)
    return -1;
  if (json_get (u, "uid"))
    p->uid = (uint32_t) n;
  if (get_int (u, "gid", path, 0, UINT32_MAX - 1, &n, err) < 0)
    return -1;
  if (json_get (u, "gid"))
    p->gid = (uint32_t) n;
  /* Root in the container is root on the host: corral has no user-namespace
   * profile yet, so a profile can never run agents as uid or gid 0. */
  if (p->uid == 0 || p->gid == 0)
    return corral_error_make (err, 0, "%s: uid and gid must not be 0: agents never run as root", path);
  if (parse_accept_range (p, json_get (u, "accept_range"), path, err) < 0)
    return -1;

  gids = json_get (u, "additional_gids");
  if (gids == NULL)
    return 0;
  if (!json_is_array (gids))
    return corral_error_make (err, 0, "%s.additional_gids: expected an array", path);
  free (p->additional_gids);
  p->n_additional_gids = json_len (gids);
  p->additional_gids = xmalloc0 (p->n_additional_gids * sizeof (uint32_t));
  for (size_t i = 0; i < p->n_additional_gids; i++)
    {
      if (!json_int64 (json_at (gids, i), &n) || n <= 0 || n >= UINT32_MAX)
        return corral_error_make (err, 0, "%s.additional_gids[%zu]: expected a gid between 1 and %u", path, i,
                                  UINT32_MAX - 1);
      p->additional_gids[i] = (uint32_t) n;
    }
  return 0;
}

static int
parse_tmpfs (corral_profile_t *p, const json_t *arr, const char *path, corral_error_t *err)
{
  static const char *const keys[] = { "path", "size", NULL };

  if (!json_is_array (arr))
    return corral_error_make (err, 0, "%s: expected an array", path);
  for (size_t i = 0; i < p->n_tmpfs; i++)
    {
      free (p->tmpfs[i].path);
      free (p->tmpfs[i].size);
    }
  free (p->tmpfs);
  p->n_tmpfs = json_len (arr);
  p->tmpfs = xmalloc0 (p->n_tmpfs * sizeof (*p->tmpfs));
  for (size_t i = 0; i < p->n_tmpfs; i++)
    {
      cleanup_free char *ipath = NULL;
      json_t *e = json_at (arr, i);
      int64_t size;

      xasprintf (&ipath, "%s[%zu]", path, i);
      if (json_check_keys (e, ipath, keys, err) < 0 || get_string (e, "path", ipath, &p->tmpfs[i].path, err) < 0
          || get_string (e, "size", ipath, &p->tmpfs[i].size, err) < 0)
        return -1;
      if (p->tmpfs[i].path == NULL)
        return corral_error_make (err, 0, "%s.path: missing", ipath);
      if (check_abs_path (p->tmpfs[i].path, ipath, NULL, err) < 0)
        return -1;
      if (p->tmpfs[i].size == NULL)
        p->tmpfs[i].size = xstrdup ("64m");
      if (parse_size (p->tmpfs[i].size, &size) < 0 || size == 0)
        return corral_error_make (err, 0, "%s.size: invalid size \"%s\"", ipath, p->tmpfs[i].size);
    }
  return 0;
}

static int
parse_mount_rules (corral_profile_t *p, const json_t *arr, const char *path, corral_error_t *err)
{
  static const char *const keys[] = { "source", "destination", "action", NULL };

  if (!json_is_array (arr))
    return corral_error_make (err, 0, "%s: expected an array", path);
  for (size_t i = 0; i < p->n_mount_rules; i++)
    {
      free (p->mount_rules[i].source);
      free (p->mount_rules[i].destination);
    }
  free (p->mount_rules);
  p->n_mount_rules = json_len (arr);
  p->mount_rules = xmalloc0 (p->n_mount_rules * sizeof (*p->mount_rules));
  for (size_t i = 0; i < p->n_mount_rules; i++)
    {
      struct mount_rule_s *r = &p->mount_rules[i];
      cleanup_free char *ipath = NULL;
      cleanup_free char *action = NULL;
      json_t *e = json_at (arr, i);

      xasprintf (&ipath, "%s[%zu]", path, i);
      if (json_check_keys (e, ipath, keys, err) < 0 || get_string (e, "source", ipath, &r->source, err) < 0
          || get_string (e, "destination", ipath, &r->destination, err) < 0
          || get_string (e, "action", ipath, &action, err) < 0)
        return -1;
      if ((r->source == NULL) == (r->destination == NULL))
        return corral_error_make (err, 0, "%s: give exactly one of \"source\" and \"destination\"", ipath);
      if (check_abs_path (r->source ? r->source : r->destination, ipath, NULL, err) < 0)
        return -1;
      if (action == NULL || str_eq (action, "refuse"))
        r->action = MOUNT_REFUSE;
      else if (str_eq (action, "readonly"))
        r->action = MOUNT_READONLY;
      else
        return corral_error_make (err, 0, "%s.action: \"%s\" is not \"refuse\" or \"readonly\"", ipath, action);
    }
  return 0;
}

static int
parse_filesystem (corral_profile_t *p, const json_t *fs, const char *path, corral_error_t *err)
{
  static const char *const keys[]
      = { "readonly_root", "tmpfs", "writable_mounts", "mount_rules", "masked_paths", "readonly_paths", NULL };
  cleanup_free char *sub = NULL;

  if (json_check_keys (fs, path, keys, err) < 0 || get_bool (fs, "readonly_root", path, &p->readonly_root, err) < 0)
    return -1;
  if (!p->readonly_root)
    return corral_error_make (err, 0, "%s.readonly_root: must be true: an agent never writes its image", path);
  if (json_get (fs, "tmpfs"))
    {
      xasprintf (&sub, "%s.tmpfs", path);
      if (parse_tmpfs (p, json_get (fs, "tmpfs"), sub, err) < 0)
        return -1;
      free (steal_pointer (&sub));
    }
  if (json_get (fs, "mount_rules"))
    {
      xasprintf (&sub, "%s.mount_rules", path);
      if (parse_mount_rules (p, json_get (fs, "mount_rules"), sub, err) < 0)
        return -1;
    }
  if (get_strv (fs, "writable_mounts", path, check_abs_path, &p->writable_mounts, err) < 0
      || get_strv (fs, "masked_paths", path, check_abs_path, &p->masked_paths, err) < 0
      || get_strv (fs, "readonly_paths", path, check_abs_path, &p->readonly_paths, err) < 0)
    return -1;
  return 0;
}

static int
parse_rlimits (corral_profile_t *p, const json_t *r, const char *path, corral_error_t *err)
{
  static const char *const keys[] = { "nofile", "nproc", NULL };

  if (json_check_keys (r, path, keys, err) < 0 || get_int (r, "nofile", path, 1, INT32_MAX, &p->rlimit_nofile, err) < 0
      || get_int (r, "nproc", path, 1, INT32_MAX, &p->rlimit_nproc, err) < 0)
    return -1;
  return 0;
}

static int
parse_flag_rules (corral_profile_t *p, const json_t *arr, const char *path, corral_error_t *err)
{
  static const char *const keys[] = { "syscall", "arg", "flags", NULL };

  if (!json_is_array (arr))
    return corral_error_make (err, 0, "%s: expected an array", path);
  for (size_t i = 0; i < p->n_seccomp_flags; i++)
    free (p->seccomp_flags[i].syscall);
  free (p->seccomp_flags);
  p->n_seccomp_flags = json_len (arr);
  p->seccomp_flags = xmalloc0 (p->n_seccomp_flags * sizeof (*p->seccomp_flags));
  for (size_t i = 0; i < p->n_seccomp_flags; i++)
    {
      struct flag_rule_s *r = &p->seccomp_flags[i];
      cleanup_free char *ipath = NULL;
      json_t *e = json_at (arr, i), *flags;
      int64_t arg = 0;

      xasprintf (&ipath, "%s[%zu]", path, i);
      if (json_check_keys (e, ipath, keys, err) < 0 || get_string (e, "syscall", ipath, &r->syscall, err) < 0
          || get_int (e, "arg", ipath, 0, 5, &arg, err) < 0)
        return -1;
      if (r->syscall == NULL)
        return corral_error_make (err, 0, "%s.syscall: missing", ipath);
      {
        cleanup_free char *spath = NULL;
        xasprintf (&spath, "%s.syscall", ipath);
        if (check_syscall (r->syscall, spath, NULL, err) < 0)
          return -1;
      }
      r->arg = (unsigned) arg;
      flags = json_get (e, "flags");
      if (!json_is_array (flags) || json_len (flags) == 0)
        return corral_error_make (err, 0, "%s.flags: expected a non-empty array of flag names", ipath);
      for (size_t j = 0; j < json_len (flags); j++)
        {
          const char *f = json_string (json_at (flags, j));
          uint64_t v;
          if (f == NULL || lookup_name (flag_names, sizeof (flag_names) / sizeof (flag_names[0]), f, &v) < 0)
            return corral_error_make (err, 0, "%s.flags[%zu]: unknown flag \"%s\"", ipath, j, f ? f : "(not a string)");
          r->flags |= v;
        }
    }
  return 0;
}

static int
parse_seccomp (corral_profile_t *p, const json_t *s, const char *path, corral_error_t *err)
{
  static const char *const keys[] = { "errno", "deny", "enosys", "deny_flags", NULL };
  cleanup_free char *errname = NULL;

  if (json_check_keys (s, path, keys, err) < 0 || get_string (s, "errno", path, &errname, err) < 0
      || get_strv (s, "deny", path, check_syscall, &p->seccomp_deny, err) < 0
      || get_strv (s, "enosys", path, check_syscall, &p->seccomp_enosys, err) < 0)
    return -1;
  if (errname)
    {
      uint64_t v;
      if (lookup_name (errno_names, sizeof (errno_names) / sizeof (errno_names[0]), errname, &v) < 0)
        return corral_error_make (err, 0, "%s.errno: unknown errno \"%s\" (EPERM, EACCES, ENOSYS, EINVAL, ENOTSUP)",
                                  path, errname);
      p->seccomp_errno = (int) v;
    }
  if (json_get (s, "deny_flags"))
    {
      cleanup_free char *sub = NULL;
      xasprintf (&sub, "%s.deny_flags", path);
      return parse_flag_rules (p, json_get (s, "deny_flags"), sub, err);
    }
  return 0;
}

static int
parse_environment (corral_profile_t *p, const json_t *e, const char *path, corral_error_t *err)
{
  static const char *const keys[] = { "mode", "patterns", NULL };
  cleanup_free char *mode = NULL;

  if (json_check_keys (e, path, keys, err) < 0 || get_string (e, "mode", path, &mode, err) < 0
      || get_strv (e, "patterns", path, check_glob, &p->env_patterns, err) < 0)
    return -1;
  if (mode == NULL)
    return 0;
  if (str_eq (mode, "strip"))
    p->env_mode = ENV_STRIP;
  else if (str_eq (mode, "allowlist"))
    p->env_mode = ENV_ALLOWLIST;
  else
    return corral_error_make (err, 0, "%s.mode: \"%s\" is not \"strip\" or \"allowlist\"", path, mode);
  return 0;
}

static int
parse_resources (corral_profile_t *p, const json_t *r, const char *path, corral_error_t *err)
{
  static const char *const keys[] = { "memory", "pids", "cpu_quota", "cpu_period", "cpu_shares", NULL };
  int64_t v;

  if (json_check_keys (r, path, keys, err) < 0 || get_size (r, "memory", path, &p->memory, err) < 0
      || get_int (r, "pids", path, 0, INT32_MAX, &p->pids, err) < 0
      || get_int (r, "cpu_quota", path, 0, INT64_MAX, &p->cpu_quota, err) < 0)
    return -1;
  if (get_int (r, "cpu_period", path, 1000, 1000000, &v, err) < 0)
    return -1;
  if (json_get (r, "cpu_period"))
    p->cpu_period = (uint64_t) v;
  if (get_int (r, "cpu_shares", path, 2, 262144, &v, err) < 0)
    return -1;
  if (json_get (r, "cpu_shares"))
    p->cpu_shares = (uint64_t) v;
  return 0;
}

static int
set_egress (corral_profile_t *p, char *const *entries, const char *path, corral_error_t *err)
{
  size_t n = strv_len (entries);
  cleanup_free egress_rule_t *rules = NULL;

  /* The table holds at most two rules per entry in one netlink batch. */
  if (n > EGRESS_MAX_RULES)
    return corral_error_make (err, 0, "%s: %zu entries, at most %d are supported", path, n, EGRESS_MAX_RULES);
  rules = xmalloc0 ((n ? n : 1) * sizeof (*rules));

  for (size_t i = 0; i < n; i++)
    if (egress_rule_parse (entries[i], &rules[i], err) < 0)
      return corral_error_wrap (err, "%s[%zu]", path, i);
  free (p->egress);
  p->egress = steal_pointer (&rules);
  p->n_egress = n;
  return 0;
}

/* "ingress": {"allow": ["8080/tcp", ...]}: what a container serves. */
static int
parse_ingress (corral_profile_t *p, const json_t *in, const char *path, corral_error_t *err)
{
  static const char *const keys[] = { "allow", NULL };
  cleanup_strv char **allow = NULL;
  cleanup_free ingress_port_t *ports = NULL;
  size_t n;

  if (json_check_keys (in, path, keys, err) < 0 || get_strv (in, "allow", path, NULL, &allow, err) < 0)
    return -1;
  n = strv_len (allow);
  if (n > INGRESS_MAX_PORTS)
    return corral_error_make (err, 0, "%s.allow: %zu entries, at most %d are supported", path, n, INGRESS_MAX_PORTS);
  ports = xmalloc0 ((n ? n : 1) * sizeof (*ports));
  for (size_t i = 0; i < n; i++)
    if (ingress_port_parse (allow[i], &ports[i], err) < 0)
      return corral_error_wrap (err, "%s.allow[%zu]", path, i);
  free (p->ingress);
  p->ingress = steal_pointer (&ports);
  p->n_ingress = n;
  return 0;
}

/* egress.ask: domain names only, each a request a human decides on. */
static int
set_ask (corral_profile_t *p, char *const *entries, const char *path, corral_error_t *err)
{
  size_t n = strv_len (entries);
  cleanup_free egress_rule_t *rules = xmalloc0 ((n ? n : 1) * sizeof (*rules));

  if (n > EGRESS_MAX_RULES)
    return corral_error_make (err, 0, "%s: %zu entries, at most %d are supported", path, n, EGRESS_MAX_RULES);
  for (size_t i = 0; i < n; i++)
    {
      if (egress_rule_parse (entries[i], &rules[i], err) < 0)
        return corral_error_wrap (err, "%s[%zu]", path, i);
      if (!egress_rule_is_name (&rules[i]))
        return corral_error_make (err, 0, "%s[%zu]: \"%s\" is an address; ask entries are domain names", path, i,
                                  entries[i]);
    }
  free (p->ask);
  p->ask = steal_pointer (&rules);
  p->n_ask = n;
  return 0;
}

static int
parse_egress (corral_profile_t *p, const json_t *e, const char *path, corral_error_t *err)
{
  static const char *const keys[]
      = { "mode", "allow", "log_group", "ask", "ask_timeout_seconds", "ask_alert", "bind_names", NULL };
  cleanup_free char *mode = NULL;
  cleanup_free char *apath = NULL;
  cleanup_free char *askpath = NULL;
  cleanup_strv char **allow = NULL;
  cleanup_strv char **ask = NULL;
  cleanup_strv char **alert = NULL;
  int64_t group, timeout;

  if (json_check_keys (e, path, keys, err) < 0 || get_string (e, "mode", path, &mode, err) < 0
      || get_strv (e, "allow", path, NULL, &allow, err) < 0 || get_strv (e, "ask", path, NULL, &ask, err) < 0
      || get_strv (e, "ask_alert", path, NULL, &alert, err) < 0
      || get_int (e, "ask_timeout_seconds", path, 1, 86400, &timeout, err) < 0
      || get_bool (e, "bind_names", path, &p->bind_names, err) < 0)
    return -1;
  if (json_get (e, "ask_timeout_seconds"))
    p->ask_timeout = (uint32_t) timeout;
  if (alert)
    {
      if (alert[0] == NULL || alert[0][0] != '/')
        return corral_error_make (err, 0, "%s.ask_alert: the command must be an absolute path", path);
      strv_free (p->ask_alert);
      p->ask_alert = steal_pointer (&alert);
    }
  if (get_int (e, "log_group", path, 1, 65535, &group, err) < 0)
    return -1;
  if (json_get (e, "log_group"))
    p->log_group = (uint16_t) group;
  if (mode && str_eq (mode, "none"))
    p->network = false;
  else if (mode && str_eq (mode, "allowlist"))
    p->network = true;
  else if (mode)
    return corral_error_make (err, 0, "%s.mode: \"%s\" is not \"none\" or \"allowlist\"", path, mode);
  if (!p->network && strv_len (allow) > 0)
    return corral_error_make (err, 0, "%s.allow: an offline profile (mode \"none\") allows nothing", path);
  /* Offline asks for nothing: a profile that inherits an ask list and goes
   * offline drops it (inheritance merges the egress objects). */
  xasprintf (&askpath, "%s.ask", path);
  if (!p->network)
    p->n_ask = 0;
  else if (ask && set_ask (p, ask, askpath, err) < 0)
    return -1;
  xasprintf (&apath, "%s.allow", path);
  return json_get (e, "allow") ? set_egress (p, allow, apath, err) : 0;
}

/* "dns": the DNS guard that resolves the allowlist's domain names. */
static int
parse_dns (corral_profile_t *p, const json_t *d, const char *path, corral_error_t *err)
{
  static const char *const keys[] = { "upstream", "grace_seconds", "denied_rcode", NULL };
  cleanup_free char *upstream = NULL;
  cleanup_free char *rcode = NULL;
  int64_t grace;

  if (json_check_keys (d, path, keys, err) < 0 || get_string (d, "upstream", path, &upstream, err) < 0
      || get_string (d, "denied_rcode", path, &rcode, err) < 0
      || get_int (d, "grace_seconds", path, 1, 3600, &grace, err) < 0)
    return -1;
  if (json_get (d, "grace_seconds"))
    p->dns_grace = (uint32_t) grace;
  if (upstream)
    {
      struct sockaddr_storage ss;
      socklen_t len;

      if (dns_parse_server (upstream, &ss, &len, err) < 0)
        return corral_error_wrap (err, "%s.upstream", path);
      free (p->dns_upstream);
      p->dns_upstream = steal_pointer (&upstream);
    }
  if (rcode == NULL)
    return 0;
  if (str_eq (rcode, "REFUSED"))
    p->dns_denied_rcode = DNS_RCODE_REFUSED;
  else if (str_eq (rcode, "NXDOMAIN"))
    p->dns_denied_rcode = DNS_RCODE_NXDOMAIN;
  else
    return corral_error_make (err, 0, "%s.denied_rcode: \"%s\" is not \"REFUSED\" or \"NXDOMAIN\"", path, rcode);
  return 0;
}

bool
profile_has_domains (const corral_profile_t *p)
{
  if (p->n_ask > 0)
    return true;
  for (size_t i = 0; i < p->n_egress; i++)
    if (egress_rule_is_name (&p->egress[i]))
      return true;
  return false;
}

typedef int (*section_fn) (corral_profile_t *p, const json_t *v, const char *path, corral_error_t *err);

static int
parse_section (corral_profile_t *p, const json_t *obj, const char *key, const char *path, section_fn fn,
               corral_error_t *err)
{
  cleanup_free char *sub = NULL;
  json_t *v = json_get (obj, key);

  if (v == NULL)
    return 0;
  xasprintf (&sub, "%s.%s", path, key);
  return fn (p, v, sub, err);
}

static int
parse_budgets (corral_profile_t *p, const json_t *b, const char *path, corral_error_t *err)
{
  return budget_parse (&p->budgets, b, path, err);
}

static void
profile_defaults (corral_profile_t *p)
{
  budget_defaults (&p->budgets);
  p->uid = 65534;
  p->gid = 65534;
  p->readonly_root = true;
  p->rlimit_nofile = -1;
  p->rlimit_nproc = -1;
  p->seccomp_errno = EPERM;
  p->cpu_period = 100000;
  p->network = true;
  p->log_group = 100;
  p->ask_timeout = 60;
  p->runtime = xstrdup ("runc");
  p->dns_grace = 30;
  p->dns_denied_rcode = DNS_RCODE_REFUSED;
}

/* Parse one profile's (already inheritance-merged) object. */
static int
parse_profile (corral_profile_t *p, const char *name, const json_t *obj, const corral_policy_t *policy,
               corral_error_t *err)
{
  static const char *const keys[]
      = { "description", "inherits",  "runtime", "user",    "filesystem",  "capabilities", "rlimits", "seccomp",
          "environment", "resources", "egress",  "ingress", "overridable", "budgets",      "dns",     NULL };
  cleanup_free char *path = NULL;

  xasprintf (&path, "profiles.%s", name);
  profile_defaults (p);
  p->name = xstrdup (name);
  if (json_check_keys (obj, path, keys, err) < 0 || get_string (obj, "description", path, &p->description, err) < 0
      || get_string (obj, "runtime", path, &p->runtime, err) < 0)
    return -1;
  if (policy_runtime_path (policy, p->runtime) == NULL)
    return corral_error_make (err, 0, "%s.runtime: \"%s\" is not defined in \"runtimes\"", path, p->runtime);
  if (parse_section (p, obj, "user", path, parse_user, err) < 0
      || parse_section (p, obj, "filesystem", path, parse_filesystem, err) < 0
      || get_strv (obj, "capabilities", path, check_capability, &p->capabilities, err) < 0
      || parse_section (p, obj, "rlimits", path, parse_rlimits, err) < 0
      || parse_section (p, obj, "seccomp", path, parse_seccomp, err) < 0
      || parse_section (p, obj, "environment", path, parse_environment, err) < 0
      || parse_section (p, obj, "resources", path, parse_resources, err) < 0
      || parse_section (p, obj, "egress", path, parse_egress, err) < 0
      || parse_section (p, obj, "ingress", path, parse_ingress, err) < 0
      || parse_section (p, obj, "budgets", path, parse_budgets, err) < 0
      || parse_section (p, obj, "dns", path, parse_dns, err) < 0
      || get_strv (obj, "overridable", path, check_annotation, &p->overridable, err) < 0)
    return -1;
  if (p->capabilities == NULL)
    p->capabilities = xmalloc0 (sizeof (char *));
  return 0;
}

/* Objects merge key by key (child wins, recursively); anything else in the
 * child replaces the parent's value. */
static json_t *
merge_objects (const json_t *parent, const json_t *child)
{
  json_t *out = json_deep_copy (parent);

  for (size_t i = 0; i < json_len (child); i++)
    {
      const char *k = json_key_at (child, i);
      json_t *cv = json_value_at (child, i);
      json_t *pv = json_get (out, k);

      if (json_is_object (pv) && json_is_object (cv))
        json_set (out, k, merge_objects (pv, cv));
      else
        json_set (out, k, json_deep_copy (cv));
    }
  return out;
}

/* Resolve "inherits" chains; a chain longer than the number of profiles is a
 * cycle. */
static json_t *
resolve_profile (const json_t *profiles, const char *name, size_t hops, corral_error_t *err)
{
  json_t *obj = json_get (profiles, name);
  json_t *parent_name;
  cleanup_json json_t *parent = NULL;

  if (!json_is_object (obj))
    {
      corral_error_make (err, 0, "profiles.%s: expected an object, found %s", name, json_type_name (obj));
      return NULL;
    }
  parent_name = json_get (obj, "inherits");
  if (parent_name == NULL)
    return json_deep_copy (obj);
  if (!json_is_string (parent_name))
    {
      corral_error_make (err, 0, "profiles.%s.inherits: expected a string", name);
      return NULL;
    }
  if (json_get (profiles, json_string (parent_name)) == NULL)
    {
      corral_error_make (err, 0, "profiles.%s.inherits: no profile \"%s\"", name, json_string (parent_name));
      return NULL;
    }
  if (hops > json_len (profiles))
    {
      corral_error_make (err, 0, "profiles.%s.inherits: inheritance cycle", name);
      return NULL;
    }
  parent = resolve_profile (profiles, json_string (parent_name), hops + 1, err);
  if (parent == NULL)
    return NULL;
  json_del (parent, "inherits");
  return merge_objects (parent, obj);
}

static int
parse_runtimes (corral_policy_t *p, const json_t *r, corral_error_t *err)
{
  if (r == NULL)
    {
      p->n_runtimes = 1;
      p->runtimes = xmalloc0 (sizeof (*p->runtimes));
      p->runtimes[0].name = xstrdup ("runc");
      p->runtimes[0].path = xstrdup ("runc");
      return 0;
    }
  if (!json_is_object (r) || json_len (r) == 0)
    return corral_error_make (err, 0, "runtimes: expected a non-empty object of name: path");
  p->n_runtimes = json_len (r);
  p->runtimes = xmalloc0 (p->n_runtimes * sizeof (*p->runtimes));
  for (size_t i = 0; i < p->n_runtimes; i++)
    {
      const char *k = json_key_at (r, i);
      const char *v = json_string (json_value_at (r, i));

      if (!str_eq (k, "runc") && !str_eq (k, "gvisor"))
        return corral_error_make (err, 0, "runtimes: unknown runtime \"%s\" (runc, gvisor)", k);
      if (v == NULL || *v == '\0')
        return corral_error_make (err, 0, "runtimes.%s: expected a program name or absolute path", k);
      p->runtimes[i].name = xstrdup (k);
      p->runtimes[i].path = xstrdup (v);
    }
  return 0;
}

static int
parse_audit (corral_policy_t *p, const json_t *a, corral_error_t *err)
{
  static const char *const keys[] = { "path", "key", "on_error", "fsync", NULL };
  cleanup_free char *on_error = NULL;

  audit_config_defaults (&p->audit);
  if (a == NULL)
    return 0;
  if (json_check_keys (a, "audit", keys, err) < 0 || get_string (a, "path", "audit", &p->audit.path, err) < 0
      || get_string (a, "key", "audit", &p->audit.key_path, err) < 0
      || get_string (a, "on_error", "audit", &on_error, err) < 0
      || get_bool (a, "fsync", "audit", &p->audit.fsync, err) < 0)
    return -1;
  if (check_abs_path (p->audit.path, "audit.path", NULL, err) < 0
      || check_abs_path (p->audit.key_path, "audit.key", NULL, err) < 0)
    return -1;
  if (on_error && str_eq (on_error, "fail-open"))
    p->audit.fail_closed = false;
  else if (on_error && !str_eq (on_error, "fail-closed"))
    return corral_error_make (err, 0, "audit.on_error: \"%s\" is not fail-closed or fail-open", on_error);
  return 0;
}

static int
parse_gvisor (corral_policy_t *p, const json_t *g, corral_error_t *err)
{
  static const char *const keys[] = { "platform", "network", NULL };

  p->gvisor_platform = xstrdup ("ptrace");
  p->gvisor_network = xstrdup ("sandbox");
  if (g == NULL)
    return 0;
  if (json_check_keys (g, "gvisor", keys, err) < 0 || get_string (g, "platform", "gvisor", &p->gvisor_platform, err) < 0
      || get_string (g, "network", "gvisor", &p->gvisor_network, err) < 0)
    return -1;
  if (!str_eq (p->gvisor_platform, "ptrace") && !str_eq (p->gvisor_platform, "systrap")
      && !str_eq (p->gvisor_platform, "kvm"))
    return corral_error_make (err, 0, "gvisor.platform: \"%s\" is not ptrace, systrap or kvm", p->gvisor_platform);
  /* "none" is not offered: an offline profile already gets a netns with
   * only loopback, and runsc's own none mode would hide it from the filter. */
  if (!str_eq (p->gvisor_network, "sandbox") && !str_eq (p->gvisor_network, "host"))
    return corral_error_make (err, 0, "gvisor.network: \"%s\" is not sandbox or host", p->gvisor_network);
  return 0;
}

/* "tenant": {"annotation": KEY}: an annotation only the engine sets (a
 * tenant that could set it could name another tenant). */
static int
parse_tenant (corral_policy_t *p, const json_t *t, corral_error_t *err)
{
  static const char *const keys[] = { "annotation", NULL };

  if (t == NULL)
    return 0;
  if (json_check_keys (t, "tenant", keys, err) < 0
      || get_string (t, "annotation", "tenant", &p->tenant_annotation, err) < 0)
    return -1;
  if (p->tenant_annotation && str_has_prefix (p->tenant_annotation, "run.corral."))
    return corral_error_make (err, 0,
                              "tenant.annotation: \"%s\" is a container's own annotation; name one the engine sets, "
                              "such as io.kubernetes.cri.sandbox-namespace",
                              p->tenant_annotation);
  return 0;
}

corral_policy_t *
policy_parse (const char *data, size_t len, const char *name, corral_error_t *err)
{
  static const char *const keys[] = { "default_profile", "runtimes", "gvisor", "audit", "tenant", "profiles", NULL };
  cleanup_json json_t *root = json_parse (data, len, err);
  cleanup_policy corral_policy_t *p = NULL;
  json_t *profiles;

  if (root == NULL)
    {
      corral_error_wrap (err, "policy `%s`", name);
      return NULL;
    }
  p = xmalloc0 (sizeof (*p));
  if (json_check_keys (root, "(top level)", keys, err) < 0
      || get_string (root, "default_profile", "", &p->default_profile, err) < 0
      || parse_runtimes (p, json_get (root, "runtimes"), err) < 0
      || parse_gvisor (p, json_get (root, "gvisor"), err) < 0 || parse_audit (p, json_get (root, "audit"), err) < 0
      || parse_tenant (p, json_get (root, "tenant"), err) < 0)
    goto fail;

  profiles = json_get (root, "profiles");
  if (!json_is_object (profiles) || json_len (profiles) == 0)
    {
      corral_error_make (err, 0, "profiles: expected a non-empty object of profiles");
      goto fail;
    }
  p->n_profiles = json_len (profiles);
  p->profiles = xmalloc0 (p->n_profiles * sizeof (*p->profiles));
  for (size_t i = 0; i < p->n_profiles; i++)
    {
      const char *pname = json_key_at (profiles, i);
      cleanup_json json_t *merged = resolve_profile (profiles, pname, 0, err);

      if (merged == NULL || parse_profile (&p->profiles[i], pname, merged, p, err) < 0)
        goto fail;
    }
  if (p->default_profile == NULL)
    p->default_profile = xstrdup ("default");
  if (policy_find_profile (p, p->default_profile) == NULL)
    {
      corral_error_make (err, 0, "default_profile: no profile \"%s\"", p->default_profile);
      goto fail;
    }
  return steal_pointer (&p);

fail:
  corral_error_wrap (err, "policy `%s`", name);
  return NULL;
}

corral_policy_t *
policy_load (const char *path, corral_error_t *err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  cleanup_free char *data = NULL;
  struct stat st;
  size_t len;

  if (fd < 0)
    {
      corral_error_make (err, errno, "open policy `%s` (install one with `make install`, or pass --policy FILE)", path);
      return NULL;
    }
  if (fstat (fd, &st) < 0)
    {
      corral_error_make (err, errno, "stat policy `%s`", path);
      return NULL;
    }
  if (!S_ISREG (st.st_mode))
    {
      corral_error_make (err, 0, "policy `%s` is not a regular file", path);
      return NULL;
    }
  /* A policy others can write is a policy others decide. */
  if ((st.st_mode & 0022) || (st.st_uid != 0 && st.st_uid != geteuid ()))
    {
      corral_error_make (err, 0,
                         "policy `%s` is writable by group or others, or not owned by root: fix with "
                         "`chown root: %s && chmod 0644 %s`",
                         path, path, path);
      return NULL;
    }
  if (fd_read_all (fd, POLICY_MAX_SIZE, path, &data, &len, err) < 0)
    return NULL;
  return policy_parse (data, len, path, err);
}

static void
profile_clear (corral_profile_t *p)
{
  free (p->name);
  free (p->runtime);
  free (p->description);
  free (p->additional_gids);
  for (size_t i = 0; i < p->n_tmpfs; i++)
    {
      free (p->tmpfs[i].path);
      free (p->tmpfs[i].size);
    }
  free (p->tmpfs);
  strv_free (p->writable_mounts);
  for (size_t i = 0; i < p->n_mount_rules; i++)
    {
      free (p->mount_rules[i].source);
      free (p->mount_rules[i].destination);
    }
  free (p->mount_rules);
  strv_free (p->masked_paths);
  strv_free (p->readonly_paths);
  strv_free (p->capabilities);
  strv_free (p->seccomp_deny);
  strv_free (p->seccomp_enosys);
  for (size_t i = 0; i < p->n_seccomp_flags; i++)
    free (p->seccomp_flags[i].syscall);
  free (p->seccomp_flags);
  strv_free (p->env_patterns);
  strv_free (p->overridable);
  free (p->egress);
  free (p->ingress);
  free (p->ask);
  strv_free (p->ask_alert);
  free (p->dns_upstream);
  budget_clear (&p->budgets);
}

void
profile_free (corral_profile_t *p)
{
  if (p == NULL)
    return;
  profile_clear (p);
  free (p);
}

void
policy_free (corral_policy_t *p)
{
  if (p == NULL)
    return;
  free (p->default_profile);
  free (p->gvisor_platform);
  free (p->gvisor_network);
  free (p->tenant_annotation);
  audit_config_release (&p->audit);
  for (size_t i = 0; i < p->n_runtimes; i++)
    {
      free (p->runtimes[i].name);
      free (p->runtimes[i].path);
    }
  free (p->runtimes);
  for (size_t i = 0; i < p->n_profiles; i++)
    profile_clear (&p->profiles[i]);
  free (p->profiles);
  free (p);
}

const corral_profile_t *
policy_find_profile (const corral_policy_t *p, const char *name)
{
  for (size_t i = 0; i < p->n_profiles; i++)
    if (str_eq (p->profiles[i].name, name))
      return &p->profiles[i];
  return NULL;
}

const char *
policy_runtime_path (const corral_policy_t *p, const char *runtime)
{
  for (size_t i = 0; i < p->n_runtimes; i++)
    if (str_eq (p->runtimes[i].name, runtime))
      return p->runtimes[i].path;
  return NULL;
}

const corral_profile_t *
policy_select_profile (const corral_policy_t *p, const char *flag_profile, const json_t *annotations,
                       corral_error_t *err)
{
  const char *ann = json_get_string (annotations, ANNOTATION_PREFIX "profile");
  const char *name = flag_profile ? flag_profile : ann ? ann : p->default_profile;
  const corral_profile_t *prof;

  if (json_get (annotations, ANNOTATION_PREFIX "profile") && ann == NULL)
    {
      corral_error_make (err, 0, "annotation " ANNOTATION_PREFIX "profile: expected a string");
      return NULL;
    }
  /* --profile comes from the engine's runtime configuration (the operator);
   * a container's annotation may not pick another profile behind it. */
  if (flag_profile && ann && !str_eq (flag_profile, ann))
    {
      corral_error_make (err, 0,
                         "annotation " ANNOTATION_PREFIX "profile=%s conflicts with the runtime's --profile %s: "
                         "use the runtime configured for profile %s instead",
                         ann, flag_profile, ann);
      return NULL;
    }
  prof = policy_find_profile (p, name);
  if (prof == NULL)
    corral_error_make (err, 0, "no profile \"%s\" in the policy", name);
  return prof;
}

static char *
strdup_opt (const char *s)
{
  return s ? xstrdup (s) : NULL;
}

static corral_profile_t *
profile_copy (const corral_profile_t *src)
{
  corral_profile_t *p = xmalloc (sizeof (*p));

  *p = *src;
  p->name = strdup_opt (src->name);
  p->runtime = strdup_opt (src->runtime);
  p->description = strdup_opt (src->description);
  p->additional_gids = xmalloc0 (src->n_additional_gids * sizeof (uint32_t));
  /* A profile without user.additional_gids has NULL there: memcpy from
   * NULL is undefined even for 0 bytes (UBSan aborts). */
  if (src->n_additional_gids > 0)
    memcpy (p->additional_gids, src->additional_gids, src->n_additional_gids * sizeof (uint32_t));
  p->tmpfs = xmalloc0 (src->n_tmpfs * sizeof (*p->tmpfs));
  for (size_t i = 0; i < src->n_tmpfs; i++)
    {
      p->tmpfs[i].path = xstrdup (src->tmpfs[i].path);
      p->tmpfs[i].size = xstrdup (src->tmpfs[i].size);
    }
  p->writable_mounts = strv_dup (src->writable_mounts);
  p->mount_rules = xmalloc0 (src->n_mount_rules * sizeof (*p->mount_rules));
  for (size_t i = 0; i < src->n_mount_rules; i++)
    {
      p->mount_rules[i].source = strdup_opt (src->mount_rules[i].source);
      p->mount_rules[i].destination = strdup_opt (src->mount_rules[i].destination);
      p->mount_rules[i].action = src->mount_rules[i].action;
    }
  p->masked_paths = strv_dup (src->masked_paths);
  p->readonly_paths = strv_dup (src->readonly_paths);
  p->capabilities = strv_dup (src->capabilities);
  p->seccomp_deny = strv_dup (src->seccomp_deny);
  p->seccomp_enosys = strv_dup (src->seccomp_enosys);
  p->seccomp_flags = xmalloc0 (src->n_seccomp_flags * sizeof (*p->seccomp_flags));
  for (size_t i = 0; i < src->n_seccomp_flags; i++)
    {
      p->seccomp_flags[i] = src->seccomp_flags[i];
      p->seccomp_flags[i].syscall = xstrdup (src->seccomp_flags[i].syscall);
    }
  p->env_patterns = strv_dup (src->env_patterns);
  p->overridable = strv_dup (src->overridable);
  p->dns_upstream = strdup_opt (src->dns_upstream);
  budget_copy (&p->budgets, &src->budgets);
  p->egress = xmalloc0 ((src->n_egress ? src->n_egress : 1) * sizeof (*p->egress));
  if (src->n_egress)
    memcpy (p->egress, src->egress, src->n_egress * sizeof (*p->egress));
  p->ingress = xmalloc0 ((src->n_ingress ? src->n_ingress : 1) * sizeof (*p->ingress));
  if (src->n_ingress)
    memcpy (p->ingress, src->ingress, src->n_ingress * sizeof (*p->ingress));
  p->ask = xmalloc0 ((src->n_ask ? src->n_ask : 1) * sizeof (*p->ask));
  if (src->n_ask)
    memcpy (p->ask, src->ask, src->n_ask * sizeof (*p->ask));
  p->ask_alert = strv_dup (src->ask_alert);
  return p;
}

/* A limit from an annotation may only lower the profile's (0 = none). */
static int
tighten_limit (int64_t *limit, const char *key, const char *value, corral_error_t *err)
{
  int64_t v;

  if (parse_size (value, &v) < 0 || v <= 0)
    return corral_error_make (err, 0, "annotation %s=%s: expected a positive number (k, m, g suffixes allowed)", key,
                              value);
  if (*limit != 0 && v > *limit)
    return corral_error_make (err, 0,
                              "annotation %s=%s would loosen the profile's limit of %" PRId64
                              ": annotations can only tighten a profile",
                              key, value, *limit);
  *limit = v;
  return 0;
}

static void
strv_append (char ***v, const char *s)
{
  size_t n = strv_len (*v);
  *v = xrealloc (*v, (n + 2) * sizeof (char *));
  (*v)[n] = xstrdup (s);
  (*v)[n + 1] = NULL;
}

/* The annotation's entries replace the allowlist, each inside an entry the
 * profile already allows: a container can narrow its egress, never widen. */
static int
narrow_egress (corral_profile_t *p, const char *key, const char *value, corral_error_t *err)
{
  cleanup_free char *copy = xstrdup (value);
  cleanup_free egress_rule_t *rules = NULL;
  size_t n = 0, cap = 0;
  char *save = NULL;

  if (!p->network)
    return corral_error_make (err, 0, "annotation %s: profile %s is offline; there is no egress to narrow", key,
                              p->name);
  for (char *tok = strtok_r (copy, ",", &save); tok; tok = strtok_r (NULL, ",", &save))
    {
      egress_rule_t r;
      bool inside = false;

      if (*tok == '\0')
        continue;
      if (egress_rule_parse (tok, &r, err) < 0)
        return corral_error_wrap (err, "annotation %s", key);
      for (size_t i = 0; i < p->n_egress && !inside; i++)
        inside = egress_rule_within (&r, &p->egress[i]);
      if (!inside)
        return corral_error_make (err, 0,
                                  "annotation %s: \"%s\" would loosen profile %s, whose allowlist does not "
                                  "contain it: annotations can only narrow the egress allowlist",
                                  key, tok, p->name);
      if (n == cap)
        {
          cap = cap ? cap * 2 : 8;
          rules = xrealloc (rules, cap * sizeof (*rules));
        }
      rules[n++] = r;
    }
  free (p->egress);
  p->egress = rules ? steal_pointer (&rules) : xmalloc0 (sizeof (*p->egress));
  p->n_egress = n;
  return 0;
}

static int
apply_annotation (corral_profile_t *p, const char *key, const char *value, corral_error_t *err)
{
  if (str_eq (key, ANNOTATION_PREFIX "memory"))
    return tighten_limit (&p->memory, key, value, err);
  if (str_eq (key, ANNOTATION_PREFIX "pids"))
    return tighten_limit (&p->pids, key, value, err);
  if (str_eq (key, ANNOTATION_PREFIX "env.strip"))
    {
      /* Extra names to strip tighten a strip profile; an allowlist profile
       * is already as tight as it gets, adding names there would loosen it. */
      if (p->env_mode != ENV_STRIP)
        return corral_error_make (err, 0, "annotation %s: profile %s keeps an environment allowlist; nothing to strip",
                                  key, p->name);
      cleanup_free char *copy = xstrdup (value);
      char *save = NULL;
      for (char *tok = strtok_r (copy, ",", &save); tok; tok = strtok_r (NULL, ",", &save))
        if (*tok)
          strv_append (&p->env_patterns, tok);
      return 0;
    }
  if (str_eq (key, ANNOTATION_PREFIX "egress.allow"))
    return narrow_egress (p, key, value, err);
  if (budget_annotation_known (key))
    return budget_apply_annotation (&p->budgets, key, value, err);
  if (str_eq (key, ANNOTATION_PREFIX "runtime"))
    {
      /* gVisor is the stricter runtime: a container may ask for it, never
       * leave it. */
      if (str_eq (value, "gvisor"))
        {
          free (p->runtime);
          p->runtime = xstrdup ("gvisor");
          return 0;
        }
      if (str_eq (value, "runc") && str_eq (p->runtime, "runc"))
        return 0;
      return corral_error_make (err, 0,
                                "annotation %s=%s would loosen profile %s (runtime %s): only gvisor can be "
                                "asked for",
                                key, value, p->name, p->runtime);
    }
  return corral_error_make (err, 0, "annotation %s is not known to corral", key);
}

/* Annotations that only identify or select, never loosen. */
static bool
annotation_is_identity (const char *key)
{
  return str_eq (key, ANNOTATION_PREFIX "profile") || str_eq (key, ANNOTATION_PREFIX "agent");
}

corral_profile_t *
profile_with_annotations (const corral_profile_t *profile, const json_t *annotations, corral_error_t *err)
{
  cleanup_profile corral_profile_t *p = profile_copy (profile);

  if (annotations && !json_is_object (annotations))
    {
      corral_error_make (err, 0, "annotations: expected an object");
      return NULL;
    }
  for (size_t i = 0; i < json_len (annotations); i++)
    {
      const char *key = json_key_at (annotations, i);
      const char *value = json_string (json_value_at (annotations, i));
      bool allowed = false;

      if (!str_has_prefix (key, ANNOTATION_PREFIX) || annotation_is_identity (key))
        continue;
      if (value == NULL)
        {
          corral_error_make (err, 0, "annotation %s: expected a string", key);
          return NULL;
        }
      for (char **o = p->overridable; o && *o && !allowed; o++)
        allowed = str_eq (*o, key);
      if (!allowed)
        {
          /* Distinguish a typo from a known key the policy does not open. */
          if (check_annotation (key, key, NULL, err) < 0)
            {
              corral_error_release (err);
              corral_error_make (err, 0, "annotation %s is not known to corral", key);
              return NULL;
            }
          corral_error_make (err, 0,
                             "annotation %s is not overridable in profile %s (see \"overridable\" in the policy)", key,
                             p->name);
          return NULL;
        }
      if (apply_annotation (p, key, value, err) < 0)
        return NULL;
    }
  return steal_pointer (&p);
}

static void append (char **buf, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
append (char **buf, const char *fmt, ...)
{
  cleanup_free char *add = NULL;
  char *joined;
  va_list ap;

  va_start (ap, fmt);
  if (vasprintf (&add, fmt, ap) < 0)
    abort ();
  va_end (ap);
  xasprintf (&joined, "%s%s", *buf ? *buf : "", add);
  free (*buf);
  *buf = joined;
}

static char *
join (char *const *v)
{
  char *out = NULL;

  for (size_t i = 0; v && v[i]; i++)
    append (&out, "%s%s", i ? "," : "", v[i]);
  return out ? out : xstrdup ("none");
}

char *
policy_summary (const corral_policy_t *p)
{
  char *out = NULL;

  append (&out, "default profile: %s\n", p->default_profile);
  append (&out, "gvisor: platform %s, network %s\n", p->gvisor_platform, p->gvisor_network);
  for (size_t i = 0; i < p->n_runtimes; i++)
    append (&out, "runtime %s: %s\n", p->runtimes[i].name, p->runtimes[i].path);
  for (size_t i = 0; i < p->n_profiles; i++)
    {
      const corral_profile_t *pr = &p->profiles[i];
      cleanup_free char *caps = join (pr->capabilities);
      cleanup_free char *over = join (pr->overridable);

      append (&out,
              "profile %s: runtime=%s user=%u:%u readonly-root=%s tmpfs=%zu capabilities=%s seccomp-deny=%zu "
              "env=%s(%zu patterns) memory=%" PRId64 " pids=%" PRId64 " egress=%s(%zu entries) overridable=%s\n",
              pr->name, pr->runtime, pr->uid, pr->gid, pr->readonly_root ? "yes" : "no", pr->n_tmpfs, caps,
              strv_len (pr->seccomp_deny), pr->env_mode == ENV_STRIP ? "strip" : "allowlist",
              strv_len (pr->env_patterns), pr->memory, pr->pids, pr->network ? "allowlist" : "none", pr->n_egress,
              over);
    }
  return out;
}
