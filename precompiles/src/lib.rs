//! ANH precompiles: Solidity contracts run and train ONNX models.
//!
//! This crate holds what every ANH component agrees on — the tensor types and their
//! Solidity ABI, the model description recorded on chain, and the [`DnnOracle`] trait
//! through which the precompiles obtain DNN results — plus the revm precompile provider.

pub mod model;
pub mod oracle;
pub mod provider;
pub mod tensor;

pub use model::{Dim, ModelInfo, TensorSpec};
pub use oracle::DnnOracle;
pub use provider::AnhPrecompiles;
pub use tensor::{ElemType, HostTensor, TensorData};
