/* corral: Prometheus metrics.  The numbers are counted from the records
 * corral already writes (its logs, the audit log) and from what its state
 * directories hold; this module is the pure part: classifying one record
 * and formatting the text exposition format 0.0.4.  shim/metrics.c reads
 * the files.  docs/metrics.md lists every metric with its labels. */
#ifndef CORRAL_METRICS_H
#define CORRAL_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spec/budget.h"

/* The logs whose records are counted. */
enum metrics_log
{
  METRICS_LOG_EGRESS, /* egress.log: egress-deny, egress-deny-suppressed */
  METRICS_LOG_DNS,    /* dns.log: dns (a decision), dns-suppressed */
  METRICS_LOG_BUDGET, /* budget.log: budget_exceeded, resumed, audit-error, meter_failed */
  METRICS_LOG_AUDIT,  /* the audit log: every record, by event */
  METRICS_LOG_N,
};

/* Why egress was denied: a packet to a destination outside the allowlist,
 * or a DNS query the guard refused (by the guard's reason). */
enum metrics_egress_reason
{
  METRICS_DENY_ADDRESS,
  METRICS_DENY_DNS_NAME,
  METRICS_DENY_DNS_CLASS,
  METRICS_DENY_DNS_CNAME,
  METRICS_DENY_DNS_HUMAN,
  METRICS_DENY_DNS_ASK_LIMIT,
  METRICS_DENY_DNS_OTHER,
  METRICS_DENY_N,
};

/* The DNS guard's decisions as dns.log has them; anything else is
 * "other", so a label value never comes from a record unchecked. */
enum metrics_dns_decision
{
  METRICS_DNS_ALLOW,
  METRICS_DNS_DENY,
  METRICS_DNS_ASK,
  METRICS_DNS_APPROVED,
  METRICS_DNS_DENIED,
  METRICS_DNS_ERROR,
  METRICS_DNS_OTHER,
  METRICS_DNS_N,
};

/* Failures the helpers leave a record of. */
enum metrics_helper_failure
{
  METRICS_FAIL_HOOK,           /* audit "hook-error": a hook failed, its container did not start */
  METRICS_FAIL_WATCHDOG_AUDIT, /* budget.log "audit-error": an event missing from the audit log */
  METRICS_FAIL_WATCHDOG_METER, /* budget.log "meter_failed" */
  METRICS_FAIL_N,
};

/* The running DNS guards' own error counters (their status files). */
enum metrics_guard_error
{
  METRICS_GUARD_UPSTREAM,
  METRICS_GUARD_NFT,
  METRICS_GUARD_AUDIT,
  METRICS_GUARD_N,
};

/* Where the numbers come from; a source that could not be read is
 * reported down (0) rather than as zeros that look like a quiet host. */
enum metrics_source
{
  METRICS_SRC_STATE,
  METRICS_SRC_EGRESS_LOG,
  METRICS_SRC_DNS_LOG,
  METRICS_SRC_BUDGET_LOG,
  METRICS_SRC_AUDIT_LOG,
  METRICS_SRC_N,
};

/* Label sets are bounded: profile and runtime pairs past this many, and
 * audit event names past this many, are counted under "other". */
#define METRICS_MAX_GROUPS 64
#define METRICS_MAX_EVENTS 64
#define METRICS_OTHER "other"
/* Budget kinds, plus one for a name this build does not know. */
#define METRICS_BUDGET_KINDS (BUDGET_N + 1)

struct metrics_group_s
{
  char *profile;
  char *runtime;
  uint64_t n;
};

struct metrics_event_s
{
  char *name;
  uint64_t n;
};

struct metrics_s
{
  /* Gauges: what is there now. */
  struct metrics_group_s groups[METRICS_MAX_GROUPS + 1]; /* the last: "other" */
  size_t n_groups;
  uint64_t frozen;
  uint64_t asks_pending;
  uint64_t guard_errors[METRICS_GUARD_N];
  /* Counters, from the logs. */
  uint64_t egress_denied[METRICS_DENY_N];
  uint64_t dns_decisions[METRICS_DNS_N];
  uint64_t dns_unlogged;
  uint64_t budget_trips[METRICS_BUDGET_KINDS][2]; /* [kind][kill, freeze] */
  uint64_t budget_resumes[METRICS_BUDGET_KINDS];
  uint64_t helper_failures[METRICS_FAIL_N];
  struct metrics_event_s events[METRICS_MAX_EVENTS + 1]; /* the last: "other" */
  size_t n_events;
  uint64_t unparsed[METRICS_LOG_N];
  /* The logs' sizes; -1: not there. */
  int64_t log_bytes[METRICS_LOG_N];
  /* The audit chain: did it verify, when, and how long that took; a
   * negative time means it was not checked. */
  bool audit_valid;
  double audit_verify_time;
  double audit_verify_seconds;
  bool source_up[METRICS_SRC_N];
  const char *version;
};
typedef struct metrics_s metrics_t;

void metrics_init (metrics_t *m, const char *version);
void metrics_release (metrics_t *m);
#define cleanup_metrics __attribute__ ((cleanup (metrics_release)))

/* One container with a state record. */
void metrics_add_container (metrics_t *m, const char *profile, const char *runtime);

/* Count one line (without its newline) of a log.  A line that is not a
 * JSON object counts as unparsed; records of other events are ignored. */
void metrics_count_line (metrics_t *m, enum metrics_log log, const char *line, size_t len);

/* A line too long to be read whole (the caller skips it). */
void metrics_count_unparsed (metrics_t *m, enum metrics_log log);

/* The exposition text (format 0.0.4), families in a fixed order, samples
 * sorted by their labels. */
char *metrics_format (const metrics_t *m);

/* A label value as it goes between the quotes: backslash, double quote
 * and newline escaped (the format's rule), and bytes that are not UTF-8
 * replaced by U+FFFD (the format is UTF-8; a parser would stop there). */
char *metrics_escape_label (const char *s);

#endif
