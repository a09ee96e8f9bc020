//! Build/Replay differential property test: random, seeded sequences of chain activity are
//! built by one producer node and replayed by a follower, which must reach the same block hash
//! and state root at every block.
//!
//! Each case starts a producer (the in-process committee of three, threshold 2), uploads and
//! registers the `mlp` and `int64` fixtures and a synthetic classifier, deploys `DnnConsumer`,
//! and then runs a random list of operations drawn from:
//!
//! - ETH transfers between dev accounts (four senders, ten dev recipients or fresh addresses);
//! - `DnnConsumer.runOrCatch` of the `mlp` on random float32 inputs under every rule (default,
//!   exact, tolerance with random bounds, argmax), and `tryInfer` sent as a transaction;
//! - inputs of a wrong shape, count, dtype or length (a reverting `run`, or a caught
//!   `runOrCatch`), and the `int64` fixture with a Gather index out of range: a deterministic
//!   model failure the committee signs;
//! - registrations that revert: `registerInView` (a registration under STATICCALL) and a second
//!   registration of a registered fixture (AlreadyRegistered), straight to the registry or
//!   through the contract; and registrations of fresh synthetic models, which succeed once;
//! - training: `train` and `trainWith` (rule recompute) transactions straight to the train
//!   precompile, from any registered classifier (so lineages grow), with a random batch, step
//!   count, learning rate and optimiser; training that must fail (a label out of range, a
//!   diverging loss); and inference of the trained models;
//! - dev edits: `anvil_setBalance`, `anvil_setStorageAt` on the consumer, `evm_increaseTime`,
//!   `anvil_setNextBlockBaseFeePerGas`, empty blocks (`evm_mine`), and `evm_snapshot` … ops …
//!   `evm_revert` (nested up to three deep);
//! - `eth_call`s with state overrides between blocks — a `stateDiff` that unregisters the `mlp`
//!   or scribbles on its registry record, a balance override, a consumer storage override, and
//!   Call-mode training of the batches blocks also train — which must not change later blocks;
//! - batches: automine off, several transactions (and dev edits and calls between them), then
//!   `evm_mine`, so that blocks hold several transactions (and identical jobs settle once).
//!
//! Every operation checks its own outcome loosely (a transfer succeeds, a wrong shape reverts,
//! an AlreadyRegistered registration reverts, training succeeds and its model is usable, …).
//! Since `evm_revert` rewinds the chain, the follower starts only after the producer finished:
//! it replays the final chain from block 0. Then, for every block, the producer's and the
//! follower's raw blocks must have the same hash and state root, the follower must be
//! "synced", and it must have run no model and no training step.
//!
//! Sizes and seed (environment variables, like the fuzzers' `ANH_FUZZ_CASES`):
//!
//! - `ANH_DIFF_CASES`: the number of cases, each with its own producer and follower
//!   (default 8);
//! - `ANH_DIFF_OPS`: operations per case, a batch's transactions counted one by one
//!   (default 40);
//! - `ANH_DIFF_SEED`: the seed, decimal or `0x` hex (default [`DEFAULT_SEED`]). Case `i` uses
//!   seed + i × 0x9E3779B97F4A7C15, so a failing case reruns alone with `ANH_DIFF_SEED=<its
//!   seed> ANH_DIFF_CASES=1`; a failure prints that command and the case's operations.
//!
//! Models are retrained with any optimiser, whatever state their file holds: this test found
//! that a switch (Adam, then SGD) got no quorum, as the attesters' `same_architecture` wanted
//! the parent's optimiser state in the child.

use crate::{dnn::consumer, utils::*};
use alloy::{
    network::{EthereumWallet, TransactionBuilder},
    primitives::{Address, B256, Bytes, U256, keccak256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::{TransactionReceipt, TransactionRequest},
    signers::local::{MnemonicBuilder, PrivateKeySigner},
    sol_types::{SolCall, SolEvent},
};
use anh::{NodeConfig, NodeHandle};
use anh_evm_host::Block;
use anh_precompiles::{
    DnnError,
    abi::{IInfer, IModelRegistry, ITrain, Rule, Tensor, TrainParams},
    infer, registry, train,
};
use consumer::DnnConsumer;
use serde_json::{Value, json};
use std::{
    collections::HashSet,
    fmt::Write as _,
    time::{Duration, Instant},
};

/// The seed when `ANH_DIFF_SEED` is not set.
const DEFAULT_SEED: u64 = 0x5EED_D1FF_0000_A4E1;

/// The step between the seeds of consecutive cases (the golden ratio, as splitmix64 uses).
const CASE_STRIDE: u64 = 0x9E37_79B9_7F4A_7C15;

/// Dev accounts that send transactions (the first of the test mnemonic's ten).
const SENDERS: usize = 4;

/// Gas limit of every transaction but plain transfers; eight fit a 30 M block.
const GAS: u64 = 3_000_000;

/// Fee cap of every transaction (above any base fee the test sets).
const MAX_FEE: u128 = 200_000_000_000;

/// Priority fee of every transaction: all equal, so a block keeps arrival order.
const TIP: u128 = 1_000_000_000;

/// Highest base fee `anvil_setNextBlockBaseFeePerGas` is given (half the fee cap).
const MAX_BASE_FEE: u64 = 100_000_000_000;

/// One ether in wei.
const ETHER: u128 = 1_000_000_000_000_000_000;

/// `ANH_DIFF_*` variable `name` as a number (decimal or `0x` hex), else `default`.
fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| {
            let v = v.trim();
            match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16).ok(),
                None => v.parse().ok(),
            }
        })
        .unwrap_or(default)
}

// ---------------------------------------------------------------------------------------
// The generator.

/// splitmix64: small, fast and good enough to draw operations from.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(CASE_STRIDE);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `num / den`.
    fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    fn bytes32(&mut self) -> B256 {
        let mut word = [0u8; 32];
        for chunk in word.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_be_bytes());
        }
        B256::from(word)
    }

    /// A float32 of moderate size (so that no output overflows to infinity or NaN, which no
    /// rule can settle): a few fixed values often, so that identical jobs recur.
    fn value(&mut self) -> f32 {
        const COMMON: [f32; 6] = [0.0, 1.0, -1.0, 0.5, 2.0, -0.25];
        if self.chance(1, 3) {
            COMMON[self.index(COMMON.len())]
        } else {
            (self.range(0, 2_000_000) as f32 - 1_000_000.0) / 50_000.0
        }
    }

    fn values(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.value()).collect()
    }
}

/// Who receives ether or a balance.
#[derive(Debug, Clone, Copy)]
enum Account {
    /// Dev account `i` of the test mnemonic (0–9).
    Dev(usize),
    /// An address nobody has a key for.
    Fresh(Address),
}

/// A malformed input for the `mlp` (`float32 [batch, 4]`).
#[derive(Debug, Clone, Copy)]
enum BadInput {
    /// `[1, 5]`: a wrong fixed dimension.
    Wide,
    /// `[4]`: a wrong rank.
    Rank,
    /// `[1, 4]` with 12 bytes of data.
    Short,
    /// An unknown dtype code.
    Dtype(u8),
    /// Two inputs for a model that takes one.
    Count,
}

/// What a `tryInfer` transaction asks for (it never reverts: the view catches).
#[derive(Debug, Clone)]
enum TryTarget {
    /// The `mlp` on good inputs.
    Good(Vec<f32>),
    /// A model nobody registered.
    Unknown(B256),
    /// The `int64` fixture with an index out of range.
    OutOfRange(i64),
}

/// How a training batch goes wrong.
#[derive(Debug, Clone, Copy)]
enum BadTraining {
    /// A class label out of range: refused before any job.
    Label,
    /// MSE against huge targets: the loss is not finite, a failure the committee signs.
    Diverge,
}

/// A training run of a registered classifier.
#[derive(Debug, Clone, Copy)]
struct TrainSpec {
    /// Which registered classifier (modulo their number at send time).
    model: usize,
    /// Seed of the batch (a few only, so that Call-mode training meets the same jobs).
    batch: u64,
    /// Samples in the batch.
    samples: usize,
    steps: u32,
    /// Learning rate ×10^18.
    lr: u64,
    /// 1 SGD, 2 momentum, 3 Adam.
    optimizer: u8,
    /// Settle by the recompute rule (`trainWith`) instead of the default train-loss.
    recompute: bool,
}

/// One operation of a case.
#[derive(Debug, Clone)]
enum Op {
    /// An ETH transfer of `value` wei.
    Transfer {
        from: usize,
        to: Account,
        value: u64,
    },
    /// `runOrCatch(mlp, inputs [n, 4], rule)`: settles under every rule.
    Infer {
        from: usize,
        inputs: Vec<f32>,
        rule: (u8, u64, u64),
    },
    /// A malformed `mlp` input: `run` reverts, `runOrCatch` catches.
    WrongShape {
        from: usize,
        input: BadInput,
        caught: bool,
    },
    /// The `int64` fixture's Gather out of range: a signed model failure; `run` reverts,
    /// `runOrCatch` catches.
    OutOfRange {
        from: usize,
        index: i64,
        caught: bool,
    },
    /// `tryInfer` sent as a transaction.
    TryInfer {
        from: usize,
        target: TryTarget,
    },
    /// `registerInView` of an uploaded model: reverts (WriteInStaticCall).
    RegisterInView {
        from: usize,
        mlp: bool,
    },
    /// Registers a registered fixture again (AlreadyRegistered): straight to the registry or
    /// through the consumer.
    RegisterAgain {
        from: usize,
        mlp: bool,
        through_contract: bool,
    },
    /// Uploads and registers synthetic model `seed`: succeeds unless registered already.
    RegisterNew {
        from: usize,
        seed: u64,
    },
    /// A `train` (or `trainWith`) transaction that succeeds.
    Train {
        from: usize,
        spec: TrainSpec,
    },
    /// A `train` transaction that reverts.
    TrainBad {
        from: usize,
        model: usize,
        how: BadTraining,
    },
    /// `run` of a registered classifier (trained ones included) on `x` `[n, 2]`.
    InferTrained {
        from: usize,
        model: usize,
        x: Vec<f32>,
    },
    /// `anvil_setBalance` (senders keep at least 100 ether).
    SetBalance {
        who: Account,
        wei: u128,
    },
    /// `anvil_setStorageAt` on the consumer.
    SetStorage {
        slot: B256,
        value: B256,
    },
    IncreaseTime {
        seconds: u64,
    },
    SetBaseFee {
        wei: u64,
    },
    /// `evm_mine`: an empty block (or one with only the dev edits).
    Mine,
    Snapshot,
    /// `evm_revert` to the snapshot `depth` below the newest one.
    Revert {
        depth: usize,
    },
    /// `eth_call` of `infer(mlp)` with the mlp's registry record overridden: zeroed (the
    /// call sees UnknownModel) or its length word replaced by `Some(word)`.
    CallForgedRegistry {
        word: Option<B256>,
        inputs: Vec<f32>,
    },
    /// `eth_call` of a transfer from a fresh address whose balance is overridden.
    CallBalance {
        from: Address,
        value: u64,
    },
    /// `eth_call` of `lastFixed()` with the consumer's storage replaced (`state`) or patched
    /// (`stateDiff`).
    CallConsumerState {
        value: i64,
        full: bool,
    },
    /// `eth_call` of `train`: Call-mode training, kept in memory only.
    CallTrain {
        spec: TrainSpec,
    },
    /// Automine off, these operations (transactions, dev edits, calls), `evm_mine`, automine
    /// on.
    Batch(Vec<Op>),
}

impl Op {
    /// Whether the operation sends a transaction.
    fn is_tx(&self) -> bool {
        matches!(
            self,
            Op::Transfer { .. }
                | Op::Infer { .. }
                | Op::WrongShape { .. }
                | Op::OutOfRange { .. }
                | Op::TryInfer { .. }
                | Op::RegisterInView { .. }
                | Op::RegisterAgain { .. }
                | Op::RegisterNew { .. }
                | Op::Train { .. }
                | Op::TrainBad { .. }
                | Op::InferTrained { .. }
        )
    }
}

fn account(rng: &mut Rng) -> Account {
    if rng.chance(3, 4) {
        Account::Dev(rng.index(10))
    } else {
        Account::Fresh(Address::from_word(rng.bytes32()))
    }
}

fn train_spec(rng: &mut Rng) -> TrainSpec {
    TrainSpec {
        model: rng.index(64),
        batch: rng.below(4),
        samples: rng.range(2, 8) as usize,
        steps: rng.range(1, 4) as u32,
        lr: [10u64.pow(16), 2 * 10u64.pow(16), 5 * 10u64.pow(16)][rng.index(3)],
        optimizer: rng.range(1, 3) as u8,
        recompute: rng.chance(1, 4),
    }
}

/// A transaction operation (or, in a batch, a dev edit or a call between transactions).
fn tx_op(rng: &mut Rng, in_batch: bool) -> Op {
    let from = rng.index(SENDERS);
    // (weight, kind) — kinds as in the `match` below: 0 transfer, 1 inference, 2 wrong shape,
    // 3 Gather out of range, 4 tryInfer, 5 registerInView, 6 registration again, 7 fresh
    // registration, 8 training, 9 bad training, 10 inference of a classifier; in batches
    // only, 11 balance, 12 storage, 13 time, 14 base fee, 15 a call.
    let table: [(u64, u8); 16] = [
        (12, 0),
        (12, 1),
        (4, 2),
        (4, 3),
        (3, 4),
        (2, 5),
        (3, 6),
        (3, 7),
        (6, 8),
        (2, 9),
        (4, 10),
        (if in_batch { 2 } else { 0 }, 11),
        (if in_batch { 2 } else { 0 }, 12),
        (if in_batch { 1 } else { 0 }, 13),
        (if in_batch { 1 } else { 0 }, 14),
        (if in_batch { 2 } else { 0 }, 15),
    ];
    let total: u64 = table.iter().map(|(w, _)| w).sum();
    let mut pick = rng.below(total);
    let kind = table
        .iter()
        .find(|(w, _)| {
            if pick < *w {
                true
            } else {
                pick -= w;
                false
            }
        })
        .expect("a weight is picked")
        .1;
    match kind {
        0 => Op::Transfer { from, to: account(rng), value: rng.below(ETHER as u64) },
        1 => {
            let batch = if rng.chance(1, 4) { rng.range(2, 3) as usize } else { 1 };
            let rule = match rng.below(4) {
                0 => (0, 0, 0),
                1 => (1, 0, 0),
                2 => (2, rng.below(1_000_000), rng.below(1_000_000)),
                _ => (3, 0, 0),
            };
            Op::Infer { from, inputs: rng.values(4 * batch), rule }
        }
        2 => {
            let input = match rng.below(5) {
                0 => BadInput::Wide,
                1 => BadInput::Rank,
                2 => BadInput::Short,
                3 => BadInput::Dtype([0u8, 8, 0x3f, 0x53, 0xff][rng.index(5)]),
                _ => BadInput::Count,
            };
            Op::WrongShape { from, input, caught: rng.chance(1, 2) }
        }
        3 => {
            let index = [10i64, 11, 1000, -11, i64::MAX][rng.index(5)];
            Op::OutOfRange { from, index, caught: rng.chance(1, 2) }
        }
        4 => {
            let target = match rng.below(3) {
                0 => TryTarget::Good(rng.values(4)),
                1 => TryTarget::Unknown(rng.bytes32()),
                _ => TryTarget::OutOfRange([10i64, -11][rng.index(2)]),
            };
            Op::TryInfer { from, target }
        }
        5 => Op::RegisterInView { from, mlp: rng.chance(1, 2) },
        6 => Op::RegisterAgain { from, mlp: rng.chance(1, 2), through_contract: rng.chance(1, 2) },
        7 => Op::RegisterNew { from, seed: rng.below(6) },
        8 => Op::Train { from, spec: train_spec(rng) },
        9 => Op::TrainBad {
            from,
            model: rng.index(64),
            how: if rng.chance(1, 2) { BadTraining::Label } else { BadTraining::Diverge },
        },
        10 => {
            let n = rng.range(1, 3) as usize;
            Op::InferTrained { from, model: rng.index(64), x: rng.values(2 * n) }
        }
        11 => set_balance(rng),
        12 => set_storage(rng),
        13 => Op::IncreaseTime { seconds: rng.range(1, 100_000) },
        14 => Op::SetBaseFee { wei: base_fee(rng) },
        _ => call_op(rng),
    }
}

fn set_balance(rng: &mut Rng) -> Op {
    let who = account(rng);
    let wei = match who {
        // Senders keep enough for any transaction's fee cap.
        Account::Dev(i) if i < SENDERS => rng.range(100, 20_000) as u128 * ETHER,
        _ => {
            if rng.chance(1, 4) {
                0
            } else {
                rng.next() as u128 * 1_000
            }
        }
    };
    Op::SetBalance { who, wei }
}

/// A storage edit of the consumer: `lastOutputs` (slot 0) and `lastError` (slot 2) get a
/// short `bytes` encoding (so that a later write does not clear a huge array), `lastFixed`
/// (slot 1) and an unused slot any word.
fn set_storage(rng: &mut Rng) -> Op {
    let mut value = rng.bytes32();
    let slot = match rng.below(4) {
        0 => B256::ZERO,
        1 => B256::with_last_byte(1),
        2 => B256::with_last_byte(2),
        _ => rng.bytes32(),
    };
    if slot == B256::ZERO || slot == B256::with_last_byte(2) {
        let len = rng.below(32) as usize;
        value.0[len..].fill(0);
        value.0[31] = (2 * len) as u8;
    }
    Op::SetStorage { slot, value }
}

fn base_fee(rng: &mut Rng) -> u64 {
    match rng.below(5) {
        0 => 0,
        1 => 7,
        2 => 1_000_000_000,
        _ => rng.range(1, MAX_BASE_FEE),
    }
}

fn call_op(rng: &mut Rng) -> Op {
    match rng.below(4) {
        0 => Op::CallForgedRegistry {
            word: rng.chance(1, 2).then(|| B256::with_last_byte(rng.range(1, 255) as u8)),
            inputs: rng.values(4),
        },
        1 => Op::CallBalance {
            from: Address::from_word(rng.bytes32()),
            value: rng.below(ETHER as u64),
        },
        2 => Op::CallConsumerState { value: rng.next() as i64, full: rng.chance(1, 2) },
        _ => Op::CallTrain { spec: train_spec(rng) },
    }
}

/// `count` operations (a batch's inner operations counted one by one), a pure function of
/// `rng`: snapshots are nested at most three deep and reverted only when taken.
fn generate(rng: &mut Rng, count: usize) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut made = 0;
    let mut snapshots = 0usize;
    while made < count {
        let op = match rng.below(100) {
            0..=54 => tx_op(rng, false),
            55..=58 => set_balance(rng),
            59..=62 => set_storage(rng),
            63..=65 => Op::IncreaseTime { seconds: rng.range(1, 100_000) },
            66..=68 => Op::SetBaseFee { wei: base_fee(rng) },
            69..=70 => Op::Mine,
            71..=73 if snapshots < 3 => {
                snapshots += 1;
                Op::Snapshot
            }
            74..=76 if snapshots > 0 => {
                let depth = rng.index(snapshots);
                snapshots -= depth + 1;
                Op::Revert { depth }
            }
            77..=84 => call_op(rng),
            85..=99 => {
                let inner = rng.range(2, 6) as usize;
                let mut ops: Vec<Op> = (0..inner).map(|_| tx_op(rng, true)).collect();
                if !ops.iter().any(Op::is_tx) {
                    ops.push(tx_op(rng, false));
                }
                made += ops.len() - 1;
                Op::Batch(ops)
            }
            _ => continue,
        };
        made += 1;
        ops.push(op);
    }
    ops
}

/// The operations one per line, numbered, for a failure message.
fn listing(ops: &[Op]) -> String {
    let mut text = String::new();
    for (i, op) in ops.iter().enumerate() {
        let _ = writeln!(text, "  {i:3}: {op:?}");
    }
    text
}

/// Prints the case's seed and operations if the test panics while it is alive.
struct Repro {
    header: String,
    ops: Vec<Op>,
    at: usize,
}

impl Drop for Repro {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "differential: {} failed at operation {}; its operations:\n{}",
                self.header,
                self.at,
                listing(&self.ops)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Inputs.

fn floats(shape: &[u64], values: &[f32]) -> consumer::Tensor {
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_be_bytes()).collect();
    consumer::Tensor { dtype: 1, shape: shape.to_vec(), data: data.into() }
}

fn mlp_input(values: &[f32]) -> Vec<consumer::Tensor> {
    vec![floats(&[(values.len() / 4) as u64, 4], values)]
}

fn ids(index: i64) -> Vec<consumer::Tensor> {
    let data: Vec<u8> = [0i64, 1, index, 3, 4].iter().flat_map(|v| v.to_be_bytes()).collect();
    vec![consumer::Tensor { dtype: 4, shape: vec![1, 5], data: data.into() }]
}

fn bad_input(input: BadInput) -> Vec<consumer::Tensor> {
    match input {
        BadInput::Wide => vec![floats(&[1, 5], &[0.5; 5])],
        BadInput::Rank => vec![floats(&[4], &[0.5; 4])],
        BadInput::Short => {
            vec![consumer::Tensor { dtype: 1, shape: vec![1, 4], data: vec![0u8; 12].into() }]
        }
        BadInput::Dtype(code) => {
            vec![consumer::Tensor { dtype: code, shape: vec![1, 4], data: vec![0u8; 16].into() }]
        }
        BadInput::Count => vec![floats(&[1, 4], &[0.5; 4]), floats(&[1, 4], &[0.5; 4])],
    }
}

/// A synthetic logistic classifier registered by `RegisterNew { seed }`.
fn fresh_model(seed: u64) -> Vec<u8> {
    anh_runtime::synth::classifier(2, &[], 2, 1_000 + seed)
}

/// Two noisy blobs, `n` samples, from `seed`: features `[n, 2]` and labels `[n]`.
fn blobs(n: usize, seed: u64) -> (Tensor, Tensor) {
    let mut rng = Rng(seed ^ 0xB10B);
    let mut x = Vec::new();
    let mut y = Vec::new();
    for i in 0..n {
        let label = (i % 2) as i64;
        let centre = if label == 0 { -1.0f32 } else { 1.0 };
        for _ in 0..2 {
            x.push(centre + (rng.below(1_000) as f32 / 1_000.0 - 0.5) * 1.6);
        }
        y.push(label);
    }
    let x: Vec<u8> = x.iter().flat_map(|v| v.to_be_bytes()).collect();
    let y: Vec<u8> = y.iter().flat_map(|v| v.to_be_bytes()).collect();
    (
        Tensor { dtype: 1, shape: vec![n as u64, 2], data: x.into() },
        Tensor { dtype: 4, shape: vec![n as u64], data: y.into() },
    )
}

/// Calldata of a training run of `model` with `optimizer`.
fn train_call(model: B256, spec: &TrainSpec, optimizer: u8) -> Vec<u8> {
    let (x, y) = blobs(spec.samples, spec.batch);
    let params = TrainParams { steps: spec.steps, learningRate: spec.lr, loss: 2, optimizer };
    if spec.recompute {
        let rule = Rule { kind: 5, absTolerance: 1_000, relTolerance: 10_000 };
        ITrain::trainWithCall { model, batch: vec![x, y], params, rule }.abi_encode()
    } else {
        ITrain::trainCall { model, batch: vec![x, y], params }.abi_encode()
    }
}

/// The registry's header slot of `model` (`mapping(bytes32 => bytes)` at slot 0).
fn registry_slot(model: B256) -> B256 {
    keccak256([model.as_slice(), &[0u8; 32]].concat())
}

// ---------------------------------------------------------------------------------------
// The producer.

/// What the test knows of the chain's models; saved with each snapshot.
#[derive(Debug, Clone, Default)]
struct Models {
    /// Registered classifiers, trained ones included (all take `float32 [batch, 2]`).
    classifiers: Vec<B256>,
    /// Registered models.
    registered: HashSet<B256>,
}

/// What a sent transaction must come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Success,
    Revert,
}

/// A check after the receipt, made only outside batches when it reads the consumer's last
/// result (later transactions of a batch overwrite it).
#[derive(Debug, Clone, Copy)]
enum After {
    Nothing,
    /// `lastError` is empty (the inference settled) or not (it failed and was caught).
    LastError {
        empty: bool,
    },
    /// A `ModelTrained` log names the new model, unless it was registered already.
    Trained,
    /// `model` is registered.
    Registered(B256),
}

/// A transaction sent and what to check once it is mined.
#[derive(Debug)]
struct Sent {
    hash: B256,
    expect: Expect,
    after: After,
    ctx: String,
}

/// What the final chains hold, over all cases: proof that the operations did what they are
/// meant to.
#[derive(Debug, Default)]
struct Coverage {
    blocks: u64,
    transactions: u64,
    reverted: u64,
    multi_tx_blocks: u64,
    infer_records: u64,
    register_records: u64,
    train_records: u64,
    failure_records: u64,
    rules: HashSet<u8>,
    edit_blocks: u64,
    base_fee_overrides: u64,
}

impl Coverage {
    fn add(&mut self, block: &Block) {
        self.blocks += 1;
        self.transactions += block.transactions.len() as u64;
        self.reverted += block.transactions.iter().filter(|t| !t.receipt.status()).count() as u64;
        self.multi_tx_blocks += u64::from(block.transactions.len() > 1);
        for job in &block.jobs {
            match job.kind {
                1 => self.infer_records += 1,
                2 => self.register_records += 1,
                _ => self.train_records += 1,
            }
            self.failure_records += u64::from(!job.is_settled());
            self.rules.insert(job.rule.kind.code());
        }
        self.edit_blocks += u64::from(!block.dev.edits.accounts.is_empty());
        self.base_fee_overrides += u64::from(block.dev.base_fee_override);
    }
}

/// A producer node with the fixtures registered and the consumer deployed.
struct Producer {
    _node: NodeHandle,
    url: String,
    /// The senders' addresses and providers (nonce, gas and fees are always given, so the
    /// providers' caches never matter across `evm_revert`).
    senders: Vec<(Address, DynProvider)>,
    /// Every dev account's address.
    dev: Vec<Address>,
    mlp: B256,
    int64: B256,
    consumer: Address,
    models: Models,
    /// Open snapshots: id, block number, and what the test knew then.
    snapshots: Vec<(Value, u64, Models)>,
}

/// The signer of dev account `index` of the test mnemonic.
fn dev_signer(index: u32) -> PrivateKeySigner {
    MnemonicBuilder::english()
        .phrase("test test test test test test test test test test test junk")
        .index(index)
        .expect("a valid index")
        .build()
        .expect("the dev mnemonic derives")
}

/// Calls `method`; the reply's result, asserting it is not an error.
async fn ok(url: &str, method: &str, params: Value, ctx: &str) -> Value {
    let reply = rpc(url, method, params).await;
    assert!(reply.get("error").is_none(), "{ctx}: {method}: {reply}");
    reply["result"].clone()
}

/// The raw block `number` of the node at `url`, decoded.
async fn raw_block(url: &str, number: u64, ctx: &str) -> Block {
    let reply = rpc(url, "anh_getRawBlock", json!([format!("{number:#x}")])).await;
    let raw: Bytes = serde_json::from_value(reply["result"].clone())
        .unwrap_or_else(|e| panic!("{ctx}: anh_getRawBlock({number}) at {url}: {reply}: {e}"));
    Block::decode(&raw).unwrap_or_else(|e| panic!("{ctx}: block {number} does not decode: {e}"))
}

fn quantity(value: &Value) -> u64 {
    let text = value.as_str().unwrap_or_else(|| panic!("a quantity: {value}"));
    u64::from_str_radix(text.trim_start_matches("0x"), 16).expect("a hex quantity")
}

impl Producer {
    async fn start() -> Self {
        let node = node_with(NodeConfig::test()).await;
        let url = node.http_endpoint();
        let dev: Vec<Address> = (0..10).map(|i| dev_signer(i).address()).collect();
        let senders = (0..SENDERS as u32)
            .map(|i| {
                let signer = dev_signer(i);
                let provider = ProviderBuilder::new()
                    .wallet(EthereumWallet::from(signer.clone()))
                    .connect_http(url.parse().expect("valid url"))
                    .erased();
                (signer.address(), provider)
            })
            .collect();
        let consumer = deploy(&provider(&node, KEY0), "DnnConsumer").await;
        let mut producer = Self {
            _node: node,
            url,
            senders,
            dev,
            mlp: B256::ZERO,
            int64: B256::ZERO,
            consumer,
            models: Models::default(),
            snapshots: Vec::new(),
        };
        let setup = "setup";
        producer.mlp = producer.install(&std::fs::read(testdata("mlp.onnx")).unwrap(), setup).await;
        producer.int64 =
            producer.install(&std::fs::read(testdata("int64.onnx")).unwrap(), setup).await;
        let root = producer.install(&anh_runtime::synth::classifier(2, &[4], 2, 7), setup).await;
        producer.models.classifiers.push(root);
        producer
    }

    /// Uploads `bytes` and registers them from dev account 0; returns the model.
    async fn install(&mut self, bytes: &[u8], ctx: &str) -> B256 {
        let model = self.put(bytes, ctx).await;
        let data = IModelRegistry::registerCall { model, name: "m".into() }.abi_encode();
        let sent = self.submit(0, registry::ADDRESS, data, 0, GAS, ctx).await;
        let receipt = self.receipt(sent, ctx).await;
        assert!(receipt.status(), "{ctx}: registering {model} failed");
        self.models.registered.insert(model);
        model
    }

    /// `anh_putModel`.
    async fn put(&self, bytes: &[u8], ctx: &str) -> B256 {
        let model = keccak256(bytes);
        let put = ok(&self.url, "anh_putModel", json!([Bytes::copy_from_slice(bytes)]), ctx).await;
        assert_eq!(put, json!(model), "{ctx}: anh_putModel");
        model
    }

    /// Signs and sends a transaction from sender `from` with every field given (the nonce
    /// is the pending one); returns its hash.
    async fn submit(
        &self,
        from: usize,
        to: Address,
        data: Vec<u8>,
        value: u64,
        gas: u64,
        ctx: &str,
    ) -> B256 {
        let (address, provider) = &self.senders[from];
        let nonce = provider
            .get_transaction_count(*address)
            .pending()
            .await
            .unwrap_or_else(|e| panic!("{ctx}: nonce: {e}"));
        let tx = TransactionRequest::default()
            .with_to(to)
            .with_input(data)
            .with_value(U256::from(value))
            .with_nonce(nonce)
            .with_chain_id(31337)
            .with_gas_limit(gas)
            .with_max_fee_per_gas(MAX_FEE)
            .with_max_priority_fee_per_gas(TIP);
        *provider
            .send_transaction(tx)
            .await
            .unwrap_or_else(|e| panic!("{ctx}: send: {e}"))
            .tx_hash()
    }

    async fn receipt(&self, hash: B256, ctx: &str) -> TransactionReceipt {
        let provider = &self.senders[0].1;
        for _ in 0..2_000 {
            let receipt = provider
                .get_transaction_receipt(hash)
                .await
                .unwrap_or_else(|e| panic!("{ctx}: receipt of {hash}: {e}"));
            if let Some(receipt) = receipt {
                return receipt;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{ctx}: transaction {hash} was not mined within 20 s");
    }

    fn address(&self, account: Account) -> Address {
        match account {
            Account::Dev(i) => self.dev[i],
            Account::Fresh(address) => address,
        }
    }

    /// A registered classifier: `pick` modulo their number.
    fn classifier(&self, pick: usize) -> B256 {
        self.models.classifiers[pick % self.models.classifiers.len()]
    }

    /// Runs one operation outside a batch.
    async fn run(&mut self, op: &Op, ctx: &str) {
        match op {
            Op::Batch(ops) => self.batch(ops, ctx).await,
            Op::Mine => {
                assert_eq!(ok(&self.url, "evm_mine", json!([]), ctx).await, "0x0", "{ctx}");
            }
            Op::Snapshot => {
                let id = ok(&self.url, "evm_snapshot", json!([]), ctx).await;
                let number = self.senders[0].1.get_block_number().await.unwrap();
                self.snapshots.push((id, number, self.models.clone()));
            }
            Op::Revert { depth } => {
                let at = self.snapshots.len() - 1 - depth;
                let (id, number, models) = self.snapshots[at].clone();
                self.snapshots.truncate(at);
                assert_eq!(ok(&self.url, "evm_revert", json!([id]), ctx).await, true, "{ctx}");
                let head = self.senders[0].1.get_block_number().await.unwrap();
                assert_eq!(head, number, "{ctx}: evm_revert goes back to the snapshot's block");
                self.models = models;
            }
            _ => {
                if let Some(sent) = self.send(op, ctx).await {
                    let receipt = self.receipt(sent.hash, ctx).await;
                    self.check(&sent, &receipt, false).await;
                }
            }
        }
    }

    /// Automine off, the operations, `evm_mine` until every transaction is mined (one block
    /// when they fit), automine on; then each transaction's checks.
    async fn batch(&mut self, ops: &[Op], ctx: &str) {
        assert_eq!(ok(&self.url, "evm_setAutomine", json!([false]), ctx).await, true, "{ctx}");
        let mut sent = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            let ctx = format!("{ctx} / batch op {i}: {op:?}");
            if let Some(s) = self.send(op, &ctx).await {
                sent.push(s);
            }
        }
        let provider = self.senders[0].1.clone();
        let mut receipts = Vec::new();
        for round in 0.. {
            assert!(round < 4, "{ctx}: the batch's transactions were not mined in 4 blocks");
            assert_eq!(ok(&self.url, "evm_mine", json!([]), ctx).await, "0x0", "{ctx}");
            receipts.clear();
            for s in &sent {
                match provider.get_transaction_receipt(s.hash).await.unwrap() {
                    Some(r) => receipts.push(r),
                    None => break,
                }
            }
            if receipts.len() == sent.len() {
                break;
            }
        }
        assert_eq!(ok(&self.url, "evm_setAutomine", json!([true]), ctx).await, true, "{ctx}");
        for (s, receipt) in sent.iter().zip(&receipts) {
            self.check(s, receipt, true).await;
        }
    }

    /// Checks a mined transaction against what its operation expects.
    async fn check(&mut self, sent: &Sent, receipt: &TransactionReceipt, in_batch: bool) {
        let ctx = &sent.ctx;
        assert_eq!(
            if receipt.status() { Expect::Success } else { Expect::Revert },
            sent.expect,
            "{ctx}: receipt {receipt:?}"
        );
        match sent.after {
            After::Nothing => {}
            After::LastError { empty } => {
                if !in_batch {
                    let contract = DnnConsumer::new(self.consumer, &self.senders[0].1);
                    let error = contract.lastError().call().await.unwrap();
                    assert_eq!(error.is_empty(), empty, "{ctx}: lastError {error}");
                    if !empty {
                        assert!(DnnError::abi_decode(&error).is_some(), "{ctx}: lastError {error}");
                    }
                }
            }
            After::Trained => {
                let event = receipt.inner.logs().iter().find_map(|log| {
                    (log.address() == train::ADDRESS)
                        .then(|| ITrain::ModelTrained::decode_log_data(log.data()).ok())
                        .flatten()
                });
                if let Some(event) = event {
                    self.models.classifiers.push(event.model);
                    self.models.registered.insert(event.model);
                }
            }
            After::Registered(model) => {
                let data = IInfer::inferCall { model, inputs: Vec::new() }.abi_encode();
                let request = json!([{ "to": infer::ADDRESS, "data": Bytes::from(data) }]);
                let reply = rpc(&self.url, "eth_call", request).await;
                let revert: Bytes = serde_json::from_value(reply["error"]["data"].clone())
                    .unwrap_or_else(|e| panic!("{ctx}: expected a revert: {reply}: {e}"));
                assert_eq!(
                    DnnError::abi_decode(&revert),
                    Some(DnnError::WrongInputCount { expected: 1, got: 0 }),
                    "{ctx}: {model} is registered (no input is the only problem)"
                );
            }
        }
    }

    /// Sends the transaction of a transaction operation, or runs a dev edit or call at once.
    async fn send(&mut self, op: &Op, ctx: &str) -> Option<Sent> {
        let consumer = self.consumer;
        let sent = |hash: B256, expect: Expect, after: After| {
            Some(Sent { hash, expect, after, ctx: ctx.to_string() })
        };
        match op {
            Op::Transfer { from, to, value } => {
                let to = self.address(*to);
                let hash = self.submit(*from, to, Vec::new(), *value, 21_000, ctx).await;
                sent(hash, Expect::Success, After::Nothing)
            }
            Op::Infer { from, inputs, rule: (kind, abs, rel) } => {
                let rule = consumer::Rule { kind: *kind, absTolerance: *abs, relTolerance: *rel };
                let data = DnnConsumer::runOrCatchCall {
                    model: self.mlp,
                    inputs: mlp_input(inputs),
                    rule,
                }
                .abi_encode();
                let hash = self.submit(*from, consumer, data, 0, GAS, ctx).await;
                sent(hash, Expect::Success, After::LastError { empty: true })
            }
            Op::WrongShape { from, input, caught } => {
                let (data, expect, after) = if *caught {
                    let rule = consumer::Rule { kind: 0, absTolerance: 0, relTolerance: 0 };
                    let inputs = bad_input(*input);
                    let call = DnnConsumer::runOrCatchCall { model: self.mlp, inputs, rule };
                    (call.abi_encode(), Expect::Success, After::LastError { empty: false })
                } else {
                    let call = DnnConsumer::runCall { model: self.mlp, inputs: bad_input(*input) };
                    (call.abi_encode(), Expect::Revert, After::Nothing)
                };
                let hash = self.submit(*from, consumer, data, 0, GAS, ctx).await;
                sent(hash, expect, after)
            }
            Op::OutOfRange { from, index, caught } => {
                let (data, expect, after) = if *caught {
                    let rule = consumer::Rule { kind: 0, absTolerance: 0, relTolerance: 0 };
                    let call = DnnConsumer::runOrCatchCall {
                        model: self.int64,
                        inputs: ids(*index),
                        rule,
                    };
                    (call.abi_encode(), Expect::Success, After::LastError { empty: false })
                } else {
                    let call = DnnConsumer::runCall { model: self.int64, inputs: ids(*index) };
                    (call.abi_encode(), Expect::Revert, After::Nothing)
                };
                let hash = self.submit(*from, consumer, data, 0, GAS, ctx).await;
                sent(hash, expect, after)
            }
            Op::TryInfer { from, target } => {
                let (model, inputs) = match target {
                    TryTarget::Good(values) => (self.mlp, mlp_input(values)),
                    TryTarget::Unknown(model) => (*model, mlp_input(&[0.5; 4])),
                    TryTarget::OutOfRange(index) => (self.int64, ids(*index)),
                };
                let data = DnnConsumer::tryInferCall { model, inputs }.abi_encode();
                let hash = self.submit(*from, consumer, data, 0, GAS, ctx).await;
                sent(hash, Expect::Success, After::Nothing)
            }
            Op::RegisterInView { from, mlp } => {
                // A registered model, or one uploaded and never registered.
                let model = if *mlp { self.mlp } else { self.put(&fresh_model(99), ctx).await };
                let data =
                    DnnConsumer::registerInViewCall { model, name: "view".into() }.abi_encode();
                let hash = self.submit(*from, consumer, data, 0, GAS, ctx).await;
                sent(hash, Expect::Revert, After::Nothing)
            }
            Op::RegisterAgain { from, mlp, through_contract } => {
                let model = if *mlp { self.mlp } else { self.int64 };
                let (to, data) = if *through_contract {
                    let call = DnnConsumer::registerModelCall { model, name: "again".into() };
                    (consumer, call.abi_encode())
                } else {
                    let call = IModelRegistry::registerCall { model, name: "again".into() };
                    (registry::ADDRESS, call.abi_encode())
                };
                let hash = self.submit(*from, to, data, 0, GAS, ctx).await;
                sent(hash, Expect::Revert, After::Nothing)
            }
            Op::RegisterNew { from, seed } => {
                let model = self.put(&fresh_model(*seed), ctx).await;
                let expect = if self.models.registered.insert(model) {
                    self.models.classifiers.push(model);
                    Expect::Success
                } else {
                    Expect::Revert
                };
                let data = IModelRegistry::registerCall { model, name: format!("fresh{seed}") }
                    .abi_encode();
                let hash = self.submit(*from, registry::ADDRESS, data, 0, GAS, ctx).await;
                sent(hash, expect, After::Registered(model))
            }
            Op::Train { from, spec } => {
                let model = self.classifier(spec.model);
                let data = train_call(model, spec, spec.optimizer);
                let hash = self.submit(*from, train::ADDRESS, data, 0, GAS, ctx).await;
                sent(hash, Expect::Success, After::Trained)
            }
            Op::TrainBad { from, model, how } => {
                let model = self.classifier(*model);
                let (x, _) = blobs(4, 1);
                let params =
                    TrainParams { steps: 2, learningRate: 10u64.pow(16), loss: 2, optimizer: 1 };
                let call = match how {
                    // Label 2 of a two-class model.
                    BadTraining::Label => {
                        let labels: Vec<u8> =
                            [0i64, 1, 2, 1].iter().flat_map(|v| v.to_be_bytes()).collect();
                        let y = Tensor { dtype: 4, shape: vec![4], data: labels.into() };
                        ITrain::trainCall { model, batch: vec![x, y], params }
                    }
                    // MSE against targets of 1e30: the loss is infinite at step 0.
                    BadTraining::Diverge => {
                        let huge: Vec<u8> =
                            [1e30f32; 8].iter().flat_map(|v| v.to_be_bytes()).collect();
                        let targets = Tensor { dtype: 1, shape: vec![4, 2], data: huge.into() };
                        let params = TrainParams { loss: 1, ..params };
                        ITrain::trainCall { model, batch: vec![x, targets], params }
                    }
                };
                let hash = self.submit(*from, train::ADDRESS, call.abi_encode(), 0, GAS, ctx).await;
                sent(hash, Expect::Revert, After::Nothing)
            }
            Op::InferTrained { from, model, x } => {
                let model = self.classifier(*model);
                let inputs = vec![floats(&[(x.len() / 2) as u64, 2], x)];
                let data = DnnConsumer::runCall { model, inputs }.abi_encode();
                let hash = self.submit(*from, consumer, data, 0, GAS, ctx).await;
                sent(hash, Expect::Success, After::Nothing)
            }
            Op::SetBalance { who, wei } => {
                let address = self.address(*who);
                let wei = U256::from(*wei);
                ok(&self.url, "anvil_setBalance", json!([address, wei]), ctx).await;
                let balance =
                    ok(&self.url, "eth_getBalance", json!([address, "latest"]), ctx).await;
                assert_eq!(balance, json!(wei), "{ctx}: the balance reads back at once");
                None
            }
            Op::SetStorage { slot, value } => {
                let params = json!([consumer, slot, value]);
                assert_eq!(ok(&self.url, "anvil_setStorageAt", params, ctx).await, true, "{ctx}");
                let read =
                    ok(&self.url, "eth_getStorageAt", json!([consumer, slot, "latest"]), ctx).await;
                assert_eq!(read, json!(value), "{ctx}: the word reads back at once");
                None
            }
            Op::IncreaseTime { seconds } => {
                // The answer is the clock's total offset from wall time.
                let offset = ok(&self.url, "evm_increaseTime", json!([seconds]), ctx).await;
                assert!(offset.as_i64().is_some(), "{ctx}: {offset}");
                None
            }
            Op::SetBaseFee { wei } => {
                let params = json!([U256::from(*wei)]);
                ok(&self.url, "anvil_setNextBlockBaseFeePerGas", params, ctx).await;
                None
            }
            Op::CallForgedRegistry { word, inputs } => {
                let slot = registry_slot(self.mlp);
                let diff = json!({ slot.to_string(): word.unwrap_or(B256::ZERO) });
                let overrides = json!({ registry::ADDRESS.to_string(): { "stateDiff": diff } });
                let data =
                    IInfer::inferCall { model: self.mlp, inputs: to_abi(&mlp_input(inputs)) };
                let request =
                    json!({ "to": infer::ADDRESS, "data": Bytes::from(data.abi_encode()) });
                let reply = rpc(&self.url, "eth_call", json!([request, "latest", overrides])).await;
                assert!(
                    reply.get("result").is_some() || reply.get("error").is_some(),
                    "{ctx}: {reply}"
                );
                if word.is_none() {
                    let revert: Bytes = serde_json::from_value(reply["error"]["data"].clone())
                        .unwrap_or_else(|e| panic!("{ctx}: expected a revert: {reply}: {e}"));
                    assert_eq!(
                        DnnError::abi_decode(&revert),
                        Some(DnnError::UnknownModel(self.mlp)),
                        "{ctx}: the zeroed record unregisters the mlp in this call"
                    );
                }
                None
            }
            Op::CallBalance { from, value } => {
                let request =
                    json!({ "from": from, "to": self.dev[1], "value": U256::from(*value) });
                let overrides = json!({ from.to_string(): { "balance": U256::from(ETHER) } });
                let result =
                    ok(&self.url, "eth_call", json!([request, "latest", overrides]), ctx).await;
                assert_eq!(result, "0x", "{ctx}");
                None
            }
            Op::CallConsumerState { value, full } => {
                let word = B256::from(U256::from(*value as u64));
                let key = if *full { "state" } else { "stateDiff" };
                let storage = json!({ B256::with_last_byte(1).to_string(): word });
                let overrides = json!({ consumer.to_string(): { key: storage } });
                let data = Bytes::from(DnnConsumer::lastFixedCall {}.abi_encode());
                let request = json!({ "to": consumer, "data": data });
                let result =
                    ok(&self.url, "eth_call", json!([request, "latest", overrides]), ctx).await;
                let bytes: Bytes = serde_json::from_value(result).unwrap();
                let got = DnnConsumer::lastFixedCall::abi_decode_returns(&bytes).unwrap();
                assert_eq!(got, *value, "{ctx}: the call reads the overridden word");
                None
            }
            Op::CallTrain { spec } => {
                let model = self.classifier(spec.model);
                let data = train_call(model, spec, spec.optimizer);
                let request = json!({
                    "from": self.senders[0].0,
                    "to": train::ADDRESS,
                    "data": Bytes::from(data),
                    "gas": format!("{GAS:#x}"),
                });
                let reply = rpc(&self.url, "eth_call", json!([request, "latest"])).await;
                assert!(reply.get("result").is_some(), "{ctx}: Call-mode training: {reply}");
                None
            }
            Op::Mine | Op::Snapshot | Op::Revert { .. } | Op::Batch(_) => {
                unreachable!("{ctx}: not an operation of a batch")
            }
        }
    }
}

fn to_abi(tensors: &[consumer::Tensor]) -> Vec<Tensor> {
    tensors
        .iter()
        .map(|t| Tensor { dtype: t.dtype, shape: t.shape.clone(), data: t.data.clone() })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The property.

/// Polls the follower at `url` until it has imported block `height` or halted (120 s at
/// most); returns its last `anh_syncStatus`.
async fn sync_status(url: &str, height: u64, ctx: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let status = rpc(url, "anh_syncStatus", json!([])).await["result"].clone();
        if status["state"] == "halted" || status["currentBlock"].as_u64() >= Some(height) {
            return status;
        }
        assert!(Instant::now() < deadline, "{ctx}: the follower did not reach {height}: {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Builds `ops` on a fresh producer, replays the chain on a follower, and compares every
/// block; adds the final chain to `coverage`.
async fn case(header: &str, ops: Vec<Op>, coverage: &mut Coverage) {
    let mut repro = Repro { header: header.to_string(), ops: ops.clone(), at: 0 };
    let mut producer = Producer::start().await;
    for (i, op) in ops.iter().enumerate() {
        repro.at = i;
        producer.run(op, &format!("{header}, op {i}: {op:?}")).await;
    }
    repro.at = ops.len();
    // Mine the last edits, so that the follower replays them too.
    let ctx = format!("{header}, after the operations");
    ok(&producer.url, "evm_mine", json!([]), &ctx).await;
    let url = producer.url.clone();
    let head = quantity(&ok(&url, "eth_blockNumber", json!([]), &ctx).await);

    let follower = node_with(follower_config(&url).await).await;
    let furl = follower.http_endpoint();
    let status = sync_status(&furl, head, &ctx).await;
    let halted = |status: &Value| {
        format!(
            "{header}: the follower halted at block {}: {}\n(sync status {status})\noperations:\n{}",
            status["currentBlock"].as_u64().map_or(0, |b| b + 1),
            status["error"],
            listing(&ops)
        )
    };
    assert_ne!(status["state"], "halted", "{}", halted(&status));
    for n in 0..=head {
        let ours = raw_block(&url, n, &ctx).await;
        let theirs = raw_block(&furl, n, &ctx).await;
        assert_eq!(
            (ours.hash, ours.header.state_root),
            (theirs.hash, theirs.header.state_root),
            "{header}: block {n} of {head} differs between the producer and the follower \
             (hash, state root)\noperations:\n{}",
            listing(&ops)
        );
        coverage.add(&ours);
    }
    let status = rpc(&furl, "anh_syncStatus", json!([])).await["result"].clone();
    assert_eq!(status["state"], "synced", "{}", halted(&status));
    let stats = ok(&furl, "anh_stats", json!([]), &ctx).await;
    assert_eq!(
        (stats["inferencesRun"].as_u64(), stats["trainingStepsRun"].as_u64()),
        (Some(0), Some(0)),
        "{ctx}: the follower runs no model: {stats}"
    );
}

/// Random sequences of transfers, inference under every rule, failures, reverted
/// registrations, training, dev edits, snapshots and reverts, overridden calls and batched
/// blocks, built by a producer, replay on a follower to the same block hashes and state roots.
#[tokio::test(flavor = "multi_thread")]
async fn differential_build_and_replay() {
    let seed = env_u64("ANH_DIFF_SEED", DEFAULT_SEED);
    let cases = env_u64("ANH_DIFF_CASES", 8);
    let per_case = env_u64("ANH_DIFF_OPS", 40) as usize;
    let started = Instant::now();
    let mut coverage = Coverage::default();
    for i in 0..cases {
        let case_seed = seed.wrapping_add(i.wrapping_mul(CASE_STRIDE));
        let ops = generate(&mut Rng(case_seed), per_case);
        let header = format!(
            "case {i} of ANH_DIFF_SEED={seed:#x}: seed {case_seed:#x} (rerun alone: \
             ANH_DIFF_SEED={case_seed:#x} ANH_DIFF_CASES=1 ANH_DIFF_OPS={per_case})"
        );
        case(&header, ops, &mut coverage).await;
    }
    eprintln!(
        "differential: {cases} case(s) × {per_case} operations from seed {seed:#x} in {:.1?}: \
         {coverage:?}",
        started.elapsed()
    );
    // At the default size the final chains must show every kind of activity.
    if cases * per_case as u64 >= 200 {
        for (what, count) in [
            ("blocks with several transactions", coverage.multi_tx_blocks),
            ("reverted transactions", coverage.reverted),
            ("inference records", coverage.infer_records),
            ("registration records", coverage.register_records),
            ("training records", coverage.train_records),
            ("failure records", coverage.failure_records),
            ("blocks with state edits", coverage.edit_blocks),
            ("base fee overrides", coverage.base_fee_overrides),
        ] {
            assert!(count > 0, "seed {seed:#x}: no {what} in the final chains: {coverage:?}");
        }
        for rule in [1u8, 2, 3, 4, 5] {
            assert!(
                coverage.rules.contains(&rule),
                "seed {seed:#x}: no record settled by rule kind {rule}: {coverage:?}"
            );
        }
    }
}
