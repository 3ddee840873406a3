#!/usr/bin/env bats
# Spend and API-call budgets: a meter command the watchdog runs,
# usage a gateway pushes with `corral budget report`, and meter failures.

load ../lib/helpers

setup_file() {
    ensure_podman_image
}

setup() {
    NAME=$(unique_name meter)
    AGENT=$(unique_name agent)
    WORK=$(mktemp -d)
    chmod 755 "$WORK"
    make_alert_command
    # The meter: reads the container on stdin (kept), reports one more
    # dollar and 10 calls at each run.
    cat >"$WORK/meter" <<METER
#!/bin/sh
cat >"$WORK/meter-stdin.json"
n=\$(cat "$WORK/runs" 2>/dev/null || echo 0)
n=\$((n + 1))
echo \$n >"$WORK/runs"
echo "{\"api_calls\": \$((n * 10)), \"spend_usd\": \$n.00, \"tokens\": 5}"
METER
    printf '#!/bin/sh\necho this is not json\n' >"$WORK/bad-meter"
    chmod 755 "$WORK/meter" "$WORK/bad-meter"
}

teardown() {
    local n
    for n in "$NAME" "$NAME-2" "$NAME-3"; do
        podman --runtime "${WRAPPER:-$CORRAL}" rm -f -t 0 "$n" >/dev/null 2>&1 || true
    done
    [ -z "${WRAPPER:-}" ] || rm -rf "$(dirname "$WRAPPER")"
    rm -rf "$WORK"
}

@test "a meter reporting rising spend trips the per-run spend budget" {
    with_budgets "{\"spend_usd\": 2.5, \"meter\": [\"$WORK/meter\"], \"meter_interval_seconds\": 1, \"action\": \"kill\", \"grace_seconds\": 1}"
    run_podman run -d --name "$NAME" --annotation "run.corral.agent=$AGENT" "$CORRAL_TEST_IMAGE" sleep 1000
    local cid=$output
    wait_for 30 not_running "$NAME" || die "still running after the meter reported more than \$2.50"
    wait_for 10 has_alerts 1 || die "the alert command received nothing"
    assert_eq "$(alert_field 1 budget)" "spend_usd" "the alert names the spend budget"
    assert_eq "$(alert_field 1 limit)" "2.5" "in dollars"
    assert_eq "$(alert_field 1 usage)" "3.0" "tripped at the third dollar"
    /usr/bin/python3 - "$WORK/meter-stdin.json" "$cid" "$AGENT" <<'PY' || die "meter stdin: $(cat "$WORK/meter-stdin.json")"
import json, sys
c = json.load(open(sys.argv[1]))
assert c["container"] == sys.argv[2] and c["agent"] == sys.argv[3], c
assert c["annotations"]["run.corral.agent"] == sys.argv[3], c
PY
}

@test "corral budget report pushes an agent over its daily spend: its next container is refused until a reset" {
    with_budgets '{"wall_clock_seconds": 3600, "daily": {"spend_usd": 5}, "action": "kill", "grace_seconds": 1}'
    run_podman run -d --name "$NAME" --annotation "run.corral.agent=$AGENT" "$CORRAL_TEST_IMAGE" sleep 1000
    local cid=$output
    run_corral budget report "$cid" --spend-usd 2.25 --api-calls 7
    run_corral 1 budget report "$cid" --spend-usd 1.1234567
    assert_contains "$output" "non-negative amount of dollars" "more than 6 decimals refused"
    ! not_running "$NAME" || die "stopped below the daily budget"
    run_corral budget report "$cid" --spend-usd 3
    wait_for 15 not_running "$NAME" || die "still running after pushed spend passed the daily budget"
    wait_for 10 has_alerts 1 || die "no alert"
    assert_eq "$(alert_field 1 budget)" "spend_usd" "the trip names spend"
    assert_eq "$(alert_field 1 scope)" "daily" "on the daily scope"

    run_podman 126 run --rm --name "$NAME-2" --annotation "run.corral.agent=$AGENT" "$CORRAL_TEST_IMAGE" \
        echo agent-process-ran
    assert_not_contains "$output" "agent-process-ran" "the refused container never ran"
    assert_contains "$output" "agent $AGENT has used its daily spend_usd budget (5.250000 of 5.000000" "clear refusal"
    run_corral usage --agent "$AGENT"
    assert_contains "$output" '"spend_micro_usd":5250000' "the ledger holds the pushed spend"
    assert_contains "$output" '"api_calls":7' "and the calls"
    run_corral audit show --container "$cid" --json
    assert_contains "$output" '"event":"budget-report"' "each report is an audit record"

    run_corral budget reset "$AGENT" --reason "test: more budget"
    run_podman run --rm --name "$NAME-3" --annotation "run.corral.agent=$AGENT" "$CORRAL_TEST_IMAGE" echo started
    assert_eq "$output" "started" "the agent starts again after the reset"
    run_corral 1 budget report nosuch-container --tokens 1
    assert_contains "$output" "not managed by corral" "an unknown container is named as such"
}

@test "a failing meter raises an alert; with a meter_failures budget it opens the breaker" {
    with_budgets "{\"api_calls\": 1000, \"meter\": [\"$WORK/bad-meter\"], \"meter_interval_seconds\": 1}"
    run_podman run -d --name "$NAME" "$CORRAL_TEST_IMAGE" sleep 1000
    wait_for 15 has_alerts 1 || die "no alert for a meter printing garbage"
    assert_eq "$(alert_field 1 event)" "meter_failed" "the alert says the meter failed"
    assert_contains "$(alert_field 1 reason)" "meter output" "and why"
    ! not_running "$NAME" || die "without a meter_failures budget the container keeps running"

    with_budgets "{\"api_calls\": 1000, \"meter\": [\"$WORK/bad-meter\"], \"meter_interval_seconds\": 1, \"meter_failures\": 2, \"action\": \"kill\", \"grace_seconds\": 1}"
    run_podman run -d --name "$NAME-2" "$CORRAL_TEST_IMAGE" sleep 1000
    wait_for 20 not_running "$NAME-2" || die "still running after two failed meter runs"
}

@test "a burst of DNS queries over dns_queries_per_minute opens the breaker" {
    with_budgets '{"dns_queries_per_minute": 20, "action": "kill", "grace_seconds": 1}'
    run_podman run -d --name "$NAME" "$CORRAL_TEST_IMAGE" sleep 1000
    # Queries to loopback only: counted by the table before anything else.
    run_podman '?' exec "$NAME" sh -c 'for i in $(seq 1 40); do nslookup -timeout=1 x$i.test 127.0.0.1; done >/dev/null 2>&1; echo done'
    wait_for 15 not_running "$NAME" || die "still running after a burst of DNS queries over the rate"
    wait_for 10 has_alerts 1 || die "no alert"
    assert_eq "$(alert_field 1 budget)" "dns_queries_per_minute" "the alert names the DNS breaker"
}

@test "anomaly: a burst of connections far over the agent's baseline raises an alert, and nothing more" {
    GW=10.88.0.1
    policy_with "d = p['profiles']['default']; d['egress']['allow'] = ['$GW:18097/tcp']; \
d['budgets'] = {'anomaly': {'connection_rate_factor': 5}, 'alert': ['$WORK/alert']}"
    WRAPPER=$(make_policy_wrapper "$WORK/policy.json")
    # shellcheck disable=SC2034 # read by run_podman (helpers.bash)
    RUNTIME=$WRAPPER
    run_podman run -d --name "$NAME-3" "$CORRAL_TEST_IMAGE" sleep 300
    start_listener "$GW" 18097 "$WORK/conn.log"
    # The baseline: one run with 3 connections (3 a minute).
    run_podman run --rm --name "$NAME" --annotation "run.corral.agent=$AGENT" "$CORRAL_TEST_IMAGE" \
        sh -c "for i in 1 2 3; do nc -w 2 $GW 18097 </dev/null; done"
    wait_for 10 grep -q "\"$AGENT\"" /var/lib/corral/ledger.json || die "no history for the agent"
    ! has_alerts 1 || die "the baseline run raised an alert: $(cat "$WORK/alerts.jsonl")"
    # Then 40 in a burst: over 5 x 3 a minute.
    run_podman run --rm --name "$NAME-2" --annotation "run.corral.agent=$AGENT" "$CORRAL_TEST_IMAGE" \
        sh -c "for i in \$(seq 1 40); do nc -w 2 $GW 18097 </dev/null; done; sleep 2; echo survived"
    assert_contains "$output" "survived" "an anomaly alerts, it does not stop the container"
    wait_for 10 has_alerts 1 || die "no anomaly alert"
    assert_eq "$(alert_field 1 event)" "anomaly" "the alert is an anomaly"
    assert_eq "$(alert_field 1 kind)" "connection_rate" "about the connection rate"
    assert_eq "$(alert_field 1 agent)" "$AGENT" "of the agent"
    stop_listeners
}
