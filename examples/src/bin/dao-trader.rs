//! `dao-trader [OUT_DIR]`: runs a DAO treasury that trades with a policy network it trains on
//! chain, next to a random treasury on the same price path, against the node at `ANH_RPC_URL`;
//! writes `OUT_DIR/reward-curve.svg` and exits non-zero unless the policy beats random.

use anh_examples::{
    common::{Devnet, rpc_url},
    dao_trader::{self, MARGIN_PCT},
};
use std::path::PathBuf;

/// Episodes the demo runs.
const EPISODES: usize = 60;

#[tokio::main]
async fn main() -> anh_examples::common::Result<()> {
    let out: PathBuf =
        std::env::args().nth(1).map_or_else(|| "examples/dao-trader".into(), PathBuf::from);
    std::fs::create_dir_all(&out)?;
    let devnet = Devnet::connect(&rpc_url(), 0)?;
    let started = std::time::Instant::now();
    let report = dao_trader::run(&devnet, &out, EPISODES).await?;
    let (policy, random) = (report.policy_last(), report.random_last());
    let all = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "mean return per episode, all {} episodes: policy {:+.2} %, random {:+.2} %",
        EPISODES,
        all(&report.policy),
        all(&report.random)
    );
    println!(
        "mean return per episode, last {}: policy {policy:+.2} %, random {random:+.2} % (same price paths)",
        report.last
    );
    println!(
        "training steps settled {}, skipped {}; final policy {}",
        report.trained, report.skipped, report.model
    );
    let gas = report.gas;
    println!(
        "gas: decide (policy) {}, decide (random) {}, endEpisode + train {}, endEpisode (random) {}, market move {}",
        gas.decide_policy, gas.decide_random, gas.train, gas.end_random, gas.market_move
    );
    println!("took {:.0} s", started.elapsed().as_secs_f64());
    if !report.beats_random() {
        return Err(format!(
            "the policy did not beat random by {MARGIN_PCT} points: {policy:+.2} % vs {random:+.2} %"
        )
        .into());
    }
    println!("the policy beats random by {:.2} points", policy - random);
    Ok(())
}
