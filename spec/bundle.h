/* corral: reading and writing a bundle's config.json, safely against a
 * hostile bundle (symlinks, special files, huge or torn files). */
#ifndef CORRAL_BUNDLE_H
#define CORRAL_BUNDLE_H

#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"
#include "base/json.h"

/* Larger configs are refused: real ones are tens of KB. */
#define SPEC_MAX_SIZE (16 * 1024 * 1024)

/* Open the bundle directory; the fd is the anchor for every later access. */
int bundle_open (const char *path, corral_error_t *err);

/* Load dirfd/config.json.  It must be a regular file inside the bundle (no
 * symlink anywhere), at most SPEC_MAX_SIZE bytes and valid JSON (object). */
json_t *bundle_load_spec (int dirfd, const char *bundle, mode_t *ret_mode, corral_error_t *err);

/* Replace dirfd/config.json with spec, atomically. */
int bundle_save_spec (int dirfd, const char *bundle, const json_t *spec, mode_t mode, corral_error_t *err);

/* Owner of the directory `path` (a container path) in the spec's rootfs,
 * resolved inside it; -1 when it is missing, not a directory or cannot be
 * looked at.  A fact for hardening (harden_ctx_t.image_home_uid). */
int64_t bundle_rootfs_dir_owner (int dirfd, const json_t *spec, const char *path);

/* Parse a spec from memory with the same checks (for explain and tests). */
json_t *spec_parse (const char *data, size_t len, const char *name, corral_error_t *err);

#endif
