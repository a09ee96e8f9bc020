//! The JSON bodies of the executor's HTTP protocol (see [`crate::server`]), shared by the
//! server and [`crate::RemoteMember`]. Byte strings are `0x`-hex, field names camelCase.

use crate::job::Job;
use alloy_primitives::{Address, B256, Bytes};
use serde::{Deserialize, Serialize};

/// `POST /v1/compute` answer: the executor's output for the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputeResponse {
    /// The job id.
    pub job: B256,
    /// The output (ABI `Tensor[]`, or the encoded analysis of a registration).
    pub output: Bytes,
}

/// `POST /v1/attest` body: a job and the candidate output to sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestRequest {
    /// The job.
    #[serde(flatten)]
    pub job: Job,
    /// The leader's output.
    pub candidate: Bytes,
}

/// `POST /v1/attest-failure` body: a job and the failure to sign (the bytes a failed record
/// carries, e.g. `failed: <reason>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestFailureRequest {
    /// The job.
    #[serde(flatten)]
    pub job: Job,
    /// The failure the committee agreed on.
    pub failure: Bytes,
}

/// `POST /v1/attest` and `/v1/attest-failure` answer: the executor's signature of the digest
/// (or of the failure digest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestResponse {
    /// The job id.
    pub job: B256,
    /// 65 bytes, `r ‖ s ‖ v`, low-s.
    pub signature: Bytes,
}

/// `POST /v1/attest-block` answer: the executor's signature of the block digest over all of
/// the block's outcomes (the body is a [`crate::job::BlockJobs`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockAttestResponse {
    /// The block's number.
    pub number: u64,
    /// 65 bytes, `r ‖ s ‖ v`, low-s.
    pub signature: Bytes,
}

/// `POST /v1/artifact` body: which trained model file to send (the answer is the file's
/// bytes, `application/octet-stream`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRequest {
    /// The model, as the executor's training result named it.
    pub model: B256,
}

/// `GET /v1/health` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthResponse {
    /// The executor's address.
    pub address: Address,
    /// Jobs running now.
    pub busy: usize,
    /// Jobs waiting for a slot.
    pub queued: usize,
}

/// Every error answer: the message, a machine-readable code
/// ([`crate::ExecutorError::code`]) and, for refusals and job failures, the bare reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// What went wrong, for people.
    pub error: String,
    /// What went wrong, for programs.
    #[serde(default)]
    pub code: String,
    /// The bare reason of a refusal or a job failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The job a refusal is about (a block round names the first job refused), or the job
    /// too large for the executor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<B256>,
    /// For a job too large: its estimated MACs and the executor's limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub macs: Option<u64>,
    /// See `macs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}
