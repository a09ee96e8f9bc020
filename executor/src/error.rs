//! The crate's one error type: every way loading a key, computing or attesting a job, talking
//! to a member over HTTP, or configuring a committee can fail.
//!
//! The variants fall in three groups, which the committee treats differently:
//!
//! - **Job outcomes** that every honest executor reaches alike — [`ExecutorError::Failed`]
//!   (ONNX Runtime rejected the inputs, an input does not match the model) and
//!   [`ExecutorError::ModelUnavailable`]. When `t` members report the same one, the job settles
//!   as a failed record with that reason.
//! - **Refusals**: [`ExecutorError::Refused`] (the rule's property does not hold for the
//!   candidate, so the executor will not sign it), [`ExecutorError::JobTooLarge`],
//!   [`ExecutorError::BadJob`].
//! - **Member faults**: timeouts, transport errors, unauthorized or busy executors. The
//!   committee asks the next member.

use alloy_primitives::{Address, B256};
use anh_runtime::RuntimeError;
use std::{path::PathBuf, time::Duration};

/// `Result` with [`ExecutorError`].
pub type Result<T, E = ExecutorError> = core::result::Result<T, E>;

/// What a [`crate::Member`] call fails with: the crate's one error type.
pub type MemberError = ExecutorError;

/// Everything that can go wrong in `anh-executor`.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// No key was given.
    #[error("no executor key: pass --key-file FILE or set {}", crate::key::KEY_ENV)]
    NoKey,
    /// The key file could not be read.
    #[error("cannot read executor key file {}: {reason}", path.display())]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The key file is readable by every user of the machine.
    #[error(
        "executor key file {} is readable by every user (mode {mode:o}): run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    KeyFileWorldReadable {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A key file or variable does not hold a secp256k1 private key. Never contains the key.
    #[error("{origin} does not hold a secp256k1 private key: {reason}")]
    InvalidKey {
        /// Where the key came from (a file or a variable).
        origin: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The job itself is malformed (a default rule, a registration with a payload, …).
    #[error("invalid job: {0}")]
    BadJob(String),
    /// The executor cannot get the model's bytes.
    #[error("model {model} is not available to this executor: {reason}")]
    ModelUnavailable {
        /// The model.
        model: B256,
        /// Why (not in the store, the node does not have it, its bytes hash wrong, …).
        reason: String,
    },
    /// Computing the job failed in a way every executor reproduces (ONNX Runtime's message,
    /// an input that does not match the model, an undecodable payload). Displays as the bare
    /// reason, which is what a failed record carries.
    #[error("{0}")]
    Failed(String),
    /// The job costs more than this executor accepts.
    #[error(
        "job {job} needs about {macs} MACs (the model's cost at its inputs' shapes), over this executor's limit of {limit}"
    )]
    JobTooLarge {
        /// The job.
        job: B256,
        /// Its estimated cost.
        macs: u64,
        /// The limit.
        limit: u64,
    },
    /// The executor will not sign the candidate: the rule's property does not hold.
    #[error("executor {executor} refuses to sign job {job}: {reason}")]
    Refused {
        /// The executor.
        executor: Address,
        /// The job.
        job: B256,
        /// Why the property does not hold.
        reason: String,
    },
    /// A member did not answer in time.
    #[error("executor {member} did not answer within {after:?}")]
    Timeout {
        /// The member (`in-process` or its URL).
        member: String,
        /// The timeout.
        after: Duration,
    },
    /// A request was not signed by a node the executor serves (HTTP 401).
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The executor's queue is full (HTTP 503).
    #[error("executor busy: {0}")]
    Busy(String),
    /// A request body is over the executor's limit (HTTP 413).
    #[error("request too large: {0}")]
    TooLarge(String),
    /// A member could not be reached, or answered something unreadable.
    #[error("executor {member}: {reason}")]
    Transport {
        /// The member (`in-process` or its URL).
        member: String,
        /// What went wrong.
        reason: String,
    },
    /// A committee, server or CLI configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// An I/O operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Signing failed (never expected with a valid key).
    #[error("signing failed: {0}")]
    Signing(String),
    /// The model store or ONNX Runtime failed to start.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

impl ExecutorError {
    /// Whether this is a job outcome every honest executor reproduces (see the module docs):
    /// the committee settles a job as failed when `t` members report the same one.
    pub fn is_job_failure(&self) -> bool {
        matches!(self, Self::Failed(_) | Self::ModelUnavailable { .. })
    }

    /// The outcome a job failure of `model` is recorded and signed as (see
    /// [`anh_primitives::JobRecord::failure_of`]); `None` for any other error.
    pub fn job_failure(&self, model: B256) -> Option<anh_primitives::OracleError> {
        match self {
            Self::Failed(reason) => Some(anh_primitives::OracleError::Failed(reason.clone())),
            Self::ModelUnavailable { .. } => {
                Some(anh_primitives::OracleError::ModelUnavailable(model))
            }
            _ => None,
        }
    }

    /// A short machine-readable code, sent over HTTP as `code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoKey | Self::KeyFile { .. } | Self::KeyFileWorldReadable { .. } => "key",
            Self::InvalidKey { .. } => "key",
            Self::BadJob(_) => "bad-job",
            Self::ModelUnavailable { .. } => "model-unavailable",
            Self::Failed(_) => "failed",
            Self::JobTooLarge { .. } => "job-too-large",
            Self::Refused { .. } => "refused",
            Self::Timeout { .. } => "timeout",
            Self::Unauthorized(_) => "unauthorized",
            Self::Busy(_) => "busy",
            Self::TooLarge(_) => "too-large",
            Self::Transport { .. } => "transport",
            Self::Config(_) => "config",
            Self::Io { .. } => "io",
            Self::Signing(_) => "signing",
            Self::Runtime(_) => "runtime",
        }
    }
}
