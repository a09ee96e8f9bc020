//! Block timestamps: the clock that stamps blocks, which dev methods move and snapshots keep.

use std::time::{SystemTime, UNIX_EPOCH};

/// Block timestamps: wall-clock time plus an offset, strictly increasing.
///
/// The clock never reads earlier than the latest block it stamped. When a block has to be
/// stamped past the clock's reading — several blocks within one second are each one second
/// after their parent — the offset absorbs that lead, so that the clock reads the block's
/// timestamp at that moment and goes on from it. Otherwise the chain would run ahead of the
/// clock, and a later `evm_increaseTime(n)` would move it by only `n` minus the lead; with the
/// lead absorbed, the next block after `evm_increaseTime(n)` is at least `n` seconds after the
/// latest one, as on anvil (whose `TimeManager` bumps a block past its parent and adds time
/// increases to its offset). A snapshot keeps the clock together with the chain, and a revert
/// brings both back, lifting the clock to the reverted-to latest block should it read earlier.
/// The clock reads earlier than the latest block only after `anvil_setTime` to an earlier time,
/// or after a restart from a data directory whose chain had run ahead of wall time: the next
/// block is then one second after its parent, and `evm_increaseTime` counts from the later of
/// the clock and the latest block.
#[derive(Debug, Clone, Default)]
pub(super) struct Clock {
    offset: i64,
    pub(super) next: Option<u64>,
}

impl Clock {
    pub(super) fn now(&self) -> u64 {
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        wall.saturating_add_signed(self.offset)
    }

    /// The next block's timestamp, after `parent`'s; the clock reads at least it afterwards.
    /// A timestamp set with `evm_setNextBlockTimestamp` also moves the clock, so that later
    /// blocks go on from it (anvil and Hardhat do the same).
    pub(super) fn next_timestamp(&mut self, parent: u64) -> u64 {
        match self.next.take() {
            Some(next) => {
                let timestamp = next.max(parent.saturating_add(1));
                self.set(timestamp);
                timestamp
            }
            None => {
                let timestamp = self.now().max(parent.saturating_add(1));
                self.catch_up(timestamp);
                timestamp
            }
        }
    }

    /// Moves the clock forward by `seconds` from the later of its reading and `latest` (the
    /// latest block's timestamp); returns the offset it now has.
    pub(super) fn increase(&mut self, seconds: u64, latest: u64) -> i64 {
        self.catch_up(latest);
        self.offset = self.offset.saturating_add(i64::try_from(seconds).unwrap_or(i64::MAX));
        self.offset
    }

    /// Moves the clock forward, if it reads earlier, so that it reads `timestamp` now.
    pub(super) fn catch_up(&mut self, timestamp: u64) {
        if self.now() < timestamp {
            self.set(timestamp);
        }
    }

    /// Moves the clock so that it reads `timestamp` now; returns the offset it now has.
    pub(super) fn set(&mut self, timestamp: u64) -> i64 {
        let wall = self.now() as i128 - self.offset as i128;
        self.offset = (timestamp as i128 - wall).clamp(i64::MIN as i128, i64::MAX as i128) as i64;
        self.offset
    }
}

#[cfg(test)]
mod tests {
    use super::Clock;

    /// Blocks stamped past the clock (several within one second) move it with them, so that a
    /// time increase after them is whole.
    #[test]
    fn clock_absorbs_the_chains_lead() {
        let mut clock = Clock::default();
        let mut latest = clock.now();
        for _ in 0..10 {
            latest = clock.next_timestamp(latest);
        }
        assert!(clock.now() >= latest, "the clock reads {} behind block {latest}", clock.now());
        clock.increase(3600, latest);
        let next = clock.next_timestamp(latest);
        assert!((latest + 3600..=latest + 3602).contains(&next), "{next} after {latest}");
    }

    /// A time increase counts from the latest block when the clock was set before it.
    #[test]
    fn clock_increase_counts_from_the_latest_block() {
        let mut clock = Clock::default();
        let latest = clock.now() + 1000;
        clock.set(latest - 5000);
        assert_eq!(clock.next_timestamp(latest), latest + 1, "one second after the parent");
        let latest = latest + 1;
        clock.set(latest - 5000);
        clock.increase(60, latest);
        let next = clock.next_timestamp(latest);
        assert!((latest + 60..=latest + 62).contains(&next), "{next} after {latest}");
    }

    /// `evm_setNextBlockTimestamp`'s timestamp is taken as it is, and the clock goes on from
    /// it — also back from a time increase not yet mined.
    #[test]
    fn clock_next_timestamp_moves_the_clock() {
        let mut clock = Clock::default();
        let latest = clock.now() + 100;
        clock.next = Some(latest + 600);
        assert_eq!(clock.next_timestamp(latest), latest + 600);
        let latest = latest + 600;
        assert!((latest..=latest + 2).contains(&clock.now()));
        clock.increase(86_400, latest);
        clock.next = Some(latest + 10);
        assert_eq!(clock.next_timestamp(latest), latest + 10);
        let next = clock.next_timestamp(latest + 10);
        assert!((latest + 11..=latest + 13).contains(&next), "{next} after {}", latest + 10);
    }
}
