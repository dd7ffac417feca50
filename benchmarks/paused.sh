#!/usr/bin/env bash
# Run a benchmark command with background jobs paused (SIGSTOP), resuming them (SIGCONT) on any exit.
# Usage: benchmarks/paused.sh PIDFILE command args...   (PIDFILE: one PID per line; missing = just run)
# Each listed PID is paused with all its descendants.
# On a shared machine this keeps long-running jobs from skewing the timings; never leaves them stopped.
set -u
pidfile=$1; shift
pids=()
add_tree() {  # a listed PID and all its descendants (a wrapper shell's SIGSTOP does not stop its children)
  local pid=$1 child
  if kill -0 "$pid" 2>/dev/null; then pids+=("$pid"); fi
  for child in $(pgrep -P "$pid" 2>/dev/null); do add_tree "$child"; done
}
if [[ -f "$pidfile" ]]; then
  while read -r pid; do
    if [[ -n "$pid" ]]; then add_tree "$pid"; fi
  done < "$pidfile"
fi
if (( ${#pids[@]} )); then
  trap 'kill -CONT "${pids[@]}" 2>/dev/null' EXIT INT TERM HUP
  kill -STOP "${pids[@]}"
  echo "paused PIDs ${pids[*]} for the run" >&2
fi
"$@"
