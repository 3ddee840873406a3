/* corral: starting a long-running helper from a hook (see daemon.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/daemon.h"
#include "base/util.h"

/* In the first child: detach, fork the daemon, and exit. */
static _Noreturn void
detach (int ready_fd, int (*ready) (void *ctx), void (*loop) (void *ctx), void *ctx)
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
  if (ready && ready (ctx) < 0)
    _exit (1);
  /* Up: the caller may return. */
  if (write (ready_fd, "1", 1) != 1)
    _exit (1);
  close (ready_fd);
  loop (ctx);
  _exit (1); /* loops do not return */
}

int
daemon_start (const char *what, int (*ready) (void *ctx), void (*loop) (void *ctx), void *ctx, corral_error_t *err)
{
  cleanup_close int rd = -1;
  cleanup_close int wr = -1;
  int fds[2];
  pid_t pid;
  int status;
  ssize_t n;
  char c = 0;

  if (pipe2 (fds, O_CLOEXEC) < 0)
    return corral_error_make (err, errno, "start the %s: pipe", what);
  rd = fds[0];
  wr = fds[1];
  pid = fork ();
  if (pid < 0)
    return corral_error_make (err, errno, "fork the %s", what);
  if (pid == 0)
    {
      close (rd);
      detach (wr, ready, loop, ctx);
    }
  /* Only the daemon may hold the write end: EOF means it died unready. */
  close (steal_fd (&wr));
  while (waitpid (pid, &status, 0) < 0)
    if (errno != EINTR)
      return corral_error_make (err, errno, "wait for the %s to detach", what);
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    return corral_error_make (err, 0, "the %s could not detach", what);
  while ((n = read (rd, &c, 1)) < 0 && errno == EINTR)
    ;
  if (n < 0)
    return corral_error_make (err, errno, "wait for the %s to start", what);
  if (n != 1 || c != '1')
    return corral_error_make (err, 0, "the %s could not start", what);
  return 0;
}
