//! The cost of one evaluation of a model, in multiply-accumulates (MACs), by shape propagation.
//!
//! The symbolic dimensions of the inputs are given sizes ([`Bound`]; `fit.rs` evaluates the
//! cost at several of them and records the polynomial through them), and shapes are propagated
//! through the graph in node order (ONNX graphs are topologically sorted). Initializers,
//! declared graph inputs and small integer constants (`Constant`, `Shape`, `Gather`, `Concat`,
//! … of shapes, as exporters emit for `Reshape`) seed the propagation.
//!
//! # Counting rules (n = elements of the output, unless said otherwise)
//!
//! | operators | MACs |
//! |---|---|
//! | `Gemm` (A: M×K, B: K×N) | M·K·N, plus M·N when the bias C is given |
//! | `MatMul`, `MatMulInteger` | batch·M·K·N (batch dims broadcast; 1-D operands promoted as numpy does) |
//! | `Conv`, `ConvInteger` | N·M·(output spatial)·(C/group)·(kernel), plus N·M·(output spatial) for the bias |
//! | `ConvTranspose` | N·C·(input spatial)·(M/group)·(kernel), plus the output's elements for the bias |
//! | `MaxPool`, `AveragePool`, `LpPool` | n · (kernel elements) |
//! | `GlobalAveragePool`, `GlobalMaxPool`, `GlobalLpPool` | elements of the input |
//! | elementwise unary ops (`Relu`, `Sigmoid`, `Tanh`, `LeakyRelu`, `Exp`, `Clip`, `Cast`, …), `Softmax`, `LogSoftmax`, `Trilu`, `CumSum`, normalisations (`BatchNormalization`, `LayerNormalization`, …) | n |
//! | elementwise n-ary ops with broadcasting (`Add`, `Sub`, `Mul`, `Div`, `Pow`, `Where`, `Sum`, comparisons, …) | n · (inputs − 1), at least n |
//! | reductions (`ReduceSum`, `ReduceMean`, …, `ArgMax`, `ArgMin`) | elements of the input |
//! | data movement (`Transpose`, `Concat`, `Gather`, `Expand`, `Tile`, `Slice`, `ConstantOfShape`, `Range` of integer constants) | n |
//! | views and metadata (`Reshape`, `Flatten`, `Squeeze`, `Unsqueeze`, `Identity`, `Dropout`, `Shape`, `Size`, `Constant`) | 0 |
//!
//! # Fallback
//!
//! For any other operator, and for a listed one whose input shapes (or constant shape inputs)
//! are not known, the node costs the largest of: the elements of all its inputs whose shapes are
//! known (initializers included, so a node with weights never costs less than its weights), the
//! elements of its outputs whose shapes the model declares (`value_info`), and 1. Its outputs
//! take the shapes the model declares for them, if any.
//!
//! # Subgraphs
//!
//! A node holding subgraphs costs the fallback for itself plus its subgraphs' costs. `If`
//! costs both branches (the larger one would do; both is conservative). `Loop` costs its
//! body times its trip count, which must be a constant below 2^31; `Scan` its body times the
//! scan length, which must be known. A loop whose iterations cannot be counted before it runs
//! (a trip count from an input or computed, none at all, or a scan over an unknown length)
//! refuses the model ([`AnalysisError::Unpriceable`], naming the node): its work could not be
//! paid for by gas fixed before it runs.
//!
//! A propagated shape whose element count overflows `u64` refuses the model
//! ([`AnalysisError::ShapeOverflow`]); a total that overflows refuses it too
//! ([`AnalysisError::CostOverflow`]).

use super::{
    AnalysisError, checked_numel,
    proto::{AttributeProto, GraphProto, NodeProto, TensorProto, ValueInfoProto, data_type},
};
use std::collections::HashMap;

type Shape = Vec<u64>;

/// Integer constants longer than this are not tracked (shapes and axes are short).
const MAX_CONST_LEN: u64 = 1024;

/// Loop trip counts at or above this refuse the model.
const MAX_LOOP_TRIPS: i64 = 1 << 31;

/// The sizes given to the symbolic dimensions for one evaluation.
#[derive(Debug, Default)]
pub(crate) struct Bound {
    /// The main graph's inputs' shapes.
    pub(crate) inputs: HashMap<String, Shape>,
    /// Sizes of named symbolic dimensions, for the shapes the model declares elsewhere
    /// (value_info, outputs, subgraph inputs); any other symbolic dimension there is 1.
    pub(crate) named: HashMap<String, u64>,
}

/// Names visible while propagating one graph: its own values, then its parents'.
struct Scope<'p> {
    parent: Option<&'p Scope<'p>>,
    bound: &'p Bound,
    shapes: HashMap<String, Shape>,
    consts: HashMap<String, Vec<i64>>,
    /// Shapes the model declares (value_info and outputs), used by the fallback.
    declared: HashMap<String, Shape>,
}

impl<'p> Scope<'p> {
    fn shape(&self, name: &str) -> Option<&Shape> {
        self.shapes.get(name).or_else(|| self.parent.and_then(|p| p.shape(name)))
    }

    fn konst(&self, name: &str) -> Option<&Vec<i64>> {
        self.consts.get(name).or_else(|| self.parent.and_then(|p| p.konst(name)))
    }

    fn declared(&self, name: &str) -> Option<&Shape> {
        self.declared.get(name).or_else(|| self.parent.and_then(|p| p.declared(name)))
    }
}

/// The MACs of one evaluation of `graph` at the sizes `bound` gives (see the module docs).
pub(crate) fn graph_macs(graph: &GraphProto, bound: &Bound) -> Result<u64, AnalysisError> {
    graph_cost(graph, None, bound)
}

fn graph_cost(
    graph: &GraphProto,
    parent: Option<&Scope<'_>>,
    bound: &Bound,
) -> Result<u64, AnalysisError> {
    let mut scope = Scope {
        parent,
        bound,
        shapes: HashMap::new(),
        consts: HashMap::new(),
        declared: HashMap::new(),
    };
    for v in graph.output.iter().chain(&graph.value_info) {
        if let Some(s) = value_shape(v, &bound.named) {
            scope.declared.insert(v.name.clone(), s);
        }
    }
    for v in &graph.input {
        let given = if parent.is_none() { bound.inputs.get(&v.name).cloned() } else { None };
        if let Some(s) = given.or_else(|| value_shape(v, &bound.named)) {
            scope.shapes.insert(v.name.clone(), s);
        }
    }
    for t in &graph.initializer {
        if let Some(dims) = dims(&t.dims) {
            scope.shapes.insert(t.name.clone(), dims);
        }
        if let Some(values) = int_values(t) {
            scope.consts.insert(t.name.clone(), values);
        }
    }
    for s in &graph.sparse_initializer {
        if let (Some(values), Some(dims)) = (&s.values, dims(&s.dims)) {
            scope.shapes.insert(values.name.clone(), dims);
        }
    }
    let mut total = 0u64;
    for node in &graph.node {
        let macs = node_cost(node, &mut scope)?;
        total = total.checked_add(macs).ok_or(AnalysisError::CostOverflow)?;
    }
    Ok(total)
}

/// The declared shape of a value: named symbolic dimensions at their sizes in `named`, others
/// and unset ones 1.
fn value_shape(v: &ValueInfoProto, named: &HashMap<String, u64>) -> Option<Shape> {
    let shape = v.r#type.as_ref()?.tensor_type.as_ref()?.shape.as_ref()?;
    shape
        .dim
        .iter()
        .map(|d| match (d.dim_value, &d.dim_param) {
            (Some(value), _) => u64::try_from(value).ok(),
            (None, Some(param)) => Some(named.get(param).copied().unwrap_or(1)),
            (None, None) => Some(1),
        })
        .collect()
}

fn dims(dims: &[i64]) -> Option<Shape> {
    dims.iter().map(|&d| u64::try_from(d).ok()).collect()
}

/// The values of a small int32/int64 tensor.
fn int_values(t: &TensorProto) -> Option<Vec<i64>> {
    let n = checked_numel(&dims(&t.dims)?)?;
    if n > MAX_CONST_LEN {
        return None;
    }
    let n = n as usize;
    let values: Vec<i64> = match t.data_type {
        data_type::INT64 if !t.raw_data.is_empty() => t
            .raw_data
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect(),
        data_type::INT64 => t.int64_data.clone(),
        data_type::INT32 if !t.raw_data.is_empty() => t
            .raw_data
            .chunks_exact(4)
            .map(|c| i64::from(i32::from_le_bytes(c.try_into().unwrap_or([0; 4]))))
            .collect(),
        data_type::INT32 => t.int32_data.iter().map(|&v| i64::from(v)).collect(),
        _ => return None,
    };
    (values.len() == n).then_some(values)
}

fn numel(s: &[u64]) -> u64 {
    s.iter().fold(1u64, |acc, &d| acc.saturating_mul(d))
}

fn attr<'n>(node: &'n NodeProto, name: &str) -> Option<&'n AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn attr_i(node: &NodeProto, name: &str) -> Option<i64> {
    attr(node, name).map(|a| a.i)
}

fn attr_ints<'n>(node: &'n NodeProto, name: &str) -> Option<&'n [i64]> {
    attr(node, name).map(|a| a.ints.as_slice())
}

fn attr_s<'n>(node: &'n NodeProto, name: &str) -> Option<&'n [u8]> {
    attr(node, name).map(|a| a.s.as_slice())
}

/// `axis` (possibly negative) as an index into `0..rank`.
fn axis(axis: i64, rank: usize) -> Option<usize> {
    let rank = i64::try_from(rank).ok()?;
    let a = if axis < 0 { axis.checked_add(rank)? } else { axis };
    (0..rank).contains(&a).then_some(a as usize)
}

/// numpy broadcasting of two shapes.
fn broadcast(a: &[u64], b: &[u64]) -> Option<Shape> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for (i, o) in out.iter_mut().enumerate() {
        let da = if i + a.len() >= rank { a[i + a.len() - rank] } else { 1 };
        let db = if i + b.len() >= rank { b[i + b.len() - rank] } else { 1 };
        *o = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

/// What a rule found for one node.
struct Inferred {
    outputs: Vec<Option<Shape>>,
    consts: Vec<Option<Vec<i64>>>,
    macs: u64,
}

impl Inferred {
    fn one(shape: Shape, macs: u64) -> Self {
        Self { outputs: vec![Some(shape)], consts: Vec::new(), macs }
    }

    fn with_const(shape: Shape, values: Vec<i64>) -> Self {
        Self { outputs: vec![Some(shape)], consts: vec![Some(values)], macs: 0 }
    }
}

fn node_cost(node: &NodeProto, scope: &mut Scope<'_>) -> Result<u64, AnalysisError> {
    let ins: Vec<Option<&Shape>> =
        node.input.iter().map(|n| if n.is_empty() { None } else { scope.shape(n) }).collect();
    let inferred = infer(node, &ins, scope);
    let (outputs, consts, mut macs) = match inferred {
        Some(Inferred { outputs, consts, macs }) => (outputs, consts, macs),
        None => {
            let inputs: u64 = ins.iter().flatten().map(|s| numel(s)).fold(0, u64::saturating_add);
            let outputs: u64 = node
                .output
                .iter()
                .filter_map(|o| scope.declared(o))
                .map(|s| numel(s))
                .fold(0, u64::saturating_add);
            (Vec::new(), Vec::new(), inputs.max(outputs).max(1))
        }
    };
    let mut found = Vec::with_capacity(node.output.len());
    for (i, name) in node.output.iter().enumerate() {
        if name.is_empty() {
            continue;
        }
        let shape = outputs.get(i).cloned().flatten().or_else(|| scope.declared(name).cloned());
        if let Some(shape) = &shape
            && checked_numel(shape).is_none()
        {
            return Err(AnalysisError::ShapeOverflow { tensor: name.clone() });
        }
        found.push((name, shape, consts.get(i).cloned().flatten()));
    }
    macs = macs.checked_add(subgraph_cost(node, scope)?).ok_or(AnalysisError::CostOverflow)?;
    // Saturated arithmetic along the way ends at u64::MAX.
    if macs == u64::MAX {
        return Err(AnalysisError::CostOverflow);
    }
    for (name, shape, values) in found {
        if let Some(shape) = shape {
            scope.shapes.insert(name.clone(), shape);
        }
        if let Some(values) = values {
            scope.consts.insert(name.clone(), values);
        }
    }
    Ok(macs)
}

/// The cost of the subgraphs a node holds (see the module docs).
fn subgraph_cost(node: &NodeProto, scope: &Scope<'_>) -> Result<u64, AnalysisError> {
    let mut total = 0u64;
    for a in &node.attribute {
        for g in a.g.as_deref().into_iter().chain(&a.graphs) {
            total = total
                .checked_add(graph_cost(g, Some(scope), scope.bound)?)
                .ok_or(AnalysisError::CostOverflow)?;
        }
    }
    if total == 0 {
        return Ok(0);
    }
    let unpriceable = |reason: &str| AnalysisError::Unpriceable {
        node: match node.name.as_str() {
            "" => format!(
                "{} node (output \"{}\")",
                node.op_type,
                node.output.first().map_or("", String::as_str)
            ),
            name => format!("{} node \"{name}\"", node.op_type),
        },
        reason: reason.into(),
    };
    let trips = match node.op_type.as_str() {
        "Loop" => {
            let count = node.input.first().filter(|n| !n.is_empty()).ok_or_else(|| {
                unpriceable("it has no trip count (it runs until its condition says stop)")
            })?;
            let m = scope.konst(count).and_then(|v| v.first().copied()).ok_or_else(|| {
                unpriceable(
                    "its trip count is not a constant (it comes from an input or is computed)",
                )
            })?;
            if !(0..MAX_LOOP_TRIPS).contains(&m) {
                return Err(unpriceable("its trip count is not between 0 and 2^31"));
            }
            m as u64
        }
        "Scan" => {
            let scan_inputs = attr_i(node, "num_scan_inputs").unwrap_or(0);
            let first = (node.input.len() as i64)
                .checked_sub(scan_inputs)
                .and_then(|i| usize::try_from(i).ok());
            let ax =
                attr_ints(node, "scan_input_axes").and_then(|a| a.first().copied()).unwrap_or(0);
            first
                .and_then(|i| node.input.get(i))
                .and_then(|n| scope.shape(n))
                .and_then(|s| axis(ax, s.len()).map(|a| s[a]))
                .ok_or_else(|| unpriceable("the length it scans is not known"))?
                .max(1)
        }
        _ => 1,
    };
    total.checked_mul(trips).ok_or(AnalysisError::CostOverflow)
}

const UNARY: &[&str] = &[
    "Abs",
    "Acos",
    "Acosh",
    "Asin",
    "Asinh",
    "Atan",
    "Atanh",
    "BitwiseNot",
    "Cast",
    "CastLike",
    "Ceil",
    "Celu",
    "Clip",
    "Cos",
    "Cosh",
    "Elu",
    "Erf",
    "Exp",
    "Floor",
    "Gelu",
    "HardSigmoid",
    "HardSwish",
    "Hardmax",
    "IsInf",
    "IsNaN",
    "LeakyRelu",
    "Log",
    "LogSoftmax",
    "Mish",
    "Neg",
    "Not",
    "Reciprocal",
    "Relu",
    "Round",
    "Selu",
    "Shrink",
    "Sigmoid",
    "Sign",
    "Sin",
    "Sinh",
    "Softmax",
    "Softplus",
    "Softsign",
    "Sqrt",
    "Tan",
    "Tanh",
    "ThresholdedRelu",
    "Trilu",
    "CumSum",
    "BatchNormalization",
    "InstanceNormalization",
    "LayerNormalization",
    "GroupNormalization",
    "LRN",
    "MeanVarianceNormalization",
    "QuantizeLinear",
    "DequantizeLinear",
];

const NARY: &[&str] = &[
    "Add",
    "And",
    "BitShift",
    "BitwiseAnd",
    "BitwiseOr",
    "BitwiseXor",
    "Div",
    "Equal",
    "Greater",
    "GreaterOrEqual",
    "Less",
    "LessOrEqual",
    "Max",
    "Mean",
    "Min",
    "Mod",
    "Mul",
    "Or",
    "Pow",
    "PRelu",
    "Sub",
    "Sum",
    "Where",
    "Xor",
];

const REDUCE: &[&str] = &[
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSum",
    "ReduceLogSumExp",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceProd",
    "ReduceSum",
    "ReduceSumSquare",
];

/// The rule for a node, or `None` for the fallback.
fn infer(node: &NodeProto, ins: &[Option<&Shape>], scope: &Scope<'_>) -> Option<Inferred> {
    let input = |i: usize| ins.get(i).copied().flatten();
    let konst = |i: usize| node.input.get(i).filter(|n| !n.is_empty()).and_then(|n| scope.konst(n));
    let has = |i: usize| node.input.get(i).is_some_and(|n| !n.is_empty());
    let op = node.op_type.as_str();
    Some(match op {
        "Gemm" => {
            let (a, b) = (input(0)?, input(1)?);
            let [a0, a1] = a.as_slice() else { return None };
            let [b0, b1] = b.as_slice() else { return None };
            let (m, k) =
                if attr_i(node, "transA").unwrap_or(0) != 0 { (*a1, *a0) } else { (*a0, *a1) };
            let n = if attr_i(node, "transB").unwrap_or(0) != 0 { *b0 } else { *b1 };
            let bias = if has(2) { m.saturating_mul(n) } else { 0 };
            Inferred::one(vec![m, n], m.saturating_mul(k).saturating_mul(n).saturating_add(bias))
        }
        "MatMul" | "MatMulInteger" => matmul(input(0)?, input(1)?)?,
        "Conv" | "ConvInteger" => conv(node, input(0)?, input(1)?, has(2))?,
        "ConvTranspose" => conv_transpose(node, input(0)?, input(1)?, has(2))?,
        "MaxPool" | "AveragePool" | "LpPool" => {
            let x = input(0)?;
            let kernel = attr_ints(node, "kernel_shape")?;
            let out = window(node, x, kernel, attr_i(node, "ceil_mode").unwrap_or(0) != 0)?;
            let macs = numel(&out)
                .saturating_mul(kernel.iter().map(|&k| k as u64).fold(1, u64::saturating_mul));
            Inferred { outputs: vec![Some(out.clone()), Some(out)], consts: Vec::new(), macs }
        }
        "GlobalAveragePool" | "GlobalMaxPool" | "GlobalLpPool" => {
            let x = input(0)?;
            if x.len() < 2 {
                return None;
            }
            let mut out = x[..2].to_vec();
            out.resize(x.len(), 1);
            Inferred::one(out, numel(x))
        }
        _ if UNARY.contains(&op) => {
            let x = input(0)?;
            Inferred::one(x.clone(), numel(x))
        }
        _ if NARY.contains(&op) => {
            let mut out: Shape = Vec::new();
            let mut n = 0u64;
            for (i, name) in node.input.iter().enumerate() {
                if name.is_empty() {
                    continue;
                }
                out = broadcast(&out, input(i)?)?;
                n += 1;
            }
            let macs = numel(&out).saturating_mul(n.saturating_sub(1).max(1));
            let consts = match (op, konst(0), konst(1)) {
                ("Add" | "Sub" | "Mul" | "Div", Some(a), Some(b))
                    if a.len() == b.len() || b.len() == 1 =>
                {
                    vec![int_arith(op, a, b)]
                }
                _ => Vec::new(),
            };
            Inferred { outputs: vec![Some(out)], consts, macs }
        }
        _ if REDUCE.contains(&op) || op == "ArgMax" || op == "ArgMin" => {
            let x = input(0)?;
            let keep = attr_i(node, "keepdims").unwrap_or(1) != 0;
            let axes: Vec<i64> = if op.starts_with("Arg") {
                vec![attr_i(node, "axis").unwrap_or(0)]
            } else if let Some(a) = attr_ints(node, "axes") {
                a.to_vec()
            } else if has(1) {
                konst(1)?.clone()
            } else {
                Vec::new()
            };
            let out = if axes.is_empty() {
                if attr_i(node, "noop_with_empty_axes").unwrap_or(0) != 0 {
                    x.clone()
                } else if keep {
                    vec![1; x.len()]
                } else {
                    Vec::new()
                }
            } else {
                let axes = axes.iter().map(|&a| axis(a, x.len())).collect::<Option<Vec<_>>>()?;
                x.iter()
                    .enumerate()
                    .filter_map(|(i, &d)| match (axes.contains(&i), keep) {
                        (false, _) => Some(d),
                        (true, true) => Some(1),
                        (true, false) => None,
                    })
                    .collect()
            };
            Inferred::one(out, numel(x))
        }
        "Reshape" => {
            let x = input(0)?;
            let target = konst(1)?;
            let allow_zero = attr_i(node, "allowzero").unwrap_or(0) != 0;
            let mut out = Vec::with_capacity(target.len());
            let mut infer_at = None;
            for (i, &t) in target.iter().enumerate() {
                out.push(match t {
                    -1 if infer_at.is_none() => {
                        infer_at = Some(i);
                        1
                    }
                    0 if !allow_zero => *x.get(i)?,
                    t => u64::try_from(t).ok()?,
                });
            }
            if let Some(i) = infer_at {
                let known = numel(&out);
                if known == 0 {
                    return None;
                }
                out[i] = numel(x) / known;
            }
            Inferred::one(out, 0)
        }
        "Flatten" => {
            let x = input(0)?;
            let a = attr_i(node, "axis").unwrap_or(1);
            let a = if a < 0 { a + x.len() as i64 } else { a };
            let a = usize::try_from(a).ok().filter(|&a| a <= x.len())?;
            Inferred::one(vec![numel(&x[..a]), numel(&x[a..])], 0)
        }
        "Transpose" => {
            let x = input(0)?;
            let out = match attr_ints(node, "perm") {
                Some(perm) => perm
                    .iter()
                    .map(|&p| axis(p, x.len()).map(|p| x[p]))
                    .collect::<Option<Vec<_>>>()?,
                None => x.iter().rev().copied().collect(),
            };
            Inferred::one(out, numel(x))
        }
        "Concat" => {
            let first = input(0)?;
            let a = axis(attr_i(node, "axis")?, first.len())?;
            let mut out = first.clone();
            for i in 1..node.input.len() {
                let s = input(i)?;
                if s.len() != out.len() {
                    return None;
                }
                out[a] = out[a].checked_add(s[a])?;
            }
            // Values only of a short 1-D result: a node listing many constants must not make
            // the analysis hold them all.
            let small = first.len() == 1 && numel(&out) <= MAX_CONST_LEN;
            let values = (0..node.input.len())
                .map(|i| konst(i).filter(|_| small))
                .collect::<Option<Vec<_>>>()
                .map(|v| v.into_iter().flatten().copied().collect());
            let macs = numel(&out);
            Inferred { outputs: vec![Some(out)], consts: vec![values], macs }
        }
        "Split" => {
            // Sizes from the `split` input (opset 13+) or attribute, else equal parts
            // (`num_outputs`, opset 18, or one per output), the last part the remainder.
            let x = input(0)?;
            let a = axis(attr_i(node, "axis").unwrap_or(0), x.len())?;
            let parts = node.output.len().max(1) as u64;
            let sizes: Vec<u64> = match attr_ints(node, "split").or(konst(1).map(Vec::as_slice)) {
                Some(split) => {
                    split.iter().map(|&n| u64::try_from(n).ok()).collect::<Option<_>>()?
                }
                None => {
                    let each = x[a].div_ceil(parts);
                    (0..parts).map(|i| each.min(x[a].saturating_sub(i * each))).collect()
                }
            };
            if sizes.len() != node.output.len() || sizes.iter().sum::<u64>() != x[a] {
                return None;
            }
            let outputs = sizes
                .iter()
                .map(|&n| {
                    let mut out = x.clone();
                    out[a] = n;
                    Some(out)
                })
                .collect();
            Inferred { outputs, consts: Vec::new(), macs: numel(x) }
        }
        "Identity" | "Dropout" => {
            let x = input(0)?;
            Inferred {
                outputs: vec![Some(x.clone()), Some(x.clone())],
                consts: vec![konst(0).cloned()],
                macs: 0,
            }
        }
        "Gather" => {
            let (data, idx) = (input(0)?, input(1)?);
            let a = axis(attr_i(node, "axis").unwrap_or(0), data.len())?;
            let out: Shape = data[..a].iter().chain(idx).chain(&data[a + 1..]).copied().collect();
            let values = match (konst(0), konst(1)) {
                (Some(d), Some(i)) if data.len() == 1 => i
                    .iter()
                    .map(|&i| {
                        let i = if i < 0 { i.checked_add(d.len() as i64)? } else { i };
                        d.get(usize::try_from(i).ok()?).copied()
                    })
                    .collect::<Option<Vec<_>>>(),
                _ => None,
            };
            let macs = numel(&out);
            Inferred { outputs: vec![Some(out)], consts: vec![values], macs }
        }
        "Squeeze" => {
            let x = input(0)?;
            let axes = attr_ints(node, "axes").map(<[i64]>::to_vec).or_else(|| konst(1).cloned());
            let out = match &axes {
                Some(axes) if !axes.is_empty() => {
                    let axes =
                        axes.iter().map(|&a| axis(a, x.len())).collect::<Option<Vec<_>>>()?;
                    x.iter()
                        .enumerate()
                        .filter(|(i, _)| !axes.contains(i))
                        .map(|(_, &d)| d)
                        .collect()
                }
                // Axes given as an input that is not a known constant.
                None if has(1) => return None,
                _ => x.iter().copied().filter(|&d| d != 1).collect(),
            };
            Inferred { outputs: vec![Some(out)], consts: vec![konst(0).cloned()], macs: 0 }
        }
        "Unsqueeze" => {
            let x = input(0)?;
            let axes =
                attr_ints(node, "axes").map(<[i64]>::to_vec).or_else(|| konst(1).cloned())?;
            let rank = x.len() + axes.len();
            let mut axes = axes.iter().map(|&a| axis(a, rank)).collect::<Option<Vec<_>>>()?;
            axes.sort_unstable();
            let mut rest = x.iter();
            let out = (0..rank)
                .map(|i| if axes.contains(&i) { Some(1) } else { rest.next().copied() })
                .collect::<Option<Vec<_>>>()?;
            Inferred { outputs: vec![Some(out)], consts: vec![konst(0).cloned()], macs: 0 }
        }
        "Shape" => {
            let x = input(0)?;
            let r = x.len() as i64;
            let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
            let start = clamp(attr_i(node, "start").unwrap_or(0));
            let end = clamp(attr_i(node, "end").unwrap_or(r));
            let values: Vec<i64> = x[start..end.max(start)]
                .iter()
                .map(|&d| i64::try_from(d).unwrap_or(i64::MAX))
                .collect();
            Inferred::with_const(vec![values.len() as u64], values)
        }
        "Size" => Inferred::with_const(Vec::new(), vec![i64::try_from(numel(input(0)?)).ok()?]),
        "Constant" => {
            let a = node.attribute.first()?;
            match a.name.as_str() {
                "value" => {
                    let t = a.t.as_deref()?;
                    let shape = dims(&t.dims)?;
                    Inferred { outputs: vec![Some(shape)], consts: vec![int_values(t)], macs: 0 }
                }
                "value_int" => Inferred::with_const(Vec::new(), vec![a.i]),
                "value_ints" => Inferred::with_const(vec![a.ints.len() as u64], a.ints.clone()),
                "value_float" => Inferred::one(Vec::new(), 0),
                "value_floats" => Inferred::one(vec![a.floats.len() as u64], 0),
                _ => return None,
            }
        }
        "ConstantOfShape" => {
            let out =
                konst(0)?.iter().map(|&d| u64::try_from(d).ok()).collect::<Option<Vec<_>>>()?;
            let macs = numel(&out);
            Inferred::one(out, macs)
        }
        "Expand" => {
            let target =
                konst(1)?.iter().map(|&d| u64::try_from(d).ok()).collect::<Option<Vec<_>>>()?;
            let out = broadcast(input(0)?, &target)?;
            let macs = numel(&out);
            Inferred::one(out, macs)
        }
        "Tile" => {
            let x = input(0)?;
            let reps = konst(1)?;
            if reps.len() != x.len() {
                return None;
            }
            let out = x
                .iter()
                .zip(reps)
                .map(|(&d, &r)| d.checked_mul(u64::try_from(r).ok()?))
                .collect::<Option<Vec<_>>>()?;
            let macs = numel(&out);
            Inferred::one(out, macs)
        }
        "Range" => {
            // Integer start, limit and delta (positions `Range(0, seq, 1)`); float ranges
            // take the fallback.
            let ([start], [limit], [delta]) =
                (konst(0)?.as_slice(), konst(1)?.as_slice(), konst(2)?.as_slice())
            else {
                return None;
            };
            let (start, limit, delta) =
                (i128::from(*start), i128::from(*limit), i128::from(*delta));
            if delta == 0 {
                return None;
            }
            let n = u64::try_from(range_len(start, limit, delta)).ok()?;
            if n > MAX_CONST_LEN {
                return Some(Inferred::one(vec![n], n));
            }
            let values = (0..n as i128)
                .map(|i| i64::try_from(start + i * delta).ok())
                .collect::<Option<Vec<_>>>()?;
            Inferred { outputs: vec![Some(vec![n])], consts: vec![Some(values)], macs: n }
        }
        "Slice" => {
            let x = input(0)?;
            let (starts, ends) = (konst(1)?, konst(2)?);
            let axes: Vec<i64> =
                if has(3) { konst(3)?.clone() } else { (0..starts.len() as i64).collect() };
            let steps: Vec<i64> = if has(4) { konst(4)?.clone() } else { vec![1; starts.len()] };
            if ends.len() != starts.len()
                || axes.len() != starts.len()
                || steps.len() != starts.len()
            {
                return None;
            }
            let mut out = x.clone();
            for (((&s, &e), &a), &step) in starts.iter().zip(ends).zip(&axes).zip(&steps) {
                let a = axis(a, x.len())?;
                out[a] = slice_len(i64::try_from(x[a]).ok()?, s, e, step)?;
            }
            let macs = numel(&out);
            Inferred::one(out, macs)
        }
        _ => return None,
    })
}

/// Elementwise integer arithmetic on constant vectors (shape computations).
fn int_arith(op: &str, a: &[i64], b: &[i64]) -> Option<Vec<i64>> {
    a.iter()
        .enumerate()
        .map(|(i, &x)| {
            let y = if b.len() == 1 { b[0] } else { b[i] };
            match op {
                "Add" => x.checked_add(y),
                "Sub" => x.checked_sub(y),
                "Mul" => x.checked_mul(y),
                _ => x.checked_div(y),
            }
        })
        .collect()
}

/// The length of `Range(start, limit, delta)`: `max(ceil((limit − start) / delta), 0)`
/// (`delta` not 0).
pub(crate) fn range_len(start: i128, limit: i128, delta: i128) -> i128 {
    let (span, step) = if delta > 0 { (limit - start, delta) } else { (start - limit, -delta) };
    (span + step - 1).div_euclid(step).max(0)
}

/// The length of `start:end:step` over a dimension of size `d`, numpy-style.
fn slice_len(d: i64, start: i64, end: i64, step: i64) -> Option<u64> {
    if step == 0 {
        return None;
    }
    let norm = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
    let (start, end) = (norm(start), norm(end));
    let len = if step > 0 {
        let (s, e) = (start.clamp(0, d), end.clamp(0, d));
        if e <= s { 0 } else { (e - s - 1) / step + 1 }
    } else if d <= 0 {
        0
    } else {
        // ONNX clamps a backward start to [0, d − 1] and a backward end to [−1, d − 1].
        let (s, e) = (start.clamp(0, d - 1), end.clamp(-1, d - 1));
        if s <= e { 0 } else { (s - e - 1) / step.checked_neg()? + 1 }
    };
    u64::try_from(len).ok()
}

fn matmul(a: &Shape, b: &Shape) -> Option<Inferred> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let (a2, drop_m) = if a.len() == 1 { (vec![1, a[0]], true) } else { (a.clone(), false) };
    let (b2, drop_n) = if b.len() == 1 { (vec![b[0], 1], true) } else { (b.clone(), false) };
    let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let n = b2[b2.len() - 1];
    let batch = broadcast(&a2[..a2.len() - 2], &b2[..b2.len() - 2])?;
    let macs = numel(&batch).saturating_mul(m).saturating_mul(k).saturating_mul(n);
    let mut out = batch;
    if !drop_m {
        out.push(m);
    }
    if !drop_n {
        out.push(n);
    }
    Some(Inferred::one(out, macs))
}

/// Output spatial size of a sliding window (conv or pool) over `in_` elements.
fn window_len(
    in_: u64,
    kernel: u64,
    stride: u64,
    dilation: u64,
    pads: u64,
    ceil: bool,
) -> Option<u64> {
    let span = kernel.checked_sub(1)?.checked_mul(dilation)?.checked_add(1)?;
    let padded = in_.checked_add(pads)?;
    let room = padded.checked_sub(span)?;
    if stride == 0 {
        return None;
    }
    Some(if ceil { room.div_ceil(stride) } else { room / stride } + 1)
}

/// The output shape `[N, C, spatial…]` of a window op over `x` (conv with `channels` as C, or
/// pool with the input's C).
fn window_shape(
    node: &NodeProto,
    x: &Shape,
    kernel: &[i64],
    channels: u64,
    ceil: bool,
) -> Option<Shape> {
    let n = kernel.len();
    if x.len() != n + 2 {
        return None;
    }
    let ints = |name: &str, default: i64, len: usize| -> Option<Vec<u64>> {
        match attr_ints(node, name) {
            Some(v) if v.len() == len => v.iter().map(|&x| u64::try_from(x).ok()).collect(),
            Some(_) => None,
            None => Some(vec![default as u64; len]),
        }
    };
    let strides = ints("strides", 1, n)?;
    let dilations = ints("dilations", 1, n)?;
    let pads = ints("pads", 0, 2 * n)?;
    let auto_pad = attr_s(node, "auto_pad").unwrap_or(b"NOTSET");
    let mut out = vec![x[0], channels];
    for i in 0..n {
        let k = u64::try_from(kernel[i]).ok()?;
        let d = x[i + 2];
        out.push(match auto_pad {
            b"SAME_UPPER" | b"SAME_LOWER" => d.div_ceil(strides[i].max(1)),
            b"VALID" => window_len(d, k, strides[i], dilations[i], 0, false)?,
            _ => {
                window_len(d, k, strides[i], dilations[i], pads[i].checked_add(pads[i + n])?, ceil)?
            }
        });
    }
    Some(out)
}

fn window(node: &NodeProto, x: &Shape, kernel: &[i64], ceil: bool) -> Option<Shape> {
    window_shape(node, x, kernel, *x.get(1)?, ceil)
}

fn conv(node: &NodeProto, x: &Shape, w: &Shape, bias: bool) -> Option<Inferred> {
    if w.len() < 3 {
        return None;
    }
    let kernel: Vec<i64> = match attr_ints(node, "kernel_shape") {
        Some(k) => k.to_vec(),
        None => w[2..].iter().map(|&d| i64::try_from(d).ok()).collect::<Option<_>>()?,
    };
    let out = window_shape(node, x, &kernel, w[0], false)?;
    let per_output = w[1].saturating_mul(numel(&w[2..]));
    let outputs = numel(&out);
    let macs = outputs.saturating_mul(per_output).saturating_add(if bias { outputs } else { 0 });
    Some(Inferred::one(out, macs))
}

fn conv_transpose(node: &NodeProto, x: &Shape, w: &Shape, bias: bool) -> Option<Inferred> {
    if w.len() < 3 || x.len() != w.len() {
        return None;
    }
    let n = w.len() - 2;
    let group = u64::try_from(attr_i(node, "group").unwrap_or(1)).ok()?;
    let m = w[1].checked_mul(group)?;
    let kernel: Vec<u64> = match attr_ints(node, "kernel_shape") {
        Some(k) => k.iter().map(|&d| u64::try_from(d).ok()).collect::<Option<_>>()?,
        None => w[2..].to_vec(),
    };
    if kernel.len() != n {
        return None;
    }
    let ints = |name: &str, default: u64, len: usize| -> Option<Vec<u64>> {
        match attr_ints(node, name) {
            Some(v) if v.len() == len => v.iter().map(|&x| u64::try_from(x).ok()).collect(),
            Some(_) => None,
            None => Some(vec![default; len]),
        }
    };
    let mut out = vec![x[0], m];
    if let Some(shape) = attr_ints(node, "output_shape") {
        let shape = shape.iter().map(|&d| u64::try_from(d).ok()).collect::<Option<Vec<_>>>()?;
        out.extend(shape.iter().skip(shape.len().saturating_sub(n)));
    } else {
        let strides = ints("strides", 1, n)?;
        let dilations = ints("dilations", 1, n)?;
        let pads = ints("pads", 0, 2 * n)?;
        let output_padding = ints("output_padding", 0, n)?;
        let auto_pad = attr_s(node, "auto_pad").unwrap_or(b"NOTSET");
        for i in 0..n {
            let in_ = x[i + 2];
            out.push(match auto_pad {
                b"SAME_UPPER" | b"SAME_LOWER" => in_.checked_mul(strides[i])?,
                _ => strides[i]
                    .checked_mul(in_.checked_sub(1)?)?
                    .checked_add(output_padding[i])?
                    .checked_add(
                        kernel[i].checked_sub(1)?.checked_mul(dilations[i])?.checked_add(1)?,
                    )?
                    .checked_sub(pads[i].checked_add(pads[i + n])?)?,
            });
        }
    }
    if out.len() != n + 2 {
        return None;
    }
    let macs = numel(x)
        .saturating_mul(w[1])
        .saturating_mul(numel(&kernel))
        .saturating_add(if bias { numel(&out) } else { 0 });
    Some(Inferred::one(out, macs))
}
