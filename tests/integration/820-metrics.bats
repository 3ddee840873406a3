#!/usr/bin/env bats
# corral metrics: what real containers do (a denied connection, a budget
# trip, a freeze and a human's resume) shows in the Prometheus exposition
# with the right values; the output parses with a real parser (Debian's
# python3-prometheus-client); --textfile writes the same, 0644, atomically;
# a tampered audit log reads as an invalid chain.  Each test's policy
# sends the audit records to a log of the test's own, so their counts are
# exact; the shared logs under /var/log/corral are compared before and
# after.  Traffic goes only to listeners of the test's own on the Podman
# bridge gateway.

load ../lib/helpers

GW=10.88.0.1
ALLOWED=18086
DENIED=18087

setup_file() {
    ensure_podman_image
    /usr/bin/python3 -c 'import prometheus_client.parser' ||
        skip "python3-prometheus-client is not installed (scripts/install-deps.sh installs it)"
}

setup() {
    NAME=$(unique_name metrics)
    WORK=$(mktemp -d)
    chmod 755 "$WORK"
    SECRET="s3cr3t-$RANDOM-$RANDOM"
}

teardown() {
    stop_listeners
    local n
    for n in "$NAME" "$NAME-gvisor"; do
        podman --runtime "${WRAPPER:-$CORRAL}" rm -f -t 0 "$n" >/dev/null 2>&1 || true
    done
    [ -z "${WRAPPER:-}" ] || rm -rf "$(dirname "$WRAPPER")"
    # corral marks an audit log append-only (chattr +a) where it can.
    chattr -a "$WORK/audit.jsonl" 2>/dev/null || true
    rm -rf "$WORK"
}

# with_policy [PYTHON]: the shipped policy with the audit log in $WORK,
# edited further by PYTHON; containers run through its wrapper.
with_policy() {
    policy_with "p['audit'] = {'path': '$WORK/audit.jsonl', 'key': '$WORK/audit.key'}; ${1:-}"
    WRAPPER=$(make_policy_wrapper "$WORK/policy.json")
    # shellcheck disable=SC2034 # read by run_podman (helpers.bash)
    RUNTIME=$WRAPPER
}

# scrape FILE: `corral metrics` under the test's policy, checked by the
# real parser and kept as {"name{label=value,...}": value} in FILE.json
# (FILE holds the text, FILE.err the warnings).
scrape() {
    "$CORRAL" --policy "$WORK/policy.json" metrics >"$1" 2>"$1.err" ||
        die "corral metrics failed: $(cat "$1.err")"
    parse_exposition "$1" >"$1.json" || die "prometheus_client could not parse the output of corral metrics"
}

parse_exposition() {
    /usr/bin/python3 - "$1" <<'PY'
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for fam in text_string_to_metric_families(open(sys.argv[1]).read()):
    assert fam.type in ("counter", "gauge"), fam
    for s in fam.samples:
        key = s.name + "{" + ",".join("%s=%s" % kv for kv in sorted(s.labels.items())) + "}"
        assert key not in out, "duplicate sample " + key
        out[key] = s.value
json.dump(out, sys.stdout)
PY
}

# value FILE KEY: one sample of a scrape (labels sorted by name); a
# sample that is not there reads as 0, as Prometheus's increase() would.
value() {
    /usr/bin/python3 -c 'import json, sys
v = json.load(open(sys.argv[1] + ".json")).get(sys.argv[2], 0)
print(int(v) if v == int(v) else v)' "$1" "$2"
}

# delta BEFORE AFTER KEY: how much a sample grew between two scrapes.
delta() {
    echo $(($(value "$2" "$3") - $(value "$1" "$3")))
}

# log_count LOG PYTHON-CONDITION-ON-r [WEIGHT]: records of a log counted
# independently of corral (summaries by their count when WEIGHT is given).
log_count() {
    /usr/bin/python3 - "$@" <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1], errors="replace"):
    if not line.endswith("\n"):
        break
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if isinstance(r, dict) and eval(sys.argv[2]):
        n += int(r.get("count", 0)) if len(sys.argv) > 3 else 1
print(n)
PY
}

egress_denied_in_log() {
    local log=/var/log/corral/egress.log
    [ -e "$log" ] || {
        echo 0
        return
    }
    echo $(($(log_count "$log" 'r.get("event") == "egress-deny"') +
        $(log_count "$log" 'r.get("event") == "egress-deny-suppressed"' count)))
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

@test "a denied connection is counted, containers by profile and runtime, nothing secret in the labels" {
    with_policy "p['profiles']['default']['egress']['allow'] = ['$GW:$ALLOWED/tcp']"
    scrape "$WORK/before"
    run_podman run -d --name "$NAME" --env "API_TOKEN=$SECRET" \
        --annotation "run.corral.agent=agent-$SECRET" "$CORRAL_TEST_IMAGE" sleep 300
    local cid=$output
    run_podman run -d --name "$NAME-gvisor" --annotation run.corral.runtime=gvisor "$CORRAL_TEST_IMAGE" sleep 300
    start_listener "$GW" "$DENIED" "$WORK/denied.log"
    run_podman exec "$NAME" sh -c "nc -w 3 $GW $DENIED </dev/null; echo rc=\$?"
    assert_contains "$output" "rc=1" "the connection to a port outside the allowlist failed"
    [ ! -s "$WORK/denied.log" ] || die "the denied listener saw a connection"
    wait_for 10 grep -q "\"container\":\"$cid\".*\"port\":$DENIED" /var/log/corral/egress.log ||
        die "no egress-deny record for $cid"
    local ours
    ours=$(log_count /var/log/corral/egress.log "r.get('container') == '$cid' and r.get('event') == 'egress-deny'")

    scrape "$WORK/after"
    local key='corral_egress_denied_total{reason=address}'
    [ "$(delta "$WORK/before" "$WORK/after" "$key")" -ge "$ours" ] ||
        die "denied egress grew by $(delta "$WORK/before" "$WORK/after" "$key"), the container was denied $ours times"
    [ "$ours" -ge 1 ] || die "no denial of the container in egress.log"
    assert_eq "$(value "$WORK/after" "$key")" "$(egress_denied_in_log)" \
        "corral's count agrees with egress.log counted independently"
    assert_eq "$(delta "$WORK/before" "$WORK/after" 'corral_containers{profile=default,runtime=runc}')" 1 \
        "one more runc container of profile default"
    assert_eq "$(delta "$WORK/before" "$WORK/after" 'corral_containers{profile=default,runtime=gvisor}')" 1 \
        "one more gVisor container of profile default"
    # The test's own audit log: exact counts.
    assert_eq "$(value "$WORK/after" 'corral_audit_records_total{event=create}')" 2 "two create records"
    assert_eq "$(value "$WORK/after" 'corral_audit_records_total{event=egress-deny}')" \
        "$(log_count "$WORK/audit.jsonl" 'r.get("event") == "egress-deny"')" "egress-deny audit records"
    assert_eq "$(value "$WORK/after" 'corral_audit_chain_valid{}')" 1 "the test's audit chain verifies"
    assert_eq "$(value "$WORK/after" 'corral_metrics_source_up{source=state}')" 1 "state read"
    assert_eq "$(value "$WORK/after" 'corral_metrics_source_up{source=egress_log}')" 1 "egress.log read"
    # Neither the environment, nor the tenant's agent name, nor the id.
    assert_not_contains "$(cat "$WORK/after")" "$SECRET" "a secret or tenant string in the metrics"
    assert_not_contains "$(cat "$WORK/after")" "$cid" "a container id in the metrics"
}

@test "a budget freeze shows as a trip and a frozen container until a human resumes it" {
    with_policy "p['profiles']['default']['budgets'] = {'cpu_seconds': 1, 'action': 'freeze'}"
    scrape "$WORK/before"
    run_podman run -d --name "$NAME" "$CORRAL_TEST_IMAGE" sh -c 'while :; do :; done'
    local cid=$output
    wait_for 30 is_frozen "$cid" || die "cgroup freezer not FROZEN: $(freezer_state "$cid")"
    wait_for 10 grep -q "\"event\":\"budget_exceeded\",\"container\":\"$cid\"" /var/log/corral/budget.log ||
        die "no budget_exceeded record for $cid"

    scrape "$WORK/frozen"
    assert_eq "$(delta "$WORK/before" "$WORK/frozen" 'corral_containers_frozen{}')" 1 "one more frozen container"
    assert_eq "$(delta "$WORK/before" "$WORK/frozen" 'corral_budget_trips_total{action=freeze,budget=cpu_seconds}')" \
        1 "one CPU freeze"
    assert_eq "$(delta "$WORK/before" "$WORK/frozen" 'corral_budget_trips_total{action=kill,budget=cpu_seconds}')" \
        0 "no CPU kill"
    assert_eq "$(value "$WORK/frozen" 'corral_audit_records_total{event=budget-trip}')" 1 \
        "the trip is in the test's audit log"

    run_corral resume "$cid" --reason "metrics test" --grant 1000
    wait_for 10 is_thawed "$cid" || die "not thawed after corral resume"
    scrape "$WORK/resumed"
    assert_eq "$(value "$WORK/resumed" 'corral_containers_frozen{}')" "$(value "$WORK/before" 'corral_containers_frozen{}')" \
        "frozen containers back to where they were"
    assert_eq "$(delta "$WORK/before" "$WORK/resumed" 'corral_budget_resumes_total{budget=cpu_seconds}')" 1 \
        "one resume counted"
}

@test "--textfile writes the same exposition, mode 0644, replacing the file whole" {
    with_policy
    mkdir "$WORK/textfile"
    echo "old content" >"$WORK/textfile/corral.prom"
    local old_inode
    old_inode=$(stat -c %i "$WORK/textfile/corral.prom")
    # A reader that has the old file open (node_exporter mid-read); bats
    # keeps fd 3 for itself.
    local reader
    exec {reader}<"$WORK/textfile/corral.prom"

    "$CORRAL" --policy "$WORK/policy.json" metrics --textfile "$WORK/textfile/corral.prom" >"$WORK/tf.out" ||
        die "corral metrics --textfile failed"
    assert_eq "$(cat "$WORK/tf.out")" "" "nothing on stdout with --textfile"
    scrape "$WORK/stdout"
    assert_eq "$(stat -c %a "$WORK/textfile/corral.prom")" 644 "node_exporter may run as another user"
    [ "$(stat -c %i "$WORK/textfile/corral.prom")" != "$old_inode" ] || die "the file was rewritten in place"
    assert_eq "$(cat <&"$reader")" "old content" "a reader of the old file still reads it whole"
    exec {reader}<&-
    assert_eq "$(find "$WORK/textfile" -mindepth 1 | wc -l)" 1 "no temporary file left beside it"
    parse_exposition "$WORK/textfile/corral.prom" >/dev/null || die "the textfile does not parse"
    # Same text but the lines that say when and how long the verify took.
    diff <(grep -v '^corral_audit_verify_' "$WORK/textfile/corral.prom") <(grep -v '^corral_audit_verify_' "$WORK/stdout") ||
        die "--textfile and stdout differ"

    run_corral 1 --policy "$WORK/policy.json" metrics --textfile "$WORK/missing/corral.prom"
    assert_contains "$output" "missing" "the error names the directory"
    [ ! -e "$WORK/missing" ] || die "a missing directory was created"
    run_corral 1 metrics --bogus
    assert_contains "$output" "usage: corral metrics" "an unknown argument is refused with the usage"
}

@test "a tampered audit log is an invalid chain; an unreadable source is down, the rest still reported" {
    with_policy
    run_podman run --rm --name "$NAME" "$CORRAL_TEST_IMAGE" true
    scrape "$WORK/intact"
    assert_eq "$(value "$WORK/intact" 'corral_audit_chain_valid{}')" 1 "the chain verifies"
    local records
    records=$(grep -c . "$WORK/audit.jsonl")
    [ "$records" -ge 2 ] || die "expected create and stop records, found $records"
    assert_eq "$(/usr/bin/python3 -c 'import json, sys; d = json.load(open(sys.argv[1]))
print(int(sum(v for k, v in d.items() if k.startswith("corral_audit_records_total{"))))' "$WORK/intact.json")" \
        "$records" "every audit record counted once"
    local t
    t=$(value "$WORK/intact" 'corral_audit_verify_timestamp_seconds{}')
    /usr/bin/python3 -c "import sys, time; sys.exit(0 if abs(time.time() - $t) < 60 else 1)" ||
        die "verify time $t is not now"

    chattr -a "$WORK/audit.jsonl" 2>/dev/null || true
    sed -i '1s/"event":"create"/"event":"created"/' "$WORK/audit.jsonl"
    scrape "$WORK/tampered"
    assert_eq "$(value "$WORK/tampered" 'corral_audit_chain_valid{}')" 0 "an edited record breaks the chain"
    assert_contains "$(cat "$WORK/tampered.err")" "line 1: MAC does not match" "the warning says where it broke"
    assert_contains "$(cat "$WORK/tampered")" "corral_audit_records_total{event=\"created\"} 1" \
        "the edited record is still counted, as it reads now"

    # State in a place that is not a directory: state down, logs still up.
    : >"$WORK/not-a-dir"
    CORRAL_STATE_DIR="$WORK/not-a-dir" "$CORRAL" --policy "$WORK/policy.json" metrics >"$WORK/down" 2>"$WORK/down.err" ||
        die "corral metrics failed with a source down: $(cat "$WORK/down.err")"
    assert_contains "$(cat "$WORK/down.err")" "not-a-dir" "the warning names the source"
    parse_exposition "$WORK/down" >"$WORK/down.json" || die "output with a source down does not parse"
    assert_eq "$(value "$WORK/down" 'corral_metrics_source_up{source=state}')" 0 "state is down"
    assert_eq "$(value "$WORK/down" 'corral_metrics_source_up{source=budget_log}')" 1 "budget.log still read"
}
