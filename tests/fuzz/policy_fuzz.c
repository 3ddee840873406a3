/* libFuzzer target: policy parsing (strict validation must never crash). */
#include "config.h"

#include "base/util.h"
#include "spec/policy.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_policy corral_policy_t *p = policy_parse ((const char *) data, size, "fuzz", &err);

  if (p)
    free (policy_summary (p));
  else if (err == NULL || err->msg == NULL)
    abort (); /* a refusal always says why */
  return 0;
}
