#!/usr/bin/env bash
# Runs the conformance suite against the release gorae and fails when a
# check fails that conformance/known-failures.txt does not list: a
# regression. Used by `make test`: conformance-check.sh SUITE GORAE.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=${1:?usage: conformance-check.sh SUITE GORAE}
gorae=$(realpath "${2:?usage: conformance-check.sh SUITE GORAE}") || exit 2
mkdir -p target/conformance
tap=target/conformance/gorae-check.tap
"$bin" --runtime "$gorae" > "$tap"
grep -qE '^[0-9]+ passed' "$tap" || { echo "conformance: the suite did not run to the end" >&2; exit 1; }
failing=$(grep -A3 '^not ok' "$tap" | sed -n 's/^  id: "\(.*\)"$/\1/p' | sort -u)
known=$(grep -v '^#' conformance/known-failures.txt | awk 'NF {print $1}' | sort -u)
new=$(comm -23 <(echo "$failing") <(echo "$known") | grep -v '^$')
fixed=$(comm -13 <(echo "$failing") <(echo "$known") | grep -v '^$')
echo "conformance (gorae): $(grep -E '^[0-9]+ passed' "$tap")"
[ -n "$fixed" ] && echo "conformance: now passing, remove from known-failures.txt: $fixed"
if [ -n "$new" ]; then
  echo "conformance: FAILED, checks that used to pass:" >&2
  grep -B1 -A8 '^not ok' "$tap" >&2
  exit 1
fi
exit 0
