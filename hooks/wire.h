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

#include "shim/error.h"

/* The pair: queries are forwarded to WIRE_QUERY_DEV and arrive on
 * WIRE_GUARD_DEV, which holds DNSGUARD_WIRE_ADDR. */
#define WIRE_QUERY_DEV "corral-dnsq"
#define WIRE_GUARD_DEV "corral-dnsg"
/* The routing table and rule priority that send the guard's answers back
 * into the pair. */
#define WIRE_ROUTE_TABLE 5353
#define WIRE_RULE_PRIORITY 5353

typedef struct
{
  uint32_t query_ifindex; /* WIRE_QUERY_DEV, the nft fwd target */
  uint8_t sandbox_mac[6]; /* the frames' destination: the sandbox's own */
} wire_t;

/* Is name one of the pair's interfaces (not the sandbox's)? */
bool wire_is_own_device (const char *name);

/* After `runsc create`: build the pair, down, in the current network
 * namespace for the sandbox's interface `device`, replacing one a previous
 * container left.  gVisor takes every interface that is up at `runsc
 * start` (and strips its addresses), so the pair stays down until then. */
int wire_create (const char *device, wire_t *ret, corral_error_t *err);

/* After `runsc start`, in the same namespace: bring the pair up and route
 * the guard's answers into it.  Until then the sandbox's queries are
 * dropped (its resolver retries), never sent elsewhere. */
int wire_activate (corral_error_t *err);

#endif
