//! Transformers: a GPT-style decoder in the form `torch.onnx.export` writes (`synth::gpt`:
//! embeddings by `Gather`, `LayerNormalization`, heads by `Reshape` to a shape computed with
//! `Shape`/`Gather`/`Unsqueeze`/`Concat`, a causal mask applied with `Where`, GELU as `Erf`)
//! is analysed and priced, runs through `OrtRuntime` as ONNX Runtime runs it directly, and
//! respects its causal mask; a BERT-style encoder (`synth::bert`: token types, post-LN, a
//! padding mask input) likewise, attending both ways and never to padding.

use crate::{common::runtime, train::Runner};
use anh_runtime::{
    ElemType, HostTensor, ModelRuntime, ModelStore, TensorData,
    synth::{GptSpec, bert, gpt},
};
use std::sync::Arc;

const SPEC: GptSpec = GptSpec { layers: 2, d_model: 32, heads: 4, vocab: 50, context: 16, seed: 7 };

fn tokens(batch: u64, ids: &[i64]) -> HostTensor {
    let seq = ids.len() as u64 / batch;
    HostTensor::new(vec![batch, seq], TensorData::I64(ids.to_vec())).unwrap()
}

fn logits(outputs: &[HostTensor]) -> &[f32] {
    match outputs[0].data() {
        TensorData::F32(v) => v,
        other => panic!("float32 logits expected, got {other:?}"),
    }
}

/// The store accepts it, reads its signature (`tokens` int64 `[batch, seq]`, `logits`
/// `[batch, seq, vocab]`) and prices it as a polynomial linear in the batch and quadratic in
/// the sequence (the attention scores).
#[test]
fn gpt_is_analysed_and_priced() {
    let store = ModelStore::temporary().expect("store");
    let info = store.put(&gpt(SPEC)).unwrap_or_else(|e| panic!("a GPT export is refused: {e}"));
    assert_eq!(info.inputs.len(), 1);
    assert_eq!(info.inputs[0].elem, ElemType::I64);
    assert_eq!(info.outputs[0].elem, ElemType::F32);
    assert_eq!(info.cost.degrees(), [1, 2], "batch linear, sequence quadratic");
    let at = |b: u64, s: u64| info.cost.macs_at(&[b, s]).expect("priced");
    // Linear in the batch; the position table's and the mask's slices are paid once.
    assert_eq!(at(3, 8) - at(2, 8), at(2, 8) - at(1, 8), "each sample costs alike");
    assert!(at(2, 8) < 2 * at(1, 8));
    let (one, two, four) = (at(1, 4), at(1, 8), at(1, 16));
    assert!(two > 2 * one && four - two > 2 * (two - one), "attention grows as seq²");
    // Per token and layer: QKV 3d², output d², MLP 8d²; the LM head d·vocab.
    let d = SPEC.d_model as u64;
    let dense = 2 * 12 * d * d + d * SPEC.vocab as u64;
    assert!(
        at(1, 1) >= dense,
        "{} MACs for one token, the dense layers alone are {dense}",
        at(1, 1)
    );
}

/// `OrtRuntime::run` gives what an ONNX Runtime session run directly gives, bit for bit, at
/// two batch and sequence sizes.
#[test]
fn gpt_runs_as_onnx_runtime_runs_it() {
    let bytes = gpt(SPEC);
    let store = Arc::new(ModelStore::temporary().expect("store"));
    let model = store.put(&bytes).expect("accepted").hash;
    let runtime = runtime(store);
    let mut direct = Runner::new(&bytes);
    for (batch, ids) in
        [(1, vec![3, 14, 15, 9, 2, 6]), (2, (0..32).map(|i| (i * 7) % 50).collect())]
    {
        let input = tokens(batch, &ids);
        let ours = runtime.run(model, vec![input.clone()]).expect("runs");
        assert_eq!(ours[0].shape(), [batch, ids.len() as u64 / batch, 50]);
        let theirs = direct.run(&[input]);
        let ours: Vec<f64> = logits(&ours).iter().map(|&x| f64::from(x)).collect();
        assert_eq!(ours, theirs[0], "batch {batch}");
        assert!(ours.iter().all(|x| x.is_finite()) && ours.iter().any(|&x| x != 0.0));
    }
}

/// The causal mask holds: changing the token at a later position changes no earlier
/// position's logits, and does change its own.
#[test]
fn gpt_is_causal() {
    let store = Arc::new(ModelStore::temporary().expect("store"));
    let model = store.put(&gpt(SPEC)).expect("accepted").hash;
    let runtime = runtime(store);
    let vocab = SPEC.vocab as usize;
    let run = |ids: &[i64]| logits(&runtime.run(model, vec![tokens(1, ids)]).unwrap()).to_vec();
    let base = run(&[1, 2, 3, 4, 5, 6, 7, 8]);
    let changed = run(&[1, 2, 3, 4, 5, 49, 7, 8]);
    assert_eq!(base[..5 * vocab], changed[..5 * vocab], "positions 0-4 do not see position 5");
    assert_ne!(base[5 * vocab..6 * vocab], changed[5 * vocab..6 * vocab]);
    assert_ne!(base[7 * vocab..], changed[7 * vocab..], "later positions do see it");
}

/// The BERT-style encoder: analysed and priced like the decoder, run as ONNX Runtime runs it,
/// attending to later positions (no causal mask) but never to padding.
#[test]
fn bert_is_analysed_runs_and_ignores_padding() {
    let bytes = bert(SPEC);
    let store = Arc::new(ModelStore::temporary().expect("store"));
    let info = store.put(&bytes).unwrap_or_else(|e| panic!("a BERT export is refused: {e}"));
    assert_eq!(info.inputs.len(), 3);
    assert_eq!(info.cost.degrees(), [1, 2], "batch linear, sequence quadratic");
    let runtime = runtime(store);
    let mut direct = Runner::new(&bytes);
    let d = SPEC.d_model as usize;
    let inputs = |ids: &[i64], mask: &[i64]| {
        let types: Vec<i64> = (0..ids.len()).map(|i| i64::from(i >= ids.len() / 2)).collect();
        [ids.to_vec(), types, mask.to_vec()].map(|v| tokens(1, &v)).to_vec()
    };
    let run = |ids: &[i64], mask: &[i64]| {
        logits(&runtime.run(info.hash, inputs(ids, mask)).expect("runs")).to_vec()
    };
    let ids = [5, 6, 7, 8, 9, 10];
    let all = [1; 6];
    let base = run(&ids, &all);
    let theirs = direct.run(&inputs(&ids, &all));
    let ours: Vec<f64> = base.iter().map(|&x| f64::from(x)).collect();
    assert_eq!(ours, theirs[0], "as ONNX Runtime runs it");
    // Bidirectional: a change at the last position reaches the first.
    let later = run(&[5, 6, 7, 8, 9, 49], &all);
    assert_ne!(base[..d], later[..d]);
    // Padding: with the last position masked, its token does not matter to the others.
    let padded = [1, 1, 1, 1, 1, 0];
    let (a, b) = (run(&ids, &padded), run(&[5, 6, 7, 8, 9, 49], &padded));
    assert_eq!(a[..5 * d], b[..5 * d], "padding is not attended to");
}

/// [`gpt`] rewritten as other exporters write the same model: positions by
/// `Gather(wpe, Range(0, seq, 1))` instead of a `Slice` of the table, and the causal mask by
/// `Trilu` of a `ConstantOfShape([seq, seq], true)` instead of a slice of a stored triangle.
fn gpt_with_range_and_trilu(spec: GptSpec) -> Vec<u8> {
    use anh_runtime::onnx::{AttributeProto, ModelProto, NodeProto, TensorProto};
    use prost::Message;
    let mut m = ModelProto::decode(gpt(spec).as_slice()).expect("model");
    let g = m.graph.as_mut().expect("graph");
    let node = |op: &str, input: &[&str], output: &str, attribute: Vec<AttributeProto>| NodeProto {
        input: input.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        op_type: op.into(),
        attribute,
        ..Default::default()
    };
    let mut nodes = Vec::new();
    for n in std::mem::take(&mut g.node) {
        match n.output[0].as_str() {
            "pos_emb" => {
                nodes.push(node("Range", &["zero", "seq", "one"], "positions", vec![]));
                nodes.push(node("Gather", &["wpe", "positions"], "pos_emb", vec![]));
            }
            "mask" => {
                let ones = TensorProto {
                    dims: vec![1],
                    data_type: 9,
                    raw_data: vec![1],
                    ..Default::default()
                };
                let value = AttributeProto {
                    name: "value".into(),
                    r#type: 4,
                    t: Some(Box::new(ones)),
                    ..Default::default()
                };
                let upper =
                    AttributeProto { name: "upper".into(), r#type: 2, i: 0, ..Default::default() };
                nodes.push(node("ConstantOfShape", &["mask_ends"], "square", vec![value]));
                nodes.push(node("Trilu", &["square"], "mask", vec![upper]));
            }
            _ => nodes.push(n),
        }
    }
    g.node = nodes;
    g.initializer.retain(|t| t.name != "causal");
    m.encode_to_vec()
}

/// The same GPT with `Range` positions and a `Trilu` mask: priced as a polynomial of the same
/// degrees, it gives the same logits as the original, and trains (its gradient graph builds
/// and runs).
#[test]
fn range_and_trilu_forms_are_priced_run_and_train() {
    let (original, rewritten) = (gpt(SPEC), gpt_with_range_and_trilu(SPEC));
    let store = Arc::new(ModelStore::temporary().expect("store"));
    let a = store.put(&original).expect("accepted");
    let b =
        store.put(&rewritten).unwrap_or_else(|e| panic!("the Range/Trilu form is refused: {e}"));
    assert_eq!(b.cost.degrees(), [1, 2]);
    let runtime = runtime(store);
    let ids: Vec<i64> = (0..12).map(|i| (i * 5) % 50).collect();
    let run = |m| runtime.run(m, vec![tokens(2, &ids)]).expect("runs");
    assert_eq!(logits(&run(a.hash)), logits(&run(b.hash)), "the same model");
    let labels = tokens(2, &ids.iter().map(|t| (t + 1) % 50).collect::<Vec<_>>());
    let g = anh_runtime::train::build_gradient_graph(
        &rewritten,
        anh_runtime::train::Loss::CrossEntropy,
        None,
    )
    .expect("trainable");
    assert!(g.weights.iter().any(|w| w.name == "wpe"), "the position table trains through Range");
    let params = anh_primitives::TrainParams {
        steps: 2,
        learning_rate: 10u64.pow(16),
        loss: 2,
        optimizer: 3,
        trainable: Vec::new(),
        rank: 0,
    };
    let out =
        runtime.train(b.hash, vec![tokens(2, &ids), labels], &params, &|_, _| {}).expect("trains");
    assert!(out.loss < out.losses[0], "{:?}", out.losses);
}
