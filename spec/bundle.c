/* corral: bundle access through a directory fd and openat2(2). */
#include "config.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "base/fs.h"
#include "base/util.h"
#include "spec/bundle.h"

int
bundle_open (const char *path, corral_error_t *err)
{
  int fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (fd < 0)
    return corral_error_make (err, errno, "open bundle `%s`", path);
  return fd;
}

json_t *
spec_parse (const char *data, size_t len, const char *name, corral_error_t *err)
{
  json_t *spec = json_parse (data, len, err);

  if (spec == NULL)
    {
      corral_error_wrap (err, "%s", name);
      return NULL;
    }
  if (!json_is_object (spec))
    {
      json_free (spec);
      corral_error_make (err, 0, "%s: the top level is not a JSON object", name);
      return NULL;
    }
  return spec;
}

json_t *
bundle_load_spec (int dirfd, const char *bundle, mode_t *ret_mode, corral_error_t *err)
{
  /* No symlink at all: config.json pointing anywhere, even inside the
   * bundle, is not something an engine writes. */
  struct open_how how = {
    .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
    .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
  };
  cleanup_close int fd = -1;
  cleanup_free char *data = NULL;
  cleanup_free char *name = NULL;
  json_t *spec;
  struct stat st;
  size_t len;

  xasprintf (&name, "config.json in bundle `%s`", bundle);
  fd = (int) syscall (SYS_openat2, dirfd, "config.json", &how, sizeof (how));
  /* Kernels before 5.6 (and valgrind) lack openat2: for a single path
   * component O_NOFOLLOW gives the same guarantee. */
  if (fd < 0 && errno == ENOSYS)
    fd = openat (dirfd, "config.json", (int) how.flags | O_NOFOLLOW);
  if (fd < 0 && errno == ELOOP)
    {
      corral_error_make (err, 0, "%s is a symlink; refusing to follow it", name);
      return NULL;
    }
  if (fd < 0)
    {
      corral_error_make (err, errno, "open %s", name);
      return NULL;
    }
  if (fstat (fd, &st) < 0)
    {
      corral_error_make (err, errno, "stat %s", name);
      return NULL;
    }
  if (!S_ISREG (st.st_mode))
    {
      corral_error_make (err, 0, "%s is not a regular file", name);
      return NULL;
    }
  if (st.st_size > SPEC_MAX_SIZE)
    {
      corral_error_make (err, 0, "%s is %lld bytes, more than the %d allowed", name, (long long) st.st_size,
                         SPEC_MAX_SIZE);
      return NULL;
    }
  if (fd_read_all (fd, SPEC_MAX_SIZE, name, &data, &len, err) < 0)
    return NULL;
  spec = spec_parse (data, len, name, err);
  if (spec && ret_mode)
    *ret_mode = st.st_mode & 07777;
  return spec;
}

int
bundle_save_spec (int dirfd, const char *bundle, const json_t *spec, mode_t mode, corral_error_t *err)
{
  cleanup_free char *data = json_serialize (spec, false);

  if (file_replace_at (dirfd, "config.json", data, strlen (data), mode, err) < 0)
    return corral_error_wrap (err, "bundle `%s`", bundle);
  return 0;
}

int64_t
bundle_rootfs_dir_owner (int dirfd, const json_t *spec, const char *path)
{
  /* The image is the engine's and may be hostile: resolve inside the rootfs,
   * never through a symlink pointing out of it. */
  struct open_how how = {
    .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
  };
  const char *root = json_get_string (json_get (spec, "root"), "path");
  cleanup_close int rootfd = -1;
  cleanup_close int fd = -1;
  struct stat st;

  if (root == NULL || path == NULL || *path != '/')
    return -1;
  rootfd = openat (dirfd, root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0)
    return -1;
  fd = (int) syscall (SYS_openat2, rootfd, path, &how, sizeof (how));
  if (fd < 0 || fstat (fd, &st) < 0)
    return -1;
  return st.st_uid;
}
