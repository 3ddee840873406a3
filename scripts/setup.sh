#!/bin/bash
# One command from a fresh Debian 12 machine to a working corral: install the
# dependencies, build, install, and show an agent container being confined.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "setup.sh: run as root (corral is a container runtime)" >&2; exit 1; }
scripts/install-deps.sh
./autogen.sh
./configure --prefix=/usr/local --sysconfdir=/etc --localstatedir=/var
make -j"$(nproc)"
make install
scripts/demo.sh
