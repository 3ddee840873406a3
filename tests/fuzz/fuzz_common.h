/* Shared setup of the fuzz targets: the shipped policy, parsed once. */
#ifndef CORRAL_FUZZ_COMMON_H
#define CORRAL_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#include "base/fs.h"
#include "spec/policy.h"

#ifndef CORRAL_SRCDIR
#define CORRAL_SRCDIR "."
#endif

static inline const corral_policy_t *
fuzz_policy (void)
{
  static corral_policy_t *policy;
  corral_error_t err = NULL;

  if (policy == NULL)
    {
      policy = policy_load (CORRAL_SRCDIR "/configs/policy.json", &err);
      if (policy == NULL)
        {
          fprintf (stderr, "fuzz: %s\n", err->msg);
          abort ();
        }
    }
  return policy;
}

#endif
