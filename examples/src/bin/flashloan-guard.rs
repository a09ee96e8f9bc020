//! `flashloan-guard [OUT_DIR]`: deploys an AMM pool and a flash lender on the node at
//! `ANH_RPC_URL`, trains an anomaly detector on chain, and shows ordinary trades passing and a
//! flash-loan price manipulation reverted by the detector. Writes `OUT_DIR/last-run.json`;
//! exits non-zero unless the attack was blocked and every honest trade went through.

use anh_examples::{
    common::{Devnet, rpc_url},
    flashloan_guard,
};
use std::path::PathBuf;

#[tokio::main]
async fn main() -> anh_examples::common::Result<()> {
    let out: PathBuf =
        std::env::args().nth(1).map_or_else(|| "examples/flashloan-guard".into(), PathBuf::from);
    std::fs::create_dir_all(&out)?;
    let devnet = Devnet::connect(&rpc_url(), 0)?;
    let report = flashloan_guard::run(&devnet, &out).await?;
    let attack = &report.attack;
    if !(attack.reverted && attack.detected) {
        return Err(format!("the attack was not blocked by the detector: {}", attack.reason).into());
    }
    if report.attack_attestation["settled"] != true {
        return Err(format!(
            "the detector's verdict is not settled: {}",
            report.attack_attestation
        )
        .into());
    }
    if report.unguarded_profit <= 0.0 {
        return Err(
            format!("the unguarded attack is not profitable: {}", report.unguarded_profit).into()
        );
    }
    let mean = |g: &[u64]| g.iter().sum::<u64>() / g.len().max(1) as u64;
    let swap_gas: Vec<u64> = report.trades.iter().map(|t| t.gas).collect();
    println!(
        "outcome: {} ordinary trades and an honest flash loan passed, the attack was reverted by the detector \
         (score {:.3}); gas: guarded swap {} (mean), guarded flash loan {}, blocked attack {}, train tx {} (mean)",
        report.trades.len(),
        attack.score,
        mean(&swap_gas),
        report.leverage_gas,
        attack.gas,
        mean(&report.train_gas)
    );
    Ok(())
}
