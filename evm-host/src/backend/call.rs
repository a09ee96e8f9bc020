//! `eth_call`: the state, block environment and block hashes a call runs with, its execution
//! without changing anything, and geth's words for how it fails.

use super::{
    Backend, CallOutcome, CallOverrides,
    build::{BlockParams, prevrandao},
};
use crate::{
    error::{HostError, HostResult},
    evm::{call_cfg, call_tx_env, revert_reason},
    state::{RecentHashes, StateDb, WorldState},
};
use alloy_eips::BlockId;
use alloy_primitives::Address;
use alloy_rpc_types_eth::TransactionRequest;
use revm::{
    ExecuteEvm,
    context::result::{EVMError, ExecutionResult, InvalidTransaction},
};
use std::{convert::Infallible, sync::Arc};

impl Backend {
    /// The state, header fields and block hashes a call at `id` runs with.
    pub(super) fn call_context(
        &self,
        id: BlockId,
    ) -> HostResult<(WorldState, revm::context::BlockEnv, Arc<RecentHashes>)> {
        // Resolved and read under one lock guard (a revert in between cannot strand it).
        let chain = self.chain.read();
        let number = chain.resolve(id)?;
        let head = chain.head();
        Ok(match number {
            None => {
                let header = &head.header;
                let env = BlockParams {
                    number: header.number + 1,
                    timestamp: self.clock.lock().now().max(header.timestamp + 1),
                    gas_limit: header.gas_limit,
                    base_fee: self.next_base_fee_after(header),
                    beneficiary: *self.coinbase.lock(),
                    mix_hash: prevrandao(header.number + 1),
                }
                .env();
                (chain.head_state.clone(), env, chain.recent.clone())
            }
            Some(n) => {
                let header = &chain.blocks[n as usize].header;
                let state = if n == head.number() {
                    chain.head_state.clone()
                } else {
                    chain.states[n as usize].clone()
                };
                let env = BlockParams {
                    number: n,
                    timestamp: header.timestamp,
                    gas_limit: header.gas_limit,
                    base_fee: header.base_fee_per_gas.unwrap_or_default(),
                    beneficiary: header.beneficiary,
                    mix_hash: header.mix_hash,
                }
                .env();
                let hashes = chain.recent_hashes_at(n);
                (state, env, hashes)
            }
        })
    }

    /// The storage already read from `state` by calls on it, if it is the head state as it is
    /// now (a call with state overrides runs on another version, a call at an older block on
    /// an older one: they read the tries). One cache, for the head's current version: a new
    /// block or a dev method's edit starts a new one.
    pub(super) fn head_reads(&self, state: &WorldState) -> Option<Arc<crate::state::ReadCache>> {
        if !state.same_version(&self.chain.read().head_state) {
            return None;
        }
        let mut cached = self.head_reads.lock();
        match &*cached {
            Some((version, reads)) if version.same_version(state) => Some(reads.clone()),
            _ => {
                let reads = Arc::new(crate::state::ReadCache::default());
                *cached = Some((state.clone(), reads.clone()));
                Some(reads)
            }
        }
    }

    /// The database a call (or a gas search's, an access list's, a traced call's execution)
    /// runs on: `state`, read through [`Backend::head_reads`] when it is the head's.
    pub(super) fn call_db(&self, state: WorldState, hashes: Arc<RecentHashes>) -> StateDb {
        let reads = self.head_reads(&state);
        let db = StateDb::new(state, self.codes.clone(), hashes);
        match reads {
            Some(reads) => db.with_reads(reads),
            None => db,
        }
    }

    /// Storage values the head's read cache holds ([`Backend::head_reads`]; for tests and
    /// stats).
    pub fn cached_reads(&self) -> usize {
        self.head_reads.lock().as_ref().map_or(0, |(_, reads)| reads.len())
    }

    pub(super) fn run_call(
        &self,
        request: &TransactionRequest,
        state: WorldState,
        block: revm::context::BlockEnv,
        hashes: Arc<RecentHashes>,
        gas: Option<u64>,
        precompiles: anh_precompiles::AnhPrecompiles,
    ) -> HostResult<ExecutionResult> {
        let from = request.from.unwrap_or_default();
        let nonce = state.account(&from).map(|a| a.nonce).unwrap_or(0);
        let mut tx = call_tx_env(request, block.gas_limit, nonce, self.chain_id())
            .map_err(HostError::InvalidRequest)?;
        if let Some(gas) = gas {
            tx.gas_limit = gas;
        }
        let cfg = call_cfg(&self.evm, &tx);
        let db = self.call_db(state, hashes);
        let mut evm = self.evm.evm(db, cfg, block, precompiles);
        evm.transact(tx).map(|r| r.result).map_err(|e| call_error(e, from))
    }

    /// `eth_call`: executes `request` on the state at `id` without changing anything.
    pub fn call(&self, request: &TransactionRequest, id: BlockId) -> HostResult<CallOutcome> {
        self.call_with(request, id, &CallOverrides::default())
    }

    /// `eth_call` with state and block overrides.
    pub fn call_with(
        &self,
        request: &TransactionRequest,
        id: BlockId,
        overrides: &CallOverrides,
    ) -> HostResult<CallOutcome> {
        let (mut state, mut block, hashes) = self.call_context(id)?;
        overrides.apply(&mut state, &mut block, &self.codes)?;
        let result =
            self.run_call(request, state, block, hashes, None, self.evm.call_precompiles())?;
        outcome(result)
    }
}

pub(super) fn outcome(result: ExecutionResult) -> HostResult<CallOutcome> {
    match result {
        ExecutionResult::Success { gas, output, .. } => {
            Ok(CallOutcome { output: output.into_data(), gas_used: gas.tx_gas_used() })
        }
        ExecutionResult::Revert { output, .. } => {
            Err(HostError::Reverted { reason: revert_reason(&output), output })
        }
        ExecutionResult::Halt { reason, .. } => Err(HostError::Halted(halt_message(&reason))),
    }
}

/// geth's words for an exceptional halt.
pub(super) fn halt_message(reason: &revm::context::result::HaltReason) -> String {
    use revm::context::result::{HaltReason, OutOfGasError};
    match reason {
        HaltReason::OutOfGas(OutOfGasError::Precompile) => "out of gas: precompile".into(),
        HaltReason::OutOfGas(_) => "out of gas".into(),
        HaltReason::OpcodeNotFound | HaltReason::InvalidFEOpcode => "invalid opcode".into(),
        HaltReason::StackUnderflow => "stack underflow".into(),
        HaltReason::StackOverflow => "stack limit reached 1024".into(),
        HaltReason::InvalidJump => "invalid jump destination".into(),
        HaltReason::CallTooDeep => "max call depth exceeded".into(),
        HaltReason::CreateCollision => "contract address collision".into(),
        HaltReason::CreateContractSizeLimit => "max code size exceeded".into(),
        HaltReason::CreateContractStartingWithEF => "invalid code: must not begin with 0xef".into(),
        HaltReason::OutOfFunds => "insufficient balance for transfer".into(),
        HaltReason::StateChangeDuringStaticCall => "write protection".into(),
        other => format!("{other:?}"),
    }
}

pub(super) fn call_error(
    error: EVMError<Infallible, InvalidTransaction>,
    from: Address,
) -> HostError {
    match error {
        EVMError::Transaction(InvalidTransaction::LackOfFundForMaxFee { fee, balance }) => {
            HostError::CallInvalid(format!(
                "insufficient funds for gas * price + value: address {from} have {balance} want {fee}"
            ))
        }
        EVMError::Transaction(InvalidTransaction::CallGasCostMoreThanGasLimit {
            initial_gas,
            gas_limit,
        }) => HostError::CallInvalid(format!(
            "intrinsic gas too low: gas {gas_limit}, minimum needed {initial_gas}"
        )),
        EVMError::Transaction(InvalidTransaction::GasFloorMoreThanGasLimit {
            gas_floor,
            gas_limit,
        }) => HostError::CallInvalid(format!(
            "intrinsic gas too low: gas {gas_limit}, minimum needed {gas_floor}"
        )),
        EVMError::Transaction(e) => HostError::CallInvalid(e.to_string()),
        EVMError::Custom(e) => HostError::Internal(e),
        EVMError::CustomAny(e) => HostError::Internal(e.to_string()),
        other => HostError::Internal(other.to_string()),
    }
}
