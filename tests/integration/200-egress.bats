#!/usr/bin/env bats
# Egress: default deny inside the container's network namespace, opened only
# by the allowlist; proven against listeners of the test's own on the Podman
# bridge gateway (no other address is ever contacted).

load ../lib/helpers

GW=10.88.0.1
ALLOWED=18080
DENIED=18081

setup_file() {
    ensure_podman_image
}

setup() {
    NAME=$(unique_name egress)
    WORK=$(mktemp -d)
    policy_with "p['profiles']['default']['egress']['allow'] = ['$GW:$ALLOWED/tcp']"
    WRAPPER=$(make_policy_wrapper "$WORK/policy.json")
    # shellcheck disable=SC2034 # read by run_podman (helpers.bash)
    RUNTIME=$WRAPPER
}

teardown() {
    stop_listeners
    # One name per call: podman rm stops at a name it does not know.
    local n
    for n in "$NAME" "$NAME-2"; do
        podman --runtime "$WRAPPER" rm -f -t 0 "$n" >/dev/null 2>&1 || true
    done
    podman --runtime runc rm -f -t 0 "$NAME-runc" >/dev/null 2>&1 || true
    unblock_corral_log
    rm -rf "$(dirname "$WRAPPER")" "$WORK"
}

# An agent container on the bridge: the bridge (and its gateway address,
# where the listeners bind) exists only while a container is attached.
start_agent() {
    run_podman run -d --name "$NAME" "$@" "$CORRAL_TEST_IMAGE" sleep 300
    CID=$output
    start_listener "$GW" "$ALLOWED" "$WORK/allowed.log"
    start_listener "$GW" "$DENIED" "$WORK/denied.log"
}


@test "allowed destination is reached, denied one is not, and the denial is counted and logged" {
    start_agent
    run_podman exec "$NAME" sh -c "nc -w 3 $GW $ALLOWED </dev/null"
    assert_eq "$output" "hello" "allowed destination answered"
    grep -q "connection from" "$WORK/allowed.log" || die "the allowed listener saw no connection"

    run_podman exec "$NAME" sh -c "nc -w 3 $GW $DENIED </dev/null; echo rc=\$?"
    assert_contains "$output" "rc=1" "denied connection failed"
    [ ! -s "$WORK/denied.log" ] || die "the denied listener saw a connection: $(cat "$WORK/denied.log")"

    # The denied listener is up and reachable without corral.
    run_cmd podman --runtime runc run --rm --name "$NAME-runc" "$CORRAL_TEST_IMAGE" sh -c "nc -w 3 $GW $DENIED </dev/null"
    assert_eq "$output" "hello" "denied listener answers plain runc"
    grep -q "connection from" "$WORK/denied.log" || die "control: the denied listener saw nothing from runc"

    run_corral egress show "$CID"
    assert_contains "$output" "allow $GW/32:$ALLOWED/tcp" "allowlist rule listed"
    local denied
    denied=$(echo "$output" | awk '$1 == "output" && $2 == "deny" { print $4 }')
    [ "${denied:-0}" -ge 1 ] || die "deny counter did not increase: $output"

    wait_for 10 grep -q "\"container\":\"$CID\".*\"destination\":\"$GW\",\"protocol\":\"tcp\",\"port\":$DENIED" \
        /var/log/corral/egress.log || die "no denied-packet record for $GW:$DENIED in /var/log/corral/egress.log"
}

@test "a container that connects in its first instruction is already filtered" {
    start_agent
    run_podman run --rm --name "$NAME-2" "$CORRAL_TEST_IMAGE" sh -c "nc -w 3 $GW $DENIED </dev/null; echo rc=\$?"
    assert_contains "$output" "rc=1" "first-instruction connection failed"
    [ ! -s "$WORK/denied.log" ] || die "the listener saw the first-instruction connection"
}

@test "root and CAP_NET_ADMIN inside the container cannot remove the table" {
    start_agent --user 0 --cap-add NET_ADMIN --cap-add ALL
    run_podman exec --user 0 --privileged "$NAME" syscall-probe nft-delete
    assert_eq "$output" "nft-delete: EPERM" "table deletion refused"
    run_corral egress show "$CID"
    assert_contains "$output" "deny" "table still in place"
    run_podman exec "$NAME" sh -c "nc -w 3 $GW $DENIED </dev/null; echo rc=\$?"
    assert_contains "$output" "rc=1" "still filtered"
}

@test "an annotation narrows the allowlist and cannot widen it" {
    run_podman 126 run --rm --name "$NAME-2" --annotation "run.corral.egress.allow=$GW:$DENIED/tcp" \
        "$CORRAL_TEST_IMAGE" true
    assert_contains "$output" "would loosen" "widening refused"
    start_agent --annotation "run.corral.egress.allow=$GW:$ALLOWED/tcp"
    run_podman exec "$NAME" sh -c "nc -w 3 $GW $ALLOWED </dev/null"
    assert_eq "$output" "hello" "narrowed allowlist still allows its entry"
}

@test "egress show on a container that has ended and was deleted says it is not running" {
    run_podman run --name "$NAME" "$CORRAL_TEST_IMAGE" true
    run_podman inspect --format '{{.Id}}' "$NAME"
    run_corral 1 egress show "$output"
    assert_contains "$output" "is not running" "the user's terms"
    assert_not_contains "$output" "OCI state on stdin" "not the hook's message"
}

# serve_two_ports [PODMAN ARGS...]: an agent serving the same page on 8080
# (published by the policy) and 8081 (not); both are up, seen from inside.
serve_two_ports() {
    policy_with "p['profiles']['default']['ingress'] = {'allow': ['8080/tcp', '9090/tcp']}"
    run_podman run -d --name "$NAME" "$@" "$CORRAL_TEST_IMAGE" sh -c \
        'mkdir -p /tmp/www && echo served >/tmp/www/index.html && httpd -p 8081 -h /tmp/www && exec httpd -f -p 8080 -h /tmp/www'
    local port
    for port in 8080 8081; do
        wait_for 10 sh -c "podman exec '$NAME' timeout 3 wget -q -O- http://127.0.0.1:$port/ | grep -q served" ||
            die "port $port does not answer inside the container"
    done
    AGENT_IP=$(podman inspect -f '{{.NetworkSettings.IPAddress}}' "$NAME")
    [ -n "$AGENT_IP" ] || die "the agent has no address"
}

# http_get IP PORT: the page, or "failed: REASON" within 3 s.
http_get() {
    /usr/bin/python3 -c '
import sys, urllib.request
try:
    print(urllib.request.urlopen("http://%s:%s/" % (sys.argv[1], sys.argv[2]), timeout=3).read().decode().strip())
except Exception as e:
    print("failed: %s" % e)' "$1" "$2"
}

@test "inbound: a new connection reaches only the ports the profile publishes" {
    serve_two_ports
    assert_eq "$(http_get "$AGENT_IP" 8080)" "served" "the published port answers a peer on the bridge"
    assert_contains "$(http_get "$AGENT_IP" 8081)" "failed" "an unpublished port does not"
    run_corral egress show "$(podman inspect -f '{{.Id}}' "$NAME")"
    local denied
    denied=$(echo "$output" | awk '$1 == "input" && $2 == "inbound:" && $3 == "deny" { print $5 }')
    [ "${denied:-0}" -ge 1 ] || die "the inbound deny counter did not increase: $output"
}

@test "inbound under gVisor: the published port answers, an unpublished one does not" {
    command -v runsc >/dev/null || skip "runsc is not installed (Debian package runsc)"
    serve_two_ports --annotation run.corral.runtime=gvisor
    assert_eq "$(http_get "$AGENT_IP" 8080)" "served" "the published port answers a peer on the bridge"
    assert_contains "$(http_get "$AGENT_IP" 8081)" "failed" "an unpublished port does not"
    # A published port is no way out: a connection the agent opens *from*
    # it (9090, published, nothing listening) meets the allowlist.
    start_listener "$GW" "$DENIED" "$WORK/denied.log"
    run_podman exec "$NAME" syscall-probe connect-from 9090 "$GW" "$DENIED"
    assert_not_contains "$output" "connect-from: ok" "the connection from a published port failed"
    [ ! -s "$WORK/denied.log" ] || die "the denied listener saw a connection from the published port"
}

@test "the offline profile has a table too, and nothing but loopback" {
    run_podman run -d --name "$NAME" --annotation run.corral.profile=offline "$CORRAL_TEST_IMAGE" sleep 300
    run_corral egress show "$output"
    assert_contains "$output" "loopback" "offline table installed"
    assert_not_contains "$output" "allow $GW" "offline allows nothing"
}

@test "if the filter cannot be set up the container does not start (fail closed)" {
    # Make the denied-packet log unwritable: the hook must refuse.
    block_corral_log egress.log
    assert_start_fails_closed "corral egress filter"
}

@test "after the container ends, corral leaves no process, record or table behind" {
    start_agent
    local dir
    dir=$(state_records_for "$CID")
    [ -n "$dir" ] || die "no state record while running"
    local logger
    logger=$(pgrep -f -- "--state-dir $dir") || die "no denied-packet logger while running"
    run_podman rm -f -t 0 "$NAME"
    assert_no_state_record "$CID"
    wait_for 10 sh -c "! kill -0 $logger" || die "logger $logger still running after the container ended"
}
