/* corral: the per-container nftables table, built with libnftnl and sent in
 * one atomic netlink batch to the network namespace the caller is in. */
#ifndef CORRAL_NFT_H
#define CORRAL_NFT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"
#include "spec/egress.h"

#define NFT_TABLE_NAME "corral"
#define NFT_NETDEV_LOG_PREFIX "corral-netdev"
/* Under gVisor: table netdev corral_<device> on each sandbox interface. */
#define NFT_DEVICE_TABLE_PREFIX NFT_TABLE_NAME "_"

/* The name of the netdev table on device (the caller frees it). */
char *nft_device_table (const char *device);
/* The DNS guard's sets in table inet corral (and netdev corral_<device>): addresses any port may reach
 * (allow4/allow6) and address . protocol . port (svc4/svc6). */
#define NFT_SET_ALLOW4 "allow4"
#define NFT_SET_ALLOW6 "allow6"
#define NFT_SET_SVC4 "svc4"
#define NFT_SET_SVC6 "svc6"
#define NFT_SVC4_KEY_LEN 12
#define NFT_SVC6_KEY_LEN 24

struct mnl_socket;

/* One nfnetlink configuration request (type: subsystem << 8 | message,
 * res_id: the queue or log group, one attribute), answered by an ACK;
 * what names it in errors. */
int nft_nfnl_config (struct mnl_socket *nl, uint16_t type, uint16_t res_id, uint16_t attr_type, const void *attr,
                     size_t attr_len, const char *what, corral_error_t *err);

/* A netfilter netlink socket in the caller's network namespace (it stays
 * there), for the calls below; close it with mnl_socket_close. */
struct mnl_socket *nft_open (corral_error_t *err);

/* Budgets the table enforces (0 = none): a byte quota on everything but
 * loopback, both directions, and a counter of new connections over a rate.
 * They are named objects of the table, read by the watchdog. */
struct nft_budget_s
{
  uint64_t egress_bytes;
  uint32_t connections_per_minute;
  uint32_t dns_queries_per_minute; /* UDP queries and TCP connections to port 53 */
  bool count_connections;          /* every new outbound connection (anomalies) */
};
typedef struct nft_budget_s nft_budget_t;
#define NFT_BUDGET_QUOTA "budget_bytes"
#define NFT_BUDGET_OVER "budget_connections_over"
#define NFT_BUDGET_DNS_OVER "budget_dns_over"
#define NFT_BUDGET_CONNS "budget_connections"

/* What a container's tables let through: the egress allowlist (denied
 * packets go to NFLOG group log_group) and the ports it publishes. */
struct nft_plan_s
{
  const egress_rule_t *rules;
  size_t n_rules;
  uint16_t log_group;
  const ingress_port_t *ports;
  size_t n_ports;
  /* Under gVisor's own netstack with a DNS guard: the guard's address on
   * its wire (IPv4, network order; 0 = none), which the inet table's input
   * must let the sandbox's queries reach. */
  uint32_t guard_addr;
  const char *guard_device; /* the wire's end the queries arrive on */
  /* Name-bound egress: a new TCP flow to an address of the DNS guard's
   * sets is held at its first payload for the guard's name check
   * (NFQUEUE NFT_NAMES_QUEUE), UDP to port 443 (QUIC, whose names the
   * check cannot see) is refused. */
  bool bind_names;
};
typedef struct nft_plan_s nft_plan_t;

/* Name-bound egress: the queue the DNS guard reads in the container's
 * network namespace, the connection marks of a flow waiting for, passing
 * and failing the check, and the packet marks of the guard's verdicts
 * (NF_REPEAT: the packet goes through the chain again, marked). */
#define NFT_NAMES_QUEUE 0
#define NFT_CT_NAME_PENDING 0xc0a1a001u
#define NFT_CT_NAME_OK 0xc0a1a002u
#define NFT_CT_NAME_DENIED 0xc0a1a003u
#define NFT_MARK_NAME_OK 0xc0a1a012u
#define NFT_MARK_NAME_DENIED 0xc0a1a013u

/* Replace (or create) table inet corral: output and forward policy drop;
 * loopback, established/related and IPv6 neighbour discovery accepted; one
 * accepting rule per allowlist entry; sets allow4/allow6 (with timeouts) for
 * the DNS guard; everything else counted, logged to NFLOG log_group and
 * rejected.  Input policy drop: loopback, replies, new connections to the
 * published ports and neighbour discovery accepted.  And the budget's
 * objects and rules (budget NULL = none).  Every rule carries a counter and
 * a comment. */
int nft_install_egress_budget (struct mnl_socket *nl, const nft_plan_t *plan, const nft_budget_t *budget,
                               corral_error_t *err);

/* Under gVisor's own netstack with a DNS guard: where the sandbox's queries
 * to the guard's address go instead of the network (hooks/wire.h). */
struct nft_dns_wire_s
{
  uint32_t guard_addr; /* IPv4, network order */
  uint32_t ifindex;    /* the wire's query end */
  uint8_t mac[6];      /* the wire's guard end */
};
typedef struct nft_dns_wire_s nft_dns_wire_t;

/* The same policy as nft_install_egress_budget, statelessly, as table
 * netdev corral_<device> with an egress hook on device: for gVisor, whose
 * packets bypass the IP hooks (inbound: the answers of published TCP ports
 * go out; an unpublished port's answer meets the allowlist); with the
 * budget's objects and rules too
 * (stateless: a TCP SYN is a new connection), which then count there;
 * and, with wire, DNS to the guard forwarded to the guard's wire. */
int nft_install_egress_device (struct mnl_socket *nl, const char *device, const nft_plan_t *plan,
                               const nft_budget_t *budget, const nft_dns_wire_t *wire, corral_error_t *err);

struct nft_budget_usage_s
{
  uint64_t bytes;        /* consumed by the quota */
  uint64_t quota;        /* its current limit */
  uint64_t over;         /* new connections past the rate */
  uint64_t dns_over;     /* DNS queries past the rate */
  uint64_t conns;        /* new outbound connections */
  uint64_t generation;   /* changes when the objects are made anew */
  uint16_t quota_family; /* where the quota object is */
  char quota_table[64];
  unsigned found; /* bits: quota, connection counter, DNS counter seen */
};
typedef struct nft_budget_usage_s nft_budget_usage_t;

/* The table's budget objects, read through a socket of nft_open. */
int nft_budget_read (struct mnl_socket *nl, nft_budget_usage_t *ret, corral_error_t *err);
/* Raise (or lower) the quota, keeping what was consumed. */
int nft_budget_set_quota (struct mnl_socket *nl, uint64_t bytes, corral_error_t *err);

/* Print the table's rules with their comments and counters. */
int nft_show_egress (FILE *out, corral_error_t *err);

#endif
