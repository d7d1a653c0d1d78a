#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
#
# daemon-e2e.sh - Docker daemon restarts during deploys, on the real engine:
#   - a start-first container swap whose daemon restarts during the check: the script waits for
#     the engine, checks the new container again and finishes (exit 0);
#   - a stop-first swap whose daemon stays away longer than --daemon-timeout: exit 4, leftovers;
#     the next run proves they are its own, rolls that swap back and does its deploy;
#   - a Swarm service update whose daemon restarts during the check: finished on the exact
#     digest.
# It restarts dockerd, so it runs alone (run.sh runs it after the other suites), and only a
# dockerd that env.sh started (dockerd.ours in $E2E_STATE_DIR); with any other dockerd it fails
# saying so (E2E_DAEMON_SKIP=1 makes that a skip). Prints one line per check and
# "N passed, M failed"; cleans up what it created.
#
# Usage: scripts/e2e/daemon-e2e.sh
set -euo pipefail

here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
scripts="$(cd -- "$here/.." && pwd)"
# shellcheck source=env.sh
source "$here/env.sh"
# shellcheck source=checks.sh
source "$here/checks.sh"
run_id="hrd$$"
work="$(mktemp -d "${TMPDIR:-/tmp}/hookrun-daemon-e2e.XXXXXX")"
CHECK_DIR="$work"

cleanup() {
  local rc=$? c
  set +e
  docker service rm "$run_id-svc" >/dev/null 2>&1
  for c in $(docker ps -aq --filter "name=$run_id" 2>/dev/null); do
    docker rm -f "$c" >/dev/null 2>&1
  done
  sleep 1
  docker network rm "$run_id-net" >/dev/null 2>&1
  [[ -n "${rport:-}" ]] && e2e_registry_stop "$rport"
  rm -rf -- "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ ! -f "$E2E_STATE_DIR/dockerd.ours" ]] || ! docker info >/dev/null 2>&1; then
  if [[ "${E2E_DAEMON_SKIP:-0}" == 1 ]]; then
    echo "SKIP the daemon-restart scenarios: the dockerd here was not started by env.sh (E2E_STATE_DIR=$E2E_STATE_DIR)"
    exit 0
  fi
  echo "FAIL the daemon-restart scenarios need a dockerd started by env.sh in E2E_STATE_DIR=$E2E_STATE_DIR (run scripts/e2e/run.sh), to restart it"
  exit 1
fi

# swarm_ready: after a restart the swarm manager needs a moment
swarm_ready() {
  local i
  for (( i = 0; i < 120; i++ )); do
    docker node ls >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  return 1
}

app="hookrun-e2e/daemon"
e2e_build_images "$app"
rport="$(free_port 15700)"
e2e_registry_start "$rport"
reg="127.0.0.1:$rport/$run_id/app"
declare -A dig=()
for v in v1 v2; do
  dig[$v]="$(e2e_push "$app:$v" "$reg:$v")"
done
rf="$work/result"
net="$run_id-net"
docker network create "$net" >/dev/null

# --- 1. start-first swap, daemon restart during the check ------------------------------------
a="$run_id-a"
docker run -d --name "$a" --network "$net" --network-alias app --restart unless-stopped "$reg:v1" >/dev/null
bg_run 1 env HOOKRUN_RESULT="$rf" "$scripts/container-swap.sh" --container "$a" --image "$reg:v2"
pid=$BG_PID
wait_log "$CHECK_DIR/1.err" "swapping $a"
# The restart must fall in the new container's check (its 15 s settle window), which begins once
# the script has started that container. A fixed 3 s after "swapping" missed it on a loaded
# machine, where the start alone took longer (the swap then rolled back, exit 3): wait for the
# container to run, then 2 s more, for the script's `docker start` to have returned.
for (( i = 0; i < 120; i++ )); do
  [[ "$(docker inspect --format '{{.State.Running}}' "$a-hookrun-new" 2>/dev/null)" == true ]] && break
  sleep 0.5
done
sleep 2
e2e_dockerd_restart 0
rc=0
wait "$pid" || rc=$?
cat "$CHECK_DIR/1.err" "$CHECK_DIR/1.out" >"$CHECK_DIR/last.log"
cp "$CHECK_DIR/1.out" "$CHECK_DIR/stdout.log"
check "daemon restart during a start-first swap's check: the swap finishes (exit $rc)" eq 0 "$rc"
check "... the script saw the engine unreachable, not the container gone" grep -q "the Docker engine is unreachable" "$CHECK_DIR/1.err"
check "... and checked the new container again" grep -q "checking again from the start" "$CHECK_DIR/1.err"
check "... $a runs v2 by its digest" eq "$reg:v2@${dig[v2]}" "$(docker inspect --format '{{.Config.Image}}' "$a")"
check "... and answers v2" exec_http_is "$a" v2
check "... no temporary container is left" eq "" "$(docker ps -a --format '{{.Names}}' --filter "name=^$a-hookrun")"
check "... the result says updated" result_is "$rf" "target=container:$a" status=updated "digest=${dig[v2]}"

# --- 2. stop-first swap, daemon away longer than --daemon-timeout; the next run recovers ------
b="$run_id-b"
bport="$(free_port 18700)"
docker run -d --name "$b" -p "127.0.0.1:$bport:8080" --restart unless-stopped "$reg:v1" >/dev/null
check "$b answers v1 on port $bport" http_is "$bport" v1
bg_run 2 env HOOKRUN_RESULT="$rf" "$scripts/container-swap.sh" --container "$b" --image "$reg:v2" --daemon-timeout 3
pid=$BG_PID
wait_log "$CHECK_DIR/2.err" "swapping $b"
sleep 3
e2e_dockerd_restart 10
rc=0
wait "$pid" || rc=$?
cat "$CHECK_DIR/2.err" "$CHECK_DIR/2.out" >"$CHECK_DIR/last.log"
check "daemon away for 10 s with --daemon-timeout 3: the swap gives up (exit $rc)" eq 4 "$rc"
check "... saying the engine was unreachable and that the next run rolls back or completes it" \
  contains "the next run of container-swap.sh for $b rolls back or completes this swap" "$(cat "$CHECK_DIR/2.out")"
check "... the result says failed" result_is "$rf" "target=container:$b" status=failed rolled_back=false exit_code=4
check "... and $b-hookrun-old is left" docker inspect "$b-hookrun-old"
expect_rc 0 "the next run proves the leftovers are its own, rolls that swap back and swaps" \
  env HOOKRUN_RESULT="$rf" "$scripts/container-swap.sh" --container "$b" --image "$reg:v2"
check "... it said so" contains "rolling back an interrupted swap" "$(out)"
check "... port $bport answers v2" http_is "$bport" v2
check "... $b runs v2 by its digest" eq "$reg:v2@${dig[v2]}" "$(docker inspect --format '{{.Config.Image}}' "$b")"
check "... no temporary container is left" eq "" "$(docker ps -a --format '{{.Names}}' --filter "name=^$b-hookrun")"
check "... the result says updated from v1" result_is "$rf" status=updated "image_before=$reg:v1" "digest=${dig[v2]}"

# --- 3. swarm update, daemon restart during the check -----------------------------------------
check "the swarm manager is back" swarm_ready
svc="$run_id-svc"
sport="$(free_port 18750)"
docker service create --detach --quiet --name "$svc" --publish "mode=host,published=$sport,target=8080" \
  --update-monitor 2s --stop-grace-period 3s "$reg:v1@${dig[v1]}" >/dev/null
check "service $svc answers v1" http_is "$sport" v1
bg_run 3 env HOOKRUN_RESULT="$rf" "$scripts/swarm-update.sh" --service "$svc" --image "$reg:v2" --timeout 180
pid=$BG_PID
wait_log "$CHECK_DIR/3.err" "updating service"
sleep 5
e2e_dockerd_restart 0
rc=0
wait "$pid" || rc=$?
cat "$CHECK_DIR/3.err" "$CHECK_DIR/3.out" >"$CHECK_DIR/last.log"
check "daemon restart during a swarm update's check: the update finishes (exit $rc)" eq 0 "$rc"
check "... the script waited for the engine" grep -q "the Docker engine is unreachable" "$CHECK_DIR/3.err"
check "... the spec pins v2's digest" eq "$reg:v2@${dig[v2]}" "$(docker service inspect --format '{{.Spec.TaskTemplate.ContainerSpec.Image}}' "$svc")"
check "... and the service answers v2" http_is "$sport" v2
check "... the result says updated" result_is "$rf" "target=swarm:$svc" status=updated "digest=${dig[v2]}"

printf '%s passed, %s failed\n' "$passed" "$failed"
(( failed == 0 ))
