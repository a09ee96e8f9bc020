//! The flash-loan guard against an in-process `anh node`: the detector trained on chain lets
//! ordinary trades and an honest flash loan through and reverts the price manipulation.

use anh::NodeConfig;
use anh_examples::{common::Devnet, flashloan_guard};

/// The attack that is profitable on an unguarded pool reverts `ManipulationDetected` once the
/// trained detector guards it, its inference is settled and attested in the reverted
/// transaction's block, and every honest trade went through with a negative score.
#[tokio::test(flavor = "multi_thread")]
async fn flashloan_guard_blocks_the_attack_and_passes_honest_trades() {
    let node = anh::spawn(NodeConfig::test()).await.expect("node starts");
    let devnet = Devnet::connect(&node.http_endpoint(), 0).expect("connects");
    let out = tempfile::tempdir().unwrap();
    let report = flashloan_guard::run(&devnet, out.path()).await.expect("the demo runs");

    assert!(report.unguarded_profit > 0.0, "the attack pays without a guard: {report:?}");
    assert!(
        report.losses.last() < report.losses.first(),
        "training lowered the loss: {:?}",
        report.losses
    );
    assert!(report.holdout_accuracy > 0.95, "accuracy {}", report.holdout_accuracy);

    assert_eq!(report.trades.len(), flashloan_guard::HONEST_TRADES);
    for trade in &report.trades {
        assert!(trade.score < 0.0, "an honest trade scored as normal: {trade:?}");
        assert!(trade.gas > 0);
    }
    assert!(report.leverage_score < 0.0 && report.leverage_gas > 0, "{report:?}");

    let attack = &report.attack;
    assert!(attack.reverted, "the attack reverted: {attack:?}");
    assert!(attack.detected, "with ManipulationDetected: {attack:?}");
    assert!(attack.score > 0.0 && attack.window.len() == flashloan_guard::FEATURES, "{attack:?}");

    let gap = attack.window.iter().zip(&report.simulated_window).map(|(a, b)| (a - b).abs());
    assert!(
        gap.fold(0.0, f64::max) < 1e-4,
        "the generator's window is the pool's: {:?} vs {:?}",
        attack.window,
        report.simulated_window
    );
    assert!(report.attested_logits.len() == 2, "{:?}", report.attested_logits);
    assert!(
        report.attested_logits[1] > report.attested_logits[0],
        "the attested verdict is manipulation"
    );
    assert!(report.guard_overhead > 0, "screening costs gas: {}", report.guard_overhead);
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/flashloan-guard/README.md"))
            .unwrap();
    let mean = |gas: &[u64]| gas.iter().sum::<u64>() / gas.len() as u64;
    let others: Vec<u64> = report.trades[1..].iter().map(|t| t.gas).collect();
    let off = anh_examples::common::readme_gas_off(
        &readme,
        [
            ("guarded swap, the first", report.trades[0].gas),
            ("guarded swap, the others", mean(&others)),
            ("guarded flash loan", report.leverage_gas),
            ("blocked attack", attack.gas),
            ("what the detector adds to a swap", report.guard_overhead as u64),
            ("`train` transaction, mean", mean(&report.train_gas)),
        ],
    );
    assert!(off.is_empty(), "{off:#?}");
    let (small, large) = (report.boundary.first().unwrap(), report.boundary.last().unwrap());
    assert!(
        !small.1 && large.1,
        "a 1 % swap passes, a 100 % one is blocked: {:?}",
        report.boundary
    );

    for job in [&report.attack_attestation, &report.trade_attestation] {
        assert_eq!(job["settled"], true, "{job}");
        assert_eq!(job["model"], serde_json::json!(report.detector), "{job}");
        assert_eq!(job["rule"]["kind"], "argmax", "{job}");
        // The block is sealed as a whole: the committee's signatures are the block's.
        assert!(job["sealed"]["signatures"].as_array().unwrap().len() >= 2, "{job}");
    }
    assert!(out.path().join("last-run.json").exists());
}
