//! Replay mode: an oracle that answers from a block's job records, verifying the committee's
//! signatures, and never runs a model.

use crate::{
    committee::{AttestationError, Committee},
    job::{
        JobKind, JobRecord, decode_analysis, decode_tensors, encode_tensors, encode_train_payload,
        job_id,
    },
    model::ModelInfo,
    oracle::{DnnOracle, InferRequest, OracleError, TrainRequest},
    rule::Rule,
    seal::BlockAttestation,
    tensor::HostTensor,
    train::Trained,
};
use alloy_primitives::B256;
use std::{
    collections::{HashMap, HashSet},
    sync::{
        Mutex, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
};

/// An oracle that answers from a block's job records, verifying the committee's signatures:
/// it never runs a model. A job without a valid record is noted as a replay failure (the
/// importer then refuses the block) and answered as failed.
///
/// A block sealed with a block-level attestation ([`Self::for_block`]) is verified once, as a
/// whole: `t` signatures of its digest and every record against the signed leaves
/// ([`Committee::verify_block`]). A block without one carries per-job signatures, each record
/// verified on its own ([`Committee::verify`]): the form a builder falls back to when no `t`
/// members sign the whole block (members that each settled some of its jobs), so that such a
/// block keeps its transactions.
#[derive(Debug)]
pub struct ReplayOracle {
    committee: Committee,
    chain_id: u64,
    records: HashMap<B256, JobRecord>,
    /// The block-level attestation, with the block it is for and its records in order.
    block: Option<SealedBlock>,
    /// The outcome of the block-level check, made once.
    block_checked: OnceLock<Result<(), AttestationError>>,
    failures: Mutex<Vec<String>>,
    /// Records whose signatures were checked (each is checked once, however often it is used).
    checked: Mutex<HashSet<B256>>,
    /// The jobs the replay asked for.
    asked: Mutex<HashSet<B256>>,
    /// The records' jobs in block order.
    order: Vec<B256>,
    verified: AtomicU64,
}

/// A block's records with its block-level attestation.
#[derive(Debug)]
struct SealedBlock {
    number: u64,
    parent: B256,
    records: Vec<JobRecord>,
    attestation: BlockAttestation,
}

impl ReplayOracle {
    /// An oracle over `records` with per-job signatures by `committee` on chain `chain_id`.
    pub fn new(committee: Committee, chain_id: u64, records: Vec<JobRecord>) -> Self {
        Self {
            committee,
            chain_id,
            order: records.iter().map(|r| r.job).collect(),
            records: records.into_iter().map(|r| (r.job, r)).collect(),
            block: None,
            block_checked: OnceLock::new(),
            failures: Mutex::default(),
            checked: Mutex::default(),
            asked: Mutex::default(),
            verified: AtomicU64::new(0),
        }
    }

    /// An oracle over the `records` of block `number` (child of `parent`): sealed by
    /// `attestation` when it is not empty, else with per-job signatures ([`Self::new`]).
    pub fn for_block(
        committee: Committee,
        chain_id: u64,
        number: u64,
        parent: B256,
        records: Vec<JobRecord>,
        attestation: BlockAttestation,
    ) -> Self {
        let sealed = attestation != BlockAttestation::default();
        let mut oracle = Self::new(committee, chain_id, records.clone());
        if sealed {
            oracle.block = Some(SealedBlock { number, parent, records, attestation });
        }
        oracle
    }

    /// The block-level check (once): `Ok` when the block is not sealed as a whole.
    fn check_block(&self) -> Result<(), AttestationError> {
        let Some(block) = &self.block else { return Ok(()) };
        self.block_checked
            .get_or_init(|| {
                self.committee.verify_block(
                    self.chain_id,
                    block.number,
                    block.parent,
                    &block.records,
                    &block.attestation,
                )?;
                self.verified.fetch_add(block.records.len() as u64, Ordering::Relaxed);
                Ok(())
            })
            .clone()
    }

    /// Why the replay went wrong, if it did.
    pub fn failures(&self) -> Vec<String> {
        self.failures.lock().map(|f| f.clone()).unwrap_or_default()
    }

    /// Verifies every record (results and failures) now, spread over the available cores
    /// (replaying then finds them checked). A block with a bad attestation is refused whether
    /// or not its transactions would have used it.
    pub fn verify_all(&self) -> Result<(), AttestationError> {
        if self.block.is_some() {
            return self.check_block();
        }
        let records: Vec<&JobRecord> = self.records.values().collect();
        let results = crate::par::map(&records, |r| self.committee.verify(self.chain_id, r));
        let results = results.into_iter().zip(&records).map(|(result, record)| {
            // A verification that panicked verified nothing.
            result.unwrap_or_else(|| {
                Err(AttestationError::Malformed {
                    job: record.job,
                    reason: "its verification panicked".into(),
                })
            })
        });
        results.into_iter().collect::<Result<(), _>>()?;
        if let Ok(mut checked) = self.checked.lock() {
            checked.extend(records.iter().map(|r| r.job));
        }
        self.verified.fetch_add(records.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// The first record (in block order) of a job the replay never asked for: no transaction
    /// of the block used it, so the block may not carry it (a builder forgets the jobs of a
    /// transaction it leaves out). Call it after the block's transactions ran.
    pub fn unused(&self) -> Option<B256> {
        let asked = self.asked.lock().ok()?;
        self.order.iter().find(|&job| !asked.contains(job)).copied()
    }

    /// Records verified so far (each once, by its own signatures or by its block's).
    pub fn verified(&self) -> u64 {
        self.verified.load(Ordering::Relaxed)
    }

    fn fail(&self, reason: String) -> OracleError {
        if let Ok(mut failures) = self.failures.lock() {
            failures.push(reason.clone());
        }
        OracleError::Failed(format!("replay: {reason}"))
    }

    /// The record of `job`, a `kind` job of `model` (what the call asked for), verified.
    ///
    /// The record's `kind` and `model` must be the call's: a per-job signature covers the job
    /// id, which commits to both, but not the record's copies of them, and a failure replays
    /// with the record's model (`ModelUnavailable(model)` reverts with it), so a relayed block
    /// must not choose them.
    pub(crate) fn settled(
        &self,
        job: B256,
        kind: JobKind,
        model: B256,
    ) -> Result<&JobRecord, OracleError> {
        if let Ok(mut asked) = self.asked.lock() {
            asked.insert(job);
        }
        let Some(record) = self.records.get(&job) else {
            return Err(self.fail(format!("the block has no record of job {job}")));
        };
        if record.kind != kind as u8 || record.model != model {
            return Err(self.fail(format!(
                "the record of job {job} names kind {} and model {}, the call asked for kind {} \
                 and model {model}",
                record.kind, record.model, kind as u8
            )));
        }
        if self.block.is_some() {
            self.check_block().map_err(|e| self.fail(e.to_string()))?;
        } else if self.checked.lock().map(|checked| !checked.contains(&job)).unwrap_or(true) {
            self.committee.verify(self.chain_id, record).map_err(|e| self.fail(e.to_string()))?;
            if let Ok(mut checked) = self.checked.lock() {
                checked.insert(job);
            }
            self.verified.fetch_add(1, Ordering::Relaxed);
        }
        if !record.is_settled() {
            // A failure the committee signed: the call reverts as the builder's did.
            return Err(record.failure_error());
        }
        Ok(record)
    }
}

impl DnnOracle for ReplayOracle {
    fn model_info(&self, model: B256) -> Result<ModelInfo, OracleError> {
        let rule = Rule::EXACT;
        let job = job_id(JobKind::Register, model, &[], &rule);
        let record = self.settled(job, JobKind::Register, model)?;
        decode_analysis(&record.output)
            .map_err(|e| self.fail(format!("job {job}: undecodable analysis: {e}")))
    }

    fn infer(&self, request: InferRequest<'_>) -> Result<Vec<HostTensor>, OracleError> {
        let rule = request.rule.or(self.committee.default_rule);
        let payload = encode_tensors(&request.inputs).map_err(OracleError::Failed)?;
        let job = job_id(JobKind::Infer, request.model, &payload, &rule);
        let record = self.settled(job, JobKind::Infer, request.model)?;
        decode_tensors(&record.output)
            .map_err(|e| self.fail(format!("job {job}: undecodable output: {e}")))
    }

    fn train(&self, request: TrainRequest<'_>) -> Result<Trained, OracleError> {
        let rule = request.rule.or(Rule::DEFAULT_TRAIN);
        let payload =
            encode_train_payload(&request.batch, &request.params).map_err(OracleError::Failed)?;
        let job = job_id(JobKind::Train, request.model, &payload, &rule);
        let record = self.settled(job, JobKind::Train, request.model)?;
        Trained::decode(&record.output)
            .map_err(|e| self.fail(format!("job {job}: undecodable training result: {e}")))
    }
}
