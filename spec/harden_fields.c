/* corral: the spec fields no other step owns, each kept, rewritten or
 * refused; unknown fields are refused (docs/spec-model.md has the table). */
#include "config.h"

#include <inttypes.h>

#include "base/util.h"
#include "spec/harden.h"

static const char *const top_keys[]
    = { "ociVersion", "process", "root", "hostname", "domainname", "mounts", "hooks", "annotations", "linux", NULL };
static const char *const process_keys[] = { "terminal",
                                            "consoleSize",
                                            "cwd",
                                            "env",
                                            "args",
                                            "rlimits",
                                            "apparmorProfile",
                                            "capabilities",
                                            "noNewPrivileges",
                                            "oomScoreAdj",
                                            "selinuxLabel",
                                            "user",
                                            "ioPriority",
                                            "execCPUAffinity",
                                            NULL };
static const char *const root_keys[] = { "path", "readonly", NULL };
static const char *const hook_stages[]
    = { "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop", NULL };
static const char *const linux_keys[] = { "namespaces",        "uidMappings", "gidMappings", "devices", "cgroupsPath",
                                          "rootfsPropagation", "resources",   "seccomp",     "sysctl",  "maskedPaths",
                                          "readonlyPaths",     "mountLabel",  NULL };
static const char *const resource_keys[]
    = { "devices", "memory", "cpu", "blockIO", "hugepageLimits", "pids", "rdma", "unified", "network", NULL };

/* Every rlimit Linux has; the kernel refuses others anyway. */
static const char *const rlimit_types[] = { "RLIMIT_AS",
                                            "RLIMIT_CORE",
                                            "RLIMIT_CPU",
                                            "RLIMIT_DATA",
                                            "RLIMIT_FSIZE",
                                            "RLIMIT_LOCKS",
                                            "RLIMIT_MEMLOCK",
                                            "RLIMIT_MSGQUEUE",
                                            "RLIMIT_NICE",
                                            "RLIMIT_NOFILE",
                                            "RLIMIT_NPROC",
                                            "RLIMIT_RSS",
                                            "RLIMIT_RTPRIO",
                                            "RLIMIT_RTTIME",
                                            "RLIMIT_SIGPENDING",
                                            "RLIMIT_STACK",
                                            NULL };
/* Limits whose only use is raising priority over the host's other work:
 * always 0 (RLIMIT_NICE 0: nice can only go up; RTPRIO/RTTIME 0: no
 * realtime scheduling). */
static const char *const rlimit_zero[] = { "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME", NULL };

/* Namespaced sysctls an agent may have set in its own namespaces; glob
 * patterns. */
static const char *const safe_sysctls[] = { "net.ipv4.ip_unprivileged_port_start",
                                            "net.ipv4.ping_group_range",
                                            "net.ipv4.ip_local_port_range",
                                            "net.ipv4.tcp_keepalive_time",
                                            "net.ipv4.tcp_keepalive_intvl",
                                            "net.ipv4.tcp_keepalive_probes",
                                            "net.ipv4.tcp_fin_timeout",
                                            "kernel.shmmax",
                                            "kernel.shmall",
                                            "kernel.shmmni",
                                            "kernel.msgmax",
                                            "kernel.msgmnb",
                                            "kernel.msgmni",
                                            "kernel.sem",
                                            "fs.mqueue.*",
                                            NULL };

static bool
in_list (const char *const *v, const char *s)
{
  for (; *v; v++)
    if (str_eq (*v, s))
      return true;
  return false;
}

static int
check_object (const json_t *obj, const char *path, const char *const *keys, corral_error_t *err)
{
  if (obj == NULL)
    return 0;
  if (!json_is_object (obj))
    return corral_error_make (err, 0, "%s: expected an object", path);
  for (size_t i = 0; i < json_len (obj); i++)
    if (!in_list (keys, json_key_at (obj, i)))
      return corral_error_make (err, 0,
                                "%s.%s: field not known to corral, so it is refused (corral keeps only what it "
                                "understands): remove it, or see docs/spec-model.md",
                                path, json_key_at (obj, i));
  return 0;
}

static int
judge_process (json_t *process, changes_t *changes, corral_error_t *err)
{
  json_t *rl = json_get (process, "rlimits");
  json_t *prio = json_get (process, "ioPriority");
  int64_t adj = 0;

  if (check_object (process, "process", process_keys, err) < 0)
    return -1;
  /* A negative score shields the agent from the OOM killer at the host's
   * expense (lowering it needs CAP_SYS_RESOURCE, which corral's caller
   * has). */
  if (json_get (process, "oomScoreAdj") != NULL)
    {
      if (!json_int64 (json_get (process, "oomScoreAdj"), &adj) || adj > 1000)
        return corral_error_make (err, 0, "process.oomScoreAdj: expected an integer up to 1000");
      if (adj < 0)
        {
          changes_add (changes, "fields",
                       "process.oomScoreAdj: %" PRId64 " -> 0 (an agent is never shielded from "
                       "the OOM killer)",
                       adj);
          json_set (process, "oomScoreAdj", json_new_int (0));
        }
    }
  if (rl != NULL && !json_is_array (rl))
    return corral_error_make (err, 0, "process.rlimits: expected an array");
  for (size_t i = 0; i < json_len (rl); i++)
    {
      json_t *r = json_at (rl, i);
      const char *const keys[] = { "type", "soft", "hard", NULL };
      const char *type = json_get_string (r, "type");
      int64_t v;

      if (json_check_keys (r, "process.rlimits", keys, err) < 0)
        return -1;
      if (type == NULL || !in_list (rlimit_types, type))
        return corral_error_make (err, 0, "process.rlimits[%zu]: unknown type `%s`: remove it", i,
                                  type ? type : "(none)");
      if (!json_int64 (json_get (r, "soft"), &v) || !json_int64 (json_get (r, "hard"), &v))
        return corral_error_make (err, 0, "process.rlimits %s: expected integer soft and hard values", type);
      /* RLIMIT_NPROC counts every process of a host uid, and every agent
       * is uid 65534 on the host: one agent at the limit would stop the
       * others from forking.  The pids cgroup limits each container
       * instead; an engine's value goes (the profile's rlimits.nproc, if
       * an operator sets one, is added back by the privileges step). */
      if (str_eq (type, "RLIMIT_NPROC"))
        {
          changes_add (changes, "fields",
                       "process.rlimits RLIMIT_NPROC: removed (counted per host uid, shared by "
                       "every agent; the pids cgroup limits this container)");
          json_remove_at (rl, i--);
          continue;
        }
      if (in_list (rlimit_zero, type)
          && (!json_int64 (json_get (r, "hard"), &v) || v != 0 || !json_int64 (json_get (r, "soft"), &v) || v != 0))
        {
          json_set (r, "soft", json_new_int (0));
          json_set (r, "hard", json_new_int (0));
          changes_add (changes, "fields", "process.rlimits %s: set to 0 (no priority over the host's work)", type);
        }
    }
  /* The realtime I/O class starves the host's disks (ioprio_set(2)). */
  if (prio != NULL && str_eq (json_get_string (prio, "class"), "IOPRIO_CLASS_RT"))
    return corral_error_make (err, 0, "process.ioPriority: class IOPRIO_CLASS_RT is refused: use BE or IDLE");
  return 0;
}

/* Is `args` a `corral hook …` command line (ours or another container's)? */
static bool
is_corral_hook (const json_t *h, const harden_ctx_t *ctx)
{
  const json_t *args = json_get (h, "args");
  const char *path = json_get_string (h, "path");
  const char *base = path && strrchr (path, '/') ? strrchr (path, '/') + 1 : path;

  if (!str_eq (json_string (json_at (args, 1)), "hook"))
    return false;
  return str_eq (json_string (json_at (args, 0)), "corral") || str_eq (base, "corral")
         || (ctx->hook_path && str_eq (path, ctx->hook_path));
}

/* This container's own entry, from an earlier pass over the same bundle:
 * our binary and our state directory. */
static bool
is_own_hook (const json_t *h, const harden_ctx_t *ctx)
{
  const json_t *args = json_get (h, "args");
  size_t n = json_len (args);

  if (ctx->hook_path == NULL || ctx->state_dir == NULL || !str_eq (json_get_string (h, "path"), ctx->hook_path))
    return false;
  return n >= 2 && str_eq (json_string (json_at (args, n - 2)), "--state-dir")
         && str_eq (json_string (json_at (args, n - 1)), ctx->state_dir);
}

/* Engine hooks (podman's hooks dir, Docker's, NVIDIA's) are the
 * operator's and stay; every `corral hook` entry of another container goes (the hooks and
 * budgets steps add this container's own), so a bundle corral already
 * rewrote never keeps another container's --state-dir. */
static int
judge_hooks (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err)
{
  json_t *hooks = json_get (spec, "hooks");
  size_t dropped = 0;

  if (check_object (hooks, "hooks", hook_stages, err) < 0)
    return -1;
  for (size_t s = 0; s < json_len (hooks); s++)
    {
      json_t *list = json_value_at (hooks, s);

      if (!json_is_array (list))
        return corral_error_make (err, 0, "hooks.%s: expected an array", json_key_at (hooks, s));
      for (size_t i = json_len (list); i-- > 0;)
        {
          json_t *h = json_at (list, i);
          const char *const keys[] = { "path", "args", "env", "timeout", NULL };

          if (json_check_keys (h, "hooks[]", keys, err) < 0)
            return -1;
          if (json_get_string (h, "path") == NULL)
            return corral_error_make (err, 0, "hooks.%s[%zu]: expected a path", json_key_at (hooks, s), i);
          if (is_corral_hook (h, ctx) && !is_own_hook (h, ctx))
            {
              json_remove_at (list, i);
              dropped++;
            }
        }
    }
  if (dropped)
    changes_add (changes, "fields",
                 "hooks: dropped %zu earlier `corral hook` entries (this container's own are "
                 "added afresh)",
                 dropped);
  return 0;
}

static int
judge_resources (json_t *res, changes_t *changes, corral_error_t *err)
{
  json_t *cpu = json_get (res, "cpu");
  json_t *mem = json_get (res, "memory");
  int64_t rt = 0;
  bool b = false;

  if (check_object (res, "linux.resources", resource_keys, err) < 0)
    return -1;
  /* cgroup v2 key/value pairs would bypass every limit corral sets. */
  if (json_get (res, "unified") != NULL)
    {
      if (json_len (json_get (res, "unified")) > 0)
        changes_add (changes, "fields",
                     "linux.resources.unified: removed (%zu raw cgroup v2 settings; corral's "
                     "limits are the ones that hold)",
                     json_len (json_get (res, "unified")));
      json_del (res, "unified");
    }
  /* A net_cls class id can match host firewall rules written for it. */
  if (json_len (json_get (res, "network")) > 0)
    return corral_error_make (err, 0,
                              "linux.resources.network is refused (a net_cls class id or priority could "
                              "match host traffic rules): remove it");
  if (json_int64 (json_get (cpu, "realtimeRuntime"), &rt) && rt != 0)
    return corral_error_make (err, 0,
                              "linux.resources.cpu.realtimeRuntime: realtime CPU time is refused (an agent "
                              "never preempts the host): remove it");
  if (json_bool (json_get (mem, "disableOOMKiller"), &b) && b)
    {
      changes_add (changes, "fields",
                   "linux.resources.memory.disableOOMKiller: false (a container over its memory "
                   "limit is killed, not left hanging)");
      json_set (mem, "disableOOMKiller", json_new_bool (false));
    }
  return 0;
}

/* A seccomp notify listener is a process outside the container that
 * decides syscalls for it (runc connects to listenerPath as root and sends
 * the container's state): nothing corral would have judged. */
static int
judge_seccomp_listener (const json_t *sc, corral_error_t *err)
{
  const json_t *calls = json_get (sc, "syscalls");

  if (json_get (sc, "listenerPath") || json_get (sc, "listenerMetadata"))
    return corral_error_make (err, 0, "linux.seccomp.listenerPath: a seccomp notify listener is refused: remove it");
  if (str_eq (json_get_string (sc, "defaultAction"), "SCMP_ACT_NOTIFY"))
    return corral_error_make (err, 0, "linux.seccomp.defaultAction SCMP_ACT_NOTIFY is refused");
  for (size_t i = 0; i < json_len (calls); i++)
    if (str_eq (json_get_string (json_at (calls, i), "action"), "SCMP_ACT_NOTIFY"))
      return corral_error_make (err, 0, "linux.seccomp.syscalls[%zu]: action SCMP_ACT_NOTIFY is refused", i);
  return 0;
}

static int
judge_linux (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err)
{
  json_t *linux_ = json_get (spec, "linux");
  json_t *sysctl = json_get (linux_, "sysctl");
  const char *cg = json_get_string (linux_, "cgroupsPath");

  if (check_object (linux_, "linux", linux_keys, err) < 0)
    return -1;
  if (sysctl != NULL && !json_is_object (sysctl))
    return corral_error_make (err, 0, "linux.sysctl: expected an object");
  for (size_t i = 0; i < json_len (sysctl); i++)
    {
      const char *k = json_key_at (sysctl, i);
      bool ok = false;

      for (size_t j = 0; safe_sysctls[j] && !ok; j++)
        ok = glob_match (safe_sysctls[j], k, false);
      if (!ok || !json_is_string (json_value_at (sysctl, i)))
        return corral_error_make (err, 0,
                                  "linux.sysctl.%s: refused (corral keeps only namespaced sysctls of its safe list: "
                                  "net.ipv4.ip_unprivileged_port_start, ping_group_range, ip_local_port_range, "
                                  "tcp keepalive/fin timeouts, kernel.shm*/msg*/sem, fs.mqueue.*): remove it",
                                  k);
    }
  /* The engine owns the cgroup path; it may not climb out of where the
   * engine puts containers. */
  if (json_get (linux_, "cgroupsPath") != NULL)
    {
      if (cg == NULL)
        return corral_error_make (err, 0, "linux.cgroupsPath: expected a string");
      if (str_eq (cg, "/") || strstr (cg, "/../") || str_has_prefix (cg, "../") || str_eq (cg, "..")
          || (strlen (cg) >= 3 && str_eq (cg + strlen (cg) - 3, "/..")))
        return corral_error_make (err, 0,
                                  "linux.cgroupsPath `%s` is refused (the root cgroup or a `..` "
                                  "component): let the engine choose it",
                                  cg);
      /* runc would join an existing cgroup, write the profile's limits
       * onto it and freeze it on pause: a host service's or a session's. */
      if (ctx->cgroup_exists && ctx->cgroup_exists (cg))
        return corral_error_make (err, 0,
                                  "linux.cgroupsPath `%s` is refused: that cgroup already exists (another "
                                  "container's or the host's); let the engine choose a new one",
                                  cg);
    }
  if (judge_seccomp_listener (json_get (linux_, "seccomp"), err) < 0)
    return -1;
  return judge_resources (json_get (linux_, "resources"), changes, err);
}

int
harden_process_fields (json_t *process, changes_t *changes, corral_error_t *err)
{
  return judge_process (process, changes, err);
}

int
harden_fields (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err)
{
  if (check_object (spec, "config.json", top_keys, err) < 0)
    return -1;
  if (check_object (json_get (spec, "root"), "root", root_keys, err) < 0)
    return -1;
  if (json_get (spec, "annotations") != NULL && !json_is_object (json_get (spec, "annotations")))
    return corral_error_make (err, 0, "annotations: expected an object");
  if (judge_process (json_get (spec, "process"), changes, err) < 0)
    return -1;
  if (judge_hooks (spec, ctx, changes, err) < 0)
    return -1;
  return judge_linux (spec, ctx, changes, err);
}
