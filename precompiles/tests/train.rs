//! The `train` precompile on a bare revm EVM, with an oracle that stands in for training (a
//! test aid: the real path, ONNX Runtime running training-step graphs, is tested in
//! `anh-runtime` and end to end in `anh`). What is checked here is the precompile's own work:
//! decoding, validation with readable reverts, gas, registration of the new model with its
//! lineage, the event, and that a refused call registers nothing.

use alloy_primitives::{Address, B256, Bytes, I256, TxKind, keccak256};
use alloy_sol_types::{SolCall, SolEvent};
use anh_precompiles::{
    Cost, Dim, Dnn, DnnError, DnnOracle, ElemType, HostTensor, InferRequest, ModelInfo,
    OracleError, TensorData, TensorSpec, TrainRequest, Trained,
    abi::{IModelInfo, IModelRegistry, ITrain, Rule, Tensor, TrainParams},
    info, install, registry, train,
};
use anh_primitives::job::{decode_train_payload, encode_train_payload};
use revm::{
    Context, ExecuteCommitEvm, MainBuilder, MainContext,
    context::{TxEnv, result::ExecutionResult},
    database::{CacheDB, EmptyDB},
    state::AccountInfo,
};
use std::sync::{Arc, Mutex};

const CALLER: Address = Address::repeat_byte(0x01);

/// A classifier `float32 [batch, 2] → float32 [batch, 3]`; "training" hashes the request,
/// and reports a loss of 0.25, or NaN when the learning rate is 1 (a diverging run).
#[derive(Debug, Default)]
struct FakeTrainer {
    requests: Mutex<Vec<(usize, u64)>>,
    trainable: Mutex<Vec<Vec<String>>>,
}

impl DnnOracle for FakeTrainer {
    fn model_info(&self, model: B256) -> Result<ModelInfo, OracleError> {
        let spec = |name: &str, n| TensorSpec {
            name: name.into(),
            elem: ElemType::F32,
            shape: vec![Dim::Symbolic("batch".into()), Dim::Fixed(n)],
        };
        Ok(ModelInfo {
            hash: model,
            size: 10,
            cost: Cost::new(vec![1], vec![1_000, 1_000]).unwrap(),
            inputs: vec![spec("x", 2)],
            outputs: vec![spec("logits", 3)],
            parent: None,
        })
    }

    fn infer(&self, _: InferRequest<'_>) -> Result<Vec<HostTensor>, OracleError> {
        Err(OracleError::Failed("not used".into()))
    }

    fn train(&self, request: TrainRequest<'_>) -> Result<Trained, OracleError> {
        assert_eq!(request.batch[1].elem_type(), ElemType::I64, "labels arrive as int64");
        self.requests.lock().unwrap().push((request.batch.len(), request.params.learning_rate));
        self.trainable.lock().unwrap().push(request.params.trainable.clone());
        let payload = encode_train_payload(&request.batch, &request.params).unwrap();
        let loss = if request.params.learning_rate == 10u64.pow(18) { f64::NAN } else { 0.25 };
        let loss = Trained::fixed_loss(loss).map_err(OracleError::Failed)?;
        Ok(Trained { model: keccak256(&payload), size: 123, loss })
    }
}

type Evm = Box<dyn FnMut(Address, Vec<u8>, u64) -> ExecutionResult>;

/// An EVM with the precompiles and `model` registered; returns it and the oracle.
fn evm(model: B256) -> (Evm, Arc<FakeTrainer>) {
    let mut db = CacheDB::new(EmptyDB::default());
    let code = revm::bytecode::Bytecode::new_raw(vec![0xfe].into());
    db.insert_account_info(registry::ADDRESS, AccountInfo::default().with_code(code));
    let oracle = Arc::new(FakeTrainer::default());
    let inner = Context::mainnet().with_db(db).build_mainnet();
    let mut inner = install(inner, Arc::new(Dnn::new(oracle.clone())));
    let mut nonce = 0;
    let mut evm: Evm = Box::new(move |to, data, gas| {
        let tx = TxEnv::builder()
            .caller(CALLER)
            .kind(TxKind::Call(to))
            .data(data.into())
            .gas_limit(gas)
            .nonce(nonce)
            .build()
            .unwrap();
        nonce += 1;
        inner.transact_commit(tx).unwrap()
    });
    let register = IModelRegistry::registerCall { model, name: "clf".into() }.abi_encode();
    let result = evm(registry::ADDRESS, register, 10_000_000);
    assert!(result.is_success(), "{result:?}");
    (evm, oracle)
}

fn f32s(shape: Vec<u64>, values: &[f32]) -> Tensor {
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_be_bytes()).collect();
    Tensor { dtype: 1, shape, data: data.into() }
}

fn i64s(shape: Vec<u64>, values: &[i64]) -> Tensor {
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_be_bytes()).collect();
    Tensor { dtype: 4, shape, data: data.into() }
}

fn params(loss: u8) -> TrainParams {
    TrainParams { steps: 3, learningRate: 10u64.pow(16), loss, optimizer: 3 }
}

fn batch() -> Vec<Tensor> {
    vec![f32s(vec![2, 2], &[0.0, 1.0, 1.0, 0.0]), i64s(vec![2], &[2, 0])]
}

fn registered(evm: &mut Evm, model: B256) -> bool {
    let call = IModelInfo::isRegisteredCall { model }.abi_encode();
    let out = evm(info::ADDRESS, call, 1_000_000);
    IModelInfo::isRegisteredCall::abi_decode_returns(out.output().unwrap()).unwrap()
}

fn revert_of(result: &ExecutionResult) -> DnnError {
    match result {
        ExecutionResult::Revert { output, .. } => DnnError::abi_decode(output).expect("a DnnError"),
        other => panic!("expected a revert, got {other:?}"),
    }
}

/// A training call registers the new model under the parent's name with the parent recorded,
/// emits `ModelTrained`, and returns the new hash and the loss fixed-point ×10^18.
#[test]
fn train_registers_the_new_model() {
    let parent = B256::repeat_byte(7);
    let (mut evm, oracle) = evm(parent);
    let call = ITrain::trainCall { model: parent, batch: batch(), params: params(2) };
    let result = evm(train::ADDRESS, call.abi_encode(), 10_000_000);
    assert!(result.is_success(), "{result:?}");
    let out = ITrain::trainCall::abi_decode_returns(result.output().unwrap()).unwrap();
    assert_eq!(out.loss, I256::try_from(25 * 10i128.pow(16)).unwrap());
    assert_eq!(oracle.requests.lock().unwrap().as_slice(), &[(2, 10u64.pow(16))]);

    let log = &result.logs()[0];
    assert_eq!(log.address, train::ADDRESS);
    let event = ITrain::ModelTrained::decode_log_data(&log.data).unwrap();
    assert_eq!((event.parent, event.model, event.trainer), (parent, out.newModel, CALLER));

    let call = IModelInfo::modelInfoCall { model: out.newModel }.abi_encode();
    let result = evm(info::ADDRESS, call, 1_000_000);
    let record = IModelInfo::modelInfoCall::abi_decode_returns(result.output().unwrap()).unwrap();
    assert_eq!((record.parent, record.size, record.owner), (parent, 123, CALLER));
    assert_eq!(record.name, "clf");
    assert_eq!(record.macs, 1_000);

    // A second generation: its record is a lineage record too (root: the registered model),
    // and reads back with its own parent, size and trainer and the root's name and cost.
    let batch2 = vec![f32s(vec![2, 2], &[1.0, 1.0, 0.0, 0.0]), i64s(vec![2], &[1, 0])];
    let call = ITrain::trainCall { model: out.newModel, batch: batch2, params: params(2) };
    let result = evm(train::ADDRESS, call.abi_encode(), 10_000_000);
    assert!(result.is_success(), "{result:?}");
    let grandchild = ITrain::trainCall::abi_decode_returns(result.output().unwrap()).unwrap();
    let call = IModelInfo::modelInfoCall { model: grandchild.newModel }.abi_encode();
    let result = evm(info::ADDRESS, call, 1_000_000);
    let record = IModelInfo::modelInfoCall::abi_decode_returns(result.output().unwrap()).unwrap();
    assert_eq!(
        (record.model, record.parent, record.name.as_str()),
        (grandchild.newModel, out.newModel, "clf")
    );
    assert_eq!((record.macs, record.inputs.len(), record.outputs.len()), (1_000, 1, 1));

    // Training to a model that exists already (the same job again) registers nothing new.
    let call = ITrain::trainCall { model: parent, batch: batch(), params: params(2) };
    let again = evm(train::ADDRESS, call.abi_encode(), 10_000_000);
    assert!(again.is_success());
    assert_eq!(ITrain::trainCall::abi_decode_returns(again.output().unwrap()).unwrap(), out);
}

/// A `trainOnly` call of `model` on [`batch`] naming `names`.
fn only(model: B256, names: &[&str]) -> Vec<u8> {
    let trainable = names.iter().map(|n| n.to_string()).collect();
    ITrain::trainOnlyCall { model, batch: batch(), params: params(2), trainable }.abi_encode()
}

/// A `trainAdapters` call of `model` on [`batch`] with rank-`rank` adapters on `names`.
fn adapters(model: B256, names: &[&str], rank: u8) -> Vec<u8> {
    let targets = names.iter().map(|n| n.to_string()).collect();
    ITrain::trainAdaptersCall { model, batch: batch(), params: params(2), targets, rank }
        .abi_encode()
}

/// `trainAdapters` reaches the trainer with its targets and rank, in a job of its own (not
/// `trainOnly`'s on the same names); it pays more than `trainOnly`, the merge on top; its
/// payload decodes back to the same rank.
#[test]
fn train_adapters_carries_its_rank_and_pays_more() {
    let parent = B256::repeat_byte(7);
    let (mut evm, _) = evm(parent);
    let adapted = evm(train::ADDRESS, adapters(parent, &["w"], 4), 10_000_000);
    assert!(adapted.is_success(), "{adapted:?}");
    let (mut fresh, _) = self::evm(parent);
    let only = fresh(train::ADDRESS, only(parent, &["w"]), 10_000_000);
    let (a, o) = (
        ITrain::trainAdaptersCall::abi_decode_returns(adapted.output().unwrap()).unwrap(),
        ITrain::trainOnlyCall::abi_decode_returns(only.output().unwrap()).unwrap(),
    );
    assert_ne!(a.newModel, o.newModel, "another job");
    // The merge is paid on top of the doubled work (which alone costs more than the bytes
    // of the longer calldata).
    let merge = anh_precompiles::GasSchedule::MEASURED.adapter_merge(10, 4).unwrap();
    assert!(merge > 0);
    assert!(adapted.tx_gas_used() > only.tx_gas_used() + merge, "{adapted:?} vs {only:?}");

    let host = vec![
        HostTensor::new(vec![1, 2], TensorData::F32(vec![0.5, 1.0])).unwrap(),
        HostTensor::new(vec![1], TensorData::I64(vec![2])).unwrap(),
    ];
    let p = anh_precompiles::TrainParams::from_abi(&params(2))
        .unwrap()
        .adapters(vec!["w".into()], 4)
        .unwrap();
    let payload = encode_train_payload(&host, &p).unwrap();
    assert_eq!(decode_train_payload(&payload).unwrap(), (host, p));
    // A payload that is none of the forms, or one with its tail cut off, decodes to an error.
    assert!(decode_train_payload(b"junk").is_err());
    assert!(decode_train_payload(&payload[..payload.len() - 32]).is_err());
    let mut longer = payload.to_vec();
    longer.extend([0u8; 32]);
    assert!(decode_train_payload(&longer).is_err(), "trailing words are not a canonical form");
}

/// `trainOnly` reaches the trainer with the names, in a job whose payload (and so its id)
/// commits to them: the same batch trained in full or with other names is another job;
/// the payload decodes back to the same names, and a plain `train` payload to none.
#[test]
fn train_only_carries_its_names() {
    let parent = B256::repeat_byte(7);
    let (mut evm, oracle) = evm(parent);
    let result = evm(train::ADDRESS, only(parent, &["w", "b"]), 10_000_000);
    assert!(result.is_success(), "{result:?}");
    let named = ITrain::trainOnlyCall::abi_decode_returns(result.output().unwrap()).unwrap();
    let result = evm(train::ADDRESS, only(parent, &["w"]), 10_000_000);
    let fewer = ITrain::trainOnlyCall::abi_decode_returns(result.output().unwrap()).unwrap();
    let call = ITrain::trainCall { model: parent, batch: batch(), params: params(2) };
    let result = evm(train::ADDRESS, call.abi_encode(), 10_000_000);
    let full = ITrain::trainCall::abi_decode_returns(result.output().unwrap()).unwrap();
    // The fake trainer names its model after the payload's hash.
    assert_ne!(named.newModel, full.newModel);
    assert_ne!(named.newModel, fewer.newModel);
    assert_eq!(oracle.trainable.lock().unwrap().as_slice(), [vec!["w", "b"], vec!["w"], vec![]]);

    let host = vec![
        HostTensor::new(vec![1, 2], TensorData::F32(vec![0.5, 1.0])).unwrap(),
        HostTensor::new(vec![1], TensorData::I64(vec![2])).unwrap(),
    ];
    let plain = anh_precompiles::TrainParams::from_abi(&params(2)).unwrap();
    let named = plain.clone().only(vec!["w".into(), "b".into()]).unwrap();
    for p in [plain, named] {
        let payload = encode_train_payload(&host, &p).unwrap();
        assert_eq!(decode_train_payload(&payload).unwrap(), (host.clone(), p));
    }
}

/// Gas is the schedule's, known before training: the same call with one gas less runs out
/// of gas, and registers nothing.
#[test]
fn gas_is_charged_first() {
    let parent = B256::repeat_byte(7);
    let (mut evm, oracle) = evm(parent);
    let call = ITrain::trainCall { model: parent, batch: batch(), params: params(2) }.abi_encode();
    let used = evm(train::ADDRESS, call.clone(), 10_000_000).tx_gas_used();
    let (mut fresh, fresh_oracle) = self::evm(parent);
    let short = fresh(train::ADDRESS, call, used - 1);
    assert!(matches!(short, ExecutionResult::Halt { .. }), "{short:?}");
    assert!(fresh_oracle.requests.lock().unwrap().is_empty(), "no training without gas");
    assert_eq!(oracle.requests.lock().unwrap().len(), 1);
}

/// Every bad call reverts with a reason a Solidity developer can read, never reaches the
/// trainer, and registers nothing.
#[test]
fn bad_calls_are_refused() {
    let parent = B256::repeat_byte(7);
    let (mut evm, oracle) = evm(parent);
    let params_with = |f: &dyn Fn(&mut TrainParams)| {
        let mut p = params(2);
        f(&mut p);
        p
    };
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            ITrain::trainCall { model: B256::repeat_byte(9), batch: batch(), params: params(2) }
                .abi_encode(),
            "UnknownModel",
        ),
        (
            ITrain::trainCall {
                model: parent,
                batch: batch(),
                params: params_with(&|p| p.steps = 0),
            }
            .abi_encode(),
            "steps is 0: expected 1 to 1000",
        ),
        (
            ITrain::trainCall {
                model: parent,
                batch: batch(),
                params: params_with(&|p| p.loss = 9),
            }
            .abi_encode(),
            "unknown loss 9",
        ),
        (
            ITrain::trainCall {
                model: parent,
                batch: batch(),
                params: params_with(&|p| p.optimizer = 0),
            }
            .abi_encode(),
            "unknown optimizer 0",
        ),
        (only(parent, &[]), "MalformedCall: trainable names 0 initializers: expected 1 to 64"),
        (only(parent, &["w"; 65]), "trainable names 65 initializers: expected 1 to 64"),
        (only(parent, &["w", "b", "w"]), "trainable[2] \"w\" is named twice"),
        (
            only(parent, &["anh.opt.m.w"]),
            "\"anh.opt.m.w\" is optimiser state (anh.opt.*), not a weight",
        ),
        (only(parent, &[""]), "trainable[0] is 0 bytes long: expected 1 to 256"),
        (adapters(parent, &["w"], 0), "MalformedCall: rank is 0: expected 1 to 64"),
        (adapters(parent, &["w"], 65), "rank is 65: expected 1 to 64"),
        (adapters(parent, &[], 4), "trainable names 0 initializers"),
        (
            ITrain::trainCall {
                model: parent,
                batch: batch(),
                params: params_with(&|p| p.learningRate = 0),
            }
            .abi_encode(),
            "learningRate is 0",
        ),
        (
            ITrain::trainCall { model: parent, batch: batch()[..1].to_vec(), params: params(2) }
                .abi_encode(),
            "takes 2 input(s), got 1",
        ),
        (
            ITrain::trainCall { model: parent, batch: batch(), params: params(3) }.abi_encode(),
            "takes 3 input(s), got 2",
        ),
        (
            ITrain::trainCall {
                model: parent,
                batch: vec![batch()[0].clone(), i64s(vec![3], &[0, 1, 2])],
                params: params(2),
            }
            .abi_encode(),
            "input 1: expected integer class indices, one per sample: [2]",
        ),
        (
            ITrain::trainCall {
                model: parent,
                batch: vec![batch()[0].clone(), f32s(vec![2, 2], &[0.0; 4])],
                params: params(1),
            }
            .abi_encode(),
            "input 1: expected targets shaped like output 0: float32 [batch, 3]",
        ),
        (
            ITrain::trainCall {
                model: parent,
                batch: vec![batch()[0].clone(), batch()[1].clone(), f32s(vec![1], &[1.0])],
                params: params(3),
            }
            .abi_encode(),
            "input 2: expected sample weights, one per sample: [2]",
        ),
        (
            ITrain::trainCall {
                model: parent,
                batch: vec![f32s(vec![2, 3], &[0.0; 6]), batch()[1].clone()],
                params: params(2),
            }
            .abi_encode(),
            "InputMismatch: input 0",
        ),
        (
            ITrain::trainCall {
                model: parent,
                batch: vec![
                    Tensor { dtype: 1, shape: vec![2, 2], data: Bytes::from(vec![0; 3]) },
                    batch()[1].clone(),
                ],
                params: params(2),
            }
            .abi_encode(),
            "BadTensor: input 0: data has 3 bytes",
        ),
        (
            ITrain::trainCall {
                model: parent,
                batch: vec![batch()[0].clone(), f32s(vec![2], &[0.5, 1.0])],
                params: params(2),
            }
            .abi_encode(),
            "input 1: expected integer class indices",
        ),
        (
            ITrain::trainCall {
                model: parent,
                batch: vec![batch()[0].clone(), i64s(vec![2], &[0, 3])],
                params: params(2),
            }
            .abi_encode(),
            "BadTensor: input 1: label 3 of sample 1 is not a class index: the model has 3 classes",
        ),
        (
            ITrain::trainWithCall {
                model: parent,
                batch: batch(),
                params: params(2),
                rule: Rule { kind: 2, absTolerance: 1, relTolerance: 0 },
            }
            .abi_encode(),
            "rule kind 2 settles inference",
        ),
        (
            ITrain::trainWithCall {
                model: parent,
                batch: batch(),
                params: params(2),
                rule: Rule { kind: 9, absTolerance: 0, relTolerance: 0 },
            }
            .abi_encode(),
            "MalformedCall: unknown rule kind 9: expected 0 (default), 1 (exact), 2 (tolerance), \
             3 (argmax), 4 (train-loss) or 5 (recompute)",
        ),
        (
            ITrain::trainCall {
                model: parent,
                batch: batch(),
                params: params_with(&|p| p.learningRate = 10u64.pow(18)),
            }
            .abi_encode(),
            "TrainingFailed: the loss is NaN: training diverged",
        ),
        (
            ITrain::trainCall {
                model: parent,
                batch: vec![f32s(vec![2, 2], &[0.0, f32::NAN, 1.0, 0.0]), batch()[1].clone()],
                params: params(2),
            }
            .abi_encode(),
            "BadTensor: input 0: element 1 is NaN or infinite",
        ),
        (
            ITrain::trainCall {
                model: parent,
                batch: vec![f32s(vec![2, 2], &[0.0, 1.0, f32::INFINITY, 0.0]), batch()[1].clone()],
                params: params(2),
            }
            .abi_encode(),
            "BadTensor: input 0: element 2 is NaN or infinite",
        ),
        (vec![0xde, 0xad, 0xbe, 0xef], "UnknownSelector(0xdeadbeef)"),
    ];
    for (call, wanted) in cases {
        let result = evm(train::ADDRESS, call, 10_000_000);
        let message = revert_of(&result).to_string();
        assert!(message.contains(wanted), "wanted {wanted:?}, got {message:?}");
    }
    // Only the diverging run reached the trainer, and it registered nothing.
    assert_eq!(oracle.requests.lock().unwrap().len(), 1);
    let good = ITrain::trainCall { model: parent, batch: batch(), params: params(2) };
    let payload_model = {
        let result = evm(train::ADDRESS, good.abi_encode(), 10_000_000);
        ITrain::trainCall::abi_decode_returns(result.output().unwrap()).unwrap().newModel
    };
    assert!(registered(&mut evm, payload_model));
    // The fake trainer names a model by the hash of its payload: the good run's is registered,
    // the diverging run's (learning rate 1) is not.
    let would_be = |learning_rate: u64| {
        let host = vec![
            HostTensor::new(vec![2, 2], TensorData::F32(vec![0.0, 1.0, 1.0, 0.0])).unwrap(),
            HostTensor::new(vec![2], TensorData::I64(vec![2, 0])).unwrap(),
        ];
        let params = anh_precompiles::TrainParams {
            steps: 3,
            learning_rate,
            loss: 2,
            optimizer: 3,
            trainable: Vec::new(),
            rank: 0,
        };
        keccak256(encode_train_payload(&host, &params).unwrap())
    };
    assert_eq!(would_be(10u64.pow(16)), payload_model);
    assert!(!registered(&mut evm, would_be(10u64.pow(18))));
}
