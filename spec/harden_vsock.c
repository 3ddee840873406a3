/* corral: no AF_VSOCK sockets.  A vsock connection goes to the hypervisor
 * or another VM whatever the network namespace, so the egress table never
 * sees it.  A step of its own after `seccomp`, editing the merged
 * filter: socket(2) with family AF_VSOCK fails with EAFNOSUPPORT. */
#include "config.h"

#include <errno.h>

#include "base/util.h"
#include "spec/harden.h"

#define FAMILY_VSOCK 40 /* AF_VSOCK, <sys/socket.h> */

static bool
allows (const char *action)
{
  return str_eq (action, "SCMP_ACT_ALLOW") || str_eq (action, "SCMP_ACT_LOG");
}

static json_t *
family_arg (const char *op)
{
  json_t *a = json_new_object ();

  json_set (a, "index", json_new_int (0));
  json_set (a, "value", json_new_int (FAMILY_VSOCK));
  json_set (a, "op", json_new_string (op));
  return a;
}

static json_t *
socket_rule (const char *action, const char *op)
{
  json_t *r = json_new_object ();
  json_t *names = json_new_array ();
  json_t *args = json_new_array ();

  json_push (names, json_new_string ("socket"));
  json_set (r, "names", names);
  json_set (r, "action", json_new_string (action));
  if (str_eq (action, "SCMP_ACT_ERRNO"))
    json_set (r, "errnoRet", json_new_int (EAFNOSUPPORT));
  json_push (args, family_arg (op));
  json_set (r, "args", args);
  return r;
}

/* The argument-0 comparison of a rule, or NULL. */
static const json_t *
arg0 (const json_t *rule)
{
  const json_t *args = json_get (rule, "args");
  int64_t idx;

  for (size_t i = 0; i < json_len (args); i++)
    if (json_int64 (json_get (json_at (args, i), "index"), &idx) && idx == 0)
      return json_at (args, i);
  return NULL;
}

/* A default-deny filter: every rule that allows socket() must exclude
 * AF_VSOCK.  An unconditional one loses "socket" and a rule allowing any
 * other family takes its place; a conditional one without a family test
 * gets `family != AF_VSOCK`; one testing the family keeps it only when
 * that test is `== F` (F not AF_VSOCK) or `!= AF_VSOCK` (libseccomp takes
 * one test per argument). */
static size_t
narrow_allows (json_t *syscalls)
{
  size_t narrowed = 0;
  bool add_generic = false;

  for (size_t i = json_len (syscalls); i-- > 0;)
    {
      json_t *rule = json_at (syscalls, i);
      json_t *names = json_get (rule, "names");
      const json_t *a0;
      int64_t v;

      if (!allows (json_get_string (rule, "action")) || !json_array_has_string (names, "socket"))
        continue;
      a0 = arg0 (rule);
      /* Already excludes AF_VSOCK (an earlier pass, or the engine's). */
      if (a0 && json_int64 (json_get (a0, "value"), &v)
          && ((str_eq (json_get_string (a0, "op"), "SCMP_CMP_EQ") && v != FAMILY_VSOCK)
              || (str_eq (json_get_string (a0, "op"), "SCMP_CMP_NE") && v == FAMILY_VSOCK)))
        continue;
      narrowed++;
      if (json_len (json_get (rule, "args")) == 0)
        {
          for (size_t k = json_len (names); k-- > 0;)
            if (str_eq (json_string (json_at (names, k)), "socket"))
              json_remove_at (names, k);
          if (json_len (names) == 0)
            json_remove_at (syscalls, i);
          add_generic = true;
          continue;
        }
      if (a0 == NULL)
        {
          if (json_len (names) > 1)
            {
              /* The family test must apply to socket() only. */
              json_t *copy = json_deep_copy (rule);
              json_t *n = json_new_array ();

              for (size_t k = json_len (names); k-- > 0;)
                if (str_eq (json_string (json_at (names, k)), "socket"))
                  json_remove_at (names, k);
              json_push (n, json_new_string ("socket"));
              json_set (copy, "names", n);
              json_push (json_get (copy, "args"), family_arg ("SCMP_CMP_NE"));
              json_push (syscalls, copy);
            }
          else
            json_push (json_get (rule, "args"), family_arg ("SCMP_CMP_NE"));
          continue;
        }
      if (json_len (names) > 1)
        {
          for (size_t k = json_len (names); k-- > 0;)
            if (str_eq (json_string (json_at (names, k)), "socket"))
              json_remove_at (names, k);
        }
      else
        json_remove_at (syscalls, i);
    }
  if (add_generic)
    json_push (syscalls, socket_rule ("SCMP_ACT_ALLOW", "SCMP_CMP_NE"));
  return narrowed;
}

int
harden_vsock (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err)
{
  json_t *seccomp = json_get (json_get (spec, "linux"), "seccomp");
  json_t *syscalls = json_get (seccomp, "syscalls");
  (void) ctx;

  /* harden_seccomp made both. */
  if (!json_is_object (seccomp) || !json_is_array (syscalls))
    return corral_error_make (err, 0, "linux.seccomp: no filter to add the AF_VSOCK rule to");
  if (allows (json_get_string (seccomp, "defaultAction")))
    {
      json_t *deny = socket_rule ("SCMP_ACT_ERRNO", "SCMP_CMP_EQ");
      bool present = false;

      for (size_t i = 0; i < json_len (syscalls) && !present; i++)
        present = json_equal (json_at (syscalls, i), deny);
      if (present)
        json_free (deny);
      else
        {
          json_push (syscalls, deny);
          changes_add (changes, "vsock",
                       "linux.seccomp: socket(AF_VSOCK) fails with EAFNOSUPPORT (vsock ignores "
                       "network namespaces)");
        }
      return 0;
    }
  if (narrow_allows (syscalls) > 0)
    changes_add (changes, "vsock",
                 "linux.seccomp: rules allowing socket() narrowed to every family but AF_VSOCK "
                 "(vsock ignores network namespaces)");
  return 0;
}
