/* corral: `corral explain` output. */
#include "config.h"

#include <stdio.h>

#include "base/util.h"
#include "spec/explain.h"
#include "base/json.h"

char *
explain_format (const corral_profile_t *profile, const changes_t *changes, bool json)
{
  char *out = NULL;

  if (json)
    {
      cleanup_json json_t *doc = json_new_object ();
      json_t *arr = json_new_array ();
      char *s;

      json_set (doc, "profile", json_new_string (profile->name));
      json_set (doc, "runtime", json_new_string (profile->runtime));
      for (size_t i = 0; i < changes->n; i++)
        {
          json_t *c = json_new_object ();
          json_set (c, "step", json_new_string (changes->items[i].step));
          json_set (c, "change", json_new_string (changes->items[i].what));
          json_push (arr, c);
        }
      json_set (doc, "changes", arr);
      s = json_serialize (doc, true);
      xasprintf (&out, "%s\n", s);
      free (s);
      return out;
    }

  xasprintf (&out, "profile %s (runtime %s): %zu changes\n", profile->name, profile->runtime, changes->n);
  for (size_t i = 0; i < changes->n; i++)
    {
      char *next;
      xasprintf (&next, "%s[%s] %s\n", out, changes->items[i].step, changes->items[i].what);
      free (out);
      out = next;
    }
  return out;
}
