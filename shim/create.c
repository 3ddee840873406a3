/* corral: create/run (harden the bundle, record the delegate, hand over)
 * and delete. */
#include "config.h"

#include <fcntl.h>
#include <openssl/evp.h>

#include "hooks/dnsguard.h"
#include "hooks/hook.h"
#include "shim/binds.h"
#include "shim/budget_cli.h"
#include "shim/commands.h"
#include "shim/delegate.h"
#include "base/fs.h"
#include "shim/gvisor.h"
#include "base/log.h"
#include "shim/report.h"
#include "base/util.h"
#include "spec/bundle.h"

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
  cli_t q = shim_cli_with_command (cli, "delete", args, 2);
  cleanup_free char *state_dir = state_container_dir (shim_state_base (), cli->root, cli->id);
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
                                                                       : shim_container_pid (cli, rec, &pid, err))
          == 0
      && hook_install_egress (pid, rec, state_dir, per_device, err) == 0)
    return 0;
  (void) shim_run_quietly (&q, rec, NULL, &status, NULL);
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

/* Name-bound egress holds a flow in the kernel's connection tracking until
 * its name is checked; gVisor's own netstack sends the sandbox's flows past
 * it, so the check could not hold.  Refused rather than weakened. */
static int
check_bind_names (const corral_policy_t *policy, const corral_profile_t *profile, corral_error_t *err)
{
  if (!profile->bind_names || !profile_has_domains (profile) || !str_eq (profile->runtime, "gvisor")
      || !str_eq (policy->gvisor_network, "sandbox"))
    return 0;
  return corral_error_make (err, 0,
                            "profile %s: egress.bind_names cannot be enforced under gVisor's own netstack "
                            "(gvisor.network \"sandbox\"), whose flows bypass the kernel's connection tracking "
                            "where the name check holds them: set gvisor.network to \"host\", or run this agent "
                            "under runc",
                            profile->name);
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

  if (binds_release (shim_state_base (), cli->root, cli->id, &err) < 0
      || state_record_remove (shim_state_base (), cli->root, cli->id, &err) < 0)
    log_warning ("%s", err->msg);
}

int
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
  cleanup_changes changes_t changes = { 0 };
  const char *bundle = cli->bundle ? cli->bundle : ".";
  state_record_t rec = { 0 }; /* borrows every string from the locals above: never released */
  mode_t mode = 0644;
  int status;

  if (!state_id_is_valid (cli->id))
    {
      corral_error_make (&err, 0, "invalid container id `%s`", cli->id ? cli->id : "");
      return shim_fail (&err);
    }
  policy = policy_load (shim_policy_path (cli), &err);
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
      return shim_fail (&err);
    }
  dirfd = bundle_open (bundle, &err);
  if (dirfd < 0)
    return shim_fail (&err);
  spec = bundle_load_spec (dirfd, bundle, &mode, &err);
  if (spec == NULL)
    return shim_fail (&err);
  profile = shim_profile_for_spec (cli, policy, spec, &err);
  state_dir = state_container_dir (shim_state_base (), cli->root, cli->id);
  if (profile == NULL || check_bind_names (policy, profile, &err) < 0
      || shim_harden_bundle (profile, cli->root, state_dir, dirfd, spec, &changes, &err) < 0
      || delegate_for_profile (cli, policy, profile, &delegate, &err) < 0)
    return shim_fail (&err);
  if (check_tenant_source (cli, policy, &err) < 0
      || budget_identity (cli->tenant, policy->tenant_annotation, json_get (spec, "annotations"), &agent, &err) < 0
      || budget_check_create (profile, agent, &err) < 0)
    return shim_fail (&err);
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
    /* No record, no container (unless the policy chose fail-open). */
    if (audit_append (&policy->audit, &who, "create", fields, &err) < 0)
      {
        if (policy->audit.fail_closed)
          {
            corral_error_wrap (&err, "the audit log cannot be written, so the container is not started "
                                     "(audit.on_error is fail-closed)");
            return shim_fail (&err);
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
      return shim_fail (&err);
    }
  /* After the judge, before the delegate sees the spec: bind sources become
   * mounts of the objects judged (shim/binds.h). */
  test_pause ("before-stage");
  if (binds_stage (shim_state_base (), cli->root, cli->id, spec, &err) < 0)
    {
      drop_container_state (cli);
      return shim_fail (&err);
    }
  test_pause ("before-save");
  if (bundle_save_spec (dirfd, bundle, spec, mode, &err) < 0)
    {
      drop_container_state (cli);
      return shim_fail (&err);
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
  rec.bind_names = profile->bind_names && profile_has_domains (profile);
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
      runsc_root = state_runsc_root (shim_state_base (), cli->root);
      fixed = gvisor_fixed_args (runsc_root, policy->gvisor_platform, policy->gvisor_network);
      rec.delegate_args = fixed;
      if (mkdir_p (runsc_root, 0700, &err) < 0)
        {
          drop_container_state (cli);
          return shim_fail (&err);
        }
    }
  /* The record exists before the delegate runs, so a later delete finds
   * whatever a half-finished create left. */
  if (state_record_write (shim_state_base (), cli->root, cli->id, &rec, &err) < 0)
    {
      drop_container_state (cli);
      return shim_fail (&err);
    }
  if (budget_write_plan (state_dir, profile, cli->id, agent, json_get (spec, "annotations"), &err) < 0
      || (rec.dns_upstream && dnsguard_write_resolv_conf (state_dir, &rec, &err) < 0))
    {
      drop_container_state (cli);
      return shim_fail (&err);
    }
  test_pause ("after-record");

  argv = shim_record_argv (cli, &rec);
  if (delegate_spawn (argv, &status, &err) < 0)
    {
      drop_container_state (cli);
      return shim_fail (&err);
    }
  if (!(WIFEXITED (status) && WEXITSTATUS (status) == 0))
    drop_container_state (cli);
  else if (str_eq (cli->command, "run") && !cli_command_flag (cli, "detach", "d", NULL))
    drop_container_state (cli);
  else if (fixed && gvisor_after_create (cli, &rec, &err) < 0)
    {
      drop_container_state (cli);
      return shim_fail (&err);
    }
  test_pause ("after-delegate");
  delegate_exit_like (status);
}

/* Is the container unknown to its delegate?  Used after a failed delete:
 * runc and runsc answer `state` of an unknown container with status 1. */
static bool
delegate_lost_container (const cli_t *cli, const state_record_t *rec)
{
  char *args[] = { (char *) cli->id, NULL };
  cli_t q = shim_cli_with_command (cli, "state", args, 1);
  int status;

  if (shim_run_quietly (&q, rec, NULL, &status, NULL) < 0)
    return false;
  return WIFEXITED (status) && WEXITSTATUS (status) == 1;
}

int
cmd_delete (const cli_t *cli)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_strv char **argv = NULL;
  cleanup_free char *state_dir = NULL;
  cleanup_json json_t *usage = NULL;
  cleanup_record state_record_t rec = { 0 };
  int status;

  if (shim_lookup_delegate (cli, &rec, &err) < 0)
    return shim_fail (&err);
  argv = shim_record_argv (cli, &rec);
  /* Read while the cgroup is there: the delegate's delete removes it.  The
   * exit status is not ours to know (runc keeps none; the engine has it). */
  state_dir = state_container_dir (shim_state_base (), cli->root, cli->id);
  usage = report_final_usage (rec.bundle, state_dir);
  if (delegate_spawn (argv, &status, &err) < 0)
    return shim_fail (&err);
  if ((WIFEXITED (status) && WEXITSTATUS (status) == 0) || delegate_lost_container (cli, &rec))
    {
      cleanup_json json_t *fields = json_new_object ();
      json_set (fields, "forced", json_new_bool (cli_command_flag (cli, "force", "f", NULL)));
      json_set (fields, "usage", steal_pointer (&usage));
      shim_audit_event (&rec, "stop", fields);
      drop_container_state (cli);
      /* runsc's root goes with its last container (ENOTEMPTY otherwise). */
      if (str_eq (rec.delegate_name, "gvisor"))
        {
          cleanup_free char *runsc_root = state_runsc_root (shim_state_base (), cli->root);
          cleanup_free char *parent = xstrdup (runsc_root);
          (void) rmdir (runsc_root);
          *strrchr (parent, '/') = '\0';
          (void) rmdir (parent);
        }
    }
  delegate_exit_like (status);
}
