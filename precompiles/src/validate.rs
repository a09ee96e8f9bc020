//! Checks a call's input shapes against a model's declared inputs and binds the symbolic
//! dimensions.
//!
//! A symbolic dimension with a name (`batch`) takes the same size everywhere it appears; an
//! unnamed one takes any size. The product of the sizes given to symbolic dimensions (each
//! named one counted once) is the call's cost multiplier: the model's cost was recorded with
//! every symbolic dimension set to 1.

use crate::{
    dtype::Dtype,
    error::DnnError,
    model::{Dim, TensorSpec},
};

/// Checks `shapes` (with the caller's dtypes, for messages) against `specs`; returns the cost
/// multiplier.
pub fn bind_shapes(specs: &[TensorSpec], shapes: &[(&[u64], Dtype)]) -> Result<u64, DnnError> {
    if specs.len() != shapes.len() {
        return Err(DnnError::WrongInputCount { expected: specs.len(), got: shapes.len() });
    }
    // Models have few symbolic dimensions: a short list beats a hash map.
    let mut bound: Vec<(&str, u64)> = Vec::new();
    let mut multiplier = 1u64;
    for (i, (spec, (shape, dtype))) in specs.iter().zip(shapes).enumerate() {
        let mismatch = || DnnError::InputMismatch {
            input: i,
            expected: spec.to_string(),
            got: format!("{dtype} {shape:?}"),
        };
        if spec.shape.len() != shape.len() {
            return Err(mismatch());
        }
        for (dim, &size) in spec.shape.iter().zip(shape.iter()) {
            if size == 0 && matches!(dim, Dim::Symbolic(_)) {
                // Gas scales with the symbolic sizes, but a model's work need not vanish with
                // them (a weight expanded to a fixed shape): an empty batch cannot be priced.
                return Err(DnnError::InputMismatch {
                    input: i,
                    expected: format!("{spec} (symbolic dimensions of at least 1)"),
                    got: format!("{dtype} {shape:?}"),
                });
            }
            match dim {
                Dim::Fixed(n) if *n != size => return Err(mismatch()),
                Dim::Fixed(_) => {}
                Dim::Symbolic(name) if name.is_empty() => {
                    multiplier = multiplier.saturating_mul(size)
                }
                Dim::Symbolic(name) => match bound.iter().find(|(n, _)| *n == name.as_str()) {
                    Some(&(_, b)) if b != size => return Err(mismatch()),
                    Some(_) => {}
                    None => {
                        bound.push((name, size));
                        multiplier = multiplier.saturating_mul(size);
                    }
                },
            }
        }
    }
    Ok(multiplier)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::ElemType;

    fn spec(shape: Vec<Dim>) -> TensorSpec {
        TensorSpec { name: "x".into(), elem: ElemType::F32, shape }
    }

    /// A symbolic dimension of 0 is refused (its work cannot be priced); a fixed one of 0
    /// is the model's own.
    #[test]
    fn zero_symbolic_dimensions_are_refused() {
        let specs = [spec(vec![Dim::Symbolic("batch".into()), Dim::Fixed(4)])];
        let f32 = Dtype::Elem(ElemType::F32);
        let e = bind_shapes(&specs, &[(&[0, 4], f32)]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "InputMismatch: input 0: expected float32 [batch, 4] (symbolic dimensions of at \
             least 1), got float32 [0, 4]"
        );
        assert_eq!(bind_shapes(&specs, &[(&[1, 4], f32)]), Ok(1));
        let fixed = [spec(vec![Dim::Fixed(0), Dim::Fixed(4)])];
        assert_eq!(bind_shapes(&fixed, &[(&[0, 4], f32)]), Ok(1));
    }

    /// A named symbol binds once across inputs and multiplies the cost once.
    #[test]
    fn binding() {
        let b = || Dim::Symbolic("batch".into());
        let specs =
            vec![spec(vec![b(), Dim::Fixed(4)]), spec(vec![b(), Dim::Symbolic(String::new())])];
        let f = || Dtype::Elem(ElemType::F32);
        assert_eq!(bind_shapes(&specs, &[(&[8, 4], f()), (&[8, 3], f())]).unwrap(), 24);
        let err = bind_shapes(&specs, &[(&[8, 4], f()), (&[9, 3], f())]).unwrap_err();
        assert_eq!(
            err,
            DnnError::InputMismatch {
                input: 1,
                expected: "float32 [batch, ?]".into(),
                got: "float32 [9, 3]".into()
            }
        );
        let err = bind_shapes(&specs, &[(&[8, 5], f()), (&[8, 3], f())]).unwrap_err();
        assert!(matches!(err, DnnError::InputMismatch { input: 0, .. }));
        assert_eq!(
            bind_shapes(&specs, &[(&[8, 4], f())]),
            Err(DnnError::WrongInputCount { expected: 2, got: 1 })
        );
        let err = bind_shapes(&specs[..1], &[(&[8, 4, 1], f())]).unwrap_err();
        assert!(matches!(err, DnnError::InputMismatch { .. }));
    }
}
