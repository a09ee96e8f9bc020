//! What the DNN part adds to an `eth_call`: over one keep-alive HTTP connection to an
//! `anh node` (a separate process, release build), the median latency of
//!
//! - `eth_chainId` — the JSON-RPC round trip alone;
//! - `eth_call` of `Storage.get(0)` — a trivial view function: the call machinery;
//! - `eth_call` of the identity precompile (`0x04`) with calldata as long as the inference's —
//!   moving and decoding 3 KB of calldata;
//! - `eth_call` of `infer` on the 784-256-10 MLP, one sample;
//!
//! and, in the same run, ONNX Runtime's own `Session::run` of the same model and input (one
//! intra-op thread, input built and output copied out, as any caller must). The rounds
//! interleave the five so that drift touches all alike. The stage breakdown is the difference
//! of neighbouring rows; the aim (issue 16) is `infer − Storage.get ≤ 1.5 × ONNX Runtime`.
//!
//! Run: `./dev bench call` (or `cargo bench -p anh --bench call`). `ANH_BENCH_CALLS` sets the
//! calls per round (default 500; 5 rounds). To profile the node: `ANH_BENCH_PROFILE=SECS` sends
//! only `infer` calls (or the row `ANH_BENCH_PROFILE_ROW`, 0-3) for that long, after printing
//! the node's process id (for `perf record -g -p PID`). `ANH_BENCH_NODE=PATH` runs another `anh` binary (an older build,
//! to compare before and after a change).

mod common;

use alloy::{
    primitives::{Address, B256, Bytes},
    sol,
    sol_types::SolCall,
};
use anh_precompiles::abi::{IInfer, IModelRegistry, Tensor};
use common::{call, start};
use serde_json::{Value, json};
use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

sol! {
    function get(uint256 key) external view returns (uint256);
}

const SENDER: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const ROUNDS: usize = 5;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn bytecode(name: &str) -> String {
    let path = repo().join("contracts/out").join(format!("{name}.json"));
    let json: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    json["bytecode"].as_str().unwrap().to_string()
}

async fn mined(client: &reqwest::Client, url: &str, tx: Value) -> Value {
    let hash = call(client, url, "eth_sendTransaction", json!([tx])).await;
    for _ in 0..500 {
        let receipt = call(client, url, "eth_getTransactionReceipt", json!([hash])).await;
        if !receipt.is_null() {
            assert_eq!(receipt["status"], "0x1", "{receipt}");
            return receipt;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("transaction {hash} not mined");
}

fn input() -> Vec<f32> {
    (0..784).map(|i| ((i * 37) % 255) as f32 / 255.0 - 0.5).collect()
}

/// Median of `calls` sends of `body` (µs each).
async fn time_rpc(client: &reqwest::Client, url: &str, body: &Value, calls: usize) -> f64 {
    let mut times = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        let reply: Value = client.post(url).json(body).send().await.unwrap().json().await.unwrap();
        times.push(started.elapsed().as_secs_f64() * 1e6);
        assert!(reply.get("error").is_none(), "{reply}");
    }
    median(times)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let calls: usize =
        std::env::var("ANH_BENCH_CALLS").ok().and_then(|v| v.parse().ok()).unwrap_or(500);
    let program = std::env::var_os("ANH_BENCH_NODE")
        .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_anh")), PathBuf::from);
    let node = start(&program, &["node"], "Listening on");
    let url = node.url.clone();
    let client = reqwest::Client::new();

    // A Storage contract, and the MLP uploaded and registered.
    let receipt = mined(
        &client,
        &url,
        json!({ "from": SENDER, "data": bytecode("Storage"), "gas": "0x200000" }),
    )
    .await;
    let storage: Address = receipt["contractAddress"].as_str().unwrap().parse().unwrap();
    let model_path = repo().join("runtime/testdata/mlp_784_256_10.onnx");
    let model_bytes = std::fs::read(&model_path).unwrap();
    let model: B256 = serde_json::from_value(
        call(&client, &url, "anh_putModel", json!([Bytes::from(model_bytes)])).await,
    )
    .unwrap();
    let register = IModelRegistry::registerCall { model, name: "mlp".into() }.abi_encode();
    mined(&client, &url, json!({ "from": SENDER, "to": anh_precompiles::registry::ADDRESS, "data": Bytes::from(register), "gas": "0x1000000" })).await;

    let x = input();
    let tensor = Tensor {
        dtype: 1,
        shape: vec![1, 784],
        data: x.iter().flat_map(|v| v.to_be_bytes()).collect::<Vec<u8>>().into(),
    };
    let infer = Bytes::from(IInfer::inferCall { model, inputs: vec![tensor] }.abi_encode());
    let envelope = |params: Value, method: &str| json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
    let bodies = [
        ("eth_chainId", envelope(json!([]), "eth_chainId")),
        (
            "eth_call Storage.get(0)",
            envelope(
                json!([{ "to": storage, "data": Bytes::from(getCall { key: alloy::primitives::U256::ZERO }.abi_encode()) }, "latest"]),
                "eth_call",
            ),
        ),
        (
            "eth_call identity precompile, same calldata",
            envelope(
                json!([{ "to": Address::with_last_byte(4), "data": infer.clone() }, "latest"]),
                "eth_call",
            ),
        ),
        (
            "eth_call infer (MLP 784-256-10)",
            envelope(
                json!([{ "to": anh_precompiles::infer::ADDRESS, "data": infer.clone() }, "latest"]),
                "eth_call",
            ),
        ),
    ];

    if let Some(secs) = std::env::var("ANH_BENCH_PROFILE").ok().and_then(|v| v.parse().ok()) {
        let row = std::env::var("ANH_BENCH_PROFILE_ROW").ok().and_then(|v| v.parse().ok());
        let (name, body) = &bodies[row.unwrap_or(3).min(bodies.len() - 1)];
        println!("node pid {}: sending {name} for {secs} s", node.pid());
        let (until, mut sent) = (Instant::now() + Duration::from_secs(secs), 0);
        while Instant::now() < until {
            time_rpc(&client, &url, body, 100).await;
            sent += 100;
        }
        println!("sent {sent}");
        return;
    }

    // ONNX Runtime directly.
    let environment = anh_runtime::ort_environment().expect("ONNX Runtime: ./dev setup");
    let mut session = ort::session::Session::builder(environment)
        .unwrap()
        .with_optimization_level(ort::session::builder::GraphOptimizationLevel::All)
        .unwrap()
        .with_intra_threads(1)
        .unwrap()
        .with_inter_threads(1)
        .unwrap()
        .commit_from_file(&model_path)
        .unwrap();
    let input_name = session.inputs()[0].name().to_string();
    let mut raw = || {
        let value = ort::value::Tensor::from_array((vec![1i64, 784], x.clone())).unwrap();
        let outputs = session.run(ort::inputs![input_name.as_str() => value]).unwrap();
        let (_, y) = outputs[0].try_extract_tensor::<f32>().unwrap();
        std::hint::black_box(y.to_vec());
    };
    for _ in 0..100 {
        raw();
    }

    let mut results: Vec<Vec<f64>> = vec![Vec::new(); bodies.len() + 1];
    for (_, body) in &bodies {
        time_rpc(&client, &url, body, 50).await;
    }
    for _ in 0..ROUNDS {
        for (i, (_, body)) in bodies.iter().enumerate() {
            results[i].push(time_rpc(&client, &url, body, calls).await);
        }
        let mut times = Vec::with_capacity(calls);
        for _ in 0..calls {
            let started = Instant::now();
            raw();
            times.push(started.elapsed().as_secs_f64() * 1e6);
        }
        results[bodies.len()].push(median(times));
    }
    let m: Vec<f64> = results.into_iter().map(median).collect();
    println!(
        "\neth_call of infer over HTTP (one keep-alive connection), {ROUNDS} rounds of {calls} calls each, medians:\n"
    );
    println!("| request | µs | above the previous row (µs) |");
    println!("|---|---:|---:|");
    let mut previous = None;
    for (i, (name, _)) in bodies.iter().enumerate() {
        let above = previous.map_or(String::new(), |p: f64| format!("{:+.1}", m[i] - p));
        println!("| {name} | {:.1} | {above} |", m[i]);
        previous = Some(m[i]);
    }
    let raw_us = m[bodies.len()];
    println!("| ONNX Runtime `Session::run`, same model and input | {raw_us:.1} | |");
    let dnn = m[3] - m[1];
    println!(
        "\ninfer − Storage.get = {dnn:.1} µs = {:.2}× ONNX Runtime's run (aim: ≤ 1.5×)",
        dnn / raw_us
    );
}
