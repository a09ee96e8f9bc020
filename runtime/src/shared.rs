//! What every session of a model shares: the weights ONNX Runtime packs for its kernels
//! (matrix products), and a model's external weights, read once from its blobs into ONNX
//! Runtime tensors that each session takes as initializers (`AddInitializer`: the session uses
//! them in place, without a copy). However many sessions a model has — a pool in each of the
//! runtime's two lanes — its weights are in memory once.

use crate::analysis::external::ExternalTensor;
use alloy_primitives::B256;
use ort::{
    session::builder::{PrepackedWeights, SessionBuilder},
    value::{DynValue, PrimitiveTensorElementType, Tensor},
};
use parking_lot::Mutex;
use std::{
    collections::HashMap,
    io::{Read, Seek, SeekFrom},
    path::Path,
    sync::Arc,
};

/// Initializer values by name, as sessions take them.
type Initializers = Arc<Vec<(String, Arc<DynValue>)>>;

/// One model's shared weights (see the module docs).
pub(crate) struct SharedWeights {
    /// Made by the first session (when ONNX Runtime is loaded).
    prepacked: std::sync::OnceLock<PrepackedWeights>,
    /// Its external weights, by initializer name, once read.
    external: Mutex<Option<Initializers>>,
}

impl SharedWeights {
    pub(crate) fn new() -> Self {
        Self { prepacked: std::sync::OnceLock::new(), external: Mutex::new(None) }
    }

    /// `builder`, sharing these weights: the packed ones, and (for a model whose weights are
    /// in blobs of `dir`) the `external` tensors, read from the blobs on first use.
    pub(crate) fn share(
        &self,
        builder: SessionBuilder,
        external: Option<(&Path, &[ExternalTensor])>,
    ) -> std::result::Result<SessionBuilder, String> {
        let prepacked = self.prepacked.get_or_init(PrepackedWeights::new);
        let mut builder = builder.with_prepacked_weights(prepacked).map_err(|e| e.to_string())?;
        let Some((dir, tensors)) = external else { return Ok(builder) };
        let values = {
            let mut cached = self.external.lock();
            match &*cached {
                Some(values) => values.clone(),
                None => {
                    let values = Arc::new(read_external(dir, tensors)?);
                    *cached = Some(values.clone());
                    values
                }
            }
        };
        for (name, value) in values.iter() {
            builder = builder.with_initializer(name, value.clone()).map_err(|e| e.to_string())?;
        }
        Ok(builder)
    }
}

/// Each model's [`SharedWeights`], while a lane holds the model.
#[derive(Default)]
pub(crate) struct SharedByModel(Mutex<HashMap<B256, std::sync::Weak<SharedWeights>>>);

impl SharedByModel {
    /// `model`'s shared weights: those of a lane that holds it already, or new ones.
    pub(crate) fn get(&self, model: B256) -> Arc<SharedWeights> {
        let mut shared = self.0.lock();
        if let Some(weights) = shared.get(&model).and_then(std::sync::Weak::upgrade) {
            return weights;
        }
        shared.retain(|_, weak| weak.strong_count() > 0);
        let weights = Arc::new(SharedWeights::new());
        shared.insert(model, Arc::downgrade(&weights));
        weights
    }
}

/// The `tensors`' bytes, read from their blobs in `dir` into tensors over memory of this
/// process (ONNX Runtime takes only such memory as shared initializers). Float8 tensors (no
/// Rust type for them) are left out: each session reads those from the blobs itself.
fn read_external(
    dir: &Path,
    tensors: &[ExternalTensor],
) -> std::result::Result<Vec<(String, Arc<DynValue>)>, String> {
    let mut files = HashMap::new();
    let mut values = Vec::with_capacity(tensors.len());
    for t in tensors {
        let path = dir.join(crate::analysis::external::blob_location(&t.blob));
        let file = match files.entry(t.blob) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(
                std::fs::File::open(&path)
                    .map_err(|e| format!("cannot open {}: {e}", path.display()))?,
            ),
        };
        let failed = |e: &dyn std::fmt::Display| {
            format!("cannot read tensor \"{}\" from {}: {e}", t.tensor, path.display())
        };
        file.seek(SeekFrom::Start(t.offset)).map_err(|e| failed(&e))?;
        let shape: Vec<i64> = t.dims.iter().map(|&d| d as i64).collect();
        let n = usize::try_from(t.dims.iter().product::<u64>()).map_err(|e| failed(&e))?;
        let value = match t.data_type {
            1 => read_values::<f32>(file, shape, n),
            2 => read_values::<u8>(file, shape, n),
            3 => read_values::<i8>(file, shape, n),
            4 => read_values::<u16>(file, shape, n),
            5 => read_values::<i16>(file, shape, n),
            11 => read_values::<f64>(file, shape, n),
            12 => read_values::<u32>(file, shape, n),
            13 => read_values::<u64>(file, shape, n),
            10 => read_values::<half::f16>(file, shape, n),
            16 => read_values::<half::bf16>(file, shape, n),
            9 => read_bools(file, shape, n),
            _ => continue,
        }
        .map_err(|e| failed(&e))?;
        values.push((t.tensor.clone(), Arc::new(value)));
    }
    Ok(values)
}

/// `n` booleans (a byte each) read from `file` into a tensor of `shape`.
fn read_bools(
    file: &mut std::fs::File,
    shape: Vec<i64>,
    n: usize,
) -> std::result::Result<DynValue, String> {
    let mut bytes = vec![0u8; n];
    file.read_exact(&mut bytes).map_err(|e| e.to_string())?;
    let values: Vec<bool> = bytes.into_iter().map(|b| b != 0).collect();
    Tensor::from_array((shape, values)).map(|t| t.into_dyn()).map_err(|e| e.to_string())
}

/// A number type whose every bit pattern is a value, stored little-endian as ONNX stores it.
///
/// # Safety
/// Every bit pattern of `size_of::<Self>()` bytes must be a valid value (no `bool`, no enums,
/// no padding).
unsafe trait Plain:
    PrimitiveTensorElementType + Copy + Default + std::fmt::Debug + 'static
{
}
// SAFETY: plain numbers: every bit pattern is a value.
unsafe impl Plain for f32 {}
unsafe impl Plain for f64 {}
unsafe impl Plain for u8 {}
unsafe impl Plain for i8 {}
unsafe impl Plain for u16 {}
unsafe impl Plain for i16 {}
unsafe impl Plain for u32 {}
unsafe impl Plain for u64 {}
unsafe impl Plain for half::f16 {}
unsafe impl Plain for half::bf16 {}

/// `n` values of `T` read from `file` into a tensor of `shape`, with no copy in between.
fn read_values<T: Plain>(
    file: &mut std::fs::File,
    shape: Vec<i64>,
    n: usize,
) -> std::result::Result<DynValue, String> {
    if cfg!(target_endian = "big") {
        return Err("external weights are little-endian; this machine is not".into());
    }
    let mut values = vec![T::default(); n];
    // SAFETY: `values` owns `n` initialised elements of `T`, `n · size_of::<T>()` bytes; every
    // bit pattern is a valid `T` (`Plain`: numbers, not `bool`), so any bytes may be read in.
    let bytes = unsafe {
        std::slice::from_raw_parts_mut(
            values.as_mut_ptr().cast::<u8>(),
            std::mem::size_of_val(values.as_slice()),
        )
    };
    file.read_exact(bytes).map_err(|e| e.to_string())?;
    Tensor::from_array((shape, values)).map(|t| t.into_dyn()).map_err(|e| e.to_string())
}
