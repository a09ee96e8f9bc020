#!/usr/bin/env bash
# Installs what the client-compatibility suite needs, every package pinned: the repository's
# Node tools (scripts/setup-node.sh: Foundry 1.7.1, solc-js), `npm ci` here (ethers, viem,
# Hardhat, ... from clients/package-lock.json, integrity-checked) and the web3.py venv
# (clients/python/setup.sh, --require-hashes).
#
#   clients/setup.sh               install what is missing; print the web3.py venv's python
#
# Idempotent: each part is skipped when its stamp matches. npm's downloads go through
# ${ANH_CACHE_DIR:-$HOME/.cache/anh}/npm. Any failure exits 1 with a one-line reason on stderr.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
ROOT="$(cd "$HERE/.." && pwd -P)"

die() { echo "clients/setup.sh: error: $*" >&2; exit 1; }

"$ROOT/scripts/setup-node.sh" >/dev/null || die "the repository's Node tools did not install"

export npm_config_cache="${npm_config_cache:-${ANH_CACHE_DIR:-$HOME/.cache/anh}/npm}"
stamp="$HERE/node_modules/.anh-clients-stamp"
want="$( (cat "$HERE/package-lock.json"; node --version) | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    echo "clients/setup.sh: npm ci in clients/" >&2
    npm ping --fetch-retries=0 >/dev/null 2>&1 \
        || die "cannot reach the npm registry at $(npm config get registry)"
    (cd "$HERE" && npm ci --ignore-scripts --no-audit --no-fund >&2) \
        || die "npm ci failed in clients/ (see npm's message above)"
    echo "$want" >"$stamp"
fi

"$HERE/python/setup.sh" || die "the web3.py venv did not install"
