/* corral: entering a container's network namespace. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

#include "base/util.h"
#include "hooks/netns.h"

int
netns_enter (pid_t pid, corral_error_t *err)
{
  cleanup_free char *path = NULL;
  cleanup_close int fd = -1;

  xasprintf (&path, "/proc/%d/ns/net", (int) pid);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return corral_error_make (err, errno, "open `%s`", path);
  if (setns (fd, CLONE_NEWNET) < 0)
    return corral_error_make (err, errno, "enter the network namespace `%s`", path);
  return 0;
}
