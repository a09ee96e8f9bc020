//! `eth_estimateGas`: the smallest gas limit with which a request succeeds, searched as geth
//! searches it.

use super::{Backend, CallOverrides, call::outcome};
use crate::error::{HostError, HostResult};
use alloy_eips::BlockId;
use alloy_primitives::{KECCAK256_EMPTY, TxKind, U256};
use alloy_rpc_types_eth::TransactionRequest;
use revm::context::result::ExecutionResult;

impl Backend {
    /// `eth_estimateGas`: the smallest gas limit (within 1.5%, as geth) with which `request`
    /// succeeds at `id`.
    pub fn estimate_gas(&self, request: &TransactionRequest, id: BlockId) -> HostResult<u64> {
        self.estimate_gas_with(request, id, &CallOverrides::default())
    }

    /// `eth_estimateGas` with state and block overrides.
    pub fn estimate_gas_with(
        &self,
        request: &TransactionRequest,
        id: BlockId,
        overrides: &CallOverrides,
    ) -> HostResult<u64> {
        let (mut state, mut block, hashes) = self.call_context(id)?;
        overrides.apply(&mut state, &mut block, &self.codes)?;
        let mut hi = match request.gas {
            Some(gas) if gas >= 21_000 => gas.min(block.gas_limit),
            _ => block.gas_limit,
        };
        // A sender paying fees can afford at most (balance - value) / price gas.
        let price = request.gas_price.or(request.max_fee_per_gas).unwrap_or(0);
        if price > 0 {
            let balance = state
                .account(&request.from.unwrap_or_default())
                .map(|a| a.balance)
                .unwrap_or_default();
            let available =
                balance.saturating_sub(request.value.unwrap_or_default()) / U256::from(price);
            hi = hi.min(u64::try_from(available).unwrap_or(u64::MAX));
        }
        let cap = hi;
        // A plain transfer to an account without code costs exactly the intrinsic 21000
        // (geth's and anvil's shortcut; the search below would stop within 1.5% of it).
        let plain_transfer = if let Some(TxKind::Call(to)) = request.to {
            request.input.input().is_none_or(|i| i.is_empty())
                && request.authorization_list.as_ref().is_none_or(|a| a.is_empty())
                && request.access_list.as_ref().is_none_or(|a| a.is_empty())
                && state.account(&to).is_none_or(|a| a.code_hash == KECCAK256_EMPTY)
                // Precompiles have no code but do charge; they all live below 0x10000.
                && to.0[..18].iter().any(|b| *b != 0)
        } else {
            false
        };
        // One set of precompiles for the whole search: it remembers DNN results.
        let precompiles = self.evm.estimate_precompiles();
        let attempt = |gas: u64| {
            let (state, block, hashes) = (state.clone(), block.clone(), hashes.clone());
            self.run_call(request, state, block, hashes, Some(gas), precompiles.clone())
        };
        let first = attempt(hi)?;
        if plain_transfer && hi >= 21_000 && first.is_success() {
            return Ok(21_000);
        }
        let spent = match &first {
            ExecutionResult::Success { gas, .. } => gas.total_gas_spent(),
            ExecutionResult::Revert { .. } => return Err(outcome(first).unwrap_err()),
            ExecutionResult::Halt { .. } => return Err(HostError::GasExceedsAllowance(cap)),
        };
        let succeeds = |gas: u64| matches!(attempt(gas), Ok(ExecutionResult::Success { .. }));
        let mut lo = spent.saturating_sub(1);
        let optimistic = (spent + 2_300) * 64 / 63;
        if optimistic < hi {
            if succeeds(optimistic) {
                hi = optimistic;
            } else {
                lo = optimistic;
            }
        }
        // Down to the exact least gas that succeeds, as anvil answers (geth stops within 1.5%).
        while lo + 1 < hi {
            let mut mid = lo + (hi - lo) / 2;
            if mid > lo.saturating_mul(2) {
                mid = lo * 2;
            }
            if succeeds(mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Ok(hi)
    }
}
