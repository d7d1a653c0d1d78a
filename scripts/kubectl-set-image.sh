#!/usr/bin/env bash
#
# kubectl-set-image.sh - set one container's image on a Deployment, StatefulSet or DaemonSet,
# pinned by digest where known, wait for the rollout with a timeout, undo it when it fails.
#
# Theory of operation
#   1. Validate every input (namespace and names are RFC 1123, the kind is one of three, the
#      image follows the Docker reference grammar); nothing runs before that.
#   2. The image: --image (or HOOKRUN_IMAGE...), else built from the registry payload given as
#      the first argument, the way users of Rancher's cnrancher/docker-webhook image configure it
#      (REPO_TYPE aliyun|dockerhub|custom, NET_TYPE vpc|internal|public). The payload is
#      parsed with jq, never evaluated.
#   3. Read the container's current image (it must exist), then `kubectl set image` to
#      NAME:TAG@DIGEST when a digest is known (Aliyun payloads carry one). When only a tag is
#      known and it is already set (a re-pushed tag), `kubectl rollout restart` instead: the
#      nodes re-pull only if the container's imagePullPolicy is Always (the default for
#      :latest); the script warns otherwise.
#   4. `kubectl rollout status --timeout`; then check that the workload has the new image.
#   5. On failure `kubectl rollout undo` and the same wait for the previous image -> exit 3;
#      when that fails too -> exit 4. A run only undoes its own change: when the workload's
#      generation is no longer the one its `set image` produced (another deploy changed the
#      spec since), it undoes nothing and exits 5.
#   Kubernetes looks objects up by exact name, so no name can hit another workload. Runs for
#   the same workload on this host take turns (a per-workload lock, see --lock-timeout).
#
# Exit codes: 0 updated and verified (or already running that image; also a payload with no
# image in it, such as Docker Hub's test delivery: nothing to do), 1 internal error (kubectl or
# jq missing, API server not reachable), 2 invalid input or usage, no such namespace, workload
# or container, 3 the rollout failed and the previous image runs again (also: `kubectl set
# image` failed, nothing changed), 4 the rollout failed and the undo failed too (or
# --no-rollback), or the workload was not healthy although nothing was changed, 5 busy or
# superseded: another run held the workload too long, or changed it after this run did.
set -euo pipefail

# shellcheck disable=SC2034,SC2317 # the embedded library defines more than this script uses
{
# BEGIN hookrun-common
# Exit codes shared by all scripts.
HR_EXIT_OK=0              # updated and verified (or already running the requested image)
HR_EXIT_INTERNAL=1        # unexpected/internal error: docker or kubectl not reachable, a bug
HR_EXIT_INVALID=2         # invalid input or usage error: nothing was changed
HR_EXIT_ROLLED_BACK=3     # the update failed; the previous version runs again (or never stopped)
HR_EXIT_ROLLBACK_FAILED=4 # the update failed and the previous version could not be restored
HR_EXIT_BUSY=5            # another run on the same target held its lock too long, or replaced
                          # this run's change before it was verified: this run rolled nothing back

HR_PROG="${HR_PROG:-${0##*/}}"
HR_TMP=""          # this run's private temporary directory (hr_init)
HR_TARGET=""       # the target as results name it: swarm:NAME, container:NAME,
                   # kubernetes:NAMESPACE/KIND/NAME/CONTAINER
HR_DESC=""         # the target as the result line names it ("service web")
HR_BEFORE=""       # image reference the target ran before this run
HR_REQUESTED=""    # image reference this run deploys (pinned when the digest is known)
HR_AFTER=""        # image reference the target runs when this run ends
HR_AFTER_DIGEST="" # digest of HR_AFTER when the reference does not carry it
HR_FINISHED=0
HR_ERR_AT=""       # the command that failed last (for an unexpected exit)
HR_INTERRUPT_NOTE="" # added to the result line when a signal ends the run
HR_LOCK_FD=""
HR_LOCK_FILE=""

# hr_log MESSAGE...: progress and diagnostics, on stderr, one line each
hr_log() {
  printf '%s %s: %s\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" "$HR_PROG" "$*" >&2
}

# hr_q VALUE: VALUE quoted for a log line (shows hostile values harmlessly)
hr_q() {
  printf '%q' "$1"
}

# --- the result of a run ---------------------------------------------------------------------
#
# Every run ends in hr_finish: one result line on stdout and, when HOOKRUN_RESULT names a file,
# these keys appended to it (key=value; a value with a line break as a key<<DELIMITER block,
# GitHub Actions style, with a delimiter that does not occur in the value):
#   target          swarm:NAME | container:NAME | kubernetes:NAMESPACE/KIND/NAME/CONTAINER
#   status          updated | unchanged | rolled_back | aborted | failed | busy | superseded |
#                   invalid | error | interrupted
#   rolled_back     true | false
#   image_before    the image reference the target ran before (empty if not known)
#   image_requested the reference this run deployed, pinned by digest when known
#   image_after     the reference the target runs now (empty if not known)
#   digest          the digest of image_after (empty if not known)
#   exit_code       the script's exit code
#   message         the result line

# hr_status_for CODE: the default status of an exit code
hr_status_for() {
  case "$1" in
    0) printf 'updated' ;;
    2) printf 'invalid' ;;
    3) printf 'aborted' ;;
    4) printf 'failed' ;;
    5) printf 'busy' ;;
    *) printf 'error' ;;
  esac
}

# hr_result_entry KEY VALUE: KEY and VALUE in the result file's format, appended to HR_ENTRIES
hr_result_entry() {
  local key="$1" value="$2" delim
  if [[ "$value" == *[$'\n\r']* ]]; then
    delim="HOOKRUN_EOF_$RANDOM$RANDOM$RANDOM"
    while [[ "$value" == *"$delim"* ]]; do
      delim+="_$RANDOM"
    done
    HR_ENTRIES+="$key<<$delim"$'\n'"$value"$'\n'"$delim"$'\n'
  else
    HR_ENTRIES+="$key=$value"$'\n'
  fi
}

# hr_result_write CODE STATUS MESSAGE: append the result to $HOOKRUN_RESULT (if set)
hr_result_write() {
  local file="${HOOKRUN_RESULT:-}" rolled=false digest="$HR_AFTER_DIGEST"
  [[ -n "$file" ]] || return 0
  if [[ -e "$file" && ! -f "$file" ]]; then
    hr_log "warning: HOOKRUN_RESULT $(hr_q "$file") is not a regular file; no result written"
    return 0
  fi
  [[ "$2" == rolled_back ]] && rolled=true
  [[ -n "$digest" ]] || digest="$(hr_digest_of_ref "$HR_AFTER")"
  HR_ENTRIES=""
  hr_result_entry target "$HR_TARGET"
  hr_result_entry status "$2"
  hr_result_entry rolled_back "$rolled"
  hr_result_entry image_before "$HR_BEFORE"
  hr_result_entry image_requested "$HR_REQUESTED"
  hr_result_entry image_after "$HR_AFTER"
  hr_result_entry digest "$digest"
  hr_result_entry exit_code "$1"
  hr_result_entry message "$3"
  # One write, appended: the file may hold results of earlier commands of the same job.
  printf '%s' "$HR_ENTRIES" >>"$file" ||
    hr_log "warning: cannot append the result to HOOKRUN_RESULT $(hr_q "$file")"
}

# hr_finish CODE STATUS MESSAGE: print MESSAGE (the result line), write the result, exit CODE
hr_finish() {
  trap '' TERM INT HUP
  HR_FINISHED=1
  printf '%s\n' "$3"
  hr_result_write "$1" "$2" "$3"
  exit "$1"
}

# hr_die CODE MESSAGE...: log an error and finish with CODE
hr_die() {
  local code="$1"
  shift
  hr_log "error: $*"
  hr_finish "$code" "$(hr_status_for "$code")" "${HR_DESC:-$HR_PROG}: error: $*"
}

# hr_usage_error MESSAGE...: a usage error (exit 2)
hr_usage_error() {
  hr_log "error: $*"
  printf '%s: try --help\n' "$HR_PROG" >&2
  hr_finish "$HR_EXIT_INVALID" invalid "${HR_DESC:-$HR_PROG}: invalid input: $*"
}

# hr_on_exit: EXIT trap. Cleans up; a run that ends without hr_finish (a failed command under
# `set -e`) still gets its result line and result.
hr_on_exit() {
  local rc=$?
  if (( ! HR_FINISHED )) && (( rc != 0 )); then
    HR_FINISHED=1
    local msg="${HR_DESC:-$HR_PROG}: error: internal error${HR_ERR_AT:+ at $HR_ERR_AT} (exit $rc)"
    hr_log "$msg"
    printf '%s\n' "$msg"
    hr_result_write "$rc" error "$msg"
  fi
  if [[ -n "$HR_TMP" && -d "$HR_TMP" ]]; then
    rm -rf -- "$HR_TMP"
  fi
  exit "$rc"
}

# hr_on_signal NUMBER NAME: a signal ends the run; it still gets its result
hr_on_signal() {
  hr_log "interrupted by SIG$2"
  hr_finish $(( 128 + $1 )) interrupted \
    "${HR_DESC:-$HR_PROG}: interrupted by SIG$2${HR_INTERRUPT_NOTE:+; $HR_INTERRUPT_NOTE}"
}

# hr_init: the private temporary directory and the traps every script uses
hr_init() {
  set -E
  trap 'HR_ERR_AT="line $LINENO: $BASH_COMMAND"' ERR
  trap hr_on_exit EXIT
  trap 'hr_on_signal 15 TERM' TERM
  trap 'hr_on_signal 2 INT' INT
  trap 'hr_on_signal 1 HUP' HUP
  HR_TMP="$(mktemp -d "${TMPDIR:-/tmp}/hookrun-${HR_PROG%.sh}.XXXXXX")"
}

# --- flags and grammars ----------------------------------------------------------------------

# hr_flag_value FLAG [NEXT...]: check that FLAG has a value; sets HR_VALUE.
# A value that looks like an option ("--help", "-x") is refused: it is a usage error, not data.
hr_flag_value() {
  if (( $# < 2 )); then
    hr_usage_error "$1 needs a value"
  fi
  case "$2" in
    -*) hr_usage_error "$1 needs a value, got the option-like $(hr_q "$2")" ;;
  esac
  HR_VALUE="$2"
}

# hr_is_name VALUE: a Docker container or service name
hr_is_name() {
  [[ "${1:-}" =~ ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$ ]] && (( ${#1} <= 128 ))
}

# hr_is_dns_label VALUE: an RFC 1123 label (Kubernetes namespace, container name)
hr_is_dns_label() {
  [[ "${1:-}" =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] && (( ${#1} <= 63 ))
}

# hr_is_dns_subdomain VALUE: an RFC 1123 subdomain (Kubernetes object name)
hr_is_dns_subdomain() {
  [[ "${1:-}" =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$ ]] &&
    (( ${#1} <= 253 ))
}

# hr_is_digest VALUE: sha256:<64 lower-case hex>
hr_is_digest() {
  [[ "${1:-}" =~ ^sha256:[a-f0-9]{64}$ ]]
}

# hr_is_seconds VALUE: a whole number of seconds, 0..86400
hr_is_seconds() {
  [[ "${1:-}" =~ ^[0-9]{1,5}$ ]] && (( 10#$1 <= 86400 ))
}

# hr_seconds_flag NAME VALUE MIN: VALUE as a number of seconds (MIN..86400), else a usage error
hr_seconds_flag() {
  if ! hr_is_seconds "$2" || (( 10#$2 < $3 )); then
    hr_usage_error "invalid $1 $(hr_q "$2") (whole seconds, $3..86400)"
  fi
  HR_VALUE=$(( 10#$2 ))
}

# hr_is_http_url VALUE: an http(s) URL for health probes: host[:port] and an optional path and
# query of [A-Za-z0-9._~%/?=&+:-] (no user info, no shell-looking characters)
hr_is_http_url() {
  local re='^https?://[A-Za-z0-9._~-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%/?=&+:-]*)?$'
  [[ "${1:-}" =~ $re ]] && (( ${#1} <= 2000 ))
}

# hr_probe_url URL: one GET; succeeds on a 2xx/3xx answer within 5 s
hr_probe_url() {
  curl -fsS -o /dev/null --max-time 5 --proto '=http,https' -- "$1" 2>"$HR_TMP/probe.err"
}

# hr_parse_image REF: parse an image reference per the Docker distribution grammar
#   [host[:port]/]path[:tag][@sha256:hex]
# (host: dot-separated [a-zA-Z0-9-] components; path: lower-case components
# [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* joined by "/"; tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127};
# the name at most 255 characters). The first component is a host when it contains "." or ":",
# is "localhost" or has upper-case letters, as in Docker. IPv6 hosts are not accepted.
# On success sets HR_IMG_HOST, HR_IMG_PATH, HR_IMG_NAME (host/path), HR_IMG_TAG, HR_IMG_DIGEST
# (each possibly empty, except PATH and NAME) and returns 0; returns 1 otherwise.
hr_parse_image() {
  local ref="${1:-}" rest first
  local host_re='^([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(\.([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(:[0-9]{1,5})?$'
  local path_re='^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$'
  local tag_re='^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$'
  HR_IMG_HOST="" HR_IMG_PATH="" HR_IMG_NAME="" HR_IMG_TAG="" HR_IMG_DIGEST=""
  # A cheap first gate on the alphabet and length keeps every later step simple.
  if [[ ! "$ref" =~ ^[A-Za-z0-9._:/@-]+$ ]] || (( ${#ref} > 400 )); then
    return 1
  fi
  rest="$ref"
  if [[ "$rest" == *@* ]]; then
    HR_IMG_DIGEST="${rest#*@}"
    rest="${rest%%@*}"
    hr_is_digest "$HR_IMG_DIGEST" || return 1
  fi
  if [[ "$rest" == */* ]]; then
    first="${rest%%/*}"
    if [[ "$first" == *.* || "$first" == *:* || "$first" == localhost || "$first" =~ [A-Z] ]]; then
      [[ "$first" =~ $host_re ]] || return 1
      HR_IMG_HOST="$first"
      rest="${rest#*/}"
    fi
  fi
  if [[ "$rest" == *:* ]]; then
    HR_IMG_TAG="${rest##*:}"
    rest="${rest%:*}"
    [[ "$HR_IMG_TAG" =~ $tag_re ]] || return 1
  fi
  [[ "$rest" =~ $path_re ]] || return 1
  HR_IMG_PATH="$rest"
  HR_IMG_NAME="${HR_IMG_HOST:+$HR_IMG_HOST/}$HR_IMG_PATH"
  (( ${#HR_IMG_NAME} <= 255 )) || return 1
}

# hr_is_image REF: REF is a valid image reference (see hr_parse_image)
hr_is_image() {
  ( hr_parse_image "${1:-}" )
}

# hr_familiar_name NAME: the name as Docker shows it in RepoDigests
# (docker.io/library/x -> x, docker.io/u/x -> u/x)
hr_familiar_name() {
  local n="$1"
  case "$n" in
    docker.io/* | index.docker.io/*) n="${n#*/}"; n="${n#library/}" ;;
  esac
  printf '%s\n' "$n"
}

# hr_pin NAME TAG DIGEST: NAME[:TAG]@DIGEST, or NAME[:TAG] without a digest
hr_pin() {
  printf '%s%s%s\n' "$1" "${2:+:$2}" "${3:+@$3}"
}

# hr_digest_of_ref REF: the digest part of a pinned reference (empty if none)
hr_digest_of_ref() {
  case "$1" in
    *@sha256:*) printf '%s\n' "${1##*@}" ;;
    *) printf '\n' ;;
  esac
}

# hr_resolve_image IMAGE DIGEST [FROM]: choose and validate the image to deploy.
#   IMAGE: the --image value, or empty to use the environment hookrun sets from registry events:
#     HOOKRUN_IMAGE, else HOOKRUN_IMAGE_PINNED, else [HOOKRUN_REGISTRY/]HOOKRUN_REPOSITORY[:HOOKRUN_TAG]
#   DIGEST: the --digest value, else the digest inside the reference, else (only when the image
#     came from the environment) HOOKRUN_DIGEST, else the digest of HOOKRUN_IMAGE_PINNED.
#   FROM: where IMAGE came from, for messages (default "--image").
# Sets HR_IMAGE (the reference as given), HR_IMAGE_NAME (host/path), HR_IMAGE_TAG, HR_DIGEST
# (each of the last two possibly empty) and HR_IMAGE_FROM (where it came from). Exits 2 on
# invalid or missing input.
hr_resolve_image() {
  local image="${1:-}" digest="${2:-}" from="${3:---image}" envdigest=""
  if [[ -z "$image" ]]; then
    if [[ -n "${HOOKRUN_IMAGE:-}" ]]; then
      image="$HOOKRUN_IMAGE" from=HOOKRUN_IMAGE
    elif [[ -n "${HOOKRUN_IMAGE_PINNED:-}" ]]; then
      image="$HOOKRUN_IMAGE_PINNED" from=HOOKRUN_IMAGE_PINNED
    elif [[ -n "${HOOKRUN_REPOSITORY:-}" ]]; then
      image="${HOOKRUN_REGISTRY:+$HOOKRUN_REGISTRY/}$HOOKRUN_REPOSITORY${HOOKRUN_TAG:+:$HOOKRUN_TAG}"
      from=HOOKRUN_REPOSITORY
    fi
    if [[ -n "${HOOKRUN_DIGEST:-}" ]]; then
      envdigest="$HOOKRUN_DIGEST"
      hr_is_digest "$envdigest" || hr_usage_error "invalid HOOKRUN_DIGEST $(hr_q "$envdigest")"
    elif [[ -n "${HOOKRUN_IMAGE_PINNED:-}" ]]; then
      hr_parse_image "$HOOKRUN_IMAGE_PINNED" ||
        hr_usage_error "invalid HOOKRUN_IMAGE_PINNED $(hr_q "$HOOKRUN_IMAGE_PINNED")"
      envdigest="$HR_IMG_DIGEST"
    fi
  fi
  [[ -n "$image" ]] || hr_usage_error "no image: give --image or set HOOKRUN_IMAGE"
  hr_parse_image "$image" || hr_usage_error "invalid image reference $(hr_q "$image") (from $from)"
  if [[ -n "$digest" ]]; then
    hr_is_digest "$digest" || hr_usage_error "invalid digest $(hr_q "$digest") (want sha256:<64 hex>)"
    if [[ -n "$HR_IMG_DIGEST" && "$HR_IMG_DIGEST" != "$digest" ]]; then
      hr_usage_error "the image reference pins $HR_IMG_DIGEST but --digest is $digest"
    fi
  elif [[ -n "$HR_IMG_DIGEST" ]]; then
    digest="$HR_IMG_DIGEST"
  else
    digest="$envdigest"
  fi
  HR_IMAGE="$image" HR_IMAGE_NAME="$HR_IMG_NAME" HR_IMAGE_TAG="$HR_IMG_TAG" HR_DIGEST="$digest"
  HR_IMAGE_FROM="$from"
}

# hr_require_cmd CMD...: each CMD is installed, else exit 1
hr_require_cmd() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || hr_die "$HR_EXIT_INTERNAL" "$c is not installed"
  done
}

# --- one run per target at a time ------------------------------------------------------------
#
# hr_lock KEY WAIT takes an exclusive flock(2) on LOCKDIR/KEY.lock for the rest of the run. The
# kernel releases it when the run ends in any way (also SIGKILL); the lock file itself is never
# removed. Children started through the docker/kubectl wrappers below do not inherit it, so a
# killed run's leftover child cannot keep it. LOCKDIR: HOOKRUN_LOCK_DIR, else /run/lock/hookrun
# for root, else $XDG_RUNTIME_DIR/hookrun, else /tmp/hookrun-locks-UID: runs on one host (one
# file system) by the same user are serialised; share HOOKRUN_LOCK_DIR across users if needed.

# hr_lock_dir: print the lock directory, creating it (private, when it is the default)
hr_lock_dir() {
  local d
  if [[ -n "${HOOKRUN_LOCK_DIR:-}" ]]; then
    mkdir -p -- "$HOOKRUN_LOCK_DIR" 2>/dev/null || return 1
    [[ -d "$HOOKRUN_LOCK_DIR" ]] || return 1
    printf '%s\n' "$HOOKRUN_LOCK_DIR"
    return 0
  fi
  if (( EUID == 0 )) && [[ -d /run/lock ]]; then
    d=/run/lock/hookrun
  elif [[ -n "${XDG_RUNTIME_DIR:-}" && -d "$XDG_RUNTIME_DIR" && -O "$XDG_RUNTIME_DIR" ]]; then
    d="$XDG_RUNTIME_DIR/hookrun"
  else
    d="/tmp/hookrun-locks-$EUID"
  fi
  ( umask 077 && mkdir -p -- "$d" ) 2>/dev/null || return 1
  # In a shared directory such as /tmp the path could be someone else's: use it only if ours.
  [[ -d "$d" && ! -L "$d" && -O "$d" ]] || return 1
  printf '%s\n' "$d"
}

# hr_lock KEY WAIT NOTE: hold the lock KEY ([A-Za-z0-9_.-]) for the rest of the run, waiting up
# to WAIT seconds for another run to release it (0: do not wait); else finish "busy" (exit 5).
# NOTE says what this run does, for the run that has to wait.
hr_lock() {
  local key="$1" wait="$2" note="$3" dir file holder fd
  hr_require_cmd flock
  dir="$(hr_lock_dir)" || hr_die "$HR_EXIT_INTERNAL" "no usable lock directory (set HOOKRUN_LOCK_DIR)"
  file="$dir/$key.lock"
  if [[ -L "$file" ]] || { [[ -e "$file" ]] && [[ ! -f "$file" ]]; }; then
    hr_die "$HR_EXIT_INTERNAL" "the lock file $file is not a regular file"
  fi
  # Read-write when we may (to leave a note for waiting runs), else read-only: flock needs either.
  # (`exec` without a command keeps its redirections: the group confines the 2>/dev/null)
  { exec {fd}<>"$file"; } 2>/dev/null || { exec {fd}<"$file"; } 2>/dev/null ||
    hr_die "$HR_EXIT_INTERNAL" "cannot open the lock file $file"
  if ! flock -n "$fd"; then
    holder="$(head -c 300 -- "$file" 2>/dev/null | tr -s '\n' ' ')"
    holder="${holder% }"
    if (( wait == 0 )); then
      hr_finish "$HR_EXIT_BUSY" busy \
        "$HR_DESC busy: another run is deploying it (${holder:-holder unknown}); nothing was changed (--lock-timeout 0)"
    fi
    hr_log "another run is deploying $HR_DESC (${holder:-holder unknown}); waiting up to ${wait}s"
    if ! flock -w "$wait" "$fd"; then
      hr_finish "$HR_EXIT_BUSY" busy \
        "$HR_DESC busy: another run (${holder:-holder unknown}) was still deploying it after ${wait}s; nothing was changed"
    fi
    hr_log "the other run on $HR_DESC has finished; going on"
  fi
  HR_LOCK_FD="$fd" HR_LOCK_FILE="$file"
  if [[ -w "$file" ]]; then
    printf 'pid %s since %s: %s\n' "$$" "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" "$note" >"$file" 2>/dev/null || true
  fi
}

# hr_unlocked COMMAND...: run COMMAND without the lock's file descriptor (see hr_lock)
hr_unlocked() {
  if [[ -n "$HR_LOCK_FD" ]]; then
    command "$@" {HR_LOCK_FD}>&-
  else
    command "$@"
  fi
}
# The commands a run waits on: none of them may keep a killed run's lock.
docker() { hr_unlocked docker "$@"; }
kubectl() { hr_unlocked kubectl "$@"; }
curl() { hr_unlocked curl "$@"; }
sleep() { hr_unlocked sleep "$@"; }
timeout() { hr_unlocked timeout "$@"; }

# --- the Docker engine -----------------------------------------------------------------------
#
# A failed docker command means either "the engine said no" or "the engine is unreachable" (a
# daemon restart takes seconds). hr_dk tells them apart and waits out an outage (bounded by
# HR_DAEMON_TIMEOUT seconds each time), so a restart is never mistaken for "container gone".
# Outages are counted in a file (hr_outages), so a check can notice that the engine restarted
# under it even when it ran inside a command substitution.

HR_DAEMON_TIMEOUT=60

# hr_engine_up: the Docker engine answers (within 15 s)
hr_engine_up() {
  timeout 15 docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

# hr_require_docker: the Docker engine answers, else exit 1 saying why; a socket this user may
# not open (a container without the socket's group) is named as such, not as an outage
hr_require_docker() {
  local err
  hr_require_cmd docker timeout
  hr_engine_up && return 0
  err="$(timeout 15 docker version --format '{{.Server.Version}}' 2>&1 >/dev/null)" && return 0
  if [[ "$err" == *"permission denied"* ]]; then
    hr_die "$HR_EXIT_INTERNAL" "permission denied on the Docker socket (${DOCKER_HOST:-unix:///var/run/docker.sock}) for uid $(id -u): give this user the socket's group (in a container: docker run --group-add \"\$(stat -c %g /var/run/docker.sock)\" ...)"
  fi
  hr_die "$HR_EXIT_INTERNAL" "the Docker engine is not reachable (docker version failed)"
}

# hr_outages: how many engine outages this run has waited out so far
hr_outages() {
  if [[ -f "$HR_TMP/outages" ]]; then
    wc -l <"$HR_TMP/outages"
  else
    echo 0
  fi
}

# hr_engine_lost: an outage lasted longer than HR_DAEMON_TIMEOUT
hr_engine_lost() {
  [[ -f "$HR_TMP/engine-lost" ]]
}

# hr_wait_engine: wait up to HR_DAEMON_TIMEOUT seconds for the engine; 1 if it stays away
hr_wait_engine() {
  local start=$SECONDS
  hr_engine_lost && return 1
  hr_log "the Docker engine is unreachable; waiting up to ${HR_DAEMON_TIMEOUT}s for it"
  while (( SECONDS - start < HR_DAEMON_TIMEOUT )); do
    sleep 1
    if hr_engine_up; then
      echo "$SECONDS" >>"$HR_TMP/outages"
      hr_log "the Docker engine answers again (after $(( SECONDS - start ))s)"
      return 0
    fi
  done
  : >"$HR_TMP/engine-lost"
  hr_log "the Docker engine did not come back within ${HR_DAEMON_TIMEOUT}s"
  return 1
}

# hr_dk ARGS...: docker ARGS. Sets HR_OUT (stdout, trailing newlines removed) and HR_ERR
# (stderr). While the engine is unreachable it waits for it (hr_wait_engine) and runs the
# command again, so ARGS must be safe to repeat or the caller must check the state afterwards.
# Returns docker's exit code (1 when the engine stayed away).
hr_dk() {
  local rc
  while :; do
    rc=0
    HR_OUT="$(docker "$@" 2>"$HR_TMP/dk.err")" || rc=$?
    HR_ERR="$(tr '\n' ' ' <"$HR_TMP/dk.err")"
    HR_ERR="${HR_ERR% }"
    (( rc == 0 )) && return 0
    hr_engine_up && return "$rc"
    hr_wait_engine || return "$rc"
  done
}

# hr_no_such: the last hr_dk failed because the object does not exist
hr_no_such() {
  [[ "$HR_ERR" == *"No such "* || "$HR_ERR" == *"no such "* || "$HR_ERR" == *"not found"* ]]
}

# hr_pull_digest REF: docker pull REF; prints the digest the registry reported
# (empty if the engine printed none, e.g. for an image without a registry). Fails if the pull fails.
hr_pull_digest() {
  local out line digest=""
  out="$(docker pull -- "$1" 2>&1)" || {
    hr_log "docker pull $(hr_q "$1") failed: ${out//$'\n'/ | }"
    return 1
  }
  while IFS= read -r line; do
    if [[ "$line" =~ ^Digest:\ (sha256:[a-f0-9]{64}) ]]; then
      digest="${BASH_REMATCH[1]}"
    fi
  done <<<"$out"
  printf '%s\n' "$digest"
}

# hr_repo_digest IMAGE NAME: the digest of local IMAGE as stored for repository NAME
# (from RepoDigests; empty if none)
hr_repo_digest() {
  local want line
  want="$(hr_familiar_name "$2")"
  while IFS= read -r line; do
    if [[ "${line%@*}" == "$want" || "${line%@*}" == "$2" ]] && hr_is_digest "${line##*@}"; then
      printf '%s\n' "${line##*@}"
      return 0
    fi
  done < <(docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' -- "$1" 2>/dev/null)
  printf '\n'
}
# END hookrun-common
}

usage() {
  cat <<'EOF'
Usage: kubectl-set-image.sh --namespace NS --workload KIND/NAME --container C [--image REF]
                            [options] [PAYLOAD]

Set container C of the Deployment, StatefulSet or DaemonSet NAME in namespace NS to REF
(pinned by digest where known), wait for the rollout, and undo it when it fails.

Options (environment fallback in brackets):
  -n, --namespace NS    namespace [APP_NS, HOOKRUN_NAMESPACE]
  --workload KIND/NAME  deployment/NAME, statefulset/NAME or daemonset/NAME (also deploy, sts,
                        ds) [APP_WORKLOAD, HOOKRUN_WORKLOAD]
  --container C         the container to update [APP_CONTAINER, HOOKRUN_CONTAINER]
  --image REF           image reference host[:port]/path[:tag][@sha256:...]
                        [HOOKRUN_IMAGE, else HOOKRUN_IMAGE_PINNED, else
                        HOOKRUN_REGISTRY/HOOKRUN_REPOSITORY:HOOKRUN_TAG]
  --digest sha256:HEX   pin to this digest (default: the digest in REF; with the image from the
                        environment, HOOKRUN_DIGEST; from an Aliyun payload, push_data.digest)
  --timeout S           seconds for `kubectl rollout status`, and again for an undo
                        (default 300) [HOOKRUN_TIMEOUT]
  --no-rollback         on failure leave the workload as it is (exit 4) [HOOKRUN_NO_ROLLBACK=1]
  --lock-timeout S      wait up to S seconds while another run deploys the same workload
                        from this host (default 600; 0: give up at once) [HOOKRUN_LOCK_TIMEOUT]
  --kubeconfig FILE     passed to kubectl [KUBECONFIG, read by kubectl itself]
  --context NAME        passed to kubectl
  Without --image or HOOKRUN_IMAGE..., the image is built from PAYLOAD, the registry's JSON
  push event (hookrun: "pass-arguments-to-command": [{"source": "entire-payload"}]):
  --repo-type TYPE      aliyun, dockerhub or custom [REPO_TYPE]
                        aliyun:    registry[-vpc|-internal].<repository.region>.aliyuncs.com/
                                   <repository.repo_full_name>:<push_data.tag>@<push_data.digest>
                        dockerhub: docker.io/<repository.repo_name>:<push_data.tag>
                        custom:    the payload's "image" field, else
                                   <repository.repo_url>/<repository.namespace>/<repository.name>:<push_data.tag>
  --net-type TYPE       Aliyun network: public (default), vpc or internal [NET_TYPE]
  --registry-host HOST  use HOST instead of the computed Aliyun host (Enterprise Edition
                        instances: <instance>-registry[-vpc].<region>.cr.aliyuncs.com)
                        [HOOKRUN_REGISTRY_HOST]
  -h, --help            this text

APP_NS, APP_WORKLOAD, APP_CONTAINER, REPO_TYPE and NET_TYPE are lower-cased before use, as
that image's webhooks.sh does. A payload without push_data.tag, repository.name and
repository.namespace (Docker Hub's test delivery) is ignored: exit 0, nothing changed.

Output: progress on stderr; one result line on stdout, e.g.
  deployment/web container app updated: reg/app:v1 -> reg/app:v2@sha256:...
When HOOKRUN_RESULT names a file, the result is appended to it as key=value lines (a value
with a line break as key<<DELIMITER ... DELIMITER): target
(kubernetes:NAMESPACE/KIND/NAME/CONTAINER, KIND deployment, statefulset or daemonset), status
(updated, unchanged, rolled_back, aborted, failed, busy, superseded, invalid, error,
interrupted), rolled_back (true/false), image_before, image_requested, image_after, digest (of
image_after, when pinned), exit_code, message (the result line).

Exit codes: 0 updated and verified (or already running that image, or nothing to do); 1
internal error (kubectl/jq missing, API server unreachable); 2 invalid input, usage error, or
no such namespace, workload or container; 3 the rollout failed and the previous image runs
again (also when `kubectl set image` failed: nothing changed); 4 the rollout failed and the
undo failed too (or --no-rollback), or the unchanged workload is not healthy; 5 another run
kept the workload busy past --lock-timeout, or changed it after this run did (nothing undone).
EOF
}

lower() {
  printf '%s' "${1,,}"
}

hr_init

namespace="$(lower "${APP_NS:-${HOOKRUN_NAMESPACE:-}}")"
workload="$(lower "${APP_WORKLOAD:-${HOOKRUN_WORKLOAD:-}}")"
container="$(lower "${APP_CONTAINER:-${HOOKRUN_CONTAINER:-}}")"
repo_type="$(lower "${REPO_TYPE:-}")"
net_type="$(lower "${NET_TYPE:-}")"
registry_host="${HOOKRUN_REGISTRY_HOST:-}"
image=""
digest=""
timeout="${HOOKRUN_TIMEOUT:-300}"
lock_timeout="${HOOKRUN_LOCK_TIMEOUT:-600}"
rollback=1
[[ "${HOOKRUN_NO_ROLLBACK:-0}" == 1 ]] && rollback=0
kubeconfig=""
context=""
payload=""
have_payload=0

while (( $# )); do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    -n | --namespace) hr_flag_value "$@"; namespace="$HR_VALUE"; shift 2 ;;
    --namespace=*) namespace="${1#*=}"; shift ;;
    --workload) hr_flag_value "$@"; workload="$HR_VALUE"; shift 2 ;;
    --workload=*) workload="${1#*=}"; shift ;;
    --container) hr_flag_value "$@"; container="$HR_VALUE"; shift 2 ;;
    --container=*) container="${1#*=}"; shift ;;
    --image) hr_flag_value "$@"; image="$HR_VALUE"; shift 2 ;;
    --image=*) image="${1#*=}"; shift ;;
    --digest) hr_flag_value "$@"; digest="$HR_VALUE"; shift 2 ;;
    --digest=*) digest="${1#*=}"; shift ;;
    --timeout) hr_flag_value "$@"; timeout="$HR_VALUE"; shift 2 ;;
    --timeout=*) timeout="${1#*=}"; shift ;;
    --no-rollback) rollback=0; shift ;;
    --lock-timeout) hr_flag_value "$@"; lock_timeout="$HR_VALUE"; shift 2 ;;
    --lock-timeout=*) lock_timeout="${1#*=}"; shift ;;
    --kubeconfig) hr_flag_value "$@"; kubeconfig="$HR_VALUE"; shift 2 ;;
    --kubeconfig=*) kubeconfig="${1#*=}"; shift ;;
    --context) hr_flag_value "$@"; context="$HR_VALUE"; shift 2 ;;
    --context=*) context="${1#*=}"; shift ;;
    --repo-type) hr_flag_value "$@"; repo_type="$HR_VALUE"; shift 2 ;;
    --repo-type=*) repo_type="${1#*=}"; shift ;;
    --net-type) hr_flag_value "$@"; net_type="$HR_VALUE"; shift 2 ;;
    --net-type=*) net_type="${1#*=}"; shift ;;
    --registry-host) hr_flag_value "$@"; registry_host="$HR_VALUE"; shift 2 ;;
    --registry-host=*) registry_host="${1#*=}"; shift ;;
    --) shift; break ;;
    -*) hr_usage_error "unknown option $(hr_q "$1")" ;;
    *) break ;;
  esac
done
if (( $# > 1 )); then
  hr_usage_error "one payload argument at most (got $#)"
elif (( $# == 1 )); then
  payload="$1"
  have_payload=1
fi

# --- validation ------------------------------------------------------------------------------

[[ -n "$namespace" ]] || hr_usage_error "--namespace is required"
hr_is_dns_label "$namespace" || hr_usage_error "invalid namespace $(hr_q "$namespace")"
[[ -n "$workload" ]] || hr_usage_error "--workload is required (KIND/NAME)"
[[ "$workload" == */* ]] || hr_usage_error "invalid --workload $(hr_q "$workload") (want KIND/NAME)"
kind="${workload%%/*}"
wname="${workload#*/}"
case "$kind" in
  deployment | deployments | deploy | deployment.apps) kind=deployment ;;
  statefulset | statefulsets | sts | statefulset.apps) kind=statefulset ;;
  daemonset | daemonsets | ds | daemonset.apps) kind=daemonset ;;
  *) hr_usage_error "invalid workload kind $(hr_q "$kind") (deployment, statefulset or daemonset)" ;;
esac
hr_is_dns_subdomain "$wname" || hr_usage_error "invalid workload name $(hr_q "$wname")"
[[ -n "$container" ]] || hr_usage_error "--container is required"
hr_is_dns_label "$container" || hr_usage_error "invalid container name $(hr_q "$container")"
HR_TARGET="kubernetes:$namespace/$kind/$wname/$container"
HR_DESC="$kind/$wname container $container"
hr_seconds_flag --timeout "$timeout" 1; timeout="$HR_VALUE"
hr_seconds_flag --lock-timeout "$lock_timeout" 0; lock_timeout="$HR_VALUE"
if [[ -n "$kubeconfig" ]]; then
  [[ -f "$kubeconfig" && -r "$kubeconfig" ]] ||
    hr_usage_error "--kubeconfig $(hr_q "$kubeconfig") is not a readable file"
fi
if [[ -n "$context" ]] && [[ ! "$context" =~ ^[A-Za-z0-9_][A-Za-z0-9_.:@/-]{0,252}$ ]]; then
  hr_usage_error "invalid --context $(hr_q "$context")"
fi
case "$net_type" in
  "" | public) net_prefix="registry" ;;
  vpc) net_prefix="registry-vpc" ;;
  internal) net_prefix="registry-internal" ;;
  *) hr_usage_error "invalid NET_TYPE/--net-type $(hr_q "$net_type") (public, vpc or internal)" ;;
esac

# payload_str FILTER: a string field of the payload (empty when absent or not a string)
payload_str() {
  printf '%s' "$payload" | jq -r "($1) as \$v | if (\$v | type) == \"string\" then \$v else empty end"
}

# image_from_payload: sets image/digest from the payload per repo_type, or exits
image_from_payload() {
  local tag name ns region full pdigest url host
  hr_require_cmd jq
  printf '%s' "$payload" | jq -e 'type == "object"' >/dev/null 2>&1 ||
    hr_usage_error "the payload is not a JSON object"
  tag="$(payload_str .push_data.tag)"
  name="$(payload_str .repository.name)"
  ns="$(payload_str .repository.namespace)"
  if [[ -z "$(printf '%s' "$payload" | jq -r '.image // empty | strings')" ]] &&
    [[ -z "$tag" || -z "$name" || -z "$ns" ]]; then
    hr_finish "$HR_EXIT_OK" unchanged "nothing to do: the payload names no image (a registry test delivery?)"
  fi
  case "$repo_type" in
    aliyun)
      region="$(payload_str .repository.region)"
      full="$(payload_str .repository.repo_full_name)"
      pdigest="$(payload_str .push_data.digest)"
      [[ -n "$full" ]] || full="$ns/$name"
      if [[ -n "$registry_host" ]]; then
        host="$registry_host"
      else
        [[ "$region" =~ ^[a-z0-9]+(-[a-z0-9]+)*$ ]] ||
          hr_usage_error "invalid repository.region $(hr_q "$region") in the payload"
        host="$net_prefix.$region.aliyuncs.com"
      fi
      image="$host/$full:$tag"
      if [[ -z "$digest" && -n "$pdigest" ]]; then
        hr_is_digest "$pdigest" || hr_usage_error "invalid push_data.digest $(hr_q "$pdigest") in the payload"
        digest="$pdigest"
      fi ;;
    dockerhub)
      full="$(payload_str .repository.repo_name)"
      [[ -n "$full" ]] || full="$ns/$name"
      image="${registry_host:-docker.io}/$full:$tag" ;;
    custom)
      image="$(payload_str .image)"
      if [[ -z "$image" ]]; then
        url="$(payload_str .repository.repo_url)"
        url="${url#http://}"
        url="${url#https://}"
        url="${url%/}"
        image="${url:+$url/}$ns/$name:$tag"
      fi ;;
    "") hr_usage_error "a payload needs REPO_TYPE/--repo-type (aliyun, dockerhub or custom)" ;;
    *) hr_usage_error "invalid REPO_TYPE/--repo-type $(hr_q "$repo_type") (aliyun, dockerhub or custom)" ;;
  esac
  hr_log "image from the $repo_type payload: $image${digest:+@$digest}"
}

if [[ -z "$image" && -z "${HOOKRUN_IMAGE:-}${HOOKRUN_IMAGE_PINNED:-}${HOOKRUN_REPOSITORY:-}" ]] &&
  (( have_payload )); then
  image_from_payload
  image_from="the $repo_type payload"
fi
hr_resolve_image "$image" "$digest" "${image_from:---image}"

# --- kubectl ---------------------------------------------------------------------------------

hr_require_cmd kubectl
kc=(kubectl)
[[ -n "$kubeconfig" ]] && kc+=(--kubeconfig "$kubeconfig")
[[ -n "$context" ]] && kc+=(--context "$context")
kc+=(--namespace "$namespace")
target="$kind/$wname"
# bounds every single API request except the watch of `rollout status` (bounded by --timeout)
rt="--request-timeout=30s"

# container_image: the image of $container in the workload's pod template
container_image() {
  "${kc[@]}" get "$rt" -o "jsonpath={.spec.template.spec.containers[?(@.name==\"$container\")].image}" \
    -- "$target"
}

# generation: the workload's metadata.generation (a number; empty when it cannot be read)
generation() {
  "${kc[@]}" get "$rt" -o 'jsonpath={.metadata.generation}' -- "$target" 2>/dev/null || true
}

# rollout_ok WANT: rollout status succeeds and the template has image WANT. Sets FAIL_MSG.
rollout_ok() {
  local want="$1" now
  if ! "${kc[@]}" rollout status --timeout="${timeout}s" -- "$target" >"$HR_TMP/status" 2>&1; then
    FAIL_MSG="rollout status: $(tail -n 2 "$HR_TMP/status" | tr '\n' ' ')"
    return 1
  fi
  now="$(container_image 2>/dev/null || true)"
  if [[ "$now" != "$want" ]]; then
    FAIL_MSG="the rollout finished but $container has image $(hr_q "$now"), not $want"
    return 1
  fi
}

hr_lock "kubernetes-$namespace-$kind-$wname" "$lock_timeout" "$HR_PROG $HR_TARGET --image $HR_IMAGE"
if ! "${kc[@]}" get "$rt" -o 'jsonpath={range .spec.template.spec.containers[*]}{.name}{"\n"}{end}' \
  -- "$target" >"$HR_TMP/containers" 2>"$HR_TMP/get.err"; then
  if grep -q '(NotFound)' "$HR_TMP/get.err"; then
    hr_die "$HR_EXIT_INVALID" "$(tr '\n' ' ' <"$HR_TMP/get.err")"
  fi
  hr_die "$HR_EXIT_INTERNAL" "kubectl get $target failed: $(tail -n 1 "$HR_TMP/get.err")"
fi
grep -qx -- "$container" "$HR_TMP/containers" ||
  hr_die "$HR_EXIT_INVALID" "$target has no container $container (containers: $(tr '\n' ' ' <"$HR_TMP/containers"))"
old_ref="$(container_image)"
new_ref="$(hr_pin "$HR_IMAGE_NAME" "$HR_IMAGE_TAG" "$HR_DIGEST")"
HR_BEFORE="$old_ref" HR_AFTER="$old_ref" HR_REQUESTED="$new_ref"

# finish_now CODE STATUS MESSAGE: finish with the container's current image as image_after
finish_now() {
  HR_AFTER="$(container_image 2>/dev/null || true)"
  hr_finish "$@"
}

if [[ "$old_ref" == "$new_ref" ]]; then
  if [[ -n "$HR_DIGEST" ]]; then
    hr_log "$target container $container already has $new_ref; checking the rollout"
    if rollout_ok "$new_ref"; then
      hr_finish "$HR_EXIT_OK" unchanged "$HR_DESC unchanged: already running $new_ref"
    fi
    hr_finish "$HR_EXIT_ROLLBACK_FAILED" failed "$HR_DESC unchanged ($new_ref) but not healthy: $FAIL_MSG"
  fi
  # The same tag again, no digest: restart so that the nodes pull the tag again.
  policy="$("${kc[@]}" get "$rt" -o "jsonpath={.spec.template.spec.containers[?(@.name==\"$container\")].imagePullPolicy}" -- "$target" 2>/dev/null || true)"
  if [[ "$policy" != Always && ! ( -z "$policy" && ( -z "$HR_IMAGE_TAG" || "$HR_IMAGE_TAG" == latest ) ) ]]; then
    hr_log "warning: imagePullPolicy of $container is ${policy:-IfNotPresent}: nodes that have $new_ref may not pull it again"
  fi
  hr_log "$target container $container already has $new_ref (no digest known): restarting the rollout"
  if ! our_generation="$("${kc[@]}" rollout restart "$rt" -o 'jsonpath={.metadata.generation}' -- "$target" 2>"$HR_TMP/restart.err")"; then
    hr_finish "$HR_EXIT_ROLLED_BACK" aborted \
      "$HR_DESC unchanged: kubectl rollout restart failed: $(tr '\n' ' ' <"$HR_TMP/restart.err")"
  fi
  action="restarted"
else
  hr_log "updating $target container $container: $old_ref -> $new_ref"
  if ! our_generation="$("${kc[@]}" set image "$rt" -o 'jsonpath={.metadata.generation}' -- "$target" "$container=$new_ref" 2>"$HR_TMP/set.err")"; then
    now="$(container_image 2>/dev/null || true)"
    if [[ "$now" == "$old_ref" ]]; then
      hr_finish "$HR_EXIT_ROLLED_BACK" aborted \
        "$HR_DESC unchanged: kubectl set image failed: $(tr '\n' ' ' <"$HR_TMP/set.err")"
    fi
    HR_AFTER="$now"
    hr_die "$HR_EXIT_ROLLBACK_FAILED" "kubectl set image failed and $container now has $(hr_q "$now")"
  fi
  action="updated"
fi
HR_AFTER="$new_ref"
hr_log "$target is at generation ${our_generation:-?} with this run's change"

if rollout_ok "$new_ref"; then
  if [[ "$action" == restarted ]]; then
    hr_finish "$HR_EXIT_OK" updated "$HR_DESC restarted: $new_ref (same tag, pulled again)"
  fi
  hr_finish "$HR_EXIT_OK" updated "$HR_DESC updated: $old_ref -> $new_ref"
fi
reason="$FAIL_MSG"
hr_log "rollout of $target to $new_ref failed: $reason"
if (( ! rollback )); then
  finish_now "$HR_EXIT_ROLLBACK_FAILED" failed \
    "$HR_DESC update to $new_ref FAILED ($reason); rollback disabled, left as it is"
fi
# Undo only this run's own change: `rollout undo` goes back one revision, which would be
# someone else's deploy if the spec changed after ours.
now_generation="$(generation)"
if [[ -z "$our_generation" || "$now_generation" != "$our_generation" ]]; then
  finish_now "$HR_EXIT_BUSY" superseded \
    "$HR_DESC update to $new_ref FAILED ($reason), but $target changed after this run's change (generation ${our_generation:-?} -> ${now_generation:-?}); nothing undone"
fi
hr_log "kubectl rollout undo $target"
if ! "${kc[@]}" rollout undo "$rt" -- "$target" >/dev/null 2>"$HR_TMP/undo.err"; then
  finish_now "$HR_EXIT_ROLLBACK_FAILED" failed \
    "$HR_DESC update to $new_ref FAILED ($reason); kubectl rollout undo failed too: $(tr '\n' ' ' <"$HR_TMP/undo.err")"
fi
if rollout_ok "$old_ref"; then
  HR_AFTER="$old_ref"
  hr_finish "$HR_EXIT_ROLLED_BACK" rolled_back \
    "$HR_DESC update to $new_ref FAILED ($reason); rolled back to $old_ref"
fi
finish_now "$HR_EXIT_ROLLBACK_FAILED" failed \
  "$HR_DESC update to $new_ref FAILED ($reason); rollback to $old_ref FAILED too ($FAIL_MSG)"
