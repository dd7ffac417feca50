#!/usr/bin/env bash
# Run a benchmark command with background jobs paused (SIGSTOP), resuming them (SIGCONT) on any exit.
# Usage: benchmarks/paused.sh PIDFILE command args...   (PIDFILE: one PID per line; missing = just run)
# On a shared machine this keeps long-running jobs from skewing the timings; never leaves them stopped.
set -u
pidfile=$1; shift
pids=()
if [[ -f "$pidfile" ]]; then
  while read -r pid; do
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then pids+=("$pid"); fi
  done < "$pidfile"
fi
if (( ${#pids[@]} )); then
  trap 'kill -CONT "${pids[@]}" 2>/dev/null' EXIT INT TERM HUP
  kill -STOP "${pids[@]}"
  echo "paused PIDs ${pids[*]} for the run" >&2
fi
"$@"
