/* corral: elements of the DNS guard's sets in table inet corral or a netdev
 * table (add with a timeout, list with the time left), over a netlink socket
 * opened in the caller's network namespace. */
#ifndef CORRAL_NFTSET_H
#define CORRAL_NFTSET_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"

struct nftset_elem_s
{
  const char *set;  /* NFT_SET_ALLOW4, ... */
  uint8_t key[24];  /* address, or address . protocol . port (32-bit fields) */
  uint32_t key_len; /* 4, 16, NFT_SVC4_KEY_LEN, NFT_SVC6_KEY_LEN */
  uint64_t timeout_ms;
};
typedef struct nftset_elem_s nftset_elem_t;

typedef struct nftset_conn_s nftset_conn_t;

/* A NETLINK_NETFILTER socket in the current network namespace, for the
 * sets of table `table` of family (NFPROTO_INET, or NFPROTO_NETDEV). */
nftset_conn_t *nftset_open (uint16_t family, const char *table, corral_error_t *err);
void nftset_close (nftset_conn_t *c);

/* Add (or refresh the timeout of) elements in one batch; returns once the
 * kernel acknowledged every message, so a caller that answers DNS after
 * this knows the addresses are reachable. */
int nftset_add (nftset_conn_t *c, const nftset_elem_t *elems, size_t n, corral_error_t *err);

/* Key of a (family, address[, proto, port]) element; port 0 = allow set. */
void nftset_key (nftset_elem_t *e, int family, const uint8_t *addr, uint8_t proto, uint16_t port);

/* Text of an element's key: "192.0.2.1", "192.0.2.1 . tcp . 443". */
void nftset_key_text (const char *set, const uint8_t *key, uint32_t key_len, char *out, size_t out_size);

/* Print every element of the four sets of inet corral and of every netdev
 * corral_<device> table, with the seconds it has left. */
int nftset_show (FILE *out, corral_error_t *err);

#endif
