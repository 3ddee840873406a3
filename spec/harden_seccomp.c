/* corral: the agent seccomp filter, merged into whatever the engine asked
 * for so the result is at least as strict as both.
 *
 * libseccomp lets an unconditional rule for a syscall swallow every
 * conditional rule for it (measured with seccomp_export_pfc), so merging is
 * done on the spec, before runc builds the filter:
 *  - a denied syscall is removed from every allowing rule, then denied;
 *  - a syscall denied when flags are set in an argument keeps only allowing
 *    rules that already imply those flags are clear; with a default-deny
 *    filter one rule allows it when (arg & flags) == 0, with a default-allow
 *    filter one rule per flag denies it when that flag is set. */
#include "config.h"

#include <inttypes.h>

#include "base/util.h"
#include "spec/harden.h"

static bool
action_allows (const char *action)
{
  /* SCMP_ACT_TRACE and _NOTIFY hand the decision to another process, which
   * could allow the call: treat them as allowing. */
  return str_eq (action, "SCMP_ACT_ALLOW") || str_eq (action, "SCMP_ACT_LOG") || str_eq (action, "SCMP_ACT_TRACE")
         || str_eq (action, "SCMP_ACT_NOTIFY");
}

static json_t *
new_rule (const char *name, const char *action, int errno_ret)
{
  json_t *r = json_new_object ();
  json_t *names = json_new_array ();

  json_push (names, json_new_string (name));
  json_set (r, "names", names);
  json_set (r, "action", json_new_string (action));
  if (errno_ret >= 0)
    json_set (r, "errnoRet", json_new_int (errno_ret));
  return r;
}

static json_t *
new_arg (unsigned index, uint64_t mask, uint64_t value)
{
  json_t *a = json_new_object ();

  json_set (a, "index", json_new_int (index));
  json_set (a, "value", json_new_int ((int64_t) mask));
  json_set (a, "valueTwo", json_new_int ((int64_t) value));
  json_set (a, "op", json_new_string ("SCMP_CMP_MASKED_EQ"));
  return a;
}

/* Append rule unless an identical one is already there: hardening a spec
 * corral already hardened (a retried create) must not grow it. */
static void
push_rule (json_t *syscalls, json_t *rule)
{
  for (size_t i = 0; i < json_len (syscalls); i++)
    if (json_equal (json_at (syscalls, i), rule))
      {
        json_free (rule);
        return;
      }
  json_push (syscalls, rule);
}

/* Does this rule's argument filter guarantee (arg[index] & flags) == 0? */
static bool
args_imply_clear (const json_t *args, unsigned index, uint64_t flags)
{
  for (size_t i = 0; i < json_len (args); i++)
    {
      const json_t *a = json_at (args, i);
      const char *op = json_get_string (a, "op");
      int64_t idx, value = 0, value2 = 0;

      if (!json_int64 (json_get (a, "index"), &idx) || idx != (int64_t) index)
        continue;
      json_int64 (json_get (a, "value"), &value);
      json_int64 (json_get (a, "valueTwo"), &value2);
      if (str_eq (op, "SCMP_CMP_EQ") && ((uint64_t) value & flags) == 0)
        return true;
      if (str_eq (op, "SCMP_CMP_MASKED_EQ") && ((uint64_t) value & flags) == flags && ((uint64_t) value2 & flags) == 0)
        return true;
    }
  return false;
}

/* Remove name from every rule that names it and that matches (data is
 * the matcher's); a rule left without names goes.  Returns how many rules
 * lost the name. */
static size_t
strip_name (json_t *syscalls, const char *name, bool (*matches) (const json_t *rule, const void *data),
            const void *data)
{
  size_t removed = 0;

  for (size_t i = json_len (syscalls); i-- > 0;)
    {
      json_t *rule = json_at (syscalls, i);
      json_t *names = json_get (rule, "names");

      if (!json_array_has_string (names, name) || !matches (rule, data))
        continue;
      for (size_t k = json_len (names); k-- > 0;)
        if (str_eq (json_string (json_at (names, k)), name))
          json_remove_at (names, k);
      removed++;
      if (json_len (names) == 0)
        json_remove_at (syscalls, i);
    }
  return removed;
}

/* An allowing rule, unless data (a flag rule, may be NULL) spares it: its
 * argument filter already keeps the flags clear. */
static bool
allows_unspared (const json_t *rule, const void *data)
{
  const struct flag_rule_s *keep_if = data;

  if (!action_allows (json_get_string (rule, "action")))
    return false;
  return !(keep_if && args_imply_clear (json_get (rule, "args"), keep_if->arg, keep_if->flags));
}

/* A rule that answers ENOSYS. */
static bool
denies_enosys (const json_t *rule, const void *data)
{
  int64_t ret;

  (void) data;
  return str_eq (json_get_string (rule, "action"), "SCMP_ACT_ERRNO") && json_int64 (json_get (rule, "errnoRet"), &ret)
         && ret == ENOSYS;
}

/* Remove name from allowing rules; keep_if (may be NULL) spares a rule. */
static size_t
strip_allows (json_t *syscalls, const char *name, const struct flag_rule_s *keep_if)
{
  return strip_name (syscalls, name, allows_unspared, keep_if);
}

/* Under runsc: remove name from the engine's rules that answer ENOSYS
 * (Docker's profile denies clone3 so), which runsc would turn into EPERM. */
static size_t
strip_enosys_denials (json_t *syscalls, const char *name)
{
  return strip_name (syscalls, name, denies_enosys, NULL);
}

static void
ensure_arches (json_t *seccomp, const char *const *arches, changes_t *changes)
{
  json_t *arr = json_get (seccomp, "architectures");
  size_t added = 0;

  if (!json_is_array (arr))
    {
      arr = json_new_array ();
      json_set (seccomp, "architectures", arr);
    }
  for (size_t i = 0; arches && arches[i]; i++)
    if (!json_array_has_string (arr, arches[i]))
      {
        json_push (arr, json_new_string (arches[i]));
        added++;
      }
  if (added)
    changes_add (changes, "seccomp", "linux.seccomp.architectures: added %zu so compat syscalls meet the same rules",
                 added);
}

static void
apply_flag_rule (json_t *syscalls, bool default_allows, const struct flag_rule_s *fr, int errno_ret)
{
  json_t *rule, *args;

  strip_allows (syscalls, fr->syscall, fr);
  if (!default_allows)
    {
      rule = new_rule (fr->syscall, "SCMP_ACT_ALLOW", -1);
      args = json_new_array ();
      json_push (args, new_arg (fr->arg, fr->flags, 0));
      json_set (rule, "args", args);
      push_rule (syscalls, rule);
      return;
    }
  for (unsigned bit = 0; bit < 64; bit++)
    {
      uint64_t f = 1ULL << bit;
      if (!(fr->flags & f))
        continue;
      rule = new_rule (fr->syscall, "SCMP_ACT_ERRNO", errno_ret);
      args = json_new_array ();
      json_push (args, new_arg (fr->arg, f, f));
      json_set (rule, "args", args);
      push_rule (syscalls, rule);
    }
}

/* Remove names from every allowing rule, then deny them with errno_ret.
 * Returns how many engine rules were narrowed. */
static size_t
deny_names (json_t *syscalls, char *const *names, int errno_ret)
{
  json_t *deny, *rule;
  size_t stripped = 0;

  if (strv_len (names) == 0)
    return 0;
  deny = json_new_array ();
  for (char *const *s = names; *s; s++)
    {
      stripped += strip_allows (syscalls, *s, NULL);
      json_push (deny, json_new_string (*s));
    }
  rule = json_new_object ();
  json_set (rule, "names", deny);
  json_set (rule, "action", json_new_string ("SCMP_ACT_ERRNO"));
  json_set (rule, "errnoRet", json_new_int (errno_ret));
  push_rule (syscalls, rule);
  return stripped;
}

int
harden_seccomp (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err)
{
  const corral_profile_t *p = ctx->profile;
  json_t *linux_ = json_ensure_object (spec, "linux");
  json_t *seccomp = json_get (linux_, "seccomp");
  json_t *syscalls;
  const char *dflt;
  bool default_allows;
  size_t stripped = 0;

  if (seccomp == NULL)
    {
      seccomp = json_new_object ();
      json_set (seccomp, "defaultAction", json_new_string ("SCMP_ACT_ALLOW"));
      json_set (linux_, "seccomp", seccomp);
      changes_add (changes, "seccomp", "linux.seccomp: the engine set none; installing the agent filter");
    }
  if (!json_is_object (seccomp))
    return corral_error_make (err, 0, "linux.seccomp: expected an object");
  dflt = json_get_string (seccomp, "defaultAction");
  if (dflt == NULL)
    return corral_error_make (err, 0, "linux.seccomp.defaultAction: missing");
  default_allows = action_allows (dflt);
  ensure_arches (seccomp, ctx->seccomp_arches, changes);

  syscalls = json_get (seccomp, "syscalls");
  if (syscalls == NULL)
    {
      syscalls = json_new_array ();
      json_set (seccomp, "syscalls", syscalls);
    }
  if (!json_is_array (syscalls))
    return corral_error_make (err, 0, "linux.seccomp.syscalls: expected an array");

  stripped = deny_names (syscalls, p->seccomp_deny, p->seccomp_errno);
  if (strv_len (p->seccomp_deny) > 0)
    changes_add (changes, "seccomp",
                 "linux.seccomp: deny %zu syscalls (ptrace, mount, bpf, …), %zu engine rules "
                 "that allowed them narrowed",
                 strv_len (p->seccomp_deny), stripped);
  if (str_eq (p->runtime, "gvisor"))
    {
      /* runsc (0.0~20221219, --oci-seccomp) answers every SCMP_ACT_ERRNO
       * with EPERM whatever errnoRet says, so an ENOSYS rule for clone3
       * stops glibc's fallback to clone and every pthread_create fails
       * (measured).  The Sentry implements no clone3 (ENOSYS of
       * its own, measured), so glibc falls back to clone, which the flag
       * rules below inspect; namespaces inside the sandbox would be the
       * Sentry's own, not the host kernel's. */
      stripped = 0;
      for (char *const *s = p->seccomp_enosys; s && *s; s++)
        stripped += strip_enosys_denials (syscalls, *s);
      if (strv_len (p->seccomp_enosys) > 0)
        changes_add (changes, "seccomp",
                     "not as runc: the %zu ENOSYS rules (clone3, …) are left to gVisor's Sentry, which answers "
                     "syscalls it lacks with ENOSYS; runsc would answer the rules with EPERM and break libc's "
                     "fallback (%zu engine ENOSYS rules narrowed)",
                     strv_len (p->seccomp_enosys), stripped);
    }
  else
    {
      stripped = deny_names (syscalls, p->seccomp_enosys, ENOSYS);
      if (strv_len (p->seccomp_enosys) > 0)
        changes_add (changes, "seccomp",
                     "linux.seccomp: %zu syscalls answer ENOSYS so libc falls back to ones the filter can inspect "
                     "(%zu engine rules narrowed)",
                     strv_len (p->seccomp_enosys), stripped);
    }
  for (size_t i = 0; i < p->n_seccomp_flags; i++)
    {
      apply_flag_rule (syscalls, default_allows, &p->seccomp_flags[i], p->seccomp_errno);
      changes_add (changes, "seccomp", "linux.seccomp: %s denied when argument %u has any of 0x%" PRIx64,
                   p->seccomp_flags[i].syscall, p->seccomp_flags[i].arg, p->seccomp_flags[i].flags);
    }
  return 0;
}
