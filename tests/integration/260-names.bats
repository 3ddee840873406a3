#!/usr/bin/env bats
# Name-bound egress (egress.bind_names): a TCP flow to an address the DNS
# guard added goes through only if its TLS SNI or HTTP Host is an allowed
# name that resolved to that address in this container.  The shared front
# end is the test's own: one server on the Podman bridge gateway serving
# api.names.test and evil.names.test (one certificate of the test's own CA,
# HTTPS and plain HTTP), the way a CDN serves thousands of names on one
# address.  The agent is the real Debian image (curl, Python, Node).

load ../lib/helpers
load ../lib/agent-image
load ../lib/upstream

GW=10.88.0.1
TLS_PORT=18543
HTTP_PORT=18580
OTHER_PORT=18544

setup_file() {
    if ! podman image exists "$AGENT_IMAGE" && ! command -v mmdebstrap >/dev/null; then
        skip "mmdebstrap is not installed (scripts/install-deps.sh) and the agent image is not there"
    fi
    ensure_agent_image
}

setup() {
    NAME=$(unique_name names)
    WORK=$(mktemp -d)
    chmod 755 "$WORK"
    upstream_names corral-names cnm
    policy_with "
d = p['profiles']['default']
d['egress']['bind_names'] = True
d['egress']['allow'] = ['api.names.test:$TLS_PORT/tcp', 'api.names.test:$HTTP_PORT/tcp',
                        'other.names.test:$TLS_PORT/tcp', 'other.names.test:$OTHER_PORT/tcp', 'quic.names.test']
d['dns'] = {'upstream': '$UP', 'grace_seconds': 1}
"
    WRAPPER=$(make_policy_wrapper "$WORK/policy.json")
    # shellcheck disable=SC2034 # read by run_podman (helpers.bash)
    RUNTIME=$WRAPPER
    make_certs
    # other.names.test lives on the host's end of the upstream's veth: a
    # second address of the test's own.
    start_dns_upstream --local-ttl=2 "--host-record=api.names.test,$GW" "--host-record=evil.names.test,$GW" \
        "--host-record=quic.names.test,$GW" "--host-record=other.names.test,10.250.$X.1"
}

teardown() {
    stop_listeners
    podman --runtime "$WRAPPER" rm -f -t 0 "$NAME" >/dev/null 2>&1 || true
    stop_dns_upstream
    rm -rf "$(dirname "$WRAPPER")" "$WORK"
}

# The test's own CA, and one certificate for every name the front end serves.
make_certs() {
    local c=$WORK/certs
    mkdir -p "$c"
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=corral names test CA" \
        -keyout "$c/ca.key" -out "$c/ca.pem" 2>/dev/null || die "openssl: CA"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=front end" -keyout "$c/server.key" \
        -out "$c/server.csr" 2>/dev/null || die "openssl: server key"
    printf 'subjectAltName=DNS:api.names.test,DNS:evil.names.test,DNS:other.names.test\n' >"$c/ext"
    openssl x509 -req -in "$c/server.csr" -CA "$c/ca.pem" -CAkey "$c/ca.key" -CAcreateserial -days 1 \
        -extfile "$c/ext" -out "$c/server.pem" 2>/dev/null || die "openssl: server certificate"
    chmod 644 "$c/ca.pem"
}

# The front end binds the Podman bridge's gateway, which exists once a
# container runs.
start_front_end() {
    rm -f "$WORK/front.log" "$WORK/front.log.ready"
    /usr/bin/python3 "$TESTS_DIR/lib/names-server.py" "$GW" "$TLS_PORT" "$HTTP_PORT" "$WORK/certs/server.pem" \
        "$WORK/certs/server.key" "$WORK/front.log" 2>/dev/null &
    LISTENER_PIDS+=($!)
}

# The agent: a long-running container; its commands run in it with
# `podman exec`, so they share its DNS guard (and what it resolved).
start_agent() {
    run_podman run -d --name "$NAME" -v "$WORK/certs/ca.pem:/certs/ca.pem" "$AGENT_IMAGE" sleep 600
    start_front_end
    wait_for 10 test -e "$WORK/front.log.ready" || die "the front end did not start"
}

in_agent() {
    run_podman '?' exec "$NAME" bash -c "$1"
}

CURL="curl -sS --max-time 5 --cacert /certs/ca.pem"

@test "the allowed name reaches the shared front end; another name it serves, by SNI or by Host, is reset and logged" {
    start_agent
    in_agent "$CURL https://api.names.test:$TLS_PORT/ok"
    assert_eq "$output" "hello from api.names.test:$TLS_PORT" "the allowed name over TLS"
    in_agent "$CURL http://api.names.test:$HTTP_PORT/ok-plain"
    assert_eq "$output" "hello from api.names.test:$HTTP_PORT" "the allowed name over plain HTTP"

    in_agent "$CURL --resolve evil.names.test:$TLS_PORT:$GW https://evil.names.test:$TLS_PORT/evil-sni; echo rc=\$?"
    assert_not_contains "$output" "hello" "a fronted name got no answer"
    assert_not_contains "$output" "rc=0" "curl failed"
    in_agent "$CURL -H 'Host: evil.names.test' http://api.names.test:$HTTP_PORT/evil-host; echo rc=\$?"
    assert_not_contains "$output" "hello" "a spoofed Host got no answer"
    in_agent "$CURL -k https://$GW:$TLS_PORT/no-sni; echo rc=\$?"
    assert_not_contains "$output" "hello" "a ClientHello without SNI got no answer"
    if grep -q 'evil\|no-sni' "$WORK/front.log"; then
        die "the front end served a refused request: $(cat "$WORK/front.log")"
    fi
    grep -q "https api.names.test api.names.test:$TLS_PORT /ok" "$WORK/front.log" ||
        die "the front end did not see the allowed request: $(cat "$WORK/front.log")"

    local cid log
    cid=$(podman inspect -f '{{.Id}}' "$NAME")
    log=$(grep "\"egress-name-deny\".*$cid" /var/log/corral/egress.log || true)
    assert_contains "$log" '"name":"evil.names.test"' "the denial names the name asked for"
    assert_contains "$log" '"resolved_names":"api.names.test"' "and the name that resolved to the address"
    assert_contains "$log" 'no name' "a ClientHello without SNI is logged as such"
    grep -q "egress-name-deny.*evil.names.test" /var/log/corral/audit.jsonl ||
        die "the denial is not in the audit log"
}

@test "an allowed name that resolved to another address cannot be used on this one" {
    start_agent
    # api.names.test opens the front end's address on this port; then
    # other.names.test, allowed too, is used on it.
    in_agent "getent hosts api.names.test; getent hosts other.names.test; $CURL --resolve other.names.test:$TLS_PORT:$GW https://other.names.test:$TLS_PORT/moved; echo rc=\$?"
    assert_contains "$output" "10.250.$X.1" "other.names.test resolved to its own address"
    assert_not_contains "$output" "hello" "its name on the front end's address got no answer"
    if grep -q moved "$WORK/front.log"; then
        die "the front end served a name that resolved elsewhere"
    fi
    grep -q '"name":"other.names.test".*did not resolve to this address' /var/log/corral/egress.log ||
        die "no denial record saying the name resolved elsewhere"
}

@test "a ClientHello in 16 segments and a 2 KB one are judged by their name" {
    start_agent
    # A real ClientHello (Python's ssl, the image's OpenSSL), sent in 16
    # pieces with Nagle off, or padded past 2 KB with a long ALPN list; the
    # answer is the server's first record (22: handshake) or a reset.
    cat >"$WORK/hello.py" <<'PY'
import socket, ssl, sys, time
name, host, port, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
ctx = ssl.create_default_context(cafile="/certs/ca.pem")
if mode == "big":
    ctx.set_alpn_protocols(["x-corral-%03d-padding-padding-padding" % i for i in range(60)] + ["http/1.1"])
bio_in, bio_out = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ctx.wrap_bio(bio_in, bio_out, server_hostname=name)
try:
    tls.do_handshake()
except ssl.SSLWantReadError:
    pass
hello = bio_out.read()
s = socket.create_connection((host, port), timeout=5)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
if mode == "split":
    step = (len(hello) + 15) // 16
    for i in range(0, len(hello), step):
        s.send(hello[i:i + step])
        time.sleep(0.02)
else:
    s.sendall(hello)
try:
    first = s.recv(1)
    print("size=%d answer=%s" % (len(hello), first[0] if first else "eof"))
except (ConnectionResetError, socket.timeout) as e:
    print("size=%d reset=%s" % (len(hello), type(e).__name__))
PY
    run_podman cp "$WORK/hello.py" "$NAME:/tmp/hello.py"
    in_agent "getent hosts api.names.test >/dev/null; python3 /tmp/hello.py api.names.test $GW $TLS_PORT split"
    assert_contains "$output" "answer=22" "16 segments naming the allowed name: the server answers"
    in_agent "python3 /tmp/hello.py evil.names.test $GW $TLS_PORT split"
    assert_contains "$output" "reset=" "16 segments naming another name: reset"
    in_agent "python3 /tmp/hello.py api.names.test $GW $TLS_PORT big"
    assert_contains "$output" "answer=22" "a big ClientHello naming the allowed name: the server answers"
    local size=${output#size=}
    size=${size%% *}
    [ "$size" -gt 2048 ] || die "the big ClientHello is only $size bytes"
    in_agent "python3 /tmp/hello.py evil.names.test $GW $TLS_PORT big"
    assert_contains "$output" "reset=" "a big ClientHello naming another name: reset"
}

@test "real clients work against the allowed name: curl, Python, Node" {
    start_agent
    in_agent "$CURL https://api.names.test:$TLS_PORT/curl"
    assert_eq "$output" "hello from api.names.test:$TLS_PORT" "curl"
    in_agent "python3 -c \"import ssl, urllib.request; print(urllib.request.urlopen('https://api.names.test:$TLS_PORT/python', context=ssl.create_default_context(cafile='/certs/ca.pem'), timeout=5).read().decode().strip())\""
    assert_eq "$output" "hello from api.names.test:$TLS_PORT" "Python"
    in_agent "NODE_EXTRA_CA_CERTS=/certs/ca.pem node -e \"require('https').get('https://api.names.test:$TLS_PORT/node', r => { let b = ''; r.on('data', d => b += d); r.on('end', () => console.log(b.trim())); })\""
    assert_eq "$output" "hello from api.names.test:$TLS_PORT" "Node"
}

@test "after TTL and grace a flow to the address is refused; QUIC to a name-derived address is refused" {
    start_agent
    in_agent "$CURL https://api.names.test:$TLS_PORT/fresh"
    assert_eq "$output" "hello from api.names.test:$TLS_PORT" "freshly resolved"
    # TTL 2 s (dnsmasq) + grace 1 s: then neither the set element nor the
    # binding holds.
    sleep 4
    in_agent "$CURL --resolve api.names.test:$TLS_PORT:$GW https://api.names.test:$TLS_PORT/stale; echo rc=\$?"
    assert_not_contains "$output" "hello" "after TTL + grace, no new flow without resolving again"

    # QUIC: UDP to 443 of an address a portless name entry opened.  A UDP
    # listener of the test's own on the gateway's 443 and on another port.
    /usr/bin/python3 - "$GW" "$WORK/udp.log" <<'PY' &
import socket, sys, threading
host, log = sys.argv[1], sys.argv[2]
def serve(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, port))
    while True:
        data, peer = s.recvfrom(2048)
        with open(log, "a") as f:
            f.write("%d %s\n" % (port, data.decode(errors="replace")))
for p in (443, 18553):
    threading.Thread(target=serve, args=(p,), daemon=True).start()
open(log + ".ready", "w").close()
threading.Event().wait()
PY
    LISTENER_PIDS+=($!)
    wait_for 10 test -e "$WORK/udp.log.ready" || die "UDP listeners did not start"
    cat >"$WORK/udp.py" <<'PY'
import socket
for port, data in ((443, b"quic-probe"), (18553, b"udp-probe")):
    for _ in range(3):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.sendto(data, ("quic.names.test", port))
        except OSError as e:  # the refusal comes back as an ICMP error
            print(port, type(e).__name__)
        s.close()
PY
    run_podman cp "$WORK/udp.py" "$NAME:/tmp/udp.py"
    in_agent "getent hosts quic.names.test >/dev/null && python3 /tmp/udp.py"
    wait_for 5 grep -q "18553 udp-probe" "$WORK/udp.log" || die "UDP to another port of the name did not arrive"
    if grep -q "quic-probe" "$WORK/udp.log"; then
        die "UDP to port 443 of a name-derived address went through"
    fi
}

@test "HTTPS and SVCB records (which carry ECH keys) are withheld: an empty answer, the upstream never asked" {
    start_agent
    local pid
    pid=$(podman inspect -f '{{.State.Pid}}' "$NAME")
    run_cmd nsenter -t "$pid" -n dig +tries=1 +time=3 @127.0.0.53 api.names.test HTTPS
    assert_contains "$output" "status: NOERROR" "the name exists"
    assert_contains "$output" "ANSWER: 0" "but no HTTPS record comes back"
    run_cmd nsenter -t "$pid" -n dig +tries=1 +time=3 @127.0.0.53 api.names.test TYPE64
    assert_contains "$output" "ANSWER: 0" "nor an SVCB record"
    run_cmd nsenter -t "$pid" -n dig +short +tries=1 +time=3 @127.0.0.53 api.names.test A
    assert_eq "$output" "$GW" "its A record still resolves"
    if grep -E 'api\.names\.test' "$WORK/dnsmasq.log" | grep -qE 'HTTPS|SVCB|type=6[45]'; then
        die "the upstream was asked for HTTPS/SVCB: $(grep -E 'HTTPS|SVCB|type=6[45]' "$WORK/dnsmasq.log")"
    fi
}

@test "under gVisor's own netstack name-bound egress is refused, saying what to use instead" {
    run_podman '!' run --rm --name "$NAME" --annotation run.corral.runtime=gvisor "$AGENT_IMAGE" echo ran
    assert_not_contains "$output" "ran" "the container did not run"
    assert_contains "$output" "egress.bind_names cannot be enforced under gVisor's own netstack" "the error says why"
    assert_contains "$output" "gvisor.network" "and what to use instead"
}
