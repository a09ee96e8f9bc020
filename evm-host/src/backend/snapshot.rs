//! Snapshots (`evm_snapshot`, `evm_revert`): the chain, pool, clock and pending dev edits
//! recorded, and brought back.

use super::{Backend, Clock};
use crate::{
    error::HostResult,
    state::{StateChanges, WorldState},
    txpool::TxPool,
};

#[derive(Debug)]
pub(super) struct Snapshot {
    pub(super) number: u64,
    state: WorldState,
    pool: TxPool,
    clock: Clock,
    pending_edits: StateChanges,
}

impl Backend {
    /// Records the current chain, pool and clock; returns the snapshot id (0, 1, 2, …).
    pub fn snapshot(&self) -> HostResult<u64> {
        self.require_dev("evm_snapshot")?;
        let _writer = self.writer.lock();
        let (number, state) = {
            let chain = self.chain.read();
            (chain.head().number(), chain.head_state.clone())
        };
        let snapshot = Snapshot {
            number,
            state,
            pool: self.pool.lock().clone(),
            clock: self.clock.lock().clone(),
            pending_edits: self.pending_edits.lock().clone(),
        };
        let mut snapshots = self.snapshots.lock();
        let id = snapshots.0;
        snapshots.0 += 1;
        snapshots.1.insert(id, snapshot);
        Ok(id)
    }

    /// Returns the chain to snapshot `id`, which is consumed together with every later
    /// snapshot. Returns `false` for an unknown id.
    pub fn revert(&self, id: u64) -> HostResult<bool> {
        self.require_dev("evm_revert")?;
        let _writer = self.writer.lock();
        let snapshot = {
            let mut snapshots = self.snapshots.lock();
            let Some(snapshot) = snapshots.1.remove(&id) else { return Ok(false) };
            snapshots.1.retain(|sid, _| *sid < id);
            snapshot
        };
        if let Some(store) = &self.store {
            store.truncate_above(snapshot.number)?;
        }
        let latest = {
            let mut chain = self.chain.write();
            chain.truncate(snapshot.number);
            chain.head_state = snapshot.state;
            chain.head().header.timestamp
        };
        *self.pool.lock() = snapshot.pool;
        // The snapshot's clock read at least its latest block then (see `Clock`), and reads
        // later now; lifting it covers one that `anvil_setTime` had set back.
        let mut clock = snapshot.clock;
        clock.catch_up(latest);
        *self.clock.lock() = clock;
        *self.pending_edits.lock() = snapshot.pending_edits;
        Ok(true)
    }
}
