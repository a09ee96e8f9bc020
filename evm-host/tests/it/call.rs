//! Calls on the head state read storage through a cache shared by the calls on that version of
//! the state; nothing that changes the state lets a call see a value from before.

use crate::utils::*;
use alloy_eips::BlockId;
use alloy_primitives::{B256, U256};
use alloy_rpc_types_eth::{TransactionRequest, state::AccountOverride};
use anh_evm_host::{Backend, backend::CallOverrides};

/// Runtime code that returns storage slot 0: PUSH0 SLOAD PUSH0 MSTORE PUSH1 32 PUSH0 RETURN.
const READER: [u8; 8] = [0x5f, 0x54, 0x5f, 0x52, 0x60, 0x20, 0x5f, 0xf3];

fn read_at(backend: &Backend, reader: alloy_primitives::Address, id: BlockId) -> U256 {
    let request = TransactionRequest::default().to(reader);
    let output = backend.call(&request, id).expect("the call succeeds").output;
    U256::from_be_slice(&output)
}

/// A value read by one call is served to the next from the cache; a dev edit, a new block, a
/// snapshot's revert each make the next call read the new state; a call with a state override
/// or at an older block reads its own state and leaves the head's cache as it was.
#[test]
fn calls_share_reads_of_the_head_state_and_never_see_a_stale_value() {
    let backend = backend();
    let reader = deploy(&backend, 0, 0, &READER);
    let latest = BlockId::latest();
    backend.set_storage_at(reader, U256::ZERO, U256::from(1)).unwrap();
    assert_eq!(read_at(&backend, reader, latest), U256::from(1));
    let cached = backend.cached_reads();
    assert!(cached >= 1, "the call's read is kept");
    assert_eq!(read_at(&backend, reader, latest), U256::from(1), "and served again");
    assert_eq!(backend.cached_reads(), cached, "from the cache: nothing new was read");
    assert_eq!(read_at(&backend, reader, BlockId::pending()), U256::from(1));

    backend.set_storage_at(reader, U256::ZERO, U256::from(2)).unwrap();
    assert_eq!(read_at(&backend, reader, latest), U256::from(2), "after a dev edit");

    let before = mine(&backend).header.number;
    backend.set_storage_at(reader, U256::ZERO, U256::from(3)).unwrap();
    mine(&backend);
    assert_eq!(read_at(&backend, reader, latest), U256::from(3), "after a new block");
    assert_eq!(read_at(&backend, reader, BlockId::number(before)), U256::from(2), "older block");
    assert_eq!(read_at(&backend, reader, latest), U256::from(3), "the head's cache is intact");

    let slot =
        AccountOverride::default().with_state_diff([(B256::ZERO, B256::from(U256::from(9)))]);
    let overrides =
        CallOverrides { state: Some([(reader, slot)].into_iter().collect()), block: None };
    let request = TransactionRequest::default().to(reader);
    let output = backend.call_with(&request, latest, &overrides).unwrap().output;
    assert_eq!(U256::from_be_slice(&output), U256::from(9), "an override is seen");
    assert_eq!(read_at(&backend, reader, latest), U256::from(3), "and never cached");

    let snapshot = backend.snapshot().unwrap();
    backend.set_storage_at(reader, U256::ZERO, U256::from(4)).unwrap();
    assert_eq!(read_at(&backend, reader, latest), U256::from(4));
    assert!(backend.revert(snapshot).unwrap());
    assert_eq!(read_at(&backend, reader, latest), U256::from(3), "after a revert");
}
