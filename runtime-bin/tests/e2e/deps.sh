#!/usr/bin/env bash
# Installs what `make test-e2e` needs from Debian, when missing: the engines
# (containerd with its runc shim and ctr, podman with conmon, docker.io),
# runc (the reference runtime: E2E_RUNTIME=$(which runc)), busybox-static
# (the test image) and util-linux's `script` (tty scenarios).
# Package scripts are kept from starting any daemon: the tests start their
# own, on private sockets and directories.
set -euo pipefail

need=()
for pkg in containerd podman conmon docker.io runc busybox-static bsdutils; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "e2e deps: need root to install ${need[*]}" >&2
  exit 1
fi
policy=/usr/sbin/policy-rc.d
made_policy=
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod +x "$policy"
  made_policy=1
fi
trap '[ -n "$made_policy" ] && rm -f "$policy"' EXIT
echo "e2e deps: installing ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
