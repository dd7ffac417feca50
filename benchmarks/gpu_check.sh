#!/usr/bin/env bash
# Issue 13's GPU checks in one run (benchmarks/gpu_check.py says what they are), within 8 minutes.
#   bash benchmarks/gpu_check.sh             # on a GPU machine: torch, numpy, safetensors, h5py suffice
#   bash benchmarks/gpu_check.sh --dry-run   # anywhere: the same code on tiny shapes, on CPU
# Results: $OUT/results.json and $OUT/results.md (OUT defaults to ./gpu_check_results).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
OUT="${OUT:-gpu_check_results}"
if ! "$PYTHON" -c "import torch, numpy, safetensors, h5py" 2>/dev/null; then
    echo "gpu_check: $PYTHON needs torch, numpy, safetensors and h5py (pip install torch numpy safetensors h5py)" >&2
    exit 2
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec timeout --signal=INT --kill-after=20 470 "$PYTHON" benchmarks/gpu_check.py --out "$OUT" "$@"
