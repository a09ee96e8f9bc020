//! The signing worker: computes jobs on its own runtime and signs a candidate only if the
//! rule's property holds against its own result.
//!
//! - [`Executor::compute`]: an inference job decodes the payload, checks it against the
//!   model's analysis (and the cost limit, MACs × batch), runs the model and returns the ABI
//!   `Tensor[]` of the outputs; a registration job returns the model's analysis
//!   (`encode_analysis`). Results are cached by job id (bounded), so the attestation that
//!   follows a computation does not run the model again.
//! - [`Executor::attest`]: takes its own result (cached, or computed now), checks the rule —
//!   equal bytes for the exact rule (always for registrations), else [`Rule::check`] on the
//!   decoded tensors — and signs `digest(chainId, job, candidate, rule)` with a low-s
//!   signature. A candidate it does not agree with is an [`ExecutorError::Refused`] that says
//!   why.
//!
//! - [`Executor::attest_failure`]: a job this executor failed (a model error, a model it
//!   cannot get: [`ExecutorError::is_job_failure`]) is signed as failed — the failure digest
//!   of its [`JobRecord::failure_of`] bytes — when the committee's failure is the very same as
//!   its own. Failures are cached by job id like results, so signing one does not compute it
//!   again.
//!
//! - [`Executor::attest_block`]: a whole block's outcomes at once — each checked as above
//!   (from the cache when this executor computed or attested the job already) — signed as one
//!   block digest ([`anh_primitives::seal`]).
//!
//! - Training jobs ([`JobKind::Train`]): the leader trains ([`ModelRuntime::train`]) and
//!   answers [`Trained`] (new model hash, size, loss); it keeps the new model file, which the
//!   committee fetches with [`Executor::artifact`] and puts in the node's store. Under the
//!   train-loss rule an attesting executor does not train: it checks that the candidate model
//!   is the parent's graph with new weights ([`anh_runtime::same_architecture`]), that its loss
//!   on the batch is the claimed one within the rule's tolerance, and that it is not above the
//!   parent's loss by more than that. Under the recompute rule it trains too and compares the
//!   weights ([`anh_runtime::compare_weights`]). For `trainOnly` (the payload names the
//!   trainable weights) either rule also checks that every other weight is the parent's byte
//!   for byte ([`anh_runtime::frozen_unchanged`]).
//!
//! Calls block (they may run ONNX Runtime): call them from a blocking thread pool.

use crate::{
    error::{ExecutorError, Result},
    job::{BlockRound, Job},
    key::ExecutorKey,
};
use alloy_primitives::{Address, B256, Bytes, keccak256};
use anh_primitives::{
    JobKind, JobRecord, ModelInfo, Rule, Trained,
    job::{decode_tensors, decode_train_payload, digest, encode_analysis, encode_tensors},
    signature::sign,
};
use anh_runtime::{ModelRuntime, ModelSource, RuntimeError, validate_inputs};
use parking_lot::Mutex;
use std::{
    collections::{HashMap, VecDeque},
    fmt,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

/// How an [`Executor`] bounds its work and its cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutorConfig {
    /// Largest job accepted, in MACs: the model's MACs × batch, where batch is the largest
    /// product of an input's symbolic dimensions (default 10^12).
    pub max_job_macs: u64,
    /// Results kept by job id (default 256).
    pub cache_entries: usize,
    /// Bytes of results kept (default 256 MiB).
    pub cache_bytes: usize,
}

impl ExecutorConfig {
    /// The default job limit: 10^12 MACs.
    pub const DEFAULT_MAX_JOB_MACS: u64 = 1_000_000_000_000;
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        Self {
            max_job_macs: Self::DEFAULT_MAX_JOB_MACS,
            cache_entries: 256,
            cache_bytes: 256 << 20,
        }
    }
}

/// Counters of an [`Executor`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExecutorStats {
    /// Jobs computed (not answered from the cache).
    pub computed: u64,
    /// Computations answered from the cache.
    pub cache_hits: u64,
    /// Candidates signed.
    pub signed: u64,
    /// Candidates refused.
    pub refused: u64,
}

/// Recent results by job id, first in first out, bounded in entries and bytes.
#[derive(Debug, Default)]
struct ResultCache {
    results: HashMap<B256, Bytes>,
    order: VecDeque<B256>,
    bytes: usize,
}

impl ResultCache {
    fn contains(&self, job: &B256) -> bool {
        self.results.contains_key(job)
    }

    fn get(&self, job: &B256) -> Option<Bytes> {
        self.results.get(job).cloned()
    }

    fn insert(&mut self, job: B256, output: Bytes, config: &ExecutorConfig) {
        if output.len() > config.cache_bytes || config.cache_entries == 0 {
            return;
        }
        if self.results.contains_key(&job) {
            return;
        }
        while self.order.len() >= config.cache_entries
            || self.bytes + output.len() > config.cache_bytes
        {
            let Some(old) = self.order.pop_front() else { break };
            if let Some(evicted) = self.results.remove(&old) {
                self.bytes -= evicted.len();
            }
        }
        self.bytes += output.len();
        self.order.push_back(job);
        self.results.insert(job, output);
    }
}

/// An executor: a key, a runtime, a model source and a cache of its own recent results.
pub struct Executor {
    key: ExecutorKey,
    runtime: Arc<dyn ModelRuntime>,
    models: Arc<dyn ModelSource>,
    config: ExecutorConfig,
    cache: Mutex<ResultCache>,
    /// Recent job failures (their recorded bytes) by job id, bounded as results are.
    failures: Mutex<ResultCache>,
    /// The model files this executor trained most recently, newest last.
    artifacts: Mutex<VecDeque<(B256, Bytes)>>,
    computed: AtomicU64,
    cache_hits: AtomicU64,
    signed: AtomicU64,
    refused: AtomicU64,
}

impl fmt::Debug for Executor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executor")
            .field("address", &self.key.address())
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Executor {
    /// An executor signing with `key`, running models from `models` on `runtime`, with the
    /// default [`ExecutorConfig`].
    pub fn new(
        key: ExecutorKey,
        runtime: Arc<dyn ModelRuntime>,
        models: Arc<dyn ModelSource>,
    ) -> Self {
        Self::with_config(key, runtime, models, ExecutorConfig::default())
    }

    /// [`Executor::new`] with `config`.
    pub fn with_config(
        key: ExecutorKey,
        runtime: Arc<dyn ModelRuntime>,
        models: Arc<dyn ModelSource>,
        config: ExecutorConfig,
    ) -> Self {
        Self {
            key,
            runtime,
            models,
            config,
            cache: Mutex::default(),
            failures: Mutex::default(),
            artifacts: Mutex::default(),
            computed: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            signed: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// The address this executor signs as.
    pub fn address(&self) -> Address {
        self.key.address()
    }

    /// Its configuration.
    pub fn config(&self) -> &ExecutorConfig {
        &self.config
    }

    /// Its counters.
    pub fn stats(&self) -> ExecutorStats {
        ExecutorStats {
            computed: self.computed.load(Ordering::Relaxed),
            cache_hits: self.cache_hits.load(Ordering::Relaxed),
            signed: self.signed.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }

    /// Computes `job` (see the module docs), or returns its cached result. Blocks.
    pub fn compute(&self, job: &Job) -> Result<Bytes> {
        self.compute_as(job, job.id())
    }

    /// [`Self::compute`] of `job`, whose id `id` the caller computed already (an id hashes the
    /// whole payload). Results are cached by it: it must be `job.id()`.
    pub(crate) fn compute_as(&self, job: &Job, id: B256) -> Result<Bytes> {
        debug_assert_eq!(id, job.id());
        job.validate()?;
        let cached = self.cache.lock().get(&id);
        // A training result is only as good as the model file it names, which this executor
        // keeps for a while only: without the file, train again.
        let usable = |output: &Bytes| {
            job.kind != JobKind::Train
                || Trained::decode(output).is_ok_and(|t| self.artifact(&t.model).is_some())
        };
        if let Some(output) = cached.filter(usable) {
            self.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(output);
        }
        let output = match job.kind {
            JobKind::Register => self.info(job.model).map(|info| encode_analysis(&info)),
            JobKind::Infer => self.infer(job, id),
            JobKind::Train => self.train(job, id),
        };
        let output = output.inspect_err(|e| {
            // Only a failure of the job itself is remembered: a model that is unavailable now
            // may be fetched later, and a failure signed from memory then would be stale.
            if let ExecutorError::Failed(_) = e
                && let Some(failure) = e.job_failure(job.model)
            {
                let failure = JobRecord::failure_of(&failure);
                self.failures.lock().insert(id, failure, &self.config);
            }
        })?;
        self.computed.fetch_add(1, Ordering::Relaxed);
        self.cache.lock().insert(id, output.clone(), &self.config);
        Ok(output)
    }

    /// Signs `candidate` as the output of `job` if the rule's property holds against this
    /// executor's own result; else [`ExecutorError::Refused`]. Blocks.
    pub fn attest(&self, job: &Job, candidate: &Bytes) -> Result<[u8; 65]> {
        let id = job.id();
        let verdict = self.output_verdict(job, id, candidate)?;
        self.refuse_unless(id, verdict, "refusing to sign a candidate")?;
        self.sign(&digest(job.chain_id, id, candidate, &job.rule))
    }

    /// Signs `failure` as the outcome of `job` if this executor's own computation of the job
    /// failed with exactly that failure (cached, or computed now); else
    /// [`ExecutorError::Refused`]. Blocks.
    pub fn attest_failure(&self, job: &Job, failure: &Bytes) -> Result<[u8; 65]> {
        let id = job.id();
        let verdict = self.failure_verdict(job, id, failure)?;
        self.refuse_unless(id, verdict, "refusing to sign a failure")?;
        self.sign(&job.failure_digest(failure))
    }

    /// Signs a whole block's outcomes at once (the block digest over their records) if it
    /// agrees with every one of them as [`Self::attest`] and [`Self::attest_failure`] would;
    /// else [`ExecutorError::Refused`] naming the first job it does not agree with. The jobs it
    /// computed already (as leader, or to attest them one by one) come from its cache. Blocks.
    pub fn attest_block(&self, round: &BlockRound) -> Result<[u8; 65]> {
        let (block, ids) = (round.block(), round.ids());
        block.validate_with(ids)?;
        let verdict = |(settled, &id): (&crate::job::Settled, &B256)| {
            if settled.failure.is_empty() {
                self.output_verdict(&settled.job, id, &settled.output)
            } else {
                self.failure_verdict(&settled.job, id, &settled.failure)
            }
        };
        // The jobs this executor has an outcome of already (it answered or checked them while
        // the block executed) are checked here, the others side by side on the machine's cores
        // (ONNX Runtime's sessions are pooled per model); the verdicts are read in block order.
        let known: Vec<bool> = {
            let (cache, failures) = (self.cache.lock(), self.failures.lock());
            ids.iter().map(|id| cache.contains(id) || failures.contains(id)).collect()
        };
        let (here, there): (Vec<usize>, Vec<usize>) = (0..ids.len()).partition(|&i| known[i]);
        // One job refused refuses the block: from then on the jobs not started are not checked
        // (each would run its model). A job this executor cannot tell (busy, too large, the
        // model unavailable) does not stop the others: a refusal among them names its job.
        let stop = AtomicBool::new(false);
        let check = |i: usize| {
            let v = verdict((&block.jobs[i], &ids[i]));
            if matches!(v, Ok(Err(_))) {
                stop.store(true, Ordering::Relaxed);
            }
            v
        };
        let mut verdicts: Vec<Option<Result<std::result::Result<(), String>>>> =
            (0..ids.len()).map(|_| None).collect();
        for i in here {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            verdicts[i] = Some(check(i));
        }
        if !stop.load(Ordering::Relaxed) {
            let checked = anh_primitives::par::map(&there, |&i| {
                (!stop.load(Ordering::Relaxed)).then(|| check(i))
            });
            // A check that panicked leaves its job without a verdict.
            for (&i, v) in there.iter().zip(checked) {
                verdicts[i] = v.flatten();
            }
        }
        // The first refusal in block order names its job (its answerer goes into back-off):
        // it comes before any job this executor could not tell.
        if let Some((i, reason)) = verdicts.iter().enumerate().find_map(|(i, v)| match v {
            Some(Ok(Err(reason))) => Some((i, reason)),
            _ => None,
        }) {
            let reason = format!("block {}, job {i} of {}: {reason}", block.number, ids.len());
            return Err(self.refused(ids[i], reason, "refusing to sign a block"));
        }
        for verdict in verdicts {
            match verdict {
                Some(Ok(Ok(()))) => {}
                Some(Err(cannot_tell)) => return Err(cannot_tell),
                // (A refusal was answered above.) A job without a verdict: its check panicked.
                Some(Ok(Err(_))) | None => {
                    return Err(ExecutorError::Failed(
                        "a check of the block did not finish".into(),
                    ));
                }
            }
        }
        self.sign(&round.digest())
    }

    /// Whether `candidate` is an output this executor agrees with for `job` (`Ok(Err(why))`
    /// when it does not; `Err` when it cannot tell).
    fn output_verdict(&self, job: &Job, id: B256, candidate: &Bytes) -> Result<Result<(), String>> {
        if job.kind == JobKind::Train && job.rule.kind == Rule::DEFAULT_TRAIN.kind {
            job.validate()?;
            return self.check_training(job, candidate);
        }
        let own = self.compute_as(job, id)?;
        Ok(check(job, candidate, &own).and_then(|()| self.check_recomputed(job, candidate, &own)))
    }

    /// Counts and logs a refusal, as [`ExecutorError::Refused`].
    fn refuse_unless(
        &self,
        job: B256,
        verdict: std::result::Result<(), String>,
        what: &str,
    ) -> Result<()> {
        verdict.map_err(|reason| self.refused(job, reason, what))
    }

    /// Counts and logs a refusal of `job`.
    fn refused(&self, job: B256, reason: String, what: &str) -> ExecutorError {
        self.refused.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%job, %reason, "{what}");
        ExecutorError::Refused { executor: self.address(), job, reason }
    }

    /// Signs `digest` with this executor's key.
    fn sign(&self, digest: &B256) -> Result<[u8; 65]> {
        let signature = sign(self.key.signing_key(), digest).map_err(ExecutorError::Signing)?;
        self.signed.fetch_add(1, Ordering::Relaxed);
        Ok(signature)
    }

    /// Whether `failure` is the very failure this executor's own computation of `job` ended
    /// in (`Ok(Err(why))` when not; `Err` when it cannot tell).
    fn failure_verdict(&self, job: &Job, id: B256, failure: &Bytes) -> Result<Result<(), String>> {
        job.validate()?;
        if self.cache.lock().contains(&id) {
            return Ok(Err("this executor computed an output for the job: it did not fail".into()));
        }
        let cached = self.failures.lock().get(&id);
        let own = match cached {
            Some(own) => Ok(own),
            None => match self.compute_as(job, id) {
                Ok(_) => {
                    Err("this executor computed an output for the job: it did not fail".into())
                }
                Err(e) => match e.job_failure(job.model) {
                    Some(own) => Ok(JobRecord::failure_of(&own)),
                    // Not an outcome (busy, too large for this executor): no verdict at all.
                    None => return Err(e),
                },
            },
        };
        Ok(own.and_then(|own| {
            if own == *failure {
                Ok(())
            } else {
                Err(format!(
                    "this executor's failure is {:?}, not {:?}",
                    String::from_utf8_lossy(&own),
                    String::from_utf8_lossy(failure)
                ))
            }
        }))
    }

    /// The file of a model this executor trained recently, if it still keeps it.
    pub fn artifact(&self, model: &B256) -> Option<Bytes> {
        self.artifacts.lock().iter().find(|(hash, _)| hash == model).map(|(_, b)| b.clone())
    }

    /// Trains (a [`JobKind::Train`] job): see the module docs.
    fn train(&self, job: &Job, id: B256) -> Result<Bytes> {
        let info = self.info(job.model)?;
        let (batch, params) = decode_train_payload(&job.payload)
            .map_err(|e| ExecutorError::Failed(format!("undecodable training batch: {e}")))?;
        let n = info.inputs.len();
        if batch.len() != n + params.extra_tensors() {
            return Err(ExecutorError::Failed(format!(
                "the batch has {} tensors, the model and loss need {}",
                batch.len(),
                n + params.extra_tensors()
            )));
        }
        validate_inputs(&info, &batch[..n]).map_err(|e| ExecutorError::Failed(e.to_string()))?;
        let macs = info
            .macs_for(batch[..n].iter().map(|t| t.shape()))
            .unwrap_or(u64::MAX)
            .saturating_mul(3 * u64::from(params.steps));
        if macs > self.config.max_job_macs {
            return Err(ExecutorError::JobTooLarge {
                job: id,
                macs,
                limit: self.config.max_job_macs,
            });
        }
        let output = self
            .runtime
            .train(job.model, batch, &params, &anh_runtime::log_progress(job.model, params.steps))
            .map_err(runtime_error)?;
        let old = output.losses.first().copied().unwrap_or(f64::NAN);
        job.rule.check_loss_rise(old, output.loss).map_err(ExecutorError::Failed)?;
        let loss = Trained::fixed_loss(output.loss).map_err(ExecutorError::Failed)?;
        let model = keccak256(&output.model);
        let trained = Trained { model, size: output.model.len() as u64, loss };
        let mut artifacts = self.artifacts.lock();
        if !artifacts.iter().any(|(hash, _)| *hash == model) {
            artifacts.push_back((model, output.model.into()));
            while artifacts.len() > MAX_ARTIFACTS {
                artifacts.pop_front();
            }
        }
        Ok(trained.encode())
    }

    /// The train-loss rule's property of `candidate` (see the module docs): `Ok(Err(reason))`
    /// when it does not hold, `Err` when this executor cannot tell (a model it cannot get).
    fn check_training(&self, job: &Job, candidate: &Bytes) -> Result<Result<(), String>> {
        let claimed = match Trained::decode(candidate) {
            Ok(claimed) => claimed,
            Err(e) => return Ok(Err(format!("the candidate is not a training result: {e}"))),
        };
        let (batch, params) = decode_train_payload(&job.payload)
            .map_err(|e| ExecutorError::Failed(format!("undecodable training batch: {e}")))?;
        let parent = self.models.model_bytes(&job.model).map_err(|e| {
            ExecutorError::ModelUnavailable { model: job.model, reason: e.to_string() }
        })?;
        let trained = self.models.model_bytes(&claimed.model).map_err(|e| {
            ExecutorError::ModelUnavailable { model: claimed.model, reason: e.to_string() }
        })?;
        if trained.len() as u64 != claimed.size {
            return Ok(Err(format!(
                "the candidate claims {} bytes, the model has {}",
                claimed.size,
                trained.len()
            )));
        }
        if let Err(reason) = retrained(&parent, &trained, &params) {
            return Ok(Err(reason));
        }
        let old =
            self.runtime.loss(job.model, batch.clone(), params.loss).map_err(runtime_error)?;
        let new = self.runtime.loss(claimed.model, batch, params.loss).map_err(runtime_error)?;
        let eps = job.rule.abs as f64 * 1e-9;
        let said = i128::try_from(claimed.loss).map_or(f64::NAN, |l| l as f64 / 1e18);
        // NaN compares as nothing, so a NaN loss never passes.
        let within = |value: f64, bound: f64| {
            matches!(
                value.partial_cmp(&bound),
                Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
            )
        };
        if !within((new - said).abs(), eps) {
            return Ok(Err(format!(
                "the new weights' loss on the batch is {new}, the candidate claims {said} (tolerance {eps})"
            )));
        }
        if let Err(reason) = job.rule.check_loss_rise(old, new) {
            return Ok(Err(reason));
        }
        Ok(Ok(()))
    }

    /// The recompute rule's property: the candidate's weights are within the rule's tolerance
    /// of this executor's own training (nothing to check for other jobs).
    fn check_recomputed(&self, job: &Job, candidate: &Bytes, own: &Bytes) -> Result<(), String> {
        if job.kind != JobKind::Train || candidate == own {
            return Ok(());
        }
        let claimed =
            Trained::decode(candidate).map_err(|e| format!("not a training result: {e}"))?;
        let mine = Trained::decode(own).map_err(|e| format!("own result undecodable: {e}"))?;
        let theirs = self
            .models
            .model_bytes(&claimed.model)
            .map_err(|e| format!("the candidate model {} is not available: {e}", claimed.model))?;
        let ours = self.artifact(&mine.model).ok_or("own trained model no longer kept")?;
        let parent = self
            .models
            .model_bytes(&job.model)
            .map_err(|e| format!("the parent model is not available: {e}"))?;
        let (_, params) = decode_train_payload(&job.payload)?;
        retrained(&parent, &theirs, &params)?;
        anh_runtime::compare_weights(&theirs, &ours, job.rule.abs, job.rule.rel)?;
        let loss = |t: &Trained| i128::try_from(t.loss).map_or(f64::NAN, |l| l as f64 / 1e18);
        let (said, own) = (loss(&claimed), loss(&mine));
        let (abs, rel) = (job.rule.abs as f64 * 1e-9, job.rule.rel as f64 * 1e-9);
        if !anh_primitives::rule::within(said, own, abs, rel) {
            return Err(format!("the candidate claims a loss of {said}, this executor's is {own}"));
        }
        Ok(())
    }

    /// The model's analysis, or why this executor does not have the model.
    fn info(&self, model: B256) -> Result<ModelInfo> {
        if let Some(info) = self.models.model_info(&model) {
            return Ok(info);
        }
        // Ask for the bytes to learn why (not stored, not served, corrupt, …).
        let reason = match self.models.model_bytes(&model) {
            Err(e) => e.to_string(),
            Ok(_) => "its analysis failed".to_string(),
        };
        Err(ExecutorError::ModelUnavailable { model, reason })
    }

    fn infer(&self, job: &Job, id: B256) -> Result<Bytes> {
        let info = self.info(job.model)?;
        let inputs = decode_tensors(&job.payload)
            .map_err(|e| ExecutorError::Failed(format!("undecodable inputs: {e}")))?;
        validate_inputs(&info, &inputs).map_err(|e| ExecutorError::Failed(e.to_string()))?;
        let macs = info.macs_for(inputs.iter().map(|t| t.shape())).unwrap_or(u64::MAX);
        if macs > self.config.max_job_macs {
            return Err(ExecutorError::JobTooLarge {
                job: id,
                macs,
                limit: self.config.max_job_macs,
            });
        }
        let outputs = self.runtime.run(job.model, inputs).map_err(runtime_error)?;
        encode_tensors(&outputs)
            .map_err(|e| ExecutorError::Failed(format!("unencodable outputs: {e}")))
    }
}

/// Trained model files an executor keeps for the committee to fetch.
const MAX_ARTIFACTS: usize = 4;

/// A runtime failure as an executor error.
fn runtime_error(e: RuntimeError) -> ExecutorError {
    match e {
        RuntimeError::UnknownModel(model) => {
            ExecutorError::ModelUnavailable { model, reason: e.to_string() }
        }
        // This executor's clock, not the job: never an outcome to agree on or sign.
        RuntimeError::Deadline { after, .. } => {
            ExecutorError::Timeout { member: "this executor (--max-run-time)".into(), after }
        }
        other => ExecutorError::Failed(other.to_string()),
    }
}

/// The rule's property of `candidate` against `own`.
fn check(job: &Job, candidate: &Bytes, own: &Bytes) -> Result<(), String> {
    if job.kind == JobKind::Train {
        // Recompute: the loss claims may differ in the last bits; the weights are compared
        // after ([`Executor::check_recomputed`]).
        let claimed =
            Trained::decode(candidate).map_err(|e| format!("not a training result: {e}"))?;
        let mine = Trained::decode(own).map_err(|e| format!("own result undecodable: {e}"))?;
        return if claimed.size == mine.size {
            Ok(())
        } else {
            Err(format!(
                "the candidate model has {} bytes, this executor's {}",
                claimed.size, mine.size
            ))
        };
    }
    if job.kind == JobKind::Register || job.rule == Rule::EXACT {
        return if candidate == own {
            Ok(())
        } else {
            Err(format!(
                "the candidate (keccak256 {}) differs from this executor's result (keccak256 {})",
                keccak256(candidate),
                keccak256(own)
            ))
        };
    }
    let candidate =
        decode_tensors(candidate).map_err(|e| format!("the candidate is not a Tensor[]: {e}"))?;
    let own = decode_tensors(own).map_err(|e| format!("own result undecodable: {e}"))?;
    job.rule.check(&candidate, &own)
}

/// Whether `candidate` is `parent` trained as `params` asked, by either settlement rule: the
/// parent's architecture with new weights ([`anh_runtime::same_architecture`]) and, when the job
/// named the weights that train (`trainOnly`, `trainAdapters`), every other weight unchanged
/// ([`anh_runtime::frozen_unchanged`]).
fn retrained(
    parent: &[u8],
    candidate: &[u8],
    params: &anh_primitives::TrainParams,
) -> Result<(), String> {
    anh_runtime::same_architecture(parent, candidate)
        .map_err(|e| format!("the candidate is not the parent model retrained: {e}"))?;
    if params.trainable.is_empty() {
        return Ok(());
    }
    anh_runtime::frozen_unchanged(parent, candidate, &params.trainable)
        .map_err(|e| format!("the candidate changed a frozen weight: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use anh_primitives::{Dim, ElemType, TensorSpec};

    fn config(entries: usize, bytes: usize) -> ExecutorConfig {
        ExecutorConfig { cache_entries: entries, cache_bytes: bytes, ..Default::default() }
    }

    /// The cache keeps at most its entries and bytes, evicting the oldest first.
    #[test]
    fn cache_is_bounded() {
        let mut cache = ResultCache::default();
        let c = config(2, 10);
        for i in 0..3u8 {
            cache.insert(B256::repeat_byte(i), Bytes::from(vec![i; 4]), &c);
        }
        assert!(cache.get(&B256::repeat_byte(0)).is_none(), "oldest evicted by count");
        assert!(cache.get(&B256::repeat_byte(2)).is_some());
        cache.insert(B256::repeat_byte(3), Bytes::from(vec![3; 8]), &c);
        assert_eq!(cache.results.len(), 1, "evicted by bytes");
        assert_eq!(cache.bytes, 8);
        cache.insert(B256::repeat_byte(4), Bytes::from(vec![4; 11]), &c);
        assert!(cache.get(&B256::repeat_byte(4)).is_none(), "a result over the budget is not kept");
    }

    /// A job's MACs are the model's cost at the inputs' symbolic sizes.
    #[test]
    fn macs_of_inputs() {
        let spec = |shape| TensorSpec { name: "x".into(), elem: ElemType::F32, shape };
        let info = ModelInfo {
            hash: B256::ZERO,
            size: 0,
            cost: anh_primitives::Cost::new(vec![1], vec![10, 10]).unwrap(),
            inputs: vec![
                spec(vec![Dim::Symbolic("batch".into()), Dim::Fixed(2)]),
                spec(vec![Dim::Fixed(1)]),
            ],
            outputs: vec![],
            parent: None,
        };
        assert_eq!(info.macs_for([&[7u64, 2][..], &[1]]), Some(70));
        assert_eq!(info.macs_for([&[1u64, 2][..], &[1]]), Some(10));
    }
}
