//! A committee member that is an `anh executor` process, reached over HTTP
//! ([`crate::server`]'s protocol), with every request signed by the node's key
//! ([`crate::auth`]).
//!
//! HTTP answers map back to the crate's errors: 401 → [`ExecutorError::Unauthorized`], 409 →
//! [`ExecutorError::Refused`], 503 → [`ExecutorError::Busy`], 413 →
//! [`ExecutorError::TooLarge`], 422 → [`ExecutorError::Failed`] (with the executor's bare
//! reason, so that failures compare equal across members) or
//! [`ExecutorError::JobTooLarge`] (code `job-too-large`, with the answer's `job`, `macs` and
//! `limit`), 404 → [`ExecutorError::ModelUnavailable`], a timeout →
//! [`ExecutorError::Timeout`], anything else (connection refused, unreadable answer, an
//! answer for another job) → [`ExecutorError::Transport`].

use crate::{
    auth::{sign_request, unix_now},
    error::{ExecutorError, Result},
    job::{BlockRound, Job},
    member::{Member, MemberFuture},
    wire::{
        ArtifactRequest, AttestResponse, BlockAttestResponse, ComputeResponse, ErrorResponse,
        HealthResponse,
    },
};
use alloy_primitives::{Address, Bytes};
use k256::ecdsa::SigningKey;
use reqwest::StatusCode;
use serde::{Serialize, de::DeserializeOwned};
use std::{fmt, sync::Arc, time::Duration};

/// The borrowed form of [`crate::wire::AttestRequest`].
#[derive(Serialize)]
struct AttestBody<'a> {
    #[serde(flatten)]
    job: &'a Job,
    candidate: &'a Bytes,
}

/// The borrowed form of [`crate::wire::AttestFailureRequest`].
#[derive(Serialize)]
struct AttestFailureBody<'a> {
    #[serde(flatten)]
    job: &'a Job,
    failure: &'a Bytes,
}

/// Largest JSON answer a [`RemoteMember`] reads (an output, a signature, an error).
pub const MAX_ANSWER_BYTES: usize = 128 << 20;

/// Largest trained model file a [`RemoteMember`] reads (`/v1/artifact`).
pub const MAX_ARTIFACT_BYTES: usize = 1 << 30;

/// How long a [`RemoteMember`] waits for a TCP connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// An `anh executor` at a URL (see the module docs).
#[derive(Clone)]
pub struct RemoteMember {
    url: String,
    address: Address,
    node_key: Arc<SigningKey>,
    client: reqwest::Client,
    /// Largest JSON answer read ([`MAX_ANSWER_BYTES`]).
    max_answer: usize,
}

impl fmt::Debug for RemoteMember {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteMember")
            .field("url", &self.url)
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl RemoteMember {
    /// The executor at `url` (e.g. `http://10.0.0.2:9545`), which signs as `address`; requests
    /// are signed with `node_key`.
    pub fn new(
        url: impl Into<String>,
        address: Address,
        node_key: Arc<SigningKey>,
    ) -> Result<Self> {
        let url = url.into().trim_end_matches('/').to_string();
        if !url.starts_with("http://") && !url.starts_with("https://") {
            return Err(ExecutorError::Config(format!(
                "executor URL {url:?} must start with http:// or https://"
            )));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| ExecutorError::Config(format!("cannot build an HTTP client: {e}")))?;
        Ok(Self { url, address, node_key, client, max_answer: MAX_ANSWER_BYTES })
    }

    /// With another cap on the JSON answers it reads.
    pub fn with_max_answer_bytes(mut self, bytes: usize) -> Self {
        self.max_answer = bytes;
        self
    }

    /// The body of `response`, refused past `limit` bytes (declared or read) — a member's
    /// answer is not trusted to be small.
    async fn read_capped(&self, response: reqwest::Response, limit: usize) -> Result<Vec<u8>> {
        let too_large = || ExecutorError::Transport {
            member: self.url.clone(),
            reason: format!("the answer is larger than {limit} bytes"),
        };
        read_capped(response, limit, too_large, |e| self.transport_error(e)).await
    }

    /// The executor at `url`, asking it for its address (`GET /v1/health`).
    pub async fn connect(url: impl Into<String>, node_key: Arc<SigningKey>) -> Result<Self> {
        let mut member = Self::new(url, Address::ZERO, node_key)?;
        member.address = member.health().await?.address;
        Ok(member)
    }

    /// The executor's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `GET /v1/health`.
    pub async fn health(&self) -> Result<HealthResponse> {
        let response = self
            .client
            .get(format!("{}/v1/health", self.url))
            .timeout(CONNECT_TIMEOUT)
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        self.answer(response, None).await
    }

    fn transport_error(&self, error: reqwest::Error) -> ExecutorError {
        if error.is_timeout() {
            return ExecutorError::Timeout { member: self.url.clone(), after: CONNECT_TIMEOUT };
        }
        let mut reason = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            reason = format!("{reason}: {cause}");
            source = cause.source();
        }
        ExecutorError::Transport { member: self.url.clone(), reason }
    }

    /// Sends a signed `POST` of `body` to `path`.
    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        job: &Job,
    ) -> Result<T> {
        let response = self.signed_post(path, body).await?;
        self.answer(response, Some(job)).await
    }

    /// A signed `POST` of `body` to `path`, sent.
    async fn signed_post<B: Serialize>(&self, path: &str, body: &B) -> Result<reqwest::Response> {
        let body = serde_json::to_vec(body).map_err(|e| ExecutorError::Transport {
            member: self.url.clone(),
            reason: format!("cannot encode the request: {e}"),
        })?;
        let signed = sign_request(&self.node_key, unix_now(), &body)?;
        self.client
            .post(format!("{}{path}", self.url))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(crate::auth::TIMESTAMP_HEADER, signed.timestamp)
            .header(crate::auth::SIGNATURE_HEADER, signed.signature)
            .header(crate::auth::BODY_HASH_HEADER, signed.body_hash)
            .body(body)
            .send()
            .await
            .map_err(|e| self.transport_error(e))
    }

    /// The answer's JSON, or the error it stands for.
    async fn answer<T: DeserializeOwned>(
        &self,
        response: reqwest::Response,
        job: Option<&Job>,
    ) -> Result<T> {
        let status = response.status();
        let bytes = self.read_capped(response, self.max_answer).await?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| ExecutorError::Transport {
                member: self.url.clone(),
                reason: format!("unreadable answer: {e}"),
            });
        }
        let error: Option<ErrorResponse> = serde_json::from_slice(&bytes).ok();
        let message = error.as_ref().map_or_else(
            || format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes).trim()),
            |e| e.error.clone(),
        );
        let reason = error.as_ref().and_then(|e| e.reason.clone()).unwrap_or(message.clone());
        let code = error.as_ref().map_or("", |e| e.code.as_str());
        let from = |m: String| format!("{}: {m}", self.url);
        Err(match (status, job) {
            (StatusCode::UNAUTHORIZED, _) => ExecutorError::Unauthorized(from(message)),
            (StatusCode::SERVICE_UNAVAILABLE, _) => ExecutorError::Busy(from(message)),
            (StatusCode::PAYLOAD_TOO_LARGE, _) => ExecutorError::TooLarge(from(message)),
            (StatusCode::CONFLICT, _) => ExecutorError::Refused {
                executor: self.address,
                job: job.map(Job::id).or(error.as_ref().and_then(|e| e.job)).unwrap_or_default(),
                reason,
            },
            (StatusCode::UNPROCESSABLE_ENTITY, _) if code == "failed" => {
                ExecutorError::Failed(reason)
            }
            // Too large for this executor: not a miss (it answered), not the job's outcome.
            (StatusCode::UNPROCESSABLE_ENTITY, _) if code == "job-too-large" => {
                let error = error.as_ref();
                ExecutorError::JobTooLarge {
                    job: job.map(Job::id).or(error.and_then(|e| e.job)).unwrap_or_default(),
                    macs: error.and_then(|e| e.macs).unwrap_or_default(),
                    limit: error.and_then(|e| e.limit).unwrap_or_default(),
                }
            }
            (StatusCode::NOT_FOUND, Some(job)) if code == "model-unavailable" => {
                ExecutorError::ModelUnavailable { model: job.model, reason: from(message) }
            }
            (StatusCode::BAD_REQUEST, _) if code == "bad-job" => {
                ExecutorError::BadJob(from(message))
            }
            _ => ExecutorError::Transport { member: self.url.clone(), reason: message },
        })
    }

    fn check_job(&self, answered: alloy_primitives::B256, job: &Job) -> Result<()> {
        if answered != job.id() {
            return Err(ExecutorError::Transport {
                member: self.url.clone(),
                reason: format!("answered for job {answered}, not {}", job.id()),
            });
        }
        Ok(())
    }
}

/// The body of `response`, up to `limit` bytes: past it (announced by its length, or read)
/// `too_large()`, and read no further, so a peer cannot fill this process's memory; a failed
/// read is `failed(error)`.
pub async fn read_capped<E>(
    mut response: reqwest::Response,
    limit: usize,
    too_large: impl Fn() -> E,
    failed: impl Fn(reqwest::Error) -> E,
) -> std::result::Result<Vec<u8>, E> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(&failed)? {
        if bytes.len() + chunk.len() > limit {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

impl Member for RemoteMember {
    fn address(&self) -> Address {
        self.address
    }

    fn describe(&self) -> String {
        self.url.clone()
    }

    fn compute(&self, job: Arc<Job>) -> MemberFuture<'_, Bytes> {
        Box::pin(async move {
            let answer: ComputeResponse = self.post("/v1/compute", &*job, &job).await?;
            self.check_job(answer.job, &job)?;
            Ok(answer.output)
        })
    }

    fn attest(&self, job: Arc<Job>, candidate: Bytes) -> MemberFuture<'_, Bytes> {
        Box::pin(async move {
            let request = AttestBody { job: &job, candidate: &candidate };
            let answer: AttestResponse = self.post("/v1/attest", &request, &job).await?;
            self.check_job(answer.job, &job)?;
            Ok(answer.signature)
        })
    }

    fn attest_failure(&self, job: Arc<Job>, failure: Bytes) -> MemberFuture<'_, Bytes> {
        Box::pin(async move {
            let request = AttestFailureBody { job: &job, failure: &failure };
            let answer: AttestResponse = self.post("/v1/attest-failure", &request, &job).await?;
            self.check_job(answer.job, &job)?;
            Ok(answer.signature)
        })
    }

    fn attest_block(&self, round: Arc<BlockRound>) -> MemberFuture<'_, Bytes> {
        Box::pin(async move {
            let block = round.block();
            let response = self.signed_post("/v1/attest-block", block).await?;
            let answer: BlockAttestResponse = self.answer(response, None).await?;
            if answer.number != block.number {
                return Err(ExecutorError::Transport {
                    member: self.url.clone(),
                    reason: format!("answered for block {}, not {}", answer.number, block.number),
                });
            }
            Ok(answer.signature)
        })
    }

    fn artifact(&self, model: alloy_primitives::B256) -> MemberFuture<'_, Bytes> {
        Box::pin(async move {
            let response = self.signed_post("/v1/artifact", &ArtifactRequest { model }).await?;
            if response.status().is_success() {
                return self.read_capped(response, MAX_ARTIFACT_BYTES).await.map(Bytes::from);
            }
            match self.answer::<serde_json::Value>(response, None).await {
                Err(e) => Err(e),
                Ok(_) => Err(ExecutorError::Transport {
                    member: self.url.clone(),
                    reason: "an error status with a success body".into(),
                }),
            }
        })
    }
}
