//! Synthetic ONNX models for benchmarks and tests, written with the [`crate::onnx`] messages.

use crate::onnx::{
    Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, TypeProtoTensor, ValueInfoProto,
};
use prost::Message;

fn value_info(name: &str, dims: &[Dimension]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: 1,
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
