//! World state: accounts and storage in persistent tries, contract code by hash.
//!
//! A [`WorldState`] is a value: cloning it is O(1) and later changes to the clone never show
//! in the original. The chain keeps one per block (historical state), snapshots keep one, and
//! block execution works on its own clone through [`StateDb`], which records what changed as
//! a [`StateChanges`] — the diff that persistence writes and that a restart replays.

use crate::trie::{Trie, TrieValue};
use alloy_primitives::{Address, B256, Bytes, KECCAK256_EMPTY, U256, keccak256};
use alloy_rlp::{RlpDecodable, RlpEncodable};
use alloy_trie::TrieAccount;
use parking_lot::{Mutex, RwLock};
use revm::{
    bytecode::Bytecode,
    database_interface::{Database, DatabaseCommit, DatabaseRef},
    primitives::{AddressMap, StorageKey, StorageValue},
    state::{Account, AccountInfo},
};
use std::{
    collections::{BTreeMap, HashMap},
    convert::Infallible,
    sync::Arc,
};

impl TrieValue for U256 {
    fn encode_value(&self, out: &mut Vec<u8>) {
        alloy_rlp::Encodable::encode(self, out);
    }
}

/// One account: its header fields and its storage trie.
#[derive(Debug, Clone, Default)]
pub struct AccountState {
    /// Transaction count (or contract-creation count).
    pub nonce: u64,
    /// Balance in wei.
    pub balance: U256,
    /// keccak256 of the account's code ([`KECCAK256_EMPTY`] for none).
    pub code_hash: B256,
    /// Storage, keyed by keccak256 of the slot; zero values are absent.
    pub storage: Trie<U256>,
}

impl AccountState {
    /// A code-less account with `balance`.
    pub fn with_balance(balance: U256) -> Self {
        Self { nonce: 0, balance, code_hash: KECCAK256_EMPTY, storage: Trie::new() }
    }

    /// The value of storage `slot`.
    pub fn storage_value(&self, slot: U256) -> U256 {
        self.storage.get(&keccak256(B256::from(slot))).copied().unwrap_or_default()
    }

    /// Sets storage `slot` (zero removes it).
    pub fn set_storage(&mut self, slot: U256, value: U256) {
        let key = keccak256(B256::from(slot));
        if value.is_zero() {
            self.storage.remove(&key);
        } else {
            self.storage.insert(key, value);
        }
    }

    /// The account's storage root.
    pub fn storage_root(&self) -> B256 {
        self.storage.root()
    }

    fn info(&self) -> AccountInfo {
        AccountInfo {
            balance: self.balance,
            nonce: self.nonce,
            code_hash: self.code_hash,
            code: (self.code_hash == KECCAK256_EMPTY).then(Bytecode::default),
            ..Default::default()
        }
    }
}

impl TrieValue for AccountState {
    fn encode_value(&self, out: &mut Vec<u8>) {
        let account = TrieAccount {
            nonce: self.nonce,
            balance: self.balance,
            storage_root: self.storage.root(),
            code_hash: self.code_hash,
        };
        alloy_rlp::Encodable::encode(&account, out);
    }
}

/// All accounts. Cloning is O(1).
#[derive(Debug, Clone, Default)]
pub struct WorldState {
    accounts: Trie<AccountState>,
}

impl WorldState {
    /// The account at `address`, if it exists.
    pub fn account(&self, address: &Address) -> Option<&AccountState> {
        self.accounts.get(&keccak256(address))
    }

    /// The value of `slot` in the storage of `address`.
    pub fn storage(&self, address: &Address, slot: U256) -> U256 {
        self.account(address).map(|a| a.storage_value(slot)).unwrap_or_default()
    }

    /// Sets the account at `address`.
    pub fn set_account(&mut self, address: &Address, account: AccountState) {
        self.accounts.insert(keccak256(address), account);
    }

    /// Removes the account at `address`.
    pub fn remove_account(&mut self, address: &Address) {
        self.accounts.remove(&keccak256(address));
    }

    /// The state root.
    pub fn root(&self) -> B256 {
        self.accounts.root()
    }

    /// Whether `other` is this very version of the state (a clone of it, changed by neither
    /// since): then both hold the same accounts and storage ([`Trie::same_version`]).
    pub fn same_version(&self, other: &Self) -> bool {
        self.accounts.same_version(&other.accounts)
    }

    /// The account trie (for proofs and dumps).
    pub fn accounts(&self) -> &Trie<AccountState> {
        &self.accounts
    }

    /// Applies a diff.
    pub fn apply(&mut self, changes: &StateChanges) {
        for change in &changes.accounts {
            let Some(info) = &change.info else {
                self.remove_account(&change.address);
                continue;
            };
            let mut account = if change.storage_cleared {
                AccountState::default()
            } else {
                self.account(&change.address).cloned().unwrap_or_default()
            };
            account.nonce = info.nonce;
            account.balance = info.balance;
            account.code_hash = info.code_hash;
            for slot in &change.storage {
                account.set_storage(slot.slot, slot.value);
            }
            self.set_account(&change.address, account);
        }
    }
}

/// Account header fields as a diff records them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct AccountFields {
    /// Nonce.
    pub nonce: u64,
    /// Balance.
    pub balance: U256,
    /// Code hash.
    pub code_hash: B256,
}

/// A storage write in a diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct SlotChange {
    /// Slot.
    pub slot: U256,
    /// New value (zero deletes).
    pub value: U256,
}

/// What happened to one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountChange {
    /// The account.
    pub address: Address,
    /// New header fields; `None` when the account was deleted.
    pub info: Option<AccountFields>,
    /// Whether the storage was wiped before `storage` applies (creation, self-destruct).
    pub storage_cleared: bool,
    /// Storage writes, in slot order.
    pub storage: Vec<SlotChange>,
}

/// [`AccountChange`] as stored: RLP has no optional field in the middle of a list.
#[derive(RlpEncodable, RlpDecodable)]
struct AccountChangeRecord {
    address: Address,
    deleted: bool,
    info: AccountFields,
    storage_cleared: bool,
    storage: Vec<SlotChange>,
}

impl alloy_rlp::Encodable for AccountChange {
    fn encode(&self, out: &mut dyn alloy_rlp::BufMut) {
        self.record().encode(out);
    }

    fn length(&self) -> usize {
        self.record().length()
    }
}

impl alloy_rlp::Decodable for AccountChange {
    fn decode(buf: &mut &[u8]) -> alloy_rlp::Result<Self> {
        let r = AccountChangeRecord::decode(buf)?;
        Ok(Self {
            address: r.address,
            info: (!r.deleted).then_some(r.info),
            storage_cleared: r.storage_cleared,
            storage: r.storage,
        })
    }
}

impl AccountChange {
    fn record(&self) -> AccountChangeRecord {
        const NONE: AccountFields =
            AccountFields { nonce: 0, balance: U256::ZERO, code_hash: B256::ZERO };
        AccountChangeRecord {
            address: self.address,
            deleted: self.info.is_none(),
            info: self.info.unwrap_or(NONE),
            storage_cleared: self.storage_cleared,
            storage: self.storage.clone(),
        }
    }
}

/// The state diff of a block (or of genesis), plus the code it introduced.
#[derive(Debug, Clone, Default, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct StateChanges {
    /// Changed accounts, in address order.
    pub accounts: Vec<AccountChange>,
    /// New contract code.
    pub codes: Vec<Bytes>,
}

/// Builds a [`StateChanges`] from successive commits, merging changes to the same account.
#[derive(Debug, Default)]
pub(crate) struct ChangeSet {
    accounts: BTreeMap<Address, PendingChange>,
    codes: Vec<Bytes>,
}

/// An account's change while a [`ChangeSet`] is being built.
#[derive(Debug, Default)]
struct PendingChange {
    info: Option<AccountFields>,
    storage_cleared: bool,
    storage: BTreeMap<U256, U256>,
}

impl ChangeSet {
    fn record(
        &mut self,
        address: Address,
        info: Option<AccountFields>,
        cleared: bool,
    ) -> &mut BTreeMap<U256, U256> {
        let entry = self.accounts.entry(address).or_default();
        entry.info = info;
        if cleared {
            entry.storage_cleared = true;
            entry.storage.clear();
        }
        &mut entry.storage
    }

    /// Finishes into a diff.
    pub(crate) fn finish(self) -> StateChanges {
        StateChanges {
            accounts: self
                .accounts
                .into_iter()
                .map(|(address, change)| AccountChange {
                    address,
                    info: change.info,
                    storage_cleared: change.storage_cleared,
                    storage: change
                        .storage
                        .into_iter()
                        .map(|(slot, value)| SlotChange { slot, value })
                        .collect(),
                })
                .collect(),
            codes: self.codes,
        }
    }
}

/// Contract code by hash, shared by every state (code is content-addressed and immutable).
#[derive(Debug, Clone, Default)]
pub struct CodeStore(Arc<RwLock<HashMap<B256, Bytecode>>>);

impl CodeStore {
    /// The code with `hash`.
    pub fn get(&self, hash: &B256) -> Option<Bytecode> {
        if *hash == KECCAK256_EMPTY {
            return Some(Bytecode::default());
        }
        self.0.read().get(hash).cloned()
    }

    /// Stores raw code; returns its hash.
    pub fn insert_raw(&self, code: Bytes) -> B256 {
        let bytecode = Bytecode::new_raw(code);
        let hash = bytecode.hash_slow();
        self.0.write().entry(hash).or_insert(bytecode);
        hash
    }

    fn insert(&self, hash: B256, code: Bytecode) {
        self.0.write().entry(hash).or_insert(code);
    }
}

/// Hashes of recent blocks, for the `BLOCKHASH` opcode.
#[derive(Debug, Clone, Default)]
pub struct RecentHashes {
    /// Number of the block whose hash is `hashes[0]`.
    pub first: u64,
    /// Consecutive block hashes.
    pub hashes: Vec<B256>,
}

impl RecentHashes {
    fn get(&self, number: u64) -> B256 {
        number
            .checked_sub(self.first)
            .and_then(|i| self.hashes.get(i as usize))
            .copied()
            .unwrap_or_default()
    }
}

/// Storage values read from one version of the state ([`WorldState::same_version`]), for the
/// executions that read it next: the calls on the head state read the same slots again and
/// again (a model's registry record is some 60 of them per `infer`), and each read from the
/// tries hashes its address and slot and walks two tries. Holds at most
/// [`ReadCache::MAX_SLOTS`] values; a [`StateDb`] uses it only while its state is that
/// version.
#[derive(Debug, Default)]
pub struct ReadCache {
    slots: Mutex<HashMap<(Address, U256), U256>>,
}

impl ReadCache {
    /// The most values one cache holds (about 6 MiB).
    pub const MAX_SLOTS: usize = 1 << 16;

    fn get(&self, address: Address, slot: U256) -> Option<U256> {
        self.slots.lock().get(&(address, slot)).copied()
    }

    fn insert(&self, address: Address, slot: U256, value: U256) {
        let mut slots = self.slots.lock();
        if slots.len() < Self::MAX_SLOTS {
            slots.insert((address, slot), value);
        }
    }

    /// Values it holds.
    pub fn len(&self) -> usize {
        self.slots.lock().len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A revm database over a [`WorldState`] that it updates in place and whose changes it
/// records.
#[derive(Debug)]
pub struct StateDb {
    state: WorldState,
    codes: CodeStore,
    hashes: Arc<RecentHashes>,
    changes: ChangeSet,
    /// The accounts storage reads found, while `state` is unchanged: a storage read then
    /// hashes only its slot (a contract reading many slots, such as a registry record of 60
    /// words, paid the address's hash and the account trie's walk for each). Emptied by every
    /// change to `state`.
    accounts: HashMap<Address, Option<AccountState>>,
    /// Values read from this version of the state, shared with other executions on it
    /// ([`StateDb::with_reads`]); dropped at the first change to `state`.
    reads: Option<Arc<ReadCache>>,
    /// The current value of every storage slot read or written through this database, kept
    /// up to date by each commit: the transactions of a block that read the same slots (a
    /// model's registry record, 60 words, for every `infer`) hash and walk the trie for each
    /// slot once per block, not once per transaction. Emptied by [`StateDb::state_mut`].
    slots: HashMap<Address, HashMap<U256, U256>>,
}

impl StateDb {
    /// A database starting at `state`.
    pub fn new(state: WorldState, codes: CodeStore, hashes: Arc<RecentHashes>) -> Self {
        Self {
            state,
            codes,
            hashes,
            changes: ChangeSet::default(),
            accounts: HashMap::new(),
            reads: None,
            slots: HashMap::new(),
        }
    }

    /// Reads storage through `reads`, a cache of values read from this very version of the
    /// state by earlier executions (the caller vouches for the version); it is let go at the
    /// first change.
    pub fn with_reads(mut self, reads: Arc<ReadCache>) -> Self {
        self.reads = Some(reads);
        self
    }

    /// The current state.
    pub fn state(&self) -> &WorldState {
        &self.state
    }

    /// Mutable access to the current state, for overrides (not recorded as changes).
    pub fn state_mut(&mut self) -> &mut WorldState {
        self.forget_reads();
        self.slots.clear();
        &mut self.state
    }

    /// The resulting state and the diff of everything committed.
    pub fn finish(self) -> (WorldState, StateChanges) {
        (self.state, self.changes.finish())
    }

    /// Lets go of what was read from the state as it was: it is about to change.
    fn forget_reads(&mut self) {
        self.accounts.clear();
        self.reads = None;
    }

    /// Writes a storage slot outside any transaction, as a system call does (EIP-2935's
    /// parent-hash write), recording it in the diff. The account must exist.
    pub fn system_store(&mut self, address: Address, slot: U256, value: U256) {
        self.forget_reads();
        let Some(mut account) = self.state.account(&address).cloned() else { return };
        account.set_storage(slot, value);
        let fields = AccountFields {
            nonce: account.nonce,
            balance: account.balance,
            code_hash: account.code_hash,
        };
        self.changes.record(address, Some(fields), false).insert(slot, value);
        self.state.set_account(&address, account);
        self.slots.entry(address).or_default().insert(slot, value);
    }

    fn commit_account(&mut self, address: Address, account: &Account) {
        if !account.is_touched() {
            return;
        }
        // Self-destructed, or touched and empty (EIP-161): the account goes away.
        if account.is_selfdestructed() || account.is_empty() {
            self.slots.remove(&address);
            if self.state.account(&address).is_some() || account.is_created() {
                self.state.remove_account(&address);
                self.changes.record(address, None, true);
            }
            return;
        }
        let created = account.is_created();
        if let Some(code) = account.info.code.as_ref().filter(|c| !c.is_empty())
            && (created || self.codes.get(&account.info.code_hash).is_none())
        {
            self.codes.insert(account.info.code_hash, code.clone());
            self.changes.codes.push(code.original_bytes());
        }
        let mut state = if created {
            AccountState::default()
        } else {
            self.state.account(&address).cloned().unwrap_or_default()
        };
        state.nonce = account.info.nonce;
        state.balance = account.info.balance;
        state.code_hash = account.info.code_hash;
        let fields = AccountFields {
            nonce: state.nonce,
            balance: state.balance,
            code_hash: state.code_hash,
        };
        let recorded = self.changes.record(address, Some(fields), created);
        if created {
            self.slots.remove(&address);
        }
        let slots = self.slots.entry(address).or_default();
        for (slot, value) in &account.storage {
            if created || value.is_changed() {
                state.set_storage(*slot, value.present_value);
                recorded.insert(*slot, value.present_value);
                slots.insert(*slot, value.present_value);
            }
        }
        self.state.set_account(&address, state);
    }
}

impl DatabaseRef for StateDb {
    type Error = Infallible;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        Ok(self.state.account(&address).map(AccountState::info))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        Ok(self.codes.get(&code_hash).unwrap_or_default())
    }

    fn storage_ref(
        &self,
        address: Address,
        index: StorageKey,
    ) -> Result<StorageValue, Self::Error> {
        Ok(self.state.storage(&address, index))
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, Self::Error> {
        Ok(self.hashes.get(number))
    }
}

impl Database for StateDb {
    type Error = Infallible;

    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        self.basic_ref(address)
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        self.code_by_hash_ref(code_hash)
    }

    fn storage(
        &mut self,
        address: Address,
        index: StorageKey,
    ) -> Result<StorageValue, Self::Error> {
        if let Some(value) = self.slots.get(&address).and_then(|slots| slots.get(&index)) {
            return Ok(*value);
        }
        if let Some(value) = self.reads.as_ref().and_then(|reads| reads.get(address, index)) {
            return Ok(value);
        }
        let state = &self.state;
        let account =
            self.accounts.entry(address).or_insert_with(|| state.account(&address).cloned());
        let value = account.as_ref().map(|a| a.storage_value(index)).unwrap_or_default();
        if let Some(reads) = &self.reads {
            reads.insert(address, index, value);
        }
        self.slots.entry(address).or_default().insert(index, value);
        Ok(value)
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, Self::Error> {
        self.block_hash_ref(number)
    }
}

impl DatabaseCommit for StateDb {
    fn commit(&mut self, changes: AddressMap<Account>) {
        self.forget_reads();
        for (address, account) in &changes {
            self.commit_account(*address, account);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::address;
    use alloy_trie::HashBuilder;
    use alloy_trie::Nibbles;

    /// The state root equals a from-scratch `HashBuilder` over the same accounts.
    #[test]
    fn root_matches_reference() {
        let mut state = WorldState::default();
        let a = address!("0x1000000000000000000000000000000000000001");
        let b = address!("0x2000000000000000000000000000000000000002");
        state.set_account(&a, AccountState::with_balance(U256::from(5)));
        let mut contract = AccountState::with_balance(U256::ZERO);
        contract.nonce = 1;
        contract.code_hash = keccak256([0x60, 0x00]);
        contract.set_storage(U256::from(1), U256::from(42));
        state.set_account(&b, contract.clone());

        let mut leaves: Vec<(B256, Vec<u8>)> =
            [(a, AccountState::with_balance(U256::from(5))), (b, contract)]
                .into_iter()
                .map(|(addr, acc)| {
                    let mut v = Vec::new();
                    acc.encode_value(&mut v);
                    (keccak256(addr), v)
                })
                .collect();
        leaves.sort();
        let mut hb = HashBuilder::default();
        for (k, v) in &leaves {
            hb.add_leaf(Nibbles::unpack(k), v);
        }
        assert_eq!(state.root(), hb.root());
    }

    /// Applying a diff reproduces the state that produced it.
    #[test]
    fn apply_replays_diff() {
        let a = address!("0x1000000000000000000000000000000000000001");
        let mut set = ChangeSet::default();
        let slots = set.record(
            a,
            Some(AccountFields { nonce: 3, balance: U256::from(7), code_hash: KECCAK256_EMPTY }),
            false,
        );
        slots.insert(U256::from(9), U256::from(10));
        let diff = set.finish();
        let mut state = WorldState::default();
        state.apply(&diff);
        assert_eq!(state.account(&a).unwrap().nonce, 3);
        assert_eq!(state.storage(&a, U256::from(9)), U256::from(10));

        let encoded = alloy_rlp::encode(&diff);
        let decoded: StateChanges = alloy_rlp::Decodable::decode(&mut encoded.as_slice()).unwrap();
        assert_eq!(decoded, diff);
    }

    /// Storage reads through revm's `Database` see every change to the state: a commit, an
    /// override through `state_mut`, a system write, an account's removal and re-creation (the
    /// accounts it remembers between reads are forgotten on each; the slots it remembers
    /// follow each).
    #[test]
    fn storage_reads_follow_every_change() {
        use revm::state::{EvmStorageSlot, TransactionId};
        let a = address!("0x1000000000000000000000000000000000000001");
        let b = address!("0x2000000000000000000000000000000000000002");
        let (one, two) = (U256::from(1), U256::from(2));
        let mut state = WorldState::default();
        let mut account = AccountState::with_balance(U256::from(5));
        account.set_storage(one, U256::from(10));
        state.set_account(&a, account);
        let mut db = StateDb::new(state, CodeStore::default(), Arc::default());
        assert_eq!(db.storage(a, one).unwrap(), U256::from(10));
        assert_eq!(db.storage(b, one).unwrap(), U256::ZERO, "no account, no storage");

        let mut changed = Account::from(db.basic(a).unwrap().unwrap());
        changed.mark_touch();
        changed.storage.insert(
            one,
            EvmStorageSlot::new_changed(U256::from(10), U256::from(11), TransactionId::ZERO),
        );
        let mut created =
            Account::from(AccountInfo { balance: U256::from(1), ..Default::default() });
        created.mark_touch();
        created.storage.insert(
            two,
            EvmStorageSlot::new_changed(U256::ZERO, U256::from(22), TransactionId::ZERO),
        );
        db.commit(AddressMap::from_iter([(a, changed), (b, created)]));
        assert_eq!(db.storage(a, one).unwrap(), U256::from(11), "after a commit");
        assert_eq!(db.storage(b, two).unwrap(), U256::from(22), "an account the commit made");

        db.state_mut().set_account(&a, AccountState::with_balance(U256::ZERO));
        assert_eq!(db.storage(a, one).unwrap(), U256::ZERO, "after an override");

        db.system_store(b, two, U256::from(23));
        assert_eq!(db.storage(b, two).unwrap(), U256::from(23), "after a system write");

        // The slots it remembers across commits follow an account's removal and re-creation.
        let mut gone = Account::from(db.basic(b).unwrap().unwrap());
        gone.mark_touch();
        gone.mark_selfdestruct();
        db.commit(AddressMap::from_iter([(b, gone)]));
        assert_eq!(db.storage(b, two).unwrap(), U256::ZERO, "after a self-destruct");
        let mut again = Account::from(AccountInfo { balance: U256::from(3), ..Default::default() });
        again.mark_touch();
        again.mark_created();
        again.storage.insert(
            one,
            EvmStorageSlot::new_changed(U256::ZERO, U256::from(5), TransactionId::ZERO),
        );
        db.commit(AddressMap::from_iter([(b, again)]));
        assert_eq!(db.storage(b, one).unwrap(), U256::from(5), "a slot the new account set");
        assert_eq!(db.storage(b, two).unwrap(), U256::ZERO, "none of the old account's");
        assert_eq!(db.state().storage(&b, one), U256::from(5), "the state agrees");
    }

    /// A database with a read cache answers from it (the caller vouched that the cache is of
    /// this version of the state) until the state changes, and fills it with what it reads;
    /// a full cache takes no more.
    #[test]
    fn a_read_cache_serves_its_version_only() {
        let a = address!("0x1000000000000000000000000000000000000001");
        let mut state = WorldState::default();
        let mut account = AccountState::with_balance(U256::from(5));
        account.set_storage(U256::from(1), U256::from(10));
        state.set_account(&a, account);
        let reads = Arc::new(ReadCache::default());
        reads.insert(a, U256::from(2), U256::from(77));
        let mut db = StateDb::new(state.clone(), CodeStore::default(), Arc::default())
            .with_reads(reads.clone());
        assert_eq!(db.storage(a, U256::from(2)).unwrap(), U256::from(77), "from the cache");
        assert_eq!(db.storage(a, U256::from(1)).unwrap(), U256::from(10), "from the state");
        assert_eq!(reads.get(a, U256::from(1)), Some(U256::from(10)), "and kept");

        db.commit(AddressMap::default());
        assert_eq!(db.storage(a, U256::from(2)).unwrap(), U256::ZERO, "the state, once changed");

        let full = ReadCache::default();
        for slot in 0..ReadCache::MAX_SLOTS as u64 + 3 {
            full.insert(a, U256::from(slot), U256::from(1));
        }
        assert_eq!(full.len(), ReadCache::MAX_SLOTS);
        assert!(state.same_version(&state.clone()));
        let mut changed = state.clone();
        changed.set_account(&a, AccountState::default());
        assert!(!changed.same_version(&state));
    }
}
