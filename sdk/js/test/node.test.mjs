// The SDK against a real node at ANH_RPC_URL, through viem and through ethers: upload and
// registration, inference compared with ONNX Runtime (test/fixtures/onnxruntime.json, made by
// make_fixtures.py with Python onnxruntime 1.31.1), every dtype round-tripped through the node,
// training via eth_call and in a transaction, the custom errors the node reverts with (each
// compared with the node's own sentence), and attestations.
//
//   ANH_RPC_URL=http://127.0.0.1:8545 node --test sdk/js/test/node.test.mjs
//
// Accounts are fresh keys funded with anvil_setBalance, so other suites on the same node never
// race for a nonce; uploaded models that must be new get a random doc_string.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { Contract, Interface, JsonRpcProvider, Wallet, keccak256 as ethersKeccak256, recoverAddress as ethersRecoverAddress } from 'ethers';
import {
  createPublicClient,
  createWalletClient,
  decodeAbiParameters,
  defineChain,
  encodeFunctionData,
  http,
  keccak256,
  parseEventLogs,
  recoverAddress,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import {
  AnhError,
  INFER_ADDRESS,
  INFO_ADDRESS,
  REGISTRY_ADDRESS,
  TRAIN_ADDRESS,
  attestationLeaf,
  blockDigest,
  decodeDnnError,
  decodeTensor,
  decodeTensors,
  dnnErrorOf,
  encodeTensor,
  encodeTensors,
  fixedDtype,
  getAttestations,
  inferAbi,
  inclusionProof,
  isRegistered,
  merkleRoot,
  modelInfoAbi,
  pushModel,
  registerModel,
  registryAbi,
  rpc,
  toNumbers,
  trainAbi,
  uploadModel,
  verifyAttestation,
  verifyInclusion,
} from '@anh/sdk';
import { RPC_URL, assertMatchesOrt, fixture, fund, model, newKey, num, requireNode, typed, uniqueVariant } from './env.mjs';

const randomHash = () => `0x${randomBytes(32).toString('hex')}`;
const REVERTED = 'eth_call: execution reverted: ';

let fx; // the ONNX Runtime fixture
let client; // viem public client
let walletClient; // viem, a fresh local account
let provider; // ethers
let signer; // ethers Wallet, a fresh key
let mlp; // hash of runtime/testdata/mlp.onnx, registered
let dtypesModel; // hash of runtime/testdata/dtypes.onnx, registered
let threshold; // the committee's signatures per record
let committee; // anh_committee: { members, threshold, … }
let chainId;
const mined = new Set(); // blocks this suite mined with DNN jobs in them, checked all at once at the end
let x; // the fixture's mlp input as a Tensor

/** The node's own sentence and decoded error for a call: what the SDK must reproduce. */
async function nodeSays(to, data) {
  const error = await rpc(RPC_URL, 'eth_call', [{ to, data }, 'latest']).then(
    () => assert.fail(`the call to ${to} did not revert`),
    (e) => e,
  );
  assert.ok(error instanceof AnhError, `not an AnhError: ${error}`);
  assert.equal(error.code, 3, `JSON-RPC code of a revert: ${error.message}`);
  assert.ok(error.message.startsWith(REVERTED), error.message);
  return { sentence: error.message.slice(REVERTED.length), decoded: decodeDnnError(error.data) };
}

/**
 * Runs `call` (a viem or ethers call that must revert), decodes its error with dnnErrorOf, and
 * checks it against the node's answer to the same calldata: same error, and a message equal to
 * the node's own sentence. Returns the decoded error.
 */
async function expectDnnError(call, { to, data }, name) {
  const error = await call().then(
    () => assert.fail(`expected ${name}, the call succeeded`),
    (e) => e,
  );
  const decoded = dnnErrorOf(error);
  assert.ok(decoded, `no IDnnErrors error found in: ${error.message?.split('\n')[0]}`);
  assert.equal(decoded.name, name, decoded.message);
  const node = await nodeSays(to, data);
  assert.deepEqual(decoded, node.decoded, 'the same error as the node returns');
  assert.equal(decoded.message, node.sentence, 'the message is the node\'s own sentence');
  return decoded;
}

/** viem's and ethers' keccak256 and recoverAddress, as verifyAttestation takes them. */
const CRYPTO = {
  viem: { keccak256, recoverAddress: (hash, signature) => recoverAddress({ hash, signature }) },
  ethers: { keccak256: ethersKeccak256, recoverAddress: ethersRecoverAddress },
};

/**
 * Checks every record of block `number` as a light client would, one record at a time: it is
 * sealed (no signatures of its own), its leaf is the one signed, its proof reaches the root, the
 * seal names this block and its parent (from eth_getBlockByNumber), the digest is this chain's,
 * and at least `threshold` distinct committee members signed it (recovered with `by`'s crypto).
 * Returns the records.
 */
async function assertSealed(number, by) {
  const records = await getAttestations(RPC_URL, number);
  assert.ok(records?.length > 0, `block ${number} has no job records`);
  const header = await rpc(RPC_URL, 'eth_getBlockByNumber', [`0x${BigInt(number).toString(16)}`, false]);
  const members = new Set(committee.members.map((m) => m.toLowerCase()));
  for (const [i, record] of records.entries()) {
    const { sealed } = record;
    assert.ok(sealed, `block ${number} record ${i} (${record.kind}) has no seal`);
    assert.deepEqual(record.signatures, [], 'a sealed record carries no signatures of its own');
    assert.deepEqual([sealed.blockNumber, sealed.parentHash, sealed.index, sealed.count], [BigInt(number), header.parentHash, i, records.length]);
    assert.equal(sealed.leaf, attestationLeaf(record, CRYPTO[by].keccak256), 'the record hashes to its leaf');
    assert.ok(verifyInclusion(sealed.leaf, sealed.index, sealed.count, sealed.proof, sealed.root, CRYPTO[by].keccak256), 'the proof reaches the root');
    assert.equal(blockDigest(chainId, number, header.parentHash, records.length, sealed.root, CRYPTO[by].keccak256), sealed.digest);
    const { signers, digest, leaf } = await verifyAttestation(record, { chainId, committee, ...CRYPTO[by] });
    assert.deepEqual([digest, leaf], [sealed.digest, sealed.leaf]);
    assert.ok(signers.length >= threshold, `${signers.length} signers, threshold ${threshold}`);
    assert.equal(new Set(signers.map((a) => a.toLowerCase())).size, signers.length, 'distinct signers');
    for (const a of signers) assert.ok(members.has(a.toLowerCase()), `${a} is a committee member`);
  }
  return records;
}

before(async () => {
  await requireNode();
  fx = fixture();
  chainId = Number(await rpc(RPC_URL, 'eth_chainId'));
  const chain = defineChain({
    id: chainId,
    name: 'anh',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [RPC_URL] } },
  });
  client = createPublicClient({ chain, transport: http(RPC_URL), pollingInterval: 100 });
  const account = privateKeyToAccount(newKey());
  walletClient = createWalletClient({ account, chain, transport: http(RPC_URL) });
  provider = new JsonRpcProvider(RPC_URL, undefined, { pollingInterval: 100, cacheTimeout: -1 });
  signer = new Wallet(newKey(), provider);
  await fund(account.address);
  await fund(signer.address);
  let blockNumber;
  ({ model: mlp, blockNumber } = await pushModel(RPC_URL, model('mlp.onnx'), { name: 'mlp', walletClient }));
  if (blockNumber !== null) mined.add(blockNumber);
  ({ model: dtypesModel, blockNumber } = await pushModel(RPC_URL, model('dtypes.onnx'), { name: 'dtypes', signer }));
  if (blockNumber !== null) mined.add(blockNumber);
  committee = await rpc(RPC_URL, 'anh_committee');
  ({ threshold } = committee);
  x = encodeTensor(typed(fx.mlp.x), { shape: fx.mlp.x.shape });
});

describe('upload and registration', () => {
  test('pushModel with a viem WalletClient uploads and registers a new model; the chain and its attestation record it', async () => {
    const bytes = uniqueVariant(model('mlp.onnx'), 'viem');
    const pushed = await pushModel(RPC_URL, bytes, { name: 'sdk-viem', walletClient });
    assert.equal(pushed.alreadyRegistered, false);
    assert.equal(pushed.model, keccak256(bytes));
    assert.equal(pushed.analysis.hash, pushed.model);
    assert.deepEqual(pushed.analysis.inputs, [{ name: 'x', dtype: 'float32', shape: ['batch', 4] }]);
    assert.match(pushed.transactionHash, /^0x[0-9a-f]{64}$/);
    assert.equal(typeof pushed.blockNumber, 'bigint');

    const receipt = await client.getTransactionReceipt({ hash: pushed.transactionHash });
    assert.equal(receipt.status, 'success');
    assert.equal(receipt.to, REGISTRY_ADDRESS);
    const [event] = parseEventLogs({ abi: registryAbi, logs: receipt.logs, eventName: 'ModelRegistered' });
    assert.deepEqual(event.args, { model: pushed.model, owner: walletClient.account.address, name: 'sdk-viem' });

    assert.equal(await isRegistered(RPC_URL, pushed.model), true);
    assert.equal(await isRegistered(client, pushed.model, pushed.blockNumber - 1n), false, 'not registered before its block');
    const info = await client.readContract({ address: INFO_ADDRESS, abi: modelInfoAbi, functionName: 'modelInfo', args: [pushed.model] });
    assert.equal(info.name, 'sdk-viem');
    assert.equal(info.owner, walletClient.account.address);
    assert.equal(info.registeredAt, pushed.blockNumber);
    assert.deepEqual(info.inputs, [{ name: 'x', dtype: 1, shape: [-1n, 4n], dimParams: ['batch', ''] }]);

    mined.add(pushed.blockNumber);
    const records = await getAttestations(RPC_URL, pushed.blockNumber);
    const record = records.find((r) => r.kind === 'register' && r.model === pushed.model);
    assert.ok(record, `no register record for ${pushed.model} in block ${pushed.blockNumber}: ${JSON.stringify(records.map((r) => r.kind))}`);
    assert.equal(record.settled, true);
    assert.equal(record.failure, null);
    assert.equal(record.rule.kind, 'exact', 'registration is settled exactly');
    assert.ok(record.sealed, 'the block is sealed');
    const { signers } = await verifyAttestation(record, { chainId, committee, ...CRYPTO.viem });
    assert.ok(signers.length >= threshold, `${signers.length} signers, threshold ${threshold}`);
  });

  test('pushModel with an ethers Signer and a rule registers with registerWithRule', async () => {
    const bytes = uniqueVariant(model('mlp.onnx'), 'ethers');
    const pushed = await pushModel(RPC_URL, bytes, { name: 'sdk-ethers', signer, rule: { kind: 2, absTolerance: 1000n, relTolerance: 10 } });
    assert.equal(pushed.alreadyRegistered, false);
    const receipt = await provider.getTransactionReceipt(pushed.transactionHash);
    assert.equal(receipt.status, 1);
    assert.equal(receipt.from, signer.address);
    const info = await new Contract(INFO_ADDRESS, modelInfoAbi, provider).modelInfo(pushed.model);
    assert.equal(info.name, 'sdk-ethers');
    assert.equal(info.owner, signer.address);
    assert.deepEqual([info.rule.kind, info.rule.absTolerance, info.rule.relTolerance], [2n, 1000n, 10n]);
  });

  test('pushModel of a registered model uploads it and sends nothing', async () => {
    const before = await rpc(RPC_URL, 'eth_getTransactionCount', [signer.address, 'latest']);
    const pushed = await pushModel(RPC_URL, model('mlp.onnx'), { name: 'mlp again', signer });
    assert.deepEqual([pushed.model, pushed.alreadyRegistered, pushed.transactionHash, pushed.blockNumber], [mlp, true, null, null]);
    assert.equal(await rpc(RPC_URL, 'eth_getTransactionCount', [signer.address, 'latest']), before);
  });

  test('a refused upload throws the node\'s reason with its HTTP status', async () => {
    await assert.rejects(uploadModel(RPC_URL, model('not_onnx.bin')), (e) => {
      assert.ok(e instanceof AnhError);
      assert.equal(e.status, 400);
      assert.match(e.message, /^PUT \/models: HTTP 400: model refused: not an ONNX model: /);
      return true;
    });
  });

  test('missing or double signers are refused before uploading; an unreachable node is named', async () => {
    await assert.rejects(pushModel(RPC_URL, model('mlp.onnx'), { name: 'm' }), {
      name: 'TypeError',
      message: 'pushModel: pass { walletClient } (viem) or { signer } (ethers) to send the registration',
    });
    await assert.rejects(pushModel(RPC_URL, model('mlp.onnx'), { name: 'm', walletClient, signer }), {
      message: 'pushModel: pass walletClient or signer, not both',
    });
    await assert.rejects(pushModel(RPC_URL, model('mlp.onnx'), { signer }), {
      message: "pushModel: options.name (the model's name) is required",
    });
    const noAccount = createWalletClient({ transport: http(RPC_URL) });
    await assert.rejects(registerModel(RPC_URL, mlp, { name: 'm', walletClient: noAccount }), {
      message: 'registerModel: the walletClient has no account: createWalletClient({ account, chain, transport })',
    });
    await assert.rejects(uploadModel('http://127.0.0.1:9', model('mlp.onnx')), /^AnhError: PUT \/models: cannot reach the node at http:\/\/127\.0\.0\.1:9: /);
    await assert.rejects(getAttestations('http://127.0.0.1:9'), /^AnhError: anh_getAttestations: cannot reach the node at http:\/\/127\.0\.0\.1:9: /);
  });

  test('registering a model the store lacks reverts ModelUnavailable (ethers); a registered one AlreadyRegistered (viem)', async () => {
    const missing = randomHash();
    await assert.rejects(registerModel(RPC_URL, missing, { name: 'missing', signer }), (e) => {
      assert.ok(e instanceof AnhError, String(e));
      assert.equal(e.dnnError?.name, 'ModelUnavailable');
      assert.deepEqual(e.dnnError.args, { model: missing });
      assert.equal(
        e.message,
        `registering ${missing}: ModelUnavailable(${missing}): this node's model store does not hold the model; upload it with \`anh model push\` or anh_putModel`,
      );
      return true;
    });
    await assert.rejects(registerModel(RPC_URL, mlp, { name: 'twice', walletClient }), (e) => {
      assert.equal(e.dnnError?.name, 'AlreadyRegistered', String(e));
      assert.equal(e.message, `registering ${mlp}: AlreadyRegistered(${mlp}): the model is registered already`);
      return true;
    });
  });
});

describe('inference', () => {
  test('viem: infer on mlp.onnx matches ONNX Runtime', async () => {
    const outputs = await client.readContract({ address: INFER_ADDRESS, abi: inferAbi, functionName: 'infer', args: [mlp, [x]] });
    assert.equal(outputs.length, 1);
    assert.equal(outputs[0].dtype, 1);
    assertMatchesOrt(decodeTensor(outputs[0]), fx.mlp.y, 'y');
  });

  test('ethers: fixed-point inputs and inferAs 0x46 outputs match ONNX Runtime rounded as the node rounds', async () => {
    const fixedX = encodeTensor(fx.mlp.x.data.map(String), { dtype: fixedDtype(6), shape: fx.mlp.x.shape });
    const infer = new Contract(INFER_ADDRESS, inferAbi, provider);
    const [out] = await infer.inferAs.staticCall(mlp, [fixedX], 0x46);
    assert.equal(out.dtype, 0x46n, 'ethers reads uint8 as a bigint');
    const decoded = decodeTensor(out);
    assert.equal(decoded.decimals, 6);
    assert.deepEqual(decoded.shape, [2n, 3n]);
    // The float32 output may differ from ONNX Runtime's in its last bit on another CPU, which
    // moves the sixth decimal by at most one.
    Array.from(decoded.data).forEach((v, i) => {
      const want = BigInt(fx.mlp.y_fixed6[i]);
      assert.ok(v - want <= 1n && want - v <= 1n, `y[${i}]: node ${v}, ONNX Runtime rounded ${want}`);
    });
    toNumbers(decoded).forEach((v, i) => assert.ok(Math.abs(v - num(fx.mlp.y.data[i])) <= 5e-7 + 1e-6, `y[${i}] as a number`));
  });

  test('viem: inferAs 0x52 (18 decimals) is the node\'s float output rounded to nearest, ties to even', async () => {
    const [floats] = await client.readContract({ address: INFER_ADDRESS, abi: inferAbi, functionName: 'infer', args: [mlp, [x]] });
    const [fixed] = await client.readContract({ address: INFER_ADDRESS, abi: inferAbi, functionName: 'inferAs', args: [mlp, [x], fixedDtype(18)] });
    assert.equal(fixed.dtype, 0x52);
    // |y| < 8 and y · 10^18 ≥ 2^53: the float64 product is already an integer.
    const want = Array.from(decodeTensor(floats).data, (y) => BigInt(y * 1e18));
    assert.deepEqual(Array.from(decodeTensor(fixed).data), want);
  });

  test('viem: every dtype round-trips through the node (dtypes.onnx) and matches ONNX Runtime', async () => {
    const inputs = encodeTensors(fx.dtypes.inputs.map((t) => ({ data: typed(t), shape: t.shape })));
    assert.deepEqual(inputs.map((t) => t.dtype), [1, 2, 3, 4, 5, 6, 7]);
    const outputs = await client.readContract({ address: INFER_ADDRESS, abi: inferAbi, functionName: 'infer', args: [dtypesModel, inputs] });
    assert.deepEqual(outputs.map((t) => t.dtype), [1, 2, 3, 4, 5, 6, 7]);
    decodeTensors(outputs).forEach((t, i) => assertMatchesOrt(t, fx.dtypes.outputs[i], fx.dtypes.outputs[i].name));
  });

  test('ethers: every dtype round-trips through the node (dtypes.onnx) and matches ONNX Runtime', async () => {
    const inputs = fx.dtypes.inputs.map((t) => encodeTensor(typed(t), { shape: t.shape }));
    const outputs = await new Contract(INFER_ADDRESS, inferAbi, provider).infer.staticCall(dtypesModel, inputs);
    assert.equal(outputs.length, 7);
    decodeTensors(outputs).forEach((t, i) => assertMatchesOrt(t, fx.dtypes.outputs[i], fx.dtypes.outputs[i].name));
  });
});

describe('training', () => {
  const params = (spec, loss) => ({ steps: spec.steps, learningRate: BigInt(spec.learningRate), loss, optimizer: 1 });
  const close = (got, want, what) =>
    assert.ok(Math.abs(Number(got) / 1e18 - want) <= 1e-5 * Math.abs(want), `${what}: node ${Number(got) / 1e18}, ONNX Runtime ${want}`);

  test('viem: train (MSE, one SGD step) via eth_call returns the stepped weights\' loss that ONNX Runtime computes', async () => {
    const spec = fx.mlp.train_mse;
    const targets = encodeTensor(typed(spec.targets), { shape: spec.targets.shape });
    const { result } = await client.simulateContract({
      account: walletClient.account,
      address: TRAIN_ADDRESS,
      abi: trainAbi,
      functionName: 'train',
      args: [mlp, [x, targets], params(spec, 1)],
    });
    const [newModel, loss] = result;
    assert.match(newModel, /^0x[0-9a-f]{64}$/);
    assert.notEqual(newModel, mlp);
    close(loss, spec.loss, 'MSE');
  });

  test('ethers: train (cross-entropy) via staticCall matches ONNX Runtime, and registers nothing', async () => {
    const spec = fx.mlp.train_ce;
    const labels = encodeTensor(typed(spec.labels), { shape: spec.labels.shape });
    const train = new Contract(TRAIN_ADDRESS, trainAbi, signer);
    const [newModel, loss] = await train.train.staticCall(mlp, [x, labels], params(spec, 2));
    close(loss, spec.loss, 'cross-entropy');
    assert.equal(await isRegistered(provider, newModel), false, 'eth_call changes no state');
  });
});

describe('custom errors, decoded from viem and ethers errors as the node words them', () => {
  const callOf = (abi, functionName, args) => encodeFunctionData({ abi, functionName, args });

  test('UnknownModel (viem readContract)', async () => {
    const model = randomHash();
    const e = await expectDnnError(
      () => client.readContract({ address: INFER_ADDRESS, abi: inferAbi, functionName: 'infer', args: [model, [x]] }),
      { to: INFER_ADDRESS, data: callOf(inferAbi, 'infer', [model, [x]]) },
      'UnknownModel',
    );
    assert.deepEqual(e.args, { model });
  });

  test('InputMismatch (viem readContract)', async () => {
    const wide = encodeTensor(new Float32Array(5), { shape: [1, 5] });
    const e = await expectDnnError(
      () => client.readContract({ address: INFER_ADDRESS, abi: inferAbi, functionName: 'infer', args: [mlp, [wide]] }),
      { to: INFER_ADDRESS, data: callOf(inferAbi, 'infer', [mlp, [wide]]) },
      'InputMismatch',
    );
    assert.deepEqual(e.args, { input: 0n, expected: 'float32 [batch, 4]', got: 'float32 [1, 5]' });
    assert.equal(e.message, 'InputMismatch: input 0: expected float32 [batch, 4], got float32 [1, 5]');
  });

  test('WrongInputCount (ethers staticCall)', async () => {
    const infer = new Contract(INFER_ADDRESS, inferAbi, provider);
    const e = await expectDnnError(
      () => infer.infer.staticCall(mlp, []),
      { to: INFER_ADDRESS, data: infer.interface.encodeFunctionData('infer', [mlp, []]) },
      'WrongInputCount',
    );
    assert.deepEqual(e.args, { expected: 1n, got: 0n });
  });

  test('BadTensor (ethers staticCall: data shorter than the shape)', async () => {
    const short = { dtype: 1, shape: [1n, 4n], data: '0x0000803f' };
    const infer = new Contract(INFER_ADDRESS, inferAbi, provider);
    const e = await expectDnnError(
      () => infer.infer.staticCall(mlp, [short]),
      { to: INFER_ADDRESS, data: infer.interface.encodeFunctionData('infer', [mlp, [short]]) },
      'BadTensor',
    );
    assert.equal(e.args.input, 0n);
    assert.match(e.args.reason, /^data has 4 bytes, .*needs 16$/, e.message);
  });

  test('TensorTooLarge (viem readContract)', async () => {
    const huge = { dtype: 1, shape: [1n, 2n ** 40n], data: '0x' };
    const e = await expectDnnError(
      () => client.readContract({ address: INFER_ADDRESS, abi: inferAbi, functionName: 'infer', args: [mlp, [huge]] }),
      { to: INFER_ADDRESS, data: callOf(inferAbi, 'infer', [mlp, [huge]]) },
      'TensorTooLarge',
    );
    assert.equal(e.args.elements, 2n ** 40n);
    assert.ok(e.args.limit < 2n ** 40n);
  });

  test('ConversionFailed (ethers: outputs too large for 18 decimals), naming the element ONNX Runtime\'s outputs predict', async () => {
    const big = encodeTensor(typed(fx.mlp.big_x), { shape: fx.mlp.big_x.shape });
    const infer = new Contract(INFER_ADDRESS, inferAbi, provider);
    const e = await expectDnnError(
      () => infer.inferAs.staticCall(mlp, [big], fixedDtype(18)),
      { to: INFER_ADDRESS, data: infer.interface.encodeFunctionData('inferAs', [mlp, [big], fixedDtype(18)]) },
      'ConversionFailed',
    );
    const first = fx.mlp.big_y.data.findIndex((y) => Math.abs(num(y) * 1e18) >= 2 ** 63);
    assert.ok(first >= 0, 'the fixture has an output past 9.22');
    assert.deepEqual([e.args.tensor, e.args.element], [0n, BigInt(first)]);
    assert.match(e.args.reason, /does not fit fixed-point with 18 decimals \(int64\)$/);
  });

  test('UnknownSelector (viem call with calldata of no function)', async () => {
    const e = await expectDnnError(() => client.call({ to: INFER_ADDRESS, data: '0x12345678' }), { to: INFER_ADDRESS, data: '0x12345678' }, 'UnknownSelector');
    assert.deepEqual(e.args, { selector: '0x12345678' });
  });

  test('MalformedCall (viem simulateContract: learning rate 0)', async () => {
    const labels = encodeTensor(typed(fx.mlp.train_ce.labels), { shape: [2] });
    const args = [mlp, [x, labels], { steps: 1, learningRate: 0n, loss: 2, optimizer: 1 }];
    const e = await expectDnnError(
      () => client.simulateContract({ address: TRAIN_ADDRESS, abi: trainAbi, functionName: 'train', args }),
      { to: TRAIN_ADDRESS, data: callOf(trainAbi, 'train', args) },
      'MalformedCall',
    );
    assert.match(e.args.reason, /^learningRate is 0/);
  });

  test('TrainingFailed (ethers: trainOnly a weight the model does not have)', async () => {
    const labels = encodeTensor(typed(fx.mlp.train_ce.labels), { shape: [2] });
    const args = [mlp, [x, labels], { steps: 1, learningRate: 10n ** 16n, loss: 2, optimizer: 1 }, ['no_such_weight']];
    const train = new Contract(TRAIN_ADDRESS, trainAbi, signer);
    const e = await expectDnnError(
      () => train.trainOnly.staticCall(...args),
      { to: TRAIN_ADDRESS, data: train.interface.encodeFunctionData('trainOnly', args) },
      'TrainingFailed',
    );
    assert.match(e.args.reason, /^"no_such_weight" is not a float32\/float64 initializer/);
  });

  test('AlreadyRegistered (viem simulateContract register) and ModelUnavailable (ethers staticCall register)', async () => {
    await expectDnnError(
      () => client.simulateContract({ account: walletClient.account, address: REGISTRY_ADDRESS, abi: registryAbi, functionName: 'register', args: [mlp, 'again'] }),
      { to: REGISTRY_ADDRESS, data: callOf(registryAbi, 'register', [mlp, 'again']) },
      'AlreadyRegistered',
    );
    const missing = randomHash();
    const registry = new Contract(REGISTRY_ADDRESS, registryAbi, signer);
    await expectDnnError(
      () => registry.register.staticCall(missing, 'missing'),
      { to: REGISTRY_ADDRESS, data: registry.interface.encodeFunctionData('register', [missing, 'missing']) },
      'ModelUnavailable',
    );
  });

  test('WriteInStaticCall (viem call through a STATICCALL proxy given as a state override)', async () => {
    // Copies its calldata, STATICCALLs 0x…0D00 with it, and reverts with what came back.
    const proxy = '0x00000000000000000000000000000000000a11ce';
    const code = '0x365f5f375f5f365f610d005afa3d5f5f3e3d5ffd';
    const data = callOf(registryAbi, 'register', [mlp, 'static']);
    const error = await client.call({ to: proxy, data, stateOverride: [{ address: proxy, code }] }).then(
      () => assert.fail('the proxy did not revert'),
      (e) => e,
    );
    const decoded = dnnErrorOf(error);
    assert.deepEqual(decoded, {
      name: 'WriteInStaticCall',
      args: {},
      message: 'WriteInStaticCall: this function changes state and cannot run under STATICCALL',
      selector: '0x436b3a56',
    });
    const raw = await rpc(RPC_URL, 'eth_call', [{ to: proxy, data }, 'latest', { [proxy]: { code } }]).catch((e) => e);
    assert.deepEqual(raw.dnnError, decoded, 'the node answers the same error over plain JSON-RPC');
  });
});

describe('attestations', () => {
  test('a mined infer transaction (viem) is recorded with ONNX Runtime\'s output and the committee\'s signatures', async () => {
    const hash = await walletClient.sendTransaction({ to: INFER_ADDRESS, data: encodeFunctionData({ abi: inferAbi, functionName: 'infer', args: [mlp, [x]] }) });
    const receipt = await client.waitForTransactionReceipt({ hash });
    assert.equal(receipt.status, 'success');
    mined.add(receipt.blockNumber);
    const records = await getAttestations(RPC_URL, receipt.blockNumber);
    const record = records.find((r) => r.kind === 'infer' && r.model === mlp);
    assert.ok(record, `no infer record in block ${receipt.blockNumber}`);
    assert.equal(record.settled, true);
    assert.equal(record.failure, null);
    assert.match(record.job, /^0x[0-9a-f]{64}$/);
    assert.ok(['exact', 'tolerance', 'argmax'].includes(record.rule.kind), record.rule.kind);
    assert.equal(typeof record.rule.absTolerance, 'bigint');
    assert.deepEqual(record.signatures, [], 'sealed: no signatures of its own');
    assert.ok(record.sealed.signatures.length >= threshold);
    for (const s of record.sealed.signatures) assert.match(s, /^0x[0-9a-f]{130}$/, '65-byte signatures');
    for (const h of [record.sealed.leaf, record.sealed.root, record.sealed.digest, ...record.sealed.proof]) assert.match(h, /^0x[0-9a-f]{64}$/);
    const outputsAbi = inferAbi.find((f) => f.name === 'infer').outputs;
    const [outputs] = decodeAbiParameters(outputsAbi, record.output);
    assertMatchesOrt(decodeTensor(outputs[0]), fx.mlp.y, 'the committee\'s y');

    // The same records through a viem client and an ethers provider, by number and by hash.
    assert.deepEqual(await getAttestations(client, receipt.blockNumber), records);
    assert.deepEqual(await getAttestations(provider, Number(receipt.blockNumber)), records);
    assert.deepEqual(await getAttestations(RPC_URL, receipt.blockHash), records);
  });

  test('a mined train transaction (ethers) registers the new model; its record and ModelTrained carry the loss', async () => {
    const spec = fx.mlp.train_mse;
    const targets = encodeTensor(typed(spec.targets), { shape: spec.targets.shape });
    const train = new Contract(TRAIN_ADDRESS, trainAbi, signer);
    const tx = await train.train(mlp, [x, targets], { steps: 1, learningRate: BigInt(spec.learningRate), loss: 1, optimizer: 1 });
    const receipt = await tx.wait();
    assert.equal(receipt.status, 1);
    mined.add(BigInt(receipt.blockNumber));
    const events = receipt.logs.map((log) => new Interface(trainAbi).parseLog(log)).filter((e) => e?.name === 'ModelTrained');
    assert.equal(events.length, 1);
    const { parent, model: trained, trainer, loss } = events[0].args;
    assert.deepEqual([parent, trainer], [mlp, signer.address]);
    assert.ok(Math.abs(Number(loss) / 1e18 - spec.loss) <= 1e-5 * spec.loss, `committee loss ${Number(loss) / 1e18}, ONNX Runtime ${spec.loss}`);
    assert.equal(await isRegistered(RPC_URL, trained), true);

    const records = await getAttestations(provider, receipt.blockNumber);
    const record = records.find((r) => r.kind === 'train' && r.model === mlp);
    assert.ok(record, `no train record in block ${receipt.blockNumber}`);
    assert.equal(record.settled, true);
    const [newModel, , recordedLoss] = decodeAbiParameters([{ type: 'bytes32' }, { type: 'uint64' }, { type: 'int256' }], record.output);
    assert.deepEqual([newModel, recordedLoss], [trained, loss]);
  });

  /** Block of one transaction calling infer on mlp with three inputs (three jobs), through a batching contract. */
  let batch;
  const BATCHER = '0x00000000000000000000000000000000000ba7c4';
  // For each `uint256 length ‖ calldata` in its calldata, CALLs 0x…0D01 with the calldata; reverts with what a failed call returned.
  const BATCHER_CODE = '0x365f5f375f5b803611156028575f5f8251836020015f610d015af115602a578051016020016005565b005b3d5f5f3e3d5ffd';

  test('three jobs in one transaction share one seal: each record verifies alone through viem and through ethers', async () => {
    await rpc(RPC_URL, 'anvil_setCode', [BATCHER, BATCHER_CODE]);
    const inputs = [1, 2, 3].map((s) => encodeTensor(new Float32Array([0.5 * s, -1, 0.25, s, 1, 2, 3, 4]), { shape: [2, 4] }));
    const calls = inputs.map((input) => encodeFunctionData({ abi: inferAbi, functionName: 'infer', args: [mlp, [input]] }));
    const data = `0x${calls.map((c) => ((c.length - 2) / 2).toString(16).padStart(64, '0') + c.slice(2)).join('')}`;
    const receipt = await client.waitForTransactionReceipt({ hash: await walletClient.sendTransaction({ to: BATCHER, data }) });
    assert.equal(receipt.status, 'success');
    mined.add(receipt.blockNumber);
    const records = await assertSealed(receipt.blockNumber, 'viem');
    await assertSealed(receipt.blockNumber, 'ethers');
    assert.equal(records.length, 3, 'three jobs, three records');
    assert.deepEqual(records.map((r) => r.sealed.count), [3, 3, 3]);
    assert.equal(new Set(records.map((r) => r.sealed.root)).size, 1, 'one root');
    // The seal is the tree of the block's leaves, the node's proofs the SDK's.
    const leaves = records.map((r) => r.sealed.leaf);
    assert.equal(merkleRoot(leaves, keccak256), records[0].sealed.root);
    records.forEach((r, i) => assert.deepEqual(r.sealed.proof, inclusionProof(leaves, i, ethersKeccak256)));
    // Each output is the node's own inference of that input.
    for (const [i, r] of records.entries()) {
      const [want] = await client.readContract({ address: INFER_ADDRESS, abi: inferAbi, functionName: 'infer', args: [mlp, [inputs[i]]] });
      const [[got]] = decodeAbiParameters(inferAbi.find((f) => f.name === 'infer').outputs, r.output);
      assert.deepEqual(decodeTensor(got).data, decodeTensor(want).data, `record ${i}`);
    }
    batch = { receipt, records };
  });

  test('a record of the node checked alone: a changed output, another index, another record\'s proof or another chain id is refused', async () => {
    assert.ok(batch, 'needs the three-job block');
    const [a, b] = batch.records;
    const refuses = async (record, fault, pattern, options = {}) => {
      await assert.rejects(verifyAttestation(record, { chainId, committee, ...CRYPTO.ethers, ...options }), (e) => {
        assert.ok(e instanceof AnhError, String(e));
        assert.equal(e.fault, fault, e.message);
        assert.match(e.message, pattern);
        return true;
      });
    };
    const flipped = `${a.output.slice(0, -1)}${a.output.endsWith('0') ? '1' : '0'}`;
    await refuses({ ...a, output: flipped }, 'leaf', new RegExp(`^verifyAttestation: job ${a.job}: the record hashes to leaf 0x[0-9a-f]{64}, not the leaf ${a.sealed.leaf} the block signed at index 0`));
    await refuses({ ...a, sealed: { ...a.sealed, index: 1 } }, 'proof', /^verifyAttestation: job 0x[0-9a-f]{64}: the proof does not lead from its leaf at index 1 of 3 to the root/);
    await refuses({ ...a, sealed: { ...a.sealed, proof: b.sealed.proof } }, 'proof', /the proof does not lead from its leaf at index 0 of 3/);
    await refuses({ ...b, sealed: a.sealed }, 'leaf', /the record is not what the committee signed$/);
    await refuses(a, 'digest', /^verifyAttestation: block \d+: the block digest on chain 1 is 0x[0-9a-f]{64}, the node shows 0x[0-9a-f]{64} \(another chain id\?\)$/, { chainId: 1 });
    await refuses(a, 'threshold', new RegExp(`^verifyAttestation: ${a.sealed.signatures.length} signature\\(s\\), the committee needs ${committee.members.length + 1}$`), {
      committee: { ...committee, threshold: committee.members.length + 1 },
    });
    const [first] = (await verifyAttestation(a, { chainId, committee, ...CRYPTO.viem })).signers;
    const without = committee.members.filter((m) => m.toLowerCase() !== first.toLowerCase());
    await refuses(a, 'not-member', new RegExp(`^verifyAttestation: signature 0 recovers to ${first}, who is not in the committee`), { committee: { ...committee, members: without } });
    // The untouched records still verify.
    assert.ok((await verifyAttestation(b, { chainId, committee, ...CRYPTO.viem })).signers.length >= threshold);
  });

  test('a block without DNN jobs has [], a block past the head null, and a bad block is refused', async () => {
    assert.deepEqual(await getAttestations(RPC_URL, 0), []);
    assert.deepEqual(await getAttestations(RPC_URL, 'earliest'), []);
    const head = BigInt(await rpc(RPC_URL, 'eth_blockNumber'));
    assert.equal(await getAttestations(RPC_URL, head + 1000n), null);
    assert.equal(await getAttestations(client, head + 1000n), null);
    await assert.rejects(getAttestations(RPC_URL, 'yesterday'), (e) => {
      assert.ok(e instanceof AnhError);
      assert.equal(e.code, -32602);
      assert.match(e.message, /^anh_getAttestations: Invalid params: /);
      return true;
    });
    await assert.rejects(getAttestations(RPC_URL, -1), { name: 'RangeError', message: 'getAttestations: not a block number: -1' });
  });

  test('every block this suite mined with jobs is sealed: every record verifies alone, ≥ threshold distinct members (ethers recoverAddress)', async () => {
    assert.ok(mined.size >= 4, `blocks mined: ${[...mined].join(', ')}`);
    let records = 0;
    for (const number of [...mined].sort((x, y) => (x < y ? -1 : 1))) records += (await assertSealed(number, 'ethers')).length;
    assert.ok(records >= mined.size + 2, `${records} records in ${mined.size} blocks`);
  });
});
