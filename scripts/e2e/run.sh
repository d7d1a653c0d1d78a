#!/usr/bin/env bash
# run.sh - the Docker end-to-end suites, with the engine and swarm set up once for all:
# scripts-e2e.sh (the bundled deploy scripts by hand) and beside it, one after the other,
# hookrun-e2e.sh (the deploy path through hookrun), then history-e2e.sh (history, rollback,
# pause) with notify-e2e.sh (mail and DingTalk messages) in parallel, then image-e2e.sh (the
# container image, on base images cached in /var/cache/hookrun-e2e), all with distinct
# services, containers, registries and ports; then daemon-e2e.sh alone (it restarts dockerd).
# Stops what it started.
# Usage: scripts/e2e/run.sh [HOOKRUN_BINARY]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=env.sh
source "$here/env.sh"

if [ "$(id -u)" -ne 0 ]; then
  echo "!!! e2e: the Docker end-to-end tests need root; they were NOT RUN" >&2
  exit 1
fi

logs="$(mktemp -d "${TMPDIR:-/tmp}/hookrun-e2e-run.XXXXXX")"
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  set +e
  e2e_swarm_leave
  e2e_dockerd_stop
  rm -rf -- "$logs"
}
trap cleanup EXIT

e2e_dockerd_start 120
e2e_swarm_init

# suite NAME COMMAND...: run a suite in the background, its output in $logs/NAME
suite() {
  local name="$1" start=$SECONDS rc=0
  shift
  "$@" >"$logs/$name" 2>&1 || rc=$?
  echo "$rc $(( SECONDS - start )) $(( start - run_start ))" >"$logs/$name.rc"
}
report() {
  local rc t at
  read -r rc t at <"$logs/$1.rc"
  echo "--- $2 (${t}s from ${at}s on, exit $rc)"
  cat -- "$logs/$1"
  [ "$rc" -eq 0 ]
}

status=0
run_start=$SECONDS
# scripts-e2e.sh takes longer than the four after it (its series of 20 deploys with the default
# settle time alone takes over 500 s): history-e2e.sh and notify-e2e.sh start when
# hookrun-e2e.sh ends (history's ports are drawn from hookrun's ranges), then image-e2e.sh, all
# still beside scripts-e2e.sh, whose ports (15500, 18100-18600), services, containers and
# registry are its own (named after its process id); image-e2e.sh's are hookrun-e2e-image-web,
# hookrun-e2e-rancher, hookrun-e2e-swarm, the stack hookrun-e2e-stack and ports from 27000 on.
# None of them leaves or re-initialises the swarm run.sh made.
suite scripts bash "$here/scripts-e2e.sh" &
scripts=$!
suite hookrun bash "$here/hookrun-e2e.sh" "$@"
report hookrun "the deploy path through hookrun" || status=1
suite history bash "$here/history-e2e.sh" "$@" &
first=$!
suite notify bash "$here/notify-e2e.sh" "$@" &
second=$!
wait "$first" || true
wait "$second" || true
report history "deploy history, rollback and pause through hookrun" || status=1
report notify "deploy notifications: mail and DingTalk" || status=1
suite image bash "$here/image-e2e.sh"
report image "the container image: built from the Dockerfile, run as Rancher's image, next to Swarm, as a stack" || status=1
wait "$scripts" || true
report scripts "deploy scripts, driven directly" || status=1
suite daemon bash "$here/daemon-e2e.sh"
report daemon "Docker daemon restarts during deploys (alone: it restarts dockerd)" || status=1
echo "--- e2e: $(( SECONDS - run_start ))s in all"
exit "$status"
