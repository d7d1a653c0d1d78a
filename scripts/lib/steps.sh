# shellcheck shell=bash
# steps.sh - timed steps for scripts/test (sourced). `step TITLE` ends the running step and
# starts the next, printing the seconds since the start; `bg_start NAME LOG COMMAND...` runs a
# step beside the others, its output in LOG, and `bg_wait NAME` waits for it, prints its log and
# returns its exit status, so a background step fails the run exactly as a foreground one;
# `steps_exit` (the caller's EXIT trap) stops the background steps still running and prints
# the table of every step: where the time went, on success and on failure alike.

steps_t0=$EPOCHSECONDS
_step_title=""
_step_start=0
_step_rows=()                                      # "START<TAB>SECONDS<TAB>STATUS<TAB>TITLE"
declare -A _bg_pid=() _bg_log=() _bg_start=() _bg_title=() _bg_keep=()

# step TITLE: the next foreground step
step() {
  _step_end ok
  _step_title="$*"
  _step_start=$EPOCHSECONDS
  printf '\n==> [%ss] %s\n' "$((EPOCHSECONDS - steps_t0))" "$*"
}

# step_failed STATUS: ends the running step as failed (exit STATUS), for a step whose failure
# the caller reports later, once the background steps beside it have been waited for (bg_wait
# would otherwise end it as ok)
step_failed() {
  _step_end "FAILED (exit $1)"
}

_step_end() { # STATUS
  if [ -n "$_step_title" ]; then
    _step_rows+=("$((_step_start - steps_t0))	$((EPOCHSECONDS - _step_start))	$1	$_step_title")
    _step_title=""
  fi
}

# bg_start [--finish] NAME LOG COMMAND...: COMMAND in the background, in a process group of its
# own (so that stopping it stops what it started); --finish: on an early exit it is waited for
# rather than stopped (a package installation must not be cut off half-way).
bg_start() {
  local keep=0
  if [ "$1" = --finish ]; then
    keep=1
    shift
  fi
  local name=$1 log=$2
  shift 2
  mkdir -p "$(dirname "$log")"
  rm -f -- "$log.end"
  _bg_log[$name]=$log
  _bg_start[$name]=$EPOCHSECONDS
  _bg_title[$name]="$name (in the background)"
  _bg_keep[$name]=$keep
  printf '\n==> [%ss] %s: started in the background (log: %s)\n' \
    "$((EPOCHSECONDS - steps_t0))" "$name" "$log"
  # Job control gives the job a process group of its own; its end time goes to LOG.end.
  set -m
  # COMMAND runs under `set -e` outside any `||`, so that a shell function stops at its first
  # failing command as it would in the foreground.
  (
    set +e
    (set -e; "$@") >"$log" 2>&1 </dev/null
    rc=$?
    echo "$EPOCHSECONDS $rc" >"$log.end"
    exit "$rc"
  ) &
  _bg_pid[$name]=$!
  set +m
}

# bg_started NAME: NAME was started and not waited for yet
bg_started() {
  [ -n "${_bg_pid[$1]:-}" ]
}

# bg_wait NAME [TITLE]: wait for NAME, print its log under TITLE, return its exit status
bg_wait() {
  local name=$1 title=${2:-$1} rc=0 end status waited=$EPOCHSECONDS
  # The time spent waiting is a row of its own, not the last foreground step's.
  _step_end ok
  wait "${_bg_pid[$name]}" || rc=$?
  if [ "$EPOCHSECONDS" -gt "$waited" ]; then
    _step_rows+=("$((waited - steps_t0))	$((EPOCHSECONDS - waited))	ok	waiting for $name")
  fi
  end=$EPOCHSECONDS
  if [ -f "${_bg_log[$name]}.end" ]; then
    read -r end _ <"${_bg_log[$name]}.end"
  fi
  status=ok
  [ "$rc" -eq 0 ] || status="FAILED (exit $rc)"
  _step_rows+=("$((_bg_start[$name] - steps_t0))	$((end - _bg_start[$name]))	$status	$title (background)")
  printf '\n==> [%ss] %s (background: %ss, %s; waited for %ss)\n' "$((EPOCHSECONDS - steps_t0))" \
    "$title" "$((end - _bg_start[$name]))" "$status" "$((EPOCHSECONDS - waited))"
  cat -- "${_bg_log[$name]}"
  unset "_bg_pid[$name]"
  return "$rc"
}

# steps_exit STATUS: the EXIT trap's part: background steps, then the table
steps_exit() {
  local status=$1 name start took st title end rc log
  if [ "$status" -eq 0 ]; then
    _step_end ok
  else
    _step_end "FAILED (exit $status)"
  fi
  for name in "${!_bg_pid[@]}"; do
    if [ "${_bg_keep[$name]}" -eq 1 ]; then
      echo "scripts/test: waiting for '$name' to finish before exiting" >&2
    else
      kill -TERM -- "-${_bg_pid[$name]}" 2>/dev/null || true
    fi
    wait "${_bg_pid[$name]}" 2>/dev/null || true
    # Ended by itself (LOG.end) or stopped here.
    end=$EPOCHSECONDS rc=stopped log=${_bg_log[$name]}
    [ -f "$log.end" ] && read -r end rc <"$log.end"
    case "$rc" in
      0) st=ok ;;
      stopped) st=stopped ;;
      *) st="FAILED (exit $rc)"
         printf '
==> %s failed; the end of its log (%s):
' "${_bg_title[$name]}" "$log"
         tail -n 30 -- "$log" ;;
    esac
    _step_rows+=("$((_bg_start[$name] - steps_t0))	$((end - _bg_start[$name]))	$st	${_bg_title[$name]} (log: $log)")
  done
  printf '\n==> time per step (seconds from the start; seconds taken)\n'
  printf '%6s %6s  %-18s %s\n' start took status step
  while IFS=$'\t' read -r start took st title; do
    printf '%6s %6s  %-18s %s\n' "$start" "$took" "$st" "$title"
  done < <(printf '%s\n' "${_step_rows[@]}" | sort -n -k1,1 -s)
  printf '%6s %6s  %-18s %s\n' 0 "$((EPOCHSECONDS - steps_t0))" "exit $status" "in all"
}
