#!/usr/bin/env bash
# Runs the client-compatibility suite against `anh node` and anvil 1.7.1 side by side and prints
# a table client × node, then every JSON-RPC error answer anh gave that anvil did not (method,
# params, error), which is the list of anh's gaps.
#
#   clients/compare.sh [CLIENT...]        (CLIENT: ethers viem web3py foundry hardhat; default all)
#
# Both nodes start on free ports with their defaults (chain 31337, the same dev accounts) and are
# stopped at the end. Exits 1 if any test fails on either node: a failure on anvil means the test
# is wrong, a failure on anh only means anh is.
#
# Environment:
#   ANH_BIN            the anh binary (default $CARGO_TARGET_DIR/debug/anh, CARGO_TARGET_DIR
#                      defaulting to ./target): build it with `cargo build -p anh`
#   ANH_NODE_ARGS      extra flags for `anh node`
#   RUST_LOG           anh's log filter (default info); its log is clients/.logs/anh.node.log
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
ROOT="$(cd "$HERE/.." && pwd -P)"
ANH_BIN="${ANH_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/anh}"
LOGS="$HERE/.logs"

log() { echo "compare: $*" >&2; }

[[ -x "$ANH_BIN" ]] || { log "no anh binary at $ANH_BIN: build it (cargo build -p anh) or set ANH_BIN"; exit 1; }
tools="$("$ROOT/scripts/setup-node.sh" --print-env)" || { log "set-up failed (scripts/setup-node.sh)"; exit 1; }
eval "$tools"

free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

wait_for() { # $1 = url, $2 = name, $3 = pid
    for _ in $(seq 300); do
        kill -0 "$3" 2>/dev/null || { log "$2 exited at start-up (see its log under $LOGS)"; return 1; }
        if curl -sf -m 2 -H 'content-type: application/json' \
            -d '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' "$1" >/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    log "$2 did not answer at $1 within 30 s"
    return 1
}

pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT

mkdir -p "$LOGS/anvil" "$LOGS/anh"
anvil_port="$(free_port)"
"$ANH_ANVIL" --port "$anvil_port" >"$LOGS/anvil.node.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$anvil_port" anvil "${pids[-1]}"

anh_port="$(free_port)"
# shellcheck disable=SC2086 # ANH_NODE_ARGS is a list of flags
RUST_LOG="${RUST_LOG:-info}" "$ANH_BIN" node --port "$anh_port" ${ANH_NODE_ARGS:-} >"$LOGS/anh.node.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$anh_port" "anh node" "${pids[-1]}"

log "anvil $("$ANH_ANVIL" --version | head -n1) on :$anvil_port, anh ($ANH_BIN) on :$anh_port"

rc_anvil=0
rc_anh=0
ANH_CLIENTS_LABEL=anvil "$HERE/run.sh" "http://127.0.0.1:$anvil_port" "$@" | tee "$LOGS/anvil.out" || rc_anvil=$?
ANH_CLIENTS_LABEL=anh "$HERE/run.sh" "http://127.0.0.1:$anh_port" "$@" | tee "$LOGS/anh.out" || rc_anh=$?

# The per-client lines of each run: "<client>  N passed, N failed  (Ns)".
result() { # $1 = node, $2 = client
    sed -nE "s/^$2 +([0-9]+) passed, ([0-9]+) failed.*/\1 passed, \2 failed/p" "$LOGS/$1.out" | tail -n1
}

clients=("$@")
[[ ${#clients[@]} -gt 0 ]] || clients=(ethers viem web3py foundry hardhat)
echo
echo "=== client × node ==="
printf '%-9s %-22s %-22s\n' client anvil anh
for c in "${clients[@]}"; do
    printf '%-9s %-22s %-22s\n' "$c" "$(result anvil "$c")" "$(result anh "$c")"
done
echo
echo "=== JSON-RPC errors from anh that anvil did not give (full logs: $LOGS/{anh,anvil}/*.rpc.jsonl) ==="
node "$HERE/lib/rpc-report.mjs" diff "$LOGS/anh" "$LOGS/anvil"

[[ $rc_anvil -eq 0 ]] || log "FAILED on anvil: the tests are wrong there"
[[ $rc_anh -eq 0 ]] || log "FAILED on anh"
[[ $rc_anvil -eq 0 && $rc_anh -eq 0 ]]
