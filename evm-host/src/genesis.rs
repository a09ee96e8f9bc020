//! Genesis: the dev accounts, the CREATE2 deployer, and the chain's fixed parameters.
//!
//! Defaults are anvil's, so that tools written against anvil work unchanged: the "test test …
//! junk" mnemonic, ten accounts with 10 000 ETH each, chain id 31337, a 30 M gas limit and an
//! initial base fee of 1 gwei.

use crate::{
    error::{HostError, HostResult},
    state::{AccountChange, AccountFields, StateChanges},
};
use alloy_primitives::{Address, B256, Bytes, KECCAK256_EMPTY, U256, address, hex, keccak256};
use alloy_signer_local::{MnemonicBuilder, PrivateKeySigner};
use anh_precompiles::{Committee, DnnParams};
use revm::primitives::hardfork::SpecId;
use serde::{Deserialize, Serialize};

/// The well-known development mnemonic.
pub const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";

/// The derivation path prefix of the dev accounts (`m/44'/60'/0'/0/<index>`).
pub const DEV_DERIVATION_PATH: &str = "m/44'/60'/0'/0/";

/// Default chain id.
pub const DEFAULT_CHAIN_ID: u64 = 31337;

/// Default block gas limit.
pub const DEFAULT_GAS_LIMIT: u64 = 30_000_000;

/// Initial base fee: 1 gwei.
pub const INITIAL_BASE_FEE: u64 = 1_000_000_000;

/// Default balance of each dev account: 10 000 ETH.
pub const DEFAULT_BALANCE_ETH: u64 = 10_000;

/// Address of the deterministic-deployment proxy ("CREATE2 deployer").
pub const CREATE2_DEPLOYER: Address = address!("0x4e59b44847b379578588920ca78fbf26c0b4956c");

/// Runtime code of the CREATE2 deployer: calldata is `salt ‖ initcode`, it returns the address.
pub const CREATE2_DEPLOYER_CODE: [u8; 69] = hex!(
    "7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe03601600081602082378035828234f58015156039578182fd5b8082525050506014600cf3"
);

/// Genesis also holds the EIP-2935 block-hash history contract (as on anvil); each block
/// writes its parent's hash into it before its transactions run.
///
/// Code at ANH's precompile addresses: `INVALID` (0xfe).
pub const PRECOMPILE_MARKER_CODE: [u8; 1] = [0xfe];

/// The hard fork the chain runs: the latest one revm implements.
pub const SPEC: SpecId = SpecId::OSAKA;

/// What genesis contains. Persisted with the chain, so a data directory is always reopened
/// with the parameters it was created with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisConfig {
    /// Chain id.
    pub chain_id: u64,
    /// Block gas limit.
    pub gas_limit: u64,
    /// Base fee of block 0 (and so the starting point of the EIP-1559 update rule).
    pub base_fee: u64,
    /// Mnemonic of the dev accounts.
    pub mnemonic: String,
    /// Number of dev accounts.
    pub accounts: u32,
    /// Balance of each dev account, in wei.
    pub balance: U256,
    /// Timestamp of block 0 (seconds); `None` means the time the chain is created.
    pub timestamp: Option<u64>,
    /// The executor committee that settles DNN results (genesis' `extraData` is its hash).
    #[serde(default)]
    pub committee: Option<Committee>,
    /// A dev chain (the default): dev methods that change state, time, fees, coinbase or
    /// senders work, and their effects are recorded in blocks. `false` (a chain spec with
    /// `"dev": false`): they fail with [`crate::HostError::DevDisabled`], blocks must carry no
    /// dev record, and the committee needs a majority threshold. Block 0 commits to it (see
    /// [`crate::backend::genesis_block`]), so a follower that pins block 0 pins it too.
    #[serde(default = "dev_chain")]
    pub dev: bool,
    /// The DNN consensus parameters (tensor limit, gas schedule). Block 0 commits to them
    /// when they are not the defaults (or the chain is not a dev chain).
    #[serde(default)]
    pub dnn: DnnParams,
}

/// Genesis records written before the dev flag existed were dev chains.
const fn dev_chain() -> bool {
    true
}

impl Default for GenesisConfig {
    fn default() -> Self {
        Self {
            chain_id: DEFAULT_CHAIN_ID,
            gas_limit: DEFAULT_GAS_LIMIT,
            base_fee: INITIAL_BASE_FEE,
            mnemonic: DEV_MNEMONIC.to_string(),
            accounts: 10,
            balance: U256::from(DEFAULT_BALANCE_ETH) * U256::from(10u64).pow(U256::from(18)),
            timestamp: None,
            committee: None,
            dev: true,
            dnn: DnnParams::default(),
        }
    }
}

/// An unlocked dev account.
#[derive(Debug, Clone)]
pub struct DevAccount {
    /// Its address.
    pub address: Address,
    /// Its key.
    pub signer: PrivateKeySigner,
}

impl GenesisConfig {
    /// Derives the dev accounts from the mnemonic.
    pub fn dev_accounts(&self) -> HostResult<Vec<DevAccount>> {
        (0..self.accounts)
            .map(|i| {
                let signer = MnemonicBuilder::english()
                    .phrase(self.mnemonic.as_str())
                    .derivation_path(format!("{DEV_DERIVATION_PATH}{i}"))
                    .and_then(|b| b.build())
                    .map_err(|e| {
                        HostError::Config(format!("cannot derive dev account {i}: {e}"))
                    })?;
                Ok(DevAccount { address: signer.address(), signer })
            })
            .collect()
    }

    /// The genesis state as a diff over the empty state.
    pub fn alloc(&self, accounts: &[DevAccount]) -> StateChanges {
        let code = Bytes::from_static(&CREATE2_DEPLOYER_CODE);
        let mut changes: Vec<AccountChange> = accounts
            .iter()
            .map(|a| AccountChange {
                address: a.address,
                info: Some(AccountFields {
                    nonce: 0,
                    balance: self.balance,
                    code_hash: KECCAK256_EMPTY,
                }),
                storage_cleared: false,
                storage: Vec::new(),
            })
            .collect();
        let history = alloy_eips::eip2935::HISTORY_STORAGE_CODE.clone();
        changes.push(AccountChange {
            address: alloy_eips::eip2935::HISTORY_STORAGE_ADDRESS,
            info: Some(AccountFields {
                nonce: 0,
                balance: U256::ZERO,
                code_hash: keccak256(&history),
            }),
            storage_cleared: false,
            storage: Vec::new(),
        });
        // ANH's precompile addresses hold one byte of code (INVALID, never executed: the
        // precompile answers first), so Solidity's extcodesize check on calls without return
        // data passes, and the registry's storage is never cleared as an empty account.
        let marker = Bytes::from_static(&PRECOMPILE_MARKER_CODE);
        for address in anh_precompiles::ADDRESSES {
            changes.push(AccountChange {
                address,
                info: Some(AccountFields {
                    nonce: 0,
                    balance: U256::ZERO,
                    code_hash: keccak256(&marker),
                }),
                storage_cleared: false,
                storage: Vec::new(),
            });
        }
        changes.push(AccountChange {
            address: CREATE2_DEPLOYER,
            info: Some(AccountFields {
                nonce: 0,
                balance: U256::ZERO,
                code_hash: keccak256(&code),
            }),
            storage_cleared: false,
            storage: Vec::new(),
        });
        changes.sort_by_key(|c| c.address);
        changes.dedup_by_key(|c| c.address);
        StateChanges { accounts: changes, codes: vec![code, history, marker] }
    }
}

/// A private key as `0x`-prefixed hex, for printing at start-up.
pub fn private_key_hex(signer: &PrivateKeySigner) -> String {
    format!("0x{}", hex::encode(signer.to_bytes()))
}

/// `B256` of a private key (for tests and tooling).
pub fn private_key_b256(signer: &PrivateKeySigner) -> B256 {
    signer.to_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first dev accounts are the ones every anvil and Hardhat user knows.
    #[test]
    fn well_known_accounts() {
        let accounts = GenesisConfig::default().dev_accounts().unwrap();
        assert_eq!(accounts.len(), 10);
        assert_eq!(accounts[0].address, address!("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"));
        assert_eq!(
            private_key_hex(&accounts[0].signer),
            "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
        );
        assert_eq!(accounts[9].address, address!("0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"));
    }

    /// The deployer's code hash is the one published for the deterministic-deployment proxy.
    #[test]
    fn create2_deployer_code_hash() {
        assert_eq!(
            keccak256(CREATE2_DEPLOYER_CODE),
            alloy_primitives::b256!(
                "0x2fa86add0aed31f33a762c9d88e807c475bd51d0f52bd0955754b2608f7e4989"
            )
        );
    }
}
