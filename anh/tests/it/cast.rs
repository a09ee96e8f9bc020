//! Foundry's `cast` (npm `@foundry-rs/cast` 1.7.1) against the node.

use crate::utils::*;
use alloy::{primitives::U256, sol_types::SolValue};
use serde_json::Value;
use std::{path::PathBuf, process::Command};

/// The native `cast` binary (not the npm wrapper, which exits 0 on failure).
fn cast_binary() -> PathBuf {
    if let Ok(path) = std::env::var("ANH_CAST") {
        return PathBuf::from(path);
    }
    let path = repo_root().join("node_modules/@foundry-rs/cast-linux-amd64/bin/cast");
    assert!(
        path.exists(),
        "Foundry's cast is not installed: run `./dev setup` (or scripts/setup-node.sh)"
    );
    path
}

/// Runs cast with `args`; returns stdout, failing the test with stderr on a non-zero exit.
fn cast(args: &[&str]) -> String {
    let output = Command::new(cast_binary()).args(args).output().expect("cast runs");
    assert!(
        output.status.success(),
        "cast {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8").trim().to_string()
}

/// `cast send` (transfer, creation, call), `cast call`, `cast receipt`, `cast logs`.
#[tokio::test(flavor = "multi_thread")]
async fn cast_workflow() {
    let node = node().await;
    let url = node.http_endpoint();
    let run = move |args: Vec<String>| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            let mut full: Vec<&str> = args.iter().map(String::as_str).collect();
            full.splice(1..1, ["--rpc-url", url.as_str()]);
            cast(&full)
        })
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();

    // A transfer.
    let out =
        run(s(&["send", "--private-key", KEY0, "--json", &ADDR1.to_string(), "--value", "1ether"]))
            .await
            .unwrap();
    let receipt: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(receipt["status"], "0x1");
    let balance = run(s(&["balance", &ADDR1.to_string()])).await.unwrap();
    assert_eq!(balance, "10001000000000000000000");

    // A contract creation with a constructor argument.
    let mut code = bytecode("Counter").to_vec();
    code.extend_from_slice(&U256::from(41).abi_encode());
    let code = alloy::primitives::hex::encode_prefixed(code);
    let out = run(s(&["send", "--private-key", KEY0, "--json", "--create", &code])).await.unwrap();
    let receipt: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(receipt["status"], "0x1");
    let address = receipt["contractAddress"].as_str().unwrap().to_string();

    // A call, a transaction, its receipt and its logs.
    assert_eq!(run(s(&["call", &address, "get()(uint256)"])).await.unwrap(), "41");
    let out = run(s(&[
        "send",
        "--private-key",
        KEY0,
        "--json",
        &address,
        "increment(string)",
        "from cast",
    ]))
    .await
    .unwrap();
    let sent: Value = serde_json::from_str(&out).unwrap();
    let hash = sent["transactionHash"].as_str().unwrap().to_string();
    let out = run(s(&["receipt", "--json", &hash])).await.unwrap();
    let receipt: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(receipt["status"], "0x1");
    assert_eq!(receipt["logs"].as_array().unwrap().len(), 1);
    assert_eq!(run(s(&["call", &address, "get()(uint256)"])).await.unwrap(), "42");
    let out = run(s(&[
        "logs",
        "--json",
        "--from-block",
        "0",
        "--address",
        &address,
        "Incremented(address indexed,uint256 indexed,string)",
    ]))
    .await
    .unwrap();
    let logs: Value = serde_json::from_str(&out).unwrap();
    let logs = logs.as_array().unwrap();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0]["transactionHash"], hash);

    // A revert reason comes through cast's own decoding.
    let output = Command::new(cast_binary())
        .args(["call", "--rpc-url", &node.http_endpoint(), &address, "fail(string)", "no way"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no way"), "{stderr}");
}
