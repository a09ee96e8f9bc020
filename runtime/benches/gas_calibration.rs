//! Measures ONNX Runtime's cost per multiply-accumulate on this CPU, from which the DNN
//! precompiles' gas constants come (`anh-precompiles`' `gas` module), then checks that the
//! schedule's price covers the measured time of every model the tests and the examples run.
//!
//! **Calibration.** It times `OrtRuntime::run` (one intra-op thread, as a node runs) on batch-1
//! MatMul models from 16 K to 9.4 M MACs. Batch-1 inference reads every weight once per call,
//! so once the weights leave the caches the cost per MAC is set by memory bandwidth, not
//! arithmetic: gas must cover that worst case. The per-MAC rate the chain should charge is
//! therefore the largest cost per MAC among models of at least 10^6 MACs, and the fixed cost
//! per call is bounded by the time of the smallest model. The bench prints both and the
//! constants they imply next to the ones the chain charges.
//!
//! **Coverage.** For every model of the runtime's test fixtures (`runtime/testdata/*.onnx`;
//! those the store refuses, or whose inputs cannot be synthesised, are listed as skipped), the
//! synthetic models (`anh_runtime::synth`) the tests and benches use, and the example dapps'
//! models (`examples/`: the classifiers they build with `synth::classifier`, and the committed
//! GAN generator), at batch 1 and at the batch the example really sends, it prints: the MACs
//! the chain charges (the model's cost polynomial at the inputs' symbolic sizes), the gas of the
//! call (`GasSchedule::MEASURED.infer`, with a registry read of the model's full record) and
//! its compute part alone, the median time of `OrtRuntime::run` (`RuntimeConfig::default()`:
//! one intra-op thread), the time the gas pays for (gas × `NS_PER_GAS`) and the ratio paid /
//! measured; a ratio below 1 is marked NOT COVERED. Then the same for the `train` calls the
//! examples send (and the `train_step` bench's model), timing `OrtRuntime::train` against
//! `GasSchedule::MEASURED.train` plus the model it writes (`trained_model`), and the examples'
//! training calls once more at the most steps a call may ask for (`MAX_TRAIN_STEPS`), where the
//! fixed part of the train price is spread thinnest; the last lines count the rows covered. It measures the runtime only: the EVM, ABI
//! conversion and the committee are not in the time. Every row is a median of 7 rounds of
//! about 40 ms after a warm-up; the whole bench takes well under a minute on 2 cores. Nothing
//! is asserted.
//!
//! **A price for this device.** Last, it prints a chain spec `gas` object for the device it
//! ran on: `GasSchedule::MEASURED` with `gasPerMmac`, `coldModelKib` and `coldModelBase` set
//! from this run's worst measurements plus a quarter (`MARGIN`), ready for `anh chain spec`'s
//! output. A chain's price must cover the slowest member of its committee: calibrate on that
//! machine (`ANH_BENCH_DEVICE=cuda` times the CUDA execution provider, in a build with
//! `--features cuda`; without a usable GPU the runtime falls back to the CPU and says so).
//!
//! Run: `./dev bench gas` (or `cargo bench -p anh-runtime --bench gas_calibration`).

use alloy_primitives::Address;
use alloy_sol_types::SolValue;
use anh_precompiles::registry::LINEAGE_LEN;
use anh_primitives::{
    MAX_TRAIN_STEPS, ModelInfo, Registration, Rule, TrainParams,
    gas::{GasSchedule, NS_PER_GAS},
    shapes::{EmptyDims, bind},
};
use anh_runtime::{
    Dim, ElemType, HostTensor, ModelRuntime, ModelStore, OrtRuntime, RuntimeConfig, TensorData,
    synth::{self, matmul},
};
use std::{
    hint::black_box,
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

/// What a suggested price adds to the worst measurement.
const MARGIN: f64 = 1.25;

fn main() {
    let store = Arc::new(ModelStore::temporary().expect("temporary store"));
    let device = match std::env::var("ANH_BENCH_DEVICE").as_deref() {
        Ok("cuda") => anh_runtime::Device::Cuda { device_id: 0 },
        Ok("cpu") | Err(_) => anh_runtime::Device::Cpu,
        Ok(other) => panic!("ANH_BENCH_DEVICE={other}: expected cpu or cuda"),
    };
    println!("device: {device:?}");
    let config = RuntimeConfig { device, ..RuntimeConfig::default() };
    let runtime = OrtRuntime::new(store.clone(), config).expect("ONNX Runtime: run ./dev setup");
    let started = Instant::now();
    let per_mmac = calibration(&store, &runtime);
    let (per_kib, base) = cold_loads(&store, &runtime);
    let mut tally = Tally::default();
    inference_coverage(&store, &runtime, &mut tally);
    let mut most_steps = Tally::default();
    training_coverage(&store, &runtime, &mut tally, &mut most_steps);
    println!(
        "\ncoverage of the fixtures', tests' and examples' calls: {} of {} rows covered, {} NOT \
         COVERED",
        tally.covered,
        tally.covered + tally.not_covered,
        tally.not_covered,
    );
    println!(
        "at MAX_TRAIN_STEPS: {} of {} rows covered, {} NOT COVERED (bench took {:.0} s)",
        most_steps.covered,
        most_steps.covered + most_steps.not_covered,
        most_steps.not_covered,
        started.elapsed().as_secs_f64()
    );
    let suggested = GasSchedule {
        gas_per_mmac: (per_mmac * MARGIN).ceil() as u64,
        cold_model_kib: (per_kib * MARGIN).ceil() as u64,
        cold_model_base: ((base * MARGIN).ceil() as u64).max(GasSchedule::MEASURED.infer_base),
        ..GasSchedule::MEASURED
    };
    println!(
        "
a chain spec `gas` for {device:?} (this run's worst prices × {MARGIN}; the rest as \
         measured on the reference machine):\n{}",
        serde_json::to_string_pretty(&suggested).expect("a schedule serialises")
    );
}

/// The per-MAC price and the fixed cost per call, from batch-1 MatMuls; returns the implied
/// gas per 10^6 MACs.
fn calibration(store: &ModelStore, runtime: &OrtRuntime) -> f64 {
    let mut points = Vec::new();
    println!("\nOrtRuntime::run, MatMul [1,k]·[k,n], 1 intra-op thread, median of 7 rounds\n");
    println!("| k × n | MACs | time (µs) | ps per MAC |");
    println!("|---|---:|---:|---:|");
    for (k, n) in
        [(128, 128), (256, 256), (512, 512), (1024, 1024), (1536, 1536), (2048, 2048), (3072, 3072)]
    {
        let info = store.put(&matmul(k, n)).expect("model accepted");
        let x = HostTensor::new(vec![1, k as u64], TensorData::F32(vec![0.5; k as usize])).unwrap();
        let budget = 200_000_000 / (info.macs().max(1)) + 20;
        let runs = budget.clamp(20, 20_000) as usize;
        for _ in 0..runs.min(200) {
            runtime.run(info.hash, vec![x.clone()]).unwrap();
        }
        let mut rounds: Vec<f64> = (0..7)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..runs {
                    black_box(runtime.run(info.hash, vec![x.clone()]).unwrap());
                }
                start.elapsed().as_secs_f64() * 1e9 / runs as f64
            })
            .collect();
        rounds.sort_by(f64::total_cmp);
        let ns = rounds[3];
        println!(
            "| {k} × {n} | {} | {:.1} | {:.1} |",
            info.macs(),
            ns / 1e3,
            ns * 1e3 / info.macs() as f64
        );
        points.push((info.macs() as f64, ns));
    }
    let worst_ps =
        points.iter().filter(|(m, _)| *m >= 1e6).map(|(m, ns)| ns * 1e3 / m).fold(0.0, f64::max);
    let fixed_ns = points.first().map(|(_, ns)| *ns).unwrap_or(0.0);
    let schedule = GasSchedule::MEASURED;
    println!(
        "\nworst cost per MAC (models of 10^6 MACs or more): {worst_ps:.1} ps (charged as {} ps)",
        anh_primitives::gas::MEASURED_PS_PER_MAC
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
    worst_ps * 1e3 / NS_PER_GAS
}

/// The cold-model price: the time of a model's first call after its sessions were dropped
/// (read the file, check its hash, create the ONNX Runtime session) less a warm call's, for
/// MatMul models from 256 KiB to 256 MiB of weights and every fixture and example model,
/// against `GasSchedule::MEASURED.cold_model`; returns the implied gas per KiB and the least
/// cold time's gas.
fn cold_loads(store: &ModelStore, runtime: &OrtRuntime) -> (f64, f64) {
    let schedule = GasSchedule::MEASURED;
    println!(
        "\nCold model: first call after eviction less a warm call (file read, hash check, \
         session creation), median of 5, against GasSchedule::MEASURED.cold_model\n"
    );
    println!(
        "| model | bytes | cold (ms) | ns per KiB | charged gas | paid (ms) | paid / measured |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let sweep = [(256, 256), (1024, 1024), (2048, 2048), (4096, 4096), (8192, 8192)]
        .map(|(k, n)| Model::new(format!("MatMul {k} × {n}"), "synth", matmul(k, n), &[1]));
    let models = sweep.into_iter().chain(fixture_models()).chain(example_models());
    let (mut worst_per_kib, mut base, mut worst_ratio) = (0.0f64, f64::MAX, f64::MAX);
    for model in models {
        let Ok(info) = model.bytes.map_err(drop).and_then(|b| store.put(&b).map_err(drop)) else {
            continue;
        };
        let Ok(inputs) = synth_inputs(&info, 1) else { continue };
        if runtime.run(info.hash, inputs.clone()).is_err() {
            continue;
        }
        let time = |cold: bool| {
            let mut rounds: Vec<f64> = (0..5)
                .map(|_| {
                    if cold {
                        runtime.evict(&info.hash);
                    }
                    let start = Instant::now();
                    black_box(runtime.run(info.hash, inputs.clone()).unwrap());
                    start.elapsed().as_secs_f64() * 1e9
                })
                .collect();
            rounds.sort_by(f64::total_cmp);
            rounds[2]
        };
        let ns = (time(true) - time(false)).max(0.0);
        let kib = info.size.div_ceil(1024) as f64;
        if info.size >= 1 << 20 {
            worst_per_kib = worst_per_kib.max(ns / kib);
        }
        base = base.min(ns);
        let gas = schedule.cold_model(info.size);
        let ratio = gas as f64 * NS_PER_GAS / ns;
        worst_ratio = worst_ratio.min(ratio);
        println!(
            "| {} | {} | {:.2} | {:.0} | {gas} | {:.2} | {ratio:.2} |",
            model.name,
            info.size,
            ns / 1e6,
            ns / kib,
            gas as f64 * NS_PER_GAS / 1e6
        );
        runtime.evict(&info.hash);
    }
    println!(
        "\nworst cost per KiB (models of 1 MiB or more): {worst_per_kib:.0} ns, i.e. {:.1} gas \
         (charged: cold_model_kib {}); least cold time: {:.2} ms, i.e. {:.0} gas (charged: \
         cold_model_base {}); least paid / measured: {worst_ratio:.2}",
        worst_per_kib / NS_PER_GAS,
        schedule.cold_model_kib,
        base / 1e6,
        base / NS_PER_GAS,
        schedule.cold_model_base,
    );
    (worst_per_kib / NS_PER_GAS, base / NS_PER_GAS)
}

/// Rounds per measurement, and about how long each lasts.
const ROUNDS: usize = 7;
const ROUND: Duration = Duration::from_millis(40);
/// Warm-up after the first call (which creates the session or the step graph).
const WARM_UP: Duration = Duration::from_millis(30);

/// The median over [`ROUNDS`] rounds of the mean time of one `call`, in nanoseconds.
fn median_ns(mut call: impl FnMut()) -> f64 {
    call();
    let start = Instant::now();
    let mut warm = 0u32;
    while warm < 3 || start.elapsed() < WARM_UP {
        call();
        warm += 1;
    }
    let per_call = start.elapsed().as_secs_f64() / f64::from(warm);
    let runs = ((ROUND.as_secs_f64() / per_call).ceil() as usize).clamp(1, 20_000);
    let mut rounds: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..runs {
                call();
            }
            start.elapsed().as_secs_f64() * 1e9 / runs as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[ROUNDS / 2]
}

/// Words of a registry record of `len` bytes, its length word included (as the registry
/// counts them).
fn record_words(len: usize) -> u64 {
    1 + len.div_ceil(32) as u64
}

/// Gas of reading the full registry record of `info` registered under `name`: the least a
/// call on the model pays for its registry read (a model trained on chain also reads its
/// 7-word lineage record).
fn registry_gas(schedule: &GasSchedule, info: &ModelInfo, name: &str) -> u64 {
    let registration = Registration {
        info: info.clone(),
        name: name.into(),
        owner: Address::ZERO,
        registered_at: 0,
        rule: Rule::DEFAULT,
    };
    schedule.registry_read(record_words(registration.to_abi().abi_encode().len()))
}

/// Covered and not covered rows.
#[derive(Default)]
struct Tally {
    covered: usize,
    not_covered: usize,
}

impl Tally {
    /// The last columns of a row (gas, times, ratios, verdict), counted.
    fn columns(&mut self, gas: u64, compute: u64, measured_ns: f64) -> String {
        let paid_ns = gas as f64 * NS_PER_GAS;
        let ratio = paid_ns / measured_ns;
        let verdict = if ratio >= 1.0 {
            self.covered += 1;
            "covered"
        } else {
            self.not_covered += 1;
            "**NOT COVERED**"
        };
        format!(
            "{gas} | {compute} | {:.1} | {:.1} | {ratio:.2} | {:.2} | {verdict} |",
            measured_ns / 1e3,
            paid_ns / 1e3,
            compute as f64 * NS_PER_GAS / measured_ns
        )
    }
}

/// A model to check, and where it comes from.
struct Model {
    name: String,
    from: &'static str,
    bytes: Result<Vec<u8>, String>,
    /// The batch sizes to run at: batch 1, and the batches the example sends.
    batches: Vec<u64>,
    /// Whether the example's contract sends its batch-1 inputs as fixed-point (8 bytes an
    /// element on the ABI) rather than in the model's element type (larger batches come from
    /// Rust, as float32).
    fixed_point: bool,
}

impl Model {
    fn new(name: impl Into<String>, from: &'static str, bytes: Vec<u8>, batches: &[u64]) -> Self {
        let (name, bytes, batches) = (name.into(), Ok(bytes), batches.to_vec());
        Self { name, from, bytes, batches, fixed_point: false }
    }

    fn fixed_point(self) -> Self {
        Self { fixed_point: true, ..self }
    }
}

/// The examples' models: each `examples/src/<example>.rs` builds its classifier with
/// `synth::classifier` (the sizes and seeds below are theirs) and uploads it under the name
/// given; the GAN generator is a committed file.
fn example_models() -> Vec<Model> {
    let generator =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/gan-nft/generator.onnx");
    vec![
        // flashloan_guard.rs: GuardedPool runs it on [1, 8] fixed-point per swap; the
        // hold-out check infers a batch of 1 024 (float32) through eth_call.
        Model::new(
            "flashloan-detector: classifier 8-16-2",
            "examples/flashloan-guard",
            synth::classifier(8, &[16], 2, 11),
            &[1, 1024],
        )
        .fixed_point(),
        // dao_trader.rs: DaoTreasury.decide runs it on [1, 4] fixed-point.
        Model::new(
            "dao-policy: classifier 4-16-3",
            "examples/dao-trader",
            synth::classifier(4, &[16], 3, 11),
            &[1],
        )
        .fixed_point(),
        // loss_curve.rs: only trained on chain (batch 32).
        Model::new(
            "blobs-mlp: classifier 2-8-2",
            "examples/loss-curve",
            synth::classifier(2, &[8], 2, 3),
            &[1, 32],
        ),
        // gan_nft.rs: GanArt.mint runs it on z[1, 16] fixed-point.
        Model {
            name: "gan-nft-generator: generator.onnx".into(),
            from: "examples/gan-nft",
            bytes: std::fs::read(&generator)
                .map_err(|e| format!("cannot read {}: {e}", generator.display())),
            batches: vec![1],
            fixed_point: true,
        },
    ]
}

/// The synthetic models the tests and benches run (calibration MatMuls aside).
fn synth_models() -> Vec<Model> {
    vec![
        Model::new(
            "classifier 784-256-10",
            "train_step bench",
            synth::classifier(784, &[256], 10, 1),
            &[1, 32],
        ),
        Model::new(
            "classifier 784-10",
            "train_step bench",
            synth::classifier(784, &[], 10, 1),
            &[1, 32],
        ),
        Model::new(
            "classifier 2-64-64-2",
            "runtime training tests",
            synth::classifier(2, &[64, 64], 2, 7),
            &[1],
        ),
        Model::new(
            "classifier 2-4-2",
            "executor, anh tests",
            synth::classifier(2, &[4], 2, 11),
            &[1],
        ),
        Model::new(
            "deep_mlp 512 × 400 layers",
            "runtime inference tests",
            synth::deep_mlp(512, 400),
            &[1],
        ),
        Model::new(
            "deep_mlp 1024 × 64 layers",
            "committee bench, GPU check",
            synth::deep_mlp(1024, 64),
            &[1],
        ),
        Model::new("matmul 3200 × 3200", "committee bench", matmul(3200, 3200), &[1]),
    ]
}

/// The runtime's ONNX fixtures, by file name.
fn fixture_models() -> Vec<Model> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.ends_with(".onnx"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .into_iter()
        .map(|name| Model {
            bytes: std::fs::read(dir.join(&name)).map_err(|e| e.to_string()),
            name,
            from: "runtime/testdata",
            batches: vec![1],
            fixed_point: false,
        })
        .collect()
}

/// Deterministic inputs for `info` with every symbolic dimension set to `batch`: small floats,
/// zero integers (valid indices), alternating booleans.
fn synth_inputs(info: &ModelInfo, batch: u64) -> Result<Vec<HostTensor>, String> {
    info.inputs
        .iter()
        .map(|spec| {
            let shape: Vec<u64> = spec
                .shape
                .iter()
                .map(|d| match d {
                    Dim::Fixed(n) => *n,
                    Dim::Symbolic(_) => batch,
                })
                .collect();
            let n = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d as usize));
            let n =
                n.filter(|&n| n <= 1 << 26).ok_or(format!("input {} is too large", spec.name))?;
            let float = |i: usize| ((i * 37) % 255) as f64 / 255.0 - 0.5;
            let data = match spec.elem {
                ElemType::F32 => TensorData::F32((0..n).map(|i| float(i) as f32).collect()),
                ElemType::F64 => TensorData::F64((0..n).map(float).collect()),
                ElemType::I32 => TensorData::I32(vec![0; n]),
                ElemType::I64 => TensorData::I64(vec![0; n]),
                ElemType::U8 => TensorData::U8(vec![0; n]),
                ElemType::I8 => TensorData::I8(vec![0; n]),
                ElemType::Bool => TensorData::Bool((0..n).map(|i| i % 2 == 0).collect()),
            };
            HostTensor::new(shape, data).ok_or(format!("input {}: shape and data", spec.name))
        })
        .collect()
}

/// The shapes of `tensors`, repeated ones counted: `[1,784]`, `[2,1] ×7`.
fn shapes(tensors: &[HostTensor]) -> String {
    let mut groups: Vec<(String, usize)> = Vec::new();
    for t in tensors {
        let dims: Vec<String> = t.shape().iter().map(u64::to_string).collect();
        let shape = format!("[{}]", dims.join(","));
        match groups.last_mut() {
            Some((last, count)) if *last == shape => *count += 1,
            _ => groups.push((shape, 1)),
        }
    }
    let groups: Vec<String> = groups
        .into_iter()
        .map(|(s, count)| if count == 1 { s } else { format!("{s} ×{count}") })
        .collect();
    groups.join(" ")
}

/// The MACs the chain charges for `tensors`: the model's cost at their symbolic sizes.
fn charged_macs(info: &ModelInfo, tensors: &[HostTensor]) -> Result<u64, String> {
    let sizes = bind(&info.inputs, tensors.iter().map(HostTensor::shape), EmptyDims::Refused)
        .map_err(|e| e.to_string())?;
    info.cost.macs_at(&sizes).ok_or_else(|| "cost overflows".to_string())
}

fn inference_coverage(store: &ModelStore, runtime: &OrtRuntime, tally: &mut Tally) {
    let schedule = GasSchedule::MEASURED;
    println!(
        "\nGas coverage of inference: OrtRuntime::run (1 intra-op thread) against \
         GasSchedule::MEASURED.infer, median of {ROUNDS} rounds\n"
    );
    println!(
        "| model | from | input shapes | MACs charged | gas | compute gas | measured (µs) | \
         paid (µs) | paid / measured | compute only | |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|");
    let mut skipped = Vec::new();
    let models = fixture_models().into_iter().chain(synth_models()).chain(example_models());
    for model in models {
        let (label, from) = (model.name.as_str(), model.from);
        let info = match model.bytes.and_then(|b| store.put(&b).map_err(|e| e.to_string())) {
            Ok(info) => info,
            Err(e) => {
                skipped.push(format!("{label} ({from}): refused at upload: {e}"));
                continue;
            }
        };
        let read = registry_gas(&schedule, &info, label.split(':').next().unwrap_or(label));
        for &batch in &model.batches {
            let prepared = synth_inputs(&info, batch).and_then(|inputs| {
                let macs = charged_macs(&info, &inputs)?;
                runtime.run(info.hash, inputs.clone()).map_err(|e| format!("run failed: {e}"))?;
                Ok((inputs, macs))
            });
            let (inputs, macs) = match prepared {
                Ok(prepared) => prepared,
                Err(e) => {
                    skipped.push(format!("{label} ({from}), batch {batch}: {e}"));
                    continue;
                }
            };
            let fixed_point = model.fixed_point && batch == 1;
            let width = |t: &HostTensor| if fixed_point { 8 } else { t.elem_type().size() };
            let input_bytes: u64 = inputs.iter().map(|t| (t.len() * width(t)) as u64).sum();
            let gas = schedule.infer(read, input_bytes, macs).expect("gas");
            let compute = gas - schedule.infer(read, input_bytes, 0).expect("gas");
            let ns = median_ns(|| {
                black_box(runtime.run(info.hash, inputs.clone()).unwrap());
            });
            println!(
                "| {label} | {from} | {} | {} | {}",
                shapes(&inputs),
                macs,
                tally.columns(gas, compute, ns)
            );
        }
    }
    println!(
        "\ngas: a registry read of the model's full record (the least a call pays: a model \
         trained on chain also reads its lineage record), input bytes as callers send them \
         (8 bytes an element where the example's contract sends fixed-point, at batch 1)"
    );
    if skipped.is_empty() {
        println!("skipped: none");
    }
    for s in skipped {
        println!("skipped: {s}");
    }
}

/// A `train` call an example (or a bench) sends.
struct TrainCase {
    name: &'static str,
    from: &'static str,
    bytes: Vec<u8>,
    features: usize,
    classes: usize,
    batch: usize,
    params: TrainParams,
}

fn training_coverage(
    store: &ModelStore,
    runtime: &OrtRuntime,
    tally: &mut Tally,
    most_steps: &mut Tally,
) {
    let params = |steps, learning_rate, loss, optimizer| TrainParams {
        steps,
        learning_rate,
        loss,
        optimizer,
        trainable: Vec::new(),
        rank: 0,
    };
    let e17 = 10u64.pow(17);
    // The examples' `TRAIN_PARAMS` and batches; the train_step bench's model and batch.
    let cases = [
        TrainCase {
            name: "flashloan-detector: classifier 8-16-2",
            from: "examples/flashloan-guard",
            bytes: synth::classifier(8, &[16], 2, 11),
            features: 8,
            classes: 2,
            batch: 128,
            params: params(100, 5 * e17, 2, 1),
        },
        TrainCase {
            name: "dao-policy: classifier 4-16-3",
            from: "examples/dao-trader",
            bytes: synth::classifier(4, &[16], 3, 11),
            features: 4,
            classes: 3,
            batch: 32,
            params: params(8, 3 * e17, 3, 1),
        },
        TrainCase {
            name: "blobs-mlp: classifier 2-8-2",
            from: "examples/loss-curve",
            bytes: synth::classifier(2, &[8], 2, 3),
            features: 2,
            classes: 2,
            batch: 32,
            params: params(8, 2 * e17, 2, 1),
        },
        TrainCase {
            name: "classifier 784-256-10",
            from: "train_step bench",
            bytes: synth::classifier(784, &[256], 10, 1),
            features: 784,
            classes: 10,
            batch: 32,
            params: params(100, e17 / 100, 2, 1),
        },
        TrainCase {
            name: "classifier 784-256-10",
            from: "train_step bench",
            bytes: synth::classifier(784, &[256], 10, 1),
            features: 784,
            classes: 10,
            batch: 32,
            params: params(100, e17 / 100, 2, 3),
        },
    ];
    println!(
        "\nGas coverage of training: OrtRuntime::train (1 intra-op thread) against \
         GasSchedule::MEASURED.train, median of {ROUNDS} rounds\n"
    );
    println!(
        "| model | from | batch, steps, loss, optimizer | MACs charged | gas | compute gas | \
         measured (µs) | paid (µs) | paid / measured | compute only | |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for case in &cases {
        train_row(store, runtime, case, case.params.clone(), tally);
    }
    println!(
        "\ngas: registry read of the parent's full record, batch bytes as sent (float32 inputs, \
         int64 labels, float32 sample weights), the new 7-word lineage record; the GAN generator \
         is trained off chain (`gan_nft::gan::train`), so it has no row here"
    );

    // The fixed part of a train call (the new record's registration) pays for much of a small
    // model's time; the most steps a call may ask for spread it thinnest.
    println!(
        "\nThe examples' training calls at the most steps a call may ask for \
         (MAX_TRAIN_STEPS = {MAX_TRAIN_STEPS}; not what the examples send)\n"
    );
    println!(
        "| model | from | batch, steps, loss, optimizer | MACs charged | gas | compute gas | \
         measured (µs) | paid (µs) | paid / measured | compute only | |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for case in cases.iter().filter(|c| c.from.starts_with("examples/")) {
        let params = TrainParams { steps: MAX_TRAIN_STEPS, ..case.params.clone() };
        train_row(store, runtime, case, params, most_steps);
    }
}

/// Times `case` trained with `p`, prints its row.
fn train_row(
    store: &ModelStore,
    runtime: &OrtRuntime,
    case: &TrainCase,
    p: TrainParams,
    tally: &mut Tally,
) {
    let schedule = GasSchedule::MEASURED;
    let info = store.put(&case.bytes).expect("model accepted");
    let n = case.batch;
    let x: Vec<f32> =
        (0..n * case.features).map(|i| ((i * 37) % 255) as f32 / 255.0 - 0.5).collect();
    let mut batch = vec![
        HostTensor::new(vec![n as u64, case.features as u64], TensorData::F32(x)).unwrap(),
        HostTensor::new(
            vec![n as u64],
            TensorData::I64((0..n).map(|i| (i % case.classes) as i64).collect()),
        )
        .unwrap(),
    ];
    if p.loss == 3 {
        let weights = (0..n).map(|i| if i % 3 == 0 { 0.5 } else { 1.0 }).collect();
        batch.push(HostTensor::new(vec![n as u64], TensorData::F32(weights)).unwrap());
    }
    let macs = charged_macs(&info, &batch[..1]).expect("batch fits the model");
    let batch_bytes: u64 = batch.iter().map(|t| (t.len() * t.elem_type().size()) as u64).sum();
    let read = registry_gas(&schedule, &info, case.name.split(':').next().unwrap_or(case.name));
    let lineage = record_words(LINEAGE_LEN);
    // The parent warm (as in a run of calls), the new model written.
    let written = schedule.trained_model(info.size, p.optimizer);
    let gas = schedule.train(read, batch_bytes, macs, p.steps, lineage).expect("gas") + written;
    let compute =
        gas - written - schedule.train(read, batch_bytes, 0, p.steps, lineage).expect("gas");
    if let Err(e) = runtime.train(info.hash, batch.clone(), &p, &|_, _| {}) {
        println!("| {} | {} | skipped: {e} |", case.name, case.from);
        return;
    }
    let ns = median_ns(|| {
        black_box(runtime.train(info.hash, batch.clone(), &p, &|_, _| {}).unwrap());
    });
    let optimizer = ["SGD", "momentum", "Adam"][usize::from(p.optimizer.clamp(1, 3)) - 1];
    let loss =
        ["MSE", "cross-entropy", "weighted cross-entropy"][usize::from(p.loss.clamp(1, 3)) - 1];
    println!(
        "| {} | {} | {n}, {}, {loss}, {optimizer} | {} | {}",
        case.name,
        case.from,
        p.steps,
        macs * 3 * (u64::from(p.steps) + 1),
        tally.columns(gas, compute, ns)
    );
}
