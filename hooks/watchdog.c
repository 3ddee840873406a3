/* corral: the budget watchdog.  Set up in the poststart hook, where
 * every failure fails the hook (runc then kills the container); the loop
 * runs detached, bound to the container's init by pidfd. */
#include "config.h"

#include <fcntl.h>
#include <inttypes.h>
#include <libmnl/libmnl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "hooks/nflog.h"
#include "hooks/nft.h"
#include "hooks/watchdog.h"
#include "services/audit.h"
#include "base/daemon.h"
#include "base/fs.h"
#include "services/ledger.h"
#include "base/util.h"
#include "spec/budget.h"
#include "base/json.h"

#define ALERT_TIMEOUT_MS 10000
#define DELEGATE_TIMEOUT_MS 30000

/* ---- pure parsers ---- */

int
watchdog_cgroup_path (const char *text, const char *controller, char **ret)
{
  const char *line = text;

  while (line && *line)
    {
      const char *nl = strchr (line, '\n');
      size_t len = nl ? (size_t) (nl - line) : strlen (line);
      cleanup_free char *l = xstrndup (line, len);
      char *c1 = strchr (l, ':');
      char *c2 = c1 ? strchr (c1 + 1, ':') : NULL;

      line = nl ? nl + 1 : NULL;
      if (c2 == NULL || c2[1] != '/')
        continue;
      *c2 = '\0';
      if (controller == NULL)
        {
          if (c1 == l + 1 && l[0] == '0' && c1 + 1 == c2)
            {
              *ret = xstrdup (c2 + 1);
              return 0;
            }
          continue;
        }
      char *save = NULL;
      for (char *tok = strtok_r (c1 + 1, ",", &save); tok; tok = strtok_r (NULL, ",", &save))
        if (str_eq (tok, controller))
          {
            *ret = xstrdup (c2 + 1);
            return 0;
          }
    }
  return -1;
}

int
watchdog_cgroup_mount (const char *text, const char *controller, char **ret)
{
  const char *line = text;

  while (line && *line)
    {
      const char *nl = strchr (line, '\n');
      size_t len = nl ? (size_t) (nl - line) : strlen (line);
      cleanup_free char *l = xstrndup (line, len);
      char *fields[6] = { 0 };
      char *save = NULL, *sep, *fstype, *opts;
      size_t n = 0;

      line = nl ? nl + 1 : NULL;
      sep = strstr (l, " - ");
      if (sep == NULL)
        continue;
      *sep = '\0';
      for (char *tok = strtok_r (l, " ", &save); tok && n < 6; tok = strtok_r (NULL, " ", &save))
        fields[n++] = tok;
      save = NULL;
      fstype = strtok_r (sep + 3, " ", &save);
      (void) strtok_r (NULL, " ", &save); /* source */
      opts = strtok_r (NULL, " ", &save);
      /* fields: id parent dev root mountpoint options; only whole
       * hierarchies (root "/") hold the containers' paths as written. */
      if (n < 5 || fstype == NULL || !str_eq (fields[3], "/"))
        continue;
      if (controller == NULL)
        {
          if (str_eq (fstype, "cgroup2"))
            {
              *ret = xstrdup (fields[4]);
              return 0;
            }
          continue;
        }
      if (!str_eq (fstype, "cgroup") || opts == NULL)
        continue;
      save = NULL;
      for (char *tok = strtok_r (opts, ",", &save); tok; tok = strtok_r (NULL, ",", &save))
        if (str_eq (tok, controller))
          {
            *ret = xstrdup (fields[4]);
            return 0;
          }
    }
  return -1;
}

int
watchdog_parse_u64 (const char *text, uint64_t *ret)
{
  char *end;
  unsigned long long v;

  errno = 0;
  if (text[0] < '0' || text[0] > '9')
    return -1;
  v = strtoull (text, &end, 10);
  if (errno || (*end != '\0' && *end != '\n'))
    return -1;
  *ret = v;
  return 0;
}

int
watchdog_parse_cpu_stat (const char *text, uint64_t *ret_usec)
{
  const char *p = text;

  while (p && *p)
    {
      if (str_has_prefix (p, "usage_usec "))
        {
          char *end;
          unsigned long long v;
          errno = 0;
          v = strtoull (p + strlen ("usage_usec "), &end, 10);
          if (errno || (*end != '\n' && *end != '\0'))
            return -1;
          *ret_usec = v;
          return 0;
        }
      p = strchr (p, '\n');
      if (p)
        p++;
    }
  return -1;
}

/* ---- the watchdog's state ---- */

struct watchdog
{
  char *id, *agent, *state_dir, *state_base, *self_exe, *engine_root;
  corral_budgets_t b;
  bool has_limit[BUDGET_N];
  bool limit_daily[BUDGET_N];
  int64_t limit[BUDGET_N]; /* internal units */
  int64_t usage[BUDGET_N];
  uint64_t over_base;     /* connections over the rate already forgiven */
  uint64_t dns_over_base; /* DNS queries over the rate already forgiven */
  /* The table's budget objects: kept monotonic across a neighbour's
   * rebuild, and which of them must be there (nft_budget_usage_t.found
   * bits) and are not. */
  budget_counter_t c_bytes, c_over, c_dns_over, c_conns;
  uint64_t objs_generation;
  unsigned expect_objs, lost_objs;
  int pidfd, cpu_fd, mem_fd, log_fd;
  bool cpu_v2;
  struct mnl_socket *nl;
  int64_t start_mono_ms, start_unix_ms;
  uint64_t mem_peak;
  int tripped; /* budget kind, or -1 */
  int trips;
  /* Meters: the last totals the meter printed, what `corral budget report`
   * pushed (reported.json, already in the agent's ledger), failures. */
  int64_t metered[BUDGET_N];
  int64_t reported[BUDGET_N];
  int64_t next_meter_ms;
  int64_t meter_failures, failures_base;
  /* Anomaly: new connections now and at the start of this minute, the
   * agent's baseline per minute (x1000), whether this run was reported. */
  uint64_t conns, conns_window;
  budget_minute_t conns_minute; /* for the breaker's alert */
  int64_t window_start_ms, baseline_milli;
  bool rate_alerted;
  char *annotations; /* JSON, for the meter's stdin */
};

static int64_t
now_ms (clockid_t c)
{
  struct timespec ts;
  clock_gettime (c, &ts);
  return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
read_small (int dirfd, const char *name, char **ret, corral_error_t *err)
{
  cleanup_close int fd = openat (dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  size_t len;

  if (fd < 0)
    return corral_error_make (err, errno, "open `%s`", name);
  return fd_read_all (fd, 1024 * 1024, name, ret, &len, err);
}

static int
pread_text (int fd, char *buf, size_t size)
{
  ssize_t n = pread (fd, buf, size - 1, 0);
  if (n <= 0)
    return -1;
  buf[n] = '\0';
  return 0;
}

/* The container's cpu usage file: cgroup v1 cpuacct.usage (ns), else the
 * v2 cpu.stat (usage_usec); and its memory peak, where there is one. */
static int
open_cgroup_files (struct watchdog *w, pid_t pid, corral_error_t *err)
{
  cleanup_free char *cg = NULL, *mi = NULL, *path = NULL, *mount = NULL, *file = NULL;
  cleanup_close int procfd = -1, selffd = -1;

  xasprintf (&path, "/proc/%d", (int) pid);
  procfd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  selffd = open ("/proc/self", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (procfd < 0 || selffd < 0)
    return corral_error_make (err, errno, "open `%s`", path);
  if (read_small (procfd, "cgroup", &cg, err) < 0 || read_small (selffd, "mountinfo", &mi, err) < 0)
    return -1;
  free (path);
  path = NULL;
  if (watchdog_cgroup_path (cg, "cpuacct", &path) == 0 && watchdog_cgroup_mount (mi, "cpuacct", &mount) == 0)
    xasprintf (&file, "%s%s/cpuacct.usage", mount, str_eq (path, "/") ? "" : path);
  else if (watchdog_cgroup_path (cg, NULL, &path) == 0 && watchdog_cgroup_mount (mi, NULL, &mount) == 0)
    {
      xasprintf (&file, "%s%s/cpu.stat", mount, str_eq (path, "/") ? "" : path);
      w->cpu_v2 = true;
    }
  else
    return corral_error_make (err, 0, "no cpuacct or cgroup2 hierarchy for the container's init %d", (int) pid);
  w->cpu_fd = open (file, O_RDONLY | O_CLOEXEC);
  if (w->cpu_fd < 0)
    return corral_error_make (err, errno, "open the container's CPU usage `%s`", file);
  free (path), free (mount), free (file);
  path = mount = file = NULL;
  if (watchdog_cgroup_path (cg, "memory", &path) == 0 && watchdog_cgroup_mount (mi, "memory", &mount) == 0)
    xasprintf (&file, "%s%s/memory.max_usage_in_bytes", mount, str_eq (path, "/") ? "" : path);
  else if (watchdog_cgroup_path (cg, NULL, &path) == 0 && watchdog_cgroup_mount (mi, NULL, &mount) == 0)
    xasprintf (&file, "%s%s/memory.peak", mount, str_eq (path, "/") ? "" : path);
  w->mem_fd = file ? open (file, O_RDONLY | O_CLOEXEC) : -1; /* optional: reported, not a budget */
  return 0;
}

/* The budget objects the hook made for this plan, as found bits. */
static unsigned
expected_objects (const struct watchdog *w)
{
  unsigned m = 0;

  if (w->has_limit[BUDGET_EGRESS])
    m |= 1;
  if (w->has_limit[BUDGET_CONNECTIONS])
    m |= 2 | 8;
  if (w->has_limit[BUDGET_DNS_QUERIES])
    m |= 4;
  if (w->b.anomaly_rate_factor > 0)
    m |= 8;
  return m;
}

/* A netfilter socket inside the container's netns, made from here. */
static int
open_nft_in_netns (struct watchdog *w, pid_t pid, corral_error_t *err)
{
  cleanup_close int self = open ("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  cleanup_close int target = -1;
  cleanup_free char *path = NULL;
  nft_budget_usage_t u;

  xasprintf (&path, "/proc/%d/ns/net", (int) pid);
  target = open (path, O_RDONLY | O_CLOEXEC);
  if (self < 0 || target < 0)
    return corral_error_make (err, errno, "open network namespaces for the watchdog");
  if (setns (target, CLONE_NEWNET) < 0)
    return corral_error_make (err, errno, "enter `%s`", path);
  w->nl = nft_open (err);
  if (setns (self, CLONE_NEWNET) < 0)
    abort (); /* cannot get back: never continue in the wrong netns */
  if (w->nl == NULL)
    return -1;
  if (nft_budget_read (w->nl, &u, err) < 0)
    return -1;
  w->expect_objs = expected_objects (w);
  if ((u.found & w->expect_objs) != w->expect_objs)
    return corral_error_make (err, 0, "the container's table has no budget objects");
  w->objs_generation = u.generation;
  w->over_base = budget_counter_update (&w->c_over, u.over);
  w->dns_over_base = budget_counter_update (&w->c_dns_over, u.dns_over);
  return 0;
}

static char *
parent_dir (const char *dir)
{
  char *p = xstrdup (dir);
  char *s = strrchr (p, '/');
  if (s && s != p)
    *s = '\0';
  return p;
}

/* ---- sampling ---- */

/* What `corral budget report` pushed for this container so far. */
static void
read_reported (struct watchdog *w)
{
  cleanup_close int dfd = open (w->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  cleanup_free char *data = NULL;
  cleanup_json json_t *r = NULL;

  if (dfd < 0 || read_small (dfd, WATCHDOG_REPORTED, &data, NULL) < 0
      || (r = json_parse (data, strlen (data), NULL)) == NULL)
    return;
  for (int k = BUDGET_FIRST_METER; k < BUDGET_N_DAILY; k++)
    json_int64 (json_get (r, budget_internal_key ((enum budget_kind) k)), &w->reported[k]);
}

/* The kernel quota's limit: the byte budget, less what objects that were
 * made anew since (see rebuilt) no longer count. */
static uint64_t
kernel_quota (const struct watchdog *w)
{
  int64_t left = w->limit[BUDGET_EGRESS] - (int64_t) w->c_bytes.base;
  return (uint64_t) (left > 0 ? left : 0);
}

/* Another container in the network namespace replaced the table: its
 * objects start from zero (and its quota is its own).  Counting goes on
 * from what was seen, and the kernel's quota is set to what is left. */
static void
rebuilt (struct watchdog *w, uint64_t generation)
{
  w->objs_generation = generation;
  budget_counter_rebase (&w->c_bytes);
  budget_counter_rebase (&w->c_over);
  budget_counter_rebase (&w->c_dns_over);
  budget_counter_rebase (&w->c_conns);
  if (w->has_limit[BUDGET_EGRESS])
    (void) nft_budget_set_quota (w->nl, kernel_quota (w), NULL);
}

static void
sample (struct watchdog *w)
{
  char buf[4096];
  uint64_t v;

  w->usage[BUDGET_WALL_CLOCK] = now_ms (CLOCK_MONOTONIC) - w->start_mono_ms;
  if (pread_text (w->cpu_fd, buf, sizeof (buf)) == 0)
    {
      if (w->cpu_v2 && watchdog_parse_cpu_stat (buf, &v) == 0)
        w->usage[BUDGET_CPU] = (int64_t) (v / 1000);
      else if (!w->cpu_v2 && watchdog_parse_u64 (buf, &v) == 0)
        w->usage[BUDGET_CPU] = (int64_t) (v / 1000000);
    }
  if (w->mem_fd >= 0 && pread_text (w->mem_fd, buf, sizeof (buf)) == 0 && watchdog_parse_u64 (buf, &v) == 0)
    w->mem_peak = v;
  if (w->nl)
    {
      nft_budget_usage_t u;
      if (nft_budget_read (w->nl, &u, NULL) == 0)
        {
          w->lost_objs = w->expect_objs & ~u.found;
          if (u.generation != w->objs_generation)
            rebuilt (w, u.generation);
          w->usage[BUDGET_EGRESS] = (int64_t) budget_counter_update (&w->c_bytes, u.bytes);
          w->usage[BUDGET_CONNECTIONS] = (int64_t) (budget_counter_update (&w->c_over, u.over) - w->over_base);
          w->usage[BUDGET_DNS_QUERIES]
              = (int64_t) (budget_counter_update (&w->c_dns_over, u.dns_over) - w->dns_over_base);
          w->conns = budget_counter_update (&w->c_conns, u.conns);
          budget_minute_push (&w->conns_minute, now_ms (CLOCK_MONOTONIC), w->conns);
        }
    }
  read_reported (w);
  for (int k = BUDGET_FIRST_METER; k < BUDGET_N_DAILY; k++)
    w->usage[k] = w->metered[k] + w->reported[k];
  w->usage[BUDGET_METER_FAILURES] = w->meter_failures - w->failures_base;
}

/* A budget whose nft objects vanished (the table was deleted, or another
 * container in the network namespace replaced it without them) can no
 * longer be enforced: that opens its breaker.  The anomaly counter alone
 * only feeds alerts. */
static int
lost_budget (const struct watchdog *w)
{
  if (w->lost_objs & 1)
    return BUDGET_EGRESS;
  if ((w->lost_objs & (2 | 8)) && w->has_limit[BUDGET_CONNECTIONS])
    return BUDGET_CONNECTIONS;
  if (w->lost_objs & 4)
    return BUDGET_DNS_QUERIES;
  return -1;
}

static int
over_budget (const struct watchdog *w)
{
  for (int k = 0; k < BUDGET_N; k++)
    if (w->has_limit[k] && w->usage[k] >= w->limit[k])
      return k;
  return -1;
}

/* ---- actions ---- */

/* A record of the budget log: its time (in milliseconds, as budget events
 * have it), event, container and agent. */
static json_t *
budget_log_record (const struct watchdog *w, const char *event)
{
  json_t *r = json_new_object ();
  char when[32];

  budget_format_time (now_ms (CLOCK_REALTIME), when);
  json_set (r, "time", json_new_string (when));
  json_set (r, "event", json_new_string (event));
  json_set (r, "container", json_new_string (w->id));
  json_set (r, "agent", json_new_string (w->agent));
  return r;
}

/* v / 1000 with three decimals: the baseline is kept in thousandths. */
static json_t *
thousandths (int64_t v)
{
  char text[48];

  snprintf (text, sizeof (text), "%" PRId64 ".%03" PRId64, v / 1000, v % 1000);
  return json_new_number (text);
}

/* An amount in its budget's terms ("2.864" seconds, bytes, USD). */
static json_t *
amount (enum budget_kind k, int64_t v)
{
  cleanup_free char *text = budget_format_amount (k, v);
  return json_new_number (text);
}

int
watchdog_run (char *const argv[], const char *data, int timeout_ms, bool corral_env, const char *state_base)
{
  int pipefd[2], status;
  pid_t pid;
  int64_t deadline = now_ms (CLOCK_MONOTONIC) + timeout_ms;

  if (pipe2 (pipefd, O_CLOEXEC) < 0)
    return -1;
  pid = fork ();
  if (pid < 0)
    {
      close (pipefd[0]);
      close (pipefd[1]);
      return -1;
    }
  if (pid == 0)
    {
      int null = open ("/dev/null", O_RDWR | O_CLOEXEC);
      char *env[] = { (char *) "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", NULL, NULL };
      char *base = NULL;

      if (corral_env && state_base && xasprintf (&base, "CORRAL_STATE_DIR=%s", state_base) > 0)
        env[1] = base;
      if (null < 0 || dup2 (pipefd[0], STDIN_FILENO) < 0 || dup2 (null, STDOUT_FILENO) < 0
          || dup2 (null, STDERR_FILENO) < 0)
        _exit (127);
      signal (SIGPIPE, SIG_DFL);
      execve (argv[0], argv, env);
      _exit (127);
    }
  close (pipefd[0]);
  if (data)
    {
      /* A reader that does not read must not block the watchdog. */
      (void) fcntl (pipefd[1], F_SETFL, O_NONBLOCK);
      (void) !write (pipefd[1], data, strlen (data));
    }
  close (pipefd[1]);
  for (;;)
    {
      pid_t r = waitpid (pid, &status, WNOHANG);
      if (r == pid)
        return status;
      if (r < 0 && errno != EINTR)
        return -1;
      if (now_ms (CLOCK_MONOTONIC) > deadline)
        {
          (void) kill (pid, SIGKILL);
          (void) waitpid (pid, &status, 0);
          return -1;
        }
      usleep (20 * 1000);
    }
}

/* `corral [--root R] COMMAND ID [ARG]`: the same path an engine takes, so
 * the recorded delegate (runc, runsc with its flags) does the work. */
static bool
delegate_command (const struct watchdog *w, const char *command, const char *arg)
{
  char *argv[8];
  int n = 0, status;

  argv[n++] = w->self_exe;
  if (w->engine_root)
    {
      argv[n++] = (char *) "--root";
      argv[n++] = w->engine_root;
    }
  argv[n++] = (char *) command;
  argv[n++] = w->id;
  if (arg)
    argv[n++] = (char *) arg;
  argv[n] = NULL;
  status = watchdog_run (argv, NULL, DELEGATE_TIMEOUT_MS, true, w->state_base);
  return status >= 0 && WIFEXITED (status) && WEXITSTATUS (status) == 0;
}

static bool
init_exited (int pidfd, int timeout_ms)
{
  struct pollfd p = { .fd = pidfd, .events = POLLIN };
  return poll (&p, 1, timeout_ms) > 0;
}

static void
kill_container (const struct watchdog *w)
{
  (void) delegate_command (w, "kill", "TERM");
  if (init_exited (w->pidfd, (int) w->b.grace_seconds * 1000))
    return;
  (void) delegate_command (w, "kill", "KILL");
}

static char *
usage_json (const struct watchdog *w, bool final)
{
  cleanup_json json_t *r = budget_log_record (w, final ? "usage" : "usage_so_far");
  char started[32];

  budget_format_time (w->start_unix_ms, started);
  json_set (r, "started", json_new_string (started));
  json_set (r, "wall_clock_seconds", amount (BUDGET_WALL_CLOCK, w->usage[BUDGET_WALL_CLOCK]));
  json_set (r, "cpu_seconds", amount (BUDGET_CPU, w->usage[BUDGET_CPU]));
  json_set (r, "egress_bytes", json_new_int (w->usage[BUDGET_EGRESS]));
  json_set (r, "connections_over_rate", json_new_int (w->usage[BUDGET_CONNECTIONS]));
  json_set (r, "api_calls", json_new_int (w->usage[BUDGET_API_CALLS]));
  json_set (r, "spend_usd", amount (BUDGET_SPEND, w->usage[BUDGET_SPEND]));
  json_set (r, "tokens", json_new_int (w->usage[BUDGET_TOKENS]));
  json_set (r, "memory_peak_bytes", json_new_int ((int64_t) w->mem_peak));
  json_set (r, "trips", json_new_int (w->trips));
  json_set (r, "tripped",
            w->tripped >= 0 ? json_new_string (budget_name ((enum budget_kind) w->tripped)) : json_new_null ());
  return json_serialize (r, false);
}

static void
write_state_file (const struct watchdog *w, const char *name, const char *data)
{
  cleanup_close int dfd = open (w->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0)
    (void) file_replace_at (dfd, name, data, strlen (data), 0600, NULL);
}

/* A watchdog event, chained into the audit log too (best effort: the
 * watchdog has no one to report a failure to but its own log). */
static void
audit_watchdog_event (const struct watchdog *w, const char *event, const json_t *record)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_json json_t *fields = budget_event_fields (record);
  cleanup_record state_record_t rec = { 0 };

  if (state_record_read_dir (w->state_dir, &rec, &err) < 0 || audit_record_event (&rec, event, fields, &err) < 0)
    {
      cleanup_json json_t *r = budget_log_record (w, "audit-error");

      json_set (r, "error", json_new_string (err ? err->msg : "?"));
      (void) json_write_line (w->log_fd, r);
    }
}

/* The number the trip compared with the limit, in the limit's terms: for
 * the connection breaker, the connections of the last minute (the kernel
 * counts only those past its bucket, the watchdog's trigger). */
static int64_t
trip_usage (const struct watchdog *w, int k)
{
  int64_t now = now_ms (CLOCK_MONOTONIC);

  if (k == BUDGET_CONNECTIONS)
    return (int64_t) budget_minute_increase (&w->conns_minute, now, w->start_mono_ms, w->conns);
  return w->usage[k];
}

static void
trip (struct watchdog *w, int k, const char *cause)
{
  budget_event_t ev = {
    .event = "budget_exceeded",
    .id = w->id,
    .agent = w->agent,
    .kind = (enum budget_kind) k,
    .daily = w->limit_daily[k],
    .limit = k == BUDGET_CONNECTIONS || k == BUDGET_DNS_QUERIES ? w->b.limit[k] : w->limit[k],
    .usage = trip_usage (w, k),
    .action = budget_action_name (w->b.action),
    .cause = cause,
    .time_ms = now_ms (CLOCK_REALTIME),
  };
  cleanup_json json_t *record = budget_event_record (&ev);
  cleanup_free char *json = json_serialize (record, false);
  cleanup_free char *usage = NULL;
  bool frozen = false;

  w->tripped = k;
  w->trips++;
  /* Marked first: an engine's `resume` is refused from now on. */
  write_state_file (w, WATCHDOG_TRIPPED, json);
  if (w->b.action == BUDGET_ACTION_FREEZE)
    frozen = delegate_command (w, "pause", NULL);
  /* A container that cannot be frozen is stopped: never left running. */
  if (!frozen)
    kill_container (w);
  usage = usage_json (w, false);
  write_state_file (w, WATCHDOG_USAGE, usage);
  (void) json_write_line (w->log_fd, record);
  audit_watchdog_event (w, "budget-trip", record);
  if (w->b.alert)
    (void) watchdog_run (w->b.alert, json, ALERT_TIMEOUT_MS, false, NULL);
}

/* A human ran `corral resume ID --reason … [--grant N]`: it removed the
 * trip mark after writing resume.json. */
static void
check_resume (struct watchdog *w)
{
  cleanup_close int dfd = open (w->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  cleanup_free char *data = NULL;
  cleanup_json json_t *r = NULL;
  int64_t grant = 0;
  int k = w->tripped;
  struct stat st;

  if (dfd < 0 || fstatat (dfd, WATCHDOG_TRIPPED, &st, AT_SYMLINK_NOFOLLOW) == 0)
    return;
  if (read_small (dfd, WATCHDOG_RESUME, &data, NULL) == 0 && (r = json_parse (data, strlen (data), NULL)) != NULL)
    json_int64 (json_get (r, "grant"), &grant);
  (void) unlinkat (dfd, WATCHDOG_RESUME, 0);
  sample (w);
  if (k == BUDGET_CONNECTIONS)
    w->over_base += (uint64_t) w->usage[k]; /* the breaker closes again */
  else if (k == BUDGET_DNS_QUERIES)
    w->dns_over_base += (uint64_t) w->usage[k];
  else if (k == BUDGET_METER_FAILURES)
    w->failures_base = w->meter_failures;
  else if (k >= 0)
    {
      /* The grant counts from now: usage may have run past the limit
       * before the freeze took hold. */
      w->limit[k] = w->usage[k] + budget_to_internal ((enum budget_kind) k, grant > 0 ? grant : 0);
      if (k == BUDGET_EGRESS && w->nl)
        (void) nft_budget_set_quota (w->nl, kernel_quota (w), NULL);
    }
  w->tripped = -1;
  sample (w);
}

struct ledger_add_ctx
{
  const char *agent;
  const char *day;
  const int64_t *add;
  int64_t rate_milli; /* new connections per minute x1000, or -1 */
};

static void
ledger_add_cb (json_t *ledger, void *data)
{
  struct ledger_add_ctx *c = data;
  ledger_add (ledger, c->agent, c->day, c->add);
  /* The run's mean rate, over a minute at least (a short run's few
   * connections are not a rate), feeds the agent's baseline. */
  if (c->rate_milli >= 0)
    ledger_note_connection_rate (ledger, c->agent, c->rate_milli);
}

/* The container ended: its usage record and the agent's daily totals. */
static void
account (struct watchdog *w)
{
  cleanup_free char *usage = NULL;
  char day[16];
  int64_t add[BUDGET_N_DAILY];
  int64_t span = w->usage[BUDGET_WALL_CLOCK] > 60000 ? w->usage[BUDGET_WALL_CLOCK] : 60000;
  struct ledger_add_ctx c
      = { w->agent, day, add, w->b.anomaly_rate_factor > 0 ? (int64_t) w->conns * 60000000 / span : -1 };

  /* Pushed usage went to the ledger when it was reported. */
  for (int k = 0; k < BUDGET_N_DAILY; k++)
    add[k] = k >= BUDGET_FIRST_METER ? w->metered[k] : w->usage[k];

  usage = usage_json (w, true);
  ledger_day (now_ms (CLOCK_REALTIME), day);
  /* The ledger first: whoever sees the usage record sees the totals. */
  (void) ledger_update (ledger_add_cb, &c, NULL);
  (void) ledger_append_usage (usage, NULL);
}

/* Run the meter with the container on stdin; its stdout (64 KiB at most)
 * in *ret.  Returns 0, or -1 with why in *ret_why. */
static int
run_meter (const struct watchdog *w, char **ret, const char **ret_why)
{
  cleanup_free char *in = NULL;
  int inp[2], outp[2], status = 0;
  int64_t deadline = now_ms (CLOCK_MONOTONIC) + w->b.meter_timeout_ms;
  size_t have = 0, cap = 64 * 1024;
  char *buf = xmalloc (cap + 1);
  pid_t pid;

  *ret = NULL;
  {
    cleanup_json json_t *o = json_new_object ();
    json_t *ann = w->annotations ? json_parse (w->annotations, strlen (w->annotations), NULL) : NULL;
    cleanup_free char *body = NULL;

    json_set (o, "container", json_new_string (w->id));
    json_set (o, "agent", json_new_string (w->agent));
    json_set (o, "annotations", ann ? ann : json_new_object ());
    body = json_serialize (o, false);
    xasprintf (&in, "%s\n", body);
  }
  if (pipe2 (inp, O_CLOEXEC) < 0)
    {
      free (buf);
      *ret_why = "pipe";
      return -1;
    }
  if (pipe2 (outp, O_CLOEXEC) < 0)
    {
      close (inp[0]);
      close (inp[1]);
      free (buf);
      *ret_why = "pipe";
      return -1;
    }
  pid = fork ();
  if (pid == 0)
    {
      int null = open ("/dev/null", O_RDWR | O_CLOEXEC);
      char *env[] = { (char *) "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", NULL };

      if (null < 0 || dup2 (inp[0], STDIN_FILENO) < 0 || dup2 (outp[1], STDOUT_FILENO) < 0
          || dup2 (null, STDERR_FILENO) < 0)
        _exit (127);
      signal (SIGPIPE, SIG_DFL);
      execve (w->b.meter[0], w->b.meter, env);
      _exit (127);
    }
  close (inp[0]);
  close (outp[1]);
  if (pid > 0)
    {
      (void) fcntl (inp[1], F_SETFL, O_NONBLOCK);
      (void) !write (inp[1], in, strlen (in));
    }
  close (inp[1]);
  (void) fcntl (outp[0], F_SETFL, O_NONBLOCK);
  while (pid > 0)
    {
      struct pollfd p = { .fd = outp[0], .events = POLLIN };
      int64_t left = deadline - now_ms (CLOCK_MONOTONIC);
      ssize_t n;

      if (left <= 0)
        {
          (void) kill (pid, SIGKILL);
          *ret_why = "timed out";
          break;
        }
      if (poll (&p, 1, (int) left) <= 0)
        continue;
      n = read (outp[0], buf + have, cap - have);
      if (n > 0 && (have += (size_t) n) < cap)
        continue;
      if (n < 0 && errno == EAGAIN)
        continue;
      if (n > 0)
        *ret_why = "printed more than 64 KiB";
      break;
    }
  close (outp[0]);
  while (pid > 0 && waitpid (pid, &status, 0) < 0 && errno == EINTR)
    ;
  buf[have] = '\0';
  if (pid < 0)
    *ret_why = "could not be started";
  else if (*ret_why == NULL && !(WIFEXITED (status) && WEXITSTATUS (status) == 0))
    *ret_why = "exited with an error";
  if (*ret_why)
    {
      free (buf);
      return -1;
    }
  *ret = buf;
  return 0;
}

/* A failed meter is an alert (and, with a meter_failures budget, counts
 * towards that breaker). */
static void
meter_failed (struct watchdog *w, const char *why)
{
  cleanup_json json_t *r = budget_log_record (w, "meter_failed");
  cleanup_free char *json = NULL;

  w->meter_failures++;
  json_set (r, "reason", json_new_string (why));
  (void) json_write_line (w->log_fd, r);
  json = json_serialize (r, false);
  if (w->b.alert && !w->has_limit[BUDGET_METER_FAILURES])
    (void) watchdog_run (w->b.alert, json, ALERT_TIMEOUT_MS, false, NULL);
}

static void
poll_meter (struct watchdog *w)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_free char *out = NULL;
  const char *why = NULL;
  int64_t got[BUDGET_N];

  if (w->b.meter == NULL || now_ms (CLOCK_MONOTONIC) < w->next_meter_ms)
    return;
  w->next_meter_ms = now_ms (CLOCK_MONOTONIC) + w->b.meter_interval_ms;
  memcpy (got, w->metered, sizeof (got));
  if (run_meter (w, &out, &why) < 0)
    meter_failed (w, why);
  else if (budget_parse_meter_output (out, strlen (out), got, &err) < 0)
    meter_failed (w, err->msg);
  else
    memcpy (w->metered, got, sizeof (got));
}

/* New connections this minute past factor x the agent's baseline: an alert
 * (once a run), never an action. */
static void
check_rate_anomaly (struct watchdog *w)
{
  int64_t now = now_ms (CLOCK_MONOTONIC);
  uint64_t in_window;

  if (w->b.anomaly_rate_factor <= 0 || w->baseline_milli <= 0 || w->rate_alerted)
    return;
  if (now - w->window_start_ms >= 60000)
    {
      w->window_start_ms = now;
      w->conns_window = w->conns;
    }
  in_window = w->conns - w->conns_window;
  if ((int64_t) in_window * 1000 > w->b.anomaly_rate_factor * w->baseline_milli)
    {
      cleanup_json json_t *r = budget_log_record (w, "anomaly");
      cleanup_free char *json = NULL;

      w->rate_alerted = true;
      json_set (r, "kind", json_new_string ("connection_rate"));
      json_set (r, "connections_this_minute", json_new_int ((int64_t) in_window));
      json_set (r, "baseline_per_minute", thousandths (w->baseline_milli));
      json_set (r, "factor", json_new_int (w->b.anomaly_rate_factor));
      (void) json_write_line (w->log_fd, r);
      audit_watchdog_event (w, "anomaly", r);
      json = json_serialize (r, false);
      if (w->b.alert)
        (void) watchdog_run (w->b.alert, json, ALERT_TIMEOUT_MS, false, NULL);
    }
}

/* Record the daemon's pid where delete and resume find it. */
static int
write_pid_file (const struct watchdog *w, corral_error_t *err)
{
  cleanup_close int dfd = open (w->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  char pidbuf[32];

  if (dfd < 0)
    return corral_error_make (err, errno, "open `%s`", w->state_dir);
  snprintf (pidbuf, sizeof (pidbuf), "%d\n", (int) getpid ());
  return file_replace_at (dfd, WATCHDOG_PID, pidbuf, strlen (pidbuf), 0600, err);
}

/* The watchdog's loop, until the container ends. */
static _Noreturn void
watchdog_loop (struct watchdog *w)
{
  for (;;)
    {
      int64_t timeout = w->b.interval_ms;
      int k;

      /* Wake exactly when the wall clock runs out, not up to an interval
       * later. */
      if (w->tripped < 0 && w->has_limit[BUDGET_WALL_CLOCK])
        {
          int64_t left = w->limit[BUDGET_WALL_CLOCK] - (now_ms (CLOCK_MONOTONIC) - w->start_mono_ms);
          if (left >= 0 && left < timeout)
            timeout = left + 1;
        }
      if (init_exited (w->pidfd, (int) timeout))
        {
          /* The cgroup outlives init until the delegate's delete: read the
           * last usage while it is there. */
          sample (w);
          account (w);
          {
            cleanup_close int dfd = open (w->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd >= 0)
              (void) unlinkat (dfd, WATCHDOG_PID, 0);
          }
          _exit (0);
        }
      if (w->tripped >= 0)
        {
          check_resume (w);
          continue;
        }
      poll_meter (w);
      sample (w);
      check_rate_anomaly (w);
      k = lost_budget (w);
      if (k >= 0)
        {
          trip (w, k,
                "its nft objects vanished from the container's network namespace (the table was deleted or replaced)");
          continue;
        }
      k = over_budget (w);
      if (k >= 0)
        trip (w, k, NULL);
    }
}

/* Effective limits: the run's, lowered to what is left of the agent's
 * daily totals. */
static int
compute_limits (struct watchdog *w, corral_error_t *err)
{
  cleanup_json json_t *ledger = NULL;
  int64_t used[BUDGET_N_DAILY] = { 0 };
  char day[16];
  bool any_daily = false;

  for (int k = 0; k < BUDGET_N_DAILY; k++)
    any_daily |= w->b.daily[k] > 0;
  if (any_daily || w->b.anomaly_rate_factor > 0)
    {
      ledger = ledger_load (err);
      if (ledger == NULL)
        return -1;
      ledger_day (now_ms (CLOCK_REALTIME), day);
      ledger_get (ledger, w->agent, day, used);
      w->baseline_milli = ledger_connection_baseline (ledger, w->agent);
    }
  for (int k = 0; k < BUDGET_N; k++)
    {
      if (w->b.limit[k] > 0)
        {
          w->has_limit[k] = true;
          /* A breaker opens at the first query or connection over its rate. */
          w->limit[k] = k == BUDGET_CONNECTIONS || k == BUDGET_DNS_QUERIES
                            ? 1
                            : budget_to_internal ((enum budget_kind) k, w->b.limit[k]);
        }
      if (k < BUDGET_N_DAILY && w->b.daily[k] > 0)
        {
          int64_t left = budget_to_internal ((enum budget_kind) k, w->b.daily[k]) - used[k];
          if (left < 0)
            left = 0;
          if (!w->has_limit[k] || left < w->limit[k])
            {
              w->has_limit[k] = true;
              w->limit[k] = left;
              w->limit_daily[k] = true;
            }
        }
    }
  return 0;
}

static int
load_plan (struct watchdog *w, const char *state_dir, corral_error_t *err)
{
  cleanup_close int dfd = open (state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  cleanup_free char *data = NULL;
  cleanup_free char *root = NULL;
  cleanup_free char *key_dir = parent_dir (state_dir);
  cleanup_json json_t *plan = NULL;
  cleanup_close int kfd = -1;

  if (dfd < 0)
    return corral_error_make (err, errno, "open state directory `%s`", state_dir);
  if (read_small (dfd, WATCHDOG_PLAN, &data, err) < 0)
    return -1;
  plan = json_parse (data, strlen (data), err);
  if (plan == NULL || budget_plan_parse (plan, &w->b, &w->id, &w->agent, err) < 0)
    return corral_error_wrap (err, "budget plan in `%s`", state_dir);
  if (json_get (plan, "annotations"))
    w->annotations = json_serialize (json_get (plan, "annotations"), false);
  /* <base>/<key>/<id>: the engine's --root is in <base>/<key>/root. */
  kfd = open (key_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (kfd < 0 || read_small (kfd, "root", &root, err) < 0)
    return corral_error_make (err, errno, "read the engine root of `%s`", state_dir);
  w->engine_root = str_eq (root, "/run/runc") ? NULL : xstrdup (root);
  w->state_dir = xstrdup (state_dir);
  w->state_base = parent_dir (key_dir);
  return 0;
}

int
watchdog_start (const char *state_dir, pid_t pid, corral_error_t *err)
{
  char pidbuf[16];
  char *args[] = {
    (char *) "daemon", (char *) "watchdog", (char *) "--state-dir", (char *) state_dir, (char *) "--pid", pidbuf, NULL
  };

  snprintf (pidbuf, sizeof (pidbuf), "%d", (int) pid);
  return daemon_spawn ("budget watchdog", args, err);
}

/* Everything the loop needs, opened before the daemon says it is ready. */
static int
watchdog_setup (struct watchdog *w, const char *state_dir, pid_t pid, corral_error_t *err)
{
  w->start_mono_ms = now_ms (CLOCK_MONOTONIC);
  w->window_start_ms = w->start_mono_ms;
  budget_minute_init (&w->conns_minute);
  w->start_unix_ms = now_ms (CLOCK_REALTIME);
  if (load_plan (w, state_dir, err) < 0 || compute_limits (w, err) < 0)
    return -1;
  w->self_exe = realpath ("/proc/self/exe", NULL);
  if (w->self_exe == NULL)
    return corral_error_make (err, errno, "resolve corral's own path");
  w->pidfd = (int) syscall (SYS_pidfd_open, pid, 0);
  if (w->pidfd < 0)
    return corral_error_make (err, errno, "pidfd_open of the container's init %d", (int) pid);
  if (open_cgroup_files (w, pid, err) < 0)
    return -1;
  if ((w->has_limit[BUDGET_EGRESS] || w->has_limit[BUDGET_CONNECTIONS] || w->has_limit[BUDGET_DNS_QUERIES]
       || w->b.anomaly_rate_factor > 0)
      && open_nft_in_netns (w, pid, err) < 0)
    return -1;
  /* The daily egress left may be below the quota the table started with. */
  if (w->nl && w->has_limit[BUDGET_EGRESS] && nft_budget_set_quota (w->nl, (uint64_t) w->limit[BUDGET_EGRESS], err) < 0)
    return -1;
  if (mkdir_p (CORRAL_LOG_DIR, 0700, err) < 0)
    return -1;
  w->log_fd = open (CORRAL_LOG_DIR "/" BUDGET_LOG_NAME, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (w->log_fd < 0)
    return corral_error_make (err, errno, "open `%s`", CORRAL_LOG_DIR "/" BUDGET_LOG_NAME);
  return write_pid_file (w, err);
}

int
watchdog_daemon (const char *state_dir, pid_t pid)
{
  struct watchdog w = { .pidfd = -1, .cpu_fd = -1, .mem_fd = -1, .log_fd = -1, .tripped = -1 };
  cleanup_error corral_error_t err = NULL;

  if (watchdog_setup (&w, state_dir, pid, &err) < 0)
    {
      daemon_ready (err);
      return 1;
    }
  daemon_ready (NULL);
  watchdog_loop (&w);
}
