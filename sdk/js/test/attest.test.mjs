// Attestation helpers without a node: the known-answer vectors of the node's layouts
// (primitives/tests/vectors.rs: rule hash, result and failure digests, a member's signature, a
// sealed record's leaf, a Merkle root and a block digest) through viem's and ethers' keccak256;
// inclusion proofs of every tree size; verifyAttestation of synthetic sealed and per-job records
// signed with viem and ethers keys, and every tampering it must refuse, naming the fault.
//
//   node --test sdk/js/test/attest.test.mjs

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SigningKey, keccak256 as ethersKeccak256, recoverAddress as ethersRecoverAddress } from 'ethers';
import { keccak256 as viemKeccak256, recoverAddress as viemRecoverAddress, stringToBytes } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import {
  AnhError,
  JOB_KIND_CODES,
  RULE_KIND_CODES,
  attestationDigest,
  attestationLeaf,
  blockDigest,
  getAttestations,
  inclusionProof,
  merkleRoot,
  ruleHash,
  verifyAttestation,
  verifyInclusion,
} from '@anh/sdk';

const CHAIN = 31337;
const viemRecover = (hash, signature) => viemRecoverAddress({ hash, signature });
/** keccak256 as viem and ethers give it, and as a function answering bytes, and inside an object. */
const KECCAKS = {
  viem: viemKeccak256,
  ethers: ethersKeccak256,
  'viem, bytes out': (b) => viemKeccak256(b, 'bytes'),
  '{ keccak256 } (ethers)': { keccak256: ethersKeccak256 },
};
const CRYPTO = {
  viem: { keccak256: viemKeccak256, recoverAddress: viemRecover },
  ethers: { keccak256: ethersKeccak256, recoverAddress: ethersRecoverAddress },
};

const EXACT = { kind: 'exact', absTolerance: 0n, relTolerance: 0n };
// The record of `block_attestation_layouts`: job_id(infer, 0x11…, [1, 2, 3], exact), output "out".
const KAT_RECORD = {
  job: '0xcecbbc195664d8ea7828d550de2f3ed4a90e171486c3c77e5f16ddd66d69d4e0',
  kind: 'infer',
  model: `0x${'11'.repeat(32)}`,
  rule: EXACT,
  output: '0x6f7574',
  signatures: [],
  settled: true,
  failure: null,
};
const KAT = {
  exact: '0x255ace0592d6d0057743ec81f2494d71fe5466986a2fd6f28c632dc1ef83d48b',
  tolerance: '0xeed026e9374fd0a3d505efa8f91e9d036d0617cf14e8b1997798ac90d1d35e8b',
  digest: '0x1749562f65a47dcb895d68f3b0472f44fd39b55c61846744ac0fe59bf027e0b9',
  failureDigest: '0x79175cf327e279104fd11323dc56fc8f06c5bf5fc93b794cee35b73c1235488f',
  leaf: '0xbe1f38713da3303b099877aa5736ca08aa9b1561132fe2b5157518d6b84a8771',
  root: '0x1dba2dfd32339c715d41ac9ea2a613787a2c2e1a9155618b0f00c18794f5fc18',
  blockDigest: '0x56f4fe39bb75b78c496536f6c429246c6ea60f8e388ee71dbf8e3dd64e2efd2d',
  // Key 1 (0x7E5F…5Bdf) signing `digest`, RFC 6979.
  signature:
    '0x3a8c54d4134651b9e5f210012d91947646dd9b96370431308b4b108560e330e543793d02c0417c48aaaa829deb06d2de5562d1b703f8a638143b61fa2b1681eb1b',
  signer: '0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf',
};

const key = (i) => `0x${i.toString(16).padStart(64, '0')}`;
const sigOf = {
  viem: (i, hash) => privateKeyToAccount(key(i)).sign({ hash }),
  ethers: (i, hash) => new SigningKey(key(i)).sign(hash).serialized,
};
const addressOf = (i) => privateKeyToAccount(key(i)).address;
const COMMITTEE = { members: [1, 2, 3].map(addressOf), threshold: 2 };

/** Records of one block: settled infer, register and train jobs and a failed infer. */
function blockRecords() {
  const h = (text) => viemKeccak256(stringToBytes(text));
  return [
    { ...KAT_RECORD },
    { job: h('j1'), kind: 'register', model: h('m1'), rule: EXACT, output: '0x1234', signatures: [], settled: true, failure: null },
    { job: h('j2'), kind: 'train', model: h('m1'), rule: { kind: 'train-loss', absTolerance: 10n ** 15n, relTolerance: 0n }, output: `0x${'ab'.repeat(96)}`, signatures: [], settled: true, failure: null },
    { job: h('j3'), kind: 'infer', model: h('m2'), rule: { kind: 'tolerance', absTolerance: 1000n, relTolerance: 5n }, output: '0x', signatures: [], settled: false, failure: 'InferenceFailed: Gemm: bad shapes ✗' },
  ];
}

/** The block sealed as the node does it, signed by keys `signers` with viem's or ethers' signing. */
async function seal(records, { number = 7n, parentHash = `0x${'aa'.repeat(32)}`, signers = [1, 3], by = 'viem', chainId = CHAIN } = {}) {
  const leaves = records.map((r) => attestationLeaf(r, viemKeccak256));
  const root = merkleRoot(leaves, viemKeccak256);
  const digest = blockDigest(chainId, number, parentHash, leaves.length, root, viemKeccak256);
  const signatures = await Promise.all(signers.map((i) => sigOf[by](i, digest)));
  return records.map((r, index) => ({
    ...r,
    sealed: { blockNumber: number, parentHash, index, count: leaves.length, leaf: leaves[index], root, proof: inclusionProof(leaves, index, viemKeccak256), digest, signatures },
  }));
}

/** Expects verifyAttestation to reject with `fault` and a message matching `pattern`. */
async function refused(record, options, fault, pattern) {
  await assert.rejects(verifyAttestation(record, options), (e) => {
    assert.ok(e instanceof AnhError, String(e));
    assert.equal(e.fault, fault, e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

describe('known answers (primitives/tests/vectors.rs)', () => {
  test('rule hashes, the result and failure digests, and the code tables', () => {
    for (const [name, k] of Object.entries(KECCAKS)) {
      assert.equal(ruleHash(EXACT, k), KAT.exact, name);
      assert.equal(ruleHash({ kind: 1 }, k), KAT.exact, `${name}: kind by code, tolerances omitted`);
      assert.equal(ruleHash({ kind: 'tolerance', absTolerance: 1000, relTolerance: '5' }, k), KAT.tolerance, name);
      assert.equal(attestationDigest(KAT_RECORD, CHAIN, k), KAT.digest, name);
      assert.equal(attestationDigest({ ...KAT_RECORD, output: '0x', settled: false, failure: 'fail' }, 31337n, k), KAT.failureDigest, name);
    }
    assert.deepEqual({ ...JOB_KIND_CODES }, { infer: 1, register: 2, train: 3 });
    assert.deepEqual({ ...RULE_KIND_CODES }, { default: 0, exact: 1, tolerance: 2, argmax: 3, 'train-loss': 4, recompute: 5 });
  });

  test('a sealed record\'s leaf, the root of three leaves and the block digest', () => {
    for (const [name, k] of Object.entries(KECCAKS)) {
      const leaf = attestationLeaf(KAT_RECORD, k);
      assert.equal(leaf, KAT.leaf, name);
      assert.equal(attestationLeaf({ ...KAT_RECORD, kind: 1, rule: { kind: 1, absTolerance: 0, relTolerance: 0 } }, k), KAT.leaf, `${name}: codes`);
      const leaves = [leaf, viemKeccak256(stringToBytes('b')), ethersKeccak256(stringToBytes('c'))];
      assert.equal(merkleRoot(leaves, k), KAT.root, name);
      assert.equal(blockDigest(CHAIN, 7, `0x${'aa'.repeat(32)}`, 3, KAT.root, k), KAT.blockDigest, name);
      assert.equal(blockDigest(31337n, 7n, new Uint8Array(32).fill(0xaa), 3n, KAT.root, k), KAT.blockDigest, `${name}: bigints and bytes`);
      leaves.forEach((l, i) => assert.ok(verifyInclusion(l, i, 3, inclusionProof(leaves, i, k), KAT.root, k), `${name}: leaf ${i}`));
    }
    assert.equal(merkleRoot([], viemKeccak256), `0x${'00'.repeat(32)}`);
    assert.equal(merkleRoot([KAT.leaf], viemKeccak256), KAT.leaf, 'one leaf is its own root');
  });

  test('the member signature of the vectors recovers to key 1 through viem and ethers', async () => {
    for (const [name, crypto] of Object.entries(CRYPTO)) {
      const verified = await verifyAttestation({ ...KAT_RECORD, signatures: [KAT.signature] }, { chainId: CHAIN, committee: { members: [KAT.signer.toLowerCase()], threshold: 1 }, ...crypto });
      assert.deepEqual(verified, { signers: [KAT.signer], digest: KAT.digest, leaf: null, sealed: false }, name);
    }
  });
});

describe('inclusion proofs', () => {
  test('every leaf of every tree of 1 to 17 leaves proves its own place and no other', () => {
    const k = viemKeccak256;
    for (let n = 1; n <= 17; n++) {
      const leaves = Array.from({ length: n }, (_, i) => viemKeccak256(Uint8Array.of(i)));
      const root = merkleRoot(leaves, k);
      for (let i = 0; i < n; i++) {
        const proof = inclusionProof(leaves, i, k);
        assert.ok(proof.length <= Math.ceil(Math.log2(n)), `n ${n}: proof of ${proof.length}`);
        assert.ok(verifyInclusion(leaves[i], i, n, proof, root, ethersKeccak256), `n ${n} leaf ${i}`);
        assert.equal(verifyInclusion(viemKeccak256(stringToBytes('other')), i, n, proof, root, k), false, 'another leaf');
        assert.equal(verifyInclusion(leaves[i], n, n, proof, root, k), false, 'index past the count');
        assert.equal(verifyInclusion(leaves[i], i, n, [...proof, root], root, k), false, 'a longer proof');
        if (n > 1) {
          assert.equal(verifyInclusion(leaves[i], (i + 1) % n, n, proof, root, k), false, `n ${n}: leaf ${i} at another index`);
          assert.equal(verifyInclusion(leaves[i], i, n, proof.slice(1), root, k), false, 'a shorter proof');
          assert.equal(verifyInclusion(leaves[i], i, n, inclusionProof(leaves, (i + 1) % n, k), root, k), false, 'another leaf\'s proof');
        }
      }
    }
    assert.throws(() => inclusionProof([KAT.leaf], 1, viemKeccak256), { name: 'RangeError', message: 'inclusionProof: index 1 is past the 1 leaves' });
  });
});

describe('verifyAttestation', () => {
  test('every record of a sealed block verifies through viem and ethers, signed with viem or ethers keys', async () => {
    for (const by of ['viem', 'ethers']) {
      const records = await seal(blockRecords(), { by, signers: [3, 1] });
      for (const [name, crypto] of Object.entries(CRYPTO)) {
        for (const record of records) {
          const verified = await verifyAttestation(record, { chainId: CHAIN, committee: COMMITTEE, ...crypto });
          assert.deepEqual(verified, { signers: [addressOf(3), addressOf(1)], digest: record.sealed.digest, leaf: record.sealed.leaf, sealed: true }, `${by}-signed, ${name}`);
        }
      }
    }
    // One record alone: count 1, empty proof; and the node's raw JSON (blockNumber a number).
    const [only] = await seal([blockRecords()[3]], { signers: [1, 2, 3], number: 1n });
    assert.deepEqual(only.sealed.proof, []);
    const raw = { ...only, sealed: { ...only.sealed, blockNumber: 1 } };
    assert.equal((await verifyAttestation(raw, { chainId: CHAIN, committee: COMMITTEE, ...CRYPTO.ethers })).signers.length, 3);
  });

  test('a per-job record (sealed: null) verifies by its result or failure digest', async () => {
    const [, , train, failed] = blockRecords();
    for (const record of [train, failed]) {
      const digest = attestationDigest(record, CHAIN, viemKeccak256);
      const signed = { ...record, sealed: null, signatures: [await sigOf.viem(2, digest), await sigOf.ethers(1, digest)] };
      for (const crypto of Object.values(CRYPTO)) {
        assert.deepEqual(await verifyAttestation(signed, { chainId: CHAIN, committee: COMMITTEE, ...crypto }), { signers: [addressOf(2), addressOf(1)], digest, leaf: null, sealed: false });
      }
      // The failure's signatures do not stand for a result, nor the other way round.
      const swapped = record.failure ? { ...signed, failure: null, settled: true } : { ...signed, failure: 'x', output: '0x', settled: false };
      await refused(swapped, { chainId: CHAIN, committee: COMMITTEE, ...CRYPTO.viem }, 'not-member', /^verifyAttestation: signature 0 recovers to 0x[0-9a-fA-F]{40}, who is not in the committee/);
    }
  });

  test('a changed output, failure, model or rule fails its leaf; a forged seal recovers to strangers', async () => {
    const records = await seal(blockRecords());
    const options = { chainId: CHAIN, committee: COMMITTEE, ...CRYPTO.viem };
    const changes = [
      { output: '0x6f7575' },
      { output: '0x' },
      { model: records[1].model },
      { rule: { kind: 'tolerance', absTolerance: 0n, relTolerance: 0n } },
      { kind: 'register' },
      { failure: 'forged' },
    ];
    for (const change of changes) {
      await refused({ ...records[0], ...change }, options, 'leaf', new RegExp(`^verifyAttestation: job ${records[0].job}: the record hashes to leaf 0x[0-9a-f]{64}, not the leaf ${records[0].sealed.leaf} the block signed at index 0: the record is not what the committee signed$`));
    }
    await refused({ ...records[3], failure: `${records[3].failure}.` }, options, 'leaf', /not what the committee signed/);
    // Rebuilding the tree around a changed record gives a root nobody signed.
    const forgedRecords = blockRecords();
    forgedRecords[2].output = '0x00';
    const forged = await seal(forgedRecords);
    const tampered = { ...forged[2], sealed: { ...forged[2].sealed, signatures: records[2].sealed.signatures } };
    await refused(tampered, options, 'not-member', /^verifyAttestation: signature 0 recovers to 0x[0-9a-fA-F]{40}, who is not in the committee \(signed for another block, chain or record, or by another key\)$/);
  });

  test('a wrong index, another leaf\'s proof, a cut proof or another count fail the proof', async () => {
    const records = await seal(blockRecords());
    const options = { chainId: CHAIN, committee: COMMITTEE, ...CRYPTO.ethers };
    const at = (i, sealed) => ({ ...records[i], sealed: { ...records[i].sealed, ...sealed } });
    const proofFails = /^verifyAttestation: job 0x[0-9a-f]{64}: the proof does not lead from its leaf at index \d+ of \d+ to the root 0x[0-9a-f]{64}$/;
    await refused(at(1, { index: 2 }), options, 'proof', proofFails);
    await refused(at(1, { index: 4 }), options, 'proof', proofFails);
    await refused(at(1, { proof: records[2].sealed.proof }), options, 'proof', proofFails);
    await refused(at(1, { proof: records[0].sealed.proof }), options, 'proof', proofFails);
    await refused(at(1, { proof: records[1].sealed.proof.slice(0, -1) }), options, 'proof', proofFails);
    await refused(at(1, { proof: [...records[1].sealed.proof].reverse() }), options, 'proof', proofFails);
    await refused(at(1, { count: 5 }), options, 'proof', proofFails);
    // Another record's whole seal: its leaf is not this record's.
    await refused({ ...records[1], sealed: records[2].sealed }, options, 'leaf', /at index 2: the record is not what the committee signed$/);
  });

  test('another chain, block or parent fails the digest or recovers to strangers', async () => {
    const [record] = await seal(blockRecords());
    const options = { chainId: CHAIN, committee: COMMITTEE, ...CRYPTO.viem };
    await refused(record, { ...options, chainId: 1 }, 'digest', new RegExp(`^verifyAttestation: block 7: the block digest on chain 1 is 0x[0-9a-f]{64}, the node shows ${record.sealed.digest} \\(another chain id\\?\\)$`));
    const { digest, ...withoutDigest } = record.sealed;
    for (const sealed of [{ ...withoutDigest, blockNumber: 8n }, { ...withoutDigest, parentHash: `0x${'bb'.repeat(32)}` }]) {
      await refused({ ...record, sealed }, options, 'not-member', /^verifyAttestation: signature 0 recovers to /);
    }
    await refused({ ...record, sealed: { ...record.sealed, blockNumber: 8n } }, options, 'digest', /^verifyAttestation: block 8: the block digest/);
  });

  test('too few, repeated, foreign, high-s and malformed signatures are refused', async () => {
    const records = await seal(blockRecords());
    const options = { chainId: CHAIN, committee: COMMITTEE, ...CRYPTO.ethers };
    const signed = (signatures) => ({ ...records[1], sealed: { ...records[1].sealed, signatures } });
    const [s1, s3] = records[1].sealed.signatures;
    await refused(signed([s1]), options, 'threshold', /^verifyAttestation: 1 signature\(s\), the committee needs 2$/);
    await refused(signed([]), options, 'threshold', /^verifyAttestation: 0 signature\(s\), the committee needs 2$/);
    await refused(signed([s1, s1, s3]), options, 'duplicate', new RegExp(`^verifyAttestation: ${addressOf(1)} signed more than once$`));
    const stranger = await sigOf.viem(9, records[1].sealed.digest);
    await refused(signed([s1, stranger]), options, 'not-member', new RegExp(`^verifyAttestation: signature 1 recovers to ${addressOf(9)}, who is not in the committee`));
    // The same signature with s → n − s and v flipped: valid ECDSA, refused as the node refuses it.
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const s = BigInt(`0x${s3.slice(66, 130)}`);
    const highS = `${s3.slice(0, 66)}${(n - s).toString(16).padStart(64, '0')}${s3.endsWith('1b') ? '1c' : '1b'}`;
    assert.equal((await viemRecoverAddress({ hash: records[1].sealed.digest, signature: highS })).toLowerCase(), addressOf(3).toLowerCase(), 'viem alone would take it');
    await refused(signed([s1, highS]), options, 'signature', /^verifyAttestation: signature 1 is high-s$/);
    await refused(signed([s1, s3.slice(0, -2)]), options, 'signature', /^verifyAttestation: signature 1 has 64 bytes, not 65$/);
    await refused(signed([s1, `${s3.slice(0, -2)}05`]), options, 'signature', /^verifyAttestation: signature 1 has recovery id 5$/);
    await refused(signed(['0xzz']), options, 'signature', /^verifyAttestation: signature 0 is not hex$/);
    await refused(records[1], { ...options, committee: { ...COMMITTEE, threshold: 0 } }, 'threshold', /threshold is 0, so no record can settle$/);
    await refused(records[1], { ...options, committee: { ...COMMITTEE, threshold: 3 } }, 'threshold', /^verifyAttestation: 2 signature\(s\), the committee needs 3$/);
    // A recoverAddress that throws is named as the signature's fault.
    await refused(records[1], { ...options, recoverAddress: () => { throw new Error('bad point'); } }, 'signature', /^verifyAttestation: signature 0 does not recover: bad point$/);
  });

  test('missing crypto, committee or malformed records are refused with what to pass', async () => {
    const [record] = await seal(blockRecords());
    await assert.rejects(verifyAttestation(record, { chainId: CHAIN, committee: COMMITTEE, recoverAddress: ethersRecoverAddress }), {
      name: 'TypeError',
      message: "verifyAttestation: pass a keccak256 function (viem's or ethers' keccak256), or { keccak256 }",
    });
    await assert.rejects(verifyAttestation(record, { chainId: CHAIN, committee: COMMITTEE, keccak256: viemKeccak256 }), {
      message: "verifyAttestation: pass recoverAddress(digest, signature): ethers' recoverAddress, or (hash, signature) => viem.recoverAddress({ hash, signature })",
    });
    await assert.rejects(verifyAttestation(record, { chainId: CHAIN, ...CRYPTO.viem }), { message: 'verifyAttestation: pass the committee: { members, threshold } (what anh_committee answers)' });
    assert.throws(() => attestationLeaf({ ...KAT_RECORD, kind: 'unknown' }, viemKeccak256), {
      name: 'RangeError',
      message: 'attestationLeaf: unknown job kind "unknown": expected one of infer, register, train (or its code)',
    });
    assert.throws(() => attestationLeaf({ ...KAT_RECORD, job: '0x12' }, viemKeccak256), { name: 'TypeError', message: 'attestationLeaf: job must be 32 bytes (0x + 64 hex digits), got "0x12"' });
    assert.throws(() => attestationLeaf({ ...KAT_RECORD, rule: { kind: 'exact', absTolerance: 2n ** 64n } }, viemKeccak256), {
      name: 'RangeError',
      message: 'attestationLeaf: rule.absTolerance must be a uint64, got 18446744073709551616',
    });
    assert.throws(() => ruleHash({ kind: 'fuzzy' }, viemKeccak256), /^RangeError: ruleHash: unknown rule kind "fuzzy"/);
    assert.throws(() => blockDigest(CHAIN, -1, KAT.root, 1, KAT.root, viemKeccak256), { message: 'blockDigest: number must be a uint256, got -1' });
    assert.throws(() => merkleRoot([KAT.leaf, KAT.root], () => '0x1234'), { message: 'merkleRoot: keccak256 must return 32 bytes (hex or a Uint8Array)' });
    assert.throws(() => verifyInclusion(KAT.leaf, 0, 1, 'nope', KAT.leaf, viemKeccak256), { message: 'verifyInclusion: proof must be an array of 32-byte hashes' });
    assert.throws(() => verifyInclusion(KAT.leaf, 0, 1, [], KAT.leaf), /^TypeError: verifyInclusion: pass a keccak256 function/);
  });

  test('getAttestations types the seal (blockNumber a bigint) and gives null where a node has none', async () => {
    const [record] = await seal(blockRecords());
    const json = (r) => JSON.parse(JSON.stringify(r, (_, v) => (typeof v === 'bigint' ? Number(v) : v)));
    const answers = [json(record), { ...json(record), sealed: null }];
    const { sealed: _, ...older } = json(record);
    answers.push(older); // a node from before block seals
    const source = { request: async ({ method }) => (method === 'anh_getAttestations' ? answers : null) };
    const [sealed, perJob, old] = await getAttestations(source, 7);
    assert.deepEqual(sealed.sealed, record.sealed);
    assert.equal(typeof sealed.sealed.blockNumber, 'bigint');
    assert.equal(typeof sealed.rule.absTolerance, 'bigint');
    assert.equal(perJob.sealed, null);
    assert.equal(old.sealed, null);
    assert.deepEqual((await verifyAttestation(sealed, { chainId: CHAIN, committee: COMMITTEE, ...CRYPTO.viem })).signers, [addressOf(1), addressOf(3)]);
  });
});
