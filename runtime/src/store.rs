//! The model store: ONNX files on disk, content-addressed by the keccak256 of their bytes.
//!
//! Layout of the store's folder:
//!
//! - `<hash>.onnx` — a model's bytes, named by their keccak256 (64 lowercase hex digits).
//! - `<hash>.parent` — for a trained model, the hash of the model it was trained from (as
//!   `0x…` text). Written before the model file, so a model file never lacks it.
//! - `.tmp-*` — files being written; each is renamed into place when complete, so readers
//!   never see a partial model. Left-overs older than an hour are removed at open.
//!
//! [`ModelStore::put`] analyses the bytes first and writes nothing when analysis refuses them
//! (size limit included). Putting the same bytes again is a no-op that returns the same
//! [`ModelInfo`]; the first parent recorded for a model stays. Analyses are cached in memory;
//! models already on disk when the store opens are analysed lazily, on first
//! [`ModelStore::info`]. [`ModelStore::get`] re-hashes what it reads, so a file corrupted on
//! disk is never served.

use crate::{
    analysis::{Limits, analyze},
    error::{Result, RuntimeError},
};
use alloy_primitives::{B256, keccak256};
use anh_precompiles::ModelInfo;
use parking_lot::RwLock;
use std::{
    collections::HashMap,
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
}

/// Content-addressed ONNX files in a folder (see the module docs). Thread-safe.
pub struct ModelStore {
    dir: PathBuf,
    limits: Limits,
    infos: RwLock<HashMap<B256, ModelInfo>>,
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

const MODEL_EXT: &str = "onnx";
const PARENT_EXT: &str = "parent";
const TEMP_PREFIX: &str = ".tmp-";
const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);

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
        Ok(Self { dir, limits, infos: RwLock::new(HashMap::new()), _temp: None })
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

    /// Stores a model: analyses `bytes` (nothing is written if analysis refuses them), writes
    /// them atomically, and returns the analysis. Idempotent for the same bytes.
    pub fn put(&self, bytes: &[u8]) -> Result<ModelInfo> {
        self.put_with_parent(bytes, None)
    }

    /// [`ModelStore::put`] for a model trained from `parent`, which the returned
    /// [`ModelInfo::parent`] records. A model already stored keeps the parent it was stored
    /// with.
    pub fn put_with_parent(&self, bytes: &[u8], parent: Option<B256>) -> Result<ModelInfo> {
        let mut info = analyze(bytes, &self.limits)?;
        let hash = info.hash;
        let path = self.model_path(&hash);
        if let Some(existing) = self.infos.read().get(&hash) {
            return Ok(existing.clone());
        }
        if path.is_file() && self.read(&hash).is_ok() {
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
        self.write_atomically(&path, bytes)?;
        info.parent = parent;
        self.infos.write().insert(hash, info.clone());
        tracing::debug!(model = %hash, size = info.size, macs = info.macs, "stored model");
        Ok(info)
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

    /// Whether the store holds `model`'s file.
    pub fn contains(&self, model: &B256) -> bool {
        self.infos.read().contains_key(model) || self.model_path(model).is_file()
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

    /// The bytes of `model`, checked against its hash.
    pub fn read(&self, model: &B256) -> Result<Vec<u8>> {
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
            return Err(RuntimeError::CorruptModel { expected: *model, actual, path });
        }
        Ok(bytes)
    }

    /// The analysis of `model`, or `None` if the store does not hold it (or its file no
    /// longer passes analysis, which is logged). Cached; a model stored by an earlier process
    /// is analysed on first call.
    pub fn info(&self, model: &B256) -> Option<ModelInfo> {
        if let Some(info) = self.infos.read().get(model) {
            return Some(info.clone());
        }
        let bytes = self.get(model)?;
        let mut info = match analyze(&bytes, &self.limits) {
            Ok(info) => info,
            Err(e) => {
                tracing::warn!(%model, error = %e, "stored model no longer passes analysis");
                return None;
            }
        };
        info.parent = self.read_parent(model);
        self.infos.write().insert(*model, info.clone());
        Some(info)
    }

    fn read_parent(&self, model: &B256) -> Option<B256> {
        let path = self.parent_path(model);
        let text = std::fs::read_to_string(&path).ok()?;
        match text.trim().parse::<B256>() {
            Ok(parent) => Some(parent),
            Err(e) => {
                tracing::warn!(%model, path = %path.display(), error = %e, "unreadable parent record; ignoring it");
                None
            }
        }
    }

    /// The hashes of all models in the store's folder, sorted.
    pub fn models(&self) -> Result<Vec<B256>> {
        let io = |source| RuntimeError::Io { path: self.dir.clone(), source };
        let mut models = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io)? {
            let name = entry.map_err(io)?.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(stem) = name.strip_suffix(".onnx")
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
        let is_temp = entry.file_name().to_str().is_some_and(|n| n.starts_with(TEMP_PREFIX));
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).unwrap_or_default() > STALE_TEMP_AGE);
        if is_temp && old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
