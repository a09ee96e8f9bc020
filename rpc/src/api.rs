//! Method dispatch: a JSON-RPC method name and its parameters become calls on the
//! [`Backend`].
//!
//! EVM execution (`eth_call`, `eth_estimateGas`, `eth_sendTransaction`'s gas estimate) and
//! block production run on tokio's blocking pool, never on an async worker.

use crate::{
    convert,
    error::RpcError,
    params::{none, parse},
};
use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, B256, Bytes, U64, U128, U256, keccak256};
use alloy_rpc_types_eth::{Filter, TransactionRequest};
use anh_evm_host::{
    Backend, HostError, MineOptions, Miner, MiningMode, TxLocation, backend::SUGGESTED_PRIORITY_FEE,
};
use serde::Serialize;
use serde_json::Value;
use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

/// Result of a method.
pub type RpcResult = Result<Value, RpcError>;

/// A boxed future of a method's result.
pub type RpcFuture = Pin<Box<dyn Future<Output = RpcResult> + Send>>;

/// Methods served by another component (the `anh_` namespace, for instance), tried before
/// the standard ones.
pub trait RpcExtension: Send + Sync + std::fmt::Debug {
    /// The future for `method`, or `None` if this extension does not serve it.
    fn call(&self, method: &str, params: Value) -> Option<RpcFuture>;
}

/// Limits and identity of the API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// What `web3_clientVersion` answers.
    pub client_version: String,
    /// Largest block range `eth_getLogs` scans.
    pub max_logs_range: u64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self { client_version: client_version(), max_logs_range: 100_000 }
    }
}

/// `web3_clientVersion`: it starts with `anvil/` because Hardhat's network helpers accept
/// only nodes that say they are Hardhat Network or anvil, and ANH implements anvil's dev
/// methods.
pub fn client_version() -> String {
    format!("anvil/anh-v{}", env!("CARGO_PKG_VERSION"))
}

/// The JSON-RPC API over a backend and its miner.
#[derive(Debug, Clone)]
pub struct EthApi {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    backend: Arc<Backend>,
    miner: Arc<Miner>,
    config: ApiConfig,
    extensions: Vec<Arc<dyn RpcExtension>>,
}

fn ok<T: Serialize>(value: T) -> RpcResult {
    serde_json::to_value(value).map_err(RpcError::internal)
}

async fn blocking<T, F>(f: F) -> Result<T, RpcError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, HostError> + Send + 'static,
{
    tokio::task::spawn_blocking(f).await.map_err(RpcError::internal)?.map_err(RpcError::from)
}

/// `eth_feeHistory`'s block count may be a quantity or a plain number.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum BlockCount {
    Quantity(U64),
    Number(u64),
}

impl EthApi {
    /// An API over `backend`, mining with `miner`; `extensions` serve further methods.
    pub fn new(
        backend: Arc<Backend>,
        miner: Arc<Miner>,
        config: ApiConfig,
        extensions: Vec<Arc<dyn RpcExtension>>,
    ) -> Self {
        Self { inner: Arc::new(Inner { backend, miner, config, extensions }) }
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<Backend> {
        &self.inner.backend
    }

    /// The miner.
    pub fn miner(&self) -> &Arc<Miner> {
        &self.inner.miner
    }

    /// Executes `method` with `params`.
    pub async fn execute(&self, method: &str, params: Value) -> RpcResult {
        for extension in &self.inner.extensions {
            if let Some(future) = extension.call(method, params.clone()) {
                return future.await;
            }
        }
        let backend = &self.inner.backend;
        match method {
            "web3_clientVersion" => {
                none(&params)?;
                ok(&self.inner.config.client_version)
            }
            "web3_sha3" => {
                let (data,): (Bytes,) = parse(params, 1)?;
                ok(keccak256(data))
            }
            "net_version" | "eth_networkId" => {
                none(&params)?;
                ok(backend.chain_id().to_string())
            }
            "net_listening" => {
                none(&params)?;
                ok(true)
            }
            "eth_chainId" => {
                none(&params)?;
                ok(U64::from(backend.chain_id()))
            }
            "eth_syncing" => {
                none(&params)?;
                ok(false)
            }
            "eth_blockNumber" => {
                none(&params)?;
                ok(U64::from(backend.best_number()))
            }
            "eth_accounts" | "eth_requestAccounts" => {
                none(&params)?;
                ok(backend.dev_accounts().iter().map(|a| a.address).collect::<Vec<_>>())
            }
            "eth_gasPrice" => {
                none(&params)?;
                ok(U128::from(backend.gas_price()))
            }
            "eth_maxPriorityFeePerGas" => {
                none(&params)?;
                ok(U128::from(SUGGESTED_PRIORITY_FEE))
            }
            "eth_feeHistory" => {
                let (count, newest, percentiles): (BlockCount, BlockNumberOrTag, Option<Vec<f64>>) =
                    parse(params, 2)?;
                let count = match count {
                    BlockCount::Quantity(q) => q.to::<u64>(),
                    BlockCount::Number(n) => n,
                };
                ok(backend.fee_history(count, newest, &percentiles.unwrap_or_default())?)
            }
            "eth_getBlockByNumber" => {
                let (tag, full): (BlockNumberOrTag, bool) = parse(params, 2)?;
                let block = match backend.resolve_number(BlockId::Number(tag)) {
                    Ok(Some(n)) => backend.block(n),
                    Ok(None) => Some(backend.latest()),
                    Err(HostError::UnknownBlock) => None,
                    Err(e) => return Err(e.into()),
                };
                ok(block.map(|b| convert::block(&b, full)))
            }
            "eth_getBlockByHash" => {
                let (hash, full): (B256, bool) = parse(params, 2)?;
                ok(backend.block_by_hash(&hash).map(|b| convert::block(&b, full)))
            }
            "eth_getBlockTransactionCountByNumber" => {
                let (tag,): (BlockNumberOrTag,) = parse(params, 1)?;
                let block = self.block_for(BlockId::Number(tag))?;
                ok(block.map(|b| U64::from(b.transactions.len())))
            }
            "eth_getBlockTransactionCountByHash" => {
                let (hash,): (B256,) = parse(params, 1)?;
                ok(backend.block_by_hash(&hash).map(|b| U64::from(b.transactions.len())))
            }
            "eth_getTransactionByBlockNumberAndIndex" => {
                let (tag, index): (BlockNumberOrTag, U64) = parse(params, 2)?;
                let block = self.block_for(BlockId::Number(tag))?;
                ok(block.and_then(|b| {
                    let i = index.to::<usize>();
                    b.transactions.get(i).map(|t| convert::mined_transaction(&b, i, t))
                }))
            }
            "eth_getTransactionByBlockHashAndIndex" => {
                let (hash, index): (B256, U64) = parse(params, 2)?;
                ok(backend.block_by_hash(&hash).and_then(|b| {
                    let i = index.to::<usize>();
                    b.transactions.get(i).map(|t| convert::mined_transaction(&b, i, t))
                }))
            }
            "eth_getBlockReceipts" => {
                let (id,): (BlockId,) = parse(params, 1)?;
                let block = self.block_for(id)?;
                ok(block.map(|b| {
                    (0..b.transactions.len()).map(|i| convert::receipt(&b, i)).collect::<Vec<_>>()
                }))
            }
            "eth_getTransactionCount" => {
                let (address, id): (Address, Option<BlockId>) = parse(params, 1)?;
                let id = id.unwrap_or_default();
                let nonce = if id == BlockId::pending() {
                    backend.pending_nonce(&address)
                } else {
                    backend.state_at(id)?.account(&address).map(|a| a.nonce).unwrap_or(0)
                };
                ok(U64::from(nonce))
            }
            "eth_getBalance" => {
                let (address, id): (Address, Option<BlockId>) = parse(params, 1)?;
                let state = backend.state_at(id.unwrap_or_default())?;
                ok(state.account(&address).map(|a| a.balance).unwrap_or_default())
            }
            "eth_getCode" => {
                let (address, id): (Address, Option<BlockId>) = parse(params, 1)?;
                let state = backend.state_at(id.unwrap_or_default())?;
                let code =
                    state.account(&address).map(|a| backend.code(&a.code_hash)).unwrap_or_default();
                ok(code)
            }
            "eth_getStorageAt" => {
                let (address, slot, id): (Address, U256, Option<BlockId>) = parse(params, 2)?;
                let state = backend.state_at(id.unwrap_or_default())?;
                ok(B256::from(state.storage(&address, slot)))
            }
            "eth_call" => {
                let (request, id, overrides): (TransactionRequest, Option<BlockId>, Option<Value>) =
                    parse(params, 1)?;
                if overrides.is_some_and(|o| !o.is_null()) {
                    return Err(RpcError::invalid_params("state overrides are not supported yet"));
                }
                let backend = backend.clone();
                let outcome =
                    blocking(move || backend.call(&request, id.unwrap_or_default())).await?;
                ok(outcome.output)
            }
            "eth_estimateGas" => {
                let (request, id): (TransactionRequest, Option<BlockId>) = parse(params, 1)?;
                let backend = backend.clone();
                let id = id.unwrap_or(BlockId::pending());
                ok(U64::from(blocking(move || backend.estimate_gas(&request, id)).await?))
            }
            "eth_sendRawTransaction" => {
                let (raw,): (Bytes,) = parse(params, 1)?;
                ok(backend.submit_raw(&raw)?)
            }
            "eth_sendTransaction" => {
                let (request,): (TransactionRequest,) = parse(params, 1)?;
                let backend = backend.clone();
                ok(blocking(move || backend.send_transaction(request)).await?)
            }
            "eth_getTransactionByHash" => {
                let (hash,): (B256,) = parse(params, 1)?;
                ok(backend.transaction(&hash).map(|loc| match loc {
                    TxLocation::Mined(block, i) => {
                        convert::mined_transaction(&block, i, &block.transactions[i])
                    }
                    TxLocation::Pending(tx) => convert::pending_transaction(&tx),
                }))
            }
            "eth_getTransactionReceipt" => {
                let (hash,): (B256,) = parse(params, 1)?;
                ok(match backend.transaction(&hash) {
                    Some(TxLocation::Mined(block, i)) => Some(convert::receipt(&block, i)),
                    _ => None,
                })
            }
            "eth_getLogs" => {
                let (filter,): (Filter,) = parse(params, 1)?;
                let backend = backend.clone();
                let max = self.inner.config.max_logs_range;
                ok(blocking(move || backend.logs(&filter, max)).await?)
            }
            "evm_snapshot" | "anvil_snapshot" => {
                none(&params)?;
                ok(U64::from(backend.snapshot()))
            }
            "evm_revert" | "anvil_revert" => {
                let (id,): (U64,) = parse(params, 1)?;
                let backend = backend.clone();
                ok(blocking(move || backend.revert(id.to::<u64>())).await?)
            }
            "evm_mine" => {
                let (timestamp,): (Option<U64>,) = parse(params, 0)?;
                let backend = backend.clone();
                let options =
                    MineOptions { allow_empty: true, timestamp: timestamp.map(|t| t.to::<u64>()) };
                blocking(move || backend.mine(options)).await?;
                ok("0x0")
            }
            "evm_setAutomine" | "anvil_setAutomine" => {
                let (enabled,): (bool,) = parse(params, 1)?;
                self.inner.miner.set_mode(if enabled {
                    MiningMode::Auto
                } else {
                    MiningMode::Manual
                });
                if enabled {
                    backend.tx_ready().notify_one();
                }
                ok(true)
            }
            "evm_setIntervalMining" | "anvil_setIntervalMining" => {
                let (seconds,): (u64,) = parse(params, 1)?;
                self.inner.miner.set_mode(if seconds == 0 {
                    MiningMode::Manual
                } else {
                    MiningMode::Interval(Duration::from_secs(seconds))
                });
                ok(true)
            }
            "anvil_getAutomine" | "hardhat_getAutomine" => {
                none(&params)?;
                ok(self.inner.miner.mode() == MiningMode::Auto)
            }
            m if m.starts_with("debug_") => match crate::debug::execute(self, m, params).await {
                Some(result) => result,
                None => Err(RpcError::method_not_found(method)),
            },
            _ => Err(RpcError::method_not_found(method)),
        }
    }

    /// The block `id` names (`pending` is the latest), or `None` if there is none.
    fn block_for(&self, id: BlockId) -> Result<Option<Arc<anh_evm_host::Block>>, RpcError> {
        let backend = &self.inner.backend;
        match backend.resolve_number(id) {
            Ok(Some(n)) => Ok(backend.block(n)),
            Ok(None) => Ok(Some(backend.latest())),
            Err(HostError::UnknownBlock) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}
