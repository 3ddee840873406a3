/* corral: cgroup limits from the profile, never looser than the engine's. */
#include "config.h"

#include <inttypes.h>

#include "base/util.h"
#include "spec/harden.h"

/* Lower obj[key] to limit (a limit of 0 = the profile sets none; a value
 * of 0 or below in the spec = the engine set none). */
static void
lower (json_t *obj, const char *key, int64_t limit, const char *what, changes_t *changes)
{
  int64_t cur = 0;

  if (limit <= 0)
    return;
  if (json_int64 (json_get (obj, key), &cur) && cur > 0 && cur <= limit)
    return;
  json_set (obj, key, json_new_int (limit));
  changes_add (changes, "resources", "%s: %" PRId64 " (profile limit%s)", what, limit,
               cur > 0 ? ", engine asked for more" : "");
}

int
harden_resources (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err)
{
  const corral_profile_t *p = ctx->profile;
  json_t *res = json_ensure_object (json_ensure_object (spec, "linux"), "resources");
  json_t *cpu;
  int64_t period = 0;
  (void) err;

  if (p->memory > 0)
    lower (json_ensure_object (res, "memory"), "limit", p->memory, "linux.resources.memory.limit", changes);
  if (p->pids > 0)
    lower (json_ensure_object (res, "pids"), "limit", p->pids, "linux.resources.pids.limit", changes);
  if (p->cpu_shares > 0)
    lower (json_ensure_object (res, "cpu"), "shares", (int64_t) p->cpu_shares, "linux.resources.cpu.shares", changes);
  if (p->cpu_quota > 0)
    {
      /* Compare quotas per the same period: scale the profile's quota to
       * the engine's period when the engine set one. */
      cpu = json_ensure_object (res, "cpu");
      /* The kernel takes periods of 1 ms to 1 s; anything else from the
       * engine is replaced, which also keeps the scaling below in range. */
      if (!json_int64 (json_get (cpu, "period"), &period) || period < 1000 || period > 1000000)
        {
          period = (int64_t) p->cpu_period;
          json_set (cpu, "period", json_new_int (period));
        }
      lower (cpu, "quota", p->cpu_quota * period / (int64_t) p->cpu_period, "linux.resources.cpu.quota", changes);
    }
  return 0;
}
