#!/usr/bin/env bash
# Release checks, run by CI after the tests and by scripts/release.sh before an upload:
#   build the sdist and the wheel (python -m build), check them (twine check --strict, both packaged
#   biLMs and py.typed inside the wheel), install the wheel into a fresh virtual environment and run
#   scripts/smoke_test.py there (the component, `spacy package` of a tiny trained pipeline and of a
#   packaged biLM, spacy.load of both once pip-installed).
# Usage: scripts/check_dist.sh [DIST_DIR]   (DIST_DIR keeps the built files; default: a temporary folder)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
DIST=${1:-$WORK/dist}
rm -rf "$DIST"
python -m build --outdir "$DIST" .
python -m twine check --strict "$DIST"/*
python scripts/check_wheel_contents.py "$DIST"/*.whl

python3 -m venv "$WORK/venv"
# the CPU build of torch, from the same index as the README's install command
"$WORK/venv/bin/pip" install -q torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
"$WORK/venv/bin/pip" install -q "$DIST"/*.whl build
# outside the checkout, so that `import spacy_elmo` can only find the installed wheel
cd "$WORK" && "$WORK/venv/bin/python" "$ROOT/scripts/smoke_test.py" "$WORK/smoke"
echo "dist check passed: $(ls "$DIST" | tr '\n' ' ')"
