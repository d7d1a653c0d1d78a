#!/usr/bin/env bash
# shellcheck disable=SC2016 # the single-quoted $k, $v, ... are Go template variables
#
# container-swap.sh - replace a plain Docker container by one from a new image with the same
# configuration, wait until the new one is healthy and stays up, remove the old one; roll back
# when the new one fails.
#
# Theory of operation
#   1. Validate every input. Find the container by its exact name (or its full id): `docker
#      inspect` also takes an id prefix, so "--container db" could otherwise swap another
#      container whose id starts with "db". Every later command uses full ids.
#   2. Take the per-container lock (one run per container on this host; a second run waits up
#      to --lock-timeout, then gives up with exit 5 without touching anything). Under the lock,
#      recover what an interrupted run left (see 8).
#   3. Inspect the old container and the image it was created from; pull the new image
#      (--pull always|missing|never).
#   4. Rebuild the old container's `docker create` arguments from `docker inspect`: what the
#      container set itself is kept, what it inherited from the OLD image is dropped so that the
#      NEW image's defaults win (env entries and labels equal to the old image's, user, workdir,
#      entrypoint, cmd, healthcheck, stop signal equal to the old image's).
#   5. Create the new container under the temporary name NAME-hookrun-new with the labels
#      org.hookrun.container-swap.replaces=<old container's full id> and ...old-running=true|false
#      (nothing is stopped yet, so a bad configuration fails harmlessly); connect its networks.
#   6. start-first (default): start the new one, check it (7), then rename the old one to
#      NAME-hookrun-old, the new one to NAME, stop and remove the old one.
#      stop-first (--stop-first; forced when the container publishes fixed host ports, uses a
#      static IP or the host network): stop the old one, rename it to NAME-hookrun-old, rename
#      the new one to NAME, start it, check it (7), remove the old one.
#   7. The check: the image's HEALTHCHECK reports healthy, the --health-cmd command exits 0
#      inside the new container (docker exec) and --health-url answers; and, whatever the health
#      signals, the container keeps running without a restart until --settle seconds after it
#      was started (the late-crash window), then the health command and URL pass once more.
#      Exiting, restarting, "unhealthy" or --health-timeout is a failure: the new container is
#      removed, the old one gets its name back and is started again if it was running -> exit
#      3, or 4 when that fails.
#   8. The Docker engine unreachable (a daemon restart) is not "container gone": every step
#      waits for it (up to --daemon-timeout each time) and is repeated from the state it finds;
#      a restart during the check starts the check again. When the engine stays away, the run
#      exits 4 and the next run, seeing NAME-hookrun-old/-new, proves they are its own through
#      the labels of step 5 and rolls that swap back (or completes it, when it had been verified
#      on this host) before doing its own work. Containers it cannot prove are its own are
#      never touched: the run refuses with exit 1.
#
# Exit codes: 0 swapped and healthy (or already running that image), 1 internal error (docker
# unreachable, leftovers that are not provably this script's), 2 invalid input, usage, no such
# container or a container this script cannot swap, 3 the new container failed and the old one
# runs again (also: image not pullable, nothing was changed), 4 the new one failed and the old
# one could not be restored (or --no-rollback), 5 another run kept the container busy.
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
Usage: container-swap.sh --container NAME [--image REF] [options] [-- HEALTH-CMD [ARG...]]

Replace the container NAME by a new one from REF with the same configuration (env, mounts and
volumes, networks and aliases, labels, restart policy, published ports, log config, extra
hosts, capabilities, limits, ...), wait until it is healthy and stays up, then remove the old
one. When the new one fails, it is removed and the old one runs again. Redeploying a previous
image is the same call with the previous REF.

Options (environment fallback in brackets):
  --container NAME      the container to replace: its exact name, or its full 64-hex id (an id
                        prefix is never taken for a name) [HOOKRUN_CONTAINER]
  --image REF           image reference host[:port]/path[:tag][@sha256:...]
                        [HOOKRUN_IMAGE, else HOOKRUN_IMAGE_PINNED, else
                        HOOKRUN_REGISTRY/HOOKRUN_REPOSITORY:HOOKRUN_TAG]
  --digest sha256:HEX   pin to this digest (default: the digest in REF; with the image from the
                        environment, HOOKRUN_DIGEST)
  --pull POLICY         always (default), missing (only if not present locally), never
                        [HOOKRUN_PULL]
  --settle S            the late-crash window: the new container must keep running, without a
                        restart, until S seconds after it started, whatever its health
                        signals say (default 15) [HOOKRUN_SETTLE]
  --health-timeout S    seconds the new container gets to become healthy (default 60)
                        [HOOKRUN_HEALTH_TIMEOUT]
  --health-url URL      GET URL from this host until it answers 2xx/3xx, and again at the end
                        of the window [HOOKRUN_HEALTH_URL]. The host "container" means the new
                        container's own address, so a start-first swap probes the new
                        container itself, not whatever a proxy or an alias picks:
                        --health-url http://container:8080/healthz (this needs the script on
                        the Docker host, with bridge or user networks); any other host is
                        probed as written (http://127.0.0.1:8080/ for a published port)
  --health-cmd PROG     a program (one word, no arguments) run with `docker exec` in the new
                        container until it exits 0, and again at the end of the window
                        [HOOKRUN_HEALTH_CMD]; for a command with arguments put it after `--`,
                        as separate words (no shell involved):
                          container-swap.sh --container web --image app:2 -- wget -q -O- http://127.0.0.1:8080/
                        (wanting a shell? say so: -- sh -c 'curl -f localhost | grep ok')
  --stop-first          stop the old container before starting the new one
  --start-first         start the new one first (default; ignored, with a warning, when the
                        container publishes fixed host ports, has a static IP or uses the host
                        network: those force --stop-first)
  --keep-old            keep the old container (stopped, restart policy "no") as NAME-hookrun-prev
  --no-rollback         on failure change nothing more (exit 4): start-first leaves the failed
                        container as NAME-hookrun-new next to the old one (still NAME);
                        stop-first leaves it as NAME and the stopped old one as NAME-hookrun-old
                        (the next run rolls that back first) [HOOKRUN_NO_ROLLBACK=1]
  --lock-timeout S      wait up to S seconds while another run swaps the same container
                        (default 600; 0: give up at once) [HOOKRUN_LOCK_TIMEOUT]
  --daemon-timeout S    wait up to S seconds for an unreachable Docker engine, each time
                        (default 60) [HOOKRUN_DAEMON_TIMEOUT]
  -h, --help            this text

The window: a new version that dies or restarts within --settle seconds of starting is rolled
back, also when its healthcheck already said healthy. Every swap takes at least that long; a
bigger window catches later crashes at the cost of slower deploys (and slower rollbacks of a
stop-first swap, whose restarted old container gets the same window).

Downtime: stop-first (forced by a published host port) stops the old container before the
new one starts: clients are refused for one to two seconds per deploy (measured by hookrun's
end-to-end suite, polling every 50 ms: 1.1 to 1.7 s per swap). For zero downtime, publish no
host port on the app container: put it on a user network behind a reverse proxy (nginx-proxy,
Traefik) or a network alias (`docker run --network app --network-alias web ...`); start-first
then runs both containers side by side and stops the old one only after the new one passed its
checks. Measured the same way: no failed poll of 653 through a proxy that retries a failed
connection on another address (as nginx does); clients resolving the alias themselves lost 4 of
788, because Docker's DNS lists a container for a moment while it starts or stops.

Concurrency: runs for the same container on this host (same user, or a shared
HOOKRUN_LOCK_DIR) take turns; the lock is released when a run ends in any way.

Output: progress on stderr; one result line on stdout, e.g.
  container web updated: app:v1 (sha256:aaa...) -> app:v2@sha256:bbb... (sha256:ccc...)
When HOOKRUN_RESULT names a file, the result is appended to it as key=value lines (a value
with a line break as key<<DELIMITER ... DELIMITER): target (container:NAME), status (updated,
unchanged, rolled_back, aborted, failed, busy, invalid, error, interrupted), rolled_back
(true/false), image_before, image_requested, image_after, digest (of image_after), exit_code,
message (the result line).

Exit codes: 0 swapped and healthy (or already running that image); 1 internal error (docker not
reachable, leftovers that are not provably this script's); 2 invalid input, usage error, no
such container, or a container this script will not swap (a Swarm task, --rm, a temporary
container of a swap); 3 the new container failed and the old one runs again (also when the
image cannot be pulled: nothing was changed); 4 the new container failed and the old one could
not be restored (or --no-rollback was given, or the Docker engine stayed unreachable); 5
another run kept the container busy past --lock-timeout.

Not carried over: legacy --link, MAC address, device requests (GPUs), blkio/cpuset/other rare
resource settings, Windows-only settings.
EOF
}

hr_init
container="${HOOKRUN_CONTAINER:-}"
image=""
digest=""
pull="${HOOKRUN_PULL:-always}"
health_timeout="${HOOKRUN_HEALTH_TIMEOUT:-60}"
settle="${HOOKRUN_SETTLE:-15}"
health_url="${HOOKRUN_HEALTH_URL:-}"
lock_timeout="${HOOKRUN_LOCK_TIMEOUT:-600}"
daemon_timeout="${HOOKRUN_DAEMON_TIMEOUT:-60}"
order=""
keep_old=0
rollback=1
[[ "${HOOKRUN_NO_ROLLBACK:-0}" == 1 ]] && rollback=0
health_cmd=()
[[ -n "${HOOKRUN_HEALTH_CMD:-}" ]] && health_cmd=("$HOOKRUN_HEALTH_CMD")

while (( $# )); do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --container) hr_flag_value "$@"; container="$HR_VALUE"; shift 2 ;;
    --container=*) container="${1#*=}"; shift ;;
    --image) hr_flag_value "$@"; image="$HR_VALUE"; shift 2 ;;
    --image=*) image="${1#*=}"; shift ;;
    --digest) hr_flag_value "$@"; digest="$HR_VALUE"; shift 2 ;;
    --digest=*) digest="${1#*=}"; shift ;;
    --pull) hr_flag_value "$@"; pull="$HR_VALUE"; shift 2 ;;
    --pull=*) pull="${1#*=}"; shift ;;
    --health-timeout) hr_flag_value "$@"; health_timeout="$HR_VALUE"; shift 2 ;;
    --health-timeout=*) health_timeout="${1#*=}"; shift ;;
    --settle) hr_flag_value "$@"; settle="$HR_VALUE"; shift 2 ;;
    --settle=*) settle="${1#*=}"; shift ;;
    --health-url) hr_flag_value "$@"; health_url="$HR_VALUE"; shift 2 ;;
    --health-url=*) health_url="${1#*=}"; shift ;;
    --health-cmd) hr_flag_value "$@"; health_cmd=("$HR_VALUE"); shift 2 ;;
    --health-cmd=*) health_cmd=("${1#*=}"); shift ;;
    --lock-timeout) hr_flag_value "$@"; lock_timeout="$HR_VALUE"; shift 2 ;;
    --lock-timeout=*) lock_timeout="${1#*=}"; shift ;;
    --daemon-timeout) hr_flag_value "$@"; daemon_timeout="$HR_VALUE"; shift 2 ;;
    --daemon-timeout=*) daemon_timeout="${1#*=}"; shift ;;
    --stop-first) order="stop-first"; shift ;;
    --start-first) order="start-first"; shift ;;
    --keep-old) keep_old=1; shift ;;
    --no-rollback) rollback=0; shift ;;
    --) shift; (( $# )) || hr_usage_error "no health command after --"; health_cmd=("$@"); break ;;
    *) hr_usage_error "unknown argument $(hr_q "$1")" ;;
  esac
done

[[ -n "$container" ]] || hr_usage_error "--container is required"
hr_is_name "$container" || hr_usage_error "invalid container name $(hr_q "$container")"
HR_TARGET="container:$container" HR_DESC="container $container"
case "$container" in
  *-hookrun-new | *-hookrun-old)
    hr_die "$HR_EXIT_INVALID" "$container is the temporary container of a swap, not one to swap" ;;
esac
case "$pull" in
  always | missing | never) ;;
  *) hr_usage_error "invalid --pull $(hr_q "$pull") (always, missing or never)" ;;
esac
hr_seconds_flag --health-timeout "$health_timeout" 1; health_timeout="$HR_VALUE"
hr_seconds_flag --settle "$settle" 0; settle="$HR_VALUE"
hr_seconds_flag --lock-timeout "$lock_timeout" 0; lock_timeout="$HR_VALUE"
hr_seconds_flag --daemon-timeout "$daemon_timeout" 0; HR_DAEMON_TIMEOUT="$HR_VALUE"
if (( ${#health_cmd[@]} )); then
  [[ "${health_cmd[0]}" =~ ^[A-Za-z0-9_./][A-Za-z0-9_./+-]*$ ]] ||
    hr_usage_error "invalid health command $(hr_q "${health_cmd[0]}") (a program name or path)"
fi
if [[ -n "$health_url" ]]; then
  hr_is_http_url "$health_url" || hr_usage_error "invalid --health-url $(hr_q "$health_url") (http(s)://host[:port][/path])"
  hr_require_cmd curl
fi
hr_resolve_image "$image" "$digest"

# --- inspection helpers ----------------------------------------------------------------------

# inspect0 ARRAY TEMPLATE OBJECT...: NUL-separated output of docker inspect into ARRAY.
# The template prints each element followed by \x00 (values may contain newlines). Waits out
# an engine outage like hr_dk (which cannot carry NUL bytes).
inspect0() {
  local -n _arr="$1"
  while ! docker inspect --format "$2" -- "${@:3}" >"$HR_TMP/inspect" 2>"$HR_TMP/inspect.err"; do
    if hr_engine_up; then
      cat -- "$HR_TMP/inspect.err" >&2
      return 1
    fi
    hr_wait_engine || return 1
  done
  mapfile -d '' -t _arr <"$HR_TMP/inspect"
  # docker inspect ends its output with a newline: drop that last partial element
  if (( ${#_arr[@]} )) && [[ "${_arr[-1]}" == $'\n' ]]; then
    unset '_arr[-1]'
  fi
}

# has ARRAY VALUE: ARRAY contains VALUE
has() {
  local -n _h="$1"
  local x
  for x in "${_h[@]}"; do
    [[ "$x" == "$2" ]] && return 0
  done
  return 1
}

# csv_field VALUE: VALUE quoted for a --mount option if it needs it (encoding/csv rules)
csv_field() {
  if [[ "$1" == *[,\"]* ]]; then
    printf '"%s"' "${1//\"/\"\"}"
  else
    printf '%s' "$1"
  fi
}

# sh_quote WORD: WORD in single quotes for a POSIX shell
sh_quote() {
  printf "'%s'" "${1//\'/\'\\\'\'}"
}

# --- reading the old container ---------------------------------------------------------------

# S: the scalar fields of the old container, by name
declare -A S=()
read_scalars() {
  local -a keys=(name id image_id config_image running status hostname domainname user workdir
    tty stdin stop_signal stop_timeout network_mode restart_name restart_max log_type memory
    memory_swap memory_reservation nano_cpus cpu_shares pids_limit shm_size privileged
    readonly_rootfs init publish_all auto_remove ipc_mode pid_mode uts_mode userns_mode runtime
    cgroup_parent entrypoint_json cmd_json health_json swarm_service oom_kill_disable started_at
    swap_replaces)
  local -a vals=()
  local tpl='{{printf "%s\x00" .Name}}{{printf "%s\x00" .ID}}{{printf "%s\x00" .Image}}'
  tpl+='{{printf "%s\x00" .Config.Image}}{{printf "%t\x00" .State.Running}}'
  tpl+='{{printf "%s\x00" .State.Status}}{{printf "%s\x00" .Config.Hostname}}'
  tpl+='{{printf "%s\x00" .Config.Domainname}}{{printf "%s\x00" .Config.User}}'
  tpl+='{{printf "%s\x00" .Config.WorkingDir}}{{printf "%t\x00" .Config.Tty}}'
  tpl+='{{printf "%t\x00" .Config.OpenStdin}}{{printf "%s\x00" .Config.StopSignal}}'
  tpl+='{{with .Config.StopTimeout}}{{.}}{{end}}{{printf "\x00"}}'
  tpl+='{{printf "%s\x00" .HostConfig.NetworkMode}}{{printf "%s\x00" .HostConfig.RestartPolicy.Name}}'
  tpl+='{{printf "%d\x00" .HostConfig.RestartPolicy.MaximumRetryCount}}'
  tpl+='{{printf "%s\x00" .HostConfig.LogConfig.Type}}{{printf "%d\x00" .HostConfig.Memory}}'
  tpl+='{{printf "%d\x00" .HostConfig.MemorySwap}}{{printf "%d\x00" .HostConfig.MemoryReservation}}'
  tpl+='{{printf "%d\x00" .HostConfig.NanoCPUs}}{{printf "%d\x00" .HostConfig.CPUShares}}'
  tpl+='{{with .HostConfig.PidsLimit}}{{.}}{{end}}{{printf "\x00"}}'
  tpl+='{{printf "%d\x00" .HostConfig.ShmSize}}{{printf "%t\x00" .HostConfig.Privileged}}'
  tpl+='{{printf "%t\x00" .HostConfig.ReadonlyRootfs}}'
  tpl+='{{with .HostConfig.Init}}{{.}}{{end}}{{printf "\x00"}}'
  tpl+='{{printf "%t\x00" .HostConfig.PublishAllPorts}}{{printf "%t\x00" .HostConfig.AutoRemove}}'
  tpl+='{{printf "%s\x00" .HostConfig.IpcMode}}{{printf "%s\x00" .HostConfig.PidMode}}'
  tpl+='{{printf "%s\x00" .HostConfig.UTSMode}}{{printf "%s\x00" .HostConfig.UsernsMode}}'
  tpl+='{{printf "%s\x00" .HostConfig.Runtime}}{{printf "%s\x00" .HostConfig.CgroupParent}}'
  tpl+='{{json .Config.Entrypoint}}{{printf "\x00"}}{{json .Config.Cmd}}{{printf "\x00"}}'
  tpl+='{{json .Config.Healthcheck}}{{printf "\x00"}}'
  tpl+='{{index .Config.Labels "com.docker.swarm.service.id"}}{{printf "\x00"}}'
  tpl+='{{with .HostConfig.OomKillDisable}}{{.}}{{end}}{{printf "\x00"}}'
  tpl+='{{printf "%s\x00" .State.StartedAt}}'
  tpl+='{{index .Config.Labels "org.hookrun.container-swap.replaces"}}{{printf "\x00"}}'
  inspect0 vals "$tpl" "$old_id" || return 1
  if (( ${#vals[@]} != ${#keys[@]} )); then
    hr_die "$HR_EXIT_INTERNAL" "docker inspect returned ${#vals[@]} fields, expected ${#keys[@]}"
  fi
  local i
  for i in "${!keys[@]}"; do
    S[${keys[$i]}]="${vals[$i]}"
  done
  S[name]="${S[name]#/}"
}

# I: the old image's defaults, by name
declare -A I=()
read_old_image() {
  local -a vals=()
  local tpl='{{printf "%s\x00" .Config.User}}{{printf "%s\x00" .Config.WorkingDir}}'
  tpl+='{{json .Config.Entrypoint}}{{printf "\x00"}}{{json .Config.Cmd}}{{printf "\x00"}}'
  tpl+='{{json .Config.Healthcheck}}{{printf "\x00"}}{{printf "%s\x00" .Config.StopSignal}}'
  if ! inspect0 vals "$tpl" "${S[image_id]}" 2>/dev/null || (( ${#vals[@]} != 6 )); then
    hr_log "warning: cannot inspect the old image ${S[image_id]}; keeping every setting as explicit"
    vals=("" "" "null" "null" "null" "")
    old_image_ok=0
  fi
  I[user]="${vals[0]}" I[workdir]="${vals[1]}" I[entrypoint_json]="${vals[2]}"
  I[cmd_json]="${vals[3]}" I[health_json]="${vals[4]}" I[stop_signal]="${vals[5]}"
}
old_image_ok=1

# --- building the new container's arguments --------------------------------------------------

args=()          # docker create options
cmd_args=()      # COMMAND [ARG...] after the image
extra_nets=()    # "NETWORK" entries to connect after create, with net_opts_<n> arrays below
declare -A net_aliases=() net_ip=()
force_stop_first=""

add_env() {
  # shellcheck disable=SC2034 # filled and read through namerefs
  local -a env=() img_env=()
  inspect0 env '{{range .Config.Env}}{{printf "%s\x00" .}}{{end}}' "${S[id]}"
  if (( old_image_ok )); then
    inspect0 img_env '{{range .Config.Env}}{{printf "%s\x00" .}}{{end}}' "${S[image_id]}"
  fi
  local e
  for e in "${env[@]}"; do
    has img_env "$e" && continue
    args+=(--env "$e")
  done
}

add_labels() {
  # shellcheck disable=SC2034 # filled and read through namerefs
  local -a labels=() img_labels=()
  local tpl='{{range $k, $v := .Config.Labels}}{{printf "%s=%s\x00" $k $v}}{{end}}'
  inspect0 labels "$tpl" "${S[id]}"
  (( old_image_ok )) && inspect0 img_labels "$tpl" "${S[image_id]}"
  local l
  for l in "${labels[@]}"; do
    has img_labels "$l" && continue
    # this script's own labels describe one swap; the new container gets fresh ones
    [[ "$l" == org.hookrun.container-swap.* ]] && continue
    args+=(--label "$l")
  done
}

add_simple_config() {
  # Hostname: Docker sets it to the short container id unless it was given.
  if [[ -n "${S[hostname]}" && "${S[hostname]}" != "${S[id]:0:12}" &&
    "${S[network_mode]}" != host && "${S[network_mode]}" != container:* ]]; then
    args+=(--hostname "${S[hostname]}")
  fi
  [[ -n "${S[domainname]}" ]] && args+=(--domainname "${S[domainname]}")
  [[ "${S[user]}" != "${I[user]}" ]] && args+=(--user "${S[user]}")
  [[ "${S[workdir]}" != "${I[workdir]}" ]] && args+=(--workdir "${S[workdir]}")
  [[ "${S[tty]}" == true ]] && args+=(--tty)
  [[ "${S[stdin]}" == true ]] && args+=(--interactive)
  if [[ -n "${S[stop_signal]}" && "${S[stop_signal]}" != "${I[stop_signal]}" ]]; then
    args+=(--stop-signal "${S[stop_signal]}")
  fi
  [[ -n "${S[stop_timeout]}" ]] && args+=(--stop-timeout "${S[stop_timeout]}")
  if [[ -n "${S[restart_name]}" && "${S[restart_name]}" != no ]]; then
    if [[ "${S[restart_name]}" == on-failure && "${S[restart_max]}" != 0 ]]; then
      args+=(--restart "on-failure:${S[restart_max]}")
    else
      args+=(--restart "${S[restart_name]}")
    fi
  fi
  (( S[memory] > 0 )) && args+=(--memory "${S[memory]}b")
  if (( S[memory_swap] > 0 )); then
    args+=(--memory-swap "${S[memory_swap]}b")
  elif (( S[memory_swap] == -1 && S[memory] > 0 )); then
    args+=(--memory-swap -1)
  fi
  (( S[memory_reservation] > 0 )) && args+=(--memory-reservation "${S[memory_reservation]}b")
  if (( S[nano_cpus] > 0 )); then
    args+=(--cpus "$(( S[nano_cpus] / 1000000000 )).$(printf '%09d' $(( S[nano_cpus] % 1000000000 )))")
  fi
  (( S[cpu_shares] > 0 )) && args+=(--cpu-shares "${S[cpu_shares]}")
  [[ -n "${S[pids_limit]}" && "${S[pids_limit]}" != 0 ]] && args+=(--pids-limit "${S[pids_limit]}")
  (( S[shm_size] > 0 && S[shm_size] != 67108864 )) && args+=(--shm-size "${S[shm_size]}b")
  [[ "${S[privileged]}" == true ]] && args+=(--privileged)
  [[ "${S[readonly_rootfs]}" == true ]] && args+=(--read-only)
  [[ "${S[init]}" == true ]] && args+=(--init)
  [[ "${S[oom_kill_disable]}" == true ]] && args+=(--oom-kill-disable)
  [[ "${S[publish_all]}" == true ]] && args+=(--publish-all)
  case "${S[ipc_mode]}" in
    "" | private | shareable) ;;
    *) args+=(--ipc "${S[ipc_mode]}") ;;
  esac
  [[ -n "${S[pid_mode]}" ]] && args+=(--pid "${S[pid_mode]}")
  [[ -n "${S[uts_mode]}" ]] && args+=(--uts "${S[uts_mode]}")
  [[ -n "${S[userns_mode]}" ]] && args+=(--userns "${S[userns_mode]}")
  [[ -n "${S[runtime]}" && "${S[runtime]}" != runc ]] && args+=(--runtime "${S[runtime]}")
  [[ -n "${S[cgroup_parent]}" ]] && args+=(--cgroup-parent "${S[cgroup_parent]}")
  return 0
}

# add_list FLAG TEMPLATE: one FLAG VALUE per element the template yields
add_list() {
  local -a vals=()
  local v
  inspect0 vals "$2" "${S[id]}"
  for v in "${vals[@]}"; do
    args+=("$1" "$v")
  done
}

add_lists() {
  add_list --add-host '{{range .HostConfig.ExtraHosts}}{{printf "%s\x00" .}}{{end}}'
  add_list --cap-add '{{range .HostConfig.CapAdd}}{{printf "%s\x00" .}}{{end}}'
  add_list --cap-drop '{{range .HostConfig.CapDrop}}{{printf "%s\x00" .}}{{end}}'
  add_list --dns '{{range .HostConfig.DNS}}{{printf "%s\x00" .}}{{end}}'
  add_list --dns-search '{{range .HostConfig.DNSSearch}}{{printf "%s\x00" .}}{{end}}'
  add_list --dns-option '{{range .HostConfig.DNSOptions}}{{printf "%s\x00" .}}{{end}}'
  add_list --security-opt '{{range .HostConfig.SecurityOpt}}{{printf "%s\x00" .}}{{end}}'
  add_list --group-add '{{range .HostConfig.GroupAdd}}{{printf "%s\x00" .}}{{end}}'
  add_list --device '{{range .HostConfig.Devices}}{{printf "%s:%s:%s\x00" .PathOnHost .PathInContainer .CgroupPermissions}}{{end}}'
  add_list --ulimit '{{range .HostConfig.Ulimits}}{{printf "%s=%d:%d\x00" .Name .Soft .Hard}}{{end}}'
  add_list --sysctl '{{range $k, $v := .HostConfig.Sysctls}}{{printf "%s=%s\x00" $k $v}}{{end}}'
  add_list --volumes-from '{{range .HostConfig.VolumesFrom}}{{printf "%s\x00" .}}{{end}}'
  add_list --log-opt '{{range $k, $v := .HostConfig.LogConfig.Config}}{{printf "%s=%s\x00" $k $v}}{{end}}'
  [[ -n "${S[log_type]}" ]] && args+=(--log-driver "${S[log_type]}")
  local -a links=()
  inspect0 links '{{range .HostConfig.Links}}{{printf "%s\x00" .}}{{end}}' "${S[id]}"
  (( ${#links[@]} == 0 )) || hr_log "warning: legacy --link settings are not carried over: ${links[*]}"
}

add_ports() {
  # shellcheck disable=SC2034 # filled and read through namerefs
  local -a ports=() exposed=() img_exposed=()
  inspect0 ports '{{range $p, $bs := .HostConfig.PortBindings}}{{range $bs}}{{printf "%s\x00%s\x00%s\x00" $p .HostIP .HostPort}}{{end}}{{end}}' "${S[id]}"
  local i port ip hp spec
  for (( i = 0; i + 2 < ${#ports[@]}; i += 3 )); do
    port="${ports[i]}" ip="${ports[i+1]}" hp="${ports[i+2]}"
    [[ "$ip" == *:* ]] && ip="[$ip]"
    if [[ -n "$hp" && "$hp" != 0 ]]; then
      force_stop_first="it publishes host port $hp"
    fi
    if [[ -n "$ip" ]]; then
      spec="$ip:$hp:$port"
    elif [[ -n "$hp" ]]; then
      spec="$hp:$port"
    else
      spec="$port"
    fi
    args+=(--publish "$spec")
  done
  local tpl='{{range $p, $_ := .Config.ExposedPorts}}{{printf "%s\x00" $p}}{{end}}'
  inspect0 exposed "$tpl" "${S[id]}"
  (( old_image_ok )) && inspect0 img_exposed "$tpl" "${S[image_id]}"
  for port in "${exposed[@]}"; do
    has img_exposed "$port" || args+=(--expose "$port")
  done
}

add_mounts() {
  local -a binds=() mounts=() actual=() tmpfs=() vfrom=() covered=() dests=()
  local i b dst spec
  inspect0 binds '{{range .HostConfig.Binds}}{{printf "%s\x00" .}}{{end}}' "${S[id]}"
  for b in "${binds[@]}"; do
    args+=(--volume "$b")
  done
  # --mount entries: type, source, target, readonly, propagation, nocopy, tmpfs size
  inspect0 mounts '{{range .HostConfig.Mounts}}{{printf "%s\x00%s\x00%s\x00%t\x00" .Type .Source .Target .ReadOnly}}{{with .BindOptions}}{{.Propagation}}{{end}}{{printf "\x00"}}{{with .VolumeOptions}}{{.NoCopy}}{{end}}{{printf "\x00"}}{{with .TmpfsOptions}}{{.SizeBytes}}{{end}}{{printf "\x00"}}{{end}}' "${S[id]}"
  for (( i = 0; i + 6 < ${#mounts[@]}; i += 7 )); do
    spec="type=${mounts[i]}"
    [[ -n "${mounts[i+1]}" ]] && spec+=",$(csv_field "source=${mounts[i+1]}")"
    spec+=",$(csv_field "target=${mounts[i+2]}")"
    [[ "${mounts[i+3]}" == true ]] && spec+=",readonly"
    [[ -n "${mounts[i+4]}" ]] && spec+=",bind-propagation=${mounts[i+4]}"
    [[ "${mounts[i+5]}" == true ]] && spec+=",volume-nocopy"
    [[ -n "${mounts[i+6]}" && "${mounts[i+6]}" != 0 ]] && spec+=",tmpfs-size=${mounts[i+6]}"
    args+=(--mount "$spec")
    covered+=("${mounts[i+2]}")
  done
  inspect0 tmpfs '{{range $k, $v := .HostConfig.Tmpfs}}{{printf "%s\x00%s\x00" $k $v}}{{end}}' "${S[id]}"
  for (( i = 0; i + 1 < ${#tmpfs[@]}; i += 2 )); do
    args+=(--tmpfs "${tmpfs[i]}${tmpfs[i+1]:+:${tmpfs[i+1]}}")
    covered+=("${tmpfs[i]}")
  done
  for b in "${binds[@]}"; do
    # SRC:DST[:OPTS] or an anonymous DST
    dst="${b#*:}"
    [[ "$b" == *:* ]] || dst="$b"
    covered+=("${dst%%:*}")
  done
  inspect0 vfrom '{{range .HostConfig.VolumesFrom}}{{printf "%s\x00" .}}{{end}}' "${S[id]}"
  for b in "${vfrom[@]}"; do
    # The reference as it was given at create time: only an exact name or full id counts.
    if find_container "${b%%:*}" &&
      inspect0 dests '{{range .Mounts}}{{printf "%s\x00" .Destination}}{{end}}' "$FOUND_ID" 2>/dev/null; then
      covered+=("${dests[@]}")
    fi
  done
  # Anonymous volumes (image VOLUME or `-v /path`): attach the same volume by name so the data
  # survives the swap.
  inspect0 actual '{{range .Mounts}}{{if eq (printf "%s" .Type) "volume"}}{{printf "%s\x00%s\x00%t\x00" .Name .Destination .RW}}{{end}}{{end}}' "${S[id]}"
  for (( i = 0; i + 2 < ${#actual[@]}; i += 3 )); do
    has covered "${actual[i+1]}" && continue
    spec="${actual[i]}:${actual[i+1]}"
    [[ "${actual[i+2]}" == false ]] && spec+=":ro"
    args+=(--volume "$spec")
  done
}

add_networks() {
  local mode="${S[network_mode]}" primary="" i n
  local -a nets=() aliases=()
  case "$mode" in
    host | none | container:*)
      args+=(--network "$mode")
      [[ "$mode" == host ]] && force_stop_first="it uses the host network"
      return 0 ;;
  esac
  inspect0 nets '{{range $n, $e := .NetworkSettings.Networks}}{{printf "%s\x00%s\x00" $n $e.NetworkID}}{{with $e.IPAMConfig}}{{.IPv4Address}}{{end}}{{printf "\x00"}}{{end}}' "${S[id]}"
  inspect0 aliases '{{range $n, $e := .NetworkSettings.Networks}}{{range $e.Aliases}}{{printf "%s\x00%s\x00" $n .}}{{end}}{{end}}' "${S[id]}"
  for (( i = 0; i + 1 < ${#aliases[@]}; i += 2 )); do
    # Docker adds the short container id as an alias itself.
    [[ "${aliases[i+1]}" == "${S[id]:0:12}" ]] && continue
    net_aliases[${aliases[i]}]+="${aliases[i+1]}"$'\n'
  done
  [[ "$mode" == default ]] && mode=bridge
  for (( i = 0; i + 2 < ${#nets[@]}; i += 3 )); do
    n="${nets[i]}"
    if [[ -n "${nets[i+2]}" ]]; then
      net_ip[$n]="${nets[i+2]}"
      force_stop_first="it has the static IP ${nets[i+2]}"
    fi
    if [[ -z "$primary" && ( "$n" == "$mode" || "${nets[i+1]}" == "$mode"* ) ]]; then
      primary="$n"
    else
      extra_nets+=("$n")
    fi
  done
  if [[ -z "$primary" ]]; then
    primary="$mode"
  fi
  args+=(--network "$primary")
  [[ -n "${net_ip[$primary]:-}" ]] && args+=(--ip "${net_ip[$primary]}")
  local a
  while IFS= read -r a; do
    if [[ -n "$a" ]]; then args+=(--network-alias "$a"); fi
  done <<<"${net_aliases[$primary]:-}"
}

add_health_and_command() {
  local -a ep=() cmd=() test=()
  local tpl
  # Healthcheck set on the container itself (differs from the old image's)
  if [[ "${S[health_json]}" != "${I[health_json]}" && "${S[health_json]}" != null ]]; then
    inspect0 test '{{with .Config.Healthcheck}}{{range .Test}}{{printf "%s\x00" .}}{{end}}{{end}}' "${S[id]}"
    case "${test[0]:-}" in
      NONE) args+=(--no-healthcheck) ;;
      CMD-SHELL) args+=(--health-cmd "${test[1]:-}") ;;
      CMD)
        local w s=""
        for w in "${test[@]:1}"; do s+="$(sh_quote "$w") "; done
        hr_log "warning: the container's exec-form healthcheck is carried as a shell command: $s"
        args+=(--health-cmd "$s") ;;
    esac
    if [[ "${test[0]:-}" != NONE && -n "${test[0]:-}" ]]; then
      local -a hv=()
      tpl='{{with .Config.Healthcheck}}{{printf "%d\x00%d\x00%d\x00%d\x00" .Interval .Timeout .StartPeriod .Retries}}{{end}}'
      inspect0 hv "$tpl" "${S[id]}"
      (( ${hv[0]:-0} > 0 )) && args+=(--health-interval "${hv[0]}ns")
      (( ${hv[1]:-0} > 0 )) && args+=(--health-timeout "${hv[1]}ns")
      (( ${hv[2]:-0} > 0 )) && args+=(--health-start-period "${hv[2]}ns")
      (( ${hv[3]:-0} > 0 )) && args+=(--health-retries "${hv[3]}")
    fi
  fi
  # Entrypoint/cmd: only what was set on the container, not inherited from the old image
  inspect0 ep '{{range .Config.Entrypoint}}{{printf "%s\x00" .}}{{end}}' "${S[id]}"
  inspect0 cmd '{{range .Config.Cmd}}{{printf "%s\x00" .}}{{end}}' "${S[id]}"
  if [[ "${S[entrypoint_json]}" != "${I[entrypoint_json]}" ]]; then
    # The CLI takes a one-word entrypoint: the rest goes before the command.
    args+=(--entrypoint "${ep[0]:-}")
    cmd_args=("${ep[@]:1}" "${cmd[@]}")
  elif [[ "${S[cmd_json]}" != "${I[cmd_json]}" ]]; then
    cmd_args=("${cmd[@]}")
  fi
}


# --- finding and changing containers ---------------------------------------------------------
#
# Each ensure_* function brings one container into one state and succeeds when it already is in
# it, so after an engine outage (hr_dk waits for the engine, then repeats the command) a step
# that had been done before the outage is not mistaken for a failure.

LABEL_REPLACES=org.hookrun.container-swap.replaces
LABEL_OLD_RUNNING=org.hookrun.container-swap.old-running

# find_container REF: sets FOUND_ID and FOUND_NAME to the container named exactly REF, or whose
# full id is REF; 1 when there is none. Exits on other errors.
find_container() {
  local id n
  if ! hr_dk container inspect --format '{{.ID}} {{.Name}}' -- "$1"; then
    hr_no_such && return 1
    hr_die "$HR_EXIT_INTERNAL" "docker container inspect failed: $HR_ERR"
  fi
  read -r id n <<<"$HR_OUT"
  if [[ "$id" == "$1" || "$n" == "/$1" ]]; then
    FOUND_ID="$id" FOUND_NAME="${n#/}"
    return 0
  fi
  hr_log "no container is named $1; it is only a prefix of the id of container ${n#/} ($id), which is never taken for a name"
  return 1
}

# label ID KEY: prints the container's label KEY (empty if none or if it cannot be inspected)
label() {
  docker inspect --type container --format "{{index .Config.Labels \"$2\"}}" -- "$1" 2>/dev/null || true
}

# ensure_name ID NAME
ensure_name() {
  local err
  hr_dk inspect --type container --format '{{.Name}}' -- "$1" ||
    { FAIL_MSG="cannot inspect container ${1:0:12}: $HR_ERR"; return 1; }
  [[ "$HR_OUT" == "/$2" ]] && return 0
  hr_dk rename -- "$1" "$2" && return 0
  err="$HR_ERR"
  hr_dk inspect --type container --format '{{.Name}}' -- "$1" && [[ "$HR_OUT" == "/$2" ]] && return 0
  FAIL_MSG="cannot rename container ${1:0:12} to $2: $err"
  return 1
}

# running ID: 0 running, 1 not running, 2 cannot inspect (FAIL_MSG)
running() {
  hr_dk inspect --type container --format '{{.State.Running}}' -- "$1" ||
    { FAIL_MSG="cannot inspect container ${1:0:12}: $HR_ERR"; return 2; }
  [[ "$HR_OUT" == true ]]
}

# ensure_running ID
ensure_running() {
  local rc=0 err
  running "$1" || rc=$?
  (( rc == 0 )) && return 0
  (( rc == 1 )) || return 1
  hr_dk start -- "$1" >/dev/null && return 0
  err="$HR_ERR"
  running "$1" && return 0
  FAIL_MSG="cannot start container ${1:0:12}: $err"
  return 1
}

# ensure_stopped ID
ensure_stopped() {
  local rc=0 err
  running "$1" || rc=$?
  (( rc == 1 )) && return 0
  (( rc == 0 )) || return 1
  hr_dk stop -- "$1" >/dev/null && return 0
  err="$HR_ERR"
  rc=0
  running "$1" || rc=$?
  (( rc == 1 )) && return 0
  FAIL_MSG="cannot stop container ${1:0:12}: $err"
  return 1
}

# ensure_removed ID
ensure_removed() {
  hr_dk rm -f -- "$1" >/dev/null && return 0
  hr_no_such && return 0
  FAIL_MSG="cannot remove container ${1:0:12}: $HR_ERR"
  return 1
}

# --- health ----------------------------------------------------------------------------------

# cstate ID: sets ST_STATUS ST_RESTARTING ST_COUNT ST_HEALTH ST_CODE ST_STARTED; 1 (FAIL_MSG) if
# the container cannot be inspected
cstate() {
  if ! hr_dk inspect --type container --format \
    '{{.State.Status}}|{{.State.Restarting}}|{{.RestartCount}}|{{with .State.Health}}{{.Status}}{{end}}|{{.State.ExitCode}}|{{.State.StartedAt}}' \
    -- "$1"; then
    if hr_no_such; then FAIL_MSG="the container is gone"; else FAIL_MSG="cannot inspect the container: $HR_ERR"; fi
    return 1
  fi
  IFS='|' read -r ST_STATUS ST_RESTARTING ST_COUNT ST_HEALTH ST_CODE ST_STARTED <<<"$HR_OUT"
}

# still_up ID COUNT0 STARTED0: the container runs and has not restarted since (restart count
# COUNT0, started at STARTED0)
still_up() {
  cstate "$1" || return 1
  if [[ "$ST_STATUS" != running || "$ST_RESTARTING" == true ]]; then
    FAIL_MSG="the container is $ST_STATUS (exit code $ST_CODE)"
    return 1
  fi
  if [[ "$ST_COUNT" != "$2" || "$ST_STARTED" != "$3" ]]; then
    FAIL_MSG="the container exited and was restarted (restart count $ST_COUNT)"
    return 1
  fi
  if [[ "$ST_HEALTH" == unhealthy ]]; then
    FAIL_MSG="its healthcheck reports unhealthy"
    return 1
  fi
}

# probe_url ID: GET --health-url once; the host "container" is the container's own address
probe_url() {
  local url="$health_url" ip
  if [[ "$url" =~ ^(https?://)container([:/].*)?$ ]]; then
    hr_dk inspect --type container --format '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' -- "$1" ||
      return 1
    ip="${HR_OUT%% *}"
    [[ -n "$ip" ]] || { echo "the container has no IP address" >"$HR_TMP/probe.err"; return 1; }
    url="${BASH_REMATCH[1]}$ip${BASH_REMATCH[2]}"
  fi
  hr_probe_url "$url"
}

# probe ID: the health command and the health URL pass once (those that are given)
probe() {
  if (( ${#health_cmd[@]} )) &&
    ! docker exec -- "$1" "${health_cmd[@]}" >"$HR_TMP/health.out" 2>&1; then
    FAIL_MSG="health command $(hr_q "${health_cmd[0]}") failed: $(tail -c 300 "$HR_TMP/health.out" | tr '\n' ' ')"
    return 1
  fi
  if [[ -n "$health_url" ]] && ! probe_url "$1"; then
    FAIL_MSG="--health-url $health_url failed: $(tr '\n' ' ' <"$HR_TMP/probe.err")"
    return 1
  fi
}

# check_up ID FRESH: the container (started just now) becomes healthy and stays up for the
# window (see the header). FRESH=1 for the new container: the health command and URL apply too;
# FRESH=0 for an old container the rollback restarted. Sets FAIL_MSG.
check_up() {
  local id="$1" fresh="$2" start=$SECONDS count0 started0
  local deadline=$(( SECONDS + health_timeout )) window_end=$(( SECONDS + settle ))
  FAIL_MSG=""
  cstate "$id" || return 1
  count0="$ST_COUNT" started0="$ST_STARTED"
  # 1. the image's (or container's) HEALTHCHECK
  while :; do
    still_up "$id" "$count0" "$started0" || return 1
    [[ -z "$ST_HEALTH" || "$ST_HEALTH" == healthy ]] && break
    if (( SECONDS >= deadline )); then
      FAIL_MSG="not healthy within ${health_timeout}s (health: $ST_HEALTH)"
      return 1
    fi
    sleep 1
  done
  # 2. the health command and URL
  if (( fresh )); then
    until probe "$id"; do
      still_up "$id" "$count0" "$started0" || return 1
      if (( SECONDS >= deadline )); then
        FAIL_MSG="not healthy within ${health_timeout}s: $FAIL_MSG"
        return 1
      fi
      sleep 1
    done
  fi
  # 3. the late-crash window, then the health command and URL once more
  while (( SECONDS < window_end )); do
    sleep 1
    still_up "$id" "$count0" "$started0" || {
      FAIL_MSG="$FAIL_MSG within ${settle}s of starting"
      return 1
    }
  done
  if (( fresh && SECONDS > start + 1 )); then
    probe "$id" || { sleep 1; probe "$id"; } || return 1
  fi
  still_up "$id" "$count0" "$started0"
}

# verify_new: check_up of the new container. An engine outage during the check (a daemon
# restart stops or restarts containers) is not the new version's fault: bring the containers
# back to where they were and check again from the start (at most three times).
verify_new() {
  local restarts=0 outages
  while :; do
    outages="$(hr_outages)"
    check_up "$new_id" 1 && return 0
    if hr_engine_lost || [[ "$(hr_outages)" == "$outages" ]] || (( ++restarts > 3 )); then
      return 1
    fi
    hr_log "the Docker engine restarted during the check ($FAIL_MSG); checking again from the start"
    # An old container with restart policy "always" is started again by a restarted daemon.
    if [[ "$order" == stop-first ]]; then
      ensure_stopped "$old_id" || return 1
    fi
    ensure_running "$new_id" || return 1
  done
}

# logs_tail ID: "; logs: <the last lines of its log>" (empty without an engine)
logs_tail() {
  hr_engine_lost && return 0
  printf '; logs: %s' "$(docker logs --tail 5 -- "$1" 2>&1 | tr '\n' ' ' | tail -c 400 || true)"
}

# --- interrupted swaps -----------------------------------------------------------------------
#
# A swap that was interrupted (SIGKILL, or the engine away longer than --daemon-timeout) leaves
# NAME-hookrun-new and/or NAME-hookrun-old. The next run (holding the lock) puts them back, but
# only when they prove to be this script's: the new container carries LABEL_REPLACES=<the old
# container's full id>. A swap whose new container had passed its checks on this host (the
# .verified note next to the lock) is completed; any other is rolled back.

# journal: the note of a verified swap, next to this container's lock file
journal() {
  printf '%s\n' "${HR_LOCK_FILE%.lock}.verified"
}

# retire OLD_ID KEEP: remove the replaced container, or keep it stopped as NAME-hookrun-prev
retire() {
  local old="$1" keep="$2" prev="$name-hookrun-prev"
  if (( ! keep )); then
    ensure_removed "$old" || hr_log "warning: $FAIL_MSG"
    return 0
  fi
  # An earlier NAME-hookrun-prev is replaced only when it provably is the one this old
  # container replaced in its own swap.
  if find_container "$prev"; then
    if [[ "$(label "$old" "$LABEL_REPLACES")" == "$FOUND_ID" ]]; then
      ensure_removed "$FOUND_ID" || hr_log "warning: $FAIL_MSG"
    else
      prev="$name-hookrun-prev-${old:0:12}"
      hr_log "warning: $name-hookrun-prev is not from this container's last swap; keeping the old one as $prev"
    fi
  fi
  ensure_stopped "$old" || hr_log "warning: $FAIL_MSG"
  hr_dk update --restart no -- "$old" >/dev/null || hr_log "warning: cannot set restart policy no: $HR_ERR"
  if ensure_name "$old" "$prev"; then
    hr_log "kept the old container as $prev"
  else
    hr_log "warning: $FAIL_MSG"
  fi
}

# recover: restore or complete an interrupted swap of $name (see above). Exits 1 when leftovers
# are not provably this script's.
recover() {
  local old="" new="" cur="" repl="" c was note
  find_container "$name-hookrun-old" && old="$FOUND_ID"
  find_container "$name-hookrun-new" && new="$FOUND_ID"
  find_container "$name" && cur="$FOUND_ID"
  note="$(cat -- "$(journal)" 2>/dev/null || true)"
  if [[ -n "$old" ]]; then
    for c in $cur $new; do
      [[ "$(label "$c" "$LABEL_REPLACES")" == "$old" ]] && repl="$c"
    done
    if [[ -z "$repl" ]]; then
      hr_die "$HR_EXIT_INTERNAL" "$name-hookrun-old exists, but neither $name nor $name-hookrun-new carries $LABEL_REPLACES=<its id>: not provably left by container-swap.sh; check them and remove one by hand"
    fi
    if [[ -n "$cur" && "$cur" != "$repl" ]]; then
      hr_die "$HR_EXIT_INTERNAL" "an interrupted swap left $name-hookrun-old, but $name is now another container (${cur:0:12}): check them and remove one by hand"
    fi
    was="$(label "$repl" "$LABEL_OLD_RUNNING")"
    if [[ "$note" == "$repl $old "* ]]; then
      hr_log "completing an interrupted swap: ${repl:0:12} had passed its checks; it becomes $name, the old ${old:0:12} goes"
      ensure_name "$repl" "$name" || hr_die "$HR_EXIT_INTERNAL" "recovering the interrupted swap: $FAIL_MSG"
      if [[ "$was" == true ]]; then
        ensure_running "$repl" || hr_die "$HR_EXIT_INTERNAL" "recovering the interrupted swap: $FAIL_MSG"
      fi
      retire "$old" "${note##* }"
    else
      hr_log "rolling back an interrupted swap: removing its new container ${repl:0:12}, restoring ${old:0:12} as $name"
      ensure_removed "$repl" || hr_die "$HR_EXIT_INTERNAL" "recovering the interrupted swap: $FAIL_MSG"
      ensure_name "$old" "$name" || hr_die "$HR_EXIT_INTERNAL" "recovering the interrupted swap: $FAIL_MSG"
      if [[ "$was" == true ]]; then
        ensure_running "$old" || hr_die "$HR_EXIT_INTERNAL" "recovering the interrupted swap: $FAIL_MSG"
      fi
    fi
    if [[ -n "$new" && "$new" != "$repl" ]] && [[ -n "$(label "$new" "$LABEL_REPLACES")" ]]; then
      ensure_removed "$new" || hr_die "$HR_EXIT_INTERNAL" "recovering the interrupted swap: $FAIL_MSG"
    fi
  elif [[ -n "$new" ]]; then
    # A new container that never got the name: ours when it carries our label.
    if [[ -z "$(label "$new" "$LABEL_REPLACES")" ]]; then
      hr_die "$HR_EXIT_INTERNAL" "$name-hookrun-new exists but does not carry $LABEL_REPLACES: not provably left by container-swap.sh; check it and remove it by hand"
    fi
    hr_log "removing $name-hookrun-new (${new:0:12}), left by an interrupted or failed swap"
    ensure_removed "$new" || hr_die "$HR_EXIT_INTERNAL" "recovering the interrupted swap: $FAIL_MSG"
    # A stop-first swap interrupted after stopping the old container: start it again.
    if [[ -n "$cur" && "$(label "$new" "$LABEL_REPLACES")" == "$cur" && "$(label "$new" "$LABEL_OLD_RUNNING")" == true ]]; then
      ensure_running "$cur" || hr_die "$HR_EXIT_INTERNAL" "recovering the interrupted swap: $FAIL_MSG"
    fi
  fi
  rm -f -- "$(journal)"
}

# --- main ------------------------------------------------------------------------------------

hr_require_docker
if find_container "$container"; then
  name="$FOUND_NAME"
elif find_container "$container-hookrun-old"; then
  name="$container" # an interrupted stop-first swap left it without its name: recovered below
else
  hr_die "$HR_EXIT_INVALID" "no such container: $container"
fi
hr_is_name "$name" || hr_die "$HR_EXIT_INVALID" "the container's name $(hr_q "$name") is not usable"
HR_TARGET="container:$name" HR_DESC="container $name"
case "$name" in
  *-hookrun-new | *-hookrun-old)
    hr_die "$HR_EXIT_INVALID" "$name is the temporary container of a swap, not one to swap" ;;
esac
new_tmp="$name-hookrun-new"
old_tmp="$name-hookrun-old"
hr_lock "container-$name" "$lock_timeout" "$HR_PROG --container $name --image $HR_IMAGE"
recover
# Look it up again: the run that held the lock, or the recovery, may have replaced it.
find_container "$name" || hr_die "$HR_EXIT_INVALID" "no such container: $name"
if [[ "$container" != "$name" && "$FOUND_ID" != "$container" ]]; then
  hr_die "$HR_EXIT_INVALID" "container $container no longer exists ($name is now ${FOUND_ID:0:12})"
fi
old_id="$FOUND_ID"
read_scalars || hr_die "$HR_EXIT_INTERNAL" "cannot inspect container $name"
[[ -z "${S[swarm_service]}" ]] ||
  hr_die "$HR_EXIT_INVALID" "$name is a task of a Swarm service: use swarm-update.sh"
[[ "${S[auto_remove]}" != true ]] ||
  hr_die "$HR_EXIT_INVALID" "$name was started with --rm: stopping it would delete it, so it cannot be swapped safely"
read_old_image
HR_BEFORE="${S[config_image]}" HR_AFTER="${S[config_image]}"
if [[ "${S[config_image]}" != *@sha256:* ]] && hr_parse_image "${S[config_image]}"; then
  HR_AFTER_DIGEST="$(hr_repo_digest "${S[image_id]}" "$HR_IMG_NAME")"
fi

# Pull and resolve the new image
new_ref="$(hr_pin "$HR_IMAGE_NAME" "$HR_IMAGE_TAG" "$HR_DIGEST")"
HR_REQUESTED="$new_ref"
pull_ref="$new_ref"
[[ -n "$HR_DIGEST" ]] && pull_ref="$HR_IMAGE_NAME@$HR_DIGEST"
if [[ "$pull" == always ]] || { [[ "$pull" == missing ]] && ! docker image inspect -- "$pull_ref" >/dev/null 2>&1; }; then
  hr_log "pulling $pull_ref"
  if ! pulled_digest="$(hr_pull_digest "$pull_ref")"; then
    hr_finish "$HR_EXIT_ROLLED_BACK" aborted "$HR_DESC unchanged: cannot pull $pull_ref; still running ${S[config_image]}"
  fi
  if [[ -z "$HR_DIGEST" && -n "$pulled_digest" ]]; then
    HR_DIGEST="$pulled_digest"
    new_ref="$(hr_pin "$HR_IMAGE_NAME" "$HR_IMAGE_TAG" "$HR_DIGEST")"
    HR_REQUESTED="$new_ref"
  fi
fi
if ! hr_dk image inspect --format '{{.ID}}' -- "$new_ref"; then
  hr_finish "$HR_EXIT_ROLLED_BACK" aborted \
    "$HR_DESC unchanged: image $new_ref is not available locally (--pull $pull); still running ${S[config_image]}"
fi
new_image_id="$HR_OUT"
old_desc="${S[config_image]} (${S[image_id]:0:19})"
new_desc="$new_ref (${new_image_id:0:19})"
if [[ "$new_image_id" == "${S[image_id]}" && "${S[running]}" == true ]]; then
  hr_finish "$HR_EXIT_OK" unchanged "$HR_DESC unchanged: already running $new_desc"
fi

# Build the new container's configuration
add_env
add_labels
add_simple_config
add_lists
add_ports
add_mounts
add_networks
add_health_and_command
args+=(--label "$LABEL_REPLACES=$old_id" --label "$LABEL_OLD_RUNNING=${S[running]}")
if [[ -n "$force_stop_first" ]]; then
  [[ "$order" == start-first ]] && hr_log "warning: --start-first ignored: $force_stop_first"
  order="stop-first"
  hr_log "stop-first: $force_stop_first"
fi
order="${order:-start-first}"
was_running="${S[running]}"

hr_log "creating $new_tmp from $new_ref"
if hr_dk create --name "$new_tmp" "${args[@]}" -- "$new_ref" "${cmd_args[@]}"; then
  new_id="$HR_OUT"
else
  err="$HR_ERR"
  # After an engine outage the first attempt may have created it before the engine went away.
  if find_container "$new_tmp" && [[ "$(label "$FOUND_ID" "$LABEL_REPLACES")" == "$old_id" ]]; then
    new_id="$FOUND_ID"
  else
    hr_finish "$HR_EXIT_ROLLED_BACK" aborted "$HR_DESC unchanged: docker create failed: $err"
  fi
fi
HR_INTERRUPT_NOTE="the next run of container-swap.sh for $name restores or completes this swap"
for n in "${extra_nets[@]}"; do
  connect=(network connect)
  while IFS= read -r a; do
    if [[ -n "$a" ]]; then connect+=(--alias "$a"); fi
  done <<<"${net_aliases[$n]:-}"
  if [[ -n "${net_ip[$n]:-}" ]]; then connect+=(--ip "${net_ip[$n]}"); fi
  if ! hr_dk "${connect[@]}" -- "$n" "$new_id"; then
    err="$HR_ERR"
    if hr_dk inspect --type container --format '{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{"\n"}}{{end}}' -- "$new_id" &&
      grep -qxF -- "$n" <<<"$HR_OUT"; then
      continue # connected before an engine outage
    fi
    ensure_removed "$new_id" || hr_log "warning: $FAIL_MSG"
    hr_finish "$HR_EXIT_ROLLED_BACK" aborted \
      "$HR_DESC unchanged: cannot connect the new container to network $n: $err"
  fi
done

# restore_old: bring the old container back under its name (rollback). Sets FAIL_MSG.
restore_old() {
  local rc=0
  ensure_removed "$new_id" || return 1
  ensure_name "$old_id" "$name" || return 1
  [[ "$was_running" == true ]] || return 0
  # Never stopped (a start-first swap): it must still be the same running container.
  if cstate "$old_id" && [[ "$ST_STATUS" == running && "$ST_STARTED" == "${S[started_at]}" ]]; then
    return 0
  fi
  running "$old_id" || rc=$?
  (( rc != 2 )) || return 1
  ensure_running "$old_id" || return 1
  check_up "$old_id" 0
}

# fail REASON: roll back (or not) and finish with exit 3/4
fail() {
  local reason="$1" where old_state
  if hr_engine_lost; then
    reason="the Docker engine was unreachable for more than ${HR_DAEMON_TIMEOUT}s"
  fi
  hr_log "the new container failed: $reason"
  if hr_engine_lost; then
    # Nothing more can be done now; the next run sees the leftovers (and the note of a
    # verified swap, if any) and rolls back or completes this swap.
    HR_AFTER=""
    hr_finish "$HR_EXIT_ROLLBACK_FAILED" failed \
      "$HR_DESC update to $new_desc FAILED ($reason); the next run of container-swap.sh for $name rolls back or completes this swap"
  fi
  rm -f -- "$(journal)"
  if (( ! rollback )); then
    where="$(docker inspect --type container --format '{{.Name}}' -- "$new_id" 2>/dev/null || true)"
    old_state="$(docker inspect --type container --format '{{.Name}} {{.State.Status}}' -- "$old_id" 2>/dev/null || echo gone)"
    HR_AFTER="$new_ref"
    [[ "$order" == start-first ]] && HR_AFTER="${S[config_image]}"
    hr_finish "$HR_EXIT_ROLLBACK_FAILED" failed \
      "$HR_DESC update to $new_desc FAILED ($reason); rollback disabled: the new container is left as ${where#/}, the old one ($old_desc) as ${old_state#/}"
  fi
  hr_log "rolling back to $old_desc"
  if restore_old; then
    HR_AFTER="${S[config_image]}"
    hr_finish "$HR_EXIT_ROLLED_BACK" rolled_back \
      "$HR_DESC update to $new_desc FAILED ($reason); rolled back to $old_desc"
  fi
  HR_AFTER=""
  local next=""
  hr_engine_lost && next="; the Docker engine stayed unreachable: the next run of container-swap.sh for $name rolls back this swap"
  hr_finish "$HR_EXIT_ROLLBACK_FAILED" failed \
    "$HR_DESC update to $new_desc FAILED ($reason); rollback to $old_desc FAILED too ($FAIL_MSG)$next"
}

# mark_verified: the new container passed its checks: an interrupted run is completed, not
# rolled back, from here on (see recover)
mark_verified() {
  printf '%s %s %s\n' "$new_id" "$old_id" "$keep_old" >"$(journal)" 2>/dev/null ||
    hr_log "warning: cannot write $(journal)"
}

hr_log "swapping $name ($order): $old_desc -> $new_desc"
if [[ "$order" == start-first ]]; then
  ensure_running "$new_id" || fail "$FAIL_MSG"
  verify_new || fail "$FAIL_MSG$(logs_tail "$new_id")"
  mark_verified
  ensure_name "$old_id" "$old_tmp" || fail "$FAIL_MSG"
  ensure_name "$new_id" "$name" || fail "$FAIL_MSG"
  ensure_stopped "$old_id" || hr_log "warning: $FAIL_MSG"
else
  ensure_stopped "$old_id" || fail "$FAIL_MSG"
  ensure_name "$old_id" "$old_tmp" || fail "$FAIL_MSG"
  ensure_name "$new_id" "$name" || fail "$FAIL_MSG"
  ensure_running "$new_id" || fail "$FAIL_MSG"
  verify_new || fail "$FAIL_MSG$(logs_tail "$new_id")"
  mark_verified
fi

# Success: retire the old container
HR_AFTER="$new_ref" HR_AFTER_DIGEST=""
[[ "$new_ref" == *@sha256:* ]] || HR_AFTER_DIGEST="$(hr_repo_digest "$new_image_id" "$HR_IMAGE_NAME")"
retire "$old_id" "$keep_old"
rm -f -- "$(journal)"
hr_finish "$HR_EXIT_OK" updated "$HR_DESC updated: $old_desc -> $new_desc"
