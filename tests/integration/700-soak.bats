#!/usr/bin/env bats
# Concurrency and soak: 100 containers started at once through
# Podman with the default profile, then 1 000 `podman run --rm` in a row
# while one long-lived container keeps its egress logger and budget watchdog
# busy.  Afterwards: no corral process, state record or nft table of the
# soak is left, and the long-lived helpers hold as many fds and (within a
# few pages) as much memory as before.  CORRAL_SOAK_CONCURRENT and
# CORRAL_SOAK_RUNS scale it down for a quick local run.

load ../lib/helpers

CONCURRENT=${CORRAL_SOAK_CONCURRENT:-100}
RUNS=${CORRAL_SOAK_RUNS:-1000}
GW=10.88.0.1

setup_file() {
    ensure_podman_image
}

setup() {
    WORK=$(mktemp -d)
    PREFIX=$(unique_name soak)
    WRAPPER=
}

teardown() {
    local i
    for i in $(seq 1 "$CONCURRENT"); do
        podman --runtime "$CORRAL" rm -f -t 0 "$PREFIX-$i" >/dev/null 2>&1 || true
    done
    if [ -n "$WRAPPER" ]; then
        podman --runtime "$WRAPPER" rm -f -t 0 "$PREFIX-long" >/dev/null 2>&1 || true
        rm -rf "$(dirname "$WRAPPER")"
    fi
    stop_listeners
    rm -rf "$WORK"
}

# corral processes (hooks, loggers, watchdogs, guards) and state records, to
# compare before and after.
corral_processes() {
    pgrep -x corral | sort
}

count_records() {
    find "${CORRAL_STATE_DIR:-/run/corral}" -mindepth 3 -maxdepth 3 -name record.json 2>/dev/null | wc -l
}

@test "$CONCURRENT containers started at once all run confined and leave nothing" {
    local i pids=() failed=0 before records
    before=$(corral_processes)
    records=$(count_records)
    for i in $(seq 1 "$CONCURRENT"); do
        timeout 300 podman --runtime "$CORRAL" run --rm --name "$PREFIX-$i" "$CORRAL_TEST_IMAGE" \
            sh -c 'id -u; grep ^CapEff /proc/self/status' >"$WORK/$i.out" 2>&1 &
        pids+=($!)
    done
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}" || failed=$((failed + 1))
    done
    [ "$failed" -eq 0 ] || die "$failed of $CONCURRENT concurrent containers failed: $(cat "$WORK"/*.out)"
    for i in $(seq 1 "$CONCURRENT"); do
        assert_contains "$(cat "$WORK/$i.out")" "65534" "container $i ran as the profile user"
        assert_contains "$(cat "$WORK/$i.out")" $'CapEff:\t0000000000000000' "container $i has no capabilities"
    done
    [ "$(count_records)" -eq "$records" ] ||
        die "$(($(count_records) - records)) state records left after $CONCURRENT concurrent containers"
    wait_for 20 test "$(corral_processes)" = "$before" ||
        die "corral processes left: $(comm -13 <(echo "$before") <(corral_processes))"
}

# fds and resident memory (kB) of a process: "FDS RSS".
fds_and_rss() {
    echo "$(find "/proc/$1/fd" -mindepth 1 2>/dev/null | wc -l) $(awk '/^VmRSS:/ {print $2}' "/proc/$1/status")"
}

@test "$RUNS lifecycles in a row leave nothing, and long-lived helpers stay flat" {
    # The long-lived container: a budget watchdog (wall-clock budget far
    # away) and the egress logger, fed one denied connection a second to a
    # listener of the test's own on the Podman gateway.
    policy_with "p['profiles']['default']['budgets'] = {'wall_clock_seconds': 86400, 'action': 'kill'}"
    WRAPPER=$(make_policy_wrapper "$WORK/policy.json")
    run_cmd podman --runtime "$WRAPPER" run -d --name "$PREFIX-long" "$CORRAL_TEST_IMAGE" \
        sh -c "while :; do nc -w 1 $GW 18093 </dev/null; sleep 1; done"
    # The gateway address exists once a container is on the bridge.
    start_listener "$GW" 18093 "$WORK/listener.log"
    local cid dir helpers=() p
    cid=$(podman inspect --format '{{.Id}}' "$PREFIX-long")
    dir=$(state_records_for "$cid")
    [ -n "$dir" ] || die "no state record for the long-lived container"
    # Both helpers are up once the container runs; give the logger a few
    # denials to reach its steady state before the first reading.
    wait_for 20 sh -c "grep -q '$cid' /var/log/corral/egress.log" || die "the logger saw no denied connection"
    sleep 3
    mapfile -t helpers < <(pgrep -f -- "--state-dir $dir")
    [ "${#helpers[@]}" -ge 2 ] || die "expected a logger and a watchdog, found: ${helpers[*]}"
    declare -A start
    for p in "${helpers[@]}"; do
        start[$p]=$(fds_and_rss "$p")
    done
    local before records i
    before=$(corral_processes)
    records=$(count_records)

    for i in $(seq 1 "$RUNS"); do
        timeout 60 podman --runtime "$CORRAL" run --rm --name "$PREFIX-1" "$CORRAL_TEST_IMAGE" true ||
            die "lifecycle $i failed"
    done

    [ "$(count_records)" -eq "$records" ] ||
        die "$(($(count_records) - records)) state records left after $RUNS lifecycles"
    wait_for 20 test "$(corral_processes)" = "$before" ||
        die "corral processes left: $(comm -13 <(echo "$before") <(corral_processes))"
    [ "$(nsenter -t "$(podman inspect --format '{{.State.Pid}}' "$PREFIX-long")" -n nft list tables | grep -c corral)" -eq 1 ] ||
        die "the long-lived container's netns should still hold exactly one corral table"
    ! nft list tables | grep -q corral || die "a corral table appeared in the host's network namespace"
    [ ! -s "$WORK/listener.log" ] || die "a denied connection reached the listener: $(cat "$WORK/listener.log")"
    for p in "${helpers[@]}"; do
        local fds0 rss0 fds1 rss1
        read -r fds0 rss0 <<<"${start[$p]}"
        read -r fds1 rss1 <<<"$(fds_and_rss "$p")"
        echo "# helper $p ($(tr '\0' ' ' <"/proc/$p/cmdline" | cut -c1-40)): fds $fds0 -> $fds1, RSS $rss0 -> $rss1 kB" >&3
        [ "$fds1" -eq "$fds0" ] || die "helper $p: open fds went from $fds0 to $fds1"
        [ "$rss1" -le $((rss0 + 64)) ] || die "helper $p: RSS grew from $rss0 to $rss1 kB"
    done
}
