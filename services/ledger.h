/* corral: per-agent daily totals (the ledger, /var/lib/corral/ledger.json,
 * updated under flock) and the per-container usage records
 * (/var/lib/corral/usage.jsonl). */
#ifndef CORRAL_LEDGER_H
#define CORRAL_LEDGER_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "spec/budget.h"
#include "base/json.h"

#ifndef CORRAL_LIB_DIR
#define CORRAL_LIB_DIR "/var/lib/corral"
#endif
#define LEDGER_NAME "ledger.json"
#define LEDGER_LOCK_NAME "ledger.lock"
#define USAGE_NAME "usage.jsonl"

/* ---- pure ---- */

/* The UTC day of a Unix time in ms: "YYYY-MM-DD". */
void ledger_day (int64_t time_ms, char buf[16]);
/* An agent's totals for day in the watchdog's units (ms, ms, bytes); zero
 * when the ledger has none for that day. */
void ledger_get (const json_t *ledger, const char *agent, const char *day, int64_t ret[BUDGET_N_DAILY]);
/* Add one ended container's usage (entries of other days are dropped). */
void ledger_add (json_t *ledger, const char *agent, const char *day, const int64_t add[BUDGET_N_DAILY]);
/* The same without counting a container (pushed usage). */
void ledger_add_usage (json_t *ledger, const char *agent, const char *day, const int64_t add[BUDGET_N_DAILY]);
/* History kept across days, for anomaly alerts: note a domain the agent
 * reached (true if it never had before); its mean rate of new connections
 * per minute (x1000; 0 = no history), updated as containers end. */
bool ledger_note_domain (json_t *ledger, const char *agent, const char *name);
int64_t ledger_connection_baseline (const json_t *ledger, const char *agent);
void ledger_note_connection_rate (json_t *ledger, const char *agent, int64_t rate_milli);
/* Drop the least recently used agents' anomaly history until the ledger
 * serializes to at most max_bytes (or there is no history left). */
void ledger_prune_history (json_t *ledger, size_t max_bytes);
/* Zero an agent's totals for day, keeping who reset it and why. */
void ledger_reset (json_t *ledger, const char *agent, const char *day, const char *reason, int64_t time_ms);
/* The first daily budget (policy units) that used (internal units) has
 * reached, or -1. */
int ledger_over (const int64_t used[BUDGET_N_DAILY], const int64_t daily[BUDGET_N_DAILY]);

/* ---- files ---- */

/* The directory: CORRAL_LIB_DIR, or $CORRAL_LEDGER_DIR for the tests. */
const char *ledger_dir (void);
/* A copy of the ledger (an empty one when there is none yet). */
json_t *ledger_load (corral_error_t *err);
/* Apply fn to the ledger under an exclusive lock and write it back
 * atomically. */
int ledger_update (void (*fn) (json_t *ledger, void *data), void *data, corral_error_t *err);
/* Append one JSON line to usage.jsonl. */
int ledger_append_usage (const char *line, corral_error_t *err);

#endif
