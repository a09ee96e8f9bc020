// The DNN precompiles' custom errors (IDnnErrors): decoding revert data into { name, args,
// message }, where message is the node's own sentence, and finding revert data inside viem's
// and ethers' errors. Types and docs: errors.d.ts.

import { DNN_ERROR_SELECTORS, dnnErrorsAbi } from './abi.js';
import { asBytes, bytesToHex } from './tensor.js';

const INPUTS = Object.fromEntries(dnnErrorsAbi.map((e) => [e.name, e.inputs]));

/** The node's sentence for each error (precompiles/src/error.rs), from its decoded arguments. */
const MESSAGES = {
  UnknownModel: (a) =>
    `UnknownModel(${a.model}): the model is not registered; register it with \`anh model push FILE --name NAME\``,
  ModelUnavailable: (a) =>
    `ModelUnavailable(${a.model}): this node's model store does not hold the model; upload it with \`anh model push\` or anh_putModel`,
  AlreadyRegistered: (a) => `AlreadyRegistered(${a.model}): the model is registered already`,
  WrongInputCount: (a) => `WrongInputCount: the model takes ${a.expected} input(s), got ${a.got}`,
  InputMismatch: (a) => `InputMismatch: input ${a.input}: expected ${a.expected}, got ${a.got}`,
  BadTensor: (a) => `BadTensor: input ${a.input}: ${a.reason}`,
  TensorTooLarge: (a) => `TensorTooLarge: input ${a.input} has ${a.elements} elements, the limit is ${a.limit}`,
  ConversionFailed: (a) => `ConversionFailed: tensor ${a.tensor}, element ${a.element}: ${a.reason}`,
  InferenceFailed: (a) => `InferenceFailed: ${a.reason}`,
  TrainingFailed: (a) => `TrainingFailed: ${a.reason}`,
  WriteInStaticCall: () => 'WriteInStaticCall: this function changes state and cannot run under STATICCALL',
  UnknownSelector: (a) => `UnknownSelector(${a.selector}): no such function in this precompile`,
  MalformedCall: (a) => `MalformedCall: ${a.reason}`,
  NoQuorum: (a) =>
    `NoQuorum(${a.job}): no quorum: ${a.signatures} executor signature(s), the committee needs ${a.threshold}`,
};

const utf8 = new TextDecoder('utf-8', { fatal: false });

function word(bytes, at, what) {
  if (at + 32 > bytes.length) throw new RangeError(`decodeDnnError: the data ends before ${what}`);
  return bytes.subarray(at, at + 32);
}

function uint(w) {
  let v = 0n;
  for (const b of w) v = (v << 8n) | BigInt(b);
  return v;
}

/**
 * `{ name, args, message, selector }` of revert data that is an `IDnnErrors` error, `null` for
 * any other data (another contract's error, `Error(string)`, empty). Throws a RangeError when
 * the data has an IDnnErrors selector but is cut short.
 */
export function decodeDnnError(data) {
  let bytes;
  try {
    bytes = asBytes(data, 'decodeDnnError');
  } catch {
    return null;
  }
  if (bytes.length < 4) return null;
  const selector = bytesToHex(bytes.subarray(0, 4));
  const name = DNN_ERROR_SELECTORS[selector];
  if (name === undefined) return null;
  const body = bytes.subarray(4);
  const args = {};
  INPUTS[name].forEach((input, i) => {
    const head = word(body, 32 * i, `argument ${input.name}`);
    switch (input.type) {
      case 'bytes32':
        args[input.name] = bytesToHex(head);
        break;
      case 'bytes4':
        args[input.name] = bytesToHex(head.subarray(0, 4));
        break;
      case 'uint256':
        args[input.name] = uint(head);
        break;
      case 'string': {
        const offset = uint(head);
        if (offset > BigInt(body.length)) throw new RangeError(`decodeDnnError: argument ${input.name} points past the data`);
        const length = uint(word(body, Number(offset), `the length of ${input.name}`));
        const start = Number(offset) + 32;
        if (BigInt(start) + length > BigInt(body.length)) {
          throw new RangeError(`decodeDnnError: argument ${input.name} runs past the data`);
        }
        args[input.name] = utf8.decode(body.subarray(start, start + Number(length)));
        break;
      }
      default:
        throw new Error(`decodeDnnError: no decoder for ${input.type}`);
    }
  });
  return { name, args, message: MESSAGES[name](args), selector };
}

const isRevertHex = (v) => typeof v === 'string' && /^0x([0-9a-fA-F]{2})*$/.test(v) && v.length >= 10;

/**
 * The revert data (hex) inside an error thrown by viem (a BaseError chain: RawContractError,
 * RpcRequestError, ContractFunctionRevertedError) or by ethers v6 (CallExceptionError's
 * `data`, or the JSON-RPC error in `info.error` / `error`), or `undefined` when it holds none.
 * Follows `cause`, `error` and `info.error`, never a transaction's calldata.
 */
export function revertDataOf(error) {
  const seen = new Set();
  const queue = [error];
  while (queue.length) {
    const e = queue.shift();
    if (e === null || typeof e !== 'object' || seen.has(e)) continue;
    seen.add(e);
    for (const candidate of [e.raw, e.data, e.data?.data, e.data?.originalError?.data]) {
      if (isRevertHex(candidate)) return candidate.toLowerCase();
    }
    queue.push(e.cause, e.error, e.info?.error, e.info, e.data);
  }
  return undefined;
}

/** `decodeDnnError` of the revert data inside a viem or ethers error; `null` when there is no IDnnErrors error in it. */
export function dnnErrorOf(error) {
  const data = revertDataOf(error);
  if (data === undefined) return null;
  try {
    return decodeDnnError(data);
  } catch {
    return null;
  }
}

/**
 * An error of this SDK: `dnnError` holds the decoded IDnnErrors error when the node reverted
 * with one; `status` the HTTP status of a refused upload; `code` and `data` a JSON-RPC error's.
 */
export class AnhError extends Error {
  constructor(message, options = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AnhError';
    this.dnnError = options.dnnError ?? null;
    if (options.status !== undefined) this.status = options.status;
    if (options.code !== undefined) this.code = options.code;
    if (options.data !== undefined) this.data = options.data;
    if (options.fault !== undefined) this.fault = options.fault;
  }
}
