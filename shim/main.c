/* corral: the command-line driver.  Parses runc's command line and runs the
 * command's entry of the table below: corral's own commands, or runc's,
 * which are hardened or checked where needed and handed to the delegate. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "hooks/hook.h"
#include "shim/cli.h"
#include "shim/commands.h"

#ifndef CORRAL_POLICY_PATH
#define CORRAL_POLICY_PATH "/etc/corral/policy.json"
#endif

static void usage (FILE *f);

static int
cmd_help (const cli_t *cli)
{
  usage (stdout);
  return 0;
}

static int
cmd_hook (const cli_t *cli)
{
  return hook_main (cli->n_command_args, cli->command_args);
}

static int
cmd_daemon (const cli_t *cli)
{
  return hook_daemon_main (cli->n_command_args, cli->command_args);
}

/* Every command corral knows, in usage order.  A name not listed here is
 * handed to the delegate as it is (runc reports an unknown command). */
const command_t commands[] = {
  { "create", cmd_create, true, NULL, NULL, NULL },
  { "run", cmd_create, true, NULL, NULL, NULL },
  { "start", cmd_passthrough, true, NULL, NULL, NULL },
  { "state", cmd_passthrough, true, NULL, NULL, NULL },
  { "kill", cmd_passthrough, true, NULL, NULL, NULL },
  { "delete", cmd_delete, true, NULL, NULL, NULL },
  { "exec", cmd_passthrough, true, NULL, NULL, NULL },
  { "ps", cmd_ps, true, "ps [--json]", "containers corral manages", cmd_ps_owns },
  { "pause", cmd_passthrough, true, NULL, NULL, NULL },
  { "resume", cmd_resume, true, "resume ID --reason TEXT [--grant N]", "resume a container a budget froze", NULL },
  { "update", cmd_passthrough, true, NULL, NULL, NULL },
  { "events", cmd_passthrough, true, NULL, NULL, NULL },
  { "features", cmd_passthrough, true, NULL, NULL, NULL },
  { "checkpoint", cmd_passthrough, true, NULL, NULL, NULL },
  { "restore", cmd_passthrough, true, NULL, NULL, NULL },
  { "spec", cmd_passthrough, true, NULL, NULL, NULL },
  { "list", cmd_passthrough, true, NULL, NULL, NULL },
  { "explain", cmd_explain, false, "explain --bundle DIR [--profile P] [--json]",
    "show what corral would change and why", NULL },
  { "policy", cmd_policy, false, "policy check FILE", "validate a policy file", NULL },
  { "egress", cmd_egress, false, "egress show ID", "the container's egress table, counters, DNS names and set elements",
    NULL },
  { "inspect", cmd_inspect, false, "inspect ID", "the effective policy of one container (JSON)", NULL },
  { "checklist", cmd_checklist, false, "checklist ID|--bundle DIR [--json]",
    "pre-deployment questions, answered with evidence", NULL },
  { "audit", cmd_audit, false,
    "audit verify [--all | FILE...] | audit rotate [--keep N] | audit show [--container ID] [--agent A] [--since T] "
    "[--json|--csv]",
    "check the audit log's HMAC chain across rotated files, seal and rotate it, or print and export records", NULL },
  { "approve", cmd_approve, false, "approve ID NAME [--reason TEXT]", "let a container's DNS guard resolve an ask name",
    NULL },
  { "deny", cmd_deny, false, "deny ID NAME [--reason TEXT]", "refuse an ask name for the container's life", NULL },
  { "budget", cmd_budget, false,
    "budget reset AGENT --reason TEXT | budget report ID [--api-calls N] [--spend-usd X] [--tokens T]",
    "zero an agent's daily totals, or push a container's API usage (increments)", NULL },
  { "metrics", cmd_metrics, false, "metrics [--textfile PATH]",
    "Prometheus metrics (text format) to stdout, or written atomically to PATH for node_exporter", NULL },
  { "usage", cmd_usage, false, "usage ID | --agent AGENT", "recorded usage (JSON lines)", NULL },
  { "help", cmd_help, false, "help", "this summary (also --help)", NULL },
  { "hook", cmd_hook, false, "hook create-runtime|poststart --state-dir DIR", "OCI hooks (injected by corral itself)",
    NULL },
  { "daemon", cmd_daemon, false, "daemon egress-logger|dns-guard|watchdog --state-dir DIR --pid PID",
    "a container's long-running helpers (started by corral's hooks)", NULL },
  { NULL, NULL, false, NULL, NULL, NULL },
};

static void
usage (FILE *f)
{
  size_t column = strlen ("runtime commands (as runc):");

  fprintf (f, "Usage: corral [global options] COMMAND [command options] [arguments...]\n"
              "\n"
              "An OCI runtime that hardens each container's config.json for AI agents\n"
              "and hands it to a delegate runtime (runc, or runsc for gVisor).\n"
              "\n"
              "runtime commands (as runc):");
  for (const command_t *c = commands; c->name; c++)
    if (c->runtime)
      {
        /* Wrapped before 80 columns, continuation lines indented. */
        column += strlen (c->name) + 1;
        if (column > 78)
          {
            fprintf (f, "\n ");
            column = 2 + strlen (c->name);
          }
        fprintf (f, " %s", c->name);
      }
  fprintf (f, "\ncorral commands:\n");
  for (const command_t *c = commands; c->name; c++)
    if (c->synopsis)
      fprintf (f, "  %s\n      %s\n", c->synopsis, c->what);
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

static const command_t *
find_command (const char *name)
{
  for (const command_t *c = commands; c->name; c++)
    if (str_eq (c->name, name))
      return c;
  return NULL;
}

static bool
asks_for_help (const cli_t *cli)
{
  for (int i = 0; i < cli->n_command_args; i++)
    if (str_eq (cli->command_args[i], "--help") || str_eq (cli->command_args[i], "-h"))
      return true;
  return false;
}

static int
run_command (const cli_t *cli)
{
  const command_t *c = find_command (cli->command);
  bool own = c && c->synopsis && (c->owns == NULL || c->owns (cli));

  /* `corral COMMAND --help` for corral's own commands; runc's commands pass
   * --help on to the delegate. */
  if (own && asks_for_help (cli))
    {
      printf ("Usage: corral %s\n  %s\nSee corral(8).\n", c->synopsis, c->what);
      return 0;
    }
  if (c == NULL || (c->owns && !own))
    return cmd_passthrough (cli);
  return c->run (cli);
}

int
main (int argc, char **argv)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_cli cli_t cli = { 0 };
  int ret;

  if (cli_parse (argc, argv, &cli, &err) < 0)
    return shim_fail (&err);
  log_init (cli.log, str_eq (cli.log_format, "json"), cli.debug);

  if (cli.version && cli.command == NULL)
    {
      printf ("corral version %s\nspec: 1.0.2\n", PACKAGE_VERSION);
      ret = 0;
    }
  else if (cli.command == NULL || cli.help)
    {
      usage (stdout);
      ret = cli.command == NULL && !cli.help ? 1 : 0;
    }
  else
    ret = run_command (&cli);

  log_close ();
  return ret;
}
