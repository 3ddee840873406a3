# The test's own DNS upstream: dnsmasq in a network namespace of the test's
# own, behind a veth (10.250.X.1 on the host, UP=10.250.X.2 inside), with a
# route back to the Podman bridge, answering only the records it is given.
# Load after helpers.
# shellcheck shell=bash

# upstream_names NETNS_PREFIX VETH_PREFIX: pick a /24 of 10.250/16 for this
# test and name the netns and the veth ends; sets X, NS, VH, VN, UP and
# DNSMASQ_PID (empty until start_dns_upstream).
upstream_names() {
    # A /24 per test process; veth names at most 15 bytes.
    X=$((($$ + RANDOM) % 200 + 20))
    # Not a /24 some other host of this machine already has: the upstream
    # would then be somebody else's.
    while ip -4 -o addr show | grep -q " 10\.250\.$X\."; do
        X=$(((X + 1) % 200 + 20))
    done
    NS=$1-$$-$RANDOM
    VH=${2}h$X
    VN=${2}n$X
    UP=10.250.$X.2
    DNSMASQ_PID=
}

# start_dns_upstream DNSMASQ_ARGS...: the netns, the veth and a dnsmasq on
# $UP:53 with DNSMASQ_ARGS (its records, TTL), logging queries to
# $WORK/dnsmasq.log; sets DNSMASQ_PID.
start_dns_upstream() {
    ip netns add "$NS"
    ip link add "$VH" type veth peer name "$VN"
    ip link set "$VN" netns "$NS"
    ip addr add "10.250.$X.1/24" dev "$VH"
    ip link set "$VH" up
    ip netns exec "$NS" ip addr add "$UP/24" dev "$VN"
    ip netns exec "$NS" ip link set "$VN" up
    ip netns exec "$NS" ip link set lo up
    ip netns exec "$NS" ip route add 10.88.0.0/16 via "10.250.$X.1"
    ip netns exec "$NS" dnsmasq --no-resolv --no-hosts --bind-interfaces --listen-address="$UP" --port=53 \
        --log-queries --log-facility="$WORK/dnsmasq.log" --pid-file="$WORK/dnsmasq.pid" "$@"
    wait_for 10 test -s "$WORK/dnsmasq.pid" || die "dnsmasq did not start"
    DNSMASQ_PID=$(cat "$WORK/dnsmasq.pid")
}

# stop_dns_upstream: dnsmasq by its PID, then the netns and the veth.
stop_dns_upstream() {
    [ -z "${DNSMASQ_PID:-}" ] || kill "$DNSMASQ_PID" 2>/dev/null || true
    DNSMASQ_PID=
    [ -z "${NS:-}" ] || ip netns del "$NS" 2>/dev/null || true
    [ -z "${VH:-}" ] || ip link del "$VH" 2>/dev/null || true
}
