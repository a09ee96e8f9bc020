//! Raw protobuf fields: a message's top-level fields with their bytes, for code that edits or
//! compares model files field by field without decoding them (`train::write_weights` splices
//! new weights into a file; the model store keeps a trained model as the fields that differ
//! from its base).

use prost::encoding::{WireType, encode_key, encode_varint};

/// One protobuf field: its number, its bytes (key included), and its payload when
/// length-delimited.
pub(crate) struct Field<'a> {
    pub(crate) number: u64,
    pub(crate) raw: &'a [u8],
    pub(crate) payload: Option<&'a [u8]>,
}

/// The top-level fields of a protobuf message.
pub(crate) fn fields(mut buf: &[u8]) -> Result<Vec<Field<'_>>, &'static str> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let start = buf;
        let key = varint(&mut buf).ok_or("protobuf")?;
        let payload = match key & 7 {
            0 => {
                varint(&mut buf).ok_or("varint")?;
                None
            }
            1 | 5 => {
                let n = if key & 7 == 1 { 8 } else { 4 };
                buf = buf.get(n..).ok_or("fixed-width")?;
                None
            }
            2 => {
                let len = varint(&mut buf)
                    .and_then(|l| usize::try_from(l).ok())
                    .filter(|&l| l <= buf.len())
                    .ok_or("length-delimited")?;
                let (payload, rest) = buf.split_at(len);
                buf = rest;
                Some(payload)
            }
            _ => return Err("protobuf"),
        };
        let used = start.len() - buf.len();
        out.push(Field { number: key >> 3, raw: &start[..used], payload });
    }
    Ok(out)
}

/// Reads a base-128 varint.
pub(crate) fn varint(buf: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for i in 0..10 {
        let (&b, rest) = buf.split_first()?;
        *buf = rest;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Appends a length-delimited field.
pub(crate) fn put_message(out: &mut Vec<u8>, number: u32, bytes: &[u8]) {
    encode_key(number, WireType::LengthDelimited, out);
    encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}
