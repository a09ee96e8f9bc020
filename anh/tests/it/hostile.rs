//! Hostile clients: each path that takes work or memory from outside is tried past its bound
//! and answers its error, and honest traffic afterwards still works.
//!
//! - the transaction pool: a sender's queue behind a nonce gap, the pool's size;
//! - `eth_getLogs`: a query that matches more than 10 000 logs;
//! - a model run past the node's deadline (`--max-run-time`).

use crate::utils::*;
use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEnvelope},
    eips::eip2718::Encodable2718,
    primitives::{Address, B256, Bytes, TxKind, U256},
    signers::{SignerSync, local::PrivateKeySigner},
};
use anh::NodeConfig;
use anh_evm_host::{MiningMode, txpool::PoolLimits};
use serde_json::{Value, json};

/// A signed transfer of 1 wei from `key`'s account to `to` with `nonce`, as raw bytes.
fn transfer(key: &str, nonce: u64, to: Address) -> Bytes {
    let signer: PrivateKeySigner = key.parse().expect("a key");
    let tx = TxEip1559 {
        chain_id: 31337,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: 10_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(to),
        value: U256::from(1),
        ..Default::default()
    };
    let signature = signer.sign_hash_sync(&tx.signature_hash()).expect("signs");
    Bytes::from(TxEnvelope::from(tx.into_signed(signature)).encoded_2718())
}

async fn send_raw(url: &str, raw: &Bytes) -> Value {
    rpc(url, "eth_sendRawTransaction", json!([raw])).await
}

/// One sender floods the pool with future-nonce transactions: once 64 wait behind its nonce
/// gap, the next ones (up to 10 000 tried) answer geth's "account limit exceeded" with the
/// nonce that would close the gap, and nothing more is pooled. Another sender's transfer is
/// still mined, and the flooder's missing nonce still enters and unblocks its queue.
#[tokio::test(flavor = "multi_thread")]
async fn one_sender_cannot_fill_the_pool() {
    let node = node_with(NodeConfig::test()).await;
    let url = node.http_endpoint();
    let to = Address::repeat_byte(0x42);
    let mut refused = 0;
    for nonce in 1..=10_000u64 {
        let reply = send_raw(&url, &transfer(KEY1, nonce, to)).await;
        if nonce <= 64 {
            assert!(reply.get("result").is_some(), "nonce {nonce}: {reply}");
            continue;
        }
        let (code, message) = error_of(&reply);
        assert_eq!(code, -32000, "{reply}");
        assert_eq!(
            message,
            "account limit exceeded: 64 transactions of this sender already wait behind a nonce \
             gap; send nonce 0 first"
        );
        refused += 1;
        if refused == 200 {
            // The bound holds; the rest of the 10 000 would answer the same.
            break;
        }
    }
    let (pending, queued) = node.backend().pool_content();
    assert_eq!((pending.len(), queued.len()), (0, 64), "nothing past the bound was pooled");

    // Honest traffic goes on.
    let honest = send_raw(&url, &transfer(KEY0, 0, to)).await;
    let hash: B256 = serde_json::from_value(honest["result"].clone()).expect("pooled");
    let receipt = rpc(&url, "eth_getTransactionReceipt", json!([hash])).await;
    assert_eq!(receipt["result"]["status"], "0x1", "{receipt}");
    // The flooder's missing nonce closes the gap: its queue is mined.
    let gap = send_raw(&url, &transfer(KEY1, 0, to)).await;
    assert!(gap.get("result").is_some(), "{gap}");
    synced_pool(&node).await;
    let nonce = rpc(&url, "eth_getTransactionCount", json!([ADDR1, "latest"])).await;
    assert_eq!(nonce["result"], "0x41", "nonces 0 to 64 mined: {nonce}");
}

/// Waits until the pool is empty (the auto-miner mined everything ready).
async fn synced_pool(node: &anh::NodeHandle) {
    for _ in 0..200 {
        if node.backend().pool_content().0.is_empty() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the pool did not drain: {:?}", node.backend().pool_content().0.len());
}

/// With mining off and the pool at its size limit, a new transaction answers "txpool is full";
/// a replacement (same sender and nonce, fees raised 10 %) still enters, and once a block is
/// mined there is room again.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_pool_refuses_and_recovers() {
    let config = NodeConfig {
        mining: MiningMode::Manual,
        pool: PoolLimits { max_txs: 20, ..PoolLimits::default() },
        ..NodeConfig::test()
    };
    let node = node_with(config).await;
    let url = node.http_endpoint();
    let to = Address::repeat_byte(0x43);
    for nonce in 0..20 {
        let reply = send_raw(&url, &transfer(KEY0, nonce, to)).await;
        assert!(reply.get("result").is_some(), "{reply}");
    }
    let reply = send_raw(&url, &transfer(KEY1, 0, to)).await;
    assert_eq!(
        error_of(&reply),
        (-32000, "txpool is full: it holds 20 transactions, its limit".to_string())
    );
    rpc(&url, "evm_mine", json!([])).await;
    let reply = send_raw(&url, &transfer(KEY1, 0, to)).await;
    assert!(reply.get("result").is_some(), "room again after a block: {reply}");
}

/// Deploys `runtime` (under 256 bytes) from dev account 0; its address.
async fn deploy_runtime(url: &str, runtime: &[u8]) -> Address {
    let len = u8::try_from(runtime.len()).expect("a short runtime");
    // CODECOPY(0, 12, len); RETURN(0, len); then the runtime.
    let mut initcode = vec![0x60, len, 0x60, 12, 0x60, 0x00, 0x39, 0x60, len, 0x60, 0x00, 0xf3];
    initcode.extend(runtime);
    let deploy = json!([{ "from": ADDR0, "data": Bytes::from(initcode), "gas": "0x100000" }]);
    let hash = rpc(url, "eth_sendTransaction", deploy).await["result"].clone();
    let receipt = rpc(url, "eth_getTransactionReceipt", json!([hash])).await["result"].clone();
    serde_json::from_value(receipt["contractAddress"].clone()).expect("deployed")
}

/// Runtime code that emits `LOG0` 10 001 times (a loop on a counter), then stops.
const LOGGER_10001: [u8; 23] = [
    0x61, 0x27, 0x11, // PUSH2 10001
    0x5b, // JUMPDEST (3)
    0x80, 0x15, 0x60, 0x15, 0x57, // DUP1 ISZERO PUSH1 end JUMPI
    0x60, 0x00, 0x60, 0x00, 0xa0, // LOG0(0, 0)
    0x60, 0x01, 0x90, 0x03, // counter - 1
    0x60, 0x03, 0x56, // JUMP loop
    0x5b, 0x00, // JUMPDEST (21): STOP
];

/// A query that matches more than 10 000 logs answers -32005 with geth's wording and the
/// range it covered, instead of an unbounded array; a narrower filter still answers.
#[tokio::test(flavor = "multi_thread")]
async fn get_logs_caps_its_results() {
    let node = node_with(NodeConfig::test()).await;
    let url = node.http_endpoint();
    let logger = deploy_runtime(&url, &LOGGER_10001).await;
    let call = json!([{ "from": ADDR0, "to": logger, "gas": "0x7a1200" }]);
    let hash = rpc(&url, "eth_sendTransaction", call).await["result"].clone();
    let receipt = rpc(&url, "eth_getTransactionReceipt", json!([hash])).await["result"].clone();
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    assert_eq!(receipt["logs"].as_array().map(Vec::len), Some(10_001));

    let all = json!([{ "fromBlock": "0x0", "toBlock": "latest" }]);
    let (code, message) = rpc_error(&url, "eth_getLogs", all).await;
    assert_eq!(code, -32005);
    assert_eq!(
        message,
        "query returned more than 10000 results (blocks 0x0 to 0x2): narrow the block range or \
         the filter"
    );
    let narrow = json!([{ "fromBlock": "0x0", "toBlock": "latest", "address": ADDR1 }]);
    let reply = rpc(&url, "eth_getLogs", narrow).await;
    assert_eq!(reply["result"], json!([]), "{reply}");
}

/// A run that passes the node's deadline (here zero: every run) is stopped: an `eth_call`
/// reverts with `InferenceFailed` naming the deadline, and a transaction is left out of the
/// block — the executors answer a timeout, which is this node's clock and never a failure they
/// sign — while the worker is free for the next request.
#[tokio::test(flavor = "multi_thread")]
async fn runs_past_the_deadline_are_stopped() {
    let mut config = NodeConfig::test();
    config.dnn.max_run_time = std::time::Duration::ZERO;
    let node = node_with(config).await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    // Registration runs no model: it settles.
    let (model, consumer) = crate::committee::setup(&url, &provider).await;
    let run = Bytes::from(crate::committee::run_call(model, [0.5, -1.0, 2.0, 0.25]));

    let call = json!([{ "from": ADDR0, "to": consumer, "data": run }, "latest"]);
    for _ in 0..3 {
        let reply = rpc(&url, "eth_call", call.clone()).await;
        let (code, message) = error_of(&reply);
        assert_eq!(code, 3, "{reply}");
        assert!(
            message.starts_with(
                "execution reverted: InferenceFailed: ONNX Runtime stopped running model"
            ) && message.ends_with("this node's deadline for one run (--max-run-time)"),
            "{message}"
        );
    }
    let send = json!([{ "from": ADDR0, "to": consumer, "data": run, "gas": "0x2dc6c0" }]);
    let reply = rpc(&url, "eth_sendTransaction", send).await;
    let (code, message) = error_of(&reply);
    assert_eq!(code, -32000, "{reply}");
    assert!(message.contains("was left out of the block: no quorum for job"), "{message}");
}

/// An empty batch cannot be priced (gas scales with the symbolic sizes, a model's work need
/// not): a call whose symbolic dimension is 0 reverts `InputMismatch` saying so, and the same
/// call with a batch of 1 runs.
#[tokio::test(flavor = "multi_thread")]
async fn an_empty_batch_is_refused() {
    use alloy::sol_types::SolCall;
    use anh_precompiles::{
        abi::{IInfer, Tensor},
        infer,
    };
    let node = node_with(NodeConfig::test()).await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    let (model, _) = crate::committee::setup(&url, &provider).await;
    let call = |shape: Vec<u64>, data: Vec<u8>| {
        let inputs = vec![Tensor { dtype: 1, shape, data: data.into() }];
        let data = Bytes::from(IInfer::inferCall { model, inputs }.abi_encode());
        json!([{ "to": infer::ADDRESS, "data": data }, "latest"])
    };
    let (code, message) = rpc_error(&url, "eth_call", call(vec![0, 4], Vec::new())).await;
    assert_eq!(code, 3);
    assert_eq!(
        message,
        "execution reverted: InputMismatch: input 0: expected float32 [batch, 4] (symbolic \
         dimensions of at least 1), got float32 [0, 4]"
    );
    let one = rpc(&url, "eth_call", call(vec![1, 4], vec![0; 16])).await;
    assert!(one.get("result").is_some(), "{one}");
}

/// Uploads and registers `bytes`; the model's hash.
async fn install(
    url: &str,
    provider: &alloy::providers::DynProvider,
    bytes: Vec<u8>,
) -> alloy::primitives::B256 {
    use alloy::sol_types::SolCall;
    use anh_precompiles::{abi::IModelRegistry, registry};
    let put = rpc(url, "anh_putModel", json!([Bytes::from(bytes)])).await;
    let model = serde_json::from_value(put["result"].clone()).expect("uploaded");
    let register = IModelRegistry::registerCall { model, name: "m".into() }.abi_encode();
    let hash = crate::committee::submit(provider, registry::ADDRESS, register).await;
    assert!(crate::committee::receipt(provider, hash).await.status(), "registered");
    model
}

/// An output larger than the chain's tensor limit is not handed to the caller: the call
/// reverts `InferenceFailed` naming the output and the limit (outputs come from the record in
/// Replay, so every node decides alike).
#[tokio::test(flavor = "multi_thread")]
async fn outputs_past_the_tensor_limit_revert() {
    use alloy::sol_types::SolCall;
    use anh_precompiles::{
        abi::{IInfer, Tensor},
        infer,
    };
    let mut config = NodeConfig::test();
    config.genesis.dnn.max_tensor_elements = 100;
    let node = node_with(config).await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    // y[1, 200] = x[1, 1] · w[1, 200]: one input element, 200 output elements.
    let model = install(&url, &provider, anh_runtime::synth::matmul(1, 200)).await;
    let x = 1.0f32.to_be_bytes().to_vec();
    let inputs = vec![Tensor { dtype: 1, shape: vec![1, 1], data: x.into() }];
    let data = Bytes::from(IInfer::inferCall { model, inputs }.abi_encode());
    let (code, message) =
        rpc_error(&url, "eth_call", json!([{ "to": infer::ADDRESS, "data": data }, "latest"]))
            .await;
    assert_eq!(code, 3);
    assert_eq!(
        message,
        "execution reverted: InferenceFailed: output 0 (\"y\") has 200 elements, more than the \
         limit of 100"
    );
}

/// Work that grows faster than the batch is paid as it grows: the summed Gram matrix of 4 096
/// rows of 4 costs 5·4 096² + 4·4 096 MACs (about 483 000 gas). Priced per sample, as gas once
/// was, its compute would cost 10 gas: with 700 000 gas (about 280 000 of them the calldata's)
/// the call runs out of gas and the model never runs; with the quadratic price paid it runs.
/// The registry records the polynomial.
#[tokio::test(flavor = "multi_thread")]
async fn work_that_grows_faster_than_the_batch_pays_for_it() {
    use alloy::sol_types::SolCall;
    use anh_precompiles::{
        abi::{IInfer, IModelInfo, Tensor},
        infer, info,
    };
    let node = node_with(NodeConfig::test()).await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    let model = install(&url, &provider, anh_runtime::synth::gram_sum(4)).await;

    let data = Bytes::from(IModelInfo::modelInfoCall { model }.abi_encode());
    let reply =
        rpc(&url, "eth_call", json!([{ "to": info::ADDRESS, "data": data }, "latest"])).await;
    let raw: Bytes = serde_json::from_value(reply["result"].clone()).unwrap();
    let record = IModelInfo::modelInfoCall::abi_decode_returns(&raw).unwrap();
    // 4n + 5n²: 9, 28, 57 at n = 1, 2, 3, so Newton's form 9, 19, 10.
    assert_eq!(record.cost.degrees, vec![2]);
    assert_eq!(record.cost.coefficients, vec![9, 19, 10]);

    let rows = 4096u64;
    let call = |gas: u64| {
        let x = vec![0u8; (rows * 4 * 4) as usize];
        let inputs = vec![Tensor { dtype: 1, shape: vec![rows, 4], data: x.into() }];
        let data = Bytes::from(IInfer::inferCall { model, inputs }.abi_encode());
        json!([{ "to": infer::ADDRESS, "data": data, "gas": format!("{gas:#x}") }, "latest"])
    };
    let (_, message) = rpc_error(&url, "eth_call", call(700_000)).await;
    assert!(message.contains("out of gas"), "{message}");
    let ran = rpc(&url, "eth_call", call(2_000_000)).await;
    let out: Bytes = serde_json::from_value(ran["result"].clone()).expect("it runs");
    let outputs = IInfer::inferCall::abi_decode_returns(&out).unwrap();
    assert_eq!(outputs[0].shape, Vec::<u64>::new());
    let gas = rpc(&url, "eth_estimateGas", call(2_000_000)).await;
    let gas =
        u64::from_str_radix(gas["result"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    let compute = (5 * rows * rows + 4 * rows) * 7_200 / 1_000_000;
    assert!(gas > compute + 250_000, "estimate {gas}: calldata and the compute {compute}");
}

/// A model outside the chain's warm set pays for its load: the first call pays
/// `cold_model(size)` more than the next, and cycling more models than the set holds (here
/// 2) makes the first one cold again — each load it causes is paid for. An `eth_call` warms
/// nothing.
#[tokio::test(flavor = "multi_thread")]
async fn cycling_models_pays_for_every_load() {
    use alloy::sol_types::SolCall;
    use anh_precompiles::{
        abi::{IInfer, Tensor},
        gas::GasSchedule,
        infer,
    };
    let mut config = NodeConfig::test();
    config.genesis.dnn.gas.warm_models = 2;
    let node = node_with(config).await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    let mut models = Vec::new();
    for n in [2, 3, 4] {
        let bytes = anh_runtime::synth::matmul(1, n);
        let size = bytes.len() as u64;
        models.push((install(&url, &provider, bytes).await, size));
    }
    let call = |model| {
        let x = 1.0f32.to_be_bytes().to_vec();
        let inputs = vec![Tensor { dtype: 1, shape: vec![1, 1], data: x.into() }];
        IInfer::inferCall { model, inputs }.abi_encode()
    };
    let mined = |model| {
        let provider = provider.clone();
        let data = call(model);
        async move {
            let hash = crate::committee::submit(&provider, infer::ADDRESS, data).await;
            let receipt = crate::committee::receipt(&provider, hash).await;
            assert!(receipt.status(), "the inference is mined");
            receipt.gas_used
        }
    };
    let estimate = |model| {
        let data = Bytes::from(call(model));
        let url = url.clone();
        async move {
            let gas =
                rpc(&url, "eth_estimateGas", json!([{ "to": infer::ADDRESS, "data": data }])).await;
            u64::from_str_radix(gas["result"].as_str().unwrap().trim_start_matches("0x"), 16)
                .unwrap()
        }
    };
    let [(a, a_size), (b, _), (c, _)] = models[..] else { unreachable!() };
    let cold_a = GasSchedule::MEASURED.cold_model(a_size);
    assert!(cold_a >= GasSchedule::MEASURED.cold_model_base);

    let estimated = estimate(a).await;
    assert_eq!(estimate(a).await, estimated, "an eth_estimateGas warms nothing");
    let first = mined(a).await;
    let second = mined(a).await;
    assert_eq!(first - second, cold_a, "the first call paid the load, the second did not");
    assert!(estimated >= first, "the estimate covered the cold call: {estimated} < {first}");
    let warm_c = {
        mined(b).await;
        let cold = mined(c).await;
        cold - GasSchedule::MEASURED.cold_model(models[2].1)
    };
    // b and c were loaded after a: with a set of 2, a is cold again, and pays again.
    assert_eq!(mined(a).await, first, "a was pushed out of the warm set and pays its load again");
    // Loads so far: a, b, c, a — c is within the last 2, b is not.
    assert_eq!(mined(c).await, warm_c, "c is still warm");
    let (b_again, b_warm) = (mined(b).await, mined(b).await);
    assert_eq!(b_again - b_warm, GasSchedule::MEASURED.cold_model(models[1].1), "b was cold again");
}

/// With an upload token, `PUT /models` needs it (401 without it or with another one, naming
/// the header), `anh_putModel` — which cannot carry it — points to `PUT /models`, and
/// `anh model push --upload-token` uploads and registers.
#[tokio::test(flavor = "multi_thread")]
async fn uploads_need_the_token() {
    let mut config = NodeConfig::test();
    config.uploads.token = Some("s3cret".into());
    let node = node_with(config).await;
    let url = node.http_endpoint();
    let bytes = std::fs::read(testdata("mlp.onnx")).unwrap();
    let http = reqwest::Client::new();
    for token in [None, Some("guess")] {
        let mut request = http.put(format!("{url}/models")).body(bytes.clone());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{token:?}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(
            answer["error"],
            "model uploads on this node need its upload token: send it as `Authorization: \
             Bearer <token>` (anh model push --upload-token)"
        );
    }
    let (code, message) =
        rpc_error(&url, "anh_putModel", json!([Bytes::from(bytes.clone())])).await;
    assert_eq!(code, -32000);
    assert!(message.starts_with("anh_putModel cannot carry this node's upload token"), "{message}");
    assert!(node.models().store().models().unwrap().is_empty(), "nothing stored");

    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_anh"))
        .args(["model", "push"])
        .arg(testdata("mlp.onnx"))
        .args(["--name", "mlp", "--rpc-url", &url, "--upload-token", "s3cret"])
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("anh model push runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "anh model push failed: {stderr}");
    let hash = alloy::primitives::keccak256(&bytes);
    assert_eq!(String::from_utf8(output.stdout).unwrap(), format!("{hash}\n"));
}

/// A non-dev chain's node without an upload token takes no uploads.
#[tokio::test(flavor = "multi_thread")]
async fn non_dev_chain_uploads_are_closed_without_a_token() {
    let mut spec = anh::chain_spec(&NodeConfig::test()).await.unwrap();
    spec.dev = false;
    let node = node_with(NodeConfig { chain: Some(spec), ..NodeConfig::test() }).await;
    let url = node.http_endpoint();
    let bytes = std::fs::read(testdata("mlp.onnx")).unwrap();
    let response = reqwest::Client::new()
        .put(format!("{url}/models"))
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let answer: Value = response.json().await.unwrap();
    assert!(
        answer["error"].as_str().unwrap().starts_with("model uploads are closed on this chain"),
        "{answer}"
    );
    let (code, message) = rpc_error(&url, "anh_putModel", json!([Bytes::from(bytes)])).await;
    assert_eq!(code, -32000);
    assert!(message.starts_with("model uploads are closed on this chain"), "{message}");
}

/// The store's quota refuses an upload that would pass it (HTTP 507 with the sizes, -32000
/// over JSON-RPC) before anything is written; a model within it is stored.
#[tokio::test(flavor = "multi_thread")]
async fn the_model_store_has_a_quota() {
    let mlp = std::fs::read(testdata("mlp.onnx")).unwrap();
    let int64 = std::fs::read(testdata("int64.onnx")).unwrap();
    let mut config = NodeConfig::test();
    config.uploads.max_store_bytes = (mlp.len() + int64.len() / 2) as u64;
    let node = node_with(config).await;
    let url = node.http_endpoint();
    let http = reqwest::Client::new();
    let response = http.put(format!("{url}/models")).body(mlp.clone()).send().await.unwrap();
    assert_eq!(response.status(), 200, "within the quota");
    let response = http.put(format!("{url}/models")).body(int64.clone()).send().await.unwrap();
    assert_eq!(response.status(), 507);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(
        answer["error"],
        format!(
            "the model store is full: it holds {} bytes of models, and {} more would pass its \
             quota of {} (--max-store-size)",
            mlp.len(),
            int64.len(),
            mlp.len() + int64.len() / 2
        )
    );
    let (code, message) = rpc_error(&url, "anh_putModel", json!([Bytes::from(int64)])).await;
    assert_eq!(code, -32000);
    assert!(message.starts_with("the model store is full"), "{message}");
    assert_eq!(node.models().store().models().unwrap().len(), 1, "only the mlp");
    // The stored model again is no new bytes.
    let again = rpc(&url, "anh_putModel", json!([Bytes::from(mlp)])).await;
    assert!(again.get("result").is_some(), "{again}");
}

/// Uploads are analysed a few at a time: with one slot held by an upload whose body never
/// ends, the next answers 503 at once; once that connection is gone, uploads work again.
#[tokio::test(flavor = "multi_thread")]
async fn uploads_at_once_are_bounded() {
    let mut config = NodeConfig::test();
    config.uploads.max_concurrent = 1;
    let node = node_with(config).await;
    let url = node.http_endpoint();
    let host = url.trim_start_matches("http://").to_string();
    let stall = || stalled_upload(&host);
    let mut stalled = stall().await;
    let bytes = std::fs::read(testdata("mlp.onnx")).unwrap();
    let http = reqwest::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let answer = loop {
        let response = http.put(format!("{url}/models")).body(bytes.clone()).send().await.unwrap();
        if response.status() == 503 {
            break response.json::<Value>().await.unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "never busy: {}", response.status());
        // On a loaded machine the honest upload can reach the slot before the stalled one's
        // head is read, which then is the one refused (its connection answered): stall again.
        let mut byte = [0u8; 1];
        let wait = std::time::Duration::from_millis(10);
        if let Ok(Ok(_)) = tokio::time::timeout(wait, stalled.peek(&mut byte)).await {
            stalled = stall().await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(answer["error"], "1 model uploads are being analysed already: try again later");
    drop(stalled);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let response = http.put(format!("{url}/models")).body(bytes.clone()).send().await.unwrap();
        if response.status() == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the slot never came back");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// `register` charges the smallest record it could write before the committee analyses the
/// model: a registration whose gas cannot pay for it runs out of gas with no job settled (its
/// block carries no record), and with enough gas it registers, settling one job.
#[tokio::test(flavor = "multi_thread")]
async fn register_pays_before_the_committee_works() {
    use alloy::sol_types::SolCall;
    use anh_precompiles::{abi::IModelRegistry, registry};
    let node = node_with(NodeConfig::test()).await;
    let url = node.http_endpoint();
    let bytes = std::fs::read(testdata("mlp.onnx")).unwrap();
    let put = rpc(&url, "anh_putModel", json!([Bytes::from(bytes)])).await;
    let model: B256 = serde_json::from_value(put["result"].clone()).expect("stored");
    let register =
        Bytes::from(IModelRegistry::registerCall { model, name: "mlp".into() }.abi_encode());
    let mut blocks = Vec::new();
    for (gas, status) in [(150_000u64, "0x0"), (3_000_000, "0x1")] {
        let send = json!([{ "from": ADDR0, "to": registry::ADDRESS, "data": register, "gas": format!("{gas:#x}") }]);
        let hash = rpc(&url, "eth_sendTransaction", send).await["result"].clone();
        let receipt = rpc(&url, "eth_getTransactionReceipt", json!([hash])).await["result"].clone();
        assert_eq!(receipt["status"], status, "gas {gas}: {receipt}");
        let number = u64::from_str_radix(
            receipt["blockNumber"].as_str().unwrap().trim_start_matches("0x"),
            16,
        )
        .unwrap();
        blocks.push(crate::committee::raw_block(&url, number).await);
    }
    assert!(blocks[0].jobs.is_empty(), "the committee did no work: {:?}", blocks[0].jobs);
    assert_eq!(blocks[1].jobs.len(), 1);
}

/// Runtime code that touches memory at 1 MiB, then loops 300 times: a few thousand steps, each
/// of which the struct logger would record with a megabyte of memory when asked to.
const MEMORY_LOOP: [u8; 25] = [
    0x60, 0x01, 0x62, 0x0f, 0xff, 0xff, 0x53, // MSTORE8(0x0fffff, 1)
    0x61, 0x01, 0x2c, // PUSH2 300
    0x5b, // JUMPDEST (10)
    0x80, 0x15, 0x60, 0x17, 0x57, // DUP1 ISZERO PUSH1 end JUMPI
    0x60, 0x01, 0x90, 0x03, // counter - 1
    0x60, 0x0a, 0x56, // JUMP loop
    0x5b, 0x00, // JUMPDEST (23): STOP
];

/// The struct logger records within a budget: a trace that would record more (here, a
/// megabyte of memory at each of thousands of steps, `enableMemory`) is refused with -32005
/// naming the other tracers, for a mined transaction and for a call alike; the same trace
/// without memory, and the call tracer, answer.
#[tokio::test(flavor = "multi_thread")]
async fn traces_have_a_budget() {
    let node = node_with(NodeConfig::test()).await;
    let url = node.http_endpoint();
    let looper = deploy_runtime(&url, &MEMORY_LOOP).await;
    let call = json!({ "from": ADDR0, "to": looper, "gas": "0x4c4b40" });
    let hash = rpc(&url, "eth_sendTransaction", json!([call])).await["result"].clone();

    let refusal = "trace too large: the struct logger would record more than 268435456 bytes; \
                   use callTracer, prestateTracer or flatCallTracer, or disableStack and leave \
                   enableMemory off";
    let memory = json!({ "enableMemory": true });
    let (code, message) = rpc_error(&url, "debug_traceTransaction", json!([hash, memory])).await;
    assert_eq!((code, message.as_str()), (-32005, refusal));
    let (code, message) = rpc_error(&url, "debug_traceCall", json!([call, "latest", memory])).await;
    assert_eq!((code, message.as_str()), (-32005, refusal));

    let plain = rpc(&url, "debug_traceTransaction", json!([hash, {}])).await;
    let steps = plain["result"]["structLogs"].as_array().map_or(0, Vec::len);
    assert!(steps > 3_000, "{steps} steps");
    let calls =
        rpc(&url, "debug_traceTransaction", json!([hash, { "tracer": "callTracer" }])).await;
    assert_eq!(calls["result"]["to"], json!(looper.to_string().to_lowercase()), "{calls}");
}

/// Serving a model stored as a delta rebuilds and hashes a whole model: it takes one of the
/// upload slots, so with the only slot held (an upload whose body never ends) the request is
/// answered 503 with `Retry-After`, and served in full once the slot is free.
#[tokio::test(flavor = "multi_thread")]
async fn rebuilding_a_delta_takes_an_upload_slot() {
    use alloy::{
        network::TransactionBuilder, providers::Provider, rpc::types::TransactionRequest,
        sol_types::SolCall,
    };
    use anh_precompiles::abi::{IModelRegistry, ITrain, Tensor, TrainParams};
    let mut config = NodeConfig::test();
    config.uploads.max_concurrent = 1;
    let node = node_with(config).await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    let bytes = anh_runtime::synth::classifier(2, &[16, 16], 2, 5);
    let root = alloy::primitives::keccak256(&bytes);
    rpc(&url, "anh_putModel", json!([Bytes::from(bytes)])).await;
    let register = IModelRegistry::registerCall { model: root, name: "mlp".into() }.abi_encode();
    let send = |to, data: Vec<u8>| {
        let provider = provider.clone();
        async move {
            let tx = TransactionRequest::default()
                .with_to(to)
                .with_input(data)
                .with_gas_limit(20_000_000);
            let hash = *provider.send_transaction(tx).await.unwrap().tx_hash();
            wait_receipt(&provider, hash).await
        }
    };
    assert!(send(anh_precompiles::registry::ADDRESS, register).await.status());
    let floats = |v: &[f32]| Tensor {
        dtype: 1,
        shape: vec![2, 2],
        data: v.iter().flat_map(|x| x.to_be_bytes()).collect::<Vec<u8>>().into(),
    };
    let labels = Tensor {
        dtype: 4,
        shape: vec![2],
        data: [0i64, 1].iter().flat_map(|v| v.to_be_bytes()).collect::<Vec<u8>>().into(),
    };
    let call = ITrain::trainOnlyCall {
        model: root,
        batch: vec![floats(&[-1.0, -1.0, 1.0, 1.0]), labels],
        params: TrainParams { steps: 2, learningRate: 10u64.pow(16), loss: 2, optimizer: 1 },
        trainable: vec!["w2".into(), "b2".into()],
    };
    let receipt = send(anh_precompiles::train::ADDRESS, call.abi_encode()).await;
    let trained = model_trained(&receipt).model;
    assert!(node.models().store().is_delta(&trained));

    let host = url.trim_start_matches("http://").to_string();
    let stall = || stalled_upload(&host);
    let mut stalled = stall().await;
    let file = format!("{url}/models/{trained}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let response = loop {
        let response = reqwest::get(&file).await.unwrap();
        if response.status() == 503 {
            break response;
        }
        assert!(std::time::Instant::now() < deadline, "never busy: {}", response.status());
        let mut byte = [0u8; 1];
        let wait = std::time::Duration::from_millis(10);
        if let Ok(Ok(_)) = tokio::time::timeout(wait, stalled.peek(&mut byte)).await {
            stalled = stall().await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(response.headers()["retry-after"], "1");
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["error"], "1 model uploads or rebuilds are in progress: try again later");
    drop(stalled);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let response = reqwest::get(&file).await.unwrap();
        if response.status() == 200 {
            let served = response.bytes().await.unwrap();
            assert_eq!(alloy::primitives::keccak256(&served), trained, "the whole model");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the slot never came back");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A connection holding an upload slot: a `PUT /models` whose body of a megabyte never comes.
async fn stalled_upload(host: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut stalled = tokio::net::TcpStream::connect(host).await.unwrap();
    let head =
        format!("PUT /models HTTP/1.1\r\nhost: {host}\r\ncontent-length: 1000000\r\n\r\nONNX");
    stalled.write_all(head.as_bytes()).await.unwrap();
    stalled.flush().await.unwrap();
    stalled
}
