/* corral: bounds on what one audit record holds.  A spec may carry tens of
 * thousands of secret-looking names or a megabyte-long argument; a record
 * that large would pass the log's tail limit and stop every later append
 *, so lists keep their first AUDIT_LIST_MAX items plus a count, and
 * strings their first AUDIT_STRING_MAX bytes. */
#include "config.h"

#include "services/audit.h"
#include "base/util.h"

/* Cut s to at most max bytes on a UTF-8 character boundary, marking the
 * cut. */
char *
audit_bound_string (const char *s)
{
  size_t n = strlen (s);
  char *r;

  if (n <= AUDIT_STRING_MAX)
    return xstrdup (s);
  n = AUDIT_STRING_MAX;
  while (n > 0 && ((unsigned char) s[n] & 0xC0) == 0x80)
    n--;
  xasprintf (&r, "%.*s…(%zu bytes)", (int) n, s, strlen (s));
  return r;
}

static json_t *
bound (const json_t *v, size_t depth)
{
  json_t *r;

  if (json_is_string (v))
    {
      cleanup_free char *s = audit_bound_string (json_string (v));
      return json_new_string (s);
    }
  if (json_is_array (v))
    {
      r = json_new_array ();
      for (size_t i = 0; i < json_len (v) && i < AUDIT_LIST_MAX; i++)
        json_push (r, bound (json_at (v, i), depth + 1));
      return r;
    }
  if (json_is_object (v))
    {
      r = json_new_object ();
      for (size_t i = 0; i < json_len (v) && i < AUDIT_LIST_MAX; i++)
        {
          const char *key = json_key_at (v, i);
          const json_t *val = json_value_at (v, i);

          if (strlen (key) > 64)
            continue;
          json_set (r, key, bound (val, depth + 1));
          /* A cut list says how long it was. */
          if (json_is_array (val) && json_len (val) > AUDIT_LIST_MAX)
            {
              cleanup_free char *total = NULL;
              xasprintf (&total, "%s_total", key);
              json_set (r, total, json_new_int ((int64_t) json_len (val)));
            }
        }
      if (json_len (v) > AUDIT_LIST_MAX)
        json_set (r, "fields_total", json_new_int ((int64_t) json_len (v)));
      return r;
    }
  return json_deep_copy (v);
}

json_t *
audit_bound_fields (const json_t *fields)
{
  return fields ? bound (fields, 0) : NULL;
}
