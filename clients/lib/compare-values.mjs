#!/usr/bin/env node
// Compares what the client tests saw on `anh node` and on anvil, field by field, and checks each
// client's test counts against its minimum. compare.sh runs it after both runs; it exits 1 on any
// difference.
//
//   node clients/lib/compare-values.mjs ANH_DIR ANVIL_DIR
//
// Each DIR is a run.sh log folder: <client>.values.jsonl (lines { client, test, key, value }
// written by lib/record.mjs or python/record.py) and counts.json ({ <client>: { passed, failed,
// min, rc } }, written by run.sh). For every client both runs have, the values recorded under
// each (test, key) are compared in order, deeply; a value recorded on one node only is a
// difference too. Before comparing, the NORMALISATIONS below rewrite the few things that must
// differ between two nodes started at different times; nothing else is forgiven. Every
// difference is printed as `client / test / key / path: anh=… anvil=…`.
//
// Fails (exit 1) on: any difference; a client that ran fewer tests than its minimum, or had a
// failing test, on either node; a client run on one node only; a client that recorded no value.

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * What may differ between anh and anvil, and why. Each entry names the fields it applies to and
 * the reason the values MUST differ; anything not listed here is compared exactly. A gap of anh
 * (an answer anvil gives and anh does not) is never listed here: it is reported as a difference.
 *
 *   fields     the names of the fields (or of the recorded keys) it applies to, as documentation
 *              and, with `rewrite(value, side)`, as the selector of the values it rewrites
 *   keys       also: a pattern on the recorded key
 *   strings    instead: `rewrite` applies to every string
 *   object     instead: a predicate on objects (blocks), rewritten by `rewriteObject(object, side, path)`
 *   scope      'side': the values are collected from the whole side first (block-hash)
 */
export const NORMALISATIONS = [
  {
    name: 'block-hash',
    fields: ['blockHash', 'parentHash', 'hash (of a block: an object with a parentHash)', 'block filter changes (blockHashes)'],
    reason:
      "a block's hash covers its timestamp, which is each node's wall clock when it mined the block " +
      '(the nodes start at different times), so every block hash differs. Each block hash is ' +
      'replaced by <block #n>, n counting first appearances in the client’s records, so that ' +
      '"the same block" is still compared; any value equal to a block hash is replaced wherever it appears.',
    scope: 'side',
  },
  {
    name: 'prevrandao',
    fields: ['mixHash', 'prevRandao'],
    reason:
      'anvil draws each block’s prevrandao at random; anh derives it from the block number ' +
      '(keccak256(number), evm-host/src/backend/build.rs prevrandao(), checked on import) so that a follower replaying the block gets the same value.',
    rewrite: () => '<prevrandao>',
  },
  {
    name: 'state-root',
    fields: ['stateRoot'],
    reason:
      'anh’s state holds its DNN precompiles, accounts 0x…0d00 to 0x…0d03 with one byte of code each, ' +
      'which anvil does not have, so every state root differs (and anvil reports the empty-trie root for ' +
      'block 0 although it holds the dev accounts). Balances, nonces, code and storage are compared through ' +
      'the values the tests read.',
    rewrite: () => '<state root>',
  },
  {
    name: 'block-extra-data',
    fields: ['extraData (of a block)', 'size (of a block: less the RLP length of its extraData)'],
    reason:
      'anh writes into extraData what its followers need: the executor committee in block 0, the ' +
      'commitment to a block’s DNN jobs and dev record (state edits, impersonated senders, base fee ' +
      'overrides) in the others (docs/design.md); anvil leaves it empty. The block’s size is compared ' +
      'without the extraData’s bytes.',
    object: isBlock,
    rewriteObject: (block) => {
      const out = { ...block, extraData: '<extraData>' };
      if (block.size !== undefined && typeof block.extraData === 'string') out.size = resize(block.size, -rlpLength(block.extraData));
      return out;
    },
  },
  {
    name: 'anvil-size-without-withdrawals',
    fields: ['size (of a block, on anvil)'],
    reason:
      'anvil’s block size leaves out the block’s empty withdrawals list (one byte, 0xc0), which the ' +
      'block’s RLP has since Shanghai (anvil’s blocks have withdrawalsRoot and withdrawals: [] too); anh ' +
      'counts it. anvil’s size + 1 is compared.',
    object: (o) => isBlock(o) && o.withdrawalsRoot !== undefined,
    rewriteObject: (block, side) => (side === 'anvil' && block.size !== undefined ? { ...block, size: resize(block.size, 1) } : block),
  },
  {
    name: 'calltracer-top-gas',
    fields: ['gas (of the top call frame of a callTracer trace)'],
    reason:
      'anh’s callTracer gives the top call the transaction’s gas limit as its gas, as geth’s does ' +
      '(docs/rpc.md, "Tracing": geth’s built-in tracers); anvil gives the gas left after the intrinsic ' +
      'cost. The gas of inner calls, gasUsed, input, output and every other field are compared as they are.',
    object: (o) => typeof o.type === 'string' && 'gasUsed' in o && 'input' in o && 'from' in o && !('action' in o),
    rewriteObject: (frame, side, path) => (path.length === 0 ? { ...frame, gas: '<top call gas>' } : frame),
  },
  {
    name: 'timestamp',
    fields: ['timestamp', 'blockTimestamp'],
    reason:
      'absolute block timestamps are each node’s wall clock at mining. Tests record the differences ' +
      'that are exact (setNextBlockTimestamp, increaseTo, mine with an interval) as values of their own.',
    rewrite: () => '<timestamp>',
  },
  {
    name: 'client-version',
    fields: ['clientVersion'],
    reason: 'web3_clientVersion names the node: "anvil/v1.7.1" and "anvil/anh-v…".',
    rewrite: () => '<client version>',
  },
  {
    name: 'tx-refusal-wording',
    fields: ['refusal'],
    reason:
      'anh refuses a transaction with -32000 and geth’s wording ("nonce too low: next nonce 7, tx ' +
      'nonce 0", "insufficient funds for gas * price + value: balance 0, …", "unknown account 0x…"), ' +
      'as docs/rpc.md ("Errors", "Transactions and mining") documents; anvil with -32003 "nonce too ' +
      'low", -32003 "Insufficient funds for gas * price + value", -32602 "No Signer available". The ' +
      'error is reduced to the reason it names; an unrecognised one stays as it is.',
    rewrite: (value) => refusalKind(value),
  },
  {
    name: 'custom-error-wording',
    fields: ['any string that says "custom error 0x<selector>: …" (errors, cast’s output)'],
    strings: true,
    reason:
      'for a revert with a custom error, anh says "execution reverted: custom error 0x<selector>" ' +
      '(docs/rpc.md, "Errors"); anvil appends the ABI-encoded arguments read as text (": \\u0000…*…why"). ' +
      'The revert data, which clients decode, are compared as they are.',
    rewrite: (s) => s.replace(/(custom error 0x[0-9a-fA-F]{8}): [\s\S]*?(?=, data: |$)/g, '$1'),
  },
  {
    name: 'send-answers-once-mined',
    keys: /^receiptAtOnce\b/,
    fields: ['receiptAtOnce …'],
    reason:
      'anh answers eth_sendRawTransaction / eth_sendTransaction once the transaction is mined, like ' +
      'Hardhat Network (docs/rpc.md, "Transactions and mining"), so the receipt is there at once; ' +
      'anvil answers on pool entry and mines just after, so its receipt may not be there yet ' +
      '(measured: null in 4–10 of 30 immediate reads). anvil’s value is taken as true, so anh’s must be true.',
    rewrite: (value, side) => (side === 'anvil' ? true : value),
  },
];

/** A block: an object with a parentHash and a stateRoot (raw, ethers, viem and web3.py blocks). */
function isBlock(o) {
  return typeof o.parentHash === 'string' && ('stateRoot' in o || 'miner' in o);
}

/** The length of the RLP encoding of the byte string `hex`. */
function rlpLength(hex) {
  const n = (hex.length - 2) / 2;
  if (n === 1 && parseInt(hex.slice(2, 4), 16) < 0x80) return 1;
  if (n <= 55) return 1 + n;
  return 1 + Math.ceil(n.toString(16).length / 2) + n;
}

/** `size` (a number, a decimal or a 0x-hex string) plus `delta`, written the same way. */
function resize(size, delta) {
  if (typeof size === 'number') return size + delta;
  const n = BigInt(size) + BigInt(delta);
  return typeof size === 'string' && size.startsWith('0x') ? `0x${n.toString(16)}` : n.toString();
}

/** The reason a refusal `{ code, message }` (or its message) names. */
function refusalKind(value) {
  const message = typeof value === 'string' ? value : value?.message;
  if (typeof message !== 'string') return value;
  if (/nonce too low/i.test(message)) return 'refused: nonce too low';
  if (/insufficient funds/i.test(message)) return 'refused: insufficient funds';
  if (/unknown account|no signer available/i.test(message)) return 'refused: no key for the sender';
  return value;
}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const HASH = /^0x[0-9a-fA-F]{64}$/;
const ZERO_HASH = /^0x0{64}$/; // block 0's parentHash: the same on both nodes

// --- reading ---------------------------------------------------------------------------------

/** { client: [records in file order] } of DIR/*.values.jsonl. */
export function readValues(dir) {
  const byClient = {};
  if (!existsSync(dir)) return byClient;
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.values.jsonl')).sort()) {
    const client = basename(file, '.values.jsonl');
    byClient[client] = [];
    const lines = readFileSync(join(dir, file), 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (!line.trim()) return;
      try {
        byClient[client].push(JSON.parse(line));
      } catch (err) {
        byClient[client].push({ client, test: '(unreadable line)', key: `${file}:${i + 1}`, value: line.slice(0, 200) });
      }
    });
  }
  return byClient;
}

/** DIR/counts.json, or {}. */
export function readCounts(dir) {
  const file = join(dir, 'counts.json');
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
}

// --- normalising -----------------------------------------------------------------------------

/** Every block hash in `records`: values of blockHash / parentHash fields, the hash of objects
 *  that have a parentHash (blocks), and the entries of keys named blockHashes. */
function blockHashes(records) {
  const found = new Set();
  const visit = (v, field) => {
    if (typeof v === 'string') {
      if (HASH.test(v) && !ZERO_HASH.test(v) && (field === 'blockHash' || field === 'parentHash' || field === 'blockHashes')) found.add(v.toLowerCase());
      return;
    }
    if (Array.isArray(v)) return v.forEach((x) => visit(x, field));
    if (isObject(v)) {
      if (typeof v.parentHash === 'string' && typeof v.hash === 'string' && HASH.test(v.hash)) found.add(v.hash.toLowerCase());
      for (const [k, x] of Object.entries(v)) visit(x, k);
    }
  };
  for (const r of records) visit(r.value, r.key);
  return found;
}

/** The value of `record` after the normalisations, for `side` ('anh' | 'anvil'); `numbering`
 *  is the side's block-hash → <block #n> map (filled in order of appearance). */
function normalise(record, side, hashes, numbering, used) {
  const rename = (s) => {
    const lower = s.toLowerCase();
    if (!hashes.has(lower)) return s;
    if (!numbering.has(lower)) numbering.set(lower, `<block #${numbering.size + 1}>`);
    used.add('block-hash');
    return numbering.get(lower);
  };
  // `path`: where `v` is in the recorded value ([] for the value itself); `field`: the name of
  // the field that holds it (the recorded key at the top, an array's own field for its items).
  const walk = (v, field, path) => {
    if (isObject(v)) {
      for (const n of NORMALISATIONS) {
        if (!n.object || !n.object(v)) continue;
        const next = n.rewriteObject(v, side, path);
        if (JSON.stringify(next) !== JSON.stringify(v)) used.add(n.name);
        v = next;
      }
    }
    for (const n of NORMALISATIONS) {
      if (!n.rewrite) continue;
      const applies = n.strings ? typeof v === 'string' : n.fields.includes(field) || (path.length === 0 && n.keys?.test(record.key));
      if (applies && v !== null && v !== undefined) {
        const next = n.rewrite(v, side);
        if (JSON.stringify(next) !== JSON.stringify(v)) used.add(n.name);
        v = next;
      }
    }
    if (typeof v === 'string') return HASH.test(v) ? rename(v) : v;
    if (Array.isArray(v)) return v.map((x, i) => walk(x, field, [...path, i]));
    if (isObject(v)) return Object.fromEntries(Object.keys(v).sort().map((k) => [k, walk(v[k], k, [...path, k])]));
    return v;
  };
  return walk(record.value, record.key, []);
}

// --- comparing -------------------------------------------------------------------------------

const show = (v) => {
  if (v === undefined) return '(missing)';
  const text = JSON.stringify(v);
  return text.length <= 240 ? text : `${text.slice(0, 240)}…(${text.length} chars)`;
};
const pathOf = (path) => path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('').replace(/^\./, '');

/** Differences between `a` (anh) and `b` (anvil): [{ path, anh, anvil }]; counts leaves in `stats`. */
function diff(a, b, path, out, stats) {
  if (isObject(a) && isObject(b)) {
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) diff(a[k], b[k], [...path, k], out, stats);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) out.push({ path: [...path, 'length'], anh: a.length, anvil: b.length });
    for (let i = 0; i < Math.min(a.length, b.length); i++) diff(a[i], b[i], [...path, i], out, stats);
    return;
  }
  stats.fields += 1;
  if (JSON.stringify(a) !== JSON.stringify(b)) out.push({ path, anh: a, anvil: b });
}

/** Groups records by test and key, keeping their order: Map(`test\0key` → { test, key, values }). */
function group(records, values) {
  const groups = new Map();
  records.forEach((r, i) => {
    const id = `${r.test}\u0000${r.key}`;
    if (!groups.has(id)) groups.set(id, { test: r.test, key: r.key, values: [] });
    groups.get(id).values.push(values[i]);
  });
  return groups;
}

/** Compares two run folders; returns { lines, failures, stats }. */
export function compareDirs(anhDir, anvilDir) {
  const lines = [];
  const failures = [];
  const stats = { records: 0, fields: 0, differences: 0, clients: 0 };
  const used = new Set();
  const anh = readValues(anhDir);
  const anvil = readValues(anvilDir);
  const counts = { anh: readCounts(anhDir), anvil: readCounts(anvilDir) };
  const clients = [...new Set([...Object.keys(counts.anh), ...Object.keys(counts.anvil), ...Object.keys(anh), ...Object.keys(anvil)])];

  // Test counts.
  const table = [];
  for (const client of clients) {
    const row = { client };
    for (const side of ['anvil', 'anh']) {
      const c = counts[side][client];
      row[side] = c;
      if (!c) {
        failures.push(`${client}: not run on ${side}`);
        continue;
      }
      if (c.failed > 0) failures.push(`${client}: ${c.failed} test(s) failed on ${side}`);
      if (c.passed < c.min) failures.push(`${client}: ${c.passed} tests passed on ${side}, fewer than its minimum ${c.min}`);
      if (c.passed === 0) failures.push(`${client}: no test ran on ${side}`);
    }
    table.push(row);
  }

  // Values.
  const differences = [];
  for (const client of clients) {
    if (!counts.anh[client] || !counts.anvil[client]) continue;
    stats.clients += 1;
    const sides = { anh: anh[client] ?? [], anvil: anvil[client] ?? [] };
    for (const side of ['anh', 'anvil']) {
      if (!sides[side].length) failures.push(`${client}: recorded no value on ${side} (is ANH_CLIENTS_RECORD honoured?)`);
    }
    const normalised = {};
    for (const side of ['anh', 'anvil']) {
      const hashes = blockHashes(sides[side]);
      const numbering = new Map();
      normalised[side] = group(sides[side], sides[side].map((r) => normalise(r, side, hashes, numbering, used)));
    }
    const ids = [...new Set([...normalised.anh.keys(), ...normalised.anvil.keys()])];
    for (const id of ids) {
      const a = normalised.anh.get(id);
      const b = normalised.anvil.get(id);
      const { test, key } = a ?? b;
      stats.records += Math.max(a?.values.length ?? 0, b?.values.length ?? 0);
      if (!a || !b) {
        differences.push(`${client} / ${test} / ${key}: recorded on ${a ? 'anh' : 'anvil'} only: ${show((a ?? b).values)}`);
        continue;
      }
      const out = [];
      if (a.values.length !== b.values.length) out.push({ path: ['(times recorded)'], anh: a.values.length, anvil: b.values.length });
      for (let i = 0; i < Math.min(a.values.length, b.values.length); i++) {
        diff(a.values[i], b.values[i], a.values.length > 1 ? [`#${i + 1}`] : [], out, stats);
      }
      for (const d of out) {
        const where = pathOf(d.path);
        differences.push(`${client} / ${test} / ${key}${where ? ` / ${where}` : ''}: anh=${show(d.anh)} anvil=${show(d.anvil)}`);
      }
    }
  }
  stats.differences = differences.length;

  if (differences.length) {
    lines.push(`${differences.length} recorded values differ between anh and anvil (after the normalisations in lib/compare-values.mjs):`);
    for (const d of differences) lines.push(`  ${d}`);
    lines.push('');
  }
  lines.push(`normalisations applied: ${NORMALISATIONS.filter((n) => used.has(n.name)).map((n) => n.name).join(', ') || 'none'}`);
  lines.push('');
  lines.push('=== client × node: tests passed / failed (minimum) ===');
  const cell = (c) => (c ? `${c.passed} passed, ${c.failed} failed (min ${c.min})` : 'not run');
  lines.push(`${'client'.padEnd(9)} ${'anvil'.padEnd(30)} ${'anh'.padEnd(30)}`);
  for (const row of table) lines.push(`${row.client.padEnd(9)} ${cell(row.anvil).padEnd(30)} ${cell(row.anh).padEnd(30)}`);
  lines.push('');
  lines.push(
    `=== values: ${stats.records} recorded values (${stats.fields} fields) compared across ${stats.clients} clients, ${stats.differences} differences ===`,
  );
  if (differences.length) failures.push(`${differences.length} recorded values differ between anh and anvil`);
  for (const f of failures) lines.push(`FAIL ${f}`);
  return { lines, failures, stats };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [anhDir, anvilDir, ...rest] = process.argv.slice(2);
  if (!anhDir || !anvilDir || rest.length) {
    console.error('usage: compare-values.mjs ANH_DIR ANVIL_DIR');
    process.exit(2);
  }
  const { lines, failures } = compareDirs(anhDir, anvilDir);
  console.log(lines.join('\n'));
  process.exit(failures.length ? 1 : 0);
}
