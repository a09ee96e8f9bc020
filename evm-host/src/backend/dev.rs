//! Dev methods: what anvil's and Hardhat's cheat codes (`anvil_*`, `hardhat_*`, `evm_*`) do
//! to the chain.
//!
//! State edits (`setBalance`, `setCode`, `setNonce`, `setStorageAt`, `loadState`) change the
//! head state at once — `latest` queries and calls see them, as on anvil — and are recorded in
//! the next block's [`DevRecord`](crate::block::DevRecord), which its `extraData` commits to,
//! so that a following node and a restart reproduce the block. Transactions from impersonated
//! accounts carry a placeholder signature; the block records which they are and a replaying
//! node takes their senders from it instead of recovering them.

use super::{Backend, Clock, Touched};
use crate::{
    error::{HostError, HostResult},
    state::{AccountChange, AccountFields, AccountState, SlotChange, StateChanges, WorldState},
};
use alloy_primitives::{Address, B256, Bytes, KECCAK256_EMPTY, Signature, U256};
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, sync::atomic::Ordering};

/// The signature an impersonated account's transaction carries: `r` is the sender's address,
/// `s` is 1. It recovers to no one in particular; it only makes the transaction's hash
/// depend on its sender.
pub(crate) fn placeholder_signature(sender: Address) -> Signature {
    Signature::new(U256::from_be_slice(sender.as_slice()), U256::from(1), false)
}

/// An account in a state dump, in anvil's `SerializableAccountRecord` layout.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DumpedAccount {
    /// Nonce.
    pub nonce: u64,
    /// Balance in wei.
    pub balance: U256,
    /// Code.
    #[serde(default)]
    pub code: Bytes,
    /// Non-zero storage slots.
    #[serde(default)]
    pub storage: BTreeMap<U256, U256>,
}

/// A state dump (`anvil_dumpState`), in the layout of anvil's `SerializableState`, so that a
/// dump moves between `anh node` and anvil. Only `accounts` is read back by
/// [`Backend::load_state`]; the block fields tell where the dump was taken.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DumpedState {
    /// Every account with its code and storage.
    pub accounts: BTreeMap<Address, DumpedAccount>,
    /// The number of the block the dump was taken at.
    #[serde(default)]
    pub best_block_number: Option<u64>,
}

/// The most blocks one `anvil_mine`/`hardhat_mine` call produces.
pub const MAX_MINE_BLOCKS: u64 = 100_000;

impl Backend {
    /// Changes account `address` in the head state with `change`, and records the change for
    /// the next block. `code` replaces the account's code.
    fn edit(
        &self,
        address: Address,
        code: Option<Bytes>,
        change: impl FnOnce(&mut AccountState) -> Vec<SlotChange>,
    ) {
        let _writer = self.writer.lock();
        let mut pending = self.pending_edits.lock();
        let recorded = {
            let mut chain = self.chain.write();
            let mut account = chain
                .head_state
                .account(&address)
                .cloned()
                .unwrap_or_else(|| AccountState::with_balance(U256::ZERO));
            if let Some(code) = code {
                account.code_hash = if code.is_empty() {
                    KECCAK256_EMPTY
                } else {
                    self.codes.insert_raw(code.clone())
                };
                if !code.is_empty() {
                    pending.codes.push(code);
                }
            }
            let storage = change(&mut account);
            for slot in &storage {
                account.set_storage(slot.slot, slot.value);
            }
            let info = AccountFields {
                nonce: account.nonce,
                balance: account.balance,
                code_hash: account.code_hash,
            };
            chain.head_state.set_account(&address, account);
            AccountChange { address, info: Some(info), storage_cleared: false, storage }
        };
        let changes = StateChanges { accounts: vec![recorded], codes: Vec::new() };
        self.touched.write().record(&changes);
        pending.accounts.extend(changes.accounts);
        drop(pending);
        // A nonce or balance change can make pool transactions ready.
        self.tx_ready.notify_one();
    }

    /// `anvil_setBalance`.
    pub fn set_balance(&self, address: Address, balance: U256) -> HostResult<()> {
        self.require_dev("anvil_setBalance")?;
        self.edit(address, None, |account| {
            account.balance = balance;
            Vec::new()
        });
        Ok(())
    }

    /// `anvil_addBalance`.
    pub fn add_balance(&self, address: Address, amount: U256) -> HostResult<()> {
        self.require_dev("anvil_addBalance")?;
        self.edit(address, None, |account| {
            account.balance = account.balance.saturating_add(amount);
            Vec::new()
        });
        Ok(())
    }

    /// `anvil_setNonce`.
    pub fn set_nonce(&self, address: Address, nonce: u64) -> HostResult<()> {
        self.require_dev("anvil_setNonce")?;
        self.edit(address, None, |account| {
            account.nonce = nonce;
            Vec::new()
        });
        Ok(())
    }

    /// `anvil_setCode`.
    pub fn set_code(&self, address: Address, code: Bytes) -> HostResult<()> {
        self.require_dev("anvil_setCode")?;
        self.edit(address, Some(code), |_| Vec::new());
        Ok(())
    }

    /// `anvil_setStorageAt`.
    pub fn set_storage_at(&self, address: Address, slot: U256, value: U256) -> HostResult<()> {
        self.require_dev("anvil_setStorageAt")?;
        self.edit(address, None, |_| vec![SlotChange { slot, value }]);
        Ok(())
    }

    /// `anvil_impersonateAccount`: `eth_sendTransaction` from `address` needs no key.
    pub fn impersonate(&self, address: Address) -> HostResult<()> {
        self.require_dev("anvil_impersonateAccount")?;
        self.impersonated.lock().insert(address);
        Ok(())
    }

    /// `anvil_stopImpersonatingAccount`.
    pub fn stop_impersonating(&self, address: Address) {
        self.impersonated.lock().remove(&address);
    }

    /// `anvil_autoImpersonateAccount`: impersonate every account.
    pub fn set_auto_impersonate(&self, enabled: bool) -> HostResult<()> {
        self.require_dev("anvil_autoImpersonateAccount")?;
        self.auto_impersonate.store(enabled, Ordering::Relaxed);
        Ok(())
    }

    /// Whether `eth_sendTransaction` from `address` is sent without a key.
    pub fn is_impersonated(&self, address: &Address) -> bool {
        self.dev
            && (self.auto_impersonate.load(Ordering::Relaxed)
                || self.impersonated.lock().contains(address))
    }

    /// `evm_increaseTime`: moves the clock forward, so that the next block is at least
    /// `seconds` after the latest one; returns the clock's total offset from wall time, in
    /// seconds.
    pub fn increase_time(&self, seconds: u64) -> HostResult<i64> {
        self.require_dev("evm_increaseTime")?;
        let latest = self.latest().header.timestamp;
        Ok(self.clock.lock().increase(seconds, latest))
    }

    /// `anvil_setTime`: sets the clock to `timestamp`; returns the new offset from wall time.
    pub fn set_time(&self, timestamp: u64) -> HostResult<i64> {
        self.require_dev("anvil_setTime")?;
        Ok(self.clock.lock().set(timestamp))
    }

    /// `evm_setNextBlockTimestamp`: the next block's timestamp, which must be after the
    /// latest block's.
    pub fn set_next_block_timestamp(&self, timestamp: u64) -> HostResult<()> {
        self.require_dev("evm_setNextBlockTimestamp")?;
        let latest = self.latest().header.timestamp;
        if timestamp <= latest {
            return Err(HostError::InvalidRequest(format!(
                "Timestamp error: {timestamp} is lower than or equal to previous block's \
                 timestamp {latest}"
            )));
        }
        self.clock.lock().next = Some(timestamp);
        Ok(())
    }

    /// `anvil_setNextBlockBaseFeePerGas`.
    pub fn set_next_block_base_fee(&self, base_fee: u64) -> HostResult<()> {
        self.require_dev("anvil_setNextBlockBaseFeePerGas")?;
        *self.next_base_fee.lock() = Some(base_fee);
        Ok(())
    }

    /// `anvil_setCoinbase`: the beneficiary of the blocks to come.
    pub fn set_coinbase(&self, coinbase: Address) -> HostResult<()> {
        self.require_dev("anvil_setCoinbase")?;
        *self.coinbase.lock() = coinbase;
        Ok(())
    }

    /// The beneficiary of the next block (`eth_coinbase`).
    pub fn coinbase(&self) -> Address {
        *self.coinbase.lock()
    }

    /// `anvil_dropTransaction`: removes a pool transaction; whether it was there.
    pub fn drop_transaction(&self, hash: &B256) -> bool {
        self.pool.lock().remove(hash).is_some()
    }

    /// `anvil_dropAllTransactions`: empties the pool.
    pub fn drop_all_transactions(&self) {
        *self.pool.lock() = Default::default();
    }

    /// `anvil_reset` (without forking): back to genesis — blocks, pool, pending edits,
    /// snapshots, impersonation, clock and next-block settings are dropped.
    pub fn reset(&self) -> HostResult<()> {
        self.require_dev("anvil_reset")?;
        let _writer = self.writer.lock();
        if let Some(store) = &self.store {
            store.truncate_above(0)?;
        }
        {
            let mut chain = self.chain.write();
            chain.truncate(0);
            chain.head_state = chain.states[0].clone();
        }
        *self.pool.lock() = Default::default();
        *self.pending_edits.lock() = StateChanges::default();
        *self.next_base_fee.lock() = None;
        *self.clock.lock() = Clock::default();
        self.snapshots.lock().1.clear();
        self.impersonated.lock().clear();
        self.auto_impersonate.store(false, Ordering::Relaxed);
        Ok(())
    }

    /// `anvil_dumpState`: every account of the head state (pending edits included) with its
    /// code and non-zero storage.
    pub fn dump_state(&self) -> DumpedState {
        let (state, number) = {
            let chain = self.chain.read();
            (chain.head_state.clone(), chain.head().number())
        };
        let touched = self.touched.read();
        DumpedState {
            accounts: dump_accounts(&state, &touched, |hash| self.code(hash)),
            best_block_number: Some(number),
        }
    }

    /// `anvil_loadState`: merges the accounts of a dump into the head state — each account's
    /// nonce, balance and code are replaced, its listed slots overwritten — as one set of dev
    /// edits that the next block records. Blocks and transactions in the dump are not
    /// restored. Returns how many accounts were loaded.
    pub fn load_state(&self, dump: DumpedState) -> HostResult<usize> {
        self.require_dev("anvil_loadState")?;
        let count = dump.accounts.len();
        for (address, account) in dump.accounts {
            let DumpedAccount { nonce, balance, code, storage } = account;
            self.edit(address, Some(code), |state| {
                state.nonce = nonce;
                state.balance = balance;
                storage.into_iter().map(|(slot, value)| SlotChange { slot, value }).collect()
            });
        }
        Ok(count)
    }

    /// The hash of block 0.
    pub fn genesis_hash(&self) -> B256 {
        self.chain.read().blocks[0].hash
    }

    /// The snapshots there are: id, block number and block hash.
    pub fn snapshot_ids(&self) -> Vec<(u64, u64, B256)> {
        let chain = self.chain.read();
        self.snapshots
            .lock()
            .1
            .iter()
            .map(|(id, s)| {
                let hash = chain.blocks.get(s.number as usize).map(|b| b.hash).unwrap_or_default();
                (*id, s.number, hash)
            })
            .collect()
    }
}

fn dump_accounts(
    state: &WorldState,
    touched: &Touched,
    code: impl Fn(&B256) -> Bytes,
) -> BTreeMap<Address, DumpedAccount> {
    touched
        .0
        .iter()
        .filter_map(|(address, slots)| {
            let account = state.account(address)?;
            let storage = slots
                .iter()
                .map(|slot| (*slot, account.storage_value(*slot)))
                .filter(|(_, value)| !value.is_zero())
                .collect();
            Some((
                *address,
                DumpedAccount {
                    nonce: account.nonce,
                    balance: account.balance,
                    code: code(&account.code_hash),
                    storage,
                },
            ))
        })
        .collect()
}
