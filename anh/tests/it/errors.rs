//! Bad input: every case gets the right code and wording, and the node keeps serving with
//! nothing lost.

use crate::utils::*;
use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEnvelope, TxLegacy},
    eips::eip2718::Encodable2718,
    network::TransactionBuilder,
    primitives::{Address, Signature, TxKind, U256, hex},
    providers::Provider,
    rpc::types::TransactionRequest,
    signers::{SignerSync, local::PrivateKeySigner},
};
use anh::NodeConfig;
use anh_evm_host::MiningMode;
use serde_json::json;

fn sign_1559(key: &str, tx: TxEip1559) -> String {
    let signer: PrivateKeySigner = key.parse().unwrap();
    let signature = signer.sign_hash_sync(&tx.signature_hash()).unwrap();
    let envelope: TxEnvelope = tx.into_signed(signature).into();
    hex::encode_prefixed(envelope.encoded_2718())
}

fn transfer(nonce: u64, max_fee: u128, tip: u128) -> TxEip1559 {
    TxEip1559 {
        chain_id: 31337,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: max_fee,
        max_priority_fee_per_gas: tip,
        to: TxKind::Call(ADDR1),
        value: U256::from(1),
        access_list: Default::default(),
        input: Default::default(),
    }
}

async fn send_raw(url: &str, raw: String) -> serde_json::Value {
    rpc(url, "eth_sendRawTransaction", json!([raw])).await
}

/// Malformed JSON, bad envelopes, unknown methods and bad params get JSON-RPC's codes.
#[tokio::test(flavor = "multi_thread")]
async fn protocol_errors() {
    let node = node().await;
    let url = node.http_endpoint();

    let (status, reply) = post_raw(&url, "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\"").await;
    assert_eq!(status, 200);
    assert_eq!(reply["error"]["code"], -32700);
    assert_eq!(reply["id"], serde_json::Value::Null);

    let (_, reply) = post_raw(&url, "[]").await;
    assert_eq!(error_of(&reply), (-32600, "Invalid request: empty batch".into()));
    let (_, reply) = post_raw(&url, "42").await;
    assert_eq!(error_of(&reply).0, -32600);
    let (_, reply) = post_raw(&url, r#"{"jsonrpc":"1.0","id":7,"method":"eth_chainId"}"#).await;
    assert_eq!(error_of(&reply).0, -32600);
    assert_eq!(reply["id"], 7);
    let (_, reply) = post_raw(&url, r#"{"jsonrpc":"2.0","id":7,"method":5}"#).await;
    assert_eq!(error_of(&reply).0, -32600);

    let reply = rpc(&url, "eth_doesNotExist", json!([])).await;
    assert_eq!(error_of(&reply), (-32601, "Method not found".into()));

    let reply = rpc(&url, "eth_getBalance", json!(["0xnothex"])).await;
    let (code, message) = error_of(&reply);
    assert_eq!(code, -32602);
    assert!(message.starts_with("Invalid params: invalid argument 0"), "{message}");
    let reply = rpc(&url, "eth_getBalance", json!([])).await;
    assert_eq!(
        error_of(&reply),
        (-32602, "Invalid params: missing value for required argument 0".into())
    );
    let reply = rpc(&url, "eth_blockNumber", json!([1])).await;
    assert_eq!(
        error_of(&reply),
        (-32602, "Invalid params: too many arguments, want at most 0".into())
    );
    let reply = rpc(&url, "eth_getBlockByNumber", json!(["latest", "yes"])).await;
    assert!(error_of(&reply).1.contains("invalid argument 1"));

    // Notifications get no answer; a batch mixes results, errors and notifications in order.
    let (status, reply) = post_raw(&url, r#"{"jsonrpc":"2.0","method":"eth_chainId"}"#).await;
    assert_eq!((status, reply), (204, serde_json::Value::Null));
    let batch = r#"[{"jsonrpc":"2.0","id":1,"method":"eth_chainId"},{"jsonrpc":"2.0","method":"eth_chainId"},{"jsonrpc":"2.0","id":"b","method":"nope"}]"#;
    let (_, reply) = post_raw(&url, batch).await;
    let replies = reply.as_array().unwrap();
    assert_eq!(replies.len(), 2);
    assert_eq!(replies[0]["result"], "0x7a69");
    assert_eq!(replies[1]["id"], "b");
    assert_eq!(replies[1]["error"], json!({ "code": -32601, "message": "Method not found" }));

    // Still serving.
    assert_eq!(rpc(&url, "eth_chainId", json!([])).await["result"], "0x7a69");
}

/// An unknown method is answered exactly as anvil answers it — `{"code":-32601,"message":
/// "Method not found"}`, no `data` — over HTTP and WebSocket, whatever its prefix. (geth's
/// "the method X does not exist/is not available" makes ethers.js v6 report an
/// `UNSUPPORTED_OPERATION` instead of the JSON-RPC error.)
#[tokio::test(flavor = "multi_thread")]
async fn unknown_method_is_answered_as_anvil_does() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::{connect_async, tungstenite::Message};

    let node = node().await;
    let url = node.http_endpoint();
    let expected = json!({ "code": -32601, "message": "Method not found" });
    let methods =
        ["eth_doesNotExist", "foo", "debug_noSuchMethod", "trace_nope", "anvil_nope", "evm_nope"];
    for method in methods {
        let reply = rpc(&url, method, json!([])).await;
        assert_eq!(reply, json!({ "jsonrpc": "2.0", "id": 1, "error": expected }), "{method}");
    }

    let (mut ws, _) = connect_async(node.ws_endpoint()).await.expect("WebSocket connects");
    for (id, method) in methods.into_iter().enumerate() {
        let request = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": [] });
        ws.send(Message::Text(request.to_string().into())).await.expect("sent");
        let reply = loop {
            let frame = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
                .await
                .expect("a reply within 10 s")
                .expect("the socket is open")
                .expect("a frame");
            if let Message::Text(text) = frame {
                break serde_json::from_str::<serde_json::Value>(&text).expect("JSON");
            }
        };
        assert_eq!(reply, json!({ "jsonrpc": "2.0", "id": id, "error": expected }), "{method}");
    }
}

/// Oversized bodies and batches are refused before work is done.
#[tokio::test(flavor = "multi_thread")]
async fn size_limits() {
    let mut config = NodeConfig::test();
    config.server.max_request_size = 4096;
    config.server.max_batch_size = 3;
    let node = node_with(config).await;
    let url = node.http_endpoint();
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"web3_sha3","params":["0x{}"]}}"#,
        "ab".repeat(4096)
    );
    let (status, reply) = post_raw(&url, big).await;
    assert_eq!(status, 413);
    assert_eq!(
        error_of(&reply),
        (-32600, "Invalid request: request body exceeds the limit of 4096 bytes".into())
    );
    let batch =
        serde_json::to_string(&vec![json!({"jsonrpc":"2.0","id":1,"method":"eth_chainId"}); 4])
            .unwrap();
    let (_, reply) = post_raw(&url, batch).await;
    assert_eq!(
        error_of(&reply),
        (-32600, "Invalid request: batch of 4 requests exceeds the limit of 3".into())
    );
    assert_eq!(rpc(&url, "eth_chainId", json!([])).await["result"], "0x7a69");
}

/// Each invalid transaction is refused with geth's wording, and balances and nonces are
/// untouched afterwards.
#[tokio::test(flavor = "multi_thread")]
async fn transaction_validation() {
    let node = node_with(NodeConfig { mining: MiningMode::Manual, ..NodeConfig::test() }).await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    let balance0 = provider.get_balance(ADDR0).await.unwrap();

    // Not a transaction at all.
    let reply = send_raw(&url, "0xdeadbeef".into()).await;
    let (code, message) = error_of(&reply);
    assert_eq!(code, -32602);
    assert!(message.starts_with("failed to decode signed transaction"), "{message}");

    // A signature that recovers to no key.
    let legacy = TxLegacy {
        chain_id: Some(31337),
        nonce: 0,
        gas_price: 2_000_000_000,
        gas_limit: 21_000,
        to: TxKind::Call(ADDR1),
        value: U256::from(1),
        input: Default::default(),
    };
    let bad = legacy.into_signed(Signature::new(U256::ZERO, U256::from(1), false));
    let reply = send_raw(&url, hex::encode_prefixed(TxEnvelope::from(bad).encoded_2718())).await;
    let (code, message) = error_of(&reply);
    assert_eq!(code, -32000);
    assert!(message.starts_with("invalid sender"), "{message}");

    // Wrong chain id.
    let mut wrong_chain = transfer(0, 2_000_000_000, 1);
    wrong_chain.chain_id = 1;
    let reply = send_raw(&url, sign_1559(KEY0, wrong_chain)).await;
    assert_eq!(error_of(&reply), (-32000, "invalid chain id for signer: have 1 want 31337".into()));

    // Intrinsic gas.
    let mut low_gas = transfer(0, 2_000_000_000, 1);
    low_gas.gas_limit = 20_000;
    let reply = send_raw(&url, sign_1559(KEY0, low_gas)).await;
    assert_eq!(
        error_of(&reply),
        (-32000, "intrinsic gas too low: gas 20000, minimum needed 21000".into())
    );

    // Fee cap below the base fee, and tip above the fee cap.
    let reply = send_raw(&url, sign_1559(KEY0, transfer(0, 1, 1))).await;
    let (code, message) = error_of(&reply);
    assert_eq!(code, -32000);
    assert!(
        message.starts_with("max fee per gas less than block base fee: address 0xf39F"),
        "{message}"
    );
    let reply = send_raw(&url, sign_1559(KEY0, transfer(0, 2_000_000_000, 3_000_000_000))).await;
    assert!(error_of(&reply).1.starts_with("max priority fee per gas higher than max fee per gas"));

    // Insufficient funds: a key with no balance.
    let poor = PrivateKeySigner::random();
    let poor_key = hex::encode_prefixed(poor.to_bytes());
    let reply = send_raw(&url, sign_1559(&poor_key, transfer(0, 2_000_000_000, 1))).await;
    let (code, message) = error_of(&reply);
    assert_eq!(code, -32000);
    assert_eq!(
        message,
        "insufficient funds for gas * price + value: balance 0, tx cost 42000000000001, overshot 42000000000001"
    );

    // Replacement: +5% is underpriced, +10% replaces; the same bytes again are already known.
    let first = sign_1559(KEY0, transfer(0, 2_000_000_000, 1_000_000_000));
    let first_hash = send_raw(&url, first.clone()).await["result"].clone();
    assert!(first_hash.is_string(), "{first_hash}");
    assert_eq!(error_of(&send_raw(&url, first).await), (-32000, "already known".into()));
    let cheap = send_raw(&url, sign_1559(KEY0, transfer(0, 2_100_000_000, 1_050_000_000))).await;
    assert_eq!(error_of(&cheap), (-32000, "replacement transaction underpriced".into()));
    let replacement =
        send_raw(&url, sign_1559(KEY0, transfer(0, 2_200_000_000, 1_100_000_000))).await;
    let replacement_hash = replacement["result"].clone();
    assert!(replacement_hash.is_string());
    assert_eq!(
        rpc(&url, "eth_getTransactionByHash", json!([first_hash])).await["result"],
        serde_json::Value::Null
    );

    rpc(&url, "evm_mine", json!([])).await;
    let receipt = rpc(&url, "eth_getTransactionReceipt", json!([replacement_hash])).await;
    assert_eq!(receipt["result"]["status"], "0x1");

    // Nonce too low once mined.
    let reply = send_raw(&url, sign_1559(KEY0, transfer(0, 3_000_000_000, 1))).await;
    assert_eq!(error_of(&reply), (-32000, "nonce too low: next nonce 1, tx nonce 0".into()));

    // Nothing was lost: exactly one transfer of 1 wei and its fee left account 0.
    let receipt = provider
        .get_transaction_receipt(replacement_hash.as_str().unwrap().parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let fee = U256::from(receipt.gas_used) * U256::from(receipt.effective_gas_price);
    assert_eq!(provider.get_balance(ADDR0).await.unwrap(), balance0 - fee - U256::from(1));
    assert_eq!(provider.get_transaction_count(ADDR0).await.unwrap(), 1);
    assert_eq!(provider.get_balance(poor.address()).await.unwrap(), U256::ZERO);
}

/// `eth_sendTransaction` signs for dev accounts only.
#[tokio::test(flavor = "multi_thread")]
async fn send_transaction_needs_dev_account() {
    let node = node().await;
    let url = node.http_endpoint();
    let stranger = Address::repeat_byte(0x42);
    let reply = rpc(
        &url,
        "eth_sendTransaction",
        json!([{ "from": stranger, "to": ADDR1, "value": "0x1" }]),
    )
    .await;
    let (code, message) = error_of(&reply);
    assert_eq!(code, -32000);
    assert!(message.contains("unknown account"), "{message}");

    let reply =
        rpc(&url, "eth_sendTransaction", json!([{ "from": ADDR0, "to": ADDR1, "value": "0x1" }]))
            .await;
    let hash = reply["result"].as_str().unwrap().to_string();
    let provider = provider(&node, KEY0);
    let receipt = provider.get_transaction_receipt(hash.parse().unwrap()).await;
    // Automine: the receipt appears shortly.
    let mut receipt = receipt.unwrap();
    for _ in 0..100 {
        if receipt.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        receipt = provider.get_transaction_receipt(hash.parse().unwrap()).await.unwrap();
    }
    assert!(receipt.unwrap().status());
    let _ = TransactionRequest::default().with_to(ADDR1);
}

/// Every method the node serves.
const METHODS: &[&str] = &[
    "anh_getAttestations",
    "anh_getModel",
    "anh_putModel",
    "anh_stats",
    "anh_chainConfig",
    "anh_getRawBlock",
    "anvil_addBalance",
    "anvil_autoImpersonateAccount",
    "anvil_dropAllTransactions",
    "anvil_dropTransaction",
    "anvil_dumpState",
    "anvil_getAutomine",
    "anvil_getIntervalMining",
    "anvil_impersonateAccount",
    "anvil_increaseTime",
    "anvil_loadState",
    "anvil_metadata",
    "anvil_mine",
    "anvil_nodeInfo",
    "anvil_reset",
    "anvil_revert",
    "anvil_setAutomine",
    "anvil_setBalance",
    "anvil_setCode",
    "anvil_setCoinbase",
    "anvil_setIntervalMining",
    "anvil_setNextBlockBaseFeePerGas",
    "anvil_setNextBlockTimestamp",
    "anvil_setNonce",
    "anvil_setStorageAt",
    "anvil_setTime",
    "anvil_snapshot",
    "anvil_stopImpersonatingAccount",
    "debug_traceBlockByHash",
    "debug_traceBlockByNumber",
    "debug_traceCall",
    "debug_traceTransaction",
    "eth_accounts",
    "eth_blockNumber",
    "eth_call",
    "eth_chainId",
    "eth_coinbase",
    "eth_createAccessList",
    "eth_estimateGas",
    "eth_feeHistory",
    "eth_fillTransaction",
    "eth_gasPrice",
    "eth_getAccount",
    "eth_getAccountInfo",
    "eth_getBalance",
    "eth_getBlockByHash",
    "eth_getBlockByNumber",
    "eth_getBlockReceipts",
    "eth_getBlockTransactionCountByHash",
    "eth_getBlockTransactionCountByNumber",
    "eth_getCode",
    "eth_getFilterChanges",
    "eth_getFilterLogs",
    "eth_getHeaderByHash",
    "eth_getHeaderByNumber",
    "eth_getLogs",
    "eth_getProof",
    "eth_getRawTransactionByBlockHashAndIndex",
    "eth_getRawTransactionByBlockNumberAndIndex",
    "eth_getRawTransactionByHash",
    "eth_getStorageAt",
    "eth_getTransactionByBlockHashAndIndex",
    "eth_getTransactionByBlockNumberAndIndex",
    "eth_getTransactionByHash",
    "eth_getTransactionCount",
    "eth_getTransactionReceipt",
    "eth_getUncleByBlockHashAndIndex",
    "eth_getUncleByBlockNumberAndIndex",
    "eth_getUncleCountByBlockHash",
    "eth_getUncleCountByBlockNumber",
    "eth_hashrate",
    "eth_maxPriorityFeePerGas",
    "eth_mining",
    "eth_newBlockFilter",
    "eth_newFilter",
    "eth_newPendingTransactionFilter",
    "eth_pendingTransactions",
    "eth_sendRawTransaction",
    "eth_sendTransaction",
    "eth_sign",
    "eth_signTransaction",
    "eth_signTypedData_v4",
    "eth_syncing",
    "eth_uninstallFilter",
    "evm_increaseTime",
    "evm_mine",
    "evm_revert",
    "evm_setAutomine",
    "evm_setIntervalMining",
    "evm_setNextBlockTimestamp",
    "evm_snapshot",
    "hardhat_impersonateAccount",
    "hardhat_mine",
    "hardhat_setBalance",
    "net_listening",
    "net_version",
    "personal_sign",
    "trace_block",
    "trace_transaction",
    "txpool_content",
    "txpool_inspect",
    "txpool_status",
    "web3_clientVersion",
    "web3_sha3",
];

/// Table-driven: every method refuses too many arguments, named (object) parameters and, where
/// it takes any, arguments of the wrong type — each with -32602 and a message that says what is
/// wrong — and the node loses nothing.
#[tokio::test(flavor = "multi_thread")]
async fn every_method_refuses_bad_params() {
    let node = node().await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    let tx = TransactionRequest::default().with_to(ADDR1).with_value(U256::from(7));
    send(&provider, tx).await;
    let head = rpc(&url, "eth_blockNumber", json!([])).await["result"].clone();
    let balance = provider.get_balance(ADDR1).await.unwrap();

    let mut failures = Vec::new();
    for method in METHODS {
        // Ten arguments are more than any method takes.
        let reply = rpc(&url, method, json!([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])).await;
        let (code, message) = error_of(&reply);
        if code != -32602 || !message.contains("too many arguments") {
            failures.push(format!("{method} with 10 arguments: {reply}"));
        }
        let reply = rpc(&url, method, json!({ "a": 1 })).await;
        let (code, message) = error_of(&reply);
        if code != -32602 || !message.contains("must be given as an array") {
            failures.push(format!("{method} with an object: {reply}"));
        }
        // A nested array is no method's argument.
        let reply = rpc(&url, method, json!([[[["nested"]]]])).await;
        if let Some(error) = reply.get("error") {
            let (code, message) = error_of(&reply);
            let named = message.contains("invalid argument 0")
                || message.contains("missing value for required argument")
                || message.contains("too many arguments, want at most 0");
            if code != -32602 || !named {
                failures.push(format!("{method} with a nested array: {error}"));
            }
        } else {
            failures.push(format!("{method} accepted a nested array: {reply}"));
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));

    // Nothing was lost or changed, and the node still serves.
    assert_eq!(rpc(&url, "eth_blockNumber", json!([])).await["result"], head);
    assert_eq!(provider.get_balance(ADDR1).await.unwrap(), balance);
    let tx = TransactionRequest::default().with_to(ADDR1).with_value(U256::from(1));
    send(&provider, tx).await;
}
