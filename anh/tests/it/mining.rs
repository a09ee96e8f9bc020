//! Mining modes: automine, manual (`--no-mining` + `evm_mine`), interval, and the pool's
//! pending and queued transactions.

use crate::utils::*;
use alloy::{
    network::TransactionBuilder, primitives::U256, providers::Provider,
    rpc::types::TransactionRequest,
};
use anh::NodeConfig;
use anh_evm_host::MiningMode;
use serde_json::json;
use std::time::Duration;

fn transfer(nonce: u64) -> TransactionRequest {
    TransactionRequest::default()
        .with_to(ADDR1)
        .with_value(U256::from(1))
        .with_nonce(nonce)
        .with_gas_limit(21_000)
        .with_max_fee_per_gas(10_000_000_000)
        .with_max_priority_fee_per_gas(1_000_000_000)
}

/// With mining off, a transaction waits in the pool (receipt null) until `evm_mine`.
#[tokio::test(flavor = "multi_thread")]
async fn manual_mining() {
    let node = node_with(NodeConfig { mining: MiningMode::Manual, ..NodeConfig::test() }).await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    let hash = *provider.send_transaction(transfer(0)).await.unwrap().tx_hash();
    assert!(provider.get_transaction_receipt(hash).await.unwrap().is_none());
    let pending = provider.get_transaction_by_hash(hash).await.unwrap().unwrap();
    assert_eq!(pending.block_number, None);
    assert_eq!(provider.get_block_number().await.unwrap(), 0);

    assert_eq!(rpc(&url, "evm_mine", json!([])).await["result"], "0x0");
    let receipt = provider.get_transaction_receipt(hash).await.unwrap().unwrap();
    assert_eq!(receipt.block_number, Some(1));
    // An empty block on request.
    rpc(&url, "evm_mine", json!([])).await;
    assert_eq!(provider.get_block_number().await.unwrap(), 2);
}

/// A nonce gap queues later transactions; filling it makes them all pending and mined.
#[tokio::test(flavor = "multi_thread")]
async fn queued_until_gap_filled() {
    let node = node_with(NodeConfig { mining: MiningMode::Manual, ..NodeConfig::test() }).await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    let _ = provider.send_transaction(transfer(1)).await.unwrap();
    let _ = provider.send_transaction(transfer(2)).await.unwrap();
    assert_eq!(provider.get_transaction_count(ADDR0).pending().await.unwrap(), 0, "gap at nonce 0");
    rpc(&url, "evm_mine", json!([])).await;
    let block = provider.get_block_by_number(1u64.into()).await.unwrap().unwrap();
    assert_eq!(block.transactions.len(), 0, "queued transactions are not mined");

    let _ = provider.send_transaction(transfer(0)).await.unwrap();
    assert_eq!(provider.get_transaction_count(ADDR0).pending().await.unwrap(), 3);
    rpc(&url, "evm_mine", json!([])).await;
    let block = provider.get_block_by_number(2u64.into()).await.unwrap().unwrap();
    assert_eq!(block.transactions.len(), 3);
    assert_eq!(provider.get_transaction_count(ADDR0).await.unwrap(), 3);
}

/// Interval mining produces blocks on its own, empty or not; `evm_setAutomine` switches
/// back to a block per transaction.
#[tokio::test(flavor = "multi_thread")]
async fn interval_then_automine() {
    let config = NodeConfig {
        mining: MiningMode::Interval(Duration::from_millis(200)),
        ..NodeConfig::test()
    };
    let node = node_with(config).await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let produced = provider.get_block_number().await.unwrap();
    assert!(produced >= 3, "interval mining produced {produced} blocks");

    assert_eq!(rpc(&url, "evm_setAutomine", json!([true])).await["result"], true);
    assert_eq!(rpc(&url, "anvil_getAutomine", json!([])).await["result"], true);
    let receipt = send(&provider, transfer(0)).await;
    assert!(receipt.status());
}

/// Concurrent senders under automine all get their transactions mined, in order per sender.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_senders_automine() {
    let node = node().await;
    let keys = [KEY0, KEY1];
    let mut tasks = Vec::new();
    for key in keys {
        let provider = provider(&node, key);
        tasks.push(tokio::spawn(async move {
            let mut hashes = Vec::new();
            for nonce in 0..10u64 {
                let tx = transfer(nonce).with_to(ADDR1);
                hashes.push(*provider.send_transaction(tx).await.unwrap().tx_hash());
            }
            for hash in hashes {
                loop {
                    if let Some(r) = provider.get_transaction_receipt(hash).await.unwrap() {
                        assert!(r.status());
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let provider = provider(&node, KEY0);
    assert_eq!(provider.get_transaction_count(ADDR0).await.unwrap(), 10);
}

/// A transaction being mined is always found, pending or mined, never missing in between
/// (`eth_getTransactionByHash` and full `newPendingTransactions` notifications look it up
/// while the miner moves it from the pool into a block), and its sender's pending nonce
/// never steps back to it.
#[tokio::test(flavor = "multi_thread")]
async fn transactions_never_vanish_while_mined() {
    use anh_evm_host::{MineOptions, TxLocation};
    let node = node_with(NodeConfig { mining: MiningMode::Manual, ..NodeConfig::test() }).await;
    let provider = provider(&node, KEY0);
    let backend = node.api().backend().clone();
    for nonce in 0..300 {
        let hash = *provider.send_transaction(transfer(nonce)).await.unwrap().tx_hash();
        let miner = backend.clone();
        let mining = std::thread::spawn(move || miner.mine(MineOptions::default()));
        let mut looks = 0u64;
        loop {
            looks += 1;
            let next = backend.pending_nonce(&ADDR0);
            assert_eq!(next, nonce + 1, "pending nonce after {looks} looks while mined");
            match backend.transaction(&hash) {
                Some(TxLocation::Mined(..)) => break,
                Some(TxLocation::Pending(_)) => {}
                None => panic!("transaction {nonce} missing after {looks} looks while mined"),
            }
        }
        let block = mining.join().expect("mined").expect("a block");
        assert_eq!(block.expect("a block").transactions.len(), 1);
    }
}
