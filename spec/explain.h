/* corral: rendering of the change log for `corral explain`. */
#ifndef CORRAL_EXPLAIN_H
#define CORRAL_EXPLAIN_H

#include <stdbool.h>

#include "spec/harden.h"

/* One line per change ("[step] what"), or a JSON document with --json. */
char *explain_format (const corral_profile_t *profile, const changes_t *changes, bool json);

#endif
