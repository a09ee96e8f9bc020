//! The gas schedule of the DNN precompiles.
//!
//! Gas is known before any work starts, from chain state and calldata only: it never depends
//! on wall-clock time, on the machine, or on which executor runs the model.
//!
//! `infer` / `inferAs`:
//!
//! ```text
//! gas = INFER_BASE
//!     + REGISTRY_READ_BASE + REGISTRY_READ_WORD × record words   (the model's registry record)
//!     + PER_INPUT_BYTE × input tensor bytes
//!     + ⌈ macs × multiplier × GAS_PER_MMAC / 10^6 ⌉
//! ```
//!
//! `macs` is the model's recorded cost ([`crate::cost::Cost`], a polynomial in its symbolic
//! dimensions) at the sizes the call's inputs give them: a batch of 32 costs what 32 samples
//! cost, work that does not grow with the batch is paid once, and work that grows faster
//! (`x·xᵀ`, attention over a sequence) is paid as it grows. A model trained on chain has a
//! lineage record that points at its root's full record (`anh_precompiles::registry`): the read term is
//! paid for each.
//!
//! A call on a model outside the chain's warm set (see `anh_precompiles::registry`) also pays
//! [`GasSchedule::cold_model`] for loading it: `COLD_MODEL_BASE + COLD_MODEL_KIB × ⌈size /
//! 1024⌉`; `train` pays it for its parent when cold, and always for the model it writes (at
//! the parent's size, times one more per optimiser state).
//!
//! `train`: the `infer` price of `macs × 3 × (steps + 1)` for the batch (a training step is a
//! forward and a backward pass, about three forward passes; one more step graph runs, with a
//! learning rate of 0, for the new weights' loss), plus `TRAIN_STEP × (steps + 1)` for each
//! step's fixed cost (a step graph runs a few dozen small operators, whatever the model's
//! size: about 40 µs measured on the reference CPU), plus
//! `REGISTER_BASE + REGISTER_WORD × 7` for the new model's lineage record.
//!
//! **Where the constants come from.** A block of 30 M gas should take no more than one second
//! of one core of the reference CPU (the machine this project's CI runs on: 2 cores, x86-64),
//! so one gas is worth [`NS_PER_GAS`] ≈ 33 ns. `./dev bench gas` times ONNX Runtime (one
//! intra-op thread, as a node runs it) on batch-1 MatMul models from 16 K to 9.4 M MACs:
//! from about 80 ps per MAC while the weights fit in the caches to about 240 ps once they
//! must stream from memory (batch-1 inference reads every weight once per call). Gas must
//! cover the worst case, so the charged rate is [`MEASURED_PS_PER_MAC`] = 240 ps per MAC, i.e.
//! 7 200 gas per 10^6 MACs; models that reuse their weights (convolutions, batches) are
//! cheaper than they pay for. A call's fixed cost was at most [`MEASURED_CALL_OVERHEAD_NS`]
//! (measured 2026-11-22; rerun the bench on another reference machine and update these). A
//! cold load costs about 4.6 µs per KiB of the model's file (measured 2026-12-03, 4 MiB to 256
//! MiB: reading the file, checking its hash, which an executor does before it signs anything
//! computed from it, and building the session): 200 gas per KiB, so a cold call on a model past about 146 MiB does not fit a
//! 30 M-gas block, and a chain for such models needs a larger block gas limit.

/// Gas that one second of one reference-CPU core is worth.
pub const GAS_PER_SECOND: u64 = 30_000_000;

/// Nanoseconds of reference-CPU time one gas pays for (≈ 33.3).
pub const NS_PER_GAS: f64 = 1e9 / GAS_PER_SECOND as f64;

/// Worst measured picoseconds per multiply-accumulate (ONNX Runtime, 1 thread, batch 1,
/// weights streaming from memory; reference CPU).
pub const MEASURED_PS_PER_MAC: u64 = 240;

/// Measured fixed cost of one inference call, in nanoseconds, at most (reference CPU).
pub const MEASURED_CALL_OVERHEAD_NS: u64 = 5_000;

/// The constants the precompiles charge: chain configuration (a chain spec's `gas`, committed
/// to by block 0 through `anh_precompiles::DnnParams::hash`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GasSchedule {
    /// Fixed cost of an inference call.
    pub infer_base: u64,
    /// Cost of reading a registry record: its first word…
    pub registry_read_base: u64,
    /// …and each further 32-byte word.
    pub registry_read_word: u64,
    /// Per byte of input tensor data.
    pub per_input_byte: u64,
    /// Per million multiply-accumulates.
    pub gas_per_mmac: u64,
    /// Fixed cost of `register`.
    pub register_base: u64,
    /// Per 32-byte word of the registry record written by `register` (a fresh SSTORE).
    pub register_word: u64,
    /// Fixed cost of a model-info call.
    pub info_base: u64,
    /// Fixed cost of each training step (a chain spec that leaves it out gets the measured
    /// value).
    #[serde(default = "measured_train_step")]
    pub train_step: u64,
    /// Fixed cost of a call on a cold model (one outside the chain's warm set: see
    /// `anh_precompiles::registry`): creating its ONNX Runtime session.
    #[serde(default = "measured_cold_model_base")]
    pub cold_model_base: u64,
    /// …and per KiB of its file (reading it, checking its hash, loading its weights).
    #[serde(default = "measured_cold_model_kib")]
    pub cold_model_kib: u64,
    /// How many models the chain keeps warm: a model stays warm until this many others were
    /// loaded cold after it. Every executor must keep the sessions of at least this many models
    /// (`--max-cached-models`).
    #[serde(default = "measured_warm_models")]
    pub warm_models: u64,
}

fn measured_train_step() -> u64 {
    GasSchedule::MEASURED.train_step
}

fn measured_cold_model_base() -> u64 {
    GasSchedule::MEASURED.cold_model_base
}

fn measured_cold_model_kib() -> u64 {
    GasSchedule::MEASURED.cold_model_kib
}

fn measured_warm_models() -> u64 {
    GasSchedule::MEASURED.warm_models
}

impl GasSchedule {
    /// The schedule derived from the measurements above.
    ///
    /// - `gas_per_mmac`: 10^6 MACs take `MEASURED_PS_PER_MAC` µs, at 30 gas per µs.
    /// - `infer_base`: the call overhead is about 150 gas of compute; it is charged like
    ///   Ethereum's comparable precompiles (`ecrecover` costs 3 000), which also covers the
    ///   EVM-side copying and allocation.
    /// - Registry reads cost a cold `SLOAD` (2 100) for the first word and a warm one (100) for
    ///   each further word; `register` costs a fresh `SSTORE` (20 000) per word written.
    pub const MEASURED: Self = Self {
        infer_base: 3_000,
        registry_read_base: 2_100,
        registry_read_word: 100,
        per_input_byte: 1,
        // 10^6 MACs × ps/MAC = ps/MAC µs, at GAS_PER_SECOND / 10^6 gas per µs.
        gas_per_mmac: MEASURED_PS_PER_MAC * GAS_PER_SECOND / 1_000_000,
        register_base: 25_000,
        register_word: 20_000,
        info_base: 700,
        // `./dev bench gas`: a step of the examples' small models costs 35–40 µs however few
        // its MACs; 2 000 gas pays 67 µs.
        train_step: 2_000,
        // `./dev bench gas`: a cold load (read the file, check its hash, create the session)
        // costs 0.3–0.5 ms for the small models and at most 4.6 µs per KiB (137 gas) from
        // 4 MiB to 256 MiB: 1 ms for the session and 200 gas per KiB are charged.
        cold_model_base: 30_000,
        cold_model_kib: 200,
        // The runtime's default model cache (`RuntimeConfig::max_cached_models`).
        warm_models: 16,
    };

    /// Gas of loading a cold model of `size` bytes: `cold_model_base + cold_model_kib ×
    /// ⌈size / 1024⌉`.
    pub fn cold_model(&self, size: u64) -> u64 {
        self.cold_model_kib.saturating_mul(size.div_ceil(1024)).saturating_add(self.cold_model_base)
    }

    /// Gas of an inference call of `macs` multiply-accumulates whose registry reads cost
    /// `registry_gas` (see [`GasSchedule::registry_read`]), or `None` if it overflows `u64`
    /// (out of gas).
    pub fn infer(&self, registry_gas: u64, input_bytes: u64, macs: u64) -> Option<u64> {
        let compute = (macs as u128).checked_mul(self.gas_per_mmac as u128)?.div_ceil(1_000_000);
        let total = self.infer_base as u128
            + registry_gas as u128
            + (self.per_input_byte as u128).checked_mul(input_bytes as u128)?
            + compute;
        u64::try_from(total).ok()
    }

    /// Gas of a training call: the inference price of `macs × 3 × (steps + 1)` (`macs`: one
    /// evaluation on the whole batch; a training step is a forward and a backward pass, about
    /// three forward passes, and one more step gives the new weights' loss), plus the
    /// registration of the new model's record of `new_record_words` words, or `None` if it
    /// overflows `u64` (out of gas).
    pub fn train(
        &self,
        registry_gas: u64,
        batch_bytes: u64,
        macs: u64,
        steps: u32,
        new_record_words: u64,
    ) -> Option<u64> {
        let macs = macs.checked_mul(3)?.checked_mul(u64::from(steps) + 1)?;
        self.infer(registry_gas, batch_bytes, macs)?
            .checked_add(self.train_step.checked_mul(u64::from(steps) + 1)?)?
            .checked_add(self.register(new_record_words))
    }

    /// Gas of merging rank-`rank` adapters into the weights of a model of `size` bytes: `k·r·n`
    /// multiply-accumulates per adapted `[k, n]` weight, at most `rank × size / 4` (every
    /// weight adapted, 4 bytes a parameter), priced as inference work; `None` on overflow.
    pub fn adapter_merge(&self, size: u64, rank: u8) -> Option<u64> {
        let macs = u128::from(size / 4).checked_mul(u128::from(rank))?;
        u64::try_from(macs.checked_mul(u128::from(self.gas_per_mmac))?.div_ceil(1_000_000)).ok()
    }

    /// Gas of the model a `train` call writes, from its parent's `size` and the `optimizer`
    /// (1 SGD, 2 momentum, 3 Adam): a cold load of the parent's size once more per optimiser
    /// state the new file may carry (momentum's velocity, Adam's two moments), an upper bound
    /// of the new file's size known before training.
    pub fn trained_model(&self, size: u64, optimizer: u8) -> u64 {
        let states = match optimizer {
            2 => 1,
            3 => 2,
            _ => 0,
        };
        self.cold_model(size.saturating_mul(1 + states))
    }

    /// The constants in declaration order (what `anh_precompiles::DnnParams::hash` commits to).
    pub fn words(&self) -> [u64; 12] {
        [
            self.infer_base,
            self.registry_read_base,
            self.registry_read_word,
            self.per_input_byte,
            self.gas_per_mmac,
            self.register_base,
            self.register_word,
            self.info_base,
            self.train_step,
            self.cold_model_base,
            self.cold_model_kib,
            self.warm_models,
        ]
    }

    /// Gas of reading a record of `words` words.
    pub fn registry_read(&self, words: u64) -> u64 {
        self.registry_read_base
            .saturating_add(self.registry_read_word.saturating_mul(words.saturating_sub(1)))
    }

    /// Gas of registering a record of `words` words (header included).
    pub fn register(&self, words: u64) -> u64 {
        self.register_base.saturating_add(self.register_word.saturating_mul(words))
    }
}

impl Default for GasSchedule {
    fn default() -> Self {
        Self::MEASURED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compute cost scales with MACs, and overflow is out of gas.
    #[test]
    fn infer_gas() {
        let s = GasSchedule::MEASURED;
        let read = s.registry_read(10);
        let one = s.infer(read, 100, 1_000_000).unwrap();
        let batch = s.infer(read, 100, 32_000_000).unwrap();
        assert_eq!(batch - one, 31 * s.gas_per_mmac);
        assert_eq!(s.infer(u64::MAX, 100, u64::MAX), None);
        assert_eq!(s.gas_per_mmac, 7_200, "240 ps per MAC at 33.3 ns per gas");
    }

    /// The schedule's constants and three worked answers, written out: changing the price
    /// of anything must change this test.
    #[test]
    fn known_answers() {
        let s = GasSchedule::MEASURED;
        assert_eq!(
            s.words(),
            [3_000, 2_100, 100, 1, 7_200, 25_000, 20_000, 700, 2_000, 30_000, 200, 16]
        );
        // Adapters' merge: rank 8 on a 400 MB model, 800 M MACs at 7 200 gas per 10^6.
        assert_eq!(s.adapter_merge(400_000_000, 8), Some(5_760_000));
        let dear = GasSchedule { gas_per_mmac: u64::MAX, ..s };
        assert_eq!(dear.adapter_merge(u64::MAX, 64), None, "out of gas, not a wrapped price");
        // A cold model of 814 369 bytes (795.3 KiB, so 796): 30 000 + 796 × 200.
        assert_eq!(s.cold_model(814_369), 189_200);
        assert_eq!(s.cold_model(0), 30_000);
        assert_eq!(s.cold_model(u64::MAX), 200 * (1 << 54) + 30_000, "no overflow");
        // Adam's file may hold the weights and two moments: 3 × 2 048 bytes = 6 KiB.
        assert_eq!(s.trained_model(2_048, 1), 30_400);
        assert_eq!(s.trained_model(2_048, 2), 30_800);
        assert_eq!(s.trained_model(2_048, 3), 31_200);
        // A 10-word record, 64 input bytes, 4 MMAC: 3 000 + 3 000 + 64 + 28 800.
        assert_eq!(s.registry_read(10), 3_000);
        assert_eq!(s.infer(3_000, 64, 4_000_000), Some(34_864));
        // 147 MACs: ⌈147 × 7 200 / 10^6⌉ = 2.
        assert_eq!(s.infer(0, 0, 147), Some(3_002));
        // Training 8 MMAC (a batch), 5 steps: 18 × 8 MMAC × 7 200, 6 steps' fixed cost, a
        // 7-word record.
        assert_eq!(s.register(7), 165_000);
        assert_eq!(
            s.train(3_000, 100, 8_000_000, 5, 7),
            Some(3_000 + 3_000 + 100 + 1_036_800 + 12_000 + 165_000)
        );
    }

    /// Training costs three forward passes per step per sample, plus the new record.
    #[test]
    fn train_gas() {
        let s = GasSchedule::MEASURED;
        let read = s.registry_read(10);
        let infer = s.infer(read, 100, 3 * (5 + 1) * 8_000_000).unwrap();
        assert_eq!(
            s.train(read, 100, 8_000_000, 5, 7).unwrap(),
            infer + 6 * s.train_step + s.register(7)
        );
        assert_eq!(s.train(read, 100, u64::MAX, 2, 7), None);
    }
}
