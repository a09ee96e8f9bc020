//! Snapshots on the backend: a revert brings back the state, the head and the pool.

use crate::utils::*;
use alloy_eips::BlockId;
use alloy_primitives::{Address, B256};
use anh_evm_host::{Backend, backend::LogLimits};

/// What a revert must bring back.
#[derive(Debug, PartialEq, Eq)]
struct Observed {
    number: u64,
    head: B256,
    state_root: B256,
    pool: (Vec<B256>, Vec<B256>),
    pending_nonce: u64,
}

fn observe(backend: &Backend) -> Observed {
    Observed {
        number: backend.best_number(),
        head: backend.latest().hash,
        state_root: backend.state_at(BlockId::latest()).unwrap().root(),
        pool: pool_hashes(backend),
        pending_nonce: backend.pending_nonce(&account(backend, 0)),
    }
}

/// After blocks, dev edits and pool changes, a revert to a snapshot brings back its head,
/// state and pool (a pending transaction that was mined meanwhile is pending again); the
/// snapshot is used up, and mining again builds on the reverted-to head.
#[test]
fn revert_restores_state_head_and_pool() {
    let backend = backend();
    let to = Address::repeat_byte(0x77);
    backend.submit(sign(&backend, 0, transfer(0, to, 1))).unwrap();
    let first = mine(&backend);
    let pending = backend.submit(sign(&backend, 0, transfer(1, to, 2))).unwrap();
    let queued = backend.submit(sign(&backend, 1, transfer(5, to, 3))).unwrap();
    let before = observe(&backend);
    assert_eq!(before.pool, (vec![pending], vec![queued]));

    let id = backend.snapshot().unwrap();
    let mined = mine(&backend);
    assert_eq!(mined.transactions[0].hash, pending);
    let later = backend.submit(sign(&backend, 0, transfer(2, to, 4))).unwrap();
    mine(&backend);
    backend.set_balance(to, alloy_primitives::U256::from(123)).unwrap();
    backend.submit(sign(&backend, 0, transfer(3, to, 5))).unwrap();
    assert_ne!(observe(&backend), before);

    assert!(backend.revert(id).unwrap());
    assert_eq!(observe(&backend), before);
    assert!(backend.block(2).is_none());
    assert!(backend.transaction(&later).is_none(), "a transaction of a reverted block is gone");
    assert!(!backend.revert(id).unwrap(), "the snapshot is used up");

    let again = mine(&backend);
    assert_eq!(again.header.parent_hash, first.hash);
    assert_eq!(again.transactions[0].hash, pending);
}

/// Reverting to a snapshot drops the later ones, and keeps the earlier ones.
#[test]
fn revert_drops_later_snapshots() {
    let backend = backend();
    let first = backend.snapshot().unwrap();
    mine(&backend);
    let second = backend.snapshot().unwrap();
    mine(&backend);
    let third = backend.snapshot().unwrap();
    assert!(backend.revert(second).unwrap());
    assert_eq!(backend.best_number(), 1);
    assert!(!backend.revert(third).unwrap());
    assert!(backend.revert(first).unwrap());
    assert_eq!(backend.best_number(), 0);
}

/// Reads that resolve a block number and then read that block's state (or a range of blocks)
/// do both under one lock: while another thread mines and reverts over and over, reads at a
/// number that is being reverted away answer "unknown block" or the state they resolved,
/// never a panic.
#[test]
fn reads_race_reverts_without_panicking() {
    use alloy_eips::BlockNumberOrTag;
    use alloy_rpc_types_eth::{Filter, TransactionRequest};
    let backend = backend();
    mine(&backend);
    let base = backend.snapshot().unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut base = base;
            for _ in 0..300 {
                for _ in 0..4 {
                    mine(&backend);
                }
                assert!(backend.revert(base).unwrap());
                base = backend.snapshot().unwrap();
            }
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let mut reads = 0u64;
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            for n in 1..=5u64 {
                let id = BlockId::Number(BlockNumberOrTag::Number(n));
                match backend.state_at(id) {
                    Ok(_) | Err(anh_evm_host::HostError::UnknownBlock) => {}
                    Err(e) => panic!("state_at({n}): {e}"),
                }
                let call = TransactionRequest::default().to(Address::ZERO);
                match backend.call(&call, id) {
                    Ok(_) | Err(anh_evm_host::HostError::UnknownBlock) => {}
                    Err(e) => panic!("call at {n}: {e}"),
                }
                let filter = Filter::new().from_block(0).to_block(BlockNumberOrTag::Latest);
                backend.logs(&filter, LogLimits::default()).expect("a range up to the head");
                reads += 1;
            }
        }
        writer.join().expect("the writer did not panic");
        assert!(reads > 0);
    });
}
