/* corral: the OCI hooks corral injects into every spec. */
#include "config.h"

#include "base/util.h"
#include "spec/harden.h"

/* The egress filter must exist before the agent's first instruction: a
 * createRuntime hook runs after runc made the namespaces and before the
 * user process starts (runtime-spec config.md#createruntime-hooks). */
#define CREATE_RUNTIME_TIMEOUT 30

static json_t *
hook_entry (const char *path, const char *stage, const char *state_dir)
{
  json_t *h = json_new_object ();
  json_t *args = json_new_array ();

  json_set (h, "path", json_new_string (path));
  json_push (args, json_new_string ("corral"));
  json_push (args, json_new_string ("hook"));
  json_push (args, json_new_string (stage));
  json_push (args, json_new_string ("--state-dir"));
  json_push (args, json_new_string (state_dir));
  json_set (h, "args", args);
  json_set (h, "timeout", json_new_int (CREATE_RUNTIME_TIMEOUT));
  return h;
}

int
harden_hooks (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err)
{
  const char *path = ctx->hook_path ? ctx->hook_path : "/usr/local/bin/corral";
  const char *dir = ctx->state_dir ? ctx->state_dir : "/run/corral/(container)";
  json_t *hooks = json_get (spec, "hooks");
  json_t *list;
  json_t *entry;
  (void) err;

  if (hooks != NULL && !json_is_object (hooks))
    return corral_error_make (err, 0, "hooks: expected an object");
  /* runsc starts the sandbox at create; corral installs the tables itself
   * right after, before start (see shim/main.c). */
  if (str_eq (ctx->profile->runtime, "gvisor"))
    {
      changes_add (changes, "hooks",
                   "egress: corral installs the inet table and a netdev egress table per interface after runsc "
                   "create, before start (%zu allowlist entries)",
                   ctx->profile->n_egress);
      return 0;
    }
  list = json_get (hooks, "createRuntime");
  if (list != NULL && !json_is_array (list))
    return corral_error_make (err, 0, "hooks.createRuntime: expected an array");
  list = json_ensure_array (json_ensure_object (spec, "hooks"), "createRuntime");
  entry = hook_entry (path, "create-runtime", dir);
  if (json_len (list) > 0 && json_equal (json_at (list, 0), entry))
    {
      json_free (entry);
      return 0; /* already hardened */
    }
  /* First, so no engine hook runs in the container's netns before the
   * filter is in place: a copy behind another hook (put in front of it
   * after an earlier run) moves. */
  for (size_t i = json_len (list); i-- > 0;)
    if (json_equal (json_at (list, i), entry))
      json_remove_at (list, i);
  json_insert_at (list, 0, entry);
  changes_add (changes, "hooks",
               "hooks.createRuntime: `corral hook create-runtime` installs the egress table (%s, %zu allowlist "
               "entries) before the agent starts",
               ctx->profile->network ? "default deny" : "offline: loopback only", ctx->profile->n_egress);
  return 0;
}
