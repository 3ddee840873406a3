/* corral: file helpers shared by the state directory and the bundle code. */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "base/fs.h"
#include "base/util.h"

int
fd_read_all (int fd, size_t max, const char *name, char **ret, size_t *ret_len, corral_error_t *err)
{
  cleanup_free char *buf = NULL;
  size_t len = 0, cap = 0;

  for (;;)
    {
      ssize_t n;

      if (len == cap)
        {
          /* Allow one byte past max so a file that grows is still caught. */
          if (cap > max)
            return corral_error_make (err, 0, "`%s` is larger than %zu bytes", name, max);
          cap = cap ? cap * 2 : 65536;
          if (cap > max + 1)
            cap = max + 1;
          buf = xrealloc (buf, cap + 1);
        }
      n = read (fd, buf + len, cap - len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return corral_error_make (err, errno, "read `%s`", name);
      if (n == 0)
        break;
      len += (size_t) n;
      if (len > max)
        return corral_error_make (err, 0, "`%s` is larger than %zu bytes", name, max);
    }
  buf[len] = '\0';
  *ret = steal_pointer (&buf);
  *ret_len = len;
  return 0;
}

static int
write_all_fd (int fd, const char *data, size_t len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -1;
      data += n;
      len -= (size_t) n;
    }
  return 0;
}

/* Write data to a fresh temporary file in dirfd and fsync it; its name goes
 * to tmp. */
static int
write_temp_at (int dirfd, const char *name, const char *data, size_t len, mode_t mode, char tmp[static 64],
               corral_error_t *err)
{
  cleanup_close int fd = -1;
  uint64_t rnd;

  if (getrandom (&rnd, sizeof (rnd), 0) != sizeof (rnd))
    return corral_error_make (err, errno, "getrandom");
  snprintf (tmp, 64, ".corral-tmp-%016llx", (unsigned long long) rnd);

  fd = openat (dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0)
    return corral_error_make (err, errno, "create temporary file for `%s`", name);
  if (fchmod (fd, mode) < 0 || write_all_fd (fd, data, len) < 0 || fsync (fd) < 0)
    {
      int e = errno;
      (void) unlinkat (dirfd, tmp, 0);
      return corral_error_make (err, e, "write `%s`", name);
    }
  return 0;
}

int
file_replace_at (int dirfd, const char *name, const char *data, size_t len, mode_t mode, corral_error_t *err)
{
  char tmp[64];

  if (write_temp_at (dirfd, name, data, len, mode, tmp, err) < 0)
    return -1;
  if (renameat (dirfd, tmp, dirfd, name) < 0)
    {
      int e = errno;
      (void) unlinkat (dirfd, tmp, 0);
      return corral_error_make (err, e, "rename temporary file to `%s`", name);
    }
  if (fsync (dirfd) < 0)
    return corral_error_make (err, errno, "fsync directory of `%s`", name);
  return 0;
}

int
file_create_at (int dirfd, const char *name, const char *data, size_t len, mode_t mode, corral_error_t *err)
{
  char tmp[64];
  int r, e;

  if (write_temp_at (dirfd, name, data, len, mode, tmp, err) < 0)
    return -1;
  /* link(2), unlike rename(2), never replaces an existing name: of several
   * processes creating the same file at once exactly one wins. */
  r = linkat (dirfd, tmp, dirfd, name, 0);
  e = errno;
  (void) unlinkat (dirfd, tmp, 0);
  if (r < 0 && e == EEXIST)
    return 0;
  if (r < 0)
    return corral_error_make (err, e, "link temporary file to `%s`", name);
  if (fsync (dirfd) < 0)
    return corral_error_make (err, errno, "fsync directory of `%s`", name);
  return 0;
}

int
mkdir_p (const char *path, mode_t mode, corral_error_t *err)
{
  cleanup_free char *p = xstrdup (path);

  for (char *s = p + 1;; s++)
    {
      bool end = *s == '\0';
      if (*s != '/' && !end)
        continue;
      *s = '\0';
      if (mkdir (p, mode) < 0 && errno != EEXIST)
        return corral_error_make (err, errno, "create directory `%s`", p);
      if (end)
        break;
      *s = '/';
    }
  return 0;
}

/* The id of the mount fd's file is on (statx(2) STATX_MNT_ID, Linux 5.8). */
static int
fd_mount_id (int fd, uint64_t *ret)
{
  struct statx stx;

  if (statx (fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0)
    return -1;
  if (!(stx.stx_mask & STATX_MNT_ID))
    {
      errno = ENOSYS;
      return -1;
    }
  *ret = stx.stx_mnt_id;
  return 0;
}

int
remove_tree_at (int parentfd, const char *name, corral_error_t *err)
{
  cleanup_close int fd = -1;
  uint64_t parent_mnt, mnt;
  DIR *d;
  struct dirent *de;

  if (unlinkat (parentfd, name, 0) == 0 || errno == ENOENT)
    return 0;
  if (errno != EISDIR && errno != EPERM)
    return corral_error_make (err, errno, "remove `%s`", name);

  fd = openat (parentfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? 0 : corral_error_make (err, errno, "open directory `%s`", name);
  /* Never through a mount: a directory mounted here (a bind staged for a
   * container, shim/binds.c) is someone's host directory, not ours to
   * empty.  A file mounted on is safe already: unlink fails with EBUSY. */
  if (fd_mount_id (parentfd, &parent_mnt) < 0 || fd_mount_id (fd, &mnt) < 0)
    return corral_error_make (err, errno, "tell whether `%s` is a mount point", name);
  if (mnt != parent_mnt)
    return corral_error_make (err, EBUSY, "`%s` is a mount point: not removed (unmount it first)", name);
  d = fdopendir (fd);
  if (d == NULL)
    return corral_error_make (err, errno, "open directory `%s`", name);
  fd = -1; /* owned by d now */
  while ((de = readdir (d)))
    {
      if (str_eq (de->d_name, ".") || str_eq (de->d_name, ".."))
        continue;
      if (remove_tree_at (dirfd (d), de->d_name, err) < 0)
        {
          closedir (d);
          return corral_error_wrap (err, "remove `%s`", name);
        }
    }
  closedir (d);
  if (unlinkat (parentfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
    return corral_error_make (err, errno, "remove directory `%s`", name);
  return 0;
}
