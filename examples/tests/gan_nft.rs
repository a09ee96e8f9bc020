//! `examples/gan-nft` against an in-process `anh node`: every minted token's `tokenURI`
//! decodes to an 8×8 image, and the images differ per seed.

use anh::NodeConfig;
use anh_examples::{common::Devnet, gan_nft};

/// Minting runs the committed GAN generator on chain; each token URI decodes (JSON → SVG →
/// 64 grey squares matching the stored pixels and the generator run locally), the images
/// differ from seed to seed, and duplicate seeds and unknown ids revert readably.
#[tokio::test(flavor = "multi_thread")]
async fn gan_nft_mints_distinct_decodable_images() {
    let node = anh::spawn(NodeConfig::test()).await.expect("node starts");
    let devnet = Devnet::connect(&node.http_endpoint(), 0).expect("connects");
    let out = tempfile::tempdir().unwrap();
    let report = gan_nft::run(&devnet, out.path()).await.unwrap();

    assert_eq!(report.tokens.len(), gan_nft::SEEDS.len());
    for token in &report.tokens {
        assert_eq!(token.pixels.len(), 64);
        let ink: u32 = token.pixels.iter().map(|&p| u32::from(p)).sum();
        assert!(ink > 0 && ink < 255 * 64, "token {}: a blank image", token.id);
        let png = std::fs::read(&token.png).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert!(token.gas > 21_000, "{}", token.gas);
    }
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/gan-nft/README.md")).unwrap();
    let first = std::iter::once(("`mint`, the first token", report.tokens[0].gas));
    let later = report.tokens[1..].iter().map(|t| ("`mint`, each later token", t.gas));
    let off = anh_examples::common::readme_gas_off(&readme, first.chain(later));
    assert!(off.is_empty(), "{off:#?}");
    assert!(report.min_difference() >= 4.0, "images too alike: {}", report.min_difference());
    assert!(report.duplicate_revert.contains("seed already minted"), "{}", report.duplicate_revert);
    assert!(report.unknown_revert.contains("unknown token id"), "{}", report.unknown_revert);
}
