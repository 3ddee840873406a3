/* corral: read-only commands: explain, policy check, egress show, ps,
 * inspect, checklist. */
#include "config.h"

#include "hooks/dnsguard.h"
#include "hooks/netns.h"
#include "hooks/wire.h"
#include "hooks/nftset.h"
#include "shim/commands.h"
#include "shim/report.h"
#include "base/util.h"
#include "spec/bundle.h"
#include "spec/explain.h"

int
cmd_explain (const cli_t *cli)
{
  int argc = cli->n_command_args;
  char **argv = cli->command_args;
  cleanup_error corral_error_t err = NULL;
  cleanup_policy corral_policy_t *policy = NULL;
  cleanup_profile corral_profile_t *profile = NULL;
  cleanup_json json_t *spec = NULL;
  cleanup_close int dirfd = -1;
  const char *bundle = ".";
  cli_t local = *cli;
  bool json = false;
  cleanup_changes changes_t changes = { 0 };
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
          return shim_fail (&err);
        }
    }
  policy = policy_load (shim_policy_path (cli), &err);
  if (policy == NULL)
    return shim_fail (&err);
  dirfd = bundle_open (bundle, &err);
  if (dirfd < 0)
    return shim_fail (&err);
  spec = bundle_load_spec (dirfd, bundle, NULL, &err);
  if (spec == NULL)
    return shim_fail (&err);
  profile = shim_profile_for_spec (&local, policy, spec, &err);
  if (profile == NULL || shim_harden_bundle (profile, cli->root, NULL, dirfd, spec, &changes, &err) < 0)
    return shim_fail (&err);
  out = explain_format (profile, &changes, json);
  fputs (out, stdout);
  return 0;
}

int
cmd_egress (const cli_t *cli)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_record state_record_t rec = { 0 };
  cli_t q = *cli;
  pid_t pid;
  int r;

  if (cli->n_command_args != 2 || !str_eq (cli->command_args[0], "show"))
    {
      corral_error_make (&err, 0, "usage: corral [--root DIR] egress show ID");
      return shim_fail (&err);
    }
  q.id = cli->command_args[1];
  r = state_record_read (shim_state_base (), cli->root, q.id, &rec, &err);
  if (r == 0)
    corral_error_make (&err, ENOENT, "container `%s` is not running (not managed by corral under root `%s`)", q.id,
                       cli->root ? cli->root : RUNC_DEFAULT_ROOT);
  if (r <= 0)
    return shim_fail (&err);
  r = shim_container_pid (&q, &rec, &pid, &err);
  if (r < 0 || netns_enter (pid, &err) < 0 || nft_show_egress (stdout, &err) < 0)
    return shim_fail (&err);
  /* What the DNS guard put in the sets, and what it saw. */
  {
    cleanup_free char *dir = state_container_dir (shim_state_base (), cli->root, q.id);
    printf ("set elements (from the DNS guard):\n");
    if (nftset_show (stdout, &err) < 0 || dnsguard_show_status (stdout, dir, &err) < 0)
      return shim_fail (&err);
  }
  return 0;
}

/* `corral ps` and `corral ps --json` are corral's; `ps ID …` is runc's. */
bool
cmd_ps_owns (const cli_t *cli)
{
  int n = cli->n_command_args;
  const char *a = n == 1 ? cli->command_args[0] : NULL;

  return n == 0 || (a && (str_eq (a, "--json") || str_eq (a, "--help") || str_eq (a, "-h")));
}

int
cmd_ps (const cli_t *cli)
{
  cleanup_error corral_error_t err = NULL;
  int argc = cli->n_command_args;
  bool json = shim_take_json_flag (&argc, cli->command_args);
  json_t *list;

  if (argc != 0)
    {
      corral_error_make (&err, 0, "usage: corral ps [--json]");
      return shim_fail (&err);
    }
  list = report_list (shim_state_base (), &err);
  if (list == NULL)
    return shim_fail (&err);
  return shim_print_json_or_text (list, json, report_list_text);
}

/* The record, effective spec and tightened profile of a corral container. */
static int
load_container (const cli_t *cli, const char *id, state_record_t *rec, json_t **ret_spec,
                corral_profile_t **ret_profile, corral_error_t *err)
{
  if (shim_read_record (cli, id, rec, err) < 0)
    return -1;
  return shim_container_spec (cli, rec, ret_spec, ret_profile, err);
}

static char *
profile_text (const json_t *doc)
{
  return json_serialize (doc, true);
}

int
cmd_inspect (const cli_t *cli)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_json json_t *spec = NULL;
  cleanup_profile corral_profile_t *profile = NULL;
  cleanup_record state_record_t rec = { 0 };
  int argc = cli->n_command_args;
  bool json = shim_take_json_flag (&argc, cli->command_args);
  json_t *doc;

  if (argc != 1)
    {
      corral_error_make (&err, 0, "usage: corral inspect ID [--json]");
      return shim_fail (&err);
    }
  if (load_container (cli, cli->command_args[0], &rec, &spec, &profile, &err) < 0)
    return shim_fail (&err);
  doc = report_profile (profile);
  json_set (doc, "id", json_new_string (cli->command_args[0]));
  json_set (doc, "bundle", json_new_string (rec.bundle));
  json_set (doc, "delegate", json_new_string (rec.delegate));
  (void) json;
  return shim_print_json_or_text (doc, true, profile_text);
}

int
cmd_checklist (const cli_t *cli)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_json json_t *spec = NULL;
  cleanup_profile corral_profile_t *profile = NULL;
  cleanup_close int bfd = -1;
  cleanup_record state_record_t rec = { 0 };
  int argc = cli->n_command_args;
  bool json = shim_take_json_flag (&argc, cli->command_args);
  char **argv = cli->command_args;
  json_t *doc;

  if (argc == 2 && (str_eq (argv[0], "--bundle") || str_eq (argv[0], "-b")))
    {
      /* Any bundle, also one corral never saw (a plain runc container). */
      bfd = bundle_open (argv[1], &err);
      if (bfd < 0 || (spec = bundle_load_spec (bfd, argv[1], NULL, &err)) == NULL)
        return shim_fail (&err);
      doc = report_checklist (spec, NULL, NULL);
    }
  else if (argc == 1)
    {
      if (load_container (cli, argv[0], &rec, &spec, &profile, &err) < 0)
        return shim_fail (&err);
      doc = report_checklist (spec, profile, rec.delegate_name);
    }
  else
    {
      corral_error_make (&err, 0, "usage: corral checklist ID|--bundle DIR [--json]");
      return shim_fail (&err);
    }
  return shim_print_json_or_text (doc, json, report_checklist_text);
}

int
cmd_policy (const cli_t *cli)
{
  int argc = cli->n_command_args;
  char **argv = cli->command_args;
  cleanup_error corral_error_t err = NULL;
  cleanup_policy corral_policy_t *policy = NULL;
  cleanup_free char *summary = NULL;

  if (argc != 2 || !str_eq (argv[0], "check"))
    {
      corral_error_make (&err, 0, "usage: corral policy check FILE");
      return shim_fail (&err);
    }
  policy = policy_load (argv[1], &err);
  if (policy == NULL)
    return shim_fail (&err);
  summary = policy_summary (policy);
  printf ("%s: valid\n%s", argv[1], summary);
  return 0;
}
