/* Unit tests of the audit log: canonical records, the HMAC chain, and
 * verify on crafted files (edit, drop, swap, truncate, forge, wrong key). */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "services/audit.h"
#include "base/util.h"
#include "tests/unit/testlib.h"

static char dir[] = "/tmp/corral-test-audit.XXXXXX";

static void
write_file (const char *path, const char *data)
{
  FILE *f = fopen (path, "w");
  fputs (data, f);
  fclose (f);
}

/* A log at log, keyed by key, without fsync (the tests need no durability). */
static audit_config_t
test_config (char *log, char *key)
{
  return (audit_config_t){ .path = log, .key_path = key, .fsync = false, .fail_closed = true };
}

/* Verify paths with audit_verify_files (files) or paths[0] with
 * audit_verify; returns the status, and the report (or "error: ..." on
 * failure) in *ret_out. */
static int
verify_report (char **paths, size_t n, bool files, const char *key, char **ret_out)
{
  cleanup_error corral_error_t err = NULL;
  char *out = NULL;
  size_t len = 0;
  FILE *mem = open_memstream (&out, &len);
  int r = files ? audit_verify_files (paths, n, key, mem, &err) : audit_verify (paths[0], key, mem, &err);

  fclose (mem);
  if (r < 0)
    {
      free (out);
      xasprintf (&out, "error: %s", err->msg);
    }
  *ret_out = out;
  return r;
}

/* audit_verify PATH */
static int
verify (const char *path, const char *key, char **ret_out)
{
  char *paths[] = { (char *) path };
  return verify_report (paths, 1, false, key, ret_out);
}

static void
test_record_line (void)
{
  unsigned char key[32] = { 1, 2, 3 };
  audit_subject_t who = { .container = "c1", .agent = "a1", .engine = "podman" };
  cleanup_json json_t *fields = json_new_object ();
  cleanup_free char *a = NULL;
  cleanup_free char *b = NULL;
  cleanup_free char *c = NULL;

  json_set (fields, "profile", json_new_string ("default"));
  a = audit_record_line (key, 32, 1, "00", "2026-01-01T00:00:00.000000000Z", "h", &who, "create", fields);
  b = audit_record_line (key, 32, 1, "00", "2026-01-01T00:00:00.000000000Z", "h", &who, "create", fields);
  key[0] = 9;
  c = audit_record_line (key, 32, 1, "00", "2026-01-01T00:00:00.000000000Z", "h", &who, "create", fields);
  ok (a && b && strcmp (a, b) == 0, "the same record gives the same line (canonical bytes)");
  like (a, "{\"seq\":1,\"time\":\"2026-01-01T00:00:00.000000000Z\",\"host\":\"h\",\"container\":\"c1\"",
        "members in canonical order");
  like (a, "\"fields\":{\"profile\":\"default\"},\"prev\":\"00\",\"mac\":\"", "fields, prev and mac last");
  ok (a && c && strcmp (a, c) != 0, "another key gives another mac");
  ok (audit_record_line (key, 16, 1, "00", "t", "h", &who, "create", fields) == NULL, "a short key is refused");
}

/* text, written to path, must fail verification with key (the test
 * "what"), and the report must say needle (the test "where"). */
static void
tampered_fails (const char *path, const char *text, const char *key, const char *what, const char *needle,
                const char *where)
{
  char *out = NULL;

  write_file (path, text);
  is_int (verify (path, key, &out), 1, "%s", what);
  like (out, needle, "%s", where);
  free (out);
}

static void
test_chain (void)
{
  cleanup_free char *log = NULL;
  cleanup_free char *key = NULL;
  cleanup_free char *copy = NULL;
  cleanup_free char *data = NULL;
  audit_config_t c;
  audit_subject_t who = { .container = "c1", .agent = "a1", .engine = "test" };
  int appended = 0;

  xasprintf (&log, "%s/audit.jsonl", dir);
  xasprintf (&key, "%s/audit.key", dir);
  xasprintf (&copy, "%s/copy.jsonl", dir);
  c = test_config (log, key);
  for (int i = 0; i < 4; i++)
    {
      cleanup_error corral_error_t err = NULL;
      cleanup_json json_t *f = json_new_object ();
      json_set (f, "n", json_new_int (i));
      appended += audit_append (&c, &who, i == 0 ? "create" : "exec", f, &err) == 0;
    }
  is_int (appended, 4, "four records appended (key created on first use)");
  {
    struct stat st;
    ok (stat (key, &st) == 0 && (st.st_mode & 0777) == 0600, "the key is created 0600");
  }

  data = read_file (log, NULL);
  {
    char *out = NULL;
    is_int (verify (log, key, &out), 0, "an untouched log verifies");
    like (out, "4 records, chain intact", "verify counts the records");
    free (out);
  }

  /* edit one byte of line 3 */
  {
    cleanup_free char *edited = xstrdup (data);
    char *line3 = strchr (strchr (edited, '\n') + 1, '\n') + 1;
    char *n = strstr (line3, "\"n\":2");
    n[4] = '7';
    tampered_fails (copy, edited, key, "an edited byte breaks the chain", "line 3: MAC does not match",
                    "the edit is found at line 3");
  }
  /* drop line 2 */
  {
    cleanup_free char *dropped = xstrdup (data);
    char *l2 = strchr (dropped, '\n') + 1;
    char *l3 = strchr (l2, '\n') + 1;
    memmove (l2, l3, strlen (l3) + 1);
    tampered_fails (copy, dropped, key, "a dropped record breaks the chain", "line 2: sequence 3 where 2 was due",
                    "the gap is found at line 2");
  }
  /* swap lines 2 and 3 */
  {
    cleanup_free char *l1 = xstrdup (data);
    char *l2 = strchr (l1, '\n') + 1;
    char *l3 = strchr (l2, '\n') + 1;
    char *l4 = strchr (l3, '\n') + 1;
    cleanup_free char *swapped = NULL;
    xasprintf (&swapped, "%.*s%.*s%.*s%s", (int) (l2 - l1), l1, (int) (l4 - l3), l3, (int) (l3 - l2), l2, l4);
    tampered_fails (copy, swapped, key, "swapped records break the chain", "line 2: sequence 3 where 2 was due",
                    "the swap is found at line 2");
  }
  /* truncate */
  {
    cleanup_free char *cut = xstrdup (data);
    cut[strlen (cut) - 10] = '\0';
    tampered_fails (copy, cut, key, "a truncated log fails", "line 4: truncated", "the truncation is found at line 4");
  }
  /* forge: a well-formed line with a made-up mac */
  {
    cleanup_free char *forged = NULL;
    xasprintf (&forged,
               "%s{\"seq\":5,\"time\":\"t\",\"host\":\"h\",\"container\":\"c1\",\"agent\":null,\"engine\":null,"
               "\"event\":\"stop\",\"fields\":{},\"prev\":\"x\",\"mac\":\"%064d\"}\n",
               data, 0);
    tampered_fails (copy, forged, key, "a line forged without the key fails", "line 5: MAC does not match",
                    "the forgery is found at line 5");
  }
  /* wrong key */
  {
    cleanup_free char *other = NULL;
    char *out = NULL;
    xasprintf (&other, "%s/other.key", dir);
    write_file (other, "0101010101010101010101010101010101010101010101010101010101010101\n");
    chmod (other, 0600);
    is_int (verify (log, other, &out), 1, "another key does not verify the log");
    like (out, "line 1: MAC does not match: wrong key", "a wrong key is named as such");
    free (out);
  }
}

static void
append_n (const audit_config_t *c, int n, const char *event)
{
  audit_subject_t who = { .container = "c2", .agent = "a2", .engine = "test" };

  for (int i = 0; i < n; i++)
    {
      cleanup_error corral_error_t err = NULL;
      if (audit_append (c, &who, event, NULL, &err) < 0)
        bail_out ("audit_append: %s", err->msg);
    }
}

static void
rotate (const audit_config_t *c, int keep)
{
  cleanup_error corral_error_t err = NULL;
  char *out = NULL;
  size_t len = 0;
  FILE *mem = open_memstream (&out, &len);

  if (audit_rotate (c, keep, mem, &err) < 0)
    bail_out ("audit_rotate: %s", err->msg);
  fclose (mem);
  free (out);
}

/* Verify paths; is the status `want` and does the report say `needle`? */
static void
check (char **paths, size_t n, const char *key, int want, const char *needle, const char *what)
{
  char *out = NULL;

  is_int (verify_report (paths, n, true, key, &out), want, "%s: status %d", what, want);
  like (out, needle, "%s: says \"%s\"", what, needle);
  free (out);
}

/* #15: a create naming 50 000 secret-looking variables (and one 2 MiB
 * argument) writes a bounded record, and the next append still works. */
static void
test_bounded_records (void)
{
  cleanup_free char *log = NULL;
  cleanup_free char *key = NULL;
  cleanup_free char *data = NULL;
  cleanup_free char *big = xmalloc0 (2 * 1024 * 1024 + 1);
  cleanup_error corral_error_t err = NULL;
  cleanup_json json_t *f = json_new_object ();
  json_t *names = json_new_array ();
  json_t *argv = json_new_array ();
  audit_config_t c;
  audit_subject_t who = { .container = "c-big", .agent = "a1", .engine = "test" };
  char *out = NULL;
  struct stat st;

  xasprintf (&log, "%s/bounded.jsonl", dir);
  xasprintf (&key, "%s/audit.key", dir);
  c = test_config (log, key);
  for (int i = 0; i < 50000; i++)
    {
      cleanup_free char *n = NULL;
      xasprintf (&n, "SECRET_TOKEN_%06d_%s", i,
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
      json_push (names, json_new_string (n));
    }
  memset (big, 'a', 2 * 1024 * 1024);
  json_push (argv, json_new_string (big));
  json_set (f, "stripped_env", names);
  json_set (f, "command", argv);
  ok (audit_append (&c, &who, "create", f, &err) == 0, "a create record with 50 000 names is appended");
  ok (stat (log, &st) == 0 && st.st_size < 256 * 1024, "the record is bounded (%lld bytes)", (long long) st.st_size);
  data = read_file (log, NULL);
  like (data, "\"stripped_env_total\":50000", "the record counts every name");
  like (data, "SECRET_TOKEN_000000_", "the first names are kept");
  ok (strstr (data, "SECRET_TOKEN_000064_") == NULL, "names past the first 64 are left out");
  like (data, "(2097152 bytes)", "a long string is cut and says how long it was");
  {
    cleanup_error corral_error_t err2 = NULL;
    cleanup_json json_t *g = json_new_object ();
    ok (audit_append (&c, &who, "start", g, &err2) == 0, "the next record still appends: %s", err2 ? err2->msg : "");
  }
  ok (verify (log, key, &out) == 0, "the chain verifies");
  free (out);
}

static void
test_rotation (void)
{
  cleanup_free char *sub = NULL, *log = NULL, *key = NULL, *copy = NULL;
  cleanup_free char *a_data = NULL;
  audit_config_t c;
  char **rot;
  size_t n_rot;

  xasprintf (&sub, "%s/rot", dir);
  mkdir (sub, 0700);
  xasprintf (&log, "%s/audit.jsonl", sub);
  xasprintf (&key, "%s/audit.key", dir);
  xasprintf (&copy, "%s/copy.jsonl", dir);
  c = test_config (log, key);

  {
    cleanup_error corral_error_t err = NULL;
    ok (audit_rotate (&c, -1, stdout, &err) < 0 && strstr (err->msg, "nothing to rotate"),
        "an empty log is not rotated");
  }
  /* A: records 1-3 and the seal (4); B: continue (5), 6, seal (7); live:
   * continue (8), 9, 10. */
  append_n (&c, 3, "exec");
  rotate (&c, -1);
  append_n (&c, 1, "exec");
  rotate (&c, -1);
  append_n (&c, 2, "exec");
  rot = audit_rotated_files (log, &n_rot);
  if (!is_int ((int) n_rot, 2, "two rotated files, named after the log"))
    bail_out ("rotation left %zu files", n_rot);
  a_data = read_file (rot[0], NULL);
  like (a_data, "\"event\":\"seal\"", "the first rotated file holds a seal record");
  {
    char *all[] = { rot[0], rot[1], log };
    check (all, 3, key, 0, "3 files, 10 records, chain intact", "the rotated files and the live log, in order");
  }
  check (&log, 1, key, 0, "starts at record 8, continuing a file not given",
         "the live log alone verifies from where it starts");
  {
    char *missing[] = { rot[0], log };
    check (missing, 2, key, 1, "does not continue", "a missing middle file is found");
  }
  {
    char *reordered[] = { rot[1], rot[0], log };
    check (reordered, 3, key, 1, "does not continue", "files out of order are found");
  }
  {
    /* The seal removed: the file ends with its last ordinary record. */
    cleanup_free char *cut = xstrdup (a_data);
    char *all[] = { copy, rot[1], log };
    cut[strlen (cut) - 1] = '\0';
    strrchr (cut, '\n')[1] = '\0';
    write_file (copy, cut);
    check (all, 3, key, 1, "ends without a seal record", "a removed seal is found");
  }
  {
    /* A forged seal: the last line swapped for one made without the key. */
    cleanup_free char *forged = xstrdup (a_data);
    cleanup_free char *text = NULL;
    char *all[] = { copy, rot[1], log };
    forged[strlen (forged) - 1] = '\0';
    strrchr (forged, '\n')[1] = '\0';
    xasprintf (&text,
               "%s{\"seq\":4,\"time\":\"t\",\"host\":\"h\",\"container\":null,\"agent\":null,\"engine\":null,"
               "\"event\":\"seal\",\"fields\":{},\"prev\":\"x\",\"mac\":\"%064d\"}\n",
               forged, 0);
    write_file (copy, text);
    check (all, 3, key, 1, "copy.jsonl: line 4: MAC does not match", "a forged seal is found at its line");
  }
  {
    /* A record appended to a sealed file. */
    cleanup_free char *more = NULL;
    char *all[] = { copy, rot[1], log };
    xasprintf (&more, "%s%s", a_data, strchr (a_data, '\n') + 1);
    write_file (copy, more);
    check (all, 3, key, 1, "a record after the seal", "appending to a sealed file is found");
  }
  /* --keep 1 leaves the newest rotated file only (plus the new one). */
  rotate (&c, 1);
  strv_free (rot);
  rot = audit_rotated_files (log, &n_rot);
  is_int ((int) n_rot, 1, "rotate --keep 1 removes all but the newest rotated file");
  strv_free (rot);
}

/* Many processes appending at once on a host with no key yet: they must
 * agree on one key, or records signed with a losing key break the chain. */
static void
test_concurrent_first_use (void)
{
  enum
  {
    N = 16,
    EACH = 5
  };
  cleanup_free char *sub = NULL, *log = NULL, *key = NULL;
  audit_config_t c;
  pid_t pids[N];
  int gate[2], failed = 0;
  char *out = NULL;

  xasprintf (&sub, "%s/race", dir);
  xasprintf (&log, "%s/log/audit.jsonl", sub);
  xasprintf (&key, "%s/key/audit.key", sub);
  c = test_config (log, key);
  if (pipe (gate) < 0)
    bail_out ("pipe");
  for (int i = 0; i < N; i++)
    {
      pids[i] = fork ();
      if (pids[i] < 0)
        bail_out ("fork");
      if (pids[i] == 0)
        {
          char b;
          close (gate[1]);
          /* All children start appending when the parent closes the gate. */
          (void) !read (gate[0], &b, 1);
          append_n (&c, EACH, "exec");
          _exit (0);
        }
    }
  close (gate[0]);
  close (gate[1]);
  for (int i = 0; i < N; i++)
    {
      int st;
      failed += waitpid (pids[i], &st, 0) < 0 || !WIFEXITED (st) || WEXITSTATUS (st) != 0;
    }
  is_int (failed, 0, "%d processes appended at once on first use", N);
  is_int (verify (log, key, &out), 0, "they all signed with the one key that was created");
  like (out, "80 records, chain intact", "every record is in the chain");
  free (out);
}

int
main (void)
{
  if (geteuid () != 0)
    {
      printf ("1..0 # SKIP the audit key must be owned by root\n");
      return 77;
    }
  if (mkdtemp (dir) == NULL)
    return 1;
  test_record_line ();
  test_chain ();
  test_bounded_records ();
  test_rotation ();
  test_concurrent_first_use ();
  {
    cleanup_free char *cmd = NULL;
    /* The logs are append-only where the filesystem allows it. */
    xasprintf (&cmd, "chattr -R -a %s 2>/dev/null; rm -rf %s", dir, dir);
    (void) !system (cmd);
  }
  return done_testing ();
}
