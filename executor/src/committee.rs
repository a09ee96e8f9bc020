//! The committee client: settles jobs t-of-n with the members' signatures, and is the block
//! builder's [`DnnOracle`] (Build mode).
//!
//! **Settlement** of a job with id `J`, members `m_0 … m_{n-1}` (the committee's order) and
//! threshold `t`:
//!
//! 1. *Leader order*: `m_{J mod n}`, then the following members, wrapping around.
//! 2. *Round 1*: the first `t` members of that order compute the job in parallel, each within
//!    the per-member timeout. The first one (in leader order) that answered is the leader;
//!    its output is the candidate.
//! 3. *Round 2*: every member that computed is asked to attest the candidate. Each returned
//!    signature is verified here: it must recover, over
//!    `digest(chainId, J, keccak256(candidate), rule)`, to a committee member; each signer
//!    counts once (a copied or repeated signature adds nothing; a foreign key's or another
//!    digest's adds nothing).
//! 4. With `t` valid signatures the job **settles**: a [`JobRecord`] with the candidate and
//!    the signatures, in committee order. Otherwise, if another member's output differs from
//!    the candidate, it becomes the next candidate (a wrong leader cannot block a job), and
//!    if still short, the next `t − best` untried members of the leader order compute and
//!    attest, until `t` signatures or every member tried.
//! 5. If `t` members report the same deterministic failure (the same ONNX Runtime message,
//!    say), they are asked to sign it (`attest_failure`: the failure digest), and with `t`
//!    valid signatures the job **fails provably**: a record with an empty output, that failure
//!    and the signatures. Else, short of `t` signatures for any outcome, the job has **no
//!    quorum**: nobody can prove that, so it is never recorded — the oracle answers
//!    `NoQuorum` and notes it ([`JobLedger::take_unprovable`]), and the block builder leaves
//!    the transaction that asked out of the block, back in the pool with the reason.
//!
//! **A slow member is remembered.** A member whose call times out or cannot be reached is put
//! in back-off ([`MIN_BACKOFF`] or the member timeout if longer, doubling per further miss up
//! to [`MAX_BACKOFF`]; any answer clears it):
//! while in back-off it moves to the end of every job's leader order, so the first `t` asked
//! are the responsive ones and one hung executor costs at most one timeout per back-off
//! window, not one per job. It is still asked when the others do not make a quorum.
//!
//! **Optimistic blocks** ([`CommitteeOracle::optimistic`], what `anh node` uses): while block
//! `b` is built, an inference job is answered by one member — the first that answers in the
//! *block order*: the committee's order from `m_{b mod n}`, members in back-off last, so one
//! member answers a whole block and the work turns with the blocks (a deterministic failure is
//! an answer too) — and kept as pending. A member in this process computes on the builder's own
//! thread ([`Member::in_process`]); no hand-over. The next `t − 1` members of the block order
//! *check* each answer while the block executes: the job goes to each of them as soon as it is
//! answered (one worker per checking member and block, a job at a time; a member in this
//! process on one blocking thread), so the model runs twice at once, not one run after the
//! other. The block round below is the only round, and when the answering and the checking
//! members are the ones asked, it runs no model: they sign from their caches. If the round does
//! not confirm the answers (a wrong or disputed answer, members down), [`JobLedger::seal`]
//! answers `None`: the builder executes the block again, and this time its jobs settle one by
//! one as described above (a job no quorum settles leaves the block with its transaction).
//! Registration and training jobs always settle one by one.
//!
//! **Sealing a block** ([`JobLedger::seal`]): the members checking the block finish first (a
//! member that missed a check goes into back-off); then the block's provable records, in
//! first-use order, go to every member in one request (`attest_block`: each job with its settled output or
//! failure, the block's number and parent hash); a member checks each as it would one by one
//! (from its cache when it computed the job already) and signs the block digest over their
//! Merkle root ([`anh_primitives::seal`]). `t` valid signatures seal the block: its records
//! carry no signatures of their own, and a follower recovers `t` signatures per block; a member
//! that refused the block then goes into back-off (it is wrong, or alone in its results). Short
//! of `t`, the block keeps the records' per-job signatures (its transactions are never lost for
//! want of a block round).
//!
//! The oracle answers from the record — the output decoded as a replaying node decodes it, or
//! `JobRecord::failure_error()` — so Build and Replay mode return the same thing. Identical
//! jobs settle once per block: the current block's records are kept by job id, and
//! [`JobLedger::take_records`] hands the provable ones over in first-use order and starts the
//! next block.
//!
//! The precompiles call the oracle synchronously from a blocking thread; it drives the
//! asynchronous settlement with [`Handle::block_on`] on a stored handle of a multi-threaded
//! tokio runtime. Never call it from an async task.

use crate::{
    error::{ExecutorError, Result},
    job::{BlockJobs, BlockRound, Job, Settled},
    member::{Member, MemberFuture},
};
use alloy_primitives::{B256, Bytes, U256, keccak256};
use anh_primitives::{
    BlockAttestation, Committee, DnnOracle, HostTensor, InferRequest, JobKind, JobLedger,
    JobRecord, ModelInfo, OracleError, Rule, TrainRequest, Trained,
    job::{
        decode_analysis, decode_tensors, digest, encode_tensors, encode_train_payload,
        failure_digest,
    },
    signature::recover,
};
use anh_runtime::ModelStore;
use futures::future::join_all;
use parking_lot::Mutex;
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    fmt,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::{runtime::Handle, sync::mpsc, task::JoinHandle};

/// The committee's configuration: who, how many, and how long each may take.
#[derive(Debug, Clone)]
pub struct CommitteeConfig {
    /// Addresses, threshold and default rule (chain configuration, in genesis).
    pub committee: Committee,
    /// The members, in the committee's order: `members[i].address() == committee.members[i]`.
    pub members: Vec<Arc<dyn Member>>,
    /// The chain whose digests members sign.
    pub chain_id: u64,
    /// How long each member call (compute or attest) may take.
    pub timeout: Duration,
}

impl CommitteeConfig {
    /// The default per-member timeout.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

    /// Checks: at least one member, `1 ≤ t ≤ n`, no duplicate address, the members' addresses
    /// equal the committee's in order, a concrete default rule.
    pub fn validate(&self) -> Result<()> {
        let committee = &self.committee;
        // The chain-level rules, shared with every node's check of the committee it uses.
        committee.validate().map_err(ExecutorError::Config)?;
        let n = committee.members.len();
        if self.members.len() != n {
            return Err(ExecutorError::Config(format!(
                "the committee has {n} addresses but {} members were given",
                self.members.len()
            )));
        }
        for (i, (member, address)) in self.members.iter().zip(&committee.members).enumerate() {
            if member.address() != *address {
                return Err(ExecutorError::Config(format!(
                    "member {i} ({}) signs as {}, but the committee's member {i} is {address}",
                    member.describe(),
                    member.address()
                )));
            }
        }
        if self.timeout.is_zero() {
            return Err(ExecutorError::Config("the member timeout must be positive".into()));
        }
        Ok(())
    }
}

/// Counters of a [`CommitteeOracle`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitteeStats {
    /// Jobs settled with a quorum of signatures (attestations formed).
    pub attestations_formed: u64,
    /// Jobs that failed provably (a deterministic failure `t` members signed).
    pub jobs_failed: u64,
    /// Jobs that could not be settled provably (no quorum): their transactions left blocks.
    pub jobs_unprovable: u64,
    /// Blocks sealed with a block-level attestation (the others keep per-job signatures).
    pub blocks_sealed: u64,
}

/// One of the current block's records: the record, its job, the members (committee indices)
/// that signed or computed it, and whether it is an optimistic answer no quorum confirmed yet.
#[derive(Debug)]
struct Kept {
    record: JobRecord,
    job: Arc<Job>,
    signers: Vec<usize>,
    pending: bool,
}

/// The current block's records, by job id, the order they were first used in, and the
/// members checking its optimistic answers while it executes.
#[derive(Debug, Default)]
struct BlockRecords {
    order: Vec<B256>,
    records: HashMap<B256, Kept>,
    checks: Vec<Checks>,
}

impl Drop for Checks {
    /// A block let go without sealing ([`JobLedger::take_records`]) stops its checks: the
    /// worker starts no further job.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A checking member's outcomes so far, by job id.
type CheckResults = Arc<Mutex<Vec<(B256, Result<Bytes>)>>>;

/// A member checking the current block's optimistic answers while the block executes: each
/// job goes to it as soon as it is answered, so that by the block round it has computed every
/// job (its results are cached where it signs from) and the round costs no model run.
#[derive(Debug)]
struct Checks {
    /// The checking member (committee index).
    member: usize,
    /// The jobs to compute (with their ids), in the order they were answered; `None` once
    /// closed.
    queue: Option<mpsc::UnboundedSender<(Arc<Job>, B256)>>,
    /// Its outcome of each job computed so far.
    results: CheckResults,
    /// Set when the block is sealed without waiting for the rest: no further job is started.
    stop: Arc<AtomicBool>,
    /// The worker; it ends when the queue is closed and empty, after a miss, or when stopped.
    done: JoinHandle<()>,
}

impl BlockRecords {
    /// The provable records, in first-use order, with their jobs and signers.
    fn provable(mut self) -> Vec<Kept> {
        let order = std::mem::take(&mut self.order);
        order
            .into_iter()
            .filter_map(|job| self.records.remove(&job))
            .filter(|kept| kept.pending || is_provable(&kept.record))
            .collect()
    }
}

/// The shortest back-off of a member that missed a call.
pub const MIN_BACKOFF: Duration = Duration::from_secs(5);

/// The longest a member that keeps missing its calls stays at the end of the order (10 minutes:
/// a hung member then costs one `--executor-timeout` per 10 minutes, not one per minute).
pub const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// A member's recent misses (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
struct Health {
    /// Misses in a row.
    misses: u32,
    /// Until when it is asked last.
    until: Option<std::time::Instant>,
}

/// One candidate output and the valid signatures gathered for it.
#[derive(Debug)]
struct Candidate {
    output: Bytes,
    /// Members asked to attest it (indices into the committee).
    asked: HashSet<usize>,
    /// Valid signatures by signer (committee index): each signer counted once.
    signatures: BTreeMap<usize, Bytes>,
}

/// One failure members reported, and the valid signatures of it gathered so far.
#[derive(Debug)]
struct FailureClaim {
    /// [`JobRecord::failure_of`] the failure.
    failure: Bytes,
    /// Members that reported it (committee indices).
    reporters: Vec<usize>,
    /// Members asked to sign it.
    asked: HashSet<usize>,
    /// Valid signatures by signer (committee index).
    signatures: BTreeMap<usize, Bytes>,
}

/// Settles jobs with a committee of executors (see the module docs).
pub struct CommitteeOracle {
    config: CommitteeConfig,
    handle: Handle,
    /// Where trained models go (the node's store), so that members can fetch them.
    models: Option<Arc<ModelStore>>,
    block: Mutex<BlockRecords>,
    /// Whether inference jobs are answered optimistically while a block is built
    /// ([`Self::optimistic`]).
    optimistic: bool,
    /// Set when an optimistic block round failed: the block is executed again and its jobs
    /// settle one by one.
    per_job: AtomicBool,
    /// Who signed each job settled since it was kept in the block (committee indices).
    signers: Mutex<HashMap<B256, Vec<usize>>>,
    /// Each member's recent misses, in committee order.
    health: Mutex<Vec<Health>>,
    /// Why answers since the last [`JobLedger::take_unprovable`] were not provable.
    unprovable: Mutex<Vec<String>>,
    formed: AtomicU64,
    failed: AtomicU64,
    unprovable_jobs: AtomicU64,
    blocks_sealed: AtomicU64,
}

impl fmt::Debug for CommitteeOracle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommitteeOracle")
            .field("committee", &self.config.committee)
            .field("members", &self.config.members.iter().map(|m| m.describe()).collect::<Vec<_>>())
            .field("chain_id", &self.config.chain_id)
            .field("timeout", &self.config.timeout)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl CommitteeOracle {
    /// An oracle over `config` (validated), settling on the runtime of `handle` (a
    /// multi-threaded tokio runtime).
    pub fn new(config: CommitteeConfig, handle: Handle) -> Result<Self> {
        config.validate()?;
        let health = Mutex::new(vec![Health::default(); config.members.len()]);
        Ok(Self {
            config,
            handle,
            models: None,
            block: Mutex::default(),
            optimistic: false,
            per_job: AtomicBool::new(false),
            signers: Mutex::default(),
            health,
            unprovable: Mutex::default(),
            formed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            unprovable_jobs: AtomicU64::new(0),
            blocks_sealed: AtomicU64::new(0),
        })
    }

    /// Answers inference jobs optimistically while a block is built (see the module docs): one
    /// member computes each job, and the block round — every outcome checked by `t` members,
    /// one request each — is the only round. When it fails, [`JobLedger::seal`] asks for the
    /// block again and its jobs settle one by one.
    pub fn optimistic(mut self) -> Self {
        self.optimistic = true;
        self
    }

    /// Puts the models the committee trains into `store` (the node's), where the members
    /// that check them, and the node's own RPC, find them. Without one, training fails.
    pub fn with_model_store(mut self, store: Arc<ModelStore>) -> Self {
        self.models = Some(store);
        self
    }

    /// The committee.
    pub fn committee(&self) -> &Committee {
        &self.config.committee
    }

    /// The members, in committee order.
    pub fn members(&self) -> &[Arc<dyn Member>] {
        &self.config.members
    }

    /// The configuration.
    pub fn config(&self) -> &CommitteeConfig {
        &self.config
    }

    /// Attestations formed so far (jobs settled with a quorum).
    pub fn attestations_formed(&self) -> u64 {
        self.formed.load(Ordering::Relaxed)
    }

    /// The counters.
    pub fn stats(&self) -> CommitteeStats {
        CommitteeStats {
            attestations_formed: self.formed.load(Ordering::Relaxed),
            jobs_failed: self.failed.load(Ordering::Relaxed),
            jobs_unprovable: self.unprovable_jobs.load(Ordering::Relaxed),
            blocks_sealed: self.blocks_sealed.load(Ordering::Relaxed),
        }
    }

    /// `record`'s outcome for the precompiles, noting an unprovable one for the block builder.
    fn answer(&self, (record, pending): &(JobRecord, bool)) -> Result<(), OracleError> {
        if record.is_settled() {
            return Ok(());
        }
        let error = record.failure_error();
        if !pending && !is_provable(record) {
            self.unprovable.lock().push(error.to_string());
        }
        Err(error)
    }

    /// [`Self::answer`] of a settled record, and the record.
    fn answered(&self, record: JobRecord) -> Result<JobRecord, OracleError> {
        let outcome = (record, false);
        self.answer(&outcome)?;
        Ok(outcome.0)
    }

    /// The outcome of an inference job asked for while block `number` is built: in optimistic
    /// mode, one member's answer (kept as pending until the block round confirms it), else the
    /// settled record. The flag says whether it is pending.
    fn outcome(&self, job: Job, number: u64) -> (JobRecord, bool) {
        let id = job.id();
        if let Some(kept) = self.block.lock().records.get(&id) {
            return (kept.record.clone(), kept.pending);
        }
        if !self.optimistic || self.per_job.load(Ordering::Relaxed) {
            return (self.settle_once(job), false);
        }
        let job = Arc::new(job);
        let order = self.block_order(number);
        let (record, answerer) = self.candidate(&job, id, &order);
        let mut block = self.block.lock();
        let BlockRecords { order: first_use, records, checks } = &mut *block;
        if let std::collections::hash_map::Entry::Vacant(entry) = records.entry(id) {
            first_use.push(id);
            if let Some(answerer) = answerer {
                // The first t − 1 other members of the block's order check the answer while the
                // block executes (see `Checks`); the order is taken again, so that a member that
                // just failed to answer (now in back-off) is not one of them.
                let t = self.config.committee.threshold;
                let order = if order[0] == answerer { order } else { self.block_order(number) };
                for &m in order.iter().filter(|&&m| m != answerer).take(t.saturating_sub(1)) {
                    let position = match checks.iter().position(|c| c.member == m) {
                        Some(position) => position,
                        None => {
                            checks.push(self.start_checks(m));
                            checks.len() - 1
                        }
                    };
                    // A closed queue means its worker stopped after a miss: the round asks
                    // someone else.
                    if let Some(queue) = &checks[position].queue {
                        let _ = queue.send((job.clone(), id));
                    }
                }
            }
            let signers = answerer.into_iter().collect();
            entry.insert(Kept { record, job, signers, pending: answerer.is_some() });
        }
        let kept = &records[&id];
        (kept.record.clone(), kept.pending)
    }

    /// The members in the order block `number`'s optimistic answers ask them: the committee's
    /// order starting at `number mod n` (so one member answers, and the same `t − 1` check,
    /// every job of a block, and the work turns with the blocks), members in back-off last.
    fn block_order(&self, number: u64) -> Vec<usize> {
        let n = self.config.members.len();
        let start = (number % n as u64) as usize;
        self.back_off_last((0..n).map(|k| (start + k) % n).collect())
    }

    /// `order` with the members in back-off moved to its end, each part in its order.
    fn back_off_last(&self, order: Vec<usize>) -> Vec<usize> {
        let slow = self.backed_off();
        let (slow, mut order): (Vec<usize>, Vec<usize>) =
            order.into_iter().partition(|m| slow.contains(m));
        order.extend(slow);
        order
    }

    /// One member's outcome of `job` (the first of `order` that answers; a member that cannot
    /// be reached or is busy is passed over), unsigned, and who computed it; an unprovable
    /// record when nobody answers. A member in this process computes on the calling thread.
    /// Blocks: call it from a blocking thread.
    fn candidate(&self, job: &Arc<Job>, id: B256, order: &[usize]) -> (JobRecord, Option<usize>) {
        if let Err(e) = job.validate() {
            return (self.unprovable(job, OracleError::Failed(e.to_string())), None);
        }
        let members = &self.config.members;
        for &m in order {
            let result = match members[m].in_process() {
                Some(executor) => {
                    let result = executor.compute_as(job, id);
                    self.note(m, result.as_ref().is_err_and(is_miss));
                    result
                }
                None => self.handle.block_on(self.call(m, members[m].compute(job.clone()))),
            };
            match result {
                Ok(output) => {
                    return (job.record_as(id, output, Vec::new(), Bytes::new()), Some(m));
                }
                Err(e) => match e.job_failure(job.model) {
                    Some(failure) => {
                        let failure = JobRecord::failure_of(&failure);
                        return (job.record_as(id, Bytes::new(), Vec::new(), failure), Some(m));
                    }
                    None => {
                        tracing::warn!(job = %id, member = %members[m].describe(), error = %e, "compute failed");
                    }
                },
            }
        }
        let error = OracleError::NoQuorum {
            job: id,
            signatures: 0,
            threshold: self.config.committee.threshold,
        };
        (self.unprovable(job, error), None)
    }

    /// Starts member `m` checking the current block's answers (see [`Checks`]): a member in
    /// this process on one blocking thread, a remote one from one task, a job at a time. After
    /// a miss it computes no more of the block (the block round asks another member).
    fn start_checks(&self, m: usize) -> Checks {
        let (queue, mut jobs) = mpsc::unbounded_channel::<(Arc<Job>, B256)>();
        let results = CheckResults::default();
        let stop = Arc::new(AtomicBool::new(false));
        let member = self.config.members[m].clone();
        let (out, stopped) = (results.clone(), stop.clone());
        // Keeps one outcome; whether the worker goes on.
        let keep = move |id: B256, result: Result<Bytes>| {
            let missed = result.as_ref().is_err_and(is_miss);
            out.lock().push((id, result));
            !missed && !stopped.load(Ordering::Relaxed)
        };
        let done = match member.in_process() {
            Some(executor) => {
                let executor = executor.clone();
                self.handle.spawn_blocking(move || {
                    while let Some((job, id)) = jobs.blocking_recv() {
                        if !keep(id, executor.compute_as(&job, id)) {
                            break;
                        }
                    }
                })
            }
            None => {
                let timeout = self.config.timeout;
                self.handle.spawn(async move {
                    while let Some((job, id)) = jobs.recv().await {
                        let result = tokio::time::timeout(timeout, member.compute(job))
                            .await
                            .unwrap_or_else(|_| {
                                Err(ExecutorError::Timeout {
                                    member: member.describe(),
                                    after: timeout,
                                })
                            });
                        if !keep(id, result) {
                            break;
                        }
                    }
                })
            }
        };
        Checks { member: m, queue: Some(queue), results, stop, done }
    }

    /// Waits for the members checking `block`'s answers to finish (their queues are closed) —
    /// at most the member timeout in all, so that a member checking slowly cannot hold the
    /// block up: one that has not finished by then is stopped and goes into back-off — and
    /// counts each as having computed the jobs it did: the block round asks them first. A
    /// member that missed goes into back-off too.
    fn finish_checks(&self, block: &mut BlockRecords) {
        let mut checks = std::mem::take(&mut block.checks);
        if checks.is_empty() {
            return;
        }
        // Closing the queues: each worker ends once it has computed what is queued.
        for check in &mut checks {
            check.queue = None;
        }
        let all = join_all(checks.iter_mut().map(|c| &mut c.done));
        let _ =
            self.handle.block_on(async { tokio::time::timeout(self.config.timeout, all).await });
        for check in checks {
            let m = check.member;
            let member = self.config.members[m].describe();
            if !check.done.is_finished() {
                check.stop.store(true, Ordering::Relaxed);
                check.done.abort();
                tracing::warn!(%member, timeout = ?self.config.timeout, "did not check the block's answers in time");
                self.note(m, true);
            }
            for (job, result) in std::mem::take(&mut *check.results.lock()) {
                match result {
                    Err(e) if !e.is_job_failure() => {
                        tracing::warn!(%job, %member, error = %e, "check failed");
                        self.note(m, is_miss(&e));
                    }
                    _ => {
                        if let Some(kept) = block.records.get_mut(&job)
                            && !kept.signers.contains(&m)
                        {
                            kept.signers.push(m);
                        }
                    }
                }
            }
        }
    }

    /// The record of `job` in the current block: the one already settled, or a new
    /// settlement. Blocks: call it from a blocking thread.
    pub fn settle_once(&self, job: Job) -> JobRecord {
        let id = job.id();
        if let Some(kept) = self.block.lock().records.get(&id) {
            return kept.record.clone();
        }
        let job = Arc::new(job);
        let record = self.handle.block_on(self.settle((*job).clone()));
        self.keep(record, job)
    }

    /// Keeps `record` of `job` in the current block (the first record of a job wins) and
    /// returns the kept one.
    fn keep(&self, record: JobRecord, job: Arc<Job>) -> JobRecord {
        let signers = self.signers.lock().remove(&record.job).unwrap_or_default();
        let mut block = self.block.lock();
        let BlockRecords { order, records, .. } = &mut *block;
        records
            .entry(record.job)
            .or_insert_with(|| {
                order.push(record.job);
                Kept { record, job, signers, pending: false }
            })
            .record
            .clone()
    }

    /// The block round (see the module docs): the `t` members that have the fewest of the
    /// block's jobs left to check (they signed the others already; members in back-off last)
    /// are asked to sign all of its outcomes at once, the others only if those do not make
    /// `t`; `t` valid signatures of the block digest seal it. `None` when they do not.
    ///
    /// The jobs members refused come back too (with the signatures or without): an
    /// optimistic answer they refused puts the member that gave it in back-off. A member that
    /// refused a block the others sealed goes into back-off itself (it is wrong, or alone in
    /// its results): a member refusing every block would otherwise cost every block a second
    /// round of asking.
    async fn attest_block(
        &self,
        round: BlockRound,
        digest: B256,
        signers: &[Vec<usize>],
    ) -> (Option<Vec<Bytes>>, HashSet<B256>) {
        let members = &self.config.members;
        let t = self.config.committee.threshold;
        let number = round.block().number;
        let round = Arc::new(round);
        let slow = self.backed_off();
        let unchecked = |m: usize| signers.iter().filter(|s| !s.contains(&m)).count();
        let mut order: Vec<usize> = (0..members.len()).collect();
        order.sort_by_key(|&m| (slow.contains(&m), unchecked(m), m));
        let later = order.split_off(t.min(order.len()));
        let first = order;
        let mut signatures = BTreeMap::new();
        let mut refused = HashSet::new();
        let mut refusers = Vec::new();
        for ask in [first, later] {
            if signatures.len() >= t || ask.is_empty() {
                continue;
            }
            let results =
                join_all(ask.iter().map(|&m| self.call(m, members[m].attest_block(round.clone()))))
                    .await;
            for (&m, result) in ask.iter().zip(results) {
                if let Err(ExecutorError::Refused { job, .. }) = &result {
                    refused.insert(*job);
                    refusers.push(m);
                }
                self.accept(&format!("block {number}"), &digest, m, result, &mut signatures);
            }
        }
        if signatures.len() >= t {
            for m in refusers {
                tracing::warn!(number, member = %members[m].describe(), "refused a block the committee sealed: it answers last for a while");
                self.note(m, true);
            }
        }
        if signatures.len() < t {
            tracing::warn!(
                number,
                signatures = signatures.len(),
                threshold = t,
                "no quorum for the block round: the block keeps per-job signatures"
            );
            return (None, refused);
        }
        (Some(signatures.into_values().collect()), refused)
    }

    /// Settles `job` (see the module docs), without looking at the current block's records.
    pub async fn settle(&self, job: Job) -> JobRecord {
        let job = Arc::new(job);
        if let Err(e) = job.validate() {
            return self.unprovable(&job, OracleError::Failed(e.to_string()));
        }
        if job.kind == JobKind::Train {
            return self.settle_training(job).await;
        }
        let members = &self.config.members;
        let n = members.len();
        let t = self.config.committee.threshold;
        let order = self.order(job.id());
        let mut next = 0;
        let mut want = t;
        let mut computed: Vec<(usize, Bytes)> = Vec::new();
        let mut claims: Vec<FailureClaim> = Vec::new();
        let mut candidates: Vec<Candidate> = Vec::new();
        loop {
            let batch = &order[next..(next + want).min(n)];
            next += batch.len();
            let results =
                join_all(batch.iter().map(|&m| self.call(m, members[m].compute(job.clone()))))
                    .await;
            for (&m, result) in batch.iter().zip(results) {
                match result {
                    Ok(output) => computed.push((m, output)),
                    Err(e) => {
                        tracing::warn!(job = %job.id(), member = %members[m].describe(), error = %e, "compute failed");
                        claim(&mut claims, m, &e, job.model);
                    }
                }
            }
            if let Some(record) = self.settle_failure(&job, &mut claims).await {
                return record;
            }
            for (_, output) in &computed {
                if !candidates.iter().any(|c| c.output == *output) {
                    candidates.push(Candidate {
                        output: output.clone(),
                        asked: HashSet::new(),
                        signatures: BTreeMap::new(),
                    });
                }
            }
            for candidate in &mut candidates {
                self.gather(&job, candidate, &computed).await;
                if candidate.signatures.len() >= t {
                    return self.settled(&job, candidate);
                }
            }
            if next >= n {
                break;
            }
            let best = candidates.iter().map(|c| c.signatures.len()).max().unwrap_or(0);
            want = t.saturating_sub(best).max(1);
        }
        let signatures = candidates.iter().map(|c| c.signatures.len()).max().unwrap_or(0);
        self.unprovable(&job, OracleError::NoQuorum { job: job.id(), signatures, threshold: t })
    }

    /// Settles a training job: one member trains at a time, in leader order; its new model
    /// goes into the node's store, then every member is asked to attest it (under the
    /// train-loss rule they check its loss, they do not train). A leader that fails, whose
    /// model cannot be fetched, or whose result gathers fewer than `t` signatures is followed
    /// by the next one.
    async fn settle_training(&self, job: Arc<Job>) -> JobRecord {
        let members = &self.config.members;
        let t = self.config.committee.threshold;
        let order = self.order(job.id());
        let everyone: Vec<(usize, Bytes)> = order.iter().map(|&m| (m, Bytes::new())).collect();
        let mut claims = Vec::new();
        let mut best = 0;
        for &leader in &order {
            let member = members[leader].describe();
            let output = match self.call(leader, members[leader].compute(job.clone())).await {
                Ok(output) => output,
                Err(e) => {
                    tracing::warn!(job = %job.id(), %member, error = %e, "training failed");
                    claim(&mut claims, leader, &e, job.model);
                    if let Some(record) = self.settle_failure(&job, &mut claims).await {
                        return record;
                    }
                    continue;
                }
            };
            if let Err(reason) = self.fetch_trained(leader, &output, job.model).await {
                tracing::warn!(job = %job.id(), %member, %reason, "trained model not taken");
                continue;
            }
            let mut candidate =
                Candidate { output, asked: HashSet::new(), signatures: BTreeMap::new() };
            self.gather(&job, &mut candidate, &everyone).await;
            if candidate.signatures.len() >= t {
                return self.settled(&job, &candidate);
            }
            best = best.max(candidate.signatures.len());
        }
        self.unprovable(
            &job,
            OracleError::NoQuorum { job: job.id(), signatures: best, threshold: t },
        )
    }

    /// Asks the members that reported a failure at least `t` did to sign it; the failed
    /// record once `t` valid signatures are in.
    async fn settle_failure(
        &self,
        job: &Arc<Job>,
        claims: &mut [FailureClaim],
    ) -> Option<JobRecord> {
        let t = self.config.committee.threshold;
        let members = &self.config.members;
        for claim in claims.iter_mut().filter(|c| c.reporters.len() >= t) {
            let ask: Vec<usize> =
                claim.reporters.iter().copied().filter(|m| !claim.asked.contains(m)).collect();
            claim.asked.extend(&ask);
            let id = job.id();
            let digest = failure_digest(job.chain_id, id, &claim.failure, &job.rule);
            let results = join_all(ask.iter().map(|&m| {
                self.call(m, members[m].attest_failure(job.clone(), claim.failure.clone()))
            }))
            .await;
            for (&m, result) in ask.iter().zip(results) {
                self.accept(&id, &digest, m, result, &mut claim.signatures);
            }
            if claim.signatures.len() >= t {
                return Some(self.failed(job, claim));
            }
        }
        None
    }

    /// Fetches the model `leader` trained (named in its `output`) and puts it in the node's
    /// store, after checking its hash and size.
    async fn fetch_trained(
        &self,
        leader: usize,
        output: &Bytes,
        parent: B256,
    ) -> Result<(), String> {
        let trained = Trained::decode(output).map_err(|e| format!("not a training result: {e}"))?;
        let store = self.models.as_ref().ok_or("the committee has no model store to keep it")?;
        // Held already, on disk or in memory after an eth_call trained it (then written now).
        let (kept, model) = (store.clone(), trained.model);
        match tokio::task::spawn_blocking(move || kept.keep(&model)).await {
            Ok(Ok(true)) => return Ok(()),
            Ok(Ok(false)) => {}
            Ok(Err(e)) => return Err(format!("the trained model cannot be kept: {e}")),
            Err(e) => return Err(e.to_string()),
        }
        let bytes = self
            .call(leader, self.config.members[leader].artifact(trained.model))
            .await
            .map_err(|e| e.to_string())?;
        if keccak256(&bytes) != trained.model || bytes.len() as u64 != trained.size {
            return Err(format!(
                "the model file sent ({} bytes, keccak256 {}) is not the one claimed ({} bytes, {})",
                bytes.len(),
                keccak256(&bytes),
                trained.size,
                trained.model
            ));
        }
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.put_with_parent(&bytes, Some(parent)))
            .await
            .map_err(|e| e.to_string())?
            .map(|_| ())
            .map_err(|e| format!("the trained model is refused: {e}"))
    }

    /// Asks every member that computed, and was not asked yet, to attest `candidate`, and
    /// keeps the valid signatures.
    async fn gather(&self, job: &Arc<Job>, candidate: &mut Candidate, computed: &[(usize, Bytes)]) {
        let members = &self.config.members;
        let ask: Vec<usize> =
            computed.iter().map(|(m, _)| *m).filter(|m| !candidate.asked.contains(m)).collect();
        if ask.is_empty() {
            return;
        }
        candidate.asked.extend(&ask);
        let id = job.id();
        let digest = digest(job.chain_id, id, &candidate.output, &job.rule);
        let results = join_all(
            ask.iter()
                .map(|&m| self.call(m, members[m].attest(job.clone(), candidate.output.clone()))),
        )
        .await;
        for (&m, result) in ask.iter().zip(results) {
            self.accept(&id, &digest, m, result, &mut candidate.signatures);
        }
    }

    /// Keeps member `m`'s answer to an attestation request (of a job, or of a block: `what`)
    /// if it is a valid signature of `digest` by a committee member not counted yet.
    fn accept(
        &self,
        what: &dyn fmt::Display,
        digest: &B256,
        m: usize,
        result: Result<Bytes>,
        signatures: &mut BTreeMap<usize, Bytes>,
    ) {
        let member = self.config.members[m].describe();
        let signature = match result {
            Ok(signature) => signature,
            Err(e) => {
                tracing::warn!(%what, %member, error = %e, "no attestation");
                return;
            }
        };
        let signer = recover(digest, &signature).map_err(|e| format!("bad signature: {e}"));
        let index = signer.and_then(|signer| {
            self.config.committee.members.iter().position(|a| *a == signer).ok_or_else(|| {
                format!("signed by {signer}, who is not in the committee (or another digest)")
            })
        });
        match index {
            Ok(index) if signatures.contains_key(&index) => {
                tracing::warn!(%what, %member, "a signature counted already (copied or repeated)");
            }
            Ok(index) => {
                signatures.insert(index, signature);
            }
            Err(reason) => {
                tracing::warn!(%what, %member, %reason, "invalid attestation")
            }
        }
    }

    /// A member call within the timeout; a miss (timeout, unreachable, busy) puts the member
    /// in back-off, any other answer takes it out.
    async fn call<T>(&self, member: usize, call: MemberFuture<'_, T>) -> Result<T> {
        let result = match tokio::time::timeout(self.config.timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(ExecutorError::Timeout {
                member: self.config.members[member].describe(),
                after: self.config.timeout,
            }),
        };
        self.note(member, result.as_ref().is_err_and(is_miss));
        result
    }

    /// Notes a member's miss (back-off: see the module docs) or an answer (back-off cleared).
    fn note(&self, member: usize, missed: bool) {
        let mut health = self.health.lock();
        if let Some(h) = health.get_mut(member) {
            if missed {
                h.misses = h.misses.saturating_add(1);
                let backoff = MIN_BACKOFF
                    .max(self.config.timeout)
                    .saturating_mul(1 << h.misses.min(7).saturating_sub(1))
                    .min(MAX_BACKOFF);
                h.until = Some(std::time::Instant::now() + backoff);
            } else {
                *h = Health::default();
            }
        }
    }

    /// Member indices in the order job `id` asks them: [`leader_order`], with the members in
    /// back-off moved to the end (in the same relative order).
    fn order(&self, id: B256) -> Vec<usize> {
        self.back_off_last(leader_order(id, self.config.members.len()))
    }

    /// Members now in back-off (committee indices).
    pub fn backed_off(&self) -> Vec<usize> {
        let now = std::time::Instant::now();
        let health = self.health.lock();
        (0..health.len()).filter(|&m| health[m].until.is_some_and(|u| u > now)).collect()
    }

    fn settled(&self, job: &Job, candidate: &Candidate) -> JobRecord {
        self.signers.lock().insert(job.id(), candidate.signatures.keys().copied().collect());
        let signatures = candidate.signatures.values().cloned().collect();
        let record = job.record(candidate.output.clone(), signatures, Bytes::new());
        // Never put into a block what a replaying node would refuse.
        if let Err(e) = self.config.committee.verify(self.config.chain_id, &record) {
            tracing::error!(job = %job.id(), error = %e, "a settled record does not verify");
            return self.unprovable(job, OracleError::Failed(format!("attestation error: {e}")));
        }
        self.formed.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(job = %job.id(), signatures = record.signatures.len(), "settled");
        record
    }

    /// The record of a failure `t` members signed.
    fn failed(&self, job: &Job, claim: &FailureClaim) -> JobRecord {
        self.signers.lock().insert(job.id(), claim.signatures.keys().copied().collect());
        let signatures = claim.signatures.values().cloned().collect();
        let record = job.record(Bytes::new(), signatures, claim.failure.clone());
        if let Err(e) = self.config.committee.verify(self.config.chain_id, &record) {
            tracing::error!(job = %job.id(), error = %e, "a signed failure does not verify");
            return self.unprovable(job, OracleError::Failed(format!("attestation error: {e}")));
        }
        self.failed.fetch_add(1, Ordering::Relaxed);
        tracing::info!(job = %job.id(), failure = %String::from_utf8_lossy(&record.failure), "job failed (signed)");
        record
    }

    /// The record of an outcome nobody can prove: kept for this block (an identical job
    /// answers the same at once) but never handed to it.
    fn unprovable(&self, job: &Job, error: OracleError) -> JobRecord {
        self.unprovable_jobs.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(job = %job.id(), %error, "job not settled: its transaction leaves the block");
        job.record(Bytes::new(), Vec::new(), JobRecord::failure_of(&error))
    }
}

/// Whether `error` is a miss (timeout, unreachable, busy): the member goes into back-off.
fn is_miss(error: &ExecutorError) -> bool {
    matches!(
        error,
        ExecutorError::Timeout { .. } | ExecutorError::Transport { .. } | ExecutorError::Busy(_)
    )
}

/// Whether a block may carry `record`: settled, or failed with signatures (an unprovable
/// outcome has none).
fn is_provable(record: &JobRecord) -> bool {
    record.is_settled() || !record.signatures.is_empty()
}

impl JobLedger for CommitteeOracle {
    fn take_records(&self) -> Vec<JobRecord> {
        self.per_job.store(false, Ordering::Relaxed);
        let block = std::mem::take(&mut *self.block.lock());
        block.provable().into_iter().map(|kept| kept.record).collect()
    }

    fn take_unprovable(&self) -> Vec<String> {
        std::mem::take(&mut *self.unprovable.lock())
    }

    fn mark(&self) -> usize {
        self.block.lock().order.len()
    }

    fn forget_since(&self, mark: usize) {
        let mut block = self.block.lock();
        let BlockRecords { order, records, .. } = &mut *block;
        // A member still checking a forgotten job finds no record for its result: ignored.
        // An unprovable outcome is kept for the rest of the block (an identical job fails at
        // once, without another settlement); out of the order, it is never sealed, and it
        // never was (`provable`).
        for id in order.drain(mark.min(order.len())..) {
            if records.get(&id).is_some_and(|k| k.pending || is_provable(&k.record)) {
                records.remove(&id);
            }
        }
    }

    fn seal(&self, number: u64, parent: B256) -> Option<(Vec<JobRecord>, BlockAttestation)> {
        let mut block = std::mem::take(&mut *self.block.lock());
        self.finish_checks(&mut block);
        let kept = block.provable();
        if kept.is_empty() {
            self.per_job.store(false, Ordering::Relaxed);
            return Some((Vec::new(), BlockAttestation::default()));
        }
        let optimistic = kept.iter().any(|k| k.pending);
        let block = BlockJobs {
            chain_id: self.config.chain_id,
            number,
            parent,
            jobs: kept
                .iter()
                .map(|k| Settled {
                    job: (*k.job).clone(),
                    output: k.record.output.clone(),
                    failure: k.record.failure.clone(),
                })
                .collect(),
        };
        let round = BlockRound::with_ids(block, kept.iter().map(|k| k.record.job).collect());
        // The records the block carries are the round's own, so that the leaves the members
        // sign (hashed once, shared with the members in this process) are theirs.
        let records = round.block().records_with(round.ids());
        let unsigned = BlockAttestation { leaves: round.leaves().to_vec(), signatures: Vec::new() };
        let digest = round.digest();
        let signers: Vec<Vec<usize>> = kept.iter().map(|k| k.signers.clone()).collect();
        let (signatures, refused) =
            self.handle.block_on(self.attest_block(round, digest, &signers));
        match signatures {
            Some(signatures) => {
                self.per_job.store(false, Ordering::Relaxed);
                self.blocks_sealed.fetch_add(1, Ordering::Relaxed);
                self.formed.fetch_add(
                    kept.iter().filter(|k| k.pending && k.record.is_settled()).count() as u64,
                    Ordering::Relaxed,
                );
                let attestation = BlockAttestation { signatures, ..unsigned };
                Some((records, attestation))
            }
            None if optimistic => {
                // A member whose optimistic answer was refused and not confirmed answers last from
                // now on (it is wrong, or alone in its result): a lying member cannot make every
                // block be built twice. (When `t` others sealed the block, a refusal counts
                // against nobody: the refuser's word alone must not push an honest answerer back.)
                for k in kept.iter().filter(|k| k.pending && refused.contains(&k.record.job)) {
                    if let Some(&m) = k.signers.first() {
                        self.note(m, true);
                    }
                }
                // An optimistic answer no quorum confirmed: the block is built again, its jobs
                // settled one by one (a job's record then holds whatever `t` members agree on).
                tracing::warn!(
                    number,
                    "the block round did not confirm the optimistic answers: settling job by job"
                );
                self.per_job.store(true, Ordering::Relaxed);
                None
            }
            None => {
                self.per_job.store(false, Ordering::Relaxed);
                Some((kept.into_iter().map(|k| k.record).collect(), BlockAttestation::default()))
            }
        }
    }
}

/// Member indices in leader order for job `id`: `id mod n` first, then the following ones.
fn leader_order(id: B256, n: usize) -> Vec<usize> {
    let start = (U256::from_be_bytes(id.0) % U256::from(n)).to::<u64>() as usize;
    (0..n).map(|k| (start + k) % n).collect()
}

/// Adds member `m`'s error to the failure it reports, if it is a job failure.
fn claim(claims: &mut Vec<FailureClaim>, m: usize, error: &ExecutorError, model: B256) {
    let Some(failure) = error.job_failure(model) else { return };
    let failure = JobRecord::failure_of(&failure);
    match claims.iter_mut().find(|c| c.failure == failure) {
        Some(claim) => claim.reporters.push(m),
        None => claims.push(FailureClaim {
            failure,
            reporters: vec![m],
            asked: HashSet::new(),
            signatures: BTreeMap::new(),
        }),
    }
}

impl DnnOracle for CommitteeOracle {
    fn model_info(&self, model: B256) -> Result<ModelInfo, OracleError> {
        let record = self.settle_once(Job::register(self.config.chain_id, model));
        let record = &self.answered(record)?;
        decode_analysis(&record.output).map_err(|e| {
            OracleError::Failed(format!("job {}: undecodable analysis: {e}", record.job))
        })
    }

    fn infer(&self, request: InferRequest<'_>) -> Result<Vec<HostTensor>, OracleError> {
        let rule = request.rule.or(self.config.committee.default_rule);
        // What a replaying node computes too: the same error without a record.
        let payload = encode_tensors(&request.inputs).map_err(OracleError::Failed)?;
        let job = Job::infer(self.config.chain_id, request.model, payload, rule);
        let outcome = self.outcome(job, request.context.block_number);
        self.answer(&outcome)?;
        let record = outcome.0;
        decode_tensors(&record.output).map_err(|e| {
            OracleError::Failed(format!("job {}: undecodable output: {e}", record.job))
        })
    }

    fn train(&self, request: TrainRequest<'_>) -> Result<Trained, OracleError> {
        let rule = request.rule.or(Rule::DEFAULT_TRAIN);
        // What a replaying node computes too: the same error without a record.
        let payload =
            encode_train_payload(&request.batch, &request.params).map_err(OracleError::Failed)?;
        let job = Job::train(self.config.chain_id, request.model, payload, rule);
        let record = self.answered(self.settle_once(job))?;
        Trained::decode(&record.output).map_err(|e| {
            OracleError::Failed(format!("job {}: undecodable training result: {e}", record.job))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The leader is `id mod n` and every member appears once, in committee order after it.
    #[test]
    fn leader_order_wraps() {
        let mut id = B256::ZERO;
        id.0[31] = 7;
        assert_eq!(leader_order(id, 3), vec![1, 2, 0]);
        assert_eq!(leader_order(id, 1), vec![0]);
        assert_eq!(leader_order(B256::repeat_byte(0xff), 5).len(), 5);
    }

    /// Members' failures group by the very failure they report; other errors claim nothing.
    #[test]
    fn failures_group_by_reason() {
        let model = B256::ZERO;
        let failed = |r: &str| ExecutorError::Failed(r.into());
        let down = ExecutorError::Transport { member: "x".into(), reason: "down".into() };
        let unavailable = ExecutorError::ModelUnavailable { model, reason: "x".into() };
        let mut claims = Vec::new();
        for (m, e) in
            [(0, failed("a")), (1, down), (2, failed("b")), (3, failed("a")), (4, unavailable)]
        {
            claim(&mut claims, m, &e, model);
        }
        let grouped: Vec<(String, Vec<usize>)> = claims
            .iter()
            .map(|c| (String::from_utf8_lossy(&c.failure).into_owned(), c.reporters.clone()))
            .collect();
        assert_eq!(
            grouped,
            vec![
                ("failed: a".to_string(), vec![0, 3]),
                ("failed: b".to_string(), vec![2]),
                (format!("model unavailable: {model}"), vec![4]),
            ]
        );
    }
}
