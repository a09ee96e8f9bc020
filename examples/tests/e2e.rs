//! The loss-curve example against an in-process `anh node` (the default in-process
//! committee), with its outcome asserted; the other examples have a test file each.

use anh::{NodeConfig, NodeHandle};
use anh_examples::common::Devnet;

async fn node() -> (NodeHandle, Devnet) {
    let node = anh::spawn(NodeConfig::test()).await.expect("node starts");
    let devnet = Devnet::connect(&node.http_endpoint(), 0).expect("connects");
    (node, devnet)
}

/// Training on chain lowers the loss, and the curve is an SVG chart.
#[tokio::test(flavor = "multi_thread")]
async fn loss_curve() {
    let (_node, devnet) = node().await;
    let out = tempfile::tempdir().unwrap();
    let report = anh_examples::loss_curve::run(&devnet, out.path(), 10).await.unwrap();
    assert!(report.losses[9] < report.losses[0] / 4.0, "{:?}", report.losses);
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/loss-curve/README.md"))
            .unwrap();
    let mean = report.gas.iter().sum::<u64>() / report.gas.len() as u64;
    anh_examples::common::check_readme_gas(&readme, "`train`, mean of the run", mean).unwrap();
    let svg = std::fs::read_to_string(out.path().join("loss-curve.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("loss per train transaction"), "{svg}");
}
