/* corral: bind sources staged as mounts of the judged objects (binds.h). */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "hooks/dnsguard.h"
#include "shim/binds.h"
#include "services/state.h"
#include "base/util.h"
#include "spec/harden.h"

#define BINDS_DIR "binds"

/* Is path equal to dir or below it? */
static bool
under (const char *path, const char *dir)
{
  size_t n = strlen (dir);
  return strncmp (path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* One host path: open it without following any symlink, check its type
 * again, clone that object's mount (open_tree(2)) and attach the copy at
 * bfd/<n>; *ret_staged is the copy's path.  what names the use ("bind
 * source", "overlay lowerdir").  Every fd is closed on return, whatever
 * happens. */
static int
stage_path (const char *dest, const char *what, const char *src, bool recursive, bool ro, int bfd, const char *binds,
            size_t n, char **ret_staged, corral_error_t *err)
{
  /* RESOLVE_NO_SYMLINKS: the judged path is canonical, so any symlink on it
   * now was put there since (openat2(2)). */
  struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };
  cleanup_close int fd = -1;
  cleanup_close int tree = -1;
  char name[32];
  const char *kind;
  struct stat st;

  if (src[0] != '/')
    return corral_error_make (err, 0, "mounts[%s]: %s `%s` is not an absolute host path", dest, what, src);
  fd = (int) syscall (SYS_openat2, AT_FDCWD, src, &how, sizeof (how));
  if (fd < 0 && errno == ELOOP)
    return corral_error_make (err, 0,
                              "mounts[%s]: %s `%s` changed after corral checked it: a symlink is now on its path, "
                              "so the mount would reach something never checked; the container is not created "
                              "(find out who can write to the directories on that path)",
                              dest, what, src);
  if (fd < 0 && errno == ENOENT)
    return corral_error_make (err, 0,
                              "mounts[%s]: %s `%s` does not exist (or was moved away after corral checked it): "
                              "create it before the container, or remove the volume",
                              dest, what, src);
  if (fd < 0 && errno == ENOSYS)
    return corral_error_make (err, errno, "mounts[%s]: open %s `%s` (needs openat2, Linux 5.6)", dest, what, src);
  if (fd < 0)
    return corral_error_make (err, errno, "mounts[%s]: open %s `%s`", dest, what, src);
  if (fstat (fd, &st) < 0)
    return corral_error_make (err, errno, "mounts[%s]: stat %s `%s`", dest, what, src);
  kind = harden_source_kind_refused (st.st_mode);
  if (kind)
    return corral_error_make (err, 0,
                              "mounts[%s]: %s `%s` is a %s now (it changed after corral checked it): sockets, FIFOs "
                              "and device nodes are never mounted into a container",
                              dest, what, src, kind);

  /* A detached copy of exactly the opened object's mount: with rbind the
   * mounts below it too, as the delegate's rbind would have copied them. */
  tree = (int) syscall (SYS_open_tree, fd, "",
                        OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0));
  if (tree < 0)
    return corral_error_make (err, errno, "mounts[%s]: copy the mount of %s `%s` (open_tree)", dest, what, src);
  /* The staged copy of a read-only bind is read-only itself: the delegate
   * still makes its own bind read-only (runc's ro/rro), and runsc's gofer,
   * which serves the host tree from this copy, cannot write below it
   * either. */
  if (ro)
    {
      struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };

      if (syscall (SYS_mount_setattr, tree, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr, sizeof (attr))
          < 0)
        return corral_error_make (err, errno, "mounts[%s]: make the staged copy of `%s` read-only", dest, src);
    }

  snprintf (name, sizeof (name), "%zu", n);
  if (S_ISDIR (st.st_mode))
    {
      if (mkdirat (bfd, name, 0700) < 0)
        return corral_error_make (err, errno, "mounts[%s]: create staging directory `%s/%s`", dest, binds, name);
    }
  else
    {
      int f = openat (bfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

      if (f < 0)
        return corral_error_make (err, errno, "mounts[%s]: create staging file `%s/%s`", dest, binds, name);
      close (f);
    }
  /* Attached under the state directory, which is the host's /run: when that
   * mount is shared, the copy propagates to its peers and slaves (systemd
   * services' namespaces) as any mount there would, and the unmount in
   * binds_release propagates to them too.  The copy stays in the source
   * mount's peer group, so a bind asked for as rslave still receives the
   * host's mounts below the source, as it did when the delegate bound the
   * source itself; mounts never flow back (harden_mounts makes shared
   * propagation private). */
  if (syscall (SYS_move_mount, tree, "", bfd, name, MOVE_MOUNT_F_EMPTY_PATH) < 0)
    {
      int saved = errno;

      (void) unlinkat (bfd, name, S_ISDIR (st.st_mode) ? AT_REMOVEDIR : 0);
      return corral_error_make (err, saved, "mounts[%s]: attach the copy of %s `%s` at `%s/%s`", dest, what, src, binds,
                                name);
    }
  xasprintf (ret_staged, "%s/%s", binds, name);
  return 0;
}

/* Where the staged copies go: <state dir>/binds, made (0700) on first use. */
typedef struct
{
  const char *base, *engine_root, *id, *dir;
  char *binds;
  int bfd;
  size_t n;
} stage_t;

/* Stage host path src used by mount dest; *ret_staged is NULL when src
 * stays as it is (corral's own files, only root writes there: no race to
 * close). */
static int
stage (stage_t *st, const char *dest, const char *what, const char *src, bool recursive, bool ro, char **ret_staged,
       corral_error_t *err)
{
  cleanup_free char *own_resolv_conf = NULL;

  *ret_staged = NULL;
  /* corral's own resolv.conf (spec/harden_dns.c): only root writes there. */
  xasprintf (&own_resolv_conf, "%s/" DNSGUARD_RESOLV_NAME, st->dir);
  if (str_eq (src, own_resolv_conf) && str_eq (dest, "/etc/resolv.conf"))
    return 0;
  /* Everything else there is refused: other containers' staged binds (each
   * judged for its own container, under its own profile), and this
   * container's own, which a second mount could alias (a read-only source
   * bound again writable). */
  if (under (src, st->base))
    return corral_error_make (err, 0,
                              "mounts[%s]: %s `%s` is inside corral's state directory `%s`: refused (remove the "
                              "volume)",
                              dest, what, src, st->base);
  if (st->bfd < 0)
    {
      if (state_container_dir_create (st->base, st->engine_root, st->id, err) < 0)
        return -1;
      xasprintf (&st->binds, "%s/" BINDS_DIR, st->dir);
      if (mkdir (st->binds, 0700) < 0 && errno != EEXIST)
        return corral_error_make (err, errno, "create `%s`", st->binds);
      st->bfd = open (st->binds, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (st->bfd < 0)
        return corral_error_make (err, errno, "open `%s`", st->binds);
    }
  return stage_path (dest, what, src, recursive, ro, st->bfd, st->binds, st->n++, ret_staged, err);
}

/* Overlay: each lowerdir layer staged as a read-only copy of that
 * directory alone (overlayfs does not see mounts below a layer).  The
 * upper and work directories are not: overlayfs wants both on one mount
 * ("workdir and upperdir must reside under the same mount"), and two
 * copies are two mounts (docs/spec-model.md). */
static int
stage_overlay (stage_t *st, json_t *m, const char *dest, corral_error_t *err)
{
  json_t *opts = json_get (m, "options");

  for (size_t i = 0; i < json_len (opts); i++)
    {
      const char *o = json_string (json_at (opts, i));
      cleanup_free char *copy = NULL;
      cleanup_free char *out = xstrdup ("");
      char *save = NULL;

      if (o == NULL || strstr (o, "lowerdir=") == NULL)
        continue;
      copy = xstrdup (o);
      for (char *tok = strtok_r (copy, ",", &save); tok; tok = strtok_r (NULL, ",", &save))
        {
          char *next;

          if (!str_has_prefix (tok, "lowerdir="))
            xasprintf (&next, "%s%s%s", out, *out ? "," : "", tok);
          else
            {
              cleanup_free char *layers = xstrdup ("");
              char *save2 = NULL;

              for (char *d = strtok_r (tok + strlen ("lowerdir="), ":", &save2); d; d = strtok_r (NULL, ":", &save2))
                {
                  cleanup_free char *staged = NULL;
                  char *joined;

                  if (stage (st, dest, "overlay lowerdir", d, false, true, &staged, err) < 0)
                    return -1;
                  xasprintf (&joined, "%s%s%s", layers, *layers ? ":" : "", staged ? staged : d);
                  free (layers);
                  layers = joined;
                }
              xasprintf (&next, "%s%slowerdir=%s", out, *out ? "," : "", layers);
            }
          free (out);
          out = next;
        }
      json_remove_at (opts, i);
      json_insert_at (opts, i, json_new_string (out));
    }
  return 0;
}

int
binds_stage (const char *base, const char *engine_root, const char *id, json_t *spec, corral_error_t *err)
{
  cleanup_free char *dir = state_container_dir (base, engine_root, id);
  stage_t st = { .base = base, .engine_root = engine_root, .id = id, .dir = dir, .bfd = -1 };
  json_t *mounts = json_get (spec, "mounts");
  int r = 0;

  if (binds_release (base, engine_root, id, err) < 0)
    return corral_error_wrap (err, "binds left by an earlier create of container `%s`", id);
  for (size_t i = 0; r == 0 && i < json_len (mounts); i++)
    {
      json_t *m = json_at (mounts, i);
      const char *src = json_get_string (m, "source");
      const char *dest = json_get_string (m, "destination");
      const json_t *opts = json_get (m, "options");
      char *staged = NULL;

      dest = dest ? dest : "?";
      if (harden_mount_is_bind (m) && src)
        {
          bool ro = json_array_has_string (opts, "ro") || json_array_has_string (opts, "rro");

          r = stage (&st, dest, "bind source", src, json_array_has_string (opts, "rbind"), ro, &staged, err);
          if (staged)
            json_set (m, "source", json_new_string (staged));
          free (staged);
        }
      else if (str_eq (json_get_string (m, "type"), "overlay"))
        r = stage_overlay (&st, m, dest, err);
    }
  if (st.bfd >= 0)
    close (st.bfd);
  free (st.binds);
  return r < 0 ? corral_error_wrap (err, "container `%s`", id) : 0;
}

/* Unmount whatever is mounted at path (MNT_DETACH: the container or
 * runsc's gofer keeps its own copy); nothing mounted there is fine. */
static int
unmount_all (const char *path, corral_error_t *err)
{
  /* Bounded: only binds_stage mounts here, once per name. */
  for (int i = 0; i < 16; i++)
    if (umount2 (path, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
      return errno == EINVAL || errno == ENOENT ? 0 : corral_error_make (err, errno, "unmount staged bind `%s`", path);
  return corral_error_make (err, EBUSY, "unmount staged bind `%s`: still mounted after 16 unmounts", path);
}

int
binds_release (const char *base, const char *engine_root, const char *id, corral_error_t *err)
{
  cleanup_free char *dir = state_container_dir (base, engine_root, id);
  cleanup_free char *binds = NULL;
  int fd, r = 0;
  struct dirent *de;
  DIR *d;

  xasprintf (&binds, "%s/" BINDS_DIR, dir);
  fd = open (binds, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? 0 : corral_error_make (err, errno, "open `%s`", binds);
  d = fdopendir (fd);
  if (d == NULL)
    {
      close (fd);
      return corral_error_make (err, errno, "open `%s`", binds);
    }
  while (r == 0 && (de = readdir (d)))
    {
      cleanup_free char *path = NULL;

      if (str_eq (de->d_name, ".") || str_eq (de->d_name, ".."))
        continue;
      xasprintf (&path, "%s/%s", binds, de->d_name);
      r = unmount_all (path, err);
      /* Only once nothing is mounted there: a directory still mounted on
       * is busy, never emptied. */
      if (r == 0 && unlinkat (dirfd (d), de->d_name, 0) < 0
          && ((errno != EISDIR && errno != EPERM) || unlinkat (dirfd (d), de->d_name, AT_REMOVEDIR) < 0)
          && errno != ENOENT)
        r = corral_error_make (err, errno, "remove staged bind `%s`", path);
    }
  closedir (d);
  if (r == 0 && rmdir (binds) < 0 && errno != ENOENT)
    r = corral_error_make (err, errno, "remove `%s`", binds);
  return r;
}
