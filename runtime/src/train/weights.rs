//! Weights and optimiser state in model files: reading the trainable weights, writing new
//! values back (a splice of the protobuf, so every other byte of the file is kept), and the
//! optimiser state stored as `anh.opt.*` initializers.

use super::{
    ADAM_STEP, Optimizer, TrainSpec,
    graph::{dt, is_float, numel, tensor_floats},
    is_state_name, parse, select, state_name,
};
use crate::fields::{fields, put_message};
use crate::{
    analysis::{Limits, analyze},
    error::{Result, RuntimeError},
    onnx::{ModelProto, TensorProto},
};
use prost::Message;
use std::collections::HashMap;

/// The trainable weights of `model` under `spec`, in [`super::StepGraph::weights`] order,
/// as float32 values (float64 weights are rounded).
pub fn read_weights(model: &[u8], spec: &TrainSpec) -> Result<Vec<(String, Vec<f32>)>> {
    let parsed = parse(model)?;
    let selection = select(&parsed, spec.trainable.as_deref())?;
    selection
        .weights
        .iter()
        .map(|w| {
            let t = parsed
                .graph
                .initializer
                .iter()
                .find(|t| &t.name == w)
                .ok_or_else(|| RuntimeError::NotAWeight(w.clone()))?;
            Ok((w.clone(), values_f32(t)?))
        })
        .collect()
}

/// The optimiser state stored in `model` for `spec`, in [`super::StepGraph::state`] order:
/// each `anh.opt.*` initializer's values, zeros where the file holds none (a model never
/// trained with this optimiser).
pub fn read_state(model: &[u8], spec: &TrainSpec) -> Result<Vec<(String, Vec<f32>)>> {
    let parsed = parse(model)?;
    let selection = select(&parsed, spec.trainable.as_deref())?;
    let stored: HashMap<&str, &TensorProto> =
        parsed.stored_state.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut slots: Vec<(String, usize)> = Vec::new();
    for w in &selection.weights {
        let t = parsed.graph.initializer.iter().find(|t| &t.name == w);
        let n = t.and_then(|t| numel(&t.dims)).unwrap_or(0) as usize;
        for kind in spec.optimizer.state_kinds() {
            slots.push((state_name(kind, w), n));
        }
    }
    if spec.optimizer == Optimizer::Adam {
        slots.push((ADAM_STEP.to_owned(), 1));
    }
    slots
        .into_iter()
        .map(|(name, n)| {
            let values = match stored.get(name.as_str()) {
                Some(t) => {
                    let v = values_f32(t)?;
                    if v.len() != n {
                        return Err(RuntimeError::WeightCount { name, expected: n, got: v.len() });
                    }
                    v
                }
                None => vec![0.0; n],
            };
            Ok((name, values))
        })
        .collect()
}

fn values_f32(t: &TensorProto) -> Result<Vec<f32>> {
    tensor_floats(t).map(|v| v.into_iter().map(|x| x as f32).collect()).ok_or_else(|| {
        RuntimeError::BadTrainModel(format!("initializer \"{}\" holds malformed data", t.name))
    })
}

/// A new model file: `model` with the initializers named in `weights` set to the values
/// given (row-major, stored as little-endian `raw_data` of the initializer's own type), and
/// the optimiser state `state` (names `anh.opt.<kind>.<weight>` and `anh.opt.t`, as in
/// [`super::StepGraph::state`]) stored as extra initializers, replacing any stored before.
/// Every other byte of the file is kept as it was.
pub fn write_weights(
    model: &[u8],
    weights: &[(String, Vec<f32>)],
    state: &[(String, Vec<f32>)],
) -> Result<Vec<u8>> {
    analyze(model, &Limits::default())?;
    let decoded = ModelProto::decode(model)
        .map_err(|e| RuntimeError::BadTrainModel(format!("not an ONNX model ({e})")))?;
    let graph = decoded.graph.ok_or_else(|| RuntimeError::BadTrainModel("no graph".into()))?;
    let floats: HashMap<&str, &TensorProto> = graph
        .initializer
        .iter()
        .filter(|t| is_float(t.data_type) && !is_state_name(&t.name))
        .map(|t| (t.name.as_str(), t))
        .collect();
    let tensor = |name: &str, like: &TensorProto, dims: &[i64], values: &[f32]| {
        let expected = numel(dims).unwrap_or(0) as usize;
        if values.len() != expected {
            return Err(RuntimeError::WeightCount {
                name: name.to_owned(),
                expected,
                got: values.len(),
            });
        }
        let raw_data = if like.data_type == dt::DOUBLE {
            values.iter().flat_map(|&v| f64::from(v).to_le_bytes()).collect()
        } else {
            values.iter().flat_map(|v| v.to_le_bytes()).collect()
        };
        Ok(TensorProto {
            name: name.to_owned(),
            dims: dims.to_vec(),
            data_type: like.data_type,
            raw_data,
            ..Default::default()
        })
    };
    let mut replace: HashMap<&str, TensorProto> = HashMap::new();
    for (name, values) in weights {
        let t = floats.get(name.as_str()).ok_or_else(|| RuntimeError::NotAWeight(name.clone()))?;
        replace.insert(name, tensor(name, t, &t.dims, values)?);
    }
    let first_float = graph.initializer.iter().find(|t| is_float(t.data_type));
    let mut added = Vec::with_capacity(state.len());
    for (name, values) in state {
        let unknown = || {
            RuntimeError::BadTrainModel(format!(
                "optimiser state \"{name}\" names no weight of the model (expected anh.opt.<velocity|m|v>.<weight> or {ADAM_STEP})"
            ))
        };
        let t = if name == ADAM_STEP {
            let like = first_float.ok_or_else(unknown)?;
            tensor(name, like, &[], values)?
        } else {
            let rest = name.strip_prefix("anh.opt.").ok_or_else(unknown)?;
            let (kind, weight) = rest.split_once('.').ok_or_else(unknown)?;
            if !["velocity", "m", "v"].contains(&kind) {
                return Err(unknown());
            }
            let like = floats.get(weight).ok_or_else(unknown)?;
            tensor(name, like, &like.dims, values)?
        };
        added.push(t);
    }

    // Splice: copy every field, replacing the graph; in the graph, replace the weights,
    // drop stored state, append the new state.
    let mut graphs = 0;
    let mut out = Vec::with_capacity(model.len() + 64);
    for f in fields(model).map_err(malformed)? {
        if f.number != 7 {
            out.extend_from_slice(f.raw);
            continue;
        }
        graphs += 1;
        let payload = f.payload.ok_or_else(|| malformed("graph"))?;
        let mut g = Vec::with_capacity(payload.len() + 64);
        for gf in fields(payload).map_err(malformed)? {
            if gf.number == 5 {
                let bytes = gf.payload.ok_or_else(|| malformed("initializer"))?;
                let t = TensorProto::decode(bytes).map_err(|_| malformed("initializer"))?;
                if let Some(new) = replace.get(t.name.as_str()) {
                    put_message(&mut g, 5, &new.encode_to_vec());
                    continue;
                }
                if is_state_name(&t.name) {
                    continue;
                }
            }
            g.extend_from_slice(gf.raw);
        }
        for t in &added {
            put_message(&mut g, 5, &t.encode_to_vec());
        }
        put_message(&mut out, 7, &g);
    }
    if graphs != 1 {
        return Err(malformed("graph (the file must hold exactly one)"));
    }
    Ok(out)
}

fn malformed(what: &str) -> RuntimeError {
    RuntimeError::BadTrainModel(format!("malformed {what} field"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The splice keeps unknown fields (here a producer name and a doc string the prost
    /// messages do not declare) byte for byte.
    #[test]
    fn splice_keeps_other_fields() {
        let model = crate::synth::matmul(2, 2);
        let mut with_doc = model;
        put_message(&mut with_doc, 6, b"a doc string");
        let written = write_weights(&with_doc, &[("w".into(), vec![1.0, 2.0, 3.0, 4.0])], &[])
            .expect("write");
        assert!(written.windows(12).any(|w| w == b"a doc string"));
        let spec =
            TrainSpec { loss: super::super::Loss::Mse, optimizer: Optimizer::Sgd, trainable: None };
        assert_eq!(
            read_weights(&written, &spec).expect("read"),
            [("w".into(), vec![1.0, 2.0, 3.0, 4.0])]
        );
    }

    /// Wrong counts and unknown names are refused with errors naming them.
    #[test]
    fn bad_values_are_refused() {
        let model = crate::synth::matmul(2, 2);
        let e = write_weights(&model, &[("w".into(), vec![1.0])], &[]).unwrap_err();
        assert!(matches!(e, RuntimeError::WeightCount { expected: 4, got: 1, .. }), "{e}");
        let e = write_weights(&model, &[("nope".into(), vec![])], &[]).unwrap_err();
        assert!(matches!(e, RuntimeError::NotAWeight(ref n) if n == "nope"), "{e}");
        let e = write_weights(&model, &[], &[("anh.opt.x.w".into(), vec![0.0; 4])]).unwrap_err();
        assert!(e.to_string().contains("anh.opt.x.w"), "{e}");
    }

    /// State written is read back; absent state reads as zeros.
    #[test]
    fn state_round_trips() {
        let model = crate::synth::matmul(2, 2);
        let spec = TrainSpec {
            loss: super::super::Loss::Mse,
            optimizer: Optimizer::Adam,
            trainable: None,
        };
        let zeros = read_state(&model, &spec).expect("state");
        let names: Vec<&str> = zeros.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["anh.opt.m.w", "anh.opt.v.w", "anh.opt.t"]);
        assert!(zeros.iter().all(|(_, v)| v.iter().all(|&x| x == 0.0)));
        let state = vec![
            ("anh.opt.m.w".to_owned(), vec![0.5; 4]),
            ("anh.opt.v.w".to_owned(), vec![0.25; 4]),
            ("anh.opt.t".to_owned(), vec![3.0]),
        ];
        let written = write_weights(&model, &[], &state).expect("write");
        assert_eq!(read_state(&written, &spec).expect("state"), state);
        // Writing again replaces, never duplicates.
        let again = write_weights(&written, &[], &state).expect("write");
        assert_eq!(again.len(), written.len());
        assert!(crate::analyze(&again, &Limits::default()).is_ok());
    }
}
