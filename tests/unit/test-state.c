/* corral: unit tests of shim/state.[ch] in a private temporary base
 * directory. */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <sys/stat.h>

#include "base/fs.h"
#include "services/state.h"
#include "base/util.h"
#include "tests/unit/tap.h"

#define cleanup_record __attribute__ ((cleanup (state_record_release)))

#define ROOT_CTR "/run/containerd/runc/default"
#define ROOT_DOCKER "/run/docker/runtime-runc/moby"

static char base[] = "/tmp/corral-test-state-XXXXXX";

static const state_record_t rec_runc = {
  .delegate = (char *) "/usr/sbin/runc",
  .delegate_name = (char *) "runc",
  .profile = (char *) "default",
  .bundle = (char *) "/var/lib/containers/b1",
};
static const state_record_t rec_runsc = {
  .delegate = (char *) "/usr/bin/runsc",
  .delegate_name = (char *) "gvisor",
  .profile = (char *) "untrusted",
  .bundle = (char *) "/run/containerd/b2",
};

static void
write_text (const char *path, const char *text)
{
  cleanup_close int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

  if (fd < 0 || write (fd, text, strlen (text)) != (ssize_t) strlen (text))
    bail_out ("cannot write %s: %s", path, strerror (errno));
}

static bool
exists (const char *path)
{
  struct stat st;
  return lstat (path, &st) == 0;
}

static void
is_mode (const char *path, mode_t want, const char *what)
{
  struct stat st;

  if (lstat (path, &st) < 0)
    {
      ok (false, "%s: %s exists (%s)", what, path, strerror (errno));
      return;
    }
  is_int (st.st_mode & 07777, want, "%s is mode %04o", what, (unsigned) want);
}

/* "<base>/<key>": the container dir's parent. */
static char *
key_dir (const char *root)
{
  cleanup_free char *dir = state_container_dir (base, root, "x");
  return xstrdup (dirname (dir));
}

static bool
record_is (const state_record_t *got, const state_record_t *want)
{
  return str_eq (got->delegate, want->delegate) && str_eq (got->delegate_name, want->delegate_name)
         && str_eq (got->profile, want->profile) && str_eq (got->bundle, want->bundle);
}

static void
test_round_trip (void)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_record state_record_t got = { 0 };
  cleanup_free char *dir = state_container_dir (base, ROOT_CTR, "web");
  cleanup_free char *kdir = key_dir (ROOT_CTR);
  cleanup_free char *record = NULL;
  cleanup_free char *rootfile = NULL;

  ok (state_record_write (base, ROOT_CTR, "web", &rec_runc, &err) == 0, "write a record%s%s", err ? ": " : "",
      err ? err->msg : "");
  is_int (state_record_read (base, ROOT_CTR, "web", &got, &err), 1, "read finds it");
  ok (record_is (&got, &rec_runc), "every field reads back (delegate %s, profile %s)", got.delegate, got.profile);

  xasprintf (&record, "%s/record.json", dir);
  xasprintf (&rootfile, "%s/root", kdir);
  is_mode (kdir, 0700, "the engine root's directory");
  is_mode (dir, 0700, "the container's directory");
  is_mode (record, 0600, "record.json");
  is_mode (rootfile, 0600, "the root file");
}

static void
test_no_temp_files (void)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_free char *dir = state_container_dir (base, ROOT_CTR, "tmpcheck");
  cleanup_record state_record_t got = { 0 };
  size_t entries = 0;
  bool only_record = true;
  DIR *d;
  struct dirent *de;

  for (int i = 0; i < 3; i++)
    state_record_write (base, ROOT_CTR, "tmpcheck", i == 2 ? &rec_runsc : &rec_runc, &err);
  ok (err == NULL, "rewriting a record three times works");
  d = opendir (dir);
  while (d && (de = readdir (d)))
    {
      if (str_eq (de->d_name, ".") || str_eq (de->d_name, ".."))
        continue;
      entries++;
      only_record = only_record && str_eq (de->d_name, "record.json");
    }
  if (d)
    closedir (d);
  ok (entries == 1 && only_record, "only record.json is left in the container directory (%zu entries)", entries);
  state_record_read (base, ROOT_CTR, "tmpcheck", &got, &err);
  ok (record_is (&got, &rec_runsc), "the last write wins");
}

static void
test_roots_do_not_collide (void)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_record state_record_t a = { 0 };
  cleanup_record state_record_t b = { 0 };
  cleanup_free char *da = state_container_dir (base, ROOT_CTR, "same");
  cleanup_free char *db = state_container_dir (base, ROOT_DOCKER, "same");

  ok (state_record_write (base, ROOT_CTR, "same", &rec_runc, &err) == 0
          && state_record_write (base, ROOT_DOCKER, "same", &rec_runsc, &err) == 0,
      "two engine roots write a record for the same id");
  ok (!str_eq (da, db), "their directories differ (%s, %s)", da, db);
  ok (state_record_read (base, ROOT_CTR, "same", &a, &err) == 1 && record_is (&a, &rec_runc),
      "containerd's root reads its own record");
  ok (state_record_read (base, ROOT_DOCKER, "same", &b, &err) == 1 && record_is (&b, &rec_runsc),
      "docker's root reads its own record");
}

static void
test_default_root (void)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_record state_record_t got = { 0 };
  cleanup_free char *d1 = state_container_dir (base, NULL, "pod1");
  cleanup_free char *d2 = state_container_dir (base, RUNC_DEFAULT_ROOT, "pod1");
  cleanup_free char *d3 = state_container_dir (base, "/run/runc/", "pod1");

  is_str (d1, d2, "a NULL root is the same directory as " RUNC_DEFAULT_ROOT);
  ok (!str_eq (d1, d3), "a differently spelled root is a different key");
  ok (state_record_write (base, NULL, "pod1", &rec_runc, &err) == 0, "write with a NULL root");
  is_int (state_record_read (base, RUNC_DEFAULT_ROOT, "pod1", &got, &err), 1,
          "read with " RUNC_DEFAULT_ROOT " finds it");
}

static void
test_missing_and_remove (void)
{
  cleanup_error corral_error_t err = NULL;
  state_record_t got = { .profile = (char *) "untouched" };
  cleanup_free char *dir = state_container_dir (base, ROOT_CTR, "gone");

  is_int (state_record_read (base, ROOT_CTR, "never-written", &got, &err), 0, "a missing record reads as 0");
  ok (err == NULL, "a missing record is not an error");
  is_str (got.profile, "untouched", "a missing record leaves the result alone");
  is_int (state_record_read (base, "/run/unused-root", "x", &got, &err), 0, "a root that was never used reads as 0");

  state_record_write (base, ROOT_CTR, "gone", &rec_runc, &err);
  ok (exists (dir), "the record exists before remove");
  is_int (state_record_remove (base, ROOT_CTR, "gone", &err), 0, "remove succeeds");
  ok (!exists (dir), "remove deletes the container's directory");
  is_int (state_record_read (base, ROOT_CTR, "gone", &got, &err), 0, "a removed record reads as 0");
  is_int (state_record_remove (base, ROOT_CTR, "gone", &err), 0, "removing twice is fine");
  is_int (state_record_remove (base, "/run/unused-root", "gone", &err), 0, "removing under an unused root is fine");
  ok (err == NULL, "no error was recorded by any of these");
}

static void
test_corrupt (void)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_error corral_error_t err2 = NULL;
  cleanup_record state_record_t got = { 0 };
  cleanup_free char *dir = state_container_dir (base, ROOT_CTR, "broken-ctr");
  cleanup_free char *record = NULL;

  state_record_write (base, ROOT_CTR, "broken-ctr", &rec_runc, &err);
  xasprintf (&record, "%s/record.json", dir);
  write_text (record, "{\"delegate\": \"/usr/sbin/ru");
  ok (state_record_read (base, ROOT_CTR, "broken-ctr", &got, &err) < 0, "a truncated record.json is an error");
  like (err ? err->msg : NULL, "broken-ctr", "the error names the container id");
  ok (got.delegate == NULL, "nothing is returned from a corrupt record");

  write_text (record, "{\"profile\": \"default\"}");
  ok (state_record_read (base, ROOT_CTR, "broken-ctr", &got, &err2) < 0, "a record without a delegate is an error");
  like (err2 ? err2->msg : NULL, "broken-ctr", "that error names the container id too");
  ok (got.profile == NULL, "and returns nothing");
}

static void
test_root_collision (void)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_error corral_error_t err2 = NULL;
  cleanup_error corral_error_t err3 = NULL;
  cleanup_record state_record_t got = { 0 };
  cleanup_free char *kdir = key_dir ("/run/collide");
  cleanup_free char *rootfile = NULL;

  state_record_write (base, "/run/collide", "c1", &rec_runc, &err);
  xasprintf (&rootfile, "%s/root", kdir);
  write_text (rootfile, "/run/someone-else");
  ok (state_record_write (base, "/run/collide", "c2", &rec_runc, &err) < 0,
      "write refuses a key directory whose root file names another root");
  like (err ? err->msg : NULL, "/run/someone-else", "the error names the root found there");
  ok (state_record_read (base, "/run/collide", "c1", &got, &err2) < 0, "read refuses it too");
  like (err2 ? err2->msg : NULL, "/run/collide", "the error names the root asked for");
  ok (state_record_remove (base, "/run/collide", "c1", &err3) < 0, "remove refuses it too");
}

/* An id is a file name: one that climbs out of the key directory must not
 * be used (the CLI checks ids, but delete passes on whatever it got). */
static void
test_hostile_ids (void)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_error corral_error_t err2 = NULL;
  cleanup_error corral_error_t err3 = NULL;
  cleanup_error corral_error_t err4 = NULL;
  cleanup_record state_record_t got = { 0 };
  cleanup_free char *victim = NULL;
  cleanup_free char *victim_file = NULL;
  cleanup_free char *escaped = NULL;

  xasprintf (&victim, "%s/victim", base);
  xasprintf (&victim_file, "%s/victim/keep", base);
  xasprintf (&escaped, "%s/escaped", base);
  if (mkdir (victim, 0700) < 0)
    bail_out ("mkdir %s: %s", victim, strerror (errno));
  write_text (victim_file, "precious");
  state_record_write (base, ROOT_CTR, "valid", &rec_runc, &err);

  ok (state_record_remove (base, ROOT_CTR, "../victim", &err) < 0, "remove refuses the id ../victim");
  ok (exists (victim_file), "a directory outside the key directory survives remove of ../victim");
  ok (state_record_remove (base, ROOT_CTR, victim, &err3) < 0, "remove refuses an absolute path as id");
  ok (exists (victim_file), "a directory named by an absolute id survives remove");
  ok (state_record_write (base, ROOT_CTR, "../escaped", &rec_runc, &err2) < 0, "write refuses the id ../escaped");
  ok (!exists (escaped), "write creates nothing outside the key directory");
  is_int (state_record_read (base, ROOT_CTR, "../valid", &got, &err4), -1, "read refuses the id ../valid");
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

int
main (void)
{
  if (mkdtemp (base) == NULL)
    bail_out ("mkdtemp: %s", strerror (errno));
  umask (022);

  test_round_trip ();
  test_no_temp_files ();
  test_roots_do_not_collide ();
  test_default_root ();
  test_missing_and_remove ();
  test_corrupt ();
  test_root_collision ();
  test_hostile_ids ();

  if (rm_rf (base) < 0 || exists (base))
    diag ("could not remove %s", base);
  return done_testing ();
}
