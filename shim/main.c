/* corral: the command-line driver.  Parses runc's CLI, hardens the bundle on
 * create/run, records the delegate and hands every call to it. */
#include "config.h"

#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "hooks/dnsguard.h"
#include "hooks/hook.h"
#include "hooks/wire.h"
#include "hooks/nft.h"
#include "hooks/nftset.h"
#include "shim/budget_cli.h"
#include "shim/audit.h"
#include "shim/binds.h"
#include "shim/cli.h"
#include "shim/delegate.h"
#include "shim/facts.h"
#include "shim/fsutil.h"
#include "shim/gvisor.h"
#include "shim/log.h"
#include "shim/report.h"
#include "shim/state.h"
#include "shim/util.h"
#include "spec/bundle.h"
#include "spec/explain.h"
#include "spec/harden.h"
#include "spec/policy.h"

#ifndef CORRAL_POLICY_PATH
#define CORRAL_POLICY_PATH "/etc/corral/policy.json"
#endif

static const char *
state_base (void)
{
  /* Only the test suite moves the state directory. */
  const char *b = getenv ("CORRAL_STATE_DIR");
  return b && *b == '/' ? b : CORRAL_STATE_BASE;
}

static const char *
policy_path (const cli_t *cli)
{
  const char *env = getenv ("CORRAL_POLICY");
  if (cli->policy)
    return cli->policy;
  return env && *env ? env : CORRAL_POLICY_PATH;
}

static int
fail (corral_error_t *err)
{
  log_error ("%s", (*err)->msg);
  corral_error_release (err);
  return 1;
}

/* corral's own commands: the usage text and `corral COMMAND --help`. */
static const struct
{
  const char *command;
  const char *synopsis;
  const char *what;
} own_commands[] = {
  { "explain", "explain --bundle DIR [--profile P] [--json]", "show what corral would change and why" },
  { "policy", "policy check FILE", "validate a policy file" },
  { "egress", "egress show ID", "the container's egress table, counters, DNS names and set elements" },
  { "ps", "ps [--json]", "containers corral manages" },
  { "inspect", "inspect ID", "the effective policy of one container (JSON)" },
  { "checklist", "checklist ID|--bundle DIR [--json]", "pre-deployment questions, answered with evidence" },
  { "audit",
    "audit verify [--all | FILE...] | audit rotate [--keep N] | audit show [--container ID] [--agent A] [--since T] "
    "[--json|--csv]",
    "check the audit log's HMAC chain across rotated files, seal and rotate it, or print and export records" },
  { "resume", "resume ID --reason TEXT [--grant N]", "resume a container a budget froze" },
  { "approve", "approve ID NAME [--reason TEXT]", "let a container's DNS guard resolve an ask name" },
  { "deny", "deny ID NAME [--reason TEXT]", "refuse an ask name for the container's life" },
  { "budget", "budget reset AGENT --reason TEXT | budget report ID [--api-calls N] [--spend-usd X] [--tokens T]",
    "zero an agent's daily totals, or push a container's API usage (increments)" },
  { "usage", "usage ID | --agent AGENT", "recorded usage (JSON lines)" },
  { "hook", "hook create-runtime|poststart --state-dir DIR", "OCI hooks (injected by corral itself)" },
};

static void
usage (FILE *f)
{
  fprintf (f, "Usage: corral [global options] COMMAND [command options] [arguments...]\n"
              "\n"
              "An OCI runtime that hardens each container's config.json for AI agents\n"
              "and hands it to a delegate runtime (runc, or runsc for gVisor).\n"
              "\n"
              "runtime commands (as runc): create run start state kill delete exec ps pause\n"
              "  resume update events features checkpoint restore spec list\n"
              "corral commands:\n");
  for (size_t i = 0; i < sizeof (own_commands) / sizeof (own_commands[0]); i++)
    fprintf (f, "  %s\n      %s\n", own_commands[i].synopsis, own_commands[i].what);
  fprintf (f, "\n"
              "global options (as runc): --root DIR --log FILE --log-format text|json\n"
              "  --systemd-cgroup --debug --rootless VALUE --criu PATH --help --version\n"
              "corral's own (removed before the delegate sees the command line):\n"
              "  --policy FILE     policy file (default " CORRAL_POLICY_PATH ", or $CORRAL_POLICY)\n"
              "  --delegate PATH   runtime to delegate to (default: the profile's runtime)\n"
              "  --profile NAME    profile for containers created by this invocation\n"
              "  --tenant NAME     whose daily budgets they count against (run.corral.agent narrows within)\n"
              "\n"
              "See corral(8) and corral-policy(5).\n");
}

/* `corral COMMAND --help` for corral's own commands (runc's commands pass
 * --help on to the delegate).  Returns false when COMMAND is not ours. */
static bool
own_command_help (const cli_t *cli)
{
  bool asked = false;

  for (int i = 0; i < cli->n_command_args; i++)
    asked |= str_eq (cli->command_args[i], "--help") || str_eq (cli->command_args[i], "-h");
  if (!asked)
    return false;
  for (size_t i = 0; i < sizeof (own_commands) / sizeof (own_commands[0]); i++)
    if (str_eq (own_commands[i].command, cli->command) && !(str_eq (cli->command, "ps") && cli->n_command_args > 1))
      {
        printf ("Usage: corral %s\n  %s\nSee corral(8).\n", own_commands[i].synopsis, own_commands[i].what);
        return true;
      }
  return false;
}

/* Is the spec's network namespace the one corral itself runs in? */
static int
netns_is_host (const json_t *spec, bool *ret, corral_error_t *err)
{
  json_t *nss = json_get (json_get (spec, "linux"), "namespaces");
  struct stat self, other;

  *ret = true;
  for (size_t i = 0; i < json_len (nss); i++)
    {
      json_t *ns = json_at (nss, i);
      const char *path = json_get_string (ns, "path");

      if (!str_eq (json_get_string (ns, "type"), "network"))
        continue;
      *ret = false;
      if (path == NULL)
        return 0;
      if (stat ("/proc/self/ns/net", &self) < 0)
        return corral_error_make (err, errno, "stat `/proc/self/ns/net`");
      /* A path that does not exist cannot be the host's; the delegate
       * reports it when it tries to join. */
      if (stat (path, &other) < 0)
        return errno == ENOENT ? 0 : corral_error_make (err, errno, "network namespace `%s`", path);
      *ret = self.st_dev == other.st_dev && self.st_ino == other.st_ino;
      return 0;
    }
  return 0;
}

static char *
resolve_source (const char *source)
{
  return realpath (source, NULL);
}

/* Load policy, pick and tighten the profile for spec. */
static corral_profile_t *
profile_for_spec (const cli_t *cli, const corral_policy_t *policy, const json_t *spec, corral_error_t *err)
{
  const json_t *ann = json_get (spec, "annotations");
  const corral_profile_t *base = policy_select_profile (policy, cli->profile, ann, err);

  return base ? profile_with_annotations (base, ann, err) : NULL;
}

/* state_dir is where the injected hooks find their plan (NULL: explain).
 * bundle_fd anchors the facts read from the image (its HOME's owner). */
static int
harden_bundle_spec (const corral_profile_t *profile, const char *engine_root, const char *state_dir, int bundle_fd,
                    json_t *spec, changes_t *changes, corral_error_t *err)
{
  cleanup_free char *self = realpath ("/proc/self/exe", NULL);
  cleanup_free char *resolv = NULL;
  harden_ctx_t ctx = {
    .profile = profile,
    .seccomp_arches = harden_native_arches (),
    .resolve_source = resolve_source,
    .hook_path = self,
    .state_dir = state_dir,
    .classify_join = facts_classify_join,
    .engine_root = engine_root,
    .source_mode = facts_source_mode,
    .cgroup_exists = facts_cgroup_exists,
    .image_home_uid = bundle_rootfs_dir_owner (bundle_fd, spec, harden_env_home (spec)),
  };

  if (self == NULL)
    return corral_error_make (err, errno, "resolve corral's own path for the hooks");
  if (state_dir)
    xasprintf (&resolv, "%s/" DNSGUARD_RESOLV_NAME, state_dir);
  ctx.resolv_conf = resolv;
  if (netns_is_host (spec, &ctx.netns_is_host, err) < 0)
    return -1;
  return harden_spec (spec, &ctx, changes, err);
}

/* Allowlist or ask entries as the createRuntime hook reads them from the
 * record. */
static char **
egress_entries (const egress_rule_t *rules, size_t n)
{
  char **v = xmalloc0 ((n + 1) * sizeof (char *));

  for (size_t i = 0; i < n; i++)
    v[i] = egress_rule_format (&rules[i]);
  return v;
}

static int
delegate_for_profile (const cli_t *cli, const corral_policy_t *policy, const corral_profile_t *profile, char **ret,
                      corral_error_t *err)
{
  const char *name = policy_runtime_path (policy, profile->runtime);
  bool gvisor = str_eq (profile->runtime, "gvisor");

  /* --delegate replaces runc; it never turns a gVisor profile into runc. */
  if (cli->delegate && !gvisor)
    name = cli->delegate;
  if (name == NULL)
    return corral_error_make (err, ENOENT,
                              "profile %s asks for runtime %s, which the policy's \"runtimes\" does not "
                              "define",
                              profile->name, profile->runtime);
  if (delegate_resolve (name, ret, err) < 0)
    {
      /* Never a silent fallback to runc. */
      if (gvisor)
        return corral_error_wrap (err,
                                  "profile %s runs agents under gVisor, which is not available (install "
                                  "Debian's runsc package or set runtimes.gvisor in the policy); the container is "
                                  "not started",
                                  profile->name);
      return -1;
    }
  return 0;
}

/* argv for a command to the container's recorded delegate. */
static char **
record_argv (const cli_t *cli, const state_record_t *rec)
{
  if (str_eq (rec->delegate_name, "gvisor"))
    return gvisor_argv (cli, rec->delegate, rec->delegate_args);
  return cli_delegate_argv (cli, rec->delegate, NULL);
}

/* The same invocation with another command on the same container. */
static cli_t
cli_with_command (const cli_t *cli, const char *command, char **args, int n_args)
{
  cli_t q = *cli;
  q.command = command;
  q.command_args = args;
  q.n_command_args = n_args;
  return q;
}

/* Run a command on the container quietly; its stdout into *ret_out if asked. */
static int
run_quietly (const cli_t *q, const state_record_t *rec, char **ret_out, int *ret_status, corral_error_t *err)
{
  cleanup_strv char **argv = record_argv (q, rec);
  cleanup_free char *out = NULL;
  int pipefd[2], status;
  size_t len;
  pid_t pid;

  if (pipe2 (pipefd, O_CLOEXEC) < 0)
    return corral_error_make (err, errno, "pipe");
  pid = fork ();
  if (pid < 0)
    {
      close (pipefd[0]);
      close (pipefd[1]);
      return corral_error_make (err, errno, "fork");
    }
  if (pid == 0)
    {
      int null = open ("/dev/null", O_RDWR | O_CLOEXEC);
      if (null < 0 || dup2 (pipefd[1], STDOUT_FILENO) < 0 || dup2 (null, STDERR_FILENO) < 0
          || dup2 (null, STDIN_FILENO) < 0)
        _exit (127);
      execv (argv[0], argv);
      _exit (127);
    }
  close (pipefd[1]);
  if (fd_read_all (pipefd[0], 1024 * 1024, "delegate output", &out, &len, err) < 0)
    {
      close (pipefd[0]);
      (void) kill (pid, SIGKILL);
      (void) waitpid (pid, &status, 0);
      return -1;
    }
  close (pipefd[0]);
  while (waitpid (pid, &status, 0) < 0)
    if (errno != EINTR)
      return corral_error_make (err, errno, "wait for `%s %s`", argv[0], q->command);
  *ret_status = status;
  if (ret_out)
    *ret_out = steal_pointer (&out);
  return 0;
}

/* The pid in a delegate's `state` output.  A container whose process has
 * ended reports "stopped" and pid 0: say that, in the user's terms. */
static int
delegate_state_pid (const char *id, const char *out, pid_t *ret, corral_error_t *err)
{
  cleanup_json json_t *state = json_parse (out, strlen (out), err);
  const char *status;
  int64_t pid;

  if (state == NULL)
    return corral_error_wrap (err, "the delegate's state of container `%s`", id);
  status = json_get_string (state, "status");
  if (!json_int64 (json_get (state, "pid"), &pid) || pid <= 0 || pid > INT32_MAX || str_eq (status, "stopped"))
    return corral_error_make (err, ESRCH, "container `%s` is not running (status %s)", id, status ? status : "unknown");
  *ret = (pid_t) pid;
  return 0;
}

/* The pid of a created or running container, from its delegate's state. */
static int
container_pid (const cli_t *cli, const state_record_t *rec, pid_t *ret, corral_error_t *err)
{
  char *args[] = { (char *) cli->id, NULL };
  cli_t q = cli_with_command (cli, "state", args, 1);
  cleanup_free char *out = NULL;
  int status;

  if (run_quietly (&q, rec, &out, &status, err) < 0)
    return -1;
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    return corral_error_make (err, 0, "`%s state %s` failed: is the container running?", rec->delegate, cli->id);
  return delegate_state_pid (cli->id, out, ret, err);
}

static int
read_pid_file (const char *path, pid_t *ret, corral_error_t *err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  cleanup_free char *data = NULL;
  char *end;
  size_t len;
  long v;

  if (fd < 0)
    return corral_error_make (err, errno, "open pid file `%s`", path);
  if (fd_read_all (fd, 64, path, &data, &len, err) < 0)
    return -1;
  errno = 0;
  v = strtol (data, &end, 10);
  if (errno || end == data || v <= 0 || v > INT32_MAX)
    return corral_error_make (err, 0, "pid file `%s` holds no pid", path);
  *ret = (pid_t) v;
  return 0;
}

/* gVisor: runsc has made the sandbox and its netns; put the egress tables
 * in place before start lets the agent run.  On failure the half-made
 * container is deleted. */
static int
gvisor_after_create (const cli_t *cli, const state_record_t *rec, corral_error_t *err)
{
  char *args[] = { (char *) "--force", (char *) cli->id, NULL };
  cli_t q = cli_with_command (cli, "delete", args, 2);
  cleanup_free char *state_dir = state_container_dir (state_base (), cli->root, cli->id);
  const char *pid_file = NULL;
  /* gVisor's own netstack bypasses the IP hooks: a netdev table per
   * interface filters it.  With network "host" the kernel's stack in the
   * container's netns carries the traffic, and the inet table does. */
  bool per_device = !strv_has_pair (rec->delegate_args, "--network", "host");
  pid_t pid;
  int status;

  /* The engine's --pid-file spares a runsc `state` (tens of ms of Go
   * start-up); without one, ask runsc. */
  if ((cli_command_flag (cli, "pid-file", NULL, &pid_file) && pid_file ? read_pid_file (pid_file, &pid, err)
                                                                       : container_pid (cli, rec, &pid, err))
          == 0
      && hook_install_egress (pid, rec, state_dir, per_device, err) == 0)
    return 0;
  (void) run_quietly (&q, rec, NULL, &status, NULL);
  return corral_error_wrap (err, "corral egress filter for gVisor container %s; the container is not started", cli->id);
}

/* Which engine is calling, for the audit log: from its annotations, or the
 * shape of its --root (docs/facts.md). */
static const char *
engine_name (const cli_t *cli, const json_t *annotations)
{
  if (str_eq (json_get_string (annotations, "io.container.manager"), "libpod"))
    return "podman";
  if (json_get (annotations, "io.kubernetes.cri.container-type"))
    return "containerd-cri";
  if (cli->root && strstr (cli->root, "/moby"))
    return "docker";
  if (cli->root && str_has_prefix (cli->root, "/run/containerd/"))
    return "containerd";
  return cli->root ? "unknown" : "podman or runc-style";
}

/* The policy's tenant annotation is the engine's word only where the engine
 * writes it over whatever the tenant asked for: containerd's CRI (its shim
 * passes --root under /run/containerd/).  Podman passes every annotation a
 * user gives, and Docker none: there the operator names the tenant with
 * --tenant, or the container is refused. */
static int
check_tenant_source (const cli_t *cli, const corral_policy_t *policy, corral_error_t *err)
{
  if (policy->tenant_annotation == NULL || cli->tenant)
    return 0;
  if (cli->root && str_has_prefix (cli->root, "/run/containerd/"))
    return 0;
  return corral_error_make (err, 0,
                            "the policy takes the tenant from annotation %s, which only containerd's CRI sets "
                            "reliably; with this engine (%s) give the runtime --tenant NAME",
                            policy->tenant_annotation, cli->root ? cli->root : "no --root: Podman or runc-style");
}

/* A record for an existing container, where its record says, best effort:
 * the container already runs under the policy it was created with. */
static void
audit_container_event (const state_record_t *rec, const char *event, const json_t *fields)
{
  cleanup_error corral_error_t err = NULL;

  if (audit_record_event (rec, event, fields, &err) < 0)
    log_error ("audit record `%s` for %s not written: %s", event, rec->id ? rec->id : "?", err->msg);
}

/* The create record: what corral changed and why (names of stripped
 * variables, never values), what runs, and a digest of the effective spec. */
static json_t *
create_fields (const corral_profile_t *profile, const json_t *spec, const changes_t *changes)
{
  cleanup_free char *canon = json_serialize (spec, false);
  json_t *f = json_new_object ();
  json_t *list = json_new_array ();
  json_t *stripped = json_new_array ();
  const json_t *ann = json_get (spec, "annotations");
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  char hex[2 * EVP_MAX_MD_SIZE + 8] = "sha256:";
  const char *image = json_get_string (ann, "io.kubernetes.cri.image-name");

  json_set (f, "profile", json_new_string (profile->name));
  json_set (f, "runtime", json_new_string (profile->runtime));
  if (EVP_Digest (canon, strlen (canon), md, &md_len, EVP_sha256 (), NULL))
    for (unsigned i = 0; i < md_len; i++)
      snprintf (hex + 7 + 2 * i, 3, "%02x", md[i]);
  json_set (f, "config_digest", json_new_string (hex));
  for (size_t i = 0; i < changes->n; i++)
    {
      char *line;
      xasprintf (&line, "[%s] %s", changes->items[i].step, changes->items[i].what);
      json_push (list, json_new_string (line));
      free (line);
      if (str_eq (changes->items[i].step, "environment")
          && str_has_prefix (changes->items[i].what, "process.env: removed "))
        {
          const char *name = changes->items[i].what + strlen ("process.env: removed ");
          char *n = xstrndup (name, strcspn (name, " "));
          json_push (stripped, json_new_string (n));
          free (n);
        }
    }
  json_set (f, "changes", list);
  json_set (f, "stripped_env", stripped);
  json_set (f, "image", image ? json_new_string (image) : json_new_null ());
  {
    const json_t *args = json_get (json_get (spec, "process"), "args");
    json_set (f, "command", args ? json_deep_copy (args) : json_new_array ());
  }
  return f;
}

/* Fault injection for the test suite only: CORRAL_TEST_PAUSE_AT names a
 * point of create where corral touches CORRAL_TEST_PAUSE_FILE and waits
 * (60 s at most) to be killed there, or for the test to remove the file
 * (a race it plays out in between).  Unset, it costs one getenv. */
static void
test_pause (const char *stage)
{
  const char *at = getenv ("CORRAL_TEST_PAUSE_AT");
  const char *file = getenv ("CORRAL_TEST_PAUSE_FILE");
  int fd;

  if (at == NULL || file == NULL || !str_eq (at, stage))
    return;
  fd = open (file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd >= 0)
    close (fd);
  for (int i = 0; i < 600 && access (file, F_OK) == 0; i++)
    usleep (100 * 1000);
}

/* Everything corral holds on the host for a container: its staged binds
 * first (the state directory is never emptied through a mount), then its
 * state directory. */
static void
drop_container_state (const cli_t *cli)
{
  cleanup_error corral_error_t err = NULL;

  if (binds_release (state_base (), cli->root, cli->id, &err) < 0
      || state_record_remove (state_base (), cli->root, cli->id, &err) < 0)
    log_warning ("%s", err->msg);
}

static int
cmd_create (const cli_t *cli)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_policy corral_policy_t *policy = NULL;
  cleanup_profile corral_profile_t *profile = NULL;
  cleanup_json json_t *spec = NULL;
  cleanup_close int dirfd = -1;
  cleanup_free char *delegate = NULL;
  cleanup_free char *bundle_abs = NULL;
  cleanup_free char *state_dir = NULL;
  cleanup_strv char **argv = NULL;
  cleanup_strv char **egress = NULL;
  cleanup_strv char **ingress = NULL;
  cleanup_strv char **ask = NULL;
  cleanup_strv char **fixed = NULL;
  cleanup_free char *runsc_root = NULL;
  cleanup_free char *agent = NULL;
  changes_t changes = { 0 };
  const char *bundle = cli->bundle ? cli->bundle : ".";
  state_record_t rec = { 0 };
  mode_t mode = 0644;
  int status;

  if (!cli_id_is_valid (cli->id))
    {
      corral_error_make (&err, 0, "invalid container id `%s`", cli->id ? cli->id : "");
      return fail (&err);
    }
  policy = policy_load (policy_path (cli), &err);
  if (policy == NULL)
    {
      /* Where the policy would say, the default audit log hears of it. */
      cleanup_error corral_error_t aerr = NULL;
      cleanup_json json_t *fields = json_new_object ();
      audit_config_t defaults;
      audit_subject_t who = { .container = cli->id, .engine = engine_name (cli, NULL) };

      audit_config_defaults (&defaults);
      json_set (fields, "error", json_new_string (err->msg));
      (void) audit_append (&defaults, &who, "policy-error", fields, &aerr);
      audit_config_release (&defaults);
      return fail (&err);
    }
  dirfd = bundle_open (bundle, &err);
  if (dirfd < 0)
    return fail (&err);
  spec = bundle_load_spec (dirfd, bundle, &mode, &err);
  if (spec == NULL)
    return fail (&err);
  profile = profile_for_spec (cli, policy, spec, &err);
  state_dir = state_container_dir (state_base (), cli->root, cli->id);
  if (profile == NULL || harden_bundle_spec (profile, cli->root, state_dir, dirfd, spec, &changes, &err) < 0
      || delegate_for_profile (cli, policy, profile, &delegate, &err) < 0)
    {
      changes_release (&changes);
      return fail (&err);
    }
  if (check_tenant_source (cli, policy, &err) < 0
      || budget_identity (cli->tenant, policy->tenant_annotation, json_get (spec, "annotations"), &agent, &err) < 0
      || budget_check_create (profile, agent, &err) < 0)
    {
      changes_release (&changes);
      return fail (&err);
    }
  log_info ("container %s: profile %s, %zu changes", cli->id, profile->name, changes.n);
  /* Bounded like the audit record: a spec can ask for thousands of changes. */
  for (size_t i = 0; i < changes.n && i < AUDIT_LIST_MAX; i++)
    log_info ("container %s: [%s] %.*s", cli->id, changes.items[i].step, AUDIT_STRING_MAX, changes.items[i].what);
  if (changes.n > AUDIT_LIST_MAX)
    log_info ("container %s: ... and %zu more changes", cli->id, changes.n - AUDIT_LIST_MAX);
  {
    cleanup_json json_t *fields = create_fields (profile, spec, &changes);
    audit_subject_t who
        = { .container = cli->id, .agent = agent, .engine = engine_name (cli, json_get (spec, "annotations")) };
    changes_release (&changes);
    /* No record, no container (unless the policy chose fail-open). */
    if (audit_append (&policy->audit, &who, "create", fields, &err) < 0)
      {
        if (policy->audit.fail_closed)
          {
            corral_error_wrap (&err, "the audit log cannot be written, so the container is not started "
                                     "(audit.on_error is fail-closed)");
            return fail (&err);
          }
        log_error ("AUDIT LOG NOT WRITTEN (fail-open): %s", err->msg);
        corral_error_release (&err);
      }
  }

  /* gVisor's tables go in between create and start; `run` has no such
   * moment.  Engines use create + start. */
  if (str_eq (profile->runtime, "gvisor") && str_eq (cli->command, "run"))
    {
      corral_error_make (&err, ENOTSUP, "profile %s runs under gVisor: use create and start (as engines do), not run",
                         profile->name);
      return fail (&err);
    }
  /* After the judge, before the delegate sees the spec: bind sources become
   * mounts of the objects judged (shim/binds.h). */
  test_pause ("before-stage");
  if (binds_stage (state_base (), cli->root, cli->id, spec, &err) < 0)
    {
      drop_container_state (cli);
      return fail (&err);
    }
  test_pause ("before-save");
  if (bundle_save_spec (dirfd, bundle, spec, mode, &err) < 0)
    {
      drop_container_state (cli);
      return fail (&err);
    }
  test_pause ("after-save");

  bundle_abs = realpath (bundle, NULL);
  rec.delegate = delegate;
  rec.delegate_name = profile->runtime;
  rec.profile = profile->name;
  rec.bundle = bundle_abs;
  rec.id = (char *) cli->id;
  egress = egress_entries (profile->egress, profile->n_egress);
  rec.egress = egress;
  ingress = xmalloc0 ((profile->n_ingress + 1) * sizeof (char *));
  for (size_t i = 0; i < profile->n_ingress; i++)
    ingress[i] = ingress_port_format (&profile->ingress[i]);
  rec.ingress = ingress;
  rec.log_group = profile->log_group;
  if (profile_has_domains (profile))
    {
      rec.dns_upstream = profile->dns_upstream;
      rec.dns_grace = (int) profile->dns_grace;
      rec.dns_rcode = profile->dns_denied_rcode;
    }
  if (profile->n_ask > 0)
    {
      ask = egress_entries (profile->ask, profile->n_ask);
      rec.ask = ask;
      rec.ask_timeout = (int) profile->ask_timeout;
      rec.ask_alert = profile->ask_alert;
    }
  rec.agent = agent;
  rec.engine = (char *) engine_name (cli, json_get (spec, "annotations"));
  rec.audit_path = policy->audit.path;
  rec.audit_key = policy->audit.key_path;
  rec.audit_fsync = policy->audit.fsync;
  if (str_eq (profile->runtime, "gvisor"))
    {
      runsc_root = state_runsc_root (state_base (), cli->root);
      fixed = gvisor_fixed_args (runsc_root, policy->gvisor_platform, policy->gvisor_network);
      rec.delegate_args = fixed;
      if (mkdir_p (runsc_root, 0700, &err) < 0)
        return fail (&err);
    }
  /* The record exists before the delegate runs, so a later delete finds
   * whatever a half-finished create left. */
  if (state_record_write (state_base (), cli->root, cli->id, &rec, &err) < 0)
    return fail (&err);
  if (budget_write_plan (state_dir, profile, cli->id, agent, json_get (spec, "annotations"), &err) < 0
      || (rec.dns_upstream && dnsguard_write_resolv_conf (state_dir, &rec, &err) < 0))
    {
      drop_container_state (cli);
      return fail (&err);
    }
  test_pause ("after-record");

  argv = record_argv (cli, &rec);
  if (delegate_spawn (argv, &status, &err) < 0)
    {
      drop_container_state (cli);
      return fail (&err);
    }
  if (!(WIFEXITED (status) && WEXITSTATUS (status) == 0))
    drop_container_state (cli);
  else if (str_eq (cli->command, "run") && !cli_command_flag (cli, "detach", "d", NULL))
    drop_container_state (cli);
  else if (fixed && gvisor_after_create (cli, &rec, &err) < 0)
    {
      drop_container_state (cli);
      return fail (&err);
    }
  test_pause ("after-delegate");
  delegate_exit_like (status);
}

/* The delegate for an existing container, or the default runtime. */
static int
lookup_delegate (const cli_t *cli, state_record_t *rec, corral_error_t *err)
{
  int r = 0;

  if (cli->id && cli_id_is_valid (cli->id))
    r = state_record_read (state_base (), cli->root, cli->id, rec, err);
  if (r < 0)
    return -1;
  if (r == 0)
    return delegate_resolve (cli->delegate ? cli->delegate : "runc", &rec->delegate, err);
  return 0;
}

/* Is the container unknown to its delegate?  Used after a failed delete:
 * runc and runsc answer `state` of an unknown container with status 1. */
static bool
delegate_lost_container (const cli_t *cli, const state_record_t *rec)
{
  char *args[] = { (char *) cli->id, NULL };
  cli_t q = cli_with_command (cli, "state", args, 1);
  int status;

  if (run_quietly (&q, rec, NULL, &status, NULL) < 0)
    return false;
  return WIFEXITED (status) && WEXITSTATUS (status) == 1;
}

static int
cmd_delete (const cli_t *cli)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_strv char **argv = NULL;
  cleanup_free char *state_dir = NULL;
  cleanup_json json_t *usage = NULL;
  state_record_t rec = { 0 };
  int status;

  if (lookup_delegate (cli, &rec, &err) < 0)
    return fail (&err);
  argv = record_argv (cli, &rec);
  /* Read while the cgroup is there: the delegate's delete removes it.  The
   * exit status is not ours to know (runc keeps none; the engine has it). */
  state_dir = state_container_dir (state_base (), cli->root, cli->id);
  usage = report_final_usage (rec.bundle, state_dir);
  if (delegate_spawn (argv, &status, &err) < 0)
    {
      state_record_release (&rec);
      return fail (&err);
    }
  if ((WIFEXITED (status) && WEXITSTATUS (status) == 0) || delegate_lost_container (cli, &rec))
    {
      cleanup_json json_t *fields = json_new_object ();
      json_set (fields, "forced", json_new_bool (cli_command_flag (cli, "force", "f", NULL)));
      json_set (fields, "usage", steal_pointer (&usage));
      audit_container_event (&rec, "stop", fields);
      drop_container_state (cli);
      /* runsc's root goes with its last container (ENOTEMPTY otherwise). */
      if (str_eq (rec.delegate_name, "gvisor"))
        {
          cleanup_free char *runsc_root = state_runsc_root (state_base (), cli->root);
          cleanup_free char *parent = xstrdup (runsc_root);
          (void) rmdir (runsc_root);
          *strrchr (parent, '/') = '\0';
          (void) rmdir (parent);
        }
    }
  state_record_release (&rec);
  delegate_exit_like (status);
}

/* exec: the new process gets the same confinement as the container's. */
static int
harden_exec (const cli_t *cli, const state_record_t *rec, corral_error_t *err)
{
  const char *process_file = NULL;
  cleanup_policy corral_policy_t *policy = NULL;
  cleanup_profile corral_profile_t *profile = NULL;
  cleanup_json json_t *spec = NULL;
  cleanup_json json_t *wrapper = NULL;
  cleanup_close int bfd = -1;
  cleanup_close int pfd = -1;
  cleanup_close int dfd = -1;
  cleanup_free char *data = NULL;
  cleanup_free char *dir = NULL;
  cleanup_free char *out = NULL;
  changes_t changes = { 0 };
  harden_ctx_t ctx = { 0 };
  json_t *process;
  size_t len;
  int r;

  if (rec->profile == NULL || rec->bundle == NULL)
    return 0; /* not created by corral (e.g. before install) */
  if (cli_command_flag (cli, "cap", "c", NULL))
    return corral_error_make (err, 0, "exec --cap is refused: corral containers never gain capabilities");

  /* runc applies --user, --additional-gids and --cap over whatever process
   * it runs, from a file or from config.json. */
  if (cli_command_flag (cli, "user", "u", NULL) || cli_command_flag (cli, "additional-gids", "g", NULL))
    return corral_error_make (err, 0,
                              "exec --user/--additional-gids is refused: processes run as the container's "
                              "user");
  if (!cli_command_flag (cli, "process", "p", &process_file) || process_file == NULL)
    return 0; /* runc takes the (hardened) process from config.json */

  policy = policy_load (policy_path (cli), err);
  if (policy == NULL)
    return -1;
  bfd = bundle_open (rec->bundle, err);
  if (bfd < 0)
    return -1;
  spec = bundle_load_spec (bfd, rec->bundle, NULL, err);
  if (spec == NULL)
    return -1;
  {
    const corral_profile_t *base = policy_find_profile (policy, rec->profile);
    if (base == NULL)
      return corral_error_make (err, 0, "the container's profile %s is no longer in the policy", rec->profile);
    profile = profile_with_annotations (base, json_get (spec, "annotations"), err);
    if (profile == NULL)
      return -1;
  }

  pfd = open (process_file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (pfd < 0)
    return corral_error_make (err, errno, "open exec process file `%s`", process_file);
  if (fd_read_all (pfd, SPEC_MAX_SIZE, process_file, &data, &len, err) < 0)
    return -1;
  process = spec_parse (data, len, process_file, err);
  if (process == NULL)
    return -1;
  wrapper = json_new_object ();
  json_set (wrapper, "process", process);
  ctx.profile = profile;
  harden_exec_user (wrapper, spec, &changes);
  r = harden_process_fields (process, &changes, err);
  if (r == 0)
    r = harden_privileges (wrapper, &ctx, &changes, err);
  if (r == 0)
    r = harden_environment (wrapper, &ctx, &changes, err);
  if (r == 0)
    harden_exec_home (wrapper, spec, &changes);
  for (size_t i = 0; i < changes.n; i++)
    log_info ("exec in %s: [%s] %s", cli->id, changes.items[i].step, changes.items[i].what);
  changes_release (&changes);
  if (r < 0)
    return -1;

  dir = xstrdup (process_file);
  *strrchr (dir, '/') = '\0';
  dfd = open (*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return corral_error_make (err, errno, "open directory of `%s`", process_file);
  out = json_serialize (json_get (wrapper, "process"), false);
  return file_replace_at (dfd, strrchr (process_file, '/') + 1, out, strlen (out), 0600, err);
}

/* A requested limit may only be at or below the profile's (0 = none). */
static int
check_limit (const char *what, int64_t requested, int64_t profile_limit, corral_error_t *err)
{
  if (profile_limit > 0 && (requested <= 0 || requested > profile_limit))
    return corral_error_make (err, 0, "update %s=%" PRId64 " would loosen the profile's limit of %" PRId64, what,
                              requested, profile_limit);
  return 0;
}

static int
check_update_json (const json_t *res, const corral_profile_t *p, corral_error_t *err)
{
  int64_t v, period = 0;

  if (!json_is_object (res))
    return corral_error_make (err, 0, "update: resources must be a JSON object");
  /* The device cgroup is corral's (harden_devices): no update reopens it. */
  if (json_len (json_get (res, "devices")) > 0)
    return corral_error_make (err, 0, "update: device cgroup changes are refused");
  if (json_int64 (json_get (json_get (res, "memory"), "limit"), &v) && check_limit ("memory", v, p->memory, err) < 0)
    return -1;
  if (json_int64 (json_get (json_get (res, "pids"), "limit"), &v) && check_limit ("pids", v, p->pids, err) < 0)
    return -1;
  if (json_int64 (json_get (json_get (res, "cpu"), "quota"), &v))
    {
      json_int64 (json_get (json_get (res, "cpu"), "period"), &period);
      if (period <= 0)
        period = (int64_t) p->cpu_period;
      if (p->cpu_quota > 0 && (v <= 0 || v * (int64_t) p->cpu_period > p->cpu_quota * period))
        return corral_error_make (err, 0, "update cpu quota %" PRId64 "/%" PRId64 " would loosen the profile's", v,
                                  period);
    }
  return 0;
}

static int
check_update_flags (const cli_t *cli, const corral_profile_t *p, corral_error_t *err)
{
  const char *v;

  if (cli_command_flag (cli, "memory", NULL, &v) && v
      && check_limit ("memory", strtoll (v, NULL, 10), p->memory, err) < 0)
    return -1;
  if (cli_command_flag (cli, "pids-limit", NULL, &v) && v
      && check_limit ("pids", strtoll (v, NULL, 10), p->pids, err) < 0)
    return -1;
  if ((cli_command_flag (cli, "cpu-quota", NULL, NULL) || cli_command_flag (cli, "cpu-period", NULL, NULL))
      && p->cpu_quota > 0)
    return corral_error_make (err, 0,
                              "update: change the CPU quota with --resources, where corral checks it "
                              "against the profile");
  return 0;
}

/* update may tighten a container's cgroup limits, never loosen them past
 * its profile.  Resources from stdin ("-") are read, checked, and handed to
 * the delegate from a file in the container's state directory. */
static int
harden_update (const cli_t *cli, const state_record_t *rec, const char **ret_resources_file, corral_error_t *err)
{
  cleanup_policy corral_policy_t *policy = NULL;
  cleanup_profile corral_profile_t *profile = NULL;
  cleanup_json json_t *spec = NULL;
  cleanup_json json_t *res = NULL;
  cleanup_close int bfd = -1;
  cleanup_close int fd = -1;
  cleanup_free char *data = NULL;
  const char *file = NULL;
  const corral_profile_t *base;
  size_t len;

  *ret_resources_file = NULL;
  if (rec->profile == NULL || rec->bundle == NULL)
    return 0;
  policy = policy_load (policy_path (cli), err);
  if (policy == NULL)
    return -1;
  base = policy_find_profile (policy, rec->profile);
  if (base == NULL)
    return corral_error_make (err, 0, "the container's profile %s is no longer in the policy", rec->profile);
  bfd = bundle_open (rec->bundle, err);
  if (bfd < 0)
    return -1;
  spec = bundle_load_spec (bfd, rec->bundle, NULL, err);
  if (spec == NULL)
    return -1;
  profile = profile_with_annotations (base, json_get (spec, "annotations"), err);
  if (profile == NULL || check_update_flags (cli, profile, err) < 0)
    return -1;
  if (!cli_command_flag (cli, "resources", "r", &file) || file == NULL)
    return 0;
  fd = str_eq (file, "-") ? dup (STDIN_FILENO) : open (file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return corral_error_make (err, errno, "open update resources `%s`", file);
  if (fd_read_all (fd, 1024 * 1024, "update resources", &data, &len, err) < 0)
    return -1;
  res = json_parse (data, len, err);
  if (res == NULL)
    return corral_error_wrap (err, "update resources");
  if (check_update_json (res, profile, err) < 0)
    return -1;
  if (str_eq (file, "-"))
    {
      cleanup_free char *dir = state_container_dir (state_base (), cli->root, cli->id);
      cleanup_close int dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      static char path[4096];

      if (dfd < 0 || file_replace_at (dfd, "update-resources.json", data, len, 0600, err) < 0)
        return dfd < 0 ? corral_error_make (err, errno, "open `%s`", dir) : -1;
      snprintf (path, sizeof (path), "%s/update-resources.json", dir);
      *ret_resources_file = path;
    }
  return 0;
}

/* Replace the value of --resources/-r in argv by file. */
static void
argv_replace_resources (char **argv, const char *file)
{
  for (size_t i = 0; argv[i]; i++)
    {
      if ((str_eq (argv[i], "--resources") || str_eq (argv[i], "-resources") || str_eq (argv[i], "-r")
           || str_eq (argv[i], "--r"))
          && argv[i + 1])
        {
          free (argv[i + 1]);
          argv[i + 1] = xstrdup (file);
          return;
        }
      if (str_has_prefix (argv[i], "--resources=") || str_has_prefix (argv[i], "-resources=")
          || str_has_prefix (argv[i], "-r="))
        {
          free (argv[i]);
          xasprintf (&argv[i], "--resources=%s", file);
          return;
        }
    }
}

/* The audit record of a start, kill or exec: what is about to happen,
 * written before the delegate runs it. */
static void
audit_passthrough (const cli_t *cli, const state_record_t *rec)
{
  cleanup_json json_t *fields = json_new_object ();
  const char *process_file = NULL;
  bool after_id = false;
  json_t *args;

  if (!str_eq (cli->command, "start") && !str_eq (cli->command, "kill") && !str_eq (cli->command, "exec"))
    return;
  args = json_new_array ();
  for (int i = 0; i < cli->n_command_args; i++)
    {
      if (after_id)
        json_push (args, json_new_string (cli->command_args[i]));
      else if (cli->command_args[i] == cli->id)
        after_id = true;
    }
  if (str_eq (cli->command, "kill"))
    json_set (fields, "signal", json_len (args) ? json_deep_copy (json_at (args, 0)) : json_new_string ("SIGTERM"));
  if (str_eq (cli->command, "exec") && cli_command_flag (cli, "process", "p", &process_file) && process_file)
    {
      cleanup_close int fd = open (process_file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
      cleanup_free char *data = NULL;
      cleanup_json json_t *process = NULL;
      size_t len;

      if (fd >= 0 && fd_read_all (fd, SPEC_MAX_SIZE, process_file, &data, &len, NULL) == 0
          && (process = json_parse (data, len, NULL)) != NULL)
        {
          json_free (args);
          args = json_get (process, "args") ? json_deep_copy (json_get (process, "args")) : json_new_array ();
          if (json_get (process, "user"))
            json_set (fields, "user", json_deep_copy (json_get (process, "user")));
        }
    }
  if (str_eq (cli->command, "exec"))
    json_set (fields, "argv", args);
  else
    json_free (args);
  audit_container_event (rec, cli->command, fields);
}

static bool
is_sigkill (const char *s)
{
  return s && (str_eq (s, "KILL") || str_eq (s, "SIGKILL") || str_eq (s, "9"));
}

/* runsc refuses to signal a paused sandbox ("cannot signal container … in
 * state paused"), so a container a budget froze could not be killed by its
 * engine (podman rm -f hung in "Stopping").  Killing the sandbox process
 * instead leaves runsc's state at "paused" for good (its delete then
 * panics on paused => stopped), so SIGKILL to a paused gVisor container
 * resumes it first: the agent gets the moment until runsc delivers the
 * signal (one runsc start, tens of ms), still confined.  Returns -1 on
 * error, else 0 and the caller sends the signal. */
static int
gvisor_kill_paused (const cli_t *cli, const state_record_t *rec, corral_error_t *err)
{
  char *args[] = { (char *) cli->id, NULL };
  cli_t q = cli_with_command (cli, "state", args, 1);
  cli_t r = cli_with_command (cli, "resume", args, 1);
  cleanup_free char *out = NULL;
  cleanup_json json_t *st = NULL;
  int status;

  if (!str_eq (rec->delegate_name, "gvisor") || cli->n_command_args < 2 || !is_sigkill (cli->command_args[1]))
    return 0;
  if (run_quietly (&q, rec, &out, &status, err) < 0)
    return -1;
  st = WIFEXITED (status) && WEXITSTATUS (status) == 0 ? json_parse (out, strlen (out), NULL) : NULL;
  if (!str_eq (json_get_string (st, "status"), "paused"))
    return 0;
  if (run_quietly (&r, rec, NULL, &status, err) < 0)
    return -1;
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    return corral_error_make (err, 0, "`runsc resume %s` failed: the paused sandbox cannot be signalled", cli->id);
  return 0;
}

/* start for a gVisor container whose DNS guard serves it on the wire side:
 * runsc takes the netns's interfaces over at start, so the guard's wire
 * comes up only then (hooks/wire.h).  If it cannot, the container is
 * killed: running without its resolver is not what was asked for.  Returns
 * -1 on error, else runsc start's exit status. */
static int
gvisor_start_wire (const cli_t *cli, const state_record_t *rec, char *const *argv, corral_error_t *err)
{
  char *args[] = { (char *) cli->id, (char *) "KILL", NULL };
  cli_t k = cli_with_command (cli, "kill", args, 2);
  wire_watch_t w;
  int status, ignored, r;
  bool wired;
  pid_t pid;

  if (container_pid (cli, rec, &pid, err) < 0 || wire_watch_start (pid, &w, err) < 0)
    return -1;
  r = delegate_spawn (argv, &status, err);
  wired = wire_watch_finish (&w, err) == 0;
  /* A start that failed is runsc's to report; the wire matters only for a
   * container that runs. */
  if (r == 0 && (wired || !WIFEXITED (status) || WEXITSTATUS (status) != 0))
    return WIFEXITED (status) ? WEXITSTATUS (status) : 1;
  (void) run_quietly (&k, rec, NULL, &ignored, NULL);
  return corral_error_wrap (err, "the DNS guard's wire for gVisor container %s; the container is killed", cli->id);
}

static int
cmd_passthrough (const cli_t *cli)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_strv char **argv = NULL;
  state_record_t rec = { 0 };

  if (lookup_delegate (cli, &rec, &err) < 0)
    return fail (&err);
  const char *resources_file = NULL;

  if ((str_eq (cli->command, "exec") && harden_exec (cli, &rec, &err) < 0)
      || (str_eq (cli->command, "update") && harden_update (cli, &rec, &resources_file, &err) < 0))
    {
      state_record_release (&rec);
      return fail (&err);
    }
  /* A restored checkpoint brings a bundle and process state corral never
   * hardened. */
  if (str_eq (cli->command, "restore"))
    {
      state_record_release (&rec);
      corral_error_make (&err, ENOTSUP, "restore is refused: corral cannot harden a checkpoint's bundle");
      return fail (&err);
    }
  audit_passthrough (cli, &rec);
  if (str_eq (cli->command, "kill") && gvisor_kill_paused (cli, &rec, &err) < 0)
    {
      state_record_release (&rec);
      return fail (&err);
    }
  argv = record_argv (cli, &rec);
  if (resources_file)
    argv_replace_resources (argv, resources_file);
  /* runsc checks the netns at start; the container's netns was checked at
   * create not to be the host's, the workaround only hides the probe. */
  if (str_eq (rec.delegate_name, "gvisor") && gvisor_command_checks_netns (cli->command)
      && strv_has_pair (rec.delegate_args, "--network", "sandbox") && gvisor_hide_proc_sys_net (&err) < 0)
    {
      state_record_release (&rec);
      return fail (&err);
    }
  if (str_eq (cli->command, "start") && dnsguard_on_wire (&rec) && dnsguard_needed (&rec))
    {
      int r = gvisor_start_wire (cli, &rec, argv, &err);
      state_record_release (&rec);
      return r < 0 ? fail (&err) : r;
    }
  state_record_release (&rec);
  delegate_exec (argv, &err);
  return fail (&err);
}

/* resume: an engine's resume (Podman unpause) of a container a budget froze
 * is refused; `corral resume ID --reason TEXT [--grant N]` is a human's. */
/* corral approve|deny ID NAME [--reason TEXT]: a human's word on an ask
 * name of a running container's DNS guard. */
static int
cmd_ask_decision (const cli_t *cli, bool approve)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_free char *dir = NULL;
  const char *id = NULL, *name = NULL, *reason = NULL;
  state_record_t rec = { 0 };
  int r;

  for (int i = 0; i < cli->n_command_args; i++)
    {
      const char *a = cli->command_args[i];
      if (str_eq (a, "--reason") && i + 1 < cli->n_command_args)
        reason = cli->command_args[++i];
      else if (a[0] != '-' && id == NULL)
        id = a;
      else if (a[0] != '-' && name == NULL)
        name = a;
      else
        id = NULL, i = cli->n_command_args;
    }
  if (id == NULL || name == NULL || !cli_id_is_valid (id))
    {
      corral_error_make (&err, 0, "usage: corral %s ID NAME [--reason TEXT]", cli->command);
      return fail (&err);
    }
  r = state_record_read (state_base (), cli->root, id, &rec, &err);
  if (r == 0)
    corral_error_make (&err, ENOENT, "container `%s` is not managed by corral under root `%s`", id,
                       cli->root ? cli->root : RUNC_DEFAULT_ROOT);
  if (r <= 0)
    return fail (&err);
  dir = state_container_dir (state_base (), cli->root, id);
  r = dnsguard_decide (dir, &rec, name, approve, reason, &err);
  state_record_release (&rec);
  if (r < 0)
    return fail (&err);
  printf ("%s %s for container %s\n", approve ? "approved" : "denied", name, id);
  return 0;
}

static int
cmd_resume (const cli_t *cli)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_free char *event = NULL;
  cleanup_free char *dir = NULL;
  const char *id = NULL, *reason = NULL;
  int64_t grant = 0;
  bool human = false;
  state_record_t rec = { 0 };
  int status;

  for (int i = 0; i < cli->n_command_args; i++)
    {
      const char *a = cli->command_args[i];
      char *end;

      if (str_eq (a, "--reason") && i + 1 < cli->n_command_args)
        reason = cli->command_args[++i], human = true;
      else if (str_eq (a, "--grant") && i + 1 < cli->n_command_args)
        {
          const char *v = cli->command_args[++i];
          errno = 0;
          grant = strtoll (v, &end, 10);
          if (errno || *end || grant <= 0)
            {
              corral_error_make (&err, 0, "resume --grant %s: expected a positive integer", v);
              return fail (&err);
            }
          human = true;
        }
      else if (a[0] != '-' && id == NULL)
        id = a;
    }
  if (!human)
    {
      if (cli->id && cli_id_is_valid (cli->id))
        {
          dir = state_container_dir (state_base (), cli->root, cli->id);
          if (budget_tripped (dir, &event) > 0)
            {
              corral_error_make (&err, 0,
                                 "container %s was frozen by corral's budget watchdog (%s): only a human resumes it, "
                                 "with `corral resume %s --reason TEXT [--grant N]`",
                                 cli->id, event ? event : "tripped", cli->id);
              return fail (&err);
            }
        }
      return cmd_passthrough (cli);
    }
  if (id == NULL || !cli_id_is_valid (id) || reason == NULL || *reason == '\0')
    {
      corral_error_make (&err, 0, "usage: corral resume ID --reason TEXT [--grant N]");
      return fail (&err);
    }
  {
    int r = state_record_read (state_base (), cli->root, id, &rec, &err);
    if (r == 0)
      corral_error_make (&err, ENOENT, "container `%s` is not managed by corral under root `%s`", id,
                         cli->root ? cli->root : RUNC_DEFAULT_ROOT);
    if (r <= 0)
      return fail (&err);
  }
  dir = state_container_dir (state_base (), cli->root, id);
  if (budget_prepare_resume (dir, id, reason, grant, &err) < 0)
    {
      state_record_release (&rec);
      return fail (&err);
    }
  {
    char *args[] = { (char *) id, NULL };
    cli_t q = cli_with_command (cli, "resume", args, 1);
    q.id = id;
    if (run_quietly (&q, &rec, NULL, &status, &err) < 0 || !WIFEXITED (status) || WEXITSTATUS (status) != 0)
      {
        state_record_release (&rec);
        if (err == NULL)
          corral_error_make (&err, 0, "`%s resume %s` failed", rec.delegate ? rec.delegate : "delegate", id);
        return fail (&err);
      }
  }
  state_record_release (&rec);
  if (grant > 0)
    printf ("container %s resumed (%s), granted %" PRId64 " more\n", id, reason, grant);
  else
    printf ("container %s resumed (%s)\n", id, reason);
  return 0;
}

static const char *usage_root; /* the engine's --root of `corral usage` */

static const char *
usage_state_dir (const char *id)
{
  static char *dir;
  struct stat st;

  free (dir);
  dir = NULL;
  if (!cli_id_is_valid (id))
    return NULL;
  dir = state_container_dir (state_base (), usage_root, id);
  return stat (dir, &st) == 0 ? dir : NULL;
}

static int
cmd_usage (const cli_t *cli)
{
  cleanup_error corral_error_t err = NULL;

  usage_root = cli->root;
  if (budget_cmd_usage (cli->n_command_args, cli->command_args, usage_state_dir, &err) < 0)
    return fail (&err);
  return 0;
}

/* corral budget report ID [--api-calls N] [--spend-usd X] [--tokens T]:
 * increments a gateway pushes. */
static int
cmd_budget_report (const cli_t *cli)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_free char *dir = NULL;
  cleanup_json json_t *fields = json_new_object ();
  static const struct
  {
    const char *flag;
    enum budget_kind kind;
  } flags[] = { { "--api-calls", BUDGET_API_CALLS }, { "--spend-usd", BUDGET_SPEND }, { "--tokens", BUDGET_TOKENS } };
  int64_t add[BUDGET_N_DAILY] = { 0 };
  const char *id = NULL;
  state_record_t rec = { 0 };
  bool any = false;
  char by[256];
  int r;

  for (int i = 1; i < cli->n_command_args; i++)
    {
      const char *a = cli->command_args[i];
      size_t f;

      for (f = 0; f < sizeof (flags) / sizeof (flags[0]) && !str_eq (a, flags[f].flag); f++)
        ;
      if (f < sizeof (flags) / sizeof (flags[0]) && i + 1 < cli->n_command_args)
        {
          const char *v = cli->command_args[++i];
          int64_t n = 0;
          char *end = NULL;

          if (flags[f].kind == BUDGET_SPEND ? budget_parse_usd (v, &n) < 0
                                            : (errno = 0, n = strtoll (v, &end, 10), errno || *end || n < 0))
            {
              corral_error_make (&err, 0, "budget report %s %s: expected a non-negative %s", a, v,
                                 flags[f].kind == BUDGET_SPEND ? "amount of dollars" : "integer");
              return fail (&err);
            }
          add[flags[f].kind] += n;
          json_set (fields, budget_name (flags[f].kind), json_new_string (v));
          any = true;
        }
      else if (a[0] != '-' && id == NULL)
        id = a;
      else
        id = NULL, i = cli->n_command_args;
    }
  if (id == NULL || !any || !cli_id_is_valid (id))
    {
      corral_error_make (&err, 0, "usage: corral budget report ID [--api-calls N] [--spend-usd X] [--tokens T]");
      return fail (&err);
    }
  r = state_record_read (state_base (), cli->root, id, &rec, &err);
  if (r == 0)
    corral_error_make (&err, ENOENT, "container `%s` is not managed by corral under root `%s`", id,
                       cli->root ? cli->root : RUNC_DEFAULT_ROOT);
  if (r <= 0)
    return fail (&err);
  dir = state_container_dir (state_base (), cli->root, id);
  json_set (fields, "by", json_new_string (audit_actor (by, sizeof (by))));
  r = budget_report (dir, id, add, &err);
  if (r == 0)
    r = audit_record_event (&rec, "budget-report", fields, &err);
  state_record_release (&rec);
  if (r < 0)
    return fail (&err);
  printf ("container %s: usage reported\n", id);
  return 0;
}

static int
cmd_budget (const cli_t *cli)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_policy corral_policy_t *policy = NULL;

  if (cli->n_command_args >= 1 && str_eq (cli->command_args[0], "report"))
    return cmd_budget_report (cli);
  policy = policy_load (policy_path (cli), &err);
  /* Resetting is recorded in the policy's audit log; no policy, no reset. */
  if (policy == NULL || budget_cmd (cli->n_command_args, cli->command_args, &policy->audit, &err) < 0)
    return fail (&err);
  return 0;
}

static int
cmd_explain (int argc, char **argv, const cli_t *cli)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_policy corral_policy_t *policy = NULL;
  cleanup_profile corral_profile_t *profile = NULL;
  cleanup_json json_t *spec = NULL;
  cleanup_close int dirfd = -1;
  const char *bundle = ".";
  cli_t local = *cli;
  bool json = false;
  changes_t changes = { 0 };
  cleanup_free char *out = NULL;

  for (int i = 0; i < argc; i++)
    {
      if ((str_eq (argv[i], "--bundle") || str_eq (argv[i], "-b")) && i + 1 < argc)
        bundle = argv[++i];
      else if (str_eq (argv[i], "--profile") && i + 1 < argc)
        local.profile = argv[++i];
      else if (str_eq (argv[i], "--json"))
        json = true;
      else
        {
          corral_error_make (&err, 0,
                             "explain: unknown argument `%s` (usage: corral explain --bundle DIR "
                             "[--profile P] [--json])",
                             argv[i]);
          return fail (&err);
        }
    }
  policy = policy_load (policy_path (cli), &err);
  if (policy == NULL)
    return fail (&err);
  dirfd = bundle_open (bundle, &err);
  if (dirfd < 0)
    return fail (&err);
  spec = bundle_load_spec (dirfd, bundle, NULL, &err);
  if (spec == NULL)
    return fail (&err);
  profile = profile_for_spec (&local, policy, spec, &err);
  if (profile == NULL || harden_bundle_spec (profile, cli->root, NULL, dirfd, spec, &changes, &err) < 0)
    {
      changes_release (&changes);
      return fail (&err);
    }
  out = explain_format (profile, &changes, json);
  fputs (out, stdout);
  changes_release (&changes);
  return 0;
}

static int
cmd_egress (const cli_t *cli)
{
  cleanup_error corral_error_t err = NULL;
  state_record_t rec = { 0 };
  cli_t q = *cli;
  pid_t pid;
  int r;

  if (cli->n_command_args != 2 || !str_eq (cli->command_args[0], "show"))
    {
      corral_error_make (&err, 0, "usage: corral [--root DIR] egress show ID");
      return fail (&err);
    }
  q.id = cli->command_args[1];
  r = state_record_read (state_base (), cli->root, q.id, &rec, &err);
  if (r == 0)
    corral_error_make (&err, ENOENT, "container `%s` is not running (not managed by corral under root `%s`)", q.id,
                       cli->root ? cli->root : RUNC_DEFAULT_ROOT);
  if (r <= 0)
    return fail (&err);
  r = container_pid (&q, &rec, &pid, &err);
  state_record_release (&rec);
  if (r < 0 || hook_enter_netns (pid, &err) < 0 || nft_show_egress (stdout, &err) < 0)
    return fail (&err);
  /* What the DNS guard put in the sets, and what it saw. */
  {
    cleanup_free char *dir = state_container_dir (state_base (), cli->root, q.id);
    printf ("set elements (from the DNS guard):\n");
    if (nftset_show (stdout, &err) < 0 || dnsguard_show_status (stdout, dir, &err) < 0)
      return fail (&err);
  }
  return 0;
}

static bool
take_json_flag (int *argc, char **argv)
{
  for (int i = 0; i < *argc; i++)
    if (str_eq (argv[i], "--json"))
      {
        memmove (&argv[i], &argv[i + 1], (size_t) (*argc - i - 1) * sizeof (char *));
        (*argc)--;
        return true;
      }
  return false;
}

static int
print_json_or_text (json_t *doc, bool json, char *(*text) (const json_t *) )
{
  cleanup_free char *out = json ? json_serialize (doc, true) : text (doc);

  printf ("%s%s", out, json ? "\n" : "");
  json_free (doc);
  return 0;
}

static int
cmd_ps (const cli_t *cli)
{
  cleanup_error corral_error_t err = NULL;
  int argc = cli->n_command_args;
  bool json = take_json_flag (&argc, cli->command_args);
  json_t *list;

  if (argc != 0)
    {
      corral_error_make (&err, 0, "usage: corral ps [--json]");
      return fail (&err);
    }
  list = report_list (state_base (), &err);
  if (list == NULL)
    return fail (&err);
  return print_json_or_text (list, json, report_list_text);
}

/* The record, effective spec and tightened profile of a corral container. */
static int
load_container (const cli_t *cli, const char *id, state_record_t *rec, json_t **ret_spec,
                corral_profile_t **ret_profile, corral_error_t *err)
{
  cleanup_policy corral_policy_t *policy = NULL;
  cleanup_close int bfd = -1;
  const corral_profile_t *base;
  int r = state_record_read (state_base (), cli->root, id, rec, err);

  if (r == 0)
    return corral_error_make (err, ENOENT, "container `%s` is not managed by corral under root `%s`", id,
                              cli->root ? cli->root : RUNC_DEFAULT_ROOT);
  if (r < 0)
    return -1;
  bfd = bundle_open (rec->bundle ? rec->bundle : "/nonexistent", err);
  if (bfd < 0 || (*ret_spec = bundle_load_spec (bfd, rec->bundle, NULL, err)) == NULL)
    return -1;
  policy = policy_load (policy_path (cli), err);
  if (policy == NULL)
    return -1;
  base = policy_find_profile (policy, rec->profile);
  if (base == NULL)
    return corral_error_make (err, 0, "the container's profile %s is no longer in the policy", rec->profile);
  *ret_profile = profile_with_annotations (base, json_get (*ret_spec, "annotations"), err);
  return *ret_profile ? 0 : -1;
}

static char *
profile_text (const json_t *doc)
{
  return json_serialize (doc, true);
}

static int
cmd_inspect (const cli_t *cli)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_json json_t *spec = NULL;
  cleanup_profile corral_profile_t *profile = NULL;
  state_record_t rec = { 0 };
  int argc = cli->n_command_args;
  bool json = take_json_flag (&argc, cli->command_args);
  json_t *doc;

  if (argc != 1)
    {
      corral_error_make (&err, 0, "usage: corral inspect ID [--json]");
      return fail (&err);
    }
  if (load_container (cli, cli->command_args[0], &rec, &spec, &profile, &err) < 0)
    {
      state_record_release (&rec);
      return fail (&err);
    }
  doc = report_profile (profile);
  json_set (doc, "id", json_new_string (cli->command_args[0]));
  json_set (doc, "bundle", json_new_string (rec.bundle));
  json_set (doc, "delegate", json_new_string (rec.delegate));
  state_record_release (&rec);
  (void) json;
  return print_json_or_text (doc, true, profile_text);
}

static int
cmd_checklist (const cli_t *cli)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_json json_t *spec = NULL;
  cleanup_profile corral_profile_t *profile = NULL;
  cleanup_close int bfd = -1;
  state_record_t rec = { 0 };
  int argc = cli->n_command_args;
  bool json = take_json_flag (&argc, cli->command_args);
  char **argv = cli->command_args;
  json_t *doc;

  if (argc == 2 && (str_eq (argv[0], "--bundle") || str_eq (argv[0], "-b")))
    {
      /* Any bundle, also one corral never saw (a plain runc container). */
      bfd = bundle_open (argv[1], &err);
      if (bfd < 0 || (spec = bundle_load_spec (bfd, argv[1], NULL, &err)) == NULL)
        return fail (&err);
      doc = report_checklist (spec, NULL, NULL);
    }
  else if (argc == 1)
    {
      if (load_container (cli, argv[0], &rec, &spec, &profile, &err) < 0)
        {
          state_record_release (&rec);
          return fail (&err);
        }
      doc = report_checklist (spec, profile, rec.delegate_name);
      state_record_release (&rec);
    }
  else
    {
      corral_error_make (&err, 0, "usage: corral checklist ID|--bundle DIR [--json]");
      return fail (&err);
    }
  return print_json_or_text (doc, json, report_checklist_text);
}

/* verify: the live log; --all: its rotated files, oldest first, then it;
 * or the files given, in chain order. */
static int
cmd_audit_verify (const audit_config_t *c, char **a, int n, corral_error_t *err)
{
  char **files = NULL;
  size_t n_files = 0;
  int r;

  if (n == 1 && str_eq (a[0], "--all"))
    {
      files = audit_rotated_files (c->path, &n_files);
      files = xrealloc (files, (n_files + 2) * sizeof (*files));
      files[n_files++] = xstrdup (c->path);
      files[n_files] = NULL;
      r = audit_verify_files (files, n_files, c->key_path, stdout, err);
      strv_free (files);
      return r;
    }
  if (n == 0)
    return audit_verify (c->path, c->key_path, stdout, err);
  return audit_verify_files (a, (size_t) n, c->key_path, stdout, err);
}

static int
cmd_audit (const cli_t *cli)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_policy corral_policy_t *policy = policy_load (policy_path (cli), &err);
  char **a = cli->command_args;
  int n = cli->n_command_args, r;
  audit_config_t defaults;
  const audit_config_t *c = &defaults;
  const char *container = NULL, *agent = NULL, *since = NULL, *format = "text", *file = NULL;

  /* A broken policy must not stop anyone from checking the log. */
  audit_config_defaults (&defaults);
  corral_error_release (&err);
  if (policy)
    c = &policy->audit;
  if (n >= 1 && str_eq (a[0], "verify"))
    {
      r = cmd_audit_verify (c, a + 1, n - 1, &err);
      audit_config_release (&defaults);
      return r < 0 ? fail (&err) : r;
    }
  if (n >= 1 && str_eq (a[0], "rotate") && (n == 1 || (n == 3 && str_eq (a[1], "--keep"))))
    {
      long keep = -1;
      char *end = NULL;

      if (n == 3)
        {
          errno = 0;
          keep = strtol (a[2], &end, 10);
        }
      if (n == 3 && (errno || end == a[2] || *end || keep < 0 || keep > INT_MAX))
        {
          audit_config_release (&defaults);
          corral_error_make (&err, 0, "audit rotate: --keep wants a number of files, not `%s`", a[2]);
          return fail (&err);
        }
      r = audit_rotate (c, (int) keep, stdout, &err);
      audit_config_release (&defaults);
      return r < 0 ? fail (&err) : 0;
    }
  if (n >= 1 && str_eq (a[0], "show"))
    {
      for (int i = 1; i < n; i++)
        {
          if (str_eq (a[i], "--container") && i + 1 < n)
            container = a[++i];
          else if (str_eq (a[i], "--agent") && i + 1 < n)
            agent = a[++i];
          else if (str_eq (a[i], "--since") && i + 1 < n)
            since = a[++i];
          else if (str_eq (a[i], "--file") && i + 1 < n)
            file = a[++i];
          else if (str_eq (a[i], "--json") || str_eq (a[i], "--csv"))
            format = a[i] + 2;
          else
            {
              audit_config_release (&defaults);
              corral_error_make (&err, 0, "audit show: unknown argument `%s`", a[i]);
              return fail (&err);
            }
        }
      r = audit_show (file ? file : c->path, container, agent, since, format, stdout, &err);
      audit_config_release (&defaults);
      return r < 0 ? fail (&err) : 0;
    }
  audit_config_release (&defaults);
  corral_error_make (&err, 0,
                     "usage: corral audit verify [--all | FILE...] | corral audit rotate [--keep N] | "
                     "corral audit show [--container ID] [--agent A] [--since RFC3339] [--file FILE] [--json|--csv]");
  return fail (&err);
}

static int
cmd_policy (int argc, char **argv)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_policy corral_policy_t *policy = NULL;
  cleanup_free char *summary = NULL;

  if (argc != 2 || !str_eq (argv[0], "check"))
    {
      corral_error_make (&err, 0, "usage: corral policy check FILE");
      return fail (&err);
    }
  policy = policy_load (argv[1], &err);
  if (policy == NULL)
    return fail (&err);
  summary = policy_summary (policy);
  printf ("%s: valid\n%s", argv[1], summary);
  return 0;
}

int
main (int argc, char **argv)
{
  cleanup_error corral_error_t err = NULL;
  cli_t cli = { 0 };
  int ret;

  if (cli_parse (argc, argv, &cli, &err) < 0)
    return fail (&err);
  log_init (cli.log, str_eq (cli.log_format, "json"), cli.debug);

  if (cli.version && cli.command == NULL)
    {
      printf ("corral version %s\nspec: 1.0.2\n", PACKAGE_VERSION);
      ret = 0;
    }
  else if (cli.command == NULL || cli.help || str_eq (cli.command, "help"))
    {
      usage (stdout);
      ret = cli.command == NULL && !cli.help ? 1 : 0;
    }
  else if (own_command_help (&cli))
    ret = 0;
  else if (str_eq (cli.command, "create") || str_eq (cli.command, "run"))
    ret = cmd_create (&cli);
  else if (str_eq (cli.command, "delete"))
    ret = cmd_delete (&cli);
  else if (str_eq (cli.command, "explain"))
    ret = cmd_explain (cli.n_command_args, cli.command_args, &cli);
  else if (str_eq (cli.command, "policy"))
    ret = cmd_policy (cli.n_command_args, cli.command_args);
  else if (str_eq (cli.command, "egress"))
    ret = cmd_egress (&cli);
  else if (str_eq (cli.command, "ps") && cli.n_command_args <= 1
           && (cli.n_command_args == 0 || str_eq (cli.command_args[0], "--json")))
    ret = cmd_ps (&cli);
  else if (str_eq (cli.command, "audit"))
    ret = cmd_audit (&cli);
  else if (str_eq (cli.command, "inspect"))
    ret = cmd_inspect (&cli);
  else if (str_eq (cli.command, "checklist"))
    ret = cmd_checklist (&cli);
  else if (str_eq (cli.command, "resume"))
    ret = cmd_resume (&cli);
  else if (str_eq (cli.command, "approve") || str_eq (cli.command, "deny"))
    ret = cmd_ask_decision (&cli, str_eq (cli.command, "approve"));
  else if (str_eq (cli.command, "budget"))
    ret = cmd_budget (&cli);
  else if (str_eq (cli.command, "usage"))
    ret = cmd_usage (&cli);
  else if (str_eq (cli.command, "hook"))
    ret = hook_main (cli.n_command_args, cli.command_args);
  else
    ret = cmd_passthrough (&cli);

  cli_release (&cli);
  log_close ();
  return ret;
}
