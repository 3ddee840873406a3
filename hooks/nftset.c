/* corral: set elements of table inet corral through libmnl + libnftnl. */
#include "config.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <libmnl/libmnl.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <netinet/in.h>
#include <sys/time.h>
#include <time.h>

#include "hooks/nft.h"
#include "hooks/nftset.h"
#include "base/util.h"

/* One message per set, each element at most ~100 bytes: 64 KiB holds
 * several hundred; bigger answers go in several batches. */
#define ELEM_BATCH_SIZE (64 * 1024)
#define ELEMS_PER_BATCH 256

struct nftset_conn_s
{
  struct mnl_socket *nl;
  uint16_t family;
  char *table;
  char *buf;
  char *rbuf;
  uint32_t seq;
};

nftset_conn_t *
nftset_open (uint16_t family, const char *table, corral_error_t *err)
{
  nftset_conn_t *c = xmalloc0 (sizeof (*c));
  struct timeval tv = { .tv_sec = 5 };

  c->family = family;
  c->table = xstrdup (table);
  c->nl = mnl_socket_open2 (NETLINK_NETFILTER, SOCK_CLOEXEC);
  if (c->nl == NULL)
    {
      corral_error_make (err, errno, "open netfilter netlink socket");
      free (c);
      return NULL;
    }
  if (mnl_socket_bind (c->nl, 0, MNL_SOCKET_AUTOPID) < 0
      || setsockopt (mnl_socket_get_fd (c->nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof (tv)) < 0)
    {
      corral_error_make (err, errno, "bind netfilter netlink socket");
      nftset_close (c);
      return NULL;
    }
  c->buf = xmalloc (ELEM_BATCH_SIZE);
  c->rbuf = xmalloc (MNL_SOCKET_BUFFER_SIZE);
  c->seq = (uint32_t) time (NULL);
  return c;
}

void
nftset_close (nftset_conn_t *c)
{
  if (c == NULL)
    return;
  if (c->nl)
    mnl_socket_close (c->nl);
  free (c->buf);
  free (c->rbuf);
  free (c->table);
  free (c);
}

void
nftset_key (nftset_elem_t *e, int family, const uint8_t *addr, uint8_t proto, uint16_t port)
{
  uint32_t alen = family == AF_INET ? 4 : 16;
  uint16_t be = htons (port);

  memset (e->key, 0, sizeof (e->key));
  memcpy (e->key, addr, alen);
  if (port == 0)
    {
      e->set = family == AF_INET ? NFT_SET_ALLOW4 : NFT_SET_ALLOW6;
      e->key_len = alen;
      return;
    }
  /* Each field of a concatenation starts on a 32-bit register. */
  e->set = family == AF_INET ? NFT_SET_SVC4 : NFT_SET_SVC6;
  e->key[alen] = proto;
  memcpy (e->key + alen + 4, &be, 2);
  e->key_len = alen + 8;
}

void
nftset_key_text (const char *set, const uint8_t *key, uint32_t key_len, char *out, size_t out_size)
{
  bool v6 = str_eq (set, NFT_SET_ALLOW6) || str_eq (set, NFT_SET_SVC6);
  uint32_t alen = v6 ? 16 : 4;
  char addr[INET6_ADDRSTRLEN];

  if (key_len < alen)
    {
      snprintf (out, out_size, "?");
      return;
    }
  inet_ntop (v6 ? AF_INET6 : AF_INET, key, addr, sizeof (addr));
  if (key_len < alen + 8)
    snprintf (out, out_size, "%s", addr);
  else
    snprintf (out, out_size, "%s . %s . %u", addr,
              key[alen] == IPPROTO_TCP   ? "tcp"
              : key[alen] == IPPROTO_UDP ? "udp"
                                         : "?",
              (unsigned) ((key[alen + 4] << 8) | key[alen + 5]));
}

/* Send what is in c->buf and wait for n_acks acknowledgements. */
static int
send_and_ack (nftset_conn_t *c, struct mnl_nlmsg_batch *b, size_t n_acks, corral_error_t *err)
{
  size_t acked = 0;
  int first_error = 0;

  if (mnl_socket_sendto (c->nl, mnl_nlmsg_batch_head (b), mnl_nlmsg_batch_size (b)) < 0)
    return corral_error_make (err, errno, "send set elements");
  while (acked < n_acks)
    {
      ssize_t n = mnl_socket_recvfrom (c->nl, c->rbuf, MNL_SOCKET_BUFFER_SIZE);
      const struct nlmsghdr *nlh = (const struct nlmsghdr *) c->rbuf;
      int len = (int) n;

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return corral_error_make (err, errno == EAGAIN ? ETIMEDOUT : errno, "read the set elements' acknowledgement");
      for (; mnl_nlmsg_ok (nlh, len); nlh = mnl_nlmsg_next (nlh, &len))
        {
          const struct nlmsgerr *e;

          if (nlh->nlmsg_type != NLMSG_ERROR)
            continue;
          e = mnl_nlmsg_get_payload (nlh);
          if (e->error != 0 && first_error == 0)
            first_error = -e->error;
          acked++;
        }
      if (first_error)
        return corral_error_make (err, first_error, "add elements to the sets of table %s", c->table);
    }
  return 0;
}

static int
add_chunk (nftset_conn_t *c, const nftset_elem_t *elems, size_t n, corral_error_t *err)
{
  static const char *const sets[] = { NFT_SET_ALLOW4, NFT_SET_ALLOW6, NFT_SET_SVC4, NFT_SET_SVC6 };
  struct mnl_nlmsg_batch *b = mnl_nlmsg_batch_start (c->buf, ELEM_BATCH_SIZE);
  size_t n_acks = 0;
  int ret;

  nftnl_batch_begin (mnl_nlmsg_batch_current (b), c->seq++);
  mnl_nlmsg_batch_next (b);
  for (size_t k = 0; k < sizeof (sets) / sizeof (sets[0]); k++)
    {
      struct nftnl_set *s = NULL;
      struct nlmsghdr *nlh;

      for (size_t i = 0; i < n; i++)
        {
          struct nftnl_set_elem *e;

          if (!str_eq (elems[i].set, sets[k]))
            continue;
          if (s == NULL)
            {
              s = nftnl_set_alloc ();
              nftnl_set_set_str (s, NFTNL_SET_TABLE, c->table);
              nftnl_set_set_str (s, NFTNL_SET_NAME, sets[k]);
            }
          e = nftnl_set_elem_alloc ();
          nftnl_set_elem_set (e, NFTNL_SET_ELEM_KEY, elems[i].key, elems[i].key_len);
          nftnl_set_elem_set_u64 (e, NFTNL_SET_ELEM_TIMEOUT, elems[i].timeout_ms);
          nftnl_set_elem_add (s, e);
        }
      if (s == NULL)
        continue;
      /* NLM_F_CREATE without NLM_F_EXCL: an element already there gets the
       * new timeout (Linux >= 6.12, "set element timeout update support");
       * older kernels keep the first one. */
      nlh = nftnl_nlmsg_build_hdr (mnl_nlmsg_batch_current (b), NFT_MSG_NEWSETELEM, c->family, NLM_F_CREATE | NLM_F_ACK,
                                   c->seq++);
      nftnl_set_elems_nlmsg_build_payload (nlh, s);
      nftnl_set_free (s);
      n_acks++;
      if (!mnl_nlmsg_batch_next (b))
        abort (); /* bounded by ELEMS_PER_BATCH */
    }
  nftnl_batch_end (mnl_nlmsg_batch_current (b), c->seq++);
  mnl_nlmsg_batch_next (b);
  ret = n_acks ? send_and_ack (c, b, n_acks, err) : 0;
  mnl_nlmsg_batch_stop (b);
  return ret;
}

int
nftset_add (nftset_conn_t *c, const nftset_elem_t *elems, size_t n, corral_error_t *err)
{
  for (size_t i = 0; i < n; i += ELEMS_PER_BATCH)
    if (add_chunk (c, elems + i, n - i < ELEMS_PER_BATCH ? n - i : ELEMS_PER_BATCH, err) < 0)
      return -1;
  return 0;
}

/* ---- show ---- */

struct show_ctx
{
  FILE *out;
  const char *set;
  size_t n;
};

static int
elems_cb (const struct nlmsghdr *nlh, void *data)
{
  struct show_ctx *ctx = data;
  struct nftnl_set *s = nftnl_set_alloc ();
  struct nftnl_set_elems_iter *it;
  struct nftnl_set_elem *e;

  if (nftnl_set_elems_nlmsg_parse (nlh, s) < 0)
    {
      nftnl_set_free (s);
      return MNL_CB_ERROR;
    }
  it = nftnl_set_elems_iter_create (s);
  while (it && (e = nftnl_set_elems_iter_next (it)))
    {
      uint32_t klen = 0;
      const void *key = nftnl_set_elem_get (e, NFTNL_SET_ELEM_KEY, &klen);
      uint64_t left = nftnl_set_elem_get_u64 (e, NFTNL_SET_ELEM_EXPIRATION);
      char text[128];

      if (key == NULL)
        continue;
      nftset_key_text (ctx->set, key, klen, text, sizeof (text));
      fprintf (ctx->out, "  %-7s %-44s expires in %" PRIu64 ".%03" PRIu64 " s\n", ctx->set, text, left / 1000,
               left % 1000);
      ctx->n++;
    }
  if (it)
    nftnl_set_elems_iter_destroy (it);
  nftnl_set_free (s);
  return MNL_CB_OK;
}

/* Run a dump request to its end through cb. */
static int
dump (nftset_conn_t *c, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
  int ret;

  if (mnl_socket_sendto (c->nl, nlh, nlh->nlmsg_len) < 0)
    return -1;
  do
    {
      ssize_t n = mnl_socket_recvfrom (c->nl, c->rbuf, MNL_SOCKET_BUFFER_SIZE);
      if (n < 0)
        return -1;
      ret = mnl_cb_run (c->rbuf, (size_t) n, nlh->nlmsg_seq, mnl_socket_get_portid (c->nl), cb, data);
    }
  while (ret > 0);
  return ret;
}

static int
show_table (nftset_conn_t *c, struct show_ctx *ctx, uint16_t family, const char *table, corral_error_t *err)
{
  static const char *const sets[] = { NFT_SET_ALLOW4, NFT_SET_ALLOW6, NFT_SET_SVC4, NFT_SET_SVC6 };

  for (size_t k = 0; k < sizeof (sets) / sizeof (sets[0]); k++)
    {
      struct nftnl_set *s = nftnl_set_alloc ();
      struct nlmsghdr *nlh;

      ctx->set = sets[k];
      nftnl_set_set_str (s, NFTNL_SET_TABLE, table);
      nftnl_set_set_str (s, NFTNL_SET_NAME, sets[k]);
      nlh = nftnl_nlmsg_build_hdr (c->buf, NFT_MSG_GETSETELEM, family, NLM_F_DUMP, c->seq++);
      nftnl_set_elems_nlmsg_build_payload (nlh, s);
      nftnl_set_free (s);
      /* A table from before the DNS guard has no svc sets: nothing to list. */
      if (dump (c, nlh, elems_cb, ctx) < 0 && errno != ENOENT)
        return corral_error_make (err, errno, "list the elements of set %s in table %s", sets[k], table);
    }
  return 0;
}

static int
netdev_table_cb (const struct nlmsghdr *nlh, void *data)
{
  char ***names = data;
  struct nftnl_table *t = nftnl_table_alloc ();

  if (nftnl_table_nlmsg_parse (nlh, t) == 0
      && str_has_prefix (nftnl_table_get_str (t, NFTNL_TABLE_NAME), NFT_DEVICE_TABLE_PREFIX))
    {
      size_t n = strv_len (*names);
      *names = xrealloc (*names, (n + 2) * sizeof (char *));
      (*names)[n] = xstrdup (nftnl_table_get_str (t, NFTNL_TABLE_NAME));
      (*names)[n + 1] = NULL;
    }
  nftnl_table_free (t);
  return MNL_CB_OK;
}

int
nftset_show (FILE *out, corral_error_t *err)
{
  struct show_ctx ctx = { .out = out };
  cleanup_strv char **netdev = NULL;
  nftset_conn_t *c = nftset_open (NFPROTO_INET, NFT_TABLE_NAME, err);
  struct nlmsghdr *nlh;
  int ret;

  if (c == NULL)
    return -1;
  /* Under gVisor's own netstack the guard fills the netdev table of the
   * sandbox's interface instead. */
  nlh = nftnl_nlmsg_build_hdr (c->buf, NFT_MSG_GETTABLE, NFPROTO_NETDEV, NLM_F_DUMP, c->seq++);
  if (dump (c, nlh, netdev_table_cb, &netdev) < 0)
    ret = corral_error_make (err, errno, "list the netdev tables");
  else
    ret = show_table (c, &ctx, NFPROTO_INET, NFT_TABLE_NAME, err);
  for (size_t i = 0; ret == 0 && netdev && netdev[i]; i++)
    ret = show_table (c, &ctx, NFPROTO_NETDEV, netdev[i], err);
  nftset_close (c);
  if (ret == 0 && ctx.n == 0)
    fprintf (out, "  (none)\n");
  return ret;
}
