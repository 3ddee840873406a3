/* corral: OCI hook entry points (`corral hook STAGE --state-dir DIR`). */
#ifndef CORRAL_HOOK_H
#define CORRAL_HOOK_H

#include <sys/types.h>

#include <stdbool.h>

#include "base/error.h"
#include "services/state.h"

/* Runs a hook stage; the OCI state JSON is read from stdin.  Returns the
 * process exit status; errors are logged. */
int hook_main (int argc, char **argv);

/* `corral daemon KIND --state-dir DIR --pid PID [--wire-device DEV]`: one
 * of a container's long-running helpers (egress-logger, dns-guard,
 * watchdog), started by the hooks through daemon_spawn. */
int hook_daemon_main (int argc, char **argv);

/* The pid in an OCI state document (pure, for unit tests). */
int hook_state_pid (const char *data, size_t len, pid_t *ret, corral_error_t *err);

/* For gVisor, from corral create: in pid's network namespace the inet
 * table, with per_device a netdev table on each interface but loopback
 * (gVisor's own netstack), the denied-packet logger, and the DNS guard when
 * the record has names; then, back in the caller's namespace, the budget
 * watchdog when state_dir has a budget plan. */
int hook_install_egress (pid_t pid, const state_record_t *rec, const char *state_dir, bool per_device,
                         corral_error_t *err);

#endif
