//! The local oracle: the node runs models itself, on its own ONNX Runtime.
//!
//! This is what `eth_call` and `eth_estimateGas` use (Call mode), and what the block builder
//! uses until an executor committee is configured. It counts the inferences it runs, so a node
//! can show how much DNN work it did (`anh_stats`).
//!
//! It remembers its most recent results by job (model and inputs, or model, batch and
//! parameters): `eth_estimateGas` executes a transaction many times while it searches for its
//! gas limit, and must not run a model, or train one, again each time.

use crate::{ModelRuntime, ModelSource, ModelStore, RuntimeError};
use alloy_primitives::B256;
use anh_precompiles::{
    DnnOracle, HostTensor, InferRequest, ModelInfo, OracleError, Rule, TrainRequest, Trained,
};
use anh_precompiles::{
    JobKind,
    attestation::{encode_tensors, encode_train_payload, job_id},
};
use parking_lot::Mutex;
use std::{
    collections::VecDeque,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

/// Results remembered.
const RECENT_RESULTS: usize = 32;
/// Largest inference result remembered, in elements.
const RECENT_MAX_ELEMENTS: usize = 1 << 18;

/// A remembered result.
#[derive(Debug, Clone)]
enum Recent {
    Infer(Vec<HostTensor>),
    Train(Trained),
}

/// Runs models on this node's runtime, from this node's model store.
#[derive(Debug)]
pub struct LocalOracle {
    models: Arc<dyn ModelSource>,
    runtime: Arc<dyn ModelRuntime>,
    /// Where trained models go.
    store: Option<Arc<ModelStore>>,
    inferences: AtomicU64,
    /// The most recent results by job id, newest last.
    recent: Mutex<VecDeque<(B256, Recent)>>,
}

impl LocalOracle {
    /// An oracle over `models`, running them on `runtime`.
    pub fn new(models: Arc<dyn ModelSource>, runtime: Arc<dyn ModelRuntime>) -> Self {
        Self {
            models,
            runtime,
            store: None,
            inferences: AtomicU64::new(0),
            recent: Mutex::default(),
        }
    }

    /// Keeps the models it trains in `store` (without one, training fails).
    pub fn with_store(mut self, store: Arc<ModelStore>) -> Self {
        self.store = Some(store);
        self
    }

    fn recall(&self, job: &B256) -> Option<Recent> {
        self.recent.lock().iter().find(|(id, _)| id == job).map(|(_, r)| r.clone())
    }

    fn remember(&self, job: B256, result: Recent) {
        let mut recent = self.recent.lock();
        if recent.len() >= RECENT_RESULTS {
            recent.pop_front();
        }
        recent.push_back((job, result));
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
        let payload = encode_tensors(&request.inputs).map_err(OracleError::Failed)?;
        let job = job_id(JobKind::Infer, request.model, &payload, &Rule::DEFAULT);
        if let Some(Recent::Infer(outputs)) = self.recall(&job) {
            return Ok(outputs);
        }
        let outputs = self.runtime.run(request.model, request.inputs).map_err(|e| match e {
            RuntimeError::UnknownModel(model) => OracleError::ModelUnavailable(model),
            other => OracleError::Failed(other.to_string()),
        })?;
        self.inferences.fetch_add(1, Ordering::Relaxed);
        if outputs.iter().map(|t| t.shape().iter().product::<u64>() as usize).sum::<usize>()
            <= RECENT_MAX_ELEMENTS
        {
            self.remember(job, Recent::Infer(outputs.clone()));
        }
        Ok(outputs)
    }

    fn train(&self, request: TrainRequest<'_>) -> Result<Trained, OracleError> {
        let store = self.store.as_ref().ok_or_else(|| {
            OracleError::Failed("this node keeps no model store for trained models".into())
        })?;
        let model = request.model;
        let payload =
            encode_train_payload(&request.batch, &request.params).map_err(OracleError::Failed)?;
        let rule = request.rule.or(Rule::DEFAULT_TRAIN);
        let job = job_id(JobKind::Train, model, &payload, &rule);
        if let Some(Recent::Train(trained)) = self.recall(&job) {
            return Ok(trained);
        }
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
        rule.check_loss_rise(old, output.loss).map_err(OracleError::Failed)?;
        let loss = Trained::fixed_loss(output.loss).map_err(OracleError::Failed)?;
        let info = store
            .put_with_parent(&output.model, Some(model))
            .map_err(|e| OracleError::Failed(format!("the trained model is refused: {e}")))?;
        let trained = Trained { model: info.hash, size: info.size, loss };
        self.remember(job, Recent::Train(trained));
        Ok(trained)
    }
}
