/* corral: the runtime commands handed to the container's delegate, with
 * what corral checks first: exec and update hardened, start/kill/exec
 * audited, gVisor's quirks worked around. */
#include "config.h"

#include <fcntl.h>
#include <openssl/evp.h>

#include "hooks/dnsguard.h"
#include "hooks/wire.h"
#include "shim/commands.h"
#include "shim/delegate.h"
#include "base/fs.h"
#include "shim/gvisor.h"
#include "base/log.h"
#include "base/util.h"
#include "spec/bundle.h"

/* exec: the new process gets the same confinement as the container's. */
static int
harden_exec (const cli_t *cli, const state_record_t *rec, corral_error_t *err)
{
  const char *process_file = NULL;
  cleanup_profile corral_profile_t *profile = NULL;
  cleanup_json json_t *spec = NULL;
  cleanup_json json_t *wrapper = NULL;
  cleanup_close int pfd = -1;
  cleanup_close int dfd = -1;
  cleanup_free char *data = NULL;
  cleanup_free char *dir = NULL;
  cleanup_free char *out = NULL;
  cleanup_changes changes_t changes = { 0 };
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

  if (shim_container_spec (cli, rec, &spec, &profile, err) < 0)
    return -1;

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
  cleanup_profile corral_profile_t *profile = NULL;
  cleanup_json json_t *spec = NULL;
  cleanup_json json_t *res = NULL;
  cleanup_close int fd = -1;
  cleanup_free char *data = NULL;
  const char *file = NULL;
  size_t len;

  *ret_resources_file = NULL;
  if (rec->profile == NULL || rec->bundle == NULL)
    return 0;
  if (shim_container_spec (cli, rec, &spec, &profile, err) < 0 || check_update_flags (cli, profile, err) < 0)
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
      cleanup_free char *dir = state_container_dir (shim_state_base (), cli->root, cli->id);
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
  shim_audit_event (rec, cli->command, fields);
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
  cli_t q = shim_cli_with_command (cli, "state", args, 1);
  cli_t r = shim_cli_with_command (cli, "resume", args, 1);
  cleanup_free char *out = NULL;
  cleanup_json json_t *st = NULL;
  int status;

  if (!str_eq (rec->delegate_name, "gvisor") || cli->n_command_args < 2 || !is_sigkill (cli->command_args[1]))
    return 0;
  if (shim_run_quietly (&q, rec, &out, &status, err) < 0)
    return -1;
  st = WIFEXITED (status) && WEXITSTATUS (status) == 0 ? json_parse (out, strlen (out), NULL) : NULL;
  if (!str_eq (json_get_string (st, "status"), "paused"))
    return 0;
  if (shim_run_quietly (&r, rec, NULL, &status, err) < 0)
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
  cli_t k = shim_cli_with_command (cli, "kill", args, 2);
  wire_watch_t w;
  int status, ignored, r;
  bool wired;
  pid_t pid;

  if (shim_container_pid (cli, rec, &pid, err) < 0 || wire_watch_start (pid, &w, err) < 0)
    return -1;
  r = delegate_spawn (argv, &status, err);
  wired = wire_watch_finish (&w, err) == 0;
  /* A start that failed is runsc's to report; the wire matters only for a
   * container that runs. */
  if (r == 0 && (wired || !WIFEXITED (status) || WEXITSTATUS (status) != 0))
    return WIFEXITED (status) ? WEXITSTATUS (status) : 1;
  (void) shim_run_quietly (&k, rec, NULL, &ignored, NULL);
  return corral_error_wrap (err, "the DNS guard's wire for gVisor container %s; the container is killed", cli->id);
}

int
cmd_passthrough (const cli_t *cli)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_strv char **argv = NULL;
  cleanup_record state_record_t rec = { 0 };

  if (shim_lookup_delegate (cli, &rec, &err) < 0)
    return shim_fail (&err);
  const char *resources_file = NULL;

  if ((str_eq (cli->command, "exec") && harden_exec (cli, &rec, &err) < 0)
      || (str_eq (cli->command, "update") && harden_update (cli, &rec, &resources_file, &err) < 0))
    return shim_fail (&err);
  /* A restored checkpoint brings a bundle and process state corral never
   * hardened. */
  if (str_eq (cli->command, "restore"))
    {
      corral_error_make (&err, ENOTSUP, "restore is refused: corral cannot harden a checkpoint's bundle");
      return shim_fail (&err);
    }
  audit_passthrough (cli, &rec);
  if (str_eq (cli->command, "kill") && gvisor_kill_paused (cli, &rec, &err) < 0)
    return shim_fail (&err);
  argv = shim_record_argv (cli, &rec);
  if (resources_file)
    argv_replace_resources (argv, resources_file);
  /* runsc checks the netns at start; the container's netns was checked at
   * create not to be the host's, the workaround only hides the probe. */
  if (str_eq (rec.delegate_name, "gvisor") && gvisor_command_checks_netns (cli->command)
      && strv_has_pair (rec.delegate_args, "--network", "sandbox") && gvisor_hide_proc_sys_net (&err) < 0)
    return shim_fail (&err);
  if (str_eq (cli->command, "start") && dnsguard_on_wire (&rec) && dnsguard_needed (&rec))
    {
      int r = gvisor_start_wire (cli, &rec, argv, &err);
      return r < 0 ? shim_fail (&err) : r;
    }
  delegate_exec (argv, &err);
  return shim_fail (&err);
}
