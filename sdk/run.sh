#!/usr/bin/env bash
# Runs the developer-tool suites against one `anh node` it starts: the Python SDK (pytest), the
# TypeScript SDK (node --test, with viem and ethers) and the Foundry example (`forge test` with
# contracts/src/foundry/AnhPrecompiles.sol), one after the other on the same node.
#
#   sdk/run.sh [SUITE...]     SUITE is any of: python js foundry (default: all three)
#
# Each suite does its own set-up (a venv from hash-pinned requirements, `npm ci`, the
# repository's Foundry) and finds the node at ANH_RPC_URL; none starts a node itself. Exits 1
# if a suite failed or ran fewer tests than it expects (each runner checks its own count).
#
# Environment:
#   ANH_BIN        the anh binary (default $CARGO_TARGET_DIR/debug/anh)
#   ANH_ORT_DYLIB  ONNX Runtime (scripts/setup-ort.sh prints it; ./dev sets it)
#   ANH_SDK_LOGS   where the node's log goes (default sdk/.logs)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
ROOT="$(cd "$HERE/.." && pwd -P)"
ALL=(python js foundry)
ANH_BIN="${ANH_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/anh}"
LOGS="${ANH_SDK_LOGS:-$HERE/.logs}"

log() { echo "sdk: $*" >&2; }

suites=("$@")
[[ ${#suites[@]} -gt 0 ]] || suites=("${ALL[@]}")
for s in "${suites[@]}"; do
    [[ " ${ALL[*]} " == *" $s "* ]] || { log "unknown suite '$s' (known: ${ALL[*]})"; exit 2; }
done
[[ -x "$ANH_BIN" ]] || { log "no anh binary at $ANH_BIN: build it (cargo build -p anh) or set ANH_BIN"; exit 1; }

free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

mkdir -p "$LOGS"
port="$(free_port)"
url="http://127.0.0.1:$port"
RUST_LOG="${RUST_LOG:-info}" "$ANH_BIN" node --port "$port" >"$LOGS/anh.node.log" 2>&1 &
node_pid=$!
trap 'kill "$node_pid" 2>/dev/null || true; wait "$node_pid" 2>/dev/null || true' EXIT
for _ in $(seq 300); do
    kill -0 "$node_pid" 2>/dev/null || { log "anh node exited at start-up (see $LOGS/anh.node.log)"; exit 1; }
    curl -sf -m 2 -H 'content-type: application/json' \
        -d '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' "$url" >/dev/null && break
    sleep 0.1
done
curl -sf -m 2 -H 'content-type: application/json' \
    -d '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' "$url" >/dev/null \
    || { log "anh node did not answer at $url within 30 s"; exit 1; }
log "anh ($ANH_BIN) on :$port"

export ANH_RPC_URL="$url" ANH_BIN
failed=()
for s in "${suites[@]}"; do
    case "$s" in
        python) runner="$HERE/python/test.sh" ;;
        js) runner="$HERE/js/test.sh" ;;
        foundry) runner="$ROOT/examples/foundry/test.sh" ;;
    esac
    log "suite $s ($runner)"
    "$runner" || failed+=("$s")
done
if [[ ${#failed[@]} -gt 0 ]]; then
    log "FAILED: ${failed[*]}"
    exit 1
fi
log "ok: ${suites[*]}"
