/**
 * Tensors in the DNN precompiles' ABI (`struct Tensor` of contracts/src/dnn/IDnn.sol): dtype
 * codes, big-endian row-major packing, and exact fixed-point conversion.
 *
 * @module
 */

/** `0x`-prefixed hex, as viem writes it. */
export type Hex = `0x${string}`;

/**
 * A tensor as the ABI carries it, shaped like the Solidity struct so that viem and ethers
 * encode it directly: `{ dtype: uint8; shape: uint64[]; data: bytes }`, elements row-major
 * and big-endian.
 */
export interface Tensor {
  /** 1 float32, 2 float64, 3 int32, 4 int64, 5 uint8, 6 int8, 7 bool, `0x40 + k` fixed-point with k decimals (k ≤ 18). */
  dtype: number;
  /** The dimension sizes. */
  shape: readonly bigint[];
  /** The elements, packed row-major, big-endian (bool: one byte, 0 or 1). */
  data: Hex;
}

/**
 * A tensor as `decodeTensor` accepts it: what viem returns (`dtype` a number), what ethers
 * returns (`dtype` a bigint, fields of a `Result`), or `encodeTensor`'s output. `data` may also
 * be raw bytes.
 */
export interface TensorLike {
  readonly dtype: number | bigint;
  readonly shape: ArrayLike<bigint | number>;
  readonly data: string | Uint8Array;
}

/** The fixed-point dtypes: `0x40 + k`, k = 0…18. */
export type FixedDtype = 64 | 65 | 66 | 67 | 68 | 69 | 70 | 71 | 72 | 73 | 74 | 75 | 76 | 77 | 78 | 79 | 80 | 81 | 82;

/** The dtype codes of the ABI. Fixed-point with k decimals is `DTYPE.FIXED + k`. */
export declare const DTYPE: {
  readonly FLOAT32: 1;
  readonly FLOAT64: 2;
  readonly INT32: 3;
  readonly INT64: 4;
  readonly UINT8: 5;
  readonly INT8: 6;
  readonly BOOL: 7;
  readonly FIXED: 0x40;
};

/** Most decimals a fixed-point dtype may have: 18. */
export declare const MAX_FIXED_DECIMALS: 18;

/** The dtype of fixed-point with `k` decimals (0 ≤ k ≤ 18): `0x40 + k`; e.g. `fixedDtype(6) === 0x46`. Throws a RangeError for another k. */
export declare function fixedDtype(k: number): number;

/** The decimals of a fixed-point dtype (`0x46` → 6), or `undefined` for any other dtype. */
export declare function fixedDecimals(dtype: number | bigint): number | undefined;

/** Whether `dtype` is a code of the ABI (1–7 or 0x40–0x52). */
export declare function isDtype(dtype: number | bigint): boolean;

/** `"float32"`, …, `"bool"`, or `"fixed<k>"` (`"fixed6"` for 0x46). Throws a RangeError on an unknown code. */
export declare function dtypeName(dtype: number | bigint): string;

/** Bytes per element: 4, 8, 4, 8, 1, 1, 1, and 8 for fixed-point. Throws a RangeError on an unknown code. */
export declare function elementSize(dtype: number | bigint): number;

/**
 * `value` as fixed-point with `k` decimals: the int64 `v` whose `v / 10^k` is nearest to
 * `value`, ties to even (`toFixed("2.5", 0) === 2n`, `toFixed("3.5", 0) === 4n`).
 *
 * - strings are read exactly: `"1.25"`, `"-0.5"`, `"1e-3"`, `".5"`;
 * - numbers are read as their shortest decimal (`String(value)`), so `toFixed(0.1, 18)` is
 *   `10n ** 17n`, not the double's exact binary value;
 * - bigints are whole numbers (`toFixed(3n, 2) === 300n`).
 *
 * Throws a RangeError, naming the value, for NaN, ±Infinity, text that is not a decimal
 * number, a result outside int64 (`"… does not fit fixed-point with k decimals (int64)"`),
 * or k outside 0…18.
 */
export declare function toFixed(value: number | string | bigint, k: number): bigint;

/** Fixed-point `v` with `k` decimals as the nearest number: `fromFixed(1500000n, 6) === 1.5` (correctly rounded; exact while the decimal fits a double). */
export declare function fromFixed(v: bigint, k: number): number;

/** The exact decimal of fixed-point `v` with `k` decimals, without trailing zeros: `formatFixed(-1500n, 3) === "-1.5"`. */
export declare function formatFixed(v: bigint, k: number): string;

/** `0x`-prefixed lowercase hex of `bytes`. */
export declare function bytesToHex(bytes: Uint8Array): Hex;

/** The bytes of `0x`-prefixed hex; throws a TypeError on odd length or a non-hex digit. */
export declare function hexToBytes(hex: string): Uint8Array;

/** Bytes of hex, a Uint8Array (a Node Buffer too), an ArrayBuffer or another ArrayBufferView; `fn` names the caller in errors. */
export declare function asBytes(data: string | Uint8Array | ArrayBuffer | ArrayBufferView, fn?: string): Uint8Array;

/** The elements `encodeTensor` accepts. */
export type TensorData =
  | Float32Array
  | Float64Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Int8Array
  | readonly boolean[]
  | readonly bigint[]
  | readonly number[]
  | readonly string[]
  | readonly (number | string | bigint | boolean)[];

/** Options of `encodeTensor`. */
export interface EncodeOptions {
  /** Dimension sizes, row-major (default: one dimension, the data's length). Their product must be the number of elements. */
  shape?: readonly (number | bigint)[];
  /**
   * The dtype to write (default: the typed array's own — Float32Array 1, Float64Array 2,
   * Int32Array 3, BigInt64Array 4, Uint8Array 5, Int8Array 6 — or 7 for an array of booleans,
   * 4 for an array of bigints; a plain array of numbers or strings needs one).
   */
  dtype?: number;
}

/**
 * A Tensor from elements, packed big-endian row-major. Rules by target dtype:
 *
 * - float32 / float64: numbers (bigints and booleans convert); a finite value beyond
 *   float32's range is refused (`overflows float32`), NaN and ±Infinity pass;
 * - int32 / int64 / uint8 / int8: integers in range — numbers (safe integers only) or bigints;
 *   a fraction or an out-of-range value is refused;
 * - bool: `true`/`false`, 0/1 or 0n/1n;
 * - fixed-point `0x40 + k`: bigints are the raw int64 `v` (already scaled by 10^k); numbers and
 *   decimal strings are values, converted with `toFixed(value, k)` (nearest, ties to even).
 *
 * Every refusal is a RangeError or TypeError naming the element: `encodeTensor: element 3: NaN is not a finite number`.
 *
 * @example encodeTensor(new Float32Array([1, 2, 3, 4]), { shape: [1, 4] })
 * @example encodeTensor(["0.25", "-1.5"], { dtype: fixedDtype(6), shape: [1, 2] })
 */
export declare function encodeTensor(data: TensorData, options?: EncodeOptions): Tensor;

/** `encodeTensor` of each `{ data, shape?, dtype? }`; errors name the tensor and the element. */
export declare function encodeTensors(tensors: readonly ({ data: TensorData } & EncodeOptions)[]): Tensor[];

/** A decoded tensor: its elements as a typed array (bool: an array of booleans). */
export type DecodedTensor =
  | { dtype: 1; shape: bigint[]; data: Float32Array }
  | { dtype: 2; shape: bigint[]; data: Float64Array }
  | { dtype: 3; shape: bigint[]; data: Int32Array }
  | { dtype: 4; shape: bigint[]; data: BigInt64Array }
  | { dtype: 5; shape: bigint[]; data: Uint8Array }
  | { dtype: 6; shape: bigint[]; data: Int8Array }
  | { dtype: 7; shape: bigint[]; data: boolean[] }
  | {
      /** `0x40 + decimals`. */
      dtype: FixedDtype;
      shape: bigint[];
      /** The raw int64 values `v`, meaning `v / 10^decimals` (see `fromFixed`, `toNumbers`). */
      data: BigInt64Array;
      decimals: number;
    };

/**
 * The elements of a Tensor returned by viem or ethers (or made by `encodeTensor`). Throws a
 * RangeError on an unknown dtype, when the data's length is not elements × element size, or on
 * a bool byte other than 0 and 1.
 */
export declare function decodeTensor(tensor: TensorLike): DecodedTensor;

/** `decodeTensor` of each tensor (e.g. the `Tensor[]` of `infer`); errors name the tensor. */
export declare function decodeTensors(tensors: ArrayLike<TensorLike>): DecodedTensor[];

/**
 * The elements as numbers: fixed-point as `v / 10^k`, int64 as the nearest number, bool as 0/1.
 * Accepts a tensor with hex data (from viem, ethers or `encodeTensor`), or what `decodeTensor` returns.
 */
export declare function toNumbers(
  tensor: { readonly dtype: number | bigint; readonly shape: ArrayLike<bigint | number>; readonly data: string } | DecodedTensor,
): number[];
