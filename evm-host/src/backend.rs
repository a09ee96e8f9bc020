//! The backend: the chain, the pool, block production, calls and gas estimation.
//!
//! Concurrency: readers (RPC queries, calls) take short read locks to clone what they need
//! — a [`WorldState`] clone is O(1) — and execute without holding any lock. Everything that
//! changes the chain (mining, reverts, state edits) first takes the `writer` mutex, so there is
//! one writer at a time; it executes without blocking readers and only takes the chain's
//! write lock to publish the result.
//!
//! This file holds [`Backend`] itself, its configuration and opening (genesis or a data
//! directory's chain, replayed). What it does is split by concern, each file adding an
//! `impl Backend` block:
//!
//! - `chain.rs`: the blocks, their post-states and indexes; reading blocks, state, code and
//!   transactions.
//! - `clock.rs`: the clock that stamps blocks.
//! - `pool.rs`: transactions into the pool: decoding and validation (geth's rules and
//!   wording), pending nonces, the pool's contents.
//! - `request.rs`: filling and signing transaction requests (`eth_sendTransaction`).
//! - `call.rs`: `eth_call`, the context a call runs in, geth's words for its failures.
//! - `estimate.rs`: `eth_estimateGas`.
//! - `build.rs`: mining: executing, sealing and committing a block; the genesis block.
//! - `import.rs`: importing another node's block (Replay mode).
//! - `fees.rs`: the next base fee, the gas price, `eth_feeHistory`.
//! - `logs.rs`: `eth_getLogs`.
//! - `snapshot.rs`: `evm_snapshot` and `evm_revert`.
//! - `dev.rs`: the dev methods (`anvil_*`, `hardhat_*`, `evm_*`).
//! - `overrides.rs`: state and block overrides of calls.
//! - `access_list.rs`: `eth_createAccessList`.
//! - `trace.rs`: `debug_trace*` and `trace_*`.

mod access_list;
mod build;
mod call;
mod chain;
mod clock;
pub mod dev;
mod estimate;
mod fees;
mod import;
mod logs;
mod overrides;
mod pool;
mod request;
mod snapshot;
mod trace;

pub use build::genesis_block;
pub use fees::{SUGGESTED_PRIORITY_FEE, next_base_fee};
pub use import::{ImportError, MAX_FUTURE_SECS};
pub use logs::{LogLimits, logs_in};
pub use overrides::CallOverrides;
pub use pool::{MAX_INITCODE_SIZE, MAX_TX_SIZE};
pub use trace::STRUCT_LOG_BUDGET;

use crate::{
    block::Block,
    error::{HostError, HostResult},
    evm::EvmConfig,
    genesis::{DevAccount, GenesisConfig},
    state::{CodeStore, StateChanges, WorldState},
    store::Store,
    txpool::{PoolTx, TxPool},
};
use alloy_primitives::{Address, B256, Bytes, U256};
use chain::Chain;
use clock::Clock;
use parking_lot::{Mutex, RwLock};
use snapshot::Snapshot;
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    path::PathBuf,
    sync::Arc,
};
use tokio::sync::{Notify, broadcast};
use tracing::info;

/// Node configuration, as the chain sees it.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Genesis parameters.
    pub genesis: GenesisConfig,
    /// Data directory; `None` keeps the chain in memory.
    pub data_dir: Option<PathBuf>,
    /// Block beneficiary.
    pub coinbase: Address,
    /// How much the transaction pool holds.
    pub pool: crate::txpool::PoolLimits,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            genesis: GenesisConfig::default(),
            data_dir: None,
            coinbase: Address::ZERO,
            pool: crate::txpool::PoolLimits::default(),
        }
    }
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
    /// A dev chain ([`GenesisConfig::dev`]).
    dev: bool,
    coinbase: Mutex<Address>,
    accounts: Vec<DevAccount>,
    evm: EvmConfig,
    codes: CodeStore,
    store: Option<Store>,
    chain: RwLock<Chain>,
    /// Lock order: `pool` may be held while `chain` is taken, never the other way round. A
    /// block enters `chain` before its transactions leave `pool`.
    pool: Mutex<TxPool>,
    /// What the pool may hold.
    pool_limits: crate::txpool::PoolLimits,
    /// When queued transactions were last expired.
    last_expiry: Mutex<std::time::Instant>,
    writer: Mutex<()>,
    clock: Mutex<Clock>,
    snapshots: Mutex<(u64, BTreeMap<u64, Snapshot>)>,
    seq: std::sync::atomic::AtomicU64,
    tx_ready: Notify,
    new_blocks: broadcast::Sender<Arc<Block>>,
    new_txs: broadcast::Sender<B256>,
    /// Transactions left out of a block, as they are (see [`Backend::subscribe_exclusions`]).
    exclusions: broadcast::Sender<(B256, crate::txpool::Exclusion)>,
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
    /// Storage read by calls on the head state, with the version it was read from
    /// ([`Backend::head_reads`]).
    head_reads: Mutex<Option<(WorldState, Arc<crate::state::ReadCache>)>>,
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
        let NodeConfig { genesis: requested, data_dir, coinbase, pool: pool_limits } = config;
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
        let dev = genesis.dev;
        if let Some(committee) = &genesis.committee {
            committee
                .validate_for_chain(dev)
                .map_err(|e| HostError::Config(format!("invalid executor committee: {e}")))?;
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
        let (exclusions, _) = broadcast::channel(1024);
        Ok(Arc::new(Self {
            genesis,
            dev,
            coinbase: Mutex::new(coinbase),
            accounts,
            evm,
            codes,
            store,
            chain: RwLock::new(chain),
            pool: Mutex::default(),
            pool_limits,
            last_expiry: Mutex::new(std::time::Instant::now()),
            writer: Mutex::new(()),
            clock: Mutex::default(),
            snapshots: Mutex::default(),
            seq: Default::default(),
            tx_ready: Notify::new(),
            new_blocks,
            new_txs,
            exclusions,
            attestations_formed: Default::default(),
            attestations_verified: Default::default(),
            impersonated: Mutex::default(),
            pending_edits: Mutex::default(),
            next_base_fee: Mutex::default(),
            auto_impersonate: Default::default(),
            touched: RwLock::new(touched),
            head_reads: Mutex::default(),
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

    /// Whether this is a dev chain ([`GenesisConfig::dev`]).
    pub fn is_dev(&self) -> bool {
        self.dev
    }

    /// `Ok` on a dev chain; on a non-dev chain, [`HostError::DevDisabled`] naming `method`
    /// (a dev method that changes state, time, fees, coinbase or senders).
    pub fn require_dev(&self, method: &str) -> HostResult<()> {
        if self.dev { Ok(()) } else { Err(HostError::DevDisabled(method.to_string())) }
    }

    /// The unlocked dev accounts.
    pub fn dev_accounts(&self) -> &[DevAccount] {
        &self.accounts
    }

    /// The EVM configuration.
    pub fn evm_config(&self) -> &EvmConfig {
        &self.evm
    }

    /// Attestations this node formed (as a block builder) and verified (replaying).
    pub fn attestation_counts(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.attestations_formed.load(Relaxed), self.attestations_verified.load(Relaxed))
    }
}
