/* corral: the commands of the CLI and what they share.  main.c holds the
 * table that maps each command name to its function, its usage text and
 * its --help. */
#ifndef CORRAL_COMMANDS_H
#define CORRAL_COMMANDS_H

#include <stdbool.h>
#include <sys/types.h>

#include "base/error.h"
#include "base/json.h"
#include "services/state.h"
#include "shim/cli.h"
#include "spec/harden.h"
#include "spec/policy.h"

/* One command.  Runtime commands are runc's: corral checks some first and
 * hands every one to the container's delegate.  Own commands are corral's
 * and have a synopsis for the usage text and `corral COMMAND --help`. */
struct command_s
{
  const char *name;
  int (*run) (const cli_t *cli); /* returns the exit status */
  bool runtime;                  /* one of runc's commands */
  const char *synopsis;          /* corral's own usage; NULL: runc's only */
  const char *what;
  /* For names that are both (ps): is this invocation corral's own?  When
   * it is not, the command goes to the delegate. */
  bool (*owns) (const cli_t *cli);
};
typedef struct command_s command_t;

/* The table, in usage order, ended by an entry whose name is NULL. */
extern const command_t commands[];

/* The commands (shim/create.c, passthrough.c, decide.c, inspect.c,
 * audit_cli.c; `hook` is hooks/hook.c's). */
int cmd_create (const cli_t *cli); /* create and run */
int cmd_delete (const cli_t *cli);
int cmd_passthrough (const cli_t *cli); /* every other runtime command */
int cmd_resume (const cli_t *cli);
int cmd_approve (const cli_t *cli);
int cmd_deny (const cli_t *cli);
int cmd_budget (const cli_t *cli);
int cmd_usage (const cli_t *cli);
int cmd_explain (const cli_t *cli);
int cmd_policy (const cli_t *cli);
int cmd_egress (const cli_t *cli);
int cmd_ps (const cli_t *cli);
bool cmd_ps_owns (const cli_t *cli);
int cmd_inspect (const cli_t *cli);
int cmd_checklist (const cli_t *cli);
int cmd_audit (const cli_t *cli);
int cmd_metrics (const cli_t *cli); /* shim/metrics.c */

/* Shared by the commands (shim/commands.c). */

/* Where container records live: /run/corral, or $CORRAL_STATE_DIR (tests). */
const char *shim_state_base (void);
/* --policy, else $CORRAL_POLICY, else the installed policy. */
const char *shim_policy_path (const cli_t *cli);
/* Log the error in runc's format, release it, and return exit status 1. */
int shim_fail (corral_error_t *err);
/* Load policy, pick and tighten the profile for spec. */
corral_profile_t *shim_profile_for_spec (const cli_t *cli, const corral_policy_t *policy, const json_t *spec,
                                         corral_error_t *err);
/* Harden spec in place with the host's facts; state_dir is where the
 * injected hooks find their plan (NULL for explain). */
int shim_harden_bundle (const corral_profile_t *profile, const char *engine_root, const char *state_dir, int bundle_fd,
                        json_t *spec, changes_t *changes, corral_error_t *err);
/* argv for a command to the container's recorded delegate. */
char **shim_record_argv (const cli_t *cli, const state_record_t *rec);
/* The same invocation with another command on the same container. */
cli_t shim_cli_with_command (const cli_t *cli, const char *command, char **args, int n_args);
/* Run a command on the container quietly; its stdout into *ret_out (may
 * be NULL), its wait status into *ret_status. */
int shim_run_quietly (const cli_t *q, const state_record_t *rec, char **ret_out, int *ret_status, corral_error_t *err);
/* The pid of a created or running container, from its delegate. */
int shim_container_pid (const cli_t *cli, const state_record_t *rec, pid_t *ret, corral_error_t *err);
/* The record of container id; one corral does not manage is an error. */
int shim_read_record (const cli_t *cli, const char *id, state_record_t *rec, corral_error_t *err);
/* A container's spec (its bundle's config.json, as hardened) and its
 * profile, tightened by the spec's annotations as at create. */
int shim_container_spec (const cli_t *cli, const state_record_t *rec, json_t **ret_spec, corral_profile_t **ret_profile,
                         corral_error_t *err);
/* The delegate for an existing container, or the default runtime. */
int shim_lookup_delegate (const cli_t *cli, state_record_t *rec, corral_error_t *err);
/* An audit record about an existing container, where its record says. */
void shim_audit_event (const state_record_t *rec, const char *event, const json_t *fields);
/* Remove --json from argv (updating *argc); was it there? */
bool shim_take_json_flag (int *argc, char **argv);
/* Print doc as JSON, or as text made by text(); consumes doc. */
int shim_print_json_or_text (json_t *doc, bool json, char *(*text) (const json_t *) );

#endif
