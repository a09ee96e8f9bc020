//! The Solidity libraries (`contracts/src/dnn/Dnn.sol`, `TensorLib.sol`) against a real node,
//! through the `DnnLibHarness` fixture: tensors built and read in Solidity, a model trained and
//! used for classification through `Dnn`, fixed-point conversion in the precompile and in the
//! library agreeing, and precompile reverts caught by selector.

use crate::utils::*;
use alloy::{
    primitives::{Address, B256, Bytes, I256, U256, keccak256},
    providers::DynProvider,
    sol_types::{SolCall, SolError},
};
use anh_precompiles::{abi::IModelRegistry, registry};
use serde_json::json;

mod harness {
    alloy::sol!(
        #[sol(rpc)]
        DnnLibHarness,
        "../contracts/out/DnnLibHarness.json"
    );
    alloy::sol! {
        error ValueOutOfRange(uint256 index, int256 value);
        error ShapeMismatch(uint256 elements, uint256 expected);
        error IndexOutOfRange(uint256 index, uint256 elements);
        error InputMismatch(uint256 input, string expected, string got);
    }
}
use harness::DnnLibHarness;

fn ints(values: &[i64]) -> Vec<I256> {
    values.iter().map(|&v| I256::try_from(v).unwrap()).collect()
}

/// The revert data of an eth_call, decoded from the error's `data`.
async fn revert_data(url: &str, to: Address, data: Vec<u8>) -> Bytes {
    let reply = rpc(url, "eth_call", json!([{ "to": to, "data": Bytes::from(data) }])).await;
    assert_eq!(reply["error"]["code"], 3, "{reply}");
    serde_json::from_value(reply["error"]["data"].clone()).unwrap()
}

async fn setup() -> (anh::NodeHandle, DynProvider, Address, B256) {
    let node = node().await;
    let provider = provider(&node, KEY0);
    let url = node.http_endpoint();
    let bytes = anh_runtime::synth::classifier(2, &[], 2, 4);
    let model = keccak256(&bytes);
    rpc(&url, "anh_putModel", json!([Bytes::from(bytes)])).await;
    let register = IModelRegistry::registerCall { model, name: "clf".into() }.abi_encode();
    let tx = alloy::rpc::types::TransactionRequest::default()
        .to(registry::ADDRESS)
        .input(register.into());
    let hash =
        *alloy::providers::Provider::send_transaction(&provider, tx).await.unwrap().tx_hash();
    assert!(wait_receipt(&provider, hash).await.status());
    let harness = deploy(&provider, "DnnLibHarness").await;
    (node, provider, harness, model)
}

/// `TensorLib` builds and reads int64 and fixed-point tensors exactly, reshapes, finds the
/// arg-max (floats in IEEE order, NaN never wins), and refuses what does not fit.
#[tokio::test(flavor = "multi_thread")]
async fn tensor_library() {
    let (node, provider, address, _) = setup().await;
    let url = node.http_endpoint();
    let harness = DnnLibHarness::new(address, &provider);
    let values = [-5, 0, 7, (1i64 << 62) / 1000, -3];
    let out = harness.roundTrip(ints(&values), 3).call().await.unwrap();
    assert_eq!(out.ints, ints(&values));
    let scaled: Vec<I256> =
        values.iter().map(|&v| I256::try_from(v as i128 * 10i128.pow(15)).unwrap()).collect();
    assert_eq!(out.fixeds, scaled, "3 decimals read as 18");
    assert_eq!(out.best, U256::from(3));
    assert_eq!(out.reshaped, vec![5u64, 1]);

    let floats: Vec<u8> = [-1.0f32, f32::NAN, 2.5, 2.5, f32::NEG_INFINITY, 2.4]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let t = DnnLibHarness::Tensor { dtype: 1, shape: vec![6], data: floats.into() };
    assert_eq!(
        harness.argmaxOf(t).call().await.unwrap(),
        U256::from(2),
        "first 2.5; NaN never wins"
    );
    let negatives: Vec<u8> = [-3.0f64, -0.5, -7.0].iter().flat_map(|v| v.to_be_bytes()).collect();
    let t = DnnLibHarness::Tensor { dtype: 2, shape: vec![3], data: negatives.into() };
    assert_eq!(harness.argmaxOf(t).call().await.unwrap(), U256::from(1));

    // One row of [1, 2, 3] logits: the next token after a position.
    let rows: Vec<u8> =
        [0.5f32, 0.1, -1.0, -2.0, 3.0, 3.0].iter().flat_map(|v| v.to_be_bytes()).collect();
    let t = DnnLibHarness::Tensor { dtype: 1, shape: vec![1, 2, 3], data: rows.into() };
    assert_eq!(harness.argmaxRowOf(t.clone(), U256::ZERO).call().await.unwrap(), U256::ZERO);
    assert_eq!(harness.argmaxRowOf(t.clone(), U256::from(1)).call().await.unwrap(), U256::from(1));
    let t2 = t.clone();
    let call = DnnLibHarness::argmaxRowOfCall { t, r: U256::from(2) }.abi_encode();
    let e = harness::IndexOutOfRange::abi_decode(&revert_data(&url, address, call).await).unwrap();
    assert_eq!((e.index, e.elements), (U256::from(2), U256::from(2)), "row 2 of 2 rows");
    let call = DnnLibHarness::argmaxRowOfCall { t: t2, r: U256::MAX }.abi_encode();
    let e = harness::IndexOutOfRange::abi_decode(&revert_data(&url, address, call).await).unwrap();
    assert_eq!(e.index, U256::MAX, "a huge row is a named revert, not an overflow panic");

    let big = I256::try_from(1i128 << 63).unwrap();
    let data =
        revert_data(&url, address, DnnLibHarness::badInt64Call { v: big }.abi_encode()).await;
    let e = harness::ValueOutOfRange::abi_decode(&data).unwrap();
    assert_eq!((e.index, e.value), (U256::ZERO, big));
    let data = revert_data(&url, address, DnnLibHarness::badReshapeCall {}.abi_encode()).await;
    let e = harness::ShapeMismatch::abi_decode(&data).unwrap();
    assert_eq!((e.elements, e.expected), (U256::from(3), U256::from(4)));
}

/// `Dnn` trains a model through `train` transactions from a contract, the contract classifies
/// with the newest one, the precompile's and the library's fixed-point conversions agree, and
/// a precompile revert is caught by selector.
#[tokio::test(flavor = "multi_thread")]
async fn dnn_library() {
    let (_node, provider, address, model) = setup().await;
    let harness = DnnLibHarness::new(address, &provider);
    assert!(harness.isRegistered(model).call().await.unwrap());
    assert_eq!(harness.info(model).call().await.unwrap().name, "clf");
    mined(harness.setModel(model)).await;

    // Eight points, class 0 around (−1, −1), class 1 around (1, 1), features with 6 decimals.
    let xs =
        [-1.2, -0.9, 1.1, 0.8, -0.7, -1.1, 0.9, 1.3, -1.0, -0.8, 1.2, 1.0, -0.9, -1.3, 0.7, 1.1];
    let features: Vec<I256> =
        xs.iter().map(|v: &f64| I256::try_from((v * 1e6).round() as i64).unwrap()).collect();
    let labels = ints(&[0, 1, 0, 1, 0, 1, 0, 1]);
    let mut losses = Vec::new();
    for _ in 0..4 {
        let receipt = mined(
            harness
                .trainAndKeep(features.clone(), labels.clone(), 10, 3 * 10u64.pow(17))
                .gas(20_000_000),
        )
        .await;
        assert!(receipt.status());
        losses.push(harness.lastLoss().call().await.unwrap());
    }
    assert!(losses.windows(2).all(|w| w[1] <= w[0]), "{losses:?}");
    let trained = harness.model().call().await.unwrap();
    assert_ne!(trained, model);
    // Four generations: the lineage leads back to the registered model.
    let mut ancestor = trained;
    for _ in 0..4 {
        ancestor = harness.info(ancestor).call().await.unwrap().parent;
    }
    assert_eq!(ancestor, model);

    let test = ints(&[-1_000_000, -1_000_000, 1_000_000, 1_000_000, -500_000, -1_500_000]);
    let classes = harness.classify(trained, test.clone(), 3, 6).call().await.unwrap();
    assert_eq!(classes, vec![U256::ZERO, U256::from(1), U256::ZERO]);
    let out = harness.logits(trained, test, 3, 6).call().await.unwrap();
    assert_eq!(out.viaPrecompile.len(), 6);
    for (a, b) in out.viaPrecompile.iter().zip(&out.viaLibrary) {
        assert!((*a - *b).abs() <= I256::ONE, "{a} vs {b}");
    }

    // Three features for a two-feature model: the precompile's InputMismatch, caught.
    let bad = ints(&[1, 2, 3]);
    let receipt = mined(harness.tryClassify(trained, bad, 1)).await;
    assert!(receipt.status(), "the revert was caught");
    let selector = harness.lastErrorSelector().call().await.unwrap();
    assert_eq!(selector.0, harness::InputMismatch::SELECTOR);
    assert_ne!(selector, harness.noQuorumSelector().call().await.unwrap());
}
