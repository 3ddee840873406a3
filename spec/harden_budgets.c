/* corral: the poststart hook that starts a container's budget watchdog. */
#include "config.h"

#include <inttypes.h>

#include "base/util.h"
#include "spec/harden.h"

#define POSTSTART_TIMEOUT 30

static json_t *
poststart_entry (const char *path, const char *state_dir)
{
  json_t *h = json_new_object ();
  json_t *args = json_new_array ();

  json_set (h, "path", json_new_string (path));
  json_push (args, json_new_string ("corral"));
  json_push (args, json_new_string ("hook"));
  json_push (args, json_new_string ("poststart"));
  json_push (args, json_new_string ("--state-dir"));
  json_push (args, json_new_string (state_dir));
  json_set (h, "args", args);
  json_set (h, "timeout", json_new_int (POSTSTART_TIMEOUT));
  return h;
}

int
harden_budgets (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err)
{
  const corral_budgets_t *b = &ctx->profile->budgets;
  const char *path = ctx->hook_path ? ctx->hook_path : "/usr/local/bin/corral";
  const char *dir = ctx->state_dir ? ctx->state_dir : "/run/corral/(container)";
  json_t *hooks = json_get (spec, "hooks");
  json_t *list, *entry;

  if (!budget_any (b))
    return 0;
  /* runsc runs poststart hooks best effort (a failing one does not stop the
   * container): there corral starts the watchdog itself, after runsc create,
   * with the egress tables (which, for gVisor's own netstack, count bytes
   * and connections in the netdev table on its interface). */
  if (str_eq (ctx->profile->runtime, "gvisor"))
    {
      changes_add (changes, "budgets",
                   "the budget watchdog is started by corral after runsc create (every %" PRId64 " ms, action %s%s)",
                   b->interval_ms, budget_action_name (b->action), b->alert ? ", with an alert command" : "");
      return 0;
    }
  if (hooks != NULL && !json_is_object (hooks))
    return corral_error_make (err, 0, "hooks: expected an object");
  list = json_get (hooks, "poststart");
  if (list != NULL && !json_is_array (list))
    return corral_error_make (err, 0, "hooks.poststart: expected an array");
  list = json_ensure_array (json_ensure_object (spec, "hooks"), "poststart");
  entry = poststart_entry (path, dir);
  /* First: runc stops at a failing poststart hook and kills the container,
   * so the watchdog must not depend on an engine hook having worked. */
  for (size_t i = json_len (list); i-- > 0;)
    if (json_equal (json_at (list, i), entry))
      json_remove_at (list, i);
  json_insert_at (list, 0, entry);
  changes_add (changes, "budgets",
               "hooks.poststart: `corral hook poststart` starts the budget watchdog (every %" PRId64
               " ms, action %s%s)",
               b->interval_ms, budget_action_name (b->action), b->alert ? ", with an alert command" : "");
  for (int k = 0; k < BUDGET_N; k++)
    if (b->limit[k] > 0)
      changes_add (changes, "budgets", "%s: %" PRId64, budget_name ((enum budget_kind) k), b->limit[k]);
  for (int k = 0; k < BUDGET_N_DAILY; k++)
    if (b->daily[k] > 0)
      changes_add (changes, "budgets", "daily %s per agent: %" PRId64, budget_name ((enum budget_kind) k), b->daily[k]);
  return 0;
}
