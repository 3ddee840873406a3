/* corral: allocation helpers and string utilities. */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "base/util.h"

static void *
oom (void)
{
  static const char msg[] = "corral: out of memory\n";
  (void) !write (STDERR_FILENO, msg, sizeof (msg) - 1);
  abort ();
}

void *
xmalloc (size_t n)
{
  void *p = malloc (n ? n : 1);
  return p ? p : oom ();
}

void *
xmalloc0 (size_t n)
{
  void *p = calloc (1, n ? n : 1);
  return p ? p : oom ();
}

void *
xrealloc (void *p, size_t n)
{
  void *r = realloc (p, n ? n : 1);
  return r ? r : oom ();
}

char *
xstrdup (const char *s)
{
  char *r = strdup (s);
  return r ? r : oom ();
}

char *
xstrndup (const char *s, size_t n)
{
  char *r = strndup (s, n);
  return r ? r : oom ();
}

int
xasprintf (char **ret, const char *fmt, ...)
{
  va_list ap;
  int n;

  va_start (ap, fmt);
  n = vasprintf (ret, fmt, ap);
  va_end (ap);
  if (n < 0)
    oom ();
  return n;
}

void
strv_free (char **v)
{
  if (v == NULL)
    return;
  for (char **i = v; *i; i++)
    free (*i);
  free (v);
}

size_t
strv_len (char *const *v)
{
  size_t n = 0;
  while (v && v[n])
    n++;
  return n;
}

char **
strv_dup (char *const *v)
{
  size_t n = strv_len (v);
  char **out;

  if (v == NULL)
    return NULL;
  out = xmalloc0 ((n + 1) * sizeof (char *));
  for (size_t i = 0; i < n; i++)
    out[i] = xstrdup (v[i]);
  return out;
}

bool
strv_has_pair (char *const *v, const char *key, const char *value)
{
  for (size_t i = 0; v && v[i] && v[i + 1]; i++)
    if (str_eq (v[i], key) && str_eq (v[i + 1], value))
      return true;
  return false;
}

static bool
chr_eq (char a, char b, bool ignore_case)
{
  if (ignore_case)
    return tolower ((unsigned char) a) == tolower ((unsigned char) b);
  return a == b;
}

/* Iterative matcher with single-star backtracking: linear in practice and
 * never recursive, so a hostile pattern cannot blow the stack.  Lengths, not
 * NULs, bound both strings, so callers can match prefixes without copies. */
bool
glob_match_n (const char *p, size_t plen, const char *s, size_t slen, bool ignore_case)
{
  const char *pend = p + plen, *send = s + slen;
  const char *star = NULL, *resume = NULL;

  while (s < send)
    {
      if (p < pend && *p == '*')
        {
          star = p++;
          resume = s;
        }
      else if (p < pend && (*p == '?' || chr_eq (*p, *s, ignore_case)))
        {
          p++;
          s++;
        }
      else if (star)
        {
          p = star + 1;
          s = ++resume;
        }
      else
        return false;
    }
  while (p < pend && *p == '*')
    p++;
  return p == pend;
}

bool
glob_match (const char *p, const char *s, bool ignore_case)
{
  return glob_match_n (p, strlen (p), s, strlen (s), ignore_case);
}

/* Sizes are bytes, or a number with a k/m/g suffix (powers of 1024). */
int
parse_size (const char *s, int64_t *ret)
{
  char *end;
  long long n;
  int64_t mult = 1;

  errno = 0;
  n = strtoll (s, &end, 10);
  if (errno || end == s || n < 0)
    return -1;
  switch (*end)
    {
    case '\0':
      break;
    case 'k':
    case 'K':
      mult = 1024;
      break;
    case 'm':
    case 'M':
      mult = 1024 * 1024;
      break;
    case 'g':
    case 'G':
      mult = 1024 * 1024 * 1024;
      break;
    default:
      return -1;
    }
  if (*end && end[1] != '\0')
    return -1;
  if (n > INT64_MAX / mult)
    return -1;
  *ret = n * mult;
  return 0;
}

uint64_t
monotonic_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

void
now_rfc3339 (char *buf, size_t len)
{
  struct timespec ts;
  struct tm tm;
  char base[32];

  clock_gettime (CLOCK_REALTIME, &ts);
  gmtime_r (&ts.tv_sec, &tm);
  strftime (base, sizeof (base), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf (buf, len, "%s.%09ldZ", base, ts.tv_nsec);
}
