//! A job: what a committee member computes and attests, content-addressed by its id.
//!
//! `id = keccak256(abi.encode(kind, model, keccak256(payload), ruleHash))` ([`job_id`]): the
//! chain id is not part of the id (it is part of the signed digest). The payload is the ABI
//! `Tensor[]` of the inputs in the model's dtypes (inference) or empty (registration, whose
//! rule is always [`Rule::EXACT`]). Over HTTP a job is the JSON object
//! `{"chainId", "kind": "infer" | "register" | "train", "model", "payload", "rule": {"kind", "abs",
//! "rel"}}`; a training job's payload is `abi.encode(Tensor[] batch, TrainParams)` and its rule
//! train-loss or recompute.

use crate::error::{ExecutorError, Result};
use alloy_primitives::{B256, Bytes};
use anh_primitives::{
    BlockAttestation, JobKind, JobRecord, Rule, RuleKind,
    job::{digest, failure_digest, job_id},
};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// One unit of work for the committee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// The chain whose digest members sign.
    pub chain_id: u64,
    /// What is computed.
    pub kind: JobKind,
    /// The model (keccak256 of its file).
    pub model: B256,
    /// The inputs' ABI encoding (inference) or empty (registration).
    pub payload: Bytes,
    /// How members agree on the result: a concrete rule, never [`Rule::DEFAULT`].
    pub rule: Rule,
}

impl Job {
    /// An inference job.
    pub fn infer(chain_id: u64, model: B256, payload: Bytes, rule: Rule) -> Self {
        Self { chain_id, kind: JobKind::Infer, model, payload, rule }
    }

    /// A training job: the payload is `encode_train_payload(batch, params)`.
    pub fn train(chain_id: u64, model: B256, payload: Bytes, rule: Rule) -> Self {
        Self { chain_id, kind: JobKind::Train, model, payload, rule }
    }

    /// The registration job of `model`: its analysis, settled exactly.
    pub fn register(chain_id: u64, model: B256) -> Self {
        Self { chain_id, kind: JobKind::Register, model, payload: Bytes::new(), rule: Rule::EXACT }
    }

    /// The job's id.
    pub fn id(&self) -> B256 {
        job_id(self.kind, self.model, &self.payload, &self.rule)
    }

    /// What a member signs for `output` of this job.
    pub fn digest(&self, output: &[u8]) -> B256 {
        digest(self.chain_id, self.id(), output, &self.rule)
    }

    /// The block record of this job's outcome: `output` (settled) or `failure`, with
    /// `signatures`.
    pub fn record(&self, output: Bytes, signatures: Vec<Bytes>, failure: Bytes) -> JobRecord {
        self.record_as(self.id(), output, signatures, failure)
    }

    /// [`Self::record`] given the job's [`Self::id`] (which hashes the whole payload).
    pub fn record_as(
        &self,
        id: B256,
        output: Bytes,
        signatures: Vec<Bytes>,
        failure: Bytes,
    ) -> JobRecord {
        JobRecord {
            job: id,
            kind: self.kind as u8,
            model: self.model,
            rule: self.rule,
            output,
            signatures,
            failure,
        }
    }

    /// What a member signs when this job fails with `failure`.
    pub fn failure_digest(&self, failure: &[u8]) -> B256 {
        failure_digest(self.chain_id, self.id(), failure, &self.rule)
    }

    /// Checks that the job is well formed: a concrete, valid rule; a registration has no
    /// payload and the exact rule.
    pub fn validate(&self) -> Result<()> {
        if self.rule.kind == RuleKind::Default {
            return Err(ExecutorError::BadJob(
                "the rule is the default one: the committee resolves it before asking".into(),
            ));
        }
        self.rule.validate().map_err(ExecutorError::BadJob)?;
        if (self.kind == JobKind::Train) != self.rule.is_training() {
            return Err(ExecutorError::BadJob(format!(
                "rule kind {} does not settle {} jobs",
                self.rule.kind.code(),
                if self.kind == JobKind::Train { "training" } else { "inference" }
            )));
        }
        if self.kind == JobKind::Register {
            if !self.payload.is_empty() {
                return Err(ExecutorError::BadJob("a registration job has no payload".into()));
            }
            if self.rule != Rule::EXACT {
                return Err(ExecutorError::BadJob(
                    "a registration job settles by the exact rule".into(),
                ));
            }
        }
        Ok(())
    }
}

/// Most jobs one block round carries (a block's jobs are bounded by its gas far below this).
pub const MAX_BLOCK_JOBS: usize = 100_000;

/// One job of a block with the outcome the committee settled it to: an output, or a failure
/// ([`JobRecord::failure_of`] bytes), never both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settled {
    /// The job.
    pub job: Job,
    /// Its settled output (empty when it failed).
    pub output: Bytes,
    /// Its failure (empty when it settled).
    pub failure: Bytes,
}

/// A block's jobs and their outcomes, in block order: what a member signs once for the whole
/// block ([`anh_primitives::seal`]). Over HTTP it is the JSON object `{"chainId", "number",
/// "parent", "jobs": [{"job", "output", "failure"}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockJobs {
    /// The chain.
    pub chain_id: u64,
    /// The block's number.
    pub number: u64,
    /// Its parent's hash.
    pub parent: B256,
    /// The jobs, in the order of the block's records.
    pub jobs: Vec<Settled>,
}

impl BlockJobs {
    /// The jobs' ids, in block order (each hashes its job's whole payload: compute them once
    /// and pass them to the `_with` forms).
    pub fn ids(&self) -> Vec<B256> {
        self.jobs.iter().map(|s| s.job.id()).collect()
    }

    /// The block's records, without signatures of their own, given the jobs' [`Self::ids`].
    pub fn records_with(&self, ids: &[B256]) -> Vec<JobRecord> {
        self.jobs
            .iter()
            .zip(ids)
            .map(|(s, &id)| s.job.record_as(id, s.output.clone(), Vec::new(), s.failure.clone()))
            .collect()
    }

    /// What a member signs for the block, given the jobs' [`Self::ids`]: the block digest over
    /// the records' leaves.
    pub fn digest_with(&self, ids: &[B256]) -> B256 {
        BlockAttestation::unsigned(&self.records_with(ids)).digest(
            self.chain_id,
            self.number,
            self.parent,
        )
    }

    /// Checks the shape, given the jobs' [`Self::ids`]: at least one job and at most
    /// [`MAX_BLOCK_JOBS`], every job of this chain and well formed, each outcome an output or a
    /// failure, no job twice.
    pub fn validate_with(&self, ids: &[B256]) -> Result<()> {
        if self.jobs.is_empty() || self.jobs.len() > MAX_BLOCK_JOBS {
            return Err(ExecutorError::BadJob(format!(
                "a block round carries 1 to {MAX_BLOCK_JOBS} jobs, not {}",
                self.jobs.len()
            )));
        }
        let mut seen = std::collections::HashSet::with_capacity(self.jobs.len());
        for (i, (settled, id)) in self.jobs.iter().zip(ids).enumerate() {
            let job = &settled.job;
            if job.chain_id != self.chain_id {
                return Err(ExecutorError::BadJob(format!(
                    "job {i} is for chain {}, the block for chain {}",
                    job.chain_id, self.chain_id
                )));
            }
            job.validate()?;
            if settled.output.is_empty() == settled.failure.is_empty() {
                return Err(ExecutorError::BadJob(format!(
                    "job {i} ({id}): an outcome is an output or a failure, exactly one"
                )));
            }
            if !seen.insert(*id) {
                return Err(ExecutorError::BadJob(format!(
                    "job {i} ({id}) appears twice in the block"
                )));
            }
        }
        Ok(())
    }
}

/// A block round as the committee hands it to a member: the block and its jobs' ids, each
/// computed once (an id hashes its job's whole payload). The ids can only come from the jobs:
/// [`BlockRound::new`] computes them; inside this crate the committee, which keyed the block's
/// records by the very same ids, passes them on. A remote member's server builds its own.
///
/// The records' leaves and the digest are hashed once per round, when first asked for: the
/// leader and every member in its process share one round (they are pure functions of it; a
/// remote member hashes its own).
#[derive(Debug, Clone)]
pub struct BlockRound {
    block: BlockJobs,
    ids: Vec<B256>,
    sealed: OnceLock<(Vec<B256>, B256)>,
}

/// Rounds are equal by their block and ids (whether either has hashed its leaves yet aside).
impl PartialEq for BlockRound {
    fn eq(&self, other: &Self) -> bool {
        self.block == other.block && self.ids == other.ids
    }
}

impl Eq for BlockRound {}

impl BlockRound {
    /// The round of `block`, its ids computed.
    pub fn new(block: BlockJobs) -> Self {
        let ids = block.ids();
        Self { block, ids, sealed: OnceLock::new() }
    }

    /// The round of `block`, whose jobs' ids are `ids` (in block order, computed by the caller
    /// from these very jobs).
    pub(crate) fn with_ids(block: BlockJobs, ids: Vec<B256>) -> Self {
        debug_assert_eq!(ids, block.ids());
        Self { block, ids, sealed: OnceLock::new() }
    }

    /// The block.
    pub fn block(&self) -> &BlockJobs {
        &self.block
    }

    /// Its jobs' ids, in block order.
    pub fn ids(&self) -> &[B256] {
        &self.ids
    }

    /// The leaves of the block's records ([`BlockJobs::records_with`] its ids), in block order.
    pub fn leaves(&self) -> &[B256] {
        &self.sealed().0
    }

    /// What a member signs: [`BlockJobs::digest_with`] its ids.
    pub fn digest(&self) -> B256 {
        self.sealed().1
    }

    fn sealed(&self) -> &(Vec<B256>, B256) {
        self.sealed.get_or_init(|| {
            let b = &self.block;
            let unsigned = BlockAttestation::unsigned(&b.records_with(&self.ids));
            let digest = unsigned.digest(b.chain_id, b.number, b.parent);
            (unsigned.leaves, digest)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON form is the documented one, and survives a round trip.
    #[test]
    fn json_form() {
        let job =
            Job::infer(31337, B256::repeat_byte(1), Bytes::from_static(b"\x01"), Rule::ARGMAX);
        let value = serde_json::to_value(&job).unwrap();
        assert_eq!(value["chainId"], 31337);
        assert_eq!(value["kind"], "infer");
        assert_eq!(value["payload"], "0x01");
        assert_eq!(value["rule"]["kind"], 3);
        assert_eq!(serde_json::from_value::<Job>(value).unwrap(), job);
    }

    /// Malformed jobs are refused, well-formed ones pass.
    #[test]
    fn validation() {
        let model = B256::repeat_byte(1);
        assert!(Job::register(1, model).validate().is_ok());
        assert!(Job::infer(1, model, Bytes::new(), Rule::tolerance(1, 2)).validate().is_ok());
        for bad in [
            Job::infer(1, model, Bytes::new(), Rule::DEFAULT),
            Job::infer(1, model, Bytes::new(), Rule { kind: RuleKind::Exact, abs: 9, rel: 0 }),
            Job { rule: Rule::ARGMAX, ..Job::register(1, model) },
            Job { payload: Bytes::from_static(b"x"), ..Job::register(1, model) },
        ] {
            assert!(matches!(bad.validate(), Err(ExecutorError::BadJob(_))), "{bad:?}");
        }
    }

    /// A block round's shape: one chain, well-formed jobs, one outcome each, no repeats; its
    /// digest is the block digest over the unsigned records' leaves.
    #[test]
    fn block_jobs() {
        let model = B256::repeat_byte(1);
        let infer = |i: u8| Settled {
            job: Job::infer(7, model, Bytes::from(vec![i]), Rule::EXACT),
            output: Bytes::from_static(b"out"),
            failure: Bytes::new(),
        };
        let block = BlockJobs {
            chain_id: 7,
            number: 3,
            parent: B256::ZERO,
            jobs: vec![infer(1), infer(2)],
        };
        let ids = block.ids();
        assert!(block.validate_with(&ids).is_ok());
        let records = block.records_with(&ids);
        assert!(records.iter().all(|r| r.signatures.is_empty()));
        assert_eq!(
            BlockRound::new(block.clone()).digest(),
            anh_primitives::seal::block_digest(
                7,
                3,
                B256::ZERO,
                2,
                anh_primitives::seal::root(
                    &records.iter().map(anh_primitives::seal::leaf).collect::<Vec<_>>()
                )
            )
        );
        let bad = |block: BlockJobs, wanted: &str| {
            let e = block.validate_with(&block.ids()).unwrap_err().to_string();
            assert!(e.contains(wanted), "{e}");
        };
        bad(BlockJobs { jobs: Vec::new(), ..block }, "carries 1 to");
        let many = (0..=MAX_BLOCK_JOBS as u32)
            .map(|i| Settled {
                job: Job::infer(7, model, Bytes::from(i.to_be_bytes().to_vec()), Rule::EXACT),
                output: Bytes::from_static(b"out"),
                failure: Bytes::new(),
            })
            .collect();
        bad(BlockJobs { jobs: many, ..block }, "carries 1 to 100000 jobs, not 100001");
        bad(BlockJobs { chain_id: 8, ..block }, "is for chain 7, the block for chain 8");
        bad(BlockJobs { jobs: vec![infer(1), infer(1)], ..block }, "appears twice");
        let mut both = infer(1);
        both.failure = Bytes::from_static(b"failed: x");
        bad(BlockJobs { jobs: vec![both], ..block }, "exactly one");
        let mut neither = infer(1);
        neither.output = Bytes::new();
        bad(BlockJobs { jobs: vec![neither], ..block }, "exactly one");
    }
}
