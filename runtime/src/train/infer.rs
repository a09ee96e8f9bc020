//! Static shape inference for the ops the autodiff differentiates (and a few it meets on the
//! way), so that gradients know ranks, broadcast axes and spatial sizes. Unknown ops give
//! unknown shapes; the model's own `value_info` fills in where inference cannot.

use super::graph::{Attrs, D, Shape, broadcast};
use crate::onnx::NodeProto;
use std::collections::HashMap;

/// A sliding window (Conv, MaxPool, AveragePool) with its padding made explicit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Window {
    pub(crate) kernel: Vec<i64>,
    pub(crate) strides: Vec<i64>,
    pub(crate) dilations: Vec<i64>,
    pub(crate) pads_begin: Vec<i64>,
    pub(crate) pads_end: Vec<i64>,
    pub(crate) ceil: bool,
}

impl Window {
    /// The window of `node` over `spatial` input dims with `kernel`; `None` when `auto_pad`
    /// is `SAME_*` and a spatial size is unknown, or attributes do not fit the rank.
    pub(crate) fn of(node: &NodeProto, spatial: &[D], kernel: Vec<i64>) -> Option<Self> {
        let n = kernel.len();
        let list = |name: &str, default: i64| -> Option<Vec<i64>> {
            match node.ints(name) {
                Some(v) if !v.is_empty() => (v.len() == n).then(|| v.to_vec()),
                _ => Some(vec![default; n]),
            }
        };
        let strides = list("strides", 1)?;
        let dilations = list("dilations", 1)?;
        let max = super::grad::MAX_DIM;
        if spatial.len() != n
            || strides.iter().chain(&dilations).chain(&kernel).any(|&v| !(1..=max).contains(&v))
        {
            return None;
        }
        let (pads_begin, pads_end) = match node.string("auto_pad").as_deref() {
            None | Some("NOTSET" | "") => {
                let pads = match node.ints("pads") {
                    Some(p) if !p.is_empty() => p.to_vec(),
                    _ => vec![0; 2 * n],
                };
                if pads.len() != 2 * n || pads.iter().any(|&p| !(0..=max).contains(&p)) {
                    return None;
                }
                (pads[..n].to_vec(), pads[n..].to_vec())
            }
            Some("VALID") => (vec![0; n], vec![0; n]),
            Some(mode @ ("SAME_UPPER" | "SAME_LOWER")) => {
                let mut begin = Vec::with_capacity(n);
                let mut end = Vec::with_capacity(n);
                for i in 0..n {
                    let size = spatial[i].known().filter(|s| (1..=max).contains(s))?;
                    let out = (size + strides[i] - 1) / strides[i];
                    let total =
                        ((out - 1) * strides[i] + dilations[i] * (kernel[i] - 1) + 1 - size).max(0);
                    let small = total / 2;
                    let (b, e) = if mode == "SAME_UPPER" {
                        (small, total - small)
                    } else {
                        (total - small, small)
                    };
                    begin.push(b);
                    end.push(e);
                }
                (begin, end)
            }
            Some(_) => return None,
        };
        let ceil = node.int("ceil_mode", 0) != 0;
        Some(Self { kernel, strides, dilations, pads_begin, pads_end, ceil })
    }

    /// The output size along spatial axis `i` for input size `size` (computed wide, so
    /// that no attribute value can overflow it).
    pub(crate) fn out(&self, i: usize, size: i64) -> i64 {
        let w = |v: i64| i128::from(v);
        let span = w(size) + w(self.pads_begin[i]) + w(self.pads_end[i])
            - (w(self.dilations[i]) * (w(self.kernel[i]) - 1) + 1);
        let s = w(self.strides[i]);
        let out = if self.ceil {
            let mut out = (span + s - 1).div_euclid(s) + 1;
            // The last window must start inside the input or its leading padding.
            if (out - 1) * s >= w(size) + w(self.pads_begin[i]) {
                out -= 1;
            }
            out
        } else {
            span.div_euclid(s) + 1
        };
        i64::try_from(out).unwrap_or(i64::MIN)
    }

    /// The output spatial dims for input spatial dims `spatial`.
    pub(crate) fn out_dims(&self, spatial: &[D]) -> Vec<D> {
        spatial
            .iter()
            .enumerate()
            .map(|(i, d)| match d.known() {
                Some(size) if (0..=super::grad::MAX_DIM).contains(&size) => {
                    D::Known(self.out(i, size))
                }
                _ => D::Unknown,
            })
            .collect()
    }
}

/// What inference reads: the shapes known so far, the constant int64 tensors, and the
/// values of small int64 tensors computed from shapes (`Shape` → `Gather` → `Unsqueeze` →
/// `Concat`, as exporters write a reshape to `[batch, seq, heads, head]`), element by element
/// as far as known.
#[derive(Debug)]
pub(crate) struct Known<'a> {
    pub(crate) shapes: &'a HashMap<String, Shape>,
    pub(crate) consts: &'a HashMap<String, Vec<i64>>,
    pub(crate) values: &'a HashMap<String, Vec<D>>,
    pub(crate) opset: i64,
}

/// Longest shape-like value tracked (a shape tensor's length).
const MAX_VALUE_LEN: usize = 16;

impl Known<'_> {
    fn shape(&self, name: &str) -> Shape {
        self.shapes.get(name).cloned().flatten()
    }

    fn input(&self, node: &NodeProto, i: usize) -> Shape {
        node.input.get(i).and_then(|n| self.shape(n))
    }

    /// A constant int64 input of `node` (Reshape's shape, axes of opset 13+).
    fn const_input(&self, node: &NodeProto, i: usize) -> Option<&Vec<i64>> {
        node.input.get(i).filter(|n| !n.is_empty()).and_then(|n| self.consts.get(n))
    }

    /// The reduction axes of a Reduce* node (attribute, or input 1 from the opset where it
    /// moved there), normalised; `Some(empty)` means all axes; `None` when not constant.
    pub(crate) fn reduce_axes(&self, node: &NodeProto, rank: usize) -> Option<Vec<usize>> {
        let as_input = node.op_type == "ReduceSum" || self.opset >= 18;
        let axes: Vec<i64> = if as_input {
            match node.input.get(1).filter(|n| !n.is_empty()) {
                Some(_) => self.const_input(node, 1)?.clone(),
                None => Vec::new(),
            }
        } else {
            node.ints("axes").map(<[i64]>::to_vec).unwrap_or_default()
        };
        axes.iter().map(|&a| normalize(a, rank)).collect()
    }

    /// The value of an int64 input, element by element: a constant, or one computed from
    /// shapes.
    fn value_input(&self, node: &NodeProto, i: usize) -> Option<Vec<D>> {
        let name = node.input.get(i).filter(|n| !n.is_empty())?;
        match self.consts.get(name) {
            Some(c) if c.len() <= MAX_VALUE_LEN => Some(c.iter().map(|&v| D::Known(v)).collect()),
            Some(_) => None,
            None => self.values.get(name).cloned(),
        }
    }

    /// The value of `node`'s first output when it is shape arithmetic on known values:
    /// `Shape`, `Gather` of one element, `Unsqueeze`/`Squeeze`/`Identity`/`Cast` (same
    /// elements), `Concat` of 1-D values.
    pub(crate) fn value(&self, node: &NodeProto) -> Option<Vec<D>> {
        let v = match node.op_type.as_str() {
            "Shape" => {
                let s = self.input(node, 0)?;
                let rank = i64::try_from(s.len()).ok()?;
                let clamp = |v: i64| if v < 0 { (v + rank).max(0) } else { v.min(rank) };
                let start = clamp(node.int("start", 0)) as usize;
                let end = node.attr("end").map_or(rank, |a| clamp(a.i)) as usize;
                s.get(start..end.max(start))?.to_vec()
            }
            // A 1-D value (a shape, or a 1-D constant) read at one constant index.
            "Gather"
                if node.int("axis", 0) == 0
                    && node.input.first().is_some_and(|d| {
                        self.values.contains_key(d)
                            || self.input(node, 0).is_some_and(|s| s.len() == 1)
                    }) =>
            {
                let data = self.value_input(node, 0)?;
                let index = self.consts.get(node.input.get(1)?)?;
                let [i] = index.as_slice() else { return None };
                vec![data.get(normalize(*i, data.len())?)?.clone()]
            }
            // A Cast keeps the values only to int64 (narrower types may wrap them).
            "Unsqueeze" | "Squeeze" | "Identity" => self.value_input(node, 0)?,
            "Cast" if node.int("to", 0) == i64::from(super::graph::dt::INT64) => {
                self.value_input(node, 0)?
            }
            "Concat" => {
                let mut out = Vec::new();
                for i in 0..node.input.len() {
                    out.extend(self.value_input(node, i)?);
                    if out.len() > MAX_VALUE_LEN {
                        return None;
                    }
                }
                out
            }
            _ => return None,
        };
        (v.len() <= MAX_VALUE_LEN).then_some(v)
    }

    /// The shapes of `node`'s outputs (`None` where unknown).
    pub(crate) fn infer(&self, node: &NodeProto) -> Vec<Shape> {
        if node.op_type == "Split" {
            return self.split(node);
        }
        let first = self.infer_first(node);
        let mut out = vec![None; node.output.len()];
        if let Some(o) = out.first_mut() {
            *o = first.clone();
        }
        if node.op_type == "MaxPool"
            && let Some(o) = out.get_mut(1)
        {
            *o = first;
        }
        out
    }

    /// `Split`'s outputs: the input with the split axis cut to each part's size (from the
    /// `split` input, or equal parts of a known size).
    fn split(&self, node: &NodeProto) -> Vec<Shape> {
        let n = node.output.len();
        let Some(x) = self.input(node, 0) else { return vec![None; n] };
        let Some(axis) = normalize(node.int("axis", 0), x.len()) else { return vec![None; n] };
        let sizes: Vec<D> = match self.const_input(node, 1) {
            Some(split) if split.len() == n => split.iter().map(|&s| D::Known(s)).collect(),
            Some(_) => return vec![None; n],
            None => {
                let each = x[axis]
                    .known()
                    .filter(|&d| n > 0 && d % n as i64 == 0)
                    .map_or(D::Unknown, |d| D::Known(d / n as i64));
                vec![each; n]
            }
        };
        sizes
            .into_iter()
            .map(|d| {
                let mut s = x.clone();
                s[axis] = d;
                Some(s)
            })
            .collect()
    }

    fn infer_first(&self, node: &NodeProto) -> Shape {
        let x = self.input(node, 0);
        match node.op_type.as_str() {
            "Identity" | "Dropout" | "Relu" | "LeakyRelu" | "Sigmoid" | "Tanh" | "Softmax"
            | "LogSoftmax" | "Exp" | "Log" | "Neg" | "Abs" | "Sqrt" | "Erf" | "Cast" | "Elu"
            | "Softplus" | "Clip" | "Gelu" | "Reciprocal" | "LayerNormalization" | "Sin"
            | "Cos" | "Tan" | "Sinh" | "Cosh" | "Asin" | "Acos" | "Atan" | "Asinh" | "Acosh"
            | "Atanh" | "Floor" | "Ceil" | "Round" | "Sign" | "Softsign" | "Selu" | "Celu"
            | "Mish" | "HardSigmoid" | "HardSwish" | "Hardmax" | "Shrink" | "ThresholdedRelu"
            | "Not" | "IsNaN" | "IsInf" | "CastLike" | "Trilu" | "CumSum" => x,
            "ConstantOfShape" => Some(
                self.value_input(node, 0)?
                    .into_iter()
                    .map(|d| if d.known().is_some_and(|n| n < 0) { D::Unknown } else { d })
                    .collect(),
            ),
            "Range" => {
                let one = |i: usize| -> Option<D> {
                    let v = self.value_input(node, i)?;
                    (v.len() == 1).then(|| v[0].clone())
                };
                let n = match (one(0)?, one(1)?, one(2)?) {
                    (D::Known(s), D::Known(l), D::Known(d)) if d != 0 => {
                        let (s, l, d) = (i128::from(s), i128::from(l), i128::from(d));
                        let n = crate::analysis::cost::range_len(s, l, d);
                        i64::try_from(n).map_or(D::Unknown, D::Known)
                    }
                    // Positions: `Range(0, seq, 1)` has `seq` elements.
                    (D::Known(0), D::Sym(seq), D::Known(1)) => D::Sym(seq),
                    _ => D::Unknown,
                };
                Some(vec![n])
            }
            "Add" | "Sub" | "Mul" | "Div" | "Pow" | "Equal" | "Greater" | "Less"
            | "GreaterOrEqual" | "LessOrEqual" | "Mod" | "And" | "Or" | "Xor" | "PRelu" => {
                broadcast(&x, &self.input(node, 1))
            }
            "Max" | "Min" | "Sum" | "Mean" => {
                node.input.iter().skip(1).fold(x, |acc, i| broadcast(&acc, &self.shape(i)))
            }
            "Where" => broadcast(&broadcast(&x, &self.input(node, 1)), &self.input(node, 2)),
            "Gemm" => {
                let (a, b) = (x?, self.input(node, 1)?);
                if a.len() != 2 || b.len() != 2 {
                    return None;
                }
                let m = if node.int("transA", 0) != 0 { &a[1] } else { &a[0] };
                let n = if node.int("transB", 0) != 0 { &b[0] } else { &b[1] };
                Some(vec![m.clone(), n.clone()])
            }
            "MatMul" => {
                let (a, b) = (x?, self.input(node, 1)?);
                let (ra, rb) = (a.len(), b.len());
                if ra == 0 || rb == 0 {
                    return None;
                }
                let batch_a = Some(if ra >= 2 { a[..ra - 2].to_vec() } else { Vec::new() });
                let batch_b = Some(if rb >= 2 { b[..rb - 2].to_vec() } else { Vec::new() });
                let mut out = broadcast(&batch_a, &batch_b)?;
                if ra >= 2 {
                    out.push(a[ra - 2].clone());
                }
                if rb >= 2 {
                    out.push(b[rb - 1].clone());
                }
                Some(out)
            }
            "Reshape" => {
                let target = self.value_input(node, 1)?;
                let x = x.unwrap_or_default();
                let mut dims: Vec<D> = target
                    .iter()
                    .enumerate()
                    .map(|(i, t)| match t {
                        D::Known(0) if node.int("allowzero", 0) == 0 => {
                            x.get(i).cloned().unwrap_or(D::Unknown)
                        }
                        D::Known(-1) => D::Unknown,
                        D::Known(t) if *t < 0 => D::Unknown,
                        t => t.clone(),
                    })
                    .collect();
                // Resolve one -1 from a fully known input.
                let total = product(x.iter());
                let rest = product(dims.iter().filter(|d| **d != D::Unknown));
                if let (Some(total), Some(rest), Some(pos)) =
                    (total, rest, target.iter().position(|t| *t == D::Known(-1)))
                    && rest > 0
                {
                    dims[pos] = D::Known(total / rest);
                }
                Some(dims)
            }
            "Expand" => broadcast(&x, &self.value_input(node, 1)),
            "Gather" => {
                let (data, indices) = (x?, self.input(node, 1)?);
                let axis = normalize(node.int("axis", 0), data.len())?;
                let mut out = data[..axis].to_vec();
                out.extend(indices);
                out.extend_from_slice(&data[axis + 1..]);
                Some(out)
            }
            "Unsqueeze" | "Squeeze" => {
                let x = x?;
                let axes = match node.input.get(1).filter(|a| !a.is_empty()) {
                    Some(_) => self.const_input(node, 1)?.clone(),
                    None => node.ints("axes").map(<[i64]>::to_vec).unwrap_or_default(),
                };
                if node.op_type == "Squeeze" {
                    let axes: Vec<usize> =
                        axes.iter().map(|&a| normalize(a, x.len())).collect::<Option<_>>()?;
                    if axes.is_empty() {
                        // Every dimension of size 1 goes; unknown sizes leave the rank unknown.
                        return x
                            .into_iter()
                            .filter_map(|d| match d {
                                D::Known(1) => None,
                                D::Known(n) => Some(Some(D::Known(n))),
                                _ => Some(None),
                            })
                            .collect();
                    }
                    Some(
                        x.into_iter()
                            .enumerate()
                            .filter(|(i, _)| !axes.contains(i))
                            .map(|(_, d)| d)
                            .collect(),
                    )
                } else {
                    let rank = x.len() + axes.len();
                    let mut axes: Vec<usize> =
                        axes.iter().map(|&a| normalize(a, rank)).collect::<Option<_>>()?;
                    axes.sort_unstable();
                    let mut rest = x.into_iter();
                    (0..rank)
                        .map(|i| {
                            if axes.binary_search(&i).is_ok() {
                                Some(D::Known(1))
                            } else {
                                rest.next()
                            }
                        })
                        .collect()
                }
            }
            "Slice" => self.slice(node),
            "Flatten" => {
                let x = x?;
                let axis = normalize(node.int("axis", 1), x.len() + 1)?;
                let prod = |ds: &[D]| -> D {
                    match ds {
                        [one] => one.clone(),
                        _ => product(ds.iter()).map_or(D::Unknown, D::Known),
                    }
                };
                Some(vec![prod(&x[..axis]), prod(&x[axis..])])
            }
            "Transpose" => {
                let x = x?;
                match node.ints("perm") {
                    Some(p) if !p.is_empty() => p
                        .iter()
                        .map(|&i| usize::try_from(i).ok().and_then(|i| x.get(i).cloned()))
                        .collect(),
                    _ => Some(x.into_iter().rev().collect()),
                }
            }
            "Concat" => {
                let parts: Vec<Vec<D>> =
                    node.input.iter().map(|n| self.shape(n)).collect::<Option<_>>()?;
                let first = parts.first()?;
                let axis = normalize(node.int("axis", 0), first.len())?;
                let mut out = first.clone();
                out[axis] = parts
                    .iter()
                    .try_fold(0i64, |acc, p| acc.checked_add(p.get(axis)?.known()?))
                    .map_or(D::Unknown, D::Known);
                Some(out)
            }
            "Conv" | "MaxPool" | "AveragePool" => {
                let x = x?;
                if x.len() < 3 {
                    return None;
                }
                let (channels, kernel) = if node.op_type == "Conv" {
                    let w = self.input(node, 1)?;
                    let k = w.get(2..)?.iter().map(D::known).collect::<Option<Vec<_>>>()?;
                    (w.first()?.clone(), k)
                } else {
                    (x[1].clone(), node.ints("kernel_shape")?.to_vec())
                };
                let window = Window::of(node, &x[2..], kernel)?;
                let mut out = vec![x[0].clone(), channels];
                out.extend(window.out_dims(&x[2..]));
                Some(out)
            }
            "ReduceSum" | "ReduceMean" => {
                let x = x?;
                let axes = self.reduce_axes(node, x.len())?;
                let noop = node.int("noop_with_empty_axes", 0) != 0;
                if axes.is_empty() && noop {
                    return Some(x);
                }
                let keep = node.int("keepdims", 1) != 0;
                Some(
                    x.into_iter()
                        .enumerate()
                        .filter_map(|(i, d)| {
                            if axes.is_empty() || axes.contains(&i) {
                                keep.then_some(D::Known(1))
                            } else {
                                Some(d)
                            }
                        })
                        .collect(),
                )
            }
            _ => None,
        }
    }
}

impl Known<'_> {
    /// `Slice`'s output: the input's rank; an axis keeps its size when not sliced, gets its
    /// size when starts, ends and steps are constant and the size known, and takes a symbolic
    /// end's name when it is sliced from 0 with step 1 to that end (the "first `seq` rows of
    /// the position table" idiom: were the end past the table, the op combining the slice with
    /// a `seq`-long tensor would fail the forward pass).
    fn slice(&self, node: &NodeProto) -> Shape {
        let x = self.input(node, 0)?;
        let rank = x.len();
        let starts = self.value_input(node, 1)?;
        let ends = self.value_input(node, 2)?;
        let axes: Vec<usize> = match self.const_input(node, 3) {
            Some(a) => a.iter().map(|&a| normalize(a, rank)).collect::<Option<_>>()?,
            None if node.input.get(3).is_some_and(|a| !a.is_empty()) => {
                return Some(vec![D::Unknown; rank]);
            }
            None => (0..starts.len()).collect(),
        };
        let steps: Vec<i64> = match self.const_input(node, 4) {
            Some(s) => s.clone(),
            None if node.input.get(4).is_some_and(|a| !a.is_empty()) => {
                return Some(vec![D::Unknown; rank]);
            }
            None => vec![1; axes.len()],
        };
        if starts.len() != axes.len() || ends.len() != axes.len() || steps.len() != axes.len() {
            return None;
        }
        let mut out = x.clone();
        for (k, &axis) in axes.iter().enumerate() {
            out[axis] = match (&x[axis], &starts[k], &ends[k], steps[k]) {
                (D::Known(n), D::Known(s), D::Known(e), step) if step != 0 => {
                    D::Known(slice_len(*n, *s, *e, step))
                }
                (_, D::Known(0), D::Sym(end), 1) => D::Sym(end.clone()),
                _ => D::Unknown,
            };
        }
        Some(out)
    }
}

/// The length of `start..end` by `step` over a dimension of `n`, clamped as `Slice` does
/// (forward: both into `[0, n]`; backward: the start into `[0, n − 1]`, the end into
/// `[−1, n − 1]`); 0 for an empty (or impossible, negative) dimension.
fn slice_len(n: i64, start: i64, end: i64, step: i64) -> i64 {
    if n <= 0 {
        return 0;
    }
    let w = |v: i64| i128::from(v);
    let (n, step) = (w(n), w(step));
    let fix = |v: i64, lo: i128, hi: i128| {
        let v = if v < 0 { w(v) + n } else { w(v) };
        v.clamp(lo, hi)
    };
    let len = if step > 0 {
        let (s, e) = (fix(start, 0, n), fix(end, 0, n));
        (e - s + step - 1).div_euclid(step)
    } else {
        let (s, e) = (fix(start, 0, n - 1), fix(end, -1, n - 1));
        (s - e + (-step) - 1).div_euclid(-step)
    };
    i64::try_from(len.max(0)).unwrap_or(0)
}

/// `axis` in `0..rank` (negative counts from the end); `None` when out of range.
pub(crate) fn normalize(axis: i64, rank: usize) -> Option<usize> {
    let rank = i64::try_from(rank).ok()?;
    let a = if axis < 0 { axis + rank } else { axis };
    (0..rank).contains(&a).then_some(a as usize)
}

/// The product of known dims; `None` if one is unknown or it overflows.
fn product<'a>(dims: impl Iterator<Item = &'a D>) -> Option<i64> {
    dims.into_iter().try_fold(1i64, |acc, d| acc.checked_mul(d.known()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ONNX's Slice, element by element: the reference the closed form must equal.
    pub(crate) fn slice_reference(d: i64, start: i64, end: i64, step: i64) -> i64 {
        let norm = |v: i64| if v < 0 { v + d } else { v };
        let (mut i, e) = if step > 0 {
            (norm(start).clamp(0, d), norm(end).clamp(0, d))
        } else {
            (norm(start).clamp(0, (d - 1).max(0)), norm(end).clamp(-1, d - 1))
        };
        if d == 0 {
            return 0;
        }
        let mut n = 0;
        while (step > 0 && i < e) || (step < 0 && i > e) {
            n += 1;
            i += step;
        }
        n
    }

    /// `slice_len` is ONNX's Slice for every small case, 0 for an empty dimension (no panic
    /// backward), and no value is read from a 2-D constant or through a narrowing Cast.
    #[test]
    fn slice_len_and_values_follow_onnx() {
        for d in 0..5 {
            for start in -7..7 {
                for end in -7..7 {
                    for step in [-3, -2, -1, 1, 2, 3] {
                        assert_eq!(
                            slice_len(d, start, end, step),
                            slice_reference(d, start, end, step),
                            "d {d} start {start} end {end} step {step}"
                        );
                    }
                }
            }
        }
        assert_eq!(slice_len(-3, 0, 5, -1), 0);

        let shapes: HashMap<String, Shape> = [
            ("m".to_string(), Some(vec![D::Known(2), D::Known(2)])),
            ("v".to_string(), Some(vec![D::Known(4)])),
            ("i".to_string(), Some(vec![])),
        ]
        .into();
        let consts: HashMap<String, Vec<i64>> =
            [("m".into(), vec![2, 3, 4, 5]), ("v".into(), vec![2, 3, 4, 5]), ("i".into(), vec![1])]
                .into();
        let values = HashMap::new();
        let known = Known { shapes: &shapes, consts: &consts, values: &values, opset: 17 };
        let node = |op: &str, inputs: &[&str], to: Option<i64>| NodeProto {
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec!["out".into()],
            attribute: to.map(|t| super::super::graph::attr_int("to", t)).into_iter().collect(),
            ..Default::default()
        };
        assert_eq!(known.value(&node("Gather", &["v", "i"], None)), Some(vec![D::Known(3)]));
        assert_eq!(known.value(&node("Gather", &["m", "i"], None)), None, "a row, not a value");
        assert_eq!(known.value(&node("Cast", &["v"], Some(7))).map(|v| v.len()), Some(4));
        assert_eq!(known.value(&node("Cast", &["v"], Some(3))), None, "int8 may wrap");
    }
}
