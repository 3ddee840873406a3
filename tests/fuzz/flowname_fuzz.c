/* libFuzzer target: the judging of a flow's first bytes (spec/flowname.c),
 * fed whatever a container could send.  Beyond not crashing: a name out of
 * it is one the allowlist compares, and an answer once given does not
 * change when more of the stream arrives. */
#include "config.h"

#include "base/util.h"
#include "spec/egress.h"
#include "spec/flowname.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
check_name (const char *name)
{
  size_t n = strlen (name);

  if (n == 0 || n > EGRESS_NAME_MAX || name[n - 1] == '.')
    abort ();
  for (size_t i = 0; i < n; i++)
    if (!strchr ("abcdefghijklmnopqrstuvwxyz0123456789-_.:", name[i]))
      abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static egress_rule_t rule;
  static bool init;
  char name[FLOWNAME_NAME_SIZE], more_name[FLOWNAME_NAME_SIZE];
  enum flowname_status s, more;
  uint8_t *longer;

  if (!init)
    {
      if (egress_rule_parse ("*.allowed.test:443/tcp", &rule, NULL) < 0)
        abort ();
      init = true;
    }
  s = flowname_parse (data, size, name, sizeof (name));
  if ((int) s < (int) FLOWNAME_NAME || (int) s > (int) FLOWNAME_INVALID)
    abort ();
  if (s == FLOWNAME_NAME)
    {
      check_name (name);
      (void) egress_rule_matches_name (&rule, name);
    }
  if (s == FLOWNAME_NEED_MORE || size >= FLOWNAME_MAX_BYTES)
    return 0;
  /* One more byte of stream changes nothing once the answer is given. */
  longer = xmalloc (size + 1);
  memcpy (longer, data, size);
  longer[size] = size ? data[size - 1] : 0;
  more = flowname_parse (longer, size + 1, more_name, sizeof (more_name));
  free (longer);
  if (more != s || ((s == FLOWNAME_NAME || s == FLOWNAME_ECH) && strcmp (more_name, name) != 0))
    abort ();
  return 0;
}
