//! The crate's error type: every way loading ONNX Runtime, storing, analysing or running a
//! model can fail, each with a message a Solidity developer or an operator can act on.

use crate::analysis::AnalysisError;
use alloy_primitives::B256;
use std::path::PathBuf;

/// `Result` with [`RuntimeError`].
pub type Result<T, E = RuntimeError> = core::result::Result<T, E>;

/// Everything that can go wrong in `anh-runtime`.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// No ONNX Runtime library in the places [`crate::find_ort_library`] looks.
    #[error(
        "ONNX Runtime 1.31.1 not found: run `./dev setup` (or set ANH_ORT_DYLIB to the path of libonnxruntime.so)"
    )]
    OrtNotFound {
        /// The cache folder that was searched.
        looked_in: PathBuf,
    },
    /// An environment variable names a library file that does not exist.
    #[error(
        "{var} is set to {}, which does not exist: run `./dev setup`, or point {var} at libonnxruntime.so.1.31.1",
        path.display()
    )]
    OrtPathMissing {
        /// The variable (`ANH_ORT_DYLIB` or `ORT_DYLIB_PATH`).
        var: &'static str,
        /// Its value.
        path: PathBuf,
    },
    /// The library exists but could not be loaded or initialised.
    #[error("failed to load ONNX Runtime from {}: {message}", path.display())]
    OrtLoad {
        /// The library's path.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// ONNX Runtime could not create a session for a model.
    #[error("ONNX Runtime could not load model {model}: {message}")]
    Session {
        /// The model.
        model: B256,
        /// ONNX Runtime's message.
        message: String,
    },
    /// ONNX Runtime failed while running a model.
    #[error("ONNX Runtime failed to run model {model}: {message}")]
    Inference {
        /// The model.
        model: B256,
        /// ONNX Runtime's message.
        message: String,
    },
    /// The model store holds no such model.
    #[error("model {0} is not in the model store: push it with `anh model push`")]
    UnknownModel(B256),
    /// Analysis refused the model.
    #[error(transparent)]
    Analysis(#[from] AnalysisError),
    /// A stored model file's bytes no longer hash to its name.
    #[error("model file {} is corrupt: its keccak256 is {actual}, not {expected}", path.display())]
    CorruptModel {
        /// The hash the file is stored under.
        expected: B256,
        /// The hash of its bytes.
        actual: B256,
        /// The file.
        path: PathBuf,
    },
    /// A file-system operation of the model store failed.
    #[error("model store I/O error on {}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The number of inputs differs from the model's.
    #[error("model takes {expected} input(s) ({names}), got {got}")]
    InputCount {
        /// How many the model takes.
        expected: usize,
        /// How many were given.
        got: usize,
        /// The model's input names, quoted and comma-separated.
        names: String,
    },
    /// An input's element type differs from the declared one.
    #[error("{0}")]
    InputElemType(Box<InputMismatch>),
    /// An input's rank differs from the declared one.
    #[error("{mismatch} (rank {got_rank}, not {expected_rank})")]
    InputRank {
        /// Which input, and what was declared and given.
        mismatch: Box<InputMismatch>,
        /// The declared rank.
        expected_rank: usize,
        /// The given rank.
        got_rank: usize,
    },
    /// A fixed dimension differs from the declared size.
    #[error("{mismatch} (dimension {dim} must be {size})")]
    InputDim {
        /// Which input, and what was declared and given.
        mismatch: Box<InputMismatch>,
        /// Index of the dimension.
        dim: usize,
        /// Its declared size.
        size: u64,
    },
    /// A symbolic dimension was bound to different sizes by different inputs.
    #[error(
        "{mismatch} (dimension {dim} is \"{symbol}\", which input {first_index} (\"{first_name}\") set to {bound})"
    )]
    InputSymbol {
        /// Which input, and what was declared and given.
        mismatch: Box<InputMismatch>,
        /// Index of the dimension.
        dim: usize,
        /// The symbol (`dim_param`).
        symbol: String,
        /// The size the symbol was first bound to.
        bound: u64,
        /// The input that bound it first.
        first_index: usize,
        /// Its name.
        first_name: String,
    },
    /// A dimension too large for ONNX Runtime (above `i64::MAX`).
    #[error("input {index} (\"{name}\"): dimension {dim} is {size}, too large for ONNX Runtime")]
    InputDimTooLarge {
        /// Position of the input.
        index: usize,
        /// Its name.
        name: String,
        /// Index of the dimension.
        dim: usize,
        /// Its size.
        size: u64,
    },
    /// ONNX Runtime returned an output that does not match the model's declaration.
    #[error("output \"{name}\": {message}")]
    Output {
        /// The output's name.
        name: String,
        /// What was wrong.
        message: String,
    },
}

/// Which input did not match its declaration, and how: the common part of the input
/// mismatch errors. Displays as `input 0 ("x"): expected float32 [batch, 4], got int64 [1, 4]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("input {index} (\"{name}\"): expected {expected}, got {got}")]
pub struct InputMismatch {
    /// Position of the input.
    pub index: usize,
    /// Its name.
    pub name: String,
    /// The declared type and shape, e.g. `float32 [batch, 4]`.
    pub expected: String,
    /// The given type and shape, e.g. `int64 [1, 4]`.
    pub got: String,
}
