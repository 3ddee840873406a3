/* corral: DNS messages (RFC 1035) as the DNS guard needs them: header, the
 * question, the answer section (A, AAAA, CNAME, TTLs), the EDNS0 payload
 * size, and error replies built from a query.  Pure: no I/O, and every read
 * is bounds-checked against the message length. */
#ifndef CORRAL_DNS_H
#define CORRAL_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/error.h"

#define DNS_HEADER_LEN 12
#define DNS_UDP_MAX 512 /* without EDNS0 (RFC 1035 4.2.1) */
#define DNS_MSG_MAX 65535
/* A name in presentation form: 255 wire bytes, each at most "\DDD". */
#define DNS_NAME_TEXT_MAX 1024
#define DNS_DEFAULT_PORT 53

enum
{
  DNS_TYPE_A = 1,
  DNS_TYPE_CNAME = 5,
  DNS_TYPE_AAAA = 28,
  DNS_TYPE_OPT = 41,
  DNS_TYPE_SVCB = 64,
  DNS_TYPE_HTTPS = 65,
  DNS_CLASS_IN = 1,
};

enum
{
  DNS_RCODE_NOERROR = 0,
  DNS_RCODE_FORMERR = 1,
  DNS_RCODE_SERVFAIL = 2,
  DNS_RCODE_NXDOMAIN = 3,
  DNS_RCODE_NOTIMP = 4,
  DNS_RCODE_REFUSED = 5,
};

#define DNS_FLAG_QR 0x8000
#define DNS_FLAG_TC 0x0200
#define DNS_FLAG_RD 0x0100
#define DNS_FLAG_RA 0x0080
#define DNS_OPCODE(flags) (((flags) >> 11) & 0xf)
#define DNS_RCODE(flags) ((flags) &0xf)

struct dns_header_s
{
  uint16_t id, flags, qdcount, ancount, nscount, arcount;
};
typedef struct dns_header_s dns_header_t;

struct dns_question_s
{
  dns_header_t hdr;
  /* Lower case, no trailing dot ("." for the root); bytes other than
   * letters, digits, '-' and '_' in a label are written "\DDD". */
  char name[DNS_NAME_TEXT_MAX];
  /* Every label is letters, digits, '-' and '_': only such a name can
   * match an allowlist entry. */
  bool hostname;
  uint16_t qtype, qclass;
  size_t end;             /* offset just past the question */
  uint16_t edns_udp_size; /* from an OPT record in the query; 0 if none */
};
typedef struct dns_question_s dns_question_t;

struct dns_rr_s
{
  char *owner; /* presentation form, as dns_question_t.name */
  uint16_t type, rclass;
  uint32_t ttl;
  uint8_t addr[16]; /* A: 4 bytes, AAAA: 16 */
  char *target;     /* CNAME */
};
typedef struct dns_rr_s dns_rr_t;

struct dns_answer_s
{
  dns_header_t hdr;
  dns_rr_t *rrs; /* the answer section's IN records of type A, AAAA, CNAME */
  size_t n;
};
typedef struct dns_answer_s dns_answer_t;

/* The addresses an answer gives for a name, CNAMEs followed. */
struct dns_address_s
{
  int family; /* AF_INET, AF_INET6 */
  uint8_t addr[16];
  uint32_t ttl; /* the smallest TTL along the chain of records */
};
typedef struct dns_address_s dns_address_t;

struct dns_chain_s
{
  char **names; /* the queried name, then each CNAME target reached */
  size_t n_names;
  dns_address_t *addrs;
  size_t n_addrs;
};
typedef struct dns_chain_s dns_chain_t;

/* Each returns 0, or -1 for a malformed message (nothing is read out of
 * bounds; compression pointers must point backwards, so they never loop). */
int dns_parse_header (const uint8_t *msg, size_t len, dns_header_t *ret);
/* The name at off; *ret_next is the offset just past it where it starts. */
int dns_read_name (const uint8_t *msg, size_t len, size_t off, char *out, size_t out_size, bool *ret_hostname,
                   size_t *ret_next);
/* A message with exactly one question (a query, or a reply to one); the
 * additional section is searched for an OPT record (EDNS0). */
int dns_parse_question (const uint8_t *msg, size_t len, dns_question_t *ret);
/* A response: the answer section read, the other sections checked whole. */
int dns_parse_answer (const uint8_t *msg, size_t len, dns_answer_t *ret);
void dns_answer_release (dns_answer_t *a);

/* Follow qname through the answer's CNAMEs (at most 16) and collect the A
 * and AAAA records of every name on the way.  Records for names off the
 * chain are ignored: an upstream cannot slip in addresses of other names. */
void dns_answer_chain (const dns_answer_t *a, const char *qname, dns_chain_t *ret);
void dns_chain_release (dns_chain_t *c);

/* A reply to query (parsed as q) with rcode and no records: header and
 * question copied, QR and RA set.  Returns its length, or 0 if out_size is
 * too small. */
size_t dns_build_error (const uint8_t *query, const dns_question_t *q, int rcode, uint8_t *out, size_t out_size);

/* "192.0.2.53", "192.0.2.53:5353", "[2001:db8::53]:53", "2001:db8::53". */
int dns_parse_server (const char *s, struct sockaddr_storage *ret, socklen_t *ret_len, corral_error_t *err);

/* The first `nameserver` of a resolv.conf(5) text that dns_parse_server
 * takes (a link-local address with a %scope is skipped), copied into *ret.
 * Returns 1, or 0 when there is none. */
int dns_resolv_conf_nameserver (const char *text, size_t len, char **ret);

/* Names of record types for logs ("A", "AAAA", ... or "TYPE65"). */
const char *dns_type_name (uint16_t type, char buf[16]);

#endif
