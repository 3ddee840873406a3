/* corral: the agent's HOME.  Engines set HOME from the image's user (root:
 * /root, 0700), not from the uid corral runs, so git, pip, npm and every
 * cache under ~ would fail on a read-only or foreign directory.
 * When the image's HOME is not the agent's own, HOME moves to a tmpfs the
 * agent owns. */
#include "config.h"

#include <inttypes.h>

#include "base/util.h"
#include "spec/harden.h"

/* tmpfs pages count against the container's memory limit anyway; the size
 * only keeps one runaway cache from taking all of it. */
#define HOME_SCRATCH_SIZE "512m"

static const char *
env_value (const json_t *env, const char *name, size_t *ret_index)
{
  size_t n = strlen (name);

  for (size_t i = 0; i < json_len (env); i++)
    {
      const char *kv = json_string (json_at (env, i));
      if (kv && strncmp (kv, name, n) == 0 && kv[n] == '=')
        {
          *ret_index = i;
          return kv + n + 1;
        }
    }
  return NULL;
}

const char *
harden_env_home (const json_t *spec)
{
  size_t at;
  return env_value (json_get (json_get (spec, "process"), "env"), "HOME", &at);
}

static void
env_set (json_t *env, const char *name, const char *value)
{
  cleanup_free char *kv = NULL;
  size_t at;

  xasprintf (&kv, "%s=%s", name, value);
  if (env_value (env, name, &at))
    json_remove_at (env, at);
  else
    at = json_len (env);
  json_insert_at (env, at, json_new_string (kv));
}

static bool
has_mount_at (const json_t *mounts, const char *dest)
{
  for (size_t i = 0; i < json_len (mounts); i++)
    if (str_eq (json_get_string (json_at (mounts, i), "destination"), dest))
      return true;
  return false;
}

/* Is home (a container path) under one of the profile's tmpfs, which the
 * agent owns (harden_filesystem)? */
static bool
home_on_scratch (const corral_profile_t *p, const char *home)
{
  for (size_t i = 0; i < p->n_tmpfs; i++)
    {
      size_t n = strlen (p->tmpfs[i].path);
      if (strncmp (home, p->tmpfs[i].path, n) == 0 && (home[n] == '\0' || home[n] == '/'))
        return true;
    }
  return false;
}

int
harden_home (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err)
{
  json_t *process = json_get (spec, "process");
  const json_t *user = json_get (process, "user");
  json_t *env = json_ensure_array (process, "env");
  json_t *mounts = json_ensure_array (spec, "mounts");
  cleanup_free char *old = NULL;
  int64_t uid, gid;
  size_t at;

  if (!json_int64 (json_get (user, "uid"), &uid) || !json_int64 (json_get (user, "gid"), &gid))
    return corral_error_make (err, 0, "process.user: uid and gid must be set before HOME is chosen");
  if (env_value (env, "HOME", &at))
    old = xstrdup (env_value (env, "HOME", &at));
  if (old && str_eq (old, HARDEN_HOME_SCRATCH) && has_mount_at (mounts, HARDEN_HOME_SCRATCH))
    return 0; /* hardened before (a retried create) */
  if (old && *old == '/' && !str_eq (old, "/") && (ctx->image_home_uid == uid || home_on_scratch (ctx->profile, old)))
    return 0;

  /* A volume the engine mounted there (a persistent home) is kept. */
  if (!has_mount_at (mounts, HARDEN_HOME_SCRATCH))
    json_push (mounts, harden_new_tmpfs (HARDEN_HOME_SCRATCH, HOME_SCRATCH_SIZE, "0700", uid, gid));
  env_set (env, "HOME", HARDEN_HOME_SCRATCH);
  changes_add (changes, "home",
               "process.env HOME: %s -> " HARDEN_HOME_SCRATCH " (a tmpfs owned by %" PRId64 ":%" PRId64
               "; the image's HOME is not the agent's)",
               old ? old : "(unset)", uid, gid);
  return 0;
}

void
harden_exec_home (json_t *wrapper, const json_t *container_spec, changes_t *changes)
{
  const json_t *cenv = json_get (json_get (container_spec, "process"), "env");
  json_t *env = json_ensure_array (json_get (wrapper, "process"), "env");
  const char *home;
  size_t at;

  /* podman exec sets HOME from the image again: point it where the
   * container's own process has it. */
  if (!has_mount_at (json_get (container_spec, "mounts"), HARDEN_HOME_SCRATCH)
      || !str_eq (env_value (cenv, "HOME", &at), HARDEN_HOME_SCRATCH))
    return;
  home = env_value (env, "HOME", &at);
  if (str_eq (home, HARDEN_HOME_SCRATCH))
    return;
  changes_add (changes, "home", "process.env HOME: %s -> " HARDEN_HOME_SCRATCH " (the container's HOME)",
               home ? home : "(unset)");
  env_set (env, "HOME", HARDEN_HOME_SCRATCH);
}
