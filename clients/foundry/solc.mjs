#!/usr/bin/env node
// An offline `solc` for forge: answers like the native compiler's command line, over the solc-js
// that npm installs (clients/node_modules/solc), so forge never downloads a compiler.
//
//   solc.mjs --version                       "Version: 0.8.28+commit.7893614a..." as native solc
//   solc.mjs [--base-path P] [--include-path P]... [--allow-paths ...] --standard-json < input.json
//
// forge sends every source in the standard-JSON input; imports it did not include are read from
// the base path and include paths.

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';

const require = createRequire(import.meta.url);
const solc = require('solc');

const args = process.argv.slice(2);
const version = solc.version().replace(/\.Emscripten\.clang$/, '');

if (args.includes('--version') || args.includes('-v')) {
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${version}.Linux.g++\n`);
  process.exit(0);
}
if (!args.includes('--standard-json')) {
  process.stderr.write(`solc.mjs (solc-js ${version}) supports only --version and --standard-json, got: ${args.join(' ')}\n`);
  process.exit(1);
}

const roots = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--base-path' || args[i] === '--include-path') roots.push(args[++i]);
  else if (args[i] === '--allow-paths') i++;
}
if (roots.length === 0) roots.push(process.cwd());

function findImport(path) {
  for (const root of isAbsolute(path) ? [''] : roots) {
    const file = root ? resolve(root, path) : path;
    if (existsSync(file)) return { contents: readFileSync(file, 'utf8') };
  }
  return { error: `File not found: ${path} (looked in ${roots.join(', ')})` };
}

const input = readFileSync(0, 'utf8');
process.stdout.write(solc.compile(input, { import: findImport }));
