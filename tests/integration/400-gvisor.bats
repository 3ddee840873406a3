#!/usr/bin/env bats
# gVisor handoff: flagged containers run under runsc with the same policy and
# egress filter, and never fall back to runc.

load ../lib/helpers

GW=10.88.0.1
ALLOWED=18090
DENIED=18091

setup_file() {
    ensure_podman_image
}

setup() {
    command -v runsc >/dev/null || skip "runsc is not installed (Debian package runsc)"
    NAME=$(unique_name gvisor)
    WORK=$(mktemp -d)
    policy_with "p['profiles']['default']['egress']['allow'] = ['$GW:$ALLOWED/tcp']"
    WRAPPER=$(make_policy_wrapper "$WORK/policy.json")
    # shellcheck disable=SC2034 # read by run_podman (helpers.bash)
    RUNTIME=$WRAPPER
    HOST_KERNEL=$(uname -r)
}

teardown() {
    stop_listeners
    # One name per call: podman rm stops at a name it does not know.
    local n
    for n in "$NAME" "$NAME-runc"; do
        podman --runtime "$WRAPPER" rm -f -t 0 "$n" >/dev/null 2>&1 || true
    done
    rm -rf "$(dirname "$WRAPPER")" "$WORK"
}


@test "a flagged container runs under gVisor, an unflagged one under runc, side by side" {
    run_podman run -d --name "$NAME" --annotation run.corral.runtime=gvisor "$CORRAL_TEST_IMAGE" sleep 300
    run_podman run -d --name "$NAME-runc" "$CORRAL_TEST_IMAGE" sleep 300
    run_podman exec "$NAME" uname -r
    [ "$output" != "$HOST_KERNEL" ] || die "the flagged container sees the host kernel $HOST_KERNEL: not gVisor"
    run_podman exec "$NAME" cat /proc/version
    assert_not_contains "$output" "$HOST_KERNEL" "gVisor's /proc/version"
    run_podman exec "$NAME-runc" uname -r
    assert_eq "$output" "$HOST_KERNEL" "the unflagged container runs on the host kernel"
}

@test "the untrusted profile runs under gVisor and is offline" {
    run_podman run --rm --name "$NAME" --annotation run.corral.profile=untrusted "$CORRAL_TEST_IMAGE" \
        sh -c "uname -r; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"
    assert_not_contains "$output" "$HOST_KERNEL" "untrusted runs under gVisor"
    assert_not_contains "$output" "eth0" "untrusted has no network interface but loopback"
}

@test "gVisor lifecycle through podman: run -d, exec, pause, unpause, stop, rm, nothing left" {
    run_podman run -d --name "$NAME" --annotation run.corral.runtime=gvisor "$CORRAL_TEST_IMAGE" \
        sh -c 'echo started; exec sleep 300'
    local id=$output
    run_podman exec "$NAME" echo exec-ok
    assert_eq "$output" "exec-ok" "exec under gVisor"
    run_podman pause "$NAME"
    run_podman inspect --format '{{.State.Status}}' "$NAME"
    assert_eq "$output" "paused" "paused under gVisor"
    run_podman unpause "$NAME"
    run_podman exec "$NAME" true
    run_podman logs "$NAME"
    assert_contains "$output" "started" "logs under gVisor"
    run_podman stop -t 1 "$NAME"
    run_podman rm "$NAME"
    assert_no_state_record "$id"
    [ ! -d /run/corral/runsc ] || [ -z "$(ls -A /run/corral/runsc)" ] ||
        die "runsc state left behind: $(ls -R /run/corral/runsc)"
}

@test "hardening holds under gVisor: user, read-only root, capabilities, seccomp, secrets" {
    run_podman run --rm --name "$NAME" --annotation run.corral.runtime=gvisor --user 0 -e GITHUB_TOKEN=x \
        -e PLAIN=1 "$CORRAL_TEST_IMAGE" sh -c \
        'id -u; touch /etc/x 2>&1; grep -E "^CapEff" /proc/self/status; env; syscall-probe ptrace; true'
    assert_contains "$output" "65534" "profile user"
    assert_contains "$output" "/etc/x:" "root filesystem not writable"
    assert_contains "$output" $'CapEff:\t0000000000000000' "no capabilities"
    assert_contains "$output" "PLAIN=1" "plain variable kept"
    assert_not_contains "$output" "GITHUB_TOKEN" "secret stripped"
    assert_contains "$output" "ptrace: EPERM" "agent seccomp filter enforced by runsc"
}

@test "egress under gVisor: allowed listener reached, denied listener sees nothing, denial logged" {
    run_podman run -d --name "$NAME" --annotation run.corral.runtime=gvisor "$CORRAL_TEST_IMAGE" sleep 300
    local id=$output
    start_listener "$GW" "$ALLOWED" "$WORK/allowed.log"
    start_listener "$GW" "$DENIED" "$WORK/denied.log"
    run_podman exec "$NAME" sh -c "nc -w 3 $GW $ALLOWED </dev/null"
    assert_eq "$output" "hello" "allowed destination reached from gVisor"
    run_podman exec "$NAME" sh -c "nc -w 3 $GW $DENIED </dev/null; echo rc=\$?"
    assert_contains "$output" "rc=1" "denied connection failed under gVisor"
    [ ! -s "$WORK/denied.log" ] || die "the denied listener saw a gVisor connection"
    run_corral egress show "$id"
    assert_contains "$output" "egress   allow $GW/32:$ALLOWED/tcp" "netdev egress table on the sandbox's interface"
    wait_for 10 grep -q "\"container\":\"$id\".*\"port\":$DENIED" /var/log/corral/egress.log ||
        die "no denied-packet record for the gVisor container"
}

@test "without runsc a flagged container fails with a clear error and nothing runs" {
    policy_with "p['runtimes']['gvisor'] = '/nonexistent/runsc'"
    # Podman reports a runtime's ENOENT as 127.
    run_podman 127 run --rm --name "$NAME" --annotation run.corral.runtime=gvisor "$CORRAL_TEST_IMAGE" \
        echo agent-process-ran
    assert_not_contains "$output" "agent-process-ran" "nothing ran under runc instead"
    assert_contains "$output" "gVisor, which is not available" "error says gVisor is missing"
    assert_contains "$output" "runsc" "error names what to install"
    assert_no_state_record "$NAME"
}

@test "gVisor never gets the host network: --network host is refused" {
    run_podman 126 run --rm --name "$NAME" --annotation run.corral.runtime=gvisor --network host \
        "$CORRAL_TEST_IMAGE" true
    assert_contains "$output" "host's network namespace" "host network refused for gVisor"
}

@test "a container cannot leave gVisor by annotation" {
    policy_with "p['profiles']['untrusted']['overridable'] = ['run.corral.runtime']"
    run_podman 126 run --rm --name "$NAME" --annotation run.corral.profile=untrusted \
        --annotation run.corral.runtime=runc "$CORRAL_TEST_IMAGE" true
    assert_contains "$output" "would loosen" "leaving gVisor refused"
}

@test "explain and the audit log list what runsc does not honour as runc would, and the list holds" {
    mkdir -p "$WORK/bundle/rootfs"
    cp "$SRC_DIR/tests/fixtures/engines/podman-run.json" "$WORK/bundle/config.json"
    run_corral --policy "$WORK/policy.json" explain --bundle "$WORK/bundle" --profile untrusted
    assert_contains "$output" "[runsc] not as runc: pids limit 256 applies to the sandbox's host threads" "pids"
    assert_contains "$output" "[runsc] not as runc: the sandbox's /dev holds gVisor's own virtual devices" "devices"
    assert_contains "$output" "[runsc] honoured: seccomp" "what is honoured"
    run_corral --policy "$WORK/policy.json" explain --bundle "$WORK/bundle"
    assert_not_contains "$output" "[runsc]" "nothing about runsc for a runc profile"

    # The devices note is what the sandbox shows: gVisor's own fuse and tun.
    run_podman run --rm --name "$NAME" --annotation run.corral.runtime=gvisor "$CORRAL_TEST_IMAGE" ls /dev
    assert_contains "$output" "fuse" "gVisor's virtual /dev/fuse"
    assert_contains "$output" "net" "gVisor's virtual /dev/net"
    run_podman run --rm --name "$NAME-runc" "$CORRAL_TEST_IMAGE" ls /dev
    assert_not_contains "$output" "fuse" "no /dev/fuse under runc"
    # And the create record keeps the list.
    "$CORRAL" audit show --json | grep '"event":"create"' | tail -n 2 | grep -q '"\[runsc\] not as runc: the sandbox' ||
        die "the create record of the gVisor container lacks the runsc notes"
}
