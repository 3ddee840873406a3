/* corral: running the delegate runtime (runc, runsc). */
#ifndef CORRAL_DELEGATE_H
#define CORRAL_DELEGATE_H

#include "base/error.h"

/* Resolve a runtime name or path to an executable absolute path: a name
 * without '/' is searched in PATH. */
int delegate_resolve (const char *name_or_path, char **ret, corral_error_t *err);

/* Replace corral with the delegate.  Returns only on failure. */
int delegate_exec (char *const *argv, corral_error_t *err);

/* Run the delegate as a child, forwarding termination and job-control
 * signals to it, and return its wait status in *ret_status. */
int delegate_spawn (char *const *argv, int *ret_status, corral_error_t *err);

/* Exit the way the child did: same code, or the same signal. */
_Noreturn void delegate_exit_like (int status);

#endif
