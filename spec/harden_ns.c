/* corral: namespaces.  Every namespace is fresh but the joins the caller
 * proved safe (a pod's containers joining their own corral sandbox, a
 * named netns nobody is in yet); user namespaces only with mappings that
 * stay clear of the host's root, system and people's ids. */
#include "config.h"

#include <inttypes.h>

#include "base/util.h"
#include "spec/harden.h"

/* Fresh namespaces every agent gets (cgroup: `--cgroupns host` would show
 * the host's cgroup tree). */
static const char *const required_namespaces[] = { "pid", "ipc", "uts", "mount", "cgroup" };
/* Kinds the spec may name; any other is refused. */
static const char *const known_namespaces[] = { "pid", "network", "mount", "ipc", "uts", "user", "cgroup", NULL };
/* Kinds a pod's app container may join in its sandbox (containerd's CRI
 * joins network, ipc, uts, and pid with shareProcessNamespace). */
static const char *const pod_joinable[] = { "pid", "network", "ipc", "uts", NULL };

static bool
in_list (const char *const *v, const char *s)
{
  for (; *v; v++)
    if (str_eq (*v, s))
      return true;
  return false;
}

static json_t *
find_namespace (json_t *nss, const char *type)
{
  for (size_t i = 0; i < json_len (nss); i++)
    if (str_eq (json_get_string (json_at (nss, i), "type"), type))
      return json_at (nss, i);
  return NULL;
}

static void
add_namespace (json_t *nss, const char *type)
{
  json_t *ns = json_new_object ();
  json_set (ns, "type", json_new_string (type));
  json_push (nss, ns);
}

/* The pod sandbox a CRI container belongs to (containerd, CRI-O), or NULL
 * for anything that does not say it is a pod's app container. */
static const char *
pod_sandbox_id (const json_t *spec)
{
  const json_t *ann = json_get (spec, "annotations");

  if (str_eq (json_get_string (ann, "io.kubernetes.cri.container-type"), "container"))
    return json_get_string (ann, "io.kubernetes.cri.sandbox-id");
  if (str_eq (json_get_string (ann, "io.kubernetes.cri-o.ContainerType"), "container"))
    return json_get_string (ann, "io.kubernetes.cri-o.SandboxID");
  return NULL;
}

/* Does one id mapping stay at or above USERNS_MIN_HOST_ID on the host? */
static int
check_mappings (const json_t *spec, const char *key, corral_error_t *err)
{
  const json_t *maps = json_get (json_get (spec, "linux"), key);

  if (!json_is_array (maps) || json_len (maps) == 0)
    return corral_error_make (err, 0,
                              "linux.%s: a user namespace needs id mappings; corral accepts only mappings onto "
                              "host ids %d and above",
                              key, USERNS_MIN_HOST_ID);
  for (size_t i = 0; i < json_len (maps); i++)
    {
      const json_t *m = json_at (maps, i);
      const char *const keys[] = { "containerID", "hostID", "size", NULL };
      int64_t cid, hid, size;

      if (json_check_keys (m, key, keys, err) < 0)
        return -1;
      if (!json_int64 (json_get (m, "containerID"), &cid) || !json_int64 (json_get (m, "hostID"), &hid)
          || !json_int64 (json_get (m, "size"), &size) || cid < 0 || size < 1 || cid > UINT32_MAX || size > UINT32_MAX)
        return corral_error_make (err, 0, "linux.%s[%zu]: expected containerID, hostID and size as ids", key, i);
      if (hid < USERNS_MIN_HOST_ID || hid + size - 1 > (int64_t) UINT32_MAX - 1)
        return corral_error_make (err, 0,
                                  "linux.%s[%zu]: container ids %" PRId64 "-%" PRId64 " would be host ids %" PRId64
                                  "-%" PRId64 ", which include host root, system or people's ids: map onto host "
                                  "ids %d and above (a subordinate range), or drop the user namespace",
                                  key, i, cid, cid + size - 1, hid, hid + size - 1, USERNS_MIN_HOST_ID);
    }
  return 0;
}

static const char *
join_hint (const char *type)
{
  if (str_eq (type, "network"))
    return "--network container:X / ns:PATH";
  if (str_eq (type, "pid"))
    return "--pid container:X";
  if (str_eq (type, "ipc"))
    return "--ipc container:X";
  if (str_eq (type, "uts"))
    return "--uts container:X";
  if (str_eq (type, "cgroup"))
    return "--cgroupns container:X";
  if (str_eq (type, "user"))
    return "--userns ns:PATH";
  return "a namespace path";
}

/* A namespace entry with a path: keep it only when the caller proved it
 * safe; offline profiles replace any network join by a fresh netns. */
static int
judge_join (json_t *ns, const json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err)
{
  const char *type = json_get_string (ns, "type");
  const char *path = json_get_string (ns, "path");
  const char *sandbox = pod_sandbox_id (spec);
  enum ns_join kind = NS_JOIN_UNPROVEN;

  if (str_eq (type, "network") && !ctx->profile->network)
    {
      changes_add (changes, "namespaces",
                   "linux.namespaces.network: replaced `%s` by a fresh namespace with only "
                   "loopback (profile is offline)",
                   path);
      json_del (ns, "path");
      return 0;
    }
  if (ctx->classify_join)
    kind = ctx->classify_join (ctx, type, path, in_list (pod_joinable, type) ? sandbox : NULL);
  if (kind == NS_JOIN_POD_SANDBOX && in_list (pod_joinable, type))
    return 0;
  if (kind == NS_JOIN_FRESH_NETNS && str_eq (type, "network"))
    return 0;
  if (kind == NS_JOIN_HOST && str_eq (type, "network"))
    return corral_error_make (err, 0,
                              "the container would share the host's network namespace (--network host), "
                              "where corral cannot confine its traffic: run it with its own network, "
                              "or use an offline profile");
  return corral_error_make (err, 0,
                            "linux.namespaces.%s: joining the %s namespace at `%s` (%s) is refused: %s; only a "
                            "Kubernetes pod's containers may join their own corral sandbox (and a fresh named "
                            "netns may be entered): give the container its own namespace",
                            type, kind == NS_JOIN_HOST ? "host's" : "existing", path, join_hint (type),
                            kind == NS_JOIN_HOST ? "it is the host's own"
                                                 : "corral cannot prove it is the container's own");
}

int
harden_namespaces (json_t *spec, const harden_ctx_t *ctx, changes_t *changes, corral_error_t *err)
{
  const json_t *linux_ = json_get (spec, "linux");
  json_t *nss;
  json_t *net;
  bool has_user = false;

  if (linux_ != NULL && !json_is_object (linux_))
    return corral_error_make (err, 0, "linux: expected an object");
  if (json_get (linux_, "namespaces") != NULL && !json_is_array (json_get (linux_, "namespaces")))
    return corral_error_make (err, 0, "linux.namespaces: expected an array");
  nss = json_ensure_array (json_ensure_object (spec, "linux"), "namespaces");

  for (size_t i = 0; i < json_len (nss); i++)
    {
      json_t *ns = json_at (nss, i);
      const char *const keys[] = { "type", "path", NULL };
      const char *type = json_get_string (ns, "type");

      if (json_check_keys (ns, "linux.namespaces", keys, err) < 0)
        return -1;
      if (type == NULL || !in_list (known_namespaces, type))
        return corral_error_make (err, 0,
                                  "linux.namespaces[%zu]: namespace type `%s` is refused (corral knows pid, "
                                  "network, mount, ipc, uts, user, cgroup): remove it",
                                  i, type ? type : "(none)");
      if (find_namespace (nss, type) != ns)
        return corral_error_make (err, 0, "linux.namespaces: `%s` is listed twice", type);
      if (json_get (ns, "path") != NULL && json_get_string (ns, "path") == NULL)
        return corral_error_make (err, 0, "linux.namespaces.%s.path: expected a string", type);
      has_user |= str_eq (type, "user");
      if (json_get_string (ns, "path") && judge_join (ns, spec, ctx, changes, err) < 0)
        return -1;
    }

  /* User namespaces: mappings that never reach host root, system or
   * people's ids; mappings without a user namespace make no sense. */
  if (has_user)
    {
      if (check_mappings (spec, "uidMappings", err) < 0 || check_mappings (spec, "gidMappings", err) < 0)
        return -1;
    }
  else if (json_len (json_get (linux_, "uidMappings")) > 0 || json_len (json_get (linux_, "gidMappings")) > 0)
    return corral_error_make (err, 0, "linux.uidMappings/gidMappings without a user namespace: remove them");

  for (size_t i = 0; i < sizeof (required_namespaces) / sizeof (required_namespaces[0]); i++)
    {
      if (find_namespace (nss, required_namespaces[i]) == NULL)
        {
          add_namespace (nss, required_namespaces[i]);
          changes_add (changes, "namespaces",
                       "linux.namespaces: added a private %s namespace (the host's is never "
                       "shared with an agent)",
                       required_namespaces[i]);
        }
    }

  net = find_namespace (nss, "network");
  if (ctx->profile->network)
    {
      if (net == NULL || ctx->netns_is_host)
        return corral_error_make (err, 0,
                                  "the container would share the host's network namespace (--network host), "
                                  "where corral cannot confine its traffic: run it with its own network, "
                                  "or use an offline profile");
      return 0;
    }
  /* Offline: a fresh network namespace holds only loopback, whatever the
   * engine prepared (a path was dropped above). */
  if (net == NULL)
    {
      add_namespace (nss, "network");
      changes_add (changes, "namespaces", "linux.namespaces: added a private network namespace (profile is offline)");
    }
  return 0;
}
