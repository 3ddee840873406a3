/* corral: the hardening pipeline and its change log. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/utsname.h>

#include "base/util.h"
#include "spec/harden.h"

void
changes_add (changes_t *c, const char *step, const char *fmt, ...)
{
  va_list ap;
  char *what;

  va_start (ap, fmt);
  if (vasprintf (&what, fmt, ap) < 0)
    abort ();
  va_end (ap);
  c->items = xrealloc (c->items, (c->n + 1) * sizeof (*c->items));
  c->items[c->n].step = xstrdup (step);
  c->items[c->n].what = what;
  c->n++;
}

void
changes_release (changes_t *c)
{
  for (size_t i = 0; i < c->n; i++)
    {
      free (c->items[i].step);
      free (c->items[i].what);
    }
  free (c->items);
  c->items = NULL;
  c->n = 0;
}

/* Order matters: namespaces first (a refused host netns should be the first
 * thing a user hears about), seccomp after privileges. */
static const struct
{
  const char *name;
  harden_step_fn fn;
} steps[] = {
  { "namespaces", harden_namespaces },
  /* Before hooks and budgets: drops stale `corral hook` entries they add
   * back. */
  { "fields", harden_fields },
  { "user", harden_user },
  { "filesystem", harden_filesystem },
  /* After user (the final uid owns the scratch HOME) and filesystem (whose
   * scratch tmpfs a HOME may already lie on). */
  { "home", harden_home },
  /* After filesystem: its source is corral's own file under /run/corral,
   * which the mount rules refuse to any other bind. */
  { "dns", harden_dns },
  /* After filesystem and dns: judges every mount they left or added. */
  { "mounts", harden_mounts },
  { "devices", harden_devices },
  { "privileges", harden_privileges },
  { "seccomp", harden_seccomp },
  /* After seccomp: edits the filter it merged. */
  { "vsock", harden_vsock },
  { "environment", harden_environment },
  { "resources", harden_resources },
  { "hooks", harden_hooks },
  { "budgets", harden_budgets },
  /* Last: it reads the spec the other steps produced. */
  { "runsc", harden_runsc_limits },
};

int
harden_spec (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err)
{
  if (!json_is_object (json_get (spec, "process")))
    return corral_error_make (err, 0, "config.json has no \"process\" object");
  for (size_t i = 0; i < sizeof (steps) / sizeof (steps[0]); i++)
    if (steps[i].fn (spec, ctx, changes, err) < 0)
      return corral_error_wrap (err, "profile %s", ctx->profile->name);
  return 0;
}

const char *const *
harden_native_arches (void)
{
  static const char *const x86_64[] = { "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", NULL };
  static const char *const aarch64[] = { "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", NULL };
  static const char *const unknown[] = { NULL };
  struct utsname u;

  if (uname (&u) < 0)
    return unknown;
  if (str_eq (u.machine, "x86_64"))
    return x86_64;
  if (str_eq (u.machine, "aarch64"))
    return aarch64;
  return unknown;
}
