# shellcheck shell=bash
#
# common.sh - shared code of hookrun's deployment scripts (swarm-update.sh,
# kubectl-set-image.sh, container-swap.sh): exit codes, logging, flag values, the input
# grammars (image references, names, digests, timeouts), the result of a run (the stdout line
# and the HOOKRUN_RESULT file), the per-target lock, and Docker calls that survive an engine
# restart.
#
# This file is the single source of that code, and it is not loaded at run time: each script
# carries the block between the BEGIN/END markers verbatim, so an installed script is one
# self-contained file and what runs never depends on what else is installed on the host.
# After editing the block run scripts/e2e/embed-common.sh; scripts/test runs
# `embed-common.sh --check`, which fails when a script's copy differs from this file.
#
# Defines only functions and HR_* variables, and uses no `declare` or `readonly`.
# shellcheck disable=SC2034 # the HR_* variables are used by the scripts that embed this

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
