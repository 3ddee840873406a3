/* corral: the per-agent daily ledger and the usage records. */
#include "config.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "base/fs.h"
#include "services/ledger.h"
#include "base/util.h"

#define LEDGER_MAX (16 * 1024 * 1024)
/* Half of it for anomaly history and today's totals together. */
#define LEDGER_HISTORY_MAX (LEDGER_MAX / 2)

/* Ledger keys of the daily totals, in budget_kind order. */

void
ledger_day (int64_t time_ms, char buf[16])
{
  time_t s = (time_t) (time_ms / 1000);
  struct tm tm;

  gmtime_r (&s, &tm);
  strftime (buf, 16, "%Y-%m-%d", &tm);
}

static json_t *
agent_entry (const json_t *ledger, const char *agent, const char *day)
{
  json_t *e = json_get (json_get (ledger, "agents"), agent);

  return e && str_eq (json_get_string (e, "day"), day) ? e : NULL;
}

/* "TENANT/AGENT" lies inside TENANT (spec/budget.h budget_identity):
 * the length of TENANT, or 0 for an identity without one. */
static size_t
tenant_len (const char *agent)
{
  const char *slash = strchr (agent, '/');
  return slash ? (size_t) (slash - agent) : 0;
}

static void
entry_get (const json_t *ledger, const char *agent, const char *day, int64_t ret[BUDGET_N_DAILY])
{
  json_t *e = agent_entry (ledger, agent, day);

  for (int k = 0; k < BUDGET_N_DAILY; k++)
    {
      ret[k] = 0;
      if (e && (!json_int64 (json_get (e, budget_internal_key ((enum budget_kind) k)), &ret[k]) || ret[k] < 0))
        ret[k] = 0;
    }
}

/* An agent inside a tenant has used, of each budget, the more of its own
 * total and its tenant's: the same daily limits hold for both. */
void
ledger_get (const json_t *ledger, const char *agent, const char *day, int64_t ret[BUDGET_N_DAILY])
{
  size_t n = tenant_len (agent);

  entry_get (ledger, agent, day, ret);
  if (n > 0)
    {
      cleanup_free char *tenant = xstrndup (agent, n);
      int64_t t[BUDGET_N_DAILY];

      entry_get (ledger, tenant, day, t);
      for (int k = 0; k < BUDGET_N_DAILY; k++)
        ret[k] = t[k] > ret[k] ? t[k] : ret[k];
    }
}

/* Entries of other days are history: the ledger holds today's totals. */
static json_t *
today_agents (json_t *ledger, const char *day)
{
  json_t *agents = json_ensure_object (ledger, "agents");

  for (size_t i = json_len (agents); i-- > 0;)
    if (!str_eq (json_get_string (json_value_at (agents, i), "day"), day))
      {
        cleanup_free char *key = xstrdup (json_key_at (agents, i));
        (void) json_del (agents, key);
      }
  json_set (ledger, "version", json_new_int (1));
  return agents;
}

static json_t *
fresh_entry (json_t *agents, const char *agent, const char *day)
{
  json_t *e = json_get (agents, agent);

  if (e == NULL)
    {
      e = json_new_object ();
      json_set (e, "day", json_new_string (day));
      for (int k = 0; k < BUDGET_N_DAILY; k++)
        json_set (e, budget_internal_key ((enum budget_kind) k), json_new_int (0));
      json_set (e, "containers", json_new_int (0));
      json_set (agents, agent, e);
    }
  return e;
}

static void
entry_add (json_t *ledger, const char *agent, const char *day, const int64_t add[BUDGET_N_DAILY], int containers)
{
  json_t *e = fresh_entry (today_agents (ledger, day), agent, day);
  int64_t v;

  for (int k = 0; k < BUDGET_N_DAILY; k++)
    {
      if (!json_int64 (json_get (e, budget_internal_key ((enum budget_kind) k)), &v) || v < 0)
        v = 0;
      v = add[k] > 0 && v > INT64_MAX - add[k] ? INT64_MAX : v + (add[k] > 0 ? add[k] : 0);
      json_set (e, budget_internal_key ((enum budget_kind) k), json_new_int (v));
    }
  v = 0;
  json_int64 (json_get (e, "containers"), &v);
  json_set (e, "containers", json_new_int (v + containers));
}

/* Charged to the identity and to its tenant. */
static void
charge (json_t *ledger, const char *agent, const char *day, const int64_t add[BUDGET_N_DAILY], int containers)
{
  size_t n = tenant_len (agent);

  entry_add (ledger, agent, day, add, containers);
  if (n > 0)
    {
      cleanup_free char *tenant = xstrndup (agent, n);
      entry_add (ledger, tenant, day, add, containers);
    }
}

void
ledger_add (json_t *ledger, const char *agent, const char *day, const int64_t add[BUDGET_N_DAILY])
{
  charge (ledger, agent, day, add, 1);
}

void
ledger_add_usage (json_t *ledger, const char *agent, const char *day, const int64_t add[BUDGET_N_DAILY])
{
  charge (ledger, agent, day, add, 0);
}

/* ---- history: what anomalies are measured against (kept across days) ---- */

#define HISTORY_MAX_DOMAINS 4096

/* Each use stamps the agent's history with the ledger's next sequence
 * number: pruning drops the least recently used first. */
static json_t *
history_of (json_t *ledger, const char *agent)
{
  json_t *h = json_ensure_object (json_ensure_object (ledger, "history"), agent);
  int64_t seq = 0;

  json_int64 (json_get (ledger, "history_seq"), &seq);
  json_set (ledger, "history_seq", json_new_int (seq + 1));
  json_set (h, "seq", json_new_int (seq + 1));
  return h;
}

void
ledger_prune_history (json_t *ledger, size_t max_bytes)
{
  json_t *history = json_get (ledger, "history");

  for (;;)
    {
      cleanup_free char *text = json_serialize (ledger, true);
      size_t n = json_len (history), drop;

      if (strlen (text) <= max_bytes || n == 0)
        return;
      /* The oldest eighth (at least one) at a time: few passes. */
      drop = n / 8 ? n / 8 : 1;
      while (drop-- > 0 && json_len (history) > 0)
        {
          size_t oldest = 0;
          int64_t oldest_seq = INT64_MAX;

          for (size_t i = 0; i < json_len (history); i++)
            {
              int64_t seq = 0;
              json_int64 (json_get (json_value_at (history, i), "seq"), &seq);
              if (seq < oldest_seq)
                {
                  oldest_seq = seq;
                  oldest = i;
                }
            }
          {
            cleanup_free char *key = xstrdup (json_key_at (history, oldest));
            (void) json_del (history, key);
          }
        }
    }
}

bool
ledger_note_domain (json_t *ledger, const char *agent, const char *name)
{
  json_t *domains = json_ensure_array (history_of (ledger, agent), "domains");

  if (json_array_has_string (domains, name))
    return false;
  /* A full history stops learning; every name past it counts as new. */
  if (json_len (domains) < HISTORY_MAX_DOMAINS)
    json_push (domains, json_new_string (name));
  return true;
}

int64_t
ledger_connection_baseline (const json_t *ledger, const char *agent)
{
  int64_t v = 0;

  json_int64 (json_get (json_get (json_get (ledger, "history"), agent), "connections_per_minute_milli"), &v);
  return v > 0 ? v : 0;
}

void
ledger_note_connection_rate (json_t *ledger, const char *agent, int64_t rate_milli)
{
  json_t *h = history_of (ledger, agent);
  int64_t b = ledger_connection_baseline (ledger, agent);

  /* An exponentially weighted mean over the agent's containers. */
  b = b > 0 ? (b * 4 + rate_milli) / 5 : rate_milli;
  json_set (h, "connections_per_minute_milli", json_new_int (b));
}

static void
entry_reset (json_t *e, const char *reason, int64_t time_ms)
{
  json_t *resets = json_ensure_array (e, "resets");
  json_t *r = json_new_object ();
  char when[32];

  for (int k = 0; k < BUDGET_N_DAILY; k++)
    json_set (e, budget_internal_key ((enum budget_kind) k), json_new_int (0));
  budget_format_time (time_ms, when);
  json_set (r, "time", json_new_string (when));
  json_set (r, "reason", json_new_string (reason));
  json_push (resets, r);
}

/* A tenant's reset covers the agents inside it (else each would still be
 * refused on its own total); an agent's, only itself. */
void
ledger_reset (json_t *ledger, const char *agent, const char *day, const char *reason, int64_t time_ms)
{
  json_t *agents = today_agents (ledger, day);
  size_t n = strlen (agent);

  entry_reset (fresh_entry (agents, agent, day), reason, time_ms);
  if (tenant_len (agent) > 0)
    return;
  for (size_t i = 0; i < json_len (agents); i++)
    {
      const char *key = json_key_at (agents, i);
      if (strncmp (key, agent, n) == 0 && key[n] == '/')
        entry_reset (json_value_at (agents, i), reason, time_ms);
    }
}

int
ledger_over (const int64_t used[BUDGET_N_DAILY], const int64_t daily[BUDGET_N_DAILY])
{
  for (int k = 0; k < BUDGET_N_DAILY; k++)
    if (daily[k] > 0 && used[k] >= budget_to_internal ((enum budget_kind) k, daily[k]))
      return k;
  return -1;
}

const char *
ledger_dir (void)
{
  /* Only the test suite moves the ledger. */
  const char *d = getenv ("CORRAL_LEDGER_DIR");
  return d && *d == '/' ? d : CORRAL_LIB_DIR;
}

static int
open_lock (int op, int *ret_fd, corral_error_t *err)
{
  cleanup_free char *path = NULL;
  int fd;

  if (mkdir_p (ledger_dir (), 0700, err) < 0)
    return -1;
  xasprintf (&path, "%s/" LEDGER_LOCK_NAME, ledger_dir ());
  fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return corral_error_make (err, errno, "open `%s`", path);
  while (flock (fd, op) < 0)
    if (errno != EINTR)
      {
        close (fd);
        return corral_error_make (err, errno, "lock `%s`", path);
      }
  *ret_fd = fd;
  return 0;
}

static json_t *
read_ledger (corral_error_t *err)
{
  cleanup_free char *path = NULL;
  cleanup_free char *data = NULL;
  cleanup_close int fd = -1;
  json_t *l;
  size_t len;

  xasprintf (&path, "%s/" LEDGER_NAME, ledger_dir ());
  fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && errno == ENOENT)
    return json_new_object ();
  if (fd < 0)
    {
      corral_error_make (err, errno, "open `%s`", path);
      return NULL;
    }
  if (fd_read_all (fd, LEDGER_MAX, path, &data, &len, err) < 0)
    return NULL;
  l = json_parse (data, len, err);
  if (l == NULL || !json_is_object (l))
    {
      json_free (l);
      corral_error_wrap (err, "ledger `%s` (fix or remove it; an unreadable ledger blocks agents with daily budgets)",
                         path);
      if (*err == NULL)
        corral_error_make (err, 0, "ledger `%s` is not a JSON object", path);
      return NULL;
    }
  return l;
}

json_t *
ledger_load (corral_error_t *err)
{
  cleanup_close int lock = -1;

  if (open_lock (LOCK_SH, &lock, err) < 0)
    return NULL;
  return read_ledger (err);
}

int
ledger_update (void (*fn) (json_t *ledger, void *data), void *data, corral_error_t *err)
{
  cleanup_close int lock = -1;
  cleanup_close int dfd = -1;
  cleanup_json json_t *l = NULL;
  cleanup_free char *out = NULL;

  if (open_lock (LOCK_EX, &lock, err) < 0 || (l = read_ledger (err)) == NULL)
    return -1;
  fn (l, data);
  out = json_serialize (l, true);
  /* Anomaly history grows with every agent name and domain: it gives way
   * before the ledger could outgrow what corral reads back (a ledger that
   * cannot be read refuses every container with a daily budget). */
  if (strlen (out) > LEDGER_HISTORY_MAX)
    {
      free (out);
      ledger_prune_history (l, LEDGER_HISTORY_MAX);
      out = json_serialize (l, true);
    }
  dfd = open (ledger_dir (), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return corral_error_make (err, errno, "open `%s`", ledger_dir ());
  return file_replace_at (dfd, LEDGER_NAME, out, strlen (out), 0600, err);
}

int
ledger_append_usage (const char *line, corral_error_t *err)
{
  cleanup_free char *path = NULL;
  cleanup_free char *buf = NULL;
  cleanup_close int fd = -1;
  size_t len;

  if (mkdir_p (ledger_dir (), 0700, err) < 0)
    return -1;
  xasprintf (&path, "%s/" USAGE_NAME, ledger_dir ());
  fd = open (path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return corral_error_make (err, errno, "open `%s`", path);
  /* One write per line: O_APPEND keeps concurrent writers' lines whole. */
  len = (size_t) xasprintf (&buf, "%s\n", line);
  if (write (fd, buf, len) != (ssize_t) len)
    return corral_error_make (err, errno, "append to `%s`", path);
  return 0;
}
