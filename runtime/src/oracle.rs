//! The local oracle: the node runs models itself, on its own ONNX Runtime.
//!
//! This is what `eth_call` and `eth_estimateGas` use (Call mode), and what the block builder
//! uses until an executor committee is configured. It counts the inferences it runs, so a node
//! can show how much DNN work it did (`anh_stats`).

use crate::{ModelRuntime, ModelSource, RuntimeError};
use alloy_primitives::B256;
use anh_precompiles::{DnnOracle, HostTensor, InferRequest, ModelInfo, OracleError};
use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

/// Runs models on this node's runtime, from this node's model store.
#[derive(Debug)]
pub struct LocalOracle {
    models: Arc<dyn ModelSource>,
    runtime: Arc<dyn ModelRuntime>,
    inferences: AtomicU64,
}

impl LocalOracle {
    /// An oracle over `models`, running them on `runtime`.
    pub fn new(models: Arc<dyn ModelSource>, runtime: Arc<dyn ModelRuntime>) -> Self {
        Self { models, runtime, inferences: AtomicU64::new(0) }
    }

    /// Inferences run successfully so far.
    pub fn inferences(&self) -> u64 {
        self.inferences.load(Ordering::Relaxed)
    }
}

impl DnnOracle for LocalOracle {
    fn model_info(&self, model: B256) -> Result<ModelInfo, OracleError> {
        self.models.model_info(&model).ok_or(OracleError::ModelUnavailable(model))
    }

    fn infer(&self, request: InferRequest<'_>) -> Result<Vec<HostTensor>, OracleError> {
        let outputs = self.runtime.run(request.model, request.inputs).map_err(|e| match e {
            RuntimeError::UnknownModel(model) => OracleError::ModelUnavailable(model),
            other => OracleError::Failed(other.to_string()),
        })?;
        self.inferences.fetch_add(1, Ordering::Relaxed);
        Ok(outputs)
    }
}
