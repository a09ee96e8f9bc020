// Tensors in the DNN precompiles' ABI (contracts/src/dnn/IDnn.sol, `struct Tensor`): dtype codes,
// big-endian row-major packing, and exact fixed-point conversion. Types and docs: tensor.d.ts.

/** The dtype codes of the ABI. Fixed-point with k decimals is `DTYPE.FIXED + k` (see `fixedDtype`). */
export const DTYPE = Object.freeze({
  FLOAT32: 1,
  FLOAT64: 2,
  INT32: 3,
  INT64: 4,
  UINT8: 5,
  INT8: 6,
  BOOL: 7,
  FIXED: 0x40,
});

/** Most decimals a fixed-point dtype may have. */
export const MAX_FIXED_DECIMALS = 18;

const NAMES = { 1: 'float32', 2: 'float64', 3: 'int32', 4: 'int64', 5: 'uint8', 6: 'int8', 7: 'bool' };
const SIZES = { 1: 4, 2: 8, 3: 4, 4: 8, 5: 1, 6: 1, 7: 1 };
const INT_RANGES = {
  3: [-(2n ** 31n), 2n ** 31n - 1n],
  4: [-(2n ** 63n), 2n ** 63n - 1n],
  5: [0n, 255n],
  6: [-128n, 127n],
};
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const FLOAT32_MAX = 3.4028234663852886e38;

/** The dtype of fixed-point with `k` decimals (0 ≤ k ≤ 18): `0x40 + k`. */
export function fixedDtype(k) {
  checkDecimals(k, 'fixedDtype');
  return DTYPE.FIXED + k;
}

/** The decimals of a fixed-point dtype, or `undefined` for any other dtype. */
export function fixedDecimals(dtype) {
  const d = Number(dtype);
  return d >= DTYPE.FIXED && d <= DTYPE.FIXED + MAX_FIXED_DECIMALS ? d - DTYPE.FIXED : undefined;
}

/** Whether `dtype` is a code of the ABI. */
export function isDtype(dtype) {
  const d = Number(dtype);
  return Number.isInteger(d) && (NAMES[d] !== undefined || fixedDecimals(d) !== undefined);
}

/** `float32`, …, `bool`, or `fixed<k>` (e.g. `fixed6` for 0x46). Throws on an unknown code. */
export function dtypeName(dtype) {
  const d = checkDtype(dtype, 'dtypeName');
  const k = fixedDecimals(d);
  return k === undefined ? NAMES[d] : `fixed${k}`;
}

/** Bytes per element of `dtype`. Throws on an unknown code. */
export function elementSize(dtype) {
  const d = checkDtype(dtype, 'elementSize');
  return fixedDecimals(d) === undefined ? SIZES[d] : 8;
}

function checkDecimals(k, fn) {
  if (!Number.isInteger(k) || k < 0 || k > MAX_FIXED_DECIMALS) {
    throw new RangeError(`${fn}: decimals must be an integer from 0 to ${MAX_FIXED_DECIMALS}, got ${String(k)}`);
  }
}

function checkDtype(dtype, fn) {
  if (!isDtype(dtype)) {
    const shown = typeof dtype === 'number' ? `0x${dtype.toString(16).padStart(2, '0')}` : String(dtype);
    throw new RangeError(`${fn}: unknown dtype ${shown} (known: 1 float32, 2 float64, 3 int32, 4 int64, 5 uint8, 6 int8, 7 bool, 0x40+k fixed-point with k ≤ 18)`);
  }
  return Number(dtype);
}

// --- fixed-point --------------------------------------------------------------------------

const DECIMAL = /^([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/** `n / d` rounded to nearest, ties to even (d > 0), as the node's `div_round_even`. */
function divRoundEven(n, d) {
  let q = n / d;
  let r = n % d;
  if (r < 0n) {
    q -= 1n;
    r += d;
  }
  const twice = 2n * r;
  if (twice > d || (twice === d && (q & 1n) === 1n)) q += 1n;
  return q;
}

/**
 * The fixed-point integer of `value` with `k` decimals, or an error message (without the
 * function's name) saying why not.
 */
function fixedOrReason(value, k) {
  let text;
  if (typeof value === 'bigint') {
    text = value.toString();
  } else if (typeof value === 'number') {
    if (!Number.isFinite(value)) return { reason: `${value} is not a finite number` };
    text = String(value); // the shortest decimal that reads back as this double
  } else if (typeof value === 'string') {
    text = value.trim();
  } else {
    return { reason: `${typeof value} is not a number or a decimal string` };
  }
  const m = DECIMAL.exec(text);
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) {
    return { reason: `${JSON.stringify(value)} is not a decimal number` };
  }
  const [, sign, whole, frac = '', exp = '0'] = m;
  const digits = BigInt((whole + frac) || '0');
  // value = digits × 10^(exp − |frac|); scaled by 10^k.
  let shift = BigInt(exp) + BigInt(k) - BigInt(frac.length);
  let v;
  if (digits === 0n) {
    v = 0n;
  } else if (shift >= 0n) {
    // 10^19 > 2^63: any non-zero value shifted further does not fit.
    if (shift > 19n) return { reason: null };
    v = digits * 10n ** shift;
  } else {
    shift = -shift;
    const digitCount = BigInt(digits.toString().length);
    // digits < 10^digitCount ≤ 10^shift / 10 < half of 10^shift: rounds to 0.
    v = shift > digitCount ? 0n : divRoundEven(digits, 10n ** shift);
  }
  if (sign === '-') v = -v;
  if (v < INT64_MIN || v > INT64_MAX) return { reason: null };
  return { v };
}

function fixedOrThrow(value, k, where) {
  const { v, reason } = fixedOrReason(value, k);
  if (v !== undefined) return v;
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  throw new RangeError(`${where}${reason ?? `${shown} does not fit fixed-point with ${k} decimals (int64)`}`);
}

/**
 * `value` as fixed-point with `k` decimals: the int64 `v` with `v / 10^k` nearest to `value`,
 * ties to even. Numbers are read as their shortest decimal (`String(value)`), strings and
 * bigints exactly.
 */
export function toFixed(value, k) {
  checkDecimals(k, 'toFixed');
  return fixedOrThrow(value, k, 'toFixed: ');
}

/** The exact decimal of fixed-point `v` with `k` decimals, without trailing zeros: `formatFixed(-1500n, 3)` is `"-1.5"`. */
export function formatFixed(v, k) {
  checkDecimals(k, 'formatFixed');
  if (typeof v !== 'bigint') throw new TypeError(`formatFixed: expected a bigint, got ${typeof v}`);
  const negative = v < 0n;
  const digits = (negative ? -v : v).toString().padStart(k + 1, '0');
  const whole = digits.slice(0, digits.length - k);
  const frac = digits.slice(digits.length - k).replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${frac ? `.${frac}` : ''}`;
}

/** Fixed-point `v` with `k` decimals as the nearest number (`v / 10^k`, correctly rounded). */
export function fromFixed(v, k) {
  checkDecimals(k, 'fromFixed');
  return Number(formatFixed(v, k));
}

// --- hex ------------------------------------------------------------------------------------

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** `0x`-prefixed lowercase hex of `bytes`. */
export function bytesToHex(bytes) {
  let out = '0x';
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]];
  return out;
}

/** The bytes of `0x`-prefixed hex (of even length). */
export function hexToBytes(hex) {
  if (typeof hex !== 'string' || !/^0x([0-9a-fA-F]{2})*$/.test(hex)) {
    const shown = typeof hex === 'string' ? `${JSON.stringify(hex.slice(0, 20))}${hex.length > 20 ? '…' : ''}` : typeof hex;
    throw new TypeError(`hexToBytes: expected 0x-prefixed hex of whole bytes, got ${shown}`);
  }
  const out = new Uint8Array((hex.length - 2) / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 + 2 * i, 4 + 2 * i), 16);
  return out;
}

/** Bytes of a Hex string, a Uint8Array (e.g. a Node Buffer) or an ArrayBuffer. */
export function asBytes(data, fn = 'asBytes') {
  if (typeof data === 'string') return hexToBytes(data);
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError(`${fn}: expected hex or bytes, got ${data === null ? 'null' : typeof data}`);
}

// --- encoding -------------------------------------------------------------------------------

/** The dtype a typed array or plain array stands for when no dtype is given. */
function naturalDtype(data) {
  if (data instanceof Float32Array) return DTYPE.FLOAT32;
  if (data instanceof Float64Array) return DTYPE.FLOAT64;
  if (data instanceof Int32Array) return DTYPE.INT32;
  if (data instanceof BigInt64Array) return DTYPE.INT64;
  if (data instanceof Uint8Array) return DTYPE.UINT8;
  if (data instanceof Int8Array) return DTYPE.INT8;
  if (Array.isArray(data) && data.length > 0) {
    if (data.every((x) => typeof x === 'boolean')) return DTYPE.BOOL;
    if (data.every((x) => typeof x === 'bigint')) return DTYPE.INT64;
  }
  return undefined;
}

function isArrayLike(data) {
  return Array.isArray(data) || (ArrayBuffer.isView(data) && !(data instanceof DataView));
}

function shown(x) {
  return typeof x === 'string' ? JSON.stringify(x) : typeof x === 'bigint' ? `${x}n` : String(x);
}

/** Element `x` (index `i`) as an integer within `[min, max]` for an integer dtype. */
function integer(x, i, dtype) {
  const name = NAMES[dtype];
  const [min, max] = INT_RANGES[dtype];
  let v;
  if (typeof x === 'bigint') v = x;
  else if (typeof x === 'number') {
    if (!Number.isInteger(x)) throw new RangeError(`encodeTensor: element ${i}: ${shown(x)} is not an integer (${name})`);
    if (!Number.isSafeInteger(x)) {
      throw new RangeError(`encodeTensor: element ${i}: ${shown(x)} is beyond 2^53 and may have lost precision as a number: pass a bigint (${name})`);
    }
    v = BigInt(x);
  } else if (typeof x === 'boolean') v = x ? 1n : 0n;
  else throw new TypeError(`encodeTensor: element ${i}: ${shown(x)} is not a number or bigint (${name})`);
  if (v < min || v > max) throw new RangeError(`encodeTensor: element ${i}: ${shown(x)} does not fit ${name}`);
  return v;
}

function float(x, i, dtype) {
  let v;
  if (typeof x === 'number') v = x;
  else if (typeof x === 'bigint') v = Number(x);
  else if (typeof x === 'boolean') v = x ? 1 : 0;
  else throw new TypeError(`encodeTensor: element ${i}: ${shown(x)} is not a number (${NAMES[dtype]})`);
  if (dtype === DTYPE.FLOAT32 && Number.isFinite(v) && Math.abs(v) > FLOAT32_MAX) {
    throw new RangeError(`encodeTensor: element ${i}: ${shown(x)} overflows float32`);
  }
  return v;
}

function normaliseShape(shape, count) {
  if (shape === undefined) return [BigInt(count)];
  if (!Array.isArray(shape) && !ArrayBuffer.isView(shape)) {
    throw new TypeError('encodeTensor: shape must be an array of dimension sizes');
  }
  const out = Array.from(shape, (d, i) => {
    const b = typeof d === 'bigint' ? d : Number.isSafeInteger(d) ? BigInt(d) : undefined;
    if (b === undefined || b < 0n || b >= 2n ** 64n) {
      throw new RangeError(`encodeTensor: shape[${i}] = ${shown(d)} is not a dimension size (an integer from 0 to 2^64 − 1)`);
    }
    return b;
  });
  const product = out.reduce((a, b) => a * b, 1n);
  if (product !== BigInt(count)) {
    throw new RangeError(`encodeTensor: shape [${out.join(', ')}] holds ${product} elements, the data has ${count}`);
  }
  return out;
}

/**
 * A Tensor of the ABI from `data`: a typed array or an array of numbers, bigints, booleans or
 * (for fixed-point) decimal strings. See tensor.d.ts for the rules.
 */
export function encodeTensor(data, options = {}) {
  if (!isArrayLike(data)) {
    throw new TypeError('encodeTensor: data must be a typed array or an array of elements');
  }
  const dtype = options.dtype === undefined ? naturalDtype(data) : checkDtype(options.dtype, 'encodeTensor');
  if (dtype === undefined) {
    throw new TypeError('encodeTensor: pass options.dtype for a plain array of numbers or strings (or an empty array)');
  }
  const shape = normaliseShape(options.shape, data.length);
  const n = data.length;
  const size = elementSize(dtype);
  const bytes = new Uint8Array(n * size);
  const view = new DataView(bytes.buffer);
  const k = fixedDecimals(dtype);
  if (k !== undefined) {
    for (let i = 0; i < n; i++) {
      const x = data[i];
      let v;
      if (typeof x === 'bigint') {
        if (x < INT64_MIN || x > INT64_MAX) {
          throw new RangeError(`encodeTensor: element ${i}: raw fixed-point ${shown(x)} does not fit int64`);
        }
        v = x;
      } else {
        v = fixedOrThrow(x, k, `encodeTensor: element ${i}: `);
      }
      view.setBigInt64(8 * i, v, false);
    }
  } else {
    switch (dtype) {
      case DTYPE.FLOAT32:
        for (let i = 0; i < n; i++) view.setFloat32(4 * i, float(data[i], i, dtype), false);
        break;
      case DTYPE.FLOAT64:
        for (let i = 0; i < n; i++) view.setFloat64(8 * i, float(data[i], i, dtype), false);
        break;
      case DTYPE.INT32:
        for (let i = 0; i < n; i++) view.setInt32(4 * i, Number(integer(data[i], i, dtype)), false);
        break;
      case DTYPE.INT64:
        for (let i = 0; i < n; i++) view.setBigInt64(8 * i, integer(data[i], i, dtype), false);
        break;
      case DTYPE.UINT8:
        for (let i = 0; i < n; i++) bytes[i] = Number(integer(data[i], i, dtype));
        break;
      case DTYPE.INT8:
        for (let i = 0; i < n; i++) view.setInt8(i, Number(integer(data[i], i, dtype)));
        break;
      case DTYPE.BOOL:
        for (let i = 0; i < n; i++) {
          const x = data[i];
          if (x === true || x === 1 || x === 1n) bytes[i] = 1;
          else if (x === false || x === 0 || x === 0n) bytes[i] = 0;
          else throw new RangeError(`encodeTensor: element ${i}: ${shown(x)} is not a bool (true/false, 0 or 1)`);
        }
        break;
    }
  }
  return { dtype, shape, data: bytesToHex(bytes) };
}

/** `encodeTensor` of each `{ data, shape?, dtype? }`. */
export function encodeTensors(tensors) {
  if (!Array.isArray(tensors)) throw new TypeError('encodeTensors: expected an array of { data, shape?, dtype? }');
  return tensors.map((t, i) => {
    try {
      return encodeTensor(t.data, { shape: t.shape, dtype: t.dtype });
    } catch (e) {
      e.message = e.message.replace(/^encodeTensor: /, `encodeTensors: tensor ${i}: `);
      throw e;
    }
  });
}

// --- decoding -------------------------------------------------------------------------------

/**
 * The elements of a Tensor (from viem, ethers, or `encodeTensor`) as a typed array (or an array
 * of booleans for bool), with its shape as bigints.
 */
export function decodeTensor(tensor) {
  if (tensor === null || typeof tensor !== 'object') throw new TypeError('decodeTensor: expected a { dtype, shape, data } tensor');
  const dtype = checkDtype(tensor.dtype, 'decodeTensor');
  if (!tensor.shape || typeof tensor.shape.length !== 'number') throw new TypeError('decodeTensor: the tensor has no shape array');
  const shape = Array.from(tensor.shape, (d) => BigInt(d));
  const bytes = asBytes(tensor.data, 'decodeTensor');
  const size = elementSize(dtype);
  const count = shape.reduce((a, b) => a * b, 1n);
  if (count * BigInt(size) !== BigInt(bytes.length)) {
    throw new RangeError(`decodeTensor: ${dtypeName(dtype)} [${shape.join(', ')}] needs ${count * BigInt(size)} bytes of data, got ${bytes.length}`);
  }
  const n = Number(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const k = fixedDecimals(dtype);
  let data;
  if (k !== undefined) {
    data = new BigInt64Array(n);
    for (let i = 0; i < n; i++) data[i] = view.getBigInt64(8 * i, false);
    return { dtype, shape, data, decimals: k };
  }
  switch (dtype) {
    case DTYPE.FLOAT32:
      data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = view.getFloat32(4 * i, false);
      break;
    case DTYPE.FLOAT64:
      data = new Float64Array(n);
      for (let i = 0; i < n; i++) data[i] = view.getFloat64(8 * i, false);
      break;
    case DTYPE.INT32:
      data = new Int32Array(n);
      for (let i = 0; i < n; i++) data[i] = view.getInt32(4 * i, false);
      break;
    case DTYPE.INT64:
      data = new BigInt64Array(n);
      for (let i = 0; i < n; i++) data[i] = view.getBigInt64(8 * i, false);
      break;
    case DTYPE.UINT8:
      data = Uint8Array.from(bytes);
      break;
    case DTYPE.INT8:
      data = new Int8Array(n);
      for (let i = 0; i < n; i++) data[i] = view.getInt8(i);
      break;
    case DTYPE.BOOL:
      data = Array.from(bytes, (b, i) => {
        if (b > 1) throw new RangeError(`decodeTensor: element ${i}: byte ${b} is not a bool (0 or 1)`);
        return b === 1;
      });
      break;
  }
  return { dtype, shape, data };
}

/** `decodeTensor` of each tensor. */
export function decodeTensors(tensors) {
  if (!tensors || typeof tensors.length !== 'number') throw new TypeError('decodeTensors: expected an array of tensors');
  return Array.from(tensors, (t, i) => {
    try {
      return decodeTensor(t);
    } catch (e) {
      e.message = e.message.replace(/^decodeTensor: /, `decodeTensors: tensor ${i}: `);
      throw e;
    }
  });
}

/**
 * The elements of a tensor (a Tensor with hex data, or what `decodeTensor` returns) as numbers: fixed-point as `v / 10^k`,
 * int64 as the nearest number, bool as 0 or 1.
 */
export function toNumbers(tensor) {
  const decoded = typeof tensor?.data === 'string' ? decodeTensor(tensor) : tensor;
  const k = fixedDecimals(decoded.dtype);
  return Array.from(decoded.data, (x) => (k !== undefined ? fromFixed(x, k) : Number(x)));
}
