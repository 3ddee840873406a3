/* libFuzzer target: config.json load -> harden -> save, with the round-trip
 * property save(load(x)) parses and equals x, under every profile of the
 * shipped policy. */
#include "config.h"

#include <stdio.h>

#include "base/util.h"
#include "spec/bundle.h"
#include "spec/harden.h"
#include "spec/policy.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const corral_policy_t *policy = fuzz_policy ();
  cleanup_error corral_error_t err = NULL;
  cleanup_json json_t *spec = spec_parse ((const char *) data, size, "fuzz", &err);
  cleanup_free char *saved = NULL;

  if (spec == NULL)
    return 0;

  /* Round trip before any change. */
  saved = json_serialize (spec, false);
  {
    cleanup_error corral_error_t err2 = NULL;
    cleanup_json json_t *again = spec_parse (saved, strlen (saved), "fuzz", &err2);
    if (again == NULL || !json_equal (spec, again))
      abort ();
  }

  for (size_t i = 0; i < policy->n_profiles; i++)
    {
      cleanup_error corral_error_t e = NULL;
      cleanup_json json_t *copy = json_deep_copy (spec);
      cleanup_profile corral_profile_t *p
          = profile_with_annotations (&policy->profiles[i], json_get (copy, "annotations"), &e);
      harden_ctx_t ctx = { .seccomp_arches = harden_native_arches () };
      changes_t changes = { 0 };

      if (p == NULL)
        continue;
      ctx.profile = p;
      if (harden_spec (copy, &ctx, &changes, &e) == 0)
        {
          cleanup_free char *out = json_serialize (copy, false);
          cleanup_error corral_error_t e2 = NULL;
          cleanup_json json_t *back = spec_parse (out, strlen (out), "fuzz", &e2);
          /* What corral writes must parse back to the same tree. */
          if (back == NULL || !json_equal (copy, back))
            abort ();
        }
      changes_release (&changes);
    }
  return 0;
}
