#!/usr/bin/env bats
# Runs last: after every suite, nothing of corral's or the tests' is left.

load ../lib/helpers

@test "no test container is left in podman" {
    run_cmd podman ps -a --format '{{.Names}}'
    assert_not_contains "$output" "corral-t-" "test containers left behind"
}

@test "no container state record is left under /run/corral" {
    local left
    left=$(find /run/corral -mindepth 2 -name record.json 2>/dev/null)
    [ -z "$left" ] || die "state records left behind: $left"
}

@test "no staged bind is left mounted under /run/corral" {
    local left
    left=$(corral_mounts)
    [ -z "$left" ] || die "mounts left under /run/corral: $left"
}

@test "no corral process (hook, daemon) outlives its container" {
    local left
    left=$(pgrep -af 'corral (hook|daemon) ' || true)
    [ -z "$left" ] || die "corral processes left behind: $left"
}
