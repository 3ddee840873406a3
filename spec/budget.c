/* corral: budgets in the policy, annotations that tighten them, the
 * watchdog's plan and the JSON event of a tripped budget. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "base/util.h"
#include "spec/budget.h"

/* In the order of enum budget_kind (checked below). */
static const char *const kind_names[]
    = { "wall_clock_seconds", "cpu_seconds", "egress_bytes",           "api_calls",
        "spend_usd",          "tokens",      "connections_per_minute", "dns_queries_per_minute",
        "meter_failures" };
_Static_assert(sizeof (kind_names) / sizeof (kind_names[0]) == BUDGET_N, "a name for every budget kind");

const char *
budget_internal_key (enum budget_kind k)
{
  static const char *const keys[BUDGET_N_DAILY]
      = { "wall_clock_ms", "cpu_ms", "egress_bytes", "api_calls", "spend_micro_usd", "tokens" };
  return k < BUDGET_N_DAILY ? keys[k] : NULL;
}

const char *
budget_name (enum budget_kind k)
{
  return k < BUDGET_N ? kind_names[k] : "?";
}

int
budget_kind_from_name (const char *name)
{
  for (int i = 0; i < BUDGET_N; i++)
    if (str_eq (kind_names[i], name))
      return i;
  return -1;
}

const char *
budget_action_name (enum budget_action a)
{
  return a == BUDGET_ACTION_FREEZE ? "freeze" : "kill";
}

void
budget_defaults (corral_budgets_t *b)
{
  memset (b, 0, sizeof (*b));
  b->interval_ms = BUDGET_DEFAULT_INTERVAL_MS;
  b->grace_seconds = BUDGET_DEFAULT_GRACE_SECONDS;
  b->action = BUDGET_ACTION_KILL;
  b->meter_interval_ms = BUDGET_DEFAULT_METER_INTERVAL_MS;
  b->meter_timeout_ms = BUDGET_DEFAULT_METER_TIMEOUT_MS;
}

void
budget_clear (corral_budgets_t *b)
{
  strv_free (b->alert);
  strv_free (b->meter);
  b->alert = b->meter = NULL;
}

void
budget_copy (corral_budgets_t *dst, const corral_budgets_t *src)
{
  *dst = *src;
  dst->alert = strv_dup (src->alert);
  dst->meter = strv_dup (src->meter);
}

int
budget_parse_usd (const char *s, int64_t *ret)
{
  int64_t dollars = 0, micro = 0;
  int decimals = 0;
  const char *p = s;

  if (s == NULL || *p < '0' || *p > '9')
    return -1;
  for (; *p >= '0' && *p <= '9'; p++)
    {
      dollars = dollars * 10 + (*p - '0');
      if (dollars > 1000000000LL) /* a billion: far past any budget */
        return -1;
    }
  if (*p == '.')
    for (p++; *p >= '0' && *p <= '9'; p++)
      {
        if (++decimals > 6)
          return -1;
        micro = micro * 10 + (*p - '0');
      }
  if (*p != '\0' || (p[-1] == '.'))
    return -1;
  for (; decimals < 6; decimals++)
    micro *= 10;
  *ret = dollars * 1000000 + micro;
  return 0;
}

int
budget_parse_meter_output (const char *text, size_t len, int64_t usage[BUDGET_N], corral_error_t *err)
{
  cleanup_json json_t *o = json_parse (text, len, err);

  if (o == NULL)
    return corral_error_wrap (err, "meter output");
  if (!json_is_object (o))
    return corral_error_make (err, 0, "meter output: expected a JSON object, found %s", json_type_name (o));
  for (int k = BUDGET_FIRST_METER; k < BUDGET_CONNECTIONS; k++)
    {
      json_t *v = json_get (o, kind_names[k]);
      int64_t n;

      if (v == NULL)
        continue;
      if (k == BUDGET_SPEND ? budget_parse_usd (json_number_text (v), &n) < 0 : !json_int64 (v, &n) || n < 0)
        return corral_error_make (err, 0, "meter output: %s is not a non-negative %s", kind_names[k],
                                  k == BUDGET_SPEND ? "amount of dollars" : "integer");
      usage[k] = n;
    }
  return 0;
}

bool
budget_any (const corral_budgets_t *b)
{
  for (int i = 0; i < BUDGET_N; i++)
    if (b->limit[i] > 0)
      return true;
  for (int i = 0; i < BUDGET_N_DAILY; i++)
    if (b->daily[i] > 0)
      return true;
  return b->anomaly_new_domains || b->anomaly_rate_factor > 0;
}

/* ---- policy ---- */

/* A non-negative integer (0 = none); sizes may be strings with a suffix. */
static int
get_amount (const json_t *obj, const char *key, const char *path, bool size, int64_t max, int64_t *ret,
            corral_error_t *err)
{
  json_t *v = json_get (obj, key);
  int64_t n;

  if (v == NULL)
    return 0;
  if (str_eq (key, "spend_usd"))
    {
      const char *t = json_is_string (v) ? json_string (v) : json_number_text (v);
      if (budget_parse_usd (t, &n) < 0)
        return corral_error_make (err, 0, "%s.%s: expected dollars (a number, at most 6 decimals)", path, key);
    }
  else if (size && json_is_string (v))
    {
      if (parse_size (json_string (v), &n) < 0)
        return corral_error_make (err, 0, "%s.%s: invalid size \"%s\" (bytes, or a number with k, m or g)", path, key,
                                  json_string (v));
    }
  else if (!json_int64 (v, &n))
    return corral_error_make (err, 0, "%s.%s: expected an integer, found %s", path, key, json_type_name (v));
  if (n < 0 || n > max)
    return corral_error_make (err, 0, "%s.%s: %" PRId64 " is out of range [0, %" PRId64 "]", path, key, n, max);
  *ret = n;
  return 1;
}

/* Limits are kept in ms or bytes internally: bound them so that neither
 * the conversion nor the watchdog's sums overflow. */
#define MAX_SECONDS (100LL * 365 * 24 * 3600)
#define MAX_BYTES (1LL << 60)
#define MAX_RATE 1000000LL
#define MAX_COUNT (1LL << 50)
#define MAX_MICRO_USD (1000000000LL * 1000000)

static int64_t
kind_max (int k)
{
  switch (k)
    {
    case BUDGET_EGRESS:
      return MAX_BYTES;
    case BUDGET_CONNECTIONS:
    case BUDGET_DNS_QUERIES:
    case BUDGET_METER_FAILURES:
      return MAX_RATE;
    case BUDGET_API_CALLS:
    case BUDGET_TOKENS:
      return MAX_COUNT;
    case BUDGET_SPEND:
      return MAX_MICRO_USD;
    default:
      return MAX_SECONDS;
    }
}

static int
parse_alert (corral_budgets_t *b, const json_t *v, const char *path, corral_error_t *err)
{
  size_t n;
  cleanup_strv char **argv = NULL;

  if (!json_is_array (v))
    return corral_error_make (err, 0, "%s.alert: expected an array (the command's argv), found %s", path,
                              json_type_name (v));
  n = json_len (v);
  if (n == 0)
    {
      strv_free (b->alert);
      b->alert = NULL;
      return 0;
    }
  argv = xmalloc0 ((n + 1) * sizeof (char *));
  for (size_t i = 0; i < n; i++)
    {
      const char *s = json_string (json_at (v, i));
      if (s == NULL)
        return corral_error_make (err, 0, "%s.alert[%zu]: expected a string, found %s", path, i,
                                  json_type_name (json_at (v, i)));
      argv[i] = xstrdup (s);
    }
  /* The watchdog runs it as root with an empty environment: no PATH
   * lookup, so no surprise about which program that is. */
  if (argv[0][0] != '/')
    return corral_error_make (err, 0, "%s.alert[0]: \"%s\" is not an absolute path", path, argv[0]);
  strv_free (b->alert);
  b->alert = steal_pointer (&argv);
  return 0;
}

int
budget_parse (corral_budgets_t *b, const json_t *obj, const char *path, corral_error_t *err)
{
  static const char *const keys[] = { "wall_clock_seconds",
                                      "cpu_seconds",
                                      "egress_bytes",
                                      "api_calls",
                                      "spend_usd",
                                      "tokens",
                                      "connections_per_minute",
                                      "dns_queries_per_minute",
                                      "meter_failures",
                                      "interval_ms",
                                      "grace_seconds",
                                      "action",
                                      "alert",
                                      "daily",
                                      "meter",
                                      "meter_interval_seconds",
                                      "meter_timeout_seconds",
                                      "anomaly",
                                      NULL };
  static const char *const daily_keys[]
      = { "wall_clock_seconds", "cpu_seconds", "egress_bytes", "api_calls", "spend_usd", "tokens", NULL };
  int64_t secs;
  json_t *v;

  if (json_check_keys (obj, path, keys, err) < 0)
    return -1;
  for (int k = 0; k < BUDGET_N; k++)
    if (get_amount (obj, kind_names[k], path, k == BUDGET_EGRESS, kind_max (k), &b->limit[k], err) < 0)
      return -1;
  if (get_amount (obj, "interval_ms", path, false, 60000, &b->interval_ms, err) < 0
      || get_amount (obj, "grace_seconds", path, false, 300, &b->grace_seconds, err) < 0)
    return -1;
  if (b->interval_ms < 100)
    return corral_error_make (err, 0, "%s.interval_ms: %" PRId64 " is below 100", path, b->interval_ms);
  v = json_get (obj, "action");
  if (v != NULL)
    {
      const char *a = json_string (v);
      if (str_eq (a, "kill"))
        b->action = BUDGET_ACTION_KILL;
      else if (str_eq (a, "freeze"))
        b->action = BUDGET_ACTION_FREEZE;
      else
        return corral_error_make (err, 0, "%s.action: expected \"kill\" or \"freeze\"", path);
    }
  v = json_get (obj, "alert");
  if (v != NULL && parse_alert (b, v, path, err) < 0)
    return -1;
  v = json_get (obj, "meter");
  if (v != NULL)
    {
      /* The same rules as the alert command: an absolute argv. */
      cleanup_strv char **saved = steal_pointer (&b->alert);
      int r = parse_alert (b, v, path, err);

      strv_free (b->meter);
      b->meter = steal_pointer (&b->alert);
      b->alert = steal_pointer (&saved);
      if (r < 0)
        return corral_error_wrap (err, "(as %s.meter)", path);
    }
  secs = 0;
  if (get_amount (obj, "meter_interval_seconds", path, false, 3600, &secs, err) < 0)
    return -1;
  if (secs > 0)
    b->meter_interval_ms = secs * 1000;
  secs = 0;
  if (get_amount (obj, "meter_timeout_seconds", path, false, 600, &secs, err) < 0)
    return -1;
  if (secs > 0)
    b->meter_timeout_ms = secs * 1000;
  v = json_get (obj, "anomaly");
  if (v != NULL)
    {
      static const char *const anomaly_keys[] = { "new_domains", "connection_rate_factor", NULL };
      cleanup_free char *sub = NULL;

      xasprintf (&sub, "%s.anomaly", path);
      if (json_check_keys (v, sub, anomaly_keys, err) < 0
          || (json_get (v, "new_domains") && !json_bool (json_get (v, "new_domains"), &b->anomaly_new_domains)))
        return corral_error_make (err, 0, "%s.new_domains: expected true or false", sub);
      if (get_amount (v, "connection_rate_factor", sub, false, 1000, &b->anomaly_rate_factor, err) < 0)
        return -1;
      if (json_get (v, "connection_rate_factor") && b->anomaly_rate_factor < 2)
        return corral_error_make (err, 0, "%s.connection_rate_factor: at least 2 (times the agent's baseline)", sub);
    }
  v = json_get (obj, "daily");
  if (v != NULL)
    {
      cleanup_free char *sub = NULL;

      xasprintf (&sub, "%s.daily", path);
      if (json_check_keys (v, sub, daily_keys, err) < 0)
        return -1;
      for (int k = 0; k < BUDGET_N_DAILY; k++)
        if (get_amount (v, kind_names[k], sub, k == BUDGET_EGRESS, kind_max (k), &b->daily[k], err) < 0)
          return -1;
    }
  return 0;
}

/* ---- annotations ---- */

bool
budget_annotation_known (const char *key)
{
  return str_has_prefix (key, BUDGET_ANNOTATION_PREFIX)
         && budget_kind_from_name (key + strlen (BUDGET_ANNOTATION_PREFIX)) >= 0;
}

int
budget_apply_annotation (corral_budgets_t *b, const char *key, const char *value, corral_error_t *err)
{
  int k = str_has_prefix (key, BUDGET_ANNOTATION_PREFIX)
              ? budget_kind_from_name (key + strlen (BUDGET_ANNOTATION_PREFIX))
              : -1;
  int64_t v;

  if (k < 0)
    return corral_error_make (err, 0, "annotation %s is not known to corral", key);
  /* Only the byte budget takes k/m/g suffixes; the others are plain counts. */
  if (k == BUDGET_SPEND ? budget_parse_usd (value, &v) < 0 || v <= 0
                        : (k != BUDGET_EGRESS && strspn (value, "0123456789") != strlen (value))
                              || parse_size (value, &v) < 0 || v <= 0 || v > kind_max (k))
    return corral_error_make (err, 0, "annotation %s=%s: expected a positive integer%s, at most %" PRId64, key, value,
                              k == BUDGET_EGRESS ? " (k, m, g suffixes allowed)" : "", kind_max (k));
  if (b->limit[k] != 0 && v > b->limit[k])
    return corral_error_make (err, 0,
                              "annotation %s=%s would loosen the profile's budget of %" PRId64
                              ": annotations can only tighten a profile",
                              key, value, b->limit[k]);
  b->limit[k] = v;
  return 0;
}

const char *
budget_agent (const json_t *annotations)
{
  const char *a = json_get_string (annotations, "run.corral.agent");

  if (a == NULL || *a == '\0')
    a = json_get_string (annotations, "io.kubernetes.cri.image-name");
  return a && *a ? a : "unnamed";
}

/* Names that become ledger keys and appear in messages and alerts:
 * printable ASCII without spaces, bounded. */
#define IDENTITY_NAME_MAX 253

static bool
identity_name_ok (const char *t)
{
  if (t == NULL || *t == '\0' || strlen (t) > IDENTITY_NAME_MAX)
    return false;
  for (const char *c = t; *c; c++)
    if ((unsigned char) *c < 0x21 || (unsigned char) *c > 0x7e)
      return false;
  return true;
}

/* Without a tenant a name is one key: '/' (the ledger's tenant separator,
 * common in image names) and '%' are escaped, so "docker.io/library/x" is
 * not charged to a tenant "docker.io". */
static char *
escape_slashes (const char *name)
{
  char *out = xmalloc (strlen (name) * 3 + 1), *o = out;

  for (const char *c = name; *c; c++)
    if (*c == '/' || *c == '%')
      o += sprintf (o, "%%%02X", (unsigned char) *c);
    else
      *o++ = *c;
  *o = '\0';
  return out;
}

int
budget_identity (const char *tenant_flag, const char *tenant_annotation, const json_t *annotations, char **ret,
                 corral_error_t *err)
{
  const char *tenant = tenant_flag;
  const char *agent = json_get_string (annotations, "run.corral.agent");

  if (agent && !identity_name_ok (agent))
    return corral_error_make (err, 0,
                              "annotation run.corral.agent: an agent name is 1-%d printable ASCII characters "
                              "without spaces",
                              IDENTITY_NAME_MAX);
  if (tenant == NULL && tenant_annotation)
    {
      tenant = json_get_string (annotations, tenant_annotation);
      if (tenant == NULL || *tenant == '\0')
        return corral_error_make (err, 0,
                                  "the policy takes the tenant from annotation %s, which this container does not "
                                  "have: set it in the engine, or pass --tenant",
                                  tenant_annotation);
    }
  if (tenant == NULL)
    {
      const char *name = budget_agent (annotations);
      *ret = escape_slashes (identity_name_ok (name) ? name : "unnamed");
      return 0;
    }
  if (!identity_name_ok (tenant) || strchr (tenant, '/'))
    return corral_error_make (err, 0,
                              "tenant \"%s\": a tenant is 1-%d printable ASCII characters without '/' or "
                              "spaces",
                              tenant, IDENTITY_NAME_MAX);
  if (agent && *agent)
    xasprintf (ret, "%s/%s", tenant, agent);
  else
    *ret = xstrdup (tenant);
  return 0;
}

/* ---- plan ---- */

json_t *
budget_plan_new (const corral_budgets_t *b, const char *id, const char *agent)
{
  json_t *plan = json_new_object ();
  json_t *limits = json_new_object ();
  json_t *daily = json_new_object ();
  json_t *alert = json_new_array ();

  json_set (plan, "id", json_new_string (id));
  json_set (plan, "agent", json_new_string (agent));
  for (int k = 0; k < BUDGET_N; k++)
    if (b->limit[k] > 0)
      json_set (limits, kind_names[k], json_new_int (b->limit[k]));
  for (int k = 0; k < BUDGET_N_DAILY; k++)
    if (b->daily[k] > 0)
      json_set (daily, kind_names[k], json_new_int (b->daily[k]));
  json_set (plan, "limits", limits);
  json_set (plan, "daily", daily);
  json_set (plan, "interval_ms", json_new_int (b->interval_ms));
  json_set (plan, "grace_seconds", json_new_int (b->grace_seconds));
  json_set (plan, "action", json_new_string (budget_action_name (b->action)));
  for (char **a = b->alert; a && *a; a++)
    json_push (alert, json_new_string (*a));
  json_set (plan, "alert", alert);
  if (b->anomaly_new_domains || b->anomaly_rate_factor > 0)
    {
      json_t *a = json_new_object ();
      json_set (a, "new_domains", json_new_bool (b->anomaly_new_domains));
      json_set (a, "connection_rate_factor", json_new_int (b->anomaly_rate_factor));
      json_set (plan, "anomaly", a);
    }
  if (b->meter)
    {
      json_t *meter = json_new_array ();
      for (char **a = b->meter; *a; a++)
        json_push (meter, json_new_string (*a));
      json_set (plan, "meter", meter);
      json_set (plan, "meter_interval_ms", json_new_int (b->meter_interval_ms));
      json_set (plan, "meter_timeout_ms", json_new_int (b->meter_timeout_ms));
    }
  return plan;
}

/* An array of strings as a NULL-terminated argv (NULL when empty). */
static char **
json_argv (const json_t *arr)
{
  char **v;

  if (json_len (arr) == 0 || !json_is_array (arr))
    return NULL;
  v = xmalloc0 ((json_len (arr) + 1) * sizeof (char *));
  for (size_t i = 0; i < json_len (arr); i++)
    v[i] = xstrdup (json_string (json_at (arr, i)) ? json_string (json_at (arr, i)) : "");
  return v;
}

int
budget_plan_parse (const json_t *plan, corral_budgets_t *ret, char **ret_id, char **ret_agent, corral_error_t *err)
{
  corral_budgets_t b;
  const json_t *limits = json_get (plan, "limits");
  const json_t *daily = json_get (plan, "daily");
  const json_t *alert = json_get (plan, "alert");
  const char *id = json_get_string (plan, "id");
  const char *agent = json_get_string (plan, "agent");
  const char *action = json_get_string (plan, "action");

  budget_defaults (&b);
  if (id == NULL || agent == NULL || action == NULL || !json_is_object (limits) || !json_is_object (daily)
      || !json_int64 (json_get (plan, "interval_ms"), &b.interval_ms)
      || !json_int64 (json_get (plan, "grace_seconds"), &b.grace_seconds) || b.interval_ms < 100)
    return corral_error_make (err, 0, "budget plan: missing or invalid fields");
  for (int k = 0; k < BUDGET_N; k++)
    if (json_get (limits, kind_names[k]) && !json_int64 (json_get (limits, kind_names[k]), &b.limit[k]))
      return corral_error_make (err, 0, "budget plan: limits.%s is not an integer", kind_names[k]);
  for (int k = 0; k < BUDGET_N_DAILY; k++)
    if (json_get (daily, kind_names[k]) && !json_int64 (json_get (daily, kind_names[k]), &b.daily[k]))
      return corral_error_make (err, 0, "budget plan: daily.%s is not an integer", kind_names[k]);
  b.action = str_eq (action, "freeze") ? BUDGET_ACTION_FREEZE : BUDGET_ACTION_KILL;
  b.alert = json_argv (alert);
  b.meter = json_argv (json_get (plan, "meter"));
  json_bool (json_get (json_get (plan, "anomaly"), "new_domains"), &b.anomaly_new_domains);
  json_int64 (json_get (json_get (plan, "anomaly"), "connection_rate_factor"), &b.anomaly_rate_factor);
  if (b.meter)
    {
      json_int64 (json_get (plan, "meter_interval_ms"), &b.meter_interval_ms);
      json_int64 (json_get (plan, "meter_timeout_ms"), &b.meter_timeout_ms);
      if (b.meter_interval_ms < 1000 || b.meter_timeout_ms < 100)
        {
          budget_clear (&b);
          return corral_error_make (err, 0, "budget plan: invalid meter interval or timeout");
        }
    }
  *ret = b;
  *ret_id = xstrdup (id);
  *ret_agent = xstrdup (agent);
  return 0;
}

int64_t
budget_to_internal (enum budget_kind k, int64_t v)
{
  return k == BUDGET_WALL_CLOCK || k == BUDGET_CPU ? v * 1000 : v;
}

/* ---- events ---- */

void
budget_format_time (int64_t time_ms, char buf[32])
{
  time_t s = (time_t) (time_ms / 1000);
  struct tm tm;

  char sec[24];

  gmtime_r (&s, &tm);
  strftime (sec, sizeof (sec), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf (buf, 32, "%.19s.%03dZ", sec, (int) (time_ms % 1000));
}

char *
budget_format_amount (enum budget_kind k, int64_t v)
{
  char *s;

  if (k == BUDGET_WALL_CLOCK || k == BUDGET_CPU)
    xasprintf (&s, "%" PRId64 ".%03" PRId64, v / 1000, v % 1000);
  else if (k == BUDGET_SPEND)
    xasprintf (&s, "%" PRId64 ".%06" PRId64, v / 1000000, v % 1000000);
  else
    xasprintf (&s, "%" PRId64, v);
  return s;
}

json_t *
budget_event_record (const budget_event_t *ev)
{
  json_t *r = json_new_object ();
  char when[32];

  budget_format_time (ev->time_ms, when);
  json_set (r, "time", json_new_string (when));
  json_set (r, "event", json_new_string (ev->event ? ev->event : "budget_exceeded"));
  json_set (r, "container", json_new_string (ev->id ? ev->id : ""));
  json_set (r, "agent", json_new_string (ev->agent ? ev->agent : ""));
  json_set (r, "budget", json_new_string (budget_name (ev->kind)));
  /* A resume or reset is a human's decision: its reason, no usage. */
  if (ev->reason)
    {
      json_set (r, "reason", json_new_string (ev->reason));
      json_set (r, "grant", json_new_int (ev->grant));
    }
  else
    {
      cleanup_free char *limit = budget_format_amount (ev->kind, ev->limit);
      cleanup_free char *usage = budget_format_amount (ev->kind, ev->usage);

      json_set (r, "scope", json_new_string (ev->daily ? "daily" : "run"));
      json_set (r, "limit", json_new_number (limit));
      json_set (r, "usage", json_new_number (usage));
      if (ev->cause)
        json_set (r, "cause", json_new_string (ev->cause));
    }
  json_set (r, "action", json_new_string (ev->action ? ev->action : ""));
  return r;
}

json_t *
budget_event_fields (const json_t *record)
{
  json_t *f = json_deep_copy (record);

  json_del (f, "time");
  json_del (f, "event");
  json_del (f, "container");
  json_del (f, "agent");
  return f;
}

void
budget_minute_init (budget_minute_t *m)
{
  for (size_t i = 0; i < BUDGET_MINUTE_SLOTS; i++)
    {
      m->second[i] = -1;
      m->count[i] = 0;
    }
}

void
budget_minute_push (budget_minute_t *m, int64_t now_ms, uint64_t count)
{
  int64_t sec = now_ms / 1000;
  size_t slot = (size_t) (sec % BUDGET_MINUTE_SLOTS);

  if (m->second[slot] != sec)
    {
      m->second[slot] = sec;
      m->count[slot] = count;
    }
}

uint64_t
budget_minute_increase (const budget_minute_t *m, int64_t now_ms, int64_t started_ms, uint64_t count)
{
  int64_t sec = now_ms / 1000, before = -1, inside = -1;
  uint64_t before_count = 0, inside_count = 0;

  /* A counter younger than a minute started at zero: all of it counts. */
  if (now_ms - started_ms < 60000)
    return count;
  /* The base: the newest sample a minute old or more (the window's start);
   * with none kept, the oldest inside the minute. */
  for (size_t i = 0; i < BUDGET_MINUTE_SLOTS; i++)
    {
      int64_t s = m->second[i];

      if (s < 0 || s > sec)
        continue;
      if (s <= sec - 60 && s > before)
        {
          before = s;
          before_count = m->count[i];
        }
      else if (s > sec - 60 && (inside < 0 || s < inside))
        {
          inside = s;
          inside_count = m->count[i];
        }
    }
  if (before >= 0)
    return count >= before_count ? count - before_count : 0;
  if (inside >= 0)
    return count >= inside_count ? count - inside_count : 0;
  return count;
}

uint64_t
budget_counter_update (budget_counter_t *c, uint64_t raw)
{
  if (raw < c->last)
    c->base += c->last;
  c->last = raw;
  return c->base + raw;
}

void
budget_counter_rebase (budget_counter_t *c)
{
  c->base += c->last;
  c->last = 0;
}
