#!/usr/bin/env bats
# corral ps, inspect and checklist: what a platform team sees at a glance.

load ../lib/helpers

setup_file() {
    ensure_podman_image
}

setup() {
    NAME=$(unique_name report)
    WORK=$(mktemp -d)
}

teardown() {
    podman --runtime "$CORRAL" rm -f -t 0 "$NAME" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}

@test "corral ps lists a running container with its profile and agent" {
    run_podman run -d --name "$NAME" --annotation run.corral.agent=report-agent "$CORRAL_TEST_IMAGE" sleep 300
    local id=$output
    run_corral ps
    assert_contains "$output" "${id:0:20}" "container listed"
    assert_contains "$output" "report-agent" "agent listed"
    run_corral ps --json
    echo "$output" | /usr/bin/python3 -c "
import json, sys
rows = [r for r in json.load(sys.stdin) if r['id'] == '$id']
assert rows and rows[0]['profile'] == 'default' and rows[0]['agent'] == 'report-agent', rows
" || die "corral ps --json does not describe the container"
    run_corral inspect "$id"
    assert_contains "$output" '"uid": 65534' "inspect shows the effective user"
}

@test "checklist: a hardened container passes, a plain runc spec fails, with evidence" {
    run_podman run -d --name "$NAME" "$CORRAL_TEST_IMAGE" sleep 300
    run_corral checklist "$output" --json
    echo "$output" | /usr/bin/python3 -c '
import json, sys
items = json.load(sys.stdin)
first = [i["ok"] for i in items[:6]]
assert all(first), items
' || die "a hardened container fails the checklist: $output"

    mkdir "$WORK/plain"
    cp "$TESTS_DIR/fixtures/engines/podman-run.json" "$WORK/plain/config.json"
    run_corral checklist --bundle "$WORK/plain"
    assert_contains "$output" "✗ Does the agent run without root" "plain runc spec runs as root"
    assert_contains "$output" "uid 0, 11 effective" "evidence for root"
    assert_contains "$output" "✗ Is outbound traffic limited" "plain runc spec has no egress filter"
}
