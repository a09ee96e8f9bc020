#!/usr/bin/env bash
# Creates (or refreshes) the Python virtual environment of ANH's test-only tools.
#
# Usage: scripts/setup-python.sh
#
# The venv lives at ${ANH_CACHE_DIR:-$HOME/.cache/anh}/venv and holds pinned versions of
# onnx (builds test models), numpy and onnxruntime (the same 1.31.1 that anh-runtime loads,
# so that fixtures' expected outputs come from the same engine). Nothing at run time of the
# node needs Python: only fixture generation (runtime/testdata/gen_fixtures.py) does.
#
# Idempotent: when the venv already has exactly these pins it prints its python at once.
# Prints the path of the venv's python on stdout (progress goes to stderr).
set -euo pipefail

REQUIREMENTS=(
    "onnx==1.23.2"
    "numpy==2.3.5"
    "onnxruntime==1.31.1"
)

CACHE_DIR="${ANH_CACHE_DIR:-$HOME/.cache/anh}"
VENV="$CACHE_DIR/venv"
PY="$VENV/bin/python"
STAMP="$VENV/.anh-requirements"
WANT="$(printf '%s\n' "${REQUIREMENTS[@]}")"

if [[ -x "$PY" && -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
    echo "$PY"
    exit 0
fi

PYTHON="${PYTHON:-python3}"
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "setup-python.sh: python3 (3.10 or newer) is needed" >&2
    exit 1
fi

mkdir -p "$CACHE_DIR"
if [[ ! -x "$PY" ]]; then
    echo "setup-python.sh: creating $VENV ..." >&2
    "$PYTHON" -m venv "$VENV" >&2
fi
echo "setup-python.sh: installing ${REQUIREMENTS[*]} ..." >&2
"$PY" -m pip install --quiet --disable-pip-version-check --only-binary=:all: \
    "${REQUIREMENTS[@]}" >&2
printf '%s\n' "${REQUIREMENTS[@]}" >"$STAMP"
echo "$PY"
