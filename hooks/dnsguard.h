/* corral: the per-container DNS guard.  It serves DNS on 127.0.0.53:53
 * (UDP and TCP; DNSGUARD_WIRE_ADDR under gVisor's own netstack) inside the
 * container's network namespace, forwards names the
 * allowlist has to the profile's upstream through a socket in corral's own
 * namespace, and adds every address of an allowed answer to the container's
 * nft sets before it replies. */
#ifndef CORRAL_DNSGUARD_H
#define CORRAL_DNSGUARD_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "base/error.h"
#include "services/state.h"

#define DNSGUARD_ADDR "127.0.0.53"
/* Under gVisor's own netstack, whose 127.0.0.53 is its own loopback, the
 * guard listens on the wire side (hooks/wire.h) at a link-local address
 * nothing else uses: a frame to it never leaves the container's netns. */
#define DNSGUARD_WIRE_ADDR "169.254.53.53"
#define DNSGUARD_PORT 53
#define DNS_LOG_NAME "dns.log"
/* In the container's state directory: what the guard saw, for `corral
 * egress show`; and the file the container's /etc/resolv.conf is. */
#define DNSGUARD_STATUS_NAME "dns-status.json"
#define DNSGUARD_RESOLV_NAME "resolv.conf"
/* A human's decision on an ask name: <state dir>/ask-<name>.json,
 * {"decision": "approve"|"deny", "by": LOGIN, "reason": TEXT}. */
#define DNSGUARD_ASK_PREFIX "ask-"

/* Does the record's allowlist hold domain names (so a guard is needed)? */
bool dnsguard_needed (const state_record_t *rec);

/* Does the guard serve the container on the wire side (gVisor's own
 * netstack) rather than on 127.0.0.53? */
bool dnsguard_on_wire (const state_record_t *rec);

/* The address the guard serves the container on. */
const char *dnsguard_address (const state_record_t *rec);

/* Start the guard (`corral daemon dns-guard`) for the container whose init
 * is container_pid, from corral's own network namespace (the guard's
 * upstream socket is opened there, its listeners in the container's).
 * wire_device: under gVisor's own netstack, the sandbox's interface, whose
 * netdev table the guard fills (its wire must be in place); NULL otherwise
 * (table inet corral).  Returns once the guard listens; on error nothing is
 * left running. */
int dnsguard_start (const char *state_dir, pid_t container_pid, const char *wire_device, corral_error_t *err);
/* `corral daemon dns-guard`: set up, say so on DAEMON_READY_FD, and serve
 * until the container ends.  Returns (an exit status) only on failure. */
int dnsguard_daemon (const char *state_dir, pid_t container_pid, const char *wire_device);

/* Write <state_dir>/resolv.conf, which the container sees as its
 * /etc/resolv.conf (spec/harden_dns.c): the guard's address. */
int dnsguard_write_resolv_conf (const char *state_dir, const state_record_t *rec, corral_error_t *err);

/* A human's decision on NAME (it must match the container's ask list),
 * for the guard to pick up; recorded in the audit log first.  A decision
 * stands for the container's life: a second one is refused. */
int dnsguard_decide (const char *state_dir, const state_record_t *rec, const char *name, bool approve,
                     const char *reason, corral_error_t *err);

/* Print the status file of a container's guard (names resolved, denied
 * names with counts); 0 if there is none. */
int dnsguard_show_status (FILE *out, const char *state_dir, corral_error_t *err);

#endif
