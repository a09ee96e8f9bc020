//! The `debug_` and `trace_` namespaces: transaction, block and call tracing with geth's tracers
//! (`debug_`) and Parity's flat call traces (`trace_`).
//!
//! - `debug_traceTransaction(hash, options?)`: the transaction re-executed in its block (DNN
//!   precompiles in Replay mode: no model runs).
//! - `debug_traceBlockByNumber(block, options?)`, `debug_traceBlockByHash(hash, options?)`:
//!   `[{txHash, result}]`, one per transaction, in order.
//! - `debug_traceCall(request, block?, options?)`: like `eth_call` (Call mode), with
//!   `stateOverrides` and `blockOverrides` in the options.
//!
//! The options are geth's: the struct logger by default (`disableStack`, `disableStorage`,
//! `enableMemory`, `enableReturnData`, `limit`), or `tracer` with `tracerConfig`; the results
//! are geth's JSON. An unknown or JavaScript tracer, or an ill-typed option, is -32602; an
//! unknown transaction is geth's -32000 "transaction not found".
//!
//! - `trace_transaction(hash)`: the transaction's Parity traces (`LocalizedTransactionTrace`),
//!   one per call frame in call order, re-executed as for `debug_traceTransaction`. An unknown
//!   or pending transaction has none: `[]`, as in anvil (reth answers null).
//! - `trace_block(block)`: the traces of every transaction of the block (a number, tag or
//!   hash), in order; an unknown block is -32001, the pending block -32602.
//!
//! These are expensive requests ([`crate::api::is_heavy`]): they take turns, and run on the
//! low-priority runtime of [`crate::background`].

use crate::{
    api::{EthApi, RpcResult, blocking, ok},
    error::{RpcError, SERVER_ERROR},
    params::parse,
};
use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::B256;
use alloy_rpc_types_eth::TransactionRequest;
use alloy_rpc_types_trace::geth::{GethDebugTracingCallOptions, GethDebugTracingOptions};
use anh_evm_host::{Backend, TxLocation};
use serde_json::Value;
use std::sync::Arc;

/// Executes a `debug_` or `trace_` method, or `None` if there is no such method.
pub(crate) async fn execute(api: &EthApi, method: &str, params: Value) -> Option<RpcResult> {
    let backend = api.backend().clone();
    Some(match method {
        "debug_traceTransaction" => trace_transaction(backend, params).await,
        "debug_traceCall" => trace_call(backend, params).await,
        "debug_traceBlockByNumber" => trace_block_by_number(backend, params).await,
        "debug_traceBlockByHash" => trace_block_by_hash(backend, params).await,
        "trace_transaction" => parity_trace_transaction(backend, params).await,
        "trace_block" => parity_trace_block(backend, params).await,
        _ => return None,
    })
}

/// geth's answer for a hash no transaction has.
fn not_found() -> RpcError {
    RpcError::new(SERVER_ERROR, "transaction not found")
}

async fn trace_transaction(backend: Arc<Backend>, params: Value) -> RpcResult {
    let (hash, opts): (B256, Option<GethDebugTracingOptions>) = parse(params, 1)?;
    match backend.transaction(&hash) {
        None => return Err(not_found()),
        Some(TxLocation::Pending(_)) => {
            return Err(RpcError::new(
                SERVER_ERROR,
                format!("transaction {hash} is pending: it can be traced once it is mined"),
            ));
        }
        Some(TxLocation::Mined(..)) => {}
    }
    let opts = opts.unwrap_or_default();
    // `None` only if an `evm_revert` removed the block meanwhile.
    let trace = blocking(move || backend.trace_transaction(&hash, opts)).await?;
    ok(trace.ok_or_else(not_found)?)
}

async fn trace_block_by_number(backend: Arc<Backend>, params: Value) -> RpcResult {
    let (tag, opts): (BlockNumberOrTag, Option<GethDebugTracingOptions>) = parse(params, 1)?;
    trace_block(backend, BlockId::Number(tag), opts).await
}

async fn trace_block_by_hash(backend: Arc<Backend>, params: Value) -> RpcResult {
    let (hash, opts): (B256, Option<GethDebugTracingOptions>) = parse(params, 1)?;
    trace_block(backend, BlockId::Hash(hash.into()), opts).await
}

async fn trace_block(
    backend: Arc<Backend>,
    id: BlockId,
    opts: Option<GethDebugTracingOptions>,
) -> RpcResult {
    let opts = opts.unwrap_or_default();
    ok(blocking(move || backend.trace_block(id, opts)).await?)
}

async fn trace_call(backend: Arc<Backend>, params: Value) -> RpcResult {
    let (request, id, opts): (
        TransactionRequest,
        Option<BlockId>,
        Option<GethDebugTracingCallOptions>,
    ) = parse(params, 1)?;
    let id = id.unwrap_or_default();
    let opts = opts.unwrap_or_default();
    ok(blocking(move || backend.trace_call(&request, id, opts)).await?)
}

async fn parity_trace_transaction(backend: Arc<Backend>, params: Value) -> RpcResult {
    let (hash,): (B256,) = parse(params, 1)?;
    let traces = blocking(move || backend.parity_trace_transaction(&hash)).await?;
    ok(traces.unwrap_or_default())
}

async fn parity_trace_block(backend: Arc<Backend>, params: Value) -> RpcResult {
    let (id,): (BlockId,) = parse(params, 1)?;
    ok(blocking(move || backend.parity_trace_block(id)).await?)
}
