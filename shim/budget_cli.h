/* corral: the budget side of the command line: the daily-total check and the
 * watchdog's plan at create, the trip mark at resume, `corral budget` and
 * `corral usage`. */
#ifndef CORRAL_BUDGET_CLI_H
#define CORRAL_BUDGET_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "services/audit.h"
#include "base/error.h"
#include "base/json.h"
#include "spec/policy.h"

/* Refuse a container whose agent has used up a daily total. */
int budget_check_create (const corral_profile_t *p, const char *agent, corral_error_t *err);
/* budget.json in the container's state directory (nothing without budgets). */
int budget_write_plan (const char *state_dir, const corral_profile_t *p, const char *id, const char *agent,
                       const json_t *annotations, corral_error_t *err);

/* Is the container tripped?  1 with the event in *ret_event (may be NULL). */
int budget_tripped (const char *state_dir, char **ret_event);
/* A human's resume: checked, logged, handed to the watchdog through
 * resume.json; the trip mark goes last. */
int budget_prepare_resume (const char *state_dir, const char *id, const char *reason, int64_t grant,
                           corral_error_t *err);

/* `corral budget reset AGENT --reason TEXT` */
int budget_cmd (int argc, char **argv, const audit_config_t *audit, corral_error_t *err);

/* corral budget report: add pushed usage (internal units; only the meter
 * kinds count) to the container's totals and its agent's daily ledger. */
int budget_report (const char *state_dir, const char *id, const int64_t add[BUDGET_N_DAILY], corral_error_t *err);
/* `corral usage [ID|--agent A]`; state_dir of ID when it still runs. */
int budget_cmd_usage (int argc, char **argv, const char *(*state_dir_of) (const char *id), corral_error_t *err);

#endif
