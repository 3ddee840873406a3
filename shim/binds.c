/* corral: bind sources staged as mounts of the judged objects (binds.h). */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "shim/binds.h"
#include "shim/state.h"
#include "shim/util.h"
#include "spec/harden.h"

#define BINDS_DIR "binds"

/* Is path equal to dir or below it? */
static bool
under (const char *path, const char *dir)
{
  size_t n = strlen (dir);
  return strncmp (path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* One bind: open the source without following any symlink, check its type
 * again, clone that object's mount (open_tree(2)) and attach the copy at
 * bfd/<n>.  Every fd is closed on return, whatever happens. */
static int
stage_one (json_t *m, const char *dest, const char *src, int bfd, const char *binds, size_t n, corral_error_t *err)
{
  /* RESOLVE_NO_SYMLINKS: the judged path is canonical, so any symlink on it
   * now was put there since (openat2(2)). */
  struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };
  const json_t *opts = json_get (m, "options");
  bool recursive = json_array_has_string (opts, "rbind");
  bool ro = json_array_has_string (opts, "ro") || json_array_has_string (opts, "rro");
  cleanup_close int fd = -1;
  cleanup_close int tree = -1;
  char name[32];
  const char *kind;
  char *staged;
  struct stat st;

  if (src[0] != '/')
    return corral_error_make (err, 0, "mounts[%s]: bind source `%s` is not an absolute host path", dest, src);
  fd = (int) syscall (SYS_openat2, AT_FDCWD, src, &how, sizeof (how));
  if (fd < 0 && errno == ELOOP)
    return corral_error_make (err, 0,
                              "mounts[%s]: bind source `%s` changed after corral checked it: a symlink is now on "
                              "its path, so the bind would reach something never checked; the container is not "
                              "created (find out who can write to the directories on that path)",
                              dest, src);
  if (fd < 0 && errno == ENOENT)
    return corral_error_make (err, 0,
                              "mounts[%s]: bind source `%s` does not exist (or was moved away after corral checked "
                              "it): create it before the container, or remove the volume",
                              dest, src);
  if (fd < 0 && errno == ENOSYS)
    return corral_error_make (err, errno, "mounts[%s]: open bind source `%s` (needs openat2, Linux 5.6)", dest, src);
  if (fd < 0)
    return corral_error_make (err, errno, "mounts[%s]: open bind source `%s`", dest, src);
  if (fstat (fd, &st) < 0)
    return corral_error_make (err, errno, "mounts[%s]: stat bind source `%s`", dest, src);
  kind = harden_source_kind_refused (st.st_mode);
  if (kind)
    return corral_error_make (err, 0,
                              "mounts[%s]: bind source `%s` is a %s now (it changed after corral checked it): "
                              "sockets, FIFOs and device nodes are never bound into a container",
                              dest, src, kind);

  /* A detached copy of exactly the opened object's mount: with rbind the
   * mounts below it too, as the delegate's rbind would have copied them. */
  tree = (int) syscall (SYS_open_tree, fd, "",
                        OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0));
  if (tree < 0)
    return corral_error_make (err, errno, "mounts[%s]: copy the mount of bind source `%s` (open_tree)", dest, src);
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
      return corral_error_make (err, saved, "mounts[%s]: attach the copy of bind source `%s` at `%s/%s`", dest, src,
                                binds, name);
    }
  xasprintf (&staged, "%s/%s", binds, name);
  json_set (m, "source", json_new_string (staged));
  free (staged);
  return 0;
}

int
binds_stage (const char *base, const char *engine_root, const char *id, json_t *spec, corral_error_t *err)
{
  cleanup_free char *dir = state_container_dir (base, engine_root, id);
  cleanup_free char *binds = NULL;
  cleanup_close int bfd = -1;
  json_t *mounts = json_get (spec, "mounts");
  size_t n = 0;

  if (binds_release (base, engine_root, id, err) < 0)
    return corral_error_wrap (err, "binds left by an earlier create of container `%s`", id);
  for (size_t i = 0; i < json_len (mounts); i++)
    {
      json_t *m = json_at (mounts, i);
      const char *src = json_get_string (m, "source");
      const char *dest = json_get_string (m, "destination");

      if (!harden_mount_is_bind (m) || src == NULL)
        continue;
      dest = dest ? dest : "?";
      /* corral's own files (resolv.conf): only root can write there, there
       * is no race to close. */
      if (under (src, dir))
        continue;
      /* Other containers' staged binds live there: each was judged for its
       * own container, under its own profile. */
      if (under (src, base))
        return corral_error_make (err, 0,
                                  "mounts[%s]: bind source `%s` is inside corral's state directory `%s`: refused "
                                  "(remove the volume)",
                                  dest, src, base);
      if (bfd < 0)
        {
          if (state_container_dir_create (base, engine_root, id, err) < 0)
            return -1;
          xasprintf (&binds, "%s/" BINDS_DIR, dir);
          if (mkdir (binds, 0700) < 0 && errno != EEXIST)
            return corral_error_make (err, errno, "create `%s`", binds);
          bfd = open (binds, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          if (bfd < 0)
            return corral_error_make (err, errno, "open `%s`", binds);
        }
      if (stage_one (m, dest, src, bfd, binds, n++, err) < 0)
        return corral_error_wrap (err, "container `%s`", id);
    }
  return 0;
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
