"""The Tensor ABI and its conversions, offline: byte layouts, round trips of every dtype,
fixed-point rounding (ties to even) and every refusal with its element index and reason.
test_node_conversions.py checks the same rules against the node itself."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from eth_abi import encode

import anh
from anh import ConversionError, Tensor, TensorError

# (code, numpy dtype, values, struct format of one big-endian element)
PLAIN = [
    (anh.Dtype.FLOAT32, np.float32, [[1.5, -2.25, 3e38], [np.inf, -0.0, 1e-40]], ">f"),
    (anh.Dtype.FLOAT64, np.float64, [[1.5, -2.25, 1e300], [-np.inf, -0.0, 5e-324]], ">d"),
    (anh.Dtype.INT32, np.int32, [[0, -1, 2**31 - 1], [-(2**31), 7, -7]], ">i"),
    (anh.Dtype.INT64, np.int64, [[0, -1, 2**63 - 1], [-(2**63), 7, -7]], ">q"),
    (anh.Dtype.UINT8, np.uint8, [[0, 1, 255], [128, 7, 42]], ">B"),
    (anh.Dtype.INT8, np.int8, [[0, -1, 127], [-128, 7, -7]], ">b"),
    (anh.Dtype.BOOL, np.bool_, [[True, False, True], [False, False, True]], ">B"),
]


@pytest.mark.parametrize("code,np_type,values,fmt", PLAIN, ids=[p[1].__name__ for p in PLAIN])
def test_plain_dtype_round_trip(code, np_type, values, fmt):
    arr = np.array(values, dtype=np_type)
    t = Tensor.from_numpy(arr)
    assert (t.dtype, t.shape) == (code, (2, 3))
    # Row-major, big-endian, one element after the other.
    assert t.data == b"".join(struct.pack(fmt, v) for v in arr.reshape(-1).tolist())
    back = t.to_numpy()
    assert back.dtype == np.dtype(np_type) and back.dtype.isnative
    np.testing.assert_array_equal(back, arr)
    # The ABI tuple survives eth_abi both ways.
    assert anh.decode_tensors(anh.encode_tensors([t, t])) == [t, t]


@pytest.mark.parametrize("k", [0, 1, 6, 18])
def test_fixed_point_round_trip(k):
    raw = np.array([0, 1, -1, 2**63 - 1, -(2**63), 123456789], dtype=np.int64)
    t = Tensor(anh.fixed(k), [2, 3], raw.astype(">i8").tobytes())
    assert t.dtype == 0x40 + k and t.decimals == k
    np.testing.assert_array_equal(t.to_numpy(raw=True).reshape(-1), raw)
    np.testing.assert_array_equal(t.to_numpy().reshape(-1), raw.astype(np.float64) / 10.0**k)
    # Real values go in through from_numpy at that scale and come back.
    if k <= 6:
        values = np.array([1.5, -0.25, 0.0])
        np.testing.assert_array_equal(Tensor.from_numpy(values, scale=k + 2).to_numpy(), values)


def test_fixed_point_encoding_is_big_endian_int64():
    t = Tensor.from_numpy([1.5, -0.000001], scale=6)
    assert t.data == (1_500_000).to_bytes(8, "big", signed=True) + (-1).to_bytes(8, "big", signed=True)
    assert Tensor.from_numpy([2.5], dtype="fixed:6") == Tensor.from_numpy([2.5], dtype=0x46)


@pytest.mark.parametrize(
    "values,k,expected",
    [
        # x * 10^k exactly halfway: ties go to the even neighbour, both signs.
        ([0.25, 0.75, -0.25, -0.75, 1.25], 1, [2, 8, -2, -8, 12]),
        ([0.125, 0.375, -0.125, 0.625], 2, [12, 38, -12, 62]),
        ([0.5, 1.5, 2.5, -0.5, -1.5, -2.5], 0, [0, 2, 2, 0, -2, -2]),
        # Not halfway: to nearest. 0.1 is 0.1000000000000000055…, its 10^18-multiple rounds
        # in float64 first, as the node computes it.
        ([0.1, 0.29, -1.0049], 2, [10, 29, -100]),
        ([1.0, 0.1], 18, [10**18, 100000000000000000]),
    ],
)
def test_fixed_point_rounds_to_nearest_ties_to_even(values, k, expected):
    t = Tensor.from_numpy(np.array(values, dtype=np.float64), scale=k)
    assert t.to_numpy(raw=True).tolist() == expected


def test_float32_values_round_as_float32():
    # 0.1f32 is 0.100000001490116…: at 9 decimals it rounds to 100000001.
    assert Tensor.from_numpy(np.float32([0.1]), scale=9).to_numpy(raw=True).tolist() == [100000001]
    assert Tensor.from_numpy(np.float64([0.1]), scale=9).to_numpy(raw=True).tolist() == [100000000]


def test_integers_and_bools_to_fixed_point_are_exact():
    assert Tensor.from_numpy(np.int64([3, -2]), scale=18).to_numpy(raw=True).tolist() == [3 * 10**18, -2 * 10**18]
    assert Tensor.from_numpy([True, False], scale=3).to_numpy(raw=True).tolist() == [1000, 0]


@pytest.mark.parametrize(
    "target,values,expected",
    [
        ("int32", [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999], [0, 2, 2, 0, -2, -2, 2]),
        ("int64", [4.5, 5.5, -4.5, 9.007199254740993e15], [4, 6, -4, 9007199254740992]),
        ("uint8", [254.5, 253.5, -0.5, 0.4], [254, 254, 0, 0]),
        ("int8", [126.5, -127.5, -128.5], [126, -128, -128]),
        ("bool", [0.0, 1.0, -0.0], [False, True, False]),
        ("float32", [1.0000000596046448, 3.4028234663852886e38], [1.0, 3.4028234663852886e38]),
    ],
)
def test_float_conversions_round_half_even(target, values, expected):
    t = Tensor.from_numpy(np.array(values, dtype=np.float64), dtype=target)
    assert t.to_numpy().tolist() == expected


def test_fixed_point_to_other_types_rounds_half_even():
    t = Tensor.from_numpy([1.25, -1.35, 2.5, 0.05], scale=2)  # raw 125, -135, 250, 5
    assert t.astype(scale=1).to_numpy(raw=True).tolist() == [12, -14, 25, 0]
    assert t.astype("int64").to_numpy().tolist() == [1, -1, 2, 0]
    assert t.astype(scale=4).to_numpy(raw=True).tolist() == [12500, -13500, 25000, 500]
    assert t.astype("float64").to_numpy().tolist() == [1.25, -1.35, 2.5, 0.05]
    one = Tensor.from_numpy([1.0, 0.0], scale=6)
    assert one.astype("bool").to_numpy().tolist() == [True, False]


REFUSALS = [
    # (values, numpy dtype, target, element, reason) — reasons worded as the node words them.
    ([1.0, np.nan], np.float64, "fixed6", 1, "NaN cannot be converted to fixed-point"),
    ([np.inf], np.float32, "fixed0", 0, "inf cannot be converted to fixed-point"),
    ([0.0, 0.0, -np.inf], np.float64, "int32", 2, "-inf cannot be converted to int32"),
    ([1.0, 9.3e18], np.float64, "fixed0", 1, "9300000000000000000 does not fit fixed-point with 0 decimals (int64)"),
    ([1.0, 9.3e16], np.float64, "fixed2", 1, "93000000000000000 does not fit fixed-point with 2 decimals (int64)"),
    ([2.0**63], np.float64, "int64", 0, "9223372036854776000 does not fit int64"),
    ([3, 10**17], np.int64, "fixed2", 1, "100000000000000000 does not fit fixed-point with 2 decimals (int64)"),
    ([2**64 - 1], np.uint64, "int64", 0, "18446744073709551615 does not fit int64"),
    ([255, 256], np.int32, "uint8", 1, "256 does not fit uint8"),
    ([-0.4, -0.6], np.float64, "uint8", 1, "-0.6 does not fit uint8"),
    ([127.5], np.float64, "int8", 0, "127.5 does not fit int8"),
    ([0, 1, 2], np.int8, "bool", 2, "2 is not a bool (0 or 1)"),
    ([0.5], np.float32, "bool", 0, "0.5 is not a bool (0 or 1)"),
    ([1e39], np.float64, "float32", 0, "1000000000000000000000000000000000000000 overflows float32"),
]


@pytest.mark.parametrize("values,np_type,target,element,reason", REFUSALS,
                         ids=[f"{r[2]}-{i}" for i, r in enumerate(REFUSALS)])
def test_refusals_name_the_element(values, np_type, target, element, reason):
    with pytest.raises(ConversionError) as info:
        Tensor.from_numpy(np.array(values, dtype=np_type), dtype=target)
    assert (info.value.element, info.value.reason) == (element, reason)
    assert str(info.value) == f"element {element}: {reason}"


def test_refusal_index_is_row_major():
    arr = np.zeros((3, 4))
    arr[2, 1] = np.nan
    with pytest.raises(ConversionError) as info:
        Tensor.from_numpy(np.asfortranarray(arr), scale=3)
    assert info.value.element == 9


def test_fixed_point_refusals_from_fixed_point():
    big = Tensor(anh.fixed(0), [1], (10**17).to_bytes(8, "big"))
    with pytest.raises(ConversionError, match="element 0: 100000000000000000 does not fit fixed-point with 2 decimals"):
        big.astype(scale=2)
    half = Tensor(anh.fixed(1), [2], (5).to_bytes(8, "big") + (-3000).to_bytes(8, "big", signed=True))
    with pytest.raises(ConversionError, match=r"element 0: 0\.5 is not a bool"):
        half.astype("bool")
    with pytest.raises(ConversionError, match=r"element 1: -300\.0 does not fit int8"):
        half.astype("int8")


def test_bad_bool_bytes_are_refused_on_read():
    t = Tensor(anh.Dtype.BOOL, [3], b"\x00\x01\x02")
    with pytest.raises(ConversionError, match=r"element 2: 2 is not a bool \(0 or 1\)"):
        t.to_numpy()


def test_constructor_checks_dtype_and_length():
    with pytest.raises(TensorError, match=r"data has 4 bytes, but shape \[1, 4\] of float32 needs 16"):
        Tensor(1, [1, 4], b"1234")
    with pytest.raises(ValueError, match="unknown dtype 0x09: expected 1-7 or 0x40-0x52"):
        Tensor(9, [1], b"1")
    with pytest.raises(ValueError, match="unknown dtype 0x53"):
        Tensor(0x53, [1], b"12345678")
    with pytest.raises(TensorError, match="Python objects"):
        Tensor.from_numpy(np.array([1, "a"], dtype=object))
    with pytest.raises(ValueError, match="float16 has no ABI dtype"):
        Tensor.from_numpy(np.float16([1.0]))
    # float16 still converts to an ABI dtype when one is asked for.
    assert Tensor.from_numpy(np.float16([1.5]), dtype="float32").to_numpy().tolist() == [1.5]
    # unchecked builds what the node must refuse itself.
    assert Tensor.unchecked(9, [1, 4], b"").dtype == 9


def test_dtype_names_and_codes():
    assert [anh.dtype_code(n) for n in ("float32", "float64", "int32", "int64", "uint8", "int8", "bool")] == list(range(1, 8))
    assert anh.dtype_code("fixed18") == 0x52 and anh.dtype_code(np.int8) == 6
    assert anh.dtype_name(0x46) == "fixed-point (10^-6)" and anh.dtype_name(5) == "uint8"
    with pytest.raises(ValueError, match="0 to 18 decimals"):
        anh.fixed(19)
    with pytest.raises(ValueError, match="disagree"):
        Tensor.from_numpy([1.0], dtype="float32", scale=2)


def test_scalar_and_empty_tensors():
    s = Tensor.from_numpy(np.float64(2.5), scale=0)
    assert s.shape == () and s.to_numpy(raw=True) == 2
    e = Tensor.from_numpy(np.zeros((0, 3), dtype=np.float32))
    assert e.shape == (0, 3) and e.data == b"" and e.to_numpy().shape == (0, 3)


def test_tensor_array_abi_matches_solidity_encoding():
    # abi.encode(Tensor[]) with one Tensor{dtype: 1, shape: [2], data: 8 bytes}, word by word.
    t = Tensor.from_numpy(np.float32([1.0, -2.0]))
    words = [0x20, 1, 0x20, 1, 0x60, 0xA0, 1, 2, 8]
    head = b"".join(w.to_bytes(32, "big") for w in words)
    assert anh.encode_tensors([t]) == head + bytes.fromhex("3f800000c0000000").ljust(32, b"\0")
    assert anh.encode_tensors([t]) == encode(["(uint8,uint64[],bytes)[]"], [[(1, [2], t.data)]])


def test_the_docstring_examples():
    import doctest

    import anh.tensor

    assert doctest.testmod(anh.tensor, raise_on_error=True).attempted >= 3
