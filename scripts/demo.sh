#!/bin/bash
# Demo: the same Podman command, once with runc and once with corral.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tests/lib/image.bash
. tests/lib/image.bash

export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/tests/lib/containers.conf}
image=localhost/corral-demo:latest
podman image exists "$image" || import_podman_image "$image"

probe='echo "uid: $(id -u)"; grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status;
touch /etc/agent-was-here 2>&1 || true; echo "GITHUB_TOKEN=${GITHUB_TOKEN:-<stripped>}";
syscall-probe ptrace'

echo "== plain runc: what an agent gets by default"
podman --runtime runc run --rm -e GITHUB_TOKEN=ghp_demo "$image" sh -c "$probe" || true
echo
echo "== corral: the same container, confined"
podman --runtime /usr/local/bin/corral run --rm -e GITHUB_TOKEN=ghp_demo "$image" sh -c "$probe"
echo
echo "== the policy behind it (corral policy check)"
/usr/local/bin/corral policy check /etc/corral/policy.json
echo
echo "== an agent asking for the host network is refused"
podman --runtime /usr/local/bin/corral run --rm --network host "$image" true || true
