#!/usr/bin/env bash
# image-e2e.sh - the container image, built from the real Dockerfile and run as its users run
# it, on the e2e Docker engine and Swarm:
#   - the build: local stand-ins for the base image, the docker CLI and kubectl (image-base.sh,
#     cached), the host-built binary through HOOKRUN_FROM=prebuilt; its size and tool versions;
#     non-root (10001:10001), tini as PID 1, the HEALTHCHECK turning healthy;
#   - Rancher's image (seed 001) replaced by this one, nothing else changed: a ConfigMap-style
#     folder at /etc/webhook/source (..data symlink swaps reloaded), WEBHOOK_CMD=-template,
#     seed 001's hook calling /webhooks.sh with an Aliyun push (NET_TYPE vpc) against the
#     recording fake Kubernetes API (the image pinned by digest), its mismatch status; /healthz,
#     /readyz and exact counts in /metrics;
#   - next to Swarm: a hooks folder and the Docker socket mounted with the socket's group (not
#     root), a hook running swarm-update.sh in the container updates a real service to a pushed
#     image; without the group, the script says "permission denied on the Docker socket";
#   - examples/swarm/stack.yml deployed with `docker stack deploy`, then redeployed with a
#     changed hooks.json (a new versioned config) and the new hook served.
# Prints one line per check, the build time, image size and versions, and "N passed, M failed".
# Needs root, a running engine in swarm mode (run.sh starts them), debootstrap, kubectl,
# docker-registry, busybox-static, curl, jq.
# Usage: scripts/e2e/image-e2e.sh [HOOKRUN_RELEASE_BINARY]   (default target/release/hookrun)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
binary="${1:-$repo/target/release/hookrun}"
# shellcheck source-path=SCRIPTDIR source=env.sh
source "$here/env.sh"
# shellcheck source-path=SCRIPTDIR source=image-base.sh
source "$here/image-base.sh"
CHECK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/hookrun-image-e2e.XXXXXX")"
# shellcheck source-path=SCRIPTDIR source=checks.sh
source "$here/checks.sh"

hookrun_image=hookrun-e2e/hookrun:test
work="$CHECK_DIR/work"
mkdir -p -- "$work"
rport="$(free_port 27000)"
kport="$(free_port 27100)"
hport="$(free_port 27200)"
sport="$(free_port 27300)"
aport="$(free_port 27400)"
svc=hookrun-e2e-image-web
containers=(hookrun-e2e-rancher hookrun-e2e-swarm)
created_secrets=()

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  set +e
  docker rm -f -v "${containers[@]}" >/dev/null 2>&1
  docker service rm "$svc" >/dev/null 2>&1
  if docker stack ls --format '{{.Name}}' 2>/dev/null | grep -qx hookrun-e2e-stack; then
    docker stack rm hookrun-e2e-stack >/dev/null 2>&1
    for _ in $(seq 1 60); do
      docker service ls -q --filter label=com.docker.stack.namespace=hookrun-e2e-stack | grep -q . || break
      sleep 0.5
    done
    docker config ls -q --filter label=com.docker.stack.namespace=hookrun-e2e-stack | xargs -r docker config rm >/dev/null 2>&1
    for _ in $(seq 1 20); do
      docker volume rm hookrun-e2e-stack_hookrun-state >/dev/null 2>&1 && break
      sleep 0.5
    done
  fi
  if [[ "${#created_secrets[@]}" -gt 0 ]]; then
    docker secret rm "${created_secrets[@]}" >/dev/null 2>&1
  fi
  e2e_fake_kube_stop "$kport" >/dev/null 2>&1
  e2e_registry_stop "$rport" >/dev/null 2>&1
  # vfs keeps every layer as a full copy: leave only the cached base images behind.
  docker image rm -f "$hookrun_image" hookrun-e2e/image-app:v1 hookrun-e2e/image-app:v2 \
    "127.0.0.1:$rport/image-app:v1" "127.0.0.1:$rport/image-app:v2" >/dev/null 2>&1
  docker images -q "127.0.0.1:$rport/image-app" | xargs -r docker image rm -f >/dev/null 2>&1
  rm -f -- "$repo/target/image/hookrun"
  rm -rf -- "$CHECK_DIR"
}
trap cleanup EXIT

# docker build with BuildKit (the Dockerfile picks stages by build argument): buildx when this
# CLI has it, else Debian's docker.io CLI, which carries a BuildKit client itself.
buildkit_build() {
  if docker buildx version >/dev/null 2>&1; then
    docker buildx build --load "$@"
  else
    DOCKER_BUILDKIT=1 /usr/bin/docker build "$@"
  fi
}

# --- the build -------------------------------------------------------------------------------
[[ -x "$binary" ]] || { echo "image-e2e: no binary at $binary (cargo build --release)" >&2; exit 1; }
start=$SECONDS
e2e_base_images
base_time=$(( SECONDS - start ))
install -D -m 0755 -- "$binary" "$repo/target/image/hookrun"
start=$SECONDS
expect_rc 0 "the real Dockerfile builds on the local stand-ins" \
  buildkit_build --progress=plain -t "$hookrun_image" \
  --build-arg DEBIAN_IMAGE="$E2E_DEBIAN_IMAGE" \
  --build-arg DOCKER_CLI_IMAGE="$E2E_DOCKER_CLI_IMAGE" \
  --build-arg KUBECTL_IMAGE="$E2E_KUBECTL_IMAGE" \
  --build-arg HOOKRUN_FROM=prebuilt "$repo" || { tail -n 30 "$CHECK_DIR/out.log"; exit 1; }
build_time=$(( SECONDS - start ))
size="$(docker image inspect -f '{{.Size}}' "$hookrun_image")"
versions="$(docker run --rm --entrypoint sh "$hookrun_image" -c \
  'hookrun -version; docker --version; kubectl version --client 2>/dev/null | head -n 1')"
echo "image: $(( size / 1000000 )) MB; base images ${base_time}s, build ${build_time}s"
printf 'image: %s\n' "$versions" | sed '2,$s/^/image: /'

check "the image runs as 10001:10001" eq "10001:10001" "$(docker image inspect -f '{{.Config.User}}' "$hookrun_image")"
check "... and so do its commands" eq "10001 10001" "$(docker run --rm --entrypoint sh "$hookrun_image" -c 'echo "$(id -u) $(id -g)"')"
check "the tools run: hookrun, docker, kubectl, the three scripts" docker run --rm --entrypoint sh "$hookrun_image" -c \
  'hookrun -version && docker --version && kubectl version --client && swarm-update.sh --help && kubectl-set-image.sh --help && container-swap.sh --help'
check "no Docker daemon in the image" eq "" "$(docker run --rm --entrypoint sh "$hookrun_image" -c 'command -v dockerd containerd runc || true')"

# --- Rancher's image replaced (seed 001) -----------------------------------------------------
e2e_fake_kube_start "$kport" --ready-after 1 >/dev/null
mkdir -p -- "$work/kube"
e2e_fake_kube_kubeconfig "$kport" "$work/kube/config"
chmod -R a+rX -- "$work/kube"
jq -n '{apiVersion: "apps/v1", kind: "Deployment", metadata: {name: "web", namespace: "shop"},
  spec: {replicas: 1, selector: {matchLabels: {app: "web"}},
    template: {metadata: {labels: {app: "web"}}, spec: {containers: [{name: "app", image: "old/web:v1"}]}}}}' |
  curl -fsS -o /dev/null -X POST --data-binary @- "http://127.0.0.1:$kport/fake/objects"

# seed001_hook ID: seed 001's ConfigMap entry, its placeholders filled in; the token is read
# from the environment by -template (WEBHOOK_CMD=-template, as the seed sets it)
seed001_hook() {
  jq -n --arg id "$1" '{id: $id, "execute-command": "/webhooks.sh", "command-working-directory": "/home",
    "response-message": "I got the payload!", "include-command-output-in-response": true,
    "include-command-output-in-response-on-error": true, "trigger-rule-mismatch-http-response-code": 500,
    "response-headers": [{name: "Access-Control-Allow-Origin", value: "*"}],
    "pass-arguments-to-command": [{source: "entire-payload"}],
    "pass-environment-to-command": [
      {envname: "APP_NS", source: "url", name: "ns"}, {envname: "APP_WORKLOAD", source: "url", name: "workload"},
      {envname: "APP_CONTAINER", source: "url", name: "container"}, {envname: "REPO_TYPE", source: "url", name: "repo_type"},
      {envname: "NET_TYPE", source: "url", name: "net_type"}, {envname: "MAIL_TO", source: "string", name: ""}],
    "trigger-rule": {and: [
      {match: {type: "value", value: "{{ getenv `DEPLOY_TOKEN` }}", parameter: {source: "url", name: "token"}}},
      {match: {type: "value", value: "shop", parameter: {source: "url", name: "ns"}}},
      {match: {type: "value", value: "deployment/web", parameter: {source: "url", name: "workload"}}},
      {match: {type: "value", value: "app", parameter: {source: "url", name: "container"}}}]}}'
}

# configmap_version NAME FILE...: a new version folder of the ConfigMap and the ..data swap,
# as the kubelet does it (new folder, new symlink, rename over ..data)
configmap_version() {
  local name="$1" f
  shift
  mkdir -p -- "$work/source/$name"
  for f in "$@"; do
    cp -- "$f" "$work/source/$name/"
    ln -sfn -- "..data/$(basename -- "$f")" "$work/source/$(basename -- "$f")"
  done
  ln -sfn -- "$name" "$work/source/..data_tmp"
  mv -T -- "$work/source/..data_tmp" "$work/source/..data"
}

mkdir -p -- "$work/source"
seed001_hook cnrancher_website | jq -s . >"$work/cnrancher.json"
configmap_version ..2026_01_01_00_00_00.000000001 "$work/cnrancher.json"
chmod -R a+rX -- "$work/source"

token=s3cret-$RANDOM
docker run -d --name hookrun-e2e-rancher --network host --health-interval 1s \
  -e HOOKRUN_IP=127.0.0.1 -e HOOKRUN_PORT="$hport" -e WEBHOOK_CMD=-template \
  -e DEPLOY_TOKEN="$token" -e KUBECONFIG=/etc/kube/config -e KUBECTL_SET_IMAGE_ARGS="--timeout 30" \
  -v "$work/source:/etc/webhook/source:ro" -v "$work/kube:/etc/kube:ro" "$hookrun_image" >/dev/null

healthy() { # CONTAINER: its HEALTHCHECK reports healthy within 30 s
  local i st=""
  for (( i = 0; i < 60; i++ )); do
    st="$(docker inspect -f '{{.State.Health.Status}}' "$1")"
    [[ "$st" == healthy ]] && return 0
    sleep 0.5
  done
  echo "health: $st"
  docker logs --tail 20 "$1"
  return 1
}
check "seed 001: the HEALTHCHECK reports healthy" healthy hookrun-e2e-rancher
check "seed 001: tini is PID 1" eq tini "$(docker exec hookrun-e2e-rancher cat /proc/1/comm)"
check "seed 001: /healthz answers" eq ok "$(curl -fsS "http://127.0.0.1:$hport/healthz")"
check "seed 001: /readyz answers" eq ready "$(curl -fsS "http://127.0.0.1:$hport/readyz")"

hook_url="http://127.0.0.1:$hport/hooks/cnrancher_website?ns=shop&workload=deployment/web&container=app&repo_type=aliyun&net_type=vpc"
digest=sha256:457f4aa83fc9a6663ab9d1b0a6e2dce25a12a943ed5bf2c1747c58d48bbb4917
aliyun="$(jq -n --arg d "$digest" '{push_data: {digest: $d, pushed_at: "2019-03-13 23:38:07", tag: "latest"},
  repository: {date_created: "2019-03-05 13:47:43", name: "webhook", namespace: "rancher_cn", region: "cn-shanghai",
    repo_authentication_type: "NO_CERTIFIED", repo_full_name: "rancher_cn/webhook", repo_origin_type: "NO_CERTIFIED", repo_type: "PUBLIC"}}')"
code="$(curl -sS -o "$work/bad.out" -w '%{http_code}' -H 'Content-Type: application/json' -d "$aliyun" "$hook_url&token=wrong")" || code=000
check "seed 001: a wrong token gets the hook's mismatch status (500)" eq 500 "$code"
code="$(curl -sS -o "$work/good.out" -w '%{http_code}' -H 'Content-Type: application/json' -d "$aliyun" "$hook_url&token=$token")" || code=000
check "seed 001: the Aliyun push deploys (200, /webhooks.sh through kubectl-set-image.sh)" eq 200 "$code"
kimg() { kubectl --kubeconfig "$work/kube/config" -n shop get deployment/web -o 'jsonpath={.spec.template.spec.containers[0].image}'; }
check "seed 001: the deployment runs the VPC address, pinned by digest" \
  eq "registry-vpc.cn-shanghai.aliyuncs.com/rancher_cn/webhook:latest@$digest" "$(kimg)"
check "seed 001: the answer is the script's output" contains "rancher_cn/webhook:latest@$digest" "$(cat "$work/good.out")"

# A second hook arrives the way a ConfigMap edit arrives.
jq -n '[{id: "second", "execute-command": "/bin/echo", "include-command-output-in-response": true,
  "pass-arguments-to-command": [{source: "string", name: "second hook"}]}]' >"$work/second.json"
configmap_version ..2026_01_01_00_01_00.000000002 "$work/cnrancher.json" "$work/second.json"
served_second() {
  local i
  for (( i = 0; i < 100; i++ )); do
    [[ "$(curl -sS -X POST "http://127.0.0.1:$hport/hooks/second" 2>/dev/null)" == "second hook" ]] && return 0
    sleep 0.1
  done
  docker logs --tail 20 hookrun-e2e-rancher
  return 1
}
check "seed 001: a ConfigMap ..data swap is reloaded" served_second

metrics="$(curl -fsS "http://127.0.0.1:$hport/metrics")" || metrics=""
for want in 'hookrun_http_requests_total{hook="cnrancher_website",outcome="matched"} 1' \
  'hookrun_http_requests_total{hook="cnrancher_website",outcome="rules_not_satisfied"} 1' \
  'hookrun_jobs_total{hook="cnrancher_website",state="succeeded"} 1' \
  'hookrun_reloads_total{result="ok"} 1'; do
  check "seed 001: /metrics has $want" grep -qxF -- "$want" <<<"$metrics"
done

# --- next to Swarm, through the mounted socket -----------------------------------------------
e2e_registry_start "$rport" >/dev/null
e2e_build_image hookrun-e2e/image-app:v1 v1 serve >/dev/null
e2e_build_image hookrun-e2e/image-app:v2 v2 serve >/dev/null
e2e_push hookrun-e2e/image-app:v1 "127.0.0.1:$rport/image-app:v1" >/dev/null
e2e_push hookrun-e2e/image-app:v2 "127.0.0.1:$rport/image-app:v2" >/dev/null
docker service create --detach=false --quiet --name "$svc" \
  --publish "mode=host,published=$sport,target=8080" "127.0.0.1:$rport/image-app:v1" >/dev/null
check "swarm: the service answers v1" http_is "$sport" v1

mkdir -p -- "$work/hooks"
jq -n --arg svc "$svc" '[{id: "deploy", "execute-command": "/usr/local/bin/swarm-update.sh",
  "include-command-output-in-response": true, "include-command-output-in-response-on-error": true,
  "pass-arguments-to-command": [{source: "string", name: "--service"}, {source: "string", name: $svc},
    {source: "string", name: "--timeout"}, {source: "string", name: "120"},
    {source: "string", name: "--settle"}, {source: "string", name: "3"},
    {source: "string", name: "--image"}, {source: "url", name: "image"}]}]' >"$work/hooks/hooks.json"
chmod -R a+rX -- "$work/hooks"
socket_gid="$(stat -c %g /var/run/docker.sock)"
docker run -d --name hookrun-e2e-swarm --network host --group-add "$socket_gid" \
  -e HOOKRUN_IP=127.0.0.1 -e HOOKRUN_PORT="$aport" \
  -v "$work/hooks:/etc/hookrun/hooks:ro" -v /var/run/docker.sock:/var/run/docker.sock "$hookrun_image" >/dev/null
check "swarm: the hooks container is healthy (socket group added, uid 10001)" healthy hookrun-e2e-swarm
code="$(curl -sS -o "$work/swarm.out" -w '%{http_code}' -X POST \
  "http://127.0.0.1:$aport/hooks/deploy?image=127.0.0.1:$rport/image-app:v2")" || code=000
check "swarm: the hook ran swarm-update.sh in the container (200)" eq 200 "$code"
check "swarm: the service answers v2" http_is "$sport" v2
check "swarm: the service runs v2 pinned by digest" contains "image-app:v2@sha256:" \
  "$(docker service inspect -f '{{.Spec.TaskTemplate.ContainerSpec.Image}}' "$svc")"

expect_rc 1 "swarm: without the socket's group the script says why" \
  docker run --rm --entrypoint swarm-update.sh -v /var/run/docker.sock:/var/run/docker.sock \
  "$hookrun_image" --service "$svc" --image "127.0.0.1:$rport/image-app:v1" || true
check "swarm: ... permission denied on the Docker socket" contains "permission denied on the Docker socket" "$(out)"

# --- the Swarm stack file of examples/swarm, deployed for real -------------------------------
stack=hookrun-e2e-stack
stport="$(free_port 27500)"
secrets=(aliyun-hook-key ci-hook-secret hookrun-admin-token smtp-password)
mkdir -p -- "$work/stack"
cp -- "$repo/examples/swarm/stack.yml" "$repo/examples/swarm/hooks.json" "$work/stack/"
for s in "${secrets[@]}"; do
  printf 'e2e-%s' "$s" | docker secret create "$s" - >/dev/null
  created_secrets+=("$s")
done
deploy_stack() { # deploy the stack with the current hooks.json
  (cd "$work/stack" &&
    HOOKS_VERSION="$(sha256sum hooks.json | cut -c1-12)" DOCKER_GID="$socket_gid" \
      HOOKRUN_IMAGE="$hookrun_image" HOOKRUN_PORT="$stport" docker stack deploy -c stack.yml "$stack")
}
# stack_serves PATH TEXT [METHOD]: PATH on the stack's port answers TEXT (within 90 s)
stack_serves() {
  local i body=""
  for (( i = 0; i < 180; i++ )); do
    body="$(curl -sS --max-time 2 -X "${3:-GET}" "http://127.0.0.1:$stport$1" 2>/dev/null)" || body=""
    [[ "$body" == "$2" ]] && return 0
    sleep 0.5
  done
  echo "got '$body'"
  docker service ps --no-trunc "${stack}_hookrun" | head -n 5
  return 1
}
expect_rc 0 "stack: docker stack deploy of examples/swarm/stack.yml" deploy_stack || true
check "stack: hookrun answers /readyz (no host folder made beforehand)" stack_serves /readyz ready
# hooks.json is a template (credential), not JSON yet: add the hook as text before the final ].
ping='{"id": "ping", "execute-command": "/bin/echo", "include-command-output-in-response": true,
  "pass-arguments-to-command": [{"source": "string", "name": "pong"}]}'
"$E2E_PYTHON" -c 'import sys; p = sys.argv[1]; t = open(p).read().rstrip()
assert t.endswith("]"); open(p, "w").write(t[:-1].rstrip() + ",\n" + sys.argv[2] + "\n]\n")' \
  "$work/stack/hooks.json" "$ping"
expect_rc 0 "stack: redeploying with a changed hooks.json (a new versioned config)" deploy_stack || true
check "stack: the new hook is served" stack_serves /hooks/ping pong POST

echo "image-e2e: $passed passed, $failed failed"
[[ "$failed" -eq 0 ]]
