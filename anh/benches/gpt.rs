//! GPT-class transformers on chain, measured side by side in one run:
//!
//! (a) a GPT-2-small-shaped model (`anh_runtime::synth::gpt`: 12 layers, d 768, 12 heads,
//!     vocabulary 8 192, context 1 024, untied LM head, random weights — ≈ 98 M parameters,
//!     394 MB) uploaded with `PUT /models` and registered; an `infer` transaction on 32 tokens
//!     mined by the in-process committee (gas and wall time, first with the model cold — its
//!     load is paid — then warm); the same inference by `eth_call` against ONNX Runtime run
//!     directly (`OrtRuntime::run` with the node's settings), medians; then a `trainOnly`
//!     transaction fine-tuning its LM head (one SGD step on 32 tokens), and what the node's
//!     store keeps of the new model (a delta);
//! (b) one training step (next-token cross-entropy, Adam) of a small transformer (2 layers,
//!     d 128, 4 heads, vocabulary 256) against one forward pass, batch 8 × 32 tokens, through
//!     `OrtRuntime` (a step is the time of 21 steps less that of 1, over 20).
//!
//! (c) one training step of the GPT-2-small-shaped model on one 32-token sequence (next-token
//!     cross-entropy, Adam), three ways, side by side: the whole model (`train`), its LM head
//!     only (`trainOnly`), and rank-8 LoRA adapters on the last block's MLP weights
//!     (`trainAdapters`): the call's gas (the schedule's price, before its registry reads and
//!     cold loads), the wall time of `OrtRuntime::train` once its step graph and session are
//!     cached, the bytes of the model file it writes, and what the model store keeps of it (a
//!     delta of the parent where training changed only part of it).
//!
//! The chain's block gas limit is raised to 300 M: the big model's first use pays its cold
//! load (`30 000 + 200 gas per KiB`, ≈ 77 M gas), which is more than a 30 M block holds.
//!
//! Run: `./dev bench gpt` (or `cargo bench -p anh --bench gpt`). `ANH_BENCH_CALLS` sets the
//! `eth_call`s and direct runs timed (default 10); `ANH_BENCH_PARTS` the parts run (default
//! `abc`).

mod common;

use alloy::{
    primitives::{B256, Bytes},
    sol_types::SolCall,
};
use anh::NodeConfig;
use anh_evm_host::GenesisConfig;
use anh_precompiles::{
    HostTensor, TensorData, TrainParams,
    abi::{IInfer, IModelRegistry, ITrain},
    dtype, infer, registry, train,
};
use anh_runtime::{
    ModelRuntime, ModelStore, OrtRuntime, RuntimeConfig,
    synth::{GptSpec, gpt},
};
use common::call as rpc;
use serde_json::{Value, json};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

const GPT2_SMALL: GptSpec =
    GptSpec { layers: 12, d_model: 768, heads: 12, vocab: 8192, context: 1024, seed: 1 };
const SMALL: GptSpec =
    GptSpec { layers: 2, d_model: 128, heads: 4, vocab: 256, context: 64, seed: 2 };
const TOKENS: usize = 32;
const GAS_LIMIT: u64 = 300_000_000;

fn tokens(batch: usize, seq: usize, vocab: i64, seed: usize) -> HostTensor {
    let ids: Vec<i64> =
        (0..batch * seq).map(|i| ((i * 7919 + seed * 104_729) % vocab as usize) as i64).collect();
    HostTensor::new(vec![batch as u64, seq as u64], TensorData::I64(ids)).unwrap()
}

fn parameters(spec: GptSpec) -> i64 {
    let d = spec.d_model;
    let block = 12 * d * d + 13 * d;
    spec.vocab * d * 2 + spec.context * d + spec.layers as i64 * block + 2 * d
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Sends a signed transaction from dev account 0 and waits for its receipt.
async fn mined(
    client: &reqwest::Client,
    url: &str,
    nonce: u64,
    to: alloy::primitives::Address,
    data: Vec<u8>,
) -> (Value, Duration) {
    let signer = common::dev_signer(0);
    let (raw, _) = common::sign(&signer, nonce, to, data.into(), GAS_LIMIT - 1_000_000);
    let started = Instant::now();
    let hash = rpc(client, url, "eth_sendRawTransaction", json!([raw])).await;
    loop {
        let receipt = rpc(client, url, "eth_getTransactionReceipt", json!([hash])).await;
        if !receipt.is_null() {
            assert_eq!(receipt["status"], "0x1", "{receipt}");
            return (receipt, started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn gas(receipt: &Value) -> u64 {
    u64::from_str_radix(receipt["gasUsed"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

fn big_model(runtime: &tokio::runtime::Runtime, calls: usize) {
    let started = Instant::now();
    let bytes = gpt(GPT2_SMALL);
    let built = started.elapsed();
    println!(
        "\n(a) GPT-2-small-shaped: {} layers, d {}, {} heads, vocabulary {}, context {}: {:.1} M \
         parameters, {:.0} MB (built in {:.1} s)\n",
        GPT2_SMALL.layers,
        GPT2_SMALL.d_model,
        GPT2_SMALL.heads,
        GPT2_SMALL.vocab,
        GPT2_SMALL.context,
        parameters(GPT2_SMALL) as f64 / 1e6,
        bytes.len() as f64 / 1e6,
        built.as_secs_f64()
    );
    let input = tokens(1, TOKENS, GPT2_SMALL.vocab, 1);
    let call =
        IInfer::inferCall { model: B256::ZERO, inputs: vec![dtype::encode(&input, None).unwrap()] };

    // ONNX Runtime directly, with the node's settings.
    let store = Arc::new(ModelStore::temporary().unwrap());
    let model = store.put(&bytes).unwrap().hash;
    let direct = OrtRuntime::new(store, RuntimeConfig::default()).unwrap();
    direct.run(model, vec![input.clone()]).unwrap();
    let direct_times: Vec<Duration> = (0..calls)
        .map(|_| {
            let t = Instant::now();
            direct.run(model, vec![input.clone()]).unwrap();
            t.elapsed()
        })
        .collect();
    drop(direct);

    let client = reqwest::Client::new();
    let (upload, register_time, cold, warm, call_times, trained, stored) = runtime.block_on(async {
        let genesis = GenesisConfig { gas_limit: GAS_LIMIT, ..GenesisConfig::default() };
        let node = anh::spawn(NodeConfig { genesis, ..NodeConfig::test() }).await.expect("node");
        let url = node.http_endpoint();
        let t = Instant::now();
        let put: Value =
            client.put(format!("{url}/models")).body(bytes).send().await.unwrap().json().await.unwrap();
        let upload = t.elapsed();
        let hash: B256 = put["hash"].as_str().unwrap_or_else(|| panic!("{put}")).parse().unwrap();
        assert_eq!(hash, model);
        let register = IModelRegistry::registerCall { model, name: "gpt2-small".into() };
        let (_, register_time) =
            mined(&client, &url, 0, registry::ADDRESS, register.abi_encode()).await;
        let data = IInfer::inferCall { model, ..call.clone() }.abi_encode();
        let cold = mined(&client, &url, 1, infer::ADDRESS, data.clone()).await;
        // Other tokens: the committee remembers the results of the jobs it settled.
        let other = tokens(1, TOKENS, GPT2_SMALL.vocab, 2);
        let other = vec![dtype::encode(&other, None).unwrap()];
        let other = IInfer::inferCall { model, inputs: other }.abi_encode();
        let warm = mined(&client, &url, 2, infer::ADDRESS, other).await;
        let request = json!([{ "to": infer::ADDRESS, "data": Bytes::from(data), "gas": format!("{:#x}", GAS_LIMIT - 1_000_000) }, "latest"]);
        rpc(&client, &url, "eth_call", request.clone()).await;
        let mut call_times = Vec::new();
        for _ in 0..calls {
            let t = Instant::now();
            rpc(&client, &url, "eth_call", request.clone()).await;
            call_times.push(t.elapsed());
        }
        // Fine-tuning by transaction: the LM head only, one SGD step on the next tokens.
        let x = tokens(1, TOKENS, GPT2_SMALL.vocab, 5);
        let TensorData::I64(ids) = x.data() else { unreachable!() };
        let next: Vec<i64> = ids.iter().map(|t| (t + 1) % GPT2_SMALL.vocab).collect();
        let y = HostTensor::new(vec![1, TOKENS as u64], TensorData::I64(next)).unwrap();
        let head = ITrain::trainOnlyCall {
            model,
            batch: vec![dtype::encode(&x, None).unwrap(), dtype::encode(&y, None).unwrap()],
            params: anh_precompiles::abi::TrainParams {
                steps: 1,
                learningRate: 10u64.pow(16),
                loss: 2,
                optimizer: 1,
            },
            trainable: vec!["lm_head".into()],
        };
        let trained = mined(&client, &url, 3, train::ADDRESS, head.abi_encode()).await;
        let log = &trained.0["logs"][0];
        let new_model: B256 = log["topics"][2].as_str().unwrap().parse().unwrap();
        let store = node.models().store();
        let stored = (store.stored_size(&new_model), store.is_delta(&new_model));
        drop(node);
        (upload, register_time, cold, warm, call_times, trained, stored)
    });
    println!("| step | gas | wall time (ms) |");
    println!("|---|---:|---:|");
    println!("| `PUT /models` (upload, hash, analysis) | — | {:.0} |", ms(upload));
    println!("| `register` transaction | — | {:.0} |", ms(register_time));
    println!(
        "| `infer` transaction, 32 tokens, model cold (its load paid) | {} | {:.0} |",
        gas(&cold.0),
        ms(cold.1)
    );
    println!(
        "| `infer` transaction, 32 tokens, model warm | {} | {:.0} |",
        gas(&warm.0),
        ms(warm.1)
    );
    println!(
        "| `trainOnly` transaction, LM head, 1 SGD step on 32 tokens | {} | {:.0} |",
        gas(&trained.0),
        ms(trained.1)
    );
    println!(
        "\nThe trained model in the node's store: {} bytes{}",
        stored.0,
        if stored.1 { " (a delta of its parent)" } else { "" }
    );
    let (call_ms, direct_ms) = (ms(median(call_times)), ms(median(direct_times)));
    println!("\n| 32 tokens, one sequence (median of {calls}) | ms |");
    println!("|---|---:|");
    println!("| `eth_call` of `infer` (HTTP, EVM, precompile, ONNX Runtime) | {call_ms:.1} |");
    println!("| ONNX Runtime directly (`OrtRuntime::run`) | {direct_ms:.1} |");
    println!("| `eth_call` / direct | {:.2}× |", call_ms / direct_ms);
}

fn step_vs_forward() {
    let (batch, seq) = (8, 32);
    let bytes = gpt(SMALL);
    let store = Arc::new(ModelStore::temporary().unwrap());
    let model = store.put(&bytes).unwrap().hash;
    let runtime = OrtRuntime::new(store, RuntimeConfig::default()).unwrap();
    let x = tokens(batch, seq, SMALL.vocab, 3);
    let TensorData::I64(ids) = x.data() else { unreachable!() };
    let next: Vec<i64> = ids.iter().map(|t| (t + 1) % SMALL.vocab).collect();
    let y = HostTensor::new(vec![batch as u64, seq as u64], TensorData::I64(next)).unwrap();
    runtime.run(model, vec![x.clone()]).unwrap();
    let forward = median(
        (0..30)
            .map(|_| {
                let t = Instant::now();
                runtime.run(model, vec![x.clone()]).unwrap();
                t.elapsed()
            })
            .collect(),
    );
    let params = |steps| TrainParams {
        steps,
        learning_rate: 10u64.pow(15),
        loss: 2,
        optimizer: 3,
        trainable: Vec::new(),
        rank: 0,
    };
    let train = |steps| {
        let t = Instant::now();
        runtime.train(model, vec![x.clone(), y.clone()], &params(steps), &|_, _| {}).unwrap();
        t.elapsed()
    };
    train(1);
    let mut steps = Vec::new();
    for _ in 0..3 {
        let (one, many) = (train(1), train(21));
        steps.push(many.saturating_sub(one) / 20);
    }
    let step = median(steps);
    println!(
        "\n(b) {}-layer transformer, d {}, {} heads, vocabulary {} ({:.2} M parameters), batch \
         {batch} × {seq} tokens, next-token cross-entropy, Adam\n",
        SMALL.layers,
        SMALL.d_model,
        SMALL.heads,
        SMALL.vocab,
        parameters(SMALL) as f64 / 1e6
    );
    println!("| forward (ms) | training step (ms) | step / forward |");
    println!("|---:|---:|---:|");
    println!("| {:.2} | {:.2} | {:.2}× |", ms(forward), ms(step), ms(step) / ms(forward));
}

fn partial_training() {
    let bytes = gpt(GPT2_SMALL);
    let size = bytes.len() as u64;
    // The whole model's file with Adam's state is three times the model: past the default
    // 512 MiB limit of a node's store (`--max-model-size`), so this store takes 2 GiB.
    let limits = anh_runtime::Limits { max_model_bytes: 2 << 30, ..anh_runtime::Limits::default() };
    let store = Arc::new(ModelStore::temporary_with_limits(limits).unwrap());
    let info = store.put(&bytes).unwrap();
    drop(bytes);
    let runtime = OrtRuntime::new(store.clone(), RuntimeConfig::default()).unwrap();
    let x = tokens(1, TOKENS, GPT2_SMALL.vocab, 4);
    let TensorData::I64(ids) = x.data() else { unreachable!() };
    let next: Vec<i64> = ids.iter().map(|t| (t + 1) % GPT2_SMALL.vocab).collect();
    let y = HostTensor::new(vec![1, TOKENS as u64], TensorData::I64(next)).unwrap();
    let batch_bytes = (2 * TOKENS * 8) as u64;
    let macs = info.cost.macs_at(&[1, TOKENS as u64]).unwrap();
    let schedule = anh_precompiles::GasSchedule::MEASURED;
    let record = anh_precompiles::registry::record_words(anh_precompiles::registry::LINEAGE_LEN);
    let base = TrainParams {
        steps: 1,
        learning_rate: 10u64.pow(15),
        loss: 2,
        optimizer: 3,
        trainable: Vec::new(),
        rank: 0,
    };
    let ways = [
        ("whole model (`train`)", base.clone()),
        (
            "LM head only (`trainOnly`, 6.3 M parameters)",
            base.clone().only(vec!["lm_head".into()]).unwrap(),
        ),
        (
            "rank-8 LoRA on the last block's MLP (`trainAdapters`)",
            base.adapters(vec!["l11_w_fc".into(), "l11_w_proj".into()], 8).unwrap(),
        ),
    ];
    println!(
        "\n(c) one Adam step of the GPT-2-small-shaped model ({:.0} MB) on 32 tokens\n",
        size as f64 / 1e6
    );
    println!("| what trains | gas | wall time (s) | new model file (bytes) | stored (bytes) |");
    println!("|---|---:|---:|---:|---:|");
    for (name, params) in ways {
        let work = if params.rank > 0 { macs * 2 } else { macs };
        let merge =
            if params.rank > 0 { schedule.adapter_merge(size, params.rank).unwrap() } else { 0 };
        let gas = schedule.train(0, batch_bytes, work, 1, record).unwrap()
            + merge
            + if params.rank > 0 {
                schedule.cold_model(size)
            } else {
                schedule.trained_model(size, params.optimizer)
            };
        let batch = vec![x.clone(), y.clone()];
        runtime.train(info.hash, batch.clone(), &params, &|_, _| {}).unwrap();
        let t = Instant::now();
        let out = runtime.train(info.hash, batch, &params, &|_, _| {}).unwrap();
        let wall = t.elapsed();
        let stored = store.put_with_parent(&out.model, Some(info.hash)).unwrap().hash;
        println!(
            "| {name} | {gas} | {:.2} | {} | {}{} |",
            wall.as_secs_f64(),
            out.model.len(),
            store.stored_size(&stored),
            if store.is_delta(&stored) { " (a delta)" } else { "" }
        );
    }
}

fn main() {
    let calls: usize =
        std::env::var("ANH_BENCH_CALLS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let parts = std::env::var("ANH_BENCH_PARTS").unwrap_or_else(|_| "abc".into());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    if parts.contains('b') {
        step_vs_forward();
    }
    if parts.contains('a') {
        big_model(&runtime, calls);
    }
    if parts.contains('c') {
        partial_training();
    }
}
