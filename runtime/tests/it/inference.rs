//! Inference through ONNX Runtime: every fixture against Python onnxruntime 1.31.1's outputs,
//! input validation, the session cache, concurrency and the CUDA fallback.

use crate::common::{GOOD_MODELS, assert_close, expected, fixture, runtime, runtime_with};
use alloy_primitives::B256;
use anh_runtime::{
    Device, HostTensor, ModelRuntime, ModelStore, OrtRuntime, RuntimeConfig, RuntimeError,
    TensorData, find_ort_library, loaded_ort_library,
};
use std::sync::Arc;

fn store_with_all() -> (Arc<ModelStore>, Vec<B256>) {
    let store = Arc::new(ModelStore::temporary().expect("store"));
    let hashes = GOOD_MODELS
        .iter()
        .map(|m| store.put(&fixture(&format!("{m}.onnx"))).expect("put").hash)
        .collect();
    (store, hashes)
}

fn check_all_cases(runtime: &OrtRuntime, model: B256, name: &str) {
    let expected = expected(name);
    assert_eq!(expected.model, format!("{name}.onnx"));
    for (c, case) in expected.cases.iter().enumerate() {
        let inputs: Vec<HostTensor> = case.inputs.iter().map(|t| t.to_host()).collect();
        let outputs = runtime.run(model, inputs).unwrap_or_else(|e| panic!("{name} case {c}: {e}"));
        assert_eq!(outputs.len(), case.outputs.len(), "{name} case {c}: output count");
        for (got, want) in outputs.iter().zip(&case.outputs) {
            assert_close(got, &want.to_host(), &format!("{name} case {c} output {}", want.name));
        }
    }
}

/// Every fixture's outputs equal Python onnxruntime's (exact for integers and bools,
/// within 1e-6 relative for floats), in the model's declared element types.
#[test]
fn every_fixture_matches_python_onnxruntime() {
    let (store, hashes) = store_with_all();
    let runtime = runtime(store);
    for (name, hash) in GOOD_MODELS.iter().zip(hashes) {
        check_all_cases(&runtime, hash, name);
    }
    assert_eq!(loaded_ort_library(), Some(find_ort_library().expect("library").as_path()));
}

/// A model's session is created once and reused across runs.
#[test]
fn sessions_are_cached() {
    let (store, hashes) = store_with_all();
    let runtime = runtime(store);
    let x = HostTensor::new(vec![2, 4], TensorData::F32(vec![0.5; 8])).expect("tensor");
    let first = runtime.run(hashes[0], vec![x.clone()]).expect("run");
    for _ in 0..10 {
        assert_eq!(runtime.run(hashes[0], vec![x.clone()]).expect("run"), first);
    }
    let stats = runtime.stats();
    assert_eq!(stats.sessions_created, 1);
    assert_eq!(stats.runs, 11);
    assert_eq!(stats.cached_models, 1);
}

/// The model cache is bounded; an evicted model gets a new session on its next run.
#[test]
fn model_cache_is_bounded() {
    let (store, hashes) = store_with_all();
    let runtime =
        runtime_with(store, RuntimeConfig { max_cached_models: 1, ..RuntimeConfig::default() });
    check_all_cases(&runtime, hashes[0], "mlp");
    check_all_cases(&runtime, hashes[2], "cnn");
    assert_eq!(runtime.stats().cached_models, 1);
    check_all_cases(&runtime, hashes[0], "mlp");
    assert_eq!(runtime.stats().sessions_created, 3);
    runtime.evict(&hashes[0]);
    assert_eq!(runtime.stats().cached_models, 0);
}

/// Many threads through one runtime get correct results, within the session bounds.
#[test]
fn concurrent_runs_share_sessions() {
    let (store, hashes) = store_with_all();
    let config = RuntimeConfig {
        max_concurrent_runs: 2,
        max_sessions_per_model: 2,
        ..RuntimeConfig::default()
    };
    let runtime = runtime_with(store, config);
    let runtime = &runtime;
    std::thread::scope(|s| {
        for t in 0..8 {
            let hashes = &hashes;
            s.spawn(move || {
                for i in 0..10 {
                    let m = (t + i) % GOOD_MODELS.len();
                    check_all_cases(runtime, hashes[m], GOOD_MODELS[m]);
                }
            });
        }
    });
    let stats = runtime.stats();
    assert!(stats.sessions_created <= 2 * GOOD_MODELS.len() as u64, "{stats:?}");
    assert!(stats.sessions_created >= GOOD_MODELS.len() as u64, "{stats:?}");
}

/// Input mismatches are refused before ONNX Runtime, with readable messages.
#[test]
fn input_validation_errors() {
    let (store, hashes) = store_with_all();
    let runtime = runtime(store);
    let mlp = hashes[0];
    let multi = hashes[4];

    let ints = HostTensor::new(vec![1, 4], TensorData::I64(vec![1; 4])).expect("tensor");
    let e = runtime.run(mlp, vec![ints]).unwrap_err();
    assert_eq!(e.to_string(), "input 0 (\"x\"): expected float32 [batch, 4], got int64 [1, 4]");

    let e = runtime.run(mlp, Vec::new()).unwrap_err();
    assert_eq!(e.to_string(), "model takes 1 input(s) (\"x\"), got 0");

    let wide = HostTensor::new(vec![1, 5], TensorData::F32(vec![1.0; 5])).expect("tensor");
    let e = runtime.run(mlp, vec![wide]).unwrap_err();
    assert!(matches!(e, RuntimeError::InputDim { dim: 1, size: 4, .. }), "{e}");

    let flat = HostTensor::new(vec![4], TensorData::F32(vec![1.0; 4])).expect("tensor");
    let e = runtime.run(mlp, vec![flat]).unwrap_err();
    assert!(matches!(e, RuntimeError::InputRank { expected_rank: 2, got_rank: 1, .. }), "{e}");

    let a = HostTensor::new(vec![2, 3], TensorData::F32(vec![1.0; 6])).expect("tensor");
    let b = HostTensor::new(vec![1, 3], TensorData::I32(vec![1; 3])).expect("tensor");
    let e = runtime.run(multi, vec![a, b]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "input 1 (\"b\"): expected int32 [batch, 3], got int32 [1, 3] (dimension 0 is \"batch\", which input 0 (\"a\") set to 2)"
    );
    assert_eq!(runtime.stats().runs, 0);
}

/// A model the store does not hold is a readable error, not a panic.
#[test]
fn unknown_model_error() {
    let store = Arc::new(ModelStore::temporary().expect("store"));
    let runtime = runtime(store);
    let e = runtime.run(B256::repeat_byte(1), Vec::new()).unwrap_err();
    assert!(matches!(e, RuntimeError::UnknownModel(_)), "{e}");
}

/// An empty batch runs and returns empty outputs of the right shape.
#[test]
fn empty_batch_runs() {
    let (store, hashes) = store_with_all();
    let runtime = runtime(store);
    let x = HostTensor::new(vec![0, 4], TensorData::F32(Vec::new())).expect("tensor");
    let out = runtime.run(hashes[0], vec![x]).expect("run");
    assert_eq!(out[0].shape(), &[0, 3]);
}

/// Collects the events logged on this thread, as (level, message).
#[derive(Clone, Default)]
struct Capture(Arc<std::sync::Mutex<Vec<(tracing::Level, String)>>>);

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        self.0.lock().expect("not poisoned").push((*event.metadata().level(), message.0));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Asking for CUDA where it is unavailable (this machine: no GPU, CPU build of the library)
/// falls back to CPU with exactly one warning, however many sessions follow, and still
/// computes right.
#[test]
fn cuda_falls_back_to_cpu_with_one_warning() {
    let (store, hashes) = store_with_all();
    let capture = Capture::default();
    let runtime = tracing::subscriber::with_default(capture.clone(), || {
        let config =
            RuntimeConfig { device: Device::Cuda { device_id: 0 }, ..RuntimeConfig::default() };
        let runtime = runtime_with(store, config);
        check_all_cases(&runtime, hashes[0], "mlp");
        check_all_cases(&runtime, hashes[2], "cnn");
        runtime
    });
    if runtime.active_device() != Device::Cpu {
        // A machine with a GPU and the GPU build: nothing fell back.
        return;
    }
    let events = capture.0.lock().expect("not poisoned");
    let warnings: Vec<&String> = events
        .iter()
        .filter(|(level, m)| *level == tracing::Level::WARN && m.contains("CUDA"))
        .map(|(_, m)| m)
        .collect();
    assert_eq!(warnings.len(), 1, "{events:?}");
    assert!(warnings[0].starts_with("CUDA execution provider unavailable ("), "{}", warnings[0]);
    assert!(warnings[0].ends_with("); falling back to CPU"), "{}", warnings[0]);
}

/// A run past `max_run_time` is stopped by ONNX Runtime and fails with `Deadline`, naming
/// the model and the deadline; its permit and session are free again, so the next run on
/// the same runtime works. A zero deadline stops a run before its first node.
#[test]
fn runs_stop_at_their_deadline() {
    let store = Arc::new(ModelStore::temporary().expect("store"));
    // 400 layers of 512 × 512 on a batch of 64: seconds of work for one core.
    let deep = store.put(&anh_runtime::synth::deep_mlp(512, 400)).expect("put").hash;
    let small = store.put(&fixture("mlp.onnx")).expect("put").hash;
    let after = std::time::Duration::from_millis(50);
    let config =
        RuntimeConfig { max_run_time: after, max_concurrent_runs: 1, ..RuntimeConfig::default() };
    let runtime = runtime_with(store.clone(), config);
    let x = HostTensor::new(vec![64, 512], TensorData::F32(vec![0.01; 64 * 512])).unwrap();
    let error = runtime.run(deep, vec![x]).unwrap_err();
    assert!(
        matches!(error, RuntimeError::Deadline { model, after: a } if model == deep && a == after)
    );
    assert_eq!(
        error.to_string(),
        format!(
            "ONNX Runtime stopped running model {deep} after 50ms, this node's deadline for one \
             run (--max-run-time)"
        )
    );
    let ok = HostTensor::new(vec![1, 4], TensorData::F32(vec![0.5; 4])).unwrap();
    runtime.run(small, vec![ok.clone()]).expect("the permit is free again");
    // The watchdog now sleeps with nothing to watch; a run due before it wakes wakes it.
    let x = HostTensor::new(vec![64, 512], TensorData::F32(vec![0.01; 64 * 512])).unwrap();
    let error = runtime.run(deep, vec![x]).unwrap_err();
    assert!(matches!(error, RuntimeError::Deadline { model, .. } if model == deep), "{error}");

    let zero =
        RuntimeConfig { max_run_time: std::time::Duration::ZERO, ..RuntimeConfig::default() };
    let error = runtime_with(store, zero).run(small, vec![ok]).unwrap_err();
    assert!(matches!(error, RuntimeError::Deadline { model, .. } if model == small), "{error}");
}

/// Subnormal floats are flushed to zero, inputs and results alike: on x86 a run whose values
/// become subnormal is several times slower than the same run on zeros (a caller could choose
/// such inputs to get work gas does not pay for), so every session runs with flush-to-zero.
#[test]
fn subnormal_values_are_flushed_to_zero() {
    let store = Arc::new(ModelStore::temporary().expect("store"));
    // y = x · w, w[0][0] = -8/64.
    let model = store.put(&anh_runtime::synth::matmul(1, 1)).expect("put").hash;
    let runtime = runtime(store);
    let run = |x: f32| {
        let input = HostTensor::new(vec![1, 1], TensorData::F32(vec![x])).unwrap();
        match runtime.run(model, vec![input]).expect("runs")[0].data() {
            TensorData::F32(y) => y[0],
            other => panic!("float32 output expected, got {other:?}"),
        }
    };
    assert_eq!(run(1.0), -0.125);
    assert_eq!(run(1e-30), -1.25e-31, "a normal product is kept");
    let subnormal = 1e-40f32;
    assert!(subnormal.is_subnormal());
    assert_eq!(run(subnormal), 0.0, "a subnormal input counts as zero");
    // 2e-38 is normal, its product -2.5e-39 is not: flushed.
    assert!(2e-38f32.is_normal() && (2e-38f32 * 0.125).is_subnormal());
    assert_eq!(run(2e-38), 0.0, "a subnormal result is flushed");
}
