//! Shared test helpers: nodes, providers, contract artifacts, raw JSON-RPC.

use alloy::{
    network::EthereumWallet,
    primitives::{Address, Bytes, address},
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
    sol,
};
use anh::{NodeConfig, NodeHandle};
use serde_json::{Value, json};
use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

/// Private key of dev account 0.
pub(crate) const KEY0: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
/// Private key of dev account 1.
pub(crate) const KEY1: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
/// Dev account 0.
pub(crate) const ADDR0: Address = address!("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
/// Dev account 1.
pub(crate) const ADDR1: Address = address!("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");

sol! {
    #[sol(rpc)]
    contract Counter {
        event Deployed(address indexed deployer, uint256 initialCount);
        event Incremented(address indexed by, uint256 indexed newCount, string note);
        error CustomFailure(uint256 code, address sender);
        function increment(string calldata note) external returns (uint256 newCount);
        function add(uint256 amount) external returns (uint256 newCount);
        function get() external view returns (uint256);
        function fail(string calldata reason) external;
        function failCustom(uint256 code) external;
        function panic() external;
    }

    #[sol(rpc)]
    contract Storage {
        function set(uint256 key, uint256 value) external;
        function get(uint256 key) external view returns (uint256);
        function burn(uint256 iterations) external returns (uint256 gasUsed);
        function blockInfo() external view returns (uint256 number, uint256 timestamp, uint256 basefee, uint256 chainid, address coinbase, bytes32 parentHash);
    }
}

/// Repository root.
pub(crate) fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("anh/ is in the repo").to_path_buf()
}

/// Creation bytecode of a compiled contract from `contracts/out/`.
pub(crate) fn bytecode(name: &str) -> Bytes {
    let path = repo_root().join("contracts/out").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let json: Value = serde_json::from_str(&text).expect("artifact is JSON");
    json["bytecode"].as_str().expect("artifact has bytecode").parse().expect("bytecode is hex")
}

/// Starts an in-process node on a free port.
pub(crate) async fn node() -> NodeHandle {
    node_with(NodeConfig::test()).await
}

/// Starts an in-process node with `config`.
pub(crate) async fn node_with(config: NodeConfig) -> NodeHandle {
    anh::spawn(config).await.expect("node starts")
}

/// The hash of block 0 of the node at `url`.
pub(crate) async fn genesis_hash(url: &str) -> alloy::primitives::B256 {
    let block = rpc(url, "eth_getBlockByNumber", json!(["0x0", false])).await;
    serde_json::from_value(block["result"]["hash"].clone()).expect("block 0 has a hash")
}

/// Starts a node with `config` that must refuse to start; returns its error text.
pub(crate) async fn refused(config: NodeConfig) -> String {
    match anh::spawn(config).await {
        Ok(node) => panic!("the node started at {}", node.http_endpoint()),
        Err(e) => e.to_string(),
    }
}

/// Polls the follower at `url` until it has imported block `height` (60 s at most); fails the
/// test if it halts first. Returns its last `anh_syncStatus`.
pub(crate) async fn synced(url: &str, height: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = rpc(url, "anh_syncStatus", json!([])).await["result"].clone();
        assert_ne!(status["state"], "halted", "the follower halted: {status}");
        if status["currentBlock"].as_u64() >= Some(height) {
            return status;
        }
        assert!(Instant::now() < deadline, "the follower did not reach {height}: {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A follower's configuration: follow `url`, pinned to its block 0 (the test trusts it).
pub(crate) async fn follower_config(url: &str) -> NodeConfig {
    NodeConfig {
        follow: Some(url.to_string()),
        genesis_hash: Some(genesis_hash(url).await),
        ..NodeConfig::test()
    }
}

/// An HTTP provider that signs with `key`.
pub(crate) fn provider(node: &NodeHandle, key: &str) -> DynProvider {
    provider_at(&node.http_endpoint(), key)
}

/// An HTTP provider for `url` that signs with `key`.
pub(crate) fn provider_at(url: &str, key: &str) -> DynProvider {
    let signer: PrivateKeySigner = key.parse().expect("valid key");
    ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer))
        .connect_http(url.parse().expect("valid url"))
        .erased()
}

/// Posts a raw JSON body; returns the HTTP status and the parsed JSON reply (null if none).
pub(crate) async fn post_raw(url: &str, body: impl Into<String>) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.into())
        .send()
        .await
        .expect("request sent");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body read");
    (
        status,
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("reply is JSON")
        },
    )
}

/// Calls `method` with `params`; returns the whole JSON-RPC reply object.
pub(crate) async fn rpc(url: &str, method: &str, params: Value) -> Value {
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
    post_raw(url, body.to_string()).await.1
}

/// The `error` object of a reply, asserting it is one.
pub(crate) fn error_of(reply: &Value) -> (i64, String) {
    let error = reply.get("error").unwrap_or_else(|| panic!("expected an error, got {reply}"));
    (error["code"].as_i64().expect("code"), error["message"].as_str().expect("message").to_string())
}

/// Calls `method` and returns its error's code and message, asserting it fails.
pub(crate) async fn rpc_error(url: &str, method: &str, params: Value) -> (i64, String) {
    error_of(&rpc(url, method, params).await)
}

/// Sends `tx` from `provider`'s signer and waits for its receipt (which may be a failure).
pub(crate) async fn send(
    provider: &DynProvider,
    tx: alloy::rpc::types::TransactionRequest,
) -> alloy::rpc::types::TransactionReceipt {
    provider.send_transaction(tx).await.expect("sent").get_receipt().await.expect("mined")
}

/// Sends a contract call and waits for its receipt (which may be a failure).
pub(crate) async fn mined<P: Provider, D: alloy::contract::CallDecoder>(
    call: alloy::contract::CallBuilder<P, D>,
) -> alloy::rpc::types::TransactionReceipt {
    call.send().await.expect("sent").get_receipt().await.expect("mined")
}

/// Polls `eth_getTransactionReceipt` until the receipt exists (10 s at most).
///
/// Used where a client's block watcher cannot work, e.g. after `evm_revert` rewound the chain
/// below blocks the watcher has already seen.
pub(crate) async fn wait_receipt(
    provider: &DynProvider,
    hash: alloy::primitives::B256,
) -> alloy::rpc::types::TransactionReceipt {
    for _ in 0..1000 {
        if let Some(receipt) = provider.get_transaction_receipt(hash).await.expect("receipt query")
        {
            return receipt;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("transaction {hash} was not mined within 10 s");
}

/// A file of `runtime/testdata/` (the ONNX fixtures and their expected outputs).
pub(crate) fn testdata(name: &str) -> PathBuf {
    repo_root().join("runtime/testdata").join(name)
}

/// Deploys the contract `name` of `contracts/out/` (no constructor arguments); returns its
/// address.
pub(crate) async fn deploy(provider: &DynProvider, name: &str) -> Address {
    use alloy::{network::TransactionBuilder, rpc::types::TransactionRequest};
    let receipt =
        send(provider, TransactionRequest::default().with_deploy_code(bytecode(name))).await;
    assert!(receipt.status(), "deploying {name} reverted");
    receipt.contract_address.expect("a creation receipt has the address")
}

/// Sends `Storage.set(key, value)` to `storage` and waits for its successful receipt.
pub(crate) async fn store(
    provider: &DynProvider,
    storage: Address,
    key: u64,
    value: u64,
) -> alloy::rpc::types::TransactionReceipt {
    let receipt = Storage::new(storage, provider)
        .set(alloy::primitives::U256::from(key), alloy::primitives::U256::from(value))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(receipt.status(), "Storage.set({key}, {value}) reverted");
    receipt
}

/// The `ModelTrained` event a mined `train` transaction emitted.
pub(crate) fn model_trained(
    receipt: &alloy::rpc::types::TransactionReceipt,
) -> anh_precompiles::abi::ITrain::ModelTrained {
    use alloy::sol_types::SolEvent;
    let log = receipt
        .inner
        .logs()
        .iter()
        .find(|l| l.address() == anh_precompiles::train::ADDRESS)
        .unwrap_or_else(|| panic!("no ModelTrained in {receipt:?}"));
    anh_precompiles::abi::ITrain::ModelTrained::decode_log_data(log.data()).expect("ModelTrained")
}
