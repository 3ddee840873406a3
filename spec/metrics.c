/* corral: Prometheus metrics: records in, exposition text out. */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "base/json.h"
#include "base/util.h"
#include "spec/metrics.h"

static const char *const deny_reasons[]
    = { "address", "dns_name", "dns_class", "dns_cname", "dns_human", "dns_ask_limit", "dns_other" };
_Static_assert(sizeof (deny_reasons) / sizeof (deny_reasons[0]) == METRICS_DENY_N, "a label for every reason");

static const char *const dns_decisions[] = { "allow", "deny", "ask", "approved", "denied", "error", METRICS_OTHER };
_Static_assert(sizeof (dns_decisions) / sizeof (dns_decisions[0]) == METRICS_DNS_N, "a label for every decision");

static const char *const log_names[] = { "egress", "dns", "budget", "audit" };
_Static_assert(sizeof (log_names) / sizeof (log_names[0]) == METRICS_LOG_N, "a label for every log");

static const char *const source_names[] = { "state", "egress_log", "dns_log", "budget_log", "audit_log" };
_Static_assert(sizeof (source_names) / sizeof (source_names[0]) == METRICS_SRC_N, "a label for every source");

static const char *const guard_errors[] = { "upstream", "nft", "audit" };
_Static_assert(sizeof (guard_errors) / sizeof (guard_errors[0]) == METRICS_GUARD_N, "a label for every error");

static const struct
{
  const char *helper, *kind;
} helper_failures[] = { { "hook", "error" }, { "watchdog", "audit_error" }, { "watchdog", "meter_failed" } };
_Static_assert(sizeof (helper_failures) / sizeof (helper_failures[0]) == METRICS_FAIL_N, "labels for every failure");

void
metrics_init (metrics_t *m, const char *version)
{
  memset (m, 0, sizeof (*m));
  for (size_t i = 0; i < METRICS_LOG_N; i++)
    m->log_bytes[i] = -1;
  m->audit_verify_time = -1;
  m->version = version;
}

void
metrics_release (metrics_t *m)
{
  for (size_t i = 0; i < m->n_groups; i++)
    {
      free (m->groups[i].profile);
      free (m->groups[i].runtime);
    }
  for (size_t i = 0; i < m->n_events; i++)
    free (m->events[i].name);
  m->n_groups = m->n_events = 0;
}

void
metrics_add_container (metrics_t *m, const char *profile, const char *runtime)
{
  struct metrics_group_s *g = NULL;

  profile = profile ? profile : "";
  runtime = runtime ? runtime : "";
  for (size_t i = 0; i < m->n_groups && g == NULL; i++)
    if (str_eq (m->groups[i].profile, profile) && str_eq (m->groups[i].runtime, runtime))
      g = &m->groups[i];
  if (g == NULL && m->n_groups >= METRICS_MAX_GROUPS)
    {
      /* Past the cap, one more series at most: profile "other". */
      for (size_t i = 0; i < m->n_groups && g == NULL; i++)
        if (str_eq (m->groups[i].profile, METRICS_OTHER) && str_eq (m->groups[i].runtime, METRICS_OTHER))
          g = &m->groups[i];
      profile = runtime = METRICS_OTHER;
    }
  if (g == NULL)
    {
      g = &m->groups[m->n_groups++];
      g->profile = xstrdup (profile);
      g->runtime = xstrdup (runtime);
    }
  g->n++;
}

static void
count_event (metrics_t *m, const char *name)
{
  struct metrics_event_s *e = NULL;

  for (size_t i = 0; i < m->n_events && e == NULL; i++)
    if (str_eq (m->events[i].name, name))
      e = &m->events[i];
  if (e == NULL && m->n_events >= METRICS_MAX_EVENTS)
    {
      for (size_t i = 0; i < m->n_events && e == NULL; i++)
        if (str_eq (m->events[i].name, METRICS_OTHER))
          e = &m->events[i];
      name = METRICS_OTHER;
    }
  if (e == NULL)
    {
      e = &m->events[m->n_events++];
      e->name = xstrdup (name);
    }
  e->n++;
}

/* The guard's reasons for a "deny" (hooks/dnsguard.c). */
static enum metrics_egress_reason
dns_deny_reason (const char *reason)
{
  if (reason == NULL)
    return METRICS_DENY_DNS_OTHER;
  if (str_eq (reason, "name not allowed"))
    return METRICS_DENY_DNS_NAME;
  if (str_eq (reason, "class is not IN"))
    return METRICS_DENY_DNS_CLASS;
  if (str_has_prefix (reason, "CNAME target "))
    return METRICS_DENY_DNS_CNAME;
  if (str_eq (reason, "denied by a human"))
    return METRICS_DENY_DNS_HUMAN;
  if (str_eq (reason, "too many open requests"))
    return METRICS_DENY_DNS_ASK_LIMIT;
  return METRICS_DENY_DNS_OTHER;
}

static enum metrics_dns_decision
dns_decision (const char *d)
{
  for (int i = 0; i < METRICS_DNS_OTHER; i++)
    if (str_eq (d, dns_decisions[i]))
      return (enum metrics_dns_decision) i;
  return METRICS_DNS_OTHER;
}

/* A count field of a summary record; a missing or negative one is 0. */
static uint64_t
count_of (const json_t *o)
{
  int64_t n = 0;

  return json_int64 (json_get (o, "count"), &n) && n > 0 ? (uint64_t) n : 0;
}

static int
budget_kind_index (const char *name)
{
  int k = name ? budget_kind_from_name (name) : -1;

  return k >= 0 && k < BUDGET_N ? k : BUDGET_N;
}

void
metrics_count_unparsed (metrics_t *m, enum metrics_log log)
{
  m->unparsed[log]++;
}

void
metrics_count_line (metrics_t *m, enum metrics_log log, const char *line, size_t len)
{
  cleanup_json json_t *o = len ? json_parse (line, len, NULL) : NULL;
  const char *event = json_get_string (o, "event");

  if (len == 0)
    return;
  if (o == NULL || !json_is_object (o) || event == NULL)
    {
      m->unparsed[log]++;
      return;
    }
  switch (log)
    {
    case METRICS_LOG_EGRESS:
      if (str_eq (event, "egress-deny"))
        m->egress_denied[METRICS_DENY_ADDRESS]++;
      else if (str_eq (event, "egress-deny-suppressed"))
        m->egress_denied[METRICS_DENY_ADDRESS] += count_of (o);
      break;
    case METRICS_LOG_DNS:
      if (str_eq (event, "dns"))
        {
          enum metrics_dns_decision d = dns_decision (json_get_string (o, "decision"));

          m->dns_decisions[d]++;
          if (d == METRICS_DNS_DENY)
            m->egress_denied[dns_deny_reason (json_get_string (o, "reason"))]++;
        }
      else if (str_eq (event, "dns-suppressed"))
        m->dns_unlogged += count_of (o);
      break;
    case METRICS_LOG_BUDGET:
      if (str_eq (event, "budget_exceeded"))
        m->budget_trips[budget_kind_index (json_get_string (o, "budget"))]
                       [str_eq (json_get_string (o, "action"), "freeze") ? 1 : 0]++;
      else if (str_eq (event, "resumed"))
        m->budget_resumes[budget_kind_index (json_get_string (o, "budget"))]++;
      else if (str_eq (event, "audit-error"))
        m->helper_failures[METRICS_FAIL_WATCHDOG_AUDIT]++;
      else if (str_eq (event, "meter_failed"))
        m->helper_failures[METRICS_FAIL_WATCHDOG_METER]++;
      break;
    case METRICS_LOG_AUDIT:
      count_event (m, event);
      if (str_eq (event, "hook-error"))
        m->helper_failures[METRICS_FAIL_HOOK]++;
      break;
    case METRICS_LOG_N:
      break;
    }
}

/* ---- the exposition format ---- */

struct buf
{
  char *data;
  size_t len, cap;
};

static void buf_printf (struct buf *b, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
buf_printf (struct buf *b, const char *fmt, ...)
{
  va_list ap;
  int n;

  va_start (ap, fmt);
  n = vsnprintf (NULL, 0, fmt, ap);
  va_end (ap);
  if (n < 0)
    abort ();
  if (b->len + (size_t) n + 1 > b->cap)
    {
      b->cap = (b->len + (size_t) n + 1) * 2;
      b->data = xrealloc (b->data, b->cap);
    }
  va_start (ap, fmt);
  vsnprintf (b->data + b->len, b->cap - b->len, fmt, ap);
  va_end (ap);
  b->len += (size_t) n;
}

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlong forms,
 * no surrogates, nothing past U+10FFFF), or 0. */
static size_t
utf8_sequence (const unsigned char *s)
{
  unsigned char c = s[0];
  size_t n;
  uint32_t cp;

  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf)
    n = 2, cp = c & 0x1f;
  else if (c >= 0xe0 && c <= 0xef)
    n = 3, cp = c & 0x0f;
  else if (c >= 0xf0 && c <= 0xf4)
    n = 4, cp = c & 0x07;
  else
    return 0;
  for (size_t i = 1; i < n; i++)
    {
      if ((s[i] & 0xc0) != 0x80)
        return 0; /* also stops at the terminating NUL */
      cp = (cp << 6) | (s[i] & 0x3f);
    }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return n;
}

/* Escape for a label value (quote: true) or a HELP text (false: the
 * format escapes only backslash and newline there). */
static char *
escape (const char *s, bool quote)
{
  const unsigned char *p = (const unsigned char *) (s ? s : "");
  struct buf b = { 0 };

  buf_printf (&b, "%s", "");
  while (*p)
    {
      size_t n = utf8_sequence (p);

      if (n == 0)
        {
          buf_printf (&b, "\xef\xbf\xbd");
          p++;
        }
      else if (*p == '\\')
        buf_printf (&b, "\\\\"), p++;
      else if (*p == '\n')
        buf_printf (&b, "\\n"), p++;
      else if (*p == '"' && quote)
        buf_printf (&b, "\\\""), p++;
      else
        {
          buf_printf (&b, "%.*s", (int) n, (const char *) p);
          p += n;
        }
    }
  return b.data;
}

char *
metrics_escape_label (const char *s)
{
  return escape (s, true);
}

static void
family (struct buf *b, const char *name, const char *type, const char *help)
{
  cleanup_free char *h = escape (help, false);

  buf_printf (b, "# HELP %s %s\n# TYPE %s %s\n", name, h, name, type);
}

/* One sample: labels are name/value pairs ended by NULL. */
static void
sample (struct buf *b, const char *name, const char *const *labels, const char *value)
{
  buf_printf (b, "%s", name);
  for (size_t i = 0; labels && labels[i]; i += 2)
    {
      cleanup_free char *v = escape (labels[i + 1], true);
      buf_printf (b, "%s%s=\"%s\"", i == 0 ? "{" : ",", labels[i], v);
    }
  buf_printf (b, "%s %s\n", labels && labels[0] ? "}" : "", value);
}

static void
sample_u64 (struct buf *b, const char *name, const char *const *labels, uint64_t v)
{
  char text[32];

  snprintf (text, sizeof (text), "%" PRIu64, v);
  sample (b, name, labels, text);
}

static void
sample_double (struct buf *b, const char *name, const char *const *labels, double v)
{
  char text[64];

  snprintf (text, sizeof (text), "%.6f", v);
  sample (b, name, labels, text);
}

/* Samples sorted by their label values, so the output is stable. */
static int
cmp_group (const void *a, const void *b)
{
  const struct metrics_group_s *x = *(const struct metrics_group_s *const *) a;
  const struct metrics_group_s *y = *(const struct metrics_group_s *const *) b;
  int c = strcmp (x->profile, y->profile);

  return c ? c : strcmp (x->runtime, y->runtime);
}

static int
cmp_event (const void *a, const void *b)
{
  const struct metrics_event_s *x = *(const struct metrics_event_s *const *) a;
  const struct metrics_event_s *y = *(const struct metrics_event_s *const *) b;

  return strcmp (x->name, y->name);
}

static const char *
kind_label (int k)
{
  return k < BUDGET_N ? budget_name ((enum budget_kind) k) : METRICS_OTHER;
}

static void
format_gauges (struct buf *b, const metrics_t *m)
{
  const struct metrics_group_s *groups[METRICS_MAX_GROUPS + 1];

  family (b, "corral_containers", "gauge", "Containers with a corral state record, by profile and runtime.");
  for (size_t i = 0; i < m->n_groups; i++)
    groups[i] = &m->groups[i];
  qsort (groups, m->n_groups, sizeof (groups[0]), cmp_group);
  for (size_t i = 0; i < m->n_groups; i++)
    {
      const char *l[] = { "profile", groups[i]->profile, "runtime", groups[i]->runtime, NULL };
      sample_u64 (b, "corral_containers", l, groups[i]->n);
    }
  family (b, "corral_containers_frozen", "gauge", "Containers frozen by a budget trip, waiting for `corral resume`.");
  sample_u64 (b, "corral_containers_frozen", NULL, m->frozen);
  family (b, "corral_dns_asks_pending", "gauge",
          "DNS names held by the containers' guards for a human's decision (corral approve|deny).");
  sample_u64 (b, "corral_dns_asks_pending", NULL, m->asks_pending);
  family (b, "corral_dns_guard_errors", "gauge",
          "Errors counted by the DNS guards of the containers running now (their status files), by kind.");
  for (int i = 0; i < METRICS_GUARD_N; i++)
    {
      const char *l[] = { "kind", guard_errors[i], NULL };
      sample_u64 (b, "corral_dns_guard_errors", l, m->guard_errors[i]);
    }
}

static void
format_counters (struct buf *b, const metrics_t *m)
{
  const struct metrics_event_s *events[METRICS_MAX_EVENTS + 1];

  family (b, "corral_egress_denied_total", "counter",
          "Egress corral denied: packets to destinations outside the allowlist (reason address, from egress.log, "
          "rate-limited records included by their count) and DNS queries the guard refused (reason dns_*, from "
          "dns.log).");
  for (int i = 0; i < METRICS_DENY_N; i++)
    {
      const char *l[] = { "reason", deny_reasons[i], NULL };
      sample_u64 (b, "corral_egress_denied_total", l, m->egress_denied[i]);
    }
  family (b, "corral_dns_decisions_total", "counter", "Decisions of the DNS guards logged in dns.log, by decision.");
  for (int i = 0; i < METRICS_DNS_N; i++)
    {
      const char *l[] = { "decision", dns_decisions[i], NULL };
      sample_u64 (b, "corral_dns_decisions_total", l, m->dns_decisions[i]);
    }
  family (b, "corral_dns_decisions_unlogged_total", "counter",
          "DNS decisions over the log's rate limit: counted in dns.log, not logged one by one.");
  sample_u64 (b, "corral_dns_decisions_unlogged_total", NULL, m->dns_unlogged);
  family (b, "corral_budget_trips_total", "counter", "Budget trips in budget.log, by budget and action.");
  for (int k = 0; k < METRICS_BUDGET_KINDS; k++)
    for (int a = 0; a < 2; a++)
      {
        const char *l[] = { "budget", kind_label (k), "action", a ? "freeze" : "kill", NULL };
        if (k < BUDGET_N || m->budget_trips[k][a])
          sample_u64 (b, "corral_budget_trips_total", l, m->budget_trips[k][a]);
      }
  family (b, "corral_budget_resumes_total", "counter",
          "Frozen containers resumed by a human (corral resume), from budget.log, by budget.");
  for (int k = 0; k < METRICS_BUDGET_KINDS; k++)
    {
      const char *l[] = { "budget", kind_label (k), NULL };
      if (k < BUDGET_N || m->budget_resumes[k])
        sample_u64 (b, "corral_budget_resumes_total", l, m->budget_resumes[k]);
    }
  family (b, "corral_helper_failures_total", "counter",
          "Failures the helpers recorded: hook errors (audit log), the watchdog's audit errors and failed meters "
          "(budget.log).");
  for (int i = 0; i < METRICS_FAIL_N; i++)
    {
      const char *l[] = { "helper", helper_failures[i].helper, "kind", helper_failures[i].kind, NULL };
      sample_u64 (b, "corral_helper_failures_total", l, m->helper_failures[i]);
    }
  family (b, "corral_audit_records_total", "counter", "Records in the live audit log, by event.");
  for (size_t i = 0; i < m->n_events; i++)
    events[i] = &m->events[i];
  qsort (events, m->n_events, sizeof (events[0]), cmp_event);
  for (size_t i = 0; i < m->n_events; i++)
    {
      const char *l[] = { "event", events[i]->name, NULL };
      sample_u64 (b, "corral_audit_records_total", l, events[i]->n);
    }
  family (b, "corral_log_lines_unparsed_total", "counter",
          "Lines of a log that were not a JSON record (or longer than corral reads), by log.");
  for (int i = 0; i < METRICS_LOG_N; i++)
    {
      const char *l[] = { "log", log_names[i], NULL };
      sample_u64 (b, "corral_log_lines_unparsed_total", l, m->unparsed[i]);
    }
}

char *
metrics_format (const metrics_t *m)
{
  struct buf b = { 0 };

  buf_printf (&b, "%s", "");
  format_gauges (&b, m);
  format_counters (&b, m);
  family (&b, "corral_audit_chain_valid", "gauge",
          "1 if the live audit log's HMAC chain verified (as corral audit verify), 0 if not or if it could not be "
          "checked.");
  sample_u64 (&b, "corral_audit_chain_valid", NULL, m->audit_valid ? 1 : 0);
  if (m->audit_verify_time >= 0)
    {
      family (&b, "corral_audit_verify_timestamp_seconds", "gauge",
              "When the audit chain was last verified, in seconds since the Unix epoch.");
      sample_double (&b, "corral_audit_verify_timestamp_seconds", NULL, m->audit_verify_time);
      family (&b, "corral_audit_verify_duration_seconds", "gauge", "How long verifying the audit chain took.");
      sample_double (&b, "corral_audit_verify_duration_seconds", NULL, m->audit_verify_seconds);
    }
  family (&b, "corral_log_size_bytes", "gauge", "Size of each log corral counts records of (absent logs left out).");
  for (int i = 0; i < METRICS_LOG_N; i++)
    {
      const char *l[] = { "log", log_names[i], NULL };
      if (m->log_bytes[i] >= 0)
        sample_u64 (&b, "corral_log_size_bytes", l, (uint64_t) m->log_bytes[i]);
    }
  family (&b, "corral_metrics_source_up", "gauge",
          "1 if the source was read (an absent log is an empty one), 0 if it could not be.");
  for (int i = 0; i < METRICS_SRC_N; i++)
    {
      const char *l[] = { "source", source_names[i], NULL };
      sample_u64 (&b, "corral_metrics_source_up", l, m->source_up[i] ? 1 : 0);
    }
  family (&b, "corral_build_info", "gauge", "The corral that wrote these metrics.");
  {
    const char *l[] = { "version", m->version ? m->version : "", NULL };
    sample_u64 (&b, "corral_build_info", l, 1);
  }
  return b.data;
}
