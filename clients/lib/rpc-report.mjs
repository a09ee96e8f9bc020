#!/usr/bin/env node
// Summarises the JSON-RPC logs that rpc-proxy.mjs wrote during a run of the suite.
//
//   node clients/lib/rpc-report.mjs errors DIR          error answers per method in DIR/*.rpc.jsonl
//   node clients/lib/rpc-report.mjs diff ANH_DIR ANVIL_DIR
//        error answers anh gave that anvil did not (with the clients that met them, an example
//        of the params, and what anvil answered to that method); reverts whose data differ, and
//        revert messages worded differently
//
// Errors are grouped by method, code and message (hex runs in messages are shortened so that
// hashes and addresses do not split groups).

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';

const PARAMS_CHARS = 400;

function readLogs(dir) {
  const entries = [];
  if (!existsSync(dir)) return entries;
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.rpc.jsonl')).sort()) {
    const client = basename(file, '.rpc.jsonl');
    for (const line of readFileSync(join(dir, file), 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        entries.push({ client, ...JSON.parse(line) });
      } catch {
        /* a line cut short by a killed proxy */
      }
    }
  }
  return entries;
}

const normalise = (message) => String(message ?? '').replace(/0x[0-9a-fA-F]{8,}/g, '0x…');
const errorKey = (e) => `${e.method}\u0000${e.error?.code}\u0000${normalise(e.error?.message)}`;

function groupErrors(entries) {
  const groups = new Map();
  for (const e of entries) {
    if (!e.error) continue;
    const key = errorKey(e);
    if (!groups.has(key)) groups.set(key, { method: e.method, error: e.error, params: e.params, via: e.via, count: 0, clients: new Set() });
    const g = groups.get(key);
    g.count += 1;
    g.clients.add(e.client);
  }
  return groups;
}

function short(value) {
  const text = JSON.stringify(value);
  return text === undefined ? 'none' : text.length <= PARAMS_CHARS ? text : `${text.slice(0, PARAMS_CHARS)}…`;
}

function printGroup(g, extra = '') {
  const { code, message, data } = g.error;
  console.log(`  ${g.method}  [${[...g.clients].join(', ')}; ${g.count}×${g.via === 'ws' ? ', WebSocket' : ''}]`);
  console.log(`      error:  ${code} ${JSON.stringify(message)}${data !== undefined ? ` data=${short(data)}` : ''}`);
  console.log(`      params: ${short(g.params)}`);
  if (extra) console.log(`      ${extra}`);
}

function errors(dir) {
  const entries = readLogs(dir);
  const groups = [...groupErrors(entries).values()].sort((a, b) => a.method.localeCompare(b.method));
  const reverts = groups.filter((g) => g.error.code === 3);
  const others = groups.filter((g) => g.error.code !== 3);
  console.log(`${entries.length} JSON-RPC calls logged in ${dir}; ${others.length} kinds of error answers besides reverts (code 3: ${reverts.reduce((n, g) => n + g.count, 0)} answers)`);
  for (const g of others) printGroup(g);
}

function diff(nodeDir, refDir) {
  const node = readLogs(nodeDir);
  const ref = readLogs(refDir);
  const refByMethod = new Map();
  for (const e of ref) {
    const m = refByMethod.get(e.method) ?? { ok: 0, errors: new Map() };
    if (e.error) m.errors.set(`${e.error.code} ${JSON.stringify(normalise(e.error.message)).slice(0, 100)}`, true);
    else m.ok += 1;
    refByMethod.set(e.method, m);
  }
  const reference = (method) => {
    const r = refByMethod.get(method);
    if (!r) return 'anvil: never called';
    const errs = [...r.errors.keys()];
    const shown = errs.slice(0, 3).join(' | ');
    return `anvil: ${r.ok} ok${errs.length ? `; errors ${shown}${errs.length > 3 ? ` (+${errs.length - 3} more)` : ''}` : ''}`;
  };

  // Non-revert errors: by method, code and message.
  const refKeys = new Set(ref.filter((e) => e.error && e.error.code !== 3).map(errorKey));
  const only = [...groupErrors(node.filter((e) => e.error?.code !== 3)).entries()]
    .filter(([key]) => !refKeys.has(key))
    .map(([, g]) => g)
    .sort((a, b) => a.method.localeCompare(b.method) || String(a.error.code).localeCompare(String(b.error.code)));
  const methods = new Set(only.map((g) => g.method));
  console.log(`${only.length} kinds of error answers (not reverts) that anvil never gave, ${methods.size} methods:`);
  for (const g of only) printGroup(g, reference(g.method));

  // Reverts (code 3): the revert data must match anvil's; the message wording may differ.
  const refReverts = new Map();
  for (const e of ref) if (e.error?.code === 3) refReverts.set(`${e.method} ${e.error.data}`, e.error.message);
  const wording = new Map();
  const unmatched = [];
  for (const e of node) {
    if (e.error?.code !== 3) continue;
    const key = `${e.method} ${e.error.data}`;
    if (!refReverts.has(key)) unmatched.push(e);
    else if (refReverts.get(key) !== e.error.message) {
      const brief = (m) => JSON.stringify(String(m).replace(/(0x)?[0-9a-fA-F]{16,}/g, '…').replace(/[\u0000-\u001f]+/g, '·').slice(0, 120));
      wording.set(`${e.method}: anh ${brief(e.error.message)} vs anvil ${brief(refReverts.get(key))}`, true);
    }
  }
  if (unmatched.length) {
    console.log(`${unmatched.length} revert answers (code 3) whose data anvil never returned:`);
    for (const e of unmatched.slice(0, 20)) {
      console.log(`  ${e.method} [${e.client}] ${JSON.stringify(e.error.message)} data=${short(e.error.data)}\n      params: ${short(e.params)}`);
    }
  }
  if (wording.size) {
    console.log(`Revert messages worded differently for the same revert data (${wording.size}):`);
    for (const line of wording.keys()) console.log(`  ${line}`);
  }
  const notCalled = [...new Set(ref.map((e) => e.method))].filter((m) => !node.some((e) => e.method === m)).sort();
  if (notCalled.length) console.log(`Methods the clients called on anvil but not on anh (tests stopped earlier): ${notCalled.join(', ')}`);
}

const [mode, ...dirs] = process.argv.slice(2);
if (mode === 'errors' && dirs.length === 1) errors(dirs[0]);
else if (mode === 'diff' && dirs.length === 2) diff(dirs[0], dirs[1]);
else {
  console.error('usage: rpc-report.mjs errors DIR | diff NODE_DIR REF_DIR');
  process.exit(2);
}
