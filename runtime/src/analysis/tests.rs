//! Unit tests of analysis on models built in code with the prost structs: refusals the
//! fixtures do not cover, and the cost rules of `cost.rs`, each against a hand computation.

use super::{
    AnalysisError, IoKind, Limits, analyze,
    proto::{
        AttributeProto, Dimension, FunctionProto, GraphProto, Marker, ModelProto, NodeProto,
        OperatorSetIdProto, SparseTensorProto, StringStringEntryProto, TensorProto,
        TensorShapeProto, TypeProto, TypeProtoTensor, ValueInfoProto,
    },
};
use prost::Message;

const F32: i32 = 1;
const I64: i32 = 7;

/// A dimension: a number, or a `dim_param` name.
enum D {
    N(i64),
    P(&'static str),
}

fn vi(name: &str, elem: i32, dims: &[D]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| match d {
            D::N(n) => Dimension { dim_value: Some(*n), dim_param: None },
            D::P(p) => Dimension { dim_value: None, dim_param: Some((*p).into()) },
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: elem,
                shape: Some(TensorShapeProto { dim }),
            }),
            ..TypeProto::default()
        }),
    }
}

fn f32_vi(name: &str, dims: &[i64]) -> ValueInfoProto {
    vi(name, F32, &dims.iter().map(|&d| D::N(d)).collect::<Vec<_>>())
}

fn weights(name: &str, dims: &[i64]) -> TensorProto {
    let n: i64 = dims.iter().product();
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: F32,
        raw_data: vec![0; 4 * n as usize],
        ..TensorProto::default()
    }
}

fn ints(name: &str, values: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: vec![values.len() as i64],
        data_type: I64,
        int64_data: values.to_vec(),
        ..TensorProto::default()
    }
}

fn node(op: &str, inputs: &[&str], outputs: &[&str], attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| (*s).into()).collect(),
        output: outputs.iter().map(|s| (*s).into()).collect(),
        op_type: op.into(),
        attribute,
        ..NodeProto::default()
    }
}

fn a_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: 7, ints: v.to_vec(), ..AttributeProto::default() }
}

fn a_int(name: &str, i: i64) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: 2, i, ..AttributeProto::default() }
}

fn a_str(name: &str, s: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: 3,
        s: s.as_bytes().to_vec(),
        ..AttributeProto::default()
    }
}

fn a_graph(name: &str, g: GraphProto) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: 5,
        g: Some(Box::new(g)),
        ..AttributeProto::default()
    }
}

fn graph(
    nodes: Vec<NodeProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
    inits: Vec<TensorProto>,
) -> GraphProto {
    GraphProto {
        node: nodes,
        name: "g".into(),
        initializer: inits,
        input: inputs,
        output: outputs,
        ..GraphProto::default()
    }
}

fn model(graph: GraphProto) -> Vec<u8> {
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 17 }],
        graph: Some(graph),
        ..ModelProto::default()
    }
    .encode_to_vec()
}

fn macs(g: GraphProto) -> u64 {
    analyze(&model(g), &Limits::default()).expect("accepted").macs()
}

fn refusal(g: GraphProto) -> AnalysisError {
    analyze(&model(g), &Limits::default()).unwrap_err()
}

/// A one-node graph `op(x) -> y` with declared shapes.
fn unary(op: &str, x: &[i64], y: &[i64], attrs: Vec<AttributeProto>) -> GraphProto {
    graph(
        vec![node(op, &["x"], &["y"], attrs)],
        vec![f32_vi("x", x)],
        vec![f32_vi("y", y)],
        Vec::new(),
    )
}

/// A sequence-typed input is refused as such.
#[test]
fn refuses_sequence_input() {
    let mut g = unary("Identity", &[1], &[1], Vec::new());
    g.input[0].r#type = Some(TypeProto { sequence_type: Some(Marker {}), ..TypeProto::default() });
    let e = refusal(g);
    assert_eq!(
        e,
        AnalysisError::UnsupportedType {
            kind: IoKind::Input,
            name: "x".into(),
            ty: "sequence".into()
        }
    );
}

/// An output without a declared shape is refused: its rank is unknown.
#[test]
fn refuses_missing_output_shape() {
    let mut g = unary("Relu", &[1], &[1], Vec::new());
    g.output[0].r#type = Some(TypeProto {
        tensor_type: Some(TypeProtoTensor { elem_type: F32, shape: None }),
        ..TypeProto::default()
    });
    let e = refusal(g);
    assert_eq!(e, AnalysisError::MissingShape { kind: IoKind::Output, name: "y".into() });
    assert_eq!(
        e.to_string(),
        "output \"y\" has no declared shape: ANH needs the rank of every input and output"
    );
}

/// A negative dimension is refused, naming the value and the dimension.
#[test]
fn refuses_negative_dim() {
    let g = unary("Relu", &[1, -3], &[1, 3], Vec::new());
    assert_eq!(refusal(g), AnalysisError::InvalidShape { tensor: "x".into(), dim: 1, value: -3 });
}

/// A graph without outputs is refused.
#[test]
fn refuses_no_outputs() {
    let mut g = unary("Relu", &[1], &[1], Vec::new());
    g.output.clear();
    assert_eq!(refusal(g), AnalysisError::NoOutputs);
}

/// A model without a graph, or without an IR version, is not ONNX.
#[test]
fn refuses_missing_graph_or_ir_version() {
    let no_graph = ModelProto { ir_version: 8, ..ModelProto::default() }.encode_to_vec();
    assert_eq!(
        analyze(&no_graph, &Limits::default()).unwrap_err(),
        AnalysisError::NotOnnx("the file holds no graph".into())
    );
    let no_ir =
        ModelProto { graph: Some(unary("Relu", &[1], &[1], Vec::new())), ..ModelProto::default() }
            .encode_to_vec();
    assert_eq!(
        analyze(&no_ir, &Limits::default()).unwrap_err(),
        AnalysisError::NotOnnx("the file declares no IR version".into())
    );
}

/// Protobuf groups are refused by the pre-scan.
#[test]
fn refuses_protobuf_groups() {
    let mut bytes = model(unary("Relu", &[1], &[1], Vec::new()));
    bytes.extend_from_slice(&[(15 << 3) | 3, (15 << 3) | 4]); // start and end group 15
    let e = analyze(&bytes, &Limits::default()).unwrap_err();
    assert_eq!(e, AnalysisError::NotOnnx("protobuf groups are not part of the ONNX format".into()));
}

/// Model-local functions are refused even when no node calls them.
#[test]
fn refuses_unused_local_function() {
    let mut m =
        ModelProto::decode(&model(unary("Relu", &[1], &[1], Vec::new()))[..]).expect("decode");
    m.functions.push(FunctionProto { name: "f".into(), domain: "d".into() });
    let e = analyze(&m.encode_to_vec(), &Limits::default()).unwrap_err();
    assert_eq!(e, AnalysisError::LocalFunction { name: "f".into(), domain: "d".into() });
}

/// External data is found by either marker, in sparse initializers and attribute tensor lists;
/// a main-graph initializer with one marker but not the other is malformed.
#[test]
fn refuses_external_data_everywhere() {
    let entry = StringStringEntryProto { key: "location".into(), value: "w.bin".into() };
    // Only the external_data entries, location left DEFAULT.
    let mut g = unary("Relu", &[1], &[1], Vec::new());
    g.initializer.push(TensorProto { external_data: vec![entry], ..weights("w1", &[1]) });
    assert_eq!(
        refusal(g),
        AnalysisError::ExternalEntry {
            tensor: "w1".into(),
            reason: "it has external data entries but data_location is not EXTERNAL".into()
        }
    );
    // Only data_location = EXTERNAL, its data inline.
    let mut g = unary("Relu", &[1], &[1], Vec::new());
    g.initializer.push(TensorProto { data_location: 1, ..weights("w2", &[1]) });
    assert_eq!(
        refusal(g),
        AnalysisError::ExternalEntry {
            tensor: "w2".into(),
            reason: "it has both inline and external data".into()
        }
    );
    // In a sparse initializer's values.
    let mut g = unary("Relu", &[1], &[1], Vec::new());
    g.sparse_initializer.push(SparseTensorProto {
        values: Some(TensorProto { data_location: 1, ..weights("sparse", &[1]) }),
        indices: Some(ints("idx", &[0])),
        dims: vec![4],
    });
    assert_eq!(refusal(g), AnalysisError::ExternalData { tensor: "sparse".into() });
    // In an attribute's tensor list, unnamed: named after node and attribute.
    let mut g = unary("Relu", &[1], &[1], Vec::new());
    let mut n = node("Identity", &["x"], &["z"], Vec::new());
    n.name = "n".into();
    n.attribute.push(AttributeProto {
        name: "ts".into(),
        tensors: vec![TensorProto { data_location: 1, ..weights("", &[1]) }],
        ..AttributeProto::default()
    });
    g.node.push(n);
    assert_eq!(refusal(g), AnalysisError::ExternalData { tensor: "n.ts".into() });
}

/// Custom domains are found inside subgraphs; the standard domain names are accepted.
#[test]
fn custom_domain_in_subgraph_and_standard_domains() {
    let mut inner = node("Relu", &["x"], &["t"], Vec::new());
    inner.domain = "com.example".into();
    let then = graph(vec![inner], Vec::new(), vec![f32_vi("t", &[1])], Vec::new());
    let g = graph(
        vec![node("If", &["c"], &["y"], vec![a_graph("then_branch", then)])],
        vec![f32_vi("x", &[1]), vi("c", 9, &[])],
        vec![f32_vi("y", &[1])],
        Vec::new(),
    );
    assert_eq!(
        refusal(g),
        AnalysisError::CustomDomain { op: "Relu".into(), domain: "com.example".into() }
    );
    for domain in ["", "ai.onnx", "ai.onnx.ml"] {
        let mut g = unary("Relu", &[1], &[1], Vec::new());
        g.node[0].domain = domain.into();
        assert_eq!(macs(g), 1, "domain {domain:?}");
    }
}

/// Symbolic dims count as 1; a named dim is kept as its name, an unset one as "".
#[test]
fn symbolic_dims_are_one() {
    let g = graph(
        vec![node("Relu", &["x"], &["y"], Vec::new())],
        vec![vi("x", F32, &[D::P("batch"), D::N(3), D::P("")])],
        vec![vi("y", F32, &[D::P("batch"), D::N(3), D::P("")])],
        Vec::new(),
    );
    let info = analyze(&model(g), &Limits::default()).expect("accepted");
    use anh_primitives::Dim;
    assert_eq!(
        info.inputs[0].shape,
        vec![Dim::Symbolic("batch".into()), Dim::Fixed(3), Dim::Symbolic(String::new())]
    );
    assert_eq!(info.macs(), 3);
}

/// Reshape with a constant shape (0 copies, -1 infers) feeds the next MatMul: 1·6·5 = 30.
#[test]
fn cost_reshape_constant_shape() {
    let g = graph(
        vec![
            node("Reshape", &["x", "shape"], &["r"], Vec::new()),
            node("MatMul", &["r", "w"], &["y"], Vec::new()),
        ],
        vec![vi("x", F32, &[D::P("batch"), D::N(2), D::N(3)])],
        vec![vi("y", F32, &[D::P("batch"), D::N(5)])],
        vec![ints("shape", &[0, -1]), weights("w", &[6, 5])],
    );
    assert_eq!(macs(g), 30);
}

/// The exporters' dynamic flatten (Shape → Gather → Unsqueeze → Concat → Reshape) is
/// followed through constant propagation: Gemm 1·12·2 = 24, Gather 1 element.
#[test]
fn cost_dynamic_reshape_pattern() {
    let g = graph(
        vec![
            node("Shape", &["x"], &["s"], Vec::new()),
            node("Gather", &["s", "zero"], &["b"], vec![a_int("axis", 0)]),
            node("Unsqueeze", &["b", "axes0"], &["b1"], Vec::new()),
            node("Concat", &["b1", "minus_one"], &["shape"], vec![a_int("axis", 0)]),
            node("Reshape", &["x", "shape"], &["r"], Vec::new()),
            node("Gemm", &["r", "w"], &["y"], Vec::new()),
        ],
        vec![vi("x", F32, &[D::P("batch"), D::N(3), D::N(4)])],
        vec![vi("y", F32, &[D::P("batch"), D::N(2)])],
        vec![
            TensorProto { dims: Vec::new(), ..ints("zero", &[0]) },
            ints("axes0", &[0]),
            ints("minus_one", &[-1]),
            weights("w", &[12, 2]),
        ],
    );
    // Gather: 1 output element; Concat: 2 elements; Gemm: 24.
    assert_eq!(macs(g), 1 + 2 + 24);
}

/// MatMul broadcasts batch dims: [3,1,2,4] × [5,4,6] → 3·5·2·4·6 = 720.
#[test]
fn cost_matmul_broadcast() {
    let g = graph(
        vec![node("MatMul", &["a", "b"], &["y"], Vec::new())],
        vec![f32_vi("a", &[3, 1, 2, 4]), f32_vi("b", &[5, 4, 6])],
        vec![f32_vi("y", &[3, 5, 2, 6])],
        Vec::new(),
    );
    assert_eq!(macs(g), 720);
}

/// Grouped, strided, padded Conv: out [1,8,5,5] = 200 outputs × 2·3·3 = 3600.
#[test]
fn cost_conv_grouped_strided() {
    let g = graph(
        vec![node(
            "Conv",
            &["x", "w"],
            &["y"],
            vec![a_int("group", 2), a_ints("strides", &[2, 2]), a_ints("pads", &[1, 1, 1, 1])],
        )],
        vec![f32_vi("x", &[1, 4, 10, 10])],
        vec![f32_vi("y", &[1, 8, 5, 5])],
        vec![weights("w", &[8, 2, 3, 3])],
    );
    assert_eq!(macs(g), 3600);
}

/// SAME_UPPER Conv with stride 2 over 7×7: 4×4 outputs × 9, then Relu on 16.
#[test]
fn cost_conv_same_padding() {
    let g = graph(
        vec![
            node(
                "Conv",
                &["x", "w"],
                &["c"],
                vec![a_str("auto_pad", "SAME_UPPER"), a_ints("strides", &[2, 2])],
            ),
            node("Relu", &["c"], &["y"], Vec::new()),
        ],
        vec![f32_vi("x", &[1, 1, 7, 7])],
        vec![f32_vi("y", &[1, 1, 4, 4])],
        vec![weights("w", &[1, 1, 3, 3])],
    );
    assert_eq!(macs(g), 16 * 9 + 16);
}

/// MaxPool with ceil_mode over 5×5, kernel 2 stride 2: 3×3 outputs × 4, then Relu on 9.
#[test]
fn cost_pool_ceil_mode() {
    let g = graph(
        vec![
            node(
                "MaxPool",
                &["x"],
                &["p"],
                vec![
                    a_ints("kernel_shape", &[2, 2]),
                    a_ints("strides", &[2, 2]),
                    a_int("ceil_mode", 1),
                ],
            ),
            node("Relu", &["p"], &["y"], Vec::new()),
        ],
        vec![f32_vi("x", &[1, 1, 5, 5])],
        vec![f32_vi("y", &[1, 1, 3, 3])],
        Vec::new(),
    );
    assert_eq!(macs(g), 9 * 4 + 9);
}

/// ConvTranspose [1,2,3,3] with w [2,4,3,3], stride 2: out [1,4,7,7]; 18 inputs × 4·9, plus
/// bias on 196; GlobalAveragePool over 196; BatchNormalization over 4.
#[test]
fn cost_conv_transpose_global_pool_batchnorm() {
    let g = graph(
        vec![
            node("ConvTranspose", &["x", "w", "b"], &["c"], vec![a_ints("strides", &[2, 2])]),
            node("GlobalAveragePool", &["c"], &["p"], Vec::new()),
            node("BatchNormalization", &["p", "s", "bb", "m", "v"], &["y"], Vec::new()),
        ],
        vec![f32_vi("x", &[1, 2, 3, 3])],
        vec![f32_vi("y", &[1, 4, 1, 1])],
        vec![
            weights("w", &[2, 4, 3, 3]),
            weights("b", &[4]),
            weights("s", &[4]),
            weights("bb", &[4]),
            weights("m", &[4]),
            weights("v", &[4]),
        ],
    );
    assert_eq!(macs(g), (18 * 4 * 9 + 196) + 196 + 4);
}

/// Transpose, Concat, Squeeze/Unsqueeze, Cast and reductions with keepdims.
#[test]
fn cost_data_movement_and_reductions() {
    let g = graph(
        vec![
            node("Transpose", &["x"], &["t"], vec![a_ints("perm", &[1, 0])]), // [3,2]: 6
            node("Concat", &["t", "t"], &["c"], vec![a_int("axis", 1)]),      // [3,4]: 12
            node("Unsqueeze", &["c", "axes0"], &["u"], Vec::new()),           // [1,3,4]: 0
            node("Squeeze", &["u", "axes0"], &["s"], Vec::new()),             // [3,4]: 0
            node("Cast", &["s"], &["f"], vec![a_int("to", 1)]),               // 12
            node("ReduceMean", &["f"], &["y"], vec![a_ints("axes", &[1]), a_int("keepdims", 1)]), // over 12
        ],
        vec![f32_vi("x", &[2, 3])],
        vec![f32_vi("y", &[3, 1])],
        vec![ints("axes0", &[0])],
    );
    assert_eq!(macs(g), 6 + 12 + 12 + 12);
}

/// An operator without a rule costs at least its inputs (weights included); its declared
/// output shape lets the next node be counted exactly.
#[test]
fn cost_fallback_uses_inputs_and_declared_outputs() {
    let mut g = graph(
        vec![
            node("Einsum", &["x", "w"], &["e"], vec![a_str("equation", "ij,jk->ik")]),
            node("Relu", &["e"], &["y"], Vec::new()),
        ],
        vec![f32_vi("x", &[1, 4])],
        vec![f32_vi("y", &[1, 8])],
        vec![weights("w", &[4, 8])],
    );
    // Einsum: 4 + 32 inputs; Relu: 8 (shape from value_info).
    g.value_info.push(f32_vi("e", &[1, 8]));
    assert_eq!(macs(g.clone()), 36 + 8);
    // Without the value_info, Relu's input is unknown, but its declared output y is 8.
    g.value_info.clear();
    assert_eq!(macs(g), 36 + 8);
}

/// A node with weights but an unknown activation never costs less than its weights.
#[test]
fn cost_fallback_never_below_weights() {
    let g = graph(
        vec![
            node("NonZero", &["x"], &["nz"], Vec::new()),
            node("Cast", &["nz"], &["f"], vec![a_int("to", 1)]),
            node("MatMul", &["f", "w"], &["y"], Vec::new()),
        ],
        vec![f32_vi("x", &[2, 2])],
        vec![vi("y", F32, &[D::P(""), D::N(3)])],
        vec![weights("w", &[2, 3])],
    );
    // NonZero: 4 (its input); Cast: unknown input → 1; MatMul: weights 6.
    assert_eq!(macs(g), 4 + 1 + 6);
}

/// A Loop with a constant trip count costs its body that many times; If costs both branches.
#[test]
fn cost_loop_and_if() {
    let body = graph(
        vec![node("Relu", &["x"], &["r"], Vec::new())],
        vec![vi("i", I64, &[]), vi("cond", 9, &[])],
        vec![vi("cond_out", 9, &[]), f32_vi("r", &[1, 10])],
        Vec::new(),
    );
    let g = graph(
        vec![node("Loop", &["trips", ""], &["y"], vec![a_graph("body", body.clone())])],
        vec![f32_vi("x", &[1, 10])],
        vec![f32_vi("y", &[5, 1, 10])],
        vec![TensorProto { dims: Vec::new(), ..ints("trips", &[5]) }],
    );
    // The body (Relu on 10) five times, plus the Loop node itself: its declared output, 50.
    assert_eq!(macs(g), 5 * 10 + 50);

    // A trip count from an input, none at all (condition-driven), or out of range: refused,
    // naming the node, since its work cannot be priced before it runs.
    let looping = |inputs: &[&str], extra: Vec<ValueInfoProto>, inits: Vec<TensorProto>| {
        let mut n = node("Loop", inputs, &["y"], vec![a_graph("body", body.clone())]);
        n.name = "loop0".into();
        let mut graph_inputs = vec![f32_vi("x", &[1, 10])];
        graph_inputs.extend(extra);
        refusal(graph(vec![n], graph_inputs, vec![f32_vi("y", &[5, 1, 10])], inits))
    };
    let unpriceable = |reason: &str| AnalysisError::Unpriceable {
        node: "Loop node \"loop0\"".into(),
        reason: reason.into(),
    };
    assert_eq!(
        looping(&["m", ""], vec![vi("m", I64, &[])], Vec::new()),
        unpriceable("its trip count is not a constant (it comes from an input or is computed)")
    );
    assert_eq!(
        looping(&["", "c"], vec![vi("c", 9, &[])], Vec::new()),
        unpriceable("it has no trip count (it runs until its condition says stop)")
    );
    let huge = TensorProto { dims: Vec::new(), ..ints("trips", &[1 << 40]) };
    assert_eq!(
        looping(&["trips", ""], Vec::new(), vec![huge]),
        unpriceable("its trip count is not between 0 and 2^31")
    );
    assert_eq!(
        unpriceable("its trip count is not a constant (it comes from an input or is computed)")
            .to_string(),
        "Loop node \"loop0\": its trip count is not a constant (it comes from an input or is \
         computed), so its work cannot be priced before it runs"
    );

    let branch = |n: i64| {
        graph(
            vec![node("Relu", &["x"], &["o"], Vec::new())],
            Vec::new(),
            vec![f32_vi("o", &[n])],
            Vec::new(),
        )
    };
    let g = graph(
        vec![node(
            "If",
            &["c"],
            &["y"],
            vec![a_graph("then_branch", branch(4)), a_graph("else_branch", branch(4))],
        )],
        vec![f32_vi("x", &[4]), vi("c", 9, &[])],
        vec![f32_vi("y", &[4])],
        Vec::new(),
    );
    // Both branches (4 each), plus the If node itself: its declared output, 4.
    assert_eq!(macs(g), 4 + 4 + 4);
}

/// A propagated shape that overflows u64 refuses the model.
#[test]
fn refuses_propagated_overflow() {
    let g = graph(
        vec![node("Expand", &["x", "shape"], &["y"], Vec::new())],
        vec![f32_vi("x", &[1])],
        vec![vi("y", F32, &[D::P("a"), D::P("b")])],
        vec![ints("shape", &[1 << 40, 1 << 40])],
    );
    assert_eq!(refusal(g), AnalysisError::ShapeOverflow { tensor: "y".into() });
}

/// A cost beyond u64 refuses the model.
#[test]
fn refuses_cost_overflow() {
    let d = 1 << 31;
    let g = graph(
        vec![node("MatMul", &["a", "b"], &["y"], Vec::new())],
        vec![f32_vi("a", &[d, d]), f32_vi("b", &[d, d])],
        vec![f32_vi("y", &[d, d])],
        Vec::new(),
    );
    let e = refusal(g);
    assert_eq!(e, AnalysisError::CostOverflow);
    assert_eq!(e.to_string(), "model's cost in multiply-accumulates overflows 64 bits");
}

/// The wire pre-scan counts exactly the nodes of all graphs and refuses one past the limit.
#[test]
fn wire_scan_counts_nodes_in_subgraphs() {
    let then = graph(
        vec![node("Relu", &["x"], &["t"], Vec::new()); 3],
        Vec::new(),
        vec![f32_vi("t", &[1])],
        Vec::new(),
    );
    let g = graph(
        vec![node("If", &["c"], &["y"], vec![a_graph("then_branch", then)])],
        vec![f32_vi("x", &[1]), vi("c", 9, &[])],
        vec![f32_vi("y", &[1])],
        Vec::new(),
    );
    let bytes = model(g);
    let stats = super::wire::scan(&bytes, &Limits::default()).expect("within limits");
    assert_eq!(stats.nodes, 4);
    let limits = Limits { max_nodes: 3, ..Limits::default() };
    assert_eq!(analyze(&bytes, &limits).unwrap_err(), AnalysisError::TooManyNodes { limit: 3 });
}

/// Structure-aware property test of the cost pass: random graphs of the operators it knows
/// (and some it does not), with random shapes, constants and attributes, never make analysis
/// panic. Cases: `ANH_FUZZ_CASES` (default 2000).
mod fuzz {
    use super::*;
    use proptest::{collection::vec, prelude::*};

    const OPS: &[&str] = &[
        "Gemm",
        "MatMul",
        "Conv",
        "ConvTranspose",
        "MaxPool",
        "AveragePool",
        "GlobalAveragePool",
        "Relu",
        "Add",
        "Mul",
        "Div",
        "Softmax",
        "BatchNormalization",
        "Reshape",
        "Flatten",
        "Transpose",
        "Concat",
        "Identity",
        "Dropout",
        "Cast",
        "Gather",
        "Squeeze",
        "Unsqueeze",
        "Shape",
        "Size",
        "Constant",
        "ConstantOfShape",
        "ReduceSum",
        "ArgMax",
        "Expand",
        "Tile",
        "Slice",
        "Where",
        "Loop",
        "Scan",
        "If",
        "Einsum",
        "Range",
        "Trilu",
        "CumSum",
    ];
    const ATTRS: &[&str] = &[
        "axis",
        "axes",
        "perm",
        "kernel_shape",
        "strides",
        "pads",
        "dilations",
        "group",
        "transA",
        "transB",
        "keepdims",
        "allowzero",
        "ceil_mode",
        "auto_pad",
        "value",
        "value_ints",
        "value_int",
        "value_floats",
        "start",
        "end",
        "num_scan_inputs",
        "scan_input_axes",
        "output_shape",
        "output_padding",
        "noop_with_empty_axes",
        "body",
        "then_branch",
    ];

    fn cases() -> u32 {
        std::env::var("ANH_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000)
    }

    fn int() -> impl Strategy<Value = i64> {
        prop_oneof![
            8 => -3i64..9,
            1 => Just(i64::MAX),
            1 => Just(i64::MIN),
            1 => Just(1i64 << 40),
            1 => Just(-(1i64 << 40)),
        ]
    }

    fn dims() -> impl Strategy<Value = Vec<i64>> {
        vec(prop_oneof![6 => 0i64..6, 1 => Just(1i64 << 33), 1 => Just(-1i64)], 0..5)
    }

    fn tensor(name: &'static str) -> impl Strategy<Value = TensorProto> {
        (dims(), vec(int(), 0..6), prop_oneof![Just(F32), Just(I64), Just(6)]).prop_map(
            move |(dims, values, ty)| TensorProto {
                name: name.into(),
                dims,
                data_type: ty,
                int64_data: if ty == I64 { values.clone() } else { Vec::new() },
                int32_data: if ty == 6 {
                    values.iter().map(|&v| v as i32).collect()
                } else {
                    Vec::new()
                },
                ..TensorProto::default()
            },
        )
    }

    fn attribute() -> impl Strategy<Value = AttributeProto> {
        (
            0..ATTRS.len(),
            int(),
            vec(int(), 0..7),
            prop_oneof![
                Just("NOTSET"),
                Just("SAME_UPPER"),
                Just("SAME_LOWER"),
                Just("VALID"),
                Just("?")
            ],
            proptest::option::of(tensor("attr_t")),
            any::<bool>(),
        )
            .prop_map(|(name, i, ints, s, t, with_graph)| AttributeProto {
                name: ATTRS[name].into(),
                i,
                ints,
                s: s.as_bytes().to_vec(),
                t: t.map(Box::new),
                floats: vec![0.5; (i.rem_euclid(4)) as usize],
                g: with_graph.then(|| {
                    Box::new(graph(
                        vec![
                            node("Relu", &["x"], &["sub_out"], Vec::new()),
                            node("Add", &["sub_out", "o0_0"], &["sub2"], Vec::new()),
                        ],
                        vec![vi("i", I64, &[]), vi("cond", 9, &[])],
                        vec![vi("cond_out", 9, &[]), f32_vi("sub2", &[1])],
                        Vec::new(),
                    ))
                }),
                ..AttributeProto::default()
            })
    }

    /// (op, inputs as indices into the names so far, outputs, attributes)
    fn nodes() -> impl Strategy<Value = Vec<(usize, Vec<usize>, usize, Vec<AttributeProto>)>> {
        vec((0..OPS.len(), vec(0usize..64, 0..5), 1usize..3, vec(attribute(), 0..5)), 1..8)
    }

    fn build(
        x_dims: &[i64],
        inits: Vec<TensorProto>,
        spec: Vec<(usize, Vec<usize>, usize, Vec<AttributeProto>)>,
    ) -> GraphProto {
        let mut names: Vec<String> = vec!["x".into(), String::new()];
        names.extend(inits.iter().map(|t| t.name.clone()));
        let mut g = graph(
            Vec::new(),
            vec![f32_vi("x", &x_dims.iter().map(|d| d.rem_euclid(7)).collect::<Vec<_>>())],
            Vec::new(),
            inits,
        );
        for (i, (op, ins, outs, attribute)) in spec.into_iter().enumerate() {
            let inputs: Vec<String> = ins.iter().map(|&k| names[k % names.len()].clone()).collect();
            let outputs: Vec<String> = (0..outs).map(|o| format!("o{i}_{o}")).collect();
            names.extend(outputs.iter().cloned());
            g.node.push(NodeProto {
                input: inputs,
                output: outputs,
                op_type: OPS[op].into(),
                attribute,
                ..NodeProto::default()
            });
        }
        let last = names.last().cloned().unwrap_or_default();
        g.output.push(vi(&last, F32, &[D::P("n"), D::N(2)]));
        g.value_info.push(f32_vi("o0_0", &[1, 2]));
        g
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

        /// Random graphs never make analysis panic; accepted ones have a finite cost.
        #[test]
        fn fuzz_cost_random_graphs(
            x_dims in dims(),
            w in tensor("w"),
            k in tensor("k"),
            c in tensor("c"),
            spec in nodes(),
        ) {
            let g = build(&x_dims, vec![w, k, c], spec);
            if let Ok(info) = analyze(&model(g), &Limits::default()) {
                prop_assert!(info.macs() < u64::MAX);
            }
        }
    }
}

/// The cost of `g` (see `fit.rs`).
fn cost(g: GraphProto) -> anh_primitives::Cost {
    analyze(&model(g), &Limits::default()).expect("accepted").cost
}

/// A batch-linear MLP: one symbol of degree 1, a sample's MACs per sample.
#[test]
fn cost_linear_in_the_batch() {
    let g = graph(
        vec![node("Gemm", &["x", "w", "b"], &["y"], vec![])],
        vec![vi("x", F32, &[D::P("batch"), D::N(4)])],
        vec![vi("y", F32, &[D::P("batch"), D::N(3)])],
        vec![weights("w", &[4, 3]), weights("b", &[3])],
    );
    let c = cost(g);
    assert_eq!((c.degrees(), c.coefficients()), (&[1u8][..], &[15i128, 15][..]));
    assert_eq!(c.macs_at(&[32]), Some(32 * 15));
}

/// `x·xᵀ` grows with the square of the batch, and is charged so.
#[test]
fn cost_quadratic_in_the_batch() {
    let g = graph(
        vec![
            node("Transpose", &["x"], &["xt"], vec![a_ints("perm", &[1, 0])]),
            node("MatMul", &["x", "xt"], &["y"], vec![]),
        ],
        vec![vi("x", F32, &[D::P("n"), D::N(8)])],
        vec![vi("y", F32, &[D::P("n"), D::P("n")])],
        vec![],
    );
    let c = cost(g);
    assert_eq!(c.degrees(), &[2]);
    for n in [1u64, 2, 7, 100, 4096] {
        // Transpose n·8, MatMul n·8·n.
        assert_eq!(c.macs_at(&[n]), Some(n * 8 + n * n * 8), "n = {n}");
    }
}

/// Work that does not meet the batch is paid once, not per sample, and an empty input
/// dimension is refused by the precompile (the analysis never sees 0).
#[test]
fn cost_of_work_independent_of_the_batch() {
    // y = ReduceSum(x) + ReduceSum(W·W): 256·256·256 MACs whatever the batch.
    let g = graph(
        vec![
            node("MatMul", &["w", "w"], &["ww"], vec![]),
            node("ReduceSum", &["ww"], &["s"], vec![a_int("keepdims", 0)]),
            node("ReduceSum", &["x"], &["r"], vec![a_int("keepdims", 0)]),
            node("Add", &["r", "s"], &["y"], vec![]),
        ],
        vec![vi("x", F32, &[D::P("batch"), D::N(4)])],
        vec![vi("y", F32, &[])],
        vec![weights("w", &[256, 256])],
    );
    let c = cost(g);
    let fixed = 256 * 256 * 256 + 256 * 256;
    assert_eq!(c.macs_at(&[1]), Some(fixed + 4 + 1));
    assert_eq!(c.macs_at(&[1000]), Some(fixed + 4000 + 1));
}

/// Two symbols: attention scores `q·kᵀ` over a batch and a sequence, `b·s²·d`.
#[test]
fn cost_of_attention_scores() {
    let g = graph(
        vec![
            node("Transpose", &["k"], &["kt"], vec![a_ints("perm", &[0, 2, 1])]),
            node("MatMul", &["q", "kt"], &["y"], vec![]),
        ],
        vec![
            vi("q", F32, &[D::P("b"), D::P("s"), D::N(16)]),
            vi("k", F32, &[D::P("b"), D::P("s"), D::N(16)]),
        ],
        vec![vi("y", F32, &[D::P("b"), D::P("s"), D::P("s")])],
        vec![],
    );
    let c = cost(g);
    assert_eq!(c.degrees(), &[1, 2]);
    for (b, s) in [(1u64, 1u64), (2, 3), (4, 128), (1, 1000)] {
        assert_eq!(c.macs_at(&[b, s]), Some(b * s * 16 + b * s * s * 16), "b = {b}, s = {s}");
    }
}

/// A strided convolution over a symbolic height is not a polynomial in it (a floor): the
/// model is refused at upload, naming the dimension.
#[test]
fn cost_that_is_not_a_polynomial_is_refused() {
    let g = graph(
        vec![node("Conv", &["x", "w"], &["y"], vec![a_ints("strides", &[2, 2])])],
        vec![vi("x", F32, &[D::N(1), D::N(1), D::P("h"), D::N(8)])],
        vec![vi("y", F32, &[D::N(1), D::N(1), D::P("oh"), D::N(4)])],
        vec![weights("w", &[1, 1, 1, 1])],
    );
    assert_eq!(
        refusal(g).to_string(),
        "the model: its work is not a polynomial of degree at most 3 in its symbolic dimension \
         \"h\" (a strided Conv or pooling over a symbolic size, work clamped at a fixed length, \
         or a dimension declared free that the graph needs equal to another or to a fixed size \
         does that; name equal dimensions alike and fix the others), so its work cannot be \
         priced before it runs"
    );
}

/// `Range` and backward `Slice` are counted as ONNX runs them: `max(ceil((limit − start) /
/// delta), 0)` elements (negative deltas included), a backward start clamped into `[0, d − 1]`.
#[test]
fn range_and_backward_slice_lengths() {
    use super::cost::range_len;
    for start in -6i128..6 {
        for limit in -6i128..6 {
            for delta in [-3i128, -2, -1, 1, 2, 3] {
                let mut n = 0;
                let mut v = start;
                while (delta > 0 && v < limit) || (delta < 0 && v > limit) {
                    n += 1;
                    v += delta;
                }
                assert_eq!(range_len(start, limit, delta), n, "{start} {limit} {delta}");
            }
        }
    }
    // Slice(x[5], starts -100, ends -200, steps -1): the start clamps to 0, one row.
    let g = graph(
        vec![node("Slice", &["x", "s", "e", "a", "st"], &["y"], Vec::new())],
        vec![f32_vi("x", &[5, 64])],
        vec![f32_vi("y", &[1, 64])],
        vec![ints("s", &[-100]), ints("e", &[-200]), ints("a", &[0]), ints("st", &[-1])],
    );
    assert_eq!(macs(g), 64, "one row of 64 moved");
}
