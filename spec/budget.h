/* corral: budgets of a profile (policy "budgets"), their tightening by
 * run.corral.budget.* annotations, the plan the watchdog reads from the
 * container's state directory, and the JSON event of a tripped budget.
 * Everything here is pure. */
#ifndef CORRAL_BUDGET_H
#define CORRAL_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

#include "shim/error.h"
#include "spec/json.h"

enum budget_kind
{
  BUDGET_WALL_CLOCK,  /* seconds since the container started */
  BUDGET_CPU,         /* CPU seconds of the container's cgroup */
  BUDGET_EGRESS,      /* bytes in and out through anything but loopback */
  BUDGET_CONNECTIONS, /* new outbound connections per minute (a breaker) */
  BUDGET_N,
};
/* The daily totals per agent cover the first three kinds. */
#define BUDGET_N_DAILY 3

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
};
typedef struct corral_budgets_s corral_budgets_t;

#define BUDGET_ANNOTATION_PREFIX "run.corral.budget."
#define BUDGET_DEFAULT_INTERVAL_MS 1000
#define BUDGET_DEFAULT_GRACE_SECONDS 5

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
  int64_t grant;      /* resume only, policy units */
  int64_t time_ms;    /* Unix time */
};
typedef struct budget_event_s budget_event_t;

/* One JSON object on one line (no newline). */
char *budget_event_json (const budget_event_t *ev);

/* "2025-01-31T12:34:56.789Z" */
void budget_format_time (int64_t time_ms, char buf[32]);

#endif
