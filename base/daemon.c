/* corral: starting a container's long-running helpers (see daemon.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/daemon.h"
#include "base/util.h"

/* What a daemon may say before it closes the pipe: "1" (ready), or why not. */
#define READY_MAX 4096
/* How long a helper may take to set up (it opens a few sockets and files). */
#define READY_TIMEOUT_MS 30000

/* In the first child: detach, fork the daemon, and exit; in the daemon,
 * exec corral.  Only async-signal-safe calls: the caller may have threads. */
static _Noreturn void
detach_and_exec (const char *exe, char *const argv[], int ready_fd)
{
  int null = open ("/dev/null", O_RDWR | O_CLOEXEC);
  pid_t pid;

  if (null < 0 || dup2 (null, STDIN_FILENO) < 0 || dup2 (null, STDOUT_FILENO) < 0 || dup2 (null, STDERR_FILENO) < 0
      || setsid () < 0 || chdir ("/") < 0)
    _exit (1);
  pid = fork ();
  if (pid < 0)
    _exit (1);
  if (pid > 0)
    _exit (0);
  /* dup2 clears close-on-exec on the copy; a ready_fd that already is the
   * number needs it cleared by hand. */
  if (ready_fd == DAEMON_READY_FD ? fcntl (ready_fd, F_SETFD, 0) < 0 : dup2 (ready_fd, DAEMON_READY_FD) < 0)
    _exit (1);
  /* An engine may hand the runtime fds without close-on-exec (conmon's
   * pipes): a daemon that kept them would keep the engine waiting. */
  if (close_range (DAEMON_READY_FD + 1, ~0U, 0) < 0)
    _exit (1);
  execv (exe, argv);
  {
    static const char msg[] = "could not run corral's own binary (replaced or removed since the hook started?)";
    (void) !write (DAEMON_READY_FD, msg, sizeof (msg) - 1);
  }
  _exit (127);
}

/* Read what the daemon said, until it closes the pipe or the deadline
 * passes (errno ETIMEDOUT): a helper stuck in its setup must not hang the
 * hook, and with it the engine. */
static ssize_t
read_report (int fd, char *buf, size_t size)
{
  int64_t deadline = (int64_t) monotonic_ms () + READY_TIMEOUT_MS;
  size_t have = 0;

  while (have < size - 1)
    {
      struct pollfd p = { .fd = fd, .events = POLLIN };
      int64_t left = deadline - (int64_t) monotonic_ms ();
      ssize_t n;
      int r;

      if (left <= 0)
        {
          errno = ETIMEDOUT;
          return -1;
        }
      r = poll (&p, 1, (int) left);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return -1;
      if (r == 0)
        continue;
      n = read (fd, buf + have, size - 1 - have);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -1;
      if (n == 0)
        break;
      have += (size_t) n;
    }
  buf[have] = '\0';
  return (ssize_t) have;
}

int
daemon_spawn (const char *what, char *const args[], corral_error_t *err)
{
  cleanup_free char *exe = realpath ("/proc/self/exe", NULL);
  cleanup_free char **argv = NULL;
  cleanup_close int rd = -1;
  cleanup_close int wr = -1;
  char report[READY_MAX];
  size_t n_args = strv_len (args);
  int fds[2];
  pid_t pid;
  int status;

  /* The path, not /proc/self/exe: the daemon's name in ps is "corral". */
  if (exe == NULL)
    return corral_error_make (err, errno, "start the %s: resolve corral's own path", what);
  argv = xmalloc0 ((n_args + 2) * sizeof (char *));
  argv[0] = (char *) "corral";
  memcpy (argv + 1, args, n_args * sizeof (char *));
  if (pipe2 (fds, O_CLOEXEC) < 0)
    return corral_error_make (err, errno, "start the %s: pipe", what);
  rd = fds[0];
  wr = fds[1];
  pid = fork ();
  if (pid < 0)
    return corral_error_make (err, errno, "fork the %s", what);
  if (pid == 0)
    detach_and_exec (exe, argv, wr);
  /* Only the daemon may hold the write end: EOF means it is done talking. */
  close (steal_fd (&wr));
  while (waitpid (pid, &status, 0) < 0)
    if (errno != EINTR)
      return corral_error_make (err, errno, "wait for the %s to detach", what);
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    return corral_error_make (err, 0, "the %s could not detach", what);
  if (read_report (rd, report, sizeof (report)) < 0)
    return errno == ETIMEDOUT
               ? corral_error_make (err, 0, "the %s did not start within %d s", what, READY_TIMEOUT_MS / 1000)
               : corral_error_make (err, errno, "wait for the %s to start", what);
  if (str_eq (report, "1"))
    return 0;
  if (report[0] == '\0')
    return corral_error_make (err, 0, "the %s ended before it was ready", what);
  return corral_error_make (err, 0, "%s: %s", what, report);
}

void
daemon_ready (const corral_error_t error)
{
  const char *msg = error ? error->msg : "1";

  (void) !write (DAEMON_READY_FD, msg, strlen (msg));
  close (DAEMON_READY_FD);
}
