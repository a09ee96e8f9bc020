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
}

impl Diff {
    pub(crate) fn has(self, i: usize) -> bool {
        match self {
            Self::First(n) => i < n,
            Self::All => true,
        }
    }
}

/// The ops with gradients, and which of their inputs are differentiable; `None` for the rest.
pub(crate) fn differentiable(op: &str) -> Option<Diff> {
    Some(match op {
        "Gemm" | "Conv" => Diff::First(3),
        "MatMul" | "Add" | "Sub" | "Mul" | "Div" => Diff::First(2),
        "Relu" | "LeakyRelu" | "Sigmoid" | "Tanh" | "Softmax" | "LogSoftmax" | "Reshape"
        | "Flatten" | "Transpose" | "MaxPool" | "AveragePool" | "ReduceMean" | "ReduceSum"
        | "Identity" | "Dropout" => Diff::First(1),
        "Concat" => Diff::All,
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
        "Gemm" | "MatMul" | "Add" | "Sub" | "Mul" | "Div" | "Conv" | "Reshape" => 2,
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
        _ => Ok(()),
    }
}

/// The gradients of `node`'s inputs (`None` where not needed) given `g`, the gradient of
/// its first output. `need[i]` says whether input `i` needs one.
pub(crate) fn gradient(
    b: &mut GraphBuilder,
    node: &NodeProto,
    g: &str,
    need: &[bool],
) -> Result<Vec<Option<String>>> {
    let x = |i: usize| node.input[i].as_str();
    let y = node.output[0].as_str();
    let n = node.input.len();
    let wants = |i: usize| need.get(i).copied().unwrap_or(false);
    let mut out: Vec<Option<String>> = vec![None; n];
    let op = node.op_type.as_str();
    match op {
        "Identity" | "Dropout" => out[0] = Some(g.to_owned()),
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
