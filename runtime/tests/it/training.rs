//! Training through `OrtRuntime` (`ModelRuntime::train` and `loss`): real ONNX Runtime
//! running the step graphs of `anh_runtime::train` on data the test generates.

use crate::common::runtime;
use alloy_primitives::keccak256;
use anh_primitives::TrainParams;
use anh_runtime::{
    HostTensor, ModelRuntime, ModelStore, RuntimeError, TensorData, compare_weights,
    frozen_unchanged, same_architecture, synth,
};
use prost::Message;
use std::sync::Arc;

/// Two Gaussian-ish blobs, class 0 around (−1, −1) and class 1 around (1, 1), `n` samples
/// (deterministic).
fn blobs(n: usize) -> (Vec<f32>, Vec<i64>) {
    let mut state = 42u64;
    let mut noise = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 1.6
    };
    let mut x = Vec::with_capacity(2 * n);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let label = (i % 2) as i64;
        let centre = if label == 0 { -1.0 } else { 1.0 };
        x.push(centre + noise());
        x.push(centre + noise());
        y.push(label);
    }
    (x, y)
}

fn batch(x: &[f32], y: &[i64]) -> Vec<HostTensor> {
    let n = y.len() as u64;
    vec![
        HostTensor::new(vec![n, 2], TensorData::F32(x.to_vec())).unwrap(),
        HostTensor::new(vec![n], TensorData::I64(y.to_vec())).unwrap(),
    ]
}

fn params(steps: u32, lr: f64, loss: u8, optimizer: u8) -> TrainParams {
    TrainParams {
        steps,
        learning_rate: (lr * 1e18) as u64,
        loss,
        optimizer,
        trainable: Vec::new(),
        rank: 0,
    }
}

/// The share of samples whose arg-max logit is the label.
fn accuracy(
    runtime: &dyn ModelRuntime,
    model: alloy_primitives::B256,
    x: &[f32],
    y: &[i64],
) -> f64 {
    let logits = runtime.run(model, batch(x, y)[..1].to_vec()).unwrap();
    let TensorData::F32(logits) = logits[0].data() else { panic!("float32 logits") };
    let right =
        logits.chunks(2).zip(y).filter(|(row, label)| (row[1] > row[0]) as i64 == **label).count();
    right as f64 / y.len() as f64
}

/// A classifier trains (the loss falls, accuracy ≥ 95%), the new file keeps the parent's
/// architecture and the optimiser state, its loss as `loss` computes it is the one claimed,
/// and training continues from the new file alone.
#[test]
fn trains_continues_and_checks() {
    let store = Arc::new(ModelStore::temporary().unwrap());
    let parent_bytes = synth::classifier(2, &[8], 2, 7);
    let parent = store.put(&parent_bytes).unwrap().hash;
    let runtime = runtime(store.clone());
    let (x, y) = blobs(64);

    let before = accuracy(&runtime, parent, &x, &y);
    let steps = std::sync::Mutex::new(Vec::new());
    let first = runtime
        .train(parent, batch(&x, &y), &params(30, 0.05, 2, 3), &|step, loss| {
            steps.lock().unwrap().push((step, loss));
        })
        .unwrap();
    assert_eq!(first.losses.len(), 31, "30 steps, then the new weights' loss");
    assert_eq!(steps.lock().unwrap().len(), 30);
    assert!(first.loss < first.losses[0] * 0.5, "loss {:?}", first.losses);
    assert_eq!(first.loss, *first.losses.last().unwrap());
    same_architecture(&parent_bytes, &first.model).unwrap();
    assert!(compare_weights(&first.model, &parent_bytes, 0, 0).is_err(), "weights moved");

    let child = store.put_with_parent(&first.model, Some(parent)).unwrap();
    assert_eq!(child.hash, keccak256(&first.model));
    assert_eq!(child.parent, Some(parent));
    let after = accuracy(&runtime, child.hash, &x, &y);
    assert!(after >= 0.95, "accuracy {before} → {after}");
    let checked = runtime.loss(child.hash, batch(&x, &y), 2).unwrap();
    assert!((checked - first.loss).abs() < 1e-5, "{checked} vs {}", first.loss);
    let old = runtime.loss(parent, batch(&x, &y), 2).unwrap();
    assert!((old - first.losses[0]).abs() < 1e-5, "{old} vs {}", first.losses[0]);

    // Adam's state is in the file: continuing gives what one longer run gives.
    let second =
        runtime.train(child.hash, batch(&x, &y), &params(10, 0.05, 2, 3), &|_, _| {}).unwrap();
    assert!((second.losses[0] - first.loss).abs() < 1e-5);
    let long = runtime.train(parent, batch(&x, &y), &params(40, 0.05, 2, 3), &|_, _| {}).unwrap();
    assert!(
        (long.loss - second.loss).abs() < 1e-4,
        "30 + 10 steps give {}, 40 steps give {}",
        second.loss,
        long.loss
    );
    compare_weights(&second.model, &long.model, 1_000_000, 1_000_000).unwrap();
    assert_eq!(runtime.stats().training_steps, 80);
}

/// A run whose loss stops being finite is refused and produces no model; bad parameters and
/// batches get errors that say what is wrong.
#[test]
fn divergence_and_bad_input() {
    let store = Arc::new(ModelStore::temporary().unwrap());
    let model = store.put(&synth::classifier(2, &[], 2, 3)).unwrap().hash;
    let runtime = runtime(store);
    let (x, y) = blobs(16);
    let targets: Vec<f32> = y.iter().flat_map(|&l| [1.0 - l as f32, l as f32]).collect();
    let regression = vec![
        batch(&x, &y)[0].clone(),
        HostTensor::new(vec![16, 2], TensorData::F32(targets)).unwrap(),
    ];
    let err = runtime.train(model, regression, &params(50, 1e30, 1, 1), &|_, _| {}).unwrap_err();
    assert!(
        matches!(err, RuntimeError::Training(ref m) if m.contains("training diverged")),
        "{err}"
    );

    let err = runtime
        .train(model, batch(&x, &y)[..1].to_vec(), &params(1, 0.1, 2, 1), &|_, _| {})
        .unwrap_err();
    assert!(err.to_string().contains("takes 2 input(s) (\"x\", \"labels\"), got 1"), "{err}");
    let wrong = vec![
        batch(&x, &y)[0].clone(),
        HostTensor::new(vec![16], TensorData::F32(vec![0.0; 16])).unwrap(),
    ];
    let err = runtime.train(model, wrong, &params(1, 0.1, 2, 1), &|_, _| {}).unwrap_err();
    assert!(err.to_string().contains("int64"), "{err}");
    let err = runtime.train(model, batch(&x, &y), &params(1, 0.1, 9, 1), &|_, _| {}).unwrap_err();
    assert!(err.to_string().contains("unknown loss 9"), "{err}");
}

/// The CUDA check of `scripts/gpu-check.sh`, run only with `ANH_REQUIRE_CUDA=1` (on a GPU
/// machine, a `--features cuda` build and the GPU library): the runtime must stay on CUDA
/// (no fallback), every fixture's outputs match the CPU's within 10⁻⁶ + 10⁻⁴ relative, a training
/// run's losses match the CPU's within 10⁻³, and the times of both are printed side by side.
#[test]
fn cuda_against_cpu() {
    if std::env::var("ANH_REQUIRE_CUDA").as_deref() != Ok("1") {
        eprintln!("cuda_against_cpu: skipped (set ANH_REQUIRE_CUDA=1 on a GPU machine)");
        return;
    }
    use anh_primitives::Rule;
    use anh_runtime::{Device, RuntimeConfig};
    use std::time::Instant;
    let store = Arc::new(ModelStore::temporary().unwrap());
    let cuda = crate::common::runtime_with(
        store.clone(),
        RuntimeConfig { device: Device::Cuda { device_id: 0 }, ..RuntimeConfig::default() },
    );
    let cpu = runtime(store.clone());
    assert!(matches!(cuda.active_device(), Device::Cuda { .. }), "fell back to CPU");
    for name in crate::common::GOOD_MODELS {
        let model = store.put(&crate::common::fixture(&format!("{name}.onnx"))).unwrap().hash;
        for case in crate::common::expected(name).cases {
            let inputs: Vec<HostTensor> = case.inputs.iter().map(|t| t.to_host()).collect();
            let on_gpu = cuda.run(model, inputs.clone()).unwrap();
            let on_cpu = cpu.run(model, inputs).unwrap();
            Rule::tolerance(1_000, 100_000)
                .check(&on_cpu, &on_gpu)
                .unwrap_or_else(|e| panic!("{name}: CUDA against CPU: {e}"));
        }
    }
    assert!(matches!(cuda.active_device(), Device::Cuda { .. }), "fell back to CPU");
    // A model with real work: 64 layers of 1 024 × 1 024, a batch of 64 (4.3 GMAC).
    let deep = store.put(&synth::deep_mlp(1024, 64)).unwrap().hash;
    let x = HostTensor::new(vec![64, 1024], TensorData::F32(vec![0.01; 64 * 1024])).unwrap();
    let time = |runtime: &anh_runtime::OrtRuntime| {
        runtime.run(deep, vec![x.clone()]).unwrap(); // session creation, warm-up
        let started = Instant::now();
        let out = runtime.run(deep, vec![x.clone()]).unwrap();
        (started.elapsed(), out)
    };
    let ((gpu_time, gpu_out), (cpu_time, cpu_out)) = (time(&cuda), time(&cpu));
    Rule::tolerance(1_000, 1_000_000).check(&cpu_out, &gpu_out).unwrap();
    let (x, y) = blobs(256);
    let parent = store.put(&synth::classifier(2, &[64, 64], 2, 7)).unwrap().hash;
    let train = |runtime: &anh_runtime::OrtRuntime| {
        let started = Instant::now();
        let out = runtime.train(parent, batch(&x, &y), &params(50, 0.05, 2, 3), &|_, _| {});
        (started.elapsed(), out.unwrap())
    };
    let ((gpu_train, g), (cpu_train, c)) = (train(&cuda), train(&cpu));
    for (a, b) in g.losses.iter().zip(&c.losses) {
        assert!(
            (a - b).abs() <= 1e-3 * b.abs().max(1.0),
            "losses {:?} vs {:?}",
            g.losses,
            c.losses
        );
    }
    println!("| check | CUDA | CPU |");
    println!("|---|---|---|");
    println!("| deep MLP, 4.3 GMAC, one run | {gpu_time:?} | {cpu_time:?} |");
    println!("| training, 50 Adam steps, batch 256 | {gpu_train:?} | {cpu_train:?} |");
}

/// `trainOnly`: with `trainable` naming the last layer, the new file changes only its weights
/// (the frozen ones byte for byte the parent's, which `frozen_unchanged` confirms; the store
/// keeps it as a delta of the parent), the loss
/// still falls; a file whose frozen weight changed is caught; a name that is not a weight is
/// refused by name.
#[test]
fn trains_only_the_named_weights() {
    let store = Arc::new(ModelStore::temporary().unwrap());
    let parent_bytes = synth::classifier(2, &[64, 64], 2, 7);
    let parent = store.put(&parent_bytes).unwrap().hash;
    let runtime = runtime(store.clone());
    let (x, y) = blobs(64);
    let last = vec!["w2".to_string(), "b2".to_string()];
    let only = TrainParams { trainable: last.clone(), ..params(20, 0.05, 2, 3) };
    let out = runtime.train(parent, batch(&x, &y), &only, &|_, _| {}).unwrap();
    assert!(out.loss < out.losses[0], "{:?}", out.losses);
    same_architecture(&parent_bytes, &out.model).unwrap();
    frozen_unchanged(&parent_bytes, &out.model, &last).unwrap();
    let stored = store.put_with_parent(&out.model, Some(parent)).unwrap();
    assert!(store.is_delta(&stored.hash), "stored as the changed layer and its Adam state");
    let e = frozen_unchanged(&parent_bytes, &out.model, &["w2".to_string()]).unwrap_err();
    assert_eq!(e, "initializer \"b2\" changed, but only [\"w2\"] may train");

    let weights = |bytes: &[u8]| -> Vec<(String, Vec<u8>)> {
        let m = anh_runtime::onnx::ModelProto::decode(bytes).unwrap();
        m.graph.unwrap().initializer.into_iter().map(|t| (t.name, t.raw_data)).collect()
    };
    let (before, after) = (weights(&parent_bytes), weights(&out.model));
    for (name, raw) in &before {
        let new = &after.iter().find(|(n, _)| n == name).unwrap().1;
        assert_eq!(raw == new, !last.contains(name), "{name}");
    }

    for (names, message) in [
        (vec!["nope".to_string()], "\"nope\" is not a float32/float64 initializer of the model"),
        (vec!["w0".to_string(), "x".to_string()], "\"x\" is not a float32/float64 initializer"),
    ] {
        let p = TrainParams { trainable: names, ..params(2, 0.05, 2, 3) };
        let e = runtime.train(parent, batch(&x, &y), &p, &|_, _| {}).unwrap_err();
        assert!(e.to_string().contains(message), "{e}");
    }
}

/// LoRA: `trainAdapters`' path. The adapted model computes exactly what its parent does (its
/// `B` is zero); training rank-4 adapters on `w1` lowers the loss; the new file is the parent
/// with only `w1` changed (to `w1 + A·B`), and its own loss is the one training reported;
/// targets and ranks the adapters cannot take are refused by name.
#[test]
fn trains_low_rank_adapters() {
    use anh_runtime::train::adapt::{adapt, merge};
    let store = Arc::new(ModelStore::temporary().unwrap());
    let parent_bytes = synth::classifier(2, &[32, 32], 2, 7);
    let parent = store.put(&parent_bytes).unwrap().hash;
    let runtime = runtime(store.clone());
    let (x, y) = blobs(64);

    let adapted = adapt(&parent_bytes, &["w1".to_string()], 4).unwrap();
    assert_eq!(adapted.trainable(), ["anh.lora.A.w1", "anh.lora.B.w1"]);
    let input = batch(&x, &y)[..1].to_vec();
    let run = |bytes: &[u8]| crate::train::Runner::new(bytes).run(&input);
    assert_eq!(run(&adapted.model), run(&parent_bytes), "B = 0: the parent's outputs exactly");
    // Merging untrained adapters (B = 0) gives the parent back, bit for bit.
    let untrained: Vec<(String, Vec<f32>)> = anh_runtime::train::read_weights(
        &adapted.model,
        &anh_runtime::train::TrainSpec {
            loss: anh_runtime::train::Loss::CrossEntropy,
            optimizer: anh_runtime::train::Optimizer::Sgd,
            trainable: Some(adapted.trainable()),
        },
    )
    .unwrap();
    let same = merge(&parent_bytes, &adapted, &untrained).unwrap();
    assert_eq!(run(&same), run(&parent_bytes));

    let lora = TrainParams { trainable: vec!["w1".into()], rank: 4, ..params(30, 0.05, 2, 3) };
    let out = runtime.train(parent, batch(&x, &y), &lora, &|_, _| {}).unwrap();
    assert!(out.loss < out.losses[0] * 0.8, "{:?}", out.losses);
    same_architecture(&parent_bytes, &out.model).unwrap();
    frozen_unchanged(&parent_bytes, &out.model, &["w1".to_string()]).unwrap();
    assert!(frozen_unchanged(&parent_bytes, &out.model, &[]).is_err(), "w1 changed");
    let trained = store.put_with_parent(&out.model, Some(parent)).unwrap().hash;
    let merged_loss = runtime.loss(trained, batch(&x, &y), 2).unwrap();
    assert!((merged_loss - out.loss).abs() < 1e-5, "{merged_loss} vs {}", out.loss);

    for (targets, rank, message) in [
        (vec!["b1"], 2, "adapter target \"b1\" is not a 2-D float32/float64 initializer"),
        (vec!["w1"], 20, "adapter target \"w1\" [32, 32] is too small for rank 20"),
        (vec!["nope"], 2, "\"nope\" is not a float32/float64 initializer of the model"),
    ] {
        let p = TrainParams {
            trainable: targets.iter().map(|t| t.to_string()).collect(),
            rank,
            ..params(2, 0.05, 2, 3)
        };
        let e = runtime.train(parent, batch(&x, &y), &p, &|_, _| {}).unwrap_err();
        assert!(e.to_string().contains(message), "{e}");
    }
}
