//! Chain types to JSON-RPC wire types (alloy's `rpc-types-eth`).

use alloy_consensus::{ReceiptEnvelope, Transaction as _, TxEnvelope, transaction::Recovered};
use alloy_primitives::{Address, B256, Bytes, KECCAK256_EMPTY, U256, keccak256};
use alloy_rpc_types_eth::{
    Block as RpcBlock, BlockTransactions, EIP1186AccountProofResponse, EIP1186StorageProof,
    Header as RpcHeader, Log as RpcLog, Transaction as RpcTransaction, TransactionReceipt,
    Withdrawals,
};
use alloy_trie::EMPTY_ROOT_HASH;
use anh_evm_host::{Block, MinedTx, state::WorldState, txpool::PoolTx};
use serde_json::Value;
use std::{collections::BTreeMap, sync::Arc};

/// A block as `eth_getBlockBy*` returns it, with full transactions or their hashes.
pub(crate) fn block(block: &Block, full: bool) -> RpcBlock {
    let transactions = if full {
        BlockTransactions::Full(
            block
                .transactions
                .iter()
                .enumerate()
                .map(|(i, tx)| mined_transaction(block, i, tx))
                .collect(),
        )
    } else {
        BlockTransactions::Hashes(block.transactions.iter().map(|t| t.hash).collect())
    };
    RpcBlock {
        header: RpcHeader {
            hash: block.hash,
            inner: block.header.clone(),
            total_difficulty: Some(U256::ZERO),
            size: Some(U256::from(block.size())),
        },
        uncles: Vec::new(),
        transactions,
        withdrawals: Some(Withdrawals::default()),
    }
}

/// A mined transaction.
pub(crate) fn mined_transaction(block: &Block, index: usize, tx: &MinedTx) -> RpcTransaction {
    RpcTransaction {
        inner: Recovered::new_unchecked(tx.tx.clone(), tx.sender),
        block_hash: Some(block.hash),
        block_number: Some(block.number()),
        transaction_index: Some(index as u64),
        effective_gas_price: Some(tx.effective_gas_price),
        block_timestamp: Some(block.header.timestamp),
    }
}

/// A transaction still in the pool.
pub(crate) fn pending_transaction(tx: &PoolTx) -> RpcTransaction {
    RpcTransaction {
        inner: Recovered::new_unchecked(tx.tx.clone(), tx.sender),
        block_hash: None,
        block_number: None,
        transaction_index: None,
        effective_gas_price: None,
        block_timestamp: None,
    }
}

/// The receipt of transaction `index` of `block`, with block-wide log indices, as anvil writes
/// it: alloy's receipt fields plus `blockTimestamp` (which alloy's type lacks), and a blob gas
/// price of 1 wei (no blobs are ever included, so the blob base fee stays at its minimum).
pub(crate) fn receipt(block: &Block, index: usize) -> Value {
    let mut value =
        serde_json::to_value(receipt_fields(block, index)).expect("a receipt serialises to JSON");
    if let Value::Object(fields) = &mut value {
        fields.insert(
            "blockTimestamp".to_string(),
            Value::String(format!("{:#x}", block.header.timestamp)),
        );
    }
    value
}

/// alloy's receipt of transaction `index` of `block`.
fn receipt_fields(block: &Block, index: usize) -> TransactionReceipt {
    let tx = &block.transactions[index];
    let first_log: usize = block.transactions[..index].iter().map(|t| t.receipt.logs().len()).sum();
    let mut log_index = first_log as u64;
    let inner: ReceiptEnvelope<RpcLog> = tx.receipt.clone().map_logs(|log| {
        let log = RpcLog {
            inner: log,
            block_hash: Some(block.hash),
            block_number: Some(block.number()),
            block_timestamp: Some(block.header.timestamp),
            transaction_hash: Some(tx.hash),
            transaction_index: Some(index as u64),
            log_index: Some(log_index),
            removed: false,
        };
        log_index += 1;
        log
    });
    TransactionReceipt {
        inner,
        transaction_hash: tx.hash,
        transaction_index: Some(index as u64),
        block_hash: Some(block.hash),
        block_number: Some(block.number()),
        gas_used: tx.gas_used,
        effective_gas_price: tx.effective_gas_price,
        blob_gas_used: None,
        blob_gas_price: Some(1),
        from: tx.sender,
        to: tx.tx.to(),
        contract_address: tx.contract_address,
    }
}

/// A filled, unsigned transaction (`eth_fillTransaction`), with a zero signature.
pub(crate) fn unsigned_transaction(tx: TxEnvelope, from: Address) -> RpcTransaction {
    RpcTransaction {
        inner: Recovered::new_unchecked(tx, from),
        block_hash: None,
        block_number: None,
        transaction_index: None,
        effective_gas_price: None,
        block_timestamp: None,
    }
}

/// Pool transactions by sender and nonce, as `txpool_content` and `txpool_inspect` answer
/// (senders checksummed, nonces as decimal strings, as geth writes them).
pub(crate) fn pool_by_sender(
    txs: &[Arc<PoolTx>],
    f: impl Fn(&PoolTx) -> Value,
) -> BTreeMap<String, BTreeMap<String, Value>> {
    let mut out: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    for tx in txs {
        // Checksummed, as geth writes them.
        let sender = tx.sender.to_checksum(None);
        out.entry(sender).or_default().insert(tx.nonce().to_string(), f(tx));
    }
    out
}

/// geth's one-line summary of a pool transaction (`txpool_inspect`).
pub(crate) fn inspect(tx: &PoolTx) -> Value {
    let to = match tx.tx.to() {
        Some(to) => to.to_string(),
        None => "contract creation".to_string(),
    };
    let price = tx.tx.gas_price().unwrap_or_else(|| tx.tx.max_fee_per_gas());
    Value::String(format!("{to}: {} wei + {} gas × {price} wei", tx.tx.value(), tx.tx.gas_limit()))
}

/// An EIP-1186 proof of `address` and its storage `slots` in `state`.
pub(crate) fn proof(
    state: &WorldState,
    address: Address,
    slots: &[U256],
) -> EIP1186AccountProofResponse {
    let account = state.account(&address);
    let account_proof =
        state.accounts().proof(&keccak256(address)).into_iter().map(Bytes::from).collect();
    let storage_proof = slots
        .iter()
        .map(|slot| {
            let key = B256::from(*slot);
            let (value, proof) = match account {
                Some(account) => (
                    account.storage_value(*slot),
                    account.storage.proof(&keccak256(key)).into_iter().map(Bytes::from).collect(),
                ),
                None => (U256::ZERO, Vec::new()),
            };
            EIP1186StorageProof { key: key.into(), value, proof }
        })
        .collect();
    EIP1186AccountProofResponse {
        address,
        balance: account.map(|a| a.balance).unwrap_or_default(),
        code_hash: account.map_or(KECCAK256_EMPTY, |a| a.code_hash),
        nonce: account.map_or(0, |a| a.nonce),
        storage_hash: account.map_or(EMPTY_ROOT_HASH, |a| a.storage_root()),
        account_proof,
        storage_proof,
    }
}
