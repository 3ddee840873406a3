/* corral: a small DNS message parser and error-reply builder (RFC 1035,
 * RFC 2181 for TTLs, RFC 6891 for the OPT record).  Only what the DNS guard
 * reads; every access is checked against the message length. */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>

#include "base/util.h"
#include "spec/dns.h"

/* RFC 1035 2.3.4: 255 octets of a name on the wire, 63 of a label. */
#define NAME_WIRE_MAX 255
#define CHAIN_MAX 16

static uint16_t
get16 (const uint8_t *p)
{
  return (uint16_t) ((p[0] << 8) | p[1]);
}

static uint32_t
get32 (const uint8_t *p)
{
  return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) | p[3];
}

static void
put16 (uint8_t *p, uint16_t v)
{
  p[0] = (uint8_t) (v >> 8);
  p[1] = (uint8_t) v;
}

int
dns_parse_header (const uint8_t *msg, size_t len, dns_header_t *ret)
{
  if (msg == NULL || len < DNS_HEADER_LEN)
    return -1;
  ret->id = get16 (msg);
  ret->flags = get16 (msg + 2);
  ret->qdcount = get16 (msg + 4);
  ret->ancount = get16 (msg + 6);
  ret->nscount = get16 (msg + 8);
  ret->arcount = get16 (msg + 10);
  return 0;
}

static bool
is_name_byte (uint8_t c)
{
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

struct text
{
  char *out;
  size_t size, len;
};

static int
text_put (struct text *t, const char *s, size_t n)
{
  if (t->len + n + 1 > t->size)
    return -1;
  memcpy (t->out + t->len, s, n);
  t->len += n;
  t->out[t->len] = '\0';
  return 0;
}

int
dns_read_name (const uint8_t *msg, size_t len, size_t off, char *out, size_t out_size, bool *ret_hostname,
               size_t *ret_next)
{
  struct text t = { .out = out, .size = out_size };
  /* A pointer must point before the first label of the run that contains
   * it (a name earlier in the message): each jump lowers this limit, so a
   * name is read in finitely many steps, whatever the message holds. */
  size_t pos = off, limit = off, wire = 0, next = 0;
  bool jumped = false, hostname = true;

  if (out_size == 0)
    return -1;
  out[0] = '\0';
  for (;;)
    {
      uint8_t c;

      if (pos >= len)
        return -1;
      c = msg[pos];
      if ((c & 0xc0) == 0xc0)
        {
          size_t target;

          if (pos + 1 >= len)
            return -1;
          target = ((size_t) (c & 0x3f) << 8) | msg[pos + 1];
          if (target >= limit || target < DNS_HEADER_LEN)
            return -1;
          if (!jumped)
            next = pos + 2;
          jumped = true;
          pos = limit = target;
          continue;
        }
      if (c & 0xc0)
        return -1; /* extended label types (RFC 6891 5) are not in use */
      if (c == 0)
        {
          if (!jumped)
            next = pos + 1;
          break;
        }
      wire += (size_t) c + 1;
      if (wire + 1 > NAME_WIRE_MAX || pos + 1 + c > len)
        return -1;
      if (t.len > 0 && text_put (&t, ".", 1) < 0)
        return -1;
      for (size_t i = 0; i < c; i++)
        {
          uint8_t b = msg[pos + 1 + i];
          char esc[8];

          if (b >= 'A' && b <= 'Z')
            b = (uint8_t) (b - 'A' + 'a');
          if (is_name_byte (b))
            {
              if (text_put (&t, (const char *) &b, 1) < 0)
                return -1;
              continue;
            }
          hostname = false;
          snprintf (esc, sizeof (esc), "\\%03u", b);
          if (text_put (&t, esc, 4) < 0)
            return -1;
        }
      pos += 1 + (size_t) c;
    }
  if (t.len == 0)
    {
      hostname = false;
      if (text_put (&t, ".", 1) < 0)
        return -1;
    }
  if (ret_hostname)
    *ret_hostname = hostname;
  if (ret_next)
    *ret_next = next;
  return 0;
}

/* Skip one resource record at *off; its type, class and rdata offset and
 * length to the caller. */
static int
read_rr (const uint8_t *msg, size_t len, size_t *off, char *owner, size_t owner_size, uint16_t *ret_type,
         uint16_t *ret_class, uint32_t *ret_ttl, size_t *ret_rdata, uint16_t *ret_rdlen)
{
  char scratch[DNS_NAME_TEXT_MAX];
  size_t p;
  uint16_t rdlen;

  if (dns_read_name (msg, len, *off, owner ? owner : scratch, owner ? owner_size : sizeof (scratch), NULL, &p) < 0)
    return -1;
  if (p + 10 > len)
    return -1;
  rdlen = get16 (msg + p + 8);
  if (p + 10 + rdlen > len)
    return -1;
  *ret_type = get16 (msg + p);
  *ret_class = get16 (msg + p + 2);
  *ret_ttl = get32 (msg + p + 4);
  *ret_rdata = p + 10;
  *ret_rdlen = rdlen;
  *off = p + 10 + rdlen;
  return 0;
}

int
dns_parse_question (const uint8_t *msg, size_t len, dns_question_t *ret)
{
  dns_question_t q = { 0 };
  size_t off;
  unsigned skip;

  if (dns_parse_header (msg, len, &q.hdr) < 0 || q.hdr.qdcount != 1)
    return -1;
  if (dns_read_name (msg, len, DNS_HEADER_LEN, q.name, sizeof (q.name), &q.hostname, &off) < 0 || off + 4 > len)
    return -1;
  q.qtype = get16 (msg + off);
  q.qclass = get16 (msg + off + 2);
  q.end = off + 4;
  off = q.end;

  /* Walk the other sections to find an OPT record; each record takes at
   * least 11 bytes, so the walk is bounded by the length. */
  skip = (unsigned) q.hdr.ancount + q.hdr.nscount;
  for (unsigned i = 0; i < skip + q.hdr.arcount; i++)
    {
      uint16_t type, rclass, rdlen;
      uint32_t ttl;
      size_t rdata;

      if (read_rr (msg, len, &off, NULL, 0, &type, &rclass, &ttl, &rdata, &rdlen) < 0)
        return -1;
      if (i >= skip && type == DNS_TYPE_OPT)
        q.edns_udp_size = rclass < DNS_UDP_MAX ? DNS_UDP_MAX : rclass;
    }
  *ret = q;
  return 0;
}

void
dns_answer_release (dns_answer_t *a)
{
  for (size_t i = 0; i < a->n; i++)
    {
      free (a->rrs[i].owner);
      free (a->rrs[i].target);
    }
  free (a->rrs);
  a->rrs = NULL;
  a->n = 0;
}

int
dns_parse_answer (const uint8_t *msg, size_t len, dns_answer_t *ret)
{
  dns_answer_t a = { 0 };
  size_t off = DNS_HEADER_LEN, cap = 0;

  if (dns_parse_header (msg, len, &a.hdr) < 0)
    return -1;
  for (unsigned i = 0; i < a.hdr.qdcount; i++)
    {
      char scratch[DNS_NAME_TEXT_MAX];
      if (dns_read_name (msg, len, off, scratch, sizeof (scratch), NULL, &off) < 0 || off + 4 > len)
        return -1;
      off += 4;
    }
  for (unsigned i = 0; i < a.hdr.ancount; i++)
    {
      char owner[DNS_NAME_TEXT_MAX];
      char target[DNS_NAME_TEXT_MAX];
      uint16_t type, rclass, rdlen;
      uint32_t ttl;
      size_t rdata, end;
      dns_rr_t *rr;

      if (read_rr (msg, len, &off, owner, sizeof (owner), &type, &rclass, &ttl, &rdata, &rdlen) < 0)
        goto malformed;
      if (rclass != DNS_CLASS_IN || (type != DNS_TYPE_A && type != DNS_TYPE_AAAA && type != DNS_TYPE_CNAME))
        continue;
      if ((type == DNS_TYPE_A && rdlen != 4) || (type == DNS_TYPE_AAAA && rdlen != 16))
        goto malformed;
      if (type == DNS_TYPE_CNAME
          && (dns_read_name (msg, rdata + rdlen, rdata, target, sizeof (target), NULL, &end) < 0
              || end != rdata + rdlen))
        goto malformed;
      if (a.n == cap)
        {
          cap = cap ? cap * 2 : 8;
          a.rrs = xrealloc (a.rrs, cap * sizeof (*a.rrs));
        }
      rr = &a.rrs[a.n++];
      memset (rr, 0, sizeof (*rr));
      rr->owner = xstrdup (owner);
      rr->type = type;
      rr->rclass = rclass;
      /* RFC 2181 8: a TTL with the top bit set is read as zero. */
      rr->ttl = ttl & 0x80000000u ? 0 : ttl;
      if (type == DNS_TYPE_CNAME)
        rr->target = xstrdup (target);
      else
        memcpy (rr->addr, msg + rdata, rdlen);
    }
  /* The other sections are passed on as they are, so they must be whole. */
  for (unsigned i = 0; i < (unsigned) a.hdr.nscount + a.hdr.arcount; i++)
    {
      uint16_t type, rclass, rdlen;
      uint32_t ttl;
      size_t rdata;

      if (read_rr (msg, len, &off, NULL, 0, &type, &rclass, &ttl, &rdata, &rdlen) < 0)
        goto malformed;
    }
  *ret = a;
  return 0;

malformed:
  dns_answer_release (&a);
  return -1;
}

void
dns_chain_release (dns_chain_t *c)
{
  strv_free (c->names);
  free (c->addrs);
  memset (c, 0, sizeof (*c));
}

void
dns_answer_chain (const dns_answer_t *a, const char *qname, dns_chain_t *ret)
{
  dns_chain_t c = { 0 };
  uint32_t chain_ttl[CHAIN_MAX + 1];
  size_t cap = 0;

  c.names = xmalloc0 ((CHAIN_MAX + 2) * sizeof (char *));
  c.names[c.n_names] = xstrdup (qname);
  chain_ttl[c.n_names++] = UINT32_MAX;
  while (c.n_names <= CHAIN_MAX)
    {
      const dns_rr_t *next = NULL;
      bool seen = false;

      for (size_t i = 0; i < a->n && next == NULL; i++)
        if (a->rrs[i].type == DNS_TYPE_CNAME && str_eq (a->rrs[i].owner, c.names[c.n_names - 1]))
          next = &a->rrs[i];
      if (next == NULL)
        break;
      for (size_t k = 0; k < c.n_names; k++)
        seen |= str_eq (c.names[k], next->target);
      if (seen)
        break; /* a CNAME loop: nothing more to follow */
      chain_ttl[c.n_names] = next->ttl < chain_ttl[c.n_names - 1] ? next->ttl : chain_ttl[c.n_names - 1];
      c.names[c.n_names++] = xstrdup (next->target);
    }
  for (size_t i = 0; i < a->n; i++)
    {
      const dns_rr_t *rr = &a->rrs[i];

      if (rr->type != DNS_TYPE_A && rr->type != DNS_TYPE_AAAA)
        continue;
      for (size_t k = 0; k < c.n_names; k++)
        {
          dns_address_t *ad;

          if (!str_eq (rr->owner, c.names[k]))
            continue;
          if (c.n_addrs == cap)
            {
              cap = cap ? cap * 2 : 8;
              c.addrs = xrealloc (c.addrs, cap * sizeof (*c.addrs));
            }
          ad = &c.addrs[c.n_addrs++];
          memset (ad, 0, sizeof (*ad));
          ad->family = rr->type == DNS_TYPE_A ? AF_INET : AF_INET6;
          memcpy (ad->addr, rr->addr, rr->type == DNS_TYPE_A ? 4 : 16);
          ad->ttl = rr->ttl < chain_ttl[k] ? rr->ttl : chain_ttl[k];
          break;
        }
    }
  *ret = c;
}

size_t
dns_build_error (const uint8_t *query, const dns_question_t *q, int rcode, uint8_t *out, size_t out_size)
{
  uint16_t flags;

  if (q->end < DNS_HEADER_LEN || q->end > out_size)
    return 0;
  memcpy (out, query, q->end);
  flags = (uint16_t) (DNS_FLAG_QR | (q->hdr.flags & (0xf << 11)) | (q->hdr.flags & DNS_FLAG_RD) | DNS_FLAG_RA
                      | (rcode & 0xf));
  put16 (out + 2, flags);
  put16 (out + 4, 1);
  put16 (out + 6, 0);
  put16 (out + 8, 0);
  put16 (out + 10, 0);
  return q->end;
}

int
dns_parse_server (const char *s, struct sockaddr_storage *ret, socklen_t *ret_len, corral_error_t *err)
{
  cleanup_free char *copy = xstrdup (s);
  struct sockaddr_storage ss = { 0 };
  char *host = copy, *port = NULL;
  unsigned long p = DNS_DEFAULT_PORT;

  if (*host == '[')
    {
      char *close = strchr (host, ']');
      if (close == NULL || (close[1] != '\0' && close[1] != ':'))
        return corral_error_make (err, 0, "DNS server \"%s\": expected \"[IPv6]:port\"", s);
      *close = '\0';
      host++;
      if (close[1] == ':')
        port = close + 2;
    }
  else if (strchr (host, ':') && strchr (host, ':') == strrchr (host, ':'))
    {
      port = strchr (host, ':');
      *port++ = '\0';
    }
  if (port)
    {
      char *end;
      errno = 0;
      p = strtoul (port, &end, 10);
      if (*port < '0' || *port > '9' || errno || *end || p == 0 || p > 65535)
        return corral_error_make (err, 0, "DNS server \"%s\": invalid port \"%s\"", s, port);
    }
  if (inet_pton (AF_INET, host, &((struct sockaddr_in *) &ss)->sin_addr) == 1)
    {
      ((struct sockaddr_in *) &ss)->sin_family = AF_INET;
      ((struct sockaddr_in *) &ss)->sin_port = htons ((uint16_t) p);
      *ret_len = sizeof (struct sockaddr_in);
    }
  else if (inet_pton (AF_INET6, host, &((struct sockaddr_in6 *) &ss)->sin6_addr) == 1)
    {
      ((struct sockaddr_in6 *) &ss)->sin6_family = AF_INET6;
      ((struct sockaddr_in6 *) &ss)->sin6_port = htons ((uint16_t) p);
      *ret_len = sizeof (struct sockaddr_in6);
    }
  else
    return corral_error_make (err, 0, "DNS server \"%s\": \"%s\" is not an IPv4 or IPv6 address", s, host);
  *ret = ss;
  return 0;
}

const char *
dns_type_name (uint16_t type, char buf[16])
{
  static const struct
  {
    uint16_t type;
    const char *name;
  } names[]
      = { { 1, "A" },     { 2, "NS" },   { 5, "CNAME" }, { 6, "SOA" },   { 12, "PTR" },   { 15, "MX" },  { 16, "TXT" },
          { 28, "AAAA" }, { 33, "SRV" }, { 41, "OPT" },  { 64, "SVCB" }, { 65, "HTTPS" }, { 255, "ANY" } };

  for (size_t i = 0; i < sizeof (names) / sizeof (names[0]); i++)
    if (names[i].type == type)
      return names[i].name;
  snprintf (buf, 16, "TYPE%u", type);
  return buf;
}

int
dns_resolv_conf_nameserver (const char *text, size_t len, char **ret)
{
  const char *p = text, *end = text + len;

  while (p < end)
    {
      const char *eol = memchr (p, '\n', (size_t) (end - p));
      size_t n = eol ? (size_t) (eol - p) : (size_t) (end - p);
      cleanup_free char *line = xstrndup (p, n);
      char *save = NULL;
      char *key = strtok_r (line, " \t\r", &save);
      char *addr = key ? strtok_r (NULL, " \t\r", &save) : NULL;
      struct sockaddr_storage ss;
      socklen_t sl;

      p += n + 1;
      /* Only a bare address: "IP:port" (one colon) and "[IPv6]" are not
       * resolv.conf syntax. */
      if (key && addr && str_eq (key, "nameserver") && strchr (addr, '[') == NULL
          && !(strchr (addr, ':') && strchr (addr, ':') == strrchr (addr, ':'))
          && dns_parse_server (addr, &ss, &sl, NULL) == 0)
        {
          *ret = xstrdup (addr);
          return 1;
        }
    }
  return 0;
}
