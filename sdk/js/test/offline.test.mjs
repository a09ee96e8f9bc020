// The SDK without a node: tensor packing of every dtype, fixed-point rounding and refusals,
// ABI compatibility of Tensor with viem and ethers, the generated ABIs and selectors,
// encodeRegister, and decodeDnnError of every IDnnErrors error (encoded by viem and by ethers).
//
//   node --test sdk/js/test/offline.test.mjs

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AbiCoder, Interface, getAddress as ethersGetAddress } from 'ethers';
import { decodeAbiParameters, encodeAbiParameters, encodeErrorResult, encodeFunctionData, getAddress, toFunctionSelector } from 'viem';
import {
  ADDRESSES,
  CALL_SELECTORS,
  DNN_ERROR_SELECTORS,
  DTYPE,
  decodeDnnError,
  decodeTensor,
  decodeTensors,
  dnnErrorOf,
  dnnErrorsAbi,
  dtypeName,
  elementSize,
  encodeRegister,
  encodeTensor,
  encodeTensors,
  fixedDecimals,
  fixedDtype,
  formatFixed,
  fromFixed,
  inferAbi,
  isDtype,
  modelInfoAbi,
  registryAbi,
  revertDataOf,
  toFixed,
  toNumbers,
  trainAbi,
} from '@anh/sdk';
import * as sdk from '@anh/sdk';

const SDK = join(dirname(fileURLToPath(import.meta.url)), '..');
const TENSOR_ARRAY = inferAbi.find((f) => f.name === 'infer').inputs[1];
const HASH = `0x${'ab'.repeat(32)}`;

describe('tensors', () => {
  test('every dtype packs big-endian, row-major, and decodes back', () => {
    const cases = [
      [new Float32Array([1, -2.5, Infinity]), 1, '0x3f800000c02000007f800000'],
      [new Float64Array([1, -0.1]), 2, '0x3ff0000000000000bfb999999999999a'],
      [new Int32Array([-1, 1, 2147483647]), 3, '0xffffffff000000017fffffff'],
      [new BigInt64Array([-2n, 2n ** 62n + 1n]), 4, '0xfffffffffffffffe4000000000000001'],
      [new Uint8Array([0, 255, 128]), 5, '0x00ff80'],
      [new Int8Array([-1, 127, -128]), 6, '0xff7f80'],
      [[true, false, true], 7, '0x010001'],
    ];
    for (const [data, dtype, hex] of cases) {
      const t = encodeTensor(data);
      assert.deepEqual(t, { dtype, shape: [BigInt(data.length)], data: hex }, dtypeName(dtype));
      const back = decodeTensor(t);
      assert.equal(back.dtype, dtype);
      assert.deepEqual(back.shape, [BigInt(data.length)]);
      assert.deepEqual(Array.from(back.data), Array.from(data), dtypeName(dtype));
      assert.equal(back.data.constructor, data.constructor, `${dtypeName(dtype)} decodes to its own array type`);
    }
  });

  test('fixed-point tensors: bigints are raw, numbers and strings are values rounded ties-to-even', () => {
    const t = encodeTensor(['1.5', 2, -0.0000005, '0.0000025', 7n], { dtype: fixedDtype(6), shape: [5, 1] });
    assert.equal(t.dtype, 0x46);
    assert.deepEqual(t.shape, [5n, 1n]);
    const back = decodeTensor(t);
    assert.equal(back.decimals, 6);
    assert.deepEqual(Array.from(back.data), [1_500_000n, 2_000_000n, 0n, 2n, 7n]);
    assert.deepEqual(toNumbers(t), [1.5, 2, 0, 0.000002, 0.000007]);
    for (let k = 0; k <= 18; k++) {
      const v = encodeTensor(['-1', '0.5'], { dtype: fixedDtype(k) });
      assert.deepEqual(Array.from(decodeTensor(v).data), [-(10n ** BigInt(k)), k === 0 ? 0n : 5n * 10n ** BigInt(k - 1)], `k=${k}`);
    }
  });

  test('shapes: multi-dimensional, empty, and refusals', () => {
    const t = encodeTensor(new Float32Array(6), { shape: [2n, 3] });
    assert.deepEqual(t.shape, [2n, 3n]);
    assert.deepEqual(decodeTensor(t).shape, [2n, 3n]);
    const empty = encodeTensor([], { dtype: DTYPE.INT64, shape: [0, 3] });
    assert.deepEqual(empty, { dtype: 4, shape: [0n, 3n], data: '0x' });
    assert.deepEqual(Array.from(decodeTensor(empty).data), []);
    assert.throws(() => encodeTensor(new Float32Array(6), { shape: [4, 2] }), {
      name: 'RangeError',
      message: 'encodeTensor: shape [4, 2] holds 8 elements, the data has 6',
    });
    assert.throws(() => encodeTensor(new Float32Array(1), { shape: [-1] }), {
      message: 'encodeTensor: shape[0] = -1 is not a dimension size (an integer from 0 to 2^64 − 1)',
    });
    assert.throws(() => encodeTensor([1, 2]), {
      name: 'TypeError',
      message: 'encodeTensor: pass options.dtype for a plain array of numbers or strings (or an empty array)',
    });
    assert.throws(() => encodeTensor(new Float32Array(1), { dtype: 9 }), /^RangeError: encodeTensor: unknown dtype 0x09/);
    assert.throws(() => encodeTensor('1,2'), { name: 'TypeError', message: 'encodeTensor: data must be a typed array or an array of elements' });
  });

  test('element refusals name the element', () => {
    const refusals = [
      [[1, 1.5], { dtype: DTYPE.INT32 }, 'encodeTensor: element 1: 1.5 is not an integer (int32)'],
      [[2 ** 31], { dtype: DTYPE.INT32 }, 'encodeTensor: element 0: 2147483648 does not fit int32'],
      [[0, -1], { dtype: DTYPE.UINT8 }, 'encodeTensor: element 1: -1 does not fit uint8'],
      [[128], { dtype: DTYPE.INT8 }, 'encodeTensor: element 0: 128 does not fit int8'],
      [[0, 2 ** 53 + 2], { dtype: DTYPE.INT64 }, 'encodeTensor: element 1: 9007199254740994 is beyond 2^53 and may have lost precision as a number: pass a bigint (int64)'],
      [[2n ** 63n], { dtype: DTYPE.INT64 }, 'encodeTensor: element 0: 9223372036854775808n does not fit int64'],
      [[true, 2], { dtype: DTYPE.BOOL }, 'encodeTensor: element 1: 2 is not a bool (true/false, 0 or 1)'],
      [[1e39], { dtype: DTYPE.FLOAT32 }, 'encodeTensor: element 0: 1e+39 overflows float32'],
      [['1'], { dtype: DTYPE.FLOAT64 }, 'encodeTensor: element 0: "1" is not a number (float64)'],
      [[1, 2, NaN], { dtype: fixedDtype(6) }, 'encodeTensor: element 2: NaN is not a finite number'],
      [[1, 1e30], { dtype: fixedDtype(6) }, 'encodeTensor: element 1: 1e+30 does not fit fixed-point with 6 decimals (int64)'],
      [['0', 'x'], { dtype: fixedDtype(2) }, 'encodeTensor: element 1: "x" is not a decimal number'],
      [[2n ** 63n], { dtype: fixedDtype(2) }, 'encodeTensor: element 0: raw fixed-point 9223372036854775808n does not fit int64'],
    ];
    for (const [data, options, message] of refusals) assert.throws(() => encodeTensor(data, options), { message });
    // NaN and infinities are values of float tensors.
    assert.ok(Number.isNaN(decodeTensor(encodeTensor([NaN], { dtype: DTYPE.FLOAT32 })).data[0]));
    assert.throws(() => encodeTensors([{ data: new Float32Array(1) }, { data: [1.5], dtype: 3 }]), {
      message: 'encodeTensors: tensor 1: element 0: 1.5 is not an integer (int32)',
    });
  });

  test('decodeTensor refuses malformed tensors', () => {
    assert.throws(() => decodeTensor({ dtype: 9, shape: [1n], data: '0x00' }), /^RangeError: decodeTensor: unknown dtype 0x09/);
    assert.throws(() => decodeTensor({ dtype: 1, shape: [2n], data: '0x00000000' }), {
      message: 'decodeTensor: float32 [2] needs 8 bytes of data, got 4',
    });
    assert.throws(() => decodeTensor({ dtype: 7, shape: [2n], data: '0x0102' }), { message: 'decodeTensor: element 1: byte 2 is not a bool (0 or 1)' });
    assert.throws(() => decodeTensor({ dtype: 1, shape: [1n], data: '0x123' }), /^TypeError: hexToBytes: expected 0x-prefixed hex of whole bytes/);
    assert.throws(() => decodeTensors([{ dtype: 1, shape: [], data: '0x' }]), { message: 'decodeTensors: tensor 0: float32 [] needs 4 bytes of data, got 0' });
  });

  test('Tensor encodes the same through viem and ethers, and decodes from both', () => {
    const tensors = encodeTensors([
      { data: new Float32Array([0.5, -1]), shape: [1, 2] },
      { data: ['3.25'], dtype: fixedDtype(2) },
      { data: [true] },
    ]);
    const byViem = encodeAbiParameters([TENSOR_ARRAY], [tensors]);
    const byEthers = AbiCoder.defaultAbiCoder().encode(['tuple(uint8 dtype, uint64[] shape, bytes data)[]'], [tensors]);
    assert.equal(byViem, byEthers);
    const [fromViem] = decodeAbiParameters([TENSOR_ARRAY], byViem);
    assert.deepEqual(fromViem, tensors);
    const [fromEthers] = AbiCoder.defaultAbiCoder().decode(['tuple(uint8 dtype, uint64[] shape, bytes data)[]'], byEthers);
    assert.equal(typeof fromEthers[0].dtype, 'bigint', 'ethers decodes uint8 as a bigint');
    assert.deepEqual(decodeTensors(fromEthers), decodeTensors(tensors));
  });
});

describe('fixed-point', () => {
  test('toFixed rounds to nearest, ties to even, exactly', () => {
    const cases = [
      ['0.5', 0, 0n], ['1.5', 0, 2n], ['2.5', 0, 2n], ['3.5', 0, 4n], ['-0.5', 0, 0n], ['-1.5', 0, -2n], ['-2.5', 0, -2n],
      ['0.25', 1, 2n], ['0.35', 1, 4n], ['0.45', 1, 4n], ['0.4500001', 1, 5n], ['-0.45', 1, -4n],
      ['1e-3', 3, 1n], ['1.5e-18', 18, 2n], ['2.5e-18', 18, 2n], ['5e-19', 18, 0n], ['5.000001e-19', 18, 1n], ['1e-400', 18, 0n],
      ['.5', 1, 5n], ['5.', 0, 5n], ['+7', 2, 700n], [' 12.5 ', 0, 12n], ['1E2', 0, 100n],
      [0.1, 18, 10n ** 17n], [1.005, 2, 100n], [1.015, 2, 102n], [-0.0, 6, 0n], [1e-7, 6, 0n], [2 ** 53, 0, 2n ** 53n],
      [3n, 2, 300n], [-3n, 0, -3n],
      ['9.223372036854775807', 18, 2n ** 63n - 1n], ['-9.223372036854775808', 18, -(2n ** 63n)],
      ['9223372036854775807.4', 0, 2n ** 63n - 1n],
    ];
    for (const [value, k, want] of cases) assert.equal(toFixed(value, k), want, `toFixed(${JSON.stringify(String(value))}, ${k})`);
  });

  test('toFixed refuses NaN, infinities, non-decimals and values outside int64, naming the value', () => {
    const refusals = [
      [NaN, 6, 'toFixed: NaN is not a finite number'],
      [Infinity, 6, 'toFixed: Infinity is not a finite number'],
      [-Infinity, 0, 'toFixed: -Infinity is not a finite number'],
      ['abc', 2, 'toFixed: "abc" is not a decimal number'],
      ['', 2, 'toFixed: "" is not a decimal number'],
      ['1.2.3', 2, 'toFixed: "1.2.3" is not a decimal number'],
      ['0x10', 0, 'toFixed: "0x10" is not a decimal number'],
      ['NaN', 0, 'toFixed: "NaN" is not a decimal number'],
      ['9.223372036854775808', 18, 'toFixed: "9.223372036854775808" does not fit fixed-point with 18 decimals (int64)'],
      ['9223372036854775807.5', 0, 'toFixed: "9223372036854775807.5" does not fit fixed-point with 0 decimals (int64)'],
      ['-9.223372036854775809', 18, 'toFixed: "-9.223372036854775809" does not fit fixed-point with 18 decimals (int64)'],
      [1e300, 0, 'toFixed: 1e+300 does not fit fixed-point with 0 decimals (int64)'],
      ['1e99999999', 0, 'toFixed: "1e99999999" does not fit fixed-point with 0 decimals (int64)'],
      [10n, 18, 'toFixed: 10 does not fit fixed-point with 18 decimals (int64)'],
      [{}, 0, 'toFixed: object is not a number or a decimal string'],
    ];
    for (const [value, k, message] of refusals) assert.throws(() => toFixed(value, k), { name: 'RangeError', message });
    // A tie at the bottom of the range rounds to the even INT64_MIN, which fits.
    assert.equal(toFixed('-9.2233720368547758085', 18), -(2n ** 63n));
    assert.throws(() => toFixed(1, 19), { message: 'toFixed: decimals must be an integer from 0 to 18, got 19' });
    assert.throws(() => toFixed(1, -1), { message: 'toFixed: decimals must be an integer from 0 to 18, got -1' });
    assert.throws(() => toFixed(1, 1.5), { message: 'toFixed: decimals must be an integer from 0 to 18, got 1.5' });
  });

  test('fromFixed and formatFixed are exact inverses of toFixed on decimals', () => {
    assert.equal(formatFixed(-1500n, 3), '-1.5');
    assert.equal(formatFixed(5n, 6), '0.000005');
    assert.equal(formatFixed(0n, 0), '0');
    assert.equal(formatFixed(-(2n ** 63n), 18), '-9.223372036854775808');
    assert.equal(fromFixed(1_500_000n, 6), 1.5);
    assert.equal(fromFixed(-5n, 6), -0.000005);
    assert.equal(fromFixed(10n ** 17n, 18), 0.1);
    for (const text of ['0.1', '-3.456789', '9.223372036854775807', '0.000000000000000001']) {
      assert.equal(formatFixed(toFixed(text, 18), 18), text);
    }
    assert.throws(() => formatFixed(1, 2), { name: 'TypeError', message: 'formatFixed: expected a bigint, got number' });
    assert.throws(() => fromFixed(1n, 20), { message: 'fromFixed: decimals must be an integer from 0 to 18, got 20' });
  });

  test('dtype helpers', () => {
    assert.equal(fixedDtype(6), 0x46);
    assert.equal(fixedDtype(18), 0x52);
    assert.throws(() => fixedDtype(19), { message: 'fixedDtype: decimals must be an integer from 0 to 18, got 19' });
    assert.equal(fixedDecimals(0x46), 6);
    assert.equal(fixedDecimals(70n), 6);
    assert.equal(fixedDecimals(1), undefined);
    assert.equal(fixedDecimals(0x53), undefined);
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 0x40, 0x52].map(dtypeName), ['float32', 'float64', 'int32', 'int64', 'uint8', 'int8', 'bool', 'fixed0', 'fixed18']);
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 0x46].map(elementSize), [4, 8, 4, 8, 1, 1, 1, 8]);
    assert.deepEqual([0, 8, 0x3f, 0x53, 1.5].map(isDtype), [false, false, false, false, false]);
    assert.throws(() => dtypeName(0x53), /^RangeError: dtypeName: unknown dtype 0x53/);
  });
});

describe('ABIs and calldata', () => {
  test('src/abi.js and src/abi.d.ts are fresh against contracts/out (scripts/gen-abi.mjs --check)', () => {
    execFileSync(process.execPath, [join(SDK, 'scripts', 'gen-abi.mjs'), '--check'], { stdio: 'pipe' });
  });

  test('the ABIs hold every function of IDnn.sol and every IDnnErrors error, with the selectors viem and ethers compute', () => {
    const functions = (abi) => abi.filter((i) => i.type === 'function').map((f) => f.name).sort();
    assert.deepEqual(functions(registryAbi), ['register', 'registerWithRule']);
    assert.deepEqual(functions(inferAbi), ['infer', 'inferAs', 'inferWith']);
    assert.deepEqual(functions(trainAbi), ['train', 'trainAdapters', 'trainOnly', 'trainWith']);
    assert.deepEqual(functions(modelInfoAbi), ['isRegistered', 'modelInfo']);
    const names = dnnErrorsAbi.map((e) => e.name).sort();
    assert.equal(names.length, 14);
    for (const abi of [registryAbi, inferAbi, trainAbi, modelInfoAbi]) {
      assert.deepEqual(abi.filter((i) => i.type === 'error').map((e) => e.name).sort(), names);
    }
    const iface = new Interface(dnnErrorsAbi);
    for (const error of dnnErrorsAbi) {
      const selector = toFunctionSelector(error);
      assert.equal(DNN_ERROR_SELECTORS[selector], error.name);
      assert.equal(iface.getError(error.name).selector, selector);
    }
    assert.equal(Object.keys(DNN_ERROR_SELECTORS).length, 14);
    assert.equal(CALL_SELECTORS.register, toFunctionSelector('register(bytes32,string)'));
    assert.equal(CALL_SELECTORS.registerWithRule, toFunctionSelector('registerWithRule(bytes32,string,(uint8,uint64,uint64))'));
    assert.equal(CALL_SELECTORS.isRegistered, toFunctionSelector('isRegistered(bytes32)'));
  });

  test('every runtime export has a declaration in src/*.d.ts, and every declaration a runtime export', () => {
    const declared = new Set();
    for (const file of readdirSync(join(SDK, 'src')).filter((f) => f.endsWith('.d.ts'))) {
      for (const m of readFileSync(join(SDK, 'src', file), 'utf8').matchAll(/^export declare (?:const|function|class) (\w+)/gm)) declared.add(m[1]);
    }
    assert.deepEqual(Object.keys(sdk).sort(), [...declared].sort());
  });

  test('addresses are 0x…0D00 to 0x…0D03, checksummed as viem and ethers write them', () => {
    const want = { REGISTRY: 0xd00, INFER: 0xd01, TRAIN: 0xd02, INFO: 0xd03 };
    for (const [role, n] of Object.entries(want)) {
      const address = ADDRESSES[role];
      assert.equal(BigInt(address), BigInt(n), role);
      assert.equal(address, getAddress(address), `${role} is checksummed for viem`);
      assert.equal(address, ethersGetAddress(address), `${role} is checksummed for ethers`);
    }
  });

  test('encodeRegister matches viem encodeFunctionData for register and registerWithRule', () => {
    for (const name of ['', 'mlp', 'a name longer than thirty-two bytes, with ünïcödé ✓']) {
      assert.equal(encodeRegister(HASH, name), encodeFunctionData({ abi: registryAbi, functionName: 'register', args: [HASH, name] }));
      const rule = { kind: 2, absTolerance: 1000n, relTolerance: 2n ** 64n - 1n };
      assert.equal(
        encodeRegister(HASH, name, rule),
        encodeFunctionData({ abi: registryAbi, functionName: 'registerWithRule', args: [HASH, name, rule] }),
      );
    }
    assert.throws(() => encodeRegister('0x12', 'm'), /^TypeError: encodeRegister: the model must be a 32-byte hex hash/);
    assert.throws(() => encodeRegister(HASH, 'm', { kind: 1, absTolerance: 2n ** 64n }), {
      message: 'registerModel: rule.absTolerance must be a uint64, got 18446744073709551616',
    });
  });
});

describe('decodeDnnError', () => {
  const J = `0x${'12'.repeat(32)}`;
  const cases = [
    ['UnknownModel', [HASH], { model: HASH }, `UnknownModel(${HASH}): the model is not registered; register it with \`anh model push FILE --name NAME\``],
    ['ModelUnavailable', [HASH], { model: HASH }, `ModelUnavailable(${HASH}): this node's model store does not hold the model; upload it with \`anh model push\` or anh_putModel`],
    ['AlreadyRegistered', [HASH], { model: HASH }, `AlreadyRegistered(${HASH}): the model is registered already`],
    ['WrongInputCount', [1n, 0n], { expected: 1n, got: 0n }, 'WrongInputCount: the model takes 1 input(s), got 0'],
    ['InputMismatch', [0n, 'float32 [batch, 4]', 'float32 [1, 5]'], { input: 0n, expected: 'float32 [batch, 4]', got: 'float32 [1, 5]' }, 'InputMismatch: input 0: expected float32 [batch, 4], got float32 [1, 5]'],
    ['BadTensor', [2n, 'unknown dtype 0x09'], { input: 2n, reason: 'unknown dtype 0x09' }, 'BadTensor: input 2: unknown dtype 0x09'],
    ['TensorTooLarge', [0n, 2n ** 40n, 16777216n], { input: 0n, elements: 2n ** 40n, limit: 16777216n }, 'TensorTooLarge: input 0 has 1099511627776 elements, the limit is 16777216'],
    ['ConversionFailed', [0n, 7n, 'NaN cannot be converted to int64'], { tensor: 0n, element: 7n, reason: 'NaN cannot be converted to int64' }, 'ConversionFailed: tensor 0, element 7: NaN cannot be converted to int64'],
    ['InferenceFailed', ['ONNX Runtime: ✗ bad'], { reason: 'ONNX Runtime: ✗ bad' }, 'InferenceFailed: ONNX Runtime: ✗ bad'],
    ['WriteInStaticCall', [], {}, 'WriteInStaticCall: this function changes state and cannot run under STATICCALL'],
    ['UnknownSelector', ['0xdeadbeef'], { selector: '0xdeadbeef' }, 'UnknownSelector(0xdeadbeef): no such function in this precompile'],
    ['MalformedCall', ['steps is 0: expected 1 to 1000'], { reason: 'steps is 0: expected 1 to 1000' }, 'MalformedCall: steps is 0: expected 1 to 1000'],
    ['NoQuorum', [J, 1n, 2n], { job: J, signatures: 1n, threshold: 2n }, `NoQuorum(${J}): no quorum: 1 executor signature(s), the committee needs 2`],
    ['TrainingFailed', ['the loss is not finite'], { reason: 'the loss is not finite' }, 'TrainingFailed: the loss is not finite'],
  ];

  test('every IDnnErrors error, encoded by viem and by ethers, decodes to its name, arguments and the node\'s sentence', () => {
    assert.equal(cases.length, dnnErrorsAbi.length);
    const iface = new Interface(dnnErrorsAbi);
    for (const [name, args, named, message] of cases) {
      const data = encodeErrorResult({ abi: dnnErrorsAbi, errorName: name, args });
      assert.equal(iface.encodeErrorResult(name, args), data, `${name}: viem and ethers agree`);
      const decoded = decodeDnnError(data);
      assert.deepEqual(decoded, { name, args: named, message, selector: data.slice(0, 10) }, name);
      assert.deepEqual(decodeDnnError(Buffer.from(data.slice(2), 'hex')), decoded, `${name} from bytes`);
    }
  });

  test('other revert data is not an IDnnErrors error; cut-short data is refused', () => {
    const errorString = encodeErrorResult({ abi: [{ type: 'error', name: 'Error', inputs: [{ type: 'string' }] }], errorName: 'Error', args: ['no'] });
    for (const data of [errorString, '0x', '0x1234', '0xdeadbeef', 'not hex', undefined, null]) assert.equal(decodeDnnError(data), null, String(data));
    const full = encodeErrorResult({ abi: dnnErrorsAbi, errorName: 'InputMismatch', args: [0n, 'a', 'b'] });
    assert.throws(() => decodeDnnError(full.slice(0, 10 + 64)), { name: 'RangeError', message: 'decodeDnnError: the data ends before argument expected' });
    const short = encodeErrorResult({ abi: dnnErrorsAbi, errorName: 'MalformedCall', args: ['a long reason of forty-two bytes, at least'] });
    assert.throws(() => decodeDnnError(short.slice(0, -64)), { message: 'decodeDnnError: argument reason runs past the data' });
  });

  test('revertDataOf finds revert data where viem and ethers put it, never calldata', () => {
    const data = encodeErrorResult({ abi: dnnErrorsAbi, errorName: 'UnknownModel', args: [HASH] });
    const viemLike = { name: 'ContractFunctionExecutionError', cause: { name: 'CallExecutionError', cause: { name: 'RpcRequestError', code: 3, data } } };
    const ethersLike = { code: 'CALL_EXCEPTION', transaction: { to: '0x', data: `0xcf2d31fb${'00'.repeat(64)}` }, data };
    const ethersRpc = { code: 'UNKNOWN_ERROR', info: { error: { code: 3, message: 'execution reverted', data } } };
    const calldataOnly = { code: 'CALL_EXCEPTION', transaction: { data: `0xcf2d31fb${'00'.repeat(64)}` }, data: null };
    assert.equal(revertDataOf(viemLike), data);
    assert.equal(revertDataOf(ethersLike), data);
    assert.equal(revertDataOf(ethersRpc), data);
    assert.equal(revertDataOf(calldataOnly), undefined);
    assert.equal(revertDataOf(new Error('plain')), undefined);
    assert.equal(dnnErrorOf(viemLike).name, 'UnknownModel');
    assert.equal(dnnErrorOf(calldataOnly), null);
    const loop = { cause: null };
    loop.cause = loop;
    assert.equal(revertDataOf(loop), undefined);
  });
});
