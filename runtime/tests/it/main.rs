//! anh-runtime's integration tests, one binary: analysis of the fixtures in `testdata/`, the
//! model store, inference through ONNX Runtime against Python onnxruntime's outputs, a
//! property test of `analyze` on hostile bytes, and training-step graphs (`train`: gradients
//! against finite differences, optimisers, losses, convergence).
//!
//! Inference tests need the ONNX Runtime library: they fail (never skip) with the set-up
//! message when `find_ort_library()` finds none. Run `./dev setup` (or
//! `scripts/setup-ort.sh`) first.
//!
//! `ANH_FUZZ_CASES=100000 cargo test -p anh-runtime fuzz` runs the property test with 10^5
//! cases per strategy (default 2000).

mod analysis;
mod common;
mod external;
mod fuzz;
mod inference;
mod store;
mod train;
mod training;
mod transformer;
mod transformer_train;
