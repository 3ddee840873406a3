/* corral: runc command-line parsing (Go flag syntax: -f, --f, -f=v, --f v). */
#include "config.h"

#include <stdio.h>

#include "shim/cli.h"
#include "base/util.h"

struct command_flags
{
  const char *command;
  bool takes_id;
  /* Flags of this subcommand that take a value, NULL-terminated. */
  const char *const *value_flags;
};

static const char *const create_flags[] = { "bundle", "b", "console-socket", "pid-file", "preserve-fds", NULL };
static const char *const exec_flags[] = { "console-socket",
                                          "cwd",
                                          "env",
                                          "e",
                                          "user",
                                          "u",
                                          "additional-gids",
                                          "g",
                                          "process",
                                          "p",
                                          "pid-file",
                                          "process-label",
                                          "apparmor",
                                          "cap",
                                          "c",
                                          "preserve-fds",
                                          "cgroup",
                                          NULL };
static const char *const checkpoint_flags[]
    = { "image-path", "work-path", "parent-path", "status-fd", "page-server", "manage-cgroups-mode", "empty-ns", NULL };
static const char *const restore_flags[]
    = { "console-socket", "image-path", "work-path",   "manage-cgroups-mode", "bundle", "b",
        "pid-file",       "empty-ns",   "lsm-profile", "lsm-mount-context",   NULL };
static const char *const update_flags[] = { "resources",   "r",           "blkio-weight",    "cpu-period",
                                            "cpu-quota",   "cpu-share",   "cpu-rt-period",   "cpu-rt-runtime",
                                            "cpuset-cpus", "cpuset-mems", "memory",          "memory-reservation",
                                            "memory-swap", "pids-limit",  "l3-cache-schema", "mem-bw-schema",
                                            NULL };
static const char *const format_flags[] = { "format", "f", NULL };
static const char *const events_flags[] = { "interval", NULL };
static const char *const spec_flags[] = { "bundle", "b", NULL };
static const char *const no_flags[] = { NULL };

static const struct command_flags command_table[] = {
  { "create", true, create_flags },   { "run", true, create_flags },
  { "exec", true, exec_flags },       { "checkpoint", true, checkpoint_flags },
  { "restore", true, restore_flags }, { "update", true, update_flags },
  { "ps", true, format_flags },       { "events", true, events_flags },
  { "start", true, no_flags },        { "state", true, no_flags },
  { "kill", true, no_flags },         { "delete", true, no_flags },
  { "pause", true, no_flags },        { "resume", true, no_flags },
  { "list", false, format_flags },    { "spec", false, spec_flags },
  { "features", false, no_flags },
};

static const struct command_flags *
command_lookup (const char *command)
{
  for (size_t i = 0; i < sizeof (command_table) / sizeof (command_table[0]); i++)
    if (str_eq (command_table[i].command, command))
      return &command_table[i];
  return NULL;
}

bool
cli_command_takes_id (const char *command)
{
  const struct command_flags *c = command_lookup (command);
  return c && c->takes_id;
}

/* Split "-name", "--name", "--name=value" into name (copied) and value. */
static char *
flag_name (const char *arg, const char **ret_inline_value)
{
  const char *name = arg + 1;
  const char *eq;

  if (*name == '-')
    name++;
  eq = strchr (name, '=');
  *ret_inline_value = eq ? eq + 1 : NULL;
  return eq ? xstrndup (name, (size_t) (eq - name)) : xstrdup (name);
}

static bool
is_flag (const char *arg)
{
  return arg[0] == '-' && arg[1] != '\0' && !str_eq (arg, "--");
}

static bool
in_list (const char *const *list, const char *name)
{
  for (; *list; list++)
    if (str_eq (*list, name))
      return true;
  return false;
}

/* runc's global flags that take a value; the booleans are debug,
 * systemd-cgroup, help and version. */
static const char *const global_value_flags[] = { "root", "log", "log-format", "criu", "rootless", NULL };
static const char *const own_value_flags[] = { "policy", "delegate", "profile", "tenant", NULL };

static int
take_value (int argc, char **argv, int *i, const char *inline_value, const char *name, const char **ret,
            corral_error_t *err)
{
  if (inline_value)
    {
      *ret = inline_value;
      return 0;
    }
  if (*i + 1 >= argc)
    return corral_error_make (err, 0, "flag needs an argument: --%s", name);
  *ret = argv[++*i];
  return 0;
}

static void
scan_command_args (cli_t *cli)
{
  const struct command_flags *c = command_lookup (cli->command);
  const char *const *value_flags = c ? c->value_flags : no_flags;
  char **a = cli->command_args;
  int n = cli->n_command_args;

  for (int i = 0; i < n; i++)
    {
      const char *inline_value;
      cleanup_free char *name = NULL;

      if (str_eq (a[i], "--"))
        {
          if (i + 1 < n)
            cli->id = a[i + 1];
          return;
        }
      if (!is_flag (a[i]))
        {
          /* Go's flag package stops at the first positional argument. */
          cli->id = a[i];
          return;
        }
      name = flag_name (a[i], &inline_value);
      if (!in_list (value_flags, name))
        continue;
      if (inline_value == NULL && i + 1 < n)
        inline_value = a[++i];
      if (str_eq (name, "bundle") || str_eq (name, "b"))
        cli->bundle = inline_value;
    }
}

bool
cli_command_flag (const cli_t *cli, const char *long_name, const char *short_name, const char **ret_value)
{
  const struct command_flags *c = command_lookup (cli->command);
  const char *const *value_flags = c ? c->value_flags : no_flags;
  char **a = cli->command_args;
  int n = cli->n_command_args;

  for (int i = 0; i < n && is_flag (a[i]); i++)
    {
      const char *inline_value;
      cleanup_free char *name = flag_name (a[i], &inline_value);
      bool takes_value = in_list (value_flags, name);
      const char *value = inline_value;

      if (takes_value && value == NULL && i + 1 < n)
        value = a[++i];
      if (str_eq (name, long_name) || (short_name && str_eq (name, short_name)))
        {
          if (ret_value)
            *ret_value = takes_value ? value : NULL;
          return true;
        }
    }
  return false;
}

int
cli_parse (int argc, char **argv, cli_t *ret, corral_error_t *err)
{
  cli_t cli = { 0 };
  int n_global = 0;
  int i;

  cli.global_args = xmalloc0 ((size_t) (argc + 1) * sizeof (char *));
  for (i = 1; i < argc && is_flag (argv[i]); i++)
    {
      const char *inline_value, *value = NULL;
      cleanup_free char *name = flag_name (argv[i], &inline_value);
      int first = i;

      if (in_list (own_value_flags, name))
        {
          if (take_value (argc, argv, &i, inline_value, name, &value, err) < 0)
            goto fail;
          if (str_eq (name, "policy"))
            cli.policy = value;
          else if (str_eq (name, "delegate"))
            cli.delegate = value;
          else if (str_eq (name, "tenant"))
            cli.tenant = value;
          else
            cli.profile = value;
          continue;
        }
      if (in_list (global_value_flags, name))
        {
          if (take_value (argc, argv, &i, inline_value, name, &value, err) < 0)
            goto fail;
          if (str_eq (name, "root"))
            cli.root = value;
          else if (str_eq (name, "log"))
            cli.log = value;
          else if (str_eq (name, "log-format"))
            cli.log_format = value;
        }
      else if (str_eq (name, "debug"))
        cli.debug = true;
      else if (str_eq (name, "help") || str_eq (name, "h"))
        cli.help = true;
      else if (str_eq (name, "version") || str_eq (name, "v"))
        cli.version = true;
      else if (!str_eq (name, "systemd-cgroup"))
        {
          corral_error_make (err, 0, "flag provided but not defined: -%s", name);
          goto fail;
        }
      for (int k = first; k <= i; k++)
        cli.global_args[n_global++] = argv[k];
    }
  if (i < argc && str_eq (argv[i], "--"))
    i++;

  if (cli.log_format && !str_eq (cli.log_format, "text") && !str_eq (cli.log_format, "json"))
    {
      corral_error_make (err, 0, "invalid log-format: %s", cli.log_format);
      goto fail;
    }

  if (i < argc)
    {
      cli.command = argv[i++];
      cli.command_args = &argv[i];
      cli.n_command_args = argc - i;
      scan_command_args (&cli);
    }
  *ret = cli;
  return 0;

fail:
  free (cli.global_args);
  return -1;
}

void
cli_release (cli_t *cli)
{
  free (cli->global_args);
  cli->global_args = NULL;
}

char **
cli_delegate_argv (const cli_t *cli, const char *path, char *const *extra_global)
{
  size_t n = 1 + strv_len (cli->global_args) + strv_len (extra_global) + 1 + (size_t) cli->n_command_args + 1;
  char **argv = xmalloc0 (n * sizeof (char *));
  size_t k = 0;

  argv[k++] = xstrdup (path);
  for (char **g = cli->global_args; *g; g++)
    argv[k++] = xstrdup (*g);
  for (size_t j = 0; extra_global && extra_global[j]; j++)
    argv[k++] = xstrdup (extra_global[j]);
  if (cli->command)
    argv[k++] = xstrdup (cli->command);
  for (int j = 0; j < cli->n_command_args; j++)
    argv[k++] = xstrdup (cli->command_args[j]);
  argv[k] = NULL;
  return argv;
}
