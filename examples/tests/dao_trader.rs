//! The dao-trader example against an in-process `anh node`: the treasury's policy, trained on
//! chain, beats a random treasury on the same price path.

use anh::NodeConfig;
use anh_examples::common::Devnet;

/// After 24 episodes of on-chain policy-gradient training, the policy's mean return over the
/// last episodes exceeds the random treasury's on the same price path by the demo's margin,
/// the committee settled the training steps, and the reward curve is an SVG chart.
#[tokio::test(flavor = "multi_thread")]
async fn dao_trader_beats_random() {
    let node = anh::spawn(NodeConfig::test()).await.expect("node starts");
    let devnet = Devnet::connect(&node.http_endpoint(), 0).expect("connects");
    let out = tempfile::tempdir().unwrap();
    let report = anh_examples::dao_trader::run(&devnet, out.path(), 24).await.unwrap();
    assert_eq!(report.policy.len(), 24);
    assert!(report.trained >= 12, "{} of 24 training steps settled", report.trained);
    assert!(
        report.beats_random(),
        "policy {:+.2} % vs random {:+.2} % over the last {} episodes: {:?} vs {:?}",
        report.policy_last(),
        report.random_last(),
        report.last,
        report.policy,
        report.random
    );
    assert!(report.gas.decide_policy > report.gas.decide_random, "{:?}", report.gas);
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/dao-trader/README.md"))
            .unwrap();
    let gas = &report.gas;
    let off = anh_examples::common::readme_gas_off(
        &readme,
        [
            ("`decide()` with the policy", gas.decide_policy),
            ("`decide()` at random", gas.decide_random),
            ("`endEpisode()` with a training step", gas.train),
            ("`endEpisode()` without training", gas.end_random),
            ("market move", gas.market_move),
        ],
    );
    assert!(off.is_empty(), "{off:#?} ({gas:?})");
    let svg = std::fs::read_to_string(out.path().join("reward-curve.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("policy treasury, each episode"), "{svg}");
}
