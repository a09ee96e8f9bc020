#!/usr/bin/env node
// Summarises the JSON-RPC logs that rpc-proxy.mjs wrote during a run of the suite.
//
//   node clients/lib/rpc-report.mjs errors DIR          error answers per method in DIR/*.rpc.jsonl
//   node clients/lib/rpc-report.mjs diff ANH_DIR ANVIL_DIR
//        error answers anh gave that anvil did not (with the clients that met them, an example
//        of the params, and what anvil answered to that method), and the other way round;
//        reverts whose data differ, and revert messages worded differently. Exits 1 if any of
//        these is not in ALLOWED below.
//
// Errors are grouped by method, code and message (hex runs in messages are shortened so that
// hashes and addresses do not split groups).

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';

const PARAMS_CHARS = 400;

/**
 * Error answers that may differ between anh and anvil, each with its reason: a pair of an
 * error anh gives and the error anvil gives for the same method in the same case. An error
 * answer of one node that the other never gave for that method fails the diff unless an entry
 * matches it and the other node gave the entry's counterpart. anh's documented wording only;
 * a gap of anh is never listed here. (lib/compare-values.mjs names the same differences where
 * the tests record them: tx-refusal-wording, custom-error-wording.)
 */
export const ALLOWED = [
  {
    name: 'tx-refusal-wording',
    methods: ['eth_sendRawTransaction', 'eth_sendTransaction'],
    anh: { code: -32000, message: /^(nonce too low: next nonce \d+, tx nonce \d+|insufficient funds for gas \* price \+ value: balance \d+, tx cost \d+, overshot \d+)$/ },
    anvil: { code: -32003, message: /^(nonce too low|Insufficient funds for gas \* price \+ value)$/ },
    reason: 'anh refuses transactions with -32000 and geth’s wording (docs/rpc.md, "Errors"); anvil with -32003 and its own',
  },
  {
    name: 'unknown-account-wording',
    methods: ['eth_sendTransaction'],
    anh: { code: -32000, message: /^unknown account 0x[0-9a-fA-F…]+: the node only signs for its dev accounts$/ },
    anvil: { code: -32602, message: /^No Signer available$/ },
    reason: 'a sender without a key: anh answers -32000 "unknown account" (docs/rpc.md, "Transactions and mining"), anvil -32602 "No Signer available"',
  },
  {
    name: 'custom-error-wording',
    methods: ['eth_call', 'eth_estimateGas'],
    anh: { code: 3, message: /^execution reverted: custom error 0x[0-9a-f]{8}$/ },
    anvil: { code: 3, message: /^execution reverted: custom error 0x[0-9a-f]{8}: [^]*$/ },
    reason: 'a custom-error revert: anh says "custom error 0x<selector>" (docs/rpc.md, "Errors"); anvil appends the ABI-encoded arguments read as text. The revert data are compared as they are',
  },
];

const matches = (pattern, error) => pattern.code === error?.code && pattern.message.test(String(error?.message ?? ''));

/** The ALLOWED entry that pairs `error` (given by `side` to `method`) with one of `others`
 *  (the errors the other node gave to that method), if any. */
function allowed(side, method, error, others) {
  const other = side === 'anh' ? 'anvil' : 'anh';
  return ALLOWED.find((a) => a.methods.includes(method) && matches(a[side], error) && others.some((e) => matches(a[other], e)));
}

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
  const failures = [];
  const used = new Set();
  const errorsOf = (entries, method) => entries.filter((e) => e.method === method && e.error).map((e) => e.error);
  const byMethod = (entries) => {
    const out = new Map();
    for (const e of entries) {
      const m = out.get(e.method) ?? { ok: 0, errors: new Map() };
      if (e.error) m.errors.set(`${e.error.code} ${JSON.stringify(normalise(e.error.message)).slice(0, 100)}`, true);
      else m.ok += 1;
      out.set(e.method, m);
    }
    return out;
  };
  const summaries = { anh: byMethod(node), anvil: byMethod(ref) };
  const reference = (side, method) => {
    const r = summaries[side].get(method);
    if (!r) return `${side}: never called`;
    const errs = [...r.errors.keys()];
    const shown = errs.slice(0, 3).join(' | ');
    return `${side}: ${r.ok} ok${errs.length ? `; errors ${shown}${errs.length > 3 ? ` (+${errs.length - 3} more)` : ''}` : ''}`;
  };

  // Non-revert errors, both ways: by method, code and message.
  for (const [side, mine, theirs] of [['anh', node, ref], ['anvil', ref, node]]) {
    const other = side === 'anh' ? 'anvil' : 'anh';
    const theirKeys = new Set(theirs.filter((e) => e.error && e.error.code !== 3).map(errorKey));
    const only = [...groupErrors(mine.filter((e) => e.error?.code !== 3)).entries()]
      .filter(([key]) => !theirKeys.has(key))
      .map(([, g]) => g)
      .sort((a, b) => a.method.localeCompare(b.method) || String(a.error.code).localeCompare(String(b.error.code)));
    const methods = new Set(only.map((g) => g.method));
    console.log(`${only.length} kinds of error answers (not reverts) from ${side} that ${other} never gave, ${methods.size} methods:`);
    for (const g of only) {
      const entry = allowed(side, g.method, g.error, errorsOf(theirs, g.method));
      if (entry) used.add(entry.name);
      else failures.push(`${side} answered ${g.method} with ${g.error.code} ${JSON.stringify(g.error.message)}, which ${other} never gave`);
      printGroup(g, `${reference(other, g.method)}\n      ${entry ? `allowed: ${entry.name} (${entry.reason})` : 'NOT ALLOWED'}`);
    }
  }

  // Reverts (code 3): the revert data must match the other node's; the message wording may
  // differ only as ALLOWED says.
  for (const [side, mine, theirs] of [['anh', node, ref], ['anvil', ref, node]]) {
    const other = side === 'anh' ? 'anvil' : 'anh';
    const theirReverts = new Map();
    for (const e of theirs) if (e.error?.code === 3) theirReverts.set(`${e.method} ${e.error.data}`, e.error);
    const unmatched = mine.filter((e) => e.error?.code === 3 && !theirReverts.has(`${e.method} ${e.error.data}`));
    if (unmatched.length) {
      console.log(`${unmatched.length} revert answers (code 3) from ${side} whose data ${other} never returned:`);
      for (const e of unmatched.slice(0, 20)) {
        console.log(`  ${e.method} [${e.client}] ${JSON.stringify(e.error.message)} data=${short(e.error.data)}\n      params: ${short(e.params)}`);
      }
      failures.push(`${unmatched.length} revert answers from ${side} whose data ${other} never returned`);
    }
    if (side !== 'anh') continue;
    const wording = new Map();
    for (const e of mine) {
      if (e.error?.code !== 3) continue;
      const theirs = theirReverts.get(`${e.method} ${e.error.data}`);
      if (!theirs || theirs.message === e.error.message) continue;
      const brief = (m) => JSON.stringify(String(m).replace(/(0x)?[0-9a-fA-F]{16,}/g, '…').replace(/[\u0000-\u001f]+/g, '·').slice(0, 120));
      const entry = allowed('anh', e.method, e.error, [theirs]);
      if (entry) used.add(entry.name);
      else failures.push(`${e.method}: revert worded ${brief(e.error.message)} by anh, ${brief(theirs.message)} by anvil`);
      wording.set(`${e.method}: anh ${brief(e.error.message)} vs anvil ${brief(theirs.message)}: ${entry ? `allowed: ${entry.name}` : 'NOT ALLOWED'}`, true);
    }
    if (wording.size) {
      console.log(`Revert messages worded differently for the same revert data (${wording.size}):`);
      for (const line of wording.keys()) console.log(`  ${line}`);
    }
  }
  for (const [side, mine, theirs] of [['anvil', ref, node], ['anh', node, ref]]) {
    const missing = [...new Set(mine.map((e) => e.method))].filter((m) => !theirs.some((e) => e.method === m)).sort();
    if (missing.length) {
      console.log(`Methods the clients called on ${side} only: ${missing.join(', ')}`);
      failures.push(`methods called on ${side} only (a test took another path there): ${missing.join(', ')}`);
    }
  }
  console.log(`=== JSON-RPC errors: ${node.length} calls on anh, ${ref.length} on anvil; allowed differences: ${[...used].join(', ') || 'none'}; ${failures.length} not allowed ===`);
  for (const f of failures) console.log(`FAIL ${f}`);
  return failures.length === 0;
}

const [mode, ...dirs] = process.argv.slice(2);
if (mode === 'errors' && dirs.length === 1) errors(dirs[0]);
else if (mode === 'diff' && dirs.length === 2) process.exitCode = diff(dirs[0], dirs[1]) ? 0 : 1;
else {
  console.error('usage: rpc-report.mjs errors DIR | diff NODE_DIR REF_DIR');
  process.exit(2);
}
