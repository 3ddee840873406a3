/* corral: file helpers: bounded reads and crash-safe replacement of files. */
#ifndef CORRAL_FSUTIL_H
#define CORRAL_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "base/error.h"

/* Read a whole regular file opened as fd; more than max bytes is an error.
 * name is used in messages only. */
int fd_read_all (int fd, size_t max, const char *name, char **ret, size_t *ret_len, corral_error_t *err);

/* Atomically replace dirfd/name with data: temp file in the same directory,
 * fsync, rename, fsync the directory. */
int file_replace_at (int dirfd, const char *name, const char *data, size_t len, mode_t mode, corral_error_t *err);

/* Create dirfd/name with data, complete or not at all, unless the name
 * already exists (then it is left as it was). */
int file_create_at (int dirfd, const char *name, const char *data, size_t len, mode_t mode, corral_error_t *err);

/* mkdir -p with the given mode for each component created. */
int mkdir_p (const char *path, mode_t mode, corral_error_t *err);

/* Remove dirfd/name and, if it is a directory, everything in it. */
int remove_tree_at (int dirfd, const char *name, corral_error_t *err);

#endif
