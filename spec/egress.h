/* corral: egress allowlist entries, "CIDR[:port[/proto]]", as parsed from
 * the policy and annotations, and the test that one entry is inside another
 * (an annotation may only narrow the profile's allowlist). */
#ifndef CORRAL_EGRESS_H
#define CORRAL_EGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "shim/error.h"

struct egress_rule_s
{
  int family;       /* AF_INET or AF_INET6 */
  uint8_t addr[16]; /* network address, host bits cleared */
  unsigned prefix;  /* 0..32 or 0..128 */
  uint16_t port;    /* 0 = any port */
  uint8_t proto;    /* 0 = any, IPPROTO_TCP, IPPROTO_UDP */
};
typedef struct egress_rule_s egress_rule_t;

/* Allowlist entries a profile may have (see hooks/nft.c). */
#define EGRESS_MAX_RULES 256

/* "10.0.0.0/8", "192.0.2.1:443", "192.0.2.1:53/udp", "[2001:db8::/32]:443/tcp",
 * "2001:db8::1".  A port with no protocol means TCP and UDP. */
int egress_rule_parse (const char *s, egress_rule_t *ret, corral_error_t *err);

/* Canonical text of a rule (inverse of parse). */
char *egress_rule_format (const egress_rule_t *r);

/* Is every packet that inner allows also allowed by outer? */
bool egress_rule_within (const egress_rule_t *inner, const egress_rule_t *outer);

#endif
