#!/usr/bin/env bats
# The audit log: a hash-chained record of every container, outside its reach.

load ../lib/helpers

setup_file() {
    ensure_podman_image
}

setup() {
    NAME=$(unique_name audit)
    WORK=$(mktemp -d)
    LOG=$WORK/log/audit.jsonl
    KEY=$WORK/key/audit.key
    policy_with "p['audit'] = {'path': '$LOG', 'key': '$KEY'}"
    WRAPPER=$(make_policy_wrapper "$WORK/policy.json")
    # shellcheck disable=SC2034 # read by run_podman (helpers.bash)
    RUNTIME=$WRAPPER
}

teardown() {
    local i
    for i in "" $(seq 1 20); do
        podman --runtime "$WRAPPER" rm -f -t 0 "$NAME${i:+-$i}" >/dev/null 2>&1 || true
    done
    chattr -i "$WORK/log" 2>/dev/null || true
    chattr -R -a "$WORK/log" 2>/dev/null || true
    rm -rf "$(dirname "$WRAPPER")" "$WORK"
}


events_of() {
    /usr/bin/python3 -c '
import json, sys
print(" ".join(r["event"] for r in map(json.loads, open(sys.argv[1])) if r["container"] == sys.argv[2]))' "$LOG" "$1"
}

@test "a lifecycle is recorded in order: create, start, exec, kill, stop; the chain verifies" {
    run_podman run -d --name "$NAME" --annotation run.corral.agent=audit-agent -e GITHUB_TOKEN=ghp_v4lue_never_logged \
        -e PLAIN=1 "$CORRAL_TEST_IMAGE" sleep 300
    local id=$output
    run_podman exec "$NAME" echo hello
    run_podman rm -f -t 1 "$NAME"
    local events
    events=$(events_of "$id")
    assert_eq "${events%% *}" "create" "first record"
    assert_contains "$events" "create start exec" "create, start and exec in order"
    assert_eq "${events##* }" "stop" "last record"
    grep -q '"stripped_env":\["GITHUB_TOKEN"\]' "$LOG" || die "the stripped variable's name is not in the log"
    ! grep -q ghp_v4lue_never_logged "$LOG" || die "a secret value reached the audit log"
    grep -q '"agent":"audit-agent"' "$LOG" || die "the agent is not recorded"
    grep -q '"argv":\["echo","hello"\]' "$LOG" || die "the exec argv is not recorded"
    grep -q '"event":"stop","fields":{"forced":[a-z]*,"usage":{"cpu_ms":[0-9]*,"memory_peak_bytes":[1-9]' "$LOG" ||
        die "the stop record lacks the usage totals: $(grep '"event":"stop"' "$LOG")"
    run_corral --policy "$WORK/policy.json" audit verify
    assert_contains "$output" "chain intact" "chain verifies"
    run_corral --policy "$WORK/policy.json" audit show --container "$id" --csv
    assert_contains "$output" '"create"' "CSV export"
}

@test "an edited, dropped or swapped record is found at its line" {
    run_podman run --rm --name "$NAME" "$CORRAL_TEST_IMAGE" true
    run_podman run --rm --name "$NAME" "$CORRAL_TEST_IMAGE" true
    cp "$LOG" "$WORK/copy"
    sed -i '2s/"start"/"stArt"/' "$WORK/copy"
    run_corral 1 --policy "$WORK/policy.json" audit verify "$WORK/copy"
    assert_contains "$output" "line 2: MAC does not match" "edit found"
    cp "$LOG" "$WORK/copy" && sed -i '2d' "$WORK/copy"
    run_corral 1 --policy "$WORK/policy.json" audit verify "$WORK/copy"
    assert_contains "$output" "line 2: sequence 3 where 2 was due" "drop found"
    cp "$LOG" "$WORK/copy" && sed -i '2{h;d};3G' "$WORK/copy"
    run_corral 1 --policy "$WORK/policy.json" audit verify "$WORK/copy"
    assert_contains "$output" "line 2:" "swap found"
    head -c -5 "$LOG" >"$WORK/copy"
    run_corral 1 --policy "$WORK/policy.json" audit verify "$WORK/copy"
    assert_contains "$output" "truncated" "truncation found"
}

@test "a denied connection becomes an egress-deny record" {
    run_podman run -d --name "$NAME" "$CORRAL_TEST_IMAGE" sleep 300
    local id=$output
    start_listener 10.88.0.1 18111 "$WORK/denied.log"
    run_podman exec "$NAME" sh -c "nc -w 3 10.88.0.1 18111 </dev/null; echo rc=\$?"
    assert_contains "$output" "rc=1" "denied"
    wait_for 10 grep -q "\"container\":\"$id\".*\"event\":\"egress-deny\".*\"port\":18111" "$LOG" ||
        die "no egress-deny audit record"
    stop_listeners
}

@test "the log and its key are out of the container's reach" {
    run_podman 126 run --rm --name "$NAME" -v /var/log/corral:/logs "$CORRAL_TEST_IMAGE" true
    assert_contains "$output" "is denied" "mounting the audit directory refused"
    run_podman 126 run --rm --name "$NAME" -v /etc/corral:/k "$CORRAL_TEST_IMAGE" true
    assert_contains "$output" "is denied" "mounting the key directory refused"
    run_podman run --rm --name "$NAME" "$CORRAL_TEST_IMAGE" sh -c "ls $LOG $KEY /var/log/corral /etc/corral 2>&1; true"
    assert_not_contains "$output" "audit.jsonl " "log not visible"
    assert_contains "$output" "No such file" "paths absent inside"
}

@test "20 concurrent containers produce a chain that verifies" {
    local i pids=()
    for i in $(seq 1 20); do
        timeout 120 podman --runtime "$WRAPPER" run --rm --name "$NAME-$i" "$CORRAL_TEST_IMAGE" true >/dev/null 2>&1 &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i" || die "a concurrent container failed"; done
    run_corral --policy "$WORK/policy.json" audit verify
    assert_contains "$output" "chain intact" "chain verifies after 20 concurrent containers"
    [ "$(grep -c '"event":"create"' "$LOG")" -eq 20 ] || die "not 20 create records"
}

@test "the log is append-only where the filesystem supports it" {
    run_podman run --rm --name "$NAME" "$CORRAL_TEST_IMAGE" true
    run lsattr "$LOG"
    [ "$status" -eq 0 ] || skip "lsattr not supported on $(stat -f -c %T "$LOG"): $output"
    assert_contains "${output%% *}" "a" "chattr +a set on the audit log"
}

@test "an unwritable audit log blocks the container (fail-closed)" {
    run_podman run --rm --name "$NAME" "$CORRAL_TEST_IMAGE" true
    chattr -a "$LOG" 2>/dev/null || true
    rm -f "$LOG"
    chattr +i "$WORK/log" || skip "chattr +i not supported here"
    run_podman '!' run --rm --name "$NAME" "$CORRAL_TEST_IMAGE" echo agent-process-ran
    assert_not_contains "$output" "agent-process-ran" "the container did not run"
    assert_contains "$output" "audit log cannot be written" "error names the audit log"
    assert_no_state_record "$NAME"
}

@test "rotation seals the log and the chain runs on across files, also while containers start" {
    run_podman run --rm --name "$NAME" "$CORRAL_TEST_IMAGE" true
    local i pids=()
    for i in $(seq 1 6); do
        timeout 120 podman --runtime "$WRAPPER" run --rm --name "$NAME-$i" "$CORRAL_TEST_IMAGE" true >/dev/null 2>&1 &
        pids+=($!)
    done
    run_corral --policy "$WORK/policy.json" audit rotate
    assert_contains "$output" "sealed $LOG." "the sealed file is named"
    for i in "${pids[@]}"; do wait "$i" || die "a container started during the rotation failed"; done
    run_corral --policy "$WORK/policy.json" audit rotate --keep 5
    run_podman run --rm --name "$NAME" "$CORRAL_TEST_IMAGE" true

    run_corral --policy "$WORK/policy.json" audit verify --all
    assert_contains "$output" "3 files" "two sealed files and the live one"
    assert_contains "$output" "chain intact" "the chain holds across the rotations"
    [ "$(cat "$LOG"* | grep -c '"event":"create"')" -eq 8 ] || die "not 8 create records across the files"
    [ "$(cat "$LOG"* | grep -c '"event":"seal"')" -eq 2 ] || die "not 2 seal records"
    # Only the last record of a sealed file is its seal.
    local f
    for f in "$LOG".2*; do
        tail -n 1 "$f" | grep -q '"event":"seal"' || die "$f does not end with its seal"
        run lsattr "$f"
        [ "$status" -eq 0 ] || skip "lsattr not supported on $(stat -f -c %T "$f"): $output"
        assert_contains "${output%% *}" "a" "the sealed file $f is append-only"
    done
    # --keep 0 removes them; what is left still verifies from where it starts.
    run_corral --policy "$WORK/policy.json" audit rotate --keep 0
    [ -z "$(ls "$LOG".2* 2>/dev/null)" ] || die "rotate --keep 0 left sealed files: $(ls "$LOG".2*)"
    run_corral --policy "$WORK/policy.json" audit verify
    assert_contains "$output" "continuing a file not given" "the live log says where it starts"
}
