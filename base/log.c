/* corral: log sink writing runc-format lines to --log and plain text to stderr. */
#include "config.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/uio.h>
#include <time.h>

#include "base/log.h"
#include "base/json.h"
#include "base/util.h"

/* The log sink is one of the two globals HACKING.md allows. */
static struct
{
  int fd;
  bool json;
  bool debug;
} sink = { .fd = -1 };

static const char *const level_names[] = {
  [LOG_LEVEL_ERROR] = "error",
  [LOG_LEVEL_WARNING] = "warning",
  [LOG_LEVEL_INFO] = "info",
  [LOG_LEVEL_DEBUG] = "debug",
};

void
log_init (const char *path, bool json, bool debug)
{
  log_close ();
  sink.json = json;
  sink.debug = debug;
  if (path == NULL || *path == '\0' || str_eq (path, "/dev/stderr"))
    return;
  sink.fd = open (path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
  if (sink.fd < 0)
    dprintf (STDERR_FILENO, "corral: open log file `%s`: %m\n", path);
}

void
log_close (void)
{
  if (sink.fd >= 0)
    (void) close (sink.fd);
  sink.fd = -1;
}

bool
log_debug_enabled (void)
{
  return sink.debug;
}

void
log_format_line (char **ret, enum log_level level, bool json, const char *time, const char *msg)
{
  cleanup_free char *qmsg = NULL;
  cleanup_free char *qtime = NULL;

  /* runc's order of members, which containerd shows as it is. */
  if (json)
    {
      cleanup_json json_t *o = json_new_object ();

      json_set (o, "level", json_new_string (level_names[level]));
      json_set (o, "msg", json_new_string (msg));
      json_set (o, "time", json_new_string (time));
      *ret = json_serialize (o, false);
      return;
    }
  qmsg = json_quote (msg);
  qtime = json_quote (time);
  xasprintf (ret, "time=%s level=%s msg=%s", qtime, level_names[level], qmsg);
}

static void
write_all (int fd, const char *s, size_t len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, s, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return;
      s += n;
      len -= (size_t) n;
    }
}

void
log_msg (enum log_level level, const char *fmt, ...)
{
  cleanup_free char *msg = NULL;
  int saved_errno = errno;
  va_list ap;

  if (level == LOG_LEVEL_DEBUG && !sink.debug)
    return;

  va_start (ap, fmt);
  if (vasprintf (&msg, fmt, ap) < 0)
    abort ();
  va_end (ap);

  if (sink.fd >= 0)
    {
      cleanup_free char *line = NULL;
      cleanup_free char *nl = NULL;
      char time[64];

      now_rfc3339 (time, sizeof (time));
      log_format_line (&line, level, sink.json, time, msg);
      /* One write per line so concurrent writers never interleave. */
      xasprintf (&nl, "%s\n", line);
      write_all (sink.fd, nl, strlen (nl));
    }

  /* Errors always reach stderr: Podman shows them as "OCI runtime error:
   * corral: <stderr>"; containerd only reads the --log file. */
  if (level <= LOG_LEVEL_WARNING || sink.debug)
    {
      cleanup_free char *line = NULL;
      if (level == LOG_LEVEL_ERROR)
        xasprintf (&line, "%s\n", msg);
      else
        xasprintf (&line, "%s: %s\n", level_names[level], msg);
      write_all (STDERR_FILENO, line, strlen (line));
    }
  errno = saved_errno;
}
