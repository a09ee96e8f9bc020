//! Weight blobs: the bytes of models' external weights (`analysis::external`), in the store's
//! folder beside the models, content-addressed by keccak256.
//!
//! - `<hash>.blob` — a complete blob, named by the keccak256 of its bytes (checked when its
//!   upload completed, and again whenever its length or modification time changed).
//! - `.part-<hash>-<size>` — a blob being uploaded in chunks: the bytes received so far, and
//!   the size the upload declared. [`ModelStore::append_blob`] takes the chunk that starts
//!   exactly where the part ends, so an upload resumes from [`ModelStore::blob_status`] after
//!   a dropped connection or a restart. The last chunk hashes the whole part: if it is the
//!   name, the part is renamed into place; if not (or it cannot be read), it is deleted and
//!   the upload refused. Uploads of one blob declaring different sizes are different parts, so
//!   one that declared a wrong size cannot hold up the right one. An empty chunk is taken only
//!   as the last one (it completes a part already whole). Parts untouched for a day are
//!   removed when the store next opens.
//! - A complete blob found corrupt when checked is deleted (and can be uploaded again).
//!
//! The runtime reads a model's external weights from its blobs once, into tensors every
//! session of the model shares (`shared.rs`); the sessions load the model's file from the
//! store's folder ([`ModelStore::external_weights`]), and the only locations its analysis
//! accepts are `<hash>.blob`, so nothing outside this folder is ever opened.

use super::{ModelStore, hex};
use crate::{
    analysis::external::BLOB_EXT,
    error::{Result, RuntimeError},
};
use alloy_primitives::B256;
use std::{
    io::{Read, Write},
    path::{Path, PathBuf},
};

/// The first characters of a partial blob's file name.
pub(super) const PART_PREFIX: &str = ".part-";

/// Where a blob's upload stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobStatus {
    /// Complete, and checked against its hash.
    Stored {
        /// Its size.
        size: u64,
    },
    /// Being uploaded.
    Partial {
        /// Bytes received.
        offset: u64,
        /// The size the upload declared.
        size: u64,
    },
    /// Neither.
    Absent,
}

impl ModelStore {
    /// The path of a complete blob's file (whether or not it exists).
    pub fn blob_path(&self, blob: &B256) -> PathBuf {
        self.dir.join(format!("{}.{BLOB_EXT}", hex(blob)))
    }

    /// The partial upload of `blob` declaring `size`.
    fn part_path(&self, blob: &B256, size: u64) -> PathBuf {
        self.dir.join(format!("{PART_PREFIX}{}-{size}", hex(blob)))
    }

    /// The partial uploads of `blob`: (bytes received, size declared), furthest first.
    fn parts_of(&self, blob: &B256) -> Vec<(u64, u64)> {
        let prefix = format!("{PART_PREFIX}{}-", hex(blob));
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        let mut parts: Vec<(u64, u64)> = entries
            .flatten()
            .filter_map(|e| {
                let size = e.file_name().to_str()?.strip_prefix(&prefix)?.parse().ok()?;
                Some((e.metadata().ok()?.len(), size))
            })
            .collect();
        parts.sort_unstable_by(|a, b| b.cmp(a));
        parts
    }

    /// Where the upload of `blob` stands: stored, or the furthest partial upload.
    pub fn blob_status(&self, blob: &B256) -> BlobStatus {
        self.blob_status_of(blob, None)
    }

    /// Where the upload of `blob` stands; with `size`, only a partial upload declaring it.
    pub fn blob_status_of(&self, blob: &B256, size: Option<u64>) -> BlobStatus {
        let _writing = self.blob_writes.lock();
        if let Ok(meta) = std::fs::metadata(self.blob_path(blob)) {
            return BlobStatus::Stored { size: meta.len() };
        }
        self.parts_of(blob)
            .into_iter()
            .find(|&(_, declared)| size.is_none_or(|size| size == declared))
            .map_or(BlobStatus::Absent, |(offset, size)| BlobStatus::Partial { offset, size })
    }

    /// Adds `chunk`, which starts at byte `offset` of `blob`, a blob of `size` bytes, to its
    /// upload (see the module docs); where the upload stands after it. A chunk of a blob
    /// already stored (and sound) is a no-op.
    ///
    /// Refused: a blob larger than the store's `max_model_bytes`; a chunk that does not start
    /// where the upload of that size stands ([`RuntimeError::BlobOffset`], which says where),
    /// runs past `size`, or is empty but not the last; and, on the last chunk, bytes that do
    /// not hash to `blob` ([`RuntimeError::BlobHash`]; the part is deleted).
    pub fn append_blob(
        &self,
        blob: &B256,
        size: u64,
        offset: u64,
        chunk: &[u8],
    ) -> Result<BlobStatus> {
        let refuse = |reason: String| RuntimeError::BlobUpload { blob: *blob, reason };
        if size > self.limits.max_model_bytes {
            return Err(refuse(format!(
                "{size} bytes is more than this node's model size limit of {} bytes",
                self.limits.max_model_bytes
            )));
        }
        if std::fs::metadata(self.blob_path(blob)).is_ok()
            && let Some((_, stored)) = self.verified_blob(blob)
        {
            return Ok(BlobStatus::Stored { size: stored });
        }
        let _writing = self.blob_writes.lock();
        let path = self.part_path(blob, size);
        let offset_now = std::fs::metadata(&path).map_or(0, |m| m.len());
        if offset != offset_now {
            return Err(RuntimeError::BlobOffset { blob: *blob, offset, expected: offset_now });
        }
        let end = offset.checked_add(chunk.len() as u64).filter(|&end| end <= size);
        let Some(end) = end else {
            return Err(refuse(format!(
                "a chunk of {} bytes at offset {offset} runs past its size of {size} bytes",
                chunk.len()
            )));
        };
        if chunk.is_empty() && end < size {
            return Err(refuse("an empty chunk is taken only as the last one".into()));
        }
        let io = |source| RuntimeError::Io { path: path.clone(), source };
        let mut file =
            std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(io)?;
        file.write_all(chunk).map_err(io)?;
        if end < size {
            return Ok(BlobStatus::Partial { offset: end, size });
        }
        let checked = file.sync_all().map_err(io).and_then(|()| hash_file(&path));
        drop(file);
        let actual = match checked {
            Ok(actual) => actual,
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                return Err(e);
            }
        };
        if actual != *blob {
            let _ = std::fs::remove_file(&path);
            return Err(RuntimeError::BlobHash { expected: *blob, actual, size });
        }
        let target = self.blob_path(blob);
        std::fs::rename(&path, &target)
            .map_err(|source| RuntimeError::Io { path: target.clone(), source })?;
        if let Ok(dir) = std::fs::File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        self.mark_blob_verified(blob);
        tracing::debug!(%blob, size, "stored weight blob");
        Ok(BlobStatus::Stored { size })
    }

    /// Stores `bytes` as a blob in one piece; its hash.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<B256> {
        let blob = alloy_primitives::keccak256(bytes);
        self.append_blob(&blob, bytes.len() as u64, 0, bytes)?;
        Ok(blob)
    }

    /// The file of `blob` and its size, its bytes checked against the hash once (when stored
    /// or first read) and again only if its length or modification time changed since; one
    /// blob is hashed at a time, so requests arriving together hash it once. `None` if the
    /// store holds no such blob, or it is corrupt (which is logged, and the file deleted).
    pub fn verified_blob(&self, blob: &B256) -> Option<(PathBuf, u64)> {
        let path = self.blob_path(blob);
        let now = stamp(&path)?;
        if self.verified_blobs.read().get(blob) == Some(&now) {
            return Some((path, now.0));
        }
        let _hashing = self.blob_hashing.lock();
        let now = stamp(&path)?;
        if self.verified_blobs.read().get(blob) == Some(&now) {
            return Some((path, now.0));
        }
        match hash_file(&path) {
            Ok(actual) if actual == *blob => {}
            Ok(actual) => {
                tracing::warn!(%blob, %actual, path = %path.display(), "weight blob is corrupt; deleting it");
                let _ = std::fs::remove_file(&path);
                return None;
            }
            Err(e) => {
                tracing::warn!(%blob, error = %e, "cannot read weight blob");
                return None;
            }
        }
        self.verified_blobs.write().insert(*blob, now);
        Some((path, now.0))
    }

    fn mark_blob_verified(&self, blob: &B256) {
        if let Some(now) = stamp(&self.blob_path(blob)) {
            self.verified_blobs.write().insert(*blob, now);
        }
    }

    /// Checks that the store holds every blob the `external` tensors read, each long enough
    /// and checked against its hash.
    pub(super) fn check_blobs(
        &self,
        external: &[crate::analysis::external::ExternalTensor],
    ) -> Result<()> {
        for (blob, needs) in crate::analysis::external::blob_needs(external) {
            let Some((_, size)) = self.verified_blob(&blob) else {
                let tensor = external.iter().find(|t| t.blob == blob).map(|t| t.tensor.clone());
                return Err(RuntimeError::MissingBlob { blob, tensor: tensor.unwrap_or_default() });
            };
            if size < needs {
                return Err(RuntimeError::BlobTooShort { blob, size, needs });
            }
        }
        Ok(())
    }
}

/// A file's length and modification time.
fn stamp(path: &Path) -> Option<(u64, std::time::SystemTime)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

/// The keccak256 of a file's bytes, read in pieces.
pub(crate) fn hash_file(path: &Path) -> Result<B256> {
    let io = |source| RuntimeError::Io { path: path.to_path_buf(), source };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = alloy_primitives::Keccak256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize())
}
