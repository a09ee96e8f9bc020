#!/usr/bin/env bash
# Runs the client-compatibility suite against `anh node` and anvil 1.7.1 side by side and
# compares them: the values every test recorded (field by field), the JSON-RPC error answers,
# and the test counts. Prints the differences, then a table client × node (passed, failed,
# minimum) and the value-comparison summary.
#
#   clients/compare.sh [CLIENT...]        (CLIENT: ethers viem web3py foundry hardhat; default all)
#
# First it runs the comparison's own self-test (node --test lib/, on fixtures in lib/testdata).
# Both nodes start on free ports with their defaults (chain 31337, the same dev accounts) and are
# stopped at the end; both runs get the same ANH_CLIENTS_SEED, so that the tests send the same
# transactions to both. Exits 1 if:
#   - a test fails on either node (on anvil: the test is wrong; on anh only: anh is), or a client
#     passed fewer tests than its minimum (MIN_TESTS in run.sh) or ran none;
#   - a value a test recorded differs between anh and anvil, or was recorded on one node only,
#     beyond the named normalisations of lib/compare-values.mjs;
#   - one node gave a JSON-RPC error answer the other never gave for that method, or a revert
#     with other data, beyond the named ALLOWED pairs of lib/rpc-report.mjs.
#
# Environment:
#   ANH_BIN            the anh binary (default $CARGO_TARGET_DIR/debug/anh, CARGO_TARGET_DIR
#                      defaulting to ./target): build it with `cargo build -p anh`
#   ANH_NODE_ARGS      extra flags for `anh node`
#   RUST_LOG           anh's log filter (default info); its log is clients/.logs/anh.node.log
#   ANH_CLIENTS_RECORD_PERTURB=<client>/<test>/<key>
#                      self-check: changes that value on anh's side only, so the run must fail
#   ANH_CLIENTS_MIN_TESTS  self-check: raises minimums, e.g. "ethers=99" (see run.sh)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
ROOT="$(cd "$HERE/.." && pwd -P)"
ANH_BIN="${ANH_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/anh}"
LOGS="$HERE/.logs"

log() { echo "compare: $*" >&2; }

[[ -x "$ANH_BIN" ]] || { log "no anh binary at $ANH_BIN: build it (cargo build -p anh) or set ANH_BIN"; exit 1; }
tools="$("$ROOT/scripts/setup-node.sh" --print-env)" || { log "set-up failed (scripts/setup-node.sh)"; exit 1; }
eval "$tools"

# The comparison's self-test: compare-values.mjs must fail on a changed value, a value recorded
# on one node only, and a count under its minimum, and pass on equal runs.
selftest_out="$(cd "$HERE" && node --test --test-reporter=spec lib/ 2>&1)" || {
    echo "$selftest_out"
    log "the self-test of lib/compare-values.mjs failed (node --test clients/lib/)"
    exit 1
}
log "self-test of the comparison: $(echo "$selftest_out" | sed -nE 's/^ℹ pass ([0-9]+)$/\1 passed/p')"

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
# --steps-tracing: without it anvil's debug_traceTransaction returns no structLogs.
"$ANH_ANVIL" --port "$anvil_port" --steps-tracing >"$LOGS/anvil.node.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$anvil_port" anvil "${pids[-1]}"

anh_port="$(free_port)"
# shellcheck disable=SC2086 # ANH_NODE_ARGS is a list of flags
RUST_LOG="${RUST_LOG:-info}" "$ANH_BIN" node --port "$anh_port" ${ANH_NODE_ARGS:-} >"$LOGS/anh.node.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$anh_port" "anh node" "${pids[-1]}"

log "anvil $("$ANH_ANVIL" --version | head -n1) on :$anvil_port, anh ($ANH_BIN) on :$anh_port"

# One seed for both runs: the same fresh addresses and keys, so the same transactions.
export ANH_CLIENTS_SEED="${ANH_CLIENTS_SEED:-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')}"
rc_anvil=0
rc_anh=0
env -u ANH_CLIENTS_RECORD_PERTURB ANH_CLIENTS_LABEL=anvil "$HERE/run.sh" "http://127.0.0.1:$anvil_port" "$@" | tee "$LOGS/anvil.out" || rc_anvil=$?
ANH_CLIENTS_LABEL=anh "$HERE/run.sh" "http://127.0.0.1:$anh_port" "$@" | tee "$LOGS/anh.out" || rc_anh=$?

echo
echo "=== JSON-RPC error answers that differ between anh and anvil (full logs: $LOGS/{anh,anvil}/*.rpc.jsonl) ==="
rc_errors=0
node "$HERE/lib/rpc-report.mjs" diff "$LOGS/anh" "$LOGS/anvil" || rc_errors=$?

echo
echo "=== values the tests recorded, anh vs anvil ($LOGS/{anh,anvil}/*.values.jsonl) ==="
rc_values=0
node "$HERE/lib/compare-values.mjs" "$LOGS/anh" "$LOGS/anvil" || rc_values=$?

[[ $rc_anvil -eq 0 ]] || log "FAILED on anvil: a test failed there (the test is wrong) or a client ran fewer tests than its minimum"
[[ $rc_anh -eq 0 ]] || log "FAILED on anh: a test failed or a client ran fewer tests than its minimum"
[[ $rc_errors -eq 0 ]] || log "FAILED: JSON-RPC error answers differ beyond lib/rpc-report.mjs ALLOWED"
[[ $rc_values -eq 0 ]] || log "FAILED: recorded values differ beyond lib/compare-values.mjs NORMALISATIONS, or a count is under its minimum"
if [[ $rc_anvil -eq 0 && $rc_anh -eq 0 && $rc_errors -eq 0 && $rc_values -eq 0 ]]; then
    log "PASSED: anh and anvil agree"
else
    exit 1
fi
