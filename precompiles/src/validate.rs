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

/// The symbols of `specs` (see the module docs): per input, per dimension, the symbol it is
/// (`None` for a fixed size), and how many symbols there are. The one numbering of symbols:
/// the chain evaluates a model's cost in it ([`symbol_sizes`]), and the analysis that fits the
/// cost uses it too, so the two cannot disagree.
pub fn symbol_map(specs: &[TensorSpec]) -> (Vec<Vec<Option<usize>>>, usize) {
    let mut named: Vec<(&str, usize)> = Vec::new();
    let mut count = 0;
    let map = specs
        .iter()
        .map(|spec| {
            spec.shape
                .iter()
                .map(|dim| match dim {
                    Dim::Fixed(_) => None,
                    Dim::Symbolic(name) if name.is_empty() => {
                        count += 1;
                        Some(count - 1)
                    }
                    Dim::Symbolic(name) => {
                        Some(match named.iter().find(|(n, _)| *n == name.as_str()) {
                            Some(&(_, v)) => v,
                            None => {
                                named.push((name, count));
                                count += 1;
                                count - 1
                            }
                        })
                    }
                })
                .collect()
        })
        .collect();
    (map, count)
}

/// The number of symbols of `specs` (see the module docs).
pub fn symbols(specs: &[TensorSpec]) -> usize {
    symbol_map(specs).1
}

/// The sizes `shapes` give the symbols of `specs`, in order, without checks (a dimension a
/// shape lacks counts as 1; a named symbol takes its first dimension's size): for inputs
/// [`bind_shapes`] or the runtime's checks accepted.
pub fn symbol_sizes<'a>(
    specs: &[TensorSpec],
    shapes: impl IntoIterator<Item = &'a [u64]>,
) -> Vec<u64> {
    let (map, count) = symbol_map(specs);
    let mut sizes: Vec<Option<u64>> = vec![None; count];
    let mut shapes = shapes.into_iter();
    for dims in &map {
        let shape = shapes.next().unwrap_or_default();
        for (d, symbol) in dims.iter().enumerate() {
            if let Some(v) = *symbol {
                sizes[v].get_or_insert(shape.get(d).copied().unwrap_or(1));
            }
        }
    }
    sizes.into_iter().map(|s| s.unwrap_or(1)).collect()
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
        let mixed = [spec(vec![unnamed(), b(), unnamed(), b()])];
        assert_eq!(symbols(&mixed), 3);
        assert_eq!(symbol_map(&mixed), (vec![vec![Some(0), Some(1), Some(2), Some(1)]], 3));
        assert_eq!(symbol_sizes(&mixed, [&[5u64, 6, 7, 6][..]]), vec![5, 6, 7]);
        assert_eq!(symbol_sizes(&mixed, std::iter::empty()), vec![1, 1, 1], "missing: 1");
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
