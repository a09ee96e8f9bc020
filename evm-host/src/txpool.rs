//! The transaction pool: validated transactions waiting for a block.
//!
//! Transactions are kept per sender by nonce. Those whose nonces follow the sender's state
//! nonce without a gap are *pending* (ready for the next block); the others are *queued*
//! until the gap is filled. A transaction with the nonce of one already in the pool replaces
//! it only if it raises both the fee cap and the priority fee by at least
//! [`PRICE_BUMP_PERCENT`] (geth's rule); otherwise it is refused as underpriced.
//!
//! Block building takes the pending transactions ordered by the tip they pay at the block's
//! base fee (highest first, arrival order among equals), each sender's in nonce order.
//!
//! **Bounds** ([`PoolLimits`], geth's spirit, checked by [`TxPool::admit`] before a transaction
//! enters): at most `max_txs` transactions and `max_bytes` encoded bytes in all (a replacement
//! is always admitted), and at most `max_queued_per_sender` of one sender waiting behind a
//! nonce gap; queued transactions older than `queued_lifetime` are dropped
//! ([`TxPool::expire_queued`]).
//!
//! A transaction the builder **left out** of a block — it asked for a DNN job that the
//! committee could not settle provably (no quorum) — stays in the pool with the reason
//! ([`TxPool::exclusion`]) and is tried again on the next head, not on the same one; after
//! [`MAX_EXCLUSIONS`] tries it leaves the pool, and its reason is kept (the last
//! [`EVICTED_KEPT`] of them) for whoever asks about it.

use crate::error::InvalidTx;
use alloy_consensus::{Transaction, TxEnvelope};
use alloy_primitives::{Address, B256};
use std::{
    cmp::Reverse,
    collections::{BTreeMap, BinaryHeap, HashMap, VecDeque},
    sync::Arc,
};

/// Minimum fee increase, in percent, for a replacement transaction.
pub const PRICE_BUMP_PERCENT: u128 = 10;

/// How much the pool holds (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolLimits {
    /// Transactions in all (default 10 000).
    pub max_txs: usize,
    /// Encoded bytes in all (default 256 MiB).
    pub max_bytes: usize,
    /// Transactions of one sender waiting behind a nonce gap (default 64, geth's
    /// `AccountQueue`).
    pub max_queued_per_sender: usize,
    /// How long a transaction may wait behind a nonce gap (default 3 h, geth's `Lifetime`).
    pub queued_lifetime: std::time::Duration,
}

impl Default for PoolLimits {
    fn default() -> Self {
        Self {
            max_txs: 10_000,
            max_bytes: 256 << 20,
            max_queued_per_sender: 64,
            queued_lifetime: std::time::Duration::from_secs(3 * 3600),
        }
    }
}

/// Blocks a transaction may be left out of before it leaves the pool.
pub const MAX_EXCLUSIONS: u32 = 3;

/// Reasons kept for transactions that left the pool after [`MAX_EXCLUSIONS`].
pub const EVICTED_KEPT: usize = 1024;

/// Why a transaction was left out of blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exclusion {
    /// The last reason (e.g. `no quorum for job 0x…: 1 signature(s), 2 needed`).
    pub reason: String,
    /// Blocks it was left out of.
    pub attempts: u32,
    /// The head the last block was built on: the transaction waits for a later one.
    pub head: u64,
    /// Whether it left the pool ([`MAX_EXCLUSIONS`] reached).
    pub evicted: bool,
}

/// A validated transaction in the pool.
#[derive(Debug)]
pub struct PoolTx {
    /// The signed transaction.
    pub tx: TxEnvelope,
    /// Its hash.
    pub hash: B256,
    /// Its sender.
    pub sender: Address,
    /// Arrival order.
    pub seq: u64,
    /// Sent from an impersonated account: unsigned, the sender is as given.
    pub impersonated: bool,
    /// Its encoded size in bytes.
    pub size: usize,
    /// When it entered the pool.
    pub added: std::time::Instant,
}

impl PoolTx {
    /// The nonce.
    pub fn nonce(&self) -> u64 {
        self.tx.nonce()
    }

    /// The tip per gas this transaction pays at `base_fee` (0 if it cannot pay the base fee).
    pub fn effective_tip(&self, base_fee: u64) -> u128 {
        self.tx.effective_tip_per_gas(base_fee).unwrap_or(0)
    }
}

/// Result of adding a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// A new transaction.
    New,
    /// It replaced the transaction with this hash.
    Replaced(B256),
}

/// Pending and queued transactions.
#[derive(Debug, Default, Clone)]
pub struct TxPool {
    by_sender: HashMap<Address, BTreeMap<u64, Arc<PoolTx>>>,
    by_hash: HashMap<B256, Arc<PoolTx>>,
    /// Pool transactions left out of blocks.
    excluded: HashMap<B256, Exclusion>,
    /// Transactions that left the pool after [`MAX_EXCLUSIONS`], oldest first.
    evicted: VecDeque<(B256, Exclusion)>,
    /// Encoded bytes of the transactions.
    bytes: usize,
}

impl TxPool {
    /// Number of transactions.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// The transaction with `hash`.
    pub fn get(&self, hash: &B256) -> Option<&Arc<PoolTx>> {
        self.by_hash.get(hash)
    }

    /// Adds a validated transaction, applying the replacement rule.
    pub fn add(&mut self, tx: PoolTx) -> Result<Added, InvalidTx> {
        if self.by_hash.contains_key(&tx.hash) {
            return Err(InvalidTx::AlreadyKnown);
        }
        let nonce = tx.nonce();
        let queue = self.by_sender.entry(tx.sender).or_default();
        let mut outcome = Added::New;
        if let Some(old) = queue.get(&nonce) {
            if !is_sufficient_bump(&old.tx, &tx.tx) {
                return Err(InvalidTx::ReplacementUnderpriced);
            }
            outcome = Added::Replaced(old.hash);
            self.by_hash.remove(&old.hash);
            self.bytes -= old.size;
        }
        self.bytes += tx.size;
        // Sent again after it left the pool: its old reason is history.
        self.evicted.retain(|(hash, _)| *hash != tx.hash);
        let tx = Arc::new(tx);
        queue.insert(nonce, tx.clone());
        self.by_hash.insert(tx.hash, tx);
        Ok(outcome)
    }

    /// Whether `tx` may enter within `limits`, its sender's state nonce being `state_nonce`:
    /// a replacement always may; otherwise the pool must have room for one more transaction
    /// and its bytes, and a transaction that would wait behind a nonce gap needs room in its
    /// sender's queue.
    pub fn admit(
        &self,
        tx: &PoolTx,
        state_nonce: u64,
        limits: &PoolLimits,
    ) -> Result<(), InvalidTx> {
        let queue = self.by_sender.get(&tx.sender);
        if queue.is_some_and(|q| q.contains_key(&tx.nonce())) {
            return Ok(());
        }
        if self.len() >= limits.max_txs {
            return Err(InvalidTx::PoolFull(format!(
                "it holds {} transactions, its limit",
                self.len()
            )));
        }
        if self.bytes + tx.size > limits.max_bytes {
            return Err(InvalidTx::PoolFull(format!(
                "{} bytes of transactions, and this one's {} would pass its limit of {}",
                self.bytes, tx.size, limits.max_bytes
            )));
        }
        let next = self.next_nonce(&tx.sender, state_nonce);
        if tx.nonce() > next {
            let queued = queue.map_or(0, |q| q.range(next..).count());
            if queued >= limits.max_queued_per_sender {
                return Err(InvalidTx::QueueFull { queued, next });
            }
        }
        Ok(())
    }

    /// Drops the transactions that have waited behind a nonce gap (their sender's state
    /// nonce from `state_nonce`) for longer than `lifetime`; returns how many.
    pub fn expire_queued(
        &mut self,
        state_nonce: impl Fn(&Address) -> u64,
        lifetime: std::time::Duration,
    ) -> usize {
        let (_, queued) = self.split(state_nonce);
        let expired: Vec<B256> =
            queued.iter().filter(|t| t.added.elapsed() > lifetime).map(|t| t.hash).collect();
        for hash in &expired {
            self.remove(hash);
        }
        expired.len()
    }

    /// Encoded bytes of the transactions in the pool.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Removes the transaction with `hash`, if present.
    pub fn remove(&mut self, hash: &B256) -> Option<Arc<PoolTx>> {
        let tx = self.by_hash.remove(hash)?;
        self.excluded.remove(hash);
        self.bytes -= tx.size;
        if let Some(queue) = self.by_sender.get_mut(&tx.sender) {
            queue.remove(&tx.nonce());
            if queue.is_empty() {
                self.by_sender.remove(&tx.sender);
            }
        }
        Some(tx)
    }

    /// Drops every transaction of `sender` with a nonce below `next_nonce` (mined or
    /// superseded).
    pub fn prune_sender(&mut self, sender: &Address, next_nonce: u64) {
        let Some(queue) = self.by_sender.get_mut(sender) else { return };
        let keep = queue.split_off(&next_nonce);
        for tx in queue.values() {
            self.by_hash.remove(&tx.hash);
            self.excluded.remove(&tx.hash);
            self.bytes -= tx.size;
        }
        if keep.is_empty() {
            self.by_sender.remove(sender);
        } else {
            *queue = keep;
        }
    }

    /// The senders with transactions in the pool.
    pub fn senders(&self) -> impl Iterator<Item = &Address> {
        self.by_sender.keys()
    }

    /// The highest nonce in a gap-free run from `state_nonce` for `sender`, plus one: the
    /// nonce a new transaction of `sender` should use.
    pub fn next_nonce(&self, sender: &Address, state_nonce: u64) -> u64 {
        let mut next = state_nonce;
        if let Some(queue) = self.by_sender.get(sender) {
            for nonce in queue.range(state_nonce..).map(|(n, _)| *n) {
                if nonce != next {
                    break;
                }
                next += 1;
            }
        }
        next
    }

    /// Splits the pool into pending (gap-free from the state nonce) and queued transactions.
    pub fn split(
        &self,
        state_nonce: impl Fn(&Address) -> u64,
    ) -> (Vec<Arc<PoolTx>>, Vec<Arc<PoolTx>>) {
        let (mut pending, mut queued) = (Vec::new(), Vec::new());
        for (sender, queue) in &self.by_sender {
            let mut next = state_nonce(sender);
            for (nonce, tx) in queue {
                if *nonce == next {
                    pending.push(tx.clone());
                    next += 1;
                } else {
                    queued.push(tx.clone());
                }
            }
        }
        pending.sort_by_key(|t| t.seq);
        queued.sort_by_key(|t| t.seq);
        (pending, queued)
    }

    /// Notes that the pool transaction `hash` was left out of a block built on `head`
    /// because of `reason`. At the [`MAX_EXCLUSIONS`]th time it leaves the pool (with its
    /// sender's later transactions staying, queued behind the gap). `None` if it is not in
    /// the pool.
    pub fn exclude(&mut self, hash: B256, reason: String, head: u64) -> Option<Exclusion> {
        if !self.by_hash.contains_key(&hash) {
            return None;
        }
        let attempts = self.excluded.get(&hash).map_or(0, |e| e.attempts) + 1;
        let exclusion = Exclusion { reason, attempts, head, evicted: attempts >= MAX_EXCLUSIONS };
        if exclusion.evicted {
            self.remove(&hash);
            if self.evicted.len() >= EVICTED_KEPT {
                self.evicted.pop_front();
            }
            self.evicted.push_back((hash, exclusion.clone()));
        } else {
            self.excluded.insert(hash, exclusion.clone());
        }
        Some(exclusion)
    }

    /// Why `hash` was left out of blocks, if it was: while in the pool, or after it left it.
    pub fn exclusion(&self, hash: &B256) -> Option<&Exclusion> {
        self.excluded
            .get(hash)
            .or_else(|| self.evicted.iter().rev().find(|(h, _)| h == hash).map(|(_, e)| e))
    }

    /// The pending transactions in block order for a block on `head`: highest tip at
    /// `base_fee` first (arrival order among equals), each sender's in nonce order, up to a
    /// transaction that was left out of a block on this head already.
    pub fn best(
        &self,
        base_fee: u64,
        head: u64,
        state_nonce: impl Fn(&Address) -> u64,
    ) -> Vec<Arc<PoolTx>> {
        let mut runs: Vec<Vec<Arc<PoolTx>>> = Vec::new();
        for (sender, queue) in &self.by_sender {
            let mut next = state_nonce(sender);
            let run: Vec<_> = queue
                .range(next..)
                .take_while(|(nonce, tx)| {
                    let ok = **nonce == next
                        && self.excluded.get(&tx.hash).is_none_or(|e| e.head != head);
                    next += 1;
                    ok
                })
                .map(|(_, tx)| tx.clone())
                .collect();
            if !run.is_empty() {
                runs.push(run);
            }
        }
        let mut heads: BinaryHeap<(u128, Reverse<u64>, usize, usize)> = runs
            .iter()
            .enumerate()
            .map(|(i, run)| (run[0].effective_tip(base_fee), Reverse(run[0].seq), i, 0))
            .collect();
        let mut out = Vec::with_capacity(runs.iter().map(Vec::len).sum());
        while let Some((_, _, run, pos)) = heads.pop() {
            out.push(runs[run][pos].clone());
            if let Some(next) = runs[run].get(pos + 1) {
                heads.push((next.effective_tip(base_fee), Reverse(next.seq), run, pos + 1));
            }
        }
        out
    }

    /// All transactions, for snapshots and listings.
    pub fn all(&self) -> impl Iterator<Item = &Arc<PoolTx>> {
        self.by_hash.values()
    }
}

/// Whether `new` raises both the fee cap and the tip of `old` by [`PRICE_BUMP_PERCENT`].
fn is_sufficient_bump(old: &TxEnvelope, new: &TxEnvelope) -> bool {
    let bumped = |old: u128| old.saturating_mul(100 + PRICE_BUMP_PERCENT).div_ceil(100);
    let old_tip = old.max_priority_fee_per_gas().unwrap_or_else(|| old.max_fee_per_gas());
    let new_tip = new.max_priority_fee_per_gas().unwrap_or_else(|| new.max_fee_per_gas());
    new.max_fee_per_gas() >= bumped(old.max_fee_per_gas()) && new_tip >= bumped(old_tip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_consensus::{SignableTransaction, TxEip1559};
    use alloy_primitives::{Signature, TxKind, U256};

    fn tx(sender: u8, nonce: u64, fee: u128, tip: u128, seq: u64) -> PoolTx {
        let tx = TxEip1559 {
            chain_id: 1,
            nonce,
            gas_limit: 21_000,
            max_fee_per_gas: fee,
            max_priority_fee_per_gas: tip,
            to: TxKind::Call(Address::ZERO),
            value: U256::ZERO,
            access_list: Default::default(),
            input: Default::default(),
        };
        let signed = tx.into_signed(Signature::test_signature());
        let hash = *signed.hash();
        PoolTx {
            tx: signed.into(),
            hash,
            sender: Address::repeat_byte(sender),
            seq,
            impersonated: false,
            size: 100,
            added: std::time::Instant::now(),
        }
    }

    /// A nonce gap makes later transactions queued until the gap is filled.
    #[test]
    fn pending_and_queued() {
        let mut pool = TxPool::default();
        pool.add(tx(1, 0, 10, 1, 0)).unwrap();
        pool.add(tx(1, 2, 10, 1, 1)).unwrap();
        let (pending, queued) = pool.split(|_| 0);
        assert_eq!((pending.len(), queued.len()), (1, 1));
        assert_eq!(pool.next_nonce(&Address::repeat_byte(1), 0), 1);
        pool.add(tx(1, 1, 10, 1, 2)).unwrap();
        let (pending, queued) = pool.split(|_| 0);
        assert_eq!((pending.len(), queued.len()), (3, 0));
        assert_eq!(pool.next_nonce(&Address::repeat_byte(1), 0), 3);
    }

    /// Replacement needs a 10% bump of both fee cap and tip; the old one is gone after.
    #[test]
    fn replacement_rule() {
        let mut pool = TxPool::default();
        let old = tx(1, 0, 100, 10, 0);
        let old_hash = old.hash;
        pool.add(old).unwrap();
        assert_eq!(pool.add(tx(1, 0, 109, 11, 1)), Err(InvalidTx::ReplacementUnderpriced));
        assert_eq!(pool.add(tx(1, 0, 110, 10, 2)), Err(InvalidTx::ReplacementUnderpriced));
        assert_eq!(pool.add(tx(1, 0, 110, 11, 3)), Ok(Added::Replaced(old_hash)));
        assert!(pool.get(&old_hash).is_none());
        assert_eq!(pool.len(), 1);
        let again = tx(1, 0, 110, 11, 4);
        assert_eq!(pool.add(again), Err(InvalidTx::AlreadyKnown));
    }

    /// Block order: higher tips first, nonce order within a sender, gaps excluded.
    #[test]
    fn best_order() {
        let mut pool = TxPool::default();
        pool.add(tx(1, 0, 100, 1, 0)).unwrap();
        pool.add(tx(1, 1, 100, 50, 1)).unwrap();
        pool.add(tx(2, 0, 100, 5, 2)).unwrap();
        pool.add(tx(3, 5, 100, 99, 3)).unwrap(); // gap: state nonce 0
        let best = pool.best(0, 0, |_| 0);
        let order: Vec<_> = best.iter().map(|t| (t.sender.0[0], t.nonce())).collect();
        assert_eq!(order, vec![(2, 0), (1, 0), (1, 1)]);
    }

    /// Admission: the count, the bytes and a sender's queue behind a nonce gap are bounded, a
    /// replacement is always admitted, and queued transactions expire.
    #[test]
    fn limits() {
        let limits = PoolLimits {
            max_txs: 4,
            max_bytes: 1_000,
            max_queued_per_sender: 2,
            queued_lifetime: std::time::Duration::from_secs(3600),
        };
        let mut pool = TxPool::default();
        pool.add(tx(1, 0, 100, 1, 0)).unwrap();
        // Behind the gap at nonce 1: two may wait, the third may not.
        for (nonce, seq) in [(2, 1), (3, 2)] {
            let queued = tx(1, nonce, 100, 1, seq);
            pool.admit(&queued, 0, &limits).unwrap();
            pool.add(queued).unwrap();
        }
        assert_eq!(
            pool.admit(&tx(1, 4, 100, 1, 3), 0, &limits),
            Err(InvalidTx::QueueFull { queued: 2, next: 1 })
        );
        // The missing nonce is no gap: admitted, and then the pool is full.
        let gap = tx(1, 1, 100, 1, 4);
        pool.admit(&gap, 0, &limits).unwrap();
        pool.add(gap).unwrap();
        let e = pool.admit(&tx(2, 0, 100, 1, 5), 0, &limits).unwrap_err();
        assert_eq!(e.to_string(), "txpool is full: it holds 4 transactions, its limit");
        // A replacement enters a full pool.
        assert_eq!(pool.admit(&tx(1, 0, 200, 2, 6), 0, &limits), Ok(()));
        // Bytes.
        let mut pool = TxPool::default();
        let big = PoolTx { size: 999, ..tx(3, 0, 100, 1, 7) };
        pool.add(big).unwrap();
        let e = pool.admit(&tx(4, 0, 100, 1, 8), 0, &limits).unwrap_err();
        assert!(e.to_string().contains("would pass its limit of 1000"), "{e}");
        assert_eq!(pool.bytes(), 999);
        pool.prune_sender(&Address::repeat_byte(3), 1);
        assert_eq!(pool.bytes(), 0);
        // Expiry takes queued transactions only.
        let mut pool = TxPool::default();
        pool.add(tx(5, 0, 100, 1, 9)).unwrap();
        pool.add(tx(5, 5, 100, 1, 10)).unwrap();
        assert_eq!(pool.expire_queued(|_| 0, std::time::Duration::from_secs(3600)), 0);
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert_eq!(pool.expire_queued(|_| 0, std::time::Duration::from_millis(1)), 1);
        assert_eq!(pool.len(), 1, "the pending one stays");
    }

    /// A transaction left out of a block waits for the next head (its sender's later ones
    /// with it), keeps its reason, and leaves the pool at the third time, its reason kept.
    #[test]
    fn exclusions() {
        let mut pool = TxPool::default();
        let first = tx(1, 0, 100, 1, 0);
        let hash = first.hash;
        pool.add(first).unwrap();
        pool.add(tx(1, 1, 100, 1, 1)).unwrap();
        pool.add(tx(2, 0, 101, 1, 2)).unwrap();
        assert_eq!(pool.exclude(B256::ZERO, "x".into(), 5), None, "not in the pool");
        let e = pool.exclude(hash, "no quorum".into(), 5).unwrap();
        assert_eq!((e.attempts, e.evicted), (1, false));
        let senders =
            |best: Vec<Arc<PoolTx>>| best.iter().map(|t| t.sender.0[0]).collect::<Vec<_>>();
        assert_eq!(senders(pool.best(0, 5, |_| 0)), vec![2], "not again on head 5");
        assert_eq!(senders(pool.best(0, 6, |_| 0)), vec![1, 1, 2], "again on head 6");
        assert_eq!(pool.exclusion(&hash).unwrap().reason, "no quorum");
        pool.exclude(hash, "no quorum".into(), 6).unwrap();
        let e = pool.exclude(hash, "no quorum, third".into(), 7).unwrap();
        assert_eq!((e.attempts, e.evicted), (3, true));
        assert!(pool.get(&hash).is_none(), "left the pool");
        assert_eq!(pool.len(), 2);
        assert_eq!(pool.exclusion(&hash), Some(&e), "its reason is kept");
        assert_eq!(
            senders(pool.best(0, 8, |_| 0)),
            vec![2],
            "the later nonce waits behind the gap"
        );
    }

    /// Pruning drops mined nonces and keeps later ones.
    #[test]
    fn prune() {
        let mut pool = TxPool::default();
        for n in 0..4 {
            pool.add(tx(1, n, 10, 1, n)).unwrap();
        }
        pool.prune_sender(&Address::repeat_byte(1), 2);
        assert_eq!(pool.len(), 2);
        assert_eq!(pool.next_nonce(&Address::repeat_byte(1), 2), 4);
    }
}
