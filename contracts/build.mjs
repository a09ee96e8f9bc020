#!/usr/bin/env node
// Compiles every contracts/src/**/*.sol with the solc-js pinned in the root package.json and
// writes one artifact per contract to contracts/out/<ContractName>.json.
//
//   node contracts/build.mjs           compile; write changed artifacts, delete ones no source makes
//   node contracts/build.mjs --check   compile in memory; exit 1 if contracts/out is stale
//
// Artifact: { "contractName", "sourceName", "abi", "bytecode", "deployedBytecode" } (hex with 0x,
// "0x" for interfaces and abstract contracts). Settings are fixed (optimizer 200 runs, cancun,
// no metadata hash) so that the same sources always give the same bytes.

import { existsSync, mkdirSync, readFileSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const CONTRACTS_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(CONTRACTS_DIR, '..');
const SRC_DIR = join(CONTRACTS_DIR, 'src');
const OUT_DIR = join(CONTRACTS_DIR, 'out');

const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: 'cancun',
  metadata: { bytecodeHash: 'none' },
  outputSelection: {
    '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] },
  },
};

function usage(code) {
  (code === 0 ? console.log : console.error)(
    'usage: node contracts/build.mjs [--check]\n' +
      '  (no flag)  compile contracts/src/**/*.sol and write contracts/out/<Contract>.json\n' +
      '  --check    compile in memory; exit 1 if contracts/out is missing, stale or has extras',
  );
  process.exit(code);
}

function fail(message) {
  console.error(`contracts/build.mjs: ${message}`);
  process.exit(1);
}

/** Source unit name of a file: its path from the repository root, with forward slashes. */
function unitName(absPath) {
  return relative(ROOT, absPath).split(sep).join('/');
}

/** Every .sol file under `dir`, sorted, as absolute paths. */
function findSources(dir) {
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...findSources(path));
    else if (entry.isFile() && entry.name.endsWith('.sol')) found.push(path);
  }
  return found.sort();
}

/** Loads solc-js and checks it is the exact version package.json pins. */
async function loadSolc() {
  let solc;
  try {
    solc = (await import('solc')).default;
  } catch (err) {
    fail(`cannot load solc from node_modules (${err.code ?? err.message}): run scripts/setup-node.sh`);
  }
  const pinned = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).devDependencies?.solc;
  const version = solc.version();
  if (pinned && !version.startsWith(`${pinned}+`)) {
    fail(`solc ${version} is installed but package.json pins ${pinned}: run scripts/setup-node.sh`);
  }
  return solc;
}

/** Import callback: resolves imports inside contracts/src only. */
function findImport(path) {
  const abs = resolve(ROOT, path);
  if (!abs.startsWith(SRC_DIR + sep)) return { error: `import outside contracts/src: ${path}` };
  if (!existsSync(abs)) return { error: `file not found: ${path}` };
  return { contents: readFileSync(abs, 'utf8') };
}

function hex(object) {
  return `0x${object ?? ''}`;
}

/** Compiles all sources; returns Map(fileName -> artifact text), sorted by contract name. */
function compile(solc, files) {
  const sources = {};
  for (const file of files) sources[unitName(file)] = { content: readFileSync(file, 'utf8') };
  const input = { language: 'Solidity', sources, settings: SETTINGS };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImport }));

  const errors = (output.errors ?? []).filter((e) => e.severity === 'error');
  for (const diagnostic of output.errors ?? []) {
    console.error((diagnostic.formattedMessage ?? diagnostic.message).trimEnd());
  }
  if (errors.length > 0) fail(`${errors.length} compile error(s)`);

  const artifacts = new Map();
  const origin = new Map();
  for (const sourceName of Object.keys(output.contracts ?? {}).sort()) {
    for (const [contractName, contract] of Object.entries(output.contracts[sourceName])) {
      if (origin.has(contractName)) {
        fail(`contract ${contractName} is defined in both ${origin.get(contractName)} and ${sourceName}; ` +
          'artifacts are named by contract, so rename one');
      }
      origin.set(contractName, sourceName);
      const bytecode = hex(contract.evm?.bytecode?.object);
      if (bytecode.includes('__$')) {
        fail(`${sourceName}:${contractName} needs library linking, which this script does not do`);
      }
      const artifact = {
        contractName,
        sourceName,
        abi: contract.abi,
        bytecode,
        deployedBytecode: hex(contract.evm?.deployedBytecode?.object),
      };
      artifacts.set(`${contractName}.json`, `${JSON.stringify(artifact, null, 2)}\n`);
    }
  }
  return new Map([...artifacts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function existingArtifacts() {
  if (!existsSync(OUT_DIR)) return [];
  return readdirSync(OUT_DIR).filter((name) => name.endsWith('.json')).sort();
}

async function main() {
  const args = process.argv.slice(2);
  if (args.includes('-h') || args.includes('--help')) usage(0);
  const unknown = args.filter((a) => a !== '--check');
  if (unknown.length > 0) {
    console.error(`unknown argument(s): ${unknown.join(' ')}`);
    usage(2);
  }
  const check = args.includes('--check');

  if (!existsSync(SRC_DIR)) fail('contracts/src does not exist');
  const files = findSources(SRC_DIR);
  if (files.length === 0) fail('no .sol files under contracts/src');

  const solc = await loadSolc();
  const artifacts = compile(solc, files);
  const extra = existingArtifacts().filter((name) => !artifacts.has(name));
  const missing = [];
  const stale = [];
  for (const [name, text] of artifacts) {
    const path = join(OUT_DIR, name);
    if (!existsSync(path)) missing.push(name);
    else if (readFileSync(path, 'utf8') !== text) stale.push(name);
  }

  const rel = (name) => `contracts/out/${name}`;
  if (check) {
    if (missing.length + stale.length + extra.length === 0) {
      console.log(`contracts/out is up to date (${artifacts.size} artifacts, solc ${solc.version()})`);
      return;
    }
    for (const name of missing) console.error(`missing: ${rel(name)}`);
    for (const name of stale) console.error(`stale:   ${rel(name)}`);
    for (const name of extra) console.error(`extra:   ${rel(name)} (no contract in contracts/src)`);
    fail('contracts/out does not match contracts/src: run `node contracts/build.mjs` and commit the result');
  }

  mkdirSync(OUT_DIR, { recursive: true });
  for (const name of [...missing, ...stale]) writeFileSync(join(OUT_DIR, name), artifacts.get(name));
  for (const name of extra) unlinkSync(join(OUT_DIR, name));
  console.log(
    `compiled ${files.length} source(s) with solc ${solc.version()}: ${artifacts.size} artifacts in contracts/out ` +
      `(${missing.length} new, ${stale.length} updated, ${extra.length} removed)`,
  );
}

await main();
