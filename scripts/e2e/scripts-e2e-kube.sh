# shellcheck shell=bash
# shellcheck disable=SC2154 # scripts, work, marker, kport come from scripts-e2e.sh
#
# scripts-e2e-kube.sh - the kubectl-set-image.sh scenarios of scripts-e2e.sh, against the
# recording fake Kubernetes API (sourced; runs as one of the parallel groups): set image pinned
# by digest, rollout undo of Deployments and StatefulSets, seed 001's variables and payloads,
# the per-workload lock, an undo refused when the workload changed after this run's change,
# hostile inputs, and the result file.

# mkobj, kimg, kset: for group_kube (its $kcfg)
mkobj() { # KIND NAME IMAGE
  jq -n --arg kind "$1" --arg name "$2" --arg image "$3" '{apiVersion: "apps/v1", kind: $kind,
    metadata: {name: $name, namespace: "shop"},
    spec: {replicas: 2, selector: {matchLabels: {app: $name}},
      template: {metadata: {labels: {app: $name}},
        spec: {containers: [{name: "app", image: $image}, {name: "sidecar", image: "busybox:1"}]}}}}' |
    curl -fsS -o /dev/null -X POST --data-binary @- "http://127.0.0.1:$kport/fake/objects"
}
kimg() { # KIND/NAME [CONTAINER]: the container's image in the fake
  kubectl --kubeconfig "$kcfg" -n shop get "$1" -o "jsonpath={.spec.template.spec.containers[?(@.name==\"${2:-app}\")].image}"
}
kset() { "$scripts/kubectl-set-image.sh" --kubeconfig "$kcfg" --timeout 15 "$@"; }
group_kube() {
  local kcfg="$CHECK_DIR/kubeconfig" records rf="$CHECK_DIR/result" D a rca patches_before
  e2e_fake_kube_start "$kport" --fail-image ":bad" --hang-image ":hang" --ready-after 1 --progress-deadline 2
  e2e_fake_kube_kubeconfig "$kport" "$kcfg"
  records="$E2E_STATE_DIR/fake-kube.$kport/requests.jsonl"
  mkobj Deployment web reg.example/shop/web:v1
  mkobj StatefulSet db reg.example/shop/db:v1
  mkobj DaemonSet agent reg.example/shop/agent:v1
  D="sha256:$(printf '%064d' 7)"
  expect_rc 0 "kube: deployment v1 -> v2 pinned by digest" \
    env HOOKRUN_RESULT="$rf" "$scripts/kubectl-set-image.sh" --kubeconfig "$kcfg" --timeout 15 -n shop --workload deployment/web --container app --image reg.example/shop/web:v2 --digest "$D"
  check "kube: the deployment has v2@digest" eq "reg.example/shop/web:v2@$D" "$(kimg deployment/web)"
  check "kube: the other container is untouched" eq "busybox:1" "$(kimg deployment/web sidecar)"
  check "kube: exactly one result line on stdout" eq 1 "$(stdout_lines)"
  check "kube: the result has every key, its message is the result line" result_complete "$rf"
  check "kube: the result names namespace, kind, name and container, images and digest" \
    result_is "$rf" "target=kubernetes:shop/deployment/web/app" status=updated rolled_back=false \
    "image_before=reg.example/shop/web:v1" "image_after=reg.example/shop/web:v2@$D" "digest=$D" exit_code=0
  expect_rc 3 "kube: a rollout that exceeds its progress deadline is undone" \
    env HOOKRUN_RESULT="$rf" "$scripts/kubectl-set-image.sh" --kubeconfig "$kcfg" --timeout 15 -n shop --workload deployment/web --container app --image reg.example/shop/web:bad
  check "kube: after the undo the deployment has v2@digest again" eq "reg.example/shop/web:v2@$D" "$(kimg deployment/web)"
  check "kube: the result says rolled back" \
    result_is "$rf" status=rolled_back rolled_back=true "image_after=reg.example/shop/web:v2@$D" "digest=$D" exit_code=3
  check "kube: the undo was a JSON patch of the template (as kubectl rollout undo sends it)" \
    test "$(jq -s '[.[] | select(.method == "PATCH" and .content_type == "application/json-patch+json")] | length' "$records")" -ge 1
  expect_rc 3 "kube: a statefulset that never becomes ready is undone (timeout)" \
    "$scripts/kubectl-set-image.sh" --kubeconfig "$kcfg" --timeout 4 -n shop --workload sts/db --container app --image reg.example/shop/db:hang
  check "kube: the statefulset is back at v1" eq "reg.example/shop/db:v1" "$(kimg statefulset/db)"
  check "kube: the statefulset undo read ControllerRevisions" \
    test "$(jq -s '[.[] | select(.path == "/apis/apps/v1/namespaces/shop/controllerrevisions")] | length' "$records")" -ge 1
  expect_rc 0 "kube: daemonset v1 -> v2 (seed 001 env: APP_NS, APP_WORKLOAD, APP_CONTAINER, upper case)" \
    env HOOKRUN_RESULT="$rf" APP_NS=SHOP APP_WORKLOAD=DaemonSet/agent APP_CONTAINER=App \
    "$scripts/kubectl-set-image.sh" --kubeconfig "$kcfg" --timeout 15 --image reg.example/shop/agent:v2
  check "kube: the daemonset has v2" eq "reg.example/shop/agent:v2" "$(kimg daemonset/agent)"
  check "kube: ... the result's target uses the lower-cased names" \
    result_is "$rf" "target=kubernetes:shop/daemonset/agent/app" status=updated digest=
  local aliyun hub custom
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
    env HOOKRUN_RESULT="$rf" APP_NS=shop APP_WORKLOAD=deployment/web APP_CONTAINER=sidecar REPO_TYPE=dockerhub \
    "$scripts/kubectl-set-image.sh" --kubeconfig "$kcfg" --timeout 15 "$hub"
  check "kube: ... via the restartedAt annotation" \
    contains "restartedAt" "$(kubectl --kubeconfig "$kcfg" -n shop get deployment/web -o 'jsonpath={.spec.template.metadata.annotations}')"
  check "kube: ... the result says updated (restarted)" \
    result_is "$rf" "target=kubernetes:shop/deployment/web/sidecar" status=updated "image_after=docker.io/hongxiaolu/iperf3:latest"
  custom='{"push_data":{"tag":"1.2.3"},"repository":{"repo_url":"harbor.example.com","name":"web","namespace":"shop"}}'
  expect_rc 0 "kube: custom payload, REPO_TYPE=custom" \
    env APP_NS=shop APP_WORKLOAD=deployment/web APP_CONTAINER=app REPO_TYPE=custom \
    "$scripts/kubectl-set-image.sh" --kubeconfig "$kcfg" --timeout 15 "$custom"
  check "kube: the image is <repo_url>/<namespace>/<name>:<tag>" eq "harbor.example.com/shop/web:1.2.3" "$(kimg deployment/web)"
  expect_rc 0 "kube: Docker Hub's test delivery (no tag) is ignored" \
    env HOOKRUN_RESULT="$rf" APP_NS=shop APP_WORKLOAD=deployment/web APP_CONTAINER=app REPO_TYPE=dockerhub \
    "$scripts/kubectl-set-image.sh" --kubeconfig "$kcfg" '{"push_data":{},"repository":{}}'
  check "kube: ... the result says unchanged" result_is "$rf" status=unchanged "target=kubernetes:shop/deployment/web/app"
  expect_rc 4 "kube: --no-rollback leaves a failed rollout" \
    env HOOKRUN_RESULT="$rf" "$scripts/kubectl-set-image.sh" --kubeconfig "$kcfg" --timeout 15 -n shop --workload deployment/web --container app --image reg.example/shop/web:bad --no-rollback
  check "kube: ... the deployment keeps the failed image" eq "reg.example/shop/web:bad" "$(kimg deployment/web)"
  check "kube: ... the result says failed, now :bad" result_is "$rf" status=failed rolled_back=false "image_after=reg.example/shop/web:bad"
  expect_rc 0 "kube: ... and is repaired by the next deploy" \
    kset -n shop --workload deployment/web --container app --image reg.example/shop/web:v3
  expect_rc 2 "kube: no such container" kset -n shop --workload deployment/web --container nosuch --image reg.example/x:v1
  expect_rc 2 "kube: no such deployment" env HOOKRUN_RESULT="$rf" "$scripts/kubectl-set-image.sh" --kubeconfig "$kcfg" --timeout 15 -n shop --workload deployment/nosuch --container app --image reg.example/x:v1
  check "kube: ... still one result line, and a result" eq "1 invalid" "$(stdout_lines) $(result_parse "$rf" >/dev/null; echo "${RES[status]}")"

  # one run per workload at a time; an undo only of this run's own change
  bg_run a kset -n shop --workload deployment/web --container app --image reg.example/shop/web:hang --timeout 6
  a=$BG_PID
  wait_log "$CHECK_DIR/a.err" "updating deployment/web"
  expect_rc 5 "kube: --lock-timeout 0 while another run deploys the workload: busy" \
    env HOOKRUN_RESULT="$rf" "$scripts/kubectl-set-image.sh" --kubeconfig "$kcfg" --timeout 15 -n shop --workload deployment/web --container app --image reg.example/shop/web:v4 --lock-timeout 0
  check "kube: ... the result says busy" result_is "$rf" status=busy exit_code=5
  rca=0
  wait "$a" || rca=$?
  check "kube: ... the other run went on (its hanging rollout undone: exit $rca)" eq 3 "$rca"
  check "kube: ... nothing of the busy run's image was set" \
    test "$(jq -s '[.[] | select(.method == "PATCH" and (.body | tostring | contains("web:v4")))] | length' "$records")" -eq 0
  bg_run a kset -n shop --workload deployment/web --container app --image reg.example/shop/web:hang --timeout 8
  a=$BG_PID
  wait_log "$CHECK_DIR/a.err" "is at generation"
  kubectl --kubeconfig "$kcfg" -n shop set image deployment/web app=reg.example/shop/web:other >/dev/null
  rca=0
  wait "$a" || rca=$?
  check "kube: a rollout changed by someone else after this run's change: superseded (exit $rca)" eq 5 "$rca"
  check "kube: ... it undid nothing: the other change stays" eq "reg.example/shop/web:other" "$(kimg deployment/web)"
  check "kube: ... and said why" contains "changed after this run's change" "$(cat "$CHECK_DIR/a.out")"

  patches_before="$(jq -s '[.[] | select(.method == "PATCH")] | length' "$records")"
  rm -f -- "$marker.kube"
  expect_rc 2 "kube: hostile namespace" kset -n "shop;touch $marker.kube" --workload deployment/web --container app --image reg.example/x:v1
  expect_rc 2 "kube: hostile workload" kset -n shop --workload "deployment/web;touch $marker.kube" --container app --image reg.example/x:v1
  expect_rc 2 "kube: unsupported kind" kset -n shop --workload "pod/web" --container app --image reg.example/x:v1
  expect_rc 2 "kube: --help as a value" kset -n shop --workload deployment/web --container --help --image reg.example/x:v1
  expect_rc 2 "kube: command substitution as image" kset -n shop --workload deployment/web --container app --image "\$(touch $marker.kube)"
  expect_rc 2 "kube: hostile tag in an Aliyun payload" \
    env REPO_TYPE=aliyun "$scripts/kubectl-set-image.sh" --kubeconfig "$kcfg" -n shop --workload deployment/web --container app \
    "{\"push_data\":{\"tag\":\"v1;touch $marker.kube\"},\"repository\":{\"name\":\"a\",\"namespace\":\"b\",\"region\":\"cn-x\",\"repo_full_name\":\"b/a\"}}"
  expect_rc 2 "kube: .. in an Aliyun repo_full_name" \
    env REPO_TYPE=aliyun "$scripts/kubectl-set-image.sh" --kubeconfig "$kcfg" -n shop --workload deployment/web --container app \
    '{"push_data":{"tag":"v1"},"repository":{"name":"a","namespace":"b","region":"cn-x","repo_full_name":"b/../a"}}'
  expect_rc 2 "kube: hostile region in an Aliyun payload" \
    env REPO_TYPE=aliyun "$scripts/kubectl-set-image.sh" --kubeconfig "$kcfg" -n shop --workload deployment/web --container app \
    '{"push_data":{"tag":"v1"},"repository":{"name":"a","namespace":"b","region":"x.evil.com/","repo_full_name":"b/a"}}'
  check "kube: hostile inputs patched nothing" \
    eq "$patches_before" "$(jq -s '[.[] | select(.method == "PATCH")] | length' "$records")"
  check "kube: hostile inputs ran nothing" test ! -e "$marker.kube"
}
