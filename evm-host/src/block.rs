//! Blocks as the chain keeps them: a header, its hash, and the mined transactions with their
//! receipts; and their storage encoding.

use alloy_consensus::{Header, ReceiptEnvelope, Transaction, TxEnvelope};
use alloy_eips::eip2718::{Decodable2718, Encodable2718};
use alloy_primitives::{Address, B256, Bytes, keccak256};
use alloy_rlp::{RlpDecodable, RlpEncodable};
use anh_precompiles::JobRecord;

use crate::error::{HostError, HostResult};

/// A transaction in a block, with its receipt.
#[derive(Debug, Clone)]
pub struct MinedTx {
    /// The signed transaction.
    pub tx: TxEnvelope,
    /// Its hash.
    pub hash: B256,
    /// The recovered sender.
    pub sender: Address,
    /// The consensus receipt (status, cumulative gas, logs, bloom).
    pub receipt: ReceiptEnvelope,
    /// Gas used by this transaction alone.
    pub gas_used: u64,
    /// Price per gas actually paid.
    pub effective_gas_price: u128,
    /// Address of the contract created, for a creation.
    pub contract_address: Option<Address>,
}

/// A sealed block.
#[derive(Debug, Clone)]
pub struct Block {
    /// The header.
    pub header: Header,
    /// keccak256 of the RLP header.
    pub hash: B256,
    /// The transactions, in order.
    pub transactions: Vec<MinedTx>,
    /// The DNN jobs its transactions asked for, settled by the executor committee (or
    /// failed), which a replaying node takes its results from. The header's `extraData` is
    /// their [`jobs_root`] when there are any.
    pub jobs: Vec<JobRecord>,
}

/// What a header's `extraData` commits to for `jobs`: `keccak256(rlp(jobs))`, or nothing.
pub fn jobs_root(jobs: &[JobRecord]) -> Bytes {
    if jobs.is_empty() {
        Bytes::new()
    } else {
        Bytes::from(keccak256(alloy_rlp::encode(jobs.to_vec())).to_vec())
    }
}

impl Block {
    /// The block number.
    pub const fn number(&self) -> u64 {
        self.header.number
    }

    /// Size of the RLP-encoded block (header, transactions, no ommers, no withdrawals).
    pub fn size(&self) -> u64 {
        let txs: usize = self.transactions.iter().map(|t| t.tx.encode_2718_len()).sum();
        let header = alloy_rlp::Encodable::length(&self.header);
        // list(header, list(txs), list(ommers) = 0xc0, list(withdrawals) = 0xc0)
        let payload = header + txs + alloy_rlp::length_of_length(txs) + 2;
        (payload + alloy_rlp::length_of_length(payload)) as u64
    }

    /// Encodes for the store and for followers (`anh_getRawBlock`).
    pub fn encode(&self) -> Vec<u8> {
        let record = BlockRecord {
            header: self.header.clone(),
            txs: self.transactions.iter().map(|t| Bytes::from(t.tx.encoded_2718())).collect(),
            senders: self.transactions.iter().map(|t| t.sender).collect(),
            receipts: self
                .transactions
                .iter()
                .map(|t| Bytes::from(t.receipt.encoded_2718()))
                .collect(),
            jobs: self.jobs.clone(),
        };
        alloy_rlp::encode(&record)
    }

    /// Decodes what [`Block::encode`] wrote. Senders and receipts are taken as written: an
    /// importer re-executes and compares.
    pub fn decode(mut bytes: &[u8]) -> HostResult<Self> {
        let corrupt = |what: &str, e: &dyn std::fmt::Display| {
            HostError::Storage(format!("corrupt block record ({what}): {e}"))
        };
        let record: BlockRecord =
            alloy_rlp::Decodable::decode(&mut bytes).map_err(|e| corrupt("rlp", &e))?;
        if record.txs.len() != record.senders.len() || record.txs.len() != record.receipts.len() {
            return Err(HostError::Storage("corrupt block record: length mismatch".into()));
        }
        let base_fee = record.header.base_fee_per_gas;
        let mut previous_cumulative = 0;
        let mut transactions = Vec::with_capacity(record.txs.len());
        for ((tx, sender), receipt) in
            record.txs.iter().zip(record.senders).zip(record.receipts.iter())
        {
            let tx = TxEnvelope::decode_2718(&mut tx.as_ref())
                .map_err(|e| corrupt("transaction", &e))?;
            let receipt = ReceiptEnvelope::decode_2718(&mut receipt.as_ref())
                .map_err(|e| corrupt("receipt", &e))?;
            let cumulative = receipt.cumulative_gas_used();
            let contract_address = tx.kind().is_create().then(|| sender.create(tx.nonce()));
            transactions.push(MinedTx {
                hash: *tx.tx_hash(),
                effective_gas_price: tx.effective_gas_price(base_fee),
                gas_used: cumulative - previous_cumulative,
                contract_address,
                tx,
                sender,
                receipt,
            });
            previous_cumulative = cumulative;
        }
        let hash = record.header.hash_slow();
        Ok(Self { header: record.header, hash, transactions, jobs: record.jobs })
    }
}

#[derive(RlpEncodable, RlpDecodable)]
struct BlockRecord {
    header: Header,
    txs: Vec<Bytes>,
    senders: Vec<Address>,
    receipts: Vec<Bytes>,
    jobs: Vec<JobRecord>,
}

/// Recovers the sender of a decoded transaction (libsecp256k1, through alloy-primitives),
/// refusing high-s signatures (EIP-2).
pub(crate) fn recover_sender(tx: &TxEnvelope) -> Result<Address, String> {
    let signature = tx.signature();
    if signature.normalize_s().is_some() {
        return Err("signature s value is too high (EIP-2)".into());
    }
    signature.recover_address_from_prehash(&tx.signature_hash()).map_err(|e| e.to_string())
}
