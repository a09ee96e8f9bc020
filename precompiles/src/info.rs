//! `0x…0D03`: what the registry recorded.
//!
//! - `modelInfo(bytes32 model) returns (ModelInfo)` — reverts `UnknownModel` if unregistered.
//! - `isRegistered(bytes32 model) returns (bool)`
//!
//! Gas: `info_base` plus the registry read (`isRegistered` reads one word).

use crate::{
    Dnn,
    abi::IModelInfo,
    error::DnnError,
    meter::{Meter, Stop},
    registry,
};
use alloy_primitives::{Address, address};
use alloy_sol_types::{SolCall, SolInterface};
use revm::context_interface::ContextTr;

/// Address of the model-info precompile.
pub const ADDRESS: Address = address!("0x0000000000000000000000000000000000000d03");

/// Answers, under a [`Meter`] that charged `info_base` and one registry word.
pub(crate) fn run<CTX: ContextTr>(
    ctx: &mut CTX,
    input: &[u8],
    dnn: &Dnn,
    meter: &mut Meter,
) -> Result<Vec<u8>, Stop> {
    let gas = dnn.gas();
    match IModelInfo::IModelInfoCalls::abi_decode(input) {
        Ok(IModelInfo::IModelInfoCalls::isRegistered(c)) => {
            let registered = registry::record_len(ctx, c.model)?.is_some();
            Ok(IModelInfo::isRegisteredCall::abi_encode_returns(&registered))
        }
        Ok(IModelInfo::IModelInfoCalls::modelInfo(c)) => {
            let located = registry::locate(ctx, c.model)?.ok_or(DnnError::UnknownModel(c.model))?;
            meter.charge_total(gas.info_base.checked_add(located.read_gas(gas)))?;
            let registration = registry::read_registration(ctx, c.model, located)??;
            Ok(IModelInfo::modelInfoCall::abi_encode_returns(&registration.to_abi()))
        }
        Err(e) => Err(crate::provider::call_error::<IModelInfo::IModelInfoCalls>(input, &e).into()),
    }
}
