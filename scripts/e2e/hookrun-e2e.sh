#!/usr/bin/env bash
# hookrun-e2e.sh - the deploy path end to end, through hookrun, on a real Docker engine, a real
# Swarm and a real registry (Debian's docker-registry), with the bundled scripts:
#   - a push to the registry → its own notification → hookrun → swarm-update.sh → the service
#     runs the pushed digest and answers with the new version; the registry got a 2xx;
#   - Aliyun- and Docker Hub-format deliveries (host overridden to the local registry) do the same;
#   - a broken image → rollback, the service still answers, job failed with exit code 3;
#   - container-swap.sh through a hook: v1 → v2, then broken v3 rolled back;
#   - ten deliveries in a row with concurrency "latest" → at most two deploys, the last one wins;
#   - hostile values → nothing harmful runs (400 from hookrun, or exit 2 from the script);
#   - seed 001's Rancher hook → kubectl-set-image.sh against the recording fake API server.
# Prints one line per check and "N passed, M failed"; exits non-zero on any failure. Cleans up
# everything it started. Needs root, Docker (docker.io), docker-registry, busybox-static, curl, jq.
#
# Usage: scripts/e2e/hookrun-e2e.sh [HOOKRUN_BINARY]
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
# Ports below the kernel's ephemeral range (32768 and up here), where an outgoing connection of
# any process can hold a port a server then cannot bind; a random start keeps the suites that
# run side by side apart, free_port skips one in use.
rport="$(free_port $((20000 + RANDOM % 2000)))"
hport="$(free_port $((22000 + RANDOM % 2000)))"
sport="$(free_port $((24000 + RANDOM % 2000)))"
cport="$(free_port $((29000 + RANDOM % 1500)))"
kport="$(free_port $((30500 + RANDOM % 1500)))"
reg="127.0.0.1:$rport"
repo_name="hookrun-e2e/app"
token="e2e-token"
hook_pid=""

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  set +e
  docker service rm e2e-web >/dev/null 2>&1
  docker rm -f e2e-app >/dev/null 2>&1
  docker ps -aq --filter label=org.hookrun.e2e.swap | xargs -r docker rm -f >/dev/null 2>&1
  [ -n "$hook_pid" ] && kill "$hook_pid" 2>/dev/null && wait "$hook_pid" 2>/dev/null
  e2e_registry_stop "$rport"
  e2e_fake_kube_stop "$kport"
  rm -rf -- "$work"
}
trap cleanup EXIT

if [ "$(id -u)" -ne 0 ] || ! command -v dockerd >/dev/null 2>&1; then
  echo "!!! hookrun-e2e: Docker end-to-end tests need root and docker.io; NOT RUN" >&2
  exit 1
fi

# --- hookrun, with the deploy hooks under test ------------------------------------------------
cat >"$work/hooks.json" <<EOF
[
  {
    "id": "deploy-web",
    "execute-command": "$repo/scripts/swarm-update.sh",
    "pass-arguments-to-command": [
      { "source": "string", "name": "--service" }, { "source": "string", "name": "e2e-web" },
      { "source": "string", "name": "--timeout" }, { "source": "string", "name": "60" }
    ],
    "registry-event": { "provider": "auto", "registry-host": "$reg" },
    "concurrency": "latest",
    "command-timeout": "3m",
    "success-http-response-code": 202,
    "response-message": "queued",
    "trigger-rule": { "match": { "type": "value", "value": "Bearer $token",
      "parameter": { "source": "header", "name": "Authorization" } } },
    "trigger-rule-mismatch-http-response-code": 403
  },
  {
    "id": "swap-app",
    "execute-command": "$repo/scripts/container-swap.sh",
    "pass-arguments-to-command": [
      { "source": "string", "name": "--container" }, { "source": "string", "name": "e2e-app" },
      { "source": "string", "name": "--health-timeout" }, { "source": "string", "name": "30" }
    ],
    "registry-event": "custom",
    "concurrency": "serial",
    "command-timeout": "3m",
    "trigger-rule": { "match": { "type": "value", "value": "$token",
      "parameter": { "source": "url", "name": "token" } } }
  },
  {
    "id": "swap-raw",
    "execute-command": "$repo/scripts/container-swap.sh",
    "pass-arguments-to-command": [
      { "source": "string", "name": "--container" }, { "source": "payload", "name": "container" },
      { "source": "string", "name": "--image" }, { "source": "payload", "name": "image" }
    ],
    "include-command-output-in-response": true,
    "include-command-output-in-response-on-error": true,
    "command-timeout": "1m"
  },
  {
    "id": "rancher",
    "execute-command": "$repo/scripts/kubectl-set-image.sh",
    "command-working-directory": "$work",
    "response-message": "I got the payload!",
    "include-command-output-in-response": true,
    "include-command-output-in-response-on-error": true,
    "trigger-rule-mismatch-http-response-code": 500,
    "pass-arguments-to-command": [{ "source": "entire-payload" }],
    "pass-environment-to-command": [
      { "envname": "APP_NS", "source": "url", "name": "ns" },
      { "envname": "APP_WORKLOAD", "source": "url", "name": "workload" },
      { "envname": "APP_CONTAINER", "source": "url", "name": "container" },
      { "envname": "REPO_TYPE", "source": "url", "name": "repo_type" },
      { "envname": "NET_TYPE", "source": "url", "name": "net_type" }
    ],
    "trigger-rule": { "and": [
      { "match": { "type": "value", "value": "$token", "parameter": { "source": "url", "name": "token" } } },
      { "match": { "type": "value", "value": "shop", "parameter": { "source": "url", "name": "ns" } } },
      { "match": { "type": "value", "value": "deployment/web", "parameter": { "source": "url", "name": "workload" } } },
      { "match": { "type": "value", "value": "web", "parameter": { "source": "url", "name": "container" } } }
    ] }
  }
]
EOF

e2e_fake_kube_start "$kport" --ready-after 1
e2e_fake_kube_kubeconfig "$kport" "$work/kubeconfig"
jq -n '{apiVersion: "apps/v1", kind: "Deployment", metadata: {name: "web", namespace: "shop"},
  spec: {replicas: 1, selector: {matchLabels: {app: "web"}},
    template: {metadata: {labels: {app: "web"}}, spec: {containers: [{name: "web", image: "reg.example/shop/web:v1"}]}}}}' |
  curl -fsS -o /dev/null -X POST --data-binary @- "http://127.0.0.1:$kport/fake/objects"

KUBECONFIG="$work/kubeconfig" "$hookrun" -hooks "$work/hooks.json" -ip 127.0.0.1 -port "$hport" \
  -verbose >"$work/hookrun.log" 2>&1 &
hook_pid=$!
e2e_wait_http "http://127.0.0.1:$hport/" OK 10

hook_url="http://127.0.0.1:$hport/hooks"

# --- images, registry (notifying hookrun), swarm service at v1 ----------------------------------
e2e_build_images "$repo_name"
e2e_registry_start "$rport" "$hook_url/deploy-web" "Bearer $token"
d1="$(e2e_push "$repo_name:v1" "$reg/$repo_name:v1")"
# The notification for v1 arrives before the service exists: that deploy fails harmlessly.
sleep 2
docker service create --detach=false --quiet --name e2e-web --with-registry-auth \
  --publish "mode=host,target=8080,published=$sport" "$reg/$repo_name:v1@$d1" >/dev/null
e2e_wait_http "http://127.0.0.1:$sport/" v1 60

service_digest() {
  docker service inspect e2e-web --format '{{.Spec.TaskTemplate.ContainerSpec.Image}}' | sed 's/.*@//'
}
answers() { # answers PORT TEXT: the app on PORT answers TEXT now
  [ "$(curl -fsS --max-time 2 "http://127.0.0.1:$1/" 2>/dev/null)" = "$2" ]
}
wait_answers() { e2e_wait_http "http://127.0.0.1:$1/" "$2" "${3:-90}" >/dev/null 2>&1; }

# Job helpers: the id comes from the Hookrun-Job-Id header.
post() { # post URL BODY [HEADER...]: prints the job id(s); the status goes to $work/status
  local url="$1" body="$2"
  shift 2
  local args=(-sS -o "$work/body" -D "$work/headers" -w '%{http_code}' -H 'Content-Type: application/json')
  local h
  for h in "$@"; do args+=(-H "$h"); done
  curl "${args[@]}" --data-binary "$body" "$url" >"$work/status"
  tr -d '\r' <"$work/headers" | sed -n 's/^[Hh]ookrun-[Jj]ob-[Ii]d: //p'
}
job_field() { curl -fsS "http://127.0.0.1:$hport/jobs/$1" | jq -r ".$2"; }
wait_job() { # wait_job ID: until the job has ended
  local i
  for ((i = 0; i < 240; i++)); do
    case "$(job_field "$1" state)" in queued | running) sleep 0.5 ;; *) return 0 ;; esac
  done
  return 1
}

# --- 1. registry push → notification → swarm service on the new digest -------------------------
d2="$(e2e_push "$repo_name:v2" "$reg/$repo_name:v2")"
wait_answers "$sport" v2 120 || true
check "registry push of v2 updates the swarm service (answers v2)" answers "$sport" v2
check "the service is pinned to the pushed v2 digest" test "$(service_digest)" = "$d2"
check "the registry's notifications were accepted (no delivery errors logged)" \
  bash -c "! grep -Eiq 'retryingsink|error writing event|non-2xx' '$E2E_STATE_DIR/registry.$rport/registry.log' 2>/dev/null"

# --- 2. Aliyun and Docker Hub formats drive the same update -------------------------------------
aliyun_body="$(jq -cn --arg d "$d1" --arg r "$repo_name" '{push_data:{digest:$d,pushed_at:"2026-11-21 10:00:00",tag:"v1"},
  repository:{name:"app",namespace:"hookrun-e2e",region:"cn-hangzhou",repo_full_name:$r,repo_type:"PRIVATE"}}')"
job="$(post "$hook_url/deploy-web" "$aliyun_body" "Authorization: Bearer $token")"
wait_job "$job"
check "Aliyun-format delivery deploys v1 (job succeeded)" test "$(job_field "$job" state)" = succeeded
check "after the Aliyun delivery the service answers v1 on the v1 digest" \
  bash -c "$(declare -f answers); answers $sport v1 && [ \"\$(docker service inspect e2e-web --format '{{.Spec.TaskTemplate.ContainerSpec.Image}}' | sed 's/.*@//')\" = '$d1' ]"
hub_body="$(jq -cn --arg r "$repo_name" '{callback_url:"https://registry.hub.docker.com/u/x/y/hook/1/",
  push_data:{pushed_at:1417566161,pusher:"ci",tag:"v2"},repository:{repo_name:$r,name:"app",namespace:"hookrun-e2e"}}')"
job="$(post "$hook_url/deploy-web" "$hub_body" "Authorization: Bearer $token")"
wait_job "$job"
check "Docker Hub-format delivery (no digest) deploys v2 pinned to its digest" \
  bash -c "[ \"$(job_field "$job" state)\" = succeeded ] && [ \"\$(docker service inspect e2e-web --format '{{.Spec.TaskTemplate.ContainerSpec.Image}}' | sed 's/.*@//')\" = '$d2' ]"
check "wrong bearer token is refused (403) and nothing runs" \
  bash -c "[ -z \"\$(curl -s -o /dev/null -D - -H 'Authorization: Bearer nope' -d '$hub_body' '$hook_url/deploy-web' | grep -i hookrun-job-id)\" ]"

# --- 3. broken v3 → rollback, still v2 ------------------------------------------------------------
e2e_push "$repo_name:v3" "$reg/$repo_name:v3" >/dev/null
v3_body="$(jq -cn --arg r "$repo_name" '{push_data:{tag:"v3"},repository:{repo_name:$r}}')"
job="$(post "$hook_url/deploy-web" "$v3_body" "Authorization: Bearer $token")"
wait_job "$job"
check "broken v3: job failed with exit code 3 (rolled back)" \
  test "$(job_field "$job" state)/$(job_field "$job" exit_code)" = failed/3
wait_answers "$sport" v2 60 || true
check "after the failed v3 update the service still answers v2 on the v2 digest" \
  bash -c "$(declare -f answers); answers $sport v2 && [ \"\$(docker service inspect e2e-web --format '{{.Spec.TaskTemplate.ContainerSpec.Image}}' | sed 's/.*@//')\" = '$d2' ]"

# --- 4. ten deliveries in a row, concurrency "latest" ------------------------------------------
jobs=()
for i in 1 2 3 4 5 6 7 8 9 10; do
  tag=v1
  [ $((i % 2)) -eq 0 ] && tag=v2
  [ "$i" -eq 10 ] && tag=v1
  body="$(jq -cn --arg r "$repo_name" --arg t "$tag" '{push_data:{tag:$t},repository:{repo_name:$r}}')"
  jobs+=("$(post "$hook_url/deploy-web" "$body" "Authorization: Bearer $token")")
done
for j in "${jobs[@]}"; do wait_job "$j"; done
ran=0
for j in "${jobs[@]}"; do
  [ "$(job_field "$j" state)" != superseded ] && ran=$((ran + 1))
done
check "ten rapid deliveries ran at most two deploys (ran $ran)" test "$ran" -le 2
check "the last delivery (v1) is what runs in the end" \
  bash -c "[ \"$(job_field "${jobs[9]}" state)\" = succeeded ] && [ \"\$(docker service inspect e2e-web --format '{{.Spec.TaskTemplate.ContainerSpec.Image}}' | sed 's/.*@//')\" = '$d1' ]"
wait_answers "$sport" v1 60 || true
check "the service answers v1 after the burst" answers "$sport" v1

# --- 5. container-swap through a hook -----------------------------------------------------------
docker volume create e2e-data >/dev/null
docker run -d --name e2e-app --restart unless-stopped -e KEEP_ME=yes -v e2e-data:/data \
  --label org.hookrun.e2e.swap=1 --label team=web -p "127.0.0.1:$cport:8080" "$reg/$repo_name:v1" >/dev/null
wait_answers "$cport" v1 30 || true
job="$(post "$hook_url/swap-app?token=$token" "{\"image\":\"$reg/$repo_name:v2\"}")"
wait_job "$job"
check "container-swap via hook: job succeeded" test "$(job_field "$job" state)" = succeeded
wait_answers "$cport" v2 30 || true
check "container-swap: the container named e2e-app answers v2" answers "$cport" v2
check "container-swap kept env, volume, labels and restart policy" bash -c \
  "docker inspect e2e-app --format '{{range .Config.Env}}{{println .}}{{end}}|{{range .Mounts}}{{.Name}}{{end}}|{{index .Config.Labels \"team\"}}|{{.HostConfig.RestartPolicy.Name}}' | tr '\n' ' ' | grep -q 'KEEP_ME=yes.*|e2e-data|web|unless-stopped'"
job="$(post "$hook_url/swap-app?token=$token" "{\"image\":\"$reg/$repo_name:v3\"}")"
wait_job "$job"
check "container-swap to broken v3: job failed with exit code 3" \
  test "$(job_field "$job" state)/$(job_field "$job" exit_code)" = failed/3
check "container-swap rollback: e2e-app still answers v2" answers "$cport" v2

# --- 6. hostile values ------------------------------------------------------------------------
marker="$work/pwned"
# shellcheck disable=SC2016 # the literal $(...) is the hostile value
for bad in "x;touch $marker" '--help' '$(touch '"$marker"')' "$reg/a/../b:v1"; do
  body="$(jq -cn --arg i "$bad" '{image:$i}')"
  post "$hook_url/swap-app?token=$token" "$body" >/dev/null
  check "hostile image $(printf '%q' "$bad") refused by hookrun (400)" test "$(cat "$work/status")" = 400
  body="$(jq -cn --arg i "$bad" '{container:"e2e-app", image:$i}')"
  job="$(post "$hook_url/swap-raw" "$body")"
  check "hostile image $(printf '%q' "$bad") passed raw: the script refuses it, exit 2 (500 + its error)" \
    bash -c "[ \"\$(cat '$work/status')\" = 500 ] && grep -q 'error:' '$work/body' && [ \"$(job_field "$job" exit_code)\" = 2 ]"
done
check "no hostile value created a file" test ! -e "$marker"
check "e2e-app untouched by hostile requests (answers v2)" answers "$cport" v2

# --- 7. seed 001's Rancher hook → kubectl-set-image.sh → fake Kubernetes API --------------------
digest_a="sha256:$(printf 'a%.0s' {1..64})"
rancher_body="$(jq -cn --arg d "$digest_a" '{push_data:{digest:$d,pushed_at:"2026-11-21 10:00:00",tag:"v9"},
  repository:{name:"web",namespace:"shop",region:"cn-hangzhou",repo_full_name:"shop/web",repo_type:"PRIVATE"}}')"
post "$hook_url/rancher?token=$token&ns=shop&workload=deployment/web&container=web&repo_type=aliyun&net_type=vpc" \
  "$rancher_body" >/dev/null
check "Rancher hook answers 200 with the script's output" test "$(cat "$work/status")" = 200
check "the fake API got a PATCH setting the VPC address pinned to the digest" \
  grep -q "registry-vpc.cn-hangzhou.aliyuncs.com/shop/web:v9@$digest_a" "$E2E_STATE_DIR/fake-kube.$kport/requests.jsonl"
post "$hook_url/rancher?token=wrong&ns=shop&workload=deployment/web&container=web&repo_type=aliyun" \
  "$rancher_body" >/dev/null
check "Rancher hook with a wrong token: 500 'Hook rules were not satisfied.'" \
  bash -c "[ \"\$(cat '$work/status')\" = 500 ] && grep -qx 'Hook rules were not satisfied.' '$work/body'"

printf '%s passed, %s failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
