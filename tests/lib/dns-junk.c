/* dns-junk: send N malformed DNS packets over UDP to a server (default
 * 127.0.0.53:53) and print how many were sent.  Built statically into the
 * test image, so a bats test can throw garbage at the DNS guard from
 * inside a container.  Every packet is malformed by construction (too
 * short, truncated name, compression loop, forward pointer, label too
 * long, extended label type, missing type/class, or a response), with
 * random bytes elsewhere; a fixed seed makes a run repeatable.
 * Usage: dns-junk N [ADDR [PORT [SEED]]] */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static unsigned long long state;

static unsigned
rnd (void)
{
  /* xorshift64*: enough for junk, the same on every libc. */
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return (unsigned) ((state * 2685821657736338717ULL) >> 32);
}

static void
fill (unsigned char *p, size_t n)
{
  for (size_t i = 0; i < n; i++)
    p[i] = (unsigned char) rnd ();
}

/* A header with one question, random id and flags, QR clear. */
static void
header (unsigned char *p)
{
  fill (p, 12);
  p[2] &= 0x7f; /* a query */
  p[2] &= 0x87; /* opcode 0 */
  p[4] = 0;
  p[5] = 1;
  p[6] = p[7] = p[8] = p[9] = p[10] = p[11] = 0;
}

static size_t
junk (unsigned char *p, size_t cap)
{
  size_t n;

  switch (rnd () % 8)
    {
    case 0: /* shorter than a header */
      n = rnd () % 12;
      fill (p, n);
      return n;
    case 1: /* a name that runs past the end */
      header (p);
      p[12] = (unsigned char) (10 + rnd () % 50);
      n = 13 + rnd () % p[12];
      for (size_t i = 13; i < n; i++)
        p[i] = (unsigned char) ('a' + rnd () % 26);
      return n;
    case 2: /* a compression pointer to itself */
      header (p);
      p[12] = 0xc0;
      p[13] = 12;
      p[14] = 0;
      p[15] = 1;
      p[16] = 0;
      p[17] = 1;
      return 18;
    case 3: /* a forward pointer, then a loop back to it */
      header (p);
      p[12] = 0xc0;
      p[13] = 20;
      memset (p + 14, 0, 6);
      p[20] = 0xc0;
      p[21] = 12;
      return 22;
    case 4: /* a label longer than 63 (0x40..0x7f: extended label types) */
      header (p);
      p[12] = (unsigned char) (0x40 + rnd () % 0x40);
      n = 13 + rnd () % 100;
      fill (p + 13, n - 13);
      return n;
    case 5: /* a good name and no type/class */
      header (p);
      memcpy (p + 12, "\3api\7allowed\4test", 18);
      n = 30 + rnd () % 4; /* 0..3 of the 4 bytes */
      fill (p + 30, n - 30);
      return n;
    case 6: /* a name longer than 255 bytes */
      header (p);
      n = 12;
      while (n < 12 + 300 && n + 64 < cap)
        {
          p[n] = 63;
          memset (p + n + 1, 'x', 63);
          n += 64;
        }
      p[n++] = 0;
      memset (p + n, 0, 4);
      p[n + 1] = 1;
      p[n + 3] = 1;
      return n + 4;
    default: /* a response (QR set): never answered */
      header (p);
      p[2] |= 0x80;
      memcpy (p + 12, "\3api\7allowed\4test\0\0\1\0\1", 22);
      return 34;
    }
}

int
main (int argc, char **argv)
{
  struct sockaddr_in sa = { .sin_family = AF_INET };
  unsigned char buf[1024];
  long count = argc > 1 ? atol (argv[1]) : 1000;
  const char *addr = argc > 2 ? argv[2] : "127.0.0.53";
  int port = argc > 3 ? atoi (argv[3]) : 53;
  long sent = 0;
  int fd;

  state = argc > 4 ? strtoull (argv[4], NULL, 10) : (unsigned long long) time (NULL);
  if (state == 0)
    state = 1;
  sa.sin_port = htons ((unsigned short) port);
  if (inet_pton (AF_INET, addr, &sa.sin_addr) != 1)
    {
      fprintf (stderr, "dns-junk: bad address %s\n", addr);
      return 2;
    }
  fd = socket (AF_INET, SOCK_DGRAM, 0);
  if (fd < 0)
    {
      perror ("dns-junk: socket");
      return 1;
    }
  for (long i = 0; i < count; i++)
    {
      size_t n = junk (buf, sizeof (buf));
      if (sendto (fd, buf, n, 0, (struct sockaddr *) &sa, sizeof (sa)) == (ssize_t) n)
        sent++;
      /* Paced, so the receiver's socket buffer is not what drops them. */
      if (i % 50 == 49)
        usleep (2000);
    }
  printf ("dns-junk: sent %ld\n", sent);
  return sent == count ? 0 : 1;
}
