#!/usr/bin/env bash
# Installs the runtimes the benchmarks compare gorae with, when missing:
# Debian's runc and crun. youki is not packaged; it is benchmarked only when
# a `youki` binary is on PATH.
set -euo pipefail

need=()
for runtime in runc crun; do
  command -v "$runtime" >/dev/null 2>&1 || need+=("$runtime")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "bench deps: need root to install ${need[*]}" >&2
    exit 1
  fi
  echo "bench deps: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
