//! `loss-curve [OUT_DIR]`: trains a classifier with 25 `train` transactions on the node at
//! `ANH_RPC_URL` and writes its loss curve to `OUT_DIR/loss-curve.svg`.

use anh_examples::{
    common::{Devnet, rpc_url},
    loss_curve,
};
use std::path::PathBuf;

#[tokio::main]
async fn main() -> anh_examples::common::Result<()> {
    let out: PathBuf =
        std::env::args().nth(1).map_or_else(|| "examples/loss-curve".into(), PathBuf::from);
    std::fs::create_dir_all(&out)?;
    let devnet = Devnet::connect(&rpc_url(), 0)?;
    let report = loss_curve::run(&devnet, &out, 25).await?;
    let (first, last) = (report.losses[0], report.losses[report.losses.len() - 1]);
    println!("loss {first:.4} → {last:.4} over {} train transactions", report.losses.len());
    if last >= first / 4.0 {
        return Err(format!("the loss did not fall enough: {first} → {last}").into());
    }
    Ok(())
}
