/* corral: parsing and comparison of egress allowlist entries (addresses and
 * domain names). */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>

#include "base/util.h"
#include "spec/egress.h"

static int
parse_u (const char *s, unsigned long max, unsigned long *ret)
{
  char *end;
  unsigned long v;

  if (*s < '0' || *s > '9')
    return -1;
  errno = 0;
  v = strtoul (s, &end, 10);
  if (errno || *end || v > max)
    return -1;
  *ret = v;
  return 0;
}

static void
clear_host_bits (uint8_t *addr, unsigned len, unsigned prefix)
{
  for (unsigned i = 0; i < len; i++)
    {
      unsigned bits = prefix > i * 8 ? prefix - i * 8 : 0;
      if (bits < 8)
        addr[i] &= (uint8_t) (0xff << (8 - bits));
    }
}

static char
ascii_lower (char c)
{
  return c >= 'A' && c <= 'Z' ? (char) (c - 'A' + 'a') : c;
}

static bool
is_name_char (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* A domain entry's name into r.  Only ASCII letters, digits, '-' and '_'
 * in labels of 1..63 bytes: IDNA names are written as their A-labels, so
 * comparisons stay byte-wise on ASCII and no Unicode folding is involved.
 * Returns 1 when the text looks like a (bad) IP address, not a name. */
static int
parse_name (const char *s, const char *text, egress_rule_t *r, corral_error_t *err)
{
  size_t len, label = 0;
  bool digits_only = true;

  for (const char *c = text; *c; c++)
    if ((unsigned char) *c >= 0x80)
      return corral_error_make (err, 0,
                                "egress entry \"%s\": non-ASCII domain name; write it as its IDNA A-label "
                                "(\"xn--...\")",
                                s);
  if (text[0] == '*')
    {
      if (text[1] != '.')
        return corral_error_make (err, 0, "egress entry \"%s\": a wildcard is written \"*.suffix\"", s);
      r->wildcard = true;
      text += 2;
    }
  len = strlen (text);
  if (len > 0 && text[len - 1] == '.')
    len--; /* "example.test." is "example.test" */
  if (len == 0 || len > EGRESS_NAME_MAX)
    return corral_error_make (err, 0, "egress entry \"%s\": a domain name has 1 to %d characters", s, EGRESS_NAME_MAX);
  for (size_t i = 0; i <= len; i++)
    {
      char c = i < len ? ascii_lower (text[i]) : '.';

      if (c == '.')
        {
          if (label == 0 || label > 63)
            return corral_error_make (err, 0, "egress entry \"%s\": empty or over-long (> 63) label", s);
          if (r->name[i - 1] == '-' || r->name[i - label] == '-')
            return corral_error_make (err, 0, "egress entry \"%s\": a label starts or ends with '-'", s);
          if (i < len)
            digits_only = true;
          label = 0;
        }
      else if (!is_name_char (c))
        return corral_error_make (err, 0,
                                  "egress entry \"%s\": '%c' in a domain name (letters, digits, '-' and '_' "
                                  "only; a wildcard only as a leading \"*.\")",
                                  s, c);
      else
        {
          label++;
          digits_only &= c >= '0' && c <= '9';
        }
      if (i < len)
        r->name[i] = c;
    }
  r->name[len] = '\0';
  /* No top-level domain is numeric (RFC 3696 2): "192.0.2.256" is a
   * mistyped address, not a name. */
  if (digits_only)
    {
      memset (r->name, 0, sizeof (r->name));
      r->wildcard = false;
      return 1;
    }
  return 0;
}

int
egress_rule_parse (const char *s, egress_rule_t *ret, corral_error_t *err)
{
  bool bracketed = false;
  cleanup_free char *copy = xstrdup (s);
  egress_rule_t r = { 0 };
  char *addr = copy, *port = NULL, *proto = NULL, *slash;
  unsigned long v;

  if (*addr == '[')
    {
      char *close = strchr (addr, ']');
      if (close == NULL)
        return corral_error_make (err, 0, "egress entry \"%s\": missing ']'", s);
      *close = '\0';
      addr++;
      bracketed = true;
      if (close[1] == ':')
        port = close + 2;
      else if (close[1] != '\0')
        return corral_error_make (err, 0, "egress entry \"%s\": expected ':' after ']'", s);
    }
  else if (strchr (addr, ':') == strrchr (addr, ':') && strchr (addr, ':'))
    {
      /* One colon: IPv4 with a port.  More than one: a bare IPv6 address. */
      port = strchr (addr, ':');
      *port++ = '\0';
    }
  if (port && (proto = strchr (port, '/')))
    *proto++ = '\0';

  slash = strchr (addr, '/');
  if (slash)
    *slash++ = '\0';
  if (inet_pton (AF_INET, addr, r.addr) == 1)
    r.family = AF_INET;
  else if (inet_pton (AF_INET6, addr, r.addr) == 1)
    r.family = AF_INET6;
  else if (!bracketed && *addr && strchr (addr, ':') == NULL)
    {
      int n = parse_name (s, addr, &r, err);

      if (n < 0)
        return -1;
      if (n > 0)
        return corral_error_make (err, 0, "egress entry \"%s\": \"%s\" is not an IPv4 or IPv6 address", s, addr);
      if (slash)
        return corral_error_make (err, 0, "egress entry \"%s\": a domain name takes no prefix length", s);
    }
  else
    return corral_error_make (err, 0, "egress entry \"%s\": \"%s\" is not an IPv4 or IPv6 address", s, addr);
  if (r.family)
    r.prefix = r.family == AF_INET ? 32 : 128;
  if (slash && r.family)
    {
      if (parse_u (slash, r.prefix, &v) < 0)
        return corral_error_make (err, 0, "egress entry \"%s\": invalid prefix length \"%s\"", s, slash);
      r.prefix = (unsigned) v;
    }
  if (r.family)
    clear_host_bits (r.addr, r.family == AF_INET ? 4 : 16, r.prefix);

  if (port)
    {
      if (parse_u (port, 65535, &v) < 0 || v == 0)
        return corral_error_make (err, 0, "egress entry \"%s\": invalid port \"%s\"", s, port);
      r.port = (uint16_t) v;
    }
  if (proto)
    {
      if (str_eq (proto, "tcp"))
        r.proto = IPPROTO_TCP;
      else if (str_eq (proto, "udp"))
        r.proto = IPPROTO_UDP;
      else
        return corral_error_make (err, 0, "egress entry \"%s\": protocol \"%s\" is not tcp or udp", s, proto);
    }
  *ret = r;
  return 0;
}

static const char *
proto_suffix (const egress_rule_t *r)
{
  return r->proto == IPPROTO_TCP ? "/tcp" : r->proto == IPPROTO_UDP ? "/udp" : "";
}

char *
egress_rule_format (const egress_rule_t *r)
{
  char addr[INET6_ADDRSTRLEN];
  char *out;

  if (egress_rule_is_name (r))
    {
      if (r->port == 0)
        xasprintf (&out, "%s%s", r->wildcard ? "*." : "", r->name);
      else
        xasprintf (&out, "%s%s:%u%s", r->wildcard ? "*." : "", r->name, r->port, proto_suffix (r));
      return out;
    }
  inet_ntop (r->family, r->addr, addr, sizeof (addr));
  if (r->port == 0)
    xasprintf (&out, "%s/%u", addr, r->prefix);
  else if (r->family == AF_INET)
    xasprintf (&out, "%s/%u:%u%s", addr, r->prefix, r->port, proto_suffix (r));
  else
    xasprintf (&out, "[%s/%u]:%u%s", addr, r->prefix, r->port, proto_suffix (r));
  return out;
}

/* Is name strictly below suffix ("a.b.test" below "b.test")? */
static bool
name_below (const char *name, const char *suffix)
{
  size_t n = strlen (name), k = strlen (suffix);
  return n > k + 1 && name[n - k - 1] == '.' && memcmp (name + n - k, suffix, k) == 0;
}

bool
egress_rule_matches_name (const egress_rule_t *r, const char *name)
{
  char folded[EGRESS_NAME_MAX + 1];
  size_t n = strlen (name);

  if (!egress_rule_is_name (r) || n == 0 || n > EGRESS_NAME_MAX)
    return false;
  for (size_t i = 0; i <= n; i++)
    {
      folded[i] = ascii_lower (name[i]);
      if (i < n && folded[i] != '.' && !is_name_char (folded[i]))
        return false;
    }
  if (folded[n - 1] == '.')
    folded[n - 1] = '\0';
  return r->wildcard ? name_below (folded, r->name) : strcmp (folded, r->name) == 0;
}

bool
egress_rule_within (const egress_rule_t *inner, const egress_rule_t *outer)
{
  uint8_t masked[16];

  if (outer->port && inner->port != outer->port)
    return false;
  if (outer->proto && inner->proto != outer->proto)
    return false;
  if (egress_rule_is_name (inner) || egress_rule_is_name (outer))
    {
      if (!egress_rule_is_name (inner) || !egress_rule_is_name (outer))
        return false;
      if (!outer->wildcard)
        return !inner->wildcard && strcmp (inner->name, outer->name) == 0;
      /* *.s holds *.s, *.x.s and x.s, never s itself. */
      return strcmp (inner->name, outer->name) == 0 ? inner->wildcard : name_below (inner->name, outer->name);
    }
  if (inner->family != outer->family || inner->prefix < outer->prefix)
    return false;
  memcpy (masked, inner->addr, sizeof (masked));
  clear_host_bits (masked, inner->family == AF_INET ? 4 : 16, outer->prefix);
  return memcmp (masked, outer->addr, inner->family == AF_INET ? 4 : 16) == 0;
}

int
ingress_port_parse (const char *s, ingress_port_t *ret, corral_error_t *err)
{
  cleanup_free char *copy = xstrdup (s);
  char *proto = strchr (copy, '/');
  ingress_port_t p = { 0 };
  unsigned long v;

  if (proto)
    *proto++ = '\0';
  if (parse_u (copy, 65535, &v) < 0 || v == 0)
    return corral_error_make (err, 0, "ingress entry \"%s\": \"%s\" is not a port (1-65535)", s, copy);
  p.port = (uint16_t) v;
  if (proto && str_eq (proto, "tcp"))
    p.proto = IPPROTO_TCP;
  else if (proto && str_eq (proto, "udp"))
    p.proto = IPPROTO_UDP;
  else if (proto)
    return corral_error_make (err, 0, "ingress entry \"%s\": protocol \"%s\" is not tcp or udp", s, proto);
  *ret = p;
  return 0;
}

char *
ingress_port_format (const ingress_port_t *p)
{
  char *out;

  xasprintf (&out, "%u%s", p->port, p->proto == IPPROTO_TCP ? "/tcp" : p->proto == IPPROTO_UDP ? "/udp" : "");
  return out;
}
