#!/usr/bin/env bats
# Real agent images run their usual tools, unmodified, under the default
# profile, under runc and under gVisor.  The image is a Debian 12
# built locally from apt (tests/lib/agent-image.bash, cached per machine).
# The workspace is a directory a person (uid 1000) made, mounted the way
# users do (-v ./proj:/workspace -w /workspace) with --user 1000:1000.
# Every server is the test's own: a dnsmasq upstream in a netns of its own
# (as in 250-dns.bats), and on the Podman bridge gateway a git daemon, an
# HTTPS server with the test's own CA and a plain listener on another port.

load ../lib/helpers
load ../lib/agent-image
load ../lib/upstream

GW=10.88.0.1
GIT_PORT=19418
HTTPS_PORT=18443
OTHER_PORT=18444
PERSON=1000

setup_file() {
    if ! podman image exists "$AGENT_IMAGE" && ! command -v mmdebstrap >/dev/null; then
        skip "mmdebstrap is not installed (scripts/install-deps.sh) and the agent image is not there"
    fi
    ensure_agent_image
}

setup() {
    NAME=$(unique_name agent)
    WORK=$(mktemp -d)
    chmod 755 "$WORK"
    upstream_names corral-agent cag
    policy_with "
d = p['profiles']['default']
d['user']['accept_range'] = [1000, 59999]
d['egress']['allow'] = ['git.agent.test:$GIT_PORT/tcp', 'api.agent.test:$HTTPS_PORT/tcp']
d['dns'] = {'upstream': '$UP'}
"
    WRAPPER=$(make_policy_wrapper "$WORK/policy.json")
    # shellcheck disable=SC2034 # read by run_podman (helpers.bash)
    RUNTIME=$WRAPPER
    make_workspace
    make_certs
    start_upstream
}

teardown() {
    stop_listeners
    local n
    for n in "$NAME" "$NAME-runc" $(seq -f "$NAME-%g" 1 "${STEP:-0}"); do
        podman --runtime "$WRAPPER" rm -f -t 0 "$n" >/dev/null 2>&1 || true
    done
    stop_dns_upstream
    podman rmi -f "localhost/$NAME-img" >/dev/null 2>&1 || true
    rm -rf "$(dirname "$WRAPPER")" "$WORK"
}

# The person's project: their own directory (0755, uid 1000) with a Python
# package, an npm package and a C program of the test's own.
make_workspace() {
    mkdir -p "$WORK/proj"
    cp -r "$TESTS_DIR/lib/agent/." "$WORK/proj/"
    chown -R "$PERSON:$PERSON" "$WORK/proj"
    chmod 755 "$WORK/proj"
}

# The test's own CA and a server certificate for api.agent.test.
make_certs() {
    local c=$WORK/certs
    mkdir -p "$c"
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=corral test CA" \
        -keyout "$c/ca.key" -out "$c/ca.pem" 2>/dev/null || die "openssl: CA"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=api.agent.test" -keyout "$c/server.key" \
        -out "$c/server.csr" 2>/dev/null || die "openssl: server key"
    printf 'subjectAltName=DNS:api.agent.test\n' >"$c/ext"
    openssl x509 -req -in "$c/server.csr" -CA "$c/ca.pem" -CAkey "$c/ca.key" -CAcreateserial -days 1 \
        -extfile "$c/ext" -out "$c/server.pem" 2>/dev/null || die "openssl: server certificate"
    chmod 644 "$c/ca.pem"
}

# dnsmasq in its own netns, answering only the test's zone: the two allowed
# names and evil.agent.test, which points at the same gateway.
start_upstream() {
    start_dns_upstream --host-record=git.agent.test,$GW --host-record=api.agent.test,$GW \
        --host-record=evil.agent.test,$GW
}

# start_agent RUNTIME: a long-running agent container, as a user would start
# it (it also keeps the Podman bridge up for the servers on the gateway).
start_agent() {
    RT=$1
    run_podman run -d --name "$NAME" --annotation run.corral.runtime="$RT" --user "$PERSON:$PERSON" \
        -v "$WORK/proj:/workspace" -v "$WORK/certs/ca.pem:/certs/ca.pem" -w /workspace "$AGENT_IMAGE" \
        bash -c 'echo "$HOME" >/tmp/home-main; exec sleep 600'
}

# agent CMD: CMD as an agent container's own process, under runtime $RT.
# Not `podman exec`: runsc (0.0~20221219) installs the seccomp filter only
# in the container's own process tree, and these tests are about the filter
# (threads, clone) as much as about the tools.
STEP=0
agent() {
    STEP=$((STEP + 1))
    run_podman run --rm --name "$NAME-$STEP" --annotation run.corral.runtime="$RT" --user "$PERSON:$PERSON" \
        -v "$WORK/proj:/workspace" -v "$WORK/certs/ca.pem:/certs/ca.pem" -w /workspace "$AGENT_IMAGE" \
        bash -c "$1"
}

start_servers() {
    git init -q --bare --initial-branch=main "$WORK/git/repo.git"
    git clone -q "$WORK/git/repo.git" "$WORK/seed" 2>/dev/null
    echo "seeded by the test" >"$WORK/seed/README"
    git -C "$WORK/seed" add README
    git -C "$WORK/seed" -c user.name=test -c user.email=test@agent.test commit -q -m seed
    git -C "$WORK/seed" push -q origin HEAD:main
    git daemon --reuseaddr --export-all --enable=receive-pack --base-path="$WORK/git" \
        --listen="$GW" --port="$GIT_PORT" --log-destination=none &
    LISTENER_PIDS+=($!)
    wait_for 10 sh -c "ss -Hltn 'sport = :$GIT_PORT' | grep -q ." || die "git daemon did not start"

    rm -f "$WORK/https.log"
    /usr/bin/python3 "$TESTS_DIR/lib/https-server.py" "$GW" "$HTTPS_PORT" "$WORK/certs/server.pem" \
        "$WORK/certs/server.key" "$WORK/https.log" &
    LISTENER_PIDS+=($!)
    wait_for 10 test -e "$WORK/https.log.ready" || die "HTTPS server did not start"
    start_listener "$GW" "$OTHER_PORT" "$WORK/other.log"
}

tools_work() {
    local rt=$1
    start_agent "$rt"

    run_podman exec "$NAME" bash -c 'id -u; id -g; cat /tmp/home-main; echo "$HOME"'
    assert_eq "$output" "$PERSON"$'\n'"$PERSON"$'\n/home/agent\n/home/agent' \
        "$rt: the person's uid:gid (user.accept_range) and HOME on the agent's tmpfs, in run and exec"
    # Python's stat: gVisor's statx refuses coreutils' flags (EINVAL).
    agent 'python3 -c "import os, sys
for p in sys.argv[1:]: print(os.stat(p).st_uid, oct(os.stat(p).st_mode & 0o7777)[2:])" "$HOME" /tmp &&
        touch "$HOME/probe" && mkdir -p ~/.cache/tool && echo home-ok'
    assert_eq "$output" "$PERSON 700"$'\n'"$PERSON 1777"$'\nhome-ok' "$rt: HOME and /tmp belong to the agent"

    agent 'git config --global user.name agent && git config --global user.email agent@agent.test &&
        git config --global --get user.name && test -f "$HOME/.gitconfig" && echo "$HOME/.gitconfig"'
    assert_eq "$output" $'agent\n/home/agent/.gitconfig' "$rt: git config --global writes ~/.gitconfig"

    agent 'echo from-the-agent >/workspace/made-by-agent && echo ws-ok'
    assert_eq "$output" "ws-ok" "$rt: the agent writes the person's workspace"
    assert_eq "$(stat -c %u:%g "$WORK/proj/made-by-agent")" "$PERSON:$PERSON" \
        "$rt: files the agent writes belong to the person on the host"

    agent 'gcc -O2 -pthread -o /tmp/probe probe.c && /tmp/probe && grep -q "^Seccomp:.*2" /proc/self/status && echo filtered'
    if [ "$rt" = gvisor ]; then
        # runsc answers every seccomp errno rule with EPERM.
        assert_eq "$output" $'threads: ok\nsignal: ok\nclone-newuser: EPERM\nclone3-newuser: ENOSYS\nunshare: EPERM\nfiltered' \
            "$rt: a C program built and run from /tmp: threads and signals work, namespaces are denied"
    else
        # Podman's filter answers what it does not allow with ENOSYS.
        assert_eq "$output" $'threads: ok\nsignal: ok\nclone-newuser: ENOSYS\nclone3-newuser: ENOSYS\nunshare: EPERM\nfiltered' \
            "$rt: a C program built and run from /tmp: threads and signals work, namespaces are denied"
    fi

    agent 'python3 -c "import threading; t = threading.Thread(target=print, args=(\"py-thread\",)); t.start(); t.join()"'
    assert_eq "$output" "py-thread" "$rt: Python starts a thread"

    agent 'python3 -m venv /tmp/venv && /tmp/venv/bin/pip install -q --no-index --no-build-isolation ./pyhello \
        2>/dev/null && /tmp/venv/bin/python -c "import corral_hello; print(corral_hello.hello())"'
    assert_eq "$output" "hello from a local package" "$rt: a venv in /tmp and a pip install of a local package"

    agent 'mkdir -p /tmp/npmtest && cd /tmp/npmtest && npm pack -q /workspace/npmhello >/dev/null &&
        npm install -q --offline --no-audit --no-fund ./corral-hello-1.0.0.tgz >/dev/null &&
        node -e "console.log(require(\"corral-hello\")())" && test -d ~/.npm/_cacache && echo npm-cache-in-home'
    assert_eq "$output" $'hello from a local npm package\nnpm-cache-in-home' \
        "$rt: npm packs and installs a local package offline, its cache in HOME"
}

network_works() {
    local rt=$1
    start_agent "$rt"
    start_servers

    agent 'git clone -q git://git.agent.test:'"$GIT_PORT"'/repo.git /workspace/repo && cd /workspace/repo &&
        echo "written by the agent" >AGENT && git add AGENT &&
        git -c user.name=agent -c user.email=agent@agent.test commit -q -m "agent commit" &&
        git push -q origin HEAD:main 2>&1 && cat README'
    assert_eq "$output" "seeded by the test" "$rt: git clone through the DNS guard"
    assert_eq "$(git --git-dir="$WORK/git/repo.git" log -1 --format=%s main)" "agent commit" \
        "$rt: the agent's commit reached the test's git server"
    assert_eq "$(stat -c %u "$WORK/proj/repo/AGENT")" "$PERSON" "$rt: the clone belongs to the person"

    agent "curl -sS --cacert /certs/ca.pem https://api.agent.test:$HTTPS_PORT/curl"
    assert_eq "$output" "hello over https" "$rt: curl with the test's CA"
    agent "python3 -c 'import ssl, urllib.request as u; ctx = ssl.create_default_context(cafile=\"/certs/ca.pem\")
print(u.urlopen(\"https://api.agent.test:$HTTPS_PORT/python\", context=ctx, timeout=10).read().decode(), end=\"\")'"
    assert_eq "$output" "hello over https" "$rt: Python with the test's CA"
    agent "NODE_EXTRA_CA_CERTS=/certs/ca.pem node -e '
require(\"https\").get(\"https://api.agent.test:$HTTPS_PORT/node\", r => { r.pipe(process.stdout); })
  .on(\"error\", e => { console.log(\"error: \" + e.message); process.exit(1); });'"
    assert_eq "$output" "hello over https" "$rt: Node with the test's CA"
    assert_eq "$(sort "$WORK/https.log" | tr '\n' ' ')" "GET /curl GET /node GET /python " \
        "$rt: the HTTPS server saw each client once"
    agent "curl -sS https://api.agent.test:$HTTPS_PORT/no-ca 2>&1; echo rc=\$?"
    assert_contains "$output" "rc=60" "$rt: without the test's CA the certificate is refused (TLS is checked)"

    agent "curl -sS --max-time 5 --cacert /certs/ca.pem https://evil.agent.test:$HTTPS_PORT/evil 2>&1; echo rc=\$?"
    assert_contains "$output" "rc=6" "$rt: a name outside the allowlist does not resolve"
    if grep -q /evil "$WORK/https.log"; then
        die "$rt: the server saw a request for the denied name"
    fi
    if grep -q "evil.agent.test" "$WORK/dnsmasq.log"; then
        die "$rt: the guard forwarded the denied name upstream: $(grep evil.agent.test "$WORK/dnsmasq.log")"
    fi

    agent "timeout 5 bash -c 'exec 3<>/dev/tcp/api.agent.test/$OTHER_PORT && head -1 <&3' 2>&1; echo rc=\$?"
    assert_not_contains "$output" "hello" "$rt: another port on an allowed address is denied"
    [ ! -s "$WORK/other.log" ] || die "$rt: the listener on port $OTHER_PORT saw: $(cat "$WORK/other.log")"
    # Control: the listener is there for a container corral does not confine.
    run_cmd podman --runtime runc run --rm --name "$NAME-runc" "$AGENT_IMAGE" \
        timeout 5 bash -c "exec 3<>/dev/tcp/$GW/$OTHER_PORT && head -1 <&3"
    assert_eq "$output" "hello" "control: plain runc reaches the listener on port $OTHER_PORT"
}

@test "runc: HOME, the person's workspace, /tmp, venv and pip, npm, a C program with threads, signals and the clone filter" {
    tools_work runc
}

@test "gVisor: HOME, the person's workspace, /tmp, venv and pip, npm, a C program with threads, signals and the clone filter" {
    command -v runsc >/dev/null || skip "runsc is not installed (Debian package runsc)"
    tools_work gvisor
}

@test "runc: git over a domain name through the DNS guard, HTTPS from curl, Python and Node with the test's CA; other names and ports denied" {
    network_works runc
}

@test "gVisor: git over a domain name through the DNS guard, HTTPS from curl, Python and Node with the test's CA; other names and ports denied" {
    command -v runsc >/dev/null || skip "runsc is not installed (Debian package runsc)"
    network_works gvisor
}

@test "only a person's id is taken from --user: root, system and nobody ids become the profile's user" {
    local u
    for u in 0:0 999:999 "$PERSON:0" 65534:65534 70000:70000; do
        run_podman run --rm --name "$NAME" --user "$u" "$AGENT_IMAGE" sh -c 'echo $(id -u):$(id -g)'
        assert_eq "$output" "65534:65534" "--user $u runs as the profile's user"
    done
    run_podman run --rm --name "$NAME" -v "$WORK/proj:/workspace" -w /workspace "$AGENT_IMAGE" \
        sh -c 'touch /workspace/x 2>&1; echo rc=$?'
    assert_contains "$output" "rc=1" "without --user the person's 0755 workspace is not writable (documented)"
}

@test "an image whose /tmp is 0755 still gives the agent a writable /tmp and HOME, under runc and gVisor" {
    local rt
    # The busybox test image with /tmp 0755 (runc gives a tmpfs the mode of
    # the directory beneath, whatever mode= says).
    build_rootfs_tar "$WORK/bb.tar" || die "cannot build the busybox rootfs"
    mkdir "$WORK/img"
    tar -C "$WORK/img" -xf "$WORK/bb.tar"
    chmod 755 "$WORK/img/tmp"
    tar -C "$WORK/img" -cf "$WORK/bb755.tar" .
    run_cmd podman import --change 'CMD ["/bin/sh"]' "$WORK/bb755.tar" "localhost/$NAME-img"
    run_cmd podman --runtime runc run --rm --name "$NAME-runc" "localhost/$NAME-img" stat -c %a /tmp
    assert_eq "$output" "755" "control: the image's own /tmp is 0755"
    for rt in runc gvisor; do
        if [ "$rt" = gvisor ] && ! command -v runsc >/dev/null; then
            continue
        fi
        run_podman run --rm --name "$NAME" --annotation run.corral.runtime="$rt" "localhost/$NAME-img" \
            sh -c 'id -u; echo x >/tmp/f && echo tmp-ok; echo x >"$HOME/f" && echo "home-ok $HOME"'
        assert_eq "$output" $'65534\ntmp-ok\nhome-ok /home/agent' "$rt: the agent writes /tmp and its HOME"
    done
}
