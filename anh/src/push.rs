//! `anh model push FILE --name NAME`: upload a model to a node and register it on chain.
//!
//! 1. if the model keeps weights in data files (ONNX's external data, as every model past
//!    2 GB does), each file is uploaded as a weight blob (`PUT /blobs`, in resumable chunks;
//!    one the node holds already is skipped) and the model is rewritten to name them by hash
//!    (`push/blobs.rs`);
//! 2. `PUT /models` with the file (the node analyses it and answers its hash, or why not);
//! 3. if the registry already has the model, nothing more is sent (pushing is idempotent);
//! 4. otherwise an EIP-1559 transaction calling `register(hash, name)` at `0x…0D00` is signed
//!    with the given key (dev account 0 by default), sent, and awaited.
//!
//! Progress goes to stderr; stdout gets only the model hash, so scripts can capture it. An
//! upload of [`PROGRESS_FROM`] bytes or more shows its progress: a bar redrawn in place on a
//! terminal, a line at every quarter otherwise (logs, CI).

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, hex};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::SolCall;
use anh_precompiles::{
    abi::{IModelInfo, IModelRegistry},
    registry,
};
use serde_json::{Value, json};
mod blobs;

use std::{
    io::IsTerminal,
    path::Path,
    time::{Duration, Instant},
};

/// Uploads of at least this many bytes (4 MiB) show their progress.
pub const PROGRESS_FROM: usize = 4 << 20;

/// The upload is sent in pieces of this size (256 KiB), each counted as it leaves.
const PIECE: usize = 256 << 10;

/// An upload's progress on stderr.
#[derive(Debug)]
struct Progress {
    total: usize,
    terminal: bool,
    started: Instant,
    /// The last quarter reported (lines mode).
    quarter: usize,
    /// What is said when all is sent.
    done: &'static str,
}

impl Progress {
    fn new(total: usize, done: &'static str) -> Self {
        Self {
            total,
            terminal: std::io::stderr().is_terminal(),
            started: Instant::now(),
            quarter: 0,
            done,
        }
    }

    /// `sent` bytes of the total have left.
    fn sent(&mut self, sent: usize) {
        let percent = sent * 100 / self.total.max(1);
        let mb = |b: usize| b as f64 / 1e6;
        let rate = mb(sent) / self.started.elapsed().as_secs_f64().max(1e-3);
        if self.terminal {
            let filled = percent * 30 / 100;
            eprint!(
                "\r  [{}{}] {percent:>3}%  {:.1} / {:.1} MB  {rate:.0} MB/s",
                "#".repeat(filled),
                " ".repeat(30 - filled),
                mb(sent),
                mb(self.total)
            );
            if sent == self.total {
                eprintln!();
            }
        } else if percent / 25 > self.quarter {
            self.quarter = percent / 25;
            eprintln!(
                "  uploaded {percent}% ({:.1} of {:.1} MB, {rate:.0} MB/s)",
                mb(sent),
                mb(self.total)
            );
        }
        if sent == self.total {
            eprintln!("  {}", self.done);
        }
    }
}

/// The request body for `bytes`: as is when small, else in pieces that report progress.
fn upload_body(bytes: Vec<u8>) -> reqwest::Body {
    let total = bytes.len();
    if total < PROGRESS_FROM {
        return bytes.into();
    }
    let bytes = axum::body::Bytes::from(bytes);
    let mut progress = Progress::new(total, "sent; the node is hashing and analysing the model");
    let pieces = (0..total).step_by(PIECE).map(move |at| {
        let end = (at + PIECE).min(total);
        progress.sent(end);
        Ok::<_, std::io::Error>(bytes.slice(at..end))
    });
    reqwest::Body::wrap_stream(futures::stream::iter(pieces))
}

/// Dev account 0's key, used when none is given.
pub const DEV_KEY_0: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/// What was pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pushed {
    /// The model hash.
    pub model: B256,
    /// The registration transaction, or `None` if the model was registered already.
    pub transaction: Option<B256>,
}

struct Client {
    http: reqwest::Client,
    url: String,
}

impl Client {
    async fn rpc(&self, method: &str, params: Value) -> Result<Value, String> {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let reply: Value = self
            .http
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("cannot reach the node at {}: {e}", self.url))?
            .json()
            .await
            .map_err(|e| format!("{method}: the node's answer is not JSON-RPC: {e}"))?;
        if let Some(error) = reply.get("error") {
            let message = error["message"].as_str().unwrap_or("unknown error");
            return Err(format!("{method}: {message}"));
        }
        Ok(reply["result"].clone())
    }

    async fn quantity(&self, method: &str, params: Value) -> Result<u128, String> {
        let value = self.rpc(method, params).await?;
        let text =
            value.as_str().ok_or_else(|| format!("{method}: expected a quantity, got {value}"))?;
        u128::from_str_radix(text.trim_start_matches("0x"), 16)
            .map_err(|e| format!("{method}: {e}"))
    }
}

/// Uploads `file` to the node at `rpc_url` and registers it as `name`, signing with
/// `private_key`.
pub async fn push(
    file: &Path,
    name: &str,
    rpc_url: &str,
    private_key: &str,
    upload_token: Option<&str>,
) -> Result<Pushed, String> {
    let signer: PrivateKeySigner =
        private_key.parse().map_err(|e| format!("invalid private key: {e}"))?;
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let client =
        Client { http: reqwest::Client::new(), url: rpc_url.trim_end_matches('/').to_string() };
    let (bytes, blob_files) = blobs::name_blobs(file, bytes)?;
    blobs::upload(&client, &blob_files, upload_token).await?;

    eprintln!("uploading {} ({} bytes) to {}", file.display(), bytes.len(), client.url);
    // The length up front (a streamed body would go chunked without it): the node refuses an
    // upload over its limits before reading it.
    let length = bytes.len();
    let mut request = client
        .http
        .put(format!("{}/models", client.url))
        .header(reqwest::header::CONTENT_LENGTH, length)
        .body(upload_body(bytes));
    if let Some(token) = upload_token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("cannot reach the node at {}: {e}", client.url))?;

    let status = response.status();
    let answer: Value =
        response.json().await.map_err(|e| format!("PUT /models: not JSON ({status}): {e}"))?;
    if !status.is_success() {
        return Err(answer["error"].as_str().unwrap_or("the node refused the model").to_string());
    }
    let model: B256 = answer["hash"]
        .as_str()
        .and_then(|h| h.parse().ok())
        .ok_or_else(|| format!("PUT /models: no hash in {answer}"))?;

    let is_registered = IModelInfo::isRegisteredCall { model }.abi_encode();
    let result = client
        .rpc("eth_call", json!([{ "to": anh_precompiles::info::ADDRESS, "data": Bytes::from(is_registered) }, "latest"]))
        .await?;
    let result: Bytes = serde_json::from_value(result).map_err(|e| format!("isRegistered: {e}"))?;
    if IModelInfo::isRegisteredCall::abi_decode_returns(&result).unwrap_or(false) {
        eprintln!("model {model} is registered already");
        return Ok(Pushed { model, transaction: None });
    }

    let data = IModelRegistry::registerCall { model, name: name.to_string() }.abi_encode();
    let from = signer.address();
    let chain_id = client.quantity("eth_chainId", json!([])).await? as u64;
    let nonce = client.quantity("eth_getTransactionCount", json!([from, "pending"])).await? as u64;
    let tip = client.quantity("eth_maxPriorityFeePerGas", json!([])).await?;
    let latest = client.rpc("eth_getBlockByNumber", json!(["latest", false])).await?;
    let base_fee = latest["baseFeePerGas"]
        .as_str()
        .and_then(|v| u128::from_str_radix(v.trim_start_matches("0x"), 16).ok())
        .ok_or("the latest block has no base fee")?;
    let estimate =
        json!([{ "from": from, "to": registry::ADDRESS, "data": Bytes::from(data.clone()) }]);
    let gas = client.quantity("eth_estimateGas", estimate).await? as u64;
    let tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit: gas + gas / 5,
        max_fee_per_gas: 2 * base_fee + tip,
        max_priority_fee_per_gas: tip,
        to: TxKind::Call(registry::ADDRESS),
        value: U256::ZERO,
        access_list: Default::default(),
        input: data.into(),
    };
    let signature =
        signer.sign_hash_sync(&tx.signature_hash()).map_err(|e| format!("signing: {e}"))?;
    let raw: TxEnvelope = tx.into_signed(signature).into();
    let hash = client
        .rpc("eth_sendRawTransaction", json!([hex::encode_prefixed(raw.encoded_2718())]))
        .await?;
    let hash: B256 =
        serde_json::from_value(hash).map_err(|e| format!("eth_sendRawTransaction: {e}"))?;
    eprintln!("registering as {name:?} from {from} in transaction {hash}");

    for _ in 0..600 {
        let receipt = client.rpc("eth_getTransactionReceipt", json!([hash])).await?;
        if !receipt.is_null() {
            if receipt["status"] != "0x1" {
                return Err(format!(
                    "the registration transaction {hash} failed (status {})",
                    receipt["status"]
                ));
            }
            eprintln!("registered in block {}", receipt["blockNumber"].as_str().unwrap_or("?"));
            return Ok(Pushed { model, transaction: Some(hash) });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("transaction {hash} was not mined within 60 s (is the node mining? try evm_mine)"))
}

/// The address a key signs for.
pub fn address_of(private_key: &str) -> Option<Address> {
    private_key.parse::<PrivateKeySigner>().ok().map(|s| s.address())
}
