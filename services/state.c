/* corral: state records under /run/corral (root-owned, 0700). */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>

#include "base/fs.h"
#include "services/state.h"
#include "base/util.h"
#include "base/json.h"

#define RECORD_NAME "record.json"
#define RECORD_MAX (64 * 1024)

void
state_record_release (state_record_t *r)
{
  free (r->delegate);
  free (r->delegate_name);
  free (r->profile);
  free (r->bundle);
  free (r->id);
  free (r->agent);
  free (r->engine);
  free (r->audit_path);
  free (r->audit_key);
  strv_free (r->delegate_args);
  strv_free (r->egress);
  strv_free (r->ingress);
  free (r->dns_upstream);
  strv_free (r->ask);
  strv_free (r->ask_alert);
  memset (r, 0, sizeof (*r));
}

/* FNV-1a: not for security, only to turn an arbitrary root path into a short
 * file name.  The clear root is kept beside it and checked on use. */
static uint64_t
fnv1a (const char *s)
{
  uint64_t h = 0xcbf29ce484222325ULL;
  for (; *s; s++)
    h = (h ^ (unsigned char) *s) * 0x100000001b3ULL;
  return h;
}

static char *
root_dir (const char *base, const char *engine_root)
{
  char *ret;
  xasprintf (&ret, "%s/%016" PRIx64, base, fnv1a (engine_root ? engine_root : RUNC_DEFAULT_ROOT));
  return ret;
}

char *
state_runsc_root (const char *base, const char *engine_root)
{
  char *ret;
  xasprintf (&ret, "%s/runsc/%016" PRIx64, base, fnv1a (engine_root ? engine_root : RUNC_DEFAULT_ROOT));
  return ret;
}

char *
state_container_dir (const char *base, const char *engine_root, const char *id)
{
  cleanup_free char *dir = root_dir (base, engine_root);
  char *ret;
  xasprintf (&ret, "%s/%s", dir, id);
  return ret;
}

/* The id becomes a path below <base>/<key>: "../x" or "/etc" would reach
 * outside it (and remove deletes recursively). */
bool
state_id_is_valid (const char *id)
{
  size_t n = id ? strlen (id) : 0;

  if (n == 0 || n > 1024 || str_eq (id, ".") || str_eq (id, ".."))
    return false;
  for (size_t i = 0; i < n; i++)
    {
      char c = id[i];
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '+'
            || c == '-' || c == '.'))
        return false;
    }
  return true;
}

static int
check_id (const char *id, corral_error_t *err)
{
  if (!state_id_is_valid (id))
    return corral_error_make (err, 0, "invalid container id `%s`", id ? id : "");
  return 0;
}

/* Open <base>/<key> (creating it, 0700, with its "root" file) and take an
 * exclusive lock on it.  The lock orders creates against the delete that
 * removes the directory with its last container: a create that locked a
 * directory already unlinked by that delete starts over. */
static int
open_root_dir (const char *base, const char *engine_root, bool create, int *ret_fd, corral_error_t *err)
{
  const char *root = engine_root ? engine_root : RUNC_DEFAULT_ROOT;
  cleanup_free char *dir = root_dir (base, engine_root);

  for (int attempt = 0; attempt < 100; attempt++)
    {
      cleanup_free char *seen = NULL;
      cleanup_close int fd = -1;
      cleanup_close int rfd = -1;
      struct stat st;
      size_t len;

      if (create && mkdir_p (dir, 0700, err) < 0)
        return corral_error_wrap (err, "corral state directory (is /run writable?)");
      fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0 && errno == ENOENT && !create)
        return 0;
      if (fd < 0 && errno == ENOENT)
        continue;
      if (fd < 0)
        return corral_error_make (err, errno, "open state directory `%s`", dir);
      if (flock (fd, LOCK_EX) < 0)
        return corral_error_make (err, errno, "lock state directory `%s`", dir);
      if (fstat (fd, &st) < 0)
        return corral_error_make (err, errno, "stat state directory `%s`", dir);
      if (st.st_nlink == 0)
        {
          if (!create)
            return 0;
          continue; /* removed while we waited for the lock */
        }

      rfd = openat (fd, "root", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      if (rfd < 0 && errno == ENOENT && create)
        {
          if (file_replace_at (fd, "root", root, strlen (root), 0600, err) < 0)
            return -1;
        }
      else if (rfd < 0)
        return corral_error_make (err, errno, "open `%s/root`", dir);
      else
        {
          if (fd_read_all (rfd, 4096, "root", &seen, &len, err) < 0)
            return -1;
          if (!str_eq (seen, root))
            return corral_error_make (err, 0, "state directory `%s` belongs to root `%s`, not `%s`", dir, seen, root);
        }
      *ret_fd = steal_fd (&fd);
      return 1;
    }
  return corral_error_make (err, EAGAIN, "state directory `%s` keeps disappearing", dir);
}

/* Does the locked root directory hold nothing but its "root" file? */
static bool
root_dir_is_empty (int fd)
{
  cleanup_close int dup = openat (fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d;
  struct dirent *de;
  bool empty = true;

  if (dup < 0 || (d = fdopendir (dup)) == NULL)
    return false;
  dup = -1;
  while (empty && (de = readdir (d)))
    empty = str_eq (de->d_name, ".") || str_eq (de->d_name, "..") || str_eq (de->d_name, "root");
  closedir (d);
  return empty;
}

int
state_container_dir_create (const char *base, const char *engine_root, const char *id, corral_error_t *err)
{
  cleanup_close int rootfd = -1;

  if (check_id (id, err) < 0 || open_root_dir (base, engine_root, true, &rootfd, err) < 0)
    return -1;
  if (mkdirat (rootfd, id, 0700) < 0 && errno != EEXIST)
    return corral_error_make (err, errno, "create state directory for `%s`", id);
  return 0;
}

static json_t *
strv_to_json (char *const *v)
{
  json_t *arr = json_new_array ();
  for (; *v; v++)
    json_push (arr, json_new_string (*v));
  return arr;
}

static char **
strv_from_json (const json_t *arr)
{
  char **v;

  if (!json_is_array (arr))
    return NULL;
  v = xmalloc0 ((json_len (arr) + 1) * sizeof (char *));
  for (size_t i = 0; i < json_len (arr); i++)
    v[i] = xstrdup (json_string (json_at (arr, i)) ? json_string (json_at (arr, i)) : "");
  return v;
}

static void
set_opt_string (json_t *obj, const char *key, const char *val)
{
  if (val)
    json_set (obj, key, json_new_string (val));
}

int
state_record_write (const char *base, const char *engine_root, const char *id, const state_record_t *r,
                    corral_error_t *err)
{
  cleanup_close int rootfd = -1;
  cleanup_close int dirfd = -1;
  cleanup_json json_t *obj = json_new_object ();
  cleanup_free char *data = NULL;

  if (check_id (id, err) < 0 || open_root_dir (base, engine_root, true, &rootfd, err) < 0)
    return -1;
  if (mkdirat (rootfd, id, 0700) < 0 && errno != EEXIST)
    return corral_error_make (err, errno, "create state directory for `%s`", id);
  dirfd = openat (rootfd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dirfd < 0)
    return corral_error_make (err, errno, "open state directory for `%s`", id);

  set_opt_string (obj, "delegate", r->delegate);
  set_opt_string (obj, "delegate_name", r->delegate_name);
  set_opt_string (obj, "profile", r->profile);
  set_opt_string (obj, "bundle", r->bundle);
  set_opt_string (obj, "id", r->id);
  set_opt_string (obj, "agent", r->agent);
  set_opt_string (obj, "engine", r->engine);
  set_opt_string (obj, "audit_path", r->audit_path);
  set_opt_string (obj, "audit_key", r->audit_key);
  if (r->audit_path)
    json_set (obj, "audit_fsync", json_new_bool (r->audit_fsync));
  if (r->delegate_args)
    json_set (obj, "delegate_args", strv_to_json (r->delegate_args));
  if (r->egress)
    {
      json_set (obj, "egress", strv_to_json (r->egress));
      if (r->ingress)
        json_set (obj, "ingress", strv_to_json (r->ingress));
      json_set (obj, "log_group", json_new_int (r->log_group));
      if (r->bind_names)
        json_set (obj, "bind_names", json_new_bool (true));
    }
  if (r->dns_upstream)
    {
      json_t *dns = json_new_object ();
      json_set (dns, "upstream", json_new_string (r->dns_upstream));
      json_set (dns, "grace", json_new_int (r->dns_grace));
      json_set (dns, "rcode", json_new_int (r->dns_rcode));
      if (r->ask)
        {
          json_set (dns, "ask", strv_to_json (r->ask));
          json_set (dns, "ask_timeout", json_new_int (r->ask_timeout));
          if (r->ask_alert)
            json_set (dns, "ask_alert", strv_to_json (r->ask_alert));
        }
      json_set (obj, "dns", dns);
    }
  data = json_serialize (obj, false);
  return file_replace_at (dirfd, RECORD_NAME, data, strlen (data), 0600, err);
}

static char *
dup_opt (const json_t *obj, const char *key)
{
  const char *s = json_get_string (obj, key);
  return s ? xstrdup (s) : NULL;
}

static int
record_from_fd (int fd, const char *what, state_record_t *ret, corral_error_t *err)
{
  cleanup_free char *data = NULL;
  cleanup_json json_t *obj = NULL;
  state_record_t r = { 0 };
  int64_t group = 0;
  size_t len;

  if (fd_read_all (fd, RECORD_MAX, RECORD_NAME, &data, &len, err) < 0)
    return -1;
  obj = json_parse (data, len, err);
  if (obj == NULL)
    return corral_error_wrap (err, "state record of `%s`", what);
  r.delegate = dup_opt (obj, "delegate");
  r.delegate_name = dup_opt (obj, "delegate_name");
  r.profile = dup_opt (obj, "profile");
  r.bundle = dup_opt (obj, "bundle");
  r.id = dup_opt (obj, "id");
  r.agent = dup_opt (obj, "agent");
  r.engine = dup_opt (obj, "engine");
  r.audit_path = dup_opt (obj, "audit_path");
  r.audit_key = dup_opt (obj, "audit_key");
  json_bool (json_get (obj, "audit_fsync"), &r.audit_fsync);
  r.egress = strv_from_json (json_get (obj, "egress"));
  r.ingress = strv_from_json (json_get (obj, "ingress"));
  r.delegate_args = strv_from_json (json_get (obj, "delegate_args"));
  json_int64 (json_get (obj, "log_group"), &group);
  r.log_group = (int) group;
  (void) json_bool (json_get (obj, "bind_names"), &r.bind_names);
  if (json_get (obj, "dns"))
    {
      json_t *dns = json_get (obj, "dns");
      int64_t v = 0;
      r.dns_upstream = dup_opt (dns, "upstream");
      json_int64 (json_get (dns, "grace"), &v);
      r.dns_grace = (int) v;
      v = 0;
      json_int64 (json_get (dns, "rcode"), &v);
      r.dns_rcode = (int) v;
      r.ask = strv_from_json (json_get (dns, "ask"));
      r.ask_alert = strv_from_json (json_get (dns, "ask_alert"));
      v = 0;
      json_int64 (json_get (dns, "ask_timeout"), &v);
      r.ask_timeout = (int) v;
    }
  if (r.delegate == NULL)
    {
      state_record_release (&r);
      return corral_error_make (err, 0, "state record of `%s` names no delegate", what);
    }
  *ret = r;
  return 1;
}

int
state_record_read (const char *base, const char *engine_root, const char *id, state_record_t *ret, corral_error_t *err)
{
  cleanup_close int rootfd = -1;
  cleanup_close int fd = -1;
  cleanup_free char *path = NULL;
  int r;

  if (check_id (id, err) < 0)
    return -1;
  r = open_root_dir (base, engine_root, false, &rootfd, err);
  if (r <= 0)
    return r;
  xasprintf (&path, "%s/" RECORD_NAME, id);
  fd = openat (rootfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? 0 : corral_error_make (err, errno, "open state record of `%s`", id);
  return record_from_fd (fd, id, ret, err);
}

int
state_record_read_dir (const char *dir, state_record_t *ret, corral_error_t *err)
{
  cleanup_free char *path = NULL;
  cleanup_close int fd = -1;

  xasprintf (&path, "%s/" RECORD_NAME, dir);
  fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return corral_error_make (err, errno, "open state record `%s`", path);
  return record_from_fd (fd, dir, ret, err);
}

int
state_record_remove (const char *base, const char *engine_root, const char *id, corral_error_t *err)
{
  cleanup_close int rootfd = -1;
  cleanup_free char *dir = root_dir (base, engine_root);
  int r;

  if (check_id (id, err) < 0)
    return -1;
  r = open_root_dir (base, engine_root, false, &rootfd, err);
  if (r <= 0)
    return r;
  if (remove_tree_at (rootfd, id, err) < 0)
    return -1;
  /* The last container of an engine root takes the directory with it, so
   * nothing of corral's outlives the containers (still under the lock). */
  if (root_dir_is_empty (rootfd))
    {
      (void) unlinkat (rootfd, "root", 0);
      if (rmdir (dir) < 0 && errno != ENOENT && errno != ENOTEMPTY)
        return corral_error_make (err, errno, "remove state directory `%s`", dir);
    }
  return 0;
}
