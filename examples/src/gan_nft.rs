//! NFTs whose images a GAN generator draws on chain.
//!
//! Uploads and registers the generator (`examples/gan-nft/generator.onnx`, trained by
//! [`train_generator`]: a GAN on procedurally drawn 8×8 digits, see [`gan`]), deploys
//! `GanArt` (`contracts/src/examples/gan/GanArt.sol`, a minimal ERC-721) and mints one token
//! per seed of [`SEEDS`]. Each `mint(seed)` derives a latent vector from the seed in Solidity,
//! runs the generator through the inference precompile and stores the 64 pixels; `tokenURI`
//! returns `data:application/json;base64,…` metadata whose `image` is an SVG of 8×8 squares,
//! built in Solidity.
//!
//! For each token the demo decodes the data URI down to the SVG's 64 squares, checks them
//! against the stored pixels (`imageOf`) and against the generator run on this machine on the
//! contract's latent vector (`latentOf`, within one grey level), and saves the image as
//! `token-<id>.png` (16× scaled). It also checks the readable reverts: minting a seed again,
//! and `tokenURI` of a token that does not exist.

pub mod gan;

use crate::{
    charts::GreyImage,
    common::{Devnet, Result},
};
use alloy::{
    primitives::{Address, B256, U256},
    sol,
    sol_types::{SolCall, SolEvent, SolValue},
};
use gan::{LATENT, PIXELS, SIDE};
use std::path::{Path, PathBuf};

sol! {
    /// `contracts/src/examples/gan/GanArt.sol`, as far as the demo calls it.
    interface IGanArt {
        event Drawn(uint256 indexed id, uint256 indexed seed, bytes image);
        function mint(uint256 seed) external returns (uint256 id);
        function tokenURI(uint256 id) external view returns (string memory);
        function imageOf(uint256 id) external view returns (bytes memory);
        function latentOf(uint256 seed) external pure returns (int256[] memory z);
        function ownerOf(uint256 id) external view returns (address owner);
    }
}

/// The seeds the demo mints.
pub const SEEDS: [u64; 6] = [1, 2, 3, 42, 1337, 2024];

/// How much larger the saved PNGs are than the 8×8 images.
pub const PNG_SCALE: usize = 16;

/// A minted token.
#[derive(Debug, Clone)]
pub struct Token {
    /// Its id.
    pub id: U256,
    /// The seed it was minted from.
    pub seed: U256,
    /// Gas of its `mint` transaction.
    pub gas: u64,
    /// Its image as decoded from `tokenURI`: 64 grey levels, row-major.
    pub pixels: Vec<u8>,
    /// The length of its `tokenURI`.
    pub uri_len: usize,
    /// The PNG the demo saved.
    pub png: PathBuf,
}

/// What the demo did.
#[derive(Debug, Clone)]
pub struct Report {
    /// The generator model.
    pub model: B256,
    /// The `GanArt` contract.
    pub contract: Address,
    /// The tokens, in minting order.
    pub tokens: Vec<Token>,
    /// The revert reason of minting the first seed a second time.
    pub duplicate_revert: String,
    /// The revert reason of `tokenURI` of a token that does not exist.
    pub unknown_revert: String,
}

impl Report {
    /// The smallest mean absolute difference (in grey levels, 0–255) between the images of
    /// any two tokens.
    pub fn min_difference(&self) -> f64 {
        let mut min = f64::INFINITY;
        for (i, a) in self.tokens.iter().enumerate() {
            for b in &self.tokens[i + 1..] {
                let sum: u32 =
                    a.pixels.iter().zip(&b.pixels).map(|(x, y)| u32::from(x.abs_diff(*y))).sum();
                min = min.min(f64::from(sum) / PIXELS as f64);
            }
        }
        min
    }
}

/// The committed generator: `examples/gan-nft/generator.onnx`.
pub fn committed_generator() -> Result<Vec<u8>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("gan-nft/generator.onnx");
    std::fs::read(&path).map_err(|e| {
        format!("{}: {e}: train one with `examples/gan-nft/run --train`", path.display()).into()
    })
}

/// Runs the demo with the committed generator, writing the PNGs into `out`.
pub async fn run(devnet: &Devnet, out: &Path) -> Result<Report> {
    run_with(devnet, out, &committed_generator()?).await
}

/// Runs the demo with the generator file `generator`, writing the PNGs into `out`.
pub async fn run_with(devnet: &Devnet, out: &Path, generator: &[u8]) -> Result<Report> {
    let model = devnet.upload_model(generator, "gan-nft-generator").await?;
    println!("generator {model} ({} bytes) uploaded and registered", generator.len());
    let contract = devnet.deploy("GanArt", &model.abi_encode()).await?;
    println!("GanArt deployed at {contract}");

    let mut tokens = Vec::new();
    for seed in SEEDS.map(U256::from) {
        let receipt = devnet.send(contract, IGanArt::mintCall { seed }.abi_encode()).await?;
        let drawn = receipt
            .inner
            .logs()
            .iter()
            .filter(|l| l.address() == contract)
            .find_map(|l| IGanArt::Drawn::decode_log_data(l.data()).ok())
            .ok_or("mint emitted no Drawn event")?;
        let id = drawn.id;
        let uri = devnet.view(contract, IGanArt::tokenURICall { id }).await?;
        let pixels = decode_token_uri(&uri).map_err(|e| format!("token {id}: {e}"))?;
        let stored = devnet.view(contract, IGanArt::imageOfCall { id }).await?;
        if stored.as_ref() != pixels.as_slice() || drawn.image != stored {
            return Err(format!("token {id}: the SVG's pixels are not the stored image").into());
        }
        let z = devnet.view(contract, IGanArt::latentOfCall { seed }).await?;
        check_against_local(generator, &z, &pixels).map_err(|e| format!("token {id}: {e}"))?;
        let png = out.join(format!("token-{id}.png"));
        render(&pixels, PNG_SCALE).save(&png)?;
        println!(
            "mint(seed {seed:>4})  token {id}  gas {:>7}  tokenURI {} bytes  ink {:>3}%  → {}",
            receipt.gas_used,
            uri.len(),
            pixels.iter().map(|&p| u32::from(p)).sum::<u32>() * 100 / (255 * PIXELS as u32),
            png.display()
        );
        println!("{}", ascii(&pixels));
        tokens.push(Token { id, seed, gas: receipt.gas_used, pixels, uri_len: uri.len(), png });
    }

    let again = IGanArt::mintCall { seed: U256::from(SEEDS[0]) }.abi_encode();
    let (receipt, duplicate_revert) = devnet.send_expecting_revert(contract, again).await?;
    if receipt.status() || !duplicate_revert.contains("GanArt: seed already minted") {
        return Err(format!("minting seed {} twice: {duplicate_revert:?}", SEEDS[0]).into());
    }
    println!("mint(seed {}) again reverts: {duplicate_revert}", SEEDS[0]);
    let missing = IGanArt::tokenURICall { id: U256::from(999) }.abi_encode();
    let unknown_revert =
        devnet.revert_of(contract, missing).await.map_err(|e| format!("tokenURI(999): {e}"))?;
    if !unknown_revert.contains("GanArt: unknown token id") {
        return Err(format!("tokenURI(999): {unknown_revert}").into());
    }
    println!("tokenURI(999) reverts: {unknown_revert}");
    Ok(Report { model, contract, tokens, duplicate_revert, unknown_revert })
}

/// Checks the chain's image against the generator run here on the contract's latent vector
/// (fixed-point, 6 decimals), allowing one grey level for floating-point differences between
/// machines.
fn check_against_local(
    generator: &[u8],
    z: &[alloy::primitives::I256],
    pixels: &[u8],
) -> Result<()> {
    if z.len() != LATENT {
        return Err(format!("latentOf returned {} values, not {LATENT}", z.len()).into());
    }
    let z: Vec<f32> = z.iter().map(|v| (v.as_i64() as f64 / 1e6) as f32).collect();
    let local = gan::generate(generator, &z)?;
    let expected = to_pixels(&local[0]);
    let worst = expected.iter().zip(pixels).map(|(a, b)| a.abs_diff(*b)).max().unwrap_or(0);
    if worst > 1 {
        return Err(format!(
            "the chain's image differs from the generator run here by up to {worst} grey levels"
        )
        .into());
    }
    Ok(())
}

/// Generator outputs in [0, 255] as the inference precompile returns them to `GanArt` as
/// uint8: rounded to nearest, ties to even (the contract stores them as they come).
pub fn to_pixels(values: &[f32]) -> Vec<u8> {
    values.iter().map(|&v| v.round_ties_even().clamp(0.0, 255.0) as u8).collect()
}

/// Decodes a `GanArt` token URI down to its image: the base64 JSON, its `image` field (a
/// base64 SVG data URI), and the SVG's 64 grey squares; returns the grey levels, row-major.
pub fn decode_token_uri(uri: &str) -> Result<Vec<u8>> {
    let json = uri
        .strip_prefix("data:application/json;base64,")
        .ok_or("the token URI is not a base64 JSON data URI")?;
    let json: serde_json::Value = serde_json::from_slice(&base64_decode(json)?)?;
    for key in ["name", "description", "attributes"] {
        if json.get(key).is_none() {
            return Err(format!("the metadata has no {key:?}").into());
        }
    }
    let image = json["image"].as_str().ok_or("the metadata has no image")?;
    let svg = image
        .strip_prefix("data:image/svg+xml;base64,")
        .ok_or("the image is not a base64 SVG data URI")?;
    let svg = String::from_utf8(base64_decode(svg)?)?;
    parse_svg(&svg)
}

/// The grey levels of an SVG of 64 `<rect x y width="1" height="1" fill="#vvvvvv"/>` squares
/// on an 8×8 view box, each square once.
pub fn parse_svg(svg: &str) -> Result<Vec<u8>> {
    if !svg.starts_with("<svg ") || !svg.ends_with("</svg>") || !svg.contains("viewBox=\"0 0 8 8\"")
    {
        return Err("not an 8×8 SVG document".into());
    }
    let mut pixels: Vec<Option<u8>> = vec![None; PIXELS];
    for rect in svg.split("<rect ").skip(1) {
        let attr = |name: &str| -> Result<&str> {
            let start = rect
                .find(&format!(" {name}=\""))
                .map(|i| i + name.len() + 3)
                .or_else(|| rect.starts_with(&format!("{name}=\"")).then_some(name.len() + 2))
                .ok_or_else(|| format!("a rect without {name}"))?;
            let len = rect[start..].find('"').ok_or("an unterminated attribute")?;
            Ok(&rect[start..start + len])
        };
        let (x, y): (usize, usize) = (attr("x")?.parse()?, attr("y")?.parse()?);
        if attr("width")? != "1" || attr("height")? != "1" || x >= SIDE || y >= SIDE {
            return Err(format!("a rect that is not one pixel: {rect}").into());
        }
        let fill = attr("fill")?.strip_prefix('#').ok_or("a fill that is not #rrggbb")?;
        let rgb = u32::from_str_radix(fill, 16)?;
        let (r, g, b) = ((rgb >> 16) as u8, (rgb >> 8) as u8, rgb as u8);
        if fill.len() != 6 || r != g || g != b {
            return Err(format!("a fill that is not grey: #{fill}").into());
        }
        let slot = &mut pixels[y * SIDE + x];
        if slot.replace(r).is_some() {
            return Err(format!("pixel ({x}, {y}) drawn twice").into());
        }
    }
    pixels
        .into_iter()
        .enumerate()
        .map(|(i, p)| p.ok_or_else(|| format!("pixel ({}, {}) missing", i % SIDE, i / SIDE).into()))
        .collect()
}

/// Decodes standard base64 (RFC 4648, `=` padding required).
pub fn base64_decode(text: &str) -> Result<Vec<u8>> {
    let value = |c: u8| -> Result<u32> {
        Ok(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return Err(format!("not a base64 character: {:?}", c as char).into()),
        } as u32)
    };
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return Err("base64 text whose length is not a multiple of 4".into());
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (i, chunk) in bytes.chunks_exact(4).enumerate() {
        let last = i + 1 == bytes.len() / 4;
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return Err("misplaced base64 padding".into());
        }
        let mut word = 0u32;
        for &c in &chunk[..4 - pad] {
            word = word << 6 | value(c)?;
        }
        word <<= 6 * pad as u32;
        out.extend(&word.to_be_bytes()[1..4 - pad]);
    }
    Ok(out)
}

/// An image of grey levels (white on black), each pixel a `scale`×`scale` square.
pub fn render(pixels: &[u8], scale: usize) -> GreyImage {
    sheet(&[pixels.to_vec()], 1, scale)
}

/// Images of 64 grey levels in a grid of `cols` columns, each pixel `scale`×`scale`, with a
/// `scale`-wide mid-grey gap between images.
pub fn sheet(images: &[Vec<u8>], cols: usize, scale: usize) -> GreyImage {
    let (cols, rows) = (cols.max(1), images.len().div_ceil(cols.max(1)).max(1));
    let cell = SIDE * scale;
    let gap = if images.len() > 1 { scale } else { 0 };
    let mut image =
        GreyImage::new(cols * cell + (cols - 1) * gap, rows * cell + (rows - 1) * gap, 128);
    for (k, pixels) in images.iter().enumerate() {
        let (ox, oy) = ((k % cols) * (cell + gap), (k / cols) * (cell + gap));
        for (i, &v) in pixels.iter().enumerate().take(PIXELS) {
            let (x, y) = (ox + (i % SIDE) * scale, oy + (i / SIDE) * scale);
            for row in y..y + scale {
                image.pixels[row * image.width + x..][..scale].fill(v);
            }
        }
    }
    image
}

/// The image as text, two characters per pixel (for the terminal).
pub fn ascii(pixels: &[u8]) -> String {
    const SHADES: [&str; 5] = ["  ", "░░", "▒▒", "▓▓", "██"];
    pixels
        .chunks(SIDE)
        .map(|row| {
            let line: String = row.iter().map(|&v| SHADES[usize::from(v) * 5 / 256]).collect();
            format!("    {line}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Trains the generator ([`gan::train`] with the default [`gan::GanConfig`]), printing the
/// losses, and writes `generator.onnx` and `training.png` (top: real digits; bottom: fakes)
/// into `out`. Returns the generator file.
pub fn train_generator(out: &Path) -> Result<Vec<u8>> {
    let config = gan::GanConfig::default();
    let started = std::time::Instant::now();
    let every = (config.iterations / 10).max(1);
    let (mut d_sum, mut g_sum) = (0.0, 0.0);
    let trained = gan::train(&config, |i, d, g| {
        (d_sum, g_sum) = (d_sum + d, g_sum + g);
        if (i + 1).is_multiple_of(every) {
            println!(
                "iteration {:>5}  discriminator loss {:.3}  generator loss {:.3}",
                i + 1,
                d_sum / every as f64,
                g_sum / every as f64
            );
            (d_sum, g_sum) = (0.0, 0.0);
        }
    })?;
    println!(
        "trained in {:.1} s; diversity (mean pixel distance between pairs): real {:.3}, fakes {:.3}",
        started.elapsed().as_secs_f64(),
        gan::diversity(&trained.real),
        gan::diversity(&trained.fakes)
    );
    let model = out.join("generator.onnx");
    std::fs::write(&model, &trained.model).map_err(|e| format!("{}: {e}", model.display()))?;
    let images: Vec<Vec<u8>> = trained
        .real
        .iter()
        .take(16)
        .chain(trained.fakes.iter().take(16))
        .map(|g| to_pixels(&g.map(|v| v * 255.0)))
        .collect();
    let png = out.join("training.png");
    sheet(&images, 8, 8).save(&png)?;
    println!("wrote {} and {}", model.display(), png.display());
    Ok(trained.model)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Base64 round trips against known vectors, and bad text is refused.
    #[test]
    fn base64_decodes_rfc4648_vectors() {
        for (text, plain) in
            [("", ""), ("Zg==", "f"), ("Zm8=", "fo"), ("Zm9v", "foo"), ("Zm9vYmFy", "foobar")]
        {
            assert_eq!(base64_decode(text).unwrap(), plain.as_bytes());
        }
        for bad in ["Zg=", "Z===", "Zg==Zm9v", "Zm9*"] {
            assert!(base64_decode(bad).is_err(), "{bad}");
        }
    }

    /// The SVG parser reads every square and refuses missing or repeated ones.
    #[test]
    fn svg_parser_reads_squares_and_refuses_gaps() {
        let rect = |i: usize, v: u8| {
            format!(
                "<rect x=\"{}\" y=\"{}\" width=\"1\" height=\"1\" fill=\"#{v:02x}{v:02x}{v:02x}\"/>",
                i % 8,
                i / 8
            )
        };
        let doc = |rects: String| format!("<svg viewBox=\"0 0 8 8\">{rects}</svg>");
        let all: String = (0..64).map(|i| rect(i, i as u8 * 3)).collect();
        let pixels = parse_svg(&doc(all)).unwrap();
        assert_eq!(pixels, (0..64).map(|i| i as u8 * 3).collect::<Vec<_>>());
        let missing: String = (0..63).map(|i| rect(i, 0)).collect();
        assert!(parse_svg(&doc(missing)).unwrap_err().to_string().contains("missing"));
        let twice: String = (0..64).chain([5]).map(|i| rect(i, 0)).collect();
        assert!(parse_svg(&doc(twice)).unwrap_err().to_string().contains("twice"));
    }

    /// A sheet lays images out left to right, top to bottom, each pixel a square, with
    /// mid-grey gaps; a single image has no gap.
    #[test]
    fn sheet_scales_pixels_and_leaves_grey_gaps() {
        let a: Vec<u8> = (0..PIXELS as u8).collect();
        let b = vec![255; PIXELS];
        let one = render(&a, 2);
        assert_eq!((one.width, one.height), (16, 16));
        assert_eq!(one.pixels[..4], [0, 0, 1, 1]);
        assert_eq!(one.pixels[16..20], [0, 0, 1, 1]);
        assert_eq!(one.pixels[15 * 16 + 15], 63);
        let two = sheet(&[a, b.clone(), b], 2, 2);
        assert_eq!((two.width, two.height), (34, 34));
        assert_eq!(two.pixels[16], 128, "the gap between columns");
        assert_eq!(two.pixels[18], 255, "the second image");
        assert_eq!(two.pixels[18 * 34], 255, "the third image, on the second row");
        assert_eq!(two.pixels[33 * 34 + 33], 128, "no fourth image");
    }

    /// Pixels round like the precompile's uint8 conversion: to nearest, ties to even.
    #[test]
    fn pixels_round_like_the_precompile() {
        assert_eq!(to_pixels(&[0.0, 255.0, 127.5, 128.5, 0.49, 254.7]), [0, 255, 128, 128, 0, 255]);
    }
}
