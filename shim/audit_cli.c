/* corral audit: verify, rotate and show the audit log. */
#include "config.h"

#include <limits.h>

#include "shim/budget_cli.h"
#include "shim/commands.h"
#include "base/util.h"

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

int
cmd_audit (const cli_t *cli)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_policy corral_policy_t *policy = policy_load (shim_policy_path (cli), &err);
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
      return r < 0 ? shim_fail (&err) : r;
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
          return shim_fail (&err);
        }
      r = audit_rotate (c, (int) keep, stdout, &err);
      audit_config_release (&defaults);
      return r < 0 ? shim_fail (&err) : 0;
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
              return shim_fail (&err);
            }
        }
      r = audit_show (file ? file : c->path, container, agent, since, format, stdout, &err);
      audit_config_release (&defaults);
      return r < 0 ? shim_fail (&err) : 0;
    }
  audit_config_release (&defaults);
  corral_error_make (&err, 0,
                     "usage: corral audit verify [--all | FILE...] | corral audit rotate [--keep N] | "
                     "corral audit show [--container ID] [--agent A] [--since RFC3339] [--file FILE] [--json|--csv]");
  return shim_fail (&err);
}
