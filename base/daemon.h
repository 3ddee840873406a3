/* corral: starting a long-running helper (the egress logger, the DNS guard,
 * the budget watchdog) from a hook. */
#ifndef CORRAL_DAEMON_H
#define CORRAL_DAEMON_H

#include "base/error.h"

/* Run loop(ctx) in a daemon: its own session, stdio on /dev/null, working
 * directory /, and reparented away from the caller by a double fork.  runc
 * reads a hook's output to EOF and waits for the hook, so the daemon must
 * hold none of the hook's pipes and must not be its child.
 *
 * In the daemon, ready(ctx) (may be NULL) runs first; when it succeeds, the
 * caller is told, and loop(ctx) runs (it ends the process itself; a return is a failure).  daemon_start
 * returns 0 only once the daemon has got that far, so a hook fails closed
 * when its helper could not start.  what names the helper in errors. */
int daemon_start (const char *what, int (*ready) (void *ctx), void (*loop) (void *ctx), void *ctx, corral_error_t *err);

#endif
