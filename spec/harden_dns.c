/* corral: the container's /etc/resolv.conf points at its DNS guard when the
 * profile allows domain names. */
#include "config.h"

#include "base/util.h"
#include "spec/harden.h"

int
harden_dns (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err)
{
  const char *src = ctx->resolv_conf ? ctx->resolv_conf : "/run/corral/(container)/resolv.conf";
  static const char *const opts[] = { "bind", "ro", "nosuid", "nodev", "noexec", "rprivate" };
  json_t *mounts = json_get (spec, "mounts");
  json_t *m = NULL, *options;

  if (!profile_has_domains (ctx->profile))
    return 0;
  if (!json_is_array (mounts))
    return corral_error_make (err, 0, "mounts: expected an array");
  for (size_t i = 0; i < json_len (mounts) && m == NULL; i++)
    if (str_eq (json_get_string (json_at (mounts, i), "destination"), "/etc/resolv.conf"))
      m = json_at (mounts, i);
  /* Any other resolver is unreachable anyway (the table drops it); this
   * makes names resolve through the guard, which alone fills the sets. */
  if (m == NULL)
    {
      m = json_new_object ();
      json_set (m, "destination", json_new_string ("/etc/resolv.conf"));
      json_push (mounts, m);
    }
  else if (str_eq (json_get_string (m, "source"), src))
    return 0; /* already hardened */
  json_set (m, "type", json_new_string ("bind"));
  json_set (m, "source", json_new_string (src));
  options = json_new_array ();
  for (size_t i = 0; i < sizeof (opts) / sizeof (opts[0]); i++)
    json_push (options, json_new_string (opts[i]));
  json_set (m, "options", options);
  changes_add (changes, "dns",
               "mounts[/etc/resolv.conf]: the container's DNS guard, `nameserver 127.0.0.53` (169.254.53.53 under "
               "gVisor's own netstack; read-only; %s)",
               src);
  return 0;
}
