/* corral: NFLOG subscription (libmnl) and the detached logger process. */
#include "config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "hooks/nflog.h"
#include "hooks/nft.h"
#include "services/audit.h"
#include "base/daemon.h"
#include "hooks/netns.h"
#include "base/fs.h"
#include "base/util.h"
#include "base/json.h"

/* At most this many records a second per container, so a flood of denied
 * packets cannot fill the disk; the rest is counted and summarised. */
#define LOG_RATE 20

static const char *
proto_name (uint8_t p)
{
  switch (p)
    {
    case IPPROTO_TCP:
      return "tcp";
    case IPPROTO_UDP:
      return "udp";
    case IPPROTO_ICMP:
      return "icmp";
    case IPPROTO_ICMPV6:
      return "icmpv6";
    default:
      return NULL;
    }
}

json_t *
nflog_describe_packet (const char *id, const uint8_t *pkt, size_t len)
{
  cleanup_json json_t *o = json_new_object ();
  char dst[INET6_ADDRSTRLEN];
  size_t l4;
  uint8_t proto;

  if (len < 1)
    return NULL;
  if ((pkt[0] >> 4) == 4 && len >= 20)
    {
      l4 = (size_t) (pkt[0] & 0x0f) * 4;
      proto = pkt[9];
      inet_ntop (AF_INET, pkt + 16, dst, sizeof (dst));
      json_set (o, "family", json_new_string ("ipv4"));
    }
  else if ((pkt[0] >> 4) == 6 && len >= 40)
    {
      /* Extension headers are not walked: the next header is reported as
       * is, which is what the filter saw first too. */
      l4 = 40;
      proto = pkt[6];
      inet_ntop (AF_INET6, pkt + 24, dst, sizeof (dst));
      json_set (o, "family", json_new_string ("ipv6"));
    }
  else
    return NULL;

  json_set (o, "event", json_new_string ("egress-deny"));
  json_set (o, "container", json_new_string (id));
  json_set (o, "destination", json_new_string (dst));
  if (proto_name (proto))
    json_set (o, "protocol", json_new_string (proto_name (proto)));
  else
    json_set (o, "protocol", json_new_int (proto));
  /* An IHL below 5 is not an IPv4 header (IP_HDRINCL can send one): there
   * is no transport header to take a port from. */
  if ((proto == IPPROTO_TCP || proto == IPPROTO_UDP) && l4 >= 20 && len >= l4 + 4)
    json_set (o, "port", json_new_int ((pkt[l4 + 2] << 8) | pkt[l4 + 3]));
  return steal_pointer (&o);
}

static int
nflog_config (struct mnl_socket *nl, uint16_t group, uint16_t attr_type, const void *attr, size_t attr_len,
              corral_error_t *err)
{
  return nft_nfnl_config (nl, (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG, group, attr_type, attr, attr_len,
                          "NFLOG group", err);
}

struct logger
{
  struct mnl_socket *nl; /* bound to the netns's log group */
  int pidfd;             /* the container's init: the logger ends with it */
  const char *id;
  int log_fd;
  const state_record_t *rec; /* audit log and subject */
  time_t window;
  unsigned in_window;
  unsigned long suppressed;
};

/* One record of the egress log: the time first, then desc's members. */
static void
write_record (int fd, const json_t *desc)
{
  cleanup_json json_t *r = json_new_record (json_get_string (desc, "event"));

  json_merge (r, desc);
  (void) json_write_line (fd, r);
}

/* The same record, chained into the audit log (best effort: the logger has
 * no one to report to, and the egress log has the line). */
static void
audit_deny (const struct logger *lg, const json_t *desc)
{
  cleanup_json json_t *fields = json_deep_copy (desc);

  json_del (fields, "event");
  json_del (fields, "container");
  (void) audit_record_event (lg->rec, "egress-deny", fields, NULL);
}

static void
rate_limited_write (struct logger *lg, const json_t *desc)
{
  time_t now = time (NULL);

  if (now != lg->window)
    {
      if (lg->suppressed)
        {
          cleanup_json json_t *r = json_new_record ("egress-deny-suppressed");

          json_set (r, "container", json_new_string (lg->id));
          json_set (r, "count", json_new_int ((int64_t) lg->suppressed));
          (void) json_write_line (lg->log_fd, r);
        }
      lg->window = now;
      lg->in_window = 0;
      lg->suppressed = 0;
    }
  if (++lg->in_window > LOG_RATE)
    lg->suppressed++;
  else
    {
      write_record (lg->log_fd, desc);
      audit_deny (lg, desc);
    }
}

static int
packet_cb (const struct nlmsghdr *nlh, void *data)
{
  struct logger *lg = data;
  struct nlattr *attr;
  const uint8_t *payload = NULL;
  size_t len = 0;
  bool frame = false;
  cleanup_json json_t *desc = NULL;

  if ((nlh->nlmsg_type & 0xff) != NFULNL_MSG_PACKET)
    return MNL_CB_OK;
  mnl_attr_for_each (attr, nlh, sizeof (struct nfgenmsg))
  {
    if (mnl_attr_get_type (attr) == NFULA_PAYLOAD)
      {
        payload = mnl_attr_get_payload (attr);
        len = mnl_attr_get_payload_len (attr);
      }
    else if (mnl_attr_get_type (attr) == NFULA_PREFIX)
      frame = str_eq (mnl_attr_get_str (attr), NFT_NETDEV_LOG_PREFIX);
  }
  /* Frames from the netdev (gVisor) table start with an Ethernet header. */
  if (payload && frame)
    {
      if (len < 14)
        return MNL_CB_OK;
      payload += 14;
      len -= 14;
    }
  if (payload)
    desc = nflog_describe_packet (lg->id, payload, len);
  if (desc)
    rate_limited_write (lg, desc);
  return MNL_CB_OK;
}

/* The logger's loop, until the container ends. */
static _Noreturn void
logger_loop (struct logger *lg)
{
  struct mnl_socket *nl = lg->nl;
  int pidfd = lg->pidfd;
  cleanup_free char *buf = xmalloc (MNL_SOCKET_BUFFER_SIZE);
  struct pollfd fds[2] = { { .fd = mnl_socket_get_fd (nl), .events = POLLIN }, { .fd = pidfd, .events = POLLIN } };

  for (;;)
    {
      if (poll (fds, 2, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          _exit (1);
        }
      if (fds[1].revents)
        _exit (0); /* the container's init is gone */
      if (fds[0].revents & POLLIN)
        {
          ssize_t n = recv (fds[0].fd, buf, MNL_SOCKET_BUFFER_SIZE, MSG_DONTWAIT);
          if (n > 0)
            mnl_cb_run (buf, (size_t) n, 0, 0, packet_cb, lg);
          else if (n < 0 && errno == ENOBUFS)
            lg->suppressed++; /* the kernel dropped records: say so */
        }
      else if (fds[0].revents)
        _exit (1);
    }
}

int
nflog_start (const char *state_dir, pid_t container_pid, corral_error_t *err)
{
  char pidbuf[16];
  char *args[] = { (char *) "daemon",
                   (char *) "egress-logger",
                   (char *) "--state-dir",
                   (char *) state_dir,
                   (char *) "--pid",
                   pidbuf,
                   NULL };

  snprintf (pidbuf, sizeof (pidbuf), "%d", (int) container_pid);
  return daemon_spawn ("egress logger", args, err);
}

/* Bind the container's log group on a netfilter socket of its network
 * namespace.  Returns 1 when bound, 0 when another logger of the same
 * namespace has it (then nothing is left to do), -1 on error. */
static int
bind_group (struct logger *lg, pid_t container_pid, uint16_t group, corral_error_t *err)
{
  struct nfulnl_msg_config_cmd cmd = { .command = NFULNL_CFG_CMD_BIND };
  struct nfulnl_msg_config_mode mode = { .copy_range = htonl (128), .copy_mode = NFULNL_COPY_PACKET };

  if (netns_enter (container_pid, err) < 0 || (lg->nl = nft_open (err)) == NULL)
    return -1;
  if (nflog_config (lg->nl, group, NFULA_CFG_CMD, &cmd, sizeof (cmd), err) < 0)
    {
      int e = (err && *err) ? (*err)->status : 0;

      /* The kernel lets one socket per netns bind a group and answers EPERM
       * to the next (nfnetlink_log.c, nfulnl_recv_config).  Containers that
       * share a netns (a Kubernetes pod's containers join the sandbox's,
       * Podman --network container:) find the group bound by the logger of
       * the netns owner, which logs the denied packets of the whole netns
       * and lives as long as it.  The table is in place; logging is too. */
      if (e == EPERM)
        {
          corral_error_release (err);
          return 0;
        }
      return -1;
    }
  if (nflog_config (lg->nl, group, NFULA_CFG_MODE, &mode, sizeof (mode), err) < 0)
    return -1;
  return 1;
}

static int
logger_setup (struct logger *lg, pid_t container_pid, corral_error_t *err)
{
  const state_record_t *rec = lg->rec;

  if (rec->id == NULL || rec->log_group <= 0 || rec->log_group > 65535)
    return corral_error_make (err, 0, "the state record has no egress plan");
  lg->id = rec->id;
  lg->pidfd = (int) syscall (SYS_pidfd_open, container_pid, 0);
  if (lg->pidfd < 0)
    return corral_error_make (err, errno, "pidfd_open of the container's init %d", (int) container_pid);
  if (mkdir_p (CORRAL_LOG_DIR, 0700, err) < 0)
    return -1;
  lg->log_fd = open (CORRAL_LOG_DIR "/" EGRESS_LOG_NAME, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (lg->log_fd < 0)
    return corral_error_make (err, errno, "open `%s`", CORRAL_LOG_DIR "/" EGRESS_LOG_NAME);
  return bind_group (lg, container_pid, (uint16_t) rec->log_group, err);
}

int
nflog_daemon (const char *state_dir, pid_t container_pid)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_record state_record_t rec = { 0 };
  struct logger lg = { .rec = &rec, .pidfd = -1, .log_fd = -1 };
  int r = state_record_read_dir (state_dir, &rec, &err);

  if (r >= 0)
    r = logger_setup (&lg, container_pid, &err);
  daemon_ready (err);
  if (r <= 0)
    return r < 0 ? 1 : 0;
  logger_loop (&lg);
}
