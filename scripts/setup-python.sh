#!/usr/bin/env bash
# Creates (or refreshes) the Python virtual environment of ANH's fixture generator.
#
# Usage: scripts/setup-python.sh
#
# The venv lives at ${ANH_CACHE_DIR:-$HOME/.cache/anh}/venv and holds exactly
# scripts/pins/fixtures.txt: onnx (builds test models), numpy and onnxruntime (the same 1.31.1
# that anh-runtime loads, so that fixtures' expected outputs come from the same engine), every
# package pinned by sha256 and installed with --require-hashes. Nothing at run time of the node
# needs Python: only fixture generation (runtime/testdata/gen_fixtures.py) does.
#
# Idempotent: when the venv already holds exactly these pins it prints its python at once.
# Prints the path of the venv's python on stdout (progress goes to stderr). Any failure exits 1
# with its reason on stderr and leaves no venv that looks complete.
set -euo pipefail

PINS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)/pins/fixtures.txt"
CACHE_DIR="${ANH_CACHE_DIR:-$HOME/.cache/anh}"
VENV="$CACHE_DIR/venv"
PY="$VENV/bin/python"
STAMP="$VENV/.anh-requirements.sha256"
PYTHON="${PYTHON:-python3}"

die() { echo "setup-python.sh: $*" >&2; exit 1; }

command -v "$PYTHON" >/dev/null 2>&1 || die "python3 (3.10 or newer) is needed"
want="$( (cat "$PINS"; "$PYTHON" --version) | sha256sum | cut -d' ' -f1)"
if [[ -x "$PY" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
    echo "$PY"
    exit 0
fi

rm -rf "$VENV"
mkdir -p "$CACHE_DIR"
echo "setup-python.sh: creating $VENV ..." >&2
"$PYTHON" -m venv "$VENV" >&2 || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
PIP_CACHE_DIR="${PIP_CACHE_DIR:-$CACHE_DIR/pip}" "$PY" -m pip install --quiet \
    --disable-pip-version-check --only-binary=:all: --require-hashes -r "$PINS" >&2 \
    || die "pip could not install scripts/pins/fixtures.txt (see pip's message above)"
echo "$want" >"$STAMP"
echo "$PY"
