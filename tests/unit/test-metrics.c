/* corral: unit tests of the Prometheus metrics: records as the helpers
 * write them counted under the right labels, label values escaped so that
 * hostile ones (quotes, backslashes, newlines, bytes that are not UTF-8)
 * neither break a line nor leak into another label, and the exposition
 * read back by a parser of the format's grammar. */
#include "config.h"

#include <stdio.h>

#include "base/util.h"
#include "spec/metrics.h"
#include "tests/unit/tap.h"

#define CID "6d5439fdfe2d37529bea3768a7c4532abe3e37f5cb0c47f82a172a1cb16e2e33"

static void
feed (metrics_t *m, enum metrics_log log, const char *line)
{
  metrics_count_line (m, log, line, strlen (line));
}

/* The value of the sample whose text (name and labels) is exactly key, or
 * -1 when there is none. */
static long long
value_of (const char *text, const char *key)
{
  const char *p = text;
  size_t kl = strlen (key);

  while ((p = strstr (p, key)) != NULL)
    {
      if ((p == text || p[-1] == '\n') && p[kl] == ' ')
        return strtoll (p + kl + 1, NULL, 10);
      p += kl;
    }
  return -1;
}

/* A parser of one sample line per the 0.0.4 grammar: name, optional
 * {label="value",...} with \\, \" and \n escapes, a space, a value.  Fills
 * the unescaped value of label want; returns false if the line is not a
 * valid sample. */
static bool
parse_sample (const char *line, const char *want, char **ret_value)
{
  const char *p = line;

  *ret_value = NULL;
  if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || *p == ':'))
    return false;
  while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == ':')
    p++;
  if (*p == '{')
    {
      p++;
      while (*p != '}')
        {
          const char *name = p;
          size_t nl;
          char *v = xmalloc (strlen (line) + 1), *q = v;

          while ((*p >= 'a' && *p <= 'z') || *p == '_')
            p++;
          nl = (size_t) (p - name);
          if (nl == 0 || p[0] != '=' || p[1] != '"')
            {
              free (v);
              return false;
            }
          for (p += 2; *p != '"'; p++)
            {
              if (*p == '\0' || *p == '\n')
                {
                  free (v);
                  return false;
                }
              if (*p == '\\')
                {
                  p++;
                  if (*p == 'n')
                    *q++ = '\n';
                  else if (*p == '\\' || *p == '"')
                    *q++ = *p;
                  else
                    {
                      free (v);
                      return false;
                    }
                }
              else
                *q++ = *p;
            }
          *q = '\0';
          p++;
          if (strlen (want) == nl && strncmp (name, want, nl) == 0)
            {
              free (*ret_value);
              *ret_value = v;
            }
          else
            free (v);
          if (*p == ',')
            p++;
          else if (*p != '}')
            return false;
        }
      p++;
    }
  if (*p != ' ' || p[1] == '\0')
    return false;
  strtod (p + 1, (char **) &p);
  return *p == '\0';
}

/* Every line of text a comment or a valid sample; the values of label want
 * in order, into vals. */
static bool
parse_exposition (const char *text, const char *want, char **vals, size_t max, size_t *ret_n)
{
  cleanup_free char *copy = xstrdup (text);
  char *save = NULL;
  size_t n = 0;

  if (text[0] == '\0' || text[strlen (text) - 1] != '\n')
    return false;
  for (char *l = strtok_r (copy, "\n", &save); l; l = strtok_r (NULL, "\n", &save))
    {
      char *v = NULL;

      if (str_has_prefix (l, "# HELP ") || str_has_prefix (l, "# TYPE "))
        continue;
      if (!parse_sample (l, want, &v))
        {
          diag ("not a sample: %s", l);
          return false;
        }
      if (v && n < max)
        vals[n++] = v;
      else
        free (v);
    }
  *ret_n = n;
  return true;
}

static void
test_escape (void)
{
  static const struct
  {
    const char *in, *out, *what;
  } cases[] = {
    { "plain", "plain", "plain text is kept" },
    { "a\"b", "a\\\"b", "a double quote is escaped" },
    { "a\\b", "a\\\\b", "a backslash is doubled" },
    { "a\nb", "a\\nb", "a newline becomes \\n" },
    { "\\n", "\\\\n", "a backslash before n is not taken for a newline" },
    { "x\"} 1\nevil_metric 666", "x\\\"} 1\\nevil_metric 666", "an injected sample stays inside the value" },
    { "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x8e", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x8e", "valid UTF-8 is kept" },
    { "a\xff"
      "b",
      "a\xef\xbf\xbd"
      "b",
      "a byte that is never UTF-8 becomes U+FFFD" },
    { "a\xc3", "a\xef\xbf\xbd", "a sequence cut at the end becomes U+FFFD" },
    { "\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd", "an overlong slash is not let through" },
    { "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", "a UTF-16 surrogate is not UTF-8" },
    { "\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", "past U+10FFFF is not UTF-8" },
    { "", "", "empty stays empty" },
  };

  for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++)
    {
      cleanup_free char *e = metrics_escape_label (cases[i].in);
      is_str (e, cases[i].out, "%s", cases[i].what);
    }
}

static void
test_counting (void)
{
  cleanup_metrics metrics_t m;
  cleanup_free char *text = NULL;

  metrics_init (&m, "1.2.3");
  /* egress.log as hooks/nflog.c writes it. */
  feed (
      &m, METRICS_LOG_EGRESS,
      "{\"time\":\"2026-11-24T10:00:00.000000000Z\",\"event\":\"egress-deny\",\"family\":\"ipv4\",\"container\":\"" CID
      "\",\"destination\":\"10.88.0.1\",\"protocol\":\"tcp\",\"port\":18081}");
  feed (&m, METRICS_LOG_EGRESS,
        "{\"time\":\"2026-11-24T10:00:01.000000000Z\",\"event\":\"egress-deny-suppressed\",\"container\":\"" CID
        "\",\"count\":41}");
  feed (&m, METRICS_LOG_EGRESS, "{\"time\":\"x\",\"event\":\"egress-deny-suppressed\",\"count\":-5}");
  /* dns.log as hooks/dnsguard.c writes it. */
  feed (&m, METRICS_LOG_DNS,
        "{\"time\":\"t\",\"event\":\"dns\",\"container\":\"" CID
        "\",\"name\":\"example.org\",\"type\":\"A\",\"decision\":\"allow\",\"addresses\":[\"192.0.2.1\"]}");
  feed (&m, METRICS_LOG_DNS,
        "{\"time\":\"t\",\"event\":\"dns\",\"container\":\"" CID
        "\",\"name\":\"evil.example\",\"type\":\"A\",\"decision\":\"deny\",\"reason\":\"name not allowed\","
        "\"addresses\":[]}");
  feed (&m, METRICS_LOG_DNS,
        "{\"time\":\"t\",\"event\":\"dns\",\"name\":\"a.example\",\"type\":\"A\",\"decision\":\"deny\","
        "\"reason\":\"CNAME target evil.example is not allowed\",\"addresses\":[]}");
  feed (&m, METRICS_LOG_DNS,
        "{\"time\":\"t\",\"event\":\"dns\",\"name\":\"b.example\",\"type\":\"A\",\"decision\":\"deny\","
        "\"reason\":\"denied by a human\",\"addresses\":[]}");
  feed (&m, METRICS_LOG_DNS,
        "{\"time\":\"t\",\"event\":\"dns\",\"name\":\"b.example\",\"type\":\"A\",\"decision\":\"ask\","
        "\"reason\":\"held for a human's decision\",\"addresses\":[]}");
  feed (&m, METRICS_LOG_DNS,
        "{\"time\":\"t\",\"event\":\"dns\",\"name\":\"c\",\"decision\":\"error\",\"reason\":\"add `x`: EPERM\"}");
  feed (&m, METRICS_LOG_DNS, "{\"time\":\"t\",\"event\":\"dns\",\"name\":\"c\",\"decision\":\"sudo rm -rf\"}");
  feed (&m, METRICS_LOG_DNS, "{\"time\":\"t\",\"event\":\"dns-suppressed\",\"container\":\"" CID "\",\"count\":7}");
  /* budget.log as the watchdog and corral resume write it. */
  feed (&m, METRICS_LOG_BUDGET,
        "{\"time\":\"t\",\"event\":\"budget_exceeded\",\"container\":\"" CID
        "\",\"agent\":\"unnamed\",\"budget\":\"cpu_seconds\",\"scope\":\"run\",\"limit\":2.0,\"usage\":2.1,"
        "\"action\":\"freeze\"}");
  feed (&m, METRICS_LOG_BUDGET,
        "{\"time\":\"t\",\"event\":\"budget_exceeded\",\"budget\":\"wall_clock_seconds\",\"action\":\"kill\"}");
  feed (&m, METRICS_LOG_BUDGET,
        "{\"time\":\"t\",\"event\":\"budget_exceeded\",\"budget\":\"not-a-budget\",\"action\":\"kill\"}");
  feed (&m, METRICS_LOG_BUDGET,
        "{\"time\":\"t\",\"event\":\"resumed\",\"budget\":\"cpu_seconds\",\"reason\":\"ok\",\"grant\":2,"
        "\"action\":\"freeze\"}");
  feed (&m, METRICS_LOG_BUDGET, "{\"time\":\"t\",\"event\":\"audit-error\",\"error\":\"open: EACCES\"}");
  feed (&m, METRICS_LOG_BUDGET, "{\"time\":\"t\",\"event\":\"meter_failed\",\"reason\":\"exit 1\"}");
  feed (&m, METRICS_LOG_BUDGET, "{\"time\":\"t\",\"event\":\"usage\",\"container\":\"" CID "\"}");
  /* The audit log: by event; a hook's error is a helper failure. */
  feed (&m, METRICS_LOG_AUDIT, "{\"seq\":1,\"event\":\"create\",\"mac\":\"00\"}");
  feed (&m, METRICS_LOG_AUDIT, "{\"seq\":2,\"event\":\"create\",\"mac\":\"00\"}");
  feed (&m, METRICS_LOG_AUDIT,
        "{\"seq\":3,\"event\":\"hook-error\",\"fields\":{\"stage\":\"create-runtime\",\"error\":\"x\"}}");
  /* Garbage is counted as such, never as a record. */
  feed (&m, METRICS_LOG_EGRESS, "not json at all");
  feed (&m, METRICS_LOG_EGRESS, "[\"event\",\"egress-deny\"]");
  feed (&m, METRICS_LOG_DNS, "{\"decision\":\"deny\"}");
  metrics_count_unparsed (&m, METRICS_LOG_AUDIT);
  metrics_add_container (&m, "default", "runc");
  metrics_add_container (&m, "default", "runc");
  metrics_add_container (&m, "sandboxed", "gvisor");
  m.frozen = 1;
  m.asks_pending = 2;
  m.log_bytes[METRICS_LOG_EGRESS] = 1234;
  m.source_up[METRICS_SRC_STATE] = true;
  m.audit_valid = true;
  m.audit_verify_time = 1700000000.5;
  m.audit_verify_seconds = 0.25;

  text = metrics_format (&m);
  is_int (value_of (text, "corral_egress_denied_total{reason=\"address\"}"), 42,
          "denied packets: one record plus 41 summarised; a negative count adds nothing");
  is_int (value_of (text, "corral_egress_denied_total{reason=\"dns_name\"}"), 1, "a name outside the allowlist");
  is_int (value_of (text, "corral_egress_denied_total{reason=\"dns_cname\"}"), 1, "a CNAME target outside it");
  is_int (value_of (text, "corral_egress_denied_total{reason=\"dns_human\"}"), 1, "a human's no");
  is_int (value_of (text, "corral_egress_denied_total{reason=\"dns_ask_limit\"}"), 0, "a reason not seen is 0");
  is_int (value_of (text, "corral_dns_decisions_total{decision=\"deny\"}"), 3, "three denials");
  is_int (value_of (text, "corral_dns_decisions_total{decision=\"allow\"}"), 1, "one allowed name");
  is_int (value_of (text, "corral_dns_decisions_total{decision=\"ask\"}"), 1, "one ask");
  is_int (value_of (text, "corral_dns_decisions_total{decision=\"error\"}"), 1, "one error");
  is_int (value_of (text, "corral_dns_decisions_total{decision=\"other\"}"), 1,
          "a decision this build does not know is other, not a label of its own");
  ok (strstr (text, "sudo") == NULL && strstr (text, "EPERM") == NULL && strstr (text, "example") == NULL,
      "no free text of a record (names, reasons, errors) becomes a label");
  ok (strstr (text, CID) == NULL, "no container id in any label");
  is_int (value_of (text, "corral_dns_decisions_unlogged_total"), 7, "decisions over the rate limit");
  is_int (value_of (text, "corral_budget_trips_total{budget=\"cpu_seconds\",action=\"freeze\"}"), 1, "a CPU freeze");
  is_int (value_of (text, "corral_budget_trips_total{budget=\"wall_clock_seconds\",action=\"kill\"}"), 1,
          "a wall-clock kill");
  is_int (value_of (text, "corral_budget_trips_total{budget=\"other\",action=\"kill\"}"), 1,
          "an unknown budget name is other");
  is_int (value_of (text, "corral_budget_trips_total{budget=\"tokens\",action=\"freeze\"}"), 0,
          "every known budget and action has a series from the start");
  is_int (value_of (text, "corral_budget_resumes_total{budget=\"cpu_seconds\"}"), 1, "one resume");
  is_int (value_of (text, "corral_helper_failures_total{helper=\"hook\",kind=\"error\"}"), 1, "a hook error");
  is_int (value_of (text, "corral_helper_failures_total{helper=\"watchdog\",kind=\"audit_error\"}"), 1,
          "a watchdog audit error");
  is_int (value_of (text, "corral_helper_failures_total{helper=\"watchdog\",kind=\"meter_failed\"}"), 1,
          "a failed meter");
  is_int (value_of (text, "corral_audit_records_total{event=\"create\"}"), 2, "audit records by event");
  is_int (value_of (text, "corral_log_lines_unparsed_total{log=\"egress\"}"), 2, "garbage in egress.log counted");
  is_int (value_of (text, "corral_log_lines_unparsed_total{log=\"dns\"}"), 1, "a record without event");
  is_int (value_of (text, "corral_log_lines_unparsed_total{log=\"audit\"}"), 1, "a skipped long line");
  is_int (value_of (text, "corral_containers{profile=\"default\",runtime=\"runc\"}"), 2, "containers by profile");
  is_int (value_of (text, "corral_containers{profile=\"sandboxed\",runtime=\"gvisor\"}"), 1, "and runtime");
  is_int (value_of (text, "corral_containers_frozen"), 1, "frozen gauge");
  is_int (value_of (text, "corral_dns_asks_pending"), 2, "pending asks gauge");
  is_int (value_of (text, "corral_log_size_bytes{log=\"egress\"}"), 1234, "a log's size");
  ok (strstr (text, "corral_log_size_bytes{log=\"dns\"}") == NULL, "an absent log has no size");
  is_int (value_of (text, "corral_audit_chain_valid"), 1, "chain valid");
  like (text, "\ncorral_audit_verify_timestamp_seconds 1700000000.500000\n", "verify time in epoch seconds");
  is_int (value_of (text, "corral_metrics_source_up{source=\"state\"}"), 1, "a source read");
  is_int (value_of (text, "corral_metrics_source_up{source=\"audit_log\"}"), 0, "a source not read");
  like (text, "corral_build_info{version=\"1.2.3\"} 1\n", "build info");
  like (text, "# TYPE corral_egress_denied_total counter\n", "counters are typed counter");
  like (text, "# TYPE corral_containers gauge\n", "gauges are typed gauge");
  ok (strstr (text, "corral_containers{profile=\"default\"") < strstr (text, "corral_containers{profile=\"sandboxed\""),
      "samples sorted by label");
  {
    char *vals[8];
    size_t n = 0;
    ok (parse_exposition (text, "reason", vals, 8, &n) && n == METRICS_DENY_N,
        "the whole exposition parses, one sample per line");
    for (size_t i = 0; i < n; i++)
      free (vals[i]);
  }
}

/* Tenant-chosen strings as profile and runtime labels (a state record
 * holds whatever create wrote): each comes back whole from a parser, and
 * none adds a sample. */
static void
test_hostile_labels (void)
{
  static const char *const hostile[] = {
    "quo\"te", "back\\slash", "new\nline", "} 1\ncorral_containers_frozen 999\n#", "\\\"\\n", "\xff\xfe", "ok",
  };
  static const char *const expect[] = {
    "quo\"te",   "back\\slash",
    "new\nline", "} 1\ncorral_containers_frozen 999\n#",
    "\\\"\\n",   "\xef\xbf\xbd\xef\xbf\xbd",
    "ok",
  };
  const size_t n = sizeof (hostile) / sizeof (hostile[0]);
  cleanup_metrics metrics_t m;
  cleanup_free char *text = NULL;
  char *vals[16];
  size_t got = 0;
  bool all = true;

  metrics_init (&m, "v\"1\n");
  for (size_t i = 0; i < n; i++)
    metrics_add_container (&m, hostile[i], "runc");
  text = metrics_format (&m);
  ok (parse_exposition (text, "profile", vals, 16, &got), "the exposition with hostile labels parses");
  is_int ((long long) got, (long long) n, "one sample per hostile profile, none injected");
  is_int (value_of (text, "corral_containers_frozen"), 0, "the injected frozen sample is not there");
  for (size_t i = 0; i < got; i++)
    {
      bool found = false;
      for (size_t j = 0; j < n; j++)
        found = found || str_eq (vals[i], expect[j]);
      all = all && found;
      free (vals[i]);
    }
  ok (all, "every hostile value reads back as written (non-UTF-8 as U+FFFD)");
  like (text, "corral_build_info{version=\"v\\\"1\\n\"} 1\n", "the version label is escaped too");
}

static void
test_caps (void)
{
  cleanup_metrics metrics_t m;
  cleanup_free char *text = NULL;
  size_t samples = 0;

  metrics_init (&m, "x");
  for (int i = 0; i < 200; i++)
    {
      char name[32];
      snprintf (name, sizeof (name), "profile-%03d", i);
      metrics_add_container (&m, name, "runc");
      snprintf (name, sizeof (name), "event-%03d", i);
      feed (&m, METRICS_LOG_AUDIT, "{\"event\":\"create\"}");
      {
        char line[64];
        snprintf (line, sizeof (line), "{\"event\":\"%s\"}", name);
        feed (&m, METRICS_LOG_AUDIT, line);
      }
    }
  text = metrics_format (&m);
  for (const char *p = text; (p = strstr (p, "\ncorral_containers{")) != NULL; p++)
    samples++;
  is_int ((long long) samples, METRICS_MAX_GROUPS + 1, "200 profiles: capped, plus one series for the rest");
  is_int (value_of (text, "corral_containers{profile=\"other\",runtime=\"other\"}"), 200 - METRICS_MAX_GROUPS,
          "the rest are counted under other");
  samples = 0;
  for (const char *p = text; (p = strstr (p, "\ncorral_audit_records_total{")) != NULL; p++)
    samples++;
  is_int ((long long) samples, METRICS_MAX_EVENTS + 1, "audit event names capped the same way");
  is_int (value_of (text, "corral_audit_records_total{event=\"create\"}"), 200, "a known event keeps its series");
}

int
main (void)
{
  test_escape ();
  test_counting ();
  test_hostile_labels ();
  test_caps ();
  return done_testing ();
}
