//! The backend: the chain, the pool, block production, calls and gas estimation.
//!
//! Concurrency: readers (RPC queries, calls) take short read locks to clone what they need
//! — a [`WorldState`] clone is O(1) — and execute without holding any lock. Everything that
//! changes the chain (mining, reverts, state edits) first takes the `writer` mutex, so there is
//! one writer at a time; it executes without blocking readers and only takes the chain's
//! write lock to publish the result.

use crate::{
    block::{Block, DevRecord, MinedTx, extra_data, recover_sender},
    error::{HostError, HostResult, InvalidTx},
    evm::{EvmConfig, block_env, call_cfg, call_tx_env, revert_reason, tx_env},
    genesis::{DevAccount, GenesisConfig, SPEC},
    state::{CodeStore, RecentHashes, StateChanges, StateDb, WorldState},
    store::Store,
    txpool::{PoolTx, TxPool},
};
use alloy_consensus::{
    EMPTY_OMMER_ROOT_HASH, Header, Receipt, ReceiptEnvelope, SignableTransaction, Transaction,
    TxEip1559, TxEip2930, TxEip7702, TxEnvelope, TxLegacy, TxType, TypedTransaction, proofs,
    transaction::SignerRecoverable,
};
use alloy_eips::{
    BlockId, BlockNumberOrTag,
    eip1559::{BaseFeeParams, calc_next_block_base_fee},
    eip2718::Decodable2718,
    eip2935::{HISTORY_SERVE_WINDOW, HISTORY_STORAGE_ADDRESS},
    eip7685::EMPTY_REQUESTS_HASH,
};
use alloy_primitives::{
    Address, B64, B256, Bloom, Bytes, KECCAK256_EMPTY, TxKind, U256, keccak256,
};
use alloy_rpc_types_eth::{
    FeeHistory, Filter, FilterBlockOption, Log as RpcLog, TransactionRequest,
};
use alloy_signer::SignerSync;
use alloy_trie::EMPTY_ROOT_HASH;
use anh_precompiles::{AnhPrecompiles, JobRecord};
use parking_lot::{Mutex, RwLock};
use revm::{
    ExecuteCommitEvm, ExecuteEvm,
    context::result::{EVMError, ExecutionResult, InvalidTransaction},
    context_interface::cfg::gas::calculate_initial_tx_gas_for_tx,
};
mod access_list;
pub mod dev;
mod overrides;
mod trace;

pub use overrides::CallOverrides;

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    convert::Infallible,
    path::PathBuf,
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};
use tokio::sync::{Notify, broadcast};
use tracing::{debug, info, warn};

/// Largest accepted encoded transaction (DNN inputs travel in calldata).
pub const MAX_TX_SIZE: usize = 8 * 1024 * 1024;

/// EIP-3860 initcode limit.
pub const MAX_INITCODE_SIZE: usize = 2 * 24_576;

/// Priority fee suggested to clients (`eth_maxPriorityFeePerGas`): 1 gwei.
pub const SUGGESTED_PRIORITY_FEE: u128 = 1_000_000_000;

/// How many block hashes `BLOCKHASH` can see.
const BLOCKHASH_WINDOW: u64 = 256;

/// Node configuration, as the chain sees it.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Genesis parameters.
    pub genesis: GenesisConfig,
    /// Data directory; `None` keeps the chain in memory.
    pub data_dir: Option<PathBuf>,
    /// Block beneficiary.
    pub coinbase: Address,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self { genesis: GenesisConfig::default(), data_dir: None, coinbase: Address::ZERO }
    }
}

#[derive(Debug)]
struct Chain {
    blocks: Vec<Arc<Block>>,
    /// Post-state of each block.
    states: Vec<WorldState>,
    /// The state the next block builds on: the last block's, plus dev edits.
    head_state: WorldState,
    by_hash: HashMap<B256, u64>,
    txs: HashMap<B256, (u64, usize)>,
    recent: Arc<RecentHashes>,
}

impl Chain {
    fn head(&self) -> &Arc<Block> {
        self.blocks.last().expect("the chain always has genesis")
    }

    fn recent_hashes_at(&self, number: u64) -> Arc<RecentHashes> {
        if number == self.head().number() {
            return self.recent.clone();
        }
        self.build_recent(number)
    }

    fn build_recent(&self, number: u64) -> Arc<RecentHashes> {
        let first = (number + 1).saturating_sub(BLOCKHASH_WINDOW);
        let hashes = (first..=number).map(|n| self.blocks[n as usize].hash).collect();
        Arc::new(RecentHashes { first, hashes })
    }

    fn push(&mut self, block: Arc<Block>, state: WorldState) {
        let number = block.number();
        self.by_hash.insert(block.hash, number);
        for (i, tx) in block.transactions.iter().enumerate() {
            self.txs.insert(tx.hash, (number, i));
        }
        self.blocks.push(block);
        self.states.push(state.clone());
        self.head_state = state;
        self.recent = self.build_recent(number);
    }

    fn truncate(&mut self, number: u64) {
        for block in self.blocks.drain(number as usize + 1..) {
            self.by_hash.remove(&block.hash);
            for tx in &block.transactions {
                self.txs.remove(&tx.hash);
            }
        }
        self.states.truncate(number as usize + 1);
        self.recent = self.build_recent(number);
    }
}

/// Block timestamps: wall-clock time plus an offset, strictly increasing.
///
/// The clock never reads earlier than the latest block it stamped. When a block has to be
/// stamped past the clock's reading — several blocks within one second are each one second
/// after their parent — the offset absorbs that lead, so that the clock reads the block's
/// timestamp at that moment and goes on from it. Otherwise the chain would run ahead of the
/// clock, and a later `evm_increaseTime(n)` would move it by only `n` minus the lead; with the
/// lead absorbed, the next block after `evm_increaseTime(n)` is at least `n` seconds after the
/// latest one, as on anvil (whose `TimeManager` bumps a block past its parent and adds time
/// increases to its offset). A snapshot keeps the clock together with the chain, and a revert
/// brings both back, lifting the clock to the reverted-to latest block should it read earlier.
/// The clock reads earlier than the latest block only after `anvil_setTime` to an earlier time,
/// or after a restart from a data directory whose chain had run ahead of wall time: the next
/// block is then one second after its parent, and `evm_increaseTime` counts from the later of
/// the clock and the latest block.
#[derive(Debug, Clone, Default)]
struct Clock {
    offset: i64,
    next: Option<u64>,
}

impl Clock {
    fn now(&self) -> u64 {
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        wall.saturating_add_signed(self.offset)
    }

    /// The next block's timestamp, after `parent`'s; the clock reads at least it afterwards.
    /// A timestamp set with `evm_setNextBlockTimestamp` also moves the clock, so that later
    /// blocks go on from it (anvil and Hardhat do the same).
    fn next_timestamp(&mut self, parent: u64) -> u64 {
        match self.next.take() {
            Some(next) => {
                let timestamp = next.max(parent.saturating_add(1));
                self.set(timestamp);
                timestamp
            }
            None => {
                let timestamp = self.now().max(parent.saturating_add(1));
                self.catch_up(timestamp);
                timestamp
            }
        }
    }

    /// Moves the clock forward by `seconds` from the later of its reading and `latest` (the
    /// latest block's timestamp); returns the offset it now has.
    fn increase(&mut self, seconds: u64, latest: u64) -> i64 {
        self.catch_up(latest);
        self.offset = self.offset.saturating_add(i64::try_from(seconds).unwrap_or(i64::MAX));
        self.offset
    }

    /// Moves the clock forward, if it reads earlier, so that it reads `timestamp` now.
    fn catch_up(&mut self, timestamp: u64) {
        if self.now() < timestamp {
            self.set(timestamp);
        }
    }

    /// Moves the clock so that it reads `timestamp` now; returns the offset it now has.
    fn set(&mut self, timestamp: u64) -> i64 {
        let wall = self.now() as i128 - self.offset as i128;
        self.offset = (timestamp as i128 - wall).clamp(i64::MIN as i128, i64::MAX as i128) as i64;
        self.offset
    }
}

#[derive(Debug)]
struct Snapshot {
    number: u64,
    state: WorldState,
    pool: TxPool,
    clock: Clock,
    pending_edits: StateChanges,
}

/// The outcome of an `eth_call`.
#[derive(Debug, Clone)]
pub struct CallOutcome {
    /// Return data.
    pub output: Bytes,
    /// Gas used.
    pub gas_used: u64,
}

/// Options for producing a block.
#[derive(Debug, Clone, Copy, Default)]
pub struct MineOptions {
    /// Produce a block even if no transaction is ready.
    pub allow_empty: bool,
    /// Timestamp of the block (must exceed the parent's).
    pub timestamp: Option<u64>,
}

/// Where a transaction is.
#[derive(Debug, Clone)]
pub enum TxLocation {
    /// In a block, at this index.
    Mined(Arc<Block>, usize),
    /// In the pool.
    Pending(Arc<PoolTx>),
}

/// The chain and everything that changes it.
#[derive(Debug)]
pub struct Backend {
    genesis: GenesisConfig,
    coinbase: Mutex<Address>,
    accounts: Vec<DevAccount>,
    evm: EvmConfig,
    codes: CodeStore,
    store: Option<Store>,
    chain: RwLock<Chain>,
    /// Lock order: `pool` may be held while `chain` is taken, never the other way round. A
    /// block enters `chain` before its transactions leave `pool`.
    pool: Mutex<TxPool>,
    writer: Mutex<()>,
    clock: Mutex<Clock>,
    snapshots: Mutex<(u64, BTreeMap<u64, Snapshot>)>,
    seq: std::sync::atomic::AtomicU64,
    tx_ready: Notify,
    new_blocks: broadcast::Sender<Arc<Block>>,
    new_txs: broadcast::Sender<B256>,
    attestations_formed: std::sync::atomic::AtomicU64,
    attestations_verified: std::sync::atomic::AtomicU64,
    /// Accounts whose transactions `eth_sendTransaction` sends unsigned (dev method).
    impersonated: Mutex<HashSet<Address>>,
    /// State edits of dev methods since the last block (already in the head state); the next
    /// block records them.
    pending_edits: Mutex<StateChanges>,
    /// The base fee of the next block, set by hand.
    next_base_fee: Mutex<Option<u64>>,
    /// Send from every account as if impersonated (`anvil_autoImpersonateAccount`).
    auto_impersonate: std::sync::atomic::AtomicBool,
    /// Every address and storage slot ever written: the preimages of the state tries' keys,
    /// which `anvil_dumpState` needs to list the state.
    touched: RwLock<Touched>,
}

/// Addresses and storage slots ever written (the state tries are keyed by their hashes).
#[derive(Debug, Default)]
struct Touched(BTreeMap<Address, std::collections::BTreeSet<U256>>);

impl Touched {
    fn record(&mut self, changes: &StateChanges) {
        for change in &changes.accounts {
            let slots = self.0.entry(change.address).or_default();
            slots.extend(change.storage.iter().map(|s| s.slot));
        }
    }
}

impl Backend {
    /// Opens the chain: resumes from the data directory if it holds one, else creates genesis.
    pub fn new(config: NodeConfig, evm: EvmConfig) -> HostResult<Arc<Self>> {
        let NodeConfig { genesis: requested, data_dir, coinbase } = config;
        let store = data_dir.as_deref().map(Store::open).transpose()?;
        let stored = store.as_ref().map(Store::load).transpose()?.flatten();
        let genesis = match &stored {
            Some(stored) => {
                let mut expected = requested;
                expected.timestamp = stored.genesis.timestamp;
                if stored.genesis != expected {
                    return Err(HostError::Config(format!(
                        "the data directory holds a chain created with other genesis parameters \
                         (chain id {}, {} accounts); start with the same flags or another --data-dir",
                        stored.genesis.chain_id, stored.genesis.accounts
                    )));
                }
                stored.genesis.clone()
            }
            None => {
                let mut genesis = requested;
                genesis.timestamp.get_or_insert_with(|| Clock::default().now());
                genesis
            }
        };
        if evm.chain_id != genesis.chain_id {
            return Err(HostError::Config("EVM and genesis chain ids differ".into()));
        }
        if evm.committee() != genesis.committee.as_ref() {
            return Err(HostError::Config(
                "the DNN precompiles' committee is not the genesis committee".into(),
            ));
        }
        let accounts = genesis.dev_accounts()?;
        let codes = CodeStore::default();
        let mut touched = Touched::default();
        let chain = match stored {
            Some(stored) => Self::replay(stored.blocks, &codes, &mut touched)?,
            None => {
                let alloc = genesis.alloc(&accounts);
                touched.record(&alloc);
                let mut state = WorldState::default();
                state.apply(&alloc);
                for code in &alloc.codes {
                    codes.insert_raw(code.clone());
                }
                let block = Arc::new(genesis_block(&genesis, state.root()));
                if let Some(store) = &store {
                    store.write_genesis(&genesis, &block, &alloc)?;
                }
                let mut chain = Chain {
                    blocks: Vec::new(),
                    states: Vec::new(),
                    head_state: WorldState::default(),
                    by_hash: HashMap::new(),
                    txs: HashMap::new(),
                    recent: Arc::default(),
                };
                chain.push(block, state);
                chain
            }
        };
        let (new_blocks, _) = broadcast::channel(1024);
        let (new_txs, _) = broadcast::channel(4096);
        Ok(Arc::new(Self {
            genesis,
            coinbase: Mutex::new(coinbase),
            accounts,
            evm,
            codes,
            store,
            chain: RwLock::new(chain),
            pool: Mutex::default(),
            writer: Mutex::new(()),
            clock: Mutex::default(),
            snapshots: Mutex::default(),
            seq: Default::default(),
            tx_ready: Notify::new(),
            new_blocks,
            new_txs,
            attestations_formed: Default::default(),
            attestations_verified: Default::default(),
            impersonated: Mutex::default(),
            pending_edits: Mutex::default(),
            next_base_fee: Mutex::default(),
            auto_impersonate: Default::default(),
            touched: RwLock::new(touched),
        }))
    }

    /// Rebuilds the chain from stored blocks and diffs, checking the final state root.
    fn replay(
        blocks: Vec<(Block, StateChanges)>,
        codes: &CodeStore,
        touched: &mut Touched,
    ) -> HostResult<Chain> {
        let mut chain = Chain {
            blocks: Vec::with_capacity(blocks.len()),
            states: Vec::with_capacity(blocks.len()),
            head_state: WorldState::default(),
            by_hash: HashMap::new(),
            txs: HashMap::new(),
            recent: Arc::default(),
        };
        let mut state = WorldState::default();
        for (block, diff) in blocks {
            touched.record(&block.dev.edits);
            touched.record(&diff);
            state.apply(&block.dev.edits);
            for code in &block.dev.edits.codes {
                codes.insert_raw(code.clone());
            }
            state.apply(&diff);
            for code in &diff.codes {
                codes.insert_raw(code.clone());
            }
            chain.push(Arc::new(block), state.clone());
        }
        let head = chain.head().clone();
        let root = state.root();
        if root != head.header.state_root {
            return Err(HostError::Storage(format!(
                "the data directory is corrupt: state root {root} after replay differs from block {}'s {}",
                head.number(),
                head.header.state_root
            )));
        }
        info!(block = head.number(), %root, "resumed chain from data directory");
        Ok(chain)
    }

    /// Chain id.
    pub fn chain_id(&self) -> u64 {
        self.genesis.chain_id
    }

    /// Genesis parameters.
    pub fn genesis(&self) -> &GenesisConfig {
        &self.genesis
    }

    /// The unlocked dev accounts.
    pub fn dev_accounts(&self) -> &[DevAccount] {
        &self.accounts
    }

    /// The EVM configuration.
    pub fn evm_config(&self) -> &EvmConfig {
        &self.evm
    }

    /// Number of the latest block.
    pub fn best_number(&self) -> u64 {
        self.chain.read().head().number()
    }

    /// The latest block.
    pub fn latest(&self) -> Arc<Block> {
        self.chain.read().head().clone()
    }

    /// Block `number`.
    pub fn block(&self, number: u64) -> Option<Arc<Block>> {
        self.chain.read().blocks.get(number as usize).cloned()
    }

    /// The block with `hash`.
    pub fn block_by_hash(&self, hash: &B256) -> Option<Arc<Block>> {
        let chain = self.chain.read();
        chain.by_hash.get(hash).map(|n| chain.blocks[*n as usize].clone())
    }

    /// The number of the block `id` names; `None` for `pending`.
    pub fn resolve_number(&self, id: BlockId) -> HostResult<Option<u64>> {
        let chain = self.chain.read();
        let head = chain.head().number();
        let number = match id {
            BlockId::Hash(hash) => {
                *chain.by_hash.get(&hash.block_hash).ok_or(HostError::UnknownBlock)?
            }
            BlockId::Number(tag) => match tag {
                BlockNumberOrTag::Pending => return Ok(None),
                BlockNumberOrTag::Latest | BlockNumberOrTag::Safe | BlockNumberOrTag::Finalized => {
                    head
                }
                BlockNumberOrTag::Earliest => 0,
                BlockNumberOrTag::Number(n) if n <= head => n,
                BlockNumberOrTag::Number(_) => return Err(HostError::UnknownBlock),
            },
        };
        Ok(Some(number))
    }

    /// The state after block `id` (`latest` and `pending` include dev edits).
    pub fn state_at(&self, id: BlockId) -> HostResult<WorldState> {
        let number = self.resolve_number(id)?;
        let chain = self.chain.read();
        Ok(match number {
            Some(n) if n != chain.head().number() => chain.states[n as usize].clone(),
            _ => chain.head_state.clone(),
        })
    }

    /// Code with `hash`.
    pub fn code(&self, hash: &B256) -> Bytes {
        self.codes.get(hash).map(|c| c.original_bytes()).unwrap_or_default()
    }

    /// Where the transaction with `hash` is.
    ///
    /// The pool is looked at first: a block enters the chain before its transactions leave
    /// the pool ([`Self::commit`]), so a transaction being mined is always found in one or the
    /// other (looking at the chain first could miss it between the two looks).
    pub fn transaction(&self, hash: &B256) -> Option<TxLocation> {
        if let Some(tx) = self.pool.lock().get(hash).cloned() {
            return Some(TxLocation::Pending(tx));
        }
        let chain = self.chain.read();
        let (number, index) = chain.txs.get(hash)?;
        Some(TxLocation::Mined(chain.blocks[*number as usize].clone(), *index))
    }

    /// The nonce the next transaction of `address` should use (pool included).
    ///
    /// The pool is locked before the state is read, so a block committed in between cannot
    /// prune the pool under a stale nonce (which would hand out a mined nonce again).
    pub fn pending_nonce(&self, address: &Address) -> u64 {
        let pool = self.pool.lock();
        let state_nonce =
            self.chain.read().head_state.account(address).map(|a| a.nonce).unwrap_or(0);
        pool.next_nonce(address, state_nonce)
    }

    /// Pending and queued pool transactions.
    pub fn pool_content(&self) -> (Vec<Arc<PoolTx>>, Vec<Arc<PoolTx>>) {
        let state = self.chain.read().head_state.clone();
        self.pool.lock().split(|a| state.account(a).map(|x| x.nonce).unwrap_or(0))
    }

    /// Base fee of the next block (as set with `anvil_setNextBlockBaseFeePerGas`, or by
    /// EIP-1559).
    pub fn next_base_fee(&self) -> u64 {
        self.next_base_fee_after(&self.chain.read().head().header)
    }

    fn next_base_fee_after(&self, head: &Header) -> u64 {
        self.next_base_fee.lock().unwrap_or_else(|| next_base_fee(head))
    }

    /// `eth_gasPrice`: the next base fee plus the suggested tip.
    pub fn gas_price(&self) -> u128 {
        self.next_base_fee() as u128 + SUGGESTED_PRIORITY_FEE
    }

    /// Signals that the pool has a transaction ready (wakes the auto-miner).
    pub fn tx_ready(&self) -> &Notify {
        &self.tx_ready
    }

    /// New blocks, as they are published.
    pub fn subscribe_blocks(&self) -> broadcast::Receiver<Arc<Block>> {
        self.new_blocks.subscribe()
    }

    /// Hashes of transactions as they enter the pool.
    pub fn subscribe_pending(&self) -> broadcast::Receiver<B256> {
        self.new_txs.subscribe()
    }

    /// Whether a pool transaction is ready for the next block.
    pub fn has_ready(&self) -> bool {
        let state = self.chain.read().head_state.clone();
        let pool = self.pool.lock();
        pool.senders().any(|s| {
            let nonce = state.account(s).map(|a| a.nonce).unwrap_or(0);
            pool.next_nonce(s, nonce) > nonce
        })
    }

    /// Whether the pool transaction `hash` is ready for the next block (no nonce gap before
    /// it); `false` if it is not in the pool.
    pub fn is_ready(&self, hash: &B256) -> bool {
        let pool = self.pool.lock();
        let Some(tx) = pool.get(hash) else { return false };
        let nonce = self.chain.read().head_state.account(&tx.sender).map(|a| a.nonce).unwrap_or(0);
        pool.next_nonce(&tx.sender, nonce) > tx.nonce()
    }

    /// Decodes, validates and pools a raw signed transaction.
    pub fn submit_raw(&self, raw: &[u8]) -> HostResult<B256> {
        if raw.len() > MAX_TX_SIZE {
            return Err(InvalidTx::Oversized { size: raw.len(), limit: MAX_TX_SIZE }.into());
        }
        let tx =
            TxEnvelope::decode_2718_exact(raw).map_err(|e| HostError::Decode(e.to_string()))?;
        self.submit(tx)
    }

    /// Validates and pools a signed transaction.
    pub fn submit(&self, tx: TxEnvelope) -> HostResult<B256> {
        let sender = recover_sender(&tx).map_err(InvalidTx::InvalidSender)?;
        self.submit_from(tx, sender, false)
    }

    /// Validates and pools `tx` from `sender`; `impersonated` when its signature is a
    /// placeholder and `sender` is as the dev method gave it.
    fn submit_from(&self, tx: TxEnvelope, sender: Address, impersonated: bool) -> HostResult<B256> {
        let hash = *tx.tx_hash();
        let (state, head) = {
            let chain = self.chain.read();
            (chain.head_state.clone(), chain.head().header.clone())
        };
        self.validate(&tx, sender, &state, &head)?;
        let seq = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let added = self.pool.lock().add(PoolTx { tx, hash, sender, seq, impersonated })?;
        debug!(%hash, %sender, ?added, "transaction pooled");
        let _ = self.new_txs.send(hash);
        self.tx_ready.notify_one();
        Ok(hash)
    }

    fn validate(
        &self,
        tx: &TxEnvelope,
        sender: Address,
        state: &WorldState,
        head: &Header,
    ) -> Result<(), InvalidTx> {
        if matches!(tx.tx_type(), TxType::Eip4844) {
            return Err(InvalidTx::UnsupportedType(TxType::Eip4844 as u8));
        }
        if let Some(chain_id) = tx.chain_id()
            && chain_id != self.chain_id()
        {
            return Err(InvalidTx::ChainId { have: chain_id, want: self.chain_id() });
        }
        if tx.kind().is_create() && tx.input().len() > MAX_INITCODE_SIZE {
            return Err(InvalidTx::InitcodeTooLarge {
                size: tx.input().len(),
                limit: MAX_INITCODE_SIZE,
            });
        }
        if tx.gas_limit() > head.gas_limit {
            return Err(InvalidTx::GasLimit { gas: tx.gas_limit(), limit: head.gas_limit });
        }
        let initial = calculate_initial_tx_gas_for_tx(tx_env(tx, sender), SPEC, None);
        let intrinsic = initial.initial_total_gas().max(initial.floor_gas());
        if tx.gas_limit() < intrinsic {
            return Err(InvalidTx::IntrinsicGas { have: tx.gas_limit(), want: intrinsic });
        }
        if let Some(tip) = tx.max_priority_fee_per_gas()
            && tip > tx.max_fee_per_gas()
        {
            return Err(InvalidTx::TipAboveFeeCap { sender, tip, fee_cap: tx.max_fee_per_gas() });
        }
        let base_fee = self.next_base_fee_after(head);
        if tx.max_fee_per_gas() < base_fee as u128 {
            return Err(InvalidTx::FeeCapTooLow {
                sender,
                fee_cap: tx.max_fee_per_gas(),
                base_fee,
            });
        }
        let account = state.account(&sender);
        let nonce = account.map(|a| a.nonce).unwrap_or(0);
        if tx.nonce() < nonce {
            return Err(InvalidTx::NonceTooLow { next: nonce, got: tx.nonce() });
        }
        let balance = account.map(|a| a.balance).unwrap_or_default();
        let cost = U256::from(tx.gas_limit()) * U256::from(tx.max_fee_per_gas()) + tx.value();
        if balance < cost {
            return Err(InvalidTx::InsufficientFunds { balance, cost });
        }
        Ok(())
    }

    /// `eth_sendTransaction`: fills a transaction request and signs it with a dev account's
    /// key — or, from an impersonated account, gives it a placeholder signature — then pools
    /// it.
    pub fn send_transaction(&self, request: TransactionRequest) -> HostResult<B256> {
        let from =
            request.from.ok_or_else(|| HostError::InvalidRequest("missing \"from\"".into()))?;
        if self.signer(&from).is_none() && self.is_impersonated(&from) {
            let typed = self.fill_request(request)?;
            let tx = TxEnvelope::from(typed.into_signed(dev::placeholder_signature(from)));
            return self.submit_from(tx, from, true);
        }
        let tx = self.sign_request(request)?;
        self.submit(tx)
    }

    /// The key of dev account `address`.
    fn signer(&self, address: &Address) -> Option<&alloy_signer_local::PrivateKeySigner> {
        self.accounts.iter().find(|a| a.address == *address).map(|a| &a.signer)
    }

    /// Fills missing fields of a request (nonce, gas, fees, chain id) and signs it with the
    /// key of its `from` dev account.
    pub fn sign_request(&self, request: TransactionRequest) -> HostResult<TxEnvelope> {
        let from =
            request.from.ok_or_else(|| HostError::InvalidRequest("missing \"from\"".into()))?;
        let signer = self.signer(&from).ok_or(HostError::UnknownAccount(from))?.clone();
        let typed = self.fill_request(request)?;
        let signature = signer
            .sign_hash_sync(&typed.signature_hash())
            .map_err(|e| HostError::Internal(format!("signing: {e}")))?;
        let envelope = TxEnvelope::from(typed.into_signed(signature));
        debug_assert_eq!(envelope.recover_signer().ok(), Some(from));
        Ok(envelope)
    }

    /// The unsigned transaction a request describes, with its missing fields (nonce, gas,
    /// fees, chain id) filled as `eth_sendTransaction` fills them.
    pub fn fill_request(&self, mut request: TransactionRequest) -> HostResult<TypedTransaction> {
        let from =
            request.from.ok_or_else(|| HostError::InvalidRequest("missing \"from\"".into()))?;
        let nonce = request.nonce.unwrap_or_else(|| self.pending_nonce(&from));
        request.nonce = Some(nonce);
        let gas = match request.gas {
            Some(gas) => gas,
            None => self.estimate_gas(&request, BlockId::pending())?,
        };
        let chain_id = self.chain_id();
        let to = request.to.unwrap_or(TxKind::Create);
        let value = request.value.unwrap_or_default();
        let input = request.input.input().cloned().unwrap_or_default();
        let access_list = request.access_list.clone().unwrap_or_default();
        let typed: TypedTransaction = if let Some(gas_price) = request.gas_price {
            if request.access_list.is_some() {
                let tx = TxEip2930 {
                    chain_id,
                    nonce,
                    gas_price,
                    gas_limit: gas,
                    to,
                    value,
                    input,
                    access_list,
                };
                tx.into()
            } else {
                let tx = TxLegacy {
                    chain_id: Some(chain_id),
                    nonce,
                    gas_price,
                    gas_limit: gas,
                    to,
                    value,
                    input,
                };
                tx.into()
            }
        } else {
            let tip = request.max_priority_fee_per_gas.unwrap_or(SUGGESTED_PRIORITY_FEE);
            let max_fee =
                request.max_fee_per_gas.unwrap_or_else(|| 2 * self.next_base_fee() as u128 + tip);
            match request.authorization_list {
                Some(authorization_list) if !authorization_list.is_empty() => {
                    let TxKind::Call(to) = to else {
                        return Err(HostError::InvalidRequest(
                            "an EIP-7702 transaction cannot create a contract".into(),
                        ));
                    };
                    let tx = TxEip7702 {
                        chain_id,
                        nonce,
                        gas_limit: gas,
                        max_fee_per_gas: max_fee,
                        max_priority_fee_per_gas: tip,
                        to,
                        value,
                        access_list,
                        authorization_list,
                        input,
                    };
                    tx.into()
                }
                _ => {
                    let tx = TxEip1559 {
                        chain_id,
                        nonce,
                        gas_limit: gas,
                        max_fee_per_gas: max_fee,
                        max_priority_fee_per_gas: tip,
                        to,
                        value,
                        access_list,
                        input,
                    };
                    tx.into()
                }
            }
        };
        Ok(typed)
    }

    /// The state, header fields and block hashes a call at `id` runs with.
    fn call_context(
        &self,
        id: BlockId,
    ) -> HostResult<(WorldState, revm::context::BlockEnv, Arc<RecentHashes>)> {
        let number = self.resolve_number(id)?;
        let chain = self.chain.read();
        let head = chain.head();
        Ok(match number {
            None => {
                let header = &head.header;
                let env = BlockParams {
                    number: header.number + 1,
                    timestamp: self.clock.lock().now().max(header.timestamp + 1),
                    gas_limit: header.gas_limit,
                    base_fee: self.next_base_fee_after(header),
                    beneficiary: *self.coinbase.lock(),
                    mix_hash: prevrandao(header.number + 1),
                }
                .env();
                (chain.head_state.clone(), env, chain.recent.clone())
            }
            Some(n) => {
                let header = &chain.blocks[n as usize].header;
                let state = if n == head.number() {
                    chain.head_state.clone()
                } else {
                    chain.states[n as usize].clone()
                };
                let env = BlockParams {
                    number: n,
                    timestamp: header.timestamp,
                    gas_limit: header.gas_limit,
                    base_fee: header.base_fee_per_gas.unwrap_or_default(),
                    beneficiary: header.beneficiary,
                    mix_hash: header.mix_hash,
                }
                .env();
                let hashes = chain.recent_hashes_at(n);
                (state, env, hashes)
            }
        })
    }

    fn run_call(
        &self,
        request: &TransactionRequest,
        state: WorldState,
        block: revm::context::BlockEnv,
        hashes: Arc<RecentHashes>,
        gas: Option<u64>,
        precompiles: anh_precompiles::AnhPrecompiles,
    ) -> HostResult<ExecutionResult> {
        let from = request.from.unwrap_or_default();
        let nonce = state.account(&from).map(|a| a.nonce).unwrap_or(0);
        let mut tx = call_tx_env(request, block.gas_limit, nonce, self.chain_id())
            .map_err(HostError::InvalidRequest)?;
        if let Some(gas) = gas {
            tx.gas_limit = gas;
        }
        let cfg = call_cfg(&self.evm, &tx);
        let db = StateDb::new(state, self.codes.clone(), hashes);
        let mut evm = self.evm.evm(db, cfg, block, precompiles);
        evm.transact(tx).map(|r| r.result).map_err(|e| call_error(e, from))
    }

    /// `eth_call`: executes `request` on the state at `id` without changing anything.
    pub fn call(&self, request: &TransactionRequest, id: BlockId) -> HostResult<CallOutcome> {
        self.call_with(request, id, &CallOverrides::default())
    }

    /// `eth_call` with state and block overrides.
    pub fn call_with(
        &self,
        request: &TransactionRequest,
        id: BlockId,
        overrides: &CallOverrides,
    ) -> HostResult<CallOutcome> {
        let (mut state, mut block, hashes) = self.call_context(id)?;
        overrides.apply(&mut state, &mut block, &self.codes)?;
        let result =
            self.run_call(request, state, block, hashes, None, self.evm.call_precompiles())?;
        outcome(result)
    }

    /// `eth_estimateGas`: the smallest gas limit (within 1.5%, as geth) with which `request`
    /// succeeds at `id`.
    pub fn estimate_gas(&self, request: &TransactionRequest, id: BlockId) -> HostResult<u64> {
        self.estimate_gas_with(request, id, &CallOverrides::default())
    }

    /// `eth_estimateGas` with state and block overrides.
    pub fn estimate_gas_with(
        &self,
        request: &TransactionRequest,
        id: BlockId,
        overrides: &CallOverrides,
    ) -> HostResult<u64> {
        let (mut state, mut block, hashes) = self.call_context(id)?;
        overrides.apply(&mut state, &mut block, &self.codes)?;
        let mut hi = match request.gas {
            Some(gas) if gas >= 21_000 => gas.min(block.gas_limit),
            _ => block.gas_limit,
        };
        // A sender paying fees can afford at most (balance - value) / price gas.
        let price = request.gas_price.or(request.max_fee_per_gas).unwrap_or(0);
        if price > 0 {
            let balance = state
                .account(&request.from.unwrap_or_default())
                .map(|a| a.balance)
                .unwrap_or_default();
            let available =
                balance.saturating_sub(request.value.unwrap_or_default()) / U256::from(price);
            hi = hi.min(u64::try_from(available).unwrap_or(u64::MAX));
        }
        let cap = hi;
        // A plain transfer to an account without code costs exactly the intrinsic 21000
        // (geth's and anvil's shortcut; the search below would stop within 1.5% of it).
        let plain_transfer = if let Some(TxKind::Call(to)) = request.to {
            request.input.input().is_none_or(|i| i.is_empty())
                && request.authorization_list.as_ref().is_none_or(|a| a.is_empty())
                && request.access_list.as_ref().is_none_or(|a| a.is_empty())
                && state.account(&to).is_none_or(|a| a.code_hash == KECCAK256_EMPTY)
                // Precompiles have no code but do charge; they all live below 0x10000.
                && to.0[..18].iter().any(|b| *b != 0)
        } else {
            false
        };
        // One set of precompiles for the whole search: it remembers DNN results.
        let precompiles = self.evm.estimate_precompiles();
        let attempt = |gas: u64| {
            let (state, block, hashes) = (state.clone(), block.clone(), hashes.clone());
            self.run_call(request, state, block, hashes, Some(gas), precompiles.clone())
        };
        let first = attempt(hi)?;
        if plain_transfer && hi >= 21_000 && first.is_success() {
            return Ok(21_000);
        }
        let spent = match &first {
            ExecutionResult::Success { gas, .. } => gas.total_gas_spent(),
            ExecutionResult::Revert { .. } => return Err(outcome(first).unwrap_err()),
            ExecutionResult::Halt { .. } => return Err(HostError::GasExceedsAllowance(cap)),
        };
        let succeeds = |gas: u64| matches!(attempt(gas), Ok(ExecutionResult::Success { .. }));
        let mut lo = spent.saturating_sub(1);
        let optimistic = (spent + 2_300) * 64 / 63;
        if optimistic < hi {
            if succeeds(optimistic) {
                hi = optimistic;
            } else {
                lo = optimistic;
            }
        }
        while lo + 1 < hi {
            if ((hi - lo) as f64) / (hi as f64) < 0.015 {
                break;
            }
            let mut mid = lo + (hi - lo) / 2;
            if mid > lo.saturating_mul(2) {
                mid = lo * 2;
            }
            if succeeds(mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Ok(hi)
    }

    /// Produces a block from the pool's ready transactions, settling its DNN jobs with the
    /// executor committee (Build mode).
    ///
    /// Returns `None` when nothing is ready and `options.allow_empty` is false.
    pub fn mine(&self, options: MineOptions) -> HostResult<Option<Arc<Block>>> {
        let _writer = self.writer.lock();
        let (parent, state, hashes) = {
            let chain = self.chain.read();
            (chain.head().clone(), chain.head_state.clone(), chain.recent.clone())
        };
        let parent_header = &parent.header;
        let base_fee_override = *self.next_base_fee.lock();
        let base_fee = base_fee_override.unwrap_or_else(|| next_base_fee(parent_header));
        let edits = self.pending_edits.lock().clone();
        let candidates =
            self.pool.lock().best(base_fee, |a| state.account(a).map(|x| x.nonce).unwrap_or(0));
        if candidates.is_empty() && !options.allow_empty {
            return Ok(None);
        }
        let timestamp = match options.timestamp {
            Some(t) if t <= parent_header.timestamp => {
                return Err(HostError::InvalidRequest(format!(
                    "timestamp {t} is not after the parent block's {}",
                    parent_header.timestamp
                )));
            }
            Some(t) => {
                // An explicit timestamp moves the clock, as anvil's `evm_mine(ts)` does.
                self.clock.lock().set(t);
                t
            }
            None => self.clock.lock().next_timestamp(parent_header.timestamp),
        };
        let number = parent_header.number + 1;
        let params = BlockParams {
            number,
            timestamp,
            gas_limit: parent_header.gas_limit,
            base_fee,
            beneficiary: *self.coinbase.lock(),
            mix_hash: prevrandao(number),
        };
        let txs = candidates.iter().map(|p| (p.tx.clone(), p.sender, p.hash)).collect();
        // Records left over from calls that never made it into a block are not this block's.
        let _ = self.evm.take_records();
        let executed = self.execute(
            &parent,
            state,
            hashes,
            &params,
            txs,
            self.evm.build_precompiles(),
            false,
        )?;
        let jobs = self.evm.take_records();
        let formed = jobs.iter().filter(|j| j.is_settled()).count() as u64;
        let impersonated: HashSet<B256> =
            candidates.iter().filter(|p| p.impersonated).map(|p| p.hash).collect();
        let dev = DevRecord {
            impersonated: executed
                .mined
                .iter()
                .enumerate()
                .filter(|(_, t)| impersonated.contains(&t.hash))
                .map(|(i, _)| i as u64)
                .collect(),
            edits,
            base_fee_override: base_fee_override.is_some(),
        };
        let block = Arc::new(seal(&parent, &params, &executed, jobs, dev));
        // Out of the pool before the block is published: whoever waits on the block for a
        // dropped transaction sees it gone.
        {
            let mut pool = self.pool.lock();
            for hash in &executed.dropped {
                pool.remove(hash);
            }
        }
        self.commit(&block, executed.state, &executed.diff)?;
        *self.pending_edits.lock() = StateChanges::default();
        *self.next_base_fee.lock() = None;
        self.attestations_formed.fetch_add(formed, std::sync::atomic::Ordering::Relaxed);
        debug!(number, txs = block.transactions.len(), gas = block.header.gas_used, "mined block");
        Ok(Some(block))
    }

    /// Imports a block produced by another node (Replay mode): re-executes its transactions,
    /// taking DNN results from its job records after verifying the committee's signatures (no
    /// model runs), and refuses it unless every header field comes out the same.
    pub fn import_block(&self, block: Block) -> Result<Arc<Block>, ImportError> {
        let _writer = self.writer.lock();
        let (parent, state, hashes) = {
            let chain = self.chain.read();
            (chain.head().clone(), chain.head_state.clone(), chain.recent.clone())
        };
        let header = &block.header;
        let number = header.number;
        let refuse = |reason: String| ImportError::Refused { number, reason };
        if number != parent.number() + 1 || header.parent_hash != parent.hash {
            return Err(refuse(format!(
                "it does not extend the head (block {} {}): parent {}",
                parent.number(),
                parent.hash,
                header.parent_hash
            )));
        }
        if block.hash != header.hash_slow() {
            return Err(refuse("its hash is not keccak256(rlp(header))".into()));
        }
        let expected_base_fee = next_base_fee(&parent.header);
        if !block.dev.base_fee_override && header.base_fee_per_gas != Some(expected_base_fee) {
            return Err(refuse(format!(
                "base fee {:?}, expected {expected_base_fee}",
                header.base_fee_per_gas
            )));
        }
        if header.timestamp <= parent.header.timestamp
            || header.gas_limit != parent.header.gas_limit
        {
            return Err(refuse("timestamp or gas limit out of rule".into()));
        }
        let params = BlockParams {
            number,
            timestamp: header.timestamp,
            gas_limit: header.gas_limit,
            base_fee: header.base_fee_per_gas.unwrap_or(expected_base_fee),
            beneficiary: header.beneficiary,
            mix_hash: header.mix_hash,
        };
        // Dev methods' effects, as the producer recorded them: state edits first.
        let mut state = state;
        state.apply(&block.dev.edits);
        self.touched.write().record(&block.dev.edits);
        for code in &block.dev.edits.codes {
            self.codes.insert_raw(code.clone());
        }
        let senders = recover_senders(&block.transactions);
        let mut txs = Vec::with_capacity(block.transactions.len());
        for (i, (mined, sender)) in block.transactions.iter().zip(senders).enumerate() {
            let sender = if block.dev.impersonated.contains(&(i as u64)) {
                Ok(mined.sender)
            } else {
                sender
            };
            let sender = sender
                .map_err(|e| refuse(format!("transaction {i} has no valid signature: {e}")))?;
            txs.push((mined.tx.clone(), sender, *mined.tx.tx_hash()));
        }
        let (precompiles, oracle) = self.evm.replay_precompiles(block.jobs.clone());
        if let Some(oracle) = &oracle {
            oracle.verify_all().map_err(|e| refuse(format!("attestation check failed: {e}")))?;
        }
        let executed = self
            .execute(&parent, state, hashes, &params, txs, precompiles, true)
            .map_err(|e| refuse(e.to_string()))?;
        if let Some(oracle) = &oracle {
            if let Some(failure) = oracle.failures().into_iter().next() {
                return Err(refuse(format!("attestation check failed: {failure}")));
            }
            self.attestations_verified
                .fetch_add(oracle.verified(), std::sync::atomic::Ordering::Relaxed);
        }
        let ours = seal(&parent, &params, &executed, block.jobs.clone(), block.dev.clone());
        let checks: [(&str, String, String); 6] = [
            ("state root", ours.header.state_root.to_string(), header.state_root.to_string()),
            (
                "receipts root",
                ours.header.receipts_root.to_string(),
                header.receipts_root.to_string(),
            ),
            (
                "transactions root",
                ours.header.transactions_root.to_string(),
                header.transactions_root.to_string(),
            ),
            ("gas used", ours.header.gas_used.to_string(), header.gas_used.to_string()),
            ("logs bloom", ours.header.logs_bloom.to_string(), header.logs_bloom.to_string()),
            (
                "jobs root (extraData)",
                ours.header.extra_data.to_string(),
                header.extra_data.to_string(),
            ),
        ];
        for (what, computed, claimed) in checks {
            if computed != claimed {
                return Err(refuse(format!(
                    "{what} mismatch: computed {computed}, the block says {claimed}"
                )));
            }
        }
        if ours.hash != block.hash {
            return Err(refuse(format!(
                "block hash mismatch: computed {}, the block says {}",
                ours.hash, block.hash
            )));
        }
        let block = Arc::new(ours);
        self.commit(&block, executed.state, &executed.diff).map_err(|e| refuse(e.to_string()))?;
        info!(number, hash = %block.hash, txs = block.transactions.len(), jobs = block.jobs.len(), "imported block");
        Ok(block)
    }

    /// Executes `txs` on `state` in a block with `params`, with the EIP-2935 parent-hash write
    /// first. Leniently (building): a transaction that cannot execute or does not fit is
    /// skipped, with its sender's later ones. Strictly (importing): that is an error.
    #[allow(clippy::too_many_arguments)]
    fn execute(
        &self,
        parent: &Block,
        state: WorldState,
        hashes: Arc<RecentHashes>,
        params: &BlockParams,
        txs: Vec<(TxEnvelope, Address, B256)>,
        precompiles: AnhPrecompiles,
        strict: bool,
    ) -> HostResult<Executed> {
        let env = params.env();
        let mut db = StateDb::new(state, self.codes.clone(), hashes);
        // EIP-2935: the history contract keeps the parent hash in slot (number - 1) % 8191.
        db.system_store(
            HISTORY_STORAGE_ADDRESS,
            U256::from((params.number - 1) % HISTORY_SERVE_WINDOW as u64),
            parent.hash.into(),
        );
        let mut evm = self.evm.evm(db, self.evm.cfg(), env, precompiles);
        let mut mined = Vec::new();
        let mut dropped = Vec::new();
        let mut skipped = HashSet::new();
        let mut cumulative = 0u64;
        for (index, (tx, sender, hash)) in txs.into_iter().enumerate() {
            if skipped.contains(&sender) {
                continue;
            }
            if cumulative + tx.gas_limit() > params.gas_limit {
                if strict {
                    return Err(HostError::InvalidRequest(format!(
                        "transaction {index} exceeds the block gas limit"
                    )));
                }
                skipped.insert(sender);
                continue;
            }
            let result: Result<ExecutionResult, EVMError<Infallible, InvalidTransaction>> =
                evm.transact_commit(tx_env(&tx, sender));
            match result {
                Ok(result) => {
                    let gas_used = result.tx_gas_used();
                    cumulative += gas_used;
                    let receipt = Receipt {
                        status: result.is_success().into(),
                        cumulative_gas_used: cumulative,
                        logs: result.into_logs(),
                    };
                    mined.push(MinedTx {
                        receipt: ReceiptEnvelope::from_typed(tx.tx_type(), receipt.with_bloom()),
                        gas_used,
                        effective_gas_price: tx.effective_gas_price(Some(params.base_fee)),
                        contract_address: tx.kind().is_create().then(|| sender.create(tx.nonce())),
                        hash,
                        sender,
                        tx,
                    });
                }
                Err(error) if strict => {
                    return Err(HostError::InvalidRequest(format!(
                        "transaction {index} ({hash}) cannot execute: {error}"
                    )));
                }
                Err(error) => {
                    warn!(%hash, %error, "dropping transaction that cannot execute");
                    dropped.push(hash);
                    skipped.insert(sender);
                }
            }
        }
        let db = evm.ctx.journaled_state.database;
        let (state, diff) = db.finish();
        Ok(Executed { mined, dropped, state, diff, gas_used: cumulative })
    }

    /// Persists and publishes a block, and drops its transactions from the pool.
    fn commit(&self, block: &Arc<Block>, state: WorldState, diff: &StateChanges) -> HostResult<()> {
        if let Some(store) = &self.store {
            store.write_block(block, diff)?;
        }
        self.touched.write().record(diff);
        self.chain.write().push(block.clone(), state.clone());
        {
            let mut pool = self.pool.lock();
            let senders: HashSet<Address> = block.transactions.iter().map(|t| t.sender).collect();
            for sender in senders {
                pool.prune_sender(&sender, state.account(&sender).map(|a| a.nonce).unwrap_or(0));
            }
        }
        let _ = self.new_blocks.send(block.clone());
        Ok(())
    }

    /// Attestations this node formed (as a block builder) and verified (replaying).
    pub fn attestation_counts(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.attestations_formed.load(Relaxed), self.attestations_verified.load(Relaxed))
    }

    /// `eth_feeHistory` over `count` blocks ending at `newest`, with priority-fee
    /// percentiles weighted by gas used (geth's method).
    pub fn fee_history(
        &self,
        count: u64,
        newest: BlockNumberOrTag,
        percentiles: &[f64],
    ) -> HostResult<FeeHistory> {
        if percentiles.windows(2).any(|w| w[0] > w[1])
            || percentiles.iter().any(|p| !(0.0..=100.0).contains(p))
        {
            return Err(HostError::InvalidRequest(
                "invalid reward percentiles: must be ascending and within [0, 100]".into(),
            ));
        }
        let newest = match self.resolve_number(BlockId::Number(newest))? {
            Some(n) => n,
            None => self.best_number(),
        };
        let count = count.min(1024).min(newest + 1);
        let oldest = newest + 1 - count;
        let mut history = FeeHistory { oldest_block: oldest, ..Default::default() };
        let mut rewards = Vec::new();
        for number in oldest..=newest {
            let block = self.block(number).ok_or(HostError::UnknownBlock)?;
            let base_fee = block.header.base_fee_per_gas.unwrap_or_default();
            history.base_fee_per_gas.push(base_fee as u128);
            history
                .gas_used_ratio
                .push(block.header.gas_used as f64 / block.header.gas_limit as f64);
            history.base_fee_per_blob_gas.push(1);
            history.blob_gas_used_ratio.push(0.0);
            if !percentiles.is_empty() {
                rewards.push(block_rewards(&block, base_fee, percentiles));
            }
        }
        if count > 0 {
            let newest_block = self.block(newest).ok_or(HostError::UnknownBlock)?;
            history.base_fee_per_gas.push(next_base_fee(&newest_block.header) as u128);
            history.base_fee_per_blob_gas.push(1);
        }
        if !percentiles.is_empty() {
            history.reward = Some(rewards);
        }
        Ok(history)
    }

    /// `eth_getLogs`: the logs matching `filter`, with their positions.
    pub fn logs(&self, filter: &Filter, max_range: u64) -> HostResult<Vec<RpcLog>> {
        let blocks: Vec<Arc<Block>> = match filter.block_option {
            FilterBlockOption::AtBlockHash(hash) => {
                vec![self.block_by_hash(&hash).ok_or(HostError::UnknownBlock)?]
            }
            FilterBlockOption::Range { from_block, to_block } => {
                let head = self.best_number();
                let resolve = |tag: Option<BlockNumberOrTag>| -> HostResult<u64> {
                    match tag {
                        None => Ok(head),
                        Some(tag) => Ok(self.resolve_number(BlockId::Number(tag))?.unwrap_or(head)),
                    }
                };
                let from = resolve(from_block)?;
                let to = resolve(to_block)?;
                if from > to {
                    return Err(HostError::InvalidRequest(format!(
                        "invalid block range params: fromBlock {from} is after toBlock {to}"
                    )));
                }
                if to - from >= max_range {
                    return Err(HostError::InvalidRequest(format!(
                        "query exceeds max block range {max_range}: fromBlock {from}, toBlock {to}"
                    )));
                }
                let chain = self.chain.read();
                chain.blocks[from as usize..=to as usize].to_vec()
            }
        };
        Ok(blocks.iter().flat_map(|block| logs_in(block, filter)).collect())
    }

    /// Records the current chain, pool and clock; returns the snapshot id (0, 1, 2, …).
    pub fn snapshot(&self) -> u64 {
        let _writer = self.writer.lock();
        let (number, state) = {
            let chain = self.chain.read();
            (chain.head().number(), chain.head_state.clone())
        };
        let snapshot = Snapshot {
            number,
            state,
            pool: self.pool.lock().clone(),
            clock: self.clock.lock().clone(),
            pending_edits: self.pending_edits.lock().clone(),
        };
        let mut snapshots = self.snapshots.lock();
        let id = snapshots.0;
        snapshots.0 += 1;
        snapshots.1.insert(id, snapshot);
        id
    }

    /// Returns the chain to snapshot `id`, which is consumed together with every later
    /// snapshot. Returns `false` for an unknown id.
    pub fn revert(&self, id: u64) -> HostResult<bool> {
        let _writer = self.writer.lock();
        let snapshot = {
            let mut snapshots = self.snapshots.lock();
            let Some(snapshot) = snapshots.1.remove(&id) else { return Ok(false) };
            snapshots.1.retain(|sid, _| *sid < id);
            snapshot
        };
        if let Some(store) = &self.store {
            store.truncate_above(snapshot.number)?;
        }
        let latest = {
            let mut chain = self.chain.write();
            chain.truncate(snapshot.number);
            chain.head_state = snapshot.state;
            chain.head().header.timestamp
        };
        *self.pool.lock() = snapshot.pool;
        // The snapshot's clock read at least its latest block then (see `Clock`), and reads
        // later now; lifting it covers one that `anvil_setTime` had set back.
        let mut clock = snapshot.clock;
        clock.catch_up(latest);
        *self.clock.lock() = clock;
        *self.pending_edits.lock() = snapshot.pending_edits;
        Ok(true)
    }
}

/// The logs of `block` that match `filter`'s addresses and topics (its block range is not
/// looked at), with their positions.
pub fn logs_in(block: &Block, filter: &Filter) -> Vec<RpcLog> {
    let mut out = Vec::new();
    if !filter.matches_bloom(block.header.logs_bloom) {
        return out;
    }
    let mut log_index = 0u64;
    for (tx_index, tx) in block.transactions.iter().enumerate() {
        for log in tx.receipt.logs() {
            if filter.matches_address(log.address) && filter.matches_topics(log.topics()) {
                out.push(RpcLog {
                    inner: log.clone(),
                    block_hash: Some(block.hash),
                    block_number: Some(block.number()),
                    block_timestamp: Some(block.header.timestamp),
                    transaction_hash: Some(tx.hash),
                    transaction_index: Some(tx_index as u64),
                    log_index: Some(log_index),
                    removed: false,
                });
            }
            log_index += 1;
        }
    }
    out
}

/// The senders of `transactions`, recovered on all cores.
fn recover_senders(transactions: &[MinedTx]) -> Vec<Result<Address, String>> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunk = transactions.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = transactions
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || part.iter().map(|t| recover_sender(&t.tx)).collect::<Vec<_>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|_| vec![Err("recovery panicked".into())]))
            .collect()
    })
}

/// The header fields of a block that execution depends on.
#[derive(Debug, Clone, Copy)]
struct BlockParams {
    number: u64,
    timestamp: u64,
    gas_limit: u64,
    base_fee: u64,
    beneficiary: Address,
    mix_hash: B256,
}

impl BlockParams {
    /// The EVM's block environment for these parameters.
    fn env(&self) -> revm::context::BlockEnv {
        block_env(
            self.number,
            self.timestamp,
            self.gas_limit,
            self.base_fee,
            self.beneficiary,
            self.mix_hash,
        )
    }
}

/// A block's executed transactions and the state after them.
#[derive(Debug)]
struct Executed {
    mined: Vec<MinedTx>,
    dropped: Vec<B256>,
    state: WorldState,
    diff: StateChanges,
    gas_used: u64,
}

/// The block of `executed` on top of `parent`, with every header field computed.
fn seal(
    parent: &Block,
    params: &BlockParams,
    executed: &Executed,
    jobs: Vec<JobRecord>,
    dev: DevRecord,
) -> Block {
    let logs_bloom = executed.mined.iter().fold(Bloom::ZERO, |mut bloom, t| {
        bloom.accrue_bloom(t.receipt.logs_bloom());
        bloom
    });
    let transactions: Vec<&TxEnvelope> = executed.mined.iter().map(|t| &t.tx).collect();
    let receipts: Vec<&ReceiptEnvelope> = executed.mined.iter().map(|t| &t.receipt).collect();
    let header = Header {
        parent_hash: parent.hash,
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        beneficiary: params.beneficiary,
        state_root: executed.state.root(),
        transactions_root: proofs::calculate_transaction_root(&transactions),
        receipts_root: proofs::calculate_receipt_root(&receipts),
        logs_bloom,
        difficulty: U256::ZERO,
        number: params.number,
        gas_limit: params.gas_limit,
        gas_used: executed.gas_used,
        timestamp: params.timestamp,
        extra_data: extra_data(&jobs, &dev),
        mix_hash: params.mix_hash,
        nonce: B64::ZERO,
        base_fee_per_gas: Some(params.base_fee),
        withdrawals_root: Some(EMPTY_ROOT_HASH),
        blob_gas_used: Some(0),
        excess_blob_gas: Some(0),
        parent_beacon_block_root: Some(B256::ZERO),
        requests_hash: Some(EMPTY_REQUESTS_HASH),
        ..Default::default()
    };
    Block { hash: header.hash_slow(), header, transactions: executed.mined.clone(), jobs, dev }
}

/// Why a block from another node was not imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// The block does not replay to what it claims.
    #[error("block {number} refused: {reason}")]
    Refused {
        /// Its number.
        number: u64,
        /// Why.
        reason: String,
    },
}

/// The EIP-1559 base fee of the block after `parent`.
pub fn next_base_fee(parent: &Header) -> u64 {
    calc_next_block_base_fee(
        parent.gas_used,
        parent.gas_limit,
        parent.base_fee_per_gas.unwrap_or_default(),
        BaseFeeParams::ethereum(),
    )
}

/// The `prevrandao` of block `number`: deterministic, so that replays agree.
fn prevrandao(number: u64) -> B256 {
    keccak256(number.to_be_bytes())
}

/// Block 0 of `genesis` with `state_root`.
pub fn genesis_block(genesis: &GenesisConfig, state_root: B256) -> Block {
    let header = Header {
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        state_root,
        transactions_root: EMPTY_ROOT_HASH,
        receipts_root: EMPTY_ROOT_HASH,
        gas_limit: genesis.gas_limit,
        timestamp: genesis.timestamp.unwrap_or_default(),
        extra_data: genesis
            .committee
            .as_ref()
            .map(|c| Bytes::from(c.hash().to_vec()))
            .unwrap_or_default(),
        mix_hash: prevrandao(0),
        base_fee_per_gas: Some(genesis.base_fee),
        withdrawals_root: Some(EMPTY_ROOT_HASH),
        blob_gas_used: Some(0),
        excess_blob_gas: Some(0),
        parent_beacon_block_root: Some(B256::ZERO),
        requests_hash: Some(EMPTY_REQUESTS_HASH),
        ..Default::default()
    };
    Block {
        hash: header.hash_slow(),
        header,
        transactions: Vec::new(),
        jobs: Vec::new(),
        dev: DevRecord::default(),
    }
}

/// The priority fees paid in `block` at `percentiles`, weighted by gas used.
fn block_rewards(block: &Block, base_fee: u64, percentiles: &[f64]) -> Vec<u128> {
    if block.transactions.is_empty() {
        return vec![0; percentiles.len()];
    }
    let mut tips: Vec<(u128, u64)> = block
        .transactions
        .iter()
        .map(|t| (t.tx.effective_tip_per_gas(base_fee).unwrap_or(0), t.gas_used))
        .collect();
    tips.sort_unstable();
    let total: u64 = tips.iter().map(|(_, g)| g).sum();
    percentiles
        .iter()
        .map(|p| {
            let threshold = (total as f64 * p / 100.0) as u64;
            let mut cumulative = 0;
            for (tip, gas) in &tips {
                cumulative += gas;
                if cumulative >= threshold {
                    return *tip;
                }
            }
            tips.last().map(|(t, _)| *t).unwrap_or(0)
        })
        .collect()
}

fn outcome(result: ExecutionResult) -> HostResult<CallOutcome> {
    match result {
        ExecutionResult::Success { gas, output, .. } => {
            Ok(CallOutcome { output: output.into_data(), gas_used: gas.tx_gas_used() })
        }
        ExecutionResult::Revert { output, .. } => {
            Err(HostError::Reverted { reason: revert_reason(&output), output })
        }
        ExecutionResult::Halt { reason, .. } => Err(HostError::Halted(halt_message(&reason))),
    }
}

/// geth's words for an exceptional halt.
fn halt_message(reason: &revm::context::result::HaltReason) -> String {
    use revm::context::result::{HaltReason, OutOfGasError};
    match reason {
        HaltReason::OutOfGas(OutOfGasError::Precompile) => "out of gas: precompile".into(),
        HaltReason::OutOfGas(_) => "out of gas".into(),
        HaltReason::OpcodeNotFound | HaltReason::InvalidFEOpcode => "invalid opcode".into(),
        HaltReason::StackUnderflow => "stack underflow".into(),
        HaltReason::StackOverflow => "stack limit reached 1024".into(),
        HaltReason::InvalidJump => "invalid jump destination".into(),
        HaltReason::CallTooDeep => "max call depth exceeded".into(),
        HaltReason::CreateCollision => "contract address collision".into(),
        HaltReason::CreateContractSizeLimit => "max code size exceeded".into(),
        HaltReason::CreateContractStartingWithEF => "invalid code: must not begin with 0xef".into(),
        HaltReason::OutOfFunds => "insufficient balance for transfer".into(),
        HaltReason::StateChangeDuringStaticCall => "write protection".into(),
        other => format!("{other:?}"),
    }
}

fn call_error(error: EVMError<Infallible, InvalidTransaction>, from: Address) -> HostError {
    match error {
        EVMError::Transaction(InvalidTransaction::LackOfFundForMaxFee { fee, balance }) => {
            HostError::CallInvalid(format!(
                "insufficient funds for gas * price + value: address {from} have {balance} want {fee}"
            ))
        }
        EVMError::Transaction(InvalidTransaction::CallGasCostMoreThanGasLimit {
            initial_gas,
            gas_limit,
        }) => HostError::CallInvalid(format!(
            "intrinsic gas too low: gas {gas_limit}, minimum needed {initial_gas}"
        )),
        EVMError::Transaction(InvalidTransaction::GasFloorMoreThanGasLimit {
            gas_floor,
            gas_limit,
        }) => HostError::CallInvalid(format!(
            "intrinsic gas too low: gas {gas_limit}, minimum needed {gas_floor}"
        )),
        EVMError::Transaction(e) => HostError::CallInvalid(e.to_string()),
        EVMError::Custom(e) => HostError::Internal(e),
        EVMError::CustomAny(e) => HostError::Internal(e.to_string()),
        other => HostError::Internal(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::Clock;

    /// Blocks stamped past the clock (several within one second) move it with them, so that a
    /// time increase after them is whole.
    #[test]
    fn clock_absorbs_the_chains_lead() {
        let mut clock = Clock::default();
        let mut latest = clock.now();
        for _ in 0..10 {
            latest = clock.next_timestamp(latest);
        }
        assert!(clock.now() >= latest, "the clock reads {} behind block {latest}", clock.now());
        clock.increase(3600, latest);
        let next = clock.next_timestamp(latest);
        assert!((latest + 3600..=latest + 3602).contains(&next), "{next} after {latest}");
    }

    /// A time increase counts from the latest block when the clock was set before it.
    #[test]
    fn clock_increase_counts_from_the_latest_block() {
        let mut clock = Clock::default();
        let latest = clock.now() + 1000;
        clock.set(latest - 5000);
        assert_eq!(clock.next_timestamp(latest), latest + 1, "one second after the parent");
        let latest = latest + 1;
        clock.set(latest - 5000);
        clock.increase(60, latest);
        let next = clock.next_timestamp(latest);
        assert!((latest + 60..=latest + 62).contains(&next), "{next} after {latest}");
    }

    /// `evm_setNextBlockTimestamp`'s timestamp is taken as it is, and the clock goes on from
    /// it — also back from a time increase not yet mined.
    #[test]
    fn clock_next_timestamp_moves_the_clock() {
        let mut clock = Clock::default();
        let latest = clock.now() + 100;
        clock.next = Some(latest + 600);
        assert_eq!(clock.next_timestamp(latest), latest + 600);
        let latest = latest + 600;
        assert!((latest..=latest + 2).contains(&clock.now()));
        clock.increase(86_400, latest);
        clock.next = Some(latest + 10);
        assert_eq!(clock.next_timestamp(latest), latest + 10);
        let next = clock.next_timestamp(latest + 10);
        assert!((latest + 11..=latest + 13).contains(&next), "{next} after {}", latest + 10);
    }
}
