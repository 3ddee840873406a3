#!/usr/bin/env bats
# Documentation a new user relies on: man pages render cleanly, --help and
# corral(8) agree on the commands, and the shipped configs parse.

load ../lib/helpers

@test "every man page renders without groff warnings" {
    local page
    for page in "$SRC_DIR"/docs/man/*.[0-9]; do
        run groff -ww -z -man "$page"
        [ "$status" -eq 0 ] && [ -z "$output" ] || die "$(basename "$page"): $output"
    done
}

@test "corral --help and corral(8) name the same corral commands" {
    run_corral --help
    local help=$output cmd
    for cmd in explain "policy check" "egress show" ps inspect checklist "audit verify" "audit show" "audit rotate" \
        resume approve deny "budget reset" "budget report" usage hook; do
        assert_contains "$help" "$cmd" "--help lists $cmd"
        grep -q -- "^\.B $cmd" "$SRC_DIR/docs/man/corral.8" || die "corral(8) does not document $cmd"
        run_corral "${cmd%% *}" --help
        assert_contains "$output" "Usage: corral ${cmd%% *}" "corral ${cmd%% *} --help"
    done
}

@test "the shipped policy and engine configs parse" {
    run_corral policy check "$SRC_DIR/configs/policy.json"
    assert_contains "$output" "valid" "shipped policy"
    local f
    for f in "$SRC_DIR"/contrib/*/*.json; do
        [ -e "$f" ] || continue
        /usr/bin/python3 -m json.tool "$f" >/dev/null || die "$f is not valid JSON"
    done
    for f in "$SRC_DIR"/contrib/*/*.toml; do
        [ -e "$f" ] || continue
        /usr/bin/python3 -c 'import sys, tomllib; tomllib.load(open(sys.argv[1], "rb"))' "$f" || die "$f is not valid TOML"
    done
    for f in "$SRC_DIR"/contrib/*/*.yaml; do
        [ -e "$f" ] || continue
        /usr/bin/python3 -c 'import sys, yaml; list(yaml.safe_load_all(open(sys.argv[1])))' "$f" || die "$f is not valid YAML"
    done
}

@test "the Kubernetes RuntimeClass and agent Pod have the fields Kubernetes needs" {
    /usr/bin/python3 - "$SRC_DIR/contrib/kubernetes/runtimeclass.yaml" "$SRC_DIR/contrib/kubernetes/agent-pod.yaml" <<'PY' ||
import sys, yaml
rc = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d][0]
assert rc["apiVersion"] == "node.k8s.io/v1" and rc["kind"] == "RuntimeClass", rc
assert rc["handler"] == "corral" and rc["metadata"]["name"], rc
pod = [d for d in yaml.safe_load_all(open(sys.argv[2])) if d][0]
assert pod["apiVersion"] == "v1" and pod["kind"] == "Pod", pod
assert pod["spec"]["runtimeClassName"] == rc["metadata"]["name"], pod
assert any(k.startswith("run.corral.") for k in pod["metadata"].get("annotations", {})), pod
assert pod["spec"]["containers"] and all(c.get("image") for c in pod["spec"]["containers"]), pod
PY
        die "contrib/kubernetes YAML is not a valid RuntimeClass + Pod pair"
}
