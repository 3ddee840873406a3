#!/usr/bin/env bats
# Egress in a network namespace the engine names by path (ip netns + veth of
# the test's own, IPv4 and IPv6): an IPv4-only allowlist gives no IPv6.

load ../lib/helpers

PORT=18100

setup() {
    WORK=$(mktemp -d)
    BUNDLE=$WORK/bundle
    ROOT=$WORK/runc-root
    ID=$(unique_name v6)
    NS=corral-t-ns-$$
    VH=cvh$$
    VC=cvc$$
    N=$((RANDOM % 200 + 20))
    V4H=10.251.$N.1
    V4C=10.251.$N.2
    V6H=fd00:251:$N::1
    V6C=fd00:251:$N::2
    ip netns add "$NS"
    ip link add "$VH" type veth peer name "$VC"
    ip link set "$VC" netns "$NS"
    ip addr add "$V4H/24" dev "$VH"
    ip -6 addr add "$V6H/64" dev "$VH" nodad
    ip link set "$VH" up
    ip -n "$NS" addr add "$V4C/24" dev "$VC"
    ip -n "$NS" -6 addr add "$V6C/64" dev "$VC" nodad
    ip -n "$NS" link set "$VC" up
    ip -n "$NS" link set lo up

    mkdir -p "$BUNDLE/rootfs"
    tar -C "$BUNDLE/rootfs" -xf <(build_rootfs_tar /dev/stdout)
    policy_with "p['profiles']['default']['egress']['allow'] = ['$V4H:$PORT/tcp']"
}

teardown() {
    stop_listeners
    "$CORRAL" --policy "$WORK/policy.json" --root "$ROOT" delete --force "$ID" >/dev/null 2>&1 || true
    ip link del "$VH" 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "$WORK"
}

# run_in_ns SCRIPT: run SCRIPT through corral in the test's netns; its
# output lands in $WORK/out.
run_in_ns() {
    /usr/bin/python3 - "$TESTS_DIR/fixtures/engines/containerd-ctr-run.json" "$BUNDLE/config.json" "$NS" "$1" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["process"]["args"] = ["sh", "-c", sys.argv[4]]
for ns in spec["linux"]["namespaces"]:
    if ns["type"] == "network":
        ns["path"] = "/var/run/netns/" + sys.argv[3]
json.dump(spec, open(sys.argv[2], "w"))
PY
    timeout 60 "$CORRAL" --policy "$WORK/policy.json" --root "$ROOT" create --bundle "$BUNDLE" "$ID" \
        </dev/null >"$WORK/out" 2>&1 || die "create failed: $(cat "$WORK/out")"
    run_corral --policy "$WORK/policy.json" --root "$ROOT" start "$ID"
    wait_for 30 sh -c "runc --root $ROOT state $ID | grep -q '\"stopped\"'" || die "container did not finish"
    "$CORRAL" --policy "$WORK/policy.json" --root "$ROOT" delete "$ID"
}

@test "IPv4 allowlist entry reached; IPv6 to the same host is denied" {
    start_listener "$V4H" "$PORT" "$WORK/v4.log"
    start_listener "$V6H" "$PORT" "$WORK/v6.log"
    # Control: both listeners answer from the netns without corral.
    run_cmd ip netns exec "$NS" sh -c "busybox nc -w 3 $V6H $PORT </dev/null"
    assert_eq "$output" "hello" "IPv6 listener reachable without corral"
    rm -f "$WORK/v6.log"

    run_in_ns "nc -w 3 $V4H $PORT </dev/null; echo v4=\$?; nc -w 3 $V6H $PORT </dev/null; echo v6=\$?"
    assert_contains "$(cat "$WORK/out")" "v4=0" "IPv4 allowlisted connection succeeded"
    assert_contains "$(cat "$WORK/out")" "v6=1" "IPv6 connection failed"
    grep -q "connection from" "$WORK/v4.log" || die "the IPv4 listener saw nothing"
    [ ! -s "$WORK/v6.log" ] || die "the IPv6 listener saw a connection: IPv6 bypassed the allowlist"
}

@test "the table stays in the engine's netns only while a container uses it; corral leaves nothing" {
    run_in_ns "true"
    assert_no_state_record "$ID"
    run ip netns exec "$NS" nft list table inet corral
    # The netns is the engine's (here the test's): corral's table is in it,
    # and goes when the engine removes the namespace.
    [ "$status" -eq 0 ] || die "no corral table in the engine's netns"
    ip netns del "$NS"
    run ip netns list
    assert_not_contains "$output" "$NS" "netns removed"
}
