# Helpers for the suites that drive real containerd and dockerd through
# corral: each daemon runs on its own roots and socket under a temp dir,
# started from the test file and stopped by PID.  Load after helpers.
# shellcheck shell=bash

CONTRIB_DIR=${CONTRIB_DIR:-$SRC_DIR/contrib}
ENGINE_IMAGE=${ENGINE_IMAGE:-localhost/corral-test-bb:latest}
# Debian's docker.io client: /usr/local/bin/docker may be a newer client that
# the 20.10 daemon refuses.
DOCKER_CLI=${DOCKER_CLI:-/usr/bin/docker}
ENGINE_START_TIMEOUT=${ENGINE_START_TIMEOUT:-60}

# build_docker_archive OUT NAME: the busybox rootfs of build_rootfs_tar as a
# docker-archive (docker save layout: manifest.json, config, one layer), built
# by hand with tar and sha256sum.  Both `ctr images import` and `docker load`
# take it, and no other engine's image store is touched.
build_docker_archive() {
    local out=$1 name=$2 dir diff_id config_id arch
    dir=$(mktemp -d)
    if ! build_rootfs_tar "$dir/layer.tar"; then
        rm -rf "$dir"
        return 1
    fi
    arch=$(dpkg --print-architecture)
    diff_id=$(sha256sum "$dir/layer.tar" | cut -d' ' -f1)
    mkdir "$dir/$diff_id"
    mv "$dir/layer.tar" "$dir/$diff_id/layer.tar"
    printf '{"architecture":"%s","os":"linux","created":"1970-01-01T00:00:00Z",%s,%s}' \
        "$arch" \
        '"config":{"Cmd":["/bin/sh"],"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}' \
        "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:$diff_id\"]}" >"$dir/config.json"
    config_id=$(sha256sum "$dir/config.json" | cut -d' ' -f1)
    mv "$dir/config.json" "$dir/$config_id.json"
    printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' \
        "$config_id" "$name" "$diff_id" >"$dir/manifest.json"
    tar -C "$dir" -cf "$out" manifest.json "$config_id.json" "$diff_id" || {
        rm -rf "$dir"
        return 1
    }
    rm -rf "$dir"
}

# assert_no_corral_process ID: no corral process (hook, daemon) of the
# container ID outlives it (bounded wait: a hook may be exiting).
assert_no_corral_process() {
    wait_for 10 eval "! pgrep -f 'corral (hook|daemon) .*/$1( |\$)'" ||
        die "corral processes left behind for $1: $(pgrep -af "corral (hook|daemon) .*/$1")"
}

# unmount_under DIR: unmount whatever the engines left mounted below DIR
# (overlay rootfs, shm), deepest first.
unmount_under() {
    local dir=$1 m
    [ -n "$dir" ] || return 0
    # /proc/self/mountinfo field 5 is the mount point (octal escapes for
    # spaces; our temp paths have none).
    while read -r m; do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done < <(awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
}

# pid_running PID: the process exists and is not a zombie.
pid_running() {
    local state
    state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [[ "$state" != Z* ]]
}

# stop_pid PID SECONDS: TERM, wait bounded, then KILL.
stop_pid() {
    local pid=$1 secs=${2:-20}
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    if ! wait_for "$secs" eval "! pid_running $pid"; then
        echo "# $pid did not stop on TERM within ${secs}s: KILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# remove_cgroups NAME: remove the cgroup NAME that an engine of this test
# made at the top of each v1 hierarchy (and the unified one), with any empty
# cgroups left below it.  A cgroup with processes in it stays.
remove_cgroups() {
    local name=$1 d
    [ -n "$name" ] || return 0
    while read -r d; do
        find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
        [ ! -d "$d" ] || echo "# cgroup $d left behind: $(find "$d" -mindepth 1 -type d | head -3)" >&2
    done < <(find /sys/fs/cgroup -mindepth 1 -maxdepth 2 -type d -name "$name" 2>/dev/null)
}

# remove_engine_dir DIR: unmount below it, then remove it.
remove_engine_dir() {
    local dir=$1
    [ -n "$dir" ] && [ -d "$dir" ] || return 0
    unmount_under "$dir"
    rm -rf "$dir" 2>/dev/null || {
        unmount_under "$dir"
        rm -rf "$dir"
    }
}

# remove_run_containerd: the shim keeps runc's state, its sockets and ctr's
# fifos under /run/containerd whatever root the daemon has; remove those
# directories if they are empty (call only when /run/containerd did not exist
# before the daemon started, and after it stopped).  Left alone while another
# containerd runs: it may have made them meanwhile.
remove_run_containerd() {
    if pgrep -x containerd >/dev/null; then
        return 0
    fi
    rmdir /run/containerd/runc /run/containerd/s /run/containerd/fifo 2>/dev/null || true
    rmdir /run/containerd 2>/dev/null || true
}

# LOOPBACK_PROBE: a shell script for `sh -c` inside the container: a TCP
# listener on port 8080 whose connection handler copies what it reads to
# a file (so what was sent is read to its end whatever nc does on EOF), and a
# client retried for 3 s; prints "loopback=yes got=hi" when loopback carries
# the connection.
# shellcheck disable=SC2016,SC2034 # expanded inside the container; used by the suites
LOOPBACK_PROBE='nc -l -p 8080 -e sh -c "cat >/tmp/got" & srv=$!
ok=no
for i in $(seq 30); do
    if echo hi | nc -w 2 127.0.0.1 8080 2>/tmp/err; then ok=yes; break; fi
    sleep 0.1
done
if [ "$ok" = yes ]; then wait "$srv"; else kill "$srv"; cat /tmp/err; fi
echo "loopback=$ok got=$(cat /tmp/got 2>/dev/null)"'

# ---------------------------------------------------------------- containerd

# start_containerd [CONTRIB_TOML]: containerd on its own --root, --state and
# --address below a temp dir, with a config that keeps every plugin's
# directory there too (the opt plugin's /opt/containerd, the CRI plugin's CNI
# conf dir).  CONTRIB_TOML, if given, is a config file (version 2) whose
# tables are added to the generated config: the contrib file itself, so the
# daemon runs with it.  Sets CTD_DIR, CTD_SOCK, CTD_PID and CTD_NS (a
# namespace of this file's own: the shim keeps runc's state in
# /run/containerd/runc/<ns> whatever root containerd has, so the namespace
# makes that directory this file's alone).
start_containerd() {
    local contrib=${1:-}
    CTD_DIR=$(mktemp -d /tmp/corral-ctd.XXXXXX)
    CTD_SOCK=$CTD_DIR/containerd.sock
    CTD_NS=corral-test-$$
    [ -d /run/containerd ] && CTD_HAD_RUN_DIR=1 || CTD_HAD_RUN_DIR=0
    mkdir -p "$CTD_DIR/root" "$CTD_DIR/state" "$CTD_DIR/plugins" "$CTD_DIR/opt" "$CTD_DIR/cni/net.d"
    {
        echo 'version = 2'
        printf 'plugin_dir = "%s/plugins"\n' "$CTD_DIR"
        printf '[ttrpc]\n  address = "%s/containerd.ttrpc.sock"\n' "$CTD_DIR"
        printf '[debug]\n  address = ""\n  level = "info"\n'
        printf '[metrics]\n  address = ""\n'
        printf '[plugins."io.containerd.internal.v1.opt"]\n  path = "%s/opt"\n' "$CTD_DIR"
        printf '[plugins."io.containerd.grpc.v1.cri".cni]\n  conf_dir = "%s/cni/net.d"\n' "$CTD_DIR"
        printf '  bin_dir = "%s/cni/bin"\n' "$CTD_DIR"
        if [ -n "$contrib" ]; then
            printf '# from %s\n' "$contrib"
            grep -v '^version *=' "$contrib"
        fi
    } >"$CTD_DIR/config.toml"
    containerd --config "$CTD_DIR/config.toml" --root "$CTD_DIR/root" --state "$CTD_DIR/state" \
        --address "$CTD_SOCK" >"$CTD_DIR/containerd.log" 2>&1 3>&- &
    CTD_PID=$!
    export CTD_DIR CTD_SOCK CTD_PID CTD_NS CTD_HAD_RUN_DIR
    if ! wait_for "$ENGINE_START_TIMEOUT" ctr --address "$CTD_SOCK" version; then
        echo "# containerd did not answer on $CTD_SOCK within ${ENGINE_START_TIMEOUT}s; its log:" >&2
        sed 's/^/#   /' "$CTD_DIR/containerd.log" >&2
        return 1
    fi
}

# ctr_cmd ARGS...: ctr on the test's containerd and namespace.
ctr_cmd() {
    ctr --address "$CTD_SOCK" --namespace "$CTD_NS" "$@"
}

# run_ctr [expected-status] ARGS...: run_cmd for ctr on the test's
# containerd and namespace.
run_ctr() {
    local expected=0
    if is_status "${1:-}"; then expected=$1; shift; fi
    run_cmd "$expected" ctr --address "$CTD_SOCK" --namespace "$CTD_NS" "$@"
}

# ctr_remove_all: kill and remove every task and container in the test's
# namespace (teardown after a failed test).
ctr_remove_all() {
    local id
    [ -S "${CTD_SOCK:-}" ] || return 0
    for id in $(ctr_cmd tasks ls -q 2>/dev/null); do
        ctr_cmd tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
        wait_for 10 bash -c "ctr --address '$CTD_SOCK' --namespace '$CTD_NS' tasks ls | grep -w '^$id' | grep -qw STOPPED" || true
        ctr_cmd tasks delete -f "$id" >/dev/null 2>&1 || true
    done
    for id in $(ctr_cmd containers ls -q 2>/dev/null); do
        ctr_cmd containers rm "$id" >/dev/null 2>&1 || true
    done
}

# stop_containerd: remove what the test left in its namespace, stop the
# daemon by PID, unmount and remove its dirs, and the runc state dir of its
# namespace.
stop_containerd() {
    if [ -n "${CTD_PID:-}" ] && pid_running "$CTD_PID"; then
        ctr_remove_all
        ctr_cmd images rm "$ENGINE_IMAGE" >/dev/null 2>&1 || true
        ctr --address "$CTD_SOCK" namespaces rm "$CTD_NS" >/dev/null 2>&1 || true
        stop_pid "$CTD_PID" 30
    fi
    remove_engine_dir "${CTD_DIR:-}"
    if [ -n "${CTD_NS:-}" ]; then
        rmdir "/run/containerd/runc/$CTD_NS" 2>/dev/null || true
        # ctr puts tasks in the cgroup /<namespace>/<id>.
        remove_cgroups "$CTD_NS"
    fi
    [ "${CTD_HAD_RUN_DIR:-1}" = 1 ] || remove_run_containerd
    CTD_PID=
    CTD_DIR=
}

# import_ctr_image: build the busybox image and import it into the test's
# containerd namespace as ENGINE_IMAGE.
import_ctr_image() {
    local archive rc=0
    archive=$(mktemp --suffix=.tar)
    build_docker_archive "$archive" "$ENGINE_IMAGE" && ctr_cmd images import "$archive" >&2 || rc=1
    rm -f "$archive"
    return $rc
}

# ------------------------------------------------------------------ dockerd

# start_dockerd DAEMON_JSON: dockerd on its own data root, exec root, socket,
# pidfile and trust key below a temp dir, with the runtimes of DAEMON_JSON
# (the contrib file), no iptables and no bridge.  It is pointed at the test's containerd
# (start_containerd first) and puts its containers below the cgroup
# /corral-dkd-<pid> instead of /docker.  Left alone, dockerd 20.10 uses a containerd it
# finds on /run/containerd/containerd.sock, or starts one that writes to
# /opt/containerd.  Sets DKD_DIR, DKD_SOCK, DKD_PID and DOCKER_HOST; on
# failure sets DKD_START_ERROR to the daemon's last error line and returns 1.
start_dockerd() {
    local daemon_json=$1
    DKD_DIR=$(mktemp -d /tmp/corral-dkd.XXXXXX)
    DKD_SOCK=$DKD_DIR/docker.sock
    DKD_CGROUP=corral-dkd-$$
    DKD_START_ERROR=
    mkdir -p "$DKD_DIR/data" "$DKD_DIR/exec"
    [ -d /run/docker ] && DKD_HAD_RUN_DIR=1 || DKD_HAD_RUN_DIR=0
    # DAEMON_JSON plus the one setting dockerd 20.10 has no flag for: its
    # trust key would otherwise be written to /etc/docker/key.json.
    jq --arg key "$DKD_DIR/key.json" '. + {"deprecated-key-path": $key}' "$daemon_json" \
        >"$DKD_DIR/daemon.json" || return 1
    dockerd --config-file "$DKD_DIR/daemon.json" --containerd "$CTD_SOCK" \
        --data-root "$DKD_DIR/data" --exec-root "$DKD_DIR/exec" \
        -H "unix://$DKD_SOCK" --pidfile "$DKD_DIR/docker.pid" \
        --iptables=false --ip6tables=false --bridge=none \
        --cgroup-parent "/$DKD_CGROUP" \
        >"$DKD_DIR/dockerd.log" 2>&1 3>&- &
    DKD_PID=$!
    DOCKER_HOST=unix://$DKD_SOCK
    export DKD_DIR DKD_SOCK DKD_PID DKD_CGROUP DKD_HAD_RUN_DIR DOCKER_HOST
    if ! wait_for "$ENGINE_START_TIMEOUT" "$DOCKER_CLI" version; then
        DKD_START_ERROR=$(grep -E 'level=(error|fatal)|^failed|^unable' "$DKD_DIR/dockerd.log" | tail -n 1)
        [ -n "$DKD_START_ERROR" ] || DKD_START_ERROR=$(tail -n 1 "$DKD_DIR/dockerd.log")
        pid_running "$DKD_PID" || DKD_START_ERROR="dockerd exited: $DKD_START_ERROR"
        echo "# dockerd did not answer on $DKD_SOCK within ${ENGINE_START_TIMEOUT}s; its log:" >&2
        sed 's/^/#   /' "$DKD_DIR/dockerd.log" >&2
        return 1
    fi
}

# run_docker [expected-status] ARGS...: run_cmd for Debian's docker
# client on the test's daemon.
run_docker() {
    local expected=0
    if is_status "${1:-}"; then expected=$1; shift; fi
    run_cmd "$expected" "$DOCKER_CLI" "$@"
}

# stop_dockerd: remove every container, stop the daemon by PID (it stops
# its managed containerd), unmount and remove its dirs.
stop_dockerd() {
    local ids
    if [ -n "${DKD_PID:-}" ] && pid_running "$DKD_PID"; then
        ids=$("$DOCKER_CLI" ps -aq 2>/dev/null) || true
        if [ -n "$ids" ]; then
            # shellcheck disable=SC2086 # one id per word
            timeout 60 "$DOCKER_CLI" rm -f $ids >/dev/null 2>&1 || true
        fi
        stop_pid "$DKD_PID" 60
    fi
    remove_engine_dir "${DKD_DIR:-}"
    remove_cgroups "${DKD_CGROUP:-}"
    # dockerd makes /run/docker/plugins (plugin discovery) wherever its roots are.
    if [ "${DKD_HAD_RUN_DIR:-1}" = 0 ]; then
        rmdir /run/docker/plugins /run/docker 2>/dev/null || true
    fi
    DKD_PID=
    DKD_DIR=
}

# import_docker_image: build the busybox image and `docker load` it as
# ENGINE_IMAGE.
import_docker_image() {
    local archive rc=0
    archive=$(mktemp --suffix=.tar)
    build_docker_archive "$archive" "$ENGINE_IMAGE" && "$DOCKER_CLI" load -i "$archive" >&2 || rc=1
    rm -f "$archive"
    return $rc
}
