/* corral: audit records, their HMAC chain, verify and show. */
#include "config.h"

#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#ifdef HAVE_SYSTEMD
#include <systemd/sd-journal.h>
#endif

#include "shim/audit.h"
#include "shim/fsutil.h"
#include "shim/util.h"

#define KEY_LEN 32
#define MAC_HEX 64
#define GENESIS_MAC "0000000000000000000000000000000000000000000000000000000000000000"
/* The tail read to find the previous record: far above any record corral
 * writes (change logs included). */
#define TAIL_MAX (1024 * 1024)

void
audit_config_defaults (audit_config_t *c)
{
  c->path = xstrdup (AUDIT_DEFAULT_PATH);
  c->key_path = xstrdup (AUDIT_DEFAULT_KEY);
  c->fsync = true;
  c->fail_closed = true;
}

void
audit_config_release (audit_config_t *c)
{
  free (c->path);
  free (c->key_path);
  c->path = c->key_path = NULL;
}

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

/* Load the key, creating it (root-only) on first use. */
static int
load_key (const char *path, bool create, unsigned char *key, corral_error_t *err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  cleanup_free char *data = NULL;
  struct stat st;
  size_t len;

  if (fd < 0 && errno == ENOENT && create)
    {
      cleanup_free char *dir = xstrdup (path);
      cleanup_close int dfd = -1;
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
      return file_replace_at (dfd, strrchr (path, '/') + 1, hex, strlen (hex), 0600, err);
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

/* seq and mac of the last complete line of fd, or genesis. */
static int
last_record (int fd, int64_t *ret_seq, char *ret_mac, corral_error_t *err)
{
  struct stat st;
  off_t start;
  size_t len;
  cleanup_free char *buf = NULL;
  cleanup_json json_t *o = NULL;
  char *line;

  *ret_seq = 0;
  strcpy (ret_mac, GENESIS_MAC);
  if (fstat (fd, &st) < 0)
    return corral_error_make (err, errno, "stat the audit log");
  if (st.st_size == 0)
    return 0;
  start = st.st_size > TAIL_MAX ? st.st_size - TAIL_MAX : 0;
  len = (size_t) (st.st_size - start);
  buf = xmalloc (len + 1);
  if (pread (fd, buf, len, start) != (ssize_t) len)
    return corral_error_make (err, errno, "read the audit log's tail");
  buf[len] = '\0';
  if (buf[len - 1] != '\n')
    return corral_error_make (err, 0, "the audit log ends in a partial record: run `corral audit verify`");
  buf[len - 1] = '\0';
  line = strrchr (buf, '\n');
  line = line ? line + 1 : buf;
  o = json_parse (line, strlen (line), err);
  if (o == NULL || !json_int64 (json_get (o, "seq"), ret_seq) || json_get_string (o, "mac") == NULL
      || strlen (json_get_string (o, "mac")) != MAC_HEX)
    return corral_error_make (err, 0, "the audit log's last record is unreadable: run `corral audit verify`");
  strcpy (ret_mac, json_get_string (o, "mac"));
  return 0;
}

/* Append-only at the inode (chattr +a) where the filesystem supports it. */
static void
try_append_only (int fd)
{
  int flags;

  if (ioctl (fd, FS_IOC_GETFLAGS, &flags) == 0 && !(flags & FS_APPEND_FL))
    {
      flags |= FS_APPEND_FL;
      (void) ioctl (fd, FS_IOC_SETFLAGS, &flags);
    }
}

int
audit_append (const audit_config_t *c, const audit_subject_t *who, const char *event, const json_t *fields,
              corral_error_t *err)
{
  unsigned char key[KEY_LEN];
  cleanup_close int fd = -1;
  cleanup_free char *line = NULL;
  cleanup_free char *dir = xstrdup (c->path);
  char prev[MAC_HEX + 1], time[64], host[256] = "";
  int64_t seq;
  struct stat st;
  size_t n;

  if (load_key (c->key_path, true, key, err) < 0)
    return corral_error_wrap (err, "audit log");
  *strrchr (dir, '/') = '\0';
  if (*dir && mkdir_p (dir, 0700, err) < 0)
    return corral_error_wrap (err, "audit log");
  fd = open (c->path, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return corral_error_make (err, errno, "open audit log `%s`", c->path);
  /* One writer at a time: the chain needs the previous record. */
  if (flock (fd, LOCK_EX) < 0)
    return corral_error_make (err, errno, "lock audit log `%s`", c->path);
  if (fstat (fd, &st) == 0 && st.st_size == 0)
    try_append_only (fd);
  if (last_record (fd, &seq, prev, err) < 0)
    return corral_error_wrap (err, "audit log `%s`", c->path);
  gethostname (host, sizeof (host) - 1);
  now_rfc3339 (time, sizeof (time));
  line = audit_record_line (key, KEY_LEN, seq + 1, prev, time, host, who, event, fields);
  if (line == NULL)
    return corral_error_make (err, 0, "compute the audit record's HMAC");
  n = strlen (line);
  line = xrealloc (line, n + 2);
  line[n] = '\n';
  line[n + 1] = '\0';
  /* One write per record: O_APPEND keeps it whole. */
  if (write (fd, line, n + 1) != (ssize_t) (n + 1))
    return corral_error_make (err, errno, "write audit log `%s`", c->path);
  if (c->fsync && fsync (fd) < 0)
    return corral_error_make (err, errno, "fsync audit log `%s`", c->path);
#ifdef HAVE_SYSTEMD
  /* A copy for journald where it runs; its absence is not an error. */
  (void) sd_journal_send ("MESSAGE=corral %s %s", event, who && who->container ? who->container : "-",
                          "CORRAL_EVENT=%s", event, "CORRAL_CONTAINER=%s", who && who->container ? who->container : "",
                          "SYSLOG_IDENTIFIER=corral", NULL);
#endif
  return 0;
}

int
audit_verify (const char *path, const char *key_path, FILE *out, corral_error_t *err)
{
  unsigned char key[KEY_LEN];
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  cleanup_free char *data = NULL;
  char prev[MAC_HEX + 1] = GENESIS_MAC;
  int64_t expected = 1;
  size_t len, lineno = 0, good_macs = 0;
  char *p, *nl;

  if (load_key (key_path, false, key, err) < 0)
    return -1;
  if (fd < 0)
    return corral_error_make (err, errno, "open audit log `%s`", path);
  if (fd_read_all (fd, (size_t) 1 << 32, path, &data, &len, err) < 0)
    return -1;
  for (p = data; *p; p = nl + 1)
    {
      cleanup_error corral_error_t perr = NULL;
      cleanup_json json_t *o = NULL;
      cleanup_free char *canon = NULL;
      char mac[MAC_HEX + 1];
      const char *want;
      int64_t seq;

      lineno++;
      nl = strchr (p, '\n');
      if (nl == NULL)
        {
          fprintf (out, "line %zu: truncated (no end of line)\n", lineno);
          return 1;
        }
      *nl = '\0';
      o = json_parse (p, (size_t) (nl - p), &perr);
      want = json_get_string (o, "mac");
      if (o == NULL || want == NULL || !json_int64 (json_get (o, "seq"), &seq))
        {
          fprintf (out, "line %zu: not an audit record%s%s\n", lineno, perr ? ": " : "", perr ? perr->msg : "");
          return 1;
        }
      {
        cleanup_free char *want_copy = xstrdup (want);
        json_del (o, "mac");
        canon = json_serialize (o, false);
        if (hmac_hex (key, json_get_string (o, "prev") ? json_get_string (o, "prev") : "", canon, mac) < 0
            || strcmp (mac, want_copy) != 0)
          {
            fprintf (out, "line %zu: %s\n", lineno,
                     good_macs == 0 && lineno == 1 ? "MAC does not match: wrong key, or the record was edited"
                                                   : "MAC does not match: the record was edited or forged");
            return 1;
          }
        good_macs++;
        if (seq != expected || !str_eq (json_get_string (o, "prev"), prev))
          {
            fprintf (out, "line %zu: sequence %" PRId64 " where %" PRId64 " was due: records removed or reordered\n",
                     lineno, seq, expected);
            return 1;
          }
        strcpy (prev, want_copy);
        expected = seq + 1;
      }
    }
  fprintf (out, "%s: %zu records, chain intact\n", path, lineno);
  return 0;
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
