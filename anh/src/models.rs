//! The `anh_` JSON-RPC namespace and the model upload routes.
//!
//! - `anh_putModel(bytes) -> bytes32`: analyses and stores an ONNX model (up to the store's
//!   size limit, 512 MiB by default, and the JSON-RPC body limit); the hash is keccak256 of
//!   the bytes. Refused models get -32602 with the reason (external data, custom domains, …).
//! - `anh_getModel(bytes32) -> object | null`: the analysis (`hash`, `size`, `macs`,
//!   `inputs`, `outputs`, `parent`), the on-chain `registration` (`name`, `owner`, `block`)
//!   or null, and `url`, this node's path of the file (`/models/<hash>`). The file itself is
//!   never inlined: hex in JSON would cost about three times its size in memory per call.
//! - `anh_stats() -> object`: `inferencesRun` (every ONNX Runtime run in this process: calls,
//!   and the in-process executors' work), `trainingStepsRun`, `attestationsFormed` (settled
//!   jobs in blocks this node built), `attestationsVerified` (in blocks it imported).
//! - `PUT /models` with the raw file as body: like `anh_putModel`, for large files; answers
//!   `{"hash": …, "model": {…}}`, or `{"error": …}` with HTTP 400/413 (and 401, 503, 507 below).
//!
//! **Uploads are bounded** ([`UploadLimits`]): at most `max_concurrent` at once (then HTTP 503
//! / -32000 busy), and none that would take the model store's files past `max_store_bytes`
//! (HTTP 507 / -32000 "the model store is full"). With an upload token (`--upload-token`,
//! required on a non-dev chain, where uploads are otherwise refused) `PUT /models` needs
//! `Authorization: Bearer <token>` (else HTTP 401), and `anh_putModel`, which cannot carry it,
//! is refused pointing there. Models the chain itself stores (what the committee trains) are
//! not uploads and are never refused for the quota.
//! - `PUT /blobs/{hash}?offset=N&size=S` with a chunk of a **weight blob** as body (at most
//!   [`MAX_BLOB_CHUNK`] bytes): the external weights of a large model, uploaded before the model
//!   that names them (`runtime`'s `analysis::external` says what a model may name). Chunks must
//!   arrive in order: one that does not start where the upload stands gets HTTP 409 with
//!   `{"error", "offset"}`, the offset to resume from. Answers `{"hash", "offset", "size",
//!   "stored"}`; the last chunk hashes the blob, and a blob whose bytes are not its name is
//!   dropped (HTTP 400). Admitted like `PUT /models` (token, slots, quota: each chunk).
//! - `GET /blobs/{hash}/status[?size=S]`: `{"hash", "stored", "offset", "size"}`, where an
//!   upload stands (of that size; else the furthest): what `anh model push` asks before
//!   sending, to resume; `GET /blobs/{hash}`: the
//!   blob's bytes (executors fetch them), checked against the hash once, or 404.
//! - `GET /models/{hash}`: the raw file (`application/octet-stream`), or 404. A stored file is
//!   streamed in 256 KiB chunks, its hash checked once ([`ModelStore::verified_file`]), not
//!   read whole and re-hashed per request. A trained model stored as a delta is rebuilt (and hashed) per
//!   request, in one of the `max_concurrent` upload slots: past them, HTTP 503 after the
//!   refusal delay, like a busy upload.

use alloy_eips::BlockId;
use alloy_primitives::{B256, Bytes};
use anh_evm_host::Backend;
use anh_precompiles::{ModelInfo, TensorSpec, registry};
use anh_rpc::{
    RpcError, RpcExtension, RpcFuture,
    params::{none, parse},
};
use anh_runtime::{BlobStatus, ModelStore, OrtRuntime, RuntimeError};
use axum::{
    Json, Router,
    body::Body,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, put},
};
use serde_json::{Value, json};
use std::sync::Arc;

/// What model uploads may take (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadLimits {
    /// Uploads analysed at once (default 2: each buffers up to the model size limit).
    pub max_concurrent: usize,
    /// Bytes of model files the store may hold after an upload (default 32 GiB).
    pub max_store_bytes: u64,
    /// The bearer token `PUT /models` needs; `None`: open on a dev chain, refused on a
    /// non-dev one.
    pub token: Option<String>,
}

impl Default for UploadLimits {
    fn default() -> Self {
        Self { max_concurrent: 2, max_store_bytes: 32 << 30, token: None }
    }
}

/// The node's model store and the oracle running its models, as the RPC sees them.
#[derive(Debug, Clone)]
pub struct ModelApi {
    store: Arc<ModelStore>,
    runtime: Arc<OrtRuntime>,
    backend: Arc<Backend>,
    uploads: UploadLimits,
    uploading: Arc<tokio::sync::Semaphore>,
    /// The store's bytes of models, and when they were counted ([`ModelApi::stored_bytes`]).
    stored: Arc<std::sync::Mutex<Option<(std::time::Instant, u64)>>>,
}

/// How long a count of the store's bytes answers quota checks: a client sending uploads back
/// to back past the quota is refused without the store's folder being listed each time.
const STORED_BYTES_FOR: std::time::Duration = std::time::Duration::from_millis(250);

/// How long a refused upload waits for its answer: a client retrying in a loop (a full
/// store, a busy node, a wrong token) is slowed to a few attempts a second per connection,
/// while the node only keeps a sleeping task; it also bounds guessing the upload token.
pub const REFUSAL_DELAY: std::time::Duration = std::time::Duration::from_millis(250);

/// Why an upload is not taken.
enum UploadRefused {
    Unauthorized(String),
    Busy(String),
    Full(String),
}

impl UploadRefused {
    /// The HTTP answer, after [`REFUSAL_DELAY`].
    async fn http(&self) -> Response {
        tokio::time::sleep(REFUSAL_DELAY).await;
        let (status, error) = match self {
            Self::Unauthorized(e) => (StatusCode::UNAUTHORIZED, e),
            Self::Busy(e) => (StatusCode::SERVICE_UNAVAILABLE, e),
            Self::Full(e) => (StatusCode::INSUFFICIENT_STORAGE, e),
        };
        let mut response = refusal(status, error.as_str());
        if let Self::Busy(_) = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        response
    }

    /// The JSON-RPC error, after [`REFUSAL_DELAY`].
    async fn rpc(&self) -> RpcError {
        tokio::time::sleep(REFUSAL_DELAY).await;
        let (Self::Unauthorized(e) | Self::Busy(e) | Self::Full(e)) = self;
        RpcError::new(anh_rpc::error::SERVER_ERROR, e.clone())
    }
}

impl ModelApi {
    /// The API over `store`, the `runtime` its models run on, and the chain (for
    /// registrations and counters).
    pub fn new(
        store: Arc<ModelStore>,
        runtime: Arc<OrtRuntime>,
        backend: Arc<Backend>,
        uploads: UploadLimits,
    ) -> Self {
        let uploading = Arc::new(tokio::sync::Semaphore::new(uploads.max_concurrent.max(1)));
        Self { store, runtime, backend, uploads, uploading, stored: Arc::default() }
    }

    /// Whether an upload presenting `bearer` (the `Authorization` header's token, if any) may
    /// start; the permit it holds while it runs.
    fn admit(
        &self,
        bearer: Option<&str>,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, UploadRefused> {
        match (&self.uploads.token, bearer) {
            (Some(token), Some(given)) if constant_time_eq(token.as_bytes(), given.as_bytes()) => {}
            (Some(_), _) => {
                return Err(UploadRefused::Unauthorized(
                    "model uploads on this node need its upload token: send it as \
                     `Authorization: Bearer <token>` (anh model push --upload-token)"
                        .into(),
                ));
            }
            (None, _) if !self.backend.is_dev() => {
                return Err(UploadRefused::Unauthorized(
                    "model uploads are closed on this chain: its spec says \"dev\": false and \
                     the node has no upload token (start it with --upload-token)"
                        .into(),
                ));
            }
            (None, _) => {}
        }
        self.uploading.clone().try_acquire_owned().map_err(|_| {
            UploadRefused::Busy(format!(
                "{} model uploads are being analysed already: try again later",
                self.uploads.max_concurrent
            ))
        })
    }

    /// Refuses an upload of `size` bytes that would take the store past its quota.
    fn check_quota(&self, size: u64) -> Result<(), UploadRefused> {
        let stored = self.stored_bytes();
        if stored.saturating_add(size) > self.uploads.max_store_bytes {
            return Err(UploadRefused::Full(format!(
                "the model store is full: it holds {stored} bytes of models, and {size} more \
                 would pass its quota of {} (--max-store-size)",
                self.uploads.max_store_bytes
            )));
        }
        Ok(())
    }

    /// The bytes of models in the store: counted at most [`STORED_BYTES_FOR`] ago, or again
    /// after an upload through this API stored one.
    fn stored_bytes(&self) -> u64 {
        let mut stored = self.stored.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match *stored {
            Some((at, bytes)) if at.elapsed() < STORED_BYTES_FOR => bytes,
            _ => {
                let bytes = stored_bytes(self.store.dir());
                *stored = Some((std::time::Instant::now(), bytes));
                bytes
            }
        }
    }

    /// Stores `bytes` (blocking), and forgets the count of the store's bytes.
    async fn put(
        &self,
        bytes: impl AsRef<[u8]> + Send + 'static,
    ) -> Result<Result<ModelInfo, RuntimeError>, String> {
        let store = self.store.clone();
        let result = tokio::task::spawn_blocking(move || store.put(bytes.as_ref())).await;
        *self.stored.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
        result.map_err(|e| e.to_string())
    }

    /// The node's model store.
    pub fn store(&self) -> &Arc<ModelStore> {
        &self.store
    }

    /// The device models run on now (CPU after a CUDA fallback).
    pub fn device(&self) -> anh_runtime::Device {
        self.runtime.active_device()
    }

    /// The `/models` and `/blobs` routes.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/models", put(put_model))
            .route("/models/{hash}", get(get_model_file))
            .route("/blobs/{hash}", put(put_blob).get(get_blob))
            .route("/blobs/{hash}/status", get(blob_status))
            .with_state(self.clone())
    }

    fn stats(&self) -> Value {
        let (formed, verified) = self.backend.attestation_counts();
        json!({
            "inferencesRun": self.runtime.stats().runs,
            "trainingStepsRun": self.runtime.stats().training_steps,
            "attestationsFormed": formed,
            "attestationsVerified": verified,
        })
    }

    fn model(&self, hash: B256) -> Option<Value> {
        let info = self.store.info(&hash)?;
        let mut value = model_json(&info);
        value["registration"] = self.registration(hash);
        value["url"] = json!(format!("/models/{hash}"));
        Some(value)
    }

    fn registration(&self, hash: B256) -> Value {
        let Ok(state) = self.backend.state_at(BlockId::latest()) else { return Value::Null };
        match registry::read_registration_with(hash, |slot| state.storage(&registry::ADDRESS, slot))
        {
            Some(Ok(r)) => json!({ "name": r.name, "owner": r.owner, "block": r.registered_at }),
            _ => Value::Null,
        }
    }
}

fn spec_json(spec: &TensorSpec) -> Value {
    let shape: Vec<Value> = spec
        .shape
        .iter()
        .map(|d| match d {
            anh_precompiles::Dim::Fixed(n) => json!(n),
            anh_precompiles::Dim::Symbolic(s) => json!(s),
        })
        .collect();
    json!({ "name": spec.name, "dtype": spec.elem.name(), "shape": shape })
}

/// The analysis of a model as JSON.
pub fn model_json(info: &ModelInfo) -> Value {
    json!({
        "hash": info.hash,
        "size": info.size,
        "macs": info.macs(),
        "cost": { "degrees": info.cost.degrees(), "coefficients": info.cost.coefficients().iter().map(|c| c.to_string()).collect::<Vec<_>>() },
        "inputs": info.inputs.iter().map(spec_json).collect::<Vec<_>>(),
        "outputs": info.outputs.iter().map(spec_json).collect::<Vec<_>>(),
        "parent": info.parent,
    })
}

fn put_error(e: &RuntimeError) -> RpcError {
    RpcError::invalid_params(format!("model refused: {e}"))
}

impl RpcExtension for ModelApi {
    fn call(&self, method: &str, params: Value) -> Option<RpcFuture> {
        let api = self.clone();
        let future: RpcFuture = match method {
            "anh_putModel" => Box::pin(async move {
                let (bytes,): (Bytes,) = parse(params, 1)?;
                if api.uploads.token.is_some() {
                    return Err(RpcError::new(
                        anh_rpc::error::SERVER_ERROR,
                        "anh_putModel cannot carry this node's upload token: use PUT /models \
                         with `Authorization: Bearer <token>` (anh model push --upload-token)",
                    ));
                }
                let _permit = match api.admit(None) {
                    Ok(permit) => permit,
                    Err(refused) => return Err(refused.rpc().await),
                };
                if !api.store.contains(&alloy_primitives::keccak256(&bytes))
                    && let Err(refused) = api.check_quota(bytes.len() as u64)
                {
                    return Err(refused.rpc().await);
                }
                let info =
                    api.put(bytes).await.map_err(RpcError::internal)?.map_err(|e| put_error(&e))?;
                Ok(json!(info.hash))
            }),
            "anh_getModel" => Box::pin(async move {
                let (hash,): (B256,) = parse(params, 1)?;
                tokio::task::spawn_blocking(move || Ok(api.model(hash).unwrap_or(Value::Null)))
                    .await
                    .map_err(RpcError::internal)?
            }),
            "anh_stats" => Box::pin(async move {
                none(&params)?;
                Ok(api.stats())
            }),
            _ => return None,
        };
        Some(future)
    }
}

async fn put_model(State(api): State<ModelApi>, headers: HeaderMap, body: Body) -> Response {
    let _permit = match api.admit(bearer(&headers)) {
        Ok(permit) => permit,
        Err(refused) => return refused.http().await,
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(size) = declared
        && let Err(refused) = api.check_quota(size)
    {
        return refused.http().await;
    }
    let limit = api.store.limits().max_model_bytes.min(anh_runtime::MAX_PROTOBUF_BYTES);
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let Ok(body) = axum::body::to_bytes(body, limit).await else {
        let error = format!("model refused: the file is larger than the limit of {limit} bytes");
        return refusal(StatusCode::PAYLOAD_TOO_LARGE, error);
    };
    if !api.store.contains(&alloy_primitives::keccak256(&body))
        && let Err(refused) = api.check_quota(body.len() as u64)
    {
        return refused.http().await;
    }
    match api.put(body).await {
        Ok(Ok(info)) => {
            Json(json!({ "hash": info.hash, "model": model_json(&info) })).into_response()
        }
        Ok(Err(e)) => {
            let status =
                if matches!(e, RuntimeError::Analysis(anh_runtime::AnalysisError::TooLarge { .. }))
                {
                    StatusCode::PAYLOAD_TOO_LARGE
                } else {
                    StatusCode::BAD_REQUEST
                };
            refusal(status, format!("model refused: {e}"))
        }
        Err(e) => refusal(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// Most bytes one `PUT /blobs` request may carry.
pub const MAX_BLOB_CHUNK: usize = 64 << 20;

/// The query of `PUT /blobs/{hash}`.
#[derive(Debug, serde::Deserialize)]
struct ChunkAt {
    offset: Option<u64>,
    size: Option<u64>,
}

/// The token of an `Authorization: Bearer …` header, if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// A JSON `{ "error": … }` answer with `status`.
fn refusal(status: StatusCode, error: impl Into<String>) -> Response {
    (status, Json(json!({ "error": error.into() }))).into_response()
}

fn bad_request(error: impl Into<String>) -> Response {
    refusal(StatusCode::BAD_REQUEST, error)
}

const NOT_A_BLOB_HASH: &str = "expected a 32-byte hex blob hash";

fn status_json(blob: B256, status: BlobStatus) -> Value {
    let (stored, offset, size) = match status {
        BlobStatus::Stored { size } => (true, size, Some(size)),
        BlobStatus::Partial { offset, size } => (false, offset, Some(size)),
        BlobStatus::Absent => (false, 0, None),
    };
    json!({ "hash": blob, "stored": stored, "offset": offset, "size": size })
}

async fn put_blob(
    State(api): State<ModelApi>,
    Path(hash): Path<String>,
    Query(at): Query<ChunkAt>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Ok(blob) = hash.parse::<B256>() else { return bad_request(NOT_A_BLOB_HASH) };
    let (Some(offset), Some(size)) = (at.offset, at.size) else {
        return bad_request("PUT /blobs/{hash} needs ?offset=<bytes sent before>&size=<blob size>");
    };
    let _permit = match api.admit(bearer(&headers)) {
        Ok(permit) => permit,
        Err(refused) => return refused.http().await,
    };
    let Ok(chunk) = axum::body::to_bytes(body, MAX_BLOB_CHUNK).await else {
        let error = format!("a blob chunk may be at most {MAX_BLOB_CHUNK} bytes");
        return refusal(StatusCode::PAYLOAD_TOO_LARGE, error);
    };
    if let Err(refused) = api.check_quota(chunk.len() as u64) {
        return refused.http().await;
    }
    let store = api.store.clone();
    let result =
        tokio::task::spawn_blocking(move || store.append_blob(&blob, size, offset, &chunk)).await;
    *api.stored.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
    match result {
        Ok(Ok(status)) => Json(status_json(blob, status)).into_response(),
        Ok(Err(e @ RuntimeError::BlobOffset { expected, .. })) => {
            (StatusCode::CONFLICT, Json(json!({ "error": e.to_string(), "offset": expected })))
                .into_response()
        }
        Ok(Err(e @ RuntimeError::BlobUpload { .. }))
            if size > api.store.limits().max_model_bytes =>
        {
            refusal(StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
        }
        Ok(Err(e @ (RuntimeError::BlobUpload { .. } | RuntimeError::BlobHash { .. }))) => {
            bad_request(e.to_string())
        }
        Ok(Err(e)) => {
            tracing::warn!(%blob, error = %e, "blob upload failed");
            refusal(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
        Err(e) => refusal(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn blob_status(
    State(api): State<ModelApi>,
    Path(hash): Path<String>,
    Query(at): Query<ChunkAt>,
) -> Response {
    let Ok(blob) = hash.parse::<B256>() else { return bad_request(NOT_A_BLOB_HASH) };
    let store = api.store.clone();
    match tokio::task::spawn_blocking(move || store.blob_status_of(&blob, at.size)).await {
        Ok(status) => Json(status_json(blob, status)).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn get_blob(State(api): State<ModelApi>, Path(hash): Path<String>) -> Response {
    let Ok(blob) = hash.parse::<B256>() else { return bad_request(NOT_A_BLOB_HASH) };
    let store = api.store.clone();
    match tokio::task::spawn_blocking(move || store.verified_blob(&blob)).await {
        Ok(Some((path, len))) => stream_file(&path, len).await,
        _ => (StatusCode::NOT_FOUND, format!("blob {blob} is not in this node's store\n"))
            .into_response(),
    }
}

/// A file's bytes as a response body, read in 256 KiB chunks.
async fn stream_file(path: &std::path::Path, len: u64) -> Response {
    let Ok(file) = tokio::fs::File::open(path).await else {
        return (StatusCode::NOT_FOUND, "not in this node's store\n").into_response();
    };
    let chunks = futures::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut chunk = vec![0u8; 256 << 10];
        match file.read(&mut chunk).await {
            Ok(0) => None,
            Ok(n) => {
                chunk.truncate(n);
                Some((Ok::<_, std::io::Error>(chunk), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, len.to_string()),
        ],
        Body::from_stream(chunks),
    )
        .into_response()
}

async fn get_model_file(State(api): State<ModelApi>, Path(hash): Path<String>) -> Response {
    let Ok(hash) = hash.parse::<B256>() else {
        return (StatusCode::BAD_REQUEST, "expected a 32-byte hex model hash\n").into_response();
    };
    let store = api.store.clone();
    let file = tokio::task::spawn_blocking(move || store.verified_file(&hash)).await;
    if let Ok(Some((path, len))) = file {
        return stream_file(&path, len).await;
    }
    // Stored as a delta: rebuilding it reads and hashes a whole model, so it takes one of the
    // slots uploads are analysed in (a client asking again and again gets 503, not that work).
    let _rebuilding = if api.store.is_delta(&hash) {
        match api.uploading.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                let busy = format!(
                    "{} model uploads or rebuilds are in progress: try again later",
                    api.uploads.max_concurrent
                );
                return UploadRefused::Busy(busy).http().await;
            }
        }
    } else {
        None
    };
    // Rebuilt from a delta, held in memory only (trained by a call), or not at all.
    match tokio::task::spawn_blocking(move || api.store.get(&hash)).await {
        Ok(Some(bytes)) => {
            ([(header::CONTENT_TYPE, "application/octet-stream")], Body::from(bytes))
                .into_response()
        }
        _ => (StatusCode::NOT_FOUND, format!("model {hash} is not in this node's store\n"))
            .into_response(),
    }
}

/// Bytes of the model files (`*.onnx`, trained models' `*.delta`, weight blobs `*.blob` and
/// blob uploads in progress `.part-*`) in `dir`.
fn stored_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            [".onnx", ".delta", ".blob"].iter().any(|x| name.ends_with(x))
                || name.starts_with(".part-")
        })
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// Whether `a` and `b` are equal, in time independent of where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
