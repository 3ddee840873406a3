#!/usr/bin/env bats
# Fault injection: whatever breaks, the container does not start with less
# confinement, the error says what to do, and a later delete cleans up.

load ../lib/helpers

setup() {
    make_runc_bundle fault
    CORRAL_PID=
    KILLED_PID=
}

teardown() {
    if [ -n "$CORRAL_PID" ]; then
        kill -9 "$CORRAL_PID" 2>/dev/null || true
        wait "$CORRAL_PID" 2>/dev/null || true
    fi
    "$CORRAL" --root "$ROOT" delete --force "$ID" >/dev/null 2>&1 || true
    runc --root "$ROOT" delete --force "$ID" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}

# kill_create_at STAGE: start a create, SIGKILL corral at STAGE.
kill_create_at() {
    CORRAL_TEST_PAUSE_AT=$1 CORRAL_TEST_PAUSE_FILE=$WORK/paused \
        "$CORRAL" --root "$ROOT" create --bundle "$BUNDLE" "$ID" </dev/null >"$WORK/create.out" 2>&1 &
    CORRAL_PID=$!
    wait_for 30 test -e "$WORK/paused" || die "corral never reached $1: $(cat "$WORK/create.out")"
    kill -9 "$CORRAL_PID"
    wait "$CORRAL_PID" 2>/dev/null || true
    KILLED_PID=$CORRAL_PID
    CORRAL_PID=
}

# assert_no_container: checked right after corral died, before any delete:
# corral is gone, runc never made the container, no process names it, its
# rootfs is not mounted and no temporary file of a save is left.
assert_no_container() {
    local procs left
    ! kill -0 "$KILLED_PID" 2>/dev/null || die "corral ($KILLED_PID) still runs after SIGKILL"
    run runc --root "$ROOT" state "$ID"
    [ "$status" -ne 0 ] || die "runc knows $ID though corral died before running it: $output"
    [ ! -e "$ROOT/$ID" ] || die "runc's state directory $ROOT/$ID exists"
    if procs=$(pgrep -af -- "$ID"); then
        die "processes naming $ID still run: $procs"
    fi
    if grep -qF " $BUNDLE/rootfs" /proc/self/mountinfo; then
        die "the rootfs is mounted: $(grep -F " $BUNDLE/rootfs" /proc/self/mountinfo)"
    fi
    left=$(find "$BUNDLE" -maxdepth 1 -name '.corral-tmp-*')
    [ -z "$left" ] || die "temporary files left in the bundle: $left"
}

# config_is_original: the bundle's config.json is still the engine's.
config_is_original() {
    cmp -s "$BUNDLE/config.json" "$TESTS_DIR/fixtures/engines/containerd-ctr-run.json"
}

assert_cleaned_by_delete() {
    run_corral '?' --root "$ROOT" delete --force "$ID"
    assert_no_state_record "$ID"
    run runc --root "$ROOT" state "$ID"
    [ "$status" -ne 0 ] || die "runc still knows $ID after delete"
    local left
    left=$(find "$BUNDLE" -maxdepth 1 -name '.corral-tmp-*')
    [ -z "$left" ] || die "temporary files left in the bundle: $left"
}

@test "SIGKILL before the hardened config is saved: nothing runs, nothing is half done, delete cleans up" {
    kill_create_at before-save
    # Before any cleanup: no container, no record, the engine's config as
    # it was (the save never started, so it cannot be torn).
    assert_no_container
    assert_no_state_record "$ID"
    config_is_original || die "config.json was changed though corral died before saving it: $(head -c 300 "$BUNDLE/config.json")"
    assert_cleaned_by_delete
    config_is_original || die "delete changed the engine's config.json"
}

@test "SIGKILL after the config is saved, before the record: nothing runs" {
    kill_create_at after-save
    assert_no_container
    assert_no_state_record "$ID"
    ! config_is_original || die "config.json is not the hardened one though corral saved it"
    assert_cleaned_by_delete
    # A retry of the same create hardens the already-hardened config again.
    timeout 60 "$CORRAL" --root "$ROOT" create --bundle "$BUNDLE" "$ID" </dev/null >"$WORK/out" 2>&1 ||
        die "create after an interrupted one failed: $(cat "$WORK/out")"
}

@test "SIGKILL after the record, before the delegate: delete removes the record" {
    kill_create_at after-record
    assert_no_container
    [ -n "$(state_records_for "$ID")" ] || die "the record should exist before the delegate runs"
    assert_cleaned_by_delete
}

@test "SIGKILL after the delegate created the container: delete removes container and record" {
    kill_create_at after-delegate
    run runc --root "$ROOT" state "$ID"
    assert_contains "$output" '"status": "created"' "the container was created"
    assert_cleaned_by_delete
}

@test "an unwritable state directory blocks the container with a clear error" {
    local base=$WORK/state
    mkdir -p "$base"
    chmod 0500 "$base"
    # root ignores mode bits: make the directory immutable instead.
    if ! chattr +i "$base" 2>/dev/null; then
        skip "chattr +i is not supported on $(stat -f -c %T "$base")"
    fi
    CORRAL_STATE_DIR=$base run_corral 1 --root "$ROOT" create --bundle "$BUNDLE" "$ID"
    chattr -i "$base"
    assert_contains "$output" "corral state directory" "error names the state directory"
    run runc --root "$ROOT" state "$ID"
    [ "$status" -ne 0 ] || die "the container was created without a state record"
}

@test "an unreadable policy blocks the container (fail closed)" {
    run_corral 1 --policy "$WORK/missing.json" --root "$ROOT" create --bundle "$BUNDLE" "$ID"
    assert_contains "$output" "open policy" "error names the policy"
    assert_contains "$output" "make install" "error says what to do"
    printf '{"profiles": ' >"$WORK/truncated.json"
    chmod 0644 "$WORK/truncated.json"
    run_corral 1 --policy "$WORK/truncated.json" --root "$ROOT" create --bundle "$BUNDLE" "$ID"
    assert_contains "$output" "invalid JSON" "truncated policy refused"
    chmod 0666 "$WORK/truncated.json"
    run_corral 1 --policy "$WORK/truncated.json" --root "$ROOT" create --bundle "$BUNDLE" "$ID"
    assert_contains "$output" "writable by group or others" "world-writable policy refused"
    run runc --root "$ROOT" state "$ID"
    [ "$status" -ne 0 ] || die "a container was created under a bad policy"
}

@test "a config.json replaced by a symlink during create is refused" {
    # The bundle's config.json becomes a symlink between engine and corral.
    mv "$BUNDLE/config.json" "$WORK/real.json"
    ln -s "$WORK/real.json" "$BUNDLE/config.json"
    run_corral 1 --root "$ROOT" create --bundle "$BUNDLE" "$ID"
    assert_contains "$output" "symlink" "symlinked config refused"
}
