/* corral: egress allowlist entries, "CIDR[:port[/proto]]" or
 * "NAME[:port[/proto]]" (a domain name the DNS guard resolves), as parsed
 * from the policy and annotations, and the test that one entry is inside
 * another (an annotation may only narrow the profile's allowlist). */
#ifndef CORRAL_EGRESS_H
#define CORRAL_EGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/error.h"

/* Longest domain name in presentation form, without the trailing dot. */
#define EGRESS_NAME_MAX 253

struct egress_rule_s
{
  int family;       /* AF_INET or AF_INET6; 0 for a domain entry */
  uint8_t addr[16]; /* network address, host bits cleared */
  unsigned prefix;  /* 0..32 or 0..128 */
  uint16_t port;    /* 0 = any port */
  uint8_t proto;    /* 0 = any, IPPROTO_TCP, IPPROTO_UDP */
  /* Domain entries: the name, lower case ASCII (A-labels), no trailing
   * dot; with wildcard, the suffix of "*.suffix" (names strictly below). */
  bool wildcard;
  char name[EGRESS_NAME_MAX + 1];
};
typedef struct egress_rule_s egress_rule_t;

/* Allowlist entries a profile may have (see hooks/nft.c). */
#define EGRESS_MAX_RULES 256

/* "10.0.0.0/8", "192.0.2.1:443", "192.0.2.1:53/udp", "[2001:db8::/32]:443/tcp",
 * "2001:db8::1", "api.example.test:443", "*.example.test:443/tcp",
 * "example.test".  A port with no protocol means TCP and UDP.  Names are
 * ASCII (IDNA A-labels, "xn--..."), case-insensitive, a trailing dot
 * ignored; non-ASCII names are refused. */
int egress_rule_parse (const char *s, egress_rule_t *ret, corral_error_t *err);

/* Canonical text of a rule (inverse of parse). */
char *egress_rule_format (const egress_rule_t *r);

/* Is every packet that inner allows also allowed by outer?  A domain entry
 * is within another when every name it matches, the other matches too. */
bool egress_rule_within (const egress_rule_t *inner, const egress_rule_t *outer);

static inline bool
egress_rule_is_name (const egress_rule_t *r)
{
  return r->name[0] != '\0';
}

/* Does the domain entry r match name (presentation form, lower case, no
 * trailing dot, as spec/dns.c produces it)?  Comparison is byte-wise on
 * ASCII: a name with any byte outside letters, digits, '-' and '_' in a
 * label (an escaped one from the wire) matches nothing. */
bool egress_rule_matches_name (const egress_rule_t *r, const char *name);

/* Inbound: a port of the container that a profile publishes.  New
 * connections into the container reach only these (hooks/nft.c). */
struct ingress_port_s
{
  uint16_t port;
  uint8_t proto; /* 0 = TCP and UDP, IPPROTO_TCP, IPPROTO_UDP */
};
typedef struct ingress_port_s ingress_port_t;

#define INGRESS_MAX_PORTS 64

/* "8080/tcp", "53/udp", "8080" (TCP and UDP). */
int ingress_port_parse (const char *s, ingress_port_t *ret, corral_error_t *err);
char *ingress_port_format (const ingress_port_t *p);

#endif
