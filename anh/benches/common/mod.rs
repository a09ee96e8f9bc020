//! What the node-vs-anvil benchmarks share: starting a node binary on a free port, finding
//! anvil, and one JSON-RPC call.

#![allow(dead_code)] // Each benchmark uses part of it.

use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEnvelope},
    eips::eip2718::Encodable2718,
    primitives::{Address, B256, Bytes, TxKind, U256, hex, keccak256},
    signers::{
        SignerSync,
        local::{MnemonicBuilder, PrivateKeySigner},
    },
};
use serde_json::{Value, json};
use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
};

/// The mnemonic of the dev accounts (anvil's and ANH's default).
pub(crate) const MNEMONIC: &str = "test test test test test test test test test test test junk";

/// A node process, killed on drop.
pub(crate) struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Server {
    /// The node process's id (to read its memory in `/proc/<pid>/status`).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts `program args --port P` and waits for the line containing `ready` on its stdout.
pub(crate) fn start(program: &PathBuf, args: &[&str], ready: &str) -> Server {
    let port = free_port().to_string();
    let mut child = Command::new(program)
        .args(args)
        .args(["--port", &port])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("server exited before it was ready").unwrap();
        if line.contains(ready) {
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    Server { child, url: format!("http://127.0.0.1:{port}") }
}

/// anvil's native binary: `$ANH_ANVIL`, or the one `./dev setup` installs.
pub(crate) fn anvil_binary() -> PathBuf {
    let anvil = std::env::var("ANH_ANVIL").map(PathBuf::from).unwrap_or_else(|_| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
    });
    assert!(anvil.exists(), "anvil not found at {}: run ./dev setup", anvil.display());
    anvil
}

/// Calls `method`; panics on an error answer.
pub(crate) async fn call(
    client: &reqwest::Client,
    url: &str,
    method: &str,
    params: Value,
) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let reply: Value = client.post(url).json(&body).send().await.unwrap().json().await.unwrap();
    if let Some(error) = reply.get("error") {
        panic!("{method} failed: {error}");
    }
    reply["result"].clone()
}

/// Dev account `index` (of [`MNEMONIC`]).
pub(crate) fn dev_signer(index: u32) -> PrivateKeySigner {
    MnemonicBuilder::english().phrase(MNEMONIC).index(index).unwrap().build().unwrap()
}

/// A signed EIP-1559 transaction on the dev chain (id 31337): its raw bytes (hex) and its
/// hash. A transaction without input sends 1 wei (a transfer); one with input sends none.
pub(crate) fn sign(
    signer: &PrivateKeySigner,
    nonce: u64,
    to: Address,
    input: Bytes,
    gas: u64,
) -> (String, B256) {
    let tx = TxEip1559 {
        chain_id: 31337,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: 20_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(to),
        value: U256::from(u8::from(input.is_empty())),
        access_list: Default::default(),
        input,
    };
    let signature = signer.sign_hash_sync(&tx.signature_hash()).unwrap();
    let raw = TxEnvelope::from(tx.into_signed(signature)).encoded_2718();
    (hex::encode_prefixed(&raw), keccak256(&raw))
}
