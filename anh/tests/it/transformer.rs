//! Transformers through the precompiles. A GPT-style decoder (`anh_runtime::synth::gpt`: the
//! ops `torch.onnx.export` writes for GPT-2) uploaded and registered: `infer` on int64 tokens
//! gives what ONNX Runtime gives directly, bit for bit, its causal mask holds through the
//! precompile, and an `infer` transaction is mined by the committee. A BERT-style encoder
//! (`synth::bert`) likewise, never attending to padding. A character-level GPT trained by 20
//! `train` transactions, its loss falling, replayed by a follower without training.

use crate::utils::*;
use alloy::{
    primitives::{B256, Bytes},
    sol_types::SolCall,
};
use anh::NodeConfig;
use anh_precompiles::{
    abi::{IInfer, IModelRegistry, Tensor},
    infer, registry,
};
use anh_runtime::{
    HostTensor, ModelRuntime, ModelStore, OrtRuntime, RuntimeConfig, TensorData,
    synth::{GptSpec, gpt},
};
use serde_json::json;
use std::sync::Arc;

const SPEC: GptSpec = GptSpec { layers: 2, d_model: 32, heads: 4, vocab: 50, context: 16, seed: 3 };

/// One sequence of int64 tokens, `[1, seq]`.
fn tokens(ids: &[i64]) -> Tensor {
    grid(1, ids)
}

fn floats(tensor: &Tensor) -> Vec<f32> {
    assert_eq!(tensor.dtype, 1, "float32 logits");
    tensor.data.chunks_exact(4).map(|c| f32::from_be_bytes(c.try_into().unwrap())).collect()
}

/// `infer` through the precompile, by `eth_call`, on `ids`: the logits.
async fn logits(url: &str, model: B256, ids: &[i64]) -> Vec<f32> {
    let data = Bytes::from(IInfer::inferCall { model, inputs: vec![tokens(ids)] }.abi_encode());
    let reply =
        rpc(url, "eth_call", json!([{ "to": infer::ADDRESS, "data": data }, "latest"])).await;
    let out: Bytes = serde_json::from_value(reply["result"].clone())
        .unwrap_or_else(|e| panic!("infer failed: {reply}: {e}"));
    let outputs = IInfer::inferCall::abi_decode_returns(&out).expect("Tensor[]");
    assert_eq!(outputs[0].shape, vec![1, ids.len() as u64, SPEC.vocab as u64]);
    floats(&outputs[0])
}

#[tokio::test(flavor = "multi_thread")]
async fn gpt_through_the_precompile() {
    let node = node_with(NodeConfig::test()).await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    let bytes = gpt(SPEC);
    let put = rpc(&url, "anh_putModel", json!([Bytes::from(bytes.clone())])).await;
    let model: B256 = serde_json::from_value(put["result"].clone()).expect("uploaded");
    let register = IModelRegistry::registerCall { model, name: "gpt".into() }.abi_encode();
    let hash = crate::committee::submit(&provider, registry::ADDRESS, register).await;
    assert!(crate::committee::receipt(&provider, hash).await.status(), "registered");

    // As ONNX Runtime gives it directly.
    let ids = [1, 7, 3, 42, 5, 11, 0, 9];
    let ours = logits(&url, model, &ids).await;
    let store = Arc::new(ModelStore::temporary().expect("store"));
    store.put(&bytes).expect("accepted");
    let runtime = OrtRuntime::new(store, RuntimeConfig::default()).expect("ONNX Runtime");
    let input = HostTensor::new(vec![1, ids.len() as u64], TensorData::I64(ids.to_vec())).unwrap();
    let direct = runtime.run(model, vec![input]).expect("runs");
    let TensorData::F32(direct) = direct[0].data() else { panic!("float32 logits") };
    assert_eq!(&ours, direct, "the precompile's logits are ONNX Runtime's");

    // Causal: a change at position 5 leaves positions 0-4 alone.
    let vocab = SPEC.vocab as usize;
    let changed = logits(&url, model, &[1, 7, 3, 42, 5, 49, 0, 9]).await;
    assert_eq!(ours[..5 * vocab], changed[..5 * vocab]);
    assert_ne!(ours[5 * vocab..], changed[5 * vocab..]);

    // A token past the vocabulary is refused with a reason, not a crash.
    let data = IInfer::inferCall { model, inputs: vec![tokens(&[1, 50])] }.abi_encode();
    let (code, message) = rpc_error(
        &url,
        "eth_call",
        json!([{ "to": infer::ADDRESS, "data": Bytes::from(data) }, "latest"]),
    )
    .await;
    assert_eq!(code, 3, "{message}");
    assert!(message.contains("InferenceFailed") && message.contains("50"), "{message}");

    // A mined `infer` transaction, settled by the committee.
    let data = IInfer::inferCall { model, inputs: vec![tokens(&ids)] }.abi_encode();
    let hash = crate::committee::submit(&provider, infer::ADDRESS, data).await;
    let receipt = crate::committee::receipt(&provider, hash).await;
    assert!(receipt.status(), "the inference is mined");
    assert!(receipt.gas_used > 21_000);
}

/// A BERT-style encoder (`synth::bert`: tokens, token types and an attention mask, int64)
/// through the precompile: `infer` by `eth_call` gives ONNX Runtime's hidden states bit for
/// bit, and a masked (padding) position's token changes no other position's output.
#[tokio::test(flavor = "multi_thread")]
async fn bert_through_the_precompile() {
    let node = node_with(NodeConfig::test()).await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    let bytes = anh_runtime::synth::bert(SPEC);
    let put = rpc(&url, "anh_putModel", json!([Bytes::from(bytes.clone())])).await;
    let model: B256 = serde_json::from_value(put["result"].clone()).expect("uploaded");
    let register = IModelRegistry::registerCall { model, name: "bert".into() }.abi_encode();
    let hash = crate::committee::submit(&provider, registry::ADDRESS, register).await;
    assert!(crate::committee::receipt(&provider, hash).await.status(), "registered");

    let types = [0, 0, 0, 1, 1, 1];
    let hidden = |ids: [i64; 6], mask: [i64; 6]| {
        let url = url.clone();
        async move {
            let inputs = vec![tokens(&ids), tokens(&types), tokens(&mask)];
            let data = Bytes::from(IInfer::inferCall { model, inputs }.abi_encode());
            let reply =
                rpc(&url, "eth_call", json!([{ "to": infer::ADDRESS, "data": data }, "latest"]))
                    .await;
            let out: Bytes = serde_json::from_value(reply["result"].clone())
                .unwrap_or_else(|e| panic!("infer failed: {reply}: {e}"));
            let outputs = IInfer::inferCall::abi_decode_returns(&out).expect("Tensor[]");
            assert_eq!(outputs[0].shape, vec![1, 6, SPEC.d_model as u64]);
            floats(&outputs[0])
        }
    };
    let ids = [5, 6, 7, 8, 9, 10];
    let ours = hidden(ids, [1; 6]).await;
    let store = Arc::new(ModelStore::temporary().expect("store"));
    store.put(&bytes).expect("accepted");
    let runtime = OrtRuntime::new(store, RuntimeConfig::default()).expect("ONNX Runtime");
    let host = |v: &[i64]| HostTensor::new(vec![1, 6], TensorData::I64(v.to_vec())).unwrap();
    let direct = runtime.run(model, vec![host(&ids), host(&types), host(&[1; 6])]).expect("runs");
    let TensorData::F32(direct) = direct[0].data() else { panic!("float32 hidden states") };
    assert_eq!(&ours, direct, "the precompile's hidden states are ONNX Runtime's");

    let d = SPEC.d_model as usize;
    let padded = [1, 1, 1, 1, 1, 0];
    let a = hidden(ids, padded).await;
    let b = hidden([5, 6, 7, 8, 9, 49], padded).await;
    assert_eq!(a[..5 * d], b[..5 * d], "padding is not attended to");
    assert_ne!(a[..5 * d], ours[..5 * d], "the mask changes what the others see");
}

/// The text a small GPT learns in [`gpt_trains_by_transactions_and_a_follower_replays`].
const TEXT: &[u8] = b"on chain a small model learns to spell: on chain, on chain, on chain.";

/// Its characters as token ids (in order of first appearance), and the vocabulary's size.
fn char_ids(text: &[u8]) -> (Vec<i64>, usize) {
    let mut vocab: Vec<u8> = Vec::new();
    let ids = text
        .iter()
        .map(|c| {
            let at = vocab.iter().position(|v| v == c).unwrap_or_else(|| {
                vocab.push(*c);
                vocab.len() - 1
            });
            at as i64
        })
        .collect();
    (ids, vocab.len())
}

/// `[rows, cols]` int64 tokens or labels.
fn grid(rows: usize, values: &[i64]) -> Tensor {
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_be_bytes()).collect();
    Tensor { dtype: 4, shape: vec![rows as u64, (values.len() / rows) as u64], data: data.into() }
}

/// A batch of `rows` windows of `seq` characters starting at `offset` (wrapping): tokens, and
/// the next characters as labels.
fn windows(ids: &[i64], rows: usize, seq: usize, offset: usize) -> (Vec<i64>, Vec<i64>) {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for r in 0..rows {
        let start = (offset + r * 7) % (ids.len() - seq - 1);
        x.extend_from_slice(&ids[start..start + seq]);
        y.extend_from_slice(&ids[start + 1..start + seq + 1]);
    }
    (x, y)
}

/// A 2-layer character-level GPT trained by 20 `train` transactions (next-token
/// cross-entropy, Adam), each settled by the committee: the loss the chain records falls; a
/// padded position (label −100) is accepted; bad labels revert with a readable reason and
/// register nothing; a follower replays every block to the same state root without running a
/// training step or an inference.
#[tokio::test(flavor = "multi_thread")]
async fn gpt_trains_by_transactions_and_a_follower_replays() {
    use alloy::{network::TransactionBuilder, providers::Provider, rpc::types::TransactionRequest};
    use anh_precompiles::{
        abi::{ITrain, TrainParams},
        train,
    };
    let node = node_with(NodeConfig::test()).await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    let (ids, vocab) = char_ids(TEXT);
    let spec =
        GptSpec { layers: 2, d_model: 32, heads: 4, vocab: vocab as i64, context: 16, seed: 5 };
    let bytes = gpt(spec);
    let put = rpc(&url, "anh_putModel", json!([Bytes::from(bytes)])).await;
    let root: B256 = serde_json::from_value(put["result"].clone()).expect("uploaded");
    let register =
        IModelRegistry::registerCall { model: root, name: "char-gpt".into() }.abi_encode();
    let hash = crate::committee::submit(&provider, registry::ADDRESS, register).await;
    assert!(crate::committee::receipt(&provider, hash).await.status(), "registered");

    let send = |data: Vec<u8>| {
        let provider = provider.clone();
        async move {
            let tx = TransactionRequest::default()
                .with_to(train::ADDRESS)
                .with_input(data)
                .with_gas_limit(30_000_000);
            let hash = *provider.send_transaction(tx).await.expect("sent").tx_hash();
            wait_receipt(&provider, hash).await
        }
    };
    let params = TrainParams { steps: 2, learningRate: 10u64.pow(16), loss: 2, optimizer: 3 };
    let (rows, seq) = (4, 12);

    // Bad labels revert, each with its reason, before any training.
    let steps_before =
        rpc(&url, "anh_stats", json!([])).await["result"]["trainingStepsRun"].clone();
    let (x, mut y) = windows(&ids, rows, seq, 0);
    y[3] = vocab as i64;
    let (x_flat, y_flat) = (x.clone(), windows(&ids, rows, seq, 0).1);
    for (labels, reason) in [
        (grid(rows, &y), format!("label {vocab} at position 3 is not a class index")),
        (grid(rows, &[&[-1], &y_flat[1..]].concat()), "label -1 at position 0".to_string()),
        (grid(1, &y_flat), "one per position: [batch, seq]".to_string()),
        (grid(rows, &y_flat[..rows * (seq - 1)]), "one per position: [batch, seq]".to_string()),
    ] {
        let data = Bytes::from(
            ITrain::trainCall {
                model: root,
                batch: vec![grid(rows, &x_flat), labels],
                params: params.clone(),
            }
            .abi_encode(),
        );
        let (code, message) =
            rpc_error(&url, "eth_call", json!([{ "to": train::ADDRESS, "data": data }, "latest"]))
                .await;
        assert_eq!(code, 3, "{message}");
        assert!(message.contains(&reason), "{message} lacks {reason}");
    }
    // Weighted cross-entropy weighs samples: sequence logits are refused before any work.
    let weighted = TrainParams { loss: 3, ..params.clone() };
    let weights: Vec<u8> = [1.0f32; 4].iter().flat_map(|v| v.to_be_bytes()).collect();
    let weights = Tensor { dtype: 1, shape: vec![4], data: weights.into() };
    let batch = vec![grid(rows, &x_flat), grid(rows, &y_flat), weights];
    let data = ITrain::trainCall { model: root, batch, params: weighted }.abi_encode();
    let (code, message) = rpc_error(
        &url,
        "eth_call",
        json!([{ "to": train::ADDRESS, "data": Bytes::from(data) }, "latest"]),
    )
    .await;
    assert_eq!(code, 3, "{message}");
    assert!(message.contains("InputMismatch") && message.contains("weighs samples"), "{message}");
    assert_eq!(rpc(&url, "anh_stats", json!([])).await["result"]["trainingStepsRun"], steps_before);

    let mut model = root;
    let mut losses = Vec::new();
    for round in 0..20 {
        let (x, mut y) = windows(&ids, rows, seq, round * 5);
        if round == 0 {
            y[seq - 1] = anh_precompiles::IGNORE_LABEL;
        }
        let data = ITrain::trainCall {
            model,
            batch: vec![grid(rows, &x), grid(rows, &y)],
            params: params.clone(),
        }
        .abi_encode();
        let receipt = send(data).await;
        assert!(receipt.status(), "round {round}: {receipt:?}");
        let event = model_trained(&receipt);
        losses.push(i128::try_from(event.loss).expect("a loss") as f64 / 1e18);
        model = event.model;
    }
    let first: f64 = losses[..3].iter().sum::<f64>() / 3.0;
    let last: f64 = losses[17..].iter().sum::<f64>() / 3.0;
    assert!(last < first * 0.7, "the loss falls: {losses:?}");

    let follower = node_with(follower_config(&url).await).await;
    let furl = follower.http_endpoint();
    let head = provider.get_block_number().await.expect("head");
    synced(&furl, head).await;
    let root_of = |url: String| async move {
        rpc(&url, "eth_getBlockByNumber", json!(["latest", false])).await["result"]["stateRoot"]
            .clone()
    };
    assert_eq!(root_of(url.clone()).await, root_of(furl.clone()).await);
    let f = rpc(&furl, "anh_stats", json!([])).await["result"].clone();
    assert_eq!(
        (f["trainingStepsRun"].clone(), f["inferencesRun"].clone()),
        (json!(0), json!(0)),
        "{f}"
    );
}
