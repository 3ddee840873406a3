/* corral: nftables through libmnl + libnftnl (no nft binary at run time). */
#include "config.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <libmnl/libmnl.h>
#include <net/if.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/xt_NFQUEUE.h>
#include <netinet/in.h>
#include <sys/time.h>
#include <time.h>

#include "hooks/nft.h"
#include "base/util.h"

#define BATCH_SIZE (256 * 1024)
/* nft's own encoding of ct state bits. */
#define CT_STATE_ESTABLISHED 0x2
#define CT_STATE_RELATED 0x4

struct batch
{
  struct mnl_nlmsg_batch *b;
  char *buf;
  uint32_t seq;
  size_t n_acks;   /* messages that will be acknowledged */
  uint16_t family; /* NFPROTO_INET, or NFPROTO_NETDEV under gVisor */
  const char *table;
};

static void
batch_init (struct batch *bt)
{
  bt->buf = xmalloc (BATCH_SIZE);
  bt->b = mnl_nlmsg_batch_start (bt->buf, BATCH_SIZE);
  bt->seq = (uint32_t) time (NULL);
  bt->n_acks = 0;
  nftnl_batch_begin (mnl_nlmsg_batch_current (bt->b), bt->seq++);
  mnl_nlmsg_batch_next (bt->b);
}

static void
batch_release (struct batch *bt)
{
  if (bt->b)
    mnl_nlmsg_batch_stop (bt->b);
  free (bt->buf);
}

static struct nlmsghdr *
batch_hdr (struct batch *bt, uint16_t type, uint16_t flags)
{
  struct nlmsghdr *nlh
      = nftnl_nlmsg_build_hdr (mnl_nlmsg_batch_current (bt->b), type, bt->family, flags | NLM_F_ACK, bt->seq++);
  bt->n_acks++;
  return nlh;
}

static void
batch_next (struct batch *bt)
{
  /* The plan is bounded (rules come from a policy), so running out of
   * batch space is a programming error. */
  if (!mnl_nlmsg_batch_next (bt->b))
    abort ();
}

static void
add_table (struct batch *bt, uint16_t type, uint16_t flags)
{
  struct nftnl_table *t = nftnl_table_alloc ();
  struct nlmsghdr *nlh;

  nftnl_table_set_str (t, NFTNL_TABLE_NAME, bt->table);
  nlh = batch_hdr (bt, type, flags);
  nftnl_table_nlmsg_build_payload (nlh, t);
  nftnl_table_free (t);
  batch_next (bt);
}

static void add_chain_policy (struct batch *bt, const char *name, uint32_t hook, const char *device, uint32_t policy);

static void
add_chain (struct batch *bt, const char *name, uint32_t hook, const char *device)
{
  add_chain_policy (bt, name, hook, device, NF_DROP);
}

static void
add_chain_policy (struct batch *bt, const char *name, uint32_t hook, const char *device, uint32_t policy)
{
  struct nftnl_chain *c = nftnl_chain_alloc ();
  struct nlmsghdr *nlh;

  nftnl_chain_set_str (c, NFTNL_CHAIN_TABLE, bt->table);
  if (device)
    nftnl_chain_set_str (c, NFTNL_CHAIN_DEV, device);
  nftnl_chain_set_str (c, NFTNL_CHAIN_NAME, name);
  nftnl_chain_set_str (c, NFTNL_CHAIN_TYPE, "filter");
  nftnl_chain_set_u32 (c, NFTNL_CHAIN_HOOKNUM, hook);
  nftnl_chain_set_s32 (c, NFTNL_CHAIN_PRIO, 0);
  nftnl_chain_set_u32 (c, NFTNL_CHAIN_POLICY, policy);
  nlh = batch_hdr (bt, NFT_MSG_NEWCHAIN, NLM_F_CREATE);
  nftnl_chain_nlmsg_build_payload (nlh, c);
  nftnl_chain_free (c);
  batch_next (bt);
}

static void
add_set (struct batch *bt, const char *name, uint32_t id, uint32_t key_type, uint32_t key_len)
{
  struct nftnl_set *s = nftnl_set_alloc ();
  struct nlmsghdr *nlh;

  nftnl_set_set_str (s, NFTNL_SET_TABLE, bt->table);
  nftnl_set_set_str (s, NFTNL_SET_NAME, name);
  nftnl_set_set_u32 (s, NFTNL_SET_FAMILY, bt->family);
  nftnl_set_set_u32 (s, NFTNL_SET_ID, id);
  nftnl_set_set_u32 (s, NFTNL_SET_KEY_TYPE, key_type);
  nftnl_set_set_u32 (s, NFTNL_SET_KEY_LEN, key_len);
  nftnl_set_set_u32 (s, NFTNL_SET_FLAGS, NFT_SET_TIMEOUT);
  nlh = batch_hdr (bt, NFT_MSG_NEWSET, NLM_F_CREATE);
  nftnl_set_nlmsg_build_payload (nlh, s);
  nftnl_set_free (s);
  batch_next (bt);
}

/* ---- rule expressions ---- */

static void
expr_meta (struct nftnl_rule *r, uint32_t key)
{
  struct nftnl_expr *e = nftnl_expr_alloc ("meta");
  nftnl_expr_set_u32 (e, NFTNL_EXPR_META_KEY, key);
  nftnl_expr_set_u32 (e, NFTNL_EXPR_META_DREG, NFT_REG_1);
  nftnl_rule_add_expr (r, e);
}

/* The connection's key (state, mark) into register 1. */
static void
expr_ct (struct nftnl_rule *r, uint32_t key)
{
  struct nftnl_expr *e = nftnl_expr_alloc ("ct");
  nftnl_expr_set_u32 (e, NFTNL_EXPR_CT_KEY, key);
  nftnl_expr_set_u32 (e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
  nftnl_rule_add_expr (r, e);
}

static void
expr_cmp (struct nftnl_rule *r, uint32_t op, const void *data, uint32_t len)
{
  struct nftnl_expr *e = nftnl_expr_alloc ("cmp");
  nftnl_expr_set_u32 (e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
  nftnl_expr_set_u32 (e, NFTNL_EXPR_CMP_OP, op);
  nftnl_expr_set (e, NFTNL_EXPR_CMP_DATA, data, len);
  nftnl_rule_add_expr (r, e);
}

static void
expr_payload (struct nftnl_rule *r, uint32_t base, uint32_t offset, uint32_t len)
{
  struct nftnl_expr *e = nftnl_expr_alloc ("payload");
  nftnl_expr_set_u32 (e, NFTNL_EXPR_PAYLOAD_BASE, base);
  nftnl_expr_set_u32 (e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
  nftnl_expr_set_u32 (e, NFTNL_EXPR_PAYLOAD_LEN, len);
  nftnl_expr_set_u32 (e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
  nftnl_rule_add_expr (r, e);
}

static void
expr_bitwise (struct nftnl_rule *r, const void *mask, uint32_t len)
{
  static const uint8_t zero[16];
  struct nftnl_expr *e = nftnl_expr_alloc ("bitwise");
  nftnl_expr_set_u32 (e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
  nftnl_expr_set_u32 (e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
  nftnl_expr_set_u32 (e, NFTNL_EXPR_BITWISE_LEN, len);
  nftnl_expr_set (e, NFTNL_EXPR_BITWISE_MASK, mask, len);
  nftnl_expr_set (e, NFTNL_EXPR_BITWISE_XOR, zero, len);
  nftnl_rule_add_expr (r, e);
}

static void
expr_counter (struct nftnl_rule *r)
{
  nftnl_rule_add_expr (r, nftnl_expr_alloc ("counter"));
}

static void
expr_verdict (struct nftnl_rule *r, uint32_t verdict)
{
  struct nftnl_expr *e = nftnl_expr_alloc ("immediate");
  nftnl_expr_set_u32 (e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
  nftnl_expr_set_u32 (e, NFTNL_EXPR_IMM_VERDICT, verdict);
  nftnl_rule_add_expr (r, e);
}

static void
expr_accept (struct nftnl_rule *r)
{
  expr_verdict (r, NF_ACCEPT);
}

static void
match_u8 (struct nftnl_rule *r, uint32_t meta_key, uint8_t value)
{
  expr_meta (r, meta_key);
  expr_cmp (r, NFT_CMP_EQ, &value, sizeof (value));
}

/* IPv4 or IPv6: inet tables ask the netfilter family; netdev tables see
 * frames and ask the ethertype. */
static void
match_ip_family (struct nftnl_rule *r, uint16_t table_family, int family)
{
  if (table_family == NFPROTO_NETDEV)
    {
      uint16_t ethertype = htons (family == AF_INET ? 0x0800 : 0x86dd);
      expr_meta (r, NFT_META_PROTOCOL);
      expr_cmp (r, NFT_CMP_EQ, &ethertype, sizeof (ethertype));
      return;
    }
  match_u8 (r, NFT_META_NFPROTO, family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6);
}

static void
match_daddr (struct nftnl_rule *r, uint16_t table_family, const egress_rule_t *rule)
{
  uint32_t len = rule->family == AF_INET ? 4 : 16;
  uint8_t mask[16] = { 0 };

  match_ip_family (r, table_family, rule->family);
  expr_payload (r, NFT_PAYLOAD_NETWORK_HEADER, rule->family == AF_INET ? 16 : 24, len);
  if (rule->prefix < len * 8)
    {
      for (unsigned i = 0; i < len; i++)
        {
          unsigned bits = rule->prefix > i * 8 ? rule->prefix - i * 8 : 0;
          mask[i] = bits >= 8 ? 0xff : (uint8_t) (0xff << (8 - bits));
        }
      expr_bitwise (r, mask, len);
    }
  expr_cmp (r, NFT_CMP_EQ, rule->addr, len);
}

static void
match_port (struct nftnl_rule *r, uint8_t proto, uint16_t port)
{
  uint16_t be = htons (port);

  match_u8 (r, NFT_META_L4PROTO, proto);
  expr_payload (r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2);
  expr_cmp (r, NFT_CMP_EQ, &be, sizeof (be));
}

static struct nftnl_rule *
rule_new (const struct batch *bt, const char *chain, const char *comment)
{
  struct nftnl_rule *r = nftnl_rule_alloc ();
  struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc (NFT_USERDATA_MAXLEN);

  nftnl_rule_set_str (r, NFTNL_RULE_TABLE, bt->table);
  nftnl_rule_set_str (r, NFTNL_RULE_CHAIN, chain);
  nftnl_rule_set_u32 (r, NFTNL_RULE_FAMILY, bt->family);
  /* The comment is what `nft list` and `corral egress show` print. */
  nftnl_udata_put_strz (ud, NFTNL_UDATA_RULE_COMMENT, comment);
  nftnl_rule_set_data (r, NFTNL_RULE_USERDATA, nftnl_udata_buf_data (ud), nftnl_udata_buf_len (ud));
  nftnl_udata_buf_free (ud);
  return r;
}

static void
rule_send (struct batch *bt, struct nftnl_rule *r)
{
  struct nlmsghdr *nlh = batch_hdr (bt, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND);
  nftnl_rule_nlmsg_build_payload (nlh, r);
  nftnl_rule_free (r);
  batch_next (bt);
}

static void
add_accept_rule_for (struct batch *bt, const char *chain, const egress_rule_t *rule)
{
  static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP };
  cleanup_free char *text = egress_rule_format (rule);
  cleanup_free char *comment = NULL;

  xasprintf (&comment, "allow %s", text);
  if (rule->port == 0)
    {
      struct nftnl_rule *r = rule_new (bt, chain, comment);
      match_daddr (r, bt->family, rule);
      expr_counter (r);
      expr_accept (r);
      rule_send (bt, r);
      return;
    }
  for (size_t i = 0; i < sizeof (protos); i++)
    {
      struct nftnl_rule *r;
      if (rule->proto && rule->proto != protos[i])
        continue;
      r = rule_new (bt, chain, comment);
      match_daddr (r, bt->family, rule);
      match_port (r, protos[i], rule->port);
      expr_counter (r);
      expr_accept (r);
      rule_send (bt, r);
    }
}

/* ---- name-bound egress (see nft.h) ---- */

static void expr_immediate (struct nftnl_rule *r, uint32_t dreg, const void *data, uint32_t len);

static void
expr_set_u32 (struct nftnl_rule *r, const char *type, uint32_t key, uint32_t value)
{
  struct nftnl_expr *e;

  expr_immediate (r, NFT_REG_1, &value, sizeof (value));
  e = nftnl_expr_alloc (type);
  nftnl_expr_set_u32 (e, str_eq (type, "ct") ? NFTNL_EXPR_CT_KEY : NFTNL_EXPR_META_KEY, key);
  nftnl_expr_set_u32 (e, str_eq (type, "ct") ? NFTNL_EXPR_CT_SREG : NFTNL_EXPR_META_SREG, NFT_REG_1);
  nftnl_rule_add_expr (r, e);
}

static void
match_ct_mark (struct nftnl_rule *r, uint32_t mark)
{
  expr_ct (r, NFT_CT_MARK);
  expr_cmp (r, NFT_CMP_EQ, &mark, sizeof (mark));
}

static void
match_meta_mark (struct nftnl_rule *r, uint32_t mark)
{
  expr_meta (r, NFT_META_MARK);
  expr_cmp (r, NFT_CMP_EQ, &mark, sizeof (mark));
}

static void
expr_tcp_reset (struct nftnl_rule *r)
{
  struct nftnl_expr *e = nftnl_expr_alloc ("reject");

  nftnl_expr_set_u32 (e, NFTNL_EXPR_REJECT_TYPE, NFT_REJECT_TCP_RST);
  nftnl_expr_set_u8 (e, NFTNL_EXPR_REJECT_CODE, 0);
  nftnl_rule_add_expr (r, e);
}

/* NFQUEUE through the xtables target (nft_compat): kernels built without
 * nft's own queue expression still have it.  No bypass flag: without a
 * reader the packet is dropped, never let through unchecked. */
static void
expr_queue (struct nftnl_rule *r, uint16_t queue)
{
  struct xt_NFQ_info_v3 *info = xmalloc0 (sizeof (*info));
  struct nftnl_expr *e = nftnl_expr_alloc ("target");

  info->queuenum = queue;
  info->queues_total = 1;
  nftnl_expr_set_str (e, NFTNL_EXPR_TG_NAME, "NFQUEUE");
  nftnl_expr_set_u32 (e, NFTNL_EXPR_TG_REV, 3);
  /* libnftnl takes ownership of info. */
  nftnl_expr_set (e, NFTNL_EXPR_TG_INFO, info, sizeof (*info));
  nftnl_rule_add_expr (r, e);
}

/* The guard's verdicts come back marked: passed, the flow is marked for
 * the fast path; failed, it is reset.  First in the chain, so a repeated
 * packet is counted once by the budget rules. */
static void
add_name_verdict_rules (struct batch *bt, const char *chain)
{
  struct nftnl_rule *r = rule_new (bt, chain, "name check passed: the flow takes the fast path");

  match_meta_mark (r, NFT_MARK_NAME_OK);
  expr_set_u32 (r, "ct", NFT_CT_MARK, NFT_CT_NAME_OK);
  expr_counter (r);
  expr_accept (r);
  rule_send (bt, r);

  r = rule_new (bt, chain, "name check failed: the flow is reset");
  match_meta_mark (r, NFT_MARK_NAME_DENIED);
  match_u8 (r, NFT_META_L4PROTO, IPPROTO_TCP);
  expr_set_u32 (r, "ct", NFT_CT_MARK, NFT_CT_NAME_DENIED);
  expr_counter (r);
  expr_tcp_reset (r);
  rule_send (bt, r);
}

/* Before the established rule: a flow that failed stays reset; one that
 * waits for its check goes to the guard, packet by packet, until its first
 * payload is judged. */
static void
add_name_check_rules (struct batch *bt, const char *chain)
{
  struct nftnl_rule *r = rule_new (bt, chain, "a flow that failed the name check");

  match_ct_mark (r, NFT_CT_NAME_DENIED);
  match_u8 (r, NFT_META_L4PROTO, IPPROTO_TCP);
  expr_counter (r);
  expr_tcp_reset (r);
  rule_send (bt, r);

  r = rule_new (bt, chain, "a flow waiting for its name check: to the DNS guard");
  match_ct_mark (r, NFT_CT_NAME_PENDING);
  expr_counter (r);
  expr_queue (r, NFT_NAMES_QUEUE);
  rule_send (bt, r);
}

/* Counted, logged to the NFLOG group and, in an inet table, rejected. */
static void
expr_deny (struct nftnl_rule *r, uint16_t table_family, uint16_t log_group)
{
  struct nftnl_expr *e;

  expr_counter (r);
  e = nftnl_expr_alloc ("log");
  nftnl_expr_set_u16 (e, NFTNL_EXPR_LOG_GROUP, log_group);
  nftnl_expr_set_u32 (e, NFTNL_EXPR_LOG_SNAPLEN, 128);
  /* The logger strips the Ethernet header of frames from netdev tables. */
  if (table_family == NFPROTO_NETDEV)
    nftnl_expr_set_str (e, NFTNL_EXPR_LOG_PREFIX, NFT_NETDEV_LOG_PREFIX);
  nftnl_rule_add_expr (r, e);
  if (table_family == NFPROTO_INET)
    {
      /* Reject rather than drop: an agent learns at once that the
       * destination is not allowed instead of hanging until a timeout. */
      e = nftnl_expr_alloc ("reject");
      nftnl_expr_set_u32 (e, NFTNL_EXPR_REJECT_TYPE, NFT_REJECT_ICMPX_UNREACH);
      nftnl_expr_set_u8 (e, NFTNL_EXPR_REJECT_CODE, NFT_REJECT_ICMPX_ADMIN_PROHIBITED);
      nftnl_rule_add_expr (r, e);
    }
}

/* ip[6] daddr @set */
static void
match_set (struct nftnl_rule *r, uint16_t table_family, const char *set, uint32_t set_id, int family)
{
  struct nftnl_expr *e;

  match_ip_family (r, table_family, family);
  expr_payload (r, NFT_PAYLOAD_NETWORK_HEADER, family == AF_INET ? 16 : 24, family == AF_INET ? 4 : 16);
  e = nftnl_expr_alloc ("lookup");
  nftnl_expr_set_u32 (e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
  nftnl_expr_set_str (e, NFTNL_EXPR_LOOKUP_SET, set);
  nftnl_expr_set_u32 (e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
  nftnl_rule_add_expr (r, e);
}

/* Sets of (address . protocol . port) the DNS guard fills for domain
 * entries with a port: nft's concatenated key, each field in its own 32-bit
 * register (ipv4_addr 4 bytes or ipv6_addr 16, inet_proto 1 -> 4, inet_service
 * 2 -> 4), its type the datatypes shifted in 6 bits at a time (nft's
 * concat_type: ipv4_addr 7, ipv6_addr 8, inet_proto 12, inet_service 13). */
#define SVC_KEY_TYPE(addr_type) ((((uint32_t) (addr_type) << 6 | 12) << 6) | 13)

static void
add_svc_sets (struct batch *bt)
{
  add_set (bt, NFT_SET_SVC4, 3, SVC_KEY_TYPE (7), NFT_SVC4_KEY_LEN);
  add_set (bt, NFT_SET_SVC6, 4, SVC_KEY_TYPE (8), NFT_SVC6_KEY_LEN);
}

static void
expr_load (struct nftnl_rule *r, const char *type, uint32_t base_or_key, uint32_t offset, uint32_t len, uint32_t dreg)
{
  struct nftnl_expr *e = nftnl_expr_alloc (type);

  if (str_eq (type, "meta"))
    {
      nftnl_expr_set_u32 (e, NFTNL_EXPR_META_KEY, base_or_key);
      nftnl_expr_set_u32 (e, NFTNL_EXPR_META_DREG, dreg);
    }
  else
    {
      nftnl_expr_set_u32 (e, NFTNL_EXPR_PAYLOAD_BASE, base_or_key);
      nftnl_expr_set_u32 (e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
      nftnl_expr_set_u32 (e, NFTNL_EXPR_PAYLOAD_LEN, len);
      nftnl_expr_set_u32 (e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
    }
  nftnl_rule_add_expr (r, e);
}

/* ip daddr . meta l4proto . th dport @svc4 accept (and ip6 for svc6). */
/* ip[6] daddr . meta l4proto . th dport @set */
static void
match_svc (struct nftnl_rule *r, uint16_t table_family, const char *set, uint32_t set_id, int family)
{
  uint32_t alen = family == AF_INET ? 4 : 16;
  struct nftnl_expr *e;

  match_ip_family (r, table_family, family);
  expr_load (r, "payload", NFT_PAYLOAD_NETWORK_HEADER, family == AF_INET ? 16 : 24, alen, NFT_REG32_00);
  expr_load (r, "meta", NFT_META_L4PROTO, 0, 0, NFT_REG32_00 + alen / 4);
  expr_load (r, "payload", NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_00 + alen / 4 + 1);
  e = nftnl_expr_alloc ("lookup");
  nftnl_expr_set_u32 (e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG32_00);
  nftnl_expr_set_str (e, NFTNL_EXPR_LOOKUP_SET, set);
  nftnl_expr_set_u32 (e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
  nftnl_rule_add_expr (r, e);
}

/* The rules of one of the DNS guard's sets (svc: address . protocol . port,
 * else addresses).  With name-bound egress, QUIC is refused and a TCP flow
 * is accepted only as far as its first payload, which the guard judges. */
static void
add_guard_set_rules (struct batch *bt, const char *chain, const char *set, uint32_t set_id, int family, bool svc,
                     const nft_plan_t *plan)
{
  cleanup_free char *comment = NULL;
  struct nftnl_rule *r;

  if (plan && plan->bind_names)
    {
      xasprintf (&comment, "QUIC to an address of @%s: refused (its name cannot be checked)", set);
      r = rule_new (bt, chain, comment);
      (svc ? match_svc : match_set) (r, bt->family, set, set_id, family);
      match_port (r, IPPROTO_UDP, 443);
      expr_deny (r, bt->family, plan->log_group);
      rule_send (bt, r);

      free (steal_pointer (&comment));
      /* The SYN too: the guard then knows where the stream starts, and
       * that a new connection on the same addresses and ports is new. */
      xasprintf (&comment, "TCP to an address of @%s: held for the name check", set);
      r = rule_new (bt, chain, comment);
      (svc ? match_svc : match_set) (r, bt->family, set, set_id, family);
      match_u8 (r, NFT_META_L4PROTO, IPPROTO_TCP);
      expr_set_u32 (r, "ct", NFT_CT_MARK, NFT_CT_NAME_PENDING);
      expr_counter (r);
      expr_queue (r, NFT_NAMES_QUEUE);
      rule_send (bt, r);
      free (steal_pointer (&comment));
    }
  xasprintf (&comment,
             svc ? "allow @%s (address . protocol . port, filled by the DNS guard)"
                 : "allow @%s (filled by the DNS guard)",
             set);
  r = rule_new (bt, chain, comment);
  (svc ? match_svc : match_set) (r, bt->family, set, set_id, family);
  expr_counter (r);
  expr_accept (r);
  rule_send (bt, r);
}

static void
add_icmpv6_nd_rules (struct batch *bt, const char *chain, bool inbound)
{
  /* IPv6 neighbour discovery (out: RS, NS, NA; in: RA, NS, NA) and MLD
   * reports: without them the container has no IPv6 at all, and they carry
   * no payload. */
  static const uint8_t out_types[] = { 133, 135, 136, 143 };
  static const uint8_t in_types[] = { 134, 135, 136 };
  const uint8_t *icmpv6_types = inbound ? in_types : out_types;
  size_t n = inbound ? sizeof (in_types) : sizeof (out_types);

  for (size_t i = 0; i < n; i++)
    {
      cleanup_free char *comment = NULL;
      struct nftnl_rule *r;

      xasprintf (&comment, "icmpv6 type %u (neighbour discovery)", icmpv6_types[i]);
      r = rule_new (bt, chain, comment);
      match_ip_family (r, bt->family, AF_INET6);
      match_u8 (r, NFT_META_L4PROTO, IPPROTO_ICMPV6);
      expr_payload (r, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1);
      expr_cmp (r, NFT_CMP_EQ, &icmpv6_types[i], 1);
      expr_counter (r);
      expr_accept (r);
      rule_send (bt, r);
    }
}

/* The allowlist, the DNS guard's sets and the final counted, logged deny
 * (plan: name-bound egress, in the inet table only; NULL in netdev ones). */
static void
add_policy_rules (struct batch *bt, const char *chain, const egress_rule_t *rules, size_t n_rules, uint16_t log_group,
                  const nft_plan_t *plan)
{
  struct nftnl_rule *r;

  /* Addresses only: a name's addresses are the DNS guard's to add (to
   * the sets below).  A name entry here would match as an address of
   * family 0, prefix 0: every IPv6 destination. */
  for (size_t i = 0; i < n_rules; i++)
    if (!egress_rule_is_name (&rules[i]))
      add_accept_rule_for (bt, chain, &rules[i]);
  add_guard_set_rules (bt, chain, NFT_SET_ALLOW4, 1, AF_INET, false, plan);
  add_guard_set_rules (bt, chain, NFT_SET_ALLOW6, 2, AF_INET6, false, plan);
  /* Stateless in a netdev table too: every packet of a client flow has the
   * service's address, protocol and port as its destination. */
  add_guard_set_rules (bt, chain, NFT_SET_SVC4, 3, AF_INET, true, plan);
  add_guard_set_rules (bt, chain, NFT_SET_SVC6, 4, AF_INET6, true, plan);

  r = rule_new (bt, chain, "deny");
  expr_deny (r, bt->family, log_group);
  rule_send (bt, r);
}

/* Create-then-delete-then-create in one transaction: replaces an old table
 * (a restarted pod sandbox, a second container in a pod) without a window
 * and without failing when there is none. */
static void
add_fresh_table (struct batch *bt)
{
  add_table (bt, NFT_MSG_NEWTABLE, NLM_F_CREATE);
  add_table (bt, NFT_MSG_DELTABLE, 0);
  add_table (bt, NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL);
  add_set (bt, "allow4", 1, 7 /* ipv4_addr */, 4);
  add_set (bt, "allow6", 2, 8 /* ipv6_addr */, 16);
  add_svc_sets (bt);
}

/* ---- budgets: a byte quota and a connection-rate breaker ---- */

static void
add_budget_obj (struct batch *bt, uint32_t type, const char *name, uint64_t quota_bytes, uint16_t flags)
{
  struct nftnl_obj *o = nftnl_obj_alloc ();
  struct nlmsghdr *nlh;

  nftnl_obj_set_str (o, NFTNL_OBJ_TABLE, bt->table);
  nftnl_obj_set_str (o, NFTNL_OBJ_NAME, name);
  nftnl_obj_set_u32 (o, NFTNL_OBJ_TYPE, type);
  nftnl_obj_set_u32 (o, NFTNL_OBJ_FAMILY, bt->family);
  if (type == NFT_OBJECT_QUOTA)
    {
      nftnl_obj_set_u64 (o, NFTNL_OBJ_QUOTA_BYTES, quota_bytes);
      nftnl_obj_set_u32 (o, NFTNL_OBJ_QUOTA_FLAGS, NFT_QUOTA_F_INV);
    }
  /* Without NLM_F_CREATE only an existing object is updated in place (its
   * consumed bytes kept): that is how a grant raises the quota. */
  nlh = batch_hdr (bt, NFT_MSG_NEWOBJ, flags);
  nftnl_obj_nlmsg_build_payload (nlh, o);
  nftnl_obj_free (o);
  batch_next (bt);
}

static void
expr_objref (struct nftnl_rule *r, uint32_t type, const char *name)
{
  struct nftnl_expr *e = nftnl_expr_alloc ("objref");
  nftnl_expr_set_u32 (e, NFTNL_EXPR_OBJREF_IMM_TYPE, type);
  nftnl_expr_set_str (e, NFTNL_EXPR_OBJREF_IMM_NAME, name);
  nftnl_rule_add_expr (r, e);
}

/* "quota over N": the object adds every packet's bytes and matches once
 * the total is past N; the packets past it are dropped and the watchdog,
 * which reads the consumed bytes, trips the breaker. */
static void expr_ct_established (struct nftnl_rule *r);

/* established: inbound, only packets of flows already accepted count, so a
 * peer that floods the agent with packets the table drops anyway cannot
 * spend its budget. */
static void
add_quota_rule (struct batch *bt, const char *chain, uint64_t bytes, bool established)
{
  cleanup_free char *comment = NULL;
  struct nftnl_rule *r;

  xasprintf (&comment, "budget: bytes over %" PRIu64 " (breaker)", bytes);
  r = rule_new (bt, chain, comment);
  if (established)
    expr_ct_established (r);
  expr_objref (r, NFT_OBJECT_QUOTA, NFT_BUDGET_QUOTA);
  expr_counter (r);
  expr_verdict (r, NF_DROP);
  rule_send (bt, r);
}

/* A new outbound connection: conntrack's "new" in the inet table; in a
 * netdev table (gVisor, no conntrack) a TCP SYN without ACK. */
static void
expr_new_connection (struct nftnl_rule *r, bool stateless)
{
  const uint32_t ct_new = 0x8, zero = 0;
  const uint8_t tcp = IPPROTO_TCP, syn_ack = 0x12, syn = 0x02;

  if (stateless)
    {
      expr_meta (r, NFT_META_L4PROTO);
      expr_cmp (r, NFT_CMP_EQ, &tcp, sizeof (tcp));
      expr_payload (r, NFT_PAYLOAD_TRANSPORT_HEADER, 13, 1); /* TCP flags */
      expr_bitwise (r, &syn_ack, sizeof (syn_ack));
      expr_cmp (r, NFT_CMP_EQ, &syn, sizeof (syn));
      return;
    }
  expr_ct (r, NFT_CT_STATE);
  expr_bitwise (r, &ct_new, sizeof (ct_new));
  expr_cmp (r, NFT_CMP_NEQ, &zero, sizeof (zero));
}

/* Past per_minute packets a minute, count into the named counter (the
 * breaker's trigger); under the rate, nothing.  The kernel's packet bucket
 * holds burst packets: N at once, then N a minute. */
static void
expr_over_rate (struct nftnl_rule *r, uint32_t per_minute, const char *counter)
{
  struct nftnl_expr *e = nftnl_expr_alloc ("limit");

  nftnl_expr_set_u64 (e, NFTNL_EXPR_LIMIT_RATE, per_minute);
  nftnl_expr_set_u64 (e, NFTNL_EXPR_LIMIT_UNIT, 60);
  nftnl_expr_set_u32 (e, NFTNL_EXPR_LIMIT_BURST, per_minute);
  nftnl_expr_set_u32 (e, NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKTS);
  nftnl_expr_set_u32 (e, NFTNL_EXPR_LIMIT_FLAGS, NFT_LIMIT_F_INV);
  nftnl_rule_add_expr (r, e);
  expr_objref (r, NFT_OBJECT_COUNTER, counter);
}

/* New connections past the rate are counted, not dropped: the watchdog
 * opens the breaker (freeze or kill) instead of letting the agent retry. */
static void
add_rate_rule (struct batch *bt, const char *chain, uint32_t per_minute, bool stateless)
{
  cleanup_free char *comment = NULL;
  struct nftnl_rule *r;

  xasprintf (&comment, "budget: new connections over %u/minute (breaker)", per_minute);
  r = rule_new (bt, chain, comment);
  expr_new_connection (r, stateless);
  expr_over_rate (r, per_minute, NFT_BUDGET_OVER);
  rule_send (bt, r);
}

/* DNS queries (UDP packets, TCP connections to port 53, to any resolver)
 * past the rate are counted, not dropped, like new connections.  Before the
 * loopback rule: the DNS guard listens on loopback. */
static void
add_dns_rate_rule (struct batch *bt, const char *chain, uint32_t per_minute, uint8_t proto, bool stateless)
{
  cleanup_free char *comment = NULL;
  struct nftnl_rule *r;

  xasprintf (&comment, "budget: DNS %s over %u/minute (breaker)",
             proto == IPPROTO_UDP ? "queries (udp)" : "connections (tcp)", per_minute);
  r = rule_new (bt, chain, comment);
  match_port (r, proto, 53);
  if (proto == IPPROTO_TCP)
    expr_new_connection (r, stateless);
  expr_over_rate (r, per_minute, NFT_BUDGET_DNS_OVER);
  rule_send (bt, r);
}

/* The budget's named objects; their rules go in the chains. */
static void
add_budget_objects (struct batch *bt, const nft_budget_t *budget)
{
  if (budget == NULL)
    return;
  if (budget->egress_bytes > 0)
    add_budget_obj (bt, NFT_OBJECT_QUOTA, NFT_BUDGET_QUOTA, budget->egress_bytes, NLM_F_CREATE | NLM_F_EXCL);
  if (budget->connections_per_minute > 0)
    add_budget_obj (bt, NFT_OBJECT_COUNTER, NFT_BUDGET_OVER, 0, NLM_F_CREATE | NLM_F_EXCL);
  if (budget->dns_queries_per_minute > 0)
    add_budget_obj (bt, NFT_OBJECT_COUNTER, NFT_BUDGET_DNS_OVER, 0, NLM_F_CREATE | NLM_F_EXCL);
  if (budget->count_connections)
    add_budget_obj (bt, NFT_OBJECT_COUNTER, NFT_BUDGET_CONNS, 0, NLM_F_CREATE | NLM_F_EXCL);
}

/* Every new outbound connection, counted (the watchdog compares its rate
 * with the agent's baseline, and reports it when the breaker opens). */
static void
add_conn_count_rule (struct batch *bt, const char *chain, bool stateless)
{
  struct nftnl_rule *r = rule_new (bt, chain, "budget: new connections (counted)");

  expr_new_connection (r, stateless);
  expr_objref (r, NFT_OBJECT_COUNTER, NFT_BUDGET_CONNS);
  rule_send (bt, r);
}

static void
add_budget_output_rules (struct batch *bt, const char *chain, const nft_budget_t *budget, bool stateless)
{
  if (budget && budget->egress_bytes > 0)
    add_quota_rule (bt, chain, budget->egress_bytes, false);
  if (budget && budget->connections_per_minute > 0)
    add_rate_rule (bt, chain, budget->connections_per_minute, stateless);
  if (budget && budget->count_connections)
    add_conn_count_rule (bt, chain, stateless);
}

static void
add_dns_rate_rules (struct batch *bt, const char *chain, const nft_budget_t *budget, bool stateless)
{
  if (budget && budget->dns_queries_per_minute > 0)
    {
      add_dns_rate_rule (bt, chain, budget->dns_queries_per_minute, IPPROTO_UDP, stateless);
      add_dns_rate_rule (bt, chain, budget->dns_queries_per_minute, IPPROTO_TCP, stateless);
    }
}

/* ct state established,related */
static void
expr_ct_established (struct nftnl_rule *r)
{
  const uint32_t ct_mask = CT_STATE_ESTABLISHED | CT_STATE_RELATED, zero = 0;

  expr_ct (r, NFT_CT_STATE);
  expr_bitwise (r, &ct_mask, sizeof (ct_mask));
  expr_cmp (r, NFT_CMP_NEQ, &zero, sizeof (zero));
}

/* A published port: TCP, UDP or both (two rules). */
static void
add_published_rules (struct batch *bt, const char *chain, const ingress_port_t *port)
{
  static const uint8_t both[] = { IPPROTO_TCP, IPPROTO_UDP };

  for (size_t i = 0; i < sizeof (both); i++)
    {
      cleanup_free char *comment = NULL;
      struct nftnl_rule *r;

      if (port->proto && port->proto != both[i])
        continue;
      xasprintf (&comment, "inbound: published %u/%s", port->port, both[i] == IPPROTO_TCP ? "tcp" : "udp");
      r = rule_new (bt, chain, comment);
      expr_new_connection (r, false);
      match_port (r, both[i], port->port);
      expr_counter (r);
      expr_accept (r);
      rule_send (bt, r);
    }
}

/* The sandbox's queries arriving on the DNS guard's wire (hooks/wire.h). */
static void
add_guard_rules (struct batch *bt, const char *chain, uint32_t guard_addr, const char *device)
{
  static const uint8_t protos[] = { IPPROTO_UDP, IPPROTO_TCP };
  char ifname[IFNAMSIZ] = { 0 };

  /* Only from the wire: nothing else may reach this container's guard. */
  snprintf (ifname, sizeof (ifname), "%s", device);
  for (size_t i = 0; i < sizeof (protos); i++)
    {
      struct nftnl_rule *r = rule_new (bt, chain, "inbound: DNS queries to the guard's wire");

      expr_meta (r, NFT_META_IIFNAME);
      expr_cmp (r, NFT_CMP_EQ, ifname, sizeof (ifname));
      match_ip_family (r, bt->family, AF_INET);
      expr_payload (r, NFT_PAYLOAD_NETWORK_HEADER, 16, 4);
      expr_cmp (r, NFT_CMP_EQ, &guard_addr, sizeof (guard_addr));
      match_port (r, protos[i], 53);
      expr_counter (r);
      expr_accept (r);
      rule_send (bt, r);
    }
}

/* Inbound, inet table: loopback, the quota's inbound half, replies, the
 * published ports and neighbour discovery; every other packet (a new
 * connection from a peer on the bridge or through a published port of the
 * engine the profile does not publish) is dropped. */
static void
add_inbound_inet (struct batch *bt, const nft_budget_t *budget, const nft_plan_t *plan)
{
  const uint32_t lo = 1;
  struct nftnl_rule *r;

  add_chain (bt, "input", NF_INET_LOCAL_IN, NULL);
  r = rule_new (bt, "input", "loopback");
  expr_meta (r, NFT_META_IIF);
  expr_cmp (r, NFT_CMP_EQ, &lo, sizeof (lo));
  expr_accept (r);
  rule_send (bt, r);
  if (budget && budget->egress_bytes > 0)
    add_quota_rule (bt, "input", budget->egress_bytes, true);

  r = rule_new (bt, "input", "established, related (replies)");
  expr_ct_established (r);
  expr_counter (r);
  expr_accept (r);
  rule_send (bt, r);

  for (size_t i = 0; i < plan->n_ports; i++)
    add_published_rules (bt, "input", &plan->ports[i]);
  if (plan->guard_addr && plan->guard_device)
    add_guard_rules (bt, "input", plan->guard_addr, plan->guard_device);
  add_icmpv6_nd_rules (bt, "input", true);
  r = rule_new (bt, "input", "inbound: deny");
  expr_counter (r);
  rule_send (bt, r);
}

/* Inbound, netdev table (gVisor): only the quota's inbound half.  gVisor
 * reads frames through a packet socket, which sees them before the ingress
 * hook does, so nothing is filtered here: an inbound handshake is stopped
 * on the way out instead, where its answer (from an unpublished port) meets
 * the egress allowlist. */
static void
add_inbound_device (struct batch *bt, const char *device, const nft_budget_t *budget)
{
  if (budget && budget->egress_bytes > 0)
    {
      add_chain_policy (bt, "ingress", NF_NETDEV_INGRESS, device, NF_ACCEPT);
      add_quota_rule (bt, "ingress", budget->egress_bytes, false);
    }
}

/* Stateless egress (gVisor) lets a published port's answers out: every
 * packet of such a flow has the port as its source and ACK set.  ACK is what
 * keeps this from being a way out: a connection the agent opens from that
 * port starts with a SYN without ACK, which meets the allowlist like any
 * other.  UDP is not published there: its answers cannot be told from new
 * flows. */
static void
add_published_source_rules (struct batch *bt, const char *chain, const ingress_port_t *ports, size_t n_ports)
{
  const uint8_t ack = 0x10, zero = 0;

  for (size_t i = 0; i < n_ports; i++)
    {
      cleanup_free char *comment = NULL;
      uint16_t be = htons (ports[i].port);
      struct nftnl_rule *r;

      if (ports[i].proto == IPPROTO_UDP)
        continue;
      xasprintf (&comment, "answers of published %u/tcp (ACK set)", ports[i].port);
      r = rule_new (bt, chain, comment);
      match_u8 (r, NFT_META_L4PROTO, IPPROTO_TCP);
      expr_payload (r, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 2);
      expr_cmp (r, NFT_CMP_EQ, &be, sizeof (be));
      expr_payload (r, NFT_PAYLOAD_TRANSPORT_HEADER, 13, 1); /* TCP flags */
      expr_bitwise (r, &ack, sizeof (ack));
      expr_cmp (r, NFT_CMP_NEQ, &zero, sizeof (zero));
      expr_counter (r);
      expr_accept (r);
      rule_send (bt, r);
    }
}

static void
build_inet (struct batch *bt, const nft_plan_t *plan, const nft_budget_t *budget)
{
  const egress_rule_t *rules = plan->rules;
  size_t n_rules = plan->n_rules;
  uint16_t log_group = plan->log_group;
  const uint32_t lo = 1; /* LOOPBACK_IFINDEX, the same in every netns */
  struct nftnl_rule *r;

  add_fresh_table (bt);
  add_chain (bt, "output", NF_INET_LOCAL_OUT, NULL);
  add_chain (bt, "forward", NF_INET_FORWARD, NULL);
  add_budget_objects (bt, budget);
  add_inbound_inet (bt, budget, plan);
  add_dns_rate_rules (bt, "output", budget, false);

  r = rule_new (bt, "output", "loopback");
  expr_meta (r, NFT_META_OIF);
  expr_cmp (r, NFT_CMP_EQ, &lo, sizeof (lo));
  expr_counter (r);
  expr_accept (r);
  rule_send (bt, r);
  if (plan->bind_names)
    add_name_verdict_rules (bt, "output");

  /* Budgets see every packet but loopback's, replies included: before the
   * established rule, and only when the profile has them. */
  add_budget_output_rules (bt, "output", budget, false);

  if (plan->bind_names)
    add_name_check_rules (bt, "output");
  r = rule_new (bt, "output", "established, related (replies, ICMP errors incl. path MTU)");
  expr_ct_established (r);
  expr_counter (r);
  expr_accept (r);
  rule_send (bt, r);

  add_icmpv6_nd_rules (bt, "output", false);
  add_policy_rules (bt, "output", rules, n_rules, log_group, plan);

  r = rule_new (bt, "forward", "deny forwarding");
  expr_counter (r);
  rule_send (bt, r);
}

static void
expr_immediate (struct nftnl_rule *r, uint32_t dreg, const void *data, uint32_t len)
{
  struct nftnl_expr *e = nftnl_expr_alloc ("immediate");
  nftnl_expr_set_u32 (e, NFTNL_EXPR_IMM_DREG, dreg);
  nftnl_expr_set (e, NFTNL_EXPR_IMM_DATA, data, len);
  nftnl_rule_add_expr (r, e);
}

/* ip daddr GUARD (udp|tcp) dport 53 ether daddr set MAC fwd to WIRE: the
 * sandbox's queries to the guard go to its wire (hooks/wire.h), addressed
 * to the wire's end, and never on to the network. */
static void
add_dns_wire_rules (struct batch *bt, const char *chain, const nft_dns_wire_t *wire)
{
  static const uint8_t protos[] = { IPPROTO_UDP, IPPROTO_TCP };

  for (size_t i = 0; i < sizeof (protos); i++)
    {
      struct nftnl_rule *r = rule_new (bt, chain, "DNS to the guard, forwarded to its wire");
      struct nftnl_expr *e;

      match_ip_family (r, bt->family, AF_INET);
      expr_payload (r, NFT_PAYLOAD_NETWORK_HEADER, 16, 4);
      expr_cmp (r, NFT_CMP_EQ, &wire->guard_addr, sizeof (wire->guard_addr));
      match_port (r, protos[i], 53);
      expr_counter (r);
      expr_immediate (r, NFT_REG_1, wire->mac, sizeof (wire->mac));
      e = nftnl_expr_alloc ("payload");
      nftnl_expr_set_u32 (e, NFTNL_EXPR_PAYLOAD_SREG, NFT_REG_1);
      nftnl_expr_set_u32 (e, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_LL_HEADER);
      nftnl_expr_set_u32 (e, NFTNL_EXPR_PAYLOAD_OFFSET, 0);
      nftnl_expr_set_u32 (e, NFTNL_EXPR_PAYLOAD_LEN, sizeof (wire->mac));
      nftnl_expr_set_u32 (e, NFTNL_EXPR_PAYLOAD_CSUM_TYPE, NFT_PAYLOAD_CSUM_NONE);
      nftnl_rule_add_expr (r, e);
      expr_immediate (r, NFT_REG_2, &wire->ifindex, sizeof (wire->ifindex));
      e = nftnl_expr_alloc ("fwd");
      nftnl_expr_set_u32 (e, NFTNL_EXPR_FWD_SREG_DEV, NFT_REG_2);
      nftnl_rule_add_expr (r, e);
      rule_send (bt, r);
    }
}

/* gVisor's netstack writes frames to a packet socket, which the IP output
 * hook never sees (measured, docs/facts.md); an egress hook on the device does.
 * It is stateless: ARP passes, and the allowlist matches every packet of an
 * allowed client flow by destination. */
static void
build_netdev (struct batch *bt, const char *device, const egress_rule_t *rules, size_t n_rules, uint16_t log_group,
              const nft_budget_t *budget, const nft_dns_wire_t *wire, const ingress_port_t *ports, size_t n_ports)
{
  const uint16_t arp = htons (0x0806);
  struct nftnl_rule *r;

  add_fresh_table (bt);
  add_chain (bt, "egress", NF_NETDEV_EGRESS, device);
  /* Budgets first: every frame the sandbox sends counts (stateless). */
  add_budget_objects (bt, budget);
  add_inbound_device (bt, device, budget);
  add_dns_rate_rules (bt, "egress", budget, true);
  add_budget_output_rules (bt, "egress", budget, true);
  if (wire)
    add_dns_wire_rules (bt, "egress", wire);

  r = rule_new (bt, "egress", "arp");
  expr_meta (r, NFT_META_PROTOCOL);
  expr_cmp (r, NFT_CMP_EQ, &arp, sizeof (arp));
  expr_counter (r);
  expr_accept (r);
  rule_send (bt, r);

  add_icmpv6_nd_rules (bt, "egress", false);
  add_published_source_rules (bt, "egress", ports, n_ports);
  add_policy_rules (bt, "egress", rules, n_rules, log_group, NULL);
}

static void
batch_finish (struct batch *bt)
{
  nftnl_batch_end (mnl_nlmsg_batch_current (bt->b), bt->seq++);
  mnl_nlmsg_batch_next (bt->b);
}

static struct mnl_socket *
nl_open (corral_error_t *err)
{
  struct mnl_socket *nl = mnl_socket_open2 (NETLINK_NETFILTER, SOCK_CLOEXEC);
  /* A kernel that never answers must not hang container creation. */
  struct timeval tv = { .tv_sec = 10 };

  if (nl == NULL)
    {
      corral_error_make (err, errno, "open netfilter netlink socket");
      return NULL;
    }
  if (mnl_socket_bind (nl, 0, MNL_SOCKET_AUTOPID) < 0
      || setsockopt (mnl_socket_get_fd (nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof (tv)) < 0)
    {
      corral_error_make (err, errno, "bind netfilter netlink socket");
      mnl_socket_close (nl);
      return NULL;
    }
  return nl;
}

/* Send the batch and collect one acknowledgement per message: the first
 * error wins, and a missing answer is an error, never success. */
static int
batch_send (struct mnl_socket *nl, struct batch *bt, corral_error_t *err)
{
  cleanup_free char *buf = xmalloc (MNL_SOCKET_BUFFER_SIZE);
  size_t acked = 0;
  int first_error = 0;

  if (mnl_socket_sendto (nl, mnl_nlmsg_batch_head (bt->b), mnl_nlmsg_batch_size (bt->b)) < 0)
    return corral_error_make (err, errno, "send nftables batch");

  while (acked < bt->n_acks)
    {
      ssize_t n = mnl_socket_recvfrom (nl, buf, MNL_SOCKET_BUFFER_SIZE);
      const struct nlmsghdr *nlh = (const struct nlmsghdr *) buf;
      int len = (int) n;

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return corral_error_make (err, errno == EAGAIN ? ETIMEDOUT : errno,
                                  "read nftables answer (%zu of %zu messages acknowledged)", acked, bt->n_acks);
      for (; mnl_nlmsg_ok (nlh, len); nlh = mnl_nlmsg_next (nlh, &len))
        {
          if (nlh->nlmsg_type != NLMSG_ERROR)
            continue;
          const struct nlmsgerr *e = mnl_nlmsg_get_payload (nlh);
          if (e->error != 0 && first_error == 0)
            first_error = -e->error;
          acked++;
        }
      if (first_error)
        return corral_error_make (err, first_error, "install nftables table `%s`", bt->table);
    }
  return 0;
}

static int
install (struct mnl_socket *nl, uint16_t family, const char *table, const char *device, const nft_plan_t *plan,
         const nft_budget_t *budget, const nft_dns_wire_t *wire, corral_error_t *err)
{
  const egress_rule_t *rules = plan->rules;
  size_t n_rules = plan->n_rules;
  struct batch bt = { .family = family, .table = table };
  int ret;

  /* Each allowlist entry costs at most two rules of a few hundred bytes. */
  if (n_rules > EGRESS_MAX_RULES)
    return corral_error_make (err, E2BIG, "egress allowlist has %zu entries, at most %d are supported", n_rules,
                              EGRESS_MAX_RULES);
  if (plan->n_ports > INGRESS_MAX_PORTS)
    return corral_error_make (err, E2BIG, "%zu published ports, at most %d are supported", plan->n_ports,
                              INGRESS_MAX_PORTS);
  batch_init (&bt);
  if (family == NFPROTO_NETDEV)
    build_netdev (&bt, device, rules, n_rules, plan->log_group, budget, wire, plan->ports, plan->n_ports);
  else
    build_inet (&bt, plan, budget);
  batch_finish (&bt);
  ret = batch_send (nl, &bt, err);
  batch_release (&bt);
  if (ret < 0 && device)
    return corral_error_wrap (err, "device `%s`", device);
  return ret;
}

int
nft_install_egress_budget (struct mnl_socket *nl, const nft_plan_t *plan, const nft_budget_t *budget,
                           corral_error_t *err)
{
  return install (nl, NFPROTO_INET, NFT_TABLE_NAME, NULL, plan, budget, NULL, err);
}

char *
nft_device_table (const char *device)
{
  char *table;

  xasprintf (&table, NFT_DEVICE_TABLE_PREFIX "%s", device);
  return table;
}

int
nft_install_egress_device (struct mnl_socket *nl, const char *device, const nft_plan_t *plan,
                           const nft_budget_t *budget, const nft_dns_wire_t *wire, corral_error_t *err)
{
  cleanup_free char *table = nft_device_table (device);

  return install (nl, NFPROTO_NETDEV, table, device, plan, budget, wire, err);
}

/* ---- show ---- */

struct show_ctx
{
  FILE *out;
  size_t n;
};

static int
show_expr (struct nftnl_expr *e, void *data)
{
  uint64_t *counts = data;

  if (str_eq (nftnl_expr_get_str (e, NFTNL_EXPR_NAME), "counter"))
    {
      counts[0] = nftnl_expr_get_u64 (e, NFTNL_EXPR_CTR_PACKETS);
      counts[1] = nftnl_expr_get_u64 (e, NFTNL_EXPR_CTR_BYTES);
    }
  return 0;
}

static int
comment_cb (const struct nftnl_udata *attr, void *data)
{
  const char **comment = data;

  if (nftnl_udata_type (attr) == NFTNL_UDATA_RULE_COMMENT)
    *comment = nftnl_udata_get (attr);
  return 0;
}

static int
show_rule_cb (const struct nlmsghdr *nlh, void *data)
{
  struct show_ctx *ctx = data;
  struct nftnl_rule *r = nftnl_rule_alloc ();
  const char *comment = "?";
  uint64_t counts[2] = { 0, 0 };
  uint32_t udlen = 0;
  const void *ud;

  if (nftnl_rule_nlmsg_parse (nlh, r) < 0)
    {
      nftnl_rule_free (r);
      return MNL_CB_ERROR;
    }
  if (str_has_prefix (nftnl_rule_get_str (r, NFTNL_RULE_TABLE), NFT_TABLE_NAME))
    {
      ud = nftnl_rule_get_data (r, NFTNL_RULE_USERDATA, &udlen);
      if (ud)
        nftnl_udata_parse (ud, udlen, comment_cb, &comment);
      nftnl_expr_foreach (r, show_expr, counts);
      fprintf (ctx->out, "%-8s %-60s packets %" PRIu64 " bytes %" PRIu64 "\n", nftnl_rule_get_str (r, NFTNL_RULE_CHAIN),
               comment, counts[0], counts[1]);
      ctx->n++;
    }
  nftnl_rule_free (r);
  return MNL_CB_OK;
}

int
nft_show_egress (FILE *out, corral_error_t *err)
{
  cleanup_free char *buf = xmalloc (MNL_SOCKET_BUFFER_SIZE);
  struct show_ctx ctx = { .out = out };
  struct mnl_socket *nl = nl_open (err);
  struct nlmsghdr *nlh;
  uint32_t seq = (uint32_t) time (NULL), portid;
  int ret;

  if (nl == NULL)
    return -1;
  portid = mnl_socket_get_portid (nl);
  nlh = nftnl_nlmsg_build_hdr (buf, NFT_MSG_GETRULE, NFPROTO_UNSPEC, NLM_F_DUMP, seq);
  if (mnl_socket_sendto (nl, nlh, nlh->nlmsg_len) < 0)
    {
      mnl_socket_close (nl);
      return corral_error_make (err, errno, "ask for nftables rules");
    }
  do
    {
      ssize_t n = mnl_socket_recvfrom (nl, buf, MNL_SOCKET_BUFFER_SIZE);
      if (n < 0)
        {
          mnl_socket_close (nl);
          return corral_error_make (err, errno, "read nftables rules");
        }
      ret = mnl_cb_run (buf, (size_t) n, seq, portid, show_rule_cb, &ctx);
    }
  while (ret > 0);
  mnl_socket_close (nl);
  if (ret < 0)
    return corral_error_make (err, errno, "list nftables rules");
  if (ctx.n == 0)
    return corral_error_make (err, ENOENT, "no table `inet %s` in the container's network namespace", NFT_TABLE_NAME);
  return 0;
}

/* ---- budget counters, for the watchdog ---- */

int
nft_nfnl_config (struct mnl_socket *nl, uint16_t type, uint16_t res_id, uint16_t attr_type, const void *attr,
                 size_t attr_len, const char *what, corral_error_t *err)
{
  char buf[MNL_SOCKET_BUFFER_SIZE];
  struct nlmsghdr *nlh = mnl_nlmsg_put_header (buf);
  struct nfgenmsg *nfg;
  uint32_t seq = (uint32_t) time (NULL);
  ssize_t n;

  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  nlh->nlmsg_seq = seq;
  nfg = mnl_nlmsg_put_extra_header (nlh, sizeof (*nfg));
  nfg->nfgen_family = AF_UNSPEC;
  nfg->version = NFNETLINK_V0;
  nfg->res_id = htons (res_id);
  mnl_attr_put (nlh, attr_type, attr_len, attr);
  if (mnl_socket_sendto (nl, nlh, nlh->nlmsg_len) < 0)
    return corral_error_make (err, errno, "configure %s %u", what, res_id);
  n = mnl_socket_recvfrom (nl, buf, sizeof (buf));
  if (n < 0 || mnl_cb_run (buf, (size_t) n, seq, mnl_socket_get_portid (nl), NULL, NULL) < 0)
    return corral_error_make (err, errno, "configure %s %u", what, res_id);
  return 0;
}

struct mnl_socket *
nft_open (corral_error_t *err)
{
  return nl_open (err);
}

/* corral's budget objects: the inet table's, or (gVisor) a netdev table's
 * named corral_<device>. */
static bool
budget_table (struct nftnl_obj *o)
{
  const char *t = nftnl_obj_get_str (o, NFTNL_OBJ_TABLE);
  uint32_t f = nftnl_obj_get_u32 (o, NFTNL_OBJ_FAMILY);

  return (f == NFPROTO_INET && str_eq (t, NFT_TABLE_NAME))
         || (f == NFPROTO_NETDEV && str_has_prefix (t, NFT_DEVICE_TABLE_PREFIX));
}

static int
obj_cb (const struct nlmsghdr *nlh, void *data)
{
  nft_budget_usage_t *u = data;
  struct nftnl_obj *o = nftnl_obj_alloc ();

  if (nftnl_obj_nlmsg_parse (nlh, o) < 0)
    {
      nftnl_obj_free (o);
      return MNL_CB_ERROR;
    }
  if (budget_table (o))
    {
      const char *name = nftnl_obj_get_str (o, NFTNL_OBJ_NAME);

      /* Handles are never reused in a table: a new one is a new object. */
      if (nftnl_obj_is_set (o, NFTNL_OBJ_HANDLE))
        u->generation = u->generation * 31 + nftnl_obj_get_u64 (o, NFTNL_OBJ_HANDLE);
      if (str_eq (name, NFT_BUDGET_QUOTA))
        {
          u->bytes = nftnl_obj_get_u64 (o, NFTNL_OBJ_QUOTA_CONSUMED);
          u->quota = nftnl_obj_get_u64 (o, NFTNL_OBJ_QUOTA_BYTES);
          u->quota_family = (uint16_t) nftnl_obj_get_u32 (o, NFTNL_OBJ_FAMILY);
          snprintf (u->quota_table, sizeof (u->quota_table), "%s", nftnl_obj_get_str (o, NFTNL_OBJ_TABLE));
          u->found |= 1;
        }
      else if (str_eq (name, NFT_BUDGET_OVER))
        {
          u->over += nftnl_obj_get_u64 (o, NFTNL_OBJ_CTR_PKTS);
          u->found |= 2;
        }
      else if (str_eq (name, NFT_BUDGET_DNS_OVER))
        {
          u->dns_over += nftnl_obj_get_u64 (o, NFTNL_OBJ_CTR_PKTS);
          u->found |= 4;
        }
      else if (str_eq (name, NFT_BUDGET_CONNS))
        {
          u->conns += nftnl_obj_get_u64 (o, NFTNL_OBJ_CTR_PKTS);
          u->found |= 8;
        }
    }
  nftnl_obj_free (o);
  return MNL_CB_OK;
}

int
nft_budget_read (struct mnl_socket *nl, nft_budget_usage_t *ret, corral_error_t *err)
{
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nft_budget_usage_t u = { 0 };
  struct nlmsghdr *nlh;
  uint32_t seq = (uint32_t) time (NULL), portid = mnl_socket_get_portid (nl);
  int ret_cb;

  nlh = nftnl_nlmsg_build_hdr (buf, NFT_MSG_GETOBJ, NFPROTO_UNSPEC, NLM_F_DUMP, seq);
  if (mnl_socket_sendto (nl, nlh, nlh->nlmsg_len) < 0)
    return corral_error_make (err, errno, "ask for nftables objects");
  do
    {
      ssize_t n = mnl_socket_recvfrom (nl, buf, sizeof (buf));
      if (n < 0)
        return corral_error_make (err, errno, "read nftables objects");
      ret_cb = mnl_cb_run (buf, (size_t) n, seq, portid, obj_cb, &u);
    }
  while (ret_cb > 0);
  if (ret_cb < 0)
    return corral_error_make (err, errno, "list nftables objects");
  *ret = u;
  return 0;
}

int
nft_budget_set_quota (struct mnl_socket *nl, uint64_t bytes, corral_error_t *err)
{
  struct batch bt = { .family = NFPROTO_INET, .table = NFT_TABLE_NAME };
  nft_budget_usage_t u;
  int ret;

  /* Where the quota is: the inet table, or gVisor's netdev table.  Never
   * made anew: an object no rule refers to would count nothing. */
  if (nft_budget_read (nl, &u, err) < 0)
    return -1;
  if (!(u.found & 1))
    return corral_error_make (err, ENOENT, "the container's byte quota is gone from its network namespace");
  bt.family = u.quota_family;
  bt.table = u.quota_table;
  batch_init (&bt);
  add_budget_obj (&bt, NFT_OBJECT_QUOTA, NFT_BUDGET_QUOTA, bytes, 0);
  batch_finish (&bt);
  ret = batch_send (nl, &bt, err);
  batch_release (&bt);
  return ret;
}
