//! Host-side tensors: element types and row-major values in native byte order.
//!
//! These are what the precompiles hand to a [`crate::DnnOracle`] and receive back. The
//! Solidity-facing encoding (big-endian, with fixed-point dtypes) lives in the ABI codec.

use serde::{Deserialize, Serialize};

/// An element type ANH can pass to and from a model.
///
/// The discriminants are the ONNX `TensorProto.DataType` codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(i32)]
pub enum ElemType {
    /// IEEE-754 binary32.
    F32 = 1,
    /// Unsigned 8-bit integer.
    U8 = 2,
    /// Signed 8-bit integer.
    I8 = 3,
    /// Signed 32-bit integer.
    I32 = 6,
    /// Signed 64-bit integer.
    I64 = 7,
    /// Boolean, one byte per element.
    Bool = 9,
    /// IEEE-754 binary64.
    F64 = 11,
}

impl ElemType {
    /// The element type for an ONNX `TensorProto.DataType` code, if ANH supports it.
    pub const fn from_onnx(code: i32) -> Option<Self> {
        Some(match code {
            1 => Self::F32,
            2 => Self::U8,
            3 => Self::I8,
            6 => Self::I32,
            7 => Self::I64,
            9 => Self::Bool,
            11 => Self::F64,
            _ => return None,
        })
    }

    /// The ONNX `TensorProto.DataType` code.
    pub const fn onnx_code(self) -> i32 {
        self as i32
    }

    /// Bytes per element.
    pub const fn size(self) -> usize {
        match self {
            Self::F32 | Self::I32 => 4,
            Self::F64 | Self::I64 => 8,
            Self::U8 | Self::I8 | Self::Bool => 1,
        }
    }

    /// Whether this is a floating-point type.
    pub const fn is_float(self) -> bool {
        matches!(self, Self::F32 | Self::F64)
    }

    /// The ONNX name of the type (`float`, `int64`, ...), as used in error messages.
    pub const fn name(self) -> &'static str {
        match self {
            Self::F32 => "float32",
            Self::F64 => "float64",
            Self::I32 => "int32",
            Self::I64 => "int64",
            Self::U8 => "uint8",
            Self::I8 => "int8",
            Self::Bool => "bool",
        }
    }
}

impl core::fmt::Display for ElemType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// The values of a tensor, row-major.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TensorData {
    /// float32 values.
    F32(Vec<f32>),
    /// float64 values.
    F64(Vec<f64>),
    /// int32 values.
    I32(Vec<i32>),
    /// int64 values.
    I64(Vec<i64>),
    /// uint8 values.
    U8(Vec<u8>),
    /// int8 values.
    I8(Vec<i8>),
    /// bool values.
    Bool(Vec<bool>),
}

impl TensorData {
    /// The element type of these values.
    pub const fn elem_type(&self) -> ElemType {
        match self {
            Self::F32(_) => ElemType::F32,
            Self::F64(_) => ElemType::F64,
            Self::I32(_) => ElemType::I32,
            Self::I64(_) => ElemType::I64,
            Self::U8(_) => ElemType::U8,
            Self::I8(_) => ElemType::I8,
            Self::Bool(_) => ElemType::Bool,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Self::F32(v) => v.len(),
            Self::F64(v) => v.len(),
            Self::I32(v) => v.len(),
            Self::I64(v) => v.len(),
            Self::U8(v) => v.len(),
            Self::I8(v) => v.len(),
            Self::Bool(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A tensor on the host: a shape and row-major values.
///
/// Invariant (checked by [`HostTensor::new`]): the product of `shape` equals the number of
/// values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostTensor {
    shape: Vec<u64>,
    data: TensorData,
}

impl HostTensor {
    /// A tensor from a shape and values; `None` when the element count does not match the
    /// shape (or the shape's product overflows).
    pub fn new(shape: Vec<u64>, data: TensorData) -> Option<Self> {
        let count = shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))?;
        (count == data.len() as u64).then_some(Self { shape, data })
    }

    /// The shape, outermost dimension first.
    pub fn shape(&self) -> &[u64] {
        &self.shape
    }

    /// The values.
    pub fn data(&self) -> &TensorData {
        &self.data
    }

    /// The element type.
    pub fn elem_type(&self) -> ElemType {
        self.data.elem_type()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Splits into shape and values.
    pub fn into_parts(self) -> (Vec<u64>, TensorData) {
        (self.shape, self.data)
    }
}
