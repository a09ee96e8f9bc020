//! Training on [`OrtRuntime`] ([`ModelRuntime::train`], [`ModelRuntime::loss`]), and the
//! checks on trained model files that executors use to settle training without training:
//! [`same_architecture`] (a candidate is its parent with new weights, nothing else) and
//! [`compare_weights`] (the recompute rule).
//!
//! **Training** runs the step graph of [`crate::train`] `steps` times on one ONNX Runtime
//! session, feeding each step's new weights and optimiser state to the next, then once more
//! with a learning rate of 0 (which changes no weight) for the new weights' loss. The step
//! graph of a model depends on its architecture only (the weights are inputs), so a model
//! and the models trained from it share one graph and one session: sessions are cached by
//! the graph's hash. A loss or weight that is not finite stops the run
//! ([`RuntimeError::Training`]); the new model file is the parent's with the new weights and
//! the optimiser state ([`crate::train::write_weights`]).
//!
//! **Adapters** (`TrainParams::rank` > 0): the steps run on [`crate::train::adapt::adapt`]'s
//! rewrite of the model with only the adapters trainable (its step graph cached under the
//! rewrite's hash), and [`crate::train::adapt::merge`] writes the adapted weights into the
//! parent; the run's MAC budget (deadline) is doubled, as the call's price is.
//!
//! **Losses** ([`ModelRuntime::loss`]) run [`crate::train::build_loss_graph`] of the model.
//!
//! The checks read model files from the model store, which analysed them when they were put
//! there (bounded against protobuf bombs), so decoding them again here is safe.

use crate::{
    OrtRuntime, TrainOutput,
    error::{Result, RuntimeError},
    onnx::{GraphProto, ModelProto, TensorProto},
    runtime::{from_ort, to_ort},
    train::{
        Loss, Optimizer, StepGraph, StepGraphCache, TrainSpec,
        adapt::{adapt, merge},
        build_loss_graph, read_state, read_weights, tensor_floats, write_weights,
    },
};
use alloy_primitives::{B256, keccak256};
use anh_primitives::{Dim, ElemType, HostTensor, TensorData, TensorSpec, TrainParams};
use ort::{session::Session, value::DynValue};
use parking_lot::Mutex;
use prost::Message;
use std::{collections::HashMap, sync::Arc};

/// A progress callback for [`crate::ModelRuntime::train`] that logs the loss of a run on
/// `model`: for runs of 20 steps or more, at info level after every tenth of the run (so that
/// long jobs show their progress in `anh node`'s and `anh executor`'s logs), otherwise at
/// debug level.
pub fn log_progress(model: B256, steps: u32) -> impl Fn(u32, f64) {
    let every = (steps / 10).max(1);
    move |step, loss| {
        let done = step + 1;
        if steps >= 20 && (done % every == 0 || done == steps) {
            tracing::info!(%model, step = done, steps, loss, "training");
        } else {
            tracing::debug!(%model, step = done, steps, loss, "training");
        }
    }
}

/// Sessions of generated graphs kept per runtime.
const CACHED_GRAPH_SESSIONS: usize = 8;

/// Sessions of generated graphs by the graph's keccak256, most recently used last.
#[derive(Default)]
struct SessionCache {
    entries: Vec<(B256, Arc<Mutex<Session>>)>,
}

impl SessionCache {
    fn get(&mut self, key: &B256) -> Option<Arc<Mutex<Session>>> {
        let at = self.entries.iter().position(|(k, _)| k == key)?;
        let entry = self.entries.remove(at);
        let session = entry.1.clone();
        self.entries.push(entry);
        Some(session)
    }

    fn insert(&mut self, key: B256, session: Arc<Mutex<Session>>) {
        if self.entries.len() >= CACHED_GRAPH_SESSIONS {
            self.entries.remove(0);
        }
        self.entries.push((key, session));
    }
}

/// An [`OrtRuntime`]'s step graphs and the sessions of its generated graphs.
pub(crate) struct TrainingCache {
    graphs: StepGraphCache,
    sessions: Mutex<SessionCache>,
}

impl Default for TrainingCache {
    fn default() -> Self {
        Self { graphs: StepGraphCache::new(16), sessions: Mutex::default() }
    }
}

impl std::fmt::Debug for TrainingCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainingCache").field("step_graphs", &self.graphs.len()).finish()
    }
}

/// The session of the generated graph `bytes` (built for `model`), cached by its hash.
fn graph_session(runtime: &OrtRuntime, model: B256, bytes: &[u8]) -> Result<Arc<Mutex<Session>>> {
    let key = keccak256(bytes);
    if let Some(session) = runtime.training().sessions.lock().get(&key) {
        return Ok(session);
    }
    let session = Arc::new(Mutex::new(runtime.graph_session(model, bytes)?));
    runtime.training().sessions.lock().insert(key, session.clone());
    Ok(session)
}

fn spec_of(params: &TrainParams) -> Result<TrainSpec> {
    let loss = Loss::from_code(params.loss)
        .ok_or_else(|| RuntimeError::Training(format!("unknown loss {}", params.loss)))?;
    let optimizer = Optimizer::from_code(params.optimizer)
        .ok_or_else(|| RuntimeError::Training(format!("unknown optimizer {}", params.optimizer)))?;
    // Adapter targets are not trained themselves: `train` replaces this with the adapters.
    let trainable =
        (!params.trainable.is_empty() && params.rank == 0).then(|| params.trainable.clone());
    Ok(TrainSpec { loss, optimizer, trainable })
}

/// `values` as a tensor of `spec`'s (fixed) shape in element type `elem`.
fn tensor(spec: &TensorSpec, elem: ElemType, values: Vec<f32>) -> Result<HostTensor> {
    let shape = spec
        .shape
        .iter()
        .map(|d| match d {
            Dim::Fixed(n) => Ok(*n),
            Dim::Symbolic(_) => Err(RuntimeError::Training(format!(
                "weight {:?} has a symbolic dimension",
                spec.name
            ))),
        })
        .collect::<Result<Vec<u64>>>()?;
    let data = match elem {
        ElemType::F64 => TensorData::F64(values.into_iter().map(f64::from).collect()),
        _ => TensorData::F32(values),
    };
    HostTensor::new(shape, data).ok_or_else(|| {
        RuntimeError::Training(format!("weight {:?} does not fit its shape", spec.name))
    })
}

fn scalar(elem: ElemType, value: f64) -> Result<HostTensor> {
    let data = match elem {
        ElemType::F64 => TensorData::F64(vec![value]),
        _ => TensorData::F32(vec![value as f32]),
    };
    HostTensor::new(Vec::new(), data)
        .ok_or_else(|| RuntimeError::Training("a scalar does not fit".into()))
}

/// The values of a float tensor as f32, or `None` if one is not finite.
fn finite_f32(t: &HostTensor) -> Option<Vec<f32>> {
    let values: Vec<f32> = match t.data() {
        TensorData::F32(v) => v.clone(),
        TensorData::F64(v) => v.iter().map(|&x| x as f32).collect(),
        _ => return None,
    };
    values.iter().all(|v| v.is_finite()).then_some(values)
}

fn scalar_of(t: &HostTensor) -> f64 {
    match t.data() {
        TensorData::F32(v) => v.first().map_or(f64::NAN, |&x| f64::from(x)),
        TensorData::F64(v) => v.first().copied().unwrap_or(f64::NAN),
        _ => f64::NAN,
    }
}

/// Runs `session` on `inputs` (named by `names`, in order) and returns `outputs` in order; a
/// run of `macs` multiply-accumulates ([`crate::RuntimeConfig::deadline`]).
fn run_graph(
    runtime: &OrtRuntime,
    model: B256,
    session: &Mutex<Session>,
    names: &[&str],
    (inputs, macs): (Vec<HostTensor>, Option<u64>),
    outputs: &[(String, ElemType)],
) -> Result<Vec<HostTensor>> {
    let failed = |message: String| RuntimeError::Inference { model, message };
    let values = names
        .iter()
        .zip(inputs)
        .map(|(name, tensor)| {
            Ok((name.to_string(), to_ort(tensor).map_err(|e| failed(e.to_string()))?))
        })
        .collect::<Result<Vec<(String, DynValue)>>>()?;
    let _permit = runtime.permit();
    let mut session = session.lock();
    let options =
        std::sync::Arc::new(ort::session::RunOptions::new().map_err(|e| failed(e.to_string()))?);
    let results = runtime.run_session(model, &mut session, values, &options, macs)?;
    outputs
        .iter()
        .map(|(name, elem)| {
            let value = results
                .get(name)
                .ok_or_else(|| failed(format!("the graph returned no output {name:?}")))?;
            from_ort(value, *elem)
                .map_err(|message| RuntimeError::Output { name: name.clone(), message })
        })
        .collect()
}

/// The MACs of one forward pass of `model` on the model inputs that start `batch`.
fn batch_macs(runtime: &OrtRuntime, model: B256, batch: &[HostTensor]) -> Option<u64> {
    let info = runtime.source().model_info(&model)?;
    info.macs_for(batch.iter().take(info.inputs.len()).map(HostTensor::shape))
}

/// The bytes of `model`, which training rewrites: refused for a model whose weights are in
/// blobs ([`RuntimeError::ExternalWeights`]), whose file holds none of them.
fn trainable_bytes(runtime: &OrtRuntime, model: B256) -> Result<Vec<u8>> {
    if runtime.source().external_weights(&model)?.is_some() {
        return Err(RuntimeError::ExternalWeights(model));
    }
    runtime.source().model_bytes(&model)
}

/// [`ModelRuntime::train`] on ONNX Runtime (see the module docs).
pub(crate) fn train(
    runtime: &OrtRuntime,
    model: B256,
    batch: Vec<HostTensor>,
    params: &TrainParams,
    progress: &dyn Fn(u32, f64),
) -> Result<TrainOutput> {
    let mut spec = spec_of(params)?;
    let parent = trainable_bytes(runtime, model)?;
    // With adapters, the steps run on the adapted model (its adapters the only weights), and
    // the adapters are merged into the parent at the end.
    let adapted = if params.rank > 0 {
        let adapted = adapt(&parent, &params.trainable, u32::from(params.rank))?;
        spec.trainable = Some(adapted.trainable());
        Some(adapted)
    } else {
        None
    };
    let (bytes, key) = match &adapted {
        Some(a) => (a.model.as_slice(), keccak256(&a.model)),
        None => (parent.as_slice(), model),
    };
    let graph: Arc<StepGraph> = runtime.training().graphs.get_or_build(key, &spec, || Ok(bytes))?;
    graph.check_batch(&batch)?;
    // A step is priced as three forward passes on the batch (adapters at most double them).
    let work = if adapted.is_some() { 6 } else { 3 };
    let step_macs = batch_macs(runtime, model, &batch).and_then(|m| m.checked_mul(work));
    let session = graph_session(runtime, model, &graph.model)?;
    let elem = graph.elem;
    let mut weights = read_weights(bytes, &spec)?
        .into_iter()
        .zip(&graph.weights)
        .map(|((_, values), spec)| tensor(spec, elem, values))
        .collect::<Result<Vec<_>>>()?;
    let mut state = read_state(bytes, &spec)?
        .into_iter()
        .zip(&graph.state)
        .map(|((_, values), spec)| tensor(spec, elem, values))
        .collect::<Result<Vec<_>>>()?;
    let names = graph.input_names();
    let outputs: Vec<(String, ElemType)> =
        graph.outputs.iter().map(|o| (o.clone(), elem)).collect();
    let (nw, ns) = (weights.len(), state.len());
    let lr = params.learning_rate();
    let mut losses = Vec::with_capacity(params.steps as usize + 1);
    // `steps` steps, then one with a learning rate of 0 for the new weights' loss.
    for step in 0..=params.steps {
        let last = step == params.steps;
        let rate = if last { 0.0 } else { lr };
        let mut inputs = Vec::with_capacity(names.len());
        // The step's outputs replace the weights and state, so they move in; the last run
        // (whose state is discarded) copies them.
        if last {
            inputs.extend(weights.iter().cloned());
            inputs.extend(state.iter().cloned());
        } else {
            inputs.append(&mut weights);
            inputs.append(&mut state);
        }
        inputs.extend(batch.iter().cloned());
        inputs.push(scalar(elem, rate)?);
        let mut out = run_graph(runtime, model, &session, &names, (inputs, step_macs), &outputs)?;
        let loss = out.last().map_or(f64::NAN, scalar_of);
        if !loss.is_finite() {
            return Err(RuntimeError::Training(format!(
                "training diverged: the loss is {loss} at step {step}"
            )));
        }
        losses.push(loss);
        if last {
            break;
        }
        progress(step, loss);
        out.truncate(nw + ns);
        state = out.split_off(nw);
        weights = out;
    }
    runtime.count_training_steps(u64::from(params.steps));
    let named = |tensors: &[HostTensor], specs: &[TensorSpec]| {
        tensors
            .iter()
            .zip(specs)
            .map(|(t, s)| {
                finite_f32(t).map(|v| (s.name.clone(), v)).ok_or_else(|| {
                    RuntimeError::Training(format!(
                        "training diverged: {:?} holds a value that is not finite",
                        s.name
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()
    };
    let new_model = match &adapted {
        Some(a) => merge(&parent, a, &named(&weights, &graph.weights)?)?,
        None => {
            write_weights(bytes, &named(&weights, &graph.weights)?, &named(&state, &graph.state)?)?
        }
    };
    let loss = losses.last().copied().unwrap_or(f64::NAN);
    Ok(TrainOutput { model: new_model, loss, losses })
}

/// [`ModelRuntime::loss`] on ONNX Runtime: the loss graph of `model` on `batch`.
pub(crate) fn loss(
    runtime: &OrtRuntime,
    model: B256,
    batch: Vec<HostTensor>,
    code: u8,
) -> Result<f64> {
    let kind = Loss::from_code(code)
        .ok_or_else(|| RuntimeError::Training(format!("unknown loss {code}")))?;
    let bytes = trainable_bytes(runtime, model)?;
    let graph = build_loss_graph(&bytes, kind)?;
    let output = ModelProto::decode(graph.as_slice())
        .ok()
        .and_then(|m| m.graph)
        .and_then(|g| g.output.into_iter().next())
        .ok_or_else(|| RuntimeError::Training("the loss graph has no output".into()))?;
    let elem = match output.r#type.and_then(|t| t.tensor_type).map(|t| t.elem_type) {
        Some(11) => ElemType::F64,
        _ => ElemType::F32,
    };
    let session = graph_session(runtime, model, &graph)?;
    let names: Vec<String> = session.lock().inputs().iter().map(|i| i.name().to_string()).collect();
    if names.len() != batch.len() {
        return Err(RuntimeError::Training(format!(
            "the loss graph takes {} tensors, the batch has {}",
            names.len(),
            batch.len()
        )));
    }
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let macs = batch_macs(runtime, model, &batch);
    let out = run_graph(runtime, model, &session, &names, (batch, macs), &[(output.name, elem)])?;
    Ok(out.first().map_or(f64::NAN, scalar_of))
}

/// Prefix of the initializers that hold a trained model's optimiser state.
pub const OPTIMIZER_STATE_PREFIX: &str = "anh.opt.";

fn graph(bytes: &[u8], which: &str) -> Result<GraphProto, String> {
    let model = ModelProto::decode(bytes).map_err(|e| format!("the {which} model: {e}"))?;
    model.graph.ok_or_else(|| format!("the {which} model has no graph"))
}

/// Checks that `trained` is `parent` with other weight values: the same opsets, nodes, inputs
/// and outputs, every initializer of the parent (but its optimiser state: a model trained with
/// Adam may be trained on with SGD, which keeps none) with the same name, type and shape, and
/// no other initializer than optimiser state (named [`OPTIMIZER_STATE_PREFIX`]…). A Byzantine
/// leader cannot pass off another architecture (one the registry would price as the parent).
pub fn same_architecture(parent: &[u8], trained: &[u8]) -> Result<(), String> {
    let p_model = ModelProto::decode(parent).map_err(|e| format!("the parent model: {e}"))?;
    let t_model = ModelProto::decode(trained).map_err(|e| format!("the trained model: {e}"))?;
    let (Some(p), Some(t)) = (&p_model.graph, &t_model.graph) else {
        return Err("a model has no graph".into());
    };
    if p.node != t.node {
        return Err("the graph's nodes differ".into());
    }
    let shapes: HashMap<&str, (&[i64], i32)> =
        t.initializer.iter().map(|i| (i.name.as_str(), (i.dims.as_slice(), i.data_type))).collect();
    for init in p.initializer.iter().filter(|i| !i.name.starts_with(OPTIMIZER_STATE_PREFIX)) {
        match shapes.get(init.name.as_str()) {
            Some((dims, ty)) if *dims == init.dims.as_slice() && *ty == init.data_type => {}
            Some(_) => return Err(format!("initializer {:?} changed type or shape", init.name)),
            None => return Err(format!("initializer {:?} is missing", init.name)),
        }
    }
    let parents: HashMap<&str, ()> = p.initializer.iter().map(|i| (i.name.as_str(), ())).collect();
    if let Some(extra) = t.initializer.iter().find(|i| {
        !parents.contains_key(i.name.as_str()) && !i.name.starts_with(OPTIMIZER_STATE_PREFIX)
    }) {
        return Err(format!("initializer {:?} is not the parent's", extra.name));
    }
    // Everything else — opsets, inputs, outputs, value infos, non-float initializers (shapes,
    // indices) — must be the parent's byte for byte: only float weights may change.
    if weightless(p_model.clone()) != weightless(t_model.clone()) {
        return Err("the model differs from its parent beyond its float weights".into());
    }
    Ok(())
}

/// Checks that `trained` holds every initializer of `parent` that is not in `trainable` (nor
/// optimiser state) byte for byte: what `trainOnly` froze stayed frozen. Assumes
/// [`same_architecture`] held.
pub fn frozen_unchanged(parent: &[u8], trained: &[u8], trainable: &[String]) -> Result<(), String> {
    let (p, t) = (graph(parent, "parent")?, graph(trained, "trained")?);
    let theirs: HashMap<&str, &TensorProto> =
        t.initializer.iter().map(|i| (i.name.as_str(), i)).collect();
    for init in p
        .initializer
        .iter()
        .filter(|i| !i.name.starts_with(OPTIMIZER_STATE_PREFIX) && !trainable.contains(&i.name))
    {
        if theirs.get(init.name.as_str()) != Some(&init) {
            return Err(format!(
                "initializer {:?} changed, but only {trainable:?} may train",
                init.name
            ));
        }
    }
    Ok(())
}

/// `model` without optimiser state and without the values of its float initializers.
fn weightless(mut model: ModelProto) -> ModelProto {
    if let Some(graph) = &mut model.graph {
        graph.initializer.retain(|i| !i.name.starts_with(OPTIMIZER_STATE_PREFIX));
        for init in &mut graph.initializer {
            if tensor_floats(init).is_some() {
                init.raw_data.clear();
                init.float_data.clear();
                init.double_data.clear();
            }
        }
    }
    model
}

/// The recompute rule: every floating-point weight of `candidate` (optimiser state aside) is
/// within `abs + rel × |own|` (both in units of 1e-9) of the same weight of `own`
/// ([`anh_primitives::rule::within`]: not finite agrees only with the same value).
pub fn compare_weights(candidate: &[u8], own: &[u8], abs: u64, rel: u64) -> Result<(), String> {
    let (c, o) = (graph(candidate, "candidate")?, graph(own, "own")?);
    let ours: HashMap<&str, &TensorProto> =
        o.initializer.iter().map(|i| (i.name.as_str(), i)).collect();
    let (abs, rel) = (abs as f64 * 1e-9, rel as f64 * 1e-9);
    for init in c.initializer.iter().filter(|i| !i.name.starts_with(OPTIMIZER_STATE_PREFIX)) {
        let Some(theirs) = tensor_floats(init) else { continue };
        let mine = ours
            .get(init.name.as_str())
            .and_then(|t| tensor_floats(t))
            .ok_or_else(|| format!("weight {:?} is not in this executor's model", init.name))?;
        if mine.len() != theirs.len() {
            return Err(format!("weight {:?} has a different size", init.name));
        }
        for (j, (&x, &y)) in theirs.iter().zip(&mine).enumerate() {
            if !anh_primitives::rule::within(x, y, abs, rel) {
                return Err(format!(
                    "weight {:?} element {j}: {x} is not within {} of {y}",
                    init.name,
                    abs + rel * y.abs()
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::NodeProto;

    fn tensor(name: &str, values: &[f32]) -> TensorProto {
        TensorProto {
            name: name.into(),
            dims: vec![values.len() as i64],
            data_type: 1,
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        }
    }

    fn model(initializers: Vec<TensorProto>, op: &str) -> Vec<u8> {
        ModelProto {
            ir_version: 8,
            graph: Some(GraphProto {
                node: vec![NodeProto {
                    input: vec!["x".into(), "w".into()],
                    output: vec!["y".into()],
                    op_type: op.into(),
                    ..Default::default()
                }],
                initializer: initializers,
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec()
    }

    /// New weights and optimiser state pass; another op, a changed shape, a missing or an
    /// extra weight do not.
    #[test]
    fn architecture() {
        let parent = model(vec![tensor("w", &[1.0, 2.0])], "Mul");
        let trained =
            model(vec![tensor("w", &[1.5, 2.5]), tensor("anh.opt.m.w", &[0.1, 0.1])], "Mul");
        assert_eq!(same_architecture(&parent, &trained), Ok(()));
        let other_op = model(vec![tensor("w", &[1.5, 2.5])], "Add");
        assert_eq!(same_architecture(&parent, &other_op), Err("the graph's nodes differ".into()));
        let reshaped = model(vec![tensor("w", &[1.0, 2.0, 3.0])], "Mul");
        assert!(same_architecture(&parent, &reshaped).unwrap_err().contains("shape"));
        let missing = model(vec![], "Mul");
        assert!(same_architecture(&parent, &missing).unwrap_err().contains("missing"));
        let extra = model(vec![tensor("w", &[1.0, 2.0]), tensor("v", &[1.0])], "Mul");
        assert!(same_architecture(&parent, &extra).unwrap_err().contains("not the parent's"));
        // An integer initializer (a shape, an index) is not a weight: changing it is refused.
        let ints = |v: i64| TensorProto {
            name: "shape".into(),
            dims: vec![1],
            data_type: 7,
            raw_data: v.to_le_bytes().to_vec(),
            ..Default::default()
        };
        let with_shape = model(vec![tensor("w", &[1.0, 2.0]), ints(2)], "Mul");
        let reshaped = model(vec![tensor("w", &[1.5, 2.0]), ints(3)], "Mul");
        let retrained = model(vec![tensor("w", &[1.5, 2.0]), ints(2)], "Mul");
        assert_eq!(same_architecture(&with_shape, &retrained), Ok(()));
        assert!(same_architecture(&with_shape, &reshaped).unwrap_err().contains("beyond"));
        assert!(same_architecture(&parent, b"\xff\xff").is_err());
        // Another optimiser: the parent's state (Adam's) may go, other state may come.
        let adam = model(vec![tensor("w", &[1.5, 2.5]), tensor("anh.opt.m.w", &[0.1, 0.1])], "Mul");
        let sgd = model(vec![tensor("w", &[1.7, 2.7])], "Mul");
        let momentum =
            model(vec![tensor("w", &[1.8, 2.8]), tensor("anh.opt.velocity.w", &[0.2, 0.2])], "Mul");
        assert_eq!(same_architecture(&adam, &sgd), Ok(()));
        assert_eq!(same_architecture(&adam, &momentum), Ok(()));
    }

    /// Weights within the tolerance pass, others (and NaN) do not; optimiser state is not
    /// compared.
    #[test]
    fn weights() {
        let a = model(vec![tensor("w", &[1.0, 2.0]), tensor("anh.opt.m.w", &[5.0, 5.0])], "Mul");
        let b = model(vec![tensor("w", &[1.0, 2.0001]), tensor("anh.opt.m.w", &[0.0, 0.0])], "Mul");
        assert_eq!(compare_weights(&a, &b, 1_000_000, 0), Ok(()));
        let err = compare_weights(&a, &b, 10_000, 0).unwrap_err();
        assert!(err.contains("weight \"w\" element 1"), "{err}");
        let nan = model(vec![tensor("w", &[1.0, f32::NAN])], "Mul");
        assert!(compare_weights(&nan, &a, u64::MAX / 2, 0).is_err());
        // An infinite candidate weight does not widen its own bound, however large `rel`.
        let inf = model(vec![tensor("w", &[1.0, f32::INFINITY])], "Mul");
        let err = compare_weights(&inf, &a, 0, u64::MAX / 2).unwrap_err();
        assert!(err.starts_with("weight \"w\" element 1: inf is not within"), "{err}");
        assert_eq!(compare_weights(&inf, &inf, 0, 0), Ok(()), "the same ∞ agrees");
    }
}
