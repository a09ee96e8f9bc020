// Shared set-up of the SDK's node tests: the node's URL, fresh funded accounts, the test models
// and the ONNX Runtime fixture (test/fixtures/onnxruntime.json, made by make_fixtures.py).

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rpc } from '@anh/sdk';

const HERE = dirname(fileURLToPath(import.meta.url));
/** The repository root. */
export const ROOT = resolve(HERE, '..', '..', '..');

/** The node under test. */
export const RPC_URL = process.env.ANH_RPC_URL || 'http://127.0.0.1:8545';

/** Fails with one clear line when no node answers at RPC_URL. */
export async function requireNode() {
  try {
    await rpc(RPC_URL, 'eth_chainId');
  } catch (e) {
    throw new Error(`no ANH node answers at ${RPC_URL} (${e.message}): start one (\`anh node\`) or set ANH_RPC_URL`);
  }
}

/** A fresh private key: each run signs from new accounts, so no suite races for a nonce. */
export const newKey = () => `0x${randomBytes(32).toString('hex')}`;

/** Gives `address` 100 ETH (anvil_setBalance, a dev method of `anh node` as of anvil). */
export async function fund(address) {
  await rpc(RPC_URL, 'anvil_setBalance', [address, '0x56bc75e2d63100000']);
}

/** A test model's bytes (runtime/testdata/NAME). */
export function model(name) {
  return readFileSync(join(ROOT, 'runtime', 'testdata', name));
}

/**
 * `bytes` of an ONNX model with a doc_string appended (ModelProto field 6; a later field wins in
 * protobuf), so that it hashes to a model no other run has registered.
 */
export function uniqueVariant(bytes, label) {
  const doc = Buffer.from(`@anh/sdk test ${label} ${randomBytes(8).toString('hex')}`);
  assert.ok(doc.length < 128);
  return Buffer.concat([bytes, Buffer.from([0x32, doc.length]), doc]);
}

/** The ONNX Runtime fixture; fails if the models changed since it was made. */
export function fixture() {
  const doc = JSON.parse(readFileSync(join(HERE, 'fixtures', 'onnxruntime.json'), 'utf8'));
  for (const part of [doc.mlp, doc.dtypes]) {
    const sha = createHash('sha256').update(readFileSync(join(ROOT, part.model))).digest('hex');
    assert.equal(sha, part.sha256, `${part.model} changed since test/fixtures/onnxruntime.json was made: rerun make_fixtures.py`);
  }
  return doc;
}

/** A fixture float ("NaN", "Infinity", "-Infinity" or a number) as a number. */
export const num = (v) => (typeof v === 'string' ? Number(v) : v);

/** Typed array of a fixture tensor, as encodeTensor takes it. */
export function typed(t) {
  switch (t.dtype) {
    case 'float32':
      return Float32Array.from(t.data, num);
    case 'float64':
      return Float64Array.from(t.data, num);
    case 'int32':
      return Int32Array.from(t.data);
    case 'int64':
      return BigInt64Array.from(t.data, BigInt);
    case 'uint8':
      return Uint8Array.from(t.data);
    case 'int8':
      return Int8Array.from(t.data);
    case 'bool':
      return [...t.data];
    default:
      throw new Error(`no typed array for ${t.dtype}`);
  }
}

/**
 * Asserts the decoded tensor equals ONNX Runtime's: integers and bools exactly, floats as
 * anh-runtime's own fixture tests compare them (equal, both NaN, or within 1e-6 relative).
 */
export function assertMatchesOrt(decoded, want, what) {
  assert.deepEqual(decoded.shape, want.shape.map(BigInt), `${what}: shape`);
  const got = Array.from(decoded.data);
  const expected = Array.from(typed(want));
  assert.equal(got.length, expected.length, `${what}: element count`);
  if (want.dtype === 'float32' || want.dtype === 'float64') {
    got.forEach((g, i) => {
      const w = expected[i];
      const ok = Object.is(g, w) || (Number.isNaN(g) && Number.isNaN(w)) || Math.abs(g - w) <= 1e-6 * Math.max(Math.abs(w), 1e-6);
      assert.ok(ok, `${what}[${i}]: node ${g}, ONNX Runtime ${w}`);
    });
  } else {
    assert.deepEqual(got, expected, what);
  }
}
