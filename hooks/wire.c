/* corral: the DNS guard's wire under gVisor's own netstack (see wire.h),
 * built over rtnetlink with libmnl: a veth pair, the guard's address, a
 * route back and a tc mirred action. */
#include "config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_mirred.h>
#include <linux/veth.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <poll.h>
#include <sys/wait.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

#include "hooks/dnsguard.h"
#include "hooks/netns.h"
#include "hooks/wire.h"
#include "base/util.h"

#define MSG_SIZE 1024

struct rtnl
{
  struct mnl_socket *nl;
  uint32_t seq;
};

static void
rtnl_close (struct rtnl *r)
{
  if (r->nl)
    mnl_socket_close (r->nl);
}

static int
rtnl_open (struct rtnl *r, corral_error_t *err)
{
  /* A kernel that never answers must not hang container creation. */
  struct timeval tv = { .tv_sec = 10 };

  r->seq = (uint32_t) time (NULL);
  r->nl = mnl_socket_open2 (NETLINK_ROUTE, SOCK_CLOEXEC);
  if (r->nl == NULL)
    return corral_error_make (err, errno, "open rtnetlink socket");
  if (mnl_socket_bind (r->nl, 0, MNL_SOCKET_AUTOPID) < 0
      || setsockopt (mnl_socket_get_fd (r->nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof (tv)) < 0)
    return corral_error_make (err, errno, "bind rtnetlink socket");
  return 0;
}

static struct nlmsghdr *
rtnl_msg (struct rtnl *r, char *buf, uint16_t type, uint16_t flags)
{
  struct nlmsghdr *nlh = mnl_nlmsg_put_header (buf);

  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  nlh->nlmsg_seq = r->seq++;
  return nlh;
}

/* Send one request and wait for its acknowledgement: 0, or -errno of the
 * kernel's answer (the caller decides which ones are errors). */
static int
rtnl_call (struct rtnl *r, struct nlmsghdr *nlh)
{
  char buf[MNL_SOCKET_BUFFER_SIZE];
  ssize_t n;
  int ret;

  if (mnl_socket_sendto (r->nl, nlh, nlh->nlmsg_len) < 0)
    return -errno;
  do
    {
      n = mnl_socket_recvfrom (r->nl, buf, sizeof (buf));
      if (n < 0)
        return errno == EAGAIN ? -ETIMEDOUT : -errno;
      ret = mnl_cb_run (buf, (size_t) n, nlh->nlmsg_seq, mnl_socket_get_portid (r->nl), NULL, NULL);
    }
  while (ret > 0);
  return ret < 0 ? -errno : 0;
}

static int
rtnl_do (struct rtnl *r, struct nlmsghdr *nlh, const char *what, corral_error_t *err)
{
  int ret = rtnl_call (r, nlh);

  return ret < 0 ? corral_error_make (err, -ret, "%s", what) : 0;
}

static int
sandbox_link (const char *device, uint32_t *ret_index, uint8_t *ret_mac, corral_error_t *err)
{
  cleanup_close int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq ifr = { 0 };

  if (fd < 0)
    return corral_error_make (err, errno, "socket");
  if (strlen (device) >= IFNAMSIZ)
    return corral_error_make (err, EINVAL, "interface name `%s`", device);
  strcpy (ifr.ifr_name, device);
  if (ioctl (fd, SIOCGIFHWADDR, &ifr) < 0)
    return corral_error_make (err, errno, "read the address of the sandbox's interface `%s`", device);
  if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER)
    return corral_error_make (err, ENOTSUP, "the sandbox's interface `%s` is not Ethernet", device);
  memcpy (ret_mac, ifr.ifr_hwaddr.sa_data, 6);
  *ret_index = if_nametoindex (device);
  if (*ret_index == 0)
    return corral_error_make (err, errno, "find the sandbox's interface `%s`", device);
  return 0;
}

/* A link message for the interface called name; ret_ifm (may be NULL)
 * for its flags. */
static struct nlmsghdr *
link_msg (struct rtnl *r, char *buf, uint16_t type, const char *name, struct ifinfomsg **ret_ifm)
{
  struct nlmsghdr *nlh = rtnl_msg (r, buf, type, 0);
  struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header (nlh, sizeof (*ifm));

  ifm->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz (nlh, IFLA_IFNAME, name);
  if (ret_ifm)
    *ret_ifm = ifm;
  return nlh;
}

/* Remove a pair an earlier container left in this netns (a pod's shared
 * namespace); removing one end removes both. */
static int
delete_pair (struct rtnl *r, corral_error_t *err)
{
  char buf[MSG_SIZE];
  int ret = rtnl_call (r, link_msg (r, buf, RTM_DELLINK, WIRE_QUERY_DEV, NULL));

  if (ret < 0 && ret != -ENODEV)
    return corral_error_make (err, -ret, "remove an old `%s`", WIRE_QUERY_DEV);
  return 0;
}

/* Both ends down, which gVisor skips when it takes the netns's interfaces
 * over at `runsc start`, and without ARP: the guard's end then sends every
 * frame to its own address, which is the sandbox's, so its answers need no
 * neighbour entry and gVisor takes them as its own. */
static int
create_pair (struct rtnl *r, const uint8_t *sandbox_mac, corral_error_t *err)
{
  char buf[MSG_SIZE];
  struct nlmsghdr *nlh = rtnl_msg (r, buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header (nlh, sizeof (*ifm));
  struct nlattr *info, *data, *peer;
  struct ifinfomsg *peer_ifm;
  int ret;

  ifm->ifi_family = AF_UNSPEC;
  ifm->ifi_flags = ifm->ifi_change = IFF_NOARP;
  mnl_attr_put_strz (nlh, IFLA_IFNAME, WIRE_QUERY_DEV);
  info = mnl_attr_nest_start (nlh, IFLA_LINKINFO);
  mnl_attr_put_strz (nlh, IFLA_INFO_KIND, "veth");
  data = mnl_attr_nest_start (nlh, IFLA_INFO_DATA);
  peer = mnl_attr_nest_start (nlh, VETH_INFO_PEER);
  peer_ifm = mnl_nlmsg_put_extra_header (nlh, sizeof (*peer_ifm));
  peer_ifm->ifi_family = AF_UNSPEC;
  peer_ifm->ifi_flags = peer_ifm->ifi_change = IFF_NOARP;
  mnl_attr_put_strz (nlh, IFLA_IFNAME, WIRE_GUARD_DEV);
  mnl_attr_put (nlh, IFLA_ADDRESS, 6, sandbox_mac);
  mnl_attr_nest_end (nlh, peer);
  mnl_attr_nest_end (nlh, data);
  mnl_attr_nest_end (nlh, info);
  ret = rtnl_call (r, nlh);
  if (ret == -EEXIST)
    return corral_error_make (err, EEXIST,
                              "create the DNS guard's veth pair " WIRE_QUERY_DEV "/" WIRE_GUARD_DEV
                              ": the container's network namespace already has an interface of that name");
  return ret < 0 ? corral_error_make (err, -ret, "create the DNS guard's veth pair " WIRE_QUERY_DEV "/" WIRE_GUARD_DEV)
                 : 0;
}

/* No IPv6 link-local address, so the pair sends nothing of its own when it
 * comes up.  A namespace with IPv6 disabled refuses IPv6 settings: there
 * is nothing to turn off then. */
static int
no_ipv6 (struct rtnl *r, const char *name, corral_error_t *err)
{
  char buf[MSG_SIZE];
  struct nlmsghdr *nlh = link_msg (r, buf, RTM_NEWLINK, name, NULL);
  struct nlattr *spec, *inet6;
  int ret;

  spec = mnl_attr_nest_start (nlh, IFLA_AF_SPEC);
  inet6 = mnl_attr_nest_start (nlh, AF_INET6);
  mnl_attr_put_u8 (nlh, IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE);
  mnl_attr_nest_end (nlh, inet6);
  mnl_attr_nest_end (nlh, spec);
  ret = rtnl_call (r, nlh);
  if (ret < 0 && ret != -EAFNOSUPPORT)
    return corral_error_make (err, -ret, "turn IPv6 off on `%s`", name);
  return 0;
}

static int
link_up (struct rtnl *r, const char *name, corral_error_t *err)
{
  char buf[MSG_SIZE];
  struct ifinfomsg *ifm;
  struct nlmsghdr *nlh = link_msg (r, buf, RTM_NEWLINK, name, &ifm);
  int ret;

  ifm->ifi_flags = ifm->ifi_change = IFF_UP;
  ret = rtnl_call (r, nlh);
  return ret < 0 ? corral_error_make (err, -ret, "bring `%s` up", name) : 0;
}

static int
add_guard_address (struct rtnl *r, uint32_t guard_index, in_addr_t addr, corral_error_t *err)
{
  char buf[MSG_SIZE];
  struct nlmsghdr *nlh = rtnl_msg (r, buf, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
  struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header (nlh, sizeof (*ifa));

  ifa->ifa_family = AF_INET;
  ifa->ifa_prefixlen = 32;
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  ifa->ifa_index = guard_index;
  mnl_attr_put (nlh, IFA_LOCAL, sizeof (addr), &addr);
  mnl_attr_put (nlh, IFA_ADDRESS, sizeof (addr), &addr);
  return rtnl_do (r, nlh, "add " DNSGUARD_WIRE_ADDR " to " WIRE_GUARD_DEV, err);
}

/* Answers from the guard's address go back through the pair, whatever
 * else the namespace routes: a table of its own (its route needs the
 * guard's end up, see wire_activate) and a rule selecting it. */
static int
add_return_rule (struct rtnl *r, in_addr_t addr, corral_error_t *err)
{
  char buf[MSG_SIZE];
  struct nlmsghdr *nlh = rtnl_msg (r, buf, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL);
  struct fib_rule_hdr *frh = mnl_nlmsg_put_extra_header (nlh, sizeof (*frh));
  int ret;

  frh->family = AF_INET;
  frh->src_len = 32;
  frh->action = FR_ACT_TO_TBL;
  mnl_attr_put (nlh, FRA_SRC, sizeof (addr), &addr);
  mnl_attr_put_u32 (nlh, FRA_TABLE, WIRE_ROUTE_TABLE);
  mnl_attr_put_u32 (nlh, FRA_PRIORITY, WIRE_RULE_PRIORITY);
  ret = rtnl_call (r, nlh);
  /* The same rule from an earlier container in this netns is as good. */
  if (ret < 0 && ret != -EEXIST)
    return corral_error_make (err, -ret, "add the DNS guard's routing rule");
  return 0;
}

static int
add_return_route (struct rtnl *r, uint32_t guard_index, corral_error_t *err)
{
  char buf[MSG_SIZE];
  struct nlmsghdr *nlh = rtnl_msg (r, buf, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE);
  struct rtmsg *rtm = mnl_nlmsg_put_extra_header (nlh, sizeof (*rtm));

  rtm->rtm_family = AF_INET;
  rtm->rtm_table = RT_TABLE_UNSPEC;
  rtm->rtm_protocol = RTPROT_STATIC;
  rtm->rtm_scope = RT_SCOPE_LINK;
  rtm->rtm_type = RTN_UNICAST;
  mnl_attr_put_u32 (nlh, RTA_TABLE, WIRE_ROUTE_TABLE);
  mnl_attr_put_u32 (nlh, RTA_OIF, guard_index);
  return rtnl_do (r, nlh, "add the DNS guard's return route", err);
}

/* tc: a clsact qdisc on the query end and, on its ingress, a u32 filter
 * matching every frame with one action, mirred ingress redirect to the
 * sandbox's interface: what the guard sends arrives there as received. */
static int
add_redirect (struct rtnl *r, uint32_t query_index, uint32_t sandbox_index, corral_error_t *err)
{
  char buf[MSG_SIZE];
  struct nlmsghdr *nlh = rtnl_msg (r, buf, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL);
  struct tcmsg *tcm = mnl_nlmsg_put_extra_header (nlh, sizeof (*tcm));
  struct
  {
    struct tc_u32_sel sel;
    struct tc_u32_key key; /* one key: offset 0, mask 0, matches all */
  } sel = { .sel = { .flags = TC_U32_TERMINAL, .nkeys = 1 } };
  struct tc_mirred mirred = { .action = TC_ACT_STOLEN, .eaction = TCA_INGRESS_REDIR, .ifindex = sandbox_index };
  struct nlattr *opts, *acts, *act, *act_opts;

  tcm->tcm_family = AF_UNSPEC;
  tcm->tcm_ifindex = (int) query_index;
  tcm->tcm_handle = TC_H_MAKE (TC_H_CLSACT, 0);
  tcm->tcm_parent = TC_H_CLSACT;
  mnl_attr_put_strz (nlh, TCA_KIND, "clsact");
  if (rtnl_do (r, nlh, "add a clsact qdisc to " WIRE_QUERY_DEV, err) < 0)
    return -1;

  nlh = rtnl_msg (r, buf, RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL);
  tcm = mnl_nlmsg_put_extra_header (nlh, sizeof (*tcm));
  tcm->tcm_family = AF_UNSPEC;
  tcm->tcm_ifindex = (int) query_index;
  tcm->tcm_parent = TC_H_MAKE (TC_H_CLSACT, TC_H_MIN_INGRESS);
  tcm->tcm_info = TC_H_MAKE (1U << 16, htons (ETH_P_ALL));
  mnl_attr_put_strz (nlh, TCA_KIND, "u32");
  opts = mnl_attr_nest_start (nlh, TCA_OPTIONS);
  mnl_attr_put (nlh, TCA_U32_SEL, sizeof (sel), &sel);
  acts = mnl_attr_nest_start (nlh, TCA_U32_ACT);
  act = mnl_attr_nest_start (nlh, 1);
  mnl_attr_put_strz (nlh, TCA_ACT_KIND, "mirred");
  act_opts = mnl_attr_nest_start (nlh, TCA_ACT_OPTIONS);
  mnl_attr_put (nlh, TCA_MIRRED_PARMS, sizeof (mirred), &mirred);
  mnl_attr_nest_end (nlh, act_opts);
  mnl_attr_nest_end (nlh, act);
  mnl_attr_nest_end (nlh, acts);
  mnl_attr_nest_end (nlh, opts);
  return rtnl_do (r, nlh, "add the tc redirect from " WIRE_QUERY_DEV " (kernel with cls_u32 and act_mirred?)", err);
}

bool
wire_is_own_device (const char *name)
{
  return str_eq (name, WIRE_QUERY_DEV) || str_eq (name, WIRE_GUARD_DEV);
}

int
wire_create (const char *device, nft_dns_wire_t *ret, corral_error_t *err)
{
  struct rtnl r __attribute__ ((cleanup (rtnl_close))) = { 0 };
  uint32_t sandbox_index, query_index, guard_index;
  uint8_t mac[6];
  in_addr_t addr;

  inet_pton (AF_INET, DNSGUARD_WIRE_ADDR, &addr);
  if (sandbox_link (device, &sandbox_index, mac, err) < 0 || rtnl_open (&r, err) < 0 || delete_pair (&r, err) < 0
      || create_pair (&r, mac, err) < 0 || no_ipv6 (&r, WIRE_QUERY_DEV, err) < 0
      || no_ipv6 (&r, WIRE_GUARD_DEV, err) < 0)
    return -1;
  query_index = if_nametoindex (WIRE_QUERY_DEV);
  guard_index = if_nametoindex (WIRE_GUARD_DEV);
  if (query_index == 0 || guard_index == 0)
    return corral_error_make (err, errno, "find the DNS guard's veth pair");
  if (add_guard_address (&r, guard_index, addr, err) < 0 || add_return_rule (&r, addr, err) < 0
      || add_redirect (&r, query_index, sandbox_index, err) < 0)
    return -1;
  ret->guard_addr = addr;
  ret->ifindex = query_index;
  memcpy (ret->mac, mac, sizeof (ret->mac));
  return 0;
}

int
wire_activate (corral_error_t *err)
{
  struct rtnl r __attribute__ ((cleanup (rtnl_close))) = { 0 };
  uint32_t guard_index;

  if (rtnl_open (&r, err) < 0 || link_up (&r, WIRE_GUARD_DEV, err) < 0 || link_up (&r, WIRE_QUERY_DEV, err) < 0)
    return -1;
  guard_index = if_nametoindex (WIRE_GUARD_DEV);
  if (guard_index == 0)
    return corral_error_make (err, errno, "find `%s`", WIRE_GUARD_DEV);
  return add_return_route (&r, guard_index, err);
}

/* ---- the watcher around runsc start ---- */

/* Has the netns seen an address removed from an interface other than the
 * pair's?  That is runsc taking the sandbox's interface over. */
static bool
saw_takeover (const char *buf, size_t len)
{
  const struct nlmsghdr *nlh = (const struct nlmsghdr *) buf;
  int left = (int) len;

  for (; mnl_nlmsg_ok (nlh, left); nlh = mnl_nlmsg_next (nlh, &left))
    if (nlh->nlmsg_type == RTM_DELADDR)
      {
        const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload (nlh);
        char name[IF_NAMESIZE];
        if (if_indextoname (ifa->ifa_index, name) == NULL || !wire_is_own_device (name))
          return true;
      }
  return false;
}

/* Wait (at most timeout_ms) for the takeover or for start's end. */
static void
wait_for_takeover (struct mnl_socket *nl, int done_fd, int timeout_ms)
{
  char buf[MNL_SOCKET_BUFFER_SIZE];

  for (;;)
    {
      struct pollfd p[2] = { { .fd = mnl_socket_get_fd (nl), .events = POLLIN }, { .fd = done_fd, .events = POLLIN } };
      int r = poll (p, 2, timeout_ms);
      ssize_t n;

      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0 || p[1].revents)
        return;
      n = recv (p[0].fd, buf, sizeof (buf), MSG_DONTWAIT);
      /* ENOBUFS: events were lost; one of them may have been it. */
      if ((n < 0 && errno == ENOBUFS) || (n > 0 && saw_takeover (buf, (size_t) n)))
        return;
    }
}

/* Does the guard's end still hold its address after runsc start? */
static int
check_pair_kept (corral_error_t *err)
{
  cleanup_close int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq ifr = { 0 };
  struct in_addr want;

  inet_pton (AF_INET, DNSGUARD_WIRE_ADDR, &want);
  strcpy (ifr.ifr_name, WIRE_GUARD_DEV);
  if (fd < 0 || ioctl (fd, SIOCGIFADDR, &ifr) < 0
      || ((struct sockaddr_in *) &ifr.ifr_addr)->sin_addr.s_addr != want.s_addr)
    return corral_error_make (err, 0,
                              "runsc took the DNS guard's wire (%s) over: its address is gone; the guard cannot "
                              "answer the sandbox",
                              WIRE_GUARD_DEV);
  return 0;
}

static int
watch (pid_t container_pid, int report_fd, int done_fd, corral_error_t *err)
{
  struct mnl_socket *nl = NULL;
  struct pollfd p = { .fd = done_fd, .events = POLLIN };
  int ret;

  if (netns_enter (container_pid, err) < 0)
    return -1;
  nl = mnl_socket_open2 (NETLINK_ROUTE, SOCK_CLOEXEC);
  if (nl == NULL || mnl_socket_bind (nl, RTMGRP_IPV4_IFADDR, MNL_SOCKET_AUTOPID) < 0)
    {
      if (nl)
        mnl_socket_close (nl);
      return corral_error_make (err, errno, "watch the container's addresses");
    }
  /* Subscribed: the caller may start runsc now. */
  if (write (report_fd, "R", 1) != 1)
    {
      mnl_socket_close (nl);
      return corral_error_make (err, errno, "tell corral the watcher is ready");
    }
  wait_for_takeover (nl, done_fd, 60 * 1000);
  mnl_socket_close (nl);
  ret = wire_activate (err);
  /* The check, once runsc start is over. */
  while (ret == 0 && poll (&p, 1, 60 * 1000) < 0 && errno == EINTR)
    ;
  return ret < 0 ? -1 : check_pair_kept (err);
}

int
wire_watch_start (pid_t container_pid, wire_watch_t *ret, corral_error_t *err)
{
  int report[2], done[2];
  pid_t pid;
  char c = 0;

  if (pipe2 (report, O_CLOEXEC) < 0)
    return corral_error_make (err, errno, "pipe");
  if (pipe2 (done, O_CLOEXEC) < 0)
    {
      close (report[0]);
      close (report[1]);
      return corral_error_make (err, errno, "pipe");
    }
  pid = fork ();
  if (pid == 0)
    {
      corral_error_t e = NULL;
      close (report[0]);
      close (done[1]);
      if (watch (container_pid, report[1], done[0], &e) < 0)
        {
          dprintf (report[1], "%s", e->msg);
          _exit (1);
        }
      _exit (0);
    }
  close (report[1]);
  close (done[0]);
  ret->pid = pid;
  ret->report_fd = report[0];
  ret->done_fd = done[1];
  if (pid < 0)
    {
      int e = errno;
      close (report[0]);
      close (done[1]);
      return corral_error_make (err, e, "fork the DNS wire's watcher");
    }
  if (read (ret->report_fd, &c, 1) == 1 && c == 'R')
    return 0;
  return wire_watch_finish (ret, err) < 0 ? -1 : corral_error_make (err, 0, "the DNS wire's watcher did not start");
}

int
wire_watch_finish (wire_watch_t *w, corral_error_t *err)
{
  char msg[512];
  ssize_t n, len = 0;
  int status;

  close (w->done_fd);
  while (len < (ssize_t) sizeof (msg) - 1
         && ((n = read (w->report_fd, msg + len, sizeof (msg) - 1 - (size_t) len)) > 0 || (n < 0 && errno == EINTR)))
    len += n > 0 ? n : 0;
  msg[len] = '\0';
  close (w->report_fd);
  while (waitpid (w->pid, &status, 0) < 0)
    if (errno != EINTR)
      return corral_error_make (err, errno, "wait for the DNS wire's watcher");
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    return corral_error_make (err, 0, "%s", len > 0 ? msg : "the DNS wire's watcher failed");
  return 0;
}
