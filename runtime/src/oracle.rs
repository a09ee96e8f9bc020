//! The local oracle: the node runs models itself, on its own ONNX Runtime.
//!
//! This is what `eth_call` and `eth_estimateGas` use (Call mode), and what the block builder
//! uses until an executor committee is configured. It counts the inferences it runs, so a node
//! can show how much DNN work it did (`anh_stats`). Models it trains go into its store: on
//! disk ([`LocalOracle::with_store`]), or, for Call mode, in memory only
//! ([`LocalOracle::with_scratch_store`]: what a call trains never enters the chain).

use crate::{ModelRuntime, ModelSource, ModelStore, RuntimeError};
use alloy_primitives::B256;
use anh_primitives::{
    DnnOracle, HostTensor, InferRequest, ModelInfo, OracleError, Rule, TrainRequest, Trained,
};
use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

/// Runs models on this node's runtime, from this node's model store.
#[derive(Debug)]
pub struct LocalOracle {
    models: Arc<dyn ModelSource>,
    runtime: Arc<dyn ModelRuntime>,
    /// Where trained models go.
    store: Option<Arc<ModelStore>>,
    /// Whether they stay in the store's memory only ([`ModelStore::put_scratch`]).
    scratch: bool,
    inferences: AtomicU64,
}

impl LocalOracle {
    /// An oracle over `models`, running them on `runtime`.
    pub fn new(models: Arc<dyn ModelSource>, runtime: Arc<dyn ModelRuntime>) -> Self {
        Self { models, runtime, store: None, scratch: false, inferences: AtomicU64::new(0) }
    }

    /// Keeps the models it trains in `store` (without one, training fails).
    pub fn with_store(mut self, store: Arc<ModelStore>) -> Self {
        self.store = Some(store);
        self.scratch = false;
        self
    }

    /// Keeps the models it trains in `store`'s memory only ([`ModelStore::put_scratch`]):
    /// Call mode (`eth_call`, `eth_estimateGas`), whose training never enters the chain.
    pub fn with_scratch_store(mut self, store: Arc<ModelStore>) -> Self {
        self.store = Some(store);
        self.scratch = true;
        self
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

    fn train(&self, request: TrainRequest<'_>) -> Result<Trained, OracleError> {
        let store = self.store.as_ref().ok_or_else(|| {
            OracleError::Failed("this node keeps no model store for trained models".into())
        })?;
        let model = request.model;
        let output = self
            .runtime
            .train(
                model,
                request.batch,
                &request.params,
                &crate::log_progress(model, request.params.steps),
            )
            .map_err(|e| match e {
                RuntimeError::UnknownModel(model) => OracleError::ModelUnavailable(model),
                other => OracleError::Failed(other.to_string()),
            })?;
        // What the committee would refuse, refused alike (Call mode answers as Build mode).
        let old = output.losses.first().copied().unwrap_or(f64::NAN);
        request
            .rule
            .or(Rule::DEFAULT_TRAIN)
            .check_loss_rise(old, output.loss)
            .map_err(OracleError::Failed)?;
        let loss = Trained::fixed_loss(output.loss).map_err(OracleError::Failed)?;
        let info = if self.scratch {
            store.put_scratch(&output.model, model)
        } else {
            store.put_with_parent(&output.model, Some(model))
        }
        .map_err(|e| OracleError::Failed(format!("the trained model is refused: {e}")))?;
        Ok(Trained { model: info.hash, size: info.size, loss })
    }
}
