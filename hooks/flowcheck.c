/* corral: the name check of name-bound egress (see flowcheck.h). */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "base/json.h"
#include "base/util.h"
#include "hooks/flowcheck.h"
#include "hooks/nft.h"
#include "services/audit.h"
#include "spec/flowname.h"
#include "spec/namebind.h"

/* Flows held at once.  Past it the one idle longest is forgotten: payload
 * of a flow not seen from its SYN is refused, so a forgotten flow that
 * sends more is reset, never judged from the middle of its stream. */
#define MAX_FLOWS 256
/* A flow idle this long is forgotten when a new one needs a slot (with the
 * same outcome if it sends more). */
#define FLOW_IDLE_MS 30000
#define RECV_SIZE (MNL_SOCKET_BUFFER_SIZE * 16)

struct flow
{
  bool used;
  /* 1 passed, -1 failed, 0 not judged yet.  A judged flow is kept until it
   * ends: its packets queued before the verdict changed its mark (a POST
   * body right behind its head) get the same verdict, not a new check. */
  int decided;
  int family;
  uint8_t saddr[16], daddr[16];
  uint16_t sport, dport;
  uint32_t next_seq;
  uint8_t *buf;
  size_t len;
  uint64_t last_ms;
};

struct flowcheck_s
{
  struct mnl_socket *nl;
  uint32_t portid;
  const egress_rule_t *rules; /* the guard's, during flowcheck_read */
  size_t n_rules;
  const state_record_t *rec;
  int log_fd;
  namebind_t binds;
  struct flow flows[MAX_FLOWS];
  char *recv_buf;
};

/* A packet as the check sees it. */
struct segment
{
  int family;
  const uint8_t *saddr, *daddr;
  uint16_t sport, dport;
  uint32_t seq;
  bool syn, fin_or_rst, urg;
  const uint8_t *payload;
  size_t len;
};

static uint16_t
get16 (const uint8_t *p)
{
  return (uint16_t) (p[0] << 8 | p[1]);
}

static uint32_t
get32 (const uint8_t *p)
{
  return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

/* An IPv4 or IPv6 packet carrying TCP (no IPv6 extension headers: the
 * table queues only TCP, and a header chain the check cannot follow is
 * refused). */
static bool
parse_segment (const uint8_t *p, size_t n, struct segment *s)
{
  size_t l4, total, doff;

  memset (s, 0, sizeof (*s));
  if (n >= 20 && p[0] >> 4 == 4)
    {
      l4 = (size_t) (p[0] & 0x0f) * 4;
      total = get16 (p + 2);
      if (l4 < 20 || p[9] != IPPROTO_TCP || total > n || total < l4)
        return false;
      s->family = AF_INET;
      s->saddr = p + 12;
      s->daddr = p + 16;
    }
  else if (n >= 40 && p[0] >> 4 == 6)
    {
      l4 = 40;
      total = 40 + (size_t) get16 (p + 4);
      if (p[6] != IPPROTO_TCP || total > n)
        return false;
      s->family = AF_INET6;
      s->saddr = p + 8;
      s->daddr = p + 24;
    }
  else
    return false;
  if (total < l4 + 20)
    return false;
  doff = (size_t) (p[l4 + 12] >> 4) * 4;
  if (doff < 20 || l4 + doff > total)
    return false;
  s->sport = get16 (p + l4);
  s->dport = get16 (p + l4 + 2);
  s->seq = get32 (p + l4 + 4);
  s->syn = (p[l4 + 13] & 0x02) != 0;
  s->fin_or_rst = (p[l4 + 13] & 0x05) != 0;
  s->urg = (p[l4 + 13] & 0x20) != 0;
  s->payload = p + l4 + doff;
  s->len = total - l4 - doff;
  return true;
}

static size_t
addr_len (int family)
{
  return family == AF_INET ? 4 : 16;
}

static bool
same_flow (const struct flow *f, const struct segment *s)
{
  return f->used && f->family == s->family && f->sport == s->sport && f->dport == s->dport
         && memcmp (f->saddr, s->saddr, addr_len (s->family)) == 0
         && memcmp (f->daddr, s->daddr, addr_len (s->family)) == 0;
}

static void
flow_forget (struct flow *f)
{
  free (f->buf);
  memset (f, 0, sizeof (*f));
}

static struct flow *
flow_find (flowcheck_t *fc, const struct segment *s)
{
  for (size_t i = 0; i < MAX_FLOWS; i++)
    if (same_flow (&fc->flows[i], s))
      return &fc->flows[i];
  return NULL;
}

/* A new flow's slot, at its SYN: a free one, else the one idle longest
 * (whose later payload then finds no state and is refused). */
static struct flow *
flow_new (flowcheck_t *fc, const struct segment *s, uint64_t now)
{
  struct flow *f = &fc->flows[0];

  for (size_t i = 0; i < MAX_FLOWS; i++)
    {
      struct flow *c = &fc->flows[i];
      if (c->used && now - c->last_ms > FLOW_IDLE_MS)
        flow_forget (c);
      if (!c->used || (f->used && c->last_ms < f->last_ms))
        f = c;
    }
  flow_forget (f);
  f->used = true;
  f->family = s->family;
  memcpy (f->saddr, s->saddr, addr_len (s->family));
  memcpy (f->daddr, s->daddr, addr_len (s->family));
  f->sport = s->sport;
  f->dport = s->dport;
  f->next_seq = s->seq + 1; /* the SYN counts one */
  return f;
}

/* ---- verdicts ---- */

/* The verdict on one queued packet; pkt (may be NULL) is handed back as
 * the packet's content: the bytes judged are the bytes sent, even if the
 * sender's pages (zero-copy sends) changed in between. */
static void
send_verdict_with (flowcheck_t *fc, uint32_t id_be, uint32_t verdict, uint32_t mark, const uint8_t *pkt, size_t n)
{
  char buf[256 + 65536];
  struct nlmsghdr *nlh = mnl_nlmsg_put_header (buf);
  struct nfgenmsg *nfg;
  struct nfqnl_msg_verdict_hdr vh = { .verdict = htonl (verdict), .id = id_be };

  nlh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_VERDICT;
  nlh->nlmsg_flags = NLM_F_REQUEST;
  nfg = mnl_nlmsg_put_extra_header (nlh, sizeof (*nfg));
  nfg->nfgen_family = AF_UNSPEC;
  nfg->version = NFNETLINK_V0;
  nfg->res_id = htons (NFT_NAMES_QUEUE);
  mnl_attr_put (nlh, NFQA_VERDICT_HDR, sizeof (vh), &vh);
  if (mark)
    mnl_attr_put_u32 (nlh, NFQA_MARK, htonl (mark));
  if (pkt && n <= 65535)
    mnl_attr_put (nlh, NFQA_PAYLOAD, n, pkt);
  /* A lost verdict leaves the packet queued: the flow stalls, it is never
   * let through. */
  (void) mnl_socket_sendto (fc->nl, nlh, nlh->nlmsg_len);
}

static void
send_verdict (flowcheck_t *fc, uint32_t id_be, uint32_t verdict, uint32_t mark)
{
  send_verdict_with (fc, id_be, verdict, mark, NULL, 0);
}

/* The denial, in the egress log and the audit log: the address, the name
 * the client asked for, the names that resolved to the address, and why. */
static void
log_denial (flowcheck_t *fc, const struct segment *s, const char *asked, const char *reason)
{
  cleanup_json json_t *r = json_new_record ("egress-name-deny");
  cleanup_json json_t *fields = NULL;
  cleanup_free char *bound = namebind_names_for (&fc->binds, s->family, s->daddr, monotonic_ms (), 8);
  char dst[INET6_ADDRSTRLEN];

  inet_ntop (s->family, s->daddr, dst, sizeof (dst));
  json_set (r, "container", json_new_string (fc->rec->id ? fc->rec->id : ""));
  json_set (r, "family", json_new_string (s->family == AF_INET ? "ipv4" : "ipv6"));
  json_set (r, "destination", json_new_string (dst));
  json_set (r, "protocol", json_new_string ("tcp"));
  json_set (r, "port", json_new_int (s->dport));
  json_set (r, "name", asked ? json_new_string (asked) : json_new_null ());
  json_set (r, "resolved_names", json_new_string (bound));
  json_set (r, "reason", json_new_string (reason));
  (void) json_write_line (fc->log_fd, r);
  fields = json_deep_copy (r);
  json_del (fields, "time");
  json_del (fields, "event");
  json_del (fields, "container");
  (void) audit_record_event (fc->rec, "egress-name-deny", fields, NULL);
}

/* Judge the first bytes of a flow: 1 allowed, 0 not complete yet, -1
 * refused (logged). */
static int
judge (flowcheck_t *fc, const struct flow *f, const struct segment *s)
{
  char name[EGRESS_NAME_MAX + 1] = "";
  enum flowname_status st = flowname_parse (f->buf, f->len, name, sizeof (name));
  enum namebind_verdict v;

  switch (st)
    {
    case FLOWNAME_NEED_MORE:
      return 0;
    case FLOWNAME_NAME:
      v = namebind_check (&fc->binds, fc->rules, fc->n_rules, name, s->family, s->daddr, IPPROTO_TCP, s->dport,
                          monotonic_ms ());
      if (v == NAMEBIND_ALLOW)
        return 1;
      log_denial (fc, s, name, namebind_verdict_name (v));
      return -1;
    case FLOWNAME_NO_NAME:
      log_denial (fc, s, NULL, "no name: a TLS ClientHello without SNI, or HTTP without Host");
      return -1;
    case FLOWNAME_ECH:
      log_denial (fc, s, NULL, "an encrypted ClientHello (ECH) hides the name");
      return -1;
    case FLOWNAME_TOO_LONG:
      log_denial (fc, s, NULL, "no complete ClientHello or HTTP request head within the bound");
      return -1;
    case FLOWNAME_INVALID:
      break;
    }
  log_denial (fc, s, NULL, "neither a TLS ClientHello nor an HTTP/1 request");
  return -1;
}

/* Refuse the flow of s: logged, and the packet goes back marked, so the
 * connection is reset. */
static void
refuse (flowcheck_t *fc, uint32_t id_be, struct flow *f, const struct segment *s, const char *reason)
{
  log_denial (fc, s, NULL, reason);
  if (f)
    {
      f->decided = -1;
      free (steal_pointer (&f->buf));
      f->len = 0;
    }
  send_verdict (fc, id_be, NF_REPEAT, NFT_MARK_NAME_DENIED);
}

/* Bytes of s the flow has seen already must be the same bytes: a sender
 * that says one thing to the check and another to the server (a changed
 * retransmission) is refused.  Returns how many of s's bytes are new, or
 * -1 when they differ or there is a gap before them. */
static ssize_t
new_bytes (const struct flow *f, const struct segment *s)
{
  uint32_t start = f->next_seq - (uint32_t) f->len;
  size_t at = (size_t) (uint32_t) (s->seq - start); /* modulo 2^32, as TCP counts */
  size_t old;

  if (at > f->len)
    return -1; /* a gap: the sender fills it first */
  old = f->len - at < s->len ? f->len - at : s->len;
  if (memcmp (f->buf + at, s->payload, old) != 0)
    return -1;
  return (ssize_t) (s->len - old);
}

/* One queued packet of a flow waiting for its check (every packet from
 * its SYN on, until its first bytes are judged). */
static void
check_packet (flowcheck_t *fc, uint32_t id_be, const uint8_t *pkt, size_t n)
{
  struct segment s;
  struct flow *f;
  ssize_t fresh;
  int r;

  /* Nothing to judge it by (an IPv6 extension header chain, a truncated
   * header): the flow is reset rather than left to time out. */
  if (!parse_segment (pkt, n, &s))
    {
      send_verdict (fc, id_be, NF_REPEAT, NFT_MARK_NAME_DENIED);
      return;
    }
  f = flow_find (fc, &s);
  if (s.syn)
    {
      /* A new connection: whatever an earlier one on the same addresses
       * and ports left is gone.  Data in a SYN (TCP Fast Open) would reach
       * the server before any check. */
      if (f)
        flow_forget (f);
      f = flow_new (fc, &s, monotonic_ms ());
      f->last_ms = monotonic_ms ();
      if (s.len > 0)
        refuse (fc, id_be, f, &s, "data in the SYN (TCP Fast Open) before the name check");
      else
        send_verdict (fc, id_be, NF_ACCEPT, 0);
      return;
    }
  if (f == NULL)
    {
      /* Not seen from its start (forgotten, or the table was full): its
       * bytes could be the middle of anything. */
      if (s.len == 0)
        send_verdict (fc, id_be, NF_ACCEPT, 0);
      else
        refuse (fc, id_be, NULL, &s, "a flow the check did not see from its start");
      return;
    }
  f->last_ms = monotonic_ms ();
  if (f->decided)
    {
      /* Queued before the verdict changed the connection's mark. */
      send_verdict (fc, id_be, NF_REPEAT, f->decided > 0 ? NFT_MARK_NAME_OK : NFT_MARK_NAME_DENIED);
      if (s.fin_or_rst)
        flow_forget (f);
      return;
    }
  if (s.len == 0)
    {
      /* Acknowledgements, the end: nothing to judge. */
      if (s.fin_or_rst)
        flow_forget (f);
      send_verdict (fc, id_be, NF_ACCEPT, 0);
      return;
    }
  /* Urgent data is taken out of the stream by the server's socket but not
   * by this reassembly: the two would read different bytes. */
  if (s.urg)
    {
      refuse (fc, id_be, f, &s, "urgent data before the name check");
      return;
    }
  fresh = new_bytes (f, &s);
  if (fresh < 0)
    {
      /* A gap waits for the sender to fill it; changed bytes are refused. */
      if ((size_t) (uint32_t) (s.seq - (f->next_seq - (uint32_t) f->len)) > f->len)
        send_verdict (fc, id_be, NF_DROP, 0);
      else
        refuse (fc, id_be, f, &s, "a retransmission with other bytes than the first time");
      return;
    }
  if (fresh == 0)
    {
      send_verdict_with (fc, id_be, NF_ACCEPT, 0, pkt, n);
      return;
    }
  {
    const uint8_t *tail = s.payload + (s.len - (size_t) fresh);
    size_t take = (size_t) fresh;

    if (f->len + take > FLOWNAME_MAX_BYTES)
      take = FLOWNAME_MAX_BYTES + 1 - f->len;
    f->buf = xrealloc (f->buf, f->len + take);
    memcpy (f->buf + f->len, tail, take);
    f->len += take;
    f->next_seq += (uint32_t) take;
  }
  r = judge (fc, f, &s);
  if (r == 0)
    {
      /* Not complete: this part goes on (a server does nothing with half a
       * ClientHello or request head); the part that completes it waits. */
      send_verdict_with (fc, id_be, NF_ACCEPT, 0, pkt, n);
      return;
    }
  f->decided = r;
  free (steal_pointer (&f->buf));
  f->len = 0;
  /* Back through the chain, marked: the verdict rules (hooks/nft.c) mark
   * the connection for the fast path, or reset it. */
  send_verdict_with (fc, id_be, NF_REPEAT, r > 0 ? NFT_MARK_NAME_OK : NFT_MARK_NAME_DENIED, pkt, n);
}

static int
packet_cb (const struct nlmsghdr *nlh, void *data)
{
  flowcheck_t *fc = data;
  const struct nfqnl_msg_packet_hdr *ph = NULL;
  const uint8_t *payload = NULL;
  size_t len = 0;
  struct nlattr *attr;

  if ((nlh->nlmsg_type & 0xff) != NFQNL_MSG_PACKET)
    return MNL_CB_OK;
  mnl_attr_for_each (attr, nlh, sizeof (struct nfgenmsg))
  {
    if (mnl_attr_get_type (attr) == NFQA_PACKET_HDR && mnl_attr_get_payload_len (attr) >= sizeof (*ph))
      ph = mnl_attr_get_payload (attr);
    else if (mnl_attr_get_type (attr) == NFQA_PAYLOAD)
      {
        payload = mnl_attr_get_payload (attr);
        len = mnl_attr_get_payload_len (attr);
      }
  }
  if (ph == NULL)
    return MNL_CB_OK;
  if (payload == NULL)
    send_verdict (fc, ph->packet_id, NF_DROP, 0);
  else
    check_packet (fc, ph->packet_id, payload, len);
  return MNL_CB_OK;
}

/* ---- the queue ---- */

static int
queue_config (struct mnl_socket *nl, uint16_t attr_type, const void *attr, size_t attr_len, corral_error_t *err)
{
  return nft_nfnl_config (nl, (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_CONFIG, NFT_NAMES_QUEUE, attr_type, attr, attr_len,
                          "the name-check queue", err);
}

flowcheck_t *
flowcheck_open (const state_record_t *rec, int log_fd, corral_error_t *err)
{
  struct nfqnl_msg_config_cmd cmd = { .command = NFQNL_CFG_CMD_BIND, .pf = htons (AF_UNSPEC) };
  struct nfqnl_msg_config_params params = { .copy_range = htonl (0xffff), .copy_mode = NFQNL_COPY_PACKET };
  flowcheck_t *fc = xmalloc0 (sizeof (*fc));

  fc->rec = rec;
  fc->log_fd = log_fd;
  fc->nl = mnl_socket_open2 (NETLINK_NETFILTER, SOCK_CLOEXEC);
  if (fc->nl == NULL || mnl_socket_bind (fc->nl, 0, MNL_SOCKET_AUTOPID) < 0)
    {
      corral_error_make (err, errno, "open the name-check queue socket");
      flowcheck_close (fc);
      return NULL;
    }
  fc->portid = mnl_socket_get_portid (fc->nl);
  /* A kernel that never answers must not hang the guard's start. */
  {
    struct timeval tv = { .tv_sec = 10 };
    (void) setsockopt (mnl_socket_get_fd (fc->nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof (tv));
  }
  if (queue_config (fc->nl, NFQA_CFG_CMD, &cmd, sizeof (cmd), err) < 0
      || queue_config (fc->nl, NFQA_CFG_PARAMS, &params, sizeof (params), err) < 0)
    {
      flowcheck_close (fc);
      return NULL;
    }
  fc->recv_buf = xmalloc (RECV_SIZE);
  return fc;
}

void
flowcheck_close (flowcheck_t *fc)
{
  if (fc == NULL)
    return;
  for (size_t i = 0; i < MAX_FLOWS; i++)
    flow_forget (&fc->flows[i]);
  if (fc->nl)
    mnl_socket_close (fc->nl);
  namebind_release (&fc->binds);
  free (fc->recv_buf);
  free (fc);
}

int
flowcheck_fd (const flowcheck_t *fc)
{
  return mnl_socket_get_fd (fc->nl);
}

void
flowcheck_bind (flowcheck_t *fc, const char *name, int family, const uint8_t *addr, uint64_t expires_ms)
{
  namebind_add (&fc->binds, name, family, addr, expires_ms);
}

int
flowcheck_read (flowcheck_t *fc, const egress_rule_t *rules, size_t n_rules)
{
  fc->rules = rules;
  fc->n_rules = n_rules;
  for (;;)
    {
      ssize_t n = recv (mnl_socket_get_fd (fc->nl), fc->recv_buf, RECV_SIZE, MSG_DONTWAIT);

      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
      if (n < 0 && (errno == EINTR || errno == ENOBUFS))
        continue; /* the kernel dropped messages: their packets were dropped too */
      if (n <= 0)
        return -1;
      (void) mnl_cb_run (fc->recv_buf, (size_t) n, 0, fc->portid, packet_cb, fc);
    }
}
