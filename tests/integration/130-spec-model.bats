#!/usr/bin/env bats
# The spec model: namespaces, user namespaces and mounts are kept only
# when corral understands them; each attack through the flag a tenant would
# use fails with an error naming the field, next to a benign control.

load ../lib/helpers

setup_file() {
    ensure_podman_image
}

setup() {
    NAME=$(unique_name model)
    WORK=$(mktemp -d)
    chmod 755 "$WORK"
    # This branch's policy, whatever is installed.
    RUNTIME=$(make_policy_wrapper "$SRC_DIR/configs/policy.json")
    ROOT=$WORK/runc-root
    SUBMOUNT=""
    CORRAL_PID=""
}

teardown() {
    # One name at a time (podman rm stops at a missing one), before the
    # runtime wrapper that created them goes.
    local c
    for c in "$NAME" "$NAME-victim"; do
        podman --runtime "$RUNTIME" rm -f -t 0 "$c" >/dev/null 2>&1 || true
    done
    if [ -n "$CORRAL_PID" ]; then
        kill -9 "$CORRAL_PID" 2>/dev/null || true
        wait "$CORRAL_PID" 2>/dev/null || true
    fi
    "$CORRAL" --root "$ROOT" delete --force "$NAME" >/dev/null 2>&1 || true
    runc --root "$ROOT" delete --force "$NAME" >/dev/null 2>&1 || true
    [ -z "$SUBMOUNT" ] || umount "$SUBMOUNT" 2>/dev/null || true
    chattr -R -a "$WORK" 2>/dev/null || true
    rm -rf "$WORK" "$(dirname "$RUNTIME")"
}

# A detached victim container of another tenant.
start_victim() {
    run_podman run -d --name "$NAME-victim" "$CORRAL_TEST_IMAGE" sleep 300
}

@test "--pid/--ipc/--uts container:X are refused; a private namespace still works" {
    start_victim
    local flag
    for flag in pid ipc uts; do
        run_podman '!' run --rm --name "$NAME" --"$flag" "container:$NAME-victim" "$CORRAL_TEST_IMAGE" true
        assert_contains "$output" "linux.namespaces.$flag: joining the existing namespace" "--$flag join refused"
        assert_contains "$output" "--$flag container:X" "the error names the flag"
    done
    run_podman run --rm --name "$NAME" "$CORRAL_TEST_IMAGE" readlink /proc/self/ns/pid
    local mine=$output
    run podman exec "$NAME-victim" readlink /proc/self/ns/pid
    [ "$mine" != "$output" ] || die "the control container shares the victim's pid namespace"
}

@test "--network container:X is refused; podman's own netns is kept" {
    start_victim
    run_podman '!' run --rm --name "$NAME" --network "container:$NAME-victim" "$CORRAL_TEST_IMAGE" true
    assert_contains "$output" "linux.namespaces.network: joining the existing namespace" "netns join refused"
    run_podman run --rm --name "$NAME" "$CORRAL_TEST_IMAGE" ip -o link show eth0
    assert_contains "$output" "eth0" "a container on podman's bridge has its interface"
}

@test "--cgroupns host gives a fresh cgroup namespace anyway" {
    local host
    host=$(readlink /proc/self/ns/cgroup)
    run_podman run --rm --name "$NAME" --cgroupns host "$CORRAL_TEST_IMAGE" sh -c 'readlink /proc/self/ns/cgroup; grep memory /proc/self/cgroup'
    assert_not_contains "$output" "$host" "the container is not in the host's cgroup namespace"
    assert_contains "$output" ":memory:/" "the container sees its own cgroup as the root"
    assert_not_contains "$output" "libpod" "the host's cgroup path is not visible"
}

@test "--ipc host is refused (host /dev/shm); -v /dev:/x is refused" {
    run_podman '!' run --rm --name "$NAME" --ipc host "$CORRAL_TEST_IMAGE" true
    assert_contains "$output" "mounts[/dev/shm]: bind source \`/dev/shm\`" "host /dev/shm refused"
    run_podman '!' run --rm --name "$NAME" -v /dev:/x "$CORRAL_TEST_IMAGE" true
    assert_contains "$output" "mounts[/x]: bind source \`/dev\`" "host /dev refused"
    run_podman run --rm --name "$NAME" "$CORRAL_TEST_IMAGE" sh -c 'echo hi >/dev/shm/f && cat /dev/shm/f'
    assert_eq "$output" "hi" "the container's own /dev/shm works"
}

@test "overlay volume of a refused source is refused; of a plain directory it works" {
    mkdir -p "$WORK/secret" "$WORK/plain"
    echo data >"$WORK/plain/file"
    policy_with "p['profiles']['default']['filesystem']['mount_rules'].append({'source': '$WORK/secret', 'action': 'refuse'})"
    rm -rf "$(dirname "$RUNTIME")"
    RUNTIME=$(make_policy_wrapper "$WORK/policy.json")
    run_podman '!' run --rm --name "$NAME" -v "$WORK/secret:/ov:O" "$CORRAL_TEST_IMAGE" true
    assert_contains "$output" "overlay lowerdir \`$WORK/secret\` is denied" "overlay of a refused source"
    run_podman run --rm --name "$NAME" -v "$WORK/plain:/ov:O" "$CORRAL_TEST_IMAGE" \
        sh -c 'cat /ov/file; grep " /ov " /proc/self/mountinfo'
    assert_contains "$output" "data" "an overlay of a plain directory is readable"
    assert_contains "$output" "lowerdir=/run/corral/" "the lower layer is the staged copy of the judged directory"
}

@test "read-only binds are recursive: a mount under the source stays read-only" {
    mkdir -p "$WORK/src/sub" "$WORK/ws"
    chmod 1777 "$WORK/src" "$WORK/ws"
    mount -t tmpfs -o mode=1777,size=1m tmpfs "$WORK/src/sub"
    SUBMOUNT=$WORK/src/sub
    run_podman run --rm --name "$NAME" -v "$WORK/src:/data" -v "$WORK/ws:/workspace" "$CORRAL_TEST_IMAGE" \
        sh -c 'touch /data/sub/x 2>&1; touch /workspace/ok && echo workspace-writable'
    assert_contains "$output" "/data/sub/x: Read-only file system" "the submount is read-only inside"
    assert_contains "$output" "workspace-writable" "the writable /workspace bind still works"
    [ ! -e "$WORK/src/sub/x" ] || die "the container wrote into the host submount"
}

@test "propagation rshared is rewritten to private" {
    mkdir -p "$WORK/src"
    run_podman run --rm --name "$NAME" -v "$WORK/src:/data:rshared" "$CORRAL_TEST_IMAGE" \
        sh -c 'grep " /data " /proc/self/mountinfo'
    assert_contains "$output" " /data " "the bind is there"
    assert_not_contains "$output" "shared:" "the bind does not share mount events with the host"
}

@test "host sockets and FIFOs are never bound in; a plain file is" {
    /usr/bin/python3 -c "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])" "$WORK/agent.sock"
    mkfifo "$WORK/pipe"
    echo plain >"$WORK/plain"
    run_podman '!' run --rm --name "$NAME" -v "$WORK/agent.sock:/s" "$CORRAL_TEST_IMAGE" true
    assert_contains "$output" "is a socket" "a socket refused"
    run_podman '!' run --rm --name "$NAME" -v "$WORK/pipe:/p" "$CORRAL_TEST_IMAGE" true
    assert_contains "$output" "is a FIFO" "a FIFO refused"
    run_podman run --rm --name "$NAME" -v "$WORK/plain:/p" "$CORRAL_TEST_IMAGE" cat /p
    assert_eq "$output" "plain" "a plain file is bound"
}

# make_bundle: a busybox bundle from containerd's config.json (podman cannot
# pass --uidmap here: docs/facts.md), running `sh -c "$1"`.
make_bundle() {
    mkdir -p "$WORK/bundle/rootfs"
    build_rootfs_tar "$WORK/rootfs.tar"
    tar -C "$WORK/bundle/rootfs" -xf "$WORK/rootfs.tar"
    /usr/bin/python3 - "$TESTS_DIR/fixtures/engines/containerd-ctr-run.json" "$WORK/bundle/config.json" "$1" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["args"] = ["sh", "-c", sys.argv[3]]
c["process"]["terminal"] = False
c["root"] = {"path": "rootfs"}
json.dump(c, open(sys.argv[2], "w"), indent=2)
PY
}

# with_userns UIDHOST GIDHOST: add a user namespace mapping container ids
# 0-65535 onto host ids from UIDHOST / GIDHOST, plus 65534 -> $3 if given.
with_userns() {
    /usr/bin/python3 - "$WORK/bundle/config.json" "$@" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["linux"]["namespaces"].append({"type": "user"})
u, g = int(sys.argv[2]), int(sys.argv[3])
if len(sys.argv) > 4:
    c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": u, "size": 65534},
                                 {"containerID": 65534, "hostID": int(sys.argv[4]), "size": 1}]
else:
    c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": u, "size": 65536}]
c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": g, "size": 65536}]
json.dump(c, open(p, "w"), indent=2)
PY
}

@test "a user namespace putting the agent's uid on host root is refused; onto a subordinate range it runs" {
    make_bundle 'cat /proc/self/uid_map; id -u'
    with_userns 100000 100000 0
    run_corral '!' --policy "$SRC_DIR/configs/policy.json" --root "$ROOT" run --bundle "$WORK/bundle" "$NAME"
    assert_contains "$output" "linux.uidMappings[1]" "the error names the mapping"
    assert_contains "$output" "host ids 0-0" "the error names host root"
    run runc --root "$ROOT" state "$NAME"
    [ "$status" -ne 0 ] || die "runc knows the refused container"

    make_bundle 'cat /proc/self/uid_map; id -u'
    with_userns 100000 100000
    # As engines do for a user namespace: the rootfs belongs to the mapped
    # root, so runc can make mountpoints in it (the scratch /home/agent).
    chown -R 100000:100000 "$WORK/bundle/rootfs"
    run_corral --policy "$SRC_DIR/configs/policy.json" --root "$ROOT" run --bundle "$WORK/bundle" "$NAME"
    assert_contains "$output" "100000" "the agent runs in the subordinate mapping"
    assert_contains "$output" "65534" "as the profile's user inside"
}

@test "gVisor: a read-only bind is read-only below too (runsc takes no rro)" {
    command -v runsc >/dev/null || skip "runsc not installed (Debian package runsc)"
    mkdir -p "$WORK/src/sub"
    chmod 1777 "$WORK/src"
    mount -t tmpfs -o mode=1777,size=1m tmpfs "$WORK/src/sub"
    SUBMOUNT=$WORK/src/sub
    run_podman run --rm --name "$NAME" --annotation run.corral.runtime=gvisor -v "$WORK/src:/data" \
        "$CORRAL_TEST_IMAGE" sh -c 'touch /data/sub/x 2>&1; ls /data'
    assert_contains "$output" "/data/sub/x: Read-only file system" "the submount is read-only inside gVisor"
    assert_contains "$output" "sub" "the bind itself is there"
    [ ! -e "$WORK/src/sub/x" ] || die "the sandbox wrote into the host submount"
}

# A tenant's shared directory $WORK/share/proj bound at /x, and a refused
# directory of the same shape the share can be turned into a symlink to.
race_setup() {
    mkdir -p "$WORK/share/proj" "$WORK/secret/proj"
    echo JUDGED-CONTENT >"$WORK/share/proj/file"
    echo REFUSED-CONTENT >"$WORK/secret/proj/file"
    chmod -R a+rX "$WORK/share" "$WORK/secret"
    policy_with "p['profiles']['default']['filesystem']['mount_rules'].append({'source': '$WORK/secret', 'action': 'refuse'})"
    make_bundle 'cat /x/file'
    /usr/bin/python3 - "$WORK/bundle/config.json" "$WORK/share/proj" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["mounts"].append({"destination": "/x", "type": "bind", "source": sys.argv[2], "options": ["rbind", "ro"]})
json.dump(c, open(sys.argv[1], "w"), indent=2)
PY
}

# run_paused_at STAGE: `corral run` of the bundle in the background, paused
# at STAGE of create until resume_run; RUN_STATUS and $WORK/run.out then.
run_paused_at() {
    CORRAL_TEST_PAUSE_AT=$1 CORRAL_TEST_PAUSE_FILE=$WORK/paused \
        "$CORRAL" --policy "$WORK/policy.json" --root "$ROOT" run --bundle "$WORK/bundle" "$NAME" \
        </dev/null >"$WORK/run.out" 2>&1 &
    CORRAL_PID=$!
    wait_for 30 test -e "$WORK/paused" || die "corral never reached $1: $(cat "$WORK/run.out")"
}

resume_run() {
    rm -f "$WORK/paused"
    RUN_STATUS=0
    wait "$CORRAL_PID" || RUN_STATUS=$?
    CORRAL_PID=
    sed 's/^/#   /' "$WORK/run.out" >&2
}

# The other tenant's move: the share's directory becomes a symlink to the
# refused directory, so the checked path now leads there.
swap_share_for_symlink() {
    mv "$WORK/share" "$WORK/share.judged"
    ln -s "$WORK/secret" "$WORK/share"
}

assert_no_staged_mount() {
    local left
    left=$(corral_mounts | grep -F "/$NAME/" || true)
    [ -z "$left" ] || die "staged binds of $NAME left mounted: $left"
}

@test "a bind swapped for a symlink after the check reaches nothing unchecked: the container sees the judged directory" {
    race_setup
    # Without the swap the refused directory is refused as a source.
    sed "s|$WORK/share/proj|$WORK/secret/proj|" "$WORK/bundle/config.json" >"$WORK/refused.json"
    cp "$WORK/bundle/config.json" "$WORK/judged.json"
    cp "$WORK/refused.json" "$WORK/bundle/config.json"
    run_corral '!' --policy "$WORK/policy.json" --root "$ROOT" run --bundle "$WORK/bundle" "$NAME"
    assert_contains "$output" "host path \`$WORK/secret/proj\` at \`/x\` is denied" "the refused directory is refused"
    cp "$WORK/judged.json" "$WORK/bundle/config.json"

    # The swap after corral checked and staged the source, before the
    # delegate mounts it (the window the delegate used to resolve the path).
    run_paused_at after-save
    swap_share_for_symlink
    resume_run
    [ "$RUN_STATUS" -eq 0 ] || die "the container did not run: $(cat "$WORK/run.out")"
    assert_contains "$(cat "$WORK/run.out")" "JUDGED-CONTENT" "the container sees the directory corral checked"
    assert_not_contains "$(cat "$WORK/run.out")" "REFUSED-CONTENT" "the container never sees the refused directory"
    assert_no_staged_mount
    assert_no_state_record "$NAME"
}

@test "a bind source changed between the check and the staging is refused, naming the mount" {
    race_setup
    run_paused_at before-stage
    swap_share_for_symlink
    resume_run
    [ "$RUN_STATUS" -ne 0 ] || die "a bind through a new symlink was staged"
    assert_contains "$(cat "$WORK/run.out")" "mounts[/x]: bind source \`$WORK/share/proj\` changed after corral checked it" \
        "the error names the destination and the source"
    assert_contains "$(cat "$WORK/run.out")" "a symlink is now on its path" "the error says what changed"
    run runc --root "$ROOT" state "$NAME"
    [ "$status" -ne 0 ] || die "runc knows the refused container"
    assert_no_staged_mount
    assert_no_state_record "$NAME"

    # The source itself turned into a FIFO: the type is checked again.
    rm -f "$WORK/share"
    mv "$WORK/share.judged" "$WORK/share"
    run_paused_at before-stage
    rm -rf "$WORK/share/proj"
    mkfifo "$WORK/share/proj"
    resume_run
    [ "$RUN_STATUS" -ne 0 ] || die "a FIFO was staged"
    assert_contains "$(cat "$WORK/run.out")" "is a FIFO now" "the error names the new type"
    assert_no_staged_mount
}

# create_detached: `corral create` of the bundle; the container's stdio goes
# to a file (bats would wait for the created container's end of its pipe).
create_detached() {
    "$CORRAL" --policy "$WORK/policy.json" --root "$ROOT" create --bundle "$WORK/bundle" "$NAME" \
        </dev/null >"$WORK/create.out" 2>&1 || die "create failed: $(cat "$WORK/create.out")"
}

@test "delete unmounts the staged binds, with --force and when runc no longer knows the container" {
    race_setup
    cp "$WORK/bundle/config.json" "$WORK/engine.json"
    create_detached
    corral_mounts | grep -qF "/$NAME/binds/" || die "the bind is not staged"
    run_corral --root "$ROOT" delete --force "$NAME"
    assert_no_staged_mount
    assert_no_state_record "$NAME"
    assert_eq "$(cat "$WORK/share/proj/file")" "JUDGED-CONTENT" "the host directory keeps its content"

    # The container is gone from runc behind corral's back.  (The engine
    # writes config.json for each create: the one corral rewrote names
    # staged paths that went with the container.)
    cp "$WORK/engine.json" "$WORK/bundle/config.json"
    create_detached
    corral_mounts | grep -qF "/$NAME/binds/" || die "the bind is not staged"
    runc --root "$ROOT" delete --force "$NAME"
    run_corral '?' --root "$ROOT" delete "$NAME"
    assert_no_staged_mount
    assert_no_state_record "$NAME"
    assert_eq "$(cat "$WORK/share/proj/file")" "JUDGED-CONTENT" "the host directory keeps its content"
}

@test "podman binds go through staged mounts: rw, ro and a file work; nothing stays mounted after rm" {
    mkdir -p "$WORK/rw" "$WORK/ro"
    chmod 1777 "$WORK/rw"
    echo ro-data >"$WORK/ro/f"
    echo file-data >"$WORK/file"
    run_podman create --name "$NAME" -v "$WORK/rw:/workspace" -v "$WORK/ro:/ro:ro" -v "$WORK/file:/file" \
        "$CORRAL_TEST_IMAGE" sh -c 'echo hi >/workspace/new; cat /ro/f /file; touch /ro/x 2>&1; grep " /ro " /proc/self/mountinfo'
    run_podman init "$NAME"
    local id staged left
    id=$(podman inspect --format '{{.Id}}' "$NAME")
    staged=$(corral_mounts | grep -F "/$id/binds/" || true)
    [ "$(printf '%s\n' "$staged" | grep -c .)" -ge 3 ] || die "the three binds are not staged: $staged"
    run_podman start -a "$NAME"
    assert_contains "$output" "ro-data" "the read-only bind is readable"
    assert_contains "$output" "file-data" "the file bind is readable"
    assert_contains "$output" "/ro/x: Read-only file system" "the read-only bind is read-only"
    assert_contains "$output" " ro," "the delegate's bind of the staged copy is mounted ro"
    assert_eq "$(cat "$WORK/rw/new")" "hi" "the writable bind writes to the host directory"
    run_podman rm "$NAME"
    left=$(corral_mounts | grep -F "/$id/" || true)
    [ -z "$left" ] || die "staged binds left mounted after podman rm: $left"
    [ -e "$WORK/ro/f" ] || die "the host directory lost its content"
}

@test "secrets under other names and by value are stripped; plain variables pass" {
    run_podman run --rm --name "$NAME" -e MYSQL_PWD=hunter2 -e npm_config__authToken=npmtok \
        -e REDIS_URL=redis://:hunter2@cache:6379/0 -e GITHUB_PAT=patvalue \
        -e NOTES=ghp_0123456789abcdefghijABCDEFGHIJ012345 -e CACHE_URL=redis://cache:6379/0 -e PLAIN=hello \
        "$CORRAL_TEST_IMAGE" env
    assert_not_contains "$output" "hunter2" "no password reaches the agent"
    assert_not_contains "$output" "npmtok" "npm auth token stripped"
    assert_not_contains "$output" "patvalue" "GITHUB_PAT stripped"
    assert_not_contains "$output" "ghp_" "a GitHub token under an innocent name stripped"
    assert_contains "$output" "CACHE_URL=redis://cache:6379/0" "a URL without credentials passes"
    assert_contains "$output" "PLAIN=hello" "a plain variable passes"
}

@test "audit: a create with 40 000 secret-looking variables writes a bounded record; the next create still starts" {
    mkdir -p "$WORK/key"
    policy_with "p['audit'] = {'path': '$WORK/audit.jsonl', 'key': '$WORK/key/audit.key'}"
    make_bundle 'echo started'
    /usr/bin/python3 - "$WORK/bundle/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["env"] += ["SECRET_TOKEN_%05d_%s=x" % (i, "y" * 300) for i in range(40000)]
json.dump(c, open(sys.argv[1], "w"))
PY
    run_corral --policy "$WORK/policy.json" --root "$ROOT" run --bundle "$WORK/bundle" "$NAME"
    assert_contains "$output" "started" "the container with many variables runs"
    local size
    size=$(stat -c %s "$WORK/audit.jsonl")
    [ "$size" -lt 1048576 ] || die "the audit record is $size bytes"
    assert_contains "$(cat "$WORK/audit.jsonl")" '"stripped_env_total":40000' "the record counts every name"
    make_bundle 'echo second'
    run_corral --policy "$WORK/policy.json" --root "$ROOT" run --bundle "$WORK/bundle" "$NAME-2"
    assert_contains "$output" "second" "the next container starts (the log still appends)"
    run_corral --policy "$WORK/policy.json" audit verify
    assert_contains "$output" "2 records, chain intact" "the chain verifies"
}

@test "--oom-score-adj below 0 becomes 0; a positive score is kept" {
    run_podman run --rm --name "$NAME" --oom-score-adj -500 "$CORRAL_TEST_IMAGE" cat /proc/self/oom_score_adj
    assert_eq "$output" "0" "the agent is not shielded from the OOM killer"
    run_podman run --rm --name "$NAME" --oom-score-adj 500 "$CORRAL_TEST_IMAGE" cat /proc/self/oom_score_adj
    assert_eq "$output" "500" "a score that makes the agent the first victim is kept"
}

@test "--ulimit rtprio is set to 0; a lowering --ulimit is kept" {
    run_podman run --rm --name "$NAME" --ulimit rtprio=99:99 --ulimit fsize=1048576:1048576 "$CORRAL_TEST_IMAGE" \
        sh -c 'ulimit -r; ulimit -f'
    assert_eq "$output" $'0\n2048' "no realtime priority; the file size limit (in 512-byte blocks) kept"
}

@test "--sysctl outside the safe list is refused; a namespaced safe one is set" {
    run_podman '!' run --rm --name "$NAME" --sysctl net.ipv4.ip_forward=1 "$CORRAL_TEST_IMAGE" true
    assert_contains "$output" "linux.sysctl.net.ipv4.ip_forward: refused" "the error names the sysctl"
    run_podman run --rm --name "$NAME" --sysctl net.ipv4.ip_unprivileged_port_start=80 "$CORRAL_TEST_IMAGE" \
        cat /proc/sys/net/ipv4/ip_unprivileged_port_start
    assert_eq "$output" "80" "a safe namespaced sysctl is applied"
}

@test "a bundle corral rewrote for another container loses that container's corral hooks" {
    make_bundle 'echo ok'
    /usr/bin/python3 - "$WORK/bundle/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["hooks"] = {"createRuntime": [{"path": "/usr/local/bin/corral",
                                 "args": ["corral", "hook", "create-runtime", "--state-dir", "/run/corral/0000/victim"]}],
              "poststop": [{"path": "/bin/true", "args": ["true"]}]}
json.dump(c, open(sys.argv[1], "w"))
PY
    run_corral --policy "$SRC_DIR/configs/policy.json" --root "$ROOT" run --bundle "$WORK/bundle" "$NAME"
    assert_contains "$output" "ok" "the container runs"
    run /usr/bin/python3 -c 'import json,sys; h=json.load(open(sys.argv[1]))["hooks"]; print(json.dumps(h))' \
        "$WORK/bundle/config.json"
    assert_not_contains "$output" "/run/corral/0000/victim" "the other container's state dir is gone"
    assert_contains "$output" "\"--state-dir\", \"" "this container's own hook is there"
    assert_contains "$output" "\"poststop\": [{\"path\": \"/bin/true\"" "the engine's hook is kept"
}

# vsock_probe: a static probe of socket() for AF_VSOCK, AF_INET and AF_UNIX,
# built into the test's own directory (bound into the container).
vsock_probe() {
    cat >"$WORK/vsock-probe.c" <<'C'
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
int main (void)
{
  int f[] = { AF_VSOCK, AF_INET, AF_UNIX };
  const char *n[] = { "vsock", "inet", "unix" };
  for (int i = 0; i < 3; i++)
    {
      int s = socket (f[i], SOCK_STREAM, 0);
      printf ("%s: %s\n", n[i], s < 0 ? strerror (errno) : "ok");
    }
  return 0;
}
C
    gcc -static -O2 -o "$WORK/vsock-probe" "$WORK/vsock-probe.c" || die "cannot build the probe (gcc, libc6-dev)"
}

@test "socket(AF_VSOCK) fails inside the agent; inet and unix sockets work" {
    [ -e /dev/vsock ] || [ -d /sys/module/vsock ] || skip "no vsock on this host (nothing to reach)"
    vsock_probe
    run "$WORK/vsock-probe"
    assert_contains "$output" "vsock: ok" "the host itself can open a vsock socket (the control)"
    run_podman run --rm --name "$NAME" -v "$WORK/vsock-probe:/probe" "$CORRAL_TEST_IMAGE" /probe
    assert_not_contains "$output" "vsock: ok" "the agent cannot open a vsock socket"
    assert_contains "$output" "inet: ok" "inet sockets still open"
    assert_contains "$output" "unix: ok" "unix sockets still open"
}
