#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2016 # the single-quoted $k, $v, ... are Go template variables
#
# container-swap.sh - replace a plain Docker container by one from a new image with the same
# configuration, wait until the new one is healthy, remove the old one; roll back when the new
# one fails.
#
# Theory of operation
#   1. Validate every input; inspect the old container and the image it was created from.
#   2. Pull the new image (--pull always|missing|never).
#   3. Rebuild the old container's `docker create` arguments from `docker inspect`: what the
#      container set itself is kept, what it inherited from the OLD image is dropped so that the
#      NEW image's defaults win (env entries and labels equal to the old image's, user, workdir,
#      entrypoint, cmd, healthcheck, stop signal equal to the old image's).
#   4. Create the new container under the temporary name NAME-hookrun-new (nothing is stopped
#      yet, so a bad configuration fails harmlessly), connect its extra networks.
#   5. start-first (default): start the new one, wait for health, then rename the old one to
#      NAME-hookrun-old, the new one to NAME, stop and remove the old one.
#      stop-first (--stop-first; forced when the container publishes fixed host ports, uses a
#      static IP or the host network): stop the old one, rename it to NAME-hookrun-old, rename
#      the new one to NAME, start it, wait for health, remove the old one.
#   6. Health: the image's HEALTHCHECK reports healthy; then the --health-cmd command (if any)
#      exits 0 inside the new container (docker exec); with neither, the container must keep
#      running without a restart for --settle seconds. Exiting, restarting, "unhealthy" or
#      --health-timeout is a failure.
#   7. Failure: the new container is removed, the old one gets its name back and is started
#      again if it was running (and checked the same way) -> exit 3, or 4 when that fails.
#
# Exit codes: 0 swapped and healthy (or already running that image), 1 internal error (docker
# unreachable, leftovers of an interrupted swap), 2 invalid input, usage, no such container or a
# container this script cannot swap, 3 the new container failed and the old one runs again
# (also: image not pullable, nothing was changed), 4 the new one failed and the old one could
# not be restored (or --no-rollback).
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
Usage: container-swap.sh --container NAME [--image REF] [options] [-- HEALTH-CMD [ARG...]]

Replace the container NAME by a new one from REF with the same configuration (env, mounts and
volumes, networks and aliases, labels, restart policy, published ports, log config, extra
hosts, capabilities, limits, ...), wait until it is healthy, then remove the old one. When the
new one fails, it is removed and the old one runs again. Redeploying a previous image is the
same call with the previous REF.

Options (environment fallback in brackets):
  --container NAME      the container to replace [HOOKRUN_CONTAINER]
  --image REF           image reference host[:port]/path[:tag][@sha256:...]
                        [HOOKRUN_IMAGE, else HOOKRUN_IMAGE_PINNED, else
                        HOOKRUN_REGISTRY/HOOKRUN_REPOSITORY:HOOKRUN_TAG]
  --digest sha256:HEX   pin to this digest (default: the digest in REF; with the image from the
                        environment, HOOKRUN_DIGEST)
  --pull POLICY         always (default), missing (only if not present locally), never
                        [HOOKRUN_PULL]
  --health-timeout S    seconds the new container gets to become healthy (default 60)
                        [HOOKRUN_HEALTH_TIMEOUT]
  --settle S            without a healthcheck or health command, the new container must run
                        this long without exiting or restarting (default 5) [HOOKRUN_SETTLE]
  --health-cmd PROG     a program (one word, no arguments) run with `docker exec` in the new
                        container until it exits 0 [HOOKRUN_HEALTH_CMD]; for a command with
                        arguments put it after `--`, as separate words (no shell involved):
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
                        (a later swap then refuses to run until one of them is removed)
                        [HOOKRUN_NO_ROLLBACK=1]
  -h, --help            this text

Output: progress on stderr; one result line on stdout, e.g.
  container web updated: app:v1 (sha256:aaa...) -> app:v2 (sha256:bbb...)

Exit codes: 0 swapped and healthy (or already running that image); 1 internal error (docker not
reachable, leftovers of an interrupted swap); 2 invalid input, usage error, no such container,
or a container this script will not swap (a Swarm task, --rm); 3 the new container failed and
the old one runs again (also when the image cannot be pulled: nothing was changed); 4 the new
container failed and the old one could not be restored (or --no-rollback was given).

Not carried over: legacy --link, MAC address, device requests (GPUs), blkio/cpuset/other rare
resource settings, Windows-only settings.
EOF
}

container="${HOOKRUN_CONTAINER:-}"
image=""
digest=""
pull="${HOOKRUN_PULL:-always}"
health_timeout="${HOOKRUN_HEALTH_TIMEOUT:-60}"
settle="${HOOKRUN_SETTLE:-5}"
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
    --health-cmd) hr_flag_value "$@"; health_cmd=("$HR_VALUE"); shift 2 ;;
    --health-cmd=*) health_cmd=("${1#*=}"); shift ;;
    --stop-first) order=stop-first; shift ;;
    --start-first) order=start-first; shift ;;
    --keep-old) keep_old=1; shift ;;
    --no-rollback) rollback=0; shift ;;
    --) shift; (( $# )) || hr_usage_error "no health command after --"; health_cmd=("$@"); break ;;
    *) hr_usage_error "unknown argument $(hr_q "$1")" ;;
  esac
done

[[ -n "$container" ]] || hr_usage_error "--container is required"
hr_is_name "$container" || hr_usage_error "invalid container name $(hr_q "$container")"
case "$pull" in
  always | missing | never) ;;
  *) hr_usage_error "invalid --pull $(hr_q "$pull") (always, missing or never)" ;;
esac
if ! hr_is_seconds "$health_timeout" || (( 10#$health_timeout == 0 )); then
  hr_usage_error "invalid --health-timeout $(hr_q "$health_timeout") (whole seconds, 1..86400)"
fi
hr_is_seconds "$settle" || hr_usage_error "invalid --settle $(hr_q "$settle") (whole seconds)"
health_timeout=$(( 10#$health_timeout ))
settle=$(( 10#$settle ))
if (( ${#health_cmd[@]} )); then
  [[ "${health_cmd[0]}" =~ ^[A-Za-z0-9_./][A-Za-z0-9_./+-]*$ ]] ||
    hr_usage_error "invalid health command $(hr_q "${health_cmd[0]}") (a program name or path)"
fi
hr_resolve_image "$image" "$digest"

tmpdir="$(mktemp -d)"
trap 'rm -rf -- "$tmpdir"' EXIT

# --- inspection helpers ----------------------------------------------------------------------

# inspect0 ARRAY TEMPLATE OBJECT...: NUL-separated output of docker inspect into ARRAY.
# The template prints each element followed by \x00 (values may contain newlines).
inspect0() {
  local -n _arr="$1"
  docker inspect --format "$2" -- "${@:3}" >"$tmpdir/inspect" || return 1
  mapfile -d '' -t _arr <"$tmpdir/inspect"
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
    cgroup_parent entrypoint_json cmd_json health_json swarm_service oom_kill_disable)
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
  inspect0 vals "$tpl" "$container" || return 1
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
    if inspect0 dests '{{range .Mounts}}{{printf "%s\x00" .Destination}}{{end}}' "${b%%:*}" 2>/dev/null; then
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

# --- state and health ------------------------------------------------------------------------

# cstate ID: "STATUS|RESTARTING|RESTARTCOUNT|HEALTH|EXITCODE|STARTEDAT"
cstate() {
  docker inspect --type container --format \
    '{{.State.Status}}|{{.State.Restarting}}|{{.RestartCount}}|{{with .State.Health}}{{.Status}}{{end}}|{{.State.ExitCode}}|{{.State.StartedAt}}' \
    -- "$1" 2>/dev/null
}

# wait_healthy ID FRESH: wait until container ID is healthy (see the header); FRESH=1 for the
# new container (also runs the health command). Sets FAIL_MSG.
wait_healthy() {
  local id="$1" fresh="$2" deadline st status restarting count health code started
  local count0 started0 saw_health=0 settle_until
  deadline=$(( SECONDS + health_timeout ))
  FAIL_MSG=""
  st="$(cstate "$id")" || { FAIL_MSG="container $id vanished"; return 1; }
  IFS='|' read -r _ _ count0 _ _ started0 <<<"$st"
  # A container we just created has not restarted yet, whatever it did before this first look.
  [[ "$fresh" == 1 ]] && count0=0
  # running_ok: the container runs and has not restarted since we started waiting
  running_ok() {
    st="$(cstate "$id")" || { FAIL_MSG="container vanished"; return 1; }
    IFS='|' read -r status restarting count health code started <<<"$st"
    if [[ "$status" != running || "$restarting" == true ]]; then
      FAIL_MSG="container is $status (exit code $code)"
      return 1
    fi
    if [[ "$count" != "$count0" || ( "$fresh" != 1 && "$started" != "$started0" ) ]]; then
      FAIL_MSG="container restarted $count time(s) (last exit code $code)"
      return 1
    fi
  }
  # 1. the image's (or container's) HEALTHCHECK
  while :; do
    running_ok || return 1
    case "$health" in
      "") break ;;
      healthy) saw_health=1; break ;;
      unhealthy) FAIL_MSG="healthcheck reports unhealthy"; return 1 ;;
    esac
    (( SECONDS < deadline )) || { FAIL_MSG="not healthy within ${health_timeout}s (health: $health)"; return 1; }
    sleep 1
  done
  # 2. the health command, run in the container
  if (( fresh && ${#health_cmd[@]} )); then
    until docker exec -- "$id" "${health_cmd[@]}" >"$tmpdir/health.out" 2>&1; do
      running_ok || return 1
      if (( SECONDS >= deadline )); then
        FAIL_MSG="health command $(hr_q "${health_cmd[0]}") did not succeed within ${health_timeout}s: $(tail -c 300 "$tmpdir/health.out" | tr '\n' ' ')"
        return 1
      fi
      sleep 1
    done
    saw_health=1
  fi
  # 3. without a health signal: keep running for $settle seconds
  if (( ! saw_health )); then
    settle_until=$(( SECONDS + settle ))
    while (( SECONDS < settle_until )); do
      running_ok || return 1
      sleep 1
    done
  fi
  running_ok
}

logs_tail() {
  docker logs --tail 5 -- "$1" 2>&1 | tr '\n' ' ' | tail -c 400 || true
}

# --- main ------------------------------------------------------------------------------------

hr_require_docker
if ! docker container inspect --format '{{.ID}}' -- "$container" >/dev/null 2>&1; then
  hr_die "$HR_EXIT_INVALID" "no such container: $container"
fi
read_scalars || hr_die "$HR_EXIT_INTERNAL" "cannot inspect container $container"
name="${S[name]}"
old_id="${S[id]}"
hr_is_name "$name" || hr_die "$HR_EXIT_INVALID" "the container's name $(hr_q "$name") is not usable"
[[ -z "${S[swarm_service]}" ]] ||
  hr_die "$HR_EXIT_INVALID" "$name is a task of a Swarm service: use swarm-update.sh"
[[ "${S[auto_remove]}" != true ]] ||
  hr_die "$HR_EXIT_INVALID" "$name was started with --rm: stopping it would delete it, so it cannot be swapped safely"
new_tmp="$name-hookrun-new"
old_tmp="$name-hookrun-old"
prev_name="$name-hookrun-prev"
if docker container inspect -- "$old_tmp" >/dev/null 2>&1; then
  hr_die "$HR_EXIT_INTERNAL" "$old_tmp exists: an earlier swap was interrupted; check $name and $old_tmp and remove one"
fi
read_old_image

# Pull and resolve the new image
new_ref="$(hr_pin "$HR_IMAGE_NAME" "$HR_IMAGE_TAG" "$HR_DIGEST")"
pull_ref="$new_ref"
[[ -n "$HR_DIGEST" ]] && pull_ref="$HR_IMAGE_NAME@$HR_DIGEST"
if [[ "$pull" == always ]] || { [[ "$pull" == missing ]] && ! docker image inspect -- "$pull_ref" >/dev/null 2>&1; }; then
  hr_log "pulling $pull_ref"
  if ! pulled_digest="$(hr_pull_digest "$pull_ref")"; then
    printf 'container %s unchanged: cannot pull %s; still running %s\n' "$name" "$pull_ref" "${S[config_image]}"
    exit "$HR_EXIT_ROLLED_BACK"
  fi
  if [[ -z "$HR_DIGEST" && -n "$pulled_digest" ]]; then
    HR_DIGEST="$pulled_digest"
    new_ref="$(hr_pin "$HR_IMAGE_NAME" "$HR_IMAGE_TAG" "$HR_DIGEST")"
  fi
fi
if ! new_image_id="$(docker image inspect --format '{{.ID}}' -- "$new_ref" 2>/dev/null)"; then
  printf 'container %s unchanged: image %s is not available locally (--pull %s); still running %s\n' \
    "$name" "$new_ref" "$pull" "${S[config_image]}"
  exit "$HR_EXIT_ROLLED_BACK"
fi
old_desc="${S[config_image]} (${S[image_id]:0:19})"
new_desc="$new_ref (${new_image_id:0:19})"
if [[ "$new_image_id" == "${S[image_id]}" && "${S[running]}" == true ]]; then
  printf 'container %s unchanged: already running %s\n' "$name" "$new_desc"
  exit "$HR_EXIT_OK"
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
if [[ -n "$force_stop_first" ]]; then
  [[ "$order" == start-first ]] && hr_log "warning: --start-first ignored: $force_stop_first"
  order=stop-first
  hr_log "stop-first: $force_stop_first"
fi
order="${order:-start-first}"

# Leftover of an interrupted run: the temporary new container is ours by its name
if docker container inspect -- "$new_tmp" >/dev/null 2>&1; then
  hr_log "removing the leftover $new_tmp of an interrupted swap"
  docker rm -f -- "$new_tmp" >/dev/null
fi

hr_log "creating $new_tmp from $new_ref"
if ! new_id="$(docker create --name "$new_tmp" "${args[@]}" -- "$new_ref" "${cmd_args[@]}" 2>"$tmpdir/create.err")"; then
  printf 'container %s unchanged: docker create failed: %s\n' "$name" "$(tr '\n' ' ' <"$tmpdir/create.err")"
  exit "$HR_EXIT_ROLLED_BACK"
fi
for n in "${extra_nets[@]}"; do
  connect=(network connect)
  while IFS= read -r a; do
    if [[ -n "$a" ]]; then connect+=(--alias "$a"); fi
  done <<<"${net_aliases[$n]:-}"
  if [[ -n "${net_ip[$n]:-}" ]]; then connect+=(--ip "${net_ip[$n]}"); fi
  if ! docker "${connect[@]}" -- "$n" "$new_id" >"$tmpdir/connect.err" 2>&1; then
    docker rm -f -- "$new_id" >/dev/null 2>&1 || true
    printf 'container %s unchanged: cannot connect the new container to network %s: %s\n' \
      "$name" "$n" "$(tr '\n' ' ' <"$tmpdir/connect.err")"
    exit "$HR_EXIT_ROLLED_BACK"
  fi
done

was_running="${S[running]}"

# restore_old: bring the old container back under its name (rollback). Sets FAIL_MSG.
restore_old() {
  local cur
  docker rm -f -- "$new_id" >/dev/null 2>&1 || true
  cur="$(docker inspect --type container --format '{{.Name}}' -- "$old_id" 2>/dev/null)" || {
    FAIL_MSG="the old container $old_id is gone"
    return 1
  }
  if [[ "${cur#/}" != "$name" ]] && ! docker rename -- "$old_id" "$name"; then
    FAIL_MSG="cannot rename the old container back to $name"
    return 1
  fi
  [[ "$was_running" == true ]] || return 0
  if [[ "$(docker inspect --type container --format '{{.State.Running}}' -- "$old_id")" != true ]]; then
    docker start -- "$old_id" >/dev/null 2>"$tmpdir/start.err" || {
      FAIL_MSG="cannot start the old container: $(tr '\n' ' ' <"$tmpdir/start.err")"
      return 1
    }
  fi
  wait_healthy "$old_id" 0
}

# fail REASON: roll back (or not) and exit 3/4
fail() {
  local reason="$1"
  hr_log "the new container failed: $reason"
  if (( ! rollback )); then
    local where
    where="$(docker inspect --type container --format '{{.Name}}' -- "$new_id" 2>/dev/null || true)"
    printf 'container %s update to %s FAILED (%s); rollback disabled: the new container is left as %s, the old one (%s) as %s\n' \
      "$name" "$new_desc" "$reason" "${where#/}" "$(docker inspect --type container --format '{{.Name}} {{.State.Status}}' -- "$old_id" 2>/dev/null || echo gone)" "$old_desc"
    exit "$HR_EXIT_ROLLBACK_FAILED"
  fi
  hr_log "rolling back to $old_desc"
  if restore_old; then
    printf 'container %s update to %s FAILED (%s); rolled back to %s\n' "$name" "$new_desc" "$reason" "$old_desc"
    exit "$HR_EXIT_ROLLED_BACK"
  fi
  printf 'container %s update to %s FAILED (%s); rollback to %s FAILED too (%s)\n' \
    "$name" "$new_desc" "$reason" "$old_desc" "$FAIL_MSG"
  exit "$HR_EXIT_ROLLBACK_FAILED"
}

hr_log "swapping $name ($order): $old_desc -> $new_desc"
if [[ "$order" == start-first ]]; then
  docker start -- "$new_id" >/dev/null 2>"$tmpdir/start.err" ||
    fail "docker start: $(tr '\n' ' ' <"$tmpdir/start.err")"
  wait_healthy "$new_id" 1 || fail "$FAIL_MSG; logs: $(logs_tail "$new_id")"
  docker rename -- "$old_id" "$old_tmp" || fail "cannot rename the old container"
  docker rename -- "$new_id" "$name" || fail "cannot rename the new container to $name"
  docker stop -- "$old_id" >/dev/null || hr_log "warning: docker stop of the old container failed"
else
  docker stop -- "$old_id" >/dev/null || fail "cannot stop the old container"
  docker rename -- "$old_id" "$old_tmp" || fail "cannot rename the old container"
  docker rename -- "$new_id" "$name" || fail "cannot rename the new container to $name"
  docker start -- "$new_id" >/dev/null 2>"$tmpdir/start.err" ||
    fail "docker start: $(tr '\n' ' ' <"$tmpdir/start.err")"
  wait_healthy "$new_id" 1 || fail "$FAIL_MSG; logs: $(logs_tail "$new_id")"
fi

# Success: retire the old container
if (( keep_old )); then
  docker rm -f -- "$prev_name" >/dev/null 2>&1 || true
  docker update --restart no -- "$old_id" >/dev/null 2>&1 || true
  docker rename -- "$old_id" "$prev_name" || hr_log "warning: cannot rename the old container to $prev_name"
  hr_log "kept the old container as $prev_name"
else
  docker rm -f -- "$old_id" >/dev/null || hr_log "warning: cannot remove the old container $old_id"
fi
printf 'container %s updated: %s -> %s\n' "$name" "$old_desc" "$new_desc"
exit "$HR_EXIT_OK"
