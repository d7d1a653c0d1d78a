#!/usr/bin/env bash
# Last step of a CI job: tell hookrun which image was pushed. Needs WEBHOOK_URL, WEBHOOK_SECRET
# and IMAGE (e.g. registry.example.com/team/web:1.4.2); DIGEST is optional but pins the deploy.
set -euo pipefail
: "${WEBHOOK_URL:?}" "${WEBHOOK_SECRET:?}" "${IMAGE:?}"
body=$(jq -cn --arg image "$IMAGE" --arg digest "${DIGEST:-}" \
  '{image: $image} + (if $digest == "" then {} else {digest: $digest} end)')
sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$WEBHOOK_SECRET" | sed 's/^.* //')
job=$(curl -fsS -D - -o /dev/null -H 'Content-Type: application/json' \
  -H "X-Signature-256: sha256=$sig" --data-binary "$body" "$WEBHOOK_URL" |
  tr -d '\r' | sed -n 's/^[Hh]ookrun-[Jj]ob-[Ii]d: //p')
echo "deploy job: $job"
# Follow the deploy until it ends (the output stream closes when the job does).
curl -fsSN "${WEBHOOK_URL%/hooks/*}/jobs/$job/output"
state=$(curl -fsS "${WEBHOOK_URL%/hooks/*}/jobs/$job" | jq -r .state)
echo "deploy $state"
[ "$state" = succeeded ]
