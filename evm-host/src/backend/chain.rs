//! The chain: its blocks, their post-states and indexes, and the readers of blocks, state,
//! code and transactions.

use super::{Backend, TxLocation};
use crate::{
    block::Block,
    error::{HostError, HostResult},
    state::{RecentHashes, WorldState},
};
use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{B256, Bytes};
use std::{collections::HashMap, sync::Arc};
use tokio::sync::broadcast;

/// How many block hashes `BLOCKHASH` can see.
const BLOCKHASH_WINDOW: u64 = 256;

#[derive(Debug)]
pub(super) struct Chain {
    pub(super) blocks: Vec<Arc<Block>>,
    /// Post-state of each block.
    pub(super) states: Vec<WorldState>,
    /// The state the next block builds on: the last block's, plus dev edits.
    pub(super) head_state: WorldState,
    pub(super) by_hash: HashMap<B256, u64>,
    pub(super) txs: HashMap<B256, (u64, usize)>,
    pub(super) recent: Arc<RecentHashes>,
}

impl Chain {
    pub(super) fn head(&self) -> &Arc<Block> {
        self.blocks.last().expect("the chain always has genesis")
    }

    pub(super) fn recent_hashes_at(&self, number: u64) -> Arc<RecentHashes> {
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

    /// The number of the block `id` names in this chain; `None` for `pending`. Readers that
    /// then index blocks or states must do so under the same lock guard.
    pub(super) fn resolve(&self, id: BlockId) -> HostResult<Option<u64>> {
        let head = self.head().number();
        let number = match id {
            BlockId::Hash(hash) => {
                *self.by_hash.get(&hash.block_hash).ok_or(HostError::UnknownBlock)?
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

    pub(super) fn push(&mut self, block: Arc<Block>, state: WorldState) {
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

    pub(super) fn truncate(&mut self, number: u64) {
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

impl Backend {
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
        self.chain.read().resolve(id)
    }

    /// The state after block `id` (`latest` and `pending` include dev edits), resolved and
    /// read under one lock: a revert or reset in between cannot make the number stale.
    pub fn state_at(&self, id: BlockId) -> HostResult<WorldState> {
        let chain = self.chain.read();
        let number = chain.resolve(id)?;
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

    /// New blocks, as they are published.
    pub fn subscribe_blocks(&self) -> broadcast::Receiver<Arc<Block>> {
        self.new_blocks.subscribe()
    }
}
