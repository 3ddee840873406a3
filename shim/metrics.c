/* corral metrics: Prometheus metrics gathered from what corral already
 * writes: the state records under /run/corral (with the watchdog's trip
 * mark and the DNS guard's status in each container's directory), the
 * logs under /var/log/corral and the audit log.  Nothing keeps counters
 * of its own: each run counts the logs again (docs/metrics.md, "Cost"). */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "base/fs.h"
#include "base/log.h"
#include "base/util.h"
#include "hooks/dnsguard.h"
#include "hooks/nflog.h"
#include "hooks/watchdog.h"
#include "services/audit.h"
#include "shim/commands.h"
#include "shim/report.h"
#include "spec/metrics.h"

/* Longer lines are skipped and counted as unparsed: far above any record
 * corral writes, and it bounds what one scrape holds in memory. */
#define METRICS_LINE_MAX (1024 * 1024)
#define METRICS_CHUNK (64 * 1024)
#define STATUS_MAX (4 * 1024 * 1024)

static double
now_seconds (clockid_t clock)
{
  struct timespec ts;

  clock_gettime (clock, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* Feed the whole lines of data to the counter, carrying a partial line
 * over in line/have; a line past METRICS_LINE_MAX is skipped. */
static void
count_chunk (metrics_t *m, enum metrics_log log, const char *data, size_t n, char *line, size_t *have, bool *skipping)
{
  const char *p = data, *end = data + n;

  while (p < end)
    {
      const char *nl = memchr (p, '\n', (size_t) (end - p));
      size_t seg = (size_t) ((nl ? nl : end) - p);

      if (!*skipping && *have + seg > METRICS_LINE_MAX)
        *skipping = true;
      if (!*skipping)
        {
          memcpy (line + *have, p, seg);
          *have += seg;
        }
      if (nl == NULL)
        break;
      if (*skipping)
        metrics_count_unparsed (m, log);
      else
        metrics_count_line (m, log, line, *have);
      *skipping = false;
      *have = 0;
      p = nl + 1;
    }
}

/* Count the records of a log, streaming: memory stays bounded whatever
 * its size, and only the bytes there when it was opened are read (the
 * helpers keep appending).  A last line without its newline is a record
 * being written: the next run counts it.  An absent log is an empty one. */
static int
count_log (metrics_t *m, enum metrics_log log, const char *path, corral_error_t *err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  cleanup_free char *line = NULL;
  cleanup_free char *chunk = NULL;
  size_t have = 0;
  bool skipping = false;
  struct stat st;
  off_t left;

  if (fd < 0)
    return errno == ENOENT ? 0 : corral_error_make (err, errno, "open `%s`", path);
  if (fstat (fd, &st) < 0)
    return corral_error_make (err, errno, "stat `%s`", path);
  if (!S_ISREG (st.st_mode))
    return corral_error_make (err, 0, "`%s` is not a regular file", path);
  m->log_bytes[log] = (int64_t) st.st_size;
  line = xmalloc (METRICS_LINE_MAX);
  chunk = xmalloc (METRICS_CHUNK);
  for (left = st.st_size; left > 0;)
    {
      ssize_t n = read (fd, chunk, left < METRICS_CHUNK ? (size_t) left : METRICS_CHUNK);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return corral_error_make (err, errno, "read `%s`", path);
      if (n == 0)
        break; /* truncated under us: what was read counts */
      left -= n;
      count_chunk (m, log, chunk, (size_t) n, line, &have, &skipping);
    }
  return 0;
}

static json_t *
read_json_at (int dirfd, const char *name)
{
  cleanup_close int fd = openat (dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  cleanup_free char *data = NULL;
  size_t len;

  if (fd < 0 || fd_read_all (fd, STATUS_MAX, name, &data, &len, NULL) < 0)
    return NULL;
  return json_parse (data, len, NULL);
}

/* What a container's state directory says now: a budget froze it (the
 * watchdog's trip mark, until `corral resume` removes it), names its DNS
 * guard holds for a human, and the guard's own error counters. */
static void
count_state_dir (metrics_t *m, const char *dir)
{
  cleanup_close int dfd = open (dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  cleanup_json json_t *tripped = NULL;
  cleanup_json json_t *status = NULL;
  static const char *const guard_keys[METRICS_GUARD_N] = { "upstream_errors", "nft_errors", "audit_errors" };
  const json_t *asks;

  if (dfd < 0)
    return;
  tripped = read_json_at (dfd, WATCHDOG_TRIPPED);
  if (str_eq (json_get_string (tripped, "action"), "freeze"))
    m->frozen++;
  status = read_json_at (dfd, DNSGUARD_STATUS_NAME);
  asks = json_get (status, "asks");
  for (size_t i = 0; i < json_len (asks); i++)
    if (str_eq (json_get_string (json_at (asks, i), "state"), "pending"))
      m->asks_pending++;
  for (int k = 0; k < METRICS_GUARD_N; k++)
    {
      int64_t v = 0;
      if (json_int64 (json_get (status, guard_keys[k]), &v) && v > 0)
        m->guard_errors[k] += (uint64_t) v;
    }
}

static int
gather_containers (metrics_t *m, corral_error_t *err)
{
  const char *base = shim_state_base ();
  cleanup_json json_t *list = report_list (base, err);

  if (list == NULL)
    return -1;
  for (size_t i = 0; i < json_len (list); i++)
    {
      const json_t *c = json_at (list, i);
      cleanup_free char *dir = state_container_dir (base, json_get_string (c, "root"), json_get_string (c, "id"));

      metrics_add_container (m, json_get_string (c, "profile"), json_get_string (c, "runtime"));
      count_state_dir (m, dir);
    }
  return 0;
}

/* The chain, checked by the code `corral audit verify` runs (the live log
 * and the policy's key); why it broke goes to the warning log. */
static void
verify_audit (metrics_t *m, const audit_config_t *c)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_free char *report = NULL;
  size_t report_len = 0;
  FILE *out = open_memstream (&report, &report_len);
  double t0 = now_seconds (CLOCK_MONOTONIC);
  int r;

  if (out == NULL)
    abort ();
  r = audit_verify (c->path, c->key_path, out, &err);
  fclose (out);
  m->audit_verify_seconds = now_seconds (CLOCK_MONOTONIC) - t0;
  m->audit_verify_time = now_seconds (CLOCK_REALTIME);
  m->audit_valid = r == 0;
  if (r < 0)
    log_warning ("audit log not verified: %s", err->msg);
  else if (r > 0)
    log_warning ("audit log does not verify: %s", report);
}

static void
gather (metrics_t *m, const audit_config_t *audit)
{
  static const struct
  {
    enum metrics_log log;
    enum metrics_source src;
    const char *path;
  } logs[] = {
    { METRICS_LOG_EGRESS, METRICS_SRC_EGRESS_LOG, CORRAL_LOG_DIR "/" EGRESS_LOG_NAME },
    { METRICS_LOG_DNS, METRICS_SRC_DNS_LOG, CORRAL_LOG_DIR "/" DNS_LOG_NAME },
    { METRICS_LOG_BUDGET, METRICS_SRC_BUDGET_LOG, CORRAL_LOG_DIR "/" BUDGET_LOG_NAME },
  };
  cleanup_error corral_error_t err = NULL;

  /* A source that cannot be read is reported down and the rest still
   * goes out: one unreadable log must not blind the whole scrape. */
  m->source_up[METRICS_SRC_STATE] = gather_containers (m, &err) == 0;
  if (err)
    {
      log_warning ("metrics: %s", err->msg);
      corral_error_release (&err);
    }
  for (size_t i = 0; i < sizeof (logs) / sizeof (logs[0]); i++)
    {
      m->source_up[logs[i].src] = count_log (m, logs[i].log, logs[i].path, &err) == 0;
      if (err)
        {
          log_warning ("metrics: %s", err->msg);
          corral_error_release (&err);
        }
    }
  m->source_up[METRICS_SRC_AUDIT_LOG] = count_log (m, METRICS_LOG_AUDIT, audit->path, &err) == 0;
  if (err)
    log_warning ("metrics: %s", err->msg);
  verify_audit (m, audit);
}

/* Replace PATH whole (temp file in its directory, fsync, rename), so
 * node_exporter's textfile collector never reads half a file; 0644, as
 * the collector may run as another user. */
static int
write_textfile (const char *path, const char *text, corral_error_t *err)
{
  cleanup_free char *dir = xstrdup (path);
  char *slash = strrchr (dir, '/');
  const char *name = slash ? slash + 1 : path;
  cleanup_close int dfd = -1;

  if (*name == '\0')
    return corral_error_make (err, 0, "metrics: --textfile `%s` names a directory, not a file", path);
  if (slash == dir)
    dir[1] = '\0';
  else if (slash)
    *slash = '\0';
  dfd = open (slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return corral_error_make (err, errno, "metrics: open directory `%s`", slash ? dir : ".");
  return file_replace_at (dfd, name, text, strlen (text), 0644, err);
}

int
cmd_metrics (const cli_t *cli)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_policy corral_policy_t *policy = NULL;
  cleanup_metrics metrics_t m;
  cleanup_free char *text = NULL;
  const char *textfile = NULL;
  audit_config_t defaults;
  int r = 0;

  metrics_init (&m, PACKAGE_VERSION);
  for (int i = 0; i < cli->n_command_args; i++)
    {
      if (str_eq (cli->command_args[i], "--textfile") && i + 1 < cli->n_command_args)
        textfile = cli->command_args[++i];
      else if (str_eq (cli->command_args[i], "--textfile"))
        {
          corral_error_make (&err, 0, "metrics: --textfile wants a PATH (usage: corral metrics [--textfile PATH])");
          return shim_fail (&err);
        }
      else
        {
          corral_error_make (&err, 0, "metrics: unknown argument `%s` (usage: corral metrics [--textfile PATH])",
                             cli->command_args[i]);
          return shim_fail (&err);
        }
    }
  /* As `corral audit`: a broken policy must not stop the metrics; its
   * audit section falls back to the defaults. */
  audit_config_defaults (&defaults);
  policy = policy_load (shim_policy_path (cli), &err);
  if (policy == NULL)
    {
      log_warning ("metrics: %s; using the default audit log", err->msg);
      corral_error_release (&err);
    }
  gather (&m, policy ? &policy->audit : &defaults);
  audit_config_release (&defaults);
  text = metrics_format (&m);
  if (textfile)
    r = write_textfile (textfile, text, &err);
  else if (fputs (text, stdout) == EOF || fflush (stdout) == EOF)
    r = corral_error_make (&err, errno, "metrics: write to stdout");
  return r < 0 ? shim_fail (&err) : 0;
}
