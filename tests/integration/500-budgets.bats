#!/usr/bin/env bats
# Budgets and circuit breakers: the watchdog kills or freezes a
# container whose budget runs out, alerts, and a frozen one resumes only on
# a human's word; egress bytes and connection rate trip the same breaker;
# an agent over its daily total cannot start containers.  Network traffic
# goes only to listeners of the test's own on the Podman bridge gateway.

load ../lib/helpers

GW=10.88.0.1
BULK=18094
CONN=18095

setup_file() {
    ensure_podman_image
}

setup() {
    NAME=$(unique_name budget)
    AGENT=$(unique_name agent)
    WORK=$(mktemp -d)
    chmod 755 "$WORK"
    make_alert_command
}

teardown() {
    stop_listeners
    local n
    for n in "$NAME" "$NAME-2" "$NAME-3"; do
        podman --runtime "${WRAPPER:-$CORRAL}" rm -f -t 0 "$n" >/dev/null 2>&1 || true
    done
    unblock_corral_log
    [ -z "${WRAPPER:-}" ] || rm -rf "$(dirname "$WRAPPER")"
    rm -rf "$WORK"
}


freezer_state() {
    cat "/sys/fs/cgroup/freezer/libpod_parent/libpod-$1/freezer.state" 2>/dev/null
}

is_frozen() {
    [ "$(freezer_state "$1")" = FROZEN ]
}

is_thawed() {
    [ "$(freezer_state "$1")" = THAWED ]
}

@test "wall clock: sleep 1000 with a 3 s budget is killed within bounds and the alert gets the JSON event" {
    with_budgets '{"wall_clock_seconds": 3, "grace_seconds": 1, "action": "kill"}'
    local t0 t1 elapsed
    t0=$(date +%s%N)
    run_podman run -d --name "$NAME" "$CORRAL_TEST_IMAGE" sleep 1000
    local cid=$output
    wait_for 20 not_running "$NAME" || die "container still running 20 s after start with a 3 s budget"
    t1=$(date +%s%N)
    elapsed=$(((t1 - t0) / 1000000))
    [ "$elapsed" -ge 3000 ] || die "killed after $elapsed ms, before its 3 s budget ran out"
    [ "$elapsed" -le 7000 ] || die "killed after $elapsed ms: budget 3 s + interval 1 s + grace 1 s + slack exceeded"
    run_podman inspect -f '{{.State.ExitCode}}' "$NAME"
    assert_eq "$output" "137" "sleep (PID 1 ignores SIGTERM) ended by SIGKILL after the grace"

    wait_for 10 has_alerts 1 || die "the alert command received nothing"
    assert_eq "$(alert_field 1 budget)" "wall_clock_seconds" "alert names the budget"
    assert_eq "$(alert_field 1 container)" "$cid" "alert names the container"
    assert_eq "$(alert_field 1 action)" "kill" "alert names the action"
    assert_eq "$(alert_field 1 limit)" "3.0" "alert carries the limit"
    assert_eq "$(alert_field 1 agent)" "unnamed" "no run.corral.agent: the shared unnamed agent"
    grep -q "\"event\":\"budget_exceeded\",\"container\":\"$cid\".*\"budget\":\"wall_clock_seconds\"" \
        /var/log/corral/budget.log || die "no budget_exceeded line for $cid in /var/log/corral/budget.log"
}

@test "CPU loop with a 2 CPU-second budget and freeze: frozen, alerted, resumed only by a human with --grant" {
    with_budgets '{"cpu_seconds": 2, "action": "freeze"}'
    run_podman run -d --name "$NAME" "$CORRAL_TEST_IMAGE" sh -c 'while :; do :; done'
    local cid=$output
    wait_for 30 is_frozen "$cid" || die "cgroup freezer not FROZEN: $(freezer_state "$cid")"
    wait_for 10 has_alerts 1 || die "the alert command received nothing"
    assert_eq "$(alert_field 1 budget)" "cpu_seconds" "alert names the CPU budget"
    assert_eq "$(alert_field 1 action)" "freeze" "alert names the action"

    # An engine's resume (Podman unpause) is not a human's word.
    run_corral 1 resume "$cid"
    assert_contains "$output" "only a human resumes it" "engine resume of a tripped container refused"
    is_frozen "$cid" || die "the refused resume thawed the container"
    # Resuming a used-up budget without giving more would trip at once.
    run_corral 1 resume "$cid" --reason "reviewed by test"
    assert_contains "$output" "--grant" "resume without --grant refused for a used-up budget"

    run_corral resume "$cid" --reason "reviewed by test" --grant 2
    wait_for 10 is_thawed "$cid" || die "not thawed after corral resume"
    grep -q "\"event\":\"resumed\",\"container\":\"$cid\".*\"reason\":\"reviewed by test\",\"grant\":2" \
        /var/log/corral/budget.log || die "resume not logged with its reason"
    # It runs until the granted 2 s are used, then trips again.
    wait_for 30 is_frozen "$cid" || die "not frozen again after the granted CPU seconds"
    wait_for 10 has_alerts 2 || die "no second alert"
    local first second
    first=$(alert_field 1 usage)
    second=$(alert_field 2 usage)
    /usr/bin/python3 -c "import sys; sys.exit(0 if $second >= $first + 2 else 1)" ||
        die "second trip at $second CPU s, not 2 s past the first ($first)"
    run_corral usage "$cid"
    assert_contains "$output" "\"trips\":2" "usage snapshot counts both trips"
    # The trips and the human's decision are in the audit log too.
    run_corral audit show --container "$cid" --json
    [ "$(grep -c '"event":"budget-trip"' <<<"$output")" -eq 2 ] || die "not two budget-trip audit records"
    assert_contains "$output" '"event":"resume"' "the resume is an audit record"
    assert_contains "$output" '"reason":"reviewed by test"' "with its reason"
    assert_contains "$output" '"by":"' "and who gave it"
}

@test "egress bytes: a download from the test's own host stops at the quota and trips the breaker" {
    with_budgets '{"egress_bytes": "256k", "action": "freeze"}' \
        "p['profiles']['default']['egress']['allow'] = ['$GW:$BULK/tcp']"
    run_podman run -d --name "$NAME" "$CORRAL_TEST_IMAGE" sleep 300
    local cid=$output
    rm -f "$WORK/bulk.log.ready"
    /usr/bin/python3 "$TESTS_DIR/lib/bulk-listener.py" "$GW" "$BULK" "$WORK/bulk.log" 4194304 &
    LISTENER_PIDS+=($!)
    wait_for 10 test -e "$WORK/bulk.log.ready" || die "bulk listener did not start"
    # The download runs in the background: the container freezes under it.
    podman --runtime "$WRAPPER" exec -d "$NAME" sh -c "nc $GW $BULK </dev/null >/tmp/download"
    wait_for 30 is_frozen "$cid" || die "not frozen after the byte budget: $(freezer_state "$cid")"
    wait_for 10 has_alerts 1 || die "the alert command received nothing"
    assert_eq "$(alert_field 1 budget)" "egress_bytes" "alert names the byte budget"
    grep -q "connection from" "$WORK/bulk.log" || die "the download never reached the listener"
    run_corral egress show "$cid"
    local dropped
    dropped=$(echo "$output" | awk '$1 == "input" && /budget: bytes over 262144/ { print $(NF - 2) }')
    [ "${dropped:-0}" -ge 1 ] || die "no inbound packet was dropped at the quota: $output"
}

@test "connection rate: a connection loop against a limit of 50/min opens the breaker and ends the exec session" {
    with_budgets '{"connections_per_minute": 50, "action": "kill", "grace_seconds": 1}' \
        "p['profiles']['default']['egress']['allow'] = ['$GW:$CONN/tcp']"
    run_podman run -d --name "$NAME" "$CORRAL_TEST_IMAGE" sleep 300
    local cid=$output
    start_listener "$GW" "$CONN" "$WORK/conn.log"
    # Connections until the breaker stops the container: the exec session
    # ends with it (SIGKILL, 137), it does not hang.
    run_podman 137 exec "$NAME" sh -c "while :; do nc -w 1 $GW $CONN </dev/null >/dev/null; done"
    wait_for 20 not_running "$NAME" || die "breaker did not open: container still running"
    wait_for 10 has_alerts 1 || die "the alert command received nothing"
    assert_eq "$(alert_field 1 budget)" "connections_per_minute" "alert names the connection breaker"
    assert_eq "$(alert_field 1 limit)" "50" "alert carries the rate"
    local usage
    usage=$(alert_field 1 usage)
    [ "$usage" -gt 50 ] ||
        die "alert's usage is not the last minute's connections (more than 50 expected): $usage"
    local seen
    seen=$(grep -c "connection from" "$WORK/conn.log")
    [ "$seen" -ge 50 ] || die "only $seen connections reached the listener: the rate was not what tripped"
}

@test "a neighbour that rebuilds the table does not give the byte budget back" {
    local bulk2=18096
    with_budgets '{"egress_bytes": "1m", "interval_ms": 2000, "action": "kill", "grace_seconds": 1}' \
        "p['profiles']['default']['egress']['allow'] = ['$GW:$BULK/tcp', '$GW:$bulk2/tcp']"
    run_podman run -d --name "$NAME" "$CORRAL_TEST_IMAGE" sleep 300
    local pid
    pid=$(podman inspect -f '{{.State.Pid}}' "$NAME")
    rm -f "$WORK/bulk.log.ready" "$WORK/bulk2.log.ready"
    /usr/bin/python3 "$TESTS_DIR/lib/bulk-listener.py" "$GW" "$BULK" "$WORK/bulk.log" 450000 &
    LISTENER_PIDS+=($!)
    /usr/bin/python3 "$TESTS_DIR/lib/bulk-listener.py" "$GW" "$bulk2" "$WORK/bulk2.log" 800000 &
    LISTENER_PIDS+=($!)
    wait_for 10 test -e "$WORK/bulk.log.ready" -a -e "$WORK/bulk2.log.ready" || die "bulk listeners did not start"
    # Downloads from inside the container's netns count as the agent's.
    run_cmd nsenter -t "$pid" -n sh -c "busybox nc $GW $BULK </dev/null | wc -c"
    assert_eq "$output" "450000" "the first download, under the budget"
    # One watchdog interval, so it has seen the first download.
    sleep 2.5
    ! not_running "$NAME" || die "stopped under its budget"
    # What a second container joining the netns does (the same table made
    # anew, counters and quota from zero), then at once a download larger
    # than the first and smaller than the budget: the kernel's counter never
    # goes down between two samples; only the objects' handles tell.
    run_cmd nsenter -t "$pid" -n sh -c \
        "nft -s list table inet corral >$WORK/table && nft delete table inet corral && nft -f $WORK/table && busybox nc $GW $bulk2 </dev/null | wc -c"
    assert_eq "$output" "800000" "the second download went through the rebuilt table"
    wait_for 20 not_running "$NAME" || die "1.25 MB against a 1 MB budget across a rebuild: still running"
    wait_for 10 has_alerts 1 || die "the alert command received nothing"
    assert_eq "$(alert_field 1 budget)" "egress_bytes" "the byte budget opened"
}

@test "a byte budget whose nft objects vanish (table deleted or replaced) opens the breaker" {
    with_budgets '{"egress_bytes": "10m", "connections_per_minute": 1000, "action": "kill", "grace_seconds": 1}' \
        "p['profiles']['default']['egress']['allow'] = ['$GW:$CONN/tcp']"
    run_podman run -d --name "$NAME" "$CORRAL_TEST_IMAGE" sleep 300
    local pid
    pid=$(podman inspect -f '{{.State.Pid}}' "$NAME")
    # What another container sharing the netns does when its hook replaces
    # the table: the objects are gone (an agent cannot: no CAP_NET_ADMIN).
    # Control first: with the objects in place the watchdog (running since
    # poststart) has not tripped.
    ! not_running "$NAME" || die "the container stopped before its table was touched"
    ! has_alerts 1 || die "a trip before anything happened: $(cat "$WORK/alerts.jsonl")"
    run_cmd nsenter -t "$pid" -n nft delete table inet corral
    wait_for 20 not_running "$NAME" || die "the container kept running without its budget objects"
    wait_for 10 has_alerts 1 || die "the alert command received nothing"
    assert_eq "$(alert_field 1 budget)" "egress_bytes" "the trip names the lost budget"
    assert_contains "$(alert_field 1 cause)" "vanished" "and why"
}

@test "daily total: an agent over its daily CPU total is refused until corral budget reset" {
    with_budgets '{"daily": {"cpu_seconds": 1}, "action": "kill", "grace_seconds": 1}'
    run_podman run -d --name "$NAME" --annotation "run.corral.agent=$AGENT" "$CORRAL_TEST_IMAGE" \
        sh -c 'while :; do :; done'
    wait_for 30 not_running "$NAME" || die "first container not stopped at the agent's daily CPU total"
    assert_eq "$(alert_field 1 scope)" "daily" "the trip names the daily scope"
    assert_eq "$(alert_field 1 agent)" "$AGENT" "the trip names the agent"
    wait_for 10 grep -q "\"agent\":\"$AGENT\"" /var/lib/corral/usage.jsonl || die "no usage record for the agent"

    run_podman 126 run --rm --name "$NAME-2" --annotation "run.corral.agent=$AGENT" "$CORRAL_TEST_IMAGE" \
        echo agent-process-ran
    assert_not_contains "$output" "agent-process-ran" "refused container never ran"
    assert_contains "$output" "agent $AGENT has used its daily cpu_seconds budget" "clear refusal"
    assert_no_state_record "$NAME-2"

    run_corral usage --agent "$AGENT"
    assert_contains "$output" "\"agent\":\"$AGENT\"" "usage by agent"

    run_corral 1 budget reset "$AGENT"
    assert_contains "$output" "reason" "reset without a reason refused"
    run_corral budget reset "$AGENT" --reason "test: reviewed"
    run_podman run --rm --name "$NAME-3" --annotation "run.corral.agent=$AGENT" "$CORRAL_TEST_IMAGE" echo started
    assert_eq "$output" "started" "the agent starts again after the reset"
    grep -q "\"event\":\"daily_reset\",\"container\":\"\",\"agent\":\"$AGENT\".*\"reason\":\"test: reviewed\"" \
        /var/log/corral/budget.log || die "reset not logged with its reason"
    run_corral audit show --agent "$AGENT" --json
    assert_contains "$output" '"event":"budget-reset"' "the reset is an audit record"
    assert_contains "$output" '"reason":"test: reviewed"' "with its reason"
}

# tenant_wrapper TENANT: the test's policy, with the operator's --tenant
# (under $WORK, which teardown removes).
tenant_wrapper() {
    mkdir -p "$WORK/tenant-$1"
    printf '#!/bin/sh\nexec %s --policy %s --tenant %s "$@"\n' "$CORRAL" "$WORK/policy.json" "$1" \
        >"$WORK/tenant-$1/corral"
    chmod 755 "$WORK/tenant-$1/corral"
    echo "$WORK/tenant-$1/corral"
}

@test "daily total with a tenant: a fresh agent name gets no fresh day, another tenant is not charged" {
    with_budgets '{"daily": {"cpu_seconds": 1}, "action": "kill", "grace_seconds": 1}'
    local tenant=$AGENT
    # shellcheck disable=SC2034 # read by run_podman (helpers.bash)
    RUNTIME=$(tenant_wrapper "$tenant")
    run_podman run -d --name "$NAME" --annotation run.corral.agent=first "$CORRAL_TEST_IMAGE" \
        sh -c 'while :; do :; done'
    wait_for 30 not_running "$NAME" || die "first container not stopped at the tenant's daily CPU total"
    assert_eq "$(alert_field 1 agent)" "$tenant/first" "the identity is the tenant, narrowed by the agent"
    wait_for 10 grep -q "\"agent\":\"$tenant/first\"" /var/lib/corral/usage.jsonl || die "no usage record"

    # The attack: a fresh agent name, hoping for a fresh day.
    run_podman 126 run --rm --name "$NAME-2" --annotation run.corral.agent=fresh-name "$CORRAL_TEST_IMAGE" \
        echo agent-process-ran
    assert_not_contains "$output" "agent-process-ran" "a fresh agent name inside the tenant did not run"
    assert_contains "$output" "agent $tenant/fresh-name has used its daily cpu_seconds budget" "clear refusal"

    # Control: the same agent name under another tenant is not charged.
    RUNTIME=$(tenant_wrapper "other-$tenant")
    run_podman run --rm --name "$NAME-3" --annotation run.corral.agent=fresh-name "$CORRAL_TEST_IMAGE" echo started
    assert_eq "$output" "started" "another tenant still runs"
    run_corral budget reset "$tenant" --reason "test: tenant reviewed"
    # shellcheck disable=SC2034 # read by run_podman (helpers.bash)
    RUNTIME=$(tenant_wrapper "$tenant")
    run_podman run --rm --name "$NAME-2" --annotation run.corral.agent=fresh-name "$CORRAL_TEST_IMAGE" echo started
    assert_eq "$output" "started" "the tenant's reset covers its agents"
}

@test "a tenant annotation is the engine's word only under containerd's CRI: through Podman it is refused" {
    with_budgets '{"daily": {"cpu_seconds": 100}}' \
        "p['tenant'] = {'annotation': 'io.kubernetes.cri.sandbox-namespace'}"
    run_podman 126 run --rm --name "$NAME" --annotation io.kubernetes.cri.sandbox-namespace=someone-else \
        "$CORRAL_TEST_IMAGE" echo agent-process-ran
    assert_not_contains "$output" "agent-process-ran" "a tenant naming itself did not run"
    assert_contains "$output" "only containerd's CRI sets" "clear refusal"
    # Control: the operator's --tenant works with the same policy.
    # shellcheck disable=SC2034 # read by run_podman (helpers.bash)
    RUNTIME=$(tenant_wrapper "$AGENT")
    run_podman run --rm --name "$NAME" "$CORRAL_TEST_IMAGE" echo started
    assert_eq "$output" "started" "with --tenant the container runs"
}

@test "budget annotations only tighten" {
    with_budgets '{"wall_clock_seconds": 60}'
    run_podman 126 run --rm --name "$NAME" --annotation run.corral.budget.wall_clock_seconds=600 \
        "$CORRAL_TEST_IMAGE" true
    assert_contains "$output" "would loosen" "raising a budget by annotation refused"
    run_podman 126 run --rm --name "$NAME" --annotation run.corral.budget.cpu_seconds=abc "$CORRAL_TEST_IMAGE" true
    assert_contains "$output" "expected a positive integer" "malformed budget annotation refused"
}

# The runtime's own word (runsc state through corral): Podman's status
# does not see a pause it did not ask for.
gvisor_status() {
    "$CORRAL" state "$1" 2>/dev/null | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["status"])'
}

gvisor_is() {
    [ "$(gvisor_status "$1")" = "$2" ]
}

@test "under gVisor: a wall-clock kill, and a CPU freeze resumed only by a human" {
    command -v runsc >/dev/null || skip "runsc is not installed (Debian package runsc)"
    with_budgets '{"wall_clock_seconds": 4, "grace_seconds": 1, "action": "kill"}'
    run_podman run -d --name "$NAME" --annotation run.corral.runtime=gvisor "$CORRAL_TEST_IMAGE" sleep 1000
    local cid=$output
    run_podman exec "$NAME" uname -r
    [ "$output" != "$(uname -r)" ] || die "not running under gVisor"
    wait_for 20 not_running "$NAME" || die "gVisor container still running 20 s after start with a 4 s budget"
    wait_for 10 has_alerts 1 || die "the alert command received nothing"
    assert_eq "$(alert_field 1 budget)" "wall_clock_seconds" "alert names the budget"
    assert_eq "$(alert_field 1 container)" "$cid" "alert names the gVisor container"

    with_budgets '{"cpu_seconds": 2, "action": "freeze"}'
    run_podman run -d --name "$NAME-2" --annotation run.corral.runtime=gvisor "$CORRAL_TEST_IMAGE" \
        sh -c 'while :; do :; done'
    cid=$output
    wait_for 30 gvisor_is "$cid" paused || die "gVisor container not paused at its CPU budget: $(gvisor_status "$cid")"
    wait_for 10 has_alerts 2 || die "no alert for the CPU trip"
    assert_eq "$(alert_field 2 budget)" "cpu_seconds" "alert names the CPU budget"
    run_corral 1 resume "$cid"
    assert_contains "$output" "only a human resumes it" "engine resume of a tripped gVisor container refused"
    run_corral resume "$cid" --reason "test: gvisor" --grant 2
    wait_for 10 gvisor_is "$cid" running || die "not running after corral resume: $(gvisor_status "$cid")"
    wait_for 30 gvisor_is "$cid" paused || die "not paused again after the granted CPU seconds"
    # A frozen gVisor container can still be removed (runsc cannot signal a
    # paused sandbox: corral resumes it first).
    run_podman rm -f -t 0 "$NAME-2"
    run_cmd 1 podman container exists "$NAME-2"
    assert_no_state_record "$cid"
}

@test "if the watchdog cannot start the container does not keep running (fail closed)" {
    with_budgets '{"wall_clock_seconds": 600}'
    block_corral_log budget.log
    run_podman '!' run --name "$NAME" "$CORRAL_TEST_IMAGE" sleep 1000
    assert_contains "$output" "corral budget watchdog" "the hook's error reaches the user"
    wait_for 10 not_running "$NAME" || die "container kept running without a watchdog"
}

@test "the watchdog leaves nothing behind after the container ends" {
    with_budgets '{"wall_clock_seconds": 600}'
    run_podman run -d --name "$NAME" "$CORRAL_TEST_IMAGE" sleep 1000
    local cid=$output dir wd
    dir=$(state_records_for "$cid")
    [ -n "$dir" ] || die "no state record while running"
    wd=$(cat "$dir/watchdog.pid") || die "no watchdog.pid while running"
    kill -0 "$wd" || die "watchdog $wd not running"
    run_podman rm -f -t 0 "$NAME"
    assert_no_state_record "$cid"
    wait_for 10 sh -c "! kill -0 $wd" || die "watchdog $wd still running after the container ended"
    wait_for 10 grep -q "\"event\":\"usage\",\"container\":\"$cid\"" /var/lib/corral/usage.jsonl ||
        die "no usage record for $cid"
    run_corral usage "$cid"
    assert_contains "$output" "\"container\":\"$cid\"" "corral usage prints the record"
}

@test "under gVisor's own netstack: the byte quota and the connection breaker count in the netdev table" {
    command -v runsc >/dev/null || skip "runsc is not installed (Debian package runsc)"
    with_budgets '{"egress_bytes": "256k", "action": "kill", "grace_seconds": 1}' \
        "p['profiles']['default']['egress']['allow'] = ['$GW:$BULK/tcp', '$GW:$CONN/tcp']"
    run_podman run -d --name "$NAME" --annotation run.corral.runtime=gvisor "$CORRAL_TEST_IMAGE" sleep 300
    run_podman exec "$NAME" uname -r
    [ "$output" != "$(uname -r)" ] || die "not running under gVisor"
    rm -f "$WORK/bulk.log.ready"
    /usr/bin/python3 "$TESTS_DIR/lib/bulk-listener.py" "$GW" "$BULK" "$WORK/bulk.log" 4194304 &
    LISTENER_PIDS+=($!)
    wait_for 10 test -e "$WORK/bulk.log.ready" || die "bulk listener did not start"
    podman --runtime "$WRAPPER" exec -d "$NAME" sh -c "nc $GW $BULK </dev/null >/tmp/download"
    wait_for 30 not_running "$NAME" || die "gVisor container still running past its byte budget"
    wait_for 10 has_alerts 1 || die "the alert command received nothing"
    assert_eq "$(alert_field 1 budget)" "egress_bytes" "alert names the byte budget"
    grep -q "connection from" "$WORK/bulk.log" || die "the download never reached the listener"

    with_budgets '{"connections_per_minute": 30, "action": "kill", "grace_seconds": 1}' \
        "p['profiles']['default']['egress']['allow'] = ['$GW:$CONN/tcp']"
    run_podman run -d --name "$NAME-2" --annotation run.corral.runtime=gvisor "$CORRAL_TEST_IMAGE" sleep 300
    start_listener "$GW" "$CONN" "$WORK/conn.log"
    # As under runc, the exec session ends with the container.
    run_podman 137 exec "$NAME-2" sh -c "while :; do nc -w 1 $GW $CONN </dev/null >/dev/null; done"
    wait_for 20 not_running "$NAME-2" || die "breaker did not open under gVisor"
    wait_for 10 has_alerts 2 || die "no alert for the breaker"
    assert_eq "$(alert_field 2 budget)" "connections_per_minute" "alert names the connection breaker"
    local usage
    usage=$(alert_field 2 usage)
    [ "$usage" -gt 30 ] ||
        die "alert's usage is not the last minute's connections (more than 30 expected): $usage"
}
