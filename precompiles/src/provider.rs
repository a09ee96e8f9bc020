//! The revm precompile provider that installs ANH's precompiles next to Ethereum's.
//!
//! [`AnhPrecompiles`] wraps revm's [`EthPrecompiles`]: calls to an ANH address
//! (`0x…0D00`–`0x…0DFF`) are answered here, every other address is passed through. Any revm
//! EVM takes it with `Evm::with_precompiles`, or [`install`].

use crate::{
    error::DnnError, gas::GasSchedule, infer, info, meter::metered, model::Registration,
    oracle::DnnOracle, registry, registry::RawRecord, train,
};
use alloy_primitives::{Address, B256, Bytes};
use revm::{
    context::{Cfg, Evm},
    context_interface::ContextTr,
    handler::{EthPrecompiles, PrecompileProvider, precompile_output_to_interpreter_result},
    interpreter::{CallInput, CallInputs, InterpreterResult},
    precompile::PrecompileOutput,
    primitives::{AddressSet, hardfork::SpecId},
};
use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

/// First address of the range reserved for ANH precompiles (`0x…0D00`).
pub const ANH_RANGE_START: Address = registry::ADDRESS;

/// The addresses ANH answers.
pub const ADDRESSES: [Address; 4] =
    [registry::ADDRESS, infer::ADDRESS, train::ADDRESS, info::ADDRESS];

/// Whether `address` lies in the ANH precompile range `0x…0D00`–`0x…0DFF`.
pub fn is_anh_address(address: &Address) -> bool {
    address.0[..18] == ANH_RANGE_START.0[..18] && address.0[18] == 0x0d
}

/// Limits on what one call may ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most elements in one tensor.
    pub max_tensor_elements: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_tensor_elements: 1 << 24 }
    }
}

/// The DNN consensus parameters: everything replaying a block depends on besides state and
/// the block's records. Chain configuration (genesis, a chain spec, `anh_chainConfig`), which
/// block 0 commits to, so that a follower that pins block 0 pins these too: a producer with a
/// larger tensor limit or another gas schedule makes a different chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct DnnParams {
    /// Most elements in one tensor passed to `infer`/`train`.
    pub max_tensor_elements: u64,
    /// What the precompiles charge.
    pub gas: GasSchedule,
}

impl Default for DnnParams {
    fn default() -> Self {
        Self {
            max_tensor_elements: Limits::default().max_tensor_elements,
            gas: GasSchedule::MEASURED,
        }
    }
}

impl DnnParams {
    /// `keccak256` of the tensor limit and the gas constants, each a 32-byte big-endian word.
    pub fn hash(&self) -> B256 {
        let words = std::iter::once(self.max_tensor_elements).chain(self.gas.words());
        let bytes: Vec<u8> =
            words.flat_map(|w| alloy_primitives::U256::from(w).to_be_bytes::<32>()).collect();
        alloy_primitives::keccak256(bytes)
    }

    /// The call limits they set.
    pub fn limits(&self) -> Limits {
        Limits { max_tensor_elements: self.max_tensor_elements }
    }
}

/// The DNN side of the precompiles: where results come from, limits, gas, and a cache of
/// decoded registrations. An entry is used only for the very record bytes it was decoded from,
/// which each call reads from its own state, so it can never disagree with state: a
/// registration in a transaction that reverts, a record forged by an `eth_call` state override
/// or rewritten by `anvil_setStorageAt`, and Build and Replay mode after `anvil_reset` each
/// read what their state holds.
#[derive(Debug)]
pub struct Dnn {
    oracle: Arc<dyn DnnOracle>,
    limits: Limits,
    gas: GasSchedule,
    /// Decoded registrations by model, each with the record it was decoded from (see
    /// [`crate::registry::read_registration_cached`]).
    registrations: RwLock<CachedRegistrations>,
}

/// Decoded registrations by model, each with the record bytes it was decoded from.
type CachedRegistrations = HashMap<B256, (RawRecord, Arc<Registration>)>;

/// Most decoded registrations a [`Dnn`] keeps.
const MAX_CACHED_REGISTRATIONS: usize = 4096;

impl Dnn {
    /// DNN precompiles asking `oracle`, with default limits and the measured gas schedule.
    pub fn new(oracle: Arc<dyn DnnOracle>) -> Self {
        Self {
            oracle,
            limits: Limits::default(),
            gas: GasSchedule::default(),
            registrations: RwLock::default(),
        }
    }

    /// With other limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// With another gas schedule.
    pub fn with_gas(mut self, gas: GasSchedule) -> Self {
        self.gas = gas;
        self
    }

    /// With a chain's DNN consensus parameters (limits and gas schedule).
    pub fn with_params(self, params: DnnParams) -> Self {
        self.with_limits(params.limits()).with_gas(params.gas)
    }

    /// The oracle.
    pub fn oracle(&self) -> &Arc<dyn DnnOracle> {
        &self.oracle
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The gas schedule.
    pub fn gas(&self) -> &GasSchedule {
        &self.gas
    }

    /// The registration decoded from exactly `record`, if it is cached (a byte comparison:
    /// hashing a record of 2 KB on every call cost more than the rest of the look-up).
    pub(crate) fn cached_registration(&self, record: &RawRecord) -> Option<Arc<Registration>> {
        let cache = self.registrations.read().ok()?;
        let (cached, registration) = cache.get(&record.model)?;
        (cached == record).then(|| registration.clone())
    }

    /// Keeps the registration decoded from `record` (in place of another record of the same
    /// model: a forged one replaces the real one until the real one is read again); a full
    /// cache (forged records of made-up models can make many) is emptied first.
    pub(crate) fn cache_registration(
        &self,
        record: RawRecord,
        registration: Registration,
    ) -> Arc<Registration> {
        let registration = Arc::new(registration);
        if let Ok(mut cache) = self.registrations.write() {
            if cache.len() >= MAX_CACHED_REGISTRATIONS {
                cache.clear();
            }
            cache.insert(record.model, (record, registration.clone()));
        }
        registration
    }

    /// The same limits and gas with another oracle (a per-block committee or replay oracle).
    pub fn with_oracle(&self, oracle: Arc<dyn DnnOracle>) -> Self {
        Self { oracle, limits: self.limits, gas: self.gas, registrations: RwLock::default() }
    }
}

/// Ethereum's precompiles plus ANH's.
#[derive(Debug, Clone)]
pub struct AnhPrecompiles {
    eth: EthPrecompiles,
    warm: AddressSet,
    dnn: Option<Arc<Dnn>>,
}

impl AnhPrecompiles {
    /// Ethereum's precompiles for `spec` only (no DNN).
    pub fn new(spec: SpecId) -> Self {
        Self::build(spec, None)
    }

    /// Ethereum's precompiles for `spec` and ANH's, asking `dnn`.
    pub fn with_dnn(spec: SpecId, dnn: Arc<Dnn>) -> Self {
        Self::build(spec, Some(dnn))
    }

    fn build(spec: SpecId, dnn: Option<Arc<Dnn>>) -> Self {
        let eth = EthPrecompiles::new(spec);
        let warm = Self::warm_set(&eth, dnn.is_some());
        Self { eth, warm, dnn }
    }

    fn warm_set(eth: &EthPrecompiles, with_dnn: bool) -> AddressSet {
        let mut warm = eth.warm_addresses().clone();
        if with_dnn {
            warm.extend(ADDRESSES);
        }
        warm
    }

    /// The DNN configuration, if installed.
    pub fn dnn(&self) -> Option<&Arc<Dnn>> {
        self.dnn.as_ref()
    }
}

/// Installs ANH's precompiles (with Ethereum's) into a revm EVM.
pub fn install<CTX, INSP, I, P, F>(
    evm: Evm<CTX, INSP, I, P, F>,
    dnn: Arc<Dnn>,
) -> Evm<CTX, INSP, I, AnhPrecompiles, F>
where
    CTX: ContextTr<Cfg: Cfg<Spec = SpecId>>,
{
    let spec = evm.ctx.cfg().spec();
    evm.with_precompiles(AnhPrecompiles::with_dnn(spec, dnn))
}

impl<CTX> PrecompileProvider<CTX> for AnhPrecompiles
where
    CTX: ContextTr<Cfg: Cfg<Spec = SpecId>>,
{
    type Output = InterpreterResult;

    fn set_spec(&mut self, spec: <CTX::Cfg as Cfg>::Spec) -> bool {
        let changed = <EthPrecompiles as PrecompileProvider<CTX>>::set_spec(&mut self.eth, spec);
        if changed {
            self.warm = Self::warm_set(&self.eth, self.dnn.is_some());
        }
        changed
    }

    fn run(
        &mut self,
        context: &mut CTX,
        inputs: &CallInputs,
    ) -> Result<Option<Self::Output>, String> {
        let address = inputs.bytecode_address;
        let Some(dnn) = self.dnn.as_ref().filter(|_| ADDRESSES.contains(&address)) else {
            return self.eth.run(context, inputs);
        };
        // A transaction's calldata is shared (`Bytes`); only a nested call's is copied out of
        // the caller's memory, since the context is needed mutably below.
        let input = match &inputs.input {
            CallInput::Bytes(bytes) => bytes.clone(),
            shared => Bytes::copy_from_slice(&shared.as_bytes(context)),
        };
        let gas = dnn.gas();
        let output = if inputs.transfers_value() {
            let error = DnnError::MalformedCall("ANH precompiles do not accept ether".into());
            PrecompileOutput::revert(0, error.abi_encode(), inputs.reservoir)
        } else if address == infer::ADDRESS {
            metered(inputs, gas.infer_base, |m| infer::run(context, &input, dnn, m))?
        } else if address == registry::ADDRESS {
            metered(inputs, gas.register_base, |m| registry::run(context, inputs, &input, dnn, m))?
        } else if address == train::ADDRESS {
            metered(inputs, gas.infer_base, |m| train::run(context, inputs, &input, dnn, m))?
        } else {
            let base = gas.info_base.saturating_add(gas.registry_read(1));
            metered(inputs, base, |m| info::run(context, &input, dnn, m))?
        };
        Ok(Some(precompile_output_to_interpreter_result(output, inputs.gas_limit)))
    }

    fn warm_addresses(&self) -> &AddressSet {
        &self.warm
    }
}

/// A call that writes state must be a plain CALL: not under STATICCALL, and not DELEGATECALL
/// or CALLCODE (whose caller would not be the one the record and event name).
pub(crate) fn refuse_static_and_delegate(
    call: &revm::interpreter::CallInputs,
    function: &str,
) -> Result<(), DnnError> {
    if call.is_static {
        return Err(DnnError::WriteInStaticCall);
    }
    if call.scheme != revm::interpreter::CallScheme::Call {
        return Err(DnnError::MalformedCall(format!(
            "{function} must be called with CALL, not DELEGATECALL or CALLCODE"
        )));
    }
    Ok(())
}

/// The error for calldata the precompile's interface `I` could not decode: an unknown
/// selector whatever the length, a too-short call, or arguments that do not decode.
pub(crate) fn call_error<I: alloy_sol_types::SolInterface>(
    input: &[u8],
    error: &alloy_sol_types::Error,
) -> DnnError {
    match input.get(..4) {
        None => DnnError::MalformedCall(format!(
            "calldata has {} bytes, shorter than a selector",
            input.len()
        )),
        Some(selector) => {
            let selector: [u8; 4] = selector.try_into().unwrap_or_default();
            if I::valid_selector(selector) {
                DnnError::MalformedCall(format!("cannot decode the arguments: {error}"))
            } else {
                DnnError::UnknownSelector(selector)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::address;

    /// Only addresses 0x…0D00 to 0x…0DFF are in the ANH range.
    #[test]
    fn anh_range() {
        assert!(is_anh_address(&address!("0x0000000000000000000000000000000000000d00")));
        assert!(is_anh_address(&address!("0x0000000000000000000000000000000000000dff")));
        assert!(!is_anh_address(&address!("0x0000000000000000000000000000000000000e00")));
        assert!(!is_anh_address(&address!("0x0000000000000000000000000000000000000001")));
        assert!(!is_anh_address(&address!("0x1000000000000000000000000000000000000d00")));
        for a in ADDRESSES {
            assert!(is_anh_address(&a));
        }
    }
}
