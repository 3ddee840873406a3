/* corral: fork/exec of the delegate with signal forwarding. */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "shim/delegate.h"
#include "base/util.h"

int
delegate_resolve (const char *name, char **ret, corral_error_t *err)
{
  const char *path = getenv ("PATH");
  cleanup_free char *copy = NULL;
  char *save = NULL;

  if (strchr (name, '/'))
    {
      if (access (name, X_OK) < 0)
        return corral_error_make (err, errno, "delegate runtime `%s`", name);
      *ret = xstrdup (name);
      return 0;
    }
  copy = xstrdup (path && *path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  for (char *dir = strtok_r (copy, ":", &save); dir; dir = strtok_r (NULL, ":", &save))
    {
      cleanup_free char *cand = NULL;
      struct stat st;

      if (*dir != '/')
        continue; /* a relative PATH entry would depend on the engine's cwd */
      xasprintf (&cand, "%s/%s", dir, name);
      if (stat (cand, &st) == 0 && S_ISREG (st.st_mode) && access (cand, X_OK) == 0)
        {
          *ret = steal_pointer (&cand);
          return 0;
        }
    }
  return corral_error_make (err, ENOENT,
                            "delegate runtime `%s` not found in PATH (install it or set its path in "
                            "the policy's \"runtimes\")",
                            name);
}

int
delegate_exec (char *const *argv, corral_error_t *err)
{
  execv (argv[0], argv);
  return corral_error_make (err, errno, "exec delegate runtime `%s`", argv[0]);
}

/* The child's pid, for the forwarding handler: a signal handler has no other
 * way to reach it. */
static volatile pid_t forward_pid;

static void
forward_signal (int sig)
{
  if (forward_pid > 0)
    (void) kill (forward_pid, sig);
}

static const int forwarded_signals[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT };

int
delegate_spawn (char *const *argv, int *ret_status, corral_error_t *err)
{
  struct sigaction sa = { .sa_handler = forward_signal, .sa_flags = SA_RESTART };
  struct sigaction old[sizeof (forwarded_signals) / sizeof (forwarded_signals[0])];
  sigset_t block, saved;
  pid_t pid;
  int status, e = 0;

  /* Block the forwarded signals across fork so none is lost between fork and
   * the handler knowing the pid. */
  sigemptyset (&block);
  for (size_t i = 0; i < sizeof (forwarded_signals) / sizeof (forwarded_signals[0]); i++)
    sigaddset (&block, forwarded_signals[i]);
  sigprocmask (SIG_BLOCK, &block, &saved);

  pid = fork ();
  if (pid < 0)
    {
      e = errno;
      sigprocmask (SIG_SETMASK, &saved, NULL);
      return corral_error_make (err, e, "fork");
    }
  if (pid == 0)
    {
      sigprocmask (SIG_SETMASK, &saved, NULL);
      execv (argv[0], argv);
      dprintf (STDERR_FILENO, "exec delegate runtime `%s`: %m\n", argv[0]);
      _exit (127);
    }

  forward_pid = pid;
  sigemptyset (&sa.sa_mask);
  for (size_t i = 0; i < sizeof (forwarded_signals) / sizeof (forwarded_signals[0]); i++)
    sigaction (forwarded_signals[i], &sa, &old[i]);
  sigprocmask (SIG_SETMASK, &saved, NULL);

  while (waitpid (pid, &status, 0) < 0)
    if (errno != EINTR)
      {
        e = errno;
        break;
      }

  sigprocmask (SIG_BLOCK, &block, NULL);
  forward_pid = 0;
  for (size_t i = 0; i < sizeof (forwarded_signals) / sizeof (forwarded_signals[0]); i++)
    sigaction (forwarded_signals[i], &old[i], NULL);
  sigprocmask (SIG_SETMASK, &saved, NULL);

  if (e)
    return corral_error_make (err, e, "wait for delegate runtime `%s`", argv[0]);
  *ret_status = status;
  return 0;
}

void
delegate_exit_like (int status)
{
  if (WIFSIGNALED (status))
    {
      int sig = WTERMSIG (status);
      struct sigaction sa = { .sa_handler = SIG_DFL };
      sigset_t set;

      sigaction (sig, &sa, NULL);
      sigemptyset (&set);
      sigaddset (&set, sig);
      sigprocmask (SIG_UNBLOCK, &set, NULL);
      (void) raise (sig);
      _exit (128 + sig);
    }
  _exit (WIFEXITED (status) ? WEXITSTATUS (status) : 1);
}
