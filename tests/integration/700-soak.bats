#!/usr/bin/env bats
# Concurrency and soak: many containers at once and in a row, nothing leaked.

load ../lib/helpers

setup_file() {
    ensure_podman_image
}

setup() {
    WORK=$(mktemp -d)
    PREFIX=$(unique_name soak)
}

teardown() {
    local i
    for i in $(seq 1 20); do
        podman --runtime "$CORRAL" rm -f -t 0 "$PREFIX-$i" >/dev/null 2>&1 || true
    done
    rm -rf "$WORK"
}

@test "20 containers created at once all run confined and leave nothing" {
    local i pids=() failed=0
    for i in $(seq 1 20); do
        timeout 120 podman --runtime "$CORRAL" run --rm --name "$PREFIX-$i" "$CORRAL_TEST_IMAGE" \
            sh -c 'id -u; grep ^CapEff /proc/self/status' >"$WORK/$i.out" 2>&1 &
        pids+=($!)
    done
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}" || failed=$((failed + 1))
    done
    [ "$failed" -eq 0 ] || die "$failed of 20 concurrent containers failed: $(cat "$WORK"/*.out)"
    for i in $(seq 1 20); do
        assert_contains "$(cat "$WORK/$i.out")" "65534" "container $i ran as the profile user"
        assert_contains "$(cat "$WORK/$i.out")" $'CapEff:\t0000000000000000' "container $i has no capabilities"
    done
    local left
    left=$(find /run/corral -mindepth 2 -name record.json 2>/dev/null | wc -l)
    [ "$left" -eq 0 ] || die "$left state records left after 20 concurrent containers"
}

@test "30 lifecycles in a row leave no record, logger or table behind" {
    local i
    for i in $(seq 1 30); do
        timeout 60 podman --runtime "$CORRAL" run --rm --name "$PREFIX-1" "$CORRAL_TEST_IMAGE" true ||
            die "lifecycle $i failed"
    done
    local left
    left=$(find /run/corral -mindepth 2 -name record.json 2>/dev/null | wc -l)
    [ "$left" -eq 0 ] || die "$left state records left after 30 lifecycles"
    wait_for 10 sh -c '! pgrep -f "[c]orral hook create-runtime" >/dev/null' ||
        die "loggers left: $(pgrep -af 'corral hook create-runtime')"
}
