//! anh-executor's integration tests, one binary: committee settlement with real ONNX Runtime
//! (`runtime/testdata/mlp.onnx`, `int64.onnx`) and real secp256k1 signatures, Byzantine
//! members, and the executor's HTTP server and client against real sockets.
//!
//! They need the ONNX Runtime library: they fail (never skip) with the set-up message when
//! `find_ort_library()` finds none. Run `./dev setup` first.

mod committee;
mod common;
mod server;
mod training;
