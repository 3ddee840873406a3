#!/bin/bash
# Install everything corral needs to build, run and be tested, from Debian's apt.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "install-deps.sh: run as root" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends \
    autoconf automake make gcc libc6-dev pkg-config \
    libyajl-dev libseccomp-dev libcap-dev libmnl-dev libnftnl-dev libsystemd-dev libssl-dev \
    runc podman conmon netavark aardvark-dns containernetworking-plugins iptables uidmap slirp4netns fuse-overlayfs \
    containerd docker.io runsc nftables iproute2 busybox-static \
    bats shellcheck clang-format clang libclang-rt-14-dev libfuzzer-14-dev python3 python3-yaml python3-grpcio python3-protobuf python3-prometheus-client ca-certificates iperf3 valgrind \
    dnsmasq-base bind9-dnsutils \
    mmdebstrap git openssl
