//! Mining on the backend: what a block holds, that its state root is the state trie's, and
//! that another backend importing it reproduces it.

use crate::utils::*;
use alloy_eips::BlockId;
use alloy_primitives::{Address, U256};
use anh_evm_host::{MineOptions, TxLocation};

/// A block of transfers from several senders holds them all, its gas used is theirs, its
/// state root is the root of the state trie computed from scratch, balances moved by value
/// and fees, and a second backend importing it arrives at the same block and state.
#[test]
fn transfers_block_state_root_is_reproducible() {
    let backend = backend();
    let recipient = Address::repeat_byte(0x77);
    let senders: Vec<Address> = (0..3).map(|i| account(&backend, i)).collect();
    let before: Vec<U256> = senders.iter().map(|s| balance(&backend, s)).collect();
    let mut hashes = Vec::new();
    for (i, value) in [(0, 1_000), (1, 2_000), (2, 3_000), (0, 4_000)] {
        let nonce = backend.pending_nonce(&senders[i]);
        hashes.push(backend.submit(sign(&backend, i, transfer(nonce, recipient, value))).unwrap());
    }
    let block = mine(&backend);
    assert_eq!(block.number(), 1);
    assert_eq!(block.transactions.len(), 4);
    assert_eq!(block.header.gas_used, 4 * 21_000);
    assert_eq!(block.header.base_fee_per_gas, Some(BLOCK_1_BASE_FEE));
    assert!(hashes.iter().all(|h| block.transactions.iter().any(|t| t.hash == *h)));
    assert!(block.transactions.iter().all(|t| t.receipt.status()));
    assert_eq!(pool_hashes(&backend), (vec![], vec![]), "mined transactions leave the pool");
    for hash in &hashes {
        assert!(
            matches!(backend.transaction(hash), Some(TxLocation::Mined(b, _)) if b.number() == 1)
        );
    }

    let root = backend.state_at(BlockId::latest()).unwrap().root();
    assert_eq!(block.header.state_root, root);
    assert_eq!(independent_state_root(&backend), root, "the header's root is the state trie's");

    assert_eq!(balance(&backend, &recipient), U256::from(10_000));
    let price = u128::from(BLOCK_1_BASE_FEE) + TIP;
    for (i, sender) in senders.iter().enumerate() {
        let (count, value) = if i == 0 { (2u64, 5_000u64) } else { (1, 1_000 * (i as u64 + 1)) };
        let fees = U256::from(count * 21_000) * U256::from(price);
        assert_eq!(balance(&backend, sender), before[i] - U256::from(value) - fees, "sender {i}");
        assert_eq!(backend.pending_nonce(sender), count);
    }

    let replica = crate::utils::backend();
    let imported = replica.import_block((*block).clone()).expect("the block replays");
    assert_eq!(imported.hash, block.hash);
    assert_eq!(replica.state_at(BlockId::latest()).unwrap().root(), root);
    assert_eq!(balance(&replica, &recipient), U256::from(10_000));
}

/// Nothing ready, nothing mined unless asked for an empty block; an empty block still
/// changes the state (EIP-2935 records its parent's hash), and its root is still the trie's.
/// A transaction after a nonce gap stays queued through blocks.
#[test]
fn empty_blocks_and_nonce_gaps() {
    let backend = backend();
    let none = backend.mine(MineOptions::default()).unwrap();
    assert!(none.is_none(), "no block without a ready transaction");
    let gapped = backend.submit(sign(&backend, 0, transfer(1, account(&backend, 1), 1))).unwrap();
    assert!(backend.mine(MineOptions::default()).unwrap().is_none(), "a gapped one is not ready");
    let genesis_root = backend.latest().header.state_root;
    let empty = mine(&backend);
    assert!(empty.transactions.is_empty());
    assert_ne!(empty.header.state_root, genesis_root, "EIP-2935 wrote the parent hash");
    assert_eq!(independent_state_root(&backend), empty.header.state_root);
    assert_eq!(pool_hashes(&backend), (vec![], vec![gapped]), "still queued");
    let replica = crate::utils::backend();
    assert_eq!(replica.import_block((*empty).clone()).unwrap().hash, empty.hash);
}

/// An explicit timestamp must be after the parent's; the block takes it.
#[test]
fn explicit_timestamps() {
    let backend = backend();
    let refused =
        backend.mine(MineOptions { allow_empty: true, timestamp: Some(GENESIS_TIMESTAMP) });
    assert_eq!(
        refused.unwrap_err().to_string(),
        format!(
            "invalid request: timestamp {GENESIS_TIMESTAMP} is not after the parent block's \
             {GENESIS_TIMESTAMP}"
        )
    );
    assert_eq!(backend.best_number(), 0);
    let at = GENESIS_TIMESTAMP + 10;
    let block = backend.mine(MineOptions { allow_empty: true, timestamp: Some(at) }).unwrap();
    assert_eq!(block.unwrap().header.timestamp, at);
}

/// The block orders ready transactions by the tip they pay, highest first, each sender's in
/// nonce order.
#[test]
fn higher_tips_first() {
    let backend = backend();
    let to = Address::repeat_byte(0x77);
    let low = backend.submit(sign(&backend, 0, transfer(0, to, 1))).unwrap();
    let high_tip =
        alloy_consensus::TxEip1559 { max_priority_fee_per_gas: TIP * 3, ..transfer(0, to, 1) };
    let high = backend.submit(sign(&backend, 1, high_tip)).unwrap();
    let block = mine(&backend);
    let order: Vec<_> = block.transactions.iter().map(|t| t.hash).collect();
    assert_eq!(order, vec![high, low]);
}
