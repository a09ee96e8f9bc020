//! Training-step graphs (`anh_runtime::train`) run through ONNX Runtime: every op's gradient
//! against central finite differences, every optimiser's update and every loss against a
//! hand computation, the refusals, and convergence of logistic regression and an MLP.
//!
//! Gradient checks use float64 models where ONNX Runtime's CPU kernels have float64
//! implementations, and float32 (looser tolerance) for the ops that are float-only there
//! (`FLOAT32_ONLY` below).

use anh_runtime::{
    ElemType, HostTensor, Limits, RuntimeError, TensorData, analyze,
    onnx::{
        AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
        TensorProto, TensorShapeProto, TypeProto, TypeProtoTensor, ValueInfoProto,
    },
    ort_environment,
    train::{
        Loss, Optimizer, StepGraph, TrainSpec, build_gradient_graph, build_loss_graph,
        build_step_graph, read_state, read_weights, write_weights,
    },
};
use ort::{session::Session, value::DynValue, value::Tensor};
use prost::Message;

pub(crate) const F32: i32 = 1;
pub(crate) const F64: i32 = 11;
pub(crate) const I64: i32 = 7;
/// A symbolic batch dimension in [`vi`] shapes.
pub(crate) const BATCH: i64 = -1;
/// An unnamed (unknown) dimension in [`vi`] shapes.
pub(crate) const ANY: i64 = -2;
/// A second symbolic dimension, `seq`, in [`vi`] shapes.
pub(crate) const SEQ: i64 = -3;

// ---------------------------------------------------------------------------------------
// Building models.

/// A tiny deterministic generator (xorshift), so tests need no `rand`.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `n` values in `[lo, hi)`.
    pub(crate) fn values(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n).map(|_| lo + (hi - lo) * self.uniform()).collect()
    }

    /// `n` values in `[-1, -0.1] ∪ [0.1, 1]` (away from Relu's kink and from zero).
    pub(crate) fn signed(&mut self, n: usize) -> Vec<f64> {
        (0..n)
            .map(|_| {
                let v = 0.1 + 0.9 * self.uniform();
                if self.uniform() < 0.5 { -v } else { v }
            })
            .collect()
    }
}

fn raw(elem: i32, values: &[f64]) -> Vec<u8> {
    if elem == F64 {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    } else {
        values.iter().flat_map(|&v| (v as f32).to_le_bytes()).collect()
    }
}

pub(crate) fn tensor(name: &str, elem: i32, dims: &[i64], values: &[f64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: elem,
        raw_data: raw(elem, values),
        ..Default::default()
    }
}

pub(crate) fn int_tensor(name: &str, values: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: vec![values.len() as i64],
        data_type: I64,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// A value declaration; dims [`BATCH`] are the symbol `batch`, [`ANY`] unnamed.
pub(crate) fn vi(name: &str, elem: i32, dims: &[i64]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|&d| match d {
            BATCH => Dimension { dim_value: None, dim_param: Some("batch".into()) },
            SEQ => Dimension { dim_value: None, dim_param: Some("seq".into()) },
            ANY => Dimension { dim_value: None, dim_param: None },
            d => Dimension { dim_value: Some(d), dim_param: None },
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: elem,
                shape: Some(TensorShapeProto { dim }),
            }),
            ..Default::default()
        }),
    }
}

pub(crate) fn node(
    op: &str,
    inputs: &[&str],
    outputs: &[&str],
    attribute: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| (*s).into()).collect(),
        output: outputs.iter().map(|s| (*s).into()).collect(),
        name: format!("{op}_{}", outputs.first().copied().unwrap_or("")),
        op_type: op.into(),
        ..Default::default()
    }
    .with(attribute)
}

trait With {
    fn with(self, attribute: Vec<AttributeProto>) -> Self;
}

impl With for NodeProto {
    fn with(mut self, attribute: Vec<AttributeProto>) -> Self {
        self.attribute = attribute;
        self
    }
}

pub(crate) fn a_int(name: &str, i: i64) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: 2, i, ..Default::default() }
}

pub(crate) fn a_float(name: &str, f: f32) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: 1, f, ..Default::default() }
}

pub(crate) fn a_ints(name: &str, ints: &[i64]) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: 7, ints: ints.to_vec(), ..Default::default() }
}

pub(crate) fn a_str(name: &str, s: &str) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: 3, s: s.as_bytes().to_vec(), ..Default::default() }
}

/// A model under construction: its weights keep their values for the checks.
pub(crate) struct Model {
    pub(crate) elem: i32,
    pub(crate) opset: i64,
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    pub(crate) weights: Vec<(String, Vec<i64>, Vec<f64>)>,
    inputs: Vec<ValueInfoProto>,
    pub(crate) output: Option<ValueInfoProto>,
}

impl Model {
    pub(crate) fn new(elem: i32) -> Self {
        Self {
            elem,
            opset: 17,
            nodes: Vec::new(),
            initializers: Vec::new(),
            weights: Vec::new(),
            inputs: Vec::new(),
            output: None,
        }
    }

    pub(crate) fn weight(&mut self, name: &str, dims: &[i64], values: Vec<f64>) -> &mut Self {
        assert_eq!(values.len() as i64, dims.iter().product::<i64>(), "{name}");
        self.initializers.push(tensor(name, self.elem, dims, &values));
        self.weights.push((name.into(), dims.to_vec(), values));
        self
    }

    pub(crate) fn constant(&mut self, t: TensorProto) -> &mut Self {
        self.initializers.push(t);
        self
    }

    pub(crate) fn input(&mut self, name: &str, dims: &[i64]) -> &mut Self {
        self.inputs.push(vi(name, self.elem, dims));
        self
    }

    /// An input of another element type than the model's.
    pub(crate) fn typed_input(&mut self, name: &str, elem: i32, dims: &[i64]) -> &mut Self {
        self.inputs.push(vi(name, elem, dims));
        self
    }

    pub(crate) fn node(&mut self, n: NodeProto) -> &mut Self {
        self.nodes.push(n);
        self
    }

    pub(crate) fn output(&mut self, name: &str, dims: &[i64]) -> &mut Self {
        self.output = Some(vi(name, self.elem, dims));
        self
    }

    pub(crate) fn bytes(&self) -> Vec<u8> {
        ModelProto {
            ir_version: 8,
            opset_import: vec![OperatorSetIdProto { domain: String::new(), version: self.opset }],
            graph: Some(GraphProto {
                node: self.nodes.clone(),
                name: "test".into(),
                initializer: self.initializers.clone(),
                input: self.inputs.clone(),
                output: self.output.iter().cloned().collect(),
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec()
    }
}

// ---------------------------------------------------------------------------------------
// Running graphs.

pub(crate) fn host(elem: i32, shape: &[u64], values: &[f64]) -> HostTensor {
    let data = if elem == F64 {
        TensorData::F64(values.to_vec())
    } else {
        TensorData::F32(values.iter().map(|&v| v as f32).collect())
    };
    HostTensor::new(shape.to_vec(), data).expect("shape matches values")
}

pub(crate) fn labels(values: &[i64]) -> HostTensor {
    HostTensor::new(vec![values.len() as u64], TensorData::I64(values.to_vec())).expect("labels")
}

fn to_ort(t: &HostTensor) -> DynValue {
    let shape: Vec<i64> = t.shape().iter().map(|&d| d as i64).collect();
    match t.data() {
        TensorData::F32(v) => Tensor::from_array((shape, v.clone())).expect("tensor").into_dyn(),
        TensorData::F64(v) => Tensor::from_array((shape, v.clone())).expect("tensor").into_dyn(),
        TensorData::I64(v) => Tensor::from_array((shape, v.clone())).expect("tensor").into_dyn(),
        other => panic!("unsupported test tensor {other:?}"),
    }
}

/// One ONNX Runtime session over a generated graph.
pub(crate) struct Runner {
    session: Session,
}

impl Runner {
    pub(crate) fn new(model: &[u8]) -> Self {
        let env = ort_environment().unwrap_or_else(|e| panic!("{e}"));
        let session = Session::builder(env)
            .and_then(|mut b| b.commit_from_memory(model))
            .unwrap_or_else(|e| panic!("ONNX Runtime refused the graph: {e}"));
        Self { session }
    }

    /// Runs on `inputs` (in the graph's input order); every output as f64 values.
    pub(crate) fn run(&mut self, inputs: &[HostTensor]) -> Vec<Vec<f64>> {
        let names: Vec<String> =
            self.session.inputs().iter().map(|o| o.name().to_owned()).collect();
        assert_eq!(names.len(), inputs.len(), "inputs {names:?}");
        let values: Vec<(String, DynValue)> =
            names.into_iter().zip(inputs).map(|(n, t)| (n, to_ort(t))).collect();
        let outs: Vec<String> =
            self.session.outputs().iter().map(|o| o.name().to_owned()).collect();
        let result = self.session.run(values).unwrap_or_else(|e| panic!("run failed: {e}"));
        outs.iter()
            .map(|name| {
                let v = result.get(name.as_str()).expect("every declared output");
                if let Ok((_, d)) = v.try_extract_tensor::<f64>() {
                    d.to_vec()
                } else if let Ok((_, d)) = v.try_extract_tensor::<f32>() {
                    d.iter().map(|&x| f64::from(x)).collect()
                } else {
                    panic!("output {name} is not a float tensor")
                }
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// Gradient checks.

/// Checks the autodiff's gradient of `loss` (with `labels` and `batch`) with respect to every
/// weight of `m` against central differences. Tolerance: float64 `|a − n| ≤ 1e-6 + 1e-5·|n|`
/// with h = 1e-6; float32 `|a − n| ≤ 2e-3 + 2e-2·|n|` with h = 1e-2 (float32 round-off in
/// the loss is ~1e-7 relative, divided by 2h).
pub(crate) fn grad_check(what: &str, m: &Model, loss: Loss, batch: Vec<HostTensor>) {
    grad_check_model(what, &m.bytes(), m.elem, &m.weights, loss, batch, None);
}

/// [`grad_check`] on a model file whose `weights` (name, dims, values) are all of its float
/// initializers of type `elem`, in initializer order; `h` overrides the step.
pub(crate) fn grad_check_model(
    what: &str,
    model: &[u8],
    elem: i32,
    weights: &[(String, Vec<i64>, Vec<f64>)],
    loss: Loss,
    batch: Vec<HostTensor>,
    h: Option<f64>,
) {
    let g = build_gradient_graph(model, loss, None).unwrap_or_else(|e| panic!("{what}: {e}"));
    let names: Vec<&str> = g.weights.iter().map(|s| s.name.as_str()).collect();
    let expected: Vec<&str> = weights.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names, expected, "{what}: every weight trains");
    let mut runner = Runner::new(&g.model);
    let feed = |ws: &[Vec<f64>]| -> Vec<HostTensor> {
        let mut v: Vec<HostTensor> = weights
            .iter()
            .zip(ws)
            .map(|((_, dims, _), w)| {
                host(elem, &dims.iter().map(|&d| d as u64).collect::<Vec<_>>(), w)
            })
            .collect();
        v.extend(batch.iter().cloned());
        v
    };
    let w0: Vec<Vec<f64>> = weights.iter().map(|(_, _, v)| v.clone()).collect();
    let out = runner.run(&feed(&w0));
    let loss_of = |runner: &mut Runner, w: &[Vec<f64>]| -> f64 {
        *runner.run(&feed(w)).last().and_then(|l| l.first()).expect("loss")
    };
    let (default_h, abs, rel) = if elem == F64 { (1e-6, 1e-6, 1e-5) } else { (1e-2, 2e-3, 2e-2) };
    let h = h.unwrap_or(default_h);
    let mut checked = 0;
    for (k, (name, _, values)) in weights.iter().enumerate() {
        let analytic = &out[k];
        assert_eq!(
            analytic.len(),
            values.len(),
            "{what}: gradient of {name} has the weight's size"
        );
        for i in 0..values.len() {
            let mut plus = w0.clone();
            plus[k][i] += h;
            let mut minus = w0.clone();
            minus[k][i] -= h;
            let numeric = (loss_of(&mut runner, &plus) - loss_of(&mut runner, &minus)) / (2.0 * h);
            let a = analytic[i];
            assert!(
                (a - numeric).abs() <= abs + rel * numeric.abs(),
                "{what}: d loss / d {name}[{i}]: autodiff {a}, finite difference {numeric}"
            );
            checked += 1;
        }
    }
    // The check must have looked at something, and at a gradient that is not all zeros.
    assert!(
        checked > 0 && out[..weights.len()].iter().flatten().any(|&g| g.abs() > 1e-6),
        "{what}"
    );
}

/// MSE labels for an output of `shape`.
pub(crate) fn targets(elem: i32, rng: &mut Rng, shape: &[u64]) -> HostTensor {
    let n = shape.iter().product::<u64>() as usize;
    host(elem, shape, &rng.signed(n))
}

pub(crate) fn input(elem: i32, rng: &mut Rng, shape: &[u64]) -> HostTensor {
    let n = shape.iter().product::<u64>() as usize;
    host(elem, shape, &rng.signed(n))
}

/// Ops ONNX Runtime 1.31's CPU provider implements for float only ("Could not find an
/// implementation for Conv(11)" in float64): their gradient checks run in float32. (Their
/// gradients use ConvTranspose, float-only too.) Every other op is checked in float64.
const FLOAT32_ONLY: [&str; 2] = ["Conv", "AveragePool"];

/// Gemm: every transA/transB combination, alpha and beta, C of every broadcastable shape,
/// and with a symbolic batch.
#[test]
fn gradient_gemm() {
    let mut rng = Rng(1);
    let (m, k, n) = (3, 4, 2);
    for (ta, tb) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
        for c_dims in [vec![n], vec![1, n], vec![m, 1], vec![m, n], vec![]] {
            let mut model = Model::new(F64);
            let a_dims = if ta == 1 { [k, m] } else { [m, k] };
            let b_dims = if tb == 1 { [n, k] } else { [k, n] };
            let c_len = c_dims.iter().product::<i64>() as usize;
            model
                .weight("a", &a_dims, rng.signed((m * k) as usize))
                .weight("b", &b_dims, rng.signed((k * n) as usize))
                .weight("c", &c_dims, rng.signed(c_len))
                .node(node(
                    "Gemm",
                    &["a", "b", "c"],
                    &["y"],
                    vec![
                        a_int("transA", ta),
                        a_int("transB", tb),
                        a_float("alpha", 0.75),
                        a_float("beta", 1.25),
                    ],
                ))
                .output("y", &[m, n]);
            let t = targets(F64, &mut rng, &[m as u64, n as u64]);
            grad_check(
                &format!("Gemm transA={ta} transB={tb} C{c_dims:?}"),
                &model,
                Loss::Mse,
                vec![t],
            );
        }
    }
    // A dense layer on a symbolic batch.
    let mut model = Model::new(F64);
    model
        .input("x", &[BATCH, k])
        .weight("w", &[n, k], rng.signed((n * k) as usize))
        .weight("bias", &[n], rng.signed(n as usize))
        .node(node("Gemm", &["x", "w", "bias"], &["y"], vec![a_int("transB", 1)]))
        .output("y", &[BATCH, n]);
    let batch = vec![input(F64, &mut rng, &[5, k as u64]), targets(F64, &mut rng, &[5, n as u64])];
    grad_check("Gemm dense layer, symbolic batch", &model, Loss::Mse, batch);
}

/// MatMul: 2-D, batched with broadcasting either way, 1-D operands, symbolic batch.
#[test]
fn gradient_matmul() {
    let mut rng = Rng(2);
    let cases: [(&[i64], &[i64], &[u64]); 6] = [
        (&[3, 4], &[4, 2], &[3, 2]),
        (&[2, 3, 4], &[4, 5], &[2, 3, 5]),
        (&[3, 4], &[2, 4, 5], &[2, 3, 5]),
        (&[2, 1, 3, 4], &[5, 4, 2], &[2, 5, 3, 2]),
        (&[4], &[2, 4, 3], &[2, 3]),
        (&[3, 4], &[4], &[3]),
    ];
    for (a, b, y) in cases {
        let mut model = Model::new(F64);
        let (na, nb) = (a.iter().product::<i64>() as usize, b.iter().product::<i64>() as usize);
        let ydims: Vec<i64> = y.iter().map(|&d| d as i64).collect();
        model
            .weight("a", a, rng.signed(na))
            .weight("b", b, rng.signed(nb))
            .node(node("MatMul", &["a", "b"], &["y"], vec![]))
            .output("y", &ydims);
        grad_check(
            &format!("MatMul {a:?} x {b:?}"),
            &model,
            Loss::Mse,
            vec![targets(F64, &mut rng, y)],
        );
    }
    let mut model = Model::new(F64);
    model
        .input("x", &[BATCH, 3, 4])
        .weight("w", &[4, 2], rng.signed(8))
        .node(node("MatMul", &["x", "w"], &["y"], vec![]))
        .output("y", &[BATCH, 3, 2]);
    let batch = vec![input(F64, &mut rng, &[2, 3, 4]), targets(F64, &mut rng, &[2, 3, 2])];
    grad_check("MatMul symbolic batch", &model, Loss::Mse, batch);
}

/// Add, Sub, Mul, Div with numpy broadcasting both ways, on a symbolic batch and on unknown
/// dimensions (where the reduction axes are found at run time).
#[test]
fn gradient_broadcasting_arithmetic() {
    let mut rng = Rng(3);
    for op in ["Add", "Sub", "Mul", "Div"] {
        // Both operands broadcast: [2,1,4] op [3,1] -> [2,3,4].
        let mut model = Model::new(F64);
        let denominator = if op == "Div" { rng.values(3, 0.5, 1.5) } else { rng.signed(3) };
        model
            .weight("a", &[2, 1, 4], rng.signed(8))
            .weight("b", &[3, 1], denominator)
            .node(node(op, &["a", "b"], &["y"], vec![]))
            .output("y", &[2, 3, 4]);
        grad_check(
            &format!("{op} [2,1,4] [3,1]"),
            &model,
            Loss::Mse,
            vec![targets(F64, &mut rng, &[2, 3, 4])],
        );

        // Scalar and batch: (x op w[4]) op s[].
        let mut model = Model::new(F64);
        let (w, s) = if op == "Div" {
            (rng.values(4, 0.5, 1.5), rng.values(1, 0.5, 1.5))
        } else {
            (rng.signed(4), rng.signed(1))
        };
        model
            .input("x", &[BATCH, 4])
            .weight("w", &[4], w)
            .weight("s", &[], s)
            .node(node(op, &["x", "w"], &["h"], vec![]))
            .node(node(op, &["s", "h"], &["y"], vec![]))
            .output("y", &[BATCH, 4]);
        let x = if op == "Div" {
            host(F64, &[3, 4], &rng.values(12, 0.5, 1.5))
        } else {
            input(F64, &mut rng, &[3, 4])
        };
        grad_check(
            &format!("{op} scalar and batch"),
            &model,
            Loss::Mse,
            vec![x, targets(F64, &mut rng, &[3, 4])],
        );
    }
    // Symbolic dimensions: the broadcast of h·z over the batch is resolved at run time. (Free
    // `?` dimensions that must equal each other or a fixed size make the model's cost a
    // maximum, not a polynomial: such a model is refused at upload, so both are `batch`.)
    let mut model = Model::new(F64);
    model
        .input("x", &[BATCH, 4])
        .input("z", &[BATCH, 1])
        .weight("w", &[1, 4], rng.signed(4))
        .node(node("Add", &["x", "w"], &["h"], vec![]))
        .node(node("Mul", &["h", "z"], &["y"], vec![]))
        .output("y", &[ANY, 4]);
    let batch = vec![
        input(F64, &mut rng, &[3, 4]),
        input(F64, &mut rng, &[3, 1]),
        targets(F64, &mut rng, &[3, 4]),
    ];
    grad_check("Add/Mul with unknown dims", &model, Loss::Mse, batch);
}

/// A one-op model `y = op(x·w)` on a symbolic batch.
fn unary_model(
    elem: i32,
    rng: &mut Rng,
    op: &str,
    attrs: Vec<AttributeProto>,
) -> (Model, Vec<HostTensor>) {
    let mut model = Model::new(elem);
    model
        .input("x", &[BATCH, 3])
        .weight("w", &[3, 4], rng.signed(12))
        .node(node("MatMul", &["x", "w"], &["h"], vec![]))
        .node(node(op, &["h"], &["y"], attrs))
        .output("y", &[BATCH, 4]);
    let batch = vec![input(elem, rng, &[5, 3]), targets(elem, rng, &[5, 4])];
    (model, batch)
}

/// Relu, LeakyRelu, Sigmoid, Tanh, Softmax and LogSoftmax (on several axes), Identity and
/// Dropout.
#[test]
fn gradient_activations() {
    let mut rng = Rng(4);
    for (op, attrs) in [
        ("Relu", vec![]),
        ("Sigmoid", vec![]),
        ("Tanh", vec![]),
        ("Softmax", vec![]),
        ("Softmax", vec![a_int("axis", 0)]),
        ("LogSoftmax", vec![a_int("axis", -1)]),
        ("LogSoftmax", vec![a_int("axis", 0)]),
        ("Identity", vec![]),
        ("Dropout", vec![]),
        ("LeakyRelu", vec![a_float("alpha", 0.2)]),
    ] {
        let elem = if FLOAT32_ONLY.contains(&op) { F32 } else { F64 };
        let (model, batch) = unary_model(elem, &mut rng, op, attrs.clone());
        grad_check(&format!("{op} {attrs:?}"), &model, Loss::Mse, batch);
    }
    // Softmax on the middle axis of a 3-D tensor.
    let mut model = Model::new(F64);
    model
        .weight("w", &[2, 3, 4], rng.signed(24))
        .node(node("Softmax", &["w"], &["y"], vec![a_int("axis", 1)]))
        .output("y", &[2, 3, 4]);
    grad_check("Softmax axis 1 of 3", &model, Loss::Mse, vec![targets(F64, &mut rng, &[2, 3, 4])]);
}

/// Reshape (with 0 and -1), Flatten, Transpose (with and without perm), Concat (two weights
/// and an input, positive and negative axis).
#[test]
fn gradient_shape_ops() {
    let mut rng = Rng(5);
    let mut model = Model::new(F64);
    model
        .input("x", &[BATCH, 6])
        .weight("w", &[6], rng.signed(6))
        .constant(int_tensor("shape", &[0, -1, 2]))
        .node(node("Mul", &["x", "w"], &["h"], vec![]))
        .node(node("Reshape", &["h", "shape"], &["r"], vec![]))
        .node(node("Transpose", &["r"], &["t"], vec![a_ints("perm", &[2, 0, 1])]))
        .node(node("Flatten", &["t"], &["y"], vec![a_int("axis", 1)]))
        .output("y", &[2, ANY]);
    let batch = vec![input(F64, &mut rng, &[3, 6]), targets(F64, &mut rng, &[2, 9])];
    grad_check("Reshape/Transpose/Flatten", &model, Loss::Mse, batch);

    let mut model = Model::new(F64);
    model
        .weight("w", &[2, 3, 4], rng.signed(24))
        .node(node("Transpose", &["w"], &["y"], vec![]))
        .output("y", &[4, 3, 2]);
    grad_check(
        "Transpose default perm",
        &model,
        Loss::Mse,
        vec![targets(F64, &mut rng, &[4, 3, 2])],
    );

    for axis in [1, -1] {
        let mut model = Model::new(F64);
        model
            .input("x", &[BATCH, 2])
            .weight("a", &[3, 3], rng.signed(9))
            .weight("b", &[3, 1], rng.signed(3))
            .node(node("Concat", &["a", "x", "b"], &["c"], vec![a_int("axis", axis)]))
            .node(node("Tanh", &["c"], &["y"], vec![]))
            .output("y", &[3, 6]);
        let batch = vec![input(F64, &mut rng, &[3, 2]), targets(F64, &mut rng, &[3, 6])];
        grad_check(&format!("Concat axis {axis}"), &model, Loss::Mse, batch);
    }
}

/// ReduceSum (axes input) and ReduceMean (axes attribute at opset 13, input at 18), keepdims
/// either way, all axes.
#[test]
fn gradient_reductions() {
    let mut rng = Rng(6);
    for opset in [13, 18] {
        for (op, axes, keep, out) in [
            ("ReduceSum", Some(vec![1]), 1, vec![2, 1, 4]),
            ("ReduceSum", Some(vec![0, -1]), 0, vec![3]),
            ("ReduceSum", None, 0, vec![]),
            ("ReduceMean", Some(vec![2]), 0, vec![2, 3]),
            ("ReduceMean", Some(vec![-3, 1]), 1, vec![1, 1, 4]),
            ("ReduceMean", None, 1, vec![1, 1, 1]),
        ] {
            let mut model = Model::new(F64);
            model.opset = opset;
            model.weight("w", &[2, 3, 4], rng.signed(24));
            let as_input = op == "ReduceSum" || opset >= 18;
            let mut attrs = vec![a_int("keepdims", keep)];
            let mut inputs = vec!["w"];
            if let Some(axes) = &axes {
                if as_input {
                    model.constant(int_tensor("axes", axes));
                    inputs.push("axes");
                } else {
                    attrs.push(a_ints("axes", axes));
                }
            }
            model.node(node(op, &inputs, &["r"], attrs)).node(node(
                "Sigmoid",
                &["r"],
                &["y"],
                vec![],
            ));
            model.output("y", &out);
            let shape: Vec<u64> = out.iter().map(|&d| d as u64).collect();
            grad_check(
                &format!("{op} opset {opset} axes {axes:?} keepdims {keep}"),
                &model,
                Loss::Mse,
                vec![targets(F64, &mut rng, &shape)],
            );
        }
    }
}

/// Conv (float32): strides, pads, dilations, auto_pad, bias; the input's gradient too
/// (through a trained per-channel scale), on a symbolic batch.
#[test]
fn gradient_conv() {
    let mut rng = Rng(7);
    let cases: Vec<(Vec<AttributeProto>, Vec<i64>)> = vec![
        (vec![], vec![BATCH, 3, 3, 5]),
        (vec![a_ints("strides", &[2, 1]), a_ints("pads", &[1, 0, 1, 1])], vec![BATCH, 3, 3, 6]),
        (vec![a_ints("dilations", &[1, 2]), a_ints("pads", &[1, 1, 1, 1])], vec![BATCH, 3, 5, 6]),
        (vec![a_str("auto_pad", "SAME_UPPER"), a_ints("strides", &[2, 2])], vec![BATCH, 3, 3, 3]),
        (vec![a_ints("strides", &[2, 2])], vec![BATCH, 3, 2, 3]),
    ];
    for (attrs, out) in cases {
        let mut model = Model::new(F32);
        model
            .input("x", &[BATCH, 2, 5, 6])
            .weight("s", &[1, 2, 1, 1], rng.values(2, 0.5, 1.5))
            .weight("w", &[3, 2, 3, 2], rng.signed(36))
            .weight("b", &[3], rng.signed(3))
            .node(node("Mul", &["x", "s"], &["xs"], vec![]))
            .node(node("Conv", &["xs", "w", "b"], &["y"], attrs.clone()))
            .output("y", &out);
        let shape: Vec<u64> = out.iter().map(|&d| if d == BATCH { 2 } else { d as u64 }).collect();
        let batch = vec![input(F32, &mut rng, &[2, 2, 5, 6]), targets(F32, &mut rng, &shape)];
        grad_check(&format!("Conv {attrs:?}"), &model, Loss::Mse, batch);
    }
}

/// MaxPool (overlapping windows, padding; float64) and AveragePool (count_include_pad 0 and
/// 1; float32), on a symbolic batch.
#[test]
fn gradient_pools() {
    let mut rng = Rng(8);
    let cases: Vec<(&str, Vec<AttributeProto>, Vec<i64>)> = vec![
        ("MaxPool", vec![a_ints("kernel_shape", &[2, 2])], vec![BATCH, 2, 4, 5]),
        (
            "MaxPool",
            vec![
                a_ints("kernel_shape", &[3, 2]),
                a_ints("strides", &[2, 2]),
                a_ints("pads", &[1, 0, 1, 1]),
            ],
            vec![BATCH, 2, 3, 3],
        ),
        (
            "AveragePool",
            vec![a_ints("kernel_shape", &[2, 3]), a_ints("strides", &[1, 2])],
            vec![BATCH, 2, 4, 2],
        ),
        (
            "AveragePool",
            vec![
                a_ints("kernel_shape", &[3, 3]),
                a_ints("pads", &[1, 1, 1, 1]),
                a_ints("strides", &[2, 2]),
            ],
            vec![BATCH, 2, 3, 3],
        ),
        (
            "AveragePool",
            vec![
                a_ints("kernel_shape", &[3, 3]),
                a_ints("pads", &[1, 1, 1, 1]),
                a_ints("strides", &[2, 2]),
                a_int("count_include_pad", 1),
            ],
            vec![BATCH, 2, 3, 3],
        ),
    ];
    for (op, attrs, out) in cases {
        let elem = if FLOAT32_ONLY.contains(&op) { F32 } else { F64 };
        let mut model = Model::new(elem);
        model
            .input("x", &[BATCH, 2, 5, 6])
            .weight("s", &[1, 2, 5, 6], rng.values(60, 0.5, 1.5))
            .node(node("Mul", &["x", "s"], &["xs"], vec![]))
            .node(node(op, &["xs"], &["y"], attrs.clone()))
            .output("y", &out);
        let shape: Vec<u64> = out.iter().map(|&d| if d == BATCH { 2 } else { d as u64 }).collect();
        // Distinct inputs so that no two elements of a max window tie.
        let n = 2 * 2 * 5 * 6;
        let mut x: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin() + i as f64 * 1e-3).collect();
        x.iter_mut().for_each(|v| *v += 0.05 * rng.uniform());
        let batch = vec![host(elem, &[2, 2, 5, 6], &x), targets(elem, &mut rng, &shape)];
        grad_check(&format!("{op} {attrs:?}"), &model, Loss::Mse, batch);
    }
}

/// The gradients of both cross-entropies (and of MSE, checked everywhere above) through a
/// small MLP, with a weight used twice (gradients accumulate).
#[test]
fn gradient_losses_and_shared_weights() {
    let mut rng = Rng(9);
    for loss in [Loss::CrossEntropy, Loss::WeightedCrossEntropy] {
        let mut model = Model::new(F64);
        model
            .input("x", &[BATCH, 3])
            .weight("w1", &[3, 3], rng.signed(9))
            .weight("b1", &[3], rng.signed(3))
            .weight("w2", &[3, 4], rng.signed(12))
            .node(node("Gemm", &["x", "w1", "b1"], &["h"], vec![]))
            .node(node("Tanh", &["h"], &["a"], vec![]))
            .node(node("MatMul", &["a", "w1"], &["h2"], vec![]))
            .node(node("Add", &["h2", "a"], &["h3"], vec![]))
            .node(node("MatMul", &["h3", "w2"], &["y"], vec![]))
            .output("y", &[BATCH, 4]);
        let mut batch = vec![input(F64, &mut rng, &[5, 3]), labels(&[0, 3, 1, 2, 3])];
        if loss == Loss::WeightedCrossEntropy {
            batch.push(host(F64, &[5], &[1.0, -0.5, 2.0, 0.25, 1.5]));
        }
        grad_check(&format!("{loss:?}"), &model, loss, batch);
    }
}

// ---------------------------------------------------------------------------------------
// Losses and optimisers against hand computations.

/// `y = x·W` (float32), W [3, 2], on a symbolic batch.
fn linear(w: &[f64]) -> Vec<u8> {
    let mut m = Model::new(F32);
    m.input("x", &[BATCH, 3])
        .weight("W", &[3, 2], w.to_vec())
        .node(node("MatMul", &["x", "W"], &["y"], vec![]))
        .output("y", &[BATCH, 2]);
    m.bytes()
}

fn matmul_rows(x: &[f64], w: &[f64], rows: usize) -> Vec<f64> {
    let mut y = vec![0.0; rows * 2];
    for r in 0..rows {
        for j in 0..2 {
            y[r * 2 + j] = (0..3).map(|k| x[r * 3 + k] * w[k * 2 + j]).sum();
        }
    }
    y
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + b.abs())
}

/// Each loss of `build_loss_graph` equals a hand computation: MSE, cross-entropy, weighted
/// cross-entropy (float32, 1e-5 relative).
#[test]
fn losses_match_hand_computation() {
    let w = [0.5, -1.0, 0.25, 2.0, -0.75, 0.1];
    let x = [1.0, 2.0, -1.0, 0.5, -0.5, 3.0, -2.0, 0.0, 1.0];
    let y = matmul_rows(&x, &w, 3);
    let xs = host(F32, &[3, 3], &x);

    let t = [0.1, -0.2, 0.3, 0.0, 1.0, -1.0];
    let mse: f64 = y.iter().zip(&t).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() / 6.0;
    let mut r = Runner::new(&build_loss_graph(&linear(&w), Loss::Mse).expect("graph"));
    let got = r.run(&[xs.clone(), host(F32, &[3, 2], &t)])[0][0];
    assert!(close(got, mse, 1e-5), "MSE {got} vs {mse}");

    let classes = [1i64, 0, 1];
    let sw = [2.0, 0.5, -1.0];
    let ce: Vec<f64> = (0..3)
        .map(|r| {
            let row = &y[r * 2..r * 2 + 2];
            let lse = row.iter().map(|v| v.exp()).sum::<f64>().ln();
            lse - row[classes[r] as usize]
        })
        .collect();
    let mean_ce = ce.iter().sum::<f64>() / 3.0;
    let weighted = ce.iter().zip(&sw).map(|(c, w)| c * w).sum::<f64>() / 3.0;
    let mut r = Runner::new(&build_loss_graph(&linear(&w), Loss::CrossEntropy).expect("graph"));
    let got = r.run(&[xs.clone(), labels(&classes)])[0][0];
    assert!(close(got, mean_ce, 1e-5), "CE {got} vs {mean_ce}");
    let mut r =
        Runner::new(&build_loss_graph(&linear(&w), Loss::WeightedCrossEntropy).expect("graph"));
    let got = r.run(&[xs, labels(&classes), host(F32, &[3], &sw)])[0][0];
    assert!(close(got, weighted, 1e-5), "weighted CE {got} vs {weighted}");
}

/// Runs one step: returns the outputs (new weights, new state, loss).
fn step(
    graph: &StepGraph,
    w: &[f64],
    state: &[Vec<f64>],
    batch: &[HostTensor],
    lr: f64,
) -> Vec<Vec<f64>> {
    let mut inputs = vec![host(F32, &[3, 2], w)];
    for (s, v) in graph.state.iter().zip(state) {
        let shape: Vec<u64> = s
            .shape
            .iter()
            .map(|d| match d {
                anh_runtime::Dim::Fixed(n) => *n,
                anh_runtime::Dim::Symbolic(_) => panic!("state shapes are fixed"),
            })
            .collect();
        inputs.push(host(F32, &shape, v));
    }
    inputs.extend(batch.iter().cloned());
    inputs.push(host(F32, &[], &[lr]));
    Runner::new(&graph.model).run(&inputs)
}

/// SGD, momentum and Adam: two steps each against a hand computation of the MSE gradient
/// `2/N · xᵀ(xW − t)` and the update rules (float32, 1e-5 relative); the state passes from
/// one step to the next, and `t` counts.
#[test]
fn optimisers_match_hand_computation() {
    let w0 = vec![0.5, -1.0, 0.25, 2.0, -0.75, 0.1];
    let x = [1.0, 2.0, -1.0, 0.5, -0.5, 3.0];
    let t = [0.1, -0.2, 0.3, 0.0];
    let batch = [host(F32, &[2, 3], &x), host(F32, &[2, 2], &t)];
    let grad = |w: &[f64]| -> Vec<f64> {
        let y = matmul_rows(&x, w, 2);
        let mut g = vec![0.0; 6];
        for k in 0..3 {
            for j in 0..2 {
                g[k * 2 + j] =
                    (0..2).map(|r| 2.0 / 4.0 * x[r * 3 + k] * (y[r * 2 + j] - t[r * 2 + j])).sum();
            }
        }
        g
    };
    let loss = |w: &[f64]| -> f64 {
        let y = matmul_rows(&x, w, 2);
        y.iter().zip(&t).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() / 4.0
    };
    let lr = 0.1;
    for opt in [Optimizer::Sgd, Optimizer::Momentum, Optimizer::Adam] {
        let spec = TrainSpec { loss: Loss::Mse, optimizer: opt, trainable: None };
        let graph = build_step_graph(&linear(&w0), &spec).expect("step graph");
        let mut w = w0.clone();
        let mut state: Vec<Vec<f64>> =
            graph.state.iter().map(|s| vec![0.0; if s.shape.is_empty() { 1 } else { 6 }]).collect();
        for n in 0..2 {
            let out = step(&graph, &w, &state, &batch, lr);
            assert_eq!(out.len(), 1 + state.len() + 1, "{opt:?}: outputs");
            let g = grad(&w);
            let (mut want_w, mut want_state) = (w.clone(), state.clone());
            match opt {
                Optimizer::Sgd => {
                    for i in 0..6 {
                        want_w[i] -= lr * g[i];
                    }
                }
                Optimizer::Momentum => {
                    for i in 0..6 {
                        want_state[0][i] = 0.9 * state[0][i] + g[i];
                        want_w[i] -= lr * want_state[0][i];
                    }
                }
                Optimizer::Adam => {
                    let step_t = state[2][0] + 1.0;
                    want_state[2][0] = step_t;
                    for i in 0..6 {
                        want_state[0][i] = 0.9 * state[0][i] + 0.1 * g[i];
                        want_state[1][i] = 0.999 * state[1][i] + 0.001 * g[i] * g[i];
                        let m_hat = want_state[0][i] / (1.0 - 0.9f64.powf(step_t));
                        let v_hat = want_state[1][i] / (1.0 - 0.999f64.powf(step_t));
                        want_w[i] -= lr * m_hat / (v_hat.sqrt() + 1e-8);
                    }
                }
            }
            for i in 0..6 {
                assert!(
                    close(out[0][i], want_w[i], 1e-5),
                    "{opt:?} step {n}: w[{i}] {} vs {}",
                    out[0][i],
                    want_w[i]
                );
            }
            for (k, s) in want_state.iter().enumerate() {
                for (i, v) in s.iter().enumerate() {
                    assert!(
                        close(out[1 + k][i], *v, 1e-5),
                        "{opt:?} step {n}: state {k}[{i}] {} vs {v}",
                        out[1 + k][i]
                    );
                }
            }
            let l = out.last().expect("loss")[0];
            assert!(close(l, loss(&w), 1e-5), "{opt:?} step {n}: loss {l} vs {}", loss(&w));
            w = out[0].clone();
            state = out[1..1 + state.len()].to_vec();
        }
        if opt == Optimizer::Adam {
            assert_eq!(state[2], [2.0], "t counts the steps");
        }
    }
}

/// The step graph's contract: input and output names and order, batch specs with the
/// symbolic batch shared by the labels, fixed names suffixed when the model uses them.
#[test]
fn step_graph_contract() {
    let mut m = Model::new(F32);
    m.input("x", &[BATCH, 3])
        .weight("W", &[3, 2], vec![0.0; 6])
        .weight("b", &[2], vec![0.0; 2])
        .node(node("MatMul", &["x", "W"], &["lr"], vec![]))
        .node(node("Add", &["lr", "b"], &["y"], vec![]))
        .output("y", &[BATCH, 2]);
    let spec =
        TrainSpec { loss: Loss::WeightedCrossEntropy, optimizer: Optimizer::Adam, trainable: None };
    let g = build_step_graph(&m.bytes(), &spec).expect("graph");
    assert_eq!(
        g.input_names(),
        [
            "W",
            "b",
            "anh.opt.m.W",
            "anh.opt.v.W",
            "anh.opt.m.b",
            "anh.opt.v.b",
            "anh.opt.t",
            "x",
            "labels",
            "sample_weights",
            "lr.1"
        ]
    );
    assert_eq!(g.outputs.len(), 2 + 5 + 1);
    assert_eq!(g.loss_output(), "loss");
    assert_eq!(g.batch[1].to_string(), "int64 [batch]");
    assert_eq!(g.batch[2].to_string(), "float32 [batch]");
    assert_eq!(g.elem, ElemType::F32);
    // The batch check catches float labels and a batch size that disagrees.
    let x = host(F32, &[2, 3], &[0.0; 6]);
    let ok = [x.clone(), labels(&[0, 1]), host(F32, &[2], &[1.0, 1.0])];
    g.check_batch(&ok).expect("a good batch");
    let e = g
        .check_batch(&[x.clone(), host(F32, &[2], &[0.0, 1.0]), host(F32, &[2], &[1.0, 1.0])])
        .unwrap_err();
    assert!(e.to_string().contains("labels"), "{e}");
    let e = g.check_batch(&[x, labels(&[0, 1, 1]), host(F32, &[2], &[1.0, 1.0])]).unwrap_err();
    assert!(matches!(e, RuntimeError::InputSymbol { .. }), "{e}");
    // ONNX Runtime takes the graph as declared.
    let runner = Runner::new(&g.model);
    let names: Vec<&str> = runner.session.inputs().iter().map(|o| o.name()).collect();
    assert_eq!(names, g.input_names());
    let outs: Vec<&str> = runner.session.outputs().iter().map(|o| o.name()).collect();
    assert_eq!(outs, g.outputs.iter().map(String::as_str).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------------------
// Refusals.

/// An op without gradient on the path is refused by name; off the path it is fine.
#[test]
fn ops_without_gradient_are_refused_by_name() {
    for op in ["Sin", "Floor"] {
        let mut m = Model::new(F32);
        m.input("x", &[BATCH, 3])
            .weight("W", &[3, 2], vec![0.1; 6])
            .node(node("MatMul", &["x", "W"], &["h"], vec![]))
            .node(node(op, &["h"], &["y"], vec![]))
            .output("y", &[BATCH, 2]);
        let spec = TrainSpec { loss: Loss::Mse, optimizer: Optimizer::Sgd, trainable: None };
        let e = build_step_graph(&m.bytes(), &spec).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("model is not trainable: op \"{op}\" (node \"{op}_y\") has no gradient in ANH")
        );
    }
    // Sin on the input only (preprocessing): trainable.
    let mut m = Model::new(F32);
    m.input("x", &[BATCH, 3])
        .weight("W", &[3, 2], vec![0.1; 6])
        .node(node("Sin", &["x"], &["e"], vec![]))
        .node(node("MatMul", &["e", "W"], &["y"], vec![]))
        .output("y", &[BATCH, 2]);
    let spec = TrainSpec { loss: Loss::Mse, optimizer: Optimizer::Sgd, trainable: None };
    let g = build_step_graph(&m.bytes(), &spec).expect("preprocessing is not on the path");
    let mut r = Runner::new(&g.model);
    let out = r.run(&[
        host(F32, &[3, 2], &[0.1; 6]),
        host(F32, &[1, 3], &[1.0, 0.0, -1.0]),
        host(F32, &[1, 2], &[0.0, 0.0]),
        host(F32, &[], &[0.1]),
    ]);
    assert_eq!(out.len(), 2);
}

/// Bad models and specs: no float initializers, a named weight that is not one or does not
/// reach the loss, cross-entropy on a non-logits output, opset 11, grouped Conv.
#[test]
fn bad_models_and_specs_are_refused() {
    let sgd = |loss| TrainSpec { loss, optimizer: Optimizer::Sgd, trainable: None };
    // No float initializers.
    let mut m = Model::new(F32);
    m.input("x", &[BATCH, 3]).node(node("Relu", &["x"], &["y"], vec![])).output("y", &[BATCH, 3]);
    let e = build_step_graph(&m.bytes(), &sgd(Loss::Mse)).unwrap_err();
    assert!(matches!(e, RuntimeError::NoTrainableWeights), "{e}");

    let model = linear(&[0.0; 6]);
    let named = |names: &[&str]| TrainSpec {
        loss: Loss::Mse,
        optimizer: Optimizer::Sgd,
        trainable: Some(names.iter().map(|s| (*s).to_owned()).collect()),
    };
    let e = build_step_graph(&model, &named(&["x"])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "\"x\" is not a float32/float64 initializer of the model, so it cannot be trained"
    );
    let mut m = Model::new(F32);
    m.input("x", &[BATCH, 3])
        .weight("W", &[3, 2], vec![0.1; 6])
        .weight("unused", &[2], vec![0.1; 2])
        .node(node("MatMul", &["x", "W"], &["y"], vec![]))
        .output("y", &[BATCH, 2]);
    let e = build_step_graph(&m.bytes(), &named(&["W", "unused"])).unwrap_err();
    assert!(matches!(e, RuntimeError::WeightUnused(ref w) if w == "unused"), "{e}");
    let g = build_step_graph(&m.bytes(), &sgd(Loss::Mse)).expect("unused weights are skipped");
    assert_eq!(g.weights.len(), 1);

    // Cross-entropy needs [batch, classes] logits.
    let mut m = Model::new(F32);
    m.input("x", &[BATCH, 3, 2])
        .weight("W", &[2, 2], vec![0.1; 4])
        .node(node("MatMul", &["x", "W"], &["y"], vec![]))
        .output("y", &[BATCH, 3, 2]);
    let e = build_step_graph(&m.bytes(), &sgd(Loss::WeightedCrossEntropy)).unwrap_err();
    assert!(e.to_string().starts_with("weighted cross-entropy needs the model's first output \"y\" to be logits shaped [batch, classes]"), "{e}");
    // An int64 first output cannot carry a loss.
    let mut m = Model::new(F32);
    m.input("x", &[BATCH, 3])
        .weight("W", &[3, 2], vec![0.1; 6])
        .node(node("MatMul", &["x", "W"], &["h"], vec![]))
        .node(node("ArgMax", &["h"], &["y"], vec![a_int("axis", 1)]));
    m.output = Some(vi("y", I64, &[BATCH, 1]));
    let e = build_step_graph(&m.bytes(), &sgd(Loss::CrossEntropy)).unwrap_err();
    assert!(matches!(e, RuntimeError::LossTarget(_)), "{e}");

    // Opset 11.
    let mut m = Model::new(F32);
    m.opset = 11;
    m.input("x", &[BATCH, 3])
        .weight("W", &[3, 2], vec![0.1; 6])
        .node(node("MatMul", &["x", "W"], &["y"], vec![]))
        .output("y", &[BATCH, 2]);
    let e = build_step_graph(&m.bytes(), &sgd(Loss::Mse)).unwrap_err();
    assert!(matches!(e, RuntimeError::OpsetTooOld(11)), "{e}");

    // Grouped convolution.
    let mut m = Model::new(F32);
    m.input("x", &[BATCH, 2, 4, 4])
        .weight("W", &[2, 1, 3, 3], vec![0.1; 18])
        .node(node("Conv", &["x", "W"], &["y"], vec![a_int("group", 2)]))
        .output("y", &[BATCH, 2, 2, 2]);
    let e = build_step_graph(&m.bytes(), &sgd(Loss::Mse)).unwrap_err();
    assert!(e.to_string().contains("with group != 1"), "{e}");

    // Not ONNX at all.
    assert!(build_step_graph(b"not a model", &sgd(Loss::Mse)).is_err());
}

// ---------------------------------------------------------------------------------------
// Convergence.

/// Two separable classes in 2-D: class 1 when `x0 + 0.5·x1 > 0.2` (points near the boundary
/// dropped), or (`xor`) when `x0·x1 > 0`.
fn dataset(rng: &mut Rng, n: usize, xor: bool) -> (Vec<f64>, Vec<i64>) {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    while y.len() < n {
        let (a, b) = (rng.values(1, -1.0, 1.0)[0], rng.values(1, -1.0, 1.0)[0]);
        let margin = if xor { a.abs().min(b.abs()) } else { (a + 0.5 * b - 0.2).abs() };
        if margin < 0.1 {
            continue;
        }
        x.extend([a, b]);
        y.push(i64::from(if xor { a * b > 0.0 } else { a + 0.5 * b > 0.2 }));
    }
    (x, y)
}

/// Tensors by name, as `read_weights` and `read_state` give them.
type Named = Vec<(String, Vec<f32>)>;

/// Trains `model` for `steps` full-batch steps; returns the final weights and state, and the
/// loss before each step.
fn train(
    model: &[u8],
    spec: &TrainSpec,
    x: &[f64],
    y: &[i64],
    steps: usize,
    lr: f64,
) -> (Named, Named, Vec<f64>) {
    let graph = build_step_graph(model, spec).expect("step graph");
    let mut weights = read_weights(model, spec).expect("weights");
    let mut state = read_state(model, spec).expect("state");
    let mut runner = Runner::new(&graph.model);
    let n = y.len() as u64;
    let mut losses = Vec::new();
    let tensor = |spec: &anh_runtime::TensorSpec, v: &[f32]| {
        let shape: Vec<u64> = spec
            .shape
            .iter()
            .map(|d| match d {
                anh_runtime::Dim::Fixed(n) => *n,
                anh_runtime::Dim::Symbolic(_) => unreachable!("weights have fixed shapes"),
            })
            .collect();
        HostTensor::new(shape, TensorData::F32(v.to_vec())).expect("tensor")
    };
    for _ in 0..steps {
        let mut inputs: Vec<HostTensor> =
            graph.weights.iter().zip(&weights).map(|(s, (_, v))| tensor(s, v)).collect();
        inputs.extend(graph.state.iter().zip(&state).map(|(s, (_, v))| tensor(s, v)));
        inputs.push(host(F32, &[n, 2], x));
        inputs.push(labels(y));
        inputs.push(host(F32, &[], &[lr]));
        let out = runner.run(&inputs);
        let (nw, ns) = (weights.len(), state.len());
        for (k, w) in weights.iter_mut().enumerate() {
            w.1 = out[k].iter().map(|&v| v as f32).collect();
        }
        for (k, s) in state.iter_mut().enumerate() {
            s.1 = out[nw + k].iter().map(|&v| v as f32).collect();
        }
        losses.push(out[nw + ns][0]);
    }
    (weights, state, losses)
}

/// Logits of a model file on `x` through ONNX Runtime, and the accuracy against `y`.
fn accuracy(model: &[u8], x: &[f64], y: &[i64]) -> (Vec<f64>, f64) {
    let logits = Runner::new(model).run(&[host(F32, &[y.len() as u64, 2], x)]).remove(0);
    let right = y
        .iter()
        .enumerate()
        .filter(|(i, c)| i64::from(logits[2 * i + 1] > logits[2 * i]) == **c)
        .count();
    (logits, right as f64 / y.len() as f64)
}

fn logistic_regression() -> Vec<u8> {
    let mut m = Model::new(F32);
    m.input("x", &[BATCH, 2])
        .weight("W", &[2, 2], vec![0.0; 4])
        .weight("b", &[2], vec![0.0; 2])
        .node(node("Gemm", &["x", "W", "b"], &["y"], vec![]))
        .output("y", &[BATCH, 2]);
    m.bytes()
}

fn mlp(rng: &mut Rng) -> Vec<u8> {
    let mut m = Model::new(F32);
    m.input("x", &[BATCH, 2])
        .weight("W1", &[2, 16], rng.values(32, -1.0, 1.0))
        .weight("b1", &[16], vec![0.0; 16])
        .weight("W2", &[16, 2], rng.values(32, -0.5, 0.5))
        .weight("b2", &[2], vec![0.0; 2])
        .node(node("Gemm", &["x", "W1", "b1"], &["h"], vec![]))
        .node(node("Relu", &["h"], &["a"], vec![]))
        .node(node("Gemm", &["a", "W2", "b2"], &["y"], vec![]))
        .output("y", &[BATCH, 2]);
    m.bytes()
}

/// Logistic regression (SGD) and an MLP on XOR (Adam), 100 and 150 full-batch steps, reach
/// ≥ 95% training accuracy; the loss falls; the trained weights written into the model file
/// give, through plain inference, the accuracy and the loss the step graph saw; the stored
/// optimiser state reads back; analysis accepts the file.
#[test]
fn logistic_regression_and_mlp_converge() {
    let mut rng = Rng(10);
    let cases = [
        ("logistic regression", logistic_regression(), Optimizer::Sgd, false, 100, 0.5),
        ("MLP on XOR", mlp(&mut rng), Optimizer::Adam, true, 150, 0.05),
    ];
    for (what, model, optimizer, xor, steps, lr) in cases {
        let (x, y) = dataset(&mut rng, 200, xor);
        let spec = TrainSpec { loss: Loss::CrossEntropy, optimizer, trainable: None };
        let (weights, state, losses) = train(&model, &spec, &x, &y, steps, lr);
        assert!(
            losses[steps - 1] < 0.5 * losses[0],
            "{what}: loss {} -> {}",
            losses[0],
            losses[steps - 1]
        );
        let written = write_weights(&model, &weights, &state).expect("write");
        analyze(&written, &Limits::default()).expect("analysis accepts the trained model");
        let (logits, acc) = accuracy(&written, &x, &y);
        assert!(acc >= 0.95, "{what}: accuracy {acc}");
        // The loss graph on the written file equals a step graph's loss on these weights.
        let mut lg =
            Runner::new(&build_loss_graph(&written, Loss::CrossEntropy).expect("loss graph"));
        let file_loss = lg.run(&[host(F32, &[y.len() as u64, 2], &x), labels(&y)])[0][0];
        let (_, _, again) = train(&written, &spec, &x, &y, 1, 0.0);
        assert!(close(file_loss, again[0], 1e-5), "{what}: {file_loss} vs {}", again[0]);
        assert_eq!(read_weights(&written, &spec).expect("weights"), weights);
        assert_eq!(read_state(&written, &spec).expect("state"), state);
        // Inference of the original and the trained file differ (the weights did change).
        let (before, _) = accuracy(&model, &x, &y);
        assert_ne!(before, logits, "{what}");
    }
}

/// Optimiser state stored in the file changes nothing for inference: ONNX Runtime loads the
/// written model and gives bit-identical outputs; analysis reports the same signature and
/// cost.
#[test]
fn stored_state_leaves_inference_unchanged() {
    let mut rng = Rng(11);
    let model = mlp(&mut rng);
    let spec = TrainSpec { loss: Loss::CrossEntropy, optimizer: Optimizer::Adam, trainable: None };
    let weights = read_weights(&model, &spec).expect("weights");
    let state: Named = read_state(&model, &spec)
        .expect("state")
        .into_iter()
        .map(|(n, v)| (n, v.iter().map(|_| rng.uniform() as f32).collect()))
        .collect();
    let written = write_weights(&model, &weights, &state).expect("write");
    assert_ne!(written, model);
    let x = host(F32, &[4, 2], &rng.signed(8));
    let before = Runner::new(&model).run(std::slice::from_ref(&x));
    let after = Runner::new(&written).run(&[x]);
    assert_eq!(before, after);
    let (a, b) = (
        analyze(&model, &Limits::default()).expect("analysis"),
        analyze(&written, &Limits::default()).expect("analysis"),
    );
    assert_eq!((a.inputs, a.outputs, a.cost), (b.inputs, b.outputs, b.cost));
    assert_eq!(read_state(&written, &spec).expect("state"), state);
}
