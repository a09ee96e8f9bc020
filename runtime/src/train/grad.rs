//! One gradient function per op family: given a forward node and the gradient of its first
//! output, emit the nodes that compute the gradients of the inputs asked for.

use super::{
    graph::{
        Attrs, D, GraphBuilder, attr_float, attr_int, attr_ints, attr_str, attr_tensor, dt,
        float_tensor, node_label,
    },
    infer::{Window, normalize},
};
use crate::{
    error::{Result, RuntimeError},
    onnx::{NodeProto, TensorProto},
};

/// Which inputs of an op carry gradients.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Diff {
    /// The first `n` inputs.
    First(usize),
    /// All inputs.
    All,
    /// The inputs listed.
    Only(&'static [usize]),
}

impl Diff {
    pub(crate) fn has(self, i: usize) -> bool {
        match self {
            Self::First(n) => i < n,
            Self::All => true,
            Self::Only(inputs) => inputs.contains(&i),
        }
    }
}

/// The ops with gradients, and which of their inputs are differentiable; `None` for the rest.
pub(crate) fn differentiable(op: &str) -> Option<Diff> {
    Some(match op {
        "Gemm" | "Conv" | "LayerNormalization" => Diff::First(3),
        "MatMul" | "Add" | "Sub" | "Mul" | "Div" | "Pow" => Diff::First(2),
        "Relu" | "LeakyRelu" | "Sigmoid" | "Tanh" | "Softmax" | "LogSoftmax" | "Reshape"
        | "Flatten" | "Transpose" | "MaxPool" | "AveragePool" | "ReduceMean" | "ReduceSum"
        | "Identity" | "Dropout" | "Neg" | "Sqrt" | "Exp" | "Log" | "Reciprocal" | "Erf"
        | "Gelu" | "Cast" | "Squeeze" | "Unsqueeze" | "Expand" | "Gather" | "Slice" | "Split" => {
            Diff::First(1)
        }
        "Concat" => Diff::All,
        // The condition is boolean: only the two branches carry gradients.
        "Where" => Diff::Only(&[1, 2]),
        _ => return None,
    })
}

/// Refuses what a supported op's gradient does not cover (before anything is emitted).
pub(crate) fn check_supported(node: &NodeProto) -> Result<()> {
    let refuse = |detail: String| RuntimeError::NoGradient {
        op: node.op_type.clone(),
        node: node_label(node),
        detail,
    };
    if !node.domain.is_empty() && node.domain != "ai.onnx" {
        return Err(refuse(format!("of domain \"{}\" has no gradient in ANH", node.domain)));
    }
    if differentiable(&node.op_type).is_none() {
        return Err(refuse("has no gradient in ANH".into()));
    }
    let arity = match node.op_type.as_str() {
        "Gemm" | "MatMul" | "Add" | "Sub" | "Mul" | "Div" | "Conv" | "Reshape" | "Pow"
        | "Expand" | "Gather" | "LayerNormalization" => 2,
        "Slice" | "Where" => 3,
        _ => 1,
    };
    if node.input.len() < arity
        || node.input[..arity].iter().any(String::is_empty)
        || node.output.first().is_none_or(String::is_empty)
    {
        return Err(refuse(format!("has fewer than {arity} input(s) or no output")));
    }
    match node.op_type.as_str() {
        "Dropout" if node.input.get(2).is_some_and(|t| !t.is_empty()) => {
            Err(refuse("has no gradient in ANH in training mode (its training_mode input)".into()))
        }
        "Conv" if node.int("group", 1) != 1 => {
            Err(refuse("has no gradient in ANH with group != 1".into()))
        }
        "MaxPool" if node.int("storage_order", 0) != 0 => {
            Err(refuse("has no gradient in ANH with storage_order = 1".into()))
        }
        "AveragePool" if node.int("ceil_mode", 0) != 0 => {
            Err(refuse("has no gradient in ANH with ceil_mode = 1".into()))
        }
        "AveragePool" if node.ints("dilations").is_some_and(|d| d.iter().any(|&d| d != 1)) => {
            Err(refuse("has no gradient in ANH with dilations".into()))
        }
        "Gelu"
            if !matches!(node.string("approximate").as_deref(), None | Some("none" | "tanh")) =>
        {
            Err(refuse("has an approximate attribute other than \"none\" or \"tanh\"".into()))
        }
        "Split" if node.output.iter().any(String::is_empty) => {
            Err(refuse("has an unnamed output".into()))
        }
        _ => Ok(()),
    }
}

/// The opset a gradient of `op` needs the step graph to have (`ScatterElements` and
/// `ScatterND` with `reduction="add"` arrived in opset 16).
pub(crate) fn opset_needed(op: &str) -> i64 {
    match op {
        "MaxPool" | "Gather" => 16,
        _ => 0,
    }
}

/// The gradients of `node`'s inputs (`None` where not needed) given `gs`, the gradients of
/// its outputs (`None` for an output off every path to the loss). Only `Split` reads more
/// than the first; the others take none when their first output has none. `need[i]` says
/// whether input `i` needs one.
pub(crate) fn gradient(
    b: &mut GraphBuilder,
    node: &NodeProto,
    gs: &[Option<String>],
    need: &[bool],
) -> Result<Vec<Option<String>>> {
    let x = |i: usize| node.input[i].as_str();
    let y = node.output[0].as_str();
    let n = node.input.len();
    let wants = |i: usize| need.get(i).copied().unwrap_or(false);
    let mut out: Vec<Option<String>> = vec![None; n];
    let op = node.op_type.as_str();
    if op == "Split" {
        if wants(0) {
            out[0] = Some(split(b, node, gs));
        }
        return Ok(out);
    }
    let Some(g) = gs.first().cloned().flatten() else { return Ok(out) };
    let g = g.as_str();
    match op {
        // Every Cast on a path from a weight casts to the weights' type (else refused below),
        // so its input has that type too: the gradient passes through.
        "Identity" | "Dropout" | "Cast" => {
            if op == "Cast" && node.int("to", 0) != i64::from(b.elem) {
                return Err(RuntimeError::NoGradient {
                    op: op.to_owned(),
                    node: node_label(node),
                    detail: format!(
                        "casts to {}: ANH differentiates only through values of the model's \
                         float type ({})",
                        crate::onnx::data_type::name(node.int("to", 0) as i32),
                        crate::onnx::data_type::name(b.elem)
                    ),
                });
            }
            out[0] = Some(g.to_owned());
        }
        "Neg" => out[0] = Some(like(b, "Neg", &[g], y)),
        "Exp" => out[0] = Some(like(b, "Mul", &[g, y], y)),
        "Log" => out[0] = Some(like(b, "Div", &[g, x(0)], y)),
        "Reciprocal" => {
            // d(1/x)/dx = −1/x² = −y²
            let sq = like(b, "Mul", &[y, y], y);
            let p = like(b, "Mul", &[g, &sq], y);
            out[0] = Some(like(b, "Neg", &[&p], y));
        }
        "Sqrt" => {
            // d√x/dx = 1 / (2√x)
            let half = b.scalar(0.5);
            let q = like(b, "Div", &[g, y], y);
            out[0] = Some(like(b, "Mul", &[&q, &half], y));
        }
        "Erf" => {
            // d erf(x)/dx = 2/√π · exp(−x²)
            let d = erf_slope(b, x(0), 1.0, std::f64::consts::FRAC_2_SQRT_PI);
            out[0] = Some(like(b, "Mul", &[g, &d], y));
        }
        "Gelu" => out[0] = Some(gelu(b, node, g)),
        "Pow" => {
            // The exponent may be an integer tensor: in the graph's float type.
            let e = b.cast(x(1), b.elem);
            let zero = b.scalar(0.0);
            if wants(0) {
                // d aᵉ/da = e · aᵉ⁻¹, which is 0 for e = 0 (where 0⁻¹ would make it NaN).
                let one = b.scalar(1.0);
                let em1 = b.emit("Sub", &[&e, &one], vec![]);
                let p = like(b, "Pow", &[x(0), &em1], y);
                let d = like(b, "Mul", &[&p, &e], y);
                let flat = b.emit("Equal", &[&e, &zero], vec![]);
                let d = like(b, "Where", &[&flat, &zero, &d], y);
                let full = like(b, "Mul", &[g, &d], y);
                out[0] = Some(b.unbroadcast(&full, x(0)));
            }
            if wants(1) {
                // d aᵉ/de = aᵉ · ln a, taken as 0 at a = 0 (where ln a is −∞).
                let ln = b.emit("Log", &[x(0)], vec![]);
                let d = like(b, "Mul", &[y, &ln], y);
                let at_zero = b.emit("Equal", &[x(0), &zero], vec![]);
                let d = like(b, "Where", &[&at_zero, &zero, &d], y);
                let full = like(b, "Mul", &[g, &d], y);
                out[1] = Some(b.unbroadcast(&full, x(1)));
            }
        }
        "Where" => {
            let zero = b.scalar(0.0);
            for (i, branch) in [(1, [g, zero.as_str()]), (2, [zero.as_str(), g])] {
                if wants(i) {
                    let full = like(b, "Where", &[x(0), branch[0], branch[1]], y);
                    out[i] = Some(b.unbroadcast(&full, x(i)));
                }
            }
        }
        "Squeeze" | "Unsqueeze" => out[0] = Some(b.reshape_like(g, x(0))),
        "Expand" => out[0] = Some(b.unbroadcast(g, x(0))),
        "Gather" => out[0] = Some(gather(b, node, g)?),
        "Slice" => out[0] = Some(slice(b, node, g)),
        "LayerNormalization" => layer_norm(b, node, g, &mut out, [wants(0), wants(1), wants(2)])?,
        "Add" | "Sub" | "Mul" | "Div" => {
            for (i, slot) in out.iter_mut().enumerate().take(2) {
                if !wants(i) {
                    continue;
                }
                let full = match (op, i) {
                    ("Add", _) | ("Sub", 0) => g.to_owned(),
                    ("Sub", _) => like(b, "Neg", &[g], y),
                    ("Mul", _) => like(b, "Mul", &[g, x(1 - i)], y),
                    ("Div", 0) => like(b, "Div", &[g, x(1)], y),
                    _ => {
                        // d(a/b)/db = -y/b
                        let q = like(b, "Div", &[y, x(1)], y);
                        let p = like(b, "Mul", &[g, &q], y);
                        like(b, "Neg", &[&p], y)
                    }
                };
                *slot = Some(b.unbroadcast(&full, x(i)));
            }
        }
        "Relu" | "LeakyRelu" => {
            let zero = b.scalar(0.0);
            let mask = b.emit("Greater", &[x(0), &zero], vec![]);
            let other = if op == "Relu" {
                zero
            } else {
                let alpha = b.scalar(f64::from(node.float("alpha", 0.01)));
                like(b, "Mul", &[g, &alpha], y)
            };
            out[0] = Some(like(b, "Where", &[&mask, g, &other], y));
        }
        "Sigmoid" => {
            let one = b.scalar(1.0);
            let s = like(b, "Sub", &[&one, y], y);
            let d = like(b, "Mul", &[y, &s], y);
            out[0] = Some(like(b, "Mul", &[g, &d], y));
        }
        "Tanh" => {
            let one = b.scalar(1.0);
            let sq = like(b, "Mul", &[y, y], y);
            let d = like(b, "Sub", &[&one, &sq], y);
            out[0] = Some(like(b, "Mul", &[g, &d], y));
        }
        "Softmax" | "LogSoftmax" => {
            let axis = node.int("axis", -1);
            out[0] = Some(if op == "Softmax" {
                let gy = like(b, "Mul", &[g, y], y);
                let s = b.reduce_sum(&gy, &[axis], true);
                let d = like(b, "Sub", &[g, &s], y);
                like(b, "Mul", &[y, &d], y)
            } else {
                let s = b.reduce_sum(g, &[axis], true);
                let p = like(b, "Exp", &[y], y);
                let ps = like(b, "Mul", &[&p, &s], y);
                like(b, "Sub", &[g, &ps], y)
            });
        }
        "Reshape" | "Flatten" => out[0] = Some(b.reshape_like(g, x(0))),
        "Transpose" => {
            let rank = b.rank(x(0), op)?;
            let perm: Vec<usize> = match node.ints("perm") {
                Some(p) if !p.is_empty() => p
                    .iter()
                    .map(|&i| normalize(i, rank))
                    .collect::<Option<_>>()
                    .ok_or_else(|| bad_attr(node, "perm"))?,
                _ => (0..rank).rev().collect(),
            };
            let mut inverse = vec![0i64; perm.len()];
            for (i, &p) in perm.iter().enumerate() {
                *inverse.get_mut(p).ok_or_else(|| bad_attr(node, "perm"))? = i as i64;
            }
            out[0] = Some(shaped(b, "Transpose", &[g], vec![attr_ints("perm", &inverse)], x(0)));
        }
        "Concat" => {
            let axis = node.int("axis", 0);
            let sizes: Vec<Option<i64>> = node
                .input
                .iter()
                .map(|i| {
                    let s = b.shape(i)?;
                    normalize(axis, s.len()).and_then(|a| s[a].known())
                })
                .collect();
            let split = if sizes.iter().all(Option::is_some) {
                let sizes: Vec<i64> = sizes.into_iter().flatten().collect();
                b.ints(&sizes)
            } else {
                let index = b.ints(&[axis]);
                let parts: Vec<String> = node
                    .input
                    .iter()
                    .map(|i| {
                        let s = b.shape_of(i);
                        b.emit("Gather", &[&s, &index], vec![attr_int("axis", 0)])
                    })
                    .collect();
                let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
                b.emit("Concat", &refs, vec![attr_int("axis", 0)])
            };
            let parts = b.emit_n("Split", &[g, &split], vec![attr_int("axis", axis)], n);
            for (i, p) in parts.into_iter().enumerate() {
                if wants(i) {
                    let s = b.shape(x(i));
                    b.shapes.insert(p.clone(), s);
                    out[i] = Some(p);
                }
            }
        }
        "Gemm" => gemm(b, node, g, &mut out, wants(0), wants(1), wants(2)),
        "MatMul" => matmul(b, node, g, &mut out, wants(0), wants(1))?,
        "Conv" => conv(b, node, g, &mut out, [wants(0), wants(1), wants(2)])?,
        "MaxPool" => {
            let indices = node.output.get(1).ok_or_else(|| bad_attr(node, "Indices output"))?;
            let minus_one = b.ints(&[-1]);
            let one_d = b.ints(&[1]);
            let flat_i = b.emit("Reshape", &[indices, &minus_one], vec![]);
            let flat_g = b.emit("Reshape", &[g, &minus_one], vec![]);
            let size = b.emit("Size", &[x(0)], vec![]);
            let size = b.emit("Reshape", &[&size, &one_d], vec![]);
            let zeros = b.emit(
                "ConstantOfShape",
                &[&size],
                vec![attr_tensor("value", float_tensor(b.elem, 0.0))],
            );
            let scattered = b.emit(
                "ScatterElements",
                &[&zeros, &flat_i, &flat_g],
                vec![attr_int("axis", 0), attr_str("reduction", "add")],
            );
            out[0] = Some(b.reshape_like(&scattered, x(0)));
        }
        "AveragePool" => out[0] = Some(average_pool(b, node, g)?),
        "ReduceSum" | "ReduceMean" => {
            let axes_as_input = op == "ReduceSum" || b.opset >= 18;
            let axes = if axes_as_input {
                node.input.get(1).filter(|a| !a.is_empty()).cloned()
            } else {
                node.ints("axes").filter(|a| !a.is_empty()).map(|a| a.to_vec()).map(|a| b.ints(&a))
            };
            let mut g = g.to_owned();
            if node.int("keepdims", 1) == 0
                && let Some(axes) = &axes
            {
                g = b.emit("Unsqueeze", &[&g, axes], vec![]);
            }
            let s = b.shape_of(x(0));
            let mut full = shaped(b, "Expand", &[&g, &s], vec![], x(0));
            if op == "ReduceMean" {
                let (nx, ny) = (b.size_float(x(0)), b.size_float(y));
                let count = b.emit("Div", &[&nx, &ny], vec![]);
                full = shaped(b, "Div", &[&full, &count], vec![], x(0));
            }
            out[0] = Some(full);
        }
        _ => {
            return Err(RuntimeError::NoGradient {
                op: op.to_owned(),
                node: node_label(node),
                detail: "has no gradient in ANH".into(),
            });
        }
    }
    Ok(out)
}

/// Emits `op(inputs)` whose output has the static shape of `like`.
fn like(b: &mut GraphBuilder, op: &str, inputs: &[&str], like: &str) -> String {
    shaped(b, op, inputs, vec![], like)
}

fn shaped(
    b: &mut GraphBuilder,
    op: &str,
    inputs: &[&str],
    attrs: Vec<crate::onnx::AttributeProto>,
    like: &str,
) -> String {
    let s = b.shape(like);
    b.emit_shaped(op, inputs, attrs, s)
}

fn bad_attr(node: &NodeProto, what: &str) -> RuntimeError {
    RuntimeError::NoGradient {
        op: node.op_type.clone(),
        node: node_label(node),
        detail: format!("has an invalid {what}"),
    }
}

/// `Y = alpha·A'·B' + beta·C` with `A' = transA ? Aᵀ : A`, `B'` likewise.
fn gemm(
    b: &mut GraphBuilder,
    node: &NodeProto,
    g: &str,
    out: &mut [Option<String>],
    want_a: bool,
    want_b: bool,
    want_c: bool,
) {
    let (a, w, y) = (node.input[0].as_str(), node.input[1].as_str(), node.output[0].as_str());
    let alpha = node.float("alpha", 1.0);
    let (ta, tb) = (node.int("transA", 0) != 0, node.int("transB", 0) != 0);
    let gemm = |b: &mut GraphBuilder, p: &str, q: &str, tp: bool, tq: bool, like: &str| {
        let mut attrs = vec![attr_int("transA", i64::from(tp)), attr_int("transB", i64::from(tq))];
        if alpha != 1.0 {
            attrs.push(attr_float("alpha", alpha));
        }
        shaped(b, "Gemm", &[p, q], attrs, like)
    };
    if want_a {
        // dA' = g·B'ᵀ; dA = transA ? (dA')ᵀ.
        out[0] = Some(match (ta, tb) {
            (false, false) => gemm(b, g, w, false, true, a),
            (false, true) => gemm(b, g, w, false, false, a),
            (true, false) => gemm(b, w, g, false, true, a),
            (true, true) => gemm(b, w, g, true, true, a),
        });
    }
    if want_b {
        // dB' = A'ᵀ·g; dB = transB ? (dB')ᵀ.
        out[1] = Some(match (ta, tb) {
            (false, false) => gemm(b, a, g, true, false, w),
            (false, true) => gemm(b, g, a, true, false, w),
            (true, false) => gemm(b, a, g, false, false, w),
            (true, true) => gemm(b, g, a, true, true, w),
        });
    }
    if want_c && let Some(c) = node.input.get(2).filter(|c| !c.is_empty()) {
        let beta = node.float("beta", 1.0);
        let scaled = if beta == 1.0 {
            g.to_owned()
        } else {
            let k = b.scalar(f64::from(beta));
            like(b, "Mul", &[g, &k], y)
        };
        out[2] = Some(b.unbroadcast(&scaled, c));
    }
}

/// `Y = A·B` with numpy matmul semantics (1-D operands promoted, batch dims broadcast).
fn matmul(
    b: &mut GraphBuilder,
    node: &NodeProto,
    g: &str,
    out: &mut [Option<String>],
    want_a: bool,
    want_b: bool,
) -> Result<()> {
    let (a, w) = (node.input[0].as_str(), node.input[1].as_str());
    let (ra, rb) = (b.rank(a, "MatMul")?, b.rank(w, "MatMul")?);
    if ra == 0 || rb == 0 {
        return Err(bad_attr(node, "operand (a scalar)"));
    }

    // Promote 1-D operands (and g with them) to matrices.
    let (mut a2, mut b2, mut g2) = (a.to_owned(), w.to_owned(), g.to_owned());
    let (mut sa2, mut sb2) = (b.shape(a).unwrap_or_default(), b.shape(w).unwrap_or_default());
    if ra == 1 {
        let zero = b.ints(&[0]);
        a2 = b.emit("Unsqueeze", &[a, &zero], vec![]);
        sa2.insert(0, D::Known(1));
        let at = b.ints(&[-2]);
        g2 = b.emit("Unsqueeze", &[&g2, &at], vec![]);
    }
    if rb == 1 {
        let last = b.ints(&[-1]);
        b2 = b.emit("Unsqueeze", &[w, &last], vec![]);
        sb2.push(D::Known(1));
        g2 = b.emit("Unsqueeze", &[&g2, &last], vec![]);
    }
    b.shapes.insert(a2.clone(), Some(sa2.clone()));
    b.shapes.insert(b2.clone(), Some(sb2.clone()));
    let swap = |b: &mut GraphBuilder, t: &str, rank: usize| {
        let mut perm: Vec<i64> = (0..rank as i64).collect();
        perm.swap(rank - 2, rank - 1);
        b.emit("Transpose", &[t], vec![attr_ints("perm", &perm)])
    };
    let batch_of = |s: &[D]| Some(s[..s.len() - 2].to_vec());
    let batch = super::graph::broadcast(&batch_of(&sa2), &batch_of(&sb2)).unwrap_or_default();
    if want_a {
        let bt = swap(b, &b2, sb2.len());
        let mut s = batch.clone();
        s.extend([sa2[sa2.len() - 2].clone(), sa2[sa2.len() - 1].clone()]);
        let full = b.emit_shaped("MatMul", &[&g2, &bt], vec![], Some(s));
        let r = b.unbroadcast(&full, &a2);
        out[0] = Some(b.reshape_like(&r, a));
    }
    if want_b {
        let at = swap(b, &a2, sa2.len());
        let mut s = batch;
        s.extend([sb2[sb2.len() - 2].clone(), sb2[sb2.len() - 1].clone()]);
        let full = b.emit_shaped("MatMul", &[&at, &g2], vec![], Some(s));
        let r = b.unbroadcast(&full, &b2);
        out[1] = Some(b.reshape_like(&r, w));
    }
    Ok(())
}

/// Most elements of a constant a gradient writes into the graph.
const MAX_CONST_ELEMENTS: usize = 1 << 24;

/// Largest spatial size or window attribute the gradients compute with (so that no
/// arithmetic on them overflows).
pub(crate) const MAX_DIM: i64 = i32::MAX as i64;

/// Static spatial sizes of `x` (all dims after the first two), or an error naming `op`.
fn spatial(b: &GraphBuilder, x: &str, op: &str) -> Result<Vec<i64>> {
    b.shape(x)
        .filter(|s| s.len() >= 3)
        .and_then(|s| s[2..].iter().map(D::known).collect::<Option<Vec<_>>>())
        .filter(|s| s.iter().all(|&d| (1..=MAX_DIM).contains(&d)))
        .ok_or_else(|| RuntimeError::UnknownShape {
            tensor: x.to_owned(),
            op: op.to_owned(),
            what: "its spatial dimensions",
        })
}

/// The window of a Conv/pool node over `x` with `kernel`, or an error.
fn window_of(node: &NodeProto, sizes: &[i64], kernel: Vec<i64>) -> Result<Window> {
    let dims: Vec<D> = sizes.iter().map(|&s| D::Known(s)).collect();
    Window::of(node, &dims, kernel).ok_or_else(|| bad_attr(node, "window (kernel, strides, pads)"))
}

/// The attributes of a ConvTranspose that undoes `w`'s window back to `sizes`.
fn transpose_attrs(w: &Window, sizes: &[i64]) -> Result<Vec<crate::onnx::AttributeProto>> {
    let output_padding: Vec<i64> = (0..sizes.len())
        .map(|i| {
            let v = |x: i64| i128::from(x);
            let out = v(w.out(i, sizes[i]));
            let pad = v(sizes[i]) + v(w.pads_begin[i]) + v(w.pads_end[i])
                - (v(w.dilations[i]) * (v(w.kernel[i]) - 1) + 1)
                - v(w.strides[i]) * (out - 1);
            i64::try_from(pad).ok().filter(|p| (0..w.strides[i].max(w.dilations[i])).contains(p))
        })
        .collect::<Option<_>>()
        .ok_or_else(|| RuntimeError::BadTrainModel("a window does not fit its input".into()))?;
    let mut pads = w.pads_begin.clone();
    pads.extend(&w.pads_end);
    Ok(vec![
        attr_ints("strides", &w.strides),
        attr_ints("dilations", &w.dilations),
        attr_ints("pads", &pads),
        attr_ints("output_padding", &output_padding),
    ])
}

/// `Y = Conv(X, W) + B`, group 1, any number of spatial dims.
fn conv(
    b: &mut GraphBuilder,
    node: &NodeProto,
    g: &str,
    out: &mut [Option<String>],
    want: [bool; 3],
) -> Result<()> {
    let (x, w) = (node.input[0].as_str(), node.input[1].as_str());
    let sizes = spatial(b, x, "Conv")?;
    let kernel = spatial(b, w, "Conv")?;
    let window = window_of(node, &sizes, kernel.clone())?;
    let n = sizes.len();
    if want[0] {
        let attrs = transpose_attrs(&window, &sizes)?;
        out[0] = Some(shaped(b, "ConvTranspose", &[g, w], attrs, x));
    }
    if want[1] {
        // dW[m, c, k] = Σ_{n, o} g[n, m, o] · Xpad[n, c, o·s + k·d]: a convolution of Xᵀ
        // (batch as channels) by gᵀ, strides and dilations exchanged.
        let mut perm: Vec<i64> = (0..(n + 2) as i64).collect();
        perm.swap(0, 1);
        let xt = b.emit("Transpose", &[x], vec![attr_ints("perm", &perm)]);
        let gt = b.emit("Transpose", &[g], vec![attr_ints("perm", &perm)]);
        let mut pads = window.pads_begin.clone();
        pads.extend(&window.pads_end);
        let r = b.emit(
            "Conv",
            &[&xt, &gt],
            vec![
                attr_ints("strides", &window.dilations),
                attr_ints("dilations", &window.strides),
                attr_ints("pads", &pads),
            ],
        );
        let (zeros, axes): (Vec<i64>, Vec<i64>) = (vec![0; n], (2..(n + 2) as i64).collect());
        let (starts, ends, axes) = (b.ints(&zeros), b.ints(&kernel), b.ints(&axes));
        let r = b.emit("Slice", &[&r, &starts, &ends, &axes], vec![]);
        out[1] = Some(shaped(b, "Transpose", &[&r], vec![attr_ints("perm", &perm)], w));
    }
    if want[2]
        && let Some(bias) = node.input.get(2).filter(|c| !c.is_empty())
    {
        let mut axes = vec![0];
        axes.extend(2..(n + 2) as i64);
        out[2] = Some(b.reduce_sum(g, &axes, false));
        let s = b.shape(bias);
        if let Some(o) = &out[2] {
            b.shapes.insert(o.clone(), s);
        }
    }
    Ok(())
}

/// `Y = AveragePool(X)`: each output's gradient spread evenly over its window, through a
/// ConvTranspose with a ones kernel on the (N·C, 1, …) view.
fn average_pool(b: &mut GraphBuilder, node: &NodeProto, g: &str) -> Result<String> {
    let x = node.input[0].as_str();
    let sizes = spatial(b, x, "AveragePool")?;
    let kernel = node.ints("kernel_shape").map(<[i64]>::to_vec).unwrap_or_default();
    let w = window_of(node, &sizes, kernel.clone())?;
    let outs: Vec<i64> = (0..sizes.len()).map(|i| w.out(i, sizes[i])).collect();
    // 1 / (elements each window averaged), per output position.
    let include_pad = node.int("count_include_pad", 0) != 0;
    let axis_counts: Vec<Vec<f64>> = (0..sizes.len())
        .map(|i| {
            (0..outs[i])
                .map(|o| {
                    let start = o * w.strides[i] - w.pads_begin[i];
                    let (lo, hi) = if include_pad {
                        (start, start + kernel[i])
                    } else {
                        (start.max(0), (start + kernel[i]).min(sizes[i]))
                    };
                    (hi - lo).max(1) as f64
                })
                .collect()
        })
        .collect();
    let count = outs.iter().try_fold(1usize, |acc, &o| acc.checked_mul(usize::try_from(o).ok()?));
    if count.is_none_or(|c| c > MAX_CONST_ELEMENTS) {
        return Err(bad_attr(node, "size (its output is too large to differentiate)"));
    }
    let mut inv = vec![1.0f64];
    for counts in &axis_counts {
        inv = inv.iter().flat_map(|p| counts.iter().map(move |c| p / c)).collect();
    }
    let mut view = vec![-1, 1];
    view.extend(&outs);
    let mut count_dims = vec![1, 1];
    count_dims.extend(&outs);
    let scale = b.fresh_named("anh.avgpool.scale");
    b.initializers.push(float_data(b.elem, &scale, &count_dims, &inv));
    let mut kdims = vec![1, 1];
    kdims.extend(&kernel);
    let ones_name = b.fresh_named("anh.avgpool.ones");
    let k = kernel
        .iter()
        .try_fold(1usize, |acc, &k| acc.checked_mul(usize::try_from(k).ok()?))
        .filter(|&k| k <= MAX_CONST_ELEMENTS)
        .ok_or_else(|| bad_attr(node, "kernel (too large to differentiate)"))?;
    b.initializers.push(float_data(b.elem, &ones_name, &kdims, &vec![1.0; k]));
    let view = b.ints(&view);
    let g2 = b.emit("Reshape", &[g, &view], vec![]);
    let g2 = b.emit("Mul", &[&g2, &scale], vec![]);
    let attrs = transpose_attrs(&w, &sizes)?;
    let back = b.emit("ConvTranspose", &[&g2, &ones_name], attrs);
    Ok(b.reshape_like(&back, x))
}

/// `k · exp(−a·x²)`, shaped like `x`.
fn erf_slope(b: &mut GraphBuilder, x: &str, a: f64, k: f64) -> String {
    let sq = like(b, "Mul", &[x, x], x);
    let neg_a = b.scalar(-a);
    let e = like(b, "Mul", &[&sq, &neg_a], x);
    let e = like(b, "Exp", &[&e], x);
    let k = b.scalar(k);
    like(b, "Mul", &[&e, &k], x)
}

/// `Y = Gelu(X)` (opset 20), exact or with the tanh approximation.
fn gelu(b: &mut GraphBuilder, node: &NodeProto, g: &str) -> String {
    use std::f64::consts::{FRAC_1_SQRT_2, FRAC_2_SQRT_PI, PI};
    let x = node.input[0].as_str();
    let (half, one) = (b.scalar(0.5), b.scalar(1.0));
    let d = if node.string("approximate").as_deref() == Some("tanh") {
        // y = ½x(1 + t), t = tanh(c(x + 0.044715x³)), c = √(2/π):
        // dy/dx = ½(1 + t) + ½x(1 − t²)·c(1 + 3·0.044715x²)
        const K: f64 = 0.044_715;
        let c = b.scalar((2.0 / PI).sqrt());
        let sq = like(b, "Mul", &[x, x], x);
        let k = b.scalar(K);
        let cube = like(b, "Mul", &[&sq, x], x);
        let kc = like(b, "Mul", &[&cube, &k], x);
        let inner = like(b, "Add", &[x, &kc], x);
        let u = like(b, "Mul", &[&inner, &c], x);
        let t = like(b, "Tanh", &[&u], x);
        let one_t = like(b, "Add", &[&one, &t], x);
        let left = like(b, "Mul", &[&one_t, &half], x);
        let t2 = like(b, "Mul", &[&t, &t], x);
        let sech2 = like(b, "Sub", &[&one, &t2], x);
        let k3 = b.scalar(3.0 * K);
        let k3x2 = like(b, "Mul", &[&sq, &k3], x);
        let du = like(b, "Add", &[&one, &k3x2], x);
        let du = like(b, "Mul", &[&du, &c], x);
        let r = like(b, "Mul", &[&sech2, &du], x);
        let r = like(b, "Mul", &[&r, x], x);
        let right = like(b, "Mul", &[&r, &half], x);
        like(b, "Add", &[&left, &right], x)
    } else {
        // dy/dx = Φ(x) + x·φ(x), Φ(x) = ½(1 + erf(x/√2)), φ(x) = exp(−x²/2)/√(2π)
        let s = b.scalar(FRAC_1_SQRT_2);
        let xs = like(b, "Mul", &[x, &s], x);
        let e = like(b, "Erf", &[&xs], x);
        let e1 = like(b, "Add", &[&e, &one], x);
        let cdf = like(b, "Mul", &[&e1, &half], x);
        let pdf = erf_slope(b, x, 0.5, FRAC_2_SQRT_PI * FRAC_1_SQRT_2 * 0.5);
        let xpdf = like(b, "Mul", &[x, &pdf], x);
        like(b, "Add", &[&cdf, &xpdf], x)
    };
    like(b, "Mul", &[g, &d], x)
}

/// The flat position (row-major) of every element of `x`, shaped like `x`: applying an
/// indexing op to it tells where each element of the op's output came from.
fn positions(b: &mut GraphBuilder, x: &str) -> (String, String) {
    let shape = b.shape_of(x);
    let size = b.emit("Size", &[x], vec![]);
    let (zero, one) = (b.int_scalar(0), b.int_scalar(1));
    let range = b.emit("Range", &[&zero, &size, &one], vec![]);
    (b.emit("Reshape", &[&range, &shape], vec![]), size)
}

/// Scatters `g` (flattened) into zeros of `x`'s size at the flat positions `picked`, summing
/// repeats when `add`; shaped like `x`.
fn scatter_back(
    b: &mut GraphBuilder,
    x: &str,
    size: &str,
    picked: &str,
    g: &str,
    add: bool,
) -> String {
    let flat = b.ints(&[-1]);
    let (fi, fg) =
        (b.emit("Reshape", &[picked, &flat], vec![]), b.emit("Reshape", &[g, &flat], vec![]));
    let one_d = b.ints(&[1]);
    let size = b.emit("Reshape", &[size, &one_d], vec![]);
    let zeros =
        b.emit("ConstantOfShape", &[&size], vec![attr_tensor("value", float_tensor(b.elem, 0.0))]);
    let mut attrs = vec![attr_int("axis", 0)];
    if add {
        attrs.push(attr_str("reduction", "add"));
    }
    let s = b.emit("ScatterElements", &[&zeros, &fi, &fg], attrs);
    b.reshape_like(&s, x)
}

/// `Y = Gather(X, indices, axis)`: rows of an embedding table (axis 0) get the sum of the
/// gradients of every position that read them (`ScatterND` with `reduction="add"`); other
/// axes go through the positions of `X`'s elements.
fn gather(b: &mut GraphBuilder, node: &NodeProto, g: &str) -> Result<String> {
    let (x, indices) = (node.input[0].as_str(), node.input[1].as_str());
    let rank = b.rank(x, "Gather")?;
    let axis = normalize(node.int("axis", 0), rank).ok_or_else(|| bad_attr(node, "axis"))?;
    if axis != 0 {
        let (pos, size) = positions(b, x);
        let picked = b.emit("Gather", &[&pos, indices], vec![attr_int("axis", axis as i64)]);
        return Ok(scatter_back(b, x, &size, &picked, g, true));
    }
    let shape = b.shape_of(x);
    let zeros =
        b.emit("ConstantOfShape", &[&shape], vec![attr_tensor("value", float_tensor(b.elem, 0.0))]);
    // Gather takes indices in [-n, n); ScatterND wants them in [0, n).
    let idx = b.cast(indices, dt::INT64);
    let zero = b.int_scalar(0);
    let rows = b.emit("Gather", &[&shape, &zero], vec![attr_int("axis", 0)]);
    let idx = b.emit("Mod", &[&idx, &rows], vec![]);
    let last = b.ints(&[-1]);
    let idx = b.emit("Unsqueeze", &[&idx, &last], vec![]);
    Ok(shaped(b, "ScatterND", &[&zeros, &idx, g], vec![attr_str("reduction", "add")], x))
}

/// `Y = Slice(X, starts, ends, axes, steps)`: the same slice of `X`'s element positions says
/// where each gradient element goes (any starts, ends, axes and steps, constant or not).
fn slice(b: &mut GraphBuilder, node: &NodeProto, g: &str) -> String {
    let x = node.input[0].as_str();
    let (pos, size) = positions(b, x);
    let mut inputs: Vec<&str> = vec![&pos];
    inputs.extend(node.input[1..].iter().map(String::as_str));
    let picked = b.emit("Slice", &inputs, vec![]);
    scatter_back(b, x, &size, &picked, g, false)
}

/// `Y₁…Yₙ = Split(X)`: the outputs' gradients concatenated back, zeros for an output off
/// every path to the loss.
fn split(b: &mut GraphBuilder, node: &NodeProto, gs: &[Option<String>]) -> String {
    let parts: Vec<String> = node
        .output
        .iter()
        .enumerate()
        .map(|(i, o)| match gs.get(i).cloned().flatten() {
            Some(g) => g,
            None => {
                let s = b.shape_of(o);
                b.emit(
                    "ConstantOfShape",
                    &[&s],
                    vec![attr_tensor("value", float_tensor(b.elem, 0.0))],
                )
            }
        })
        .collect();
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    shaped(b, "Concat", &refs, vec![attr_int("axis", node.int("axis", 0))], &node.input[0])
}

/// `Y = LayerNormalization(X, γ, β)` over the axes from `axis` on: with `x̂ = (X − μ)·r`,
/// `r = 1/√(σ² + ε)`: `dβ = Σ g`, `dγ = Σ g·x̂`, `dX = r·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂))` where
/// `ĝ = g·γ` (μ, σ², r recomputed from X).
fn layer_norm(
    b: &mut GraphBuilder,
    node: &NodeProto,
    g: &str,
    out: &mut [Option<String>],
    want: [bool; 3],
) -> Result<()> {
    let (x, scale, y) = (node.input[0].as_str(), node.input[1].as_str(), node.output[0].as_str());
    let rank = b.rank(x, "LayerNormalization")?;
    let axis = normalize(node.int("axis", -1), rank).ok_or_else(|| bad_attr(node, "axis"))?;
    let axes: Vec<i64> = (axis as i64..rank as i64).collect();
    let static_count = b
        .shape(x)
        .and_then(|s| s[axis..].iter().try_fold(1i64, |acc, d| acc.checked_mul(d.known()?)));
    let count = match static_count {
        Some(n) => b.scalar(n as f64),
        None => {
            let r = b.reduce_sum(x, &axes, true);
            let (nx, nr) = (b.size_float(x), b.size_float(&r));
            b.emit("Div", &[&nx, &nr], vec![])
        }
    };
    let mean = |b: &mut GraphBuilder, t: &str| {
        let s = b.reduce_sum(t, &axes, true);
        b.emit("Div", &[&s, &count], vec![])
    };
    let mu = mean(b, x);
    let d = like(b, "Sub", &[x, &mu], x);
    let sq = like(b, "Mul", &[&d, &d], x);
    let var = mean(b, &sq);
    let eps = b.scalar(f64::from(node.float("epsilon", 1e-5)));
    let ve = b.emit("Add", &[&var, &eps], vec![]);
    let sd = b.emit("Sqrt", &[&ve], vec![]);
    let r = b.emit("Reciprocal", &[&sd], vec![]);
    let xhat = like(b, "Mul", &[&d, &r], x);
    if want[1] {
        let t = like(b, "Mul", &[g, &xhat], y);
        out[1] = Some(b.unbroadcast(&t, scale));
    }
    if want[2]
        && let Some(bias) = node.input.get(2).filter(|c| !c.is_empty())
    {
        out[2] = Some(b.unbroadcast(g, bias));
    }
    if want[0] {
        let gh = like(b, "Mul", &[g, scale], y);
        let m1 = mean(b, &gh);
        let t = like(b, "Mul", &[&gh, &xhat], x);
        let m2 = mean(b, &t);
        let a = like(b, "Sub", &[&gh, &m1], x);
        let c = like(b, "Mul", &[&xhat, &m2], x);
        let dd = like(b, "Sub", &[&a, &c], x);
        out[0] = Some(like(b, "Mul", &[&dd, &r], x));
    }
    Ok(())
}

/// A float tensor of type `elem` named `name`.
fn float_data(elem: i32, name: &str, dims: &[i64], values: &[f64]) -> TensorProto {
    let raw_data = if elem == dt::DOUBLE {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    } else {
        values.iter().flat_map(|&v| (v as f32).to_le_bytes()).collect()
    };
    TensorProto {
        name: name.to_owned(),
        dims: dims.to_vec(),
        data_type: elem,
        raw_data,
        ..Default::default()
    }
}
