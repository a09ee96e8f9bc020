//! Synthetic ONNX models for benchmarks and tests, written with the [`crate::onnx`] messages.

use crate::onnx::{
    Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, TypeProtoTensor, ValueInfoProto,
};
use prost::Message;

fn value_info(name: &str, dims: &[Dimension]) -> ValueInfoProto {
    typed_value_info(name, 1, dims)
}

/// A tensor value of ONNX element type `elem_type` (1 float32, 7 int64).
fn typed_value_info(name: &str, elem_type: i32, dims: &[Dimension]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type,
                shape: Some(TensorShapeProto { dim: dims.to_vec() }),
            }),
            ..Default::default()
        }),
    }
}

fn fixed(n: i64) -> Dimension {
    Dimension { dim_value: Some(n), dim_param: None }
}

/// `y[batch, n] = x[batch, k] · w[k, n]` in float32, with deterministic weights: `k·n` MACs
/// per sample. The batch dimension is symbolic (`batch`).
pub fn matmul(k: i64, n: i64) -> Vec<u8> {
    let weights: Vec<u8> =
        (0..k * n).flat_map(|i| (((i % 17) as f32 - 8.0) / 64.0).to_le_bytes()).collect();
    let batch = Dimension { dim_value: None, dim_param: Some("batch".into()) };
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 17 }],
        graph: Some(GraphProto {
            name: format!("matmul_{k}x{n}"),
            node: vec![NodeProto {
                input: vec!["x".into(), "w".into()],
                output: vec!["y".into()],
                op_type: "MatMul".into(),
                ..Default::default()
            }],
            initializer: vec![TensorProto {
                name: "w".into(),
                dims: vec![k, n],
                data_type: 1,
                raw_data: weights,
                ..Default::default()
            }],
            input: vec![value_info("x", &[batch.clone(), fixed(k)])],
            output: vec![value_info("y", &[batch, fixed(n)])],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

/// The sum of the Gram matrix, `y = Σ x[n, k] · x[n, k]ᵀ` in float32: `n·k` MACs for the
/// transpose, `n²·k` for the product and `n²` for the sum, so its work grows with the square
/// of the symbolic `n` while its output is one number.
pub fn gram_sum(k: i64) -> Vec<u8> {
    let n = Dimension { dim_value: None, dim_param: Some("n".into()) };
    let node = |op: &str, inputs: &[&str], output: &str| NodeProto {
        input: inputs.iter().map(|s| (*s).into()).collect(),
        output: vec![output.into()],
        op_type: op.into(),
        ..Default::default()
    };
    let mut sum = node("ReduceSum", &["g"], "y");
    sum.attribute = vec![crate::onnx::AttributeProto {
        name: "keepdims".into(),
        r#type: 2,
        i: 0,
        ..Default::default()
    }];
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 17 }],
        graph: Some(GraphProto {
            name: format!("gram_sum_{k}"),
            node: vec![node("Transpose", &["x"], "xt"), node("MatMul", &["x", "xt"], "g"), sum],
            input: vec![value_info("x", &[n, fixed(k)])],
            output: vec![value_info("y", &[])],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

/// A deep MLP with one shared weight: `depth` layers of `h = relu(h · w)` with `w[width,
/// width]`, so `depth·width²` MACs per sample from a file of one `width²` matrix, and small
/// inputs and outputs (`[batch, width]`).
pub fn deep_mlp(width: i64, depth: usize) -> Vec<u8> {
    let weights: Vec<u8> = (0..width * width)
        .flat_map(|i| (((i % 13) as f32 - 6.0) / (4.0 * width as f32)).to_le_bytes())
        .collect();
    let batch = Dimension { dim_value: None, dim_param: Some("batch".into()) };
    let mut node = Vec::with_capacity(2 * depth);
    let mut last = "x".to_string();
    for layer in 0..depth {
        let product = format!("p{layer}");
        let out = if layer + 1 == depth { "y".to_string() } else { format!("h{layer}") };
        node.push(NodeProto {
            input: vec![last.clone(), "w".into()],
            output: vec![product.clone()],
            op_type: "MatMul".into(),
            ..Default::default()
        });
        node.push(NodeProto {
            input: vec![product],
            output: vec![out.clone()],
            op_type: "Relu".into(),
            ..Default::default()
        });
        last = out;
    }
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 17 }],
        graph: Some(GraphProto {
            name: format!("deep_mlp_{depth}x{width}"),
            node,
            initializer: vec![TensorProto {
                name: "w".into(),
                dims: vec![width, width],
                data_type: 1,
                raw_data: weights,
                ..Default::default()
            }],
            input: vec![value_info("x", &[batch.clone(), fixed(width)])],
            output: vec![value_info("y", &[batch, fixed(width)])],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

/// A classifier to train: logits `[batch, classes]` from `x[batch, features]` through
/// `hidden` (`Gemm → Relu`) layers, then a `Gemm` to the classes. Weights are small and
/// deterministic (from `seed`), biases zero. `hidden` empty: logistic (softmax) regression.
pub fn classifier(features: i64, hidden: &[i64], classes: i64, seed: u64) -> Vec<u8> {
    let batch = Dimension { dim_value: None, dim_param: Some("batch".into()) };
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut next = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    };
    let mut node = Vec::new();
    let mut initializer = Vec::new();
    let mut last = "x".to_string();
    let mut width = features;
    let sizes: Vec<i64> = hidden.iter().copied().chain([classes]).collect();
    for (layer, &out) in sizes.iter().enumerate() {
        let scale = 1.0 / (width as f32).sqrt();
        let (w, b) = (format!("w{layer}"), format!("b{layer}"));
        initializer.push(TensorProto {
            name: w.clone(),
            dims: vec![width, out],
            data_type: 1,
            raw_data: (0..width * out).flat_map(|_| (next() * scale).to_le_bytes()).collect(),
            ..Default::default()
        });
        initializer.push(TensorProto {
            name: b.clone(),
            dims: vec![out],
            data_type: 1,
            raw_data: vec![0; 4 * out as usize],
            ..Default::default()
        });
        let last_layer = layer + 1 == sizes.len();
        let gemm = if last_layer { "logits".to_string() } else { format!("g{layer}") };
        node.push(NodeProto {
            input: vec![last.clone(), w, b],
            output: vec![gemm.clone()],
            op_type: "Gemm".into(),
            ..Default::default()
        });
        last = gemm;
        if !last_layer {
            let relu = format!("h{layer}");
            node.push(NodeProto {
                input: vec![last.clone()],
                output: vec![relu.clone()],
                op_type: "Relu".into(),
                ..Default::default()
            });
            last = relu;
        }
        width = out;
    }
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 17 }],
        graph: Some(GraphProto {
            name: format!("classifier_{features}_{classes}"),
            node,
            initializer,
            input: vec![value_info("x", &[batch.clone(), fixed(features)])],
            output: vec![value_info("logits", &[batch, fixed(classes)])],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

/// The shape of a GPT-style model ([`gpt`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GptSpec {
    /// Transformer blocks.
    pub layers: usize,
    /// Width of the residual stream.
    pub d_model: i64,
    /// Attention heads (`d_model` must be a multiple).
    pub heads: i64,
    /// Tokens in the vocabulary.
    pub vocab: i64,
    /// Longest sequence (rows of the position table and the causal mask).
    pub context: i64,
    /// Seed of the weights.
    pub seed: u64,
}

/// A decoder-only transformer in the form `torch.onnx.export` writes GPT-2 (opset 17):
/// `tokens` int64 `[batch, seq]` to `logits` float32 `[batch, seq, vocab]`. Token embeddings
/// by `Gather`, positions by `Slice` of a position table to the sequence's length (read with
/// `Shape`/`Gather`/`Unsqueeze`), then per block: `LayerNormalization`, a fused QKV `MatMul` and
/// `Split`, heads by `Reshape` to a shape built with `Shape`/`Gather`/`Unsqueeze`/`Concat` and
/// `Transpose`, scaled scores, a causal mask sliced from a lower-triangular table and applied
/// with `Where`, `Softmax`, the output projection, and an MLP with GELU in its `Erf` form; a
/// final `LayerNormalization` and an untied LM head. Weights are small and deterministic.
pub fn gpt(spec: GptSpec) -> Vec<u8> {
    transformer(spec, false)
}

/// An encoder-only transformer in the form `torch.onnx.export` writes BERT (opset 17), of the
/// same parts as [`gpt`] but: inputs `tokens`, `token_types` and `attention_mask` (int64
/// `[batch, seq]`, a 0 marks padding), token-type embeddings, `LayerNormalization` of the
/// embeddings and after each residual (post-LN), attention to every position the mask keeps
/// (the mask `Cast` to bool and `Unsqueeze`d over heads and queries, applied with `Where`), and
/// the last hidden states `[batch, seq, d_model]` as the output.
pub fn bert(spec: GptSpec) -> Vec<u8> {
    transformer(spec, true)
}

fn transformer(spec: GptSpec, encoder: bool) -> Vec<u8> {
    use crate::onnx::AttributeProto;
    let GptSpec { layers, d_model: d, heads, vocab, context, seed } = spec;
    let head = d / heads;
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut next = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    };
    let mut initializer = Vec::new();
    let mut floats = |name: &str, dims: &[i64], values: Vec<f32>| {
        initializer.push(TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: 1,
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
    };
    let random = |n: i64, scale: f32, next: &mut dyn FnMut() -> f32| -> Vec<f32> {
        (0..n).map(|_| next() * scale).collect()
    };
    let mut node = Vec::new();
    // `output`: one name, or several separated by commas.
    let mut op = |op_type: &str, input: &[&str], output: &str, attribute: Vec<AttributeProto>| {
        node.push(NodeProto {
            input: input.iter().map(|s| s.to_string()).collect(),
            output: output.split(',').map(str::to_string).collect(),
            op_type: op_type.into(),
            attribute,
            ..Default::default()
        });
    };
    let int = |name: &str, i: i64| AttributeProto {
        name: name.into(),
        r#type: 2,
        i,
        ..Default::default()
    };
    let ints = |name: &str, ints: &[i64]| AttributeProto {
        name: name.into(),
        r#type: 7,
        ints: ints.to_vec(),
        ..Default::default()
    };
    let float = |name: &str, f: f32| AttributeProto {
        name: name.into(),
        r#type: 1,
        f,
        ..Default::default()
    };
    let mut int64s = Vec::new();
    let mut consts = |name: &str, dims: &[i64], values: &[i64]| {
        int64s.push(TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: 7,
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
    };
    consts("zero", &[], &[0]);
    consts("one", &[], &[1]);
    consts("axes0", &[1], &[0]);
    consts("axes01", &[2], &[0, 1]);
    consts("zeros2", &[2], &[0, 0]);
    consts("heads_dims", &[2], &[heads, head]);
    consts("model_dims", &[3], &[0, 0, d]);
    consts("split", &[3], &[d, d, d]);
    if encoder {
        consts("axes12", &[2], &[1, 2]);
    }
    floats("wte", &[vocab, d], random(vocab * d, 0.2, &mut next));
    floats("wpe", &[context, d], random(context * d, 0.2, &mut next));
    let causal: Vec<u8> =
        (0..context).flat_map(|i| (0..context).map(move |j| u8::from(j <= i))).collect();
    int64s.push(TensorProto {
        name: "causal".into(),
        dims: vec![context, context],
        data_type: 9,
        raw_data: causal,
        ..Default::default()
    });
    floats("masked", &[], vec![-1e9]);
    floats("scale", &[], vec![1.0 / (head as f32).sqrt()]);
    floats("half", &[], vec![0.5]);
    floats("unit", &[], vec![1.0]);
    floats("sqrt2", &[], vec![std::f32::consts::SQRT_2]);

    // The sequence length, as torch writes it: Shape → Gather → Unsqueeze.
    op("Shape", &["tokens"], "tokens_shape", vec![]);
    op("Gather", &["tokens_shape", "one"], "seq", vec![int("axis", 0)]);
    op("Unsqueeze", &["seq", "axes0"], "seq_1d", vec![]);
    op("Gather", &["wte", "tokens"], "tok_emb", vec![int("axis", 0)]);
    op("Unsqueeze", &["zero", "axes0"], "zero_1d", vec![]);
    op("Slice", &["wpe", "zero_1d", "seq_1d", "axes0"], "pos_emb", vec![]);
    if encoder {
        floats("wtt", &[2, d], random(2 * d, 0.2, &mut next));
        floats("lne_g", &[d], vec![1.0; d as usize]);
        floats("lne_b", &[d], vec![0.0; d as usize]);
        op("Gather", &["wtt", "token_types"], "type_emb", vec![int("axis", 0)]);
        op("Add", &["tok_emb", "pos_emb"], "tok_pos", vec![]);
        op("Add", &["tok_pos", "type_emb"], "emb", vec![]);
        op(
            "LayerNormalization",
            &["emb", "lne_g", "lne_b"],
            "x0",
            vec![int("axis", -1), float("epsilon", 1e-12)],
        );
        // [batch, 1, 1, seq]: which keys every query may attend to.
        op("Cast", &["attention_mask"], "mask_bool", vec![int("to", 9)]);
        op("Unsqueeze", &["mask_bool", "axes12"], "mask", vec![]);
    } else {
        op("Add", &["tok_emb", "pos_emb"], "x0", vec![]);
        op("Concat", &["seq_1d", "seq_1d"], "mask_ends", vec![int("axis", 0)]);
        op("Slice", &["causal", "zeros2", "mask_ends", "axes01"], "mask", vec![]);
    }

    let scale = 1.0 / (d as f32).sqrt();
    let mut x = "x0".to_string();
    for l in 0..layers {
        let n = |s: &str| format!("l{l}_{s}");
        floats(&n("ln1_g"), &[d], vec![1.0; d as usize]);
        floats(&n("ln1_b"), &[d], vec![0.0; d as usize]);
        floats(&n("w_qkv"), &[d, 3 * d], random(3 * d * d, scale, &mut next));
        floats(&n("b_qkv"), &[3 * d], vec![0.0; 3 * d as usize]);
        floats(&n("w_out"), &[d, d], random(d * d, scale, &mut next));
        floats(&n("b_out"), &[d], vec![0.0; d as usize]);
        floats(&n("ln2_g"), &[d], vec![1.0; d as usize]);
        floats(&n("ln2_b"), &[d], vec![0.0; d as usize]);
        floats(&n("w_fc"), &[d, 4 * d], random(4 * d * d, scale, &mut next));
        floats(&n("b_fc"), &[4 * d], vec![0.0; 4 * d as usize]);
        floats(&n("w_proj"), &[4 * d, d], random(4 * d * d, scale / 2.0, &mut next));
        floats(&n("b_proj"), &[d], vec![0.0; d as usize]);
        let ln = vec![int("axis", -1), float("epsilon", 1e-5)];
        // Pre-LN (GPT) normalises each block's input; post-LN (BERT) each residual sum.
        if encoder {
            op("Identity", &[&x], &n("h"), vec![]);
        } else {
            op("LayerNormalization", &[&x, &n("ln1_g"), &n("ln1_b")], &n("h"), ln.clone());
        }
        op("MatMul", &[&n("h"), &n("w_qkv")], &n("qkv_mm"), vec![]);
        op("Add", &[&n("qkv_mm"), &n("b_qkv")], &n("qkv"), vec![]);
        let qkv_out = format!("{},{},{}", n("q"), n("k"), n("v"));
        op("Split", &[&n("qkv"), "split"], &qkv_out, vec![int("axis", 2)]);
        // [batch, seq, heads, head] from the input's own shape.
        op("Shape", &[&n("h")], &n("h_shape"), vec![]);
        op("Gather", &[&n("h_shape"), "zero"], &n("b"), vec![int("axis", 0)]);
        op("Gather", &[&n("h_shape"), "one"], &n("s"), vec![int("axis", 0)]);
        op("Unsqueeze", &[&n("b"), "axes0"], &n("b_1d"), vec![]);
        op("Unsqueeze", &[&n("s"), "axes0"], &n("s_1d"), vec![]);
        op(
            "Concat",
            &[&n("b_1d"), &n("s_1d"), "heads_dims"],
            &n("split_shape"),
            vec![int("axis", 0)],
        );
        for (t, perm) in [("q", [0, 2, 1, 3]), ("k", [0, 2, 3, 1]), ("v", [0, 2, 1, 3])] {
            op("Reshape", &[&n(t), &n("split_shape")], &n(&format!("{t}_heads")), vec![]);
            op(
                "Transpose",
                &[&n(&format!("{t}_heads"))],
                &n(&format!("{t}_t")),
                vec![ints("perm", &perm)],
            );
        }
        op("MatMul", &[&n("q_t"), &n("k_t")], &n("scores_raw"), vec![]);
        op("Mul", &[&n("scores_raw"), "scale"], &n("scores"), vec![]);
        op("Where", &["mask", &n("scores"), "masked"], &n("scores_masked"), vec![]);
        op("Softmax", &[&n("scores_masked")], &n("attn"), vec![int("axis", -1)]);
        op("MatMul", &[&n("attn"), &n("v_t")], &n("ctx_heads"), vec![]);
        op("Transpose", &[&n("ctx_heads")], &n("ctx_t"), vec![ints("perm", &[0, 2, 1, 3])]);
        op("Reshape", &[&n("ctx_t"), "model_dims"], &n("ctx"), vec![]);
        op("MatMul", &[&n("ctx"), &n("w_out")], &n("out_mm"), vec![]);
        op("Add", &[&n("out_mm"), &n("b_out")], &n("out"), vec![]);
        op("Add", &[&x, &n("out")], &n("x_attn"), vec![]);
        if encoder {
            op(
                "LayerNormalization",
                &[&n("x_attn"), &n("ln1_g"), &n("ln1_b")],
                &n("h2"),
                ln.clone(),
            );
        } else {
            op(
                "LayerNormalization",
                &[&n("x_attn"), &n("ln2_g"), &n("ln2_b")],
                &n("h2"),
                ln.clone(),
            );
        }
        op("MatMul", &[&n("h2"), &n("w_fc")], &n("fc_mm"), vec![]);
        op("Add", &[&n("fc_mm"), &n("b_fc")], &n("fc"), vec![]);
        // GELU, exact: 0.5 · x · (1 + erf(x / √2)).
        op("Div", &[&n("fc"), "sqrt2"], &n("fc_s"), vec![]);
        op("Erf", &[&n("fc_s")], &n("fc_erf"), vec![]);
        op("Add", &[&n("fc_erf"), "unit"], &n("fc_1p"), vec![]);
        op("Mul", &[&n("fc"), &n("fc_1p")], &n("fc_m"), vec![]);
        op("Mul", &[&n("fc_m"), "half"], &n("gelu"), vec![]);
        op("MatMul", &[&n("gelu"), &n("w_proj")], &n("proj_mm"), vec![]);
        op("Add", &[&n("proj_mm"), &n("b_proj")], &n("proj"), vec![]);
        if encoder {
            op("Add", &[&n("h2"), &n("proj")], &n("x_mlp"), vec![]);
            op("LayerNormalization", &[&n("x_mlp"), &n("ln2_g"), &n("ln2_b")], &n("x"), ln);
        } else {
            op("Add", &[&n("x_attn"), &n("proj")], &n("x"), vec![]);
        }
        x = n("x");
    }
    if encoder {
        op("Identity", &[&x], "hidden", vec![]);
        return model(
            format!("bert_{layers}x{d}"),
            node,
            initializer.into_iter().chain(int64s).collect(),
            ["tokens", "token_types", "attention_mask"]
                .map(|name| typed_value_info(name, 7, &[symbol("batch"), symbol("seq")]))
                .to_vec(),
            vec![value_info("hidden", &[symbol("batch"), symbol("seq"), fixed(d)])],
        );
    }
    floats("lnf_g", &[d], vec![1.0; d as usize]);
    floats("lnf_b", &[d], vec![0.0; d as usize]);
    floats("lm_head", &[d, vocab], random(d * vocab, scale, &mut next));
    op(
        "LayerNormalization",
        &[&x, "lnf_g", "lnf_b"],
        "xf",
        vec![int("axis", -1), float("epsilon", 1e-5)],
    );
    op("MatMul", &["xf", "lm_head"], "logits", vec![]);
    model(
        format!("gpt_{layers}x{d}"),
        node,
        initializer.into_iter().chain(int64s).collect(),
        vec![typed_value_info("tokens", 7, &[symbol("batch"), symbol("seq")])],
        vec![value_info("logits", &[symbol("batch"), symbol("seq"), fixed(vocab)])],
    )
}

fn symbol(name: &str) -> Dimension {
    Dimension { dim_value: None, dim_param: Some(name.into()) }
}

/// An opset-17 model of one graph, encoded.
fn model(
    name: String,
    node: Vec<NodeProto>,
    initializer: Vec<TensorProto>,
    input: Vec<ValueInfoProto>,
    output: Vec<ValueInfoProto>,
) -> Vec<u8> {
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 17 }],
        graph: Some(GraphProto { name, node, initializer, input, output, ..Default::default() }),
        ..Default::default()
    }
    .encode_to_vec()
}
