#!/usr/bin/env bash
# Runs the JavaScript SDK's checks against the node at ANH_RPC_URL (default
# http://127.0.0.1:8545; the tests never start one):
#
#   1. set-up: `npm ci` in sdk/js (viem, ethers, typescript as devDependencies, from the committed
#      package-lock.json; skipped while node_modules matches the lock), npm's cache at
#      ${ANH_CACHE_DIR:-$HOME/.cache/anh}/npm;
#   2. the type check: tsc --noEmit over the hand-written declarations (src/*.d.ts) and the type
#      tests (test/types/), which check viem's inference on the exported ABIs;
#   3. `node --test` of test/offline.test.mjs, test/attest.test.mjs (the attestation helpers on the
#      node's known-answer vectors and synthetic signed blocks) and test/node.test.mjs (viem and
#      ethers against the node, outputs compared with the ONNX Runtime fixture
#      test/fixtures/onnxruntime.json, every sealed record verified alone);
#   4. a fresh npm project in a temporary folder installs the SDK from this folder with one
#      command, offline (a link, then a packed copy with --install-links), imports it, and
#      type-checks a file that uses it without viem or ethers installed.
#
#   sdk/js/test.sh [URL]
#
# Prints `sdk/js  N passed, N failed (min M)` and exits 1 if anything failed or fewer than
# MIN_TESTS tests ran. Set-up failures exit 1 with a one-line reason.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
# The tests this suite has today; raise it with every test added.
MIN_TESTS=60
SUITE_TIMEOUT=300

die() { echo "sdk/js/test.sh: $*" >&2; exit 1; }

if [[ $# -gt 0 ]]; then export ANH_RPC_URL="$1"; fi
export ANH_RPC_URL="${ANH_RPC_URL:-http://127.0.0.1:8545}"
command -v node >/dev/null || die "node (20 or newer) is needed"
[[ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ]] || die "node 20 or newer is needed, found $(node --version)"
export npm_config_cache="${npm_config_cache:-${ANH_CACHE_DIR:-$HOME/.cache/anh}/npm}"
export npm_config_update_notifier=false

# --- 1. set-up ----------------------------------------------------------------------------------
stamp="$HERE/node_modules/.anh-sdk-js-stamp"
want="$( (cat "$HERE/package-lock.json"; node --version) | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    echo "sdk/js/test.sh: npm ci in sdk/js" >&2
    (cd "$HERE" && npm ci --prefer-offline --ignore-scripts --no-audit --no-fund >&2) \
        || die "npm ci failed in sdk/js (see npm's message above; is the registry reachable, or the cache at $npm_config_cache filled?)"
    echo "$want" >"$stamp"
fi

# The suite needs a node: say so before spending time on the type check.
node -e 'fetch(process.argv[1], { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }) }).then((r) => r.json()).then((a) => { if (!a.result) throw new Error(JSON.stringify(a)); })' "$ANH_RPC_URL" 2>/dev/null \
    || die "no node answers at $ANH_RPC_URL: start one (anh node --port …) or set ANH_RPC_URL"

# --- 2. type check --------------------------------------------------------------------------------
echo "sdk/js/test.sh: tsc --noEmit (declarations and type tests)" >&2
(cd "$HERE" && node_modules/.bin/tsc -p tsconfig.json) || die "the type check failed (tsc's errors above)"

# --- 3. tests against the node ------------------------------------------------------------------
tap="$(mktemp)"
work="$(mktemp -d)"
trap 'rm -rf "$tap" "$work"' EXIT
status=0
(cd "$HERE" && timeout "$SUITE_TIMEOUT" node --test --test-timeout=120000 \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$tap" \
    test/offline.test.mjs test/attest.test.mjs test/node.test.mjs) || status=$?
passed="$(sed -nE 's/^# pass ([0-9]+)$/\1/p' "$tap" | tail -1)"
failed="$(sed -nE 's/^# fail ([0-9]+)$/\1/p' "$tap" | tail -1)"
passed="${passed:-0}"
failed="${failed:-0}"

# --- 4. a fresh project installs and uses the SDK -------------------------------------------------
install_ok=1
check_install() { # $1: label, then npm install flags
    local label="$1"; shift
    local dir="$work/$label"
    mkdir -p "$dir"
    (
        cd "$dir"
        npm init -y >/dev/null
        npm pkg set type=module >/dev/null
        npm install --offline --no-audit --no-fund "$@" "$HERE" >/dev/null
        # Nothing but the SDK lands in node_modules: no runtime dependency, no peer auto-installed.
        extra="$(ls -A node_modules | grep -vx -e '@anh' -e '.package-lock.json' || true)"
        [[ -z "$extra" ]] || { echo "installed besides @anh/sdk: $extra" >&2; exit 1; }
        cat >use.mjs <<'EOF'
import { DTYPE, INFER_ADDRESS, attestationLeaf, decodeTensor, encodeTensor, fixedDtype, inferAbi, toFixed, verifyInclusion } from '@anh/sdk';
const t = encodeTensor(['1.5', '-0.25'], { dtype: fixedDtype(6), shape: [1, 2] });
if (t.data !== '0x000000000016e360fffffffffffc2f70' || decodeTensor(t).decimals !== 6) throw new Error(`bad tensor ${t.data}`);
if (toFixed('2.5', 0) !== 2n || DTYPE.FLOAT32 !== 1 || !INFER_ADDRESS.endsWith('d01') || !inferAbi.length) throw new Error('bad exports');
// The attestation helpers take the caller's keccak256 (none here: no viem, no ethers) and say so.
try { attestationLeaf({}, undefined); throw new Error('attestationLeaf ran without a keccak256'); } catch (e) { if (!(e instanceof TypeError)) throw e; }
if (verifyInclusion(`0x${'11'.repeat(32)}`, 0, 1, [], `0x${'11'.repeat(32)}`, () => `0x${'00'.repeat(32)}`) !== true) throw new Error('one leaf is its own root');
console.log('ok');
EOF
        [[ "$(node use.mjs)" == ok ]]
        cat >use.ts <<'EOF'
import { encodeTensor, getAttestations, inferAbi, verifyAttestation, type Tensor } from '@anh/sdk';
const t: Tensor = encodeTensor(new Float32Array([1, 2]), { shape: [1n, 2n] });
const dtype: number = t.dtype;
const name: 'infer' = inferAbi[0].name;
const keccak256 = (b: Uint8Array): string => `0x${b.length}`;
export async function signers(url: string): Promise<string[]> {
  const [record] = (await getAttestations(url, 'latest')) ?? [];
  const root: `0x${string}` | undefined = record?.sealed?.root;
  return root ? (await verifyAttestation(record, { chainId: 1, committee: { members: [], threshold: 1 }, keccak256, recoverAddress: async (d, s) => d + s })).signers : [];
}
export { dtype, name };
EOF
        # No DOM and no @types: the declarations need only the ES library.
        echo '{ "compilerOptions": { "strict": true, "noEmit": true, "module": "nodenext", "moduleResolution": "nodenext", "target": "es2022", "lib": ["es2022"], "types": [] }, "files": ["use.ts"] }' >tsconfig.json
        "$HERE/node_modules/.bin/tsc" -p tsconfig.json
    ) >&2 || { echo "sdk/js/test.sh: a fresh npm project could not install and use the SDK ($label: npm install ${*:+$* }$HERE)" >&2; install_ok=0; }
}
check_install link
check_install copy --install-links
[[ $install_ok == 1 ]] && echo "sdk/js/test.sh: a fresh npm project installs the SDK offline with one command (linked and copied), imports and type-checks it" >&2

echo "sdk/js  $passed passed, $failed failed (min $MIN_TESTS)"
if [[ $status -ne 0 || $failed -ne 0 ]]; then
    [[ $status -eq 124 ]] && echo "sdk/js/test.sh: the tests ran past ${SUITE_TIMEOUT}s" >&2
    exit 1
fi
[[ $passed -ge $MIN_TESTS ]] || { echo "sdk/js/test.sh: only $passed tests passed, $MIN_TESTS expected" >&2; exit 1; }
[[ $install_ok == 1 ]] || exit 1
