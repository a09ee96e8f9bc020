//! `eth_call` and `eth_estimateGas` state and block overrides (geth's third and fourth
//! parameters), applied to a copy of the state the call runs on; nothing they change is kept.

use crate::{
    error::{HostError, HostResult},
    state::{AccountState, CodeStore, WorldState},
    trie::Trie,
};
use alloy_primitives::{KECCAK256_EMPTY, U256};
use alloy_rpc_types_eth::{BlockOverrides, state::StateOverride};
use revm::context::BlockEnv;

/// What a call changes before it runs.
#[derive(Debug, Clone, Default)]
pub struct CallOverrides {
    /// Account overrides: balance, nonce, code, whole storage (`state`) or some slots
    /// (`stateDiff`).
    pub state: Option<StateOverride>,
    /// Block header overrides.
    pub block: Option<Box<BlockOverrides>>,
}

impl CallOverrides {
    /// Applies the overrides to the call's `state` and `block`; new code goes to `codes`
    /// (content-addressed, so adding to it changes no other state).
    pub(crate) fn apply(
        &self,
        state: &mut WorldState,
        block: &mut BlockEnv,
        codes: &CodeStore,
    ) -> HostResult<()> {
        if let Some(overrides) = &self.state {
            for (address, o) in overrides {
                if o.move_precompile_to.is_some() {
                    return Err(HostError::InvalidRequest(
                        "movePrecompileToAddress overrides are not supported".into(),
                    ));
                }
                if o.state.is_some() && o.state_diff.is_some() {
                    return Err(HostError::InvalidRequest(format!(
                        "account {address} has both 'state' and 'stateDiff'"
                    )));
                }
                let mut account = state
                    .account(address)
                    .cloned()
                    .unwrap_or_else(|| AccountState::with_balance(U256::ZERO));
                if let Some(balance) = o.balance {
                    account.balance = balance;
                }
                if let Some(nonce) = o.nonce {
                    account.nonce = nonce;
                }
                if let Some(code) = &o.code {
                    account.code_hash = if code.is_empty() {
                        KECCAK256_EMPTY
                    } else {
                        codes.insert_raw(code.clone())
                    };
                }
                if let Some(slots) = &o.state {
                    account.storage = Trie::new();
                    for (slot, value) in slots {
                        account.set_storage((*slot).into(), (*value).into());
                    }
                }
                if let Some(slots) = &o.state_diff {
                    for (slot, value) in slots {
                        account.set_storage((*slot).into(), (*value).into());
                    }
                }
                state.set_account(address, account);
            }
        }
        if let Some(o) = &self.block {
            if o.block_hash.as_ref().is_some_and(|h| !h.is_empty()) {
                return Err(HostError::InvalidRequest(
                    "blockHash overrides are not supported".into(),
                ));
            }
            if let Some(number) = o.number {
                block.number = number;
            }
            if let Some(difficulty) = o.difficulty {
                block.difficulty = difficulty;
            }
            if let Some(time) = o.time {
                block.timestamp = U256::from(time);
            }
            if let Some(gas_limit) = o.gas_limit {
                block.gas_limit = gas_limit;
            }
            if let Some(coinbase) = o.coinbase {
                block.beneficiary = coinbase;
            }
            if let Some(random) = o.random {
                block.prevrandao = Some(random);
            }
            if let Some(base_fee) = o.base_fee {
                block.basefee = u64::try_from(base_fee).map_err(|_| {
                    HostError::InvalidRequest(format!(
                        "baseFee override {base_fee} exceeds 64 bits"
                    ))
                })?;
            }
        }
        Ok(())
    }
}
