//! `eth_estimateGas` on the backend: a plain transfer costs exactly 21 000, and a contract
//! call's estimate is what the mined transaction needs, within geth's 1.5%.

use crate::utils::*;
use alloy_eips::BlockId;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_rpc_types_eth::{TransactionInput, TransactionRequest};
use anh_evm_host::{Backend, HostError};

fn request(from: Address, to: Address, input: Bytes) -> TransactionRequest {
    TransactionRequest {
        from: Some(from),
        to: Some(TxKind::Call(to)),
        input: TransactionInput::new(input),
        ..Default::default()
    }
}

/// Whether `request` succeeds as a call with `gas`.
fn succeeds_with(backend: &Backend, request: &TransactionRequest, gas: u64) -> bool {
    let request = TransactionRequest { gas: Some(gas), ..request.clone() };
    backend.call(&request, BlockId::latest()).is_ok()
}

/// A plain transfer — to an account without code, no calldata — is estimated at exactly
/// 21 000 (geth's and anvil's shortcut), with or without fees, and uses that much when mined.
#[test]
fn plain_transfer_is_exactly_21000() {
    let backend = backend();
    let (from, to) = (account(&backend, 0), account(&backend, 1));
    let plain =
        TransactionRequest { value: Some(U256::from(1)), ..request(from, to, Bytes::new()) };
    assert_eq!(backend.estimate_gas(&plain, BlockId::pending()).unwrap(), 21_000);
    let fresh = request(from, Address::repeat_byte(0x77), Bytes::new());
    assert_eq!(backend.estimate_gas(&fresh, BlockId::latest()).unwrap(), 21_000);
    let paying = TransactionRequest { max_fee_per_gas: Some(FEE_CAP), ..plain };
    assert_eq!(backend.estimate_gas(&paying, BlockId::pending()).unwrap(), 21_000);
    backend.submit(sign(&backend, 0, transfer(0, to, 1))).unwrap();
    assert_eq!(mine(&backend).transactions[0].gas_used, 21_000);
}

/// A call of a contract whose least gas is the gas it uses (no storage, no inner call): the
/// estimate lets the mined transaction succeed, and lies between the gas the receipt shows
/// and that plus geth's 1.5%.
#[test]
fn contract_call_estimate_matches_the_mined_gas() {
    let backend = backend();
    let from = account(&backend, 0);
    let logger = deploy(&backend, 0, 0, &LOGGER);
    let topic = Bytes::from(B256::repeat_byte(0xab).to_vec());
    let call = request(from, logger, topic.clone());
    let estimate = backend.estimate_gas(&call, BlockId::pending()).unwrap();
    backend.submit(sign(&backend, 0, call_tx(1, logger, topic, estimate))).unwrap();
    let block = mine(&backend);
    let mined = &block.transactions[0];
    assert!(mined.receipt.status(), "the transaction succeeds with the estimate");
    assert_eq!(mined.receipt.logs().len(), 1);
    let used = mined.gas_used;
    assert_eq!(backend.call(&call, BlockId::latest()).unwrap().gas_used, used);
    assert!(succeeds_with(&backend, &call, used), "the gas it uses is enough");
    assert!(!succeeds_with(&backend, &call, used - 1), "and the least that is");
    assert!(
        (used..=used * 1000 / 985).contains(&estimate),
        "estimate {estimate} for a call that uses {used}"
    );
}

/// A storage write needs more gas than it uses (SSTORE wants 2 300 left): the estimate still
/// lets the mined transaction succeed, and 1.5% less is not enough (the search stops within
/// 1.5% of the least gas that succeeds).
#[test]
fn storage_write_estimate_is_the_least_that_succeeds() {
    let backend = backend();
    let from = account(&backend, 0);
    let counter = deploy(&backend, 0, 0, &COUNTER);
    let call = request(from, counter, Bytes::new());
    let estimate = backend.estimate_gas(&call, BlockId::pending()).unwrap();
    assert!(succeeds_with(&backend, &call, estimate));
    assert!(!succeeds_with(&backend, &call, estimate * 985 / 1000), "estimate {estimate}");
    backend.submit(sign(&backend, 0, call_tx(1, counter, Bytes::new(), estimate))).unwrap();
    let block = mine(&backend);
    let mined = &block.transactions[0];
    assert!(mined.receipt.status(), "the transaction succeeds with the estimate");
    assert!(mined.gas_used <= estimate);
    let state = backend.state_at(BlockId::latest()).unwrap();
    assert_eq!(state.storage(&counter, U256::ZERO), U256::from(1));
}

/// A call that reverts whatever its gas is not estimated: the revert is the answer, and
/// nothing changes.
#[test]
fn reverting_call_is_not_estimated() {
    let backend = backend();
    let from = account(&backend, 0);
    let reverter = deploy(&backend, 0, 0, &REVERTER);
    let head = backend.latest().hash;
    let error = backend.estimate_gas(&request(from, reverter, Bytes::new()), BlockId::pending());
    assert!(matches!(error, Err(HostError::Reverted { reason: None, .. })), "{error:?}");
    assert_eq!(error.unwrap_err().to_string(), "execution reverted");
    assert_eq!(backend.latest().hash, head);
    assert_eq!(pool_hashes(&backend), (vec![], vec![]));
}
