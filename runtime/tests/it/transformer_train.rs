//! Training transformers: the gradient of every op a `torch.onnx.export` transformer puts
//! between a weight and the loss, against central finite differences (as `train` does for the
//! others), sequence cross-entropy with its ignore label against a hand computation, a whole
//! GPT-style model's gradient, its loss falling under Adam, and the refusals.

use crate::common::runtime;
use crate::train::{
    ANY, BATCH, F32, F64, I64, Model, Rng, Runner, SEQ, a_float, a_int, a_str, grad_check,
    grad_check_model, host, input, int_tensor, node, targets, tensor,
};
use anh_primitives::TrainParams;
use anh_runtime::{
    HostTensor, ModelRuntime, ModelStore, RuntimeError, TensorData,
    onnx::{ModelProto, TensorProto},
    synth::{GptSpec, gpt},
    train::{
        IGNORE_LABEL, Loss, Optimizer, TrainSpec, build_gradient_graph, build_loss_graph,
        build_step_graph,
    },
};
use prost::Message;
use std::sync::Arc;

/// Int64 class indices of any shape.
fn classes(shape: &[u64], values: &[i64]) -> HostTensor {
    HostTensor::new(shape.to_vec(), TensorData::I64(values.to_vec())).expect("labels")
}

/// `y = op(x·w)` on a symbolic batch, with `x` and `w` drawn from `[lo, hi)` (positive ranges
/// keep Sqrt, Log and Reciprocal in their domain).
fn unary(elem: i32, rng: &mut Rng, op: &str, lo: f64, hi: f64) -> (Model, Vec<HostTensor>) {
    let mut model = Model::new(elem);
    model
        .input("x", &[BATCH, 3])
        .weight("w", &[3, 4], rng.values(12, lo, hi))
        .node(node("MatMul", &["x", "w"], &["h"], vec![]))
        .node(node(op, &["h"], &["y"], vec![]))
        .output("y", &[BATCH, 4]);
    let batch = vec![host(elem, &[5, 3], &rng.values(15, lo, hi)), targets(elem, rng, &[5, 4])];
    (model, batch)
}

/// Ops ONNX Runtime's CPU provider implements for float only ("Could not find an
/// implementation for Erf(13)" in float64): their checks run in float32, with its looser
/// tolerance.
const FLOAT32_ONLY: [&str; 2] = ["Erf", "Gelu"];

/// Neg, Exp, Erf, Sqrt, Log, Reciprocal; Gelu exact and tanh (opset 20).
#[test]
fn gradient_elementwise() {
    let mut rng = Rng(21);
    for (op, lo, hi) in [
        ("Neg", -1.0, 1.0),
        ("Exp", -1.0, 1.0),
        ("Erf", -1.0, 1.0),
        ("Sqrt", 0.2, 1.0),
        ("Log", 0.2, 1.0),
        ("Reciprocal", 0.2, 1.0),
    ] {
        let elem = if FLOAT32_ONLY.contains(&op) { F32 } else { F64 };
        let (model, batch) = unary(elem, &mut rng, op, lo, hi);
        grad_check(op, &model, Loss::Mse, batch);
    }
    for approximate in ["none", "tanh"] {
        let elem = if FLOAT32_ONLY.contains(&"Gelu") { F32 } else { F64 };
        let mut m = Model::new(elem);
        m.opset = 20;
        m.input("x", &[BATCH, 3])
            .weight("w", &[3, 4], rng.signed(12))
            .node(node("MatMul", &["x", "w"], &["h"], vec![]))
            .node(node("Gelu", &["h"], &["y"], vec![a_str("approximate", approximate)]))
            .output("y", &[BATCH, 4]);
        let batch = vec![input(elem, &mut rng, &[5, 3]), targets(elem, &mut rng, &[5, 4])];
        grad_check(&format!("Gelu {approximate}"), &m, Loss::Mse, batch);
    }
}

/// Pow with a weight base and a weight exponent (both gradients, broadcast), at a zero base,
/// and with an int64 constant exponent (the decomposed LayerNorm's `Pow(d, 2)`).
#[test]
fn gradient_pow() {
    let mut rng = Rng(22);
    let mut model = Model::new(F64);
    model
        .weight("a", &[3, 4], rng.values(12, 0.5, 1.5))
        .weight("e", &[4], rng.values(4, 0.5, 2.5))
        .node(node("Pow", &["a", "e"], &["y"], vec![]))
        .output("y", &[3, 4]);
    grad_check("Pow a^e", &model, Loss::Mse, vec![targets(F64, &mut rng, &[3, 4])]);

    // At a = 0: the exponent's gradient there is 0 (not 0 · ln 0 = NaN); with e = 2 the
    // base's is 0 too, and both check against finite differences.
    let mut model = Model::new(F64);
    model
        .weight("a", &[3], vec![0.0, 0.5, 1.2])
        .weight("e", &[], vec![2.0])
        .node(node("Pow", &["a", "e"], &["y"], vec![]))
        .output("y", &[3]);
    grad_check("Pow at a = 0", &model, Loss::Mse, vec![targets(F64, &mut rng, &[3])]);

    let mut model = Model::new(F64);
    let two = TensorProto {
        name: "two".into(),
        data_type: I64,
        raw_data: 2i64.to_le_bytes().to_vec(),
        ..Default::default()
    };
    model
        .input("x", &[BATCH, 3])
        .weight("w", &[3], rng.signed(3))
        .constant(two)
        .node(node("Add", &["x", "w"], &["h"], vec![]))
        .node(node("Pow", &["h", "two"], &["y"], vec![]))
        .output("y", &[BATCH, 3]);
    let batch = vec![input(F64, &mut rng, &[4, 3]), targets(F64, &mut rng, &[4, 3])];
    grad_check("Pow x^2 (int64 exponent)", &model, Loss::Mse, batch);
}

/// Where with a mask from the input: both branches are weights, one broadcast.
#[test]
fn gradient_where() {
    let mut rng = Rng(23);
    let mut model = Model::new(F64);
    let zero = tensor("zero", F64, &[], &[0.0]);
    model
        .input("x", &[3, 4])
        .weight("a", &[3, 4], rng.signed(12))
        .weight("b", &[4], rng.signed(4))
        .constant(zero)
        .node(node("Greater", &["x", "zero"], &["mask"], vec![]))
        .node(node("Where", &["mask", "a", "b"], &["y"], vec![]))
        .output("y", &[3, 4]);
    let batch = vec![input(F64, &mut rng, &[3, 4]), targets(F64, &mut rng, &[3, 4])];
    grad_check("Where", &model, Loss::Mse, batch);
}

/// Unsqueeze, Squeeze, Expand and Cast (to the model's own type) pass the gradient back in
/// the input's shape; Expand sums over what it broadcast.
#[test]
fn gradient_shape_and_cast_ops() {
    let mut rng = Rng(24);
    let mut model = Model::new(F64);
    model
        .weight("w", &[3, 1], rng.signed(3))
        .constant(int_tensor("at0", &[0]))
        .constant(int_tensor("at2", &[2]))
        .constant(int_tensor("full", &[2, 3, 4]))
        .node(node("Unsqueeze", &["w", "at0"], &["u"], vec![]))
        .node(node("Expand", &["u", "full"], &["e"], vec![]))
        .node(node("Cast", &["e"], &["c"], vec![a_int("to", i64::from(F64))]))
        .node(node("Unsqueeze", &["c", "at2"], &["c4"], vec![]))
        .node(node("Squeeze", &["c4", "at2"], &["y"], vec![]))
        .output("y", &[2, 3, 4]);
    grad_check(
        "Unsqueeze/Expand/Cast/Squeeze",
        &model,
        Loss::Mse,
        vec![targets(F64, &mut rng, &[2, 3, 4])],
    );
}

/// Gather: an embedding table read by int64 tokens with repeats and negative indices (rows
/// sum their positions' gradients), and a gather along axis 1 by constant indices.
#[test]
fn gradient_gather() {
    let mut rng = Rng(25);
    let mut model = Model::new(F64);
    model.typed_input("tokens", I64, &[BATCH, 3]);
    model
        .weight("table", &[5, 2], rng.signed(10))
        .node(node("Gather", &["table", "tokens"], &["y"], vec![]))
        .output("y", &[BATCH, 3, 2]);
    let tokens = classes(&[2, 3], &[0, 2, -1, 2, 2, 1]);
    grad_check(
        "Gather embedding",
        &model,
        Loss::Mse,
        vec![tokens, targets(F64, &mut rng, &[2, 3, 2])],
    );

    let mut model = Model::new(F64);
    model
        .weight("w", &[2, 4, 3], rng.signed(24))
        .constant(int_tensor("idx", &[3, 0, 3, -4]))
        .node(node("Gather", &["w", "idx"], &["y"], vec![a_int("axis", 1)]))
        .output("y", &[2, 4, 3]);
    grad_check("Gather axis 1", &model, Loss::Mse, vec![targets(F64, &mut rng, &[2, 4, 3])]);
}

/// Slice: constant starts/ends with steps (negative too) on two axes, and the position
/// table sliced to the sequence's length read from the input's shape (the GPT idiom).
#[test]
fn gradient_slice() {
    let mut rng = Rng(26);
    let mut model = Model::new(F64);
    model
        .weight("w", &[5, 6], rng.signed(30))
        .constant(int_tensor("starts", &[4, 1]))
        .constant(int_tensor("ends", &[0, 6]))
        .constant(int_tensor("axes", &[0, -1]))
        .constant(int_tensor("steps", &[-2, 2]))
        .node(node("Slice", &["w", "starts", "ends", "axes", "steps"], &["y"], vec![]))
        .output("y", &[2, 3]);
    grad_check("Slice with steps", &model, Loss::Mse, vec![targets(F64, &mut rng, &[2, 3])]);

    let mut model = Model::new(F64);
    model
        .input("x", &[BATCH, SEQ, 2])
        .weight("wpe", &[16, 2], rng.signed(32))
        .constant(int_tensor("zero", &[0]))
        .constant(int_tensor("one", &[1]))
        .constant(int_tensor("axes0", &[0]))
        .node(node("Shape", &["x"], &["s"], vec![]))
        .node(node("Gather", &["s", "one"], &["seq"], vec![]))
        .node(node("Slice", &["wpe", "zero", "seq", "axes0"], &["pos"], vec![]))
        .node(node("Add", &["x", "pos"], &["y"], vec![]))
        .output("y", &[BATCH, SEQ, 2]);
    let batch = vec![input(F64, &mut rng, &[2, 4, 2]), targets(F64, &mut rng, &[2, 4, 2])];
    grad_check("Slice to the sequence's length", &model, Loss::Mse, batch);
}

/// Split into q, k, v with one part unused (its gradient is zeros), sizes constant.
#[test]
fn gradient_split() {
    let mut rng = Rng(27);
    let mut model = Model::new(F64);
    model
        .weight("w", &[3, 9], rng.signed(27))
        .constant(int_tensor("sizes", &[3, 4, 2]))
        .node(node("Split", &["w", "sizes"], &["q", "k", "v"], vec![a_int("axis", 1)]))
        .node(node("Transpose", &["q"], &["qt"], vec![]))
        .node(node("MatMul", &["qt", "k"], &["y"], vec![]))
        .output("y", &[3, 4]);
    grad_check("Split, one part unused", &model, Loss::Mse, vec![targets(F64, &mut rng, &[3, 4])]);
}

/// LayerNormalization: over the last axis with a bias on a symbolic batch, over the last two
/// axes without one; and the decomposed form exporters write for older opsets.
#[test]
fn gradient_layer_norm() {
    let mut rng = Rng(28);
    let mut model = Model::new(F64);
    model
        .input("x", &[BATCH, 3, 4])
        .weight("w", &[4, 4], rng.signed(16))
        .weight("gamma", &[4], rng.values(4, 0.5, 1.5))
        .weight("beta", &[4], rng.signed(4))
        .node(node("MatMul", &["x", "w"], &["h"], vec![]))
        .node(node(
            "LayerNormalization",
            &["h", "gamma", "beta"],
            &["y"],
            vec![a_float("epsilon", 1e-3)],
        ))
        .output("y", &[BATCH, 3, 4]);
    let batch = vec![input(F64, &mut rng, &[2, 3, 4]), targets(F64, &mut rng, &[2, 3, 4])];
    grad_check("LayerNormalization last axis", &model, Loss::Mse, batch);

    let mut model = Model::new(F64);
    model
        .weight("h", &[2, 3, 4], rng.signed(24))
        .weight("gamma", &[3, 4], rng.values(12, 0.5, 1.5))
        .node(node("LayerNormalization", &["h", "gamma"], &["y"], vec![a_int("axis", 1)]))
        .output("y", &[2, 3, 4]);
    grad_check(
        "LayerNormalization axis 1",
        &model,
        Loss::Mse,
        vec![targets(F64, &mut rng, &[2, 3, 4])],
    );

    let mut model = Model::new(F64);
    model.opset = 13;
    let two = TensorProto {
        name: "two".into(),
        data_type: I64,
        raw_data: 2i64.to_le_bytes().to_vec(),
        ..Default::default()
    };
    model
        .input("x", &[BATCH, 4])
        .weight("w", &[4, 4], rng.signed(16))
        .weight("gamma", &[4], rng.values(4, 0.5, 1.5))
        .weight("eps", &[], vec![1e-3])
        .constant(two)
        .node(node("MatMul", &["x", "w"], &["h"], vec![]))
        .node(node("ReduceMean", &["h"], &["mu"], vec![crate::train::a_ints("axes", &[-1])]))
        .node(node("Sub", &["h", "mu"], &["d"], vec![]))
        .node(node("Pow", &["d", "two"], &["sq"], vec![]))
        .node(node("ReduceMean", &["sq"], &["var"], vec![crate::train::a_ints("axes", &[-1])]))
        .node(node("Add", &["var", "eps"], &["ve"], vec![]))
        .node(node("Sqrt", &["ve"], &["sd"], vec![]))
        .node(node("Div", &["d", "sd"], &["n"], vec![]))
        .node(node("Mul", &["n", "gamma"], &["y"], vec![]))
        .output("y", &[BATCH, 4]);
    let batch = vec![input(F64, &mut rng, &[3, 4]), targets(F64, &mut rng, &[3, 4])];
    grad_check("LayerNorm decomposed", &model, Loss::Mse, batch);
}

/// Sequence cross-entropy on `[batch, seq, classes]` logits equals a hand computation, skips
/// positions labelled −100, is 0 when every position is skipped, and its gradient checks.
#[test]
fn sequence_cross_entropy() {
    assert_eq!(IGNORE_LABEL, -100);
    let mut rng = Rng(29);
    let w = rng.signed(6);
    let mut model = Model::new(F64);
    model
        .input("x", &[BATCH, ANY, 2])
        .weight("w", &[2, 3], w.clone())
        .node(node("MatMul", &["x", "w"], &["y"], vec![]))
        .output("y", &[BATCH, ANY, 3]);
    let x = rng.signed(2 * 2 * 2);
    let labels = [2i64, -100, 0, 1];
    let mut r = Runner::new(&build_loss_graph(&model.bytes(), Loss::CrossEntropy).expect("graph"));
    let got = r.run(&[host(F64, &[2, 2, 2], &x), classes(&[2, 2], &labels)])[0][0];
    let mut total = 0.0;
    for (p, &label) in labels.iter().enumerate() {
        if label == IGNORE_LABEL {
            continue;
        }
        let logits: Vec<f64> = (0..3).map(|c| x[p * 2] * w[c] + x[p * 2 + 1] * w[3 + c]).collect();
        let lse = logits.iter().map(|v| v.exp()).sum::<f64>().ln();
        total += lse - logits[label as usize];
    }
    let expected = total / 3.0;
    assert!((got - expected).abs() < 1e-12, "sequence CE {got} vs {expected}");
    let none = r.run(&[host(F64, &[2, 2, 2], &x), classes(&[2, 2], &[-100; 4])])[0][0];
    assert_eq!(none, 0.0, "every position ignored");

    let batch = vec![host(F64, &[2, 2, 2], &x), classes(&[2, 2], &labels)];
    grad_check("sequence cross-entropy", &model, Loss::CrossEntropy, batch);

    // Weighted cross-entropy stays per sample: sequence logits are refused, by name.
    let e = build_step_graph(
        &model.bytes(),
        &TrainSpec { loss: Loss::WeightedCrossEntropy, optimizer: Optimizer::Sgd, trainable: None },
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("weighted cross-entropy needs the model's first output \"y\" to be logits shaped [batch, classes]"),
        "{e}"
    );
}

/// A model's float32 initializers: name, dims, values.
fn float_weights(model: &[u8]) -> Vec<(String, Vec<i64>, Vec<f64>)> {
    let m = ModelProto::decode(model).expect("model");
    m.graph
        .expect("graph")
        .initializer
        .iter()
        .filter(|t| t.data_type == F32)
        .map(|t| {
            let v = t
                .raw_data
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes(c.try_into().expect("4 bytes"))))
                .collect();
            (t.name.clone(), t.dims.clone(), v)
        })
        .collect()
}

fn tiny_gpt(layers: usize) -> Vec<u8> {
    gpt(GptSpec { layers, d_model: 8, heads: 2, vocab: 7, context: 16, seed: 3 })
}

/// Every weight of a 2-layer GPT-style model (embeddings, LayerNorms, fused QKV with Split,
/// heads by Reshape/Transpose, causal Where mask, Softmax, GELU in its Erf form, LM head):
/// its next-token loss's gradient against finite differences (in float32: ONNX Runtime has no
/// float64 Erf), with a padded position; the step graph keeps the `batch` and `seq` symbols
/// (no run-time broadcast search).
#[test]
fn gradient_whole_gpt() {
    let model = tiny_gpt(2);
    let weights = float_weights(&model);
    let tokens = classes(&[2, 5], &[1, 4, 4, 0, 6, 3, 2, 5, 1, 1]);
    let next = classes(&[2, 5], &[4, 4, 0, 6, -100, 2, 5, 1, 1, 0]);
    // The embeddings are small (±0.1) and LayerNorm divides by their spread: float32's usual
    // step of 1e-2 is too coarse for a central difference there; 1e-3 is not.
    let batch = vec![tokens, next];
    grad_check_model("GPT 2x8", &model, F32, &weights, Loss::CrossEntropy, batch, Some(1e-3));

    let g = build_gradient_graph(&model, Loss::CrossEntropy, None).expect("graph");
    let ops: Vec<String> = ModelProto::decode(g.model.as_slice())
        .expect("decodes")
        .graph
        .expect("graph")
        .node
        .iter()
        .map(|n| n.op_type.clone())
        .collect();
    assert!(!ops.iter().any(|o| o == "NonZero"), "static broadcasts: {ops:?}");
}

/// Adam through the runtime's `train` (the path a `train` transaction takes) on a 2-layer
/// GPT-style model learns a fixed sequence: the loss falls at every one of 30 steps, to under
/// a fifth of where it started.
#[test]
fn gpt_learns_a_sequence_under_adam() {
    let store = Arc::new(ModelStore::temporary().expect("store"));
    let info = store.put(&tiny_gpt(2)).expect("stored");
    let rt = runtime(store);
    let seq = [1i64, 2, 3, 4, 5, 6];
    let batch = vec![classes(&[1, 5], &seq[..5]), classes(&[1, 5], &seq[1..])];
    let params = TrainParams {
        steps: 30,
        learning_rate: 10u64.pow(16),
        loss: 2,
        optimizer: 3,
        trainable: Vec::new(),
        rank: 0,
    };
    let out = rt.train(info.hash, batch, &params, &|_, _| {}).expect("trains");
    assert_eq!(out.losses.len(), 31, "the loss before each step, and after the last");
    assert!(out.losses.windows(2).all(|w| w[1] < w[0]), "{:?}", out.losses);
    assert!(out.loss < out.losses[0] / 5.0, "{:?}", out.losses);
}

/// Refusals: a Cast to another type on the path, a LayerNormalization whose mean output
/// reaches the loss, cross-entropy on a vector. (Ops without a gradient: `train`.)
#[test]
fn transformer_refusals() {
    let sgd = |loss| TrainSpec { loss, optimizer: Optimizer::Sgd, trainable: None };
    let mut m = Model::new(F32);
    m.input("x", &[BATCH, 3])
        .weight("w", &[3, 2], vec![0.1; 6])
        .node(node("MatMul", &["x", "w"], &["h"], vec![]))
        .node(node("Cast", &["h"], &["c"], vec![a_int("to", i64::from(F64))]))
        .node(node("Cast", &["c"], &["y"], vec![a_int("to", i64::from(F32))]))
        .output("y", &[BATCH, 2]);
    let e = build_step_graph(&m.bytes(), &sgd(Loss::Mse)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "model is not trainable: op \"Cast\" (node \"Cast_c\") casts to float64: ANH \
         differentiates only through values of the model's float type (float32)"
    );

    let mut m = Model::new(F32);
    m.input("x", &[BATCH, 3])
        .weight("g", &[3], vec![1.0; 3])
        .node(node("LayerNormalization", &["x", "g"], &["n", "mean"], vec![]))
        .node(node("Add", &["n", "mean"], &["y"], vec![]))
        .output("y", &[BATCH, 3]);
    let e = build_step_graph(&m.bytes(), &sgd(Loss::Mse)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "model is not trainable: op \"LayerNormalization\" (node \"LayerNormalization_n\") has \
         a gradient in ANH through its first output only; its output 1 (\"mean\") reaches the loss"
    );

    let mut m = Model::new(F32);
    m.input("x", &[BATCH, 3])
        .weight("w", &[3], vec![0.1; 3])
        .node(node("MatMul", &["x", "w"], &["y"], vec![]))
        .output("y", &[BATCH]);
    let e = build_step_graph(&m.bytes(), &sgd(Loss::CrossEntropy)).unwrap_err();
    assert!(matches!(e, RuntimeError::LossTarget(_)), "{e}");
    assert!(e.to_string().contains("[batch, classes] or [batch, positions…, classes]"), "{e}");
}

/// LoRA adapters differentiate like any weight: on the fused QKV and MLP weights of a GPT
/// (MatMul) and on a Gemm with `transB` 1, every weight of the adapted model (the adapters
/// included) checks against finite differences, after one step moved `B` off zero; merging
/// the adapters gives a model whose outputs match the adapted one's.
#[test]
fn gradient_through_adapters() {
    use anh_runtime::train::adapt::{adapt, merge};
    // A Gemm reading its weight transposed, and a MatMul, adapted together.
    let mut rng = Rng(30);
    let mut m = Model::new(F32);
    m.input("x", &[BATCH, 6])
        .weight("wt", &[8, 6], rng.signed(48))
        .weight("bias", &[8], rng.signed(8))
        .weight("w2", &[8, 8], rng.signed(64))
        .node(node("Gemm", &["x", "wt", "bias"], &["h"], vec![a_int("transB", 1)]))
        .node(node("Tanh", &["h"], &["t"], vec![]))
        .node(node("MatMul", &["t", "w2"], &["y"], vec![]))
        .output("y", &[BATCH, 8]);
    let targets = vec!["wt".to_string(), "w2".to_string()];
    let adapted = adapt(&m.bytes(), &targets, 2).unwrap();
    // B away from zero (one SGD step on random targets), so that every gradient is alive.
    let batch = vec![input(F32, &mut rng, &[4, 6]), targets_for(&mut rng, &[4, 8])];
    let stepped = step_adapters(&adapted.model, &adapted.trainable(), batch.clone());
    grad_check_model(
        "Gemm transB + MatMul adapters",
        &stepped,
        F32,
        &float_weights(&stepped),
        Loss::Mse,
        batch.clone(),
        Some(1e-3),
    );
    let trained: Vec<(String, Vec<f32>)> = float_weights(&stepped)
        .into_iter()
        .filter(|(n, _, _)| n.starts_with("anh.lora."))
        .map(|(n, _, v)| (n, v.iter().map(|&x| x as f32).collect()))
        .collect();
    let merged = merge(&m.bytes(), &adapted, &trained).unwrap();
    let (a, b) = (Runner::new(&stepped).run(&batch[..1]), Runner::new(&merged).run(&batch[..1]));
    for (x, y) in a[0].iter().zip(&b[0]) {
        assert!((x - y).abs() < 1e-5, "merged {y} vs adapted {x}");
    }

    let gpt = tiny_gpt(1);
    // The embedding table is read by a Gather: merging an adapter would change what it gathers.
    let e = adapt(&gpt, &["wte".to_string()], 2).unwrap_err();
    assert!(
        e.to_string().contains("adapter target \"wte\" is read by node")
            && e.to_string().contains("(Gather) other than as the weight operand of a MatMul"),
        "{e}"
    );
    let e = adapt(&gpt, &["l0_w_fc".to_string()], 0).unwrap_err();
    assert!(e.to_string().contains("adapter rank 0: expected 1 to 64"), "{e}");
    let adapted = adapt(&gpt, &["l0_w_qkv".to_string(), "l0_w_fc".to_string()], 2).unwrap();
    let tokens = classes(&[1, 5], &[1, 4, 4, 0, 6]);
    let next = classes(&[1, 5], &[4, 4, 0, 6, 2]);
    let batch = vec![tokens, next];
    let stepped = step_adapters_ce(&adapted.model, &adapted.trainable(), batch.clone());
    grad_check_model(
        "GPT with adapters",
        &stepped,
        F32,
        &float_weights(&stepped),
        Loss::CrossEntropy,
        batch,
        Some(1e-3),
    );
}

fn targets_for(rng: &mut Rng, shape: &[u64]) -> HostTensor {
    targets(F32, rng, shape)
}

/// `model` after one SGD step (learning rate 0.5) of its `trainable` weights on `batch`.
fn step_adapters(model: &[u8], trainable: &[String], batch: Vec<HostTensor>) -> Vec<u8> {
    step_with(model, trainable, batch, Loss::Mse)
}

fn step_adapters_ce(model: &[u8], trainable: &[String], batch: Vec<HostTensor>) -> Vec<u8> {
    step_with(model, trainable, batch, Loss::CrossEntropy)
}

fn step_with(model: &[u8], trainable: &[String], batch: Vec<HostTensor>, loss: Loss) -> Vec<u8> {
    let spec = TrainSpec { loss, optimizer: Optimizer::Sgd, trainable: Some(trainable.to_vec()) };
    let g = build_step_graph(model, &spec).unwrap();
    let weights = anh_runtime::train::read_weights(model, &spec).unwrap();
    let mut feed: Vec<HostTensor> = g
        .weights
        .iter()
        .zip(&weights)
        .map(|(s, (_, v))| {
            let shape: Vec<u64> = s.shape.iter().map(|d| d.to_string().parse().unwrap()).collect();
            HostTensor::new(shape, TensorData::F32(v.clone())).unwrap()
        })
        .collect();
    feed.extend(batch);
    feed.push(host(F32, &[], &[0.5]));
    let out = Runner::new(&g.model).run(&feed);
    let new: Vec<(String, Vec<f32>)> = g
        .weights
        .iter()
        .zip(&out)
        .map(|(s, v)| (s.name.clone(), v.iter().map(|&x| x as f32).collect()))
        .collect();
    anh_runtime::train::write_weights(model, &new, &[]).unwrap()
}
