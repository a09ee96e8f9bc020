#!/usr/bin/env bash
# Runs the Python SDK's tests against the node at $ANH_RPC_URL (default http://127.0.0.1:8545).
#
#   sdk/python/test.sh              # set up (idempotent), prove a fresh install, run pytest
#   sdk/python/test.sh -k fixed     # extra arguments go to pytest (the minimum count is then
#                                   # not enforced)
#
# 1. The venv ${ANH_CACHE_DIR:-~/.cache/anh}/sdk-python-venv holds exactly requirements-test.txt
#    (every file pinned by sha256, --require-hashes); it is rebuilt only when that file or the
#    Python version changes.
# 2. The SDK is installed into it from this folder (pip install --no-deps, built with the pinned
#    setuptools, from a copy so that no build/ or *.egg-info is left here).
# 3. A throwaway venv installs the SDK with one command from the repository root,
#    `pip install ./sdk/python`, resolving its dependencies (and the build backend) only from the
#    pinned, hash-checked wheels of requirements-test.txt (--no-index --find-links), and imports
#    it: what a user's `pip install` does, offline.
#    ANH_SDK_SKIP_FRESH_INSTALL=1 skips this step.
# 4. pytest runs; the script fails on any failure, or when fewer than MIN_TESTS tests passed.
#
# Python 3.11+ is needed (numpy 2.4 and onnxruntime 1.31 wheels; the SDK itself takes 3.10+).
# Any set-up failure exits 1 with a one-line reason on stderr.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REQUIREMENTS="$HERE/requirements-test.txt"
CACHE_DIR="${ANH_CACHE_DIR:-$HOME/.cache/anh}"
PYTHON="${PYTHON:-python3}"
export PIP_CACHE_DIR="${PIP_CACHE_DIR:-$CACHE_DIR/pip}"
export PIP_DISABLE_PIP_VERSION_CHECK=1
MIN_TESTS=170

die() { echo "sdk/python/test.sh: $*" >&2; exit 1; }

command -v "$PYTHON" >/dev/null || die "python3 (3.11+) is needed"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "Python 3.11+ is needed for the test environment, $PYTHON is $("$PYTHON" --version 2>&1)"

# 1. The pinned venv (scripts/pinned-venv.sh).
want="$( (cat "$REQUIREMENTS"; "$PYTHON" --version) | sha256sum | cut -d' ' -f1)"
PY="$("$HERE/../../scripts/pinned-venv.sh" sdk-python-venv "$REQUIREMENTS" --no-deps)" \
    || die "set-up of the SDK's test venv failed (its reason is above)"

# 2. The SDK itself, from a copy of this folder (no build artefacts left in the tree).
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
copy_sdk() { # copy_sdk DEST: the package's sources, without tests or caches
    mkdir -p "$1" &&
        cp -r "$HERE/pyproject.toml" "$HERE/README.md" "$HERE/src" "$1/" &&
        find "$1" -name __pycache__ -prune -exec rm -rf {} +
}
copy_sdk "$WORK/sdk" || die "cannot copy sdk/python's sources to $WORK"
"$PY" -m pip install --quiet --no-deps --no-build-isolation --no-index --force-reinstall "$WORK/sdk" >&2 \
    || die "pip could not install the SDK from sdk/python into the test venv"

# 3. One command installs the SDK into a fresh venv, from the repository path (dependencies from
#    the pinned wheels only). setuptools builds in the source tree: build/ and src/*.egg-info
#    (git-ignored) are removed again unless they were there before.
if [[ "${ANH_SDK_SKIP_FRESH_INSTALL:-0}" != 1 ]]; then
    WHEELS="$CACHE_DIR/sdk-python-wheels/${want:0:16}"
    if ! [[ -f "$WHEELS/.complete" ]]; then
        rm -rf "$WHEELS"
        "$PY" -m pip download --quiet --no-deps --require-hashes -r "$REQUIREMENTS" -d "$WHEELS" >&2 \
            || die "pip could not download the pinned wheels of sdk/python/requirements-test.txt"
        touch "$WHEELS/.complete"
    fi
    "$PYTHON" -m venv "$WORK/fresh" >&2 || die "python3 -m venv failed for the fresh-install check"
    leftovers=()
    [[ -e "$HERE/build" ]] || leftovers+=("$HERE/build")
    [[ -e "$HERE/src/anh_sdk.egg-info" ]] || leftovers+=("$HERE/src/anh_sdk.egg-info")
    fresh=0
    (cd "$HERE/../.." && "$WORK/fresh/bin/pip" install --quiet --no-index --find-links "$WHEELS" ./sdk/python) >&2 \
        || fresh=$?
    rm -rf ${leftovers[@]+"${leftovers[@]}"}
    [[ "$fresh" == 0 ]] || die "a fresh venv could not install the SDK with 'pip install ./sdk/python' (see pip above)"
    (cd "$WORK" && "$WORK/fresh/bin/python" -c 'import anh, numpy; assert anh.Tensor.from_numpy(numpy.ones(2), scale=3).to_numpy().sum() == 2') \
        || die "the SDK installed in a fresh venv does not import"
    echo "sdk/python/test.sh: a fresh venv installed the SDK with 'pip install ./sdk/python'" >&2
fi

# 4. The tests.
export ANH_RPC_URL="${ANH_RPC_URL:-http://127.0.0.1:8545}"
export PYTHONDONTWRITEBYTECODE=1
"$PY" -c 'import sys, anh; sys.exit("anh" not in anh.connect(sys.argv[1], timeout=10).client_version)' \
    "$ANH_RPC_URL" 2>/dev/null \
    || die "no ANH node answers at ANH_RPC_URL=$ANH_RPC_URL: start one with ./dev node"
REPORT="$WORK/junit.xml"
status=0
(cd "$HERE" && "$PY" -m pytest -p no:cacheprovider -q -rs --junitxml="$REPORT" tests "$@") || status=$?
[[ "$status" == 0 ]] || die "pytest failed (exit $status)"
if [[ $# -eq 0 ]]; then
    passed="$("$PY" - "$REPORT" <<'EOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
tests = sum(int(s.get("tests", 0)) for s in suites)
bad = sum(int(s.get(k, 0)) for s in suites for k in ("failures", "errors", "skipped"))
print(tests - bad)
EOF
)"
    [[ "$passed" -ge "$MIN_TESTS" ]] || die "only $passed tests passed, at least $MIN_TESTS expected"
    echo "sdk/python/test.sh: $passed tests passed (minimum $MIN_TESTS)"
fi
