//! A language model on chain: a character-level GPT that a contract trains on text submitted
//! on chain and writes with.
//!
//! Uploads and registers a 2-layer GPT-style model (`anh_runtime::synth::gpt`: d 64, 4 heads,
//! a vocabulary of `CharGpt.ALPHABET`'s 34 characters, 32 positions; random weights), deploys
//! `CharGpt` (`contracts/src/examples/chargpt/CharGpt.sol`), and then, as dev account 0:
//!
//! 1. `write`s [`CORPUS`] in pieces of at most 512 characters;
//! 2. asks for a greedy continuation of [`PROMPT`] (`generate`, an `eth_call`: one `infer` per
//!    character, decoded in Solidity with `TensorLib.argmaxRow`) — noise, before training;
//! 3. sends `trainOn` transactions: each a batch of 8 windows of 24 characters of the corpus
//!    (from a moving offset, 41 characters apart), labelled with their next characters, 8 Adam
//!    steps at 0.01 on next-token cross-entropy through the `train` precompile; the committee
//!    settles each, the new model replaces the old in the contract, `Trained` carries the loss;
//! 4. asks for the greedy continuation again, then records a seeded sample at temperature 0.8
//!    with a `sample` transaction (softmax on fixed-point logits, in Solidity);
//! 5. draws the loss curve to `loss-curve.svg` and checks the readable reverts: a character
//!    outside the alphabet, windows past the corpus.

use crate::{
    charts::{Legend, LineChart, Series, Style},
    common::{Devnet, Result},
};
use alloy::{
    primitives::{Address, B256, U256},
    sol,
    sol_types::{SolCall, SolEvent, SolValue},
};
use anh_runtime::synth::{GptSpec, gpt};
use std::path::Path;

sol! {
    /// `contracts/src/examples/chargpt/CharGpt.sol`, as far as the demo calls it.
    interface ICharGpt {
        event Trained(bytes32 indexed parent, bytes32 indexed model, int256 loss, uint256 offset);
        event Sampled(address indexed by, uint256 seed, string text);
        function ALPHABET() external view returns (bytes memory);
        function write(string calldata text) external;
        function trainOn(uint256 offset, uint256 rows, uint256 seq, uint256 stride, uint32 steps, uint64 learningRate)
            external returns (int256 loss);
        function generate(string calldata prompt, uint256 length) external view returns (string memory);
        function sample(string calldata prompt, uint256 length, uint256 seed, uint256 temperature)
            external returns (string memory text);
        function model() external view returns (bytes32);
        function corpusLength() external view returns (uint256);
    }
}

/// The text the model learns (every character in `CharGpt.ALPHABET`).
pub const CORPUS: &str = "the chain keeps every promise it is given. the chain keeps every \
    block it is given. a model on the chain learns what the chain is given, and the chain keeps \
    the model. the committee signs what the model says, and the chain keeps what the committee \
    signs. every block keeps its promise, every model keeps its weights, every weight keeps its \
    place. the chain keeps every promise it is given; the model learns to keep them too. ";

/// The prompt the demo continues.
pub const PROMPT: &str = "the chain ";

/// The model's shape.
pub const SPEC: GptSpec =
    GptSpec { layers: 2, d_model: 64, heads: 4, vocab: 34, context: 32, seed: 11 };

/// Characters `sample` adds: each costs an inference, a softmax in Solidity and the memory
/// they take (a call's memory is never freed, and its price grows with its square).
pub const SAMPLE: usize = 24;

/// Windows per batch, characters per window, characters between windows.
const ROWS: u64 = 8;
const SEQ: u64 = 24;
const STRIDE: u64 = 41;

/// What the demo did.
#[derive(Debug, Clone)]
pub struct Report {
    /// The `CharGpt` contract.
    pub contract: Address,
    /// The loss each `trainOn` transaction reported.
    pub losses: Vec<f64>,
    /// Gas of each `trainOn` transaction.
    pub train_gas: Vec<u64>,
    /// Gas of the `write` transactions.
    pub write_gas: Vec<u64>,
    /// Gas of the `sample` transaction.
    pub sample_gas: u64,
    /// The greedy continuation of [`PROMPT`] before training, and after.
    pub before: String,
    /// After training.
    pub after: String,
    /// The recorded sample.
    pub sampled: String,
    /// The last model.
    pub model: B256,
    /// The revert reason of writing a character outside the alphabet.
    pub bad_character: String,
    /// The revert reason of training on windows past the corpus.
    pub past_corpus: String,
    /// The revert reasons of `sample` with an empty prompt, 65 characters, temperature 0.
    pub bad_requests: Vec<String>,
}

/// Runs `rounds` training transactions and writes `loss-curve.svg` into `out`.
pub async fn run(devnet: &Devnet, out: &Path, rounds: usize) -> Result<Report> {
    let bytes = gpt(SPEC);
    let root = devnet.upload_model(&bytes, "char-gpt").await?;
    println!("model {root} ({} bytes) uploaded and registered", bytes.len());
    let contract =
        devnet.deploy("CharGpt", &(root, U256::from(SPEC.context)).abi_encode_params()).await?;
    let alphabet = devnet.view(contract, ICharGpt::ALPHABETCall {}).await?;
    if alphabet.len() != SPEC.vocab as usize {
        return Err(format!(
            "the alphabet has {} characters, the model {}",
            alphabet.len(),
            SPEC.vocab
        )
        .into());
    }
    println!("CharGpt deployed at {contract}");

    let mut write_gas = Vec::new();
    for piece in CORPUS.as_bytes().chunks(300) {
        let text = String::from_utf8(piece.to_vec())?;
        let receipt = devnet.send(contract, ICharGpt::writeCall { text }.abi_encode()).await?;
        write_gas.push(receipt.gas_used);
    }
    let corpus = devnet.view(contract, ICharGpt::corpusLengthCall {}).await?.to::<u64>();
    println!("wrote {corpus} characters in {} transactions", write_gas.len());

    let generate = |devnet: &Devnet| {
        let devnet = devnet.clone();
        async move {
            let call_data =
                ICharGpt::generateCall { prompt: PROMPT.into(), length: U256::from(40) };
            devnet.view(contract, call_data).await
        }
    };
    let before = generate(devnet).await?;
    println!("before training: {before:?}");

    let span = (ROWS - 1) * STRIDE + SEQ + 1;
    let (mut losses, mut train_gas) = (Vec::new(), Vec::new());
    for round in 0..rounds as u64 {
        let offset = (round * 23) % (corpus - span);
        let data = ICharGpt::trainOnCall {
            offset: U256::from(offset),
            rows: U256::from(ROWS),
            seq: U256::from(SEQ),
            stride: U256::from(STRIDE),
            steps: 8,
            learningRate: 10u64.pow(16),
        };
        let receipt = devnet.send(contract, data.abi_encode()).await?;
        let trained = receipt
            .inner
            .logs()
            .iter()
            .filter(|l| l.address() == contract)
            .find_map(|l| ICharGpt::Trained::decode_log_data(l.data()).ok())
            .ok_or("trainOn emitted no Trained event")?;
        let loss = i128::try_from(trained.loss)? as f64 / 1e18;
        println!(
            "trainOn {:>2}  offset {offset:>3}  block {:>3}  gas {:>8}  loss {loss:.4}",
            round + 1,
            receipt.block_number.unwrap_or_default(),
            receipt.gas_used
        );
        losses.push(loss);
        train_gas.push(receipt.gas_used);
    }
    let model = devnet.view(contract, ICharGpt::modelCall {}).await?;
    let after = generate(devnet).await?;
    println!("after training:  {after:?}");

    let sample = ICharGpt::sampleCall {
        prompt: PROMPT.into(),
        length: U256::from(SAMPLE as u64),
        seed: U256::from(7),
        temperature: U256::from(800_000),
    };
    let receipt = devnet.send(contract, sample.abi_encode()).await?;
    let sampled = receipt
        .inner
        .logs()
        .iter()
        .filter(|l| l.address() == contract)
        .find_map(|l| ICharGpt::Sampled::decode_log_data(l.data()).ok())
        .ok_or("sample emitted no Sampled event")?
        .text;
    println!("sampled (seed 7, temperature 0.8, gas {}): {sampled:?}", receipt.gas_used);

    let bad = ICharGpt::writeCall { text: "ok #1".into() }.abi_encode();
    let bad_character = devnet.revert_of(contract, bad).await?;
    let past = ICharGpt::trainOnCall {
        offset: U256::from(corpus - 10),
        rows: U256::from(1),
        seq: U256::from(SEQ),
        stride: U256::from(1),
        steps: 1,
        learningRate: 10u64.pow(16),
    };
    let past_corpus = devnet.revert_of(contract, past.abi_encode()).await?;
    // Requests for writing that cannot be served.
    let mut bad_requests = Vec::new();
    for (prompt, length, temperature) in [("", 1, 800_000), ("the", 65, 800_000), ("the", 4, 0)] {
        let call = ICharGpt::sampleCall {
            prompt: prompt.into(),
            length: U256::from(length),
            seed: U256::from(1),
            temperature: U256::from(temperature),
        };
        bad_requests.push(devnet.revert_of(contract, call.abi_encode()).await?);
    }
    println!("write(\"ok #1\") reverts: {bad_character}");
    println!("trainOn past the corpus reverts: {past_corpus}");

    let path = out.join("loss-curve.svg");
    let uniform = (SPEC.vocab as f64).ln();
    LineChart {
        title: "CharGpt trained on chain: next-character loss per trainOn".into(),
        x_label: format!(
            "trainOn transaction ({ROWS} windows of {SEQ} characters, 8 Adam steps at 0.01)"
        ),
        y_label: "next-character cross-entropy (nats)".into(),
        series: vec![
            Series::level(
                &format!("a uniform guess over {} characters (ln {0} = {uniform:.2})", SPEC.vocab),
                [120, 120, 120],
                uniform,
                1.0,
                losses.len() as f64,
            ),
            Series::numbered(
                "the new weights' loss on the transaction's windows (Trained)",
                [40, 90, 200],
                Style::LinePoints,
                &losses,
            ),
        ],
        legend: Legend::LowerLeft,
        y_from_zero: true,
    }
    .save(&path)?;
    println!("wrote {}", path.display());
    Ok(Report {
        contract,
        losses,
        train_gas,
        write_gas,
        sample_gas: receipt.gas_used,
        before,
        after,
        sampled,
        model,
        bad_character,
        past_corpus,
        bad_requests,
    })
}

/// The share of characters of `text` after the prompt that continue [`CORPUS`] somewhere:
/// each next character is one the corpus has after the same preceding character.
pub fn plausibility(text: &str) -> f64 {
    let corpus = CORPUS.as_bytes();
    let text = text.as_bytes();
    let follows = |a: u8, b: u8| corpus.windows(2).any(|w| w == [a, b]);
    let tail = &text[PROMPT.len().min(text.len())..];
    if tail.is_empty() {
        return 0.0;
    }
    let good = (0..tail.len())
        .filter(|&i| {
            let prev = if i == 0 { text[PROMPT.len() - 1] } else { tail[i - 1] };
            follows(prev, tail[i])
        })
        .count();
    good as f64 / tail.len() as f64
}
