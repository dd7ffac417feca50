#!/usr/bin/env bash
# Run a benchmark command with a background job paused (SIGSTOP), resuming it (SIGCONT) on any exit.
# Usage: benchmarks/paused.sh PIDFILE command args...   (a missing PIDFILE just runs the command)
# On a shared machine this keeps a long-running job from skewing the timings; never leaves it stopped.
set -u
pidfile=$1; shift
pid=""
if [[ -f "$pidfile" ]]; then pid=$(cat "$pidfile"); fi
if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
  trap 'kill -CONT "$pid" 2>/dev/null' EXIT INT TERM HUP
  kill -STOP "$pid"
  echo "paused PID $pid for the run" >&2
fi
"$@"
