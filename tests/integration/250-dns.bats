#!/usr/bin/env bats
# The DNS guard: domain allowlists enforced for every protocol.  The upstream
# is a dnsmasq of the test's own, in a network namespace of the test's own
# (veth 10.250.X.1 <-> 10.250.X.2), serving only its own zone.  Every address
# contacted is one the test made: the Podman bridge gateway (10.88.0.1, where
# the test's listeners bind) and the test netns (10.250.X.2, "evil.test").

load ../lib/helpers
load ../lib/upstream

GW=10.88.0.1

setup_file() {
    ensure_podman_image
}

setup() {
    NAME=$(unique_name dns)
    WORK=$(mktemp -d)
    upstream_names corral-dns cdns
    policy_with "
d = p['profiles']['default']
d['egress']['allow'] = ['api.allowed.test:8080/tcp', 'cdn.allowed.test:8080/tcp', 'bad.allowed.test:8080/tcp',
                        '*.wild.test:8080/tcp', 'many.allowed.test:8080/tcp', 'any.allowed.test']
d['dns'] = {'upstream': '$UP', 'grace_seconds': 1}
d['egress']['ask'] = ['ask.allowed.test:8080/tcp', 'slow.allowed.test:8080/tcp', '*.asked.test:8080/tcp']
d['egress']['ask_timeout_seconds'] = 6
d['egress']['ask_alert'] = ['$WORK/alert']
"
    make_alert_command
    WRAPPER=$(make_policy_wrapper "$WORK/policy.json")
    # shellcheck disable=SC2034 # read by run_podman (helpers.bash)
    RUNTIME=$WRAPPER
    start_upstream
}

teardown() {
    [ -z "${DIG_PID:-}" ] || kill "$DIG_PID" 2>/dev/null || true
    stop_listeners
    local n
    for n in "$NAME" "$NAME-2"; do
        podman --runtime "$WRAPPER" rm -f -t 0 "$n" >/dev/null 2>&1 || true
    done
    podman --runtime runc rm -f -t 0 "$NAME-runc" >/dev/null 2>&1 || true
    stop_dns_upstream
    ip netns del "$NS-c" 2>/dev/null || true
    unblock_corral_log
    rm -rf "$(dirname "$WRAPPER")" "$WORK"
}

# The test's own upstream: dnsmasq in its own netns, answering only its zone
# (short TTL: 2 s), with a route back to the Podman bridge.
start_upstream() {
    local many=() i
    for i in $(seq 100 139); do
        many+=("--host-record=many.allowed.test,10.250.$X.$i")
    done
    start_dns_upstream --local-ttl=2 \
        --host-record=api.allowed.test,$GW --host-record=any.allowed.test,$GW \
        --host-record=www.wild.test,$GW --host-record=wild.test,$GW \
        --cname=cdn.allowed.test,api.allowed.test --cname=bad.allowed.test,evil.test \
        --host-record="evil.test,$UP" --host-record=ask.allowed.test,$GW --host-record="slow.allowed.test,$UP" \
        --host-record=one.asked.test,$GW --host-record=two.asked.test,$GW "${many[@]}"
}


# An agent container; then the listeners (the bridge exists only now).
start_agent() {
    run_podman run -d --name "$NAME" "$CORRAL_TEST_IMAGE" sleep 300
    CID=$output
    start_listener "$GW" 8080 "$WORK/api.log"
    start_listener "$GW" 8081 "$WORK/other-port.log"
}

# A listener of the test's own inside the upstream's netns (evil.test).
start_evil_listener() {
    rm -f "$WORK/evil.log" "$WORK/evil.log.ready"
    ip netns exec "$NS" /usr/bin/python3 "$TESTS_DIR/lib/listener.py" "$UP" 8080 "$WORK/evil.log" &
    LISTENER_PIDS+=($!)
    wait_for 10 test -e "$WORK/evil.log.ready" || die "evil listener did not start"
}

# in_netns CMD...: run a host tool (dig) inside the agent container's netns.
in_netns() {
    local pid
    pid=$(podman inspect -f '{{.State.Pid}}' "$NAME")
    run_cmd nsenter -t "$pid" -n "$@"
}

guard_pid() {
    local pid
    pid=$(podman inspect -f '{{.State.Pid}}' "$NAME")
    nsenter -t "$pid" -n ss -Hlunp 'sport = :53' | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2
}

@test "an allowed name resolves and connects; a denied one gets REFUSED, never reaches the upstream, and its host stays closed" {
    start_agent
    start_evil_listener

    run_podman exec "$NAME" cat /etc/resolv.conf
    assert_eq "$output" "nameserver 127.0.0.53" "the container's resolver is its guard"

    run_podman '?' exec "$NAME" nslookup api.allowed.test
    assert_contains "$output" "Address: $GW" "api.allowed.test resolved through the guard"
    run_podman exec "$NAME" sh -c "nc -w 3 api.allowed.test 8080 </dev/null"
    assert_eq "$output" "hello" "api.allowed.test:8080 answered"
    grep -q "connection from" "$WORK/api.log" || die "the api listener saw no connection"

    run_podman exec "$NAME" sh -c "nc -w 3 api.allowed.test 8081 </dev/null; echo rc=\$?"
    assert_contains "$output" "rc=1" "api.allowed.test on a port its entry does not name is denied"
    [ ! -s "$WORK/other-port.log" ] || die "the 8081 listener saw a connection: $(cat "$WORK/other-port.log")"

    run_podman '?' exec "$NAME" nslookup evil.test
    assert_contains "$output" "REFUSED" "evil.test refused"
    assert_not_contains "$output" "Address: $UP" "evil.test has no address"
    if grep -q "evil.test" "$WORK/dnsmasq.log"; then
        die "the guard forwarded evil.test to the upstream: $(grep evil.test "$WORK/dnsmasq.log")"
    fi
    run_podman exec "$NAME" sh -c "nc -w 3 $UP 8080 </dev/null; echo rc=\$?"
    assert_contains "$output" "rc=1" "a direct connection to evil's address fails"
    [ ! -s "$WORK/evil.log" ] || die "evil's listener saw a connection: $(cat "$WORK/evil.log")"

    # Control: evil's host is up and reachable without corral.
    run_cmd podman --runtime runc run --rm --name "$NAME-runc" "$CORRAL_TEST_IMAGE" sh -c "nc -w 3 $UP 8080 </dev/null"
    assert_eq "$output" "hello" "evil's listener answers plain runc"
    grep -q "connection from" "$WORK/evil.log" || die "control: evil's listener saw nothing from runc"

    wait_for 10 grep -q "\"container\":\"$CID\",\"name\":\"evil.test\",\"type\":\"A\",\"decision\":\"deny\"" \
        /var/log/corral/dns.log || die "no deny record for evil.test in /var/log/corral/dns.log"
    grep -q "\"container\":\"$CID\",\"name\":\"api.allowed.test\",\"type\":\"A\",\"decision\":\"allow\",\"addresses\":\[\"$GW\"\]" \
        /var/log/corral/dns.log || die "no allow record with the address for api.allowed.test"

    wait_for 10 sh -c "'$CORRAL' egress show '$CID' | grep -q 'evil.test .*count [1-9]'" ||
        die "egress show does not count the denied name: $("$CORRAL" egress show "$CID")"
    # Resolved again just now: the element (TTL 2 s + grace 1 s) is there.
    run_podman '?' exec "$NAME" nslookup api.allowed.test
    run_corral egress show "$CID"
    assert_contains "$output" "svc4    $GW . tcp . 8080" "the set element with its service"
    assert_contains "$output" "expires in" "the element's remaining time"
    assert_contains "$output" "api.allowed.test" "the resolved name"

    # The first decision on each name is in the audit log, repeats are not.
    run_corral audit show --container "$CID" --json
    AUDIT="$output" /usr/bin/python3 - "$GW" <<'PY' || die "dns audit records: $output"
import json, os, sys
recs = [json.loads(l)["fields"] for l in os.environ["AUDIT"].splitlines() if '"event":"dns"' in l]
def n(name, decision):
    return [r for r in recs if r["name"] == name and r["type"] == "A" and r["decision"] == decision]
assert len(n("evil.test", "deny")) == 1, "evil.test deny"
allow = n("api.allowed.test", "allow")
assert len(allow) == 1 and allow[0]["addresses"] == [sys.argv[1]], "api.allowed.test allow once, with its address"
PY
}

@test "CNAME targets are checked too; a wildcard covers names below its suffix, not the suffix; an entry without a port allows any" {
    start_agent
    run_podman exec "$NAME" sh -c "nc -w 3 cdn.allowed.test 8080 </dev/null"
    assert_eq "$output" "hello" "cdn.allowed.test (CNAME to api.allowed.test) connects"

    run_podman '?' exec "$NAME" nslookup bad.allowed.test
    assert_contains "$output" "REFUSED" "an allowed name whose CNAME leads outside the allowlist is refused"
    assert_not_contains "$output" "Address: $UP" "no address for the CNAME to evil.test"
    grep -q "query\[A\] bad.allowed.test" "$WORK/dnsmasq.log" || die "bad.allowed.test was not forwarded (so not checked)"
    wait_for 10 grep -q "\"container\":\"$CID\",\"name\":\"bad.allowed.test\",\"type\":\"A\",\"decision\":\"deny\",\"reason\":\"CNAME target evil.test is not allowed\"" \
        /var/log/corral/dns.log || die "no CNAME deny record for bad.allowed.test"

    run_podman exec "$NAME" sh -c "nc -w 3 www.wild.test 8080 </dev/null"
    assert_eq "$output" "hello" "www.wild.test matches *.wild.test"
    run_podman '?' exec "$NAME" nslookup wild.test
    assert_contains "$output" "REFUSED" "wild.test itself is not under *.wild.test"

    run_podman exec "$NAME" sh -c "nc -w 3 any.allowed.test 8081 </dev/null"
    assert_eq "$output" "hello" "any.allowed.test (no port) reaches 8081"
    run_corral egress show "$CID"
    assert_contains "$output" "allow4  $GW " "an entry without a port fills allow4"
}

@test "after TTL and grace a new connection without resolving again fails; resolving again opens it" {
    start_agent
    run_podman '?' exec "$NAME" nslookup api.allowed.test
    assert_contains "$output" "Address: $GW" "resolved"
    run_podman exec "$NAME" sh -c "nc -w 3 $GW 8080 </dev/null"
    assert_eq "$output" "hello" "the resolved address is reachable right away"

    # TTL 2 s + grace 1 s: the element goes by itself.
    wait_for 15 sh -c "! '$CORRAL' egress show '$CID' | grep -q '$GW . tcp . 8080'" ||
        die "the element did not expire: $("$CORRAL" egress show "$CID")"
    local before
    before=$(wc -l <"$WORK/api.log")
    run_podman exec "$NAME" sh -c "nc -w 3 $GW 8080 </dev/null; echo rc=\$?"
    assert_contains "$output" "rc=1" "a new connection after expiry fails"
    assert_eq "$(wc -l <"$WORK/api.log")" "$before" "the listener saw no connection after expiry"

    run_podman exec "$NAME" sh -c "nc -w 3 api.allowed.test 8080 </dev/null"
    assert_eq "$output" "hello" "resolving again opens it again"
}

@test "DNS over TCP, EDNS0 passed through, and a truncated answer retried upstream over TCP" {
    start_agent
    in_netns dig +tcp +short @127.0.0.53 api.allowed.test
    assert_eq "$output" "$GW" "a query over TCP"
    # A client that sends its query and shuts its side down still gets the
    # answer (RFC 7766 6.2.4), even one that comes only later: an ask name,
    # held until a human approves it.
    local pid
    pid=$(podman inspect -f '{{.State.Pid}}' "$NAME")
    nsenter -t "$pid" -n /usr/bin/python3 -c '
import socket, struct
q = struct.pack("!HHHHHH", 0x4321, 0x0100, 1, 0, 0, 0) + b"\x03ask\x07allowed\x04test\x00" + struct.pack("!HH", 1, 1)
s = socket.create_connection(("127.0.0.53", 53), timeout=20)
s.sendall(struct.pack("!H", len(q)) + q)
s.shutdown(socket.SHUT_WR)
a = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    a += d
print(a[2:4].hex(), socket.inet_ntoa(a[-4:]) if len(a) > 6 else "none")' >"$WORK/halfclosed" 2>&1 &
    DIG_PID=$!
    wait_for 10 test -s "$WORK/alerts.jsonl" || die "the half-closed query was not held for approval"
    run_corral approve "$CID" ask.allowed.test --reason "test: half-closed client"
    wait "$DIG_PID" || die "the half-closed client failed: $(cat "$WORK/halfclosed")"
    DIG_PID=
    assert_eq "$(cat "$WORK/halfclosed")" "4321 $GW" "an answer after the client half-closed"

    # Without EDNS0 the upstream truncates (40 A records > 512 bytes): the
    # guard asks again over TCP, adds all 40, and tells the client to use
    # TCP; dig does, and gets all 40.
    in_netns dig +noedns @127.0.0.53 many.allowed.test
    assert_contains "$output" "ANSWER: 40," "all 40 records after the truncated answer"
    assert_contains "$output" "Truncated, retrying in TCP mode" "the client was told to retry over TCP"
    run_corral egress show "$CID"
    local n
    n=$(echo "$output" | grep -c "svc4    10.250.$X.1[0-3][0-9] . tcp . 8080")
    assert_eq "$n" 40 "every address of the long answer is in svc4"

    in_netns dig +bufsize=4096 @127.0.0.53 many.allowed.test
    assert_contains "$output" "EDNS: version: 0, flags:; udp:" "the upstream's OPT record came through"
    assert_contains "$output" "ANSWER: 40," "all 40 records over UDP with EDNS0"
}

@test "1000 malformed packets from inside the container are dropped and counted; the guard still answers" {
    start_agent
    run_podman exec "$NAME" dns-junk 1000 127.0.0.53 53 42
    assert_eq "$output" "dns-junk: sent 1000" "the junk was sent"
    run_podman '?' exec "$NAME" nslookup api.allowed.test
    assert_contains "$output" "Address: $GW" "the guard still answers correctly"
    run_podman exec "$NAME" sh -c "nc -w 3 api.allowed.test 8080 </dev/null"
    assert_eq "$output" "hello" "and still fills the sets"
    wait_for 10 sh -c "'$CORRAL' egress show '$CID' | grep -Eq 'malformed (99[0-9]|1000)'" ||
        die "the malformed packets were not counted: $("$CORRAL" egress show "$CID" | grep 'dns guard')"
    [ -n "$(guard_pid)" ] || die "the guard is gone"
}

@test "the guard ends with the container; if it dies, names stop resolving and the table stays default deny" {
    start_agent
    local pid
    pid=$(guard_pid)
    [ -n "$pid" ] || die "no process listens on 127.0.0.53:53 in the container"
    ps -o args= -p "$pid" | grep -q "corral daemon dns-guard " || die "the listener is not corral's guard"

    kill "$pid"
    wait_for 10 sh -c "! kill -0 $pid" || die "guard $pid did not die"
    run_podman '?' exec "$NAME" nslookup api.allowed.test
    assert_not_contains "$output" "Address: $GW" "no name resolves without the guard"
    run_podman exec "$NAME" sh -c "nc -w 3 $GW 8080 </dev/null; echo rc=\$?"
    assert_contains "$output" "rc=1" "the table still denies"
    run_corral egress show "$CID"
    assert_contains "$output" "deny" "the table is still there"

    run_podman run -d --name "$NAME-2" "$CORRAL_TEST_IMAGE" sleep 300
    local pid2 cpid
    cpid=$(podman inspect -f '{{.State.Pid}}' "$NAME-2")
    pid2=$(nsenter -t "$cpid" -n ss -Hlunp 'sport = :53' | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
    [ -n "$pid2" ] || die "no guard for the second container"
    run_podman rm -f -t 0 "$NAME-2"
    wait_for 10 sh -c "! kill -0 $pid2" || die "guard $pid2 still running after its container ended"
    assert_no_state_record "$NAME-2"
}

@test "if the DNS guard cannot start, the container does not start (fail closed)" {
    block_corral_log dns.log
    assert_start_fails_closed dns.log
}

# gvisor_guard_holds NAMESERVER: a gVisor agent whose resolv.conf names the
# guard at NAMESERVER; an allowed name connects, evil.test is refused, and
# evil's address stays closed.
gvisor_guard_holds() {
    run_podman run -d --name "$NAME" --annotation run.corral.runtime=gvisor "$CORRAL_TEST_IMAGE" sleep 300
    CID=$output
    start_listener "$GW" 8080 "$WORK/api.log"
    start_evil_listener
    run_podman exec "$NAME" uname -r
    [ "$output" != "$(uname -r)" ] || die "not running under gVisor (kernel $output)"
    run_podman exec "$NAME" cat /etc/resolv.conf
    assert_eq "$output" "nameserver $1" "the sandbox's resolver is the guard"
    run_podman exec "$NAME" sh -c "nc -w 3 api.allowed.test 8080 </dev/null"
    assert_eq "$output" "hello" "an allowed name resolves through the guard and connects from gVisor"
    run_podman '?' exec "$NAME" nslookup evil.test
    assert_contains "$output" "REFUSED" "evil.test refused"
    run_podman exec "$NAME" sh -c "nc -w 3 $UP 8080 </dev/null; echo rc=\$?"
    assert_contains "$output" "rc=1" "a direct connection to evil's address fails under gVisor"
    [ ! -s "$WORK/evil.log" ] || die "evil's listener saw a connection: $(cat "$WORK/evil.log")"
}

@test "under gVisor's own netstack the guard answers on the wire: allowed and wildcard names connect, denied name and address do not" {
    command -v runsc >/dev/null || skip "runsc is not installed (Debian package runsc)"
    gvisor_guard_holds 169.254.53.53
    run_podman exec "$NAME" sh -c "nc -w 3 www.wild.test 8080 </dev/null"
    assert_eq "$output" "hello" "a wildcard name resolves and connects"
    # Resolved again just before: the set's entries last TTL (2 s) + grace.
    run_podman '?' exec "$NAME" nslookup api.allowed.test
    run_corral egress show "$CID"
    assert_contains "$output" "DNS to the guard, forwarded to its wire" "the table forwards DNS to the wire"
    assert_contains "$output" "svc4    $GW . tcp . 8080" "the guard filled the sandbox interface's table"
    assert_contains "$output" "evil.test" "the denied name is listed"
}

@test "under gVisor's own netstack DNS over TCP reaches the guard too, and a query right at start is answered" {
    command -v runsc >/dev/null || skip "runsc is not installed (Debian package runsc)"
    # A query for api.allowed.test over TCP: a 2-byte length, then id 0x1234.
    /usr/bin/python3 -c '
import struct, sys
q = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + b"\x03api\x07allowed\x04test\x00" + struct.pack("!HH", 1, 1)
sys.stdout.buffer.write(struct.pack("!H", len(q)) + q)' >"$WORK/query.tcp"
    run_podman run -d --name "$NAME" --annotation run.corral.runtime=gvisor "$CORRAL_TEST_IMAGE" sleep 300
    run_cmd sh -c "podman exec -i $NAME nc -w 3 169.254.53.53 53 <$WORK/query.tcp | od -An -tx1 | tr -d ' \\n'"
    assert_contains "$output" "1234" "an answer over TCP from the guard, with the query's id"
    assert_contains "$output" "0a580001" "it carries the allowed name's address ($GW)"
    # The wire comes up only after runsc start (gVisor takes every interface
    # that is up then); the agent's very first query is answered all the same.
    run_podman '?' run --rm --name "$NAME-2" --annotation run.corral.runtime=gvisor "$CORRAL_TEST_IMAGE" \
        nslookup api.allowed.test
    assert_contains "$output" "Address: $GW" "a query at the agent's start is answered"
}

@test "under gVisor's own netstack, if the guard's wire cannot be built the container does not start" {
    command -v runsc >/dev/null || skip "runsc is not installed (Debian package runsc)"
    # A netns of the test's own that already has an interface named like
    # the wire's guard end: the wire cannot be made there.
    ip netns add "$NS-c"
    ip -n "$NS-c" link add "cwa$X" type veth peer name corral-dnsg
    ip -n "$NS-c" link set "cwa$X" up
    run_podman 126 run --rm --name "$NAME" --network "ns:/run/netns/$NS-c" --annotation run.corral.runtime=gvisor \
        "$CORRAL_TEST_IMAGE" echo agent-process-ran
    assert_not_contains "$output" "agent-process-ran" "nothing ran"
    assert_contains "$output" "already has an interface of that name" "the error says what was wrong"
    ip netns del "$NS-c"
}

@test "under gVisor with network host the guard works: allowed name connects, denied name and its host do not" {
    command -v runsc >/dev/null || skip "runsc is not installed (Debian package runsc)"
    /usr/bin/python3 - "$WORK/policy.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
p["gvisor"] = {"network": "host"}
json.dump(p, open(sys.argv[1], "w"))
PY
    gvisor_guard_holds 127.0.0.53
}

# dig_bg NAME OUT: ask the guard for NAME from the agent's netns in the
# background, waiting up to 30 s for the answer.
dig_bg() {
    local pid
    pid=$(podman inspect -f '{{.State.Pid}}' "$NAME")
    nsenter -t "$pid" -n dig +time=30 +tries=1 @127.0.0.53 "$1" >"$2" 2>&1 &
    DIG_PID=$!
}

answered() {
    grep -q "status:" "$1"
}

@test "an ask name is held until a human approves it; approved, it resolves and connects" {
    start_agent
    dig_bg ask.allowed.test "$WORK/dig1"
    wait_for 10 test -s "$WORK/alerts.jsonl" || die "the alert command received nothing"
    /usr/bin/python3 - "$WORK/alerts.jsonl" "$CID" <<'PY' || die "alert event: $(cat "$WORK/alerts.jsonl")"
import json, sys
ev = json.loads(open(sys.argv[1]).readline())
assert ev["event"] == "ask" and ev["name"] == "ask.allowed.test" and ev["container"] == sys.argv[2], ev
assert ev["approve"] == "corral approve %s ask.allowed.test --reason TEXT" % sys.argv[2], ev
PY
    sleep 2
    ! answered "$WORK/dig1" || die "the query was answered before any decision: $(cat "$WORK/dig1")"
    run_corral egress show "$CID"
    assert_contains "$output" "ask.allowed.test" "egress show lists the request"
    assert_contains "$output" "pending" "as pending"
    # Before approval nothing reaches the name's host.
    run_podman exec "$NAME" sh -c "nc -w 2 $GW 8080 </dev/null; echo rc=\$?"
    assert_contains "$output" "rc=1" "the address is not open while the request is pending"

    run_corral approve "$CID" ask.allowed.test --reason "test: looks fine"
    wait "$DIG_PID" || true
    assert_contains "$(cat "$WORK/dig1")" "status: NOERROR" "the held query is answered once approved"
    assert_contains "$(cat "$WORK/dig1")" "$GW" "with the name's address"
    run_podman exec "$NAME" sh -c "nc -w 3 ask.allowed.test 8080 </dev/null"
    assert_eq "$output" "hello" "the approved name connects"
    run_corral egress show "$CID"
    assert_contains "$output" "approved" "egress show says approved"
    run_corral audit show --container "$CID" --json
    assert_contains "$output" '"event":"ask"' "the request is an audit record"
    assert_contains "$output" '"event":"approve"' "the approval is an audit record"
    assert_contains "$output" '"reason":"test: looks fine"' "with its reason"
    # A decision stands: a second one is refused.
    run_corral 1 deny "$CID" ask.allowed.test
    assert_contains "$output" "already decided" "a second decision is refused"
}

@test "an ask name nobody answers is denied at the timeout; one a human denies is refused at once" {
    start_agent
    start_evil_listener
    dig_bg slow.allowed.test "$WORK/dig2"
    sleep 3
    ! answered "$WORK/dig2" || die "answered before the timeout: $(cat "$WORK/dig2")"
    wait "$DIG_PID" || true
    assert_contains "$(cat "$WORK/dig2")" "status: REFUSED" "refused at the timeout"
    run_podman exec "$NAME" sh -c "nc -w 2 slow.allowed.test 8080 </dev/null; echo rc=\$?"
    assert_contains "$output" "rc=1" "the timed-out name does not connect"
    [ ! -s "$WORK/evil.log" ] || die "the timed-out name's host saw a connection: $(cat "$WORK/evil.log")"

    # Wildcard ask entries: decided per name.
    run_corral deny "$CID" one.asked.test --reason "test: no"
    in_netns dig +time=5 +tries=1 @127.0.0.53 one.asked.test
    assert_contains "$output" "status: REFUSED" "a denied name is refused at once"
    run_corral approve "$CID" two.asked.test --reason "test: yes"
    in_netns dig +time=5 +tries=1 @127.0.0.53 two.asked.test
    assert_contains "$output" "status: NOERROR" "a sibling approved by name resolves"
    assert_contains "$output" "$GW" "to its address"

    run_corral 1 approve "$CID" evil.test
    assert_contains "$output" "not on the ask list" "a name off the ask list cannot be approved"
    run_corral 1 approve nosuch-container ask.allowed.test
    assert_contains "$output" "not managed by corral" "an unknown container is named as such"
    run_corral audit show --container "$CID" --json
    assert_contains "$output" '"by":"timeout"' "the timeout's denial is an audit record"
}

@test "anomaly: the first connection of an agent to a domain it never reached raises an alert, once" {
    local agent
    agent=$(unique_name agent)
    /usr/bin/python3 - "$WORK/policy.json" "$WORK/alert" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
p["profiles"]["default"]["budgets"] = {"anomaly": {"new_domains": True}, "alert": [sys.argv[2]]}
json.dump(p, open(sys.argv[1], "w"))
PY
    run_podman run -d --name "$NAME" --annotation "run.corral.agent=$agent" "$CORRAL_TEST_IMAGE" sleep 300
    start_listener "$GW" 8080 "$WORK/api.log"
    run_podman exec "$NAME" sh -c "nc -w 3 api.allowed.test 8080 </dev/null; nc -w 3 api.allowed.test 8080 </dev/null"
    wait_for 10 grep -q new_domain "$WORK/alerts.jsonl" || die "no anomaly alert for a first-seen name"
    [ "$(grep -c '"name":"api.allowed.test"' "$WORK/alerts.jsonl")" -eq 1 ] || die "alerted more than once"
    run_podman rm -f -t 0 "$NAME"
    # A later container of the same agent: api.allowed.test is known now.
    run_podman run -d --name "$NAME" --annotation "run.corral.agent=$agent" "$CORRAL_TEST_IMAGE" sleep 300
    run_podman exec "$NAME" sh -c "nc -w 3 api.allowed.test 8080 </dev/null; nc -w 3 any.allowed.test 8080 </dev/null"
    wait_for 10 grep -q '"name":"any.allowed.test"' "$WORK/alerts.jsonl" || die "no alert for the next new name"
    [ "$(grep -c '"name":"api.allowed.test"' "$WORK/alerts.jsonl")" -eq 1 ] || die "a known name alerted again"
    grep -q "\"kind\":\"new_domain\",\"container\":\"[0-9a-f]*\",\"agent\":\"$agent\"" "$WORK/alerts.jsonl" ||
        die "the alert names the agent: $(cat "$WORK/alerts.jsonl")"
}

@test "without dns.upstream the guard asks the host's resolver (its first nameserver); with none there the container does not start" {
    # The policy of setup() without its upstream; the "host's" resolv.conf is
    # the test's own (CORRAL_RESOLV_CONF), naming the test's dnsmasq.
    /usr/bin/python3 - "$WORK/policy.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
del p['profiles']['default']['dns']['upstream']
json.dump(p, open(sys.argv[1], 'w'))
PY
    printf '# the test host\nsearch test\nnameserver %s\n' "$UP" >"$WORK/resolv.conf"
    printf '#!/bin/sh\nCORRAL_RESOLV_CONF=%s exec %s --policy %s "$@"\n' "$WORK/resolv.conf" "$CORRAL" \
        "$WORK/policy.json" >"$WRAPPER"

    start_agent
    run_podman exec "$NAME" sh -c "nc -w 3 api.allowed.test 8080 </dev/null"
    assert_eq "$output" "hello" "an allowed name resolves through the host's resolver and connects"
    grep -q "api.allowed.test" "$WORK/dnsmasq.log" || die "the host's resolver (the test's dnsmasq) was not asked"
    run_podman '?' exec "$NAME" nslookup evil.test
    assert_contains "$output" "REFUSED" "a denied name is still refused"

    printf 'search test\n' >"$WORK/resolv.conf"
    run_podman '!' run --rm --name "$NAME-2" "$CORRAL_TEST_IMAGE" echo agent-process-ran
    assert_not_contains "$output" "agent-process-ran" "the container process never ran"
    assert_contains "$output" "no usable nameserver: set dns.upstream" "the error says what to do"
    assert_no_state_record "$NAME-2"
}

@test "a name entry adds no rule of its own to the table: its addresses come only through the guard's sets" {
    start_agent
    local pid rules
    pid=$(podman inspect -f '{{.State.Pid}}' "$NAME")
    rules=$(nsenter -t "$pid" -n nft list table inet corral)
    # A name entry taken for an address would match every IPv6 destination
    # (family unset, prefix 0).
    assert_not_contains "$rules" "::/0" "no rule matches every IPv6 address"
    assert_not_contains "$rules" 'comment "allow api.allowed.test' "no static rule for a name entry"
    assert_contains "$rules" "@svc4" "the guard's sets are in place"
}
