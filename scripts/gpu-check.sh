#!/usr/bin/env bash
# scripts/gpu-check.sh — the CUDA path against CPU, in one short run, on a machine with an NVIDIA
# GPU (this project's CI has none: everything else runs on CPU and only checks the fallback).
#
#   1. set-up: ONNX Runtime's GPU build (scripts/setup-ort.sh --gpu), a `--features cuda` build;
#   2. inference: every fixture on CUDA against the CPU (10⁻⁶ + 10⁻⁴ relative), no fallback;
#      a 4.3 GMAC model timed on both;
#   3. training: 50 Adam steps on CUDA against the CPU's losses (10⁻³), timed on both;
#   4. a committee block: a node whose executors run on CUDA mines an inference transaction,
#      a follower replays it.
#
# The tables it prints go into the README ("Where models run"). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

die() { echo "gpu-check: $*" >&2; exit 1; }

command -v nvidia-smi >/dev/null || die "no nvidia-smi: this check needs an NVIDIA GPU"
nvidia-smi -L || die "nvidia-smi lists no GPU"
ANH_ORT_DYLIB="$(scripts/setup-ort.sh --gpu)" || die "set-up of ONNX Runtime's GPU build failed"
export ANH_ORT_DYLIB ANH_REQUIRE_CUDA=1

echo "== inference and training on CUDA against CPU"
cargo test --release --locked -p anh-runtime --features cuda --test it -- cuda_against_cpu \
    --nocapture --test-threads 1 || die "CUDA against CPU failed"

echo "== a committee block on CUDA, replayed by a follower"
cargo test --release --locked -p anh --features cuda --test it -- committee_block_on_cuda \
    --nocapture --test-threads 1 || die "the committee block on CUDA failed"

echo "gpu-check: passed"
