//! Measures ONNX Runtime's cost per multiply-accumulate on this CPU, from which the DNN
//! precompiles' gas constants come (`anh-precompiles`' `gas` module).
//!
//! It times `OrtRuntime::run` (one intra-op thread, as a node runs) on batch-1 MatMul models
//! from 16 K to 9.4 M MACs. Batch-1 inference reads every weight once per call, so once the
//! weights leave the caches the cost per MAC is set by memory bandwidth, not arithmetic: gas
//! must cover that worst case. The per-MAC rate the chain should charge is therefore the
//! largest cost per MAC among models of at least 10^6 MACs, and the fixed cost per call is
//! bounded by the time of the smallest model. The bench prints both and the constants they
//! imply next to the ones the chain charges.
//!
//! Run: `./dev bench gas` (or `cargo bench -p anh-runtime --bench gas_calibration`).

use anh_precompiles::gas::{GasSchedule, NS_PER_GAS};
use anh_runtime::{
    HostTensor, ModelRuntime, ModelStore, OrtRuntime, RuntimeConfig, TensorData, synth::matmul,
};
use std::{sync::Arc, time::Instant};

fn main() {
    let store = Arc::new(ModelStore::temporary().expect("temporary store"));
    let runtime = OrtRuntime::new(store.clone(), RuntimeConfig::default())
        .expect("ONNX Runtime: run ./dev setup");
    let mut points = Vec::new();
    println!("\nOrtRuntime::run, MatMul [1,k]·[k,n], 1 intra-op thread, median of 7 rounds\n");
    println!("| k × n | MACs | time (µs) | ps per MAC |");
    println!("|---|---:|---:|---:|");
    for (k, n) in
        [(128, 128), (256, 256), (512, 512), (1024, 1024), (1536, 1536), (2048, 2048), (3072, 3072)]
    {
        let info = store.put(&matmul(k, n)).expect("model accepted");
        let x = HostTensor::new(vec![1, k as u64], TensorData::F32(vec![0.5; k as usize])).unwrap();
        let budget = 200_000_000 / (info.macs.max(1)) + 20;
        let runs = budget.clamp(20, 20_000) as usize;
        for _ in 0..runs.min(200) {
            runtime.run(info.hash, vec![x.clone()]).unwrap();
        }
        let mut rounds: Vec<f64> = (0..7)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..runs {
                    std::hint::black_box(runtime.run(info.hash, vec![x.clone()]).unwrap());
                }
                start.elapsed().as_secs_f64() * 1e9 / runs as f64
            })
            .collect();
        rounds.sort_by(f64::total_cmp);
        let ns = rounds[3];
        println!(
            "| {k} × {n} | {} | {:.1} | {:.1} |",
            info.macs,
            ns / 1e3,
            ns * 1e3 / info.macs as f64
        );
        points.push((info.macs as f64, ns));
    }
    let worst_ps =
        points.iter().filter(|(m, _)| *m >= 1e6).map(|(m, ns)| ns * 1e3 / m).fold(0.0, f64::max);
    let fixed_ns = points.first().map(|(_, ns)| *ns).unwrap_or(0.0);
    let schedule = GasSchedule::MEASURED;
    println!(
        "\nworst cost per MAC (models of 10^6 MACs or more): {worst_ps:.1} ps (charged as {} ps)",
        anh_precompiles::gas::MEASURED_PS_PER_MAC
    );
    println!("fixed cost per call, at most: {:.1} µs", fixed_ns / 1e3);
    println!("one gas = {NS_PER_GAS:.1} ns (30 M gas per second of one core)");
    println!(
        "implied gas per 10^6 MACs: {:.2} (charged: {})",
        worst_ps * 1e3 / NS_PER_GAS,
        schedule.gas_per_mmac
    );
    println!(
        "implied gas per call for the fixed cost: {:.0} (charged: infer_base {} + registry read ≥ {})",
        fixed_ns / NS_PER_GAS,
        schedule.infer_base,
        schedule.registry_read_base
    );
}
