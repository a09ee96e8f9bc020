//! The `debug_` namespace: transaction and call tracing.

use crate::api::{EthApi, RpcResult};
use serde_json::Value;

/// Executes a `debug_` method, or `None` if there is no such method.
pub(crate) async fn execute(_api: &EthApi, _method: &str, _params: Value) -> Option<RpcResult> {
    None
}
