/* corral: unit tests of shim/cli.[ch] on command lines captured from
 * podman (conmon), containerd's runc shim and dockerd. */
#include "config.h"

#include <stdio.h>

#include "services/state.h"
#include "shim/cli.h"
#include "base/util.h"
#include "tests/unit/tap.h"

#define B_PODMAN "/var/lib/containers/storage/overlay-containers/61befb1e2e39/userdata"
#define ID_PODMAN "61befb1e2e39c5d6f4faed0fa8129f13fe4257d01d9e535c60487d8cac769f43"
#define ROOT_CTR "/run/containerd/runc/default"
#define LOG_CTR "/run/containerd/io.containerd.runtime.v2.task/default/web/log.json"
#define B_CTR "/run/containerd/io.containerd.runtime.v2.task/default/web"

static int
argv_len (char **argv)
{
  int n = 0;
  while (argv[n])
    n++;
  return n;
}

/* Parse argv (NULL-terminated); on failure *ret is left as it was. */
static int
parse (char **argv, cli_t *ret, corral_error_t *err)
{
  return cli_parse (argv_len (argv), argv, ret, err);
}

/* Compare a NULL-terminated vector with the expected words. */
static void
is_strv (char **got, const char *const *want, const char *what)
{
  size_t n = strv_len (got), m = 0;
  bool same;

  while (want[m])
    m++;
  same = n == m;
  for (size_t i = 0; same && i < n; i++)
    same = str_eq (got[i], want[i]);
  ok (same, "%s", what);
  if (!same)
    for (size_t i = 0; i < n || i < m; i++)
      diag ("  [%zu] got %s, expected %s", i, i < n ? got[i] : "(end)", i < m ? want[i] : "(end)");
}

/* Parsing must fail with a message containing needle and leave *ret alone. */
static void
parse_fails (char **argv, const char *needle, const char *what)
{
  cleanup_error corral_error_t err = NULL;
  cli_t cli = { .command = "untouched" };

  ok (parse (argv, &cli, &err) < 0, "%s is an error", what);
  like (err ? err->msg : NULL, needle, "%s: message says \"%s\"", what, needle);
  is_str (cli.command, "untouched", "%s: the result is not clobbered", what);
}

static void
test_podman_create (void)
{
  char *argv[] = { "corral",           "create",
                   "--bundle",         B_PODMAN,
                   "--pid-file",       "/run/ctr/" ID_PODMAN "/pidfile",
                   "--console-socket", "/tmp/conmon-term.ABC123",
                   ID_PODMAN,          NULL };
  cleanup_error corral_error_t err = NULL;
  cleanup_cli cli_t cli = { 0 };
  static const char *const none[] = { NULL };

  if (!ok (parse (argv, &cli, &err) == 0, "podman create parses"))
    return;
  is_str (cli.command, "create", "podman create: command");
  is_str (cli.id, ID_PODMAN, "podman create: id is the last positional argument");
  is_str (cli.bundle, B_PODMAN, "podman create: bundle from --bundle");
  is_str (cli.root, NULL, "podman create: no --root (runc's default applies)");
  is_strv (cli.global_args, none, "podman create: no global flags");
  is_int (cli.n_command_args, 7, "podman create: all 7 words after the command are kept");
  is_str (cli.command_args[0], "--bundle", "podman create: command arguments start after the command");
}

static void
test_podman_json_log (void)
{
  char *argv[]
      = { "corral", "--log-format=json", "--log", B_PODMAN "/oci-log", "create", "--bundle=" B_PODMAN, "--pid-file",
          "/p",     ID_PODMAN,           NULL };
  static const char *const globals[] = { "--log-format=json", "--log", B_PODMAN "/oci-log", NULL };
  cleanup_error corral_error_t err = NULL;
  cleanup_cli cli_t cli = { 0 };

  if (!ok (parse (argv, &cli, &err) == 0, "podman create with a JSON log parses"))
    return;
  is_str (cli.log_format, "json", "--log-format=json is read");
  is_str (cli.log, B_PODMAN "/oci-log", "--log value is read");
  is_strv (cli.global_args, globals, "global flags are kept verbatim and in order");
  is_str (cli.bundle, B_PODMAN, "--bundle=B (inline value) is read");
  is_str (cli.id, ID_PODMAN, "id follows the inline --bundle");
}

static void
test_containerd_create (void)
{
  char *argv[]
      = { "corral", "--root",   ROOT_CTR, "--log",      LOG_CTR,           "--log-format", "json", "--systemd-cgroup",
          "create", "--bundle", B_CTR,    "--pid-file", B_CTR "/init.pid", "web",          NULL };
  static const char *const globals[]
      = { "--root", ROOT_CTR, "--log", LOG_CTR, "--log-format", "json", "--systemd-cgroup", NULL };
  cleanup_error corral_error_t err = NULL;
  cleanup_cli cli_t cli = { 0 };

  if (!ok (parse (argv, &cli, &err) == 0, "containerd create parses"))
    return;
  is_str (cli.root, ROOT_CTR, "containerd: --root");
  is_str (cli.log, LOG_CTR, "containerd: --log");
  is_str (cli.log_format, "json", "containerd: --log-format json");
  is_strv (cli.global_args, globals, "containerd: every global flag is passed on, in order");
  is_str (cli.command, "create", "containerd: command");
  is_str (cli.bundle, B_CTR, "containerd: bundle");
  is_str (cli.id, "web", "containerd: id");
}

static void
test_exec (void)
{
  char *ctr[] = { "corral",   "--root",     ROOT_CTR,          "exec", "--process", "/tmp/runc-process1",
                  "--detach", "--pid-file", "/run/x/exec.pid", "web",  NULL };
  char *podman[] = { "corral",   "exec",  "--pid-file",       "/p",        "--process", "/tmp/proc.json",
                     "--detach", "--tty", "--console-socket", "/tmp/sock", ID_PODMAN,   NULL };
  char *short_flags[]
      = { "corral", "exec", "-p", "/tmp/p.json", "-d", "-e", "A=1", "-u", "1000", ID_PODMAN, "sh", NULL };
  cleanup_error corral_error_t err = NULL;
  cleanup_cli cli_t c1 = { 0 };
  cleanup_cli cli_t c2 = { 0 };
  cleanup_cli cli_t c3 = { 0 };

  ok (parse (ctr, &c1, &err) == 0, "containerd exec parses");
  is_str (c1.id, "web", "exec: --process and --pid-file values are not taken for the id");
  is_str (c1.bundle, NULL, "exec: no bundle");
  ok (parse (podman, &c2, &err) == 0, "podman exec --tty parses");
  is_str (c2.id, ID_PODMAN, "podman exec: --tty is a boolean, --console-socket takes a value");
  ok (parse (short_flags, &c3, &err) == 0, "exec with short flags parses");
  is_str (c3.id, ID_PODMAN, "exec -p -d -e -u: the id, not a flag value or the command");
}

static void
test_simple_commands (void)
{
  struct
  {
    char *argv[8];
    const char *id;
    const char *what;
  } cases[] = {
    { { "corral", "kill", "ctr1", "15", NULL }, "ctr1", "kill ID 15" },
    { { "corral", "kill", "--all", "ctr1", "KILL", NULL }, "ctr1", "kill --all ID KILL" },
    { { "corral", "delete", "--force", "ctr1", NULL }, "ctr1", "delete --force ID" },
    { { "corral", "delete", "-f", "ctr1", NULL }, "ctr1", "delete -f ID (-f does not swallow the id)" },
    { { "corral", "ps", "--format", "json", "ctr1", NULL }, "ctr1", "ps --format json ID" },
    { { "corral", "ps", "-f", "json", "ctr1", NULL }, "ctr1", "ps -f json ID (-f takes a value here)" },
    { { "corral", "ps", "--format=json", "ctr1", NULL }, "ctr1", "ps --format=json ID" },
    { { "corral", "update", "--resources", "-", "ctr1", NULL }, "ctr1", "update --resources - ID (stdin)" },
    { { "corral", "update", "--resources=/tmp/r.json", "ctr1", NULL }, "ctr1", "update --resources=FILE ID" },
    { { "corral", "update", "-r", "-", "--pids-limit", "10", "ctr1", NULL }, "ctr1", "update -r - --pids-limit 10" },
    { { "corral", "start", "ctr1", NULL }, "ctr1", "start ID" },
    { { "corral", "state", "ctr1", NULL }, "ctr1", "state ID" },
    { { "corral", "events", "--interval", "5s", "ctr1", NULL }, "ctr1", "events --interval 5s ID" },
    { { "corral", "kill", "--", "ctr1", "9", NULL }, "ctr1", "kill -- ID 9" },
    { { "corral", "list", NULL }, NULL, "list (no id)" },
  };

  for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++)
    {
      cleanup_error corral_error_t err = NULL;
      cleanup_cli cli_t cli = { 0 };
      int r = parse (cases[i].argv, &cli, &err);

      ok (r == 0, "%s: parses", cases[i].what);
      is_str (cli.id, cases[i].id, "%s: id", cases[i].what);
      is_str (cli.command, cases[i].argv[1], "%s: command", cases[i].what);
    }
}

static void
test_root_forms (void)
{
  char *eq[] = { "corral", "--root=/r/eq", "state", "x", NULL };
  char *single[] = { "corral", "-root", "/r/single", "state", "x", NULL };
  char *single_eq[] = { "corral", "-root=/r/single-eq", "state", "x", NULL };
  static const char *const want_eq[] = { "--root=/r/eq", NULL };
  static const char *const want_single[] = { "-root", "/r/single", NULL };
  cleanup_error corral_error_t err = NULL;
  cleanup_cli cli_t c1 = { 0 };
  cleanup_cli cli_t c2 = { 0 };
  cleanup_cli cli_t c3 = { 0 };

  ok (parse (eq, &c1, &err) == 0 && str_eq (c1.root, "/r/eq"), "--root=X sets the root");
  is_strv (c1.global_args, want_eq, "--root=X is passed on as one word");
  ok (parse (single, &c2, &err) == 0 && str_eq (c2.root, "/r/single"), "-root X (Go single dash) sets the root");
  is_strv (c2.global_args, want_single, "-root X is passed on as written");
  ok (parse (single_eq, &c3, &err) == 0 && str_eq (c3.root, "/r/single-eq"), "-root=X sets the root");
  is_str (c3.id, "x", "-root=X: the id is still found");
}

static void
test_own_flags (void)
{
  char *argv[] = { "corral",  "--policy", "/etc/corral/test.json",
                   "--root",  "/run/r",   "--delegate=/usr/sbin/runc",
                   "--debug", "-profile", "offline",
                   "start",   "ctr1",     NULL };
  static const char *const globals[] = { "--root", "/run/r", "--debug", NULL };
  static const char *const delegated[] = { "/usr/sbin/runc", "--root", "/run/r", "--debug", "start", "ctr1", NULL };
  static const char *const extra[] = { "--root", "/run/corral-runsc", NULL };
  static const char *const with_extra[]
      = { "runsc", "--root", "/run/r", "--debug", "--root", "/run/corral-runsc", "start", "ctr1", NULL };
  cleanup_error corral_error_t err = NULL;
  cleanup_cli cli_t cli = { 0 };
  cleanup_strv char **d1 = NULL;
  cleanup_strv char **d2 = NULL;

  if (!ok (parse (argv, &cli, &err) == 0, "own flags mixed with runc's parse"))
    return;
  is_str (cli.policy, "/etc/corral/test.json", "--policy value is recorded");
  is_str (cli.delegate, "/usr/sbin/runc", "--delegate=V value is recorded");
  is_str (cli.profile, "offline", "-profile V value is recorded");
  ok (cli.debug, "--debug is recorded");
  is_strv (cli.global_args, globals, "own flags and their values are removed from global_args");
  d1 = cli_delegate_argv (&cli, "/usr/sbin/runc", NULL);
  is_strv (d1, delegated, "delegate argv: path, runc's flags in order, command and its arguments");
  d2 = cli_delegate_argv (&cli, "runsc", (char *const *) extra);
  is_strv (d2, with_extra, "delegate argv: extra global flags go after the engine's, before the command");
}

static void
test_delegate_argv_order (void)
{
  char *argv[] = { "corral", "--root", ROOT_CTR,    "--profile=untrusted", "--log",    LOG_CTR,      "--log-format",
                   "json",   "exec",   "--process", "/tmp/runc-process1",  "--detach", "--pid-file", "/p",
                   "web",    NULL };
  static const char *const want[] = { "runc",         "--root",     ROOT_CTR, "--log",     LOG_CTR,
                                      "--log-format", "json",       "exec",   "--process", "/tmp/runc-process1",
                                      "--detach",     "--pid-file", "/p",     "web",       NULL };
  cleanup_error corral_error_t err = NULL;
  cleanup_cli cli_t cli = { 0 };
  cleanup_strv char **d = NULL;

  if (!ok (parse (argv, &cli, &err) == 0, "containerd exec with --profile parses"))
    return;
  d = cli_delegate_argv (&cli, "runc", NULL);
  is_strv (d, want, "delegate argv keeps every engine word in order and drops --profile=untrusted");
}

static void
test_errors (void)
{
  char *unknown[] = { "corral", "--bogus", "state", "x", NULL };
  char *unknown_own_like[] = { "corral", "--profiles", "a", "state", "x", NULL };
  char *xml[] = { "corral", "--log-format", "xml", "state", "x", NULL };
  char *xml_eq[] = { "corral", "--log-format=xml", "state", "x", NULL };
  char *no_root[] = { "corral", "--root", NULL };
  char *no_policy[] = { "corral", "--policy", NULL };
  char *no_log[] = { "corral", "--log", NULL };
  char *text[] = { "corral", "--log-format", "text", "state", "x", NULL };
  cleanup_error corral_error_t err = NULL;
  cleanup_cli cli_t cli = { 0 };

  parse_fails (unknown, "flag provided but not defined: -bogus", "an unknown global flag");
  parse_fails (unknown_own_like, "not defined", "--profiles (not --profile)");
  parse_fails (xml, "invalid log-format", "--log-format xml");
  parse_fails (xml_eq, "xml", "--log-format=xml");
  parse_fails (no_root, "--root", "--root without a value");
  parse_fails (no_policy, "--policy", "--policy without a value");
  parse_fails (no_log, "needs an argument", "--log without a value");
  ok (parse (text, &cli, &err) == 0 && str_eq (cli.log_format, "text"), "--log-format text is accepted");
}

static void
test_double_dash (void)
{
  char *global_end[] = { "corral", "--root", "/r", "--", "delete", "ctr1", NULL };
  char *only[] = { "corral", "--", NULL };
  char *none[] = { "corral", NULL };
  char *after[] = { "corral", "delete", "--", "-weird", NULL };
  static const char *const want[] = { "runc", "--root", "/r", "delete", "ctr1", NULL };
  static const char *const want_after[] = { "runc", "delete", "--", "-weird", NULL };
  cleanup_error corral_error_t err = NULL;
  cleanup_cli cli_t c1 = { 0 };
  cleanup_cli cli_t c2 = { 0 };
  cleanup_cli cli_t c3 = { 0 };
  cleanup_cli cli_t c4 = { 0 };
  cleanup_strv char **d = NULL;
  cleanup_strv char **d4 = NULL;

  ok (parse (global_end, &c1, &err) == 0, "-- after the global flags parses");
  is_str (c1.command, "delete", "-- ends the global flags: the command follows");
  is_str (c1.id, "ctr1", "-- ends the global flags: the id is found");
  d = cli_delegate_argv (&c1, "runc", NULL);
  is_strv (d, want, "delegate argv after --");
  ok (parse (only, &c2, &err) == 0 && c2.command == NULL, "a lone -- gives no command");
  ok (parse (none, &c3, &err) == 0 && c3.command == NULL && c3.id == NULL, "no arguments: no command, no id");
  ok (parse (after, &c4, &err) == 0, "delete -- -weird parses");
  is_str (c4.id, "-weird", "after -- a word starting with - is the id");
  d4 = cli_delegate_argv (&c4, "runc", NULL);
  is_strv (d4, want_after, "the delegate still gets -- before an id that starts with -");
}

static void
test_help_version (void)
{
  char *help[] = { "corral", "--help", NULL };
  char *h[] = { "corral", "-h", NULL };
  char *version[] = { "corral", "--version", NULL };
  char *v[] = { "corral", "-v", NULL };
  cleanup_error corral_error_t err = NULL;
  cleanup_cli cli_t c1 = { 0 };
  cleanup_cli cli_t c2 = { 0 };
  cleanup_cli cli_t c3 = { 0 };
  cleanup_cli cli_t c4 = { 0 };

  ok (parse (help, &c1, &err) == 0 && c1.help && !c1.version, "--help");
  ok (parse (h, &c2, &err) == 0 && c2.help, "-h");
  ok (parse (version, &c3, &err) == 0 && c3.version && !c3.help, "--version");
  ok (parse (v, &c4, &err) == 0 && c4.version, "-v");
}

static void
test_id_is_valid (void)
{
  static const char *const good[] = { "a", ID_PODMAN, "web", "my_container-1.2+x", "A.b", "...", ".a", NULL };
  static const struct
  {
    const char *id, *label;
  } bad[] = {
    { "", "empty" },
    { ".", "." },
    { "..", ".." },
    { "a/b", "a/b" },
    { "../x", "../x" },
    { "/abs", "/abs" },
    { "a b", "a space" },
    { " a", "a leading space" },
    { "a\tb", "a tab" },
    { "a\nb", "a newline" },
    { "a:b", "a:b" },
    { "caf\xc3\xa9", "non-ASCII" },
    { "a\\b", "a backslash" },
    { "$(id)", "$(id)" },
  };
  char longest[1026];

  for (size_t i = 0; good[i]; i++)
    ok (state_id_is_valid (good[i]), "id \"%s\" is valid", good[i]);
  for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++)
    ok (!state_id_is_valid (bad[i].id), "id with %s is invalid", bad[i].label);
  ok (!state_id_is_valid (NULL), "a NULL id is invalid");
  memset (longest, 'a', 1024);
  longest[1024] = '\0';
  ok (state_id_is_valid (longest), "an id of 1024 bytes is valid");
  longest[1024] = 'a';
  longest[1025] = '\0';
  ok (!state_id_is_valid (longest), "an id of 1025 bytes is invalid");
}

static void
test_command_takes_id (void)
{
  static const char *const with_id[] = { "create", "run", "exec",   "kill",       "delete",  "state",  "start", "pause",
                                         "resume", "ps",  "update", "checkpoint", "restore", "events", NULL };
  static const char *const without[] = { "list", "spec", "features", "frobnicate", "", NULL };

  for (size_t i = 0; with_id[i]; i++)
    ok (cli_command_takes_id (with_id[i]), "%s takes an id", with_id[i]);
  for (size_t i = 0; without[i]; i++)
    ok (!cli_command_takes_id (without[i]), "\"%s\" takes no id", without[i]);
  ok (!cli_command_takes_id (NULL), "no command takes no id");
}

int
main (void)
{
  test_podman_create ();
  test_podman_json_log ();
  test_containerd_create ();
  test_exec ();
  test_simple_commands ();
  test_root_forms ();
  test_own_flags ();
  test_delegate_argv_order ();
  test_errors ();
  test_double_dash ();
  test_help_version ();
  test_id_is_valid ();
  test_command_takes_id ();
  return done_testing ();
}
