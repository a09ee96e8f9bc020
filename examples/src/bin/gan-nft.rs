//! `gan-nft [--train] [OUT_DIR]`: mints GAN-drawn NFTs on the node at `ANH_RPC_URL` and saves
//! their images as `OUT_DIR/token-<id>.png`. With `--train`, first trains the generator (a GAN
//! on procedurally drawn digits) and writes `OUT_DIR/generator.onnx` and `training.png`;
//! without it, uses the committed `examples/gan-nft/generator.onnx`. Exits non-zero unless
//! every token's image decodes and the images differ per seed.

use anh_examples::{
    common::{Devnet, rpc_url},
    gan_nft,
};
use std::path::PathBuf;

/// The smallest mean difference, in grey levels, two tokens' images must have.
const MIN_DIFFERENCE: f64 = 4.0;

#[tokio::main]
async fn main() -> anh_examples::common::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let train = args.first().is_some_and(|a| a == "--train");
    if train {
        args.remove(0);
    }
    let out: PathBuf = args.first().map_or_else(|| "examples/gan-nft".into(), PathBuf::from);
    std::fs::create_dir_all(&out)?;
    let generator =
        if train { gan_nft::train_generator(&out)? } else { gan_nft::committed_generator()? };
    let devnet = Devnet::connect(&rpc_url(), 0)?;
    let report = gan_nft::run_with(&devnet, &out, &generator).await?;
    let gas: Vec<u64> = report.tokens.iter().map(|t| t.gas).collect();
    let difference = report.min_difference();
    println!(
        "{} tokens minted (gas of mint {}–{}); every image decoded; smallest mean difference between two images: {difference:.1} grey levels",
        report.tokens.len(),
        gas.iter().min().unwrap_or(&0),
        gas.iter().max().unwrap_or(&0),
    );
    if difference < MIN_DIFFERENCE {
        return Err(format!(
            "two tokens' images differ by only {difference:.1} grey levels on average (want ≥ {MIN_DIFFERENCE})"
        )
        .into());
    }
    Ok(())
}
