//! Method dispatch: a JSON-RPC method name and its parameters become calls on the
//! [`Backend`].
//!
//! EVM execution (`eth_call`, `eth_estimateGas`, `eth_sendTransaction`'s gas estimate) and
//! block production run on tokio's blocking pool, never on an async worker.

use crate::{
    background::Background,
    convert,
    error::{METHOD_NOT_FOUND, RpcError, SERVER_ERROR},
    filters::Filters,
    params::{none, parse},
    pubsub::SubscriptionCount,
};
use alloy_consensus::SignableTransaction;
use alloy_eips::eip2718::Encodable2718;
use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, B256, Bytes, U64, U128, U256, keccak256};
use alloy_primitives::{KECCAK256_EMPTY, Signature};
use alloy_rpc_types_eth::{BlockOverrides, state::StateOverride};
use alloy_rpc_types_eth::{Filter, TransactionRequest};
use alloy_trie::EMPTY_ROOT_HASH;
use anh_evm_host::Block;
use anh_evm_host::CallOverrides;
use anh_evm_host::{
    Backend, HostError, Miner, MiningMode, TxLocation,
    backend::{LogLimits, SUGGESTED_PRIORITY_FEE},
    txpool::{Exclusion, MAX_EXCLUSIONS},
};
use serde::Serialize;
use serde_json::{Value, value::RawValue};
use std::{future::Future, pin::Pin, sync::Arc};
use tokio::sync::broadcast;

/// The error a sender gets for a transaction the block builder left out (-32000, the hash
/// in `data`).
fn left_out(hash: B256, exclusion: &Exclusion) -> RpcError {
    let next = if exclusion.evicted {
        format!("it was left out {} times and has left the pool", exclusion.attempts)
    } else {
        format!(
            "it stays in the pool and is tried again with the next block (try {} of {MAX_EXCLUSIONS})",
            exclusion.attempts
        )
    };
    RpcError {
        data: Some(serde_json::json!(hash)),
        ..RpcError::new(
            SERVER_ERROR,
            format!("transaction {hash} was left out of the block: {}; {next}", exclusion.reason),
        )
    }
}

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
    /// What `eth_getLogs` and `eth_getFilterLogs` may scan and return.
    pub logs: LogLimits,
    /// How many expensive requests run at once.
    pub heavy: HeavyLimits,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            client_version: client_version(),
            logs: LogLimits::default(),
            heavy: HeavyLimits::default(),
        }
    }
}

/// Bounds on the requests whose work the caller chooses ([`is_heavy`]: executing calls,
/// log queries, traces), over all connections: at most `concurrent` run at once and at most
/// `queued` wait; past that a request is refused at once with -32005. Cheap requests
/// (`eth_sendRawTransaction`, receipts, balances, blocks) never wait for them, so a client
/// that floods expensive ones takes at most `concurrent` cores from everyone else — and
/// those at a lower priority ([`crate::background`]): they get what the rest leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeavyLimits {
    /// Expensive requests running at once (default: half the cores, at least 1).
    pub concurrent: usize,
    /// Expensive requests waiting for a turn (default 256).
    pub queued: usize,
}

impl Default for HeavyLimits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self { concurrent: (cores / 2).max(1), queued: 256 }
    }
}

/// Whether `method` is an expensive request ([`HeavyLimits`]).
pub fn is_heavy(method: &str) -> bool {
    matches!(
        method,
        "eth_call"
            | "eth_estimateGas"
            | "eth_createAccessList"
            | "eth_simulateV1"
            | "eth_getLogs"
            | "eth_getFilterLogs"
    ) || method.starts_with("debug_trace")
        || method.starts_with("trace_")
}

/// The expensive requests' turns ([`HeavyLimits`]).
#[derive(Debug)]
struct HeavyLane {
    running: Arc<tokio::sync::Semaphore>,
    waiting: Arc<std::sync::atomic::AtomicUsize>,
    limits: HeavyLimits,
}

/// One place in the queue of a [`HeavyLane`], given back however the wait ends (a turn, or a
/// client that went away while waiting).
struct Waiting(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Where a request stands in a [`HeavyLane`]: its turn, or a place in the queue.
enum Place {
    Turn(tokio::sync::OwnedSemaphorePermit),
    Queued(Waiting),
}

impl Place {
    /// The turn, once `running` gives it.
    async fn turn(
        self,
        running: Arc<tokio::sync::Semaphore>,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, RpcError> {
        match self {
            Self::Turn(turn) => Ok(turn),
            Self::Queued(place) => {
                let turn = running.acquire_owned().await.map_err(RpcError::internal);
                drop(place);
                turn
            }
        }
    }
}

impl HeavyLane {
    fn new(limits: HeavyLimits) -> Self {
        Self {
            running: Arc::new(tokio::sync::Semaphore::new(limits.concurrent.max(1))),
            waiting: Arc::default(),
            limits,
        }
    }

    /// A turn at once, or a place in the queue, or a refusal when the queue is full.
    fn enter(&self, method: &str) -> Result<Place, RpcError> {
        use std::sync::atomic::Ordering;
        if let Ok(permit) = self.running.clone().try_acquire_owned() {
            return Ok(Place::Turn(permit));
        }
        let place = Waiting(self.waiting.clone());
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.limits.queued {
            return Err(RpcError::new(
                crate::error::LIMIT_EXCEEDED,
                format!(
                    "too many expensive requests at once: {method} would wait behind {} running \
                     and {} queued (calls, log queries and traces); try again later",
                    self.limits.concurrent, self.limits.queued
                ),
            ));
        }
        Ok(Place::Queued(place))
    }

    /// Waits for a turn, or refuses when the queue is full. The turn is owned, so that it can
    /// go with the work it allows ([`HeavyLane::run`]).
    #[cfg(test)]
    async fn turn(&self, method: &str) -> Result<tokio::sync::OwnedSemaphorePermit, RpcError> {
        self.enter(method)?.turn(self.running.clone()).await
    }

    /// Runs `work` on `background` in a turn (refused at once when the queue is full). The
    /// request waits for its turn on `background`, so that a turn given back goes to the next
    /// request on the thread that gave it back, with no hand-over between threads: on a
    /// machine where waking a thread is slow, a wake-up per turn halved the calls served. A
    /// client that goes away while waiting gives its place back. The turn goes with the work:
    /// a client that goes away once its work started does not end it (blocking work cannot be
    /// stopped), so the turn is held until the work ends, and a client cannot start more
    /// expensive work at once than the lane allows by hanging up.
    async fn run<T, F>(&self, background: &Background, method: &str, work: F) -> Result<T, RpcError>
    where
        T: Send + 'static,
        F: std::future::Future<Output = Result<T, RpcError>> + Send + 'static,
    {
        let place = self.enter(method)?;
        let running = self.running.clone();
        let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = started.clone();
        let request = async move {
            let _turn = place.turn(running).await?;
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            HEAVY_TURN.scope((), work).await
        };
        background.run_unless_gone(request, started).await
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
    filters: Filters,
    subscriptions: Arc<SubscriptionCount>,
    heavy: HeavyLane,
    /// The runtime expensive requests run on.
    background: Background,
}

pub(crate) fn ok<T: Serialize>(value: T) -> RpcResult {
    serde_json::to_value(value).map_err(RpcError::internal)
}

/// `value` as JSON text.
pub(crate) fn encoded<T: Serialize + ?Sized>(value: &T) -> Result<Box<RawValue>, RpcError> {
    serde_json::value::to_raw_value(value).map_err(RpcError::internal)
}

tokio::task_local! {
    /// Set while the members of a bulk batch run ([`EthApi::in_background`]).
    static BULK: ();
}

tokio::task_local! {
    /// Set while an expensive request runs in its turn of the heavy lane ([`HeavyLane::run`]).
    static HEAVY_TURN: ();
}

/// Runs `f`, blocking work: directly on this thread when it is an expensive request's, in its
/// turn, on a [`crate::background`] runtime's worker (which saves two hand-overs between
/// threads: see that module); else on the blocking pool of the runtime it is called on. Only
/// expensive requests run directly: they execute, scan and trace, and never wait for another
/// task (mining, which waits for the committee, must not run on a worker thread).
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, RpcError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, HostError> + Send + 'static,
{
    if HEAVY_TURN.try_with(|()| ()).is_ok() && crate::background::on_background_thread() {
        return f().map_err(RpcError::from);
    }
    tokio::task::spawn_blocking(f).await.map_err(RpcError::internal)?.map_err(RpcError::from)
}

/// `eth_call` and `eth_estimateGas`: request, block, state overrides, block overrides.
type CallParams =
    (TransactionRequest, Option<BlockId>, Option<StateOverride>, Option<Box<BlockOverrides>>);

/// The longest `eth_send*Transaction` waits for automine to include a transaction.
const AUTOMINE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The most storage keys one `eth_getProof` proves.
pub const MAX_PROOF_SLOTS: usize = 1024;

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
        Self {
            inner: Arc::new(Inner {
                backend,
                miner,
                heavy: HeavyLane::new(config.heavy),
                background: Background::new(config.heavy.concurrent),
                config,
                extensions,
                filters: Filters::default(),
                subscriptions: Arc::default(),
            }),
        }
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<Backend> {
        &self.inner.backend
    }

    /// The miner.
    pub fn miner(&self) -> &Arc<Miner> {
        &self.inner.miner
    }

    /// What `web3_clientVersion` answers.
    pub fn client_version(&self) -> &str {
        &self.inner.config.client_version
    }

    /// WebSocket subscriptions alive, over all connections.
    pub fn active_subscriptions(&self) -> usize {
        self.inner.subscriptions.get()
    }

    /// Polled filters installed.
    pub fn installed_filters(&self) -> usize {
        self.inner.filters.len()
    }

    pub(crate) fn subscription_count(&self) -> &Arc<SubscriptionCount> {
        &self.inner.subscriptions
    }

    /// Executes `method` with `params` and returns its result as JSON text, which is what the
    /// server sends: methods whose results can be large (`eth_getLogs`) serialize straight to
    /// text, without building a [`Value`] tree first.
    pub async fn execute_encoded(
        &self,
        method: &str,
        params: Value,
    ) -> Result<Box<RawValue>, RpcError> {
        let heavy = is_heavy(method);
        if heavy || BULK.try_with(|_| ()).is_ok() {
            let (api, owned) = (self.clone(), method.to_owned());
            let work = async move { api.execute_unlaned(&owned, params).await };
            return match heavy {
                true => self.inner.heavy.run(&self.inner.background, method, work).await,
                false => self.inner.background.run(work).await,
            };
        }
        self.execute_unlaned(method, params).await
    }

    /// Runs `future`, a bulk batch's members, as background work: each member runs on the
    /// low-priority runtime of [`crate::background`].
    pub(crate) async fn in_background<F: std::future::Future>(&self, future: F) -> F::Output {
        BULK.scope((), future).await
    }

    /// [`EthApi::execute_encoded`] once the request may run.
    async fn execute_unlaned(
        &self,
        method: &str,
        params: Value,
    ) -> Result<Box<RawValue>, RpcError> {
        if let Some(future) = self.extension(method, &params) {
            return encoded(&future.await?);
        }
        match method {
            "eth_getLogs" => {
                let (filter,): (Filter,) = parse(params, 1)?;
                let backend = self.inner.backend.clone();
                let limits = self.inner.config.logs;
                encoded(&blocking(move || backend.logs(&filter, limits)).await?)
            }
            _ => encoded(&self.execute_builtin(method, params).await?),
        }
    }

    /// The call of the first extension that serves `method`, if one does.
    fn extension(&self, method: &str, params: &Value) -> Option<RpcFuture> {
        self.inner.extensions.iter().find_map(|extension| extension.call(method, params.clone()))
    }

    /// Executes one of the methods this crate serves.
    async fn execute_builtin(&self, method: &str, params: Value) -> RpcResult {
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
                let (request, id, state, block): CallParams = parse(params, 1)?;
                let overrides = CallOverrides { state, block };
                let backend = backend.clone();
                let id = id.unwrap_or_default();
                let outcome = blocking(move || backend.call_with(&request, id, &overrides)).await?;
                ok(outcome.output)
            }
            "eth_estimateGas" => {
                let (request, id, state, block): CallParams = parse(params, 1)?;
                let overrides = CallOverrides { state, block };
                let backend = backend.clone();
                let id = id.unwrap_or(BlockId::pending());
                ok(U64::from(
                    blocking(move || backend.estimate_gas_with(&request, id, &overrides)).await?,
                ))
            }
            "eth_createAccessList" => {
                let (request, id): (TransactionRequest, Option<BlockId>) = parse(params, 1)?;
                let backend = backend.clone();
                let id = id.unwrap_or(BlockId::pending());
                ok(blocking(move || backend.create_access_list(&request, id)).await?)
            }
            "eth_fillTransaction" => {
                let (request,): (TransactionRequest,) = parse(params, 1)?;
                let from =
                    request.from.ok_or_else(|| RpcError::invalid_params("missing \"from\""))?;
                let backend = backend.clone();
                let typed = blocking(move || backend.fill_request(request)).await?;
                let unsigned = typed.into_signed(Signature::new(U256::ZERO, U256::ZERO, false));
                let envelope = alloy_consensus::TxEnvelope::from(unsigned);
                ok(serde_json::json!({
                    "raw": Bytes::from(envelope.encoded_2718()),
                    "tx": convert::unsigned_transaction(envelope, from),
                }))
            }
            "eth_sign" => {
                let (address, message): (Address, Bytes) = parse(params, 2)?;
                crate::sign::personal(backend, address, &message)
            }
            "personal_sign" => {
                let (message, address): (Bytes, Address) = parse(params, 2)?;
                crate::sign::personal(backend, address, &message)
            }
            "eth_signTypedData_v4" | "eth_signTypedData_v3" | "eth_signTypedData" => {
                crate::sign::typed_data(backend, params)
            }
            "eth_signTransaction" => {
                let (request,): (TransactionRequest,) = parse(params, 1)?;
                let backend = backend.clone();
                let tx = blocking(move || backend.sign_request(request)).await?;
                ok(Bytes::from(tx.encoded_2718()))
            }
            "eth_getProof" => {
                let (address, slots, id): (Address, Vec<U256>, Option<BlockId>) = parse(params, 2)?;
                if slots.len() > MAX_PROOF_SLOTS {
                    return Err(RpcError::invalid_params(format!(
                        "too many storage keys: {} (limit {MAX_PROOF_SLOTS})",
                        slots.len()
                    )));
                }
                let state = backend.state_at(id.unwrap_or_default())?;
                ok(convert::proof(&state, address, &slots))
            }
            "eth_getAccount" => {
                let (address, id): (Address, Option<BlockId>) = parse(params, 1)?;
                let state = backend.state_at(id.unwrap_or_default())?;
                let account = state.account(&address);
                ok(serde_json::json!({
                    "codeHash": account.map_or(KECCAK256_EMPTY, |a| a.code_hash),
                    "storageRoot": account.map_or(EMPTY_ROOT_HASH, |a| a.storage_root()),
                    "balance": account.map(|a| a.balance).unwrap_or_default(),
                    "nonce": U64::from(account.map_or(0, |a| a.nonce)),
                }))
            }
            "eth_getRawTransactionByHash" => {
                let (hash,): (B256,) = parse(params, 1)?;
                ok(backend.transaction(&hash).map(|loc| match loc {
                    TxLocation::Mined(block, i) => {
                        Bytes::from(block.transactions[i].tx.encoded_2718())
                    }
                    TxLocation::Pending(tx) => Bytes::from(tx.tx.encoded_2718()),
                }))
            }
            "eth_getRawTransactionByBlockNumberAndIndex" => {
                let (tag, index): (BlockNumberOrTag, U64) = parse(params, 2)?;
                let block = self.block_for(BlockId::Number(tag))?;
                ok(block.and_then(|b| {
                    b.transactions
                        .get(index.to::<usize>())
                        .map(|t| Bytes::from(t.tx.encoded_2718()))
                }))
            }
            "eth_getRawTransactionByBlockHashAndIndex" => {
                let (hash, index): (B256, U64) = parse(params, 2)?;
                ok(backend.block_by_hash(&hash).and_then(|b| {
                    b.transactions
                        .get(index.to::<usize>())
                        .map(|t| Bytes::from(t.tx.encoded_2718()))
                }))
            }
            "eth_getHeaderByNumber" => {
                let (tag,): (BlockNumberOrTag,) = parse(params, 1)?;
                let block = self.block_for(BlockId::Number(tag))?;
                ok(block.map(|b| convert::block(&b, false).header))
            }
            "eth_getHeaderByHash" => {
                let (hash,): (B256,) = parse(params, 1)?;
                ok(backend.block_by_hash(&hash).map(|b| convert::block(&b, false).header))
            }
            "eth_getUncleCountByBlockNumber" => {
                let (tag,): (BlockNumberOrTag,) = parse(params, 1)?;
                ok(self.block_for(BlockId::Number(tag))?.map(|_| U64::ZERO))
            }
            "eth_getUncleCountByBlockHash" => {
                let (hash,): (B256,) = parse(params, 1)?;
                ok(backend.block_by_hash(&hash).map(|_| U64::ZERO))
            }
            "eth_getUncleByBlockNumberAndIndex" => {
                let (_, _): (BlockNumberOrTag, U64) = parse(params, 2)?;
                ok(Value::Null)
            }
            "eth_getUncleByBlockHashAndIndex" => {
                let (_, _): (B256, U64) = parse(params, 2)?;
                ok(Value::Null)
            }
            "eth_coinbase" => {
                none(&params)?;
                ok(backend.coinbase())
            }
            "eth_mining" => {
                none(&params)?;
                ok(self.inner.miner.mode() != MiningMode::Manual)
            }
            "eth_hashrate" => {
                none(&params)?;
                ok(U64::ZERO)
            }
            "eth_pendingTransactions" => {
                none(&params)?;
                let (pending, queued) = backend.pool_content();
                ok(pending
                    .iter()
                    .chain(&queued)
                    .map(|tx| convert::pending_transaction(tx))
                    .collect::<Vec<_>>())
            }
            "txpool_status" => {
                none(&params)?;
                let (pending, queued) = backend.pool_content();
                ok(serde_json::json!({
                    "pending": U64::from(pending.len()),
                    "queued": U64::from(queued.len()),
                }))
            }
            "txpool_content" => {
                none(&params)?;
                let (pending, queued) = backend.pool_content();
                ok(serde_json::json!({
                    "pending": convert::pool_by_sender(&pending, |tx| {
                        serde_json::to_value(convert::pending_transaction(tx)).unwrap_or_default()
                    }),
                    "queued": convert::pool_by_sender(&queued, |tx| {
                        serde_json::to_value(convert::pending_transaction(tx)).unwrap_or_default()
                    }),
                }))
            }
            "txpool_inspect" => {
                none(&params)?;
                let (pending, queued) = backend.pool_content();
                ok(serde_json::json!({
                    "pending": convert::pool_by_sender(&pending, convert::inspect),
                    "queued": convert::pool_by_sender(&queued, convert::inspect),
                }))
            }
            "eth_newFilter" => {
                let (filter,): (Filter,) = parse(params, 1)?;
                ok(self.inner.filters.new_logs(backend, filter)?)
            }
            "eth_newBlockFilter" => {
                none(&params)?;
                ok(self.inner.filters.new_blocks(backend)?)
            }
            "eth_newPendingTransactionFilter" => {
                let (_full,): (Option<bool>,) = parse(params, 0)?;
                ok(self.inner.filters.new_pending(backend)?)
            }
            "eth_getFilterChanges" => {
                let (id,): (U128,) = parse(params, 1)?;
                let api = self.clone();
                let backend = backend.clone();
                let changes =
                    tokio::task::spawn_blocking(move || api.inner.filters.changes(&backend, id))
                        .await
                        .map_err(RpcError::internal)??;
                ok(changes)
            }
            "eth_getFilterLogs" => {
                let (id,): (U128,) = parse(params, 1)?;
                let filter = self.inner.filters.log_filter(id)?;
                let backend = backend.clone();
                let limits = self.inner.config.logs;
                ok(blocking(move || backend.logs(&filter, limits)).await?)
            }
            "eth_uninstallFilter" => {
                let (id,): (U128,) = parse(params, 1)?;
                ok(self.inner.filters.uninstall(id))
            }
            "eth_subscribe" | "eth_unsubscribe" => Err(RpcError::new(
                METHOD_NOT_FOUND,
                format!("notifications not supported: {method} needs a WebSocket connection"),
            )),
            "eth_sendRawTransaction" => {
                let (raw,): (Bytes,) = parse(params, 1)?;
                let watch = (backend.subscribe_blocks(), backend.subscribe_exclusions());
                let hash = backend.submit_raw(&raw)?;
                self.await_automine(hash, watch).await?;
                ok(hash)
            }
            "eth_sendTransaction" => {
                let (request,): (TransactionRequest,) = parse(params, 1)?;
                let watch = (backend.subscribe_blocks(), backend.subscribe_exclusions());
                let backend = backend.clone();
                let hash = blocking(move || backend.send_transaction(request)).await?;
                self.await_automine(hash, watch).await?;
                ok(hash)
            }
            "eth_getAccountInfo" => {
                let (address, id): (Address, Option<BlockId>) = parse(params, 1)?;
                let state = backend.state_at(id.unwrap_or_default())?;
                let account = state.account(&address);
                ok(serde_json::json!({
                    "balance": account.map(|a| a.balance).unwrap_or_default(),
                    "nonce": U64::from(account.map_or(0, |a| a.nonce)),
                    "code": account.map(|a| backend.code(&a.code_hash)).unwrap_or_default(),
                }))
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
            m if m.starts_with("debug_") || m.starts_with("trace_") => {
                match crate::debug::execute(self, m, params).await {
                    Some(result) => result,
                    None => Err(RpcError::method_not_found()),
                }
            }
            m if m.starts_with("evm_") || m.starts_with("anvil_") || m.starts_with("hardhat_") => {
                match crate::dev::execute(self, m, params).await {
                    Some(result) => result,
                    None => Err(RpcError::method_not_found()),
                }
            }
            _ => Err(RpcError::method_not_found()),
        }
    }

    /// With automine on, waits until the transaction `hash` is in a block (or has left the
    /// pool unmined), as Hardhat Network does, so that its receipt exists when
    /// `eth_send*Transaction` answers; the miner still batches transactions that arrive
    /// together. A transaction waiting behind a nonce gap is answered at once. `watch` (new
    /// blocks, exclusions) must have been subscribed before the transaction was submitted.
    ///
    /// A transaction the builder left out of the block (a DNN job nobody could settle
    /// provably) answers an error with the reason, as Hardhat answers a revert: it stays in
    /// the pool and is tried again with the next block.
    async fn await_automine(
        &self,
        hash: B256,
        watch: (broadcast::Receiver<Arc<Block>>, broadcast::Receiver<(B256, Exclusion)>),
    ) -> Result<(), RpcError> {
        let (mut blocks, mut exclusions) = watch;
        if self.inner.miner.mode() != MiningMode::Auto || !self.inner.backend.is_ready(&hash) {
            return Ok(());
        }
        let backend = &self.inner.backend;
        let wait = async {
            loop {
                match backend.transaction(&hash) {
                    Some(TxLocation::Pending(_)) => {}
                    _ => {
                        return backend
                            .exclusion(&hash)
                            .map_or(Ok(()), |e| Err(left_out(hash, &e)));
                    }
                }
                tokio::select! {
                    block = blocks.recv() => match block {
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => return Ok(()),
                    },
                    excluded = exclusions.recv() => match excluded {
                        Ok((h, exclusion)) if h == hash => return Err(left_out(hash, &exclusion)),
                        Ok(_) => {}
                        Err(broadcast::error::RecvError::Lagged(_)) => {
                            if let Some(exclusion) = backend.exclusion(&hash) {
                                return Err(left_out(hash, &exclusion));
                            }
                        }
                        Err(broadcast::error::RecvError::Closed) => return Ok(()),
                    },
                }
            }
        };
        // A bound, in case mining is switched off meanwhile.
        tokio::time::timeout(AUTOMINE_WAIT, wait).await.unwrap_or(Ok(()))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Expensive requests take turns: past the running and the queued ones a request is
    /// refused at once with -32005, and a freed turn goes to the one waiting.
    #[tokio::test]
    async fn heavy_requests_take_turns() {
        let lane = Arc::new(HeavyLane::new(HeavyLimits { concurrent: 1, queued: 1 }));
        let first = lane.turn("eth_call").await.unwrap();
        let waiting = {
            let lane = lane.clone();
            tokio::spawn(async move { lane.turn("eth_getLogs").await.map(drop) })
        };
        while lane.waiting.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let refused = lane.turn("debug_traceTransaction").await.unwrap_err();
        assert_eq!(refused.code, crate::error::LIMIT_EXCEEDED);
        assert_eq!(
            refused.message,
            "too many expensive requests at once: debug_traceTransaction would wait behind 1 \
             running and 1 queued (calls, log queries and traces); try again later"
        );
        drop(first);
        waiting.await.unwrap().unwrap();
        assert!(lane.turn("eth_call").await.is_ok(), "the lane is free again");
    }

    /// A client that goes away while it waits gives its place in the queue back, and one that
    /// goes away while its work runs does not give its turn back before the work ends.
    #[tokio::test]
    async fn hanging_up_frees_no_turn_early_and_keeps_no_place() {
        use std::sync::atomic::Ordering;
        let lane = Arc::new(HeavyLane::new(HeavyLimits { concurrent: 1, queued: 1 }));
        let background = Arc::new(Background::new(1));
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let running = {
            let (lane, background) = (lane.clone(), background.clone());
            tokio::spawn(async move {
                let work = async move { released.await.map_err(RpcError::internal) };
                lane.run(&background, "eth_call", work).await
            })
        };
        while lane.running.available_permits() != 0 {
            tokio::task::yield_now().await;
        }
        // A waiter that hangs up: its place is given back.
        let waiter = {
            let lane = lane.clone();
            tokio::spawn(async move { lane.turn("eth_getLogs").await.map(drop) })
        };
        while lane.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        waiter.abort();
        let _ = waiter.await;
        assert_eq!(lane.waiting.load(Ordering::SeqCst), 0, "the place was given back");
        // One that waits on the background runtime and hangs up: its place is given back
        // there, and its work never runs.
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let waiter = {
            let (lane, background, ran) = (lane.clone(), background.clone(), ran.clone());
            tokio::spawn(async move {
                let work = async move {
                    ran.store(true, Ordering::SeqCst);
                    Ok(())
                };
                lane.run(&background, "eth_call", work).await
            })
        };
        while lane.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        waiter.abort();
        let _ = waiter.await;
        let given_back = async {
            while lane.waiting.load(Ordering::SeqCst) != 0 {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), given_back)
            .await
            .expect("the place is given back");
        // The running client hangs up: its work goes on, and keeps the turn.
        running.abort();
        let _ = running.await;
        assert_eq!(lane.running.available_permits(), 0, "the turn stays with the work");
        release.send(()).unwrap();
        let turn = tokio::time::timeout(std::time::Duration::from_secs(10), lane.turn("eth_call"));
        assert!(turn.await.expect("the turn comes back").is_ok(), "once the work ended");
        assert!(!ran.load(Ordering::SeqCst), "the work of the one that hung up never ran");
    }

    /// An expensive request's blocking work runs on the background worker that runs the
    /// request (no hand-over to the blocking pool and back); blocking work outside a turn —
    /// a bulk batch's `evm_mine`, which may wait for the committee — still goes to the pool,
    /// where waiting on a runtime is allowed.
    #[tokio::test]
    async fn only_expensive_requests_block_their_worker() {
        let lane = HeavyLane::new(HeavyLimits { concurrent: 1, queued: 1 });
        let background = Background::new(1);
        let thread = || Ok(std::thread::current().id());
        let work = async move {
            let here = std::thread::current().id();
            Ok((here, blocking(thread).await?))
        };
        let (worker, ran) = lane.run(&background, "eth_call", work).await.unwrap();
        assert_eq!(worker, ran, "a turn's work runs where the request runs");

        let bulk = async move {
            let here = std::thread::current().id();
            let pooled = blocking(|| {
                let handle = tokio::runtime::Handle::current();
                Ok((std::thread::current().id(), handle.block_on(async { 7 })))
            });
            Ok((here, pooled.await?))
        };
        let (worker, (ran, waited)) = background.run(bulk).await.unwrap();
        assert_ne!(worker, ran, "other work goes to the blocking pool");
        assert_eq!(waited, 7, "where it may wait on the runtime");
    }

    /// Which methods are expensive: executing calls, log queries and traces; sending,
    /// receipts and reads of one value are not.
    #[test]
    fn heavy_methods() {
        for m in ["eth_call", "eth_estimateGas", "eth_getLogs", "debug_traceCall", "trace_block"] {
            assert!(is_heavy(m), "{m}");
        }
        for m in ["eth_sendRawTransaction", "eth_getTransactionReceipt", "eth_getBalance"] {
            assert!(!is_heavy(m), "{m}");
        }
    }
}
