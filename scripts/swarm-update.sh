#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
#
# swarm-update.sh - update a Docker Swarm service to an image pinned by digest, wait until it
# has converged, verify the running tasks, and roll back when it does not converge.
#
# Theory of operation
#   1. Validate every input against its grammar; nothing is run before that.
#   2. `docker pull` the image on this node: proves it is pullable (with this node's
#      credentials) and yields the digest of the tag (unless --digest/HOOKRUN_DIGEST gave one,
#      then that digest is pulled). The service is updated to NAME:TAG@DIGEST, so pushing the
#      same tag again really changes the spec and every node pulls the new content.
#   3. `docker service update --detach --image REF@DIGEST`: detached, because the CLI's own
#      wait (--detach=false) has no timeout and cannot tell us which tasks run what. The
#      service's update policy (--update-failure-action etc.) is left as the operator set it:
#      changing it would persist in the service spec. Whatever the policy, this script decides:
#      - failure: UpdateStatus "paused" (the default policy on a failing task), a rollback
#        started by Swarm (policy "rollback"), the spec changed by someone else, or the
#        timeout (policy "continue", tasks that never start, pulls that hang);
#      - success: UpdateStatus "completed", every desired-running task Running the new spec
#        (as many as the replica count), tasks on this node running the pulled image id, and
#        still so after --settle seconds.
#   4. On failure `docker service rollback` (unless Swarm is already rolling back), then the
#      same convergence check for the previous spec -> exit 3; if that fails too -> exit 4.
#
# Exit codes: 0 updated and verified (or already running that image), 1 internal error
# (docker unreachable, this node is not a swarm manager), 2 invalid input or usage, or no such
# service, 3 update failed and the previous image runs again (also: image not pullable, nothing
# was changed), 4 update failed and the rollback failed too, or failed with --no-rollback.
set -euo pipefail

# Load lib/common.sh from next to this script or the system lib dirs; else use the embedded copy.
hr_source_common() {
  local self dir f
  self="$(readlink -f -- "${BASH_SOURCE[0]}" 2>/dev/null)" || self="${BASH_SOURCE[0]}"
  dir="$(dirname -- "$self")"
  for f in "$dir/lib/common.sh" "$dir/../lib/hookrun/common.sh" "$dir/../lib/common.sh" \
    /usr/local/lib/hookrun/common.sh /usr/lib/hookrun/common.sh; do
    if [[ -f "$f" && -r "$f" ]] && grep -qx '# hookrun-common-api: 1' -- "$f"; then
      # shellcheck source=lib/common.sh
      source -- "$f" && return 0
    fi
  done
  return 1
}
# shellcheck disable=SC2034,SC2317 # the embedded library defines more than this script uses
if ! hr_source_common; then
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
fi

usage() {
  cat <<'EOF'
Usage: swarm-update.sh --service NAME [--image REF] [options]

Update a Docker Swarm service to REF pinned by digest, wait until it has converged, verify
the running tasks and roll back when it fails.

Options (environment fallback in brackets):
  --service NAME        the service to update [HOOKRUN_SERVICE]
  --image REF           image reference host[:port]/path[:tag][@sha256:...]
                        [HOOKRUN_IMAGE, else HOOKRUN_IMAGE_PINNED, else
                        HOOKRUN_REGISTRY/HOOKRUN_REPOSITORY:HOOKRUN_TAG]
  --digest sha256:HEX   pin to this digest (default: the digest in REF; with the image from the
                        environment, HOOKRUN_DIGEST; else the digest `docker pull` reports)
  --timeout S           seconds to wait for convergence, and again for a rollback
                        (default 300) [HOOKRUN_TIMEOUT]
  --settle S            tasks must still run unchanged after S seconds (default 5)
                        [HOOKRUN_SETTLE]
  --no-rollback         on failure leave the service as it is (exit 4) [HOOKRUN_NO_ROLLBACK=1]
  --registry-auth       send this client's registry credentials to the agents (default)
  --no-registry-auth    do not [HOOKRUN_REGISTRY_AUTH=0]
  -h, --help            this text

Output: progress on stderr; one result line on stdout, e.g.
  service web updated: reg:5000/app:v1@sha256:aaa... -> reg:5000/app:v2@sha256:bbb...

Exit codes: 0 updated and verified (or already running that image); 1 internal error (docker
not reachable, not a swarm manager); 2 invalid input, usage error or no such service; 3 update
failed and the previous image runs again (also when the image cannot be pulled: nothing was
changed); 4 update failed and the rollback failed too (or --no-rollback was given).
EOF
}

service="${HOOKRUN_SERVICE:-}"
image=""
digest=""
timeout="${HOOKRUN_TIMEOUT:-300}"
settle="${HOOKRUN_SETTLE:-5}"
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
    --no-rollback) rollback=0; shift ;;
    --registry-auth) registry_auth=1; shift ;;
    --no-registry-auth) registry_auth=0; shift ;;
    *) hr_usage_error "unknown argument $(hr_q "$1")" ;;
  esac
done

[[ -n "$service" ]] || hr_usage_error "--service is required"
hr_is_name "$service" || hr_usage_error "invalid service name $(hr_q "$service")"
if ! hr_is_seconds "$timeout" || (( 10#$timeout == 0 )); then
  hr_usage_error "invalid --timeout $(hr_q "$timeout") (whole seconds, 1..86400)"
fi
hr_is_seconds "$settle" || hr_usage_error "invalid --settle $(hr_q "$settle") (whole seconds)"
timeout=$(( 10#$timeout ))
settle=$(( 10#$settle ))
hr_resolve_image "$image" "$digest"

# --- docker helpers --------------------------------------------------------------------------

# svc_field TEMPLATE: a field of the service (Go template)
svc_field() {
  docker service inspect --format "$1" -- "$service"
}

# update_status: "STATE|STARTED_AT|MESSAGE" of the service's last update (empty fields if none)
update_status() {
  svc_field '{{with .UpdateStatus}}{{.State}}|{{.StartedAt}}|{{.Message}}{{else}}||{{end}}'
}

# expected_tasks: the replica count, or "global"
expected_tasks() {
  svc_field '{{if .Spec.Mode.Replicated}}{{.Spec.Mode.Replicated.Replicas}}{{else}}global{{end}}'
}

# task_lines: one line per desired-running task: "ID STATE IMAGE NODE CONTAINER_ID"
task_lines() {
  local -a ids=()
  mapfile -t ids < <(docker service ps --no-trunc --quiet --filter desired-state=running -- "$service")
  (( ${#ids[@]} )) || return 0
  docker inspect --type task --format \
    '{{.ID}} {{.Status.State}} {{.Spec.ContainerSpec.Image}} {{.NodeID}} {{with .Status.ContainerStatus}}{{.ContainerID}}{{end}}' \
    -- "${ids[@]}"
}

# check_tasks TARGET: succeed when every desired-running task runs TARGET, as many as expected,
# and those on this node run the image id $target_image_id (when known). Sets CHECK_MSG, TASK_IDS.
check_tasks() {
  local target="$1" want id state img node cid running=0 other=0 cimg
  TASK_IDS=""
  want="$(expected_tasks)"
  while read -r id state img node cid; do
    [[ -n "$id" ]] || continue
    if [[ "$state" == running && "$img" == "$target" ]]; then
      if [[ -n "$target_image_id" && "$node" == "$local_node" && -n "$cid" ]]; then
        cimg="$(docker container inspect --format '{{.Image}}' -- "$cid" 2>/dev/null || true)"
        if [[ -n "$cimg" && "$cimg" != "$target_image_id" ]]; then
          other=$(( other + 1 ))
          CHECK_MSG="task $id runs image $cimg, not $target_image_id"
          continue
        fi
      fi
      running=$(( running + 1 ))
      TASK_IDS+="$id "
    else
      other=$(( other + 1 ))
    fi
  done < <(task_lines)
  if [[ "$want" == global ]]; then
    want=$(( running + other ))
    (( want > 0 )) || want=1
  fi
  CHECK_MSG="$running/$want tasks running $target"
  (( other == 0 )) || CHECK_MSG+=" ($other other)"
  (( running == want && other == 0 ))
}

# wait_converged TARGET MODE PREV_STARTED: wait until the service runs TARGET.
# MODE "update": fail early when the update pauses or Swarm starts a rollback;
# MODE "rollback": fail early when the rollback pauses.
# PREV_STARTED: UpdateStatus.StartedAt before the operation (a status with that start time is
# stale, left from an earlier update). Sets FAIL_MSG on failure.
wait_converged() {
  local target="$1" mode="$2" prev_started="$3" deadline st state started msg spec
  deadline=$(( SECONDS + timeout ))
  FAIL_MSG=""
  while :; do
    st="$(update_status)" || { FAIL_MSG="cannot inspect service $service"; return 1; }
    IFS='|' read -r state started msg <<<"$st"
    [[ "$started" == "$prev_started" ]] && state="stale"
    spec="$(svc_field '{{.Spec.TaskTemplate.ContainerSpec.Image}}')"
    if [[ "$mode" == update ]]; then
      case "$state" in
        paused | rollback_started | rollback_paused | rollback_completed)
          FAIL_MSG="update $state: $msg"
          return 1 ;;
      esac
      if [[ "$spec" != "$target" ]]; then
        FAIL_MSG="the service spec changed to $spec while waiting"
        return 1
      fi
    else
      if [[ "$state" == rollback_paused ]]; then
        FAIL_MSG="rollback paused: $msg"
        return 1
      fi
      if [[ "$spec" != "$target" ]]; then
        FAIL_MSG="after the rollback the spec is $spec, not $target"
        return 1
      fi
    fi
    if [[ "$state" == completed || "$state" == rollback_completed ||
      ( "$state" == stale && "$mode" == none ) ]] && check_tasks "$target"; then
      return 0
    fi
    if (( SECONDS >= deadline )); then
      check_tasks "$target" || true
      FAIL_MSG="not converged within ${timeout}s (update state: ${state:-none}; $CHECK_MSG)"
      return 1
    fi
    sleep 1
  done
}

# settled TARGET: after $settle seconds the same tasks still run TARGET
settled() {
  local target="$1" before
  (( settle > 0 )) || return 0
  check_tasks "$target" || return 1
  before="$TASK_IDS"
  sleep "$settle"
  if ! check_tasks "$target"; then
    FAIL_MSG="tasks did not stay up for ${settle}s: $CHECK_MSG"
    return 1
  fi
  if [[ "$TASK_IDS" != "$before" ]]; then
    FAIL_MSG="tasks were replaced within ${settle}s (before: $before; now: $TASK_IDS)"
    return 1
  fi
}

# --- main ------------------------------------------------------------------------------------

hr_require_docker
[[ "$(docker info --format '{{.Swarm.ControlAvailable}}' 2>/dev/null)" == true ]] ||
  hr_die "$HR_EXIT_INTERNAL" "this Docker engine is not a swarm manager"
if ! old_ref="$(svc_field '{{.Spec.TaskTemplate.ContainerSpec.Image}}' 2>/dev/null)"; then
  hr_die "$HR_EXIT_INVALID" "no such service: $service"
fi
local_node="$(docker info --format '{{.Swarm.NodeID}}' 2>/dev/null || true)"

# Pull: by digest when we know it (proves that digest exists), else by tag (yields the digest).
pull_ref="$(hr_pin "$HR_IMAGE_NAME" "$HR_IMAGE_TAG" "$HR_DIGEST")"
[[ -n "$HR_DIGEST" ]] && pull_ref="$HR_IMAGE_NAME@$HR_DIGEST"
hr_log "pulling $pull_ref"
if ! pulled_digest="$(hr_pull_digest "$pull_ref")"; then
  printf 'service %s unchanged: cannot pull %s; still running %s\n' "$service" "$pull_ref" "$old_ref"
  exit "$HR_EXIT_ROLLED_BACK"
fi
if [[ -z "$HR_DIGEST" ]]; then
  HR_DIGEST="${pulled_digest:-$(hr_repo_digest "$pull_ref" "$HR_IMAGE_NAME")}"
fi
if [[ -z "$HR_DIGEST" ]]; then
  printf 'service %s unchanged: no registry digest for %s; still running %s\n' "$service" "$pull_ref" "$old_ref"
  exit "$HR_EXIT_ROLLED_BACK"
fi
target_image_id="$(docker image inspect --format '{{.ID}}' -- "$HR_IMAGE_NAME@$HR_DIGEST" 2>/dev/null || true)"
new_ref="$(hr_pin "$HR_IMAGE_NAME" "$HR_IMAGE_TAG" "$HR_DIGEST")"

if [[ "$old_ref" == "$new_ref" ]]; then
  hr_log "service $service already has $new_ref; verifying its tasks"
  prev="$(update_status)"
  IFS='|' read -r _ prev_started _ <<<"$prev"
  if wait_converged "$new_ref" none "$prev_started"; then
    printf 'service %s unchanged: already running %s\n' "$service" "$new_ref"
    exit "$HR_EXIT_OK"
  fi
  hr_log "service $service has $new_ref but is not converged: $FAIL_MSG; updating anyway"
fi

hr_log "updating service $service: $old_ref -> $new_ref"
prev="$(update_status)"
IFS='|' read -r _ prev_started _ <<<"$prev"
update_args=(--detach --quiet --image "$new_ref")
(( registry_auth )) && update_args+=(--with-registry-auth)
if ! docker service update "${update_args[@]}" -- "$service" >/dev/null; then
  now="$(svc_field '{{.Spec.TaskTemplate.ContainerSpec.Image}}' 2>/dev/null || true)"
  if [[ "$now" == "$old_ref" ]]; then
    printf 'service %s unchanged: docker service update failed; still %s\n' "$service" "$old_ref"
    exit "$HR_EXIT_ROLLED_BACK"
  fi
  hr_die "$HR_EXIT_ROLLBACK_FAILED" "docker service update failed and the spec is now $(hr_q "$now")"
fi

if wait_converged "$new_ref" update "$prev_started" && settled "$new_ref"; then
  hr_log "service $service converged: $CHECK_MSG"
  printf 'service %s updated: %s -> %s\n' "$service" "$old_ref" "$new_ref"
  exit "$HR_EXIT_OK"
fi
reason="$FAIL_MSG"
hr_log "update of $service to $new_ref failed: $reason"

if (( ! rollback )); then
  printf 'service %s update to %s FAILED (%s); rollback disabled, left as it is\n' \
    "$service" "$new_ref" "$reason"
  exit "$HR_EXIT_ROLLBACK_FAILED"
fi

st="$(update_status)"
IFS='|' read -r state started _ <<<"$st"
if [[ "$state" == rollback_started || "$state" == rollback_completed ]] && [[ "$started" != "$prev_started" ]]; then
  hr_log "Swarm is already rolling back (update failure action); waiting for it"
else
  hr_log "rolling back service $service to $old_ref"
  prev_started="$started"
  if ! docker service rollback --detach --quiet -- "$service" >/dev/null; then
    printf 'service %s update to %s FAILED (%s); docker service rollback failed too\n' \
      "$service" "$new_ref" "$reason"
    exit "$HR_EXIT_ROLLBACK_FAILED"
  fi
fi
# Only a digest-pinned reference names one image; "repo:tag" may now name the image just pulled.
target_image_id=""
old_digest="$(hr_digest_of_ref "$old_ref")"
if [[ -n "$old_digest" ]]; then
  target_image_id="$(docker image inspect --format '{{.ID}}' -- "${old_ref%%@*}@$old_digest" 2>/dev/null || true)"
fi
if wait_converged "$old_ref" rollback "$prev_started" && settled "$old_ref"; then
  printf 'service %s update to %s FAILED (%s); rolled back to %s\n' "$service" "$new_ref" "$reason" "$old_ref"
  exit "$HR_EXIT_ROLLED_BACK"
fi
printf 'service %s update to %s FAILED (%s); rollback to %s FAILED too (%s)\n' \
  "$service" "$new_ref" "$reason" "$old_ref" "$FAIL_MSG"
exit "$HR_EXIT_ROLLBACK_FAILED"
