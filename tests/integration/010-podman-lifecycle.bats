#!/usr/bin/env bats
# Foundation: Podman drives the whole container lifecycle through corral.

load ../lib/helpers

setup_file() {
    ensure_podman_image
}

setup() {
    NAME=$(unique_name life)
}

teardown() {
    podman --runtime "$CORRAL" rm -f -t 0 "$NAME" >/dev/null 2>&1 || true
}

@test "podman run: the container runs through corral and its output reaches the user" {
    run_podman run --rm --name "$NAME" "$CORRAL_TEST_IMAGE" echo hello-from-corral
    assert_eq "$output" "hello-from-corral" "container output"
    assert_no_state_record "$NAME"
}

@test "podman run -d, exec, logs, stop, rm: full lifecycle leaves no state record" {
    run_podman run -d --name "$NAME" "$CORRAL_TEST_IMAGE" sh -c 'echo started; exec sleep 300'
    local id=$output
    [ -n "$(state_records_for "$id")" ] || die "corral recorded no delegate for running container $id"

    run_podman exec "$NAME" sh -c 'echo exec-ok'
    assert_eq "$output" "exec-ok" "exec output"

    run_podman logs "$NAME"
    assert_contains "$output" "started" "container log"

    run_podman stop -t 1 "$NAME"
    run_podman inspect --format '{{.State.Status}}' "$NAME"
    assert_eq "$output" "exited" "state after stop"

    run_podman rm "$NAME"
    assert_no_state_record "$id"
}

@test "podman pause and unpause go to the delegate" {
    run_podman run -d --name "$NAME" "$CORRAL_TEST_IMAGE" sleep 300
    run_podman pause "$NAME"
    run_podman inspect --format '{{.State.Status}}' "$NAME"
    assert_eq "$output" "paused" "state after pause"
    run_podman unpause "$NAME"
    run_podman inspect --format '{{.State.Status}}' "$NAME"
    assert_eq "$output" "running" "state after unpause"
    run_podman exec "$NAME" true
}

@test "podman run --network none: only loopback" {
    run_podman run --rm --network none --name "$NAME" "$CORRAL_TEST_IMAGE" \
        sh -c "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"
    assert_eq "$output" "lo" "interfaces with --network none"
}

@test "podman default bridge: the container gets an address on the bridge" {
    run_podman run --rm --name "$NAME" "$CORRAL_TEST_IMAGE" sh -c "ip -o -4 addr show eth0"
    assert_contains "$output" "inet 10.88." "bridge address"
}

@test "an image that fails to start: the delegate's error reaches the user" {
    run_podman 127 run --rm --name "$NAME" "$CORRAL_TEST_IMAGE" /does-not-exist
    assert_contains "$output" "/does-not-exist" "error names the missing command"
    assert_no_state_record "$NAME"
}

@test "the container exit status is passed through" {
    run_podman 42 run --rm --name "$NAME" "$CORRAL_TEST_IMAGE" sh -c 'exit 42'
}
