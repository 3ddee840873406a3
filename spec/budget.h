/* corral: budgets of a profile (policy "budgets"), their tightening by
 * run.corral.budget.* annotations, the plan the watchdog reads from the
 * container's state directory, and the JSON event of a tripped budget.
 * Everything here is pure. */
#ifndef CORRAL_BUDGET_H
#define CORRAL_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "base/json.h"

enum budget_kind
{
  BUDGET_WALL_CLOCK, /* seconds since the container started */
  BUDGET_CPU,        /* CPU seconds of the container's cgroup */
  BUDGET_EGRESS,     /* bytes in and out through anything but loopback */
  /* What meters report or a gateway pushes (corral budget report). */
  BUDGET_API_CALLS,
  BUDGET_SPEND, /* micro-USD everywhere inside corral ("spend_usd" outside) */
  BUDGET_TOKENS,
  BUDGET_CONNECTIONS,    /* new outbound connections per minute (a breaker) */
  BUDGET_DNS_QUERIES,    /* DNS queries per minute, any resolver (a breaker) */
  BUDGET_METER_FAILURES, /* meter runs that failed (a breaker; unset: alerts only) */
  BUDGET_N,
};
/* The daily totals per agent cover the kinds before the breaker. */
#define BUDGET_N_DAILY BUDGET_CONNECTIONS
#define BUDGET_FIRST_METER BUDGET_API_CALLS

enum budget_action
{
  BUDGET_ACTION_KILL,   /* SIGTERM, grace, SIGKILL through the delegate */
  BUDGET_ACTION_FREEZE, /* delegate pause, until `corral resume` */
};

struct corral_budgets_s
{
  int64_t limit[BUDGET_N];       /* per run; 0 = none */
  int64_t daily[BUDGET_N_DAILY]; /* per agent and UTC day; 0 = none */
  int64_t interval_ms;           /* watchdog poll interval */
  int64_t grace_seconds;         /* between SIGTERM and SIGKILL */
  enum budget_action action;
  char **alert; /* argv of the alert command, or NULL */
  /* A meter: a command the watchdog runs every meter_interval_ms with the
   * container on stdin, printing usage (api_calls, spend_usd, tokens). */
  char **meter;
  int64_t meter_interval_ms;
  int64_t meter_timeout_ms;
  /* Anomaly alerts (alerts only): a domain the agent never reached before,
   * new connections per minute over this many times its baseline. */
  bool anomaly_new_domains;
  int64_t anomaly_rate_factor;
};
typedef struct corral_budgets_s corral_budgets_t;

#define BUDGET_ANNOTATION_PREFIX "run.corral.budget."
#define BUDGET_DEFAULT_INTERVAL_MS 1000
#define BUDGET_DEFAULT_GRACE_SECONDS 5
#define BUDGET_DEFAULT_METER_INTERVAL_MS 10000
#define BUDGET_DEFAULT_METER_TIMEOUT_MS 5000

/* Dollars ("12", "2.37", at most 6 decimals) as micro-USD; -1 if invalid. */
int budget_parse_usd (const char *s, int64_t *ret);

/* A meter's output: {"api_calls": N, "spend_usd": X, "tokens": T}, any
 * subset, each non-negative; into usage[BUDGET_API_CALLS..TOKENS]. */
int budget_parse_meter_output (const char *text, size_t len, int64_t usage[BUDGET_N], corral_error_t *err);

/* Key of an amount in internal units (ledger, reported.json):
 * "wall_clock_ms", "cpu_ms", "egress_bytes", "api_calls",
 * "spend_micro_usd", "tokens"; NULL for the breakers. */
const char *budget_internal_key (enum budget_kind k);

/* Key in policy and event: "wall_clock_seconds", "cpu_seconds", … */
const char *budget_name (enum budget_kind k);
int budget_kind_from_name (const char *name);
const char *budget_action_name (enum budget_action a);

void budget_defaults (corral_budgets_t *b);
void budget_clear (corral_budgets_t *b);
void budget_copy (corral_budgets_t *dst, const corral_budgets_t *src);
/* Does the profile ask for a watchdog at all? */
bool budget_any (const corral_budgets_t *b);

/* Parse profiles.X.budgets (path for messages) over the defaults in *b. */
int budget_parse (corral_budgets_t *b, const json_t *obj, const char *path, corral_error_t *err);

/* run.corral.budget.<kind>: known, and applied only when it tightens. */
bool budget_annotation_known (const char *key);
int budget_apply_annotation (corral_budgets_t *b, const char *key, const char *value, corral_error_t *err);

/* The agent a container counts against: run.corral.agent, else the image
 * the CRI names, else "unnamed" (all such containers share one total). */
const char *budget_agent (const json_t *annotations);

/* Who a container's daily totals belong to.  The operator names the tenant
 * (--tenant, or the engine-set annotation the policy names in
 * tenant.annotation); the container's run.corral.agent can only narrow
 * within it: "TENANT/AGENT" is charged to itself and to TENANT, so a fresh
 * agent name gets no fresh day and no other tenant's totals are reachable.
 * Without a tenant, the annotation alone (trusted: see docs). */
int budget_identity (const char *tenant_flag, const char *tenant_annotation, const json_t *annotations, char **ret,
                     corral_error_t *err);

/* The plan the poststart hook and the watchdog read (budget.json in the
 * container's state directory). */
json_t *budget_plan_new (const corral_budgets_t *b, const char *id, const char *agent);
int budget_plan_parse (const json_t *plan, corral_budgets_t *ret, char **ret_id, char **ret_agent, corral_error_t *err);

/* A limit or usage in the watchdog's units (ms for the two clocks, bytes,
 * connections over the rate) from the policy's (seconds, bytes, count). */
int64_t budget_to_internal (enum budget_kind k, int64_t policy_value);

struct budget_event_s
{
  const char *event; /* "budget_exceeded", "resumed" */
  const char *id;
  const char *agent;
  enum budget_kind kind;
  bool daily;    /* the limit came from the agent's daily total */
  int64_t limit; /* internal units */
  int64_t usage; /* internal units */
  const char *action;
  const char *reason; /* resume only, or NULL */
  const char *cause;  /* why a breaker opened other than usage, or NULL */
  int64_t grant;      /* resume only, policy units */
  int64_t time_ms;    /* Unix time */
};
typedef struct budget_event_s budget_event_t;

/* An amount in internal units as the policy writes it: seconds with
 * milliseconds for the clocks, dollars with 6 decimals, integers else. */
char *budget_format_amount (enum budget_kind k, int64_t internal);

/* The event's record in the budget log: time, event, container, agent,
 * then the budget's own fields. */
json_t *budget_event_record (const budget_event_t *ev);
/* What the audit log records of a budget-log record (its own fields: the
 * audit record has the time and the subject). */
json_t *budget_event_fields (const json_t *record);

/* A counter's increase over the last minute, from samples taken at any
 * interval up to a minute: one slot per second keeps the counter's first
 * value seen in that second, for two minutes, so a sample from the
 * window's start is still there.  Used to report a rate breaker's trip in
 * the terms of its limit (connections in the last minute), where the
 * kernel only counts what went past the bucket. */
#define BUDGET_MINUTE_SLOTS 128
struct budget_minute_s
{
  int64_t second[BUDGET_MINUTE_SLOTS]; /* -1: never filled */
  uint64_t count[BUDGET_MINUTE_SLOTS];
};
typedef struct budget_minute_s budget_minute_t;

void budget_minute_init (budget_minute_t *m);
/* Record COUNT (monotonic) seen at NOW_MS (any monotonic clock). */
void budget_minute_push (budget_minute_t *m, int64_t now_ms, uint64_t count);
/* How much COUNT grew in the last minute: since the newest sample at least
 * a minute old (else the oldest one kept; since 0 when the counter started
 * within that minute: STARTED_MS). */
uint64_t budget_minute_increase (const budget_minute_t *m, int64_t now_ms, int64_t started_ms, uint64_t count);

/* A kernel counter made monotonic across resets.  A value below the last
 * one means its nft object was made anew (another container in the network
 * namespace replaced the table): counting goes on from what was seen, so a
 * neighbour cannot give an agent its budget back.  What was counted between
 * the last sample and the reset is lost: at most one watchdog interval. */
struct budget_counter_s
{
  uint64_t base, last;
};
typedef struct budget_counter_s budget_counter_t;

uint64_t budget_counter_update (budget_counter_t *c, uint64_t raw);
/* The object was made anew (its handle changed), even if its new value is
 * not below the last one: count on from what was seen. */
void budget_counter_rebase (budget_counter_t *c);

/* "2025-01-31T12:34:56.789Z" */
void budget_format_time (int64_t time_ms, char buf[32]);

#endif
