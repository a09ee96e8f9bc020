//! Trains a classifier on chain and draws its loss curve.
//!
//! Starts an in-process `anh node` (the default in-process committee of 3, threshold 2),
//! uploads and registers a small MLP (2-8-2), then sends 25 `train` transactions, each 8 SGD
//! steps (learning rate 0.2) on a fresh batch of 32 samples from two noisy blobs. Every transaction's
//! `ModelTrained` event carries the new weights' loss; the example prints them and writes the
//! curve to a PNG (default `loss-curve.png`). Plain SGD with a small rate lowers the loss on
//! the batch it steps on, which the committee's train-loss rule checks; Adam, whose momentum
//! comes from earlier batches, can raise it once the loss is tiny, and such a transaction
//! reverts `TrainingFailed` with the two losses.
//!
//! ```sh
//! ./dev setup && cargo run -p anh --example loss_curve -- loss-curve.png
//! ```

use alloy::{
    network::{EthereumWallet, TransactionBuilder},
    primitives::{Bytes, keccak256},
    providers::{Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
    sol_types::{SolCall, SolEvent},
};
use anh::NodeConfig;
use anh_precompiles::{
    abi::{IModelRegistry, ITrain, Tensor, TrainParams},
    registry, train,
};
use std::io::Write;

/// Dev account 0.
const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const ROUNDS: u64 = 25;

/// `n` samples of two noisy blobs around (−1, −1) and (1, 1), deterministic per `seed`.
fn blobs(n: usize, seed: u64) -> (Tensor, Tensor) {
    let mut state = seed.wrapping_add(1);
    let mut noise = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2.0
    };
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for i in 0..n {
        let label = (i % 2) as i64;
        let centre = if label == 0 { -1.0f32 } else { 1.0 };
        for _ in 0..2 {
            x.extend((centre + noise()).to_be_bytes());
        }
        y.extend(label.to_be_bytes());
    }
    (
        Tensor { dtype: 1, shape: vec![n as u64, 2], data: x.into() },
        Tensor { dtype: 4, shape: vec![n as u64], data: y.into() },
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args().nth(1).unwrap_or_else(|| "loss-curve.png".into());
    let node = anh::spawn(NodeConfig::test()).await?;
    let url = node.http_endpoint();
    let signer: PrivateKeySigner = KEY.parse()?;
    let provider =
        ProviderBuilder::new().wallet(EthereumWallet::from(signer)).connect_http(url.parse()?);
    let send = |to, data: Vec<u8>| {
        let provider = provider.clone();
        async move {
            let tx = TransactionRequest::default()
                .with_to(to)
                .with_input(data)
                .with_gas_limit(20_000_000);
            provider.send_transaction(tx).await?.get_receipt().await
        }
    };

    let bytes = anh_runtime::synth::classifier(2, &[8], 2, 3);
    let mut model = keccak256(&bytes);
    let client = reqwest::Client::new();
    let put = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "anh_putModel", "params": [Bytes::from(bytes)]});
    client.post(&url).json(&put).send().await?.error_for_status()?;
    let register = IModelRegistry::registerCall { model, name: "blobs-mlp".into() }.abi_encode();
    assert!(send(registry::ADDRESS, register).await?.status(), "registration failed");

    let mut losses = Vec::new();
    for round in 0..ROUNDS {
        let (x, y) = blobs(32, round);
        let params =
            TrainParams { steps: 8, learningRate: 2 * 10u64.pow(17), loss: 2, optimizer: 1 };
        let call = ITrain::trainCall { model, batch: vec![x, y], params };
        let receipt = send(train::ADDRESS, call.abi_encode()).await?;
        let Some(log) = receipt.inner.logs().iter().find(|l| l.address() == train::ADDRESS) else {
            // Replay it as a call for the revert reason.
            let tx =
                TransactionRequest::default().with_to(train::ADDRESS).with_input(call.abi_encode());
            let reason = provider.call(tx).await.err().map(|e| e.to_string()).unwrap_or_default();
            return Err(format!("train transaction {} reverted: {reason}", round + 1).into());
        };
        let event = ITrain::ModelTrained::decode_log_data(log.data())?;
        let loss = i128::try_from(event.loss)? as f64 / 1e18;
        println!(
            "tx {:>2}  block {:>3}  gas {:>8}  loss {loss:.5}  model {}",
            round + 1,
            receipt.block_number.unwrap_or_default(),
            receipt.gas_used,
            event.model
        );
        losses.push(loss);
        model = event.model;
    }
    std::fs::File::create(&out)?.write_all(&plot(&losses, 640, 400))?;
    println!(
        "wrote {out}: loss {:.4} → {:.4} over {ROUNDS} train transactions",
        losses[0],
        losses[losses.len() - 1]
    );
    Ok(())
}

/// The curve of `values` (y from 0 to their maximum) on a white `width`×`height` canvas with
/// axes, as a PNG file.
fn plot(values: &[f64], width: usize, height: usize) -> Vec<u8> {
    let mut pixels = vec![[255u8; 3]; width * height];
    let (w, h) = (width as i64, height as i64);
    let (left, right, top, bottom) = (40i64, w - 20, 20i64, h - 30);
    let mut put = |x: i64, y: i64, colour: [u8; 3]| {
        if (0..width as i64).contains(&x) && (0..height as i64).contains(&y) {
            pixels[y as usize * width + x as usize] = colour;
        }
    };
    let line = |(x0, y0): (i64, i64),
                (x1, y1): (i64, i64),
                colour: [u8; 3],
                put: &mut dyn FnMut(i64, i64, [u8; 3])| {
        let steps = (x1 - x0).abs().max((y1 - y0).abs()).max(1);
        for i in 0..=steps {
            let (x, y) = (x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps);
            for (dx, dy) in [(0, 0), (1, 0), (0, 1)] {
                put(x + dx, y + dy, colour);
            }
        }
    };
    let axis = [60, 60, 60];
    line((left, bottom), (right, bottom), axis, &mut put);
    line((left, top), (left, bottom), axis, &mut put);
    let max = values.iter().copied().fold(f64::MIN_POSITIVE, f64::max);
    let point = |i: usize, v: f64| {
        let x = left + ((right - left) as f64 * i as f64 / (values.len().max(2) - 1) as f64) as i64;
        let y = bottom - ((bottom - top) as f64 * (v / max).clamp(0.0, 1.0)) as i64;
        (x, y)
    };
    for i in 1..values.len() {
        line(point(i - 1, values[i - 1]), point(i, values[i]), [200, 40, 40], &mut put);
    }
    png(&pixels, width, height)
}

/// A minimal PNG encoder: 8-bit RGB, one zlib-compressed IDAT.
fn png(pixels: &[[u8; 3]], width: usize, height: usize) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend((data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend(kind);
        out.extend(data);
        out.extend(crc.sum().to_be_bytes());
    }
    let mut raw = Vec::with_capacity((width * 3 + 1) * height);
    for row in pixels.chunks(width) {
        raw.push(0);
        raw.extend(row.iter().flatten());
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&raw).expect("in memory");
    let idat = z.finish().expect("in memory");
    let mut header = Vec::new();
    header.extend((width as u32).to_be_bytes());
    header.extend((height as u32).to_be_bytes());
    header.extend([8, 2, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &header);
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    out
}
