/* corral: runsc command lines and the /proc/sys/net workaround. */
#include "config.h"

#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include "shim/gvisor.h"
#include "services/audit.h"
#include "base/util.h"

char **
gvisor_fixed_args (const char *runsc_root, const char *platform, const char *network)
{
  char **v = xmalloc0 (9 * sizeof (char *));
  size_t k = 0;

  v[k++] = xstrdup ("--root");
  v[k++] = xstrdup (runsc_root);
  v[k++] = xstrdup ("--platform");
  v[k++] = xstrdup (platform);
  v[k++] = xstrdup ("--network");
  v[k++] = xstrdup (network);
  /* Without it runsc ignores linux.seccomp (the agent filter). */
  v[k++] = xstrdup ("--oci-seccomp");
  v[k] = NULL;
  return v;
}

static bool
is_tty_flag (const char *a)
{
  return str_eq (a, "--tty") || str_eq (a, "-tty") || str_eq (a, "-t") || str_has_prefix (a, "--tty=")
         || str_has_prefix (a, "-tty=");
}

char **
gvisor_argv (const cli_t *cli, const char *path, char *const *fixed)
{
  size_t n = 1 + strv_len (fixed) + 7 + 1 + (size_t) cli->n_command_args + 1;
  char **argv = xmalloc0 (n * sizeof (char *));
  bool in_flags = true;
  size_t k = 0;

  argv[k++] = xstrdup (path);
  for (size_t i = 0; fixed && fixed[i]; i++)
    argv[k++] = xstrdup (fixed[i]);
  /* runc's --root, --rootless and --criu have no meaning for runsc. */
  if (cli->log)
    {
      argv[k++] = xstrdup ("--log");
      argv[k++] = xstrdup (cli->log);
    }
  if (cli->log_format)
    {
      argv[k++] = xstrdup ("--log-format");
      argv[k++] = xstrdup (cli->log_format);
    }
  if (cli->debug)
    {
      /* runsc's own debug logs, one file per command, beside corral's. */
      argv[k++] = xstrdup ("--debug");
      argv[k++] = xstrdup ("--debug-log");
      argv[k++] = xstrdup (CORRAL_LOG_DIR "/runsc/");
    }
  argv[k++] = xstrdup (cli->command);
  for (int i = 0; i < cli->n_command_args; i++)
    {
      const char *a = cli->command_args[i];

      if (in_flags && (a[0] != '-' || str_eq (a, "--")))
        in_flags = false;
      if (in_flags && str_eq (cli->command, "exec") && is_tty_flag (a))
        continue;
      argv[k++] = xstrdup (a);
    }
  argv[k] = NULL;
  return argv;
}

bool
gvisor_command_checks_netns (const char *command)
{
  return str_eq (command, "start") || str_eq (command, "run") || str_eq (command, "restore");
}

/* Does a fresh network namespace show rmem_default?  Checked in a child so
 * corral's own namespaces stay as they are. */
static int
rmem_default_in_every_netns (bool *ret, corral_error_t *err)
{
  pid_t pid = fork ();
  int status;

  if (pid < 0)
    return corral_error_make (err, errno, "fork");
  if (pid == 0)
    {
      if (unshare (CLONE_NEWNET) < 0)
        _exit (2);
      _exit (access ("/proc/sys/net/core/rmem_default", F_OK) == 0 ? 0 : 1);
    }
  while (waitpid (pid, &status, 0) < 0)
    if (errno != EINTR)
      return corral_error_make (err, errno, "wait");
  if (!WIFEXITED (status) || WEXITSTATUS (status) > 1)
    return corral_error_make (err, 0, "cannot probe network namespaces for runsc");
  *ret = WEXITSTATUS (status) == 0;
  return 0;
}

int
gvisor_hide_proc_sys_net (corral_error_t *err)
{
  bool needed = false;

  if (rmem_default_in_every_netns (&needed, err) < 0)
    return -1;
  if (!needed)
    return 0;
  if (unshare (CLONE_NEWNS) < 0)
    return corral_error_make (err, errno, "private mount namespace for runsc");
  /* Nothing mounted here may reach the host's mount table. */
  if (mount (NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
    return corral_error_make (err, errno, "make mounts private for runsc");
  if (mount ("tmpfs", "/proc/sys/net", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=555") < 0)
    return corral_error_make (err, errno, "hide /proc/sys/net from runsc");
  return 0;
}
