#!/usr/bin/env bash
# notify-e2e.sh - deploy notifications end to end, on a real Docker engine, a real Swarm and a
# real registry (Debian's docker-registry), through hookrun and swarm-update.sh:
#   - a push of v2 to the registry → its notification → hookrun → swarm-update.sh → the service
#     runs v2 → a mail (a real SMTP server on loopback: aiosmtpd, smtp_server.py, with AUTH and
#     the password from a file) and a DingTalk-format message (dingtalk-receiver.py, which
#     checks the access token and recomputes the 加签 signature) both saying v1 → v2;
#   - a push of a broken v3 → swarm-update.sh rolls back → a mail and a DingTalk message saying
#     the deploy failed and was rolled back; the service still runs v2;
#   - every attempt is in GET /jobs/{id}; the SMTP password, the robot's token and its signing
#     secret are in neither the job records nor hookrun's log.
# Needs the engine in swarm mode (run.sh sets it up), root, docker.io, docker-registry,
# busybox-static, curl, jq, /usr/bin/python3 with python3-aiosmtpd. Prints one line per check
# and "N passed, M failed"; exits non-zero on any failure. Cleans up everything it started.
#
# Usage: scripts/e2e/notify-e2e.sh [HOOKRUN_BINARY]
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
# Ports below the kernel's ephemeral range (as hookrun-e2e.sh), apart from history-e2e.sh's,
# which runs beside this suite.
rport="$(free_port $((26000 + RANDOM % 1000)))"
hport="$(free_port $((28000 + RANDOM % 500)))"
sport="$(free_port $((28500 + RANDOM % 500)))"
reg="127.0.0.1:$rport"
repo_name="hookrun-e2e/notify"
service="e2e-notify"
token="e2e-notify-token"
ding_token="dingtalkE2Etoken0123456789"
ding_secret="SECe2e-dingtalk-signing-secret"
smtp_password="e2e-smtp-Pa55word"
hook_pid=""
smtp_pid=""
ding_pid=""

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  set +e
  docker service rm "$service" >/dev/null 2>&1
  local pid
  for pid in "$hook_pid" "$smtp_pid" "$ding_pid"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  e2e_registry_stop "$rport"
  rm -rf -- "$work"
}
trap cleanup EXIT

if [ "$(id -u)" -ne 0 ] || ! command -v dockerd >/dev/null 2>&1; then
  echo "!!! notify-e2e: Docker end-to-end tests need root and docker.io; NOT RUN" >&2
  exit 1
fi

# started_port FILE PID: waits for "port N" in FILE (the receivers print it once listening).
started_port() {
  local file="$1" pid="$2" i port
  for ((i = 0; i < 100; i++)); do
    port="$(sed -n 's/^port \([0-9][0-9]*\)$/\1/p' "$file" 2>/dev/null | head -n 1)"
    if [ -n "$port" ]; then
      printf '%s\n' "$port"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "!!! notify-e2e: a receiver did not start: $(cat "$file" 2>/dev/null)" >&2
  return 1
}

# --- the receivers: a real SMTP server with AUTH, a DingTalk-format robot endpoint -------------
mkdir -p "$work/mail" "$work/ding"
printf '%s\n' "$smtp_password" >"$work/smtp-password"
printf '%s\n' "$ding_secret" >"$work/ding-secret"
chmod 600 "$work/smtp-password" "$work/ding-secret"
/usr/bin/python3 "$repo/tests/hookrun/notify/smtp_server.py" --dir "$work/mail" \
  --user hookrun@example.com --password-file "$work/smtp-password" >"$work/smtp.out" 2>&1 &
smtp_pid=$!
/usr/bin/python3 "$here/dingtalk-receiver.py" --dir "$work/ding" --token "$ding_token" \
  --secret-file "$work/ding-secret" >"$work/ding.out" 2>&1 &
ding_pid=$!
smtp_port="$(started_port "$work/smtp.out" "$smtp_pid")"
ding_port="$(started_port "$work/ding.out" "$ding_pid")"

# --- hookrun: seed 000's hook (registry push → swarm-update.sh) with mail and DingTalk -------
# Pushes of v1 (the service's first image) are not deployed: only v2 and v3 pass the rules.
cat >"$work/hooks.json" <<EOF
[
  {
    "id": "deploy-web",
    "execute-command": "$repo/scripts/swarm-update.sh",
    "pass-arguments-to-command": [
      { "source": "string", "name": "--service" }, { "source": "string", "name": "$service" },
      { "source": "string", "name": "--timeout" }, { "source": "string", "name": "60" }
    ],
    "registry-event": { "provider": "auto", "registry-host": "$reg" },
    "concurrency": "serial",
    "command-timeout": "3m",
    "success-http-response-code": 202,
    "trigger-rule": { "and": [
      { "match": { "type": "value", "value": "Bearer $token",
        "parameter": { "source": "header", "name": "Authorization" } } },
      { "match": { "type": "regex", "regex": "^v[23]$",
        "parameter": { "source": "event", "name": "tag" } } }
    ] },
    "notify": [
      { "on": ["success", "failure"], "email": { "to": ["ops@example.com"] } },
      { "on": ["success", "failure"], "webhook": {
          "format": "dingtalk",
          "url": "http://127.0.0.1:$ding_port/robot/send?access_token=$ding_token",
          "secret-file": "$work/ding-secret" } }
    ]
  }
]
EOF
"$hookrun" -hooks "$work/hooks.json" -ip 127.0.0.1 -port "$hport" -verbose \
  -smtp "smtp://hookrun%40example.com@127.0.0.1:$smtp_port" \
  -smtp-password-file "$work/smtp-password" >"$work/hookrun.log" 2>&1 &
hook_pid=$!
e2e_wait_http "http://127.0.0.1:$hport/" OK 10

# --- images, registry (notifying hookrun), the swarm service at v1 ------------------------------
e2e_build_images "$repo_name"
e2e_registry_start "$rport" "http://127.0.0.1:$hport/hooks/deploy-web" "Bearer $token"
d1="$(e2e_push "$repo_name:v1" "$reg/$repo_name:v1")"
docker service create --detach=false --quiet --name "$service" --with-registry-auth \
  --publish "mode=host,target=8080,published=$sport" "$reg/$repo_name:v1@$d1" >/dev/null
e2e_wait_http "http://127.0.0.1:$sport/" v1 60

answers() { # answers TEXT: the service answers TEXT now
  [ "$(curl -fsS --max-time 2 "http://127.0.0.1:$sport/" 2>/dev/null)" = "$1" ]
}
count() { find "$1" -maxdepth 1 -name '*.json' | wc -l; }
wait_count() { # wait_count DIR N: until DIR holds N saved messages (3 minutes at most)
  local i
  for ((i = 0; i < 360; i++)); do
    [ "$(count "$1")" -ge "$2" ] && return 0
    sleep 0.5
  done
  return 1
}
nth() { find "$1" -maxdepth 1 -name '*.json' | sort | sed -n "$2p"; }
# The job ids hookrun started, in order (its log names each one).
jobs_started() { sed -n 's/.*job started.*job_id=\([0-9a-f]\{32\}\).*/\1/p' "$work/hookrun.log"; }
job() { curl -fsS "http://127.0.0.1:$hport/jobs/$1"; }

# --- 1. a push of v2: the service moves to v2, and mail + DingTalk say v1 → v2 ----------------
e2e_push "$repo_name:v2" "$reg/$repo_name:v2" >/dev/null
wait_count "$work/mail" 1 || true
wait_count "$work/ding" 1 || true
mail1="$(nth "$work/mail" 1)"
ding1="$(nth "$work/ding" 1)"
check "push of v2: the service answers v2" answers v2
check "a mail arrived for the v2 deploy" test -n "$mail1"
check "the v2 mail: to ops@example.com, sent with AUTH, subject says succeeded and v1 → v2" \
  jq -e '.rcpt_tos == ["ops@example.com"] and .authenticated
    and (.subject | test("deploy-web succeeded") and test(":v1") and test("→") and test(":v2"))' "$mail1"
check "the v2 mail's text names the hook, the status, exit code 0 and the images" \
  jq -e '.text | test("deploy-web") and test("succeeded") and test("exit code 0")
    and test("notify:v1") and test("notify:v2")' "$mail1"
check "a DingTalk message arrived, token checked and 加签 signature verified" \
  jq -e '.token_ok and .sign_ok and .fresh and .path == "/robot/send"' "$ding1"
check "the DingTalk message is markdown saying succeeded and v1 → v2" \
  jq -e '.body.msgtype == "markdown" and (.body.markdown.text | test("succeeded")
    and test("notify:v1") and test("→") and test("notify:v2"))' "$ding1"
job1="$(jobs_started | sed -n 1p)"
check "GET /jobs/{id} of the v2 deploy lists both deliveries" \
  bash -c "$(declare -f job); job '$job1' | jq -e '.state == \"succeeded\"
    and ([.notifications[] | select(.outcome == \"delivered\")] | length) == 2'"

# --- 2. a push of a broken v3: rolled back, and mail + DingTalk say so ------------------------
e2e_push "$repo_name:v3" "$reg/$repo_name:v3" >/dev/null
wait_count "$work/mail" 2 || true
wait_count "$work/ding" 2 || true
mail2="$(nth "$work/mail" 2)"
ding2="$(nth "$work/ding" 2)"
check "a mail arrived for the broken v3" test -n "$mail2"
check "the v3 mail's subject says it failed and was rolled back" \
  jq -e '.subject | test("deploy-web failed \\(rolled back\\)")' "$mail2"
check "the v3 mail's text says exit code 3, rolled back, and names v3" \
  jq -e '.text | test("exit code 3") and test("Rolled back") and test("notify:v3")' "$mail2"
check "the v3 DingTalk message (signed) says failed and rolled back" \
  jq -e '.sign_ok and (.body.markdown.text | test("failed") and test("rolled back"))' "$ding2"
e2e_wait_http "http://127.0.0.1:$sport/" v2 60 >/dev/null 2>&1 || true
check "after the failed v3 the service still answers v2" answers v2
job2="$(jobs_started | sed -n 2p)"
check "GET /jobs/{id} of v3: failed, exit 3, rolled_back=true, both deliveries" \
  bash -c "$(declare -f job); job '$job2' | jq -e '.state == \"failed\" and .exit_code == 3
    and .result.rolled_back == \"true\"
    and ([.notifications[] | select(.outcome == \"delivered\")] | length) == 2'"

# --- 3. no secret in job records or the log -------------------------------------------------
not_in() { ! grep -qF -- "$1" "$2"; } # not_in TEXT FILE
job "$job1" >"$work/records"
job "$job2" >>"$work/records"
for secret in "$smtp_password" "$ding_token" "$ding_secret"; do
  check "secret ${secret:0:6}… is in no job record" not_in "$secret" "$work/records"
  check "secret ${secret:0:6}… is not in hookrun's log" not_in "$secret" "$work/hookrun.log"
done
check "the log shows the robot's URL with its token masked" grep -qF 'access_token=***' "$work/hookrun.log"

printf '%s passed, %s failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
