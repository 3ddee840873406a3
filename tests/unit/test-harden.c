/* corral: unit tests of the hardening steps (spec/harden*.c) on the engine
 * fixtures and on hostile specs built here, with the profiles of the
 * shipped configs/policy.json. */
#include "config.h"

#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "base/fs.h"
#include "base/util.h"
#include "spec/harden.h"
#include "spec/policy.h"
#include "tests/unit/testlib.h"

/* Every clone flag the shipped policy denies. */
#define CLONE_NS_FLAGS 0x7E020080ULL

static harden_ctx_t
make_ctx (const corral_profile_t *profile)
{
  harden_ctx_t ctx = { .profile = profile, .seccomp_arches = test_arches, .classify_join = fake_classify_join };
  return ctx;
}

/* ---- readers for the hardened spec ---- */

static json_t *
get_path2 (const json_t *v, const char *a, const char *b)
{
  return json_get (json_get (v, a), b);
}

static ssize_t
mount_index (const json_t *spec, const char *dest)
{
  json_t *mounts = json_get (spec, "mounts");

  for (size_t i = 0; i < json_len (mounts); i++)
    if (str_eq (json_get_string (json_at (mounts, i), "destination"), dest))
      return (ssize_t) i;
  return -1;
}

static size_t
mount_count (const json_t *spec, const char *dest)
{
  json_t *mounts = json_get (spec, "mounts");
  size_t n = 0;

  for (size_t i = 0; i < json_len (mounts); i++)
    if (str_eq (json_get_string (json_at (mounts, i), "destination"), dest))
      n++;
  return n;
}

static json_t *
find_mount (const json_t *spec, const char *dest)
{
  ssize_t i = mount_index (spec, dest);
  return i < 0 ? NULL : json_at (json_get (spec, "mounts"), (size_t) i);
}

static bool
has_option (const json_t *mount, const char *opt)
{
  return json_array_has_string (json_get (mount, "options"), opt);
}

static int64_t
get_int (const json_t *obj, const char *key, int64_t dflt)
{
  int64_t v;
  return json_int64 (json_get (obj, key), &v) ? v : dflt;
}

static json_t *
find_rlimit (const json_t *spec, const char *type)
{
  json_t *rl = get_path2 (spec, "process", "rlimits");

  for (size_t i = 0; i < json_len (rl); i++)
    if (str_eq (json_get_string (json_at (rl, i), "type"), type))
      return json_at (rl, i);
  return NULL;
}

static bool
has_namespace (const json_t *spec, const char *type)
{
  json_t *nss = get_path2 (spec, "linux", "namespaces");

  for (size_t i = 0; i < json_len (nss); i++)
    if (str_eq (json_get_string (json_at (nss, i), "type"), type))
      return true;
  return false;
}

static json_t *
find_namespace (const json_t *spec, const char *type)
{
  json_t *nss = get_path2 (spec, "linux", "namespaces");

  for (size_t i = 0; i < json_len (nss); i++)
    if (str_eq (json_get_string (json_at (nss, i), "type"), type))
      return json_at (nss, i);
  return NULL;
}

static bool
action_allows (const char *action)
{
  return str_eq (action, "SCMP_ACT_ALLOW") || str_eq (action, "SCMP_ACT_LOG") || str_eq (action, "SCMP_ACT_TRACE")
         || str_eq (action, "SCMP_ACT_NOTIFY");
}

static json_t *
syscalls_of (const json_t *spec)
{
  return json_get (get_path2 (spec, "linux", "seccomp"), "syscalls");
}

/* Rules naming syscall: how many allow it (with or without arguments)
 * and how many deny it with an errno. */
static void
count_rules (const json_t *spec, const char *syscall, size_t *ret_allow, size_t *ret_allow_unconditional,
             size_t *ret_errno)
{
  json_t *rules = syscalls_of (spec);

  *ret_allow = *ret_allow_unconditional = *ret_errno = 0;
  for (size_t i = 0; i < json_len (rules); i++)
    {
      json_t *r = json_at (rules, i);
      const char *action = json_get_string (r, "action");

      if (!json_array_has_string (json_get (r, "names"), syscall))
        continue;
      if (action_allows (action))
        {
          (*ret_allow)++;
          if (json_len (json_get (r, "args")) == 0)
            (*ret_allow_unconditional)++;
        }
      else if (str_eq (action, "SCMP_ACT_ERRNO"))
        (*ret_errno)++;
    }
}

/* Is there a rule {names:[syscall], action, args:[{index, value, valueTwo, MASKED_EQ}]}? */
static bool
has_masked_rule (const json_t *spec, const char *syscall, const char *action, uint64_t value, uint64_t value2)
{
  json_t *rules = syscalls_of (spec);

  for (size_t i = 0; i < json_len (rules); i++)
    {
      json_t *r = json_at (rules, i);
      json_t *args = json_get (r, "args");
      json_t *a = json_at (args, 0);

      if (str_eq (json_get_string (r, "action"), action) && json_len (json_get (r, "names")) == 1
          && json_array_has_string (json_get (r, "names"), syscall) && json_len (args) == 1
          && get_int (a, "index", -1) == 0 && (uint64_t) get_int (a, "value", -1) == value
          && (uint64_t) get_int (a, "valueTwo", -1) == value2
          && str_eq (json_get_string (a, "op"), "SCMP_CMP_MASKED_EQ"))
        return true;
    }
  return false;
}

static bool
changes_mention (const changes_t *c, const char *needle)
{
  for (size_t i = 0; i < c->n; i++)
    if (strstr (c->items[i].what, needle))
      return true;
  return false;
}

/* ---- the whole pipeline on every engine fixture ---- */

static void
check_hardened_fixture (const char *name, const json_t *orig, const json_t *spec, const changes_t *changes)
{
  static const char *const cap_sets[] = { "bounding", "effective", "inheritable", "permitted", "ambient" };
  json_t *user = get_path2 (spec, "process", "user");
  json_t *caps = get_path2 (spec, "process", "capabilities");
  json_t *core = find_rlimit (spec, "RLIMIT_CORE");
  json_t *nofile = find_rlimit (spec, "RLIMIT_NOFILE");
  json_t *res = get_path2 (spec, "linux", "resources");
  bool nnp = false, ro = false, caps_empty = true;
  ssize_t run_tmpfs, containerenv;

  is_int (get_int (user, "uid", -1), 65534, "%s: process.user.uid is 65534", name);
  is_int (get_int (user, "gid", -1), 65534, "%s: process.user.gid is 65534", name);
  ok (json_is_array (json_get (user, "additionalGids")) && json_len (json_get (user, "additionalGids")) == 0,
      "%s: process.user.additionalGids is empty", name);
  ok (json_bool (get_path2 (spec, "root", "readonly"), &ro) && ro, "%s: root.readonly is true", name);

  for (size_t i = 0; i < 3; i++)
    {
      static const char *const paths[] = { "/tmp", "/run", "/var/tmp" };
      json_t *m = find_mount (spec, paths[i]);
      ok (m && str_eq (json_get_string (m, "type"), "tmpfs") && mount_count (spec, paths[i]) == 1,
          "%s: one tmpfs at %s", name, paths[i]);
      /* Owned by the agent: runc gives the tmpfs the mode of the image's
       * directory whatever mode= says. */
      ok (has_option (m, "nosuid") && has_option (m, "nodev") && has_option (m, "mode=1777")
              && has_option (m, "uid=65534") && has_option (m, "gid=65534"),
          "%s: %s is nosuid,nodev, mode=1777, owned by 65534:65534", name, paths[i]);
      ok (!has_option (m, "noexec"), "%s: %s is not noexec (venvs and build tools run from it)", name, paths[i]);
    }
  run_tmpfs = mount_index (spec, "/run");
  containerenv = mount_index (spec, "/run/.containerenv");
  if (mount_index (orig, "/run/.containerenv") >= 0)
    ok (run_tmpfs >= 0 && containerenv > run_tmpfs, "%s: tmpfs /run (at %zd) comes before /run/.containerenv (at %zd)",
        name, run_tmpfs, containerenv);

  ok (json_is_array (json_get (caps, "bounding")), "%s: the bounding set is still there", name);
  for (size_t i = 0; i < sizeof (cap_sets) / sizeof (cap_sets[0]); i++)
    if (json_get (caps, cap_sets[i]) && json_len (json_get (caps, cap_sets[i])) != 0)
      caps_empty = false;
  ok (caps_empty, "%s: every capability set is empty", name);
  ok (json_bool (get_path2 (spec, "process", "noNewPrivileges"), &nnp) && nnp, "%s: noNewPrivileges", name);
  ok (core && get_int (core, "hard", -1) == 0 && get_int (core, "soft", -1) == 0, "%s: RLIMIT_CORE is 0", name);
  ok (nofile && get_int (nofile, "hard", INT64_MAX) <= 4096 && get_int (nofile, "soft", INT64_MAX) <= 4096,
      "%s: RLIMIT_NOFILE is at most 4096", name);

  ok (has_namespace (spec, "pid") && has_namespace (spec, "ipc") && has_namespace (spec, "uts")
          && has_namespace (spec, "mount") && has_namespace (spec, "network"),
      "%s: pid, ipc, uts, mount and network namespaces", name);
  is_int (get_int (json_get (res, "memory"), "limit", -1), 2LL << 30, "%s: memory limit 2g", name);
  ok (get_int (json_get (res, "pids"), "limit", INT64_MAX) <= 512, "%s: pids limit at most 512", name);
  ok (json_array_has_string (get_path2 (spec, "linux", "maskedPaths"), "/proc/kcore")
          && json_array_has_string (get_path2 (spec, "linux", "readonlyPaths"), "/proc/sys"),
      "%s: /proc/kcore masked and /proc/sys read-only", name);
  ok (changes->n > 5, "%s: the change log has entries (%zu)", name, changes->n);
}

static void
test_fixtures_default (const corral_profile_t *def)
{
  cleanup_glob glob_t g = { 0 };
  harden_ctx_t ctx = make_ctx (def);

  glob_fixtures ("engines", 8, &g);
  for (size_t i = 0; i < g.gl_pathc; i++)
    {
      const char *name = base_name (g.gl_pathv[i]);
      cleanup_error corral_error_t err = NULL;
      cleanup_changes changes_t changes = { 0 };
      cleanup_json json_t *orig = load_fixture ("engines", name);
      cleanup_json json_t *spec = json_deep_copy (orig);

      if (!ok (harden_spec (spec, &ctx, &changes, &err) == 0, "%s: harden_spec succeeds%s%s", name, err ? ": " : "",
               err ? err->msg : ""))
        continue;
      check_hardened_fixture (name, orig, spec, &changes);
    }
}

/* Running the pipeline on its own output changes nothing. */
static void
test_idempotent (const corral_profile_t *def, const corral_profile_t *offline)
{
  static const char *const names[]
      = { "podman-run.json", "podman-privileged-or-mounts.json", "containerd-ctr-run.json", "docker-run.json" };

  for (size_t k = 0; k < 2; k++)
    for (size_t i = 0; i < sizeof (names) / sizeof (names[0]); i++)
      {
        const corral_profile_t *p = k ? offline : def;
        harden_ctx_t ctx = make_ctx (p);
        cleanup_error corral_error_t err = NULL;
        cleanup_changes changes_t c1 = { 0 };
        cleanup_changes changes_t c2 = { 0 };
        cleanup_json json_t *spec = load_fixture ("engines", names[i]);
        cleanup_free char *once = NULL;
        cleanup_free char *twice = NULL;

        harden_spec (spec, &ctx, &c1, &err);
        once = json_serialize (spec, false);
        harden_spec (spec, &ctx, &c2, &err);
        twice = json_serialize (spec, false);
        ok (err == NULL, "%s, profile %s: hardening twice works", names[i], p->name);
        ok (str_eq (once, twice), "%s, profile %s: the second run yields the same JSON (%zu vs %zu bytes)", names[i],
            p->name, strlen (once), strlen (twice));
      }
}

/* ---- seccomp ---- */

static void
test_seccomp_podman (const corral_profile_t *def)
{
  static const char *const denied[] = { "ptrace", "mount", "unshare", "setns", "bpf" };
  harden_ctx_t ctx = make_ctx (def);
  cleanup_error corral_error_t err = NULL;
  cleanup_changes changes_t changes = { 0 };
  cleanup_json json_t *spec = load_fixture ("engines", "podman-run.json");
  size_t allow, uncond, deny;

  ok (harden_seccomp (spec, &ctx, &changes, &err) == 0, "podman-run: harden_seccomp succeeds");
  is_str (json_get_string (get_path2 (spec, "linux", "seccomp"), "defaultAction"), "SCMP_ACT_ERRNO",
          "podman-run: defaultAction stays SCMP_ACT_ERRNO");
  for (size_t i = 0; i < sizeof (denied) / sizeof (denied[0]); i++)
    {
      count_rules (spec, denied[i], &allow, &uncond, &deny);
      is_int (allow, 0, "podman-run: %s is in no allowing rule", denied[i]);
      ok (deny >= 1, "podman-run: %s is in an SCMP_ACT_ERRNO rule", denied[i]);
    }
  count_rules (spec, "read", &allow, &uncond, &deny);
  ok (uncond == 1 && deny == 0, "podman-run: unrelated syscalls (read) are still allowed");

  count_rules (spec, "clone", &allow, &uncond, &deny);
  is_int (uncond, 0, "podman-run: clone is no longer allowed unconditionally");
  ok (has_masked_rule (spec, "clone", "SCMP_ACT_ALLOW", CLONE_NS_FLAGS, 0),
      "podman-run: clone is allowed by a rule with MASKED_EQ (value=0x%llx, valueTwo=0) on argument 0", CLONE_NS_FLAGS);

  count_rules (spec, "personality", &allow, &uncond, &deny);
  is_int (uncond, 0, "podman-run: personality is not allowed unconditionally");
  ok (allow >= 1, "podman-run: personality is still allowed with safe arguments");

  /* clone3 passes its flags in memory, where seccomp cannot look: with
   * clone restricted, clone3 must not stay allowed (ENOSYS makes libc
   * fall back to clone). */
  count_rules (spec, "clone3", &allow, &uncond, &deny);
  ok (allow == 0, "podman-run: clone3 is not left allowed next to a restricted clone");
  ok (deny >= 1, "podman-run: clone3 is denied");
}

static void
test_seccomp_docker (const corral_profile_t *def)
{
  harden_ctx_t ctx = make_ctx (def);
  cleanup_error corral_error_t err = NULL;
  cleanup_changes changes_t changes = { 0 };
  cleanup_json json_t *spec = load_fixture ("engines", "docker-run.json");
  size_t allow, uncond, deny;

  ok (harden_seccomp (spec, &ctx, &changes, &err) == 0, "docker-run: harden_seccomp succeeds");
  ok (!has_masked_rule (spec, "clone", "SCMP_ACT_ALLOW", 0x7E020000, 0),
      "docker-run: docker's clone rule (mask without CLONE_NEWTIME) is gone");
  ok (has_masked_rule (spec, "clone", "SCMP_ACT_ALLOW", CLONE_NS_FLAGS, 0),
      "docker-run: clone is allowed only with no namespace flag");
  count_rules (spec, "ptrace", &allow, &uncond, &deny);
  ok (allow == 0 && deny >= 1, "docker-run: ptrace (allowed by docker on new kernels) is denied");
}

static void
test_seccomp_default_allow (const corral_profile_t *def)
{
  harden_ctx_t ctx = make_ctx (def);
  cleanup_error corral_error_t err = NULL;
  cleanup_changes changes_t changes = { 0 };
  cleanup_json json_t *spec = load_fixture ("engines", "containerd-ctr-run.json");
  json_t *seccomp;
  size_t allow, uncond, deny, bits = 0, rules_ok = 0;

  ok (harden_seccomp (spec, &ctx, &changes, &err) == 0, "containerd: harden_seccomp succeeds");
  seccomp = get_path2 (spec, "linux", "seccomp");
  is_str (json_get_string (seccomp, "defaultAction"), "SCMP_ACT_ALLOW",
          "containerd (no seccomp): a default-allow filter is installed");
  ok (json_len (json_get (seccomp, "architectures")) == 3
          && json_array_has_string (json_get (seccomp, "architectures"), "SCMP_ARCH_X32"),
      "containerd: the native and compat architectures are listed");
  for (unsigned bit = 0; bit < 64; bit++)
    if (CLONE_NS_FLAGS & (1ULL << bit))
      {
        bits++;
        if (has_masked_rule (spec, "clone", "SCMP_ACT_ERRNO", 1ULL << bit, 1ULL << bit))
          rules_ok++;
      }
  ok (bits == 8 && rules_ok == bits, "containerd: one ERRNO rule per clone flag (%zu of %zu)", rules_ok, bits);
  count_rules (spec, "clone", &allow, &uncond, &deny);
  is_int (deny, 8, "containerd: exactly those 8 rules deny clone");
  count_rules (spec, "ptrace", &allow, &uncond, &deny);
  ok (allow == 0 && deny == 1, "containerd: ptrace is denied");
  ok (changes_mention (&changes, "installing the agent filter"), "containerd: the change log says a filter was added");
}

/* ---- environment ---- */

static void
test_environment (const corral_profile_t *def)
{
  static const char *const added[] = { "GITHUB_TOKEN=ghp_0123456789abcdef", "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMIK7",
                                       "my_api_key=sk-live-zzz-secret", "PLAIN=1" };
  harden_ctx_t ctx = make_ctx (def);
  cleanup_error corral_error_t err = NULL;
  cleanup_changes changes_t changes = { 0 };
  cleanup_json json_t *spec = load_fixture ("engines", "podman-run.json");
  json_t *env = get_path2 (spec, "process", "env");
  size_t before = json_len (env);
  bool leaked = false;

  for (size_t i = 0; i < sizeof (added) / sizeof (added[0]); i++)
    json_push (env, json_new_string (added[i]));
  ok (harden_environment (spec, &ctx, &changes, &err) == 0, "harden_environment succeeds");
  for (size_t i = 0; i < 3; i++)
    ok (!json_array_has_string (env, added[i]), "%.*s is removed", (int) (strchr (added[i], '=') - added[i]), added[i]);
  ok (json_array_has_string (env, "PLAIN=1"), "PLAIN=1 stays");
  is_str (json_string (json_at (env, 0)), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
          "PATH stays first");
  is_int (json_len (env), before + 1, "only the three secrets are removed");
  for (size_t i = 0; i < changes.n; i++)
    for (size_t k = 0; k < 3; k++)
      if (strstr (changes.items[i].what, strchr (added[k], '=') + 1))
        leaked = true;
  ok (!leaked, "no change-log text contains a secret value");
  ok (changes_mention (&changes, "GITHUB_TOKEN") && changes_mention (&changes, "my_api_key"),
      "the change log names the removed variables");
}

static void
test_environment_allowlist (void)
{
  static const char policy[] = "{\"profiles\":{\"default\":{\"environment\":{\"mode\":\"allowlist\","
                               "\"patterns\":[\"PATH\",\"HOME\",\"LC_*\"]}}}}";
  cleanup_error corral_error_t err = NULL;
  cleanup_policy corral_policy_t *p = policy_parse (policy, strlen (policy), "allowlist", &err);
  cleanup_changes changes_t changes = { 0 };
  cleanup_json json_t *spec
      = parse_json ("{\"process\":{\"env\":[\"PATH=/bin\",\"TERM=xterm\",\"HOME=/root\",\"LC_ALL=C\",\"lc_all=x\","
                    "\"GITHUB_TOKEN=t\",\"NOEQUALS\"]}}");
  json_t *env;
  harden_ctx_t ctx;

  if (!ok (p != NULL, "an allowlist policy parses"))
    return;
  ctx = make_ctx (policy_find_profile (p, "default"));
  ok (harden_environment (spec, &ctx, &changes, &err) == 0, "allowlist: harden_environment succeeds");
  env = get_path2 (spec, "process", "env");
  ok (json_len (env) == 3 && json_array_has_string (env, "PATH=/bin") && json_array_has_string (env, "HOME=/root")
          && json_array_has_string (env, "LC_ALL=C"),
      "allowlist: only PATH, HOME and LC_ALL are kept");
  ok (!json_array_has_string (env, "lc_all=x"), "allowlist: names match case-sensitively");
  is_int (changes.n, 4, "allowlist: four removals are logged");
}

static void
test_environment_invalid (const corral_profile_t *def)
{
  harden_ctx_t ctx = make_ctx (def);
  cleanup_error corral_error_t err = NULL;
  cleanup_error corral_error_t err2 = NULL;
  cleanup_changes changes_t changes = { 0 };
  cleanup_json json_t *s1 = parse_json ("{\"process\":{\"env\":\"PATH=/bin\"}}");
  cleanup_json json_t *s2 = parse_json ("{\"process\":{\"env\":[\"PATH=/bin\",7]}}");

  ok (harden_environment (s1, &ctx, &changes, &err) < 0, "process.env as a string is an error");
  like (err ? err->msg : NULL, "process.env", "the error names process.env");
  ok (harden_environment (s2, &ctx, &changes, &err2) < 0, "a number in process.env is an error");
  like (err2 ? err2->msg : NULL, "process.env[1]", "the error names the element");
}

/* ---- resources ---- */

static int64_t
memory_after (const corral_profile_t *def, const char *spec_text)
{
  harden_ctx_t ctx = make_ctx (def);
  cleanup_error corral_error_t err = NULL;
  cleanup_changes changes_t changes = { 0 };
  cleanup_json json_t *spec = parse_json (spec_text);

  if (harden_resources (spec, &ctx, &changes, &err) < 0)
    return -2;
  return get_int (json_get (get_path2 (spec, "linux", "resources"), "memory"), "limit", -3);
}

static void
test_resources (const corral_profile_t *def)
{
  harden_ctx_t ctx = make_ctx (def);
  cleanup_error corral_error_t err = NULL;
  cleanup_changes changes_t changes = { 0 };
  cleanup_changes changes_t changes2 = { 0 };
  cleanup_json json_t *spec = NULL;
  cleanup_json json_t *small = NULL;
  json_t *res;

  is_int (memory_after (def, "{\"linux\":{\"resources\":{\"memory\":{\"limit\":8589934592}}}}"), 2LL << 30,
          "an engine memory limit of 8g is lowered to the profile's 2g");
  is_int (memory_after (def, "{\"linux\":{\"resources\":{\"memory\":{\"limit\":536870912}}}}"), 512LL << 20,
          "an engine memory limit of 512m is kept (never raised)");
  is_int (memory_after (def, "{\"linux\":{\"resources\":{\"memory\":{\"limit\":-1}}}}"), 2LL << 30,
          "an engine memory limit of -1 (unlimited) becomes 2g");
  is_int (memory_after (def, "{}"), 2LL << 30, "no engine limit: the profile's 2g is set");

  spec = parse_json ("{\"linux\":{\"resources\":{\"pids\":{\"limit\":2048},\"cpu\":{\"period\":50000,"
                     "\"quota\":400000}}}}");
  ok (harden_resources (spec, &ctx, &changes, &err) == 0, "harden_resources succeeds");
  res = get_path2 (spec, "linux", "resources");
  is_int (get_int (json_get (res, "pids"), "limit", -1), 512, "a pids limit of 2048 is lowered to 512");
  is_int (get_int (json_get (res, "cpu"), "period", -1), 50000, "the engine's cpu period is kept");
  is_int (get_int (json_get (res, "cpu"), "quota", -1), 100000,
          "the quota is scaled to that period (2 CPUs of 50 ms = 100000)");
  ok (changes_mention (&changes, "engine asked for more"), "the change log says the engine asked for more");

  small = parse_json ("{\"linux\":{\"resources\":{\"pids\":{\"limit\":100},\"cpu\":{\"quota\":50000}}}}");
  ok (harden_resources (small, &ctx, &changes2, &err) == 0, "harden_resources on a spec with small limits");
  res = get_path2 (small, "linux", "resources");
  is_int (get_int (json_get (res, "pids"), "limit", -1), 100, "a pids limit of 100 is kept");
  is_int (get_int (json_get (res, "cpu"), "period", -1), 100000, "a missing period becomes the profile's");
  is_int (get_int (json_get (res, "cpu"), "quota", -1), 50000, "a quota of half a CPU is kept");
}

/* ---- devices and privileged mounts ---- */

static void
test_privileged (const corral_profile_t *def)
{
  static const char *const allowed[]
      = { "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", NULL };
  harden_ctx_t ctx = make_ctx (def);
  cleanup_error corral_error_t err = NULL;
  cleanup_changes changes_t changes = { 0 };
  cleanup_json json_t *spec = load_fixture ("engines", "podman-privileged-or-mounts.json");
  json_t *devices = get_path2 (spec, "linux", "devices");
  json_t *rules, *sys, *cgroup;
  size_t before = json_len (devices), foreign = 0;
  bool deny_all = false;

  ok (before > 50, "the privileged fixture lists host devices (%zu)", before);
  ok (harden_devices (spec, &ctx, &changes, &err) == 0, "harden_devices succeeds");
  for (size_t i = 0; i < json_len (devices); i++)
    {
      const char *path = json_get_string (json_at (devices, i), "path");
      bool ok_path = false;
      for (size_t k = 0; allowed[k]; k++)
        ok_path = ok_path || str_eq (path, allowed[k]);
      if (!ok_path)
        {
          foreign++;
          diag ("  left: %s", path ? path : "(no path)");
        }
    }
  is_int (foreign, 0, "no host device outside the standard set is left");
  ok (json_len (devices) < before, "devices were removed (%zu -> %zu)", before, json_len (devices));
  ok (changes_mention (&changes, "host devices"), "the change log says host devices were removed");
  rules = json_get (get_path2 (spec, "linux", "resources"), "devices");
  ok (json_bool (json_get (json_at (rules, 0), "allow"), &deny_all) && !deny_all
          && str_eq (json_get_string (json_at (rules, 0), "access"), "rwm")
          && json_get (json_at (rules, 0), "major") == NULL,
      "the device cgroup starts with deny-all (the engine's allow-all is gone)");

  ok (harden_filesystem (spec, &ctx, &changes, &err) == 0, "harden_filesystem on the privileged fixture succeeds");
  sys = find_mount (spec, "/sys");
  cgroup = find_mount (spec, "/sys/fs/cgroup");
  ok (has_option (sys, "ro") && !has_option (sys, "rw"), "sysfs mounted rw by --privileged is made ro");
  ok (has_option (cgroup, "ro") && !has_option (cgroup, "rw"), "the cgroup mount is made ro");
  ok (changes_mention (&changes, "sysfs made read-only"), "the change log says so");
}

/* ---- bind mounts ---- */

/* A spec with one bind mount; options is a JSON array text. */
static json_t *
spec_with_bind (const char *dest, const char *source, const char *options)
{
  cleanup_free char *text = NULL;

  xasprintf (&text,
             "{\"process\":{\"cwd\":\"/\",\"user\":{\"uid\":65534,\"gid\":65534}},\"mounts\":[{\"destination\":\"/"
             "proc\",\"type\":\"proc\",\"source\":\"proc\"},"
             "{\"destination\":\"%s\",\"type\":\"bind\",\"source\":\"%s\",\"options\":%s}]}",
             dest, source, options);
  return parse_json (text);
}

static void
bind_refused (const corral_profile_t *def, const char *dest, const char *source, const char *needle, const char *what)
{
  harden_ctx_t ctx = make_ctx (def);
  cleanup_error corral_error_t err = NULL;
  cleanup_changes changes_t changes = { 0 };
  cleanup_json json_t *spec = spec_with_bind (dest, source, "[\"rbind\",\"rw\"]");

  ok (harden_filesystem (spec, &ctx, &changes, &err) < 0, "%s is refused", what);
  like (err ? err->msg : NULL, needle, "%s: message has \"%s\"", what, needle);
}

static void
bind_refused_below (const corral_profile_t *def, const char *dest, const char *source, const char *what)
{
  harden_ctx_t ctx = make_ctx (def);
  cleanup_error corral_error_t err = NULL;
  cleanup_changes changes_t changes = { 0 };
  cleanup_json json_t *spec = spec_with_bind (dest, source, "[\"rbind\",\"rw\"]");

  ok (harden_filesystem (spec, &ctx, &changes, &err) < 0, "%s is refused", what);
}

/* Pretend every bind source is a symlink to /run/docker.sock. */
static char *
resolve_to_docker_sock (const char *source)
{
  (void) source;
  return xstrdup ("/run/docker.sock");
}

static void
test_binds (const corral_profile_t *def)
{
  bind_refused (def, "/var/run/docker.sock", "/var/run/docker.sock", "/var/run/docker.sock",
                "a bind of /var/run/docker.sock");
  bind_refused (def, "/host", "/", "`/`", "a bind of /");
  bind_refused (def, "/home", "/home", "/home/*/.ssh", "a bind of /home (above /home/*/.ssh)");
  bind_refused (def, "/h", "/home/alice", "/home/*/.ssh", "a bind of /home/alice (above /home/alice/.ssh)");
  bind_refused (def, "/r", "/root", "/root", "a bind of /root");
  bind_refused (def, "/host-etc", "/etc", "/etc", "a bind of /etc (above /etc/shadow)");
  bind_refused (def, "/s", "/run/user/1000/podman/podman.sock", "podman.sock", "a bind of a rootless podman socket");
  bind_refused (def, "/var/run/secrets/kubernetes.io/serviceaccount", "/srv/token", "destination",
                "a bind at /var/run/secrets/kubernetes.io/serviceaccount");
  bind_refused_below (def, "/key", "/root/.ssh/id_ed25519", "a bind of a file inside /root/.ssh");
  bind_refused_below (def, "/workspace", "/var/log/corral/audit.log", "a bind of corral's audit log at /workspace");

  {
    harden_ctx_t ctx = make_ctx (def);
    cleanup_error corral_error_t err = NULL;
    cleanup_changes changes_t changes = { 0 };
    cleanup_json json_t *spec = spec_with_bind ("/innocent", "/srv/innocent-link", "[\"rbind\"]");

    ctx.resolve_source = resolve_to_docker_sock;
    ok (harden_filesystem (spec, &ctx, &changes, &err) < 0, "rules apply to the resolved source path");
    like (err ? err->msg : NULL, "/run/docker.sock", "the error names the resolved path");
  }
  {
    harden_ctx_t ctx = make_ctx (def);
    cleanup_error corral_error_t err = NULL;
    cleanup_changes changes_t changes = { 0 };
    cleanup_json json_t *spec = parse_json (
        "{\"process\":{\"cwd\":\"/\",\"user\":{\"uid\":65534,\"gid\":65534}},\"mounts\":["
        "{\"destination\":\"/workspace\",\"type\":\"bind\",\"source\":\"/srv/project\",\"options\":[\"rbind\",\"rw\"]},"
        "{\"destination\":\"/data\",\"type\":\"bind\",\"source\":\"/srv/"
        "data\",\"options\":[\"rbind\",\"rw\",\"suid\",\"dev\"]},"
        "{\"destination\":\"/legacy\",\"source\":\"/srv/legacy\",\"options\":[\"bind\"]},"
        "{\"destination\":\"/hostsys\",\"type\":\"bind\",\"source\":\"/sys\",\"options\":[\"rbind\"]},"
        "{\"destination\":\"/dev/shm\",\"type\":\"bind\",\"source\":\"/srv/shm\",\"options\":[\"bind\"]}]}");
    json_t *ws, *data, *legacy, *sys, *shm;

    ok (harden_filesystem (spec, &ctx, &changes, &err) == 0, "harden_filesystem on ordinary binds succeeds%s%s",
        err ? ": " : "", err ? err->msg : "");
    ws = find_mount (spec, "/workspace");
    data = find_mount (spec, "/data");
    legacy = find_mount (spec, "/legacy");
    sys = find_mount (spec, "/hostsys");
    shm = find_mount (spec, "/dev/shm");
    ok (!has_option (ws, "ro") && has_option (ws, "rw"), "/workspace (writable_mounts) stays rw");
    ok (has_option (ws, "nosuid") && has_option (ws, "nodev"), "/workspace gets nosuid,nodev");
    ok (has_option (data, "ro") && !has_option (data, "rw"), "/data becomes ro (rw removed)");
    ok (has_option (data, "nosuid") && has_option (data, "nodev") && !has_option (data, "suid")
            && !has_option (data, "dev"),
        "/data gets nosuid,nodev (suid and dev removed)");
    ok (has_option (legacy, "ro") && has_option (legacy, "nosuid"), "a bind given only as an option is handled too");
    ok (has_option (sys, "ro"), "a bind of /sys (readonly rule) is ro");
    ok (!has_option (shm, "ro"), "/dev/shm (writable_mounts) stays writable");
    ok (changes_mention (&changes, "host path is sensitive"), "the change log says /sys is sensitive");
  }
  {
    harden_ctx_t ctx = make_ctx (def);
    cleanup_error corral_error_t err = NULL;
    cleanup_changes changes_t changes = { 0 };
    cleanup_json json_t *spec = parse_json (
        "{\"process\":{\"cwd\":\"/app/src\",\"user\":{\"uid\":65534,\"gid\":65534}},\"mounts\":[{\"destination\":\"/"
        "app\",\"type\":\"bind\",\"source\":\"/srv/"
        "app\",\"options\":[\"rbind\",\"rw\"]}]}");

    ok (harden_filesystem (spec, &ctx, &changes, &err) == 0 && !has_option (find_mount (spec, "/app"), "ro"),
        "the bind holding the working directory stays writable");
  }
  {
    harden_ctx_t ctx = make_ctx (def);
    cleanup_error corral_error_t err = NULL;
    cleanup_error corral_error_t err2 = NULL;
    cleanup_changes changes_t changes = { 0 };
    cleanup_json json_t *nosrc = parse_json (
        "{\"process\":{},\"mounts\":[{\"destination\":\"/x\",\"type\":\"bind\",\"options\":[\"rbind\"]}]}");
    cleanup_json json_t *notarray = parse_json ("{\"process\":{},\"mounts\":{\"destination\":\"/x\"}}");

    ok (harden_filesystem (nosrc, &ctx, &changes, &err) < 0, "a bind without a source is refused");
    like (err ? err->msg : NULL, "no source", "the error says it has no source");
    ok (harden_filesystem (notarray, &ctx, &changes, &err2) < 0, "mounts that are not an array are refused");
  }
}

/* ---- namespaces ---- */

static void
test_namespaces (const corral_profile_t *def, const corral_profile_t *offline)
{
  {
    harden_ctx_t ctx = make_ctx (offline);
    cleanup_error corral_error_t err = NULL;
    cleanup_changes changes_t changes = { 0 };
    cleanup_json json_t *spec = load_fixture ("engines", "podman-run.json");
    json_t *net;

    ok (json_get (find_namespace (spec, "network"), "path") != NULL, "podman-run joins a prepared network namespace");
    ok (harden_namespaces (spec, &ctx, &changes, &err) == 0, "offline: harden_namespaces succeeds");
    net = find_namespace (spec, "network");
    ok (net && json_get (net, "path") == NULL, "offline: the network namespace path is removed (fresh netns)");
    ok (changes_mention (&changes, "/run/netns/netns-80ea309a"), "offline: the change log names the dropped path");
  }
  {
    harden_ctx_t ctx = make_ctx (offline);
    cleanup_error corral_error_t err = NULL;
    cleanup_changes changes_t changes = { 0 };
    cleanup_json json_t *spec = parse_json ("{\"process\":{},\"linux\":{\"namespaces\":[{\"type\":\"mount\"}]}}");

    ok (harden_namespaces (spec, &ctx, &changes, &err) == 0, "offline: a spec with only a mount namespace");
    ok (has_namespace (spec, "network") && has_namespace (spec, "pid") && has_namespace (spec, "ipc")
            && has_namespace (spec, "uts"),
        "offline: network, pid, ipc and uts namespaces are added");
    is_int (json_len (get_path2 (spec, "linux", "namespaces")), 6,
            "offline: mount is not duplicated (pid, ipc, uts, cgroup, network added)");
  }
  {
    harden_ctx_t ctx = make_ctx (def);
    cleanup_error corral_error_t err = NULL;
    cleanup_changes changes_t changes = { 0 };
    cleanup_json json_t *spec = parse_json (
        "{\"process\":{},\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"mount\"},{\"type\":\"ipc\"}]}}");

    ok (harden_namespaces (spec, &ctx, &changes, &err) < 0, "default: no network namespace (host network) is an error");
    like (err ? err->msg : NULL, "host", "the error says it is the host's network");
  }
  {
    harden_ctx_t ctx = make_ctx (def);
    cleanup_error corral_error_t err = NULL;
    cleanup_changes changes_t changes = { 0 };
    cleanup_json json_t *spec = load_fixture ("engines", "podman-run.json");

    ctx.netns_is_host = true;
    ok (harden_namespaces (spec, &ctx, &changes, &err) < 0, "default: a netns path that is the host's is an error");
    like (err ? err->msg : NULL, "host", "the error says it is the host's network");
  }
  {
    harden_ctx_t ctx = make_ctx (def);
    cleanup_error corral_error_t err = NULL;
    cleanup_changes changes_t changes = { 0 };
    cleanup_json json_t *spec = load_fixture ("engines", "containerd-ctr-run.json");
    cleanup_json json_t *orig = json_deep_copy (spec);

    ok (harden_namespaces (spec, &ctx, &changes, &err) == 0, "default: containerd's own netns is accepted");
    ok (has_namespace (spec, "cgroup"), "default: a private cgroup namespace is added");
    is_int (json_len (get_path2 (spec, "linux", "namespaces")), json_len (get_path2 (orig, "linux", "namespaces")) + 1,
            "default: only the cgroup namespace is added");
  }
}

/* ---- hostile sizes ---- */

static void
test_many_entries (const corral_profile_t *def)
{
  enum
  {
    N = 10000
  };
  harden_ctx_t ctx = make_ctx (def);
  cleanup_error corral_error_t err = NULL;
  cleanup_changes changes_t changes = { 0 };
  cleanup_json json_t *spec = load_fixture ("engines", "podman-run.json");
  json_t *mounts = json_get (spec, "mounts");
  json_t *env = get_path2 (spec, "process", "env");
  size_t mounts_before, env_before, ro = 0;
  int r;

  for (int i = 0; i < N; i++)
    {
      cleanup_free char *text = NULL;
      char buf[64];

      xasprintf (&text,
                 "{\"destination\":\"/data/%d\",\"type\":\"bind\",\"source\":\"/srv/volumes/%d\","
                 "\"options\":[\"rbind\",\"rw\"]}",
                 i, i);
      json_push (mounts, parse_json (text));
      snprintf (buf, sizeof (buf), i % 2 ? "VAR_%d=v" : "SERVICE_%d_TOKEN=t", i);
      json_push (env, json_new_string (buf));
    }
  mounts_before = json_len (mounts);
  env_before = json_len (env);
  r = harden_spec (spec, &ctx, &changes, &err);
  ok (r == 0, "10000 bind mounts and 10000 env entries harden%s%s", err ? ": " : "", err ? err->msg : "");
  mounts = json_get (spec, "mounts");
  for (size_t i = 0; i < json_len (mounts); i++)
    {
      const char *dest = json_get_string (json_at (mounts, i), "destination");
      if (dest && str_has_prefix (dest, "/data/") && has_option (json_at (mounts, i), "ro"))
        ro++;
    }
  is_int (ro, N, "every one of the 10000 binds is read-only");
  ok (json_len (mounts) >= mounts_before, "no mount was lost");
  is_int (json_len (get_path2 (spec, "process", "env")), env_before - N / 2, "the 5000 *_TOKEN variables are gone");
}

/* Every byte of a real fixture changed in turn to a letter and to a digit:
 * what still parses goes through the whole pipeline, which must either
 * harden it (to JSON that parses again) or refuse it with a message; never
 * crash (ASan and valgrind run this too), never succeed silently with junk. */
static void
test_every_byte (const corral_profile_t *def)
{
  static const char subst[] = { 'x', '9' };
  cleanup_free char *path = NULL;
  cleanup_free char *data = NULL;
  harden_ctx_t ctx = make_ctx (def);
  size_t len, hardened = 0, refused = 0, unparsable = 0;
  long bad = -1; /* first mutation breaking the property */

  xasprintf (&path, "%s/tests/fixtures/engines/containerd-ctr-run.json", tap_srcdir ());
  data = read_file (path, &len);
  for (size_t i = 0; i < len * sizeof (subst); i++)
    {
      cleanup_free char *copy = xmalloc (len);
      cleanup_free char *out = NULL;
      cleanup_error corral_error_t err = NULL;
      cleanup_changes changes_t changes = { 0 };
      cleanup_json json_t *spec = NULL;
      cleanup_json json_t *again = NULL;
      size_t pos = i / sizeof (subst);

      memcpy (copy, data, len);
      copy[pos] = subst[i % sizeof (subst)];
      spec = json_parse (copy, len, NULL);
      if (spec == NULL)
        {
          unparsable++;
          continue;
        }
      if (harden_spec (spec, &ctx, &changes, &err) < 0)
        {
          refused++;
          if ((err == NULL || err->msg[0] == '\0') && bad < 0)
            bad = (long) i;
          continue;
        }
      hardened++;
      out = json_serialize (spec, false);
      again = json_parse (out, strlen (out), NULL);
      if (again == NULL && bad < 0)
        bad = (long) i;
    }
  ok (bad < 0,
      "containerd-ctr-run.json with each of its %zu bytes changed: %zu hardened, %zu refused with a message, "
      "%zu not JSON (first mutation breaking this: %ld)",
      len, hardened, refused, unparsable, bad);
  ok (hardened > 0 && refused > 0, "both outcomes occur, so the loop exercised the pipeline");
}

/* ---- the agent's user, HOME and scratch space ---- */

static void
set_user (json_t *spec, int64_t uid, int64_t gid)
{
  json_t *user = json_ensure_object (json_get (spec, "process"), "user");
  json_set (user, "uid", json_new_int (uid));
  json_set (user, "gid", json_new_int (gid));
}

static const char *
env_get (const json_t *spec, const char *name)
{
  json_t *env = get_path2 (spec, "process", "env");
  size_t n = strlen (name);

  for (size_t i = 0; i < json_len (env); i++)
    {
      const char *kv = json_string (json_at (env, i));
      if (kv && strncmp (kv, name, n) == 0 && kv[n] == '=')
        return kv + n + 1;
    }
  return NULL;
}

static void
set_home (json_t *spec, const char *home)
{
  json_t *env = get_path2 (spec, "process", "env");
  cleanup_free char *kv = NULL;

  for (size_t i = json_len (env); i-- > 0;)
    if (strncmp (json_string (json_at (env, i)), "HOME=", 5) == 0)
      json_remove_at (env, i);
  if (home == NULL)
    return;
  xasprintf (&kv, "HOME=%s", home);
  json_push (env, json_new_string (kv));
}

static void
test_engine_user (const corral_profile_t *def)
{
  static const struct
  {
    int64_t uid, gid, want_uid, want_gid;
    const char *why;
  } cases[] = {
    { 1000, 1000, 1000, 1000, "a person's id (--user 1000:1000) is kept" },
    { 59999, 59999, 59999, 59999, "the top of the range is kept" },
    { 0, 0, 65534, 65534, "root becomes the profile's user" },
    { 1000, 0, 65534, 65534, "a uid in range with gid 0 becomes the profile's user" },
    { 0, 1000, 65534, 65534, "uid 0 with a gid in range becomes the profile's user" },
    { 999, 999, 65534, 65534, "a system id becomes the profile's user" },
    { 60000, 60000, 65534, 65534, "an id above the range becomes the profile's user" },
    { 100000, 100000, 65534, 65534, "a subordinate id becomes the profile's user" },
  };

  for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++)
    {
      cleanup_error corral_error_t err = NULL;
      cleanup_changes changes_t changes = { 0 };
      cleanup_json json_t *spec = load_fixture ("engines", "podman-run.json");
      /* The shipped policy leaves accept_range off: an operator's choice. */
      corral_profile_t ranged = *def;
      harden_ctx_t ctx = make_ctx (&ranged);
      json_t *user, *tmp;

      ranged.accept_min = 1000;
      ranged.accept_max = 59999;
      set_user (spec, cases[i].uid, cases[i].gid);
      if (harden_spec (spec, &ctx, &changes, &err) < 0)
        bail_out ("harden_spec: %s", err->msg);
      user = get_path2 (spec, "process", "user");
      ok (get_int (user, "uid", -1) == cases[i].want_uid && get_int (user, "gid", -1) == cases[i].want_gid,
          "%" PRId64 ":%" PRId64 ": %s (got %" PRId64 ":%" PRId64 ")", cases[i].uid, cases[i].gid, cases[i].why,
          get_int (user, "uid", -1), get_int (user, "gid", -1));
      if (i == 0)
        {
          tmp = find_mount (spec, "/tmp");
          ok (has_option (tmp, "uid=1000") && has_option (tmp, "gid=1000"), "the kept user owns /tmp");
          ok (changes_mention (&changes, "kept (within user.accept_range 1000-59999)"),
              "the change log says it was kept");
        }
    }

  /* A profile without accept_range (the shipped one) keeps nobody's id. */
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_changes changes_t changes = { 0 };
    cleanup_json json_t *spec = load_fixture ("engines", "podman-run.json");
    harden_ctx_t ctx = make_ctx (def);

    set_user (spec, 1000, 1000);
    if (harden_user (spec, &ctx, &changes, &err) < 0)
      bail_out ("harden_user: %s", err->msg);
    is_int (get_int (get_path2 (spec, "process", "user"), "uid", -1), 65534,
            "without accept_range, --user 1000 becomes 65534");
  }
}

static void
test_home (const corral_profile_t *def)
{
  static const struct
  {
    const char *home;
    int64_t owner;
    const char *want;
    const char *why;
  } cases[] = {
    { "/root", 0, HARDEN_HOME_SCRATCH, "root's /root moves to the scratch HOME" },
    { "/root", -1, HARDEN_HOME_SCRATCH, "a HOME missing in the image moves" },
    { "/", 0, HARDEN_HOME_SCRATCH, "HOME=/ (no passwd entry for --user) moves" },
    { NULL, -1, HARDEN_HOME_SCRATCH, "an unset HOME is set" },
    { "relative", 65534, HARDEN_HOME_SCRATCH, "a relative HOME moves" },
    { "/home/agent-image", 65534, "/home/agent-image", "a HOME the agent owns in the image stays" },
    { "/home/someone", 1000, HARDEN_HOME_SCRATCH, "a HOME owned by another id moves" },
    { "/tmp/home", 0, "/tmp/home", "a HOME on the agent's tmpfs stays" },
  };

  for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++)
    {
      cleanup_error corral_error_t err = NULL;
      cleanup_changes changes_t changes = { 0 };
      cleanup_json json_t *spec = load_fixture ("engines", "podman-run.json");
      harden_ctx_t ctx = make_ctx (def);
      bool moved = str_eq (cases[i].want, HARDEN_HOME_SCRATCH);
      json_t *m;

      set_home (spec, cases[i].home);
      ctx.image_home_uid = cases[i].owner;
      if (harden_spec (spec, &ctx, &changes, &err) < 0)
        bail_out ("harden_spec: %s", err->msg);
      is_str (env_get (spec, "HOME"), cases[i].want, "%s", cases[i].why);
      m = find_mount (spec, HARDEN_HOME_SCRATCH);
      if (moved)
        ok (m && str_eq (json_get_string (m, "type"), "tmpfs") && has_option (m, "uid=65534")
                && has_option (m, "gid=65534") && has_option (m, "mode=0700") && has_option (m, "nosuid")
                && has_option (m, "nodev") && mount_count (spec, HARDEN_HOME_SCRATCH) == 1,
            "%s: one tmpfs at " HARDEN_HOME_SCRATCH ", the agent's, 0700, nosuid,nodev", cases[i].why);
      else
        ok (m == NULL, "%s: no scratch HOME mount", cases[i].why);
    }

  /* The engine's volume at the scratch path (a persistent home) is kept. */
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_changes changes_t changes = { 0 };
    cleanup_json json_t *spec = load_fixture ("engines", "podman-run.json");
    harden_ctx_t ctx = make_ctx (def);
    json_t *vol = parse_json ("{\"destination\":\"" HARDEN_HOME_SCRATCH "\",\"type\":\"bind\","
                              "\"source\":\"/srv/agent-home\",\"options\":[\"rbind\"]}");

    json_push (json_get (spec, "mounts"), vol);
    if (harden_spec (spec, &ctx, &changes, &err) < 0)
      bail_out ("harden_spec: %s", err->msg);
    ok (mount_count (spec, HARDEN_HOME_SCRATCH) == 1
            && str_eq (json_get_string (find_mount (spec, HARDEN_HOME_SCRATCH), "type"), "bind"),
        "a volume at " HARDEN_HOME_SCRATCH " is kept, no tmpfs over it");
    is_str (env_get (spec, "HOME"), HARDEN_HOME_SCRATCH, "and HOME points at it");
  }

  /* podman exec sets the image's HOME again: the exec'd process gets the
   * container's. */
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_changes changes_t changes = { 0 };
    cleanup_json json_t *spec = load_fixture ("engines", "podman-run.json");
    cleanup_json json_t *wrapper = parse_json ("{\"process\":{\"env\":[\"PATH=/bin\",\"HOME=/root\"]}}");
    cleanup_json json_t *plain = parse_json ("{\"process\":{\"env\":[\"HOME=/root\"]}}");
    harden_ctx_t ctx = make_ctx (def);

    if (harden_spec (spec, &ctx, &changes, &err) < 0)
      bail_out ("harden_spec: %s", err->msg);
    harden_exec_home (wrapper, spec, &changes);
    is_str (env_get (wrapper, "HOME"), HARDEN_HOME_SCRATCH, "exec: HOME follows the container's scratch HOME");
    is_str (env_get (wrapper, "PATH"), "/bin", "exec: other variables stay");
    set_home (spec, "/home/agent-image");
    harden_exec_home (plain, spec, &changes);
    is_str (env_get (plain, "HOME"), "/root", "exec: a container that kept its HOME leaves exec's alone");
  }
}

/* The clone3 rule per runtime: ENOSYS under runc (glibc falls back to the
 * clone the flag rule inspects); left to the Sentry under runsc, which
 * would answer it EPERM and break pthread_create. */
static void
test_seccomp_per_runtime (const corral_profile_t *def, const corral_profile_t *untrusted)
{
  const corral_profile_t *profiles[] = { def, untrusted };

  for (size_t k = 0; k < 2; k++)
    {
      cleanup_error corral_error_t err = NULL;
      cleanup_changes changes_t changes = { 0 };
      cleanup_json json_t *spec = load_fixture ("engines", "docker-run.json");
      harden_ctx_t ctx = make_ctx (profiles[k]);
      json_t *rules;
      bool enosys = false;
      size_t allow, uncond, deny;

      if (harden_seccomp (spec, &ctx, &changes, &err) < 0)
        bail_out ("harden_seccomp: %s", err->msg);
      rules = syscalls_of (spec);
      for (size_t i = 0; i < json_len (rules); i++)
        if (json_array_has_string (json_get (json_at (rules, i), "names"), "clone3")
            && get_int (json_at (rules, i), "errnoRet", -1) == ENOSYS)
          enosys = true;
      count_rules (spec, "clone", &allow, &uncond, &deny);
      ok (uncond == 0 && has_masked_rule (spec, "clone", "SCMP_ACT_ALLOW", CLONE_NS_FLAGS, 0),
          "%s: clone is allowed only without namespace flags", profiles[k]->name);
      count_rules (spec, "unshare", &allow, &uncond, &deny);
      ok (allow == 0 && deny >= 1, "%s: unshare is denied", profiles[k]->name);
      if (k == 0)
        ok (enosys, "default (runc): clone3 answers ENOSYS");
      else
        {
          ok (!enosys, "untrusted (gVisor): no ENOSYS rule for clone3 (runsc would answer EPERM)");
          ok (changes_mention (&changes, "not as runc: the 1 ENOSYS rules"), "untrusted: the change log says why");
          ok (changes_mention (&changes, "(1 engine ENOSYS rules narrowed)"),
              "untrusted: Docker's own clone3 ENOSYS rule is the one narrowed");
        }
    }
}

/* Under gVisor the change log lists what runsc does not honour as runc
 * would; under runc it says nothing of runsc. */
static void
test_runsc_notes (const corral_profile_t *def, const corral_profile_t *untrusted)
{
  const corral_profile_t *profiles[] = { def, untrusted };

  for (size_t k = 0; k < 2; k++)
    {
      cleanup_error corral_error_t err = NULL;
      cleanup_changes changes_t changes = { 0 };
      cleanup_json json_t *spec = load_fixture ("engines", "podman-run.json");
      harden_ctx_t ctx = make_ctx (profiles[k]);
      size_t notes = 0;
      bool pids = false, devices = false;

      if (harden_spec (spec, &ctx, &changes, &err) < 0)
        bail_out ("harden_spec: %s", err->msg);
      for (size_t i = 0; i < changes.n; i++)
        if (str_eq (changes.items[i].step, "runsc"))
          {
            notes++;
            pids = pids || strstr (changes.items[i].what, "pids limit 256 applies to the sandbox") != NULL;
            devices = devices || strstr (changes.items[i].what, "device cgroup rules do not apply") != NULL;
          }
      if (k == 0)
        is_int ((int) notes, 0, "profile default (runc): no runsc notes");
      else
        ok (notes >= 3 && pids && devices, "profile untrusted (gVisor): the pids and devices differences are listed");
    }
}

/* The one rule the judge and the shim's staging share (shim/binds.c
 * applies it to the opened source's fstat). */
static void
test_source_kinds (void)
{
  is_str (harden_source_kind_refused (S_IFSOCK | 0777), "socket", "a socket is refused as a source");
  is_str (harden_source_kind_refused (S_IFIFO | 0644), "FIFO", "a FIFO is refused as a source");
  is_str (harden_source_kind_refused (S_IFCHR | 0666), "device node", "a character device is refused as a source");
  is_str (harden_source_kind_refused (S_IFBLK | 0660), "device node", "a block device is refused as a source");
  ok (harden_source_kind_refused (S_IFDIR | 0755) == NULL, "a directory may be a source");
  ok (harden_source_kind_refused (S_IFREG | 0644) == NULL, "a regular file may be a source");
  ok (harden_source_kind_refused (0) == NULL, "a missing source is left to the staging step");
}

int
main (void)
{
  cleanup_policy corral_policy_t *policy = load_policy ();
  const corral_profile_t *def, *offline, *untrusted;

  shipped_profiles (policy, &def, &offline, &untrusted);
  test_fixtures_default (def);
  test_idempotent (def, offline);
  test_seccomp_podman (def);
  test_seccomp_docker (def);
  test_seccomp_default_allow (def);
  test_environment (def);
  test_environment_allowlist ();
  test_environment_invalid (def);
  test_resources (def);
  test_privileged (def);
  test_binds (def);
  test_source_kinds ();
  test_namespaces (def, offline);
  test_many_entries (def);
  test_every_byte (def);
  test_runsc_notes (def, untrusted);
  test_engine_user (def);
  test_home (def);
  test_seccomp_per_runtime (def, untrusted);
  return done_testing ();
}
