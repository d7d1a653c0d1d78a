#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2016 # bash -c snippets take their values as "$1"...
#
# scripts-e2e.sh - end-to-end tests of the deployment scripts themselves (not through hookrun),
# on a real Docker engine (started with env.sh if none answers), a real single-node Swarm, a
# real registry (Debian's docker-registry) and the recording fake Kubernetes API.
#
# Asserts the RUNNING state: HTTP answers, `docker inspect` values, the fake API's objects, the
# HOOKRUN_RESULT files. Independent groups (distinct services, containers, ports) run in
# parallel: the swarm-update.sh and container-swap.sh series of 10 good and 10 broken deploys
# (default settings, the exact digest or rollback verified after each), the other swarm and
# container scenarios, the downtime measurements, and kubectl-set-image.sh against the fake API.
# Scenarios about something other than the late-crash window pass --settle 5 (the window itself
# is tested with its default by the series and the late-crash scenarios).
#
# Prints one line per check, group by group, the series and downtime summaries, and
# "N passed, M failed"; exits 1 on any failure. Cleans up everything it started, also on failure
# or interrupt.
#
# Usage: scripts/e2e/scripts-e2e.sh
# Environment: E2E_KEEP=1 keeps the containers/services for a look afterwards (the registry,
# the fake API, a swarm or dockerd it started are still stopped).
set -euo pipefail

here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
scripts="$(cd -- "$here/.." && pwd)"
run_id="hre2e$$"
work="$(mktemp -d "${TMPDIR:-/tmp}/hookrun-scripts-e2e.XXXXXX")"
export E2E_STATE_DIR="$work/state"
# shellcheck source=env.sh
source "$here/env.sh"
# shellcheck source=checks.sh
source "$here/checks.sh"
CHECK_DIR="$work/main"
mkdir -p "$CHECK_DIR"
marker="$work/pwned"

cleanup() {
  local rc=$?
  set +e
  trap - INT TERM
  # the groups run in the background: stop them first
  local pids
  pids="$(jobs -pr)"
  # shellcheck disable=SC2086 # a list of pids
  [[ -n "$pids" ]] && kill $pids 2>/dev/null && wait 2>/dev/null
  if [[ "${E2E_KEEP:-0}" != 1 ]]; then
    local s c
    for s in $(docker service ls -q --filter "name=$run_id" 2>/dev/null); do
      docker service rm "$s" >/dev/null 2>&1
    done
    for c in $(docker ps -aq --filter "name=$run_id" 2>/dev/null); do
      docker rm -f "$c" >/dev/null 2>&1
    done
    # objects named like an id prefix (the exact-name scenarios) carry no run id
    while read -r s; do
      docker service rm "$s" >/dev/null 2>&1
    done < <(cat "$work/extra-services" 2>/dev/null)
    while read -r c; do
      docker rm -f "$c" >/dev/null 2>&1
    done < <(cat "$work/extra-containers" 2>/dev/null)
    sleep 1
    for c in $(docker network ls -q --filter "name=$run_id" 2>/dev/null); do
      docker network rm "$c" >/dev/null 2>&1
    done
    docker volume rm "$run_id-vol" >/dev/null 2>&1
    docker image rm "${images_to_remove[@]}" >/dev/null 2>&1
  fi
  [[ -n "${kport:-}" ]] && e2e_fake_kube_stop "$kport"
  [[ -n "${rport:-}" ]] && e2e_registry_stop "$rport"
  e2e_swarm_leave
  e2e_dockerd_stop
  rm -rf -- "$work"
  exit "$rc"
}
images_to_remove=()
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- environment -----------------------------------------------------------------------------

for cmd in docker dockerd curl jq kubectl timeout flock; do
  command -v "$cmd" >/dev/null || { echo "missing: $cmd" >&2; exit 1; }
done
e2e_dockerd_start 90
e2e_swarm_init
app="hookrun-e2e/scripts"
e2e_build_images "$app"
# g1..g10: ten distinct good images (odd ones plain, even ones with a HEALTHCHECK)
for i in 1 2 3 4 5 6 7 8 9 10; do
  kind=serve
  (( i % 2 )) || kind="serve-health"
  e2e_build_image "$app:g$i" "g$i" "$kind"
done
rport="$(free_port 15500)"
e2e_registry_start "$rport"
reg="127.0.0.1:$rport/$run_id/app"
declare -A dig=()
for v in v1 v2 v3 v4 v5 g1 g2 g3 g4 g5 g6 g7 g8 g9 g10; do
  dig[$v]="$(e2e_push "$app:$v" "$reg:$v")"
  images_to_remove+=("$reg:$v" "$app:$v")
done
images_to_remove+=("$reg:latest")
echo "# registry 127.0.0.1:$rport, images $reg:v1..v5 (v3 exits at start, v4 crashes after 8 s, v5 is unhealthy), g1..g10"

# Docker calls made by the scripts, for the hostile-input checks: a `docker` in front of the
# real one that records its arguments.
real_docker="$(command -v docker)"
mkdir -p "$work/bin"
printf '#!/bin/sh\nprintf "%%s\\n" "$*" >>"%s"\nexec "%s" "$@"\n' "$work/docker-calls" "$real_docker" >"$work/bin/docker"
chmod +x "$work/bin/docker"
: >"$work/docker-calls"
recorded() { PATH="$work/bin:$PATH" "$@"; }

# pinned REF: the image the task/container runs, as an id (docker image inspect)
image_id() { docker image inspect --format '{{.ID}}' "$1"; }

# --- static checks ---------------------------------------------------------------------------

check "each script embeds the current lib/common.sh block" bash "$here/embed-common.sh" --check
for s in swarm-update.sh kubectl-set-image.sh container-swap.sh; do
  expect_rc 0 "$s --help" "$scripts/$s" --help
  check "$s --help documents the result keys, the lock and exit 5" \
    bash -c 'out="$1"; for w in HOOKRUN_RESULT "target (" image_before image_requested image_after digest rolled_back exit_code "key<<DELIMITER" busy "lock-timeout" " 5 "; do [[ "$out" == *"$w"* ]] || { echo "missing $w"; exit 1; }; done' _ "$(tr '\n' ' ' <"$CHECK_DIR/stdout.log")"
done
# Installed alone: each script is one self-contained file
alone="$work/alone"
mkdir -p "$alone"
for s in swarm-update.sh kubectl-set-image.sh container-swap.sh; do
  cp -- "$scripts/$s" "$alone/$s"
done
expect_rc 0 "swarm-update.sh installed alone: --help" "$alone/swarm-update.sh" --help
expect_rc 2 "swarm-update.sh installed alone: hostile image refused" \
  recorded "$alone/swarm-update.sh" --service x --image 'x;touch /tmp/p'
expect_rc 2 "container-swap.sh installed alone: hostile name refused" \
  recorded "$alone/container-swap.sh" --container "\$(id)" --image "$reg:v1"
expect_rc 2 "kubectl-set-image.sh installed alone: hostile namespace refused" \
  "$alone/kubectl-set-image.sh" -n 'a;b' --workload deployment/x --container c --image "$reg:v1"

# The result file format, from the shared code itself: a multi-line value becomes a block
# whose delimiter is not in the value; the file is appended to, never replaced.
rf="$work/result-format"
printf 'earlier=kept\n' >"$rf"
expect_rc 0 "result format: a multi-line message is written as a key<<DELIMITER block" \
  env HOOKRUN_RESULT="$rf" bash -c '
    source "$1"
    HR_TMP="$(mktemp -d)" HR_TARGET="swarm:web" HR_BEFORE="a:1" HR_AFTER="a:2@sha256:$(printf "%064d" 1)"
    hr_result_write 0 updated "line one
HOOKRUN_EOF_ look-alike
line three"
    rm -rf "$HR_TMP"' _ "$scripts/lib/common.sh"
check "result format: the block parses back to the exact value" \
  result_is "$rf" target=swarm:web status=updated rolled_back=false exit_code=0 \
  "digest=sha256:$(printf '%064d' 1)" "message=line one
HOOKRUN_EOF_ look-alike
line three"
check "result format: the earlier content of the file is kept" grep -qx 'earlier=kept' "$rf"
check "result format: the delimiter does not occur in the value" \
  bash -c 'd="$(sed -n "s/^message<<//p" "$1")"; [[ -n "$d" ]] && ! sed -n "/^message<</,\$p" "$1" | sed "1d;\$d" | grep -qF -- "$d"' _ "$rf"

# Usage errors still give a result line and a result
rf="$work/result-usage"
expect_rc 2 "usage error: exit 2" env HOOKRUN_RESULT="$rf" "$scripts/swarm-update.sh" --service "bad name" --image "$reg:v1"
check "usage error: one result line on stdout" eq 1 "$(stdout_lines)"
check "usage error: the result says invalid" result_is "$rf" status=invalid rolled_back=false exit_code=2
check "usage error: the result is complete and its message is the result line" result_complete "$rf"
rd="$work/result-dir"
mkdir -p "$rd/is-a-dir"
expect_rc 2 "HOOKRUN_RESULT naming a directory: the run goes on without writing" \
  env HOOKRUN_RESULT="$rd/is-a-dir" "$scripts/container-swap.sh" --container "bad name" --image "$reg:v1"
check "... and says so" contains "not a regular file" "$(out)"
check "... and wrote nothing there" eq "" "$(ls -A "$rd/is-a-dir")"

# Hostile inputs: refused before any docker call (the recording docker saw none)
rm -f -- "$marker"
: >"$work/docker-calls"
expect_rc 2 "swarm: hostile service name" recorded "$scripts/swarm-update.sh" --service "x;touch $marker" --image "$reg:v1"
expect_rc 2 "swarm: hostile image" recorded "$scripts/swarm-update.sh" --service web --image "x;touch $marker"
expect_rc 2 "swarm: --help as a value" recorded "$scripts/swarm-update.sh" --service web --image --help
expect_rc 2 "swarm: command substitution as image" recorded "$scripts/swarm-update.sh" --service web --image "\$(touch $marker)"
expect_rc 2 "swarm: repository with .." recorded "$scripts/swarm-update.sh" --service web --image "127.0.0.1:$rport/a/../b:v1"
expect_rc 2 "swarm: hostile HOOKRUN_IMAGE" recorded env HOOKRUN_IMAGE="\`touch $marker\`" "$scripts/swarm-update.sh" --service web
expect_rc 2 "swarm: hostile digest" recorded "$scripts/swarm-update.sh" --service web --image "$reg:v1" --digest "sha256:;touch"
expect_rc 2 "swarm: hostile timeout" recorded "$scripts/swarm-update.sh" --service web --image "$reg:v1" --timeout "1;touch $marker"
expect_rc 2 "swarm: hostile --health-url" recorded "$scripts/swarm-update.sh" --service web --image "$reg:v1" --health-url "http://x/\$(id)"
expect_rc 2 "swap: hostile container name" recorded "$scripts/container-swap.sh" --container "x;touch $marker" --image "$reg:v1"
expect_rc 2 "swap: hostile image" recorded "$scripts/container-swap.sh" --container web --image "x;touch $marker"
expect_rc 2 "swap: --help as a value" recorded "$scripts/container-swap.sh" --container --help --image "$reg:v1"
expect_rc 2 "swap: command substitution as image" recorded "$scripts/container-swap.sh" --container web --image "\$(touch $marker)"
expect_rc 2 "swap: repository with .." recorded "$scripts/container-swap.sh" --container web --image "127.0.0.1:$rport/../x:v1"
expect_rc 2 "swap: option-like health command" recorded "$scripts/container-swap.sh" --container web --image "$reg:v2" -- --privileged
expect_rc 2 "swap: hostile HOOKRUN_CONTAINER" recorded env HOOKRUN_CONTAINER="a b;touch $marker" "$scripts/container-swap.sh" --image "$reg:v2"
expect_rc 2 "swap: hostile --health-url" recorded "$scripts/container-swap.sh" --container web --image "$reg:v2" --health-url "file:///etc/passwd"
check "hostile inputs made no docker call at all" eq "" "$(cat "$work/docker-calls")"
check "hostile inputs ran nothing" test ! -e "$marker"

# --- the groups ------------------------------------------------------------------------------

# swarm_service NAME PORT IMAGE: a service like the seed setups', publishing PORT in host mode
swarm_service() {
  docker service create --detach --quiet --name "$1" \
    --publish "mode=host,published=$2,target=8080" \
    --update-monitor 2s --rollback-monitor 2s --stop-grace-period 3s \
    "$3" >/dev/null
}
spec_of() { docker service inspect --format '{{.Spec.TaskTemplate.ContainerSpec.Image}}' "$1"; }
# task_image_id SERVICE: the image id the service's running container uses (single replica)
task_image_id() {
  local t cid
  t="$(docker service ps -q --no-trunc --filter desired-state=running "$1" | head -n 1)"
  cid="$(docker inspect --type task --format '{{.Status.ContainerStatus.ContainerID}}' "$t")"
  docker inspect --type container --format '{{.Image}}' "$cid"
}

# A series of 10 good and 10 broken deploys, alternating, with default settings.
broken_kinds=(v3 v4 v5)
# series_summary SCRIPT GOOD BROKEN: the line the suite prints at the end
series_summary() {
  printf '# %s: %s/10 consecutive good deploys ran the exact pushed digest; %s/10 broken deploys (v3 exits, v4 crashes after 8 s, v5 unhealthy) rolled back to the exact previous digest\n' "$@" \
    >"$CHECK_DIR/summary"
}

group_swarm_series() {
  local svc="$run_id-series" port i f0 good=0 broken=0 prev prev_text b rf="$CHECK_DIR/result"
  port="$(free_port 18150)"
  swarm_service "$svc" "$port" "$reg:v1@${dig[v1]}"
  check "series: service $svc answers v1" http_is "$port" v1
  prev="$reg:v1@${dig[v1]}" prev_text=v1
  for i in 1 2 3 4 5 6 7 8 9 10; do
    f0=$failed
    rm -f -- "$rf"
    expect_rc 0 "series $i: deploy g$i" env HOOKRUN_RESULT="$rf" "$scripts/swarm-update.sh" --service "$svc" --image "$reg:g$i"
    check "series $i: the spec pins g$i's pushed digest" eq "$reg:g$i@${dig[g$i]}" "$(spec_of "$svc")"
    check "series $i: the running container uses that image" eq "$(image_id "$reg@${dig[g$i]}")" "$(task_image_id "$svc")"
    check "series $i: it answers g$i" http_is "$port" "g$i"
    check "series $i: the result says updated, that digest" \
      result_is "$rf" "target=swarm:$svc" status=updated rolled_back=false "digest=${dig[g$i]}" \
      "image_before=$prev" "image_after=$reg:g$i@${dig[g$i]}" exit_code=0
    (( failed == f0 )) && good=$(( good + 1 ))
    prev="$reg:g$i@${dig[g$i]}" prev_text="g$i"
    b="${broken_kinds[i % 3]}"
    f0=$failed
    rm -f -- "$rf"
    expect_rc 3 "series $i: broken $b is rolled back" env HOOKRUN_RESULT="$rf" "$scripts/swarm-update.sh" --service "$svc" --image "$reg:$b"
    check "series $i: the spec is g$i's digest again" eq "$prev" "$(spec_of "$svc")"
    check "series $i: the running container uses g$i's image" eq "$(image_id "$reg@${dig[g$i]}")" "$(task_image_id "$svc")"
    check "series $i: it answers $prev_text" http_is "$port" "$prev_text"
    check "series $i: the result says rolled back to that digest" \
      result_is "$rf" "target=swarm:$svc" status=rolled_back rolled_back=true "digest=${dig[g$i]}" \
      "image_requested=$reg:$b@${dig[$b]}" "image_after=$prev" exit_code=3
    (( failed == f0 )) && broken=$(( broken + 1 ))
  done
  series_summary swarm-update.sh "$good" "$broken"
}

group_swap_series() {
  local c="$run_id-series" i f0 good=0 broken=0 prev prev_text b rf="$CHECK_DIR/result"
  docker network create "$run_id-series-net" >/dev/null
  docker run -d --name "$c" --network "$run_id-series-net" --network-alias series \
    --restart unless-stopped "$reg:v1@${dig[v1]}" >/dev/null
  check "series: container $c answers v1" exec_http_is "$c" v1
  prev="$reg:v1@${dig[v1]}" prev_text=v1
  for i in 1 2 3 4 5 6 7 8 9 10; do
    f0=$failed
    rm -f -- "$rf"
    expect_rc 0 "series $i: swap to g$i" env HOOKRUN_RESULT="$rf" "$scripts/container-swap.sh" --container "$c" --image "$reg:g$i"
    check "series $i: $c was created from g$i's pushed digest" eq "$reg:g$i@${dig[g$i]}" "$(docker inspect --format '{{.Config.Image}}' "$c")"
    check "series $i: and runs that image" eq "$(image_id "$reg@${dig[g$i]}")" "$(docker inspect --format '{{.Image}}' "$c")"
    check "series $i: it answers g$i" exec_http_is "$c" "g$i"
    check "series $i: the result says updated, that digest" \
      result_is "$rf" "target=container:$c" status=updated rolled_back=false "digest=${dig[g$i]}" \
      "image_before=$prev" "image_after=$reg:g$i@${dig[g$i]}" exit_code=0
    check "series $i: no temporary container is left" eq "" "$(docker ps -a --format '{{.Names}}' --filter "name=^$c-hookrun")"
    (( failed == f0 )) && good=$(( good + 1 ))
    prev="$reg:g$i@${dig[g$i]}" prev_text="g$i"
    b="${broken_kinds[i % 3]}"
    f0=$failed
    rm -f -- "$rf"
    expect_rc 3 "series $i: broken $b is rolled back" env HOOKRUN_RESULT="$rf" "$scripts/container-swap.sh" --container "$c" --image "$reg:$b"
    check "series $i: $c is g$i's container again" eq "$prev" "$(docker inspect --format '{{.Config.Image}}' "$c")"
    check "series $i: and runs g$i's image" eq "$(image_id "$reg@${dig[g$i]}")" "$(docker inspect --format '{{.Image}}' "$c")"
    check "series $i: it answers $prev_text" exec_http_is "$c" "$prev_text"
    check "series $i: the result says rolled back to that digest" \
      result_is "$rf" "target=container:$c" status=rolled_back rolled_back=true "digest=${dig[g$i]}" \
      "image_requested=$reg:$b@${dig[$b]}" "image_after=$prev" exit_code=3
    check "series $i: no temporary container is left" eq "" "$(docker ps -a --format '{{.Names}}' --filter "name=^$c-hookrun")"
    (( failed == f0 )) && broken=$(( broken + 1 ))
  done
  series_summary container-swap.sh "$good" "$broken"
}

# shellcheck source=scripts-e2e-swarm.sh
source "$here/scripts-e2e-swarm.sh"
# shellcheck source=scripts-e2e-swap.sh
source "$here/scripts-e2e-swap.sh"
# shellcheck source=scripts-e2e-kube.sh
source "$here/scripts-e2e-kube.sh"

kport="$(free_port 18600)" # the fake Kubernetes API of group_kube (stopped by cleanup)
groups=(swarm_series swap_series swarm_misc swap_misc swap_downtime kube)
echo "# running the groups in parallel: ${groups[*]}"
declare -A group_pid=()
# run_group NAME: group_NAME with its own counters and files; its log and "PASSED FAILED
# SECONDS" in $work/NAME
run_group() {
  local start=$SECONDS
  CHECK_DIR="$work/$1"
  passed=0 failed=0
  "group_$1" || not_ok "group $1 ended early (exit $?)"
  echo "$passed $failed $(( SECONDS - start ))" >"$CHECK_DIR/count"
}
static_passed=$passed static_failed=$failed
for g in "${groups[@]}"; do
  mkdir -p "$work/$g"
  run_group "$g" >"$work/$g/log" 2>&1 &
  group_pid[$g]=$!
done
for g in "${groups[@]}"; do
  wait "${group_pid[$g]}" || true
done
total_passed=$static_passed total_failed=$static_failed
for g in "${groups[@]}"; do
  if ! read -r p f t <"$work/$g/count"; then
    p=0 f=1 t="?"
    echo "FAIL group $g left no count"
  fi
  echo "--- $g ($p passed, $f failed, ${t}s)"
  cat -- "$work/$g/log"
  total_passed=$(( total_passed + p )) total_failed=$(( total_failed + f ))
done

# --- result ----------------------------------------------------------------------------------

echo "--- summary"
cat -- "$work"/swarm_series/summary "$work"/swap_series/summary "$work"/swap_downtime/summary 2>/dev/null || true
printf '%s passed, %s failed\n' "$total_passed" "$total_failed"
(( total_failed == 0 ))
