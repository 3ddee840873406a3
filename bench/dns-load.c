/* dns-load: a closed-loop DNS load generator for bench/dns-guard.  Keeps
 * WINDOW queries for NAME (type A) outstanding against SERVER:PORT over UDP
 * for SECONDS and prints one line: answered queries, queries per second,
 * and the p50/p99/max latency of the answers in microseconds.
 * Usage: dns-load SERVER PORT NAME SECONDS WINDOW */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SAMPLES (8 * 1024 * 1024)

static uint64_t
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static int
cmp_u32 (const void *a, const void *b)
{
  uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
  return x < y ? -1 : x > y;
}

static size_t
build_query (uint8_t *q, const char *name, uint16_t id)
{
  size_t n = 12;
  const char *s = name;

  memset (q, 0, 12);
  q[0] = (uint8_t) (id >> 8);
  q[1] = (uint8_t) id;
  q[2] = 0x01; /* RD */
  q[5] = 1;
  while (*s)
    {
      const char *dot = strchr (s, '.');
      size_t l = dot ? (size_t) (dot - s) : strlen (s);
      q[n++] = (uint8_t) l;
      memcpy (q + n, s, l);
      n += l;
      s += l + (dot ? 1 : 0);
    }
  q[n++] = 0;
  q[n++] = 0;
  q[n++] = 1; /* A */
  q[n++] = 0;
  q[n++] = 1; /* IN */
  return n;
}

int
main (int argc, char **argv)
{
  struct sockaddr_in sa = { .sin_family = AF_INET };
  static uint64_t sent_at[65536];
  static uint8_t outstanding[65536];
  uint32_t *lat;
  size_t n_lat = 0;
  uint64_t start, end, answered = 0, lost = 0, errors = 0;
  uint16_t next_id = 1;
  int fd, window, seconds, in_flight = 0;
  uint8_t q[512], r[4096];

  if (argc != 6)
    {
      fprintf (stderr, "usage: dns-load SERVER PORT NAME SECONDS WINDOW\n");
      return 2;
    }
  inet_pton (AF_INET, argv[1], &sa.sin_addr);
  sa.sin_port = htons ((uint16_t) atoi (argv[2]));
  seconds = atoi (argv[4]);
  window = atoi (argv[5]);
  lat = malloc (MAX_SAMPLES * sizeof (*lat));
  fd = socket (AF_INET, SOCK_DGRAM, 0);
  if (lat == NULL || fd < 0 || connect (fd, (struct sockaddr *) &sa, sizeof (sa)) < 0)
    {
      perror ("dns-load");
      return 1;
    }
  start = now_ns ();
  end = start + (uint64_t) seconds * 1000000000u;
  for (;;)
    {
      uint64_t t = now_ns ();
      struct pollfd p = { .fd = fd, .events = POLLIN };

      while (t < end && in_flight < window)
        {
          size_t n;
          while (outstanding[next_id])
            next_id++;
          n = build_query (q, argv[3], next_id);
          if (send (fd, q, n, 0) != (ssize_t) n)
            {
              errors++;
              break;
            }
          sent_at[next_id] = now_ns ();
          outstanding[next_id] = 1;
          in_flight++;
          next_id++;
        }
      if (t >= end && in_flight == 0)
        break;
      if (poll (&p, 1, 100) == 0)
        {
          /* Nothing for 100 ms: count what is older than a second as lost. */
          uint64_t old = now_ns () - 1000000000u;
          for (int i = 0; i < 65536; i++)
            if (outstanding[i] && sent_at[i] < old)
              {
                outstanding[i] = 0;
                in_flight--;
                lost++;
              }
          if (t >= end + 2000000000u)
            break;
          continue;
        }
      for (;;)
        {
          ssize_t n = recv (fd, r, sizeof (r), MSG_DONTWAIT);
          uint16_t id;

          if (n < 0)
            break;
          if (n < 12)
            continue;
          id = (uint16_t) ((r[0] << 8) | r[1]);
          if (!outstanding[id])
            continue;
          outstanding[id] = 0;
          in_flight--;
          if ((r[3] & 0xf) != 0)
            errors++;
          answered++;
          if (n_lat < MAX_SAMPLES)
            lat[n_lat++] = (uint32_t) ((now_ns () - sent_at[id]) / 1000);
        }
    }
  qsort (lat, n_lat, sizeof (*lat), cmp_u32);
  printf ("answered %llu qps %.0f p50_us %u p99_us %u max_us %u lost %llu errors %llu\n", (unsigned long long) answered,
          (double) answered / seconds, n_lat ? lat[n_lat / 2] : 0, n_lat ? lat[n_lat * 99 / 100] : 0,
          n_lat ? lat[n_lat - 1] : 0, (unsigned long long) lost, (unsigned long long) errors);
  return 0;
}
