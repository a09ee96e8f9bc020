#!/usr/bin/env bash
# Creates (or refreshes) the virtual environment of the web3.py suite and prints its python.
#
#   clients/python/setup.sh        -> /home/…/.cache/anh/clients-venv/bin/python
#
# The venv lives at ${ANH_CACHE_DIR:-$HOME/.cache/anh}/clients-venv and holds exactly
# clients/python/requirements.txt (web3 8, pytest and their dependencies from PyPI, every one
# pinned by sha256 and installed with --require-hashes). Idempotent: when the venv already
# matches requirements.txt it prints its python at once. Any failure exits 1 with its reason on
# stderr and leaves no venv that looks complete.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REQUIREMENTS="$HERE/requirements.txt"
CACHE_DIR="${ANH_CACHE_DIR:-$HOME/.cache/anh}"
VENV="$CACHE_DIR/clients-venv"
PY="$VENV/bin/python"
STAMP="$VENV/.anh-requirements.sha256"
PYTHON="${PYTHON:-python3}"

die() { echo "clients/python/setup.sh: $*" >&2; exit 1; }

command -v "$PYTHON" >/dev/null || die "python3 (3.10+) is needed"
want="$( (cat "$REQUIREMENTS"; "$PYTHON" --version) | sha256sum | cut -d' ' -f1)"
if [[ -x "$PY" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
    echo "$PY"
    exit 0
fi
rm -rf "$VENV"
mkdir -p "$CACHE_DIR"
echo "clients/python/setup.sh: creating $VENV" >&2
"$PYTHON" -m venv "$VENV" >&2 || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
PIP_CACHE_DIR="${PIP_CACHE_DIR:-$CACHE_DIR/pip}" "$PY" -m pip install --quiet \
    --disable-pip-version-check --no-deps --require-hashes -r "$REQUIREMENTS" >&2 \
    || die "pip could not install clients/python/requirements.txt (see pip's message above)"
"$PY" -m pip check >&2 || die "the web3.py venv's dependencies do not fit together (pip check)"
echo "$want" >"$STAMP"
echo "$PY"
