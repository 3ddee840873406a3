/* corral: a human's word on a running container (resume after a budget
 * trip, approve/deny an ask name), daily budgets and usage. */
#include "config.h"

#include <openssl/evp.h>
#include <sys/stat.h>

#include "hooks/dnsguard.h"
#include "shim/budget_cli.h"
#include "shim/commands.h"
#include "base/util.h"

/* corral approve|deny ID NAME [--reason TEXT]: a human's word on an ask
 * name of a running container's DNS guard. */
static int
ask_decision (const cli_t *cli, bool approve)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_free char *dir = NULL;
  const char *id = NULL, *name = NULL, *reason = NULL;
  cleanup_record state_record_t rec = { 0 };
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
  if (id == NULL || name == NULL || !state_id_is_valid (id))
    {
      corral_error_make (&err, 0, "usage: corral %s ID NAME [--reason TEXT]", cli->command);
      return shim_fail (&err);
    }
  if (shim_read_record (cli, id, &rec, &err) < 0)
    return shim_fail (&err);
  dir = state_container_dir (shim_state_base (), cli->root, id);
  r = dnsguard_decide (dir, &rec, name, approve, reason, &err);
  if (r < 0)
    return shim_fail (&err);
  printf ("%s %s for container %s\n", approve ? "approved" : "denied", name, id);
  return 0;
}

int
cmd_approve (const cli_t *cli)
{
  return ask_decision (cli, true);
}

int
cmd_deny (const cli_t *cli)
{
  return ask_decision (cli, false);
}

/* resume: an engine's resume (Podman unpause) of a container a budget froze
 * is refused; `corral resume ID --reason TEXT [--grant N]` is a human's. */
int
cmd_resume (const cli_t *cli)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_free char *event = NULL;
  cleanup_free char *dir = NULL;
  const char *id = NULL, *reason = NULL;
  int64_t grant = 0;
  bool human = false;
  cleanup_record state_record_t rec = { 0 };
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
              return shim_fail (&err);
            }
          human = true;
        }
      else if (a[0] != '-' && id == NULL)
        id = a;
    }
  if (!human)
    {
      if (cli->id && state_id_is_valid (cli->id))
        {
          dir = state_container_dir (shim_state_base (), cli->root, cli->id);
          if (budget_tripped (dir, &event) > 0)
            {
              corral_error_make (&err, 0,
                                 "container %s was frozen by corral's budget watchdog (%s): only a human resumes it, "
                                 "with `corral resume %s --reason TEXT [--grant N]`",
                                 cli->id, event ? event : "tripped", cli->id);
              return shim_fail (&err);
            }
        }
      return cmd_passthrough (cli);
    }
  if (id == NULL || !state_id_is_valid (id) || reason == NULL || *reason == '\0')
    {
      corral_error_make (&err, 0, "usage: corral resume ID --reason TEXT [--grant N]");
      return shim_fail (&err);
    }
  if (shim_read_record (cli, id, &rec, &err) < 0)
    return shim_fail (&err);
  dir = state_container_dir (shim_state_base (), cli->root, id);
  if (budget_prepare_resume (dir, id, reason, grant, &err) < 0)
    return shim_fail (&err);
  {
    char *args[] = { (char *) id, NULL };
    cli_t q = shim_cli_with_command (cli, "resume", args, 1);
    q.id = id;
    if (shim_run_quietly (&q, &rec, NULL, &status, &err) < 0 || !WIFEXITED (status) || WEXITSTATUS (status) != 0)
      {
        if (err == NULL)
          corral_error_make (&err, 0, "`%s resume %s` failed", rec.delegate ? rec.delegate : "delegate", id);
        return shim_fail (&err);
      }
  }
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
  if (!state_id_is_valid (id))
    return NULL;
  dir = state_container_dir (shim_state_base (), usage_root, id);
  return stat (dir, &st) == 0 ? dir : NULL;
}

int
cmd_usage (const cli_t *cli)
{
  cleanup_error corral_error_t err = NULL;

  usage_root = cli->root;
  if (budget_cmd_usage (cli->n_command_args, cli->command_args, usage_state_dir, &err) < 0)
    return shim_fail (&err);
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
  cleanup_record state_record_t rec = { 0 };
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
              return shim_fail (&err);
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
  if (id == NULL || !any || !state_id_is_valid (id))
    {
      corral_error_make (&err, 0, "usage: corral budget report ID [--api-calls N] [--spend-usd X] [--tokens T]");
      return shim_fail (&err);
    }
  if (shim_read_record (cli, id, &rec, &err) < 0)
    return shim_fail (&err);
  dir = state_container_dir (shim_state_base (), cli->root, id);
  json_set (fields, "by", json_new_string (audit_actor (by, sizeof (by))));
  r = budget_report (dir, id, add, &err);
  if (r == 0)
    r = audit_record_event (&rec, "budget-report", fields, &err);
  if (r < 0)
    return shim_fail (&err);
  printf ("container %s: usage reported\n", id);
  return 0;
}

int
cmd_budget (const cli_t *cli)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_policy corral_policy_t *policy = NULL;

  if (cli->n_command_args >= 1 && str_eq (cli->command_args[0], "report"))
    return cmd_budget_report (cli);
  policy = policy_load (shim_policy_path (cli), &err);
  /* Resetting is recorded in the policy's audit log; no policy, no reset. */
  if (policy == NULL || budget_cmd (cli->n_command_args, cli->command_args, &policy->audit, &err) < 0)
    return shim_fail (&err);
  return 0;
}
