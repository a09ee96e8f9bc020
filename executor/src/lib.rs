//! ANH's executors, and the committee that settles DNN results with their signatures
//! (docs/design.md, "Settlement protocol").
//!
//! ```text
//!  precompile ──DnnOracle──▶ CommitteeOracle ──Member──▶ LocalMember ──▶ Executor (in-process)
//!  (Build mode, blocking)    settles t-of-n        └────▶ RemoteMember ─HTTP─▶ anh executor
//!                            records per block                          (server ─▶ Executor)
//! ```
//!
//! - [`Executor`]: the signing worker. Holds a secp256k1 key ([`ExecutorKey`]), runs jobs on
//!   a `ModelRuntime` (ONNX Runtime) and signs a candidate output only if the job's rule holds
//!   against its own result.
//! - [`Member`]: a committee member as the committee sees it — [`LocalMember`] (an executor
//!   in this process) or [`RemoteMember`] (an `anh executor` over HTTP, requests signed by
//!   the node's key). [`FaultyMember`] injects faults, for tests.
//! - [`CommitteeOracle`]: the block builder's [`anh_primitives::DnnOracle`]; settles each job
//!   in two rounds (compute, attest), verifies every signature, escalates past faulty members,
//!   keeps one [`anh_primitives::JobRecord`] per job per block, and seals the block in one
//!   round ([`anh_primitives::JobLedger::seal`]: every member signs all of its outcomes at
//!   once). The protocol is in [`committee`].
//! - [`server`]: the HTTP protocol of `anh executor` (`/v1/compute`, `/v1/attest`,
//!   `/v1/attest-failure`, `/v1/attest-block`, `/v1/artifact`, `/v1/health`), authenticated by
//!   [`auth`], bounded in concurrency, queue, body size and job
//!   cost; models come from the node through [`NodeModelSource`], checked against their hash.
//! - [`cli`]: the flags and the process of `anh executor`.
//!
//! A job is `keccak256(abi.encode(kind, model, keccak256(payload), ruleHash))`; an executor
//! signs `keccak256("\x19ANH-ATTEST-v1" ‖ chainId ‖ job ‖ keccak256(output) ‖ ruleHash)` for
//! one job and the block digest over a Merkle root of a block's records for a whole block, with
//! low-s signatures (`anh_primitives::job`, `anh_primitives::seal`), so a replaying node
//! verifies a block's records with the committee's addresses alone.

pub mod auth;
pub mod cli;
pub mod committee;
mod error;
pub mod executor;
pub mod fault;
pub mod job;
pub mod key;
pub mod member;
pub mod remote;
pub mod server;
pub mod source;
pub mod wire;

pub use auth::NodeAuth;
pub use committee::{CommitteeConfig, CommitteeOracle, CommitteeStats};
pub use error::{ExecutorError, MemberError, Result};
pub use executor::{Executor, ExecutorConfig, ExecutorStats};
pub use fault::{Fault, FaultyMember};
pub use job::{BlockJobs, BlockRound, Job, Settled};
pub use key::{ExecutorKey, KEY_ENV, dev_executor_keys};
pub use member::{LocalMember, Member, MemberFuture};
pub use remote::RemoteMember;
pub use server::{ServerLimits, router};
pub use source::NodeModelSource;
