#!/usr/bin/env bash
# The job store on a state folder that fills up or cannot be written: a small tmpfs made
# here. hookrun must keep answering every request and running every job, and say so loudly
# in its log, in its store health (GET /admin/store) and in /metrics.
#
# Usage: tests/store/faults.sh [path/to/hookrun]   (as root: it mounts a tmpfs)
set -euo pipefail

bin=$(realpath "${1:-target/debug/hookrun}")
work=$(mktemp -d)
mnt="$work/mnt"
mkdir -p "$mnt"
pid=""
token="faults-admin-token-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  umount "$mnt" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL store faults: $*" >&2; [ -f "$work/log" ] && tail -20 "$work/log" >&2; exit 1; }
ok() { echo "ok   $*"; }

# Every job writes 64 KiB of output: a 1 MiB tmpfs is full after a dozen.
cat > "$work/hooks.json" <<'JSON'
[{"id": "big", "execute-command": "/bin/sh",
  "pass-arguments-to-command": [{"source": "string", "name": "-c"},
                                {"source": "string", "name": "head -c 65536 /dev/zero | tr '\\0' x; echo"}]},
 {"id": "guarded", "execute-command": "/bin/true",
  "trigger-rule": {"match": {"type": "value", "value": "s3cret", "parameter": {"source": "url", "name": "token"}}},
  "trigger-rule-mismatch-http-response-code": 403}]
JSON
printf '%s\n' "$token" > "$work/token"

start() {
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  base="http://127.0.0.1:$port"
  "$bin" -hooks "$work/hooks.json" -ip 127.0.0.1 -port "$port" -state "$mnt/state" \
    -state-max-size 64MiB -admin-token-file "$work/token" -verbose >"$work/log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -fs "$base/" >/dev/null 2>&1 && return; sleep 0.05; done
  fail "hookrun did not start"
}

stop() { kill "$pid"; wait "$pid" || true; pid=""; }

# Sends $1 requests to the big hook; every one must be answered 200 and its job succeed.
serve_all() {
  local n=$1 i id status
  for i in $(seq "$n"); do
    status=$(curl -s -o /dev/null -D "$work/headers" -w '%{http_code}' -X POST "$base/hooks/big")
    [ "$status" = 200 ] || fail "request $i answered $status"
    id=$(tr -d '\r' < "$work/headers" | sed -n 's/^[Hh]ookrun-[Jj]ob-[Ii]d: //p')
    for _ in $(seq 200); do
      state=$(curl -fs "$base/jobs/$id" | jq -r .state)
      [ "$state" = succeeded ] && break
      [ "$state" = running ] || [ "$state" = queued ] || fail "job $id ended $state"
      sleep 0.02
    done
    [ "$state" = succeeded ] || fail "job $id did not finish"
    # A request refused by its rules is answered as fast as ever.
    status=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/hooks/guarded?token=no")
    [ "$status" = 403 ] || fail "refused request answered $status"
  done
}

health() { curl -fs -H "Authorization: Bearer $token" "$base/admin/store"; }

# metrics_agree HEALTH: /metrics says degraded and counts at least the failures HEALTH counted.
metrics_agree() {
  local m failures
  m=$(curl -fs "$base/metrics") || fail "GET /metrics failed"
  grep -qx 'hookrun_store_degraded 1' <<<"$m" || fail "/metrics does not say the store is degraded: $(grep store_ <<<"$m")"
  failures=$(sed -n 's/^hookrun_store_write_failures_total \([0-9]*\)$/\1/p' <<<"$m")
  if [ -z "$failures" ] || [ "$failures" -lt "$(jq -r .write_failures <<<"$1")" ]; then
    fail "/metrics counts ${failures:-no} write failures where the store health says $(jq -r .write_failures <<<"$1")"
  fi
}

# 1. A full disk while running.
mount -t tmpfs -o size=1m,mode=0755 tmpfs "$mnt" || fail "cannot mount a tmpfs (run as root)"
start
serve_all 40
grep -q "STATE STORE WRITE FAILED" "$work/log" || fail "no loud log line on a full disk"
h=$(health)
[ "$(jq -r .degraded <<<"$h")" = true ] || fail "store not degraded on a full disk: $h"
[ "$(jq -r .write_failures <<<"$h")" -ge 1 ] || fail "no write failure counted: $h"
metrics_agree "$h"
ok "full state folder: 40 requests served, 40 jobs succeeded; log says so; health: $(jq -c '{degraded,write_failures,last_error}' <<<"$h")"
stop

# 2. A read-only state folder from the start (the database cannot be opened for writing).
umount "$mnt"
mount -t tmpfs -o size=1m,mode=0755 tmpfs "$mnt"
mkdir "$mnt/state"
mount -o remount,ro "$mnt"
start
serve_all 10
grep -q "STATE STORE WRITE FAILED" "$work/log" || fail "no loud log line on a read-only folder"
h=$(health)
[ "$(jq -r .degraded <<<"$h")" = true ] || fail "store not degraded on a read-only folder: $h"
metrics_agree "$h"
ok "read-only state folder: 10 requests served, 10 jobs succeeded; health: $(jq -c '{degraded,write_failures,last_error}' <<<"$h")"
stop
echo "store faults: all checks passed"
