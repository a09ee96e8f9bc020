"""The ABI ``Tensor``: a dtype, a shape and the elements, row-major and big-endian.

Conversions between element types follow the node's rules exactly (``anh-primitives``'
``dtype.rs``): into a float type, integers and fixed-point convert by value (fixed-point ``v``
with ``k`` decimals is ``v / 10**k``) and a finite value beyond float32's range fails; into an
integer, bool or fixed-point type, values round to nearest with ties to even, and NaN,
infinities and values out of range fail; a bool takes only 0 and 1. A failure raises
:class:`~anh.errors.ConversionError` naming the element's index (row-major), with the reason
worded as the node words its ``ConversionFailed`` revert.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
import numpy.typing as npt
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode

from .dtypes import (
    Dtype,
    DtypeLike,
    dtype_code,
    dtype_name,
    element_size,
    fixed,
    fixed_decimals,
    numpy_dtype,
)
from .errors import ConversionError, TensorError

__all__ = ["TENSOR_ABI", "TENSORS_ABI", "Tensor", "TensorLike", "as_tensor", "decode_tensors",
           "encode_tensors"]

#: The ABI type of one ``Tensor``.
TENSOR_ABI = "(uint8,uint64[],bytes)"
#: The ABI type of ``Tensor[]``.
TENSORS_ABI = TENSOR_ABI + "[]"

_TWO_63 = 2**63
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
_F32_MAX = float(np.finfo(np.float32).max)
_INT_RANGES = {
    Dtype.INT32: (-(2**31), 2**31 - 1, np.int32),
    Dtype.INT64: (_I64_MIN, _I64_MAX, np.int64),
    Dtype.UINT8: (0, 255, np.uint8),
    Dtype.INT8: (-128, 127, np.int8),
}


# ----------------------------------------------------------------------------------------------
# Elements on their way between types (the node's `Num`): kind "int" (exact integers), "float"
# (float64 values; float32 ones widened exactly) or "fixed" (int64 v with k decimals).


@dataclass
class _Source:
    kind: str
    values: np.ndarray  # flat: int64 (kinds "int", "fixed") or float64 ("float")
    decimals: int = 0
    # A uint64 source past int64's range: which elements are past it (`values` holds 0 there)
    # and the original elements.
    big: np.ndarray | None = None
    unsigned: np.ndarray | None = None

    def display(self, i: int) -> str:
        """Element ``i`` as the node's error messages show it."""
        if self.kind == "int":
            if self.big is not None and self.unsigned is not None and self.big[i]:
                return str(int(self.unsigned[i]))
            return str(int(self.values[i]))
        if self.kind == "float":
            return _fmt_float(float(self.values[i]))
        return _fmt_fixed(int(self.values[i]), self.decimals)


def _fmt_float(x: float) -> str:
    """An f64 as Rust's `Display` writes it: NaN, inf, -inf, else the shortest digits that read
    back to the same value, without an exponent ("3", "-0", "0.1", "1e20" as 100000…)."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return np.format_float_positional(x, unique=True, trim="-")


def _fmt_fixed(v: int, k: int) -> str:
    if k == 0:
        return str(v)
    p = 10**k
    sign, a = ("-", -v) if v < 0 else ("", v)
    return f"{sign}{a // p}.{a % p:0{k}d}"


def _div_round_even(n: np.ndarray, d: int) -> np.ndarray:
    """``n / d`` rounded to nearest, ties to even (``d > 0``, int64)."""
    q: np.ndarray = np.floor_divide(n, d)
    twice: np.ndarray = 2 * (n - q * d)
    up: np.ndarray = (twice > d) | ((twice == d) & ((q & 1) == 1))
    return q + up.astype(np.int64)


def _scaled_bounds(p: int) -> tuple[int, int]:
    """The int64 values v with v * p still an int64."""
    return -(_TWO_63 // p), _I64_MAX // p


def _source_of_array(arr: np.ndarray) -> _Source:
    flat = arr.reshape(-1)
    kind = arr.dtype.kind
    if kind == "f":
        if arr.dtype.itemsize > 8:
            raise TensorError(f"numpy dtype {arr.dtype} is not supported: use float64 or float32")
        return _Source("float", flat.astype(np.float64))
    if kind == "b":
        return _Source("int", flat.astype(np.int64))
    if kind == "i":
        return _Source("int", flat.astype(np.int64))
    if kind == "u":
        if arr.dtype.itemsize < 8:
            return _Source("int", flat.astype(np.int64))
        big = flat > np.uint64(_I64_MAX)
        values = np.where(big, np.uint64(0), flat).astype(np.int64)
        if not big.any():
            return _Source("int", values)
        return _Source("int", values, big=big, unsigned=flat)
    raise TensorError(f"numpy dtype {arr.dtype} has no ABI dtype: pass numbers or booleans")


def _source_of_tensor(t: Tensor) -> _Source:
    k = fixed_decimals(t.dtype)
    raw = np.frombuffer(t.data, dtype=numpy_dtype(t.dtype))
    if k is not None:
        return _Source("fixed", raw.astype(np.int64), k)
    if t.dtype in (Dtype.FLOAT32, Dtype.FLOAT64):
        return _Source("float", raw.astype(np.float64))
    return _Source("int", raw.astype(np.int64))


def _as_float64(src: _Source) -> np.ndarray:
    if src.kind == "float":
        return src.values
    if src.kind == "fixed":
        return src.values.astype(np.float64) / float(10**src.decimals)
    out = src.values.astype(np.float64)
    if src.big is not None and src.unsigned is not None:
        out = np.where(src.big, src.unsigned.astype(np.float64), out)
    return out


def _convert(src: _Source, target: int) -> np.ndarray:
    """The flat elements of ``src`` as ``target`` (native order; bool as uint8 0/1, fixed-point as
    raw int64), or :class:`ConversionError` for the first element that does not fit."""
    n = src.values.shape[0]
    fail = np.zeros(n, dtype=bool)
    with np.errstate(over="ignore", invalid="ignore"):
        if target in (Dtype.FLOAT32, Dtype.FLOAT64):
            x = _as_float64(src)
            if target == Dtype.FLOAT64:
                return x
            fail = np.isfinite(x) & (np.abs(x) > _F32_MAX)
            out: np.ndarray = x.astype(np.float32)
        elif target in _INT_RANGES:
            lo, hi, np_type = _INT_RANGES[Dtype(target)]
            if src.kind == "float":
                r = np.rint(src.values)
                upper = (r >= float(_TWO_63)) if hi == _I64_MAX else (r > float(hi))
                fail = ~np.isfinite(src.values) | (r < float(lo)) | upper
                out = np.where(fail, 0, r).astype(np_type)
            else:
                v = src.values
                if src.kind == "fixed":
                    v = _div_round_even(v, 10**src.decimals)
                fail = (v < lo) | (v > hi)
                if src.big is not None:
                    fail |= src.big
                out = np.where(fail, 0, v).astype(np_type)
        elif target == Dtype.BOOL:
            if src.kind == "float":
                ok = (src.values == 0.0) | (src.values == 1.0)
                out = (src.values == 1.0).astype(np.uint8)
            else:
                one = 10**src.decimals if src.kind == "fixed" else 1
                ok = (src.values == 0) | (src.values == one)
                if src.big is not None:
                    ok &= ~src.big
                out = (src.values == one).astype(np.uint8)
            fail = ~ok
        else:
            k = fixed_decimals(target)
            assert k is not None
            if src.kind == "float":
                r = np.rint(src.values * float(10**k))
                fail = ~np.isfinite(src.values) | ~((r >= -float(_TWO_63)) & (r < float(_TWO_63)))
                out = np.where(fail, 0, r).astype(np.int64)
            elif src.kind == "fixed" and k < src.decimals:
                out = _div_round_even(src.values, 10 ** (src.decimals - k))
            else:
                p = 10 ** (k - src.decimals) if src.kind == "fixed" else 10**k
                lo, hi = _scaled_bounds(p)
                fail = (src.values < lo) | (src.values > hi)
                if src.big is not None:
                    fail |= src.big
                out = np.where(fail, 0, src.values) * np.int64(p)
    if fail.any():
        i = int(np.argmax(fail))
        raise ConversionError(i, _reason(src, i, target))
    return out


def _reason(src: _Source, i: int, target: int) -> str:
    """Why element ``i`` of ``src`` does not fit ``target``, worded as the node words it."""
    shown = src.display(i)
    k = fixed_decimals(target)
    nonfinite = src.kind == "float" and not math.isfinite(float(src.values[i]))
    if target == Dtype.FLOAT32:
        return f"{shown} overflows float32"
    if target == Dtype.BOOL:
        return f"{shown} is not a bool (0 or 1)"
    if k is not None:
        if nonfinite:
            return f"{shown} cannot be converted to fixed-point"
        return f"{shown} does not fit fixed-point with {k} decimals (int64)"
    name = dtype_name(target)
    if nonfinite:
        return f"{shown} cannot be converted to {name}"
    return f"{shown} does not fit {name}"


def _pack(values: np.ndarray, code: int) -> bytes:
    return np.ascontiguousarray(values).astype(numpy_dtype(code), copy=False).tobytes()


# ----------------------------------------------------------------------------------------------


#: What the SDK's functions take as a tensor: a :class:`Tensor`, or anything
#: :meth:`Tensor.from_numpy` takes (a numpy array, nested lists, a scalar) in its own dtype.
TensorLike = Union["Tensor", npt.ArrayLike]


@dataclass(frozen=True)
class Tensor:
    """An ABI tensor: ``struct Tensor { uint8 dtype; uint64[] shape; bytes data; }``.

    ``data`` holds the elements row-major and big-endian (``dtype_size`` bytes each; bools one
    byte 0 or 1; fixed-point an int64). The constructor checks that the dtype is known and the
    data's length fits the shape; :meth:`unchecked` builds one without checks (e.g. to send a
    malformed tensor on purpose).

    >>> t = Tensor.from_numpy(np.array([[1.5, -2.0]], dtype=np.float32))
    >>> t.dtype, t.shape, t.data.hex()
    (1, (1, 2), '3fc00000c0000000')
    >>> Tensor.from_numpy([0.25, 2.5], scale=1).to_numpy(raw=True)  # fixed-point, 1 decimal
    array([ 2, 25])
    """

    dtype: int
    shape: tuple[int, ...]
    data: bytes

    def __init__(self, dtype: DtypeLike, shape: Iterable[int], data: bytes | bytearray | memoryview):
        code = dtype_code(dtype)
        dims = tuple(int(d) for d in shape)
        for d in dims:
            if not 0 <= d < 2**64:
                raise TensorError(f"shape {dims}: dimensions are uint64")
        raw = bytes(data)
        count = math.prod(dims)
        if len(raw) != count * element_size(code):
            raise TensorError(
                f"data has {len(raw)} bytes, but shape {list(dims)} of {dtype_name(code)} needs "
                f"{count * element_size(code)}"
            )
        object.__setattr__(self, "dtype", code)
        object.__setattr__(self, "shape", dims)
        object.__setattr__(self, "data", raw)

    @classmethod
    def unchecked(cls, dtype: int, shape: Sequence[int], data: bytes) -> Tensor:
        """A tensor with these fields as given, unchecked (the node will judge it)."""
        t = object.__new__(cls)
        object.__setattr__(t, "dtype", int(dtype))
        object.__setattr__(t, "shape", tuple(int(d) for d in shape))
        object.__setattr__(t, "data", bytes(data))
        return t

    # -- building -------------------------------------------------------------------------------

    @classmethod
    def from_numpy(
        cls, array: npt.ArrayLike, dtype: DtypeLike | None = None, scale: int | None = None
    ) -> Tensor:
        """A tensor of ``array``'s elements (any array-like: a numpy array, nested lists, a
        scalar), in ``dtype`` (a code, a name such as "int8" or "fixed6", or a numpy dtype) or,
        with ``scale=k``, in fixed-point with ``k`` decimals (``dtype=anh.fixed(k)``). Without
        either, the array's own dtype (float32, float64, int32, int64, uint8, int8, bool).

        Elements convert as the node converts them (module docs): e.g. to fixed-point ``x``
        becomes ``round_half_even(x * 10**k)``; NaN, infinities and values out of range raise
        :class:`~anh.errors.ConversionError` with the element's row-major index.
        """
        arr = np.asarray(array)
        if arr.dtype == object:
            raise TensorError("the array holds Python objects: pass numbers or booleans")
        if scale is not None:
            target = fixed(scale)
            if dtype is not None and dtype_code(dtype) != target:
                raise ValueError(f"dtype {dtype!r} and scale={scale} disagree")
        elif dtype is not None:
            target = dtype_code(dtype)
        else:
            target = dtype_code(arr.dtype)
        try:
            own: int | None = dtype_code(arr.dtype)
        except ValueError:
            own = None
        if own == target:  # the array's own type: the bytes as they are
            values: np.ndarray = arr.reshape(-1)
            if target == Dtype.BOOL:
                values = values.astype(np.uint8)
        else:
            values = _convert(_source_of_array(arr), target)
        return cls(target, arr.shape, _pack(values, target))

    @classmethod
    def from_abi(cls, value: Sequence[Any]) -> Tensor:
        """A tensor from its ABI tuple ``(dtype, shape, data)`` as eth_abi decodes it."""
        dtype, shape, data = value
        return cls(int(dtype), shape, bytes(data))

    # -- reading --------------------------------------------------------------------------------

    def to_numpy(self, raw: bool = False) -> np.ndarray:
        """The elements as a numpy array of ``shape`` in native byte order: float32, float64,
        int32, int64, uint8, int8 or bool; fixed-point as float64 values ``v / 10**k`` (as the
        node reads them), or with ``raw=True`` the int64 ``v`` themselves.

        A bool byte other than 0 or 1 raises :class:`~anh.errors.ConversionError`."""
        flat = np.frombuffer(self.data, dtype=numpy_dtype(self.dtype))
        k = fixed_decimals(self.dtype)
        out: np.ndarray
        if k is not None:
            ints = flat.astype(np.int64)
            out = ints if raw else ints.astype(np.float64) / float(10**k)
        elif self.dtype == Dtype.BOOL:
            bad = flat > 1
            if bad.any():
                i = int(np.argmax(bad))
                raise ConversionError(i, f"{int(flat[i])} is not a bool (0 or 1)")
            out = flat.astype(np.bool_)
        else:
            out = flat.astype(flat.dtype.newbyteorder("="))
        return out.reshape(self.shape)

    def astype(self, dtype: DtypeLike | None = None, scale: int | None = None) -> Tensor:
        """This tensor converted to ``dtype`` (or fixed-point with ``scale`` decimals) by the
        node's rules, e.g. what the node does to an input before the model sees it."""
        target = fixed(scale) if scale is not None else dtype_code(dtype) if dtype is not None else self.dtype
        if target == self.dtype:
            return self
        return Tensor(target, self.shape, _pack(_convert(_source_of_tensor(self), target), target))

    def to_abi(self) -> tuple[int, list[int], bytes]:
        """The ABI tuple ``(dtype, shape, data)`` eth_abi encodes."""
        return (self.dtype, list(self.shape), self.data)

    # -- properties -----------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """The number of elements."""
        return math.prod(self.shape)

    @property
    def ndim(self) -> int:
        """The number of dimensions."""
        return len(self.shape)

    @property
    def decimals(self) -> int | None:
        """The fixed-point decimals, or None for a plain dtype."""
        return fixed_decimals(self.dtype)

    @property
    def dtype_name(self) -> str:
        """The dtype as the node names it ("float32", "fixed-point (10^-6)", …)."""
        try:
            return dtype_name(self.dtype)
        except ValueError:
            return f"{self.dtype:#04x}"

    def __repr__(self) -> str:
        return f"Tensor({self.dtype_name}, shape={self.shape}, {len(self.data)} bytes)"


def as_tensor(value: TensorLike) -> Tensor:
    """``value`` if it is a :class:`Tensor`, else ``Tensor.from_numpy(value)`` (its own dtype)."""
    return value if isinstance(value, Tensor) else Tensor.from_numpy(value)


def encode_tensors(tensors: Sequence[TensorLike]) -> bytes:
    """``abi.encode(Tensor[])`` of ``tensors``."""
    return abi_encode([TENSORS_ABI], [[as_tensor(t).to_abi() for t in tensors]])


def decode_tensors(data: bytes) -> list[Tensor]:
    """The ``Tensor[]`` of ``abi.encode(Tensor[])`` (e.g. what ``infer`` returns)."""
    (values,) = abi_decode([TENSORS_ABI], bytes(data))
    return [Tensor.from_abi(v) for v in values]
