//! On-chain training end to end: `train` transactions settled by the in-process committee
//! (the leader trains, the others check the train-loss property), the trained models usable
//! by `infer`, and a follower that replays the chain to the same state roots without running
//! a single training step or inference.

use crate::utils::*;
use alloy::{
    network::TransactionBuilder,
    primitives::{B256, Bytes, I256, keccak256},
    providers::{DynProvider, Provider},
    rpc::types::TransactionRequest,
    sol_types::SolCall,
};
use anh_precompiles::{
    abi::{IInfer, IModelInfo, IModelRegistry, ITrain, Tensor, TrainParams},
    info, registry, train,
};
use anh_runtime::synth;
use serde_json::{Value, json};

/// Two noisy blobs (class 0 around (−1, −1), class 1 around (1, 1)), deterministic.
fn blobs(n: usize, seed: u64) -> (Vec<f32>, Vec<i64>) {
    let mut state = seed;
    let mut noise = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 1.6
    };
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for i in 0..n {
        let label = (i % 2) as i64;
        let centre = if label == 0 { -1.0 } else { 1.0 };
        x.extend([centre + noise(), centre + noise()]);
        y.push(label);
    }
    (x, y)
}

fn features(x: &[f32]) -> Tensor {
    let data: Vec<u8> = x.iter().flat_map(|v| v.to_be_bytes()).collect();
    Tensor { dtype: 1, shape: vec![(x.len() / 2) as u64, 2], data: data.into() }
}

fn labels(y: &[i64]) -> Tensor {
    let data: Vec<u8> = y.iter().flat_map(|v| v.to_be_bytes()).collect();
    Tensor { dtype: 4, shape: vec![y.len() as u64], data: data.into() }
}

fn params(steps: u32) -> TrainParams {
    TrainParams { steps, learningRate: 5 * 10u64.pow(16), loss: 2, optimizer: 3 }
}

async fn send(
    provider: &DynProvider,
    to: alloy::primitives::Address,
    data: Vec<u8>,
) -> alloy::rpc::types::TransactionReceipt {
    let tx = TransactionRequest::default().with_to(to).with_input(data).with_gas_limit(20_000_000);
    let hash = *provider.send_transaction(tx).await.expect("sent").tx_hash();
    wait_receipt(provider, hash).await
}

async fn call(url: &str, to: alloy::primitives::Address, data: Vec<u8>) -> Value {
    rpc(
        url,
        "eth_call",
        json!([{ "to": to, "data": Bytes::from(data), "gas": "0x1312d00" }, "latest"]),
    )
    .await
}

/// The share of samples the model classifies right, through `infer` in `eth_call`.
async fn accuracy(url: &str, model: B256, x: &[f32], y: &[i64]) -> f64 {
    let reply = call(
        url,
        anh_precompiles::infer::ADDRESS,
        IInfer::inferCall { model, inputs: vec![features(x)] }.abi_encode(),
    )
    .await;
    let out: Bytes =
        serde_json::from_value(reply["result"].clone()).unwrap_or_else(|_| panic!("{reply}"));
    let outputs = IInfer::inferCall::abi_decode_returns(&out).unwrap();
    let logits: Vec<f32> =
        outputs[0].data.chunks(4).map(|c| f32::from_be_bytes(c.try_into().unwrap())).collect();
    let right =
        logits.chunks(2).zip(y).filter(|(row, label)| (row[1] > row[0]) as i64 == **label).count();
    right as f64 / y.len() as f64
}

async fn stats(url: &str) -> Value {
    rpc(url, "anh_stats", json!([])).await["result"].clone()
}

/// A logistic regression and an MLP trained by `train` transactions, batch after batch,
/// reach 95% accuracy on held-out data; the lineage is recorded; a follower replays it all
/// with zero training steps and zero inferences, to the same state roots.
#[tokio::test(flavor = "multi_thread")]
async fn training_converges_and_replays_without_training() {
    let node = node().await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    let (test_x, test_y) = blobs(200, 99);

    for (name, hidden) in [("logistic", vec![]), ("mlp", vec![8i64])] {
        let bytes = synth::classifier(2, &hidden, 2, 5);
        let root = keccak256(&bytes);
        assert_eq!(
            rpc(&url, "anh_putModel", json!([Bytes::from(bytes)])).await["result"],
            json!(root)
        );
        let register = IModelRegistry::registerCall { model: root, name: name.into() }.abi_encode();
        assert!(send(&provider, registry::ADDRESS, register).await.status());

        let mut model = root;
        let mut losses = Vec::new();
        for round in 0..4u64 {
            let (x, y) = blobs(32, round + 1);
            let data = ITrain::trainCall {
                model,
                batch: vec![features(&x), labels(&y)],
                params: params(15),
            }
            .abi_encode();
            let receipt = send(&provider, train::ADDRESS, data).await;
            assert!(receipt.status(), "{name} round {round}: {receipt:?}");
            let event = model_trained(&receipt);
            assert_eq!(event.parent, model);
            losses.push(event.loss);
            model = event.model;
        }
        assert!(
            losses.last().unwrap() < &I256::try_from(2 * 10i128.pow(17)).unwrap(),
            "{name}: {losses:?}"
        );
        let acc = accuracy(&url, model, &test_x, &test_y).await;
        assert!(acc >= 0.95, "{name}: held-out accuracy {acc}");
        let info =
            call(&url, info::ADDRESS, IModelInfo::modelInfoCall { model }.abi_encode()).await;
        let info: Bytes = serde_json::from_value(info["result"].clone()).unwrap();
        let info = IModelInfo::modelInfoCall::abi_decode_returns(&info).unwrap();
        assert_eq!(info.name, name);
        assert_ne!(info.parent, B256::ZERO);
        let stored = rpc(&url, "anh_getModel", json!([model])).await["result"].clone();
        assert_eq!(stored["parent"], json!(info.parent), "{stored}");
    }
    let jobs = rpc(&url, "anh_getAttestations", json!(["latest"])).await["result"].clone();
    assert_eq!(jobs[0]["kind"], "train", "{jobs}");
    assert_eq!(jobs[0]["rule"]["kind"], "train-loss");
    assert!(jobs[0]["sealed"]["signatures"].as_array().unwrap().len() >= 2, "{jobs}");
    let built = stats(&url).await;
    assert_eq!(built["trainingStepsRun"], 2 * 4 * 15, "only the leader trains: {built}");

    let follower = node_with(follower_config(&url).await).await;
    let furl = follower.http_endpoint();
    let head = provider.get_block_number().await.unwrap();
    synced(&furl, head).await;
    for tag in [json!("latest"), json!("0x3")] {
        let ours =
            rpc(&url, "eth_getBlockByNumber", json!([tag, false])).await["result"]["stateRoot"]
                .clone();
        let theirs =
            rpc(&furl, "eth_getBlockByNumber", json!([tag, false])).await["result"]["stateRoot"]
                .clone();
        assert_eq!(ours, theirs);
    }
    let f = stats(&furl).await;
    assert_eq!(
        (f["trainingStepsRun"].clone(), f["inferencesRun"].clone()),
        (json!(0), json!(0)),
        "{f}"
    );
}

/// Bad training input reverts with a readable reason through the node and the committee,
/// registers nothing, and the chain goes on: a model whose output cannot take a loss, labels
/// out of range, a run whose loss is not finite.
#[tokio::test(flavor = "multi_thread")]
async fn untrainable_models_and_bad_batches_revert() {
    let node = node().await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    // The int64 fixture computes on integers only: it has no weight to train.
    let fixture = std::fs::read(testdata("int64.onnx")).unwrap();
    let integer = keccak256(&fixture);
    rpc(&url, "anh_putModel", json!([Bytes::from(fixture)])).await;
    let register =
        IModelRegistry::registerCall { model: integer, name: "int64".into() }.abi_encode();
    assert!(send(&provider, registry::ADDRESS, register).await.status());
    let classifier = synth::classifier(2, &[], 2, 1);
    let model = keccak256(&classifier);
    rpc(&url, "anh_putModel", json!([Bytes::from(classifier)])).await;
    let register = IModelRegistry::registerCall { model, name: "clf".into() }.abi_encode();
    assert!(send(&provider, registry::ADDRESS, register).await.status());

    let ids: Vec<u8> = (0..10i64).flat_map(|v| (v % 10).to_be_bytes()).collect();
    let targets: Vec<u8> = (0..6i64).flat_map(|v| v.to_be_bytes()).collect();
    let mse = TrainParams { loss: 1, ..params(3) };
    let (x, _) = blobs(4, 1);
    let cases = [
        (
            ITrain::trainCall {
                model: integer,
                batch: vec![
                    Tensor { dtype: 4, shape: vec![2, 5], data: ids.into() },
                    Tensor { dtype: 4, shape: vec![2, 3], data: targets.into() },
                ],
                params: mse,
            },
            "TrainingFailed: the loss needs the model's first output \"y\" to be float32 or float64",
        ),
        (
            ITrain::trainCall {
                model,
                batch: vec![features(&x), labels(&[0, 1, 2, 1])],
                params: params(3),
            },
            "label 2 of sample 2 is not a class index: the model has 2 classes",
        ),
        (
            ITrain::trainCall {
                model,
                batch: vec![features(&x), features(&[1e30; 8])],
                params: TrainParams { loss: 1, optimizer: 1, ..params(3) },
            },
            "TrainingFailed: training diverged: the loss is inf at step 0",
        ),
    ];
    let trained_before = stats(&url).await["trainingStepsRun"].clone();
    for (call_data, wanted) in cases {
        let reply = call(&url, train::ADDRESS, call_data.abi_encode()).await;
        assert_eq!(reply["error"]["code"], 3, "{reply}");
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(message.contains(wanted), "wanted {wanted:?}: {message}");
        let receipt = send(&provider, train::ADDRESS, call_data.abi_encode()).await;
        assert!(!receipt.status(), "reverted on chain too");
        assert!(receipt.inner.logs().is_empty(), "no ModelTrained, nothing registered");
    }
    assert_eq!(stats(&url).await["trainingStepsRun"], trained_before);
    // The chain goes on.
    let transfer =
        TransactionRequest::default().with_to(ADDR1).with_value(alloy::primitives::U256::from(1));
    let hash = *provider.send_transaction(transfer).await.unwrap().tx_hash();
    assert!(wait_receipt(&provider, hash).await.status());
}

/// `eth_estimateGas` executes a transaction many times while it searches; a `train` (or
/// `infer`) call in it trains (runs) once, and the estimate is enough for the transaction.
#[tokio::test(flavor = "multi_thread")]
async fn estimate_gas_trains_once() {
    let node = node().await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    let bytes = synth::classifier(2, &[4], 2, 8);
    let model = keccak256(&bytes);
    rpc(&url, "anh_putModel", json!([Bytes::from(bytes)])).await;
    let register = IModelRegistry::registerCall { model, name: "clf".into() }.abi_encode();
    assert!(send(&provider, registry::ADDRESS, register).await.status());
    let (x, y) = blobs(16, 3);
    let call = ITrain::trainCall {
        model,
        batch: vec![features(&x), labels(&y)],
        params: TrainParams { optimizer: 1, ..params(7) },
    };
    let before = stats(&url).await;
    let request =
        json!([{ "from": ADDR0, "to": train::ADDRESS, "data": Bytes::from(call.abi_encode()) }]);
    let estimate = rpc(&url, "eth_estimateGas", request).await;
    let gas =
        u64::from_str_radix(estimate["result"].as_str().unwrap().trim_start_matches("0x"), 16)
            .unwrap_or_else(|_| panic!("{estimate}"));
    let after = stats(&url).await;
    let steps = |s: &Value| s["trainingStepsRun"].as_u64().unwrap();
    assert_eq!(steps(&after) - steps(&before), 7, "trained once: {before} → {after}");

    let tx = TransactionRequest::default()
        .with_to(train::ADDRESS)
        .with_input(call.abi_encode())
        .with_gas_limit(gas);
    let hash = *provider.send_transaction(tx).await.unwrap().tx_hash();
    assert!(wait_receipt(&provider, hash).await.status(), "the estimate suffices");
}

/// What `eth_call` trains stays in memory: the node's model folder gets no file (no number
/// of calls fills the disk), yet the call trains and answers; a transaction that trains the
/// same way writes its model.
#[tokio::test(flavor = "multi_thread")]
async fn call_training_writes_no_file() {
    let node = node().await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    let store = node.models().store().clone();
    let bytes = synth::classifier(2, &[4], 2, 11);
    let root = keccak256(&bytes);
    rpc(&url, "anh_putModel", json!([Bytes::from(bytes)])).await;
    let register = IModelRegistry::registerCall { model: root, name: "clf".into() }.abi_encode();
    assert!(send(&provider, registry::ADDRESS, register).await.status());
    let (x, y) = blobs(16, 4);
    let data =
        ITrain::trainCall { model: root, batch: vec![features(&x), labels(&y)], params: params(5) }
            .abi_encode();

    for _ in 0..3 {
        let reply = call(&url, train::ADDRESS, data.clone()).await;
        let returned: Bytes =
            serde_json::from_value(reply["result"].clone()).unwrap_or_else(|_| panic!("{reply}"));
        let trained = ITrain::trainCall::abi_decode_returns(&returned).unwrap().newModel;
        assert!(store.contains(&trained), "the call's model is kept in memory");
        assert_eq!(store.models().unwrap(), vec![root], "no file but the root's");
    }

    let receipt = send(&provider, train::ADDRESS, data).await;
    assert!(receipt.status());
    let trained = model_trained(&receipt).model;
    assert!(store.models().unwrap().contains(&trained), "the block's model is written");
    assert!(store.model_path(&trained).is_file() || store.is_delta(&trained));
}

/// `trainOnly` and `trainAdapters` through a node and its committee: the last layer of an MLP
/// trains, then rank-4 LoRA adapters on its hidden layer; each time the new model file holds
/// every other weight byte for byte (and the first is stored as a delta of its parent); a bad list reverts `MalformedCall` and a name that is not
/// a weight `TrainingFailed`, each naming it, with nothing trained or registered; a follower
/// replays it all without training.
#[tokio::test(flavor = "multi_thread")]
async fn train_only_the_last_layer() {
    use anh_runtime::onnx::ModelProto;
    use prost::Message;
    let node = node().await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    let bytes = synth::classifier(2, &[16, 16], 2, 5);
    let root = keccak256(&bytes);
    rpc(&url, "anh_putModel", json!([Bytes::from(bytes.clone())])).await;
    let register = IModelRegistry::registerCall { model: root, name: "mlp".into() }.abi_encode();
    assert!(send(&provider, registry::ADDRESS, register).await.status());

    let (x, y) = blobs(32, 1);
    let only = |names: &[&str]| {
        ITrain::trainOnlyCall {
            model: root,
            batch: vec![features(&x), labels(&y)],
            params: params(15),
            trainable: names.iter().map(|n| n.to_string()).collect(),
        }
        .abi_encode()
    };
    let steps = |s: &Value| s["trainingStepsRun"].as_u64().unwrap();
    let before = steps(&stats(&url).await);
    for (data, reason) in [
        (only(&["w1", "w1"]), "MalformedCall: trainable[1] \"w1\" is named twice"),
        (only(&["nope"]), "\"nope\" is not a float32/float64 initializer of the model"),
    ] {
        let reply = call(&url, train::ADDRESS, data).await;
        let message = reply["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(reason), "{reply}");
    }
    assert_eq!(steps(&stats(&url).await), before, "nothing trained");

    let weights = |b: &[u8]| -> Vec<(String, Vec<u8>)> {
        let graph = ModelProto::decode(b).unwrap().graph.unwrap();
        // Weights only: optimiser state (`anh.opt.*`) comes and goes with the optimiser.
        let weights = graph.initializer.into_iter().filter(|t| !t.name.starts_with("anh.opt."));
        weights.map(|t| (t.name, t.raw_data)).collect()
    };
    // The model each transaction trained, checked against its parent's weights.
    let trained = |receipt: alloy::rpc::types::TransactionReceipt,
                   parent: Vec<u8>,
                   changed: &'static [&'static str]| {
        let url = url.clone();
        async move {
            assert!(receipt.status(), "{receipt:?}");
            let event = model_trained(&receipt);
            let file = reqwest::get(format!("{url}/models/{}", event.model)).await.unwrap();
            let file = file.bytes().await.unwrap().to_vec();
            let after = weights(&file);
            for (name, raw) in weights(&parent) {
                let new = &after.iter().find(|(n, _)| *n == name).expect("every weight kept").1;
                assert_eq!(raw == *new, !changed.contains(&name.as_str()), "{name}");
            }
            (event, file)
        }
    };
    let receipt = send(&provider, train::ADDRESS, only(&["w2", "b2"])).await;
    let (event, file) = trained(receipt, bytes.clone(), &["w2", "b2"]).await;
    assert!(event.loss < I256::try_from(6 * 10i128.pow(17)).unwrap(), "{}", event.loss);
    // Stored as the changed tensors (and their Adam state), not the whole model.
    let store = node.models().store().clone();
    assert!(store.is_delta(&event.model));
    let (whole, delta) = (store.stored_size(&root), store.stored_size(&event.model));
    assert!(delta * 2 < whole, "a {delta}-byte delta of a {whole}-byte model");

    let lora = ITrain::trainAdaptersCall {
        model: event.model,
        batch: vec![features(&x), labels(&y)],
        params: params(15),
        targets: vec!["w1".into()],
        rank: 4,
    };
    let receipt = send(&provider, train::ADDRESS, lora.abi_encode()).await;
    let (adapted, _) = trained(receipt, file, &["w1"]).await;
    assert!(adapted.loss < event.loss, "{} then {}", event.loss, adapted.loss);

    let follower = node_with(follower_config(&url).await).await;
    let furl = follower.http_endpoint();
    synced(&furl, provider.get_block_number().await.unwrap()).await;
    let root_of = |u: String| async move {
        rpc(&u, "eth_getBlockByNumber", json!(["latest", false])).await["result"]["stateRoot"]
            .clone()
    };
    assert_eq!(root_of(url.clone()).await, root_of(furl.clone()).await);
    assert_eq!(steps(&stats(&furl).await), 0);
}
