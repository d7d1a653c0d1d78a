#!/usr/bin/env bash
# shellcheck shell=bash
#
# env.sh - set up (and tear down) a real Docker environment for hookrun's end-to-end tests.
#
# Source it and call the functions, or run it as a command:
#   source scripts/e2e/env.sh && e2e_dockerd_start
#   bash scripts/e2e/env.sh dockerd_start          # same, as one process
#
# Every function is idempotent and remembers what IT started in $E2E_STATE_DIR
# (default /tmp/hookrun-e2e-state), so separate processes (a Rust test, a shell runner) can
# start something in one call and stop it in another; the stop functions only stop what the
# matching start function started (an already running dockerd, an already active swarm are
# used and left alone).
#
# Functions (all return non-zero with a message on stderr when they fail):
#   e2e_dockerd_start [TIMEOUT]            dockerd --storage-driver=vfs unless one answers
#   e2e_dockerd_stop                       stop it, only if e2e_dockerd_start started it
#   e2e_dockerd_restart [DOWN_SECONDS]     restart it (only if e2e_dockerd_start started it)
#   e2e_swarm_init                         docker swarm init --advertise-addr 127.0.0.1 if inactive
#   e2e_swarm_leave                        leave the swarm, only if e2e_swarm_init created it
#   e2e_build_images [REPO]                build REPO:v1 .. REPO:v5 (default hookrun-e2e/app)
#   e2e_build_image REF TEXT KIND          one image (kinds: serve serve-health broken late-crash
#                                          unhealthy), answering TEXT
#   e2e_registry_start PORT [NOTIFY_URL [AUTH_HEADER]]  Debian's docker-registry on 127.0.0.1:PORT
#   e2e_registry_stop PORT                 stop it and delete its storage
#   e2e_push LOCAL_IMAGE TARGET_REF        docker tag + docker push; prints the pushed digest
#   e2e_wait_http URL EXPECTED TIMEOUT     wait until GET URL returns a body containing EXPECTED
#   e2e_fake_kube_start PORT [ARGS...]     start fake-kube-api.py (ARGS passed through)
#   e2e_fake_kube_stop PORT                stop it
#   e2e_fake_kube_kubeconfig PORT FILE     write a kubeconfig for it
#
# Settings (environment): E2E_STATE_DIR (see above), E2E_APP_PORT (8080: the port the images
# serve on), E2E_BUSYBOX (/bin/busybox), E2E_REGISTRY_BIN (docker-registry), E2E_PYTHON
# (/usr/bin/python3).
#
# The images: a busybox rootfs (Debian's busybox-static) imported with `docker import`.
#   v1, v2: `busybox httpd -f -p 8080 -h /www`, GET / answers "v1" / "v2"
#           (ENV APP_VERSION and LABEL org.hookrun.e2e.version differ, so tests can see that
#           the new image's defaults win; v2 also has a HEALTHCHECK, interval 1s)
#   v3:     broken, exits 1 at start
#   v4:     serves v4 for 8 s, then exits 1 (a late crash)
#   v5:     serves v5, but its HEALTHCHECK always fails
# Port 8080 inside the container; publish it with mode=host / -p 127.0.0.1:P:8080.

E2E_STATE_DIR="${E2E_STATE_DIR:-/tmp/hookrun-e2e-state}"
E2E_APP_PORT="${E2E_APP_PORT:-8080}"
E2E_BUSYBOX="${E2E_BUSYBOX:-/bin/busybox}"
E2E_REGISTRY_BIN="${E2E_REGISTRY_BIN:-docker-registry}"
E2E_PYTHON="${E2E_PYTHON:-/usr/bin/python3}"
_E2E_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"

_e2e_log() { printf 'e2e: %s\n' "$*" >&2; }
_e2e_state() { mkdir -p -- "$E2E_STATE_DIR" && printf '%s\n' "$E2E_STATE_DIR"; }

_e2e_check_port() {
  if [[ ! "${1:-}" =~ ^[0-9]{1,5}$ ]] || (( 10#$1 < 1 || 10#$1 > 65535 )); then
    _e2e_log "invalid port: ${1:-<empty>}"
    return 2
  fi
}

# _e2e_pid_alive PIDFILE: the process named in PIDFILE is alive
_e2e_pid_alive() {
  local pid
  [[ -f "$1" ]] || return 1
  pid="$(<"$1")"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null
}

# _e2e_kill_pidfile PIDFILE TIMEOUT: SIGTERM, wait, SIGKILL; remove the pidfile
_e2e_kill_pidfile() {
  local pidfile="$1" timeout="${2:-20}" pid i
  if _e2e_pid_alive "$pidfile"; then
    pid="$(<"$pidfile")"
    kill -TERM "$pid" 2>/dev/null || true
    for (( i = 0; i < timeout * 10; i++ )); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      _e2e_log "pid $pid did not stop in ${timeout}s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
    fi
  fi
  rm -f -- "$pidfile"
}

# e2e_dockerd_start [TIMEOUT]: make sure a Docker engine answers on the default socket
e2e_dockerd_start() {
  local timeout="${1:-60}" state i
  state="$(_e2e_state)"
  if docker info >/dev/null 2>&1; then
    return 0
  fi
  if ! command -v dockerd >/dev/null 2>&1; then
    _e2e_log "dockerd not installed (apt-get install -y docker.io)"
    return 1
  fi
  _e2e_log "starting dockerd --storage-driver=vfs (log: $state/dockerd.log)"
  # setsid: dockerd must not die with the shell that started it (a test harness process).
  setsid dockerd --storage-driver=vfs --pidfile "$state/dockerd.pid" \
    >>"$state/dockerd.log" 2>&1 </dev/null &
  printf '%s\n' "$!" >"$state/dockerd.ours"
  for (( i = 0; i < timeout * 2; i++ )); do
    if docker info >/dev/null 2>&1; then
      _e2e_log "dockerd is up"
      return 0
    fi
    if ! kill -0 "$(<"$state/dockerd.ours")" 2>/dev/null; then
      _e2e_log "dockerd exited; last log lines:"
      tail -n 20 -- "$state/dockerd.log" >&2
      rm -f -- "$state/dockerd.ours"
      return 1
    fi
    sleep 0.5
  done
  _e2e_log "dockerd did not answer within ${timeout}s; last log lines:"
  tail -n 20 -- "$state/dockerd.log" >&2
  return 1
}

# e2e_dockerd_stop: stop dockerd if (and only if) e2e_dockerd_start started it
e2e_dockerd_stop() {
  local state
  state="$(_e2e_state)"
  [[ -f "$state/dockerd.ours" ]] || return 0
  _e2e_log "stopping the dockerd we started"
  if [[ ! -f "$state/dockerd.pid" ]]; then
    cp -- "$state/dockerd.ours" "$state/dockerd.pid"
  fi
  _e2e_kill_pidfile "$state/dockerd.pid" 30
  rm -f -- "$state/dockerd.ours"
}

# e2e_dockerd_restart [DOWN_SECONDS]: restart the dockerd that e2e_dockerd_start started, as a
# service restart does (SIGTERM, wait for it to exit), staying down DOWN_SECONDS (default 0)
# before starting it again with the same options; waits until it answers. Refuses (and changes
# nothing) when that dockerd was not started by e2e_dockerd_start.
e2e_dockerd_restart() {
  local down="${1:-0}" state
  state="$(_e2e_state)"
  if [[ ! -f "$state/dockerd.ours" ]]; then
    _e2e_log "not restarting a dockerd that e2e_dockerd_start did not start"
    return 1
  fi
  [[ -f "$state/dockerd.pid" ]] || cp -- "$state/dockerd.ours" "$state/dockerd.pid"
  _e2e_log "restarting dockerd (down for ${down}s after it stopped)"
  _e2e_kill_pidfile "$state/dockerd.pid" 60
  rm -f -- "$state/dockerd.ours"
  sleep "$down"
  e2e_dockerd_start 120
}

# e2e_swarm_init: make this engine a single-node swarm manager if it is not in a swarm
e2e_swarm_init() {
  local state st
  state="$(_e2e_state)"
  st="$(docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null)" || {
    _e2e_log "docker not reachable"
    return 1
  }
  if [[ "$st" == "active" ]]; then
    return 0
  fi
  _e2e_log "docker swarm init --advertise-addr 127.0.0.1"
  docker swarm init --advertise-addr 127.0.0.1 >/dev/null || return 1
  : >"$state/swarm.ours"
}

# e2e_swarm_leave: leave the swarm if (and only if) e2e_swarm_init created it
e2e_swarm_leave() {
  local state
  state="$(_e2e_state)"
  [[ -f "$state/swarm.ours" ]] || return 0
  _e2e_log "docker swarm leave --force"
  docker swarm leave --force >/dev/null || return 1
  # swarm init created this bridge; leaving does not remove it
  docker network rm docker_gwbridge >/dev/null 2>&1 || true
  rm -f -- "$state/swarm.ours"
}

# _e2e_rootfs DIR VERSION: a minimal busybox root file system
_e2e_rootfs() {
  local dir="$1" version="$2" app
  mkdir -p -- "$dir/bin" "$dir/www" "$dir/etc" "$dir/tmp" "$dir/proc" "$dir/sys" "$dir/dev" "$dir/data"
  cp -- "$E2E_BUSYBOX" "$dir/bin/busybox"
  for app in sh ls cat echo env sleep usleep wget httpd false true id hostname ps kill test grep \
    timeout date; do
    ln -sf busybox "$dir/bin/$app"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$dir/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
  printf '%s\n' "$version" >"$dir/www/index.html"
  chmod 1777 "$dir/tmp"
}

# e2e_build_image REF TEXT KIND: one test image, answering TEXT on GET / (port $E2E_APP_PORT)
#   serve          busybox httpd
#   serve-health   the same with a HEALTHCHECK (interval 1s) that passes
#   broken         prints "TEXT is broken" and exits 1 at start
#   late-crash     serves for 8 s, then exits 1 (no HEALTHCHECK): a crash a settle time of 5 s misses
#   unhealthy      serves, but its HEALTHCHECK (interval 1s, 2 retries) always fails
# ENV APP_VERSION=TEXT and LABEL org.hookrun.e2e.version=TEXT differ per image, so every TEXT
# gives its own image id and registry digest.
e2e_build_image() {
  local ref="$1" text="$2" kind="$3" tmp port="$E2E_APP_PORT" rc=0
  if [[ ! -x "$E2E_BUSYBOX" ]]; then
    _e2e_log "$E2E_BUSYBOX missing (apt-get install -y busybox-static)"
    return 1
  fi
  # PID 1 gets no default signal handlers: without the trap `docker stop` would wait its full
  # grace period (10 s) on every update.
  local serve="[\"/bin/sh\",\"-c\",\"trap 'exit 0' TERM INT; /bin/busybox httpd -f -p $port -h /www & wait\"]"
  local late="[\"/bin/sh\",\"-c\",\"trap 'exit 0' TERM INT; /bin/busybox httpd -f -p $port -h /www & sleep 8 & wait \$!; echo $text crashed >&2; exit 1\"]"
  local -a changes=(
    --change "ENV APP_VERSION=$text"
    --change "ENV PATH=/bin"
    --change "LABEL org.hookrun.e2e.version=$text"
    --change "EXPOSE $port"
    --change "WORKDIR /www"
  )
  case "$kind" in
    serve) changes+=(--change "CMD $serve") ;;
    serve-health)
      changes+=(--change "CMD $serve"
        --change "HEALTHCHECK --interval=1s --timeout=2s --retries=3 CMD [\"/bin/busybox\",\"wget\",\"-q\",\"-O\",\"/dev/null\",\"http://127.0.0.1:$port/\"]") ;;
    broken) changes+=(--change "CMD [\"/bin/sh\",\"-c\",\"echo $text is broken >&2; exit 1\"]") ;;
    late-crash) changes+=(--change "CMD $late") ;;
    unhealthy)
      changes+=(--change "CMD $serve"
        --change "HEALTHCHECK --interval=1s --timeout=2s --retries=2 CMD [\"/bin/busybox\",\"wget\",\"-q\",\"-O\",\"/dev/null\",\"http://127.0.0.1:9/\"]") ;;
    *) _e2e_log "unknown image kind $kind"; return 2 ;;
  esac
  tmp="$(mktemp -d)"
  _e2e_rootfs "$tmp" "$text"
  if ! tar -C "$tmp" -c . | docker import "${changes[@]}" - "$ref" >/dev/null; then
    _e2e_log "docker import of $ref failed"
    rc=1
  fi
  rm -rf -- "$tmp"
  return "$rc"
}

# e2e_build_images [REPO]: REPO:v1 (serve), v2 (serve-health), v3 (broken), v4 (late-crash),
# v5 (unhealthy)
e2e_build_images() {
  local repo="${1:-hookrun-e2e/app}"
  e2e_build_image "$repo:v1" v1 serve &&
    e2e_build_image "$repo:v2" v2 serve-health &&
    e2e_build_image "$repo:v3" v3 broken &&
    e2e_build_image "$repo:v4" v4 late-crash &&
    e2e_build_image "$repo:v5" v5 unhealthy || return 1
  _e2e_log "built $repo:v1 .. $repo:v5"
}

# e2e_registry_start PORT [NOTIFY_URL [AUTH_HEADER]]: a registry on 127.0.0.1:PORT
# (filesystem storage in $E2E_STATE_DIR/registry.PORT/data, deleted by e2e_registry_stop).
# NOTIFY_URL: notifications endpoint; AUTH_HEADER: value of its Authorization header.
e2e_registry_start() {
  local port="${1:-}" url="${2:-}" auth="${3:-}" state dir i
  _e2e_check_port "$port" || return 2
  state="$(_e2e_state)"
  dir="$state/registry.$port"
  if _e2e_pid_alive "$dir/pid"; then
    return 0
  fi
  if ! command -v "$E2E_REGISTRY_BIN" >/dev/null 2>&1; then
    _e2e_log "$E2E_REGISTRY_BIN not installed (apt-get install -y docker-registry)"
    return 1
  fi
  if [[ -n "$url" && ! "$url" =~ ^https?://[^\"[:space:]]+$ ]] || [[ "$auth" == *[\"$'\n']* ]]; then
    _e2e_log "invalid notification URL or header: $url"
    return 2
  fi
  mkdir -p -- "$dir/data"
  {
    printf 'version: 0.1\n'
    printf 'log:\n  level: info\n  accesslog:\n    disabled: true\n'
    printf 'storage:\n  filesystem:\n    rootdirectory: "%s"\n  delete:\n    enabled: true\n' "$dir/data"
    printf 'http:\n  addr: "127.0.0.1:%s"\n' "$port"
    if [[ -n "$url" ]]; then
      printf 'notifications:\n  endpoints:\n    - name: hookrun\n'
      printf '      url: "%s"\n' "$url"
      if [[ -n "$auth" ]]; then
        printf '      headers:\n        Authorization: ["%s"]\n' "$auth"
      fi
      printf '      timeout: 2s\n      threshold: 5\n      backoff: 1s\n'
      printf '      ignoredmediatypes:\n        - application/octet-stream\n'
    fi
  } >"$dir/config.yml"
  setsid "$E2E_REGISTRY_BIN" serve "$dir/config.yml" >>"$dir/registry.log" 2>&1 </dev/null &
  printf '%s\n' "$!" >"$dir/pid"
  for (( i = 0; i < 60; i++ )); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/v2/" 2>/dev/null; then
      return 0
    fi
    if ! _e2e_pid_alive "$dir/pid"; then
      break
    fi
    sleep 0.5
  done
  _e2e_log "registry on 127.0.0.1:$port did not come up; log:"
  tail -n 20 -- "$dir/registry.log" >&2
  _e2e_kill_pidfile "$dir/pid" 5
  return 1
}

# e2e_registry_stop PORT
e2e_registry_stop() {
  local port="${1:-}" state dir
  _e2e_check_port "$port" || return 2
  state="$(_e2e_state)"
  dir="$state/registry.$port"
  [[ -d "$dir" ]] || return 0
  _e2e_kill_pidfile "$dir/pid" 10
  rm -rf -- "$dir"
}

# e2e_push LOCAL_IMAGE TARGET_REF: tag and push; prints the digest (sha256:...) on stdout
e2e_push() {
  local src="${1:-}" dst="${2:-}" out digest
  if [[ -z "$src" || -z "$dst" ]]; then
    _e2e_log "usage: e2e_push LOCAL_IMAGE TARGET_REF"
    return 2
  fi
  docker tag "$src" "$dst" || return 1
  out="$(docker push "$dst" 2>&1)" || {
    printf '%s\n' "$out" >&2
    return 1
  }
  digest="$(printf '%s\n' "$out" | grep -Eo 'digest: sha256:[0-9a-f]{64}' | head -n 1)"
  digest="${digest#digest: }"
  if [[ -z "$digest" ]]; then
    _e2e_log "no digest in docker push output: $out"
    return 1
  fi
  printf '%s\n' "$digest"
}

# e2e_wait_http URL EXPECTED TIMEOUT: wait until the body of GET URL contains EXPECTED
e2e_wait_http() {
  local url="$1" expected="$2" timeout="${3:-30}" i body
  for (( i = 0; i < timeout * 2; i++ )); do
    body="$(curl -fsS --max-time 2 -- "$url" 2>/dev/null)" || body=""
    if [[ "$body" == *"$expected"* ]]; then
      return 0
    fi
    sleep 0.5
  done
  _e2e_log "$url did not answer '$expected' within ${timeout}s (last: '${body}')"
  return 1
}

# e2e_fake_kube_start PORT [ARGS...]: the recording fake Kubernetes API on 127.0.0.1:PORT
# (requests recorded to $E2E_STATE_DIR/fake-kube.PORT/requests.jsonl unless --record is given)
e2e_fake_kube_start() {
  local port="${1:-}" state dir i
  _e2e_check_port "$port" || return 2
  shift
  state="$(_e2e_state)"
  dir="$state/fake-kube.$port"
  mkdir -p -- "$dir"
  if _e2e_pid_alive "$dir/pid"; then
    return 0
  fi
  local -a args=(--port "$port")
  local a has_record=0
  for a in "$@"; do
    [[ "$a" == "--record" ]] && has_record=1
  done
  (( has_record )) || args+=(--record "$dir/requests.jsonl")
  setsid "$E2E_PYTHON" "$_E2E_DIR/fake-kube-api.py" serve "${args[@]}" "$@" \
    >>"$dir/server.log" 2>&1 </dev/null &
  printf '%s\n' "$!" >"$dir/pid"
  for (( i = 0; i < 40; i++ )); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/version" 2>/dev/null; then
      return 0
    fi
    _e2e_pid_alive "$dir/pid" || break
    sleep 0.25
  done
  _e2e_log "fake kube api on 127.0.0.1:$port did not come up; log:"
  tail -n 20 -- "$dir/server.log" >&2
  _e2e_kill_pidfile "$dir/pid" 5
  return 1
}

# e2e_fake_kube_stop PORT
e2e_fake_kube_stop() {
  local port="${1:-}" state
  _e2e_check_port "$port" || return 2
  state="$(_e2e_state)"
  _e2e_kill_pidfile "$state/fake-kube.$port/pid" 5
}

# e2e_fake_kube_kubeconfig PORT FILE: a kubeconfig whose current context talks to the fake
e2e_fake_kube_kubeconfig() {
  local port="${1:-}" file="${2:-}"
  _e2e_check_port "$port" || return 2
  [[ -n "$file" ]] || { _e2e_log "usage: e2e_fake_kube_kubeconfig PORT FILE"; return 2; }
  "$E2E_PYTHON" "$_E2E_DIR/fake-kube-api.py" kubeconfig --port "$port" >"$file"
}

# Run as a command: `bash env.sh FUNCTION [ARGS...]` (FUNCTION with or without the e2e_ prefix).
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  if (( $# == 0 )) || [[ "$1" == "-h" || "$1" == "--help" ]]; then
    sed -n '2,/^$/s/^# \{0,1\}//p' "$0"
    exit 0
  fi
  fn="e2e_${1#e2e_}"
  shift
  case "$fn" in
    e2e_dockerd_start | e2e_dockerd_stop | e2e_dockerd_restart | e2e_swarm_init | e2e_swarm_leave | \
      e2e_build_images | e2e_build_image | \
      e2e_registry_start | e2e_registry_stop | e2e_push | e2e_wait_http | e2e_fake_kube_start | \
      e2e_fake_kube_stop | e2e_fake_kube_kubeconfig)
      "$fn" "$@" ;;
    *)
      _e2e_log "unknown function: $fn"
      exit 2 ;;
  esac
fi
