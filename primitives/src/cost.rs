//! A model's work as a function of the sizes a call gives its symbolic dimensions.
//!
//! Model analysis (in the runtime crate) counts the multiply-accumulates (MACs) of one
//! evaluation by propagating shapes through the graph. It does so at several sizes of the
//! symbolic dimensions and records the result as a polynomial, so that the gas of a call is the
//! work of the call's own shapes — every dimension, work that grows faster than linearly
//! (`x·xᵀ`, attention over a sequence), and work that does not grow with the batch at all —
//! computed from chain state and calldata only, in a few multiplications.
//!
//! # The symbols
//!
//! The symbols are the model inputs' symbolic dimensions in order of first appearance (inputs
//! in graph order, dimensions left to right): a named one (`batch`) once, however often it
//! appears; each unnamed one on its own. [`crate::shapes::bind`] returns the sizes a
//! call gives them, in that order.
//!
//! # The polynomial
//!
//! With `s` the sizes, `d` the degree in each symbol (at most [`MAX_DEGREE`]) and `c` the
//! coefficients over the grid `j ∈ [0, d₀] × [0, d₁] × …` (row-major: the last symbol varies
//! fastest):
//!
//! ```text
//! MACs(s) = Σⱼ cⱼ · Πᵥ C(sᵥ − 1, jᵥ)          C(n, k): binomial coefficient
//! ```
//!
//! This is Newton's form of the polynomial through the analysis' counts at the sizes
//! `1 ..= d + 1`: `c₀` is the count with every symbol 1 (one sample, [`Cost::macs`]), `c` with
//! `jᵥ = 1` the first difference along `sᵥ`, and so on. Coefficients are integers (possibly
//! negative), and so is every value, so evaluation is exact. A model whose cost is a constant
//! has no symbols of positive degree and one coefficient.

use serde::{Deserialize, Serialize};

/// Highest degree in one symbol (cubic: three chained products over one dimension).
pub const MAX_DEGREE: u8 = 3;

/// Most coefficients a cost may have (`Π (dᵥ + 1)`).
pub const MAX_COEFFICIENTS: usize = 64;

/// A model's MACs as a polynomial in its symbolic dimensions (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cost {
    degrees: Vec<u8>,
    coefficients: Vec<i128>,
}

impl Cost {
    /// A cost that does not depend on the shapes: `macs` for a model with `symbols` symbolic
    /// dimensions.
    pub fn constant(symbols: usize, macs: u64) -> Self {
        Self { degrees: vec![0; symbols], coefficients: vec![i128::from(macs)] }
    }

    /// A cost from its degrees and coefficients (see the module docs), checked: a degree above
    /// [`MAX_DEGREE`], more than [`MAX_COEFFICIENTS`] coefficients, a count that does not
    /// match the degrees, or a negative count for one sample is an error.
    pub fn new(degrees: Vec<u8>, coefficients: Vec<i128>) -> Result<Self, String> {
        if let Some(d) = degrees.iter().find(|&&d| d > MAX_DEGREE) {
            return Err(format!("cost has degree {d}, more than {MAX_DEGREE}"));
        }
        let mut expected = 1usize;
        for &d in &degrees {
            expected = expected.saturating_mul(usize::from(d) + 1);
        }
        if expected > MAX_COEFFICIENTS {
            return Err(format!("cost has {expected} coefficients, more than {MAX_COEFFICIENTS}"));
        }
        if coefficients.len() != expected {
            return Err(format!(
                "cost has {} coefficients, its degrees need {expected}",
                coefficients.len()
            ));
        }
        if u64::try_from(coefficients[0]).is_err() {
            return Err(format!("cost of one sample is {}, not a MAC count", coefficients[0]));
        }
        Ok(Self { degrees, coefficients })
    }

    /// Degree in each symbol.
    pub fn degrees(&self) -> &[u8] {
        &self.degrees
    }

    /// Newton coefficients, row-major over the degrees' grid.
    pub fn coefficients(&self) -> &[i128] {
        &self.coefficients
    }

    /// MACs with every symbolic dimension 1 (one sample).
    pub fn macs(&self) -> u64 {
        // `new` checked that it fits.
        u64::try_from(self.coefficients[0]).unwrap_or(u64::MAX)
    }

    /// MACs of a call whose symbolic dimensions have `sizes` (in symbol order; missing sizes
    /// count as 1), or `None` if the count does not fit in `u64` (the call cannot be paid
    /// for). A polynomial that dips below zero at sizes the analysis never saw counts 0 there.
    pub fn macs_at(&self, sizes: &[u64]) -> Option<u64> {
        // C(s − 1, j) for j = 0..=d, per symbol.
        let mut binomials: Vec<[i128; MAX_DEGREE as usize + 1]> =
            Vec::with_capacity(self.degrees.len());
        for (v, &d) in self.degrees.iter().enumerate() {
            let n = i128::from(sizes.get(v).copied().unwrap_or(1).max(1) - 1);
            let mut row = [0i128; MAX_DEGREE as usize + 1];
            row[0] = 1;
            for j in 1..=usize::from(d) {
                // C(n, j) = C(n, j − 1) · (n − j + 1) / j, exact at every step.
                row[j] = row[j - 1].checked_mul(n - j as i128 + 1)? / j as i128;
            }
            binomials.push(row);
        }
        let mut total = 0i128;
        let mut index = vec![0usize; self.degrees.len()];
        for &c in &self.coefficients {
            if c != 0 {
                let mut term = c;
                for (v, &j) in index.iter().enumerate() {
                    term = term.checked_mul(binomials[v][j])?;
                }
                total = total.checked_add(term)?;
            }
            // The next grid index, last symbol fastest.
            for v in (0..index.len()).rev() {
                index[v] += 1;
                if index[v] <= usize::from(self.degrees[v]) {
                    break;
                }
                index[v] = 0;
            }
        }
        u64::try_from(total.max(0)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A constant cost is the same at every size.
    #[test]
    fn constant() {
        let c = Cost::constant(2, 147);
        assert_eq!(c.macs(), 147);
        assert_eq!(c.macs_at(&[1, 1]), Some(147));
        assert_eq!(c.macs_at(&[1000, 7]), Some(147));
    }

    /// Worked answers: linear in a batch, quadratic in a sequence, with a fixed part.
    #[test]
    fn known_answers() {
        // 5 + 3·b: at b = 1, 8; first difference 3.
        let linear = Cost::new(vec![1], vec![8, 3]).unwrap();
        assert_eq!(linear.macs_at(&[1]), Some(8));
        assert_eq!(linear.macs_at(&[32]), Some(5 + 3 * 32));
        // s² + 10: values 11, 14, 19 at s = 1, 2, 3 → Newton 11, 3, 2.
        let quadratic = Cost::new(vec![2], vec![11, 3, 2]).unwrap();
        for s in [1u64, 2, 3, 4, 100, 4096] {
            assert_eq!(quadratic.macs_at(&[s]), Some(s * s + 10), "s = {s}");
        }
        // b·s² (degrees 1, 2), grid row-major: c[jb][js].
        // f(b, s) = b s²: Newton along s at b = 1: 1, 3, 2; the b-difference is the same.
        let attention = Cost::new(vec![1, 2], vec![1, 3, 2, 1, 3, 2]).unwrap();
        for (b, s) in [(1u64, 1u64), (2, 3), (8, 128), (3, 1)] {
            assert_eq!(attention.macs_at(&[b, s]), Some(b * s * s), "b = {b}, s = {s}");
        }
        // n(n + 1)/2 has integer Newton coefficients: 1, 2, 1.
        let triangle = Cost::new(vec![2], vec![1, 2, 1]).unwrap();
        assert_eq!(triangle.macs_at(&[10]), Some(55));
    }

    /// Overflow is `None` (out of gas), a negative extrapolation is 0.
    #[test]
    fn overflow_and_negative() {
        let cubic = Cost::new(vec![3], vec![1, 1, 1, i128::from(u64::MAX)]).unwrap();
        assert_eq!(cubic.macs_at(&[u64::MAX]), None);
        assert_eq!(cubic.macs_at(&[1 << 20]), None);
        let falling = Cost::new(vec![1], vec![10, -20]).unwrap();
        assert_eq!(falling.macs_at(&[1]), Some(10));
        assert_eq!(falling.macs_at(&[5]), Some(0));
    }

    /// Malformed costs (from a corrupt record) are refused with a reason.
    #[test]
    fn malformed() {
        assert_eq!(Cost::new(vec![4], vec![0; 5]).unwrap_err(), "cost has degree 4, more than 3");
        assert_eq!(
            Cost::new(vec![1, 1], vec![1, 2, 3]).unwrap_err(),
            "cost has 3 coefficients, its degrees need 4"
        );
        assert_eq!(
            Cost::new(vec![3, 3, 3, 3], vec![0; 256]).unwrap_err(),
            "cost has 256 coefficients, more than 64"
        );
        assert_eq!(
            Cost::new(vec![], vec![-1]).unwrap_err(),
            "cost of one sample is -1, not a MAC count"
        );
        assert_eq!(
            Cost::new(vec![], vec![]).unwrap_err(),
            "cost has 0 coefficients, its degrees need 1"
        );
    }
}
