//! The boundary between the precompiles and whatever computes DNN results.

use crate::{model::ModelInfo, tensor::HostTensor};
use alloy_primitives::B256;
use core::fmt::Debug;

/// Computes DNN results for the precompiles.
///
/// Implementations: the node's local ONNX Runtime (Call mode), the executor committee
/// (Build mode), and the block's attestations (Replay mode).
pub trait DnnOracle: Send + Sync + Debug {
    /// Analysis of a model the local store holds, or `None` if it holds no such model.
    fn model_info(&self, model: B256) -> Option<ModelInfo>;

    /// Runs `model` on `inputs`, which already have the model's declared element types.
    fn infer(&self, model: B256, inputs: Vec<HostTensor>) -> Result<Vec<HostTensor>, String>;
}
