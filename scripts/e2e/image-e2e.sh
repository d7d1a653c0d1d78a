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
#   - seed 001's mail step: a real SMTP server on loopback (smtp_server.py on aiosmtpd: implicit
#     TLS with a certificate from a CA made here, AUTH), the MAIL_* variables as that image's
#     users write them (base64 with `echo`'s newline, the CA as `base64` wraps it); a deploy that
#     succeeds and one that the fake API fails and kubectl-set-image.sh rolls back each mail
#     MAIL_TO from MAIL_FROM, the original's subject, a body naming the images before and after
#     (and the rollback); MAIL_TLS_CHECK=false accepts a certificate no CA vouches for; an
#     untrusted certificate, a wrong password and an unreachable server fail the mail loudly
#     while the deploy's status, answer and job record stay the deploy's; the password is in
#     neither the container's log nor a job record;
#   - next to Swarm: a hooks folder and the Docker socket mounted with the socket's group (not
#     root), a hook running swarm-update.sh in the container updates a real service to a pushed
#     image; without the group, the script says "permission denied on the Docker socket";
#   - examples/swarm/stack.yml deployed with `docker stack deploy`, then redeployed with a
#     changed hooks.json (a new versioned config) and the new hook served.
# Prints one line per check, the build time, image size and versions, and "N passed, M failed".
# Needs root, a running engine in swarm mode (run.sh starts them), debootstrap, kubectl,
# docker-registry, busybox-static, curl, jq, openssl, /usr/bin/python3 with python3-aiosmtpd.
# Usage: scripts/e2e/image-e2e.sh [HOOKRUN_RELEASE_BINARY]   (default target/release/hookrun)
# shellcheck disable=SC2016 # jq programs and `bash -c` scripts are single-quoted on purpose
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
smtp_pid=""

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
    # The volume is in use until the engine has removed the tasks' containers, which takes a
    # while after the services are gone (vfs deletes a full copy of the image for each).
    for _ in $(seq 1 120); do
      docker ps -aq --filter label=com.docker.stack.namespace=hookrun-e2e-stack | grep -q . || break
      sleep 0.5
    done
    for _ in $(seq 1 20); do
      docker volume rm hookrun-e2e-stack_hookrun-state >/dev/null 2>&1 && break
      sleep 0.5
    done
  fi
  if [[ "${#created_secrets[@]}" -gt 0 ]]; then
    docker secret rm "${created_secrets[@]}" >/dev/null 2>&1
  fi
  e2e_fake_kube_stop "$kport" >/dev/null 2>&1
  if [[ -n "$smtp_pid" ]]; then
    kill "$smtp_pid" 2>/dev/null && wait "$smtp_pid" 2>/dev/null
  fi
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
# A rollout of an image tagged :broken never completes (Progressing=False after 2 s).
e2e_fake_kube_start "$kport" --ready-after 1 --fail-image ":broken" --progress-deadline 2 >/dev/null
mkdir -p -- "$work/kube"
e2e_fake_kube_kubeconfig "$kport" "$work/kube/config"
chmod -R a+rX -- "$work/kube"
jq -n '{apiVersion: "apps/v1", kind: "Deployment", metadata: {name: "web", namespace: "shop"},
  spec: {replicas: 1, selector: {matchLabels: {app: "web"}},
    template: {metadata: {labels: {app: "web"}}, spec: {containers: [{name: "app", image: "old/web:v1"}]}}}}' |
  curl -fsS -o /dev/null -X POST --data-binary @- "http://127.0.0.1:$kport/fake/objects"

# seed001_hook ID [MAIL_TO [ENV-JSON]]: seed 001's ConfigMap entry, its placeholders filled in
# (<MAIL_TO> is MAIL_TO, default dev@example.com; ENV-JSON a list of more
# pass-environment-to-command entries); the token is read from the environment by -template
# (WEBHOOK_CMD=-template, as the seed sets it)
seed001_hook() {
  jq -n --arg id "$1" --arg to "${2:-dev@example.com}" --argjson env "${3:-[]}" \
    '{id: $id, "execute-command": "/webhooks.sh", "command-working-directory": "/home",
    "response-message": "I got the payload!", "include-command-output-in-response": true,
    "include-command-output-in-response-on-error": true, "trigger-rule-mismatch-http-response-code": 500,
    "response-headers": [{name: "Access-Control-Allow-Origin", value: "*"}],
    "pass-arguments-to-command": [{source: "entire-payload"}],
    "pass-environment-to-command": ([
      {envname: "APP_NS", source: "url", name: "ns"}, {envname: "APP_WORKLOAD", source: "url", name: "workload"},
      {envname: "APP_CONTAINER", source: "url", name: "container"}, {envname: "REPO_TYPE", source: "url", name: "repo_type"},
      {envname: "NET_TYPE", source: "url", name: "net_type"}, {envname: "MAIL_TO", source: "string", name: $to}] + $env),
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

# --- seed 001's mail server: implicit TLS (as that image's curl smtps://), AUTH, a CA made here
pki="$work/pki"
mkdir -p -- "$pki" "$work/mail"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
for ca in ca other-ca; do
  openssl req -x509 "${ec[@]}" -keyout "$pki/$ca.key" -out "$pki/$ca.pem" -days 2 \
    -subj "/CN=hookrun e2e $ca" -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
done
openssl req "${ec[@]}" -keyout "$pki/server.key" -out "$pki/server.csr" -subj /CN=127.0.0.1 2>/dev/null
printf '%s\n' subjectAltName=IP:127.0.0.1 basicConstraints=CA:FALSE \
  keyUsage=critical,digitalSignature extendedKeyUsage=serverAuth >"$pki/ext.cnf"
openssl x509 -req -in "$pki/server.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -CAcreateserial \
  -out "$pki/server.pem" -days 2 -extfile "$pki/ext.cnf" 2>/dev/null
mail_from=webhooks@example.com
# Passwords as people choose them: blanks, punctuation, not only ASCII.
mail_password="e2e Mail:Pa55@密码-$RANDOM$RANDOM"
wrong_password="e2e Wrong:Pa55@密码-$RANDOM$RANDOM"
printf '%s\n' "$mail_password" >"$pki/password"
/usr/bin/python3 "$repo/tests/hookrun/notify/smtp_server.py" --dir "$work/mail" --tls implicit \
  --cert "$pki/server.pem" --key "$pki/server.key" --user "$mail_from" \
  --password-file "$pki/password" >"$work/smtp.out" 2>&1 &
smtp_pid=$!
smtp_port=""
for (( i = 0; i < 100; i++ )); do
  smtp_port="$(sed -n 's/^port \([0-9][0-9]*\)$/\1/p' "$work/smtp.out")"
  [[ -n "$smtp_port" ]] && break
  kill -0 "$smtp_pid" 2>/dev/null || break
  sleep 0.1
done
[[ -n "$smtp_port" ]] || { echo "image-e2e: the SMTP server did not start: $(cat "$work/smtp.out")" >&2; exit 1; }
dead_port="$(free_port 27600)" # nothing listens there: an unreachable mail server
# The values as seed 001's guide has its users make them: `echo x | base64` (the newline
# encoded too) and `cat ca.pem | base64` (wrapped at 76 columns).
b64() { echo "$1" | base64; }
# The same hook under other ids, each overriding one MAIL_* setting through the hook's
# environment (as seed 001 passes MAIL_TO): TLS check off with a CA that does not vouch for the
# server, TLS check on with that CA, a wrong password, nothing listening on the port.
mail_case() { # ID MAIL_TO NAME=VALUE...
  local id="$1" to="$2" env="[]" kv
  shift 2
  for kv in "$@"; do
    env="$(jq -c --arg n "${kv%%=*}" --arg v "${kv#*=}" '. + [{envname: $n, source: "string", name: $v}]' <<<"$env")"
  done
  seed001_hook "$id" "$to" "$env"
}
{
  mail_case cnrancher_insecure "dev@example.com, ops@example.com" MAIL_TLS_CHECK=false \
    "MAIL_CACERT=$(base64 <"$pki/other-ca.pem")"
  mail_case cnrancher_untrusted dev@example.com "MAIL_CACERT=$(base64 <"$pki/other-ca.pem")"
  mail_case cnrancher_badpass dev@example.com "MAIL_PASSWORD=$(b64 "$wrong_password")"
  mail_case cnrancher_nosmtp dev@example.com "MAIL_SMTP_PORT=$dead_port"
} | jq -s . >"$work/mail-cases.json"

mkdir -p -- "$work/source"
seed001_hook cnrancher_website | jq -s . >"$work/cnrancher.json"
configmap_version ..2026_01_01_00_00_00.000000001 "$work/cnrancher.json" "$work/mail-cases.json"
chmod -R a+rX -- "$work/source"

token=s3cret-$RANDOM
docker run -d --name hookrun-e2e-rancher --network host --health-interval 1s \
  -e HOOKRUN_IP=127.0.0.1 -e HOOKRUN_PORT="$hport" -e WEBHOOK_CMD=-template \
  -e DEPLOY_TOKEN="$token" -e KUBECONFIG=/etc/kube/config -e KUBECTL_SET_IMAGE_ARGS="--timeout 30" \
  -e MAIL_SMTP_SERVER="$(b64 127.0.0.1)" -e MAIL_SMTP_PORT="$smtp_port" -e MAIL_FROM="$(b64 "$mail_from")" \
  -e MAIL_PASSWORD="$(b64 "$mail_password")" -e MAIL_CACERT="$(base64 <"$pki/ca.pem")" \
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

hook_query="ns=shop&workload=deployment/web&container=app&repo_type=aliyun&net_type=vpc"
hook_url="http://127.0.0.1:$hport/hooks/cnrancher_website?$hook_query"
vpc=registry-vpc.cn-shanghai.aliyuncs.com/rancher_cn/webhook
# aliyun_push TAG DIGEST: Aliyun's push notification for rancher_cn/webhook:TAG
aliyun_push() {
  jq -n --arg t "$1" --arg d "$2" '{push_data: {digest: $d, pushed_at: "2019-03-13 23:38:07", tag: $t},
  repository: {date_created: "2019-03-05 13:47:43", name: "webhook", namespace: "rancher_cn", region: "cn-shanghai",
    repo_authentication_type: "NO_CERTIFIED", repo_full_name: "rancher_cn/webhook", repo_origin_type: "NO_CERTIFIED", repo_type: "PUBLIC"}}'
}
# deploy NAME HOOK TAG DIGEST: the push to HOOK with the right token; the answer in NAME.out, its
# headers in NAME.h; prints the status code
deploy() {
  curl -sS -o "$work/$1.out" -D "$work/$1.h" -w '%{http_code}' -H 'Content-Type: application/json' \
    -d "$(aliyun_push "$3" "$4")" "http://127.0.0.1:$hport/hooks/$2?$hook_query&token=$token" || echo 000
}
# job NAME: the job record of the job deploy NAME started (GET /jobs/{Hookrun-Job-Id})
job() {
  local id
  id="$(sed -n 's/^hookrun-job-id: *//Ip' "$work/$1.h" | tr -d '\r')"
  [[ -n "$id" ]] || { echo "no Hookrun-Job-Id in the answer to $1" >&2; return 1; }
  curl -fsS "http://127.0.0.1:$hport/jobs/$id"
}
# mails: how many mails the SMTP server got; mail N: the Nth as JSON (smtp_server.py's record)
mails() { find "$work/mail" -maxdepth 1 -name '*.json' | wc -l; }
mail() { cat -- "$(find "$work/mail" -maxdepth 1 -name '*.json' | sort | sed -n "$1p")"; }
digest=sha256:457f4aa83fc9a6663ab9d1b0a6e2dce25a12a943ed5bf2c1747c58d48bbb4917
code="$(curl -sS -o "$work/bad.out" -w '%{http_code}' -H 'Content-Type: application/json' -d "$(aliyun_push latest "$digest")" "$hook_url&token=wrong")" || code=000
check "seed 001: a wrong token gets the hook's mismatch status (500)" eq 500 "$code"
code="$(deploy good cnrancher_website latest "$digest")"
check "seed 001: the Aliyun push deploys (200, /webhooks.sh through kubectl-set-image.sh)" eq 200 "$code"
kimg() { kubectl --kubeconfig "$work/kube/config" -n shop get deployment/web -o 'jsonpath={.spec.template.spec.containers[0].image}'; }
check "seed 001: the deployment runs the VPC address, pinned by digest" eq "$vpc:latest@$digest" "$(kimg)"
check "seed 001: the answer is the script's output" contains "rancher_cn/webhook:latest@$digest" "$(cat "$work/good.out")"
subject="Webhooks通知: shop-deployment/web-app 更新结果"
check "mail: the deploy is mailed (one mail, sent before the hook answered)" eq 1 "$(mails)"
check "mail: to MAIL_TO from MAIL_FROM, over TLS trusting MAIL_CACERT, logged in with MAIL_PASSWORD" \
  jq -e --arg from "$mail_from" '.rcpt_tos == ["dev@example.com"] and .mail_from == $from
    and .from == $from and .tls and .authenticated' <<<"$(mail 1)"
check "mail: the original's subject" eq "$subject" "$(jq -r .subject <<<"$(mail 1)")"
check "mail: the body names the container, old/web:v1 before and the pinned image after" \
  jq -e --arg after "$vpc:latest@$digest" '.text | contains("更新容器 (container): app")
    and contains("升级前镜像 (image before): old/web:v1") and contains("升级后镜像 (image after): " + $after)
    and contains("操作结果 (result): updated, exit 0") and contains("已回滚 (rolled back): 否 (no)")' <<<"$(mail 1)"
check "mail: the job record has the deploy's result (image before and after)" \
  jq -e --arg after "$vpc:latest@$digest" '.state == "succeeded" and .result.image_before == "old/web:v1"
    and .result.image_after == $after and .result.rolled_back == "false"' <<<"$(job good)"

# A second hook arrives the way a ConfigMap edit arrives.
jq -n '[{id: "second", "execute-command": "/bin/echo", "include-command-output-in-response": true,
  "pass-arguments-to-command": [{source: "string", name: "second hook"}]}]' >"$work/second.json"
configmap_version ..2026_01_01_00_01_00.000000002 "$work/cnrancher.json" "$work/mail-cases.json" "$work/second.json"
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

# --- the mail step when things fail ----------------------------------------------------------
d2=sha256:$(printf broken | sha256sum | cut -c1-64)
code="$(deploy broken cnrancher_website broken "$d2")"
check "mail: a push the rollout fails is rolled back (500, the script's exit 3)" eq 500 "$code"
check "mail: ... the deployment runs the previous image again" eq "$vpc:latest@$digest" "$(kimg)"
check "mail: ... and it is mailed too" eq 2 "$(mails)"
check "mail: the failure mail: same subject, names the broken image, says rolled back, exit 3" \
  jq -e --arg s "$subject" --arg before "$vpc:latest@$digest" --arg req "$vpc:broken@$d2" \
    '.subject == $s and .rcpt_tos == ["dev@example.com"] and (.text | contains("升级前镜像 (image before): " + $before)
    and contains("升级后镜像 (image after): " + $before) and contains("请求的镜像 (image requested): " + $req)
    and contains("操作结果 (result): rolled_back, exit 3") and contains("已回滚 (rolled back): 是 (yes)"))' <<<"$(mail 2)"
check "mail: the job record says failed, exit 3, rolled back" \
  jq -e '.state == "failed" and .exit_code == 3 and .result.rolled_back == "true"' <<<"$(job broken)"

d3=sha256:$(printf insecure | sha256sum | cut -c1-64)
code="$(deploy insecure cnrancher_insecure latest "$d3")"
check "mail: MAIL_TLS_CHECK=false: the deploy answers 200" eq 200 "$code"
check "mail: ... the mail is sent although no CA given vouches for the server" eq 3 "$(mails)"
check "mail: ... to both addresses of MAIL_TO, over TLS, the image after named" \
  jq -e --arg after "$vpc:latest@$d3" '.rcpt_tos == ["dev@example.com", "ops@example.com"] and .tls
    and (.text | contains("升级后镜像 (image after): " + $after))' <<<"$(mail 3)"

d4=sha256:$(printf untrusted | sha256sum | cut -c1-64)
code="$(deploy untrusted cnrancher_untrusted latest "$d4")"
check "mail: a certificate MAIL_CACERT does not vouch for: the deploy still answers 200" eq 200 "$code"
check "mail: ... and runs the new image" eq "$vpc:latest@$d4" "$(kimg)"
check "mail: ... no mail is sent" eq 3 "$(mails)"
check "mail: ... the answer says the mail was not sent, and why (the certificate)" \
  grep -qiE 'certificate|UnknownIssuer' "$work/untrusted.out"
check "mail: ... and names the failure loudly" grep -qF "was NOT sent" "$work/untrusted.out"

d5=sha256:$(printf badpass | sha256sum | cut -c1-64)
code="$(deploy badpass cnrancher_badpass latest "$d5")"
check "mail: a wrong MAIL_PASSWORD: the deploy still answers 200 and runs the new image" \
  eq "200 $vpc:latest@$d5" "$code $(kimg)"
check "mail: ... no mail is sent" eq 3 "$(mails)"
check "mail: ... the answer says the mail was not sent: the server refused the login (535)" \
  bash -c 'grep -qF "was NOT sent" "$1" && grep -qE "535|uthentication" "$1"' _ "$work/badpass.out"
check "mail: ... the job record says succeeded, exit 0" \
  jq -e '.state == "succeeded" and .exit_code == 0' <<<"$(job badpass)"

d6=sha256:$(printf nosmtp | sha256sum | cut -c1-64)
code="$(deploy nosmtp cnrancher_nosmtp broken "$d6")"
check "mail: no server listening and a failing rollout: the answer is the deploy's (500)" eq 500 "$code"
check "mail: ... rolled back to the previous image" eq "$vpc:latest@$d5" "$(kimg)"
check "mail: ... no mail is sent, and the answer says so" \
  bash -c '[[ "$2" == 3 ]] && grep -qF "was NOT sent" "$1"' _ "$work/nosmtp.out" "$(mails)"
check "mail: ... the job record says failed, exit 3, rolled back" \
  jq -e '.state == "failed" and .exit_code == 3 and .result.rolled_back == "true"' <<<"$(job nosmtp)"

docker logs hookrun-e2e-rancher >"$work/rancher.log" 2>&1
for name in good broken insecure untrusted badpass nosmtp; do
  job "$name"
done >"$work/records.json"
not_in() { ! grep -qF -- "$1" "$2"; } # not_in TEXT FILE
declare -A mail_secrets=([MAIL_PASSWORD]="$mail_password" ["MAIL_PASSWORD's base64"]="$(b64 "$mail_password")"
  ["the wrong password"]="$wrong_password" ["the wrong password's base64"]="$(b64 "$wrong_password")")
for name in "${!mail_secrets[@]}"; do
  check "mail: $name is not in the container's log" not_in "${mail_secrets[$name]}" "$work/rancher.log"
  check "mail: $name is in no job record" not_in "${mail_secrets[$name]}" "$work/records.json"
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
