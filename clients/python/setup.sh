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
exec "$HERE/../../scripts/pinned-venv.sh" clients-venv "$HERE/requirements.txt" --no-deps
