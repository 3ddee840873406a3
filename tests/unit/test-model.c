/* corral: unit tests of the "keep only what we understand" model
 * (spec/harden_ns.c, harden_mounts.c, harden_fields.c, secrets.c) on
 * engine fixtures and the valid-JSON attack specs of tests/fixtures/crafted
 * (tests/fixtures/hostile holds JSON the parser must refuse), with the
 * shipped policy. */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "base/fs.h"
#include "base/util.h"
#include "spec/harden.h"
#include "spec/policy.h"
#include "spec/secrets.h"
#include "tests/unit/testlib.h"

/* Bind sources as a host would have them: /srv/link -> /srv/data, sockets
 * and FIFOs where the names say so. */
static char *
fake_resolve (const char *source)
{
  if (str_has_prefix (source, "/srv/link"))
    {
      char *r;
      xasprintf (&r, "/srv/data%s", source + strlen ("/srv/link"));
      return r;
    }
  return xstrdup (source);
}

static unsigned
fake_mode (const char *canon)
{
  if (strstr (canon, ".sock"))
    return S_IFSOCK | 0666;
  if (strstr (canon, ".fifo"))
    return S_IFIFO | 0600;
  if (strstr (canon, "/sda"))
    return S_IFBLK | 0600;
  if (strstr (canon, ".txt"))
    return S_IFREG | 0644;
  return S_IFDIR | 0755;
}

/* The host's own cgroups, as facts_cgroup_exists would find them. */
static bool
fake_cgroup_exists (const char *path)
{
  return str_eq (path, "/system.slice/ssh.service") || str_eq (path, "/user.slice");
}

static harden_ctx_t
make_ctx (const corral_profile_t *profile)
{
  harden_ctx_t ctx = { .profile = profile,
                       .seccomp_arches = test_arches,
                       .classify_join = fake_classify_join,
                       .resolve_source = fake_resolve,
                       .source_mode = fake_mode,
                       .cgroup_exists = fake_cgroup_exists };
  return ctx;
}

static json_t *
find_ns (const json_t *spec, const char *type)
{
  json_t *nss = json_get (json_get (spec, "linux"), "namespaces");

  for (size_t i = 0; i < json_len (nss); i++)
    if (str_eq (json_get_string (json_at (nss, i), "type"), type))
      return json_at (nss, i);
  return NULL;
}

static bool
msg_has (const corral_error_t err, const char *needle)
{
  return err && strstr (err->msg, needle) != NULL;
}

/* Run the whole pipeline; returns its result and leaves the error. */
static int
harden_all (json_t *spec, const corral_profile_t *p, corral_error_t *err)
{
  harden_ctx_t ctx = make_ctx (p);
  cleanup_changes changes_t changes = { 0 };

  return harden_spec (spec, &ctx, &changes, err);
}

static void
test_namespace_joins (const corral_profile_t *def, const corral_profile_t *offline)
{
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_json json_t *spec = load_fixture ("crafted", "podman-join-container-namespaces.json");

    ok (harden_all (spec, def, &err) < 0, "--pid/--ipc/--uts container:X: refused");
    ok (msg_has (err, "linux.namespaces.pid") && msg_has (err, "/proc/31353/ns/pid"),
        "the error names the field and the path");
    ok (msg_has (err, "--pid container:X"), "the error names the engine flag");
    ok (msg_has (err, "give the container its own namespace"), "the error says the way out");
  }
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_json json_t *spec = load_fixture ("crafted", "cri-app-container-joins-sandbox.json");

    ok (harden_all (spec, def, &err) == 0, "a CRI app container joining its corral sandbox is kept: %s",
        err ? err->msg : "");
    ok (str_eq (json_get_string (find_ns (spec, "network"), "path"), "/proc/4242/ns/net"), "network join kept");
    ok (str_eq (json_get_string (find_ns (spec, "ipc"), "path"), "/proc/4242/ns/ipc"), "ipc join kept");
    ok (find_ns (spec, "cgroup") && json_get (find_ns (spec, "cgroup"), "path") == NULL, "fresh cgroup namespace");
  }
  {
    /* The same joins naming another sandbox than the one holding them. */
    cleanup_error corral_error_t err = NULL;
    cleanup_json json_t *spec = load_fixture ("crafted", "cri-app-container-joins-sandbox.json");

    json_set (json_get (spec, "annotations"), "io.kubernetes.cri.sandbox-id", json_new_string ("someone-else"));
    ok (harden_all (spec, def, &err) < 0, "a join into a pod the annotations do not name: refused");
    ok (msg_has (err, "cannot prove"), "the error says the join is unproven");
  }
  {
    /* A pod sandbox is joinable for network/ipc/uts/pid, never mount. */
    cleanup_error corral_error_t err = NULL;
    cleanup_json json_t *spec = load_fixture ("crafted", "cri-app-container-joins-sandbox.json");

    json_set (find_ns (spec, "mount"), "path", json_new_string ("/proc/4242/ns/mnt"));
    ok (harden_all (spec, def, &err) < 0, "joining the sandbox's mount namespace: refused");
    ok (msg_has (err, "linux.namespaces.mount"), "the error names the mount namespace");
  }
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_json json_t *spec = load_fixture ("engines", "podman-run.json");

    json_push (json_get (json_get (spec, "linux"), "namespaces"),
               parse_json ("{\"type\":\"cgroup\",\"path\":\"/proc/self/ns/cgroup\"}"));
    ok (harden_all (spec, def, &err) < 0, "a cgroup namespace path (the host's): refused");
    ok (msg_has (err, "host's"), "the error says it is the host's");
  }
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_json json_t *spec = load_fixture ("engines", "podman-run.json");

    json_push (json_get (json_get (spec, "linux"), "namespaces"), parse_json ("{\"type\":\"time\"}"));
    ok (harden_all (spec, def, &err) < 0, "an unknown namespace kind: refused");
    ok (msg_has (err, "`time`"), "the error names the kind");
  }
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_json json_t *spec = load_fixture ("engines", "podman-run.json");

    json_push (json_get (json_get (spec, "linux"), "namespaces"), parse_json ("{\"type\":\"pid\"}"));
    ok (harden_all (spec, def, &err) < 0, "a namespace listed twice: refused");
  }
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_json json_t *spec = load_fixture ("engines", "podman-run.json");

    json_set (json_at (json_get (json_get (spec, "linux"), "namespaces"), 0), "flags", json_new_int (1));
    ok (harden_all (spec, def, &err) < 0, "an unknown key in a namespace entry: refused");
  }
  {
    /* Offline: a network join into someone else's netns is dropped, not
     * refused (a fresh netns replaces it). */
    cleanup_error corral_error_t err = NULL;
    cleanup_json json_t *spec = load_fixture ("engines", "podman-run.json");

    json_set (find_ns (spec, "network"), "path", json_new_string ("/proc/31353/ns/net"));
    ok (harden_all (spec, offline, &err) == 0, "offline: a network join is replaced by a fresh netns");
    ok (json_get (find_ns (spec, "network"), "path") == NULL, "offline: the path is gone");
  }
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_json json_t *spec = load_fixture ("engines", "podman-run.json");

    ok (harden_all (spec, def, &err) == 0, "podman's own fresh netns is kept: %s", err ? err->msg : "");
    ok (str_has_prefix (json_get_string (find_ns (spec, "network"), "path"), "/run/netns/"), "netns path kept");
  }
}

static void
test_userns (const corral_profile_t *def)
{
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_json json_t *spec = load_fixture ("crafted", "userns-nobody-is-host-root.json");

    ok (harden_all (spec, def, &err) < 0, "userns mapping container 65534 onto host uid 0: refused");
    ok (msg_has (err, "linux.uidMappings[1]") && msg_has (err, "host ids 0-0"), "the error names the mapping");
    ok (msg_has (err, "65536 and above"), "the error says the way out");
  }
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_json json_t *spec = load_fixture ("crafted", "userns-nobody-is-host-root.json");
    json_t *maps = json_get (json_get (spec, "linux"), "uidMappings");

    json_remove_at (maps, 1);
    json_set (json_at (maps, 0), "size", json_new_int (65536));
    ok (harden_all (spec, def, &err) == 0, "userns onto a subordinate range (100000+): kept: %s", err ? err->msg : "");
  }
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_json json_t *spec = load_fixture ("crafted", "userns-nobody-is-host-root.json");
    json_t *maps = json_get (json_get (spec, "linux"), "gidMappings");

    json_set (json_get (spec, "linux"), "uidMappings",
              parse_json ("[{\"containerID\":0,\"hostID\":100000,\"size\":65536}]"));
    json_set (json_at (maps, 0), "hostID", json_new_int (1000));
    ok (harden_all (spec, def, &err) < 0, "gid mapping onto host gid 1000 (a person's group): refused");
    ok (msg_has (err, "linux.gidMappings[0]"), "the error names the gid mapping");
  }
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_json json_t *spec = load_fixture ("crafted", "userns-nobody-is-host-root.json");

    json_set (find_ns (spec, "user"), "path", json_new_string ("/proc/1/ns/user"));
    ok (harden_all (spec, def, &err) < 0, "joining an existing user namespace: refused");
    ok (msg_has (err, "linux.namespaces.user"), "the error names the user namespace");
  }
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_json json_t *spec = load_fixture ("engines", "containerd-ctr-run.json");

    json_set (json_get (spec, "linux"), "uidMappings", parse_json ("[{\"containerID\":0,\"hostID\":0,\"size\":1}]"));
    ok (harden_all (spec, def, &err) < 0, "id mappings without a user namespace: refused");
  }
}

static json_t *
find_mount (const json_t *spec, const char *dest)
{
  json_t *mounts = json_get (spec, "mounts");

  for (size_t i = 0; i < json_len (mounts); i++)
    if (str_eq (json_get_string (json_at (mounts, i), "destination"), dest))
      return json_at (mounts, i);
  return NULL;
}

/* podman-run.json plus one mount (JSON text). */
static json_t *
spec_with_mount (const char *mount)
{
  json_t *spec = load_fixture ("engines", "podman-run.json");

  json_push (json_get (spec, "mounts"), parse_json (mount));
  return spec;
}

static void
expect_mount_refused (const corral_profile_t *p, const char *mount, const char *needle, const char *what)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_json json_t *spec = spec_with_mount (mount);

  ok (harden_all (spec, p, &err) < 0, "%s: refused", what);
  ok (msg_has (err, needle), "%s: the error says `%s` (%s)", what, needle, err ? err->msg : "no error");
}

/* The floor alone (harden_mounts), where the shipped profile's own
 * mount_rules would refuse the mount first. */
static void
expect_floor_refused (const corral_profile_t *p, const char *mount, const char *needle, const char *what)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_changes changes_t changes = { 0 };
  cleanup_json json_t *spec = spec_with_mount (mount);
  harden_ctx_t ctx = make_ctx (p);

  ok (harden_mounts (spec, &ctx, &changes, &err) < 0, "%s: refused by the floor", what);
  ok (msg_has (err, needle), "%s: the error says `%s` (%s)", what, needle, err ? err->msg : "no error");
}

static void
test_mounts (const corral_profile_t *def, const corral_profile_t *untrusted)
{
  expect_mount_refused (
      def,
      "{\"destination\":\"/ov\",\"type\":\"overlay\",\"source\":\"/x/merge\",\"options\":["
      "\"lowerdir=/etc/corral\",\"upperdir=/var/lib/containers/u\",\"workdir=/var/lib/containers/w\"]}",
      "overlay lowerdir `/etc/corral` is denied", "overlay of a refused source (-v /etc/corral:/ov:O)");
  expect_mount_refused (def,
                        "{\"destination\":\"/ov\",\"type\":\"overlay\",\"source\":\"overlay\",\"options\":["
                        "\"lowerdir=/srv/data,upperdir=/etc/cron.d,workdir=/var/lib/containers/w\"]}",
                        "overlay upperdir/workdir `/etc/cron.d` is denied",
                        "overlay writing into /etc (read-only rule)");
  expect_mount_refused (def,
                        "{\"destination\":\"/ov\",\"type\":\"overlay\",\"source\":\"overlay\",\"options\":["
                        "\"lowerdir=/srv/link/a\",\"upperdir=/var/lib/c/u\",\"workdir=/var/lib/c/w\"]}",
                        "goes through a symlink", "overlay layer through a symlink");
  expect_mount_refused (def,
                        "{\"destination\":\"/ov\",\"type\":\"overlay\",\"source\":\"overlay\",\"options\":["
                        "\"upperdir=/var/lib/c/u\"]}",
                        "needs a lowerdir", "overlay without lowerdir");
  /* The kernel unescapes a backslash: "/r\\oot" is /root. */
  expect_mount_refused (def,
                        "{\"destination\":\"/ov\",\"type\":\"overlay\",\"source\":\"overlay\",\"options\":["
                        "\"lowerdir=/r\\\\oot\"]}",
                        "backslash", "overlay layer with a backslash (the kernel reads /root)");
  expect_mount_refused (def,
                        "{\"destination\":\"/ov\",\"type\":\"overlay\",\"source\":\"overlay\",\"options\":["
                        "\"lowerdir=\",\"lowerdir+=/root/.ssh\"]}",
                        "empty layer", "overlay with an empty lowerdir (then lowerdir+=)");
  expect_mount_refused (def,
                        "{\"destination\":\"/ov\",\"type\":\"overlay\",\"source\":\"overlay\",\"options\":["
                        "\"lowerdir=/srv/data\",\"datadir+=/root\"]}",
                        "not understood", "overlay datadir+= (a layer corral does not judge)");
  expect_mount_refused (def,
                        "{\"destination\":\"/etc/hosts\",\"type\":\"tmpfs\",\"source\":\"tmpfs\",\"options\":["
                        "\"remount\",\"ro\"]}",
                        "`remount` is refused", "a remount (of the filesystem behind the destination, the host's)");
  expect_mount_refused (def, "{\"destination\":\"/x\",\"type\":\"bind\",\"source\":\"/dev\",\"options\":[\"rbind\"]}",
                        "`/dev`", "-v /dev:/x");
  expect_mount_refused (
      def, "{\"destination\":\"/dev/shm\",\"type\":\"bind\",\"source\":\"/dev/shm\",\"options\":[\"rbind\"]}",
      "bind source `/dev/shm`", "--ipc host's /dev/shm");
  expect_floor_refused (def, "{\"destination\":\"/x\",\"type\":\"bind\",\"source\":\"/run\",\"options\":[\"rbind\"]}",
                        "is or holds `/run/user`", "-v /run:/x");
  expect_floor_refused (def, "{\"destination\":\"/x\",\"type\":\"bind\",\"source\":\"/var\",\"options\":[\"rbind\"]}",
                        "is or holds `/var/run/dbus`", "-v /var:/x (holds /var/run)");
  expect_floor_refused (
      def, "{\"destination\":\"/x\",\"type\":\"bind\",\"source\":\"/run/user/1000\",\"options\":[\"rbind\"]}",
      "`/run/user`", "-v /run/user/1000:/x");
  expect_mount_refused (def, "{\"destination\":\"/x\",\"type\":\"bind\",\"source\":\"/tmp\",\"options\":[\"rbind\"]}",
                        "`/tmp/.X11-unix`", "-v /tmp:/x (holds the X11 sockets)");
  expect_mount_refused (
      def, "{\"destination\":\"/x\",\"type\":\"bind\",\"source\":\"/srv/agent.sock\",\"options\":[\"rbind\"]}",
      "is a socket", "a host socket bound in");
  expect_mount_refused (
      def, "{\"destination\":\"/x\",\"type\":\"bind\",\"source\":\"/srv/pipe.fifo\",\"options\":[\"rbind\"]}",
      "is a FIFO", "a host FIFO bound in");
  expect_mount_refused (def,
                        "{\"destination\":\"/x\",\"type\":\"bind\",\"source\":\"/srv/sda\",\"options\":[\"rbind\"]}",
                        "is a device node", "a device node outside /dev bound in");
  expect_mount_refused (def, "{\"destination\":\"/x\",\"type\":\"ext4\",\"source\":\"/dev/vda\"}",
                        "mount type `ext4` is refused", "a block device mounted by type");
  expect_mount_refused (def, "{\"destination\":\"/x\",\"type\":\"devtmpfs\",\"source\":\"devtmpfs\"}",
                        "mount type `devtmpfs` is refused", "devtmpfs (every host device)");
  expect_mount_refused (def, "{\"destination\":\"/x\",\"source\":\"/srv/data\"}", "mount type `(none)`",
                        "a mount without type or bind option");
  expect_mount_refused (def,
                        "{\"destination\":\"/x\",\"type\":\"bind\",\"source\":\"/srv/data\",\"options\":[\"rbind\"],"
                        "\"uidMappings\":[{\"containerID\":0,\"hostID\":0,\"size\":1}]}",
                        "id-mapped mounts are refused", "an id-mapped bind");
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_json json_t *spec = spec_with_mount (
        "{\"destination\":\"/data\",\"type\":\"bind\",\"source\":\"/srv/link/x\",\"options\":[\"rbind\",\"rshared\"]}");
    json_t *m;

    json_set (json_get (spec, "linux"), "rootfsPropagation", json_new_string ("shared"));
    ok (harden_all (spec, def, &err) == 0, "a plain bind through a symlink is kept: %s", err ? err->msg : "");
    m = find_mount (spec, "/data");
    ok (str_eq (json_get_string (m, "source"), "/srv/data/x"), "its source is rewritten to the canonical path");
    ok (json_array_has_string (json_get (m, "options"), "ro") && json_array_has_string (json_get (m, "options"), "rro"),
        "read-only is recursive (ro + rro)");
    ok (!json_array_has_string (json_get (m, "options"), "rshared")
            && json_array_has_string (json_get (m, "options"), "rprivate"),
        "rshared is rewritten to rprivate");
    ok (str_eq (json_get_string (json_get (spec, "linux"), "rootfsPropagation"), "rprivate"),
        "rootfsPropagation shared -> rprivate");
    ok (json_array_has_string (json_get (find_mount (spec, "/etc/hosts"), "options"), "rro"),
        "the engine's own ro binds get rro too");
    ok (json_array_has_string (json_get (find_mount (spec, "/proc"), "options"), "nosuid"), "proc is nosuid");
  }
  {
    /* --tmpfs /x:suid,exec: a later suid would undo nosuid. */
    cleanup_error corral_error_t err = NULL;
    cleanup_json json_t *spec = spec_with_mount (
        "{\"destination\":\"/x\",\"type\":\"tmpfs\",\"source\":\"tmpfs\",\"options\":[\"nosuid\",\"suid\",\"exec\"]}");

    ok (harden_all (spec, def, &err) == 0, "a tmpfs asking for suid is kept");
    ok (!json_array_has_string (json_get (find_mount (spec, "/x"), "options"), "suid")
            && json_array_has_string (json_get (find_mount (spec, "/x"), "options"), "nosuid"),
        "its suid option is dropped, nosuid stays");
  }
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_json json_t *spec = spec_with_mount (
        "{\"destination\":\"/workspace\",\"type\":\"bind\",\"source\":\"/srv/data\",\"options\":[\"rbind\"]}");

    ok (harden_all (spec, def, &err) == 0, "a writable /workspace bind is kept");
    ok (!json_array_has_string (json_get (find_mount (spec, "/workspace"), "options"), "rro"),
        "a writable bind gets no rro");
  }
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_json json_t *spec = spec_with_mount (
        "{\"destination\":\"/ov\",\"type\":\"overlay\",\"source\":\"/x/merge\",\"options\":["
        "\"lowerdir=/srv/data\",\"upperdir=/var/lib/containers/u\",\"workdir=/var/lib/containers/w\",\"private\"]}");

    ok (harden_all (spec, def, &err) == 0, "an overlay volume of a plain directory is kept: %s", err ? err->msg : "");
    ok (json_array_has_string (json_get (find_mount (spec, "/ov"), "options"), "nosuid")
            && json_array_has_string (json_get (find_mount (spec, "/ov"), "options"), "nodev"),
        "the overlay is nosuid,nodev");
  }
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_json json_t *spec = spec_with_mount (
        "{\"destination\":\"/data\",\"type\":\"bind\",\"source\":\"/srv/data\",\"options\":[\"rbind\"]}");

    ok (harden_all (spec, untrusted, &err) == 0, "gVisor: a bind is kept: %s", err ? err->msg : "");
    ok (json_array_has_string (json_get (find_mount (spec, "/data"), "options"), "ro")
            && !json_array_has_string (json_get (find_mount (spec, "/data"), "options"), "rro"),
        "gVisor: ro without rro (runsc refuses rro; its gofer mount is read-only whole)");
  }
}

static bool
env_has (const json_t *spec, const char *name)
{
  json_t *env = json_get (json_get (spec, "process"), "env");
  size_t n = strlen (name);

  for (size_t i = 0; i < json_len (env); i++)
    if (strncmp (json_string (json_at (env, i)), name, n) == 0 && json_string (json_at (env, i))[n] == '=')
      return true;
  return false;
}

static void
test_secrets (const corral_profile_t *def)
{
  static const struct
  {
    const char *value, *rule;
  } values[] = {
    { "redis://:hunter2@cache:6379/0", "url-credentials" },
    { "postgres://app:s3cret@db.example.test/app", "url-credentials" },
    { "git clone https://x:tok@git.example.test/r.git", "url-credentials" },
    { "ghp_0123456789abcdefghijABCDEFGHIJ012345", "github-token" },
    { "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "github-token" },
    { "glpat-abcdefghij0123456789", "gitlab-token" },
    { "xoxb-1234567890-abcdefghij", "slack-token" },
    { "AKIAIOSFODNN7EXAMPLE", "aws-access-key" },
    { "sk-ant-api03-abcdefghijklmnopqrstuvwxyz", "api-key-sk" },
    { "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJlLXZhbHVl", "jwt" },
    { "-----BEGIN OPENSSH PRIVATE KEY-----\nabc", "private-key" },
    { "/usr/local/bin:/usr/bin:/bin", NULL },
    { "https://example.test/path@v2", NULL },
    { "https://user@example.test/", NULL },
    { "scikit-learn sk-learn", NULL },
    { "en_US.UTF-8", NULL },
    { "mask_AKIAIOSFODNN7EXAMPL", NULL },
    { "", NULL },
  };

  for (size_t i = 0; i < sizeof (values) / sizeof (values[0]); i++)
    {
      const char *got = secrets_value_rule (values[i].value);

      ok (values[i].rule ? str_eq (got, values[i].rule) : got == NULL, "value %zu: rule %s (got %s)", i,
          values[i].rule ? values[i].rule : "none", got ? got : "none");
    }
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_changes changes_t changes = { 0 };
    cleanup_json json_t *spec = load_fixture ("crafted", "secrets-under-other-names.json");
    harden_ctx_t ctx = make_ctx (def);
    bool leaked = false;

    ok (harden_environment (spec, &ctx, &changes, &err) == 0, "environment with secrets under other names");
    ok (!env_has (spec, "MYSQL_PWD"), "MYSQL_PWD removed (name)");
    ok (!env_has (spec, "npm_config__authToken"), "npm_config__authToken removed (name)");
    ok (!env_has (spec, "GITHUB_PAT"), "GITHUB_PAT removed (name)");
    ok (!env_has (spec, "REDIS_URL"), "REDIS_URL with a password removed (value)");
    ok (!env_has (spec, "NOTES"), "a token under an innocent name removed (value)");
    ok (env_has (spec, "PATH") && env_has (spec, "CACHE_URL") && env_has (spec, "LANG"),
        "PATH, a URL without credentials and LANG are kept");
    for (size_t i = 0; i < changes.n; i++)
      leaked |= strstr (changes.items[i].what, "hunter2") || strstr (changes.items[i].what, "ghp_");
    ok (!leaked, "the change log never holds a value");
    {
      bool named = false;
      for (size_t i = 0; i < changes.n; i++)
        named |= strstr (changes.items[i].what, "REDIS_URL (value matches secret rule url-credentials)") != NULL;
      ok (named, "the change log names the variable and the rule");
    }
  }
}

static size_t
count_corral_hooks (const json_t *spec, const char *stage, const char *state_dir, size_t *ret_ours)
{
  json_t *list = json_get (json_get (spec, "hooks"), stage);
  size_t n = 0;

  *ret_ours = 0;
  for (size_t i = 0; i < json_len (list); i++)
    {
      json_t *args = json_get (json_at (list, i), "args");
      if (!str_eq (json_string (json_at (args, 1)), "hook"))
        continue;
      n++;
      *ret_ours += str_eq (json_string (json_at (args, json_len (args) - 1)), state_dir);
    }
  return n;
}

static json_t *
find_rlimit (const json_t *spec, const char *type)
{
  json_t *rl = json_get (json_get (spec, "process"), "rlimits");

  for (size_t i = 0; i < json_len (rl); i++)
    if (str_eq (json_get_string (json_at (rl, i), "type"), type))
      return json_at (rl, i);
  return NULL;
}

/* podman-run.json with one edit (a Python-free JSON patch: key path a.b
 * set to a JSON value). */
static void
expect_field_refused (const corral_profile_t *p, const char *obj, const char *key, const char *value,
                      const char *needle)
{
  cleanup_error corral_error_t err = NULL;
  cleanup_json json_t *spec = load_fixture ("engines", "podman-run.json");
  json_t *o = spec;
  cleanup_free char *copy = xstrdup (obj);
  char *save = NULL;

  for (char *k = strtok_r (copy, ".", &save); k; k = strtok_r (NULL, ".", &save))
    o = json_ensure_object (o, k);
  json_set (o, key, parse_json (value));
  ok (harden_all (spec, p, &err) < 0, "%s.%s = %s: refused", obj, key, value);
  ok (msg_has (err, needle), "%s.%s: the error says `%s` (%s)", obj, key, needle, err ? err->msg : "no error");
}

static void
test_fields (const corral_profile_t *def)
{
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_changes changes_t changes = { 0 };
    cleanup_json json_t *spec = load_fixture ("crafted", "rehardened-bundle-fields.json");
    harden_ctx_t ctx = make_ctx (def);
    size_t ours = 0;
    int64_t v = 1;

    ctx.hook_path = "/usr/local/bin/corral";
    ctx.state_dir = "/run/corral/0123abcd/me";
    ok (harden_spec (spec, &ctx, &changes, &err) == 0, "a bundle corral rewrote for another container: hardened: %s",
        err ? err->msg : "");
    is_int (count_corral_hooks (spec, "createRuntime", ctx.state_dir, &ours), 1, "one corral createRuntime hook left");
    is_int (ours, 1, "it is this container's (the victim's --state-dir is gone)");
    ok (count_corral_hooks (spec, "poststart", ctx.state_dir, &ours) == 0,
        "the stale poststart hook of the other container is dropped (no budgets here)");
    ok (json_len (json_get (json_get (spec, "hooks"), "prestart")) == 1, "the engine's own prestart hook is kept");
    ok (json_int64 (json_get (json_get (spec, "process"), "oomScoreAdj"), &v) && v == 0, "oomScoreAdj -998 -> 0");
    ok (json_int64 (json_get (find_rlimit (spec, "RLIMIT_RTPRIO"), "hard"), &v) && v == 0, "RLIMIT_RTPRIO -> 0");
    ok (json_int64 (json_get (find_rlimit (spec, "RLIMIT_AS"), "hard"), &v) && v == 1073741824,
        "RLIMIT_AS (a lowering limit) kept");
    ok (find_rlimit (spec, "RLIMIT_NPROC") == NULL,
        "the engine's RLIMIT_NPROC is removed (per host uid, shared by every agent)");
    ok (json_get (json_get (json_get (spec, "linux"), "resources"), "unified") == NULL, "resources.unified removed");
    {
      bool b = true;
      ok (json_bool (
              json_get (json_get (json_get (json_get (spec, "linux"), "resources"), "memory"), "disableOOMKiller"), &b)
              && !b,
          "disableOOMKiller -> false");
    }
    {
      /* A second pass over the same bundle changes no hook. */
      cleanup_changes changes_t again = { 0 };
      cleanup_json json_t *before = json_deep_copy (spec);
      ok (harden_spec (spec, &ctx, &again, &err) == 0
              && json_equal (json_get (spec, "hooks"), json_get (before, "hooks")),
          "re-hardening keeps this container's own hook as it is");
    }
  }
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_json json_t *spec = load_fixture ("engines", "docker-run.json");
    ok (harden_all (spec, def, &err) == 0, "docker's sysctls (unprivileged ports, ping range) pass: %s",
        err ? err->msg : "");
  }
  expect_field_refused (def, "linux", "personality", "{\"domain\":\"LINUX32\"}", "linux.personality: field not known");
  expect_field_refused (def, "linux", "intelRdt", "{\"closID\":\"x\"}", "linux.intelRdt");
  expect_field_refused (def, "process", "commandLine", "\"cmd.exe\"", "process.commandLine");
  expect_field_refused (def, "process", "scheduler", "{\"policy\":\"SCHED_FIFO\",\"priority\":99}",
                        "process.scheduler");
  expect_field_refused (def, "process", "ioPriority", "{\"class\":\"IOPRIO_CLASS_RT\",\"priority\":0}",
                        "IOPRIO_CLASS_RT");
  expect_field_refused (def, "linux.sysctl", "kernel.core_pattern", "\"|/tmp/x\"", "linux.sysctl.kernel.core_pattern");
  expect_field_refused (def, "linux.sysctl", "net.ipv4.ip_forward", "\"1\"", "linux.sysctl.net.ipv4.ip_forward");
  expect_field_refused (def, "linux", "cgroupsPath", "\"/\"", "the root cgroup");
  expect_field_refused (def, "linux", "cgroupsPath", "\"/libpod_parent/../system.slice\"", "`..` component");
  expect_field_refused (def, "linux", "cgroupsPath", "\"/system.slice/ssh.service\"", "already exists");
  expect_field_refused (def, "linux", "seccomp",
                        "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"listenerPath\":\"/run/x.sock\"}", "notify listener");
  expect_field_refused (def, "linux", "seccomp",
                        "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"mkdir\"],"
                        "\"action\":\"SCMP_ACT_NOTIFY\"}]}",
                        "SCMP_ACT_NOTIFY");
  expect_field_refused (def, "linux.resources", "network", "{\"classID\":1048577}", "linux.resources.network");
  expect_field_refused (def, "linux.resources.cpu", "realtimeRuntime", "950000", "realtime CPU time");
  expect_field_refused (def, "", "windows", "{}", "config.json.windows");
  {
    cleanup_error corral_error_t err = NULL;
    cleanup_json json_t *spec = load_fixture ("engines", "podman-run.json");
    json_push (json_get (json_get (spec, "process"), "rlimits"),
               parse_json ("{\"type\":\"RLIMIT_BOGUS\",\"soft\":1,\"hard\":1}"));
    ok (harden_all (spec, def, &err) < 0 && msg_has (err, "RLIMIT_BOGUS"), "an unknown rlimit type is refused");
  }
}

/* Does every rule allowing socket() exclude family 40 (AF_VSOCK)? */
static bool
socket_allows_exclude_vsock (const json_t *spec, size_t *ret_allows)
{
  json_t *rules = json_get (json_get (json_get (spec, "linux"), "seccomp"), "syscalls");

  *ret_allows = 0;
  for (size_t i = 0; i < json_len (rules); i++)
    {
      json_t *r = json_at (rules, i);
      json_t *args = json_get (r, "args");
      bool excluded = false;

      if (!json_array_has_string (json_get (r, "names"), "socket")
          || !str_eq (json_get_string (r, "action"), "SCMP_ACT_ALLOW"))
        continue;
      (*ret_allows)++;
      for (size_t k = 0; k < json_len (args); k++)
        {
          json_t *a = json_at (args, k);
          int64_t idx = -1, v = -1;
          json_int64 (json_get (a, "index"), &idx);
          json_int64 (json_get (a, "value"), &v);
          excluded |= idx == 0
                      && ((str_eq (json_get_string (a, "op"), "SCMP_CMP_NE") && v == 40)
                          || (str_eq (json_get_string (a, "op"), "SCMP_CMP_EQ") && v != 40));
        }
      if (!excluded)
        return false;
    }
  return true;
}

static void
test_vsock (const corral_profile_t *def)
{
  static const char *const fixtures[] = { "podman-run.json", "docker-run.json", NULL };

  for (size_t f = 0; fixtures[f]; f++)
    {
      cleanup_error corral_error_t err = NULL;
      cleanup_json json_t *spec = load_fixture ("engines", fixtures[f]);
      cleanup_json json_t *again = NULL;
      size_t allows = 0;

      ok (harden_all (spec, def, &err) == 0, "%s: hardened", fixtures[f]);
      ok (socket_allows_exclude_vsock (spec, &allows), "%s: every rule allowing socket() excludes AF_VSOCK",
          fixtures[f]);
      ok (allows > 0, "%s: socket() is still allowed for other families (%zu rules)", fixtures[f], allows);
      again = json_deep_copy (spec);
      ok (harden_all (again, def, &err) == 0 && json_equal (again, spec), "%s: a second pass changes nothing",
          fixtures[f]);
    }
  {
    /* No engine filter: corral's own allows by default, so one rule denies. */
    cleanup_error corral_error_t err = NULL;
    cleanup_json json_t *spec = load_fixture ("engines", "containerd-ctr-run.json");
    json_t *rules;
    bool denied = false;

    ok (harden_all (spec, def, &err) == 0, "containerd (no engine filter): hardened");
    rules = json_get (json_get (json_get (spec, "linux"), "seccomp"), "syscalls");
    for (size_t i = 0; i < json_len (rules); i++)
      {
        json_t *r = json_at (rules, i);
        int64_t v = 0;
        denied |= json_array_has_string (json_get (r, "names"), "socket")
                  && str_eq (json_get_string (r, "action"), "SCMP_ACT_ERRNO")
                  && json_int64 (json_get (json_at (json_get (r, "args"), 0), "value"), &v) && v == 40
                  && str_eq (json_get_string (json_at (json_get (r, "args"), 0), "op"), "SCMP_CMP_EQ");
      }
    ok (denied, "containerd: socket(AF_VSOCK) is denied by an explicit rule");
  }
}

int
main (void)
{
  cleanup_policy corral_policy_t *policy = load_policy ();
  const corral_profile_t *def, *offline, *untrusted;

  shipped_profiles (policy, &def, &offline, &untrusted);
  test_namespace_joins (def, offline);
  test_userns (def);
  test_mounts (def, untrusted);
  test_secrets (def);
  test_fields (def);
  test_vsock (def);
  done_testing ();
}
