/* corral: a tiny header-only TAP producer for the unit tests (run by
 * automake's tap-driver.sh).  The only mutable state is the test counter. */
#ifndef CORRAL_TAP_H
#define CORRAL_TAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAP_PRINTF(f, a) __attribute__ ((format (printf, f, a)))

/* Tests planned (0 = plan printed by done_testing), run so far, and failed
 * (a failing TODO test is expected and does not count). */
static struct
{
  int planned;
  int run;
  int failed;
} tap_counter;

static inline void
tap_vline (bool pass, const char *directive, const char *fmt, va_list ap)
{
  tap_counter.run++;
  printf ("%s %d - ", pass ? "ok" : "not ok", tap_counter.run);
  vprintf (fmt, ap);
  if (directive)
    printf (" # %s", directive);
  putchar ('\n');
  fflush (stdout);
}

/* A diagnostic line; the TAP driver shows it in the test's log. */
static inline void diag (const char *fmt, ...) TAP_PRINTF (1, 2);
static inline void
diag (const char *fmt, ...)
{
  va_list ap;

  fputs ("# ", stdout);
  va_start (ap, fmt);
  vprintf (fmt, ap);
  va_end (ap);
  putchar ('\n');
  fflush (stdout);
}

/* Announce the number of tests up front (or call done_testing at the end). */
static inline void
plan (int n)
{
  tap_counter.planned = n;
  printf ("1..%d\n", n);
  fflush (stdout);
}

static inline bool ok (bool cond, const char *fmt, ...) TAP_PRINTF (2, 3);
static inline bool
ok (bool cond, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  tap_vline (cond, NULL, fmt, ap);
  va_end (ap);
  if (!cond)
    tap_counter.failed++;
  return cond;
}

/* A test of a known bug: failing is expected (XFAIL), passing is reported
 * (XPASS) so the TODO gets removed once the bug is fixed. */
static inline bool todo_ok (bool cond, const char *reason, const char *fmt, ...) TAP_PRINTF (3, 4);
static inline bool
todo_ok (bool cond, const char *reason, const char *fmt, ...)
{
  va_list ap;
  char directive[512];

  snprintf (directive, sizeof (directive), "TODO %s", reason);
  va_start (ap, fmt);
  tap_vline (cond, directive, fmt, ap);
  va_end (ap);
  return cond;
}

static inline bool is_int (long long got, long long want, const char *fmt, ...) TAP_PRINTF (3, 4);
static inline bool
is_int (long long got, long long want, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  tap_vline (got == want, NULL, fmt, ap);
  va_end (ap);
  if (got == want)
    return true;
  tap_counter.failed++;
  diag ("  got:      %lld", got);
  diag ("  expected: %lld", want);
  return false;
}

static inline bool is_str (const char *got, const char *want, const char *fmt, ...) TAP_PRINTF (3, 4);
static inline bool
is_str (const char *got, const char *want, const char *fmt, ...)
{
  bool pass = (got == NULL && want == NULL) || (got && want && strcmp (got, want) == 0);
  va_list ap;

  va_start (ap, fmt);
  tap_vline (pass, NULL, fmt, ap);
  va_end (ap);
  if (pass)
    return true;
  tap_counter.failed++;
  diag ("  got:      %s%s%s", got ? "\"" : "", got ? got : "NULL", got ? "\"" : "");
  diag ("  expected: %s%s%s", want ? "\"" : "", want ? want : "NULL", want ? "\"" : "");
  return false;
}

/* haystack (which may be NULL, e.g. a missing error) contains needle. */
static inline bool like (const char *haystack, const char *needle, const char *fmt, ...) TAP_PRINTF (3, 4);
static inline bool
like (const char *haystack, const char *needle, const char *fmt, ...)
{
  bool pass = haystack && strstr (haystack, needle);
  va_list ap;

  va_start (ap, fmt);
  tap_vline (pass, NULL, fmt, ap);
  va_end (ap);
  if (pass)
    return true;
  tap_counter.failed++;
  diag ("  got:      %s", haystack ? haystack : "NULL");
  diag ("  expected to contain: %s", needle);
  return false;
}

/* Record n tests as skipped, e.g. when the environment lacks something. */
static inline void skip (int n, const char *fmt, ...) TAP_PRINTF (2, 3);
static inline void
skip (int n, const char *fmt, ...)
{
  char reason[512];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (reason, sizeof (reason), fmt, ap);
  va_end (ap);
  for (int i = 0; i < n; i++)
    {
      tap_counter.run++;
      printf ("ok %d # SKIP %s\n", tap_counter.run, reason);
    }
  fflush (stdout);
}

/* Stop everything: the driver reports the whole program as an error. */
static inline void bail_out (const char *fmt, ...) TAP_PRINTF (1, 2) __attribute__ ((noreturn));
static inline void
bail_out (const char *fmt, ...)
{
  va_list ap;

  fputs ("Bail out! ", stdout);
  va_start (ap, fmt);
  vprintf (fmt, ap);
  va_end (ap);
  putchar ('\n');
  fflush (stdout);
  exit (1);
}

/* Print the plan after the fact (unless plan was called); the exit status
 * says whether everything passed. */
static inline int
done_testing (void)
{
  if (tap_counter.planned == 0)
    printf ("1..%d\n", tap_counter.run);
  else if (tap_counter.planned != tap_counter.run)
    {
      diag ("planned %d tests but ran %d", tap_counter.planned, tap_counter.run);
      tap_counter.failed++;
    }
  fflush (stdout);
  return tap_counter.failed ? 1 : 0;
}

/* Source tree root for fixtures: $top_srcdir (set by `make check`) or ".". */
static inline const char *
tap_srcdir (void)
{
  const char *d = getenv ("top_srcdir");
  return d && *d ? d : ".";
}

#endif
