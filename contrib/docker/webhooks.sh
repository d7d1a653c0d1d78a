#!/usr/bin/env bash
# /webhooks.sh - what Rancher's webhook image (cnrancher/docker-webhook) runs for its hooks,
# done by kubectl-set-image.sh: the payload is the first argument (the hook passes the
# entire payload), REPO_TYPE (aliyun, dockerhub, custom) says how to read it, NET_TYPE (vpc,
# internal) which Aliyun registry address to use, APP_NS, APP_WORKLOAD (kind/name) and
# APP_CONTAINER what to update. Unlike the original it pins the digest when the payload has
# one, waits for the rollout and undoes it when it fails.
#
# Then, when MAIL_TO and MAIL_FROM are set, it mails the outcome to MAIL_TO (several addresses
# may be separated by commas or blanks) with the MAIL_* settings as the original reads them
# (MAIL_SMTP_SERVER, MAIL_FROM, MAIL_PASSWORD and MAIL_CACERT base64, MAIL_SMTP_PORT,
# MAIL_TLS_CHECK; implicit TLS, the login is MAIL_FROM) via `hookrun notify`: the original's
# subject, and a body saying which container, the image before and after, the result, whether
# it was rolled back, then the script's output. A mail that cannot be sent (wrong password, no
# server, a certificate not trusted) is reported on standard error with hookrun notify's reason
# and changes nothing else: the exit status stays the deploy's. A Docker Hub test delivery (no
# tag) or an image already running deploys nothing and mails nothing.
#
# The result (target, status, image_before, image_after, rolled_back...) is also appended to
# hookrun's HOOKRUN_RESULT, so the job record and hookrun's own notifications carry it.
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
trap 'rm -f -- "$result" "$result.mail"' EXIT
rc=0
output="$(HOOKRUN_RESULT="$result" kubectl-set-image.sh "${extra[@]}" -- "$payload" 2>&1)" || rc=$?
printf '%s\n' "$output"
if [ -n "${HOOKRUN_RESULT:-}" ] && [ -f "$HOOKRUN_RESULT" ]; then
  cat -- "$result" >>"$HOOKRUN_RESULT"
fi

# value KEY: the result's KEY (its last key=value line; empty when absent)
value() {
  sed -n "s/^$1=//p" "$result" | tail -n 1
}

status="$(value status)"
# Nothing was deployed (a test delivery, the image already running): nothing to tell.
if [ "$rc" -eq 0 ] && [ "$status" = unchanged ]; then
  exit 0
fi
if [ -z "${MAIL_TO:-}" ] || [ -z "${MAIL_FROM:-}" ]; then
  exit "$rc"
fi

recipients=()
read -r -a recipients <<<"${MAIL_TO//[,;]/ }"
args=()
for to in "${recipients[@]}"; do
  args+=(-email "$to")
done
if [ "$rc" -eq 0 ]; then outcome=success; else outcome=failure; fi
if [ "$(value rolled_back)" = true ]; then rolled="是 (yes)"; else rolled="否 (no)"; fi
after="$(value image_after)"
requested="$(value image_requested)"
subject="Webhooks通知: ${APP_NS:-}-${APP_WORKLOAD:-}-${APP_CONTAINER:-} 更新结果"
{
  printf '更新容器 (container): %s\n' "${APP_CONTAINER:-}"
  printf '升级前镜像 (image before): %s\n' "$(value image_before)"
  printf '升级后镜像 (image after): %s\n' "$after"
  if [ -n "$requested" ] && [ "$requested" != "$after" ]; then
    printf '请求的镜像 (image requested): %s\n' "$requested"
  fi
  printf '操作结果 (result): %s, exit %s: %s\n' "${status:-error}" "$rc" "$(value message)"
  printf '已回滚 (rolled back): %s\n' "$rolled"
  printf '\n输出 (output):\n%s\n' "$output"
} >"$result.mail"
if ! hookrun notify "${args[@]}" -subject "$subject" -status "$outcome" <"$result.mail"; then
  echo "webhooks.sh: the result mail to $MAIL_TO was NOT sent (hookrun notify's reason above); the deploy's result stands (exit $rc)" >&2
fi
exit "$rc"
