//! Block import (Replay mode): re-executing another node's block, with DNN results taken from
//! its verified job records, and refusing it unless every header field comes out the same.
//!
//! What each header field is held to: the parent hash extends the head; the number is the
//! parent's plus one; the base fee follows EIP-1559 from the parent (unless a dev record says
//! a dev method set it — refused outright on a non-dev chain); the timestamp is after the
//! parent's (and, on a non-dev chain, at most [`MAX_FUTURE_SECS`] ahead of this node's clock);
//! the gas limit is the parent's; `mixHash` (prevrandao) is `keccak256(number)`; the state,
//! transactions and receipts roots, the gas used, the logs bloom and `extraData` (the jobs
//! root, committing to the job records — in a sealed block through the attestation's leaves,
//! each record checked against its own before anything executes — and the dev record) are
//! recomputed by replaying; the
//! constant fields (ommers, difficulty, nonce, withdrawals, blob gas, beacon root, requests)
//! are ours, and the block hash must then come out the same. The beneficiary is the
//! producer's choice, as on Ethereum: it only receives the priority fees.
//!
//! The body is held to what the pool takes, before any sender is recovered: at most as many
//! transactions as the gas limit pays 21 000 gas each for, no blob (EIP-4844) transaction,
//! none over [`super::MAX_TX_SIZE`] encoded; job records of known kinds, each job once.

use super::{
    Backend,
    build::{BlockParams, BodyRoots, prevrandao, seal},
    fees::next_base_fee,
};
use crate::block::{Block, recover_sender};
use alloy_consensus::TxType;
use alloy_eips::eip2718::Encodable2718;
use anh_primitives::{BlockAttestation, JobKind, par};
use std::{collections::HashSet, sync::Arc};
use tracing::info;

impl Backend {
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
        if !self.dev && !block.dev.is_empty() {
            return Err(refuse(
                "it carries a dev record (state edits, impersonated senders or a base-fee \
                 override), but this chain's spec says \"dev\": false"
                    .into(),
            ));
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
        if header.timestamp <= parent.header.timestamp {
            return Err(refuse(format!(
                "timestamp {} is not after the parent's {}",
                header.timestamp, parent.header.timestamp
            )));
        }
        if !self.dev {
            // A dev chain's clock is the producer's to move (`evm_increaseTime`); a non-dev
            // producer may not date a block ahead of the present, as on Ethereum.
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            if header.timestamp > now + MAX_FUTURE_SECS {
                return Err(refuse(format!(
                    "timestamp {} is more than {MAX_FUTURE_SECS} s ahead of this node's clock \
                     ({now})",
                    header.timestamp
                )));
            }
        }
        if header.gas_limit != parent.header.gas_limit {
            return Err(refuse(format!(
                "gas limit {}, expected the parent's {}",
                header.gas_limit, parent.header.gas_limit
            )));
        }
        let expected_mix_hash = prevrandao(number);
        if header.mix_hash != expected_mix_hash {
            return Err(refuse(format!(
                "prevrandao (mixHash) {}, expected {expected_mix_hash} (keccak256 of the 8-byte big-endian block number)",
                header.mix_hash
            )));
        }
        let params = BlockParams {
            number,
            timestamp: header.timestamp,
            gas_limit: header.gas_limit,
            base_fee: header.base_fee_per_gas.unwrap_or(expected_base_fee),
            beneficiary: header.beneficiary,
            mix_hash: header.mix_hash,
        };
        if block.jobs.is_empty() && block.attestation != BlockAttestation::default() {
            // extraData does not commit to an attestation without jobs: refused, so that no
            // follower keeps (and serves again) what the block hash does not cover.
            return Err(refuse("it carries a block attestation but no job records".into()));
        }
        if self.evm.committee().is_none() && !block.jobs.is_empty() {
            // Nothing would check the records against the attestation's leaves, which is what
            // extraData commits to in a sealed block.
            return Err(refuse(
                "it carries job records, but this chain has no DNN precompiles to replay them"
                    .into(),
            ));
        }
        // A job recorded twice: whichever copy a replay looked up, the other would be kept and
        // served unchecked.
        let mut ids = std::collections::HashSet::with_capacity(block.jobs.len());
        if let Some(twice) = block.jobs.iter().find(|record| !ids.insert(record.job)) {
            return Err(refuse(format!("job {} is recorded twice", twice.job)));
        }
        if let Some(record) = block.jobs.iter().find(|r| JobKind::from_code(r.kind).is_none()) {
            return Err(refuse(format!(
                "job {} has kind {}, none of infer (1), register (2) and train (3)",
                record.job, record.kind
            )));
        }
        check_transactions(&block).map_err(refuse)?;
        // Dev methods' effects, as the producer recorded them: state edits first.
        let mut state = state;
        state.apply(&block.dev.edits);
        self.touched.write().record(&block.dev.edits);
        for code in &block.dev.edits.codes {
            self.codes.insert_raw(code.clone());
        }
        let (precompiles, oracle) = self.evm.replay_precompiles(&block);
        // The committee's signatures are checked while the senders are recovered (all cores
        // share the work), and both before anything executes; the body's roots are hashed
        // while the transactions run.
        let apart = !block.transactions.is_empty();
        let (senders, verified) = par::map_beside(
            &block.transactions,
            |t| recover_sender(&t.tx),
            || oracle.as_ref().map_or(Ok(()), |oracle| oracle.verify_all()),
        );
        let impersonated: HashSet<u64> = block.dev.impersonated.iter().copied().collect();
        let mut txs = Vec::with_capacity(block.transactions.len());
        for (i, (mined, sender)) in block.transactions.iter().zip(senders).enumerate() {
            let sender = if impersonated.contains(&(i as u64)) {
                Ok(mined.sender)
            } else {
                sender.unwrap_or_else(|| Err("its recovery panicked".into()))
            };
            let sender = sender
                .map_err(|e| refuse(format!("transaction {i} has no valid signature: {e}")))?;
            txs.push((mined.tx.clone(), sender, *mined.tx.tx_hash()));
        }
        verified.map_err(|e| refuse(format!("attestation check failed: {e}")))?;
        let (executed, body) = beside(
            apart,
            || self.execute(&parent, state, hashes, &params, txs, precompiles, true),
            || {
                let transactions: Vec<_> = block.transactions.iter().map(|t| &t.tx).collect();
                BodyRoots::of(&transactions, &block.jobs, &block.attestation, &block.dev)
            },
        );
        let executed = executed.map_err(|e| refuse(e.to_string()))?;
        if let Some(oracle) = &oracle {
            if let Some(failure) = oracle.failures().into_iter().next() {
                return Err(refuse(format!("attestation check failed: {failure}")));
            }
            if let Some(job) = oracle.unused() {
                return Err(refuse(format!(
                    "job {job} is recorded, but no transaction of the block asks for it"
                )));
            }
        }
        let ours = seal(
            &parent,
            &params,
            &executed,
            body,
            block.jobs.clone(),
            block.attestation.clone(),
            block.dev.clone(),
        );
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
        // Counted for a block that is kept only.
        if let Some(oracle) = &oracle {
            self.attestations_verified
                .fetch_add(oracle.verified(), std::sync::atomic::Ordering::Relaxed);
        }
        info!(number, hash = %block.hash, txs = block.transactions.len(), jobs = block.jobs.len(), "imported block");
        Ok(block)
    }
}

/// How far ahead of its own clock a node accepts a non-dev chain's block timestamp, in
/// seconds (clock skew between machines).
pub const MAX_FUTURE_SECS: u64 = 15;

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

/// `a()` and `b()`: `b` on a thread of its own beside this one when `apart`, else one after
/// the other here (a block without transactions is not worth a thread).
fn beside<A: Send, B: Send>(
    apart: bool,
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    if !apart {
        return (a(), b());
    }
    std::thread::scope(|scope| {
        let b = scope.spawn(b);
        let a = a();
        (a, b.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    })
}

/// Gas every transaction costs at least (its intrinsic gas).
const MIN_TX_GAS: u64 = 21_000;

/// What the pool refuses, a block may not carry either, and the cheap bounds come before any
/// signature is recovered: more transactions than the gas limit lets pay their intrinsic gas,
/// a blob (EIP-4844) transaction, one over [`super::MAX_TX_SIZE`] encoded.
fn check_transactions(block: &Block) -> Result<(), String> {
    let count = block.transactions.len() as u64;
    if count.saturating_mul(MIN_TX_GAS) > block.header.gas_limit {
        return Err(format!(
            "its {count} transactions need at least {} gas ({MIN_TX_GAS} each), over its gas \
             limit {}",
            count.saturating_mul(MIN_TX_GAS),
            block.header.gas_limit
        ));
    }
    for (i, mined) in block.transactions.iter().enumerate() {
        if mined.tx.tx_type() == TxType::Eip4844 {
            return Err(format!(
                "transaction {i} is a blob (EIP-4844) transaction, which this chain does not take"
            ));
        }
        let size = mined.tx.encode_2718_len();
        if size > super::MAX_TX_SIZE {
            return Err(format!(
                "transaction {i} is {size} bytes encoded, over the {}-byte limit",
                super::MAX_TX_SIZE
            ));
        }
    }
    Ok(())
}
