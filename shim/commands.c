/* corral: what the commands share: where state and policy live, failing
 * in runc's log format, running the delegate on a container, hardening a
 * bundle's spec (create and explain). */
#include "config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "hooks/dnsguard.h"
#include "shim/budget_cli.h"
#include "shim/delegate.h"
#include "shim/facts.h"
#include "base/fs.h"
#include "shim/gvisor.h"
#include "base/log.h"
#include "base/util.h"
#include "spec/bundle.h"
#include "spec/dns.h"

#ifndef CORRAL_POLICY_PATH
#define CORRAL_POLICY_PATH "/etc/corral/policy.json"
#endif

const char *
shim_state_base (void)
{
  /* Only the test suite moves the state directory. */
  const char *b = getenv ("CORRAL_STATE_DIR");
  return b && *b == '/' ? b : CORRAL_STATE_BASE;
}

const char *
shim_policy_path (const cli_t *cli)
{
  const char *env = getenv ("CORRAL_POLICY");
  if (cli->policy)
    return cli->policy;
  return env && *env ? env : CORRAL_POLICY_PATH;
}

int
shim_fail (corral_error_t *err)
{
  log_error ("%s", (*err)->msg);
  corral_error_release (err);
  return 1;
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

/* A profile with names and no dns.upstream asks the host's resolver: the
 * first nameserver of /etc/resolv.conf (the test suite points
 * CORRAL_RESOLV_CONF at its own).  None there is an error, never a guard
 * without an upstream. */
static int
default_dns_upstream (corral_profile_t *p, corral_error_t *err)
{
  const char *env = getenv ("CORRAL_RESOLV_CONF");
  const char *path = env && *env == '/' ? env : "/etc/resolv.conf";
  cleanup_close int fd = -1;
  cleanup_free char *data = NULL;
  size_t len;

  if (p->dns_upstream || !profile_has_domains (p))
    return 0;
  fd = open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return corral_error_make (err, errno, "profile %s has names and no dns.upstream, and the host's `%s`", p->name,
                              path);
  if (fd_read_all (fd, 64 * 1024, path, &data, &len, err) < 0)
    return -1;
  if (dns_resolv_conf_nameserver (data, len, &p->dns_upstream) == 0)
    return corral_error_make (err, 0,
                              "profile %s has names and no dns.upstream, and the host's `%s` names no usable "
                              "nameserver: set dns.upstream in the policy",
                              p->name, path);
  return 0;
}

/* Load policy, pick and tighten the profile for spec. */
corral_profile_t *
shim_profile_for_spec (const cli_t *cli, const corral_policy_t *policy, const json_t *spec, corral_error_t *err)
{
  const json_t *ann = json_get (spec, "annotations");
  const corral_profile_t *base = policy_select_profile (policy, cli->profile, ann, err);
  cleanup_profile corral_profile_t *p = base ? profile_with_annotations (base, ann, err) : NULL;

  if (p == NULL || default_dns_upstream (p, err) < 0)
    return NULL;
  return steal_pointer (&p);
}

/* state_dir is where the injected hooks find their plan (NULL: explain).
 * bundle_fd anchors the facts read from the image (its HOME's owner). */
int
shim_harden_bundle (const corral_profile_t *profile, const char *engine_root, const char *state_dir, int bundle_fd,
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

/* argv for a command to the container's recorded delegate. */
char **
shim_record_argv (const cli_t *cli, const state_record_t *rec)
{
  if (str_eq (rec->delegate_name, "gvisor"))
    return gvisor_argv (cli, rec->delegate, rec->delegate_args);
  return cli_delegate_argv (cli, rec->delegate, NULL);
}

/* The same invocation with another command on the same container. */
cli_t
shim_cli_with_command (const cli_t *cli, const char *command, char **args, int n_args)
{
  cli_t q = *cli;
  q.command = command;
  q.command_args = args;
  q.n_command_args = n_args;
  return q;
}

/* Run a command on the container quietly; its stdout into *ret_out if asked. */
int
shim_run_quietly (const cli_t *q, const state_record_t *rec, char **ret_out, int *ret_status, corral_error_t *err)
{
  cleanup_strv char **argv = shim_record_argv (q, rec);
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
int
shim_container_pid (const cli_t *cli, const state_record_t *rec, pid_t *ret, corral_error_t *err)
{
  char *args[] = { (char *) cli->id, NULL };
  cli_t q = shim_cli_with_command (cli, "state", args, 1);
  cleanup_free char *out = NULL;
  int status;

  if (shim_run_quietly (&q, rec, &out, &status, err) < 0)
    return -1;
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    return corral_error_make (err, 0, "`%s state %s` failed: is the container running?", rec->delegate, cli->id);
  return delegate_state_pid (cli->id, out, ret, err);
}

/* The delegate for an existing container, or the default runtime. */
int
shim_lookup_delegate (const cli_t *cli, state_record_t *rec, corral_error_t *err)
{
  int r = 0;

  if (cli->id && state_id_is_valid (cli->id))
    r = state_record_read (shim_state_base (), cli->root, cli->id, rec, err);
  if (r < 0)
    return -1;
  if (r == 0)
    return delegate_resolve (cli->delegate ? cli->delegate : "runc", &rec->delegate, err);
  return 0;
}

/* A record for an existing container, where its record says, best effort:
 * the container already runs under the policy it was created with. */
void
shim_audit_event (const state_record_t *rec, const char *event, const json_t *fields)
{
  cleanup_error corral_error_t err = NULL;

  if (audit_record_event (rec, event, fields, &err) < 0)
    log_error ("audit record `%s` for %s not written: %s", event, rec->id ? rec->id : "?", err->msg);
}

bool
shim_take_json_flag (int *argc, char **argv)
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

int
shim_print_json_or_text (json_t *doc, bool json, char *(*text) (const json_t *) )
{
  cleanup_free char *out = json ? json_serialize (doc, true) : text (doc);

  printf ("%s%s", out, json ? "\n" : "");
  json_free (doc);
  return 0;
}

int
shim_read_record (const cli_t *cli, const char *id, state_record_t *rec, corral_error_t *err)
{
  int r = state_record_read (shim_state_base (), cli->root, id, rec, err);

  if (r == 0)
    return corral_error_make (err, ENOENT, "container `%s` is not managed by corral under root `%s`", id,
                              cli->root ? cli->root : RUNC_DEFAULT_ROOT);
  return r < 0 ? -1 : 0;
}

int
shim_container_spec (const cli_t *cli, const state_record_t *rec, json_t **ret_spec, corral_profile_t **ret_profile,
                     corral_error_t *err)
{
  cleanup_policy corral_policy_t *policy = NULL;
  cleanup_json json_t *spec = NULL;
  cleanup_close int bfd = -1;
  const corral_profile_t *base;
  corral_profile_t *profile;

  bfd = bundle_open (rec->bundle ? rec->bundle : "/nonexistent", err);
  if (bfd < 0 || (spec = bundle_load_spec (bfd, rec->bundle, NULL, err)) == NULL)
    return -1;
  policy = policy_load (shim_policy_path (cli), err);
  if (policy == NULL)
    return -1;
  base = policy_find_profile (policy, rec->profile);
  if (base == NULL)
    return corral_error_make (err, 0, "the container's profile %s is no longer in the policy", rec->profile);
  profile = profile_with_annotations (base, json_get (spec, "annotations"), err);
  if (profile == NULL)
    return -1;
  *ret_spec = steal_pointer (&spec);
  *ret_profile = profile;
  return 0;
}
