//! Dev methods (anvil's and Hardhat's names): state edits, impersonation, time, mining,
//! base fee and coinbase, reset, state dumps — and that blocks carrying their effects replay
//! on a follower and after a restart to the same state roots.

use crate::utils::*;
use alloy::{
    network::TransactionBuilder,
    primitives::{Address, B256, Bytes, U256, address, keccak256},
    providers::Provider,
    rpc::types::TransactionRequest,
};
use anh::NodeConfig;
use anh_evm_host::MiningMode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const WHALE: Address = address!("0x00000000000000000000000000000000000b1a1e");

async fn result(url: &str, method: &str, params: Value) -> Value {
    let reply = rpc(url, method, params).await;
    assert!(reply.get("error").is_none(), "{method}: {reply}");
    reply["result"].clone()
}

async fn latest(url: &str) -> Value {
    result(url, "eth_getBlockByNumber", json!(["latest", false])).await
}

fn quantity(value: &Value) -> u64 {
    u64::from_str_radix(value.as_str().expect("a quantity").trim_start_matches("0x"), 16).unwrap()
}

async fn follower_at(url: &str, height: u64) -> anh::NodeHandle {
    let follower = node_with(follower_config(url).await).await;
    synced(&follower.http_endpoint(), height).await;
    follower
}

/// State edits show at `latest` at once, travel in the next block (its extraData commits to
/// them), and a follower replays them — with transactions from an impersonated account — to
/// the same state roots.
#[tokio::test(flavor = "multi_thread")]
async fn state_edits_and_impersonation_replay_on_a_follower() {
    let node = node().await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    let storage = deploy(&provider, "Storage").await;

    // Edits: balance, nonce, code, storage.
    let ether = U256::from(10).pow(U256::from(18));
    assert_eq!(
        result(&url, "anvil_setBalance", json!([WHALE, ether * U256::from(5)])).await,
        Value::Null
    );
    assert_eq!(result(&url, "hardhat_setNonce", json!([WHALE, "0x7"])).await, Value::Null);
    let code = provider.get_code_at(storage).await.unwrap();
    let clone = address!("0x000000000000000000000000000000000000c10e");
    result(&url, "anvil_setCode", json!([clone, code])).await;
    // `values[1]` of Storage's `mapping(uint256 => uint256) values` at slot 0.
    let slot = keccak256([U256::from(1).to_be_bytes::<32>(), [0u8; 32]].concat());
    let five = B256::with_last_byte(5);
    assert_eq!(result(&url, "anvil_setStorageAt", json!([clone, slot, five])).await, true);
    assert_eq!(provider.get_balance(WHALE).await.unwrap(), ether * U256::from(5));
    assert_eq!(provider.get_transaction_count(WHALE).await.unwrap(), 7);
    assert_eq!(provider.get_code_at(clone).await.unwrap(), code);
    let cloned = Storage::new(clone, &provider);
    assert_eq!(cloned.get(U256::from(1)).call().await.unwrap(), U256::from(5));
    let before = latest(&url).await;

    // Impersonation: the whale sends without a key; unknown accounts still cannot.
    let send = json!([{ "from": WHALE, "to": ADDR1, "value": "0x1000" }]);
    let (code_, message) = rpc_error(&url, "eth_sendTransaction", send.clone()).await;
    assert_eq!(code_, -32000);
    assert!(message.contains("unknown account"), "{message}");
    result(&url, "anvil_impersonateAccount", json!([WHALE])).await;
    let hash: B256 =
        serde_json::from_value(result(&url, "eth_sendTransaction", send.clone()).await).unwrap();
    let receipt = wait_receipt(&provider, hash).await;
    assert!(receipt.status());
    assert_eq!(receipt.from, WHALE);
    let tx = provider.get_transaction_by_hash(hash).await.unwrap().unwrap();
    assert_eq!(tx.inner.signer(), WHALE);
    assert_eq!(provider.get_transaction_count(WHALE).await.unwrap(), 8);
    // Impersonating a contract lets it send too (EIP-3607 is off, as on anvil).
    result(&url, "anvil_impersonateAccount", json!([clone])).await;
    result(&url, "anvil_setBalance", json!([clone, ether])).await;
    let contract = Storage::new(storage, &provider);
    let request =
        contract.set(U256::from(3), U256::from(33)).into_transaction_request().from(clone);
    let hash: B256 =
        serde_json::from_value(result(&url, "eth_sendTransaction", json!([request])).await)
            .unwrap();
    assert!(wait_receipt(&provider, hash).await.status());
    result(&url, "anvil_stopImpersonatingAccount", json!([WHALE])).await;
    let (_, message) = rpc_error(&url, "eth_sendTransaction", send).await;
    assert!(message.contains("unknown account"), "{message}");

    // The block after the edits records them: its extraData is not empty.
    let edited = result(
        &url,
        "eth_getBlockByNumber",
        json!([format!("{:#x}", quantity(&before["number"]) + 1), false]),
    )
    .await;
    assert_ne!(edited["extraData"], "0x", "{edited}");

    // A follower replays everything to the same blocks.
    let head = latest(&url).await;
    let height = quantity(&head["number"]);
    let follower = follower_at(&url, height).await;
    let furl = follower.http_endpoint();
    let theirs = result(&furl, "eth_getBlockByNumber", json!([head["number"], false])).await;
    assert_eq!(theirs["hash"], head["hash"]);
    assert_eq!(theirs["stateRoot"], head["stateRoot"]);
    let fprovider = provider_at(&furl, KEY0);
    assert_eq!(fprovider.get_code_at(clone).await.unwrap(), code);
    assert_eq!(
        Storage::new(storage, &fprovider).get(U256::from(3)).call().await.unwrap(),
        U256::from(33)
    );
    // Followers refuse dev methods that change the chain, and answer read-only ones.
    let (_, message) = rpc_error(&furl, "anvil_setBalance", json!([WHALE, "0x1"])).await;
    assert!(message.contains("changes nothing itself"), "{message}");
    let info = result(&furl, "anvil_nodeInfo", json!([])).await;
    assert_eq!(info["currentBlockNumber"], height);
}

/// Time: `evm_increaseTime` moves the clock, `evm_setNextBlockTimestamp` fixes the next
/// block's timestamp (and time goes on from there), `anvil_mine` spaces blocks by an
/// interval; timestamps that do not move forward are refused.
#[tokio::test(flavor = "multi_thread")]
async fn time_travel_and_mining() {
    let node = node().await;
    let url = node.http_endpoint();
    let start = quantity(&latest(&url).await["timestamp"]);

    let offset = result(&url, "evm_increaseTime", json!([3600])).await;
    assert!(offset.as_i64().unwrap() >= 3600, "{offset}");
    result(&url, "evm_mine", json!([])).await;
    let t1 = quantity(&latest(&url).await["timestamp"]);
    assert!(t1 >= start + 3600, "{t1} vs {start}");

    let target = t1 + 86_400;
    assert_eq!(
        result(&url, "evm_setNextBlockTimestamp", json!([format!("{target:#x}")])).await,
        Value::Null
    );
    result(&url, "hardhat_mine", json!([])).await;
    assert_eq!(quantity(&latest(&url).await["timestamp"]), target);
    // Later blocks go on from the new time, not from the wall clock.
    result(&url, "evm_mine", json!([])).await;
    let after = quantity(&latest(&url).await["timestamp"]);
    assert!((target + 1..target + 60).contains(&after), "{after} vs {target}");

    let number = quantity(&latest(&url).await["number"]);
    assert_eq!(result(&url, "anvil_mine", json!(["0x5", "0x64"])).await, Value::Null);
    let head = latest(&url).await;
    assert_eq!(quantity(&head["number"]), number + 5);
    // The first of the five takes the clock's time; the others follow 100 s apart.
    let first =
        result(&url, "eth_getBlockByNumber", json!([format!("{:#x}", number + 1), false])).await;
    assert_eq!(quantity(&head["timestamp"]), quantity(&first["timestamp"]) + 4 * 100);
    result(&url, "evm_mine", json!([{ "blocks": 2 }])).await;
    assert_eq!(quantity(&latest(&url).await["number"]), number + 7);

    // Errors: a timestamp in the past, too many blocks, a block count that is not a number.
    let (code, message) = rpc_error(&url, "evm_setNextBlockTimestamp", json!([start])).await;
    assert_eq!(code, -32602);
    assert!(message.contains("lower than or equal to previous block's timestamp"), "{message}");
    let (code, message) = rpc_error(&url, "anvil_mine", json!([1_000_000_000u64])).await;
    assert_eq!(code, -32602);
    assert!(message.contains("the limit is 100000"), "{message}");
    let (code, _) = rpc_error(&url, "anvil_mine", json!(["many"])).await;
    assert_eq!(code, -32602);
    assert_eq!(quantity(&latest(&url).await["number"]), number + 7, "nothing was mined");
}

/// `anvil_setNextBlockBaseFeePerGas` sets the next block's base fee (and the pool checks
/// fee caps against it); `anvil_setCoinbase` sets the beneficiary; a follower agrees.
#[tokio::test(flavor = "multi_thread")]
async fn base_fee_and_coinbase() {
    let node = node().await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    let coinbase = address!("0x00000000000000000000000000000000c0ffee00");
    result(&url, "anvil_setCoinbase", json!([coinbase])).await;
    assert_eq!(result(&url, "eth_coinbase", json!([])).await, json!(coinbase));
    result(&url, "anvil_setNextBlockBaseFeePerGas", json!(["0x3b9aca00"])).await;
    let tx = TransactionRequest::default().with_to(ADDR1).with_value(U256::from(1));
    let receipt = send(&provider, tx).await;
    let block =
        provider.get_block_by_number(receipt.block_number.unwrap().into()).await.unwrap().unwrap();
    assert_eq!(block.header.base_fee_per_gas, Some(1_000_000_000));
    assert_eq!(block.header.beneficiary, coinbase);
    assert!(provider.get_balance(coinbase).await.unwrap() > U256::ZERO, "tips go to the coinbase");
    // The override was for one block: the next follows EIP-1559 from it.
    let next: u64 = quantity(&result(&url, "eth_gasPrice", json!([])).await);
    assert!(next < 1_000_000_000 + 1_000_000_000, "{next}");

    let height = block.header.number;
    let follower = follower_at(&url, height).await;
    let theirs = provider_at(&follower.http_endpoint(), KEY0)
        .get_block_by_number(height.into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(theirs.header.hash, block.header.hash);
}

/// `evm_revert` also drops dev edits made after the snapshot; `anvil_reset` goes back to
/// genesis; `anvil_dropTransaction` removes a pool transaction.
#[tokio::test(flavor = "multi_thread")]
async fn snapshots_reset_and_pool_control() {
    let node = node().await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    let id = result(&url, "evm_snapshot", json!([])).await;
    result(&url, "anvil_setBalance", json!([WHALE, "0x1234"])).await;
    assert_eq!(provider.get_balance(WHALE).await.unwrap(), U256::from(0x1234));
    assert_eq!(result(&url, "evm_revert", json!([id])).await, true);
    assert_eq!(provider.get_balance(WHALE).await.unwrap(), U256::ZERO);
    let metadata = result(&url, "anvil_metadata", json!([])).await;
    assert_eq!(metadata["snapshots"], json!({}), "the snapshot was consumed");

    // Pool control with mining off.
    result(&url, "evm_setAutomine", json!([false])).await;
    let tx = TransactionRequest::default().with_to(ADDR1).with_value(U256::from(1));
    let pending = provider.send_transaction(tx).await.unwrap();
    let hash = *pending.tx_hash();
    let status = result(&url, "txpool_status", json!([])).await;
    assert_eq!(status["pending"], "0x1");
    assert_eq!(result(&url, "anvil_dropTransaction", json!([hash])).await, json!(hash));
    assert_eq!(result(&url, "anvil_dropTransaction", json!([hash])).await, Value::Null);
    assert_eq!(result(&url, "txpool_status", json!([])).await["pending"], "0x0");
    result(&url, "evm_setAutomine", json!([true])).await;

    // Reset: back to block 0, original balances, no snapshots. (alloy's providers cache
    // nonces, so each rewind of an account's nonce gets a fresh provider.)
    let provider = provider_at(&url, KEY0);
    deploy(&provider, "Storage").await;
    result(&url, "evm_snapshot", json!([])).await;
    result(&url, "anvil_setBalance", json!([WHALE, "0x99"])).await;
    assert_eq!(result(&url, "anvil_reset", json!([])).await, Value::Null);
    assert_eq!(provider.get_block_number().await.unwrap(), 0);
    assert_eq!(provider.get_balance(WHALE).await.unwrap(), U256::ZERO);
    assert_eq!(provider.get_transaction_count(ADDR0).await.unwrap(), 0);
    assert_eq!(result(&url, "anvil_metadata", json!([])).await["snapshots"], json!({}));
    let (code, message) = error_of(
        &rpc(&url, "hardhat_reset", json!([{ "forking": { "jsonRpcUrl": "http://x" } }])).await,
    );
    assert_eq!(code, -32602);
    assert!(message.contains("forking is not supported"), "{message}");
    // The chain goes on after a reset (alloy's block watcher has seen higher blocks, so the
    // receipt is polled for).
    let provider = provider_at(&url, KEY0);
    let tx = TransactionRequest::default().with_to(ADDR1).with_value(U256::from(1));
    let hash = *provider.send_transaction(tx).await.unwrap().tx_hash();
    assert!(wait_receipt(&provider, hash).await.status());
}

/// `anvil_dumpState` → `anvil_loadState` moves accounts, code and storage to another node;
/// a broken dump is refused with nothing changed.
#[tokio::test(flavor = "multi_thread")]
async fn dump_and_load_state() {
    let source = node().await;
    let url = source.http_endpoint();
    let provider = provider(&source, KEY0);
    let storage = deploy(&provider, "Storage").await;
    store(&provider, storage, 9, 81).await;
    result(&url, "anvil_setBalance", json!([WHALE, "0xabc"])).await;
    let dump = result(&url, "anvil_dumpState", json!([])).await;
    let bytes: Bytes = serde_json::from_value(dump.clone()).unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip, as anvil writes it");

    let target = node().await;
    let turl = target.http_endpoint();
    let tprovider = provider_at(&turl, KEY0);
    let (code, message) = rpc_error(&turl, "anvil_loadState", json!(["0x1f8b0000"])).await;
    assert_eq!(code, -32602);
    assert!(message.contains("not valid gzip"), "{message}");
    let (code, message) = rpc_error(&turl, "anvil_loadState", json!(["0x7b7d"])).await;
    assert_eq!(code, -32602);
    assert!(message.contains("state dump is not valid"), "{message}");
    assert_eq!(tprovider.get_code_at(storage).await.unwrap(), Bytes::new(), "nothing loaded");

    assert_eq!(result(&turl, "anvil_loadState", json!([dump])).await, true);
    assert_eq!(
        tprovider.get_code_at(storage).await.unwrap(),
        provider.get_code_at(storage).await.unwrap()
    );
    assert_eq!(
        Storage::new(storage, &tprovider).get(U256::from(9)).call().await.unwrap(),
        U256::from(81)
    );
    assert_eq!(tprovider.get_balance(WHALE).await.unwrap(), U256::from(0xabc));
    // Plain JSON loads too.
    let plain = json!({ "accounts": { WHALE.to_string(): { "nonce": 3, "balance": "0x5", "code": "0x", "storage": {} } } });
    let hex = format!("0x{}", alloy::primitives::hex::encode(plain.to_string()));
    assert_eq!(result(&turl, "anvil_loadState", json!([hex])).await, true);
    assert_eq!(tprovider.get_transaction_count(WHALE).await.unwrap(), 3);
}

/// Dev edits and impersonated transactions survive a restart from the data directory: the
/// blocks replay to the same state root.
#[tokio::test(flavor = "multi_thread")]
async fn dev_effects_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = || NodeConfig { data_dir: Some(dir.path().to_path_buf()), ..NodeConfig::test() };
    let node = node_with(config()).await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    result(&url, "anvil_setBalance", json!([WHALE, "0xde0b6b3a7640000"])).await;
    result(&url, "anvil_impersonateAccount", json!([WHALE])).await;
    let hash: B256 = serde_json::from_value(
        result(
            &url,
            "eth_sendTransaction",
            json!([{ "from": WHALE, "to": ADDR1, "value": "0x1" }]),
        )
        .await,
    )
    .unwrap();
    wait_receipt(&provider, hash).await;
    let head = latest(&url).await;
    node.shutdown().await;

    let node = node_with(config()).await;
    let url = node.http_endpoint();
    let again = latest(&url).await;
    assert_eq!(again["hash"], head["hash"]);
    assert_eq!(again["stateRoot"], head["stateRoot"]);
    let provider = provider_at(&url, KEY0);
    assert!(provider.get_balance(WHALE).await.unwrap() < U256::from(10).pow(U256::from(18)));
    assert_eq!(provider.get_transaction_count(WHALE).await.unwrap(), 1);
}

/// Seconds a block may land past the time jump asked for, in the checks below: wall time that
/// passes between the calls of a test on a loaded machine.
const SLACK: u64 = 10;

/// `(number, timestamp)` of block `number`.
async fn block_time(url: &str, number: u64) -> Option<(u64, u64)> {
    let block = result(url, "eth_getBlockByNumber", json!([format!("{number:#x}"), false])).await;
    (!block.is_null()).then(|| (number, quantity(&block["timestamp"])))
}

/// `(number, timestamp)` of the latest block.
async fn head(url: &str) -> (u64, u64) {
    let block = latest(url).await;
    (quantity(&block["number"]), quantity(&block["timestamp"]))
}

fn wall_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// Mines `blocks` blocks at once — within the same second, so each is bumped one second past
/// its parent and the chain runs ahead of the clock — and checks that it did.
async fn run_ahead(url: &str, blocks: u64) {
    result(url, "anvil_mine", json!([format!("{blocks:#x}")])).await;
    let (_, timestamp) = head(url).await;
    let wall = wall_now();
    assert!(
        timestamp > wall + 2,
        "the chain did not run ahead of the clock: {timestamp} vs {wall}"
    );
}

/// Asserts that `after` lies `jump` seconds (and at most `SLACK` more) after `before`.
fn assert_jump(before: (u64, u64), after: (u64, u64), jump: u64, what: &str) {
    assert_eq!(after.0, before.0 + 1, "{what}: not the next block");
    let delta = after.1 - before.1;
    assert!(
        (jump..=jump + SLACK).contains(&delta),
        "{what}: block {} moved the chain by {delta} s, not {jump} s",
        after.0
    );
}

/// `evm_increaseTime(n)` and a block move the chain by `n` seconds from the latest block even
/// when blocks mined within one second ran the chain ahead of the clock: with `evm_mine`,
/// with a transaction under automine, and under `--no-mining` with `evm_mine`.
#[tokio::test(flavor = "multi_thread")]
async fn time_jump_after_blocks_in_the_same_second_is_whole() {
    let node = node().await;
    let url = node.http_endpoint();

    run_ahead(&url, 10).await;
    let before = head(&url).await;
    result(&url, "evm_increaseTime", json!([3600])).await;
    result(&url, "evm_mine", json!([])).await;
    assert_jump(before, head(&url).await, 3600, "evm_mine");

    // Automine: the transaction's block takes the jump.
    run_ahead(&url, 10).await;
    let before = head(&url).await;
    result(&url, "evm_increaseTime", json!([3600])).await;
    let provider = provider(&node, KEY0);
    let tx = TransactionRequest::default().with_to(ADDR1).with_value(U256::from(1));
    let receipt = send(&provider, tx).await;
    let mined = block_time(&url, receipt.block_number.unwrap()).await.unwrap();
    assert_jump(before, mined, 3600, "automine");

    // Hardhat's `time.increase(n)`: the next block at the latest one's timestamp plus `n`.
    run_ahead(&url, 10).await;
    let before = head(&url).await;
    result(&url, "evm_setNextBlockTimestamp", json!([before.1 + 3600])).await;
    result(&url, "hardhat_mine", json!([])).await;
    let after = head(&url).await;
    assert_eq!(after, (before.0 + 1, before.1 + 3600));

    // Mining off, `evm_mine` on request.
    let manual = node_with(NodeConfig { mining: MiningMode::Manual, ..NodeConfig::test() }).await;
    let url = manual.http_endpoint();
    run_ahead(&url, 10).await;
    let before = head(&url).await;
    result(&url, "evm_increaseTime", json!([3600])).await;
    result(&url, "evm_mine", json!([])).await;
    assert_jump(before, head(&url).await, 3600, "--no-mining");
}

/// After `evm_snapshot` → a mined transaction → `evm_revert`, `evm_increaseTime(n)` and
/// `evm_mine` still move the chain by `n` seconds from the reverted-to latest block.
#[tokio::test(flavor = "multi_thread")]
async fn time_jump_after_snapshot_and_revert_is_whole() {
    let node = node().await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    deploy(&provider, "Storage").await;
    run_ahead(&url, 10).await;

    let id = result(&url, "evm_snapshot", json!([])).await;
    let snapshot = head(&url).await;
    let tx = TransactionRequest::default().with_to(ADDR1).with_value(U256::from(1));
    send(&provider, tx).await;
    run_ahead(&url, 5).await;
    assert_eq!(result(&url, "evm_revert", json!([id])).await, true);
    assert_eq!(head(&url).await, snapshot);

    result(&url, "evm_increaseTime", json!([3600])).await;
    result(&url, "evm_mine", json!([])).await;
    assert_jump(snapshot, head(&url).await, 3600, "after evm_revert");

    // Twice more, with the time increase made before the snapshot: the revert brings it back.
    let id = result(&url, "evm_snapshot", json!([])).await;
    let snapshot = head(&url).await;
    run_ahead(&url, 10).await;
    assert_eq!(result(&url, "evm_revert", json!([id])).await, true);
    result(&url, "evm_increaseTime", json!([7200])).await;
    let id = result(&url, "evm_snapshot", json!([])).await;
    run_ahead(&url, 10).await;
    assert_eq!(result(&url, "evm_revert", json!([id])).await, true);
    result(&url, "evm_mine", json!([])).await;
    assert_jump(snapshot, head(&url).await, 7200, "increase kept by evm_revert");
}

/// Under interval mining (`--block-time 1`), the first block after `evm_increaseTime(n)` is
/// `n` seconds after its parent, even when the chain had run ahead of the clock.
#[tokio::test(flavor = "multi_thread")]
async fn time_jump_under_interval_mining_is_whole() {
    let config =
        NodeConfig { mining: MiningMode::Interval(Duration::from_secs(1)), ..NodeConfig::test() };
    let node = node_with(config).await;
    let url = node.http_endpoint();
    run_ahead(&url, 10).await;
    let from = head(&url).await.0;
    result(&url, "evm_increaseTime", json!([3600])).await;

    // The interval miner may have produced a block just before the increase: look for the
    // first block that carries it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut parent = block_time(&url, from).await.unwrap();
    loop {
        match block_time(&url, parent.0 + 1).await {
            Some(block) if block.1 - parent.1 >= 1000 => {
                assert_jump(parent, block, 3600, "interval mining");
                break;
            }
            Some(block) => parent = block,
            None => {
                assert!(Instant::now() < deadline, "no block carried the time increase");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// `evm_setNextBlockTimestamp` after blocks ran ahead of the clock: the block takes exactly
/// that timestamp, later blocks go on from it, and a time increase after it is whole.
#[tokio::test(flavor = "multi_thread")]
async fn next_block_timestamp_after_blocks_ran_ahead() {
    let node = node().await;
    let url = node.http_endpoint();
    run_ahead(&url, 10).await;
    let before = head(&url).await;
    // Ahead of the chain, but behind nothing: one second after the latest block.
    result(&url, "evm_setNextBlockTimestamp", json!([before.1 + 1])).await;
    result(&url, "evm_mine", json!([])).await;
    assert_eq!(head(&url).await, (before.0 + 1, before.1 + 1));

    run_ahead(&url, 10).await;
    let before = head(&url).await;
    let target = before.1 + 600;
    result(&url, "evm_setNextBlockTimestamp", json!([target])).await;
    result(&url, "evm_mine", json!([])).await;
    assert_eq!(head(&url).await, (before.0 + 1, target));
    result(&url, "evm_mine", json!([])).await;
    assert_jump((before.0 + 1, target), head(&url).await, 1, "the block after it");

    run_ahead(&url, 10).await;
    let before = head(&url).await;
    result(&url, "evm_increaseTime", json!([3600])).await;
    result(&url, "evm_mine", json!([])).await;
    assert_jump(before, head(&url).await, 3600, "evm_increaseTime after it");
}
