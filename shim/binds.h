/* corral: bind sources handed to the delegate as mounts of the very objects
 * the judge checked, not as paths it resolves again.
 *
 * The judge (spec/harden_mounts.c) checks a bind source's canonical path.
 * runc and runsc resolve a source again when they mount it, later: whoever
 * can write a directory on that path could swap it for a symlink in
 * between and have the delegate mount something never judged.  After
 * hardening, each existing bind source is opened without following any
 * symlink, its file type checked again, and a detached copy of that object
 * (open_tree(2)) is attached at <state dir>/binds/<n>, a path only root can
 * reach; mounts[].source is rewritten to it.  Overlay lowerdir layers are
 * staged the same way (not upperdir/workdir: binds.c says why).  The
 * directory <state dir>/binds is the record of what is staged: release
 * unmounts and removes everything in it. */
#ifndef CORRAL_BINDS_H
#define CORRAL_BINDS_H

#include "base/error.h"
#include "base/json.h"

/* Stage every bind source and overlay lowerdir of spec (a hardened spec) for container id of
 * the engine root engine_root, under the state base base.  Sources in the
 * container's own state directory (corral's resolv.conf) are left as they
 * are.  Refuses the container when a source has a symlink on its path, is
 * missing, or is now a socket, FIFO or device.  Leftovers of an earlier
 * create of the same id are released first.  On failure some mounts may be
 * staged: the caller releases them (binds_release) with the rest of the
 * container's state. */
int binds_stage (const char *base, const char *engine_root, const char *id, json_t *spec, corral_error_t *err);

/* Unmount (MNT_DETACH) and remove every staged bind of the container;
 * none staged is fine.  Call before removing the state directory. */
int binds_release (const char *base, const char *engine_root, const char *id, corral_error_t *err);

#endif
