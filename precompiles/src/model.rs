//! What the chain records about a model: its I/O signature and its cost.
//!
//! A [`ModelInfo`] is produced by model analysis when a model is uploaded, written into
//! chain state by the registry precompile, and read back for gas and input checks. It is
//! all a replaying node needs: no model bytes.

use crate::tensor::ElemType;
use alloy_primitives::B256;
use serde::{Deserialize, Serialize};

/// One dimension of a declared tensor shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Dim {
    /// A fixed size.
    Fixed(u64),
    /// A symbolic size (ONNX `dim_param`, e.g. `"batch"`), or an unnamed free dimension
    /// (empty string), bound by the caller's input.
    Symbolic(String),
}

/// A declared model input or output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorSpec {
    /// The graph's name for it.
    pub name: String,
    /// Element type.
    pub elem: ElemType,
    /// Declared shape.
    pub shape: Vec<Dim>,
}

/// What analysis found in a model file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// keccak256 of the model file's bytes.
    pub hash: B256,
    /// Size of the model file in bytes.
    pub size: u64,
    /// Multiply-accumulate count of one evaluation with every symbolic dimension set to 1.
    pub macs: u64,
    /// Declared inputs, in graph order (initializers excluded).
    pub inputs: Vec<TensorSpec>,
    /// Declared outputs, in graph order.
    pub outputs: Vec<TensorSpec>,
    /// The model this one was trained from, if any.
    pub parent: Option<B256>,
}
