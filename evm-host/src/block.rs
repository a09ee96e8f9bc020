//! Blocks as the chain keeps them: a header, its hash, and the mined transactions with their
//! receipts; and their storage encoding.

use alloy_consensus::{Header, ReceiptEnvelope, Transaction, TxEnvelope};
use alloy_eips::eip2718::{Decodable2718, Encodable2718};
use alloy_primitives::{Address, B256, Bytes, keccak256};
use alloy_rlp::{Encodable, RlpDecodable, RlpEncodable};
use anh_primitives::{BlockAttestation, JobRecord};

use crate::state::StateChanges;

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
    /// failed), which a replaying node takes its results from.
    pub jobs: Vec<JobRecord>,
    /// The committee's signatures of all of `jobs` at once (the records then carry none of
    /// their own); empty when the block has no jobs, or when no `t` members signed it as a
    /// whole and its records carry per-job signatures.
    pub attestation: BlockAttestation,
    /// The dev methods' effects on this block (state edits, impersonation, base fee).
    pub dev: DevRecord,
}

/// What dev methods (anvil's and Hardhat's cheat codes) did to a block, so that a replaying
/// node reproduces it: the state edits made since the previous block (applied before the
/// transactions), the transactions sent from impersonated accounts (their senders are taken
/// from the record, not recovered), and whether the base fee was set by hand.
#[derive(Debug, Clone, Default, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct DevRecord {
    /// State edits applied before the transactions, in order, with any code they set.
    pub edits: StateChanges,
    /// Indices of transactions sent from impersonated accounts.
    pub impersonated: Vec<u64>,
    /// Whether the base fee was set with `anvil_setNextBlockBaseFeePerGas`.
    pub base_fee_override: bool,
}

impl DevRecord {
    /// Whether no dev method touched the block.
    pub fn is_empty(&self) -> bool {
        self.edits.accounts.is_empty()
            && self.edits.codes.is_empty()
            && self.impersonated.is_empty()
            && !self.base_fee_override
    }
}

/// What a header's `extraData` commits to: nothing for a block without jobs and dev effects;
/// for a sealed block (one with a block attestation), `keccak256(0x01 ‖ rlp(attestation) ‖
/// rlp(dev))`, else `keccak256(rlp(jobs) ‖ rlp(dev))`, `rlp(dev)` only when not empty.
///
/// A sealed block's records are not hashed again: the attestation's leaves commit to every
/// record (job id, kind, model, rule, and the hashes of its output and failure), and import
/// refuses a sealed block unless each record matches its leaf, in order, before anything
/// executes (and refuses records outright on a chain without DNN precompiles). The `0x01`
/// cannot begin the other form, whose first byte is an RLP list prefix (≥ `0xc0`).
pub fn extra_data(jobs: &[JobRecord], attestation: &BlockAttestation, dev: &DevRecord) -> Bytes {
    if jobs.is_empty() && dev.is_empty() {
        return Bytes::new();
    }
    let mut preimage = if *attestation == BlockAttestation::default() {
        let mut out = Vec::new();
        alloy_rlp::encode_list(jobs, &mut out);
        out
    } else {
        let mut sealed = vec![SEALED];
        attestation.encode(&mut sealed);
        sealed
    };
    if !dev.is_empty() {
        dev.encode(&mut preimage);
    }
    Bytes::from(keccak256(preimage).to_vec())
}

/// The first byte of a sealed block's `extraData` preimage.
const SEALED: u8 = 0x01;

/// [`extra_data`] of a block without dev effects.
pub fn jobs_root(jobs: &[JobRecord], attestation: &BlockAttestation) -> Bytes {
    extra_data(jobs, attestation, &DevRecord::default())
}

impl Block {
    /// The block number.
    pub const fn number(&self) -> u64 {
        self.header.number
    }

    /// Size of the RLP-encoded block: header, transactions (typed ones as RLP strings of their
    /// EIP-2718 bytes, as a block body holds them), an empty ommers list and an empty
    /// withdrawals list.
    pub fn size(&self) -> u64 {
        let txs: usize =
            self.transactions.iter().map(|t| alloy_rlp::Encodable::length(&t.tx)).sum();
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
            attestation: self.attestation.clone(),
            dev: self.dev.clone(),
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
            let gas_used = cumulative.checked_sub(previous_cumulative).ok_or_else(|| {
                HostError::Storage(format!(
                    "corrupt block record: a receipt's cumulative gas {cumulative} is below the \
                     one before it, {previous_cumulative}"
                ))
            })?;
            let contract_address = tx.kind().is_create().then(|| sender.create(tx.nonce()));
            transactions.push(MinedTx {
                hash: *tx.tx_hash(),
                effective_gas_price: tx.effective_gas_price(base_fee),
                gas_used,
                contract_address,
                tx,
                sender,
                receipt,
            });
            previous_cumulative = cumulative;
        }
        let hash = record.header.hash_slow();
        Ok(Self {
            header: record.header,
            hash,
            transactions,
            jobs: record.jobs,
            attestation: record.attestation,
            dev: record.dev,
        })
    }
}

#[derive(RlpEncodable, RlpDecodable)]
struct BlockRecord {
    header: Header,
    txs: Vec<Bytes>,
    senders: Vec<Address>,
    receipts: Vec<Bytes>,
    jobs: Vec<JobRecord>,
    attestation: BlockAttestation,
    dev: DevRecord,
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

#[cfg(test)]
mod tests {
    use super::*;
    use anh_primitives::Rule;

    fn record(output: &'static [u8]) -> JobRecord {
        JobRecord {
            job: keccak256(output),
            kind: 1,
            model: B256::repeat_byte(2),
            rule: Rule::EXACT,
            output: Bytes::from_static(output),
            signatures: Vec::new(),
            failure: Bytes::new(),
        }
    }

    /// The two layouts of `extraData`: records with their own signatures hashed whole; a
    /// sealed block's attestation (its leaves standing for the records) behind `0x01`.
    #[test]
    fn extra_data_layouts() {
        let none = DevRecord::default();
        assert!(extra_data(&[], &BlockAttestation::default(), &none).is_empty());
        let jobs = vec![record(b"a"), record(b"b")];
        let mut list = Vec::new();
        alloy_rlp::encode_list(&jobs, &mut list);
        assert_eq!(list, alloy_rlp::encode(jobs.clone()), "a list of records");
        let unsealed = extra_data(&jobs, &BlockAttestation::default(), &none);
        assert_eq!(unsealed.as_ref(), keccak256(&list).as_slice());

        let attestation = BlockAttestation::unsigned(&jobs);
        let sealed = extra_data(&jobs, &attestation, &none);
        // Written out by hand: 0x01, then the RLP list [[leaf0, leaf1], []] (list headers
        // 0xf8 0x45 and 0xf8 0x42 for payloads of 69 and 66 bytes, 0xa0 before each 32-byte
        // leaf, 0xc0 for no signatures).
        let mut preimage = vec![0x01, 0xf8, 0x45, 0xf8, 0x42, 0xa0];
        preimage.extend_from_slice(attestation.leaves[0].as_slice());
        preimage.push(0xa0);
        preimage.extend_from_slice(attestation.leaves[1].as_slice());
        preimage.push(0xc0);
        assert_eq!(sealed.as_ref(), keccak256(&preimage).as_slice());
        let other = BlockAttestation::unsigned(&[record(b"a"), record(b"c")]);
        assert_ne!(extra_data(&jobs, &other, &none), sealed, "another leaf, another extraData");
        let signed = BlockAttestation { signatures: vec![Bytes::from(vec![7; 65])], ..attestation };
        assert_ne!(extra_data(&jobs, &signed, &none), sealed, "the signatures are covered");
    }
}
