//! Input checks against a model's declared signature, before anything reaches ONNX Runtime.
//!
//! In order, each failure its own [`RuntimeError`] variant: the input count; then per input,
//! the element type, then the shape by the binder the precompiles use too
//! ([`anh_primitives::shapes::bind`]): the rank, each dimension at most `i64::MAX` (ONNX Runtime
//! takes `i64`s; a symbolic one may be 0: an empty batch runs), each fixed dimension, and each symbolic
//! dimension — the first input that uses a `dim_param` binds it, and every later use (in any
//! input) must have the same size. Unnamed free dimensions (`Dim::Symbolic("")`) accept any
//! size independently.

use crate::error::{InputMismatch, Result, RuntimeError};
use anh_primitives::{
    HostTensor, ModelInfo, TensorSpec,
    shapes::{EmptyDims, ShapeError, bind},
};

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
    let mismatch = |index: usize| {
        Box::new(InputMismatch {
            index,
            name: info.inputs[index].name.clone(),
            expected: spec_string(&info.inputs[index]),
            got: tensor_string(&inputs[index]),
        })
    };
    // An input's element type is checked before its shape: the first input with either kind
    // of mismatch is the one reported.
    let elem = info.inputs.iter().zip(inputs).position(|(spec, t)| t.elem_type() != spec.elem);
    let shape = bind(&info.inputs, inputs.iter().map(HostTensor::shape), EmptyDims::Allowed).err();
    if let Some(index) = elem
        && shape.as_ref().and_then(ShapeError::input).is_none_or(|other| index <= other)
    {
        return Err(RuntimeError::InputElemType(mismatch(index)));
    }
    let Some(error) = shape else { return Ok(()) };
    Err(match error {
        // The count was checked above.
        ShapeError::Count { expected, got } => {
            RuntimeError::InputCount { expected, got, names: String::new() }
        }
        ShapeError::Rank { input, expected, got } => RuntimeError::InputRank {
            mismatch: mismatch(input),
            expected_rank: expected,
            got_rank: got,
        },
        ShapeError::TooLarge { input, dim, size } => RuntimeError::InputDimTooLarge {
            index: input,
            name: info.inputs[input].name.clone(),
            dim,
            size,
        },
        // Not with `EmptyDims::Allowed` (the runtime runs empty batches).
        ShapeError::Empty { input, dim } => {
            RuntimeError::InputDim { mismatch: mismatch(input), dim, size: 1 }
        }
        ShapeError::Fixed { input, dim, expected, .. } => {
            RuntimeError::InputDim { mismatch: mismatch(input), dim, size: expected }
        }
        ShapeError::Symbol { input, dim, symbol, bound, first_input, .. } => {
            RuntimeError::InputSymbol {
                mismatch: mismatch(input),
                dim,
                symbol,
                bound,
                first_index: first_input,
                first_name: info.inputs[first_input].name.clone(),
            }
        }
    })
}

/// A declared type and shape as messages show it: `float32 [batch, 4]` (`?` for an unnamed
/// free dimension): [`TensorSpec`]'s `Display`.
pub fn spec_string(spec: &TensorSpec) -> String {
    spec.to_string()
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
    use anh_primitives::{Dim, ElemType, TensorData};

    fn info(inputs: Vec<TensorSpec>) -> ModelInfo {
        ModelInfo {
            hash: B256::ZERO,
            size: 0,
            cost: anh_primitives::Cost::constant(0, 0),
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
