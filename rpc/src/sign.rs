//! Signing with the dev accounts' keys: `eth_sign`, `personal_sign`, `eth_signTypedData_v4`
//! (and its `v3` and unversioned names). `eth_signTransaction` signs through
//! [`Backend::sign_request`], like `eth_sendTransaction`.
//!
//! Signatures are 65 bytes `r ‖ s ‖ v` with `v` 27 or 28, as geth and anvil return them.

use crate::{
    api::{RpcResult, ok},
    error::RpcError,
    params::parse,
};
use alloy_dyn_abi::TypedData;
use alloy_primitives::{Address, Bytes};
use alloy_signer::SignerSync;
use anh_evm_host::{Backend, HostError};
use serde_json::Value;

fn signer(
    backend: &Backend,
    address: Address,
) -> Result<&alloy_signer_local::PrivateKeySigner, RpcError> {
    backend
        .dev_accounts()
        .iter()
        .find(|a| a.address == address)
        .map(|a| &a.signer)
        .ok_or_else(|| HostError::UnknownAccount(address).into())
}

fn signature_bytes(signature: alloy_primitives::Signature) -> Bytes {
    Bytes::from(signature.as_bytes().to_vec())
}

/// `eth_sign(address, message)` and `personal_sign(message, address)`: an EIP-191 signature
/// of `message`.
pub(crate) fn personal(backend: &Backend, address: Address, message: &[u8]) -> RpcResult {
    let signature = signer(backend, address)?
        .sign_message_sync(message)
        .map_err(|e| RpcError::internal(format!("signing: {e}")))?;
    ok(signature_bytes(signature))
}

/// `eth_signTypedData_v4(address, typedData)`: an EIP-712 signature. The typed data may be
/// given as an object or as a JSON string (what ethers.js sends).
pub(crate) fn typed_data(backend: &Backend, params: Value) -> RpcResult {
    let (address, data): (Address, Value) = parse(params, 2)?;
    let data: TypedData = match data {
        Value::String(json) => serde_json::from_str(&json),
        other => serde_json::from_value(other),
    }
    .map_err(|e| RpcError::invalid_params(format!("invalid typed data: {e}")))?;
    let hash = data
        .eip712_signing_hash()
        .map_err(|e| RpcError::invalid_params(format!("invalid typed data: {e}")))?;
    let signature = signer(backend, address)?
        .sign_hash_sync(&hash)
        .map_err(|e| RpcError::internal(format!("signing: {e}")))?;
    ok(signature_bytes(signature))
}
