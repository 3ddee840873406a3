/* corral: unit tests of the name judged from a flow's first bytes
 * (spec/flowname.c): ClientHellos captured from openssl, curl, Python,
 * Node and crafted ones (tests/fixtures/tls/README), whole, cut at every
 * byte and mutated; ClientHellos built here around hostile server names
 * and lengths; HTTP/1.x requests, each also cut at every byte. */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>

#include "base/fs.h"
#include "base/util.h"
#include "spec/egress.h"
#include "spec/flowname.h"
#include "tests/unit/tap.h"

/* ---- judging a copy ---- */

struct verdict
{
  enum flowname_status status;
  char name[FLOWNAME_NAME_SIZE];
};

/* flowname_parse on an exact-size heap copy: ASan catches any read past
 * the end of what the client sent. */
static struct verdict
judge (const uint8_t *buf, size_t len)
{
  struct verdict v;
  cleanup_free uint8_t *copy = xmalloc (len ? len : 1);

  if (len)
    memcpy (copy, buf, len);
  memset (v.name, '#', sizeof (v.name));
  v.name[sizeof (v.name) - 1] = '\0';
  v.status = flowname_parse (copy, len, v.name, sizeof (v.name));
  if (v.status != FLOWNAME_NAME && v.status != FLOWNAME_ECH)
    v.name[0] = '\0';
  return v;
}

/* Fed the stream one byte at a time, as a caller that waits after each
 * NEED_MORE: the answer must not change once given, and before it every
 * prefix must wait (never INVALID early for a stream that turns out
 * valid, never a name from half a message).  Returns the length at which
 * the answer came. */
static size_t
check_stream (const char *label, const uint8_t *buf, size_t len, enum flowname_status want, const char *want_name)
{
  struct verdict whole = judge (buf, len);
  size_t decided = len;
  bool steady = true;

  is_str (flowname_status_name (whole.status), flowname_status_name (want), "%s: judged %s", label,
          flowname_status_name (want));
  if (want == FLOWNAME_NAME || want == FLOWNAME_ECH)
    is_str (whole.name, want_name, "%s: name", label);
  for (size_t k = 0; k < len && steady; k++)
    {
      struct verdict v = judge (buf, k);

      if (v.status == FLOWNAME_NEED_MORE && decided == len)
        continue;
      if (decided == len)
        decided = k;
      if (v.status != whole.status || strcmp (v.name, whole.name) != 0)
        {
          diag ("%s: after %zu of %zu bytes: %s \"%s\"", label, k, len, flowname_status_name (v.status), v.name);
          steady = false;
        }
    }
  ok (steady, "%s: cut at every byte, waits until the answer, then keeps it", label);
  return decided;
}

/* ---- building ClientHellos ---- */

struct bytes
{
  uint8_t *p;
  size_t len;
};

static void
bytes_release (struct bytes *b)
{
  free (b->p);
}
#define cleanup_bytes __attribute__ ((cleanup (bytes_release)))

static void
put (struct bytes *b, const void *p, size_t n)
{
  b->p = xrealloc (b->p, b->len + n + 1);
  if (n)
    memcpy (b->p + b->len, p, n);
  b->len += n;
}

static void
put_n (struct bytes *b, uint32_t v, size_t width)
{
  for (size_t i = width; i > 0; i--)
    {
      uint8_t c = (uint8_t) (v >> (8 * (i - 1)));
      put (b, &c, 1);
    }
}

static void
put_ext (struct bytes *b, uint16_t type, const struct bytes *data)
{
  put_n (b, type, 2);
  put_n (b, (uint32_t) data->len, 2);
  put (b, data->p, data->len);
}

/* server_name with one host_name entry of n bytes. */
static void
put_sni (struct bytes *exts, const char *name, size_t n)
{
  cleanup_bytes struct bytes data = { 0 };

  put_n (&data, (uint32_t) n + 3, 2);
  put_n (&data, 0, 1);
  put_n (&data, (uint32_t) n, 2);
  put (&data, name, n);
  put_ext (exts, 0x0000, &data);
}

static void
put_padding (struct bytes *exts, size_t n)
{
  cleanup_bytes struct bytes data = { 0 };

  for (size_t i = 0; i < n; i++)
    put_n (&data, 0, 1);
  put_ext (exts, 0x0015, &data);
}

/* A ClientHello handshake message around exts (NULL: none, as TLS 1.0
 * clients may send it). */
static void
put_hello (struct bytes *msg, const struct bytes *exts)
{
  cleanup_bytes struct bytes body = { 0 };

  put_n (&body, 0x0303, 2);
  for (int i = 0; i < 32; i++)
    put_n (&body, (uint32_t) i, 1);
  put_n (&body, 0, 1); /* session_id */
  put_n (&body, 4, 2); /* cipher_suites */
  put_n (&body, 0x13011302, 4);
  put_n (&body, 1, 1); /* compression_methods */
  put_n (&body, 0, 1);
  if (exts)
    {
      put_n (&body, (uint32_t) exts->len, 2);
      put (&body, exts->p, exts->len);
    }
  put_n (msg, 1, 1);
  put_n (msg, (uint32_t) body.len, 3);
  put (msg, body.p, body.len);
}

/* msg in handshake records of at most frag bytes. */
static void
put_records (struct bytes *out, const struct bytes *msg, size_t frag)
{
  for (size_t pos = 0; pos < msg->len; pos += frag)
    {
      size_t n = msg->len - pos < frag ? msg->len - pos : frag;
      put_n (out, 0x160301, 3);
      put_n (out, (uint32_t) n, 2);
      put (out, msg->p + pos, n);
    }
}

/* The stream of a ClientHello in one record, extensions as given. */
static void
hello_stream (struct bytes *out, const struct bytes *exts)
{
  cleanup_bytes struct bytes msg = { 0 };

  put_hello (&msg, exts);
  put_records (out, &msg, 1 << 14);
}

static void
expect_sni (const char *label, const char *name, size_t n, enum flowname_status want, const char *want_name)
{
  cleanup_bytes struct bytes exts = { 0 }, stream = { 0 };

  put_sni (&exts, name, n);
  hello_stream (&stream, &exts);
  check_stream (label, stream.p, stream.len, want, want_name);
}

/* ---- captured and crafted fixtures ---- */

static uint8_t *
load_fixture (const char *name, size_t *ret_len)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_free char *path = NULL;
  cleanup_close int fd = -1;
  char *data;

  xasprintf (&path, "%s/tests/fixtures/tls/%s", tap_srcdir (), name);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fd_read_all (fd, 1 << 20, path, &data, ret_len, &err) < 0)
    bail_out ("cannot read fixture %s", path);
  return (uint8_t *) data;
}

static const struct
{
  const char *file;
  enum flowname_status status;
  const char *name;
} fixtures[] = {
  { "openssl-tls12.bin", FLOWNAME_NAME, "api.allowed.test" },
  { "openssl-tls13.bin", FLOWNAME_NAME, "api.allowed.test" },
  { "openssl-mixedcase.bin", FLOWNAME_NAME, "api.allowed.test" },
  { "openssl-noservername.bin", FLOWNAME_NO_NAME, NULL },
  { "curl.bin", FLOWNAME_NAME, "api.allowed.test" },
  { "python-ssl.bin", FLOWNAME_NAME, "api.allowed.test" },
  { "node-tls.bin", FLOWNAME_NAME, "api.allowed.test" },
  { "crafted-pq-2k.bin", FLOWNAME_NAME, "pq.allowed.test" },
  { "crafted-16-records.bin", FLOWNAME_NAME, "api.allowed.test" },
  { "crafted-no-sni.bin", FLOWNAME_NO_NAME, NULL },
  { "crafted-ech.bin", FLOWNAME_ECH, "public.example.test" },
  { "crafted-two-host-names.bin", FLOWNAME_INVALID, NULL },
};

/* A fixed xorshift: the same mutations on every run and every libc. */
static uint32_t
next_random (uint32_t *state)
{
  uint32_t x = *state;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *state = x;
}

/* A name out of the parser is always one the allowlist can compare. */
static bool
well_formed (const struct verdict *v)
{
  size_t n = strlen (v->name);

  if (v->status != FLOWNAME_NAME)
    return (int) v->status >= (int) FLOWNAME_NAME && (int) v->status <= (int) FLOWNAME_INVALID;
  if (n == 0 || n > EGRESS_NAME_MAX || v->name[n - 1] == '.')
    return false;
  for (size_t i = 0; i < n; i++)
    if (!strchr ("abcdefghijklmnopqrstuvwxyz0123456789-_.:", v->name[i]))
      return false;
  return true;
}

static void
test_fixtures (void)
{
  egress_rule_t exact, wildcard;

  if (egress_rule_parse ("api.allowed.test:443", &exact, NULL) < 0
      || egress_rule_parse ("*.allowed.test", &wildcard, NULL) < 0)
    bail_out ("egress_rule_parse");
  for (size_t f = 0; f < sizeof (fixtures) / sizeof (fixtures[0]); f++)
    {
      size_t len, decided;
      cleanup_free uint8_t *data = load_fixture (fixtures[f].file, &len);
      struct verdict v = judge (data, len);
      uint32_t seed = 0x5eed0000u + (uint32_t) f;
      int bad = 0, seen[FLOWNAME_INVALID + 1] = { 0 };

      decided = check_stream (fixtures[f].file, data, len, fixtures[f].status, fixtures[f].name);
      if (fixtures[f].status != FLOWNAME_INVALID)
        is_int ((long long) decided, (long long) len, "%s: answered at its last byte, not before", fixtures[f].file);
      if (fixtures[f].status == FLOWNAME_NAME)
        ok (egress_rule_matches_name (&wildcard, v.name)
                && egress_rule_matches_name (&exact, v.name) == str_eq (v.name, "api.allowed.test"),
            "%s: the name goes straight to egress_rule_matches_name", fixtures[f].file);

      /* Hostile variants: 1 to 4 bytes changed, then maybe cut short. */
      for (int i = 0; i < 3000; i++)
        {
          cleanup_free uint8_t *m = xmalloc (len);
          size_t cut = len, flips = 1 + next_random (&seed) % 4;
          struct verdict mv;

          memcpy (m, data, len);
          for (size_t j = 0; j < flips; j++)
            m[next_random (&seed) % len] = (uint8_t) next_random (&seed);
          if (next_random (&seed) % 2)
            cut = next_random (&seed) % len;
          mv = judge (m, cut);
          seen[mv.status]++;
          if (!well_formed (&mv) && bad++ == 0)
            diag ("%s: mutation %d gave %s \"%s\"", fixtures[f].file, i, flowname_status_name (mv.status), mv.name);
        }
      is_int (bad, 0, "%s: 3000 mutations, every answer well-formed", fixtures[f].file);
      diag ("%s mutated: %d name, %d need-more, %d no-name, %d ech, %d invalid", fixtures[f].file, seen[FLOWNAME_NAME],
            seen[FLOWNAME_NEED_MORE], seen[FLOWNAME_NO_NAME], seen[FLOWNAME_ECH], seen[FLOWNAME_INVALID]);
    }
}

/* ---- ClientHellos built around hostile names and lengths ---- */

static void
test_tls_names (void)
{
  char name[300], want[300];

  expect_sni ("SNI upper case, trailing dot", "WWW.Example.TEST.", 17, FLOWNAME_NAME, "www.example.test");
  expect_sni ("SNI with '_'", "_acme.allowed.test", 18, FLOWNAME_NAME, "_acme.allowed.test");
  expect_sni ("SNI an IPv4 address (RFC 6066 forbids, matches no name entry)", "192.0.2.1", 9, FLOWNAME_NAME,
              "192.0.2.1");
  expect_sni ("SNI empty", "", 0, FLOWNAME_INVALID, NULL);
  expect_sni ("SNI only a dot", ".", 1, FLOWNAME_INVALID, NULL);
  expect_sni ("SNI empty label", "a..test", 7, FLOWNAME_INVALID, NULL);
  expect_sni ("SNI two trailing dots", "a.test..", 8, FLOWNAME_INVALID, NULL);
  expect_sni ("SNI with NUL", "api.allowed.test\0.evil.test", 27, FLOWNAME_INVALID, NULL);
  expect_sni ("SNI U-label (UTF-8)",
              "b\xc3\xbc"
              "cher.test",
              12, FLOWNAME_INVALID, NULL);
  expect_sni ("SNI with space", "a b.test", 8, FLOWNAME_INVALID, NULL);
  expect_sni ("SNI wildcard", "*.allowed.test", 14, FLOWNAME_INVALID, NULL);
  expect_sni ("SNI with port", "api.allowed.test:443", 20, FLOWNAME_INVALID, NULL);

  /* 253 bytes: labels of 63, 63, 63 and 61 bytes. */
  memset (name, 'a', sizeof (name));
  name[63] = name[127] = name[191] = '.';
  memcpy (want, name, 253);
  want[253] = '\0';
  expect_sni ("SNI of 253 bytes", name, 253, FLOWNAME_NAME, want);
  name[253] = '.';
  expect_sni ("SNI of 253 bytes and a trailing dot", name, 254, FLOWNAME_NAME, want);
  expect_sni ("SNI of 254 bytes", name, 255, FLOWNAME_INVALID, NULL);
  memset (name, 'b', 64);
  memcpy (name + 64, ".test", 5);
  expect_sni ("SNI with a 64-byte label", name, 69, FLOWNAME_INVALID, NULL);
}

static void
test_tls_structure (void)
{
  cleanup_bytes struct bytes sni = { 0 };

  put_sni (&sni, "api.allowed.test", 16);

  {
    cleanup_bytes struct bytes stream = { 0 };
    hello_stream (&stream, NULL);
    check_stream ("ClientHello without extensions (TLS 1.0 style)", stream.p, stream.len, FLOWNAME_NO_NAME, NULL);
  }
  {
    cleanup_bytes struct bytes exts = { 0 }, stream = { 0 };
    put (&exts, sni.p, sni.len);
    put (&exts, sni.p, sni.len);
    hello_stream (&stream, &exts);
    check_stream ("two server_name extensions", stream.p, stream.len, FLOWNAME_INVALID, NULL);
  }
  {
    cleanup_bytes struct bytes exts = { 0 }, stream = { 0 }, data = { 0 };
    put_n (&data, 0x00040100, 4); /* list of 4: name_type 1, a 1-byte name */
    put_n (&data, 0x0174, 2);
    put_ext (&exts, 0x0000, &data);
    hello_stream (&stream, &exts);
    check_stream ("server_name of an unknown name_type", stream.p, stream.len, FLOWNAME_INVALID, NULL);
  }
  {
    cleanup_bytes struct bytes exts = { 0 }, stream = { 0 }, data = { 0 };
    put_n (&data, 0x00050000, 4); /* list of 5 bytes holding an entry of 4 */
    put_n (&data, 0x0178, 2);
    put_ext (&exts, 0x0000, &data);
    hello_stream (&stream, &exts);
    check_stream ("server_name list longer than its entries", stream.p, stream.len, FLOWNAME_INVALID, NULL);
  }
  {
    cleanup_bytes struct bytes exts = { 0 }, stream = { 0 }, data = { 0 };
    put_ext (&exts, 0x0000, &data);
    hello_stream (&stream, &exts);
    check_stream ("empty server_name extension", stream.p, stream.len, FLOWNAME_INVALID, NULL);
  }
  {
    cleanup_bytes struct bytes exts = { 0 }, stream = { 0 }, ech = { 0 };
    put_n (&ech, 0, 1);
    put_ext (&exts, 0xfe0d, &ech);
    hello_stream (&stream, &exts);
    check_stream ("ECH without server_name", stream.p, stream.len, FLOWNAME_ECH, "");
  }
  {
    /* An extension whose length runs past the extensions block. */
    cleanup_bytes struct bytes stream = { 0 };
    hello_stream (&stream, &sni);
    stream.p[stream.len - sni.len + 3] += 1;
    check_stream ("extension longer than the block", stream.p, stream.len, FLOWNAME_INVALID, NULL);
  }
  {
    /* Record and handshake say one byte more than the extensions hold. */
    cleanup_bytes struct bytes stream = { 0 };
    hello_stream (&stream, &sni);
    put_n (&stream, 0, 1);
    stream.p[4]++;
    stream.p[8]++;
    check_stream ("a byte after the extensions", stream.p, stream.len, FLOWNAME_INVALID, NULL);
  }
  {
    cleanup_bytes struct bytes stream = { 0 };
    hello_stream (&stream, &sni);
    stream.p[5] = 2; /* ServerHello */
    check_stream ("handshake type 2", stream.p, stream.len, FLOWNAME_INVALID, NULL);
    stream.p[5] = 1;
    stream.p[0] = 23;
    check_stream ("application data record", stream.p, stream.len, FLOWNAME_INVALID, NULL);
    stream.p[0] = 22;
    stream.p[2] = 5;
    check_stream ("record version 0x0305", stream.p, stream.len, FLOWNAME_INVALID, NULL);
    stream.p[2] = 1;
    stream.p[9 + 2 + 32] = 33;
    check_stream ("session_id of 33 bytes", stream.p, stream.len, FLOWNAME_INVALID, NULL);
    stream.p[9 + 2 + 32] = 0;
    stream.p[9 + 2 + 32 + 2] = 3;
    check_stream ("odd cipher_suites length", stream.p, stream.len, FLOWNAME_INVALID, NULL);
  }
  {
    static const uint8_t sslv2[] = { 0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15 };
    static const uint8_t empty_record[] = { 0x16, 0x03, 0x01, 0x00, 0x00, 0x16, 0x03, 0x01, 0x00, 0x04 };
    static const uint8_t big_record[] = { 0x16, 0x03, 0x01, 0x40, 0x01, 0x01 };
    check_stream ("SSLv2 ClientHello", sslv2, sizeof (sslv2), FLOWNAME_INVALID, NULL);
    check_stream ("empty handshake record", empty_record, sizeof (empty_record), FLOWNAME_INVALID, NULL);
    check_stream ("record over 2^14 bytes", big_record, sizeof (big_record), FLOWNAME_INVALID, NULL);
  }
  {
    /* Early data and ChangeCipherSpec after the ClientHello are not read. */
    static const uint8_t after[] = { 0x14, 0x03, 0x03, 0x00, 0x01, 0x01, 0x17, 0x03, 0x03, 0x00, 0x01, 0xaa };
    cleanup_bytes struct bytes stream = { 0 };
    hello_stream (&stream, &sni);
    put (&stream, after, sizeof (after));
    is_int (check_stream ("records after the ClientHello", stream.p, stream.len, FLOWNAME_NAME, "api.allowed.test"),
            (long long) (stream.len - sizeof (after)), "records after the ClientHello: answered at its end");
  }
  {
    char small[8];
    cleanup_bytes struct bytes stream = { 0 };
    hello_stream (&stream, &sni);
    is_int (flowname_parse (stream.p, stream.len, small, sizeof (small)), FLOWNAME_INVALID,
            "a name that does not fit name_size is refused");
  }
}

/* The bound: FLOWNAME_MAX_BYTES of stream, whatever the fragmentation.
 * The message is 78 bytes and the padding; each record adds 5. */
static void
test_tls_bounds (void)
{
  struct
  {
    const char *label;
    size_t padding, frag, stream_len;
    enum flowname_status want;
  } cases[] = {
    { "ClientHello of 16 KB in 1 record", 16300, 1 << 14, 16383, FLOWNAME_NAME },
    { "ClientHello of 16 KB in 103 records", 16300, 160, 16893, FLOWNAME_NAME },
    { "ClientHello of 16 KB in 104 records", 16300, 158, 16898, FLOWNAME_TOO_LONG },
    { "ClientHello of 16 KB in 328 records", 16300, 50, 18018, FLOWNAME_TOO_LONG },
    { "ClientHello over 16 KiB in 3 records, ending at the bound", 16803, 8192, FLOWNAME_MAX_BYTES, FLOWNAME_NAME },
    { "ClientHello over 16 KiB in 3 records, a byte past the bound", 16804, 8192, FLOWNAME_MAX_BYTES + 1,
      FLOWNAME_TOO_LONG },
  };

  for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++)
    {
      cleanup_bytes struct bytes exts = { 0 }, msg = { 0 }, stream = { 0 };
      struct verdict v;

      put_padding (&exts, cases[i].padding);
      put_sni (&exts, "big.allowed.test", 16);
      put_hello (&msg, &exts);
      put_records (&stream, &msg, cases[i].frag);
      if (stream.len != cases[i].stream_len)
        bail_out ("%s: %zu bytes, not %zu", cases[i].label, stream.len, cases[i].stream_len);
      v = judge (stream.p, stream.len);
      is_str (flowname_status_name (v.status), flowname_status_name (cases[i].want), "%s (%zu bytes)", cases[i].label,
              stream.len);
      if (cases[i].want == FLOWNAME_NAME)
        is_str (v.name, "big.allowed.test", "%s: name", cases[i].label);
      else
        {
          is_int (judge (stream.p, FLOWNAME_MAX_BYTES - 1).status, FLOWNAME_NEED_MORE, "%s: waits below the bound",
                  cases[i].label);
          is_int (judge (stream.p, FLOWNAME_MAX_BYTES).status, FLOWNAME_TOO_LONG, "%s: too long at the bound",
                  cases[i].label);
        }
    }
  {
    /* Declared lengths that cannot fit: no need to wait for them.  A
     * message of 16887 bytes takes 2 records: 16897 bytes of stream. */
    static const uint8_t huge[] = { 0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x00, 0x41, 0xf3 };
    static const uint8_t fits[] = { 0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x00, 0x41, 0xf2 };
    is_int (judge (huge, sizeof (huge)).status, FLOWNAME_TOO_LONG,
            "ClientHello declaring 16883 bytes: too long at once");
    is_int (judge (fits, sizeof (fits)).status, FLOWNAME_NEED_MORE, "ClientHello declaring 16882 bytes: waits");
  }
}

/* ---- HTTP/1.x ---- */

static const struct
{
  const char *label, *request;
  enum flowname_status want;
  const char *name;
} http_cases[] = {
  { "Host", "GET / HTTP/1.1\r\nHost: api.allowed.test\r\nAccept: */*\r\n\r\n", FLOWNAME_NAME, "api.allowed.test" },
  { "curl's request",
    "GET /x?y=1 HTTP/1.1\r\nHost: api.allowed.test:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
    FLOWNAME_NAME, "api.allowed.test" },
  { "Host with port, upper case, trailing dot", "HEAD / HTTP/1.1\r\nHost: API.Allowed.Test.:80\r\n\r\n", FLOWNAME_NAME,
    "api.allowed.test" },
  { "Host with empty port", "GET / HTTP/1.1\r\nHost: a.test:\r\n\r\n", FLOWNAME_NAME, "a.test" },
  { "Host with '_'", "GET / HTTP/1.1\r\nHost: _x.a.test\r\n\r\n", FLOWNAME_NAME, "_x.a.test" },
  { "field name in any case, whitespace around the value", "GET / HTTP/1.1\r\nhOsT:  \t a.test \t\r\n\r\n",
    FLOWNAME_NAME, "a.test" },
  { "Host last, among others",
    "POST /api HTTP/1.1\r\nContent-Length: 3\r\nX-Host: evil.test\r\nHost: a.test\r\n\r\nabc", FLOWNAME_NAME,
    "a.test" },
  { "IPv6 literal", "GET / HTTP/1.1\r\nHost: [2001:DB8:0::1]:8080\r\n\r\n", FLOWNAME_NAME, "2001:db8::1" },
  { "IPv6 literal without port", "GET / HTTP/1.1\r\nHost: [::ffff:192.0.2.1]\r\n\r\n", FLOWNAME_NAME,
    "::ffff:192.0.2.1" },
  { "IPv4 address", "GET / HTTP/1.1\r\nHost: 192.0.2.1:8080\r\n\r\n", FLOWNAME_NAME, "192.0.2.1" },
  { "IPv6 with a zone", "GET / HTTP/1.1\r\nHost: [fe80::1%25eth0]\r\n\r\n", FLOWNAME_INVALID, NULL },
  { "IPvFuture", "GET / HTTP/1.1\r\nHost: [v1.fe]\r\n\r\n", FLOWNAME_INVALID, NULL },
  { "IPv6 unclosed", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", FLOWNAME_INVALID, NULL },
  { "IPv6 not an address", "GET / HTTP/1.1\r\nHost: [1:2:3]\r\n\r\n", FLOWNAME_INVALID, NULL },
  { "IPv6 junk after ]", "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", FLOWNAME_INVALID, NULL },
  { "absolute-form and the same Host", "GET http://a.test/x HTTP/1.1\r\nHost: A.test:80\r\n\r\n", FLOWNAME_NAME,
    "a.test" },
  { "absolute-form https, upper-case scheme, no path", "GET HTTPS://A.TEST:8443 HTTP/1.1\r\nHost: a.test\r\n\r\n",
    FLOWNAME_NAME, "a.test" },
  { "absolute-form with query", "GET http://a.test?x=/ HTTP/1.1\r\nHost: a.test\r\n\r\n", FLOWNAME_NAME, "a.test" },
  { "absolute-form and another Host", "GET http://evil.test/ HTTP/1.1\r\nHost: api.allowed.test\r\n\r\n",
    FLOWNAME_INVALID, NULL },
  { "absolute-form and an empty Host", "GET http://evil.test/ HTTP/1.1\r\nHost:\r\n\r\n", FLOWNAME_INVALID, NULL },
  { "absolute-form without Host (HTTP/1.0)", "GET http://a.test/ HTTP/1.0\r\n\r\n", FLOWNAME_NAME, "a.test" },
  { "absolute-form with user information", "GET http://api.allowed.test@evil.test/ HTTP/1.1\r\nHost: evil.test\r\n\r\n",
    FLOWNAME_INVALID, NULL },
  { "absolute-form without host", "GET http:///x HTTP/1.1\r\nHost: a.test\r\n\r\n", FLOWNAME_INVALID, NULL },
  { "absolute-form ftp", "GET ftp://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n", FLOWNAME_INVALID, NULL },
  { "absolute-form with percent-encoding", "GET http://a%2etest/ HTTP/1.1\r\n\r\n", FLOWNAME_INVALID, NULL },
  { "CONNECT", "CONNECT api.allowed.test:443 HTTP/1.1\r\nHost: api.allowed.test:443\r\n\r\n", FLOWNAME_NAME,
    "api.allowed.test" },
  { "CONNECT without Host", "CONNECT [2001:db8::1]:443 HTTP/1.1\r\n\r\n", FLOWNAME_NAME, "2001:db8::1" },
  { "CONNECT to another host than Host", "CONNECT evil.test:443 HTTP/1.1\r\nHost: api.allowed.test:443\r\n\r\n",
    FLOWNAME_INVALID, NULL },
  { "CONNECT without port", "CONNECT a.test HTTP/1.1\r\nHost: a.test\r\n\r\n", FLOWNAME_INVALID, NULL },
  { "CONNECT origin-form", "CONNECT / HTTP/1.1\r\nHost: a.test\r\n\r\n", FLOWNAME_INVALID, NULL },
  { "OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: a.test\r\n\r\n", FLOWNAME_NAME, "a.test" },
  { "GET *", "GET * HTTP/1.1\r\nHost: a.test\r\n\r\n", FLOWNAME_INVALID, NULL },
  { "two Host fields", "GET / HTTP/1.1\r\nHost: api.allowed.test\r\nHost: evil.test\r\n\r\n", FLOWNAME_INVALID, NULL },
  { "two equal Host fields", "GET / HTTP/1.1\r\nHost: a.test\r\nhost: a.test\r\n\r\n", FLOWNAME_INVALID, NULL },
  { "Host folded (obs-fold)", "GET / HTTP/1.1\r\nHost: api.allowed.test\r\n evil.test\r\n\r\n", FLOWNAME_INVALID,
    NULL },
  { "another field folded", "GET / HTTP/1.1\r\nX-A: 1\r\n\t2\r\nHost: a.test\r\n\r\n", FLOWNAME_INVALID, NULL },
  { "space before the colon", "GET / HTTP/1.1\r\nHost : a.test\r\n\r\n", FLOWNAME_INVALID, NULL },
  { "empty field name", "GET / HTTP/1.1\r\n: a.test\r\n\r\n", FLOWNAME_INVALID, NULL },
  { "no Host, HTTP/1.0", "GET / HTTP/1.0\r\nAccept: */*\r\n\r\n", FLOWNAME_NO_NAME, NULL },
  { "no Host, HTTP/1.1", "GET / HTTP/1.1\r\n\r\n", FLOWNAME_NO_NAME, NULL },
  { "empty Host", "GET / HTTP/1.1\r\nHost: \r\n\r\n", FLOWNAME_NO_NAME, NULL },
  { "bare LF line ends", "GET / HTTP/1.1\nHost: a.test\n\n", FLOWNAME_INVALID, NULL },
  { "bare LF after the request line", "GET / HTTP/1.1\r\nHost: a.test\n\r\n", FLOWNAME_INVALID, NULL },
  { "bare LF ending the headers", "GET / HTTP/1.1\r\nHost: a.test\r\n\n", FLOWNAME_INVALID, NULL },
  { "bare CR", "GET / HTTP/1.1\r\nHost: a.test\rX: y\r\n\r\n", FLOWNAME_INVALID, NULL },
  { "control byte in a value", "GET / HTTP/1.1\r\nX: \x01\r\nHost: a.test\r\n\r\n", FLOWNAME_INVALID, NULL },
  { "obs-text in another value", "GET / HTTP/1.1\r\nX-Name: M\xc3\xbcller\r\nHost: a.test\r\n\r\n", FLOWNAME_NAME,
    "a.test" },
  { "Host with UTF-8 (a U-label)",
    "GET / HTTP/1.1\r\nHost: b\xc3\xbc"
    "cher.test\r\n\r\n",
    FLOWNAME_INVALID, NULL },
  { "Host with percent-encoding", "GET / HTTP/1.1\r\nHost: a%2etest\r\n\r\n", FLOWNAME_INVALID, NULL },
  { "Host with user information", "GET / HTTP/1.1\r\nHost: a.test@evil.test\r\n\r\n", FLOWNAME_INVALID, NULL },
  { "Host with two names", "GET / HTTP/1.1\r\nHost: a.test evil.test\r\n\r\n", FLOWNAME_INVALID, NULL },
  { "Host with a comma list", "GET / HTTP/1.1\r\nHost: a.test,evil.test\r\n\r\n", FLOWNAME_INVALID, NULL },
  { "Host port not a number", "GET / HTTP/1.1\r\nHost: a.test:8x\r\n\r\n", FLOWNAME_INVALID, NULL },
  { "Host port over 65535", "GET / HTTP/1.1\r\nHost: a.test:65536\r\n\r\n", FLOWNAME_INVALID, NULL },
  { "Host a wildcard", "GET / HTTP/1.1\r\nHost: *.a.test\r\n\r\n", FLOWNAME_INVALID, NULL },
  { "lower-case method", "get / HTTP/1.1\r\nHost: a.test\r\n\r\n", FLOWNAME_INVALID, NULL },
  { "unknown method", "BREW / HTTP/1.1\r\nHost: a.test\r\n\r\n", FLOWNAME_INVALID, NULL },
  { "method too long", "GETS / HTTP/1.1\r\nHost: a.test\r\n\r\n", FLOWNAME_INVALID, NULL },
  { "HTTP/2 prior knowledge", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", FLOWNAME_INVALID, NULL },
  { "HTTP/2.0 version", "GET / HTTP/2.0\r\nHost: a.test\r\n\r\n", FLOWNAME_INVALID, NULL },
  { "HTTP/0.9 request", "GET /\r\n", FLOWNAME_INVALID, NULL },
  { "two spaces", "GET  / HTTP/1.1\r\nHost: a.test\r\n\r\n", FLOWNAME_INVALID, NULL },
  { "junk after the version", "GET / HTTP/1.1x\r\nHost: a.test\r\n\r\n", FLOWNAME_INVALID, NULL },
  { "SSH banner", "SSH-2.0-OpenSSH_9.2p1\r\n", FLOWNAME_INVALID, NULL },
  { "SMTP-like", "EHLO a.test\r\n", FLOWNAME_INVALID, NULL },
};

static void
test_http (void)
{
  for (size_t i = 0; i < sizeof (http_cases) / sizeof (http_cases[0]); i++)
    check_stream (http_cases[i].label, (const uint8_t *) http_cases[i].request, strlen (http_cases[i].request),
                  http_cases[i].want, http_cases[i].name);

  {
    uint8_t blob[64];
    uint32_t seed = 42;
    for (size_t i = 0; i < sizeof (blob); i++)
      blob[i] = (uint8_t) next_random (&seed);
    blob[0] = 0x00;
    check_stream ("binary blob", blob, sizeof (blob), FLOWNAME_INVALID, NULL);
  }
  {
    /* A header section that ends exactly at the bound, and one byte later. */
    static const char head[] = "GET / HTTP/1.1\r\nHost: a.test\r\nCookie: ";
    cleanup_free uint8_t *req = xmalloc (FLOWNAME_MAX_BYTES + 2);
    size_t pad = FLOWNAME_MAX_BYTES - strlen (head) - 4;

    memcpy (req, head, strlen (head));
    memset (req + strlen (head), 'c', pad + 1);
    memcpy (req + strlen (head) + pad, "\r\n\r\n", 4);
    is_int (judge (req, FLOWNAME_MAX_BYTES).status, FLOWNAME_NAME, "header section of FLOWNAME_MAX_BYTES: judged");
    memcpy (req + strlen (head) + pad, "c\r\n\r\n", 5);
    is_int (judge (req, FLOWNAME_MAX_BYTES - 1).status, FLOWNAME_NEED_MORE, "one byte longer: waits below the bound");
    is_int (judge (req, FLOWNAME_MAX_BYTES + 1).status, FLOWNAME_TOO_LONG, "one byte longer: too long");
  }
}

int
main (void)
{
  test_fixtures ();
  test_tls_names ();
  test_tls_structure ();
  test_tls_bounds ();
  test_http ();
  is_str (flowname_status_name (FLOWNAME_NEED_MORE), "need-more", "status names for logs");
  return done_testing ();
}
