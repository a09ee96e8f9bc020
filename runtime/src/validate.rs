//! Input checks against a model's declared signature, before anything reaches ONNX Runtime.
//!
//! In order, each failure its own [`RuntimeError`] variant: the input count; then per input,
//! the element type, the rank, each fixed dimension, and each symbolic dimension — the first
//! input that uses a `dim_param` binds it, and every later use (in any input) must have the
//! same size. Unnamed free dimensions (`Dim::Symbolic("")`) accept any size independently.
//! Dimensions above `i64::MAX` are refused, as ONNX Runtime takes `i64`s.

use crate::error::{InputMismatch, Result, RuntimeError};
use anh_precompiles::{Dim, HostTensor, ModelInfo, TensorSpec};
use std::collections::HashMap;

/// Checks `inputs` against `info`'s declared inputs (see the module docs).
pub fn validate_inputs(info: &ModelInfo, inputs: &[HostTensor]) -> Result<()> {
    if inputs.len() != info.inputs.len() {
        return Err(RuntimeError::InputCount {
            expected: info.inputs.len(),
            got: inputs.len(),
            names: info
                .inputs
                .iter()
                .map(|s| format!("\"{}\"", s.name))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    // symbol -> (size, index of the input that bound it)
    let mut bound: HashMap<&str, (u64, usize)> = HashMap::new();
    for (index, (spec, tensor)) in info.inputs.iter().zip(inputs).enumerate() {
        let name = || spec.name.clone();
        let mismatch = || {
            Box::new(InputMismatch {
                index,
                name: name(),
                expected: spec_string(spec),
                got: tensor_string(tensor),
            })
        };
        if tensor.elem_type() != spec.elem {
            return Err(RuntimeError::InputElemType(mismatch()));
        }
        let shape = tensor.shape();
        if shape.len() != spec.shape.len() {
            return Err(RuntimeError::InputRank {
                mismatch: mismatch(),
                expected_rank: spec.shape.len(),
                got_rank: shape.len(),
            });
        }
        for (dim, (declared, &size)) in spec.shape.iter().zip(shape).enumerate() {
            if i64::try_from(size).is_err() {
                return Err(RuntimeError::InputDimTooLarge { index, name: name(), dim, size });
            }
            match declared {
                Dim::Fixed(fixed) if *fixed != size => {
                    return Err(RuntimeError::InputDim { mismatch: mismatch(), dim, size: *fixed });
                }
                Dim::Symbolic(symbol) if !symbol.is_empty() => match bound.get(symbol.as_str()) {
                    Some(&(first, first_index)) if first != size => {
                        return Err(RuntimeError::InputSymbol {
                            mismatch: mismatch(),
                            dim,
                            symbol: symbol.clone(),
                            bound: first,
                            first_index,
                            first_name: info.inputs[first_index].name.clone(),
                        });
                    }
                    Some(_) => {}
                    None => {
                        bound.insert(symbol, (size, index));
                    }
                },
                _ => {}
            }
        }
    }
    Ok(())
}

/// A declared type and shape as messages show it: `float32 [batch, 4]` (`?` for an unnamed
/// free dimension).
pub fn spec_string(spec: &TensorSpec) -> String {
    let dims: Vec<String> = spec
        .shape
        .iter()
        .map(|d| match d {
            Dim::Fixed(n) => n.to_string(),
            Dim::Symbolic(s) if s.is_empty() => "?".to_owned(),
            Dim::Symbolic(s) => s.clone(),
        })
        .collect();
    format!("{} [{}]", spec.elem, dims.join(", "))
}

/// A tensor's type and shape as messages show it: `int64 [1, 4]`.
pub fn tensor_string(tensor: &HostTensor) -> String {
    let dims: Vec<String> = tensor.shape().iter().map(u64::to_string).collect();
    format!("{} [{}]", tensor.elem_type(), dims.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::B256;
    use anh_precompiles::{ElemType, TensorData};

    fn info(inputs: Vec<TensorSpec>) -> ModelInfo {
        ModelInfo {
            hash: B256::ZERO,
            size: 0,
            cost: anh_precompiles::Cost::constant(0, 0),
            inputs,
            outputs: Vec::new(),
            parent: None,
        }
    }

    fn spec(name: &str, elem: ElemType, shape: &[Dim]) -> TensorSpec {
        TensorSpec { name: name.into(), elem, shape: shape.to_vec() }
    }

    fn sym(s: &str) -> Dim {
        Dim::Symbolic(s.into())
    }

    fn f32s(shape: &[u64]) -> HostTensor {
        let n = shape.iter().product::<u64>() as usize;
        HostTensor::new(shape.to_vec(), TensorData::F32(vec![0.0; n])).expect("consistent")
    }

    fn i64s(shape: &[u64]) -> HostTensor {
        let n = shape.iter().product::<u64>() as usize;
        HostTensor::new(shape.to_vec(), TensorData::I64(vec![0; n])).expect("consistent")
    }

    /// Matching inputs pass, whatever size a symbolic dimension takes.
    #[test]
    fn accepts_matching_inputs() {
        let m = info(vec![spec("x", ElemType::F32, &[sym("batch"), Dim::Fixed(4)])]);
        for batch in [0, 1, 7] {
            validate_inputs(&m, &[f32s(&[batch, 4])]).expect("valid");
        }
    }

    /// The element-type message shows both declared and given type and shape.
    #[test]
    fn elem_type_mismatch_message() {
        let m = info(vec![spec("x", ElemType::F32, &[sym("batch"), Dim::Fixed(4)])]);
        let e = validate_inputs(&m, &[i64s(&[1, 4])]).unwrap_err();
        assert!(matches!(&e, RuntimeError::InputElemType(m) if m.index == 0 && m.name == "x"));
        assert_eq!(e.to_string(), "input 0 (\"x\"): expected float32 [batch, 4], got int64 [1, 4]");
    }

    /// Wrong input counts name the model's inputs.
    #[test]
    fn count_mismatch_message() {
        let m = info(vec![spec("a", ElemType::F32, &[]), spec("b", ElemType::I64, &[])]);
        let e = validate_inputs(&m, &[f32s(&[])]).unwrap_err();
        assert_eq!(e.to_string(), "model takes 2 input(s) (\"a\", \"b\"), got 1");
    }

    /// Rank and fixed-dimension mismatches are separate errors.
    #[test]
    fn rank_and_dim_mismatches() {
        let m = info(vec![spec("x", ElemType::F32, &[sym(""), Dim::Fixed(4)])]);
        let e = validate_inputs(&m, &[f32s(&[1, 4, 1])]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "input 0 (\"x\"): expected float32 [?, 4], got float32 [1, 4, 1] (rank 3, not 2)"
        );
        let e = validate_inputs(&m, &[f32s(&[1, 5])]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "input 0 (\"x\"): expected float32 [?, 4], got float32 [1, 5] (dimension 1 must be 4)"
        );
    }

    /// One `dim_param` must have one size across all inputs; unnamed dims are independent.
    #[test]
    fn symbolic_dims_bind_consistently() {
        let m = info(vec![
            spec("a", ElemType::F32, &[sym("batch"), sym("")]),
            spec("b", ElemType::F32, &[sym("batch"), sym("")]),
        ]);
        validate_inputs(&m, &[f32s(&[2, 3]), f32s(&[2, 5])]).expect("unnamed dims are free");
        let e = validate_inputs(&m, &[f32s(&[2, 3]), f32s(&[3, 3])]).unwrap_err();
        assert!(matches!(
            &e,
            RuntimeError::InputSymbol { mismatch, bound: 2, first_index: 0, .. } if mismatch.index == 1
        ));
        assert_eq!(
            e.to_string(),
            "input 1 (\"b\"): expected float32 [batch, ?], got float32 [3, 3] (dimension 0 is \"batch\", which input 0 (\"a\") set to 2)"
        );
    }

    /// A dimension beyond i64 is refused before ONNX Runtime sees it.
    #[test]
    fn huge_dimension_refused() {
        let m = info(vec![spec("x", ElemType::F32, &[sym("n"), sym("m")])]);
        let t =
            HostTensor::new(vec![0, u64::MAX], TensorData::F32(Vec::new())).expect("0 elements");
        let e = validate_inputs(&m, &[t]).unwrap_err();
        assert!(matches!(e, RuntimeError::InputDimTooLarge { dim: 1, .. }), "{e}");
    }
}
