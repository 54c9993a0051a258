#!/usr/bin/env bash
# Fails when a test run left anything behind: test directories (state dirs,
# bundles), mounts, processes running in a test rootfs, cgroups named for
# gorae, network interfaces the tests made.
set -u
cd "$(dirname "$0")/.."
leaks=()

# Tests work under cargo's target/<triple>/tmp (target/tmp before the
# workspace built for an explicit target).
for tests_dir in "$PWD"/target/tmp/gorae-tests "$PWD"/target/*/tmp/gorae-tests; do
  if [ -d "$tests_dir" ] && [ -n "$(ls -A "$tests_dir")" ]; then
    leaks+=("test directories (state dirs, bundles): $(ls "$tests_dir" | head -5 | tr '\n' ' ')")
  fi
done
mounts=$(awk '{print $5}' /proc/self/mountinfo | grep -E 'gorae' | head -5)
[ -n "$mounts" ] && leaks+=("mounts: $(echo $mounts)")
# Every gorae container has a cgroup under a "gorae" parent by default (the
# tests set no cgroupsPath), so its processes are found by their cgroup.
# Zombies are skipped: they hold nothing, and reaping them is the job of
# their parent (a container init whose `create` exited is reparented to
# PID 1, which on some machines reaps only every few seconds).
procs=""
for p in /proc/[0-9]*; do
  grep -q ':/gorae/' "$p/cgroup" 2>/dev/null || continue
  grep -q '^State:.*Z' "$p/status" 2>/dev/null && continue
  procs+="${p#/proc/} "
done
stray=$(ps -eo pid=,args= | grep -E '[g]orae (create|start|run|exec)' | awk '{print $1}' | tr '\n' ' ')
procs+=$stray
[ -n "${procs// /}" ] && leaks+=("processes: $procs")
cgroups=$(find /sys/fs/cgroup -type d -name '*gorae*' 2>/dev/null | head -5)
[ -n "$cgroups" ] && leaks+=("cgroups: $(echo $cgroups)")
# The netDevices tests name the interfaces they make gtst<N>.
links=$(ls /sys/class/net | grep '^gtst' | head -5)
[ -n "$links" ] && leaks+=("network interfaces: $(echo $links)")

if [ ${#leaks[@]} -gt 0 ]; then
  echo "leak check: FAILED, the test run left:" >&2
  printf '  %s\n' "${leaks[@]}" >&2
  exit 1
fi
echo "leak check: nothing left behind (test dirs, mounts, processes, cgroups, interfaces)"
