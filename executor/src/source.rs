//! Where a remote executor gets models: its own [`ModelStore`], filled from the node on first
//! use.
//!
//! On a miss, [`NodeModelSource`] fetches `GET {node}/models/{hash}` (the node's raw model
//! file route), refuses bytes whose keccak256 is not the hash asked for (nothing is stored),
//! bounds the download by the store's `max_model_bytes`, and puts the bytes in the local store
//! (which analyses them). A model whose weights are in blobs (external data) names them: each
//! blob the store lacks is fetched from `GET {node}/blobs/{hash}` into the store, which checks
//! it against its hash, before the model is stored. Fetches are serialised, so concurrent
//! misses of one model download it once.
//!
//! The [`ModelSource`] calls block on the network: call them from a blocking thread (as the
//! executor's jobs run), never from an async task.

use crate::error::{ExecutorError, Result};
use alloy_primitives::{B256, keccak256};
use anh_primitives::ModelInfo;
use anh_runtime::{ModelSource, ModelStore, RuntimeError};
use parking_lot::Mutex;
use std::{fmt, path::PathBuf, sync::Arc, time::Duration};
use tokio::runtime::Handle;

/// A [`ModelStore`] that fetches missing models from a node (see the module docs).
pub struct NodeModelSource {
    node: String,
    store: Arc<ModelStore>,
    client: reqwest::Client,
    handle: Handle,
    fetching: Mutex<()>,
}

impl fmt::Debug for NodeModelSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeModelSource")
            .field("node", &self.node)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl NodeModelSource {
    /// Models from the node at `node` (e.g. `http://127.0.0.1:8545`), kept in `store`; network
    /// calls run on the tokio runtime of `handle` (a multi-threaded one).
    pub fn new(node: impl Into<String>, store: Arc<ModelStore>, handle: Handle) -> Result<Self> {
        let node = node.into().trim_end_matches('/').to_string();
        if !node.starts_with("http://") && !node.starts_with("https://") {
            return Err(ExecutorError::Config(format!(
                "node URL {node:?} must start with http:// or https://"
            )));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| ExecutorError::Config(format!("cannot build an HTTP client: {e}")))?;
        Ok(Self { node, store, client, handle, fetching: Mutex::new(()) })
    }

    /// The local store.
    pub fn store(&self) -> &Arc<ModelStore> {
        &self.store
    }

    /// The node's URL.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Fetches `model` from the node into the store (unless it is there) and returns its
    /// analysis. Blocks.
    pub fn fetch(&self, model: &B256) -> anh_runtime::Result<ModelInfo> {
        let _one_at_a_time = self.fetching.lock();
        if let Some(info) = self.store.info(model) {
            return Ok(info);
        }
        let url = format!("{}/models/{model}", self.node);
        let limit = self.store.limits().max_model_bytes;
        let io = io_error(&url);
        let bytes = self.handle.block_on(async {
            let Some(mut response) = self.get(&url, "model").await? else {
                return Err(RuntimeError::UnknownModel(*model));
            };
            if response.content_length().is_some_and(|n| n > limit) {
                return Err(io(format!(
                    "the model is over this executor's limit of {limit} bytes"
                )));
            }
            let mut bytes = Vec::new();
            while let Some(chunk) =
                response.chunk().await.map_err(|e| io(format!("download failed: {e}")))?
            {
                if (bytes.len() + chunk.len()) as u64 > limit {
                    return Err(io(format!(
                        "the model is over this executor's limit of {limit} bytes"
                    )));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(bytes)
        })?;
        let actual = keccak256(&bytes);
        if actual != *model {
            tracing::warn!(%model, %actual, node = %self.node, "the node served bytes of another model; refusing them");
            return Err(RuntimeError::CorruptModel {
                expected: *model,
                actual,
                path: PathBuf::from(&url),
            });
        }
        // Each blob the model names and the store lacks, then the model: each round stores
        // one more blob or fails, and a blob missing again after it was fetched (the node
        // served bytes that do not stay) ends it.
        let mut fetched = std::collections::HashSet::new();
        loop {
            match self.store.put(&bytes) {
                Err(RuntimeError::MissingBlob { blob, .. }) if fetched.insert(blob) => {
                    self.fetch_blob(&blob)?;
                }
                Err(e) => return Err(e),
                Ok(info) => {
                    tracing::info!(%model, size = info.size, node = %self.node, "fetched model from the node");
                    return Ok(info);
                }
            }
        }
    }

    /// `GET url` on the node (`what` it fetches, for errors): the response, `None` for 404,
    /// or an error for another failure.
    async fn get(&self, url: &str, what: &str) -> anh_runtime::Result<Option<reqwest::Response>> {
        let io = io_error(url);
        let response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| io(format!("cannot fetch the {what} from the node: {e}")))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(io(format!("the node answered HTTP {}", response.status())));
        }
        Ok(Some(response))
    }

    /// Fetches weight blob `blob` from the node into the store, which checks its hash on
    /// the last piece. Blocks.
    fn fetch_blob(&self, blob: &B256) -> anh_runtime::Result<()> {
        let url = format!("{}/blobs/{blob}", self.node);
        let limit = self.store.limits().max_model_bytes;
        let io = io_error(&url);
        self.handle.block_on(async {
            let Some(mut response) = self.get(&url, "blob").await? else {
                return Err(io("the node answered HTTP 404 Not Found".into()));
            };
            let size = response
                .content_length()
                .ok_or_else(|| io("the node sent no Content-Length".into()))?;
            if size > limit {
                return Err(io(format!("the blob is over this executor's limit of {limit} bytes")));
            }
            // A partial copy from an earlier attempt: the node sends the whole blob again, and
            // the bytes the copy holds are skipped rather than written twice.
            let mut offset = match self.store.blob_status_of(blob, Some(size)) {
                anh_runtime::BlobStatus::Partial { offset, .. } => offset,
                _ => 0,
            };
            if size == 0 {
                self.store.append_blob(blob, 0, 0, &[])?;
            }
            let (mut received, mut piece) = (0u64, Vec::with_capacity(BLOB_PIECE));
            while let Some(chunk) =
                response.chunk().await.map_err(|e| io(format!("download failed: {e}")))?
            {
                let start = received;
                received += chunk.len() as u64;
                if received > size {
                    return Err(io("the node sent more bytes than its Content-Length".into()));
                }
                let skip = offset.saturating_sub(start).min(chunk.len() as u64) as usize;
                piece.extend_from_slice(&chunk[skip..]);
                if piece.len() >= BLOB_PIECE || received == size {
                    self.store.append_blob(blob, size, offset, &piece)?;
                    offset += piece.len() as u64;
                    piece.clear();
                }
            }
            if received != size {
                return Err(io(format!("the download ended after {received} of {size} bytes")));
            }
            tracing::info!(%blob, size, node = %self.node, "fetched weight blob from the node");
            Ok(())
        })
    }
}

/// An I/O error of fetching `url`.
fn io_error(url: &str) -> impl Fn(String) -> RuntimeError + '_ {
    move |message| RuntimeError::Io {
        path: PathBuf::from(url),
        source: std::io::Error::other(message),
    }
}

/// Bytes a blob download writes at a time.
const BLOB_PIECE: usize = 8 << 20;

impl ModelSource for NodeModelSource {
    fn model_info(&self, model: &B256) -> Option<ModelInfo> {
        if let Some(info) = self.store.info(model) {
            return Some(info);
        }
        match self.fetch(model) {
            Ok(info) => Some(info),
            Err(e) => {
                tracing::warn!(%model, error = %e, "model unavailable");
                None
            }
        }
    }

    fn external_weights(
        &self,
        model: &B256,
    ) -> anh_runtime::Result<Option<anh_runtime::ExternalWeights>> {
        match self.store.external_weights(model) {
            Err(RuntimeError::UnknownModel(_)) => {
                self.fetch(model)?;
                self.store.external_weights(model)
            }
            other => other,
        }
    }

    fn model_bytes(&self, model: &B256) -> anh_runtime::Result<Vec<u8>> {
        match self.store.read(model) {
            Err(RuntimeError::UnknownModel(_)) => {
                self.fetch(model)?;
                self.store.read(model)
            }
            other => other,
        }
    }
}
