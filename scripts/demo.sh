#!/bin/bash
# Demo: the same Podman command, once with runc and once with corral; then an
# allowlisted and a denied connection to two listeners of the demo's own on
# the Podman bridge; then corral's checklist for the container.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tests/lib/image.bash
. tests/lib/image.bash

export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/tests/lib/containers.conf}
image=localhost/corral-demo:latest
podman image exists "$image" || import_podman_image "$image"
work=$(mktemp -d)
name=corral-demo-$$
pids=()
cleanup() {
    podman --runtime "$work/corral" rm -f -t 0 "$name" >/dev/null 2>&1 || true
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

probe='echo "uid: $(id -u)"; grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status;
touch /etc/agent-was-here 2>&1 || true; echo "GITHUB_TOKEN=${GITHUB_TOKEN:-<stripped>}";
syscall-probe ptrace'

echo "== plain runc: what an agent gets by default"
podman --runtime runc run --rm -e GITHUB_TOKEN=ghp_demo "$image" sh -c "$probe" || true
echo
echo "== corral: the same container, confined"
podman --runtime /usr/local/bin/corral run --rm -e GITHUB_TOKEN=ghp_demo "$image" sh -c "$probe"
echo

# A policy allowing one demo listener; a runtime wrapper selects it.
/usr/bin/python3 - /etc/corral/policy.json "$work/policy.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
p["profiles"]["default"]["egress"]["allow"] = ["10.88.0.1:18080/tcp"]
json.dump(p, open(sys.argv[2], "w"), indent=2)
PY
chmod 0644 "$work/policy.json"
printf '#!/bin/sh\nexec /usr/local/bin/corral --policy %s "$@"\n' "$work/policy.json" >"$work/corral"
chmod 0755 "$work/corral"
id=$(podman --runtime "$work/corral" run -d --name "$name" --annotation run.corral.agent=demo "$image" sleep 600)
for port in 18080 18081; do
    /usr/bin/python3 tests/lib/listener.py 10.88.0.1 "$port" "$work/$port.log" &
    pids+=($!)
done
for _ in $(seq 50); do [ -e "$work/18081.log.ready" ] && break; sleep 0.1; done

echo "== egress: allowlisted 10.88.0.1:18080, everything else denied"
podman --runtime "$work/corral" exec "$name" sh -c \
    'echo -n "18080 (allowed): "; nc -w 3 10.88.0.1 18080 </dev/null; echo -n "18081 (denied):  "; nc -w 3 10.88.0.1 18081 </dev/null 2>&1 || true'
echo
echo "== corral egress show (live counters)"
/usr/local/bin/corral egress show "$id" | grep -E 'allow 10|deny  '
echo
echo "== corral checklist"
/usr/local/bin/corral --policy "$work/policy.json" checklist "$id"
echo
echo "== an agent asking for the host network is refused"
podman --runtime /usr/local/bin/corral run --rm --network host "$image" true 2>&1 || true
