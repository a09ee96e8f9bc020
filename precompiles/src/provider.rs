//! The revm precompile provider that installs ANH's precompiles next to Ethereum's.
//!
//! [`AnhPrecompiles`] wraps revm's [`EthPrecompiles`]: calls to an ANH address
//! (`0x…0D00`–`0x…0DFF`) are answered here, every other address is passed through. Any revm
//! EVM takes it with `Evm::with_precompiles`.

use alloy_primitives::Address;
use revm::{
    context::Cfg,
    context_interface::ContextTr,
    handler::{EthPrecompiles, PrecompileProvider},
    interpreter::{CallInputs, InterpreterResult},
    primitives::{AddressSet, hardfork::SpecId},
};

/// First address of the range reserved for ANH precompiles (`0x…0D00`).
pub const ANH_RANGE_START: Address =
    Address::new([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0d, 0x00]);

/// Whether `address` lies in the ANH precompile range `0x…0D00`–`0x…0DFF`.
pub fn is_anh_address(address: &Address) -> bool {
    address.0[..18] == ANH_RANGE_START.0[..18] && address.0[18] == 0x0d
}

/// Ethereum's precompiles plus ANH's.
#[derive(Debug, Clone)]
pub struct AnhPrecompiles {
    eth: EthPrecompiles,
    warm: AddressSet,
}

impl AnhPrecompiles {
    /// The precompiles for `spec`.
    pub fn new(spec: SpecId) -> Self {
        let eth = EthPrecompiles::new(spec);
        let warm = Self::warm_set(&eth);
        Self { eth, warm }
    }

    fn warm_set(eth: &EthPrecompiles) -> AddressSet {
        eth.warm_addresses().clone()
    }
}

impl<CTX> PrecompileProvider<CTX> for AnhPrecompiles
where
    CTX: ContextTr<Cfg: Cfg<Spec = SpecId>>,
{
    type Output = InterpreterResult;

    fn set_spec(&mut self, spec: <CTX::Cfg as Cfg>::Spec) -> bool {
        let changed = <EthPrecompiles as PrecompileProvider<CTX>>::set_spec(&mut self.eth, spec);
        if changed {
            self.warm = Self::warm_set(&self.eth);
        }
        changed
    }

    fn run(
        &mut self,
        context: &mut CTX,
        inputs: &CallInputs,
    ) -> Result<Option<Self::Output>, String> {
        self.eth.run(context, inputs)
    }

    fn warm_addresses(&self) -> &AddressSet {
        &self.warm
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
    }
}
