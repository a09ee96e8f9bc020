//! JSON-RPC errors, and the one place where chain errors get their codes.
//!
//! Codes and wording follow geth, which ethers.js, viem and web3.py match on: reverts are
//! code 3 with "execution reverted: <reason>" and the revert bytes in `data`; transaction
//! validation failures are -32000 with geth's message.

use anh_evm_host::HostError;
use serde::Serialize;
use serde_json::Value;

/// JSON-RPC 2.0 "Parse error".
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC 2.0 "Invalid Request".
pub const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC 2.0 "Method not found".
pub const METHOD_NOT_FOUND: i64 = -32601;
/// JSON-RPC 2.0 "Invalid params".
pub const INVALID_PARAMS: i64 = -32602;
/// JSON-RPC 2.0 "Internal error".
pub const INTERNAL_ERROR: i64 = -32603;
/// geth's generic server error (transaction validation, EVM failures).
pub const SERVER_ERROR: i64 = -32000;
/// A block that does not exist.
pub const UNKNOWN_BLOCK: i64 = -32001;
/// A revert (EIP-1474 / geth).
pub const EXECUTION_REVERTED: i64 = 3;
/// -32005: a request exceeds a limit (EIP-1474), e.g. an `eth_getLogs` with too many results.
pub const LIMIT_EXCEEDED: i64 = -32005;

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error("{message} (code {code})")]
pub struct RpcError {
    /// Error code.
    pub code: i64,
    /// Human-readable message.
    pub message: String,
    /// Extra data (revert bytes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    /// An error with `code` and `message`.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), data: None }
    }

    /// -32700.
    pub fn parse_error(detail: impl std::fmt::Display) -> Self {
        Self::new(PARSE_ERROR, format!("Parse error: {detail}"))
    }

    /// -32600.
    pub fn invalid_request(detail: impl std::fmt::Display) -> Self {
        Self::new(INVALID_REQUEST, format!("Invalid request: {detail}"))
    }

    /// -32601 for a method the node does not have, worded exactly as anvil words it
    /// (`{"code":-32601,"message":"Method not found"}`, no `data`). Not geth's "the method X
    /// does not exist/is not available": ethers.js v6 matches that wording and reports an
    /// `UNSUPPORTED_OPERATION` instead of the JSON-RPC error.
    pub fn method_not_found() -> Self {
        Self::new(METHOD_NOT_FOUND, "Method not found")
    }

    /// -32602.
    pub fn invalid_params(detail: impl std::fmt::Display) -> Self {
        Self::new(INVALID_PARAMS, format!("Invalid params: {detail}"))
    }

    /// -32603.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::new(INTERNAL_ERROR, format!("Internal error: {detail}"))
    }
}

impl From<HostError> for RpcError {
    fn from(error: HostError) -> Self {
        let message = error.to_string();
        match error {
            HostError::Reverted { output, .. } => Self {
                code: EXECUTION_REVERTED,
                message,
                data: Some(Value::String(alloy_primitives::hex::encode_prefixed(output))),
            },
            HostError::InvalidTx(_)
            | HostError::Halted(_)
            | HostError::GasExceedsAllowance(_)
            | HostError::CallInvalid(_)
            | HostError::UnknownAccount(_)
            | HostError::DevDisabled(_) => Self::new(SERVER_ERROR, message),
            HostError::Decode(_) | HostError::InvalidRequest(_) => {
                Self::new(INVALID_PARAMS, message)
            }
            HostError::UnknownBlock => Self::new(UNKNOWN_BLOCK, message),
            HostError::LimitExceeded(_) => Self::new(LIMIT_EXCEEDED, message),
            HostError::Config(_) | HostError::Storage(_) | HostError::Internal(_) => {
                Self::internal(message)
            }
        }
    }
}
