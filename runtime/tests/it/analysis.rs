//! `analyze` on the fixtures: signatures and costs of the good models, and every refusal path
//! with its message.

use crate::common::fixture;
use alloy_primitives::keccak256;
use anh_runtime::{AnalysisError, Dim, ElemType, IoKind, Limits, TensorSpec, analyze};

fn spec(name: &str, elem: ElemType, shape: &[Dim]) -> TensorSpec {
    TensorSpec { name: name.into(), elem, shape: shape.to_vec() }
}

fn sym(s: &str) -> Dim {
    Dim::Symbolic(s.into())
}

fn analyze_fixture(name: &str) -> Result<anh_runtime::ModelInfo, AnalysisError> {
    analyze(&fixture(name), &Limits::default())
}

/// The 4-16-3 MLP: signature with symbolic batch, and MACs by hand:
/// Gemm 4·16 + bias 16, Relu 16, Gemm 16·3 + bias 3 = 147.
#[test]
fn mlp_signature_and_cost() {
    let bytes = fixture("mlp.onnx");
    let info = analyze(&bytes, &Limits::default()).expect("accepted");
    assert_eq!(info.hash, keccak256(&bytes));
    assert_eq!(info.size, bytes.len() as u64);
    assert_eq!(info.inputs, vec![spec("x", ElemType::F32, &[sym("batch"), Dim::Fixed(4)])]);
    assert_eq!(info.outputs, vec![spec("y", ElemType::F32, &[sym("batch"), Dim::Fixed(3)])]);
    assert_eq!(info.macs(), 4 * 16 + 16 + 16 + 16 * 3 + 3);
    assert_eq!(info.parent, None);
}

/// The 784-256-10 MLP: 784·256 + 256 + 256 + 256·10 + 10 MACs.
#[test]
fn mlp_784_cost() {
    let info = analyze_fixture("mlp_784_256_10.onnx").expect("accepted");
    assert_eq!(info.inputs, vec![spec("x", ElemType::F32, &[sym("batch"), Dim::Fixed(784)])]);
    assert_eq!(info.macs(), 784 * 256 + 256 + 256 + 256 * 10 + 10);
}

/// The CNN, by hand: Conv 4·8·8 outputs × 1·3·3 + bias 256 = 2560; Relu 256;
/// MaxPool 4·4·4 outputs × 2·2 = 256; Flatten 0; Gemm 64·10 + 10 = 650.
#[test]
fn cnn_signature_and_cost() {
    let info = analyze_fixture("cnn.onnx").expect("accepted");
    assert_eq!(
        info.inputs,
        vec![spec(
            "x",
            ElemType::F32,
            &[sym("batch"), Dim::Fixed(1), Dim::Fixed(8), Dim::Fixed(8)]
        )]
    );
    assert_eq!(info.outputs, vec![spec("y", ElemType::F32, &[sym("batch"), Dim::Fixed(10)])]);
    assert_eq!(info.macs(), (256 * 9 + 256) + 256 + 64 * 4 + (64 * 10 + 10));
}

/// Initializers are not inputs; int64 I/O; Gather 15 + ReduceSum 15 + Add 3.
#[test]
fn int64_signature_and_cost() {
    let info = analyze_fixture("int64.onnx").expect("accepted");
    assert_eq!(info.inputs, vec![spec("ids", ElemType::I64, &[sym("batch"), Dim::Fixed(5)])]);
    assert_eq!(info.outputs, vec![spec("y", ElemType::I64, &[sym("batch"), Dim::Fixed(3)])]);
    assert_eq!(info.macs(), 15 + 15 + 3);
}

/// Two inputs and two outputs of different element types, in graph order.
#[test]
fn multi_io_signature() {
    let info = analyze_fixture("multi_io.onnx").expect("accepted");
    assert_eq!(
        info.inputs,
        vec![
            spec("a", ElemType::F32, &[sym("batch"), Dim::Fixed(3)]),
            spec("b", ElemType::I32, &[sym("batch"), Dim::Fixed(3)]),
        ]
    );
    assert_eq!(
        info.outputs,
        vec![
            spec("sum", ElemType::F32, &[sym("batch"), Dim::Fixed(3)]),
            spec("argmax", ElemType::I64, &[sym("batch")])
        ]
    );
    // Cast 3 + Add 3 + ArgMax over 3.
    assert_eq!(info.macs(), 9);
}

/// Every element type ANH supports is accepted as input and output.
#[test]
fn every_elem_type_accepted() {
    let info = analyze_fixture("dtypes.onnx").expect("accepted");
    let elems: Vec<ElemType> = info.inputs.iter().map(|s| s.elem).collect();
    assert_eq!(
        elems,
        [
            ElemType::F32,
            ElemType::F64,
            ElemType::I32,
            ElemType::I64,
            ElemType::U8,
            ElemType::I8,
            ElemType::Bool
        ]
    );
    assert_eq!(info.outputs.iter().map(|s| s.elem).collect::<Vec<_>>(), elems);
    // Fixed and symbolic dims mix: [2, n].
    assert_eq!(info.inputs[0].shape, vec![Dim::Fixed(2), sym("n")]);
    // Neg ×5 and Not over 2 elements each; Identity is free.
    assert_eq!(info.macs(), 12);
}

/// An initializer whose external data names a file (as ONNX's exporters write it) is
/// refused, naming the tensor and the location: only blobs of the store may be named.
#[test]
fn refuses_external_initializer() {
    let e = analyze_fixture("external_data.onnx").unwrap_err();
    assert_eq!(
        e,
        AnalysisError::ExternalLocation { tensor: "w".into(), location: "weights.bin".into() }
    );
    assert!(
        e.to_string().starts_with(
            "tensor \"w\" names external data location \"weights.bin\": a model may only name \
             weight blobs of the model store"
        ),
        "{e}"
    );
}

/// A Constant node whose value tensor has external data is refused.
#[test]
fn refuses_external_constant() {
    let e = analyze_fixture("external_data_constant.onnx").unwrap_err();
    assert_eq!(e, AnalysisError::ExternalData { tensor: "c_value".into() });
}

/// External data inside a subgraph is refused too.
#[test]
fn refuses_external_data_in_subgraph() {
    let e = analyze_fixture("external_data_subgraph.onnx").unwrap_err();
    assert_eq!(e, AnalysisError::ExternalData { tensor: "sub_w".into() });
}

/// A node of domain com.microsoft is refused, naming op and domain.
#[test]
fn refuses_custom_domain() {
    let e = analyze_fixture("custom_domain.onnx").unwrap_err();
    assert_eq!(
        e,
        AnalysisError::CustomDomain { op: "FusedMatMul".into(), domain: "com.microsoft".into() }
    );
    assert_eq!(
        e.to_string(),
        "operator \"FusedMatMul\" of domain \"com.microsoft\" is not allowed: only the standard ONNX domains (\"\", \"ai.onnx\", \"ai.onnx.ml\") are"
    );
}

/// Model-local functions are refused, naming the function.
#[test]
fn refuses_local_function() {
    let e = analyze_fixture("local_function.onnx").unwrap_err();
    assert_eq!(
        e,
        AnalysisError::LocalFunction { name: "MyRelu".into(), domain: "local.fn".into() }
    );
    assert_eq!(
        e.to_string(),
        "model-local functions are not allowed: the model defines function \"MyRelu\" of domain \"local.fn\""
    );
}

/// An input of 2^68 elements is refused.
#[test]
fn refuses_overflowing_shape() {
    let e = analyze_fixture("overflow_shape.onnx").unwrap_err();
    assert_eq!(e, AnalysisError::ShapeOverflow { tensor: "x".into() });
    assert_eq!(e.to_string(), "the shape of \"x\" has more elements than fit in 64 bits");
}

/// A float16 input is refused: ANH cannot pass it.
#[test]
fn refuses_unsupported_dtype() {
    let e = analyze_fixture("float16_input.onnx").unwrap_err();
    assert_eq!(
        e,
        AnalysisError::UnsupportedType {
            kind: IoKind::Input,
            name: "x".into(),
            ty: "float16".into()
        }
    );
    assert_eq!(
        e.to_string(),
        "input \"x\" has type float16, which ANH does not support (supported: float32, float64, int32, int64, uint8, int8, bool tensors)"
    );
}

/// A non-protobuf file is not ONNX.
#[test]
fn refuses_not_onnx() {
    let e = analyze_fixture("not_onnx.bin").unwrap_err();
    assert!(matches!(e, AnalysisError::NotOnnx(_)), "{e:?}");
    assert!(e.to_string().starts_with("not an ONNX model: "), "{e}");
    for bytes in [&b""[..], b"\x00", b"\x08\x08"] {
        assert!(
            matches!(analyze(bytes, &Limits::default()), Err(AnalysisError::NotOnnx(_))),
            "{bytes:?}"
        );
    }
}

/// Subgraphs nested 1000 deep are refused by the depth limit, not a stack overflow, even on
/// a small thread stack.
#[test]
fn refuses_nesting_bomb_without_overflowing_the_stack() {
    let bytes = fixture("nested_bomb.onnx");
    let result = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || analyze(&bytes, &Limits::default()))
        .expect("spawn")
        .join()
        .expect("no panic, no overflow");
    let e = result.unwrap_err();
    assert_eq!(e, AnalysisError::NestingTooDeep { limit: 8 });
    assert_eq!(e.to_string(), "model nests subgraphs deeper than 8 levels");
}

/// The subgraph depth limit is configurable: one level of If passes at 1, fails at 0.
#[test]
fn subgraph_depth_limit_is_configurable() {
    let bytes = fixture("external_data_subgraph.onnx");
    let strict = Limits { max_subgraph_depth: 0, ..Limits::default() };
    assert_eq!(analyze(&bytes, &strict).unwrap_err(), AnalysisError::NestingTooDeep { limit: 0 });
    let one = Limits { max_subgraph_depth: 1, ..Limits::default() };
    // Depth is fine at 1; the external data inside is what refuses it then.
    assert!(matches!(analyze(&bytes, &one).unwrap_err(), AnalysisError::ExternalData { .. }));
}

/// A file above the size limit is refused before it is parsed.
#[test]
fn refuses_too_large() {
    let bytes = fixture("mlp.onnx");
    let limits = Limits { max_model_bytes: 100, ..Limits::default() };
    let e = analyze(&bytes, &limits).unwrap_err();
    assert_eq!(e, AnalysisError::TooLarge { size: bytes.len() as u64, limit: 100 });
    assert_eq!(
        e.to_string(),
        format!("model is {} bytes, more than the limit of 100 bytes", bytes.len())
    );
    assert_eq!(Limits::default().max_model_bytes, 512 * 1024 * 1024);
}

/// More nodes than the limit are refused.
#[test]
fn refuses_too_many_nodes() {
    let limits = Limits { max_nodes: 2, ..Limits::default() };
    let e = analyze(&fixture("mlp.onnx"), &limits).unwrap_err();
    assert_eq!(e, AnalysisError::TooManyNodes { limit: 2 });
    assert_eq!(e.to_string(), "model has more than 2 nodes");
    let limits = Limits { max_nodes: 3, ..Limits::default() };
    analyze(&fixture("mlp.onnx"), &limits).expect("3 nodes are fine");
}

/// More declared elements than the limit are refused (mlp: 64 + 16 + 48 + 3 = 131).
#[test]
fn refuses_too_many_declared_elements() {
    let limits = Limits { max_declared_elements: 130, ..Limits::default() };
    let e = analyze(&fixture("mlp.onnx"), &limits).unwrap_err();
    assert_eq!(e, AnalysisError::TooManyElements { limit: 130 });
    let limits = Limits { max_declared_elements: 131, ..Limits::default() };
    analyze(&fixture("mlp.onnx"), &limits).expect("exactly at the limit");
}

/// A protobuf bomb of millions of empty messages is refused by the field limit with the
/// default limits, before anything is decoded.
#[test]
fn refuses_empty_message_bomb() {
    let limits = Limits::default();
    let count = limits.max_protobuf_fields as usize + 1;
    // GraphProto.value_info (field 13) repeated with empty payloads: 2 bytes each.
    let mut graph = Vec::with_capacity(2 * count);
    for _ in 0..count {
        graph.extend_from_slice(&[13 << 3 | 2, 0]);
    }
    let mut model = vec![0x08, 0x08]; // ir_version = 8
    model.push(7 << 3 | 2); // graph
    let mut len = graph.len();
    while len >= 0x80 {
        model.push((len as u8) | 0x80);
        len >>= 7;
    }
    model.push(len as u8);
    model.extend_from_slice(&graph);
    let e = analyze(&model, &limits).unwrap_err();
    assert_eq!(e, AnalysisError::TooManyFields { limit: limits.max_protobuf_fields });
}
