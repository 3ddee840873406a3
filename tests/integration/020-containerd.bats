#!/usr/bin/env bats
# containerd: ctr runs containers through corral (runc v2 shim, BinaryName =
# corral), on a containerd of this file's own configured with
# contrib/containerd/config.toml.

load ../lib/helpers
load ../lib/engines

# bats 1.8 cannot skip from setup_file: it records why containerd cannot
# run in CTD_SKIP, and setup skips each test with that reason.
setup_file() {
    local b
    export CTD_SKIP=
    for b in containerd ctr containerd-shim-runc-v2; do
        if ! command -v "$b" >/dev/null; then
            CTD_SKIP="containerd cannot run here: $b is not installed (Debian package containerd)"
            echo "# skipping all tests: $CTD_SKIP" >&3
            return 0
        fi
    done
    start_containerd "$CONTRIB_DIR/containerd/config.toml"
    import_ctr_image
}

teardown_file() {
    stop_containerd
}

setup() {
    [ -z "$CTD_SKIP" ] || skip "$CTD_SKIP"
    NAME=$(unique_name ctr)
}

teardown() {
    [ -z "$CTD_SKIP" ] || return 0
    ctr_remove_all
    rm -f "${CTD_DIR:?}/$NAME.log"
}

# ctr_run ARGS...: `ctr run` through corral ([expected-status] first).
ctr_run() {
    local expected=0
    if is_status "${1:-}"; then expected=$1; shift; fi
    run_ctr "$expected" run --runc-binary "$CORRAL" "$@"
}

# task_status ID: the task's status in `ctr task ls` (RUNNING, STOPPED...).
task_status() {
    ctr_cmd tasks ls | awk -v id="$1" '$1 == id { print $3 }'
}

@test "contrib config.toml: the CRI plugin loads with the corral handler" {
    run_cmd ctr --address "$CTD_SOCK" plugins ls
    local cri
    cri=$(echo "$output" | awk '$1 == "io.containerd.grpc.v1" && $2 == "cri" { print $NF }')
    assert_eq "$cri" "ok" "CRI plugin status with the contrib config"

    run_cmd containerd --config "$CTD_DIR/config.toml" config dump
    assert_contains "$output" '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.corral]' \
        "corral runtime handler in the effective config"
    assert_contains "$output" 'BinaryName = "/usr/local/bin/corral"' "corral is the handler's binary"
    assert_contains "$output" 'pod_annotations = ["run.corral.*"]' "run.corral.* pod annotations pass"
    assert_contains "$output" '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]' \
        "runc handler kept beside corral"
}

@test "ctr run: non-root, no capabilities, output reaches the user, no state record left" {
    ctr_run --rm "$ENGINE_IMAGE" "$NAME" /bin/sh -c 'id -u; grep CapEff /proc/self/status'
    assert_eq "$output" $'65534\nCapEff:\t0000000000000000' "uid and effective capabilities inside"
    assert_no_state_record "$NAME"
}

@test "ctr run --privileged: still no capabilities, seccomp on" {
    ctr_run --rm --privileged "$ENGINE_IMAGE" "$NAME" \
        grep -E '^(CapEff|CapBnd|Seccomp):' /proc/self/status
    assert_contains "$output" $'CapEff:\t0000000000000000' "effective capabilities under --privileged"
    assert_contains "$output" $'CapBnd:\t0000000000000000' "bounding set under --privileged"
    assert_contains "$output" $'Seccomp:\t2' "seccomp filter under --privileged"
    assert_no_state_record "$NAME"
}

@test "ctr run -d, task exec, task kill, task delete, container rm: no state record left" {
    local log=$CTD_DIR/$NAME.log
    ctr_run -d --log-uri "file://$log" "$ENGINE_IMAGE" "$NAME" \
        sh -c 'echo started; trap "echo got-term; exit 7" TERM; while :; do sleep 0.1; done'
    wait_for 20 grep -q started "$log" || die "the container never wrote to its log: $(cat "$log" 2>&1)"
    assert_eq "$(task_status "$NAME")" "RUNNING" "task status after ctr run -d"
    [ -n "$(state_records_for "$NAME")" ] || die "corral recorded no delegate for running container $NAME"

    run_ctr task exec --exec-id "$NAME-e1" "$NAME" sh -c 'echo exec-ok; id -u'
    assert_eq "$output" $'exec-ok\n65534' "exec output and uid"

    run_ctr task kill "$NAME"
    wait_for 20 eval '[ "$(task_status "$NAME")" = STOPPED ]' ||
        die "task not stopped 20s after SIGTERM: $(task_status "$NAME")"

    assert_contains "$(cat "$log")" "got-term" "SIGTERM reached the container's process"
    # ctr task delete reports (but does not exit with) the task's status.
    run_ctr task delete "$NAME"
    assert_contains "$output" "exit code 7" "the task's exit status, from its TERM trap"
    run_ctr container rm "$NAME"
    run_ctr containers ls -q
    assert_not_contains "$output" "$NAME" "container list after rm"
    assert_no_state_record "$NAME"
    assert_no_corral_process "$NAME"
}

@test "ctr run --label run.corral.profile=offline: the host network is replaced by loopback only" {
    # Without the profile, corral refuses the host's network namespace...
    ctr_run 1 --rm --net-host "$ENGINE_IMAGE" "$NAME" true
    assert_contains "$output" "OCI runtime create failed" "containerd reports the create failure"
    assert_contains "$output" "share the host's network namespace" "corral's reason reaches the ctr user"
    assert_no_state_record "$NAME"

    # ...with it (ctr --label lands in the spec's annotations), the container
    # gets a namespace of its own holding only lo.
    ctr_run --rm --net-host --label run.corral.profile=offline "$ENGINE_IMAGE" "$NAME-off" \
        sh -c "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"
    assert_eq "$output" "lo" "interfaces under the offline profile"
    assert_no_state_record "$NAME-off"

    # ...and loopback works: local servers are an agent's business.
    ctr_run --rm --net-host --label run.corral.profile=offline "$ENGINE_IMAGE" "$NAME-lo" sh -c "$LOOPBACK_PROBE"
    assert_contains "$output" "loopback=yes got=hi" "a TCP connection to 127.0.0.1 under the offline profile"
    assert_no_state_record "$NAME-lo"
}

@test "ctr run --label run.corral.memory=999g is refused and the reason reaches the user" {
    ctr_run 1 --rm --label run.corral.memory=999g "$ENGINE_IMAGE" "$NAME" echo should-not-run
    assert_not_contains "$output" "should-not-run" "the container did not run"
    assert_contains "$output" "OCI runtime create failed" "containerd reports the create failure"
    assert_contains "$output" "run.corral.memory=999g would loosen" "corral's reason reaches the ctr user"
    assert_no_state_record "$NAME"
}

@test "ctr run --label run.corral.memory=64m tightens the memory limit" {
    ctr_run -d --null-io --label run.corral.memory=64m "$ENGINE_IMAGE" "$NAME" sleep 300
    # ctr puts the task in the cgroup /<namespace>/<id>; ctr's spec mounts no
    # cgroupfs inside, so read the limit from the host.
    local limit=/sys/fs/cgroup/memory/$CTD_NS/$NAME/memory.limit_in_bytes
    [ -r "$limit" ] || die "no memory cgroup $limit for the running task"
    assert_eq "$(cat "$limit")" "67108864" "memory limit of the task's cgroup"
    run_ctr task kill -s SIGKILL "$NAME"
    wait_for 20 eval '[ "$(task_status "$NAME")" = STOPPED ]' || die "task not stopped after SIGKILL"
    run_ctr task delete "$NAME"
    run_ctr container rm "$NAME"
    assert_no_state_record "$NAME"
}

@test "ctr run: writing to / fails, /tmp is writable" {
    ctr_run --rm "$ENGINE_IMAGE" "$NAME" sh -c \
        'touch /x 2>&1; echo "root=$?"; touch /tmp/ok && echo tmp-writable'
    assert_contains "$output" "/x: Read-only file system" "writing / fails"
    assert_contains "$output" "root=1" "touch / exit status"
    assert_contains "$output" "tmp-writable" "/tmp is writable"
    assert_no_state_record "$NAME"
}

@test "ctr run --env: a secret is stripped, a plain variable stays" {
    ctr_run --rm --env GITHUB_TOKEN=x --env PLAIN=1 "$ENGINE_IMAGE" "$NAME" env
    assert_not_contains "$output" "GITHUB_TOKEN" "secret in the container's environment"
    assert_contains "$output" "PLAIN=1" "plain variable in the container's environment"
    assert_no_state_record "$NAME"
}

@test "ctr run --label run.corral.profile=untrusted: gVisor, offline, full lifecycle" {
    command -v runsc >/dev/null || skip "runsc is not installed (Debian package runsc)"
    ctr_run -d --null-io --label run.corral.profile=untrusted "$ENGINE_IMAGE" "$NAME" sleep 300
    wait_for 20 eval '[ "$(task_status "$NAME")" = RUNNING ]' || die "task not running: $(task_status "$NAME")"

    run_ctr task exec --exec-id "$NAME-e1" "$NAME" sh -c "uname -r; id -u; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"
    local kernel
    kernel=$(echo "$output" | sed -n 1p)
    [ -n "$kernel" ] && [ "$kernel" != "$(uname -r)" ] ||
        die "untrusted container sees kernel '$kernel', the host's is $(uname -r): not gVisor"
    assert_eq "$(echo "$output" | sed -n 2p)" "65534" "uid under gVisor"
    assert_not_contains "$output" "eth" "untrusted has no network interface but loopback"

    run_ctr task kill -s SIGKILL "$NAME"
    wait_for 20 eval '[ "$(task_status "$NAME")" = STOPPED ]' || die "task not stopped after SIGKILL"
    run_ctr task delete "$NAME"
    run_ctr container rm "$NAME"
    assert_no_state_record "$NAME"
    assert_no_corral_process "$NAME"
}

@test "ctr run --label run.corral.profile=untrusted: loopback works under gVisor as under runc" {
    command -v runsc >/dev/null || skip "runsc is not installed (Debian package runsc)"
    # The offline profile promises a namespace with only loopback; the
    # offline test above shows it working under runc.
    ctr_run --rm --label run.corral.profile=untrusted "$ENGINE_IMAGE" "$NAME" sh -c "$LOOPBACK_PROBE"
    assert_contains "$output" "loopback=yes got=hi" "a TCP connection to 127.0.0.1 under the untrusted profile (gVisor)"
    assert_no_state_record "$NAME"
}
