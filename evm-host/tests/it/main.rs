//! Integration tests of the chain below a node: they drive [`anh_evm_host::Backend`] directly
//! — no RPC, no ONNX Runtime — with a stub DNN oracle that knows no model, so that pool
//! validation, gas estimation, mining, import and snapshots are tested on their own.

mod call;
mod estimate;
mod import;
mod mining;
mod pool;
mod snapshot;
mod utils;
