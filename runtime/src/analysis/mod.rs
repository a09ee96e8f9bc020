//! Model analysis: what a model file declares, what one evaluation costs, and whether ANH
//! accepts it at all.
//!
//! [`analyze`] reads an ONNX file with hand-written prost messages (`proto.rs`; no protoc, no
//! build script) after a bounded wire pre-scan (`wire.rs`), and returns the [`ModelInfo`] the
//! chain records: hash, size, inputs and outputs (names, element types, shapes with symbolic
//! dimensions) and the cost in multiply-accumulates (`cost.rs` documents the counting rules).
//!
//! # What is refused, and why
//!
//! Each refusal is its own [`AnalysisError`] variant with a message a Solidity developer can act
//! on. Checked in this order (5 to 7 together, in one walk over the graphs, so the first
//! offence found is reported):
//!
//! 1. **Size**: a file of more than [`Limits::max_model_bytes`] (or protobuf's 2 GiB), or a
//!    model whose file and external weights together are → [`AnalysisError::TooLarge`].
//! 2. **Protobuf bombs** (wire pre-scan, before anything is allocated): subgraphs nested deeper
//!    than [`Limits::max_subgraph_depth`] → [`AnalysisError::NestingTooDeep`]; more than
//!    [`Limits::max_nodes`] nodes → [`AnalysisError::TooManyNodes`]; more than
//!    [`Limits::max_protobuf_fields`] decoded fields → [`AnalysisError::TooManyFields`].
//! 3. **Not ONNX**: undecodable bytes, no graph, or no IR version → [`AnalysisError::NotOnnx`].
//! 4. **Model-local functions** → [`AnalysisError::LocalFunction`]. ANH prices and
//!    differentiates standard operators only.
//! 5. **Non-standard operator domains** anywhere, subgraphs included (only `""`,
//!    `"ai.onnx"` and `"ai.onnx.ml"`) → [`AnalysisError::CustomDomain`]: their semantics, and so
//!    their cost and their results across executors, are not pinned down by the ONNX standard.
//! 6. **External data** outside the main graph's initializers (sparse initializers, tensor
//!    attributes of `Constant` and other nodes, subgraphs), or of a type that holds shapes or
//!    indices → [`AnalysisError::ExternalData`]; a location that is not a blob of the store
//!    (a path) → [`AnalysisError::ExternalLocation`]; a bad entry (a length that is not the
//!    tensor's, unknown keys) → [`AnalysisError::ExternalEntry`]. ONNX Runtime must never open
//!    a path a model names: `external.rs` says what a model may reference, and the store
//!    checks that every blob it references is there.
//! 7. **Shapes**: a negative dimension → [`AnalysisError::InvalidShape`]; an element count that
//!    overflows `u64` (declared tensors, inputs, outputs, value infos, or shapes found by
//!    propagation) → [`AnalysisError::ShapeOverflow`]; more than
//!    [`Limits::max_declared_elements`] elements in all initializers and constants together →
//!    [`AnalysisError::TooManyElements`].
//! 8. **Inputs and outputs**: each must be a tensor of an [`ElemType`] with a declared shape
//!    ([`AnalysisError::UnsupportedType`], [`AnalysisError::MissingShape`]); at least one output
//!    ([`AnalysisError::NoOutputs`]).
//! 9. **Cost** that overflows `u64` → [`AnalysisError::CostOverflow`]; work that cannot be
//!    priced before the model runs → [`AnalysisError::Unpriceable`]: a loop without a constant
//!    trip count (`cost.rs`), or work that is not a polynomial of degree at most 3 in each
//!    symbolic dimension (`fit.rs`: how the cost becomes a polynomial the chain records).
//!
//! Analysis never panics, whatever the bytes (a property test feeds it mutated and random
//! files).

pub(crate) mod cost;
pub mod external;
mod fit;
pub mod proto;
#[cfg(test)]
mod tests;
mod wire;

use self::proto::{GraphProto, ModelProto, TensorProto, TypeProto, ValueInfoProto};
use alloy_primitives::keccak256;
use anh_primitives::{Dim, ElemType, ModelInfo, TensorSpec};
use prost::Message;
use std::collections::HashSet;

/// Bounds on what [`analyze`] accepts. The defaults suit a devnet node on a laptop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest model, in bytes: its file and the external weights it references together
    /// (default 512 MiB; `anh node` raises it to what the machine holds). A file alone is
    /// also held to protobuf's 2 GiB.
    pub max_model_bytes: u64,
    /// Most nodes, all graphs and subgraphs together (default 100 000).
    pub max_nodes: u64,
    /// Deepest subgraph nesting: the main graph is level 0, the branches of an `If` in it
    /// level 1, and so on (default 8).
    pub max_subgraph_depth: u32,
    /// Most elements declared by all initializers and constant tensors together (default
    /// 2^30).
    pub max_declared_elements: u64,
    /// Most protobuf fields decoded (each message, scalar, string and packed element counts
    /// one; default 1 000 000). Each decodes into at most a couple of hundred bytes, so this
    /// bounds the memory decoding takes to a few hundred MB whatever the file (plus the
    /// weights' bytes). Real models have a few tens of thousands.
    pub max_protobuf_fields: u64,
}

impl Limits {
    /// 512 MiB.
    pub const DEFAULT_MAX_MODEL_BYTES: u64 = 512 * 1024 * 1024;

    /// The largest model this machine holds, for a node's or an executor's default: a quarter
    /// of its memory (`/proc/meminfo`), at least [`Limits::DEFAULT_MAX_MODEL_BYTES`]. A model's
    /// weights take about twice their size once loaded (read once, and packed again for ONNX
    /// Runtime's matrix products, both shared by its sessions); the other half is left to the
    /// chain, the sessions' work and the system.
    pub fn machine_max_model_bytes() -> u64 {
        let total_kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
            let line = m.lines().find_map(|l| l.strip_prefix("MemTotal:"))?;
            line.trim().trim_end_matches("kB").trim().parse::<u64>().ok()
        });
        total_kib.map_or(0, |kib| kib * 1024 / 4).max(Self::DEFAULT_MAX_MODEL_BYTES)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_model_bytes: Self::DEFAULT_MAX_MODEL_BYTES,
            max_nodes: 100_000,
            max_subgraph_depth: 8,
            max_declared_elements: 1 << 30,
            max_protobuf_fields: 1_000_000,
        }
    }
}

/// Whether a tensor is a model input or output, in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoKind {
    /// A graph input.
    Input,
    /// A graph output.
    Output,
}

impl core::fmt::Display for IoKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Input => "input",
            Self::Output => "output",
        })
    }
}

/// Why [`analyze`] refused a model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnalysisError {
    /// The model (its file and external weights) is larger than [`Limits::max_model_bytes`],
    /// or its file alone than protobuf's 2 GiB.
    #[error("model is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// The file's size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The bytes are not an ONNX model.
    #[error("not an ONNX model: {0}")]
    NotOnnx(String),
    /// Subgraphs nest deeper than [`Limits::max_subgraph_depth`].
    #[error("model nests subgraphs deeper than {limit} levels")]
    NestingTooDeep {
        /// The limit.
        limit: u32,
    },
    /// More nodes than [`Limits::max_nodes`].
    #[error("model has more than {limit} nodes")]
    TooManyNodes {
        /// The limit.
        limit: u64,
    },
    /// More protobuf fields than [`Limits::max_protobuf_fields`].
    #[error("model has more than {limit} protobuf fields to decode")]
    TooManyFields {
        /// The limit.
        limit: u64,
    },
    /// The model defines functions of its own.
    #[error(
        "model-local functions are not allowed: the model defines function \"{name}\" of domain \"{domain}\""
    )]
    LocalFunction {
        /// The function's name.
        name: String,
        /// The function's domain.
        domain: String,
    },
    /// A node's operator is outside the standard ONNX domains.
    #[error(
        "operator \"{op}\" of domain \"{domain}\" is not allowed: only the standard ONNX domains (\"\", \"ai.onnx\", \"ai.onnx.ml\") are"
    )]
    CustomDomain {
        /// The operator.
        op: String,
        /// Its domain.
        domain: String,
    },
    /// A tensor keeps its data outside the file where that is not allowed.
    #[error(
        "external data is not allowed for tensor \"{tensor}\": only initializers of the main \
         graph, of a type that holds no shapes or indices (not int32, int64, string or packed \
         4-bit types), may keep their bytes in a weight blob"
    )]
    ExternalData {
        /// The tensor's name.
        tensor: String,
    },
    /// A tensor's external data location is not a blob of the model store.
    #[error(
        "tensor \"{tensor}\" names external data location \"{location}\": a model may only \
         name weight blobs of the model store, as \"<keccak256 hex>.blob\", never a path \
         (`anh model push` uploads a model's external data files as blobs and renames them)"
    )]
    ExternalLocation {
        /// The tensor's name.
        tensor: String,
        /// The location it names (at most 200 characters of it).
        location: String,
    },
    /// A tensor's external data entries are malformed.
    #[error("tensor \"{tensor}\" has bad external data: {reason}")]
    ExternalEntry {
        /// The tensor's name.
        tensor: String,
        /// What is wrong.
        reason: String,
    },
    /// A shape has a negative dimension.
    #[error("invalid shape for \"{tensor}\": dimension {dim} is {value}")]
    InvalidShape {
        /// The tensor (or value) name.
        tensor: String,
        /// Index of the offending dimension.
        dim: usize,
        /// Its value.
        value: i64,
    },
    /// A shape's element count does not fit in 64 bits.
    #[error("the shape of \"{tensor}\" has more elements than fit in 64 bits")]
    ShapeOverflow {
        /// The tensor (or value) name.
        tensor: String,
    },
    /// A node's work cannot be counted before it runs (a loop without a constant trip count).
    #[error("{node}: {reason}, so its work cannot be priced before it runs")]
    Unpriceable {
        /// The node (its operator and name, or its first output).
        node: String,
        /// Why.
        reason: String,
    },
    /// The initializers and constants declare too many elements.
    #[error("model's tensors declare more than {limit} elements")]
    TooManyElements {
        /// The limit.
        limit: u64,
    },
    /// An input or output has a type ANH cannot pass.
    #[error(
        "{kind} \"{name}\" has type {ty}, which ANH does not support (supported: float32, float64, int32, int64, uint8, int8, bool tensors)"
    )]
    UnsupportedType {
        /// Input or output.
        kind: IoKind,
        /// Its name.
        name: String,
        /// The type found.
        ty: String,
    },
    /// An input or output declares no shape (so not even its rank is known).
    #[error(
        "{kind} \"{name}\" has no declared shape: ANH needs the rank of every input and output"
    )]
    MissingShape {
        /// Input or output.
        kind: IoKind,
        /// Its name.
        name: String,
    },
    /// The graph has no outputs.
    #[error("model declares no outputs")]
    NoOutputs,
    /// The cost does not fit in 64 bits.
    #[error("model's cost in multiply-accumulates overflows 64 bits")]
    CostOverflow,
}

/// Domains whose operators ANH accepts.
const STANDARD_DOMAINS: [&str; 3] = ["", "ai.onnx", "ai.onnx.ml"];

/// Protobuf's limit on a message, so on a model file.
pub const MAX_PROTOBUF_BYTES: u64 = (2 << 30) - 1;

/// What [`analyze_model`] finds: the model's [`ModelInfo`] and where its external weights are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    /// The analysis the chain records. Its `size` counts the file and its external weights.
    pub info: ModelInfo,
    /// The initializers kept in blobs, in the file's order (empty for a one-file model).
    pub external: Vec<external::ExternalTensor>,
}

/// Analyses an ONNX model file: refuses what ANH does not run (see the module docs), and
/// returns its I/O signature and cost. `parent` of the result is `None`.
pub fn analyze(bytes: &[u8], limits: &Limits) -> Result<ModelInfo, AnalysisError> {
    analyze_model(bytes, limits).map(|a| a.info)
}

/// [`analyze`], with the external weights the model references (which the caller must check
/// are there: the model store does).
pub fn analyze_model(bytes: &[u8], limits: &Limits) -> Result<Analysis, AnalysisError> {
    let file_size = bytes.len() as u64;
    let file_limit = limits.max_model_bytes.min(MAX_PROTOBUF_BYTES);
    if file_size > file_limit {
        return Err(AnalysisError::TooLarge { size: file_size, limit: file_limit });
    }
    wire::scan(bytes, limits)?;
    let model = ModelProto::decode(bytes).map_err(|e| {
        if e.to_string().contains("recursion limit") {
            AnalysisError::NestingTooDeep { limit: limits.max_subgraph_depth }
        } else {
            AnalysisError::NotOnnx(e.to_string())
        }
    })?;
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| AnalysisError::NotOnnx("the file holds no graph".into()))?;
    if model.ir_version <= 0 {
        return Err(AnalysisError::NotOnnx("the file declares no IR version".into()));
    }
    if let Some(f) = model.functions.first() {
        return Err(AnalysisError::LocalFunction {
            name: f.name.clone(),
            domain: f.domain.clone(),
        });
    }

    let mut declared = 0u64;
    let mut external = Vec::new();
    check_graph(graph, limits, &mut declared, 0, &mut external)?;
    let size = external.iter().fold(file_size, |size, t| size.saturating_add(t.length));
    if size > limits.max_model_bytes {
        return Err(AnalysisError::TooLarge { size, limit: limits.max_model_bytes });
    }

    let initializers: HashSet<&str> = graph
        .initializer
        .iter()
        .map(|t| t.name.as_str())
        .chain(
            graph
                .sparse_initializer
                .iter()
                .filter_map(|s| s.values.as_ref().map(|v| v.name.as_str())),
        )
        .collect();
    let inputs = graph
        .input
        .iter()
        .filter(|v| !initializers.contains(v.name.as_str()))
        .map(|v| io_spec(v, IoKind::Input))
        .collect::<Result<Vec<_>, _>>()?;
    let outputs =
        graph.output.iter().map(|v| io_spec(v, IoKind::Output)).collect::<Result<Vec<_>, _>>()?;
    if outputs.is_empty() {
        return Err(AnalysisError::NoOutputs);
    }

    let cost = fit::model_cost(graph, &inputs)?;
    let info = ModelInfo { hash: keccak256(bytes), size, cost, inputs, outputs, parent: None };
    Ok(Analysis { info, external })
}

/// Checks one graph and its subgraphs: domains, external data, shapes, declared elements.
/// The main graph's (`depth` 0) external initializers are added to `external`.
fn check_graph(
    graph: &GraphProto,
    limits: &Limits,
    declared: &mut u64,
    depth: u32,
    external: &mut Vec<external::ExternalTensor>,
) -> Result<(), AnalysisError> {
    // The wire scan enforces this already; kept so that this recursion is bounded on its own.
    if depth > limits.max_subgraph_depth {
        return Err(AnalysisError::NestingTooDeep { limit: limits.max_subgraph_depth });
    }
    if limits.max_nodes < graph.node.len() as u64 {
        return Err(AnalysisError::TooManyNodes { limit: limits.max_nodes });
    }
    for t in &graph.initializer {
        if depth == 0 && external::is_external(t) {
            let dims = tensor_dims(&t.dims, &t.name)?;
            let n = checked_numel(&dims)
                .ok_or_else(|| AnalysisError::ShapeOverflow { tensor: t.name.clone() })?;
            external.push(external::external_tensor(t, n)?);
        } else {
            check_tensor(t, &t.name, limits, declared)?;
        }
    }
    for s in &graph.sparse_initializer {
        check_sparse(s, limits, declared)?;
    }
    for v in graph.input.iter().chain(&graph.output).chain(&graph.value_info) {
        if let Some(shape) =
            v.r#type.as_ref().and_then(|t| t.tensor_type.as_ref()).and_then(|t| t.shape.as_ref())
        {
            let dims = shape
                .dim
                .iter()
                .enumerate()
                .map(|(i, d)| match d.dim_value {
                    Some(value) if value < 0 => {
                        Err(AnalysisError::InvalidShape { tensor: v.name.clone(), dim: i, value })
                    }
                    Some(value) => Ok(value as u64),
                    None => Ok(1),
                })
                .collect::<Result<Vec<_>, _>>()?;
            checked_numel(&dims)
                .ok_or_else(|| AnalysisError::ShapeOverflow { tensor: v.name.clone() })?;
        }
    }
    for node in &graph.node {
        if !STANDARD_DOMAINS.contains(&node.domain.as_str()) {
            return Err(AnalysisError::CustomDomain {
                op: node.op_type.clone(),
                domain: node.domain.clone(),
            });
        }
        for attr in &node.attribute {
            let name = || {
                if node.name.is_empty() {
                    format!("{}.{}", node.op_type, attr.name)
                } else {
                    format!("{}.{}", node.name, attr.name)
                }
            };
            if let Some(t) = &attr.t {
                let n = if t.name.is_empty() { name() } else { t.name.clone() };
                check_tensor(t, &n, limits, declared)?;
            }
            for t in &attr.tensors {
                let n = if t.name.is_empty() { name() } else { t.name.clone() };
                check_tensor(t, &n, limits, declared)?;
            }
            for s in attr.sparse_tensor.as_deref().into_iter().chain(&attr.sparse_tensors) {
                check_sparse(s, limits, declared)?;
            }
            for g in attr.g.as_deref().into_iter().chain(&attr.graphs) {
                check_graph(g, limits, declared, depth + 1, external)?;
            }
        }
    }
    Ok(())
}

fn check_sparse(
    s: &proto::SparseTensorProto,
    limits: &Limits,
    declared: &mut u64,
) -> Result<(), AnalysisError> {
    let name = s.values.as_ref().map(|v| v.name.clone()).unwrap_or_default();
    for t in s.values.iter().chain(&s.indices) {
        let n = if t.name.is_empty() { name.clone() } else { t.name.clone() };
        check_tensor(t, &n, limits, declared)?;
    }
    let dims = tensor_dims(&s.dims, &name)?;
    let n = checked_numel(&dims)
        .ok_or_else(|| AnalysisError::ShapeOverflow { tensor: name.clone() })?;
    add_declared(declared, n, limits)
}

/// Refuses external data and bad dims; adds the tensor's elements to `declared`.
fn check_tensor(
    t: &TensorProto,
    name: &str,
    limits: &Limits,
    declared: &mut u64,
) -> Result<(), AnalysisError> {
    if external::is_external(t) {
        return Err(AnalysisError::ExternalData { tensor: name.to_owned() });
    }
    let dims = tensor_dims(&t.dims, name)?;
    let n = checked_numel(&dims)
        .ok_or_else(|| AnalysisError::ShapeOverflow { tensor: name.to_owned() })?;
    add_declared(declared, n, limits)
}

fn add_declared(declared: &mut u64, n: u64, limits: &Limits) -> Result<(), AnalysisError> {
    *declared = declared.saturating_add(n);
    if *declared > limits.max_declared_elements {
        return Err(AnalysisError::TooManyElements { limit: limits.max_declared_elements });
    }
    Ok(())
}

/// A tensor's dims as sizes; negative ones refused.
pub(crate) fn tensor_dims(dims: &[i64], name: &str) -> Result<Vec<u64>, AnalysisError> {
    dims.iter()
        .enumerate()
        .map(|(i, &d)| {
            u64::try_from(d).map_err(|_| AnalysisError::InvalidShape {
                tensor: name.to_owned(),
                dim: i,
                value: d,
            })
        })
        .collect()
}

/// The product of `dims`, `None` on overflow.
pub(crate) fn checked_numel(dims: &[u64]) -> Option<u64> {
    dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))
}

/// The [`TensorSpec`] of a graph input or output.
fn io_spec(v: &ValueInfoProto, kind: IoKind) -> Result<TensorSpec, AnalysisError> {
    let unsupported =
        |ty: &str| AnalysisError::UnsupportedType { kind, name: v.name.clone(), ty: ty.to_owned() };
    let ty: &TypeProto = v.r#type.as_ref().ok_or_else(|| unsupported("none (no type declared)"))?;
    let Some(tensor) = &ty.tensor_type else {
        let what = if ty.sequence_type.is_some() {
            "sequence"
        } else if ty.map_type.is_some() {
            "map"
        } else if ty.optional_type.is_some() {
            "optional"
        } else if ty.sparse_tensor_type.is_some() {
            "sparse tensor"
        } else if ty.opaque_type.is_some() {
            "opaque"
        } else {
            "none (no type declared)"
        };
        return Err(unsupported(what));
    };
    let elem = ElemType::from_onnx(tensor.elem_type)
        .ok_or_else(|| unsupported(proto::data_type::name(tensor.elem_type)))?;
    let shape = tensor
        .shape
        .as_ref()
        .ok_or_else(|| AnalysisError::MissingShape { kind, name: v.name.clone() })?;
    let shape = shape
        .dim
        .iter()
        .map(|d| match (&d.dim_value, &d.dim_param) {
            // Negative values were refused by `check_graph`.
            (Some(value), _) => Dim::Fixed(*value as u64),
            (None, Some(param)) => Dim::Symbolic(param.clone()),
            (None, None) => Dim::Symbolic(String::new()),
        })
        .collect();
    Ok(TensorSpec { name: v.name.clone(), elem, shape })
}
