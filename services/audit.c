/* corral: audit records, their HMAC chain, verify and show. */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/fs.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <stdarg.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#ifdef HAVE_SYSTEMD
#include <systemd/sd-journal.h>
#endif

#include "services/audit.h"
#include "base/fs.h"
#include "base/util.h"

#define KEY_LEN 32
#define MAC_HEX 64
#define GENESIS_MAC "0000000000000000000000000000000000000000000000000000000000000000"
/* The tail read to find the previous record starts small and doubles up
 * to far above any record corral writes (change logs included). */
#define TAIL_FIRST (16 * 1024)
#define TAIL_MAX (16 * 1024 * 1024)
#define SEAL_EVENT "seal"
#define CONTINUE_EVENT "continue"

static void
to_hex (const unsigned char *in, size_t n, char *out)
{
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++)
    {
      out[2 * i] = digits[in[i] >> 4];
      out[2 * i + 1] = digits[in[i] & 0xf];
    }
  out[2 * n] = '\0';
}

static int
from_hex (const char *s, unsigned char *out, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      unsigned v;
      if (sscanf (s + 2 * i, "%2x", &v) != 1)
        return -1;
      out[i] = (unsigned char) v;
    }
  return s[2 * n] == '\0' || s[2 * n] == '\n' ? 0 : -1;
}

/* Create a fresh random key at path unless one exists already. */
static int
create_key (const char *path, corral_error_t *err)
{
  cleanup_free char *dir = xstrdup (path);
  cleanup_close int dfd = -1;
  unsigned char key[KEY_LEN];
  char hex[2 * KEY_LEN + 2];

  *strrchr (dir, '/') = '\0';
  if (getrandom (key, KEY_LEN, 0) != KEY_LEN)
    return corral_error_make (err, errno, "getrandom for the audit key");
  to_hex (key, KEY_LEN, hex);
  strcat (hex, "\n");
  if (mkdir_p (dir, 0700, err) < 0)
    return -1;
  dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return corral_error_make (err, errno, "open `%s`", dir);
  return file_create_at (dfd, strrchr (path, '/') + 1, hex, strlen (hex), 0600, err);
}

/* Load the key, creating it (root-only) on first use.  Whoever creates it,
 * every process then reads the one file that exists, so processes starting
 * at once on a fresh host all sign with the same key. */
static int
load_key (const char *path, bool create, unsigned char *key, corral_error_t *err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  cleanup_free char *data = NULL;
  struct stat st;
  size_t len;

  if (fd < 0 && errno == ENOENT && create)
    {
      if (create_key (path, err) < 0)
        return -1;
      fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    }
  if (fd < 0)
    return corral_error_make (err, errno, "open audit key `%s`", path);
  if (fstat (fd, &st) < 0)
    return corral_error_make (err, errno, "stat audit key `%s`", path);
  if (st.st_uid != 0 || (st.st_mode & 0077))
    return corral_error_make (err, 0, "audit key `%s` must be owned by root and mode 0600", path);
  if (fd_read_all (fd, 256, path, &data, &len, err) < 0)
    return -1;
  if (len < 2 * KEY_LEN || from_hex (data, key, KEY_LEN) < 0)
    return corral_error_make (err, 0, "audit key `%s` is not %d hex bytes", path, KEY_LEN);
  return 0;
}

static int
hmac_hex (const unsigned char *key, const char *prev, const char *data, char *out)
{
  unsigned char mac[EVP_MAX_MD_SIZE];
  size_t mac_len = 0;
  cleanup_free char *msg = NULL;

  /* The previous MAC, a newline, then this record's canonical bytes. */
  xasprintf (&msg, "%s\n%s", prev, data);
  if (EVP_Q_mac (NULL, "HMAC", NULL, "SHA256", NULL, key, KEY_LEN, (const unsigned char *) msg, strlen (msg), mac,
                 sizeof (mac), &mac_len)
          == NULL
      || mac_len != MAC_HEX / 2)
    return -1;
  to_hex (mac, mac_len, out);
  return 0;
}

static void
set_opt (json_t *o, const char *key, const char *v)
{
  json_set (o, key, v ? json_new_string (v) : json_new_null ());
}

static json_t *
record_body (int64_t seq, const char *time, const char *host, const audit_subject_t *who, const char *event,
             const json_t *fields, const char *prev)
{
  json_t *o = json_new_object ();

  json_set (o, "seq", json_new_int (seq));
  json_set (o, "time", json_new_string (time));
  json_set (o, "host", json_new_string (host));
  set_opt (o, "container", who ? who->container : NULL);
  set_opt (o, "agent", who ? who->agent : NULL);
  set_opt (o, "engine", who ? who->engine : NULL);
  json_set (o, "event", json_new_string (event));
  json_set (o, "fields", fields ? json_deep_copy (fields) : json_new_object ());
  json_set (o, "prev", json_new_string (prev));
  return o;
}

char *
audit_record_line (const unsigned char *key, size_t key_len, int64_t seq, const char *prev_mac, const char *time,
                   const char *host, const audit_subject_t *who, const char *event, const json_t *fields)
{
  cleanup_json json_t *o = record_body (seq, time, host, who, event, fields, prev_mac);
  cleanup_free char *canon = json_serialize (o, false);
  char mac[MAC_HEX + 1];

  if (key_len != KEY_LEN || hmac_hex (key, prev_mac, canon, mac) < 0)
    return NULL;
  json_set (o, "mac", json_new_string (mac));
  return json_serialize (o, false);
}

/* The last line of the tail [start, size) of fd, in *ret_buf; NULL in
 * *ret_line when the tail holds no line start (read more). */
static int
read_tail (int fd, off_t size, size_t want, char **ret_buf, char **ret_line, corral_error_t *err)
{
  off_t start = size > (off_t) want ? size - (off_t) want : 0;
  size_t len = (size_t) (size - start);
  char *buf = xmalloc (len + 1), *nl;

  *ret_buf = buf;
  *ret_line = NULL;
  if (pread (fd, buf, len, start) != (ssize_t) len)
    return corral_error_make (err, errno, "read the audit log's tail");
  buf[len] = '\0';
  if (buf[len - 1] != '\n')
    return corral_error_make (err, 0, "the audit log ends in a partial record: run `corral audit verify`");
  buf[len - 1] = '\0';
  nl = strrchr (buf, '\n');
  if (nl)
    *ret_line = nl + 1;
  else if (start == 0)
    *ret_line = buf;
  return 0;
}

/* seq and mac of the last complete line of fd, or genesis.  Only the tail
 * is read: the log grows for ever, records are a few hundred bytes. */
static int
last_record (int fd, int64_t *ret_seq, char *ret_mac, corral_error_t *err)
{
  cleanup_json json_t *o = NULL;
  struct stat st;
  char *line = NULL;

  *ret_seq = 0;
  strcpy (ret_mac, GENESIS_MAC);
  if (fstat (fd, &st) < 0)
    return corral_error_make (err, errno, "stat the audit log");
  if (st.st_size == 0)
    return 0;
  for (size_t want = TAIL_FIRST; line == NULL; want *= 2)
    {
      cleanup_free char *buf = NULL;

      if (want > TAIL_MAX)
        return corral_error_make (err, 0, "the audit log's last record is over %d bytes: run `corral audit verify`",
                                  TAIL_MAX);
      if (read_tail (fd, st.st_size, want, &buf, &line, err) < 0)
        return -1;
      if (line)
        o = json_parse (line, strlen (line), err);
    }
  if (o == NULL || !json_int64 (json_get (o, "seq"), ret_seq) || json_get_string (o, "mac") == NULL
      || strlen (json_get_string (o, "mac")) != MAC_HEX)
    return corral_error_make (err, 0, "the audit log's last record is unreadable: run `corral audit verify`");
  strcpy (ret_mac, json_get_string (o, "mac"));
  return 0;
}

/* Append-only at the inode (chattr +a) where the filesystem supports it,
 * or (append_only false) not, for the rename and link of a rotation. */
static int
set_append_only (int fd, bool append_only)
{
  int flags;

  if (ioctl (fd, FS_IOC_GETFLAGS, &flags) < 0)
    return -1;
  if (!!(flags & FS_APPEND_FL) == append_only)
    return 0;
  flags = append_only ? flags | FS_APPEND_FL : flags & ~FS_APPEND_FL;
  return ioctl (fd, FS_IOC_SETFLAGS, &flags);
}

/* The live log, open for appending and locked, and still the file at path:
 * a rotation may have moved the one we opened while we waited for it. */
static int
open_locked (const char *path, corral_error_t *err)
{
  for (int tries = 0; tries < 8; tries++)
    {
      cleanup_close int fd = open (path, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
      struct stat held, now;

      if (fd < 0)
        return corral_error_make (err, errno, "open audit log `%s`", path);
      /* One writer at a time: the chain needs the previous record. */
      if (flock (fd, LOCK_EX) < 0)
        return corral_error_make (err, errno, "lock audit log `%s`", path);
      if (fstat (fd, &held) < 0)
        return corral_error_make (err, errno, "stat audit log `%s`", path);
      if (fstatat (AT_FDCWD, path, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_ino == held.st_ino
          && now.st_dev == held.st_dev)
        {
          if (held.st_size == 0)
            (void) set_append_only (fd, true);
          return steal_fd (&fd);
        }
    }
  return corral_error_make (err, EAGAIN, "audit log `%s` kept being replaced while we waited for it", path);
}

/* Append one record to the locked fd, chained to its last record (or to
 * prev/seq when the file is new); its MAC in ret_mac. */
static int
append_locked (int fd, const unsigned char *key, bool do_fsync, const char *chain_prev, int64_t chain_seq,
               const audit_subject_t *who, const char *event, const json_t *fields, char *ret_mac, corral_error_t *err)
{
  cleanup_free char *line = NULL;
  cleanup_json json_t *o = NULL;
  char prev[MAC_HEX + 1], time[64], host[256] = "";
  int64_t seq;
  size_t n;

  if (last_record (fd, &seq, prev, err) < 0)
    return -1;
  if (chain_prev && seq == 0)
    {
      strcpy (prev, chain_prev);
      seq = chain_seq;
    }
  gethostname (host, sizeof (host) - 1);
  now_rfc3339 (time, sizeof (time));
  line = audit_record_line (key, KEY_LEN, seq + 1, prev, time, host, who, event, fields);
  if (line == NULL)
    return corral_error_make (err, 0, "compute the audit record's HMAC");
  n = strlen (line);
  memcpy (ret_mac, line + n - MAC_HEX - 2, MAC_HEX);
  ret_mac[MAC_HEX] = '\0';
  line = xrealloc (line, n + 2);
  line[n] = '\n';
  line[n + 1] = '\0';
  /* One write per record: O_APPEND keeps it whole. */
  if (write (fd, line, n + 1) != (ssize_t) (n + 1))
    return corral_error_make (err, errno, "write the audit log");
  if (do_fsync && fsync (fd) < 0)
    return corral_error_make (err, errno, "fsync the audit log");
#ifdef HAVE_SYSTEMD
  /* A copy for journald where it runs; its absence is not an error. */
  (void) sd_journal_send ("MESSAGE=corral %s %s", event, who && who->container ? who->container : "-",
                          "CORRAL_EVENT=%s", event, "CORRAL_CONTAINER=%s", who && who->container ? who->container : "",
                          "SYSLOG_IDENTIFIER=corral", NULL);
#endif
  return 0;
}

int
audit_append (const audit_config_t *c, const audit_subject_t *who, const char *event, const json_t *fields,
              corral_error_t *err)
{
  unsigned char key[KEY_LEN];
  cleanup_close int fd = -1;
  cleanup_free char *dir = xstrdup (c->path);
  cleanup_json json_t *bounded = audit_bound_fields (fields);
  cleanup_free char *agent = who->agent ? audit_bound_string (who->agent) : NULL;
  cleanup_free char *engine = who->engine ? audit_bound_string (who->engine) : NULL;
  audit_subject_t bwho = { .container = who->container, .agent = agent, .engine = engine };
  char mac[MAC_HEX + 1];

  fields = bounded;
  who = &bwho;
  if (load_key (c->key_path, true, key, err) < 0)
    return corral_error_wrap (err, "audit log");
  *strrchr (dir, '/') = '\0';
  if (*dir && mkdir_p (dir, 0700, err) < 0)
    return corral_error_wrap (err, "audit log");
  fd = open_locked (c->path, err);
  if (fd < 0 || append_locked (fd, key, c->fsync, NULL, 0, who, event, fields, mac, err) < 0)
    return corral_error_wrap (err, "audit log `%s`", c->path);
  return 0;
}

int
audit_record_event (const state_record_t *rec, const char *event, const json_t *fields, corral_error_t *err)
{
  audit_config_t c = { .path = rec->audit_path, .key_path = rec->audit_key, .fsync = rec->audit_fsync };
  audit_subject_t who = { .container = rec->id, .agent = rec->agent, .engine = rec->engine };

  if (rec->audit_path == NULL || rec->audit_key == NULL)
    return 0;
  return audit_append (&c, &who, event, fields, err);
}

const char *
audit_actor (char *buf, size_t len)
{
  const char *sudo = getenv ("SUDO_USER");
  struct passwd pw, *res = NULL;
  char pwbuf[1024];

  if (sudo && *sudo)
    snprintf (buf, len, "%s (uid %u via sudo)", sudo, (unsigned) getuid ());
  else if (getpwuid_r (getuid (), &pw, pwbuf, sizeof (pwbuf), &res) == 0 && res)
    snprintf (buf, len, "%s", res->pw_name);
  else
    snprintf (buf, len, "uid %u", (unsigned) getuid ());
  return buf;
}

/* seq of the first record of fd (0 when empty or unreadable). */
static int64_t
first_seq (int fd)
{
  char buf[512];
  ssize_t n = pread (fd, buf, sizeof (buf) - 1, 0);
  const char *p;

  if (n <= 0)
    return 0;
  buf[n] = '\0';
  p = strstr (buf, "\"seq\":");
  return p ? strtoll (p + strlen ("\"seq\":"), NULL, 10) : 0;
}

/* "<path>.<UTC time>" that does not exist yet. */
static char *
rotated_name (const char *path)
{
  char stamp[32], name[PATH_MAX + 64];
  struct tm tm;
  time_t now = time (NULL);

  gmtime_r (&now, &tm);
  strftime (stamp, sizeof (stamp), "%Y%m%dT%H%M%SZ", &tm);
  snprintf (name, sizeof (name), "%s.%s", path, stamp);
  for (int i = 1; i < 1000 && access (name, F_OK) == 0; i++)
    snprintf (name, sizeof (name), "%s.%s-%03d", path, stamp, i);
  return xstrdup (name);
}

static int
cmp_names (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

char **
audit_rotated_files (const char *path, size_t *ret_n)
{
  cleanup_free char *dir = xstrdup (path);
  const char *base = strrchr (path, '/') + 1;
  size_t base_len = strlen (base), n = 0;
  char **names = NULL;
  DIR *d;
  struct dirent *e;

  *strrchr (dir, '/') = '\0';
  *ret_n = 0;
  d = opendir (*dir ? dir : "/");
  if (d == NULL)
    return NULL;
  while ((e = readdir (d)))
    if (strncmp (e->d_name, base, base_len) == 0 && e->d_name[base_len] == '.' && e->d_name[base_len + 1] == '2')
      {
        names = xrealloc (names, (n + 2) * sizeof (*names));
        xasprintf (&names[n++], "%s/%s", dir, e->d_name);
        names[n] = NULL;
      }
  closedir (d);
  if (names)
    qsort (names, n, sizeof (*names), cmp_names);
  *ret_n = n;
  return names;
}

/* Remove the oldest rotated files beyond keep. */
static void
prune_rotated (const char *path, unsigned keep, FILE *out)
{
  size_t n;
  char **names = audit_rotated_files (path, &n);

  for (size_t i = 0; i < n; i++)
    {
      if (i + keep < n)
        {
          cleanup_close int fd = open (names[i], O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
          if (fd >= 0)
            (void) set_append_only (fd, false);
          if (unlink (names[i]) == 0)
            fprintf (out, "removed %s\n", names[i]);
          else
            fprintf (out, "could not remove %s: %s\n", names[i], strerror (errno));
        }
      free (names[i]);
    }
  free (names);
}

int
audit_rotate (const audit_config_t *c, int keep, FILE *out, corral_error_t *err)
{
  unsigned char key[KEY_LEN];
  cleanup_close int fd = -1;
  cleanup_close int next = -1;
  cleanup_close int dfd = -1;
  cleanup_free char *rotated = rotated_name (c->path);
  cleanup_free char *tmp = NULL;
  cleanup_free char *dir = xstrdup (c->path);
  cleanup_json json_t *seal = json_new_object ();
  cleanup_json json_t *cont = json_new_object ();
  char last_mac[MAC_HEX + 1], seal_mac[MAC_HEX + 1], mac[MAC_HEX + 1];
  int64_t last, first;
  struct stat st;

  *strrchr (dir, '/') = '\0';
  xasprintf (&tmp, "%s/.%s.rotating", dir, strrchr (c->path, '/') + 1);
  if (load_key (c->key_path, false, key, err) < 0)
    return -1;
  dfd = open (*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return corral_error_make (err, errno, "open `%s`", dir);
  fd = open_locked (c->path, err);
  if (fd < 0 || last_record (fd, &last, last_mac, err) < 0)
    return -1;
  if (last == 0)
    return corral_error_make (err, 0, "audit log `%s` is empty: nothing to rotate", c->path);
  first = first_seq (fd);

  /* The seal closes this file; the next one opens with a record chained
   * to it, so the chain runs on across files. */
  json_set (seal, "next_file", json_new_string (strrchr (c->path, '/') + 1));
  json_set (seal, "rotated_to", json_new_string (strrchr (rotated, '/') + 1));
  json_set (seal, "first_seq", json_new_int (first));
  json_set (seal, "last_seq", json_new_int (last));
  if (append_locked (fd, key, true, NULL, 0, NULL, SEAL_EVENT, seal, seal_mac, err) < 0)
    return -1;
  (void) unlink (tmp);
  next = open (tmp, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (next < 0 || flock (next, LOCK_EX) < 0)
    return corral_error_make (err, errno, "create `%s`", tmp);
  json_set (cont, "previous_file", json_new_string (strrchr (rotated, '/') + 1));
  json_set (cont, "seal_seq", json_new_int (last + 1));
  if (append_locked (next, key, true, seal_mac, last + 1, NULL, CONTINUE_EVENT, cont, mac, err) < 0)
    return -1;
  /* An append-only inode can be neither linked nor renamed: lift the flag
   * for the move (root holds CAP_LINUX_IMMUTABLE), put it back after.  The
   * live name never goes missing: the sealed file gets its new name by a
   * link, and the next file replaces it in one rename. */
  (void) set_append_only (fd, false);
  if (link (c->path, rotated) < 0 || rename (tmp, c->path) < 0)
    {
      int e = errno;
      (void) set_append_only (fd, true);
      return corral_error_make (err, e, "move the sealed audit log to `%s`", rotated);
    }
  (void) set_append_only (fd, true);
  (void) set_append_only (next, true);
  if (fsync (dfd) < 0)
    return corral_error_make (err, errno, "fsync `%s`", dir);
  if (fstat (fd, &st) == 0)
    fprintf (out, "sealed %s (records %" PRId64 "-%" PRId64 ", %lld bytes); %s continues the chain\n", rotated, first,
             last + 1, (long long) st.st_size, c->path);
  if (keep >= 0)
    prune_rotated (c->path, (unsigned) keep, out);
  return 0;
}

/* The chain as verification walks it, across files. */
struct chain
{
  char prev[MAC_HEX + 1];
  int64_t expected;
  bool anchored;    /* a record has been seen */
  bool sealed;      /* the last record seen was a seal */
  const char *file; /* the file that record came from */
  size_t records;
};

/* Check one record line (NUL-terminated) against the chain: 0, or 1 with
 * the reason printed. */
static int
verify_line (const unsigned char *key, char *line, const char *file, size_t lineno, struct chain *ch, FILE *out)
{
  cleanup_error corral_error_t perr = NULL;
  cleanup_json json_t *o = json_parse (line, strlen (line), &perr);
  cleanup_free char *want = NULL;
  cleanup_free char *canon = NULL;
  const char *prev;
  char mac[MAC_HEX + 1];
  int64_t seq;

  if (o == NULL || json_get_string (o, "mac") == NULL || !json_int64 (json_get (o, "seq"), &seq))
    {
      fprintf (out, "%s: line %zu: not an audit record%s%s\n", file, lineno, perr ? ": " : "", perr ? perr->msg : "");
      return 1;
    }
  want = xstrdup (json_get_string (o, "mac"));
  json_del (o, "mac");
  canon = json_serialize (o, false);
  prev = json_get_string (o, "prev") ? json_get_string (o, "prev") : "";
  /* Constant time: how much of a forged MAC matched must not show. */
  if (hmac_hex (key, prev, canon, mac) < 0 || strlen (want) != strlen (mac)
      || CRYPTO_memcmp (mac, want, strlen (mac)) != 0)
    {
      fprintf (out, "%s: line %zu: %s\n", file, lineno,
               !ch->anchored ? "MAC does not match: wrong key, or the record was edited"
                             : "MAC does not match: the record was edited or forged");
      return 1;
    }
  if (!ch->anchored && !str_eq (prev, GENESIS_MAC))
    fprintf (out, "%s: starts at record %" PRId64 ", continuing a file not given (rotated away?)\n", file, seq);
  else if (ch->anchored && lineno == 1 && ch->file != file && (!ch->sealed || !str_eq (prev, ch->prev)))
    {
      fprintf (out, "%s: line 1: does not continue %s: a file between them is missing, or they are out of order\n",
               file, ch->file);
      return 1;
    }
  else if (ch->anchored && (seq != ch->expected || !str_eq (prev, ch->prev)))
    {
      fprintf (out, "%s: line %zu: sequence %" PRId64 " where %" PRId64 " was due: records removed or reordered\n",
               file, lineno, seq, ch->expected);
      return 1;
    }
  ch->anchored = true;
  ch->sealed = str_eq (json_get_string (o, "event"), SEAL_EVENT);
  ch->file = file;
  ch->records++;
  strcpy (ch->prev, want);
  ch->expected = seq + 1;
  return 0;
}

static int
verify_file (const unsigned char *key, const char *path, bool last_file, struct chain *ch, FILE *out,
             corral_error_t *err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  cleanup_free char *data = NULL;
  size_t len, lineno = 0;
  char *p, *nl;

  if (fd < 0)
    return corral_error_make (err, errno, "open audit log `%s`", path);
  if (fd_read_all (fd, (size_t) 1 << 32, path, &data, &len, err) < 0)
    return -1;
  for (p = data; *p; p = nl + 1)
    {
      lineno++;
      nl = strchr (p, '\n');
      if (nl == NULL)
        {
          fprintf (out, "%s: line %zu: truncated (no end of line)\n", path, lineno);
          return 1;
        }
      *nl = '\0';
      if (ch->sealed && ch->file == path)
        {
          fprintf (out, "%s: line %zu: a record after the seal: the sealed file was appended to\n", path, lineno);
          return 1;
        }
      if (verify_line (key, p, path, lineno, ch, out) != 0)
        return 1;
    }
  if (!last_file && (ch->file != path || !ch->sealed))
    {
      fprintf (out, "%s: ends without a seal record, yet a file follows: truncated, or the seal was removed\n", path);
      return 1;
    }
  return 0;
}

int
audit_verify_files (char *const *paths, size_t n, const char *key_path, FILE *out, corral_error_t *err)
{
  unsigned char key[KEY_LEN];
  struct chain ch = { .prev = GENESIS_MAC, .expected = 1 };

  if (load_key (key_path, false, key, err) < 0)
    return -1;
  for (size_t i = 0; i < n; i++)
    {
      int r = verify_file (key, paths[i], i + 1 == n, &ch, out, err);
      if (r != 0)
        return r;
    }
  if (n == 1)
    fprintf (out, "%s: %zu records, chain intact\n", paths[0], ch.records);
  else
    fprintf (out, "%zu files, %zu records, chain intact\n", n, ch.records);
  return 0;
}

int
audit_verify (const char *path, const char *key_path, FILE *out, corral_error_t *err)
{
  char *paths[] = { (char *) path };
  return audit_verify_files (paths, 1, key_path, out, err);
}

static void
csv_field (FILE *out, const char *s, bool last)
{
  fputc ('"', out);
  for (; s && *s; s++)
    {
      if (*s == '"')
        fputc ('"', out);
      fputc (*s, out);
    }
  fputs (last ? "\"\n" : "\",", out);
}

int
audit_show (const char *path, const char *container, const char *agent, const char *since, const char *format,
            FILE *out, corral_error_t *err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  cleanup_free char *data = NULL;
  size_t len;
  char *p, *nl;
  bool csv = str_eq (format, "csv"), json = str_eq (format, "json");

  if (fd < 0)
    return corral_error_make (err, errno, "open audit log `%s`", path);
  if (fd_read_all (fd, (size_t) 1 << 32, path, &data, &len, err) < 0)
    return -1;
  if (csv)
    fputs ("seq,time,host,container,agent,event,fields\n", out);
  for (p = data; *p && (nl = strchr (p, '\n')); p = nl + 1)
    {
      cleanup_json json_t *o = NULL;
      cleanup_free char *fields = NULL;
      char seq[32];
      int64_t s = 0;

      *nl = '\0';
      o = json_parse (p, (size_t) (nl - p), NULL);
      if (o == NULL)
        continue;
      if ((container && !str_eq (json_get_string (o, "container"), container))
          || (agent && !str_eq (json_get_string (o, "agent"), agent))
          || (since && (json_get_string (o, "time") == NULL || strcmp (json_get_string (o, "time"), since) < 0)))
        continue;
      if (json)
        {
          fprintf (out, "%s\n", p);
          continue;
        }
      fields = json_serialize (json_get (o, "fields"), false);
      json_int64 (json_get (o, "seq"), &s);
      snprintf (seq, sizeof (seq), "%" PRId64, s);
      if (csv)
        {
          csv_field (out, seq, false);
          csv_field (out, json_get_string (o, "time"), false);
          csv_field (out, json_get_string (o, "host"), false);
          csv_field (out, json_get_string (o, "container"), false);
          csv_field (out, json_get_string (o, "agent"), false);
          csv_field (out, json_get_string (o, "event"), false);
          csv_field (out, fields, true);
        }
      else
        fprintf (out, "%6s %s %-12.12s %-10s %s\n", seq, json_get_string (o, "time"),
                 json_get_string (o, "container") ? json_get_string (o, "container") : "-",
                 json_get_string (o, "event"), fields);
    }
  return 0;
}
