//! A GPT-style transformer (`anh_runtime::synth::gpt`: the ops `torch.onnx.export` writes for
//! GPT-2) through the precompiles: uploaded and registered, `infer` on int64 tokens gives what
//! ONNX Runtime gives directly, bit for bit, its causal mask holds through the precompile, and
//! an `infer` transaction is mined by the committee.

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

fn tokens(ids: &[i64]) -> Tensor {
    let data: Vec<u8> = ids.iter().flat_map(|v| v.to_be_bytes()).collect();
    Tensor { dtype: 4, shape: vec![1, ids.len() as u64], data: data.into() }
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
