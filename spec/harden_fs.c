/* corral: hardening of what the container sees: mounts, devices (namespaces: harden_ns.c). */
#include "config.h"

#include <inttypes.h>

#include "base/util.h"
#include "spec/harden.h"

static bool
strv_has (char *const *v, const char *s)
{
  for (; v && *v; v++)
    if (str_eq (*v, s))
      return true;
  return false;
}

/* Is `dir` equal to `path` or one of its ancestors? */
static bool
path_is_under (const char *path, const char *dir)
{
  size_t n = strlen (dir);
  if (str_eq (dir, "/"))
    return true;
  while (n > 1 && dir[n - 1] == '/')
    n--;
  return strncmp (path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Does a bind of `path` expose something `pattern` names?  It does when
 * the pattern matches the path, one of its ancestors (a bind of a file
 * inside ~/.ssh exposes ~/.ssh's secrets) or something below it (a bind of
 * /home exposes /home/alice/.ssh). */
static bool
pattern_hits (const char *pattern, const char *path)
{
  size_t plen = strlen (pattern), len = strlen (path), depth = 0, cut;
  const char *p;

  if (glob_match_n (pattern, plen, path, len, false) || str_eq (path, "/"))
    return true;
  for (p = path + 1; *p; p++)
    if (*p == '/' && glob_match_n (pattern, plen, path, (size_t) (p - path), false))
      return true;
  for (p = path; *p; p++)
    if (*p == '/' && p[1] != '\0')
      depth++;
  /* Cut the pattern after `depth` components and match it against path. */
  for (cut = 0; cut < plen; cut++)
    if (pattern[cut] == '/' && depth-- == 0)
      break;
  return cut < plen && glob_match_n (pattern, cut, path, len, false);
}

bool
harden_pattern_hits (const char *pattern, const char *path)
{
  return pattern_hits (pattern, path);
}

static void
strv_json_remove (json_t *arr, const char *s)
{
  for (size_t i = json_len (arr); i-- > 0;)
    if (str_eq (json_string (json_at (arr, i)), s))
      json_remove_at (arr, i);
}

static bool
ensure_option (json_t *m, const char *opt, const char *opposite)
{
  json_t *opts = json_ensure_array (m, "options");
  bool had_opposite = opposite && json_array_has_string (opts, opposite);

  if (opposite)
    strv_json_remove (opts, opposite);
  if (json_array_has_string (opts, opt))
    return had_opposite;
  json_push (opts, json_new_string (opt));
  return true;
}

static int
check_bind (json_t *m, const harden_ctx_t *ctx, bool writable, changes_t *changes, corral_error_t *err)
{
  const corral_profile_t *p = ctx->profile;
  const char *dest = json_get_string (m, "destination");
  const char *src = json_get_string (m, "source");
  cleanup_free char *canon = NULL;
  bool made_ro = false, changed = false;

  if (src == NULL)
    return corral_error_make (err, 0, "bind mount at `%s` has no source", dest);
  /* corral's own resolv.conf (harden_dns), on a second pass. */
  if (ctx->resolv_conf && str_eq (src, ctx->resolv_conf) && str_eq (dest, "/etc/resolv.conf"))
    return 0;
  canon = ctx->resolve_source ? ctx->resolve_source (src) : NULL;
  if (canon == NULL)
    canon = xstrdup (src);

  for (size_t i = 0; i < p->n_mount_rules; i++)
    {
      const struct mount_rule_s *r = &p->mount_rules[i];
      bool hit = r->source ? pattern_hits (r->source, canon) : glob_match (r->destination, dest, false);

      if (!hit)
        continue;
      if (r->action == MOUNT_REFUSE)
        return corral_error_make (err, 0,
                                  "mount of host path `%s` at `%s` is denied (rule %s `%s`): remove the volume "
                                  "or change the profile's mount_rules",
                                  canon, dest, r->source ? "source" : "destination",
                                  r->source ? r->source : r->destination);
      made_ro = true;
    }
  if (made_ro || !writable)
    changed |= ensure_option (m, "ro", "rw");
  changed |= ensure_option (m, "nosuid", "suid");
  changed |= ensure_option (m, "nodev", "dev");
  if (changed)
    changes_add (changes, "filesystem", "mounts[%s]: bind of `%s` made %snosuid,nodev%s", dest, canon,
                 made_ro || !writable ? "ro," : "", made_ro ? " (host path is sensitive)" : "");
  return 0;
}

static bool
mount_is_writable (const corral_profile_t *p, const char *dest, const char *cwd)
{
  if (strv_has (p->writable_mounts, dest))
    return true;
  /* The engine's working-directory volume stays as mounted. */
  return cwd && !str_eq (cwd, "/") && !str_eq (dest, "/") && path_is_under (cwd, dest);
}

/* The agent's scratch space.  mode= alone is not enough: runc 1.1 chmods a
 * tmpfs to the mode of the directory it covers when that exists (an image's
 * 0755 /tmp stays 0755), so the agent also owns it (uid=, gid=), which
 * holds under runc and runsc alike.  No noexec: the workspace is writable
 * and executable anyway, so noexec here stops no attacker but breaks venvs,
 * build tools and helper scripts in /tmp.  nosuid and nodev do
 * matter: they keep setuid files and device nodes inert. */
json_t *
harden_new_tmpfs (const char *path, const char *size, const char *mode, int64_t uid, int64_t gid)
{
  json_t *m = json_new_object ();
  json_t *opts = json_new_array ();
  cleanup_free char *size_opt = NULL;
  cleanup_free char *mode_opt = NULL;
  cleanup_free char *uid_opt = NULL;
  cleanup_free char *gid_opt = NULL;

  json_set (m, "destination", json_new_string (path));
  json_set (m, "type", json_new_string ("tmpfs"));
  json_set (m, "source", json_new_string ("tmpfs"));
  xasprintf (&size_opt, "size=%s", size);
  xasprintf (&mode_opt, "mode=%s", mode);
  xasprintf (&uid_opt, "uid=%" PRId64, uid);
  xasprintf (&gid_opt, "gid=%" PRId64, gid);
  json_push (opts, json_new_string ("nosuid"));
  json_push (opts, json_new_string ("nodev"));
  json_push (opts, json_new_string (mode_opt));
  json_push (opts, json_new_string (uid_opt));
  json_push (opts, json_new_string (gid_opt));
  json_push (opts, json_new_string (size_opt));
  json_set (m, "options", opts);
  return m;
}

/* Insert a tmpfs before the first mount at or below its path, so binds the
 * engine placed inside it (e.g. /run/.containerenv) stay visible.  A tmpfs
 * the engine put there (podman --read-only, --tmpfs) is replaced, so ours
 * with its owner and size wins. */
static void
add_tmpfs (json_t *mounts, const struct tmpfs_s *t, int64_t uid, int64_t gid, changes_t *changes)
{
  size_t at = json_len (mounts);

  for (size_t i = 0; i < json_len (mounts); i++)
    {
      json_t *m = json_at (mounts, i);
      const char *dest = json_get_string (m, "destination");

      if (str_eq (dest, t->path))
        {
          if (!str_eq (json_get_string (m, "type"), "tmpfs"))
            return; /* a volume the engine mounted there wins */
          json_remove_at (mounts, i);
          at = i < at ? i : at;
          break;
        }
      if (dest && path_is_under (dest, t->path) && at == json_len (mounts))
        at = i;
    }
  json_insert_at (mounts, at, harden_new_tmpfs (t->path, t->size, "1777", uid, gid));
  changes_add (changes, "filesystem",
               "mounts: tmpfs at %s (size %s, nosuid,nodev, mode 1777, owned by %" PRId64 ":%" PRId64 ")", t->path,
               t->size, uid, gid);
}

/* runc's defaults, which --privileged engines drop. */
static const char *const default_masked[] = { "/proc/acpi",
                                              "/proc/asound",
                                              "/proc/kcore",
                                              "/proc/keys",
                                              "/proc/latency_stats",
                                              "/proc/timer_list",
                                              "/proc/timer_stats",
                                              "/proc/sched_debug",
                                              "/proc/scsi",
                                              "/sys/firmware",
                                              "/sys/devices/virtual/powercap",
                                              NULL };
static const char *const default_readonly[]
    = { "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL };

static void
add_paths (json_t *linux_, const char *key, const char *const *defaults, char *const *extra, changes_t *changes)
{
  json_t *arr = json_ensure_array (linux_, key);
  size_t added = 0;

  for (size_t i = 0; defaults[i]; i++)
    if (!json_array_has_string (arr, defaults[i]))
      {
        json_push (arr, json_new_string (defaults[i]));
        added++;
      }
  for (size_t i = 0; extra && extra[i]; i++)
    if (!json_array_has_string (arr, extra[i]))
      {
        json_push (arr, json_new_string (extra[i]));
        added++;
      }
  if (added)
    changes_add (changes, "filesystem", "linux.%s: added %zu paths", key, added);
}

int
harden_filesystem (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err)
{
  const corral_profile_t *p = ctx->profile;
  json_t *root = json_ensure_object (spec, "root");
  json_t *mounts = json_get (spec, "mounts");
  const char *cwd = json_get_string (json_get (spec, "process"), "cwd");
  const json_t *user;
  int64_t uid, gid;
  bool ro = false;

  if (!json_bool (json_get (root, "readonly"), &ro) || !ro)
    changes_add (changes, "filesystem", "root.readonly: true (the image cannot be modified)");
  json_set (root, "readonly", json_new_bool (true));

  if (mounts == NULL)
    {
      mounts = json_new_array ();
      json_set (spec, "mounts", mounts);
    }
  if (!json_is_array (mounts))
    return corral_error_make (err, 0, "mounts: expected an array");

  for (size_t i = 0; i < json_len (mounts); i++)
    {
      json_t *m = json_at (mounts, i);
      const char *dest = json_get_string (m, "destination");
      const char *type = json_get_string (m, "type");

      if (!json_is_object (m) || dest == NULL)
        return corral_error_make (err, 0, "mounts[%zu]: expected an object with a destination", i);
      if (harden_mount_is_bind (m))
        {
          if (check_bind (m, ctx, mount_is_writable (p, dest, cwd), changes, err) < 0)
            return -1;
        }
      else if (str_eq (type, "sysfs") || str_eq (type, "cgroup") || str_eq (type, "cgroup2"))
        {
          /* --privileged mounts these read-write. */
          if (ensure_option (m, "ro", "rw"))
            changes_add (changes, "filesystem", "mounts[%s]: %s made read-only", dest, type);
        }
    }

  user = json_get (json_get (spec, "process"), "user");
  if (!json_int64 (json_get (user, "uid"), &uid) || !json_int64 (json_get (user, "gid"), &gid))
    return corral_error_make (err, 0, "process.user: uid and gid must be set before the scratch tmpfs is made");
  for (size_t i = 0; i < p->n_tmpfs; i++)
    add_tmpfs (mounts, &p->tmpfs[i], uid, gid, changes);

  add_paths (json_ensure_object (spec, "linux"), "maskedPaths", default_masked, p->masked_paths, changes);
  add_paths (json_ensure_object (spec, "linux"), "readonlyPaths", default_readonly, p->readonly_paths, changes);
  return 0;
}

/* Devices an agent may see; runc creates the standard ones itself, so
 * anything else in linux.devices came from --device or --privileged. */
static const char *const allowed_devices[]
    = { "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", NULL };

static json_t *
device_rule (bool allow, const char *type, int64_t major, int64_t minor, const char *access)
{
  json_t *r = json_new_object ();

  json_set (r, "allow", json_new_bool (allow));
  if (type)
    json_set (r, "type", json_new_string (type));
  if (major >= 0)
    json_set (r, "major", json_new_int (major));
  if (minor >= 0)
    json_set (r, "minor", json_new_int (minor));
  json_set (r, "access", json_new_string (access));
  return r;
}

int
harden_devices (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err)
{
  json_t *linux_ = json_ensure_object (spec, "linux");
  json_t *devices = json_get (linux_, "devices");
  json_t *rules = json_new_array ();
  size_t removed = 0;
  (void) ctx;
  (void) err;

  for (size_t i = json_len (devices); json_is_array (devices) && i-- > 0;)
    {
      const char *path = json_get_string (json_at (devices, i), "path");
      bool ok = false;
      for (size_t k = 0; allowed_devices[k] && !ok; k++)
        ok = str_eq (allowed_devices[k], path);
      if (!ok)
        {
          json_remove_at (devices, i);
          removed++;
        }
    }
  if (removed)
    changes_add (changes, "devices", "linux.devices: removed %zu host devices", removed);

  /* The device cgroup: deny everything, then the standard set (runc's
   * defaults: null, zero, full, tty, random, urandom, ptmx, pts). */
  json_push (rules, device_rule (false, NULL, -1, -1, "rwm"));
  json_push (rules, device_rule (true, "c", 1, 3, "rwm"));
  json_push (rules, device_rule (true, "c", 1, 5, "rwm"));
  json_push (rules, device_rule (true, "c", 1, 7, "rwm"));
  json_push (rules, device_rule (true, "c", 1, 8, "rwm"));
  json_push (rules, device_rule (true, "c", 1, 9, "rwm"));
  json_push (rules, device_rule (true, "c", 5, 0, "rwm"));
  json_push (rules, device_rule (true, "c", 5, 2, "rwm"));
  json_push (rules, device_rule (true, "c", 136, -1, "rwm"));
  json_t *res = json_ensure_object (linux_, "resources");
  if (!json_equal (json_get (res, "devices"), rules))
    changes_add (changes, "devices", "linux.resources.devices: deny all but the standard character devices");
  json_set (res, "devices", rules);
  return 0;
}
