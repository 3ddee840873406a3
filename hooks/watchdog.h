/* corral: the per-container budget watchdog, started by the poststart hook:
 * a detached process bound to the container's init by pidfd that polls the
 * cgroup's CPU usage, the wall clock and the table's budget objects, and
 * kills or freezes the container when a budget runs out. */
#ifndef CORRAL_WATCHDOG_H
#define CORRAL_WATCHDOG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

#define WATCHDOG_PLAN "budget.json"
#define WATCHDOG_PID "watchdog.pid"
#define WATCHDOG_TRIPPED "tripped.json"
#define WATCHDOG_RESUME "resume.json"
#define WATCHDOG_USAGE "usage.json"
/* What `corral budget report` pushed: totals in internal units. */
#define WATCHDOG_REPORTED "reported.json"
#define BUDGET_LOG_NAME "budget.log"

/* Start the watchdog for the container whose init is pid; returns once it
 * runs detached (or fails, and then the hook fails the container). */
int watchdog_start (const char *state_dir, pid_t pid, corral_error_t *err);
/* `corral daemon watchdog`: set up, say so on DAEMON_READY_FD, and watch
 * until the container ends.  Returns (an exit status) only on failure. */
int watchdog_daemon (const char *state_dir, pid_t pid);

/* Run argv (alert commands, the delegate) with data on stdin and /dev/null
 * elsewhere, a fixed PATH (and CORRAL_STATE_DIR=state_base with
 * corral_env); killed after timeout_ms.  Returns the wait status, or -1. */
int watchdog_run (char *const argv[], const char *data, int timeout_ms, bool corral_env, const char *state_base);

/* ---- pure, for unit tests ---- */

/* The cgroup path of a controller in /proc/PID/cgroup text: a v1 line
 * "N:a,b:/path" naming controller, or with controller NULL the v2 line
 * "0::/path". */
int watchdog_cgroup_path (const char *proc_cgroup, const char *controller, char **ret);
/* The mount point of the v1 hierarchy holding controller (NULL: the
 * cgroup2 mount) in /proc/self/mountinfo text. */
int watchdog_cgroup_mount (const char *mountinfo, const char *controller, char **ret);
/* usage_usec of a v2 cpu.stat. */
int watchdog_parse_cpu_stat (const char *text, uint64_t *ret_usec);
/* A file holding one unsigned number (cpuacct.usage, memory.peak…). */
int watchdog_parse_u64 (const char *text, uint64_t *ret);

#endif
