//! What a follower trusts: only the genesis it pinned (`--genesis-hash`). Without a pin it
//! does not start; with a wrong one it refuses, naming both hashes; a followed node that
//! serves a committee no node could trust (threshold 0, a member twice, no members) is refused
//! by name, whatever hash was pinned; with the right pin it syncs.

use crate::utils::*;
use alloy::{
    primitives::{B256, U256},
    providers::Provider,
    rpc::types::TransactionRequest,
};
use anh::NodeConfig;
use axum::{Json, Router, routing::post};
use serde_json::{Value, json};

/// A JSON-RPC server that answers every call with `result` (a forged `anh_chainConfig`).
async fn forged_upstream(result: Value) -> String {
    let app = Router::new().route(
        "/",
        post(move |Json(request): Json<Value>| {
            let result = result.clone();
            async move { Json(json!({ "jsonrpc": "2.0", "id": request["id"], "result": result })) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// Without `--genesis-hash` a follower does not start, and says which flags pin the chain;
/// the `anh` binary exits non-zero with the same words.
#[tokio::test(flavor = "multi_thread")]
async fn follow_without_a_pin_refuses_to_start() {
    let producer = node().await;
    let config = NodeConfig { follow: Some(producer.http_endpoint()), ..NodeConfig::test() };
    let error = refused(config).await;
    assert_eq!(
        error,
        "follow: a follower must pin the chain it follows: pass --genesis-hash HASH (the hash of \
         block 0, `cast block 0 -f hash` on a node you trust) or --chain FILE"
    );
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_anh"))
        .args(["node", "--port", "0", "--follow", &producer.http_endpoint()])
        .output()
        .expect("anh runs");
    assert!(!output.status.success(), "anh node --follow without a pin exited successfully");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("error: {error}")), "{stderr}");
}

/// A wrong `--genesis-hash` is refused, naming the pinned hash and the one the followed
/// node's configuration gives.
#[tokio::test(flavor = "multi_thread")]
async fn follow_with_a_wrong_genesis_hash_refuses_to_start() {
    let producer = node().await;
    let url = producer.http_endpoint();
    let actual = genesis_hash(&url).await;
    let pinned = B256::repeat_byte(0x42);
    let config =
        NodeConfig { follow: Some(url.clone()), genesis_hash: Some(pinned), ..NodeConfig::test() };
    assert_eq!(
        refused(config).await,
        format!(
            "genesis mismatch: --genesis-hash pins block 0 {pinned}, but the chain configuration \
             of {url} gives block 0 {actual}; refusing to start"
        )
    );
    // Another chain's configuration does not hash to this chain's pin either.
    let other = node_with(NodeConfig {
        genesis: anh_evm_host::GenesisConfig { chain_id: 7, ..Default::default() },
        ..NodeConfig::test()
    })
    .await;
    let config = NodeConfig {
        follow: Some(other.http_endpoint()),
        genesis_hash: Some(actual),
        ..NodeConfig::test()
    };
    let error = refused(config).await;
    assert!(error.starts_with(&format!("genesis mismatch: --genesis-hash pins block 0 {actual}")));
    assert!(error.contains(&genesis_hash(&other.http_endpoint()).await.to_string()), "{error}");
}

/// With the right pin the follower syncs to the producer's blocks.
#[tokio::test(flavor = "multi_thread")]
async fn follow_with_the_pinned_genesis_syncs() {
    let producer = node().await;
    let url = producer.http_endpoint();
    let provider = provider(&producer, KEY0);
    let tx = TransactionRequest::default().to(ADDR1).value(U256::from(1234));
    let receipt = send(&provider, tx).await;
    let height = receipt.block_number.unwrap();
    let follower = node_with(follower_config(&url).await).await;
    let furl = follower.http_endpoint();
    synced(&furl, height).await;
    let theirs = provider.get_block_by_number(height.into()).await.unwrap().unwrap();
    let ours = provider_at(&furl, KEY0).get_block_by_number(height.into()).await.unwrap().unwrap();
    assert_eq!(ours.header.hash, theirs.header.hash);
}

/// A followed node serving a committee with threshold 0, a member listed twice, or no
/// members is refused at start-up with the problem named — even with its own genesis hash
/// pinned (validation comes first).
#[tokio::test(flavor = "multi_thread")]
async fn follow_refuses_an_invalid_committee() {
    let producer = node().await;
    let honest =
        rpc(&producer.http_endpoint(), "anh_chainConfig", json!([])).await["result"].clone();
    let members = honest["genesis"]["committee"]["members"].clone();
    assert_eq!(members.as_array().unwrap().len(), 3, "{honest}");
    let forge = |edit: &dyn Fn(&mut Value)| {
        let mut config = honest.clone();
        edit(&mut config["genesis"]["committee"]);
        config
    };
    let cases = [
        (
            forge(&|c| c["threshold"] = json!(0)),
            "a committee of 3 needs a threshold between 1 and 3, not 0".to_string(),
        ),
        (
            forge(&|c| c["members"][1] = c["members"][0].clone()),
            format!(
                "committee members must be distinct: {} is listed twice",
                members[0].as_str().unwrap().parse::<alloy::primitives::Address>().unwrap()
            ),
        ),
        (forge(&|c| c["members"] = json!([])), "the committee has no members".to_string()),
    ];
    for (config, problem) in cases {
        let url = forged_upstream(config).await;
        let pin = serde_json::from_value(honest["genesisHash"].clone()).unwrap();
        let error = refused(NodeConfig {
            follow: Some(url.clone()),
            genesis_hash: Some(pin),
            ..NodeConfig::test()
        })
        .await;
        assert_eq!(
            error,
            format!("follow: {url} has an executor committee this node cannot trust: {problem}")
        );
    }
}

/// `anh chain spec` prints a spec a node starts from; a producer and a follower started from
/// the same spec (the follower pins nothing else) agree on every block, and the follower takes
/// neither genesis nor committee from the followed node.
#[tokio::test(flavor = "multi_thread")]
async fn follow_from_a_chain_spec() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_anh"))
        .args(["chain", "spec", "--chain-id", "5", "--threshold", "3"])
        .output()
        .expect("anh runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    let printed: Value = serde_json::from_str(&text).unwrap();
    for key in ["chainId", "gasLimit", "baseFee", "timestamp", "committee", "maxTensorElements"] {
        assert!(printed.get(key).is_some(), "{key} missing: {printed}");
    }
    assert_eq!(printed["dev"], true);
    let spec = anh::ChainSpec::parse(&text).expect("the printed spec parses");
    assert_eq!((spec.chain_id, spec.committee.threshold), (5, 3));
    assert_eq!(spec.committee.members.len(), 3);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_anh"))
        .args(["chain", "spec", "--threshold", "0"])
        .output()
        .expect("anh runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "error: executor committee: a committee of 3 needs a threshold between 1 and 3, not 0"
        ),
        "{stderr}"
    );

    let producer = node_with(NodeConfig { chain: Some(spec.clone()), ..NodeConfig::test() }).await;
    let url = producer.http_endpoint();
    assert_eq!(producer.backend().genesis(), &spec.genesis());
    let provider = provider(&producer, KEY0);
    let height = send(&provider, TransactionRequest::default().to(ADDR1).value(U256::from(9)))
        .await
        .block_number
        .unwrap();
    let follower = node_with(NodeConfig {
        follow: Some(url.clone()),
        chain: Some(spec.clone()),
        ..NodeConfig::test()
    })
    .await;
    assert_eq!(follower.backend().genesis(), &spec.genesis());
    let furl = follower.http_endpoint();
    synced(&furl, height).await;
    assert_eq!(follower.backend().latest().hash, producer.backend().block(height).unwrap().hash);

    // A spec of another chain (another genesis timestamp) is refused, naming both hashes.
    let other = anh::ChainSpec { timestamp: spec.timestamp + 1, ..spec.clone() };
    let error =
        refused(NodeConfig { follow: Some(url.clone()), chain: Some(other), ..NodeConfig::test() })
            .await;
    let theirs = genesis_hash(&url).await;
    assert!(error.starts_with("genesis mismatch: --chain gives block 0 0x"), "{error}");
    assert!(
        error.ends_with(&format!(", but {url} serves block 0 {theirs}; refusing to start")),
        "{error}"
    );
    // A spec with an invalid committee starts nothing.
    let mut bad = spec.clone();
    bad.committee.threshold = 0;
    let error =
        refused(NodeConfig { follow: Some(url), chain: Some(bad), ..NodeConfig::test() }).await;
    assert_eq!(
        error,
        "chain spec: --chain: invalid committee: a committee of 3 needs a threshold between 1 and \
         3, not 0"
    );
    // A producer whose executors are not the spec's members refuses to start.
    let mut two = NodeConfig { chain: Some(spec), ..NodeConfig::test() };
    two.committee.in_process = Some(2);
    let error = refused(two).await;
    assert!(error.starts_with("executor committee: --chain names the members ["), "{error}");
}
