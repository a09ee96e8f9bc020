//! Subnormal floats flushed to zero on the thread that runs a model.
//!
//! On x86 an arithmetic operation on a subnormal float (below 2^-126 in float32) can take
//! 100 times longer than one on a normal float, so a caller who picks inputs whose values
//! become subnormal on the way through a network gets up to several times the work gas pays
//! for (measured: a 64-layer MLP runs 2.2× slower on inputs that decay to subnormals than on
//! zeros). ONNX Runtime's `session.set_denormal_as_zero` sets the CPU's flush-to-zero and
//! denormals-are-zero modes only on its thread-pool threads, while small operators run inline
//! on the caller's thread; so [`FlushToZero`] sets them on the caller's thread around every run
//! as well, and puts the previous mode back afterwards (the EVM and everything else on the
//! thread keep IEEE semantics). Every executor flushes alike, so results stay comparable; a
//! value that would have been subnormal reads as 0.
//!
//! x86-64 (MXCSR's FTZ and DAZ bits) and AArch64 (FPCR's FZ bit) are covered; on other
//! targets the guard does nothing and only ONNX Runtime's own setting applies.

/// While alive, subnormal floats read and written on this thread are zero.
pub(crate) struct FlushToZero {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    saved: u64,
}

#[cfg(target_arch = "x86_64")]
mod arch {
    /// MXCSR's flush-to-zero (bit 15) and denormals-are-zero (bit 6).
    pub(super) const FLUSH: u64 = 0x8040;

    pub(super) fn read() -> u64 {
        let mut value: u32 = 0;
        // SAFETY: `stmxcsr` stores the 32-bit MXCSR register into the 4 bytes `value` owns.
        unsafe {
            core::arch::asm!("stmxcsr [{}]", in(reg) &mut value, options(nostack, preserves_flags))
        };
        u64::from(value)
    }

    pub(super) fn write(value: u64) {
        let value = value as u32;
        // SAFETY: `ldmxcsr` loads MXCSR from 4 readable bytes; the value is one `read` returned
        // with only the FTZ and DAZ bits changed, which are valid to set on every x86-64 CPU.
        unsafe {
            core::arch::asm!("ldmxcsr [{}]", in(reg) &value, options(nostack, readonly, preserves_flags))
        };
    }
}

#[cfg(target_arch = "aarch64")]
mod arch {
    /// FPCR's flush-to-zero (bit 24).
    pub(super) const FLUSH: u64 = 1 << 24;

    pub(super) fn read() -> u64 {
        let value: u64;
        // SAFETY: reading FPCR has no side effects.
        unsafe { core::arch::asm!("mrs {}, fpcr", out(reg) value, options(nomem, nostack)) };
        value
    }

    pub(super) fn write(value: u64) {
        // SAFETY: the value is one `read` returned with only the FZ bit changed.
        unsafe { core::arch::asm!("msr fpcr, {}", in(reg) value, options(nomem, nostack)) };
    }
}

impl FlushToZero {
    /// Flushes subnormals on this thread until the guard drops.
    pub(crate) fn on() -> Self {
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        {
            let saved = arch::read();
            arch::write(saved | arch::FLUSH);
            Self { saved }
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        Self {}
    }
}

impl Drop for FlushToZero {
    fn drop(&mut self) {
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        arch::write(self.saved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inside the guard a subnormal product is zero; after it, IEEE semantics are back.
    #[test]
    fn flushes_inside_and_restores_after() {
        let tiny = std::hint::black_box(2e-38f32);
        let ieee = std::hint::black_box(tiny) * std::hint::black_box(0.125f32);
        assert!(ieee.is_subnormal(), "{ieee:e}");
        {
            let _flush = FlushToZero::on();
            let flushed = std::hint::black_box(tiny) * std::hint::black_box(0.125f32);
            if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
                assert_eq!(flushed, 0.0);
            }
        }
        let after = std::hint::black_box(tiny) * std::hint::black_box(0.125f32);
        assert_eq!(after, ieee, "the previous mode is back");
    }
}
