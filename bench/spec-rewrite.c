/* corral benchmark: the cost of one config.json rewrite at create time —
 * strict parse, profile selection, every hardening step, serialisation —
 * on a large engine spec.  It prints numbers and never judges them.
 *
 *   spec-rewrite [-n N] [--policy FILE] [--profile NAME] CONFIG
 *   spec-rewrite --pad FIXTURE [--size BYTES] > CONFIG
 *
 * The second form makes CONFIG: a real engine config.json padded with
 * environment variables (some secret-looking), bind mounts and annotations
 * until it is at least BYTES (default 40960) long.
 *
 * Left out, because they measure the disk and not corral: reading the policy
 * file, resolving bind-mount sources with realpath(3), and the atomic write
 * of the result (temp file, fsync, rename). */
#include "config.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "base/fs.h"
#include "base/util.h"
#include "spec/bundle.h"
#include "spec/harden.h"
#include "spec/policy.h"

#ifndef BENCH_SRCDIR
#define BENCH_SRCDIR "."
#endif

static void die (corral_error_t *err, const char *what) __attribute__ ((noreturn));

/* A benchmark is a CLI driver: it reports and exits. */
static void
die (corral_error_t *err, const char *what)
{
  fprintf (stderr, "spec-rewrite: %s%s%s\n", what, err && *err ? ": " : "", err && *err ? (*err)->msg : "");
  exit (1);
}

static char *
read_path (const char *path, size_t max, size_t *ret_len)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  char *data = NULL;

  if (fd < 0)
    corral_error_make (&err, errno, "open `%s`", path);
  if (fd < 0 || fd_read_all (fd, max, path, &data, ret_len, &err) < 0)
    die (&err, "cannot read the input");
  return data;
}

static double
now_us (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

static size_t
serialized_size (const json_t *spec)
{
  cleanup_free char *s = json_serialize (spec, false);
  return strlen (s);
}

static json_t *
string_array (const char *const *items)
{
  json_t *arr = json_new_array ();

  for (; *items; items++)
    json_push (arr, json_new_string (*items));
  return arr;
}

/* Grow spec to at least target bytes with the things real agent containers
 * carry many of: environment variables, volumes, annotations. */
static void
pad_spec (json_t *spec, size_t target)
{
  static const char *const bind_opts[] = { "rbind", "rprivate", NULL };
  json_t *env = json_ensure_array (json_ensure_object (spec, "process"), "env");
  json_t *mounts = json_ensure_array (spec, "mounts");
  json_t *ann = json_ensure_object (spec, "annotations");

  for (unsigned i = 0; serialized_size (spec) < target; i++)
    {
      cleanup_free char *var = NULL;
      cleanup_free char *src = NULL;
      cleanup_free char *dst = NULL;
      cleanup_free char *key = NULL;
      json_t *m = json_new_object ();

      /* One variable in eight looks like a secret, so the environment step
       * has something to strip. */
      if (i % 8 == 7)
        xasprintf (&var, "BENCH_SERVICE_%03u_TOKEN=tok-%08x", i, i * 2654435761u);
      else
        xasprintf (&var, "BENCH_SETTING_%03u=value-%u-abcdefghijklmnopqrstuvwxyz", i, i);
      json_push (env, json_new_string (var));

      xasprintf (&src, "/var/lib/bench/volumes/vol%03u/_data", i);
      xasprintf (&dst, "/data/vol%03u", i);
      json_set (m, "destination", json_new_string (dst));
      json_set (m, "type", json_new_string ("bind"));
      json_set (m, "source", json_new_string (src));
      json_set (m, "options", string_array (bind_opts));
      json_push (mounts, m);

      xasprintf (&key, "org.example.bench.label-%03u", i);
      json_set (ann, key, json_new_string ("a label an orchestrator attached to the container"));
    }
}

static int
cmd_pad (const char *fixture, size_t target)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_free char *data = NULL;
  cleanup_free char *out = NULL;
  cleanup_json json_t *spec = NULL;
  size_t len;

  data = read_path (fixture, SPEC_MAX_SIZE, &len);
  spec = spec_parse (data, len, fixture, &err);
  if (spec == NULL)
    die (&err, "cannot parse the fixture");
  pad_spec (spec, target);
  out = json_serialize (spec, false);
  printf ("%s\n", out);
  return 0;
}

struct stage_times
{
  double parse, select, harden, serialize, total;
};

/* One rewrite, as cmd_create in shim/main.c does it, minus the file I/O. */
static void
rewrite_once (const char *data, size_t len, const corral_policy_t *policy, const char *flag_profile,
              struct stage_times *t, size_t *ret_out_len, size_t *ret_changes)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_json json_t *spec = NULL;
  cleanup_profile corral_profile_t *profile = NULL;
  cleanup_free char *out = NULL;
  const corral_profile_t *base;
  changes_t changes = { 0 };
  harden_ctx_t ctx = {
    .seccomp_arches = harden_native_arches (),
    .resolve_source = NULL,
  };
  double t0, t1, t2, t3, t4;

  t0 = now_us ();
  spec = spec_parse (data, len, "config.json", &err);
  if (spec == NULL)
    die (&err, "parse");
  t1 = now_us ();
  base = policy_select_profile (policy, flag_profile, json_get (spec, "annotations"), &err);
  if (base == NULL)
    die (&err, "select profile");
  profile = profile_with_annotations (base, json_get (spec, "annotations"), &err);
  if (profile == NULL)
    die (&err, "annotations");
  ctx.profile = profile;
  t2 = now_us ();
  if (harden_spec (spec, &ctx, &changes, &err) < 0)
    die (&err, "harden");
  t3 = now_us ();
  out = json_serialize (spec, false);
  t4 = now_us ();

  t->parse = t1 - t0;
  t->select = t2 - t1;
  t->harden = t3 - t2;
  t->serialize = t4 - t3;
  t->total = t4 - t0;
  *ret_out_len = strlen (out);
  *ret_changes = changes.n;
  changes_release (&changes);
}

static void
usage (void)
{
  fprintf (stderr, "usage: spec-rewrite [-n N] [--policy FILE] [--profile NAME] CONFIG\n"
                   "       spec-rewrite --pad FIXTURE [--size BYTES] > CONFIG\n");
  exit (2);
}

int
main (int argc, char **argv)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_policy corral_policy_t *policy = NULL;
  cleanup_free char *policy_data = NULL;
  cleanup_free char *data = NULL;
  cleanup_free double *totals = NULL;
  const char *policy_path = BENCH_SRCDIR "/configs/policy.json";
  const char *profile = NULL, *config = NULL, *pad = NULL;
  struct stage_times sum = { 0 }, t;
  size_t target = 40960, len, policy_len, out_len = 0, n_changes = 0;
  long n = 2000;

  for (int i = 1; i < argc; i++)
    {
      if (str_eq (argv[i], "-n") && i + 1 < argc)
        n = strtol (argv[++i], NULL, 10);
      else if (str_eq (argv[i], "--policy") && i + 1 < argc)
        policy_path = argv[++i];
      else if (str_eq (argv[i], "--profile") && i + 1 < argc)
        profile = argv[++i];
      else if (str_eq (argv[i], "--pad") && i + 1 < argc)
        pad = argv[++i];
      else if (str_eq (argv[i], "--size") && i + 1 < argc)
        target = (size_t) strtoul (argv[++i], NULL, 10);
      else if (argv[i][0] != '-' && config == NULL)
        config = argv[i];
      else
        usage ();
    }
  if (pad)
    return cmd_pad (pad, target);
  if (config == NULL || n < 1)
    usage ();

  policy_data = read_path (policy_path, POLICY_MAX_SIZE, &policy_len);
  policy = policy_parse (policy_data, policy_len, policy_path, &err);
  if (policy == NULL)
    die (&err, "policy");
  data = read_path (config, SPEC_MAX_SIZE, &len);

  /* Warm up caches and the allocator; not counted. */
  for (long i = 0; i < 20; i++)
    rewrite_once (data, len, policy, profile, &t, &out_len, &n_changes);

  totals = xmalloc ((size_t) n * sizeof (double));
  for (long i = 0; i < n; i++)
    {
      rewrite_once (data, len, policy, profile, &t, &out_len, &n_changes);
      sum.parse += t.parse;
      sum.select += t.select;
      sum.harden += t.harden;
      sum.serialize += t.serialize;
      sum.total += t.total;
      totals[i] = t.total;
    }
  qsort (totals, (size_t) n, sizeof (double), cmp_double);

  printf ("spec-rewrite: %s (%zu bytes in, %zu bytes out, %zu changes), profile %s, %ld iterations\n", config, len,
          out_len, n_changes, profile ? profile : policy->default_profile, n);
  printf ("  per rewrite: median %.1f us, mean %.1f us, min %.1f us, p95 %.1f us\n", totals[n / 2], sum.total / n,
          totals[0], totals[n * 95 / 100]);
  printf ("  mean by stage: parse %.1f us, profile %.1f us, harden %.1f us, serialize %.1f us\n", sum.parse / n,
          sum.select / n, sum.harden / n, sum.serialize / n);
  return 0;
}
