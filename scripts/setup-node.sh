#!/usr/bin/env bash
# Installs the repository's Node tooling, every byte pinned and checked:
#
#   - solc-js 0.8.28 (contract artifacts): `npm ci` from package.json and package-lock.json. The
#     lock holds plain registry packages only, each with its integrity, a shape that npm 10 and
#     every npm 11 read alike.
#   - Foundry's cast, anvil and forge 1.7.1: the native binary of each, from the npm package of
#     this platform (@foundry-rs/<tool>-<os>-<arch>), fetched with `npm pack`, checked against
#     the sha512 in scripts/pins/foundry.txt and unpacked under
#     node_modules/@foundry-rs/<tool>-<os>-<arch>/bin/<tool>. The wrapper packages
#     (@foundry-rs/<tool>) are not used: their optional platform dependencies give lock files
#     that one npm release writes and another refuses, and their launchers exit 0 when the tool
#     fails.
#
#   scripts/setup-node.sh              install what is missing, then print the tools' paths
#   scripts/setup-node.sh --print-env  same, but stdout is only ANH_CAST=…, ANH_ANVIL=…, ANH_FORGE=…
#                                      (env="$(scripts/setup-node.sh --print-env)" || exit; eval "$env")
#
# Idempotent: nothing is fetched when node_modules/.anh-setup-stamp matches the pins and every
# tool runs and reports its pinned version. Downloads go through npm's cache in
# ${ANH_CACHE_DIR:-$HOME/.cache/anh}/npm (npm_config_cache overrides it). Any failure (no Node,
# registry unreachable, a hash that does not match, a binary that does not run) exits 1 with a
# one-line reason on stderr; nothing half-installed is left looking installed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
PINS="$ROOT/scripts/pins/foundry.txt"
STAMP="$ROOT/node_modules/.anh-setup-stamp"
SOLC_VERSION="0.8.28"

print_env=0
case "${1:-}" in
  "") ;;
  --print-env) print_env=1 ;;
  -h|--help) sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "setup-node.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac

log() { echo "setup-node: $*" >&2; }
die() { echo "setup-node: error: $*" >&2; exit 1; }

command -v node >/dev/null || die "node is not on PATH: install Node.js 20 or newer"
command -v npm >/dev/null || die "npm is not on PATH: install Node.js 20 or newer (it ships npm)"
node_version="$(node --version)"
node_major="${node_version#v}"
node_major="${node_major%%.*}"
(( node_major >= 20 )) || die "Node $node_version is too old: ANH's tooling needs Node 20 or newer"
[[ -f "$ROOT/package-lock.json" ]] || die "$ROOT/package-lock.json is missing"
[[ -f "$PINS" ]] || die "$PINS is missing"

case "$(uname -s)" in
  Linux) os=linux ;;
  Darwin) os=darwin ;;
  *) die "unsupported OS $(uname -s): Foundry's npm packages cover Linux and macOS" ;;
esac
case "$(uname -m)" in
  x86_64|amd64) arch=amd64 ;;
  aarch64|arm64) arch=arm64 ;;
  *) die "unsupported CPU $(uname -m): Foundry's npm packages cover amd64 and arm64" ;;
esac
platform="$os-$arch"

export npm_config_cache="${npm_config_cache:-${ANH_CACHE_DIR:-$HOME/.cache/anh}/npm}"
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

# "tool version integrity" for this platform, one line per tool, from the pin file.
pins="$(awk -v p="$platform" '!/^#/ && NF == 4 && $3 == p { print $1, $2, $4 }' "$PINS")"
[[ -n "$pins" ]] || die "scripts/pins/foundry.txt pins no Foundry build for $platform"
TOOLS=()
while read -r tool _ _; do TOOLS+=("$tool"); done <<<"$pins"

tool_dir() { echo "$ROOT/node_modules/@foundry-rs/$1-$platform"; }
tool_bin() { echo "$(tool_dir "$1")/bin/$1"; }

# Succeeds once each tool runs and reports its pinned version, and solc-js is the pinned one.
verify_tools() {
  local tool version integrity bin out
  while read -r tool version integrity; do
    bin="$(tool_bin "$tool")"
    [[ -x "$bin" ]] || { log "$tool is not installed ($bin)"; return 1; }
    out="$("$bin" --version 2>&1)" || { log "$bin --version failed: ${out%%$'\n'*}"; return 1; }
    [[ "$out" == *"Version: $version"* ]] \
      || { log "$bin reports '${out%%$'\n'*}', pinned $version"; return 1; }
  done <<<"$pins"
  grep -qs "\"version\": \"$SOLC_VERSION\"" "$ROOT/node_modules/solc/package.json" \
    || { log "solc-js $SOLC_VERSION is not installed"; return 1; }
}

want_stamp="$(
  { cat "$ROOT/package-lock.json" "$PINS"; echo "node $node_version $platform"; } \
    | { sha256sum 2>/dev/null || shasum -a 256; } | cut -d' ' -f1
)"

# sha512 integrity (npm's "sha512-<base64>") of a file.
integrity_of() {
  node -e 'const c=require("crypto"),f=require("fs");
    process.stdout.write("sha512-"+c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$1"
}

install_foundry_tool() { # $1 tool, $2 version, $3 integrity, $4 scratch folder
  local tool="$1" version="$2" integrity="$3" tmp="$4" spec tarball got dest
  spec="@foundry-rs/$tool-$platform@$version"
  log "fetching $spec"
  (cd "$tmp" && npm pack --silent "$spec" >"$tmp/$tool.name") \
    || die "npm pack $spec failed (see npm's message above)"
  tarball="$tmp/$(tail -n1 "$tmp/$tool.name")"
  [[ -f "$tarball" ]] || die "npm pack $spec wrote no tarball"
  got="$(integrity_of "$tarball")"
  [[ "$got" == "$integrity" ]] \
    || die "$spec does not match scripts/pins/foundry.txt: got $got, pinned $integrity"
  mkdir -p "$tmp/$tool"
  tar -xzf "$tarball" -C "$tmp/$tool" || die "cannot unpack $tarball"
  [[ -f "$tmp/$tool/package/bin/$tool" ]] || die "$spec has no bin/$tool"
  chmod +x "$tmp/$tool/package/bin/$tool"
  dest="$(tool_dir "$tool")"
  rm -rf "$dest"
  mkdir -p "$(dirname "$dest")"
  mv "$tmp/$tool/package" "$dest"
}

install() {
  rm -f "$STAMP"
  log "checking that the npm registry answers ($(npm config get registry))"
  npm ping --fetch-retries=0 >/dev/null 2>&1 \
    || die "cannot reach the npm registry at $(npm config get registry): set-up needs it once (npm_config_registry selects another)"
  log "npm ci (solc-js $SOLC_VERSION) in $ROOT"
  (cd "$ROOT" && npm ci --ignore-scripts --no-audit --no-fund >&2) \
    || die "npm ci failed in $ROOT (see npm's message above)"
  local tmp tool version integrity
  tmp="$(mktemp -d)"
  # shellcheck disable=SC2064 # expand now: tmp is local
  trap "rm -rf '$tmp'" EXIT
  while read -r tool version integrity; do
    install_foundry_tool "$tool" "$version" "$integrity" "$tmp"
  done <<<"$pins"
  verify_tools || die "the Foundry binaries or solc-js do not work after installing them"
  echo "$want_stamp" >"$STAMP"
}

# Serialise concurrent runs (parallel CI steps or test harnesses): npm ci deletes node_modules.
if command -v flock >/dev/null; then
  lock="${TMPDIR:-/tmp}/anh-setup-node-$(echo "$ROOT" | { sha256sum 2>/dev/null || shasum -a 256; } | cut -c1-16).lock"
  exec 9>"$lock"
  flock 9
fi

if [[ ! -f "$STAMP" ]]; then
  log "nothing installed yet"
  install
elif [[ "$(cat "$STAMP")" != "$want_stamp" ]]; then
  log "package-lock.json, the Foundry pins or Node changed since the last install"
  install
elif ! verify_tools; then
  log "node_modules is damaged"
  install
fi

if (( print_env )); then
  for tool in "${TOOLS[@]}"; do
    echo "ANH_$(echo "$tool" | tr '[:lower:]' '[:upper:]')=$(tool_bin "$tool")"
  done
else
  for tool in "${TOOLS[@]}"; do
    printf '%-5s %s  (%s)\n' "$tool" "$(tool_bin "$tool")" "$("$(tool_bin "$tool")" --version | head -n1)"
  done
  printf '%-5s %s  (%s)\n' solc "$ROOT/node_modules/solc" "$SOLC_VERSION"
fi
