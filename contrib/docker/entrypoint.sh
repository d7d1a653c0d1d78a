#!/usr/bin/env bash
# hookrun-entrypoint - the image's command (under tini). With arguments it runs
# `hookrun ARGS...`. Without, it serves a hooks folder with reloads and the job history:
#   /etc/webhook/source when it exists (Rancher's webhook image: a ConfigMap mounted there,
#   extra flags in WEBHOOK_CMD, e.g. WEBHOOK_CMD=-template), else /etc/hookrun/hooks;
#   -hotreload -verbose -state /var/lib/hookrun, then the words of WEBHOOK_CMD.
# Every flag can also be set as HOOKRUN_<FLAG> (HOOKRUN_PORT=8080 is -port 8080).
# Usage: hookrun-entrypoint [HOOKRUN-ARGS...]
set -euo pipefail

if [ "$#" -gt 0 ]; then
  exec /usr/local/bin/hookrun "$@"
fi

hooks=/etc/hookrun/hooks
if [ -d /etc/webhook/source ]; then
  hooks=/etc/webhook/source
fi
# Split on blanks like Rancher's image does (its start.sh expands ${WEBHOOK_CMD} unquoted),
# but without glob expansion: a `*` in a flag value stays a `*`.
extra=()
if [ -n "${WEBHOOK_CMD:-}" ]; then
  read -r -a extra <<<"$WEBHOOK_CMD"
fi
exec /usr/local/bin/hookrun -hooks "$hooks" -hotreload -verbose -state /var/lib/hookrun "${extra[@]}"
