#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
#
# scripts-e2e.sh - end-to-end tests of the deployment scripts themselves (not through hookrun),
# on a real Docker engine (started with env.sh if none answers), a real single-node Swarm, a
# real registry (Debian's docker-registry) and the recording fake Kubernetes API.
#
# Asserts the RUNNING state: HTTP answers from the published ports, `docker inspect` values,
# the fake API's objects. Prints one line per check and "N passed, M failed" at the end; exits
# 1 on any failure. Cleans up everything it started, also on failure or interrupt.
#
# Usage: scripts/e2e/scripts-e2e.sh
# Environment: E2E_KEEP=1 keeps the containers/services for a look afterwards (the registry,
# the fake API, a swarm or dockerd it started are still stopped).
set -euo pipefail

here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
scripts="$(cd -- "$here/.." && pwd)"
run_id="hre2e$$"
work="$(mktemp -d "${TMPDIR:-/tmp}/hookrun-scripts-e2e.XXXXXX")"
export E2E_STATE_DIR="$work/state"
# shellcheck source=env.sh
source "$here/env.sh"

passed=0
failed=0
log="$work/last.log"
out="$work/last-script.log"
marker="$work/pwned"

ok() {
  passed=$(( passed + 1 ))
  printf 'ok   %s\n' "$1"
}
not_ok() {
  failed=$(( failed + 1 ))
  printf 'FAIL %s\n' "$1"
  if [[ -s "$log" ]]; then
    sed 's/^/       | /' "$log" | tail -n 12
  fi
}
# check DESC COMMAND...: the command succeeds
check() {
  local desc="$1"
  shift
  if "$@" >"$log" 2>&1; then ok "$desc"; else not_ok "$desc"; fi
}
# expect_rc WANT DESC COMMAND...: run COMMAND (output in $log and $out; a program is bounded by
# `timeout`, a function by the timeouts it passes on), compare the exit code
expect_rc() {
  local want="$1" desc="$2" rc=0
  shift 2
  if [[ "$(type -t "$1")" == function ]]; then
    "$@" >"$log" 2>&1 || rc=$?
  else
    timeout 300 "$@" >"$log" 2>&1 || rc=$?
  fi
  cp -- "$log" "$out"
  if [[ "$rc" == "$want" ]]; then
    ok "$desc (exit $rc)"
  else
    not_ok "$desc (exit $rc, want $want)"
  fi
}
# http_is PORT TEXT: GET http://127.0.0.1:PORT/ answers exactly TEXT (retries for 10 s)
http_is() {
  local i body=""
  for (( i = 0; i < 20; i++ )); do
    body="$(curl -fsS --max-time 2 "http://127.0.0.1:$1/" 2>/dev/null)" || body=""
    [[ "$body" == "$2" ]] && return 0
    sleep 0.5
  done
  echo "GET 127.0.0.1:$1 answered '$body', want '$2'"
  return 1
}
# eq WANT GOT: string equality, with a message
eq() {
  [[ "$2" == "$1" ]] && return 0
  echo "want: $1"
  echo " got: $2"
  return 1
}
contains() {
  [[ "$2" == *"$1"* ]] && return 0
  echo "want something containing: $1"
  echo "got: $2"
  return 1
}
# free_port START: the first port from START on that nothing listens on (127.0.0.1)
free_port() {
  local p="$1"
  while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do
    p=$(( p + 1 ))
  done
  printf '%s\n' "$p"
}
counts() {
  printf '%s %s\n' "$(docker ps -aq | wc -l)" "$(docker service ls -q 2>/dev/null | wc -l)"
}

cleanup() {
  local rc=$?
  set +e
  if [[ "${E2E_KEEP:-0}" != 1 ]]; then
    docker service rm "$run_id-web" >/dev/null 2>&1
    local c
    for c in $(docker ps -aq --filter "name=$run_id" 2>/dev/null); do
      docker rm -f "$c" >/dev/null 2>&1
    done
    sleep 1
    docker network rm "$run_id-net" >/dev/null 2>&1
    docker volume rm "$run_id-vol" >/dev/null 2>&1
    docker image rm "${images_to_remove[@]}" >/dev/null 2>&1
  fi
  [[ -n "${kport:-}" ]] && e2e_fake_kube_stop "$kport"
  [[ -n "${rport:-}" ]] && e2e_registry_stop "$rport"
  e2e_swarm_leave
  e2e_dockerd_stop
  rm -rf -- "$work"
  exit "$rc"
}
images_to_remove=()
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- environment -----------------------------------------------------------------------------

for cmd in docker dockerd curl jq kubectl timeout; do
  command -v "$cmd" >/dev/null || { echo "missing: $cmd" >&2; exit 1; }
done
e2e_dockerd_start 90
e2e_swarm_init
app="hookrun-e2e/app"
e2e_build_images "$app"
rport="$(free_port 15500)"
e2e_registry_start "$rport"
reg="127.0.0.1:$rport/$run_id/app"
declare -A dig=()
for v in v1 v2 v3; do
  dig[$v]="$(e2e_push "$app:$v" "$reg:$v")"
  images_to_remove+=("$reg:$v")
done
images_to_remove+=("$reg:latest")
echo "# registry 127.0.0.1:$rport, images $reg:v1 v2 v3 (v3 is broken)"

# --- static checks ---------------------------------------------------------------------------

if command -v shellcheck >/dev/null; then
  check "shellcheck: the scripts, lib and e2e helpers are clean" \
    shellcheck -x "$scripts/swarm-update.sh" "$scripts/kubectl-set-image.sh" \
    "$scripts/container-swap.sh" "$scripts/lib/common.sh" "$here/env.sh" "$here/scripts-e2e.sh" \
    "$here/embed-common.sh"
fi
check "each script embeds the current lib/common.sh block" bash "$here/embed-common.sh" --check
for s in swarm-update.sh kubectl-set-image.sh container-swap.sh; do
  expect_rc 0 "$s --help" "$scripts/$s" --help
done
# Installed alone (no lib next to it): the embedded copy validates the same way
alone="$work/alone"
mkdir -p "$alone"
for s in swarm-update.sh kubectl-set-image.sh container-swap.sh; do
  cp -- "$scripts/$s" "$alone/$s"
done
expect_rc 0 "swarm-update.sh installed alone: --help" "$alone/swarm-update.sh" --help
expect_rc 2 "swarm-update.sh installed alone: hostile image refused" \
  "$alone/swarm-update.sh" --service x --image 'x;touch /tmp/p'
expect_rc 2 "container-swap.sh installed alone: hostile name refused" \
  "$alone/container-swap.sh" --container "\$(id)" --image "$reg:v1"
expect_rc 2 "kubectl-set-image.sh installed alone: hostile namespace refused" \
  "$alone/kubectl-set-image.sh" -n 'a;b' --workload deployment/x --container c --image "$reg:v1"

# --- swarm-update.sh -------------------------------------------------------------------------

sport="$(free_port 18100)"
svc="$run_id-web"
docker service create --detach --quiet --name "$svc" \
  --publish "mode=host,published=$sport,target=8080" \
  --update-monitor 2s --rollback-monitor 2s --stop-grace-period 3s \
  "$reg:v1" >/dev/null
check "swarm: service $svc answers v1 on host-mode port $sport" http_is "$sport" v1

expect_rc 0 "swarm: v1 -> v2 updates and verifies" \
  "$scripts/swarm-update.sh" --service "$svc" --image "$reg:v2" --timeout 120 --settle 2
check "swarm: the service answers v2" http_is "$sport" v2
check "swarm: the spec pins v2 by digest" \
  eq "$reg:v2@${dig[v2]}" "$(docker service inspect --format '{{.Spec.TaskTemplate.ContainerSpec.Image}}' "$svc")"
check "swarm: the running task uses the v2 digest" \
  eq "$reg:v2@${dig[v2]}" "$(docker inspect --type task --format '{{.Spec.ContainerSpec.Image}}' \
    "$(docker service ps -q --filter desired-state=running "$svc" | head -n 1)")"
check "swarm: the output says old -> new" contains "-> $reg:v2@${dig[v2]}" "$(cat "$out")"

expect_rc 3 "swarm: broken v3 is rolled back" \
  "$scripts/swarm-update.sh" --service "$svc" --image "$reg:v3" --timeout 120 --settle 2
check "swarm: after the rollback the service still answers v2" http_is "$sport" v2
check "swarm: after the rollback the spec is v2 again" \
  eq "$reg:v2@${dig[v2]}" "$(docker service inspect --format '{{.Spec.TaskTemplate.ContainerSpec.Image}}' "$svc")"

latest1="$(e2e_push "$app:v1" "$reg:latest")"
expect_rc 0 "swarm: deploy :latest (v1 content) from HOOKRUN_IMAGE" \
  env HOOKRUN_IMAGE="$reg:latest" "$scripts/swarm-update.sh" --service "$svc" --timeout 120 --settle 1
check "swarm: :latest answers v1" http_is "$sport" v1
latest2="$(e2e_push "$app:v2" "$reg:latest")"
expect_rc 0 "swarm: the same tag pushed again (v2 content) really re-pulls" \
  env HOOKRUN_IMAGE="$reg:latest" "$scripts/swarm-update.sh" --service "$svc" --timeout 120 --settle 1
check "swarm: :latest now answers v2" http_is "$sport" v2
check "swarm: the spec pins the new :latest digest" \
  eq "$reg:latest@$latest2" "$(docker service inspect --format '{{.Spec.TaskTemplate.ContainerSpec.Image}}' "$svc")"
check "swarm: the two :latest pushes had different digests" test "$latest1" != "$latest2"
expect_rc 0 "swarm: deploying the running digest again is a verified no-op" \
  env HOOKRUN_IMAGE="$reg:latest" HOOKRUN_DIGEST="$latest2" "$scripts/swarm-update.sh" --service "$svc" --timeout 60 --settle 1
check "swarm: ... and says unchanged" contains "unchanged" "$(cat "$out")"
expect_rc 4 "swarm: --no-rollback leaves a failed update as it is" \
  "$scripts/swarm-update.sh" --service "$svc" --image "$reg:v3" --timeout 60 --no-rollback
check "swarm: ... the spec stays at v3" \
  eq "$reg:v3@${dig[v3]}" "$(docker service inspect --format '{{.Spec.TaskTemplate.ContainerSpec.Image}}' "$svc")"
expect_rc 0 "swarm: a broken service is repaired by deploying v2" \
  "$scripts/swarm-update.sh" --service "$svc" --image "$reg:v2@${dig[v2]}" --timeout 120 --settle 1
check "swarm: ... and answers v2" http_is "$sport" v2
expect_rc 3 "swarm: an image that cannot be pulled changes nothing" \
  "$scripts/swarm-update.sh" --service "$svc" --image "$reg:nosuchtag" --timeout 30
check "swarm: still v2 after the failed pull" http_is "$sport" v2
expect_rc 2 "swarm: no such service" "$scripts/swarm-update.sh" --service "$run_id-nosuch" --image "$reg:v1"

before="$(counts)"
rm -f -- "$marker"
expect_rc 2 "swarm: hostile service name" "$scripts/swarm-update.sh" --service "x;touch $marker" --image "$reg:v1"
expect_rc 2 "swarm: hostile image" "$scripts/swarm-update.sh" --service "$svc" --image "x;touch $marker"
expect_rc 2 "swarm: --help as a value" "$scripts/swarm-update.sh" --service "$svc" --image --help
expect_rc 2 "swarm: command substitution as image" "$scripts/swarm-update.sh" --service "$svc" --image "\$(touch $marker)"
expect_rc 2 "swarm: repository with .." "$scripts/swarm-update.sh" --service "$svc" --image "127.0.0.1:$rport/a/../b:v1"
expect_rc 2 "swarm: hostile HOOKRUN_IMAGE" env HOOKRUN_IMAGE="\`touch $marker\`" "$scripts/swarm-update.sh" --service "$svc"
expect_rc 2 "swarm: hostile digest" "$scripts/swarm-update.sh" --service "$svc" --image "$reg:v1" --digest "sha256:;touch"
expect_rc 2 "swarm: hostile timeout" "$scripts/swarm-update.sh" --service "$svc" --image "$reg:v1" --timeout "1;touch $marker"
check "swarm: hostile inputs created nothing" eq "$before" "$(counts)"
check "swarm: hostile inputs ran nothing" test ! -e "$marker"
check "swarm: the service still answers v2 after the hostile inputs" http_is "$sport" v2

# --- container-swap.sh -----------------------------------------------------------------------

net="$run_id-net"
vol="$run_id-vol"
docker network create "$net" >/dev/null
docker volume create "$vol" >/dev/null
c1="$run_id-c1"
docker run -d --name "$c1" --network "$net" --network-alias webalias --restart unless-stopped \
  -e CUSTOM=keep -v "$vol:/data" --label team=e2e --label org.hookrun.e2e.version=v1 \
  "$reg:v1" >/dev/null
docker exec "$c1" sh -c 'echo persisted > /data/file'
# probe NAME: what the alias answers inside the network
probe() {
  # (busybox wget -T crashes: bound it from outside)
  timeout 10 docker run --rm --network "$net" "$reg:v1" wget -q -O - http://webalias:8080/ 2>/dev/null
}
probe_is() {
  local i got=""
  for (( i = 0; i < 10; i++ )); do
    got="$(probe || true)"
    [[ "$got" == "$1" ]] && return 0
    sleep 1
  done
  echo "webalias answered '$got', want '$1'"
  return 1
}
check "swap: $c1 answers v1 on $net alias webalias" probe_is v1
expect_rc 0 "swap (start-first, no ports): v1 -> v2" \
  "$scripts/container-swap.sh" --container "$c1" --image "$reg:v2" --health-timeout 60
insp() { docker inspect --format "$1" "$c1"; }
check "swap: the container keeps its name and runs v2" eq "$reg:v2@${dig[v2]}" "$(insp '{{.Config.Image}}')"
check "swap: it is running" eq "true" "$(insp '{{.State.Running}}')"
check "swap: env set on the container is kept" contains "CUSTOM=keep" "$(insp '{{json .Config.Env}}')"
check "swap: env from the old image is replaced by the new image's" \
  contains '"APP_VERSION=v2"' "$(insp '{{json .Config.Env}}')"
check "swap: labels set on the container are kept" eq "e2e" "$(insp '{{index .Config.Labels "team"}}')"
check "swap: labels from the old image are replaced by the new image's" \
  eq "v2" "$(insp '{{index .Config.Labels "org.hookrun.e2e.version"}}')"
check "swap: the restart policy is kept" eq "unless-stopped" "$(insp '{{.HostConfig.RestartPolicy.Name}}')"
check "swap: the volume is mounted and its data is there" \
  eq "persisted" "$(docker exec "$c1" cat /data/file)"
check "swap: network and alias are kept: webalias answers v2" probe_is v2
check "swap: no temporary container is left" \
  eq "" "$(docker ps -a --format '{{.Names}}' --filter "name=$c1-hookrun")"

expect_rc 3 "swap (start-first): broken v3 is rolled back" \
  "$scripts/container-swap.sh" --container "$c1" --image "$reg:v3" --health-timeout 30 --settle 3
check "swap: after the rollback $c1 runs v2" eq "$reg:v2@${dig[v2]}" "$(insp '{{.Config.Image}}')"
check "swap: after the rollback webalias still answers v2" probe_is v2
check "swap: after the rollback no temporary container is left" \
  eq "" "$(docker ps -a --format '{{.Names}}' --filter "name=$c1-hookrun")"
expect_rc 3 "swap: a failing --health-cmd (argv after --) rolls back" \
  "$scripts/container-swap.sh" --container "$c1" --image "$reg:v1" --health-timeout 5 \
  -- wget -q -O /dev/null http://127.0.0.1:9/
check "swap: ... and $c1 still runs v2" eq "$reg:v2@${dig[v2]}" "$(insp '{{.Config.Image}}')"
expect_rc 0 "swap: a passing --health-cmd (argv after --)" \
  "$scripts/container-swap.sh" --container "$c1" --image "$reg:v1" --health-timeout 30 \
  -- wget -q -O /dev/null http://127.0.0.1:8080/
check "swap: webalias answers v1" probe_is v1

expect_rc 4 "swap: --no-rollback leaves the broken container" \
  "$scripts/container-swap.sh" --container "$c1" --image "$reg:v3" --health-timeout 20 --settle 3 --no-rollback
check "swap: ... (start-first) $c1 still has v1" eq "$reg:v1@${dig[v1]}" "$(insp '{{.Config.Image}}')"
check "swap: ... and the failed v3 container is left as $c1-hookrun-new" \
  eq "$reg:v3@${dig[v3]}" "$(docker inspect --format '{{.Config.Image}}' "$c1-hookrun-new")"
expect_rc 0 "swap: the next swap (to v2) removes that leftover and succeeds" \
  "$scripts/container-swap.sh" --container "$c1" --image "$reg:v2" --health-timeout 30 --settle 2
check "swap: ... webalias answers v2" probe_is v2
check "swap: ... no temporary container is left" \
  eq "" "$(docker ps -a --format '{{.Names}}' --filter "name=$c1-hookrun")"

c2="$run_id-c2"
pport="$(free_port 18200)"
docker run -d --name "$c2" -p "127.0.0.1:$pport:8080" --restart always -e CUSTOM=two \
  --label team=e2e "$reg:v1" >/dev/null
check "swap: $c2 answers v1 on published port $pport" http_is "$pport" v1
expect_rc 0 "swap (published port, stop-first): v1 -> v2" \
  "$scripts/container-swap.sh" --container "$c2" --image "$reg:v2" --health-timeout 60
check "swap: the output says stop-first" contains "stop-first" "$(cat "$out")"
check "swap: port $pport answers v2" http_is "$pport" v2
check "swap: $c2 keeps the port binding" \
  eq "127.0.0.1:$pport" "$(docker inspect --format '{{range $p, $b := .HostConfig.PortBindings}}{{range $b}}{{.HostIP}}:{{.HostPort}}{{end}}{{end}}' "$c2")"
check "swap: $c2 keeps env, label and restart policy" \
  eq "CUSTOM=two e2e always" "$(docker inspect --format '{{index .Config.Env 0}} {{index .Config.Labels "team"}} {{.HostConfig.RestartPolicy.Name}}' "$c2")"
expect_rc 3 "swap (published port): broken v3 is rolled back" \
  "$scripts/container-swap.sh" --container "$c2" --image "$reg:v3" --health-timeout 30 --settle 3
check "swap: port $pport still answers v2 after the rollback" http_is "$pport" v2
check "swap: $c2 runs v2 under its name" \
  eq "$reg:v2@${dig[v2]}" "$(docker inspect --format '{{.Config.Image}}' "$c2")"
expect_rc 0 "swap: redeploy the previous image (v1) with --keep-old" \
  "$scripts/container-swap.sh" --container "$c2" --image "$reg:v1" --health-timeout 30 --settle 2 --keep-old
check "swap: port $pport answers v1" http_is "$pport" v1
check "swap: the old container is kept stopped, restart policy no" \
  eq "exited no" "$(docker inspect --format '{{.State.Status}} {{.HostConfig.RestartPolicy.Name}}' "$c2-hookrun-prev")"
expect_rc 0 "swap: the image it already runs is a no-op" \
  "$scripts/container-swap.sh" --container "$c2" --image "$reg:v1"
check "swap: ... and says unchanged" contains "unchanged" "$(cat "$out")"
expect_rc 2 "swap: no such container" "$scripts/container-swap.sh" --container "$run_id-nosuch" --image "$reg:v1"

before="$(counts)"
rm -f -- "$marker"
expect_rc 2 "swap: hostile container name" "$scripts/container-swap.sh" --container "x;touch $marker" --image "$reg:v1"
expect_rc 2 "swap: hostile image" "$scripts/container-swap.sh" --container "$c2" --image "x;touch $marker"
expect_rc 2 "swap: --help as a value" "$scripts/container-swap.sh" --container --help --image "$reg:v1"
expect_rc 2 "swap: command substitution as image" "$scripts/container-swap.sh" --container "$c2" --image "\$(touch $marker)"
expect_rc 2 "swap: repository with .." "$scripts/container-swap.sh" --container "$c2" --image "127.0.0.1:$rport/../x:v1"
expect_rc 2 "swap: option-like health command" "$scripts/container-swap.sh" --container "$c2" --image "$reg:v2" -- --privileged
expect_rc 2 "swap: hostile HOOKRUN_CONTAINER" env HOOKRUN_CONTAINER="a b;touch $marker" "$scripts/container-swap.sh" --image "$reg:v2"
check "swap: hostile inputs created nothing" eq "$before" "$(counts)"
check "swap: hostile inputs ran nothing" test ! -e "$marker"
check "swap: port $pport still answers v1" http_is "$pport" v1

# --- kubectl-set-image.sh against the fake API -----------------------------------------------

kport="$(free_port 18600)"
e2e_fake_kube_start "$kport" --fail-image ":bad" --hang-image ":hang" --ready-after 1 --progress-deadline 2
kcfg="$work/kubeconfig"
e2e_fake_kube_kubeconfig "$kport" "$kcfg"
records="$E2E_STATE_DIR/fake-kube.$kport/requests.jsonl"
mkobj() { # KIND NAME IMAGE
  jq -n --arg kind "$1" --arg name "$2" --arg image "$3" '{apiVersion: "apps/v1", kind: $kind,
    metadata: {name: $name, namespace: "shop"},
    spec: {replicas: 2, selector: {matchLabels: {app: $name}},
      template: {metadata: {labels: {app: $name}},
        spec: {containers: [{name: "app", image: $image}, {name: "sidecar", image: "busybox:1"}]}}}}' |
    curl -fsS -o /dev/null -X POST --data-binary @- "http://127.0.0.1:$kport/fake/objects"
}
mkobj Deployment web reg.example/shop/web:v1
mkobj StatefulSet db reg.example/shop/db:v1
mkobj DaemonSet agent reg.example/shop/agent:v1
kimg() { # KIND/NAME [CONTAINER]: the container's image in the fake
  kubectl --kubeconfig "$kcfg" -n shop get "$1" -o "jsonpath={.spec.template.spec.containers[?(@.name==\"${2:-app}\")].image}"
}
kset() { "$scripts/kubectl-set-image.sh" --kubeconfig "$kcfg" --timeout 15 "$@"; }
D="sha256:$(printf '%064d' 7)"
expect_rc 0 "kube: deployment v1 -> v2 pinned by digest" \
  kset -n shop --workload deployment/web --container app --image reg.example/shop/web:v2 --digest "$D"
check "kube: the deployment has v2@digest" eq "reg.example/shop/web:v2@$D" "$(kimg deployment/web)"
check "kube: the other container is untouched" eq "busybox:1" "$(kimg deployment/web sidecar)"
expect_rc 3 "kube: a rollout that exceeds its progress deadline is undone" \
  kset -n shop --workload deployment/web --container app --image reg.example/shop/web:bad
check "kube: after the undo the deployment has v2@digest again" eq "reg.example/shop/web:v2@$D" "$(kimg deployment/web)"
check "kube: the undo was a JSON patch of the template (as kubectl rollout undo sends it)" \
  test "$(jq -s '[.[] | select(.method == "PATCH" and .content_type == "application/json-patch+json")] | length' "$records")" -ge 1
expect_rc 3 "kube: a statefulset that never becomes ready is undone (timeout)" \
  "$scripts/kubectl-set-image.sh" --kubeconfig "$kcfg" --timeout 4 -n shop --workload sts/db --container app --image reg.example/shop/db:hang
check "kube: the statefulset is back at v1" eq "reg.example/shop/db:v1" "$(kimg statefulset/db)"
check "kube: the statefulset undo read ControllerRevisions" \
  test "$(jq -s '[.[] | select(.path == "/apis/apps/v1/namespaces/shop/controllerrevisions")] | length' "$records")" -ge 1
expect_rc 0 "kube: daemonset v1 -> v2 (seed 001 env: APP_NS, APP_WORKLOAD, APP_CONTAINER, upper case)" \
  env APP_NS=SHOP APP_WORKLOAD=DaemonSet/agent APP_CONTAINER=App \
  "$scripts/kubectl-set-image.sh" --kubeconfig "$kcfg" --timeout 15 --image reg.example/shop/agent:v2
check "kube: the daemonset has v2" eq "reg.example/shop/agent:v2" "$(kimg daemonset/agent)"
aliyun='{"push_data":{"digest":"sha256:457f4aa83fc9a6663ab9d1b0a6e2dce25a12a943ed5bf2c1747c58d48bbb4917","pushed_at":"2019-03-13 23:38:07","tag":"latest"},"repository":{"date_created":"2019-03-05 13:47:43","name":"webhook","namespace":"rancher_cn","region":"cn-shanghai","repo_authentication_type":"NO_CERTIFIED","repo_full_name":"rancher_cn/webhook","repo_origin_type":"NO_CERTIFIED","repo_type":"PUBLIC"}}'
expect_rc 0 "kube: Aliyun payload, REPO_TYPE=aliyun NET_TYPE=vpc" \
  env APP_NS=shop APP_WORKLOAD=deployment/web APP_CONTAINER=app REPO_TYPE=aliyun NET_TYPE=vpc \
  "$scripts/kubectl-set-image.sh" --kubeconfig "$kcfg" --timeout 15 "$aliyun"
check "kube: the image is registry-vpc.<region>.aliyuncs.com/<repo_full_name>:<tag>@<digest>" \
  eq "registry-vpc.cn-shanghai.aliyuncs.com/rancher_cn/webhook:latest@sha256:457f4aa83fc9a6663ab9d1b0a6e2dce25a12a943ed5bf2c1747c58d48bbb4917" "$(kimg deployment/web)"
hub='{"push_data":{"pushed_at":1552553567,"images":[],"tag":"latest","pusher":"hongxiaolu"},"callback_url":"","repository":{"name":"iperf3","namespace":"hongxiaolu","repo_name":"hongxiaolu/iperf3"}}'
expect_rc 0 "kube: Docker Hub payload, REPO_TYPE=dockerhub" \
  env APP_NS=shop APP_WORKLOAD=deployment/web APP_CONTAINER=sidecar REPO_TYPE=dockerhub \
  "$scripts/kubectl-set-image.sh" --kubeconfig "$kcfg" --timeout 15 "$hub"
check "kube: the image is docker.io/<repo_name>:<tag>" eq "docker.io/hongxiaolu/iperf3:latest" "$(kimg deployment/web sidecar)"
expect_rc 0 "kube: the same tag again (no digest) restarts the rollout" \
  env APP_NS=shop APP_WORKLOAD=deployment/web APP_CONTAINER=sidecar REPO_TYPE=dockerhub \
  "$scripts/kubectl-set-image.sh" --kubeconfig "$kcfg" --timeout 15 "$hub"
check "kube: ... via the restartedAt annotation" \
  contains "restartedAt" "$(kubectl --kubeconfig "$kcfg" -n shop get deployment/web -o 'jsonpath={.spec.template.metadata.annotations}')"
custom='{"push_data":{"tag":"1.2.3"},"repository":{"repo_url":"harbor.example.com","name":"web","namespace":"shop"}}'
expect_rc 0 "kube: custom payload, REPO_TYPE=custom" \
  env APP_NS=shop APP_WORKLOAD=deployment/web APP_CONTAINER=app REPO_TYPE=custom \
  "$scripts/kubectl-set-image.sh" --kubeconfig "$kcfg" --timeout 15 "$custom"
check "kube: the image is <repo_url>/<namespace>/<name>:<tag>" eq "harbor.example.com/shop/web:1.2.3" "$(kimg deployment/web)"
expect_rc 0 "kube: Docker Hub's test delivery (no tag) is ignored" \
  env APP_NS=shop APP_WORKLOAD=deployment/web APP_CONTAINER=app REPO_TYPE=dockerhub \
  "$scripts/kubectl-set-image.sh" --kubeconfig "$kcfg" '{"push_data":{},"repository":{}}'
expect_rc 4 "kube: --no-rollback leaves a failed rollout" \
  kset -n shop --workload deployment/web --container app --image reg.example/shop/web:bad --no-rollback
check "kube: ... the deployment keeps the failed image" eq "reg.example/shop/web:bad" "$(kimg deployment/web)"
expect_rc 0 "kube: ... and is repaired by the next deploy" \
  kset -n shop --workload deployment/web --container app --image reg.example/shop/web:v3
expect_rc 2 "kube: no such container" kset -n shop --workload deployment/web --container nosuch --image reg.example/x:v1
expect_rc 2 "kube: no such deployment" kset -n shop --workload deployment/nosuch --container app --image reg.example/x:v1

patches_before="$(jq -s '[.[] | select(.method == "PATCH")] | length' "$records")"
rm -f -- "$marker"
expect_rc 2 "kube: hostile namespace" kset -n "shop;touch $marker" --workload deployment/web --container app --image reg.example/x:v1
expect_rc 2 "kube: hostile workload" kset -n shop --workload "deployment/web;touch $marker" --container app --image reg.example/x:v1
expect_rc 2 "kube: unsupported kind" kset -n shop --workload "pod/web" --container app --image reg.example/x:v1
expect_rc 2 "kube: --help as a value" kset -n shop --workload deployment/web --container --help --image reg.example/x:v1
expect_rc 2 "kube: command substitution as image" kset -n shop --workload deployment/web --container app --image "\$(touch $marker)"
expect_rc 2 "kube: hostile tag in an Aliyun payload" \
  env REPO_TYPE=aliyun "$scripts/kubectl-set-image.sh" --kubeconfig "$kcfg" -n shop --workload deployment/web --container app \
  "{\"push_data\":{\"tag\":\"v1;touch $marker\"},\"repository\":{\"name\":\"a\",\"namespace\":\"b\",\"region\":\"cn-x\",\"repo_full_name\":\"b/a\"}}"
expect_rc 2 "kube: .. in an Aliyun repo_full_name" \
  env REPO_TYPE=aliyun "$scripts/kubectl-set-image.sh" --kubeconfig "$kcfg" -n shop --workload deployment/web --container app \
  '{"push_data":{"tag":"v1"},"repository":{"name":"a","namespace":"b","region":"cn-x","repo_full_name":"b/../a"}}'
expect_rc 2 "kube: hostile region in an Aliyun payload" \
  env REPO_TYPE=aliyun "$scripts/kubectl-set-image.sh" --kubeconfig "$kcfg" -n shop --workload deployment/web --container app \
  '{"push_data":{"tag":"v1"},"repository":{"name":"a","namespace":"b","region":"x.evil.com/","repo_full_name":"b/a"}}'
check "kube: hostile inputs patched nothing" \
  eq "$patches_before" "$(jq -s '[.[] | select(.method == "PATCH")] | length' "$records")"
check "kube: hostile inputs ran nothing" test ! -e "$marker"

# --- result ----------------------------------------------------------------------------------

printf '%s passed, %s failed\n' "$passed" "$failed"
(( failed == 0 ))
