//! The boundary between the precompiles and whatever computes DNN results.
//!
//! Implementations: the node's own ONNX Runtime (`anh-runtime`'s `LocalOracle`), the
//! executor committee (Build mode), and a block's attestations (Replay mode). The precompiles
//! have already checked and converted the inputs when they ask; they check the outputs'
//! count and types again when the answer comes back.

use crate::{
    job::{JobKind, JobRecord, NO_QUORUM, encode_tensors, encode_train_payload, job_id},
    model::ModelInfo,
    rule::Rule,
    seal::BlockAttestation,
    tensor::HostTensor,
    train::{TrainParams, Trained},
};
use alloy_primitives::{B256, Bytes};
use core::fmt::Debug;

/// Where in the chain a request comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallContext {
    /// Chain id.
    pub chain_id: u64,
    /// Number of the block being built, replayed or called at.
    pub block_number: u64,
}

/// An inference request.
#[derive(Debug)]
pub struct InferRequest<'a> {
    /// The model (keccak256 of its file).
    pub model: B256,
    /// What the registry recorded about it.
    pub info: &'a ModelInfo,
    /// The inputs, in the model's declared order and element types.
    pub inputs: Vec<HostTensor>,
    /// Where the call comes from.
    pub context: CallContext,
    /// How a committee settles it: the call's rule, else the model's ([`Rule::DEFAULT`]:
    /// the committee's default).
    pub rule: Rule,
}

/// A training request.
#[derive(Debug)]
pub struct TrainRequest<'a> {
    /// The model to train from.
    pub model: B256,
    /// What the registry recorded about it.
    pub info: &'a ModelInfo,
    /// The model's inputs (in its element types), the labels (int64 class indices, or
    /// targets in the first output's element type), then sample weights (float32) for loss 3.
    pub batch: Vec<HostTensor>,
    /// How to train.
    pub params: TrainParams,
    /// Where the call comes from.
    pub context: CallContext,
    /// How a committee settles it ([`Rule::DEFAULT`]: the committee's default training rule).
    pub rule: Rule,
}

/// Why an oracle could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OracleError {
    /// The oracle does not have the model's bytes.
    #[error("model {0} is not available")]
    ModelUnavailable(B256),
    /// The computation failed (bad input for the runtime, runtime error, …).
    #[error("{0}")]
    Failed(String),
    /// Too few committee members signed the result.
    #[error("no quorum for job {job}: {signatures} signature(s), {threshold} needed")]
    NoQuorum {
        /// The job.
        job: B256,
        /// Valid signatures gathered.
        signatures: usize,
        /// Signatures needed.
        threshold: usize,
    },
}

/// Computes DNN results for the precompiles.
pub trait DnnOracle: Send + Sync + Debug {
    /// Analysis of a model (used by `register`): the local store's, the committee's settled
    /// one, or a block's record of it.
    fn model_info(&self, model: B256) -> Result<ModelInfo, OracleError>;

    /// Runs a model.
    fn infer(&self, request: InferRequest<'_>) -> Result<Vec<HostTensor>, OracleError>;

    /// Trains a model. Oracles that cannot train answer [`OracleError::Failed`].
    fn train(&self, request: TrainRequest<'_>) -> Result<Trained, OracleError> {
        let _ = request;
        Err(OracleError::Failed("this node's DNN oracle cannot train".into()))
    }
}

/// Build mode's ledger of the block being sealed (the executor committee): the records the
/// block carries, and the jobs that could not be settled provably. The block builder takes
/// both after each transaction; a transaction that asked for an unprovable job leaves the block
/// (back to the pool, with the reason), so that no block records what no quorum signed.
pub trait JobLedger: Send + Sync {
    /// The provable records (settled, or a failure `t` members signed) since the last call,
    /// in first-use order; the next call starts a new block.
    fn take_records(&self) -> Vec<JobRecord>;

    /// Why jobs answered since the last call could not be settled provably (no quorum:
    /// members down, slow or disagreeing), one reason per answer.
    fn take_unprovable(&self) -> Vec<String>;

    /// How many jobs the block being built has recorded so far: a mark for
    /// [`Self::forget_since`].
    fn mark(&self) -> usize;

    /// Forgets the jobs first recorded since `mark`: their transaction left the block, and a
    /// follower refuses a record that no transaction of the block asks for.
    fn forget_since(&self, mark: usize);

    /// Seals block `number` (child of `parent`): [`Self::take_records`], and the committee's
    /// block-level attestation of them ([`crate::seal`]), the records then without signatures
    /// of their own. When no `t` members sign the whole block, the records keep their per-job
    /// signatures and the attestation is empty. `None`: an answer given optimistically was not
    /// confirmed — execute the block again (the ledger then settles its jobs one by one, and
    /// seals the second time). The default: the records as they are.
    fn seal(&self, number: u64, parent: B256) -> Option<(Vec<JobRecord>, BlockAttestation)> {
        let _ = (number, parent);
        Some((self.take_records(), BlockAttestation::default()))
    }
}

/// An oracle that remembers its inner oracle's answers by job (model, inputs or batch and
/// parameters, rule) for as long as it lives. `eth_estimateGas` executes a transaction many
/// times while it searches for its gas limit; through this oracle, a model runs (or trains)
/// once per search, not once per execution.
#[derive(Debug)]
pub struct Remembering {
    inner: std::sync::Arc<dyn DnnOracle>,
    infers: std::sync::Mutex<std::collections::HashMap<B256, Result<Vec<HostTensor>, OracleError>>>,
    trains: std::sync::Mutex<std::collections::HashMap<B256, Result<Trained, OracleError>>>,
}

impl Remembering {
    /// Remembers what `inner` answers.
    pub fn new(inner: std::sync::Arc<dyn DnnOracle>) -> Self {
        Self { inner, infers: Default::default(), trains: Default::default() }
    }
}

impl DnnOracle for Remembering {
    fn model_info(&self, model: B256) -> Result<ModelInfo, OracleError> {
        self.inner.model_info(model)
    }

    fn infer(&self, request: InferRequest<'_>) -> Result<Vec<HostTensor>, OracleError> {
        let payload = encode_tensors(&request.inputs).map_err(OracleError::Failed)?;
        let job = job_id(JobKind::Infer, request.model, &payload, &request.rule);
        if let Some(answer) = self.infers.lock().ok().and_then(|m| m.get(&job).cloned()) {
            return answer;
        }
        let answer = self.inner.infer(request);
        if let Ok(mut infers) = self.infers.lock() {
            infers.insert(job, answer.clone());
        }
        answer
    }

    fn train(&self, request: TrainRequest<'_>) -> Result<Trained, OracleError> {
        let payload =
            encode_train_payload(&request.batch, &request.params).map_err(OracleError::Failed)?;
        let job = job_id(JobKind::Train, request.model, &payload, &request.rule);
        if let Some(answer) = self.trains.lock().ok().and_then(|m| m.get(&job).cloned()) {
            return answer;
        }
        let answer = self.inner.train(request);
        if let Ok(mut trains) = self.trains.lock() {
            trains.insert(job, answer.clone());
        }
        answer
    }
}

impl JobRecord {
    /// The revert a failed job replays as (the same the builder reverted with).
    pub fn failure_error(&self) -> OracleError {
        let reason = String::from_utf8_lossy(&self.failure).into_owned();
        if let Some(counts) = reason.strip_prefix(NO_QUORUM) {
            let mut parts = counts.split('/').map(|n| n.trim().parse().unwrap_or(0));
            return OracleError::NoQuorum {
                job: self.job,
                signatures: parts.next().unwrap_or(0),
                threshold: parts.next().unwrap_or(0),
            };
        }
        if reason.starts_with("model unavailable") {
            return OracleError::ModelUnavailable(self.model);
        }
        OracleError::Failed(reason.strip_prefix("failed: ").unwrap_or(&reason).to_string())
    }

    /// The bytes of a failure that replays as `error`.
    pub fn failure_of(error: &OracleError) -> Bytes {
        let text = match error {
            OracleError::NoQuorum { signatures, threshold, .. } => {
                format!("{NO_QUORUM}{signatures}/{threshold}")
            }
            OracleError::ModelUnavailable(model) => format!("model unavailable: {model}"),
            OracleError::Failed(reason) => format!("failed: {reason}"),
        };
        Bytes::from(text.into_bytes())
    }
}
