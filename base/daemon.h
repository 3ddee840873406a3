/* corral: the long-running helpers of a container (the egress logger, the
 * DNS guard, the budget watchdog) run as `corral daemon KIND …`, started
 * from a hook. */
#ifndef CORRAL_DAEMON_H
#define CORRAL_DAEMON_H

#include "base/error.h"

/* The daemon's end of the readiness pipe. */
#define DAEMON_READY_FD 3

/* Run corral (this very binary) with args (args[0] is the first argument
 * after the program name; NULL-terminated) as a daemon: its own session,
 * stdio on /dev/null, working directory /, no fd of the caller's but
 * DAEMON_READY_FD, and reparented away from the caller by a double fork.
 * runc reads a hook's output to EOF and waits for the hook, so the daemon
 * must hold none of the hook's pipes and must not be its child.
 *
 * Returns 0 once the daemon has said it is ready (daemon_ready), so a hook
 * fails closed when its helper cannot start; the daemon's own error
 * otherwise.  what names the helper in errors. */
int daemon_spawn (const char *what, char *const args[], corral_error_t *err);

/* In the daemon: tell the caller it is ready (error NULL) or why it is
 * not, and close the pipe. */
void daemon_ready (const corral_error_t error);

#endif
