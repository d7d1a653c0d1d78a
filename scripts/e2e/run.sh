#!/usr/bin/env bash
# run.sh - the Docker end-to-end suites, with the engine and swarm set up once for all:
# scripts-e2e.sh (the bundled deploy scripts by hand), hookrun-e2e.sh (the deploy path
# through hookrun) and notify-e2e.sh (its mail and DingTalk messages). Stops what it started.
# Usage: scripts/e2e/run.sh [HOOKRUN_BINARY]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=env.sh
source "$here/env.sh"

if [ "$(id -u)" -ne 0 ]; then
  echo "!!! e2e: the Docker end-to-end tests need root; they were NOT RUN" >&2
  exit 1
fi

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  set +e
  e2e_swarm_leave
  e2e_dockerd_stop
}
trap cleanup EXIT

e2e_dockerd_start 120
e2e_swarm_init

status=0
echo "--- deploy scripts, driven directly"
bash "$here/scripts-e2e.sh" || status=1
echo "--- the deploy path through hookrun"
bash "$here/hookrun-e2e.sh" "$@" || status=1
echo "--- deploy history, rollback and pause through hookrun"
bash "$here/history-e2e.sh" "$@" || status=1
echo "--- deploy notifications: mail and DingTalk"
bash "$here/notify-e2e.sh" "$@" || status=1
exit "$status"
