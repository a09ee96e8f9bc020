/**
 * Checking the committee's attestations of DNN jobs one job at a time, without the block's
 * other records: a sealed record's leaf, its Merkle path to the signed root and the block
 * digest, or a per-job record's own digest; then who signed. Layouts: `primitives/src/seal.rs`
 * and `primitives/src/job.rs` of the node.
 *
 * The SDK has no hashing or elliptic-curve code of its own (no runtime dependency): every helper
 * takes your `keccak256` — viem's or ethers' as they are, any `(bytes: Uint8Array) => hex | bytes`
 * — either as the function or as `{ keccak256 }`, and `verifyAttestation` also a
 * `recoverAddress(digest, signature)`: ethers' `recoverAddress` as it is, or for viem
 * `(hash, signature) => recoverAddress({ hash, signature })`.
 *
 * @example
 * import { keccak256, recoverAddress } from 'viem';
 * const committee = await rpc(url, 'anh_committee');
 * const [record] = await getAttestations(url, blockNumber);
 * const { signers } = await verifyAttestation(record, {
 *   chainId: 31337, committee, keccak256,
 *   recoverAddress: (hash, signature) => recoverAddress({ hash, signature }),
 * });
 *
 * @module
 */

import type { Hex } from './tensor.js';
import type { SealedAttestation } from './node.js';

/** A keccak256 over bytes: viem's or ethers' `keccak256` (they answer hex), or any that answers hex or 32 bytes. */
export type Keccak256 = (bytes: Uint8Array) => string | Uint8Array;

/** `keccak256` as a function, or an object holding it (so one `{ keccak256, recoverAddress }` serves every helper). */
export type Keccak256Like = Keccak256 | { keccak256: Keccak256 };

/**
 * The address that signed `digest` with `signature` (65 bytes, `r ‖ s ‖ v`, hex), sync or async:
 * ethers' `recoverAddress`, or `(hash, signature) => viem.recoverAddress({ hash, signature })`.
 */
export type RecoverAddress = (digest: Hex, signature: Hex) => string | Promise<string>;

/** A rule: its kind by name (as `getAttestations` gives it) or code, tolerances in units of 1e-9. */
export interface RuleLike {
  kind: 'default' | 'exact' | 'tolerance' | 'argmax' | 'train-loss' | 'recompute' | number | string;
  absTolerance?: bigint | number | string;
  relTolerance?: bigint | number | string;
}

/** What the helpers read of a job record: a record of `getAttestations` (or the raw JSON of `anh_getAttestations`). */
export interface RecordLike {
  job: Hex | string;
  kind: 'infer' | 'register' | 'train' | number | string;
  model: Hex | string;
  rule: RuleLike;
  output: Hex | string;
  failure?: string | null;
  signatures?: readonly (Hex | string)[];
  sealed?: SealedLike | null;
}

/** A seal as `getAttestations` gives it (`blockNumber` a bigint) or as the node's JSON has it (a number). */
export type SealedLike = Omit<SealedAttestation, 'blockNumber'> & { blockNumber: bigint | number };

/** Job kinds as the leaf encodes them: infer 1, register 2, train 3. */
export declare const JOB_KIND_CODES: Readonly<{ infer: 1; register: 2; train: 3 }>;

/** Rule kinds as the rule hash encodes them: default 0, exact 1, tolerance 2, argmax 3, train-loss 4, recompute 5. */
export declare const RULE_KIND_CODES: Readonly<{ default: 0; exact: 1; tolerance: 2; argmax: 3; 'train-loss': 4; recompute: 5 }>;

/** `keccak256(abi.encode(uint8 kind, uint64 absTolerance, uint64 relTolerance))`. */
export declare function ruleHash(rule: RuleLike, keccak256: Keccak256Like): Hex;

/**
 * A record's leaf in its block's seal:
 * `keccak256(0x00 ‖ job ‖ uint256 kind ‖ model ‖ ruleHash ‖ keccak256(output) ‖ keccak256(failure))`
 * — each field a 32-byte word, `kind` infer 1 / register 2 / train 3, `output` the raw bytes
 * (empty for a failed job), `failure` the failure text in UTF-8 (empty for a settled job).
 * Throws a RangeError for a record of kind `unknown`.
 */
export declare function attestationLeaf(record: RecordLike, keccak256: Keccak256Like): Hex;

/**
 * Whether `leaf`, at `index` of a block's `count` leaves, is in the Merkle tree (RFC 6962,
 * keccak256, inner nodes `keccak256(0x01 ‖ left ‖ right)`) of `root` by `proof` (siblings,
 * bottom up). A proof of one index proves no other; `index ≥ count` is `false`. Take `count`
 * and `root` from what the committee signed (`blockDigest` commits to both).
 */
export declare function verifyInclusion(
  leaf: Hex | Uint8Array,
  index: number | bigint,
  count: number | bigint,
  proof: readonly (Hex | Uint8Array)[],
  root: Hex | Uint8Array,
  keccak256: Keccak256Like,
): boolean;

/**
 * The digest the committee signs for a block (no EIP-191 prefix):
 * `keccak256("\x19ANH-BLOCK-v1" ‖ uint256 chainId ‖ uint256 number ‖ parentHash ‖ uint256 count ‖ root)`.
 */
export declare function blockDigest(
  chainId: number | bigint,
  number: number | bigint,
  parentHash: Hex | Uint8Array,
  count: number | bigint,
  root: Hex | Uint8Array,
  keccak256: Keccak256Like,
): Hex;

/**
 * What members sign for a record on its own (in a block not sealed as a whole, `sealed: null`):
 * for a settled job `keccak256("\x19ANH-ATTEST-v1" ‖ uint256 chainId ‖ job ‖ keccak256(output) ‖ ruleHash)`,
 * for a failed one `keccak256("\x19ANH-FAIL-v1" ‖ uint256 chainId ‖ job ‖ keccak256(failure) ‖ ruleHash)`.
 */
export declare function attestationDigest(record: RecordLike, chainId: number | bigint, keccak256: Keccak256Like): Hex;

/** The Merkle root of `leaves` as the node computes a block's (zero hash for none). */
export declare function merkleRoot(leaves: readonly (Hex | Uint8Array)[], keccak256: Keccak256Like): Hex;

/** The proof (siblings, bottom up) of leaf `index` of `leaves`, as the node builds `sealed.proof`. */
export declare function inclusionProof(leaves: readonly (Hex | Uint8Array)[], index: number | bigint, keccak256: Keccak256Like): Hex[];

/** Options of `verifyAttestation`. */
export interface VerifyOptions {
  /** The chain's id (`eth_chainId`): signatures for another chain recover to strangers. */
  chainId: number | bigint;
  /** The committee: `{ members, threshold }`, e.g. what `anh_committee` answers. */
  committee: { members: readonly string[]; threshold: number | bigint };
  /** viem's or ethers' keccak256. */
  keccak256: Keccak256;
  /** ethers' `recoverAddress`, or `(hash, signature) => viem.recoverAddress({ hash, signature })`. */
  recoverAddress: RecoverAddress;
}

/** What `verifyAttestation` found. */
export interface Verified {
  /** The members who signed, in signature order, as `recoverAddress` wrote them (at least `threshold`, all distinct). */
  signers: string[];
  /** The digest they signed: the block digest of a sealed record, else the record's own. */
  digest: Hex;
  /** The record's leaf (sealed records), else `null`. */
  leaf: Hex | null;
  /** Whether the record was checked through its block's seal. */
  sealed: boolean;
}

/**
 * Checks one record of `getAttestations` on its own. A sealed record: its leaf is the one the
 * block signed, `proof` leads from it at `index` to `root`, the block digest recomputed for
 * `chainId` is the node's; a per-job record (`sealed: null`): its own result or failure digest.
 * Then every signature (65 bytes, low s, `v` 27/28) must recover to a distinct committee member,
 * at least `threshold` of them — as the node's follower checks a block. Resolves the signers;
 * rejects with an `AnhError` whose `fault` says what is wrong (`leaf`, `proof`, `digest`,
 * `signature`, `not-member`, `duplicate`, `threshold`).
 *
 * It trusts `blockNumber` and `parentHash` as the record gives them: a light client compares
 * them with the headers it follows.
 */
export declare function verifyAttestation(record: RecordLike, options: VerifyOptions): Promise<Verified>;
