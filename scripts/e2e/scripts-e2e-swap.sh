# shellcheck shell=bash
# shellcheck disable=SC2154 # reg, dig, scripts, run_id, work come from scripts-e2e.sh
#
# scripts-e2e-swap.sh - the container-swap.sh scenarios of scripts-e2e.sh (sourced by it; each
# group runs in parallel with the others): configuration kept across swaps, rollbacks, the
# late-crash window with its default, health probes, exact-name lookup against colliding id
# prefixes, concurrent and killed runs, leftovers (only provably own ones touched), and the
# downtime of stop-first and start-first swaps polled every 50 ms.

# probe, probe_is TEXT, insp TEMPLATE: for group_swap_misc (its $net and $c1)
# probe: what the alias answers inside the network (busybox wget -T crashes: bounded outside)
probe() {
  timeout 10 docker run --rm --network "$net" "$reg:v1" wget -q -O - http://webalias:8080/ 2>/dev/null
}
probe_is() {
  local i got=""
  for (( i = 0; i < 10; i++ )); do
    got="$(probe || true)"
    [[ "$got" == "$1" ]] && return 0
    sleep 1
  done
  echo "webalias answered '$got', want '$1'"
  return 1
}
insp() { docker inspect --format "$1" "$c1"; }
# is_id VALUE: a full container id
is_id() { [[ "$1" =~ ^[0-9a-f]{64}$ ]]; }

group_swap_misc() {
  local net="$run_id-net" vol="$run_id-vol" c1="$run_id-c1" c2="$run_id-c2" rf="$CHECK_DIR/result"
  local pport id other a b rca rcb old_id second
  docker network create "$net" >/dev/null
  docker volume create "$vol" >/dev/null
  docker run -d --name "$c1" --network "$net" --network-alias webalias --restart unless-stopped \
    -e CUSTOM=keep -v "$vol:/data" --label team=e2e --label org.hookrun.e2e.version=v1 \
    "$reg:v1" >/dev/null
  docker exec "$c1" sh -c 'echo persisted > /data/file'
  check "swap: $c1 answers v1 on $net alias webalias" probe_is v1
  expect_rc 0 "swap (start-first, no ports): v1 -> v2" \
    env HOOKRUN_RESULT="$rf" "$scripts/container-swap.sh" --container "$c1" --image "$reg:v2" --health-timeout 60 --settle 5
  check "swap: exactly one result line on stdout" eq 1 "$(stdout_lines)"
  check "swap: the result has every key, its message is the result line" result_complete "$rf"
  check "swap: the result names the container, the images before and after, the digest" \
    result_is "$rf" "target=container:$c1" status=updated rolled_back=false "image_before=$reg:v1" \
    "image_requested=$reg:v2@${dig[v2]}" "image_after=$reg:v2@${dig[v2]}" "digest=${dig[v2]}" exit_code=0
  check "swap: the container keeps its name and runs v2" eq "$reg:v2@${dig[v2]}" "$(insp '{{.Config.Image}}')"
  check "swap: it is running" eq "true" "$(insp '{{.State.Running}}')"
  check "swap: env set on the container is kept" contains "CUSTOM=keep" "$(insp '{{json .Config.Env}}')"
  check "swap: env from the old image is replaced by the new image's" \
    contains '"APP_VERSION=v2"' "$(insp '{{json .Config.Env}}')"
  check "swap: labels set on the container are kept" eq "e2e" "$(insp '{{index .Config.Labels "team"}}')"
  check "swap: labels from the old image are replaced by the new image's" \
    eq "v2" "$(insp '{{index .Config.Labels "org.hookrun.e2e.version"}}')"
  check "swap: the new container says which one it replaced" \
    is_id "$(insp '{{index .Config.Labels "org.hookrun.container-swap.replaces"}}')"
  check "swap: the restart policy is kept" eq "unless-stopped" "$(insp '{{.HostConfig.RestartPolicy.Name}}')"
  check "swap: the volume is mounted and its data is there" \
    eq "persisted" "$(docker exec "$c1" cat /data/file)"
  check "swap: network and alias are kept: webalias answers v2" probe_is v2
  check "swap: no temporary container is left" \
    eq "" "$(docker ps -a --format '{{.Names}}' --filter "name=^$c1-hookrun")"

  expect_rc 3 "swap (start-first): broken v3 is rolled back" \
    env HOOKRUN_RESULT="$rf" "$scripts/container-swap.sh" --container "$c1" --image "$reg:v3" --health-timeout 30 --settle 5
  check "swap: after the rollback $c1 runs v2" eq "$reg:v2@${dig[v2]}" "$(insp '{{.Config.Image}}')"
  check "swap: the result says rolled back" \
    result_is "$rf" status=rolled_back rolled_back=true "image_after=$reg:v2@${dig[v2]}" "digest=${dig[v2]}" exit_code=3
  check "swap: after the rollback webalias still answers v2" probe_is v2
  check "swap: after the rollback no temporary container is left" \
    eq "" "$(docker ps -a --format '{{.Names}}' --filter "name=^$c1-hookrun")"
  expect_rc 3 "swap: late crash (v4 serves 8 s, then exits) is rolled back with the default window" \
    "$scripts/container-swap.sh" --container "$c1" --image "$reg:v4"
  check "swap: ... caught by the 15 s window" contains "within 15s of starting" "$(out)"
  check "swap: ... $c1 still runs v2" eq "$reg:v2@${dig[v2]}" "$(insp '{{.Config.Image}}')"
  expect_rc 3 "swap: an image whose HEALTHCHECK fails (v5) is rolled back" \
    "$scripts/container-swap.sh" --container "$c1" --image "$reg:v5" --settle 5
  check "swap: ... because it is unhealthy" contains "unhealthy" "$(out)"
  expect_rc 3 "swap: a failing --health-cmd (argv after --) rolls back" \
    "$scripts/container-swap.sh" --container "$c1" --image "$reg:v1" --health-timeout 5 --settle 2 \
    -- wget -q -O /dev/null http://127.0.0.1:9/
  check "swap: ... and $c1 still runs v2" eq "$reg:v2@${dig[v2]}" "$(insp '{{.Config.Image}}')"
  expect_rc 3 "swap: a --health-url on the new container's address that answers 404 rolls back" \
    "$scripts/container-swap.sh" --container "$c1" --image "$reg:v1" --health-timeout 5 --settle 2 \
    --health-url http://container:8080/nosuch.html
  check "swap: ... and $c1 still runs v2" eq "$reg:v2@${dig[v2]}" "$(insp '{{.Config.Image}}')"
  expect_rc 0 "swap: a --health-url on the new container's address that answers" \
    "$scripts/container-swap.sh" --container "$c1" --image "$reg:g4" --health-timeout 30 --settle 2 \
    --health-url http://container:8080/
  expect_rc 0 "swap: a passing --health-cmd (argv after --)" \
    "$scripts/container-swap.sh" --container "$c1" --image "$reg:v1" --health-timeout 30 --settle 2 \
    -- wget -q -O /dev/null http://127.0.0.1:8080/
  check "swap: webalias answers v1" probe_is v1

  # --- exact names ---------------------------------------------------------------------------
  id="$(insp '{{.ID}}')"
  expect_rc 2 "swap: an id prefix (${id:0:4}) of $c1 is not a container name" \
    "$scripts/container-swap.sh" --container "${id:0:4}" --image "$reg:v2" --settle 1
  check "swap: ... $c1 was not touched" eq "$id" "$(insp '{{.ID}}')"
  other="${id:0:3}"
  docker run -d --name "$other" "$reg:v1" >/dev/null
  echo "$other" >>"$work/extra-containers"
  expect_rc 0 "swap: a container NAMED $other (a prefix of $c1's id) is the one swapped" \
    env HOOKRUN_RESULT="$rf" "$scripts/container-swap.sh" --container "$other" --image "$reg:v2" --settle 1
  check "swap: ... $other runs v2" eq "$reg:v2@${dig[v2]}" "$(docker inspect --format '{{.Config.Image}}' "$other")"
  check "swap: ... the result names it" result_is "$rf" "target=container:$other" status=updated
  check "swap: ... and $c1 was not touched" eq "$id" "$(insp '{{.ID}}')"
  docker rm -f "$other" >/dev/null
  expect_rc 0 "swap: the full id is taken as an explicit id" \
    env HOOKRUN_RESULT="$rf" "$scripts/container-swap.sh" --container "$id" --image "$reg:v2" --settle 1
  check "swap: ... the result names the container by name" result_is "$rf" "target=container:$c1" status=updated
  check "swap: ... which runs v2" eq "$reg:v2@${dig[v2]}" "$(insp '{{.Config.Image}}')"
  expect_rc 2 "swap: a temporary container of a swap is not a target" \
    "$scripts/container-swap.sh" --container "$c1-hookrun-new" --image "$reg:v1"

  # --- concurrent runs, a killed run, leftovers ------------------------------------------------
  bg_run a "$scripts/container-swap.sh" --container "$c1" --image "$reg:v1" --settle 3
  a=$BG_PID
  bg_run b "$scripts/container-swap.sh" --container "$c1" --image "$reg:g5" --settle 3
  b=$BG_PID
  rca=0 rcb=0
  wait "$a" || rca=$?
  wait "$b" || rcb=$?
  check "swap: two runs started together both succeed (exit $rca and $rcb)" eq "0 0" "$rca $rcb"
  check "swap: ... each printed one result line" eq "1 1" "$(wc -l <"$CHECK_DIR/a.out") $(wc -l <"$CHECK_DIR/b.out")"
  check "swap: ... no 'in use' conflict" bash -c "! grep -qi 'in use' '$CHECK_DIR/a.err' '$CHECK_DIR/b.err'"
  if grep -q 'another run is deploying' "$CHECK_DIR/b.err"; then second="$reg:g5@${dig[g5]}"
  else second="$reg:v1@${dig[v1]}"; fi
  check "swap: ... the one that waited deployed last" eq "$second" "$(insp '{{.Config.Image}}')"
  check "swap: ... no temporary container is left" eq "" "$(docker ps -a --format '{{.Names}}' --filter "name=^$c1-hookrun")"

  bg_run a "$scripts/container-swap.sh" --container "$c1" --image "$reg:v2" --settle 8
  a=$BG_PID
  wait_log "$CHECK_DIR/a.err" "pulling"
  expect_rc 5 "swap: --lock-timeout 0 while another run swaps it: busy" \
    env HOOKRUN_RESULT="$rf" "$scripts/container-swap.sh" --container "$c1" --image "$reg:v3" --lock-timeout 0
  check "swap: ... the result says busy" result_is "$rf" status=busy rolled_back=false exit_code=5
  rca=0
  wait "$a" || rca=$?
  check "swap: ... the other run finished normally (exit $rca)" eq 0 "$rca"
  check "swap: ... and its image runs" eq "$reg:v2@${dig[v2]}" "$(insp '{{.Config.Image}}')"

  old_id="$(insp '{{.ID}}')"
  bg_run a "$scripts/container-swap.sh" --container "$c1" --image "$reg:g6" --settle 30
  a=$BG_PID
  wait_log "$CHECK_DIR/a.err" "swapping $c1"
  sleep 3
  kill -KILL "$a"
  wait "$a" 2>/dev/null || true
  check "swap: a run killed (SIGKILL) in its check leaves $c1-hookrun-new" \
    eq "$reg:g6@${dig[g6]}" "$(docker inspect --format '{{.Config.Image}}' "$c1-hookrun-new" 2>&1)"
  expect_rc 0 "swap: the next run gets the lock at once, removes that leftover and swaps" \
    "$scripts/container-swap.sh" --container "$c1" --image "$reg:g7" --settle 2 --lock-timeout 5
  check "swap: ... it said what it removed" contains "removing $c1-hookrun-new" "$(out)"
  check "swap: ... $c1 runs g7" eq "$reg:g7@${dig[g7]}" "$(insp '{{.Config.Image}}')"
  check "swap: ... the container that was there before the killed run was replaced, not lost" \
    bash -c "[[ \"\$(docker inspect --format '{{index .Config.Labels \"org.hookrun.container-swap.replaces\"}}' '$c1')\" == '$old_id' ]]"
  check "swap: ... no temporary container is left" eq "" "$(docker ps -a --format '{{.Names}}' --filter "name=^$c1-hookrun")"

  bg_run a env HOOKRUN_RESULT="$rf" "$scripts/container-swap.sh" --container "$c1" --image "$reg:g8" --settle 30
  a=$BG_PID
  wait_log "$CHECK_DIR/a.err" "swapping $c1"
  sleep 2
  kill -TERM "$a"
  rca=0
  wait "$a" || rca=$?
  check "swap: a run ended by SIGTERM (as a hook's timeout does) exits 143 (exit $rca)" eq 143 "$rca"
  check "swap: ... still prints its result line" contains "interrupted by SIGTERM" "$(cat "$CHECK_DIR/a.out")"
  check "swap: ... and writes its result" result_is "$rf" status=interrupted rolled_back=false exit_code=143
  expect_rc 0 "swap: the next run cleans up after it (and finds g7 already running)" \
    "$scripts/container-swap.sh" --container "$c1" --image "$reg:g7" --settle 1
  check "swap: ... no temporary container is left" eq "" "$(docker ps -a --format '{{.Names}}' --filter "name=^$c1-hookrun")"

  docker create --name "$c1-hookrun-old" "$reg:v1" >/dev/null
  old_id="$(insp '{{.ID}}')"
  expect_rc 1 "swap: a $c1-hookrun-old that is not provably a leftover of this script: refused" \
    env HOOKRUN_RESULT="$rf" "$scripts/container-swap.sh" --container "$c1" --image "$reg:v2" --settle 1
  check "swap: ... says why" contains "not provably left by container-swap.sh" "$(out)"
  check "swap: ... the result says error" result_is "$rf" status=error exit_code=1
  check "swap: ... $c1 was not touched" eq "$old_id" "$(insp '{{.ID}}')"
  check "swap: ... nor $c1-hookrun-old" eq "created" "$(docker inspect --format '{{.State.Status}}' "$c1-hookrun-old")"
  docker rm -f "$c1-hookrun-old" >/dev/null

  # --- a container publishing a port: stop-first ----------------------------------------------
  pport="$(free_port 18200)"
  docker run -d --name "$c2" -p "127.0.0.1:$pport:8080" --restart always -e CUSTOM=two \
    --label team=e2e "$reg:v1" >/dev/null
  check "swap: $c2 answers v1 on published port $pport" http_is "$pport" v1
  expect_rc 0 "swap (published port, stop-first): v1 -> v2" \
    "$scripts/container-swap.sh" --container "$c2" --image "$reg:v2" --health-timeout 60 --settle 5
  check "swap: the output says stop-first" contains "stop-first" "$(out)"
  check "swap: port $pport answers v2" http_is "$pport" v2
  check "swap: $c2 keeps the port binding" \
    eq "127.0.0.1:$pport" "$(docker inspect --format '{{range $p, $b := .HostConfig.PortBindings}}{{range $b}}{{.HostIP}}:{{.HostPort}}{{end}}{{end}}' "$c2")"
  check "swap: $c2 keeps env, label and restart policy" \
    eq "CUSTOM=two e2e always" "$(docker inspect --format '{{index .Config.Env 0}} {{index .Config.Labels "team"}} {{.HostConfig.RestartPolicy.Name}}' "$c2")"
  expect_rc 3 "swap (published port): broken v3 is rolled back" \
    "$scripts/container-swap.sh" --container "$c2" --image "$reg:v3" --health-timeout 30 --settle 5
  check "swap: port $pport still answers v2 after the rollback" http_is "$pport" v2
  check "swap: $c2 runs v2 under its name" \
    eq "$reg:v2@${dig[v2]}" "$(docker inspect --format '{{.Config.Image}}' "$c2")"
  expect_rc 4 "swap (stop-first): --no-rollback leaves the failed container as $c2" \
    env HOOKRUN_RESULT="$rf" "$scripts/container-swap.sh" --container "$c2" --image "$reg:v3" --settle 3 --no-rollback
  check "swap: ... the result says failed, now v3" \
    result_is "$rf" status=failed rolled_back=false "image_after=$reg:v3@${dig[v3]}" exit_code=4
  check "swap: ... and the old one stopped as $c2-hookrun-old" \
    eq "$reg:v2@${dig[v2]} exited" "$(docker inspect --format '{{.Config.Image}} {{.State.Status}}' "$c2-hookrun-old")"
  expect_rc 0 "swap: the next run rolls that swap back (its leftovers prove to be its own), then swaps" \
    "$scripts/container-swap.sh" --container "$c2" --image "$reg:g8" --settle 2
  check "swap: ... it said so" contains "rolling back an interrupted swap" "$(out)"
  check "swap: ... port $pport answers g8" http_is "$pport" g8
  check "swap: ... no temporary container is left" eq "" "$(docker ps -a --format '{{.Names}}' --filter "name=^$c2-hookrun-[no]")"
  expect_rc 0 "swap: redeploy the previous image (v1) with --keep-old" \
    "$scripts/container-swap.sh" --container "$c2" --image "$reg:v1" --health-timeout 30 --settle 2 --keep-old
  check "swap: port $pport answers v1" http_is "$pport" v1
  check "swap: the old container is kept stopped, restart policy no" \
    eq "exited no" "$(docker inspect --format '{{.State.Status}} {{.HostConfig.RestartPolicy.Name}}' "$c2-hookrun-prev")"
  expect_rc 0 "swap: the next --keep-old replaces that kept container (provably the one it replaced)" \
    "$scripts/container-swap.sh" --container "$c2" --image "$reg:v2" --settle 2 --keep-old
  check "swap: ... $c2-hookrun-prev is now the v1 container" \
    eq "$reg:v1@${dig[v1]}" "$(docker inspect --format '{{.Config.Image}}' "$c2-hookrun-prev")"
  expect_rc 0 "swap: the image it already runs is a no-op" \
    env HOOKRUN_RESULT="$rf" "$scripts/container-swap.sh" --container "$c2" --image "$reg:v2"
  check "swap: ... and says unchanged" contains "unchanged" "$(out)"
  check "swap: ... the result says unchanged" result_is "$rf" status=unchanged rolled_back=false "image_after=$reg:v2@${dig[v2]}" "digest=${dig[v2]}"
  expect_rc 2 "swap: no such container" env HOOKRUN_RESULT="$rf" "$scripts/container-swap.sh" --container "$run_id-nosuch" --image "$reg:v1"
  check "swap: ... still one result line, and a result" eq "1 invalid" "$(stdout_lines) $(result_parse "$rf" >/dev/null; echo "${RES[status]}")"
  expect_rc 3 "swap: an image that cannot be pulled changes nothing" \
    env HOOKRUN_RESULT="$rf" "$scripts/container-swap.sh" --container "$c2" --image "$reg:nosuchtag"
  check "swap: ... the result says aborted, still v2" \
    result_is "$rf" status=aborted rolled_back=false "image_after=$reg:v2@${dig[v2]}" exit_code=3
  check "swap: port $pport still answers v2" http_is "$pport" v2
}

# The downtime of a deploy, polled every 50 ms: stop-first (a published port, each poll failing
# after 2 s) and start-first behind a network alias, both through a proxy that retries a failed
# connection on the other address (as nginx-proxy's nginx does: proxy_next_upstream; its clients
# wait up to 5 s, the slowest answer is reported) and with clients resolving the alias
# themselves (Docker's DNS alone).
group_swap_downtime() {
  local net="$run_id-dnet" sf="$run_id-sf" sa="$run_id-sa" proxy="$run_id-proxy" poller="$run_id-poller"
  local pport qport v old=v1 sf_failed=0 sf_total=0 sf_down="" sa_failed=0 sa_total=0 dns_failed dns_total
  pport="$(free_port 18250)"
  docker run -d --name "$sf" -p "127.0.0.1:$pport:8080" "$reg:v1" >/dev/null
  check "downtime: $sf answers v1 on published port $pport" http_is "$pport" v1
  for v in v2 v1; do
    poll_start sf http_body "$pport"
    sleep 1
    expect_rc 0 "downtime: stop-first swap of $sf to $v" "$scripts/container-swap.sh" --container "$sf" --image "$reg:$v"
    sleep 1
    poll_stop sf
    echo "#   stop-first swap to $v: $POLL_FAILED of $POLL_TOTAL polls failed, over ${POLL_DOWN}s (answers $POLL_FIRST -> $POLL_LAST)"
    check "downtime: ... the answers went from the old version to $v" eq "$old $v" "$POLL_FIRST $POLL_LAST"
    sf_failed=$(( sf_failed + POLL_FAILED )) sf_total=$(( sf_total + POLL_TOTAL )) sf_down+="${POLL_DOWN}s "
    old="$v"
  done
  check "downtime: the poller sees a stop-first swap's downtime (it can fail)" test "$sf_failed" -gt 0

  docker network create "$net" >/dev/null
  docker run -d --name "$sa" --network "$net" --network-alias app "$reg:v1" >/dev/null
  qport="$(free_port 18280)"
  cat >"$CHECK_DIR/forward.sh" <<'EOF'
# one proxied connection: read the request, then GET / from each address of $BACKEND in turn
# until one answers within a second (a failed or hanging connection is retried on the next
# address, as nginx's proxy_next_upstream does)
cr="$(printf '\r')"
while IFS= read -r line; do
  case "$line" in "" | "$cr") break ;; esac
done
for ip in $(busybox nslookup "$BACKEND" 127.0.0.11 2>/dev/null | busybox awk '/^Address/ && $2 !~ /:53$/ { print $2 }'); do
  if body="$(timeout 1 wget -q -O - "http://$ip:8080/" 2>/dev/null)"; then
    printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n%s\n' "$body"
    exit 0
  fi
done
printf 'HTTP/1.0 502 Bad Gateway\r\nConnection: close\r\n\r\n'
EOF
  docker create --name "$proxy" --network "$net" -p "127.0.0.1:$qport:8080" -e BACKEND=app "$reg:v1" \
    sh -c 'exec busybox nc -ll -p 8080 -e /bin/sh /forward.sh' >/dev/null
  docker cp "$CHECK_DIR/forward.sh" "$proxy:/forward.sh"
  docker start "$proxy" >/dev/null
  check "downtime: the proxy on port $qport answers v1 for alias app" http_is "$qport" v1
  docker run -d --name "$poller" --network "$net" "$reg:v1" sh -c \
    'while :; do if r="$(timeout 2 wget -q -O - http://app:8080/ 2>/dev/null)"; then echo "ok $r"; else echo fail; fi; usleep 50000; done' >/dev/null
  old=v1
  for v in v2 v1; do
    poll_start sa http_body "$qport" 5
    sleep 1
    expect_rc 0 "downtime: start-first swap of $sa to $v behind alias app" \
      "$scripts/container-swap.sh" --container "$sa" --image "$reg:$v"
    sleep 1
    poll_stop sa
    echo "#   start-first swap to $v, through the proxy: $POLL_FAILED of $POLL_TOTAL polls failed, the slowest answer took ${POLL_SLOWEST}s (answers $POLL_FIRST -> $POLL_LAST)"
    check "downtime: ... the answers went from the old version to $v" eq "$old $v" "$POLL_FIRST $POLL_LAST"
    sa_failed=$(( sa_failed + POLL_FAILED )) sa_total=$(( sa_total + POLL_TOTAL ))
    old="$v"
  done
  docker logs "$poller" >"$CHECK_DIR/poller.log" 2>&1
  dns_total="$(grep -c -e '^ok' -e '^fail' "$CHECK_DIR/poller.log" || true)"
  dns_failed="$(grep -c '^fail' "$CHECK_DIR/poller.log" || true)"
  check "downtime: start-first behind the retrying proxy loses no poll ($sa_failed of $sa_total failed)" \
    test "$sa_failed" -eq 0 -a "$sa_total" -gt 100
  echo "#   start-first, clients resolving alias app themselves: $dns_failed of $dns_total polls failed (Docker's DNS lists a container for a moment while it starts or stops)"
  printf '# downtime, polled every 50 ms over two swaps each: stop-first (published port) %s of %s polls failed (%s); start-first behind a retrying proxy %s of %s failed; start-first with clients resolving the alias themselves %s of %s failed\n' \
    "$sf_failed" "$sf_total" "${sf_down% }" "$sa_failed" "$sa_total" "$dns_failed" "$dns_total" >"$CHECK_DIR/summary"
}
