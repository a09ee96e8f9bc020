//! The DNN precompiles end to end: the ONNX fixtures of `runtime/testdata/` uploaded to a
//! node, registered, and run through `eth_call`, a contract's view and mined transactions of
//! `DnnConsumer` (`contracts/src/test/DnnConsumer.sol`), compared with Python onnxruntime's
//! outputs; every revert reason; gas; model info and the model store's routes.

use crate::utils::*;
use alloy::{
    network::TransactionBuilder,
    primitives::{Address, B256, Bytes, U256, keccak256},
    providers::{DynProvider, Provider},
    rpc::types::{Filter, TransactionReceipt, TransactionRequest},
    sol_types::{SolCall, SolEvent, SolValue},
};
use anh::NodeConfig;
use anh_precompiles::{
    DnnError,
    abi::{IInfer, IModelInfo, IModelRegistry, Tensor},
    infer, info, registry,
};
use consumer::DnnConsumer;
use serde_json::{Value, json};
use std::path::PathBuf;

/// Bindings of the test contract. Its `Tensor` is the ABI's `Tensor`, declared again because
/// `sol!` resolves struct types within one invocation.
pub(crate) mod consumer {
    alloy::sol! {
        struct Tensor { uint8 dtype; uint64[] shape; bytes data; }
        struct Rule { uint8 kind; uint64 absTolerance; uint64 relTolerance; }

        #[sol(rpc)]
        contract DnnConsumer {
            event Inferred(bytes32 indexed model, uint256 outputs);
            function lastOutputs() external view returns (bytes memory);
            function lastFixed() external view returns (int64);
            function run(bytes32 model, Tensor[] calldata inputs) external returns (uint256 count);
            function runAs(bytes32 model, Tensor[] calldata inputs, uint8 dtype) external returns (uint256 count);
            function predict(bytes32 model, Tensor[] calldata inputs) external view returns (Tensor[] memory);
            function registerModel(bytes32 model, string calldata name) external;
            function registerInView(bytes32 model, string calldata name) external view;
            function tryInfer(bytes32 model, Tensor[] calldata inputs) external view returns (bool ok, bytes memory revertData);
            function lastError() external view returns (bytes memory);
            function runOrCatch(bytes32 model, Tensor[] calldata inputs, Rule calldata rule) external returns (bool ok);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Tensors.

/// Fixed-point with 6 decimals: int64 `v` meaning `v / 10^6`.
const FIXED6: u8 = 0x46;

fn tensor(dtype: u8, shape: &[u64], data: Vec<u8>) -> Tensor {
    Tensor { dtype, shape: shape.to_vec(), data: data.into() }
}

fn f32s(shape: &[u64], values: &[f32]) -> Tensor {
    tensor(1, shape, values.iter().flat_map(|v| v.to_be_bytes()).collect())
}

fn f64s(shape: &[u64], values: &[f64]) -> Tensor {
    tensor(2, shape, values.iter().flat_map(|v| v.to_be_bytes()).collect())
}

fn i32s(shape: &[u64], values: &[i32]) -> Tensor {
    tensor(3, shape, values.iter().flat_map(|v| v.to_be_bytes()).collect())
}

fn i64s(shape: &[u64], values: &[i64]) -> Tensor {
    tensor(4, shape, values.iter().flat_map(|v| v.to_be_bytes()).collect())
}

fn fixed(decimals: u8, shape: &[u64], values: &[i64]) -> Tensor {
    tensor(0x40 + decimals, shape, values.iter().flat_map(|v| v.to_be_bytes()).collect())
}

fn to_consumer(tensors: &[Tensor]) -> Vec<consumer::Tensor> {
    tensors
        .iter()
        .map(|t| consumer::Tensor { dtype: t.dtype, shape: t.shape.clone(), data: t.data.clone() })
        .collect()
}

fn from_consumer(tensors: Vec<consumer::Tensor>) -> Vec<Tensor> {
    tensors.into_iter().map(|t| Tensor { dtype: t.dtype, shape: t.shape, data: t.data }).collect()
}

/// The elements of a tensor: floats for float32/float64, integers for the integer types, bool
/// (0/1) and fixed-point (the raw int64).
#[derive(Debug, Clone, PartialEq)]
enum Values {
    Float(Vec<f64>),
    Int(Vec<i128>),
}

/// The elements of an ABI tensor, checking that its data length fits its shape.
fn values(t: &Tensor) -> Values {
    let size = match t.dtype {
        1 | 3 => 4,
        2 | 4 | 0x40..=0x52 => 8,
        5..=7 => 1,
        d => panic!("unknown dtype {d:#04x}"),
    };
    let count: u64 = t.shape.iter().product();
    assert_eq!(t.data.len() as u64, count * size, "data length of a {:?} tensor", t.shape);
    let chunks = t.data.chunks_exact(size as usize);
    let int = |f: fn(&[u8]) -> i128| Values::Int(chunks.clone().map(f).collect());
    match t.dtype {
        1 => Values::Float(
            chunks.map(|c| f32::from_be_bytes(c.try_into().unwrap()) as f64).collect(),
        ),
        2 => Values::Float(chunks.map(|c| f64::from_be_bytes(c.try_into().unwrap())).collect()),
        3 => int(|c| i32::from_be_bytes(c.try_into().unwrap()) as i128),
        5 => int(|c| c[0] as i128),
        6 => int(|c| c[0] as i8 as i128),
        7 => int(|c| {
            assert!(c[0] <= 1, "a bool element is {}", c[0]);
            c[0] as i128
        }),
        _ => int(|c| i64::from_be_bytes(c.try_into().unwrap()) as i128),
    }
}

/// The raw int64 elements of a fixed-point (or int64) tensor.
fn raw_i64(t: &Tensor) -> Vec<i64> {
    match values(t) {
        Values::Int(v) => v.into_iter().map(|x| i64::try_from(x).unwrap()).collect(),
        other => panic!("expected integers, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Fixtures.

/// A tensor of a fixture's JSON, as Python onnxruntime saw it.
#[derive(Debug, Clone)]
struct Expected {
    name: String,
    dtype: u8,
    shape: Vec<u64>,
    values: Values,
}

/// One case of a fixture: inputs and Python onnxruntime 1.31.1's outputs.
#[derive(Debug, Clone)]
struct Case {
    inputs: Vec<Tensor>,
    outputs: Vec<Expected>,
}

/// A good model of `runtime/testdata/` and its cases.
#[derive(Debug, Clone)]
struct Fixture {
    name: String,
    path: PathBuf,
    bytes: Vec<u8>,
    cases: Vec<Case>,
}

fn dtype_code(name: &str) -> u8 {
    match name {
        "float32" => 1,
        "float64" => 2,
        "int32" => 3,
        "int64" => 4,
        "uint8" => 5,
        "int8" => 6,
        "bool" => 7,
        other => panic!("unknown fixture dtype {other}"),
    }
}

fn json_tensor(v: &Value) -> (Tensor, Expected) {
    let dtype = dtype_code(v["dtype"].as_str().expect("dtype"));
    let shape: Vec<u64> = serde_json::from_value(v["shape"].clone()).expect("shape");
    let data = v["data"].as_array().expect("data");
    let int = |x: &Value| x.as_i64().map(i128::from).or_else(|| x.as_bool().map(i128::from));
    let ints = || data.iter().map(|x| int(x).expect("an integer")).collect::<Vec<_>>();
    let floats = || data.iter().map(|x| x.as_f64().expect("a number")).collect::<Vec<_>>();
    let (bytes, values): (Vec<u8>, Values) = match dtype {
        1 => {
            let v = floats();
            (v.iter().flat_map(|x| (*x as f32).to_be_bytes()).collect(), Values::Float(v))
        }
        2 => {
            let v = floats();
            (v.iter().flat_map(|x| x.to_be_bytes()).collect(), Values::Float(v))
        }
        _ => {
            let v = ints();
            let bytes = v
                .iter()
                .flat_map(|&x| match dtype {
                    3 => (x as i32).to_be_bytes().to_vec(),
                    4 => (x as i64).to_be_bytes().to_vec(),
                    _ => vec![x as u8],
                })
                .collect();
            (bytes, Values::Int(v))
        }
    };
    let name = v["name"].as_str().expect("name").to_string();
    (tensor(dtype, &shape, bytes), Expected { name, dtype, shape, values })
}

impl Fixture {
    fn load(name: &str) -> Self {
        let path = testdata(&format!("{name}.onnx"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let json_path = testdata(&format!("{name}.json"));
        let text = std::fs::read_to_string(&json_path).expect("fixture JSON");
        let doc: Value = serde_json::from_str(&text).expect("fixture JSON parses");
        let cases = doc["cases"]
            .as_array()
            .expect("cases")
            .iter()
            .map(|case| Case {
                inputs: case["inputs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| json_tensor(t).0)
                    .collect(),
                outputs: case["outputs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| json_tensor(t).1)
                    .collect(),
            })
            .collect::<Vec<_>>();
        assert!(!cases.is_empty(), "{name}.json has no cases");
        Self { name: name.to_string(), path, bytes, cases }
    }
}

/// `got` are `want`: same count, dtypes and shapes; integers equal, floats within 1e-6
/// relative plus 1e-6 absolute.
#[track_caller]
fn assert_outputs(context: &str, got: &[Tensor], want: &[Expected]) {
    assert_eq!(got.len(), want.len(), "{context}: number of outputs");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let at = format!("{context}: output {i} ({})", w.name);
        assert_eq!(g.dtype, w.dtype, "{at}: dtype");
        assert_eq!(g.shape, w.shape, "{at}: shape");
        match (values(g), &w.values) {
            (Values::Int(g), Values::Int(w)) => assert_eq!(&g, w, "{at}"),
            (Values::Float(g), Values::Float(w)) => {
                assert_eq!(g.len(), w.len(), "{at}: element count");
                for (j, (a, e)) in g.iter().zip(w).enumerate() {
                    assert!(
                        (a - e).abs() <= 1e-6 * e.abs() + 1e-6,
                        "{at}: element {j} is {a}, Python onnxruntime gave {e}"
                    );
                }
            }
            (g, w) => panic!("{at}: got {g:?}, expected {w:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// A node with the consumer contract deployed.

/// An `eth_call` that failed: the JSON-RPC error's code, message and data.
#[derive(Debug)]
struct CallError {
    code: i64,
    message: String,
    data: Bytes,
}

/// The call reverted with the precompiles' `expected` error: code 3, "execution reverted:
/// `message`", and revert data that decodes to `expected`.
#[track_caller]
fn assert_revert<T: std::fmt::Debug>(
    result: Result<T, CallError>,
    expected: DnnError,
    message: &str,
) {
    let error = match result {
        Ok(value) => panic!("expected {expected:?}, the call returned {value:?}"),
        Err(e) => e,
    };
    assert_eq!(error.code, 3, "{error:?}");
    assert_eq!(error.message, format!("execution reverted: {message}"));
    assert_eq!(DnnError::abi_decode(&error.data), Some(expected), "revert data {}", error.data);
    assert_eq!(
        DnnError::abi_decode(&error.data).map(|e| e.to_string()).as_deref(),
        Some(message),
        "the message is the error's own sentence"
    );
}

/// How a test registers a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Registrar {
    /// `anh model push FILE --name NAME --rpc-url URL --private-key KEY1`: dev account 1
    /// signs, so that the provider's cached nonce of dev account 0 stays right.
    Push,
    /// A transaction from dev account 0 to the registry.
    Account,
    /// A transaction calling `DnnConsumer.registerModel`: the contract is the owner.
    Contract,
}

/// A node with `DnnConsumer` deployed by dev account 0.
struct Chain {
    /// Held for the test's duration: dropping the handle shuts the server down.
    _node: anh::NodeHandle,
    url: String,
    provider: DynProvider,
    consumer: Address,
}

impl Chain {
    async fn start() -> Self {
        Self::start_with(NodeConfig::test()).await
    }

    async fn start_with(config: NodeConfig) -> Self {
        let node = node_with(config).await;
        let url = node.http_endpoint();
        let provider = provider(&node, KEY0);
        let consumer = deploy(&provider, "DnnConsumer").await;
        Self { _node: node, url, provider, consumer }
    }

    fn consumer(&self) -> DnnConsumer::DnnConsumerInstance<DynProvider> {
        DnnConsumer::new(self.consumer, self.provider.clone())
    }

    /// `eth_call` from dev account 0 with `extra` fields (`value`, `gas`) merged in.
    async fn call_with(
        &self,
        to: Address,
        data: impl Into<Bytes>,
        extra: Value,
    ) -> Result<Bytes, CallError> {
        let mut request = json!({ "from": ADDR0, "to": to, "data": data.into() });
        if let Value::Object(fields) = extra {
            request.as_object_mut().unwrap().extend(fields);
        }
        let reply = rpc(&self.url, "eth_call", json!([request, "latest"])).await;
        match reply.get("error") {
            None => Ok(serde_json::from_value(reply["result"].clone())
                .unwrap_or_else(|e| panic!("eth_call result {reply}: {e}"))),
            Some(error) => Err(CallError {
                code: error["code"].as_i64().expect("code"),
                message: error["message"].as_str().expect("message").to_string(),
                data: error["data"].as_str().map_or_else(Bytes::new, |d| d.parse().unwrap()),
            }),
        }
    }

    async fn call(&self, to: Address, data: impl Into<Bytes>) -> Result<Bytes, CallError> {
        self.call_with(to, data, Value::Null).await
    }

    /// `infer` through `eth_call` straight to the precompile.
    async fn infer(&self, model: B256, inputs: &[Tensor]) -> Result<Vec<Tensor>, CallError> {
        let data = IInfer::inferCall { model, inputs: inputs.to_vec() }.abi_encode();
        let bytes = self.call(infer::ADDRESS, data).await?;
        Ok(IInfer::inferCall::abi_decode_returns(&bytes).expect("infer returns Tensor[]"))
    }

    /// `inferAs` through `eth_call` straight to the precompile.
    async fn infer_as(
        &self,
        model: B256,
        inputs: &[Tensor],
        dtype: u8,
    ) -> Result<Vec<Tensor>, CallError> {
        let call = IInfer::inferAsCall { model, inputs: inputs.to_vec(), outputDtype: dtype };
        let bytes = self.call(infer::ADDRESS, call.abi_encode()).await?;
        Ok(IInfer::inferAsCall::abi_decode_returns(&bytes).expect("inferAs returns Tensor[]"))
    }

    /// `modelInfo` through `eth_call`.
    async fn model_info(&self, model: B256) -> Result<anh_precompiles::abi::ModelInfo, CallError> {
        let bytes =
            self.call(info::ADDRESS, IModelInfo::modelInfoCall { model }.abi_encode()).await?;
        Ok(IModelInfo::modelInfoCall::abi_decode_returns(&bytes).expect("ModelInfo"))
    }

    async fn is_registered(&self, model: B256) -> bool {
        let bytes = self
            .call(info::ADDRESS, IModelInfo::isRegisteredCall { model }.abi_encode())
            .await
            .expect("isRegistered never reverts");
        IModelInfo::isRegisteredCall::abi_decode_returns(&bytes).expect("bool")
    }

    /// `anh_stats().inferencesRun`.
    async fn inferences(&self) -> u64 {
        let reply = rpc(&self.url, "anh_stats", json!([])).await;
        reply["result"]["inferencesRun"].as_u64().unwrap_or_else(|| panic!("anh_stats: {reply}"))
    }

    /// `anh_putModel`; checks the answer is the file's keccak256.
    async fn put_model(&self, bytes: &[u8]) -> B256 {
        let reply = rpc(&self.url, "anh_putModel", json!([Bytes::copy_from_slice(bytes)])).await;
        let hash: B256 = serde_json::from_value(reply["result"].clone())
            .unwrap_or_else(|e| panic!("anh_putModel: {reply}: {e}"));
        assert_eq!(hash, keccak256(bytes), "a model's hash is keccak256 of its file");
        hash
    }

    /// Registers `fixture` (already uploaded) as its own name; checks the `ModelRegistered`
    /// log and returns the owner and the block.
    async fn register(&self, how: Registrar, fixture: &Fixture, model: B256) -> (Address, u64) {
        let name = fixture.name.as_str();
        let owner = match how {
            Registrar::Push => {
                let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_anh"))
                    .args(["model", "push"])
                    .arg(&fixture.path)
                    .args(["--name", name, "--rpc-url", &self.url, "--private-key", KEY1])
                    .env("RUST_LOG", "warn")
                    .output()
                    .await
                    .expect("anh model push runs");
                let stderr = String::from_utf8_lossy(&output.stderr);
                assert!(output.status.success(), "anh model push failed: {stderr}");
                assert_eq!(
                    String::from_utf8(output.stdout).unwrap(),
                    format!("{model}\n"),
                    "stdout holds only the hash; stderr: {stderr}"
                );
                ADDR1
            }
            Registrar::Account => {
                let data = IModelRegistry::registerCall { model, name: name.into() }.abi_encode();
                let request =
                    TransactionRequest::default().with_to(registry::ADDRESS).with_input(data);
                let receipt = self.send(request).await;
                assert!(receipt.status(), "registering {name} failed");
                ADDR0
            }
            Registrar::Contract => {
                let pending = self.consumer().registerModel(model, name.into()).send().await;
                let receipt = pending.expect("registerModel sent").get_receipt().await.unwrap();
                assert!(receipt.status(), "registering {name} through the contract failed");
                self.consumer
            }
        };
        // Exactly one ModelRegistered log, from the registry, naming the model and the owner.
        let filter = Filter::new()
            .address(registry::ADDRESS)
            .event_signature(IModelRegistry::ModelRegistered::SIGNATURE_HASH)
            .topic1(model)
            .from_block(0u64);
        let logs = self.provider.get_logs(&filter).await.unwrap();
        assert_eq!(logs.len(), 1, "one registration of {name}");
        let event = logs[0].log_decode::<IModelRegistry::ModelRegistered>().unwrap();
        assert_eq!(
            (event.inner.model, event.inner.owner, event.inner.name.as_str()),
            (model, owner, name)
        );
        (owner, logs[0].block_number.expect("a mined log"))
    }

    /// Uploads and registers `name` from dev account 0.
    async fn install(&self, name: &str) -> (Fixture, B256) {
        let fixture = Fixture::load(name);
        let model = self.put_model(&fixture.bytes).await;
        self.register(Registrar::Account, &fixture, model).await;
        (fixture, model)
    }

    async fn send(&self, request: TransactionRequest) -> TransactionReceipt {
        self.provider.send_transaction(request).await.unwrap().get_receipt().await.unwrap()
    }

    /// A transaction from dev account 0 with an explicit gas limit (no estimate, which would
    /// refuse a reverting call and would run the model).
    async fn send_raw(&self, to: Address, data: impl Into<Bytes>, gas: u64) -> TransactionReceipt {
        let request =
            TransactionRequest::default().with_to(to).with_input(data.into()).with_gas_limit(gas);
        self.send(request).await
    }

    /// The node still answers, and a good inference still gives Python onnxruntime's result.
    async fn assert_serves(&self, mlp: &Fixture, model: B256) {
        assert!(self.provider.get_block_number().await.is_ok(), "the node answers");
        let case = &mlp.cases[0];
        let outputs = self.infer(model, &case.inputs).await.expect("a good inference succeeds");
        assert_outputs("good inference after bad input", &outputs, &case.outputs);
    }
}

// ---------------------------------------------------------------------------------------
// Every fixture against Python onnxruntime.

/// Uploads `name` with `anh_putModel`, registers it `how`, and checks every case of its JSON
/// through `eth_call` of `infer`, the consumer's view (STATICCALL) and a mined `run`.
async fn check_fixture(name: &str, how: Registrar) {
    let chain = Chain::start().await;
    let fixture = Fixture::load(name);
    let model = chain.put_model(&fixture.bytes).await;
    assert!(!chain.is_registered(model).await);
    chain.register(how, &fixture, model).await;
    assert!(chain.is_registered(model).await);
    let consumer = chain.consumer();

    for (i, case) in fixture.cases.iter().enumerate() {
        let context = format!("{name} case {i}");
        let called = chain.infer(model, &case.inputs).await.unwrap_or_else(|e| {
            panic!("{context}: infer reverted: {e:?}");
        });
        assert_outputs(&format!("{context} (eth_call)"), &called, &case.outputs);

        let viewed = consumer.predict(model, to_consumer(&case.inputs)).call().await.unwrap();
        assert_eq!(from_consumer(viewed), called, "{context}: the view gives the same bytes");

        let receipt = mined(consumer.run(model, to_consumer(&case.inputs))).await;
        assert!(receipt.status(), "{context}: run reverted");
        let event = receipt.inner.logs()[0].log_decode::<DnnConsumer::Inferred>().unwrap();
        assert_eq!(event.inner.model, model);
        assert_eq!(event.inner.outputs, U256::from(case.outputs.len()));
        let stored = consumer.lastOutputs().call().await.unwrap();
        let mined =
            Vec::<Tensor>::abi_decode(&stored).expect("lastOutputs is abi.encode(Tensor[])");
        assert_outputs(&format!("{context} (transaction)"), &mined, &case.outputs);
        assert_eq!(mined, called, "{context}: the transaction gives the same bytes as eth_call");
    }
}

/// mlp (Gemm, Relu; batches 1 and 3), registered with the `anh model push` binary, gives
/// Python onnxruntime's outputs through eth_call, a view and a transaction.
#[tokio::test(flavor = "multi_thread")]
async fn fixture_mlp() {
    check_fixture("mlp", Registrar::Push).await;
}

/// cnn (Conv, MaxPool, Flatten, Gemm; batches 1 and 3) gives Python onnxruntime's outputs.
#[tokio::test(flavor = "multi_thread")]
async fn fixture_cnn() {
    check_fixture("cnn", Registrar::Account).await;
}

/// int64 (Gather, ReduceSum, Add on int64), registered by a contract, gives exactly Python
/// onnxruntime's integers.
#[tokio::test(flavor = "multi_thread")]
async fn fixture_int64() {
    check_fixture("int64", Registrar::Contract).await;
}

/// multi_io (two inputs of two dtypes, two outputs of two dtypes, a shared symbolic batch)
/// gives Python onnxruntime's outputs in the declared order.
#[tokio::test(flavor = "multi_thread")]
async fn fixture_multi_io() {
    check_fixture("multi_io", Registrar::Account).await;
}

/// dtypes (one input and output of each of the seven element types) round-trips every dtype
/// through the ABI exactly as Python onnxruntime computes it.
#[tokio::test(flavor = "multi_thread")]
async fn fixture_dtypes() {
    check_fixture("dtypes", Registrar::Contract).await;
}

/// mlp_784_256_10 (an MNIST-sized MLP, 800 KB, pushed with the binary) gives Python
/// onnxruntime's outputs.
#[tokio::test(flavor = "multi_thread")]
async fn fixture_mlp_784_256_10() {
    check_fixture("mlp_784_256_10", Registrar::Push).await;
}

/// Pushing a model that is registered already is idempotent: the same hash on stdout, no
/// second registration.
#[tokio::test(flavor = "multi_thread")]
async fn push_twice_is_idempotent() {
    let chain = Chain::start().await;
    let fixture = Fixture::load("mlp");
    let model = keccak256(&fixture.bytes);
    chain.register(Registrar::Push, &fixture, model).await;
    let block = chain.provider.get_block_number().await.unwrap();
    // `register` asserts exactly one ModelRegistered log again.
    chain.register(Registrar::Push, &fixture, model).await;
    assert_eq!(chain.provider.get_block_number().await.unwrap(), block, "no transaction sent");
}

/// `anh model push` of a model of 4 MiB or more reports its upload on stderr — a line at
/// every quarter when stderr is not a terminal, then that the node is analysing it — and still
/// prints only the hash on stdout; a small model's push reports no progress.
#[tokio::test(flavor = "multi_thread")]
async fn push_shows_progress_for_large_models() {
    let chain = Chain::start().await;
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("big", anh_runtime::synth::matmul(1100, 1000)),
        ("small", anh_runtime::synth::matmul(10, 10)),
    ] {
        let path = dir.path().join(format!("{name}.onnx"));
        std::fs::write(&path, &bytes).unwrap();
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_anh"))
            .args(["model", "push"])
            .arg(&path)
            .args(["--name", name, "--rpc-url", &chain.url])
            .env("RUST_LOG", "warn")
            .output()
            .await
            .expect("anh model push runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        assert_eq!(String::from_utf8(output.stdout).unwrap(), format!("{}\n", keccak256(&bytes)));
        let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("uploaded ")).collect();
        if bytes.len() >= anh::push::PROGRESS_FROM {
            // One line per quarter reached, the last at 100 %.
            let percents: Vec<usize> = lines
                .iter()
                .filter_map(|l| l.split_whitespace().nth(1)?.trim_end_matches('%').parse().ok())
                .collect();
            assert_eq!(percents.len(), 4, "{stderr}");
            assert!(
                percents
                    .iter()
                    .enumerate()
                    .all(|(q, &p)| (25 * (q + 1)..25 * (q + 1) + 7).contains(&p)),
                "{stderr}"
            );
            assert!(lines[3].contains("(4.4 of 4.4 MB"), "{stderr}");
            assert!(
                stderr.contains("sent; the node is hashing and analysing the model"),
                "{stderr}"
            );
        } else {
            assert!(lines.is_empty() && !stderr.contains("sent;"), "{stderr}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Fixed-point.

/// `inferAs(…, 0x46)` is round-half-even of the float output × 10^6; `runAs` stores the
/// same first element; fixed-point inputs give exactly the results of the equal float and
/// integer inputs (integers rounding half to even); integer outputs scale exactly.
#[tokio::test(flavor = "multi_thread")]
async fn infer_as_fixed_point() {
    let chain = Chain::start().await;
    let (mlp, mlp_model) = chain.install("mlp").await;
    let (_, int64_model) = chain.install("int64").await;
    let (_, multi_model) = chain.install("multi_io").await;

    for (i, case) in mlp.cases.iter().enumerate() {
        let outputs = chain.infer_as(mlp_model, &case.inputs, FIXED6).await.unwrap();
        let floats = chain.infer(mlp_model, &case.inputs).await.unwrap();
        assert_eq!(outputs.len(), 1);
        assert_eq!((outputs[0].dtype, &outputs[0].shape), (FIXED6, &case.outputs[0].shape));
        let Values::Float(node) = values(&floats[0]) else { unreachable!() };
        let Values::Float(python) = &case.outputs[0].values else { unreachable!() };
        let got = raw_i64(&outputs[0]);
        for (j, ((&v, x), e)) in got.iter().zip(&node).zip(python).enumerate() {
            // The node's own float output, rounded half to even, is the fixed-point value…
            assert_eq!(v, (x * 1e6).round_ties_even() as i64, "case {i} element {j}");
            // …and Python's output (a float32, exact in f64) gives the same.
            let e = *e as f32 as f64;
            assert_eq!(v, (e * 1e6).round_ties_even() as i64, "case {i} element {j} ({e})");
        }

        let receipt =
            mined(chain.consumer().runAs(mlp_model, to_consumer(&case.inputs), FIXED6)).await;
        assert!(receipt.status());
        assert_eq!(chain.consumer().lastFixed().call().await.unwrap(), got[0]);
        let stored = chain.consumer().lastOutputs().call().await.unwrap();
        assert_eq!(Vec::<Tensor>::abi_decode(&stored).unwrap(), outputs);
    }

    // Fixed-point inputs convert by value: v / 10^k, exactly where float32 holds it.
    let floats = [f32s(&[2, 4], &[0.5, -1.25, 2.0, 0.125, -3.0, 0.0, 1.5, -0.0625])];
    let micro = [fixed(
        6,
        &[2, 4],
        &[500_000, -1_250_000, 2_000_000, 125_000, -3_000_000, 0, 1_500_000, -62_500],
    )];
    let milli = [fixed(3, &[2, 4], &[500, -1_250, 2_000, 125, -3_000, 0, 1_500, -63])];
    let want = chain.infer(mlp_model, &floats).await.unwrap();
    assert_eq!(chain.infer(mlp_model, &micro).await.unwrap(), want);
    assert_ne!(
        chain.infer(mlp_model, &milli).await.unwrap(),
        want,
        "-0.063 is not -0.0625: the test can tell inputs apart"
    );
    let four_decimals =
        [fixed(4, &[2, 4], &[5_000, -12_500, 20_000, 1_250, -30_000, 0, 15_000, -625])];
    assert_eq!(chain.infer(mlp_model, &four_decimals).await.unwrap(), want);

    // Into int64 inputs, fixed-point rounds half to even: 2.5 → 2, 1.5 → 2, 0.5 → 0, 8.5 → 8,
    // 4.499999 → 4, 6.500001 → 7.
    let ids = [fixed(6, &[1, 5], &[2_500_000, 1_500_000, 500_000, 8_500_000, 4_499_999])];
    let rounded = [i64s(&[1, 5], &[2, 2, 0, 8, 4])];
    let want = chain.infer(int64_model, &rounded).await.unwrap();
    assert_eq!(chain.infer(int64_model, &ids).await.unwrap(), want);
    let up = [fixed(6, &[1, 5], &[6_500_001, 0, 0, 0, 0])];
    assert_eq!(
        chain.infer(int64_model, &up).await.unwrap(),
        chain.infer(int64_model, &[i64s(&[1, 5], &[7, 0, 0, 0, 0])]).await.unwrap()
    );

    // Integer outputs as fixed-point are exact: y × 10^6; with 0 decimals, y itself.
    let scaled = chain.infer_as(int64_model, &rounded, FIXED6).await.unwrap();
    let plain = raw_i64(&want[0]);
    assert_eq!(raw_i64(&scaled[0]), plain.iter().map(|y| y * 1_000_000).collect::<Vec<_>>());
    let units = chain.infer_as(int64_model, &rounded, 0x40).await.unwrap();
    assert_eq!((units[0].dtype, raw_i64(&units[0])), (0x40, plain));

    // Mixed: a float32 input given as fixed-point, an int32 input given as float64.
    let natural = [f32s(&[1, 3], &[0.25, -1.5, 3.0]), i32s(&[1, 3], &[1, -2, 0])];
    let converted =
        [fixed(6, &[1, 3], &[250_000, -1_500_000, 3_000_000]), f64s(&[1, 3], &[1.0, -2.0, 0.0])];
    let want = chain.infer(multi_model, &natural).await.unwrap();
    assert_eq!(chain.infer(multi_model, &converted).await.unwrap(), want);
    // With inferAs every output converts, the int64 argmax included.
    let as_fixed = chain.infer_as(multi_model, &natural, FIXED6).await.unwrap();
    assert_eq!(raw_i64(&as_fixed[0]), vec![1_250_000, -3_500_000, 3_000_000]);
    assert_eq!(raw_i64(&as_fixed[1]), vec![2_000_000]);
}

// ---------------------------------------------------------------------------------------
// Revert reasons.

/// Registry errors: UnknownModel (infer, inferAs, modelInfo, and bubbled through a
/// contract), ModelUnavailable, AlreadyRegistered, WriteInStaticCall and an over-long name
/// each revert with their custom error; failed registrations change nothing.
#[tokio::test(flavor = "multi_thread")]
async fn registry_errors() {
    let chain = Chain::start().await;
    let (mlp, model) = chain.install("mlp").await;
    let inputs = mlp.cases[0].inputs.clone();

    // UnknownModel: a hash nobody registered.
    let unknown = B256::repeat_byte(0x42);
    let message = format!(
        "UnknownModel({unknown}): the model is not registered; register it with `anh model push FILE --name NAME`"
    );
    assert_revert(chain.infer(unknown, &inputs).await, DnnError::UnknownModel(unknown), &message);
    assert_revert(
        chain.infer_as(unknown, &inputs, FIXED6).await,
        DnnError::UnknownModel(unknown),
        &message,
    );
    assert_revert(chain.model_info(unknown).await, DnnError::UnknownModel(unknown), &message);
    // Through the contract: `run` bubbles the precompile's revert data, `tryInfer` catches it.
    let run = DnnConsumer::runCall { model: unknown, inputs: to_consumer(&inputs) };
    assert_revert(
        chain.call(chain.consumer, run.abi_encode()).await,
        DnnError::UnknownModel(unknown),
        &message,
    );
    let caught = chain.consumer().tryInfer(unknown, to_consumer(&inputs)).call().await.unwrap();
    assert!(!caught.ok);
    assert_eq!(DnnError::abi_decode(&caught.revertData), Some(DnnError::UnknownModel(unknown)));
    let caught = chain.consumer().tryInfer(model, to_consumer(&inputs)).call().await.unwrap();
    assert!(caught.ok && caught.revertData.is_empty());
    chain.assert_serves(&mlp, model).await;

    // ModelUnavailable: registering a hash whose bytes this node does not hold.
    let absent = keccak256(b"a model nobody uploaded");
    let register = |model: B256, name: &str| {
        IModelRegistry::registerCall { model, name: name.into() }.abi_encode()
    };
    assert_revert(
        chain.call(registry::ADDRESS, register(absent, "ghost")).await,
        DnnError::ModelUnavailable(absent),
        &format!(
            "ModelUnavailable({absent}): this node's model store does not hold the model; upload it with `anh model push` or anh_putModel"
        ),
    );
    let receipt = chain.send_raw(registry::ADDRESS, register(absent, "ghost"), 500_000).await;
    assert!(!receipt.status(), "a mined registration of an absent model fails");
    assert!(receipt.inner.logs().is_empty());
    assert!(!chain.is_registered(absent).await);
    chain.assert_serves(&mlp, model).await;

    // AlreadyRegistered: the record keeps its first name and owner.
    let before = chain.model_info(model).await.unwrap();
    assert_revert(
        chain.call(registry::ADDRESS, register(model, "again")).await,
        DnnError::AlreadyRegistered(model),
        &format!("AlreadyRegistered({model}): the model is registered already"),
    );
    let call = DnnConsumer::registerModelCall { model, name: "again".into() };
    assert_revert(
        chain.call(chain.consumer, call.abi_encode()).await,
        DnnError::AlreadyRegistered(model),
        &format!("AlreadyRegistered({model}): the model is registered already"),
    );
    let receipt = chain.send_raw(chain.consumer, call.abi_encode(), 500_000).await;
    assert!(!receipt.status());
    assert_eq!(chain.model_info(model).await.unwrap(), before);
    assert_eq!((before.name.as_str(), before.owner), ("mlp", ADDR0));

    // WriteInStaticCall: `register` under STATICCALL, for a model that could be registered.
    let cnn = Fixture::load("cnn");
    let stored = chain.put_model(&cnn.bytes).await;
    let in_view = DnnConsumer::registerInViewCall { model: stored, name: "cnn".into() };
    assert_revert(
        chain.call(chain.consumer, in_view.abi_encode()).await,
        DnnError::WriteInStaticCall,
        "WriteInStaticCall: this function changes state and cannot run under STATICCALL",
    );
    let receipt = chain.send_raw(chain.consumer, in_view.abi_encode(), 500_000).await;
    assert!(!receipt.status());
    assert!(!chain.is_registered(stored).await, "nothing was registered");

    // MalformedCall: a name over 256 bytes.
    let long = "n".repeat(257);
    assert_revert(
        chain.call(registry::ADDRESS, register(stored, &long)).await,
        DnnError::MalformedCall("the model name has 257 bytes, the limit is 256".into()),
        "MalformedCall: the model name has 257 bytes, the limit is 256",
    );
    assert!(!chain.is_registered(stored).await);

    // The model that could not be registered in a view registers normally afterwards.
    let fixture = Fixture { name: "n".repeat(256), ..cnn };
    chain.register(Registrar::Contract, &fixture, stored).await;
    assert_eq!(chain.model_info(stored).await.unwrap().owner, chain.consumer);
    chain.assert_serves(&mlp, model).await;
}

/// Input errors: WrongInputCount, InputMismatch (rank, fixed dimension, inconsistent
/// symbolic batch), BadTensor (unknown dtype, data length), ConversionFailed (inputs and
/// outputs) and an unknown output dtype each revert with their custom error; a bad input
/// never reaches the model.
#[tokio::test(flavor = "multi_thread")]
async fn input_errors() {
    let chain = Chain::start().await;
    let (mlp, model) = chain.install("mlp").await;
    let (_, multi) = chain.install("multi_io").await;
    let (_, int64) = chain.install("int64").await;
    let good = f32s(&[1, 4], &[0.1, 0.2, 0.3, 0.4]);
    let a = f32s(&[1, 3], &[1.0, 2.0, 3.0]);
    let b = i32s(&[1, 3], &[1, 2, 3]);
    let before = chain.inferences().await;

    // WrongInputCount.
    for (inputs, expected, got) in
        [(vec![a.clone()], 2, 1), (vec![a.clone(), b.clone(), b.clone()], 2, 3), (vec![], 2, 0)]
    {
        assert_revert(
            chain.infer(multi, &inputs).await,
            DnnError::WrongInputCount { expected, got },
            &format!("WrongInputCount: the model takes {expected} input(s), got {got}"),
        );
    }
    assert_revert(
        chain.infer(model, &[good.clone(), good.clone()]).await,
        DnnError::WrongInputCount { expected: 1, got: 2 },
        "WrongInputCount: the model takes 1 input(s), got 2",
    );
    chain.assert_serves(&mlp, model).await;

    // InputMismatch: wrong rank, wrong fixed dimension, a batch bound twice differently.
    assert_mismatch(
        &chain,
        model,
        vec![f32s(&[4], &[0.0; 4])],
        0,
        "float32 [batch, 4]",
        "float32 [4]",
    )
    .await;
    let rank3 = f32s(&[1, 4, 1], &[0.0; 4]);
    assert_mismatch(&chain, model, vec![rank3], 0, "float32 [batch, 4]", "float32 [1, 4, 1]").await;
    let wide = f32s(&[1, 5], &[0.0; 5]);
    assert_mismatch(&chain, model, vec![wide], 0, "float32 [batch, 4]", "float32 [1, 5]").await;
    let b2 = i32s(&[2, 3], &[0; 6]);
    assert_mismatch(&chain, multi, vec![a.clone(), b2], 1, "int32 [batch, 3]", "int32 [2, 3]")
        .await;
    // The caller's dtype is named in `got`, and shapes are checked before the data.
    let as_f64 = f64s(&[1, 5], &[0.0; 5]);
    assert_mismatch(&chain, model, vec![as_f64], 0, "float32 [batch, 4]", "float64 [1, 5]").await;
    chain.assert_serves(&mlp, model).await;

    // BadTensor: unknown dtypes, data that does not fit the shape.
    for code in [0u8, 8, 0x3f, 0x53, 0xff] {
        let reason = format!("unknown dtype {code:#04x}: expected 1-7 or 0x40-0x52 (fixed-point)");
        assert_revert(
            chain.infer(model, &[tensor(code, &[1, 4], vec![0; 16])]).await,
            DnnError::BadTensor { input: 0, reason: reason.clone() },
            &format!("BadTensor: input 0: {reason}"),
        );
    }
    let short = tensor(1, &[1, 4], vec![0; 12]);
    assert_revert(
        chain.infer(model, &[short]).await,
        DnnError::BadTensor {
            input: 0,
            reason: "data has 12 bytes, but shape [1, 4] of float32 needs 16".into(),
        },
        "BadTensor: input 0: data has 12 bytes, but shape [1, 4] of float32 needs 16",
    );
    let long_b = tensor(3, &[1, 3], vec![0; 13]);
    assert_revert(
        chain.infer(multi, &[a.clone(), long_b]).await,
        DnnError::BadTensor {
            input: 1,
            reason: "data has 13 bytes, but shape [1, 3] of int32 needs 12".into(),
        },
        "BadTensor: input 1: data has 13 bytes, but shape [1, 3] of int32 needs 12",
    );
    chain.assert_serves(&mlp, model).await;

    // ConversionFailed on an input: float64 beyond float32's range, NaN into int64, a float64
    // beyond int32's range.
    let huge = f64s(&[1, 4], &[0.0, 1.0, 1e39, 0.0]);
    let reason = "1000000000000000000000000000000000000000 overflows float32";
    assert_revert(
        chain.infer(model, &[huge]).await,
        DnnError::ConversionFailed { tensor: 0, element: 2, reason: reason.into() },
        &format!("ConversionFailed: tensor 0, element 2: {reason}"),
    );
    let nan = f32s(&[1, 5], &[0.0, 1.0, 2.0, 3.0, f32::NAN]);
    assert_revert(
        chain.infer(int64, &[nan]).await,
        DnnError::ConversionFailed {
            tensor: 0,
            element: 4,
            reason: "NaN cannot be converted to int64".into(),
        },
        "ConversionFailed: tensor 0, element 4: NaN cannot be converted to int64",
    );
    let too_big = f64s(&[1, 3], &[0.0, 3e9, 0.0]);
    assert_revert(
        chain.infer(multi, &[a.clone(), too_big]).await,
        DnnError::ConversionFailed {
            tensor: 1,
            element: 1,
            reason: "3000000000 does not fit int32".into(),
        },
        "ConversionFailed: tensor 1, element 1: 3000000000 does not fit int32",
    );
    // A bool takes only 0 and 1; a uint8 only 0 to 255.
    let dtypes = Fixture::load("dtypes");
    let dtypes_model = chain.put_model(&dtypes.bytes).await;
    chain.register(Registrar::Account, &dtypes, dtypes_model).await;
    let mut inputs = dtypes.cases[0].inputs.clone();
    let mut bools = inputs[6].data.to_vec();
    bools[3] = 2;
    inputs[6].data = bools.into();
    assert_revert(
        chain.infer(dtypes_model, &inputs).await,
        DnnError::ConversionFailed {
            tensor: 6,
            element: 3,
            reason: "2 is not a bool (0 or 1)".into(),
        },
        "ConversionFailed: tensor 6, element 3: 2 is not a bool (0 or 1)",
    );
    let mut inputs = dtypes.cases[0].inputs.clone();
    inputs[4] = i64s(&[2, 3], &[0, 255, 256, 1, 2, 3]);
    assert_revert(
        chain.infer(dtypes_model, &inputs).await,
        DnnError::ConversionFailed {
            tensor: 4,
            element: 2,
            reason: "256 does not fit uint8".into(),
        },
        "ConversionFailed: tensor 4, element 2: 256 does not fit uint8",
    );
    chain.assert_serves(&mlp, model).await;
    assert_eq!(chain.inferences().await, before + 4, "only the four good inferences ran");

    // ConversionFailed on an output: inferAs uint8 of a negative int64 (the model did run).
    let ids = [i64s(&[1, 5], &[2, 2, 0, 5, 4])]; // y = [-530, -2983, 1520]
    assert_revert(
        chain.infer_as(int64, &ids, 5).await,
        DnnError::ConversionFailed {
            tensor: 0,
            element: 0,
            reason: "-530 does not fit uint8".into(),
        },
        "ConversionFailed: tensor 0, element 0: -530 does not fit uint8",
    );
    // … and into int8 the first element that fails is named.
    let fits = [i64s(&[1, 5], &[0, 0, 0, 0, 0])];
    let y = raw_i64(&chain.infer(int64, &fits).await.unwrap()[0]);
    let first_bad =
        y.iter().position(|v| !(-128..=127).contains(v)).expect("an element beyond int8");
    let result = chain.infer_as(int64, &fits, 6).await;
    let Err(CallError { data, .. }) = &result else { panic!("expected a revert: {result:?}") };
    assert!(matches!(
        DnnError::abi_decode(data),
        Some(DnnError::ConversionFailed { tensor: 0, element, .. }) if element == first_bad as u64
    ));

    // An unknown output dtype is a malformed call.
    let reason = "unknown output dtype 0x09: expected 1-7 or 0x40-0x52 (fixed-point)";
    assert_revert(
        chain.infer_as(model, std::slice::from_ref(&good), 9).await,
        DnnError::MalformedCall(reason.into()),
        &format!("MalformedCall: {reason}"),
    );
    chain.assert_serves(&mlp, model).await;

    // A mined transaction with bad input reverts and stores nothing.
    let run = DnnConsumer::runCall { model, inputs: to_consumer(&[tensor(1, &[1, 4], vec![])]) };
    let receipt = chain.send_raw(chain.consumer, run.abi_encode(), 1_000_000).await;
    assert!(!receipt.status());
    assert!(chain.consumer().lastOutputs().call().await.unwrap().is_empty());
}

/// `inputs` revert with InputMismatch for `input`, naming the declared and the given shape.
async fn assert_mismatch(
    chain: &Chain,
    model: B256,
    inputs: Vec<Tensor>,
    input: usize,
    expected: &str,
    got: &str,
) {
    assert_revert(
        chain.infer(model, &inputs).await,
        DnnError::InputMismatch { input, expected: expected.into(), got: got.into() },
        &format!("InputMismatch: input {input}: expected {expected}, got {got}"),
    );
}

/// An index out of the int64 model's Gather table makes ONNX Runtime fail: InferenceFailed
/// with ONNX Runtime's reason, and a mined transaction reverts.
#[tokio::test(flavor = "multi_thread")]
async fn inference_failed() {
    let chain = Chain::start().await;
    let (mlp, mlp_model) = chain.install("mlp").await;
    let (_, model) = chain.install("int64").await;
    let before = chain.inferences().await;
    for bad in [10i64, -11, i64::MAX] {
        let ids = [i64s(&[1, 5], &[0, 1, bad, 3, 4])];
        let result = chain.infer(model, &ids).await;
        let Err(error) = &result else { panic!("index {bad}: expected a revert, got {result:?}") };
        let Some(DnnError::InferenceFailed(reason)) = DnnError::abi_decode(&error.data) else {
            panic!("index {bad}: expected InferenceFailed, got {error:?}")
        };
        assert_eq!(error.code, 3);
        assert_eq!(error.message, format!("execution reverted: InferenceFailed: {reason}"));
        assert!(reason.contains(&format!("ONNX Runtime failed to run model {model}")), "{reason}");
        assert!(reason.contains("out of data bounds"), "{reason}");
        assert!(reason.contains(&format!("idx={bad}")), "{reason}");
    }
    assert_eq!(chain.inferences().await, before, "failed inferences are not counted");
    // In range, negative indices count from the end (-10 is row 0), as ONNX defines.
    let wrapped = chain.infer(model, &[i64s(&[1, 5], &[-10, 1, 2, 3, 4])]).await.unwrap();
    assert_eq!(wrapped, chain.infer(model, &[i64s(&[1, 5], &[0, 1, 2, 3, 4])]).await.unwrap());

    let run =
        DnnConsumer::runCall { model, inputs: to_consumer(&[i64s(&[1, 5], &[0, 1, 10, 3, 4])]) };
    let receipt = chain.send_raw(chain.consumer, run.abi_encode(), 1_000_000).await;
    assert!(!receipt.status());
    chain.assert_serves(&mlp, mlp_model).await;
}

/// A node started with `max_tensor_elements = 8` refuses a 12-element input, a huge batch and
/// an overflowing shape with a reason (before gas is computed), and accepts 8 elements.
#[tokio::test(flavor = "multi_thread")]
async fn tensor_too_large() {
    let mut config = NodeConfig::test();
    config.genesis.dnn.max_tensor_elements = 8;
    let chain = Chain::start_with(config).await;
    let (mlp, model) = chain.install("mlp").await;
    let before = chain.inferences().await;
    let three = f32s(&[3, 4], &[0.5; 12]);
    assert_revert(
        chain.infer(model, &[three]).await,
        DnnError::TensorTooLarge { input: 0, elements: 12, limit: 8 },
        "TensorTooLarge: input 0 has 12 elements, the limit is 8",
    );
    assert_eq!(chain.inferences().await, before, "the model did not run");
    // A batch too large to pay for is refused by size, before gas, with a reason.
    let huge = tensor(1, &[1 << 40, 4], Vec::new());
    assert_revert(
        chain.infer(model, &[huge]).await,
        DnnError::TensorTooLarge { input: 0, elements: 1 << 42, limit: 8 },
        "TensorTooLarge: input 0 has 4398046511104 elements, the limit is 8",
    );
    let overflow = tensor(1, &[u64::MAX, 4], Vec::new());
    assert_revert(
        chain.infer(model, &[overflow]).await,
        DnnError::BadTensor { input: 0, reason: format!("shape {:?} overflows", [u64::MAX, 4]) },
        &format!("BadTensor: input 0: shape {:?} overflows", [u64::MAX, 4]),
    );
    let two = chain.infer(model, &[f32s(&[2, 4], &[0.5; 8])]).await.unwrap();
    assert_eq!(two[0].shape, vec![2, 3]);
    chain.assert_serves(&mlp, model).await;
}

/// Calldata errors: an unknown selector at each precompile is UnknownSelector; calldata
/// shorter than a selector, undecodable arguments and ether sent along are MalformedCall; a
/// mined transfer of ether to the inference precompile reverts and moves no ether.
#[tokio::test(flavor = "multi_thread")]
async fn call_errors() {
    let chain = Chain::start().await;
    let (mlp, model) = chain.install("mlp").await;

    // An unknown selector followed by enough bytes for any of the precompiles' arguments
    // (shorter calldata: see `unknown_selector_without_arguments`).
    let mut unknown = vec![0xde, 0xad, 0xbe, 0xef];
    unknown.extend_from_slice(&[0; 160]);
    for address in [registry::ADDRESS, infer::ADDRESS, info::ADDRESS] {
        assert_revert(
            chain.call(address, unknown.clone()).await,
            DnnError::UnknownSelector([0xde, 0xad, 0xbe, 0xef]),
            "UnknownSelector(0xdeadbeef): no such function in this precompile",
        );
        for short in [vec![], vec![0x01, 0x02]] {
            let reason = format!("calldata has {} bytes, shorter than a selector", short.len());
            assert_revert(
                chain.call(address, short).await,
                DnnError::MalformedCall(reason.clone()),
                &format!("MalformedCall: {reason}"),
            );
        }
    }
    chain.assert_serves(&mlp, model).await;

    // The right selector with arguments that do not decode.
    let mut truncated = IInfer::inferCall::SELECTOR.to_vec();
    truncated.extend_from_slice(&[0; 40]);
    let result = chain.call(infer::ADDRESS, truncated).await;
    let Err(error) = &result else { panic!("expected a revert, got {result:?}") };
    let Some(DnnError::MalformedCall(reason)) = DnnError::abi_decode(&error.data) else {
        panic!("expected MalformedCall, got {error:?}")
    };
    assert!(reason.starts_with("cannot decode the arguments: "), "{reason}");
    assert_eq!(
        (error.code, error.message.clone()),
        (3, format!("execution reverted: MalformedCall: {reason}"))
    );

    // Ether sent along.
    let inputs = mlp.cases[0].inputs.clone();
    let data = IInfer::inferCall { model, inputs }.abi_encode();
    assert_revert(
        chain.call_with(infer::ADDRESS, data.clone(), json!({ "value": "0x1" })).await,
        DnnError::MalformedCall("ANH precompiles do not accept ether".into()),
        "MalformedCall: ANH precompiles do not accept ether",
    );
    let balance = chain.provider.get_balance(ADDR0).await.unwrap();
    let request = TransactionRequest::default()
        .with_to(infer::ADDRESS)
        .with_input(data)
        .with_value(U256::from(1_000))
        .with_gas_limit(500_000);
    let receipt = chain.send(request).await;
    assert!(!receipt.status(), "ether to the inference precompile is refused");
    let fee = U256::from(receipt.gas_used) * U256::from(receipt.effective_gas_price);
    assert_eq!(chain.provider.get_balance(ADDR0).await.unwrap(), balance - fee, "only the fee");
    assert_eq!(chain.provider.get_balance(infer::ADDRESS).await.unwrap(), U256::ZERO);
    chain.assert_serves(&mlp, model).await;
}

/// An unknown selector is UnknownSelector whatever follows it: a bare selector, or one with
/// fewer argument bytes than the precompile's shortest function takes.
///
/// Fails today: `provider::call_error` sees alloy's `TypeCheckFail` (calldata shorter than
/// 4 + the interface's `MIN_DATA_LENGTH`, checked before the selector) and answers
/// MalformedCall("cannot decode the arguments: type check failed …").
#[tokio::test(flavor = "multi_thread")]
async fn unknown_selector_without_arguments() {
    let chain = Chain::start().await;
    let selector = [0xde, 0xad, 0xbe, 0xef];
    for address in [registry::ADDRESS, infer::ADDRESS, info::ADDRESS] {
        for extra in [0usize, 32, 64] {
            let mut data = selector.to_vec();
            data.extend(std::iter::repeat_n(0u8, extra));
            let result = chain.call(address, data).await;
            let Err(error) = &result else { panic!("expected a revert, got {result:?}") };
            assert_eq!(
                DnnError::abi_decode(&error.data),
                Some(DnnError::UnknownSelector(selector)),
                "{address} with 0xdeadbeef and {extra} bytes: {}",
                error.message
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Gas.

/// Intrinsic gas of `calldata` in a call transaction (EIP-2028), and the EIP-7623 floor.
fn intrinsic_gas(calldata: &[u8]) -> (u64, u64) {
    let zeros = calldata.iter().filter(|b| **b == 0).count() as u64;
    let nonzeros = calldata.len() as u64 - zeros;
    (21_000 + 4 * zeros + 16 * nonzeros, 21_000 + 10 * (zeros + 4 * nonzeros))
}

/// A transaction whose gas cannot pay for the inference fails (status 0) and the model never
/// runs (`inferencesRun` unchanged, nothing stored); with enough gas the committee settles it
/// with exactly `threshold` computations.
#[tokio::test(flavor = "multi_thread")]
async fn out_of_gas_never_runs_the_model() {
    let chain = Chain::start().await;
    let (mlp, model) = chain.install("mlp").await;
    let inputs = to_consumer(&mlp.cases[0].inputs);
    let data = DnnConsumer::runCall { model, inputs: inputs.clone() }.abi_encode();
    let (intrinsic, floor) = intrinsic_gas(&data);
    // A few thousand gas for the contract: enough to reach the call, not to pay for it (the
    // precompile costs 3 000, plus 2 100 + 100 per further word of the model's registry
    // record, plus the input bytes and the MACs).
    let limit = intrinsic + 6_000;
    assert!(limit > floor + 1_000, "the limit {limit} clears the calldata floor {floor}");
    let before = chain.inferences().await;

    // eth_call: the contract reaches the precompile, whose call fails without revert data.
    let result = chain.call_with(chain.consumer, data.clone(), json!({ "gas": limit })).await;
    let Err(error) = result else { panic!("expected a revert with gas {limit}") };
    assert_eq!(
        (error.code, error.message.as_str(), error.data.len()),
        (3, "execution reverted", 0)
    );
    assert_eq!(chain.inferences().await, before, "no inference in the failed calls");

    // The same as a mined transaction.
    let receipt = chain.send_raw(chain.consumer, data.clone(), limit).await;
    assert!(!receipt.status(), "out of gas");
    assert!(
        receipt.gas_used < limit,
        "the contract reverted after the failed call, it did not halt"
    );
    assert_eq!(chain.inferences().await, before, "the model never ran");
    assert!(chain.consumer().lastOutputs().call().await.unwrap().is_empty(), "nothing stored");

    // With enough gas: the committee (3 in-process executors, threshold 2) settles it, and
    // optimistically asks exactly the threshold's worth of executors to compute.
    let receipt = chain.send_raw(chain.consumer, data, 2_000_000).await;
    assert!(receipt.status());
    assert_eq!(chain.inferences().await, before + 2, "one transaction, computed by 2 executors");
    let stored = chain.consumer().lastOutputs().call().await.unwrap();
    assert_outputs(
        "after enough gas",
        &Vec::<Tensor>::abi_decode(&stored).unwrap(),
        &mlp.cases[0].outputs,
    );
}

// ---------------------------------------------------------------------------------------
// Model info and the model store.

fn spec(
    name: &str,
    dtype: u8,
    shape: &[i64],
    dim_params: &[&str],
) -> anh_precompiles::abi::TensorSpec {
    anh_precompiles::abi::TensorSpec {
        name: name.into(),
        dtype,
        shape: shape.to_vec(),
        dimParams: dim_params.iter().map(|s| s.to_string()).collect(),
    }
}

/// `modelInfo` returns what registration recorded (name, owner, block, MACs, size, I/O
/// signature with symbolic dimensions); `isRegistered` follows registration; `anh_getModel`
/// returns the analysis, the registration and the file; `GET /models/{hash}` the raw bytes.
#[tokio::test(flavor = "multi_thread")]
async fn model_info_and_store() {
    let chain = Chain::start().await;
    let mlp = Fixture::load("mlp");
    let model = chain.put_model(&mlp.bytes).await;
    assert!(!chain.is_registered(model).await, "uploaded is not registered");
    let reply = rpc(&chain.url, "anh_getModel", json!([model])).await;
    assert_eq!(reply["result"]["registration"], Value::Null);
    let (owner, block) = chain.register(Registrar::Contract, &mlp, model).await;
    assert!(chain.is_registered(model).await);
    assert!(!chain.is_registered(B256::repeat_byte(7)).await);

    // mlp: Gemm 1·4·16 + 16 (bias), Relu 16, Gemm 1·16·3 + 3 → 147 MACs.
    let info = chain.model_info(model).await.unwrap();
    let expected = anh_precompiles::abi::ModelInfo {
        model,
        name: "mlp".into(),
        owner: chain.consumer,
        registeredAt: block,
        parent: B256::ZERO,
        macs: 147,
        // One symbol (batch), linear: 147 MACs a sample.
        cost: anh_precompiles::abi::Cost { degrees: vec![1], coefficients: vec![147, 147] },
        size: mlp.bytes.len() as u64,
        inputs: vec![spec("x", 1, &[-1, 4], &["batch", ""])],
        outputs: vec![spec("y", 1, &[-1, 3], &["batch", ""])],
        rule: anh_precompiles::Rule::DEFAULT.to_abi(),
    };
    assert_eq!(info, expected);
    assert_eq!(owner, chain.consumer);

    // multi_io: dtypes of two kinds and a symbolic rank-1 output; Cast 3 + Add 3 + ArgMax 3.
    let (_, multi) = chain.install("multi_io").await;
    let info = chain.model_info(multi).await.unwrap();
    assert_eq!((info.name.as_str(), info.owner, info.macs), ("multi_io", ADDR0, 9));
    assert_eq!(
        info.inputs,
        vec![spec("a", 1, &[-1, 3], &["batch", ""]), spec("b", 3, &[-1, 3], &["batch", ""])]
    );
    assert_eq!(
        info.outputs,
        vec![spec("sum", 1, &[-1, 3], &["batch", ""]), spec("argmax", 4, &[-1], &["batch"])]
    );

    // dtypes: the seven dtype codes, a symbolic dimension second.
    let (_, dtypes) = chain.install("dtypes").await;
    let info = chain.model_info(dtypes).await.unwrap();
    let codes = |specs: &[anh_precompiles::abi::TensorSpec]| {
        specs.iter().map(|s| (s.dtype, s.shape.clone(), s.dimParams.clone())).collect::<Vec<_>>()
    };
    let want: Vec<_> =
        (1..=7u8).map(|c| (c, vec![2, -1], vec![String::new(), "n".into()])).collect();
    assert_eq!(codes(&info.inputs), want);
    assert_eq!(codes(&info.outputs), want);

    // anh_getModel: the analysis, the registration, where the file is (never inline).
    let reply = rpc(&chain.url, "anh_getModel", json!([model])).await;
    let got = &reply["result"];
    assert_eq!(got["hash"], json!(model));
    assert_eq!(got["size"], json!(mlp.bytes.len()));
    assert_eq!(got["macs"], json!(147));
    assert_eq!(got["parent"], Value::Null);
    assert_eq!(got["inputs"], json!([{ "name": "x", "dtype": "float32", "shape": ["batch", 4] }]));
    assert_eq!(got["outputs"], json!([{ "name": "y", "dtype": "float32", "shape": ["batch", 3] }]));
    assert_eq!(
        got["registration"],
        json!({ "name": "mlp", "owner": chain.consumer, "block": block })
    );
    assert_eq!(got["url"], json!(format!("/models/{model}")));
    assert!(got.get("data").is_none(), "{got}");
    let file = reqwest::get(format!("{}{}", chain.url, got["url"].as_str().unwrap())).await;
    assert_eq!(file.unwrap().bytes().await.unwrap().as_ref(), mlp.bytes.as_slice());
    assert_eq!(
        rpc(&chain.url, "anh_getModel", json!([B256::repeat_byte(7)])).await["result"],
        Value::Null
    );

    // GET /models/{hash}: the raw file; 404 for an unknown hash, 400 for a bad one.
    let http = reqwest::Client::new();
    let response = http.get(format!("{}/models/{model}", chain.url)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "application/octet-stream");
    assert_eq!(response.bytes().await.unwrap().as_ref(), mlp.bytes.as_slice());
    let missing = B256::repeat_byte(7);
    let response = http.get(format!("{}/models/{missing}", chain.url)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let response = http.get(format!("{}/models/0x1234", chain.url)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 400);
}

/// Bad models are refused with the analysis' reason: `PUT /models` answers 400 and
/// `anh_putModel` -32602; nothing is stored, and good models still work afterwards.
#[tokio::test(flavor = "multi_thread")]
async fn bad_models_are_refused() {
    let chain = Chain::start().await;
    let http = reqwest::Client::new();
    let cases: [(&str, &str); 9] = [
        (
            "external_data.onnx",
            "tensor \"w\" names external data location \"weights.bin\": a model may only name weight blobs of the model store",
        ),
        (
            "external_data_constant.onnx",
            "external data is not allowed for tensor \"c_value\": only initializers of the main graph",
        ),
        (
            "external_data_subgraph.onnx",
            "external data is not allowed for tensor \"sub_w\": only initializers of the main graph",
        ),
        (
            "custom_domain.onnx",
            "operator \"FusedMatMul\" of domain \"com.microsoft\" is not allowed: only the standard ONNX domains (\"\", \"ai.onnx\", \"ai.onnx.ml\") are",
        ),
        (
            "local_function.onnx",
            "model-local functions are not allowed: the model defines function \"MyRelu\" of domain \"local.fn\"",
        ),
        ("overflow_shape.onnx", "the shape of \"x\" has more elements than fit in 64 bits"),
        (
            "float16_input.onnx",
            "input \"x\" has type float16, which ANH does not support (supported: float32, float64, int32, int64, uint8, int8, bool tensors)",
        ),
        ("nested_bomb.onnx", "model nests subgraphs deeper than"),
        ("not_onnx.bin", "not an ONNX model: "),
    ];
    for (file, reason) in cases {
        let bytes = std::fs::read(testdata(file)).unwrap();
        let hash = keccak256(&bytes);

        let response =
            http.put(format!("{}/models", chain.url)).body(bytes.clone()).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 400, "{file}");
        let body: Value = response.json().await.unwrap();
        let error = body["error"].as_str().unwrap_or_else(|| panic!("{file}: {body}"));
        assert!(error.starts_with(&format!("model refused: {reason}")), "{file}: {error}");

        let reply = rpc(&chain.url, "anh_putModel", json!([Bytes::from(bytes)])).await;
        let (code, message) = error_of(&reply);
        assert_eq!(code, -32602, "{file}");
        assert!(
            message.starts_with(&format!("Invalid params: model refused: {reason}")),
            "{file}: {message}"
        );

        assert_eq!(rpc(&chain.url, "anh_getModel", json!([hash])).await["result"], Value::Null);
        let response = http.get(format!("{}/models/{hash}", chain.url)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 404, "{file} was not stored");
        let register = IModelRegistry::registerCall { model: hash, name: file.into() };
        assert_revert(
            chain.call(registry::ADDRESS, register.abi_encode()).await,
            DnnError::ModelUnavailable(hash),
            &format!(
                "ModelUnavailable({hash}): this node's model store does not hold the model; upload it with `anh model push` or anh_putModel"
            ),
        );
    }

    // `anh model push` of a bad model fails with the reason, prints no hash, sends nothing.
    let block = chain.provider.get_block_number().await.unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_anh"))
        .args(["model", "push"])
        .arg(testdata("external_data_constant.onnx"))
        .args(["--name", "bad", "--rpc-url", &chain.url])
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("anh model push runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "pushing a bad model fails");
    assert!(output.stdout.is_empty(), "no hash on stdout");
    assert!(stderr.contains("external data is not allowed for tensor \"c_value\""), "{stderr}");
    assert_eq!(chain.provider.get_block_number().await.unwrap(), block, "no transaction sent");

    // PUT /models of a good model answers its hash and analysis; it then registers and runs.
    let mlp = Fixture::load("mlp");
    let response =
        http.put(format!("{}/models", chain.url)).body(mlp.bytes.clone()).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    let model = keccak256(&mlp.bytes);
    assert_eq!(body["hash"], json!(model));
    assert_eq!(body["model"]["macs"], json!(147));
    chain.register(Registrar::Account, &mlp, model).await;
    chain.assert_serves(&mlp, model).await;
}

/// A registry storage word of the node at `url`.
async fn registry_word(url: &str, slot: U256) -> B256 {
    let reply = rpc(url, "eth_getStorageAt", json!([registry::ADDRESS, slot, "latest"])).await;
    serde_json::from_value(reply["result"].clone()).unwrap_or_else(|e| panic!("{reply}: {e}"))
}

/// Decoded registrations are cached by the content of the record a call reads, never by model
/// id alone: an `eth_call` whose state override puts multi_io's record under the mlp's key
/// sees that record (two inputs), and neither poisons the calls after it nor is answered from
/// what an earlier call decoded.
#[tokio::test(flavor = "multi_thread")]
async fn forged_records_live_only_in_their_call() {
    let chain = Chain::start().await;
    let (_, mlp) = chain.install("mlp").await;
    let (_, multi) = chain.install("multi_io").await;
    let good = [f32s(&[1, 4], &[0.1, 0.2, 0.3, 0.4])];
    let honest = chain.infer(mlp, &good).await.unwrap();

    // The registry is `mapping(bytes32 => bytes)` at slot 0: multi_io's record, word by word,
    // written under the mlp's slots.
    let header =
        |model: B256| U256::from_be_bytes(keccak256([model.as_slice(), &[0u8; 32]].concat()).0);
    let data = |header: U256, i: u64| {
        U256::from_be_bytes(keccak256(header.to_be_bytes::<32>()).0) + U256::from(i)
    };
    let length = registry_word(&chain.url, header(multi)).await;
    let words =
        ((U256::from_be_bytes(length.0) - U256::from(1)) / U256::from(2)).to::<u64>().div_ceil(32);
    let mut diff = serde_json::Map::new();
    diff.insert(B256::from(header(mlp)).to_string(), json!(length));
    for i in 0..words {
        let word = registry_word(&chain.url, data(header(multi), i)).await;
        diff.insert(B256::from(data(header(mlp), i)).to_string(), json!(word));
    }
    let forged = json!({ registry::ADDRESS.to_string(): { "stateDiff": diff } });
    let request = json!({
        "from": ADDR0,
        "to": infer::ADDRESS,
        "data": Bytes::from(IInfer::inferCall { model: mlp, inputs: good.to_vec() }.abi_encode()),
    });
    for round in 0..2 {
        let reply = rpc(&chain.url, "eth_call", json!([request, "latest", forged])).await;
        let revert: Bytes = serde_json::from_value(reply["error"]["data"].clone())
            .unwrap_or_else(|e| panic!("round {round}: expected a revert, got {reply}: {e}"));
        assert_eq!(
            DnnError::abi_decode(&revert),
            Some(DnnError::WrongInputCount { expected: 2, got: 1 }),
            "round {round}: the forged record is what this call reads"
        );
        assert_eq!(
            chain.infer(mlp, &good).await.unwrap(),
            honest,
            "round {round}: the next call reads the real record"
        );
    }
}

/// The gas formula, pinned end to end with its constants written out (docs/design.md,
/// section 4): a transaction straight to `infer` with the mlp (147 MACs per sample) on a batch
/// of 1 and of 3 uses exactly 21 000 + calldata + 3 000 + 2 100 + 100 × (record words − 1) +
/// input bytes + ⌈147 × batch × 7 200 / 10^6⌉ (or the EIP-7623 calldata floor, if higher), and
/// the first call, on a cold model, 30 000 + 200 × ⌈file bytes / 1024⌉ more.
#[tokio::test(flavor = "multi_thread")]
async fn infer_gas_known_answer() {
    let chain = Chain::start().await;
    let (_, model) = chain.install("mlp").await;
    // The record's length word: `mapping(bytes32 => bytes)` at slot 0, long form 2·len + 1.
    let header = U256::from_be_bytes(keccak256([model.as_slice(), &[0u8; 32]].concat()).0);
    let reply = rpc(&chain.url, "eth_getStorageAt", json!([registry::ADDRESS, header, "latest"]));
    let length: U256 = serde_json::from_value(reply.await["result"].clone()).unwrap();
    let record_bytes = ((length - U256::from(1)) / U256::from(2)).to::<u64>();
    let words = 1 + record_bytes.div_ceil(32);
    let file_bytes = std::fs::read(testdata("mlp.onnx")).expect("the mlp fixture").len() as u64;
    for (batch, cold) in [(1u64, true), (1, false), (3, false)] {
        let x = f32s(&[batch, 4], &vec![0.25; 4 * batch as usize]);
        let data = IInfer::inferCall { model, inputs: vec![x] }.abi_encode();
        let zeros = data.iter().filter(|b| **b == 0).count() as u64;
        let nonzeros = data.len() as u64 - zeros;
        let input_bytes = 16 * batch;
        let precompile = 3_000
            + 2_100
            + 100 * (words - 1)
            + input_bytes
            + (147 * batch * 7_200).div_ceil(1_000_000)
            + if cold { 30_000 + 200 * file_bytes.div_ceil(1024) } else { 0 };
        let standard = 21_000 + 4 * zeros + 16 * nonzeros + precompile;
        let floor = 21_000 + 10 * (zeros + 4 * nonzeros);
        let receipt = chain.send_raw(infer::ADDRESS, data, 1_000_000).await;
        assert!(receipt.status(), "batch {batch}");
        assert_eq!(
            receipt.gas_used,
            standard.max(floor),
            "batch {batch}, cold {cold}: {words} record words"
        );
    }
}
