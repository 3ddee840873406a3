/* corral: construction and wrapping of corral_error_t. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "base/util.h"

int
corral_error_make (corral_error_t *err, int errno_, const char *fmt, ...)
{
  cleanup_free char *msg = NULL;
  va_list ap;

  if (err == NULL || *err != NULL)
    return -1;

  va_start (ap, fmt);
  if (vasprintf (&msg, fmt, ap) < 0)
    msg = NULL;
  va_end (ap);
  if (msg == NULL)
    abort ();

  *err = xmalloc0 (sizeof (**err));
  (*err)->status = errno_;
  if (errno_ != 0)
    xasprintf (&(*err)->msg, "%s: %s", msg, strerror (errno_));
  else
    (*err)->msg = steal_pointer (&msg);
  return -1;
}

int
corral_error_wrap (corral_error_t *err, const char *fmt, ...)
{
  cleanup_free char *prefix = NULL;
  char *msg;
  va_list ap;

  if (err == NULL || *err == NULL)
    return -1;

  va_start (ap, fmt);
  if (vasprintf (&prefix, fmt, ap) < 0)
    abort ();
  va_end (ap);

  xasprintf (&msg, "%s: %s", prefix, (*err)->msg);
  free ((*err)->msg);
  (*err)->msg = msg;
  return -1;
}

void
corral_error_release (corral_error_t *err)
{
  if (err == NULL || *err == NULL)
    return;
  free ((*err)->msg);
  free (*err);
  *err = NULL;
}
