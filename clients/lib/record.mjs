// The values a client test saw, recorded so that compare-values.mjs can compare them field by
// field between `anh node` and anvil (clients/compare.sh). Python's twin is python/record.py; the
// Hardhat suite (CommonJS) loads this module with a dynamic import.
//
//   const record = recorder('ethers');
//   beforeEach((t) => record.begin(t.name));      // the test the next values belong to
//   record('transfer.gas', gas);                  // { client, test, key, value } appended
//
// Each call appends one JSON line { client, test, key, value } to the file named by
// ANH_CLIENTS_RECORD (run.sh sets it to <logs>/<client>.values.jsonl); without it nothing is
// written. Values are made plain JSON first (plain() below): bigint → decimal string, bytes →
// 0x-hex, arrays (ethers' Result too) → arrays, Map → object, class instances with toJSON() →
// what it returns, other objects → their own enumerable fields with sorted keys, undefined → null. A key may be recorded several times in a test: the
// values are compared in order.
//
// Self-check only: ANH_CLIENTS_RECORD_PERTURB=<client>/<test>/<key> replaces that value with
// { "perturbed": value }, so that a run can show that compare-values.mjs fails on a difference.
// compare.sh passes it to anh's run only.

import { appendFileSync } from 'node:fs';

const FILE = process.env.ANH_CLIENTS_RECORD || '';
const PERTURB = process.env.ANH_CLIENTS_RECORD_PERTURB || '';
const MAX_DEPTH = 64;

/** `value` as plain JSON data (see the header). Throws on cycles and on class instances
 *  with methods only (such as a provider), which are not values a test saw. */
export function plain(value, depth = 0) {
  if (depth > MAX_DEPTH) throw new Error('record: value nested too deep (a cycle?)');
  if (value === undefined || value === null) return null;
  switch (typeof value) {
    case 'bigint':
      return value.toString();
    case 'number':
      if (!Number.isFinite(value)) return String(value);
      return value;
    case 'string':
    case 'boolean':
      return value;
    case 'function':
    case 'symbol':
      throw new Error(`record: cannot record a ${typeof value}`);
    default:
      break;
  }
  if (value instanceof Uint8Array) return `0x${Buffer.from(value).toString('hex')}`;
  if (Array.isArray(value)) return Array.from(value, (x) => plain(x, depth + 1));
  if (value instanceof Map) {
    return Object.fromEntries([...value].map(([k, x]) => [String(k), plain(x, depth + 1)]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }
  if (value instanceof Error) return { name: value.name, message: value.message };
  // A class instance that says how it is written as JSON (ethers' Block, Log, receipts).
  if (Object.getPrototypeOf(value) !== Object.prototype && typeof value.toJSON === 'function') return plain(value.toJSON(), depth + 1);
  const out = {};
  for (const k of Object.keys(value).sort()) {
    const x = value[k];
    if (x === undefined || typeof x === 'function') continue;
    out[k] = plain(x, depth + 1);
  }
  return out;
}

/** A `record(key, value)` function for `client`; `record.begin(test)` names the current test. */
export function recorder(client) {
  let test = '(before the first test)';
  const record = (key, value) => {
    let v = plain(value);
    if (PERTURB && PERTURB === `${client}/${test}/${key}`) v = { perturbed: v };
    if (FILE) appendFileSync(FILE, `${JSON.stringify({ client, test, key, value: v })}\n`);
    return value;
  };
  record.begin = (name) => {
    test = name;
  };
  return record;
}
