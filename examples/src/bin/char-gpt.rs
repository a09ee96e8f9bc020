//! `char-gpt [OUT_DIR]`: a character-level GPT trained by a contract with 20 `trainOn`
//! transactions on text written on chain, on the node at `ANH_RPC_URL`; writes its loss curve
//! to `OUT_DIR/loss-curve.svg`.

use anh_examples::{
    char_gpt,
    common::{Devnet, rpc_url},
};
use std::path::PathBuf;

#[tokio::main]
async fn main() -> anh_examples::common::Result<()> {
    let out: PathBuf =
        std::env::args().nth(1).map_or_else(|| "examples/char-gpt".into(), PathBuf::from);
    std::fs::create_dir_all(&out)?;
    let devnet = Devnet::connect(&rpc_url(), 0)?;
    let report = char_gpt::run(&devnet, &out, 20).await?;
    let (first, last) = (report.losses[0], report.losses[report.losses.len() - 1]);
    println!("loss {first:.4} → {last:.4} over {} trainOn transactions", report.losses.len());
    if last >= first / 2.0 {
        return Err(format!("the loss did not fall enough: {first} → {last}").into());
    }
    Ok(())
}
