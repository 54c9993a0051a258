#!/usr/bin/env bash
# Runs one container with gorae and prints what it sees: its hostname, its
# processes (itself as pid 1) and its user.
set -euo pipefail
gorae=$(realpath "$1")
work=$(mktemp -d /tmp/gorae-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$(dirname "$0")/busybox-bundle.sh" "$work/bundle" sh -c \
  'echo "hostname: $(hostname)"; echo "id:       $(id)"; echo "processes:"; ps -o pid,user,args; exit 0'
echo "\$ gorae run demo   (bundle: busybox rootfs, config.json from scripts/busybox-bundle.sh)"
"$gorae" --root "$work/state" run --bundle "$work/bundle" demo
