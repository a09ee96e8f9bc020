//! One training step against one forward pass of the same model and batch, on raw ONNX
//! Runtime sessions (the model's, and its step graph's from `anh_runtime::train`), side by
//! side in one run; then training steps per second end to end through `OrtRuntime::train`
//! (step graph cached, weights written back into a new model file at the end).
//!
//! Run: `./dev bench train` (or `cargo bench -p anh-runtime --bench train_step`).
//! `ANH_BENCH_RUNS` sets the runs per round (default 300; 5 rounds, interleaved).

mod common;

use common::{median, session, time};

use anh_primitives::TrainParams;
use anh_runtime::{
    HostTensor, ModelRuntime, ModelStore, OrtRuntime, RuntimeConfig, TensorData, synth,
    train::{Loss, Optimizer, TrainSpec, build_step_graph, read_state, read_weights},
};
use ort::value::{DynValue, Tensor};
use std::{
    hint::black_box,
    sync::Arc,
    time::{Duration, Instant},
};

const BATCH: usize = 32;

fn tensor(shape: Vec<usize>, values: Vec<f32>) -> DynValue {
    Tensor::from_array((shape, values)).unwrap().into_dyn()
}

fn main() {
    let runs: usize =
        std::env::var("ANH_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let cases: [(&str, usize, Vec<i64>, usize, Optimizer); 4] = [
        ("logistic regression 784-10", 784, vec![], 10, Optimizer::Sgd),
        ("logistic regression 784-10", 784, vec![], 10, Optimizer::Adam),
        ("MLP 784-256-10", 784, vec![256], 10, Optimizer::Sgd),
        ("MLP 784-256-10", 784, vec![256], 10, Optimizer::Adam),
    ];
    println!(
        "\nOne training step (cross-entropy) vs one forward pass, batch {BATCH}, one intra-op \
         thread, median of 5 interleaved rounds of {runs}\n"
    );
    println!(
        "| model | optimizer | forward (µs) | training step (µs) | step / forward | steps/s via OrtRuntime::train |"
    );
    println!("|---|---|---:|---:|---:|---:|");
    for (name, features, hidden, classes, optimizer) in cases {
        let bytes = synth::classifier(features as i64, &hidden, classes as i64, 1);
        let spec = TrainSpec { loss: Loss::CrossEntropy, optimizer, trainable: None };
        let step = build_step_graph(&bytes, &spec).unwrap();
        let x: Vec<f32> =
            (0..BATCH * features).map(|i| ((i * 37) % 255) as f32 / 255.0 - 0.5).collect();
        let y: Vec<i64> = (0..BATCH).map(|i| (i % classes) as i64).collect();

        let mut forward = session(&bytes);
        let mut forward_once = || {
            let inputs = vec![("x".to_string(), tensor(vec![BATCH, features], x.clone()))];
            black_box(forward.run(inputs).unwrap());
        };
        let weights = read_weights(&bytes, &spec).unwrap();
        let state = read_state(&bytes, &spec).unwrap();
        let mut stepper = session(&step.model);
        let shapes = |specs: &[anh_runtime::TensorSpec]| -> Vec<Vec<usize>> {
            specs
                .iter()
                .map(|s| {
                    s.shape
                        .iter()
                        .map(|d| match d {
                            anh_runtime::Dim::Fixed(n) => *n as usize,
                            anh_runtime::Dim::Symbolic(_) => 1,
                        })
                        .collect()
                })
                .collect()
        };
        let (weight_shapes, state_shapes) = (shapes(&step.weights), shapes(&step.state));
        let names: Vec<String> = step.input_names().iter().map(|s| s.to_string()).collect();
        let mut step_once = || {
            let mut values: Vec<DynValue> = Vec::new();
            for ((_, w), shape) in weights.iter().zip(&weight_shapes) {
                values.push(tensor(shape.clone(), w.clone()));
            }
            for ((_, s), shape) in state.iter().zip(&state_shapes) {
                values.push(tensor(shape.clone(), s.clone()));
            }
            values.push(tensor(vec![BATCH, features], x.clone()));
            values.push(Tensor::from_array((vec![BATCH], y.clone())).unwrap().into_dyn());
            values.push(tensor(vec![], vec![0.001]));
            let inputs: Vec<(String, DynValue)> = names.iter().cloned().zip(values).collect();
            black_box(stepper.run(inputs).unwrap());
        };
        forward_once();
        step_once();
        let (mut f, mut s) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            f.push(time(runs, &mut forward_once));
            s.push(time(runs, &mut step_once));
        }
        let (f, s) = (median(f), median(s));

        // End to end: 100 steps through OrtRuntime::train (graph and session cached by the
        // warm-up run).
        let store = Arc::new(ModelStore::temporary().unwrap());
        let model = store.put(&bytes).unwrap().hash;
        let runtime = OrtRuntime::new(store, RuntimeConfig::default()).unwrap();
        let batch = vec![
            HostTensor::new(vec![BATCH as u64, features as u64], TensorData::F32(x.clone()))
                .unwrap(),
            HostTensor::new(vec![BATCH as u64], TensorData::I64(y.clone())).unwrap(),
        ];
        let params = |steps| TrainParams {
            steps,
            learning_rate: 10u64.pow(15),
            loss: 2,
            optimizer: optimizer.code(),
            trainable: Vec::new(),
            rank: 0,
        };
        runtime.train(model, batch.clone(), &params(1), &|_, _| {}).unwrap();
        let start = Instant::now();
        runtime.train(model, batch, &params(100), &|_, _| {}).unwrap();
        let per_second = 100.0 / start.elapsed().as_secs_f64();

        let us = |d: Duration| d.as_secs_f64() * 1e6;
        println!(
            "| {name} | {optimizer:?} | {:.1} | {:.1} | {:.2}× | {:.0} |",
            us(f),
            us(s),
            us(s) / us(f),
            per_second
        );
    }
}
