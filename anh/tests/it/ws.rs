//! WebSocket subscriptions: `newHeads`, `logs` (address and topic filters) and
//! `newPendingTransactions`; `eth_unsubscribe`; a client that floods subscriptions, stops
//! reading or disconnects mid-stream neither leaks nor stalls the node.

use crate::utils::*;
use alloy::{
    network::TransactionBuilder,
    primitives::{U256, keccak256},
    providers::Provider,
    rpc::types::TransactionRequest,
};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async, tungstenite::Message};

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// A raw JSON-RPC WebSocket client.
struct Ws {
    socket: Socket,
    id: u64,
    /// Notifications read while waiting for something else, oldest first.
    backlog: VecDeque<Value>,
}

impl Ws {
    async fn connect(url: &str) -> Self {
        let (socket, _) = connect_async(url).await.expect("WebSocket connects");
        Self { socket, id: 0, backlog: VecDeque::new() }
    }

    async fn send(&mut self, method: &str, params: Value) -> u64 {
        self.id += 1;
        let request =
            json!({ "jsonrpc": "2.0", "id": self.id, "method": method, "params": params });
        self.socket.send(Message::Text(request.to_string().into())).await.expect("sent");
        self.id
    }

    /// The next message, within 10 s.
    async fn next(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), self.socket.next())
                .await
                .expect("a message within 10 s")
                .expect("the socket is open")
                .expect("a frame");
            if let Message::Text(text) = message {
                return serde_json::from_str(&text).expect("JSON");
            }
        }
    }

    /// Calls `method` and returns its reply (notifications that arrive first are skipped).
    async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.send(method, params).await;
        loop {
            let message = self.next().await;
            if message["id"] == id {
                return message;
            }
            self.backlog.push_back(message);
        }
    }

    /// The next notification of subscription `id`.
    async fn notification(&mut self, id: &Value) -> Value {
        let of = |message: &Value| {
            message["method"] == "eth_subscription" && &message["params"]["subscription"] == id
        };
        if let Some(at) = self.backlog.iter().position(of) {
            return self.backlog.remove(at).expect("in range")["params"]["result"].clone();
        }
        loop {
            let message = self.next().await;
            if of(&message) {
                return message["params"]["result"].clone();
            }
            self.backlog.push_back(message);
        }
    }
}

/// Waits until the node's live subscriptions number `count` (tasks end asynchronously).
async fn subscriptions_become(node: &anh::NodeHandle, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while node.api().active_subscriptions() != count {
        assert!(
            Instant::now() < deadline,
            "{} subscriptions alive, expected {count}",
            node.api().active_subscriptions()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Each kind of subscription delivers what it should, the id always before the first
/// notification; `eth_unsubscribe` stops it.
#[tokio::test(flavor = "multi_thread")]
async fn subscriptions_deliver() {
    let node = node().await;
    let provider = provider(&node, KEY0);
    let storage = deploy(&provider, "Storage").await;
    let other = deploy(&provider, "Storage").await;
    let mut ws = Ws::connect(&node.ws_endpoint()).await;

    let heads = ws.call("eth_subscribe", json!(["newHeads"])).await["result"].clone();
    let topic = keccak256("ValueSet(uint256,uint256)");
    let key2 = alloy::primitives::B256::from(U256::from(2));
    let logs = ws
        .call("eth_subscribe", json!(["logs", { "address": storage, "topics": [topic, key2] }]))
        .await["result"]
        .clone();
    let pending =
        ws.call("eth_subscribe", json!(["newPendingTransactions"])).await["result"].clone();
    assert!(heads.is_string() && logs.is_string() && pending.is_string());

    store(&provider, other, 2, 2).await;
    store(&provider, storage, 1, 1).await;
    store(&provider, storage, 2, 2).await;
    let head = ws.notification(&heads).await;
    assert!(head["number"].is_string() && head["stateRoot"].is_string(), "{head}");
    let log = ws.notification(&logs).await;
    assert_eq!(log["address"], json!(storage));
    assert_eq!(log["topics"][1], json!(key2), "only key 2 of `storage` matches");
    assert_eq!(log["removed"], false);
    let hash = ws.notification(&pending).await;
    assert!(hash.as_str().is_some_and(|h| h.len() == 66), "{hash}");
    assert_eq!(node.api().active_subscriptions(), 3);

    assert_eq!(ws.call("eth_unsubscribe", json!([heads])).await["result"], true);
    assert_eq!(ws.call("eth_unsubscribe", json!([heads])).await["result"], false);
    subscriptions_become(&node, 2).await;

    // Full pending transactions on request.
    let full =
        ws.call("eth_subscribe", json!(["newPendingTransactions", true])).await["result"].clone();
    let tx = TransactionRequest::default().with_to(ADDR1).with_value(U256::from(1));
    let _pending = provider.send_transaction(tx).await.unwrap();
    let tx = ws.notification(&full).await;
    assert_eq!(tx["from"], json!(ADDR0));

    // Bad subscriptions.
    for (params, wanted) in [
        (json!(["newBlocks"]), "unknown subscription \"newBlocks\""),
        (json!(["logs", { "address": 5 }]), "invalid logs filter"),
        (json!(["newHeads", { "x": 1 }]), "newHeads takes no options"),
        (json!(["newPendingTransactions", "yes"]), "takes an optional boolean"),
        (json!([]), "missing value for required argument 0"),
    ] {
        let reply = ws.call("eth_subscribe", params.clone()).await;
        assert_eq!(reply["error"]["code"], -32602, "{params}: {reply}");
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(message.contains(wanted), "{params}: {message}");
    }
    // Over HTTP, subscriptions are refused.
    let (code, message) =
        rpc_error(&node.http_endpoint(), "eth_subscribe", json!(["newHeads"])).await;
    assert_eq!(code, -32601);
    assert!(message.contains("needs a WebSocket connection"), "{message}");

    drop(ws);
    subscriptions_become(&node, 0).await;
}

/// A client that floods subscriptions hits the per-connection limit; one that stops reading
/// while blocks pour in does not stall mining or other clients; closing either connection
/// ends all their subscriptions.
#[tokio::test(flavor = "multi_thread")]
async fn floods_and_stalled_clients_do_not_leak_or_stall() {
    let node = node().await;
    let url = node.http_endpoint();
    let limit = anh_rpc::MAX_SUBSCRIPTIONS;

    let mut flood = Ws::connect(&node.ws_endpoint()).await;
    // Two batches (a batch holds at most 1 000 requests).
    let mut replies = Vec::new();
    for ids in [0..limit / 2, limit / 2..limit + 10] {
        let batch: Vec<Value> = ids
            .map(|i| json!({ "jsonrpc": "2.0", "id": i, "method": "eth_subscribe", "params": ["newHeads"] }))
            .collect();
        flood.socket.send(Message::Text(Value::Array(batch).to_string().into())).await.unwrap();
        let answer = flood.next().await;
        replies.extend(answer.as_array().expect("a batch answer").iter().cloned());
    }
    let refused: Vec<&Value> = replies.iter().filter(|r| r.get("error").is_some()).collect();
    assert_eq!(replies.len() - refused.len(), limit);
    assert_eq!(refused.len(), 10);
    let message = refused[0]["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("too many subscriptions on this connection (limit {limit})")),
        "{message}"
    );
    assert_eq!(node.api().active_subscriptions(), limit);

    // A reader that never reads, subscribed to every block.
    let mut stalled = Ws::connect(&node.ws_endpoint()).await;
    for _ in 0..8 {
        stalled.send("eth_subscribe", json!(["newHeads"])).await;
        stalled.send("eth_subscribe", json!(["logs", {}])).await;
    }
    // Thousands of blocks while neither client reads: mining and HTTP go on.
    let started = Instant::now();
    assert_eq!(rpc(&url, "anvil_mine", json!([3000])).await["result"], Value::Null);
    assert_eq!(rpc(&url, "eth_blockNumber", json!([])).await["result"], "0xbb8");
    let provider = provider(&node, KEY0);
    let tx = TransactionRequest::default().with_to(ADDR1).with_value(U256::from(1));
    assert!(send(&provider, tx).await.status());
    assert!(started.elapsed() < Duration::from_secs(120), "the node kept going");

    // Disconnecting mid-stream ends every subscription of both connections.
    drop(flood);
    drop(stalled);
    subscriptions_become(&node, 0).await;
    // And a new client is served normally.
    let mut ws = Ws::connect(&node.ws_endpoint()).await;
    assert_eq!(ws.call("eth_blockNumber", json!([])).await["result"], "0xbb9");
}
