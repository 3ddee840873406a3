#!/usr/bin/env bats
# Hardening beyond create: exec, update and restore of a corral container
# cannot undo its confinement, whatever flags an engine passes.

load ../lib/helpers

setup() {
    make_runc_bundle cmds
    /usr/bin/python3 - "$BUNDLE/config.json" "$BUNDLE/config.json" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["process"]["args"] = ["sleep", "300"]
json.dump(spec, open(sys.argv[2], "w"))
PY
    # runc's init keeps the stdio it was given: files, not the bats pipe.
    timeout 60 "$CORRAL" --root "$ROOT" create --bundle "$BUNDLE" "$ID" </dev/null >"$WORK/out" 2>&1 ||
        die "create failed: $(cat "$WORK/out")"
    run_corral --root "$ROOT" start "$ID"
}

teardown() {
    "$CORRAL" --root "$ROOT" delete --force "$ID" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}

@test "exec --cap is refused even behind a flag with a value" {
    run_corral 1 --root "$ROOT" exec --env A=b --cap CAP_SYS_ADMIN "$ID" true
    assert_contains "$output" "exec --cap is refused" "capability request refused"
}

@test "exec --user is refused even behind a flag with a value" {
    run_corral 1 --root "$ROOT" exec --cwd / --user 0 "$ID" id -u
    assert_contains "$output" "exec --user" "user override refused"
    run_corral --root "$ROOT" exec --cwd / "$ID" id -u
    assert_eq "$output" "65534" "plain exec runs as the profile user"
}

@test "update may tighten limits but not loosen them past the profile" {
    run_corral 1 --root "$ROOT" update --memory 107374182400 "$ID"
    assert_contains "$output" "would loosen" "raising memory refused"
    echo '{"memory": {"limit": 268435456}}' >"$WORK/res.json"
    run_corral --root "$ROOT" update --resources "$WORK/res.json" "$ID"
    local cg
    cg=$(awk -F: '$2 == "memory" { print $3 }' "/proc/$(runc --root "$ROOT" state "$ID" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')/cgroup")
    assert_eq "$(cat "/sys/fs/cgroup/memory$cg/memory.limit_in_bytes")" "268435456" "tightened memory limit applied"
    echo '{"memory": {"limit": -1}}' >"$WORK/unlimited.json"
    run_corral 1 --root "$ROOT" update --resources - "$ID" <"$WORK/unlimited.json"
    assert_contains "$output" "would loosen" "unlimited memory from stdin refused"
    echo '{"devices": [{"allow": true, "access": "rwm"}]}' >"$WORK/dev.json"
    run_corral 1 --root "$ROOT" update -r "$WORK/dev.json" "$ID"
    assert_contains "$output" "device cgroup changes are refused" "device cgroup update refused"
}

@test "egress show on a container whose process has ended says it is not running" {
    run_corral --root "$ROOT" kill "$ID" KILL
    wait_for 10 sh -c "runc --root '$ROOT' state '$ID' | grep -q '\"status\": \"stopped\"'" ||
        die "the container did not stop"
    run_corral 1 --root "$ROOT" egress show "$ID"
    assert_contains "$output" "container \`$ID\` is not running (status stopped)" "said in the user's terms"
    assert_not_contains "$output" "OCI state on stdin" "not the hook's message"
}

@test "restore is refused" {
    run_corral 1 --root "$ROOT" restore --bundle "$BUNDLE" "$ID-restored"
    assert_contains "$output" "restore is refused" "restore refused"
}
