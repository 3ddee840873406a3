/* corral: the name a client asks for in the first bytes of a TCP flow: the
 * server_name of a TLS ClientHello (RFC 8446 4.1.2, RFC 6066 3) or the host
 * of a plain HTTP/1.x request (RFC 9112 3).  Name-bound egress lets a flow
 * to an address that entered the allowlist through a name go through only
 * if this name is allowlisted and resolved to that address; the judging of
 * bytes is here, pure and bounds-checked against hostile input; the queue
 * and the verdicts are the caller's.  The rules are in docs/egress-names.md. */
#ifndef CORRAL_FLOWNAME_H
#define CORRAL_FLOWNAME_H

#include <stddef.h>
#include <stdint.h>

#include "spec/egress.h"

enum flowname_status
{
  FLOWNAME_NAME,      /* ret_name is the name the client asks for */
  FLOWNAME_NEED_MORE, /* not complete yet: call again with more of the stream */
  FLOWNAME_NO_NAME,   /* complete, without a name: a ClientHello without
                       * server_name, an HTTP request without a host */
  FLOWNAME_ECH,       /* a ClientHello with encrypted_client_hello: the name
                       * asked for is hidden (ret_name: the outer one, for logs) */
  FLOWNAME_TOO_LONG,  /* FLOWNAME_MAX_BYTES without completing */
  FLOWNAME_INVALID,   /* neither a TLS ClientHello nor an HTTP/1.x request,
                       * or malformed, or a name that is no DNS host name */
};

/* The bytes of a stream the judgment may need: a ClientHello of 16 KiB,
 * the most one TLS record carries (RFC 8446 5.1), with 512 bytes for its
 * record headers (5 each: 16 KiB split over up to 102 records), and the
 * same bound on an HTTP request line and header section.  Real clients'
 * ClientHellos are 0.2 to 2 KB (a post-quantum key share is ~1.2 KB);
 * browsers' HTTP headers are a few KB. */
#define FLOWNAME_MAX_BYTES (16 * 1024 + 512)

/* A buffer for ret_name that fits every answer: a host name (at most
 * EGRESS_NAME_MAX) or an IPv6 address in text. */
#define FLOWNAME_NAME_SIZE (EGRESS_NAME_MAX + 1)

/* Judge the bytes a client sent on a TCP flow, buf[0..len) from the start
 * of the stream (everything so far: call again with the longer stream
 * after NEED_MORE).  Bytes past FLOWNAME_MAX_BYTES are never read.  On
 * FLOWNAME_NAME, ret_name holds the name as egress_rule_matches_name takes
 * it: lower case ASCII, no trailing dot; letters, digits, '-' and '_' in
 * labels of 1 to 63 bytes; or an IPv6 address (an HTTP host "[2001:db8::1]",
 * in inet_ntop form, matching no name entry).  On FLOWNAME_ECH it holds the
 * outer server_name or "".  Otherwise ret_name is untouched.  A name that
 * does not fit name_size (use FLOWNAME_NAME_SIZE) is FLOWNAME_INVALID. */
enum flowname_status flowname_parse (const uint8_t *buf, size_t len, char *ret_name, size_t name_size);

/* "name", "need-more", "no-name", "ech", "too-long", "invalid". */
const char *flowname_status_name (enum flowname_status status);

#endif
