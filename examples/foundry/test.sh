#!/usr/bin/env bash
# Runs the Foundry example's tests (forge test, answered by a real node) against the ANH node at
# $ANH_RPC_URL (default http://127.0.0.1:8545; start one with `./dev node`). It does not start a
# node.
#
#   examples/foundry/test.sh
#
# Set-up (idempotent): forge 1.7.1 and solc-js 0.8.28 via scripts/setup-node.sh (npm, pinned);
# the two models the tests use are uploaded and registered on the node unless they are already
# (runtime/testdata/mlp.onnx, examples/foundry/models/guard.onnx), with `$ANH_BIN model push`
# (ANH_BIN defaults to `anh` on PATH) or, with no anh binary, over HTTP (PUT /models) and
# `cast send` (register, from dev account 0 or ANH_PRIVATE_KEY).
#
# Then the suite runs twice: `forge test --fork-url $ANH_RPC_URL` (fork mode: results at the
# fork's block) and `forge test` with no fork (the helper reaches the node at ANH_RPC_URL through
# vm.rpc, at `latest`). Exits non-zero on any failure, or if fewer than EXPECTED tests passed in
# either run. Extra arguments go to both forge runs (e.g. -vvv, --match-test NAME; a filter then
# lowers the count, so the count check is skipped).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
ROOT="$(cd "$HERE/../.." && pwd -P)"
RPC_URL="${ANH_RPC_URL:-http://127.0.0.1:8545}"
ANH_BIN="${ANH_BIN:-anh}"
DEV_KEY="${ANH_PRIVATE_KEY:-0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80}"
INFO=0x0000000000000000000000000000000000000D03
REGISTRY=0x0000000000000000000000000000000000000d00
EXPECTED=20 # tests per run: 14 in Precompiles.t.sol, 6 in GuardedPool.t.sol

die() { echo "examples/foundry/test.sh: $*" >&2; exit 1; }
log() { echo "examples/foundry/test.sh: $*" >&2; }

env_lines="$("$ROOT/scripts/setup-node.sh" --print-env)" || die "scripts/setup-node.sh failed (see above)"
eval "$env_lines"
[[ -x "${ANH_FORGE:-}" && -x "${ANH_CAST:-}" ]] || die "setup-node.sh gave no forge/cast"
export FOUNDRY_DISABLE_NIGHTLY_WARNING=1 NO_COLOR=1

"$ANH_CAST" chain-id --rpc-url "$RPC_URL" >/dev/null 2>&1 \
  || die "no node answers at $RPC_URL (start one with ./dev node, or set ANH_RPC_URL)"

node "$HERE/fixtures/gen-mlp.mjs" --check || die "fixtures/mlp.json is stale"

# Uploads and registers $1 under the name $2 on the node, unless it is registered already.
push_model() {
  local file="$1" name="$2" hash registered
  if command -v "$ANH_BIN" >/dev/null 2>&1; then
    "$ANH_BIN" model push "$file" --name "$name" --rpc-url "$RPC_URL" >/dev/null \
      || die "$ANH_BIN model push $file failed (see above)"
    return
  fi
  local auth=()
  [[ -n "${ANH_UPLOAD_TOKEN:-}" ]] && auth=(-H "Authorization: Bearer $ANH_UPLOAD_TOKEN")
  hash="$(curl -fsS -X PUT "${auth[@]}" --data-binary "@$file" "${RPC_URL%/}/models" \
    | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).hash))')" \
    || die "uploading $file to ${RPC_URL%/}/models failed"
  registered="$("$ANH_CAST" call "$INFO" 'isRegistered(bytes32)(bool)' "$hash" --rpc-url "$RPC_URL")" \
    || die "isRegistered($hash) failed"
  if [[ "$registered" != true ]]; then
    "$ANH_CAST" send --private-key "$DEV_KEY" "$REGISTRY" 'register(bytes32,string)' "$hash" "$name" \
      --rpc-url "$RPC_URL" >/dev/null \
      || [[ "$("$ANH_CAST" call "$INFO" 'isRegistered(bytes32)(bool)' "$hash" --rpc-url "$RPC_URL")" == true ]] \
      || die "registering $file ($hash) failed"
  fi
}
command -v "$ANH_BIN" >/dev/null 2>&1 || log "no anh binary ($ANH_BIN): pushing the models over HTTP and cast"
push_model "$ROOT/runtime/testdata/mlp.onnx" mlp
push_model "$HERE/models/guard.onnx" foundry-guard

# Runs forge test with the given arguments; checks the count of passed tests.
run_forge() {
  local label="$1" out summary passed failed
  shift
  log "forge test $* ($label)"
  set +e
  out="$(cd "$HERE" && "$ANH_FORGE" test "$@" 2>&1)"
  local rc=$?
  set -e
  echo "$out"
  summary="$(grep -E '^Ran [0-9]+ test suites? in .*tests passed' <<<"$out" | tail -n1)"
  [[ -n "$summary" ]] || die "$label: forge printed no summary (exit $rc)"
  passed="$(sed -E 's/.*: ([0-9]+) tests passed.*/\1/' <<<"$summary")"
  failed="$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$summary")"
  ((rc == 0 && failed == 0)) || die "$label: $failed test(s) failed (forge exit $rc)"
  if ((filtered == 0 && passed < EXPECTED)); then
    die "$label: $passed tests passed, expected $EXPECTED"
  fi
  log "$label: $passed tests passed"
  total=$((total + passed))
}

filtered=0
total=0
for arg in "$@"; do
  case "$arg" in --match-*|--mt|--mc|--mp|--no-match-*|--nmt|--nmc|--nmp) filtered=1 ;; esac
done

run_forge "fork mode" --fork-url "$RPC_URL" "$@"
ANH_RPC_URL="$RPC_URL" run_forge "no fork, vm.rpc to ANH_RPC_URL" "$@"
log "ok: $total tests passed in two runs against $RPC_URL"
