# shellcheck shell=bash
#
# checks.sh - the check helpers of the end-to-end suites (sourced): counters, expected exit
# codes, HTTP answers, the HOOKRUN_RESULT parser and the 50 ms availability pollers.
#
# A suite sets CHECK_DIR (a private directory) before calling anything; each check prints
# "ok   DESC" or "FAIL DESC" (with the last output) and counts into $passed / $failed.

passed=0
failed=0

ok() {
  passed=$(( passed + 1 ))
  printf 'ok   %s\n' "$1"
}
not_ok() {
  failed=$(( failed + 1 ))
  printf 'FAIL %s\n' "$1"
  if [[ -s "$CHECK_DIR/last.log" ]]; then
    sed 's/^/       | /' "$CHECK_DIR/last.log" | tail -n 15
  fi
}
# check DESC COMMAND...: the command succeeds
check() {
  local desc="$1"
  shift
  if "$@" >"$CHECK_DIR/last.log" 2>&1; then ok "$desc"; else not_ok "$desc"; fi
}
# expect_rc WANT DESC COMMAND...: run COMMAND (output in last.log and out.log, stdout alone in
# stdout.log; a program is bounded by `timeout`), compare the exit code
expect_rc() {
  local want="$1" desc="$2" rc=0
  shift 2
  if [[ "$(type -t "$1")" == function ]]; then
    "$@" >"$CHECK_DIR/stdout.log" 2>"$CHECK_DIR/stderr.log" || rc=$?
  else
    timeout 600 "$@" >"$CHECK_DIR/stdout.log" 2>"$CHECK_DIR/stderr.log" || rc=$?
  fi
  cat -- "$CHECK_DIR/stderr.log" "$CHECK_DIR/stdout.log" >"$CHECK_DIR/last.log"
  cp -- "$CHECK_DIR/last.log" "$CHECK_DIR/out.log"
  if [[ "$rc" == "$want" ]]; then
    ok "$desc (exit $rc)"
  else
    not_ok "$desc (exit $rc, want $want)"
  fi
  [[ "$rc" == "$want" ]]
}
# out: what the last expect_rc printed (stderr and stdout)
out() { cat -- "$CHECK_DIR/out.log"; }
# stdout_lines: the number of lines the last expect_rc printed on stdout
stdout_lines() { wc -l <"$CHECK_DIR/stdout.log"; }

# eq WANT GOT: string equality, with a message
eq() {
  [[ "$2" == "$1" ]] && return 0
  echo "want: $1"
  echo " got: $2"
  return 1
}
contains() {
  [[ "$2" == *"$1"* ]] && return 0
  echo "want something containing: $1"
  echo "got: $2"
  return 1
}
# http_is PORT TEXT: GET http://127.0.0.1:PORT/ answers exactly TEXT (retries for 10 s)
http_is() {
  local i body=""
  for (( i = 0; i < 20; i++ )); do
    body="$(curl -fsS --max-time 2 "http://127.0.0.1:$1/" 2>/dev/null)" || body=""
    [[ "$body" == "$2" ]] && return 0
    sleep 0.5
  done
  echo "GET 127.0.0.1:$1 answered '$body', want '$2'"
  return 1
}
# exec_http_is CONTAINER TEXT: the container answers TEXT on its own port 8080 (docker exec)
exec_http_is() {
  local body
  body="$(timeout 20 docker exec "$1" wget -q -O - http://127.0.0.1:8080/ 2>&1)" || true
  eq "$2" "$body"
}
# http_body PORT [TIMEOUT]: GET http://127.0.0.1:PORT/ with bash's /dev/tcp (no process to
# start, so a poller can really ask every 50 ms); prints the first line of a 200 answer's body,
# fails on anything else (a refused connection fails at once; no answer within TIMEOUT seconds,
# default 2, fails)
http_body() {
  (
    local status line body t="${2:-2}"
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf 'GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
    IFS= read -r -t "$t" status <&3 || exit 1
    [[ "$status" == "HTTP/1."?" 200 "* ]] || exit 1
    while IFS= read -r -t "$t" line <&3; do
      [[ -z "${line%$'\r'}" ]] && break
    done
    IFS= read -r -t "$t" body <&3 || [[ -n "$body" ]] || exit 1
    printf '%s\n' "$body"
  )
}
# free_port START: the first port from START on that nothing listens on (127.0.0.1)
free_port() {
  local p="$1"
  while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do
    p=$(( p + 1 ))
  done
  printf '%s\n' "$p"
}

# bg_run NAME COMMAND...: start COMMAND in the background with its stdout in $CHECK_DIR/NAME.out
# and its stderr in NAME.err, both emptied first (so wait_log never sees an earlier run's
# lines); BG_PID is its pid
bg_run() {
  local name="$1"
  shift
  : >"$CHECK_DIR/$name.out"
  : >"$CHECK_DIR/$name.err"
  "$@" >>"$CHECK_DIR/$name.out" 2>>"$CHECK_DIR/$name.err" &
  # shellcheck disable=SC2034 # read by the suites
  BG_PID=$!
}
# wait_log FILE TEXT: wait (up to 60 s) until FILE contains TEXT
wait_log() {
  local i
  for (( i = 0; i < 600; i++ )); do
    grep -qF -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "timed out waiting for '$2' in $1" >&2
  return 1
}

# --- HOOKRUN_RESULT --------------------------------------------------------------------------

declare -A RES=()
# result_parse FILE: read the result file the way a consumer must (key=value lines and
# key<<DELIMITER ... DELIMITER blocks, as GitHub Actions' output files); RES gets the values of
# the LAST result in it, RES_COUNT the number of results (target keys). Fails, naming the line,
# on anything else.
result_parse() {
  local file="$1" line key delim value n=0
  RES=()
  RES_COUNT=0
  [[ -f "$file" ]] || { echo "no result file $file"; return 1; }
  while IFS= read -r line || [[ -n "$line" ]]; do
    n=$(( n + 1 ))
    if [[ "$line" =~ ^([a-z_]+)=(.*)$ ]]; then
      key="${BASH_REMATCH[1]}"
      RES[$key]="${BASH_REMATCH[2]}"
    elif [[ "$line" =~ ^([a-z_]+)\<\<([A-Za-z0-9_]+)$ ]]; then
      key="${BASH_REMATCH[1]}" delim="${BASH_REMATCH[2]}" value="" 
      local first=1 closed=0
      while IFS= read -r line; do
        n=$(( n + 1 ))
        if [[ "$line" == "$delim" ]]; then closed=1; break; fi
        if (( first )); then value="$line"; first=0; else value+=$'\n'"$line"; fi
      done
      (( closed )) || { echo "line $n: block $key<<$delim is not closed"; return 1; }
      RES[$key]="$value"
    else
      echo "line $n of $file is neither key=value nor key<<DELIMITER: $(printf '%q' "$line")"
      return 1
    fi
    [[ "$key" == target ]] && RES_COUNT=$(( RES_COUNT + 1 ))
  done <"$file"
  return 0
}
# result_is FILE KEY=VALUE...: the last result in FILE has these values (and parses)
result_is() {
  local file="$1" kv k bad=0
  shift
  result_parse "$file" || return 1
  for kv in "$@"; do
    k="${kv%%=*}"
    if [[ "${RES[$k]-<unset>}" != "${kv#*=}" ]]; then
      echo "result $k: want $(printf '%q' "${kv#*=}"), got $(printf '%q' "${RES[$k]-<unset>}")"
      bad=1
    fi
  done
  (( ! bad ))
}
# result_complete FILE: the last result has every documented key, message equals the stdout
# line of the last expect_rc, and exit_code is a number
result_complete() {
  local k
  result_parse "$1" || return 1
  for k in target status rolled_back image_before image_requested image_after digest exit_code message; do
    [[ -n "${RES[$k]+set}" ]] || { echo "result has no $k"; return 1; }
  done
  [[ "${RES[exit_code]}" =~ ^[0-9]+$ ]] || { echo "exit_code ${RES[exit_code]}"; return 1; }
  [[ "${RES[rolled_back]}" == true || "${RES[rolled_back]}" == false ]] || { echo "rolled_back ${RES[rolled_back]}"; return 1; }
  eq "$(cat -- "$CHECK_DIR/stdout.log")" "${RES[message]}"
}

# --- availability during a deploy --------------------------------------------------------------
#
# poll_start NAME COMMAND...: start COMMAND every 50 ms in the background until poll_stop NAME,
# recording "ok OUTPUT" or "fail" with a timestamp per attempt in $CHECK_DIR/poll.NAME.
# poll_stop NAME: stop it; sets POLL_TOTAL, POLL_FAILED, POLL_DOWN (seconds from the first to
# the last failed attempt, 0 if none), POLL_FIRST and POLL_LAST (the first and last answer) and
# POLL_SLOWEST (the longest a successful attempt took, in seconds).
poll_start() {
  local name="$1"
  shift
  : >"$CHECK_DIR/poll.$name"
  : >"$CHECK_DIR/poll.$name.run"
  (
    local r t took next wait
    next="${EPOCHREALTIME/./}"
    while [[ -e "$CHECK_DIR/poll.$name.run" ]]; do
      t="$EPOCHREALTIME"
      if r="$("$@" 2>/dev/null)"; then
        took=$(( ${EPOCHREALTIME/./} - ${t/./} ))
        printf '%s ok %s %s\n' "$t" "$r" "$took"
      else
        printf '%s fail\n' "$t"
      fi
      # one attempt every 50 ms (microseconds), whatever an attempt took
      next=$(( next + 50000 ))
      wait=$(( next - ${EPOCHREALTIME/./} ))
      if (( wait > 0 )); then
        sleep "0.$(printf '%06d' "$wait")"
      else
        next="${EPOCHREALTIME/./}"
      fi
    done >>"$CHECK_DIR/poll.$name"
  ) &
  eval "POLL_PID_$name=$!"
}
poll_stop() {
  local name="$1" pid_var="POLL_PID_$1"
  rm -f -- "$CHECK_DIR/poll.$name.run"
  wait "${!pid_var}" 2>/dev/null || true
  # shellcheck disable=SC2034 # read by the suites
  POLL_TOTAL="$(wc -l <"$CHECK_DIR/poll.$name")"
  # shellcheck disable=SC2034
  POLL_FAILED="$(grep -c ' fail$' "$CHECK_DIR/poll.$name" || true)"
  # shellcheck disable=SC2034
  POLL_DOWN="$(awk '$2 == "fail" { if (first == "") first = $1; last = $1 }
    END { if (first == "") print "0.00"; else printf "%.2f\n", last - first }' "$CHECK_DIR/poll.$name")"
  # shellcheck disable=SC2034
  POLL_FIRST="$(awk '$2 == "ok" { print $3; exit }' "$CHECK_DIR/poll.$name")"
  # shellcheck disable=SC2034
  POLL_LAST="$(awk '$2 == "ok" { last = $3 } END { print last }' "$CHECK_DIR/poll.$name")"
  # shellcheck disable=SC2034
  POLL_SLOWEST="$(awk '$2 == "ok" && $4 > max { max = $4 } END { printf "%.2f\n", max / 1000000 }' "$CHECK_DIR/poll.$name")"
}
