//! `--data-dir`: the `anh` binary is killed with SIGKILL at arbitrary moments while
//! transactions flow, and every restart resumes with every mined transaction and the same
//! blocks and state roots.

use crate::utils::*;
use alloy::{
    network::TransactionBuilder,
    primitives::{B256, U256},
    providers::Provider,
    rpc::types::TransactionRequest,
};
use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::sync::Mutex;

/// A running `anh node` process.
struct NodeProcess {
    child: Child,
    url: String,
}

impl NodeProcess {
    /// Starts `anh node --port 0 --data-dir DIR` and waits for its "Listening on" line.
    fn start(dir: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_anh"))
            .args(["node", "--port", "0", "--data-dir"])
            .arg(dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("anh starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = loop {
            assert!(Instant::now() < deadline, "anh did not report its address");
            let line = lines.next().expect("anh exited before listening").expect("stdout readable");
            if let Some(addr) = line.strip_prefix("Listening on ") {
                break format!("http://{}", addr.trim());
            }
        };
        // Keep draining stdout so the process never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, url }
    }

    /// SIGKILL: no shutdown code runs.
    fn kill9(mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("reaped");
    }
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    tx: B256,
    block: u64,
    block_hash: B256,
}

/// Deterministic pseudo-random delays (no dependency on a RNG crate).
fn delays(seed: u64, count: usize) -> Vec<Duration> {
    let mut x = seed;
    (0..count)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            Duration::from_millis(30 + (x >> 33) % 400)
        })
        .collect()
}

/// Kill -9 at arbitrary moments under load; every restart keeps every mined transaction.
#[tokio::test(flavor = "multi_thread")]
async fn survives_kill9_at_any_moment() {
    let dir = tempfile::tempdir().unwrap();
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let mut head_before = 0;
    for (round, delay) in delays(7, 5).into_iter().enumerate() {
        let node = NodeProcess::start(dir.path());
        let provider = provider_at(&node.url, KEY0);

        // Everything seen before must still be there, in the same blocks.
        for s in seen.lock().await.iter() {
            let receipt = provider.get_transaction_receipt(s.tx).await.unwrap();
            let receipt =
                receipt.unwrap_or_else(|| panic!("round {round}: mined tx {} lost", s.tx));
            assert_eq!(
                (receipt.block_number, receipt.block_hash),
                (Some(s.block), Some(s.block_hash))
            );
        }
        let head = provider.get_block_number().await.unwrap();
        assert!(head >= head_before, "round {round}: head went back from {head_before} to {head}");

        // Send transfers until the kill, recording what was mined.
        let stop = Arc::new(AtomicBool::new(false));
        let sender = {
            let (stop, seen, provider) = (stop.clone(), seen.clone(), provider.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let tx = TransactionRequest::default().with_to(ADDR1).with_value(U256::from(1));
                    let Ok(pending) = provider.send_transaction(tx).await else { break };
                    let Ok(receipt) =
                        pending.with_timeout(Some(Duration::from_secs(5))).get_receipt().await
                    else {
                        break;
                    };
                    seen.lock().await.push(Seen {
                        tx: receipt.transaction_hash,
                        block: receipt.block_number.unwrap(),
                        block_hash: receipt.block_hash.unwrap(),
                    });
                }
            })
        };
        tokio::time::sleep(delay).await;
        head_before = seen.lock().await.iter().map(|s| s.block).max().unwrap_or(0);
        node.kill9();
        stop.store(true, Ordering::Relaxed);
        let _ = sender.await;
    }

    // A final restart: the state is consistent (the node checks its state root at start)
    // and the chain goes on.
    let node = NodeProcess::start(dir.path());
    let provider = provider_at(&node.url, KEY0);
    let count = seen.lock().await.len();
    assert!(count > 0, "no transaction was mined during the rounds");
    for s in seen.lock().await.iter() {
        assert!(provider.get_transaction_receipt(s.tx).await.unwrap().is_some(), "lost {}", s.tx);
    }
    let nonce = provider.get_transaction_count(ADDR0).await.unwrap();
    assert!(nonce >= count as u64, "nonce {nonce} < {count} mined transfers");
    let receipt =
        send(&provider, TransactionRequest::default().with_to(ADDR1).with_value(U256::from(1)))
            .await;
    assert!(receipt.status());
    node.kill9();
}

/// A clean restart returns identical blocks (hashes, state roots) and balances, and a data
/// directory refuses other genesis parameters.
#[tokio::test(flavor = "multi_thread")]
async fn restart_keeps_blocks_and_state() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProcess::start(dir.path());
    let provider = provider_at(&node.url, KEY0);
    let address = deploy(&provider, "Storage").await;
    let storage = Storage::new(address, &provider);
    mined(storage.set(U256::from(1), U256::from(99))).await;
    let head = provider.get_block_by_number(Default::default()).await.unwrap().unwrap();
    let balance = provider.get_balance(ADDR0).await.unwrap();
    node.kill9();

    let node = NodeProcess::start(dir.path());
    let provider = provider_at(&node.url, KEY0);
    let again = provider.get_block_by_number(head.header.number.into()).await.unwrap().unwrap();
    assert_eq!(again.header.hash, head.header.hash);
    assert_eq!(again.header.state_root, head.header.state_root);
    assert_eq!(provider.get_balance(ADDR0).await.unwrap(), balance);
    assert_eq!(
        Storage::new(address, &provider).get(U256::from(1)).call().await.unwrap(),
        U256::from(99)
    );
    node.kill9();

    let output = Command::new(env!("CARGO_BIN_EXE_anh"))
        .args(["node", "--port", "0", "--chain-id", "5", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("other genesis parameters"), "{stderr}");
}
