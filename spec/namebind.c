/* corral: name-bound egress (see namebind.h). */
#include "config.h"

#include <string.h>
#include <sys/socket.h>

#include "base/util.h"
#include "spec/namebind.h"

static const uint8_t v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* ::ffff:a.b.c.d is a.b.c.d: the kernel sends a v4-mapped destination as
 * IPv4, and the flow's packets say so. */
static void
canonical_addr (int family, const uint8_t *addr, int *ret_family, uint8_t ret_addr[16])
{
  memset (ret_addr, 0, 16);
  if (family == AF_INET6 && memcmp (addr, v4_mapped, sizeof (v4_mapped)) == 0)
    {
      *ret_family = AF_INET;
      memcpy (ret_addr, addr + 12, 4);
      return;
    }
  *ret_family = family;
  memcpy (ret_addr, addr, family == AF_INET ? 4 : 16);
}

static bool
same_addr (const namebind_entry_t *e, int family, const uint8_t *addr)
{
  return e->family == family && memcmp (e->addr, addr, family == AF_INET ? 4 : 16) == 0;
}

void
namebind_release (namebind_t *t)
{
  free (t->e);
  t->e = NULL;
  t->n = 0;
}

void
namebind_add (namebind_t *t, const char *name, int family, const uint8_t *addr, uint64_t expires_ms)
{
  namebind_entry_t *slot = NULL;
  uint8_t a[16];
  int f;

  if (strlen (name) > EGRESS_NAME_MAX)
    return;
  canonical_addr (family, addr, &f, a);
  for (size_t i = 0; i < t->n && slot == NULL; i++)
    if (same_addr (&t->e[i], f, a) && str_eq (t->e[i].name, name))
      slot = &t->e[i];
  if (slot == NULL && t->n < NAMEBIND_MAX)
    {
      t->e = xrealloc (t->e, (t->n + 1) * sizeof (*t->e));
      slot = &t->e[t->n++];
    }
  if (slot == NULL)
    {
      slot = &t->e[0];
      for (size_t i = 1; i < t->n; i++)
        if (t->e[i].expires_ms < slot->expires_ms)
          slot = &t->e[i];
    }
  else if (str_eq (slot->name, name) && slot->expires_ms > expires_ms)
    return; /* an earlier answer holds it longer */
  memset (slot, 0, sizeof (*slot));
  strcpy (slot->name, name);
  slot->family = f;
  memcpy (slot->addr, a, sizeof (a));
  slot->expires_ms = expires_ms;
}

static bool
rule_allows (const egress_rule_t *r, const char *name, uint8_t proto, uint16_t port)
{
  return egress_rule_is_name (r) && (r->port == 0 || r->port == port) && (r->proto == 0 || r->proto == proto)
         && egress_rule_matches_name (r, name);
}

enum namebind_verdict
namebind_check (const namebind_t *t, const egress_rule_t *rules, size_t n_rules, const char *name, int family,
                const uint8_t *addr, uint8_t proto, uint16_t port, uint64_t now_ms)
{
  bool allowed = false;
  uint8_t a[16];
  int f;

  for (size_t i = 0; i < n_rules && !allowed; i++)
    allowed = rule_allows (&rules[i], name, proto, port);
  if (!allowed)
    return NAMEBIND_NOT_ALLOWED;
  canonical_addr (family, addr, &f, a);
  for (size_t i = 0; i < t->n; i++)
    if (same_addr (&t->e[i], f, a) && t->e[i].expires_ms > now_ms && str_eq (t->e[i].name, name))
      return NAMEBIND_ALLOW;
  return NAMEBIND_NOT_BOUND;
}

char *
namebind_names_for (const namebind_t *t, int family, const uint8_t *addr, uint64_t now_ms, size_t max)
{
  char *out = xstrdup ("");
  size_t found = 0;
  uint8_t a[16];
  int f;

  canonical_addr (family, addr, &f, a);
  for (size_t i = 0; i < t->n && found < max; i++)
    if (same_addr (&t->e[i], f, a) && t->e[i].expires_ms > now_ms)
      {
        char *next;
        xasprintf (&next, "%s%s%s", out, found ? "," : "", t->e[i].name);
        free (out);
        out = next;
        found++;
      }
  return out;
}

const char *
namebind_verdict_name (enum namebind_verdict v)
{
  switch (v)
    {
    case NAMEBIND_ALLOW:
      return "allowed";
    case NAMEBIND_NOT_ALLOWED:
      return "name not in the allowlist for this port";
    case NAMEBIND_NOT_BOUND:
      return "name did not resolve to this address in this container";
    }
  return "?";
}
