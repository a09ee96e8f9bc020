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
//!   `{"hash": …, "model": {…}}`, or `{"error": …}` with HTTP 400/413.
//! - `GET /models/{hash}`: the raw file (`application/octet-stream`), or 404.

use alloy_eips::BlockId;
use alloy_primitives::{B256, Bytes};
use anh_evm_host::Backend;
use anh_precompiles::{ModelInfo, TensorSpec, registry};
use anh_rpc::{
    RpcError, RpcExtension, RpcFuture,
    params::{none, parse},
};
use anh_runtime::{ModelStore, OrtRuntime, RuntimeError};
use axum::{
    Json, Router,
    body::Body,
    extract::{Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, put},
};
use serde_json::{Value, json};
use std::sync::Arc;

/// The node's model store and the oracle running its models, as the RPC sees them.
#[derive(Debug, Clone)]
pub struct ModelApi {
    store: Arc<ModelStore>,
    runtime: Arc<OrtRuntime>,
    backend: Arc<Backend>,
}

impl ModelApi {
    /// The API over `store`, the `runtime` its models run on, and the chain (for
    /// registrations and counters).
    pub fn new(store: Arc<ModelStore>, runtime: Arc<OrtRuntime>, backend: Arc<Backend>) -> Self {
        Self { store, runtime, backend }
    }

    /// The node's model store.
    pub fn store(&self) -> &Arc<ModelStore> {
        &self.store
    }

    /// The device models run on now (CPU after a CUDA fallback).
    pub fn device(&self) -> anh_runtime::Device {
        self.runtime.active_device()
    }

    /// The `/models` routes.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/models", put(put_model))
            .route("/models/{hash}", get(get_model_file))
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
        "macs": info.macs,
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
                let store = api.store.clone();
                let info = tokio::task::spawn_blocking(move || store.put(&bytes))
                    .await
                    .map_err(RpcError::internal)?
                    .map_err(|e| put_error(&e))?;
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

async fn put_model(State(api): State<ModelApi>, body: Body) -> Response {
    let limit = usize::try_from(api.store.limits().max_model_bytes).unwrap_or(usize::MAX);
    let Ok(body) = axum::body::to_bytes(body, limit).await else {
        let error = format!("model refused: the file is larger than the limit of {limit} bytes");
        return (StatusCode::PAYLOAD_TOO_LARGE, Json(json!({ "error": error }))).into_response();
    };
    let store = api.store.clone();
    let result = tokio::task::spawn_blocking(move || store.put(&body)).await;
    match result {
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
            (status, Json(json!({ "error": format!("model refused: {e}") }))).into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({ "error": e.to_string() })))
            .into_response(),
    }
}

async fn get_model_file(State(api): State<ModelApi>, Path(hash): Path<String>) -> Response {
    let Ok(hash) = hash.parse::<B256>() else {
        return (StatusCode::BAD_REQUEST, "expected a 32-byte hex model hash\n").into_response();
    };
    match tokio::task::spawn_blocking(move || api.store.get(&hash)).await {
        Ok(Some(bytes)) => {
            ([(header::CONTENT_TYPE, "application/octet-stream")], Body::from(bytes))
                .into_response()
        }
        _ => (StatusCode::NOT_FOUND, format!("model {hash} is not in this node's store\n"))
            .into_response(),
    }
}
