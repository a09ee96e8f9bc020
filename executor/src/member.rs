//! A committee member as the committee sees it: an address, and two asynchronous calls.
//!
//! - `compute(job)` → the member's output for the job (round 1 of settlement).
//! - `attest(job, candidate)` → the member's 65-byte signature of
//!   `digest(chainId, job, candidate, rule)` if the rule's property holds against its own
//!   result (round 2), else [`crate::ExecutorError::Refused`].
//! - `attest_block(round)` → its signature of the block digest over all of a block's outcomes
//!   ([`crate::job::BlockRound`]) if it agrees with each as `attest` and `attest_failure` would.
//! - `attest_failure(job, failure)` → its signature of `failureDigest(chainId, job, failure,
//!   rule)` if its own computation of the job failed with exactly that failure, else
//!   [`crate::ExecutorError::Refused`].
//!
//! Members are untrusted: the committee verifies every signature it gets back. Two
//! implementations: [`LocalMember`] (an [`Executor`] in this process, on tokio's blocking
//! pool) and [`crate::RemoteMember`] (an `anh executor` over HTTP). [`crate::FaultyMember`]
//! wraps either to inject faults in tests.

use crate::{
    error::Result,
    executor::Executor,
    job::{BlockRound, Job},
};
use alloy_primitives::{Address, B256, Bytes};
use std::{fmt, future::Future, pin::Pin, sync::Arc};

/// The future a [`Member`] call returns.
pub type MemberFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// A committee member (object safe; see the module docs).
pub trait Member: Send + Sync + fmt::Debug {
    /// The address the member signs as (its committee entry).
    fn address(&self) -> Address;

    /// Where it runs, for `anh_committee`: `in-process` or the executor's URL.
    fn describe(&self) -> String;

    /// The member's output for `job`.
    fn compute(&self, job: Arc<Job>) -> MemberFuture<'_, Bytes>;

    /// The member's signature of `candidate` as the output of `job`, if it agrees.
    fn attest(&self, job: Arc<Job>, candidate: Bytes) -> MemberFuture<'_, Bytes>;

    /// The member's signature of `failure` (a [`anh_primitives::JobRecord::failure_of`]) as
    /// the outcome of `job`, if its own computation failed alike.
    fn attest_failure(&self, job: Arc<Job>, failure: Bytes) -> MemberFuture<'_, Bytes>;

    /// The member's one signature of all of `round`'s outcomes (the block digest), if it
    /// agrees with every one of them.
    fn attest_block(&self, round: Arc<BlockRound>) -> MemberFuture<'_, Bytes>;

    /// The file of the model this member trained as `model` (the leader's new weights, which
    /// the committee puts in the node's store before the others attest). Wrappers must pass
    /// it on, or training jobs they lead never settle.
    fn artifact(&self, model: B256) -> MemberFuture<'_, Bytes>;

    /// The executor behind this member when it runs in this process, so that a caller on a
    /// blocking thread can run a job on its own thread, without handing it to another one.
    /// `None` (the default) for a member that is asked through [`Member::compute`] only, as a
    /// remote one is, and for wrappers that change what the member answers.
    fn in_process(&self) -> Option<&Arc<Executor>> {
        None
    }
}

/// An [`Executor`] in this process, run on tokio's blocking pool.
#[derive(Debug, Clone)]
pub struct LocalMember {
    executor: Arc<Executor>,
}

impl LocalMember {
    /// A member backed by `executor`.
    pub fn new(executor: Arc<Executor>) -> Self {
        Self { executor }
    }

    /// The executor.
    pub fn executor(&self) -> &Arc<Executor> {
        &self.executor
    }
}

/// Runs `f` on the blocking pool; a panic there becomes a transport error.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(crate::ExecutorError::Transport {
            member: "in-process".into(),
            reason: format!("the executor's task failed: {e}"),
        })
    })
}

impl Member for LocalMember {
    fn address(&self) -> Address {
        self.executor.address()
    }

    fn describe(&self) -> String {
        "in-process".into()
    }

    fn compute(&self, job: Arc<Job>) -> MemberFuture<'_, Bytes> {
        let executor = self.executor.clone();
        Box::pin(blocking(move || executor.compute(&job)))
    }

    fn attest(&self, job: Arc<Job>, candidate: Bytes) -> MemberFuture<'_, Bytes> {
        let executor = self.executor.clone();
        Box::pin(async move {
            let signature = blocking(move || executor.attest(&job, &candidate)).await?;
            Ok(Bytes::from(signature.to_vec()))
        })
    }

    fn attest_failure(&self, job: Arc<Job>, failure: Bytes) -> MemberFuture<'_, Bytes> {
        let executor = self.executor.clone();
        Box::pin(async move {
            let signature = blocking(move || executor.attest_failure(&job, &failure)).await?;
            Ok(Bytes::from(signature.to_vec()))
        })
    }

    fn attest_block(&self, round: Arc<BlockRound>) -> MemberFuture<'_, Bytes> {
        let executor = self.executor.clone();
        Box::pin(async move {
            let signature = blocking(move || executor.attest_block(&round)).await?;
            Ok(Bytes::from(signature.to_vec()))
        })
    }

    fn in_process(&self) -> Option<&Arc<Executor>> {
        Some(&self.executor)
    }

    fn artifact(&self, model: B256) -> MemberFuture<'_, Bytes> {
        Box::pin(async move {
            self.executor.artifact(&model).ok_or_else(|| {
                crate::ExecutorError::Failed(format!(
                    "this executor keeps no trained model {model}"
                ))
            })
        })
    }
}
