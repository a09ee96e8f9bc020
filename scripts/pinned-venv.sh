#!/usr/bin/env bash
# Creates (or refreshes) a Python virtual environment that holds exactly a hash-pinned
# requirements file, and prints the path of its python on stdout (progress goes to stderr).
#
#   scripts/pinned-venv.sh NAME REQUIREMENTS [PIP-ARGS...]
#
# The venv lives at ${ANH_CACHE_DIR:-$HOME/.cache/anh}/NAME. Every package comes from PyPI with
# --require-hashes (pip refuses other bytes), then `pip check`. Idempotent: a stamp of the
# requirements file and the Python version says when the venv already holds exactly these pins,
# and then the python is printed at once. Any failure exits 1 with its reason on stderr and
# leaves no venv that looks complete. The one venv maker of the repository: the fixture
# generator (scripts/setup-python.sh), the web3.py suite (clients/python/setup.sh) and the
# Python SDK's tests (sdk/python/test.sh) call it.
set -euo pipefail

[[ $# -ge 2 ]] || { echo "usage: scripts/pinned-venv.sh NAME REQUIREMENTS [PIP-ARGS...]" >&2; exit 2; }
NAME="$1"
REQUIREMENTS="$(cd "$(dirname "$2")" && pwd -P)/$(basename "$2")"
shift 2
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
SHOWN="${REQUIREMENTS#"$ROOT"/}"
CACHE_DIR="${ANH_CACHE_DIR:-$HOME/.cache/anh}"
VENV="$CACHE_DIR/$NAME"
PY="$VENV/bin/python"
STAMP="$VENV/.anh-requirements.sha256"
PYTHON="${PYTHON:-python3}"

die() { echo "pinned-venv.sh ($NAME): $*" >&2; exit 1; }

command -v "$PYTHON" >/dev/null 2>&1 || die "python3 (3.10 or newer) is needed"
want="$( (cat "$REQUIREMENTS"; "$PYTHON" --version) | sha256sum | cut -d' ' -f1)"
if [[ -x "$PY" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
    echo "$PY"
    exit 0
fi
rm -rf "$VENV"
mkdir -p "$CACHE_DIR"
echo "pinned-venv.sh: creating $VENV from $SHOWN" >&2
"$PYTHON" -m venv "$VENV" >&2 || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
PIP_CACHE_DIR="${PIP_CACHE_DIR:-$CACHE_DIR/pip}" "$PY" -m pip install --quiet \
    --disable-pip-version-check --require-hashes "$@" -r "$REQUIREMENTS" >&2 \
    || die "pip could not install $SHOWN (see pip's message above)"
"$PY" -m pip check >&2 || die "the packages of $SHOWN do not fit together (pip check)"
echo "$want" >"$STAMP"
echo "$PY"
