/* corral: what the unit programs share besides TAP: reading files and
 * fixtures of the source tree, parsing test JSON, the shipped policy, a fake
 * namespace classifier and a driver for tables of refused policies.  Header
 * only, like tap.h; every program links libcorral.a, so these run the
 * shipped code. */
#ifndef CORRAL_TESTLIB_H
#define CORRAL_TESTLIB_H

#include <errno.h>
#include <fcntl.h>
#include <glob.h>

#include "base/fs.h"
#include "base/util.h"
#include "spec/harden.h"
#include "base/json.h"
#include "spec/policy.h"
#include "tests/unit/tap.h"

/* Larger than any file a test reads (the biggest is a spec of
 * SPEC_MAX_SIZE). */
#define TEST_READ_MAX (64 * 1024 * 1024)

#define ARRAY_LEN(a) (sizeof (a) / sizeof ((a)[0]))

/* Fixed, so results do not depend on the machine running the tests. */
static const char *const test_arches[] = { "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", NULL };

static inline void
globfreep (glob_t *g)
{
  globfree (g);
}
#define cleanup_glob __attribute__ ((cleanup (globfreep)))

/* The whole file at path, NUL-terminated; its length in *ret_len (may be
 * NULL).  A file a test needs and cannot read ends the program.  Not
 * inlined: GCC 12 then takes pointers into the result for pointers to the
 * local `data` (-Wdangling-pointer). */
static __attribute__ ((unused, noinline)) char *
read_file (const char *path, size_t *ret_len)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  char *data = NULL;
  size_t len;

  if (fd < 0 || fd_read_all (fd, TEST_READ_MAX, path, &data, &len, &err) < 0)
    bail_out ("cannot read %s: %s", path, err ? err->msg : strerror (errno));
  if (ret_len)
    *ret_len = len;
  return data;
}

/* tests/fixtures/<rel> of the source tree, as text. */
static inline char *
read_fixture (const char *rel, size_t *ret_len)
{
  cleanup_free char *path = NULL;

  xasprintf (&path, "%s/tests/fixtures/%s", tap_srcdir (), rel);
  return read_file (path, ret_len);
}

/* JSON written in a test; it must parse. */
static inline json_t *
parse_json (const char *text)
{
  cleanup_error corral_error_t err = NULL;
  json_t *v = json_parse (text, strlen (text), &err);

  if (v == NULL)
    bail_out ("test JSON does not parse: %s: %s", err ? err->msg : "?", text);
  return v;
}

/* tests/fixtures/<dir>/<name>, parsed. */
static inline json_t *
load_fixture (const char *dir, const char *name)
{
  cleanup_free char *rel = NULL;
  cleanup_free char *data = NULL;

  xasprintf (&rel, "%s/%s", dir, name);
  data = read_fixture (rel, NULL);
  return parse_json (data);
}

/* The shipped configs/policy.json. */
static inline corral_policy_t *
load_policy (void)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_free char *path = NULL;
  cleanup_free char *data = NULL;
  corral_policy_t *p;
  size_t len;

  xasprintf (&path, "%s/configs/policy.json", tap_srcdir ());
  data = read_file (path, &len);
  p = policy_parse (data, len, path, &err);
  if (p == NULL)
    bail_out ("configs/policy.json does not parse: %s", err ? err->msg : "?");
  return p;
}

/* The shipped policy's default, offline and untrusted profiles; a policy
 * without them ends the program. */
static inline void
shipped_profiles (const corral_policy_t *p, const corral_profile_t **ret_default, const corral_profile_t **ret_offline,
                  const corral_profile_t **ret_untrusted)
{
  *ret_default = policy_find_profile (p, "default");
  *ret_offline = policy_find_profile (p, "offline");
  *ret_untrusted = policy_find_profile (p, "untrusted");
  if (*ret_default == NULL || *ret_offline == NULL || *ret_untrusted == NULL)
    bail_out ("configs/policy.json lacks the default, offline or untrusted profile");
}

/* The .json files of tests/fixtures/<dir> into *g; one test that there are at least
 * min of them (a glob that matches too little proves nothing). */
static inline void
glob_fixtures (const char *dir, size_t min, glob_t *g)
{
  cleanup_free char *pattern = NULL;

  xasprintf (&pattern, "%s/tests/fixtures/%s/*.json", tap_srcdir (), dir);
  if (glob (pattern, 0, NULL, g) != 0)
    bail_out ("no fixtures match %s", pattern);
  ok (g->gl_pathc >= min, "found %zu fixtures in tests/fixtures/%s", g->gl_pathc, dir);
}

/* The file name part of a path. */
static inline const char *
base_name (const char *path)
{
  const char *slash = strrchr (path, '/');
  return slash ? slash + 1 : path;
}

static inline bool
strv_has (char *const *v, const char *s)
{
  for (; v && *v; v++)
    if (str_eq (*v, s))
      return true;
  return false;
}

/* What the driver would prove on a host (see shim/facts.c): named netns
 * are fresh, /proc/self is the host, /proc/4242 is the corral pod sandbox
 * "sandbox-ok"; nothing else is proven. */
static inline enum ns_join
fake_classify_join (const harden_ctx_t *ctx, const char *type, const char *path, const char *sandbox_id)
{
  (void) ctx;
  if (str_has_prefix (path, "/run/netns/") && str_eq (type, "network"))
    return NS_JOIN_FRESH_NETNS;
  if (str_has_prefix (path, "/proc/self/ns/"))
    return NS_JOIN_HOST;
  if (str_has_prefix (path, "/proc/4242/ns/") && str_eq (sandbox_id, "sandbox-ok"))
    return NS_JOIN_POD_SANDBOX;
  return NS_JOIN_UNPROVEN;
}

/* A policy that must be refused: the text (inside the wrapping the driver
 * is given), what the message must contain (needle2 may be NULL) and what
 * the case is. */
struct refusal
{
  const char *text;
  const char *needle1;
  const char *needle2;
  const char *what;
};

/* Parse before + text + after for each case: each must be refused, and
 * the message must name each needle. */
static inline void
policies_refused (const char *before, const char *after, const struct refusal *cases, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      cleanup_error corral_error_t err = NULL;
      cleanup_free char *text = NULL;
      cleanup_policy corral_policy_t *p = NULL;
      const struct refusal *c = &cases[i];

      xasprintf (&text, "%s%s%s", before, c->text, after);
      p = policy_parse (text, strlen (text), "test-policy.json", &err);
      ok (p == NULL, "%s is refused", c->what);
      like (err ? err->msg : NULL, c->needle1, "%s: message has \"%s\"", c->what, c->needle1);
      if (c->needle2)
        like (err ? err->msg : NULL, c->needle2, "%s: message has \"%s\"", c->what, c->needle2);
    }
}

#endif
