//! Integration tests of `anh node`: a real node on a free port, driven by real clients
//! (alloy providers, raw JSON-RPC, Foundry's `cast`), and the `anh` binary itself for
//! persistence across hard kills.

mod cast;
mod chain;
mod chain_spec;
mod committee;
mod dev;
mod differential;
mod dnn;
mod errors;
mod external;
mod follow;
mod hostile;
mod mining;
mod persistence;
mod rpc;
mod solidity;
mod trace;
mod training;
mod transformer;
mod utils;
mod ws;
