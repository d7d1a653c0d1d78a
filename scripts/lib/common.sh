# shellcheck shell=bash
# hookrun-common-api: 1
#
# common.sh - shared helpers of hookrun's deployment scripts (swarm-update.sh,
# kubectl-set-image.sh, container-swap.sh): exit codes, logging, flag values and the input
# grammars (image references, names, digests, timeouts).
#
# Sourced, never run. The scripts look for it next to themselves (lib/common.sh), in
# ../lib/hookrun/, /usr/local/lib/hookrun/ and /usr/lib/hookrun/, and only source a file that
# carries the "hookrun-common-api: 1" line above. Each script also embeds the block between
# the BEGIN/END markers verbatim, so it works when installed alone; scripts/e2e/embed-common.sh
# copies this block into the scripts and scripts/e2e/scripts-e2e.sh checks that they agree.
#
# Defines only functions and HR_* variables; uses no `declare` (it may be sourced inside a
# function) and no `readonly` (it may be loaded twice).
# shellcheck disable=SC2034 # the HR_* variables are used by the scripts that source this

# BEGIN hookrun-common
HR_COMMON_API=1

# Exit codes shared by all scripts.
HR_EXIT_OK=0             # updated and verified (or already running the requested image)
HR_EXIT_INTERNAL=1       # unexpected/internal error: docker or kubectl not reachable, a bug
HR_EXIT_INVALID=2        # invalid input or usage error: nothing was changed
HR_EXIT_ROLLED_BACK=3    # the update failed; the previous version runs again (or never stopped)
HR_EXIT_ROLLBACK_FAILED=4 # the update failed and the previous version could not be restored

HR_PROG="${HR_PROG:-${0##*/}}"

# hr_log MESSAGE...: progress and diagnostics, on stderr, one line each
hr_log() {
  printf '%s %s: %s\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" "$HR_PROG" "$*" >&2
}

# hr_die CODE MESSAGE...: log and exit with CODE
hr_die() {
  local code="$1"
  shift
  hr_log "error: $*"
  exit "$code"
}

# hr_usage_error MESSAGE...: a usage error (exit 2)
hr_usage_error() {
  hr_log "error: $*"
  printf '%s: try --help\n' "$HR_PROG" >&2
  exit "$HR_EXIT_INVALID"
}

# hr_q VALUE: VALUE quoted for a log line (shows hostile values harmlessly)
hr_q() {
  printf '%q' "$1"
}

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

# hr_require_cmd CMD...: each CMD is installed, else exit 1
hr_require_cmd() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || hr_die "$HR_EXIT_INTERNAL" "$c is not installed"
  done
}

# hr_require_docker: the Docker engine answers, else exit 1
hr_require_docker() {
  hr_require_cmd docker
  docker version --format '{{.Server.Version}}' >/dev/null 2>&1 ||
    hr_die "$HR_EXIT_INTERNAL" "the Docker engine is not reachable (docker version failed)"
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
# END hookrun-common
