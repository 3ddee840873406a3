/* corral: unit tests of spec/policy.[ch]: the shipped policy, strict
 * validation with JSON paths in every error, profile selection and
 * tightening by annotations. */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "base/fs.h"
#include "base/util.h"
#include "spec/policy.h"
#include "tests/unit/testlib.h"

/* Every clone flag the shipped policy denies. */
#define CLONE_NS_FLAGS 0x7E020080ULL

static corral_policy_t *
parse_text (const char *text, corral_error_t *err)
{
  return policy_parse (text, strlen (text), "test-policy.json", err);
}

static bool
strv_equal (char *const *a, char *const *b)
{
  size_t n = strv_len (a);

  if (n != strv_len (b))
    return false;
  for (size_t i = 0; i < n; i++)
    if (!str_eq (a[i], b[i]))
      return false;
  return true;
}

/* What policies_refused puts around a profile's members. */
#define PROFILE_BEFORE "{\"profiles\":{\"default\":{"
#define PROFILE_AFTER "}}}"

#define UNTRUSTED "{\"run.corral.profile\":\"untrusted\",\"foo\":\"bar\"}"

static void
test_shipped (void)
{
  cleanup_policy corral_policy_t *p = load_policy ();
  const corral_profile_t *def = policy_find_profile (p, "default");
  const corral_profile_t *off = policy_find_profile (p, "offline");
  const corral_profile_t *unt = policy_find_profile (p, "untrusted");
  cleanup_free char *summary = NULL;
  bool clone_ok = false;

  is_int (p->n_profiles, 3, "configs/policy.json has three profiles");
  is_str (p->default_profile, "default", "its default profile is \"default\"");
  if (!ok (def && off && unt, "profiles default, offline and untrusted exist"))
    return;

  is_str (def->runtime, "runc", "default: runtime runc");
  ok (def->uid == 65534 && def->gid == 65534, "default: runs as 65534:65534");
  ok (def->accept_min == 0 && def->accept_max == 0,
      "default: no accept_range (on a shared host a tenant could ask for another person's uid)");
  ok (unt->accept_min == 0 && unt->accept_max == 0, "untrusted: none either");
  ok (def->readonly_root, "default: read-only root");
  ok (def->n_tmpfs == 3 && str_eq (def->tmpfs[0].path, "/tmp") && str_eq (def->tmpfs[1].path, "/run")
          && str_eq (def->tmpfs[2].path, "/var/tmp"),
      "default: tmpfs /tmp, /run, /var/tmp");
  ok (def->capabilities && def->capabilities[0] == NULL, "default: no capabilities kept");
  ok (strv_has (def->seccomp_deny, "ptrace") && strv_has (def->seccomp_deny, "mount")
          && strv_has (def->seccomp_deny, "unshare") && strv_has (def->seccomp_deny, "bpf"),
      "default: seccomp denies ptrace, mount, unshare, bpf");
  is_int (def->seccomp_errno, EPERM, "default: denied syscalls fail with EPERM");
  for (size_t i = 0; i < def->n_seccomp_flags; i++)
    if (str_eq (def->seccomp_flags[i].syscall, "clone"))
      clone_ok = def->seccomp_flags[i].arg == 0 && def->seccomp_flags[i].flags == CLONE_NS_FLAGS;
  ok (clone_ok, "default: clone is denied with any namespace flag in argument 0 (mask 0x%llx)", CLONE_NS_FLAGS);
  ok (def->env_mode == ENV_STRIP && strv_has (def->env_patterns, "*_TOKEN"), "default: strips *_TOKEN variables");
  is_int (def->memory, 2LL << 30, "default: memory 2g");
  is_int (def->pids, 512, "default: pids 512");
  is_int (def->rlimit_nofile, 4096, "default: RLIMIT_NOFILE 4096");
  ok (def->network, "default: has network");
  is_int (strv_len (def->overridable), 9, "default: nine overridable annotations (four are budgets)");

  ok (strv_len (off->seccomp_deny) > 0 && strv_equal (off->seccomp_deny, def->seccomp_deny),
      "offline inherits default's seccomp deny list");
  is_int (off->n_seccomp_flags, def->n_seccomp_flags, "offline inherits default's seccomp flag rules");
  ok (strv_equal (off->env_patterns, def->env_patterns), "offline inherits default's environment patterns");
  is_int (off->n_mount_rules, def->n_mount_rules, "offline inherits default's mount rules");
  ok (!off->network, "offline: no network");
  is_str (off->runtime, "runc", "offline: runtime runc");
  is_int (off->memory, def->memory, "offline: memory as default");

  is_str (unt->runtime, "gvisor", "untrusted: runtime gvisor");
  ok (!unt->network, "untrusted: no network (inherited from offline)");
  is_int (unt->memory, 1LL << 30, "untrusted: memory 1g");
  is_int (unt->pids, 256, "untrusted: pids 256");
  ok (strv_equal (unt->seccomp_deny, def->seccomp_deny), "untrusted: seccomp inherited through offline");
  is_str (policy_runtime_path (p, "gvisor"), "runsc", "runtime gvisor is runsc");
  is_str (policy_runtime_path (p, "kata"), NULL, "an undefined runtime has no path");

  summary = policy_summary (p);
  like (summary, "profile untrusted: runtime=gvisor", "the summary lists untrusted with gvisor");
  like (summary, "egress=none", "the summary shows an offline profile");
}

static void
test_policy_load (void)
{
  char dir[] = "/tmp/corral-test-policy-XXXXXX";
  cleanup_free char *good = NULL;
  cleanup_free char *loose = NULL;
  cleanup_free char *src = NULL;
  cleanup_free char *data = NULL;
  cleanup_error corral_error_t err = NULL;
  cleanup_error corral_error_t err2 = NULL;
  cleanup_error corral_error_t err3 = NULL;
  cleanup_policy corral_policy_t *p1 = NULL;
  cleanup_policy corral_policy_t *p2 = NULL;
  cleanup_policy corral_policy_t *p3 = NULL;
  size_t len;

  if (mkdtemp (dir) == NULL)
    bail_out ("mkdtemp: %s", strerror (errno));
  xasprintf (&src, "%s/configs/policy.json", tap_srcdir ());
  data = read_file (src, &len);
  xasprintf (&good, "%s/good.json", dir);
  xasprintf (&loose, "%s/loose.json", dir);
  for (int i = 0; i < 2; i++)
    {
      const char *path = i ? loose : good;
      cleanup_close int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd < 0 || write (fd, data, len) != (ssize_t) len || fchmod (fd, i ? 0666 : 0644) < 0)
        bail_out ("write %s: %s", path, strerror (errno));
    }
  p1 = policy_load (good, &err);
  ok (p1 != NULL, "policy_load reads a 0644 copy of configs/policy.json%s%s", err ? ": " : "", err ? err->msg : "");
  p2 = policy_load (loose, &err2);
  ok (p2 == NULL, "policy_load refuses a world-writable policy");
  like (err2 ? err2->msg : NULL, "writable by group or others", "and says why");
  p3 = policy_load (dir, &err3);
  ok (p3 == NULL, "policy_load refuses a directory");
  like (err3 ? err3->msg : NULL, "not a regular file", "and says why");
  (void) unlink (good);
  (void) unlink (loose);
  (void) rmdir (dir);
}

static void
test_minimal_and_inheritance (void)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_policy corral_policy_t *min = parse_text ("{\"profiles\":{\"default\":{}}}", &err);
  cleanup_policy corral_policy_t *p = NULL;
  const corral_profile_t *def, *small;

  ok (min != NULL, "a policy with one empty profile is valid%s%s", err ? ": " : "", err ? err->msg : "");
  def = min ? policy_find_profile (min, "default") : NULL;
  ok (def && def->accept_min == 0 && def->accept_max == 0, "an empty profile accepts no engine user");
  ok (def && def->uid == 65534 && def->readonly_root && def->network && str_eq (def->runtime, "runc")
          && def->capabilities && def->capabilities[0] == NULL,
      "an empty profile gets safe defaults (65534, read-only root, no capabilities, runc)");

  p = parse_text ("{\"profiles\":{\"default\":{\"resources\":{\"memory\":\"2g\",\"pids\":100},"
                  "\"capabilities\":[\"CAP_CHOWN\",\"cap_net_bind_service\"]},"
                  "\"small\":{\"inherits\":\"default\",\"resources\":{\"memory\":\"1g\"},"
                  "\"capabilities\":[\"CAP_KILL\"]}}}",
                  &err);
  if (!ok (p != NULL, "a policy with an inheriting profile parses%s%s", err ? ": " : "", err ? err->msg : ""))
    return;
  small = policy_find_profile (p, "small");
  def = policy_find_profile (p, "default");
  is_int (small->memory, 1LL << 30, "the child's resources.memory wins");
  is_int (small->pids, 100, "objects merge: the parent's resources.pids is kept");
  ok (strv_len (small->capabilities) == 1 && str_eq (small->capabilities[0], "CAP_KILL"),
      "arrays replace: the child's capabilities only");
  ok (strv_len (def->capabilities) == 2 && str_eq (def->capabilities[1], "CAP_NET_BIND_SERVICE"),
      "capability names are canonicalised (cap_net_bind_service -> CAP_NET_BIND_SERVICE)");
}

static void
test_errors (void)
{
  /* Whole policies. */
  static const struct refusal policies[] = {
    { "{\"profiles\":{\"default\":{}},\"profile\":{}}", "(top level)", "unknown key \"profile\"",
      "an unknown top-level key" },
    { "{\"profiles\":{\"default\":{}}", "test-policy.json", "invalid JSON", "a truncated policy" },
    { "{\"profiles\":{}}", "profiles", "non-empty", "a policy without profiles" },
    { "{\"default_profile\":\"strict\",\"profiles\":{\"default\":{}}}", "default_profile", "no profile \"strict\"",
      "a default_profile that does not exist" },
    { "{\"profiles\":{\"default\":{\"inherits\":\"a\"},\"a\":{\"inherits\":\"b\"},\"b\":{\"inherits\":\"a\"}}}",
      "inherits", "inheritance cycle", "an inheritance cycle" },
    { "{\"profiles\":{\"default\":{\"inherits\":\"default\"}}}", "profiles.default.inherits", "inheritance cycle",
      "a profile inheriting itself" },
    { "{\"runtimes\":{\"runc\":\"runc\",\"kata\":\"kata-runtime\"},\"profiles\":{\"default\":{}}}", "runtimes",
      "unknown runtime \"kata\"", "an unknown runtime in runtimes" },
  };
  /* The members of a policy's only profile, "default". */
  static const struct refusal profiles[] = {
    { "\"seccomp_profile\":{}", "profiles.default", "unknown key \"seccomp_profile\"", "an unknown profile key" },
    { "\"user\":{\"uid\":\"65534\"}", "profiles.default.user.uid", "expected an integer", "a uid given as a string" },
    { "\"capabilities\":\"CAP_CHOWN\"", "profiles.default.capabilities", "expected an array",
      "capabilities given as a string" },
    { "\"filesystem\":{\"readonly_root\":\"yes\"}", "profiles.default.filesystem.readonly_root", "true or false",
      "readonly_root given as a string" },
    { "\"user\":{\"uid\":0,\"gid\":1000}", "profiles.default.user", "must not be 0", "uid 0" },
    { "\"user\":{\"uid\":1000,\"gid\":0}", "profiles.default.user", "must not be 0", "gid 0" },
    { "\"user\":{\"uid\":1000,\"additional_gids\":[0]}", "profiles.default.user.additional_gids[0]", "between 1 and",
      "additional gid 0" },
    { "\"user\":{\"accept_range\":[0,60000]}", "profiles.default.user.accept_range", "within [1000, 59999]",
      "an accept_range that would take root" },
    { "\"user\":{\"accept_range\":[1000,65534]}", "profiles.default.user.accept_range", "within [1000, 59999]",
      "an accept_range that would take nobody" },
    { "\"user\":{\"accept_range\":[999,2000]}", "profiles.default.user.accept_range", "never accepted",
      "an accept_range that would take a system id" },
    { "\"user\":{\"accept_range\":[3000,2000]}", "profiles.default.user.accept_range", "min <= max",
      "an accept_range with min above max" },
    { "\"user\":{\"accept_range\":[1000]}", "profiles.default.user.accept_range", "expected [min, max]",
      "an accept_range of one number" },
    { "\"user\":{\"accept_range\":\"1000-2000\"}", "profiles.default.user.accept_range", "expected [min, max]",
      "an accept_range given as a string" },
    { "\"user\":{\"accept_ranges\":[1000,2000]}", "profiles.default.user", "unknown key \"accept_ranges\"",
      "a misspelt accept_range" },
    { "\"capabilities\":[\"CAP_CHOWN\",\"CAP_FOO\"]", "profiles.default.capabilities[1]",
      "unknown capability \"CAP_FOO\"", "an unknown capability" },
    { "\"seccomp\":{\"deny\":[\"ptrace\",\"mount\",\"no_such_syscall\"]}",
      "profiles.default.seccomp.deny[2]: unknown syscall", "no_such_syscall", "an unknown syscall" },
    { "\"seccomp\":{\"errno\":\"EFOO\"}", "profiles.default.seccomp.errno", "unknown errno \"EFOO\"",
      "an unknown errno" },
    { "\"seccomp\":{\"deny_flags\":[{\"syscall\":\"clone\",\"arg\":0,\"flags\":[\"CLONE_NEWNS\","
      "\"CLONE_NEWFOO\"]}]}",
      "profiles.default.seccomp.deny_flags[0].flags[1]", "unknown flag \"CLONE_NEWFOO\"", "an unknown clone flag" },
    { "\"seccomp\":{\"deny_flags\":[{\"syscall\":\"clone\",\"arg\":6,\"flags\":[\"CLONE_NEWNS\"]}]}",
      "profiles.default.seccomp.deny_flags[0].arg", "out of range", "a syscall argument index of 6" },
    { "\"seccomp\":{\"deny_flags\":[{\"syscall\":\"klone\",\"flags\":[\"CLONE_NEWNS\"]}]}",
      "profiles.default.seccomp.deny_flags[0].syscall", "unknown syscall", "a flag rule on an unknown syscall" },
    { "\"inherits\":\"strict\"", "profiles.default.inherits", "no profile \"strict\"",
      "inherits naming a missing profile" },
    { "\"filesystem\":{\"readonly_root\":false}", "profiles.default.filesystem.readonly_root", "must be true",
      "readonly_root false" },
    { "\"runtime\":\"kata\"", "profiles.default.runtime", "\"kata\" is not defined",
      "a profile naming an undefined runtime" },
    { "\"filesystem\":{\"tmpfs\":[{\"path\":\"/tmp\",\"size\":\"64x\"}]}", "profiles.default.filesystem.tmpfs[0].size",
      "invalid size \"64x\"", "a bad tmpfs size (64x)" },
    { "\"filesystem\":{\"tmpfs\":[{\"path\":\"/tmp\"},{\"path\":\"/run\",\"size\":\"0\"}]}",
      "profiles.default.filesystem.tmpfs[1].size", "invalid size", "a tmpfs size of 0" },
    { "\"filesystem\":{\"tmpfs\":[{\"path\":\"/tmp\",\"size\":\"-1m\"}]}", "profiles.default.filesystem.tmpfs[0].size",
      "invalid size", "a negative tmpfs size" },
    { "\"filesystem\":{\"tmpfs\":[{\"path\":\"tmp\"}]}", "profiles.default.filesystem.tmpfs[0]", "not an absolute path",
      "a relative tmpfs path" },
    { "\"filesystem\":{\"mount_rules\":[{\"source\":\"/a\",\"action\":\"refuse\"},"
      "{\"source\":\"/var/run/docker.sock\",\"destination\":\"/sock\",\"action\":\"refuse\"}]}",
      "profiles.default.filesystem.mount_rules[1]", "exactly one of", "a mount rule with source and destination" },
    { "\"filesystem\":{\"mount_rules\":[{\"action\":\"refuse\"}]}", "profiles.default.filesystem.mount_rules[0]",
      "exactly one of", "a mount rule with neither" },
    { "\"filesystem\":{\"mount_rules\":[{\"source\":\"/a\",\"action\":\"allow\"}]}",
      "profiles.default.filesystem.mount_rules[0].action", "\"allow\"", "a mount rule action of allow" },
    { "\"filesystem\":{\"writable_mounts\":[\"/workspace/../etc\"]}", "profiles.default.filesystem.writable_mounts[0]",
      "\"..\"", "a writable mount with .." },
    { "\"environment\":{\"mode\":\"keep\"}", "profiles.default.environment.mode", "\"keep\"",
      "an unknown environment mode" },
    { "\"environment\":{\"patterns\":[\"A\",\"\"]}", "profiles.default.environment.patterns[1]", "empty pattern",
      "an empty environment pattern" },
    { "\"egress\":{\"mode\":\"some\"}", "profiles.default.egress.mode", "\"some\"", "an unknown egress mode" },
    { "\"resources\":{\"memory\":\"2q\"}", "profiles.default.resources.memory", "invalid size", "a bad memory size" },
    { "\"resources\":{\"cpu_period\":10}", "profiles.default.resources.cpu_period", "out of range",
      "a cpu_period below 1000" },
    { "\"overridable\":[\"run.corral.seccomp\"]", "profiles.default.overridable[0]",
      "not an annotation a container can use", "an overridable annotation corral does not know" },
  };

  policies_refused ("", "", policies, ARRAY_LEN (policies));
  policies_refused (PROFILE_BEFORE, PROFILE_AFTER, profiles, ARRAY_LEN (profiles));
}

/* A profile chosen by --profile and the run.corral.profile annotation: the
 * name chosen, or NULL for an error whose message has needle. */
static void
test_select (void)
{
  static const struct
  {
    const char *flag, *annotations, *want, *needle, *what;
  } cases[] = {
    { NULL, NULL, "default", NULL, "no flag, no annotations: the default profile" },
    { NULL, "{\"io.podman.annotations.init\":\"FALSE\"}", "default", NULL,
      "unrelated annotations: the default profile" },
    { NULL, UNTRUSTED, "untrusted", NULL, "the annotation picks a profile" },
    { "offline", NULL, "offline", NULL, "--profile picks a profile" },
    { "offline", "{\"run.corral.profile\":\"offline\"}", "offline", NULL, "--profile and an agreeing annotation" },
    { "offline", UNTRUSTED, NULL, "conflicts", "--profile offline with annotation untrusted is an error" },
    { "default", UNTRUSTED, NULL, "conflicts",
      "--profile default with annotation untrusted is an error too (no silent choice)" },
    { "strict", NULL, NULL, "no profile \"strict\"", "--profile naming an unknown profile is an error" },
    { NULL, "{\"run.corral.profile\":\"strict\"}", NULL, "strict",
      "an annotation naming an unknown profile is an error" },
    { NULL, "{\"run.corral.profile\":1}", NULL, "run.corral.profile", "a non-string profile annotation is an error" },
  };
  cleanup_policy corral_policy_t *p = load_policy ();

  for (size_t i = 0; i < ARRAY_LEN (cases); i++)
    {
      cleanup_error corral_error_t err = NULL;
      cleanup_json json_t *ann = cases[i].annotations ? parse_json (cases[i].annotations) : NULL;
      const corral_profile_t *r = policy_select_profile (p, cases[i].flag, ann, &err);

      is_str (r ? r->name : NULL, cases[i].want, "%s", cases[i].what);
      if (cases[i].needle)
        like (err ? err->msg : NULL, cases[i].needle, "%s: the error says \"%s\"", cases[i].what, cases[i].needle);
    }
}

/* Tighten the shipped default profile; returns NULL on error (in *err). */
static corral_profile_t *
tighten (const corral_policy_t *p, const char *profile, const char *annotations, corral_error_t *err)
{
  cleanup_json json_t *ann = parse_json (annotations);
  return profile_with_annotations (policy_find_profile (p, profile), ann, err);
}

static void
tighten_fails (const corral_policy_t *p, const char *annotations, const char *needle, const char *what)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_profile corral_profile_t *t = tighten (p, "default", annotations, &err);

  ok (t == NULL, "%s is refused", what);
  like (err ? err->msg : NULL, needle, "%s: message has \"%s\"", what, needle);
}

static void
test_annotations (void)
{
  cleanup_policy corral_policy_t *p = load_policy ();
  cleanup_policy corral_policy_t *narrow = NULL;
  cleanup_error corral_error_t err = NULL;
  const corral_profile_t *def = policy_find_profile (p, "default");
  size_t n_patterns = strv_len (def->env_patterns);

  {
    cleanup_profile corral_profile_t *t = tighten (p, "default", "{\"run.corral.memory\":\"512m\"}", &err);
    is_int (t ? t->memory : -1, 512LL << 20, "run.corral.memory=512m tightens memory to 512 MiB");
    is_int (def->memory, 2LL << 30, "the policy's own profile is unchanged");
  }
  {
    cleanup_profile corral_profile_t *t = tighten (p, "default", "{\"run.corral.pids\":\"64\"}", &err);
    is_int (t ? t->pids : -1, 64, "run.corral.pids=64 tightens pids");
  }
  tighten_fails (p, "{\"run.corral.memory\":\"4g\"}", "loosen", "run.corral.memory=4g (above 2g)");
  tighten_fails (p, "{\"run.corral.pids\":\"100000\"}", "loosen", "run.corral.pids=100000 (above 512)");
  tighten_fails (p, "{\"run.corral.memory\":\"0\"}", "positive", "run.corral.memory=0 (would mean no limit)");
  tighten_fails (p, "{\"run.corral.memory\":\"lots\"}", "run.corral.memory", "run.corral.memory=lots");
  tighten_fails (p, "{\"run.corral.memory\":512}", "expected a string", "a non-string annotation value");
  tighten_fails (p, "{\"run.corral.x\":\"1\"}", "not known to corral", "the unknown annotation run.corral.x");
  tighten_fails (p, "{\"run.corral.egress\":\"open\"}", "run.corral.egress",
                 "the unknown annotation run.corral.egress");

  narrow = parse_text ("{\"profiles\":{\"default\":{\"overridable\":[\"run.corral.memory\"]}}}", &err);
  if (ok (narrow != NULL, "a policy opening only run.corral.memory parses"))
    {
      cleanup_error corral_error_t e = NULL;
      cleanup_profile corral_profile_t *t = tighten (narrow, "default", "{\"run.corral.pids\":\"10\"}", &e);
      ok (t == NULL, "run.corral.pids is refused where the profile does not list it as overridable");
      like (e ? e->msg : NULL, "not overridable", "the error says it is not overridable");
    }

  {
    cleanup_error corral_error_t e = NULL;
    cleanup_error corral_error_t e2 = NULL;
    cleanup_policy corral_policy_t *allow
        = parse_text ("{\"profiles\":{\"default\":{\"environment\":{\"mode\":\"allowlist\",\"patterns\":[\"PATH\"]},"
                      "\"overridable\":[\"run.corral.env.strip\"]}}}",
                      &e);
    cleanup_profile corral_profile_t *t
        = allow ? tighten (allow, "default", "{\"run.corral.env.strip\":\"PATH\"}", &e2) : NULL;

    ok (allow != NULL && t == NULL, "run.corral.env.strip is refused on an allowlist profile");
    like (e2 ? e2->msg : NULL, "allowlist", "the error says the profile keeps an allowlist");
  }
  {
    cleanup_error corral_error_t e = NULL;
    cleanup_json json_t *arr = parse_json ("[\"run.corral.memory=1m\"]");
    cleanup_profile corral_profile_t *t = profile_with_annotations (def, arr, &e);

    ok (t == NULL, "annotations that are not an object are refused");
    like (e ? e->msg : NULL, "annotations", "the error names the annotations");
  }
  {
    cleanup_error corral_error_t e = NULL;
    cleanup_profile corral_profile_t *t
        = tighten (p, "default",
                   "{\"io.podman.annotations.privileged\":\"TRUE\",\"org.opencontainers.image.stopSignal\":\"15\","
                   "\"run.corral.profile\":\"default\",\"run.corralx\":\"1\"}",
                   &e);
    ok (t != NULL, "annotations outside run.corral. (and run.corral.profile) are ignored%s%s", e ? ": " : "",
        e ? e->msg : "");
    ok (t && t->memory == def->memory && t->pids == def->pids && strv_len (t->env_patterns) == n_patterns,
        "and change nothing");
  }
  {
    cleanup_error corral_error_t e = NULL;
    cleanup_profile corral_profile_t *t = tighten (p, "default", "{\"run.corral.env.strip\":\"MY_*,,INTERNAL\"}", &e);
    ok (t && strv_len (t->env_patterns) == n_patterns + 2,
        "run.corral.env.strip adds two patterns (empty ones skipped)");
    ok (t && str_eq (t->env_patterns[n_patterns], "MY_*") && str_eq (t->env_patterns[n_patterns + 1], "INTERNAL"),
        "the added patterns are MY_* and INTERNAL");
    is_int (strv_len (def->env_patterns), n_patterns, "the policy's patterns are unchanged");
  }
}

/* egress.ask: names only, an absolute alert command, a sane timeout; an
 * offline child of an asking profile asks for nothing. */
static void
test_ask (void)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_policy corral_policy_t *p = NULL;
  const corral_profile_t *d, *off;
  static const struct refusal refused[] = {
    { "\"egress\":{\"ask\":[\"192.0.2.1:443/tcp\"]},\"dns\":{\"upstream\":\"192.0.2.53\"}",
      "profiles.default.egress.ask[0]", "ask entries are domain names", "an address in the ask list" },
    { "\"egress\":{\"ask\":[\"docs.test\"],\"ask_alert\":[\"page\"]},\"dns\":{\"upstream\":\"192.0.2.53\"}",
      "profiles.default.egress.ask_alert", "absolute path", "a relative ask_alert command" },
    { "\"egress\":{\"ask\":[\"docs.test\"],\"ask_timeout_seconds\":0},\"dns\":{\"upstream\":\"192.0.2.53\"}",
      "profiles.default.egress.ask_timeout_seconds", "out of range", "an ask timeout of 0" },
  };

  policies_refused (PROFILE_BEFORE, PROFILE_AFTER, refused, ARRAY_LEN (refused));
  p = parse_text ("{\"profiles\":{\"default\":{\"egress\":{\"ask\":[\"docs.test\"]}}}}", &err);
  ok (p && profile_has_domains (policy_find_profile (p, "default"))
          && policy_find_profile (p, "default")->dns_upstream == NULL,
      "an ask list without a DNS upstream parses (create asks the host's resolver)");
  policy_free (p);
  p = NULL;
  p = parse_text ("{\"profiles\":{\"default\":{\"egress\":{\"ask\":[\"*.docs.test:443/tcp\",\"api.test\"],"
                  "\"ask_timeout_seconds\":30,\"ask_alert\":[\"/usr/local/bin/page\",\"--urgent\"]},"
                  "\"dns\":{\"upstream\":\"192.0.2.53\"}},"
                  "\"off\":{\"inherits\":\"default\",\"egress\":{\"mode\":\"none\"}}}}",
                  &err);
  if (!ok (p != NULL, "a profile with an ask list parses%s%s", err ? ": " : "", err ? err->msg : ""))
    return;
  d = policy_find_profile (p, "default");
  off = policy_find_profile (p, "off");
  is_int ((int) d->n_ask, 2, "both ask entries are kept");
  ok (d->ask[0].wildcard && str_eq (d->ask[0].name, "docs.test") && d->ask[0].port == 443,
      "a wildcard ask entry keeps its suffix and port");
  is_int ((int) d->ask_timeout, 30, "the ask timeout is read");
  ok (strv_len (d->ask_alert) == 2 && str_eq (d->ask_alert[1], "--urgent"), "the alert argv is read");
  ok (profile_has_domains (d), "an ask list needs the DNS guard");
  is_int ((int) off->n_ask, 0, "an offline child asks for nothing");
  ok (!profile_has_domains (off), "and needs no guard");
}

int
main (void)
{
  test_shipped ();
  test_policy_load ();
  test_minimal_and_inheritance ();
  test_errors ();
  test_select ();
  test_annotations ();
  test_ask ();
  return done_testing ();
}
