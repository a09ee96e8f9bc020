//! What the precompile adds to an inference: raw `ort` `Session::run` against the same
//! inference through `OrtRuntime::run` and through the `infer` precompile in a revm EVM
//! (transaction validation, EVM call, ABI decode, registry read, shape and gas checks,
//! conversion, session pool, ABI encode), side by side in one run. A fourth column runs the
//! same transaction with an oracle that answers at once, to show the EVM and precompile work
//! alone.
//!
//! Run: `./dev bench precompile` (or `cargo bench -p anh-runtime --bench precompile_overhead`).
//! `ANH_BENCH_RUNS` sets the runs per round (default 4000; 5 rounds, interleaved).

mod common;

use common::{median, session, time};

use alloy_primitives::{Address, TxKind};
use alloy_sol_types::SolCall;
use anh_precompiles::{
    Dnn, HostTensor, TensorData,
    abi::{IInfer, IModelRegistry, Tensor},
    dtype, infer, install, registry,
};
use anh_runtime::{LocalOracle, ModelRuntime, ModelStore, OrtRuntime, RuntimeConfig};
use ort::value::{DynValue, Tensor as OrtTensor};
use revm::{
    Context, ExecuteCommitEvm, ExecuteEvm, MainBuilder, MainContext,
    bytecode::Bytecode,
    context::TxEnv,
    database::{CacheDB, EmptyDB},
    state::AccountInfo,
};
use std::{hint::black_box, path::Path, sync::Arc, time::Duration};

struct Case {
    name: &'static str,
    file: &'static str,
    shape: Vec<usize>,
}

fn input_values(n: usize) -> Vec<f32> {
    (0..n).map(|i| ((i * 37) % 255) as f32 / 255.0 - 0.5).collect()
}

fn main() {
    let runs: usize =
        std::env::var("ANH_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(4000);
    let cases = [
        Case { name: "MLP 784-256-10", file: "mlp_784_256_10.onnx", shape: vec![1, 784] },
        Case {
            name: "CNN 1×8×8 (Conv, MaxPool, Gemm)", file: "cnn.onnx", shape: vec![1, 1, 8, 8]
        },
    ];
    let mut rows = Vec::new();
    for case in cases {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(case.file);
        let bytes = std::fs::read(&path).expect("fixture");
        let count: usize = case.shape.iter().product();
        let x = input_values(count);

        // Raw ort: one session, one intra-op thread, the input built and the output copied
        // out on every call (as any caller must).
        let mut session = session(&bytes);
        let input_name = session.inputs()[0].name().to_string();
        let output_name = session.outputs()[0].name().to_string();
        let mut raw = || {
            let tensor = OrtTensor::from_array((case.shape.clone(), x.clone())).unwrap();
            let inputs: Vec<(String, DynValue)> = vec![(input_name.clone(), tensor.into_dyn())];
            let outputs = session.run(inputs).unwrap();
            let (_, y) = outputs[output_name.as_str()].try_extract_tensor::<f32>().unwrap();
            black_box(y.to_vec());
        };

        // The runtime ANH uses.
        let store = Arc::new(ModelStore::temporary().unwrap());
        let info = store.put(&bytes).unwrap();
        let runtime: Arc<OrtRuntime> =
            Arc::new(OrtRuntime::new(store.clone(), RuntimeConfig::default()).unwrap());
        let host = HostTensor::new(
            case.shape.iter().map(|&d| d as u64).collect(),
            TensorData::F32(x.clone()),
        )
        .unwrap();
        let runtime_call = || {
            black_box(runtime.run(info.hash, vec![host.clone()]).unwrap());
        };

        // The precompile in a revm EVM, the model registered on chain.
        let oracle = Arc::new(LocalOracle::new(store.clone(), runtime.clone()));
        let mut db = CacheDB::new(EmptyDB::default());
        db.insert_account_info(
            registry::ADDRESS,
            AccountInfo::default().with_code(Bytecode::new_raw(vec![0xfe].into())),
        );
        let mut evm =
            install(Context::mainnet().with_db(db).build_mainnet(), Arc::new(Dnn::new(oracle)));
        let caller = Address::repeat_byte(1);
        let tx = |to: Address, data: Vec<u8>, nonce: u64| {
            TxEnv::builder()
                .caller(caller)
                .kind(TxKind::Call(to))
                .data(data.into())
                .gas_limit(10_000_000)
                .nonce(nonce)
                .build()
                .unwrap()
        };
        let register = IModelRegistry::registerCall { model: info.hash, name: case.name.into() };
        assert!(
            evm.transact_commit(tx(registry::ADDRESS, register.abi_encode(), 0))
                .unwrap()
                .is_success()
        );
        let abi_input = dtype::encode(&host, None).unwrap();
        let call = IInfer::inferCall { model: info.hash, inputs: vec![abi_input] }.abi_encode();
        let infer_tx = tx(infer::ADDRESS, call, 1);
        let mut precompile = || {
            let result = evm.transact(infer_tx.clone()).unwrap().result;
            assert!(result.is_success(), "{result:?}");
            let outputs: Vec<Tensor> =
                IInfer::inferCall::abi_decode_returns(result.output().unwrap()).unwrap();
            black_box(outputs);
        };

        // The same transaction, answered at once: EVM and precompile work only.
        let instant = Arc::new(Instant {
            outputs: runtime.run(info.hash, vec![host.clone()]).unwrap(),
            store: std::sync::OnceLock::new(),
        });
        let _ = instant.store.set(store.clone());
        let mut db = CacheDB::new(EmptyDB::default());
        db.insert_account_info(
            registry::ADDRESS,
            AccountInfo::default().with_code(Bytecode::new_raw(vec![0xfe].into())),
        );
        let mut evm_only = install(
            Context::mainnet().with_db(db).build_mainnet(),
            Arc::new(Dnn::new(instant.clone())),
        );
        let register = IModelRegistry::registerCall { model: info.hash, name: case.name.into() };
        assert!(
            evm_only
                .transact_commit(tx(registry::ADDRESS, register.abi_encode(), 0))
                .unwrap()
                .is_success()
        );
        let mut no_inference = || {
            let result = evm_only.transact(infer_tx.clone()).unwrap().result;
            assert!(result.is_success(), "{result:?}");
            black_box(IInfer::inferCall::abi_decode_returns(result.output().unwrap()).unwrap());
        };

        // Warm up, then interleave rounds so drift hits every column alike.
        for _ in 0..500 {
            raw();
            runtime_call();
            precompile();
            no_inference();
        }
        let (mut a, mut b, mut c, mut d) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..5 {
            a.push(time(runs, &mut raw));
            b.push(time(runs, runtime_call));
            c.push(time(runs, &mut precompile));
            d.push(time(runs, &mut no_inference));
        }
        rows.push((case.name, info.macs(), median(a), median(b), median(c), median(d)));
    }

    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "\nOne inference, batch 1, ONNX Runtime {} on CPU with 1 intra-op thread (median of 5 rounds × {runs} calls)\n",
        anh_runtime::ORT_VERSION
    );
    println!(
        "| model | MACs | raw ort (µs) | OrtRuntime::run (µs) | infer precompile in revm (µs) | precompile / raw | added (µs) | same tx, no inference (µs) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (name, macs, raw, runtime, precompile, no_inference) in rows {
        println!(
            "| {name} | {macs} | {:.1} | {:.1} | {:.1} | {:.3}× | {:.1} | {:.1} |",
            us(raw),
            us(runtime),
            us(precompile),
            us(precompile) / us(raw),
            us(precompile) - us(raw),
            us(no_inference)
        );
    }
}

/// An oracle that answers at once with precomputed outputs.
#[derive(Debug)]
struct Instant {
    outputs: Vec<HostTensor>,
    store: std::sync::OnceLock<Arc<ModelStore>>,
}

impl anh_primitives::DnnOracle for Instant {
    fn model_info(
        &self,
        model: alloy_primitives::B256,
    ) -> Result<anh_primitives::ModelInfo, anh_primitives::OracleError> {
        use anh_runtime::ModelSource;
        self.store
            .get()
            .and_then(|store| store.model_info(&model))
            .ok_or(anh_primitives::OracleError::ModelUnavailable(model))
    }

    fn infer(
        &self,
        _request: anh_primitives::InferRequest<'_>,
    ) -> Result<Vec<HostTensor>, anh_primitives::OracleError> {
        Ok(self.outputs.clone())
    }
}
