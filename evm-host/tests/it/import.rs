//! Import on the backend: a block from another backend with the same genesis is accepted
//! when it replays to every header field it claims, and refused, saying which, when not.

use crate::utils::*;
use alloy_eips::BlockId;
use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_rpc_types_eth::{Filter, TransactionRequest};
use anh_evm_host::{
    Backend, Block, EvmConfig, GenesisConfig, NodeConfig, TxLocation,
    backend::{ImportError, LogLimits},
};
use std::sync::Arc;

/// Two blocks from a producer: transfers and a deployment, then a call that logs (so that
/// receipts and the logs bloom are not empty).
fn produce() -> (Arc<Backend>, Vec<Block>) {
    let producer = backend();
    let to = account(&producer, 1);
    producer.submit(sign(&producer, 1, transfer(0, to, 5))).unwrap();
    let logger = deploy(&producer, 0, 0, &LOGGER);
    let topic = Bytes::from(B256::repeat_byte(0xab).to_vec());
    producer.submit(sign(&producer, 0, call_tx(1, logger, topic, 100_000))).unwrap();
    producer.submit(sign(&producer, 2, transfer(0, to, 7))).unwrap();
    mine(&producer);
    let blocks = (1..=2).map(|n| (*producer.block(n).unwrap()).clone()).collect();
    (producer, blocks)
}

/// Honest blocks import: the importer ends at the producer's head with its state, and finds
/// the transactions and logs where the producer has them.
#[test]
fn honest_blocks_import() {
    let (producer, blocks) = produce();
    assert_eq!(blocks[0].transactions.len(), 2);
    assert_eq!(blocks[1].transactions.len(), 2);
    let importer = backend();
    for block in &blocks {
        let imported = importer.import_block(block.clone()).expect("an honest block imports");
        assert_eq!(imported.hash, block.hash);
    }
    assert_eq!(importer.latest().hash, producer.latest().hash);
    let root = |b: &Backend| b.state_at(BlockId::latest()).unwrap().root();
    assert_eq!(root(&importer), root(&producer));
    for mined in &blocks[1].transactions {
        assert!(
            matches!(importer.transaction(&mined.hash), Some(TxLocation::Mined(b, _)) if b.number() == 2)
        );
    }
    let filter = Filter::new().from_block(0).to_block(2);
    let logs = importer.logs(&filter, LogLimits::default()).unwrap();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs, producer.logs(&filter, LogLimits::default()).unwrap());
}

/// Each tampered header field is refused with its own reason, before anything is committed:
/// the importer stays at genesis and then still takes the honest block.
#[test]
fn tampered_blocks_are_refused() {
    let (_, blocks) = produce();
    let honest = &blocks[0];
    let importer = backend();
    let genesis = importer.latest();
    let header = &honest.header;
    let refused = |reason: String| Err(ImportError::Refused { number: 1, reason });
    let resealed = |tamper: &dyn Fn(&mut Block)| {
        let mut block = honest.clone();
        tamper(&mut block);
        block.hash = block.header.hash_slow();
        block
    };
    let forged = B256::repeat_byte(0x11);

    let cases: Vec<(&str, Block, Result<(), ImportError>)> = vec![
        (
            "state root",
            resealed(&|b| b.header.state_root = forged),
            refused(format!(
                "state root mismatch: computed {}, the block says {forged}",
                header.state_root
            )),
        ),
        (
            "receipts root",
            resealed(&|b| b.header.receipts_root = forged),
            refused(format!(
                "receipts root mismatch: computed {}, the block says {forged}",
                header.receipts_root
            )),
        ),
        (
            "gas used",
            resealed(&|b| b.header.gas_used += 1),
            refused(format!(
                "gas used mismatch: computed {}, the block says {}",
                header.gas_used,
                header.gas_used + 1
            )),
        ),
        (
            "parent hash",
            resealed(&|b| b.header.parent_hash = forged),
            refused(format!(
                "it does not extend the head (block 0 {}): parent {forged}",
                genesis.hash
            )),
        ),
        (
            "base fee",
            resealed(&|b| b.header.base_fee_per_gas = Some(BLOCK_1_BASE_FEE + 1)),
            refused(format!(
                "base fee Some({}), expected {BLOCK_1_BASE_FEE}",
                BLOCK_1_BASE_FEE + 1
            )),
        ),
        (
            "block hash",
            Block { hash: forged, ..honest.clone() },
            refused("its hash is not keccak256(rlp(header))".into()),
        ),
        (
            "transactions root",
            resealed(&|b| b.header.transactions_root = forged),
            refused(format!(
                "transactions root mismatch: computed {}, the block says {forged}",
                header.transactions_root
            )),
        ),
        (
            "timestamp",
            resealed(&|b| b.header.timestamp = genesis.header.timestamp),
            refused(format!(
                "timestamp {0} is not after the parent's {0}",
                genesis.header.timestamp
            )),
        ),
        (
            "gas limit",
            resealed(&|b| b.header.gas_limit += 1),
            refused(format!(
                "gas limit {}, expected the parent's {}",
                header.gas_limit + 1,
                header.gas_limit
            )),
        ),
        (
            "extra data",
            resealed(&|b| b.header.extra_data = Bytes::from_static(b"forged")),
            refused(format!(
                "jobs root (extraData) mismatch: computed {}, the block says 0x666f72676564",
                header.extra_data
            )),
        ),
        (
            "logs bloom",
            resealed(&|b| b.header.logs_bloom = alloy_primitives::Bloom::repeat_byte(1)),
            refused(format!(
                "logs bloom mismatch: computed {}, the block says {}",
                header.logs_bloom,
                alloy_primitives::Bloom::repeat_byte(1)
            )),
        ),
    ];
    for (what, block, expected) in cases {
        assert_eq!(importer.import_block(block).map(|_| ()), expected, "{what}");
        assert_eq!(importer.latest().hash, genesis.hash, "{what}: nothing committed");
    }
    // Another beneficiary is the producer's to name, but then the fees it claims went
    // elsewhere: the block no longer replays to its state root.
    let paid_elsewhere = resealed(&|b| b.header.beneficiary = Address::repeat_byte(0x77));
    let result = importer.import_block(paid_elsewhere);
    let Err(ImportError::Refused { number: 1, reason }) = result else { panic!("{result:?}") };
    assert!(reason.starts_with("state root mismatch: computed "), "{reason}");
    assert_eq!(importer.latest().hash, genesis.hash);
    // A transaction left out: the block no longer replays to its state root.
    let mut short = honest.clone();
    short.transactions.pop();
    let result = importer.import_block(short);
    let Err(ImportError::Refused { number: 1, reason }) = result else { panic!("{result:?}") };
    assert!(reason.starts_with("state root mismatch: computed "), "{reason}");
    assert!(reason.ends_with(&format!(", the block says {}", header.state_root)), "{reason}");
    assert_eq!(importer.latest().hash, genesis.hash);
    let imported = importer.import_block(honest.clone()).expect("the honest block still imports");
    assert_eq!(imported.hash, honest.hash);
}

/// A block two ahead of the importer's head does not extend it.
#[test]
fn blocks_out_of_order_are_refused() {
    let (_, blocks) = produce();
    let importer = backend();
    let result = importer.import_block(blocks[1].clone());
    let Err(ImportError::Refused { number: 2, reason }) = result else { panic!("{result:?}") };
    assert!(reason.starts_with("it does not extend the head (block 0 "), "{reason}");
}

/// Dev methods' effects replay: a balance set by hand and a transaction from an impersonated
/// account without a key are recorded in the block, and the importer reproduces it.
#[test]
fn dev_edits_and_impersonation_replay() {
    let producer = backend();
    let keyless = Address::repeat_byte(0x99);
    producer.set_balance(keyless, U256::from(10u64).pow(U256::from(18))).unwrap();
    producer.impersonate(keyless).unwrap();
    let request =
        TransactionRequest::default().from(keyless).to(account(&producer, 0)).value(U256::from(1));
    producer.send_transaction(request).expect("an impersonated account sends");
    let block = mine(&producer);
    assert_eq!(block.transactions.len(), 1);
    assert_eq!(block.dev.impersonated, vec![0]);
    assert!(!block.dev.edits.accounts.is_empty());
    let importer = backend();
    assert_eq!(importer.import_block((*block).clone()).unwrap().hash, block.hash);
    assert_eq!(balance(&importer, &keyless), balance(&producer, &keyless));
}

/// A non-dev chain (`"dev": false`) has no dev methods, and its importer refuses a block
/// with a dev record — here one a dev-chain producer with the same genesis made with
/// `setBalance` — before committing anything, naming the dev record; a block without one
/// imports.
#[test]
fn non_dev_chain_refuses_dev_records() {
    let producer = backend_with(false);
    let importer = backend_with(false);
    assert!(!importer.is_dev());
    let keyless = Address::repeat_byte(0x99);
    let disabled = importer.set_balance(keyless, U256::from(1)).unwrap_err();
    assert_eq!(
        disabled.to_string(),
        "anvil_setBalance is disabled on this chain: its chain spec says \"dev\": false (dev \
         methods that change state, time, fees or senders would not be consensus)"
    );
    assert_eq!(balance(&importer, &keyless), U256::ZERO);

    // A non-dev producer makes no dev record; one forged onto its honest block is refused.
    let to = account(&producer, 1);
    producer.submit(sign(&producer, 0, transfer(0, to, 1))).unwrap();
    let honest = mine(&producer);
    assert!(honest.dev.is_empty());
    let mut edited = (*honest).clone();
    edited.dev.impersonated.push(0);
    let genesis = importer.latest();
    assert_eq!(
        importer.import_block(edited).unwrap_err(),
        ImportError::Refused {
            number: 1,
            reason: "it carries a dev record (state edits, impersonated senders or a base-fee \
                     override), but this chain's spec says \"dev\": false"
                .into(),
        }
    );
    assert_eq!(importer.latest().hash, genesis.hash, "nothing was committed");

    assert_eq!(importer.import_block((*honest).clone()).unwrap().hash, honest.hash);

    // Block 0 commits to the dev flag: a dev chain's blocks do not extend a non-dev chain.
    let (dev_producer, blocks) = produce();
    assert_ne!(dev_producer.block(0).unwrap().hash, genesis.hash, "the dev flag changes block 0");
    assert!(matches!(
        backend_with(false).import_block(blocks[0].clone()),
        Err(ImportError::Refused { reason, .. }) if reason.starts_with("it does not extend the head")
    ));
}

/// prevrandao is not the producer's to choose: a block whose `mixHash` is not
/// `keccak256(number)` is refused, naming prevrandao, before anything is committed, and the
/// honest block still imports afterwards.
#[test]
fn forged_prevrandao_is_refused() {
    let (_, blocks) = produce();
    let honest = &blocks[0];
    let importer = backend();
    let genesis = importer.latest();
    let expected = alloy_primitives::keccak256(1u64.to_be_bytes());
    assert_eq!(honest.header.mix_hash, expected, "the producer sets prevrandao(1)");
    let forged = B256::repeat_byte(0x22);
    let mut block = honest.clone();
    block.header.mix_hash = forged;
    block.hash = block.header.hash_slow();
    assert_eq!(
        importer.import_block(block).map(|_| ()),
        Err(ImportError::Refused {
            number: 1,
            reason: format!(
                "prevrandao (mixHash) {forged}, expected {expected} (keccak256 of the 8-byte \
                 big-endian block number)"
            ),
        })
    );
    assert_eq!(importer.latest().hash, genesis.hash, "nothing committed");
    let imported = importer.import_block(honest.clone()).expect("the honest block still imports");
    assert_eq!(imported.hash, honest.hash);
}

/// A dev chain's data directory does not open as a non-dev chain (the dev flag is a genesis
/// parameter), and a non-dev genesis needs a committee with a majority threshold.
#[test]
fn non_dev_chain_refuses_dev_history_and_minority_committees() {
    let dir = tempfile::tempdir().unwrap();
    {
        let producer = open_backend(genesis(), true, Some(dir.path())).unwrap();
        producer.set_balance(Address::repeat_byte(0x99), U256::from(1)).unwrap();
        mine(&producer);
    }
    let error = open_backend(genesis(), false, Some(dir.path())).unwrap_err();
    assert_eq!(
        error.to_string(),
        "configuration: the data directory holds a chain created with other genesis parameters \
         (chain id 31337, 4 accounts); start with the same flags or another --data-dir"
    );
    assert!(open_backend(genesis(), true, Some(dir.path())).is_ok(), "as a dev chain it resumes");

    let mut minority = genesis();
    if let Some(committee) = &mut minority.committee {
        committee.members.push(Address::repeat_byte(0xc1));
    }
    assert!(open_backend(minority.clone(), true, None).is_ok(), "1 of 2 is fine on a dev chain");
    let error = open_backend(minority, false, None).unwrap_err();
    assert_eq!(
        error.to_string(),
        "configuration: invalid executor committee: a non-dev chain (\"dev\": false) needs a \
         majority threshold: a committee of 2 needs a threshold above 1, not 1"
    );
}

/// On a non-dev chain a block dated more than `MAX_FUTURE_SECS` ahead of the importer's clock
/// is refused, naming the timestamp, and nothing is committed; the honest block then imports.
#[test]
fn non_dev_chain_refuses_blocks_from_the_future() {
    let producer = backend_with(false);
    let to = account(&producer, 2);
    producer.submit(sign(&producer, 1, transfer(0, to, 1))).unwrap();
    let honest = (*mine(&producer)).clone();
    let importer = backend_with(false);
    let genesis = importer.latest();
    let future =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
            + 3_600;
    let mut block = honest.clone();
    block.header.timestamp = future;
    block.hash = block.header.hash_slow();
    let result = importer.import_block(block);
    let Err(ImportError::Refused { number: 1, reason }) = result else { panic!("{result:?}") };
    let prefix = format!(
        "timestamp {future} is more than {} s ahead of this node's clock (",
        anh_evm_host::backend::MAX_FUTURE_SECS
    );
    assert!(reason.starts_with(&prefix), "{reason}");
    assert_eq!(importer.latest().hash, genesis.hash, "nothing committed");
    importer.import_block(honest).expect("the honest block imports");
}

/// The DNN parameters are chain configuration: another tensor limit or another gas schedule
/// makes another block 0, on dev and non-dev chains alike, so a follower that pins block 0
/// pins them too; with the defaults a dev chain's block 0 commits to the committee alone, as
/// it always did.
#[test]
fn dnn_parameters_are_part_of_block_0() {
    let block0 = |genesis, dev| open_backend(genesis, dev, None).unwrap().block(0).unwrap();
    let base = block0(genesis(), true);
    let committee = genesis().committee.unwrap();
    assert_eq!(base.header.extra_data, Bytes::from(committee.hash().to_vec()));
    let mut bigger = genesis();
    bigger.dnn.max_tensor_elements *= 2;
    let mut pricier = genesis();
    pricier.dnn.gas.gas_per_mmac += 1;
    let mut hashes = vec![base.hash];
    for dev in [true, false] {
        for genesis in [bigger.clone(), pricier.clone()] {
            hashes.push(block0(genesis, dev).hash);
        }
    }
    hashes.push(block0(genesis(), false).hash);
    let distinct: std::collections::HashSet<_> = hashes.iter().collect();
    assert_eq!(distinct.len(), hashes.len(), "every parameter set has its own block 0");
}

/// A chain without DNN precompiles has nothing to check job records with: a block carrying
/// them is refused, however its header commits to them, and nothing is committed.
#[test]
fn a_chain_without_dnn_refuses_job_records() {
    let plain = || {
        let genesis = GenesisConfig { committee: None, ..genesis() };
        let evm = EvmConfig::without_dnn(genesis.chain_id);
        Backend::new(NodeConfig { genesis, ..Default::default() }, evm).unwrap()
    };
    let producer = plain();
    let to = account(&producer, 1);
    producer.submit(sign(&producer, 0, transfer(0, to, 5))).unwrap();
    mine(&producer);
    let honest = (*producer.block(1).unwrap()).clone();
    let mut block = honest.clone();
    let record = anh_primitives::JobRecord {
        job: B256::repeat_byte(1),
        kind: 1,
        model: B256::repeat_byte(2),
        rule: anh_primitives::Rule::EXACT,
        output: Bytes::from_static(b"forged"),
        signatures: Vec::new(),
        failure: Bytes::new(),
    };
    let attestation = anh_primitives::BlockAttestation::unsigned(std::slice::from_ref(&record));
    block.jobs = vec![record];
    block.attestation = attestation;
    block.header.extra_data =
        anh_evm_host::block::extra_data(&block.jobs, &block.attestation, &block.dev);
    block.hash = block.header.hash_slow();
    let importer = plain();
    let genesis_hash = importer.latest().hash;
    assert_eq!(
        importer.import_block(block).map(|_| ()),
        Err(ImportError::Refused {
            number: 1,
            reason: "it carries job records, but this chain has no DNN precompiles to replay them"
                .into()
        })
    );
    assert_eq!(importer.latest().hash, genesis_hash, "nothing committed");
    importer.import_block(honest).expect("the block without records imports");
}

/// What the pool refuses a block may not carry, and the cheap bounds come before any sender is
/// recovered: more transactions than the gas limit pays the intrinsic gas of, a blob
/// (EIP-4844) transaction, one over `MAX_TX_SIZE` encoded. Each is refused naming it, and
/// nothing is committed.
#[test]
fn a_block_the_pool_would_refuse_is_refused_before_any_recovery() {
    use alloy_consensus::{Signed, TxEip4844, TxEip4844Variant, TxEnvelope};
    use alloy_primitives::Signature;
    let producer = backend();
    let to = account(&producer, 1);
    producer.submit(sign(&producer, 0, transfer(0, to, 5))).unwrap();
    mine(&producer);
    let honest = (*producer.block(1).unwrap()).clone();
    let importer = backend();
    let genesis_hash = importer.latest().hash;
    let refused = |transactions: Vec<anh_evm_host::block::MinedTx>| {
        let block = Block { transactions, ..honest.clone() };
        match importer.import_block(block) {
            Err(ImportError::Refused { number: 1, reason }) => reason,
            other => panic!("not refused: {other:?}"),
        }
    };

    let limit = honest.header.gas_limit;
    let count = limit / 21_000 + 1;
    assert_eq!(
        refused(vec![honest.transactions[0].clone(); count as usize]),
        format!(
            "its {count} transactions need at least {} gas (21000 each), over its gas limit \
             {limit}",
            count * 21_000
        )
    );

    let blob = TxEip4844 {
        chain_id: 31337,
        gas_limit: 21_000,
        max_fee_per_gas: 10_000_000_000,
        max_fee_per_blob_gas: 1,
        to,
        blob_versioned_hashes: vec![B256::repeat_byte(1)],
        ..Default::default()
    };
    let signature = Signature::new(U256::from(1), U256::from(1), false);
    let blob = TxEnvelope::Eip4844(Signed::new_unchecked(
        TxEip4844Variant::TxEip4844(blob),
        signature,
        B256::repeat_byte(2),
    ));
    let mined = anh_evm_host::block::MinedTx { tx: blob, ..honest.transactions[0].clone() };
    assert_eq!(
        refused(vec![mined]),
        "transaction 0 is a blob (EIP-4844) transaction, which this chain does not take"
    );

    let limit = anh_evm_host::backend::MAX_TX_SIZE;
    let huge = sign(&producer, 0, call_tx(0, to, vec![1u8; limit].into(), 30_000_000));
    // The pool takes no such transaction either, signed (as `eth_sendTransaction` hands it
    // over) or raw.
    let error = producer.submit(huge.clone()).unwrap_err().to_string();
    assert!(error.starts_with("oversized data: transaction size "), "{error}");
    let mined = anh_evm_host::block::MinedTx { tx: huge, ..honest.transactions[0].clone() };
    let reason = refused(vec![mined]);
    assert!(
        reason.starts_with("transaction 0 is ")
            && reason.ends_with(&format!(" bytes encoded, over the {limit}-byte limit")),
        "{reason}"
    );

    assert_eq!(importer.latest().hash, genesis_hash, "nothing committed");
    importer.import_block(honest).expect("the honest block imports");
}

/// A stored or relayed block whose receipts' cumulative gas goes down does not decode (it was
/// an underflow, a panic in a debug build), and says why.
#[test]
fn receipts_whose_cumulative_gas_goes_down_do_not_decode() {
    let (_, blocks) = produce();
    let mut block = blocks[0].clone();
    assert_eq!(block.transactions.len(), 2);
    let (first, second) =
        (block.transactions[0].receipt.clone(), block.transactions[1].receipt.clone());
    block.transactions[0].receipt = second;
    block.transactions[1].receipt = first;
    let error = Block::decode(&block.encode()).map(|_| ()).unwrap_err().to_string();
    assert!(error.contains("a receipt's cumulative gas"), "{error}");
    assert!(error.contains("is below the one before it"), "{error}");
    assert!(Block::decode(&blocks[0].encode()).is_ok(), "the block as mined decodes");
}
