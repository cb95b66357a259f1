#!/usr/bin/env bash
# Checks deploy/caas.service without a running systemd (CI, containers):
#   0. MemoryHigh= and MemoryMax= are both set, MemoryHigh= below MemoryMax=: the other way round
#      the OOM killer ends caas before the kernel ever reclaims or throttles (needs neither
#      systemd-analyze nor the binary, so it runs first).
#   1. systemd-analyze verify, in a scratch root holding the unit, the binary at its ExecStart
#      path (/usr/local/bin/caas, a hard link to dist/caas), /bin/kill for ExecReload and the
#      distribution's own units (verify resolves sysinit.target and friends). Any warning fails.
#   2. systemd-analyze security --offline=true: the exposure score must be at most $MAX_SCORE.
# Usage: deploy/check-unit.sh [path/to/caas]   (default dist/caas; `bun run build` makes it)
set -euo pipefail
cd "$(dirname "$0")/.."

UNIT=${UNIT:-deploy/caas.service}
BINARY=${1:-dist/caas}
MAX_SCORE=${MAX_SCORE:-2.0}

# The last assignment wins in systemd, so the last line is the one read.
memory_setting() { sed -n "s/^$1=[[:space:]]*//p" "$UNIT" | tail -n 1; }
# Bytes of a size as systemd reads it (K, M, G, T are powers of 1024); fails on anything else
# (a percentage, infinity), which this check does not compare.
to_bytes() {
  [[ $1 =~ ^([0-9]+)([KMGT]?)$ ]] || return 1
  local shift=0
  case ${BASH_REMATCH[2]} in K) shift=10 ;; M) shift=20 ;; G) shift=30 ;; T) shift=40 ;; esac
  echo $((BASH_REMATCH[1] << shift))
}
high=$(memory_setting MemoryHigh)
max=$(memory_setting MemoryMax)
[ -n "$high" ] && [ -n "$max" ] || { echo "check-unit: $UNIT needs both MemoryHigh= and MemoryMax=" >&2; exit 1; }
high_bytes=$(to_bytes "$high") && max_bytes=$(to_bytes "$max") ||
  { echo "check-unit: MemoryHigh=$high, MemoryMax=$max: give both as a number with K, M, G or T" >&2; exit 1; }
(( high_bytes < max_bytes )) || { echo "check-unit: MemoryHigh=$high must be below MemoryMax=$max" >&2; exit 1; }
echo "memory: MemoryHigh=$high below MemoryMax=$max"

command -v systemd-analyze >/dev/null || { echo "check-unit: systemd-analyze not found (apt-get install systemd)" >&2; exit 1; }
[ -x "$BINARY" ] || { echo "check-unit: $BINARY is missing; run 'bun run build' first" >&2; exit 1; }
echo "$(systemd-analyze --version | head -n 1)"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/local/bin" "$root/usr/bin" "$root/usr/lib/systemd" "$root/etc/systemd/system"
ln -s usr/bin "$root/bin"
ln "$BINARY" "$root/usr/local/bin/caas" 2>/dev/null || cp "$BINARY" "$root/usr/local/bin/caas"
cp /bin/kill "$root/usr/bin/kill"
cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
cp "$UNIT" "$root/etc/systemd/system/caas.service"

# verify exits 0 on some findings (an unknown key is only "ignoring"), so any output fails too.
verify_output=$(systemd-analyze verify --root="$root" caas.service 2>&1) || { echo "$verify_output" >&2; echo "check-unit: verify FAILED" >&2; exit 1; }
if [ -n "$verify_output" ]; then
  echo "$verify_output" >&2
  echo "check-unit: verify printed warnings" >&2
  exit 1
fi
echo "verify: ok"

security_output=$(systemd-analyze security --offline=true "$UNIT" 2>&1)
score=$(printf '%s\n' "$security_output" | sed -n 's/.*Overall exposure level for caas.service: \([0-9.]*\).*/\1/p')
[ -n "$score" ] || { echo "$security_output" >&2; echo "check-unit: no score in the output" >&2; exit 1; }
printf '%s\n' "$security_output" | grep -E '^✗' || true
echo "security: exposure $score (at most $MAX_SCORE)"
awk -v score="$score" -v max="$MAX_SCORE" 'BEGIN { exit !(score <= max) }' || { echo "check-unit: exposure $score is above $MAX_SCORE" >&2; exit 1; }
