#!/usr/bin/env bash
# Creates (or refreshes) the virtual environment of the web3.py suite and prints its python.
#
#   clients/python/setup.sh        -> /home/…/.cache/anh/clients-venv/bin/python
#
# The venv lives at ${ANH_CACHE_DIR:-$HOME/.cache/anh}/clients-venv and holds exactly
# clients/python/requirements.txt (web3 8, pytest and their pinned dependencies, from PyPI).
# Idempotent: when the venv already matches requirements.txt it prints its python at once.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REQUIREMENTS="$HERE/requirements.txt"
VENV="${ANH_CACHE_DIR:-$HOME/.cache/anh}/clients-venv"
PY="$VENV/bin/python"
STAMP="$VENV/.anh-requirements.sha256"
want="$( (cat "$REQUIREMENTS"; "${PYTHON:-python3}" --version) | sha256sum | cut -d' ' -f1)"

if [[ -x "$PY" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
    echo "$PY"
    exit 0
fi
command -v "${PYTHON:-python3}" >/dev/null || { echo "clients/python/setup.sh: python3 (3.10+) is needed" >&2; exit 1; }
rm -rf "$VENV"
mkdir -p "$(dirname "$VENV")"
echo "clients/python/setup.sh: creating $VENV" >&2
"${PYTHON:-python3}" -m venv "$VENV" >&2
"$PY" -m pip install --quiet --disable-pip-version-check --no-deps -r "$REQUIREMENTS" >&2
"$PY" -m pip check >&2
echo "$want" >"$STAMP"
echo "$PY"
