/* corral: unit tests of spec/bundle.[ch]: loading config.json from a
 * hostile bundle and replacing it atomically. */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <glob.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>

#include "base/fs.h"
#include "base/util.h"
#include "spec/bundle.h"
#include "tests/unit/testlib.h"

/* Temporary bundles live under one private directory, removed at the end. */
static char top[] = "/tmp/corral-test-bundle-XXXXXX";

static void
write_file (const char *path, const char *data, size_t len, mode_t mode)
{
  cleanup_close int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

  if (fd < 0 || write (fd, data, len) != (ssize_t) len || fchmod (fd, mode) < 0)
    bail_out ("cannot write %s: %s", path, strerror (errno));
}

static char *
new_bundle (const char *name)
{
  char *dir;

  xasprintf (&dir, "%s/%s", top, name);
  if (mkdir (dir, 0700) < 0)
    bail_out ("mkdir %s: %s", dir, strerror (errno));
  return dir;
}

static char *
config_path (const char *bundle)
{
  char *p;
  xasprintf (&p, "%s/config.json", bundle);
  return p;
}

/* Open the bundle and load its spec; the error, if any, goes to *err. */
static json_t *
load (const char *bundle, mode_t *ret_mode, corral_error_t *err)
{
  cleanup_close int fd = bundle_open (bundle, err);

  if (fd < 0)
    return NULL;
  return bundle_load_spec (fd, bundle, ret_mode, err);
}

/* Loading must fail, fast, with a message containing needle. */
static void
load_fails (const char *bundle, const char *needle, const char *what)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_json json_t *spec = NULL;
  mode_t mode = 01234;

  alarm (10); /* a blocking open of a FIFO would hang here */
  spec = load (bundle, &mode, &err);
  alarm (0);
  ok (spec == NULL, "%s is refused", what);
  like (err ? err->msg : NULL, needle, "%s: message says \"%s\"", what, needle);
  is_int (mode, 01234, "%s: the mode out-parameter is not clobbered", what);
}

static size_t
count_entries (const char *dir, bool *ret_only_config)
{
  DIR *d = opendir (dir);
  struct dirent *de;
  size_t n = 0;

  *ret_only_config = true;
  while (d && (de = readdir (d)))
    {
      if (str_eq (de->d_name, ".") || str_eq (de->d_name, ".."))
        continue;
      n++;
      if (!str_eq (de->d_name, "config.json"))
        {
          *ret_only_config = false;
          diag ("  unexpected entry %s", de->d_name);
        }
    }
  if (d)
    closedir (d);
  return n;
}

/* A new bundle named prefix + the fixture's file name whose config.json is a
 * copy of the fixture at path, with mode; its text in *ret_data. */
static char *
bundle_from_fixture (const char *path, const char *prefix, mode_t mode, char **ret_data, size_t *ret_len)
{
  cleanup_free char *name = NULL;
  cleanup_free char *cfg = NULL;
  char *bundle;

  xasprintf (&name, "%s%s", prefix, base_name (path));
  bundle = new_bundle (name);
  cfg = config_path (bundle);
  *ret_data = read_file (path, ret_len);
  write_file (cfg, *ret_data, *ret_len, mode);
  return bundle;
}

static void
test_engine_fixtures (void)
{
  cleanup_glob glob_t g = { 0 };

  glob_fixtures ("engines", 8, &g);
  for (size_t i = 0; i < g.gl_pathc; i++)
    {
      const char *name = base_name (g.gl_pathv[i]);
      cleanup_error corral_error_t err = NULL;
      cleanup_free char *data = NULL;
      cleanup_free char *bundle = NULL;
      cleanup_json json_t *want = NULL;
      cleanup_json json_t *spec = NULL;
      mode_t mode = 0;
      size_t len;

      bundle = bundle_from_fixture (g.gl_pathv[i], "", 0640, &data, &len);
      want = json_parse (data, len, NULL);
      spec = load (bundle, &mode, &err);
      ok (spec != NULL, "%s loads from a bundle%s%s", name, err ? ": " : "", err ? err->msg : "");
      ok (spec && json_equal (spec, want), "%s: the loaded tree equals the file", name);
      is_int (mode, 0640, "%s: the file mode is reported", name);
    }
}

static void
test_hostile_fixtures (void)
{
  cleanup_glob glob_t g = { 0 };

  glob_fixtures ("hostile", 5, &g);
  for (size_t i = 0; i < g.gl_pathc; i++)
    {
      const char *name = base_name (g.gl_pathv[i]);
      cleanup_free char *data = NULL;
      cleanup_free char *bundle = NULL;
      cleanup_free char *what = NULL;
      size_t len;

      bundle = bundle_from_fixture (g.gl_pathv[i], "hostile-", 0644, &data, &len);
      xasprintf (&what, "hostile fixture %s", name);
      /* The name says what is wrong with the file. */
      load_fails (bundle,
                  str_has_prefix (name, "duplicate-") ? "duplicate key"
                  : str_has_prefix (name, "nul-")     ? "NUL"
                                                      : "invalid JSON",
                  what);
    }
}

static void
test_symlinks (void)
{
  static const char spec[] = "{\"ociVersion\":\"1.0.2\",\"process\":{\"args\":[\"sh\"]}}";
  cleanup_free char *inside = new_bundle ("symlink-inside");
  cleanup_free char *outside = new_bundle ("symlink-outside");
  cleanup_free char *c1 = config_path (inside);
  cleanup_free char *c2 = config_path (outside);
  cleanup_free char *real_inside = NULL;
  cleanup_free char *real_outside = NULL;

  xasprintf (&real_inside, "%s/real.json", inside);
  xasprintf (&real_outside, "%s/elsewhere.json", top);
  write_file (real_inside, spec, strlen (spec), 0644);
  write_file (real_outside, spec, strlen (spec), 0644);
  if (symlink ("real.json", c1) < 0 || symlink (real_outside, c2) < 0)
    bail_out ("symlink: %s", strerror (errno));
  load_fails (inside, "symlink", "config.json as a symlink to a file inside the bundle");
  load_fails (outside, "symlink", "config.json as a symlink to a file outside the bundle");
}

static void
test_special_files (void)
{
  cleanup_free char *dir = new_bundle ("directory");
  cleanup_free char *fifo = new_bundle ("fifo");
  cleanup_free char *missing = new_bundle ("missing");
  cleanup_free char *c1 = config_path (dir);
  cleanup_free char *c2 = config_path (fifo);
  cleanup_free char *nowhere = NULL;

  if (mkdir (c1, 0755) < 0 || mkfifo (c2, 0644) < 0)
    bail_out ("mkdir/mkfifo: %s", strerror (errno));
  load_fails (dir, "not a regular file", "config.json as a directory");
  load_fails (fifo, "not a regular file", "config.json as a FIFO (opened without blocking)");
  load_fails (missing, "config.json", "a bundle without config.json");
  xasprintf (&nowhere, "%s/no-such-bundle", top);
  load_fails (nowhere, "no-such-bundle", "a bundle directory that does not exist");
}

static void
test_sizes (void)
{
  static const char head[] = "{\"ociVersion\":\"1.0.2\"}";
  cleanup_free char *big = new_bundle ("too-big");
  cleanup_free char *max = new_bundle ("max-size");
  cleanup_free char *c1 = config_path (big);
  cleanup_free char *c2 = config_path (max);
  cleanup_free char *data = xmalloc (SPEC_MAX_SIZE);
  cleanup_error corral_error_t err = NULL;
  cleanup_json json_t *spec = NULL;
  cleanup_close int fd = open (c1, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

  /* Sparse: the size check must come before reading 16 MiB of zeros. */
  if (fd < 0 || ftruncate (fd, (off_t) SPEC_MAX_SIZE + 1) < 0)
    bail_out ("ftruncate: %s", strerror (errno));
  load_fails (big, "more than", "a config.json of SPEC_MAX_SIZE + 1 bytes");

  /* Exactly the limit: a valid object padded with whitespace. */
  memset (data, ' ', SPEC_MAX_SIZE);
  memcpy (data, head, strlen (head));
  write_file (c2, data, SPEC_MAX_SIZE, 0644);
  spec = load (max, NULL, &err);
  ok (spec != NULL, "a config.json of exactly SPEC_MAX_SIZE bytes loads%s%s", err ? ": " : "", err ? err->msg : "");
}

static void
test_not_an_object (void)
{
  static const struct
  {
    const char *name, *text, *needle, *what;
  } cases[] = {
    { "array", "[{\"ociVersion\":\"1.0.2\"}]", "not a JSON object", "a top-level array" },
    { "string", "\"config\"", "not a JSON object", "a top-level string" },
    { "null", "null", "not a JSON object", "a top-level null" },
    { "empty", "", "config.json", "an empty config.json" },
    { "spaces", " \n\t\n", "invalid JSON", "a config.json of whitespace" },
  };

  for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++)
    {
      cleanup_free char *bundle = new_bundle (cases[i].name);
      cleanup_free char *cfg = config_path (bundle);

      write_file (cfg, cases[i].text, strlen (cases[i].text), 0644);
      load_fails (bundle, cases[i].needle, cases[i].what);
    }
}

static void
test_save_round_trip (void)
{
  static const char vendor_text[] = "{\"n\":1.50,\"big\":18446744073709551615,\"e\":1e3,\"deep\":{\"l\":[null,true]}}";
  cleanup_free char *path = NULL;
  cleanup_free char *data = NULL;
  cleanup_free char *bundle = new_bundle ("save");
  cleanup_free char *cfg = config_path (bundle);
  cleanup_error corral_error_t err = NULL;
  cleanup_json json_t *spec = NULL;
  cleanup_json json_t *back = NULL;
  cleanup_json json_t *back2 = NULL;
  cleanup_json json_t *vendor = NULL;
  cleanup_free char *want = NULL;
  cleanup_free char *got = NULL;
  cleanup_close int fd = -1;
  mode_t mode = 0;
  bool only_config;
  size_t len;

  xasprintf (&path, "%s/tests/fixtures/engines/podman-annotations.json", tap_srcdir ());
  data = read_file (path, &len);
  write_file (cfg, data, len, 0644);
  spec = load (bundle, &mode, &err);
  if (!ok (spec != NULL, "load podman-annotations.json for saving"))
    return;

  /* Fields no OCI version defines, with numbers whose text matters. */
  vendor = json_parse (vendor_text, strlen (vendor_text), NULL);
  json_set (spec, "x-vendor.example/extension", steal_pointer (&vendor));
  json_set (json_ensure_object (spec, "process"), "x-unknown-process-field", json_new_string ("kept"));

  fd = bundle_open (bundle, &err);
  ok (fd >= 0 && bundle_save_spec (fd, bundle, spec, 0640, &err) == 0, "save the edited spec with mode 0640%s%s",
      err ? ": " : "", err ? err->msg : "");
  back = load (bundle, &mode, &err);
  ok (back && json_equal (back, spec), "the saved spec loads back equal, unknown fields included");
  want = json_serialize (spec, false);
  got = back ? json_serialize (back, false) : NULL;
  is_str (got, want, "the saved spec keeps number text and member order");
  is_int (mode, 0640, "the saved file has the requested mode 0640");
  is_int (count_entries (bundle, &only_config), 1, "save leaves exactly one file in the bundle");
  ok (only_config, "that file is config.json (no temporary files left)");

  ok (bundle_save_spec (fd, bundle, spec, 0600, &err) == 0, "save again with mode 0600");
  back2 = load (bundle, &mode, &err);
  is_int (mode, 0600, "the mode follows the request (0600)");
  is_int (count_entries (bundle, &only_config), 1, "still one file after saving twice");
}

/* Saving renames over config.json: a symlink there is replaced, and the
 * file it pointed to is left alone. */
static void
test_save_over_symlink (void)
{
  static const char victim_text[] = "{\"victim\":true}";
  cleanup_free char *bundle = new_bundle ("save-symlink");
  cleanup_free char *cfg = config_path (bundle);
  cleanup_free char *victim = NULL;
  cleanup_free char *after = NULL;
  cleanup_error corral_error_t err = NULL;
  static const char spec_text[] = "{\"ociVersion\":\"1.0.2\"}";
  cleanup_json json_t *spec = json_parse (spec_text, strlen (spec_text), NULL);
  cleanup_close int fd = -1;
  struct stat st;
  size_t len;

  xasprintf (&victim, "%s/victim.json", top);
  write_file (victim, victim_text, strlen (victim_text), 0644);
  if (symlink (victim, cfg) < 0)
    bail_out ("symlink: %s", strerror (errno));
  fd = bundle_open (bundle, &err);
  ok (bundle_save_spec (fd, bundle, spec, 0644, &err) == 0, "save over a symlinked config.json");
  ok (lstat (cfg, &st) == 0 && S_ISREG (st.st_mode), "config.json is now a regular file");
  after = read_file (victim, &len);
  is_str (after, victim_text, "the symlink's target outside the bundle is unchanged");
}

static int
rm_rf (const char *path)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_free char *copy = xstrdup (path);
  cleanup_free char *copy2 = xstrdup (path);
  cleanup_close int fd = open (dirname (copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  return fd < 0 ? -1 : remove_tree_at (fd, basename (copy2), &err);
}

/* The owner of the image's HOME, looked up inside the rootfs: a symlink in
 * the image is resolved as if the rootfs were /, never on the host. */
static void
test_rootfs_dir_owner (void)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_free char *bundle = new_bundle ("rootfs-owner");
  cleanup_free char *home = NULL;
  cleanup_free char *link = NULL;
  cleanup_free char *outside = NULL;
  cleanup_close int fd = -1;
  cleanup_json json_t *spec = NULL;
  cleanup_json json_t *abs = NULL;
  /* As root, an owner that is neither root nor the default. */
  uid_t want = geteuid () == 0 ? 4321 : geteuid ();

  xasprintf (&home, "%s/rootfs/home/agent", bundle);
  xasprintf (&link, "%s/rootfs/home/escape", bundle);
  xasprintf (&outside, "%s/outside", bundle);
  if (mkdir_p (home, 0755, &err) < 0 || mkdir (outside, 0755) < 0 || symlink (outside, link) < 0)
    bail_out ("make the rootfs: %s", err ? err->msg : strerror (errno));
  if (geteuid () == 0 && chown (home, want, want) < 0)
    bail_out ("chown %s: %s", home, strerror (errno));
  fd = bundle_open (bundle, &err);
  if (fd < 0)
    bail_out ("bundle_open: %s", err->msg);
  spec = spec_parse ("{\"root\":{\"path\":\"rootfs\"}}", strlen ("{\"root\":{\"path\":\"rootfs\"}}"), "spec", &err);
  if (spec == NULL)
    bail_out ("spec_parse: %s", err->msg);

  is_int (bundle_rootfs_dir_owner (fd, spec, "/home/agent"), want, "the owner of a directory in the rootfs");
  is_int (bundle_rootfs_dir_owner (fd, spec, "/nonexistent"), -1, "a missing HOME has no owner");
  is_int (bundle_rootfs_dir_owner (fd, spec, "home/agent"), -1, "a relative HOME has no owner");
  is_int (bundle_rootfs_dir_owner (fd, spec, NULL), -1, "an unset HOME has no owner");
  /* Absolute symlink to the host path: resolved inside the rootfs, where
   * it does not exist. */
  is_int (bundle_rootfs_dir_owner (fd, spec, "/home/escape"), -1, "a symlink out of the rootfs is not followed out");
  is_int (bundle_rootfs_dir_owner (fd, spec, "/../../outside"), -1, "dot-dot stays inside the rootfs");

  {
    cleanup_free char *text = NULL;
    xasprintf (&text, "{\"root\":{\"path\":\"%s/rootfs\"}}", bundle);
    abs = spec_parse (text, strlen (text), "spec", &err);
    if (abs == NULL)
      bail_out ("spec_parse: %s", err->msg);
    is_int (bundle_rootfs_dir_owner (fd, abs, "/home/agent"), want, "an absolute root.path (Podman's) works too");
  }
}

int
main (void)
{
  if (mkdtemp (top) == NULL)
    bail_out ("mkdtemp: %s", strerror (errno));

  test_engine_fixtures ();
  test_hostile_fixtures ();
  test_symlinks ();
  test_special_files ();
  test_sizes ();
  test_not_an_object ();
  test_save_round_trip ();
  test_save_over_symlink ();
  test_rootfs_dir_owner ();

  if (rm_rf (top) < 0)
    diag ("could not remove %s", top);
  return done_testing ();
}
