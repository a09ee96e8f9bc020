#!/usr/bin/env bash
# Installs the ONNX Runtime shared library that anh-runtime loads at run time.
#
# Usage: scripts/setup-ort.sh [--gpu]
#
# Downloads the official PyPI wheel (onnxruntime==1.31.1, or onnxruntime-gpu==1.31.1 with
# --gpu) with pip, which checks it against the sha256 pins in scripts/pins/onnxruntime.txt
# (onnxruntime-gpu.txt) and refuses any other bytes, and extracts the shared libraries into
#   ${ANH_CACHE_DIR:-$HOME/.cache/anh}/onnxruntime-1.31.1/      (CPU)
#   ${ANH_CACHE_DIR:-$HOME/.cache/anh}/onnxruntime-gpu-1.31.1/  (--gpu: CUDA 13 providers too)
# and prints the path of libonnxruntime.so.1.31.1 on stdout (progress goes to stderr).
#
# Idempotent: when the library is already there it prints the path and exits at once.
# Needs python3 with pip; reaches PyPI only (pip's cache: ${ANH_CACHE_DIR:-~/.cache/anh}/pip).
# No `unzip` needed (python's zipfile extracts). Any failure exits 1 with its reason on stderr.
set -euo pipefail

ORT_VERSION="1.31.1"
GPU=0
for arg in "$@"; do
    case "$arg" in
        --gpu) GPU=1 ;;
        -h | --help)
            sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "setup-ort.sh: unknown argument: $arg (expected --gpu)" >&2
            exit 2
            ;;
    esac
done

CACHE_DIR="${ANH_CACHE_DIR:-$HOME/.cache/anh}"
PINS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)/pins"
if [[ "$GPU" == 1 ]]; then
    PACKAGE="onnxruntime-gpu"
    DEST="$CACHE_DIR/onnxruntime-gpu-$ORT_VERSION"
else
    PACKAGE="onnxruntime"
    DEST="$CACHE_DIR/onnxruntime-$ORT_VERSION"
fi
PINS="$PINS_DIR/$PACKAGE.txt"
LIB="$DEST/libonnxruntime.so.$ORT_VERSION"
STAMP="$DEST/.complete"

if [[ -f "$STAMP" && -f "$LIB" ]]; then
    echo "$LIB"
    exit 0
fi

PYTHON="${PYTHON:-python3}"
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "setup-ort.sh: python3 is needed to download the $PACKAGE wheel from PyPI" >&2
    exit 1
fi

mkdir -p "$CACHE_DIR"
TMP="$(mktemp -d "$CACHE_DIR/.setup-ort.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

grep -q "^$PACKAGE==$ORT_VERSION " "$PINS" 2>/dev/null || {
    echo "setup-ort.sh: $PINS does not pin $PACKAGE==$ORT_VERSION" >&2
    exit 1
}
echo "setup-ort.sh: downloading $PACKAGE==$ORT_VERSION from PyPI ..." >&2
if ! PIP_CACHE_DIR="${PIP_CACHE_DIR:-$CACHE_DIR/pip}" "$PYTHON" -m pip download --quiet \
    --disable-pip-version-check --no-deps --only-binary=:all: --require-hashes \
    -r "$PINS" -d "$TMP/wheel" >&2; then
    echo "setup-ort.sh: pip could not download $PACKAGE==$ORT_VERSION for this Python and platform, or it did not match scripts/pins/$PACKAGE.txt (see pip's message above)" >&2
    exit 1
fi

WHEEL="$(ls "$TMP"/wheel/*.whl 2>/dev/null | head -n 1 || true)"
if [[ -z "$WHEEL" ]]; then
    echo "setup-ort.sh: pip downloaded no wheel for $PACKAGE==$ORT_VERSION" >&2
    exit 1
fi

# Extract into a staging folder beside DEST, then move it into place, so that an
# interrupted run never leaves a half-written library where the runtime looks.
STAGE="$TMP/stage"
mkdir -p "$STAGE"
"$PYTHON" - "$WHEEL" "$STAGE" "$ORT_VERSION" "$GPU" <<'PY'
import os, sys, zipfile

wheel, stage, version, gpu = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
wanted = {f"onnxruntime/capi/libonnxruntime.so.{version}"}
with zipfile.ZipFile(wheel) as zf:
    names = zf.namelist()
    if gpu:
        wanted |= {
            n for n in names
            if n.startswith("onnxruntime/capi/libonnxruntime_providers_") and n.endswith(".so")
        }
    missing = wanted - set(names)
    if missing:
        sys.exit(f"setup-ort.sh: the wheel lacks {sorted(missing)}")
    for name in sorted(wanted):
        target = os.path.join(stage, os.path.basename(name))
        with zf.open(name) as src, open(target, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        os.chmod(target, 0o755)
        print(f"setup-ort.sh: extracted {os.path.basename(name)}", file=sys.stderr)
PY

# ORT's provider libraries dlopen `libonnxruntime.so.1` by soname; give them that name too.
ln -sf "libonnxruntime.so.$ORT_VERSION" "$STAGE/libonnxruntime.so.1"
ln -sf "libonnxruntime.so.$ORT_VERSION" "$STAGE/libonnxruntime.so"
touch "$STAGE/.complete"

rm -rf "$DEST"
mv "$STAGE" "$DEST"
echo "$LIB"
