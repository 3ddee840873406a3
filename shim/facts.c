/* corral: host facts for the hardening steps (see facts.h). */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>

#include "shim/facts.h"
#include "base/fs.h"
#include "services/state.h"
#include "base/util.h"
#include "base/json.h"

/* Name of a namespace kind under /proc/PID/ns. */
static const char *
proc_ns_name (const char *type)
{
  if (str_eq (type, "network"))
    return "net";
  if (str_eq (type, "mount"))
    return "mnt";
  return type;
}

static bool
same_inode (const struct stat *a, const struct stat *b)
{
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

static bool
proc_ns_stat (const char *pid, const char *type, struct stat *ret)
{
  cleanup_free char *p = NULL;

  xasprintf (&p, "/proc/%s/ns/%s", pid, proc_ns_name (type));
  return stat (p, ret) == 0;
}

static const char *
state_base (void)
{
  const char *b = getenv ("CORRAL_STATE_DIR");
  return b && *b == '/' ? b : CORRAL_STATE_BASE;
}

/* Is sandbox_id a corral-created CRI sandbox whose init holds ns? */
static bool
is_pod_sandbox_ns (const char *engine_root, const char *sandbox_id, const char *type, const struct stat *ns)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_free char *path = NULL;
  cleanup_free char *data = NULL;
  cleanup_free char *pid = NULL;
  cleanup_close int fd = -1;
  cleanup_json json_t *state = NULL;
  cleanup_record state_record_t rec = { 0 };
  json_t *labels;
  int64_t ipid = 0;
  bool sandbox = false;
  struct stat st;
  size_t len;
  int found;

  if (sandbox_id == NULL || *sandbox_id == '\0' || strchr (sandbox_id, '/') || str_eq (sandbox_id, "..")
      || str_eq (sandbox_id, "."))
    return false;
  found = state_record_read (state_base (), engine_root, sandbox_id, &rec, &err);
  if (found != 1)
    return false;
  /* runc's own record of the sandbox: its init pid and the annotations it
   * was created with (as "key=value" labels). */
  xasprintf (&path, "%s/%s/state.json", engine_root ? engine_root : RUNC_DEFAULT_ROOT, sandbox_id);
  fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 || fd_read_all (fd, 16 * 1024 * 1024, path, &data, &len, &err) < 0)
    return false;
  state = json_parse (data, len, &err);
  if (state == NULL || !json_int64 (json_get (state, "init_process_pid"), &ipid) || ipid <= 1)
    return false;
  labels = json_get (json_get (state, "config"), "labels");
  for (size_t i = 0; i < json_len (labels); i++)
    sandbox |= str_eq (json_string (json_at (labels, i)), "io.kubernetes.cri.container-type=sandbox")
               || str_eq (json_string (json_at (labels, i)), "io.kubernetes.cri-o.ContainerType=sandbox");
  if (!sandbox)
    return false;
  xasprintf (&pid, "%" PRId64, ipid);
  return proc_ns_stat (pid, type, &st) && same_inode (&st, ns);
}

/* Is any process in the namespace ns (of kind type)? */
static bool
ns_in_use (const char *type, const struct stat *ns)
{
  DIR *d = opendir ("/proc");
  struct dirent *e;
  bool used = false;

  if (d == NULL)
    return true; /* cannot tell: not proven fresh */
  while (!used && (e = readdir (d)) != NULL)
    {
      struct stat st;

      if (e->d_name[0] < '0' || e->d_name[0] > '9')
        continue;
      used = proc_ns_stat (e->d_name, type, &st) && same_inode (&st, ns);
    }
  closedir (d);
  return used;
}

enum ns_join
facts_classify_join (const harden_ctx_t *ctx, const char *type, const char *path, const char *sandbox_id)
{
  cleanup_free char *canon = NULL;
  struct stat self, st;

  if (path == NULL)
    return NS_JOIN_UNPROVEN;
  /* A named netns that does not exist: the delegate cannot join it and
   * fails (only root creates entries in /run/netns). */
  if (stat (path, &st) < 0)
    return errno == ENOENT && str_eq (type, "network") && str_has_prefix (path, "/run/netns/")
                   && !strchr (path + 11, '/') && !strstr (path, "..")
               ? NS_JOIN_FRESH_NETNS
               : NS_JOIN_UNPROVEN;
  if (proc_ns_stat ("self", type, &self) && same_inode (&self, &st))
    return NS_JOIN_HOST;
  if (sandbox_id && is_pod_sandbox_ns (ctx->engine_root, sandbox_id, type, &st))
    return NS_JOIN_POD_SANDBOX;
  /* A named netns (podman's netns-*, CRI's cni-*) that no process is in
   * yet: the container is its first tenant.  Anything in use belongs to
   * someone else. */
  canon = realpath (path, NULL);
  if (str_eq (type, "network") && canon && str_has_prefix (canon, "/run/netns/") && !strchr (canon + 11, '/')
      && !ns_in_use (type, &st))
    return NS_JOIN_FRESH_NETNS;
  return NS_JOIN_UNPROVEN;
}

unsigned
facts_source_mode (const char *canon)
{
  struct stat st;

  return canon && lstat (canon, &st) == 0 ? (unsigned) st.st_mode : 0;
}

bool
facts_cgroup_exists (const char *path)
{
  /* cgroup v1 controllers corral's limits land in, and the v2 trees. */
  static const char *const roots[] = { "/sys/fs/cgroup/memory",
                                       "/sys/fs/cgroup/pids",
                                       "/sys/fs/cgroup/cpu",
                                       "/sys/fs/cgroup/freezer",
                                       "/sys/fs/cgroup/unified",
                                       "/sys/fs/cgroup",
                                       NULL };
  struct stat st;

  if (path == NULL || path[0] != '/')
    return false;
  for (const char *const *r = roots; *r; r++)
    {
      cleanup_free char *p = NULL;

      xasprintf (&p, "%s%s", *r, path);
      /* The v2 root itself holds the v1 mounts: only a cgroup counts there. */
      if (str_eq (*r, "/sys/fs/cgroup"))
        {
          cleanup_free char *ctl = NULL;
          xasprintf (&ctl, "%s/cgroup.procs", p);
          if (stat (ctl, &st) == 0)
            return true;
          continue;
        }
      if (stat (p, &st) == 0 && S_ISDIR (st.st_mode))
        return true;
    }
  return false;
}
