//! ANH's ONNX Runtime side: the model store, model analysis, and cached inference sessions.
//!
//! - [`ModelStore`] keeps ONNX files on disk by keccak256 hash, analysed before they are
//!   written, and the weight blobs of models past 2 GB (uploaded in resumable chunks; a model
//!   names them by hash, [`external`]).
//! - [`analyze`] reads an ONNX file (hand-written prost messages, bounded against protobuf
//!   bombs) and returns the [`ModelInfo`] the chain records — I/O signature and cost in MACs —
//!   or refuses the model with an [`AnalysisError`] (external data naming a path, custom operator domains,
//!   model-local functions, overflowing shapes, unsupported types, …).
//! - [`ModelRuntime`] is the one trait the rest of ANH runs models through; [`OrtRuntime`]
//!   implements it on ONNX Runtime 1.31.1, loaded at run time from the library
//!   [`find_ort_library`] finds (installed by `./dev setup`, i.e. `scripts/setup-ort.sh`),
//!   on CPU or CUDA ([`Device`]).
//! - [`train`] turns a model and a training spec into an ONNX training-step graph (reverse-mode
//!   autodiff plus the optimiser's update) that the same runtime runs.
//!
//! ```no_run
//! use anh_runtime::{ModelRuntime, ModelStore, OrtRuntime, RuntimeConfig};
//! use std::sync::Arc;
//!
//! # fn main() -> anh_runtime::Result<()> {
//! let store = Arc::new(ModelStore::open("models")?);
//! let info = store.put(&std::fs::read("mlp.onnx").expect("model file"))?;
//! let runtime = OrtRuntime::new(store, RuntimeConfig::default())?;
//! # let inputs = Vec::new();
//! let outputs = runtime.run(info.hash, inputs)?;
//! # Ok(())
//! # }
//! ```

mod analysis;
mod deadline;
mod error;
mod fields;
mod flush;
mod oracle;
mod ort_lib;
mod runtime;
mod shared;
mod store;
pub mod synth;
pub mod train;
mod trainer;
mod validate;

/// The subset of `onnx.proto` ANH reads and writes, as prost messages.
pub use analysis::proto as onnx;
pub use analysis::{
    Analysis, AnalysisError, IoKind, Limits, MAX_PROTOBUF_BYTES, analyze, analyze_model, external,
};
pub use error::{InputMismatch, Result, RuntimeError};
pub use oracle::LocalOracle;
pub use ort_lib::{
    CACHE_DIR_ENV, ORT_DYLIB_ENV, ORT_DYLIB_PATH_ENV, ORT_VERSION, cache_dir, find_ort_library,
    init_ort, loaded_ort_library, ort_environment,
};
pub use runtime::{
    CallLane, Device, ModelRuntime, OrtRuntime, RuntimeConfig, RuntimeStats, TrainOutput,
};
pub use store::{
    BlobStatus, ExternalWeights, ModelSource, ModelStore, SCRATCH_BYTES, SCRATCH_MODELS,
};
pub use trainer::{
    OPTIMIZER_STATE_PREFIX, compare_weights, frozen_unchanged, log_progress, same_architecture,
};
pub use validate::{spec_string, tensor_string, validate_inputs};

/// Re-exported from `anh-precompiles`: the types this crate's API speaks.
pub use anh_primitives::{Dim, ElemType, HostTensor, ModelInfo, TensorData, TensorSpec};
