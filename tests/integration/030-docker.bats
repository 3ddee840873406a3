#!/usr/bin/env bats
# Docker: dockerd with the runtimes of contrib/docker/daemon.json (corral,
# corral-offline) runs containers through corral, on a dockerd and containerd
# of this file's own.

load ../lib/helpers
load ../lib/engines

# bats 1.8 cannot skip from setup_file: it records why the engine cannot run
# in DOCKER_SKIP, and setup skips each test with that reason.
setup_file() {
    local b
    export DOCKER_SKIP=
    for b in containerd ctr dockerd "$DOCKER_CLI"; do
        if ! command -v "$b" >/dev/null; then
            DOCKER_SKIP="dockerd cannot run here: $b is not installed (Debian packages docker.io, containerd)"
            echo "# skipping all tests: $DOCKER_SKIP" >&3
            return 0
        fi
    done
    start_containerd
    if ! start_dockerd "$CONTRIB_DIR/docker/daemon.json"; then
        # A daemon.json dockerd rejects is our bug, not the machine's.
        if grep -q 'unable to configure the Docker daemon' "$DKD_DIR/dockerd.log"; then
            echo "# dockerd rejects $CONTRIB_DIR/docker/daemon.json: $DKD_START_ERROR" >&3
            return 1
        fi
        DOCKER_SKIP="dockerd cannot run here: $DKD_START_ERROR"
        echo "# skipping all tests: $DOCKER_SKIP" >&3
        return 0
    fi
    import_docker_image
}

teardown_file() {
    stop_dockerd
    stop_containerd
}

setup() {
    [ -z "$DOCKER_SKIP" ] || skip "$DOCKER_SKIP"
    NAME=$(unique_name dk)
}

teardown() {
    [ -z "$DOCKER_SKIP" ] || return 0
    "$DOCKER_CLI" rm -f "$NAME" >/dev/null 2>&1 || true
}

# container_id NAME: the full id docker gave the container (corral's state
# record is keyed by it).
container_id() {
    "$DOCKER_CLI" inspect --format '{{.Id}}' "$1"
}

@test "contrib daemon.json: dockerd lists the corral runtimes" {
    run_docker info --format '{{json .Runtimes}}'
    assert_contains "$output" '"corral":{"path":"/usr/local/bin/corral"}' "corral runtime"
    assert_contains "$output" '"corral-offline":{"path":"/usr/local/bin/corral","runtimeArgs":["--profile","offline"]}' \
        "corral-offline runtime with its profile argument"
    assert_contains "$output" '"corral-untrusted":{"path":"/usr/local/bin/corral","runtimeArgs":["--profile","untrusted"]}' \
        "corral-untrusted runtime with its profile argument"
}

@test "docker run --runtime corral: non-root, output reaches the user" {
    run_docker run --runtime corral --rm --name "$NAME" "$ENGINE_IMAGE" id -u
    assert_eq "$output" "65534" "uid inside"
    run_docker run --runtime corral --rm --name "$NAME" --user 0 "$ENGINE_IMAGE" id -u
    assert_eq "$output" "65534" "uid inside with --user 0"
}

@test "docker run -d, exec, logs, stop, rm: full lifecycle leaves no state record" {
    run_docker run --runtime corral -d --name "$NAME" "$ENGINE_IMAGE" \
        sh -c 'echo started; trap "echo got-term; exit 0" TERM; while :; do sleep 0.1; done'
    local id
    id=$(container_id "$NAME") || die "no id for $NAME"
    [ -n "$(state_records_for "$id")" ] || die "corral recorded no delegate for running container $id"

    run_docker exec "$NAME" sh -c 'echo exec-ok; id -u'
    assert_eq "$output" $'exec-ok\n65534' "exec output and uid"

    wait_for 20 eval '"$DOCKER_CLI" logs "$NAME" 2>&1 | grep -q started' || die "no 'started' in docker logs"

    run_docker stop -t 10 "$NAME"
    run_docker inspect --format '{{.State.Status}} {{.State.ExitCode}}' "$NAME"
    assert_eq "$output" "exited 0" "state after stop (the TERM trap exits 0)"
    run_docker logs "$NAME"
    assert_contains "$output" "got-term" "SIGTERM from docker stop reached the container"

    run_docker rm "$NAME"
    assert_no_state_record "$id"
    assert_no_corral_process "$id"
}

@test "corral-offline runtime: --network host is replaced by loopback only" {
    # The default profile refuses the host's network namespace...
    run_docker 125 run --runtime corral --rm --name "$NAME" --network host "$ENGINE_IMAGE" true
    assert_contains "$output" "OCI runtime create failed" "docker reports the create failure"
    assert_contains "$output" "share the host's network namespace" "corral's reason reaches the docker user"

    # ...the offline profile (runtimeArgs --profile offline) gives the
    # container a namespace of its own with only lo.
    run_docker run --runtime corral-offline --rm --name "$NAME" --network host "$ENGINE_IMAGE" \
        sh -c "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; ip -o link | cut -d: -f2"
    assert_eq "$output" $'lo\n lo' "interfaces under corral-offline (/proc/net/dev, ip link)"

    run_docker run --runtime corral-offline --rm --name "$NAME" --network host "$ENGINE_IMAGE" sh -c "$LOOPBACK_PROBE"
    assert_contains "$output" "loopback=yes got=hi" "a TCP connection to 127.0.0.1 under corral-offline"
}

@test "docker run -e: a secret is stripped, a plain variable stays" {
    run_docker run --runtime corral --rm --name "$NAME" -e GITHUB_TOKEN=x -e PLAIN=1 "$ENGINE_IMAGE" env
    assert_not_contains "$output" "GITHUB_TOKEN" "secret in the container's environment"
    assert_contains "$output" "PLAIN=1" "plain variable in the container's environment"
}

@test "docker run --privileged: still no capabilities, seccomp on, read-only root" {
    run_docker run --runtime corral --rm --name "$NAME" --privileged "$ENGINE_IMAGE" sh -c \
        'grep -E "^(CapEff|CapBnd|Seccomp):" /proc/self/status; touch /x 2>&1; true'
    assert_contains "$output" $'CapEff:\t0000000000000000' "effective capabilities under --privileged"
    assert_contains "$output" $'CapBnd:\t0000000000000000' "bounding set under --privileged"
    assert_contains "$output" $'Seccomp:\t2' "seccomp filter under --privileged"
    assert_contains "$output" "/x: Read-only file system" "writing / fails under --privileged"
}

@test "docker run --memory 100g: the profile's 2g ceiling holds" {
    run_docker run --runtime corral -d --name "$NAME" --memory 100g "$ENGINE_IMAGE" sleep 300
    local id limit
    id=$(container_id "$NAME") || die "no id for $NAME"
    limit=/sys/fs/cgroup/memory/$DKD_CGROUP/$id/memory.limit_in_bytes
    [ -r "$limit" ] || die "no memory cgroup $limit for the running container"
    assert_eq "$(cat "$limit")" "2147483648" "memory limit of the container's cgroup"
    run_docker rm -f "$NAME"
    assert_no_state_record "$id"
}

@test "corral-untrusted runtime: gVisor, offline; run -d, exec, stop, rm leave nothing" {
    command -v runsc >/dev/null || skip "runsc is not installed (Debian package runsc)"
    run_docker run --runtime corral-untrusted -d --name "$NAME" "$ENGINE_IMAGE" \
        sh -c 'echo started; trap "echo got-term; exit 0" TERM; while :; do sleep 0.1; done'
    local id kernel
    id=$(container_id "$NAME") || die "no id for $NAME"

    run_docker exec "$NAME" sh -c "uname -r; id -u; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"
    kernel=$(echo "$output" | sed -n 1p)
    [ -n "$kernel" ] && [ "$kernel" != "$(uname -r)" ] ||
        die "corral-untrusted container sees kernel '$kernel', the host's is $(uname -r): not gVisor"
    assert_eq "$(echo "$output" | sed -n 2p)" "65534" "uid under gVisor"
    assert_not_contains "$output" "eth" "corral-untrusted has no network interface but loopback"

    run_docker stop -t 10 "$NAME"
    run_docker inspect --format '{{.State.Status}} {{.State.ExitCode}}' "$NAME"
    assert_eq "$output" "exited 0" "state after stop (the TERM trap exits 0)"
    run_docker logs "$NAME"
    assert_contains "$output" "got-term" "SIGTERM from docker stop reached the process under gVisor"
    run_docker rm "$NAME"
    assert_no_state_record "$id"
    assert_no_corral_process "$id"
}

@test "corral-untrusted runtime: loopback works under gVisor as under runc" {
    command -v runsc >/dev/null || skip "runsc is not installed (Debian package runsc)"
    run_docker run --runtime corral-untrusted --rm --name "$NAME" "$ENGINE_IMAGE" sh -c "$LOOPBACK_PROBE"
    assert_contains "$output" "loopback=yes got=hi" "a TCP connection to 127.0.0.1 under corral-untrusted (gVisor)"
}
