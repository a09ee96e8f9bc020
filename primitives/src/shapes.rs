//! Checks a call's input shapes against a model's declared inputs and binds the symbolic
//! dimensions.
//!
//! A symbolic dimension with a name (`batch`) takes the same size everywhere it appears; an
//! unnamed one takes any size. The sizes the call gives the symbols (in order of first
//! appearance: a named one once, each unnamed one on its own) are what the model's
//! [`crate::cost::Cost`] is evaluated at.

use crate::model::{Dim, TensorSpec};

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
/// [`bind`]'s checks accepted.
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

/// Why a call's shapes do not fit a model's declared inputs ([`bind`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    /// The call gives another number of inputs.
    #[error("{got} input(s), the model takes {expected}")]
    Count {
        /// Inputs the model declares.
        expected: usize,
        /// Inputs the call gives.
        got: usize,
    },
    /// An input has another rank.
    #[error("input {input}: rank {got}, the model declares rank {expected}")]
    Rank {
        /// The input.
        input: usize,
        /// The declared rank.
        expected: usize,
        /// The call's rank.
        got: usize,
    },
    /// A dimension is larger than ONNX Runtime's `i64` sizes allow.
    #[error("input {input} dimension {dim}: {size} is above {}", i64::MAX)]
    TooLarge {
        /// The input.
        input: usize,
        /// The dimension.
        dim: usize,
        /// Its size.
        size: u64,
    },
    /// A symbolic dimension of 0: the analysis saw sizes of at least 1, and a model's work
    /// need not vanish with an empty batch (a weight expanded to a fixed shape), so such a
    /// call is not priced.
    #[error("input {input} dimension {dim}: a symbolic dimension must be at least 1")]
    Empty {
        /// The input.
        input: usize,
        /// The dimension.
        dim: usize,
    },
    /// A fixed dimension has another size.
    #[error("input {input} dimension {dim}: {got}, the model declares {expected}")]
    Fixed {
        /// The input.
        input: usize,
        /// The dimension.
        dim: usize,
        /// The declared size.
        expected: u64,
        /// The call's size.
        got: u64,
    },
    /// A named symbol takes another size than where it was first bound.
    #[error(
        "input {input} dimension {dim}: {got}, but `{symbol}` is {bound} (bound by input \
         {first_input})"
    )]
    Symbol {
        /// The input.
        input: usize,
        /// The dimension.
        dim: usize,
        /// The symbol.
        symbol: String,
        /// The size it was bound to.
        bound: u64,
        /// The input that bound it.
        first_input: usize,
        /// The call's size.
        got: u64,
    },
}

impl ShapeError {
    /// The input the error is about (`None` for [`ShapeError::Count`]).
    pub const fn input(&self) -> Option<usize> {
        match self {
            Self::Count { .. } => None,
            Self::Rank { input, .. }
            | Self::TooLarge { input, .. }
            | Self::Empty { input, .. }
            | Self::Fixed { input, .. }
            | Self::Symbol { input, .. } => Some(*input),
        }
    }
}

/// Whether a symbolic dimension may be 0 ([`bind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmptyDims {
    /// The chain's rule: a call is priced at symbolic sizes of at least 1, so 0 is refused
    /// ([`ShapeError::Empty`]).
    Refused,
    /// ONNX Runtime's: an empty batch runs and gives empty outputs (the runtime's own checks).
    Allowed,
}

/// Checks `shapes` against `specs` and binds the symbols; returns their sizes, in order. The
/// one binder of the code base: the precompiles check a call with it before they ask an
/// oracle ([`EmptyDims::Refused`]), the runtime checks what reaches ONNX Runtime with it
/// ([`EmptyDims::Allowed`]). Per input, in order: the rank, then per dimension its size (at
/// most `i64::MAX`; a symbolic one at least 1 unless `empty` allows 0), a fixed dimension's
/// size, and a named symbol's size where an earlier use bound it.
pub fn bind<'a>(
    specs: &[TensorSpec],
    shapes: impl ExactSizeIterator<Item = &'a [u64]> + Clone,
    empty: EmptyDims,
) -> Result<Vec<u64>, ShapeError> {
    if specs.len() != shapes.len() {
        return Err(ShapeError::Count { expected: specs.len(), got: shapes.len() });
    }
    // Models have few symbolic dimensions: a short list beats a hash map.
    let mut bound: Vec<(&str, u64, usize)> = Vec::new();
    for (input, (spec, shape)) in specs.iter().zip(shapes.clone()).enumerate() {
        if spec.shape.len() != shape.len() {
            return Err(ShapeError::Rank { input, expected: spec.shape.len(), got: shape.len() });
        }
        for (dim, (declared, &size)) in spec.shape.iter().zip(shape).enumerate() {
            if i64::try_from(size).is_err() {
                return Err(ShapeError::TooLarge { input, dim, size });
            }
            match declared {
                Dim::Symbolic(_) if size == 0 && empty == EmptyDims::Refused => {
                    return Err(ShapeError::Empty { input, dim });
                }
                Dim::Fixed(n) if *n != size => {
                    return Err(ShapeError::Fixed { input, dim, expected: *n, got: size });
                }
                Dim::Symbolic(name) if !name.is_empty() => {
                    match bound.iter().find(|(n, ..)| *n == name.as_str()) {
                        Some(&(_, b, first_input)) if b != size => {
                            return Err(ShapeError::Symbol {
                                input,
                                dim,
                                symbol: name.clone(),
                                bound: b,
                                first_input,
                                got: size,
                            });
                        }
                        Some(_) => {}
                        None => bound.push((name, size, input)),
                    }
                }
                _ => {}
            }
        }
    }
    Ok(symbol_sizes(specs, shapes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::ElemType;

    fn spec(shape: Vec<Dim>) -> TensorSpec {
        TensorSpec { name: "x".into(), elem: ElemType::F32, shape }
    }

    fn bind_all(specs: &[TensorSpec], shapes: &[&[u64]]) -> Result<Vec<u64>, ShapeError> {
        bind(specs, shapes.iter().copied(), EmptyDims::Refused)
    }

    /// A symbolic dimension of 0 is refused (its work cannot be priced); a fixed one of 0
    /// is the model's own.
    #[test]
    fn zero_symbolic_dimensions_are_refused() {
        let specs = [spec(vec![Dim::Symbolic("batch".into()), Dim::Fixed(4)])];
        let e = bind_all(&specs, &[&[0, 4]]).unwrap_err();
        assert_eq!(e, ShapeError::Empty { input: 0, dim: 0 });
        assert_eq!(e.to_string(), "input 0 dimension 0: a symbolic dimension must be at least 1");
        assert_eq!(bind_all(&specs, &[&[1, 4]]), Ok(vec![1]));
        assert_eq!(bind(&specs, [&[0u64, 4][..]].into_iter(), EmptyDims::Allowed), Ok(vec![0]));
        let fixed = [spec(vec![Dim::Fixed(0), Dim::Fixed(4)])];
        assert_eq!(bind_all(&fixed, &[&[0, 4]]), Ok(vec![]));
    }

    /// A named symbol binds once across inputs and is one size; each unnamed one is its own.
    #[test]
    fn binding() {
        let b = || Dim::Symbolic("batch".into());
        let specs =
            vec![spec(vec![b(), Dim::Fixed(4)]), spec(vec![b(), Dim::Symbolic(String::new())])];
        assert_eq!(bind_all(&specs, &[&[8, 4], &[8, 3]]).unwrap(), vec![8, 3]);
        assert_eq!(symbols(&specs), 2);
        let unnamed = || Dim::Symbolic(String::new());
        let mixed = [spec(vec![unnamed(), b(), unnamed(), b()])];
        assert_eq!(symbols(&mixed), 3);
        assert_eq!(symbol_map(&mixed), (vec![vec![Some(0), Some(1), Some(2), Some(1)]], 3));
        assert_eq!(symbol_sizes(&mixed, [&[5u64, 6, 7, 6][..]]), vec![5, 6, 7]);
        assert_eq!(symbol_sizes(&mixed, std::iter::empty()), vec![1, 1, 1], "missing: 1");
        let err = bind_all(&specs, &[&[8, 4], &[9, 3]]).unwrap_err();
        assert_eq!(
            err,
            ShapeError::Symbol {
                input: 1,
                dim: 0,
                symbol: "batch".into(),
                bound: 8,
                first_input: 0,
                got: 9
            }
        );
        assert_eq!(err.to_string(), "input 1 dimension 0: 9, but `batch` is 8 (bound by input 0)");
        let err = bind_all(&specs, &[&[8, 5], &[8, 3]]).unwrap_err();
        assert_eq!(err, ShapeError::Fixed { input: 0, dim: 1, expected: 4, got: 5 });
        assert_eq!(bind_all(&specs, &[&[8, 4]]), Err(ShapeError::Count { expected: 2, got: 1 }));
        let err = bind_all(&specs[..1], &[&[8, 4, 1]]).unwrap_err();
        assert_eq!(err, ShapeError::Rank { input: 0, expected: 2, got: 3 });
        assert_eq!(err.input(), Some(0));
        let err = bind_all(&specs[..1], &[&[u64::MAX, 4]]).unwrap_err();
        assert_eq!(err, ShapeError::TooLarge { input: 0, dim: 0, size: u64::MAX });
    }
}
