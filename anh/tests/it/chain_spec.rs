//! Non-dev chains (`"dev": false` in the chain spec): dev methods that change state, time,
//! fees or senders answer an error, ordinary transactions work, the committee needs a
//! majority, and block 0 commits to the flag (and to the DNN parameters), so a follower's pin
//! covers it.

use crate::utils::*;
use alloy::{primitives::U256, providers::Provider, rpc::types::TransactionRequest};
use anh::{ChainSpec, NodeConfig};
use serde_json::{Value, json};

/// The exact refusal of `method` on a non-dev chain.
fn disabled(method: &str) -> String {
    format!(
        "{method} is disabled on this chain: its chain spec says \"dev\": false (dev methods \
         that change state, time, fees or senders would not be consensus)"
    )
}

/// The spec `anh node` with default flags would start, as a node reads it back from a file
/// with `"dev"` set to `dev`.
async fn spec_file(dev: bool) -> ChainSpec {
    let mut spec = anh::chain_spec(&NodeConfig::test()).await.expect("a spec");
    spec.dev = dev;
    let file = tempfile::NamedTempFile::new().expect("a temporary file");
    std::fs::write(file.path(), serde_json::to_string_pretty(&spec).unwrap()).unwrap();
    let text = std::fs::read_to_string(file.path()).unwrap();
    assert_eq!(text.contains("\"dev\": false"), !dev, "{text}");
    ChainSpec::parse(&text).expect("the spec parses")
}

/// On a node started from a `"dev": false` spec, `anvil_setBalance` (and the other dev methods
/// that would not be consensus) answer -32000 naming the method and change nothing, while a
/// signed transfer is mined as on any chain.
#[tokio::test(flavor = "multi_thread")]
async fn non_dev_chain_refuses_dev_methods() {
    let spec = spec_file(false).await;
    let node = node_with(NodeConfig { chain: Some(spec), ..NodeConfig::test() }).await;
    assert!(!node.backend().is_dev());
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    let before = provider.get_balance(ADDR1).await.unwrap();

    let (code, message) = rpc_error(&url, "anvil_setBalance", json!([ADDR1, "0x1234567890"])).await;
    assert_eq!((code, message), (-32000, disabled("anvil_setBalance")));
    assert_eq!(provider.get_balance(ADDR1).await.unwrap(), before, "the balance is unchanged");
    for (method, params) in [
        ("hardhat_setBalance", json!([ADDR1, "0x1"])),
        ("anvil_impersonateAccount", json!([ADDR1])),
        ("evm_increaseTime", json!(["0x10"])),
        ("anvil_setNextBlockBaseFeePerGas", json!(["0x1"])),
        ("evm_snapshot", json!([])),
        ("anvil_reset", json!([])),
    ] {
        assert_eq!(rpc_error(&url, method, params).await, (-32000, disabled(method)));
    }
    assert_eq!(
        rpc_error(&url, "evm_mine", json!(["0xffffffffff"])).await,
        (-32000, disabled("evm_mine with a timestamp"))
    );

    let receipt =
        send(&provider, TransactionRequest::default().to(ADDR1).value(U256::from(9))).await;
    assert!(receipt.status());
    assert_eq!(provider.get_balance(ADDR1).await.unwrap(), before + U256::from(9));
    let block = node.backend().block(receipt.block_number.unwrap()).unwrap();
    assert!(block.dev.is_empty());
    // Mining control stays.
    assert_eq!(rpc(&url, "evm_mine", json!([])).await["result"], "0x0");
}

/// A non-dev chain's committee needs a threshold above half its members: `anh chain spec
/// --no-dev` refuses 2 of 4, and prints `"dev": false` for 3 of 4.
#[test]
fn non_dev_spec_needs_a_majority() {
    let spec = |threshold: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_anh"))
            .args(["chain", "spec", "--no-dev", "--executors", "4", "--threshold", threshold])
            .output()
            .expect("anh runs")
    };
    let output = spec("2");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "chain spec: invalid committee: a non-dev chain (\"dev\": false) needs a majority \
             threshold: a committee of 4 needs a threshold above 2, not 2"
        ),
        "{stderr}"
    );
    let output = spec("3");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed["dev"], false);
    assert_eq!(printed["committee"]["threshold"], 3);
}

/// Block 0 commits to the dev flag: a follower pinned only by a non-dev producer's block 0
/// hash runs as a non-dev chain (it refuses blocks with a dev record), and a follower started
/// from the same spec with `"dev": true` refuses to start, since its block 0 differs.
#[tokio::test(flavor = "multi_thread")]
async fn dev_flag_is_pinned_by_block_0() {
    let non_dev = spec_file(false).await;
    let producer =
        node_with(NodeConfig { chain: Some(non_dev.clone()), ..NodeConfig::test() }).await;
    let url = producer.http_endpoint();
    let provider = provider(&producer, KEY0);
    let mined = send(&provider, TransactionRequest::default().to(ADDR1).value(U256::from(1)))
        .await
        .block_number
        .unwrap();

    let follower = node_with(follower_config(&url).await).await;
    assert!(!follower.backend().is_dev(), "the pinned block 0 says \"dev\": false");
    synced(&follower.http_endpoint(), mined).await;

    let dev = ChainSpec { dev: true, ..non_dev };
    let error =
        refused(NodeConfig { follow: Some(url.clone()), chain: Some(dev), ..NodeConfig::test() })
            .await;
    let theirs = genesis_hash(&url).await;
    assert!(
        error.starts_with("genesis mismatch: --chain gives block 0 0x")
            && error.ends_with(&format!("but {url} serves block 0 {theirs}; refusing to start")),
        "{error}"
    );
}

/// The DNN parameters are pinned by block 0: a follower holding the honest spec refuses a
/// producer that runs a larger tensor limit or a cheaper gas schedule (its block 0 differs),
/// while a follower pinned by that producer's own block 0 hash takes the producer's
/// parameters, as `anh_chainConfig` serves them, and replays with them.
#[tokio::test(flavor = "multi_thread")]
async fn dnn_parameters_are_pinned_by_block_0() {
    let honest = spec_file(true).await;
    let bigger =
        ChainSpec { max_tensor_elements: honest.max_tensor_elements * 4, ..honest.clone() };
    let mut gas = honest.gas;
    gas.gas_per_mmac /= 2;
    let cheaper = ChainSpec { gas, ..honest.clone() };
    for (what, theirs) in [("tensor limit", bigger), ("gas schedule", cheaper)] {
        let producer =
            node_with(NodeConfig { chain: Some(theirs.clone()), ..NodeConfig::test() }).await;
        let url = producer.http_endpoint();
        let error = refused(NodeConfig {
            follow: Some(url.clone()),
            chain: Some(honest.clone()),
            ..NodeConfig::test()
        })
        .await;
        assert!(error.starts_with("genesis mismatch: --chain gives block 0 0x"), "{what}: {error}");
        let served = rpc(&url, "anh_chainConfig", json!([])).await["result"]["genesis"].clone();
        assert_eq!(served["dnn"]["maxTensorElements"], json!(theirs.max_tensor_elements), "{what}");
        assert_eq!(served["dnn"]["gas"]["gasPerMmac"], json!(theirs.gas.gas_per_mmac), "{what}");

        let provider = provider(&producer, KEY0);
        let mined = send(&provider, TransactionRequest::default().to(ADDR1).value(U256::from(1)))
            .await
            .block_number
            .unwrap();
        let follower = node_with(follower_config(&url).await).await;
        let dnn = follower.backend().genesis().dnn;
        assert_eq!(
            (dnn.max_tensor_elements, dnn.gas),
            (theirs.max_tensor_elements, theirs.gas),
            "{what}: the follower runs the pinned chain's parameters"
        );
        synced(&follower.http_endpoint(), mined).await;
    }
}

/// A spec's gas schedule: the cold-model fields it leaves out take their measured values, and
/// a warm set larger than executors can be asked to hold is refused, naming the field.
#[tokio::test(flavor = "multi_thread")]
async fn warm_set_fields_default_and_are_bounded() {
    let spec = spec_file(true).await;
    let mut value = serde_json::to_value(&spec).unwrap();
    let gas = value["gas"].as_object_mut().expect("a gas schedule");
    for field in ["coldModelBase", "coldModelKib", "warmModels"] {
        assert!(gas.remove(field).is_some(), "{field} is written out");
    }
    let parsed = ChainSpec::parse(&value.to_string()).expect("older specs still parse");
    assert_eq!(parsed.gas, anh_primitives::GasSchedule::MEASURED);
    value["gas"]["warmModels"] = json!(5000);
    assert_eq!(
        ChainSpec::parse(&value.to_string()).unwrap_err(),
        "\"gas.warmModels\" is 5000: at most 1024 (every executor keeps the sessions of that \
         many models)"
    );
}
