#!/usr/bin/env bats
# Hardening: whatever Podman asks for, the agent container is confined.

load ../lib/helpers

setup_file() {
    ensure_podman_image
}

setup() {
    NAME=$(unique_name hard)
    WORK=$(mktemp -d)
}

teardown() {
    podman --runtime "$CORRAL" rm -f -t 0 "$NAME" >/dev/null 2>&1 || true
    if [ -n "${SERVICE_PID:-}" ]; then
        kill "$SERVICE_PID" 2>/dev/null || true
        wait "$SERVICE_PID" 2>/dev/null || true
        rm -f /run/podman/podman.sock
    fi
    rm -rf "$WORK"
}

@test "the agent runs as the profile's non-root user, also when asked for root" {
    run_podman run --rm --name "$NAME" --user 0 "$CORRAL_TEST_IMAGE" sh -c 'id -u; id -g; id -G'
    assert_eq "$output" $'65534\n65534\n65534' "uid, gid and groups inside"
}

@test "read-only image, writable /tmp" {
    run_podman run --rm --name "$NAME" "$CORRAL_TEST_IMAGE" sh -c \
        'touch /x 2>&1; touch /etc/x 2>&1; touch /tmp/ok && echo tmp-writable'
    assert_contains "$output" "/x: Read-only file system" "writing / fails"
    assert_contains "$output" "/etc/x: Read-only file system" "writing /etc fails"
    assert_contains "$output" "tmp-writable" "/tmp is writable"
}

@test "no capabilities, no new privileges, seccomp filter on" {
    run_podman run --rm --name "$NAME" "$CORRAL_TEST_IMAGE" \
        grep -E '^(CapEff|CapBnd|CapPrm|NoNewPrivs|Seccomp):' /proc/self/status
    assert_contains "$output" $'CapPrm:\t0000000000000000' "permitted capabilities"
    assert_contains "$output" $'CapEff:\t0000000000000000' "effective capabilities"
    assert_contains "$output" $'CapBnd:\t0000000000000000' "bounding set"
    assert_contains "$output" $'NoNewPrivs:\t1' "no new privileges"
    assert_contains "$output" $'Seccomp:\t2' "seccomp filter mode"
}

@test "--privileged and --cap-add ALL are neutralised" {
    run_podman run --rm --name "$NAME" --privileged --cap-add ALL "$CORRAL_TEST_IMAGE" sh -c \
        'grep -E "^(CapEff|Seccomp):" /proc/self/status; ls /dev | wc -l; touch /sys/x 2>&1; true'
    assert_contains "$output" $'CapEff:\t0000000000000000' "effective capabilities under --privileged"
    assert_contains "$output" $'Seccomp:\t2' "seccomp still on under --privileged"
    assert_contains "$output" "/sys/x: Read-only file system" "sysfs read-only under --privileged"
    local ndev
    ndev=$(echo "$output" | sed -n 3p)
    [ "$ndev" -lt 20 ] || die "host devices exposed under --privileged: $ndev entries in /dev"
}

@test "seccomp: the agent deny list holds, ordinary syscalls work" {
    run_podman run --rm --name "$NAME" "$CORRAL_TEST_IMAGE" sh -c \
        'for s in ptrace process_vm_readv mount unshare clone-newuser bpf keyctl io_uring_setup personality fork getpid; do syscall-probe $s; done'
    # EPERM from corral's rules; ENOSYS where Podman's default-deny filter
    # answers first (clone with namespace flags, odd personalities).
    local s
    for s in ptrace process_vm_readv mount unshare bpf keyctl io_uring_setup; do
        assert_contains "$output" "$s: EPERM" "$s is denied"
    done
    for s in clone-newuser personality; do
        assert_contains "$output" "$s: E" "$s is denied"
        assert_not_contains "$output" "$s: ok" "$s is denied"
    done
    assert_contains "$output" "fork: ok" "plain fork still works"
    assert_contains "$output" "getpid: ok" "getpid works"
}

@test "unshare -n and mount from busybox fail" {
    run_podman run --rm --name "$NAME" "$CORRAL_TEST_IMAGE" sh -c \
        'unshare -n true 2>&1; echo "unshare=$?"; mount -t tmpfs none /tmp 2>&1; echo "mount=$?"'
    assert_contains "$output" "Operation not permitted" "EPERM reported"
    assert_contains "$output" "unshare=1" "unshare failed"
    assert_contains "$output" "mount=1" "mount failed"
}

@test "secrets are stripped from the environment, plain variables stay" {
    run_podman run --rm --name "$NAME" -e GITHUB_TOKEN=ghp_x -e AWS_SECRET_ACCESS_KEY=y \
        -e OPENAI_API_KEY=z -e my_db_password=w -e PLAIN=1 "$CORRAL_TEST_IMAGE" env
    assert_contains "$output" "PLAIN=1" "plain variable kept"
    assert_not_contains "$output" "GITHUB_TOKEN" "GITHUB_TOKEN stripped"
    assert_not_contains "$output" "AWS_SECRET_ACCESS_KEY" "AWS key stripped"
    assert_not_contains "$output" "OPENAI_API_KEY" "OpenAI key stripped"
    assert_not_contains "$output" "my_db_password" "password stripped (any case)"
}

@test "podman exec gets the same confinement (--privileged, --user 0, secrets)" {
    run_podman run -d --name "$NAME" "$CORRAL_TEST_IMAGE" sleep 300
    run_podman exec --privileged --user 0 -e GITHUB_TOKEN=x -e PLAIN=1 "$NAME" sh -c \
        'id -u; grep -E "^CapEff" /proc/self/status; env'
    assert_contains "$output" "65534" "exec runs as the profile user"
    assert_contains "$output" $'CapEff:\t0000000000000000' "exec has no capabilities"
    assert_not_contains "$output" "GITHUB_TOKEN" "exec env secret stripped"
    assert_contains "$output" "PLAIN=1" "exec plain env kept"
}

@test "--network host is refused with a clear message" {
    run_podman 126 run --rm --name "$NAME" --network host "$CORRAL_TEST_IMAGE" true
    assert_contains "$output" "host's network namespace" "host network refused"
}

@test "the offline profile gets only loopback, even on the bridge" {
    run_podman run --rm --name "$NAME" --annotation run.corral.profile=offline "$CORRAL_TEST_IMAGE" \
        sh -c "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"
    assert_eq "$output" "lo" "interfaces in an offline container"
}

@test "sensitive host paths cannot be mounted, also through a symlink" {
    run_podman 126 run --rm --name "$NAME" -v /etc/shadow:/s:ro "$CORRAL_TEST_IMAGE" true
    assert_contains "$output" "/etc/shadow" "shadow refused"
    ln -s /etc/shadow "$WORK/innocent"
    run_podman 126 run --rm --name "$NAME" -v "$WORK/innocent:/s" "$CORRAL_TEST_IMAGE" true
    assert_contains "$output" "mount of host path \`/etc/shadow\`" "symlink resolved and refused"
    run_podman 126 run --rm --name "$NAME" -v /:/host "$CORRAL_TEST_IMAGE" true
    assert_contains "$output" "is denied" "host root refused"
}

@test "the podman API socket cannot be mounted into an agent" {
    mkdir -p /run/podman
    [ ! -e /run/podman/podman.sock ] || skip "a podman service already runs here; not touching it"
    podman system service --time=0 unix:///run/podman/podman.sock &
    SERVICE_PID=$!
    wait_for 20 test -S /run/podman/podman.sock || die "podman API socket did not appear"
    run_podman 126 run --rm --name "$NAME" -v /run/podman/podman.sock:/s "$CORRAL_TEST_IMAGE" true
    assert_contains "$output" "/run/podman/podman.sock" "engine socket refused"
}

@test "other volumes become read-only, nosuid, nodev; /workspace stays writable" {
    mkdir "$WORK/data" "$WORK/ws"
    chmod 777 "$WORK/ws"
    run_podman run --rm --name "$NAME" -v "$WORK/data:/data" -v "$WORK/ws:/workspace" "$CORRAL_TEST_IMAGE" \
        sh -c 'touch /data/x 2>&1; touch /workspace/y && echo ws-ok; grep " /data " /proc/mounts'
    assert_contains "$output" "/data/x: Read-only file system" "volume made read-only"
    assert_contains "$output" "ws-ok" "workspace volume writable"
    assert_contains "$output" "nosuid" "volume nosuid"
    assert_contains "$output" "nodev" "volume nodev"
}

@test "resources: the profile's memory and pids limits apply" {
    run_podman run --rm --name "$NAME" "$CORRAL_TEST_IMAGE" sh -c \
        'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max'
    assert_contains "$output" "2147483648" "memory limit from the default profile"
    assert_contains "$output" "512" "pids limit from the default profile"
}

@test "an annotation may tighten but never loosen the profile" {
    run_podman run --rm --name "$NAME" --annotation run.corral.memory=256m "$CORRAL_TEST_IMAGE" sh -c \
        'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max'
    assert_eq "$output" "268435456" "tightened memory limit"
    run_podman 126 run --rm --name "$NAME" --annotation run.corral.memory=100g "$CORRAL_TEST_IMAGE" true
    assert_contains "$output" "would loosen" "loosening refused"
    run_podman 126 run --rm --name "$NAME" --annotation run.corral.seccomp=off "$CORRAL_TEST_IMAGE" true
    assert_contains "$output" "not known to corral" "unknown annotation refused"
}

@test "a bad policy blocks every container (fail closed)" {
    printf '{"profiles": {"default": {"capabilities": ["CAP_NOPE"]}}}' >"$WORK/policy.json"
    local wrapper
    wrapper=$(make_policy_wrapper "$WORK/policy.json")
    run_cmd 126 podman --runtime "$wrapper" run --rm --name "$NAME" "$CORRAL_TEST_IMAGE" true
    assert_contains "$output" 'profiles.default.capabilities[0]: unknown capability "CAP_NOPE"' "policy error with path"
    assert_no_state_record "$NAME"
    rm -rf "$(dirname "$wrapper")"
}

@test "corral explain shows each change and why, without running anything" {
    mkdir "$WORK/bundle"
    cp "$TESTS_DIR/fixtures/engines/podman-privileged-or-mounts.json" "$WORK/bundle/config.json"
    cp "$WORK/bundle/config.json" "$WORK/before.json"
    run_corral explain --bundle "$WORK/bundle"
    assert_contains "$output" "[user] process.user: 0:0 -> 65534:65534" "user change explained"
    assert_contains "$output" "[privileges] process.capabilities.bounding: dropped" "capabilities explained"
    assert_contains "$output" "[devices] linux.devices: removed" "devices explained"
    cmp -s "$WORK/before.json" "$WORK/bundle/config.json" || die "explain modified the bundle"
    run_corral explain --bundle "$WORK/bundle" --json
    echo "$output" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["profile"]=="default" and len(d["changes"])>5' ||
        die "explain --json is not the expected JSON"
}

@test "corral policy check validates the shipped policy and rejects a bad one" {
    run_corral policy check "$SRC_DIR/configs/policy.json"
    assert_contains "$output" "valid" "shipped policy valid"
    assert_contains "$output" "profile offline" "offline profile listed"
    printf '{"profiles": {"default": {"seccomp": {"deny": ["ptrace", "nosuchcall"]}}}}' >"$WORK/p.json"
    run_corral 1 policy check "$WORK/p.json"
    assert_contains "$output" 'profiles.default.seccomp.deny[1]: unknown syscall "nosuchcall"' "syscall error path"
}
