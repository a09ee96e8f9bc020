//! The tensor ABI's element types, and conversion between ABI tensors (big-endian, with
//! fixed-point) and host tensors (native, in a model's element types).
//!
//! Conversions go by value. Into a floating-point type: integers and fixed-point convert
//! exactly where the target can hold them (fixed-point `v` with `k` decimals is `v / 10^k`);
//! a finite value beyond float32's range fails. Into an integer, bool or fixed-point type:
//! values round to nearest, ties to even; NaN, infinities and values outside the target's
//! range fail; a bool takes only 0 and 1.

use crate::{
    abi::Tensor,
    tensor::{ElemType, HostTensor, TensorData},
};
use alloy_primitives::Bytes;
use core::fmt;

/// First fixed-point dtype code: `0x40 + k` means int64 `v` with value `v / 10^k`.
pub const FIXED_BASE: u8 = 0x40;

/// Largest number of fixed-point decimals.
pub const MAX_FIXED_DECIMALS: u8 = 18;

/// An ABI element type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dtype {
    /// A plain element type (codes 1–7).
    Elem(ElemType),
    /// Fixed-point int64 with this many decimals (codes 0x40–0x52).
    Fixed(u8),
}

impl Dtype {
    /// The dtype with ABI `code`, if there is one.
    pub const fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => Self::Elem(ElemType::F32),
            2 => Self::Elem(ElemType::F64),
            3 => Self::Elem(ElemType::I32),
            4 => Self::Elem(ElemType::I64),
            5 => Self::Elem(ElemType::U8),
            6 => Self::Elem(ElemType::I8),
            7 => Self::Elem(ElemType::Bool),
            c if c >= FIXED_BASE && c <= FIXED_BASE + MAX_FIXED_DECIMALS => {
                Self::Fixed(c - FIXED_BASE)
            }
            _ => return None,
        })
    }

    /// The ABI code.
    pub const fn code(self) -> u8 {
        match self {
            Self::Elem(e) => elem_code(e),
            Self::Fixed(k) => FIXED_BASE + k,
        }
    }

    /// Bytes per element.
    pub const fn size(self) -> usize {
        match self {
            Self::Elem(e) => e.size(),
            Self::Fixed(_) => 8,
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Elem(e) => f.write_str(e.name()),
            Self::Fixed(k) => write!(f, "fixed-point (10^-{k})"),
        }
    }
}

/// The ABI code of a plain element type.
pub const fn elem_code(elem: ElemType) -> u8 {
    match elem {
        ElemType::F32 => 1,
        ElemType::F64 => 2,
        ElemType::I32 => 3,
        ElemType::I64 => 4,
        ElemType::U8 => 5,
        ElemType::I8 => 6,
        ElemType::Bool => 7,
    }
}

/// Why a tensor could not be decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TensorError {
    /// Malformed: unknown dtype, shape overflow, wrong data length.
    Malformed(String),
    /// More elements than allowed.
    TooLarge {
        /// Elements in the tensor.
        elements: u64,
        /// The limit.
        limit: u64,
    },
    /// An element does not fit the target type.
    Conversion {
        /// Index of the element.
        element: u64,
        /// Why.
        reason: String,
    },
}

/// One element on its way between types.
#[derive(Debug, Clone, Copy)]
enum Num {
    Int(i128),
    Float(f64),
    Fixed(i64, u8),
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Int(i) => write!(f, "{i}"),
            Self::Float(x) => write!(f, "{x}"),
            Self::Fixed(v, 0) => write!(f, "{v}"),
            Self::Fixed(v, k) => {
                let p = 10u64.pow(k as u32);
                let (sign, a) = if v < 0 { ("-", v.unsigned_abs()) } else { ("", v as u64) };
                write!(f, "{sign}{}.{:0width$}", a / p, a % p, width = k as usize)
            }
        }
    }
}

const fn pow10(k: u8) -> i128 {
    10i128.pow(k as u32)
}

/// `n / d` rounded to nearest, ties to even (`d > 0`).
fn div_round_even(n: i128, d: i128) -> i128 {
    let q = n.div_euclid(d);
    let r = n.rem_euclid(d);
    match (2 * r).cmp(&d) {
        core::cmp::Ordering::Less => q,
        core::cmp::Ordering::Greater => q + 1,
        core::cmp::Ordering::Equal => q + (q & 1),
    }
}

fn to_f64(n: Num) -> f64 {
    match n {
        Num::Int(i) => i as f64,
        Num::Float(x) => x,
        Num::Fixed(v, k) => v as f64 / 10f64.powi(k as i32),
    }
}

fn to_f32(n: Num) -> Result<f32, String> {
    let x = to_f64(n);
    if x.is_finite() && x.abs() > f32::MAX as f64 {
        return Err(format!("{n} overflows float32"));
    }
    Ok(x as f32)
}

fn to_int(n: Num, min: i128, max: i128, target: &str) -> Result<i128, String> {
    let v = match n {
        Num::Int(i) => i,
        Num::Float(x) if !x.is_finite() => {
            return Err(format!("{x} cannot be converted to {target}"));
        }
        Num::Float(x) => {
            let r = x.round_ties_even();
            if r < min as f64 || r > max as f64 {
                return Err(format!("{n} does not fit {target}"));
            }
            r as i128
        }
        Num::Fixed(v, k) => div_round_even(v as i128, pow10(k)),
    };
    if v < min || v > max {
        return Err(format!("{n} does not fit {target}"));
    }
    Ok(v)
}

fn to_bool(n: Num) -> Result<bool, String> {
    match n {
        Num::Int(0) => Ok(false),
        Num::Int(1) => Ok(true),
        Num::Float(0.0) => Ok(false),
        Num::Float(1.0) => Ok(true),
        Num::Fixed(0, _) => Ok(false),
        Num::Fixed(v, k) if v as i128 == pow10(k) => Ok(true),
        _ => Err(format!("{n} is not a bool (0 or 1)")),
    }
}

fn to_fixed(n: Num, k: u8) -> Result<i64, String> {
    let fail = || format!("{n} does not fit fixed-point with {k} decimals (int64)");
    let v: i128 = match n {
        Num::Int(i) => i.checked_mul(pow10(k)).ok_or_else(fail)?,
        Num::Float(x) if !x.is_finite() => {
            return Err(format!("{x} cannot be converted to fixed-point"));
        }
        Num::Float(x) => {
            let r = (x * 10f64.powi(k as i32)).round_ties_even();
            // i64's range as f64: [-2^63, 2^63).
            const TWO_63: f64 = 9_223_372_036_854_775_808.0;
            if !(-TWO_63..TWO_63).contains(&r) {
                return Err(fail());
            }
            r as i128
        }
        Num::Fixed(v, j) if k >= j => (v as i128).checked_mul(pow10(k - j)).ok_or_else(fail)?,
        Num::Fixed(v, j) => div_round_even(v as i128, pow10(j - k)),
    };
    i64::try_from(v).map_err(|_| fail())
}

/// Reads element `bytes` (exactly `dtype.size()` long) of an ABI tensor.
fn read(dtype: Dtype, b: &[u8]) -> Num {
    match dtype {
        Dtype::Elem(ElemType::F32) => {
            Num::Float(f32::from_be_bytes([b[0], b[1], b[2], b[3]]) as f64)
        }
        Dtype::Elem(ElemType::F64) => {
            Num::Float(f64::from_be_bytes(b.try_into().unwrap_or([0; 8])))
        }
        Dtype::Elem(ElemType::I32) => {
            Num::Int(i32::from_be_bytes([b[0], b[1], b[2], b[3]]) as i128)
        }
        Dtype::Elem(ElemType::I64) => {
            Num::Int(i64::from_be_bytes(b.try_into().unwrap_or([0; 8])) as i128)
        }
        Dtype::Elem(ElemType::U8) => Num::Int(b[0] as i128),
        Dtype::Elem(ElemType::I8) => Num::Int(b[0] as i8 as i128),
        Dtype::Elem(ElemType::Bool) => Num::Int(b[0] as i128),
        Dtype::Fixed(k) => Num::Fixed(i64::from_be_bytes(b.try_into().unwrap_or([0; 8])), k),
    }
}

/// The number of elements of `shape`, checked.
pub fn element_count(shape: &[u64]) -> Option<u64> {
    shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))
}

fn collect<T>(
    chunks: core::slice::ChunksExact<'_, u8>,
    dtype: Dtype,
    convert: impl Fn(Num) -> Result<T, String>,
) -> Result<Vec<T>, TensorError> {
    chunks
        .enumerate()
        .map(|(i, c)| {
            convert(read(dtype, c))
                .map_err(|reason| TensorError::Conversion { element: i as u64, reason })
        })
        .collect()
}

/// Decodes an ABI tensor into a host tensor of element type `target`.
pub fn decode(
    tensor: &Tensor,
    target: ElemType,
    max_elements: u64,
) -> Result<HostTensor, TensorError> {
    let dtype = Dtype::from_code(tensor.dtype).ok_or_else(|| {
        TensorError::Malformed(format!(
            "unknown dtype {:#04x}: expected 1-7 or 0x40-0x52 (fixed-point)",
            tensor.dtype
        ))
    })?;
    let count = element_count(&tensor.shape)
        .ok_or_else(|| TensorError::Malformed(format!("shape {:?} overflows", tensor.shape)))?;
    if count > max_elements {
        return Err(TensorError::TooLarge { elements: count, limit: max_elements });
    }
    let expected = count as u128 * dtype.size() as u128;
    if tensor.data.len() as u128 != expected {
        return Err(TensorError::Malformed(format!(
            "data has {} bytes, but shape {:?} of {dtype} needs {expected}",
            tensor.data.len(),
            tensor.shape
        )));
    }
    let chunks = tensor.data.chunks_exact(dtype.size());
    let same = dtype == Dtype::Elem(target);
    let data = match target {
        ElemType::F32 if same => {
            TensorData::F32(chunks.map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect())
        }
        ElemType::F32 => TensorData::F32(collect(chunks, dtype, to_f32)?),
        ElemType::F64 => TensorData::F64(collect(chunks, dtype, |n| Ok(to_f64(n)))?),
        ElemType::I32 => TensorData::I32(collect(chunks, dtype, |n| {
            to_int(n, i32::MIN as i128, i32::MAX as i128, "int32").map(|v| v as i32)
        })?),
        ElemType::I64 => TensorData::I64(collect(chunks, dtype, |n| {
            to_int(n, i64::MIN as i128, i64::MAX as i128, "int64").map(|v| v as i64)
        })?),
        ElemType::U8 => {
            TensorData::U8(collect(chunks, dtype, |n| to_int(n, 0, 255, "uint8").map(|v| v as u8))?)
        }
        ElemType::I8 => TensorData::I8(collect(chunks, dtype, |n| {
            to_int(n, -128, 127, "int8").map(|v| v as i8)
        })?),
        ElemType::Bool => TensorData::Bool(collect(chunks, dtype, to_bool)?),
    };
    HostTensor::new(tensor.shape.clone(), data)
        .ok_or_else(|| TensorError::Malformed("element count does not match the shape".into()))
}

fn nums(data: &TensorData) -> Box<dyn Iterator<Item = Num> + '_> {
    match data {
        TensorData::F32(v) => Box::new(v.iter().map(|&x| Num::Float(x as f64))),
        TensorData::F64(v) => Box::new(v.iter().map(|&x| Num::Float(x))),
        TensorData::I32(v) => Box::new(v.iter().map(|&x| Num::Int(x as i128))),
        TensorData::I64(v) => Box::new(v.iter().map(|&x| Num::Int(x as i128))),
        TensorData::U8(v) => Box::new(v.iter().map(|&x| Num::Int(x as i128))),
        TensorData::I8(v) => Box::new(v.iter().map(|&x| Num::Int(x as i128))),
        TensorData::Bool(v) => Box::new(v.iter().map(|&x| Num::Int(x as i128))),
    }
}

/// Encodes a host tensor as an ABI tensor of `dtype` (the tensor's own type if `None`).
pub fn encode(tensor: &HostTensor, dtype: Option<Dtype>) -> Result<Tensor, TensorError> {
    let dtype = dtype.unwrap_or(Dtype::Elem(tensor.elem_type()));
    let mut out = Vec::with_capacity(tensor.len() * dtype.size());
    let fail =
        |element: usize| move |reason| TensorError::Conversion { element: element as u64, reason };
    match (tensor.data(), dtype) {
        (TensorData::F32(v), Dtype::Elem(ElemType::F32)) => {
            v.iter().for_each(|x| out.extend_from_slice(&x.to_be_bytes()))
        }
        (TensorData::F64(v), Dtype::Elem(ElemType::F64)) => {
            v.iter().for_each(|x| out.extend_from_slice(&x.to_be_bytes()))
        }
        (TensorData::I64(v), Dtype::Elem(ElemType::I64)) => {
            v.iter().for_each(|x| out.extend_from_slice(&x.to_be_bytes()))
        }
        (data, dtype) => {
            for (i, n) in nums(data).enumerate() {
                match dtype {
                    Dtype::Elem(ElemType::F32) => {
                        out.extend_from_slice(&to_f32(n).map_err(fail(i))?.to_be_bytes())
                    }
                    Dtype::Elem(ElemType::F64) => out.extend_from_slice(&to_f64(n).to_be_bytes()),
                    Dtype::Elem(ElemType::I32) => {
                        let v = to_int(n, i32::MIN as i128, i32::MAX as i128, "int32")
                            .map_err(fail(i))?;
                        out.extend_from_slice(&(v as i32).to_be_bytes());
                    }
                    Dtype::Elem(ElemType::I64) => {
                        let v = to_int(n, i64::MIN as i128, i64::MAX as i128, "int64")
                            .map_err(fail(i))?;
                        out.extend_from_slice(&(v as i64).to_be_bytes());
                    }
                    Dtype::Elem(ElemType::U8) => {
                        out.push(to_int(n, 0, 255, "uint8").map_err(fail(i))? as u8)
                    }
                    Dtype::Elem(ElemType::I8) => {
                        out.push(to_int(n, -128, 127, "int8").map_err(fail(i))? as i8 as u8)
                    }
                    Dtype::Elem(ElemType::Bool) => out.push(to_bool(n).map_err(fail(i))? as u8),
                    Dtype::Fixed(k) => {
                        out.extend_from_slice(&to_fixed(n, k).map_err(fail(i))?.to_be_bytes())
                    }
                }
            }
        }
    }
    Ok(Tensor { dtype: dtype.code(), shape: tensor.shape().to_vec(), data: Bytes::from(out) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn abi(dtype: u8, shape: Vec<u64>, data: Vec<u8>) -> Tensor {
        Tensor { dtype, shape, data: data.into() }
    }

    fn fixed(values: &[i64], k: u8) -> Tensor {
        let data = values.iter().flat_map(|v| v.to_be_bytes()).collect();
        abi(FIXED_BASE + k, vec![values.len() as u64], data)
    }

    /// Every code maps to a dtype and back; codes outside the table are unknown.
    #[test]
    fn dtype_codes() {
        for code in 0..=255u8 {
            match Dtype::from_code(code) {
                Some(d) => assert_eq!(d.code(), code),
                None => assert!(code == 0 || (8..0x40).contains(&code) || code > 0x52, "{code}"),
            }
        }
    }

    /// Fixed-point inputs become floats by v / 10^k.
    #[test]
    fn fixed_to_float() {
        let t = decode(&fixed(&[1_500_000, -250_000, 0], 6), ElemType::F32, 100).unwrap();
        assert_eq!(t.data(), &TensorData::F32(vec![1.5, -0.25, 0.0]));
        let t = decode(&fixed(&[7], 0), ElemType::F64, 100).unwrap();
        assert_eq!(t.data(), &TensorData::F64(vec![7.0]));
    }

    /// Float outputs become fixed-point rounding to nearest, ties to even.
    #[test]
    fn float_to_fixed_ties_even() {
        let t = HostTensor::new(vec![6], TensorData::F64(vec![0.5, 1.5, 2.5, -0.5, -1.5, 1.25]))
            .unwrap();
        let e = encode(&t, Some(Dtype::Fixed(0))).unwrap();
        let back: Vec<i64> =
            e.data.chunks(8).map(|c| i64::from_be_bytes(c.try_into().unwrap())).collect();
        assert_eq!(back, vec![0, 2, 2, -0, -2, 1]);
        let e = encode(&t, Some(Dtype::Fixed(1))).unwrap();
        let back: Vec<i64> =
            e.data.chunks(8).map(|c| i64::from_be_bytes(c.try_into().unwrap())).collect();
        assert_eq!(back, vec![5, 15, 25, -5, -15, 12]);
    }

    /// Fixed-point to integers rounds half to even; to another scale rescales.
    #[test]
    fn fixed_to_int_and_rescale() {
        let t = decode(&fixed(&[15, 25, -15, 14], 1), ElemType::I64, 100).unwrap();
        assert_eq!(t.data(), &TensorData::I64(vec![2, 2, -2, 1]));
        let host = HostTensor::new(vec![1], TensorData::I64(vec![3])).unwrap();
        let e = encode(&host, Some(Dtype::Fixed(18))).unwrap();
        assert_eq!(i64::from_be_bytes(e.data[..].try_into().unwrap()), 3_000_000_000_000_000_000);
    }

    /// Values that do not fit are refused with the element index and a readable reason.
    #[test]
    fn overflow_and_nan_refused() {
        let host = HostTensor::new(vec![2], TensorData::F64(vec![1.0, 1e300])).unwrap();
        let err = encode(&host, Some(Dtype::Fixed(6))).unwrap_err();
        assert!(
            matches!(err, TensorError::Conversion { element: 1, ref reason } if reason.contains("does not fit fixed-point")),
            "{err:?}"
        );
        let host = HostTensor::new(vec![1], TensorData::F32(vec![f32::NAN])).unwrap();
        let err = encode(&host, Some(Dtype::Elem(ElemType::I64))).unwrap_err();
        assert!(
            matches!(err, TensorError::Conversion { element: 0, ref reason } if reason.contains("NaN")),
            "{err:?}"
        );
        let host = HostTensor::new(vec![1], TensorData::I64(vec![i64::MAX])).unwrap();
        assert!(encode(&host, Some(Dtype::Fixed(1))).is_err());
        let big = abi(2, vec![1], 1e39f64.to_be_bytes().to_vec());
        let err = decode(&big, ElemType::F32, 10).unwrap_err();
        assert!(
            matches!(err, TensorError::Conversion { ref reason, .. } if reason.contains("overflows float32"))
        );
        let two = abi(4, vec![1], 2i64.to_be_bytes().to_vec());
        let err = decode(&two, ElemType::Bool, 10).unwrap_err();
        assert!(
            matches!(err, TensorError::Conversion { ref reason, .. } if reason.contains("not a bool"))
        );
        let wide = abi(4, vec![1], 300i64.to_be_bytes().to_vec());
        assert!(decode(&wide, ElemType::U8, 10).is_err());
    }

    /// Malformed tensors: unknown dtype, wrong data length, overflowing shape, over the limit.
    #[test]
    fn malformed() {
        assert!(
            matches!(decode(&abi(9, vec![1], vec![0]), ElemType::F32, 10), Err(TensorError::Malformed(m)) if m.contains("unknown dtype 0x09"))
        );
        assert!(
            matches!(decode(&abi(1, vec![2], vec![0; 4]), ElemType::F32, 10), Err(TensorError::Malformed(m)) if m.contains("needs 8"))
        );
        assert!(
            matches!(decode(&abi(1, vec![u64::MAX, 3], vec![]), ElemType::F32, 10), Err(TensorError::Malformed(m)) if m.contains("overflows"))
        );
        assert_eq!(
            decode(&abi(1, vec![11], vec![0; 44]), ElemType::F32, 10),
            Err(TensorError::TooLarge { elements: 11, limit: 10 })
        );
    }

    /// Every plain dtype round-trips through the ABI unchanged.
    #[test]
    fn round_trip_each_type() {
        let cases = vec![
            TensorData::F32(vec![1.5, -2.0]),
            TensorData::F64(vec![1e-300, 3.25]),
            TensorData::I32(vec![i32::MIN, 7]),
            TensorData::I64(vec![i64::MAX, -1]),
            TensorData::U8(vec![0, 255]),
            TensorData::I8(vec![-128, 127]),
            TensorData::Bool(vec![true, false]),
        ];
        for data in cases {
            let host = HostTensor::new(vec![2], data).unwrap();
            let abi = encode(&host, None).unwrap();
            assert_eq!(decode(&abi, host.elem_type(), 10).unwrap(), host);
        }
    }

    proptest! {
        /// Fixed-point with k decimals round-trips through float64 while |v| < 2^48 (float64
        /// keeps about 15.9 significant digits).
        #[test]
        fn fixed_round_trip(v in -(1i64 << 48)..(1i64 << 48), k in 0u8..=9) {
            let host = decode(&fixed(&[v], k), ElemType::F64, 1).unwrap();
            let back = encode(&host, Some(Dtype::Fixed(k))).unwrap();
            prop_assert_eq!(i64::from_be_bytes(back.data[..].try_into().unwrap()), v);
        }

        /// The decoder never panics and never allocates beyond the limit, whatever the input.
        #[test]
        fn decode_any(dtype: u8, shape in prop::collection::vec(any::<u64>(), 0..5), data in prop::collection::vec(any::<u8>(), 0..64), target in 0usize..7) {
            let targets = [ElemType::F32, ElemType::F64, ElemType::I32, ElemType::I64, ElemType::U8, ElemType::I8, ElemType::Bool];
            let _ = decode(&abi(dtype, shape, data), targets[target], 1 << 20);
        }
    }
}
