// Self-test of the comparison (compare.sh runs it first): compare-values.mjs and rpc-report.mjs
// must pass on two runs that differ only as their named normalisations allow, and fail on a
// changed value, a value recorded on one node only, a test count under its minimum, a runner
// that ran no test, and an error answer that is not allowed. Also checks the recorders' perturb
// hook (the end-to-end self-check of compare.sh) and their value encoding.
//
//   node --test clients/lib/

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const LIB = dirname(fileURLToPath(import.meta.url));
const DATA = join(LIB, 'testdata');
const scratch = mkdtempSync(join(tmpdir(), 'anh-compare-selftest-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs a lib/ script; returns { status, out }. */
function run(script, ...args) {
  const r = spawnSync(process.execPath, [join(LIB, script), ...args], { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** A copy of fixture folder `name` (with anh/ and anvil/), changed by `edit(dir)`. */
function variant(name, edit = () => {}) {
  const dir = mkdtempSync(join(scratch, `${name}-`));
  cpSync(join(DATA, name), dir, { recursive: true });
  edit(dir);
  return dir;
}

/** Rewrites the JSON lines of `file` with `fn(line) → line | null` (null drops it). */
function editLines(file, fn) {
  const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  writeFileSync(file, `${lines.map(fn).filter(Boolean).map((l) => JSON.stringify(l)).join('\n')}\n`);
}

const compare = (dir) => run('compare-values.mjs', join(dir, 'anh'), join(dir, 'anvil'));

describe('compare-values.mjs', () => {
  test('passes two runs that differ only as the normalisations allow', () => {
    const { status, out } = compare(variant('agree'));
    assert.equal(status, 0, out);
    assert.match(out, /compared across 2 clients, 0 differences/);
    for (const name of ['block-hash', 'prevrandao', 'state-root', 'block-extra-data', 'anvil-size-without-withdrawals', 'timestamp', 'client-version', 'tx-refusal-wording', 'custom-error-wording', 'send-answers-once-mined']) {
      assert.match(out, new RegExp(`normalisations applied: .*\\b${name}\\b`), `${name} not applied:\n${out}`);
    }
  });

  test('fails on a value that differs, naming client, test, key and path', () => {
    const dir = variant('agree', (d) =>
      editLines(join(d, 'anh', 'ethers.values.jsonl'), (l) => (l.key === 'receipt' ? { ...l, value: { ...l.value, gasUsed: '0xc912' } } : l)),
    );
    const { status, out } = compare(dir);
    assert.equal(status, 1, out);
    assert.match(out, /ethers \/ writes and reads the receipt \/ receipt \/ gasUsed: anh="0xc912" anvil="0xc911"/);
    assert.match(out, /1 differences/);
  });

  test('fails on a value perturbed by the recorder hook (ANH_CLIENTS_RECORD_PERTURB)', () => {
    const dir = variant('agree');
    const file = join(dir, 'anh', 'ethers.values.jsonl');
    editLines(file, (l) => (l.test === 'estimates gas' && l.key === 'transfer' ? null : l));
    // Record the value again through record.mjs, perturbed.
    const script = `import { recorder } from ${JSON.stringify(join(LIB, 'record.mjs'))};
      const record = recorder('ethers'); record.begin('estimates gas'); record('transfer', 51461n);`;
    execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, ANH_CLIENTS_RECORD: file, ANH_CLIENTS_RECORD_PERTURB: 'ethers/estimates gas/transfer' },
    });
    const { status, out } = compare(dir);
    assert.equal(status, 1, out);
    assert.match(out, /ethers \/ estimates gas \/ transfer: anh=\{"perturbed":"51461"\} anvil="51461"/);
  });

  test('fails on a value recorded on one node only', () => {
    const dir = variant('agree', (d) => editLines(join(d, 'anvil', 'ethers.values.jsonl'), (l) => (l.key === 'transferUsed' ? null : l)));
    const { status, out } = compare(dir);
    assert.equal(status, 1, out);
    assert.match(out, /ethers \/ estimates gas \/ transferUsed: recorded on anh only/);
  });

  test('fails when a value points at another block than on the other node', () => {
    // anh's log names a block hash that is not its receipt's block: <block #3> vs <block #2>.
    const dir = variant('agree', (d) =>
      editLines(join(d, 'anh', 'ethers.values.jsonl'), (l) =>
        l.key === 'blockHashes' ? { ...l, value: [`0x${'5'.repeat(64)}`] } : l,
      ),
    );
    const { status, out } = compare(dir);
    assert.equal(status, 1, out);
    assert.match(out, /blockHashes \/ \[0\]: anh="<block #3>" anvil="<block #2>"/);
  });

  test("fails when anh's receipt was not there at once (send-answers-once-mined keeps anh's value)", () => {
    const dir = variant('agree', (d) => editLines(join(d, 'anh', 'ethers.values.jsonl'), (l) => (l.key.startsWith('receiptAtOnce') ? { ...l, value: false } : l)));
    const { status, out } = compare(dir);
    assert.equal(status, 1, out);
    assert.match(out, /receiptAtOnce Wallet \(eth_sendRawTransaction\): anh=false anvil=true/);
  });

  test('fails when a client passed fewer tests than its minimum, on either node', () => {
    const dir = variant('agree', (d) => {
      const file = join(d, 'anvil', 'counts.json');
      const counts = JSON.parse(readFileSync(file, 'utf8'));
      counts.web3py.min = 99;
      writeFileSync(file, JSON.stringify(counts));
    });
    const { status, out } = compare(dir);
    assert.equal(status, 1, out);
    assert.match(out, /FAIL web3py: 2 tests passed on anvil, fewer than its minimum 99/);
    assert.match(out, /web3py +2 passed, 0 failed \(min 99\)/);
  });

  test('fails when a runner ran no test, or a client ran on one node only', () => {
    const dir = variant('agree', (d) => {
      const file = join(d, 'anh', 'counts.json');
      const counts = JSON.parse(readFileSync(file, 'utf8'));
      counts.ethers = { passed: 0, failed: 0, min: 0, rc: 0 };
      delete counts.web3py;
      writeFileSync(file, JSON.stringify(counts));
    });
    const { status, out } = compare(dir);
    assert.equal(status, 1, out);
    assert.match(out, /FAIL ethers: no test ran on anh/);
    assert.match(out, /FAIL web3py: not run on anh/);
  });
});

describe('rpc-report.mjs diff', () => {
  const diff = (dir) => run('rpc-report.mjs', 'diff', join(dir, 'anh'), join(dir, 'anvil'));

  test('passes error answers that differ only as ALLOWED says', () => {
    const { status, out } = diff(variant('rpc'));
    assert.equal(status, 0, out);
    assert.match(out, /allowed differences: tx-refusal-wording, custom-error-wording; 0 not allowed/);
  });

  test('fails on an error answer the other node never gave', () => {
    const dir = variant('rpc', (d) =>
      editLines(join(d, 'anh', 'ethers.rpc.jsonl'), (l) =>
        l.method === 'eth_chainId' ? { ...l, result: undefined, error: { code: -32602, message: 'Invalid params' } } : l,
      ),
    );
    const { status, out } = diff(dir);
    assert.equal(status, 1, out);
    assert.match(out, /FAIL anh answered eth_chainId with -32602 "Invalid params", which anvil never gave/);
  });

  test('fails on a revert whose data differ', () => {
    const dir = variant('rpc', (d) =>
      editLines(join(d, 'anh', 'ethers.rpc.jsonl'), (l) => (l.method === 'eth_call' ? { ...l, error: { ...l.error, data: '0xde15ace1' } } : l)),
    );
    const { status, out } = diff(dir);
    assert.equal(status, 1, out);
    assert.match(out, /FAIL 1 revert answers from anh whose data anvil never returned/);
  });
});

describe('recorders', () => {
  test('record.mjs writes plain JSON: bigint as decimal, bytes as hex, sorted keys', () => {
    const file = join(scratch, 'plain.values.jsonl');
    const script = `import { recorder } from ${JSON.stringify(join(LIB, 'record.mjs'))};
      const record = recorder('viem'); record.begin('t');
      record('v', { b: 2n ** 70n, a: new Uint8Array([1, 171]), m: new Map([['k', undefined]]), n: [1, undefined] });`;
    execFileSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, ANH_CLIENTS_RECORD: file } });
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), {
      client: 'viem',
      test: 't',
      key: 'v',
      value: { a: '0x01ab', b: '1180591620717411303424', m: { k: null }, n: [1, null] },
    });
  });

  test('python/record.py writes the same encoding and honours the perturb hook', (t) => {
    const python = spawnSync('python3', ['--version']);
    if (python.status !== 0) return t.skip('no python3');
    const file = join(scratch, 'py.values.jsonl');
    const code = `import sys; sys.path.insert(0, ${JSON.stringify(join(LIB, '..', 'python'))})
from record import record
record.begin("test_x")
record("v", {"b": 2**70, "a": b"\\x01\\xab", "t": (True, None, 1.5)})
record("p", 1)`;
    execFileSync('python3', ['-c', code], {
      env: { ...process.env, ANH_CLIENTS_RECORD: file, ANH_CLIENTS_RECORD_PERTURB: 'web3py/test_x/p' },
    });
    const [v, p] = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(v, { client: 'web3py', test: 'test_x', key: 'v', value: { a: '0x01ab', b: '1180591620717411303424', t: [true, null, 1.5] } });
    assert.deepEqual(p.value, { perturbed: '1' });
  });
});
