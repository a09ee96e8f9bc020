//! The data directory: blocks, receipts and state diffs in an embedded redb database.
//!
//! Layout (file `chain.redb` in the data directory):
//!
//! | table    | key          | value                                                   |
//! |----------|--------------|---------------------------------------------------------|
//! | `meta`   | `"genesis"`  | the [`GenesisConfig`] as JSON                           |
//! | `blocks` | block number | header, transactions, senders, receipts (RLP)           |
//! | `diffs`  | block number | the block's [`StateChanges`] (RLP); genesis at 0        |
//!
//! A block and its diff are written in **one** write transaction with immediate durability,
//! so after a crash at any moment the store holds a prefix of the chain: every block whose
//! commit returned, none half-written. Opening replays the diffs in order to rebuild every
//! block's state, and checks the last state root against the last header.

use crate::{
    block::Block,
    error::{HostError, HostResult},
    genesis::GenesisConfig,
    state::StateChanges,
};
use redb::{Database, ReadableDatabase, TableDefinition};
use std::path::{Path, PathBuf};

const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");
const BLOCKS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("blocks");
const DIFFS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("diffs");

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "chain.redb";

/// The persistent chain store.
#[derive(Debug)]
pub struct Store {
    db: Database,
    path: PathBuf,
}

/// What a store holds when opened.
#[derive(Debug)]
pub struct StoredChain {
    /// The genesis configuration the chain was created with.
    pub genesis: GenesisConfig,
    /// Every block with its state diff, in order from genesis.
    pub blocks: Vec<(Block, StateChanges)>,
}

impl Store {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> HostResult<Self> {
        std::fs::create_dir_all(dir).map_err(|e| {
            HostError::Storage(format!("cannot create data directory {}: {e}", dir.display()))
        })?;
        let path = dir.join(DB_FILE);
        let db = Database::create(&path)?;
        let txn = db.begin_write()?;
        {
            txn.open_table(META)?;
            txn.open_table(BLOCKS)?;
            txn.open_table(DIFFS)?;
        }
        txn.commit()?;
        Ok(Self { db, path })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the whole chain, or `None` for a new store.
    pub fn load(&self) -> HostResult<Option<StoredChain>> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        let Some(genesis) = meta.get("genesis")? else { return Ok(None) };
        let genesis: GenesisConfig = serde_json::from_slice(genesis.value()).map_err(|e| {
            HostError::Storage(format!("corrupt genesis record in the data directory: {e}"))
        })?;
        let blocks = txn.open_table(BLOCKS)?;
        let diffs = txn.open_table(DIFFS)?;
        let mut out = Vec::new();
        for (expected, entry) in blocks.range(0u64..)?.enumerate() {
            let (number, bytes) = entry?;
            if number.value() != expected as u64 {
                return Err(HostError::Storage(format!(
                    "block {expected} is missing from the data directory (found {} next)",
                    number.value()
                )));
            }
            let block = Block::decode(bytes.value())?;
            let diff = diffs.get(number.value())?.ok_or_else(|| {
                HostError::Storage(format!("state diff of block {expected} is missing"))
            })?;
            let diff: StateChanges =
                alloy_rlp::Decodable::decode(&mut diff.value()).map_err(|e| {
                    HostError::Storage(format!("corrupt state diff of block {expected}: {e}"))
                })?;
            out.push((block, diff));
        }
        Ok(Some(StoredChain { genesis, blocks: out }))
    }

    /// Writes genesis: its configuration, block 0 and the genesis allocation, atomically.
    pub fn write_genesis(
        &self,
        genesis: &GenesisConfig,
        block: &Block,
        alloc: &StateChanges,
    ) -> HostResult<()> {
        let json = serde_json::to_vec(genesis).map_err(|e| HostError::Internal(e.to_string()))?;
        let txn = self.db.begin_write()?;
        {
            txn.open_table(META)?.insert("genesis", json.as_slice())?;
            txn.open_table(BLOCKS)?.insert(0, block.encode().as_slice())?;
            txn.open_table(DIFFS)?.insert(0, alloy_rlp::encode(alloc).as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Appends a block and its state diff, atomically and durably.
    pub fn write_block(&self, block: &Block, diff: &StateChanges) -> HostResult<()> {
        let txn = self.db.begin_write()?;
        {
            txn.open_table(BLOCKS)?.insert(block.number(), block.encode().as_slice())?;
            txn.open_table(DIFFS)?.insert(block.number(), alloy_rlp::encode(diff).as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Deletes every block above `number` (after a revert), atomically.
    pub fn truncate_above(&self, number: u64) -> HostResult<()> {
        let txn = self.db.begin_write()?;
        {
            let mut blocks = txn.open_table(BLOCKS)?;
            let mut diffs = txn.open_table(DIFFS)?;
            blocks.retain_in(number + 1.., |_, _| false)?;
            diffs.retain_in(number + 1.., |_, _| false)?;
        }
        txn.commit()?;
        Ok(())
    }
}
