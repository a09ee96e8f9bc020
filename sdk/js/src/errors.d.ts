/**
 * The DNN precompiles' custom errors (`IDnnErrors` in contracts/src/dnn/IDnn.sol): decoding
 * revert data, and finding revert data inside viem's and ethers' errors.
 *
 * @module
 */

import type { Hex } from './tensor.js';

/** Each IDnnErrors error's arguments, by name (uint256 as bigint, bytes32/bytes4 as hex). */
export interface DnnErrorArgs {
  UnknownModel: { model: Hex };
  ModelUnavailable: { model: Hex };
  AlreadyRegistered: { model: Hex };
  WrongInputCount: { expected: bigint; got: bigint };
  InputMismatch: { input: bigint; expected: string; got: string };
  BadTensor: { input: bigint; reason: string };
  TensorTooLarge: { input: bigint; elements: bigint; limit: bigint };
  ConversionFailed: { tensor: bigint; element: bigint; reason: string };
  InferenceFailed: { reason: string };
  WriteInStaticCall: Record<string, never>;
  UnknownSelector: { selector: Hex };
  MalformedCall: { reason: string };
  NoQuorum: { job: Hex; signatures: bigint; threshold: bigint };
  TrainingFailed: { reason: string };
}

/** The name of an IDnnErrors error. */
export type DnnErrorName = keyof DnnErrorArgs;

/**
 * A decoded IDnnErrors error; narrow on `name` to type `args`.
 * `message` is the sentence the node itself writes after `execution reverted: `, e.g.
 * `InputMismatch: input 0: expected float32 [batch, 4], got float32 [1, 5]`.
 */
export type DecodedDnnError = {
  [N in DnnErrorName]: { name: N; args: DnnErrorArgs[N]; message: string; selector: Hex };
}[DnnErrorName];

/**
 * Decodes revert data of the DNN precompiles: `{ name, args, message, selector }` for each of
 * the 14 IDnnErrors errors; `null` for any other data (another contract's custom error,
 * `Error(string)`, `Panic`, empty, not hex). Throws a RangeError when the selector is an
 * IDnnErrors one but the arguments are cut short.
 *
 * @example
 * const e = decodeDnnError(data);
 * if (e?.name === 'InputMismatch') console.log(e.args.input, e.args.expected, e.args.got);
 */
export declare function decodeDnnError(data: Hex | string | Uint8Array): DecodedDnnError | null;

/**
 * The revert data inside an error thrown by viem (readContract, simulateContract,
 * estimateGas, sendTransaction: found on RawContractError, RpcRequestError,
 * ContractFunctionRevertedError through `cause`) or by ethers v6 (`CallExceptionError.data`,
 * the JSON-RPC error under `info.error` or `error`); `undefined` when it holds none. Lowercase hex.
 */
export declare function revertDataOf(error: unknown): Hex | undefined;

/** `decodeDnnError(revertDataOf(error))`: the IDnnErrors error a viem or ethers error carries, or `null`. Never throws. */
export declare function dnnErrorOf(error: unknown): DecodedDnnError | null;

/** An error of this SDK (upload refused, registration reverted, JSON-RPC error, node unreachable). */
export declare class AnhError extends Error {
  constructor(
    message: string,
    options?: { cause?: unknown; dnnError?: DecodedDnnError | null; status?: number; code?: number; data?: unknown; fault?: AttestationFault },
  );
  name: 'AnhError';
  /** The IDnnErrors error the node reverted with, if it did. */
  dnnError: DecodedDnnError | null;
  /** The HTTP status of a refused upload (400 not a model, 401 token, 413 too large, 503 busy, 507 store full). */
  status?: number;
  /** A JSON-RPC error's code (3 for a revert). */
  code?: number;
  /** A JSON-RPC error's data (the revert bytes for code 3). */
  data?: unknown;
  /** What `verifyAttestation` found wrong (see `AttestationFault`). */
  fault?: AttestationFault;
}

/**
 * What `verifyAttestation` found wrong: `leaf` (the record is not what the block signed at its
 * place), `proof` (the Merkle path does not reach the root), `digest` (the block digest differs
 * from the node's: another chain id?), `signature` (malformed, high-s, or not recoverable),
 * `not-member` (recovers to someone outside the committee), `duplicate` (a member twice),
 * `threshold` (fewer distinct members than the committee needs).
 */
export type AttestationFault = 'leaf' | 'proof' | 'digest' | 'signature' | 'not-member' | 'duplicate' | 'threshold';
