#!/usr/bin/env bash
# /webhooks.sh - what Rancher's webhook image (cnrancher/docker-webhook) runs for its hooks,
# done by kubectl-set-image.sh: the payload is the first argument (the hook passes the
# entire payload), REPO_TYPE (aliyun, dockerhub, custom) says how to read it, NET_TYPE (vpc,
# internal) which Aliyun registry address to use, APP_NS, APP_WORKLOAD (kind/name) and
# APP_CONTAINER what to update. Unlike the original it pins the digest when the payload has
# one, waits for the rollout and undoes it when it fails. Then, when MAIL_TO and MAIL_FROM are
# set, it mails the outcome with the MAIL_* settings (base64 values as in the original) via
# `hookrun notify`. A Docker Hub test delivery (no tag) deploys nothing and mails nothing.
# Usage: /webhooks.sh PAYLOAD   (environment as above; KUBECTL_SET_IMAGE_ARGS adds flags,
#        e.g. "--timeout 120")
# Exit status: kubectl-set-image.sh's (0 updated, 2 bad input, 3 rolled back, 4 undo failed...).
set -euo pipefail

payload="${1:-}"
extra=()
if [ -n "${KUBECTL_SET_IMAGE_ARGS:-}" ]; then
  read -r -a extra <<<"$KUBECTL_SET_IMAGE_ARGS"
fi
result="$(mktemp)"
trap 'rm -f -- "$result"' EXIT
rc=0
output="$(HOOKRUN_RESULT="$result" kubectl-set-image.sh "${extra[@]}" -- "$payload" 2>&1)" || rc=$?
printf '%s\n' "$output"

status="$(sed -n 's/^status=//p' "$result" 2>/dev/null | head -n 1)"
# Nothing was deployed (a test delivery, the image already running): nothing to tell.
if [ "$rc" -eq 0 ] && [ "$status" = unchanged ]; then
  exit 0
fi
if [ -n "${MAIL_TO:-}" ] && [ -n "${MAIL_FROM:-}" ]; then
  if [ "$rc" -eq 0 ]; then outcome=success; else outcome=failure; fi
  subject="Webhooks通知: ${APP_NS:-}-${APP_WORKLOAD:-}-${APP_CONTAINER:-} 更新结果"
  if ! printf '%s\n' "$output" | hookrun notify -email "$MAIL_TO" -subject "$subject" -status "$outcome"; then
    echo "webhooks.sh: the result mail to $MAIL_TO was not sent (see the lines above)" >&2
  fi
fi
exit "$rc"
