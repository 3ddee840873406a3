/* corral: unit tests of name-bound egress's judgment (spec/namebind.[ch]):
 * which names resolved to which addresses, and whether a new flow's name
 * may reach its address. */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>

#include "base/util.h"
#include "spec/egress.h"
#include "spec/namebind.h"
#include "spec/policy.h"
#include "tests/unit/tap.h"

#define cleanup_binds __attribute__ ((cleanup (namebind_release)))

/* The allowlist of the tests: one exact name on 443/tcp, a wildcard on any
 * port, a name on 8080 only, and an address. */
static const char *const allowlist[]
    = { "api.allowed.test:443/tcp", "*.cdn.test", "web.allowed.test:8080/tcp", "192.0.2.7:443/tcp" };
#define N_RULES (sizeof (allowlist) / sizeof (allowlist[0]))

static void
load_rules (egress_rule_t rules[N_RULES])
{
  for (size_t i = 0; i < N_RULES; i++)
    {
      cleanup_error corral_error_t err = NULL;
      if (egress_rule_parse (allowlist[i], &rules[i], &err) < 0)
        bail_out ("allowlist entry %s: %s", allowlist[i], err->msg);
    }
}

static const uint8_t *
v4 (const char *s, uint8_t out[16])
{
  memset (out, 0, 16);
  if (inet_pton (AF_INET, s, out) != 1)
    bail_out ("bad IPv4 %s", s);
  return out;
}

static const uint8_t *
v6 (const char *s, uint8_t out[16])
{
  if (inet_pton (AF_INET6, s, out) != 1)
    bail_out ("bad IPv6 %s", s);
  return out;
}

static void
test_check (void)
{
  cleanup_binds namebind_t t = { 0 };
  egress_rule_t rules[N_RULES];
  uint8_t front[16], other[16], six[16], mapped[16];
  static const struct
  {
    const char *name, *addr;
    uint16_t port;
    enum namebind_verdict want;
    const char *what;
  } cases[] = {
    { "api.allowed.test", "10.88.0.1", 443, NAMEBIND_ALLOW, "the allowed name on the address it resolved to" },
    { "evil.test", "10.88.0.1", 443, NAMEBIND_NOT_ALLOWED, "another name on the same shared address (fronting)" },
    { "api.allowed.test", "10.88.0.9", 443, NAMEBIND_NOT_BOUND, "the allowed name on an address it never resolved to" },
    { "api.allowed.test", "10.88.0.1", 8443, NAMEBIND_NOT_ALLOWED,
      "the allowed name on a port its entry does not name" },
    { "img.cdn.test", "10.88.0.1", 8443, NAMEBIND_ALLOW, "a wildcard name on any port" },
    { "cdn.test", "10.88.0.1", 443, NAMEBIND_NOT_ALLOWED, "the wildcard's apex is not under it" },
    { "web.allowed.test", "10.88.0.1", 8080, NAMEBIND_NOT_BOUND, "an allowed name that resolved elsewhere" },
    { "web.allowed.test", "10.88.0.2", 8080, NAMEBIND_ALLOW, "and its own address" },
  };

  load_rules (rules);
  namebind_add (&t, "api.allowed.test", AF_INET, v4 ("10.88.0.1", front), 10000);
  namebind_add (&t, "img.cdn.test", AF_INET, front, 10000);
  namebind_add (&t, "web.allowed.test", AF_INET, v4 ("10.88.0.2", other), 10000);
  for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++)
    {
      uint8_t a[16];
      enum namebind_verdict v = namebind_check (&t, rules, N_RULES, cases[i].name, AF_INET, v4 (cases[i].addr, a),
                                                IPPROTO_TCP, cases[i].port, 5000);
      ok (v == cases[i].want, "%s: %s", cases[i].what, namebind_verdict_name (v));
    }

  /* Time: past TTL + grace the binding is gone. */
  ok (namebind_check (&t, rules, N_RULES, "api.allowed.test", AF_INET, front, IPPROTO_TCP, 443, 10000)
          == NAMEBIND_NOT_BOUND,
      "at its expiry the binding no longer holds");
  namebind_add (&t, "api.allowed.test", AF_INET, front, 20000);
  ok (namebind_check (&t, rules, N_RULES, "api.allowed.test", AF_INET, front, IPPROTO_TCP, 443, 15000)
          == NAMEBIND_ALLOW,
      "a new answer extends it");
  namebind_add (&t, "api.allowed.test", AF_INET, front, 12000);
  ok (namebind_check (&t, rules, N_RULES, "api.allowed.test", AF_INET, front, IPPROTO_TCP, 443, 15000)
          == NAMEBIND_ALLOW,
      "a shorter later answer does not shorten it");

  /* IPv6, and IPv4-mapped IPv6 as IPv4. */
  namebind_add (&t, "api.allowed.test", AF_INET6, v6 ("2001:db8::1", six), 20000);
  ok (namebind_check (&t, rules, N_RULES, "api.allowed.test", AF_INET6, six, IPPROTO_TCP, 443, 15000) == NAMEBIND_ALLOW,
      "IPv6: the allowed name on its AAAA address");
  ok (namebind_check (&t, rules, N_RULES, "evil.test", AF_INET6, six, IPPROTO_TCP, 443, 15000) == NAMEBIND_NOT_ALLOWED,
      "IPv6: another name on it is refused");
  namebind_add (&t, "img.cdn.test", AF_INET6, v6 ("::ffff:10.88.0.3", mapped), 20000);
  ok (namebind_check (&t, rules, N_RULES, "img.cdn.test", AF_INET, v4 ("10.88.0.3", other), IPPROTO_TCP, 443, 15000)
          == NAMEBIND_ALLOW,
      "an IPv4-mapped AAAA answer binds the IPv4 address the kernel sends to");
  ok (namebind_check (&t, rules, N_RULES, "img.cdn.test", AF_INET6, mapped, IPPROTO_TCP, 443, 15000) == NAMEBIND_ALLOW,
      "and a flow to the mapped form is judged as that IPv4 address");
  ok (namebind_check (&t, rules, N_RULES, "img.cdn.test", AF_INET, other, IPPROTO_UDP, 443, 15000) == NAMEBIND_ALLOW,
      "a wildcard without protocol allows UDP too (the table refuses QUIC before any check)");
}

static void
test_names_for (void)
{
  cleanup_binds namebind_t t = { 0 };
  uint8_t a[16], b[16];

  namebind_add (&t, "one.test", AF_INET, v4 ("10.0.0.1", a), 100);
  namebind_add (&t, "two.test", AF_INET, a, 200);
  namebind_add (&t, "three.test", AF_INET, v4 ("10.0.0.2", b), 200);
  {
    cleanup_free char *s = namebind_names_for (&t, AF_INET, a, 50, 8);
    is_str (s, "one.test,two.test", "the names bound to an address, for the denial record");
  }
  {
    cleanup_free char *s = namebind_names_for (&t, AF_INET, a, 150, 8);
    is_str (s, "two.test", "without the expired ones");
  }
  {
    cleanup_free char *s = namebind_names_for (&t, AF_INET, a, 50, 1);
    is_str (s, "one.test", "at most max names");
  }
  {
    cleanup_free char *s = namebind_names_for (&t, AF_INET, v4 ("10.0.0.9", b), 50, 8);
    is_str (s, "", "none for an address nothing resolved to");
  }
}

/* The table is bounded: past NAMEBIND_MAX the binding expiring first goes. */
static void
test_bound (void)
{
  cleanup_binds namebind_t t = { 0 };
  egress_rule_t rules[N_RULES];
  uint8_t a[16], keep[16];

  load_rules (rules);
  v4 ("10.1.0.0", a);
  namebind_add (&t, "img.cdn.test", AF_INET, v4 ("10.2.0.1", keep), 1u << 30);
  for (uint32_t i = 0; i < NAMEBIND_MAX + 100; i++)
    {
      a[2] = (uint8_t) (i >> 8);
      a[3] = (uint8_t) i;
      a[1] = (uint8_t) (1 + (i >> 16));
      namebind_add (&t, "x.cdn.test", AF_INET, a, 1000 + i);
    }
  ok (t.n == NAMEBIND_MAX, "the table holds at most NAMEBIND_MAX bindings (%zu)", t.n);
  ok (namebind_check (&t, rules, N_RULES, "img.cdn.test", AF_INET, keep, IPPROTO_TCP, 443, 5000) == NAMEBIND_ALLOW,
      "a binding that expires last survives the churn");
  {
    char long_name[EGRESS_NAME_MAX + 10];
    size_t before = t.n;
    memset (long_name, 'a', sizeof (long_name) - 1);
    long_name[sizeof (long_name) - 1] = '\0';
    namebind_add (&t, long_name, AF_INET, keep, 1u << 30);
    ok (t.n == before, "a name longer than a DNS name is not bound");
  }
}

/* egress.bind_names in a profile: off unless set, a boolean only. */
static void
test_policy (void)
{
  static const struct
  {
    const char *egress;
    int want; /* 1 on, 0 off, -1 refused */
  } cases[] = {
    { "{\"allow\":[\"api.example.test:443/tcp\"]}", 0 },
    { "{\"allow\":[\"api.example.test:443/tcp\"],\"bind_names\":true}", 1 },
    { "{\"allow\":[\"api.example.test:443/tcp\"],\"bind_names\":false}", 0 },
    { "{\"bind_names\":\"yes\"}", -1 },
  };

  for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++)
    {
      cleanup_error corral_error_t err = NULL;
      cleanup_free char *text = NULL;
      cleanup_policy corral_policy_t *p = NULL;
      const corral_profile_t *d;

      xasprintf (&text, "{\"profiles\":{\"default\":{\"egress\":%s}}}", cases[i].egress);
      p = policy_parse (text, strlen (text), "test-namebind.json", &err);
      d = p ? policy_find_profile (p, "default") : NULL;
      if (cases[i].want < 0)
        ok (p == NULL && err && strstr (err->msg, "profiles.default.egress.bind_names"),
            "egress %s is refused, naming the key: %s", cases[i].egress, err ? err->msg : "(parsed)");
      else
        ok (d && d->bind_names == (cases[i].want == 1), "egress %s: bind_names %s", cases[i].egress,
            cases[i].want ? "on" : "off");
    }
}

int
main (void)
{
  test_policy ();
  test_check ();
  test_names_for ();
  test_bound ();
  return done_testing ();
}
