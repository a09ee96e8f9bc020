//! Running models: the [`ModelRuntime`] trait, and [`OrtRuntime`], its ONNX Runtime
//! implementation.
//!
//! [`OrtRuntime`] gets models from a [`ModelSource`] (the [`crate::ModelStore`]) when it first
//! needs them, and keeps, per model hash, its analysis and a small pool of ONNX Runtime
//! sessions:
//!
//! - **Sessions are created once and reused.** `ort` runs a session through `&mut`, so a model
//!   used by several threads at once gets several sessions, up to
//!   [`RuntimeConfig::max_sessions_per_model`]; further callers wait for one to be free.
//! - **Models are cached, bounded.** At most [`RuntimeConfig::max_cached_models`] models keep
//!   their sessions; the least recently used is dropped first (runs in flight keep theirs).
//!   The chain charges a cold load for a model outside its warm set of the last `warm_models`
//!   models loaded (`anh_precompiles::registry`), and a least-recently-used cache of at least
//!   that many models holds all of them: so `max_cached_models` must be at least the chain's
//!   `warm_models`, or executors would load, unpaid, models the chain counts as warm.
//! - **Concurrency is bounded, in two lanes.** At most [`RuntimeConfig::max_concurrent_runs`]
//!   runs (or session creations) proceed at once, by default one per core; other callers
//!   block rather than oversubscribe the CPU. The node's own calls (`eth_call`,
//!   `eth_estimateGas`: [`OrtRuntime::call_lane`]) have permits and a model cache of their
//!   own, so that calls from RPC clients can never starve the executors that settle blocks,
//!   nor evict the sessions of the models the chain counts as warm, nor the other way round (a
//!   model used by both has sessions in both). Each session uses [`RuntimeConfig::intra_op_threads`]
//!   threads (default 1: ONNX Runtime's spinning pool multiplies small models' latency).
//! - **Inputs are checked before ONNX Runtime sees them** ([`crate::validate_inputs`]), and
//!   outputs come back as [`HostTensor`]s of the model's declared element types.
//! - **CUDA** ([`Device::Cuda`], feature `cuda`): the CUDA execution provider is registered
//!   for every session; if it cannot be (no GPU build of the library, no GPU, missing CUDA
//!   libraries), the runtime logs one warning and runs on CPU from then on.
//!
//! Calls block: call [`ModelRuntime::run`] from a blocking thread pool, never an async task.

use crate::{
    error::{Result, RuntimeError},
    ort_lib,
    shared::{SharedByModel, SharedWeights},
    store::ModelSource,
    validate::validate_inputs,
};
use alloy_primitives::B256;
use anh_primitives::{ElemType, HostTensor, ModelInfo, TensorData, TrainParams};
use ort::{
    session::{
        RunOptions, Session,
        builder::{GraphOptimizationLevel, SessionBuilder},
    },
    value::{DynValue, Tensor},
};
use parking_lot::{Condvar, Mutex};
use std::{
    collections::HashMap,
    fmt,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

/// Runs models on host tensors. ONNX Runtime is the real implementation ([`OrtRuntime`]);
/// tests of other crates may use a deterministic one.
pub trait ModelRuntime: Send + Sync + fmt::Debug {
    /// Runs `model` on `inputs` (in the model's input order, of its declared element types)
    /// and returns its outputs in the model's output order. Blocks.
    fn run(&self, model: B256, inputs: Vec<HostTensor>) -> Result<Vec<HostTensor>>;

    /// Trains `model` on `batch` (its inputs, the labels, the sample weights for the weighted
    /// cross-entropy) as `params` says, calling `progress(step, loss)` after each step with
    /// the loss before it. Returns the new model file (weights and optimiser state) and the
    /// new weights' loss on the batch. Blocks.
    fn train(
        &self,
        model: B256,
        batch: Vec<HostTensor>,
        params: &TrainParams,
        progress: &dyn Fn(u32, f64),
    ) -> Result<TrainOutput> {
        let _ = (model, batch, params, progress);
        Err(RuntimeError::Training("this runtime cannot train".into()))
    }

    /// The loss (`TrainParams::loss` code) of `model` on `batch`, as [`ModelRuntime::train`]
    /// reports it. Blocks.
    fn loss(&self, model: B256, batch: Vec<HostTensor>, loss: u8) -> Result<f64> {
        let _ = (model, batch, loss);
        Err(RuntimeError::Training("this runtime cannot compute losses".into()))
    }
}

/// What a training run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOutput {
    /// The new model file: the parent's graph with the new weights and the optimiser state.
    pub model: Vec<u8>,
    /// The new weights' loss on the batch.
    pub loss: f64,
    /// The loss before each step (the first is the parent's loss on the batch).
    pub losses: Vec<f64>,
}

/// Where sessions run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Device {
    /// ONNX Runtime's CPU execution provider.
    #[default]
    Cpu,
    /// ONNX Runtime's CUDA execution provider on one GPU, falling back to CPU when unavailable.
    Cuda {
        /// The CUDA device ordinal.
        device_id: i32,
    },
}

/// How an [`OrtRuntime`] runs models.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Execution provider (default CPU).
    pub device: Device,
    /// Threads each session uses inside one operator (default 1).
    pub intra_op_threads: usize,
    /// Threads each session uses across operators (default 1).
    pub inter_op_threads: usize,
    /// Runs (and session creations) in progress at once, all models together (default: the
    /// number of cores).
    pub max_concurrent_runs: usize,
    /// Models whose sessions stay cached (default 16).
    pub max_cached_models: usize,
    /// Sessions per model, i.e. concurrent runs of one model (default: twice the number of
    /// cores, one per permit of the two lanes).
    pub max_sessions_per_model: usize,
    /// The ONNX Runtime library to load; `None` for [`crate::find_ort_library`].
    pub library: Option<PathBuf>,
    /// The longest one run (an inference, or one training step) may take before ONNX Runtime
    /// is told to stop it ([`RuntimeError::Deadline`]; default 60 s). A run's own deadline is
    /// shorter when the work it paid for is small ([`RuntimeConfig::deadline`]).
    pub max_run_time: std::time::Duration,
    /// The chain's price of 10^6 multiply-accumulates in gas (its gas schedule's
    /// `gas_per_mmac`; default the measured schedule's), from which a run's deadline follows.
    pub gas_per_mmac: u64,
}

impl RuntimeConfig {
    /// The default longest run.
    pub const DEFAULT_MAX_RUN_TIME: std::time::Duration = std::time::Duration::from_secs(60);

    /// Every run may take at least this long (session warm-up, a busy machine).
    pub const MIN_RUN_TIME: std::time::Duration = std::time::Duration::from_secs(2);

    /// How many times the time its gas pays for a run may take (a committee member slower
    /// than the reference CPU, a loaded machine).
    pub const RUN_TIME_FACTOR: u64 = 20;

    /// The deadline of a run of `macs` multiply-accumulates (`None`: unknown): the time they
    /// are paid for at the chain's price ([`Self::gas_per_mmac`], at
    /// [`anh_primitives::gas::NS_PER_GAS`] per gas) times [`Self::RUN_TIME_FACTOR`], plus
    /// [`Self::MIN_RUN_TIME`], and never more than [`Self::max_run_time`]. A run past it is
    /// work nobody paid for.
    pub fn deadline(&self, macs: Option<u64>) -> std::time::Duration {
        let Some(macs) = macs else { return self.max_run_time };
        // gas = macs × gas_per_mmac / 10^6; ns = gas × 10^9 / GAS_PER_SECOND.
        let ns = u128::from(macs)
            * u128::from(self.gas_per_mmac)
            * u128::from(Self::RUN_TIME_FACTOR)
            * 1_000
            / u128::from(anh_primitives::gas::GAS_PER_SECOND);
        let paid = std::time::Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX));
        (Self::MIN_RUN_TIME.saturating_add(paid)).min(self.max_run_time)
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            device: Device::Cpu,
            intra_op_threads: 1,
            inter_op_threads: 1,
            max_concurrent_runs: cores,
            max_cached_models: 16,
            max_sessions_per_model: 2 * cores,
            library: None,
            max_run_time: Self::DEFAULT_MAX_RUN_TIME,
            gas_per_mmac: anh_primitives::GasSchedule::MEASURED.gas_per_mmac,
        }
    }
}

/// Counters of an [`OrtRuntime`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuntimeStats {
    /// Successful runs.
    pub runs: u64,
    /// Training steps run.
    pub training_steps: u64,
    /// ONNX Runtime sessions created.
    pub sessions_created: u64,
    /// Models whose sessions are cached now.
    pub cached_models: usize,
}

/// A counting semaphore: callers block until a permit is free.
#[derive(Debug)]
struct Semaphore {
    free: Mutex<usize>,
    freed: Condvar,
}

pub(crate) struct Permit<'s>(&'s Semaphore);

impl Semaphore {
    fn new(permits: usize) -> Self {
        Self { free: Mutex::new(permits.max(1)), freed: Condvar::new() }
    }

    fn acquire(&self) -> Permit<'_> {
        let mut free = self.free.lock();
        while *free == 0 {
            self.freed.wait(&mut free);
        }
        *free -= 1;
        Permit(self)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self.0.free.lock() += 1;
        self.0.freed.notify_one();
    }
}

/// A cached model: its analysis and its sessions.
struct LoadedModel {
    info: ModelInfo,
    pool: Mutex<Pool>,
    returned: Condvar,
    /// The weights every session of the model shares, in both lanes (`shared.rs`).
    shared: Arc<SharedWeights>,
}

struct Pool {
    idle: Vec<Session>,
    /// Sessions in existence (idle, in use, or being created).
    total: usize,
}

/// A session borrowed from a model's pool; returns it when dropped.
struct PooledSession<'m> {
    model: &'m LoadedModel,
    session: Option<Session>,
}

impl Drop for PooledSession<'_> {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            self.model.pool.lock().idle.push(session);
            self.model.returned.notify_one();
        }
    }
}

#[derive(Default)]
struct Cache {
    models: HashMap<B256, (Arc<LoadedModel>, u64)>,
    clock: u64,
}

impl Cache {
    fn get(&mut self, model: &B256) -> Option<Arc<LoadedModel>> {
        self.clock += 1;
        let clock = self.clock;
        self.models.get_mut(model).map(|(m, used)| {
            *used = clock;
            Arc::clone(m)
        })
    }

    /// Inserts `loaded` unless another thread did first; evicts the least recently used
    /// models beyond `capacity`.
    fn insert(&mut self, loaded: LoadedModel, capacity: usize) -> Arc<LoadedModel> {
        let hash = loaded.info.hash;
        if let Some(existing) = self.get(&hash) {
            return existing;
        }
        self.clock += 1;
        let loaded = Arc::new(loaded);
        self.models.insert(hash, (Arc::clone(&loaded), self.clock));
        while self.models.len() > capacity.max(1) {
            let Some(oldest) =
                self.models.iter().min_by_key(|(_, (_, used))| *used).map(|(h, _)| *h)
            else {
                break;
            };
            self.models.remove(&oldest);
            tracing::debug!(model = %oldest, "evicted model sessions");
        }
        loaded
    }
}

/// One lane of an [`OrtRuntime`]: its permits and its cached models (each with its sessions).
struct Lane {
    permits: Semaphore,
    cache: Mutex<Cache>,
}

impl Lane {
    fn new(permits: usize) -> Self {
        Self { permits: Semaphore::new(permits), cache: Mutex::default() }
    }
}

/// [`ModelRuntime`] on ONNX Runtime (see the module docs).
pub struct OrtRuntime {
    source: Arc<dyn ModelSource>,
    config: RuntimeConfig,
    environment: &'static ort::environment::Environment,
    /// The executors' lane: permits and cached models.
    work: Lane,
    /// The node's own calls' lane ([`OrtRuntime::call_lane`]).
    call: Lane,
    /// Stops runs past [`RuntimeConfig::max_run_time`].
    watchdog: crate::deadline::Watchdog,
    /// Whether sessions still try CUDA (false once it failed, or on CPU).
    try_cuda: AtomicBool,
    runs: AtomicU64,
    sessions_created: AtomicU64,
    /// Each loaded model's shared weights, while a lane holds the model ([`LoadedModel`]).
    shared: SharedByModel,
    /// Step graphs and their sessions, for training.
    training: crate::trainer::TrainingCache,
    training_steps: AtomicU64,
}

impl fmt::Debug for OrtRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrtRuntime")
            .field("source", &self.source)
            .field("config", &self.config)
            .field("active_device", &self.active_device())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl OrtRuntime {
    /// A runtime over `source` with `config`; loads ONNX Runtime if this process has not yet
    /// (from [`RuntimeConfig::library`], else [`crate::find_ort_library`]).
    pub fn new(source: Arc<dyn ModelSource>, config: RuntimeConfig) -> Result<Self> {
        let library = match &config.library {
            Some(path) => path.clone(),
            None => ort_lib::find_ort_library()?,
        };
        let environment = ort_lib::environment(&library)?;
        let runtime = Self {
            source,
            work: Lane::new(config.max_concurrent_runs),
            call: Lane::new(config.max_concurrent_runs),
            watchdog: crate::deadline::Watchdog::new(),
            try_cuda: AtomicBool::new(matches!(config.device, Device::Cuda { .. })),
            runs: AtomicU64::new(0),
            sessions_created: AtomicU64::new(0),
            shared: SharedByModel::default(),
            training: crate::trainer::TrainingCache::default(),
            training_steps: AtomicU64::new(0),
            environment,
            config,
        };
        if let Device::Cuda { .. } = runtime.config.device
            && let Err(reason) = cuda_available()
        {
            runtime.disable_cuda(&reason);
        }
        Ok(runtime)
    }

    /// The configuration.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// The device new sessions use: the configured one, or CPU once CUDA has failed.
    pub fn active_device(&self) -> Device {
        if self.try_cuda.load(Ordering::Relaxed) { self.config.device } else { Device::Cpu }
    }

    /// Counters since the runtime was created.
    pub fn stats(&self) -> RuntimeStats {
        RuntimeStats {
            runs: self.runs.load(Ordering::Relaxed),
            sessions_created: self.sessions_created.load(Ordering::Relaxed),
            cached_models: self.work.cache.lock().models.len(),
            training_steps: self.training_steps.load(Ordering::Relaxed),
        }
    }

    /// The model source.
    pub(crate) fn source(&self) -> &Arc<dyn ModelSource> {
        &self.source
    }

    /// The training caches.
    pub(crate) fn training(&self) -> &crate::trainer::TrainingCache {
        &self.training
    }

    /// One of the permits that bound concurrent runs.
    pub(crate) fn permit(&self) -> Permit<'_> {
        self.work.permits.acquire()
    }

    /// Runs `session` on `values`, stopped past the deadline of `macs` multiply-accumulates
    /// ([`RuntimeConfig::deadline`]).
    pub(crate) fn run_session<'s>(
        &self,
        model: B256,
        session: &'s mut Session,
        values: Vec<(String, DynValue)>,
        options: &'s Arc<RunOptions>,
        macs: Option<u64>,
    ) -> Result<ort::session::SessionOutputs<'s>> {
        let limit = self.config.deadline(macs);
        let guard = self.watchdog.watch(options.clone(), limit);
        let result = {
            let _flush = crate::flush::FlushToZero::on();
            session.run_with_options(values, options)
        };
        if guard.fired() {
            return Err(RuntimeError::Deadline { model, after: limit });
        }
        result.map_err(inference_error(model))
    }

    /// Counts training steps run.
    pub(crate) fn count_training_steps(&self, steps: u64) {
        self.training_steps.fetch_add(steps, Ordering::Relaxed);
    }

    /// A session of a generated graph (a step or loss graph; `model` names it in errors), on
    /// the active device.
    pub(crate) fn graph_session(&self, model: B256, bytes: &[u8]) -> Result<Session> {
        if let Device::Cuda { device_id } = self.active_device() {
            let mut builder = self.builder(model)?;
            match register_cuda(&mut builder, device_id)
                .and_then(|()| builder.commit_from_memory(bytes).map_err(|e| e.to_string()))
            {
                Ok(session) => return Ok(session),
                Err(reason) => self.disable_cuda(&reason),
            }
        }
        self.builder(model)?.commit_from_memory(bytes).map_err(session_error(model))
    }

    /// Drops `model`'s cached sessions (runs in flight finish with theirs).
    pub fn evict(&self, model: &B256) {
        self.work.cache.lock().models.remove(model);
        self.call.cache.lock().models.remove(model);
    }

    fn disable_cuda(&self, reason: &str) {
        if self.try_cuda.swap(false, Ordering::Relaxed) {
            let reason = reason.trim();
            tracing::warn!("CUDA execution provider unavailable ({reason}); falling back to CPU");
        }
    }

    /// The cached model, or its analysis from the source, cached now.
    fn loaded(&self, model: B256, lane: &Lane) -> Result<Arc<LoadedModel>> {
        if let Some(loaded) = lane.cache.lock().get(&model) {
            return Ok(loaded);
        }
        let info = self.source.model_info(&model).ok_or(RuntimeError::UnknownModel(model))?;
        let loaded = LoadedModel {
            info,
            pool: Mutex::new(Pool { idle: Vec::new(), total: 0 }),
            returned: Condvar::new(),
            shared: self.shared.get(model),
        };
        Ok(lane.cache.lock().insert(loaded, self.config.max_cached_models))
    }

    /// An idle session of `model`, a new one if the pool may grow, or the next one returned.
    fn session<'m>(&self, model: &'m LoadedModel) -> Result<PooledSession<'m>> {
        let mut pool = model.pool.lock();
        loop {
            if let Some(session) = pool.idle.pop() {
                return Ok(PooledSession { model, session: Some(session) });
            }
            if pool.total < self.config.max_sessions_per_model.max(1) {
                pool.total += 1;
                break;
            }
            model.returned.wait(&mut pool);
        }
        drop(pool);
        match self.create_session(&model.info, &model.shared) {
            Ok(session) => Ok(PooledSession { model, session: Some(session) }),
            Err(e) => {
                model.pool.lock().total -= 1;
                model.returned.notify_one();
                Err(e)
            }
        }
    }

    fn builder(&self, model: B256) -> Result<SessionBuilder> {
        Session::builder(self.environment)
            .map_err(session_error(model))?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(session_error(model))?
            .with_intra_threads(self.config.intra_op_threads.max(1))
            .map_err(session_error(model))?
            .with_inter_threads(self.config.inter_op_threads.max(1))
            .map_err(session_error(model))?
            .with_flush_to_zero()
            .map_err(session_error(model))
    }

    fn create_session(&self, info: &ModelInfo, shared: &SharedWeights) -> Result<Session> {
        let model = info.hash;
        // A model with external weights loads from its file, its weights given to the session
        // (read once from its blobs, shared by its sessions); a model of one file loads from
        // its checked bytes.
        let external = self.source.external_weights(&model)?;
        let bytes = match &external {
            Some(_) => Vec::new(),
            None => self.source.model_bytes(&model)?,
        };
        let weights =
            external.as_ref().map(|e| (e.file.parent().unwrap_or(&e.file), e.tensors.as_slice()));
        let commit = |builder: SessionBuilder| {
            let mut builder = shared.share(builder, weights)?;
            match &external {
                Some(e) => builder.commit_from_file(&e.file),
                None => builder.commit_from_memory(&bytes),
            }
            .map_err(|e| e.to_string())
        };
        let mut session = None;
        if let Device::Cuda { device_id } = self.active_device() {
            let mut builder = self.builder(model)?;
            match register_cuda(&mut builder, device_id).and_then(|()| commit(builder)) {
                Ok(s) => session = Some(s),
                Err(reason) => self.disable_cuda(&reason),
            }
        }
        let session = match session {
            Some(s) => s,
            None => commit(self.builder(model)?).map_err(session_error(model))?,
        };
        // The analysis and ONNX Runtime must agree on the inputs, or names would be fed wrong.
        let ours: Vec<&str> = info.inputs.iter().map(|s| s.name.as_str()).collect();
        let theirs: Vec<&str> = session.inputs().iter().map(|o| o.name()).collect();
        if ours != theirs {
            return Err(RuntimeError::Session {
                model,
                message: format!("ONNX Runtime sees inputs {theirs:?}, analysis found {ours:?}"),
            });
        }
        self.sessions_created.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%model, "created ONNX Runtime session");
        Ok(session)
    }
}

/// The node's own lane of an [`OrtRuntime`] (see the module docs): its inference runs take
/// permits of their own; sessions and the model cache are shared, and training (rare in calls)
/// takes the work lane's permits.
#[derive(Debug, Clone)]
pub struct CallLane {
    runtime: Arc<OrtRuntime>,
}

impl OrtRuntime {
    /// The lane for the node's own calls: a [`ModelRuntime`] over this runtime whose runs do
    /// not wait for (nor hold) the permits of the executors' runs.
    pub fn call_lane(self: &Arc<Self>) -> CallLane {
        CallLane { runtime: self.clone() }
    }
}

impl ModelRuntime for CallLane {
    fn run(&self, model: B256, inputs: Vec<HostTensor>) -> Result<Vec<HostTensor>> {
        self.runtime.run_with(model, inputs, &self.runtime.call)
    }

    fn train(
        &self,
        model: B256,
        batch: Vec<HostTensor>,
        params: &TrainParams,
        progress: &dyn Fn(u32, f64),
    ) -> Result<TrainOutput> {
        self.runtime.train(model, batch, params, progress)
    }

    fn loss(&self, model: B256, batch: Vec<HostTensor>, loss: u8) -> Result<f64> {
        self.runtime.loss(model, batch, loss)
    }
}

impl OrtRuntime {
    /// Runs `model` in `lane`: with one of its permits, on its cached sessions.
    fn run_with(
        &self,
        model: B256,
        inputs: Vec<HostTensor>,
        lane: &Lane,
    ) -> Result<Vec<HostTensor>> {
        let loaded = self.loaded(model, lane)?;
        let info = &loaded.info;
        validate_inputs(info, &inputs)?;
        let macs = info.macs_for(inputs.iter().map(HostTensor::shape));
        let values = info
            .inputs
            .iter()
            .zip(inputs)
            .map(|(spec, tensor)| {
                Ok((spec.name.clone(), to_ort(tensor).map_err(inference_error(model))?))
            })
            .collect::<Result<Vec<(String, DynValue)>>>()?;
        let _permit = lane.permits.acquire();
        let mut pooled = self.session(&loaded)?;
        let Some(session) = pooled.session.as_mut() else {
            return Err(RuntimeError::Inference { model, message: "no session".into() });
        };
        let options = Arc::new(RunOptions::new().map_err(inference_error(model))?);
        let outputs = self.run_session(model, session, values, &options, macs)?;
        let result = info
            .outputs
            .iter()
            .map(|spec| {
                let value = outputs.get(&spec.name).ok_or_else(|| RuntimeError::Output {
                    name: spec.name.clone(),
                    message: "ONNX Runtime returned no such output".into(),
                })?;
                from_ort(value, spec.elem)
                    .map_err(|message| RuntimeError::Output { name: spec.name.clone(), message })
            })
            .collect::<Result<Vec<_>>>()?;
        self.runs.fetch_add(1, Ordering::Relaxed);
        Ok(result)
    }
}

impl ModelRuntime for OrtRuntime {
    fn run(&self, model: B256, inputs: Vec<HostTensor>) -> Result<Vec<HostTensor>> {
        self.run_with(model, inputs, &self.work)
    }

    fn train(
        &self,
        model: B256,
        batch: Vec<HostTensor>,
        params: &TrainParams,
        progress: &dyn Fn(u32, f64),
    ) -> Result<TrainOutput> {
        crate::trainer::train(self, model, batch, params, progress)
    }

    fn loss(&self, model: B256, batch: Vec<HostTensor>, loss: u8) -> Result<f64> {
        crate::trainer::loss(self, model, batch, loss)
    }
}

fn session_error<E: fmt::Display>(model: B256) -> impl Fn(E) -> RuntimeError {
    move |e| RuntimeError::Session { model, message: e.to_string() }
}

fn inference_error<E: fmt::Display>(model: B256) -> impl Fn(E) -> RuntimeError {
    move |e| RuntimeError::Inference { model, message: e.to_string() }
}

/// Whether this build and library can use CUDA at all.
#[cfg(feature = "cuda")]
fn cuda_available() -> Result<(), String> {
    use ort::ep::ExecutionProvider;
    match ort::ep::CUDA::is_available() {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!(
            "the ONNX Runtime library{} was built without it; install the GPU build with `scripts/setup-ort.sh --gpu`",
            ort_lib::loaded_ort_library()
                .map(|p| format!(" at {}", p.display()))
                .unwrap_or_default()
        )),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(not(feature = "cuda"))]
fn cuda_available() -> Result<(), String> {
    Err("anh-runtime was built without its `cuda` feature".into())
}

#[cfg(feature = "cuda")]
fn register_cuda(builder: &mut SessionBuilder, device_id: i32) -> Result<(), String> {
    use ort::ep::ExecutionProvider;
    ort::ep::CUDA::default().with_device_id(device_id).register(builder).map_err(|e| e.to_string())
}

#[cfg(not(feature = "cuda"))]
fn register_cuda(_builder: &mut SessionBuilder, _device_id: i32) -> Result<(), String> {
    Err("anh-runtime was built without its `cuda` feature".into())
}

/// A host tensor as an ONNX Runtime value (moves the data; no copy).
pub(crate) fn to_ort(tensor: HostTensor) -> ort::Result<DynValue> {
    let (shape, data) = tensor.into_parts();
    // `validate_inputs` refused dimensions above i64::MAX.
    let shape: Vec<i64> = shape.iter().map(|&d| i64::try_from(d).unwrap_or(i64::MAX)).collect();
    Ok(match data {
        TensorData::F32(v) => Tensor::from_array((shape, v))?.into_dyn(),
        TensorData::F64(v) => Tensor::from_array((shape, v))?.into_dyn(),
        TensorData::I32(v) => Tensor::from_array((shape, v))?.into_dyn(),
        TensorData::I64(v) => Tensor::from_array((shape, v))?.into_dyn(),
        TensorData::U8(v) => Tensor::from_array((shape, v))?.into_dyn(),
        TensorData::I8(v) => Tensor::from_array((shape, v))?.into_dyn(),
        TensorData::Bool(v) => Tensor::from_array((shape, v))?.into_dyn(),
    })
}

/// An ONNX Runtime output as a host tensor of the declared element type.
pub(crate) fn from_ort(value: &DynValue, elem: ElemType) -> Result<HostTensor, String> {
    fn extract<T: ort::value::PrimitiveTensorElementType + Clone>(
        value: &DynValue,
        elem: ElemType,
        wrap: fn(Vec<T>) -> TensorData,
    ) -> Result<HostTensor, String> {
        let (shape, data) = value.try_extract_tensor::<T>().map_err(|e| {
            format!("the model declares {elem}, ONNX Runtime returned {} ({e})", value.dtype())
        })?;
        let shape = shape.iter().map(|&d| u64::try_from(d).unwrap_or(0)).collect();
        HostTensor::new(shape, wrap(data.to_vec()))
            .ok_or_else(|| "ONNX Runtime returned a shape that does not match its data".to_owned())
    }
    match elem {
        ElemType::F32 => extract(value, elem, TensorData::F32),
        ElemType::F64 => extract(value, elem, TensorData::F64),
        ElemType::I32 => extract(value, elem, TensorData::I32),
        ElemType::I64 => extract(value, elem, TensorData::I64),
        ElemType::U8 => extract(value, elem, TensorData::U8),
        ElemType::I8 => extract(value, elem, TensorData::I8),
        ElemType::Bool => extract(value, elem, TensorData::Bool),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run's deadline: the time its MACs are paid for, twenty times over, plus two seconds,
    /// at most the configured longest run.
    #[test]
    fn deadlines_follow_the_work_paid_for() {
        use std::time::Duration;
        let config = RuntimeConfig::default();
        assert_eq!(config.deadline(None), Duration::from_secs(60));
        assert_eq!(config.deadline(Some(0)), Duration::from_secs(2));
        // 10^9 MACs at 240 ps: 0.24 s, × 20 = 4.8 s.
        assert_eq!(config.deadline(Some(1_000_000_000)), Duration::from_millis(6_800));
        assert_eq!(config.deadline(Some(u64::MAX)), Duration::from_secs(60));
        let short = RuntimeConfig { max_run_time: Duration::from_secs(1), ..config.clone() };
        assert_eq!(short.deadline(Some(0)), Duration::from_secs(1));
        // A chain that prices a MAC twice as high pays for twice the time: 0.48 s × 20.
        let dear = RuntimeConfig { gas_per_mmac: 14_400, ..config };
        assert_eq!(dear.deadline(Some(1_000_000_000)), Duration::from_millis(11_600));
    }

    fn loaded(byte: u8) -> LoadedModel {
        let info = ModelInfo {
            hash: B256::repeat_byte(byte),
            size: 0,
            cost: anh_primitives::Cost::constant(0, 0),
            inputs: Vec::new(),
            outputs: Vec::new(),
            parent: None,
        };
        LoadedModel {
            info,
            pool: Mutex::new(Pool { idle: Vec::new(), total: 0 }),
            returned: Condvar::new(),
            shared: Arc::new(SharedWeights::new()),
        }
    }

    /// The cache keeps at most its capacity, evicting the least recently used model.
    #[test]
    fn cache_evicts_least_recently_used() {
        let mut cache = Cache::default();
        cache.insert(loaded(1), 2);
        cache.insert(loaded(2), 2);
        assert!(cache.get(&B256::repeat_byte(1)).is_some()); // 1 is now more recent than 2
        cache.insert(loaded(3), 2);
        assert_eq!(cache.models.len(), 2);
        assert!(cache.models.contains_key(&B256::repeat_byte(1)));
        assert!(!cache.models.contains_key(&B256::repeat_byte(2)));
        assert!(cache.models.contains_key(&B256::repeat_byte(3)));
    }

    /// Inserting a model that is already cached returns the cached entry.
    #[test]
    fn cache_insert_is_idempotent() {
        let mut cache = Cache::default();
        let first = cache.insert(loaded(1), 4);
        let second = cache.insert(loaded(1), 4);
        assert!(Arc::ptr_eq(&first, &second));
    }

    /// The call lane has permits of its own: with every permit of the executors' lane held, a
    /// call still runs (and the other way round).
    #[test]
    fn call_lane_does_not_wait_for_the_work_lane() {
        let library = crate::find_ort_library().expect("the ONNX Runtime library");
        let store = Arc::new(crate::ModelStore::temporary().expect("store"));
        let model = store.put(&crate::synth::matmul(4, 2)).expect("put").hash;
        let config = RuntimeConfig {
            max_concurrent_runs: 1,
            library: Some(library),
            ..RuntimeConfig::default()
        };
        let runtime = Arc::new(OrtRuntime::new(store, config).expect("runtime"));
        let x = || vec![HostTensor::new(vec![1, 4], TensorData::F32(vec![1.0; 4])).unwrap()];
        let (done, finished) = std::sync::mpsc::channel();
        {
            let _held = runtime.permit();
            let lane = runtime.call_lane();
            let input = x();
            std::thread::spawn(move || done.send(lane.run(model, input)).unwrap());
            let result = finished.recv_timeout(std::time::Duration::from_secs(60));
            assert!(matches!(result, Ok(Ok(_))), "the call ran while the work lane was full");
        }
        let _held = runtime.call.permits.acquire();
        assert!(runtime.run(model, x()).is_ok(), "work runs while the call lane is full");
    }

    /// The call lane caches models apart: calls through it load no model into the work lane
    /// (whose cache holds the models the chain counts as warm), and evicting drops both.
    #[test]
    fn call_lane_caches_apart() {
        let library = crate::find_ort_library().expect("the ONNX Runtime library");
        let store = Arc::new(crate::ModelStore::temporary().expect("store"));
        let models: Vec<B256> =
            (1..=3).map(|n| store.put(&crate::synth::matmul(4, n)).expect("put").hash).collect();
        let config = RuntimeConfig {
            max_cached_models: 2,
            library: Some(library),
            ..RuntimeConfig::default()
        };
        let runtime = Arc::new(OrtRuntime::new(store, config).expect("runtime"));
        let x = || vec![HostTensor::new(vec![1, 4], TensorData::F32(vec![1.0; 4])).unwrap()];
        runtime.run(models[0], x()).expect("work run");
        let lane = runtime.call_lane();
        for model in &models {
            lane.run(*model, x()).expect("call run");
        }
        let work = runtime.work.cache.lock().models.keys().copied().collect::<Vec<_>>();
        assert_eq!(work, vec![models[0]], "calls neither joined nor evicted the work lane's cache");
        assert_eq!(
            runtime.call.cache.lock().models.len(),
            2,
            "the call lane's own cache is bounded"
        );
        assert_eq!(runtime.stats().sessions_created, 4);
        runtime.evict(&models[2]);
        assert_eq!(runtime.call.cache.lock().models.len(), 1);
    }

    /// The semaphore never lets more than its permits through at once.
    #[test]
    fn semaphore_bounds_concurrency() {
        let sem = Arc::new(Semaphore::new(2));
        let inside = Arc::new(AtomicU64::new(0));
        let max = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (sem, inside, max) = (Arc::clone(&sem), Arc::clone(&inside), Arc::clone(&max));
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        let _p = sem.acquire();
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        max.fetch_max(now, Ordering::SeqCst);
                        std::thread::yield_now();
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("no panic");
        }
        assert!(max.load(Ordering::SeqCst) <= 2);
        assert_eq!(*sem.free.lock(), 2);
    }
}
