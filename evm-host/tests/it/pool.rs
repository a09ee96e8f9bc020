//! Pool validation: what the backend refuses, in geth's words, and that a refusal changes
//! nothing.

use crate::utils::*;
use alloy_consensus::{SignableTransaction, TxEip1559, TxEip4844, TxEnvelope};
use alloy_eips::BlockId;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use anh_evm_host::{
    Backend, HostResult,
    backend::{MAX_INITCODE_SIZE, MAX_TX_SIZE},
};
use tokio::sync::broadcast::error::TryRecvError;

/// anvil's first dev account, as geth prints addresses (EIP-55 checksum).
const DEV_0: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

/// What a refused transaction may not change.
#[derive(Debug, PartialEq, Eq)]
struct Observed {
    pool: (Vec<B256>, Vec<B256>),
    head: B256,
    state_root: B256,
    pending_nonce: u64,
    balance: U256,
}

fn observe(backend: &Backend) -> Observed {
    let sender = account(backend, 0);
    Observed {
        pool: pool_hashes(backend),
        head: backend.latest().hash,
        state_root: backend.state_at(BlockId::latest()).expect("latest").root(),
        pending_nonce: backend.pending_nonce(&sender),
        balance: balance(backend, &sender),
    }
}

/// The message `submit` refuses with, after checking that the refusal left the pool, the
/// head and the state as they were and announced nothing.
fn refusal(backend: &Backend, submit: impl FnOnce(&Backend) -> HostResult<B256>) -> String {
    let before = observe(backend);
    let mut announced = backend.subscribe_pending();
    let error = submit(backend).expect_err("the transaction is refused");
    assert_eq!(observe(backend), before, "a refusal changes nothing ({error})");
    assert_eq!(announced.try_recv(), Err(TryRecvError::Empty), "a refusal announces nothing");
    error.to_string()
}

fn refused(backend: &Backend, tx: TxEnvelope) -> String {
    refusal(backend, |b| b.submit(tx))
}

/// An accepted transaction is pooled as pending, announced, and counted in the pending
/// nonce; one after a nonce gap is queued and not ready.
#[test]
fn accepted_transactions_are_pending_or_queued() {
    let backend = backend();
    let (from, to) = (account(&backend, 0), account(&backend, 1));
    let mut announced = backend.subscribe_pending();
    let first = backend.submit(sign(&backend, 0, transfer(0, to, 1))).expect("pooled");
    assert_eq!(announced.try_recv(), Ok(first));
    let gapped = backend.submit(sign(&backend, 0, transfer(2, to, 1))).expect("pooled");
    assert_eq!(pool_hashes(&backend), (vec![first], vec![gapped]));
    assert_eq!(backend.pending_nonce(&from), 1, "the gap is not counted");
    assert!(backend.has_ready());
    assert!(backend.is_ready(&first));
    assert!(!backend.is_ready(&gapped));
    assert_eq!(backend.best_number(), 0, "pooling mines nothing");
}

/// A nonce the sender already used is refused as "nonce too low".
#[test]
fn nonce_too_low() {
    let backend = backend();
    let to = account(&backend, 1);
    backend.submit(sign(&backend, 0, transfer(0, to, 1))).expect("pooled");
    mine(&backend);
    let message = refused(&backend, sign(&backend, 0, transfer(0, to, 2)));
    assert_eq!(message, "nonce too low: next nonce 1, tx nonce 0");
}

/// A sender who cannot pay gas limit × fee cap + value is refused as "insufficient funds",
/// with geth's balance, cost and overshoot.
#[test]
fn insufficient_funds() {
    let backend = backend();
    let to = account(&backend, 1);
    // 10 000 ETH: the whole balance, so that the gas cannot be paid.
    let tx = TxEip1559 { value: U256::from(10u64).pow(U256::from(22)), ..transfer(0, to, 0) };
    assert_eq!(
        refused(&backend, sign(&backend, 0, tx)),
        "insufficient funds for gas * price + value: balance 10000000000000000000000, \
         tx cost 10000000210000000000000, overshot 210000000000000"
    );
    let nobody = PrivateKeySigner::from_bytes(&B256::repeat_byte(0x42)).expect("a key");
    assert_eq!(
        refused(&backend, sign_with(&nobody, transfer(0, to, 0))),
        "insufficient funds for gas * price + value: balance 0, tx cost 210000000000000, \
         overshot 210000000000000"
    );
}

/// A gas limit below the intrinsic 21 000 is refused as "intrinsic gas too low".
#[test]
fn intrinsic_gas_too_low() {
    let backend = backend();
    let tx = TxEip1559 { gas_limit: 20_999, ..transfer(0, account(&backend, 1), 1) };
    assert_eq!(
        refused(&backend, sign(&backend, 0, tx)),
        "intrinsic gas too low: gas 20999, minimum needed 21000"
    );
}

/// A fee cap below the next block's base fee is refused; one equal to it is accepted.
#[test]
fn fee_cap_below_base_fee() {
    let backend = backend();
    assert_eq!(backend.next_base_fee(), BLOCK_1_BASE_FEE);
    let to = account(&backend, 1);
    let cap = BLOCK_1_BASE_FEE as u128;
    let low =
        TxEip1559 { max_fee_per_gas: cap - 1, max_priority_fee_per_gas: 0, ..transfer(0, to, 1) };
    assert_eq!(
        refused(&backend, sign(&backend, 0, low)),
        format!(
            "max fee per gas less than block base fee: address {DEV_0}, maxFeePerGas: 999999999, \
             baseFee: 1000000000"
        )
    );
    let exact =
        TxEip1559 { max_fee_per_gas: cap, max_priority_fee_per_gas: 0, ..transfer(0, to, 1) };
    backend.submit(sign(&backend, 0, exact)).expect("a fee cap equal to the base fee is enough");
}

/// A transaction with the nonce of a pooled one replaces it only when it raises both the fee
/// cap and the tip by 10%; otherwise it is "replacement transaction underpriced". The very
/// same transaction again is "already known".
#[test]
fn replacement_underpriced() {
    let backend = backend();
    let to = account(&backend, 1);
    let original = sign(&backend, 0, transfer(0, to, 1));
    let hash = backend.submit(original.clone()).expect("pooled");
    assert_eq!(refused(&backend, original), "already known");
    let same_fees = sign(&backend, 0, transfer(0, to, 2));
    assert_eq!(refused(&backend, same_fees), "replacement transaction underpriced");
    let cap_only = TxEip1559 { max_fee_per_gas: FEE_CAP * 2, ..transfer(0, to, 2) };
    assert_eq!(
        refused(&backend, sign(&backend, 0, cap_only)),
        "replacement transaction underpriced"
    );
    let short = TxEip1559 {
        max_fee_per_gas: FEE_CAP * 110 / 100 - 1,
        max_priority_fee_per_gas: TIP * 110 / 100,
        ..transfer(0, to, 2)
    };
    assert_eq!(refused(&backend, sign(&backend, 0, short)), "replacement transaction underpriced");
    let bumped = TxEip1559 {
        max_fee_per_gas: FEE_CAP * 110 / 100,
        max_priority_fee_per_gas: TIP * 110 / 100,
        ..transfer(0, to, 2)
    };
    let replacement = backend.submit(sign(&backend, 0, bumped)).expect("a 10% bump replaces");
    assert_ne!(replacement, hash);
    assert_eq!(pool_hashes(&backend), (vec![replacement], vec![]));
}

/// An encoded transaction above 8 MiB is refused as "oversized data" before it is decoded.
#[test]
fn oversized() {
    let backend = backend();
    let raw = vec![0u8; MAX_TX_SIZE + 1];
    assert_eq!(
        refusal(&backend, |b| b.submit_raw(&raw)),
        "oversized data: transaction size 8388609, limit 8388608"
    );
}

/// The other rules: the chain id, the tip above the fee cap, the block gas limit, the
/// initcode limit, blob transactions (EIP-4844) and undecodable bytes, each refused in its own words.
#[test]
fn other_refusals() {
    let backend = backend();
    let to = account(&backend, 1);
    let wrong_chain = TxEip1559 { chain_id: 1, ..transfer(0, to, 1) };
    assert_eq!(
        refused(&backend, sign(&backend, 0, wrong_chain)),
        "invalid chain id for signer: have 1 want 31337"
    );
    let tip_above_cap = TxEip1559 { max_priority_fee_per_gas: FEE_CAP + 1, ..transfer(0, to, 1) };
    assert_eq!(
        refused(&backend, sign(&backend, 0, tip_above_cap)),
        format!(
            "max priority fee per gas higher than max fee per gas: address {DEV_0}, \
             maxPriorityFeePerGas: 10000000001, maxFeePerGas: 10000000000"
        )
    );
    let above_block = TxEip1559 { gas_limit: 30_000_001, ..transfer(0, to, 1) };
    assert_eq!(
        refused(&backend, sign(&backend, 0, above_block)),
        "exceeds block gas limit: gas 30000001, block gas limit 30000000"
    );
    let big_initcode = TxEip1559 {
        to: TxKind::Create,
        gas_limit: 29_000_000,
        input: Bytes::from(vec![0u8; MAX_INITCODE_SIZE + 1]),
        ..transfer(0, Address::ZERO, 0)
    };
    assert_eq!(
        refused(&backend, sign(&backend, 0, big_initcode)),
        "max initcode size exceeded: code size 49153, limit 49152"
    );
    let blob = TxEip4844 {
        chain_id: 31337,
        gas_limit: 21_000,
        max_fee_per_gas: FEE_CAP,
        max_priority_fee_per_gas: TIP,
        to,
        blob_versioned_hashes: vec![B256::repeat_byte(1)],
        max_fee_per_blob_gas: 1,
        ..Default::default()
    };
    let signer = &backend.dev_accounts()[0].signer;
    let signature = signer.sign_hash_sync(&blob.signature_hash()).expect("signs");
    assert_eq!(
        refused(&backend, TxEnvelope::from(blob.into_signed(signature))),
        "transaction type not supported: 3"
    );
    let garbage = refusal(&backend, |b| b.submit_raw(&[0xff, 0x00]));
    assert!(garbage.starts_with("failed to decode signed transaction: "), "{garbage}");
}
