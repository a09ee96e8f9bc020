//! Single-sample latency of `OrtRuntime::run` on the 784-256-10 MLP fixture.
//!
//! ```text
//! cargo run -p anh-runtime --release --example latency [RUNS]
//! ```
//!
//! Prints a small table: mean, percentiles and throughput of RUNS (default 20 000) runs of
//! one sample each, after a warm-up, with the default configuration (one intra-op thread).

use anh_runtime::{HostTensor, ModelRuntime, ModelStore, OrtRuntime, RuntimeConfig, TensorData};
use std::{path::Path, sync::Arc, time::Instant};

fn main() -> anh_runtime::Result<()> {
    let runs: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/mlp_784_256_10.onnx");
    let bytes = std::fs::read(&path).expect("the fixture is in runtime/testdata");
    let store = Arc::new(ModelStore::temporary()?);
    let info = store.put(&bytes)?;
    let runtime = OrtRuntime::new(store, RuntimeConfig::default())?;
    let x: Vec<f32> = (0..784).map(|i| ((i * 37) % 255) as f32 / 255.0).collect();
    let input = HostTensor::new(vec![1, 784], TensorData::F32(x)).expect("784 values");

    let started = Instant::now();
    runtime.run(info.hash, vec![input.clone()])?;
    let first = started.elapsed();
    for _ in 0..1000 {
        runtime.run(info.hash, vec![input.clone()])?;
    }

    let mut times = Vec::with_capacity(runs);
    let all = Instant::now();
    for _ in 0..runs {
        let input = input.clone();
        let t = Instant::now();
        let out = runtime.run(info.hash, vec![input])?;
        times.push(t.elapsed());
        std::hint::black_box(out);
    }
    let total = all.elapsed();
    times.sort_unstable();
    let pct = |p: f64| times[((times.len() as f64 - 1.0) * p) as usize];
    let mean = times.iter().sum::<std::time::Duration>() / runs as u32;
    println!(
        "OrtRuntime::run, 784-256-10 MLP, batch 1, {runs} runs (ONNX Runtime {})",
        anh_runtime::ORT_VERSION
    );
    println!("| first run (session creation) | {first:>10.1?} |");
    println!("| mean                         | {mean:>10.1?} |");
    println!("| p50                          | {:>10.1?} |", pct(0.50));
    println!("| p90                          | {:>10.1?} |", pct(0.90));
    println!("| p99                          | {:>10.1?} |", pct(0.99));
    println!("| min                          | {:>10.1?} |", times[0]);
    println!("| runs per second              | {:>10.0} |", runs as f64 / total.as_secs_f64());
    Ok(())
}
