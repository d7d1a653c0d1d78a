#!/usr/bin/env bash
#
# swarm-update.sh - update a Docker Swarm service to an image pinned by digest, wait until it
# has converged, verify that the new tasks stay up, and roll back when they do not.
#
# Theory of operation
#   1. Validate every input against its grammar; nothing is run before that.
#   2. Find the service by its exact name (or its full id): `docker service inspect` also takes
#      an id prefix, so a name like "db" could otherwise hit another service whose id starts
#      with "db". Every later command uses the full id.
#   3. Take the per-service lock (one run per service on this host; a second run waits up to
#      --lock-timeout, then gives up with exit 5 without touching anything).
#   4. `docker pull` the image on this node: proves it is pullable (with this node's
#      credentials) and yields the digest of the tag (unless --digest/HOOKRUN_DIGEST gave one,
#      then that digest is pulled). The service is updated to NAME:TAG@DIGEST, so pushing the
#      same tag again really changes the spec and every node pulls the new content.
#   5. `docker service update --detach --image REF@DIGEST`: detached, because the CLI's own
#      wait (--detach=false) has no timeout and cannot tell us which tasks run what. The
#      service's update policy (--update-failure-action etc.) is left as the operator set it:
#      changing it would persist in the service spec. Whatever the policy, this script decides:
#      - failure: UpdateStatus "paused" (the default policy on a failing task), a rollback
#        started by Swarm (policy "rollback"), the timeout (policy "continue", tasks that never
#        start, pulls that hang), tasks that exit or are replaced before each has run --settle
#        seconds (the late-crash window), or a --health-url that does not answer;
#      - success: UpdateStatus "completed", every desired-running task Running the new spec
#        (as many as the replica count), tasks on this node running the pulled image id, and
#        the same tasks still running when each has been up for --settle seconds.
#   6. On failure `docker service rollback` (unless Swarm is already rolling back), then the
#      same checks for the previous spec -> exit 3; if that fails too -> exit 4. A run only
#      rolls back its own update: when the spec is no longer the one it set (another deploy
#      replaced it), it rolls nothing back and exits 5.
#   7. When the Docker engine is unreachable (a daemon restart), every step waits for it (up to
#      --daemon-timeout each time); a restart during the checks starts the checks again, since
#      it recreates this node's tasks.
#
# Exit codes: 0 updated and verified (or already running that image), 1 internal error
# (docker unreachable, this node is not a swarm manager), 2 invalid input or usage, or no such
# service, 3 update failed and the previous image runs again (also: image not pullable, nothing
# was changed), 4 update failed and the rollback failed too, or failed with --no-rollback,
# 5 busy or superseded: another run held the service too long, or replaced this run's update.
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
Usage: swarm-update.sh --service NAME [--image REF] [options]

Update a Docker Swarm service to REF pinned by digest, wait until it has converged, verify
that the new tasks stay up and roll back when they do not.

Options (environment fallback in brackets):
  --service NAME        the service to update: its exact name, or its full id (an id prefix
                        is never taken for a name) [HOOKRUN_SERVICE]
  --image REF           image reference host[:port]/path[:tag][@sha256:...]
                        [HOOKRUN_IMAGE, else HOOKRUN_IMAGE_PINNED, else
                        HOOKRUN_REGISTRY/HOOKRUN_REPOSITORY:HOOKRUN_TAG]
  --digest sha256:HEX   pin to this digest (default: the digest in REF; with the image from the
                        environment, HOOKRUN_DIGEST; else the digest `docker pull` reports)
  --timeout S           seconds to wait for convergence, and again for a rollback
                        (default 300) [HOOKRUN_TIMEOUT]
  --settle S            the late-crash window: every new task must keep running, not replaced,
                        until it has been up S seconds (default 15) [HOOKRUN_SETTLE]
  --health-url URL      also GET URL (http/https, from this host, e.g. the published port or
                        a load balancer) once the new tasks run, retried until it answers
                        2xx/3xx (within --timeout), and again at the end of the window (not
                        after a rollback) [HOOKRUN_HEALTH_URL]
  --lock-timeout S      wait up to S seconds while another run deploys the same service
                        (default 600; 0: give up at once) [HOOKRUN_LOCK_TIMEOUT]
  --daemon-timeout S    wait up to S seconds for an unreachable Docker engine, each time
                        (default 60) [HOOKRUN_DAEMON_TIMEOUT]
  --no-rollback         on failure leave the service as it is (exit 4) [HOOKRUN_NO_ROLLBACK=1]
  --registry-auth       send this client's registry credentials to the agents (default)
  --no-registry-auth    do not [HOOKRUN_REGISTRY_AUTH=0]
  -h, --help            this text

The window: Swarm's own --update-monitor only watches a task for a few seconds (5 by default),
so an image that serves for 8 s and then exits would pass it. Every deploy waits at least
--settle seconds after its last new task started; a bigger window catches later crashes and
makes every deploy (and every rollback) that much slower. A service healthcheck
(`docker service update --health-cmd ...`) makes tasks count as running only once healthy.

Concurrency: runs for the same service on this host (same user, or a shared
HOOKRUN_LOCK_DIR) take turns; the lock is released when a run ends in any way. A run never
rolls back an update it did not make.

Output: progress on stderr; one result line on stdout, e.g.
  service web updated: reg:5000/app:v1@sha256:aaa... -> reg:5000/app:v2@sha256:bbb...
When HOOKRUN_RESULT names a file, the result is appended to it as key=value lines (a value
with a line break as key<<DELIMITER ... DELIMITER): target (swarm:NAME), status (updated,
unchanged, rolled_back, aborted, failed, busy, superseded, invalid, error, interrupted),
rolled_back (true/false), image_before, image_requested, image_after, digest (of
image_after), exit_code, message (the result line).

Exit codes: 0 updated and verified (or already running that image); 1 internal error (docker
not reachable, not a swarm manager); 2 invalid input, usage error or no such service; 3 update
failed and the previous image runs again (also when the image cannot be pulled: nothing was
changed); 4 update failed and the rollback failed too (or --no-rollback was given); 5 another
run kept the service busy past --lock-timeout, or replaced this run's update (nothing rolled
back).
EOF
}

hr_init
service="${HOOKRUN_SERVICE:-}"
image=""
digest=""
timeout="${HOOKRUN_TIMEOUT:-300}"
settle="${HOOKRUN_SETTLE:-15}"
health_url="${HOOKRUN_HEALTH_URL:-}"
lock_timeout="${HOOKRUN_LOCK_TIMEOUT:-600}"
daemon_timeout="${HOOKRUN_DAEMON_TIMEOUT:-60}"
rollback=1
[[ "${HOOKRUN_NO_ROLLBACK:-0}" == 1 ]] && rollback=0
registry_auth=1
[[ "${HOOKRUN_REGISTRY_AUTH:-1}" == 0 ]] && registry_auth=0

while (( $# )); do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --service) hr_flag_value "$@"; service="$HR_VALUE"; shift 2 ;;
    --service=*) service="${1#*=}"; shift ;;
    --image) hr_flag_value "$@"; image="$HR_VALUE"; shift 2 ;;
    --image=*) image="${1#*=}"; shift ;;
    --digest) hr_flag_value "$@"; digest="$HR_VALUE"; shift 2 ;;
    --digest=*) digest="${1#*=}"; shift ;;
    --timeout) hr_flag_value "$@"; timeout="$HR_VALUE"; shift 2 ;;
    --timeout=*) timeout="${1#*=}"; shift ;;
    --settle) hr_flag_value "$@"; settle="$HR_VALUE"; shift 2 ;;
    --settle=*) settle="${1#*=}"; shift ;;
    --health-url) hr_flag_value "$@"; health_url="$HR_VALUE"; shift 2 ;;
    --health-url=*) health_url="${1#*=}"; shift ;;
    --lock-timeout) hr_flag_value "$@"; lock_timeout="$HR_VALUE"; shift 2 ;;
    --lock-timeout=*) lock_timeout="${1#*=}"; shift ;;
    --daemon-timeout) hr_flag_value "$@"; daemon_timeout="$HR_VALUE"; shift 2 ;;
    --daemon-timeout=*) daemon_timeout="${1#*=}"; shift ;;
    --no-rollback) rollback=0; shift ;;
    --registry-auth) registry_auth=1; shift ;;
    --no-registry-auth) registry_auth=0; shift ;;
    *) hr_usage_error "unknown argument $(hr_q "$1")" ;;
  esac
done

[[ -n "$service" ]] || hr_usage_error "--service is required"
hr_is_name "$service" || hr_usage_error "invalid service name $(hr_q "$service")"
HR_TARGET="swarm:$service" HR_DESC="service $service"
hr_seconds_flag --timeout "$timeout" 1; timeout="$HR_VALUE"
hr_seconds_flag --settle "$settle" 0; settle="$HR_VALUE"
hr_seconds_flag --lock-timeout "$lock_timeout" 0; lock_timeout="$HR_VALUE"
hr_seconds_flag --daemon-timeout "$daemon_timeout" 0; HR_DAEMON_TIMEOUT="$HR_VALUE"
if [[ -n "$health_url" ]]; then
  hr_is_http_url "$health_url" || hr_usage_error "invalid --health-url $(hr_q "$health_url") (http(s)://host[:port][/path])"
fi
hr_resolve_image "$image" "$digest"

# --- docker helpers --------------------------------------------------------------------------

SVC_ID=""
SUPERSEDED=0
declare -A FIRST_SEEN=() # task id -> $SECONDS when this run first saw it running the target

# find_service REF: sets SVC_ID and SVC_NAME to the service named exactly REF (or whose full
# id is REF); 1 when there is none. Exits on other errors.
find_service() {
  local id name
  if ! hr_dk service inspect --format '{{.ID}} {{.Spec.Name}}' -- "$1"; then
    hr_no_such && return 1
    hr_die "$HR_EXIT_INTERNAL" "docker service inspect failed: $HR_ERR"
  fi
  read -r id name <<<"$HR_OUT"
  if [[ "$id" == "$1" || "$name" == "$1" ]]; then
    SVC_ID="$id" SVC_NAME="$name"
    return 0
  fi
  hr_log "no service is named $1; it is only a prefix of the id of service $name ($id), which is never taken for a name"
  return 1
}

# svc TEMPLATE: sets SVC to a field of the service (Go template); 1 if it cannot be inspected
svc() {
  hr_dk service inspect --format "$1" -- "$SVC_ID" || return 1
  SVC="$HR_OUT"
}

# update_status: sets STATE, STARTED, MSG of the service's last update (empty if none) and SPEC
update_status() {
  svc '{{with .UpdateStatus}}{{.State}}|{{.StartedAt}}|{{.Message}}{{else}}||{{end}}|{{.Spec.TaskTemplate.ContainerSpec.Image}}' ||
    return 1
  IFS='|' read -r STATE STARTED MSG SPEC <<<"$SVC"
}

# check_tasks TARGET: succeed when every desired-running task runs TARGET, as many as expected,
# and those on this node run the image id $target_image_id (when known). Sets CHECK_MSG and
# TASK_IDS (sorted), and records when each task was first seen running in FIRST_SEEN.
check_tasks() {
  local target="$1" want id state img node cid running=0 other=0
  local -a ids=() ok=()
  TASK_IDS=""
  if ! svc '{{if .Spec.Mode.Replicated}}{{.Spec.Mode.Replicated.Replicas}}{{else}}global{{end}}'; then
    CHECK_MSG="cannot inspect the service: $HR_ERR"
    return 1
  fi
  want="$SVC"
  if ! hr_dk service ps --no-trunc --quiet --filter desired-state=running -- "$SVC_ID"; then
    CHECK_MSG="cannot list the tasks: $HR_ERR"
    return 1
  fi
  mapfile -t ids <<<"$HR_OUT"
  [[ -n "${ids[0]:-}" ]] || ids=()
  if (( ${#ids[@]} )); then
    if ! hr_dk inspect --type task --format \
      '{{.ID}} {{.Status.State}} {{.Spec.ContainerSpec.Image}} {{.NodeID}} {{with .Status.ContainerStatus}}{{.ContainerID}}{{end}}' \
      -- "${ids[@]}"; then
      CHECK_MSG="cannot inspect the tasks: $HR_ERR"
      return 1
    fi
    while read -r id state img node cid; do
      [[ -n "$id" ]] || continue
      if [[ "$state" == running && "$img" == "$target" ]]; then
        if [[ -n "$target_image_id" && "$node" == "$local_node" && -n "$cid" ]] &&
          hr_dk container inspect --format '{{.Image}}' -- "$cid" &&
          [[ -n "$HR_OUT" && "$HR_OUT" != "$target_image_id" ]]; then
          other=$(( other + 1 ))
          continue
        fi
        running=$(( running + 1 ))
        ok+=("$id")
        [[ -n "${FIRST_SEEN[$id]:-}" ]] || FIRST_SEEN[$id]=$SECONDS
      else
        other=$(( other + 1 ))
      fi
    done <<<"$HR_OUT"
  fi
  if (( ${#ok[@]} )); then
    TASK_IDS="$(printf '%s\n' "${ok[@]}" | sort | tr '\n' ' ')"
  fi
  if [[ "$want" == global ]]; then
    want=$(( running + other ))
    (( want > 0 )) || want=1
  fi
  CHECK_MSG="$running/$want tasks running $target"
  (( other == 0 )) || CHECK_MSG+=" ($other other)"
  (( running == want && other == 0 ))
}

# wait_converged TARGET MODE PREV_STARTED: wait until the service runs TARGET.
# MODE "update": fail early when the update pauses or Swarm starts a rollback, or when the spec
# is no longer TARGET (another deploy: sets SUPERSEDED); MODE "rollback": fail early when the
# rollback pauses or the spec is not TARGET; MODE "none": only wait for the tasks.
# PREV_STARTED: UpdateStatus.StartedAt before the operation (a status with that start time is
# stale, left from an earlier update). Sets FAIL_MSG on failure.
wait_converged() {
  local target="$1" mode="$2" prev_started="$3" deadline state
  deadline=$(( SECONDS + timeout ))
  FAIL_MSG=""
  while :; do
    # A manager that restarts answers errors for a while: keep asking until the deadline.
    if update_status; then
      state="$STATE"
      [[ "$STARTED" == "$prev_started" ]] && state="stale"
      if [[ "$mode" == update ]]; then
        case "$state" in
          paused | rollback_started | rollback_paused | rollback_completed)
            FAIL_MSG="update $state: $MSG"
            return 1 ;;
        esac
        if [[ "$SPEC" != "$target" ]]; then
          SUPERSEDED=1
          FAIL_MSG="another deploy changed the spec to $SPEC while this one waited"
          return 1
        fi
      elif [[ "$mode" == rollback ]]; then
        if [[ "$state" == rollback_paused ]]; then
          FAIL_MSG="rollback paused: $MSG"
          return 1
        fi
        if [[ "$SPEC" != "$target" ]]; then
          FAIL_MSG="after the rollback the spec is $SPEC, not $target"
          return 1
        fi
      fi
      if [[ "$state" == completed || "$state" == rollback_completed || "$mode" == none ]] &&
        check_tasks "$target"; then
        return 0
      fi
    else
      state="unknown ($HR_ERR)"
    fi
    if (( SECONDS >= deadline )); then
      check_tasks "$target" || true
      FAIL_MSG="not converged within ${timeout}s (update state: ${state:-none}; $CHECK_MSG)"
      return 1
    fi
    sleep 1
  done
}

# probe_health DEADLINE: GET --health-url until it answers or SECONDS reaches DEADLINE
probe_health() {
  [[ -n "$health_url" ]] || return 0
  while ! hr_probe_url "$health_url"; do
    if (( SECONDS >= $1 )); then
      FAIL_MSG="--health-url $health_url did not answer: $(tr '\n' ' ' <"$HR_TMP/probe.err")"
      return 1
    fi
    sleep 1
  done
}

# stays_up TARGET MODE: the converged tasks keep running TARGET, none replaced, until each has
# been up $settle seconds; in MODE update --health-url answers at the start and at the end (it
# may be a check of what the new version adds, so a rollback is not judged by it). Sets FAIL_MSG.
stays_up() {
  local target="$1" mode="$2" ids id end=0
  check_tasks "$target" || { FAIL_MSG="$CHECK_MSG"; return 1; }
  ids="$TASK_IDS"
  if [[ "$mode" == update ]]; then
    probe_health $(( SECONDS + timeout )) || return 1
  fi
  for id in $ids; do
    (( FIRST_SEEN[$id] + settle > end )) && end=$(( FIRST_SEEN[$id] + settle ))
  done
  while (( SECONDS < end )); do
    sleep 1
    if [[ "$mode" == update ]] && update_status && [[ "$STATE" == rollback_* ]]; then
      FAIL_MSG="Swarm started a rollback: $MSG"
      return 1
    fi
    if ! check_tasks "$target"; then
      FAIL_MSG="tasks did not stay up for ${settle}s after starting: $CHECK_MSG"
      return 1
    fi
    if [[ "$TASK_IDS" != "$ids" ]]; then
      FAIL_MSG="tasks were replaced within ${settle}s of starting (before: ${ids% }; now: ${TASK_IDS% })"
      return 1
    fi
  done
  [[ "$mode" != update ]] || probe_health $(( SECONDS + 3 ))
}

# verify TARGET MODE PREV_STARTED: wait_converged, then stays_up. An engine outage on the way
# (a daemon restart recreates this node's tasks) starts both again, at most three times.
verify() {
  local restarts=0 outages
  while :; do
    outages="$(hr_outages)"
    if wait_converged "$@" && stays_up "$1" "$2"; then
      return 0
    fi
    if (( SUPERSEDED )) || hr_engine_lost || [[ "$(hr_outages)" == "$outages" ]] ||
      (( ++restarts > 3 )); then
      return 1
    fi
    hr_log "the Docker engine restarted during the checks ($FAIL_MSG); checking again from the start"
    FIRST_SEEN=()
  done
}

# finish_with_spec CODE STATUS MESSAGE: hr_finish with the service's current spec as image_after
finish_with_spec() {
  if svc '{{.Spec.TaskTemplate.ContainerSpec.Image}}'; then
    HR_AFTER="$SVC"
  else
    HR_AFTER=""
  fi
  hr_finish "$@"
}

# --- main ------------------------------------------------------------------------------------

hr_require_docker
if ! hr_dk info --format '{{.Swarm.ControlAvailable}} {{.Swarm.NodeID}}' || [[ "$HR_OUT" != "true "* ]]; then
  hr_die "$HR_EXIT_INTERNAL" "this Docker engine is not a swarm manager"
fi
local_node="${HR_OUT#true }"
find_service "$service" || hr_die "$HR_EXIT_INVALID" "no such service: $service"
# A full id resolves to the service's name: results and the lock always use the name.
HR_TARGET="swarm:$SVC_NAME" HR_DESC="service $SVC_NAME"
HR_INTERRUPT_NOTE="the update (if started) goes on in Swarm; check the service"
hr_lock "swarm-$SVC_NAME" "$lock_timeout" "$HR_PROG --service $SVC_NAME --image $HR_IMAGE"
# The run that held the lock may have replaced the service: look it up again.
find_service "$SVC_NAME" || hr_die "$HR_EXIT_INVALID" "no such service: $SVC_NAME"

svc '{{.Spec.TaskTemplate.ContainerSpec.Image}}' || hr_die "$HR_EXIT_INTERNAL" "cannot inspect $HR_DESC: $HR_ERR"
old_ref="$SVC"
HR_BEFORE="$old_ref" HR_AFTER="$old_ref"
HR_REQUESTED="$(hr_pin "$HR_IMAGE_NAME" "$HR_IMAGE_TAG" "$HR_DIGEST")"

# Pull: by digest when we know it (proves that digest exists), else by tag (yields the digest).
pull_ref="$HR_REQUESTED"
[[ -n "$HR_DIGEST" ]] && pull_ref="$HR_IMAGE_NAME@$HR_DIGEST"
hr_log "pulling $pull_ref"
if ! pulled_digest="$(hr_pull_digest "$pull_ref")"; then
  hr_finish "$HR_EXIT_ROLLED_BACK" aborted "$HR_DESC unchanged: cannot pull $pull_ref; still running $old_ref"
fi
if [[ -z "$HR_DIGEST" ]]; then
  HR_DIGEST="${pulled_digest:-$(hr_repo_digest "$pull_ref" "$HR_IMAGE_NAME")}"
fi
if [[ -z "$HR_DIGEST" ]]; then
  hr_finish "$HR_EXIT_ROLLED_BACK" aborted "$HR_DESC unchanged: no registry digest for $pull_ref; still running $old_ref"
fi
target_image_id=""
if hr_dk image inspect --format '{{.ID}}' -- "$HR_IMAGE_NAME@$HR_DIGEST"; then
  target_image_id="$HR_OUT"
fi
new_ref="$(hr_pin "$HR_IMAGE_NAME" "$HR_IMAGE_TAG" "$HR_DIGEST")"
HR_REQUESTED="$new_ref"

if [[ "$old_ref" == "$new_ref" ]]; then
  hr_log "$HR_DESC already has $new_ref; verifying its tasks"
  update_status || hr_die "$HR_EXIT_INTERNAL" "cannot inspect $HR_DESC: $HR_ERR"
  if wait_converged "$new_ref" none "$STARTED"; then
    hr_finish "$HR_EXIT_OK" unchanged "$HR_DESC unchanged: already running $new_ref"
  fi
  hr_finish "$HR_EXIT_ROLLBACK_FAILED" failed \
    "$HR_DESC unchanged ($new_ref) but not running it: $FAIL_MSG"
fi

hr_log "updating $HR_DESC: $old_ref -> $new_ref"
update_status || hr_die "$HR_EXIT_INTERNAL" "cannot inspect $HR_DESC: $HR_ERR"
prev_started="$STARTED"
update_args=(--detach --quiet --image "$new_ref")
(( registry_auth )) && update_args+=(--with-registry-auth)
updated=0
for attempt in 1 2 3; do
  if hr_dk service update "${update_args[@]}" -- "$SVC_ID"; then
    updated=1
    break
  fi
  err="$HR_ERR"
  svc '{{.Spec.TaskTemplate.ContainerSpec.Image}}' || SVC="(unknown)"
  # "update out of sequence": the service object changed between read and write (an update
  # status written by Swarm); with the spec still ours to change, try again.
  if [[ "$SVC" == "$old_ref" && "$err" == *"out of sequence"* && "$attempt" != 3 ]]; then
    sleep 1
    continue
  fi
  break
done
if (( ! updated )); then
  if [[ "$SVC" == "$old_ref" ]]; then
    hr_finish "$HR_EXIT_ROLLED_BACK" aborted \
      "$HR_DESC unchanged: docker service update failed ($err); still running $old_ref"
  fi
  HR_AFTER="$SVC"
  hr_finish "$HR_EXIT_BUSY" superseded \
    "$HR_DESC: docker service update failed ($err) and the spec is now $SVC (another deploy?); nothing rolled back"
fi
HR_AFTER="$new_ref"

if verify "$new_ref" update "$prev_started"; then
  hr_log "$HR_DESC converged and stayed up: $CHECK_MSG"
  hr_finish "$HR_EXIT_OK" updated "$HR_DESC updated: $old_ref -> $new_ref"
fi
reason="$FAIL_MSG"
hr_log "update of $HR_DESC to $new_ref failed: $reason"
if hr_engine_lost; then
  HR_AFTER=""
  hr_finish "$HR_EXIT_ROLLBACK_FAILED" failed \
    "$HR_DESC update to $new_ref FAILED ($reason); the Docker engine stayed unreachable, nothing rolled back"
fi
if (( SUPERSEDED )); then
  finish_with_spec "$HR_EXIT_BUSY" superseded \
    "$HR_DESC update to $new_ref superseded: $reason; nothing rolled back"
fi
if (( ! rollback )); then
  finish_with_spec "$HR_EXIT_ROLLBACK_FAILED" failed \
    "$HR_DESC update to $new_ref FAILED ($reason); rollback disabled, left as it is"
fi

# Roll back only our own update: the spec must still be ours and the previous spec what we
# replaced (else `docker service rollback` would undo someone else's deploy).
svc '{{with .UpdateStatus}}{{.State}}|{{.StartedAt}}{{else}}|{{end}}|{{.Spec.TaskTemplate.ContainerSpec.Image}}|{{with .PreviousSpec}}{{.TaskTemplate.ContainerSpec.Image}}{{end}}' ||
  hr_die "$HR_EXIT_ROLLBACK_FAILED" "update to $new_ref failed ($reason) and the service cannot be inspected: $HR_ERR"
IFS='|' read -r state started spec prev_spec <<<"$SVC"
if [[ "$state" == rollback_started || "$state" == rollback_completed ]] && [[ "$started" != "$prev_started" ]]; then
  hr_log "Swarm is already rolling back (update failure action); waiting for it"
elif [[ "$spec" == "$new_ref" && "$prev_spec" == "$old_ref" ]]; then
  hr_log "rolling back $HR_DESC to $old_ref"
  prev_started="$started"
  if ! hr_dk service rollback --detach --quiet -- "$SVC_ID"; then
    finish_with_spec "$HR_EXIT_ROLLBACK_FAILED" failed \
      "$HR_DESC update to $new_ref FAILED ($reason); docker service rollback failed too: $HR_ERR"
  fi
else
  HR_AFTER="$spec"
  hr_finish "$HR_EXIT_BUSY" superseded \
    "$HR_DESC update to $new_ref FAILED ($reason), but the service is no longer this run's update (spec $spec, previous $prev_spec); nothing rolled back"
fi
# Only a digest-pinned reference names one image; "repo:tag" may now name the image just pulled.
target_image_id=""
old_digest="$(hr_digest_of_ref "$old_ref")"
if [[ -n "$old_digest" ]] && hr_dk image inspect --format '{{.ID}}' -- "${old_ref%%@*}@$old_digest"; then
  target_image_id="$HR_OUT"
fi
FIRST_SEEN=()
if verify "$old_ref" rollback "$prev_started"; then
  HR_AFTER="$old_ref"
  hr_finish "$HR_EXIT_ROLLED_BACK" rolled_back \
    "$HR_DESC update to $new_ref FAILED ($reason); rolled back to $old_ref"
fi
finish_with_spec "$HR_EXIT_ROLLBACK_FAILED" failed \
  "$HR_DESC update to $new_ref FAILED ($reason); rollback to $old_ref FAILED too ($FAIL_MSG)"
