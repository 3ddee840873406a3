# The agent image of 150-agent-workloads.bats: a real Debian 12 with the tools
# agents use (python3, pip, venv, git, node, npm, gcc, curl), built from
# Debian's apt with mmdebstrap (nothing is pulled from a registry).  The
# tarball is cached per machine, keyed by its recipe, so it is built once.
# shellcheck shell=bash

AGENT_IMAGE_PACKAGES=python3,python3-pip,python3-venv,git,curl,ca-certificates,nodejs,npm,gcc,libc6-dev,make,procps
AGENT_IMAGE_CACHE=${AGENT_IMAGE_CACHE:-/var/cache/corral-tests}
AGENT_IMAGE_KEY=$(printf 'mmdebstrap --variant=apt --include=%s bookworm\n' "$AGENT_IMAGE_PACKAGES" |
    sha256sum | cut -c1-12)
AGENT_IMAGE=localhost/corral-test-agent:$AGENT_IMAGE_KEY

# agent_image_tarball: print the cached tarball's path, building it first
# (about 1-4 minutes, about 700 MB) under a lock, so parallel suites build it
# once.
agent_image_tarball() {
    local tar=$AGENT_IMAGE_CACHE/agent-$AGENT_IMAGE_KEY.tar
    mkdir -p "$AGENT_IMAGE_CACHE" || return 1
    (
        flock 9 || exit 1
        [ -s "$tar" ] && exit 0
        # A partial tarball never takes the cached name.  A mirror that fails
        # a download now and then gets two more tries.
        # mmdebstrap must not inherit the lock's fd 9: with it open, its apt
        # download step fails ("apt download failed"; measured under bats).
        for try in 1 2 3; do
            if mmdebstrap --quiet --format=tar --variant=apt --include="$AGENT_IMAGE_PACKAGES" bookworm \
                "$tar.part" >&2 9>&-; then
                mv "$tar.part" "$tar" && exit 0
            fi
            rm -f "$tar.part"
            echo "agent image: mmdebstrap failed (try $try of 3)" >&2
            [ "$try" = 3 ] || sleep 15
        done
        exit 1
    ) 9>"$AGENT_IMAGE_CACHE/.agent-$AGENT_IMAGE_KEY.lock" || return 1
    echo "$tar"
}

# ensure_agent_image: the image in Podman, imported from the cached tarball.
ensure_agent_image() {
    local tar
    podman image exists "$AGENT_IMAGE" && return
    tar=$(agent_image_tarball) || return 1
    podman import --change 'CMD ["/bin/bash"]' "$tar" "$AGENT_IMAGE" >/dev/null
}
