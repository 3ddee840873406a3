/* corral: unit tests of budgets: the policy's "budgets" section and its
 * annotations, the watchdog's plan, the JSON event, ledger arithmetic and
 * the parsing of cgroup files captured on this kind of machine. */
#include "config.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>

#include "hooks/watchdog.h"
#include "base/fs.h"
#include "services/ledger.h"
#include "base/util.h"
#include "spec/budget.h"
#include "spec/policy.h"
#include "tests/unit/testlib.h"

#define CID "6d5439fdfe2d37529bea3768a7c4532abe3e37f5cb0c47f82a172a1cb16e2e33"

/* The shipped policy with a budgets object spliced into a profile. */
static corral_policy_t *
policy_with_budgets (const char *profile, const char *budgets, corral_error_t *err)
{
  cleanup_free char *text = read_fixture ("../../configs/policy.json", NULL);
  cleanup_free char *needle = NULL;
  cleanup_free char *out = NULL;
  char *at;

  xasprintf (&needle, "\"%s\": {", profile);
  at = strstr (text, needle);
  if (at == NULL)
    bail_out ("no profile %s", profile);
  at += strlen (needle);
  xasprintf (&out, "%.*s \"budgets\": %s, %s", (int) (at - text), text, budgets, at);
  return policy_parse (out, strlen (out), "test-policy.json", err);
}

static void
test_policy (void)
{
  cleanup_error corral_error_t err = NULL;
  corral_policy_t *p;
  const corral_profile_t *d, *off;

  p = policy_with_budgets ("default",
                           "{\"wall_clock_seconds\": 3, \"cpu_seconds\": 2, \"egress_bytes\": \"1m\", "
                           "\"connections_per_minute\": 50, \"action\": \"freeze\", \"alert\": [\"/bin/true\", "
                           "\"x\"], \"daily\": {\"cpu_seconds\": 60, \"egress_bytes\": 1000}}",
                           &err);
  ok (p != NULL, "a full budgets section parses%s%s", err ? ": " : "", err ? err->msg : "");
  if (p == NULL)
    return;
  d = policy_find_profile (p, "default");
  is_int (d->budgets.limit[BUDGET_WALL_CLOCK], 3, "wall clock seconds");
  is_int (d->budgets.limit[BUDGET_CPU], 2, "CPU seconds");
  is_int (d->budgets.limit[BUDGET_EGRESS], 1024 * 1024, "egress bytes with a suffix");
  is_int (d->budgets.limit[BUDGET_CONNECTIONS], 50, "connections per minute");
  is_int (d->budgets.interval_ms, 1000, "interval defaults to 1000 ms");
  is_int (d->budgets.grace_seconds, 5, "grace defaults to 5 s");
  is_int (d->budgets.action, BUDGET_ACTION_FREEZE, "action freeze");
  is_str (d->budgets.alert ? d->budgets.alert[0] : NULL, "/bin/true", "alert argv[0]");
  is_int ((long long) strv_len (d->budgets.alert), 2, "alert argv kept whole");
  is_int (d->budgets.daily[BUDGET_CPU], 60, "daily CPU seconds");
  is_int (d->budgets.daily[BUDGET_EGRESS], 1000, "daily egress bytes");
  is_int (d->budgets.daily[BUDGET_WALL_CLOCK], 0, "daily wall clock unset");
  off = policy_find_profile (p, "offline");
  is_int (off->budgets.limit[BUDGET_CPU], 2, "offline inherits the budgets");
  is_str (off->budgets.alert ? off->budgets.alert[1] : NULL, "x", "offline inherits the alert command");
  ok (budget_any (&d->budgets), "budget_any with budgets");
  policy_free (p);

  p = policy_with_budgets ("default", "{}", &err);
  ok (p && !budget_any (&policy_find_profile (p, "default")->budgets), "an empty budgets section asks for nothing");
  policy_free (p);

  static const struct
  {
    const char *budgets, *error;
  } bad[] = {
    { "{\"wall_clock\": 3}", "profiles.default.budgets: unknown key \"wall_clock\"" },
    { "{\"cpu_seconds\": -1}", "profiles.default.budgets.cpu_seconds: -1 is out of range" },
    { "{\"cpu_seconds\": \"2\"}", "profiles.default.budgets.cpu_seconds: expected an integer, found string" },
    { "{\"egress_bytes\": \"1x\"}", "profiles.default.budgets.egress_bytes: invalid size \"1x\"" },
    { "{\"action\": \"pause\"}", "profiles.default.budgets.action: expected \"kill\" or \"freeze\"" },
    { "{\"alert\": [\"notify\"]}", "profiles.default.budgets.alert[0]: \"notify\" is not an absolute path" },
    { "{\"alert\": \"/bin/true\"}", "profiles.default.budgets.alert: expected an array" },
    { "{\"alert\": [\"/bin/x\", 3]}", "profiles.default.budgets.alert[1]: expected a string" },
    { "{\"interval_ms\": 10}", "profiles.default.budgets.interval_ms: 10 is below 100" },
    { "{\"daily\": {\"connections_per_minute\": 5}}",
      "profiles.default.budgets.daily: unknown key \"connections_per_minute\"" },
    { "[]", "profiles.default.budgets: expected an object" },
  };
  for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++)
    {
      corral_error_release (&err);
      p = policy_with_budgets ("default", bad[i].budgets, &err);
      ok (p == NULL, "refused: %s", bad[i].budgets);
      like (err ? err->msg : "", bad[i].error, "error names the JSON path: %s", bad[i].budgets);
      policy_free (p);
    }
}

static corral_profile_t *
tightened (const corral_profile_t *base, const char *key, const char *value, corral_error_t *err)
{
  cleanup_json json_t *ann = json_new_object ();
  json_set (ann, key, json_new_string (value));
  return profile_with_annotations (base, ann, err);
}

static void
test_annotations (void)
{
  cleanup_error corral_error_t err = NULL;
  corral_policy_t *p = policy_with_budgets ("default", "{\"cpu_seconds\": 10}", &err);
  const corral_profile_t *d;
  corral_profile_t *t;

  if (p == NULL)
    bail_out ("policy: %s", err->msg);
  d = policy_find_profile (p, "default");
  t = tightened (d, "run.corral.budget.cpu_seconds", "4", &err);
  ok (t && t->budgets.limit[BUDGET_CPU] == 4, "an annotation lowers the CPU budget");
  profile_free (t);
  t = tightened (d, "run.corral.budget.wall_clock_seconds", "30", &err);
  ok (t && t->budgets.limit[BUDGET_WALL_CLOCK] == 30, "an annotation sets a budget the profile lacks");
  profile_free (t);
  t = tightened (d, "run.corral.budget.egress_bytes", "2m", &err);
  ok (t && t->budgets.limit[BUDGET_EGRESS] == 2 * 1024 * 1024, "egress annotation takes a suffix");
  profile_free (t);

  t = tightened (d, "run.corral.budget.cpu_seconds", "11", &err);
  ok (t == NULL, "raising a budget is refused");
  like (err ? err->msg : "", "would loosen the profile's budget of 10", "loosening named");
  corral_error_release (&err);
  t = tightened (d, "run.corral.budget.cpu_seconds", "0", &err);
  ok (t == NULL, "a zero budget (= none) is refused");
  corral_error_release (&err);
  t = tightened (d, "run.corral.budget.cpu_seconds", "2k", &err);
  ok (t == NULL, "a suffix on seconds is refused");
  corral_error_release (&err);
  t = tightened (d, "run.corral.budget.daily.cpu_seconds", "1", &err);
  ok (t == NULL, "daily totals are not a container's to set");
  like (err ? err->msg : "", "not known to corral", "unknown budget annotation named");
  corral_error_release (&err);
  ok (budget_annotation_known ("run.corral.budget.connections_per_minute"), "connection annotation known");
  ok (!budget_annotation_known ("run.corral.budget.action"), "action annotation unknown");
  policy_free (p);
}

/* A budget event as the budget log has it: one line of JSON. */
static char *
event_line (const budget_event_t *ev)
{
  cleanup_json json_t *r = budget_event_record (ev);
  return json_serialize (r, false);
}

static void
test_plan_and_event (void)
{
  cleanup_error corral_error_t err = NULL;
  corral_budgets_t b, back;
  cleanup_json json_t *plan = NULL;
  cleanup_json json_t *ev = NULL;
  cleanup_free char *id = NULL, *agent = NULL, *line = NULL, *resumed = NULL;
  char *alert[] = { (char *) "/bin/alert", (char *) "--to", (char *) "ops", NULL };
  cleanup_json json_t *ann = json_new_object ();
  budget_event_t e = {
    .event = "budget_exceeded",
    .id = "c1",
    .agent = "agent \"q\"",
    .kind = BUDGET_CPU,
    .limit = 2000,
    .usage = 2864,
    .action = "freeze",
    .time_ms = 1700000000123LL,
  };

  budget_defaults (&b);
  b.limit[BUDGET_CPU] = 2;
  b.daily[BUDGET_EGRESS] = 500;
  b.action = BUDGET_ACTION_FREEZE;
  b.alert = alert;
  plan = budget_plan_new (&b, "c1", "a1");
  ok (budget_plan_parse (plan, &back, &id, &agent, &err) == 0, "plan round trip");
  is_int (back.limit[BUDGET_CPU], 2, "plan keeps the CPU budget");
  is_int (back.daily[BUDGET_EGRESS], 500, "plan keeps the daily egress");
  is_int (back.action, BUDGET_ACTION_FREEZE, "plan keeps the action");
  is_str (back.alert ? back.alert[2] : NULL, "ops", "plan keeps the alert argv");
  is_str (id, "c1", "plan keeps the id");
  is_str (agent, "a1", "plan keeps the agent");
  budget_clear (&back);

  line = event_line (&e);
  ev = json_parse (line, strlen (line), &err);
  ok (ev != NULL, "the event is valid JSON: %s", line);
  is_str (json_get_string (ev, "event"), "budget_exceeded", "event type");
  is_str (json_get_string (ev, "container"), "c1", "container id");
  is_str (json_get_string (ev, "agent"), "agent \"q\"", "agent quoted and round-tripped");
  is_str (json_get_string (ev, "budget"), "cpu_seconds", "budget name");
  is_str (json_get_string (ev, "action"), "freeze", "action");
  is_str (json_get_string (ev, "time"), "2023-11-14T22:13:20.123Z", "time in UTC with ms");
  like (line, "\"limit\":2.000,\"usage\":2.864", "seconds with milliseconds");
  ok (strchr (line, '\n') == NULL, "one line");
  e.kind = BUDGET_EGRESS;
  e.limit = 262144;
  e.usage = 262200;
  e.daily = true;
  free (line);
  line = event_line (&e);
  like (line, "\"scope\":\"daily\",\"limit\":262144,\"usage\":262200", "bytes as integers, daily scope");
  e.event = "resumed";
  e.reason = "ok by \"ops\"";
  e.grant = 2;
  resumed = event_line (&e);
  like (resumed, "\"reason\":\"ok by \\\"ops\\\"\",\"grant\":2", "resume carries the quoted reason and grant");

  is_str (budget_agent (ann), "unnamed", "no agent annotation: unnamed");
  json_set (ann, "io.kubernetes.cri.image-name", json_new_string ("registry.test/agent:1"));
  is_str (budget_agent (ann), "registry.test/agent:1", "CRI image name as agent");
  json_set (ann, "run.corral.agent", json_new_string ("coder"));
  is_str (budget_agent (ann), "coder", "run.corral.agent wins");
}

static void
test_ledger (void)
{
  cleanup_json json_t *l = json_new_object ();
  int64_t add[BUDGET_N_DAILY] = { 5000, 1500, 100 };
  int64_t got[BUDGET_N_DAILY];
  int64_t daily[BUDGET_N_DAILY] = { 0, 3, 0 };
  char day[16];

  ledger_day (1700000000123LL, day);
  is_str (day, "2023-11-14", "UTC day");
  ledger_get (l, "a", "2023-11-14", got);
  ok (got[0] == 0 && got[1] == 0 && got[2] == 0, "empty ledger: zero");
  ledger_add (l, "a", "2023-11-14", add);
  ledger_add (l, "a", "2023-11-14", add);
  ledger_get (l, "a", "2023-11-14", got);
  ok (got[0] == 10000 && got[1] == 3000 && got[2] == 200, "two containers add up");
  is_int (json_int64 (json_get (json_get (json_get (l, "agents"), "a"), "containers"), &got[0]) ? got[0] : -1, 2,
          "containers counted");
  ledger_get (l, "a", "2023-11-14", got);
  is_int (ledger_over (got, daily), BUDGET_CPU, "3000 ms of a 3 s daily CPU budget: over");
  got[1] = 2999;
  is_int (ledger_over (got, daily), -1, "2999 ms: not over");
  ledger_get (l, "b", "2023-11-14", got);
  is_int (got[1], 0, "agents are separate");
  ledger_get (l, "a", "2023-11-15", got);
  is_int (got[1], 0, "a new day starts at zero");
  ledger_add (l, "b", "2023-11-15", add);
  ok (json_get (json_get (l, "agents"), "a") == NULL, "yesterday's entries dropped on the next update");
  ledger_reset (l, "b", "2023-11-15", "reviewed", 1700050000000LL);
  ledger_get (l, "b", "2023-11-15", got);
  ok (got[0] == 0 && got[1] == 0 && got[2] == 0, "reset zeroes the day");
  is_str (json_get_string (json_at (json_get (json_get (json_get (l, "agents"), "b"), "resets"), 0), "reason"),
          "reviewed", "reset keeps its reason");
  int64_t huge[BUDGET_N_DAILY] = { INT64_MAX, 0, 0 };
  ledger_add (l, "b", "2023-11-15", huge);
  ledger_add (l, "b", "2023-11-15", huge);
  ledger_get (l, "b", "2023-11-15", got);
  is_int (got[0], INT64_MAX, "totals saturate instead of overflowing");
}

static void
test_cgroup (void)
{
  cleanup_free char *cg = read_fixture ("cgroup/podman-v1-hybrid.cgroup", NULL);
  cleanup_free char *mi = read_fixture ("cgroup/host-v1-hybrid.mountinfo", NULL);
  cleanup_free char *usage = read_fixture ("cgroup/cpuacct.usage", NULL);
  cleanup_free char *stat = read_fixture ("cgroup/unified.cpu.stat", NULL);
  cleanup_free char *path = NULL, *mount = NULL, *v2 = NULL, *v2mount = NULL, *cc = NULL, *ccm = NULL;
  uint64_t v = 0;
  const char *combined = "12:cpu,cpuacct:/machine/x\n11:memory:/machine/x\n0::/\n";
  const char *combined_mi = "30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct\n";
  const char *nested_mi = "30 25 0:27 /sub /mnt/cg rw - cgroup cgroup rw,cpuacct\n";

  ok (watchdog_cgroup_path (cg, "cpuacct", &path) == 0, "cpuacct line found");
  is_str (path, "/libpod_parent/libpod-" CID, "Podman's cgroupfs path");
  ok (watchdog_cgroup_mount (mi, "cpuacct", &mount) == 0, "cpuacct mount found");
  is_str (mount, "/sys/fs/cgroup/cpuacct", "cpuacct alone on this machine (cpu is its own)");
  ok (watchdog_cgroup_path (cg, NULL, &v2) == 0, "v2 line found");
  is_str (v2, "/libpod_parent/libpod-" CID, "v2 path");
  ok (watchdog_cgroup_mount (mi, NULL, &v2mount) == 0, "cgroup2 mount found");
  is_str (v2mount, "/sys/fs/cgroup/unified", "hybrid: cgroup2 under unified");
  ok (watchdog_cgroup_path (combined, "cpuacct", &cc) == 0 && str_eq (cc, "/machine/x"), "combined cpu,cpuacct");
  ok (watchdog_cgroup_mount (combined_mi, "cpuacct", &ccm) == 0 && str_eq (ccm, "/sys/fs/cgroup/cpu,cpuacct"),
      "combined mount");
  {
    char *none = NULL;
    ok (watchdog_cgroup_mount (nested_mi, "cpuacct", &none) < 0, "a bind of a sub-hierarchy is not used");
    ok (watchdog_cgroup_path ("2:cpu:/a\n", "cpuacct", &none) < 0, "no cpuacct line: not found");
    ok (watchdog_cgroup_path ("garbage", "cpuacct", &none) < 0, "garbage: not found");
    free (none);
  }
  ok (watchdog_parse_u64 (usage, &v) == 0 && v == 34901063ULL, "cpuacct.usage in ns: %llu", (unsigned long long) v);
  ok (watchdog_parse_cpu_stat (stat, &v) == 0 && v == 34327ULL, "cpu.stat usage_usec: %llu", (unsigned long long) v);
  ok (watchdog_parse_u64 ("-1\n", &v) < 0, "negative refused");
  ok (watchdog_parse_u64 ("12ab", &v) < 0, "trailing garbage refused");
  ok (watchdog_parse_cpu_stat ("user_usec 1\n", &v) < 0, "cpu.stat without usage_usec refused");
}

/* Money is exact: micro-dollars from decimal text, no floating point. */
static void
test_money_and_meters (void)
{
  static const struct
  {
    const char *in;
    int64_t micro; /* -1: refused */
  } usd[] = { { "0", 0 },
              { "12", 12000000 },
              { "2.37", 2370000 },
              { "0.000001", 1 },
              { "0.1", 100000 },
              { "2.", -1 },
              { ".5", -1 },
              { "1.0000001", -1 },
              { "-1", -1 },
              { "1e3", -1 },
              { "", -1 },
              { "9999999999", -1 },
              { "1000000000", 1000000000000000LL } };
  int64_t v;

  for (size_t i = 0; i < sizeof (usd) / sizeof (usd[0]); i++)
    {
      int r = budget_parse_usd (usd[i].in, &v);
      if (usd[i].micro < 0)
        ok (r < 0, "\"%s\" is not an amount of dollars", usd[i].in);
      else
        ok (r == 0 && v == usd[i].micro, "\"%s\" dollars = %" PRId64 " micro-USD", usd[i].in, usd[i].micro);
    }
  {
    cleanup_error corral_error_t err = NULL;
    int64_t u[BUDGET_N] = { 0 };
    const char *out = "{\"api_calls\": 41, \"spend_usd\": 2.37, \"tokens\": 120000, \"model\": \"x\"}";

    ok (budget_parse_meter_output (out, strlen (out), u, &err) == 0 && u[BUDGET_API_CALLS] == 41
            && u[BUDGET_SPEND] == 2370000 && u[BUDGET_TOKENS] == 120000,
        "a meter's output gives calls, exact spend and tokens (other keys ignored)");
  }
  {
    static const char *const garbage[] = { "",
                                           "not json",
                                           "[1,2]",
                                           "{\"api_calls\": -1}",
                                           "{\"spend_usd\": \"2\"}",
                                           "{\"tokens\": 1.5}",
                                           "{\"spend_usd\": 1e9}",
                                           "{\"api_calls\": 1" };
    for (size_t i = 0; i < sizeof (garbage) / sizeof (garbage[0]); i++)
      {
        cleanup_error corral_error_t err = NULL;
        int64_t u[BUDGET_N] = { 0 };
        ok (budget_parse_meter_output (garbage[i], strlen (garbage[i]), u, &err) < 0 && err != NULL
                && strstr (err->msg, "meter output") != NULL,
            "meter output `%s` is refused with a message", garbage[i]);
      }
  }
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_policy corral_policy_t *p = policy_with_budgets (
        "default",
        "{\"spend_usd\": 2.5, \"api_calls\": 100, \"meter\": [\"/usr/local/bin/meter\", \"--json\"], "
        "\"meter_interval_seconds\": 30, \"meter_failures\": 3, \"daily\": {\"spend_usd\": \"20\", \"tokens\": 5000}}",
        &err);
    const corral_profile_t *d = p ? policy_find_profile (p, "default") : NULL;

    if (!ok (d != NULL, "a profile with meter budgets parses%s%s", err ? ": " : "", err ? err->msg : ""))
      return;
    ok (d->budgets.limit[BUDGET_SPEND] == 2500000 && d->budgets.limit[BUDGET_API_CALLS] == 100
            && d->budgets.limit[BUDGET_METER_FAILURES] == 3,
        "per-run spend (micro-USD), calls and meter failures");
    ok (d->budgets.daily[BUDGET_SPEND] == 20000000 && d->budgets.daily[BUDGET_TOKENS] == 5000,
        "daily spend from a string, daily tokens");
    ok (strv_len (d->budgets.meter) == 2 && d->budgets.meter_interval_ms == 30000, "the meter argv and interval");
  }
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_policy corral_policy_t *p = policy_with_budgets ("default", "{\"meter\": [\"meter\"]}", &err);
    ok (p == NULL && err && strstr (err->msg, "absolute path"), "a relative meter command is refused");
  }
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_policy corral_policy_t *p = policy_with_budgets ("default", "{\"spend_usd\": 2.3333333}", &err);
    ok (p == NULL && err && strstr (err->msg, "spend_usd"), "spend with more than 6 decimals is refused");
  }
}

/* Anomaly history: names per agent, a connection-rate baseline. */
static void
test_anomaly_history (void)
{
  cleanup_json json_t *l = json_new_object ();
  cleanup_error corral_error_t err = NULL;
  cleanup_policy corral_policy_t *p = NULL;
  const corral_profile_t *d;

  ok (ledger_note_domain (l, "a", "api.example.test"), "a first name is new");
  ok (!ledger_note_domain (l, "a", "api.example.test"), "the same name is not new again");
  ok (ledger_note_domain (l, "b", "api.example.test"), "names are per agent");
  is_int ((int) ledger_connection_baseline (l, "a"), 0, "no baseline without history");
  ledger_note_connection_rate (l, "a", 10000);
  is_int ((int) ledger_connection_baseline (l, "a"), 10000, "the first run sets the baseline");
  ledger_note_connection_rate (l, "a", 60000);
  is_int ((int) ledger_connection_baseline (l, "a"), 20000, "later runs move it by a fifth");
  {
    int64_t add[BUDGET_N_DAILY] = { 1000 };
    ledger_add (l, "a", "2023-11-14", add);
    ok (!ledger_note_domain (l, "a", "api.example.test"), "history outlives the daily totals");
  }
  p = policy_with_budgets ("default", "{\"anomaly\": {\"new_domains\": true, \"connection_rate_factor\": 5}}", &err);
  d = p ? policy_find_profile (p, "default") : NULL;
  ok (d && d->budgets.anomaly_new_domains && d->budgets.anomaly_rate_factor == 5 && budget_any (&d->budgets),
      "anomaly settings parse and start a watchdog");
  {
    cleanup_error corral_error_t e2 = NULL;
    cleanup_policy corral_policy_t *q
        = policy_with_budgets ("default", "{\"anomaly\": {\"connection_rate_factor\": 1}}", &e2);
    ok (q == NULL && e2 && strstr (e2->msg, "at least 2"), "a factor below 2 is refused");
  }
}

/* The connection breaker's alert reports the last minute's connections. */
static void
test_minute_window (void)
{
  budget_minute_t m;
  const int64_t t0 = 1000000;

  budget_minute_init (&m);
  budget_minute_push (&m, t0, 0);
  budget_minute_push (&m, t0 + 2000, 31);
  is_int ((long long) budget_minute_increase (&m, t0 + 2000, t0, 31), 31,
          "a counter younger than a minute counts from zero");
  /* 10 a second for 90 s: the last minute holds about 600. */
  budget_minute_init (&m);
  for (int s = 0; s <= 90; s++)
    budget_minute_push (&m, t0 + s * 1000, (uint64_t) s * 10);
  is_int ((long long) budget_minute_increase (&m, t0 + 90 * 1000, t0, 900), 600,
          "after 90 s at 10/s, the last minute holds 600");
  /* Sampled rarely (every 7 s), still bounded by the window. */
  budget_minute_init (&m);
  for (int s = 0; s <= 140; s += 7)
    budget_minute_push (&m, t0 + s * 1000, (uint64_t) s);
  is_int ((long long) budget_minute_increase (&m, t0 + 140 * 1000, t0, 140), 63,
          "sparse samples: the increase since the newest one a minute old or more (77 s)");
  /* Sampled once a minute (interval_ms 60000): the previous sample is kept. */
  budget_minute_init (&m);
  for (int s = 0; s <= 180; s += 60)
    budget_minute_push (&m, t0 + s * 1000, (uint64_t) s * 2);
  is_int ((long long) budget_minute_increase (&m, t0 + 180 * 1000, t0, 360), 120,
          "a sample a minute apart: the window still has its start");
  /* Several samples in one second keep the first. */
  budget_minute_init (&m);
  budget_minute_push (&m, t0 + 100, 5);
  budget_minute_push (&m, t0 + 900, 9);
  is_int ((long long) budget_minute_increase (&m, t0 + 30000, t0 - 60000, 20), 15,
          "the first value seen in a second is that second's sample");
}

/* A neighbour that rebuilds the table resets the kernel's counters: the
 * watchdog's view of them only grows, and a lost object's trip names why. */
static void
test_counter_and_cause (void)
{
  budget_counter_t c = { 0 };
  budget_event_t ev = { .event = "budget_exceeded",
                        .id = "c1",
                        .agent = "a",
                        .kind = BUDGET_EGRESS,
                        .limit = 1000,
                        .usage = 10,
                        .action = "kill",
                        .cause = "objects vanished",
                        .time_ms = 0 };
  char *json;

  is_int ((long long) budget_counter_update (&c, 100), 100, "first reading");
  is_int ((long long) budget_counter_update (&c, 250), 250, "grows with the kernel's counter");
  is_int ((long long) budget_counter_update (&c, 0), 250, "a reset to zero keeps what was counted");
  is_int ((long long) budget_counter_update (&c, 40), 290, "and counting goes on from there");
  is_int ((long long) budget_counter_update (&c, 5), 295, "a second reset too");
  json = event_line (&ev);
  ok (strstr (json, "\"cause\":\"objects vanished\"") != NULL, "a trip's cause is in the event: %s", json);
  ok (strstr (json, "\"limit\":1000,\"usage\":10") != NULL, "with its limit and usage");
  free (json);
  ev.cause = NULL;
  json = event_line (&ev);
  ok (strstr (json, "cause") == NULL, "no cause for a plain trip: %s", json);
  free (json);
}

/* Whose day: the operator's tenant, narrowed by the container's agent
 * name; a fresh name inside a tenant gets no fresh day. */
static void
test_tenant (void)
{
  static const char annotations[] = "{\"run.corral.agent\":\"coder\",\"ns\":\"team-a\",\"bad\":\"a/b\"}";
  cleanup_json json_t *ann = json_parse (annotations, strlen (annotations), NULL);
  cleanup_json json_t *l = json_new_object ();
  int64_t add[BUDGET_N_DAILY] = { 0, 2000, 0 };
  int64_t got[BUDGET_N_DAILY];
  const char *day = "2023-11-14";

  {
    cleanup_error corral_error_t err = NULL;
    cleanup_free char *id = NULL;
    int r = budget_identity (NULL, NULL, ann, &id, &err);
    ok (r == 0 && str_eq (id, "coder"), "no tenant: the agent annotation");
  }
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_free char *id = NULL;
    int r = budget_identity ("ops", "ns", ann, &id, &err);
    ok (r == 0 && str_eq (id, "ops/coder"), "the flag's tenant, narrowed by the annotation: %s", id ? id : "(none)");
  }
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_free char *id = NULL;
    int r = budget_identity (NULL, "ns", ann, &id, &err);
    ok (r == 0 && str_eq (id, "team-a/coder"), "the engine's annotation names the tenant: %s", id ? id : "(none)");
  }
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_free char *id = NULL;
    int r = budget_identity (NULL, "missing", ann, &id, &err);
    ok (r < 0 && err && strstr (err->msg, "missing"), "a tenant annotation the container lacks: refused (%s)",
        err ? err->msg : "accepted");
  }
  {
    static const char image[] = "{\"io.kubernetes.cri.image-name\":\"docker.io/library/x%y\"}";
    cleanup_json json_t *a = json_parse (image, strlen (image), NULL);
    cleanup_error corral_error_t err = NULL;
    cleanup_free char *id = NULL;
    int r = budget_identity (NULL, NULL, a, &id, &err);
    ok (r == 0 && str_eq (id, "docker.io%2Flibrary%2Fx%25y"),
        "no tenant: an image name is one key, not inside a tenant \"docker.io\": %s", id ? id : "(none)");
  }
  {
    static const char bad_agent[] = "{\"run.corral.agent\":\"has space\"}";
    cleanup_json json_t *a = json_parse (bad_agent, strlen (bad_agent), NULL);
    cleanup_error corral_error_t err = NULL;
    cleanup_free char *id = NULL;
    int r = budget_identity ("ops", NULL, a, &id, &err);
    ok (r < 0 && err && strstr (err->msg, "run.corral.agent"), "an agent name with a space is refused");
  }
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_free char *id = NULL;
    int r = budget_identity (NULL, "bad", ann, &id, &err);
    ok (r < 0, "a tenant with '/' could name another's: refused");
  }

  ledger_add (l, "team-a/coder", day, add);
  ledger_get (l, "team-a/fresh-name", day, got);
  is_int (got[BUDGET_CPU], 2000, "a fresh agent name inside the tenant sees the tenant's total");
  ledger_get (l, "team-b/coder", day, got);
  is_int (got[BUDGET_CPU], 0, "another tenant's agent of the same name does not");
  ledger_add (l, "team-a/other", day, add);
  ledger_get (l, "team-a", day, got);
  is_int (got[BUDGET_CPU], 4000, "the tenant's total is the sum of its agents");
  ledger_get (l, "team-a/coder", day, got);
  is_int (got[BUDGET_CPU], 4000, "an agent sees the larger of its own and its tenant's total");
  ledger_reset (l, "team-a", day, "reviewed", 1700000000000LL);
  ledger_get (l, "team-a/coder", day, got);
  is_int (got[BUDGET_CPU], 0, "a tenant's reset covers the agents inside it");

  {
    cleanup_error corral_error_t err = NULL;
    const char *text = "{\"tenant\":{\"annotation\":\"run.corral.agent\"},\"profiles\":{\"default\":{}}}";
    cleanup_policy corral_policy_t *p = policy_parse (text, strlen (text), "t.json", &err);
    ok (p == NULL && err && strstr (err->msg, "the engine sets"),
        "a container's own annotation cannot name the tenant: %s", err ? err->msg : "accepted");
  }
  {
    cleanup_error corral_error_t err = NULL;
    const char *text
        = "{\"tenant\":{\"annotation\":\"io.kubernetes.cri.sandbox-namespace\"},\"profiles\":{\"default\":{}}}";
    cleanup_policy corral_policy_t *p = policy_parse (text, strlen (text), "t.json", &err);
    ok (p && str_eq (p->tenant_annotation, "io.kubernetes.cri.sandbox-namespace"), "an engine's annotation can");
  }
}

/* Anomaly history cannot grow the ledger past what corral reads back:
 * the least recently used agents give way. */
static void
test_history_prune (void)
{
  cleanup_json json_t *l = json_new_object ();
  cleanup_free char *text = NULL;
  char agent[32], name[64];

  for (int a = 0; a < 200; a++)
    {
      snprintf (agent, sizeof (agent), "agent-%d", a);
      for (int d = 0; d < 50; d++)
        {
          snprintf (name, sizeof (name), "host-%d.domain-number-%d.example.test", d, a);
          (void) ledger_note_domain (l, agent, name);
        }
    }
  (void) ledger_note_domain (l, "agent-0", "touched-last.example.test");
  ledger_prune_history (l, 64 * 1024);
  text = json_serialize (l, true);
  ok (strlen (text) <= 64 * 1024, "pruned to the bound (%zu bytes)", strlen (text));
  ok (json_get (json_get (l, "history"), "agent-0") != NULL, "the most recently used agent is kept");
  ok (json_get (json_get (l, "history"), "agent-1") == NULL, "the least recently used went first");
  ok (json_len (json_get (l, "history")) > 10, "and only as many as needed (%zu kept)",
      json_len (json_get (l, "history")));
}

int
main (void)
{
  test_policy ();
  test_annotations ();
  test_plan_and_event ();
  test_ledger ();
  test_cgroup ();
  test_money_and_meters ();
  test_anomaly_history ();
  test_minute_window ();
  test_counter_and_cause ();
  test_tenant ();
  test_history_prune ();
  return done_testing ();
}
