#!/usr/bin/env bash
# Installs the Debian packages the tests and the demo need, when missing.
set -euo pipefail

need=()
# A static busybox: the test containers have no libc.
if ! dpkg -s busybox-static >/dev/null 2>&1; then
  need+=(busybox-static)
fi
# newuidmap/newgidmap: rootless containers with /etc/subuid ranges.
if ! dpkg -s uidmap >/dev/null 2>&1; then
  need+=(uidmap)
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "deps: need root to install ${need[*]}" >&2
    exit 1
  fi
  echo "deps: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
