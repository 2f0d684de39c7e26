#!/usr/bin/env bash
# Start-up time of the `switchyard` CLI as a user runs it, against the floors of starting Node at all
# and of npx itself (`npx node -e 0`: npm on the system Node finding a local bin): the median of RUNS
# runs of each command, the commands interleaved so that load on the machine falls on all of them
# alike, and the number of `npm warn` lines each command printed.
#
#   bench/cli-startup.sh                     # this checkout
#   bench/cli-startup.sh /tmp/base .         # a base checkout (with its own node_modules) and this one
#
# Run it after `npm ci` (which builds dist/); RUNS=9 for more runs.
set -euo pipefail
runs=${RUNS:-5}
roots=("$@")
((${#roots[@]})) || roots=(.)

commands=(
  'node -e 0'
  'node_modules/.bin/node -e 0'
  'npx node -e 0'
  'npx switchyard --version'
  'npx switchyard plan --config examples/demo.yaml'
  'npx switchyard status --url http://127.0.0.1:1'
)

# seconds, with millisecond resolution, of one run of "$@" in the current directory
elapsed() {
  local start end
  start=$(date +%s%N)
  "$@" >/dev/null 2>>"$warnings" || true # status fails on purpose: nothing listens on port 1
  end=$(date +%s%N)
  echo $(((end - start) / 1000000))
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%-12s %-50s %10s %8s\n' root command 'median ms' 'npm warn'
for root in "${roots[@]}"; do
  declare -A times=()
  declare -A warned=()
  for ((i = 0; i < runs; i++)); do
    for c in "${commands[@]}"; do
      warnings=$(mktemp)
      # shellcheck disable=SC2086 # each command is a word list
      t=$(cd "$root" && elapsed $c)
      times[$c]+="$t "
      warned[$c]=$((${warned[$c]:-0} + $(grep -c '^npm warn' "$warnings" || true)))
      rm -f "$warnings"
    done
  done
  for c in "${commands[@]}"; do
    printf '%-12s %-50s %10s %8s\n' "$(basename "$(cd "$root" && pwd)")" "$c" \
      "$(tr ' ' '\n' <<<"${times[$c]}" | grep . | median)" "${warned[$c]}"
  done
  unset times warned
done
