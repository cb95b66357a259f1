#!/usr/bin/env bash
# Checks deploy/caas.service without a running systemd (CI, containers):
#   1. systemd-analyze verify, in a scratch root holding the unit, the binary at its ExecStart
#      path (/usr/local/bin/caas, a hard link to dist/caas), /bin/kill for ExecReload and the
#      distribution's own units (verify resolves sysinit.target and friends). Any warning fails.
#   2. systemd-analyze security --offline=true: the exposure score must be at most $MAX_SCORE.
# Usage: deploy/check-unit.sh [path/to/caas]   (default dist/caas; `bun run build` makes it)
set -euo pipefail
cd "$(dirname "$0")/.."

UNIT=deploy/caas.service
BINARY=${1:-dist/caas}
MAX_SCORE=${MAX_SCORE:-2.0}

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
