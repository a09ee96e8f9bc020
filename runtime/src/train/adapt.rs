//! LoRA adapters: training a low-rank update of chosen weights instead of the weights.
//!
//! [`adapt`] rewrites a model so that each target weight `W` (`[k, n]`, the second operand of
//! its `MatMul`s, or the `B` of a `Gemm` with `transA` 0 and `alpha` 1, either `transB`) gets
//! an adapter: two new initializers `A` (`[k, r]`, `anh.lora.A.<W>`) and `B` (`[r, n]`,
//! `anh.lora.B.<W>`), and every product `x·W` becomes `x·W + (x·A)·B`. `B` starts at zero, so
//! the adapted model computes exactly what the model does (adding zeros); `A` starts uniform
//! in `±1/√k`, from a generator seeded by the weight's name, so every trainer starts alike.
//! Training the adapted model with only the adapters trainable is LoRA; [`merge`] then writes
//! `W + A·B` (`W + (A·B)ᵀ` for a `Gemm` with `transB` 1) into the **original** model, which
//! keeps its architecture: a trained model is its parent with new values of the targets and
//! nothing else, as the committee checks ([`crate::frozen_unchanged`]). The next call starts
//! new adapters from zero.
//!
//! Work: `(x·A)·B` costs `batch · r · (k + n)` multiply-accumulates per product, which
//! [`adapt`] keeps at most the product's own `batch · k · n` (`r · (k + n) ≤ k · n`), so an
//! adapted step costs at most twice the model's.

use super::{
    graph::{dt, is_float, numel},
    weights::write_weights,
};
use crate::{
    error::{Result, RuntimeError},
    onnx::{ModelProto, NodeProto, TensorProto},
};
use prost::Message;
use std::collections::HashSet;

/// Prefix of the adapters' initializers.
pub const ADAPTER_PREFIX: &str = "anh.lora.";

/// Largest rank an adapter may have.
pub const MAX_RANK: u32 = 64;

/// One adapter of a model [`adapt`] rewrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adapter {
    /// The weight it adapts.
    pub target: String,
    /// The initializer `A` (`[k, r]`).
    pub a: String,
    /// The initializer `B` (`[r, n]`).
    pub b: String,
    /// `W`'s rows and columns as the product sees them (`x·W`: `[k, n]`).
    pub k: usize,
    /// See `k`.
    pub n: usize,
    /// The rank `r`.
    pub rank: usize,
    /// Whether `W` is stored transposed (`[n, k]`, a `Gemm` with `transB` 1).
    pub transposed: bool,
}

/// A model with adapters.
#[derive(Debug, Clone)]
pub struct Adapted {
    /// The rewritten model file.
    pub model: Vec<u8>,
    /// Its adapters, in the order of the targets.
    pub adapters: Vec<Adapter>,
}

impl Adapted {
    /// The adapters' initializers, `A` then `B` per target: the weights to train.
    pub fn trainable(&self) -> Vec<String> {
        self.adapters.iter().flat_map(|a| [a.a.clone(), a.b.clone()]).collect()
    }
}

fn refuse(target: &str, why: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::BadTrainModel(format!("adapter target \"{target}\" {why}"))
}

/// `model` with a rank-`rank` adapter on each weight of `targets` (see the module docs).
pub fn adapt(model: &[u8], targets: &[String], rank: u32) -> Result<Adapted> {
    crate::analysis::analyze(model, &crate::analysis::Limits::default())?;
    let mut decoded = ModelProto::decode(model)
        .map_err(|e| RuntimeError::BadTrainModel(format!("not an ONNX model ({e})")))?;
    let graph =
        decoded.graph.as_mut().ok_or_else(|| RuntimeError::BadTrainModel("no graph".into()))?;
    if !(1..=MAX_RANK).contains(&rank) {
        return Err(RuntimeError::BadTrainModel(format!(
            "adapter rank {rank}: expected 1 to {MAX_RANK}"
        )));
    }
    let r = rank as usize;
    let mut used: HashSet<String> = HashSet::new();
    for v in graph.input.iter().chain(&graph.output).chain(&graph.value_info) {
        used.insert(v.name.clone());
    }
    for t in &graph.initializer {
        used.insert(t.name.clone());
    }
    for n in &graph.node {
        used.extend(n.input.iter().chain(&n.output).cloned());
    }
    let mut adapters = Vec::with_capacity(targets.len());
    let mut next = 0usize;
    for target in targets {
        let w = graph
            .initializer
            .iter()
            .find(|t| &t.name == target)
            .ok_or_else(|| RuntimeError::NotAWeight(target.clone()))?
            .clone();
        if !is_float(w.data_type) || w.dims.len() != 2 {
            return Err(refuse(target, "is not a 2-D float32/float64 initializer"));
        }
        if graph.output.iter().any(|o| &o.name == target) {
            return Err(refuse(target, "is an output of the model"));
        }
        // Every use: the weight operand of a MatMul, or of a Gemm with transA 0 and alpha 1.
        let uses: Vec<usize> =
            (0..graph.node.len()).filter(|&i| graph.node[i].input.contains(target)).collect();
        if uses.is_empty() {
            return Err(RuntimeError::WeightUnused(target.clone()));
        }
        let mut transposed = None;
        for &i in &uses {
            let node = &graph.node[i];
            let attr = |name: &str| node.attribute.iter().find(|a| a.name == name);
            let ok = match node.op_type.as_str() {
                "MatMul" => node.input.get(1) == Some(target) && node.input[0] != *target,
                "Gemm" => {
                    node.input.get(1) == Some(target)
                        && node.input[0] != *target
                        && node.input.get(2) != Some(target)
                        && attr("transA").is_none_or(|a| a.i == 0)
                        && attr("alpha").is_none_or(|a| a.f == 1.0)
                }
                _ => false,
            } && node.domain.is_empty()
                && node.output.first().is_some_and(|o| !o.is_empty());
            if !ok {
                return Err(refuse(
                    target,
                    format!(
                        "is read by node \"{}\" ({}) other than as the weight operand of a \
                         MatMul, or of a Gemm with transA 0 and alpha 1",
                        node.name, node.op_type
                    ),
                ));
            }
            let t = node.op_type == "Gemm" && attr("transB").is_some_and(|a| a.i != 0);
            if transposed.replace(t).is_some_and(|before| before != t) {
                return Err(refuse(target, "is read both as it is and transposed"));
            }
        }
        let transposed = transposed.unwrap_or(false);
        let (d0, d1) = (usize::try_from(w.dims[0]).ok(), usize::try_from(w.dims[1]).ok());
        let (Some(d0), Some(d1)) = (d0, d1) else {
            return Err(refuse(target, "has a negative dimension"));
        };
        let (k, n) = if transposed { (d1, d0) } else { (d0, d1) };
        if r.checked_mul(k + n).is_none_or(|c| c > k.saturating_mul(n)) {
            return Err(refuse(
                target,
                format!(
                    "[{k}, {n}] is too small for rank {rank}: an adapter costs r·(k + n) = {} \
                     multiply-accumulates per row, at most the product's own k·n = {}",
                    r * (k + n),
                    k * n
                ),
            ));
        }
        let (a, b) = (format!("{ADAPTER_PREFIX}A.{target}"), format!("{ADAPTER_PREFIX}B.{target}"));
        if used.contains(&a) || used.contains(&b) {
            return Err(refuse(
                target,
                format!("cannot take an adapter: \"{a}\" or \"{b}\" exists"),
            ));
        }
        used.insert(a.clone());
        used.insert(b.clone());
        let bound = 1.0 / (k as f64).sqrt();
        let values_a = initial_a(target, k * r, bound);
        graph.initializer.push(float(&a, w.data_type, &[k as i64, rank.into()], &values_a));
        graph.initializer.push(float(&b, w.data_type, &[rank.into(), n as i64], &vec![0.0; r * n]));
        // x·W + (x·A)·B: the product's output renamed, the adapter's added to it, right after
        // the product (nodes stay in topological order).
        let mut after: Vec<(usize, [NodeProto; 3])> = Vec::with_capacity(uses.len());
        for &i in &uses {
            let mut fresh = |hint: &str| loop {
                next += 1;
                let name = format!("{ADAPTER_PREFIX}{hint}.{next}");
                if used.insert(name.clone()) {
                    return name;
                }
            };
            let (base, xa, ab) = (fresh("base"), fresh("xa"), fresh("ab"));
            let node = &mut graph.node[i];
            let out = std::mem::replace(&mut node.output[0], base.clone());
            let x = node.input[0].clone();
            let label = if node.name.is_empty() { out.clone() } else { node.name.clone() };
            let extra = [
                simple("MatMul", &[&x, &a], &xa, format!("{label}.lora.xa")),
                simple("MatMul", &[&xa, &b], &ab, format!("{label}.lora.ab")),
                simple("Add", &[&base, &ab], &out, format!("{label}.lora.add")),
            ];
            after.push((i, extra));
        }
        let mut nodes = Vec::with_capacity(graph.node.len() + 3 * after.len());
        let mut after = after.into_iter().peekable();
        for (i, node) in std::mem::take(&mut graph.node).into_iter().enumerate() {
            nodes.push(node);
            if let Some((_, extra)) = after.next_if(|(at, _)| *at == i) {
                nodes.extend(extra);
            }
        }
        graph.node = nodes;
        adapters.push(Adapter { target: target.clone(), a, b, k, n, rank: r, transposed });
    }
    Ok(Adapted { model: decoded.encode_to_vec(), adapters })
}

/// `original` (the model [`adapt`] rewrote) with each target `W` replaced by `W + A·B`, the
/// adapters' values given in `trained` by name (row-major), summed in `f64` and rounded once.
pub fn merge(
    original: &[u8],
    adapted: &Adapted,
    trained: &[(String, Vec<f32>)],
) -> Result<Vec<u8>> {
    let decoded = ModelProto::decode(original)
        .map_err(|e| RuntimeError::BadTrainModel(format!("not an ONNX model ({e})")))?;
    let graph = decoded.graph.ok_or_else(|| RuntimeError::BadTrainModel("no graph".into()))?;
    let value = |name: &str| {
        trained.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice()).ok_or_else(|| {
            RuntimeError::Training(format!("the adapter value \"{name}\" is missing"))
        })
    };
    let mut weights = Vec::with_capacity(adapted.adapters.len());
    for ad in &adapted.adapters {
        let (a, b) = (value(&ad.a)?, value(&ad.b)?);
        let (k, n, r) = (ad.k, ad.n, ad.rank);
        if a.len() != k * r || b.len() != r * n {
            return Err(RuntimeError::Training(format!(
                "adapter of \"{}\" is misshapen",
                ad.target
            )));
        }
        let w = graph
            .initializer
            .iter()
            .find(|t| t.name == ad.target)
            .ok_or_else(|| RuntimeError::NotAWeight(ad.target.clone()))?;
        let old = super::graph::tensor_floats(w)
            .ok_or_else(|| refuse(&ad.target, "holds malformed data"))?;
        let mut merged = Vec::with_capacity(old.len());
        for (at, &wv) in old.iter().enumerate() {
            // Stored [k, n] (or [n, k] when transposed): element (i, j) of the product's W.
            let (i, j) = if ad.transposed { (at % k, at / k) } else { (at / n, at % n) };
            let delta: f64 =
                (0..r).map(|c| f64::from(a[i * r + c]) * f64::from(b[c * n + j])).sum();
            merged.push((wv + delta) as f32);
        }
        weights.push((ad.target.clone(), merged));
    }
    write_weights(original, &weights, &[])
}

/// `n` values uniform in `±bound` from a generator seeded by `name` (FNV-1a, then xorshift):
/// the same on every machine.
fn initial_a(name: &str, n: usize, bound: f64) -> Vec<f32> {
    let mut state = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    }) | 1;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let unit = (state >> 11) as f64 / (1u64 << 53) as f64;
            ((unit * 2.0 - 1.0) * bound) as f32
        })
        .collect()
}

fn float(name: &str, elem: i32, dims: &[i64], values: &[f32]) -> TensorProto {
    let raw_data = if elem == dt::DOUBLE {
        values.iter().flat_map(|&v| f64::from(v).to_le_bytes()).collect()
    } else {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    };
    debug_assert_eq!(numel(dims), Some(values.len() as u64));
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: elem,
        raw_data,
        ..Default::default()
    }
}

fn simple(op: &str, inputs: &[&str], output: &str, name: String) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| (*s).to_owned()).collect(),
        output: vec![output.to_owned()],
        name,
        op_type: op.to_owned(),
        ..Default::default()
    }
}
