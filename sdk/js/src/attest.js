// Checking the committee's attestations of DNN jobs, one job at a time: block-level seals
// (a record's leaf, its Merkle path to the signed root, the block digest) and per-job
// signatures (the result or failure digest). The SDK has no hashing or secp256k1 of its own:
// every helper takes the caller's keccak256 (viem's or ethers') and `verifyAttestation` a
// recoverAddress. Layouts: primitives/src/seal.rs and primitives/src/job.rs. Types and docs:
// attest.d.ts.

import { AnhError } from './errors.js';
import { asBytes, bytesToHex, hexToBytes } from './tensor.js';

/** Job kinds as the leaf encodes them (JobKind in primitives/src/job.rs). */
export const JOB_KIND_CODES = Object.freeze({ infer: 1, register: 2, train: 3 });

/** Rule kinds as the rule hash encodes them (RuleKind in primitives/src/rule.rs). */
export const RULE_KIND_CODES = Object.freeze({ default: 0, exact: 1, tolerance: 2, argmax: 3, 'train-loss': 4, recompute: 5 });

const ascii = (text) => Uint8Array.from(text, (c) => c.charCodeAt(0));
const ATTEST_DOMAIN = ascii('\x19ANH-ATTEST-v1');
const FAILURE_DOMAIN = ascii('\x19ANH-FAIL-v1');
const BLOCK_DOMAIN = ascii('\x19ANH-BLOCK-v1');
const HALF_ORDER = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;
const utf8 = new TextEncoder();

/** The caller's keccak256, from a function or `{ keccak256 }`, as bytes → 32 bytes. */
function hasher(keccak256, fn) {
  const k = typeof keccak256 === 'function' ? keccak256 : keccak256?.keccak256;
  if (typeof k !== 'function') {
    throw new TypeError(`${fn}: pass a keccak256 function (viem's or ethers' keccak256), or { keccak256 }`);
  }
  return (bytes) => {
    const out = k(bytes);
    const hash = typeof out === 'string' ? hexToBytes(out) : out instanceof Uint8Array ? out : null;
    if (!hash || hash.length !== 32) throw new TypeError(`${fn}: keccak256 must return 32 bytes (hex or a Uint8Array)`);
    return hash;
  };
}

function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A uint256 word (big-endian) of a non-negative integer below 2^bits. */
function uint(value, bits, what, fn) {
  let v;
  try {
    v = BigInt(value);
  } catch {
    throw new TypeError(`${fn}: ${what} must be an integer, got ${JSON.stringify(value)}`);
  }
  if (v < 0n || v >= 1n << BigInt(bits)) throw new RangeError(`${fn}: ${what} must be a uint${bits}, got ${v}`);
  return hexToBytes(`0x${v.toString(16).padStart(64, '0')}`);
}

/** A 32-byte hash (hex or bytes). */
function bytes32(value, what, fn) {
  let bytes;
  try {
    bytes = asBytes(value, fn);
  } catch {
    bytes = null;
  }
  if (!bytes || bytes.length !== 32) throw new TypeError(`${fn}: ${what} must be 32 bytes (0x + 64 hex digits), got ${JSON.stringify(value)}`);
  return bytes;
}

function code(table, value, what, fn) {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 255) return value;
  if (typeof value === 'string' && Object.hasOwn(table, value)) return table[value];
  throw new RangeError(`${fn}: unknown ${what} ${JSON.stringify(value)}: expected one of ${Object.keys(table).join(', ')} (or its code)`);
}

function ruleHashBytes(rule, k, fn) {
  if (!rule || typeof rule !== 'object') throw new TypeError(`${fn}: a record needs its rule`);
  return k(concat([
    uint(code(RULE_KIND_CODES, rule.kind, 'rule kind', fn), 8, 'rule.kind', fn),
    uint(rule.absTolerance ?? 0, 64, 'rule.absTolerance', fn),
    uint(rule.relTolerance ?? 0, 64, 'rule.relTolerance', fn),
  ]));
}

/** `keccak256(abi.encode(uint8 kind, uint64 abs, uint64 rel))` of a rule (kind by name or code). */
export function ruleHash(rule, keccak256) {
  return bytesToHex(ruleHashBytes(rule, hasher(keccak256, 'ruleHash'), 'ruleHash'));
}

/** The bytes a record's failure hashes as: the failure text in UTF-8, empty when it settled. */
const failureBytes = (record) => utf8.encode(record.failure ?? '');

const outputBytes = (record, fn) => {
  try {
    return asBytes(record.output ?? '0x', fn);
  } catch {
    throw new TypeError(`${fn}: the record's output must be hex, got ${JSON.stringify(record.output)}`);
  }
};

/**
 * A record's leaf in its block's attestation: keccak256(0x00 ‖ job ‖ uint256 jobKind ‖ model ‖
 * ruleHash ‖ keccak256(output) ‖ keccak256(failure)).
 */
export function attestationLeaf(record, keccak256) {
  const fn = 'attestationLeaf';
  const k = hasher(keccak256, fn);
  if (!record || typeof record !== 'object') throw new TypeError(`${fn}: expected a job record (getAttestations)`);
  return bytesToHex(k(concat([
    Uint8Array.of(0x00),
    bytes32(record.job, 'job', fn),
    uint(code(JOB_KIND_CODES, record.kind, 'job kind', fn), 8, 'kind', fn),
    bytes32(record.model, 'model', fn),
    ruleHashBytes(record.rule, k, fn),
    k(outputBytes(record, fn)),
    k(failureBytes(record)),
  ])));
}

const node = (k, left, right) => k(concat([Uint8Array.of(0x01), left, right]));

/** The largest power of two below n (n ≥ 2). */
function split(n) {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function count(value, what, fn) {
  const n = typeof value === 'bigint' ? Number(value) : value;
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${fn}: ${what} must be a non-negative integer, got ${value}`);
  return n;
}

function rootBytes(k, leaves) {
  if (leaves.length === 0) return new Uint8Array(32);
  if (leaves.length === 1) return leaves[0];
  const at = split(leaves.length);
  return node(k, rootBytes(k, leaves.slice(0, at)), rootBytes(k, leaves.slice(at)));
}

/** The RFC 6962 Merkle root (keccak256, inner nodes 0x01 ‖ left ‖ right) of `leaves`; zero for none. */
export function merkleRoot(leaves, keccak256) {
  const k = hasher(keccak256, 'merkleRoot');
  return bytesToHex(rootBytes(k, Array.from(leaves, (l, i) => bytes32(l, `leaf ${i}`, 'merkleRoot'))));
}

/** The sibling path, bottom up, from leaf `index` of `leaves` to their root. */
export function inclusionProof(leaves, index, keccak256) {
  const fn = 'inclusionProof';
  const k = hasher(keccak256, fn);
  let part = Array.from(leaves, (l, i) => bytes32(l, `leaf ${i}`, fn));
  let at = count(index, 'index', fn);
  if (at >= part.length) throw new RangeError(`${fn}: index ${at} is past the ${part.length} leaves`);
  const proof = [];
  while (part.length > 1) {
    const half = split(part.length);
    if (at < half) {
      proof.push(rootBytes(k, part.slice(half)));
      part = part.slice(0, half);
    } else {
      proof.push(rootBytes(k, part.slice(0, half)));
      part = part.slice(half);
      at -= half;
    }
  }
  return proof.reverse().map(bytesToHex);
}

/**
 * Whether `leaf`, at `index` of a block's `count` leaves, is in the tree of `root` by `proof`
 * (siblings bottom up). The index is checked too: a proof of one place proves no other.
 */
export function verifyInclusion(leaf, index, total, proof, root, keccak256) {
  const fn = 'verifyInclusion';
  const k = hasher(keccak256, fn);
  const i = count(index, 'index', fn);
  const n = count(total, 'count', fn);
  if (!Array.isArray(proof)) throw new TypeError(`${fn}: proof must be an array of 32-byte hashes`);
  const path = proof.map((p, j) => bytes32(p, `proof[${j}]`, fn));
  const want = bytesToHex(bytes32(root, 'root', fn));
  const start = bytes32(leaf, 'leaf', fn);
  const walk = (at, size, rest) => {
    if (size === 1) return rest.length === 0 ? start : null;
    if (rest.length === 0) return null;
    const sibling = rest[rest.length - 1];
    const below = rest.slice(0, -1);
    const half = split(size);
    if (at < half) {
      const left = walk(at, half, below);
      return left && node(k, left, sibling);
    }
    const right = walk(at - half, size - half, below);
    return right && node(k, sibling, right);
  };
  if (i >= n) return false;
  const got = walk(i, n, path);
  return got !== null && bytesToHex(got) === want;
}

/** What the committee signs for a block: keccak256("\x19ANH-BLOCK-v1" ‖ uint256 chainId ‖ uint256 number ‖ parentHash ‖ uint256 count ‖ root). */
export function blockDigest(chainId, number, parentHash, total, root, keccak256) {
  const fn = 'blockDigest';
  const k = hasher(keccak256, fn);
  return bytesToHex(k(concat([
    BLOCK_DOMAIN,
    uint(chainId, 256, 'chainId', fn),
    uint(number, 256, 'number', fn),
    bytes32(parentHash, 'parentHash', fn),
    uint(total, 256, 'count', fn),
    bytes32(root, 'root', fn),
  ])));
}

/**
 * What members sign for a record on its own (a block not sealed as a whole): for a settled job
 * keccak256("\x19ANH-ATTEST-v1" ‖ uint256 chainId ‖ job ‖ keccak256(output) ‖ ruleHash), for a
 * failed one keccak256("\x19ANH-FAIL-v1" ‖ uint256 chainId ‖ job ‖ keccak256(failure) ‖ ruleHash).
 */
export function attestationDigest(record, chainId, keccak256) {
  const fn = 'attestationDigest';
  const k = hasher(keccak256, fn);
  if (!record || typeof record !== 'object') throw new TypeError(`${fn}: expected a job record (getAttestations)`);
  const failed = record.failure !== null && record.failure !== undefined;
  return bytesToHex(k(concat([
    failed ? FAILURE_DOMAIN : ATTEST_DOMAIN,
    uint(chainId, 256, 'chainId', fn),
    bytes32(record.job, 'job', fn),
    k(failed ? failureBytes(record) : outputBytes(record, fn)),
    ruleHashBytes(record.rule, k, fn),
  ])));
}

const fail = (fault, message) => new AnhError(`verifyAttestation: ${message}`, { fault });

/** Checks a 65-byte r ‖ s ‖ v signature's form as the node does (low s, v 27/28 or 0/1). */
function checkSignature(signature, i) {
  let bytes;
  try {
    bytes = asBytes(signature, 'verifyAttestation');
  } catch {
    throw fail('signature', `signature ${i} is not hex`);
  }
  if (bytes.length !== 65) throw fail('signature', `signature ${i} has ${bytes.length} bytes, not 65`);
  const s = BigInt(bytesToHex(bytes.subarray(32, 64)));
  if (s > HALF_ORDER) throw fail('signature', `signature ${i} is high-s`);
  if (![27, 28, 0, 1].includes(bytes[64])) throw fail('signature', `signature ${i} has recovery id ${bytes[64]}`);
  return bytesToHex(bytes);
}

/**
 * Checks one record's attestation, sealed (the record's leaf, its path to the signed root, the
 * block digest) or per-job (the result or failure digest), and that at least the committee's
 * threshold of distinct members signed it. Resolves `{ signers, digest, leaf, sealed }`; throws
 * an AnhError whose `fault` names what is wrong.
 */
export async function verifyAttestation(record, options) {
  const fn = 'verifyAttestation';
  if (!record || typeof record !== 'object') throw new TypeError(`${fn}: expected a job record (getAttestations)`);
  const { chainId, committee, recoverAddress } = options ?? {};
  const k = options?.keccak256;
  hasher(k, fn);
  if (typeof recoverAddress !== 'function') {
    throw new TypeError(`${fn}: pass recoverAddress(digest, signature): ethers' recoverAddress, or (hash, signature) => viem.recoverAddress({ hash, signature })`);
  }
  if (!committee || !Array.isArray(committee.members)) {
    throw new TypeError(`${fn}: pass the committee: { members, threshold } (what anh_committee answers)`);
  }
  const threshold = count(committee.threshold, 'committee.threshold', fn);
  const members = new Set(committee.members.map((m) => String(m).toLowerCase()));

  let digest;
  let leaf = null;
  let signatures;
  const { sealed } = record;
  if (sealed) {
    leaf = attestationLeaf(record, k);
    if (leaf !== String(sealed.leaf).toLowerCase()) {
      throw fail('leaf', `job ${record.job}: the record hashes to leaf ${leaf}, not the leaf ${sealed.leaf} the block signed at index ${sealed.index}: the record is not what the committee signed`);
    }
    if (!verifyInclusion(leaf, sealed.index, sealed.count, sealed.proof, sealed.root, k)) {
      throw fail('proof', `job ${record.job}: the proof does not lead from its leaf at index ${sealed.index} of ${sealed.count} to the root ${sealed.root}`);
    }
    digest = blockDigest(chainId, sealed.blockNumber, sealed.parentHash, sealed.count, sealed.root, k);
    if (sealed.digest !== undefined && digest !== String(sealed.digest).toLowerCase()) {
      throw fail('digest', `block ${sealed.blockNumber}: the block digest on chain ${chainId} is ${digest}, the node shows ${sealed.digest} (another chain id?)`);
    }
    signatures = sealed.signatures;
  } else {
    digest = attestationDigest(record, chainId, k);
    signatures = record.signatures;
  }
  if (!Array.isArray(signatures)) throw new TypeError(`${fn}: the record has no signatures array`);
  if (threshold === 0) throw fail('threshold', 'the committee\'s threshold is 0, so no record can settle');

  const signers = [];
  const seen = new Set();
  for (const [i, signature] of signatures.entries()) {
    const sig = checkSignature(signature, i);
    let signer;
    try {
      signer = await recoverAddress(digest, sig);
    } catch (e) {
      throw new AnhError(`verifyAttestation: signature ${i} does not recover: ${e.message}`, { fault: 'signature', cause: e });
    }
    const key = String(signer).toLowerCase();
    if (!members.has(key)) {
      throw fail('not-member', `signature ${i} recovers to ${signer}, who is not in the committee (signed for another block, chain or record, or by another key)`);
    }
    if (seen.has(key)) throw fail('duplicate', `${signer} signed more than once`);
    seen.add(key);
    signers.push(signer);
  }
  if (signers.length < threshold) {
    throw fail('threshold', `${signers.length} signature(s), the committee needs ${threshold}`);
  }
  return { signers, digest, leaf, sealed: Boolean(sealed) };
}
