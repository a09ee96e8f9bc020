//! A model's cost as a polynomial in its symbolic dimensions ([`anh_primitives::cost`]).
//!
//! The counting rules (`cost.rs`) give the MACs of one evaluation at given sizes of the
//! symbolic dimensions. The cost of real graphs is a polynomial in those sizes: products of
//! dimensions, summed over nodes (`x·xᵀ` is quadratic in the batch, attention quadratic in the
//! sequence, a weight that does not meet the batch a constant). [`model_cost`] finds it by
//! evaluation, which needs no symbolic algebra and reuses every counting rule as it is:
//!
//! 1. **Degrees.** For each symbol on its own (the others 1), the counts at sizes 1 to 5; the
//!    highest non-zero finite difference (up to the third) is its degree. A non-zero fourth
//!    difference refuses the model: its work grows faster than the cube of that dimension, or
//!    is not a polynomial in it at all.
//! 2. **Coefficients.** The counts on the grid `1 ..= d + 1` of every symbol (at most
//!    [`MAX_COEFFICIENTS`] points), turned into Newton's form by finite differences along each
//!    symbol in turn.
//! 3. **Check.** The polynomial must give the count at three further points where every symbol
//!    has the same size, beyond its grid (sizes up to 11), or the model is refused. Work that is
//!    not a polynomial in a size — a strided `Conv` or pooling over a symbolic height (a floor),
//!    a `Slice` clamped at a fixed length — shows up here.
//!
//! The analysis evaluates sizes the model may not accept: a dimension declared free (`?`) that
//! the graph needs to equal another or a fixed size counts a different graph there (a failed
//! broadcast falls back to the elements rule). Such a model is refused too: it declares sizes
//! its graph does not take, so its cost at the sizes a caller may send is not known; naming its
//! dimensions (equal ones alike) or fixing them is the remedy the message gives.
//!
//! A model without symbolic dimensions is counted once. At most `1 + 4·symbols + 64 + 3`
//! evaluations, each linear in the graph's nodes.

use super::{
    AnalysisError,
    cost::{Bound, graph_macs},
    proto::GraphProto,
};
use anh_primitives::{
    Dim, TensorSpec,
    cost::{Cost, MAX_COEFFICIENTS, MAX_DEGREE},
};

/// The symbols of a model's inputs, numbered as the chain numbers them
/// ([`anh_primitives::shapes::symbol_map`]).
struct Symbols<'a> {
    /// Per symbol: its name, or for an unnamed one the input and dimension it is.
    names: Vec<String>,
    /// Per input, per dimension: the symbol it is, if symbolic.
    of_dim: Vec<Vec<Option<usize>>>,
    inputs: &'a [TensorSpec],
}

impl<'a> Symbols<'a> {
    fn of(inputs: &'a [TensorSpec]) -> Self {
        let (of_dim, count) = anh_primitives::shapes::symbol_map(inputs);
        let mut names = vec![String::new(); count];
        for (spec, dims) in inputs.iter().zip(&of_dim) {
            for (d, (dim, symbol)) in spec.shape.iter().zip(dims).enumerate() {
                if let (Dim::Symbolic(name), Some(v)) = (dim, symbol)
                    && names[*v].is_empty()
                {
                    names[*v] = match name.is_empty() {
                        true => format!("? (input \"{}\", dimension {d})", spec.name),
                        false => format!("\"{name}\""),
                    };
                }
            }
        }
        Self { names, of_dim, inputs }
    }

    fn len(&self) -> usize {
        self.names.len()
    }

    /// The shapes and named sizes one evaluation at `sizes` sees.
    fn bind(&self, sizes: &[u64]) -> Bound {
        let mut bound = Bound::default();
        for (spec, dims) in self.inputs.iter().zip(&self.of_dim) {
            let shape = spec
                .shape
                .iter()
                .zip(dims)
                .map(|(dim, symbol)| match (dim, symbol) {
                    (Dim::Fixed(n), _) => *n,
                    (Dim::Symbolic(name), Some(v)) => {
                        if !name.is_empty() {
                            bound.named.insert(name.clone(), sizes[*v]);
                        }
                        sizes[*v]
                    }
                    (Dim::Symbolic(_), None) => 1,
                })
                .collect();
            bound.inputs.insert(spec.name.clone(), shape);
        }
        bound
    }
}

/// The cost of `graph`, whose inputs (initializers excluded) are `inputs`, as a polynomial in
/// their symbolic dimensions (see the module docs).
pub(crate) fn model_cost(graph: &GraphProto, inputs: &[TensorSpec]) -> Result<Cost, AnalysisError> {
    let symbols = Symbols::of(inputs);
    let k = symbols.len();
    let eval = |sizes: &[u64]| -> Result<i128, AnalysisError> {
        graph_macs(graph, &symbols.bind(sizes)).map(i128::from)
    };
    let not_polynomial = |names: &[&String]| AnalysisError::Unpriceable {
        node: "the model".into(),
        reason: format!(
            "its work is not a polynomial of degree at most {MAX_DEGREE} in its symbolic \
             dimension{} {} (a strided Conv or pooling over a symbolic size, work clamped at a \
             fixed length, or a dimension declared free that the graph needs equal to another \
             or to a fixed size does that; name equal dimensions alike and fix the others)",
            if names.len() == 1 { "" } else { "s" },
            names.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(", ")
        ),
    };

    let ones = vec![1u64; k];
    let at_ones = eval(&ones)?;
    if k == 0 {
        return Cost::new(Vec::new(), vec![at_ones]).map_err(|_| AnalysisError::CostOverflow);
    }

    // 1. Degrees, one symbol at a time.
    let mut degrees = Vec::with_capacity(k);
    for v in 0..k {
        let mut values = [at_ones, 0, 0, 0, 0];
        for (x, value) in values.iter_mut().enumerate().skip(1) {
            let mut sizes = ones.clone();
            sizes[v] = x as u64 + 1;
            *value = eval(&sizes)?;
        }
        let diffs = newton(values.to_vec());
        if diffs[4] != 0 {
            return Err(not_polynomial(&[&symbols.names[v]]));
        }
        degrees.push((1..=3).rev().find(|&j| diffs[j] != 0).unwrap_or(0) as u8);
    }
    let points: usize = degrees.iter().map(|&d| usize::from(d) + 1).product();
    if points > MAX_COEFFICIENTS {
        return Err(AnalysisError::Unpriceable {
            node: "the model".into(),
            reason: format!(
                "its work grows with {} symbolic dimensions at once ({points} coefficients, at \
                 most {MAX_COEFFICIENTS}); give some of them a fixed size",
                degrees.iter().filter(|&&d| d > 0).count()
            ),
        });
    }

    // 2. The grid, row-major (last symbol fastest), then differences along each symbol.
    let mut grid = Vec::with_capacity(points);
    let mut index = vec![0u64; k];
    for _ in 0..points {
        let sizes: Vec<u64> = index.iter().map(|&i| i + 1).collect();
        grid.push(eval(&sizes)?);
        for v in (0..k).rev() {
            index[v] += 1;
            if index[v] <= u64::from(degrees[v]) {
                break;
            }
            index[v] = 0;
        }
    }
    let mut stride = 1usize;
    for v in (0..k).rev() {
        let len = usize::from(degrees[v]) + 1;
        let block = stride * len;
        for start in (0..points).step_by(block) {
            for offset in 0..stride {
                let line = newton((0..len).map(|i| grid[start + offset + i * stride]).collect());
                for (i, c) in line.into_iter().enumerate() {
                    grid[start + offset + i * stride] = c;
                }
            }
        }
        stride = block;
    }
    let cost = Cost::new(degrees.clone(), grid).map_err(|_| AnalysisError::CostOverflow)?;

    // 3. The check, beyond the grid: every symbol the same size (symbols a graph needs equal,
    // like two unnamed batch dimensions that meet in a broadcast, stay valid).
    let top = u64::from(degrees.iter().copied().max().unwrap_or(0));
    for t in 0..3u64 {
        let sizes = vec![top + 2 + 3 * t; k];
        let counted = eval(&sizes)?;
        if cost.macs_at(&sizes).map(i128::from) != Some(counted) {
            let growing: Vec<&String> = degrees
                .iter()
                .zip(&symbols.names)
                .filter(|(d, _)| **d > 0)
                .map(|(_, n)| n)
                .collect();
            let all: Vec<&String> = symbols.names.iter().collect();
            return Err(not_polynomial(if growing.is_empty() { &all } else { &growing }));
        }
    }
    Ok(cost)
}

/// The forward differences at 1 of `values` (at sizes 1, 2, …): Newton's coefficients.
fn newton(mut values: Vec<i128>) -> Vec<i128> {
    for j in 1..values.len() {
        for i in (j..values.len()).rev() {
            values[i] -= values[i - 1];
        }
    }
    values
}
