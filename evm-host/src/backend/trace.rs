//! Tracing: re-executing transactions and calls with an inspector (`debug_trace*`, `trace_*`).
//!
//! The geth tracers are revm-inspectors' [`DebugInspector`]: geth's struct logger (the default,
//! `structLogs`) and its built-in tracers (`callTracer`, `prestateTracer`, `4byteTracer`,
//! `flatCallTracer`, `muxTracer`, `noopTracer`, `erc7562Tracer`), with geth's JSON.
//! JavaScript tracers are refused. The Parity traces (`trace_transaction`, `trace_block`) come
//! from revm-inspectors' [`TracingInspector`] with its Parity configuration, as in reth and
//! anvil: one flat trace per call frame, located by `traceAddress`.
//!
//! A mined transaction is traced by re-executing its block from the parent's state exactly as
//! importing it would ([`Backend::execute`] in strict mode, with the block's dev edits first):
//! the transactions before it without an inspector, then it with one. The DNN precompiles run in
//! **Replay mode** there: results come from the block's job records after their signatures
//! are verified, so no model runs and no executor is asked. A call (`debug_traceCall`) runs
//! like `eth_call`, in Call mode.
//!
//! **The struct logger is bounded** ([`STRUCT_LOG_BUDGET`]): it records every step (with the
//! stack, and memory when asked), which a 30 M-gas transaction can make gigabytes of. Its
//! recording stops once the steps recorded would take more than the budget (about 64 bytes per
//! step, 32 per stack word, the memory's size when `enableMemory`), and the trace is refused
//! with -32005 naming the other tracers; execution itself is never changed.

use super::{Backend, CallOverrides, TxLocation, build::BlockParams, call::call_error};
use crate::{
    block::{Block, MinedTx},
    error::{HostError, HostResult},
    evm::{AnhContext, AnhInspectingEvm, call_cfg, call_tx_env, tx_env},
    state::StateDb,
};
use alloy_eips::BlockId;
use alloy_primitives::B256;
use alloy_rpc_types_eth::{TransactionInfo, TransactionRequest};
use alloy_rpc_types_trace::{
    geth::{
        GethDebugBuiltInTracerType, GethDebugTracerConfig, GethDebugTracerType,
        GethDebugTracingCallOptions, GethDebugTracingOptions, GethTrace, TraceResult,
        erc7562::Erc7562Config,
    },
    parity::LocalizedTransactionTrace,
};
use anh_primitives::ReplayOracle;
use revm::{
    DatabaseCommit, InspectEvm, Inspector,
    context::{TxEnv, result::ResultAndState},
    interpreter::{CallInputs, CallOutcome, CreateInputs, CreateOutcome, Interpreter},
};
use revm_inspectors::tracing::{
    DebugInspector, DebugInspectorError, TracingInspector, TracingInspectorConfig,
    TransactionContext,
};
use std::ops::Range;

/// What the error messages offer instead of an unknown or JavaScript tracer.
const TRACERS: &str = "the built-in tracers are callTracer, prestateTracer, 4byteTracer, \
                       flatCallTracer, muxTracer, noopTracer and erc7562Tracer; leave \"tracer\" \
                       out for the struct logger";

/// Bytes the struct logger may record for one trace (an estimate: see the module docs).
pub const STRUCT_LOG_BUDGET: u64 = 256 << 20;

/// An inspector that forwards everything to `inner`, but stops forwarding steps once the
/// steps forwarded would cost more than the budget (each `64` bytes plus the stack and memory
/// it records); execution is never changed.
#[derive(Debug)]
pub(super) struct Budgeted<I> {
    pub(super) inner: I,
    /// `None`: no budget (tracers that record no steps).
    budget: Option<u64>,
    stack: bool,
    memory: bool,
    spent: u64,
    /// Whether the current step was forwarded (its `step_end` goes the same way).
    forwarding: bool,
    exceeded: bool,
}

impl<I> Budgeted<I> {
    fn new(inner: I, opts: &GethDebugTracingOptions) -> Self {
        let struct_logger = match &opts.tracer {
            None => true,
            Some(GethDebugTracerType::JsTracer(code)) => code.is_empty(),
            Some(_) => false,
        };
        let config = &opts.config;
        Self {
            inner,
            budget: struct_logger.then_some(STRUCT_LOG_BUDGET),
            stack: !config.disable_stack.unwrap_or(false),
            memory: config.enable_memory.unwrap_or(false),
            spent: 0,
            forwarding: true,
            exceeded: false,
        }
    }

    /// The refusal of a trace that ran past its budget.
    fn check(&self) -> HostResult<()> {
        if self.exceeded {
            return Err(HostError::LimitExceeded(format!(
                "trace too large: the struct logger would record more than {STRUCT_LOG_BUDGET} \
                 bytes; use callTracer, prestateTracer or flatCallTracer, or disableStack and \
                 leave enableMemory off"
            )));
        }
        Ok(())
    }
}

impl<CTX, I: Inspector<CTX>> Inspector<CTX> for Budgeted<I> {
    fn initialize_interp(&mut self, interp: &mut Interpreter, context: &mut CTX) {
        self.inner.initialize_interp(interp, context);
    }

    fn step(&mut self, interp: &mut Interpreter, context: &mut CTX) {
        if let Some(budget) = self.budget {
            let mut cost = 64;
            if self.stack {
                cost += 32 * interp.stack.len() as u64;
            }
            if self.memory {
                cost += interp.memory.len() as u64;
            }
            self.spent = self.spent.saturating_add(cost);
            if self.spent > budget {
                self.exceeded = true;
            }
        }
        self.forwarding = !self.exceeded;
        if self.forwarding {
            self.inner.step(interp, context);
        }
    }

    fn step_end(&mut self, interp: &mut Interpreter, context: &mut CTX) {
        if self.forwarding {
            self.inner.step_end(interp, context);
        }
    }

    fn log(&mut self, context: &mut CTX, log: alloy_primitives::Log) {
        self.inner.log(context, log);
    }

    fn log_full(
        &mut self,
        interp: &mut Interpreter,
        context: &mut CTX,
        log: alloy_primitives::Log,
    ) {
        self.inner.log_full(interp, context, log);
    }

    fn call(&mut self, context: &mut CTX, inputs: &mut CallInputs) -> Option<CallOutcome> {
        self.inner.call(context, inputs)
    }

    fn call_end(&mut self, context: &mut CTX, inputs: &CallInputs, outcome: &mut CallOutcome) {
        self.inner.call_end(context, inputs, outcome);
    }

    fn create(&mut self, context: &mut CTX, inputs: &mut CreateInputs) -> Option<CreateOutcome> {
        self.inner.create(context, inputs)
    }

    fn create_end(
        &mut self,
        context: &mut CTX,
        inputs: &CreateInputs,
        outcome: &mut CreateOutcome,
    ) {
        self.inner.create_end(context, inputs, outcome);
    }

    fn selfdestruct(
        &mut self,
        contract: alloy_primitives::Address,
        target: alloy_primitives::Address,
        value: alloy_primitives::U256,
    ) {
        self.inner.selfdestruct(contract, target, value);
    }
}

impl Backend {
    /// `debug_traceTransaction`: re-executes the block of the transaction with `hash` up to it
    /// (Replay mode for the DNN precompiles) and traces it with the tracer of `opts`; `None`
    /// if no mined transaction has this hash (a pooled one has no trace until it is mined).
    pub fn trace_transaction(
        &self,
        hash: &B256,
        opts: GethDebugTracingOptions,
    ) -> HostResult<Option<GethTrace>> {
        let inspector = Budgeted::new(tracer(opts.clone())?, &opts);
        let Some(TxLocation::Mined(block, index)) = self.transaction(hash) else {
            return Ok(None);
        };
        let mut traces = self.replay_traced(&block, index..index + 1, inspector, geth_trace)?;
        Ok(traces.pop())
    }

    /// The mined block `id` names: the pending block cannot be traced.
    fn mined_block(&self, id: BlockId) -> HostResult<std::sync::Arc<Block>> {
        let number = self.resolve_number(id)?.ok_or_else(|| {
            HostError::InvalidRequest(
                "the pending block cannot be traced: mine it first (evm_mine)".into(),
            )
        })?;
        self.block(number).ok_or(HostError::UnknownBlock)
    }

    /// `debug_traceBlockByNumber` / `debug_traceBlockByHash`: traces every transaction of the
    /// block `id` names, in order, each on the state its predecessors left (Replay mode).
    pub fn trace_block(
        &self,
        id: BlockId,
        opts: GethDebugTracingOptions,
    ) -> HostResult<Vec<TraceResult>> {
        let inspector = Budgeted::new(tracer(opts.clone())?, &opts);
        let block = self.mined_block(id)?;
        if block.transactions.is_empty() {
            return Ok(Vec::new());
        }
        let traces =
            self.replay_traced(&block, 0..block.transactions.len(), inspector, geth_trace)?;
        Ok(traces
            .into_iter()
            .zip(&block.transactions)
            .map(|(result, tx)| TraceResult::Success { result, tx_hash: Some(tx.hash) })
            .collect())
    }

    /// `debug_traceCall`: executes `request` like `eth_call` at block `id` (Call mode for the
    /// DNN precompiles: the node runs the model itself), with `opts`' state and block overrides,
    /// and traces it. A revert is a trace with `failed: true`, not an error, as in geth.
    pub fn trace_call(
        &self,
        request: &TransactionRequest,
        id: BlockId,
        opts: GethDebugTracingCallOptions,
    ) -> HostResult<GethTrace> {
        if opts.tx_index.is_some() {
            return Err(HostError::InvalidRequest(
                "txIndex is not supported: trace the call on a whole block's state instead".into(),
            ));
        }
        let inspector = Budgeted::new(tracer(opts.tracing_options.clone())?, &opts.tracing_options);
        let overrides = CallOverrides {
            state: opts.state_overrides,
            block: opts.block_overrides.map(Box::new),
        };
        let (mut state, mut block, hashes) = self.call_context(id)?;
        overrides.apply(&mut state, &mut block, &self.codes)?;
        let from = request.from.unwrap_or_default();
        let nonce = state.account(&from).map(|a| a.nonce).unwrap_or(0);
        let tx = call_tx_env(request, block.gas_limit, nonce, self.chain_id())
            .map_err(HostError::InvalidRequest)?;
        let cfg = call_cfg(&self.evm, &tx);
        let db = self.call_db(state, hashes);
        let mut evm =
            self.evm.evm_with_inspector(db, cfg, block, self.evm.call_precompiles(), inspector);
        let result = evm.inspect_tx(tx.clone()).map_err(|e| call_error(e, from))?;
        evm.inspector.check()?;
        evm.inspector
            .inner
            .get_result(None, &tx, &evm.ctx.block, &result, &mut evm.ctx.journaled_state.database)
            .map_err(trace_error)
    }

    /// `trace_transaction`: the Parity traces of the transaction with `hash`, one per call
    /// frame in call order (calls into precompiles left out), from re-executing its block up to
    /// it (Replay mode for the DNN precompiles); `None` if no mined transaction has this hash.
    pub fn parity_trace_transaction(
        &self,
        hash: &B256,
    ) -> HostResult<Option<Vec<LocalizedTransactionTrace>>> {
        let Some(TxLocation::Mined(block, index)) = self.transaction(hash) else {
            return Ok(None);
        };
        let mut traces =
            self.replay_traced(&block, index..index + 1, parity_inspector(), parity_traces)?;
        Ok(traces.pop())
    }

    /// `trace_block`: the Parity traces of every transaction of the block `id` names, in order,
    /// each on the state its predecessors left (Replay mode). There are no reward traces: the
    /// chain has no block rewards.
    pub fn parity_trace_block(&self, id: BlockId) -> HostResult<Vec<LocalizedTransactionTrace>> {
        let block = self.mined_block(id)?;
        if block.transactions.is_empty() {
            return Ok(Vec::new());
        }
        let range = 0..block.transactions.len();
        let traces = self.replay_traced(&block, range, parity_inspector(), parity_traces)?;
        Ok(traces.into_iter().flatten().collect())
    }

    /// Re-executes `block` from its parent's state, the transactions before `traced` without
    /// an inspector and those in `traced` with `inspector`, DNN precompiles in Replay mode;
    /// returns what `trace` makes of each traced transaction. `trace` runs right after the
    /// transaction, before its changes are committed (the database still holds the state it
    /// started from), and leaves the inspector ready for the next one.
    fn replay_traced<I, T>(
        &self,
        block: &Block,
        traced: Range<usize>,
        inspector: I,
        mut trace: impl FnMut(&mut AnhInspectingEvm<StateDb, I>, Replayed<'_>) -> HostResult<T>,
    ) -> HostResult<Vec<T>>
    where
        I: Inspector<AnhContext<StateDb>>,
    {
        let number = block.number();
        let (parent, mut state, hashes) = {
            let chain = self.chain.read();
            let canonical = chain.blocks.get(number as usize).is_some_and(|b| b.hash == block.hash);
            let parent = number.checked_sub(1).map(|p| p as usize);
            match parent.and_then(|p| Some((chain.blocks.get(p)?, chain.states.get(p)?))) {
                Some((parent, state)) if canonical => {
                    (parent.clone(), state.clone(), chain.recent_hashes_at(number - 1))
                }
                // Reverted (evm_revert) between the look-up and now.
                _ => return Err(HostError::UnknownBlock),
            }
        };
        // As importing the block does: the dev methods' edits come before the transactions.
        state.apply(&block.dev.edits);
        for code in &block.dev.edits.codes {
            self.codes.insert_raw(code.clone());
        }
        let header = &block.header;
        let params = BlockParams {
            number,
            timestamp: header.timestamp,
            gas_limit: header.gas_limit,
            base_fee: header.base_fee_per_gas.unwrap_or_default(),
            beneficiary: header.beneficiary,
            mix_hash: header.mix_hash,
        };
        let before = block.transactions[..traced.start]
            .iter()
            .map(|t| (t.tx.clone(), t.sender, t.hash))
            .collect();
        let (precompiles, oracle) = self.evm.replay_precompiles(block);
        let executed =
            self.execute(&parent, state, hashes.clone(), &params, before, precompiles, true)?;
        check_replay(oracle.as_deref(), number)?;

        let (precompiles, oracle) = self.evm.replay_precompiles(block);
        let env = params.env();
        let db = StateDb::new(executed.state, self.codes.clone(), hashes);
        let mut evm = self.evm.evm_with_inspector(db, self.evm.cfg(), env, precompiles, inspector);
        let mut traces = Vec::with_capacity(traced.len());
        for index in traced {
            let mined = &block.transactions[index];
            let tx = tx_env(&mined.tx, mined.sender);
            let result = evm.inspect_tx(tx.clone()).map_err(|e| {
                HostError::Internal(format!(
                    "re-executing transaction {} of block {number}: {e}",
                    mined.hash
                ))
            })?;
            let gas_used = result.result.tx_gas_used();
            if gas_used != mined.gas_used {
                return Err(HostError::Internal(format!(
                    "re-executing transaction {} of block {number} used {gas_used} gas, its \
                     receipt says {}: the replay diverged",
                    mined.hash, mined.gas_used
                )));
            }
            let replayed = Replayed { block, index, mined, tx: &tx, result: &result };
            traces.push(trace(&mut evm, replayed)?);
            evm.ctx.journaled_state.database.commit(result.state);
        }
        check_replay(oracle.as_deref(), number)?;
        Ok(traces)
    }
}

/// A transaction of a replayed block, just re-executed with the inspector.
#[derive(Debug, Clone, Copy)]
struct Replayed<'a> {
    /// The block.
    block: &'a Block,
    /// Its index in the block.
    index: usize,
    /// The transaction as mined.
    mined: &'a MinedTx,
    /// The environment it ran in.
    tx: &'a TxEnv,
    /// Its outcome and state changes (not yet committed).
    result: &'a ResultAndState,
}

/// What a geth tracer makes of a replayed transaction; fuses the inspector for the next one.
fn geth_trace(
    evm: &mut AnhInspectingEvm<StateDb, Budgeted<DebugInspector>>,
    replayed: Replayed<'_>,
) -> HostResult<GethTrace> {
    evm.inspector.check()?;
    let context = TransactionContext::default()
        .with_block_hash(replayed.block.hash)
        .with_tx_index(replayed.index)
        .with_tx_hash(replayed.mined.hash);
    let trace = evm
        .inspector
        .inner
        .get_result(
            Some(context),
            replayed.tx,
            &evm.ctx.block,
            replayed.result,
            &mut evm.ctx.journaled_state.database,
        )
        .map_err(trace_error)?;
    evm.inspector.inner.fuse().map_err(trace_error)?;
    Ok(trace)
}

/// The inspector recording what Parity traces show: call frames, no steps.
fn parity_inspector() -> TracingInspector {
    TracingInspector::new(TracingInspectorConfig::default_parity())
}

/// The Parity traces of a replayed transaction; leaves a fresh inspector for the next one.
fn parity_traces(
    evm: &mut AnhInspectingEvm<StateDb, TracingInspector>,
    replayed: Replayed<'_>,
) -> HostResult<Vec<LocalizedTransactionTrace>> {
    let fresh = TracingInspector::new(*evm.inspector.config());
    let inspector = std::mem::replace(&mut evm.inspector, fresh);
    let Replayed { block, index, mined, .. } = replayed;
    let info = TransactionInfo {
        hash: Some(mined.hash),
        index: Some(index as u64),
        block_hash: Some(block.hash),
        block_number: Some(block.number()),
        base_fee: block.header.base_fee_per_gas,
        block_timestamp: Some(block.header.timestamp),
    };
    Ok(inspector.into_parity_builder().into_localized_transaction_traces(info))
}

/// The inspector for `opts`, or why the options are refused (unknown or JavaScript tracer,
/// a `tracerConfig` that does not fit the tracer).
fn tracer(opts: GethDebugTracingOptions) -> HostResult<DebugInspector> {
    let builtin = match &opts.tracer {
        Some(GethDebugTracerType::BuiltInTracer(tracer)) => Some(*tracer),
        // An empty name means the struct logger, as in geth.
        Some(GethDebugTracerType::JsTracer(code)) if !code.is_empty() => {
            let is_name = code.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            return Err(HostError::InvalidRequest(if is_name {
                format!("unknown tracer {code:?}: {TRACERS}")
            } else {
                format!("JavaScript tracers are not supported: {TRACERS}")
            }));
        }
        _ => None,
    };
    let config = opts.tracer_config.clone();
    DebugInspector::new(opts).map_err(|e| match (e, builtin) {
        (DebugInspectorError::InvalidTracerConfig, Some(tracer)) => {
            let name = GethDebugTracerType::BuiltInTracer(tracer).as_str().to_string();
            let detail =
                config_error(tracer, config).unwrap_or_else(|| "does not fit the tracer".into());
            HostError::InvalidRequest(format!("invalid tracerConfig for {name}: {detail}"))
        }
        (DebugInspectorError::UnsupportedTracer, Some(tracer)) => {
            let name = GethDebugTracerType::BuiltInTracer(tracer).as_str().to_string();
            HostError::InvalidRequest(format!("tracer {name} is not supported: {TRACERS}"))
        }
        (e, _) => HostError::InvalidRequest(format!("invalid tracer options: {e}")),
    })
}

/// Why `config` does not deserialize into `tracer`'s configuration.
fn config_error(
    tracer: GethDebugBuiltInTracerType,
    config: GethDebugTracerConfig,
) -> Option<String> {
    use GethDebugBuiltInTracerType as T;
    let error = match tracer {
        T::CallTracer => config.into_call_config().err(),
        T::PreStateTracer => config.into_pre_state_config().err(),
        T::FlatCallTracer => config.into_flat_call_config().err(),
        T::MuxTracer => config.into_mux_config().err(),
        T::Erc7562Tracer => config.from_value::<Erc7562Config>().err(),
        _ => None,
    };
    error.map(|e| e.to_string())
}

/// A tracer that failed after execution (the database is infallible, so only a broken
/// inspector gets here).
fn trace_error<E: std::fmt::Display>(error: DebugInspectorError<E>) -> HostError {
    HostError::Internal(format!("tracing: {error}"))
}

/// Fails if the replay of block `number` missed or rejected a job record: its trace would not
/// be what the block executed.
fn check_replay(oracle: Option<&ReplayOracle>, number: u64) -> HostResult<()> {
    match oracle.and_then(|o| o.failures().into_iter().next()) {
        Some(failure) => Err(HostError::Internal(format!(
            "replaying block {number}: attestation check failed: {failure}"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn options(value: serde_json::Value) -> GethDebugTracingOptions {
        serde_json::from_value(value).expect("options parse")
    }

    fn refusal(value: serde_json::Value) -> String {
        match tracer(options(value)) {
            Err(HostError::InvalidRequest(message)) => message,
            Err(other) => panic!("expected an invalid request, got {other}"),
            Ok(_) => panic!("expected a refusal"),
        }
    }

    /// The struct logger (no tracer, or an empty name) and every built-in tracer are accepted.
    #[test]
    fn accepted_tracers() {
        for value in [
            json!({}),
            json!({"tracer": ""}),
            json!({"enableMemory": true, "disableStack": true}),
            json!({"tracer": "callTracer", "tracerConfig": {"onlyTopCall": true, "withLog": true}}),
            json!({"tracer": "prestateTracer", "tracerConfig": {"diffMode": true}}),
            json!({"tracer": "4byteTracer"}),
            json!({"tracer": "flatCallTracer"}),
            json!({"tracer": "noopTracer"}),
            json!({"tracer": "muxTracer", "tracerConfig": {"callTracer": {}, "4byteTracer": null}}),
        ] {
            assert!(tracer(options(value.clone())).is_ok(), "{value}");
        }
    }

    /// Unknown names, JavaScript and ill-typed configurations are refused with a message
    /// saying what is wrong and what is available.
    #[test]
    fn refused_tracers() {
        let unknown = refusal(json!({"tracer": "fooTracer"}));
        assert!(unknown.starts_with("unknown tracer \"fooTracer\": "), "{unknown}");
        assert!(unknown.contains("callTracer"), "{unknown}");
        let js =
            refusal(json!({"tracer": "{data: [], fault: function() {}, result: function() {}}"}));
        assert!(js.starts_with("JavaScript tracers are not supported"), "{js}");
        let config =
            refusal(json!({"tracer": "callTracer", "tracerConfig": {"onlyTopCall": "yes"}}));
        assert!(
            config.starts_with("invalid tracerConfig for callTracer: invalid type"),
            "{config}"
        );
    }
}
