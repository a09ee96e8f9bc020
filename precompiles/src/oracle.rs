//! The boundary between the precompiles and whatever computes DNN results.
//!
//! Implementations: the node's own ONNX Runtime (`anh-runtime`'s `LocalOracle`), the
//! executor committee (Build mode), and a block's attestations (Replay mode). The precompiles
//! have already checked and converted the inputs when they ask; they check the outputs'
//! count and types again when the answer comes back.

use crate::{attestation::Rule, model::ModelInfo, tensor::HostTensor};
use alloy_primitives::B256;
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
}

impl From<OracleError> for crate::error::DnnError {
    fn from(error: OracleError) -> Self {
        match error {
            OracleError::ModelUnavailable(model) => Self::ModelUnavailable(model),
            OracleError::Failed(reason) => Self::InferenceFailed(reason),
            OracleError::NoQuorum { job, signatures, threshold } => {
                Self::NoQuorum { job, signatures, threshold }
            }
        }
    }
}
