//! ETH-transfer throughput through `eth_sendRawTransaction` with automine: `anh node` and
//! anvil 1.7.1 side by side, in one run.
//!
//! Ten senders (the dev accounts) each send a presigned transfer, wait until its receipt is
//! there (polling `eth_getTransactionReceipt`), and send the next — what a client that
//! sends and waits does. Throughput is measured per window of 1 000 transfers, so a node
//! that slows down as its chain grows shows it.
//!
//! Run: `./dev bench throughput` (or `cargo bench -p anh --bench throughput`).
//! Environment: `ANH_BENCH_WINDOWS` (default 3), `ANH_ANVIL` (path to anvil's native binary).

use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEnvelope},
    eips::eip2718::Encodable2718,
    primitives::{Address, TxKind, U256, hex},
    signers::{SignerSync, local::MnemonicBuilder},
};
use serde_json::json;
use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

mod common;

use common::{MNEMONIC, anvil_binary, call, start};

const SENDERS: usize = 10;
const WINDOW: usize = 1000;

/// Presigned transfers: `per_sender` for each of the ten dev accounts.
fn presign(per_sender: usize) -> Vec<Vec<String>> {
    (0..SENDERS)
        .map(|i| {
            let signer = MnemonicBuilder::english()
                .phrase(MNEMONIC)
                .index(i as u32)
                .unwrap()
                .build()
                .unwrap();
            (0..per_sender)
                .map(|nonce| {
                    let tx = TxEip1559 {
                        chain_id: 31337,
                        nonce: nonce as u64,
                        gas_limit: 21_000,
                        max_fee_per_gas: 20_000_000_000,
                        max_priority_fee_per_gas: 1_000_000_000,
                        to: TxKind::Call(Address::with_last_byte(0xee)),
                        value: U256::from(1),
                        access_list: Default::default(),
                        input: Default::default(),
                    };
                    let signature = signer.sign_hash_sync(&tx.signature_hash()).unwrap();
                    let envelope: TxEnvelope = tx.into_signed(signature).into();
                    hex::encode_prefixed(envelope.encoded_2718())
                })
                .collect()
        })
        .collect()
}

/// Sends `txs[s][range]` for every sender s concurrently; returns the elapsed time.
async fn run_window(
    url: &str,
    txs: &Arc<Vec<Vec<String>>>,
    range: std::ops::Range<usize>,
) -> Duration {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for sender in 0..SENDERS {
        let (url, txs, range) = (url.to_string(), txs.clone(), range.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            for i in range {
                let hash =
                    call(&client, &url, "eth_sendRawTransaction", json!([txs[sender][i]])).await;
                loop {
                    let receipt =
                        call(&client, &url, "eth_getTransactionReceipt", json!([hash])).await;
                    if !receipt.is_null() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    start.elapsed()
}

fn main() {
    let windows: usize =
        std::env::var("ANH_BENCH_WINDOWS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let per_sender = windows * WINDOW / SENDERS;
    let txs = Arc::new(presign(per_sender));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();

    let anh = PathBuf::from(env!("CARGO_BIN_EXE_anh"));
    let anvil = anvil_binary();
    let nodes: Vec<(&str, PathBuf, Vec<&str>, &str)> = vec![
        ("anh node", anh, vec!["node"], "Listening on"),
        ("anvil 1.7.1", anvil, vec![], "Listening on"),
    ];

    let mut rows = Vec::new();
    for (name, program, args, ready) in nodes {
        let server = start(&program, &args, ready);
        let mut rates = Vec::new();
        for w in 0..windows {
            let per = WINDOW / SENDERS;
            let elapsed = runtime.block_on(run_window(&server.url, &txs, w * per..(w + 1) * per));
            rates.push(WINDOW as f64 / elapsed.as_secs_f64());
        }
        rows.push((name, rates));
        drop(server);
    }

    println!(
        "\nETH transfers through eth_sendRawTransaction, automine, {SENDERS} concurrent senders (send, wait for receipt, repeat)\n"
    );
    let mut header = "| node |".to_string();
    let mut rule = "|---|".to_string();
    for w in 0..windows {
        header.push_str(&format!(" transfers {}–{} (tx/s) |", w * WINDOW + 1, (w + 1) * WINDOW));
        rule.push_str("---:|");
    }
    println!("{header}\n{rule}");
    for (name, rates) in &rows {
        let cells: Vec<String> = rates.iter().map(|r| format!(" {r:.0} |")).collect();
        println!("| {name} |{}", cells.concat());
    }
    let ratio: Vec<String> =
        rows[0].1.iter().zip(&rows[1].1).map(|(a, b)| format!(" {:.1}× |", a / b)).collect();
    println!("| anh / anvil |{}", ratio.concat());
}
