#!/usr/bin/env bash
# embed-common.sh - copy the "BEGIN/END hookrun-common" block of scripts/lib/common.sh into the
# deployment scripts, or check that they agree. This is the only way the scripts get their
# shared code: each carries the block verbatim (an installed script is one self-contained
# file, and nothing is sourced at run time); lib/common.sh is where the block is edited.
# scripts/test runs --check right after shellcheck.
#
# Usage: embed-common.sh [--check]
#   --check   change nothing; exit 1 and name the scripts whose embedded copy differs (or that
#             have no block)
set -euo pipefail

dir="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
lib="$dir/lib/common.sh"
scripts=("$dir/swarm-update.sh" "$dir/kubectl-set-image.sh" "$dir/container-swap.sh")
check=0
case "${1:-}" in
  "") ;;
  --check) check=1 ;;
  -h | --help) sed -n '2,/^set /{/^set /d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
  *) echo "embed-common.sh: unknown argument (try --help)" >&2; exit 2 ;;
esac

block() {
  sed -n '/^# BEGIN hookrun-common$/,/^# END hookrun-common$/p' -- "$1"
}

want="$(block "$lib")"
[[ -n "$want" ]] || { echo "embed-common.sh: no block in $lib" >&2; exit 1; }
status=0
for s in "${scripts[@]}"; do
  if [[ ! -f "$s" ]] || ! grep -qx '# BEGIN hookrun-common' -- "$s"; then
    echo "no embedded common block in $s" >&2
    status=1
    continue
  fi
  if [[ "$(block "$s")" == "$want" ]]; then
    continue
  fi
  if (( check )); then
    echo "embedded common block differs: $s" >&2
    status=1
    continue
  fi
  tmp="$(mktemp "$s.XXXXXX")"
  awk -v libfile="$lib" '
    /^# BEGIN hookrun-common$/ {
      while ((getline line < libfile) > 0) {
        if (line == "# BEGIN hookrun-common") copying = 1
        if (copying) print line
        if (line == "# END hookrun-common") copying = 0
      }
      close(libfile)
      skipping = 1
      next
    }
    skipping && /^# END hookrun-common$/ { skipping = 0; next }
    !skipping { print }
  ' "$s" >"$tmp"
  chmod --reference="$s" "$tmp"
  mv -- "$tmp" "$s"
  echo "updated the embedded common block in $s"
done
exit "$status"
