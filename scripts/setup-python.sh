#!/usr/bin/env bash
# Creates (or refreshes) the Python virtual environment of ANH's fixture generator.
#
# Usage: scripts/setup-python.sh
#
# The venv lives at ${ANH_CACHE_DIR:-$HOME/.cache/anh}/venv and holds exactly
# scripts/pins/fixtures.txt: onnx (builds test models), numpy and onnxruntime (the same 1.31.1
# that anh-runtime loads, so that fixtures' expected outputs come from the same engine), every
# package pinned by sha256 and installed with --require-hashes (scripts/pinned-venv.sh). Nothing
# at run time of the node needs Python: only fixture generation (runtime/testdata/gen_fixtures.py)
# does.
#
# Idempotent; prints the path of the venv's python on stdout. Any failure exits 1 with its
# reason on stderr.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
exec "$HERE/pinned-venv.sh" venv "$HERE/pins/fixtures.txt" --only-binary=:all:
