/* corral: parsing and comparison of egress allowlist entries. */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>

#include "shim/util.h"
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

int
egress_rule_parse (const char *s, egress_rule_t *ret, corral_error_t *err)
{
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
  else
    return corral_error_make (err, 0,
                              "egress entry \"%s\": \"%s\" is not an IPv4 or IPv6 address (domain names need the "
                              "DNS guard)",
                              s, addr);
  r.prefix = r.family == AF_INET ? 32 : 128;
  if (slash)
    {
      if (parse_u (slash, r.prefix, &v) < 0)
        return corral_error_make (err, 0, "egress entry \"%s\": invalid prefix length \"%s\"", s, slash);
      r.prefix = (unsigned) v;
    }
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

char *
egress_rule_format (const egress_rule_t *r)
{
  char addr[INET6_ADDRSTRLEN];
  char *out;

  inet_ntop (r->family, r->addr, addr, sizeof (addr));
  if (r->port == 0)
    xasprintf (&out, "%s/%u", addr, r->prefix);
  else if (r->family == AF_INET)
    xasprintf (&out, "%s/%u:%u%s", addr, r->prefix, r->port,
               r->proto == IPPROTO_TCP   ? "/tcp"
               : r->proto == IPPROTO_UDP ? "/udp"
                                         : "");
  else
    xasprintf (&out, "[%s/%u]:%u%s", addr, r->prefix, r->port,
               r->proto == IPPROTO_TCP   ? "/tcp"
               : r->proto == IPPROTO_UDP ? "/udp"
                                         : "");
  return out;
}

bool
egress_rule_within (const egress_rule_t *inner, const egress_rule_t *outer)
{
  uint8_t masked[16];

  if (inner->family != outer->family || inner->prefix < outer->prefix)
    return false;
  if (outer->port && inner->port != outer->port)
    return false;
  if (outer->proto && inner->proto != outer->proto)
    return false;
  memcpy (masked, inner->addr, sizeof (masked));
  clear_host_bits (masked, inner->family == AF_INET ? 4 : 16, outer->prefix);
  return memcmp (masked, outer->addr, inner->family == AF_INET ? 4 : 16) == 0;
}
