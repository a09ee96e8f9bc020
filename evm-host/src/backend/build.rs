//! Block production: executing the pool's ready transactions on the head state, sealing the
//! block with every header field computed, and committing it; also the genesis block.

use super::{Backend, MineOptions, fees::next_base_fee};
use crate::{
    block::{Block, DevRecord, MinedTx, extra_data},
    error::{HostError, HostResult},
    evm::{block_env, tx_env},
    genesis::GenesisConfig,
    state::{RecentHashes, StateChanges, StateDb, WorldState},
};
use alloy_consensus::{
    EMPTY_OMMER_ROOT_HASH, Header, Receipt, ReceiptEnvelope, Transaction, TxEnvelope, proofs,
};
use alloy_eips::{
    eip2935::{HISTORY_SERVE_WINDOW, HISTORY_STORAGE_ADDRESS},
    eip7685::EMPTY_REQUESTS_HASH,
};
use alloy_primitives::{Address, B64, B256, Bloom, Bytes, U256, keccak256};
use alloy_trie::EMPTY_ROOT_HASH;
use anh_precompiles::{AnhPrecompiles, DnnParams};
use anh_primitives::{BlockAttestation, JobRecord};
use revm::{
    ExecuteCommitEvm, ExecuteEvm,
    context::result::{EVMError, ExecutionResult, InvalidTransaction},
};
use std::{collections::HashSet, convert::Infallible, sync::Arc};
use tracing::{debug, warn};

impl Backend {
    /// Produces a block from the pool's ready transactions, settling its DNN jobs with the
    /// executor committee (Build mode).
    ///
    /// Returns `None` when nothing is ready and `options.allow_empty` is false.
    pub fn mine(&self, options: MineOptions) -> HostResult<Option<Arc<Block>>> {
        if options.timestamp.is_some() {
            self.require_dev("evm_mine with a timestamp")?;
        }
        let _writer = self.writer.lock();
        let (parent, state, hashes) = {
            let chain = self.chain.read();
            (chain.head().clone(), chain.head_state.clone(), chain.recent.clone())
        };
        let parent_header = &parent.header;
        let base_fee_override = *self.next_base_fee.lock();
        let base_fee = base_fee_override.unwrap_or_else(|| next_base_fee(parent_header));
        let edits = self.pending_edits.lock().clone();
        let candidates = self.pool.lock().best(base_fee, parent_header.number, |a| {
            state.account(a).map(|x| x.nonce).unwrap_or(0)
        });
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
        let txs: Vec<_> = candidates.iter().map(|p| (p.tx.clone(), p.sender, p.hash)).collect();
        // Records left over from calls that never made it into a block are not this block's.
        let _ = self.evm.take_records();
        let _ = self.evm.take_unprovable();
        // At most twice: a committee that answered optimistically and could not confirm it
        // asks for the block again, and settles its jobs one by one then.
        let mut again = 0;
        let (executed, jobs, attestation) = loop {
            let executed = self.execute(
                &parent,
                state.clone(),
                hashes.clone(),
                &params,
                txs.clone(),
                self.evm.build_precompiles(),
                false,
            )?;
            match self.evm.seal(number, parent.hash) {
                Some((jobs, attestation)) => break (executed, jobs, attestation),
                None if again == 0 => {
                    again += 1;
                    let _ = self.evm.take_unprovable();
                    debug!(
                        number,
                        "the committee did not confirm the block's answers: building it again"
                    );
                }
                None => {
                    return Err(HostError::Internal(
                        "the committee asked for the block again twice".into(),
                    ));
                }
            }
        };
        self.note_exclusions(&executed.excluded, number - 1);
        if executed.mined.is_empty() && !executed.excluded.is_empty() && !options.allow_empty {
            // Everything was left out: no empty block (the transactions wait for the next).
            let mut pool = self.pool.lock();
            for hash in &executed.dropped {
                pool.remove(hash);
            }
            return Ok(None);
        }
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
        let transactions: Vec<&TxEnvelope> = executed.mined.iter().map(|t| &t.tx).collect();
        let body = BodyRoots::of(&transactions, &jobs, &attestation, &dev);
        let block = Arc::new(seal(&parent, &params, &executed, body, jobs, attestation, dev));
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

    /// Executes `txs` on `state` in a block with `params`, with the EIP-2935 parent-hash write
    /// first. Leniently (building): a transaction that cannot execute or does not fit is
    /// skipped, with its sender's later ones. Strictly (importing): that is an error.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn execute(
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
        let mut excluded = Vec::new();
        let mut skipped = HashSet::new();
        let mut cumulative = 0u64;
        for (index, (tx, sender, hash)) in txs.into_iter().enumerate() {
            if skipped.contains(&sender) {
                continue;
            }
            if cumulative.saturating_add(tx.gas_limit()) > params.gas_limit {
                if strict {
                    return Err(HostError::InvalidRequest(format!(
                        "transaction {index} exceeds the block gas limit"
                    )));
                }
                skipped.insert(sender);
                continue;
            }
            let mark = if strict { 0 } else { self.evm.ledger_mark() };
            let result: Result<ExecutionResult, EVMError<Infallible, InvalidTransaction>> =
                evm.transact_one(tx_env(&tx, sender));
            // Building: a transaction whose DNN job nobody could settle provably leaves the
            // block, its effects undone, rather than record an outcome no quorum signed; the
            // jobs it settled leave with it (no transaction of the block asks for them).
            let unprovable = if strict { Vec::new() } else { self.evm.take_unprovable() };
            if result.is_ok() && !unprovable.is_empty() {
                self.evm.forget_records_since(mark);
                let _ = evm.finalize();
                let reason = unprovable.join("; ");
                warn!(%hash, %reason, "leaving a transaction out of the block");
                excluded.push((hash, reason));
                skipped.insert(sender);
                continue;
            }
            let result = match result {
                Ok(result) => {
                    evm.commit_inner();
                    Ok(result)
                }
                Err(error) => {
                    let _ = evm.finalize();
                    Err(error)
                }
            };
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
                    self.evm.forget_records_since(mark);
                    dropped.push(hash);
                    skipped.insert(sender);
                }
            }
        }
        let db = evm.ctx.journaled_state.database;
        let (state, diff) = db.finish();
        Ok(Executed { mined, dropped, excluded, state, diff, gas_used: cumulative })
    }

    /// Puts the transactions left out of a block on `head` back in the pool with their
    /// reasons (or out of it, after too many tries), and tells whoever waits on them.
    fn note_exclusions(&self, excluded: &[(B256, String)], head: u64) {
        for (hash, reason) in excluded {
            let exclusion = self.pool.lock().exclude(*hash, reason.clone(), head);
            if let Some(exclusion) = exclusion {
                let _ = self.exclusions.send((*hash, exclusion));
            }
        }
    }

    /// Persists and publishes a block, and drops its transactions from the pool.
    pub(super) fn commit(
        &self,
        block: &Arc<Block>,
        state: WorldState,
        diff: &StateChanges,
    ) -> HostResult<()> {
        if let Some(store) = &self.store {
            store.write_block(block, diff)?;
        }
        self.touched.write().record(diff);
        self.chain.write().push(block.clone(), state.clone());
        let waiting = {
            let mut pool = self.pool.lock();
            let senders: HashSet<Address> = block.transactions.iter().map(|t| t.sender).collect();
            for sender in senders {
                pool.prune_sender(&sender, state.account(&sender).map(|a| a.nonce).unwrap_or(0));
            }
            !pool.is_empty()
        };
        let _ = self.new_blocks.send(block.clone());
        if waiting {
            // A new head: transactions left out of the last block are due again (the
            // auto-miner wakes; nothing is ready otherwise, and it goes back to sleep).
            self.tx_ready.notify_one();
        }
        Ok(())
    }
}

/// The header fields of a block that execution depends on.
#[derive(Debug, Clone, Copy)]
pub(super) struct BlockParams {
    pub(super) number: u64,
    pub(super) timestamp: u64,
    pub(super) gas_limit: u64,
    pub(super) base_fee: u64,
    pub(super) beneficiary: Address,
    pub(super) mix_hash: B256,
}

impl BlockParams {
    /// The EVM's block environment for these parameters.
    pub(super) fn env(&self) -> revm::context::BlockEnv {
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
pub(super) struct Executed {
    pub(super) mined: Vec<MinedTx>,
    pub(super) dropped: Vec<B256>,
    /// Left out (building only): a DNN job nobody could settle provably, and why.
    pub(super) excluded: Vec<(B256, String)>,
    pub(super) state: WorldState,
    pub(super) diff: StateChanges,
    pub(super) gas_used: u64,
}

/// The header fields a block's body fixes before it executes — import hashes them while the
/// transactions run: the transactions root and `extraData` (which, in a block without a block
/// attestation, hashes every job record's output).
pub(super) struct BodyRoots {
    pub(super) transactions_root: B256,
    pub(super) extra_data: Bytes,
}

impl BodyRoots {
    /// The roots of a body with `transactions`, `jobs`, `attestation` and `dev`.
    pub(super) fn of(
        transactions: &[&TxEnvelope],
        jobs: &[JobRecord],
        attestation: &BlockAttestation,
        dev: &DevRecord,
    ) -> Self {
        Self {
            transactions_root: proofs::calculate_transaction_root(transactions),
            extra_data: extra_data(jobs, attestation, dev),
        }
    }
}

/// The block of `executed` on top of `parent`, with every header field computed (`body`: the
/// roots of `executed`'s transactions, `jobs`, `attestation` and `dev`).
pub(super) fn seal(
    parent: &Block,
    params: &BlockParams,
    executed: &Executed,
    body: BodyRoots,
    jobs: Vec<JobRecord>,
    attestation: BlockAttestation,
    dev: DevRecord,
) -> Block {
    let logs_bloom = executed.mined.iter().fold(Bloom::ZERO, |mut bloom, t| {
        bloom.accrue_bloom(t.receipt.logs_bloom());
        bloom
    });
    let receipts: Vec<&ReceiptEnvelope> = executed.mined.iter().map(|t| &t.receipt).collect();
    let header = Header {
        parent_hash: parent.hash,
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        beneficiary: params.beneficiary,
        state_root: executed.state.root(),
        transactions_root: body.transactions_root,
        receipts_root: proofs::calculate_receipt_root(&receipts),
        logs_bloom,
        difficulty: U256::ZERO,
        number: params.number,
        gas_limit: params.gas_limit,
        gas_used: executed.gas_used,
        timestamp: params.timestamp,
        extra_data: body.extra_data,
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
    Block {
        hash: header.hash_slow(),
        header,
        transactions: executed.mined.clone(),
        jobs,
        attestation,
        dev,
    }
}

/// The `prevrandao` of block `number`: deterministic, so that replays agree.
pub(super) fn prevrandao(number: u64) -> B256 {
    keccak256(number.to_be_bytes())
}

/// Domain of the genesis `extraData` of a chain that is not a default dev chain.
const CHAIN_DOMAIN: &[u8] = b"\x19ANH-CHAIN-v1";

/// Genesis' `extraData`, so that block 0's hash commits to what replay depends on besides
/// state: on a dev chain with the default DNN parameters and chain id, the committee's hash
/// (empty without a committee: the hash such chains always had); otherwise
/// `keccak256(CHAIN_DOMAIN ‖ that ‖ dev (1 byte) ‖ DnnParams::hash [‖ chain id (8 bytes,
/// big-endian), unless the default])`, which also commits to the dev flag, the tensor limit,
/// the gas schedule and the chain id (which signatures depend on; no header field holds it).
fn genesis_extra_data(genesis: &GenesisConfig) -> Bytes {
    let committee = genesis.committee.as_ref().map(|c| c.hash().to_vec()).unwrap_or_default();
    let default_id = genesis.chain_id == crate::genesis::DEFAULT_CHAIN_ID;
    if genesis.dev && genesis.dnn == DnnParams::default() && default_id {
        return Bytes::from(committee);
    }
    let dev = [u8::from(genesis.dev)];
    let params = genesis.dnn.hash();
    let mut preimage = [CHAIN_DOMAIN, &committee, &dev, params.as_slice()].concat();
    if !default_id {
        preimage.extend_from_slice(&genesis.chain_id.to_be_bytes());
    }
    Bytes::from(keccak256(preimage).to_vec())
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
        extra_data: genesis_extra_data(genesis),
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
        attestation: BlockAttestation::default(),
        dev: DevRecord::default(),
    }
}

#[cfg(test)]
mod genesis_tests {
    use super::*;

    /// Block 0 commits to the chain id: two chains alike in all else (same second, same
    /// accounts) have different genesis hashes, and the default dev chain keeps its own.
    #[test]
    fn block_zero_commits_to_the_chain_id() {
        let at = |chain_id| GenesisConfig { chain_id, timestamp: Some(1), ..Default::default() };
        let hash = |g: &GenesisConfig| genesis_block(g, B256::ZERO).hash;
        let default = at(crate::genesis::DEFAULT_CHAIN_ID);
        assert_ne!(hash(&default), hash(&at(7)));
        assert_ne!(hash(&at(7)), hash(&at(8)));
        assert!(
            genesis_extra_data(&default).is_empty(),
            "the default dev chain's block 0 as before"
        );
    }
}
