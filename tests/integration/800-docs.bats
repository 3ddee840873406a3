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

# The commands --help lists (from the command table) and the ones corral(8)
# documents under a heading: each set must equal the other.
help_commands() { # SECTION-HEADING-OF-HELP
    case $1 in
    runtime) sed -n '/^runtime commands/,/^corral commands:/p' <<<"$help" | sed '1s/.*)://;$d' | tr ' ' '\n' ;;
    own) sed -n '/^corral commands:/,/^$/p' <<<"$help" | sed -n 's/^  \([a-z-]*\).*/\1/p' ;;
    esac | sed '/^$/d' | sort -u
}
man_commands() { # .SS-HEADING
    # An entry is the line right after a .TP: ".B name …", or a list
    # ".BR a ", " b ", " c"; options (\-\-help) are not commands.
    sed -n "/^\.SS $1\$/,/^\.S[SH]/p" "$SRC_DIR/docs/man/corral.8" | sed -n '/^\.TP$/{n;p}' |
        sed -n -e 's/^\.B \([a-z-]*\).*/\1/p' -e '/^\.BR /{s/^\.BR //;s/ *", " */\n/g;p}' |
        sed -n '/^[a-z]/p' | sort -u
}

@test "corral --help and corral(8) name the same commands" {
    run_corral --help
    local help=$output cmd
    local own runtime
    own=$(help_commands own)
    runtime=$(help_commands runtime)
    [ "$(wc -l <<<"$own")" -ge 10 ] || die "--help lists too few corral commands: $own"
    [ "$(wc -l <<<"$runtime")" -ge 15 ] || die "--help lists too few runtime commands: $runtime"
    [ "$own" = "$(man_commands 'corral commands')" ] ||
        die "corral commands: --help and corral(8) differ: $(diff <(echo "$own") <(man_commands 'corral commands'))"
    [ "$runtime" = "$(man_commands 'Runtime commands')" ] ||
        die "runtime commands: --help and corral(8) differ: $(diff <(echo "$runtime") <(man_commands 'Runtime commands'))"
    for cmd in $own; do
        run_corral "$cmd" --help
        [ "$status" -eq 0 ] || die "corral $cmd --help failed: $output"
        [ "${lines[0]%% *}" = "Usage:" ] && [ "$(cut -d' ' -f2,3 <<<"${lines[0]}")" = "corral $cmd" ] ||
            die "corral $cmd --help: $output"
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
