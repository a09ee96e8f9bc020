//! Transactions into the pool: decoding, validation against the head state and the next
//! block (geth's rules and wording), and the pool's readers. The pool itself is
//! [`TxPool`](crate::txpool::TxPool).

use super::Backend;
use crate::{
    block::recover_sender,
    error::{HostError, HostResult, InvalidTx},
    evm::tx_env,
    genesis::SPEC,
    state::WorldState,
    txpool::{Exclusion, PoolTx, TxPool},
};
use alloy_consensus::{Header, Transaction, TxEnvelope, TxType};
use alloy_eips::eip2718::{Decodable2718, Encodable2718};
use alloy_primitives::{Address, B256, U256};
use revm::context_interface::cfg::gas::calculate_initial_tx_gas_for_tx;
use std::sync::Arc;
use tokio::sync::{Notify, broadcast};
use tracing::debug;

/// Largest accepted encoded transaction (DNN inputs travel in calldata).
pub const MAX_TX_SIZE: usize = 8 * 1024 * 1024;

/// EIP-3860 initcode limit.
pub const MAX_INITCODE_SIZE: usize = 2 * 24_576;

impl Backend {
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

    /// Signals that the pool has a transaction ready (wakes the auto-miner).
    pub fn tx_ready(&self) -> &Notify {
        &self.tx_ready
    }

    /// Hashes of transactions as they enter the pool.
    pub fn subscribe_pending(&self) -> broadcast::Receiver<B256> {
        self.new_txs.subscribe()
    }

    /// Transactions as the block builder leaves them out of a block (a DNN job nobody could
    /// settle provably), with the reason: they stay in the pool until
    /// [`MAX_EXCLUSIONS`](crate::txpool::MAX_EXCLUSIONS).
    pub fn subscribe_exclusions(&self) -> broadcast::Receiver<(B256, Exclusion)> {
        self.exclusions.subscribe()
    }

    /// Why the transaction `hash` was left out of blocks, if it was (in the pool or after it
    /// left it).
    pub fn exclusion(&self, hash: &B256) -> Option<Exclusion> {
        self.pool.lock().exclusion(hash).cloned()
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
    pub(super) fn submit_from(
        &self,
        tx: TxEnvelope,
        sender: Address,
        impersonated: bool,
    ) -> HostResult<B256> {
        let hash = *tx.tx_hash();
        // Every way in (raw, signed by a dev key, impersonated) is held to the size a block
        // may carry: a follower refuses a block with a larger transaction.
        let size = tx.encode_2718_len();
        if size > MAX_TX_SIZE {
            return Err(InvalidTx::Oversized { size, limit: MAX_TX_SIZE }.into());
        }
        // The pool is locked before the state is read (as in `pending_nonce`), so a block
        // committed in between cannot make the validation stale.
        let mut pool = self.pool.lock();
        let (state, head) = {
            let chain = self.chain.read();
            (chain.head_state.clone(), chain.head().header.clone())
        };
        self.validate(&tx, sender, &state, &head)?;
        let state_nonce = |a: &Address| state.account(a).map(|x| x.nonce).unwrap_or(0);
        self.expire_queued(&mut pool, &state_nonce);
        let seq = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let added = std::time::Instant::now();
        let entry = PoolTx { tx, hash, sender, seq, impersonated, size, added };
        pool.admit(&entry, state_nonce(&sender), &self.pool_limits)?;
        let added = pool.add(entry)?;
        drop(pool);
        debug!(%hash, %sender, ?added, "transaction pooled");
        let _ = self.new_txs.send(hash);
        self.tx_ready.notify_one();
        Ok(hash)
    }

    /// Drops queued transactions past their lifetime, at most once a minute.
    fn expire_queued(&self, pool: &mut TxPool, state_nonce: &dyn Fn(&Address) -> u64) {
        let mut last = self.last_expiry.lock();
        if last.elapsed() < std::time::Duration::from_secs(60) {
            return;
        }
        *last = std::time::Instant::now();
        let expired = pool.expire_queued(state_nonce, self.pool_limits.queued_lifetime);
        if expired > 0 {
            debug!(expired, "queued transactions expired");
        }
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
}
