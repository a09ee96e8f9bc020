//! ANH's example dapps, each a demo that runs against a node over JSON-RPC with alloy:
//!
//! | example | module | binary | shows |
//! |---|---|---|---|
//! | `examples/loss-curve` | [`loss_curve`] | `loss-curve` | training on chain, the loss curve as an SVG chart |
//! | `examples/flashloan-guard` | [`flashloan_guard`] | `flashloan-guard` | an anomaly detector blocking a flash-loan price manipulation |
//! | `examples/dao-trader` | [`dao_trader`] | `dao-trader` | a DAO treasury trading with a policy network it trains on chain |
//! | `examples/gan-nft` | [`gan_nft`] | `gan-nft` | NFTs whose images a GAN generator draws on chain |
//! | `examples/char-gpt` | [`char_gpt`] | `char-gpt` | a character-level GPT a contract trains on text submitted on chain, and writes with |
//!
//! Each binary reads the node's URL from `ANH_RPC_URL` (default `http://127.0.0.1:8545`),
//! signs with the dev accounts, writes its charts (SVG, see [`charts`]) and images (PNG) into
//! the folder given as its first argument (default: the example's folder), prints what
//! happened, and exits non-zero when the outcome the example promises is not reached. `examples/<name>/run` runs it; `tests/` runs each
//! against an in-process node.

pub mod char_gpt;
pub mod charts;
pub mod common;
pub mod dao_trader;
pub mod flashloan_guard;
pub mod gan_nft;
pub mod loss_curve;
