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
    for cmd in explain "policy check" "egress show" ps inspect checklist hook; do
        assert_contains "$help" "$cmd" "--help lists $cmd"
        grep -q -- "^\.B $cmd" "$SRC_DIR/docs/man/corral.8" || die "corral(8) does not document $cmd"
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
