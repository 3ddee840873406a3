/* corral: ps, inspect and checklist. */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "hooks/watchdog.h"
#include "base/fs.h"
#include "shim/report.h"
#include "services/state.h"
#include "base/util.h"
#include "spec/bundle.h"
#include "spec/egress.h"

static char *
read_small (int dirfd, const char *name)
{
  cleanup_close int fd = openat (dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  char *data = NULL;
  size_t len;

  if (fd < 0 || fd_read_all (fd, 4096, name, &data, &len, NULL) < 0)
    return NULL;
  return data;
}

/* The agent a bundle names (annotation run.corral.agent), if readable. */
static char *
bundle_agent (const char *bundle)
{
  cleanup_close int fd = bundle ? bundle_open (bundle, NULL) : -1;
  cleanup_json json_t *spec = NULL;
  const char *agent;

  if (fd < 0)
    return NULL;
  spec = bundle_load_spec (fd, bundle, NULL, NULL);
  agent = json_get_string (json_get (spec, "annotations"), ANNOTATION_PREFIX "agent");
  return agent ? xstrdup (agent) : NULL;
}

static void
set_str (json_t *o, const char *key, const char *v)
{
  json_set (o, key, v ? json_new_string (v) : json_new_null ());
}

json_t *
report_list (const char *base, corral_error_t *err)
{
  json_t *list = json_new_array ();
  DIR *d = opendir (base);
  struct dirent *de;

  if (d == NULL)
    {
      if (errno != ENOENT)
        {
          json_free (list);
          corral_error_make (err, errno, "open `%s`", base);
          return NULL;
        }
      return list;
    }
  while ((de = readdir (d)))
    {
      cleanup_free char *root = NULL;
      cleanup_close int kfd = -1;
      DIR *kd;
      struct dirent *ce;

      if (de->d_name[0] == '.' || str_eq (de->d_name, "runsc"))
        continue;
      kfd = openat (dirfd (d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (kfd < 0 || (root = read_small (kfd, "root")) == NULL)
        continue;
      kd = fdopendir (kfd);
      if (kd == NULL)
        continue;
      kfd = -1;
      while ((ce = readdir (kd)))
        {
          cleanup_free char *dir = NULL;
          cleanup_free char *agent = NULL;
          cleanup_record state_record_t rec = { 0 };
          json_t *o;

          if (ce->d_name[0] == '.' || str_eq (ce->d_name, "root"))
            continue;
          xasprintf (&dir, "%s/%s/%s", base, de->d_name, ce->d_name);
          if (state_record_read_dir (dir, &rec, NULL) <= 0)
            continue;
          agent = bundle_agent (rec.bundle);
          o = json_new_object ();
          set_str (o, "id", ce->d_name);
          set_str (o, "root", root);
          set_str (o, "runtime", rec.delegate_name);
          set_str (o, "profile", rec.profile);
          set_str (o, "agent", agent);
          set_str (o, "bundle", rec.bundle);
          if (rec.egress)
            json_set (o, "egress_entries", json_new_int ((int64_t) strv_len (rec.egress)));
          json_push (list, o);
        }
      closedir (kd);
    }
  closedir (d);
  return list;
}

char *
report_list_text (const json_t *list)
{
  char *out = NULL;

  xasprintf (&out, "%-20.20s %-9s %-10s %-14s %-8s %s\n", "ID", "RUNTIME", "PROFILE", "AGENT", "EGRESS", "ENGINE ROOT");
  for (size_t i = 0; i < json_len (list); i++)
    {
      const json_t *o = json_at (list, i);
      int64_t n = 0;
      char *next;
      char egress[32];

      if (json_int64 (json_get (o, "egress_entries"), &n))
        snprintf (egress, sizeof (egress), "%" PRId64 " allow", n);
      else
        snprintf (egress, sizeof (egress), "-");
      xasprintf (&next, "%s%-20.20s %-9s %-10s %-14.14s %-8s %s\n", out, json_get_string (o, "id"),
                 json_get_string (o, "runtime") ? json_get_string (o, "runtime") : "-",
                 json_get_string (o, "profile") ? json_get_string (o, "profile") : "-",
                 json_get_string (o, "agent") ? json_get_string (o, "agent") : "-", egress,
                 json_get_string (o, "root"));
      free (out);
      out = next;
    }
  return out;
}

static void check (json_t *list, const char *question, bool ok, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static void
check (json_t *list, const char *question, bool ok, const char *fmt, ...)
{
  json_t *o = json_new_object ();
  char *evidence;
  va_list ap;

  va_start (ap, fmt);
  if (vasprintf (&evidence, fmt, ap) < 0)
    abort ();
  va_end (ap);
  json_set (o, "question", json_new_string (question));
  json_set (o, "ok", json_new_bool (ok));
  json_set (o, "evidence", json_new_string (evidence));
  free (evidence);
  json_push (list, o);
}

static size_t
caps_in (const json_t *process, const char *set)
{
  return json_len (json_get (json_get (process, "capabilities"), set));
}

static bool
has_corral_hook (const json_t *spec)
{
  const json_t *hooks = json_get (json_get (spec, "hooks"), "createRuntime");

  for (size_t i = 0; i < json_len (hooks); i++)
    {
      const json_t *args = json_get (json_at (hooks, i), "args");
      if (str_eq (json_string (json_at (args, 1)), "hook")
          && str_eq (json_string (json_at (args, 2)), "create-runtime"))
        return true;
    }
  return false;
}

json_t *
report_checklist (const json_t *spec, const corral_profile_t *profile, const char *runtime)
{
  json_t *list = json_new_array ();
  const json_t *process = json_get (spec, "process");
  const json_t *linux_ = json_get (spec, "linux");
  const json_t *mounts = json_get (spec, "mounts");
  const json_t *env = json_get (process, "env");
  const json_t *res = json_get (linux_, "resources");
  int64_t uid = -1, mem = 0, pids = 0;
  bool nnp = false, ro = false;
  size_t rw_binds = 0, secrets = 0;

  json_int64 (json_get (json_get (process, "user"), "uid"), &uid);
  json_bool (json_get (process, "noNewPrivileges"), &nnp);
  json_bool (json_get (json_get (spec, "root"), "readonly"), &ro);
  check (list, "Does the agent run without root and without capabilities?",
         uid > 0 && caps_in (process, "effective") == 0 && caps_in (process, "bounding") == 0 && nnp,
         "uid %" PRId64 ", %zu effective and %zu bounding capabilities, noNewPrivileges %s", uid,
         caps_in (process, "effective"), caps_in (process, "bounding"), nnp ? "true" : "false");

  for (size_t i = 0; i < json_len (mounts); i++)
    {
      const json_t *m = json_at (mounts, i);
      bool bind = str_eq (json_get_string (m, "type"), "bind")
                  || json_array_has_string (json_get (m, "options"), "bind")
                  || json_array_has_string (json_get (m, "options"), "rbind");
      if (bind && !json_array_has_string (json_get (m, "options"), "ro"))
        rw_binds++;
    }
  check (list, "Is the filesystem read-only but for scratch space and named work volumes?", ro,
         "root.readonly %s, %zu writable bind mounts", ro ? "true" : "false", rw_binds);

  for (size_t i = 0; i < json_len (env); i++)
    {
      const char *kv = json_string (json_at (env, i));
      for (char **p = profile ? profile->env_patterns : NULL; kv && p && *p; p++)
        {
          cleanup_free char *name = xstrndup (kv, strchr (kv, '=') ? (size_t) (strchr (kv, '=') - kv) : strlen (kv));
          if (glob_match (*p, name, true))
            {
              secrets++;
              break;
            }
        }
    }
  check (list, "Are credentials kept out of the environment?", profile != NULL && secrets == 0,
         profile ? "%zu variables, %zu matching the profile's secret patterns" : "%zu variables, no corral profile",
         json_len (env), secrets);

  check (list, "Is outbound traffic limited to an allowlist, enforced in the kernel?",
         has_corral_hook (spec) || (profile && str_eq (runtime, "gvisor")), "%s; %zu allowlist entries",
         has_corral_hook (spec) || (profile && str_eq (runtime, "gvisor"))
             ? "nftables table inet corral, default deny, installed before the agent starts"
             : "no egress filter",
         profile ? profile->n_egress : 0);

  check (list, "Is the agent isolated by a syscall filter or a sandboxing runtime?",
         json_get (linux_, "seccomp") != NULL, "runtime %s, seccomp %s", runtime ? runtime : "runc",
         json_get (linux_, "seccomp") ? json_get_string (json_get (linux_, "seccomp"), "defaultAction") : "none");

  json_int64 (json_get (json_get (res, "memory"), "limit"), &mem);
  json_int64 (json_get (json_get (res, "pids"), "limit"), &pids);
  check (list, "Are there hard limits on memory and processes?", mem > 0 && pids > 0,
         "memory %" PRId64 " bytes, pids %" PRId64, mem, pids);

  {
    bool budgets = profile && budget_any (&profile->budgets);
    bool alert = budgets && profile->budgets.alert && profile->budgets.alert[0];
    check (list, "Which actions need a human, and who is alerted?", budgets && alert,
           budgets ? "budgets watched (%s on a trip, resumed only by `corral resume`); alert command: %s"
                   : "%sno budgets or circuit breakers%s",
           budgets ? budget_action_name (profile->budgets.action) : "",
           alert     ? profile->budgets.alert[0]
           : budgets ? "none"
                     : "");
  }
  check (list, "Is there an audit log the agent cannot reach?", profile != NULL,
         profile ? "hash-chained records of create, start, exec, kill, stop and denied egress outside the container "
                   "(`corral audit verify`); its directory is refused as a mount"
                 : "no corral audit log for this container");
  return list;
}

char *
report_checklist_text (const json_t *checklist)
{
  char *out = xstrdup ("");

  for (size_t i = 0; i < json_len (checklist); i++)
    {
      const json_t *c = json_at (checklist, i);
      bool ok = false;
      char *next;

      json_bool (json_get (c, "ok"), &ok);
      xasprintf (&next, "%s%s %s\n    %s\n", out, ok ? "\u2713" : "\u2717", json_get_string (c, "question"),
                 json_get_string (c, "evidence"));
      free (out);
      out = next;
    }
  return out;
}

static json_t *
strv_json (char *const *v)
{
  json_t *a = json_new_array ();
  for (; v && *v; v++)
    json_push (a, json_new_string (*v));
  return a;
}

json_t *
report_profile (const corral_profile_t *p)
{
  json_t *o = json_new_object ();
  json_t *egress = json_new_array ();

  json_set (o, "profile", json_new_string (p->name));
  json_set (o, "runtime", json_new_string (p->runtime));
  json_set (o, "uid", json_new_int (p->uid));
  json_set (o, "gid", json_new_int (p->gid));
  json_set (o, "capabilities", strv_json (p->capabilities));
  json_set (o, "writable_mounts", strv_json (p->writable_mounts));
  json_set (o, "seccomp_deny", strv_json (p->seccomp_deny));
  json_set (o, "environment_mode", json_new_string (p->env_mode == ENV_STRIP ? "strip" : "allowlist"));
  json_set (o, "environment_patterns", strv_json (p->env_patterns));
  json_set (o, "memory", json_new_int (p->memory));
  json_set (o, "pids", json_new_int (p->pids));
  json_set (o, "cpu_quota", json_new_int (p->cpu_quota));
  json_set (o, "network", json_new_string (p->network ? "allowlist" : "none"));
  for (size_t i = 0; i < p->n_egress; i++)
    {
      char *e = egress_rule_format (&p->egress[i]);
      json_push (egress, json_new_string (e));
      free (e);
    }
  json_set (o, "egress_allow", egress);
  json_set (o, "overridable", strv_json (p->overridable));
  return o;
}

/* One number from a file of the container's cgroup in the hierarchy of
 * controller (NULL: the unified one), or -1. */
static int
cgroup_number (const char *mountinfo, const char *controller, const char *cgroup, const char *file, uint64_t *ret)
{
  cleanup_free char *mount = NULL, *path = NULL, *text = NULL;
  cleanup_close int fd = -1;
  size_t len;

  if (watchdog_cgroup_mount (mountinfo, controller, &mount) < 0)
    return -1;
  xasprintf (&path, "%s%s/%s", mount, cgroup, file);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fd_read_all (fd, 64 * 1024, path, &text, &len, NULL) < 0)
    return -1;
  return str_eq (file, "cpu.stat") ? watchdog_parse_cpu_stat (text, ret) : watchdog_parse_u64 (text, ret);
}

json_t *
report_final_usage (const char *bundle, const char *state_dir)
{
  cleanup_close int bfd = bundle ? bundle_open (bundle, NULL) : -1;
  cleanup_close int sfd = state_dir ? open (state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
  cleanup_close int mfd = open ("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
  cleanup_json json_t *spec = bfd >= 0 ? bundle_load_spec (bfd, bundle, NULL, NULL) : NULL;
  cleanup_free char *mountinfo = NULL;
  cleanup_free char *watched = NULL;
  const char *cgroup = json_get_string (json_get (spec, "linux"), "cgroupsPath");
  json_t *u = json_new_object ();
  uint64_t v;
  size_t len;

  if (cgroup && cgroup[0] == '/' && mfd >= 0
      && fd_read_all (mfd, 4 * 1024 * 1024, "mountinfo", &mountinfo, &len, NULL) == 0)
    {
      if (cgroup_number (mountinfo, "cpuacct", cgroup, "cpuacct.usage", &v) == 0)
        json_set (u, "cpu_ms", json_new_int ((int64_t) (v / 1000000)));
      else if (cgroup_number (mountinfo, NULL, cgroup, "cpu.stat", &v) == 0)
        json_set (u, "cpu_ms", json_new_int ((int64_t) (v / 1000)));
      if (cgroup_number (mountinfo, "memory", cgroup, "memory.max_usage_in_bytes", &v) == 0
          || cgroup_number (mountinfo, NULL, cgroup, "memory.peak", &v) == 0)
        json_set (u, "memory_peak_bytes", json_new_int ((int64_t) v));
    }
  if (sfd >= 0 && (watched = read_small (sfd, WATCHDOG_USAGE)) != NULL)
    {
      json_t *w = json_parse (watched, strlen (watched), NULL);
      if (w)
        json_set (u, "budgets", w);
    }
  return u;
}
