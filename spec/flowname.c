/* corral: the name in the first bytes of a TCP flow (TLS server_name or
 * HTTP/1.x host).  The input is hostile: every length is checked against
 * the structure that contains it before anything is read, and no offset
 * ever exceeds FLOWNAME_MAX_BYTES, so no sum overflows.  Decisions and their
 * reasons are in docs/egress-names.md. */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "spec/flowname.h"

/* Internal steps return GO_ON to continue, or the answer. */
enum
{
  GO_ON = -1
};

#define TRY(expr)                                                                                                      \
  do                                                                                                                   \
    {                                                                                                                  \
      int try_ = (expr);                                                                                               \
      if (try_ != GO_ON)                                                                                               \
        return try_;                                                                                                   \
    }                                                                                                                  \
  while (0)

/* ---- names ---- */

static uint8_t
ascii_lower (uint8_t c)
{
  return c >= 'A' && c <= 'Z' ? (uint8_t) (c - 'A' + 'a') : c;
}

/* The bytes the DNS guard keeps as a host name (spec/dns.c) and an
 * allowlist entry may hold (spec/egress.c), so that a name that could
 * resolve through the guard can also be the name of a flow. */
static bool
is_name_byte (uint8_t c)
{
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* s[0..n) as a host name into out (FLOWNAME_NAME_SIZE bytes): one trailing
 * dot dropped, 1 to EGRESS_NAME_MAX bytes, labels of 1 to 63 bytes (nothing
 * longer or emptier is on the DNS wire, so it never resolved), case folded.
 * Anything else, non-ASCII included, is no host name. */
static bool
normalize_name (const uint8_t *s, size_t n, char out[FLOWNAME_NAME_SIZE])
{
  size_t label = 0;

  if (n > 0 && s[n - 1] == '.')
    n--;
  if (n == 0 || n > EGRESS_NAME_MAX)
    return false;
  for (size_t i = 0; i <= n; i++)
    {
      uint8_t c = i < n ? ascii_lower (s[i]) : '.';

      if (c == '.')
        {
          if (label == 0 || label > 63)
            return false;
          label = 0;
        }
      else if (!is_name_byte (c))
        return false;
      else
        label++;
      if (i < n)
        out[i] = (char) c;
    }
  out[n] = '\0';
  return true;
}

/* The answer with its name copied out, or INVALID if it does not fit. */
static int
answer (int status, const char *name, char *ret_name, size_t name_size)
{
  size_t n = strlen (name);

  if (n >= name_size)
    return FLOWNAME_INVALID;
  memcpy (ret_name, name, n + 1);
  return status;
}

/* ---- TLS ---- */

enum
{
  TLS_CONTENT_HANDSHAKE = 22,
  TLS_HANDSHAKE_CLIENT_HELLO = 1,
  TLS_RECORD_MAX = 1 << 14, /* plaintext bytes in a record (RFC 8446 5.1) */
  TLS_EXT_SERVER_NAME = 0x0000,
  TLS_EXT_ECH = 0xfe0d, /* draft-ietf-tls-esni: encrypted_client_hello */
  SNI_HOST_NAME = 0,
};

/* A structure of the ClientHello being read: pos moves towards end, its
 * declared end; only have bytes of the message have arrived yet.  Reading
 * past end is malformed; past have (within end) waits for more. */
struct reader
{
  const uint8_t *msg;
  size_t pos, end, have;
};

static int
take (struct reader *r, size_t n, const uint8_t **ret)
{
  if (n > r->end - r->pos)
    return FLOWNAME_INVALID;
  if (r->pos + n > r->have)
    return FLOWNAME_NEED_MORE;
  *ret = r->msg + r->pos;
  r->pos += n;
  return GO_ON;
}

static int
read_u8 (struct reader *r, size_t *ret)
{
  const uint8_t *p;

  TRY (take (r, 1, &p));
  *ret = p[0];
  return GO_ON;
}

static int
read_u16 (struct reader *r, size_t *ret)
{
  const uint8_t *p;

  TRY (take (r, 2, &p));
  *ret = (size_t) p[0] << 8 | p[1];
  return GO_ON;
}

/* A vector <min..max> with a length field of width bytes (RFC 8446 3.4):
 * ret reads its contents, r moves past them (present or not). */
static int
read_vector (struct reader *r, size_t width, size_t min, size_t max, struct reader *ret)
{
  size_t n;

  TRY (width == 1 ? read_u8 (r, &n) : read_u16 (r, &n));
  if (n < min || n > max || n > r->end - r->pos)
    return FLOWNAME_INVALID;
  *ret = *r;
  ret->end = r->pos + n;
  r->pos += n;
  return GO_ON;
}

/* RFC 6066 3: a ServerNameList of exactly one host_name.  No other name
 * type was ever defined, and its encoding would be unknown, so any other
 * entry makes the list unreadable; two host names leave the server's choice
 * open. */
static int
parse_server_name (struct reader *ext, char name[FLOWNAME_NAME_SIZE])
{
  struct reader list;
  size_t entries = 0;

  TRY (read_vector (ext, 2, 1, 0xffff, &list));
  if (ext->pos != ext->end)
    return FLOWNAME_INVALID;
  while (list.pos < list.end)
    {
      struct reader host;
      const uint8_t *p;
      size_t type, n;

      TRY (read_u8 (&list, &type));
      if (type != SNI_HOST_NAME)
        return FLOWNAME_INVALID;
      TRY (read_vector (&list, 2, 1, 0xffff, &host));
      if (++entries > 1)
        return FLOWNAME_INVALID;
      n = host.end - host.pos;
      TRY (take (&host, n, &p));
      if (!normalize_name (p, n, name))
        return FLOWNAME_INVALID;
    }
  return GO_ON;
}

/* The ClientHello body (RFC 8446 4.1.2, also TLS 1.0 to 1.2: extensions
 * optional) in msg[4..end), of which msg[0..have) arrived. */
static int
parse_client_hello (const uint8_t *msg, size_t end, size_t have, char *ret_name, size_t name_size)
{
  struct reader r = { .msg = msg, .pos = 4, .end = end, .have = have };
  struct reader skip, exts;
  char name[FLOWNAME_NAME_SIZE] = "";
  uint8_t seen[65536 / 8];
  bool ech = false;
  const uint8_t *p;

  TRY (take (&r, 2, &p)); /* legacy_version */
  if (p[0] != 3 || p[1] < 1 || p[1] > 4)
    return FLOWNAME_INVALID;
  TRY (take (&r, 32, &p));                     /* random */
  TRY (read_vector (&r, 1, 0, 32, &skip));     /* legacy_session_id */
  TRY (read_vector (&r, 2, 2, 0xfffe, &skip)); /* cipher_suites */
  if ((skip.end - skip.pos) % 2 != 0)
    return FLOWNAME_INVALID;
  TRY (read_vector (&r, 1, 1, 0xff, &skip)); /* legacy_compression_methods */
  if (r.pos < r.end)
    {
      TRY (read_vector (&r, 2, 0, 0xffff, &exts));
      if (r.pos != r.end)
        return FLOWNAME_INVALID; /* bytes after the extensions */
      memset (seen, 0, sizeof (seen));
      while (exts.pos < exts.end)
        {
          struct reader data;
          size_t type;

          TRY (read_u16 (&exts, &type));
          TRY (read_vector (&exts, 2, 0, 0xffff, &data));
          /* RFC 8446 4.2: one extension of a type at most; a second
           * server_name could be the one the server reads. */
          if (seen[type / 8] & (1u << (type % 8)))
            return FLOWNAME_INVALID;
          seen[type / 8] |= (uint8_t) (1u << (type % 8));
          if (type == TLS_EXT_SERVER_NAME)
            TRY (parse_server_name (&data, name));
          else if (type == TLS_EXT_ECH)
            ech = true;
        }
    }
  if (have < end)
    return FLOWNAME_NEED_MORE; /* well-formed so far */
  if (ech)
    return answer (FLOWNAME_ECH, name, ret_name, name_size);
  if (name[0] == '\0')
    return FLOWNAME_NO_NAME;
  return answer (FLOWNAME_NAME, name, ret_name, name_size);
}

/* TLS records (RFC 8446 5.1) from the start of the stream: every record up
 * to the end of the ClientHello is a handshake record of 1 to 2^14 bytes
 * whose fragments are reassembled into the one message.  What follows the
 * ClientHello (early data, a ChangeCipherSpec) is not looked at. */
static int
parse_tls (const uint8_t *buf, size_t len, char *ret_name, size_t name_size)
{
  uint8_t msg[FLOWNAME_MAX_BYTES];
  size_t pos = 0, have = 0, end = 0;

  while (pos < len && (end == 0 || have < end))
    {
      size_t reclen, chunk;

      /* Each header byte is checked as soon as it is there: a stream that
       * is no TLS fails on its first bytes. */
      if (buf[pos] != TLS_CONTENT_HANDSHAKE || (pos + 1 < len && buf[pos + 1] != 3)
          || (pos + 2 < len && (buf[pos + 2] < 1 || buf[pos + 2] > 4)))
        return FLOWNAME_INVALID;
      if (len - pos < 5)
        break;
      reclen = (size_t) buf[pos + 3] << 8 | buf[pos + 4];
      /* No empty handshake fragments (RFC 8446 5.1), none over 2^14. */
      if (reclen == 0 || reclen > TLS_RECORD_MAX)
        return FLOWNAME_INVALID;
      chunk = reclen < len - pos - 5 ? reclen : len - pos - 5;
      memcpy (msg + have, buf + pos + 5, chunk);
      have += chunk;
      pos += 5 + reclen;
      if (have >= 1 && msg[0] != TLS_HANDSHAKE_CLIENT_HELLO)
        return FLOWNAME_INVALID;
      if (end == 0 && have >= 4)
        {
          end = 4 + ((size_t) msg[1] << 16 | (size_t) msg[2] << 8 | msg[3]);
          /* It cannot complete within the bound, even in full records. */
          if (end + 5 * ((end + TLS_RECORD_MAX - 1) / TLS_RECORD_MAX) > FLOWNAME_MAX_BYTES)
            return FLOWNAME_TOO_LONG;
        }
    }
  if (end == 0)
    return FLOWNAME_NEED_MORE;
  return parse_client_hello (msg, end, have < end ? have : end, ret_name, name_size);
}

/* ---- HTTP/1.x ---- */

static const char *const http_methods[] = {
  "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
};

/* Is s[0..n) a known method (whole), or the start of one? */
static bool
is_method (const uint8_t *s, size_t n, bool whole)
{
  for (size_t i = 0; i < sizeof (http_methods) / sizeof (http_methods[0]); i++)
    {
      size_t m = strlen (http_methods[i]);
      if ((whole ? n == m : n <= m) && memcmp (s, http_methods[i], n) == 0)
        return true;
    }
  return false;
}

/* RFC 9110 5.6.2: the characters of a token (a field name). */
static bool
is_tchar (uint8_t c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
         || (c != 0 && strchr ("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool
is_digit (uint8_t c)
{
  return c >= '0' && c <= '9';
}

/* uri-host [":" port] (RFC 9110 7.2, RFC 3986 3.2.2) into out: a host name,
 * or an IPv6 literal "[...]" given without brackets in inet_ntop's form.
 * The port is dropped (the flow's port is nftables' business); CONNECT's
 * authority-form must have one (RFC 9110 9.3.6).  Percent-encoding, user
 * information and IPvFuture are no host names. */
static bool
parse_host_port (const uint8_t *s, size_t n, bool need_port, char out[FLOWNAME_NAME_SIZE])
{
  size_t host_end, port_len, port = 0;

  if (n > 0 && s[0] == '[')
    {
      char text[INET6_ADDRSTRLEN];
      struct in6_addr a6;
      const uint8_t *close = memchr (s, ']', n);
      size_t k;

      if (close == NULL)
        return false;
      k = (size_t) (close - s) - 1;
      if (k == 0 || k >= sizeof (text))
        return false;
      for (size_t i = 0; i < k; i++)
        {
          uint8_t c = s[1 + i];
          if (!(is_digit (c) || (ascii_lower (c) >= 'a' && ascii_lower (c) <= 'f') || c == ':' || c == '.'))
            return false;
          text[i] = (char) c;
        }
      text[k] = '\0';
      if (inet_pton (AF_INET6, text, &a6) != 1 || inet_ntop (AF_INET6, &a6, out, FLOWNAME_NAME_SIZE) == NULL)
        return false;
      host_end = k + 2;
    }
  else
    {
      const uint8_t *colon = memchr (s, ':', n);
      host_end = colon ? (size_t) (colon - s) : n;
      if (!normalize_name (s, host_end, out))
        return false;
    }
  if (host_end == n)
    return !need_port;
  if (s[host_end] != ':')
    return false;
  port_len = n - host_end - 1;
  if (port_len > 5 || (need_port && port_len == 0))
    return false;
  for (size_t i = host_end + 1; i < n; i++)
    {
      if (!is_digit (s[i]))
        return false;
      port = port * 10 + (size_t) (s[i] - '0');
    }
  return port <= 65535;
}

/* The host a request-target names (RFC 9112 3.2), if any: absolute-form
 * "http://host[:port]/..." (scheme http or https), CONNECT's authority-form
 * "host:port".  origin-form "/..." and OPTIONS' "*" name none. */
static int
parse_target (const uint8_t *method, size_t method_len, const uint8_t *t, size_t n, char host[FLOWNAME_NAME_SIZE])
{
  static const char *const schemes[] = { "http://", "https://" };

  if (method_len == 7 && memcmp (method, "CONNECT", 7) == 0)
    return parse_host_port (t, n, true, host) ? GO_ON : FLOWNAME_INVALID;
  if (t[0] == '/' || (n == 1 && t[0] == '*' && method_len == 7 && memcmp (method, "OPTIONS", 7) == 0))
    return GO_ON;
  for (size_t i = 0; i < 2; i++)
    {
      size_t k = strlen (schemes[i]), a = k;

      if (n < k || strncasecmp ((const char *) t, schemes[i], k) != 0)
        continue;
      while (a < n && t[a] != '/' && t[a] != '?' && t[a] != '#')
        a++;
      /* An http(s) URI has a host (RFC 9110 4.2.1); user information in
       * one is an error (4.2.4). */
      return parse_host_port (t + k, a - k, false, host) ? GO_ON : FLOWNAME_INVALID;
    }
  return FLOWNAME_INVALID;
}

/* Bytes up to the first sp in b[*pos..len) ("GET " ...); a byte that
 * !ok_byte is malformed, the end of the buffer waits for more. */
static int
scan_until_space (const uint8_t *b, size_t len, size_t *pos, bool (*ok_byte) (uint8_t))
{
  for (; *pos < len; ++*pos)
    {
      if (b[*pos] == ' ')
        return GO_ON;
      if (!ok_byte (b[*pos]))
        return FLOWNAME_INVALID;
    }
  return FLOWNAME_NEED_MORE;
}

/* A request-target byte: visible, not a space or a control.  Bytes over
 * 0x7f do not belong in a URI but servers take them in a path; a host
 * with them is refused when the target is read. */
static bool
is_target_byte (uint8_t c)
{
  return c > 0x20 && c != 0x7f;
}

static bool
is_upper (uint8_t c)
{
  return c >= 'A' && c <= 'Z';
}

/* A field value byte (RFC 9110 5.5): visible, space, tab or obs-text; no
 * other control, and CR only as part of the line's CRLF. */
static bool
is_value_byte (uint8_t c)
{
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* The end of the line at b[pos], which must be CRLF: *ret_next is past the
 * LF.  A bare CR or LF is malformed (see docs/egress-names.md). */
static int
line_end (const uint8_t *b, size_t len, size_t pos, size_t *ret_next)
{
  if (pos >= len)
    return FLOWNAME_NEED_MORE;
  if (b[pos] != '\r')
    return FLOWNAME_INVALID;
  if (pos + 1 >= len)
    return FLOWNAME_NEED_MORE;
  if (b[pos + 1] != '\n')
    return FLOWNAME_INVALID;
  *ret_next = pos + 2;
  return GO_ON;
}

/* The request line, "METHOD SP request-target SP HTTP/1.x CRLF" (RFC 9112
 * 3), checked as far as it arrived; *ret_next is the start of the headers. */
static int
parse_request_line (const uint8_t *b, size_t len, size_t *ret_next, bool *ret_target_host,
                    char target_host[FLOWNAME_NAME_SIZE])
{
  static const char version[] = "HTTP/1.";
  size_t pos = 0, target;

  /* Refused at its first byte that starts no known method (methods are
   * case-sensitive, RFC 9110 9.1). */
  if (scan_until_space (b, len, &pos, is_upper) == FLOWNAME_INVALID || !is_method (b, pos, false))
    return FLOWNAME_INVALID;
  if (pos == len)
    return FLOWNAME_NEED_MORE;
  if (!is_method (b, pos, true))
    return FLOWNAME_INVALID;
  target = ++pos;
  TRY (scan_until_space (b, len, &pos, is_target_byte));
  if (pos == target)
    return FLOWNAME_INVALID;
  target_host[0] = '\0';
  TRY (parse_target (b, target - 1, b + target, pos - target, target_host));
  *ret_target_host = target_host[0] != '\0';
  pos++;
  for (size_t i = 0; i < sizeof (version); i++, pos++)
    {
      if (pos >= len)
        return FLOWNAME_NEED_MORE;
      if (i < sizeof (version) - 1 ? b[pos] != (uint8_t) version[i] : !is_digit (b[pos]))
        return FLOWNAME_INVALID;
    }
  return line_end (b, len, pos, ret_next);
}

/* One header field line at b[pos] (RFC 9112 5): name, colon, value, CRLF.
 * No whitespace before the colon and no line folding (obs-fold): RFC 9112
 * 5.1 and 5.2 let a server reject or rewrite them, so it might read a
 * different host than we would. */
static int
parse_field (const uint8_t *b, size_t len, size_t pos, size_t *ret_next, const uint8_t **ret_value,
             size_t *ret_value_len, bool *ret_is_host)
{
  size_t name = pos, value, value_end;

  while (pos < len && is_tchar (b[pos]))
    pos++;
  if (pos == len)
    return FLOWNAME_NEED_MORE;
  if (b[pos] != ':' || pos == name)
    return FLOWNAME_INVALID;
  *ret_is_host = pos - name == 4 && strncasecmp ((const char *) b + name, "host", 4) == 0;
  value = ++pos;
  while (pos < len && is_value_byte (b[pos]))
    pos++;
  TRY (line_end (b, len, pos, ret_next));
  /* Optional whitespace around the value (RFC 9110 5.5). */
  value_end = pos;
  while (value < value_end && (b[value] == ' ' || b[value] == '\t'))
    value++;
  while (value_end > value && (b[value_end - 1] == ' ' || b[value_end - 1] == '\t'))
    value_end--;
  *ret_value = b + value;
  *ret_value_len = value_end - value;
  return GO_ON;
}

static int
parse_http (const uint8_t *b, size_t len, char *ret_name, size_t name_size)
{
  char target_host[FLOWNAME_NAME_SIZE], host[FLOWNAME_NAME_SIZE] = "";
  bool has_target_host = false, has_host_field = false;
  size_t pos;

  TRY (parse_request_line (b, len, &pos, &has_target_host, target_host));
  for (;;)
    {
      const uint8_t *value;
      size_t value_len;
      bool is_host;

      if (pos < len && b[pos] == '\r')
        {
          TRY (line_end (b, len, pos, &pos));
          break; /* the empty line: end of the header section */
        }
      if (pos >= len)
        return FLOWNAME_NEED_MORE;
      TRY (parse_field (b, len, pos, &pos, &value, &value_len, &is_host));
      if (!is_host)
        continue;
      /* RFC 9110 7.2: a request with more than one Host is rejected. */
      if (has_host_field)
        return FLOWNAME_INVALID;
      has_host_field = true;
      /* An empty Host is a request without an authority (RFC 9112 3.2). */
      if (value_len > 0 && !parse_host_port (value, value_len, false, host))
        return FLOWNAME_INVALID;
    }
  /* RFC 9112 3.2.2: the target's host wins over Host; a server or proxy in
   * front of it might read either, so they must agree. */
  if (has_target_host)
    {
      if (has_host_field && strcmp (host, target_host) != 0)
        return FLOWNAME_INVALID;
      return answer (FLOWNAME_NAME, target_host, ret_name, name_size);
    }
  if (host[0] == '\0')
    return FLOWNAME_NO_NAME; /* HTTP/1.0, or a host-less HTTP/1.1 request */
  return answer (FLOWNAME_NAME, host, ret_name, name_size);
}

/* ---- both ---- */

enum flowname_status
flowname_parse (const uint8_t *buf, size_t len, char *ret_name, size_t name_size)
{
  size_t n = len < FLOWNAME_MAX_BYTES ? len : FLOWNAME_MAX_BYTES;
  int status;

  if (n == 0)
    return FLOWNAME_NEED_MORE;
  if (buf[0] == TLS_CONTENT_HANDSHAKE)
    status = parse_tls (buf, n, ret_name, name_size);
  else
    status = parse_http (buf, n, ret_name, name_size);
  /* Still incomplete with the bound reached: it never completes in time. */
  if (status == FLOWNAME_NEED_MORE && len >= FLOWNAME_MAX_BYTES)
    return FLOWNAME_TOO_LONG;
  return (enum flowname_status) status;
}

const char *
flowname_status_name (enum flowname_status status)
{
  switch (status)
    {
    case FLOWNAME_NAME:
      return "name";
    case FLOWNAME_NEED_MORE:
      return "need-more";
    case FLOWNAME_NO_NAME:
      return "no-name";
    case FLOWNAME_ECH:
      return "ech";
    case FLOWNAME_TOO_LONG:
      return "too-long";
    case FLOWNAME_INVALID:
      return "invalid";
    }
  return "unknown";
}
