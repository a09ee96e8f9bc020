// Talking to an `anh node`: JSON-RPC over fetch (or through a viem client / ethers provider),
// model upload (PUT /models) and registration (a transaction to 0x…0D00) with a viem
// WalletClient or an ethers Signer, and anh_getAttestations. Types and docs: node.d.ts.

import { CALL_SELECTORS } from './abi.js';
import { REGISTRY_ADDRESS, INFO_ADDRESS } from './addresses.js';
import { AnhError, decodeDnnError, dnnErrorOf } from './errors.js';
import { asBytes, bytesToHex } from './tensor.js';

const trimSlash = (url) => url.replace(/\/+$/, '');

let nextId = 1;

/**
 * Sends one JSON-RPC request to `source`: a node URL (over fetch), a viem client or any
 * EIP-1193 provider (`request({ method, params })`), or an ethers provider (`send(method, params)`).
 */
export async function rpc(source, method, params = []) {
  if (typeof source === 'string') {
    let response;
    try {
      response = await fetch(source, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params }),
      });
    } catch (e) {
      throw new AnhError(`${method}: cannot reach the node at ${source}: ${e.cause?.message ?? e.message}`, { cause: e });
    }
    const text = await response.text();
    let answer;
    try {
      answer = JSON.parse(text);
    } catch {
      throw new AnhError(`${method}: HTTP ${response.status} from ${source} is not JSON-RPC: ${text.slice(0, 200)}`, { status: response.status });
    }
    if (answer.error) {
      const { code, message, data } = answer.error;
      throw new AnhError(`${method}: ${message}`, { code, data, dnnError: typeof data === 'string' ? safeDecode(data) : null });
    }
    return answer.result;
  }
  if (source && typeof source.request === 'function') return source.request({ method, params });
  if (source && typeof source.send === 'function') return source.send(method, params);
  throw new TypeError(`${method}: expected a node URL, a viem client (request) or an ethers provider (send)`);
}

function safeDecode(data) {
  try {
    return decodeDnnError(data);
  } catch {
    return null;
  }
}

// --- calldata the SDK encodes itself (no ABI library at run time) ---------------------------

const word = (n) => BigInt(n).toString(16).padStart(64, '0');

function checkHash(model, fn) {
  if (typeof model !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(model)) {
    throw new TypeError(`${fn}: the model must be a 32-byte hex hash (0x + 64 hex digits), got ${JSON.stringify(model)}`);
  }
  return model.toLowerCase();
}

function encodeString(text) {
  const bytes = new TextEncoder().encode(text);
  const padded = new Uint8Array(Math.ceil(bytes.length / 32) * 32);
  padded.set(bytes);
  return word(bytes.length) + bytesToHex(padded).slice(2);
}

function checkRule(rule) {
  const kind = Number(rule.kind);
  if (!Number.isInteger(kind) || kind < 0 || kind > 255) throw new RangeError(`registerModel: rule.kind must be a uint8, got ${rule.kind}`);
  for (const field of ['absTolerance', 'relTolerance']) {
    const v = BigInt(rule[field] ?? 0);
    if (v < 0n || v >= 2n ** 64n) throw new RangeError(`registerModel: rule.${field} must be a uint64, got ${rule[field]}`);
  }
  return [kind, BigInt(rule.absTolerance ?? 0), BigInt(rule.relTolerance ?? 0)];
}

/** Calldata of `register(model, name)`, or of `registerWithRule(model, name, rule)` with a rule. */
export function encodeRegister(model, name, rule) {
  const hash = checkHash(model, 'encodeRegister').slice(2);
  if (typeof name !== 'string') throw new TypeError('encodeRegister: name must be a string');
  if (rule === undefined || rule === null) {
    return `${CALL_SELECTORS.register}${hash}${word(0x40)}${encodeString(name)}`;
  }
  const [kind, abs, rel] = checkRule(rule);
  return `${CALL_SELECTORS.registerWithRule}${hash}${word(0xa0)}${word(kind)}${word(abs)}${word(rel)}${encodeString(name)}`;
}

// --- models ---------------------------------------------------------------------------------

/**
 * Uploads an ONNX file to the node's model store (`PUT <url>/models`, the raw bytes); answers
 * `{ model, analysis }`: its keccak256 and the node's analysis of it.
 */
export async function uploadModel(url, bytes, options = {}) {
  if (typeof url !== 'string') throw new TypeError('uploadModel: url must be the node URL (a string)');
  const body = asBytes(bytes, 'uploadModel');
  const headers = { 'content-type': 'application/octet-stream' };
  if (options.uploadToken) headers.authorization = `Bearer ${options.uploadToken}`;
  let response;
  try {
    response = await fetch(`${trimSlash(url)}/models`, { method: 'PUT', headers, body });
  } catch (e) {
    throw new AnhError(`PUT /models: cannot reach the node at ${url}: ${e.cause?.message ?? e.message}`, { cause: e });
  }
  const text = await response.text();
  let answer;
  try {
    answer = JSON.parse(text);
  } catch {
    throw new AnhError(`PUT /models: HTTP ${response.status}, not JSON: ${text.slice(0, 200)}`, { status: response.status });
  }
  if (!response.ok) {
    throw new AnhError(`PUT /models: HTTP ${response.status}: ${answer.error ?? text.slice(0, 200)}`, { status: response.status });
  }
  if (typeof answer.hash !== 'string') throw new AnhError(`PUT /models: no hash in the answer ${text.slice(0, 200)}`);
  return { model: answer.hash, analysis: answer.model };
}

/** Whether `model` is registered on chain (an eth_call of `isRegistered` at 0x…0D03). */
export async function isRegistered(source, model, block = 'latest') {
  const data = `${CALL_SELECTORS.isRegistered}${checkHash(model, 'isRegistered').slice(2)}`;
  const result = await rpc(source, 'eth_call', [{ to: INFO_ADDRESS, data }, blockParam(block, 'isRegistered')]);
  return BigInt(result) === 1n;
}

/** The sender's address, and a function that sends `{ to, data }` and answers the transaction hash. */
function sender(options, fn) {
  const { walletClient, signer } = options;
  if (walletClient && signer) throw new TypeError(`${fn}: pass walletClient or signer, not both`);
  if (walletClient) {
    if (typeof walletClient.sendTransaction !== 'function') throw new TypeError(`${fn}: walletClient is not a viem WalletClient`);
    const account = walletClient.account;
    if (!account) {
      throw new TypeError(`${fn}: the walletClient has no account: createWalletClient({ account, chain, transport })`);
    }
    return (tx) => walletClient.sendTransaction({ ...tx, account, chain: walletClient.chain ?? null });
  }
  if (signer) {
    if (typeof signer.sendTransaction !== 'function') throw new TypeError(`${fn}: signer is not an ethers Signer`);
    return async (tx) => (await signer.sendTransaction(tx)).hash;
  }
  throw new TypeError(`${fn}: pass { walletClient } (viem) or { signer } (ethers) to send the registration`);
}

/** Polls the receipt of `hash` over `url` until it is there or `timeoutMs` passed. */
async function waitForReceipt(url, hash, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const receipt = await rpc(url, 'eth_getTransactionReceipt', [hash]);
    if (receipt) return receipt;
    if (Date.now() > deadline) {
      throw new AnhError(`transaction ${hash} was not mined within ${timeoutMs / 1000} s (is the node mining? try evm_mine)`);
    }
    await new Promise((done) => setTimeout(done, 100));
  }
}

/**
 * Registers `model` (already in the node's store) under `name` with a transaction to 0x…0D00,
 * signed by a viem WalletClient or an ethers Signer, and waits for its receipt.
 */
export async function registerModel(url, model, options) {
  if (typeof url !== 'string') throw new TypeError('registerModel: url must be the node URL (a string)');
  if (!options || typeof options.name !== 'string') throw new TypeError('registerModel: options.name (the model\'s name) is required');
  const send = sender(options, 'registerModel');
  const data = encodeRegister(model, options.name, options.rule);
  let hash;
  try {
    hash = await send({ to: REGISTRY_ADDRESS, data });
  } catch (e) {
    const dnnError = dnnErrorOf(e);
    if (dnnError) throw new AnhError(`registering ${model}: ${dnnError.message}`, { cause: e, dnnError });
    throw e;
  }
  const receipt = await waitForReceipt(url, hash, options.timeoutMs ?? 60_000);
  const blockNumber = BigInt(receipt.blockNumber);
  if (receipt.status !== '0x1') {
    // The receipt has no revert data: replay the call on the state the transaction met.
    let dnnError = null;
    try {
      await rpc(url, 'eth_call', [{ from: receipt.from, to: REGISTRY_ADDRESS, data }, `0x${(blockNumber - 1n).toString(16)}`]);
    } catch (e) {
      dnnError = e.dnnError ?? null;
    }
    const why = dnnError ? `: ${dnnError.message}` : '';
    throw new AnhError(`the registration transaction ${hash} reverted${why}`, { dnnError });
  }
  return { model: model.toLowerCase(), transactionHash: hash, blockNumber };
}

/**
 * Uploads an ONNX file (`PUT /models`) and registers it under `name` (unless it is registered
 * already), signing with a viem WalletClient or an ethers Signer.
 */
export async function pushModel(url, bytes, options) {
  if (!options || typeof options.name !== 'string') throw new TypeError('pushModel: options.name (the model\'s name) is required');
  sender(options, 'pushModel'); // refuse a missing signer before uploading
  const { model, analysis } = await uploadModel(url, bytes, options);
  if (await isRegistered(url, model)) {
    return { model, analysis, alreadyRegistered: true, transactionHash: null, blockNumber: null };
  }
  const registered = await registerModel(url, model, options);
  return { ...registered, analysis, alreadyRegistered: false };
}

// --- attestations ---------------------------------------------------------------------------

function blockParam(block, fn) {
  if (typeof block === 'bigint' || typeof block === 'number') {
    if ((typeof block === 'number' && !Number.isSafeInteger(block)) || BigInt(block) < 0n) {
      throw new RangeError(`${fn}: not a block number: ${block}`);
    }
    return `0x${BigInt(block).toString(16)}`;
  }
  if (typeof block === 'string') return block;
  throw new TypeError(`${fn}: a block is a number, a bigint, a tag ("latest", …) or a block hash; got ${typeof block}`);
}

/** A record's block-level seal, `blockNumber` as a bigint; `null` where the block has none. */
function sealedOf(s) {
  if (s === null || s === undefined) return null;
  return {
    blockNumber: BigInt(s.blockNumber),
    parentHash: s.parentHash,
    index: s.index,
    count: s.count,
    leaf: s.leaf,
    root: s.root,
    proof: s.proof,
    digest: s.digest,
    signatures: s.signatures,
  };
}

/**
 * The DNN job records of a block (`anh_getAttestations`): what the committee settled (or
 * failed), with the committee's signatures: the block's seal (`sealed`) or, in a block not
 * sealed as a whole, the record's own. `null` when the node has no such block.
 */
export async function getAttestations(source, block = 'latest') {
  const records = await rpc(source, 'anh_getAttestations', [blockParam(block, 'getAttestations')]);
  if (records === null || records === undefined) return null;
  return records.map((r) => ({
    job: r.job,
    kind: r.kind,
    model: r.model,
    rule: { kind: r.rule.kind, absTolerance: BigInt(r.rule.absTolerance), relTolerance: BigInt(r.rule.relTolerance) },
    output: r.output,
    signatures: r.signatures,
    settled: r.settled,
    failure: r.failure ?? null,
    sealed: sealedOf(r.sealed),
  }));
}
