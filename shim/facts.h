/* corral: facts about the host the hardening steps need, gathered here so
 * the steps stay pure (namespace joins, bind sources). */
#ifndef CORRAL_FACTS_H
#define CORRAL_FACTS_H

#include "spec/harden.h"

/* harden_ctx_t.classify_join: proves a namespace path is a pod sandbox's
 * (a container corral created under the same engine root, that runc
 * records as a CRI sandbox, whose init holds that very namespace), a named
 * netns under /run/netns no process is in yet, or the host's own. */
enum ns_join facts_classify_join (const harden_ctx_t *ctx, const char *type, const char *path, const char *sandbox_id);
/* harden_ctx_t.source_mode: lstat's st_mode, 0 when it fails. */
unsigned facts_source_mode (const char *canon);
/* harden_ctx_t.cgroup_exists: a cgroupfs path (as in linux.cgroupsPath)
 * that is already a cgroup in one of the hierarchies corral limits. */
bool facts_cgroup_exists (const char *path);

#endif
