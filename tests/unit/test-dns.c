/* corral: unit tests of the DNS guard's pure parts: the DNS message parser
 * (spec/dns.c) on packets captured from dig and dnsmasq
 * (tests/fixtures/dns/capture.py) and on truncated, looping and garbage
 * ones; domain-name allowlist entries (spec/egress.c); the profile's "dns"
 * section and its annotation narrowing (spec/policy.c); and the
 * resolv.conf hardening step (spec/harden_dns.c). */
#include "config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>

#include "base/fs.h"
#include "base/util.h"
#include "spec/dns.h"
#include "spec/egress.h"
#include "spec/harden.h"
#include "spec/policy.h"
#include "tests/unit/testlib.h"

/* ---- fixtures ---- */

/* A captured packet as an exact-size heap copy: ASan catches any read past
 * its end. */
static uint8_t *
load_hex (const char *name, size_t *ret_len)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_free char *path = NULL;
  cleanup_free char *text = NULL;
  cleanup_close int fd = -1;
  uint8_t *out;
  size_t len, n = 0;

  xasprintf (&path, "%s/tests/fixtures/dns/%s.hex", tap_srcdir (), name);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fd_read_all (fd, 1 << 20, path, &text, &len, &err) < 0)
    bail_out ("cannot read fixture %s", path);
  out = xmalloc (len / 2 + 1);
  for (size_t i = 0; i + 1 < len && text[i] != '\n'; i += 2)
    {
      unsigned v;
      if (sscanf (text + i, "%2x", &v) != 1)
        bail_out ("fixture %s: not hex at %zu", path, i);
      out[n++] = (uint8_t) v;
    }
  *ret_len = n;
  return out;
}

static uint8_t *
copy_exact (const uint8_t *p, size_t n)
{
  uint8_t *c = xmalloc (n ? n : 1);
  if (n)
    memcpy (c, p, n);
  return c;
}

static const char *
addr_text (const dns_address_t *a, char buf[INET6_ADDRSTRLEN])
{
  return inet_ntop (a->family, a->addr, buf, INET6_ADDRSTRLEN);
}

/* ---- captured queries ---- */

static void
query_is (const char *fixture, const char *name, uint16_t qtype, uint16_t edns)
{
  size_t len;
  cleanup_free uint8_t *q = load_hex (fixture, &len);
  dns_question_t dq;

  if (!ok (dns_parse_question (q, len, &dq) == 0, "%s: parses", fixture))
    return;
  is_str (dq.name, name, "%s: name", fixture);
  ok (dq.hostname, "%s: the name is a host name", fixture);
  is_int (dq.qtype, qtype, "%s: type", fixture);
  is_int (dq.qclass, DNS_CLASS_IN, "%s: class IN", fixture);
  is_int (dq.edns_udp_size, edns, "%s: EDNS0 payload size", fixture);
  ok (!(dq.hdr.flags & DNS_FLAG_QR), "%s: QR clear", fixture);
  is_int ((long long) dq.end, (long long) (DNS_HEADER_LEN + strlen (name) + 2 + 4), "%s: question ends", fixture);
}

static void
test_queries (void)
{
  query_is ("query-a", "api.allowed.test", DNS_TYPE_A, 1232);
  query_is ("query-a-noedns", "api.allowed.test", DNS_TYPE_A, 0);
  query_is ("query-aaaa", "v6.allowed.test", DNS_TYPE_AAAA, 1232);
  query_is ("query-many-edns", "many.allowed.test", DNS_TYPE_A, 4096);
  /* dig sends the name as typed; the guard compares it folded. */
  query_is ("query-mixed-case", "api.allowed.test", DNS_TYPE_A, 1232);
}

/* ---- captured answers ---- */

/* A captured reply, parsed: bails out if it does not parse (the table
 * below tests that it does). */
static void
load_answer (const char *fixture, dns_answer_t *a)
{
  size_t len;
  cleanup_free uint8_t *r = load_hex (fixture, &len);

  if (dns_parse_answer (r, len, a) < 0)
    bail_out ("%s does not parse", fixture);
}

static void
test_answers (void)
{
  /* What every captured reply is checked for: its rcode, TC flag and size,
   * its records, and the addresses it gives for the name asked (from
   * min_addrs to max_addrs; the first one, if first is not NULL). */
  static const struct
  {
    const char *fixture, *name;
    int rcode;
    bool truncated;
    bool over_udp_max;
    size_t n_records, min_addrs, max_addrs;
    int family;
    const char *first;
  } replies[] = {
    { "reply-a", "api.allowed.test", 0, false, false, 1, 1, 1, AF_INET, "10.88.0.1" },
    { "reply-aaaa", "v6.allowed.test", 0, false, false, 1, 1, 1, AF_INET6, "2001:db8::53" },
    /* Compressed names: the CNAME and the A record of its target. */
    { "reply-cname", "cdn.allowed.test", 0, false, false, 2, 1, 1, AF_INET, "10.88.0.1" },
    { "reply-many-edns", "many.allowed.test", 0, false, true, 40, 40, 40, AF_INET, NULL },
    /* Some of the addresses, as many as fit 512 bytes. */
    { "reply-many-truncated", "many.allowed.test", 0, true, false, 29, 1, 39, AF_INET, NULL },
    { "reply-refused", "api.allowed.test", DNS_RCODE_REFUSED, false, false, 0, 0, 0, 0, NULL },
  };
  char t[INET6_ADDRSTRLEN];

  for (size_t i = 0; i < ARRAY_LEN (replies); i++)
    {
      const char *f = replies[i].fixture;
      size_t len;
      cleanup_free uint8_t *r = load_hex (f, &len);
      dns_answer_t a = { 0 };
      dns_chain_t c = { 0 };
      int other_family = 0;

      if (!ok (dns_parse_answer (r, len, &a) == 0, "%s: parses", f))
        continue;
      ok (a.hdr.flags & DNS_FLAG_QR, "%s: a response", f);
      is_int (DNS_RCODE (a.hdr.flags), replies[i].rcode, "%s: rcode %d", f, replies[i].rcode);
      is_int (!!(a.hdr.flags & DNS_FLAG_TC), replies[i].truncated, "%s: TC %s", f,
              replies[i].truncated ? "set" : "clear");
      is_int (len > DNS_UDP_MAX, replies[i].over_udp_max, "%s: %s 512 bytes (%zu)", f,
              replies[i].over_udp_max ? "larger than" : "fits", len);
      is_int ((long long) a.n, (long long) replies[i].n_records, "%s: %zu records", f, replies[i].n_records);
      dns_answer_chain (&a, replies[i].name, &c);
      ok (c.n_addrs >= replies[i].min_addrs && c.n_addrs <= replies[i].max_addrs,
          "%s: %zu addresses for %s, between %zu and %zu", f, c.n_addrs, replies[i].name, replies[i].min_addrs,
          replies[i].max_addrs);
      for (size_t k = 0; k < c.n_addrs; k++)
        other_family += c.addrs[k].family != replies[i].family;
      is_int (other_family, 0, "%s: every address is of family %d", f, replies[i].family);
      if (replies[i].first)
        is_str (c.n_addrs ? addr_text (&c.addrs[0], t) : NULL, replies[i].first, "%s: the address", f);
      dns_chain_release (&c);
      dns_answer_release (&a);
    }

  /* What only one reply shows. */
  {
    dns_answer_t a = { 0 };
    dns_chain_t c = { 0 };

    load_answer ("reply-a", &a);
    dns_answer_chain (&a, "api.allowed.test", &c);
    is_int (c.n_addrs ? c.addrs[0].ttl : 0, 300, "reply-a: the address's TTL");
    dns_chain_release (&c);
    dns_answer_chain (&a, "other.test", &c);
    is_int ((long long) c.n_addrs, 0, "reply-a: no address for a name that was not asked");
    dns_chain_release (&c);
    dns_answer_release (&a);
  }
  {
    dns_answer_t a = { 0 };
    dns_chain_t c = { 0 };

    load_answer ("reply-cname", &a);
    is_str (a.n ? a.rrs[0].target : NULL, "api.allowed.test", "reply-cname: the CNAME target");
    dns_answer_chain (&a, "cdn.allowed.test", &c);
    is_int ((long long) c.n_names, 2, "reply-cname: the chain has the name and its target");
    is_str (c.n_names > 1 ? c.names[1] : NULL, "api.allowed.test", "reply-cname: the target is on the chain");
    dns_chain_release (&c);
    dns_answer_release (&a);
  }
}

/* ---- error replies ---- */

static void
test_build_error (void)
{
  size_t len, n;
  cleanup_free uint8_t *q = load_hex ("query-a", &len);
  uint8_t out[DNS_MSG_MAX];
  dns_question_t dq, rq;
  dns_answer_t a = { 0 };

  if (dns_parse_question (q, len, &dq) < 0)
    bail_out ("query-a does not parse");
  n = dns_build_error (q, &dq, DNS_RCODE_REFUSED, out, sizeof (out));
  is_int ((long long) n, (long long) dq.end, "REFUSED reply: header and question only");
  ok (dns_parse_question (out, n, &rq) == 0, "REFUSED reply: parses");
  is_int (rq.hdr.id, dq.hdr.id, "REFUSED reply: same id");
  ok (rq.hdr.flags & DNS_FLAG_QR, "REFUSED reply: QR set");
  ok (rq.hdr.flags & DNS_FLAG_RD, "REFUSED reply: RD copied");
  is_int (DNS_RCODE (rq.hdr.flags), DNS_RCODE_REFUSED, "REFUSED reply: rcode 5");
  is_str (rq.name, dq.name, "REFUSED reply: same question");
  is_int (rq.hdr.ancount + rq.hdr.nscount + rq.hdr.arcount, 0, "REFUSED reply: no records");
  ok (dns_parse_answer (out, n, &a) == 0 && a.n == 0, "REFUSED reply: no answers");
  dns_answer_release (&a);
  n = dns_build_error (q, &dq, DNS_RCODE_NXDOMAIN, out, sizeof (out));
  ok (n && DNS_RCODE (out[3]) == DNS_RCODE_NXDOMAIN, "NXDOMAIN reply: rcode 3");
  is_int ((long long) dns_build_error (q, &dq, DNS_RCODE_REFUSED, out, dq.end - 1), 0,
          "a buffer smaller than the question: nothing built");
}

/* ---- truncated packets ---- */

static void
test_truncations (void)
{
  static const char *const fixtures[]
      = { "query-a",         "query-a-noedns",       "query-aaaa",           "query-cname",
          "query-many-edns", "query-mixed-case",     "query-many-truncated", "query-refused",
          "reply-a",         "reply-a-noedns",       "reply-aaaa",           "reply-cname",
          "reply-many-edns", "reply-many-truncated", "reply-mixed-case",     "reply-refused" };

  for (size_t f = 0; f < sizeof (fixtures) / sizeof (fixtures[0]); f++)
    {
      size_t len, failed = 0;
      cleanup_free uint8_t *p = load_hex (fixtures[f], &len);

      /* Every prefix is parsed from an exact-size copy: a shorter message
       * is refused (every fixture is used whole, so any cut loses data),
       * never read past. */
      for (size_t cut = 0; cut < len; cut++)
        {
          cleanup_free uint8_t *c = copy_exact (p, cut);
          dns_question_t q;
          dns_answer_t a = { 0 };

          if (dns_parse_question (c, cut, &q) == 0 || dns_parse_answer (c, cut, &a) == 0)
            failed++;
          dns_answer_release (&a);
        }
      is_int ((long long) failed, 0, "%s: each of its %zu truncations is refused", fixtures[f], len);
    }
}

/* ---- hostile packets ---- */

static size_t
put_name (uint8_t *p, const char *dotted)
{
  size_t n = 0;
  const char *s = dotted;

  while (*s)
    {
      const char *dot = strchr (s, '.');
      size_t l = dot ? (size_t) (dot - s) : strlen (s);
      p[n++] = (uint8_t) l;
      memcpy (p + n, s, l);
      n += l;
      s += l + (dot ? 1 : 0);
    }
  p[n++] = 0;
  return n;
}

/* A header with the given counts, then the name (or raw bytes). */
static size_t
msg_start (uint8_t *p, uint16_t qd, uint16_t an, uint16_t flags)
{
  memset (p, 0, DNS_HEADER_LEN);
  p[0] = 0x12;
  p[1] = 0x34;
  p[2] = (uint8_t) (flags >> 8);
  p[3] = (uint8_t) flags;
  p[5] = (uint8_t) qd;
  p[7] = (uint8_t) an;
  return DNS_HEADER_LEN;
}

static size_t
put_qtail (uint8_t *p, uint16_t type)
{
  p[0] = (uint8_t) (type >> 8);
  p[1] = (uint8_t) type;
  p[2] = 0;
  p[3] = 1;
  return 4;
}

static size_t
put_rr (uint8_t *p, const uint8_t *owner, size_t owner_len, uint16_t type, uint32_t ttl, const uint8_t *rdata,
        uint16_t rdlen)
{
  size_t n = owner_len;
  memcpy (p, owner, owner_len);
  p[n++] = (uint8_t) (type >> 8);
  p[n++] = (uint8_t) type;
  p[n++] = 0;
  p[n++] = 1;
  p[n++] = (uint8_t) (ttl >> 24);
  p[n++] = (uint8_t) (ttl >> 16);
  p[n++] = (uint8_t) (ttl >> 8);
  p[n++] = (uint8_t) ttl;
  p[n++] = (uint8_t) (rdlen >> 8);
  p[n++] = (uint8_t) rdlen;
  memcpy (p + n, rdata, rdlen);
  return n + rdlen;
}

static bool
question_fails (const uint8_t *p, size_t n)
{
  cleanup_free uint8_t *c = copy_exact (p, n);
  dns_question_t q;
  return dns_parse_question (c, n, &q) < 0;
}

static bool
answer_fails (const uint8_t *p, size_t n)
{
  cleanup_free uint8_t *c = copy_exact (p, n);
  dns_answer_t a = { 0 };
  int r = dns_parse_answer (c, n, &a);
  dns_answer_release (&a);
  return r < 0;
}

static void
test_hostile (void)
{
  uint8_t p[2048];
  size_t n;

  n = msg_start (p, 1, 0, 0);
  p[n++] = 0xc0;
  p[n++] = 12;
  n += put_qtail (p + n, 1);
  ok (question_fails (p, n), "a compression pointer to itself is refused");

  n = msg_start (p, 1, 0, 0);
  p[n++] = 0xc0;
  p[n++] = 20;
  memset (p + n, 0, 10);
  n += 10;
  ok (question_fails (p, n), "a forward compression pointer is refused");

  n = msg_start (p, 1, 0, 0);
  p[n++] = 0xc0;
  p[n++] = 2;
  n += put_qtail (p + n, 1);
  ok (question_fails (p, n), "a pointer into the header is refused");

  n = msg_start (p, 1, 0, 0);
  p[n++] = 64;
  memset (p + n, 'a', 64);
  n += 64;
  p[n++] = 0;
  n += put_qtail (p + n, 1);
  ok (question_fails (p, n), "a 64-byte label (type bits 01) is refused");

  n = msg_start (p, 1, 0, 0);
  for (int i = 0; i < 5; i++)
    {
      p[n++] = 60;
      memset (p + n, 'a', 60);
      n += 60;
    }
  p[n++] = 0;
  n += put_qtail (p + n, 1);
  ok (question_fails (p, n), "a name of more than 255 bytes is refused");

  n = msg_start (p, 0, 0, 0);
  ok (question_fails (p, n), "no question is refused");
  n = msg_start (p, 2, 0, 0);
  n += put_name (p + n, "a.test");
  n += put_qtail (p + n, 1);
  n += put_name (p + n, "b.test");
  n += put_qtail (p + n, 1);
  ok (question_fails (p, n), "two questions are refused");
  ok (question_fails (p, 5), "a short header is refused");
  ok (question_fails (NULL, 0), "nothing is refused");

  {
    dns_question_t q;
    n = msg_start (p, 1, 0, 0);
    p[n++] = 3;
    memcpy (p + n, "a.b", 3);
    n += 3;
    n += put_name (p + n, "allowed.test");
    n += put_qtail (p + n, 1);
    ok (dns_parse_question (p, n, &q) == 0, "a '.' inside a label parses");
    is_str (q.name, "a\\046b.allowed.test", "it is escaped, not a label boundary");
    ok (!q.hostname, "and the name is not a host name (it can match no entry)");

    n = msg_start (p, 1, 0, 0);
    p[n++] = 4;
    memcpy (p + n, "ap\0i", 4);
    n += 4;
    n += put_name (p + n, "test");
    n += put_qtail (p + n, 1);
    ok (dns_parse_question (p, n, &q) == 0 && !q.hostname && str_eq (q.name, "ap\\000i.test"),
        "a NUL inside a label is escaped (\"%s\")", q.name);

    n = msg_start (p, 1, 0, 0);
    p[n++] = 0;
    n += put_qtail (p + n, 2);
    ok (dns_parse_question (p, n, &q) == 0 && str_eq (q.name, ".") && !q.hostname, "the root name is \".\"");

    n = msg_start (p, 1, 0, 0);
    p[n++] = 5;
    memcpy (p + n,
            "b\xc3\xbc"
            "ch",
            5);
    n += 5;
    n += put_name (p + n, "test");
    n += put_qtail (p + n, 1);
    ok (dns_parse_question (p, n, &q) == 0 && !q.hostname && str_eq (q.name, "b\\195\\188ch.test"),
        "raw UTF-8 on the wire is escaped, never matched (\"%s\")", q.name);
  }

  /* Answers. */
  {
    uint8_t owner[64];
    size_t olen = put_name (owner, "x.test");
    uint8_t four[4] = { 192, 0, 2, 1 };
    uint8_t five[5] = { 192, 0, 2, 1, 9 };
    dns_answer_t a = { 0 };
    dns_chain_t c = { 0 };

    n = msg_start (p, 0, 1, 0x8180);
    n += put_rr (p + n, owner, olen, DNS_TYPE_A, 60, five, 5);
    ok (answer_fails (p, n), "an A record of 5 bytes is refused");

    n = msg_start (p, 0, 1, 0x8180);
    n += put_rr (p + n, owner, olen, DNS_TYPE_AAAA, 60, four, 4);
    ok (answer_fails (p, n), "an AAAA record of 4 bytes is refused");

    n = msg_start (p, 0, 2, 0x8180);
    n += put_rr (p + n, owner, olen, DNS_TYPE_A, 60, four, 4);
    ok (answer_fails (p, n), "an answer count past the end is refused");

    {
      uint8_t target[64];
      size_t tlen = put_name (target, "y.test");
      target[tlen++] = 0xee; /* trailing garbage in the rdata */
      n = msg_start (p, 0, 1, 0x8180);
      n += put_rr (p + n, owner, olen, DNS_TYPE_CNAME, 60, target, (uint16_t) tlen);
      ok (answer_fails (p, n), "a CNAME with bytes after its name is refused");
    }

    /* x -> y -> x (a CNAME loop), an A for y, an A for an unrelated name,
     * a TTL with the top bit set. */
    {
      uint8_t y[64], z[64];
      size_t ylen = put_name (y, "y.test"), zlen = put_name (z, "z.test");
      char t[INET6_ADDRSTRLEN];

      n = msg_start (p, 0, 5, 0x8180);
      n += put_rr (p + n, owner, olen, DNS_TYPE_CNAME, 100, y, (uint16_t) ylen);
      n += put_rr (p + n, y, ylen, DNS_TYPE_CNAME, 50, owner, (uint16_t) olen);
      n += put_rr (p + n, y, ylen, DNS_TYPE_A, 300, four, 4);
      n += put_rr (p + n, z, zlen, DNS_TYPE_A, 300, five, 4);
      n += put_rr (p + n, owner, olen, DNS_TYPE_A, 0x80000001u, five + 1, 4);
      ok (dns_parse_answer (p, n, &a) == 0, "an answer with a CNAME loop parses");
      dns_answer_chain (&a, "x.test", &c);
      is_int ((long long) c.n_names, 2, "the chain stops at the loop (x, y)");
      is_int ((long long) c.n_addrs, 2, "the off-chain name's address is ignored");
      ok (c.n_addrs == 2 && str_eq (addr_text (&c.addrs[0], t), "192.0.2.1") && c.addrs[0].ttl == 100,
          "y's address carries the chain's smallest TTL (100, not 300)");
      ok (c.n_addrs == 2 && c.addrs[1].ttl == 0, "a TTL with the top bit set counts as 0");
      dns_chain_release (&c);
      dns_answer_release (&a);
    }
  }

  /* A long but legal chain of backward pointers. */
  {
    dns_question_t q;
    char name[DNS_NAME_TEXT_MAX];
    size_t next;
    bool host;

    n = msg_start (p, 1, 0, 0);
    n += put_name (p + n, "a.test");
    n += put_qtail (p + n, 1);
    size_t prev = DNS_HEADER_LEN;
    for (int i = 0; i < 40; i++)
      {
        size_t here = n;
        p[n++] = 1;
        p[n++] = 'b';
        p[n++] = (uint8_t) (0xc0 | (prev >> 8));
        p[n++] = (uint8_t) prev;
        prev = here;
      }
    ok (dns_parse_question (p, n, &q) == 0, "the question before the pointer chain parses");
    ok (dns_read_name (p, n, prev, name, sizeof (name), &host, &next) == 0, "40 nested backward pointers read");
    ok (str_has_prefix (name, "b.b.b.") && strstr (name, "a.test"), "and give b.b. ... a.test");
    is_int ((long long) next, (long long) prev + 4, "next is after the first pointer");
    ok (dns_read_name (p, n, prev, name, 8, &host, &next) < 0, "a name longer than the output buffer is refused");
  }
}

/* ---- garbage ---- */

static uint64_t
xorshift (uint64_t *s)
{
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* Packet i of the garbage run: random bytes, or a real packet with a few
 * bytes changed and maybe cut short, so the parsers' success paths are
 * reached too.  Returns its length. */
static size_t
garbage_packet (uint64_t *s, int i, uint8_t *const *real, const size_t *real_len, size_t n_real, uint8_t **ret)
{
  size_t n;
  uint8_t *buf;

  if (i % 2 == 0)
    {
      n = (size_t) (xorshift (s) % 600);
      buf = xmalloc (n ? n : 1);
      for (size_t k = 0; k < n; k++)
        buf[k] = (uint8_t) xorshift (s);
    }
  else
    {
      size_t which = (size_t) (xorshift (s) % n_real), flips = 1 + (size_t) (xorshift (s) % 4);

      n = real_len[which];
      buf = xmalloc (n);
      memcpy (buf, real[which], n);
      for (size_t k = 0; k < flips; k++)
        buf[xorshift (s) % n] = (uint8_t) xorshift (s);
      if (xorshift (s) % 4 == 0)
        n = (size_t) (xorshift (s) % (n + 1));
    }
  *ret = buf;
  return n;
}

static void
test_garbage (void)
{
  static const char *const fixtures[] = { "query-a", "query-many-edns", "reply-a", "reply-cname", "reply-many-edns" };
  enum
  {
    N_REAL = sizeof (fixtures) / sizeof (fixtures[0])
  };
  uint8_t *real[N_REAL];
  size_t real_len[N_REAL];
  uint64_t s = 0x9e3779b97f4a7c15ULL;
  size_t parsed = 0, answers = 0, chained = 0, broken = 0;

  for (size_t i = 0; i < N_REAL; i++)
    real[i] = load_hex (fixtures[i], &real_len[i]);
  for (int i = 0; i < 20000; i++)
    {
      cleanup_free uint8_t *buf = NULL;
      size_t n = garbage_packet (&s, i, real, real_len, N_REAL, &buf);
      dns_question_t q;
      dns_answer_t a = { 0 };
      dns_chain_t c = { 0 };
      bool have_q = false;

      /* What a parse accepts must hold its promises: a question ends
       * inside the packet with a terminated name; an answer's records are
       * A, AAAA or CNAME with an owner (and a CNAME a target), and the
       * chain of the name asked starts at that name and gives IPv4 or
       * IPv6 addresses. */
      if (dns_parse_question (buf, n, &q) == 0)
        {
          parsed++;
          have_q = true;
          broken += q.end > n || q.end < 12 || strnlen (q.name, sizeof (q.name)) == sizeof (q.name);
        }
      if (dns_parse_answer (buf, n, &a) == 0)
        {
          /* The name asked; a reply whose question did not parse is
           * followed from its first record's owner. */
          const char *name = have_q ? q.name : a.n && a.rrs[0].owner ? a.rrs[0].owner : "x.test";

          answers++;
          for (size_t k = 0; k < a.n; k++)
            broken += (a.rrs[k].type != 1 && a.rrs[k].type != 28 && a.rrs[k].type != 5) || a.rrs[k].owner == NULL
                      || (a.rrs[k].type == 5 && a.rrs[k].target == NULL);
          dns_answer_chain (&a, name, &c);
          broken += c.n_names < 1 || !str_eq (c.names[0], name);
          chained += c.n_addrs;
          for (size_t k = 0; k < c.n_addrs; k++)
            broken += c.addrs[k].family != AF_INET && c.addrs[k].family != AF_INET6;
          dns_chain_release (&c);
        }
      dns_answer_release (&a);
    }
  for (size_t i = 0; i < N_REAL; i++)
    free (real[i]);
  is_int ((long long) broken, 0,
          "20000 random and mutated packets: what parsed (%zu questions, %zu answers) is within the packet and well "
          "formed",
          parsed, answers);
  ok (parsed > 1000 && answers > 1000, "the run reaches the parsers' success paths (%zu questions, %zu answers)",
      parsed, answers);
  ok (chained > 1000, "the chains of the names asked give addresses to check (%zu)", chained);
}

/* ---- domain-name allowlist entries ---- */

static void
name_parses (const char *s, const char *want)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_free char *got = NULL;
  egress_rule_t r;

  if (!ok (egress_rule_parse (s, &r, &err) == 0, "\"%s\" parses", s))
    {
      diag ("  error: %s", err ? err->msg : "?");
      return;
    }
  ok (egress_rule_is_name (&r) && r.family == 0, "\"%s\" is a domain entry", s);
  got = egress_rule_format (&r);
  is_str (got, want, "\"%s\" formats as \"%s\"", s, want);
}

static void
name_fails (const char *s, const char *needle)
{
  cleanup_error corral_error_t err = NULL;
  egress_rule_t r;

  ok (egress_rule_parse (s, &r, &err) < 0, "\"%s\" is refused", s);
  like (err ? err->msg : NULL, needle, "\"%s\": the message says \"%s\"", s, needle);
}

static egress_rule_t
rule (const char *s)
{
  egress_rule_t r;
  if (egress_rule_parse (s, &r, NULL) < 0)
    bail_out ("test entry \"%s\" does not parse", s);
  return r;
}

static void
test_names (void)
{
  egress_rule_t r;

  name_parses ("api.example.test", "api.example.test");
  name_parses ("API.Example.TEST.", "api.example.test");
  name_parses ("api.example.test:443", "api.example.test:443");
  name_parses ("api.example.test:443/tcp", "api.example.test:443/tcp");
  name_parses ("*.example.test:443/tcp", "*.example.test:443/tcp");
  name_parses ("*.Example.test.", "*.example.test");
  name_parses ("xn--bcher-kva.example", "xn--bcher-kva.example");
  name_parses ("_acme-challenge.example.test", "_acme-challenge.example.test");
  name_parses ("localhost", "localhost");

  name_fails ("b\xc3\xbc"
              "cher.example",
              "non-ASCII");
  name_fails ("b\xc3\xbc"
              "cher.example",
              "xn--");
  name_fails ("*example.test", "wildcard");
  name_fails ("a.*.example.test", "'*'");
  name_fails ("*", "wildcard");
  name_fails ("*.", "1 to 253");
  name_fails ("-a.example.test", "'-'");
  name_fails ("a-.example.test", "'-'");
  name_fails ("a..example.test", "empty");
  name_fails (".example.test", "empty");
  name_fails ("exa mple.test", "' '");
  name_fails ("example.test/24", "no prefix length");
  name_fails ("example.test:0", "invalid port");
  name_fails ("example.test:443/sctp", "protocol");
  name_fails ("1.2.3.4.5", "not an IPv4 or IPv6 address");
  name_fails ("10.0.0.300:80", "not an IPv4 or IPv6 address");
  {
    char label[80], longname[300];
    memset (label, 'a', 64);
    label[64] = '\0';
    snprintf (longname, sizeof (longname), "%s.test", label);
    name_fails (longname, "over-long");
    memset (longname, 0, sizeof (longname));
    for (int i = 0; i < 4; i++)
      strcat (longname, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.");
    strcat (longname, "test");
    name_fails (longname, "1 to 253");
  }

  r = rule ("api.example.test:443/tcp");
  ok (egress_rule_matches_name (&r, "api.example.test"), "exact: matches the name");
  ok (egress_rule_matches_name (&r, "API.example.TEST"), "exact: case-insensitive (ASCII)");
  ok (egress_rule_matches_name (&r, "api.example.test."), "exact: a trailing dot is ignored");
  ok (!egress_rule_matches_name (&r, "x.api.example.test"), "exact: not a name below");
  ok (!egress_rule_matches_name (&r, "api.example.test.evil"), "exact: not a longer name");
  ok (!egress_rule_matches_name (&r, "api\\046example.test"), "exact: not an escaped look-alike");
  ok (!egress_rule_matches_name (&r, ""), "exact: not the empty name");
  r = rule ("*.example.test");
  ok (egress_rule_matches_name (&r, "a.example.test"), "wildcard: a name below");
  ok (egress_rule_matches_name (&r, "a.b.example.test"), "wildcard: two levels below");
  ok (!egress_rule_matches_name (&r, "example.test"), "wildcard: not the suffix itself");
  ok (!egress_rule_matches_name (&r, "evilexample.test"), "wildcard: not a name that only ends in the suffix");
  ok (!egress_rule_matches_name (&r, "a.example.test.evil"), "wildcard: not the suffix in the middle");
  ok (!egress_rule_matches_name (&r, "x\\195\\188.example.test"), "wildcard: not an escaped (non-ASCII) label");
  r = rule ("192.0.2.1");
  ok (!egress_rule_matches_name (&r, "192.0.2.1"), "an address entry matches no name");

  {
    egress_rule_t wild443 = rule ("*.example.test:443"), exact = rule ("api.example.test:443/tcp"),
                  any = rule ("example.test"), ip = rule ("192.0.2.0/24");
    egress_rule_t in1 = rule ("api.example.test:443/tcp"), in2 = rule ("*.a.example.test:443/udp"),
                  in3 = rule ("*.example.test:443"), out1 = rule ("example.test:443"),
                  out2 = rule ("api.example.test:80"), out3 = rule ("api.example.test"), out4 = rule ("*.test:443");

    ok (egress_rule_within (&in1, &wild443), "api.example.test:443/tcp is within *.example.test:443");
    ok (egress_rule_within (&in2, &wild443), "*.a.example.test:443/udp is within *.example.test:443");
    ok (egress_rule_within (&in3, &wild443), "*.example.test:443 is within itself");
    ok (!egress_rule_within (&out1, &wild443), "example.test:443 is not within *.example.test:443");
    ok (!egress_rule_within (&out2, &wild443), "another port is not within");
    ok (!egress_rule_within (&out3, &wild443), "any port is not within one port");
    ok (!egress_rule_within (&out4, &wild443), "a wider wildcard is not within");
    ok (egress_rule_within (&in1, &exact), "an exact entry is within itself");
    ok (!egress_rule_within (&in3, &exact), "a wildcard is not within an exact entry");
    ok (egress_rule_within (&out1, &any), "example.test:443 is within example.test (any port)");
    ok (!egress_rule_within (&in1, &any), "api.example.test is not within example.test (names are not suffixes)");
    ok (!egress_rule_within (&in1, &ip), "a name is not within an address range");
    ok (!egress_rule_within (&ip, &any), "an address range is not within a name");
  }
}

/* ---- the profile's dns section ---- */

/* A policy whose only profile, "default", is the object profile. */
#define DNS_POLICY_BEFORE "{\"runtimes\":{\"runc\":\"runc\",\"gvisor\":\"runsc\"},\"profiles\":{\"default\":"
#define DNS_POLICY_AFTER "}}"

static corral_policy_t *
policy_text (const char *profile, corral_error_t *err)
{
  cleanup_free char *text = NULL;

  xasprintf (&text, DNS_POLICY_BEFORE "%s" DNS_POLICY_AFTER, profile);
  return policy_parse (text, strlen (text), "test-dns.json", err);
}

static void
test_policy (void)
{
  static const struct refusal refused[] = {
    { "{\"dns\":{\"upstream\":\"dns.example.test\"}}", "profiles.default.dns.upstream", NULL,
      "an upstream that is a name" },
    { "{\"dns\":{\"upstream\":\"192.0.2.53:0\"}}", "invalid port", NULL, "an upstream with port 0" },
    { "{\"dns\":{\"upstream\":\"192.0.2.53\",\"denied_rcode\":\"SERVFAIL\"}}", "profiles.default.dns.denied_rcode",
      NULL, "another rcode" },
    { "{\"dns\":{\"upstream\":\"192.0.2.53\",\"grace_seconds\":0}}", "profiles.default.dns.grace_seconds", NULL,
      "a grace of 0 (an element without timeout would stay forever)" },
    { "{\"dns\":{\"upstream\":\"192.0.2.53\",\"ttl\":5}}", "profiles.default.dns: unknown key \"ttl\"", NULL,
      "an unknown key" },
    { "{\"dns\":{\"upstream\":53}}", "profiles.default.dns.upstream: expected a string", NULL, "a number" },
    { "{\"egress\":{\"allow\":[\"b\xc3\xbc"
      "cher.example\"]},\"dns\":{\"upstream\":\"192.0.2.53\"}}",
      "profiles.default.egress.allow[0]", NULL, "a non-ASCII name" },
  };

  {
    cleanup_error corral_error_t err = NULL;
    cleanup_policy corral_policy_t *p
        = policy_text ("{\"egress\":{\"allow\":[\"api.example.test:443/tcp\",\"10.0.0.0/8\"]},"
                       "\"dns\":{\"upstream\":\"192.0.2.53:5353\",\"grace_seconds\":5,\"denied_rcode\":\"NXDOMAIN\"},"
                       "\"overridable\":[\"run.corral.egress.allow\",\"run.corral.runtime\"]}",
                       &err);
    const corral_profile_t *d = p ? policy_find_profile (p, "default") : NULL;

    if (!ok (d != NULL, "a profile with a domain entry and a dns section parses"))
      diag ("  error: %s", err ? err->msg : "?");
    else
      {
        ok (profile_has_domains (d), "it has domain entries");
        is_str (d->dns_upstream, "192.0.2.53:5353", "dns.upstream");
        is_int (d->dns_grace, 5, "dns.grace_seconds");
        is_int (d->dns_denied_rcode, DNS_RCODE_NXDOMAIN, "dns.denied_rcode NXDOMAIN");
      }
  }
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_policy corral_policy_t *p = policy_text ("{\"dns\":{\"upstream\":\"[2001:db8::53]\"}}", &err);
    const corral_profile_t *d = p ? policy_find_profile (p, "default") : NULL;

    ok (d && d->dns_grace == 30 && d->dns_denied_rcode == DNS_RCODE_REFUSED, "defaults: grace 30 s, REFUSED");
    ok (d && !profile_has_domains (d), "a dns section alone does not make a guard");
  }
  policies_refused (DNS_POLICY_BEFORE, DNS_POLICY_AFTER, refused, ARRAY_LEN (refused));
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_policy corral_policy_t *p = policy_text ("{\"egress\":{\"allow\":[\"api.example.test\"]}}", &err);
    const corral_profile_t *d = p ? policy_find_profile (p, "default") : NULL;

    ok (d && profile_has_domains (d) && d->dns_upstream == NULL,
        "a domain entry without an upstream is valid (create asks the host's resolver)");
  }
  {
    /* gVisor's own netstack: the guard serves it on the wire side. */
    cleanup_error corral_error_t err = NULL;
    cleanup_policy corral_policy_t *p = policy_text (
        "{\"runtime\":\"gvisor\",\"egress\":{\"allow\":[\"api.example.test\"]},\"dns\":{\"upstream\":\"192.0.2.53\"}}",
        &err);
    ok (p != NULL && str_eq (p->gvisor_network, "sandbox"), "domain entries under gVisor's own netstack parse");
  }

  /* Annotations. */
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_policy corral_policy_t *p
        = policy_text ("{\"egress\":{\"allow\":[\"*.example.test:443\",\"10.0.0.0/8\"]},"
                       "\"dns\":{\"upstream\":\"192.0.2.53\"},"
                       "\"overridable\":[\"run.corral.egress.allow\",\"run.corral.runtime\"]}",
                       &err);
    const corral_profile_t *d = p ? policy_find_profile (p, "default") : NULL;
    const char *cases[][3] = {
      { "run.corral.egress.allow", "api.example.test:443/tcp", NULL },
      { "run.corral.egress.allow", "10.1.0.0/16", NULL },
      { "run.corral.egress.allow", "example.test:443", "would loosen" },
      { "run.corral.egress.allow", "api.example.test:80", "would loosen" },
      { "run.corral.egress.allow", "api.other.test:443", "would loosen" },
    };

    if (d == NULL)
      bail_out ("annotation policy does not parse: %s", err ? err->msg : "?");
    {
      /* A container may ask for gVisor, names and all (the guard's wire). */
      cleanup_error corral_error_t e = NULL;
      cleanup_json json_t *ann = json_new_object ();
      cleanup_profile corral_profile_t *t = NULL;

      json_set (ann, "run.corral.runtime", json_new_string ("gvisor"));
      t = profile_with_annotations (d, ann, &e);
      ok (t != NULL && str_eq (t->runtime, "gvisor"), "run.corral.runtime=gvisor applies");
      ok (t != NULL && t->n_egress > 0, "the profile keeps its names under gVisor");
    }
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++)
      {
        cleanup_error corral_error_t e = NULL;
        cleanup_json json_t *ann = json_new_object ();
        cleanup_profile corral_profile_t *t = NULL;

        json_set (ann, cases[i][0], json_new_string (cases[i][1]));
        t = profile_with_annotations (d, ann, &e);
        if (cases[i][2] == NULL)
          ok (t != NULL && t->n_egress == 1, "%s=%s narrows", cases[i][0], cases[i][1]);
        else
          {
            ok (t == NULL, "%s=%s is refused", cases[i][0], cases[i][1]);
            like (e ? e->msg : NULL, cases[i][2], "%s=%s: the message says \"%s\"", cases[i][0], cases[i][1],
                  cases[i][2]);
          }
      }
    {
      cleanup_json json_t *ann = json_new_object ();
      cleanup_profile corral_profile_t *t = NULL;

      json_set (ann, "run.corral.egress.allow", json_new_string ("10.1.0.0/16"));
      json_set (ann, "run.corral.runtime", json_new_string ("gvisor"));
      t = profile_with_annotations (d, ann, NULL);
      ok (t != NULL && !profile_has_domains (t), "narrowed to addresses only, gVisor may be asked for");
    }
  }
}

/* ---- resolv.conf ---- */

static json_t *
spec_from (const char *text)
{
  json_t *v = json_parse (text, strlen (text), NULL);
  if (v == NULL)
    bail_out ("test spec does not parse: %s", text);
  return v;
}

/* The host's resolver, for profiles without dns.upstream. */
static void
test_resolv_conf (void)
{
  static const struct
  {
    const char *text, *want, *what;
  } cases[] = {
    { "nameserver 192.0.2.53\n", "192.0.2.53", "one IPv4 nameserver" },
    { "# generated\nsearch example.test\noptions ndots:2\nnameserver 192.0.2.1\nnameserver 192.0.2.2\n", "192.0.2.1",
      "the first of two, after comments and other keys" },
    { "nameserver\t2001:db8::53", "2001:db8::53", "IPv6, a tab, no final newline" },
    { "nameserver fe80::1%eth0\nnameserver 192.0.2.9\n", "192.0.2.9", "a link-local with a scope is skipped" },
    { "nameserver 192.0.2.53:5353\nnameserver 192.0.2.7\n", "192.0.2.7", "IP:port is not resolv.conf syntax" },
    { "nameserver dns.example.test\n", NULL, "a name is no nameserver" },
    { "search example.test\n", NULL, "no nameserver line" },
    { "", NULL, "an empty file" },
    { "nameserver\n", NULL, "a nameserver line without an address" },
  };

  for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++)
    {
      cleanup_free char *got = NULL;
      int r = dns_resolv_conf_nameserver (cases[i].text, strlen (cases[i].text), &got);

      if (cases[i].want)
        ok (r == 1 && got && str_eq (got, cases[i].want), "resolv.conf, %s: %s", cases[i].what, got ? got : "(none)");
      else
        ok (r == 0 && got == NULL, "resolv.conf, %s: none", cases[i].what);
    }
}

static void
test_harden_dns (void)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_policy corral_policy_t *p = policy_text ("{\"egress\":{\"allow\":[\"api.example.test:443\"]},"
                                                   "\"dns\":{\"upstream\":\"192.0.2.53\"}}",
                                                   &err);
  cleanup_policy corral_policy_t *plain = policy_text ("{}", &err);
  harden_ctx_t ctx = { .resolv_conf = "/run/corral/k/id/resolv.conf" };
  json_t *m;

  if (p == NULL || plain == NULL)
    bail_out ("harden policy does not parse");
  ctx.profile = policy_find_profile (p, "default");
  {
    cleanup_changes changes_t ch = { 0 };
    cleanup_json json_t *s = spec_from (
        "{\"mounts\":[{\"destination\":\"/etc/resolv.conf\",\"type\":\"bind\",\"source\":\"/run/containers/x/"
        "resolv.conf\",\"options\":[\"bind\",\"rprivate\"]}]}");

    ok (harden_dns (s, &ctx, &ch, NULL) == 0, "the engine's resolv.conf bind is taken over");
    m = json_at (json_get (s, "mounts"), 0);
    is_str (json_get_string (m, "source"), ctx.resolv_conf, "its source is corral's resolv.conf");
    ok (json_array_has_string (json_get (m, "options"), "ro"), "read-only");
    ok (json_array_has_string (json_get (m, "options"), "nosuid")
            && json_array_has_string (json_get (m, "options"), "nodev"),
        "nosuid, nodev");
    is_int ((long long) ch.n, 1, "one change logged");
    like (ch.n ? ch.items[0].what : NULL, "127.0.0.53", "the change names the guard");
    ok (harden_dns (s, &ctx, &ch, NULL) == 0 && ch.n == 1, "a second pass changes nothing");
  }
  {
    cleanup_changes changes_t ch = { 0 };
    cleanup_json json_t *s = spec_from ("{\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\"}]}");

    ok (harden_dns (s, &ctx, &ch, NULL) == 0, "a spec without resolv.conf");
    is_int ((long long) json_len (json_get (s, "mounts")), 2, "gets one");
    m = json_at (json_get (s, "mounts"), 1);
    is_str (json_get_string (m, "destination"), "/etc/resolv.conf", "at /etc/resolv.conf");
    is_str (json_get_string (m, "type"), "bind", "a bind mount");
  }
  {
    cleanup_changes changes_t ch = { 0 };
    cleanup_json json_t *s = spec_from (
        "{\"mounts\":[{\"destination\":\"/etc/resolv.conf\",\"type\":\"bind\",\"source\":\"/x\",\"options\":[]}]}");
    cleanup_json json_t *orig = json_deep_copy (s);

    ctx.profile = policy_find_profile (plain, "default");
    ok (harden_dns (s, &ctx, &ch, NULL) == 0 && json_equal (s, orig) && ch.n == 0,
        "a profile without domain names keeps the engine's resolv.conf");
  }
}

int
main (void)
{
  test_queries ();
  test_answers ();
  test_build_error ();
  test_truncations ();
  test_hostile ();
  test_garbage ();
  test_names ();
  test_policy ();
  test_harden_dns ();
  test_resolv_conf ();
  return done_testing ();
}
