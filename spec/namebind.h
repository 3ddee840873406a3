/* corral: name-bound egress.  Which names resolved to which addresses in
 * one container (the DNS guard's answers, until TTL + grace), and the
 * judgment of a new flow to such an address by the name its client asked
 * for (TLS SNI or HTTP Host): allowed only if that name is in the
 * allowlist for the flow's port and resolved to the flow's address.  An
 * address-level allow would open every site a shared front end serves. */
#ifndef CORRAL_NAMEBIND_H
#define CORRAL_NAMEBIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spec/egress.h"

/* Bindings kept; past it, the one expiring first is replaced (it would be
 * refused soonest anyway). */
#define NAMEBIND_MAX 8192

struct namebind_entry_s
{
  char name[EGRESS_NAME_MAX + 1];
  int family; /* AF_INET or AF_INET6; IPv4-mapped IPv6 is kept as AF_INET */
  uint8_t addr[16];
  uint64_t expires_ms; /* CLOCK_MONOTONIC */
};
typedef struct namebind_entry_s namebind_entry_t;

struct namebind_s
{
  namebind_entry_t *e;
  size_t n;
};
typedef struct namebind_s namebind_t;

void namebind_release (namebind_t *t);

/* name (as the guard compared it: lower case, no trailing dot) resolved to
 * addr until expires_ms; a later answer moves the expiry. */
void namebind_add (namebind_t *t, const char *name, int family, const uint8_t *addr, uint64_t expires_ms);

enum namebind_verdict
{
  NAMEBIND_ALLOW,
  NAMEBIND_NOT_ALLOWED, /* the name is in no allowlist entry for this port */
  NAMEBIND_NOT_BOUND,   /* allowed, but it did not resolve to this address here (or expired) */
};

/* A new flow to addr, proto/port, whose client asked for name. */
enum namebind_verdict namebind_check (const namebind_t *t, const egress_rule_t *rules, size_t n_rules, const char *name,
                                      int family, const uint8_t *addr, uint8_t proto, uint16_t port, uint64_t now_ms);

/* The names bound to addr at now_ms, comma-separated (the denial record
 * names them): "" when none; at most max names. */
char *namebind_names_for (const namebind_t *t, int family, const uint8_t *addr, uint64_t now_ms, size_t max);

const char *namebind_verdict_name (enum namebind_verdict v);

#endif
