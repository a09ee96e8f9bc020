/**
 * Talking to an `anh node`: JSON-RPC, model upload (`PUT /models`) and registration (a
 * transaction to 0x…0D00) with a viem WalletClient or an ethers v6 Signer, and
 * `anh_getAttestations`. Structural types only: the SDK imports neither viem nor ethers.
 *
 * @module
 */

import type { Hex } from './tensor.js';

/** Anything with EIP-1193's `request({ method, params })`: a viem PublicClient, WalletClient or transport, window.ethereum. */
export interface Eip1193Like {
  request(...args: any[]): Promise<any>;
}

/** Anything with ethers' `send(method, params)`: an ethers JsonRpcProvider or BrowserProvider. */
export interface EthersProviderLike {
  send(method: string, params: any[] | Record<string, any>): Promise<any>;
}

/** Where JSON-RPC requests go: a node URL (fetch), a viem client, or an ethers provider. */
export type RpcSource = string | Eip1193Like | EthersProviderLike;

/** The part of a viem WalletClient the SDK uses: `account` (required) and `sendTransaction`. */
export interface WalletClientLike {
  account?: { address: Hex } | undefined;
  chain?: unknown;
  sendTransaction(...args: any[]): Promise<Hex>;
}

/** The part of an ethers v6 Signer the SDK uses (a Wallet connected to a provider, a JsonRpcSigner). */
export interface SignerLike {
  sendTransaction(tx: { to: string; data: string }): Promise<{ hash: string }>;
}

/** How the committee settles a model's results (`Rule` of IDnn.sol); tolerances in units of 1e-9. */
export interface Rule {
  /** 0 default, 1 exact, 2 tolerance, 3 argmax. */
  kind: number;
  absTolerance?: bigint | number;
  relTolerance?: bigint | number;
}

/** The signer of a registration: exactly one of a viem WalletClient (with an account) or an ethers Signer. */
export type SignWith = { walletClient: WalletClientLike; signer?: undefined } | { signer: SignerLike; walletClient?: undefined };

/** Options of `registerModel`. */
export type RegisterOptions = SignWith & {
  /** The name recorded on chain. */
  name: string;
  /** Register with `registerWithRule` and this rule (default: `register`, the committee's default rule). */
  rule?: Rule;
  /** How long to wait for the receipt (default 60 000 ms). */
  timeoutMs?: number;
};

/** Options of `pushModel`. */
export type PushOptions = RegisterOptions & {
  /** The node's upload token (`anh node --upload-token`), sent as `Authorization: Bearer`. */
  uploadToken?: string;
};

/** What the node's analysis says about an uploaded model (the `model` of `PUT /models`' answer). */
export interface ModelAnalysis {
  hash: Hex;
  size: number;
  macs: number;
  inputs: { name: string; dtype: string; shape: (number | string)[] }[];
  outputs: { name: string; dtype: string; shape: (number | string)[] }[];
  parent: Hex | null;
  cost: { degrees: number[]; coefficients: string[] };
  [field: string]: unknown;
}

/** A registration's result. */
export interface Registered {
  /** keccak256 of the ONNX file (lowercase hex). */
  model: Hex;
  /** The registration's transaction; `null` when the model was registered already. */
  transactionHash: Hex | null;
  /** Its block; `null` when the model was registered already. */
  blockNumber: bigint | null;
}

/** `pushModel`'s result. */
export interface Pushed extends Registered {
  /** The node's analysis of the file. */
  analysis: ModelAnalysis;
  /** Whether the model was registered before this call (then nothing was sent). */
  alreadyRegistered: boolean;
}

/**
 * One JSON-RPC request to `source`: a node URL (over fetch; an error answer throws an
 * `AnhError` with `code`, `data` and the decoded `dnnError` of a revert), a viem client or
 * EIP-1193 provider (`request`), or an ethers provider (`send`).
 */
export declare function rpc(source: RpcSource, method: string, params?: unknown[]): Promise<any>;

/** Calldata of `register(model, name)`, or of `registerWithRule(model, name, rule)` when a rule is given. */
export declare function encodeRegister(model: Hex | string, name: string, rule?: Rule): Hex;

/**
 * Uploads an ONNX file to the node's model store: `PUT <url>/models` with the raw bytes.
 * Resolves `{ model, analysis }`; a refusal throws an `AnhError` with the HTTP `status` and the
 * node's reason (`PUT /models: HTTP 400: model refused: not an ONNX model: …`). Uploading a
 * file the store holds already is fine (same hash).
 */
export declare function uploadModel(
  url: string,
  bytes: Uint8Array | ArrayBuffer | ArrayBufferView | Hex,
  options?: { uploadToken?: string },
): Promise<{ model: Hex; analysis: ModelAnalysis }>;

/** Whether `model` is registered (eth_call of `IModelInfo.isRegistered` at 0x…0D03). */
export declare function isRegistered(source: RpcSource, model: Hex | string, block?: BlockTag): Promise<boolean>;

/**
 * Registers `model`, already in the node's store, under `name`: a transaction to 0x…0D00
 * signed by `walletClient` (viem, with an account) or `signer` (ethers), then waits for its
 * receipt (polled over `url`). A revert throws an `AnhError` whose `dnnError` is the decoded
 * IDnnErrors error (`ModelUnavailable`, `AlreadyRegistered`, …).
 */
export declare function registerModel(url: string, model: Hex | string, options: RegisterOptions): Promise<Registered & { model: Hex; transactionHash: Hex; blockNumber: bigint }>;

/**
 * Uploads an ONNX file (`PUT /models`) and registers it under `name`, unless the chain has it
 * registered already (`alreadyRegistered: true`, nothing sent). One call does what
 * `anh model push FILE --name NAME` does, for models without external weight files.
 *
 * @example
 * const { model } = await pushModel('http://127.0.0.1:8545', readFileSync('mlp.onnx'), { name: 'mlp', walletClient });
 */
export declare function pushModel(url: string, bytes: Uint8Array | ArrayBuffer | ArrayBufferView | Hex, options: PushOptions): Promise<Pushed>;

/** A block: a number, a tag, or a block hash. */
export type BlockTag = number | bigint | 'latest' | 'earliest' | 'pending' | 'safe' | 'finalized' | Hex;

/** One DNN job record of a block, as `anh_getAttestations` lists it. */
export interface Attestation {
  /** The job id. */
  job: Hex;
  /** What the job was. */
  kind: 'infer' | 'register' | 'train' | 'unknown';
  /** The model it ran. */
  model: Hex;
  /** The rule it was settled by (never `default`: the default is resolved); tolerances in units of 1e-9 (exact below 2^53). */
  rule: {
    kind: 'default' | 'exact' | 'tolerance' | 'argmax' | 'train-loss' | 'recompute' | 'unknown';
    absTolerance: bigint;
    relTolerance: bigint;
  };
  /**
   * The settled output (`0x` when the job failed): for infer `abi.encode(Tensor[])`, for
   * register `abi.encode(ModelInfo)` of the analysis, for train `abi.encode(bytes32 model, uint64 size, int256 loss)`.
   */
  output: Hex;
  /**
   * The committee's signatures (65 bytes each, `r ‖ s ‖ v`, low-s) of this record's own digest
   * (`attestationDigest`: the output's, or the failure's). Empty in a block sealed as a whole:
   * then `sealed.signatures` stand for every record of the block.
   */
  signatures: Hex[];
  /** Whether the job settled (else it failed, and the call reverted with `failure`). */
  settled: boolean;
  /** Why the job failed; `null` when it settled. */
  failure: string | null;
  /**
   * The block's seal and this record's place in it, in a block the committee signed as a whole;
   * `null` in a block whose records carry their own `signatures` (the fallback when too few
   * members sign the whole block). Check it with `verifyAttestation`.
   */
  sealed: SealedAttestation | null;
}

/**
 * A record's proof of inclusion in its block's seal: the committee signed `digest` =
 * `blockDigest(chainId, blockNumber, parentHash, count, root)`, and `proof` leads from the
 * record's `leaf` (`attestationLeaf`) at `index` to `root` (`verifyInclusion`).
 */
export interface SealedAttestation {
  /** The block. */
  blockNumber: bigint;
  /** Its parent's hash (signed: a seal of one chain's block does not fit another's). */
  parentHash: Hex;
  /** The record's place among the block's records. */
  index: number;
  /** How many records the block has (signed: a root alone does not fix it). */
  count: number;
  /** The record's leaf, as the committee signed it. */
  leaf: Hex;
  /** The Merkle root of the block's leaves. */
  root: Hex;
  /** The sibling hashes from `leaf` up to `root`, bottom up (empty for a block of one record). */
  proof: Hex[];
  /** The block digest the committee signed (as the node computed it). */
  digest: Hex;
  /** The members' signatures of `digest`: 65 bytes each, `r ‖ s ‖ v` with `v` 27 or 28, no EIP-191 prefix. */
  signatures: Hex[];
}

/**
 * The DNN job records of a block (`anh_getAttestations`), in the order the block used them;
 * `[]` for a block without DNN jobs, `null` when the node has no such block.
 */
export declare function getAttestations(source: RpcSource, block?: BlockTag): Promise<Attestation[] | null>;
