/* corral: parsing of runc's command line.  corral understands just enough of
 * it to find the container id, the bundle and its own flags; everything else
 * is handed to the delegate untouched and in order. */
#ifndef CORRAL_CLI_H
#define CORRAL_CLI_H

#include <stdbool.h>

#include "base/error.h"

struct cli_s
{
  /* runc global flags corral reads (all are also passed on). */
  const char *root;       /* --root: the engine's state root, NULL = runc default */
  const char *log;        /* --log */
  const char *log_format; /* --log-format */
  bool debug;             /* --debug */
  /* corral's own global flags, removed before delegation. */
  const char *policy;   /* --policy */
  const char *delegate; /* --delegate */
  const char *profile;  /* --profile */
  const char *tenant;   /* --tenant: whose daily budgets (the operator's choice) */
  bool help;            /* --help/-h before any command */
  bool version;         /* --version/-v before any command */

  /* Global flags to pass on, in their original order (NULL-terminated). */
  char **global_args;
  const char *command; /* NULL when none was given */
  /* Everything after the command, untouched (NULL-terminated). */
  char **command_args;
  int n_command_args;

  /* From command_args: first positional argument, and --bundle. */
  const char *id;
  const char *bundle;
};
typedef struct cli_s cli_t;

/* argv is borrowed: the strings in *ret point into it. */
int cli_parse (int argc, char **argv, cli_t *ret, corral_error_t *err);
void cli_release (cli_t *cli);
#define cleanup_cli __attribute__ ((cleanup (cli_release)))

/* Find a flag of the command (before its first positional argument, as Go's
 * flag package parses them), skipping the values of flags that take one.
 * *ret_value (may be NULL) gets its value, or NULL for a boolean flag. */
bool cli_command_flag (const cli_t *cli, const char *long_name, const char *short_name, const char **ret_value);

/* Does the subcommand take a container id as its first positional argument? */
bool cli_command_takes_id (const char *command);

/* Build the delegate's argv: path, global flags (own removed), command and its
 * arguments.  extra_global (may be NULL) is inserted after the global flags. */
char **cli_delegate_argv (const cli_t *cli, const char *path, char *const *extra_global);

#endif
