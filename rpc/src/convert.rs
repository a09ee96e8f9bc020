//! Chain types to JSON-RPC wire types (alloy's `rpc-types-eth`).

use alloy_consensus::{ReceiptEnvelope, Transaction as _, transaction::Recovered};
use alloy_primitives::U256;
use alloy_rpc_types_eth::{
    Block as RpcBlock, BlockTransactions, Header as RpcHeader, Log as RpcLog,
    Transaction as RpcTransaction, TransactionReceipt, Withdrawals,
};
use anh_evm_host::{Block, MinedTx, txpool::PoolTx};

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

/// The receipt of transaction `index` of `block`, with block-wide log indices.
pub(crate) fn receipt(block: &Block, index: usize) -> TransactionReceipt {
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
        blob_gas_price: None,
        from: tx.sender,
        to: tx.tx.to(),
        contract_address: tx.contract_address,
    }
}
