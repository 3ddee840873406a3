/* corral: strict JSON parsing into yajl trees, tree editing and a generic
 * writer.  yajl's own yajl_tree_parse is not used: it reads NUL-terminated
 * text (a NUL byte would silently cut the document), keeps duplicate keys and
 * has no depth bound. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>
#include <stdio.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>
#include <yajl/yajl_tree.h>

#include "base/json.h"
#include "base/util.h"

struct builder
{
  json_t *root;
  json_t *stack[JSON_MAX_DEPTH + 1];
  size_t depth;
  char *key; /* pending key in the current object */
  const char *failure;
};

static json_t *
node_new (yajl_type type)
{
  json_t *v = xmalloc0 (sizeof (*v));
  v->type = type;
  return v;
}

static void
object_append (json_t *obj, char *key, json_t *val)
{
  size_t n = obj->u.object.len;
  obj->u.object.keys = xrealloc (obj->u.object.keys, (n + 1) * sizeof (char *));
  obj->u.object.values = xrealloc (obj->u.object.values, (n + 1) * sizeof (json_t *));
  obj->u.object.keys[n] = key;
  obj->u.object.values[n] = val;
  obj->u.object.len = n + 1;
}

void
json_push (json_t *arr, json_t *val)
{
  size_t n = arr->u.array.len;
  arr->u.array.values = xrealloc (arr->u.array.values, (n + 1) * sizeof (json_t *));
  arr->u.array.values[n] = val;
  arr->u.array.len = n + 1;
}

/* Attach a finished value to its parent, or make it the root. */
static int
attach (struct builder *b, json_t *v)
{
  json_t *parent = b->depth ? b->stack[b->depth - 1] : NULL;

  if (parent == NULL)
    b->root = v;
  else if (parent->type == yajl_t_array)
    json_push (parent, v);
  else
    object_append (parent, steal_pointer (&b->key), v);
  return 1;
}

static int
cb_null (void *ctx)
{
  return attach (ctx, node_new (yajl_t_null));
}

static int
cb_boolean (void *ctx, int val)
{
  return attach (ctx, node_new (val ? yajl_t_true : yajl_t_false));
}

static int
cb_number (void *ctx, const char *s, size_t len)
{
  json_t *v = node_new (yajl_t_number);
  char *end;

  v->u.number.r = xstrndup (s, len);
  errno = 0;
  v->u.number.i = strtoll (v->u.number.r, &end, 10);
  if (errno == 0 && *end == '\0')
    v->u.number.flags |= YAJL_NUMBER_INT_VALID;
  errno = 0;
  v->u.number.d = strtod (v->u.number.r, &end);
  if (errno == 0 && *end == '\0')
    v->u.number.flags |= YAJL_NUMBER_DOUBLE_VALID;
  return attach (ctx, v);
}

/* yajl checks only the shape of UTF-8 sequences; refuse overlong forms,
 * surrogates and code points above U+10FFFF too (RFC 3629), so that every
 * consumer of the spec decodes the same text. */
static bool
utf8_is_valid (const unsigned char *s, size_t len)
{
  size_t i = 0;

  while (i < len)
    {
      unsigned char c = s[i];
      uint32_t cp;
      size_t n;

      if (c < 0x80)
        {
          i++;
          continue;
        }
      if (c >= 0xc2 && c <= 0xdf)
        n = 1, cp = c & 0x1f;
      else if (c >= 0xe0 && c <= 0xef)
        n = 2, cp = c & 0x0f;
      else if (c >= 0xf0 && c <= 0xf4)
        n = 3, cp = c & 0x07;
      else
        return false;
      if (len - i <= n)
        return false;
      for (size_t k = 1; k <= n; k++)
        {
          if ((s[i + k] & 0xc0) != 0x80)
            return false;
          cp = (cp << 6) | (s[i + k] & 0x3f);
        }
      if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return false;
      i += n + 1;
    }
  return true;
}

static int
cb_string (void *ctx, const unsigned char *s, size_t len)
{
  struct builder *b = ctx;
  json_t *v;

  /* "\u0000" decodes to a NUL that would truncate the C string. */
  if (memchr (s, '\0', len))
    {
      b->failure = "string contains a NUL character";
      return 0;
    }
  if (!utf8_is_valid (s, len))
    {
      b->failure = "string is not valid UTF-8";
      return 0;
    }
  v = node_new (yajl_t_string);
  v->u.string = xstrndup ((const char *) s, len);
  return attach (b, v);
}

static int
cb_map_key (void *ctx, const unsigned char *s, size_t len)
{
  struct builder *b = ctx;

  if (memchr (s, '\0', len))
    {
      b->failure = "object key contains a NUL character";
      return 0;
    }
  if (!utf8_is_valid (s, len))
    {
      b->failure = "object key is not valid UTF-8";
      return 0;
    }
  free (b->key);
  b->key = xstrndup ((const char *) s, len);
  return 1;
}

static int
open_container (struct builder *b, yajl_type type)
{
  json_t *v;

  if (b->depth >= JSON_MAX_DEPTH)
    {
      b->failure = "nesting too deep";
      return 0;
    }
  v = node_new (type);
  attach (b, v);
  b->stack[b->depth++] = v;
  return 1;
}

static int
cb_start_map (void *ctx)
{
  return open_container (ctx, yajl_t_object);
}

static int
cb_start_array (void *ctx)
{
  return open_container (ctx, yajl_t_array);
}

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* Duplicate keys are refused: which one an engine or runc honours differs, so
 * a spec could show corral one value and the delegate another.  Sorting a copy
 * keeps the check O(n log n) for objects with many members. */
static bool
has_duplicate_keys (const json_t *obj)
{
  size_t n = obj->u.object.len;
  cleanup_free const char **keys = NULL;

  if (n < 2)
    return false;
  keys = xmalloc (n * sizeof (*keys));
  memcpy (keys, obj->u.object.keys, n * sizeof (*keys));
  qsort (keys, n, sizeof (*keys), cmp_str);
  for (size_t i = 1; i < n; i++)
    if (strcmp (keys[i - 1], keys[i]) == 0)
      return true;
  return false;
}

static int
cb_end_map (void *ctx)
{
  struct builder *b = ctx;

  if (has_duplicate_keys (b->stack[b->depth - 1]))
    {
      b->failure = "object has a duplicate key";
      return 0;
    }
  b->depth--;
  return 1;
}

static int
cb_end_array (void *ctx)
{
  struct builder *b = ctx;
  b->depth--;
  return 1;
}

static const yajl_callbacks callbacks = {
  .yajl_null = cb_null,
  .yajl_boolean = cb_boolean,
  .yajl_number = cb_number,
  .yajl_string = cb_string,
  .yajl_start_map = cb_start_map,
  .yajl_map_key = cb_map_key,
  .yajl_end_map = cb_end_map,
  .yajl_start_array = cb_start_array,
  .yajl_end_array = cb_end_array,
};

json_t *
json_parse (const char *buf, size_t len, corral_error_t *err)
{
  struct builder b = { 0 };
  yajl_handle h;
  yajl_status st;

  h = yajl_alloc (&callbacks, NULL, &b);
  if (h == NULL)
    abort ();

  st = yajl_parse (h, (const unsigned char *) buf, len);
  if (st == yajl_status_ok)
    st = yajl_complete_parse (h);

  if (st != yajl_status_ok)
    {
      size_t off = yajl_get_bytes_consumed (h);
      if (b.failure)
        corral_error_make (err, 0, "invalid JSON at byte %zu: %s", off, b.failure);
      else
        {
          unsigned char *m = yajl_get_error (h, 0, (const unsigned char *) buf, len);
          char *nl = m ? strchr ((char *) m, '\n') : NULL;
          if (nl)
            *nl = '\0';
          corral_error_make (err, 0, "invalid JSON at byte %zu: %s", off, m ? (char *) m : "parse error");
          yajl_free_error (h, m);
        }
      yajl_free (h);
      free (b.key);
      json_free (b.root);
      return NULL;
    }
  yajl_free (h);
  free (b.key);
  return b.root;
}

void
json_free (json_t *v)
{
  /* Every node is allocated with malloc exactly as yajl_tree does, so yajl's
   * destructor owns the whole tree. */
  if (v)
    yajl_tree_free (v);
}

static void
gen_value (yajl_gen g, const json_t *v)
{
  switch (v->type)
    {
    case yajl_t_string:
      yajl_gen_string (g, (const unsigned char *) v->u.string, strlen (v->u.string));
      break;
    case yajl_t_number:
      yajl_gen_number (g, v->u.number.r, strlen (v->u.number.r));
      break;
    case yajl_t_object:
      yajl_gen_map_open (g);
      for (size_t i = 0; i < v->u.object.len; i++)
        {
          const char *k = v->u.object.keys[i];
          yajl_gen_string (g, (const unsigned char *) k, strlen (k));
          gen_value (g, v->u.object.values[i]);
        }
      yajl_gen_map_close (g);
      break;
    case yajl_t_array:
      yajl_gen_array_open (g);
      for (size_t i = 0; i < v->u.array.len; i++)
        gen_value (g, v->u.array.values[i]);
      yajl_gen_array_close (g);
      break;
    case yajl_t_true:
      yajl_gen_bool (g, 1);
      break;
    case yajl_t_false:
      yajl_gen_bool (g, 0);
      break;
    case yajl_t_null:
    case yajl_t_any:
      yajl_gen_null (g);
      break;
    }
}

char *
json_serialize (const json_t *v, bool pretty)
{
  const unsigned char *out;
  size_t len;
  char *ret;
  yajl_gen g = yajl_gen_alloc (NULL);

  if (g == NULL)
    abort ();
  /* Parsed trees are at most JSON_MAX_DEPTH deep and corral adds only a few
   * shallow levels, well inside yajl_gen's own limit of 128. */
  yajl_gen_config (g, yajl_gen_beautify, pretty ? 1 : 0);
  yajl_gen_config (g, yajl_gen_indent_string, "  ");
  gen_value (g, v);
  yajl_gen_get_buf (g, &out, &len);
  ret = xstrndup ((const char *) out, len);
  yajl_gen_free (g);
  return ret;
}

char *
json_quote (const char *s)
{
  cleanup_json json_t *v = json_new_string (s ? s : "");
  return json_serialize (v, false);
}

bool
json_is_object (const json_t *v)
{
  return v && v->type == yajl_t_object;
}
bool
json_is_array (const json_t *v)
{
  return v && v->type == yajl_t_array;
}
bool
json_is_string (const json_t *v)
{
  return v && v->type == yajl_t_string;
}
bool
json_is_number (const json_t *v)
{
  return v && v->type == yajl_t_number;
}
bool
json_is_bool (const json_t *v)
{
  return v && (v->type == yajl_t_true || v->type == yajl_t_false);
}
bool
json_is_null (const json_t *v)
{
  return v && v->type == yajl_t_null;
}

const char *
json_type_name (const json_t *v)
{
  if (v == NULL)
    return "absent";
  switch (v->type)
    {
    case yajl_t_string:
      return "string";
    case yajl_t_number:
      return "number";
    case yajl_t_object:
      return "object";
    case yajl_t_array:
      return "array";
    case yajl_t_true:
    case yajl_t_false:
      return "boolean";
    default:
      return "null";
    }
}

json_t *
json_get (const json_t *obj, const char *key)
{
  if (!json_is_object (obj))
    return NULL;
  for (size_t i = 0; i < obj->u.object.len; i++)
    if (strcmp (obj->u.object.keys[i], key) == 0)
      return obj->u.object.values[i];
  return NULL;
}

const char *
json_string (const json_t *v)
{
  return json_is_string (v) ? v->u.string : NULL;
}

const char *
json_get_string (const json_t *obj, const char *key)
{
  return json_string (json_get (obj, key));
}

const char *
json_number_text (const json_t *v)
{
  return json_is_number (v) ? v->u.number.r : NULL;
}

bool
json_int64 (const json_t *v, int64_t *ret)
{
  if (!json_is_number (v) || !(v->u.number.flags & YAJL_NUMBER_INT_VALID))
    return false;
  *ret = v->u.number.i;
  return true;
}

bool
json_bool (const json_t *v, bool *ret)
{
  if (!json_is_bool (v))
    return false;
  *ret = v->type == yajl_t_true;
  return true;
}

size_t
json_len (const json_t *v)
{
  if (json_is_array (v))
    return v->u.array.len;
  if (json_is_object (v))
    return v->u.object.len;
  return 0;
}

json_t *
json_at (const json_t *arr, size_t i)
{
  return json_is_array (arr) && i < arr->u.array.len ? arr->u.array.values[i] : NULL;
}

const char *
json_key_at (const json_t *obj, size_t i)
{
  return json_is_object (obj) && i < obj->u.object.len ? obj->u.object.keys[i] : NULL;
}

json_t *
json_value_at (const json_t *obj, size_t i)
{
  return json_is_object (obj) && i < obj->u.object.len ? obj->u.object.values[i] : NULL;
}

json_t *
json_new_object (void)
{
  return node_new (yajl_t_object);
}

json_t *
json_new_array (void)
{
  return node_new (yajl_t_array);
}

json_t *
json_new_string (const char *s)
{
  json_t *v = node_new (yajl_t_string);
  v->u.string = xstrdup (s);
  return v;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool
is_json_number (const char *s)
{
  const char *p = s + (*s == '-');

  if (*p == '0')
    p++;
  else if (*p >= '1' && *p <= '9')
    while (*p >= '0' && *p <= '9')
      p++;
  else
    return false;
  if (*p == '.')
    {
      if (!(*++p >= '0' && *p <= '9'))
        return false;
      while (*p >= '0' && *p <= '9')
        p++;
    }
  if (*p == 'e' || *p == 'E')
    {
      p += p[1] == '+' || p[1] == '-' ? 2 : 1;
      if (!(*p >= '0' && *p <= '9'))
        return false;
      while (*p >= '0' && *p <= '9')
        p++;
    }
  return *p == '\0';
}

json_t *
json_new_number (const char *text)
{
  json_t *v;
  char *end;

  if (!is_json_number (text))
    abort ();
  v = node_new (yajl_t_number);
  v->u.number.r = xstrdup (text);
  errno = 0;
  v->u.number.i = strtoll (text, &end, 10);
  if (*end == '\0' && errno == 0)
    v->u.number.flags |= YAJL_NUMBER_INT_VALID;
  v->u.number.d = strtod (text, &end);
  v->u.number.flags |= YAJL_NUMBER_DOUBLE_VALID;
  return v;
}

void
json_merge (json_t *obj, const json_t *src)
{
  for (size_t i = 0; i < json_len (src); i++)
    json_set (obj, json_key_at (src, i), json_deep_copy (json_value_at (src, i)));
}

json_t *
json_new_record (const char *event)
{
  json_t *o = json_new_object ();
  char t[64];

  now_rfc3339 (t, sizeof (t));
  json_set (o, "time", json_new_string (t));
  json_set (o, "event", json_new_string (event));
  return o;
}

int
json_write_line (int fd, const json_t *v)
{
  cleanup_free char *body = NULL;
  cleanup_free char *line = NULL;
  int len;

  if (fd < 0)
    return -1;
  body = json_serialize (v, false);
  len = xasprintf (&line, "%s\n", body);
  return write (fd, line, (size_t) len) == len ? 0 : -1;
}

json_t *
json_new_int (int64_t i)
{
  json_t *v = node_new (yajl_t_number);
  xasprintf (&v->u.number.r, "%" PRId64, i);
  v->u.number.i = i;
  v->u.number.d = (double) i;
  v->u.number.flags = YAJL_NUMBER_INT_VALID | YAJL_NUMBER_DOUBLE_VALID;
  return v;
}

json_t *
json_new_bool (bool b)
{
  return node_new (b ? yajl_t_true : yajl_t_false);
}

json_t *
json_new_null (void)
{
  return node_new (yajl_t_null);
}

json_t *
json_deep_copy (const json_t *v)
{
  json_t *c = node_new (v->type);

  switch (v->type)
    {
    case yajl_t_string:
      c->u.string = xstrdup (v->u.string);
      break;
    case yajl_t_number:
      c->u.number = v->u.number;
      c->u.number.r = xstrdup (v->u.number.r);
      break;
    case yajl_t_object:
      for (size_t i = 0; i < v->u.object.len; i++)
        object_append (c, xstrdup (v->u.object.keys[i]), json_deep_copy (v->u.object.values[i]));
      break;
    case yajl_t_array:
      for (size_t i = 0; i < v->u.array.len; i++)
        json_push (c, json_deep_copy (v->u.array.values[i]));
      break;
    default:
      break;
    }
  return c;
}

/* Semantic equality: objects compare as unordered maps, numbers by value. */
bool
json_equal (const json_t *a, const json_t *b)
{
  if (a == NULL || b == NULL || a->type != b->type)
    return a == b;
  switch (a->type)
    {
    case yajl_t_string:
      return strcmp (a->u.string, b->u.string) == 0;
    case yajl_t_number:
      if ((a->u.number.flags & YAJL_NUMBER_INT_VALID) && (b->u.number.flags & YAJL_NUMBER_INT_VALID))
        return a->u.number.i == b->u.number.i;
      return strcmp (a->u.number.r, b->u.number.r) == 0;
    case yajl_t_array:
      if (a->u.array.len != b->u.array.len)
        return false;
      for (size_t i = 0; i < a->u.array.len; i++)
        if (!json_equal (a->u.array.values[i], b->u.array.values[i]))
          return false;
      return true;
    case yajl_t_object:
      if (a->u.object.len != b->u.object.len)
        return false;
      for (size_t i = 0; i < a->u.object.len; i++)
        if (!json_equal (a->u.object.values[i], json_get (b, a->u.object.keys[i])))
          return false;
      return true;
    default:
      return true;
    }
}

void
json_set (json_t *obj, const char *key, json_t *val)
{
  for (size_t i = 0; i < obj->u.object.len; i++)
    if (strcmp (obj->u.object.keys[i], key) == 0)
      {
        json_free (obj->u.object.values[i]);
        obj->u.object.values[i] = val;
        return;
      }
  object_append (obj, xstrdup (key), val);
}

bool
json_del (json_t *obj, const char *key)
{
  size_t n = json_is_object (obj) ? obj->u.object.len : 0;

  for (size_t i = 0; i < n; i++)
    if (strcmp (obj->u.object.keys[i], key) == 0)
      {
        free ((char *) obj->u.object.keys[i]);
        json_free (obj->u.object.values[i]);
        memmove (&obj->u.object.keys[i], &obj->u.object.keys[i + 1], (n - i - 1) * sizeof (char *));
        memmove (&obj->u.object.values[i], &obj->u.object.values[i + 1], (n - i - 1) * sizeof (json_t *));
        obj->u.object.len = n - 1;
        return true;
      }
  return false;
}

static json_t *
ensure_type (json_t *obj, const char *key, yajl_type type)
{
  json_t *v = json_get (obj, key);

  if (v && v->type == type)
    return v;
  v = node_new (type);
  json_set (obj, key, v);
  return v;
}

json_t *
json_ensure_object (json_t *obj, const char *key)
{
  return ensure_type (obj, key, yajl_t_object);
}

json_t *
json_ensure_array (json_t *obj, const char *key)
{
  return ensure_type (obj, key, yajl_t_array);
}

void
json_insert_at (json_t *arr, size_t i, json_t *val)
{
  size_t n = arr->u.array.len;

  if (i > n)
    i = n;
  json_push (arr, val);
  memmove (&arr->u.array.values[i + 1], &arr->u.array.values[i], (n - i) * sizeof (json_t *));
  arr->u.array.values[i] = val;
}

void
json_remove_at (json_t *arr, size_t i)
{
  size_t n = arr->u.array.len;

  if (i >= n)
    return;
  json_free (arr->u.array.values[i]);
  memmove (&arr->u.array.values[i], &arr->u.array.values[i + 1], (n - i - 1) * sizeof (json_t *));
  arr->u.array.len = n - 1;
}

bool
json_array_has_string (const json_t *arr, const char *s)
{
  for (size_t i = 0; i < json_len (arr); i++)
    if (str_eq (json_string (json_at (arr, i)), s))
      return true;
  return false;
}

int
json_check_keys (const json_t *obj, const char *path, const char *const allowed[], corral_error_t *err)
{
  if (!json_is_object (obj))
    return corral_error_make (err, 0, "%s: expected an object, found %s", path, json_type_name (obj));
  for (size_t i = 0; i < json_len (obj); i++)
    {
      const char *k = json_key_at (obj, i);
      bool ok = false;
      for (size_t j = 0; allowed[j] && !ok; j++)
        ok = str_eq (allowed[j], k);
      if (!ok)
        return corral_error_make (err, 0, "%s: unknown key \"%s\"", path, k);
    }
  return 0;
}
