//! Models with external weights: blobs in the store, resumable blob uploads, a model naming a
//! path refused, and inference equal to the one-file model's.

use crate::common::{fixture, runtime};
use alloy_primitives::{B256, keccak256};
use anh_runtime::{
    AnalysisError, BlobStatus, HostTensor, ModelRuntime, ModelStore, RuntimeError, TensorData,
    external::{blob_location, externalize, name_blobs},
    onnx::{ModelProto, StringStringEntryProto},
    synth,
};
use prost::Message;
use std::sync::Arc;

/// The MLP fixture with its weights of 64 bytes or more in a data file named `weights.bin`,
/// then renamed to name that file's blob: (graph, blob bytes).
fn mlp_with_blob() -> (Vec<u8>, Vec<u8>) {
    let (graph, data) =
        externalize(&fixture("mlp_784_256_10.onnx"), "weights.bin", 64).expect("externalize");
    let blob = keccak256(&data);
    let graph = name_blobs(&graph, |location| {
        assert_eq!(location, "weights.bin");
        Ok(blob)
    })
    .expect("rename");
    (graph, data)
}

fn sample() -> HostTensor {
    let x: Vec<f32> = (0..2 * 784).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
    HostTensor::new(vec![2, 784], TensorData::F32(x)).expect("tensor")
}

/// A model whose weights are in a blob infers exactly as the same model in one file; its
/// analysis counts the blob's bytes in its size.
#[test]
fn external_weights_infer_like_the_one_file_model() {
    let store = Arc::new(ModelStore::temporary().expect("store"));
    let whole = fixture("mlp_784_256_10.onnx");
    let (graph, data) = mlp_with_blob();
    assert!(graph.len() < 4096, "the graph keeps no weights: {} bytes", graph.len());
    // The graph alone is refused: its blob is not there, and nothing is stored.
    let e = store.put(&graph).unwrap_err();
    assert!(matches!(e, RuntimeError::MissingBlob { .. }), "{e}");
    assert!(e.to_string().contains("upload it first (PUT /blobs/0x"), "{e}");
    assert!(!store.contains(&keccak256(&graph)));

    let blob = store.put_blob(&data).expect("blob");
    assert_eq!(store.blob_status(&blob), BlobStatus::Stored { size: data.len() as u64 });
    let info = store.put(&graph).expect("graph with its blob");
    let one_file = store.put(&whole).expect("one file");
    assert_eq!(info.hash, keccak256(&graph));
    // The 10 output biases (40 bytes) stayed in the file.
    assert_eq!(info.size, graph.len() as u64 + (784 * 256 + 256 + 256 * 10) * 4);
    assert_eq!(
        (&info.inputs, &info.outputs, info.macs()),
        (&one_file.inputs, &one_file.outputs, one_file.macs())
    );

    let runtime = runtime(store);
    let ours = runtime.run(info.hash, vec![sample()]).expect("runs");
    let theirs = runtime.run(one_file.hash, vec![sample()]).expect("runs");
    assert_eq!(ours, theirs);
    // Training refuses it by name (its file holds no weights to rewrite), before any work.
    let labels = HostTensor::new(vec![2], TensorData::I64(vec![1, 7])).expect("labels");
    let params = anh_primitives::TrainParams {
        steps: 1,
        learning_rate: 10u64.pow(16),
        loss: 2,
        optimizer: 1,
        trainable: Vec::new(),
        rank: 0,
    };
    let e = runtime.train(info.hash, vec![sample(), labels], &params, &|_, _| {}).unwrap_err();
    assert!(matches!(e, RuntimeError::ExternalWeights(m) if m == info.hash), "{e}");
    assert!(e.to_string().contains("does not train them yet"), "{e}");
    assert_eq!(runtime.stats().training_steps, 0);
}

/// A model that reads past the end of its blob is refused, naming both sizes.
#[test]
fn a_blob_too_short_for_its_model_is_refused() {
    let store = ModelStore::temporary().expect("store");
    let (graph, data) =
        externalize(&fixture("mlp_784_256_10.onnx"), "weights.bin", 64).expect("externalize");
    let short = &data[..data.len() - 4];
    let blob = store.put_blob(short).expect("blob");
    let graph = name_blobs(&graph, |_| Ok(blob)).expect("rename");
    let e = store.put(&graph).unwrap_err();
    assert!(
        matches!(e, RuntimeError::BlobTooShort { size, needs, .. } if size + 4 == needs),
        "{e}"
    );
    assert!(!store.contains(&keccak256(&graph)));
}

/// A GPT (embedding Gather, LayerNorm, attention) with its float weights in a blob infers as
/// the one-file GPT; its int64 initializers stay in the file.
#[test]
fn a_gpt_with_external_weights_infers_alike() {
    let store = Arc::new(ModelStore::temporary().expect("store"));
    let gpt = synth::gpt(synth::GptSpec {
        vocab: 32,
        context: 16,
        d_model: 32,
        heads: 4,
        layers: 2,
        seed: 3,
    });
    let (graph, data) = externalize(&gpt, "gpt.bin", 256).expect("externalize");
    let blob = store.put_blob(&data).expect("blob");
    let graph = name_blobs(&graph, |_| Ok(blob)).expect("rename");
    let external = store.put(&graph).expect("graph");
    let whole = store.put(&gpt).expect("one file");
    let tokens =
        HostTensor::new(vec![2, 16], TensorData::I64((0..32).map(|i| i * 5 % 32).collect()))
            .expect("tokens");
    let runtime = runtime(store);
    assert_eq!(
        runtime.run(external.hash, vec![tokens.clone()]).expect("runs"),
        runtime.run(whole.hash, vec![tokens]).expect("runs")
    );
}

/// A blob arrives in chunks, resumes where it stands, refuses a chunk elsewhere, and is
/// dropped when its bytes do not hash to its name.
#[test]
fn blob_uploads_resume_and_are_checked() {
    let store = ModelStore::temporary().expect("store");
    let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let blob = keccak256(&data);
    let size = data.len() as u64;
    assert_eq!(store.blob_status(&blob), BlobStatus::Absent);
    assert_eq!(
        store.append_blob(&blob, size, 0, &data[..4000]).expect("first"),
        BlobStatus::Partial { offset: 4000, size }
    );
    // A chunk that does not start where the upload stands says where it does.
    let e = store.append_blob(&blob, size, 3000, &data[3000..5000]).unwrap_err();
    assert!(matches!(e, RuntimeError::BlobOffset { offset: 3000, expected: 4000, .. }), "{e}");
    assert!(e.to_string().contains("the upload stands at 4000: resume from there"), "{e}");
    // An upload declaring another size is another part: it cannot hold up this one (and
    // fails its hash when complete).
    let other = store.append_blob(&blob, size + 1, 0, &data[..10]).expect("another part");
    assert_eq!(other, BlobStatus::Partial { offset: 10, size: size + 1 });
    assert_eq!(store.blob_status_of(&blob, Some(size)), BlobStatus::Partial { offset: 4000, size });
    assert_eq!(store.blob_status(&blob), BlobStatus::Partial { offset: 4000, size });
    // A chunk past its size, or an empty chunk that is not the last, is refused.
    let e = store.append_blob(&blob, size, 4000, &[0; 7000]).unwrap_err();
    assert!(e.to_string().contains("runs past its size of 10000 bytes"), "{e}");
    let e = store.append_blob(&blob, size, 4000, &[]).unwrap_err();
    assert!(e.to_string().contains("an empty chunk is taken only as the last one"), "{e}");
    // A reopened store (a restarted node) resumes from the same place.
    let reopened = ModelStore::open(store.dir()).expect("reopen");
    assert_eq!(
        reopened.blob_status_of(&blob, Some(size)),
        BlobStatus::Partial { offset: 4000, size }
    );
    assert_eq!(
        reopened.append_blob(&blob, size, 4000, &data[4000..]).expect("rest"),
        BlobStatus::Stored { size }
    );
    assert!(reopened.verified_blob(&blob).is_some());
    assert_eq!(std::fs::read(reopened.blob_path(&blob)).expect("blob file"), data);

    // Bytes that are not the name's: dropped, nothing left behind.
    let wrong = B256::repeat_byte(7);
    let e = store.append_blob(&wrong, 5, 0, b"hello").unwrap_err();
    assert!(
        matches!(e, RuntimeError::BlobHash { expected, size: 5, .. } if expected == wrong),
        "{e}"
    );
    assert!(e.to_string().starts_with("blob upload dropped: its 5 bytes hash to 0x"), "{e}");
    assert_eq!(store.blob_status(&wrong), BlobStatus::Absent);
    // A blob over the model size limit is refused before a byte is written.
    let small = ModelStore::temporary_with_limits(anh_runtime::Limits {
        max_model_bytes: 100,
        ..Default::default()
    })
    .expect("store");
    let e = small.append_blob(&blob, size, 0, &data[..10]).unwrap_err();
    assert!(e.to_string().contains("more than this node's model size limit of 100 bytes"), "{e}");
    assert_eq!(small.blob_status(&blob), BlobStatus::Absent);
}

/// A corrupted blob is not loaded: the model is unavailable with the reason, not run on
/// other bytes; the corrupt file is deleted, and the blob uploaded again serves the model.
#[test]
fn a_corrupt_blob_is_never_loaded() {
    let store = Arc::new(ModelStore::temporary().expect("store"));
    let (graph, data) = mlp_with_blob();
    let blob = store.put_blob(&data).expect("blob");
    let info = store.put(&graph).expect("graph");
    let mut bad = data.clone();
    bad[5000] ^= 1;
    std::fs::write(store.blob_path(&blob), &bad).expect("corrupt it");
    let runtime = runtime(store.clone());
    let e = runtime.run(info.hash, vec![sample()]).unwrap_err();
    assert!(matches!(e, RuntimeError::MissingBlob { blob: b, .. } if b == blob), "{e}");
    assert_eq!(store.blob_status(&blob), BlobStatus::Absent, "the corrupt file is gone");
    store.put_blob(&data).expect("uploaded again");
    runtime.run(info.hash, vec![sample()]).expect("runs");
}

fn with_location(graph: &[u8], location: &str) -> Vec<u8> {
    let mut model = ModelProto::decode(graph).expect("decode");
    for t in &mut model.graph.as_mut().expect("graph").initializer {
        for e in &mut t.external_data {
            if e.key == "location" {
                e.value = location.into();
            }
        }
    }
    model.encode_to_vec()
}

/// A location that is a path, or any other name than a blob's, is refused as before; so are
/// bad entries, and external data where it is not allowed.
#[test]
fn paths_and_bad_entries_are_refused() {
    let store = ModelStore::temporary().expect("store");
    let (graph, _) = mlp_with_blob();
    for location in [
        "/etc/passwd",
        "../weights.bin",
        "weights.bin",
        "subdir/x.blob",
        &format!("{}.blob", "A".repeat(64)),
        &blob_location(&B256::ZERO).replace(".blob", ""),
    ] {
        let e = store.put(&with_location(&graph, location)).unwrap_err();
        assert!(
            matches!(&e, RuntimeError::Analysis(AnalysisError::ExternalLocation { location: l, .. }) if l == location),
            "{location}: {e}"
        );
        assert!(e.to_string().contains("never a path"), "{e}");
    }
    // A length that is not the tensor's, an unknown entry.
    let mut model = ModelProto::decode(graph.as_slice()).expect("decode");
    let w = &mut model.graph.as_mut().expect("graph").initializer[0];
    w.external_data.retain(|e| e.key != "length");
    w.external_data.push(StringStringEntryProto { key: "length".into(), value: "12".into() });
    let e = store.put(&model.encode_to_vec()).unwrap_err();
    assert!(e.to_string().contains("length 12 is not its"), "{e}");
    let w = &mut model.graph.as_mut().expect("graph").initializer[0];
    w.external_data.push(StringStringEntryProto { key: "basepath".into(), value: "/".into() });
    let e = store.put(&model.encode_to_vec()).unwrap_err();
    assert!(e.to_string().contains("entry \"basepath\" is not allowed"), "{e}");
    // int64 tensors (shapes, indices) keep their bytes in the file.
    let gpt = synth::gpt(synth::GptSpec {
        vocab: 16,
        context: 8,
        d_model: 8,
        heads: 2,
        layers: 1,
        seed: 1,
    });
    let (graph, data) = externalize(&gpt, "w.bin", 1).expect("externalize");
    let graph = name_blobs(&graph, |_| Ok(keccak256(&data))).expect("rename");
    let mut model = ModelProto::decode(graph.as_slice()).expect("decode");
    let index = model
        .graph
        .as_mut()
        .expect("graph")
        .initializer
        .iter_mut()
        .find(|t| t.data_type == 7)
        .expect("an int64 initializer");
    let name = index.name.clone();
    index.raw_data.clear();
    index.int64_data.clear();
    index.data_location = 1;
    index.external_data = vec![
        StringStringEntryProto { key: "location".into(), value: blob_location(&B256::ZERO) },
        StringStringEntryProto { key: "length".into(), value: "8".into() },
    ];
    let e = store.put(&model.encode_to_vec()).unwrap_err();
    assert!(
        matches!(&e, RuntimeError::Analysis(AnalysisError::ExternalData { tensor }) if *tensor == name),
        "{e}"
    );
    assert!(store.models().expect("list").is_empty());
}
