/* corral: the DNS guard process (see dnsguard.h): a single-threaded poll
 * loop over the container-side listeners, the upstream socket, TCP
 * connections and the container's pidfd. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/netfilter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "hooks/dnsguard.h"
#include "hooks/flowcheck.h"
#include "hooks/nflog.h"
#include "hooks/nft.h"
#include "hooks/nftset.h"
#include "hooks/watchdog.h"
#include "services/audit.h"
#include "base/daemon.h"
#include "base/fs.h"
#include "services/ledger.h"
#include "base/util.h"
#include "spec/budget.h"
#include "spec/dns.h"
#include "spec/egress.h"
#include "base/json.h"

#define MAX_PENDING 1024
#define PENDING_TIMEOUT_MS 5000
#define MAX_TCP_CLIENTS 64
#define MAX_TCP_UPSTREAM 64
#define TCP_IDLE_MS 10000
#define MAX_TTL 86400
#define MAX_TRACKED_NAMES 256
#define MAX_ELEMS 65536
#define LOG_RATE 50
#define STATUS_INTERVAL_MS 1000
#define MAX_ASKS 64
#define MAX_HELD 128
#define ALERT_TIMEOUT_MS 10000

/* ---- state ---- */

struct pending
{
  bool used;
  uint16_t up_id;     /* id of the query sent upstream */
  uint16_t client_id; /* id the client used */
  struct sockaddr_storage client;
  socklen_t client_len;
  int tcp_client; /* index into tcp clients, or -1 for UDP */
  uint32_t tcp_gen;
  uint16_t client_udp_size;
  char qname[DNS_NAME_TEXT_MAX];
  uint16_t qtype;
  uint8_t *query; /* as sent upstream (its id is up_id) */
  size_t qlen;
  int tcp_retry; /* index into tcp upstreams while retried over TCP, or -1 */
  uint64_t deadline;
};

struct tcp_client
{
  int fd;
  uint32_t gen; /* a pending reply for an older connection in this slot is dropped */
  uint8_t buf[2 + DNS_MSG_MAX];
  size_t have;
  uint64_t deadline;
  bool read_done; /* the client half-closed: answer what it asked, then close */
};

struct tcp_upstream
{
  int fd;
  int pending; /* index into pending */
  bool sent;
  uint8_t *buf; /* length-prefixed query, then answer: 2 + DNS_MSG_MAX */
  size_t have;
  uint64_t deadline;
};

struct counted_name
{
  char *name;
  char type[16];
  uint64_t count;
  char *addresses; /* resolved: the last addresses, text */
};

/* A name of the ask list a container asked for, and what a human said. */
enum ask_state
{
  ASK_PENDING,
  ASK_APPROVED,
  ASK_DENIED,
};

struct ask
{
  char name[DNS_NAME_TEXT_MAX];
  int rule; /* the ask entry it matched */
  enum ask_state state;
  char by[128]; /* who decided: a login, or "timeout" */
  time_t since;
  uint64_t deadline; /* ms, CLOCK_MONOTONIC */
};

/* A query held until its ask is decided. */
struct held
{
  bool used;
  int ask;
  int tcp_client;
  uint32_t tcp_gen;
  struct sockaddr_storage client;
  socklen_t client_len;
  uint8_t *msg;
  size_t len;
};

struct elem_expiry
{
  nftset_elem_t e;
  uint64_t expires; /* ms, CLOCK_MONOTONIC */
};

struct guard
{
  const char *id;
  const state_record_t *rec; /* where audit records go */
  egress_rule_t *rules;
  size_t n_rules;
  uint32_t grace;
  int rcode;
  struct sockaddr_storage upstream;
  socklen_t upstream_len;

  int pidfd, udp, tcp, up, log_fd, state_dirfd;
  nftset_conn_t *nft;
  /* Name-bound egress: the check of new flows and the egress log its
   * denials go to (NULL / -1 without it). */
  flowcheck_t *fc;
  int egress_log_fd;

  struct pending pending[MAX_PENDING];
  int16_t by_id[65536];
  size_t n_pending;
  struct tcp_client tcpc[MAX_TCP_CLIENTS];
  struct tcp_upstream tcpu[MAX_TCP_UPSTREAM];

  struct counted_name resolved[MAX_TRACKED_NAMES];
  size_t n_resolved;
  struct counted_name denied[MAX_TRACKED_NAMES];
  size_t n_denied;
  struct elem_expiry *elems;
  size_t n_elems;

  egress_rule_t *ask_rules; /* the ask list */
  size_t n_ask_rules;
  uint32_t ask_timeout_ms;
  char **ask_alert;
  /* Anomaly alerts on names the agent never reached before (the budget
   * plan's "anomaly"): its name and the alert command. */
  char *agent;
  char **anomaly_alert;
  bool anomaly_new_domains;
  struct ask asks[MAX_ASKS];
  size_t n_asks;
  struct held held[MAX_HELD];

  uint64_t queries, allowed, denials, malformed, upstream_errors, nft_errors, audit_errors, log_suppressed;
  time_t log_window;
  unsigned log_in_window;
  bool dirty;
  uint64_t next_status;
};

static void
put16 (uint8_t *p, uint16_t v)
{
  p[0] = (uint8_t) (v >> 8);
  p[1] = (uint8_t) v;
}

/* ---- decisions log ---- */

static void
log_decision (struct guard *g, const char *name, uint16_t qtype, const char *decision, const char *reason,
              json_t *addresses)
{
  cleanup_json json_t *o = NULL;
  char tbuf[16];
  time_t now = time (NULL);

  if (now != g->log_window)
    {
      if (g->log_suppressed)
        {
          cleanup_json json_t *r = json_new_record ("dns-suppressed");

          json_set (r, "container", json_new_string (g->id));
          json_set (r, "count", json_new_int ((int64_t) g->log_suppressed));
          (void) json_write_line (g->log_fd, r);
        }
      g->log_window = now;
      g->log_in_window = 0;
      g->log_suppressed = 0;
    }
  if (++g->log_in_window > LOG_RATE)
    {
      g->log_suppressed++;
      json_free (addresses);
      return;
    }
  o = json_new_record ("dns");
  json_set (o, "container", json_new_string (g->id));
  json_set (o, "name", json_new_string (name));
  json_set (o, "type", json_new_string (dns_type_name (qtype, tbuf)));
  json_set (o, "decision", json_new_string (decision));
  if (reason)
    json_set (o, "reason", json_new_string (reason));
  json_set (o, "addresses", addresses ? addresses : json_new_array ());
  (void) json_write_line (g->log_fd, o);
}

/* Count one more decision for name; returns the new count (0 when the
 * table is full and the name is not in it). */
static uint64_t
count_name (struct counted_name *tab, size_t *n, const char *name, uint16_t qtype, const char *addresses)
{
  char tbuf[16];
  const char *type = dns_type_name (qtype, tbuf);
  struct counted_name *c = NULL;

  for (size_t i = 0; i < *n && c == NULL; i++)
    if (str_eq (tab[i].name, name) && str_eq (tab[i].type, type))
      c = &tab[i];
  if (c == NULL)
    {
      if (*n == MAX_TRACKED_NAMES)
        return 0; /* the log has every decision; the status keeps the first names */
      c = &tab[(*n)++];
      c->name = xstrdup (name);
      snprintf (c->type, sizeof (c->type), "%s", type);
    }
  c->count++;
  if (addresses)
    {
      free (c->addresses);
      c->addresses = xstrdup (addresses);
    }
  return c->count;
}

/* The first decision on a name (and type) in this container's life goes
 * into the audit log as well; repeats are counted in the status and logged
 * in dns.log only, so a looping agent cannot flood the audit log (each
 * record there is fsynced).  Best effort, like every hook-side record. */
static void
audit_first_decision (struct guard *g, uint64_t count, const char *name, uint16_t qtype, const char *decision,
                      const char *reason, const json_t *addresses)
{
  cleanup_json json_t *fields = NULL;
  char tbuf[16];

  if (count != 1)
    return;
  fields = json_new_object ();
  json_set (fields, "name", json_new_string (name));
  json_set (fields, "type", json_new_string (dns_type_name (qtype, tbuf)));
  json_set (fields, "decision", json_new_string (decision));
  if (reason)
    json_set (fields, "reason", json_new_string (reason));
  json_set (fields, "addresses", addresses ? json_deep_copy (addresses) : json_new_array ());
  if (audit_record_event (g->rec, "dns", fields, NULL) < 0)
    g->audit_errors++;
}

/* ---- status file ---- */

static const char *const ask_state_names[] = { "pending", "approved", "denied" };

static json_t *
asks_json (const struct guard *g)
{
  json_t *arr = json_new_array ();

  for (size_t i = 0; i < g->n_asks; i++)
    {
      const struct ask *a = &g->asks[i];
      json_t *e = json_new_object ();
      char since[32];
      struct tm tm;

      gmtime_r (&a->since, &tm);
      strftime (since, sizeof (since), "%Y-%m-%dT%H:%M:%SZ", &tm);
      json_set (e, "name", json_new_string (a->name));
      json_set (e, "state", json_new_string (ask_state_names[a->state]));
      json_set (e, "since", json_new_string (since));
      if (a->state != ASK_PENDING)
        json_set (e, "by", json_new_string (a->by));
      json_push (arr, e);
    }
  return arr;
}

static void
write_status (struct guard *g, uint64_t now)
{
  cleanup_json json_t *o = json_new_object ();
  cleanup_free char *data = NULL;
  json_t *res = json_new_array (), *den = json_new_array ();
  cleanup_error corral_error_t err = NULL;
  size_t kept = 0;

  /* Forget elements the kernel has expired by now. */
  for (size_t i = 0; i < g->n_elems; i++)
    if (g->elems[i].expires > now)
      g->elems[kept++] = g->elems[i];
  g->n_elems = kept;

  json_set (o, "queries", json_new_int ((int64_t) g->queries));
  json_set (o, "allowed", json_new_int ((int64_t) g->allowed));
  json_set (o, "denied", json_new_int ((int64_t) g->denials));
  json_set (o, "malformed", json_new_int ((int64_t) g->malformed));
  json_set (o, "upstream_errors", json_new_int ((int64_t) g->upstream_errors));
  json_set (o, "nft_errors", json_new_int ((int64_t) g->nft_errors));
  json_set (o, "audit_errors", json_new_int ((int64_t) g->audit_errors));
  for (size_t i = 0; i < g->n_resolved; i++)
    {
      json_t *e = json_new_object ();
      json_set (e, "name", json_new_string (g->resolved[i].name));
      json_set (e, "type", json_new_string (g->resolved[i].type));
      json_set (e, "count", json_new_int ((int64_t) g->resolved[i].count));
      json_set (e, "addresses", json_new_string (g->resolved[i].addresses ? g->resolved[i].addresses : ""));
      json_push (res, e);
    }
  for (size_t i = 0; i < g->n_denied; i++)
    {
      json_t *e = json_new_object ();
      json_set (e, "name", json_new_string (g->denied[i].name));
      json_set (e, "type", json_new_string (g->denied[i].type));
      json_set (e, "count", json_new_int ((int64_t) g->denied[i].count));
      json_push (den, e);
    }
  json_set (o, "resolved_names", res);
  json_set (o, "denied_names", den);
  json_set (o, "asks", asks_json (g));
  data = json_serialize (o, true);
  /* The state directory goes with `delete`: then this fails, harmlessly. */
  (void) file_replace_at (g->state_dirfd, DNSGUARD_STATUS_NAME, data, strlen (data), 0600, &err);
  g->dirty = false;
}

/* ---- nft sets ---- */

static struct elem_expiry *
find_elem (struct guard *g, const nftset_elem_t *e)
{
  for (size_t i = 0; i < g->n_elems; i++)
    if (g->elems[i].e.set == e->set && g->elems[i].e.key_len == e->key_len
        && memcmp (g->elems[i].e.key, e->key, e->key_len) == 0)
      return &g->elems[i];
  return NULL;
}

/* Put every address of an allowed answer into the sets, with the service
 * of each allowlist entry that matched the name.  An element whose timeout
 * would not move by a second is not sent again: the kernel already holds
 * it at least that long (grace is at least 1 s). */
static int
add_addresses (struct guard *g, const char *qname, const dns_chain_t *chain, corral_error_t *err)
{
  static const uint8_t both[] = { IPPROTO_TCP, IPPROTO_UDP };
  cleanup_free nftset_elem_t *batch = NULL;
  cleanup_free uint64_t *expiry = NULL;
  size_t n = 0, cap = 0;
  uint64_t now = monotonic_ms ();

  for (size_t a = 0; a < chain->n_addrs; a++)
    {
      const dns_address_t *ad = &chain->addrs[a];
      uint64_t ttl = ad->ttl > MAX_TTL ? MAX_TTL : ad->ttl;
      uint64_t timeout = (ttl + g->grace) * 1000;

      bool bound = false;

      for (size_t r = 0; r < g->n_rules; r++)
        {
          const egress_rule_t *rule = &g->rules[r];

          if (!egress_rule_matches_name (rule, qname))
            continue;
          /* The name the client asked the guard for is the one its flow
           * must then name (spec/namebind.h). */
          if (g->fc && !bound)
            flowcheck_bind (g->fc, qname, ad->family, ad->addr, now + timeout);
          bound = true;
          for (size_t k = 0; k < (rule->port ? 2 : 1); k++)
            {
              nftset_elem_t e;
              struct elem_expiry *known;

              if (rule->port && rule->proto && rule->proto != both[k])
                continue;
              nftset_key (&e, ad->family, ad->addr, both[k], rule->port);
              e.timeout_ms = timeout;
              known = find_elem (g, &e);
              if (known && known->expires >= now + timeout - 1000)
                continue;
              if (n == cap)
                {
                  cap = cap ? cap * 2 : 16;
                  batch = xrealloc (batch, cap * sizeof (*batch));
                  expiry = xrealloc (expiry, cap * sizeof (*expiry));
                }
              expiry[n] = now + timeout;
              batch[n++] = e;
            }
        }
    }
  if (n == 0)
    return 0;
  if (nftset_add (g->nft, batch, n, err) < 0)
    return -1;
  for (size_t i = 0; i < n; i++)
    {
      struct elem_expiry *known = find_elem (g, &batch[i]);
      if (known == NULL && g->n_elems < MAX_ELEMS)
        {
          g->elems = xrealloc (g->elems, (g->n_elems + 1) * sizeof (*g->elems));
          known = &g->elems[g->n_elems++];
          known->e = batch[i];
        }
      if (known)
        known->expires = expiry[i];
    }
  return 0;
}

/* ---- replies ---- */

static void
tcp_client_close (struct guard *g, int i)
{
  if (g->tcpc[i].fd >= 0)
    close (g->tcpc[i].fd);
  g->tcpc[i].fd = -1;
  g->tcpc[i].have = 0;
  g->tcpc[i].read_done = false;
  g->tcpc[i].gen++;
}

/* Does TCP client i still wait for an answer (upstream or held)? */
static bool
tcp_client_waits (const struct guard *g, int i)
{
  for (int k = 0; k < MAX_PENDING; k++)
    if (g->pending[k].used && g->pending[k].tcp_client == i && g->pending[k].tcp_gen == g->tcpc[i].gen)
      return true;
  for (int k = 0; k < MAX_HELD; k++)
    if (g->held[k].used && g->held[k].tcp_client == i && g->held[k].tcp_gen == g->tcpc[i].gen)
      return true;
  return false;
}

static void
send_tcp (struct guard *g, int i, const uint8_t *msg, size_t len)
{
  uint8_t hdr[2];
  struct iovec iov[2] = { { hdr, 2 }, { (void *) msg, len } };
  struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
  ssize_t n;

  put16 (hdr, (uint16_t) len);
  n = sendmsg (g->tcpc[i].fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
  /* A client that does not read its answers loses the connection. */
  if (n != (ssize_t) (len + 2))
    tcp_client_close (g, i);
}

/* Send msg (an answer with the client's id already in place) to whoever
 * asked: a UDP address or a TCP connection still open. */
static void
reply (struct guard *g, int tcp_client, uint32_t gen, const struct sockaddr_storage *to, socklen_t to_len,
       const uint8_t *msg, size_t len)
{
  if (tcp_client >= 0)
    {
      if (g->tcpc[tcp_client].fd >= 0 && g->tcpc[tcp_client].gen == gen)
        send_tcp (g, tcp_client, msg, len);
      return;
    }
  (void) sendto (g->udp, msg, len, MSG_DONTWAIT, (const struct sockaddr *) to, to_len);
}

static void
reply_error (struct guard *g, int tcp_client, uint32_t gen, const struct sockaddr_storage *to, socklen_t to_len,
             const uint8_t *query, const dns_question_t *q, int rcode)
{
  uint8_t out[DNS_MSG_MAX];
  size_t n = dns_build_error (query, q, rcode, out, sizeof (out));

  if (n)
    reply (g, tcp_client, gen, to, to_len, out, n);
}

static void
pending_free (struct guard *g, int i)
{
  struct pending *p = &g->pending[i];

  g->by_id[p->up_id] = -1;
  free (p->query);
  p->query = NULL;
  p->used = false;
  g->n_pending--;
}

/* Answer pending query i with rcode (no records) and forget it. */
static void
pending_fail (struct guard *g, int i, int rcode)
{
  struct pending *p = &g->pending[i];
  cleanup_free uint8_t *copy = xmalloc (p->qlen);
  dns_question_t q;

  memcpy (copy, p->query, p->qlen);
  put16 (copy, p->client_id);
  if (dns_parse_question (copy, p->qlen, &q) == 0)
    reply_error (g, p->tcp_client, p->tcp_gen, &p->client, p->client_len, copy, &q, rcode);
  pending_free (g, i);
}

/* ---- anomalies ---- */

struct note_ctx
{
  const char *agent;
  const char *name;
  bool is_new;
};

static void
note_domain_cb (json_t *ledger, void *data)
{
  struct note_ctx *c = data;
  c->is_new = ledger_note_domain (ledger, c->agent, c->name);
}

/* A name this agent never reached before: an alert (no action), in the
 * agent's history under /var/lib/corral, dns.log and the audit log. */
static void
anomaly_new_domain (struct guard *g, const char *name)
{
  struct note_ctx c = { g->agent, name, false };
  cleanup_json json_t *ev = NULL;
  cleanup_free char *data = NULL;
  char t[64];

  if (!g->anomaly_new_domains || ledger_update (note_domain_cb, &c, NULL) < 0 || !c.is_new)
    return;
  ev = json_new_object ();
  now_rfc3339 (t, sizeof (t));
  json_set (ev, "time", json_new_string (t));
  json_set (ev, "event", json_new_string ("anomaly"));
  json_set (ev, "kind", json_new_string ("new_domain"));
  json_set (ev, "container", json_new_string (g->id));
  json_set (ev, "agent", json_new_string (g->agent));
  json_set (ev, "name", json_new_string (name));
  data = json_serialize (ev, false);
  {
    cleanup_free char *line = NULL;
    xasprintf (&line, "%s\n", data);
    (void) !write (g->log_fd, line, strlen (line));
  }
  {
    cleanup_json json_t *fields = json_new_object ();
    json_set (fields, "kind", json_new_string ("new_domain"));
    json_set (fields, "name", json_new_string (name));
    if (audit_record_event (g->rec, "anomaly", fields, NULL) < 0)
      g->audit_errors++;
  }
  if (g->anomaly_alert && fork () == 0)
    _exit (watchdog_run (g->anomaly_alert, data, ALERT_TIMEOUT_MS, false, NULL) == 0 ? 0 : 1);
}

/* The budget plan's anomaly settings, if the container has a plan. */
static void
read_anomaly_plan (struct guard *g)
{
  cleanup_close int fd = openat (g->state_dirfd, WATCHDOG_PLAN, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  cleanup_free char *data = NULL;
  cleanup_free char *id = NULL;
  cleanup_json json_t *plan = NULL;
  corral_budgets_t b;
  size_t len;

  if (fd < 0 || fd_read_all (fd, 1024 * 1024, WATCHDOG_PLAN, &data, &len, NULL) < 0
      || (plan = json_parse (data, len, NULL)) == NULL || budget_plan_parse (plan, &b, &id, &g->agent, NULL) < 0)
    return;
  g->anomaly_new_domains = b.anomaly_new_domains;
  g->anomaly_alert = steal_pointer (&b.alert);
  budget_clear (&b);
}

/* ---- answers from upstream ---- */

static bool
name_allowed (const struct guard *g, const char *name)
{
  for (size_t i = 0; i < g->n_rules; i++)
    if (egress_rule_matches_name (&g->rules[i], name))
      return true;
  return false;
}

static bool start_tcp_retry (struct guard *g, int pi);

/* The answer for pending query pi: check, fill the sets, reply. */
static void
handle_answer (struct guard *g, int pi, uint8_t *msg, size_t len, bool over_tcp)
{
  struct pending *p = &g->pending[pi];
  dns_question_t q;
  dns_answer_t a = { 0 };
  dns_chain_t chain = { 0 };
  cleanup_error corral_error_t err = NULL;
  cleanup_free char *addr_text = NULL;
  json_t *addrs = NULL;
  const char *bad = NULL;

  if (dns_parse_question (msg, len, &q) < 0 || !str_eq (q.name, p->qname) || q.qtype != p->qtype
      || !(q.hdr.flags & DNS_FLAG_QR))
    {
      /* Not the answer to what was asked: never passed on. */
      g->upstream_errors++;
      return;
    }
  /* A truncated answer may lack addresses: ask again over TCP (if that
   * cannot start, the truncated answer is what the client gets). */
  if ((q.hdr.flags & DNS_FLAG_TC) && !over_tcp && start_tcp_retry (g, pi))
    return;
  if (dns_parse_answer (msg, len, &a) < 0)
    {
      g->upstream_errors++;
      pending_fail (g, pi, DNS_RCODE_SERVFAIL);
      return;
    }
  dns_answer_chain (&a, p->qname, &chain);
  /* Every name the answer leads to must be allowed too: a CNAME to a name
   * outside the allowlist would open its addresses. */
  for (size_t i = 1; i < chain.n_names && bad == NULL; i++)
    if (!name_allowed (g, chain.names[i]))
      bad = chain.names[i];
  if (bad)
    {
      cleanup_free char *reason = NULL;
      xasprintf (&reason, "CNAME target %s is not allowed", bad);
      g->denials++;
      audit_first_decision (g, count_name (g->denied, &g->n_denied, p->qname, p->qtype, NULL), p->qname, p->qtype,
                            "deny", reason, NULL);
      log_decision (g, p->qname, p->qtype, "deny", reason, NULL);
      pending_fail (g, pi, g->rcode);
      goto out;
    }
  if (add_addresses (g, p->qname, &chain, &err) < 0)
    {
      /* Fail closed: an address that is not in the set is not given out. */
      g->nft_errors++;
      log_decision (g, p->qname, p->qtype, "error", err->msg, NULL);
      pending_fail (g, pi, DNS_RCODE_SERVFAIL);
      goto out;
    }
  addrs = json_new_array ();
  for (size_t i = 0; i < chain.n_addrs; i++)
    {
      char t[INET6_ADDRSTRLEN];
      char *joined;

      inet_ntop (chain.addrs[i].family, chain.addrs[i].addr, t, sizeof (t));
      json_push (addrs, json_new_string (t));
      xasprintf (&joined, "%s%s%s", addr_text ? addr_text : "", addr_text ? " " : "", t);
      free (addr_text);
      addr_text = joined;
    }
  g->allowed++;
  {
    uint64_t n = count_name (g->resolved, &g->n_resolved, p->qname, p->qtype, addr_text ? addr_text : "");
    audit_first_decision (g, n, p->qname, p->qtype, "allow", NULL, addrs);
    if (n == 1)
      anomaly_new_domain (g, p->qname);
  }
  log_decision (g, p->qname, p->qtype, "allow", NULL, addrs);

  put16 (msg, p->client_id);
  if (p->tcp_client < 0 && len > p->client_udp_size)
    {
      /* A full answer (over TCP) that does not fit the client's UDP size:
       * the client gets its question with TC set and asks again over TCP. */
      uint8_t tc[DNS_MSG_MAX];
      size_t n = dns_build_error (msg, &q, DNS_RCODE (q.hdr.flags), tc, sizeof (tc));
      if (n)
        {
          put16 (tc + 2, (uint16_t) (q.hdr.flags | DNS_FLAG_TC));
          reply (g, -1, 0, &p->client, p->client_len, tc, n);
        }
    }
  else
    reply (g, p->tcp_client, p->tcp_gen, &p->client, p->client_len, msg, len);
  pending_free (g, pi);
out:
  g->dirty = true;
  dns_chain_release (&chain);
  dns_answer_release (&a);
}

static void
read_upstream (struct guard *g)
{
  uint8_t buf[DNS_MSG_MAX];

  for (int i = 0; i < 64; i++)
    {
      ssize_t n = recv (g->up, buf, sizeof (buf), MSG_DONTWAIT);
      int pi;

      if (n < 0)
        return;
      if (n < DNS_HEADER_LEN)
        {
          g->upstream_errors++;
          continue;
        }
      pi = g->by_id[(buf[0] << 8) | buf[1]];
      if (pi < 0 || !g->pending[pi].used || g->pending[pi].tcp_retry >= 0)
        {
          g->upstream_errors++;
          continue;
        }
      handle_answer (g, pi, buf, (size_t) n, false);
    }
}

/* ---- TCP to upstream (truncated answers) ---- */

static void
tcp_upstream_close (struct guard *g, int i)
{
  if (g->tcpu[i].fd >= 0)
    close (g->tcpu[i].fd);
  g->tcpu[i].fd = -1;
  free (g->tcpu[i].buf);
  g->tcpu[i].buf = NULL;
  g->tcpu[i].have = 0;
  g->tcpu[i].sent = false;
  g->tcpu[i].pending = -1;
}

/* The guard process lives in corral's own network namespace after start:
 * a socket made now reaches the upstream. */
static bool
start_tcp_retry (struct guard *g, int pi)
{
  struct pending *p = &g->pending[pi];
  struct tcp_upstream *u = NULL;
  int slot = -1, fd;

  for (int i = 0; i < MAX_TCP_UPSTREAM && slot < 0; i++)
    if (g->tcpu[i].fd < 0)
      slot = i;
  if (slot < 0)
    return false;
  fd = socket (g->upstream.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return false;
  if (connect (fd, (const struct sockaddr *) &g->upstream, g->upstream_len) < 0 && errno != EINPROGRESS)
    {
      close (fd);
      return false;
    }
  u = &g->tcpu[slot];
  u->fd = fd;
  u->pending = pi;
  u->buf = xmalloc (2 + DNS_MSG_MAX);
  put16 (u->buf, (uint16_t) p->qlen);
  memcpy (u->buf + 2, p->query, p->qlen);
  u->have = p->qlen + 2;
  u->sent = false;
  u->deadline = monotonic_ms () + PENDING_TIMEOUT_MS;
  p->tcp_retry = slot;
  return true;
}

static void
tcp_upstream_event (struct guard *g, int i, short revents)
{
  struct tcp_upstream *u = &g->tcpu[i];
  int pi = u->pending;
  size_t want;
  ssize_t n;

  if (!u->sent)
    {
      if (!(revents & POLLOUT))
        goto fail;
      n = send (u->fd, u->buf, u->have, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n != (ssize_t) u->have)
        goto fail;
      u->sent = true;
      u->have = 0;
      return;
    }
  n = recv (u->fd, u->buf + u->have, 2 + DNS_MSG_MAX - u->have, MSG_DONTWAIT);
  if (n <= 0)
    {
      if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
      goto fail;
    }
  u->have += (size_t) n;
  if (u->have < 2)
    return;
  want = ((size_t) u->buf[0] << 8) | u->buf[1];
  if (u->have < want + 2)
    return;
  if (want < DNS_HEADER_LEN || ((u->buf[2] << 8) | u->buf[3]) != g->pending[pi].up_id)
    goto fail;
  g->pending[pi].tcp_retry = -1;
  handle_answer (g, pi, u->buf + 2, want, true);
  if (g->pending[pi].used && g->pending[pi].up_id == ((u->buf[2] << 8) | u->buf[3]))
    pending_fail (g, pi, DNS_RCODE_SERVFAIL); /* an answer to something else */
  tcp_upstream_close (g, i);
  return;
fail:
  g->upstream_errors++;
  tcp_upstream_close (g, i);
  pending_fail (g, pi, DNS_RCODE_SERVFAIL);
}

/* ---- ask domains ----
 *
 * A name on the ask list is held: the guard records the request (the
 * status file, for `corral egress show`), runs the profile's alert command
 * with a JSON event, and keeps the client's queries until a human runs
 * `corral approve|deny ID NAME`, which writes ask-NAME.json into the
 * container's state directory (root-only, never visible to the container),
 * or until the timeout, which denies.  An approved name becomes an exact
 * allowlist entry with the ask entry's port and protocol, for the rest of
 * the container's life; a denied one is answered like any denied name. */

static int
find_ask (const struct guard *g, const char *name)
{
  for (size_t i = 0; i < g->n_asks; i++)
    if (str_eq (g->asks[i].name, name))
      return (int) i;
  return -1;
}

static int
ask_rule_for (const struct guard *g, const char *name)
{
  for (size_t i = 0; i < g->n_ask_rules; i++)
    if (egress_rule_matches_name (&g->ask_rules[i], name))
      return (int) i;
  return -1;
}

/* The alert runs in a child the guard does not wait for (SIGCHLD is
 * ignored): a slow pager must not stall DNS. */
static void
ask_alert (struct guard *g, const struct ask *a)
{
  cleanup_json json_t *ev = json_new_object ();
  cleanup_free char *data = NULL;
  cleanup_free char *approve = NULL;
  char t[64];
  pid_t pid;

  if (g->ask_alert == NULL)
    return;
  now_rfc3339 (t, sizeof (t));
  xasprintf (&approve, "corral approve %s %s --reason TEXT", g->id, a->name);
  json_set (ev, "event", json_new_string ("ask"));
  json_set (ev, "time", json_new_string (t));
  json_set (ev, "container", json_new_string (g->id));
  json_set (ev, "agent", g->rec->agent ? json_new_string (g->rec->agent) : json_new_null ());
  json_set (ev, "name", json_new_string (a->name));
  json_set (ev, "timeout_seconds", json_new_int ((int64_t) (g->ask_timeout_ms / 1000)));
  json_set (ev, "approve", json_new_string (approve));
  {
    cleanup_free char *deny = NULL;
    xasprintf (&deny, "corral deny %s %s --reason TEXT", g->id, a->name);
    json_set (ev, "deny", json_new_string (deny));
  }
  data = json_serialize (ev, false);
  pid = fork ();
  if (pid == 0)
    _exit (watchdog_run (g->ask_alert, data, ALERT_TIMEOUT_MS, false, NULL) == 0 ? 0 : 1);
}

static int
new_ask (struct guard *g, const char *name, int rule)
{
  struct ask *a;

  if (g->n_asks == MAX_ASKS)
    return -1;
  a = &g->asks[g->n_asks];
  memset (a, 0, sizeof (*a));
  snprintf (a->name, sizeof (a->name), "%s", name);
  a->rule = rule;
  a->state = ASK_PENDING;
  a->since = time (NULL);
  a->deadline = monotonic_ms () + g->ask_timeout_ms;
  g->dirty = true;
  log_decision (g, name, DNS_TYPE_A, "ask", "held for a human's decision", NULL);
  {
    cleanup_json json_t *fields = json_new_object ();
    json_set (fields, "name", json_new_string (name));
    json_set (fields, "timeout_seconds", json_new_int ((int64_t) (g->ask_timeout_ms / 1000)));
    if (audit_record_event (g->rec, "ask", fields, NULL) < 0)
      g->audit_errors++;
  }
  ask_alert (g, a);
  return (int) g->n_asks++;
}

static void
hold (struct guard *g, int ai, const uint8_t *msg, size_t len, int tcp_client, uint32_t gen,
      const struct sockaddr_storage *from, socklen_t from_len, const dns_question_t *q)
{
  for (int i = 0; i < MAX_HELD; i++)
    if (!g->held[i].used)
      {
        struct held *h = &g->held[i];
        h->used = true;
        h->ask = ai;
        h->tcp_client = tcp_client;
        h->tcp_gen = gen;
        if (from)
          memcpy (&h->client, from, from_len);
        h->client_len = from_len;
        h->msg = xmalloc (len);
        memcpy (h->msg, msg, len);
        h->len = len;
        return;
      }
  /* Too many waiting: this one is told to try again later. */
  reply_error (g, tcp_client, gen, from, from_len, msg, q, DNS_RCODE_SERVFAIL);
}

static void handle_query (struct guard *g, const uint8_t *msg, size_t len, int tcp_client,
                          const struct sockaddr_storage *from, socklen_t from_len);

/* The decision on ask ai is in: answer (or forward) what waited for it. */
static void
release_held (struct guard *g, int ai)
{
  for (int i = 0; i < MAX_HELD; i++)
    {
      struct held *h = &g->held[i];
      cleanup_free uint8_t *msg = NULL;

      if (!h->used || h->ask != ai)
        continue;
      msg = steal_pointer (&h->msg);
      h->used = false;
      /* A TCP client that left (or whose slot was reused) gets nothing. */
      if (h->tcp_client >= 0 && (g->tcpc[h->tcp_client].fd < 0 || g->tcpc[h->tcp_client].gen != h->tcp_gen))
        continue;
      handle_query (g, msg, h->len, h->tcp_client, h->tcp_client >= 0 ? NULL : &h->client, h->client_len);
    }
}

static void
decide (struct guard *g, int ai, bool approve, const char *by)
{
  struct ask *a = &g->asks[ai];

  a->state = approve ? ASK_APPROVED : ASK_DENIED;
  snprintf (a->by, sizeof (a->by), "%s", by);
  g->dirty = true;
  if (approve)
    {
      /* The exact name, with the ask entry's port and protocol. */
      egress_rule_t r = g->ask_rules[a->rule];
      r.wildcard = false;
      snprintf (r.name, sizeof (r.name), "%s", a->name);
      g->rules = xrealloc (g->rules, (g->n_rules + 1) * sizeof (*g->rules));
      g->rules[g->n_rules++] = r;
    }
  log_decision (g, a->name, DNS_TYPE_A, approve ? "approved" : "denied", by, NULL);
  release_held (g, ai);
}

/* A pending ask whose decision file is there, or whose time is up. */
static void
check_asks (struct guard *g, uint64_t now)
{
  for (size_t i = 0; i < g->n_asks; i++)
    {
      struct ask *a = &g->asks[i];
      cleanup_free char *file = NULL;
      cleanup_free char *data = NULL;
      cleanup_close int fd = -1;
      cleanup_json json_t *d = NULL;
      size_t len;

      if (a->state != ASK_PENDING)
        continue;
      xasprintf (&file, DNSGUARD_ASK_PREFIX "%s.json", a->name);
      fd = openat (g->state_dirfd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      if (fd >= 0 && fd_read_all (fd, 64 * 1024, file, &data, &len, NULL) == 0
          && (d = json_parse (data, len, NULL)) != NULL)
        {
          const char *by = json_get_string (d, "by");
          decide (g, (int) i, str_eq (json_get_string (d, "decision"), "approve"), by ? by : "?");
        }
      else if (a->deadline <= now)
        {
          cleanup_json json_t *fields = json_new_object ();

          decide (g, (int) i, false, "timeout");
          json_set (fields, "name", json_new_string (a->name));
          json_set (fields, "by", json_new_string ("timeout"));
          json_set (fields, "reason", json_new_string ("no decision in time"));
          if (audit_record_event (g->rec, "deny", fields, NULL) < 0)
            g->audit_errors++;
        }
    }
}

/* A query for an ask name: decided already, or held. */
static void
ask_query (struct guard *g, int rule, const uint8_t *msg, size_t len, int tcp_client, uint32_t gen,
           const struct sockaddr_storage *from, socklen_t from_len, const dns_question_t *q)
{
  int ai = find_ask (g, q->name);

  if (ai < 0)
    ai = new_ask (g, q->name, rule);
  if (ai < 0 || g->asks[ai].state == ASK_DENIED)
    {
      g->denials++;
      count_name (g->denied, &g->n_denied, q->name, q->qtype, NULL);
      log_decision (g, q->name, q->qtype, "deny", ai < 0 ? "too many open requests" : "denied by a human", NULL);
      reply_error (g, tcp_client, gen, from, from_len, msg, q, g->rcode);
      return;
    }
  hold (g, ai, msg, len, tcp_client, gen, from, from_len, q);
}

/* ---- queries from the container ---- */

static void
handle_query (struct guard *g, const uint8_t *msg, size_t len, int tcp_client, const struct sockaddr_storage *from,
              socklen_t from_len)
{
  uint32_t gen = tcp_client >= 0 ? g->tcpc[tcp_client].gen : 0;
  dns_question_t q;
  uint8_t fwd[DNS_MSG_MAX];
  struct pending *p;
  int pi = -1;
  uint16_t id;

  if (dns_parse_question (msg, len, &q) < 0 || (q.hdr.flags & DNS_FLAG_QR))
    {
      /* Dropped and counted: nothing the container sends makes the
       * guard answer garbage or stop. */
      g->malformed++;
      g->dirty = true;
      return;
    }
  g->queries++;
  g->dirty = true;
  if (DNS_OPCODE (q.hdr.flags) != 0)
    {
      reply_error (g, tcp_client, gen, from, from_len, msg, &q, DNS_RCODE_NOTIMP);
      return;
    }
  if (q.qclass == DNS_CLASS_IN && q.hostname && !name_allowed (g, q.name) && ask_rule_for (g, q.name) >= 0)
    {
      ask_query (g, ask_rule_for (g, q.name), msg, len, tcp_client, gen, from, from_len, &q);
      return;
    }
  if (q.qclass != DNS_CLASS_IN || !q.hostname || !name_allowed (g, q.name))
    {
      const char *why = q.qclass != DNS_CLASS_IN ? "class is not IN" : "name not allowed";

      g->denials++;
      audit_first_decision (g, count_name (g->denied, &g->n_denied, q.name, q.qtype, NULL), q.name, q.qtype, "deny",
                            why, NULL);
      log_decision (g, q.name, q.qtype, "deny", why, NULL);
      reply_error (g, tcp_client, gen, from, from_len, msg, &q, g->rcode);
      return;
    }
  /* Name-bound egress: HTTPS and SVCB records carry the ECH keys with
   * which a client would hide the name the check judges (and an encrypted
   * ClientHello is refused).  Without them a client falls back to A/AAAA
   * and names its host in the clear: an empty answer (the name exists, it
   * has no such record), the upstream never asked. */
  if (g->fc && (q.qtype == DNS_TYPE_HTTPS || q.qtype == DNS_TYPE_SVCB))
    {
      log_decision (g, q.name, q.qtype, "nodata", "HTTPS/SVCB records withheld: they carry ECH keys", NULL);
      reply_error (g, tcp_client, gen, from, from_len, msg, &q, DNS_RCODE_NOERROR);
      return;
    }
  if (g->n_pending == MAX_PENDING)
    {
      reply_error (g, tcp_client, gen, from, from_len, msg, &q, DNS_RCODE_SERVFAIL);
      return;
    }
  for (int i = 0; i < MAX_PENDING && pi < 0; i++)
    if (!g->pending[i].used)
      pi = i;
  /* A random id the upstream must echo: answers are matched on it and on
   * the question, from the one address the socket is connected to. */
  do
    {
      if (getrandom (&id, sizeof (id), 0) != sizeof (id))
        id = (uint16_t) (monotonic_ms () * 2654435761u);
    }
  while (g->by_id[id] >= 0);
  p = &g->pending[pi];
  memset (p, 0, sizeof (*p));
  p->used = true;
  p->up_id = id;
  p->client_id = q.hdr.id;
  if (from)
    memcpy (&p->client, from, from_len);
  p->client_len = from_len;
  p->tcp_client = tcp_client;
  p->tcp_gen = gen;
  p->tcp_retry = -1;
  p->client_udp_size = q.edns_udp_size ? q.edns_udp_size : DNS_UDP_MAX;
  snprintf (p->qname, sizeof (p->qname), "%s", q.name);
  p->qtype = q.qtype;
  p->query = xmalloc (len);
  memcpy (p->query, msg, len);
  put16 (p->query, id);
  p->qlen = len;
  p->deadline = monotonic_ms () + PENDING_TIMEOUT_MS;
  g->by_id[id] = (int16_t) pi;
  g->n_pending++;
  memcpy (fwd, p->query, len);
  /* EDNS0 and every other record of the query go upstream unchanged. */
  if (send (g->up, fwd, len, MSG_DONTWAIT) != (ssize_t) len)
    {
      g->upstream_errors++;
      reply_error (g, tcp_client, gen, from, from_len, msg, &q, DNS_RCODE_SERVFAIL);
      pending_free (g, pi);
    }
}

static void
read_udp (struct guard *g)
{
  uint8_t buf[DNS_MSG_MAX];

  for (int i = 0; i < 64; i++)
    {
      struct sockaddr_storage from;
      socklen_t from_len = sizeof (from);
      ssize_t n = recvfrom (g->udp, buf, sizeof (buf), MSG_DONTWAIT, (struct sockaddr *) &from, &from_len);

      if (n < 0)
        return;
      handle_query (g, buf, (size_t) n, -1, &from, from_len);
    }
}

static void
accept_tcp (struct guard *g)
{
  int fd = accept4 (g->tcp, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  int slot = -1;

  if (fd < 0)
    return;
  for (int i = 0; i < MAX_TCP_CLIENTS && slot < 0; i++)
    if (g->tcpc[i].fd < 0)
      slot = i;
  if (slot < 0)
    {
      close (fd);
      return;
    }
  g->tcpc[slot].fd = fd;
  g->tcpc[slot].have = 0;
  g->tcpc[slot].deadline = monotonic_ms () + TCP_IDLE_MS;
}

static void
tcp_client_event (struct guard *g, int i)
{
  struct tcp_client *c = &g->tcpc[i];
  ssize_t n = recv (c->fd, c->buf + c->have, sizeof (c->buf) - c->have, MSG_DONTWAIT);
  size_t off = 0;

  if (n < 0)
    {
      if (errno != EAGAIN && errno != EINTR)
        tcp_client_close (g, i);
      return;
    }
  if (n == 0)
    {
      /* A client may send its queries and shut its side down (RFC 7766
       * 6.2.4): it still gets its answers; expire() closes it after. */
      if (tcp_client_waits (g, i))
        c->read_done = true;
      else
        tcp_client_close (g, i);
      return;
    }
  c->have += (size_t) n;
  c->deadline = monotonic_ms () + TCP_IDLE_MS;
  /* Every complete length-prefixed message in the buffer (pipelining). */
  while (c->fd >= 0 && c->have - off >= 2)
    {
      size_t want = ((size_t) c->buf[off] << 8) | c->buf[off + 1];
      if (c->have - off < want + 2)
        break;
      handle_query (g, c->buf + off + 2, want, i, NULL, 0);
      off += want + 2;
    }
  if (c->fd >= 0 && off > 0)
    {
      memmove (c->buf, c->buf + off, c->have - off);
      c->have -= off;
    }
}

/* ---- loop ---- */

static void
expire (struct guard *g, uint64_t now)
{
  /* No answer in time: SERVFAIL rather than a client left waiting. */
  for (int i = 0; i < MAX_PENDING; i++)
    if (g->pending[i].used && g->pending[i].tcp_retry < 0 && g->pending[i].deadline <= now)
      {
        g->upstream_errors++;
        pending_fail (g, i, DNS_RCODE_SERVFAIL);
      }
  for (int i = 0; i < MAX_TCP_UPSTREAM; i++)
    if (g->tcpu[i].fd >= 0 && g->tcpu[i].deadline <= now)
      {
        int pi = g->tcpu[i].pending;
        g->upstream_errors++;
        tcp_upstream_close (g, i);
        pending_fail (g, pi, DNS_RCODE_SERVFAIL);
      }
  for (int i = 0; i < MAX_TCP_CLIENTS; i++)
    if (g->tcpc[i].fd >= 0 && (g->tcpc[i].deadline <= now || (g->tcpc[i].read_done && !tcp_client_waits (g, i))))
      tcp_client_close (g, i);
}

/* The guard's loop, until the container ends. */
static _Noreturn void
guard_loop (struct guard *g)
{
  struct pollfd fds[5 + MAX_TCP_CLIENTS + MAX_TCP_UPSTREAM];
  int map[5 + MAX_TCP_CLIENTS + MAX_TCP_UPSTREAM];

  for (;;)
    {
      nfds_t n = 0;
      uint64_t now;
      int r;

      fds[n++] = (struct pollfd){ .fd = g->pidfd, .events = POLLIN };
      fds[n++] = (struct pollfd){ .fd = g->udp, .events = POLLIN };
      fds[n++] = (struct pollfd){ .fd = g->tcp, .events = POLLIN };
      fds[n++] = (struct pollfd){ .fd = g->up, .events = POLLIN };
      /* Without name-bound egress, an fd poll ignores. */
      fds[n++] = (struct pollfd){ .fd = g->fc ? flowcheck_fd (g->fc) : -1, .events = POLLIN };
      for (int i = 0; i < MAX_TCP_CLIENTS; i++)
        if (g->tcpc[i].fd >= 0)
          {
            map[n] = i;
            fds[n++] = (struct pollfd){ .fd = g->tcpc[i].fd, .events = g->tcpc[i].read_done ? 0 : POLLIN };
          }
      for (int i = 0; i < MAX_TCP_UPSTREAM; i++)
        if (g->tcpu[i].fd >= 0)
          {
            map[n] = MAX_TCP_CLIENTS + i;
            fds[n++] = (struct pollfd){ .fd = g->tcpu[i].fd, .events = g->tcpu[i].sent ? POLLIN : POLLOUT };
          }
      r = poll (fds, n, 250);
      if (r < 0 && errno != EINTR)
        _exit (1);
      if (r > 0)
        {
          if (fds[0].revents)
            {
              if (g->dirty)
                write_status (g, monotonic_ms ());
              _exit (0); /* the container's init is gone */
            }
          if (fds[1].revents & POLLIN)
            read_udp (g);
          if (fds[2].revents & POLLIN)
            accept_tcp (g);
          if (fds[3].revents & POLLIN)
            read_upstream (g);
          /* A queue that fails for good: the guard ends, held flows stay
           * held (never let through unchecked), names stop resolving. */
          if (fds[4].revents && flowcheck_read (g->fc, g->rules, g->n_rules) < 0)
            _exit (1);
          for (nfds_t i = 5; i < n; i++)
            {
              if (fds[i].revents == 0)
                continue;
              if (map[i] < MAX_TCP_CLIENTS)
                {
                  if (g->tcpc[map[i]].fd == fds[i].fd)
                    tcp_client_event (g, map[i]);
                }
              else if (g->tcpu[map[i] - MAX_TCP_CLIENTS].fd == fds[i].fd)
                tcp_upstream_event (g, map[i] - MAX_TCP_CLIENTS, fds[i].revents);
            }
        }
      now = monotonic_ms ();
      expire (g, now);
      check_asks (g, now);
      if (g->dirty && now >= g->next_status)
        {
          write_status (g, now);
          g->next_status = now + STATUS_INTERVAL_MS;
        }
    }
}

/* ---- start ---- */

bool
dnsguard_needed (const state_record_t *rec)
{
  if (rec->ask && rec->ask[0])
    return true;
  for (char **e = rec->egress; e && *e; e++)
    {
      egress_rule_t r;
      if (egress_rule_parse (*e, &r, NULL) == 0 && egress_rule_is_name (&r))
        return true;
    }
  return false;
}

bool
dnsguard_on_wire (const state_record_t *rec)
{
  return strv_has_pair (rec->delegate_args, "--network", "sandbox");
}

const char *
dnsguard_address (const state_record_t *rec)
{
  return dnsguard_on_wire (rec) ? DNSGUARD_WIRE_ADDR : DNSGUARD_ADDR;
}

static int
listen_socket (int type, const char *addr, corral_error_t *err)
{
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons (DNSGUARD_PORT) };
  int one = 1;
  cleanup_close int fd = socket (AF_INET, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

  inet_pton (AF_INET, addr, &sa.sin_addr);
  if (fd < 0)
    return corral_error_make (err, errno, "open the DNS guard's socket");
  if (type == SOCK_STREAM)
    (void) setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof (one));
  /* The wire's address is on an interface that stays down until `runsc
   * start` (hooks/wire.h): not yet a local address to bind to. */
  if (str_eq (addr, DNSGUARD_WIRE_ADDR) && setsockopt (fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof (one)) < 0)
    return corral_error_make (err, errno, "IP_FREEBIND on the DNS guard's socket");
  if (bind (fd, (struct sockaddr *) &sa, sizeof (sa)) < 0)
    return corral_error_make (err, errno,
                              "bind %s:%d/%s in the container's network namespace (another DNS guard or resolver "
                              "there?)",
                              addr, DNSGUARD_PORT, type == SOCK_STREAM ? "tcp" : "udp");
  if (type == SOCK_STREAM && listen (fd, 64) < 0)
    return corral_error_make (err, errno, "listen on %s:%d/tcp", addr, DNSGUARD_PORT);
  return steal_fd (&fd);
}

static void
guard_release (struct guard *g)
{
  if (g->udp >= 0)
    close (g->udp);
  if (g->tcp >= 0)
    close (g->tcp);
  if (g->up >= 0)
    close (g->up);
  if (g->pidfd >= 0)
    close (g->pidfd);
  if (g->log_fd >= 0)
    close (g->log_fd);
  if (g->state_dirfd >= 0)
    close (g->state_dirfd);
  nftset_close (g->nft);
  flowcheck_close (g->fc);
  if (g->egress_log_fd >= 0)
    close (g->egress_log_fd);
  free (g->rules);
  free (g->ask_rules);
  free (g->agent);
  strv_free (g->anomaly_alert);
  free (g);
}

int
dnsguard_start (const char *state_dir, pid_t container_pid, const char *wire_device, corral_error_t *err)
{
  char pidbuf[16];
  char *args[] = { (char *) "daemon",        (char *) "dns-guard", (char *) "--state-dir",
                   (char *) state_dir,       (char *) "--pid",     pidbuf,
                   (char *) "--wire-device", (char *) wire_device, NULL };

  snprintf (pidbuf, sizeof (pidbuf), "%d", (int) container_pid);
  if (wire_device == NULL)
    args[6] = NULL;
  return daemon_spawn ("DNS guard", args, err);
}

/* Name-bound egress: the queue of the container's network namespace (the
 * caller is in it) and the egress log for denials. */
static int
open_flowcheck (struct guard *g, corral_error_t *err)
{
  g->egress_log_fd
      = open (CORRAL_LOG_DIR "/" EGRESS_LOG_NAME, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (g->egress_log_fd < 0)
    return corral_error_make (err, errno, "open `%s`", CORRAL_LOG_DIR "/" EGRESS_LOG_NAME);
  g->fc = flowcheck_open (g->rec, g->egress_log_fd, err);
  return g->fc ? 0 : -1;
}

/* Everything the guard's loop needs, opened before it says it is ready:
 * sockets in corral's own network namespace (host_netns_fd) and in the
 * container's.  On failure *ret is NULL. */
static int
guard_setup (const state_record_t *rec, const char *state_dir, pid_t container_pid, int host_netns_fd,
             const char *wire_device, struct guard **ret, corral_error_t *err)
{
  /* The address the container's resolv.conf names (written at create). */
  const char *addr = dnsguard_address (rec);
  cleanup_free char *ns_path = NULL, *table = NULL;
  cleanup_close int container_ns = -1;
  struct guard *g = xmalloc0 (sizeof (*g));
  size_t n = strv_len (rec->egress);
  int buf = 1 << 20;

  g->udp = g->tcp = g->up = g->pidfd = g->log_fd = g->state_dirfd = g->egress_log_fd = -1;
  memset (g->by_id, 0xff, sizeof (g->by_id));
  for (int i = 0; i < MAX_TCP_CLIENTS; i++)
    g->tcpc[i].fd = -1;
  for (int i = 0; i < MAX_TCP_UPSTREAM; i++)
    {
      g->tcpu[i].fd = -1;
      g->tcpu[i].pending = -1;
    }
  g->id = rec->id;
  g->rec = rec;
  g->grace = rec->dns_grace > 0 ? (uint32_t) rec->dns_grace : 1;
  g->rcode = rec->dns_rcode == DNS_RCODE_NXDOMAIN ? DNS_RCODE_NXDOMAIN : DNS_RCODE_REFUSED;
  g->rules = xmalloc0 ((n ? n : 1) * sizeof (*g->rules));
  for (size_t i = 0; i < n; i++)
    if (egress_rule_parse (rec->egress[i], &g->rules[g->n_rules], err) == 0)
      g->n_rules++;
    else
      goto fail;
  n = strv_len (rec->ask);
  g->ask_rules = xmalloc0 ((n ? n : 1) * sizeof (*g->ask_rules));
  for (size_t i = 0; i < n; i++)
    if (egress_rule_parse (rec->ask[i], &g->ask_rules[g->n_ask_rules], err) == 0)
      g->n_ask_rules++;
    else
      goto fail;
  g->ask_timeout_ms = (uint32_t) (rec->ask_timeout > 0 ? rec->ask_timeout : 60) * 1000;
  g->ask_alert = rec->ask_alert;
  if (rec->dns_upstream == NULL)
    {
      corral_error_make (err, 0, "the state record has domain names but no DNS upstream");
      goto fail;
    }
  if (dns_parse_server (rec->dns_upstream, &g->upstream, &g->upstream_len, err) < 0)
    goto fail;

  g->pidfd = (int) syscall (SYS_pidfd_open, container_pid, 0);
  if (g->pidfd < 0)
    {
      corral_error_make (err, errno, "pidfd_open of the container's init %d", (int) container_pid);
      goto fail;
    }
  if (mkdir_p (CORRAL_LOG_DIR, 0700, err) < 0)
    goto fail;
  g->log_fd = open (CORRAL_LOG_DIR "/" DNS_LOG_NAME, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (g->log_fd < 0)
    {
      corral_error_make (err, errno, "open `%s`", CORRAL_LOG_DIR "/" DNS_LOG_NAME);
      goto fail;
    }
  g->state_dirfd = open (state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (g->state_dirfd < 0)
    {
      corral_error_make (err, errno, "open state directory `%s`", state_dir);
      goto fail;
    }
  read_anomaly_plan (g);
  xasprintf (&ns_path, "/proc/%d/ns/net", (int) container_pid);
  container_ns = open (ns_path, O_RDONLY | O_CLOEXEC);
  if (container_ns < 0)
    {
      corral_error_make (err, errno, "open `%s`", ns_path);
      goto fail;
    }

  /* The upstream socket first, in corral's own namespace: the container's
   * table would drop its packets, and the container never sees it. */
  if (setns (host_netns_fd, CLONE_NEWNET) < 0)
    {
      corral_error_make (err, errno, "enter corral's own network namespace");
      goto fail;
    }
  g->up = socket (g->upstream.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (g->up < 0 || connect (g->up, (struct sockaddr *) &g->upstream, g->upstream_len) < 0)
    {
      corral_error_make (err, errno, "open the DNS guard's upstream socket to %s", rec->dns_upstream);
      goto fail;
    }
  (void) setsockopt (g->up, SOL_SOCKET, SO_RCVBUF, &buf, sizeof (buf));

  /* Then the listeners and the netlink socket, in the container's. */
  if (setns (container_ns, CLONE_NEWNET) < 0)
    {
      corral_error_make (err, errno, "enter the container's network namespace");
      goto fail;
    }
  if ((g->udp = listen_socket (SOCK_DGRAM, addr, err)) < 0 || (g->tcp = listen_socket (SOCK_STREAM, addr, err)) < 0)
    goto fail;
  (void) setsockopt (g->udp, SOL_SOCKET, SO_RCVBUF, &buf, sizeof (buf));
  table = wire_device ? nft_device_table (wire_device) : NULL;
  g->nft = table ? nftset_open (NFPROTO_NETDEV, table, err) : nftset_open (NFPROTO_INET, NFT_TABLE_NAME, err);
  if (g->nft == NULL)
    goto fail;
  if (rec->bind_names && open_flowcheck (g, err) < 0)
    goto fail;
  /* Back home: TCP retries to the upstream are opened from there. */
  if (setns (host_netns_fd, CLONE_NEWNET) < 0)
    {
      corral_error_make (err, errno, "return to corral's own network namespace");
      goto fail;
    }

  g->next_status = monotonic_ms ();
  g->dirty = true;
  *ret = g;
  return 0;

fail:
  guard_release (g);
  *ret = NULL;
  return -1;
}

int
dnsguard_daemon (const char *state_dir, pid_t container_pid, const char *wire_device)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_record state_record_t rec = { 0 };
  cleanup_close int host_ns = open ("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  struct guard *g = NULL;

  if (host_ns < 0)
    corral_error_make (&err, errno, "open corral's own network namespace");
  else if (state_record_read_dir (state_dir, &rec, &err) >= 0)
    (void) guard_setup (&rec, state_dir, container_pid, host_ns, wire_device, &g, &err);
  daemon_ready (err);
  if (g == NULL)
    return 1;
  /* Alert commands run in children nobody waits for. */
  signal (SIGCHLD, SIG_IGN);
  guard_loop (g);
}

int
dnsguard_write_resolv_conf (const char *state_dir, const state_record_t *rec, corral_error_t *err)
{
  cleanup_close int dirfd = open (state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  cleanup_free char *content = NULL;

  if (dirfd < 0)
    return corral_error_make (err, errno, "open state directory `%s`", state_dir);
  xasprintf (&content, "nameserver %s\n", dnsguard_address (rec));
  /* 0644: runc binds it as it is, and the agent (not root) reads it. */
  return file_replace_at (dirfd, DNSGUARD_RESOLV_NAME, content, strlen (content), 0644, err);
}

int
dnsguard_show_status (FILE *out, const char *state_dir, corral_error_t *err)
{
  cleanup_free char *path = NULL;
  cleanup_free char *data = NULL;
  cleanup_json json_t *o = NULL;
  cleanup_close int fd = -1;
  json_t *arr;
  size_t len;
  int64_t v;

  xasprintf (&path, "%s/" DNSGUARD_STATUS_NAME, state_dir);
  fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return errno == ENOENT ? 0 : corral_error_make (err, errno, "open `%s`", path);
  if (fd_read_all (fd, 4 * 1024 * 1024, path, &data, &len, err) < 0)
    return -1;
  o = json_parse (data, len, err);
  if (o == NULL)
    return corral_error_wrap (err, "DNS guard status `%s`", path);
  fprintf (out, "dns guard: queries %" PRId64, json_int64 (json_get (o, "queries"), &v) ? v : 0);
  fprintf (out, ", allowed %" PRId64, json_int64 (json_get (o, "allowed"), &v) ? v : 0);
  fprintf (out, ", denied %" PRId64, json_int64 (json_get (o, "denied"), &v) ? v : 0);
  fprintf (out, ", malformed %" PRId64, json_int64 (json_get (o, "malformed"), &v) ? v : 0);
  fprintf (out, ", upstream errors %" PRId64 "\n", json_int64 (json_get (o, "upstream_errors"), &v) ? v : 0);
  fprintf (out, "names resolved:\n");
  arr = json_get (o, "resolved_names");
  for (size_t i = 0; i < json_len (arr); i++)
    {
      json_t *e = json_at (arr, i);
      fprintf (out, "  %-40s %-6s count %" PRId64 "  %s\n", json_get_string (e, "name"), json_get_string (e, "type"),
               json_int64 (json_get (e, "count"), &v) ? v : 0,
               json_get_string (e, "addresses") ? json_get_string (e, "addresses") : "");
    }
  if (json_len (arr) == 0)
    fprintf (out, "  (none)\n");
  fprintf (out, "names denied:\n");
  arr = json_get (o, "denied_names");
  for (size_t i = 0; i < json_len (arr); i++)
    {
      json_t *e = json_at (arr, i);
      fprintf (out, "  %-40s %-6s count %" PRId64 "\n", json_get_string (e, "name"), json_get_string (e, "type"),
               json_int64 (json_get (e, "count"), &v) ? v : 0);
    }
  if (json_len (arr) == 0)
    fprintf (out, "  (none)\n");
  arr = json_get (o, "asks");
  if (json_len (arr) > 0)
    fprintf (out, "ask names:\n");
  for (size_t i = 0; i < json_len (arr); i++)
    {
      json_t *e = json_at (arr, i);
      fprintf (out, "  %-40s %-8s since %s%s%s\n", json_get_string (e, "name"), json_get_string (e, "state"),
               json_get_string (e, "since"), json_get_string (e, "by") ? ", by " : "",
               json_get_string (e, "by") ? json_get_string (e, "by") : "");
    }
  return 1;
}

/* A name as the guard writes it: lower case, no trailing dot, and only
 * what a host name holds (it becomes part of a file name). */
static int
normal_name (const char *in, char *out, size_t size, corral_error_t *err)
{
  size_t n = strlen (in);

  if (n > 0 && in[n - 1] == '.')
    n--;
  if (n == 0 || n >= size)
    return corral_error_make (err, EINVAL, "`%s` is not a domain name", in);
  for (size_t i = 0; i < n; i++)
    {
      char c = (char) tolower ((unsigned char) in[i]);
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_')
          || (c == '.' && (i == 0 || in[i - 1] == '.')))
        return corral_error_make (err, EINVAL, "`%s` is not a domain name", in);
      out[i] = c;
    }
  out[n] = '\0';
  return 0;
}

int
dnsguard_decide (const char *state_dir, const state_record_t *rec, const char *name, bool approve, const char *reason,
                 corral_error_t *err)
{
  cleanup_json json_t *d = json_new_object ();
  cleanup_json json_t *fields = json_new_object ();
  cleanup_free char *file = NULL;
  cleanup_free char *data = NULL;
  cleanup_close int dirfd = -1;
  char norm[DNS_NAME_TEXT_MAX], by[256];
  bool listed = false;
  struct stat st;

  if (normal_name (name, norm, sizeof (norm), err) < 0)
    return -1;
  for (char **e = rec->ask; e && *e && !listed; e++)
    {
      egress_rule_t r;
      listed = egress_rule_parse (*e, &r, NULL) == 0 && egress_rule_matches_name (&r, norm);
    }
  if (!listed)
    return corral_error_make (err, ENOENT, "%s is not on the ask list of container %s%s", norm, rec->id,
                              rec->ask ? "" : " (its profile has no egress.ask)");
  dirfd = open (state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (dirfd < 0)
    return corral_error_make (err, errno, "open state directory `%s`", state_dir);
  xasprintf (&file, DNSGUARD_ASK_PREFIX "%s.json", norm);
  /* A decision stands for the container's life. */
  if (fstatat (dirfd, file, &st, AT_SYMLINK_NOFOLLOW) == 0)
    return corral_error_make (err, EEXIST, "%s was already decided for container %s", norm, rec->id);
  audit_actor (by, sizeof (by));
  json_set (d, "decision", json_new_string (approve ? "approve" : "deny"));
  json_set (d, "by", json_new_string (by));
  json_set (d, "reason", json_new_string (reason ? reason : ""));
  data = json_serialize (d, false);
  /* Recorded before the guard can act on it. */
  json_set (fields, "name", json_new_string (norm));
  json_set (fields, "by", json_new_string (by));
  json_set (fields, "reason", json_new_string (reason ? reason : ""));
  if (audit_record_event (rec, approve ? "approve" : "deny", fields, err) < 0)
    return -1;
  return file_replace_at (dirfd, file, data, strlen (data), 0600, err);
}
