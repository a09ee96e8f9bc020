#!/usr/bin/env bash
# Runs the client-compatibility suite against one node: ethers.js, viem, web3.py, Foundry and
# Hardhat, each from its registry, each through a logging JSON-RPC proxy.
#
#   clients/run.sh [URL] [CLIENT...]     URL defaults to $ANH_RPC_URL, then http://127.0.0.1:8545;
#                                        CLIENT is any of: ethers viem web3py foundry hardhat
#
# Set-up is done first and is a no-op when up to date (clients/setup.sh: the repository's Node
# tools, `npm ci` here for ethers, viem, Hardhat 2.29, ..., and the web3.py venv). Prints one
# line per client, `<client>  N passed, N failed (min M)`, then the node's JSON-RPC error answers
# other than reverts; exits 1 if any test failed or a client passed fewer tests than its minimum
# (MIN_TESTS below; a runner that ran no test fails too).
#
# Environment:
#   ANH_CLIENTS_LOG_DIR   where logs go (default clients/.logs/<label>): <client>.log (the test
#                         runner's output), <client>.rpc.jsonl (every request and answer),
#                         <client>.values.jsonl (the values the tests saw, lib/record.mjs) and
#                         counts.json (passed, failed and minimum per client)
#   ANH_CLIENTS_LABEL     the <label> above (default: the URL's port)
#   ANH_CLIENTS_SEED      seed of the tests' fresh addresses and keys (lib/env.mjs); compare.sh
#                         gives both nodes the same one; default: a new one per run
#   ANH_CLIENTS_MIN_TESTS overrides of MIN_TESTS, e.g. "ethers=99" (the self-check uses it)
#   ANH_CLIENTS_PROXY=0   talk to the node directly, without the logging proxy
#   ANH_CLIENTS_VERBOSE=1 print every client's full output, not only the failing ones'
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
ROOT="$(cd "$HERE/.." && pwd -P)"
ALL_CLIENTS=(ethers viem web3py foundry hardhat)
SUITE_TIMEOUT=300
# The fewest tests each client must pass: the tests its suite has today. A suite that stops
# early, skips tests or loses some fails the run. Raise a minimum with every test added.
declare -A MIN_TESTS=([ethers]=20 [viem]=18 [web3py]=16 [foundry]=14 [hardhat]=14)
for override in ${ANH_CLIENTS_MIN_TESTS:-}; do
    [[ "$override" =~ ^([a-z0-9]+)=([0-9]+)$ && -n "${MIN_TESTS[${BASH_REMATCH[1]}]:-}" ]] \
        || { echo "run.sh: ANH_CLIENTS_MIN_TESTS: '$override' is not <client>=<count>" >&2; exit 2; }
    MIN_TESTS[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
done

url="${ANH_RPC_URL:-http://127.0.0.1:8545}"
if [[ $# -gt 0 && "$1" == *://* ]]; then url="$1"; shift; fi
clients=("$@")
[[ ${#clients[@]} -gt 0 ]] || clients=("${ALL_CLIENTS[@]}")
for c in "${clients[@]}"; do
    [[ " ${ALL_CLIENTS[*]} " == *" $c "* ]] || { echo "run.sh: unknown client '$c' (known: ${ALL_CLIENTS[*]})" >&2; exit 2; }
done
label="${ANH_CLIENTS_LABEL:-$(echo "$url" | sed -E 's#.*:([0-9]+).*#\1#')}"
logs="${ANH_CLIENTS_LOG_DIR:-$HERE/.logs/$label}"

log() { echo "clients: $*" >&2; }

# --- set-up ---------------------------------------------------------------------------------
PY="$("$HERE/setup.sh")" || { log "set-up failed (clients/setup.sh)"; exit 1; }
tools="$("$ROOT/scripts/setup-node.sh" --print-env)" || { log "set-up failed (scripts/setup-node.sh)"; exit 1; }
eval "$tools"
export ANH_CAST ANH_FORGE ANH_ANVIL

for artifact in DevToken Reverter; do
    [[ -f "$ROOT/contracts/out/$artifact.json" ]] || { log "contracts/out/$artifact.json is missing: run node contracts/build.mjs"; exit 1; }
done

curl -sf -m 5 -H 'content-type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' "$url" >/dev/null \
    || { log "no JSON-RPC node answers at $url"; exit 1; }

rm -rf "$logs"
mkdir -p "$logs"
export ANH_CLIENTS_SEED="${ANH_CLIENTS_SEED:-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')}"

# --- one client ---------------------------------------------------------------------------
proxy_pid=""
start_proxy() { # $1 = client; sets $target
    target="$url"
    [[ "${ANH_CLIENTS_PROXY:-1}" == 0 ]] && return
    local port_file="$logs/.$1.proxy"
    node "$HERE/lib/rpc-proxy.mjs" --upstream "$url" --log "$logs/$1.rpc.jsonl" >"$port_file" 2>>"$logs/$1.proxy.err" &
    proxy_pid=$!
    for _ in $(seq 100); do
        [[ -s "$port_file" ]] && break
        sleep 0.05
    done
    target="$(head -n1 "$port_file")"
    [[ "$target" == http://* ]] || { log "the logging proxy did not start (see $logs/$1.proxy.err)"; exit 1; }
}
stop_proxy() {
    if [[ -n "$proxy_pid" ]]; then
        kill "$proxy_pid" 2>/dev/null || true
        wait "$proxy_pid" 2>/dev/null || true
        proxy_pid=""
    fi
}
trap stop_proxy EXIT

run_suite() { # $1 = client; the suite's output goes to $logs/$1.log
    local client="$1"
    export ANH_RPC_URL="$target"
    export ANH_WS_URL="${target/http/ws}"
    export ANH_CLIENTS_RECORD="$logs/$client.values.jsonl"
    : >"$ANH_CLIENTS_RECORD"
    case "$client" in
        ethers | viem | foundry)
            (cd "$HERE" && timeout "$SUITE_TIMEOUT" node --test --test-reporter=spec "$client/") ;;
        web3py)
            (cd "$HERE" && timeout "$SUITE_TIMEOUT" "$PY" -m pytest -q -rf -p no:cacheprovider python) ;;
        hardhat)
            (cd "$HERE/hardhat" && HARDHAT_DISABLE_TELEMETRY_PROMPT=true \
                timeout "$SUITE_TIMEOUT" node "$HERE/node_modules/hardhat/internal/cli/bootstrap.js" test --network anh --no-compile) ;;
    esac
}

# Prints "passed failed" parsed from a runner's output.
counts() { # $1 = client, $2 = log file
    set +o pipefail # a grep that finds nothing is a count of 0
    local out="$2" p=0 f=0
    case "$1" in
        ethers | viem | foundry)
            p="$(sed -nE 's/^ℹ pass ([0-9]+)$/\1/p' "$out" | tail -n1)"
            f="$(sed -nE 's/^ℹ (fail|cancelled) ([0-9]+)$/\2/p' "$out" | awk '{s+=$1} END {print s+0}')" ;;
        web3py)
            p="$(grep -oE '[0-9]+ passed' "$out" | tail -n1 | cut -d' ' -f1)"
            f="$(grep -oE '[0-9]+ (failed|errors?)' "$out" | awk '{s+=$1} END {print s+0}')" ;;
        hardhat)
            p="$(grep -oE '^ +[0-9]+ passing' "$out" | tail -n1 | awk '{print $1}')"
            f="$(grep -oE '^ +[0-9]+ failing' "$out" | tail -n1 | awk '{print $1}')" ;;
    esac
    echo "${p:-0} ${f:-0}"
}

summary=()
failed_total=0
counts_json=""
started=$SECONDS
for client in "${clients[@]}"; do
    start_proxy "$client"
    t0=$SECONDS
    rc=0
    run_suite "$client" >"$logs/$client.log" 2>&1 || rc=$?
    stop_proxy
    read -r passed failed < <(counts "$client" "$logs/$client.log")
    if [[ $rc -ne 0 && $failed -eq 0 ]]; then
        failed=1 # the runner itself failed (crash, timeout): count it
        echo "run.sh: the $client runner exited $rc without reporting a failed test" >>"$logs/$client.log"
    fi
    min=${MIN_TESTS[$client]}
    short=""
    if [[ $passed -lt $min || $passed -eq 0 ]]; then
        short="  FEWER THAN ITS MINIMUM"
        echo "run.sh: $client passed $passed tests, fewer than its minimum $min (MIN_TESTS in run.sh)" >>"$logs/$client.log"
    fi
    [[ -z "$short" ]] || failed_total=$((failed_total + 1))
    failed_total=$((failed_total + failed))
    counts_json+="${counts_json:+,}\"$client\":{\"passed\":$passed,\"failed\":$failed,\"min\":$min,\"rc\":$rc}"
    line="$(printf '%-8s %3d passed, %d failed (min %d)  (%ds)%s' "$client" "$passed" "$failed" "$min" $((SECONDS - t0)) "$short")"
    summary+=("$line")
    if [[ $failed -ne 0 || -n "$short" || "${ANH_CLIENTS_VERBOSE:-0}" == 1 ]]; then
        echo "=== $client ($logs/$client.log) ==="
        grep -vE '^\s+at ' "$logs/$client.log" | cut -c1-400 | tail -n 150
    fi
    echo "$line"
done

echo "{$counts_json}" >"$logs/counts.json"

echo
echo "=== $url: client-compatibility suite (${SECONDS}s; logs in $logs) ==="
printf '%s\n' "${summary[@]}"
if [[ "${ANH_CLIENTS_PROXY:-1}" != 0 ]]; then
    echo
    node "$HERE/lib/rpc-report.mjs" errors "$logs"
fi
[[ $failed_total -eq 0 ]]
