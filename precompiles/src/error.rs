//! The precompiles' failures: each is a Solidity custom error of `IDnnErrors`, so contracts
//! can catch it by type, and [`describe`] turns revert data back into a sentence for RPC
//! clients ("execution reverted: UnknownModel(0x…): …").

use crate::abi::IDnnErrors::{self, IDnnErrorsErrors};
use alloy_primitives::{B256, Bytes, FixedBytes, U256};
use alloy_sol_types::{SolError, SolInterface};
use anh_primitives::OracleError;

/// Why a precompile call reverted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnnError {
    /// The model is not registered.
    #[error(
        "UnknownModel({0}): the model is not registered; register it with `anh model push FILE --name NAME`"
    )]
    UnknownModel(B256),
    /// The node's model store lacks the model's bytes.
    #[error(
        "ModelUnavailable({0}): this node's model store does not hold the model; upload it with `anh model push` or anh_putModel"
    )]
    ModelUnavailable(B256),
    /// The model is registered already.
    #[error("AlreadyRegistered({0}): the model is registered already")]
    AlreadyRegistered(B256),
    /// Wrong number of inputs.
    #[error("WrongInputCount: the model takes {expected} input(s), got {got}")]
    WrongInputCount {
        /// Inputs the model takes.
        expected: usize,
        /// Inputs passed.
        got: usize,
    },
    /// An input's shape does not fit.
    #[error("InputMismatch: input {input}: expected {expected}, got {got}")]
    InputMismatch {
        /// Input index.
        input: usize,
        /// Declared type and shape.
        expected: String,
        /// Passed type and shape.
        got: String,
    },
    /// A malformed input tensor.
    #[error("BadTensor: input {input}: {reason}")]
    BadTensor {
        /// Input index.
        input: usize,
        /// What is wrong.
        reason: String,
    },
    /// A tensor over the element limit.
    #[error("TensorTooLarge: input {input} has {elements} elements, the limit is {limit}")]
    TensorTooLarge {
        /// Input index.
        input: usize,
        /// Elements.
        elements: u64,
        /// Limit.
        limit: u64,
    },
    /// An element does not fit its target type.
    #[error("ConversionFailed: tensor {tensor}, element {element}: {reason}")]
    ConversionFailed {
        /// Tensor index (input, or output for outputs).
        tensor: usize,
        /// Element index.
        element: u64,
        /// Why.
        reason: String,
    },
    /// The computation failed.
    #[error("InferenceFailed: {0}")]
    InferenceFailed(String),
    /// Training failed; no model was registered.
    #[error("TrainingFailed: {0}")]
    TrainingFailed(String),
    /// A state change under STATICCALL.
    #[error("WriteInStaticCall: this function changes state and cannot run under STATICCALL")]
    WriteInStaticCall,
    /// No such function.
    #[error("UnknownSelector({}): no such function in this precompile", FixedBytes::<4>::from(*.0))]
    UnknownSelector([u8; 4]),
    /// Undecodable calldata, or a call made in a way that is not allowed.
    #[error("MalformedCall: {0}")]
    MalformedCall(String),
    /// The committee did not settle the result.
    #[error(
        "NoQuorum({job}): no quorum: {signatures} executor signature(s), the committee needs {threshold}"
    )]
    NoQuorum {
        /// The job.
        job: B256,
        /// Signatures gathered.
        signatures: usize,
        /// Signatures needed.
        threshold: usize,
    },
}

impl DnnError {
    /// The ABI-encoded custom error (revert data).
    pub fn abi_encode(&self) -> Bytes {
        let u = |v: usize| U256::from(v);
        let data = match self.clone() {
            Self::UnknownModel(model) => IDnnErrors::UnknownModel { model }.abi_encode(),
            Self::ModelUnavailable(model) => IDnnErrors::ModelUnavailable { model }.abi_encode(),
            Self::AlreadyRegistered(model) => IDnnErrors::AlreadyRegistered { model }.abi_encode(),
            Self::WrongInputCount { expected, got } => {
                IDnnErrors::WrongInputCount { expected: u(expected), got: u(got) }.abi_encode()
            }
            Self::InputMismatch { input, expected, got } => {
                IDnnErrors::InputMismatch { input: u(input), expected, got }.abi_encode()
            }
            Self::BadTensor { input, reason } => {
                IDnnErrors::BadTensor { input: u(input), reason }.abi_encode()
            }
            Self::TensorTooLarge { input, elements, limit } => IDnnErrors::TensorTooLarge {
                input: u(input),
                elements: U256::from(elements),
                limit: U256::from(limit),
            }
            .abi_encode(),
            Self::ConversionFailed { tensor, element, reason } => IDnnErrors::ConversionFailed {
                tensor: u(tensor),
                element: U256::from(element),
                reason,
            }
            .abi_encode(),
            Self::InferenceFailed(reason) => IDnnErrors::InferenceFailed { reason }.abi_encode(),
            Self::TrainingFailed(reason) => IDnnErrors::TrainingFailed { reason }.abi_encode(),
            Self::WriteInStaticCall => IDnnErrors::WriteInStaticCall {}.abi_encode(),
            Self::UnknownSelector(selector) => {
                IDnnErrors::UnknownSelector { selector: selector.into() }.abi_encode()
            }
            Self::MalformedCall(reason) => IDnnErrors::MalformedCall { reason }.abi_encode(),
            Self::NoQuorum { job, signatures, threshold } => {
                IDnnErrors::NoQuorum { job, signatures: u(signatures), threshold: u(threshold) }
                    .abi_encode()
            }
        };
        data.into()
    }

    /// Decodes revert data produced by [`DnnError::abi_encode`].
    pub fn abi_decode(data: &[u8]) -> Option<Self> {
        let small = |v: U256| usize::try_from(v).unwrap_or(usize::MAX);
        let big = |v: U256| u64::try_from(v).unwrap_or(u64::MAX);
        Some(match IDnnErrorsErrors::abi_decode(data).ok()? {
            IDnnErrorsErrors::UnknownModel(e) => Self::UnknownModel(e.model),
            IDnnErrorsErrors::ModelUnavailable(e) => Self::ModelUnavailable(e.model),
            IDnnErrorsErrors::AlreadyRegistered(e) => Self::AlreadyRegistered(e.model),
            IDnnErrorsErrors::WrongInputCount(e) => {
                Self::WrongInputCount { expected: small(e.expected), got: small(e.got) }
            }
            IDnnErrorsErrors::InputMismatch(e) => {
                Self::InputMismatch { input: small(e.input), expected: e.expected, got: e.got }
            }
            IDnnErrorsErrors::BadTensor(e) => {
                Self::BadTensor { input: small(e.input), reason: e.reason }
            }
            IDnnErrorsErrors::TensorTooLarge(e) => Self::TensorTooLarge {
                input: small(e.input),
                elements: big(e.elements),
                limit: big(e.limit),
            },
            IDnnErrorsErrors::ConversionFailed(e) => Self::ConversionFailed {
                tensor: small(e.tensor),
                element: big(e.element),
                reason: e.reason,
            },
            IDnnErrorsErrors::InferenceFailed(e) => Self::InferenceFailed(e.reason),
            IDnnErrorsErrors::TrainingFailed(e) => Self::TrainingFailed(e.reason),
            IDnnErrorsErrors::WriteInStaticCall(_) => Self::WriteInStaticCall,
            IDnnErrorsErrors::UnknownSelector(e) => Self::UnknownSelector(e.selector.0),
            IDnnErrorsErrors::MalformedCall(e) => Self::MalformedCall(e.reason),
            IDnnErrorsErrors::NoQuorum(e) => Self::NoQuorum {
                job: e.job,
                signatures: small(e.signatures),
                threshold: small(e.threshold),
            },
        })
    }
}

/// A sentence for revert data that is one of the precompiles' errors.
pub fn describe(data: &[u8]) -> Option<String> {
    DnnError::abi_decode(data).map(|e| e.to_string())
}

impl From<OracleError> for DnnError {
    fn from(error: OracleError) -> Self {
        match error {
            OracleError::ModelUnavailable(model) => Self::ModelUnavailable(model),
            OracleError::Failed(reason) => Self::InferenceFailed(reason),
            OracleError::NoQuorum { job, signatures, threshold } => {
                Self::NoQuorum { job, signatures, threshold }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every error round-trips through its ABI encoding and describes itself.
    #[test]
    fn round_trip_and_describe() {
        let errors = vec![
            DnnError::UnknownModel(B256::repeat_byte(1)),
            DnnError::ModelUnavailable(B256::repeat_byte(2)),
            DnnError::AlreadyRegistered(B256::repeat_byte(3)),
            DnnError::WrongInputCount { expected: 1, got: 2 },
            DnnError::InputMismatch {
                input: 0,
                expected: "float32 [batch, 4]".into(),
                got: "float32 [1, 5]".into(),
            },
            DnnError::BadTensor { input: 1, reason: "unknown dtype 0x09".into() },
            DnnError::TensorTooLarge { input: 0, elements: 10, limit: 5 },
            DnnError::ConversionFailed { tensor: 0, element: 3, reason: "NaN".into() },
            DnnError::InferenceFailed("boom".into()),
            DnnError::TrainingFailed("loss is NaN".into()),
            DnnError::WriteInStaticCall,
            DnnError::UnknownSelector([0xde, 0xad, 0xbe, 0xef]),
            DnnError::MalformedCall("short".into()),
            DnnError::NoQuorum { job: B256::repeat_byte(4), signatures: 1, threshold: 2 },
        ];
        for error in errors {
            let data = error.abi_encode();
            assert_eq!(DnnError::abi_decode(&data), Some(error.clone()));
            assert_eq!(describe(&data), Some(error.to_string()));
        }
        assert_eq!(describe(&[1, 2, 3]), None);
        assert!(
            DnnError::UnknownSelector([0xde, 0xad, 0xbe, 0xef])
                .to_string()
                .starts_with("UnknownSelector(0xdeadbeef)")
        );
    }
}
