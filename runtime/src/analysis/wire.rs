//! A bounded pre-scan of the protobuf wire format, run before prost decodes a model.
//!
//! prost decodes recursively and allocates for every field it knows; a hostile file can make
//! either blow up: subgraphs nested thousands deep (stack), or millions of two-byte empty
//! messages that each decode into a struct of a hundred bytes or more (memory). This scan walks
//! the same fields as the structs in `proto.rs`, without allocating, and refuses the file
//! early when
//!
//! - subgraphs nest deeper than [`Limits::max_subgraph_depth`], or messages deeper than 96
//!   levels whatever that limit (so neither the scan's own recursion nor prost's, limited to
//!   100, can go deeper),
//! - it holds more than [`Limits::max_nodes`] `NodeProto`s (all graphs together), or
//! - more than [`Limits::max_protobuf_fields`] fields would be decoded (each message, string,
//!   bytes field and scalar counts one, each element of a packed list too). This bounds what
//!   prost allocates to a small multiple of the limit, plus the bytes fields themselves.
//!
//! It also refuses protobuf groups (wire types 3 and 4), which ONNX never uses and which
//! prost would skip recursively. Anything else malformed is left for prost to report.

use super::{AnalysisError, Limits};

/// Which message a byte range holds, as far as the scan cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Model,
    Graph,
    Node,
    Attribute,
    Tensor,
    SparseTensor,
    ValueInfo,
    Type,
    TypeTensor,
    Shape,
    Dimension,
    /// A message whose fields prost ignores (markers, string pairs, function headers): it
    /// counts as one field and is not entered.
    Opaque,
}

/// What a field of a message is, for the scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// A sub-message prost decodes.
    Message(Kind),
    /// A repeated varint field (packed or not).
    Varints,
    /// A scalar, string, bytes or packed fixed-width field prost decodes: one allocation at
    /// most, no larger than the field's bytes.
    Scalar,
    /// A field prost skips.
    Ignored,
}

fn field(kind: Kind, number: u32) -> Field {
    use Field::{Ignored, Message, Scalar, Varints};
    match (kind, number) {
        (Kind::Model, 1..=3) => Scalar,
        (Kind::Model, 7) => Message(Kind::Graph),
        (Kind::Model, 8 | 25) => Message(Kind::Opaque),
        (Kind::Graph, 1) => Message(Kind::Node),
        (Kind::Graph, 2) => Scalar,
        (Kind::Graph, 5) => Message(Kind::Tensor),
        (Kind::Graph, 15) => Message(Kind::SparseTensor),
        (Kind::Graph, 11..=13) => Message(Kind::ValueInfo),
        (Kind::Node, 1..=4 | 7) => Scalar,
        (Kind::Node, 5) => Message(Kind::Attribute),
        (Kind::Attribute, 1..=4 | 7 | 9 | 20) => Scalar,
        (Kind::Attribute, 5 | 10) => Message(Kind::Tensor),
        (Kind::Attribute, 6 | 11) => Message(Kind::Graph),
        (Kind::Attribute, 22 | 23) => Message(Kind::SparseTensor),
        (Kind::Attribute, 8) => Varints,
        (Kind::Tensor, 1 | 5 | 7 | 11) => Varints,
        (Kind::Tensor, 2 | 4 | 6 | 8..=10 | 14) => Scalar,
        (Kind::Tensor, 13) => Message(Kind::Opaque),
        (Kind::SparseTensor, 1 | 2) => Message(Kind::Tensor),
        (Kind::SparseTensor, 3) => Varints,
        (Kind::ValueInfo, 1) => Scalar,
        (Kind::ValueInfo, 2) => Message(Kind::Type),
        (Kind::Type, 1) => Message(Kind::TypeTensor),
        (Kind::Type, 4 | 5 | 7 | 8 | 9) => Message(Kind::Opaque),
        (Kind::TypeTensor, 1) => Scalar,
        (Kind::TypeTensor, 2) => Message(Kind::Shape),
        (Kind::Shape, 1) => Message(Kind::Dimension),
        (Kind::Dimension, 1 | 2) => Scalar,
        _ => Ignored,
    }
}

/// Counts gathered by [`scan`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ScanStats {
    /// Fields prost will decode.
    pub(crate) fields: u64,
    /// `NodeProto`s, all graphs together.
    pub(crate) nodes: u64,
}

struct Scanner<'l> {
    limits: &'l Limits,
    stats: ScanStats,
}

/// Messages nested deeper than this are refused whatever the subgraph limit, so that neither
/// this scan nor prost (whose own limit is 100) can recurse further.
const MAX_MESSAGE_DEPTH: u32 = 96;

/// Where the scan is: message nesting, and subgraph level of the enclosing graph (the main
/// graph is level 0).
#[derive(Debug, Clone, Copy)]
struct Depth {
    messages: u32,
    graphs: u32,
}

/// Why the scan stopped without an [`AnalysisError`]: the bytes are malformed where prost
/// will say so precisely.
struct Malformed;

enum Stop {
    Refused(AnalysisError),
    Malformed,
}

impl From<Malformed> for Stop {
    fn from(_: Malformed) -> Self {
        Self::Malformed
    }
}

/// Scans `bytes` as a `ModelProto`, enforcing the limits above.
///
/// `Ok` when the file is within limits, or malformed in a way prost will report; `Err` with
/// the limit the file breaks, or with [`AnalysisError::NotOnnx`] for protobuf groups.
pub(crate) fn scan(bytes: &[u8], limits: &Limits) -> Result<ScanStats, AnalysisError> {
    let mut scanner = Scanner { limits, stats: ScanStats::default() };
    match scanner.message(bytes, Kind::Model, Depth { messages: 0, graphs: 0 }) {
        Ok(()) | Err(Stop::Malformed) => Ok(scanner.stats),
        Err(Stop::Refused(e)) => Err(e),
    }
}

impl Scanner<'_> {
    /// Walks one message of `kind` found at depth `at`.
    fn message(&mut self, mut buf: &[u8], kind: Kind, at: Depth) -> Result<(), Stop> {
        while !buf.is_empty() {
            let key = varint(&mut buf)?;
            let number = u32::try_from(key >> 3).map_err(|_| Malformed)?;
            let wire_type = key & 7;
            if number == 0 {
                return Err(Malformed.into());
            }
            let field = field(kind, number);
            match wire_type {
                0 => {
                    varint(&mut buf)?;
                    if field != Field::Ignored {
                        self.count(1)?;
                    }
                }
                1 => buf = buf.get(8..).ok_or(Malformed)?,
                5 => buf = buf.get(4..).ok_or(Malformed)?,
                2 => {
                    let len = usize::try_from(varint(&mut buf)?).map_err(|_| Malformed)?;
                    if len > buf.len() {
                        return Err(Malformed.into());
                    }
                    let (payload, rest) = buf.split_at(len);
                    buf = rest;
                    match field {
                        Field::Ignored => {}
                        Field::Scalar => self.count(1)?,
                        Field::Varints => {
                            let n = payload.iter().filter(|b| **b & 0x80 == 0).count() as u64;
                            self.count(n.max(1))?;
                        }
                        Field::Message(sub) => self.enter(payload, kind, sub, at)?,
                    }
                }
                3 | 4 => {
                    return Err(Stop::Refused(AnalysisError::NotOnnx(
                        "protobuf groups are not part of the ONNX format".into(),
                    )));
                }
                _ => return Err(Malformed.into()),
            }
        }
        Ok(())
    }

    fn enter(&mut self, payload: &[u8], parent: Kind, sub: Kind, at: Depth) -> Result<(), Stop> {
        self.count(1)?;
        if at.messages >= MAX_MESSAGE_DEPTH {
            return Err(self.too_deep());
        }
        let mut inner = Depth { messages: at.messages + 1, ..at };
        match sub {
            Kind::Opaque => return Ok(()),
            Kind::Node => {
                self.stats.nodes += 1;
                if self.stats.nodes > self.limits.max_nodes {
                    return Err(Stop::Refused(AnalysisError::TooManyNodes {
                        limit: self.limits.max_nodes,
                    }));
                }
            }
            // The model's own graph is level 0; a graph inside an attribute is one level
            // deeper than the graph of the node holding the attribute.
            Kind::Graph if parent != Kind::Model => {
                inner.graphs = at.graphs + 1;
                if inner.graphs > self.limits.max_subgraph_depth {
                    return Err(self.too_deep());
                }
            }
            _ => {}
        }
        self.message(payload, sub, inner)
    }

    fn too_deep(&self) -> Stop {
        Stop::Refused(AnalysisError::NestingTooDeep { limit: self.limits.max_subgraph_depth })
    }

    fn count(&mut self, n: u64) -> Result<(), Stop> {
        self.stats.fields = self.stats.fields.saturating_add(n);
        if self.stats.fields > self.limits.max_protobuf_fields {
            return Err(Stop::Refused(AnalysisError::TooManyFields {
                limit: self.limits.max_protobuf_fields,
            }));
        }
        Ok(())
    }
}

/// Reads a base-128 varint (at most 10 bytes).
fn varint(buf: &mut &[u8]) -> Result<u64, Malformed> {
    let mut value = 0u64;
    for i in 0..10 {
        let (&b, rest) = buf.split_first().ok_or(Malformed)?;
        *buf = rest;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(Malformed)
}
