//! `0x…0D03`: what the registry recorded.
//!
//! - `modelInfo(bytes32 model) returns (ModelInfo)` — reverts `UnknownModel` if unregistered.
//! - `isRegistered(bytes32 model) returns (bool)`
//!
//! Gas: `info_base` plus the registry read (`isRegistered` reads one word).

use crate::{Dnn, abi::IModelInfo, error::DnnError, registry};
use alloy_primitives::{Address, address};
use alloy_sol_types::{SolCall, SolInterface};
use revm::{
    context_interface::ContextTr,
    interpreter::CallInputs,
    precompile::{PrecompileHalt, PrecompileOutput},
};

/// Address of the model-info precompile.
pub const ADDRESS: Address = address!("0x0000000000000000000000000000000000000d03");

/// Runs model info. `Err` only for a broken host.
pub(crate) fn run<CTX: ContextTr>(
    ctx: &mut CTX,
    call: &CallInputs,
    input: &[u8],
    dnn: &Dnn,
) -> Result<PrecompileOutput, String> {
    let reservoir = call.reservoir;
    let gas = dnn.gas();
    let oog = || Ok(PrecompileOutput::halt(PrecompileHalt::OutOfGas, reservoir));
    let mut charged = gas.info_base.saturating_add(gas.registry_read(1));
    if call.gas_limit < charged {
        return oog();
    }
    let revert = |charged: u64, e: DnnError| {
        Ok(PrecompileOutput::revert(charged, e.abi_encode(), reservoir))
    };
    match IModelInfo::IModelInfoCalls::abi_decode(input) {
        Ok(IModelInfo::IModelInfoCalls::isRegistered(c)) => {
            let registered = registry::record_len(ctx, c.model)?.is_some();
            let bytes = IModelInfo::isRegisteredCall::abi_encode_returns(&registered);
            Ok(PrecompileOutput::new(charged, bytes.into(), reservoir))
        }
        Ok(IModelInfo::IModelInfoCalls::modelInfo(c)) => {
            let Some(located) = registry::locate(ctx, c.model)? else {
                return revert(charged, DnnError::UnknownModel(c.model));
            };
            charged = gas.info_base.saturating_add(located.read_gas(gas));
            if call.gas_limit < charged {
                return oog();
            }
            match registry::read_registration(ctx, c.model, located)? {
                Ok(registration) => {
                    let bytes =
                        IModelInfo::modelInfoCall::abi_encode_returns(&registration.to_abi());
                    Ok(PrecompileOutput::new(charged, bytes.into(), reservoir))
                }
                Err(e) => revert(charged, e),
            }
        }
        Err(e) => {
            revert(charged, crate::provider::call_error::<IModelInfo::IModelInfoCalls>(input, &e))
        }
    }
}
