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
    /// A run passed this node's deadline and ONNX Runtime stopped it.
    #[error(
        "ONNX Runtime stopped running model {model} after {after:?}, this node's deadline for \
         one run (--max-run-time)"
    )]
    Deadline {
        /// The model.
        model: B256,
        /// The deadline.
        after: std::time::Duration,
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
    /// A model references a weight blob the store does not hold.
    #[error(
        "model needs weight blob {blob} (tensor \"{tensor}\"), which this store does not hold: \
         upload it first (PUT /blobs/{blob}, or `anh model push`, which does both)"
    )]
    MissingBlob {
        /// The blob.
        blob: B256,
        /// A tensor kept in it.
        tensor: String,
    },
    /// A model reads past the end of a weight blob.
    #[error("model reads {needs} bytes of weight blob {blob}, which holds {size}")]
    BlobTooShort {
        /// The blob.
        blob: B256,
        /// Its size.
        size: u64,
        /// How many bytes from its start the model reads.
        needs: u64,
    },
    /// A chunk of a blob upload does not start where the upload stands.
    #[error(
        "blob {blob}: a chunk at offset {offset}, but the upload stands at {expected}: resume from there"
    )]
    BlobOffset {
        /// The blob.
        blob: B256,
        /// Where the chunk starts.
        offset: u64,
        /// Where the upload stands (bytes received).
        expected: u64,
    },
    /// A blob's bytes do not hash to the name it was uploaded under; the upload is dropped.
    #[error(
        "blob upload dropped: its {size} bytes hash to {actual}, not {expected}, the name it was uploaded under"
    )]
    BlobHash {
        /// The name it was uploaded under.
        expected: B256,
        /// The keccak256 of what arrived.
        actual: B256,
        /// How many bytes arrived.
        size: u64,
    },
    /// A blob upload that cannot go on as asked (its size, a chunk past its end).
    #[error("blob {blob}: {reason}")]
    BlobUpload {
        /// The blob.
        blob: B256,
        /// Why.
        reason: String,
    },
    /// Training a model whose weights are in blobs.
    #[error(
        "model {0} keeps its weights in blobs (external data): ANH runs such models but does not \
         train them yet; train a model of one file"
    )]
    ExternalWeights(B256),
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
    /// An op on the path from a trained weight to the loss has no gradient in ANH (or not
    /// with these attributes).
    #[error("model is not trainable: op \"{op}\" (node \"{node}\") {detail}")]
    NoGradient {
        /// The operator.
        op: String,
        /// The node's name (or its first output's, when it has none).
        node: String,
        /// Why: "has no gradient in ANH", or which attribute is not supported.
        detail: String,
    },
    /// Nothing to train.
    #[error(
        "model has no trainable weights: no float32/float64 initializer lies on a path to the model's first output"
    )]
    NoTrainableWeights,
    /// A weight named by the training spec is not a floating-point initializer.
    #[error("\"{0}\" is not a float32/float64 initializer of the model, so it cannot be trained")]
    NotAWeight(String),
    /// A weight named by the training spec does not affect the loss.
    #[error("weight \"{0}\" does not affect the loss on the model's first output")]
    WeightUnused(String),
    /// Training needs opset 13 semantics (axes as inputs, Softmax on one axis).
    #[error(
        "model uses ONNX opset {0}; ANH trains models of opset 13 or later: re-export with opset_version=13 or higher"
    )]
    OpsetTooOld(i64),
    /// The loss does not fit the model's first output, or the labels given do not fit the loss.
    #[error("{0}")]
    LossTarget(String),
    /// The autodiff needs a rank or dimension that the model does not let it infer.
    #[error(
        "model is not trainable: the shape of \"{tensor}\" is unknown where op \"{op}\" needs {what}; declare it (value_info) or export with static shapes"
    )]
    UnknownShape {
        /// The tensor.
        tensor: String,
        /// The op whose gradient needs it.
        op: String,
        /// What is needed ("its rank", "its spatial dimensions").
        what: &'static str,
    },
    /// The model cannot be read as a trainable ONNX model (missing graph, malformed tensor).
    #[error("model cannot be trained: {0}")]
    BadTrainModel(String),
    /// Values given for a weight or an optimiser state tensor do not fit it.
    #[error("\"{name}\" holds {expected} values, {got} were given")]
    WeightCount {
        /// The initializer.
        name: String,
        /// Its element count.
        expected: usize,
        /// How many values were given.
        got: usize,
    },
    /// A training run failed: it diverged (a loss or weight that is not finite), the runtime
    /// cannot train, or its result is not acceptable.
    #[error("{0}")]
    Training(String),
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
