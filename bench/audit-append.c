/* audit-append: the cost of one audit record, through corral's own
 * audit_append (lock, tail read, HMAC, one write, fsync per the flag), on
 * a log in DIR.  Prints the median, p95 and mean microseconds per record.
 * Usage: audit-append DIR N FSYNC(0|1) */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "services/audit.h"
#include "base/util.h"

static int64_t
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int
cmp (const void *a, const void *b)
{
  int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
  return (x > y) - (x < y);
}

int
main (int argc, char **argv)
{
  cleanup_free char *path = NULL;
  cleanup_free char *key = NULL;
  cleanup_free int64_t *t = NULL;
  audit_subject_t who = { .container = "bench", .agent = "bench", .engine = "bench" };
  audit_config_t c = { 0 };
  long n;
  int64_t sum = 0;

  if (argc != 4 || (n = strtol (argv[2], NULL, 10)) <= 0)
    {
      fprintf (stderr, "usage: audit-append DIR N FSYNC(0|1)\n");
      return 2;
    }
  xasprintf (&path, "%s/audit.jsonl", argv[1]);
  xasprintf (&key, "%s/audit.key", argv[1]);
  c.path = path;
  c.key_path = key;
  c.fsync = str_eq (argv[3], "1");
  t = xmalloc ((size_t) n * sizeof (*t));
  for (long i = 0; i < n; i++)
    {
      cleanup_error corral_error_t err = NULL;
      cleanup_json json_t *f = json_new_object ();
      int64_t t0;

      /* About the size of a start record. */
      json_set (f, "pid_file", json_new_string ("/run/containers/storage/overlay-containers/0123456789abcdef/pidfile"));
      json_set (f, "i", json_new_int (i));
      t0 = now_ns ();
      if (audit_append (&c, &who, "start", f, &err) < 0)
        {
          fprintf (stderr, "audit-append: %s\n", err->msg);
          return 1;
        }
      t[i] = now_ns () - t0;
      sum += t[i];
    }
  qsort (t, (size_t) n, sizeof (*t), cmp);
  printf ("%ld records, fsync %s: median %.0f us, p95 %.0f us, mean %.0f us\n", n, c.fsync ? "on" : "off",
          (double) t[n / 2] / 1000, (double) t[n * 95 / 100] / 1000, (double) sum / (double) n / 1000);
  return 0;
}
