//! The model store: ONNX files on disk, content-addressed by the keccak256 of their bytes.
//!
//! Layout of the store's folder:
//!
//! - `<hash>.onnx` — a model's bytes, named by their keccak256 (64 lowercase hex digits).
//! - `<hash>.parent` — for a trained model, the hash of the model it was trained from (as
//!   `0x…` text). Written before the model file, so a model file never lacks it.
//! - `<hash>.delta` and `<hash>.base` — a trained model stored as a **delta**: instead of its
//!   `.onnx` file, its protobuf fields (and its graph's) each as a copy of its *base*'s field
//!   with the same bytes, or as literal bytes (`make_delta`), and the base's hash (`0x…` text,
//!   written first). The base is a model stored whole: the parent, or the parent's own base, so
//!   a delta is one step from whole bytes. A model is stored as a delta only when the delta is
//!   at most half its size and rebuilds its bytes exactly; reading rebuilds them and checks their keccak256,
//!   so a model's identity is its whole bytes either way. Training rewrites only the tensors it
//!   changed (`train::write_weights` splices fields), so a model whose training changed one
//!   layer takes that layer's bytes and its optimiser state, not the whole model's. Nothing is
//!   ever deleted, so a base outlives its deltas.
//! - `<hash>.blob` and `.part-<hash>-<size>` — weight blobs of models with external weights,
//!   complete or being uploaded (`store/blobs.rs`). A model that references blobs is stored
//!   only when the store holds each of them, long enough and checked against its hash.
//! - `.tmp-*` — files being written; each is renamed into place when complete, so readers
//!   never see a partial model. Left-overs older than an hour are removed at open.
//!
//! [`ModelStore::put`] analyses the bytes first and writes nothing when analysis refuses them
//! (size limit included). Putting the same bytes again is a no-op that returns the same
//! [`ModelInfo`]; the first parent recorded for a model stays. Analyses are cached in memory;
//! models already on disk when the store opens are analysed lazily, on first
//! [`ModelStore::info`]. [`ModelStore::get`] re-hashes what it reads, so a file corrupted on
//! disk is never served.
//!
//! Models trained by `eth_call` and `eth_estimateGas` never enter the chain, so they are not
//! written: [`ModelStore::put_scratch`] keeps them in memory, where the rest of the call finds
//! them (a contract may train, then infer with or train the new model), bounded by
//! [`SCRATCH_MODELS`] models and [`SCRATCH_BYTES`] bytes, oldest dropped first, and gone at
//! restart. A block that trains the same model makes it permanent ([`ModelStore::put_with_parent`],
//! [`ModelStore::keep`]). So no number of calls fills the disk.

mod blobs;

pub use blobs::BlobStatus;

use crate::{
    analysis::{Limits, analyze_model, external::ExternalTensor},
    error::{Result, RuntimeError},
};
use alloy_primitives::{B256, keccak256};
use anh_primitives::ModelInfo;
use parking_lot::{Mutex, RwLock};
use std::{
    collections::{HashMap, VecDeque},
    fmt,
    io::Write,
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};
use tempfile::TempDir;

/// Where the runtime gets models from: their analysis and their bytes.
///
/// [`ModelStore`] is the implementation; an executor could fetch from its node instead.
pub trait ModelSource: Send + Sync + fmt::Debug {
    /// The analysis of `model`, or `None` if the source does not hold it.
    fn model_info(&self, model: &B256) -> Option<ModelInfo>;

    /// The bytes of `model`, checked against its hash.
    fn model_bytes(&self, model: &B256) -> Result<Vec<u8>>;

    /// For a model whose weights are in blobs (external data): its file, in a folder that
    /// holds those blobs (every one checked against its hash), and its external tensors;
    /// `None` for a model of one file (load it from [`ModelSource::model_bytes`]).
    fn external_weights(&self, model: &B256) -> Result<Option<ExternalWeights>>;
}

/// A model whose weights are in blobs, as [`ModelSource::external_weights`] finds it.
#[derive(Debug, Clone)]
pub struct ExternalWeights {
    /// The model's file; its blobs are beside it.
    pub file: PathBuf,
    /// Where each external tensor's bytes are.
    pub tensors: Vec<ExternalTensor>,
}

/// Content-addressed ONNX files in a folder (see the module docs). Thread-safe.
pub struct ModelStore {
    dir: PathBuf,
    limits: Limits,
    infos: RwLock<HashMap<B256, ModelInfo>>,
    /// Models kept in memory only ([`ModelStore::put_scratch`]).
    scratch: Mutex<Scratch>,
    /// Files whose bytes were checked against their hash, with the length and modification
    /// time they had then ([`ModelStore::verified_file`]).
    verified: RwLock<HashMap<B256, (u64, std::time::SystemTime)>>,
    /// Blobs whose bytes were checked against their hash, likewise.
    verified_blobs: RwLock<HashMap<B256, (u64, std::time::SystemTime)>>,
    /// Serialises blob uploads' writes.
    blob_writes: Mutex<()>,
    /// Serialises hashing complete blobs ([`ModelStore::verified_blob`]).
    blob_hashing: Mutex<()>,
    /// The external weights of each analysed model that has some.
    external: RwLock<HashMap<B256, Vec<ExternalTensor>>>,
    /// Keeps a [`ModelStore::temporary`] folder alive as long as the store.
    _temp: Option<TempDir>,
}

impl fmt::Debug for ModelStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelStore")
            .field("dir", &self.dir)
            .field("limits", &self.limits)
            .field("analysed", &self.infos.read().len())
            .finish()
    }
}

/// Most models [`ModelStore::put_scratch`] keeps.
pub const SCRATCH_MODELS: usize = 64;
/// Most bytes [`ModelStore::put_scratch`] keeps (a larger model is kept alone).
pub const SCRATCH_BYTES: usize = 256 << 20;

/// Models held in memory only, oldest first.
#[derive(Default)]
struct Scratch {
    models: VecDeque<(ModelInfo, std::sync::Arc<[u8]>)>,
    bytes: usize,
}

impl Scratch {
    fn get(&self, model: &B256) -> Option<&(ModelInfo, std::sync::Arc<[u8]>)> {
        self.models.iter().find(|(info, _)| info.hash == *model)
    }

    fn remove(&mut self, model: &B256) -> Option<(ModelInfo, std::sync::Arc<[u8]>)> {
        let at = self.models.iter().position(|(info, _)| info.hash == *model)?;
        let removed = self.models.remove(at)?;
        self.bytes -= removed.1.len();
        Some(removed)
    }

    /// Adds a model, dropping the oldest ones beyond the bounds (never the one added).
    fn push(&mut self, info: ModelInfo, bytes: std::sync::Arc<[u8]>) {
        self.bytes += bytes.len();
        self.models.push_back((info, bytes));
        while self.models.len() > 1
            && (self.models.len() > SCRATCH_MODELS || self.bytes > SCRATCH_BYTES)
        {
            if let Some((_, dropped)) = self.models.pop_front() {
                self.bytes -= dropped.len();
            }
        }
    }
}

const MODEL_EXT: &str = "onnx";
const PARENT_EXT: &str = "parent";
const DELTA_EXT: &str = "delta";
const BASE_EXT: &str = "base";

const TEMP_PREFIX: &str = ".tmp-";
const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);
/// Partial blob uploads untouched this long are removed at open.
const STALE_PART_AGE: Duration = Duration::from_secs(24 * 3600);

impl ModelStore {
    /// Opens (creating it if needed) a store in `dir`, with default [`Limits`].
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        Self::open_with_limits(dir, Limits::default())
    }

    /// Opens (creating it if needed) a store in `dir` that accepts models within `limits`.
    pub fn open_with_limits(dir: impl Into<PathBuf>, limits: Limits) -> Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)
            .map_err(|source| RuntimeError::Io { path: dir.clone(), source })?;
        remove_stale_temp_files(&dir);
        Ok(Self {
            dir,
            limits,
            infos: RwLock::new(HashMap::new()),
            scratch: Mutex::default(),
            verified: RwLock::default(),
            verified_blobs: RwLock::default(),
            blob_writes: Mutex::default(),
            blob_hashing: Mutex::default(),
            external: RwLock::default(),
            _temp: None,
        })
    }

    /// A store in a new temporary folder, removed when the store is dropped.
    pub fn temporary() -> Result<Self> {
        Self::temporary_with_limits(Limits::default())
    }

    /// [`ModelStore::temporary`] with `limits`.
    pub fn temporary_with_limits(limits: Limits) -> Result<Self> {
        let temp = tempfile::Builder::new()
            .prefix("anh-models-")
            .tempdir()
            .map_err(|source| RuntimeError::Io { path: std::env::temp_dir(), source })?;
        let mut store = Self::open_with_limits(temp.path(), limits)?;
        store._temp = Some(temp);
        Ok(store)
    }

    /// The store's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The limits models must be within.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The path of a model's file (whether or not it exists).
    pub fn model_path(&self, model: &B256) -> PathBuf {
        self.dir.join(format!("{}.{MODEL_EXT}", hex(model)))
    }

    fn parent_path(&self, model: &B256) -> PathBuf {
        self.dir.join(format!("{}.{PARENT_EXT}", hex(model)))
    }

    fn delta_path(&self, model: &B256) -> PathBuf {
        self.dir.join(format!("{}.{DELTA_EXT}", hex(model)))
    }

    fn base_path(&self, model: &B256) -> PathBuf {
        self.dir.join(format!("{}.{BASE_EXT}", hex(model)))
    }

    /// Whether `model` is stored as a delta ([`ModelStore::put_with_parent`]).
    pub fn is_delta(&self, model: &B256) -> bool {
        !self.model_path(model).is_file() && self.delta_path(model).is_file()
    }

    /// The bytes `model` takes on disk: its file, or its delta (0 if neither).
    pub fn stored_size(&self, model: &B256) -> u64 {
        [self.model_path(model), self.delta_path(model)]
            .iter()
            .find_map(|p| std::fs::metadata(p).ok())
            .map_or(0, |m| m.len())
    }

    /// The model a child of `parent` is stored against: `parent` when stored whole, else its
    /// own base.
    fn base_for(&self, parent: &B256) -> Option<B256> {
        if self.model_path(parent).is_file() {
            Some(*parent)
        } else if self.delta_path(parent).is_file() {
            self.read_hash(&self.base_path(parent))
        } else {
            None
        }
    }

    /// `bytes` as a delta against the whole model `base`, when it is one (see the module docs).
    fn delta_against(&self, base: &B256, bytes: &[u8]) -> Option<Vec<u8>> {
        let base_bytes = self.read_whole(base).ok()?;
        let delta = make_delta(&base_bytes, bytes)?;
        (delta.len() <= bytes.len() / 2 && rebuild(&base_bytes, &delta).as_deref() == Some(bytes))
            .then_some(delta)
    }

    /// Stores a model: analyses `bytes` (nothing is written if analysis refuses them), writes
    /// them atomically, and returns the analysis. Idempotent for the same bytes.
    pub fn put(&self, bytes: &[u8]) -> Result<ModelInfo> {
        self.put_with_parent(bytes, None)
    }

    /// [`ModelStore::put`] for a model trained from `parent`, which the returned
    /// [`ModelInfo::parent`] records. A model already stored keeps the parent it was stored
    /// with.
    pub fn put_with_parent(&self, bytes: &[u8], parent: Option<B256>) -> Result<ModelInfo> {
        let analysis = analyze_model(bytes, &self.limits)?;
        self.check_blobs(&analysis.external)?;
        let mut info = analysis.info;
        let hash = info.hash;
        if !analysis.external.is_empty() {
            self.external.write().insert(hash, analysis.external);
        }
        let path = self.model_path(&hash);
        if let Some(existing) = self.infos.read().get(&hash) {
            return Ok(existing.clone());
        }
        if (path.is_file() || self.delta_path(&hash).is_file()) && self.read(&hash).is_ok() {
            // Stored by an earlier process: keep its parent record.
            info.parent = self.read_parent(&hash);
            self.infos.write().insert(hash, info.clone());
            return Ok(info);
        }
        // Not stored, or its file is unreadable or corrupt: (re)write it.
        if let Some(parent) = parent {
            self.write_atomically(&self.parent_path(&hash), format!("{parent}\n").as_bytes())?;
        } else {
            // A stale parent file from a corrupt earlier copy must not be picked up.
            let _ = std::fs::remove_file(self.parent_path(&hash));
        }
        let delta = parent
            .and_then(|p| self.base_for(&p))
            .and_then(|base| self.delta_against(&base, bytes).map(|d| (base, d)));
        match delta {
            Some((base, delta)) => {
                self.write_atomically(&self.base_path(&hash), format!("{base}\n").as_bytes())?;
                self.write_atomically(&self.delta_path(&hash), &delta)?;
            }
            None => {
                self.write_atomically(&path, bytes)?;
                self.mark_verified(&hash);
            }
        }
        info.parent = parent;
        self.infos.write().insert(hash, info.clone());
        self.scratch.lock().remove(&hash);
        tracing::debug!(model = %hash, size = info.size, macs = info.macs(), "stored model");
        Ok(info)
    }

    /// Keeps a model trained from `parent` in memory only (see the module docs): analysed like
    /// [`ModelStore::put_with_parent`], found by every read, written nowhere. A model the store
    /// holds already is left as it is.
    pub fn put_scratch(&self, bytes: &[u8], parent: B256) -> Result<ModelInfo> {
        let hash = keccak256(bytes);
        if let Some(info) = self.scratch.lock().get(&hash) {
            return Ok(info.0.clone());
        }
        if let Some(info) = self.info(&hash) {
            return Ok(info);
        }
        let analysis = analyze_model(bytes, &self.limits)?;
        if !analysis.external.is_empty() {
            // A trained model holds its weights; a file naming blobs is not one.
            return Err(RuntimeError::ExternalWeights(analysis.info.hash));
        }
        let mut info = analysis.info;
        info.parent = Some(parent);
        let mut scratch = self.scratch.lock();
        if scratch.get(&hash).is_none() {
            scratch.push(info.clone(), bytes.into());
        }
        tracing::debug!(model = %hash, size = info.size, "kept model in memory");
        Ok(info)
    }

    /// Makes `model` permanent if it is held in memory only ([`ModelStore::put_scratch`]);
    /// whether the store now holds it on disk.
    pub fn keep(&self, model: &B256) -> Result<bool> {
        let kept = self.scratch.lock().get(model).cloned();
        match kept {
            Some((info, bytes)) => {
                self.put_with_parent(&bytes, info.parent)?;
                Ok(true)
            }
            // On disk, or not held (the analysis is cached: no file read after the first).
            None => Ok(self.info(model).is_some()),
        }
    }

    /// Writes `bytes` to a temporary file in the store's folder, syncs it, and renames it to
    /// `path`.
    fn write_atomically(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let io = |source| RuntimeError::Io { path: path.to_path_buf(), source };
        let mut file =
            tempfile::Builder::new().prefix(TEMP_PREFIX).tempfile_in(&self.dir).map_err(io)?;
        file.write_all(bytes).map_err(io)?;
        file.as_file().sync_all().map_err(io)?;
        file.persist(path).map_err(|e| io(e.error))?;
        // Make the rename itself durable; not every platform can sync a folder.
        if let Ok(dir) = std::fs::File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// Whether the store holds `model`: its file or delta, or in memory.
    pub fn contains(&self, model: &B256) -> bool {
        self.infos.read().contains_key(model)
            || self.model_path(model).is_file()
            || self.delta_path(model).is_file()
            || self.scratch.lock().get(model).is_some()
    }

    /// The bytes of `model`, or `None` if the store does not hold it, or its file is
    /// unreadable or corrupt (which is logged). [`ModelStore::read`] says which.
    pub fn get(&self, model: &B256) -> Option<Vec<u8>> {
        match self.read(model) {
            Ok(bytes) => Some(bytes),
            Err(RuntimeError::UnknownModel(_)) => None,
            Err(e) => {
                tracing::warn!(%model, error = %e, "cannot serve stored model");
                None
            }
        }
    }

    /// The file of `model` and its length, its bytes checked against the hash once (when
    /// written or first read) and again only if its length or modification time changed since:
    /// a server can stream it without reading and hashing it per request. `None` if the store
    /// holds no such file (a model kept in memory only has none) or it is corrupt.
    pub fn verified_file(&self, model: &B256) -> Option<(PathBuf, u64)> {
        let path = self.model_path(model);
        let stamp = |path: &Path| {
            let meta = std::fs::metadata(path).ok()?;
            Some((meta.len(), meta.modified().ok()?))
        };
        let now = stamp(&path)?;
        if self.verified.read().get(model) == Some(&now) {
            return Some((path, now.0));
        }
        self.read(model).ok()?;
        let now = stamp(&path)?;
        Some((path, now.0))
    }

    /// Notes that the file of `model` holds its bytes now.
    fn mark_verified(&self, model: &B256) {
        let path = self.model_path(model);
        if let Ok(meta) = std::fs::metadata(&path)
            && let Ok(modified) = meta.modified()
        {
            self.verified.write().insert(*model, (meta.len(), modified));
        }
    }

    /// The bytes of `model`, checked against its hash: its file, its delta rebuilt on its
    /// base, or the copy held in memory.
    pub fn read(&self, model: &B256) -> Result<Vec<u8>> {
        match self.read_whole(model) {
            Err(RuntimeError::UnknownModel(_)) if self.delta_path(model).is_file() => {
                self.read_delta(model)
            }
            Err(RuntimeError::UnknownModel(_)) => match self.scratch.lock().get(model) {
                Some((_, bytes)) => Ok(bytes.to_vec()),
                None => Err(RuntimeError::UnknownModel(*model)),
            },
            other => other,
        }
    }

    /// The bytes of a model stored as a delta: its base's (a whole file) with the delta's
    /// initializers, checked against its hash.
    fn read_delta(&self, model: &B256) -> Result<Vec<u8>> {
        let path = self.delta_path(model);
        let corrupt =
            |actual| RuntimeError::CorruptModel { expected: *model, actual, path: path.clone() };
        let base = self.read_hash(&self.base_path(model)).ok_or_else(|| corrupt(B256::ZERO))?;
        // The rebuilt bytes' hash is checked below, which a corrupt base fails too: the base is
        // read without hashing it first (it was checked when the delta was made).
        let base_path = self.model_path(&base);
        let base_bytes = std::fs::read(&base_path)
            .map_err(|source| RuntimeError::Io { path: base_path, source })?;
        let delta = std::fs::read(&path)
            .map_err(|source| RuntimeError::Io { path: path.clone(), source })?;
        let bytes = rebuild(&base_bytes, &delta).ok_or_else(|| corrupt(B256::ZERO))?;
        let actual = keccak256(&bytes);
        if actual != *model {
            self.infos.write().remove(model);
            return Err(corrupt(actual));
        }
        Ok(bytes)
    }

    /// The bytes of `model`'s whole file (`<hash>.onnx`), checked against its hash;
    /// `UnknownModel` when there is no such file.
    fn read_whole(&self, model: &B256) -> Result<Vec<u8>> {
        let path = self.model_path(model);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RuntimeError::UnknownModel(*model));
            }
            Err(source) => return Err(RuntimeError::Io { path, source }),
        };
        let actual = keccak256(&bytes);
        if actual != *model {
            self.infos.write().remove(model);
            self.verified.write().remove(model);
            return Err(RuntimeError::CorruptModel { expected: *model, actual, path });
        }
        self.mark_verified(model);
        Ok(bytes)
    }

    /// The analysis of `model`, or `None` if the store does not hold it (or its file no
    /// longer passes analysis, which is logged). Cached; a model stored by an earlier process
    /// is analysed on first call.
    pub fn info(&self, model: &B256) -> Option<ModelInfo> {
        if let Some(info) = self.infos.read().get(model) {
            return Some(info.clone());
        }
        if let Some((info, _)) = self.scratch.lock().get(model) {
            return Some(info.clone());
        }
        let bytes = self.get(model)?;
        let mut info = match analyze_model(&bytes, &self.limits) {
            Ok(analysis) => {
                if !analysis.external.is_empty() {
                    self.external.write().insert(*model, analysis.external);
                }
                analysis.info
            }
            Err(e) => {
                tracing::warn!(%model, error = %e, "stored model no longer passes analysis");
                return None;
            }
        };
        info.parent = self.read_parent(model);
        self.infos.write().insert(*model, info.clone());
        Some(info)
    }

    /// [`ModelSource::external_weights`]: `model`'s file and external tensors, when its
    /// weights are in blobs, after checking the file and every blob against their hashes
    /// (once per change of either).
    pub fn external_weights(&self, model: &B256) -> Result<Option<ExternalWeights>> {
        self.info(model).ok_or(RuntimeError::UnknownModel(*model))?;
        let Some(tensors) = self.external.read().get(model).cloned() else { return Ok(None) };
        self.check_blobs(&tensors)?;
        let (file, _) = self.verified_file(model).ok_or(RuntimeError::UnknownModel(*model))?;
        Ok(Some(ExternalWeights { file, tensors }))
    }

    fn read_parent(&self, model: &B256) -> Option<B256> {
        self.read_hash(&self.parent_path(model))
    }

    /// The hash written in the record file `path` (a parent or a base).
    fn read_hash(&self, path: &Path) -> Option<B256> {
        let text = std::fs::read_to_string(path).ok()?;
        match text.trim().parse::<B256>() {
            Ok(parent) => Some(parent),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "unreadable hash record; ignoring it");
                None
            }
        }
    }

    /// The hashes of all models in the store's folder (not those in memory only), sorted.
    pub fn models(&self) -> Result<Vec<B256>> {
        let io = |source| RuntimeError::Io { path: self.dir.clone(), source };
        let mut models = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io)? {
            let name = entry.map_err(io)?.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(stem) = name.strip_suffix(".onnx").or_else(|| name.strip_suffix(".delta"))
                && stem.len() == 64
                && let Ok(hash) = stem.parse::<B256>()
            {
                models.push(hash);
            }
        }
        models.sort_unstable();
        Ok(models)
    }
}

impl ModelSource for ModelStore {
    fn model_info(&self, model: &B256) -> Option<ModelInfo> {
        self.info(model)
    }

    fn model_bytes(&self, model: &B256) -> Result<Vec<u8>> {
        self.read(model)
    }

    fn external_weights(&self, model: &B256) -> Result<Option<ExternalWeights>> {
        ModelStore::external_weights(self, model)
    }
}

/// The first bytes of a delta file.
const DELTA_MAGIC: &[u8] = b"ANHDELTA1";

/// The model file `bytes` as a delta of `base`'s, at the level of protobuf fields: each
/// top-level field, and each field of the graph, is a copy of the base's field with the same
/// bytes (by index) or literal bytes. `None` when either is not a protobuf with one graph.
///
/// Layout: the magic, then a varint count of model fields, each `0 index` (copy), `1 length
/// bytes` (literal) or `2 count` and that many graph fields, each `0 index` or `1 length
/// bytes`.
fn make_delta(base: &[u8], bytes: &[u8]) -> Option<Vec<u8>> {
    use crate::fields::fields;
    let (bf, cf) = (fields(base).ok()?, fields(bytes).ok()?);
    let mut graphs = bf.iter().filter(|f| f.number == 7);
    let base_graph = graphs.next()?.payload?;
    if graphs.next().is_some() {
        return None;
    }
    let bgf = fields(base_graph).ok()?;
    let model_index: HashMap<&[u8], usize> =
        bf.iter().enumerate().map(|(i, f)| (f.raw, i)).collect();
    let graph_index: HashMap<&[u8], usize> =
        bgf.iter().enumerate().map(|(i, f)| (f.raw, i)).collect();
    let mut out = DELTA_MAGIC.to_vec();
    let entry = |out: &mut Vec<u8>, index: &HashMap<&[u8], usize>, raw: &[u8]| match index.get(raw)
    {
        Some(&i) => {
            out.push(0);
            prost::encoding::encode_varint(i as u64, out);
        }
        None => {
            out.push(1);
            prost::encoding::encode_varint(raw.len() as u64, out);
            out.extend_from_slice(raw);
        }
    };
    prost::encoding::encode_varint(cf.len() as u64, &mut out);
    for f in &cf {
        match (f.number, f.payload) {
            (7, Some(graph)) if !model_index.contains_key(f.raw) => {
                let gf = fields(graph).ok()?;
                out.push(2);
                prost::encoding::encode_varint(gf.len() as u64, &mut out);
                for g in &gf {
                    entry(&mut out, &graph_index, g.raw);
                }
            }
            _ => entry(&mut out, &model_index, f.raw),
        }
    }
    Some(out)
}

/// The model file `delta` describes against `base`'s bytes, or `None` if it does not fit them.
fn rebuild(base: &[u8], delta: &[u8]) -> Option<Vec<u8>> {
    use crate::fields::{Field, fields, put_message, varint};
    let bf = fields(base).ok()?;
    let bgf = fields(bf.iter().find(|f| f.number == 7)?.payload?).ok()?;
    let mut d = delta.strip_prefix(DELTA_MAGIC)?;
    let take = |d: &mut &[u8], out: &mut Vec<u8>, copies: &[Field<'_>]| {
        let (&kind, rest) = d.split_first()?;
        *d = rest;
        match kind {
            0 => out.extend_from_slice(copies.get(usize::try_from(varint(d)?).ok()?)?.raw),
            1 => {
                let len = usize::try_from(varint(d)?).ok()?;
                let (literal, rest) = (d.get(..len)?, d.get(len..)?);
                out.extend_from_slice(literal);
                *d = rest;
            }
            _ => return None,
        }
        Some(())
    };
    let mut out = Vec::with_capacity(base.len());
    for _ in 0..varint(&mut d)? {
        if d.first() == Some(&2) {
            d = &d[1..];
            let mut graph = Vec::with_capacity(base.len());
            for _ in 0..varint(&mut d)? {
                take(&mut d, &mut graph, &bgf)?;
            }
            put_message(&mut out, 7, &graph);
        } else {
            take(&mut d, &mut out, &bf)?;
        }
    }
    d.is_empty().then_some(out)
}

/// 64 lowercase hex digits, no `0x`.
fn hex(hash: &B256) -> String {
    alloy_primitives::hex::encode(hash)
}

fn remove_stale_temp_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let max_age = match name.to_str() {
            Some(n) if n.starts_with(TEMP_PREFIX) => STALE_TEMP_AGE,
            Some(n) if n.starts_with(blobs::PART_PREFIX) => STALE_PART_AGE,
            _ => continue,
        };
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).unwrap_or_default() > max_age);
        if old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
