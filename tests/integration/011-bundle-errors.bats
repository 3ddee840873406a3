#!/usr/bin/env bats
# Foundation: corral refuses bad bundles with a clear error and starts nothing.

load ../lib/helpers

setup() {
    WORK=$(mktemp -d)
    BUNDLE=$WORK/bundle
    mkdir -p "$BUNDLE/rootfs"
    cp "$TESTS_DIR/fixtures/engines/containerd-ctr-run.json" "$BUNDLE/config.json"
    ID=$(unique_name bundle)
    LOG=$WORK/log.json
    # A private runc root: nothing here touches the engines' containers.
    ROOT=$WORK/runc-root
}

teardown() {
    runc --root "$ROOT" delete --force "$ID" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}

create() {
    run_cmd "$1" "$CORRAL" --root "$ROOT" --log "$LOG" --log-format json create --bundle "$BUNDLE" "$ID"
}

assert_nothing_started() {
    run runc --root "$ROOT" state "$ID"
    [ "$status" -ne 0 ] || die "runc knows container $ID: something was started"
    assert_no_state_record "$ID"
}

@test "malformed config.json: error names the file and the byte" {
    printf '{"ociVersion": "1.0.2", "process": {' >"$BUNDLE/config.json"
    create '!'
    assert_contains "$output" "config.json in bundle" "error names the file"
    assert_contains "$output" "invalid JSON at byte" "error says where"
    assert_contains "$(cat "$LOG")" '"level":"error"' "error in the --log file as JSON"
    assert_nothing_started
}

@test "config.json larger than 16 MiB is refused" {
    truncate -s 17M "$BUNDLE/config.json"
    create '!'
    assert_contains "$output" "more than the 16777216 allowed" "size error"
    assert_nothing_started
}

@test "config.json that is a symlink out of the bundle is refused" {
    cp "$BUNDLE/config.json" "$WORK/outside.json"
    rm "$BUNDLE/config.json"
    ln -s "$WORK/outside.json" "$BUNDLE/config.json"
    create '!'
    assert_contains "$output" "is a symlink" "symlink error"
    assert_nothing_started
    cmp -s "$WORK/outside.json" "$TESTS_DIR/fixtures/engines/containerd-ctr-run.json" ||
        die "the file outside the bundle was modified"
}

@test "missing bundle is refused" {
    BUNDLE=$WORK/nope
    create '!'
    assert_contains "$output" "open bundle \`$WORK/nope\`" "missing bundle error"
    assert_nothing_started
}

@test "duplicate keys and NUL bytes are refused" {
    printf '{"process": {}, "process": {"args": ["sh"]}}' >"$BUNDLE/config.json"
    create '!'
    assert_contains "$output" "duplicate key" "duplicate key error"
    printf '{"process": {"args": ["a\\u0000b"]}}' >"$BUNDLE/config.json"
    create '!'
    assert_contains "$output" "NUL" "NUL error"
    assert_nothing_started
}

@test "invalid container id is refused" {
    ID="../escape"
    create '!'
    assert_contains "$output" "invalid container id" "id error"
    [ ! -e /run/escape ] || die "a path outside the state directory was created"
}

@test "text log format by default, runc style" {
    printf 'not json' >"$BUNDLE/config.json"
    run_cmd '!' "$CORRAL" --root "$ROOT" --log "$LOG" create --bundle "$BUNDLE" "$ID"
    assert_contains "$(cat "$LOG")" 'level=error msg=' "text log line"
}

@test "missing delegate runtime is an error, nothing is started" {
    run_cmd '!' "$CORRAL" --root "$ROOT" --delegate /nonexistent/runc create --bundle "$BUNDLE" "$ID"
    assert_contains "$output" "/nonexistent/runc" "error names the delegate"
    assert_nothing_started
}

@test "direct runc-style use: create, state, start, delete through corral" {
    # Busybox as the bundle rootfs, so runc really runs it.
    tar -C "$BUNDLE/rootfs" -xf <(build_rootfs_tar /dev/stdout)
    # runc's init keeps the stdio it was given until start: give it files,
    # not the pipe bats reads to EOF.
    timeout 60 "$CORRAL" --root "$ROOT" create --bundle "$BUNDLE" "$ID" \
        </dev/null >"$WORK/create.out" 2>&1 || die "create failed: $(cat "$WORK/create.out")"
    run_corral --root "$ROOT" state "$ID"
    assert_contains "$output" '"status": "created"' "state after create"
    [ -n "$(state_records_for "$ID")" ] || die "no state record after create"
    run_corral --root "$ROOT" start "$ID"
    wait_for 10 sh -c "$CORRAL --root $ROOT state $ID | grep -q '\"status\": \"stopped\"'" ||
        die "container did not run to its end"
    assert_contains "$(cat "$WORK/create.out")" "uid=65534" "the process ran hardened (id output)"
    run_corral --root "$ROOT" delete "$ID"
    assert_no_state_record "$ID"
}
