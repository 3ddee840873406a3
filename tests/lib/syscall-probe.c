/* syscall-probe: try one confined operation and print "NAME: ok" or
 * "NAME: <errno name>".  Built statically into the test image, so bats
 * tests can show which syscalls the container's seccomp filter denies. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/io_uring.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <unistd.h>

static long
try_clone_newuser (void)
{
  long r = syscall (SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, 0);
  if (r == 0)
    _exit (0);
  if (r > 0)
    waitpid ((pid_t) r, NULL, 0);
  return r < 0 ? -1 : 0;
}

/* connect-from SRCPORT IP PORT: a TCP connection from a chosen local port
 * (busybox nc ignores -p when it connects), 3 s at most (non-blocking:
 * gVisor's connect ignores SO_SNDTIMEO). */
static long
try_connect_from (int argc, char **argv)
{
  struct sockaddr_in local = { .sin_family = AF_INET }, peer = { .sin_family = AF_INET };
  int one = 1, soerr = 0, fd;
  socklen_t len = sizeof (soerr);
  struct pollfd p;

  if (argc != 5 || inet_pton (AF_INET, argv[3], &peer.sin_addr) != 1)
    {
      errno = EINVAL;
      return -1;
    }
  local.sin_port = htons ((uint16_t) atoi (argv[2]));
  peer.sin_port = htons ((uint16_t) atoi (argv[4]));
  fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0 || setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof (one)) < 0
      || bind (fd, (struct sockaddr *) &local, sizeof (local)) < 0)
    return -1;
  if (connect (fd, (struct sockaddr *) &peer, sizeof (peer)) == 0)
    return 0;
  if (errno != EINPROGRESS)
    return -1;
  p.fd = fd;
  p.events = POLLOUT;
  if (poll (&p, 1, 3000) == 0)
    {
      errno = ETIMEDOUT;
      return -1;
    }
  if (getsockopt (fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
    return -1;
  errno = soerr;
  return soerr ? -1 : 0;
}

static long
try_fork (void)
{
  pid_t p = fork ();
  if (p == 0)
    _exit (0);
  if (p > 0)
    waitpid (p, NULL, 0);
  return p < 0 ? -1 : 0;
}

/* Ask nf_tables to delete corral's table, as an agent trying to lift its
 * egress filter would.  Returns 0 when the kernel accepted the request. */
static long
try_nft_delete (void)
{
  struct
  {
    struct nlmsghdr batch_begin;
    struct nfgenmsg g1;
    struct nlmsghdr del;
    struct nfgenmsg g2;
    struct nlattr name_attr;
    char name[8];
    struct nlmsghdr batch_end;
    struct nfgenmsg g3;
  } __attribute__ ((packed)) req;
  struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
  char buf[4096];
  struct nlmsghdr *nlh = (struct nlmsghdr *) buf;
  int fd = socket (AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  ssize_t n;

  if (fd < 0)
    return -1;
  memset (&req, 0, sizeof (req));
  req.batch_begin.nlmsg_len = NLMSG_LENGTH (sizeof (struct nfgenmsg));
  req.batch_begin.nlmsg_type = NFNL_MSG_BATCH_BEGIN;
  req.batch_begin.nlmsg_flags = NLM_F_REQUEST;
  req.g1.res_id = htons (NFNL_SUBSYS_NFTABLES);
  req.del.nlmsg_len = NLMSG_LENGTH (sizeof (struct nfgenmsg) + sizeof (struct nlattr) + 8);
  req.del.nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_DELTABLE;
  req.del.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  req.del.nlmsg_seq = 1;
  req.g2.nfgen_family = NFPROTO_INET;
  req.name_attr.nla_len = sizeof (struct nlattr) + 7;
  req.name_attr.nla_type = NFTA_TABLE_NAME;
  memcpy (req.name, "corral", 7);
  req.batch_end.nlmsg_len = NLMSG_LENGTH (sizeof (struct nfgenmsg));
  req.batch_end.nlmsg_type = NFNL_MSG_BATCH_END;
  req.batch_end.nlmsg_flags = NLM_F_REQUEST;
  req.g3.res_id = htons (NFNL_SUBSYS_NFTABLES);
  if (sendto (fd, &req, sizeof (req), 0, (struct sockaddr *) &sa, sizeof (sa)) < 0)
    return -1;
  n = recv (fd, buf, sizeof (buf), 0);
  close (fd);
  if (n < (ssize_t) NLMSG_LENGTH (sizeof (struct nlmsgerr)) || nlh->nlmsg_type != NLMSG_ERROR)
    return -1;
  errno = -((struct nlmsgerr *) NLMSG_DATA (nlh))->error;
  return errno ? -1 : 0;
}

int
main (int argc, char **argv)
{
  const char *what = argc > 1 ? argv[1] : "";
  char buf[8];
  struct iovec local = { buf, sizeof (buf) }, remote = { buf, sizeof (buf) };
  struct io_uring_params params;
  long r;

  errno = 0;
  if (strcmp (what, "ptrace") == 0)
    r = ptrace (PTRACE_TRACEME, 0, NULL, NULL);
  else if (strcmp (what, "process_vm_readv") == 0)
    r = process_vm_readv (getpid (), &local, 1, &remote, 1, 0);
  else if (strcmp (what, "mount") == 0)
    r = mount ("none", "/tmp", "tmpfs", 0, NULL);
  else if (strcmp (what, "unshare") == 0)
    r = unshare (CLONE_NEWUSER);
  else if (strcmp (what, "clone-newuser") == 0)
    r = try_clone_newuser ();
  else if (strcmp (what, "fork") == 0)
    r = try_fork ();
  else if (strcmp (what, "bpf") == 0)
    r = syscall (SYS_bpf, 0, NULL, 0);
  else if (strcmp (what, "keyctl") == 0)
    r = syscall (SYS_keyctl, 0, 0, 0, 0, 0);
  else if (strcmp (what, "io_uring_setup") == 0)
    {
      memset (&params, 0, sizeof (params));
      r = syscall (SYS_io_uring_setup, 1, &params);
    }
  else if (strcmp (what, "personality") == 0)
    r = personality (ADDR_NO_RANDOMIZE);
  else if (strcmp (what, "nft-delete") == 0)
    r = try_nft_delete ();
  else if (strcmp (what, "getpid") == 0)
    r = getpid ();
  else if (strcmp (what, "connect-from") == 0)
    r = try_connect_from (argc, argv);
  else
    {
      fprintf (stderr, "usage: syscall-probe ptrace|process_vm_readv|mount|unshare|clone-newuser|fork|bpf|keyctl|"
                       "io_uring_setup|personality|nft-delete|getpid|connect-from SRCPORT IP PORT\n");
      return 2;
    }
  if (r < 0 && errno)
    printf ("%s: %s\n", what, strerrorname_np (errno));
  else
    printf ("%s: ok\n", what);
  return 0;
}
