/* corral: every mount judged by its kind.  Binds and overlay layers: host
 * paths made canonical, never sockets, FIFOs, devices or the directories
 * that hold host sockets; read-only means recursively read-only; no
 * propagation back to the host.  Kernel filesystems of the container's
 * own namespaces are kept nosuid.  Any other mount type is refused. */
#include "config.h"

#include <sys/stat.h>

#include "base/util.h"
#include "spec/harden.h"

/* Filesystems that show only what the container's own namespaces hold
 * (sysfs and cgroup are made read-only by harden_filesystem). */
static const char *const kernel_types[] = { "tmpfs", "proc", "sysfs", "mqueue", "devpts", "cgroup", "cgroup2", NULL };

/* Host directories that hold sockets (D-Bus, systemd, X11, the session
 * buses of /run/user) or devices: a bind of one of them, of anything inside
 * one, or of an ancestor (which contains them) is refused.  A bound
 * directory elsewhere is not walked for sockets: see docs/spec-model.md. */
static const char *const socket_dirs[]
    = { "/dev",          "/run/user",       "/run/dbus",   "/run/systemd", "/tmp/.X11-unix",
        "/var/run/dbus", "/run/postgresql", "/run/mysqld", "/run/redis",   "/run/php",
        "/run/libvirt",  "/run/snapd",      NULL };
/* Directories of sockets only as a whole: binding /run itself (or an
 * ancestor) is refused, a file the engine keeps below it is not (engines
 * bind per-container files from their own run directories, such as the
 * CRI sandbox's /dev/shm). */
static const char *const socket_parents[]
    = { "/run", "/var/run", "/run/containerd", "/run/docker", "/run/crio", "/run/podman", "/run/k3s", NULL };

/* Propagation that would carry mounts between host and container. */
static const char *const shared_propagation[] = { "shared", "rshared", NULL };

static bool
in_list (const char *const *v, const char *s)
{
  for (; *v; v++)
    if (str_eq (*v, s))
      return true;
  return false;
}

/* Is path equal to dir or below it? */
static bool
under (const char *path, const char *dir)
{
  size_t n = strlen (dir);
  return strncmp (path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

bool
harden_mount_is_bind (const json_t *m)
{
  json_t *opts = json_get (m, "options");
  return str_eq (json_get_string (m, "type"), "bind") || json_array_has_string (opts, "bind")
         || json_array_has_string (opts, "rbind");
}

const char *
harden_source_kind_refused (unsigned mode)
{
  if (S_ISSOCK (mode))
    return "socket";
  if (S_ISFIFO (mode))
    return "FIFO";
  if (S_ISCHR (mode) || S_ISBLK (mode))
    return "device node";
  return NULL;
}

/* Judge one host path used by a bind or an overlay layer; what names the
 * use in messages ("bind source", "overlay upperdir").  written: whether
 * the container can write through it. */
static int
judge_host_path (const char *path, const char *what, const char *dest, bool written, const harden_ctx_t *ctx,
                 corral_error_t *err)
{
  const corral_profile_t *p = ctx->profile;
  unsigned mode = ctx->source_mode ? ctx->source_mode (path) : S_IFDIR;

  if (path[0] != '/')
    return corral_error_make (err, 0, "mounts[%s]: %s `%s` is not an absolute host path", dest, what, path);
  for (size_t i = 0; socket_dirs[i]; i++)
    if (under (path, socket_dirs[i]) || harden_pattern_hits (socket_dirs[i], path))
      return corral_error_make (err, 0,
                                "mounts[%s]: %s `%s` is or holds `%s`, where host sockets and devices live "
                                "(channels out that no egress rule sees): bind a directory of plain files instead",
                                dest, what, path, socket_dirs[i]);
  for (size_t i = 0; socket_parents[i]; i++)
    if (under (socket_parents[i], path))
      return corral_error_make (err, 0,
                                "mounts[%s]: %s `%s` contains `%s`, where host sockets live: bind a directory "
                                "of plain files instead",
                                dest, what, path, socket_parents[i]);
  /* mode 0: the path does not exist (yet); the delegate fails on it (and
   * the shim refuses a bind source that is missing when it stages it). */
  if (harden_source_kind_refused (mode))
    return corral_error_make (err, 0,
                              "mounts[%s]: %s `%s` is a %s: sockets, FIFOs and device nodes are never bound into "
                              "a container (remove the volume)",
                              dest, what, path, harden_source_kind_refused (mode));
  for (size_t i = 0; i < p->n_mount_rules; i++)
    {
      const struct mount_rule_s *r = &p->mount_rules[i];

      if (r->source == NULL || !harden_pattern_hits (r->source, path))
        continue;
      if (r->action == MOUNT_REFUSE || written)
        return corral_error_make (err, 0,
                                  "mounts[%s]: %s `%s` is denied (rule source `%s`%s): remove the volume or change "
                                  "the profile's mount_rules",
                                  dest, what, path, r->source, r->action == MOUNT_REFUSE ? "" : ", read-only");
    }
  return 0;
}

/* Canonical form of a host path (symlinks resolved), malloc'd. */
static char *
canonical (const harden_ctx_t *ctx, const char *path)
{
  char *c = ctx->resolve_source ? ctx->resolve_source (path) : NULL;
  return c ? c : xstrdup (path);
}

static int
judge_bind (json_t *m, const char *dest, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err)
{
  const char *src = json_get_string (m, "source");
  json_t *opts = json_get (m, "options");
  cleanup_free char *canon = NULL;

  if (src == NULL)
    return corral_error_make (err, 0, "mounts[%s]: a bind mount needs a source", dest);
  /* corral's own resolv.conf (harden_dns), under /run/corral. */
  if (ctx->resolv_conf && str_eq (src, ctx->resolv_conf) && str_eq (dest, "/etc/resolv.conf"))
    return 0;
  canon = canonical (ctx, src);
  if (judge_host_path (canon, "bind source", dest, false, ctx, err) < 0)
    return -1;
  /* The canonical path is what was judged.  The shim then opens it without
   * following any symlink and hands the delegate a mount of that very
   * object (shim/binds.c), so a directory swapped for a symlink after this
   * check cannot redirect the bind (docs/spec-model.md). */
  if (!str_eq (canon, src))
    {
      changes_add (changes, "mounts", "mounts[%s]: source `%s` -> canonical `%s`", dest, src, canon);
      json_set (m, "source", json_new_string (canon));
    }
  /* Read-only applies to what lies under the bind too (runc's rro,
   * mount_setattr(2) AT_RECURSIVE): -v /srv:/x must not leave
   * /srv/sub-mount writable.  runsc (20221219) refuses "rro"; its gofer
   * serves the host tree as one sandbox mount, which "ro" covers whole
   * (tests/integration/130-spec-model.bats checks both). */
  if (json_array_has_string (opts, "ro") && !json_array_has_string (opts, "rro")
      && !str_eq (ctx->profile->runtime, "gvisor"))
    {
      json_push (opts, json_new_string ("rro"));
      changes_add (changes, "mounts", "mounts[%s]: read-only made recursive (rro)", dest);
    }
  return 0;
}

/* Overlay options corral understands: the three layer lists and flags
 * that change no path.  Anything else (lowerdir+=, datadir+= of newer
 * kernels, which add layers one at a time) is refused. */
static const char *const overlay_flags[]
    = { "userxattr",    "index=on", "index=off", "redirect_dir=off", "redirect_dir=nofollow",
        "metacopy=off", "volatile", "xino=off",  "xino=auto",        "ro",
        "rw",           "nosuid",   "nodev",     "noexec",           "rprivate",
        "private",      "rslave",   "slave",     "nodiratime",       "noatime",
        "relatime",     NULL };

/* Overlay layers are host paths like bind sources; the upper and work
 * directories are written to.  The kernel unescapes '\' in a layer path
 * ("/r\oot" is /root) and treats ':' as a separator: a path with a
 * backslash is refused, so the path judged is the path mounted. */
static int
judge_overlay (json_t *m, const char *dest, const harden_ctx_t *ctx, corral_error_t *err)
{
  json_t *opts = json_get (m, "options");
  bool lower = false;

  for (size_t i = 0; i < json_len (opts); i++)
    {
      const char *o = json_string (json_at (opts, i));
      cleanup_free char *copy = xstrdup (o ? o : "");
      char *save = NULL;

      for (char *tok = strtok_r (copy, ",", &save); tok; tok = strtok_r (NULL, ",", &save))
        {
          bool is_lower = str_has_prefix (tok, "lowerdir=");
          bool is_upper = str_has_prefix (tok, "upperdir=") || str_has_prefix (tok, "workdir=");
          char *dirs = strchr (tok, '=');
          char *save2 = NULL;

          if (!is_lower && !is_upper)
            {
              if (!in_list (overlay_flags, tok))
                return corral_error_make (err, 0, "mounts[%s]: overlay option `%s` is not understood: remove it", dest,
                                          tok);
              continue;
            }
          if (strchr (tok, '\\'))
            return corral_error_make (err, 0, "mounts[%s]: overlay option `%s`: a backslash in a layer path is refused",
                                      dest, tok);
          if (dirs[1] == '\0' || dirs[1] == ':' || tok[strlen (tok) - 1] == ':' || strstr (tok, "::"))
            return corral_error_make (err, 0, "mounts[%s]: overlay option `%s` has an empty layer", dest, tok);
          lower |= is_lower;
          for (char *d = strtok_r (dirs + 1, ":", &save2); d; d = strtok_r (NULL, ":", &save2))
            {
              cleanup_free char *canon = canonical (ctx, d);

              if (!str_eq (canon, d))
                return corral_error_make (err, 0,
                                          "mounts[%s]: overlay %.*s `%s` goes through a symlink (to `%s`): "
                                          "name the canonical path",
                                          dest, (int) (dirs - tok), tok, d, canon);
              if (judge_host_path (canon, is_lower ? "overlay lowerdir" : "overlay upperdir/workdir", dest, is_upper,
                                   ctx, err)
                  < 0)
                return -1;
            }
        }
    }
  if (!lower)
    return corral_error_make (err, 0, "mounts[%s]: an overlay mount needs a lowerdir", dest);
  return 0;
}

/* Options apply in order and a later `suid` undoes an earlier `nosuid`:
 * drop the opposite wherever it is, then make sure opt is there. */
static void
ensure_opt (json_t *m, const char *opt, const char *opposite, const char *dest, changes_t *changes)
{
  json_t *opts = json_ensure_array (m, "options");
  bool changed = false;

  for (size_t i = json_len (opts); i-- > 0;)
    if (str_eq (json_string (json_at (opts, i)), opposite))
      {
        json_remove_at (opts, i);
        changed = true;
      }
  if (!json_array_has_string (opts, opt))
    {
      json_push (opts, json_new_string (opt));
      changed = true;
    }
  if (changed)
    changes_add (changes, "mounts", "mounts[%s]: %s", dest, opt);
}

/* Options every mount may carry: propagation only towards the container;
 * no id-mapped mounts. */
static int
judge_options (json_t *m, const char *dest, changes_t *changes, corral_error_t *err)
{
  json_t *opts = json_get (m, "options");

  if (opts == NULL)
    return 0;
  if (!json_is_array (opts))
    return corral_error_make (err, 0, "mounts[%s].options: expected an array", dest);
  for (size_t i = 0; i < json_len (opts); i++)
    {
      const char *o = json_string (json_at (opts, i));

      if (o == NULL)
        return corral_error_make (err, 0, "mounts[%s].options[%zu]: expected a string", dest, i);
      if (in_list (shared_propagation, o))
        {
          changes_add (changes, "mounts",
                       "mounts[%s]: propagation %s -> rprivate (mounts never travel between "
                       "container and host)",
                       dest, o);
          json_remove_at (opts, i);
          json_insert_at (opts, i, json_new_string ("rprivate"));
        }
      /* remount: runc turns it into MS_REMOUNT, which without a bind
       * reconfigures the filesystem behind the destination, the host's. */
      else if (str_eq (o, "idmap") || str_eq (o, "ridmap") || str_eq (o, "remount") || strstr (o, "shared") != NULL)
        return corral_error_make (err, 0, "mounts[%s]: option `%s` is refused: remove it", dest, o);
    }
  return 0;
}

int
harden_mounts (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err)
{
  json_t *mounts = json_get (spec, "mounts");
  const char *propagation = json_get_string (json_get (spec, "linux"), "rootfsPropagation");

  /* The root's propagation: shared would let the container's mounts reach
   * the host (runtime-spec config-linux.md#rootfs-mount-propagation). */
  if (json_get (json_get (spec, "linux"), "rootfsPropagation") != NULL)
    {
      if (propagation == NULL)
        return corral_error_make (err, 0, "linux.rootfsPropagation: expected a string");
      if (in_list (shared_propagation, propagation))
        {
          changes_add (changes, "mounts", "linux.rootfsPropagation: %s -> rprivate", propagation);
          json_set (json_get (spec, "linux"), "rootfsPropagation", json_new_string ("rprivate"));
        }
    }
  for (size_t i = 0; i < json_len (mounts); i++)
    {
      json_t *m = json_at (mounts, i);
      const char *const keys[] = { "destination", "source", "type", "options", NULL };
      const char *dest = json_get_string (m, "destination");
      const char *type = json_get_string (m, "type");

      if (json_check_keys (m, "mounts[]", keys, err) < 0)
        return corral_error_wrap (err, "mounts[%s] (id-mapped mounts are refused)", dest ? dest : "?");
      if (judge_options (m, dest, changes, err) < 0)
        return -1;
      if (harden_mount_is_bind (m))
        {
          if (judge_bind (m, dest, ctx, changes, err) < 0)
            return -1;
        }
      else if (str_eq (type, "overlay"))
        {
          if (judge_overlay (m, dest, ctx, err) < 0)
            return -1;
          ensure_opt (m, "nosuid", "suid", dest, changes);
          ensure_opt (m, "nodev", "dev", dest, changes);
        }
      else if (type && in_list (kernel_types, type))
        ensure_opt (m, "nosuid", "suid", dest, changes);
      else
        return corral_error_make (err, 0,
                                  "mounts[%s]: mount type `%s` is refused (corral keeps bind, overlay, tmpfs, proc, "
                                  "sysfs, mqueue, devpts, cgroup): remove the mount",
                                  dest, type ? type : "(none)");
    }
  return 0;
}
