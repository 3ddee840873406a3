/* corral: unit tests of the egress filter's pure parts: allowlist entries
 * (spec/egress.[ch]), the egress section of a profile and its annotation,
 * the OCI state a hook reads, the description of a logged packet and the
 * hook injected into the spec. */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>

#include "hooks/hook.h"
#include "hooks/nflog.h"
#include "base/util.h"
#include "spec/egress.h"
#include "spec/harden.h"
#include "spec/policy.h"
#include "tests/unit/testlib.h"

#define TEST_ID "corral-test-0123456789abcdef"
#define HOOK_PATH "/usr/local/bin/corral"
#define STATE_DIR "/run/corral/" TEST_ID

/* ---- egress_rule_parse / egress_rule_format ---- */

/* The canonical text of a parsed entry, or NULL (and the error in *err). */
static char *
canonical (const char *s, corral_error_t *err)
{
  egress_rule_t r;

  if (egress_rule_parse (s, &r, err) < 0)
    return NULL;
  return egress_rule_format (&r);
}

/* s parses, formats as want, and want parses back to the same rule. */
static void
parses_as (const char *s, const char *want)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_error corral_error_t err2 = NULL;
  cleanup_free char *got = canonical (s, &err);
  egress_rule_t a, b;

  if (!is_str (got, want, "\"%s\" parses to \"%s\"", s, want))
    {
      diag ("  error: %s", err ? err->msg : "none");
      return;
    }
  if (!ok (egress_rule_parse (want, &b, &err2) == 0, "canonical \"%s\" parses again", want))
    {
      diag ("  error: %s", err2 ? err2->msg : "none");
      return;
    }
  egress_rule_parse (s, &a, NULL);
  ok (memcmp (&a, &b, sizeof (a)) == 0, "parse(format(parse(\"%s\"))) is the same rule", s);
}

/* s is refused, with a message naming the entry and containing needle; the
 * out-parameter is left alone. */
static void
parse_fails (const char *s, const char *needle, const char *what)
{
  cleanup_error corral_error_t err = NULL;
  egress_rule_t r, before;
  cleanup_free char *quoted = NULL;

  memset (&r, 0xa5, sizeof (r));
  before = r;
  ok (egress_rule_parse (s, &r, &err) < 0, "%s (\"%s\") is refused", what, s);
  xasprintf (&quoted, "\"%s\"", s);
  like (err ? err->msg : NULL, quoted, "%s: the message quotes the entry", what);
  like (err ? err->msg : NULL, needle, "%s: the message says \"%s\"", what, needle);
  ok (memcmp (&r, &before, sizeof (r)) == 0, "%s: the result is not touched", what);
}

static void
test_rule_fields (void)
{
  cleanup_error corral_error_t err = NULL;
  egress_rule_t r;
  uint8_t v6[16];

  if (ok (egress_rule_parse ("192.0.2.7", &r, &err) == 0, "an IPv4 host parses"))
    {
      is_int (r.family, AF_INET, "192.0.2.7: family AF_INET");
      ok (r.addr[0] == 192 && r.addr[1] == 0 && r.addr[2] == 2 && r.addr[3] == 7, "192.0.2.7: address bytes");
      is_int (r.prefix, 32, "192.0.2.7: a host is a /32");
      is_int (r.port, 0, "192.0.2.7: any port");
      is_int (r.proto, 0, "192.0.2.7: any protocol");
    }
  if (ok (egress_rule_parse ("10.1.2.3/8", &r, &err) == 0, "10.1.2.3/8 parses"))
    {
      ok (r.addr[0] == 10 && r.addr[1] == 0 && r.addr[2] == 0 && r.addr[3] == 0,
          "10.1.2.3/8: host bits are cleared to 10.0.0.0 (got %u.%u.%u.%u)", r.addr[0], r.addr[1], r.addr[2],
          r.addr[3]);
      is_int (r.prefix, 8, "10.1.2.3/8: prefix 8");
    }
  if (ok (egress_rule_parse ("192.0.2.1:53/udp", &r, &err) == 0, "192.0.2.1:53/udp parses"))
    {
      is_int (r.port, 53, "192.0.2.1:53/udp: port 53");
      is_int (r.proto, IPPROTO_UDP, "192.0.2.1:53/udp: UDP");
    }
  if (ok (egress_rule_parse ("192.0.2.1:443/tcp", &r, &err) == 0, "192.0.2.1:443/tcp parses"))
    is_int (r.proto, IPPROTO_TCP, "192.0.2.1:443/tcp: TCP");
  if (ok (egress_rule_parse ("192.0.2.1:443", &r, &err) == 0, "192.0.2.1:443 parses"))
    {
      is_int (r.port, 443, "192.0.2.1:443: port 443");
      is_int (r.proto, 0, "192.0.2.1:443: a port with no protocol means TCP and UDP");
    }
  inet_pton (AF_INET6, "2001:db8:1:2::", v6);
  if (ok (egress_rule_parse ("[2001:db8:1:2:aaaa:bbbb:cccc:dddd/64]:443", &r, &err) == 0,
          "[2001:db8:1:2:aaaa:bbbb:cccc:dddd/64]:443 parses"))
    {
      is_int (r.family, AF_INET6, "[v6/64]:443: family AF_INET6");
      ok (memcmp (r.addr, v6, 16) == 0, "[v6/64]:443: the interface identifier is cleared");
      is_int (r.prefix, 64, "[v6/64]:443: prefix 64");
      is_int (r.port, 443, "[v6/64]:443: port 443");
    }
  if (ok (egress_rule_parse ("::/0", &r, &err) == 0, "::/0 parses"))
    {
      static const uint8_t zero[16] = { 0 };
      is_int (r.prefix, 0, "::/0: prefix 0");
      ok (memcmp (r.addr, zero, 16) == 0, "::/0: the network is ::");
    }
  if (ok (egress_rule_parse ("10.255.255.255/9", &r, &err) == 0, "10.255.255.255/9 parses"))
    ok (r.addr[0] == 10 && r.addr[1] == 128 && r.addr[2] == 0 && r.addr[3] == 0,
        "10.255.255.255/9: cleared inside a byte to 10.128.0.0 (got %u.%u.%u.%u)", r.addr[0], r.addr[1], r.addr[2],
        r.addr[3]);
  if (err)
    diag ("last error: %s", err->msg);
}

static void
test_rule_parse (void)
{
  test_rule_fields ();

  parses_as ("192.0.2.7", "192.0.2.7/32");
  parses_as ("10.0.0.0/8", "10.0.0.0/8");
  parses_as ("10.1.2.3/8", "10.0.0.0/8");
  parses_as ("0.0.0.0/0", "0.0.0.0/0");
  parses_as ("192.0.2.7:443", "192.0.2.7/32:443");
  parses_as ("192.0.2.7:443/tcp", "192.0.2.7/32:443/tcp");
  parses_as ("192.0.2.7:53/udp", "192.0.2.7/32:53/udp");
  parses_as ("198.51.100.0/24:8443/tcp", "198.51.100.0/24:8443/tcp");
  parses_as ("192.0.2.7:65535", "192.0.2.7/32:65535");
  parses_as ("192.0.2.7:1", "192.0.2.7/32:1");
  parses_as ("2001:db8::1", "2001:db8::1/128");
  parses_as ("2001:DB8::1", "2001:db8::1/128");
  parses_as ("2001:db8::/32", "2001:db8::/32");
  parses_as ("2001:db8:ffff::1/32", "2001:db8::/32");
  parses_as ("[2001:db8::1]:443/tcp", "[2001:db8::1/128]:443/tcp");
  parses_as ("[2001:db8::1]:53/udp", "[2001:db8::1/128]:53/udp");
  parses_as ("[2001:db8:1:2::5/64]:443", "[2001:db8:1:2::/64]:443");
  parses_as ("[2001:db8::1]", "2001:db8::1/128");

  /* Domain names (the DNS guard's entries): tests/unit/test-dns.c. */
  parses_as ("example.com", "example.com");
  parses_as ("Example.COM.:443/tcp", "example.com:443/tcp");
  parse_fails ("[example.com]:443", "not an IPv4 or IPv6 address", "a bracketed domain name");
  parse_fails ("", "not an IPv4 or IPv6 address", "an empty entry");
  parse_fails ("192.0.2", "not an IPv4 or IPv6 address", "a short IPv4 address");
  parse_fails ("192.0.2.256", "not an IPv4 or IPv6 address", "an IPv4 octet above 255");
  parse_fails ("10.0.0.0/33", "invalid prefix length \"33\"", "an IPv4 prefix above 32");
  parse_fails ("2001:db8::/129", "invalid prefix length \"129\"", "an IPv6 prefix above 128");
  parse_fails ("10.0.0.0/", "invalid prefix length", "an empty prefix");
  parse_fails ("10.0.0.0/-8", "invalid prefix length", "a negative prefix");
  parse_fails ("10.0.0.0/8x", "invalid prefix length", "a prefix with trailing garbage");
  parse_fails ("192.0.2.7:0", "invalid port \"0\"", "port 0");
  parse_fails ("192.0.2.7:65536", "invalid port \"65536\"", "port 65536");
  parse_fails ("192.0.2.7:https", "invalid port \"https\"", "a service name as port");
  parse_fails ("192.0.2.7:-1", "invalid port", "a negative port");
  parse_fails ("192.0.2.7:", "invalid port", "an empty port");
  parse_fails ("192.0.2.7: 443", "invalid port", "a port with a leading space");
  parse_fails ("192.0.2.7:443/icmp", "protocol \"icmp\" is not tcp or udp", "protocol icmp");
  parse_fails ("192.0.2.7:443/TCP", "protocol \"TCP\"", "an upper-case protocol");
  parse_fails ("192.0.2.7:443/", "protocol \"\"", "an empty protocol");
  parse_fails ("[2001:db8::1:443", "missing ']'", "a missing ']'");
  parse_fails ("[2001:db8::1]443", "expected ':' after ']'", "garbage after ']'");
  parse_fails ("[2001:db8::1]/64", "expected ':' after ']'", "a prefix after ']'");
  parse_fails ("[2001:db8::1]:99999/tcp", "invalid port", "an IPv6 entry with port 99999");
  parse_fails ("[2001:db8::1]:443/sctp", "protocol \"sctp\"", "an IPv6 entry with protocol sctp");
}

/* ---- egress_rule_within ---- */

static void
within (const char *inner, const char *outer, bool want)
{
  egress_rule_t a, b;

  if (egress_rule_parse (inner, &a, NULL) < 0 || egress_rule_parse (outer, &b, NULL) < 0)
    bail_out ("test entries do not parse: %s, %s", inner, outer);
  ok (egress_rule_within (&a, &b) == want, "%s %s inside %s", inner, want ? "is" : "is NOT", outer);
}

static void
test_rule_within (void)
{
  within ("192.0.2.7", "192.0.2.7", true);
  within ("10.0.0.0/8", "10.0.0.0/8", true);
  within ("192.0.2.7:443/tcp", "192.0.2.7:443/tcp", true);
  within ("2001:db8::/32", "2001:db8::/32", true);

  within ("10.1.0.0/16", "10.0.0.0/8", true);
  within ("10.1.2.3", "10.0.0.0/8", true);
  within ("10.0.0.0/8", "10.1.0.0/16", false);
  within ("10.0.0.0/8", "10.1.2.3", false);
  within ("11.0.0.0/16", "10.0.0.0/8", false);
  within ("10.200.0.0/16", "10.128.0.0/9", true);
  within ("10.127.0.0/16", "10.128.0.0/9", false);
  within ("2001:db8:1::/48", "2001:db8::/32", true);
  within ("2001:db8::/32", "2001:db8:1::/48", false);
  within ("2001:db9::/48", "2001:db8::/32", false);

  within ("192.0.2.7:443", "192.0.2.7", true);
  within ("192.0.2.7:443/tcp", "192.0.2.0/24", true);
  within ("192.0.2.7", "192.0.2.7:443", false);
  within ("192.0.2.7:80", "192.0.2.7:443", false);
  within ("192.0.2.0/24:443", "192.0.2.7:443", false);

  within ("192.0.2.7:443/tcp", "192.0.2.7:443", true);
  within ("192.0.2.7:53/udp", "192.0.2.7:53", true);
  within ("192.0.2.7:443", "192.0.2.7:443/tcp", false);
  within ("192.0.2.7:443/udp", "192.0.2.7:443/tcp", false);
  within ("[2001:db8::1]:443", "[2001:db8::1]:443/tcp", false);

  within ("192.0.2.7", "::/0", false);
  within ("0.0.0.0/0", "::/0", false);
  within ("192.0.2.7", "::ffff:0:0/96", false);
  within ("2001:db8::1", "0.0.0.0/0", false);
  within ("::/0", "0.0.0.0/0", false);

  within ("192.0.2.7", "0.0.0.0/0", true);
  within ("255.255.255.255:65535/udp", "0.0.0.0/0", true);
  within ("10.0.0.0/8", "0.0.0.0/0", true);
  within ("0.0.0.0/0", "0.0.0.0/0", true);
  within ("0.0.0.0/0", "10.0.0.0/8", false);
  within ("[2001:db8::1]:443/tcp", "::/0", true);
}

/* ---- the egress section of a profile and run.corral.egress.allow ---- */

static corral_policy_t *
parse_policy (const char *text, corral_error_t *err)
{
  return policy_parse (text, strlen (text), "test-egress.json", err);
}

/* Entry i of a profile's allowlist in canonical text (malloc'd). */
static char *
entry_text (const corral_profile_t *pr, size_t i)
{
  return pr && i < pr->n_egress ? egress_rule_format (&pr->egress[i]) : NULL;
}

static void
test_policy_egress (void)
{
  static const struct refusal refused[] = {
    { "{\"allow\":[\"192.0.2.7\",\"exa mple.com\"]}", "profiles.default.egress.allow[1]", "' '",
      "an allowlist with a bad domain name at index 1" },
    { "{\"allow\":[\"192.0.2.7:0\"]}", "profiles.default.egress.allow[0]", "invalid port",
      "an allowlist with port 0 at index 0" },
    { "{\"allow\":[\"192.0.2.7\",42]}", "profiles.default.egress.allow[1]", "expected a string",
      "an allowlist with a number" },
    { "{\"allow\":\"192.0.2.7\"}", "profiles.default.egress.allow", "expected an array",
      "an allowlist that is a string" },
    { "{\"mode\":\"none\",\"allow\":[\"192.0.2.7\"]}", "profiles.default.egress.allow",
      "offline profile (mode \"none\") allows nothing", "mode none with allow entries" },
    { "{\"mode\":\"open\"}", "profiles.default.egress.mode", "\"open\" is not \"none\" or \"allowlist\"",
      "the unknown egress mode \"open\"" },
    { "{\"mode\":true}", "profiles.default.egress.mode", NULL, "a boolean egress mode" },
    { "{\"log_group\":0}", "profiles.default.egress.log_group", "out of range [1, 65535]", "log_group 0" },
    { "{\"log_group\":65536}", "profiles.default.egress.log_group", "out of range [1, 65535]", "log_group 65536" },
    { "{\"log_group\":-1}", "profiles.default.egress.log_group", "out of range", "log_group -1" },
    { "{\"log_group\":\"7\"}", "profiles.default.egress.log_group", "expected an integer", "a string log_group" },
    { "{\"allowed\":[]}", "profiles.default.egress", "allowed", "the unknown egress key \"allowed\"" },
  };
  cleanup_error corral_error_t err = NULL;
  cleanup_policy corral_policy_t *p
      = parse_policy ("{\"profiles\":{\"default\":{\"egress\":{\"mode\":\"allowlist\",\"allow\":[\"192.0.2.0/"
                      "24:443/tcp\",\"[2001:db8::/32]:53/udp\",\"10.1.2.3/8\"],\"log_group\":7}}}}",
                      &err);
  const corral_profile_t *def = p ? policy_find_profile (p, "default") : NULL;

  if (!ok (def != NULL, "a profile with egress allow entries parses"))
    diag ("  error: %s", err ? err->msg : "none");
  else
    {
      cleanup_free char *e0 = entry_text (def, 0);
      cleanup_free char *e1 = entry_text (def, 1);
      cleanup_free char *e2 = entry_text (def, 2);

      ok (def->network, "mode allowlist: the profile has a network");
      is_int (def->n_egress, 3, "three allowlist entries");
      is_str (e0, "192.0.2.0/24:443/tcp", "entry 0 as written");
      is_str (e1, "[2001:db8::/32]:53/udp", "entry 1 as written");
      is_str (e2, "10.0.0.0/8", "entry 2 with its host bits cleared");
      is_int (def->log_group, 7, "log_group 7");
    }

  {
    cleanup_error corral_error_t e = NULL;
    cleanup_policy corral_policy_t *q = parse_policy ("{\"profiles\":{\"default\":{}}}", &e);
    const corral_profile_t *d = q ? policy_find_profile (q, "default") : NULL;

    if (ok (d != NULL, "a profile without an egress section parses"))
      {
        ok (d->network && d->n_egress == 0, "no egress section: default deny with an empty allowlist");
        is_int (d->log_group, 100, "no egress section: log_group 100");
      }
  }

  policies_refused ("{\"profiles\":{\"default\":{\"egress\":", "}}}", refused, ARRAY_LEN (refused));

  {
    cleanup_error corral_error_t e = NULL;
    cleanup_policy corral_policy_t *q = parse_policy (
        "{\"profiles\":{\"default\":{\"egress\":{\"log_group\":1}},\"hi\":{\"egress\":{\"log_group\":65535}},"
        "\"off\":{\"egress\":{\"mode\":\"none\",\"allow\":[]}}}}",
        &e);
    const corral_profile_t *lo = q ? policy_find_profile (q, "default") : NULL;
    const corral_profile_t *hi = q ? policy_find_profile (q, "hi") : NULL;
    const corral_profile_t *off = q ? policy_find_profile (q, "off") : NULL;

    if (!ok (lo && hi && off, "log_group 1 and 65535 and mode none with an empty allow parse"))
      diag ("  error: %s", e ? e->msg : "none");
    else
      {
        is_int (lo->log_group, 1, "log_group 1 is kept");
        is_int (hi->log_group, 65535, "log_group 65535 is kept");
        ok (!off->network && off->n_egress == 0, "mode none: offline, nothing allowed");
      }
  }
}

/* A policy whose default profile allows three destinations and lets a
 * container narrow them; "offline" inherits it with no network. */
#define NARROW_POLICY                                                                                                  \
  "{\"profiles\":{"                                                                                                    \
  "\"default\":{\"egress\":{\"mode\":\"allowlist\",\"allow\":[\"10.0.0.0/8\",\"192.0.2.0/24:443/tcp\","                \
  "\"2001:db8::/32\"]},\"overridable\":[\"run.corral.egress.allow\"]},"                                                \
  "\"offline\":{\"inherits\":\"default\",\"egress\":{\"mode\":\"none\",\"allow\":[]}}}}"

static corral_profile_t *
narrow (const corral_policy_t *p, const char *profile, const char *value, corral_error_t *err)
{
  cleanup_json json_t *ann = json_new_object ();

  json_set (ann, "run.corral.egress.allow", json_new_string (value));
  return profile_with_annotations (policy_find_profile (p, profile), ann, err);
}

static void
narrow_fails (const corral_policy_t *p, const char *profile, const char *value, const char *needle, const char *what)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_profile corral_profile_t *t = narrow (p, profile, value, &err);

  ok (t == NULL, "%s (\"%s\") is refused", what, value);
  like (err ? err->msg : NULL, "run.corral.egress.allow", "%s: the message names the annotation", what);
  like (err ? err->msg : NULL, needle, "%s: the message says \"%s\"", what, needle);
}

static void
test_annotation (void)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_policy corral_policy_t *p = parse_policy (NARROW_POLICY, &err);
  const corral_profile_t *def;

  if (p == NULL)
    bail_out ("the narrowing test policy does not parse: %s", err ? err->msg : "?");
  def = policy_find_profile (p, "default");

  {
    cleanup_error corral_error_t e = NULL;
    cleanup_profile corral_profile_t *t = narrow (p, "default", "10.1.0.0/16:5432/tcp,192.0.2.10:443/tcp", &e);
    cleanup_free char *e0 = entry_text (t, 0);
    cleanup_free char *e1 = entry_text (t, 1);

    if (!ok (t != NULL, "narrowing to two entries inside the profile's is accepted"))
      diag ("  error: %s", e ? e->msg : "none");
    is_int (t ? (long long) t->n_egress : -1, 2, "the annotation replaces the allowlist (two entries)");
    is_str (e0, "10.1.0.0/16:5432/tcp", "narrowed entry 0");
    is_str (e1, "192.0.2.10/32:443/tcp", "narrowed entry 1");
    ok (t && t->network, "the narrowed profile still has its (default deny) network");
    is_int (def->n_egress, 3, "the policy's own profile keeps its three entries");
  }
  {
    cleanup_error corral_error_t e = NULL;
    cleanup_profile corral_profile_t *t = narrow (p, "default", ",[2001:db8:1::/48]:443,,", &e);
    cleanup_free char *e0 = entry_text (t, 0);

    if (!ok (t != NULL, "an IPv6 entry between empty items is accepted"))
      diag ("  error: %s", e ? e->msg : "none");
    is_int (t ? (long long) t->n_egress : -1, 1, "empty items are skipped: one entry");
    is_str (e0, "[2001:db8:1::/48]:443", "the IPv6 entry");
  }

  narrow_fails (p, "default", "11.0.0.0/8", "would loosen", "an address outside every entry");
  narrow_fails (p, "default", "0.0.0.0/0", "would loosen", "everything");
  narrow_fails (p, "default", "192.0.2.10:80/tcp", "would loosen", "a port the profile does not allow");
  narrow_fails (p, "default", "192.0.2.10:443", "would loosen", "UDP where the profile allows TCP only");
  narrow_fails (p, "default", "192.0.2.0/23:443/tcp", "would loosen", "a wider prefix");
  narrow_fails (p, "default", "10.1.0.0/16,11.0.0.0/8", "\"11.0.0.0/8\" would loosen",
                "one narrowing and one widening entry");
  narrow_fails (p, "default", "10.1.0.0/16,example.com", "would loosen", "a domain name the profile does not have");
  narrow_fails (p, "offline", "10.1.0.0/16", "offline", "any entry on an offline profile");
  narrow_fails (p, "offline", "", "offline", "an empty value on an offline profile");

  {
    cleanup_error corral_error_t e = NULL;
    cleanup_profile corral_profile_t *t = narrow (p, "default", ",,", &e);

    /* Nothing left after splitting: an empty allowlist, i.e. every
     * destination denied, which is as narrow as it gets. */
    if (!ok (t != NULL, "a value that is empty after splitting (\",,\") is accepted"))
      diag ("  error: %s", e ? e->msg : "none");
    ok (t && t->network && t->n_egress == 0, "\",,\": default deny with an empty allowlist");
  }
  {
    cleanup_error corral_error_t e = NULL;
    cleanup_profile corral_profile_t *t = narrow (p, "default", "", &e);

    if (!ok (t != NULL, "an empty value is accepted"))
      diag ("  error: %s", e ? e->msg : "none");
    ok (t && t->network && t->n_egress == 0, "\"\": default deny with an empty allowlist");
  }
}

/* ---- hook_state_pid ---- */

/* What runc writes on a createRuntime hook's stdin (libcontainer
 * configs.HookState via specs.State). */
#define RUNC_STATE(pid)                                                                                                \
  "{\"ociVersion\":\"1.2.0\",\"id\":\"" TEST_ID "\",\"status\":\"creating\",\"pid\":" pid ",\"bundle\":"               \
  "\"/run/containers/storage/overlay-containers/" TEST_ID "/userdata\",\"annotations\":{\"io.container.manager\":"     \
  "\"libpod\",\"run.corral.profile\":\"default\"}}"

static void
state_fails (const char *state, const char *needle, const char *what)
{
  cleanup_error corral_error_t err = NULL;
  pid_t pid = -7;

  ok (hook_state_pid (state, strlen (state), &pid, &err) < 0, "%s is refused", what);
  like (err ? err->msg : NULL, needle, "%s: the message says \"%s\"", what, needle);
  is_int (pid, -7, "%s: the pid is not touched", what);
}

static void
test_state_pid (void)
{
  {
    cleanup_error corral_error_t err = NULL;
    const char *state = RUNC_STATE ("4242");
    pid_t pid = -7;

    if (!ok (hook_state_pid (state, strlen (state), &pid, &err) == 0, "runc's OCI state parses"))
      diag ("  error: %s", err ? err->msg : "none");
    is_int (pid, 4242, "the pid in runc's state");
  }
  {
    cleanup_error corral_error_t err = NULL;
    const char *state = RUNC_STATE ("2147483647");
    pid_t pid = -7;

    ok (hook_state_pid (state, strlen (state), &pid, &err) == 0, "pid 2147483647 parses");
    is_int (pid, 2147483647, "pid 2147483647 is kept");
  }
  {
    cleanup_error corral_error_t err = NULL;
    const char *state = RUNC_STATE ("4242");
    pid_t pid = -7;

    /* len is honoured: the document ends before the pid. */
    ok (hook_state_pid (state, 20, &pid, &err) < 0, "a state cut at 20 bytes is refused");
    is_int (pid, -7, "cut state: the pid is not touched");
  }

  state_fails ("{\"ociVersion\":\"1.2.0\",\"id\":\"" TEST_ID "\",\"status\":\"creating\"}", "no valid \"pid\"",
               "a state without a pid");
  state_fails (RUNC_STATE ("0"), "no valid \"pid\"", "pid 0");
  state_fails (RUNC_STATE ("-1"), "no valid \"pid\"", "pid -1");
  state_fails (RUNC_STATE ("2147483648"), "no valid \"pid\"", "pid 2^31");
  state_fails (RUNC_STATE ("99999999999999999999999"), "no valid \"pid\"", "a pid beyond 64 bits");
  state_fails (RUNC_STATE ("4242.5"), "no valid \"pid\"", "a fractional pid");
  state_fails (RUNC_STATE ("\"4242\""), "no valid \"pid\"", "a string pid");
  state_fails (RUNC_STATE ("null"), "no valid \"pid\"", "a null pid");
  state_fails ("[4242]", "no valid \"pid\"", "a state that is an array");
  state_fails ("{\"pid\":4242", "OCI state on stdin", "a truncated document");
  state_fails ("{\"pid\":4242}}", "OCI state on stdin", "trailing garbage");
  state_fails ("", "OCI state on stdin", "an empty stdin");
  state_fails ("{\"pid\":4242,\"pid\":1}", "OCI state on stdin", "a duplicated pid");
}

/* ---- nflog_describe_packet ---- */

/* A packet in a buffer of exactly its length, so a sanitizer build notices
 * any read past it. */
struct packet
{
  uint8_t *data;
  size_t len;
};

static void
packet_release (struct packet *p)
{
  free (p->data);
}
#define cleanup_packet __attribute__ ((cleanup (packet_release)))

static struct packet
packet_copy (const uint8_t *bytes, size_t len)
{
  struct packet p = { .data = xmalloc (len ? len : 1), .len = len };

  if (len)
    memcpy (p.data, bytes, len);
  return p;
}

/* An IPv4 header (IHL 5) from 10.88.0.2 to dst, then a TCP or UDP header
 * with source port 40000 and destination port dport (TCP: SYN), or 8 bytes
 * of ICMP echo request. */
static size_t
build_ipv4 (uint8_t *buf, uint8_t proto, const char *dst, uint16_t dport)
{
  size_t l4len = proto == IPPROTO_TCP ? 20 : 8;
  size_t len = 20 + l4len;

  memset (buf, 0, len);
  buf[0] = 0x45;
  buf[2] = (uint8_t) (len >> 8);
  buf[3] = (uint8_t) len;
  buf[6] = 0x40; /* DF */
  buf[8] = 64;
  buf[9] = proto;
  buf[12] = 10;
  buf[13] = 88;
  buf[15] = 2;
  if (inet_pton (AF_INET, dst, buf + 16) != 1)
    bail_out ("bad test address %s", dst);
  if (proto == IPPROTO_ICMP)
    buf[20] = 8; /* echo request */
  else
    {
      buf[20] = 40000 >> 8;
      buf[21] = 40000 & 0xff;
      buf[22] = (uint8_t) (dport >> 8);
      buf[23] = (uint8_t) dport;
      if (proto == IPPROTO_TCP)
        {
          buf[32] = 0x50; /* data offset 5 */
          buf[33] = 0x02; /* SYN */
        }
      else
        buf[25] = 8; /* UDP length */
    }
  return len;
}

/* An IPv6 header from fd00::2 to dst with next header proto, then a TCP
 * SYN to dport. */
static size_t
build_ipv6 (uint8_t *buf, uint8_t proto, const char *dst, uint16_t dport)
{
  size_t len = 40 + 20;

  memset (buf, 0, len);
  buf[0] = 0x60;
  buf[5] = 20; /* payload length */
  buf[6] = proto;
  buf[7] = 64;
  inet_pton (AF_INET6, "fd00::2", buf + 8);
  if (inet_pton (AF_INET6, dst, buf + 24) != 1)
    bail_out ("bad test address %s", dst);
  buf[40] = 40000 >> 8;
  buf[41] = 40000 & 0xff;
  buf[42] = (uint8_t) (dport >> 8);
  buf[43] = (uint8_t) dport;
  buf[52] = 0x50;
  buf[53] = 0x02;
  return len;
}

/* Describe the first len bytes of bytes (copied to an exact-size buffer)
 * and parse the result; NULL if there is no description. */
static json_t *
describe (const uint8_t *bytes, size_t len, const char *what)
{
  cleanup_packet struct packet p = packet_copy (bytes, len);
  cleanup_json json_t *d = nflog_describe_packet (TEST_ID, p.data, p.len);
  cleanup_free char *s = d ? json_serialize (d, false) : NULL;
  cleanup_error corral_error_t err = NULL;
  json_t *v;

  if (s == NULL)
    return NULL;
  v = json_parse (s, strlen (s), &err);
  if (!ok (v != NULL, "%s: the description is valid JSON", what))
    diag ("  %s: %s", s, err ? err->msg : "?");
  return v;
}

static void
described_as (const uint8_t *bytes, size_t len, const char *what, const char *family, const char *dst,
              const char *proto, long long port)
{
  cleanup_json json_t *v = describe (bytes, len, what);
  int64_t got_port = -1;
  bool has_port;

  if (!ok (v != NULL, "%s is described", what))
    return;
  is_str (json_get_string (v, "event"), "egress-deny", "%s: event egress-deny", what);
  is_str (json_get_string (v, "container"), TEST_ID, "%s: the container id", what);
  is_str (json_get_string (v, "family"), family, "%s: family %s", what, family);
  is_str (json_get_string (v, "destination"), dst, "%s: destination %s", what, dst);
  is_str (json_get_string (v, "protocol"), proto, "%s: protocol %s", what, proto);
  has_port = json_int64 (json_get (v, "port"), &got_port);
  if (port < 0)
    {
      if (!ok (json_get (v, "port") == NULL, "%s: no port", what))
        diag ("  got port %lld", (long long) got_port);
    }
  else if (ok (has_port, "%s: has a port", what))
    is_int (got_port, port, "%s: port %lld", what, port);
}

static void
not_described (const uint8_t *bytes, size_t len, const char *what)
{
  cleanup_packet struct packet p = packet_copy (bytes, len);
  cleanup_json json_t *d = nflog_describe_packet (TEST_ID, p.data, p.len);
  cleanup_free char *s = d ? json_serialize (d, false) : NULL;

  if (!ok (s == NULL, "%s is not a packet (NULL)", what))
    diag ("  got: %s", s);
}

static void
test_describe_packet (void)
{
  uint8_t buf[128];
  size_t len;

  len = build_ipv4 (buf, IPPROTO_TCP, "192.0.2.7", 443);
  described_as (buf, len, "an IPv4 TCP SYN to 192.0.2.7:443", "ipv4", "192.0.2.7", "tcp", 443);
  /* The record holds what the kernel copied (copy_range), maybe less than
   * the whole packet: the port needs the first 4 bytes of TCP. */
  described_as (buf, 24, "an IPv4 TCP SYN cut after the ports", "ipv4", "192.0.2.7", "tcp", 443);
  described_as (buf, 23, "an IPv4 TCP SYN cut inside the destination port", "ipv4", "192.0.2.7", "tcp", -1);
  described_as (buf, 20, "an IPv4 TCP header alone", "ipv4", "192.0.2.7", "tcp", -1);

  len = build_ipv4 (buf, IPPROTO_UDP, "198.51.100.53", 53);
  described_as (buf, len, "an IPv4 UDP datagram to 198.51.100.53:53", "ipv4", "198.51.100.53", "udp", 53);

  len = build_ipv4 (buf, IPPROTO_ICMP, "203.0.113.1", 0);
  described_as (buf, len, "an IPv4 ICMP echo to 203.0.113.1", "ipv4", "203.0.113.1", "icmp", -1);

  len = build_ipv4 (buf, IPPROTO_TCP, "192.0.2.7", 8443);
  buf[0] = 0x46; /* a 4-byte option, the TCP header starts at 24 */
  memmove (buf + 24, buf + 20, 20);
  len += 4;
  described_as (buf, len, "an IPv4 TCP SYN after IP options (IHL 6)", "ipv4", "192.0.2.7", "tcp", 8443);

  len = build_ipv4 (buf, IPPROTO_TCP, "192.0.2.7", 443);
  buf[0] = 0x4f; /* claims 60 bytes of header, the buffer has 40 */
  described_as (buf, len, "an IPv4 header claiming IHL 15 in 40 bytes", "ipv4", "192.0.2.7", "tcp", -1);
  described_as (buf, 20, "an IPv4 header claiming IHL 15 in 20 bytes", "ipv4", "192.0.2.7", "tcp", -1);
  len = build_ipv4 (buf, IPPROTO_TCP, "192.0.2.7", 443);
  buf[0] = 0x40; /* IHL 0: no header length, no transport header to find */
  described_as (buf, len, "an IPv4 header claiming IHL 0", "ipv4", "192.0.2.7", "tcp", -1);
  buf[0] = 0x44; /* IHL 4: shorter than the fixed header */
  described_as (buf, len, "an IPv4 header claiming IHL 4", "ipv4", "192.0.2.7", "tcp", -1);

  len = build_ipv6 (buf, IPPROTO_TCP, "2001:db8::7", 443);
  described_as (buf, len, "an IPv6 TCP SYN to [2001:db8::7]:443", "ipv6", "2001:db8::7", "tcp", 443);
  described_as (buf, 43, "an IPv6 TCP SYN cut inside the destination port", "ipv6", "2001:db8::7", "tcp", -1);
  described_as (buf, 40, "an IPv6 header alone", "ipv6", "2001:db8::7", "tcp", -1);
  len = build_ipv6 (buf, IPPROTO_UDP, "2001:db8::53", 53);
  described_as (buf, len, "an IPv6 UDP datagram to [2001:db8::53]:53", "ipv6", "2001:db8::53", "udp", 53);
  len = build_ipv6 (buf, IPPROTO_ICMPV6, "2001:db8::1", 0);
  described_as (buf, len, "an IPv6 ICMPv6 packet", "ipv6", "2001:db8::1", "icmpv6", -1);
  len = build_ipv6 (buf, 44 /* fragment header */, "2001:db8::1", 443);
  {
    cleanup_json json_t *v = describe (buf, len, "an IPv6 packet with a fragment header");
    int64_t proto = -1;

    ok (v && json_int64 (json_get (v, "protocol"), &proto) && proto == 44,
        "an IPv6 fragment header is reported by number (44)");
    ok (v && json_get (v, "port") == NULL, "an IPv6 fragment header: no port");
  }

  len = build_ipv4 (buf, IPPROTO_TCP, "192.0.2.7", 443);
  not_described (buf, 0, "0 bytes");
  not_described (buf, 1, "1 byte of IPv4");
  not_described (buf, 19, "19 bytes of IPv4");
  len = build_ipv6 (buf, IPPROTO_TCP, "2001:db8::7", 443);
  not_described (buf, 20, "20 bytes of IPv6");
  not_described (buf, 39, "39 bytes of IPv6");
  memset (buf, 0, sizeof (buf));
  for (unsigned version = 0; version < 16; version++)
    {
      if (version == 4 || version == 6)
        continue;
      buf[0] = (uint8_t) (version << 4 | 5);
      {
        cleanup_packet struct packet p = packet_copy (buf, 60);
        cleanup_json json_t *d = nflog_describe_packet (TEST_ID, p.data, p.len);
        ok (d == NULL, "IP version nibble %u is not a packet (NULL)", version);
      }
    }
}

/* ---- harden_hooks ---- */

static harden_ctx_t
hooks_ctx (const corral_profile_t *profile)
{
  harden_ctx_t ctx = { .profile = profile, .hook_path = HOOK_PATH, .state_dir = STATE_DIR };
  return ctx;
}

static json_t *
create_runtime (const json_t *spec)
{
  return json_get (json_get (spec, "hooks"), "createRuntime");
}

static void
test_harden_hooks (void)
{
  corral_profile_t profile = { .name = (char *) "test", .network = true };
  harden_ctx_t ctx = hooks_ctx (&profile);
  cleanup_json json_t *want = parse_json (
      "{\"path\":\"" HOOK_PATH "\",\"args\":[\"corral\",\"hook\",\"create-runtime\",\"--state-dir\",\"" STATE_DIR
      "\"],\"timeout\":30}");
  cleanup_json json_t *engine_hook = parse_json (
      "{\"path\":\"/usr/bin/nvidia-ctk\",\"args\":[\"nvidia-ctk\",\"hook\",\"update-ldcache\"],\"timeout\":5}");

  {
    cleanup_error corral_error_t err = NULL;
    cleanup_changes changes_t changes = { 0 };
    cleanup_json json_t *spec = parse_json ("{\"ociVersion\":\"1.2.0\",\"process\":{\"args\":[\"sh\"]}}");
    json_t *list, *args;
    int64_t timeout = -1;

    if (!ok (harden_hooks (spec, &ctx, &changes, &err) == 0, "a spec without hooks gets the hook"))
      diag ("  error: %s", err ? err->msg : "none");
    list = create_runtime (spec);
    is_int (json_len (list), 1, "hooks.createRuntime has one hook");
    ok (json_equal (json_at (list, 0), want),
        "it is {path, args [corral hook create-runtime --state-dir DIR], timeout}");
    is_str (json_get_string (json_at (list, 0), "path"), HOOK_PATH, "the hook runs %s", HOOK_PATH);
    args = json_get (json_at (list, 0), "args");
    is_int (json_len (args), 5, "the hook has five args");
    is_str (json_string (json_at (args, 0)), "corral", "args[0] is corral");
    is_str (json_string (json_at (args, 2)), "create-runtime", "args[2] is the stage");
    is_str (json_string (json_at (args, 4)), STATE_DIR, "args[4] is the state dir");
    ok (json_int64 (json_get (json_at (list, 0), "timeout"), &timeout) && timeout > 0,
        "the hook has a positive timeout (%lld)", (long long) timeout);
    is_int (changes.n, 1, "one change is logged");
    is_str (changes.n ? changes.items[0].step : NULL, "hooks", "the change is the hooks step's");
    ok (json_get (spec, "process") && json_get (spec, "ociVersion"), "the rest of the spec is still there");
  }
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_changes changes_t changes = { 0 };
    cleanup_json json_t *spec
        = parse_json ("{\"hooks\":{\"createRuntime\":[{\"path\":\"/usr/bin/nvidia-ctk\",\"args\":[\"nvidia-ctk\","
                      "\"hook\",\"update-ldcache\"],\"timeout\":5}],\"poststop\":[{\"path\":\"/bin/true\"}]}}");
    json_t *list;

    ok (harden_hooks (spec, &ctx, &changes, &err) == 0, "a spec with an engine createRuntime hook is hardened");
    list = create_runtime (spec);
    is_int (json_len (list), 2, "hooks.createRuntime has two hooks");
    ok (json_equal (json_at (list, 0), want), "corral's hook is first");
    ok (json_equal (json_at (list, 1), engine_hook), "the engine's hook is kept after it, unchanged");
    is_int (json_len (json_get (json_get (spec, "hooks"), "poststop")), 1, "the poststop hook is kept");
  }
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_changes changes_t changes1 = { 0 };
    cleanup_changes changes_t changes2 = { 0 };
    cleanup_json json_t *spec = parse_json ("{\"hooks\":{}}");
    cleanup_free char *once = NULL;
    cleanup_free char *twice = NULL;

    harden_hooks (spec, &ctx, &changes1, &err);
    once = json_serialize (spec, false);
    ok (harden_hooks (spec, &ctx, &changes2, &err) == 0, "hardening twice succeeds");
    twice = json_serialize (spec, false);
    is_int (json_len (create_runtime (spec)), 1, "hardening twice adds the hook once");
    is_str (twice, once, "the second run changes nothing");
    is_int (changes2.n, 0, "the second run logs no change");
  }
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_changes changes_t changes = { 0 };
    cleanup_json json_t *spec = json_new_object ();
    json_t *list = json_ensure_array (json_ensure_object (spec, "hooks"), "createRuntime");

    /* Someone put an engine hook in front of corral's after an earlier run:
     * that hook would run before the filter is in place. */
    json_push (list, json_deep_copy (engine_hook));
    json_push (list, json_deep_copy (want));
    ok (harden_hooks (spec, &ctx, &changes, &err) == 0, "a spec with corral's hook second is hardened");
    list = create_runtime (spec);
    is_int (json_len (list), 2, "corral's hook is there once");
    ok (json_equal (json_at (list, 0), want), "corral's hook is moved first");
    ok (json_equal (json_at (list, 1), engine_hook), "the engine's hook follows it");
  }

  static const char *const bad[] = { "[]", "\"createRuntime\"", "42", "null", "true" };
  for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++)
    {
      cleanup_error corral_error_t err = NULL;
      cleanup_changes changes_t changes = { 0 };
      cleanup_free char *text = NULL;
      cleanup_json json_t *spec = NULL;

      xasprintf (&text, "{\"hooks\":%s}", bad[i]);
      spec = parse_json (text);
      ok (harden_hooks (spec, &ctx, &changes, &err) < 0, "hooks: %s is refused", bad[i]);
      like (err ? err->msg : NULL, "hooks: expected an object", "hooks: %s: the message says what is expected", bad[i]);
      is_int (changes.n, 0, "hooks: %s: no change is logged", bad[i]);
    }
}

/* Inbound: the ports a profile publishes. */
static void
test_ingress (void)
{
  static const struct refusal refused[] = {
    { "{\"allow\":[\"80/tcp\",\"x\"]}", "profiles.default.ingress.allow[1]", NULL, "a bad port at index 1" },
    { "{\"ports\":[\"80\"]}", "\"ports\"", NULL, "an unknown ingress key" },
  };
  static const struct
  {
    const char *in, *out;
  } good[] = { { "8080/tcp", "8080/tcp" }, { "53/udp", "53/udp" }, { "9000", "9000" }, { "65535/tcp", "65535/tcp" } };
  static const char *const bad[] = { "0/tcp", "65536", "8080/sctp", "http", "", "80/", "-1", "1.2.3.4:80" };

  for (size_t i = 0; i < sizeof (good) / sizeof (good[0]); i++)
    {
      cleanup_error corral_error_t err = NULL;
      ingress_port_t p;

      if (ok (ingress_port_parse (good[i].in, &p, &err) == 0, "ingress \"%s\" parses", good[i].in))
        {
          cleanup_free char *text = ingress_port_format (&p);
          is_str (text, good[i].out, "and formats back");
        }
    }
  for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++)
    {
      cleanup_error corral_error_t err = NULL;
      ingress_port_t p;

      int r = ingress_port_parse (bad[i], &p, &err);

      ok (r < 0 && err && strstr (err->msg, "ingress entry"), "ingress \"%s\" is refused: %s", bad[i],
          err ? err->msg : "(accepted)");
    }
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_policy corral_policy_t *p
        = parse_policy ("{\"profiles\":{\"default\":{\"ingress\":{\"allow\":[\"8080/tcp\",\"53\"]}},"
                        "\"child\":{\"inherits\":\"default\"}}}",
                        &err);
    const corral_profile_t *c = p ? policy_find_profile (p, "child") : NULL;

    if (ok (c != NULL, "a profile with ingress ports parses: %s", err ? err->msg : ""))
      {
        is_int ((long long) c->n_ingress, 2, "inherited: two published ports");
        is_int (c->ingress[0].port, 8080, "the first is 8080");
        is_int (c->ingress[1].proto, 0, "the second is TCP and UDP");
      }
  }
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_policy corral_policy_t *p = parse_policy ("{\"profiles\":{\"default\":{}}}", &err);
    const corral_profile_t *d = p ? policy_find_profile (p, "default") : NULL;

    ok (d && d->n_ingress == 0, "no ingress section: nothing is published");
  }
  policies_refused ("{\"profiles\":{\"default\":{\"ingress\":", "}}}", refused, ARRAY_LEN (refused));
}

int
main (void)
{
  test_rule_parse ();
  test_rule_within ();
  test_policy_egress ();
  test_annotation ();
  test_state_pid ();
  test_describe_packet ();
  test_harden_hooks ();
  test_ingress ();
  return done_testing ();
}
