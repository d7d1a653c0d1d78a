#!/usr/bin/env bash
# history-e2e.sh - deploy history, rollback and pause through hookrun on a real Docker engine, a
# real Swarm and a real registry, with swarm-update.sh writing its HOOKRUN_RESULT:
#   - deploy v1, v2 (good), v3 (bad: swarm-update.sh rolls it back by itself, job failed);
#   - GET /deploys/swarm:e2e-hist lists the three with image before → after;
#   - POST /deploys/swarm:e2e-hist/rollback → a new job reruns v1's deploy → the service runs
#     v1's digest and answers v1; the rollback is a deploy record of its own;
#   - pause the hook, push v2 → answered "paused", no job, the service stays on v1; resume →
#     push v2 → deployed;
#   - the history survives a restart of hookrun.
# Prints one line per check and "N passed, M failed"; exits non-zero on any failure. Cleans up
# everything it started. Needs root, Docker (docker.io), docker-registry, busybox-static, curl, jq.
#
# Usage: scripts/e2e/history-e2e.sh [HOOKRUN_BINARY]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
hookrun="${1:-$repo/target/debug/hookrun}"
# shellcheck source-path=SCRIPTDIR source=env.sh
source "$here/env.sh"

# shellcheck source-path=SCRIPTDIR source=checks.sh
source "$here/checks.sh"

work="$(mktemp -d)"
CHECK_DIR="$work"
# Ports below the kernel's ephemeral range (as hookrun-e2e.sh), apart from notify-e2e.sh's.
rport="$(free_port $((20000 + RANDOM % 2000)))"
hport="$(free_port $((22000 + RANDOM % 2000)))"
sport="$(free_port $((24000 + RANDOM % 2000)))"
reg="127.0.0.1:$rport"
repo_name="hookrun-e2e/hist"
service="e2e-hist"
target="swarm:$service"
token="e2e-token"
admin="e2e-admin-token-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
hook_pid=""

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  set +e
  docker service rm "$service" >/dev/null 2>&1
  [ -n "$hook_pid" ] && kill "$hook_pid" 2>/dev/null && wait "$hook_pid" 2>/dev/null
  e2e_registry_stop "$rport"
  rm -rf -- "$work"
}
trap cleanup EXIT

if [ "$(id -u)" -ne 0 ] || ! command -v dockerd >/dev/null 2>&1; then
  echo "!!! history-e2e: Docker end-to-end tests need root and docker.io; NOT RUN" >&2
  exit 1
fi

cat >"$work/hooks.json" <<JSON
[
  {
    "id": "deploy-hist",
    "execute-command": "$repo/scripts/swarm-update.sh",
    "pass-arguments-to-command": [
      { "source": "string", "name": "--service" }, { "source": "string", "name": "$service" },
      { "source": "string", "name": "--timeout" }, { "source": "string", "name": "60" }
    ],
    "registry-event": "custom",
    "concurrency": "latest",
    "command-timeout": "5m",
    "success-http-response-code": 202,
    "trigger-rule": { "match": { "type": "value", "value": "$token",
      "parameter": { "source": "url", "name": "token" } } },
    "trigger-rule-mismatch-http-response-code": 403
  }
]
JSON
printf '%s\n' "$admin" >"$work/admin-token"
base="http://127.0.0.1:$hport"

start_hookrun() {
  "$hookrun" -hooks "$work/hooks.json" -ip 127.0.0.1 -port "$hport" -state "$work/state" \
    -admin-token-file "$work/admin-token" -verbose >>"$work/hookrun.log" 2>&1 &
  hook_pid=$!
  e2e_wait_http "$base/" OK 10
}
stop_hookrun() {
  kill "$hook_pid"
  wait "$hook_pid" || true
  hook_pid=""
}
start_hookrun

e2e_build_images "$repo_name"
e2e_registry_start "$rport"
d1="$(e2e_push "$repo_name:v1" "$reg/$repo_name:v1")"
d2="$(e2e_push "$repo_name:v2" "$reg/$repo_name:v2")"
e2e_push "$repo_name:v3" "$reg/$repo_name:v3" >/dev/null
docker service create --detach=false --quiet --name "$service" --with-registry-auth \
  --publish "mode=host,target=8080,published=$sport" "$reg/$repo_name:v1@$d1" >/dev/null
e2e_wait_http "http://127.0.0.1:$sport/" v1 60 >/dev/null

service_digest() {
  docker service inspect "$service" --format '{{.Spec.TaskTemplate.ContainerSpec.Image}}' | sed 's/.*@//'
}
on_digest() { [ "$(service_digest)" = "$1" ]; }
answers() { [ "$(curl -fsS --max-time 2 "http://127.0.0.1:$sport/" 2>/dev/null)" = "$1" ]; }
push() { # push TAG: the CI delivery of TAG; prints the job id, the status goes to $work/status
  curl -sS -o "$work/body" -D "$work/headers" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary "{\"image\":\"$reg/$repo_name:$1\"}" "$base/hooks/deploy-hist?token=$token" >"$work/status"
  tr -d '\r' <"$work/headers" | sed -n 's/^[Hh]ookrun-[Jj]ob-[Ii]d: //p'
}
admin_api() { # admin_api METHOD PATH: the admin API with the bearer token
  curl -fsS -X "$1" -H "Authorization: Bearer $admin" "$base$2"
}
job_field() { curl -fsS "$base/jobs/$1" | jq -r ".$2"; }
wait_job() { # wait_job ID: until the job has ended
  local i
  for ((i = 0; i < 360; i++)); do
    case "$(job_field "$1" state)" in queued | running) sleep 0.5 ;; *) return 0 ;; esac
  done
  return 1
}
succeeded_on() { # succeeded_on JOB DIGEST: the job succeeded and the service runs DIGEST
  [ "$(job_field "$1" state)" = succeeded ] && on_digest "$2"
}

# --- v1 and v2 good; v3 bad, rolled back by swarm-update.sh ----------------------------------
j1="$(push v1)"
wait_job "$j1"
j2="$(push v2)"
wait_job "$j2"
check "v2 deployed (job succeeded, the service on v2's digest)" succeeded_on "$j2" "$d2"
j3="$(push v3)"
wait_job "$j3"
check "v3 failed and swarm-update.sh rolled it back (exit 3)" \
  test "$(job_field "$j3" state)/$(job_field "$j3" exit_code)" = failed/3
check "the service still runs v2's digest" on_digest "$d2"

admin_api GET "/deploys/$target" >"$work/deploys.json"
check "GET /deploys/$target lists v3, v2 and v1, newest first" \
  test "$(jq -r '[.deploys[].job_id] | join(" ")' "$work/deploys.json")" = "$j3 $j2 $j1"
check "the v3 deploy is recorded as rolled back" \
  test "$(jq -r '.deploys[0].rolled_back' "$work/deploys.json")" = true
# shellcheck disable=SC2016 # $d is jq's variable
check "the v2 deploy names the image before (v1) and after (v2's digest)" \
  jq -e --arg d "$d2" '.deploys[1] | (.image_before | test(":v1")) and (.image_after | contains($d))' \
  "$work/deploys.json"

# --- roll back from the API: the newest good deploy of another image than v2's, i.e. v1 --------
rb="$(admin_api POST "/deploys/$target/rollback" | jq -r .job)"
wait_job "$rb"
check "the rollback job reran v1's deploy and succeeded" \
  test "$(job_field "$rb" state)/$(job_field "$rb" trigger.of)" = "succeeded/$j1"
check "after the rollback the service runs v1's digest" on_digest "$d1"
e2e_wait_http "http://127.0.0.1:$sport/" v1 60 >/dev/null || true
check "after the rollback the service answers v1" answers v1
check "the rollback is a deploy record of its own (rollback_of: v1's job)" \
  test "$(admin_api GET "/deploys/$target" | jq -r '.deploys[0] | "\(.job_id) \(.rollback_of)"')" = "$rb $j1"

# --- pause: a push runs nothing, also after a restart; resume: the next push deploys ----------
admin_api POST /admin/hooks/deploy-hist/pause >/dev/null
paused_job="$(push v2)"
check "a push to the paused hook is answered 200 'paused' and starts no job" \
  test "$(cat "$work/status")/${paused_job:-none}/$(grep -c paused "$work/body")" = 200/none/1
sleep 3
check "the paused hook deployed nothing: still v1's digest" on_digest "$d1"
stop_hookrun
start_hookrun
check "after a restart of hookrun the hook is still paused" \
  test "$(admin_api GET /admin/hooks | jq -r '.hooks[0].paused != null')" = true
check "after a restart the deploy history is all there (4 deploys)" \
  test "$(admin_api GET "/deploys/$target" | jq '.deploys | length')" = 4
admin_api POST /admin/hooks/deploy-hist/resume >/dev/null
j4="$(push v2)"
wait_job "$j4"
check "after resume a push of v2 deploys it" succeeded_on "$j4" "$d2"

printf '%s passed, %s failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
