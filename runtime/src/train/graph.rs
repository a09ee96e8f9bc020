//! The graph the autodiff writes: a [`GraphBuilder`] that emits ONNX nodes with fresh names
//! and typed constants, and a light static shape inference ([`Shape`]) that lets gradients
//! skip work (an un-broadcast of equal shapes) or compute attributes (a transposed
//! convolution's output padding) when shapes are known, and fall back to `Shape` ops at run
//! time (symbolic batch) when they are not.

use crate::{
    error::{Result, RuntimeError},
    onnx::{AttributeProto, NodeProto, TensorProto},
};
use std::collections::{HashMap, HashSet};

/// ONNX `AttributeProto.AttributeType` codes used here.
mod attr_type {
    pub(super) const FLOAT: i32 = 1;
    pub(super) const INT: i32 = 2;
    pub(super) const STRING: i32 = 3;
    pub(super) const TENSOR: i32 = 4;
    pub(super) const INTS: i32 = 7;
}

/// ONNX `TensorProto.DataType` codes used here.
pub(crate) mod dt {
    pub(crate) const FLOAT: i32 = 1;
    pub(crate) const INT64: i32 = 7;
    pub(crate) const DOUBLE: i32 = 11;
}

/// One dimension as far as static inference knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum D {
    /// A fixed size.
    Known(i64),
    /// A named symbolic size (`dim_param`): equal to any other dimension of the same name.
    Sym(String),
    /// Nothing known.
    Unknown,
}

impl D {
    /// Whether two dimensions are certainly equal.
    pub(crate) fn same(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Known(a), Self::Known(b)) => a == b,
            (Self::Sym(a), Self::Sym(b)) => !a.is_empty() && a == b,
            _ => false,
        }
    }

    pub(crate) fn known(&self) -> Option<i64> {
        match self {
            Self::Known(n) => Some(*n),
            _ => None,
        }
    }
}

/// A tensor's static shape: `None` when not even the rank is known.
pub(crate) type Shape = Option<Vec<D>>;

/// The numpy broadcast of two shapes.
pub(crate) fn broadcast(a: &Shape, b: &Shape) -> Shape {
    let (a, b) = (a.as_ref()?, b.as_ref()?);
    let rank = a.len().max(b.len());
    let at = |s: &[D], i: usize| {
        let lead = rank - s.len();
        if i < lead { D::Known(1) } else { s[i - lead].clone() }
    };
    Some(
        (0..rank)
            .map(|i| match (at(a, i), at(b, i)) {
                (D::Known(1), d) | (d, D::Known(1)) => d,
                (x, y) if x.same(&y) => x,
                (D::Known(n), _) | (_, D::Known(n)) => D::Known(n),
                _ => D::Unknown,
            })
            .collect(),
    )
}

/// Builds the nodes and initializers of a graph, with fresh names that clash with nothing
/// in the model.
#[derive(Debug)]
pub(crate) struct GraphBuilder {
    pub(crate) nodes: Vec<NodeProto>,
    pub(crate) initializers: Vec<TensorProto>,
    /// Static shapes of the model's tensors and of what the builder emitted, where known.
    pub(crate) shapes: HashMap<String, Shape>,
    /// The float element type of the graph (1 float32 or 11 float64).
    pub(crate) elem: i32,
    /// The opset version nodes are emitted for.
    pub(crate) opset: i64,
    used: HashSet<String>,
    next: usize,
    float_consts: HashMap<u64, String>,
    int_consts: HashMap<Vec<i64>, String>,
}

impl GraphBuilder {
    /// A builder whose fresh names avoid every name in `used`.
    pub(crate) fn new(used: HashSet<String>, elem: i32, opset: i64) -> Self {
        Self {
            nodes: Vec::new(),
            initializers: Vec::new(),
            shapes: HashMap::new(),
            elem,
            opset,
            used,
            next: 0,
            float_consts: HashMap::new(),
            int_consts: HashMap::new(),
        }
    }

    /// `want` if no tensor has that name yet, else `want.1`, `want.2`, …; reserved.
    pub(crate) fn fresh_named(&mut self, want: &str) -> String {
        let mut name = want.to_owned();
        let mut k = 0;
        while self.used.contains(&name) {
            k += 1;
            name = format!("{want}.{k}");
        }
        self.used.insert(name.clone());
        name
    }

    /// A fresh internal name, `anh.<hint>.<n>`.
    fn fresh(&mut self, hint: &str) -> String {
        loop {
            self.next += 1;
            let name = format!("anh.{hint}.{}", self.next);
            if self.used.insert(name.clone()) {
                return name;
            }
        }
    }

    /// Emits `op(inputs)` with `attrs` and `outputs` fresh outputs; returns their names.
    pub(crate) fn emit_n(
        &mut self,
        op: &str,
        inputs: &[&str],
        attrs: Vec<AttributeProto>,
        outputs: usize,
    ) -> Vec<String> {
        let hint = op.to_ascii_lowercase();
        let outs: Vec<String> = (0..outputs).map(|_| self.fresh(&hint)).collect();
        let name = self.fresh(&format!("{hint}.node"));
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| (*s).to_owned()).collect(),
            output: outs.clone(),
            name,
            op_type: op.to_owned(),
            domain: String::new(),
            attribute: attrs,
        });
        outs
    }

    /// Emits `op(inputs)` with `attrs` into the output `out` (a name already reserved).
    pub(crate) fn emit_to(
        &mut self,
        op: &str,
        inputs: &[&str],
        attrs: Vec<AttributeProto>,
        out: &str,
    ) {
        let name = self.fresh(&format!("{}.node", op.to_ascii_lowercase()));
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| (*s).to_owned()).collect(),
            output: vec![out.to_owned()],
            name,
            op_type: op.to_owned(),
            domain: String::new(),
            attribute: attrs,
        });
    }

    /// Emits `op(inputs)` with `attrs`; returns its one output.
    pub(crate) fn emit(&mut self, op: &str, inputs: &[&str], attrs: Vec<AttributeProto>) -> String {
        self.emit_n(op, inputs, attrs, 1).remove(0)
    }

    /// Emits `op(inputs)` and records the output's static shape.
    pub(crate) fn emit_shaped(
        &mut self,
        op: &str,
        inputs: &[&str],
        attrs: Vec<AttributeProto>,
        shape: Shape,
    ) -> String {
        let out = self.emit(op, inputs, attrs);
        self.shapes.insert(out.clone(), shape);
        out
    }

    /// The static shape of `name`, if known.
    pub(crate) fn shape(&self, name: &str) -> Shape {
        self.shapes.get(name).cloned().flatten()
    }

    /// The rank of `name`, or an error naming `op` and what it needs.
    pub(crate) fn rank(&self, name: &str, op: &str) -> Result<usize> {
        self.shape(name).map(|s| s.len()).ok_or_else(|| RuntimeError::UnknownShape {
            tensor: name.to_owned(),
            op: op.to_owned(),
            what: "its rank",
        })
    }

    /// A scalar constant of the graph's float type.
    pub(crate) fn scalar(&mut self, value: f64) -> String {
        if let Some(name) = self.float_consts.get(&value.to_bits()) {
            return name.clone();
        }
        let name = self.fresh("const");
        let raw_data = if self.elem == dt::DOUBLE {
            value.to_le_bytes().to_vec()
        } else {
            (value as f32).to_le_bytes().to_vec()
        };
        self.initializers.push(TensorProto {
            name: name.clone(),
            data_type: self.elem,
            raw_data,
            ..Default::default()
        });
        self.shapes.insert(name.clone(), Some(Vec::new()));
        self.float_consts.insert(value.to_bits(), name.clone());
        name
    }

    /// A 1-D int64 constant.
    pub(crate) fn ints(&mut self, values: &[i64]) -> String {
        self.int_const(values, false)
    }

    /// A scalar int64 constant.
    pub(crate) fn int_scalar(&mut self, value: i64) -> String {
        self.int_const(&[value], true)
    }

    fn int_const(&mut self, values: &[i64], scalar: bool) -> String {
        // Scalars and 1-D constants of one element are cached apart: a trailing marker
        // (never a value a shape or an axis list holds) keeps their keys distinct.
        let mut key = values.to_vec();
        if scalar {
            key.push(i64::MIN);
        }
        if let Some(name) = self.int_consts.get(&key) {
            return name.clone();
        }
        let name = self.fresh("const");
        let dims = if scalar { Vec::new() } else { vec![values.len() as i64] };
        self.initializers.push(TensorProto {
            name: name.clone(),
            dims: dims.clone(),
            data_type: dt::INT64,
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        self.shapes.insert(name.clone(), Some(dims.into_iter().map(D::Known).collect()));
        self.int_consts.insert(key, name.clone());
        name
    }

    /// `Shape(x)`.
    pub(crate) fn shape_of(&mut self, x: &str) -> String {
        self.emit("Shape", &[x], vec![])
    }

    /// `Reshape(x, Shape(like))`, recording `like`'s static shape.
    pub(crate) fn reshape_like(&mut self, x: &str, like: &str) -> String {
        if self.shape(x).is_some_and(|a| self.shape(like).is_some_and(|b| same_shape(&a, &b))) {
            return x.to_owned();
        }
        let s = self.shape_of(like);
        let shape = self.shape(like);
        self.emit_shaped("Reshape", &[x, &s], vec![], shape)
    }

    /// `ReduceSum(x, axes, keepdims)`: `axes` empty reduces nothing.
    pub(crate) fn reduce_sum(&mut self, x: &str, axes: &[i64], keepdims: bool) -> String {
        let a = self.ints(axes);
        self.emit(
            "ReduceSum",
            &[x, &a],
            vec![attr_int("keepdims", i64::from(keepdims)), attr_int("noop_with_empty_axes", 1)],
        )
    }

    /// `Cast(x, to)`.
    pub(crate) fn cast(&mut self, x: &str, to: i32) -> String {
        self.emit("Cast", &[x], vec![attr_int("to", i64::from(to))])
    }

    /// `Size(x)` as a scalar of the graph's float type.
    pub(crate) fn size_float(&mut self, x: &str) -> String {
        let n = self.emit("Size", &[x], vec![]);
        self.cast(&n, self.elem)
    }

    /// Sums `t` (the gradient of a broadcasting op's output) down to the shape of operand
    /// `a`: over the leading axes `a` lacks and the axes where `a` has size 1. Static when the
    /// shapes say which axes those are, else computed with `Shape` ops at run time.
    pub(crate) fn unbroadcast(&mut self, t: &str, a: &str) -> String {
        if let (Some(ts), Some(as_)) = (self.shape(t), self.shape(a))
            && ts.len() >= as_.len()
        {
            let lead = ts.len() - as_.len();
            let mut axes: Vec<i64> = (0..lead as i64).collect();
            let mut certain = true;
            for (i, d) in as_.iter().enumerate() {
                let td = &ts[lead + i];
                if d.same(td) {
                    continue;
                }
                if *d == D::Known(1) {
                    axes.push((lead + i) as i64);
                } else if td != &D::Known(1) {
                    certain = false;
                }
            }
            if certain {
                if axes.is_empty() {
                    return t.to_owned();
                }
                let r = self.reduce_sum(t, &axes, true);
                return self.reshape_like(&r, a);
            }
        }
        // Run time: pad Shape(a) with leading ones to t's rank; sum where it is 1.
        let (sa, st) = (self.shape_of(a), self.shape_of(t));
        let (ra, rt) = (self.emit("Size", &[&sa], vec![]), self.emit("Size", &[&st], vec![]));
        let diff = self.emit("Sub", &[&rt, &ra], vec![]);
        let one_d = self.ints(&[1]);
        let diff = self.emit("Reshape", &[&diff, &one_d], vec![]);
        let ones =
            self.emit("ConstantOfShape", &[&diff], vec![attr_tensor("value", int_tensor(1))]);
        let padded = self.emit("Concat", &[&ones, &sa], vec![attr_int("axis", 0)]);
        let one = self.ints(&[1]);
        let mask = self.emit("Equal", &[&padded, &one], vec![]);
        let nz = self.emit("NonZero", &[&mask], vec![]);
        let flat = self.ints(&[-1]);
        let axes = self.emit("Reshape", &[&nz, &flat], vec![]);
        let r = self.emit(
            "ReduceSum",
            &[t, &axes],
            vec![attr_int("keepdims", 1), attr_int("noop_with_empty_axes", 1)],
        );
        let shape = self.shape(a);
        self.emit_shaped("Reshape", &[&r, &sa], vec![], shape)
    }

    /// `a + b` where either may be absent.
    pub(crate) fn accumulate(&mut self, parts: &[String]) -> Option<String> {
        match parts {
            [] => None,
            [one] => Some(one.clone()),
            many => {
                let refs: Vec<&str> = many.iter().map(String::as_str).collect();
                Some(self.emit("Sum", &refs, vec![]))
            }
        }
    }
}

/// Whether two static shapes are certainly equal.
pub(crate) fn same_shape(a: &[D], b: &[D]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same(y))
}

/// A one-element int64 tensor holding `v` (for `ConstantOfShape`'s value).
fn int_tensor(v: i64) -> TensorProto {
    TensorProto {
        dims: vec![1],
        data_type: dt::INT64,
        raw_data: v.to_le_bytes().to_vec(),
        ..Default::default()
    }
}

/// A one-element float tensor of type `elem` holding `v`.
pub(crate) fn float_tensor(elem: i32, v: f64) -> TensorProto {
    let raw_data = if elem == dt::DOUBLE {
        v.to_le_bytes().to_vec()
    } else {
        (v as f32).to_le_bytes().to_vec()
    };
    TensorProto { dims: vec![1], data_type: elem, raw_data, ..Default::default() }
}

/// An `int` attribute.
pub(crate) fn attr_int(name: &str, i: i64) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: attr_type::INT, i, ..Default::default() }
}

/// A `float` attribute.
pub(crate) fn attr_float(name: &str, f: f32) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: attr_type::FLOAT, f, ..Default::default() }
}

/// An `ints` attribute.
pub(crate) fn attr_ints(name: &str, ints: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attr_type::INTS,
        ints: ints.to_vec(),
        ..Default::default()
    }
}

/// A `string` attribute.
pub(crate) fn attr_str(name: &str, s: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attr_type::STRING,
        s: s.as_bytes().to_vec(),
        ..Default::default()
    }
}

/// A `tensor` attribute.
pub(crate) fn attr_tensor(name: &str, t: TensorProto) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attr_type::TENSOR,
        t: Some(Box::new(t)),
        ..Default::default()
    }
}

/// Reading a node's attributes.
pub(crate) trait Attrs {
    fn attr(&self, name: &str) -> Option<&AttributeProto>;
    fn int(&self, name: &str, default: i64) -> i64 {
        self.attr(name).map_or(default, |a| a.i)
    }
    fn float(&self, name: &str, default: f32) -> f32 {
        self.attr(name).map_or(default, |a| a.f)
    }
    fn ints(&self, name: &str) -> Option<&[i64]> {
        self.attr(name).map(|a| a.ints.as_slice())
    }
    fn string(&self, name: &str) -> Option<String> {
        self.attr(name).map(|a| String::from_utf8_lossy(&a.s).into_owned())
    }
}

impl Attrs for NodeProto {
    fn attr(&self, name: &str) -> Option<&AttributeProto> {
        self.attribute.iter().find(|a| a.name == name)
    }
}

/// A node's name for messages: its own, else its first output's.
pub(crate) fn node_label(node: &NodeProto) -> String {
    if node.name.is_empty() {
        node.output.first().cloned().unwrap_or_default()
    } else {
        node.name.clone()
    }
}

/// Values of an integer tensor (int64 or int32; raw or typed payload).
pub(crate) fn tensor_ints(t: &TensorProto) -> Option<Vec<i64>> {
    match t.data_type {
        dt::INT64 if !t.raw_data.is_empty() => Some(
            t.raw_data
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
        ),
        dt::INT64 => Some(t.int64_data.clone()),
        6 if !t.raw_data.is_empty() => Some(
            t.raw_data
                .chunks_exact(4)
                .map(|c| i64::from(i32::from_le_bytes(c.try_into().unwrap_or([0; 4]))))
                .collect(),
        ),
        6 => Some(t.int32_data.iter().map(|&v| i64::from(v)).collect()),
        _ => None,
    }
}

/// Values of a float32 or float64 tensor as f64 (raw or typed payload); `None` for other
/// types or a payload that does not match the dims.
pub(crate) fn tensor_floats(t: &TensorProto) -> Option<Vec<f64>> {
    let values: Vec<f64> = match t.data_type {
        dt::FLOAT if !t.raw_data.is_empty() => t
            .raw_data
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap_or([0; 4]))))
            .collect(),
        dt::FLOAT => t.float_data.iter().map(|&v| f64::from(v)).collect(),
        dt::DOUBLE if !t.raw_data.is_empty() => t
            .raw_data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect(),
        dt::DOUBLE => t.double_data.clone(),
        _ => return None,
    };
    let raw_ok = t.raw_data.is_empty()
        || t.raw_data.len().is_multiple_of(if t.data_type == dt::FLOAT { 4 } else { 8 });
    (raw_ok && Some(values.len() as u64) == numel(&t.dims)).then_some(values)
}

/// The element count of `dims`; `None` for negative dims or overflow.
pub(crate) fn numel(dims: &[i64]) -> Option<u64> {
    dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(u64::try_from(d).ok()?))
}

/// Whether `elem` is float32 or float64.
pub(crate) fn is_float(elem: i32) -> bool {
    elem == dt::FLOAT || elem == dt::DOUBLE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(dims: &[i64]) -> Shape {
        Some(dims.iter().map(|&d| D::Known(d)).collect())
    }

    /// Broadcasting follows numpy: leading ones, size-1 axes stretch, unknowns stay unknown.
    #[test]
    fn broadcast_follows_numpy() {
        assert_eq!(broadcast(&s(&[3, 1, 5]), &s(&[4, 1])), s(&[3, 4, 5]));
        assert_eq!(broadcast(&s(&[]), &s(&[2])), s(&[2]));
        let batch = Some(vec![D::Sym("b".into()), D::Known(4)]);
        assert_eq!(broadcast(&batch, &s(&[4])), batch);
        assert_eq!(broadcast(&None, &s(&[4])), None);
    }

    /// Fresh names never repeat and avoid the model's names.
    #[test]
    fn fresh_names_avoid_used_ones() {
        let used: HashSet<String> = ["loss".to_owned(), "anh.add.1".to_owned()].into();
        let mut b = GraphBuilder::new(used, dt::FLOAT, 13);
        assert_eq!(b.fresh_named("loss"), "loss.1");
        assert_eq!(b.fresh_named("lr"), "lr");
        let outs = b.emit_n("Add", &["x", "y"], vec![], 2);
        assert!(!outs.contains(&"anh.add.1".to_owned()));
        assert_ne!(outs[0], outs[1]);
    }

    /// Un-broadcasting a bias over a symbolic batch is one static ReduceSum + Reshape; equal
    /// shapes need no node; an unknown dimension falls back to run-time shape ops.
    #[test]
    fn unbroadcast_is_static_when_shapes_allow() {
        let mut b = GraphBuilder::new(HashSet::new(), dt::FLOAT, 13);
        b.shapes.insert("g".into(), Some(vec![D::Sym("batch".into()), D::Known(3)]));
        b.shapes.insert("bias".into(), s(&[3]));
        b.shapes.insert("same".into(), Some(vec![D::Sym("batch".into()), D::Known(3)]));
        b.shapes.insert("odd".into(), Some(vec![D::Unknown, D::Known(3)]));
        assert_eq!(b.unbroadcast("g", "same"), "g");
        assert!(b.nodes.is_empty());
        b.unbroadcast("g", "bias");
        let ops: Vec<&str> = b.nodes.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["ReduceSum", "Shape", "Reshape"]);
        b.nodes.clear();
        b.unbroadcast("g", "odd");
        assert!(b.nodes.iter().any(|n| n.op_type == "NonZero"));
    }
}
