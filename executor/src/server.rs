//! The executor's HTTP server (axum), which `anh executor` runs for the nodes it serves.
//!
//! | route | body | answer |
//! |---|---|---|
//! | `POST /v1/compute` | a job: `{"chainId", "kind", "model", "payload", "rule"}` | `{"job", "output"}` |
//! | `POST /v1/attest` | the job's fields and `"candidate"` | `{"job", "signature"}` |
//! | `POST /v1/attest-failure` | the job's fields and `"failure"` | `{"job", "signature"}` (of the failure digest) |
//! | `POST /v1/attest-block` | `{"chainId", "number", "parent", "jobs": [{"job", "output", "failure"}]}` | `{"number", "signature"}` (of the block digest over all the outcomes) |
//! | `POST /v1/artifact` | `{"model"}` | the model file this executor trained as `model` (bytes) |
//! | `GET /v1/health` | — | `{"address", "busy", "queued"}` |
//!
//! `/v1/compute`, `/v1/attest`, `/v1/attest-failure`, `/v1/attest-block` and `/v1/artifact` must be signed by a node the executor serves
//! ([`crate::auth`]). `/v1/health` is open: it shows only the executor's address (which the
//! chain's committee configuration already shows) and its load.
//!
//! Every error is JSON `{"error", "code", "reason"?, "job"?, "macs"?, "limit"?}` ([`ErrorResponse`]) with:
//!
//! | status | code | when |
//! |---|---|---|
//! | 400 | `bad-job` | the body is not a job, or the job is malformed |
//! | 401 | `unauthorized` | unsigned, signed by a key that is not an allowed node, stale timestamp (±120 s) |
//! | 404 | `model-unavailable` | the model cannot be fetched from the node, or its bytes hash wrong |
//! | 409 | `refused` | the rule's property does not hold for the candidate (or this executor did not fail the job alike): no signature |
//! | 413 | `too-large` | the body is over [`ServerLimits::max_body_bytes`] |
//! | 422 | `failed` | the job fails deterministically (ONNX Runtime's message; `reason` is bare) |
//! | 422 | `job-too-large` | MACs × batch over the executor's `max_job_macs` |
//! | 503 | `busy` | [`ServerLimits::max_concurrent`] jobs run and [`ServerLimits::max_queue`] wait |
//!
//! Headers, the timestamp and the signature (over the body-hash header) are checked before the
//! body is read, the body is read up to the limit (at most
//! [`ServerLimits::max_unauthenticated`] bodies at once) and must hash to the signed header,
//! then the job waits for a slot (or is refused as busy) and runs on the blocking pool.

use crate::{
    auth::{BODY_HASH_HEADER, NodeAuth, SIGNATURE_HEADER, TIMESTAMP_HEADER, unix_now},
    error::{ExecutorError, Result},
    executor::Executor,
    job::{BlockJobs, BlockRound, Job},
    wire::{
        ArtifactRequest, AttestFailureRequest, AttestRequest, AttestResponse, BlockAttestResponse,
        ComputeResponse, ErrorResponse, HealthResponse,
    },
};
use alloy_primitives::Bytes;
use axum::{
    Json, Router,
    body::Body,
    extract::State,
    http::{HeaderMap, StatusCode, header::CONTENT_LENGTH},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use futures::StreamExt;
use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How much work a server accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLimits {
    /// Jobs running at once (default: the number of cores).
    pub max_concurrent: usize,
    /// Jobs waiting for a slot; one more is refused as busy (default 64).
    pub max_queue: usize,
    /// Largest request body, in bytes (default 64 MiB).
    pub max_body_bytes: usize,
    /// Signed requests whose bodies are read at once, before each is checked against its
    /// signed hash; one more is refused as busy (default 16). Bounds what the executor buffers:
    /// this × `max_body_bytes`. (A client without a served node's key is refused before its
    /// body is read; one that replays a signed request's headers within the timestamp window
    /// can still hold a reader.)
    pub max_unauthenticated: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_concurrent: std::thread::available_parallelism().map_or(1, usize::from),
            max_queue: 64,
            max_body_bytes: 64 << 20,
            max_unauthenticated: 16,
        }
    }
}

#[derive(Debug)]
struct Server {
    executor: Arc<Executor>,
    limits: ServerLimits,
    auth: NodeAuth,
    slots: Arc<Semaphore>,
    /// Bodies being read before authentication.
    reading: Arc<Semaphore>,
    busy: Arc<AtomicUsize>,
    queued: Arc<AtomicUsize>,
}

/// Counts one while alive.
struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn new(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Self(counter.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The executor's routes (see the module docs).
pub fn router(executor: Arc<Executor>, limits: ServerLimits, auth: NodeAuth) -> Router {
    let server = Arc::new(Server {
        executor,
        slots: Arc::new(Semaphore::new(limits.max_concurrent.max(1))),
        reading: Arc::new(Semaphore::new(limits.max_unauthenticated.max(1))),
        limits,
        auth,
        busy: Arc::default(),
        queued: Arc::default(),
    });
    Router::new()
        .route("/v1/compute", post(compute))
        .route("/v1/attest", post(attest))
        .route("/v1/attest-failure", post(attest_failure))
        .route("/v1/attest-block", post(attest_block))
        .route("/v1/artifact", post(artifact))
        .route("/v1/health", get(health))
        .with_state(server)
}

/// The HTTP status of an error.
pub fn status_of(error: &ExecutorError) -> StatusCode {
    match error {
        ExecutorError::BadJob(_) => StatusCode::BAD_REQUEST,
        ExecutorError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        ExecutorError::ModelUnavailable { .. } => StatusCode::NOT_FOUND,
        ExecutorError::Refused { .. } => StatusCode::CONFLICT,
        ExecutorError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        ExecutorError::Failed(_) | ExecutorError::JobTooLarge { .. } => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        ExecutorError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The JSON answer, or the error's.
fn reply<T: serde::Serialize>(result: Result<T>) -> Response {
    match result {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => error_response(&e),
    }
}

fn error_response(error: &ExecutorError) -> Response {
    let reason = match error {
        ExecutorError::Refused { reason, .. } | ExecutorError::Failed(reason) => {
            Some(reason.clone())
        }
        _ => None,
    };
    let (job, macs, limit) = match error {
        ExecutorError::Refused { job, .. } => (Some(*job), None, None),
        ExecutorError::JobTooLarge { job, macs, limit } => (Some(*job), Some(*macs), Some(*limit)),
        _ => (None, None, None),
    };
    let body = ErrorResponse {
        error: error.to_string(),
        code: error.code().to_string(),
        reason,
        job,
        macs,
        limit,
    };
    (status_of(error), Json(body)).into_response()
}

impl Server {
    /// The body of a request signed by a served node (see the module docs for the order of
    /// the checks).
    async fn authorized_body(&self, headers: &HeaderMap, body: Body) -> Result<Vec<u8>> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let now = unix_now();
        let (_, signed_hash) = self.auth.verify(
            header(TIMESTAMP_HEADER),
            header(SIGNATURE_HEADER),
            header(BODY_HASH_HEADER),
            now,
        )?;
        let limit = self.limits.max_body_bytes;
        let too_large = || {
            ExecutorError::TooLarge(format!(
                "this executor accepts request bodies up to {limit} bytes"
            ))
        };
        let declared = header(CONTENT_LENGTH.as_str()).and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        // Held until the body is read: a signed request's (a node this executor serves).
        let _reading = self.reading.clone().try_acquire_owned().map_err(|_| {
            ExecutorError::Busy(format!(
                "{} request bodies are being read already: try again later",
                self.limits.max_unauthenticated
            ))
        })?;
        let mut bytes = Vec::with_capacity(declared.unwrap_or(0) as usize);
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|e| ExecutorError::BadJob(format!("reading the body: {e}")))?;
            if bytes.len() + chunk.len() > limit {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        let hash = alloy_primitives::keccak256(&bytes);
        if hash != signed_hash {
            return Err(ExecutorError::Unauthorized(format!(
                "the body hashes to {hash}, not to the signed {BODY_HASH_HEADER} {signed_hash}"
            )));
        }
        Ok(bytes)
    }

    /// Runs `work` on the blocking pool once a slot is free; busy if the queue is full.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Executor) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let permit: OwnedSemaphorePermit =
            match self.slots.clone().try_acquire_owned() {
                Ok(permit) => permit,
                Err(_) => {
                    let waiting = Counted::new(&self.queued);
                    if self.queued.load(Ordering::SeqCst) > self.limits.max_queue {
                        return Err(ExecutorError::Busy(format!(
                            "{} job(s) running and {} waiting: try again later",
                            self.busy.load(Ordering::SeqCst),
                            self.limits.max_queue
                        )));
                    }
                    let permit =
                        self.slots.clone().acquire_owned().await.map_err(|_| {
                            ExecutorError::Busy("the executor is shutting down".into())
                        })?;
                    drop(waiting);
                    permit
                }
            };
        let running = Counted::new(&self.busy);
        let executor = self.executor.clone();
        tokio::task::spawn_blocking(move || {
            let _slot = (permit, running);
            work(&executor)
        })
        .await
        .map_err(|e| ExecutorError::Transport {
            member: "this executor".into(),
            reason: format!("the job's task failed: {e}"),
        })?
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| ExecutorError::BadJob(format!("invalid body: {e}")))
}

async fn compute(State(server): State<Arc<Server>>, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let body = server.authorized_body(&headers, body).await?;
        let job: Job = parse(&body)?;
        let id = job.id();
        let output = server.run(move |executor| executor.compute(&job)).await?;
        Ok(ComputeResponse { job: id, output })
    }
    .await;
    reply(result)
}

async fn attest(State(server): State<Arc<Server>>, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let body = server.authorized_body(&headers, body).await?;
        let AttestRequest { job, candidate } = parse(&body)?;
        let id = job.id();
        let signature = server.run(move |executor| executor.attest(&job, &candidate)).await?;
        Ok(AttestResponse { job: id, signature: Bytes::from(signature.to_vec()) })
    }
    .await;
    reply(result)
}

async fn attest_failure(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let body = server.authorized_body(&headers, body).await?;
        let AttestFailureRequest { job, failure } = parse(&body)?;
        let id = job.id();
        let signature = server.run(move |executor| executor.attest_failure(&job, &failure)).await?;
        Ok(AttestResponse { job: id, signature: Bytes::from(signature.to_vec()) })
    }
    .await;
    reply(result)
}

async fn attest_block(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let body = server.authorized_body(&headers, body).await?;
        let block: BlockJobs = parse(&body)?;
        let number = block.number;
        let signature =
            server.run(move |executor| executor.attest_block(&BlockRound::new(block))).await?;
        Ok(BlockAttestResponse { number, signature: Bytes::from(signature.to_vec()) })
    }
    .await;
    reply(result)
}

async fn artifact(State(server): State<Arc<Server>>, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let body = server.authorized_body(&headers, body).await?;
        let ArtifactRequest { model } = parse(&body)?;
        server.executor.artifact(&model).ok_or_else(|| ExecutorError::ModelUnavailable {
            model,
            reason: "this executor keeps no trained model by that hash".into(),
        })
    }
    .await;
    match result {
        Ok(bytes) => {
            ([(axum::http::header::CONTENT_TYPE, "application/octet-stream")], bytes.to_vec())
                .into_response()
        }
        Err(e) => error_response(&e),
    }
}

async fn health(State(server): State<Arc<Server>>) -> Json<HealthResponse> {
    Json(HealthResponse {
        address: server.executor.address(),
        busy: server.busy.load(Ordering::SeqCst),
        queued: server.queued.load(Ordering::SeqCst),
    })
}
