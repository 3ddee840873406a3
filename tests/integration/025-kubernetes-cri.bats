#!/usr/bin/env bats
# The Kubernetes path without a cluster: a containerd of this file's own
# (own root, state and socket) with the CRI plugin and the handlers of
# contrib/containerd/config.toml, driven through its CRI gRPC API as kubelet
# drives it (tests/lib/cri_client.py): RunPodSandbox with runtime handler
# "corral" and run.corral.* pod annotations, CreateContainer,
# StartContainer, ExecSync, StopPodSandbox, RemovePodSandbox.
#
# Pod level: the pod's sandbox (pause) container goes through corral too and
# owns the pod's network namespace; every app container joins it. Each
# container's createRuntime hook replaces the `inet corral` table of that
# shared netns atomically, so the last container started sets the pod's
# egress: give a pod's containers the same profile (pod annotations do that:
# containerd copies them into the sandbox's and every container's
# config.json).
#
# Network: a CNI bridge of this file's own (corralcri0, 10.253.0.0/24) and
# listeners of its own on the bridge gateway; nothing else is contacted.

load ../lib/helpers

GW=10.253.0.1
SUBNET=10.253.0.0/24
BRIDGE=corralcri0
CNI_NET=corral-cri-test
ALLOWED=18190  # in the profile and in the pod's annotation
NARROWED=18191 # in the profile, left out by the pod's annotation
DENIED=18192   # in neither
CRI_CLIENT="$TESTS_DIR/lib/cri_client.py"

# bats 1.8 cannot skip from setup_file: why the CRI path cannot run here
# goes to CRI_SKIP, and setup skips each test with that reason.
cri_prerequisites() {
    local b
    for b in containerd ctr containerd-shim-runc-v2 runc podman nft ip; do
        command -v "$b" >/dev/null || {
            echo "$b is not installed (scripts/install-deps.sh)"
            return
        }
    done
    for b in bridge host-local loopback; do
        [ -x "/usr/lib/cni/$b" ] || {
            echo "CNI plugin /usr/lib/cni/$b missing (Debian package containernetworking-plugins)"
            return
        }
    done
    /usr/bin/python3 -c 'import grpc, google.protobuf' 2>/dev/null ||
        echo "/usr/bin/python3 cannot import grpc and google.protobuf (Debian packages python3-grpcio, python3-protobuf)"
    ! ip link show "$BRIDGE" >/dev/null 2>&1 || echo "bridge $BRIDGE already exists: another run owns it"
}

setup_file() {
    export CRI_SKIP
    CRI_SKIP=$(cri_prerequisites)
    if [ -n "$CRI_SKIP" ]; then
        echo "# skipping all tests: $CRI_SKIP" >&3
        return 0
    fi
    export CRI_DIR CRI_SOCK PAUSE_IMAGE
    CRI_DIR=$(mktemp -d /tmp/corral-cri.XXXXXX)
    CRI_SOCK=$CRI_DIR/containerd.sock
    PAUSE_IMAGE=localhost/corral-test-pause:$(basename "$CRI_DIR" | tr '[:upper:]' '[:lower:]' | tr -cd 'a-z0-9')
    mkdir -p "$CRI_DIR/net.d" "$CRI_DIR/logs"

    # The shipped policy with two allowlisted ports on the bridge gateway.
    # containerd's environment reaches the shim and so corral: CORRAL_POLICY
    # selects it while BinaryName stays /usr/local/bin/corral.
    WORK=$CRI_DIR policy_with "p['profiles']['default']['egress']['allow'] = ['$GW:$ALLOWED/tcp', '$GW:$NARROWED/tcp']"

    # The contrib config plus what this machine and this test need: the
    # local pause image (nothing can be pulled), root without
    # CAP_SYS_RESOURCE (docs/facts.md: restrict_oom_score_adj), and the CNI
    # plugins and network of the test's own.
    awk -v img="$PAUSE_IMAGE" '
        { print }
        $0 == "[plugins.\"io.containerd.grpc.v1.cri\"]" {
            print "  sandbox_image = \"" img "\""
            print "  restrict_oom_score_adj = true"
            found = 1
        }
        END { exit !found }' "$SRC_DIR/contrib/containerd/config.toml" >"$CRI_DIR/config.toml" ||
        die "contrib/containerd/config.toml has no [plugins.\"io.containerd.grpc.v1.cri\"] table"
    # CORRAL=path runs a build of corral instead of the installed one.
    if [ "$CORRAL" != /usr/local/bin/corral ]; then
        sed -i "s|BinaryName = \"/usr/local/bin/corral\"|BinaryName = \"$CORRAL\"|" "$CRI_DIR/config.toml"
    fi
    cat >>"$CRI_DIR/config.toml" <<EOF

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CRI_DIR/net.d"
    max_conf_num = 1
EOF
    cat >"$CRI_DIR/net.d/10-$CNI_NET.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "$CNI_NET",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "$SUBNET", "gateway": "$GW" }]],
        "dataDir": "$CRI_DIR/ipam"
      }
    }
  ]
}
EOF

    CORRAL_POLICY=$CRI_DIR/policy.json containerd --config "$CRI_DIR/config.toml" --root "$CRI_DIR/root" \
        --state "$CRI_DIR/state" --address "$CRI_SOCK" >"$CRI_DIR/containerd.log" 2>&1 &
    echo $! >"$CRI_DIR/containerd.pid"
    wait_for 30 /usr/bin/python3 "$CRI_CLIENT" --socket "$CRI_SOCK" --rpc-timeout 2 version ||
        die "containerd's CRI plugin did not answer on $CRI_SOCK: $(tail -20 "$CRI_DIR/containerd.log")"

    # The pause image, from busybox: sleeps for ever (the sandbox container
    # only holds the pod's namespaces).
    build_rootfs_tar "$CRI_DIR/rootfs.tar" || die "cannot build the busybox rootfs"
    podman import --change 'CMD ["/bin/sleep","2147483647"]' "$CRI_DIR/rootfs.tar" "$PAUSE_IMAGE" >/dev/null ||
        die "podman import of the pause image failed"
    podman save --format docker-archive -o "$CRI_DIR/pause.tar" "$PAUSE_IMAGE" >/dev/null ||
        die "podman save of the pause image failed"
    podman image rm "$PAUSE_IMAGE" >/dev/null || die "cannot remove $PAUSE_IMAGE from podman"
    rm -f "$CRI_DIR/rootfs.tar"
    ctr --address "$CRI_SOCK" -n k8s.io images import "$CRI_DIR/pause.tar" >&3 ||
        die "ctr -n k8s.io images import of the pause image failed"
}

# stop_everything: what teardown_file and the last test do. Pods first
# (through CRI, as kubelet would), then containerd by its PID, its shims by
# theirs, mounts below the temp root, the root, the bridge.
stop_everything() {
    local pod pid deadline m
    [ -n "${CRI_DIR:-}" ] && [ -d "$CRI_DIR" ] || return 0
    if [ -f "$CRI_DIR/pods" ]; then
        while read -r pod; do
            cri_quiet stop-pod "$pod"
            cri_quiet remove-pod "$pod"
        done <"$CRI_DIR/pods"
    fi
    if [ -f "$CRI_DIR/containerd.pid" ]; then
        pid=$(cat "$CRI_DIR/containerd.pid")
        kill "$pid" 2>/dev/null || true
        deadline=$((SECONDS + 20))
        while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$CRI_DIR/containerd.pid"
    fi
    # Shims started for this containerd (their -address is our socket).
    for pid in $(pgrep -f -- "containerd-shim-runc-v2 .*-address $CRI_SOCK" || true); do
        kill -9 "$pid" 2>/dev/null || true
    done
    awk -v d="$CRI_DIR/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
        while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
    rm -rf "$CRI_DIR"
    ip link del "$BRIDGE" 2>/dev/null || true
    podman image rm "$PAUSE_IMAGE" >/dev/null 2>&1 || true
}

teardown_file() {
    [ -z "${CRI_SKIP:-}" ] || return 0
    stop_everything
}

setup() {
    [ -z "$CRI_SKIP" ] || skip "$CRI_SKIP"
    NAME=$(unique_name cri)
    WORK=$(mktemp -d)
    MY_PODS=()
}

teardown() {
    [ -z "$CRI_SKIP" ] || return 0
    stop_listeners
    local pod
    for pod in "${MY_PODS[@]}"; do
        cri_quiet stop-pod "$pod"
        cri_quiet remove-pod "$pod"
    done
    rm -rf "$WORK"
}

# cri [expected-status] ARGS...: a CRI call through the test client.
cri() {
    local expected=0
    if is_status "${1:-}"; then expected=$1; shift; fi
    run_cmd "$expected" /usr/bin/python3 "$CRI_CLIENT" --socket "$CRI_SOCK" "$@"
}

cri_quiet() {
    timeout -k 5 60 /usr/bin/python3 "$CRI_CLIENT" --socket "$CRI_SOCK" "$@" >/dev/null 2>&1 || true
}

# run_pod HANDLER [ANNOTATION=VALUE]...: RunPodSandbox; sets POD_ID and
# POD_CFG (the serialized PodSandboxConfig CreateContainer sends again).
run_pod() {
    local handler=$1 a args=()
    shift
    for a in "$@"; do args+=(--annotation "$a"); done
    POD_CFG=$WORK/pod-$((${#MY_PODS[@]})).pb
    mkdir -p "$CRI_DIR/logs/$NAME-${#MY_PODS[@]}"
    cri run-pod --name "$NAME-${#MY_PODS[@]}" --uid "$(cat /proc/sys/kernel/random/uuid)" --namespace corral-test \
        --handler "$handler" --log-dir "$CRI_DIR/logs/$NAME-${#MY_PODS[@]}" --config-out "$POD_CFG" "${args[@]}"
    POD_ID=$output
    [[ "$POD_ID" =~ ^[0-9a-f]{64}$ ]] || die "RunPodSandbox returned no sandbox id: $POD_ID"
    MY_PODS+=("$POD_ID")
    echo "$POD_ID" >>"$CRI_DIR/pods"
}

# run_app: CreateContainer + StartContainer of a sleeping busybox agent in
# POD_ID (the pause image's rootfs with another command); sets CTR_ID.
run_app() {
    cri create --pod "$POD_ID" --pod-config "$POD_CFG" --name agent --image "$PAUSE_IMAGE" -- /bin/sleep 600
    CTR_ID=$output
    [[ "$CTR_ID" =~ ^[0-9a-f]{64}$ ]] || die "CreateContainer returned no container id: $CTR_ID"
    cri '?' start "$CTR_ID"
    [ "$status" -eq 0 ] || die "StartContainer failed: $output"
}

# bundle_json ID PYTHON_EXPR: a value of the container's effective
# config.json (what corral wrote and runc ran), `c` being the parsed spec.
bundle_json() {
    /usr/bin/python3 -c 'import json, sys; c = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
        "$CRI_DIR/state/io.containerd.runtime.v2.task/k8s.io/$1/config.json" "$2"
}

# netns_of ID: the network namespace of the container's init.
netns_of() {
    readlink "/proc/$(cat "$CRI_DIR/state/io.containerd.runtime.v2.task/k8s.io/$1/init.pid")/ns/net"
}

# reserved_ips: the pod IPs host-local holds for the test's network.
reserved_ips() {
    local f
    for f in "$CRI_DIR/ipam/$CNI_NET"/10.253.0.*; do
        [ ! -e "$f" ] || basename "$f"
    done
}

corral_records_for() {
    find /run/corral -path "*/$1/record.json" 2>/dev/null
}

@test "contrib config.toml: the CRI plugin serves runtime.v1 with corral and runc handlers" {
    cri version
    assert_contains "$output" "containerd" "runtime name from CRI Version"
    assert_contains "$output" "v1" "CRI runtime API version"
    run_cmd containerd --config "$CRI_DIR/config.toml" config dump
    assert_contains "$output" '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.corral]' "corral handler"
    assert_contains "$output" "BinaryName = \"$CORRAL\"" "corral handler's binary"
    grep -q '^ *BinaryName = "/usr/local/bin/corral"' "$SRC_DIR/contrib/containerd/config.toml" ||
        die "contrib/containerd/config.toml does not name /usr/local/bin/corral"
    assert_contains "$output" 'pod_annotations = ["run.corral.*"]' "run.corral.* pod annotations pass"
    assert_contains "$output" '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]' "runc handler kept"
    assert_contains "$output" "sandbox_image = \"$PAUSE_IMAGE\"" "locally built pause image"
}

@test "a pod on handler corral: sandbox and app container hardened, checked through ExecSync" {
    run_pod corral run.corral.profile=default
    run_app

    cri exec "$CTR_ID" -- id -u
    assert_eq "$output" "65534" "uid of the agent in the pod"

    cri '!' exec "$CTR_ID" -- touch /corral-was-here
    assert_contains "$output" "Read-only file system" "write to / refused"

    cri exec "$CTR_ID" -- cat /proc/self/status
    assert_contains "$output" $'CapEff:\t0000000000000000' "no effective capabilities"
    assert_contains "$output" $'NoNewPrivs:\t1' "no new privileges"
    assert_contains "$output" $'Seccomp:\t2' "seccomp filter on"

    # The sandbox (pause) container went through corral as well.
    local kind uid hook
    kind=$(bundle_json "$POD_ID" "c['annotations']['io.kubernetes.cri.container-type']")
    assert_eq "$kind" "sandbox" "the pod id names the sandbox container"
    uid=$(bundle_json "$POD_ID" "c['process']['user']['uid']")
    assert_eq "$uid" "65534" "pause container's uid in its effective config.json"
    hook=$(bundle_json "$POD_ID" "' '.join(c['hooks']['createRuntime'][0]['args'][:3])")
    assert_eq "$hook" "corral hook create-runtime" "pause container's first createRuntime hook"
    [ -n "$(corral_records_for "$POD_ID")" ] || die "no corral state record for the sandbox container $POD_ID"
    [ -n "$(corral_records_for "$CTR_ID")" ] || die "no corral state record for the app container $CTR_ID"
    local profile
    profile=$(bundle_json "$CTR_ID" "c['annotations'].get('run.corral.profile')")
    assert_eq "$profile" "default" "the pod annotation reached the app container's config.json"
    assert_eq "$(netns_of "$CTR_ID")" "$(netns_of "$POD_ID")" "the app container joined the sandbox's netns"
}

@test "pod egress: the allowlist narrowed by a pod annotation is enforced in the pod's netns" {
    run_pod corral run.corral.profile=default "run.corral.egress.allow=$GW:$ALLOWED/tcp"
    # The bridge and its gateway address exist once the first pod is up.
    start_listener "$GW" "$ALLOWED" "$WORK/allowed.log"
    start_listener "$GW" "$NARROWED" "$WORK/narrowed.log"
    start_listener "$GW" "$DENIED" "$WORK/denied.log"
    run_app

    cri exec "$CTR_ID" -- sh -c "nc -w 3 $GW $ALLOWED </dev/null"
    assert_eq "$output" "hello" "allowlisted listener answered the pod"
    grep -q "connection from 10.253.0." "$WORK/allowed.log" || die "the allowed listener saw no connection from the pod"

    cri exec "$CTR_ID" -- sh -c "nc -w 3 $GW $NARROWED </dev/null; echo rc=\$?"
    assert_contains "$output" "rc=1" "port left out by the pod annotation refused"
    [ ! -s "$WORK/narrowed.log" ] || die "the narrowed-out listener saw a connection: $(cat "$WORK/narrowed.log")"

    cri exec "$CTR_ID" -- sh -c "nc -w 3 $GW $DENIED </dev/null; echo rc=\$?"
    assert_contains "$output" "rc=1" "port outside the profile refused"
    [ ! -s "$WORK/denied.log" ] || die "the denied listener saw a connection: $(cat "$WORK/denied.log")"

    # The table lives in the pod's netns, which the sandbox container owns.
    run_corral --root /run/containerd/runc/k8s.io egress show "$POD_ID"
    assert_contains "$output" "allow $GW/32:$ALLOWED/tcp" "the pod's table allows the annotated entry"
    assert_not_contains "$output" ":$NARROWED/" "the pod's table leaves out the narrowed entry"

    # Control: the same listener answers a pod on the runc handler, so the
    # refusal above is corral's.
    run_pod runc
    run_app
    cri exec "$CTR_ID" -- sh -c "nc -w 3 $GW $DENIED </dev/null"
    assert_eq "$output" "hello" "denied listener answers a runc pod"
    grep -q "connection from" "$WORK/denied.log" || die "control: the denied listener saw nothing from the runc pod"
}

# offline gives every container of the pod, the sandbox included, a fresh
# netns of its own with only loopback: the pod's containers do not share
# localhost (README, Kubernetes pods).
@test "an offline pod: each container gets a loopback-only netns of its own" {
    run_pod corral run.corral.profile=offline
    start_listener "$GW" "$DENIED" "$WORK/denied.log"
    run_app
    cri exec "$CTR_ID" -- cat /proc/net/dev
    assert_contains "$output" "lo:" "loopback present"
    assert_not_contains "$output" "eth0" "no pod interface in an offline pod"
    [ "$(netns_of "$CTR_ID")" != "$(netns_of "$POD_ID")" ] ||
        die "the offline app container shares the sandbox's netns $(netns_of "$POD_ID")"
    cri exec "$CTR_ID" -- sh -c "nc -w 3 $GW $DENIED </dev/null; echo rc=\$?"
    assert_not_contains "$output" "hello" "offline pod reached nothing"
    [ ! -s "$WORK/denied.log" ] || die "the listener saw a connection from an offline pod"
}

@test "StopPodSandbox and RemovePodSandbox leave no record, process, netns or IP behind" {
    run_pod corral run.corral.profile=default
    run_app
    local netns shim
    netns=$(bundle_json "$POD_ID" "[n.get('path', '') for n in c['linux']['namespaces'] if n['type'] == 'network'][0]")
    shim=$(pgrep -f -- "containerd-shim-runc-v2 .*-id $POD_ID") || die "no shim process for pod $POD_ID"
    [ -n "$(reserved_ips)" ] ||
        die "no IP reserved for the pod in $CRI_DIR/ipam/$CNI_NET"

    cri stop-pod "$POD_ID"
    cri remove-pod "$POD_ID"

    local id left
    for id in "$POD_ID" "$CTR_ID"; do
        left=$(corral_records_for "$id")
        [ -z "$left" ] || die "corral state record left for $id: $left"
        # The egress logger of a container keeps the hook's command line,
        # which names the container's state dir; it exits when the
        # container's init does (pidfd), a moment after.
        wait_for 10 sh -c "! pgrep -f -- '[c]orral .*$id'" ||
            die "corral process (hook, logger) left for $id: $(pgrep -af -- "corral .*$id")"
        [ ! -e "/run/containerd/runc/k8s.io/$id" ] || die "runc state left for $id"
    done
    wait_for 10 sh -c "! kill -0 $shim" || die "shim $shim of pod $POD_ID still running"
    if [ -n "$netns" ]; then
        [ ! -e "$netns" ] || die "pod netns $netns left behind"
    fi
    left=$(reserved_ips)
    [ -z "$left" ] || die "pod IP still reserved: $left"
}

# Runs last: the teardown itself, checked.
@test "stopping containerd by PID leaves no process, mount, root or bridge" {
    local pid dir=$CRI_DIR
    pid=$(cat "$CRI_DIR/containerd.pid")
    stop_everything
    ! kill -0 "$pid" 2>/dev/null || die "containerd $pid still running"
    local left
    left=$(pgrep -af -- "containerd-shim-runc-v2 .*-address $dir/" || true)
    [ -z "$left" ] || die "shims of this containerd left: $left"
    left=$(awk -v d="$dir/" 'index($5, d) == 1' /proc/self/mountinfo)
    [ -z "$left" ] || die "mounts left below $dir: $left"
    [ ! -e "$dir" ] || die "containerd temp root $dir left"
    ! ip link show "$BRIDGE" >/dev/null 2>&1 || die "CNI bridge $BRIDGE left"
    left=$(find /run/corral -name record.json -exec grep -l "$dir" {} + 2>/dev/null || true)
    [ -z "$left" ] || die "corral records naming $dir left: $left"
}
