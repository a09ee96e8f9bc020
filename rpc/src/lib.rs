//! ANH's JSON-RPC 2.0 server: the standard `eth_`, `net_` and `web3_` methods, anvil's and
//! Hardhat's dev methods, over HTTP and WebSocket on one port.
//!
//! This crate knows the chain only through `anh-evm-host`'s [`Backend`] API, and further
//! namespaces (`anh_`) only through [`RpcExtension`].
//!
//! [`Backend`]: anh_evm_host::Backend

pub mod api;
mod background;
mod convert;
mod debug;
mod dev;
pub mod error;
mod filters;
pub mod params;
mod pubsub;
pub mod server;
mod sign;

pub use api::{
    ApiConfig, EthApi, HeavyLimits, RpcExtension, RpcFuture, RpcResult, client_version, is_heavy,
};
pub use dev::MAX_STATE_DUMP;
pub use error::RpcError;
pub use filters::{FILTER_TIMEOUT, MAX_FILTERS};
pub use pubsub::MAX_SUBSCRIPTIONS;
pub use server::{ServerConfig, router};
