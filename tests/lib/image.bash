# The busybox test image, built locally (there is no registry): shared by the
# bats suites and scripts/demo.sh.
# shellcheck shell=bash

# build_rootfs_tar OUT: busybox-static plus the directories an image normally
# has (/tmp sticky: runc keeps the mode of the directory a tmpfs covers), and
# the syscall probe the seccomp tests use.
build_rootfs_tar() {
    local out=$1 dir lib a
    lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    dir=$(mktemp -d)
    mkdir -p "$dir/rootfs/bin" "$dir/rootfs/etc" "$dir/rootfs/tmp" "$dir/rootfs/var/tmp" \
        "$dir/rootfs/run" "$dir/rootfs/proc" "$dir/rootfs/sys" "$dir/rootfs/dev" "$dir/rootfs/workspace"
    chmod 1777 "$dir/rootfs/tmp" "$dir/rootfs/var/tmp"
    cp /bin/busybox "$dir/rootfs/bin/busybox"
    if ! gcc -static -O2 -o "$dir/rootfs/bin/syscall-probe" "$lib/syscall-probe.c"; then
        echo "cannot build the syscall probe (gcc and libc6-dev are needed)" >&2
        rm -rf "$dir"
        return 1
    fi
    # The DNS guard tests throw malformed packets from inside a container.
    if ! gcc -static -O2 -o "$dir/rootfs/bin/dns-junk" "$lib/dns-junk.c"; then
        echo "cannot build the DNS junk sender (gcc and libc6-dev are needed)" >&2
        rm -rf "$dir"
        return 1
    fi
    for a in $(/bin/busybox --list); do
        [ "$a" = busybox ] || ln -s busybox "$dir/rootfs/bin/$a"
    done
    echo 'root:x:0:0:root:/root:/bin/sh' >"$dir/rootfs/etc/passwd"
    echo 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >>"$dir/rootfs/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/rootfs/etc/group"
    tar -C "$dir/rootfs" -cf "$out" .
    rm -rf "$dir"
}

# import_podman_image NAME: build the rootfs and import it into Podman.
import_podman_image() {
    local tarball rc=0
    tarball=$(mktemp --suffix=.tar)
    build_rootfs_tar "$tarball" && podman import --change 'CMD ["/bin/sh"]' "$tarball" "$1" >/dev/null || rc=1
    rm -f "$tarball"
    return $rc
}
