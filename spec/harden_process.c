/* corral: hardening of the container process: user, privileges, environment. */
#include "config.h"

#include <inttypes.h>

#include "base/util.h"
#include "spec/harden.h"
#include "spec/secrets.h"

static int64_t
get_i64 (const json_t *obj, const char *key, int64_t dflt)
{
  int64_t v;
  return json_int64 (json_get (obj, key), &v) ? v : dflt;
}

/* Is the engine's uid:gid one the profile accepts (user.accept_range)? */
static bool
engine_user_accepted (const corral_profile_t *p, int64_t uid, int64_t gid)
{
  if (p->accept_min == 0)
    return false;
  return uid >= p->accept_min && uid <= p->accept_max && gid >= p->accept_min && gid <= p->accept_max;
}

int
harden_user (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err)
{
  const corral_profile_t *p = ctx->profile;
  json_t *user = json_ensure_object (json_get (spec, "process"), "user");
  int64_t uid = get_i64 (user, "uid", 0), gid = get_i64 (user, "gid", 0);
  json_t *gids = json_new_array ();
  (void) err;

  /* A person's own id (podman run --user 1000:1000) lets the agent own the
   * files it writes in a bind-mounted workspace; anything else, root
   * included, becomes the profile's user. */
  if (engine_user_accepted (p, uid, gid))
    changes_add (changes, "user", "process.user: %" PRId64 ":%" PRId64 " kept (within user.accept_range %u-%u)", uid,
                 gid, p->accept_min, p->accept_max);
  else
    {
      if (uid != p->uid || gid != p->gid)
        changes_add (changes, "user",
                     "process.user: %" PRId64 ":%" PRId64 " -> %u:%u (agents run as the profile's "
                     "non-root user)",
                     uid, gid, p->uid, p->gid);
      json_set (user, "uid", json_new_int (p->uid));
      json_set (user, "gid", json_new_int (p->gid));
    }

  for (size_t i = 0; i < p->n_additional_gids; i++)
    json_push (gids, json_new_int (p->additional_gids[i]));
  if (!json_equal (json_get (user, "additionalGids"), gids)
      && (json_len (json_get (user, "additionalGids")) > 0 || p->n_additional_gids > 0))
    changes_add (changes, "user", "process.user.additionalGids: %zu groups -> %zu (only the profile's groups)",
                 json_len (json_get (user, "additionalGids")), p->n_additional_gids);
  json_set (user, "additionalGids", gids);
  return 0;
}

void
harden_exec_user (json_t *wrapper, const json_t *container_spec, changes_t *changes)
{
  const json_t *want = json_get (json_get (container_spec, "process"), "user");
  json_t *process = json_get (wrapper, "process");

  if (!json_equal (json_get (process, "user"), want))
    changes_add (changes, "user", "process.user: the container's (exec runs as the container's user)");
  json_set (process, "user", want ? json_deep_copy (want) : json_new_object ());
}

static bool
strv_contains (char *const *v, const char *s)
{
  for (; v && *v; v++)
    if (str_eq (*v, s))
      return true;
  return false;
}

static void
filter_caps (json_t *caps, const char *set, char *const *keep, changes_t *changes)
{
  json_t *arr = json_get (caps, set);
  size_t removed = 0;

  if (arr == NULL)
    return;
  if (!json_is_array (arr))
    {
      json_set (caps, set, json_new_array ());
      changes_add (changes, "privileges", "process.capabilities.%s: invalid value replaced by an empty set", set);
      return;
    }
  for (size_t i = json_len (arr); i-- > 0;)
    if (!strv_contains (keep, json_string (json_at (arr, i))))
      {
        json_remove_at (arr, i);
        removed++;
      }
  if (removed)
    changes_add (changes, "privileges", "process.capabilities.%s: dropped %zu capabilities (profile keeps %zu)", set,
                 removed, strv_len (keep));
}

static void
set_rlimit (json_t *process, const char *type, int64_t limit, changes_t *changes)
{
  json_t *rl = json_ensure_array (process, "rlimits");
  json_t *entry;

  for (size_t i = 0; i < json_len (rl); i++)
    {
      entry = json_at (rl, i);
      if (!str_eq (json_get_string (entry, "type"), type))
        continue;
      int64_t hard = get_i64 (entry, "hard", INT64_MAX), soft = get_i64 (entry, "soft", INT64_MAX);
      /* Never raise what the engine asked for; only lower. */
      if (hard > limit || soft > limit)
        {
          json_set (entry, "hard", json_new_int (hard > limit ? limit : hard));
          json_set (entry, "soft", json_new_int (soft > limit ? limit : soft));
          changes_add (changes, "privileges", "process.rlimits %s: lowered to %" PRId64, type, limit);
        }
      return;
    }
  entry = json_new_object ();
  json_set (entry, "type", json_new_string (type));
  json_set (entry, "hard", json_new_int (limit));
  json_set (entry, "soft", json_new_int (limit));
  json_push (rl, entry);
  changes_add (changes, "privileges", "process.rlimits %s: set to %" PRId64, type, limit);
}

int
harden_privileges (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err)
{
  static const char *const sets[] = { "bounding", "effective", "inheritable", "permitted", "ambient" };
  const corral_profile_t *p = ctx->profile;
  json_t *process = json_get (spec, "process");
  json_t *caps = json_get (process, "capabilities");
  bool nnp = false;
  (void) err;

  if (caps != NULL && !json_is_object (caps))
    {
      caps = json_new_object ();
      json_set (process, "capabilities", caps);
    }
  for (size_t i = 0; caps && i < sizeof (sets) / sizeof (sets[0]); i++)
    filter_caps (caps, sets[i], p->capabilities, changes);

  if (!json_bool (json_get (process, "noNewPrivileges"), &nnp) || !nnp)
    changes_add (changes, "privileges", "process.noNewPrivileges: true (setuid binaries cannot gain privileges)");
  json_set (process, "noNewPrivileges", json_new_bool (true));

  set_rlimit (process, "RLIMIT_CORE", 0, changes);
  if (p->rlimit_nofile > 0)
    set_rlimit (process, "RLIMIT_NOFILE", p->rlimit_nofile, changes);
  if (p->rlimit_nproc > 0)
    set_rlimit (process, "RLIMIT_NPROC", p->rlimit_nproc, changes);
  return 0;
}

static bool
env_name_matches (const corral_profile_t *p, const char *name)
{
  /* Secret patterns match regardless of case (github_token is as secret as
   * GITHUB_TOKEN); an allowlist names exactly what may pass. */
  for (char **pat = p->env_patterns; pat && *pat; pat++)
    if (glob_match (*pat, name, p->env_mode == ENV_STRIP))
      return true;
  return false;
}

int
harden_environment (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err)
{
  const corral_profile_t *p = ctx->profile;
  json_t *env = json_get (json_get (spec, "process"), "env");
  (void) err;

  if (env == NULL)
    return 0;
  if (!json_is_array (env))
    return corral_error_make (err, 0, "process.env: expected an array");
  for (size_t i = json_len (env); i-- > 0;)
    {
      const char *kv = json_string (json_at (env, i));
      cleanup_free char *name = NULL;
      bool drop;

      if (kv == NULL)
        return corral_error_make (err, 0, "process.env[%zu]: expected a string", i);
      name = strchr (kv, '=') ? xstrndup (kv, (size_t) (strchr (kv, '=') - kv)) : xstrdup (kv);
      drop = env_name_matches (p, name) == (p->env_mode == ENV_STRIP);
      if (drop)
        {
          /* The name only: values are secrets and never logged. */
          changes_add (changes, "environment", "process.env: removed %s (%s)", name,
                       p->env_mode == ENV_STRIP ? "matches a secret pattern" : "not in the profile's allowlist");
          json_remove_at (env, i);
        }
      else if (strchr (kv, '=') && secrets_value_rule (strchr (kv, '=') + 1))
        {
          /* Whatever the name: the value has a secret's shape. */
          changes_add (changes, "environment", "process.env: removed %s (value matches secret rule %s)", name,
                       secrets_value_rule (strchr (kv, '=') + 1));
          json_remove_at (env, i);
        }
    }
  return 0;
}
