//! ANH precompiles: Solidity contracts run and train ONNX models.
//!
//! | address | module | does |
//! |---|---|---|
//! | `0x…0D00` | [`registry`] | `register(bytes32 model, string name)` |
//! | `0x…0D01` | [`infer`] | `infer(bytes32, Tensor[])`, `inferAs(bytes32, Tensor[], uint8)` |
//! | `0x…0D02` | [`train`] | `train(bytes32, Tensor[], TrainParams)`, `trainWith(…, Rule)` |
//! | `0x…0D03` | [`info`] | `modelInfo(bytes32)`, `isRegistered(bytes32)` |
//!
//! The crate stands on its own: [`install`] (or `Evm::with_precompiles(AnhPrecompiles::…)`)
//! adds the precompiles to any revm EVM, and a [`DnnOracle`] supplies the results. The ABI is
//! `contracts/src/dnn/IDnn.sol`, bound with `sol!` in [`abi`] (the base crate `anh-primitives`,
//! re-exported here with the tensor, model and oracle types); tensors convert as [`dtype`]
//! describes; gas follows [`gas`]; every failure is a custom error of [`error::DnnError`].
//!
//! On a bare revm EVM — no node, no RPC — with an oracle that doubles its input:
//!
//! ```
//! use alloy_primitives::{Address, B256, TxKind};
//! use alloy_sol_types::SolCall;
//! use anh_precompiles::{
//!     Cost, abi::{IInfer, IModelRegistry, Tensor},
//!     infer, install, registry, Dim, Dnn, DnnOracle, ElemType, HostTensor, InferRequest,
//!     ModelInfo, OracleError, TensorData, TensorSpec,
//! };
//! use revm::{
//!     context::TxEnv, database::{CacheDB, EmptyDB}, state::AccountInfo, Context, ExecuteCommitEvm,
//!     ExecuteEvm, MainBuilder, MainContext,
//! };
//! use std::sync::Arc;
//!
//! /// One model, `y = 2x` on a float32 vector of 3.
//! #[derive(Debug)]
//! struct Doubler;
//!
//! impl DnnOracle for Doubler {
//!     fn model_info(&self, model: B256) -> Result<ModelInfo, OracleError> {
//!         let spec = |name: &str| TensorSpec { name: name.into(), elem: ElemType::F32, shape: vec![Dim::Fixed(3)] };
//!         Ok(ModelInfo { hash: model, size: 0, cost: Cost::constant(0, 3), inputs: vec![spec("x")], outputs: vec![spec("y")], parent: None })
//!     }
//!     fn infer(&self, request: InferRequest<'_>) -> Result<Vec<HostTensor>, OracleError> {
//!         let (shape, data) = request.inputs.into_iter().next().unwrap().into_parts();
//!         let TensorData::F32(x) = data else { return Err(OracleError::Failed("float32 only".into())) };
//!         let y = x.iter().map(|v| 2.0 * v).collect();
//!         Ok(vec![HostTensor::new(shape, TensorData::F32(y)).unwrap()])
//!     }
//! }
//!
//! let model = B256::repeat_byte(0x42);
//! let caller = Address::repeat_byte(0x01);
//! let mut db = CacheDB::new(EmptyDB::default());
//! // The registry keeps its records in its own storage: give its account code so that
//! // EIP-161 never clears it (an ANH node does this in genesis).
//! db.insert_account_info(registry::ADDRESS, AccountInfo::default().with_code(revm::bytecode::Bytecode::new_raw(vec![0xfe].into())));
//! let evm = Context::mainnet().with_db(db).build_mainnet();
//! let mut evm = install(evm, Arc::new(Dnn::new(Arc::new(Doubler))));
//!
//! // Register the model (a transaction: it writes chain state)…
//! let register = IModelRegistry::registerCall { model, name: "doubler".into() }.abi_encode();
//! let tx = TxEnv::builder().caller(caller).kind(TxKind::Call(registry::ADDRESS)).data(register.into()).gas_limit(2_000_000).build().unwrap();
//! assert!(evm.transact_commit(tx).unwrap().is_success());
//!
//! // …and run it.
//! let x: Vec<u8> = [1.0f32, 2.0, 3.5].iter().flat_map(|v| v.to_be_bytes()).collect();
//! let inputs = vec![Tensor { dtype: 1, shape: vec![3], data: x.into() }];
//! let call = IInfer::inferCall { model, inputs }.abi_encode();
//! let tx = TxEnv::builder().caller(caller).kind(TxKind::Call(infer::ADDRESS)).data(call.into()).gas_limit(1_000_000).nonce(1).build().unwrap();
//! let result = evm.transact(tx).unwrap().result;
//! let outputs = IInfer::inferCall::abi_decode_returns(result.output().unwrap()).unwrap();
//! let y: Vec<f32> = outputs[0].data.chunks(4).map(|c| f32::from_be_bytes(c.try_into().unwrap())).collect();
//! assert_eq!(y, vec![2.0, 4.0, 7.0]);
//! ```

pub mod error;
pub mod infer;
pub mod info;
mod meter;
pub mod provider;
pub mod registry;
pub mod train;

// The types the precompiles speak in live in the base crate; they are re-exported here so that
// a user of the precompiles needs one import.
pub use anh_primitives::{
    CallContext, Committee, Cost, Dim, DnnOracle, ElemType, GasSchedule, HostTensor, InferRequest,
    JobKind, JobLedger, JobRecord, MAX_TRAIN_STEPS, ModelInfo, OracleError, Registration,
    Remembering, ReplayOracle, Rule, TensorData, TensorSpec, TrainParams, TrainRequest, Trained,
    abi, cost, dtype, gas, model, oracle, tensor, train::IGNORE_LABEL,
};
pub use error::DnnError;
pub use provider::{ADDRESSES, AnhPrecompiles, Dnn, DnnParams, Limits, install, is_anh_address};
