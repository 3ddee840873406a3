/* corral: what runsc does not honour as runc would.  Nothing in the spec
 * changes here; each difference measured with Debian's runsc 0.0~20221219
 * is added to the change log, so `corral explain` lists it and the audit
 * log's create record keeps it. */
#include "config.h"

#include <inttypes.h>

#include "base/util.h"
#include "spec/harden.h"

#define STEP "runsc"

int
harden_runsc_limits (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err)
{
  const json_t *lnx = json_get (spec, "linux");
  int64_t pids = 0;

  (void) err;
  if (!str_eq (ctx->profile->runtime, "gvisor"))
    return 0;
  if (json_int64 (json_get (json_get (json_get (lnx, "resources"), "pids"), "limit"), &pids) && pids > 0)
    changes_add (changes, STEP,
                 "not as runc: pids limit %" PRId64 " applies to the sandbox's host threads (Sentry and Gofer), "
                 "not to the agent's processes; reaching it ends the sandbox instead of failing fork",
                 pids);
  changes_add (changes, STEP,
               "not as runc: the sandbox's /dev holds gVisor's own virtual devices (null, zero, full, random, "
               "urandom, tty, ptmx, fuse, net/tun); linux.devices and the device cgroup rules do not apply");
  if (ctx->profile->network)
    changes_add (changes, STEP,
                 "not as runc: gVisor's netstack bypasses the IP hooks, so egress is filtered by a stateless netdev "
                 "table on each interface (every packet of an allowed flow is matched, ARP allowed) besides the "
                 "inet table");
  /* Measured: a process started by `podman exec` shows
   * Seccomp: 0 and may ptrace, unshare and clone namespaces (the Sentry's
   * own, inside the sandbox). */
  changes_add (changes, STEP,
               "not as runc: the seccomp filter (runsc --oci-seccomp) confines the container's own process and "
               "its children only; processes started by exec run without it, still inside the sandbox");
  changes_add (changes, STEP,
               "honoured: seccomp for the container's process tree, rlimits, user, read-only root, "
               "capabilities, memory and CPU limits (the sandbox's cgroup)");
  return 0;
}
