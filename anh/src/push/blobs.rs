//! The external weights of a model being pushed: read from the data files beside the model
//! (ONNX's standard external-data form), uploaded as blobs in resumable chunks, and named in
//! the model by their hashes (`anh_runtime::external`).
//!
//! A location must be a plain relative file name under the model's folder, and stay there once
//! symbolic links are followed: a model file is input from anywhere, and pushing one must never
//! upload `/etc/shadow`, `../secrets` or a link to `~/.ssh/id_rsa`.

use super::{Client, Progress};
use alloy_primitives::{B256, Keccak256};
use serde_json::Value;
use std::{
    collections::BTreeMap,
    io::{Read, Seek, SeekFrom},
    path::{Component, Path, PathBuf},
};

/// Bytes sent per `PUT /blobs` request (16 MiB; the node takes up to 64 MiB).
pub(crate) const CHUNK: usize = 16 << 20;

/// How many times a chunk is sent again after a network failure, resuming from where the node
/// says the upload stands.
const RETRIES: usize = 3;

/// A data file to upload as a blob.
#[derive(Debug, Clone)]
pub(crate) struct BlobFile {
    pub(crate) path: PathBuf,
    pub(crate) size: u64,
}

/// `model` (the bytes of the file at `file`) with its external data locations named by blob:
/// the rewritten model and the files to upload, by hash. A model without external data comes
/// back as it is, with no files.
pub(crate) fn name_blobs(
    file: &Path,
    model: Vec<u8>,
) -> Result<(Vec<u8>, BTreeMap<B256, BlobFile>), String> {
    let folder = file.parent().unwrap_or(Path::new("."));
    let mut by_location = BTreeMap::<String, B256>::new();
    let mut files = BTreeMap::new();
    let named = anh_runtime::external::name_blobs(&model, |location| {
        if let Some(blob) = by_location.get(location) {
            return Ok(*blob);
        }
        let path = data_file(folder, location)?;
        let (blob, size) = hash_file(&path)
            .map_err(|e| format!("cannot read external data file {}: {e}", path.display()))?;
        by_location.insert(location.to_owned(), blob);
        files.insert(blob, BlobFile { path, size });
        Ok(blob)
    })
    .map_err(|e| format!("{}: {e}", file.display()))?;
    if by_location.is_empty() { Ok((model, files)) } else { Ok((named, files)) }
}

/// The data file `location` names, refused unless it is a relative path inside `folder`.
fn data_file(folder: &Path, location: &str) -> Result<PathBuf, String> {
    let relative = Path::new(location);
    let plain =
        !location.is_empty() && relative.components().all(|c| matches!(c, Component::Normal(_)));
    if !plain {
        return Err(format!(
            "external data location \"{location}\" is not a file name in the model's folder: \
             anh model push reads data files beside the model only"
        ));
    }
    Ok(folder.join(relative))
}

/// The keccak256 and size of a file, read in pieces.
fn hash_file(path: &Path) -> std::io::Result<(B256, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Keccak256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok((hasher.finalize(), size));
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
}

/// Uploads each blob the node does not hold yet, resuming uploads that stopped part way.
pub(crate) async fn upload(
    client: &Client,
    files: &BTreeMap<B256, BlobFile>,
    token: Option<&str>,
) -> Result<(), String> {
    let mut to_send = Vec::new();
    for (blob, file) in files {
        let status = blob_status(client, blob, file.size).await?;
        if status["stored"] == true {
            eprintln!("weight blob {blob} ({} bytes) is on the node already", file.size);
            continue;
        }
        // The node's word, bounded by the file: a node saying more than it can hold restarts.
        let offset = status["offset"].as_u64().filter(|&o| o <= file.size).unwrap_or(0);
        to_send.push((blob, file, offset));
    }
    let total: u64 = to_send.iter().map(|(_, f, offset)| f.size - offset).sum();
    if to_send.is_empty() {
        return Ok(());
    }
    eprintln!("uploading {} weight blob(s), {total} bytes", to_send.len());
    let mut progress = Progress::new(total as usize, "sent; the node has checked every blob");
    let mut sent = 0u64;
    for (blob, file, mut offset) in to_send {
        if offset > 0 {
            eprintln!("  resuming blob {blob} at byte {offset} of {}", file.size);
        }
        let mut reader = std::fs::File::open(&file.path)
            .map_err(|e| format!("cannot read {}: {e}", file.path.display()))?;
        let (mut failures, mut moves) = (0, 0);
        // Until the node says the blob is stored: a part already whole (its last check failed
        // to run) is completed by an empty last chunk.
        loop {
            let len = CHUNK.min((file.size - offset) as usize);
            let mut chunk = vec![0u8; len];
            reader
                .seek(SeekFrom::Start(offset))
                .and_then(|_| reader.read_exact(&mut chunk))
                .map_err(|e| format!("cannot read {}: {e}", file.path.display()))?;
            match put_chunk(client, blob, file.size, offset, chunk, token).await {
                Ok((now, stored)) => {
                    sent += now.saturating_sub(offset);
                    offset = now.min(file.size);
                    failures = 0;
                    progress.sent(sent.min(total) as usize);
                    if stored {
                        break;
                    }
                }
                Err(Resume::At(now)) if moves < RETRIES && now <= file.size => {
                    moves += 1;
                    offset = now;
                }
                Err(Resume::Retry(e)) if failures < RETRIES => {
                    failures += 1;
                    eprintln!("  {e}; resuming ({failures}/{RETRIES})");
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    let status = blob_status(client, blob, file.size).await?;
                    if status["stored"] == true {
                        break;
                    }
                    offset = status["offset"].as_u64().filter(|&o| o <= file.size).unwrap_or(0);
                }
                Err(Resume::At(now)) => {
                    return Err(format!(
                        "the node keeps moving blob {blob}'s upload (now at {now} of {} bytes): \
                         is another push of it running?",
                        file.size
                    ));
                }
                Err(Resume::Retry(e) | Resume::Fail(e)) => return Err(e),
            }
        }
    }
    Ok(())
}

/// What to do after a chunk was not taken.
enum Resume {
    /// The node's upload stands elsewhere: go on from there.
    At(u64),
    /// The network failed: ask where the upload stands and go on.
    Retry(String),
    /// The node refused the blob.
    Fail(String),
}

async fn blob_status(client: &Client, blob: &B256, size: u64) -> Result<Value, String> {
    let url = format!("{}/blobs/{blob}/status?size={size}", client.url);
    let response = client.http.get(&url).send().await.map_err(|e| format!("GET {url}: {e}"))?;
    response.json().await.map_err(|e| format!("GET {url}: not JSON: {e}"))
}

/// Sends one chunk; the offset the upload stands at after it, and whether the blob is stored.
async fn put_chunk(
    client: &Client,
    blob: &B256,
    size: u64,
    offset: u64,
    chunk: Vec<u8>,
    token: Option<&str>,
) -> Result<(u64, bool), Resume> {
    let url = format!("{}/blobs/{blob}?offset={offset}&size={size}", client.url);
    let mut request = client.http.put(&url).body(chunk);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response =
        request.send().await.map_err(|e| Resume::Retry(format!("PUT /blobs failed: {e}")))?;
    let status = response.status();
    let answer: Value = response
        .json()
        .await
        .map_err(|e| Resume::Retry(format!("PUT /blobs: not JSON ({status}): {e}")))?;
    let error = || answer["error"].as_str().unwrap_or("the node refused the blob").to_string();
    match status.as_u16() {
        200 => answer["offset"]
            .as_u64()
            .map(|offset| (offset, answer["stored"] == true))
            .ok_or_else(|| Resume::Fail(format!("PUT /blobs: {answer}"))),
        409 => answer["offset"]
            .as_u64()
            .map(Resume::At)
            .map_or_else(|| Err(Resume::Fail(error())), Err),
        503 => Err(Resume::Retry(error())),
        _ => Err(Resume::Fail(error())),
    }
}
