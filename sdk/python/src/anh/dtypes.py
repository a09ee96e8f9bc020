"""Element types of the tensor ABI (``Tensor.dtype``).

Codes 1 to 7 are plain element types; ``0x40 + k`` (``k`` = 0..18) is fixed-point: an int64
``v`` meaning ``v / 10**k``. Every element is 8 bytes in fixed-point, else its type's size.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, Union

import numpy as np

__all__ = [
    "FIXED_BASE",
    "MAX_FIXED_DECIMALS",
    "Dtype",
    "DtypeLike",
    "dtype_code",
    "dtype_name",
    "element_size",
    "fixed",
    "fixed_decimals",
    "is_fixed",
    "numpy_dtype",
]

#: First fixed-point code: ``0x40 + k`` means int64 ``v`` with value ``v / 10**k``.
FIXED_BASE = 0x40
#: Largest number of fixed-point decimals.
MAX_FIXED_DECIMALS = 18


class Dtype(IntEnum):
    """The plain element types (fixed-point codes are :func:`fixed`)."""

    FLOAT32 = 1
    FLOAT64 = 2
    INT32 = 3
    INT64 = 4
    UINT8 = 5
    INT8 = 6
    BOOL = 7


#: Anything :func:`dtype_code` understands: a code (``Dtype`` or int), a name ("float32",
#: "fixed6" / "fixed:6") or a numpy dtype of one of the plain types.
DtypeLike = Union[int, str, "np.dtype[np.generic]", type]

_NUMPY: dict[Dtype, np.dtype[Any]] = {
    Dtype.FLOAT32: np.dtype(">f4"),
    Dtype.FLOAT64: np.dtype(">f8"),
    Dtype.INT32: np.dtype(">i4"),
    Dtype.INT64: np.dtype(">i8"),
    Dtype.UINT8: np.dtype("u1"),
    Dtype.INT8: np.dtype("i1"),
    Dtype.BOOL: np.dtype("u1"),
}

_NAMES = {
    Dtype.FLOAT32: "float32",
    Dtype.FLOAT64: "float64",
    Dtype.INT32: "int32",
    Dtype.INT64: "int64",
    Dtype.UINT8: "uint8",
    Dtype.INT8: "int8",
    Dtype.BOOL: "bool",
}

_FROM_NUMPY = {
    np.dtype(np.float32): Dtype.FLOAT32,
    np.dtype(np.float64): Dtype.FLOAT64,
    np.dtype(np.int32): Dtype.INT32,
    np.dtype(np.int64): Dtype.INT64,
    np.dtype(np.uint8): Dtype.UINT8,
    np.dtype(np.int8): Dtype.INT8,
    np.dtype(np.bool_): Dtype.BOOL,
}


def fixed(decimals: int) -> int:
    """The fixed-point code with ``decimals`` decimals (0..18): ``fixed(6) == 0x46``."""
    if not isinstance(decimals, int) or not 0 <= decimals <= MAX_FIXED_DECIMALS:
        raise ValueError(f"fixed-point takes 0 to {MAX_FIXED_DECIMALS} decimals, not {decimals!r}")
    return FIXED_BASE + decimals


def is_fixed(code: int) -> bool:
    """Whether ``code`` is a fixed-point code (0x40..0x52)."""
    return FIXED_BASE <= code <= FIXED_BASE + MAX_FIXED_DECIMALS


def fixed_decimals(code: int) -> int | None:
    """The decimals of fixed-point ``code``, or None for a plain type."""
    return code - FIXED_BASE if is_fixed(code) else None


def _check(code: int) -> int:
    if code in _NAMES or is_fixed(code):
        return int(code)
    raise ValueError(
        f"unknown dtype {code:#04x}: expected 1-7 or 0x40-0x52 (fixed-point)"
        if isinstance(code, int)
        else f"unknown dtype {code!r}"
    )


def dtype_code(dtype: DtypeLike) -> int:
    """The ABI code of ``dtype``: a code, a name ("float32", "int8", "bool", "fixed6",
    "fixed:6") or a numpy dtype of a plain type (float16 and others are refused)."""
    if isinstance(dtype, bool):
        raise ValueError(f"unknown dtype {dtype!r}")
    if isinstance(dtype, int):
        return _check(dtype)
    if isinstance(dtype, str):
        name = dtype.strip().lower()
        for code, known in _NAMES.items():
            if name == known:
                return int(code)
        if name.startswith("fixed"):
            digits = name[5:].lstrip(":")
            if digits.isdigit():
                return fixed(int(digits))
        raise ValueError(f"unknown dtype {dtype!r}: expected float32, float64, int32, int64, "
                         "uint8, int8, bool or fixedK (K = 0..18)")
    try:
        np_dtype = np.dtype(dtype)
    except TypeError as e:
        raise ValueError(f"unknown dtype {dtype!r}") from e
    found = _FROM_NUMPY.get(np_dtype.newbyteorder("="))
    if found is None:
        raise ValueError(f"numpy dtype {np_dtype} has no ABI dtype (float32, float64, int32, "
                         "int64, uint8, int8, bool)")
    return int(found)


def dtype_name(code: int) -> str:
    """A readable name: "float32", …, "bool", or "fixed-point (10^-k)" as the node says it."""
    _check(code)
    k = fixed_decimals(code)
    return f"fixed-point (10^-{k})" if k is not None else _NAMES[Dtype(code)]


def element_size(code: int) -> int:
    """Bytes per element of ``code``."""
    _check(code)
    return 8 if is_fixed(code) else _NUMPY[Dtype(code)].itemsize


def numpy_dtype(code: int) -> np.dtype[Any]:
    """The big-endian numpy dtype the ABI bytes of ``code`` are (bool: ``u1``, fixed-point:
    ``>i8``)."""
    _check(code)
    return np.dtype(">i8") if is_fixed(code) else _NUMPY[Dtype(code)]
