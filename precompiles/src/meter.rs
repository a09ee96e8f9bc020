//! The gas one precompile call has been charged, and how the call ends.
//!
//! [`crate::provider`] runs each precompile under [`metered`]: the body raises the charge as
//! it learns the cost ([`Meter::charge`], [`Meter::charge_total`]) and returns its ABI-encoded
//! answer, or stops with `?` on a [`Stop`] — a revert carrying a [`DnnError`], out of gas, or
//! a broken host. A revert spends what was charged until then; out of gas spends the whole
//! call's gas.

use crate::error::DnnError;
use alloy_primitives::Bytes;
use revm::{
    interpreter::CallInputs,
    precompile::{PrecompileHalt, PrecompileOutput},
};

/// Why a precompile call stopped before answering.
#[derive(Debug)]
pub(crate) enum Stop {
    /// Reverts with the error's ABI encoding, spending what was charged.
    Revert(DnnError),
    /// Halts out of gas, spending all the call's gas.
    OutOfGas,
    /// The host failed (a database error): the transaction cannot be executed.
    Host(String),
}

impl From<DnnError> for Stop {
    fn from(error: DnnError) -> Self {
        Self::Revert(error)
    }
}

/// Host failures ([`crate::registry`]'s reads and writes) pass through `?`.
impl From<String> for Stop {
    fn from(error: String) -> Self {
        Self::Host(error)
    }
}

/// The gas charged so far, against the call's limit.
#[derive(Debug)]
pub(crate) struct Meter {
    limit: u64,
    charged: u64,
}

impl Meter {
    /// Adds `amount` to the charge; out of gas past the limit.
    pub(crate) fn charge(&mut self, amount: u64) -> Result<(), Stop> {
        self.charge_total(self.charged.checked_add(amount))
    }

    /// Sets the charge to `total`, a cost computed whole (`None`: it overflowed); out of gas
    /// past the limit.
    pub(crate) fn charge_total(&mut self, total: Option<u64>) -> Result<(), Stop> {
        match total {
            Some(total) if total <= self.limit => {
                self.charged = total;
                Ok(())
            }
            _ => Err(Stop::OutOfGas),
        }
    }
}

/// Runs `body` for `call`, charging `base` first, and turns its outcome into the precompile's
/// output. `Err` only for a broken host.
pub(crate) fn metered(
    call: &CallInputs,
    base: u64,
    body: impl FnOnce(&mut Meter) -> Result<Vec<u8>, Stop>,
) -> Result<PrecompileOutput, String> {
    let mut meter = Meter { limit: call.gas_limit, charged: 0 };
    let outcome = meter.charge(base).and_then(|()| body(&mut meter));
    let reservoir = call.reservoir;
    match outcome {
        Ok(returns) => Ok(PrecompileOutput::new(meter.charged, Bytes::from(returns), reservoir)),
        Err(Stop::Revert(error)) => {
            Ok(PrecompileOutput::revert(meter.charged, error.abi_encode(), reservoir))
        }
        Err(Stop::OutOfGas) => Ok(PrecompileOutput::halt(PrecompileHalt::OutOfGas, reservoir)),
        Err(Stop::Host(error)) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meter(limit: u64) -> Meter {
        Meter { limit, charged: 0 }
    }

    /// Charges add up to the limit and no further; a whole cost replaces what was charged.
    #[test]
    fn charges_stop_at_the_limit() {
        let mut m = meter(100);
        assert!(m.charge(60).is_ok());
        assert!(m.charge(40).is_ok());
        assert!(matches!(m.charge(1), Err(Stop::OutOfGas)));
        assert_eq!(m.charged, 100, "a refused charge changes nothing");
        assert!(m.charge_total(Some(70)).is_ok());
        assert_eq!(m.charged, 70);
        assert!(matches!(m.charge_total(None), Err(Stop::OutOfGas)));
        assert!(matches!(m.charge_total(Some(101)), Err(Stop::OutOfGas)));
        assert!(meter(u64::MAX).charge(u64::MAX).is_ok());
        let mut full = meter(u64::MAX);
        full.charged = u64::MAX;
        assert!(matches!(full.charge(1), Err(Stop::OutOfGas)), "no overflow");
    }
}
