//! Checks a call's input shapes against a model's declared inputs and binds the symbolic
//! dimensions.
//!
//! A symbolic dimension with a name (`batch`) takes the same size everywhere it appears; an
//! unnamed one takes any size. The sizes the call gives the symbols (in order of first
//! appearance: a named one once, each unnamed one on its own) are what the model's
//! [`crate::cost::Cost`] is evaluated at.

use crate::{
    dtype::Dtype,
    error::DnnError,
    model::{Dim, TensorSpec},
};

/// The number of symbols of `specs` (see the module docs).
pub fn symbols(specs: &[TensorSpec]) -> usize {
    symbol_sizes(specs, std::iter::empty()).len()
}

/// The sizes `shapes` give the symbols of `specs`, in order, without checks (a dimension a
/// shape lacks counts as 1): for inputs [`bind_shapes`] or the runtime's checks accepted.
pub fn symbol_sizes<'a>(
    specs: &[TensorSpec],
    shapes: impl IntoIterator<Item = &'a [u64]>,
) -> Vec<u64> {
    let mut shapes = shapes.into_iter();
    let mut named: Vec<&str> = Vec::new();
    let mut sizes = Vec::new();
    for spec in specs {
        let shape = shapes.next().unwrap_or_default();
        for (d, dim) in spec.shape.iter().enumerate() {
            let size = shape.get(d).copied().unwrap_or(1);
            match dim {
                Dim::Fixed(_) => {}
                Dim::Symbolic(name) if name.is_empty() => sizes.push(size),
                Dim::Symbolic(name) => {
                    if !named.contains(&name.as_str()) {
                        named.push(name);
                        sizes.push(size);
                    }
                }
            }
        }
    }
    sizes
}

/// Checks `shapes` (with the caller's dtypes, for messages) against `specs`; returns the
/// sizes of the symbols, in order.
pub fn bind_shapes(specs: &[TensorSpec], shapes: &[(&[u64], Dtype)]) -> Result<Vec<u64>, DnnError> {
    if specs.len() != shapes.len() {
        return Err(DnnError::WrongInputCount { expected: specs.len(), got: shapes.len() });
    }
    // Models have few symbolic dimensions: a short list beats a hash map.
    let mut bound: Vec<(&str, u64)> = Vec::new();
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
                // The analysis saw sizes of at least 1; a model's work need not vanish with an
                // empty batch (a weight expanded to a fixed shape): it is not priced.
                return Err(DnnError::InputMismatch {
                    input: i,
                    expected: format!("{spec} (symbolic dimensions of at least 1)"),
                    got: format!("{dtype} {shape:?}"),
                });
            }
            match dim {
                Dim::Fixed(n) if *n != size => return Err(mismatch()),
                Dim::Symbolic(name) if !name.is_empty() => {
                    match bound.iter().find(|(n, _)| *n == name.as_str()) {
                        Some(&(_, b)) if b != size => return Err(mismatch()),
                        Some(_) => {}
                        None => bound.push((name, size)),
                    }
                }
                _ => {}
            }
        }
    }
    Ok(symbol_sizes(specs, shapes.iter().map(|(shape, _)| *shape)))
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
        assert_eq!(bind_shapes(&specs, &[(&[1, 4], f32)]), Ok(vec![1]));
        let fixed = [spec(vec![Dim::Fixed(0), Dim::Fixed(4)])];
        assert_eq!(bind_shapes(&fixed, &[(&[0, 4], f32)]), Ok(vec![]));
    }

    /// A named symbol binds once across inputs and is one size; each unnamed one is its own.
    #[test]
    fn binding() {
        let b = || Dim::Symbolic("batch".into());
        let specs =
            vec![spec(vec![b(), Dim::Fixed(4)]), spec(vec![b(), Dim::Symbolic(String::new())])];
        let f = || Dtype::Elem(ElemType::F32);
        assert_eq!(bind_shapes(&specs, &[(&[8, 4], f()), (&[8, 3], f())]).unwrap(), vec![8, 3]);
        assert_eq!(symbols(&specs), 2);
        let unnamed = || Dim::Symbolic(String::new());
        assert_eq!(symbols(&[spec(vec![unnamed(), b(), unnamed(), b()])]), 3);
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
