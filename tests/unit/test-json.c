/* corral: unit tests of spec/json.[ch]: strict parsing, faithful
 * re-serialisation and the tree editors. */
#include "config.h"

#include <fcntl.h>
#include <glob.h>
#include <stdio.h>

#include "base/fs.h"
#include "base/util.h"
#include "base/json.h"
#include "tests/unit/testlib.h"

/* Parse a C string; the error (if any) goes to *err. */
static json_t *
parse (const char *s, corral_error_t *err)
{
  return json_parse (s, strlen (s), err);
}

/* Parse must fail and say why; needle is what the message must contain. */
static void
rejects_n (const char *buf, size_t len, const char *needle, const char *what)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_json json_t *v = json_parse (buf, len, &err);

  ok (v == NULL, "rejects %s", what);
  like (err ? err->msg : NULL, needle, "error for %s says \"%s\"", what, needle);
}

static void
rejects (const char *s, const char *needle, const char *what)
{
  rejects_n (s, strlen (s), needle, what);
}

static void
accepts (const char *s, const char *what)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_json json_t *v = parse (s, &err);

  ok (v != NULL, "accepts %s%s%s", what, err ? ": " : "", err ? err->msg : "");
}

/* Serialise compactly and compare with the expected text. */
static void
serializes_to (const json_t *v, const char *want, const char *what)
{
  cleanup_free char *s = json_serialize (v, false);
  is_str (s, want, "%s", what);
}

/* serialize (parse (x)) parses again and equals x, pretty or not. */
static void
test_fixture_round_trip (const char *path)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_free char *data = NULL;
  cleanup_free char *compact = NULL;
  cleanup_free char *pretty = NULL;
  cleanup_free char *again = NULL;
  cleanup_json json_t *v = NULL;
  cleanup_json json_t *v2 = NULL;
  cleanup_json json_t *v3 = NULL;
  const char *name = strrchr (path, '/') ? strrchr (path, '/') + 1 : path;
  size_t len;

  data = read_file (path, &len);
  v = json_parse (data, len, &err);
  if (!ok (v != NULL, "%s: parses%s%s", name, err ? ": " : "", err ? err->msg : ""))
    return;
  ok (json_is_object (v) && json_is_object (json_get (v, "process")), "%s: is a spec with a process object", name);

  compact = json_serialize (v, false);
  v2 = json_parse (compact, strlen (compact), &err);
  ok (v2 != NULL && json_equal (v, v2), "%s: compact serialisation parses back to an equal tree", name);

  pretty = json_serialize (v, true);
  v3 = json_parse (pretty, strlen (pretty), &err);
  ok (v3 != NULL && json_equal (v, v3), "%s: pretty serialisation parses back to an equal tree", name);

  again = v2 ? json_serialize (v2, false) : NULL;
  is_str (again, compact, "%s: re-serialising is byte-for-byte stable", name);
}

static void
test_fixtures (void)
{
  cleanup_glob glob_t g = { 0 };
  cleanup_json json_t *a = NULL;
  cleanup_json json_t *b = NULL;
  cleanup_free char *da = NULL;
  cleanup_free char *db = NULL;
  size_t la, lb;

  glob_fixtures ("engines", 8, &g);
  for (size_t i = 0; i < g.gl_pathc; i++)
    test_fixture_round_trip (g.gl_pathv[i]);

  /* json_equal must be able to say no, or the round trips prove nothing. */
  da = read_file (g.gl_pathv[0], &la);
  db = read_file (g.gl_pathv[1], &lb);
  a = json_parse (da, la, NULL);
  b = json_parse (db, lb, NULL);
  ok (a && b && !json_equal (a, b), "two different fixtures are not json_equal");
}

static void
test_numbers (void)
{
  static const char text[] = "{\"a\":1.50,\"b\":1e3,\"c\":18446744073709551615,\"d\":-0,\"e\":1E+2,\"f\":-12.000}";
  cleanup_error corral_error_t err = NULL;
  cleanup_json json_t *v = parse (text, &err);
  cleanup_json json_t *big = NULL;
  int64_t n = 0;

  if (!ok (v != NULL, "parses numbers in every notation"))
    return;
  serializes_to (v, text, "numbers keep their original text (1.50, 1e3, 18446744073709551615, -0, 1E+2)");
  ok (!json_int64 (json_get (v, "c"), &n), "18446744073709551615 is not mistaken for an int64");
  ok (!json_int64 (json_get (v, "a"), &n), "1.50 is not an integer");
  big = parse ("[9223372036854775807,-9223372036854775808]", &err);
  ok (big && json_int64 (json_at (big, 0), &n) && n == INT64_MAX, "INT64_MAX reads back exactly");
  ok (big && json_int64 (json_at (big, 1), &n) && n == INT64_MIN, "INT64_MIN reads back exactly");
}

/* Every proper prefix of an object document is incomplete. */
static void
test_truncated (void)
{
  cleanup_free char *path = NULL;
  cleanup_free char *data = NULL;
  size_t len, last;

  xasprintf (&path, "%s/tests/fixtures/engines/podman-run.json", tap_srcdir ());
  data = read_file (path, &len);
  last = (size_t) (strrchr (data, '}') - data);
  const size_t cuts[] = { 0, 1, 2, 17, len / 3, len / 2, last - 1, last };
  for (size_t i = 0; i < sizeof (cuts) / sizeof (cuts[0]); i++)
    {
      cleanup_free char *what = NULL;
      xasprintf (&what, "podman-run.json truncated to %zu of %zu bytes", cuts[i], len);
      rejects_n (data, cuts[i], "invalid JSON", what);
    }
  rejects ("{\"a\":\"unterminated", "invalid JSON", "an unterminated string");
  rejects ("{\"a\":[1,2", "invalid JSON", "an unterminated array");
}

/* The byte offset named by a parse error, or -1. */
static long
error_offset (const corral_error_t err)
{
  const char *p = err ? strstr (err->msg, "at byte ") : NULL;
  return p ? strtol (p + strlen ("at byte "), NULL, 10) : -1;
}

/* Malformed at every byte position of a real fixture: each prefix, and the
 * document with that one byte replaced by a raw control character (invalid
 * anywhere in JSON, inside a string or between tokens).  Each must be refused
 * with an offset inside the document, never crash or be accepted.  One
 * assertion per property, naming the first position that breaks it. */
static void
test_every_byte (void)
{
  cleanup_free char *path = NULL;
  cleanup_free char *data = NULL;
  cleanup_free char *copy = NULL;
  size_t len;
  long bad_prefix = -1, bad_byte = -1, bad_offset = -1; /* first position breaking each property */

  xasprintf (&path, "%s/tests/fixtures/engines/podman-run.json", tap_srcdir ());
  data = read_file (path, &len);
  copy = xmalloc (len);
  for (size_t i = 0; i < len; i++)
    {
      cleanup_error corral_error_t perr = NULL;
      cleanup_error corral_error_t berr = NULL;
      cleanup_json json_t *prefix = json_parse (data, i, &perr);
      cleanup_json json_t *mutated = NULL;
      long off;

      if ((prefix != NULL || perr == NULL) && bad_prefix < 0)
        bad_prefix = (long) i;
      memcpy (copy, data, len);
      copy[i] = '';
      mutated = json_parse (copy, len, &berr);
      if ((mutated != NULL || berr == NULL) && bad_byte < 0)
        bad_byte = (long) i;
      off = error_offset (berr);
      /* yajl reports where its lexer stopped: at the byte, or at the end of
       * the token holding it, never before it. */
      if ((off < (long) i || off > (long) len) && bad_offset < 0)
        bad_offset = (long) i;
    }
  ok (bad_prefix < 0, "all %zu proper prefixes of podman-run.json are refused (first accepted: %ld)", len, bad_prefix);
  ok (bad_byte < 0, "a control byte at each of its %zu positions is refused (first accepted: %ld)", len, bad_byte);
  ok (bad_offset < 0, "each of those errors names an offset at or after the bad byte (first wrong: %ld)", bad_offset);
}

static void
test_rejects (void)
{
  static const char nul_in_buffer[] = "{\"a\":\"b\0c\"}";
  static const char nul_after[] = "{\"a\":1}\0";

  rejects ("", "invalid JSON", "an empty buffer");
  rejects ("   \n", "invalid JSON", "whitespace only");
  rejects ("{\"a\":1} x", "invalid JSON", "trailing garbage");
  rejects ("{\"a\":1}{\"b\":2}", "invalid JSON", "a second document after the first");
  rejects ("{\"a\":1,}", "invalid JSON", "a trailing comma");
  rejects ("{'a':1}", "invalid JSON", "single quotes");
  rejects_n (nul_in_buffer, sizeof (nul_in_buffer) - 1, "invalid JSON", "a raw NUL byte inside a string");
  rejects_n (nul_after, sizeof (nul_after) - 1, "invalid JSON", "a NUL byte after the document");
  rejects ("{\"a\":\"x\\u0000y\"}", "NUL", "\\u0000 in a string value");
  rejects ("{\"x\\u0000y\":1}", "NUL", "\\u0000 in an object key");
  rejects ("[\"\\u0000\"]", "NUL", "\\u0000 in an array element");
  rejects ("{\"a\":1,\"a\":2}", "duplicate key", "a duplicate key");
  rejects ("{\"a\":1,\"b\":2,\"c\":3,\"b\":4}", "duplicate key", "a duplicate key that is not adjacent");
  rejects ("{\"process\":{\"user\":{\"uid\":1000,\"uid\":0}}}", "duplicate key", "a duplicate key in a nested object");
  rejects ("[{\"k\":1},{\"k\":1,\"k\":1}]", "duplicate key", "a duplicate key in an object inside an array");
  accepts ("{\"a\":{\"a\":{\"a\":1}},\"b\":[{\"a\":1},{\"a\":2}]}", "the same key at different levels");
  rejects ("{\"a\":1 /* comment */}", "invalid JSON", "a block comment");
  rejects ("// comment\n{\"a\":1}", "invalid JSON", "a line comment");
  rejects ("{\"a\":\"\xff\"}", "invalid JSON", "the byte 0xff in a string");
  rejects ("{\"a\":\"\xe2\x82\"}", "invalid JSON", "a truncated 3-byte UTF-8 sequence");
  rejects ("{\"a\":\"\x80\"}", "invalid JSON", "a lone UTF-8 continuation byte");
  rejects ("{\"\xc3\":1}", "invalid JSON", "invalid UTF-8 in a key");
  accepts ("{\"caf\xc3\xa9\":\"\xe2\x82\xac \xf0\x9f\x90\xb3\"}", "valid multi-byte UTF-8");
  rejects ("{\"a\":NaN}", "invalid JSON", "NaN");
}

/* yajl checks only the shape of a sequence; json.c adds RFC 3629's rules. */
static void
test_utf8_strictness (void)
{
  cleanup_json json_t *overlong = parse ("{\"a\":\"\xc0\xaf\"}", NULL);
  cleanup_json json_t *surrogate = parse ("{\"a\":\"\xed\xa0\x80\"}", NULL);
  cleanup_json json_t *too_big = parse ("{\"a\":\"\xf5\x80\x80\x80\"}", NULL);

  ok (overlong == NULL, "rejects an overlong encoding of '/' (C0 AF)");
  ok (surrogate == NULL, "rejects a UTF-8-encoded surrogate (ED A0 80)");
  ok (too_big == NULL, "rejects a code point above U+10FFFF");
}

static char *
nested_arrays (size_t depth)
{
  char *s = xmalloc (2 * depth + 1);

  memset (s, '[', depth);
  memset (s + depth, ']', depth);
  s[2 * depth] = '\0';
  return s;
}

static char *
nested_objects (size_t depth)
{
  char *s = xmalloc (6 * depth + 2);
  size_t k = 0;

  for (size_t i = 0; i < depth; i++)
    k += (size_t) sprintf (s + k, "{\"a\":");
  s[k++] = '1';
  memset (s + k, '}', depth);
  s[k + depth] = '\0';
  return s;
}

static void
test_depth (void)
{
  cleanup_free char *max_arrays = nested_arrays (JSON_MAX_DEPTH);
  cleanup_free char *deep_arrays = nested_arrays (JSON_MAX_DEPTH + 1);
  cleanup_free char *max_objects = nested_objects (JSON_MAX_DEPTH);
  cleanup_free char *deep_objects = nested_objects (JSON_MAX_DEPTH + 1);
  cleanup_free char *huge = nested_arrays (200000);
  cleanup_json json_t *v = parse (max_objects, NULL);
  cleanup_free char *s = NULL;

  accepts (max_arrays, "arrays nested exactly JSON_MAX_DEPTH deep");
  rejects (deep_arrays, "nesting too deep", "arrays nested JSON_MAX_DEPTH + 1 deep");
  ok (v != NULL, "accepts objects nested exactly JSON_MAX_DEPTH deep");
  s = v ? json_serialize (v, false) : NULL;
  is_str (s, max_objects, "a JSON_MAX_DEPTH-deep tree serialises completely");
  rejects (deep_objects, "nesting too deep", "objects nested JSON_MAX_DEPTH + 1 deep");
  rejects (huge, "nesting too deep", "arrays nested 200000 deep (no stack overflow)");
}

static void
test_error_offset (void)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_json json_t *v = NULL;
  char buf[256];
  unsigned long off = 0;
  const char *p;

  /* The bad byte 'x' is at offset 5 + 100 = 105. */
  snprintf (buf, sizeof (buf), "{\"a\":%100sx}", "");
  v = parse (buf, &err);
  ok (v == NULL, "rejects a bare word after 100 spaces");
  p = err ? strstr (err->msg, "at byte ") : NULL;
  if (!ok (p != NULL, "the error names a byte offset (%s)", err ? err->msg : "no error"))
    return;
  off = strtoul (p + strlen ("at byte "), NULL, 10);
  ok (off >= 105 && off <= 107, "the offset (%lu) points at the bad byte (105), not the start", off);
}

static void
test_set_del (void)
{
  cleanup_json json_t *v = parse ("{\"a\":1,\"b\":2,\"c\":3}", NULL);

  json_set (v, "b", json_new_string ("x"));
  serializes_to (v, "{\"a\":1,\"b\":\"x\",\"c\":3}", "json_set on an existing key replaces it in place");
  json_set (v, "d", json_new_bool (true));
  serializes_to (v, "{\"a\":1,\"b\":\"x\",\"c\":3,\"d\":true}", "json_set on a new key appends it");
  ok (json_del (v, "b"), "json_del returns true for a present key");
  serializes_to (v, "{\"a\":1,\"c\":3,\"d\":true}", "json_del removes the member and keeps the order of the rest");
  ok (!json_del (v, "b"), "json_del returns false for an absent key");
  ok (json_del (v, "d") && json_del (v, "a"), "json_del removes the last and the first member");
  serializes_to (v, "{\"c\":3}", "one member is left");
  ok (!json_del (json_at (v, 0), "c"), "json_del on a non-object is a no-op");
}

static void
test_array_editors (void)
{
  cleanup_json json_t *a = parse ("[1,2,3]", NULL);

  json_insert_at (a, 0, json_new_int (0));
  serializes_to (a, "[0,1,2,3]", "json_insert_at 0 prepends");
  json_insert_at (a, 2, json_new_string ("m"));
  serializes_to (a, "[0,1,\"m\",2,3]", "json_insert_at in the middle shifts the rest");
  json_insert_at (a, json_len (a), json_new_null ());
  serializes_to (a, "[0,1,\"m\",2,3,null]", "json_insert_at len appends");
  json_insert_at (a, 100, json_new_int (9));
  serializes_to (a, "[0,1,\"m\",2,3,null,9]", "json_insert_at past the end appends");

  json_remove_at (a, 0);
  serializes_to (a, "[1,\"m\",2,3,null,9]", "json_remove_at 0 removes the first element");
  json_remove_at (a, 1);
  serializes_to (a, "[1,2,3,null,9]", "json_remove_at in the middle closes the gap");
  json_remove_at (a, json_len (a) - 1);
  serializes_to (a, "[1,2,3,null]", "json_remove_at len-1 removes the last element");
  json_remove_at (a, 4);
  serializes_to (a, "[1,2,3,null]", "json_remove_at out of range changes nothing");
  json_push (a, json_new_string ("s"));
  ok (json_array_has_string (a, "s") && !json_array_has_string (a, "1"),
      "json_array_has_string finds strings, not numbers");
}

static void
test_ensure (void)
{
  cleanup_json json_t *v = parse ("{\"a\":\"str\",\"b\":{\"k\":1},\"c\":[1],\"d\":null}", NULL);
  json_t *b = json_get (v, "b");
  json_t *r;

  r = json_ensure_object (v, "a");
  ok (json_is_object (r) && json_len (r) == 0 && json_get (v, "a") == r,
      "json_ensure_object replaces a string by an empty object");
  serializes_to (v, "{\"a\":{},\"b\":{\"k\":1},\"c\":[1],\"d\":null}", "the replaced value keeps its position");
  ok (json_ensure_object (v, "b") == b, "json_ensure_object returns an existing object itself");
  serializes_to (json_get (v, "b"), "{\"k\":1}", "the existing object keeps its members");
  r = json_ensure_object (v, "c");
  ok (json_is_object (r), "json_ensure_object replaces an array");
  r = json_ensure_array (v, "d");
  ok (json_is_array (r) && json_get (v, "d") == r, "json_ensure_array replaces null by an array");
  r = json_ensure_array (v, "new");
  ok (json_is_array (r) && json_key_at (v, json_len (v) - 1) && str_eq (json_key_at (v, json_len (v) - 1), "new"),
      "json_ensure_array creates a missing key at the end");
}

static void
test_copy_equal (void)
{
  cleanup_json json_t *v = parse ("{\"a\":[1,2.50,{\"b\":null}],\"c\":\"s\",\"t\":true}", NULL);
  cleanup_json json_t *c = json_deep_copy (v);
  cleanup_json json_t *reordered = parse ("{\"t\":true,\"c\":\"s\",\"a\":[1,2.50,{\"b\":null}]}", NULL);
  cleanup_json json_t *swapped = parse ("{\"a\":[2.50,1,{\"b\":null}],\"c\":\"s\",\"t\":true}", NULL);
  cleanup_json json_t *f = parse ("{\"a\":[1,2.50,{\"b\":null}],\"c\":\"s\",\"t\":false}", NULL);
  cleanup_json json_t *extra = parse ("{\"a\":[1,2.50,{\"b\":null}],\"c\":\"s\",\"t\":true,\"x\":1}", NULL);
  cleanup_free char *sv = json_serialize (v, false);
  cleanup_free char *sc = json_serialize (c, false);

  ok (c != v && json_equal (v, c), "a deep copy is a different tree that is json_equal");
  is_str (sc, sv, "a deep copy serialises identically");
  ok (json_equal (v, reordered), "objects compare as unordered maps");
  ok (!json_equal (v, swapped), "arrays compare in order");
  ok (!json_equal (v, f), "true and false differ");
  ok (!json_equal (v, extra) && !json_equal (extra, v), "an extra member makes objects differ (both ways)");

  json_set (json_at (json_get (c, "a"), 2), "b", json_new_int (7));
  ok (!json_equal (v, c), "editing the copy makes it differ");
  serializes_to (v, sv, "editing the copy leaves the original untouched");
}

static void
test_quote (void)
{
  cleanup_free char *q1 = json_quote ("say \"hi\" \\ bye");
  cleanup_free char *q2 = json_quote ("a\nb\tc\rd\be\ff\x01g\x1fh");
  cleanup_free char *q3 = json_quote (NULL);
  cleanup_free char *q4 = json_quote ("caf\xc3\xa9");
  char all[33];
  cleanup_free char *qall = NULL;
  cleanup_json json_t *back = NULL;

  is_str (q1, "\"say \\\"hi\\\" \\\\ bye\"", "json_quote escapes quotes and backslashes");
  ok (q2 && strchr (q2, '\n') == NULL && strchr (q2, '\t') == NULL && strchr (q2, '\x01') == NULL
          && strchr (q2, '\x1f') == NULL,
      "json_quote leaves no raw control character (%s)", q2);
  like (q2, "\\n", "newline becomes \\n");
  like (q2, "\\u001", "other control characters become \\u00XX");
  is_str (q3, "\"\"", "json_quote (NULL) is the empty string");
  is_str (q4, "\"caf\xc3\xa9\"", "json_quote keeps UTF-8 as is");

  for (int i = 0; i < 31; i++)
    all[i] = (char) (i + 1);
  all[31] = '"';
  all[32] = '\0';
  qall = json_quote (all);
  back = json_parse (qall, strlen (qall), NULL);
  is_str (json_string (back), all, "every control character survives quote and parse");
}

int
main (void)
{
  test_fixtures ();
  test_numbers ();
  test_truncated ();
  test_every_byte ();
  test_rejects ();
  test_utf8_strictness ();
  test_depth ();
  test_error_offset ();
  test_set_del ();
  test_array_editors ();
  test_ensure ();
  test_copy_equal ();
  test_quote ();
  return done_testing ();
}
