#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
#
# kubectl-set-image.sh - set one container's image on a Deployment, StatefulSet or DaemonSet,
# pinned by digest where known, wait for the rollout with a timeout, undo it when it fails.
#
# Theory of operation
#   1. Validate every input (namespace and names are RFC 1123, the kind is one of three, the
#      image follows the Docker reference grammar); nothing runs before that.
#   2. The image: --image (or HOOKRUN_IMAGE...), else built from the registry payload given as
#      the first argument, the way seed 001's cnrancher/docker-webhook users configure it
#      (REPO_TYPE aliyun|dockerhub|custom, NET_TYPE vpc|internal|public). The payload is
#      parsed with jq, never evaluated.
#   3. Read the container's current image (it must exist), then `kubectl set image` to
#      NAME:TAG@DIGEST when a digest is known (Aliyun payloads carry one). When only a tag is
#      known and it is already set (a re-pushed tag), `kubectl rollout restart` instead: the
#      nodes re-pull only if the container's imagePullPolicy is Always (the default for
#      :latest); the script warns otherwise.
#   4. `kubectl rollout status --timeout`; then check that the workload has the new image.
#   5. On failure `kubectl rollout undo` and the same wait for the previous image -> exit 3;
#      when that fails too -> exit 4.
#
# Exit codes: 0 updated and verified (or already running that image; also a payload with no
# image in it, such as Docker Hub's test delivery: nothing to do), 1 internal error (kubectl or
# jq missing, API server not reachable), 2 invalid input or usage, no such namespace, workload
# or container, 3 the rollout failed and the previous image runs again (also: `kubectl set
# image` failed, nothing changed), 4 the rollout failed and the undo failed too (or
# --no-rollback), or the workload was not healthy although nothing was changed.
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
seed 001's webhooks.sh does. A payload without push_data.tag, repository.name and
repository.namespace (Docker Hub's test delivery) is ignored: exit 0, nothing changed.

Output: progress on stderr; one result line on stdout, e.g.
  deployment/web container app updated: reg/app:v1 -> reg/app:v2@sha256:...

Exit codes: 0 updated and verified (or already running that image, or nothing to do); 1
internal error (kubectl/jq missing, API server unreachable); 2 invalid input, usage error, or
no such namespace, workload or container; 3 the rollout failed and the previous image runs
again (also when `kubectl set image` failed: nothing changed); 4 the rollout failed and the
undo failed too (or --no-rollback), or the unchanged workload is not healthy.
EOF
}

lower() {
  printf '%s' "${1,,}"
}

namespace="$(lower "${APP_NS:-${HOOKRUN_NAMESPACE:-}}")"
workload="$(lower "${APP_WORKLOAD:-${HOOKRUN_WORKLOAD:-}}")"
container="$(lower "${APP_CONTAINER:-${HOOKRUN_CONTAINER:-}}")"
repo_type="$(lower "${REPO_TYPE:-}")"
net_type="$(lower "${NET_TYPE:-}")"
registry_host="${HOOKRUN_REGISTRY_HOST:-}"
image=""
digest=""
timeout="${HOOKRUN_TIMEOUT:-300}"
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
if ! hr_is_seconds "$timeout" || (( 10#$timeout == 0 )); then
  hr_usage_error "invalid --timeout $(hr_q "$timeout") (whole seconds, 1..86400)"
fi
timeout=$(( 10#$timeout ))
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
    printf 'nothing to do: the payload names no image (a registry test delivery?)\n'
    exit "$HR_EXIT_OK"
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
tmpdir="$(mktemp -d)"
trap 'rm -rf -- "$tmpdir"' EXIT

# container_image: the image of $container in the workload's pod template
container_image() {
  "${kc[@]}" get "$rt" -o "jsonpath={.spec.template.spec.containers[?(@.name==\"$container\")].image}" \
    -- "$target"
}

# rollout_ok WANT: rollout status succeeds and the template has image WANT. Sets FAIL_MSG.
rollout_ok() {
  local want="$1" now
  if ! "${kc[@]}" rollout status --timeout="${timeout}s" -- "$target" >"$tmpdir/status" 2>&1; then
    FAIL_MSG="rollout status: $(tail -n 2 "$tmpdir/status" | tr '\n' ' ')"
    return 1
  fi
  now="$(container_image 2>/dev/null || true)"
  if [[ "$now" != "$want" ]]; then
    FAIL_MSG="the rollout finished but $container has image $(hr_q "$now"), not $want"
    return 1
  fi
}

if ! "${kc[@]}" get "$rt" -o 'jsonpath={range .spec.template.spec.containers[*]}{.name}{"\n"}{end}' \
  -- "$target" >"$tmpdir/containers" 2>"$tmpdir/get.err"; then
  if grep -q '(NotFound)' "$tmpdir/get.err"; then
    hr_die "$HR_EXIT_INVALID" "$(tr '\n' ' ' <"$tmpdir/get.err")"
  fi
  hr_die "$HR_EXIT_INTERNAL" "kubectl get $target failed: $(tail -n 1 "$tmpdir/get.err")"
fi
grep -qx -- "$container" "$tmpdir/containers" ||
  hr_die "$HR_EXIT_INVALID" "$target has no container $container (containers: $(tr '\n' ' ' <"$tmpdir/containers"))"
old_ref="$(container_image)"
new_ref="$(hr_pin "$HR_IMAGE_NAME" "$HR_IMAGE_TAG" "$HR_DIGEST")"

if [[ "$old_ref" == "$new_ref" ]]; then
  if [[ -n "$HR_DIGEST" ]]; then
    hr_log "$target container $container already has $new_ref; checking the rollout"
    if rollout_ok "$new_ref"; then
      printf '%s container %s unchanged: already running %s\n' "$target" "$container" "$new_ref"
      exit "$HR_EXIT_OK"
    fi
    printf '%s container %s unchanged (%s) but not healthy: %s\n' "$target" "$container" "$new_ref" "$FAIL_MSG"
    exit "$HR_EXIT_ROLLBACK_FAILED"
  fi
  # The same tag again, no digest: restart so that the nodes pull the tag again.
  policy="$("${kc[@]}" get "$rt" -o "jsonpath={.spec.template.spec.containers[?(@.name==\"$container\")].imagePullPolicy}" -- "$target" 2>/dev/null || true)"
  if [[ "$policy" != Always && ! ( -z "$policy" && ( -z "$HR_IMAGE_TAG" || "$HR_IMAGE_TAG" == latest ) ) ]]; then
    hr_log "warning: imagePullPolicy of $container is ${policy:-IfNotPresent}: nodes that have $new_ref may not pull it again"
  fi
  hr_log "$target container $container already has $new_ref (no digest known): restarting the rollout"
  "${kc[@]}" rollout restart "$rt" -- "$target" >/dev/null 2>"$tmpdir/restart.err" || {
    printf '%s unchanged: kubectl rollout restart failed: %s\n' "$target" "$(tr '\n' ' ' <"$tmpdir/restart.err")"
    exit "$HR_EXIT_ROLLED_BACK"
  }
  action="restarted"
else
  hr_log "updating $target container $container: $old_ref -> $new_ref"
  if ! "${kc[@]}" set image "$rt" -- "$target" "$container=$new_ref" >/dev/null 2>"$tmpdir/set.err"; then
    now="$(container_image 2>/dev/null || true)"
    if [[ "$now" == "$old_ref" ]]; then
      printf '%s container %s unchanged: kubectl set image failed: %s\n' "$target" "$container" "$(tr '\n' ' ' <"$tmpdir/set.err")"
      exit "$HR_EXIT_ROLLED_BACK"
    fi
    hr_die "$HR_EXIT_ROLLBACK_FAILED" "kubectl set image failed and $container now has $(hr_q "$now")"
  fi
  action="updated"
fi

if rollout_ok "$new_ref"; then
  if [[ "$action" == restarted ]]; then
    printf '%s container %s restarted: %s (same tag, pulled again)\n' "$target" "$container" "$new_ref"
  else
    printf '%s container %s updated: %s -> %s\n' "$target" "$container" "$old_ref" "$new_ref"
  fi
  exit "$HR_EXIT_OK"
fi
reason="$FAIL_MSG"
hr_log "rollout of $target to $new_ref failed: $reason"
if (( ! rollback )); then
  printf '%s container %s update to %s FAILED (%s); rollback disabled, left as it is\n' \
    "$target" "$container" "$new_ref" "$reason"
  exit "$HR_EXIT_ROLLBACK_FAILED"
fi
hr_log "kubectl rollout undo $target"
if ! "${kc[@]}" rollout undo "$rt" -- "$target" >/dev/null 2>"$tmpdir/undo.err"; then
  printf '%s container %s update to %s FAILED (%s); kubectl rollout undo failed too: %s\n' \
    "$target" "$container" "$new_ref" "$reason" "$(tr '\n' ' ' <"$tmpdir/undo.err")"
  exit "$HR_EXIT_ROLLBACK_FAILED"
fi
if rollout_ok "$old_ref"; then
  printf '%s container %s update to %s FAILED (%s); rolled back to %s\n' \
    "$target" "$container" "$new_ref" "$reason" "$old_ref"
  exit "$HR_EXIT_ROLLED_BACK"
fi
printf '%s container %s update to %s FAILED (%s); rollback to %s FAILED too (%s)\n' \
  "$target" "$container" "$new_ref" "$reason" "$old_ref" "$FAIL_MSG"
exit "$HR_EXIT_ROLLBACK_FAILED"
