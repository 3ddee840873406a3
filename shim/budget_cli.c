/* corral: budgets at create and resume, `corral budget` and `corral usage`. */
#include "config.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "hooks/nflog.h"
#include "hooks/watchdog.h"
#include "services/audit.h"
#include "shim/budget_cli.h"
#include "base/fs.h"
#include "services/ledger.h"
#include "base/util.h"

static int64_t
unix_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool
any_daily (const corral_budgets_t *b)
{
  for (int k = 0; k < BUDGET_N_DAILY; k++)
    if (b->daily[k] > 0)
      return true;
  return false;
}

int
budget_check_create (const corral_profile_t *p, const char *agent, corral_error_t *err)
{
  cleanup_json json_t *ledger = NULL;
  int64_t used[BUDGET_N_DAILY];
  char day[16];
  int k;

  if (!any_daily (&p->budgets))
    return 0;
  ledger = ledger_load (err);
  if (ledger == NULL)
    return -1;
  ledger_day (unix_ms (), day);
  ledger_get (ledger, agent, day, used);
  k = ledger_over (used, p->budgets.daily);
  if (k < 0)
    return 0;
  {
    cleanup_free char *u = budget_format_amount ((enum budget_kind) k, used[k]);
    cleanup_free char *l
        = budget_format_amount ((enum budget_kind) k, budget_to_internal ((enum budget_kind) k, p->budgets.daily[k]));
    return corral_error_make (err, 0,
                              "agent %s has used its daily %s budget (%s of %s on %s UTC): no new containers until "
                              "tomorrow or `corral budget reset %s --reason TEXT`",
                              agent, budget_name ((enum budget_kind) k), u, l, day, agent);
  }
}

int
budget_write_plan (const char *state_dir, const corral_profile_t *p, const char *id, const char *agent,
                   const json_t *annotations, corral_error_t *err)
{
  cleanup_json json_t *plan = NULL;
  cleanup_free char *data = NULL;
  cleanup_close int dfd = -1;

  if (!budget_any (&p->budgets))
    return 0;
  plan = budget_plan_new (&p->budgets, id, agent);
  /* The meter gets them on stdin: a gateway may key usage on them. */
  if (p->budgets.meter)
    json_set (plan, "annotations", annotations ? json_deep_copy (annotations) : json_new_object ());
  data = json_serialize (plan, false);
  dfd = open (state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return corral_error_make (err, errno, "open state directory `%s`", state_dir);
  return file_replace_at (dfd, WATCHDOG_PLAN, data, strlen (data), 0600, err);
}

int
budget_tripped (const char *state_dir, char **ret_event)
{
  cleanup_free char *path = NULL;
  cleanup_close int fd = -1;
  char *data = NULL;
  size_t len;

  xasprintf (&path, "%s/" WATCHDOG_TRIPPED, state_dir);
  fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return 0;
  if (ret_event && fd_read_all (fd, 64 * 1024, path, &data, &len, NULL) == 0)
    *ret_event = data;
  return 1;
}

static int
append_budget_log (const json_t *record, corral_error_t *err)
{
  cleanup_close int fd = -1;

  if (mkdir_p (CORRAL_LOG_DIR, 0700, err) < 0)
    return -1;
  fd = open (CORRAL_LOG_DIR "/" BUDGET_LOG_NAME, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return corral_error_make (err, errno, "open `%s`", CORRAL_LOG_DIR "/" BUDGET_LOG_NAME);
  if (json_write_line (fd, record) < 0)
    return corral_error_make (err, errno, "append to `%s`", CORRAL_LOG_DIR "/" BUDGET_LOG_NAME);
  return 0;
}

/* The budget event, also chained into the audit log, with who decided. */
static int
audit_container_budget (const char *state_dir, const char *event, const json_t *record, corral_error_t *err)
{
  cleanup_record state_record_t rec = { 0 };
  cleanup_json json_t *fields = budget_event_fields (record);
  char by[256];
  int ret;

  json_set (fields, "by", json_new_string (audit_actor (by, sizeof (by))));
  if (state_record_read_dir (state_dir, &rec, err) < 0)
    return -1;
  ret = audit_record_event (&rec, event, fields, err);
  return ret;
}

int
budget_prepare_resume (const char *state_dir, const char *id, const char *reason, int64_t grant, corral_error_t *err)
{
  cleanup_free char *event = NULL;
  cleanup_json json_t *record = NULL;
  cleanup_free char *data = NULL;
  cleanup_json json_t *ev = NULL;
  cleanup_json json_t *resume = json_new_object ();
  cleanup_close int dfd = -1;
  budget_event_t re = { 0 };
  int k;

  if (budget_tripped (state_dir, &event) <= 0 || event == NULL)
    return corral_error_make (err, 0, "container %s was not stopped by a budget: nothing to resume with --reason", id);
  ev = json_parse (event, strlen (event), err);
  if (ev == NULL)
    return corral_error_wrap (err, "trip record of %s", id);
  k = budget_kind_from_name (json_get_string (ev, "budget") ? json_get_string (ev, "budget") : "");
  if (!str_eq (json_get_string (ev, "action"), "freeze"))
    return corral_error_make (err, 0, "container %s was killed by its budget, not frozen: there is nothing to resume",
                              id);
  /* A used-up amount stays used up: resuming without more would trip again
   * at the next look.  A rate breaker closes by itself. */
  if (k != BUDGET_CONNECTIONS && k != BUDGET_DNS_QUERIES && k != BUDGET_METER_FAILURES && grant <= 0)
    return corral_error_make (err, 0, "container %s used up its %s budget: resume it with --grant N (more %s)", id,
                              json_get_string (ev, "budget"), k == BUDGET_EGRESS ? "bytes" : "seconds");

  re.event = "resumed";
  re.id = id;
  re.agent = json_get_string (ev, "agent");
  re.kind = k >= 0 ? (enum budget_kind) k : BUDGET_WALL_CLOCK;
  re.action = "resume";
  re.reason = reason;
  re.grant = grant;
  re.time_ms = unix_ms ();
  record = budget_event_record (&re);
  /* Written before the container may run again: no audit record, no resume. */
  if (append_budget_log (record, err) < 0 || audit_container_budget (state_dir, "resume", record, err) < 0)
    return -1;

  json_set (resume, "reason", json_new_string (reason));
  json_set (resume, "grant", json_new_int (grant));
  data = json_serialize (resume, false);
  dfd = open (state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return corral_error_make (err, errno, "open `%s`", state_dir);
  if (file_replace_at (dfd, WATCHDOG_RESUME, data, strlen (data), 0600, err) < 0)
    return -1;
  /* The watchdog reads resume.json once the mark is gone. */
  if (unlinkat (dfd, WATCHDOG_TRIPPED, 0) < 0)
    return corral_error_make (err, errno, "remove the trip mark of %s", id);
  return 0;
}

/* ---- corral budget ---- */

struct reset_ctx
{
  const char *agent;
  const char *reason;
};

static void
reset_cb (json_t *ledger, void *data)
{
  struct reset_ctx *c = data;
  char day[16];
  int64_t now = unix_ms ();

  ledger_day (now, day);
  ledger_reset (ledger, c->agent, day, c->reason, now);
}

int
budget_cmd (int argc, char **argv, const audit_config_t *audit, corral_error_t *err)
{
  const char *agent = NULL, *reason = NULL;
  struct reset_ctx c;
  budget_event_t ev = { 0 };
  cleanup_json json_t *record = NULL;

  if (argc < 1 || !str_eq (argv[0], "reset"))
    return corral_error_make (err, 0, "usage: corral budget reset AGENT --reason TEXT");
  for (int i = 1; i < argc; i++)
    {
      if (str_eq (argv[i], "--reason") && i + 1 < argc)
        reason = argv[++i];
      else if (argv[i][0] != '-' && agent == NULL)
        agent = argv[i];
      else
        return corral_error_make (err, 0, "usage: corral budget reset AGENT --reason TEXT");
    }
  if (agent == NULL || reason == NULL || *reason == '\0')
    return corral_error_make (err, 0, "usage: corral budget reset AGENT --reason TEXT (a reason is required)");
  c.agent = agent;
  c.reason = reason;
  if (ledger_update (reset_cb, &c, err) < 0)
    return -1;
  ev.event = "daily_reset";
  ev.agent = agent;
  ev.id = "";
  ev.action = "reset";
  ev.reason = reason;
  ev.time_ms = unix_ms ();
  record = budget_event_record (&ev);
  if (append_budget_log (record, err) < 0)
    return -1;
  {
    audit_subject_t who = { .agent = agent };
    cleanup_json json_t *fields = budget_event_fields (record);
    char by[256];

    json_set (fields, "by", json_new_string (audit_actor (by, sizeof (by))));
    if (audit_append (audit, &who, "budget-reset", fields, err) < 0)
      return -1;
  }
  printf ("agent %s: daily totals reset (%s)\n", agent, reason);
  return 0;
}

/* ---- corral usage ---- */

static int
print_usage_records (const char *field, const char *value, bool last_only, corral_error_t *err)
{
  cleanup_free char *path = NULL;
  cleanup_free char *data = NULL;
  cleanup_free char *last = NULL;
  cleanup_close int fd = -1;
  size_t len;
  int n = 0;

  xasprintf (&path, "%s/" USAGE_NAME, ledger_dir ());
  fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && errno == ENOENT)
    return 0;
  if (fd < 0)
    return corral_error_make (err, errno, "open `%s`", path);
  if (fd_read_all (fd, 256 * 1024 * 1024, path, &data, &len, err) < 0)
    return -1;
  for (char *save = NULL, *l = strtok_r (data, "\n", &save); l; l = strtok_r (NULL, "\n", &save))
    {
      cleanup_json json_t *rec = json_parse (l, strlen (l), NULL);
      if (rec == NULL || !str_eq (json_get_string (rec, field), value))
        continue;
      n++;
      if (last_only)
        {
          free (last);
          last = xstrdup (l);
        }
      else
        printf ("%s\n", l);
    }
  if (last)
    printf ("%s\n", last);
  return n;
}

int
budget_cmd_usage (int argc, char **argv, const char *(*state_dir_of) (const char *id), corral_error_t *err)
{
  if (argc == 2 && str_eq (argv[0], "--agent"))
    {
      cleanup_json json_t *ledger = ledger_load (err);
      cleanup_json json_t *out = json_new_object ();
      cleanup_free char *text = NULL;
      int64_t used[BUDGET_N_DAILY];
      char day[16];

      if (ledger == NULL)
        return -1;
      ledger_day (unix_ms (), day);
      ledger_get (ledger, argv[1], day, used);
      json_set (out, "agent", json_new_string (argv[1]));
      json_set (out, "day", json_new_string (day));
      json_set (out, "wall_clock_ms", json_new_int (used[BUDGET_WALL_CLOCK]));
      json_set (out, "cpu_ms", json_new_int (used[BUDGET_CPU]));
      json_set (out, "egress_bytes", json_new_int (used[BUDGET_EGRESS]));
      json_set (out, "api_calls", json_new_int (used[BUDGET_API_CALLS]));
      json_set (out, "spend_micro_usd", json_new_int (used[BUDGET_SPEND]));
      json_set (out, "tokens", json_new_int (used[BUDGET_TOKENS]));
      text = json_serialize (out, false);
      printf ("%s\n", text);
      return print_usage_records ("agent", argv[1], false, err) < 0 ? -1 : 0;
    }
  if (argc == 1 && argv[0][0] != '-')
    {
      const char *dir = state_dir_of (argv[0]);
      cleanup_free char *snap = NULL;
      int n;

      /* A running container: its snapshot at the last trip, if any. */
      if (dir)
        {
          cleanup_free char *path = NULL;
          cleanup_close int fd = -1;
          size_t len;
          xasprintf (&path, "%s/" WATCHDOG_USAGE, dir);
          fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
          if (fd >= 0 && fd_read_all (fd, 64 * 1024, path, &snap, &len, NULL) == 0)
            printf ("%s\n", snap);
        }
      n = print_usage_records ("container", argv[0], true, err);
      if (n < 0)
        return -1;
      if (n == 0 && snap == NULL)
        return corral_error_make (err, ENOENT, "no usage recorded for container %s%s", argv[0],
                                  dir ? " yet (it is running; totals are recorded when it ends)" : "");
      return 0;
    }
  return corral_error_make (err, 0, "usage: corral usage ID | --agent AGENT");
}

/* ---- corral budget report ---- */

struct report_ctx
{
  const char *agent;
  const int64_t *add;
};

static void
report_ledger_cb (json_t *ledger, void *data)
{
  struct report_ctx *c = data;
  char day[16];

  ledger_day (unix_ms (), day);
  ledger_add_usage (ledger, c->agent, day, c->add);
}

/* Add increments to the container's pushed totals (reported.json, under
 * its own lock) and to the agent's daily ledger, for the watchdog. */
int
budget_report (const char *state_dir, const char *id, const int64_t add[BUDGET_N_DAILY], corral_error_t *err)
{
  cleanup_close int dfd = open (state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  cleanup_close int lock = -1;
  cleanup_free char *plan_text = NULL;
  cleanup_free char *data = NULL;
  cleanup_free char *out = NULL;
  cleanup_json json_t *plan = NULL;
  cleanup_json json_t *totals = NULL;
  struct report_ctx c = { NULL, add };
  size_t len;

  if (dfd < 0)
    return corral_error_make (err, errno, "container %s has no state directory", id);
  {
    cleanup_close int fd = openat (dfd, WATCHDOG_PLAN, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fd_read_all (fd, 1024 * 1024, WATCHDOG_PLAN, &plan_text, &len, NULL) < 0
        || (plan = json_parse (plan_text, len, NULL)) == NULL || (c.agent = json_get_string (plan, "agent")) == NULL)
      return corral_error_make (err, ENOENT, "container %s has no budgets: nothing to report against", id);
  }
  lock = openat (dfd, "reported.lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (lock < 0 || flock (lock, LOCK_EX) < 0)
    return corral_error_make (err, errno, "lock the reported usage of %s", id);
  {
    cleanup_close int fd = openat (dfd, WATCHDOG_REPORTED, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0 && fd_read_all (fd, 64 * 1024, WATCHDOG_REPORTED, &data, &len, NULL) == 0)
      totals = json_parse (data, len, NULL);
  }
  if (!json_is_object (totals))
    {
      json_free (totals);
      totals = json_new_object ();
    }
  for (int k = BUDGET_FIRST_METER; k < BUDGET_N_DAILY; k++)
    {
      const char *key = budget_internal_key ((enum budget_kind) k);
      int64_t v = 0;

      json_int64 (json_get (totals, key), &v);
      json_set (totals, key, json_new_int (v + add[k]));
    }
  /* The ledger first: a total the watchdog sees is already the agent's. */
  if (ledger_update (report_ledger_cb, &c, err) < 0)
    return -1;
  out = json_serialize (totals, false);
  return file_replace_at (dfd, WATCHDOG_REPORTED, out, strlen (out), 0600, err);
}
