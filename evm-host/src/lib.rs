//! ANH's chain: genesis, world state, blocks and receipts, the transaction pool, mining,
//! persistence, snapshots, and the revm wiring with ANH's precompiles.
//!
//! The [`Backend`] is the API: the RPC layer turns requests into calls on it. It executes with
//! revm through [`evm::EvmConfig`], the single place where an EVM is built.

pub mod backend;
pub mod block;
pub mod error;
pub mod evm;
pub mod genesis;
pub mod miner;
pub mod state;
pub mod store;
pub mod trie;
pub mod txpool;

pub use backend::{
    Backend, CallOutcome, CallOverrides, MineOptions, NodeConfig, TxLocation,
    dev::{DumpedAccount, DumpedState, MAX_MINE_BLOCKS},
};
pub use block::{Block, MinedTx};
pub use error::{HostError, HostResult, InvalidTx};
pub use evm::EvmConfig;
pub use genesis::{DevAccount, GenesisConfig};
pub use miner::{Miner, MiningMode};
