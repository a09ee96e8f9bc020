//! What the runtime benchmarks share: a raw ONNX Runtime session configured as a node runs
//! models (one intra-op thread), and timing helpers.

use anh_runtime::ort_environment;
use ort::session::{Session, builder::GraphOptimizationLevel};
use std::time::{Duration, Instant};

/// A raw `ort` session of the model `bytes`: all graph optimisations, one intra-op and one
/// inter-op thread.
pub(crate) fn session(bytes: &[u8]) -> Session {
    Session::builder(ort_environment().expect("ONNX Runtime: run ./dev setup"))
        .unwrap()
        .with_optimization_level(GraphOptimizationLevel::All)
        .unwrap()
        .with_intra_threads(1)
        .unwrap()
        .with_inter_threads(1)
        .unwrap()
        .commit_from_memory(bytes)
        .unwrap()
}

/// Mean time per call of `f` over `runs` calls.
pub(crate) fn time(runs: usize, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..runs {
        f();
    }
    start.elapsed() / runs as u32
}

/// The median of `v`.
pub(crate) fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}
