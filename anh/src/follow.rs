//! `anh node --follow URL`: a node that imports another node's chain and replays it.
//!
//! At start the follower asks the node at URL for its chain configuration
//! (`anh_chainConfig`: genesis parameters with the executor committee), validates the
//! committee, builds the genesis itself and refuses to start unless its block 0 has the hash
//! pinned with `--genesis-hash` (genesis commits to the committee, so this pins it too). Then it polls for new blocks, fetches
//! each with its job records (`anh_getRawBlock`), and imports it: every transaction is
//! re-executed, the DNN precompiles take their results from the block's records after checking
//! the committee's signatures — no model ever runs here — and the block is refused unless its
//! state root, receipts root, gas and the rest come out the same. A refused block halts the
//! follower with the reason in the log and in `anh_syncStatus` / `eth_syncing`.
//!
//! A follower serves the read methods; it mines nothing and refuses transactions (send them
//! to the node it follows).

use anh_evm_host::{Backend, Block, GenesisConfig};
use anh_rpc::{RpcError, RpcExtension, RpcFuture};
use serde_json::{Value, json};
use std::{
    sync::{Arc, RwLock},
    time::Duration,
};
use tokio::task::JoinHandle;
use tracing::{error, info};

/// How often the follower asks for new blocks.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// The largest reply the follower reads from the node it follows, hex-encoded: a block's
/// transactions are bounded by its gas limit (each at most 8 MiB), but its job records are not
/// by size (one output tensor may hold 2^24 elements), so this leaves room for several large
/// outputs. A longer reply is an error, read no further: a hostile upstream cannot fill this
/// node's memory.
pub const MAX_REPLY_BYTES: usize = 1 << 30;

/// Where the follower is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    /// The node followed.
    pub following: String,
    /// "syncing", "synced" or "halted".
    pub state: &'static str,
    /// The first block this run imported from.
    pub starting_block: u64,
    /// The last block imported.
    pub current_block: u64,
    /// The followed node's head, last seen.
    pub highest_block: u64,
    /// Why the follower halted.
    pub error: Option<String>,
}

/// A JSON-RPC client of the followed node.
#[derive(Debug, Clone)]
pub struct Upstream {
    http: reqwest::Client,
    url: String,
    max_reply: usize,
}

impl Upstream {
    /// A client of the node at `url`.
    pub fn new(url: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            url: url.trim_end_matches('/').to_string(),
            max_reply: MAX_REPLY_BYTES,
        }
    }

    /// With replies read up to `bytes` (default [`MAX_REPLY_BYTES`]).
    pub fn with_max_reply(mut self, bytes: usize) -> Self {
        self.max_reply = bytes;
        self
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    async fn call(&self, method: &str, params: Value) -> Result<Value, String> {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let response = self
            .http
            .post(&self.url)
            .json(&body)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| format!("cannot reach {}: {e}", self.url))?;
        let limit = self.max_reply;
        let bytes = anh_executor::remote::read_capped(
            response,
            limit,
            || format!("{method}: the reply is longer than {limit} bytes"),
            |e| format!("{method}: reading the reply: {e}"),
        )
        .await?;
        let reply: Value =
            serde_json::from_slice(&bytes).map_err(|e| format!("{method}: not JSON-RPC: {e}"))?;
        if let Some(e) = reply.get("error") {
            return Err(format!("{method}: {}", e["message"].as_str().unwrap_or("error")));
        }
        Ok(reply["result"].clone())
    }

    /// The followed chain's genesis parameters and genesis hash.
    pub async fn chain_config(&self) -> Result<(GenesisConfig, alloy_primitives::B256), String> {
        let config = self.call("anh_chainConfig", json!([])).await?;
        let genesis: GenesisConfig = serde_json::from_value(config["genesis"].clone())
            .map_err(|e| format!("anh_chainConfig: {e}"))?;
        let hash = serde_json::from_value(config["genesisHash"].clone())
            .map_err(|e| format!("anh_chainConfig: {e}"))?;
        Ok((genesis, hash))
    }

    async fn head(&self) -> Result<u64, String> {
        let value = self.call("eth_blockNumber", json!([])).await?;
        let text = value.as_str().ok_or("eth_blockNumber: not a quantity")?;
        u64::from_str_radix(text.trim_start_matches("0x"), 16).map_err(|e| e.to_string())
    }

    async fn block(&self, number: u64) -> Result<Block, String> {
        let value = self.call("anh_getRawBlock", json!([format!("{number:#x}")])).await?;
        let raw: alloy_primitives::Bytes =
            serde_json::from_value(value).map_err(|e| format!("anh_getRawBlock({number}): {e}"))?;
        Block::decode(&raw).map_err(|e| format!("block {number}: {e}"))
    }
}

/// A running follower.
#[derive(Debug)]
pub struct Follower {
    status: Arc<RwLock<SyncStatus>>,
    task: JoinHandle<()>,
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Follower {
    /// Starts importing from `upstream` into `backend`.
    pub fn spawn(backend: Arc<Backend>, upstream: Upstream) -> Self {
        let start = backend.best_number();
        let status = Arc::new(RwLock::new(SyncStatus {
            following: upstream.url().to_string(),
            state: "syncing",
            starting_block: start,
            current_block: start,
            highest_block: start,
            error: None,
        }));
        let task = tokio::spawn(run(backend, upstream, status.clone()));
        Self { status, task }
    }

    /// Where it is.
    pub fn status(&self) -> SyncStatus {
        self.status.read().map(|s| s.clone()).unwrap_or_else(|e| e.into_inner().clone())
    }

    /// The RPC methods a follower answers differently.
    pub fn api(&self) -> FollowerApi {
        FollowerApi { status: self.status.clone() }
    }
}

async fn run(backend: Arc<Backend>, upstream: Upstream, status: Arc<RwLock<SyncStatus>>) {
    let set = |f: &dyn Fn(&mut SyncStatus)| {
        if let Ok(mut s) = status.write() {
            f(&mut s);
        }
    };
    loop {
        match upstream.head().await {
            Ok(head) => set(&|s| s.highest_block = head),
            Err(e) => {
                // The upstream may restart: keep trying, and say so.
                set(&|s| s.error = Some(e.clone()));
                tokio::time::sleep(POLL_INTERVAL * 5).await;
                continue;
            }
        }
        let highest = status.read().map(|s| s.highest_block).unwrap_or(0);
        let mut next = backend.best_number() + 1;
        while next <= highest {
            let block = match upstream.block(next).await {
                Ok(block) => block,
                Err(e) => {
                    set(&|s| s.error = Some(e.clone()));
                    break;
                }
            };
            let importer = backend.clone();
            match tokio::task::spawn_blocking(move || importer.import_block(block)).await {
                Ok(Ok(_)) => {
                    set(&|s| {
                        s.current_block = next;
                        s.error = None;
                    });
                    next += 1;
                }
                Ok(Err(refused)) => {
                    let reason = refused.to_string();
                    error!(following = upstream.url(), "{reason}; following halted");
                    set(&|s| {
                        s.state = "halted";
                        s.error = Some(reason.clone());
                    });
                    return;
                }
                Err(e) => {
                    error!(error = %e, "block import panicked; following halted");
                    set(&|s| {
                        s.state = "halted";
                        s.error = Some(e.to_string());
                    });
                    return;
                }
            }
        }
        let caught_up = backend.best_number() >= highest;
        set(&|s| s.state = if caught_up { "synced" } else { "syncing" });
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// The methods a follower answers itself: `eth_syncing`, `anh_syncStatus`, and a refusal of
/// every method that would add transactions or change the chain.
#[derive(Debug, Clone)]
pub struct FollowerApi {
    status: Arc<RwLock<SyncStatus>>,
}

/// Whether a follower refuses `method`: it sends transactions, or it is a dev method
/// (`evm_`, `anvil_`, `hardhat_`) other than the read-only ones.
fn is_write(method: &str) -> bool {
    const READS: &[&str] = &[
        "anvil_getAutomine",
        "hardhat_getAutomine",
        "anvil_getIntervalMining",
        "anvil_nodeInfo",
        "anvil_metadata",
        "hardhat_metadata",
        "anvil_dumpState",
        "hardhat_dumpState",
    ];
    matches!(method, "eth_sendRawTransaction" | "eth_sendTransaction")
        || (["evm_", "anvil_", "hardhat_"].iter().any(|p| method.starts_with(p))
            && !READS.contains(&method))
}

impl RpcExtension for FollowerApi {
    fn call(&self, method: &str, _params: Value) -> Option<RpcFuture> {
        let status =
            self.status.read().map(|s| s.clone()).unwrap_or_else(|e| e.into_inner().clone());
        let result: Result<Value, RpcError> = match method {
            "anh_syncStatus" => Ok(json!(status)),
            "eth_syncing" if status.state == "synced" => Ok(json!(false)),
            "eth_syncing" => Ok(json!({
                "startingBlock": format!("{:#x}", status.starting_block),
                "currentBlock": format!("{:#x}", status.current_block),
                "highestBlock": format!("{:#x}", status.highest_block),
            })),
            m if is_write(m) => Err(RpcError::new(
                anh_rpc::error::SERVER_ERROR,
                format!(
                    "this node follows {} and changes nothing itself: send {m} there",
                    status.following
                ),
            )),
            _ => return None,
        };
        Some(Box::pin(async move { result }))
    }
}

/// Logs that the follower checked genesis.
pub fn log_genesis(upstream: &Upstream, hash: alloy_primitives::B256) {
    info!(following = upstream.url(), genesis = %hash, "genesis matches the pinned hash");
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpListener,
    };

    /// An upstream that answers every request with `head`, then spaces until the client goes
    /// away (`stream`) or nothing at all.
    async fn upstream(head: String, stream: bool) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let head = head.clone();
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let _ = socket.read(&mut request).await;
                    socket.write_all(head.as_bytes()).await?;
                    let spaces = vec![b' '; 1 << 16];
                    if stream {
                        loop {
                            socket.write_all(&spaces).await?;
                        }
                    }
                    std::future::pending::<()>().await;
                    Ok::<_, std::io::Error>(())
                });
            }
        });
        url
    }

    /// A reply past the limit is an error: refused before reading when its length is
    /// announced (the upstream here never sends the body), and reading stops at the limit when
    /// it is not.
    #[tokio::test]
    async fn a_reply_past_the_limit_is_refused() {
        let limit = 1 << 20;
        let cases = [("Content-Length: 300000000", false), ("Connection: close", true)];
        for (length, stream) in cases {
            let head =
                format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{length}\r\n\r\n");
            let url = upstream(head, stream).await;
            // Without the check of the announced length, the first case would end in the
            // request's timeout, with another error.
            let error = Upstream::new(&url).with_max_reply(limit).head().await.unwrap_err();
            assert_eq!(error, format!("eth_blockNumber: the reply is longer than {limit} bytes"));
        }
    }
}
