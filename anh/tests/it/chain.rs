//! Deploy, transact, read receipts and logs, roots, snapshots — through an alloy provider.

use crate::utils::*;
use alloy::{
    consensus::{Transaction as _, TxType},
    eips::{
        BlockNumberOrTag,
        eip2930::{AccessList, AccessListItem},
    },
    network::{ReceiptResponse, TransactionBuilder},
    primitives::{B256, U256, keccak256},
    providers::{Provider, ProviderBuilder, WsConnect},
    rpc::types::{Filter, TransactionRequest},
    sol_types::{SolCall, SolError, SolEvent, SolValue},
};
use serde_json::json;

fn deploy_tx(initial: u64) -> TransactionRequest {
    let mut code = bytecode("Counter").to_vec();
    code.extend_from_slice(&U256::from(initial).abi_encode());
    TransactionRequest::default().with_deploy_code(code)
}

/// A contract deploys, its constructor event is logged, and calls and sends reach it.
#[tokio::test(flavor = "multi_thread")]
async fn deploy_send_call_and_logs() {
    let node = node().await;
    let provider = provider(&node, KEY0);
    let receipt = send(&provider, deploy_tx(7)).await;
    assert!(receipt.status());
    let address = receipt.contract_address().expect("creation receipt has the address");
    assert_eq!(address, ADDR0.create(0));
    assert!(!provider.get_code_at(address).await.unwrap().is_empty());
    let deployed = receipt.inner.logs()[0].log_decode::<Counter::Deployed>().unwrap();
    assert_eq!(deployed.inner.initialCount, U256::from(7));

    let counter = Counter::new(address, &provider);
    let receipt = mined(counter.increment("hello".into())).await;
    assert!(receipt.status());
    assert_eq!(counter.get().call().await.unwrap(), U256::from(8));

    let log = receipt.inner.logs()[0].log_decode::<Counter::Incremented>().unwrap();
    assert_eq!(log.inner.by, ADDR0);
    assert_eq!(log.inner.newCount, U256::from(8));
    assert_eq!(log.inner.note, "hello");
    assert_eq!(log.block_number, receipt.block_number);
    assert_eq!(log.transaction_hash, Some(receipt.transaction_hash));

    // The same log through eth_getLogs, filtered by address and by an indexed topic.
    let filter = Filter::new()
        .address(address)
        .event_signature(Counter::Incremented::SIGNATURE_HASH)
        .topic2(B256::from(U256::from(8)))
        .from_block(0u64);
    let logs = provider.get_logs(&filter).await.unwrap();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].transaction_hash, Some(receipt.transaction_hash));
    let none = provider.get_logs(&filter.clone().topic2(B256::from(U256::from(9)))).await.unwrap();
    assert!(none.is_empty());
}

/// Legacy, EIP-2930 and EIP-1559 transactions are all mined with the right type and fees.
#[tokio::test(flavor = "multi_thread")]
async fn three_transaction_types() {
    let node = node().await;
    let provider = provider(&node, KEY0);
    let base = TransactionRequest::default()
        .with_to(ADDR1)
        .with_value(U256::from(1000))
        .with_gas_limit(30_000);

    let legacy = base.clone().with_gas_price(3_000_000_000);
    let access =
        AccessList(vec![AccessListItem { address: ADDR1, storage_keys: vec![B256::ZERO] }]);
    let eip2930 = base.clone().with_gas_price(3_000_000_000).with_access_list(access);
    let eip1559 =
        base.with_max_fee_per_gas(5_000_000_000).with_max_priority_fee_per_gas(2_000_000_000);

    let mut types = Vec::new();
    for request in [legacy, eip2930, eip1559] {
        let receipt = send(&provider, request).await;
        assert!(receipt.status());
        let tx = provider.get_transaction_by_hash(receipt.transaction_hash).await.unwrap().unwrap();
        let block = provider
            .get_block_by_number(receipt.block_number.unwrap().into())
            .await
            .unwrap()
            .unwrap();
        let base_fee = block.header.base_fee_per_gas.unwrap() as u128;
        let expected_price = match tx.inner.tx_type() {
            TxType::Eip1559 => (base_fee + 2_000_000_000).min(5_000_000_000),
            _ => 3_000_000_000,
        };
        assert_eq!(receipt.effective_gas_price, expected_price);
        types.push(tx.inner.tx_type());
    }
    assert_eq!(types, vec![TxType::Legacy, TxType::Eip2930, TxType::Eip1559]);
    assert_eq!(
        provider.get_balance(ADDR1).await.unwrap(),
        U256::from(10_000u64) * U256::from(10u64).pow(U256::from(18)) + U256::from(3000)
    );
}

/// Headers hash to the block hash, link to their parents, and roots follow the content.
#[tokio::test(flavor = "multi_thread")]
async fn real_headers_and_roots() {
    let node = node().await;
    let provider = provider(&node, KEY0);
    let genesis = provider.get_block_by_number(BlockNumberOrTag::Number(0)).await.unwrap().unwrap();
    let tx = TransactionRequest::default().with_to(ADDR1).with_value(U256::from(1));
    let receipt = send(&provider, tx).await;
    let block = provider.get_block_by_number(BlockNumberOrTag::Number(1)).await.unwrap().unwrap();

    assert_eq!(block.header.hash, block.header.inner.hash_slow(), "hash is keccak(rlp(header))");
    assert_eq!(block.header.parent_hash, genesis.header.hash);
    assert_ne!(block.header.state_root, genesis.header.state_root);
    assert_eq!(block.header.gas_used, 21_000);
    assert_eq!(
        block.header.base_fee_per_gas,
        Some(1_000_000_000),
        "block 1 keeps genesis' 1 gwei, as on anvil"
    );
    assert!(block.header.timestamp > genesis.header.timestamp);
    assert_eq!(block.transactions.hashes().next(), Some(receipt.transaction_hash));
    // The transactions and receipts roots are those of the one transaction and its receipt.
    let full =
        provider.get_block_by_number(BlockNumberOrTag::Number(1)).full().await.unwrap().unwrap();
    let txs: Vec<_> = full.transactions.txns().map(|t| t.inner.inner().clone()).collect();
    assert_eq!(
        block.header.transactions_root,
        alloy::consensus::proofs::calculate_transaction_root(&txs)
    );
    let receipts = provider.get_block_receipts(1u64.into()).await.unwrap().unwrap();
    let consensus: Vec<_> =
        receipts.iter().map(|r| r.inner.clone().map_logs(|l| l.inner)).collect();
    assert_eq!(
        block.header.receipts_root,
        alloy::consensus::proofs::calculate_receipt_root(&consensus)
    );
    // EIP-2935: block 1 stored its parent's hash in the history contract.
    let stored = provider
        .get_storage_at(alloy::eips::eip2935::HISTORY_STORAGE_ADDRESS, U256::ZERO)
        .await
        .unwrap();
    assert_eq!(B256::from(stored), genesis.header.hash);
}

/// Reverts in calls are code 3 with geth's message and the revert data; mined reverts are
/// receipts with status 0 whose storage writes were rolled back.
#[tokio::test(flavor = "multi_thread")]
async fn reverts_and_panics() {
    let node = node().await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    let address = send(&provider, deploy_tx(1)).await.contract_address.unwrap();
    let call = |data: Vec<u8>| json!([{ "from": ADDR0, "to": address, "data": alloy::primitives::hex::encode_prefixed(data) }]);

    let reply =
        rpc(&url, "eth_call", call(Counter::failCall { reason: "boom".into() }.abi_encode())).await;
    let (code, message) = error_of(&reply);
    assert_eq!((code, message.as_str()), (3, "execution reverted: boom"));
    let data: alloy::primitives::Bytes = reply["error"]["data"].as_str().unwrap().parse().unwrap();
    assert_eq!(&data[..4], &[0x08, 0xc3, 0x79, 0xa0]);

    let reply = rpc(&url, "eth_call", call(Counter::panicCall {}.abi_encode())).await;
    assert_eq!(
        error_of(&reply),
        (3, "execution reverted: panic: division or modulo by zero (0x12)".into())
    );

    let reply =
        rpc(&url, "eth_call", call(Counter::failCustomCall { code: U256::from(42) }.abi_encode()))
            .await;
    let selector = alloy::primitives::hex::encode_prefixed(Counter::CustomFailure::SELECTOR);
    assert_eq!(error_of(&reply), (3, format!("execution reverted: custom error {selector}")));
    let data: alloy::primitives::Bytes = reply["error"]["data"].as_str().unwrap().parse().unwrap();
    let decoded = Counter::CustomFailure::abi_decode(&data).unwrap();
    assert_eq!((decoded.code, decoded.sender), (U256::from(42), ADDR0));

    let reply = rpc(
        &url,
        "eth_estimateGas",
        call(Counter::failCall { reason: "nope".into() }.abi_encode()),
    )
    .await;
    assert_eq!(error_of(&reply), (3, "execution reverted: nope".into()));

    // Mined with an explicit gas limit, the revert is a failed receipt and count is unchanged.
    let counter = Counter::new(address, &provider);
    let receipt = mined(counter.fail("mined".into()).gas(100_000)).await;
    assert!(!receipt.status());
    assert_eq!(counter.get().call().await.unwrap(), U256::from(1));
}

/// A snapshot is reverted once: blocks, balances and receipts go back; later snapshots go
/// with it; an unknown id answers false.
#[tokio::test(flavor = "multi_thread")]
async fn snapshot_and_revert() {
    let node = node().await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    let first = rpc(&url, "evm_snapshot", json!([])).await;
    assert_eq!(first["result"], "0x0");
    let balance = provider.get_balance(ADDR1).await.unwrap();
    let receipt =
        send(&provider, TransactionRequest::default().with_to(ADDR1).with_value(U256::from(5)))
            .await;
    let second = rpc(&url, "evm_snapshot", json!([])).await;
    assert_eq!(second["result"], "0x1");
    assert_eq!(provider.get_block_number().await.unwrap(), 1);

    assert_eq!(rpc(&url, "evm_revert", json!(["0x0"])).await["result"], true);
    assert_eq!(provider.get_block_number().await.unwrap(), 0);
    assert_eq!(provider.get_balance(ADDR1).await.unwrap(), balance);
    assert!(provider.get_transaction_receipt(receipt.transaction_hash).await.unwrap().is_none());
    assert_eq!(rpc(&url, "evm_revert", json!(["0x0"])).await["result"], false, "consumed");
    assert_eq!(
        rpc(&url, "evm_revert", json!(["0x1"])).await["result"],
        false,
        "later snapshots go too"
    );

    // The chain goes on from the snapshot, with the same nonce reused. A fresh provider:
    // alloy's default one caches nonces and has already seen a block 1.
    let provider = crate::utils::provider(&node, KEY0);
    let pending = provider
        .send_transaction(TransactionRequest::default().with_to(ADDR1).with_value(U256::from(6)))
        .await
        .unwrap();
    let receipt = wait_receipt(&provider, *pending.tx_hash()).await;
    assert_eq!(receipt.block_number, Some(1));
    let tx = provider.get_transaction_by_hash(receipt.transaction_hash).await.unwrap().unwrap();
    assert_eq!(tx.inner.nonce(), 0);
}

/// The EIP-7825 per-transaction gas cap (2^24) is lifted, as on anvil.
#[tokio::test(flavor = "multi_thread")]
async fn transaction_above_eip7825_cap() {
    let node = node().await;
    let provider = provider(&node, KEY0);
    let storage = Storage::new(deploy(&provider, "Storage").await, &provider);
    let receipt = mined(storage.burn(U256::from(900)).gas(25_000_000)).await;
    assert!(receipt.status());
    assert!(receipt.gas_used > 1 << 24, "used {}", receipt.gas_used);
}

/// Contracts see the block: number, timestamp, base fee, chain id, parent hash.
#[tokio::test(flavor = "multi_thread")]
async fn block_environment() {
    let node = node().await;
    let provider = provider(&node, KEY0);
    let storage = Storage::new(deploy(&provider, "Storage").await, &provider);
    let info = storage.blockInfo().call().await.unwrap();
    let latest = provider.get_block_by_number(BlockNumberOrTag::Latest).await.unwrap().unwrap();
    assert_eq!(info.number, U256::from(latest.header.number));
    assert_eq!(info.timestamp, U256::from(latest.header.timestamp));
    assert_eq!(info.chainid, U256::from(31337));
    assert_eq!(info.parentHash, latest.header.parent_hash);
}

/// The WebSocket endpoint on the same port answers the same methods.
#[tokio::test(flavor = "multi_thread")]
async fn websocket_endpoint() {
    let node = node().await;
    let ws = ProviderBuilder::new().connect_ws(WsConnect::new(node.ws_endpoint())).await.unwrap();
    assert_eq!(ws.get_chain_id().await.unwrap(), 31337);
    assert_eq!(ws.get_block_number().await.unwrap(), 0);
    let _ = keccak256([]);
}
