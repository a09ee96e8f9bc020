//! ANH's base crate: the types every other crate shares, and what a quorum of executors vouches
//! for and how it is checked. No EVM, no ONNX Runtime, no networking.
//!
//! The layers, bottom up:
//!
//! | module | holds |
//! |---|---|
//! | [`abi`] | the Solidity interface `contracts/src/dnn/IDnn.sol`, bound with `sol!` |
//! | [`tensor`], [`dtype`] | host tensors, and their ABI encoding in every dtype (fixed-point included) |
//! | [`cost`], [`model`], [`shapes`] | a model's recorded analysis, its cost polynomial, and the one binder of call shapes to declared inputs |
//! | [`gas`] | the gas schedule of DNN work (chain configuration) |
//! | [`rule`], [`train`] | how a committee settles a result; training's parameters and result |
//! | [`job`] | job ids, the digests members sign, payload encodings, a block's [`JobRecord`] |
//! | [`oracle`] | the [`DnnOracle`] boundary the precompiles ask |
//! | [`signature`], [`committee`] | members' signatures, and a record's verification against the committee |
//! | [`replay`] | [`ReplayOracle`]: a follower's oracle, answering from a block's verified records |
//! | [`par`] | a block's independent checks spread over the cores |
//! | [`seal`] | block-level attestations: one signed digest over a Merkle root of a block's records, inclusion proofs, and the check that names a tampered, missing or reordered record |
//!
//! The byte layouts of job ids and digests are documented in `docs/design.md` and pinned by
//! known-answer vectors (`tests/vectors.rs`) computed outside this code base.

pub mod abi;
pub mod committee;
pub mod cost;
pub mod dtype;
pub mod gas;
pub mod job;
pub mod model;
pub mod oracle;
pub mod par;
pub mod replay;
pub mod rule;
pub mod seal;
pub mod shapes;
pub mod signature;
pub mod tensor;
pub mod train;

pub use committee::{AttestationError, Committee};
pub use cost::Cost;
pub use gas::GasSchedule;
pub use job::{JobKind, JobRecord};
pub use model::{Dim, ModelInfo, Registration, TensorSpec};
pub use oracle::{
    CallContext, DnnOracle, InferRequest, JobLedger, OracleError, Remembering, TrainRequest,
};
pub use replay::ReplayOracle;
pub use rule::{Rule, RuleKind};
pub use seal::{BlockAttestation, SealError};
pub use shapes::ShapeError;
pub use tensor::{ElemType, HostTensor, TensorData};
pub use train::{MAX_TRAIN_STEPS, TrainParams, Trained};
