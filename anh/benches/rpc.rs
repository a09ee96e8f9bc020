//! Read-path speed: `eth_call` requests per second and `eth_getLogs` over a 10 000-block
//! range, `anh node` and anvil 1.7.1 side by side, in one run, on the same chain.
//!
//! Each node gets the same chain, built over JSON-RPC with mining on request: a `Storage`
//! contract, then 10 000 blocks of which every fifth holds 5 `set(key, value)` transactions
//! (10 000 `ValueSet` logs, keys 0–999), the others empty.
//!
//! - `eth_call`: `Storage.get(key)` at `latest`, 16 clients at once, each reusing its HTTP
//!   connection, for a fixed number of calls; requests per second.
//! - `eth_getLogs`: the whole range, (a) every log of the contract (10 000 logs) and (b) one
//!   key's logs (a topic filter; 10 logs); the mean time of several queries, from sending the
//!   request to having the whole answer (the client's JSON parsing is left out).
//!
//! Run: `./dev bench rpc` (or `cargo bench -p anh --bench rpc`).
//! Environment: `ANH_ANVIL` (path to anvil's native binary), `ANH_BENCH_CALLS` (default
//! 20 000 `eth_call`s per node), `ANH_BENCH_NODE` (path to another `anh` build, run in anvil's
//! place: before/after figures of a change).

mod common;

use alloy::{
    primitives::{Address, B256, Bytes, U256, keccak256},
    sol,
    sol_types::SolCall,
};
use common::{anvil_binary, call, start};
use serde_json::{Value, json};
use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

sol! {
    function set(uint256 key, uint256 value) external;
    function get(uint256 key) external view returns (uint256);
}

const BLOCKS: u64 = 10_000;
const EVERY: u64 = 5;
const TXS_PER_BLOCK: u64 = 5;
const CLIENTS: usize = 16;
const LOG_QUERIES: u32 = 5;
const SENDER: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

fn storage_bytecode() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../contracts/out/Storage.json");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    json["bytecode"].as_str().unwrap().to_string()
}

/// Builds the chain; returns the contract's address.
async fn build_chain(client: &reqwest::Client, url: &str) -> Address {
    call(client, url, "evm_setAutomine", json!([false])).await;
    let mut nonce = 0u64;
    let mut send = |data: String, to: Option<Address>| {
        let tx = json!({
            "from": SENDER, "to": to, "data": data, "gas": "0x100000",
            "nonce": format!("{nonce:#x}"), "maxFeePerGas": "0x2540be400",
            "maxPriorityFeePerGas": "0x3b9aca00",
        });
        nonce += 1;
        tx
    };
    let deploy = send(storage_bytecode(), None);
    let hash = call(client, url, "eth_sendTransaction", json!([deploy])).await;
    call(client, url, "evm_mine", json!([])).await;
    let receipt = call(client, url, "eth_getTransactionReceipt", json!([hash])).await;
    let storage: Address = serde_json::from_value(receipt["contractAddress"].clone()).unwrap();
    let mut key = 0u64;
    for _ in 0..BLOCKS / EVERY {
        for _ in 0..TXS_PER_BLOCK {
            let data = setCall { key: U256::from(key % 1000), value: U256::from(key) }.abi_encode();
            let tx = send(Bytes::from(data).to_string(), Some(storage));
            call(client, url, "eth_sendTransaction", json!([tx])).await;
            key += 1;
        }
        call(client, url, "evm_mine", json!([])).await;
        call(client, url, "anvil_mine", json!([EVERY - 1])).await;
    }
    storage
}

/// `eth_call` requests per second with `CLIENTS` concurrent clients.
async fn calls_per_second(url: &str, storage: Address, total: usize) -> f64 {
    let start = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let url = url.to_string();
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                for i in 0..total / CLIENTS {
                    let data = getCall { key: U256::from((c * 7 + i) % 1000) }.abi_encode();
                    let request = json!({ "to": storage, "data": Bytes::from(data) });
                    let out = call(&client, &url, "eth_call", json!([request, "latest"])).await;
                    assert!(out.as_str().is_some_and(|s| s.len() == 66), "{out}");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    (total / CLIENTS * CLIENTS) as f64 / start.elapsed().as_secs_f64()
}

/// The mean time of `eth_getLogs(filter)` until the whole answer is received (the client's
/// own JSON parsing, the same for both nodes, is left out), and how many logs it returned.
async fn get_logs(client: &reqwest::Client, url: &str, filter: Value) -> (Duration, usize) {
    let request = json!({ "jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [filter] });
    let mut elapsed = Duration::ZERO;
    let mut count = 0;
    for _ in 0..LOG_QUERIES {
        let start = Instant::now();
        let body = client.post(url).json(&request).send().await.unwrap().bytes().await.unwrap();
        elapsed += start.elapsed();
        let reply: Value = serde_json::from_slice(&body).unwrap();
        count = reply["result"].as_array().expect("a list of logs").len();
    }
    (elapsed / LOG_QUERIES, count)
}

struct Row {
    name: &'static str,
    calls: f64,
    all_logs: (Duration, usize),
    one_key: (Duration, usize),
}

fn main() {
    let total: usize =
        std::env::var("ANH_BENCH_CALLS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    // Against anvil, or against another `anh` build (before/after a change).
    let other = match std::env::var_os("ANH_BENCH_NODE") {
        Some(path) => ("anh, ANH_BENCH_NODE", PathBuf::from(path), vec!["node"]),
        None => ("anvil 1.7.1", anvil_binary(), vec![]),
    };
    let nodes: Vec<(&'static str, PathBuf, Vec<&str>)> =
        vec![("anh node", PathBuf::from(env!("CARGO_BIN_EXE_anh")), vec!["node"]), other];
    let mut rows = Vec::new();
    for (name, program, args) in nodes {
        let server = start(&program, &args, "Listening on");
        let row = runtime.block_on(async {
            let client = reqwest::Client::new();
            let built = Instant::now();
            let storage = build_chain(&client, &server.url).await;
            eprintln!("{name}: chain of {BLOCKS} blocks built in {:.1?}", built.elapsed());
            let calls = calls_per_second(&server.url, storage, total).await;
            let topic = keccak256("ValueSet(uint256,uint256)");
            let all = json!({ "fromBlock": "0x1", "toBlock": "latest", "address": storage });
            let all_logs = get_logs(&client, &server.url, all).await;
            let key = B256::from(U256::from(123));
            let one = json!({
                "fromBlock": "0x1", "toBlock": "latest", "address": storage,
                "topics": [topic, key],
            });
            let one_key = get_logs(&client, &server.url, one).await;
            Row { name, calls, all_logs, one_key }
        });
        rows.push(row);
        drop(server);
    }
    let (a, b) = (&rows[0], &rows[1]);
    assert_eq!(a.all_logs.1, b.all_logs.1, "both nodes return the same logs");
    assert_eq!(a.one_key.1, b.one_key.1, "both nodes return the same logs");

    println!(
        "\nRead path over JSON-RPC/HTTP: eth_call ({CLIENTS} concurrent clients, {total} calls) and \
         eth_getLogs over {BLOCKS} blocks (mean of {LOG_QUERIES})\n"
    );
    println!(
        "| node | eth_call (req/s) | eth_getLogs, all {} logs (ms) | eth_getLogs, one key: {} logs (ms) |",
        a.all_logs.1, a.one_key.1
    );
    println!("|---|---:|---:|---:|");
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for row in &rows {
        println!(
            "| {} | {:.0} | {:.1} | {:.2} |",
            row.name,
            row.calls,
            ms(row.all_logs.0),
            ms(row.one_key.0)
        );
    }
    println!(
        "| {} / {} (higher is better) | {:.1}× | {:.1}× | {:.1}× |",
        a.name,
        b.name,
        a.calls / b.calls,
        ms(b.all_logs.0) / ms(a.all_logs.0),
        ms(b.one_key.0) / ms(a.one_key.0)
    );
}
