/* corral: the name check of name-bound egress, in the DNS guard.  The
 * container's table holds each new TCP flow to an address of the guard's
 * sets at its first payload and queues its packets (NFQUEUE, hooks/nft.h);
 * this reads them in the container's network namespace, reassembles the
 * first bytes of each flow, and lets the flow go on only if its TLS SNI or
 * HTTP Host names an allowed name that resolved to that address here
 * (spec/namebind.h, spec/flowname.h).  Others are reset and logged. */
#ifndef CORRAL_FLOWCHECK_H
#define CORRAL_FLOWCHECK_H

#include <stdint.h>

#include "base/error.h"
#include "services/state.h"
#include "spec/egress.h"

typedef struct flowcheck_s flowcheck_t;

/* Bind the name-check queue of the caller's network namespace.  rec
 * (whose audit log gets the denials) is borrowed; log_fd is the egress
 * log.  Returns NULL with err set on failure. */
flowcheck_t *flowcheck_open (const state_record_t *rec, int log_fd, corral_error_t *err);
void flowcheck_close (flowcheck_t *fc);

/* The fd to poll for queued packets. */
int flowcheck_fd (const flowcheck_t *fc);

/* name resolved to addr in this container until expires_ms (monotonic). */
void flowcheck_bind (flowcheck_t *fc, const char *name, int family, const uint8_t *addr, uint64_t expires_ms);

/* Judge what is queued (without blocking) against the allowlist as it is
 * now (a human may have approved names since).  Returns -1 when the queue
 * socket failed for good (then nothing more is judged: queued flows stay
 * held, never let through). */
int flowcheck_read (flowcheck_t *fc, const egress_rule_t *rules, size_t n_rules);

#endif
