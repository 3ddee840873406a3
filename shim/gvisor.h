/* corral: handing containers to gVisor's runsc.  runsc takes its own global
 * flags (its own --root, platform, network, seccomp), rejects some of runc's
 * command flags, and on this kernel needs /proc/sys/net hidden before it
 * will run a networked sandbox (docs/facts.md). */
#ifndef CORRAL_GVISOR_H
#define CORRAL_GVISOR_H

#include <stdbool.h>

#include "shim/cli.h"
#include "base/error.h"

/* The flags runsc gets on every command for one container (kept in the
 * state record): --root, --platform, --network, --oci-seccomp. */
char **gvisor_fixed_args (const char *runsc_root, const char *platform, const char *network);

/* runsc's argv: path, fixed flags, this invocation's log flags, the command
 * and its arguments with what runsc does not accept removed (exec --tty:
 * runsc reads the terminal setting from the process file). */
char **gvisor_argv (const cli_t *cli, const char *path, char *const *fixed);

/* Commands where runsc checks that it is not in the root network namespace. */
bool gvisor_command_checks_netns (const char *command);

/* If this kernel shows /proc/sys/net/core/rmem_default in every network
 * namespace (runsc then mistakes any netns for the host's), move the caller
 * into a private mount namespace with a tmpfs over /proc/sys/net.  Only for
 * a process about to exec runsc for a container whose netns corral checked
 * is not the host's. */
int gvisor_hide_proc_sys_net (corral_error_t *err);

#endif
