//! The model store: put/get, idempotence, hash verification, limits, persistence, parents.

use crate::common::fixture;
use alloy_primitives::{B256, keccak256};
use anh_runtime::{AnalysisError, Limits, ModelSource, ModelStore, RuntimeError, analyze};
use std::path::Path;

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// What `put` returns is the analysis of the bytes, and `get` returns the same bytes.
#[test]
fn put_then_get_round_trips() {
    let store = ModelStore::temporary().expect("store");
    let bytes = fixture("mlp.onnx");
    let info = store.put(&bytes).expect("accepted");
    assert_eq!(info, analyze(&bytes, &Limits::default()).expect("analysis"));
    assert_eq!(info.hash, keccak256(&bytes));
    assert!(store.contains(&info.hash));
    assert_eq!(store.get(&info.hash).as_deref(), Some(&bytes[..]));
    assert_eq!(store.info(&info.hash), Some(info.clone()));
    assert_eq!(store.models().expect("list"), vec![info.hash]);
    assert_eq!(
        files(store.dir()),
        vec![format!("{}.onnx", alloy_primitives::hex::encode(info.hash))]
    );
    // The ModelSource view agrees.
    assert_eq!(store.model_info(&info.hash), Some(info.clone()));
    assert_eq!(store.model_bytes(&info.hash).expect("bytes"), bytes);
}

/// Putting the same bytes twice returns the same info and leaves one file.
#[test]
fn put_is_idempotent() {
    let store = ModelStore::temporary().expect("store");
    let bytes = fixture("cnn.onnx");
    let first = store.put(&bytes).expect("first");
    let second = store.put(&bytes).expect("second");
    assert_eq!(first, second);
    assert_eq!(files(store.dir()).len(), 1);
}

/// Unknown hashes are absent, and `read` says so with a readable error.
#[test]
fn unknown_model_is_absent() {
    let store = ModelStore::temporary().expect("store");
    let hash = B256::repeat_byte(0xab);
    assert!(!store.contains(&hash));
    assert_eq!(store.get(&hash), None);
    assert_eq!(store.info(&hash), None);
    let e = store.read(&hash).unwrap_err();
    assert!(matches!(e, RuntimeError::UnknownModel(h) if h == hash));
    assert_eq!(
        e.to_string(),
        format!("model {hash} is not in the model store: push it with `anh model push`")
    );
}

/// A refused model leaves nothing at all in the store's folder.
#[test]
fn refused_model_writes_nothing() {
    let store = ModelStore::temporary().expect("store");
    for name in ["external_data.onnx", "custom_domain.onnx", "not_onnx.bin", "nested_bomb.onnx"] {
        let e = store.put(&fixture(name)).unwrap_err();
        assert!(matches!(e, RuntimeError::Analysis(_)), "{name}: {e}");
    }
    assert!(files(store.dir()).is_empty());
}

/// The size limit refuses a model before anything is written.
#[test]
fn size_limit_refuses_before_writing() {
    let bytes = fixture("mlp_784_256_10.onnx");
    let limits = Limits { max_model_bytes: 100_000, ..Limits::default() };
    let store = ModelStore::temporary_with_limits(limits).expect("store");
    let e = store.put(&bytes).unwrap_err();
    assert!(
        matches!(e, RuntimeError::Analysis(AnalysisError::TooLarge { limit: 100_000, .. })),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        format!("model is {} bytes, more than the limit of 100000 bytes", bytes.len())
    );
    assert!(files(store.dir()).is_empty());
    assert!(!store.contains(&keccak256(&bytes)));
}

/// A file corrupted on disk is never served: `get` and `verified_file` are `None` (the file
/// was verified when written, and is checked again since its length or modification time
/// changed), `read` says why.
#[test]
fn corrupt_file_is_not_served() {
    let store = ModelStore::temporary().expect("store");
    let info = store.put(&fixture("mlp.onnx")).expect("accepted");
    let path = store.model_path(&info.hash);
    let verified = store.verified_file(&info.hash).expect("verified when written");
    assert_eq!(verified, (path.clone(), fixture("mlp.onnx").len() as u64));
    assert_eq!(store.verified_file(&B256::ZERO), None);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let mut bytes = std::fs::read(&path).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, &bytes).expect("corrupt it");
    assert_eq!(store.verified_file(&info.hash), None, "changed on disk: checked again");
    assert_eq!(store.get(&info.hash), None);
    let e = store.read(&info.hash).unwrap_err();
    assert!(
        matches!(&e, RuntimeError::CorruptModel { expected, actual, .. } if *expected == info.hash && *actual == keccak256(&bytes)),
        "{e}"
    );
    // Putting the right bytes again repairs it.
    store.put(&fixture("mlp.onnx")).expect("re-put");
    assert_eq!(store.get(&info.hash), Some(fixture("mlp.onnx")));
}

/// A store reopened on the same folder finds its models and analyses them lazily, parents
/// included.
#[test]
fn reopened_store_keeps_models_and_parents() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (parent, child) = {
        let store = ModelStore::open(dir.path()).expect("open");
        let parent = store.put(&fixture("mlp.onnx")).expect("parent");
        let child = store.put_with_parent(&fixture("cnn.onnx"), Some(parent.hash)).expect("child");
        assert_eq!(child.parent, Some(parent.hash));
        (parent, child)
    };
    let store = ModelStore::open(dir.path()).expect("reopen");
    assert_eq!(store.models().expect("list").len(), 2);
    assert_eq!(store.info(&parent.hash), Some(parent));
    assert_eq!(store.info(&child.hash), Some(child.clone()));
    // The first parent recorded stays.
    let again =
        store.put_with_parent(&fixture("cnn.onnx"), Some(B256::repeat_byte(7))).expect("again");
    assert_eq!(again.parent, child.parent);
}

/// A temporary store's folder goes away with the store.
#[test]
fn temporary_store_cleans_up() {
    let store = ModelStore::temporary().expect("store");
    store.put(&fixture("mlp.onnx")).expect("put");
    let dir = store.dir().to_path_buf();
    assert!(dir.is_dir());
    drop(store);
    assert!(!dir.exists());
}

/// Concurrent puts of the same and different models from many threads all succeed and agree.
#[test]
fn concurrent_puts_agree() {
    let store = ModelStore::temporary().expect("store");
    let names = ["mlp.onnx", "cnn.onnx", "int64.onnx", "multi_io.onnx"];
    let infos: Vec<Vec<_>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let store = &store;
                s.spawn(move || {
                    names
                        .iter()
                        .cycle()
                        .skip(t)
                        .take(8)
                        .map(|n| store.put(&fixture(n)).expect("put"))
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("no panic")).collect()
    });
    assert_eq!(store.models().expect("list").len(), names.len());
    for info in infos.iter().flatten() {
        assert_eq!(store.info(&info.hash).as_ref(), Some(info));
    }
    assert_eq!(files(store.dir()).len(), names.len(), "no temporary files left");
}

/// A model kept in memory (what `eth_call` trains) is found by every read but written
/// nowhere, and does not survive the store; `keep` writes it, with its parent.
#[test]
fn scratch_models_stay_in_memory_until_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let parent = B256::repeat_byte(7);
    let bytes = fixture("mlp.onnx");
    let info = {
        let store = ModelStore::open(dir.path()).expect("open");
        let info = store.put_scratch(&bytes, parent).expect("kept in memory");
        assert_eq!(info.parent, Some(parent));
        assert_eq!(store.put_scratch(&bytes, parent).expect("again"), info, "idempotent");
        assert!(store.contains(&info.hash));
        assert_eq!(store.info(&info.hash), Some(info.clone()));
        assert_eq!(store.get(&info.hash), Some(bytes.clone()));
        assert_eq!(store.model_bytes(&info.hash).expect("a source serves it"), bytes);
        assert!(files(dir.path()).is_empty(), "nothing written: {:?}", files(dir.path()));
        assert!(store.models().expect("list").is_empty());
        info
    };
    let store = ModelStore::open(dir.path()).expect("reopen");
    assert!(!store.contains(&info.hash), "gone with the process");
    assert!(!store.keep(&info.hash).expect("nothing to keep"));

    store.put_scratch(&bytes, parent).expect("kept in memory");
    assert!(store.keep(&info.hash).expect("written"));
    assert_eq!(store.models().expect("list"), vec![info.hash]);
    let store = ModelStore::open(dir.path()).expect("reopen");
    assert_eq!(store.info(&info.hash), Some(info.clone()), "kept with its parent");
    assert!(store.keep(&info.hash).expect("on disk"));
    // A model on disk is left as it is.
    assert_eq!(store.put_scratch(&bytes, B256::repeat_byte(9)).expect("stored"), info);
}

/// Memory holds at most `SCRATCH_MODELS` models, dropping the oldest; a refused model is
/// not kept.
#[test]
fn scratch_models_are_bounded() {
    let store = ModelStore::temporary().expect("store");
    let models: Vec<B256> = (0..=anh_runtime::SCRATCH_MODELS as u64)
        .map(|seed| {
            let bytes = anh_runtime::synth::classifier(2, &[3], 2, seed);
            store.put_scratch(&bytes, B256::ZERO).expect("kept").hash
        })
        .collect();
    assert!(!store.contains(&models[0]), "the oldest is dropped");
    assert!(models[1..].iter().all(|m| store.contains(m)));
    assert!(files(store.dir()).is_empty());
    let refused = store.put_scratch(b"not onnx", B256::ZERO);
    assert!(matches!(refused, Err(RuntimeError::Analysis(_))), "{refused:?}");
    assert!(!store.contains(&keccak256(b"not onnx")));
}

/// A trained model is stored as a delta of its base when only initializers changed: on disk
/// it takes about the changed tensor, not the model; it reads back byte for byte (also from a
/// store opened again), is listed and contained; its own child is stored against the same
/// base; a corrupt delta is never served; a model whose graph differs is stored whole.
#[test]
fn trained_models_are_stored_as_deltas() {
    use anh_runtime::train::write_weights;
    let dir = tempfile::tempdir().unwrap();
    let store = ModelStore::open(dir.path()).unwrap();
    // Two layers, 512 × 512 and 512 × 2: training only the small one changes 4 KiB of 1 MiB.
    let root_bytes = anh_runtime::synth::classifier(4, &[512], 2, 3);
    let root = store.put(&root_bytes).unwrap().hash;
    let child_bytes = write_weights(&root_bytes, &[("w1".into(), vec![0.25; 1024])], &[]).unwrap();
    let child = store.put_with_parent(&child_bytes, Some(root)).unwrap();
    assert_eq!(child.parent, Some(root));
    assert!(store.is_delta(&child.hash));
    let (whole, delta) = (store.stored_size(&root), store.stored_size(&child.hash));
    assert!(delta < 8 * 1024 && whole > 8 * 1024, "delta {delta} of a {whole}-byte model");
    assert_eq!(store.read(&child.hash).unwrap(), child_bytes);
    assert!(store.contains(&child.hash));
    assert_eq!(store.models().unwrap().len(), 2);

    let grandchild_bytes =
        write_weights(&child_bytes, &[("b1".into(), vec![0.5; 2])], &[]).unwrap();
    let grandchild = store.put_with_parent(&grandchild_bytes, Some(child.hash)).unwrap();
    assert!(store.is_delta(&grandchild.hash));
    assert_eq!(
        std::fs::read_to_string(dir.path().join(format!("{}.base", hex(&grandchild.hash))))
            .unwrap()
            .trim(),
        root.to_string(),
        "one step from a whole file"
    );

    let reopened = ModelStore::open(dir.path()).unwrap();
    assert_eq!(reopened.read(&grandchild.hash).unwrap(), grandchild_bytes);
    assert_eq!(reopened.info(&grandchild.hash).unwrap().parent, Some(child.hash));

    // Corrupt the delta: never served.
    let path = dir.path().join(format!("{}.delta", hex(&child.hash)));
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    assert!(matches!(reopened.read(&child.hash), Err(RuntimeError::CorruptModel { .. })));
    assert_eq!(reopened.get(&child.hash), None);

    // Another graph under the same "parent": stored whole.
    let other = anh_runtime::synth::matmul(4, 2);
    let other = store.put_with_parent(&other, Some(root)).unwrap();
    assert!(!store.is_delta(&other.hash));
    assert!(store.model_path(&other.hash).is_file());

    // A corrupt base: its deltas rebuild to other bytes, which their hash check refuses.
    let base = store.model_path(&root);
    let mut bytes = std::fs::read(&base).unwrap();
    let at = bytes.len() - 1;
    bytes[at] ^= 1;
    std::fs::write(&base, bytes).unwrap();
    let fresh = ModelStore::open(dir.path()).unwrap();
    assert!(matches!(fresh.read(&grandchild.hash), Err(RuntimeError::CorruptModel { .. })));
}

fn hex(hash: &alloy_primitives::B256) -> String {
    alloy_primitives::hex::encode(hash)
}
