/* corral: the DNS guard's wire under gVisor's own netstack.
 *
 * gVisor sends the sandbox's frames through a packet socket on its
 * interface: its 127.0.0.53 is its own loopback, and the kernel's stack in
 * the container's netns never sees a frame it sends.  So the guard listens
 * on DNSGUARD_WIRE_ADDR on one end of a veth pair inside that netns; the
 * netdev table forwards the sandbox's queries to the pair (nft `fwd`), and a
 * tc mirred action on the other end puts the guard's answers into the
 * interface's receive path, where gVisor reads them. */
#ifndef CORRAL_WIRE_H
#define CORRAL_WIRE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "hooks/nft.h"
#include "base/error.h"

/* The pair: queries are forwarded to WIRE_QUERY_DEV and arrive on
 * WIRE_GUARD_DEV, which holds DNSGUARD_WIRE_ADDR. */
#define WIRE_QUERY_DEV "corral-dnsq"
#define WIRE_GUARD_DEV "corral-dnsg"
/* The routing table and rule priority that send the guard's answers back
 * into the pair. */
#define WIRE_ROUTE_TABLE 5353
#define WIRE_RULE_PRIORITY 5353

/* Is name one of the pair's interfaces (not the sandbox's)? */
bool wire_is_own_device (const char *name);

/* After `runsc create`: build the pair, down, in the current network
 * namespace for the sandbox's interface `device`, replacing one a previous
 * container left; ret: what the netdev table needs to forward to it.
 * gVisor takes every interface that is up at `runsc
 * start` (and strips its addresses), so the pair stays down until then. */
int wire_create (const char *device, nft_dns_wire_t *ret, corral_error_t *err);

/* Bring the pair up and route the guard's answers into it, in the current
 * namespace.  Until then the sandbox's queries are dropped (its resolver
 * retries), never sent elsewhere. */
int wire_activate (corral_error_t *err);

/* Around `runsc start`: a watcher process in the container's netns brings
 * the pair up the moment runsc has taken the sandbox's interface over (it
 * strips the interface's addresses then, before the agent runs), or when
 * start ends; then it checks that runsc left the pair alone. */
typedef struct
{
  pid_t pid;
  int report_fd; /* watcher -> caller: its error, if any */
  int done_fd;   /* caller -> watcher: closed when runsc start has ended */
} wire_watch_t;

int wire_watch_start (pid_t container_pid, wire_watch_t *ret, corral_error_t *err);
int wire_watch_finish (wire_watch_t *w, corral_error_t *err);

#endif
