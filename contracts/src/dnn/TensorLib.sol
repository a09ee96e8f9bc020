// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {Tensor} from "./IDnn.sol";

/// @title TensorLib
/// @notice Building and reading `Tensor`s (`{uint8 dtype; uint64[] shape; bytes data}`,
///         elements row-major, big-endian) in Solidity. Named `TensorLib` because `Tensor` is
///         the struct; use it as `using TensorLib for Tensor;`.
/// @dev Integer and fixed-point tensors are built and read exactly. Float tensors are read
///      through `argmax` (IEEE-754 order, NaN never wins) and `toFixed` (rounded to nearest).
library TensorLib {
    /// @notice A value does not fit the tensor's element type.
    error ValueOutOfRange(uint256 index, int256 value);
    /// @notice The shape's element count differs from the data's.
    error ShapeMismatch(uint256 elements, uint256 expected);
    /// @notice The element index is past the end.
    error IndexOutOfRange(uint256 index, uint256 elements);
    /// @notice The dtype is not one this function reads.
    error UnsupportedDtype(uint8 dtype);

    /// @notice A shape of one dimension.
    function shape(uint64 a) internal pure returns (uint64[] memory s) {
        s = new uint64[](1);
        s[0] = a;
    }

    /// @notice A shape of two dimensions.
    function shape(uint64 a, uint64 b) internal pure returns (uint64[] memory s) {
        s = new uint64[](2);
        (s[0], s[1]) = (a, b);
    }

    /// @notice A shape of four dimensions (e.g. `[batch, channels, height, width]`).
    function shape(uint64 a, uint64 b, uint64 c, uint64 d) internal pure returns (uint64[] memory s) {
        s = new uint64[](4);
        (s[0], s[1], s[2], s[3]) = (a, b, c, d);
    }

    /// @notice The number of elements of `s` (1 for a scalar).
    function numel(uint64[] memory s) internal pure returns (uint256 n) {
        n = 1;
        for (uint256 i = 0; i < s.length; i++) {
            n *= s[i];
        }
    }

    /// @notice The number of elements of `t`.
    function numel(Tensor memory t) internal pure returns (uint256) {
        return numel(t.shape);
    }

    /// @notice Bytes per element of `dtype`, or 0 if unknown.
    function elementSize(uint8 dtype) internal pure returns (uint256) {
        if (dtype == 1 || dtype == 3) return 4;
        if (dtype == 2 || dtype == 4) return 8;
        if (dtype == 5 || dtype == 6 || dtype == 7) return 1;
        if (dtype >= 0x40 && dtype <= 0x52) return 8;
        return 0;
    }

    /// @notice An int64 tensor (dtype 4) of `values` shaped `s`.
    function fromInt64(int256[] memory values, uint64[] memory s) internal pure returns (Tensor memory) {
        return _int64s(4, values, s);
    }

    /// @notice A fixed-point tensor (dtype `0x40 + decimals`): each value is the raw int64
    ///         (`values[i]` means `values[i] / 10^decimals`).
    function fromFixed(int256[] memory values, uint64[] memory s, uint8 decimals)
        internal
        pure
        returns (Tensor memory)
    {
        require(decimals <= 18, "TensorLib: at most 18 decimals");
        return _int64s(0x40 + decimals, values, s);
    }

    /// @notice An int32 tensor (dtype 3) of `values` shaped `s`.
    function fromInt32(int256[] memory values, uint64[] memory s) internal pure returns (Tensor memory t) {
        uint256 n = values.length;
        if (numel(s) != n) revert ShapeMismatch(n, numel(s));
        bytes memory data = new bytes(4 * n);
        for (uint256 i = 0; i < n; i++) {
            int256 v = values[i];
            if (v < type(int32).min || v > type(int32).max) revert ValueOutOfRange(i, v);
            uint32 bits = uint32(int32(v));
            for (uint256 b = 0; b < 4; b++) {
                data[4 * i + b] = bytes1(uint8(bits >> (8 * (3 - b))));
            }
        }
        t = Tensor({dtype: 3, shape: s, data: data});
    }

    /// @notice A uint8 tensor (dtype 5), e.g. pixels.
    function fromUint8(bytes memory values, uint64[] memory s) internal pure returns (Tensor memory) {
        if (numel(s) != values.length) revert ShapeMismatch(values.length, numel(s));
        return Tensor({dtype: 5, shape: s, data: values});
    }

    /// @notice Element `i` of an integer, bool or fixed-point tensor as an integer (for
    ///         fixed-point: the raw value, `v / 10^k` being the number).
    function getInt(Tensor memory t, uint256 i) internal pure returns (int256) {
        uint256 n = numel(t.shape);
        if (i >= n) revert IndexOutOfRange(i, n);
        bytes memory d = t.data;
        uint8 dtype = t.dtype;
        if (dtype == 4 || (dtype >= 0x40 && dtype <= 0x52)) return int64(uint64(_word(d, 8 * i, 8)));
        if (dtype == 3) return int32(uint32(_word(d, 4 * i, 4)));
        if (dtype == 5 || dtype == 7) return int256(uint256(uint8(d[i])));
        if (dtype == 6) return int8(uint8(d[i]));
        revert UnsupportedDtype(dtype);
    }

    /// @notice Every element as an integer (see `getInt`).
    function toInts(Tensor memory t) internal pure returns (int256[] memory values) {
        uint256 n = numel(t.shape);
        values = new int256[](n);
        for (uint256 i = 0; i < n; i++) {
            values[i] = getInt(t, i);
        }
    }

    /// @notice Element `i` of a fixed-point, integer or float tensor as fixed-point with
    ///         `decimals` decimals, rounded to nearest (half away from zero).
    function toFixed(Tensor memory t, uint256 i, uint8 decimals) internal pure returns (int256) {
        require(decimals <= 18, "TensorLib: at most 18 decimals");
        uint8 dtype = t.dtype;
        if (dtype >= 0x40 && dtype <= 0x52) {
            int256 raw = getInt(t, i);
            uint8 k = dtype - 0x40;
            if (k <= decimals) return raw * int256(10 ** (decimals - k));
            return _divRound(raw, int256(10 ** (k - decimals)));
        }
        if (dtype == 1 || dtype == 2) {
            uint256 n = numel(t.shape);
            if (i >= n) revert IndexOutOfRange(i, n);
            return _floatToFixed(t, i, decimals);
        }
        return getInt(t, i) * int256(10 ** decimals);
    }

    /// @notice The index of the largest element (the first, on ties; NaN never wins). Works
    ///         for every dtype.
    function argmax(Tensor memory t) internal pure returns (uint256 best) {
        return _argmax(t, 0, numel(t.shape));
    }

    /// @notice The arg-max of each row along the last axis, e.g. the class of each sample of
    ///         `[batch, classes]` logits.
    function argmaxRows(Tensor memory t) internal pure returns (uint256[] memory rows) {
        uint256 width = t.shape.length == 0 ? 1 : t.shape[t.shape.length - 1];
        uint256 n = numel(t.shape);
        rows = new uint256[](width == 0 ? 0 : n / width);
        for (uint256 r = 0; r < rows.length; r++) {
            rows[r] = _argmax(t, r * width, width) - r * width;
        }
    }

    /// @notice The arg-max of row `r` along the last axis alone, e.g. the next token after
    ///         position `r` of `[1, seq, vocab]` logits; reverts `IndexOutOfRange(r, rows)` past
    ///         the last row.
    function argmaxRow(Tensor memory t, uint256 r) internal pure returns (uint256) {
        uint256 width = t.shape.length == 0 ? 1 : t.shape[t.shape.length - 1];
        uint256 n = numel(t.shape);
        if (width == 0 || r >= n / width) revert IndexOutOfRange(r, n / (width == 0 ? 1 : width));
        return _argmax(t, r * width, width) - r * width;
    }

    /// @notice `t` with shape `s` (same elements, same order).
    function reshape(Tensor memory t, uint64[] memory s) internal pure returns (Tensor memory) {
        if (numel(s) != numel(t.shape)) revert ShapeMismatch(numel(s), numel(t.shape));
        return Tensor({dtype: t.dtype, shape: s, data: t.data});
    }

    function _int64s(uint8 dtype, int256[] memory values, uint64[] memory s) private pure returns (Tensor memory) {
        uint256 n = values.length;
        if (numel(s) != n) revert ShapeMismatch(n, numel(s));
        bytes memory data = new bytes(8 * n);
        for (uint256 i = 0; i < n; i++) {
            int256 v = values[i];
            if (v < type(int64).min || v > type(int64).max) revert ValueOutOfRange(i, v);
            uint64 bits = uint64(int64(v));
            for (uint256 b = 0; b < 8; b++) {
                data[8 * i + b] = bytes1(uint8(bits >> (8 * (7 - b))));
            }
        }
        return Tensor({dtype: dtype, shape: s, data: data});
    }

    /// @dev `len` big-endian bytes of `d` from `offset`, as an unsigned integer.
    function _word(bytes memory d, uint256 offset, uint256 len) private pure returns (uint256 w) {
        require(offset + len <= d.length, "TensorLib: data shorter than the shape");
        for (uint256 b = 0; b < len; b++) {
            w = (w << 8) | uint8(d[offset + b]);
        }
    }

    /// @dev A key that orders like the element: integers as themselves; IEEE floats by their
    ///      bits (negative ones flipped). NaN gets the lowest key.
    function _key(Tensor memory t, uint256 i) private pure returns (int256) {
        uint8 dtype = t.dtype;
        if (dtype == 1) {
            uint256 bits = _word(t.data, 4 * i, 4);
            if ((bits & 0x7f800000) == 0x7f800000 && (bits & 0x7fffff) != 0) return type(int256).min;
            return (bits >> 31) == 1 ? -int256(bits & 0x7fffffff) : int256(bits);
        }
        if (dtype == 2) {
            uint256 bits = _word(t.data, 8 * i, 8);
            uint256 exp = 0x7ff0000000000000;
            if ((bits & exp) == exp && (bits & 0xfffffffffffff) != 0) return type(int256).min;
            return (bits >> 63) == 1 ? -int256(bits & 0x7fffffffffffffff) : int256(bits);
        }
        return getInt(t, i);
    }

    function _argmax(Tensor memory t, uint256 from, uint256 count) private pure returns (uint256 best) {
        if (count == 0) revert IndexOutOfRange(from, from);
        best = from;
        int256 top = _key(t, from);
        for (uint256 i = from + 1; i < from + count; i++) {
            int256 k = _key(t, i);
            if (k > top) (best, top) = (i, k);
        }
    }

    function _divRound(int256 a, int256 b) private pure returns (int256) {
        int256 q = a / b;
        int256 r = a % b;
        if (2 * (r < 0 ? -r : r) >= b) q += a < 0 ? int256(-1) : int256(1);
        return q;
    }

    /// @dev A float32/float64 element as fixed-point with `decimals` decimals: mantissa ×
    ///      2^exponent × 10^decimals, rounded to nearest. Reverts on NaN, infinities and
    ///      values whose fixed-point form does not fit int256.
    function _floatToFixed(Tensor memory t, uint256 i, uint8 decimals) private pure returns (int256) {
        uint256 bits;
        int256 exponent;
        uint256 mantissa;
        bool negative;
        if (t.dtype == 1) {
            bits = _word(t.data, 4 * i, 4);
            negative = (bits >> 31) == 1;
            uint256 e = (bits >> 23) & 0xff;
            if (e == 0xff) revert ValueOutOfRange(i, 0);
            mantissa = bits & 0x7fffff;
            if (e == 0) exponent = -149;
            else (mantissa, exponent) = (mantissa | 0x800000, int256(e) - 150);
        } else {
            bits = _word(t.data, 8 * i, 8);
            negative = (bits >> 63) == 1;
            uint256 e = (bits >> 52) & 0x7ff;
            if (e == 0x7ff) revert ValueOutOfRange(i, 0);
            mantissa = bits & 0xfffffffffffff;
            if (e == 0) exponent = -1074;
            else (mantissa, exponent) = (mantissa | 0x10000000000000, int256(e) - 1075);
        }
        uint256 scaled = mantissa * 10 ** decimals;
        uint256 value;
        if (exponent >= 0) {
            if (exponent > 100) revert ValueOutOfRange(i, 0);
            value = scaled << uint256(exponent);
        } else if (exponent < -255) {
            value = 0;
        } else {
            uint256 shift = uint256(-exponent);
            value = scaled >> shift;
            if (shift > 0 && ((scaled >> (shift - 1)) & 1) == 1) value += 1;
        }
        if (value > uint256(type(int256).max)) revert ValueOutOfRange(i, 0);
        return negative ? -int256(value) : int256(value);
    }
}
