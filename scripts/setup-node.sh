#!/usr/bin/env bash
# Installs the repository's Node tooling (solc-js and Foundry's cast, anvil and forge, pinned in
# package.json / package-lock.json) with `npm ci`, then checks that the native Foundry binaries run.
#
#   scripts/setup-node.sh              install if needed, then print the binaries' paths
#   scripts/setup-node.sh --print-env  same, but stdout is only ANH_CAST=…, ANH_ANVIL=…, ANH_FORGE=…
#                                      (eval "$(scripts/setup-node.sh --print-env)", or >> "$GITHUB_ENV")
#
# Idempotent: `npm ci` runs only when node_modules/.anh-setup-stamp does not match the hash of
# package-lock.json (and the Node version). The paths printed are the native binaries under
# node_modules/@foundry-rs/<tool>-<os>-<arch>/bin/, not the node_modules/.bin wrappers, which
# exit 0 even when the tool fails.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
TOOLS=(cast anvil forge)
STAMP="$ROOT/node_modules/.anh-setup-stamp"

print_env=0
case "${1:-}" in
  "") ;;
  --print-env) print_env=1 ;;
  -h|--help) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "setup-node.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac

log() { echo "setup-node: $*" >&2; }
die() { echo "setup-node: error: $*" >&2; exit 1; }

command -v node >/dev/null || die "node is not on PATH: install Node.js 20 or newer"
command -v npm >/dev/null || die "npm is not on PATH: install Node.js 20 or newer (it ships npm)"
node_version="$(node --version)"
node_major="${node_version#v}"
node_major="${node_major%%.*}"
(( node_major >= 20 )) || die "Node $node_version is too old: Foundry's npm packages need Node 20 or newer"
[[ -f "$ROOT/package-lock.json" ]] || die "$ROOT/package-lock.json is missing"

case "$(uname -s)" in
  Linux) os=linux ;;
  Darwin) os=darwin ;;
  *) die "unsupported OS $(uname -s): Foundry's npm packages cover Linux and macOS here" ;;
esac
case "$(uname -m)" in
  x86_64|amd64) arch=amd64 ;;
  aarch64|arm64) arch=arm64 ;;
  *) die "unsupported CPU $(uname -m)" ;;
esac

# The native binary of a tool: the platform package's, or the one the wrapper package's
# postinstall downloads next to itself when the platform package is missing.
native_bin() {
  local tool="$1" candidate
  for candidate in \
    "$ROOT/node_modules/@foundry-rs/$tool-$os-$arch/bin/$tool" \
    "$ROOT/node_modules/@foundry-rs/$tool/$tool"; do
    if [[ -f "$candidate" && -x "$candidate" ]]; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

# The version of an installed npm package: the first "version" key of its package.json (the
# top-level one in npm's manifests). Read without node, to keep the already-installed path fast.
pkg_version() {
  local manifest="$ROOT/node_modules/$1/package.json" version
  [[ -f "$manifest" ]] || return 1
  version="$(grep -m1 -E '^[[:space:]]*"version"[[:space:]]*:' "$manifest" \
    | sed -E 's/.*"version"[[:space:]]*:[[:space:]]*"([^"]*)".*/\1/')"
  [[ -n "$version" ]] && echo "$version"
}

# Succeeds once each native binary runs and reports the version npm installed.
verify_tools() {
  local tool bin want out
  for tool in "${TOOLS[@]}"; do
    bin="$(native_bin "$tool")" || { log "no native $tool binary for $os-$arch under node_modules/@foundry-rs"; return 1; }
    want="$(pkg_version "@foundry-rs/$tool")" \
      || { log "@foundry-rs/$tool is not installed"; return 1; }
    out="$("$bin" --version 2>&1)" || { log "$bin --version failed: $out"; return 1; }
    [[ "$out" == *"Version: $want"* ]] || { log "$bin reports '${out%%$'\n'*}', expected $want"; return 1; }
  done
  [[ -f "$ROOT/node_modules/solc/soljson.js" ]] || { log "solc is not installed"; return 1; }
}

want_stamp="$(
  { cat "$ROOT/package-lock.json"; echo "node $node_version $os-$arch"; } \
    | { sha256sum 2>/dev/null || shasum -a 256; } | cut -d' ' -f1
)"

install() {
  log "running npm ci in $ROOT"
  rm -f "$STAMP"
  (cd "$ROOT" && npm ci --no-audit --no-fund) >&2 || die "npm ci failed. If it says the lock file is
  out of sync with 'Missing: @foundry-rs/<tool>-<platform>@', package-lock.json was rewritten by an
  npm (>= 11.16) that drops the placeholders of Foundry's unpublished platform packages
  (npm/cli#9846): regenerate it with \`npm run relock\` (npm 11.13.0)"
  verify_tools || die "Foundry binaries do not run after npm ci"
  echo "$want_stamp" > "$STAMP"
}

# Serialise concurrent runs (parallel CI steps or test harnesses): npm ci deletes node_modules.
if command -v flock >/dev/null; then
  lock="${TMPDIR:-/tmp}/anh-setup-node-$(echo "$ROOT" | { sha256sum 2>/dev/null || shasum -a 256; } | cut -c1-16).lock"
  exec 9>"$lock"
  flock 9
fi

if [[ ! -f "$STAMP" ]]; then
  log "no install stamp in node_modules"
  install
elif [[ "$(cat "$STAMP")" != "$want_stamp" ]]; then
  log "package-lock.json (or Node) changed since the last install"
  install
elif ! verify_tools; then
  log "node_modules is damaged"
  install
else
  log "node_modules matches package-lock.json; skipped npm ci"
fi

if (( print_env )); then
  for tool in "${TOOLS[@]}"; do
    echo "ANH_$(echo "$tool" | tr '[:lower:]' '[:upper:]')=$(native_bin "$tool")"
  done
else
  for tool in "${TOOLS[@]}"; do
    bin="$(native_bin "$tool")"
    printf '%-5s %s  (%s)\n' "$tool" "$bin" "$("$bin" --version | head -n1)"
  done
  printf '%-5s %s  (%s)\n' solc "$ROOT/node_modules/solc" \
    "$(pkg_version solc)"
fi
