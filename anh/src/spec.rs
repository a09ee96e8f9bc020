//! Chain specs: the chain configuration as a file (`anh chain spec > FILE`), from which
//! `anh node --chain FILE` starts a producer or a follower. Everything in it is chain
//! configuration: two nodes started from the same file build the same block 0 and replay the
//! same way (`maxTensorElements` and the `gas` schedule included: block 0 commits to them).

use alloy_primitives::U256;
use anh_evm_host::GenesisConfig;
use anh_precompiles::{Committee, DnnParams, GasSchedule};
use serde::{Deserialize, Serialize};

/// Largest warm set a chain spec may ask for (`gas.warmModels`): every executor keeps the
/// sessions of that many models.
pub const MAX_WARM_MODELS: u64 = 1024;

/// A chain spec: genesis parameters (with a fixed genesis timestamp, so that every node
/// builds the same block 0), the executor committee, and the DNN limits replay depends on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChainSpec {
    /// Chain id.
    pub chain_id: u64,
    /// Block gas limit.
    pub gas_limit: u64,
    /// Base fee of block 0, in wei.
    pub base_fee: u64,
    /// Mnemonic of the dev accounts.
    pub mnemonic: String,
    /// Number of dev accounts.
    pub accounts: u32,
    /// Balance of each dev account, in wei.
    pub balance: U256,
    /// Timestamp of block 0 (unix seconds).
    pub timestamp: u64,
    /// The executor committee (members in leader order, threshold, default rule).
    pub committee: Committee,
    /// Most elements in one tensor passed to `infer`/`train`.
    pub max_tensor_elements: u64,
    /// The DNN precompiles' gas constants (default: the measured schedule).
    #[serde(default)]
    pub gas: GasSchedule,
    /// A dev chain: dev methods that change state, time, fees or senders work and are
    /// recorded in blocks (anvil's behaviour). `false`: they answer an error, a follower
    /// refuses a block with a dev record, and the committee needs a majority threshold.
    pub dev: bool,
}

impl ChainSpec {
    /// The spec of `genesis` (whose committee is set) at `timestamp` when genesis has none.
    pub fn new(genesis: &GenesisConfig, committee: Committee, timestamp: u64) -> Self {
        Self {
            chain_id: genesis.chain_id,
            gas_limit: genesis.gas_limit,
            base_fee: genesis.base_fee,
            mnemonic: genesis.mnemonic.clone(),
            accounts: genesis.accounts,
            balance: genesis.balance,
            timestamp: genesis.timestamp.unwrap_or(timestamp),
            committee,
            max_tensor_elements: genesis.dnn.max_tensor_elements,
            gas: genesis.dnn.gas,
            dev: genesis.dev,
        }
    }

    /// Parses a spec file's text and checks it: a valid committee (with a majority threshold
    /// on a non-dev chain), a positive tensor limit.
    pub fn parse(text: &str) -> Result<Self, String> {
        let spec: Self =
            serde_json::from_str(text).map_err(|e| format!("not a chain spec: {e}"))?;
        spec.validate()?;
        Ok(spec)
    }

    /// Checks what parsing cannot: a valid committee (threshold at least 1 and at most the
    /// members, distinct members, and on a non-dev chain a threshold above half the members),
    /// a positive tensor limit, a warm set executors can hold (at most
    /// [`MAX_WARM_MODELS`] models).
    pub fn validate(&self) -> Result<(), String> {
        if self.max_tensor_elements == 0 {
            return Err("\"maxTensorElements\" must be positive".into());
        }
        if self.gas.warm_models > MAX_WARM_MODELS {
            return Err(format!(
                "\"gas.warmModels\" is {}: at most {MAX_WARM_MODELS} (every executor keeps the \
                 sessions of that many models)",
                self.gas.warm_models
            ));
        }
        self.committee.validate_for_chain(self.dev).map_err(|e| format!("invalid committee: {e}"))
    }

    /// The genesis it describes.
    pub fn genesis(&self) -> GenesisConfig {
        GenesisConfig {
            chain_id: self.chain_id,
            gas_limit: self.gas_limit,
            base_fee: self.base_fee,
            mnemonic: self.mnemonic.clone(),
            accounts: self.accounts,
            balance: self.balance,
            timestamp: Some(self.timestamp),
            committee: Some(self.committee.clone()),
            dev: self.dev,
            dnn: DnnParams { max_tensor_elements: self.max_tensor_elements, gas: self.gas },
        }
    }
}
