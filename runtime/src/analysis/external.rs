//! External weights: initializers whose bytes live in a **blob** of the model store.
//!
//! ONNX lets a tensor keep its bytes outside the model file (`data_location = EXTERNAL`, with
//! `location`, `offset` and `length` entries); every model past protobuf's 2 GB limit does.
//! In ANH the file never decides where bytes live: the only location a model may name is a
//! blob of the store, written `<keccak256 of the blob, 64 lowercase hex digits>.blob`. So the
//! model's hash (keccak256 of the graph file, which holds these names) commits to every byte of
//! its weights, and a location can never be a path (`/etc/passwd`, `../x`, `weights.bin`).
//!
//! What may be external: initializers of the main graph whose element type has a fixed width
//! and never holds a shape or an index (not int32, int64, string, or packed sub-byte types),
//! because analysis reads shapes and indices from the file's own bytes. Constants, sparse
//! tensors and subgraphs keep their bytes inline. Each external tensor gives its `length`,
//! which must be its element count times its element size; `offset` defaults to 0; no other
//! entry (`checksum`, `basepath`) is allowed.

use super::{AnalysisError, proto::TensorProto};
use alloy_primitives::B256;

/// The extension of a blob's file name, and of the location a model names it by.
pub const BLOB_EXT: &str = "blob";

/// The location a model names blob `blob` by: `<64 lowercase hex digits>.blob`.
pub fn blob_location(blob: &B256) -> String {
    format!("{}.{BLOB_EXT}", alloy_primitives::hex::encode(blob))
}

/// The blob a location names, if it is a blob location (exactly [`blob_location`]'s form).
pub fn parse_blob_location(location: &str) -> Option<B256> {
    let hex = location.strip_suffix(".blob")?;
    let lower =
        hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !lower {
        return None;
    }
    hex.parse().ok()
}

/// Bytes of one element of an ONNX data type that may be external; `None` for the others.
pub(crate) fn external_elem_bytes(data_type: i32) -> Option<u64> {
    match data_type {
        // uint8, int8, bool, the float8 types
        2 | 3 | 9 | 17..=20 => Some(1),
        // uint16, int16, float16, bfloat16
        4 | 5 | 10 | 16 => Some(2),
        // float32, uint32
        1 | 12 => Some(4),
        // float64, uint64
        11 | 13 => Some(8),
        _ => None,
    }
}

/// Where one external tensor's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalTensor {
    /// The tensor's name.
    pub tensor: String,
    /// The blob holding its bytes.
    pub blob: B256,
    /// Where they start in the blob.
    pub offset: u64,
    /// How many there are.
    pub length: u64,
    /// Its ONNX element type code.
    pub data_type: i32,
    /// Its dimensions.
    pub dims: Vec<u64>,
}

/// Whether `t` keeps its bytes outside the file.
pub(crate) fn is_external(t: &TensorProto) -> bool {
    t.data_location == super::proto::DATA_LOCATION_EXTERNAL || !t.external_data.is_empty()
}

/// The blob reference of initializer `t` (external: [`is_external`]), checked as the module
/// docs say; `numel` is its element count.
pub(crate) fn external_tensor(
    t: &TensorProto,
    numel: u64,
) -> Result<ExternalTensor, AnalysisError> {
    let tensor = t.name.clone();
    let bad = |reason: String| AnalysisError::ExternalEntry { tensor: tensor.clone(), reason };
    let Some(elem) = external_elem_bytes(t.data_type) else {
        return Err(AnalysisError::ExternalData { tensor: tensor.clone() });
    };
    if t.data_location != super::proto::DATA_LOCATION_EXTERNAL {
        return Err(bad("it has external data entries but data_location is not EXTERNAL".into()));
    }
    let inline = !t.raw_data.is_empty()
        || !t.float_data.is_empty()
        || !t.int32_data.is_empty()
        || !t.int64_data.is_empty()
        || !t.double_data.is_empty()
        || !t.uint64_data.is_empty()
        || !t.string_data.is_empty();
    if inline {
        return Err(bad("it has both inline and external data".into()));
    }
    let (mut location, mut offset, mut length) = (None, None, None);
    for entry in &t.external_data {
        let slot = match entry.key.as_str() {
            "location" => &mut location,
            "offset" => &mut offset,
            "length" => &mut length,
            other => {
                return Err(bad(format!(
                    "entry \"{other}\" is not allowed (only location, offset, length)"
                )));
            }
        };
        if slot.replace(entry.value.as_str()).is_some() {
            return Err(bad(format!("entry \"{}\" is given twice", entry.key)));
        }
    }
    let location = location.ok_or_else(|| bad("no location entry".into()))?;
    let blob = parse_blob_location(location).ok_or_else(|| AnalysisError::ExternalLocation {
        tensor: tensor.clone(),
        location: location.chars().take(200).collect(),
    })?;
    let number = |name: &str, value: &str| {
        value.parse::<u64>().map_err(|_| bad(format!("{name} \"{value}\" is not a byte count")))
    };
    let offset = offset.map(|v| number("offset", v)).transpose()?.unwrap_or(0);
    let length = number("length", length.ok_or_else(|| bad("no length entry".into()))?)?;
    let expected = numel
        .checked_mul(elem)
        .ok_or_else(|| AnalysisError::ShapeOverflow { tensor: tensor.clone() })?;
    if length != expected {
        return Err(bad(format!(
            "length {length} is not its {numel} elements of {elem} bytes ({expected})"
        )));
    }
    offset.checked_add(length).ok_or_else(|| bad("offset + length overflows".into()))?;
    let dims = super::tensor_dims(&t.dims, &t.name)?;
    Ok(ExternalTensor { tensor, blob, offset, length, data_type: t.data_type, dims })
}

/// How much of each blob a model reads: `(blob, bytes from its start)`, one entry per blob,
/// sorted by blob.
pub fn blob_needs(tensors: &[ExternalTensor]) -> Vec<(B256, u64)> {
    let mut needs = std::collections::BTreeMap::<B256, u64>::new();
    for t in tensors {
        let end = t.offset + t.length;
        let need = needs.entry(t.blob).or_default();
        *need = (*need).max(end);
    }
    needs.into_iter().collect()
}

/// Rewrites the main graph's initializers of `model` at the level of protobuf fields: each is
/// decoded and given to `rewrite`, which answers its replacement or `None` to keep its bytes
/// as they are. Every other field of the file keeps its bytes.
fn rewrite_initializers(
    model: &[u8],
    mut rewrite: impl FnMut(&TensorProto) -> Result<Option<TensorProto>, AnalysisError>,
) -> Result<Vec<u8>, AnalysisError> {
    use crate::fields::{fields, put_message};
    use prost::Message;
    let not_onnx = |e: &str| AnalysisError::NotOnnx(format!("malformed {e} field"));
    let mut out = Vec::with_capacity(model.len());
    for field in fields(model).map_err(not_onnx)? {
        let (7, Some(graph)) = (field.number, field.payload) else {
            out.extend_from_slice(field.raw);
            continue;
        };
        let mut new_graph = Vec::with_capacity(graph.len());
        for g in fields(graph).map_err(not_onnx)? {
            let (5, Some(tensor)) = (g.number, g.payload) else {
                new_graph.extend_from_slice(g.raw);
                continue;
            };
            let t =
                TensorProto::decode(tensor).map_err(|e| AnalysisError::NotOnnx(e.to_string()))?;
            match rewrite(&t)? {
                Some(new) => put_message(&mut new_graph, 5, &new.encode_to_vec()),
                None => new_graph.extend_from_slice(g.raw),
            }
        }
        put_message(&mut out, 7, &new_graph);
    }
    Ok(out)
}

/// Where [`externalize`] aligns each tensor in the data file (as ONNX's own tools do for
/// large tensors, so that a reader may memory-map them).
pub const EXTERNAL_ALIGNMENT: u64 = 4096;

/// Moves the `raw_data` of the main graph's initializers of at least `min_bytes` bytes (of
/// the types external data allows) out of a one-file model, in ONNX's standard form:
/// returns the model, whose tensors now name `location` with their offset and length, and
/// the bytes of that data file (each tensor at a multiple of [`EXTERNAL_ALIGNMENT`]). What
/// `onnx.save_model(..., save_as_external_data=True)` writes; `anh model push` turns such
/// files into blobs.
pub fn externalize(
    model: &[u8],
    location: &str,
    min_bytes: usize,
) -> Result<(Vec<u8>, Vec<u8>), AnalysisError> {
    let mut data = Vec::new();
    let graph = rewrite_initializers(model, |t| {
        if t.raw_data.len() < min_bytes.max(1) || external_elem_bytes(t.data_type).is_none() {
            return Ok(None);
        }
        let offset = data.len().next_multiple_of(EXTERNAL_ALIGNMENT as usize);
        data.resize(offset, 0);
        data.extend_from_slice(&t.raw_data);
        let entry = |key: &str, value: String| super::proto::StringStringEntryProto {
            key: key.into(),
            value,
        };
        Ok(Some(TensorProto {
            raw_data: Vec::new(),
            data_location: super::proto::DATA_LOCATION_EXTERNAL,
            external_data: vec![
                entry("location", location.into()),
                entry("offset", offset.to_string()),
                entry("length", t.raw_data.len().to_string()),
            ],
            ..t.clone()
        }))
    })?;
    Ok((graph, data))
}

/// Rewrites a model in ONNX's standard external-data form into ANH's: each external
/// initializer's location (a file name, relative to the model's folder) is replaced by the
/// blob `blob_of(location)` answers (the keccak256 of that file, which the caller uploads as a
/// blob), its offset kept and its length set to the tensor's size. Entries other than
/// location, offset and length (a `checksum`, a `basepath`) are dropped: the blob's hash
/// covers its bytes. `blob_of` is called once per tensor; it refuses locations it will not
/// read (the caller decides which: `anh model push` takes plain file names beside the model).
pub fn name_blobs(
    model: &[u8],
    mut blob_of: impl FnMut(&str) -> Result<B256, String>,
) -> Result<Vec<u8>, AnalysisError> {
    rewrite_initializers(model, |t| {
        if !is_external(t) {
            return Ok(None);
        }
        let bad = |reason: String| AnalysisError::ExternalEntry { tensor: t.name.clone(), reason };
        let value =
            |key: &str| t.external_data.iter().find(|e| e.key == key).map(|e| e.value.as_str());
        let location = value("location").ok_or_else(|| bad("no location entry".into()))?;
        let blob = match parse_blob_location(location) {
            Some(blob) => blob,
            None => blob_of(location).map_err(bad)?,
        };
        let elem = external_elem_bytes(t.data_type)
            .ok_or_else(|| AnalysisError::ExternalData { tensor: t.name.clone() })?;
        let dims = super::tensor_dims(&t.dims, &t.name)?;
        let length = super::checked_numel(&dims)
            .and_then(|n| n.checked_mul(elem))
            .ok_or_else(|| AnalysisError::ShapeOverflow { tensor: t.name.clone() })?;
        let offset = value("offset").unwrap_or("0");
        let entry = |key: &str, value: String| super::proto::StringStringEntryProto {
            key: key.into(),
            value,
        };
        Ok(Some(TensorProto {
            data_location: super::proto::DATA_LOCATION_EXTERNAL,
            external_data: vec![
                entry("location", blob_location(&blob)),
                entry("offset", offset.into()),
                entry("length", length.to_string()),
            ],
            ..t.clone()
        }))
    })
}
