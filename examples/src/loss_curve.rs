//! Training on chain, and its loss curve.
//!
//! Uploads and registers a small MLP (2-8-2), then sends `train` transactions, each 8 SGD
//! steps (learning rate 0.2) on a fresh batch of 32 samples from two noisy blobs. Every
//! transaction's `ModelTrained` event carries the new weights' loss; the curve goes to an SVG.
//! Plain SGD with a small rate lowers the loss on the batch it steps on, which the committee's
//! train-loss rule checks; Adam, whose momentum comes from earlier batches, can raise it once
//! the loss is tiny, and such a transaction reverts `TrainingFailed` with the two losses.

use crate::{
    charts::{Legend, LineChart, Series, Style},
    common::{Devnet, Result, Rng, f32_tensor, i64_tensor},
};
use alloy::primitives::B256;
use anh_primitives::abi::TrainParams;
use std::path::Path;

/// What the demo did.
#[derive(Debug, Clone)]
pub struct Report {
    /// The loss after each transaction.
    pub losses: Vec<f64>,
    /// Gas of each `train` transaction.
    pub gas: Vec<u64>,
    /// The last model.
    pub model: B256,
}

/// `n` samples of two noisy blobs around (−1, −1) and (1, 1).
fn blobs(rng: &mut Rng, n: usize) -> (Vec<f32>, Vec<i64>) {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for i in 0..n {
        let label = (i % 2) as i64;
        let centre = if label == 0 { -1.0 } else { 1.0 };
        x.push((centre + rng.normal() * 0.6) as f32);
        x.push((centre + rng.normal() * 0.6) as f32);
        y.push(label);
    }
    (x, y)
}

/// Runs `rounds` training transactions and writes `loss-curve.svg` into `out`.
pub async fn run(devnet: &Devnet, out: &Path, rounds: usize) -> Result<Report> {
    let bytes = anh_runtime::synth::classifier(2, &[8], 2, 3);
    let mut model = devnet.upload_model(&bytes, "blobs-mlp").await?;
    let mut rng = Rng::new(7);
    let (mut losses, mut gas) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let (x, y) = blobs(&mut rng, 32);
        let batch = vec![f32_tensor(&[32, 2], &x), i64_tensor(&[32], &y)];
        let params =
            TrainParams { steps: 8, learningRate: 2 * 10u64.pow(17), loss: 2, optimizer: 1 };
        let (receipt, next, loss) = devnet.train(model, batch, params).await?;
        println!(
            "tx {:>2}  block {:>3}  gas {:>8}  loss {loss:.5}  model {}",
            round + 1,
            receipt.block_number.unwrap_or_default(),
            receipt.gas_used,
            next
        );
        losses.push(loss);
        gas.push(receipt.gas_used);
        model = next;
    }
    let path = out.join("loss-curve.svg");
    LineChart {
        title: "A 2-8-2 MLP trained on chain: loss per train transaction".into(),
        x_label: "train transaction (8 SGD steps on a fresh batch of 32 points)".into(),
        y_label: "cross-entropy loss on the batch (nats)".into(),
        series: vec![Series::numbered(
            "the new weights' loss on the transaction's batch (ModelTrained)",
            [200, 40, 40],
            Style::LinePoints,
            &losses,
        )],
        legend: Legend::UpperRight,
        y_from_zero: true,
    }
    .save(&path)?;
    println!("wrote {}", path.display());
    Ok(Report { losses, gas, model })
}
