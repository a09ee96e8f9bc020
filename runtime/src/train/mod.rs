//! Training by inference: ANH's reverse-mode autodiff turns an ONNX model and a
//! [`TrainSpec`] into an ONNX **training-step graph** that any ONNX Runtime (CPU or CUDA)
//! runs, since the standard builds have no training API.
//!
//! [`build_step_graph`] differentiates the loss on the model's **first output** with respect
//! to the trainable initializers, emitting plain ONNX nodes, and appends the optimiser's
//! update. The [`StepGraph`] it returns says exactly what to feed and what comes back:
//!
//! | | in this order |
//! |---|---|
//! | inputs | the trainable weights (named as the initializers, in initializer order or the spec's order); the optimiser state — momentum: `anh.opt.velocity.<w>` per weight; Adam: `anh.opt.m.<w>`, `anh.opt.v.<w>` per weight, then the scalar step counter `anh.opt.t`; the batch — the model's inputs in order, then `labels` (int64 `[batch]` class indices for cross-entropy, `[batch, positions…]` for sequence logits, a tensor shaped like the first output for MSE), then for weighted cross-entropy `sample_weights` (`[batch]`); then the scalar learning rate `lr` |
//! | outputs | the new weights, the new optimiser state (same order; Adam's `t` comes back as `t + 1`), then the scalar `loss` of the **input** weights on the batch |
//!
//! Weights, state, `lr` and `loss` have the model's float type (that of its first output:
//! float32, or float64). Non-trainable initializers stay initializers. The fixed names
//! (`labels`, `lr`, …) get a suffix (`lr.1`) if the model already uses them; read them from
//! the [`StepGraph`].
//!
//! Losses ([`Loss`]): MSE = mean of `(y − t)²` over all elements; cross-entropy on logits
//! `[batch, classes]` = mean over the batch of `−log softmax(y)[label]`; on sequence logits
//! `[batch, positions…, classes]` (a language model's next-token loss) with labels
//! `[batch, positions…]` = mean over the positions whose label is not [`IGNORE_LABEL`] (−100,
//! padding) of `−log softmax(y)[label]`, 0 if all are ignored; weighted
//! cross-entropy = mean of `wᵢ · CEᵢ` (policy gradient). Labels outside `0..classes` are not
//! checked by the graph (they count as a zero one-hot row): callers check them.
//!
//! Optimisers ([`Optimizer`]): SGD `w' = w − lr·g`; momentum `v' = 0.9 v + g`,
//! `w' = w − lr·v'`; Adam (β1 0.9, β2 0.999, ε 1e-8) `t' = t + 1`, `m' = β1 m + (1−β1) g`,
//! `v' = β2 v + (1−β2) g²`, `w' = w − lr · (m'/(1−β1^t')) / (√(v'/(1−β2^t')) + ε)`.
//!
//! # Gradients
//!
//! Gemm, MatMul (N-D, broadcast, 1-D operands), Add, Sub, Mul, Div (numpy broadcasting),
//! Relu, LeakyRelu, Sigmoid, Tanh, Softmax, LogSoftmax (opset-13 axis semantics), Reshape,
//! Flatten, Transpose, Concat, Conv (group 1, any spatial rank, strides, pads, dilations,
//! `auto_pad`, bias), MaxPool (through its `Indices` output; `storage_order` 0), AveragePool
//! (`count_include_pad` either way; `ceil_mode` 0, no dilations), ReduceMean, ReduceSum
//! (axes as attribute or input, `keepdims`); Identity and Dropout pass the gradient through
//! (inference Dropout; one with a `training_mode` input is refused).
//!
//! For transformers as `torch.onnx.export` writes them: Gather (an embedding table's rows
//! get the sum of their positions' gradients, `ScatterND` with `reduction="add"`; any axis,
//! negative indices), LayerNormalization (any axis, with or without bias; its mean and
//! inverse deviation recomputed), its decomposed form through Pow, Sqrt, Reciprocal and the
//! reductions, Gelu (exact and `tanh`), Erf, Exp, Log, Neg, Where (the two branches; the
//! condition is boolean), Slice and Split (any starts, ends, axes, steps, sizes, constant or
//! computed), Squeeze, Unsqueeze, Expand, and Cast to the model's float type.
//!
//! Any other op on a path from a trained weight to the loss is refused
//! with [`RuntimeError::NoGradient`] naming it; ops off such paths (preprocessing of the
//! inputs, shape arithmetic, masks, other outputs) are kept or dropped as the loss needs
//! them. Conv and pooling
//! gradients need static spatial sizes; symbolic batch dimensions are fine everywhere
//! (broadcast reductions fall back to `Shape` ops when static shapes do not decide them).
//! Static shapes follow shape arithmetic (`Shape` → `Gather` → `Unsqueeze` → `Concat` into a
//! `Reshape`), so a transformer's step graph keeps its `batch` and `seq` symbols.
//!
//! Models must use opset 13 or later ([`RuntimeError::OpsetTooOld`]); the step graph keeps
//! the model's opset, raised to 16 when a MaxPool or Gather gradient needs a scatter with
//! `reduction="add"`.
//!
//! # Weights and optimiser state in the model file
//!
//! [`write_weights`] writes new weight values into a model (every other byte of the file
//! kept) and stores the optimiser state as extra initializers `anh.opt.<kind>.<weight>`
//! (`velocity`, `m`, `v`) and `anh.opt.t`, which no node reads, so inference is unchanged;
//! [`read_state`] reads them back (zeros when absent), so training continues from the file
//! alone. [`read_weights`] reads the trainable weights' current values.
//!
//! # Caching
//!
//! Building a step graph walks the whole model: [`StepGraphCache`] keeps them per (model
//! hash, spec), bounded, for callers that train the same model repeatedly.

pub mod adapt;
mod grad;
mod graph;
mod infer;
mod weights;

pub use weights::{read_state, read_weights, write_weights};

pub(crate) use graph::tensor_floats;

use self::{
    grad::{check_supported, differentiable},
    graph::{D, GraphBuilder, Shape, attr_int, dt, is_float, tensor_ints},
    infer::Known,
};
use crate::{
    analysis::{Limits, analyze},
    error::{Result, RuntimeError},
    onnx::{
        Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
        TensorShapeProto, TypeProto, TypeProtoTensor, ValueInfoProto,
    },
    validate::validate_inputs,
};
use alloy_primitives::B256;
use anh_primitives::{Dim, ElemType, HostTensor, ModelInfo, TensorSpec};
use parking_lot::Mutex;
use prost::Message;
use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

/// The loss a step minimises, on the model's first output (`TrainParams.loss`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Loss {
    /// Mean squared error over all elements; labels shaped like the output (code 1).
    Mse,
    /// Cross-entropy on logits `[batch, classes]`; int64 class labels `[batch]` (code 2).
    CrossEntropy,
    /// Cross-entropy weighted per sample (policy gradient): labels, then float weights
    /// `[batch]` (code 3).
    WeightedCrossEntropy,
}

impl Loss {
    /// The loss for a `TrainParams.loss` code (1, 2, 3).
    pub const fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => Self::Mse,
            2 => Self::CrossEntropy,
            3 => Self::WeightedCrossEntropy,
            _ => return None,
        })
    }

    /// The `TrainParams.loss` code.
    pub const fn code(self) -> u8 {
        match self {
            Self::Mse => 1,
            Self::CrossEntropy => 2,
            Self::WeightedCrossEntropy => 3,
        }
    }
}

/// The update rule of a step (`TrainParams.optimizer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Optimizer {
    /// `w' = w − lr·g` (code 1).
    Sgd,
    /// Heavy-ball momentum 0.9: `v' = 0.9 v + g`, `w' = w − lr·v'` (code 2).
    Momentum,
    /// Adam with β1 0.9, β2 0.999, ε 1e-8 and bias correction (code 3).
    Adam,
}

impl Optimizer {
    /// Momentum's decay.
    pub const MOMENTUM: f64 = 0.9;
    /// Adam's β1.
    pub const ADAM_BETA1: f64 = 0.9;
    /// Adam's β2.
    pub const ADAM_BETA2: f64 = 0.999;
    /// Adam's ε.
    pub const ADAM_EPSILON: f64 = 1e-8;

    /// The optimiser for a `TrainParams.optimizer` code (1, 2, 3).
    pub const fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => Self::Sgd,
            2 => Self::Momentum,
            3 => Self::Adam,
            _ => return None,
        })
    }

    /// The `TrainParams.optimizer` code.
    pub const fn code(self) -> u8 {
        match self {
            Self::Sgd => 1,
            Self::Momentum => 2,
            Self::Adam => 3,
        }
    }

    /// The kinds of per-weight state, in input order (`anh.opt.<kind>.<weight>`).
    pub const fn state_kinds(self) -> &'static [&'static str] {
        match self {
            Self::Sgd => &[],
            Self::Momentum => &["velocity"],
            Self::Adam => &["m", "v"],
        }
    }
}

/// What to train and how.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrainSpec {
    /// The loss on the model's first output.
    pub loss: Loss,
    /// The update rule.
    pub optimizer: Optimizer,
    /// The initializers to train; `None` for every float32/float64 initializer on a path to
    /// the loss.
    pub trainable: Option<Vec<String>>,
}

/// The label that marks a position cross-entropy on sequence logits (`[batch, positions…,
/// classes]`) skips, such as padding: PyTorch's default `ignore_index`.
pub const IGNORE_LABEL: i64 = anh_primitives::train::IGNORE_LABEL;

/// The name of Adam's step counter, as input, state and stored initializer.
pub const ADAM_STEP: &str = "anh.opt.t";

/// The name of a per-weight optimiser state tensor.
pub fn state_name(kind: &str, weight: &str) -> String {
    format!("anh.opt.{kind}.{weight}")
}

/// A training-step graph and how to feed it (see the module docs for the contract).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepGraph {
    /// The graph, as an ONNX model file.
    pub model: Vec<u8>,
    /// The float type of weights, state, `lr` and `loss` (float32 or float64).
    pub elem: ElemType,
    /// The trainable weights: the first inputs, and (as `outputs[..weights.len()]`) the first
    /// outputs.
    pub weights: Vec<TensorSpec>,
    /// The optimiser state inputs, after the weights.
    pub state: Vec<TensorSpec>,
    /// The batch inputs, after the state: the model's inputs, the labels, then the sample
    /// weights for weighted cross-entropy.
    pub batch: Vec<TensorSpec>,
    /// The learning-rate input (a scalar), last. Empty in a gradient graph.
    pub lr: String,
    /// The outputs in order: new weights, new state, then the loss (gradient graphs: one
    /// gradient per weight, then the loss).
    pub outputs: Vec<String>,
}

impl StepGraph {
    /// All input names in feeding order.
    pub fn input_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .weights
            .iter()
            .chain(&self.state)
            .chain(&self.batch)
            .map(|s| s.name.as_str())
            .collect();
        if !self.lr.is_empty() {
            names.push(&self.lr);
        }
        names
    }

    /// The name of the loss output (the last output).
    pub fn loss_output(&self) -> &str {
        self.outputs.last().map_or("", String::as_str)
    }

    /// Checks a batch (model inputs, labels, sample weights) against [`StepGraph::batch`]:
    /// count, element types, ranks, fixed and symbolic dimensions (one batch size for all),
    /// with the errors of [`crate::validate_inputs`].
    pub fn check_batch(&self, batch: &[HostTensor]) -> Result<()> {
        let info = ModelInfo {
            hash: B256::ZERO,
            size: 0,
            cost: anh_primitives::Cost::constant(0, 0),
            inputs: self.batch.clone(),
            outputs: Vec::new(),
            parent: None,
        };
        validate_inputs(&info, batch)
    }
}

/// Builds the training-step graph of `model` for `spec` (contract in the module docs).
pub fn build_step_graph(model: &[u8], spec: &TrainSpec) -> Result<StepGraph> {
    build(model, spec.loss, spec.trainable.as_deref(), Mode::Step(spec.optimizer))
}

/// Builds a graph whose inputs are the weights and the batch (no state, no `lr`) and whose
/// outputs are the gradient of the loss with respect to each weight, then the loss: the
/// autodiff without an optimiser, for gradient checks.
#[doc(hidden)]
pub fn build_gradient_graph(
    model: &[u8],
    loss: Loss,
    trainable: Option<&[String]>,
) -> Result<StepGraph> {
    build(model, loss, trainable, Mode::Gradients)
}

/// Builds the forward pass and the loss only: inputs are the model's inputs, the labels
/// (and the sample weights for weighted cross-entropy), output the scalar `loss`; the
/// weights stay initializers. Used to check a claimed loss on a model file.
pub fn build_loss_graph(model: &[u8], loss: Loss) -> Result<Vec<u8>> {
    build(model, loss, None, Mode::LossOnly).map(|g| g.model)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Step(Optimizer),
    Gradients,
    LossOnly,
}

/// A decoded model, ready to differentiate.
#[derive(Debug)]
struct Parsed {
    model: ModelProto,
    graph: GraphProto,
    /// The `anh.opt.*` initializers, taken out of the graph.
    stored_state: Vec<TensorProto>,
    opset: i64,
    /// The float type of the first output.
    elem: i32,
    /// Node indices in topological order.
    order: Vec<usize>,
    shapes: HashMap<String, Shape>,
    /// Names each node reads inside its subgraphs (outer-scope references).
    implicit: Vec<Vec<String>>,
}

/// Initializers that hold optimiser state are `anh.opt.*`: never weights, never kept.
fn is_state_name(name: &str) -> bool {
    name.starts_with("anh.opt.")
}

fn parse(bytes: &[u8]) -> Result<Parsed> {
    analyze(bytes, &Limits::default())?;
    let mut model = ModelProto::decode(bytes)
        .map_err(|e| RuntimeError::BadTrainModel(format!("not an ONNX model ({e})")))?;
    let mut graph =
        model.graph.take().ok_or_else(|| RuntimeError::BadTrainModel("no graph".into()))?;
    let opset = model
        .opset_import
        .iter()
        .filter(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .max()
        .unwrap_or(1);
    if opset < 13 {
        return Err(RuntimeError::OpsetTooOld(opset));
    }
    let (stored_state, initializer) =
        std::mem::take(&mut graph.initializer).into_iter().partition(|t| is_state_name(&t.name));
    graph.initializer = initializer;
    if let Some(n) = graph
        .node
        .iter()
        .flat_map(|n| &n.output)
        .chain(graph.input.iter().map(|v| &v.name))
        .find(|n| is_state_name(n))
    {
        return Err(RuntimeError::BadTrainModel(format!(
            "the name \"{n}\" is reserved for optimiser state (anh.opt.*)"
        )));
    }
    let first = graph.output.first().ok_or(crate::AnalysisError::NoOutputs)?;
    let elem = elem_of(first);
    if !is_float(elem) {
        return Err(RuntimeError::LossTarget(format!(
            "the loss needs the model's first output \"{}\" to be float32 or float64; it is {}",
            first.name,
            crate::onnx::data_type::name(elem)
        )));
    }

    // Static shapes: declared inputs, initializers, constants; then inference in order.
    let mut shapes: HashMap<String, Shape> = HashMap::new();
    let mut consts: HashMap<String, Vec<i64>> = HashMap::new();
    let mut values: HashMap<String, Vec<D>> = HashMap::new();
    let mut declared: HashMap<String, Shape> = HashMap::new();
    for v in graph.input.iter().chain(&graph.value_info).chain(&graph.output) {
        declared.entry(v.name.clone()).or_insert_with(|| declared_shape(v));
    }
    for v in &graph.input {
        shapes.insert(v.name.clone(), declared_shape(v));
    }
    for t in &graph.initializer {
        shapes.insert(t.name.clone(), Some(t.dims.iter().map(|&d| known_dim(d)).collect()));
        if let Some(v) = tensor_ints(t) {
            consts.insert(t.name.clone(), v);
        }
    }
    let implicit: Vec<Vec<String>> = graph.node.iter().map(subgraph_refs).collect();
    let order = topological(&graph, &implicit)?;
    for &i in &order {
        let node = &graph.node[i];
        if node.op_type == "Constant"
            && let Some(out) = node.output.first()
        {
            let (shape, values) = constant_value(node);
            shapes.insert(out.clone(), shape);
            if let Some(v) = values {
                consts.insert(out.clone(), v);
            }
            continue;
        }
        let known = Known { shapes: &shapes, consts: &consts, values: &values, opset };
        let (inferred, value) = (known.infer(node), known.value(node));
        if let (Some(v), Some(out)) = (value, node.output.first()) {
            values.insert(out.clone(), v);
        }
        for (out, s) in node.output.iter().zip(inferred) {
            let s = s.or_else(|| declared.get(out).cloned().flatten());
            shapes.insert(out.clone(), s);
        }
    }
    Ok(Parsed { model, graph, stored_state, opset, elem, order, shapes, implicit })
}

/// The element type declared for a value (0 if none).
fn elem_of(v: &ValueInfoProto) -> i32 {
    v.r#type.as_ref().and_then(|t| t.tensor_type.as_ref()).map_or(0, |t| t.elem_type)
}

fn declared_shape(v: &ValueInfoProto) -> Shape {
    let shape = v.r#type.as_ref()?.tensor_type.as_ref()?.shape.as_ref()?;
    Some(
        shape
            .dim
            .iter()
            .map(|d| match (&d.dim_value, &d.dim_param) {
                (Some(n), _) if *n >= 0 => D::Known(*n),
                (None, Some(p)) if !p.is_empty() => D::Sym(p.clone()),
                _ => D::Unknown,
            })
            .collect(),
    )
}

/// A stored dimension: known, unless negative (which no valid tensor has).
fn known_dim(d: i64) -> D {
    if d >= 0 { D::Known(d) } else { D::Unknown }
}

/// The shape and (for integers) values of a `Constant` node.
fn constant_value(node: &NodeProto) -> (Shape, Option<Vec<i64>>) {
    for a in &node.attribute {
        match a.name.as_str() {
            "value" => {
                if let Some(t) = &a.t {
                    return (Some(t.dims.iter().map(|&d| known_dim(d)).collect()), tensor_ints(t));
                }
            }
            "value_ints" => {
                return (Some(vec![D::Known(a.ints.len() as i64)]), Some(a.ints.clone()));
            }
            "value_int" => return (Some(Vec::new()), Some(vec![a.i])),
            "value_float" => return (Some(Vec::new()), None),
            "value_floats" => return (Some(vec![D::Known(a.floats.len() as i64)]), None),
            _ => {}
        }
    }
    (None, None)
}

/// Every name a node's subgraphs read (their nodes' inputs), recursively.
fn subgraph_refs(node: &NodeProto) -> Vec<String> {
    fn walk(g: &GraphProto, out: &mut Vec<String>) {
        for n in &g.node {
            out.extend(n.input.iter().filter(|i| !i.is_empty()).cloned());
            for a in &n.attribute {
                for sub in a.g.as_deref().into_iter().chain(&a.graphs) {
                    walk(sub, out);
                }
            }
        }
    }
    let mut out = Vec::new();
    for a in &node.attribute {
        for sub in a.g.as_deref().into_iter().chain(&a.graphs) {
            walk(sub, &mut out);
        }
    }
    out
}

/// Node indices in an order where every node comes after the producers of what it reads.
fn topological(graph: &GraphProto, implicit: &[Vec<String>]) -> Result<Vec<usize>> {
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, n) in graph.node.iter().enumerate() {
        for o in n.output.iter().filter(|o| !o.is_empty()) {
            producer.insert(o, i);
        }
    }
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); graph.node.len()];
    let mut pending: Vec<usize> = vec![0; graph.node.len()];
    for (i, n) in graph.node.iter().enumerate() {
        let mut deps: Vec<usize> = n
            .input
            .iter()
            .chain(&implicit[i])
            .filter_map(|x| producer.get(x.as_str()).copied())
            .filter(|&p| p != i)
            .collect();
        deps.sort_unstable();
        deps.dedup();
        pending[i] = deps.len();
        for p in deps {
            users[p].push(i);
        }
    }
    let mut ready: Vec<usize> = (0..graph.node.len()).rev().filter(|&i| pending[i] == 0).collect();
    let mut order = Vec::with_capacity(graph.node.len());
    while let Some(i) = ready.pop() {
        order.push(i);
        for &u in users[i].iter().rev() {
            pending[u] -= 1;
            if pending[u] == 0 {
                ready.push(u);
            }
        }
    }
    if order.len() != graph.node.len() {
        return Err(RuntimeError::BadTrainModel("its graph has a cycle".into()));
    }
    Ok(order)
}

/// Every name used anywhere in the graph and its subgraphs.
fn all_names(graph: &GraphProto, out: &mut HashSet<String>) {
    for v in graph.input.iter().chain(&graph.output).chain(&graph.value_info) {
        out.insert(v.name.clone());
    }
    for t in &graph.initializer {
        out.insert(t.name.clone());
    }
    for n in &graph.node {
        out.extend(n.input.iter().chain(&n.output).cloned());
        for a in &n.attribute {
            for sub in a.g.as_deref().into_iter().chain(&a.graphs) {
                all_names(sub, out);
            }
        }
    }
}

/// Which weights train, and which tensors carry their gradients to the loss.
#[derive(Debug)]
struct Selection {
    weights: Vec<String>,
    needs_grad: HashSet<String>,
}

fn select(p: &Parsed, trainable: Option<&[String]>) -> Result<Selection> {
    let floats: HashMap<&str, &TensorProto> = p
        .graph
        .initializer
        .iter()
        .filter(|t| is_float(t.data_type))
        .map(|t| (t.name.as_str(), t))
        .collect();
    let candidates: Vec<String> = match trainable {
        Some(names) => {
            for n in names {
                if !floats.contains_key(n.as_str()) || is_state_name(n) {
                    return Err(RuntimeError::NotAWeight(n.clone()));
                }
            }
            let mut seen = HashSet::new();
            names.iter().filter(|n| seen.insert(n.as_str())).cloned().collect()
        }
        None => p
            .graph
            .initializer
            .iter()
            .filter(|t| floats.contains_key(t.name.as_str()))
            .map(|t| t.name.clone())
            .collect(),
    };
    let mut active: HashSet<String> = candidates.iter().cloned().collect();
    for &i in &p.order {
        let n = &p.graph.node[i];
        if n.input.iter().chain(&p.implicit[i]).any(|x| active.contains(x)) {
            active.extend(n.output.iter().filter(|o| !o.is_empty()).cloned());
        }
    }
    let y = &p.graph.output[0].name;
    let mut needs: HashSet<String> = HashSet::new();
    if active.contains(y) {
        needs.insert(y.clone());
    }
    for &i in p.order.iter().rev() {
        let n = &p.graph.node[i];
        if !n.output.iter().any(|o| needs.contains(o))
            || !n.input.iter().chain(&p.implicit[i]).any(|x| active.contains(x))
        {
            continue;
        }
        check_supported(n)?;
        if n.op_type != "Split"
            && let Some((k, o)) =
                n.output.iter().enumerate().skip(1).find(|(_, o)| needs.contains(*o))
        {
            return Err(RuntimeError::NoGradient {
                op: n.op_type.clone(),
                node: graph::node_label(n),
                detail: format!(
                    "has a gradient in ANH through its first output only; its output {k} \
                     (\"{o}\") reaches the loss"
                ),
            });
        }
        let diff = differentiable(&n.op_type).unwrap_or(grad::Diff::First(0));
        for (j, x) in n.input.iter().enumerate() {
            if diff.has(j) && active.contains(x) {
                needs.insert(x.clone());
            }
        }
    }
    let weights: Vec<String> = match trainable {
        Some(_) => {
            if let Some(unused) = candidates.iter().find(|w| !needs.contains(*w)) {
                return Err(RuntimeError::WeightUnused(unused.clone()));
            }
            candidates
        }
        None => candidates.into_iter().filter(|w| needs.contains(w)).collect(),
    };
    if weights.is_empty() {
        return Err(RuntimeError::NoTrainableWeights);
    }
    for w in &weights {
        if floats.get(w.as_str()).map(|t| t.data_type) != Some(p.elem) {
            return Err(RuntimeError::BadTrainModel(format!(
                "weight \"{w}\" is not of the type of the model's first output ({})",
                crate::onnx::data_type::name(p.elem)
            )));
        }
    }
    Ok(Selection { weights, needs_grad: needs })
}

/// A graph input/output declaration.
fn value_info(name: &str, elem: i32, dims: &[Dimension]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.to_owned(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: elem,
                shape: Some(TensorShapeProto { dim: dims.to_vec() }),
            }),
            ..Default::default()
        }),
    }
}

fn fixed_dims(dims: &[i64]) -> Vec<Dimension> {
    dims.iter().map(|&d| Dimension { dim_value: Some(d), dim_param: None }).collect()
}

/// A declaration as a [`TensorSpec`].
fn spec_of(v: &ValueInfoProto) -> Result<TensorSpec> {
    let t = v.r#type.as_ref().and_then(|t| t.tensor_type.as_ref());
    let elem = t.and_then(|t| ElemType::from_onnx(t.elem_type)).ok_or_else(|| {
        RuntimeError::BadTrainModel(format!("\"{}\" has no supported tensor type", v.name))
    })?;
    let shape = t
        .and_then(|t| t.shape.as_ref())
        .map(|s| {
            s.dim
                .iter()
                .map(|d| match (d.dim_value, &d.dim_param) {
                    (Some(n), _) => Dim::Fixed(u64::try_from(n).unwrap_or(0)),
                    (None, p) => Dim::Symbolic(p.clone().unwrap_or_default()),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(TensorSpec { name: v.name.clone(), elem, shape })
}

/// The loss nodes: returns (loss, seed gradient of the first output when asked).
struct LossNodes {
    loss: String,
    seed: Option<String>,
}

fn emit_loss(
    b: &mut GraphBuilder,
    loss: Loss,
    y: &str,
    labels: &str,
    sample_weights: Option<&str>,
    loss_name: &str,
    with_seed: bool,
) -> LossNodes {
    let reduce_mean = |b: &mut GraphBuilder, x: &str, out: &str| {
        // All axes, keepdims 0: valid whether axes is an attribute or an input.
        b.emit_to("ReduceMean", &[x], vec![attr_int("keepdims", 0)], out);
    };
    match loss {
        Loss::Mse => {
            let y_shape = b.shape(y);
            let diff = b.emit_shaped("Sub", &[y, labels], vec![], y_shape.clone());
            let sq = b.emit("Mul", &[&diff, &diff], vec![]);
            reduce_mean(b, &sq, loss_name);
            let seed = with_seed.then(|| {
                let two = b.scalar(2.0);
                let n = b.size_float(y);
                let scaled = b.emit("Mul", &[&diff, &two], vec![]);
                b.emit_shaped("Div", &[&scaled, &n], vec![], y_shape)
            });
            LossNodes { loss: loss_name.to_owned(), seed }
        }
        Loss::CrossEntropy if b.shape(y).is_some_and(|s| s.len() > 2) => {
            sequence_cross_entropy(b, y, labels, loss_name, with_seed)
        }
        Loss::CrossEntropy | Loss::WeightedCrossEntropy => {
            let y_shape = b.shape(y);
            let lsm = b.emit_shaped("LogSoftmax", &[y], vec![attr_int("axis", 1)], y_shape.clone());
            let shape = b.shape_of(y);
            let (i0, i1) = (b.int_scalar(0), b.int_scalar(1));
            let classes = b.emit("Gather", &[&shape, &i1], vec![attr_int("axis", 0)]);
            let range = b.emit("Range", &[&i0, &classes, &i1], vec![]);
            let at1 = b.ints(&[1]);
            let column = b.emit("Unsqueeze", &[labels, &at1], vec![]);
            let hit = b.emit("Equal", &[&column, &range], vec![]);
            let onehot = b.cast(&hit, b.elem);
            let picked = b.emit("Mul", &[&onehot, &lsm], vec![]);
            let sum = b.reduce_sum(&picked, &[1], false);
            let mut nll = b.emit("Neg", &[&sum], vec![]);
            if let Some(w) = sample_weights {
                nll = b.emit("Mul", &[&nll, w], vec![]);
            }
            reduce_mean(b, &nll, loss_name);
            let seed = with_seed.then(|| {
                let p = b.emit("Exp", &[&lsm], vec![]);
                let mut d = b.emit("Sub", &[&p, &onehot], vec![]);
                if let Some(w) = sample_weights {
                    let wc = b.emit("Unsqueeze", &[w, &at1], vec![]);
                    d = b.emit("Mul", &[&d, &wc], vec![]);
                }
                let batch = b.emit("Gather", &[&shape, &i0], vec![attr_int("axis", 0)]);
                let batch = b.cast(&batch, b.elem);
                b.emit_shaped("Div", &[&d, &batch], vec![], y_shape)
            });
            LossNodes { loss: loss_name.to_owned(), seed }
        }
    }
}

/// Cross-entropy on logits `[batch, positions…, classes]` with int64 labels `[batch,
/// positions…]`: the mean of `−log softmax(y)[label]` over the positions whose label is not
/// [`IGNORE_LABEL`] (0 when every position is ignored).
fn sequence_cross_entropy(
    b: &mut GraphBuilder,
    y: &str,
    labels: &str,
    loss_name: &str,
    with_seed: bool,
) -> LossNodes {
    let y_shape = b.shape(y);
    let lsm = b.emit_shaped("LogSoftmax", &[y], vec![attr_int("axis", -1)], y_shape.clone());
    let shape = b.shape_of(y);
    let (i0, i1, last) = (b.int_scalar(0), b.int_scalar(1), b.int_scalar(-1));
    let classes = b.emit("Gather", &[&shape, &last], vec![attr_int("axis", 0)]);
    // The labels reshaped to the logits' positions: a labels tensor of another size fails
    // the run instead of broadcasting into a wrong loss.
    let (from, to) = (b.ints(&[0]), b.ints(&[-1]));
    let positions = b.emit("Slice", &[&shape, &from, &to], vec![]);
    let labels = &b.emit("Reshape", &[labels, &positions], vec![]);
    let range = b.emit("Range", &[&i0, &classes, &i1], vec![]);
    let at_last = b.ints(&[-1]);
    let column = b.emit("Unsqueeze", &[labels, &at_last], vec![]);
    // An ignored position's one-hot row is all zeros: it adds nothing to the sum.
    let hit = b.emit("Equal", &[&column, &range], vec![]);
    let onehot = b.cast(&hit, b.elem);
    let picked = b.emit("Mul", &[&onehot, &lsm], vec![]);
    let nll = b.reduce_sum(&picked, &[-1], false);
    let ignore = b.int_scalar(IGNORE_LABEL);
    let ignored = b.emit("Equal", &[labels, &ignore], vec![]);
    let kept = b.emit("Not", &[&ignored], vec![]);
    let kept = b.cast(&kept, b.elem);
    let all =
        |b: &mut GraphBuilder, x: &str| b.emit("ReduceSum", &[x], vec![attr_int("keepdims", 0)]);
    let count = all(b, &kept);
    let one = b.scalar(1.0);
    let count = b.emit("Max", &[&count, &one], vec![]);
    let total = all(b, &nll);
    let neg = b.emit("Neg", &[&total], vec![]);
    b.emit_to("Div", &[&neg, &count], vec![], loss_name);
    let seed = with_seed.then(|| {
        let p = b.emit("Exp", &[&lsm], vec![]);
        let d = b.emit("Sub", &[&p, &onehot], vec![]);
        let kept = b.emit("Unsqueeze", &[&kept, &at_last], vec![]);
        let d = b.emit("Mul", &[&d, &kept], vec![]);
        b.emit_shaped("Div", &[&d, &count], vec![], y_shape)
    });
    LossNodes { loss: loss_name.to_owned(), seed }
}

fn build(bytes: &[u8], loss: Loss, trainable: Option<&[String]>, mode: Mode) -> Result<StepGraph> {
    let mut p = parse(bytes)?;
    let y_info = p.graph.output[0].clone();
    let y = y_info.name.clone();
    let y_rank = declared_shape(&y_info).map_or(0, |s| s.len());
    let shape = || spec_of(&y_info).map(|s| s.to_string()).unwrap_or_default();
    if loss == Loss::CrossEntropy && y_rank < 2 {
        return Err(RuntimeError::LossTarget(format!(
            "cross-entropy needs the model's first output \"{y}\" to be logits shaped [batch, classes] or [batch, positions…, classes]; it is {}",
            shape()
        )));
    }
    if loss == Loss::WeightedCrossEntropy && y_rank != 2 {
        return Err(RuntimeError::LossTarget(format!(
            "weighted cross-entropy needs the model's first output \"{y}\" to be logits shaped [batch, classes]; it is {}",
            shape()
        )));
    }
    let sel = if mode == Mode::LossOnly {
        Selection { weights: Vec::new(), needs_grad: HashSet::new() }
    } else {
        select(&p, trainable)?
    };

    let mut used = HashSet::new();
    all_names(&p.graph, &mut used);
    let mut opset = p.opset;
    let mut b = GraphBuilder::new(used, p.elem, opset);
    b.shapes = std::mem::take(&mut p.shapes);

    // Gradients that need a newer opset raise the step graph's; MaxPool gradients read the
    // Indices output: make sure the node has one.
    for &i in &p.order {
        let node = &mut p.graph.node[i];
        if !node.output.iter().any(|o| sel.needs_grad.contains(o)) {
            continue;
        }
        opset = opset.max(grad::opset_needed(&node.op_type));
        if node.op_type == "MaxPool" && (node.output.len() < 2 || node.output[1].is_empty()) {
            node.output.truncate(1);
            let indices = b.fresh_named(&format!("{}.indices", node.output[0]));
            node.output.push(indices);
        }
    }
    b.opset = opset;

    // The batch: model inputs, labels, sample weights.
    let initializer_names: HashSet<&str> =
        p.graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let mut batch_inputs: Vec<ValueInfoProto> = p
        .graph
        .input
        .iter()
        .filter(|v| !initializer_names.contains(v.name.as_str()))
        .cloned()
        .collect();
    let y_dims = y_info
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .and_then(|t| t.shape.as_ref())
        .map(|s| s.dim.clone())
        .unwrap_or_default();
    let batch_dim: Vec<Dimension> = y_dims.first().cloned().into_iter().collect();
    // Class indices: one per sample, or one per position for sequence logits.
    let label_dims: Vec<Dimension> = y_dims[..y_dims.len().saturating_sub(1)].to_vec();
    let labels = b.fresh_named("labels");
    batch_inputs.push(match loss {
        Loss::Mse => value_info(&labels, p.elem, &y_dims),
        _ => value_info(&labels, dt::INT64, &label_dims),
    });
    b.shapes.insert(labels.clone(), declared_shape(batch_inputs.last().unwrap_or(&y_info)));
    let sample_weights = (loss == Loss::WeightedCrossEntropy).then(|| {
        let name = b.fresh_named("sample_weights");
        batch_inputs.push(value_info(&name, p.elem, &batch_dim));
        name
    });
    let loss_name = b.fresh_named("loss");

    let ln = emit_loss(
        &mut b,
        loss,
        &y,
        &labels,
        sample_weights.as_deref(),
        &loss_name,
        mode != Mode::LossOnly,
    );

    // Reverse mode.
    let mut grads: HashMap<String, Vec<String>> = HashMap::new();
    if let Some(seed) = ln.seed {
        grads.insert(y.clone(), vec![seed]);
    }
    for &i in p.order.iter().rev() {
        let node = &p.graph.node[i];
        let gs: Vec<Option<String>> = node
            .output
            .iter()
            .map(|o| {
                let parts = grads.remove(o).filter(|_| sel.needs_grad.contains(o))?;
                let g = b.accumulate(&parts)?;
                let s = b.shape(o);
                if s.is_some() {
                    b.shapes.insert(g.clone(), s);
                }
                Some(g)
            })
            .collect();
        if gs.iter().all(Option::is_none) {
            continue;
        }
        let diff = differentiable(&node.op_type).unwrap_or(grad::Diff::First(0));
        let need: Vec<bool> = node
            .input
            .iter()
            .enumerate()
            .map(|(j, x)| diff.has(j) && !x.is_empty() && sel.needs_grad.contains(x))
            .collect();
        let input_grads = grad::gradient(&mut b, node, &gs, &need)?;
        for (j, gj) in input_grads.into_iter().enumerate() {
            if let Some(gj) = gj.filter(|_| need[j]) {
                grads.entry(node.input[j].clone()).or_default().push(gj);
            }
        }
    }
    let mut weight_grads = Vec::with_capacity(sel.weights.len());
    for w in &sel.weights {
        let parts = grads.remove(w).unwrap_or_default();
        let g = b.accumulate(&parts).ok_or_else(|| RuntimeError::WeightUnused(w.clone()))?;
        weight_grads.push(g);
    }

    // Weight declarations.
    let weight_tensors: Vec<&TensorProto> = sel
        .weights
        .iter()
        .filter_map(|w| p.graph.initializer.iter().find(|t| &t.name == w))
        .collect();
    let elem = ElemType::from_onnx(p.elem).unwrap_or(ElemType::F32);
    let spec = |name: &str, dims: &[i64]| TensorSpec {
        name: name.to_owned(),
        elem,
        shape: dims.iter().map(|&d| Dim::Fixed(u64::try_from(d).unwrap_or(0))).collect(),
    };
    let weights: Vec<TensorSpec> = weight_tensors.iter().map(|t| spec(&t.name, &t.dims)).collect();
    let mut state: Vec<TensorSpec> = Vec::new();
    let mut outputs: Vec<(String, Vec<i64>)> = Vec::new();
    let mut lr = String::new();
    match mode {
        Mode::Step(opt) => {
            for t in &weight_tensors {
                for kind in opt.state_kinds() {
                    state.push(spec(&b.fresh_named(&state_name(kind, &t.name)), &t.dims));
                }
            }
            if opt == Optimizer::Adam {
                state.push(spec(&b.fresh_named(ADAM_STEP), &[]));
            }
            lr = b.fresh_named("lr");
            outputs = optimiser(&mut b, opt, &weight_tensors, &weight_grads, &state, &lr);
        }
        Mode::Gradients => {
            for (t, g) in weight_tensors.iter().zip(&weight_grads) {
                let name = b.fresh_named(&format!("{}.grad", t.name));
                b.emit_to("Identity", &[g], vec![], &name);
                outputs.push((name, t.dims.clone()));
            }
        }
        Mode::LossOnly => {}
    }

    // Assemble: the forward nodes the loss and the gradients need, in order, then ours.
    let mut required: HashSet<String> = HashSet::from([y.clone()]);
    for n in &b.nodes {
        required.extend(n.input.iter().cloned());
    }
    let mut keep = vec![false; p.graph.node.len()];
    for &i in p.order.iter().rev() {
        let n = &p.graph.node[i];
        if n.output.iter().any(|o| required.contains(o)) {
            keep[i] = true;
            required.extend(n.input.iter().chain(&p.implicit[i]).cloned());
        }
    }
    let weight_set: HashSet<&str> = sel.weights.iter().map(String::as_str).collect();
    let mut nodes: Vec<NodeProto> =
        p.order.iter().filter(|&&i| keep[i]).map(|&i| p.graph.node[i].clone()).collect();
    nodes.append(&mut b.nodes);
    let mut initializer: Vec<TensorProto> = std::mem::take(&mut p.graph.initializer)
        .into_iter()
        .filter(|t| required.contains(&t.name) && !weight_set.contains(t.name.as_str()))
        .collect();
    initializer.append(&mut b.initializers);

    let mut input: Vec<ValueInfoProto> = Vec::new();
    for s in weights.iter().chain(&state) {
        let dims: Vec<i64> =
            s.shape.iter().map(|d| if let Dim::Fixed(n) = d { *n as i64 } else { 0 }).collect();
        input.push(value_info(&s.name, p.elem, &fixed_dims(&dims)));
    }
    input.extend(batch_inputs.iter().cloned());
    if !lr.is_empty() {
        input.push(value_info(&lr, p.elem, &[]));
    }
    let mut output: Vec<ValueInfoProto> =
        outputs.iter().map(|(n, dims)| value_info(n, p.elem, &fixed_dims(dims))).collect();
    output.push(value_info(&ln.loss, p.elem, &[]));

    let graph = GraphProto {
        node: nodes,
        name: format!("{}_train", p.graph.name),
        initializer,
        sparse_initializer: std::mem::take(&mut p.graph.sparse_initializer),
        input,
        output,
        value_info: std::mem::take(&mut p.graph.value_info),
    };
    let mut model = p.model;
    for o in &mut model.opset_import {
        if o.domain.is_empty() || o.domain == "ai.onnx" {
            o.version = opset;
        }
    }
    if !model.opset_import.iter().any(|o| o.domain.is_empty() || o.domain == "ai.onnx") {
        model.opset_import.push(OperatorSetIdProto { domain: String::new(), version: opset });
    }
    model.ir_version = model.ir_version.max(if opset >= 16 { 8 } else { 7 });
    model.graph = Some(graph);

    let batch = batch_inputs.iter().map(spec_of).collect::<Result<Vec<_>>>()?;
    let mut output_names: Vec<String> = outputs.into_iter().map(|(n, _)| n).collect();
    output_names.push(ln.loss);
    Ok(StepGraph {
        model: model.encode_to_vec(),
        elem,
        weights,
        state,
        batch,
        lr,
        outputs: output_names,
    })
}

/// Emits the update of `opt`; returns the output names and dims in contract order.
fn optimiser(
    b: &mut GraphBuilder,
    opt: Optimizer,
    weights: &[&TensorProto],
    grads: &[String],
    state: &[TensorSpec],
    lr: &str,
) -> Vec<(String, Vec<i64>)> {
    let mut new_weights = Vec::new();
    let mut new_state = Vec::new();
    let next = |b: &mut GraphBuilder, name: &str| b.fresh_named(&format!("{name}.next"));
    // Adam's step counter and bias corrections, shared by every weight.
    let adam = (opt == Optimizer::Adam).then(|| {
        let t = state.last().map(|s| s.name.clone()).unwrap_or_default();
        let t_next = next(b, &t);
        let one = b.scalar(1.0);
        b.emit_to("Add", &[&t, &one], vec![], &t_next);
        let correction = |b: &mut GraphBuilder, beta: f64| {
            let beta = b.scalar(beta);
            let power = b.emit("Pow", &[&beta, &t_next], vec![]);
            b.emit("Sub", &[&one, &power], vec![])
        };
        let c1 = correction(b, Optimizer::ADAM_BETA1);
        let c2 = correction(b, Optimizer::ADAM_BETA2);
        // m̂ / (√v̂ + ε) = (m' · √c2 / c1) / (√v' + ε √c2): the bias corrections fold into two
        // scalars, which saves two full-size divisions per weight.
        let root_c2 = b.emit("Sqrt", &[&c2], vec![]);
        let scale = b.emit("Div", &[&root_c2, &c1], vec![]);
        let scale = b.emit("Mul", &[lr, &scale], vec![]);
        let eps = b.scalar(Optimizer::ADAM_EPSILON);
        let eps = b.emit("Mul", &[&eps, &root_c2], vec![]);
        (t_next, scale, eps)
    });
    for (k, (w, g)) in weights.iter().zip(grads).enumerate() {
        let w_next = next(b, &w.name);
        let step = match opt {
            Optimizer::Sgd => b.emit("Mul", &[lr, g], vec![]),
            Optimizer::Momentum => {
                let v = &state[k].name;
                let v_next = next(b, v);
                let mu = b.scalar(Optimizer::MOMENTUM);
                let decayed = b.emit("Mul", &[v, &mu], vec![]);
                b.emit_to("Add", &[&decayed, g], vec![], &v_next);
                new_state.push((v_next.clone(), w.dims.clone()));
                b.emit("Mul", &[lr, &v_next], vec![])
            }
            Optimizer::Adam => {
                let (m, v) = (&state[2 * k].name, &state[2 * k + 1].name);
                let (m_next, v_next) = (next(b, m), next(b, v));
                let (b1, b1c) =
                    (b.scalar(Optimizer::ADAM_BETA1), b.scalar(1.0 - Optimizer::ADAM_BETA1));
                let (b2, b2c) =
                    (b.scalar(Optimizer::ADAM_BETA2), b.scalar(1.0 - Optimizer::ADAM_BETA2));
                let m_old = b.emit("Mul", &[m, &b1], vec![]);
                let m_new = b.emit("Mul", &[g, &b1c], vec![]);
                b.emit_to("Add", &[&m_old, &m_new], vec![], &m_next);
                let g2 = b.emit("Mul", &[g, g], vec![]);
                let v_old = b.emit("Mul", &[v, &b2], vec![]);
                let v_new = b.emit("Mul", &[&g2, &b2c], vec![]);
                b.emit_to("Add", &[&v_old, &v_new], vec![], &v_next);
                new_state.push((m_next.clone(), w.dims.clone()));
                new_state.push((v_next.clone(), w.dims.clone()));
                let (scale, eps) =
                    adam.as_ref().map(|(_, s, e)| (s.clone(), e.clone())).unwrap_or_default();
                let root = b.emit("Sqrt", &[&v_next], vec![]);
                let denom = b.emit("Add", &[&root, &eps], vec![]);
                let scaled = b.emit("Mul", &[&m_next, &scale], vec![]);
                b.emit("Div", &[&scaled, &denom], vec![])
            }
        };
        b.emit_to("Sub", &[&w.name, &step], vec![], &w_next);
        new_weights.push((w_next, w.dims.clone()));
    }
    if let Some((t_next, _, _)) = adam {
        new_state.push((t_next, Vec::new()));
    }
    new_weights.extend(new_state);
    new_weights
}

/// Step graphs by (model hash, spec), at most `capacity` of them; the least recently used
/// is dropped first. Thread-safe; a graph being built does not block other lookups.
#[derive(Debug)]
pub struct StepGraphCache {
    capacity: usize,
    entries: Mutex<CacheEntries>,
}

#[derive(Debug, Default)]
struct CacheEntries {
    tick: u64,
    map: HashMap<(B256, TrainSpec), (u64, Arc<StepGraph>)>,
}

impl StepGraphCache {
    /// A cache holding at most `capacity` graphs (at least one).
    pub fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), entries: Mutex::new(CacheEntries::default()) }
    }

    /// The step graph of `model` (whose bytes `bytes` gives, called only on a miss) for
    /// `spec`, built and cached on first use.
    pub fn get_or_build<B: AsRef<[u8]>>(
        &self,
        model: B256,
        spec: &TrainSpec,
        bytes: impl FnOnce() -> Result<B>,
    ) -> Result<Arc<StepGraph>> {
        let key = (model, spec.clone());
        {
            let mut e = self.entries.lock();
            e.tick += 1;
            let tick = e.tick;
            if let Some((used, graph)) = e.map.get_mut(&key) {
                *used = tick;
                return Ok(graph.clone());
            }
        }
        let graph = Arc::new(build_step_graph(bytes()?.as_ref(), spec)?);
        let mut e = self.entries.lock();
        e.tick += 1;
        let tick = e.tick;
        while e.map.len() >= self.capacity && !e.map.contains_key(&key) {
            let oldest = e.map.iter().min_by_key(|(_, (used, _))| *used).map(|(k, _)| k.clone());
            match oldest {
                Some(k) => e.map.remove(&k),
                None => break,
            };
        }
        e.map.insert(key, (tick, graph.clone()));
        Ok(graph)
    }

    /// How many graphs are cached.
    pub fn len(&self) -> usize {
        self.entries.lock().map.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(optimizer: Optimizer) -> TrainSpec {
        TrainSpec { loss: Loss::Mse, optimizer, trainable: None }
    }

    /// Codes round-trip and unknown codes are `None`.
    #[test]
    fn codes() {
        for code in 1..=3 {
            assert_eq!(Loss::from_code(code).map(Loss::code), Some(code));
            assert_eq!(Optimizer::from_code(code).map(Optimizer::code), Some(code));
        }
        assert_eq!(Loss::from_code(0), None);
        assert_eq!(Optimizer::from_code(4), None);
    }

    /// The cache builds once per (model, spec), and stays within its capacity, dropping the
    /// least recently used.
    #[test]
    fn cache_builds_once_and_is_bounded() {
        let cache = StepGraphCache::new(2);
        let model = crate::synth::matmul(3, 2);
        let builds = std::cell::Cell::new(0);
        let bytes = || {
            builds.set(builds.get() + 1);
            Ok(model.clone())
        };
        let (a, b, c) = (B256::repeat_byte(1), B256::repeat_byte(2), B256::repeat_byte(3));
        let first = cache.get_or_build(a, &spec(Optimizer::Sgd), bytes).expect("build");
        let again = cache.get_or_build(a, &spec(Optimizer::Sgd), bytes).expect("hit");
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(builds.get(), 1);
        cache.get_or_build(a, &spec(Optimizer::Adam), bytes).expect("build");
        cache.get_or_build(a, &spec(Optimizer::Sgd), bytes).expect("hit");
        cache.get_or_build(b, &spec(Optimizer::Sgd), bytes).expect("build");
        assert_eq!((cache.len(), builds.get()), (2, 3));
        // (a, Adam) was the least recently used: gone; (a, Sgd) is still there.
        cache.get_or_build(a, &spec(Optimizer::Sgd), bytes).expect("hit");
        assert_eq!(builds.get(), 3);
        cache.get_or_build(a, &spec(Optimizer::Adam), bytes).expect("rebuild");
        assert_eq!(builds.get(), 4);
        // A failed build caches nothing.
        assert!(cache.get_or_build(c, &spec(Optimizer::Sgd), || Ok(b"junk".to_vec())).is_err());
        assert_eq!(cache.len(), 2);
    }

    /// Symbolic shapes flow through inference: a MatMul on a symbolic batch needs no
    /// run-time shape arithmetic (no NonZero in the step graph); the input order holds.
    #[test]
    fn dense_layer_step_graph_is_static() {
        let g = build_step_graph(&crate::synth::matmul(3, 2), &spec(Optimizer::Momentum))
            .expect("step graph");
        let model = ModelProto::decode(g.model.as_slice()).expect("decodes");
        let ops: Vec<String> =
            model.graph.expect("graph").node.iter().map(|n| n.op_type.clone()).collect();
        assert!(!ops.iter().any(|o| o == "NonZero"), "{ops:?}");
        assert_eq!(g.input_names(), ["w", "anh.opt.velocity.w", "x", "labels", "lr"]);
    }

    /// No model makes the autodiff panic: mutated files (random bytes overwritten) give a
    /// graph or an error, for every loss.
    #[test]
    fn mutated_models_never_panic() {
        let originals = [crate::synth::matmul(3, 2), crate::synth::deep_mlp(4, 3)];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for original in &originals {
            for _ in 0..1500 {
                let mut bytes = original.clone();
                for _ in 0..1 + next() % 4 {
                    let at = (next() % bytes.len() as u64) as usize;
                    bytes[at] = next() as u8;
                }
                for loss in [Loss::Mse, Loss::CrossEntropy, Loss::WeightedCrossEntropy] {
                    let spec = TrainSpec { loss, optimizer: Optimizer::Adam, trainable: None };
                    let _ = build_step_graph(&bytes, &spec);
                    let _ = build_loss_graph(&bytes, loss);
                }
                let _ = write_weights(&bytes, &[("w".into(), vec![0.0; 6])], &[]);
            }
        }
    }
}
