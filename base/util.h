/* corral: cleanup attributes, allocation helpers and small string utilities
 * shared by every module. */
#ifndef CORRAL_UTIL_H
#define CORRAL_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define cleanup_free __attribute__ ((cleanup (cleanup_freep)))
#define cleanup_close __attribute__ ((cleanup (cleanup_closep)))
#define cleanup_strv __attribute__ ((cleanup (cleanup_strvp)))

static inline void
cleanup_freep (void *p)
{
  void **pp = (void **) p;
  free (*pp);
}

static inline void
cleanup_closep (int *fd)
{
  if (*fd >= 0)
    {
      int saved = errno;
      (void) close (*fd);
      errno = saved;
    }
}

void strv_free (char **v);

static inline void
cleanup_strvp (char ***v)
{
  strv_free (*v);
}

/* Take ownership of *p, leaving NULL behind so the cleanup does nothing. */
static inline void *
steal_pointer_ (void *pp)
{
  void **p = (void **) pp;
  void *r = *p;
  *p = NULL;
  return r;
}
#define steal_pointer(pp) steal_pointer_ (pp)

static inline int
steal_fd (int *fd)
{
  int r = *fd;
  *fd = -1;
  return r;
}

/* Out of memory is not propagated: corral aborts (see HACKING.md). */
void *xmalloc (size_t n);
void *xmalloc0 (size_t n);
void *xrealloc (void *p, size_t n);
char *xstrdup (const char *s);
char *xstrndup (const char *s, size_t n);
int xasprintf (char **ret, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static inline bool
str_eq (const char *a, const char *b)
{
  return a != NULL && b != NULL && strcmp (a, b) == 0;
}

static inline bool
str_has_prefix (const char *s, const char *prefix)
{
  return strncmp (s, prefix, strlen (prefix)) == 0;
}

size_t strv_len (char *const *v);
/* A deep copy of a NULL-terminated vector (NULL for NULL). */
char **strv_dup (char *const *v);

/* Does v hold key immediately followed by value ("--network", "host")? */
bool strv_has_pair (char *const *v, const char *key, const char *value);

/* Milliseconds of CLOCK_MONOTONIC (timeouts, rates). */
uint64_t monotonic_ms (void);

/* The current UTC time, RFC 3339 with nanoseconds (buf: 40 bytes). */
void now_rfc3339 (char *buf, size_t len);

/* Bytes, or a number with a k/m/g suffix (powers of 1024); -1 if invalid. */
int parse_size (const char *s, int64_t *ret);

/* Simple shell-style glob match ('*' and '?'), used for secret patterns. */
bool glob_match (const char *pattern, const char *s, bool ignore_case);
bool glob_match_n (const char *pattern, size_t plen, const char *s, size_t slen, bool ignore_case);

#endif
