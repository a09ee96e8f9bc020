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
    tensor::HostTensor,
    train::Trained,
};
use alloy_primitives::B256;
use std::{
    collections::{HashMap, HashSet},
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

/// An oracle that answers from a block's job records, verifying the committee's signatures:
/// it never runs a model. A job without a valid record is noted as a replay failure (the
/// importer then refuses the block) and answered as failed.
#[derive(Debug)]
pub struct ReplayOracle {
    committee: Committee,
    chain_id: u64,
    records: HashMap<B256, JobRecord>,
    failures: Mutex<Vec<String>>,
    /// Records whose signatures were checked (each is checked once, however often it is used).
    checked: Mutex<HashSet<B256>>,
    verified: AtomicU64,
}

impl ReplayOracle {
    /// An oracle over `records`, signed by `committee` on chain `chain_id`.
    pub fn new(committee: Committee, chain_id: u64, records: Vec<JobRecord>) -> Self {
        Self {
            committee,
            chain_id,
            records: records.into_iter().map(|r| (r.job, r)).collect(),
            failures: Mutex::default(),
            checked: Mutex::default(),
            verified: AtomicU64::new(0),
        }
    }

    /// Why the replay went wrong, if it did.
    pub fn failures(&self) -> Vec<String> {
        self.failures.lock().map(|f| f.clone()).unwrap_or_default()
    }

    /// Verifies every record (results and failures) now, spread over the available cores
    /// (replaying then finds them checked). A block with a bad attestation is refused whether
    /// or not its transactions would have used it.
    pub fn verify_all(&self) -> Result<(), AttestationError> {
        let records: Vec<&JobRecord> = self.records.values().collect();
        let threads =
            std::thread::available_parallelism().map_or(1, usize::from).min(records.len()).max(1);
        let chunk = records.len().div_ceil(threads).max(1);
        let results: Vec<Result<(), AttestationError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = records
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter().try_for_each(|r| self.committee.verify(self.chain_id, r))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    // A verification that panicked verified nothing.
                    h.join().unwrap_or_else(|_| {
                        Err(AttestationError::Malformed {
                            job: B256::ZERO,
                            reason: "a verification thread panicked".into(),
                        })
                    })
                })
                .collect()
        });
        results.into_iter().collect::<Result<(), _>>()?;
        if let Ok(mut checked) = self.checked.lock() {
            checked.extend(records.iter().map(|r| r.job));
        }
        self.verified.fetch_add(records.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Distinct attestations verified so far.
    pub fn verified(&self) -> u64 {
        self.verified.load(Ordering::Relaxed)
    }

    fn fail(&self, reason: String) -> OracleError {
        if let Ok(mut failures) = self.failures.lock() {
            failures.push(reason.clone());
        }
        OracleError::Failed(format!("replay: {reason}"))
    }

    pub(crate) fn settled(&self, job: B256) -> Result<&JobRecord, OracleError> {
        let Some(record) = self.records.get(&job) else {
            return Err(self.fail(format!("the block has no record of job {job}")));
        };
        let fresh = self.checked.lock().map(|checked| !checked.contains(&job)).unwrap_or(true);
        if fresh {
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
        let record = self.settled(job)?;
        decode_analysis(&record.output)
            .map_err(|e| self.fail(format!("job {job}: undecodable analysis: {e}")))
    }

    fn infer(&self, request: InferRequest<'_>) -> Result<Vec<HostTensor>, OracleError> {
        let rule = request.rule.or(self.committee.default_rule);
        let payload = encode_tensors(&request.inputs).map_err(OracleError::Failed)?;
        let job = job_id(JobKind::Infer, request.model, &payload, &rule);
        let record = self.settled(job)?;
        decode_tensors(&record.output)
            .map_err(|e| self.fail(format!("job {job}: undecodable output: {e}")))
    }

    fn train(&self, request: TrainRequest<'_>) -> Result<Trained, OracleError> {
        let rule = request.rule.or(Rule::DEFAULT_TRAIN);
        let payload =
            encode_train_payload(&request.batch, &request.params).map_err(OracleError::Failed)?;
        let job = job_id(JobKind::Train, request.model, &payload, &rule);
        let record = self.settled(job)?;
        Trained::decode(&record.output)
            .map_err(|e| self.fail(format!("job {job}: undecodable training result: {e}")))
    }
}
