//! The executor committee, measured side by side in one run:
//!
//! (a) building a block of 50 `infer` transactions on a 10.24 MMAC model (the committee
//!     computes every job) against importing the same block in Replay mode (the node checks
//!     the committee's signatures and runs no model);
//! (b) inference through a committee of 3 (threshold 2, in process) against inference on the
//!     node's own runtime, for that model and for the 784-256-10 MLP: one call settled on its
//!     own, and 50 calls settled in one block as the node builds blocks (optimistic answers,
//!     one block round).
//!
//! Run: `./dev bench committee` (or `cargo bench -p anh --bench committee`).

use alloy::{
    primitives::{Address, B256, Bytes},
    sol_types::SolCall,
};
use anh::{CommitteeOptions, NodeConfig};
use anh_evm_host::{Backend, Block, EvmConfig, GenesisConfig, MiningMode, evm::DnnModes};
use anh_executor::{
    CommitteeConfig, CommitteeOracle, Executor, LocalMember, Member, dev_executor_keys,
};
use anh_precompiles::{
    CallContext, Committee, Dnn, DnnOracle, HostTensor, InferRequest, JobLedger, ModelInfo,
    OracleError, Rule, TensorData,
    abi::{IInfer, IModelRegistry},
    dtype, infer, registry,
};
use anh_runtime::{
    LocalOracle, ModelRuntime, ModelSource, ModelStore, OrtRuntime, RuntimeConfig, synth,
};
mod common;

use common::{MNEMONIC, call as rpc};
use serde_json::{Value, json};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

const K: i64 = 3200;
const N: i64 = 3200;
const TXS: usize = 50;
/// Replays of the block, each on a fresh backend; the median is reported.
const REPLAYS: usize = 5;

/// A distinct input per seed (below 10^6): identical calls would be answered from the
/// executors' result caches, not computed.
fn input(seed: usize, k: i64) -> HostTensor {
    let offset = (seed % 1_000_000) as f32 * 1e-6;
    let x: Vec<f32> =
        (0..k).map(|i| ((i as usize * 31 + seed * 7) % 97) as f32 / 97.0 + offset).collect();
    HostTensor::new(vec![1, k as u64], TensorData::F32(x)).unwrap()
}

fn signed(sender: usize, nonce: u64, to: Address, data: Vec<u8>, gas: u64) -> String {
    common::sign(&common::dev_signer(sender as u32), nonce, to, data.into(), gas).0
}

/// An oracle with no models: replaying never asks it.
#[derive(Debug)]
struct NoModels;

impl DnnOracle for NoModels {
    fn model_info(&self, model: B256) -> Result<ModelInfo, OracleError> {
        Err(OracleError::ModelUnavailable(model))
    }
    fn infer(&self, request: InferRequest<'_>) -> Result<Vec<HostTensor>, OracleError> {
        Err(OracleError::ModelUnavailable(request.model))
    }
}

/// (a): build time and replay time of one block of `TXS` inferences.
fn build_vs_replay(
    runtime: &tokio::runtime::Runtime,
    model_bytes: Vec<u8>,
    k: i64,
) -> (Duration, Duration, usize) {
    let (node, url) = runtime.block_on(async {
        let config = NodeConfig { mining: MiningMode::Manual, ..NodeConfig::test() };
        let node = anh::spawn(config).await.expect("node");
        let url = node.http_endpoint();
        (node, url)
    });
    let client = reqwest::Client::new();
    let model: B256 = runtime.block_on(async {
        let put: Value = client
            .put(format!("{url}/models"))
            .body(model_bytes)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        put["hash"].as_str().unwrap().parse().unwrap()
    });
    let register = IModelRegistry::registerCall { model, name: "matmul".into() }.abi_encode();
    let call = |i: usize| -> Vec<u8> {
        let inputs = vec![dtype::encode(&input(i, k), None).unwrap()];
        IInfer::inferCall { model, inputs }.abi_encode()
    };
    runtime.block_on(async {
        rpc(
            &client,
            &url,
            "eth_sendRawTransaction",
            json!([signed(0, 0, registry::ADDRESS, register, 3_000_000)]),
        )
        .await;
        rpc(&client, &url, "evm_mine", json!([])).await;
        // Warm-up block: the executors' ONNX Runtime sessions are created (and the model file
        // hashed) on first use, and the model enters the chain's warm set (the first call pays
        // its cold load, about 8 M gas for this 40 MB model); the measured block runs in steady
        // state.
        for i in 0..2 {
            let tx = signed(9, i as u64, infer::ADDRESS, call(1_000 + i), 12_000_000);
            rpc(&client, &url, "eth_sendRawTransaction", json!([tx])).await;
        }
        rpc(&client, &url, "evm_mine", json!([])).await;
        for i in 0..TXS {
            let (sender, nonce) = (i % 9, (i / 9) as u64 + u64::from(i % 9 == 0));
            let tx = signed(sender, nonce, infer::ADDRESS, call(i), 600_000);
            rpc(&client, &url, "eth_sendRawTransaction", json!([tx])).await;
        }
    });
    let started = Instant::now();
    runtime.block_on(rpc(&client, &url, "evm_mine", json!([])));
    let build = started.elapsed();

    // Replay: a fresh backend with the same genesis and no models at all.
    let (genesis, blocks) = runtime.block_on(async {
        let config = rpc(&client, &url, "anh_chainConfig", json!([])).await;
        let genesis: GenesisConfig = serde_json::from_value(config["genesis"].clone()).unwrap();
        let mut blocks = Vec::new();
        for n in 1..=3u64 {
            let raw: Bytes = serde_json::from_value(
                rpc(&client, &url, "anh_getRawBlock", json!([format!("{n:#x}")])).await,
            )
            .unwrap();
            blocks.push(Block::decode(&raw).unwrap());
        }
        (genesis, blocks)
    });
    // Each replay on a fresh backend (blocks 1 and 2 imported untimed); the median of
    // `REPLAYS` (ANH_BENCH_REPLAYS, for a profiler: more of them).
    let replays =
        std::env::var("ANH_BENCH_REPLAYS").ok().and_then(|s| s.parse().ok()).unwrap_or(REPLAYS);
    let txs = blocks[2].transactions.len();
    assert_eq!(txs, TXS, "every inference made it into the block");
    assert!(blocks[2].transactions.iter().all(|t| t.receipt.status()), "and succeeded");
    let mut times: Vec<Duration> = (0..replays)
        .map(|_| {
            let committee = genesis.committee.clone().unwrap();
            let none = Arc::new(Dnn::new(Arc::new(NoModels)));
            let modes = DnnModes { call: none.clone(), build: none, ledger: None, committee };
            let replayer = Backend::new(
                anh_evm_host::NodeConfig { genesis: genesis.clone(), ..Default::default() },
                EvmConfig::new(31337, modes),
            )
            .unwrap();
            replayer.import_block(blocks[0].clone()).unwrap();
            replayer.import_block(blocks[1].clone()).unwrap();
            let block = blocks[2].clone();
            let started = Instant::now();
            replayer.import_block(block).expect("the replay matches");
            started.elapsed()
        })
        .collect();
    times.sort();
    let replay = times[times.len() / 2];
    drop(node);
    (build, replay, txs)
}

/// (b): mean latency of one inference, local and through the committee.
fn latency(
    runtime: &tokio::runtime::Runtime,
    model_bytes: &[u8],
    k: i64,
    runs: usize,
) -> (f64, Duration, Duration, Duration) {
    let store = Arc::new(ModelStore::temporary().unwrap());
    let info = store.put(model_bytes).unwrap();
    let ort: Arc<dyn ModelRuntime> =
        Arc::new(OrtRuntime::new(store.clone(), RuntimeConfig::default()).unwrap());
    let source: Arc<dyn ModelSource> = store;
    let local = LocalOracle::new(source.clone(), ort.clone());
    let members: Vec<Arc<dyn Member>> = dev_executor_keys(MNEMONIC, 3)
        .unwrap()
        .into_iter()
        .map(|key| {
            Arc::new(LocalMember::new(Arc::new(Executor::new(key, ort.clone(), source.clone()))))
                as Arc<dyn Member>
        })
        .collect();
    let committee = Committee {
        members: members.iter().map(|m| m.address()).collect(),
        threshold: 2,
        default_rule: CommitteeOptions::DEFAULT_RULE,
    };
    let config =
        CommitteeConfig { committee, members, chain_id: 31337, timeout: Duration::from_secs(30) };
    let oracle = CommitteeOracle::new(config.clone(), runtime.handle().clone()).unwrap();
    // As the node builds blocks: one member answers each call, one round seals the block.
    let optimistic = CommitteeOracle::new(config, runtime.handle().clone()).unwrap().optimistic();
    let request = |i: usize| InferRequest {
        model: info.hash,
        info: &info,
        inputs: vec![input(i, k)],
        context: CallContext { chain_id: 31337, block_number: 1 },
        rule: Rule::DEFAULT,
    };
    for i in 0..20 {
        local.infer(request(i)).unwrap();
        oracle.infer(request(i + 100_000)).unwrap();
        oracle.take_records();
    }
    let (mut a, mut b) = (Duration::ZERO, Duration::ZERO);
    for i in 0..runs {
        let t = Instant::now();
        std::hint::black_box(local.infer(request(2 * i + 1_000)).unwrap());
        a += t.elapsed();
        let t = Instant::now();
        std::hint::black_box(oracle.infer(request(2 * i + 1_001)).unwrap());
        b += t.elapsed();
        oracle.take_records();
    }
    // Blocks of TXS calls: each call answered, then the block sealed.
    let blocks = (runs / TXS).max(2);
    let mut c = Duration::ZERO;
    for block in 0..=blocks {
        let t = Instant::now();
        for i in 0..TXS {
            std::hint::black_box(optimistic.infer(request(500_000 + block * TXS + i)).unwrap());
        }
        let sealed = optimistic.seal(block as u64 + 1, B256::ZERO).expect("an honest committee");
        assert_eq!(sealed.1.signatures.len(), 2, "sealed by the block round");
        // The first block warms the second member's sessions.
        if block > 0 {
            c += t.elapsed();
        }
    }
    (info.macs() as f64 / 1e6, a / runs as u32, b / runs as u32, c / (blocks * TXS) as u32)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let scenarios = [
        ("MatMul 3200×3200, 12.8 KB in and out", 10.24, synth::matmul(K, N), K),
        (
            "deep MLP, 64 layers of 1024×1024, 4 KB in and out",
            67.1,
            synth::deep_mlp(1024, 64),
            1024,
        ),
    ];
    let mut rows = Vec::new();
    for (name, mmac, bytes, k) in scenarios {
        let (build, replay, txs) = build_vs_replay(&runtime, bytes, k);
        rows.push((name, mmac, txs, build, replay));
    }
    println!(
        "\n(a) One block of {TXS} `infer` transactions, committee of 3 in process (threshold 2): building it (the committee computes and signs; 2 executors per job) against replaying it (signatures checked, no model run)\n"
    );
    println!(
        "| model | MMAC per call | build (ms) | replay (ms) | replay is cheaper by |\n|---|---:|---:|---:|---:|"
    );
    for (name, mmac, txs, build, replay) in rows {
        assert_eq!(txs, TXS);
        println!(
            "| {name} | {mmac:.1} | {:.1} | {:.1} | {:.0}× |",
            ms(build),
            ms(replay),
            build.as_secs_f64() / replay.as_secs_f64()
        );
    }

    let mlp = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../runtime/testdata/mlp_784_256_10.onnx"
    ))
    .unwrap();
    let rows = [
        ("MatMul 3200×3200", latency(&runtime, &synth::matmul(K, N), K, 200)),
        ("MLP 784-256-10", latency(&runtime, &mlp, 784, 2000)),
    ];
    println!(
        "\n(b) Inference on the node's own runtime against a committee of 3 in process (threshold 2), mean per call: one call settled on its own (two rounds), and {TXS} calls settled in one block as the node builds blocks (one member answers each call, one block round)\n"
    );
    println!(
        "| model | MMAC | local (µs) | committee, one call (µs) | / local | committee, {TXS} in a block (µs per call) | / local |\n|---|---:|---:|---:|---:|---:|---:|"
    );
    for (name, (mmac, local, committee, block)) in rows {
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        println!(
            "| {name} | {mmac:.2} | {:.0} | {:.0} | {:.2}× | {:.0} | {:.2}× |",
            us(local),
            us(committee),
            us(committee) / us(local),
            us(block),
            us(block) / us(local)
        );
    }
}
