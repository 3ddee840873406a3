# Shared bats helpers for corral's integration tests.
# shellcheck shell=bash

bats_require_minimum_version 1.5.0

CORRAL=${CORRAL:-/usr/local/bin/corral}
CORRAL_TEST_TIMEOUT=${CORRAL_TEST_TIMEOUT:-120}
TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck disable=SC2034 # used by the test files
SRC_DIR=$(cd "$TESTS_DIR/.." && pwd)
# shellcheck source=tests/lib/image.bash
. "$TESTS_DIR/lib/image.bash"
# The image is tagged with a digest of what goes into it, so a changed probe
# never meets a stale image.
CORRAL_TEST_IMAGE=${CORRAL_TEST_IMAGE:-localhost/corral-test-bb:$(cat "$TESTS_DIR/lib/image.bash" \
    "$TESTS_DIR/lib/syscall-probe.c" "$TESTS_DIR/lib/dns-junk.c" | sha256sum | cut -c1-12)}

# Podman, confined to a containers.conf that drops the default ulimits that
# fail on this machine (docs/facts.md) and names corral a JSON-log runtime.
export CONTAINERS_CONF=${CONTAINERS_CONF:-$TESTS_DIR/lib/containers.conf}

# die MESSAGE: fail the current test with a message.
die() {
    echo "# FAIL: $*" >&2
    return 1
}

# is_status WORD: WORD is an expected status for run_cmd and the commands
# built on it: a number, '?' for any, '!' for any non-zero.  They take it as
# their optional first argument:
#     local expected=0
#     if is_status "${1:-}"; then expected=$1; shift; fi
is_status() {
    case "$1" in
        [0-9]* | '?' | '!') return 0 ;;
    esac
    return 1
}

# run_cmd [expected-status] CMD...: run with a timeout, log, check status.
run_cmd() {
    local expected=0
    if is_status "${1:-}"; then expected=$1; shift; fi
    local started=$SECONDS
    echo "# \$ $*" >&2
    # Plain `run`, so the output is logged before the status is judged;
    # bats wants an explicit -127 for "command not found" statuses.
    if [ "$expected" = 127 ]; then
        run -127 timeout --foreground -k 5 "$CORRAL_TEST_TIMEOUT" "$@"
    else
        run timeout --foreground -k 5 "$CORRAL_TEST_TIMEOUT" "$@"
    fi
    printf '%s\n' "$output" | sed 's/^/#   /' >&2
    echo "#   (status $status after $((SECONDS - started))s)" >&2
    # 124 and 137 are also what a command killed by SIGKILL (or an exec
    # session in a container a budget killed) returns: a timeout is a status
    # of timeout's own AND the time spent.
    if { [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; } && [ $((SECONDS - started)) -ge "$CORRAL_TEST_TIMEOUT" ]; then
        die "timed out after ${CORRAL_TEST_TIMEOUT}s: $*"
        return 1
    fi
    case "$expected" in
        '?') ;;
        '!') [ "$status" -ne 0 ] || die "expected failure, got status 0: $*" ;;
        *) [ "$status" -eq "$expected" ] || die "expected status $expected, got $status: $*" ;;
    esac
}

# run_podman [expected-status] ARGS...: podman with the suite's runtime.
run_podman() {
    local expected=0
    if is_status "${1:-}"; then expected=$1; shift; fi
    # RUNTIME: a suite's policy wrapper (make_policy_wrapper), else corral.
    run_cmd "$expected" podman --runtime "${RUNTIME:-$CORRAL}" "$@"
}

# run_corral [expected-status] ARGS...
run_corral() {
    local expected=0
    if is_status "${1:-}"; then expected=$1; shift; fi
    run_cmd "$expected" "$CORRAL" "$@"
}

# assert_contains HAYSTACK NEEDLE MESSAGE
assert_contains() {
    [[ "$1" == *"$2"* ]] || die "$3: expected to find '$2' in: $1"
}

# assert_not_contains HAYSTACK NEEDLE MESSAGE
assert_not_contains() {
    [[ "$1" != *"$2"* ]] || die "$3: did not expect '$2' in: $1"
}

# assert_eq ACTUAL EXPECTED MESSAGE
assert_eq() {
    [ "$1" = "$2" ] || die "$3: expected '$2', got '$1'"
}

# wait_for TIMEOUT_SECONDS CMD...: poll until CMD succeeds.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.2
    done
}

# unique_name PREFIX: a name no other test uses.
unique_name() {
    echo "corral-t-$1-$$-$RANDOM"
}

# ensure_podman_image: import the busybox image once per run.
ensure_podman_image() {
    podman image exists "$CORRAL_TEST_IMAGE" && return
    import_podman_image "$CORRAL_TEST_IMAGE"
    # The image's tag follows its recipe: drop the tags older recipes left.
    local old
    for old in $(podman images --format '{{.Repository}}:{{.Tag}}' "${CORRAL_TEST_IMAGE%:*}"); do
        [ "$old" = "$CORRAL_TEST_IMAGE" ] || podman rmi "$old" >/dev/null 2>&1 || true
    done
}

# state_records_for ID: corral state directories left for a container id.
state_records_for() {
    find "${CORRAL_STATE_DIR:-/run/corral}" -mindepth 2 -maxdepth 2 -type d -name "$1" 2>/dev/null
}

# assert_no_state_record ID
assert_no_state_record() {
    local left
    left=$(state_records_for "$1")
    [ -z "$left" ] || die "state record left behind for $1: $left"
}

# corral_mounts: mount points below corral's state directory (the bind
# sources staged for containers, shim/binds.h), one a line.
corral_mounts() {
    awk -v base="${CORRAL_STATE_DIR:-/run/corral}/" 'index($5, base) == 1 { print $5 }' /proc/self/mountinfo
}

# make_policy_wrapper POLICY_FILE: a runtime wrapper running corral with
# another policy (engines take a runtime path, not arguments).
make_policy_wrapper() {
    local policy=$1 wrapper
    wrapper=$(mktemp -d)/corral
    printf '#!/bin/sh\nexec %s --policy %s "$@"\n' "$CORRAL" "$policy" >"$wrapper"
    chmod 755 "$wrapper"
    echo "$wrapper"
}

# start_listener HOST PORT LOG: a TCP listener of the test's own; its PID is
# appended to LISTENER_PIDS for teardown.
LISTENER_PIDS=()
start_listener() {
    rm -f "$3" "$3.ready"
    /usr/bin/python3 "$TESTS_DIR/lib/listener.py" "$1" "$2" "$3" &
    LISTENER_PIDS+=($!)
    wait_for 10 test -e "$3.ready" || die "listener on $1:$2 did not start"
}

stop_listeners() {
    local pid
    for pid in "${LISTENER_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    LISTENER_PIDS=()
}

# policy_with PYTHON_EXPR: a copy of the shipped policy edited by a Python
# statement on `p` (the parsed policy), written to $WORK/policy.json.
policy_with() {
    /usr/bin/python3 - "$SRC_DIR/configs/policy.json" "$WORK/policy.json" "$1" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
exec(sys.argv[3])
json.dump(p, open(sys.argv[2], "w"), indent=2)
PY
    chmod 0644 "$WORK/policy.json"
}

# make_alert_command: $WORK/alert, an alert command (budgets, egress.ask)
# that appends its stdin (the JSON event) and a newline to
# $WORK/alerts.jsonl.
make_alert_command() {
    printf '#!/bin/sh\ncat >>%s/alerts.jsonl\necho >>%s/alerts.jsonl\n' "$WORK" "$WORK" >"$WORK/alert"
    chmod 755 "$WORK/alert"
}

# n_alerts: how many alerts $WORK/alert received.
n_alerts() {
    if [ -e "$WORK/alerts.jsonl" ]; then
        grep -c . "$WORK/alerts.jsonl" || true
    else
        echo 0
    fi
}

# has_alerts N: at least N alerts were received.
has_alerts() {
    [ "$(n_alerts)" -ge "$1" ]
}

# alert_field N KEY: field KEY of the Nth (1-based) alert received ("None"
# if it has no such field).
alert_field() {
    /usr/bin/python3 - "$WORK/alerts.jsonl" "$1" "$2" <<'PY'
import json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(events[int(sys.argv[2]) - 1].get(sys.argv[3]))
PY
}

# with_budgets JSON [EXTRA_PYTHON]: the shipped policy with these budgets
# (and the alert command of make_alert_command) on the default profile, run
# through a wrapper (WRAPPER, RUNTIME).
with_budgets() {
    policy_with "p['profiles']['default']['budgets'] = json.loads('''$1'''); \
p['profiles']['default']['budgets']['alert'] = ['$WORK/alert']; ${2:-}"
    WRAPPER=$(make_policy_wrapper "$WORK/policy.json")
    # shellcheck disable=SC2034 # read by run_podman
    RUNTIME=$WRAPPER
}

# not_running NAME: the podman container NAME is not running (or is gone).
not_running() {
    [ "$(podman inspect -f '{{.State.Status}}' "$1" 2>/dev/null)" != running ]
}

# block_corral_log NAME: a directory where corral writes
# /var/log/corral/NAME, so that opening the log fails; a log already there
# is kept aside until unblock_corral_log (teardown) puts it back.
block_corral_log() {
    BLOCKED_LOG=/var/log/corral/$1
    SAVED_LOG=
    mkdir -p /var/log/corral
    if [ -e "$BLOCKED_LOG" ]; then
        SAVED_LOG=$BLOCKED_LOG.saved-by-test.$$
        mv "$BLOCKED_LOG" "$SAVED_LOG"
    fi
    mkdir "$BLOCKED_LOG"
}

# unblock_corral_log: undo block_corral_log, if the test called it.
unblock_corral_log() {
    [ -n "${BLOCKED_LOG:-}" ] && [ -d "$BLOCKED_LOG" ] || return 0
    rmdir "$BLOCKED_LOG"
    [ -z "${SAVED_LOG:-}" ] || mv "$SAVED_LOG" "$BLOCKED_LOG"
    BLOCKED_LOG=
}

# assert_start_fails_closed NEEDLE [RUN_FLAGS...]: `podman run` of a
# container $NAME must fail: its process never runs, the error (containing
# NEEDLE) reaches the user and no state record is left.
assert_start_fails_closed() {
    local needle=$1
    shift
    run_podman '!' run --rm --name "$NAME" "$@" "$CORRAL_TEST_IMAGE" echo agent-process-ran
    assert_not_contains "$output" "agent-process-ran" "the container process never ran"
    assert_contains "$output" "$needle" "the error reaches the user"
    assert_no_state_record "$NAME"
}

# make_runc_bundle NAME_PREFIX: a bundle of the busybox rootfs with the
# containerd-ctr-run.json fixture as its config, for corral run by hand with
# --root $ROOT; sets WORK, BUNDLE, ROOT and ID.
# shellcheck disable=SC2034 # ROOT and ID are for the test files
make_runc_bundle() {
    WORK=$(mktemp -d)
    BUNDLE=$WORK/bundle
    ROOT=$WORK/runc-root
    ID=$(unique_name "$1")
    mkdir -p "$BUNDLE/rootfs"
    tar -C "$BUNDLE/rootfs" -xf <(build_rootfs_tar /dev/stdout)
    cp "$TESTS_DIR/fixtures/engines/containerd-ctr-run.json" "$BUNDLE/config.json"
}
