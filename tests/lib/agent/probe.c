/* agent-probe: compiled inside the agent image by 150-agent-workloads.bats
 * and run from /tmp.  Prints one line per check:
 *   threads: ok            pthread_create works (a clone3 rule that answers
 *                          EPERM breaks it under runsc)
 *   signal: ok             a handler runs for a signal sent to ourselves and
 *                          a child killed by SIGTERM is reported as such
 *   clone-newuser: EPERM   clone with a namespace flag is denied
 *   clone3-newuser: ENOSYS clone3 (flags out of seccomp's sight) is denied
 *   unshare: EPERM         unshare is denied */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/sched.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t got_usr1;

static void
on_usr1 (int sig)
{
  (void) sig;
  got_usr1 = 1;
}

static void *
thread_main (void *arg)
{
  return arg;
}

static const char *
result (long r, int err)
{
  return r < 0 ? strerrorname_np (err) : "ok";
}

/* A child that runs is reaped here; only the parent reports. */
static long
reap (long pid)
{
  if (pid == 0)
    _exit (0);
  if (pid > 0)
    waitpid ((pid_t) pid, NULL, 0);
  return pid;
}

int
main (void)
{
  struct sigaction sa = { .sa_handler = on_usr1 };
  struct clone_args ca = { .flags = CLONE_NEWUSER, .exit_signal = SIGCHLD };
  pthread_t t;
  int status, r;
  long p;
  pid_t child;

  r = pthread_create (&t, NULL, thread_main, NULL);
  if (r == 0)
    pthread_join (t, NULL);
  printf ("threads: %s\n", r == 0 ? "ok" : strerrorname_np (r));

  sigaction (SIGUSR1, &sa, NULL);
  kill (getpid (), SIGUSR1);
  child = fork ();
  if (child == 0)
    {
      pause ();
      _exit (0);
    }
  kill (child, SIGTERM);
  waitpid (child, &status, 0);
  printf ("signal: %s\n", got_usr1 && WIFSIGNALED (status) && WTERMSIG (status) == SIGTERM ? "ok" : "broken");

  p = reap (syscall (SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, 0));
  printf ("clone-newuser: %s\n", result (p, errno));
  p = reap (syscall (SYS_clone3, &ca, sizeof (ca)));
  printf ("clone3-newuser: %s\n", result (p, errno));
  p = syscall (SYS_unshare, CLONE_NEWUSER);
  printf ("unshare: %s\n", result (p, errno));
  return 0;
}
