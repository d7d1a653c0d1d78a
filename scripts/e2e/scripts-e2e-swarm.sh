# shellcheck shell=bash
# shellcheck disable=SC2154 # reg, dig, scripts, run_id, work come from scripts-e2e.sh
#
# scripts-e2e-swarm.sh - the swarm-update.sh scenarios of scripts-e2e.sh (sourced by it; runs
# as one of its parallel groups): pinning and re-pulls, rollbacks, the late-crash window with
# its default, exact-name lookup against colliding id prefixes, concurrent runs, a killed run,
# a deploy superseded by another, --health-url, and the result file of each.

group_swarm_misc() {
  local svc="$run_id-web" port rf="$CHECK_DIR/result" id other a b second
  port="$(free_port 18100)"
  swarm_service "$svc" "$port" "$reg:v1"
  check "swarm: service $svc answers v1 on host-mode port $port" http_is "$port" v1
  local before
  before="$(spec_of "$svc")"

  expect_rc 0 "swarm: v1 -> v2 updates and verifies" \
    env HOOKRUN_RESULT="$rf" "$scripts/swarm-update.sh" --service "$svc" --image "$reg:v2" --timeout 120 --settle 5
  check "swarm: the service answers v2" http_is "$port" v2
  check "swarm: the spec pins v2 by digest" eq "$reg:v2@${dig[v2]}" "$(spec_of "$svc")"
  check "swarm: the running task uses the v2 image" eq "$(image_id "$reg@${dig[v2]}")" "$(task_image_id "$svc")"
  check "swarm: the output says old -> new" contains "-> $reg:v2@${dig[v2]}" "$(out)"
  check "swarm: exactly one result line on stdout" eq 1 "$(stdout_lines)"
  check "swarm: the result has every key, its message is the result line" result_complete "$rf"
  check "swarm: the result names the service, the images before and after, the digest" \
    result_is "$rf" "target=swarm:$svc" status=updated rolled_back=false "image_before=$before" \
    "image_requested=$reg:v2@${dig[v2]}" "image_after=$reg:v2@${dig[v2]}" "digest=${dig[v2]}" exit_code=0
  check "swarm: the result file holds one result" eq 1 "$RES_COUNT"

  expect_rc 3 "swarm: broken v3 is rolled back" \
    env HOOKRUN_RESULT="$rf" "$scripts/swarm-update.sh" --service "$svc" --image "$reg:v3" --timeout 120 --settle 5
  check "swarm: after the rollback the service still answers v2" http_is "$port" v2
  check "swarm: after the rollback the spec is v2 again" eq "$reg:v2@${dig[v2]}" "$(spec_of "$svc")"
  check "swarm: the result says rolled back" \
    result_is "$rf" status=rolled_back rolled_back=true "image_after=$reg:v2@${dig[v2]}" "digest=${dig[v2]}" exit_code=3
  check "swarm: results are appended (two in the file now)" eq 2 "$RES_COUNT"

  expect_rc 3 "swarm: late crash (v4 serves 8 s, then exits) is rolled back with the default window" \
    "$scripts/swarm-update.sh" --service "$svc" --image "$reg:v4" --timeout 120
  check "swarm: ... caught by the 15 s window, not by Swarm's monitor" contains "15s" "$(out)"
  check "swarm: ... the service answers v2" http_is "$port" v2

  local latest1 latest2
  latest1="$(e2e_push "$app:v1" "$reg:latest")"
  expect_rc 0 "swarm: deploy :latest (v1 content) from HOOKRUN_IMAGE" \
    env HOOKRUN_IMAGE="$reg:latest" "$scripts/swarm-update.sh" --service "$svc" --timeout 120 --settle 2
  check "swarm: :latest answers v1" http_is "$port" v1
  latest2="$(e2e_push "$app:v2" "$reg:latest")"
  expect_rc 0 "swarm: the same tag pushed again (v2 content) really re-pulls" \
    env HOOKRUN_IMAGE="$reg:latest" "$scripts/swarm-update.sh" --service "$svc" --timeout 120 --settle 2
  check "swarm: :latest now answers v2" http_is "$port" v2
  check "swarm: the spec pins the new :latest digest" eq "$reg:latest@$latest2" "$(spec_of "$svc")"
  check "swarm: the two :latest pushes had different digests" test "$latest1" != "$latest2"
  expect_rc 0 "swarm: deploying the running digest again is a verified no-op" \
    env HOOKRUN_RESULT="$rf" HOOKRUN_IMAGE="$reg:latest" HOOKRUN_DIGEST="$latest2" "$scripts/swarm-update.sh" --service "$svc" --timeout 60 --settle 1
  check "swarm: ... and says unchanged" contains "unchanged" "$(out)"
  check "swarm: ... the result says unchanged" \
    result_is "$rf" status=unchanged rolled_back=false "image_before=$reg:latest@$latest2" "image_after=$reg:latest@$latest2" "digest=$latest2"
  expect_rc 4 "swarm: --no-rollback leaves a failed update as it is" \
    env HOOKRUN_RESULT="$rf" "$scripts/swarm-update.sh" --service "$svc" --image "$reg:v3" --timeout 60 --no-rollback
  check "swarm: ... the spec stays at v3" eq "$reg:v3@${dig[v3]}" "$(spec_of "$svc")"
  check "swarm: ... the result says failed, not rolled back, now v3" \
    result_is "$rf" status=failed rolled_back=false "image_after=$reg:v3@${dig[v3]}" exit_code=4
  expect_rc 0 "swarm: a broken service is repaired by deploying v2" \
    "$scripts/swarm-update.sh" --service "$svc" --image "$reg:v2@${dig[v2]}" --timeout 120 --settle 2
  check "swarm: ... and answers v2" http_is "$port" v2
  expect_rc 3 "swarm: an image that cannot be pulled changes nothing" \
    env HOOKRUN_RESULT="$rf" "$scripts/swarm-update.sh" --service "$svc" --image "$reg:nosuchtag" --timeout 30
  check "swarm: ... the result says aborted, still v2" \
    result_is "$rf" status=aborted rolled_back=false "image_after=$reg:v2@${dig[v2]}" "digest=${dig[v2]}" exit_code=3
  check "swarm: still v2 after the failed pull" http_is "$port" v2
  expect_rc 2 "swarm: no such service" env HOOKRUN_RESULT="$rf" "$scripts/swarm-update.sh" --service "$run_id-nosuch" --image "$reg:v1"
  check "swarm: ... still one result line, and a result" eq "1 invalid" "$(stdout_lines) $(result_parse "$rf" >/dev/null; echo "${RES[status]}")"

  # --- exact names: an id prefix is never taken for a name -----------------------------------
  id="$(docker service inspect --format '{{.ID}}' "$svc")"
  expect_rc 2 "swarm: an id prefix (${id:0:4}) of $svc is not a service name" \
    "$scripts/swarm-update.sh" --service "${id:0:4}" --image "$reg:v1" --settle 1
  check "swarm: ... $svc was not touched" eq "$reg:v2@${dig[v2]}" "$(spec_of "$svc")"
  other="${id:0:3}"
  docker service create --detach --quiet --name "$other" "$reg:v1@${dig[v1]}" >/dev/null
  echo "$other" >>"$work/extra-services"
  expect_rc 0 "swarm: a service NAMED $other (a prefix of $svc's id) is the one updated" \
    "$scripts/swarm-update.sh" --service "$other" --image "$reg:v2" --settle 1
  check "swarm: ... $other runs v2" eq "$reg:v2@${dig[v2]}" "$(spec_of "$other")"
  check "swarm: ... and $svc was not touched" eq "$reg:v2@${dig[v2]}" "$(docker service inspect --format '{{.Spec.TaskTemplate.ContainerSpec.Image}}|{{.UpdatedAt}}' "$svc" | cut -d'|' -f1)"
  docker service rm "$other" >/dev/null
  expect_rc 0 "swarm: the full id is taken as an explicit id" \
    env HOOKRUN_RESULT="$rf" "$scripts/swarm-update.sh" --service "$id" --image "$reg:v1" --settle 1
  check "swarm: ... the result names the service by name" result_is "$rf" "target=swarm:$svc" status=updated
  check "swarm: ... which runs v1" http_is "$port" v1

  # --- concurrent runs on one service ----------------------------------------------------------
  bg_run a "$scripts/swarm-update.sh" --service "$svc" --image "$reg:v2" --settle 5
  a=$BG_PID
  bg_run b "$scripts/swarm-update.sh" --service "$svc" --image "$reg:g1" --settle 5
  b=$BG_PID
  local rca=0 rcb=0
  wait "$a" || rca=$?
  wait "$b" || rcb=$?
  check "swarm: two runs started together both succeed (exit $rca and $rcb)" eq "0 0" "$rca $rcb"
  check "swarm: ... each printed one result line" eq "1 1" "$(wc -l <"$CHECK_DIR/a.out") $(wc -l <"$CHECK_DIR/b.out")"
  if grep -q 'another run is deploying' "$CHECK_DIR/b.err"; then second="$reg:g1@${dig[g1]}"
  else second="$reg:v2@${dig[v2]}"; fi
  check "swarm: ... exactly one of them waited for the other" \
    eq 1 "$(cat "$CHECK_DIR/a.err" "$CHECK_DIR/b.err" | grep -c 'another run is deploying')"
  check "swarm: ... the one that waited deployed last: the spec is its image" eq "$second" "$(spec_of "$svc")"
  check "swarm: ... neither rolled anything back" bash -c "! grep -q 'rolling back' '$CHECK_DIR/a.err' '$CHECK_DIR/b.err'"

  # a run that must not wait gives up at once, changing nothing
  bg_run a "$scripts/swarm-update.sh" --service "$svc" --image "$reg:v1" --settle 8
  a=$BG_PID
  wait_log "$CHECK_DIR/a.err" "pulling"
  expect_rc 5 "swarm: --lock-timeout 0 while another run deploys the service: busy" \
    env HOOKRUN_RESULT="$rf" "$scripts/swarm-update.sh" --service "$svc" --image "$reg:v3" --lock-timeout 0
  check "swarm: ... says who holds it" contains "pid $a" "$(out)"
  check "swarm: ... the result says busy" result_is "$rf" status=busy rolled_back=false exit_code=5
  rca=0
  wait "$a" || rca=$?
  check "swarm: ... the other run finished normally (exit $rca)" eq 0 "$rca"
  check "swarm: ... and its image is what runs (the busy run changed nothing)" eq "$reg:v1@${dig[v1]}" "$(spec_of "$svc")"

  # a run killed with SIGKILL releases the lock at once
  bg_run a "$scripts/swarm-update.sh" --service "$svc" --image "$reg:v2" --settle 30
  a=$BG_PID
  wait_log "$CHECK_DIR/a.err" "updating service"
  sleep 2
  kill -KILL "$a"
  wait "$a" 2>/dev/null || true
  expect_rc 0 "swarm: after a run was killed (SIGKILL), the next one gets the lock at once" \
    "$scripts/swarm-update.sh" --service "$svc" --image "$reg:g2" --settle 2 --lock-timeout 5
  check "swarm: ... without waiting" bash -c "! grep -q 'another run is deploying' '$CHECK_DIR/out.log'"
  check "swarm: ... and deployed its image" eq "$reg:g2@${dig[g2]}" "$(spec_of "$svc")"

  # another deploy (not this script: another host, an operator) replaces the update mid-check
  bg_run a "$scripts/swarm-update.sh" --service "$svc" --image "$reg:v4" --timeout 60
  a=$BG_PID
  wait_log "$CHECK_DIR/a.err" "updating service"
  sleep 3
  docker service update --detach --quiet --image "$reg:v1@${dig[v1]}" "$svc" >/dev/null
  rca=0
  wait "$a" || rca=$?
  check "swarm: an update replaced by another deploy mid-check: superseded (exit $rca)" eq 5 "$rca"
  check "swarm: ... it rolled nothing back" bash -c "! grep -q 'rolling back' '$CHECK_DIR/a.err'"
  check "swarm: ... the other deploy's image stays" eq "$reg:v1@${dig[v1]}" "$(spec_of "$svc")"
  check "swarm: ... and runs" http_is "$port" v1

  # --health-url
  expect_rc 0 "swarm: --health-url that answers" \
    "$scripts/swarm-update.sh" --service "$svc" --image "$reg:v2" --settle 2 --health-url "http://127.0.0.1:$port/"
  expect_rc 3 "swarm: --health-url that answers 404: rolled back" \
    env HOOKRUN_RESULT="$rf" "$scripts/swarm-update.sh" --service "$svc" --image "$reg:g3" --settle 2 --timeout 20 --health-url "http://127.0.0.1:$port/nosuch.html"
  check "swarm: ... the result says why" contains "health-url" "$(result_parse "$rf" >/dev/null; echo "${RES[message]}")"
  check "swarm: ... the service answers v2" http_is "$port" v2
}

