//! `eth_createAccessList`: the accounts and storage slots a call touches, found with
//! revm-inspectors' [`AccessListInspector`].
//!
//! As geth does, the call is repeated with the list found so far until the list no longer
//! changes (an access list changes gas costs, and so may change the path a call takes),
//! at most [`MAX_ROUNDS`] times. The sender, the callee and precompiles are left out, as
//! they are warm anyway.

use super::{
    Backend,
    call::{call_error, halt_message},
};
use crate::{
    error::{HostError, HostResult},
    evm::{call_cfg, call_tx_env, revert_reason},
};
use alloy_eips::{BlockId, eip2930::AccessList};
use alloy_primitives::U256;
use alloy_rpc_types_eth::{AccessListResult, TransactionRequest};
use revm::{InspectEvm, context::result::ExecutionResult};
use revm_inspectors::access_list::AccessListInspector;

/// The most times the call is run while the list settles.
const MAX_ROUNDS: usize = 10;

impl Backend {
    /// `eth_createAccessList`: the access list of `request` at `id`, the gas the call uses
    /// with it, and the revert or halt reason if it fails (the list is still returned).
    pub fn create_access_list(
        &self,
        request: &TransactionRequest,
        id: BlockId,
    ) -> HostResult<AccessListResult> {
        let (state, block, hashes) = self.call_context(id)?;
        let from = request.from.unwrap_or_default();
        let nonce = state.account(&from).map(|a| a.nonce).unwrap_or(0);
        let mut tx = call_tx_env(request, block.gas_limit, nonce, self.chain_id())
            .map_err(HostError::InvalidRequest)?;
        if tx.tx_type == 0 {
            // An access list needs a typed transaction.
            tx.tx_type = 1;
        }
        let mut list = request.access_list.clone().unwrap_or_default();
        for _ in 0..MAX_ROUNDS {
            tx.access_list = list.clone();
            let cfg = call_cfg(&self.evm, &tx);
            let db = self.call_db(state.clone(), hashes.clone());
            let inspector = AccessListInspector::new(list.clone());
            let mut evm = self.evm.evm_with_inspector(
                db,
                cfg,
                block.clone(),
                self.evm.call_precompiles(),
                inspector,
            );
            let result = evm.inspect_tx(tx.clone()).map_err(|e| call_error(e, from))?.result;
            let found = evm.inspector.access_list();
            if found == list {
                return Ok(settled(list, result));
            }
            list = found;
        }
        Err(HostError::CallInvalid(format!(
            "the access list did not settle after {MAX_ROUNDS} runs of the call"
        )))
    }
}

fn settled(access_list: AccessList, result: ExecutionResult) -> AccessListResult {
    let gas_used = U256::from(result.tx_gas_used());
    let error = match &result {
        ExecutionResult::Success { .. } => None,
        ExecutionResult::Revert { output, .. } => Some(match revert_reason(output) {
            Some(reason) => format!("execution reverted: {reason}"),
            None => "execution reverted".to_string(),
        }),
        ExecutionResult::Halt { reason, .. } => Some(halt_message(reason)),
    };
    AccessListResult { access_list, gas_used, error }
}
