#!/usr/bin/env bash
# Tests that set-up fails loudly: each case runs a set-up step in a scratch copy of the
# repository's set-up files, with an empty ANH_CACHE_DIR of its own, breaks one thing (the npm
# registry or PyPI unreachable, a pinned hash that does not match), and checks that the step
# exits non-zero quickly, names the cause in its last line, and leaves nothing that looks
# installed. Run by `./dev test` after the real set-up, whose npm and pip caches it reuses so
# the hash cases read the same bytes without downloading them again.
#
#   scripts/test-setup.sh
#
# Prints one line per case and a closing `N passed, N failed`; exits 1 if any case failed.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
CACHE_DIR="${ANH_CACHE_DIR:-$HOME/.cache/anh}"
# Every case must end within this many seconds: "fails at once", not after npm's retries.
LIMIT=60

passed=0
failed=0
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# A scratch copy of what set-up reads, so that a case can break it without touching the checkout.
fresh_copy() { # $1 = name; prints the copy's root
  local dir="$scratch/$1"
  mkdir -p "$dir/clients/python"
  cp -R "$ROOT/dev" "$ROOT/scripts" "$ROOT/package.json" "$ROOT/package-lock.json" "$dir/"
  cp "$ROOT/clients/setup.sh" "$ROOT/clients/package.json" "$ROOT/clients/package-lock.json" "$dir/clients/"
  cp "$ROOT/clients/python/setup.sh" "$ROOT/clients/python/requirements.txt" "$dir/clients/python/"
  mkdir -p "$dir/sdk/python" "$dir/sdk/js"
  cp "$ROOT/sdk/python/test.sh" "$ROOT/sdk/python/requirements-test.txt" "$dir/sdk/python/"
  cp "$ROOT/sdk/js/test.sh" "$ROOT/sdk/js/package.json" "$ROOT/sdk/js/package-lock.json" "$dir/sdk/js/"
  echo "$dir"
}

# Changes every sha512/sha256 pin in file $1 (reversed digits: still well-formed, never right).
tamper() {
  python3 - "$1" <<'PY'
import re, sys
path = sys.argv[1]
text = open(path).read()
text = re.sub(r"(sha512-|sha256:)([A-Za-z0-9+/=]+)", lambda m: m.group(1) + m.group(2)[::-1], text)
open(path, "w").write(text)
PY
}

# Runs a case: $1 name, $2 the text its output must show, $3 a path (in the copy) that must not
# exist afterwards, $4 a pin file to tamper with first ("-" for none), then the command (run in
# the copy, with an empty ANH_CACHE_DIR).
expect_failure() {
  local name="$1" want="$2" absent="$3" tampered="$4" dir out rc t0 elapsed last
  shift 4
  dir="$(fresh_copy "$name")"
  [[ "$tampered" == - ]] || tamper "$dir/$tampered"
  t0=$SECONDS
  out="$(cd "$dir" && ANH_CACHE_DIR="$dir/.cache" timeout "$LIMIT" "$@" 2>&1 </dev/null)"
  rc=$?
  elapsed=$((SECONDS - t0))
  last="$(printf '%s\n' "$out" | sed -e 's/\x1b\[[0-9;]*m//g' | grep -v '^[[:space:]]*$' | tail -n1)"
  local why=""
  if [[ $rc -eq 0 ]]; then
    why="exited 0"
  elif [[ $rc -eq 124 ]]; then
    why="still running after ${LIMIT}s"
  elif [[ "$out" != *"$want"* ]]; then
    why="its output does not say '$want'"
  elif [[ -e "$dir/$absent" ]]; then
    why="$absent exists afterwards"
  fi
  if [[ -z "$why" ]]; then
    passed=$((passed + 1))
    printf 'ok    %-34s exit %d in %ds: %s\n' "$name" "$rc" "$elapsed" "$last"
  else
    failed=$((failed + 1))
    printf 'FAIL  %-34s %s; its output:\n%s\n' "$name" "$why" "$out"
  fi
}

# Each case's npm and pip caches: the real set-up's (warm), except where the case needs none.
export npm_config_cache="$CACHE_DIR/npm" PIP_CACHE_DIR="$CACHE_DIR/pip"

expect_failure npm-registry-unreachable "cannot reach the npm registry at http://127.0.0.1:9" \
  node_modules/.anh-setup-stamp - \
  env npm_config_registry=http://127.0.0.1:9 npm_config_cache="$scratch/empty-npm" ./dev setup

expect_failure pypi-unreachable "pip could not download onnxruntime==1.31.1" \
  .cache/onnxruntime-1.31.1 - \
  env PIP_INDEX_URL=http://127.0.0.1:9/simple PIP_FIND_LINKS= PIP_CACHE_DIR="$scratch/empty-pip" \
  scripts/setup-ort.sh

expect_failure foundry-hash-mismatch "does not match scripts/pins/foundry.txt" \
  node_modules/.anh-setup-stamp scripts/pins/foundry.txt \
  scripts/setup-node.sh

expect_failure onnxruntime-hash-mismatch "did not match scripts/pins/onnxruntime.txt" \
  .cache/onnxruntime-1.31.1 scripts/pins/onnxruntime.txt \
  scripts/setup-ort.sh

expect_failure web3py-hash-mismatch "pip could not install clients/python/requirements.txt" \
  .cache/clients-venv/.anh-requirements.sha256 clients/python/requirements.txt \
  clients/python/setup.sh

expect_failure sdk-python-hash-mismatch "pip could not install sdk/python/requirements-test.txt" \
  .cache/sdk-python-venv/.anh-requirements.sha256 sdk/python/requirements-test.txt \
  sdk/python/test.sh

expect_failure sdk-js-registry-unreachable "npm ci failed in sdk/js" \
  sdk/js/node_modules/.anh-sdk-js-stamp - \
  env npm_config_registry=http://127.0.0.1:9 npm_config_cache="$scratch/empty-npm-sdk" \
  npm_config_fetch_retries=0 sdk/js/test.sh

echo
echo "set-up: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
