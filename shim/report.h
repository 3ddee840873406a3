/* corral: what corral knows about its containers, for people:
 * `corral ps`, `corral inspect ID` and `corral checklist ID|--bundle DIR`. */
#ifndef CORRAL_REPORT_H
#define CORRAL_REPORT_H

#include <stdbool.h>

#include "base/error.h"
#include "base/json.h"
#include "spec/policy.h"

/* Every container with a state record under base, as a JSON array of
 * {id, root, runtime, profile, bundle, agent, egress}. */
json_t *report_list (const char *base, corral_error_t *err);

/* The pre-deployment checklist for an effective (hardened or not) spec,
 * as a JSON array of {question, ok, evidence}.  profile may be NULL (a
 * container corral did not create). */
json_t *report_checklist (const json_t *spec, const corral_profile_t *profile, const char *runtime);

/* Render a list or a checklist as text. */
char *report_list_text (const json_t *list);
char *report_checklist_text (const json_t *checklist);

/* What a container used, read just before its delete: CPU time (ms) and
 * memory peak from its cgroup (cgroupfs paths, v1 or v2), and the budget
 * watchdog's usage record if it had one.  Missing parts are left out. */
json_t *report_final_usage (const char *bundle, const char *state_dir);

/* The effective profile (after annotations) as JSON, for inspect. */
json_t *report_profile (const corral_profile_t *p);

#endif
