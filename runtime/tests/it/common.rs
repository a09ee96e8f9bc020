//! Shared helpers: fixture files, the runtime under test, and the JSON expected outputs
//! written by `testdata/gen_fixtures.py`.

use anh_runtime::{
    ElemType, HostTensor, ModelStore, OrtRuntime, RuntimeConfig, TensorData, find_ort_library,
};
use serde::Deserialize;
use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

/// Path of a file in `runtime/testdata/`.
pub(crate) fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(name)
}

/// Bytes of a fixture.
pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let path = testdata(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The good models, each with a `.json` of expected outputs.
pub(crate) const GOOD_MODELS: [&str; 6] =
    ["mlp", "mlp_784_256_10", "cnn", "int64", "multi_io", "dtypes"];

/// An `OrtRuntime` over `store` with `config`; fails the test with the set-up message when
/// the ONNX Runtime library is missing.
pub(crate) fn runtime_with(store: Arc<ModelStore>, mut config: RuntimeConfig) -> OrtRuntime {
    config.library = Some(find_ort_library().unwrap_or_else(|e| panic!("{e}")));
    OrtRuntime::new(store, config).unwrap_or_else(|e| panic!("cannot start ONNX Runtime: {e}"))
}

/// An `OrtRuntime` with the default configuration over `store`.
pub(crate) fn runtime(store: Arc<ModelStore>) -> OrtRuntime {
    runtime_with(store, RuntimeConfig::default())
}

/// One tensor of a fixture's JSON.
#[derive(Debug, Deserialize)]
pub(crate) struct JsonTensor {
    pub(crate) name: String,
    pub(crate) dtype: String,
    pub(crate) shape: Vec<u64>,
    pub(crate) data: Vec<serde_json::Value>,
}

/// One input/expected-output case.
#[derive(Debug, Deserialize)]
pub(crate) struct Case {
    pub(crate) inputs: Vec<JsonTensor>,
    pub(crate) outputs: Vec<JsonTensor>,
}

/// A fixture's JSON file.
#[derive(Debug, Deserialize)]
pub(crate) struct Expected {
    pub(crate) model: String,
    pub(crate) cases: Vec<Case>,
}

/// The expected outputs of `NAME.onnx`.
pub(crate) fn expected(name: &str) -> Expected {
    serde_json::from_slice(&fixture(&format!("{name}.json"))).expect("valid fixture JSON")
}

impl JsonTensor {
    pub(crate) fn elem(&self) -> ElemType {
        match self.dtype.as_str() {
            "float32" => ElemType::F32,
            "float64" => ElemType::F64,
            "int32" => ElemType::I32,
            "int64" => ElemType::I64,
            "uint8" => ElemType::U8,
            "int8" => ElemType::I8,
            "bool" => ElemType::Bool,
            other => panic!("unknown dtype {other}"),
        }
    }

    /// As a host tensor.
    pub(crate) fn to_host(&self) -> HostTensor {
        let f = |v: &serde_json::Value| v.as_f64().expect("number");
        let i = |v: &serde_json::Value| v.as_i64().expect("integer");
        let data = match self.elem() {
            ElemType::F32 => TensorData::F32(self.data.iter().map(|v| f(v) as f32).collect()),
            ElemType::F64 => TensorData::F64(self.data.iter().map(f).collect()),
            ElemType::I32 => TensorData::I32(self.data.iter().map(|v| i(v) as i32).collect()),
            ElemType::I64 => TensorData::I64(self.data.iter().map(i).collect()),
            ElemType::U8 => TensorData::U8(self.data.iter().map(|v| i(v) as u8).collect()),
            ElemType::I8 => TensorData::I8(self.data.iter().map(|v| i(v) as i8).collect()),
            ElemType::Bool => {
                TensorData::Bool(self.data.iter().map(|v| v.as_bool().expect("bool")).collect())
            }
        };
        HostTensor::new(self.shape.clone(), data).expect("shape matches data")
    }
}

/// Asserts `got` equals `want`: exactly for integers and bools, within 1e-6 relative for
/// floats.
pub(crate) fn assert_close(got: &HostTensor, want: &HostTensor, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    assert_eq!(got.elem_type(), want.elem_type(), "{what}: element type");
    fn close(a: f64, b: f64) -> bool {
        a == b || (a - b).abs() <= 1e-6 * b.abs().max(1e-6)
    }
    match (got.data(), want.data()) {
        (TensorData::F32(a), TensorData::F32(b)) => {
            for (k, (x, y)) in a.iter().zip(b).enumerate() {
                assert!(close(f64::from(*x), f64::from(*y)), "{what}[{k}]: {x} != {y}");
            }
        }
        (TensorData::F64(a), TensorData::F64(b)) => {
            for (k, (x, y)) in a.iter().zip(b).enumerate() {
                assert!(close(*x, *y), "{what}[{k}]: {x} != {y}");
            }
        }
        (a, b) => assert_eq!(a, b, "{what}"),
    }
}
