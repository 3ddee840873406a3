/* corral: the createRuntime hook: egress table and denied-packet logger in
 * the container's network namespace, before the agent's first instruction. */
#include "config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <libmnl/libmnl.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sched.h>
#include <stdio.h>

#include "hooks/netns.h"
#include "base/daemon.h"
#include "hooks/dnsguard.h"
#include "hooks/hook.h"
#include "hooks/nflog.h"
#include "hooks/nft.h"
#include "services/audit.h"
#include "hooks/watchdog.h"
#include "hooks/wire.h"
#include "base/fs.h"
#include "base/log.h"
#include "services/state.h"
#include "base/util.h"
#include "spec/budget.h"
#include "spec/egress.h"
#include "base/json.h"

#define STATE_MAX (1024 * 1024)

int
hook_state_pid (const char *data, size_t len, pid_t *ret, corral_error_t *err)
{
  cleanup_json json_t *state = json_parse (data, len, err);
  int64_t pid;

  if (state == NULL)
    return corral_error_wrap (err, "OCI state on stdin");
  if (!json_int64 (json_get (state, "pid"), &pid) || pid <= 0 || pid > INT32_MAX)
    return corral_error_make (err, 0, "OCI state on stdin: no valid \"pid\"");
  *ret = (pid_t) pid;
  return 0;
}

static int
parse_rules (char **entries, egress_rule_t **ret, size_t *ret_n, corral_error_t *err)
{
  size_t n = strv_len (entries);
  cleanup_free egress_rule_t *rules = xmalloc0 ((n ? n : 1) * sizeof (*rules));

  for (size_t i = 0; i < n; i++)
    if (egress_rule_parse (entries[i], &rules[i], err) < 0)
      return -1;
  *ret = steal_pointer (&rules);
  *ret_n = n;
  return 0;
}

static int
parse_ports (char **entries, ingress_port_t **ret, size_t *ret_n, corral_error_t *err)
{
  size_t n = strv_len (entries);
  cleanup_free ingress_port_t *ports = xmalloc0 ((n ? n : 1) * sizeof (*ports));

  for (size_t i = 0; i < n; i++)
    if (ingress_port_parse (entries[i], &ports[i], err) < 0)
      return -1;
  *ret = steal_pointer (&ports);
  *ret_n = n;
  return 0;
}

/* The interfaces the sandbox took over: all present now but loopback, and
 * with skip_wire a DNS wire an earlier container in this netns left (it is
 * replaced); without, such a leftover is filtered like any interface. */
static char **
sandbox_devices (bool skip_wire, corral_error_t *err)
{
  struct if_nameindex *ifs = if_nameindex ();
  char **v;
  size_t n = 0;

  if (ifs == NULL)
    {
      corral_error_make (err, errno, "list network interfaces");
      return NULL;
    }
  for (struct if_nameindex *i = ifs; i->if_index != 0; i++)
    n++;
  v = xmalloc0 ((n + 1) * sizeof (char *));
  n = 0;
  for (struct if_nameindex *i = ifs; i->if_index != 0; i++)
    if (!str_eq (i->if_name, "lo") && !(skip_wire && wire_is_own_device (i->if_name)))
      v[n++] = xstrdup (i->if_name);
  if_freenameindex (ifs);
  return v;
}

/* Install one netdev table per interface of the sandbox; with a DNS guard,
 * first the guard's wire on the one interface there may then be. */
static int
install_device_tables (struct mnl_socket *nl, const nft_plan_t *plan, const nft_budget_t *budget, bool dns_wire,
                       char **ret_wire_device, corral_error_t *err)
{
  cleanup_strv char **devs = sandbox_devices (dns_wire, err);
  nft_dns_wire_t dns = { 0 };
  size_t n = strv_len (devs);

  if (devs == NULL)
    return -1;
  /* One quota and one rate per container, one way back for the guard's
   * answers: on one interface only. */
  if ((budget && n > 1) || (dns_wire && n != 1))
    return corral_error_make (err, ENOTSUP,
                              "%s under gVisor's own netstack need a single network interface, the sandbox has %zu",
                              dns_wire ? "domain names" : "byte, connection and DNS budgets", n);
  if (dns_wire && wire_create (devs[0], &dns, err) < 0)
    return corral_error_wrap (err, "the DNS guard's wire");
  for (size_t i = 0; i < n; i++)
    if (nft_install_egress_device (nl, devs[i], plan, budget, dns_wire ? &dns : NULL, err) < 0)
      return -1;
  if (dns_wire)
    *ret_wire_device = xstrdup (devs[0]);
  return 0;
}

/* runc brings loopback up in a fresh netns; runsc takes over only the
 * interfaces that are up, so under gVisor an offline container would have
 * no loopback at all.  Called in the container's netns. */
static int
loopback_up (corral_error_t *err)
{
  cleanup_close int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq ifr = { 0 };

  if (fd < 0)
    return corral_error_make (err, errno, "socket");
  strncpy (ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (ioctl (fd, SIOCGIFFLAGS, &ifr) < 0)
    return corral_error_make (err, errno, "read the flags of lo");
  if (ifr.ifr_flags & IFF_UP)
    return 0;
  ifr.ifr_flags |= IFF_UP;
  if (ioctl (fd, SIOCSIFFLAGS, &ifr) < 0)
    return corral_error_make (err, errno, "bring lo up");
  return 0;
}

static void
nl_closep (struct mnl_socket **nl)
{
  if (*nl)
    mnl_socket_close (*nl);
}

/* One netfilter socket carries the table batch and then the logger's NFLOG
 * subscription.  Besides saving a socket, this keeps the last close of the
 * socket that committed the batch out of the container's start: that close
 * waits for the kernel to free the transaction (an RCU grace period; 9-31
 * ms measured here), and it now happens in the logger, when the container
 * ends.  Our own close below only drops the hook's reference. */
static bool
has_budget (const nft_budget_t *b)
{
  return b && (b->egress_bytes || b->connections_per_minute || b->dns_queries_per_minute || b->count_connections);
}

/* ret_wire_device: the sandbox's interface when the DNS guard serves it on
 * the wire side (hooks/wire.h), else NULL. */
static int
install_egress (pid_t pid, const state_record_t *rec, bool per_device, const nft_budget_t *budget,
                char **ret_wire_device, corral_error_t *err)
{
  cleanup_free egress_rule_t *rules = NULL;
  cleanup_free ingress_port_t *ports = NULL;
  __attribute__ ((cleanup (nl_closep))) struct mnl_socket *nl = NULL;
  nft_plan_t plan = { 0 };

  *ret_wire_device = NULL;
  if (rec->egress == NULL || rec->id == NULL || rec->log_group <= 0 || rec->log_group > 65535)
    return corral_error_make (err, 0, "the state record has no egress plan");
  plan.log_group = (uint16_t) rec->log_group;
  plan.bind_names = rec->bind_names;
  if (parse_rules (rec->egress, &rules, &plan.n_rules, err) < 0
      || parse_ports (rec->ingress, &ports, &plan.n_ports, err) < 0)
    return -1;
  plan.rules = rules;
  plan.ports = ports;
  if (per_device && dnsguard_needed (rec))
    {
      (void) inet_pton (AF_INET, DNSGUARD_WIRE_ADDR, &plan.guard_addr);
      plan.guard_device = WIRE_GUARD_DEV;
    }
  if (netns_enter (pid, err) < 0
      || (nl = nft_open (err)) == NULL
      /* gVisor's own netstack bypasses the inet table: its budgets are
       * counted in the netdev table on its interface instead. */
      || nft_install_egress_budget (nl, &plan, per_device ? NULL : budget, err) < 0
      || (per_device
          && (install_device_tables (nl, &plan, has_budget (budget) ? budget : NULL, dnsguard_needed (rec),
                                     ret_wire_device, err)
                  < 0
              || loopback_up (err) < 0)))
    return -1;
  return 0;
}

/* From corral's own network namespace: the denied-packet logger, and the
 * DNS guard when the container has names. */
static int
start_helpers (pid_t pid, const state_record_t *rec, const char *state_dir, const char *wire_device,
               corral_error_t *err)
{
  if (nflog_start (state_dir, pid, err) < 0)
    return -1;
  return dnsguard_needed (rec) ? dnsguard_start (state_dir, pid, wire_device, err) : 0;
}

/* The table's budget objects from the container's budget plan, if any: the
 * byte quota starts at the run's budget, else the agent's daily one (the
 * watchdog lowers it to what is left of the day). */
static int
read_nft_budget (const char *state_dir, nft_budget_t *ret, corral_error_t *err)
{
  cleanup_free char *path = NULL, *data = NULL, *id = NULL, *agent = NULL;
  cleanup_close int fd = -1;
  cleanup_json json_t *plan = NULL;
  corral_budgets_t b;
  size_t len;

  memset (ret, 0, sizeof (*ret));
  xasprintf (&path, "%s/" WATCHDOG_PLAN, state_dir);
  fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT)
    return 0;
  if (fd < 0)
    return corral_error_make (err, errno, "open `%s`", path);
  if (fd_read_all (fd, STATE_MAX, path, &data, &len, err) < 0 || (plan = json_parse (data, len, err)) == NULL
      || budget_plan_parse (plan, &b, &id, &agent, err) < 0)
    return -1;
  ret->egress_bytes = (uint64_t) (b.limit[BUDGET_EGRESS] > 0 ? b.limit[BUDGET_EGRESS] : b.daily[BUDGET_EGRESS]);
  ret->connections_per_minute = (uint32_t) b.limit[BUDGET_CONNECTIONS];
  ret->dns_queries_per_minute = (uint32_t) b.limit[BUDGET_DNS_QUERIES];
  /* Counted for the anomaly baseline, and for the connection breaker's
   * alert, which reports the connections of the last minute. */
  ret->count_connections = b.anomaly_rate_factor > 0 || b.limit[BUDGET_CONNECTIONS] > 0;
  budget_clear (&b);
  return 1;
}

int
hook_install_egress (pid_t pid, const state_record_t *rec, const char *state_dir, bool per_device, corral_error_t *err)
{
  cleanup_close int host_ns = open ("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  cleanup_free char *wire_device = NULL;
  nft_budget_t budget;
  int has_budget;

  if (host_ns < 0)
    return corral_error_make (err, errno, "open corral's own network namespace");
  has_budget = read_nft_budget (state_dir, &budget, err);
  if (has_budget < 0 || install_egress (pid, rec, per_device, &budget, &wire_device, err) < 0)
    return -1;
  /* Home again: the helpers start from corral's own namespace (the DNS
   * guard's upstream socket is opened there; the watchdog reaches runsc's
   * control sockets, abstract unix sockets of a network namespace, from
   * there), and so does the caller. */
  if (setns (host_ns, CLONE_NEWNET) < 0)
    return corral_error_make (err, errno, "return to corral's own network namespace");
  if (start_helpers (pid, rec, state_dir, wire_device, err) < 0)
    return -1;
  /* The watchdog, which runsc's best-effort poststart hooks cannot be
   * trusted to start. */
  return has_budget ? watchdog_start (state_dir, pid, err) : 0;
}

static int
read_state (pid_t *ret, corral_error_t *err)
{
  cleanup_free char *data = NULL;
  size_t len;

  if (fd_read_all (STDIN_FILENO, STATE_MAX, "OCI state on stdin", &data, &len, err) < 0)
    return -1;
  return hook_state_pid (data, len, ret, err);
}

/* poststart: the budget watchdog. */
static int
poststart (const char *state_dir, corral_error_t *err)
{
  pid_t pid;

  if (read_state (&pid, err) < 0)
    return -1;
  return watchdog_start (state_dir, pid, err);
}

/* A failing hook stops the container; the audit log says why. */
static void
audit_hook_error (const state_record_t *rec, const char *stage, const char *msg)
{
  cleanup_json json_t *fields = json_new_object ();

  json_set (fields, "stage", json_new_string (stage));
  json_set (fields, "error", json_new_string (msg));
  (void) audit_record_event (rec, "hook-error", fields, NULL);
}

static int
create_runtime (const char *state_dir, corral_error_t *err)
{
  cleanup_free char *data = NULL;
  cleanup_record state_record_t rec = { 0 };
  cleanup_close int host_ns = -1;
  cleanup_free char *wire_device = NULL;
  nft_budget_t budget;
  size_t len;
  pid_t pid;
  int ret;

  if (fd_read_all (STDIN_FILENO, STATE_MAX, "OCI state on stdin", &data, &len, err) < 0
      || hook_state_pid (data, len, &pid, err) < 0)
    return -1;
  if (state_record_read_dir (state_dir, &rec, err) < 0)
    return -1;
  if (read_nft_budget (state_dir, &budget, err) < 0)
    return -1;
  host_ns = open ("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (host_ns < 0)
    ret = corral_error_make (err, errno, "open corral's own network namespace");
  else
    ret = install_egress (pid, &rec, false, &budget, &wire_device, err);
  /* The helpers start from corral's own namespace, which the install left. */
  if (ret == 0 && setns (host_ns, CLONE_NEWNET) < 0)
    ret = corral_error_make (err, errno, "return to corral's own network namespace");
  if (ret == 0)
    ret = start_helpers (pid, &rec, state_dir, NULL, err);
  if (ret < 0)
    audit_hook_error (&rec, "create-runtime", (*err)->msg);
  return ret;
}

int
hook_main (int argc, char **argv)
{
  cleanup_error corral_error_t err = NULL;
  const char *stage = argc > 0 ? argv[0] : NULL;
  const char *state_dir = NULL;

  for (int i = 1; i + 1 < argc; i++)
    if (str_eq (argv[i], "--state-dir"))
      state_dir = argv[++i];
  if (stage == NULL || state_dir == NULL || state_dir[0] != '/')
    {
      log_error ("usage: corral hook create-runtime|poststart --state-dir DIR (OCI state on stdin)");
      return 1;
    }
  if (str_eq (stage, "poststart"))
    {
      if (poststart (state_dir, &err) < 0)
        {
          /* runc kills the container when a poststart hook fails. */
          log_error ("corral budget watchdog: %s; the container is stopped", err->msg);
          return 1;
        }
      return 0;
    }
  if (!str_eq (stage, "create-runtime"))
    {
      log_error ("corral hook: unknown stage `%s`", stage);
      return 1;
    }
  if (create_runtime (state_dir, &err) < 0)
    {
      /* runc puts the hook's stderr into its error, which the engine shows. */
      log_error ("corral egress filter: %s; the container is not started", err->msg);
      return 1;
    }
  return 0;
}

/* A container init's pid, as the daemons get it. */
static bool
parse_pid (const char *s, pid_t *ret)
{
  char *end;
  long v;

  errno = 0;
  v = s ? strtol (s, &end, 10) : 0;
  if (s == NULL || errno || *end || v <= 0 || v > INT_MAX)
    return false;
  *ret = (pid_t) v;
  return true;
}

int
hook_daemon_main (int argc, char **argv)
{
  const char *kind = argc > 0 ? argv[0] : NULL;
  const char *state_dir = NULL, *pid_text = NULL, *wire_device = NULL;
  struct stat st;
  pid_t pid;

  for (int i = 1; i + 1 < argc; i += 2)
    if (str_eq (argv[i], "--state-dir"))
      state_dir = argv[i + 1];
    else if (str_eq (argv[i], "--pid"))
      pid_text = argv[i + 1];
    else if (str_eq (argv[i], "--wire-device"))
      wire_device = argv[i + 1];
  if (kind == NULL || state_dir == NULL || state_dir[0] != '/' || !parse_pid (pid_text, &pid) || argc % 2 == 0)
    {
      log_error ("usage: corral daemon egress-logger|dns-guard|watchdog --state-dir DIR --pid PID "
                 "[--wire-device DEV]");
      return 1;
    }
  /* Its readiness pipe: never write into whatever else fd 3 is. */
  if (fstat (DAEMON_READY_FD, &st) < 0 || !S_ISFIFO (st.st_mode))
    {
      log_error ("corral daemon: started by corral's hooks only (no readiness pipe on fd %d)", DAEMON_READY_FD);
      return 1;
    }
  if (str_eq (kind, "egress-logger"))
    return nflog_daemon (state_dir, pid);
  if (str_eq (kind, "dns-guard"))
    return dnsguard_daemon (state_dir, pid, wire_device);
  if (str_eq (kind, "watchdog"))
    return watchdog_daemon (state_dir, pid);
  log_error ("corral daemon: unknown helper `%s`", kind);
  return 1;
}
