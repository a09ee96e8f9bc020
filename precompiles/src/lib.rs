//! ANH precompiles: Solidity contracts run and train ONNX models.
//!
//! | address | module | does |
//! |---|---|---|
//! | `0x…0D00` | [`registry`] | `register(bytes32 model, string name)` |
//! | `0x…0D01` | [`infer`] | `infer(bytes32, Tensor[])`, `inferAs(bytes32, Tensor[], uint8)` |
//! | `0x…0D03` | [`info`] | `modelInfo(bytes32)`, `isRegistered(bytes32)` |
//!
//! The crate stands on its own: [`install`] (or `Evm::with_precompiles(AnhPrecompiles::…)`)
//! adds the precompiles to any revm EVM, and a [`DnnOracle`] supplies the results. The ABI is
//! `contracts/src/dnn/IDnn.sol`, bound with `sol!` in [`abi`]; tensors convert as [`dtype`]
//! describes; gas follows [`gas`]; every failure is a custom error of [`error::DnnError`].

pub mod abi;
pub mod dtype;
pub mod error;
pub mod gas;
pub mod infer;
pub mod info;
pub mod model;
pub mod oracle;
pub mod provider;
pub mod registry;
pub mod tensor;
pub mod validate;

pub use error::DnnError;
pub use gas::GasSchedule;
pub use model::{Dim, ModelInfo, Registration, TensorSpec};
pub use oracle::{CallContext, DnnOracle, InferRequest, OracleError};
pub use provider::{ADDRESSES, AnhPrecompiles, Dnn, Limits, install, is_anh_address};
pub use tensor::{ElemType, HostTensor, TensorData};
