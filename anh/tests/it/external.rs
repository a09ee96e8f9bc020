//! Models with external weights through a node: `PUT /blobs` (chunks, resume, refusals),
//! `anh model push` of a model in ONNX's external-data form, inference by `eth_call` and a
//! mined transaction equal to the one-file model's — and a model past 2 GB, where the machine
//! has room for it.

use crate::utils::*;
use alloy::{
    network::TransactionBuilder,
    primitives::{B256, Bytes, keccak256},
    providers::Provider,
    rpc::types::TransactionRequest,
    sol_types::SolCall,
};
use anh::NodeConfig;
use anh_precompiles::{
    abi::{IInfer, Tensor},
    infer,
};
use anh_runtime::external::{externalize, name_blobs};
use serde_json::{Value, json};
use std::{path::Path, process::Output};

fn f32s(shape: &[u64], values: &[f32]) -> Tensor {
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_be_bytes()).collect();
    Tensor { dtype: 1, shape: shape.to_vec(), data: data.into() }
}

fn values(t: &Tensor) -> Vec<f32> {
    t.data.chunks(4).map(|c| f32::from_be_bytes(c.try_into().unwrap())).collect()
}

async fn push(path: &Path, name: &str, url: &str) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_anh"))
        .args(["model", "push"])
        .arg(path)
        .args(["--name", name, "--rpc-url", url])
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("anh model push runs")
}

async fn eth_call_infer(url: &str, model: B256, inputs: &[Tensor]) -> Result<Vec<Tensor>, Value> {
    let data = Bytes::from(IInfer::inferCall { model, inputs: inputs.to_vec() }.abi_encode());
    let reply =
        rpc(url, "eth_call", json!([{ "to": infer::ADDRESS, "data": data }, "latest"])).await;
    match reply.get("error") {
        Some(error) => Err(error.clone()),
        None => {
            let bytes: Bytes = serde_json::from_value(reply["result"].clone()).unwrap();
            Ok(IInfer::inferCall::abi_decode_returns(&bytes).unwrap())
        }
    }
}

async fn status(http: &reqwest::Client, url: &str, blob: B256) -> Value {
    http.get(format!("{url}/blobs/{blob}/status")).send().await.unwrap().json().await.unwrap()
}

/// A 4.4 MB model in ONNX's external-data form (`m.onnx` naming `m.onnx.data`): `PUT /blobs`
/// refuses what it must (no offset, a chunk out of place, bytes that are not their name, the
/// graph before its blob); `anh model push` resumes an upload that stopped part way and
/// registers the model; it infers by `eth_call` and in a mined transaction exactly as the
/// same model in one file; pushing again sends no blob.
#[tokio::test(flavor = "multi_thread")]
async fn push_uploads_external_weights_resuming_and_they_infer_alike() {
    let node = node().await;
    let url = node.http_endpoint();
    let http = reqwest::Client::new();
    let whole = anh_runtime::synth::matmul(1100, 1000);
    let (graph, data) = externalize(&whole, "m.onnx.data", 1024).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.onnx"), &graph).unwrap();
    std::fs::write(dir.path().join("m.onnx.data"), &data).unwrap();
    let blob = keccak256(&data);
    let named = name_blobs(&graph, |_| Ok(blob)).unwrap();
    let size = data.len();

    assert_eq!(
        status(&http, &url, blob).await,
        json!({ "hash": blob, "stored": false, "offset": 0, "size": null })
    );
    // No offset and size: refused.
    let response = http.put(format!("{url}/blobs/{blob}")).body(vec![1, 2]).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let answer: Value = response.json().await.unwrap();
    assert!(answer["error"].as_str().unwrap().contains("needs ?offset="), "{answer}");
    // The first MiB arrives, then the connection "drops".
    let first = 1 << 20;
    let response = http
        .put(format!("{url}/blobs/{blob}?offset=0&size={size}"))
        .body(data[..first].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer, json!({ "hash": blob, "stored": false, "offset": first, "size": size }));
    // A chunk out of place: 409 and where to resume.
    let response = http
        .put(format!("{url}/blobs/{blob}?offset=0&size={size}"))
        .body(data[..10].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 409);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["offset"], first);
    assert!(answer["error"].as_str().unwrap().contains("resume from there"), "{answer}");
    // The graph before its blob is complete: refused, naming the blob.
    let response = http.put(format!("{url}/models")).body(named.clone()).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let answer: Value = response.json().await.unwrap();
    assert!(
        answer["error"].as_str().unwrap().contains(&format!("needs weight blob {blob}")),
        "{answer}"
    );
    // Bytes that do not hash to their name are dropped.
    let wrong = B256::repeat_byte(1);
    let response = http
        .put(format!("{url}/blobs/{wrong}?offset=0&size=3"))
        .body(vec![1, 2, 3])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let answer: Value = response.json().await.unwrap();
    assert!(answer["error"].as_str().unwrap().starts_with("blob upload dropped"), "{answer}");
    assert_eq!(status(&http, &url, wrong).await["offset"], 0);

    // `anh model push` resumes the blob and registers the model.
    let output = push(&dir.path().join("m.onnx"), "external", &url).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let model = keccak256(&named);
    assert_eq!(String::from_utf8(output.stdout).unwrap(), format!("{model}\n"));
    assert!(
        stderr.contains(&format!("resuming blob {blob} at byte {first} of {size}")),
        "{stderr}"
    );
    assert!(
        stderr.contains("uploaded 100%") && stderr.contains("the node has checked every blob"),
        "{stderr}"
    );
    assert_eq!(
        status(&http, &url, blob).await,
        json!({ "hash": blob, "stored": true, "offset": size, "size": size })
    );
    let served =
        http.get(format!("{url}/blobs/{blob}")).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(served.as_ref(), data.as_slice());
    let info = rpc(&url, "anh_getModel", json!([model])).await["result"].clone();
    assert_eq!(info["size"], named.len() + 1100 * 1000 * 4, "{info}");
    assert_eq!(info["registration"]["name"], "external");

    // It infers as the one-file model, by eth_call and in a mined transaction.
    let output = push(&write(dir.path(), "whole.onnx", &whole), "whole", &url).await;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let x: Vec<f32> = (0..2 * 1100).map(|i| ((i * 31 % 97) as f32 - 48.0) / 48.0).collect();
    let inputs = [f32s(&[2, 1100], &x)];
    let ours = eth_call_infer(&url, model, &inputs).await.unwrap();
    let theirs = eth_call_infer(&url, keccak256(&whole), &inputs).await.unwrap();
    assert_eq!(ours, theirs);
    assert_eq!(ours[0].shape, vec![2, 1000]);
    assert!(values(&ours[0]).iter().any(|v| *v != 0.0));
    let provider = provider(&node, KEY0);
    let call = IInfer::inferCall { model, inputs: inputs.to_vec() }.abi_encode();
    let tx = TransactionRequest::default()
        .with_to(infer::ADDRESS)
        .with_input(call)
        .with_gas_limit(29_000_000);
    let receipt = send(&provider, tx).await;
    assert!(receipt.status(), "the mined inference succeeds");

    // Pushing again sends no blob and no transaction.
    let block = provider.get_block_number().await.unwrap();
    let output = push(&dir.path().join("m.onnx"), "external", &url).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("is on the node already") && stderr.contains("registered already"),
        "{stderr}"
    );
    assert_eq!(provider.get_block_number().await.unwrap(), block);
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// `anh model push` reads data files beside the model only: a model naming a path outside
/// its folder, or a missing file, fails before anything is sent.
#[tokio::test(flavor = "multi_thread")]
async fn push_refuses_data_files_outside_the_models_folder() {
    let node = node().await;
    let url = node.http_endpoint();
    let whole = anh_runtime::synth::matmul(64, 64);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret"), vec![0u8; 64 * 64 * 4]).unwrap();
    let inner = dir.path().join("models");
    std::fs::create_dir(&inner).unwrap();
    for (location, reason) in [
        (
            "../secret",
            "external data location \"../secret\" is not a file name in the model's folder",
        ),
        (
            "/etc/passwd",
            "external data location \"/etc/passwd\" is not a file name in the model's folder",
        ),
        ("missing.bin", "cannot read external data file"),
    ] {
        let (graph, _) = externalize(&whole, location, 1024).unwrap();
        let output = push(&write(&inner, "m.onnx", &graph), "m", &url).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{location}: {stderr}");
        assert!(stderr.contains(reason), "{location}: {stderr}");
        assert!(output.stdout.is_empty());
    }
    let stats = rpc(&url, "anh_stats", json!([])).await;
    assert!(stats["result"].is_object());
    let stored = std::fs::read_dir(node.models().store().dir()).unwrap().count();
    assert_eq!(stored, 0, "nothing was uploaded");
}

/// This process's resident memory: anonymous (allocated) and file-backed (memory-mapped).
fn memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map_or("?".into(), |v| v.trim().to_string())
    };
    format!("resident: {} allocated, {} mapped from files", field("RssAnon:"), field("RssFile:"))
}

/// Why this machine cannot hold the model past 2 GB, if it cannot (or `ANH_SKIP_LARGE_MODEL`
/// is set): it needs about 12 GiB of free memory and 6 GiB of free disk.
fn no_room_for_large_model(dir: &Path) -> Option<String> {
    if std::env::var_os("ANH_SKIP_LARGE_MODEL").is_some() {
        return Some("ANH_SKIP_LARGE_MODEL is set".into());
    }
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let available_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    if available_kib < 12 << 20 {
        return Some(format!("{} MiB of memory available, 12 GiB needed", available_kib >> 10));
    }
    let df = std::process::Command::new("df").arg("-Pk").arg(dir).output().ok()?;
    let free_kib: u64 = String::from_utf8_lossy(&df.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
        .unwrap_or(0);
    (free_kib < 6 << 20).then(|| format!("{} MiB of disk free, 6 GiB needed", free_kib >> 10))
}

/// A model past protobuf's 2 GB limit — `y = [x · wa, x · wb]` with `wa`, `wb` float32
/// [32768, 8448] of random values, 2.06 GiB together, in one data file beside the graph — is
/// pushed (its blob in chunks), registered, and run by `eth_call` and in a mined transaction:
/// one-hot rows of `x` give exactly the weights' rows, read back from the data file. Skipped where the machine has no room
/// (see `no_room_for_large_model`); it prints what each step took.
#[tokio::test(flavor = "multi_thread")]
async fn a_model_past_2_gb_uploads_registers_and_infers_in_a_mined_transaction() {
    use anh_runtime::onnx::{ModelProto, StringStringEntryProto};
    use prost::Message;
    use std::{
        io::{Read, Seek, SeekFrom, Write},
        time::Instant,
    };
    const K: usize = 32768;
    const N: usize = 16896;
    let dir = tempfile::tempdir().unwrap();
    if let Some(reason) = no_room_for_large_model(dir.path()) {
        eprintln!("skipped: {reason}");
        return;
    }
    let size = K * N * 4;
    assert!(size as u64 > 2 << 30);
    // The graph: `y = Concat(x · wa, x · wb)`, `wa` and `wb` [K, N/2] one after the other in
    // one data file (each tensor under 2 GiB, as exporters split them; the file past it).
    let mut model = ModelProto::decode(anh_runtime::synth::matmul(1, 1).as_slice()).unwrap();
    let graph = model.graph.as_mut().unwrap();
    let entry = |key: &str, value: String| StringStringEntryProto { key: key.into(), value };
    let half = size / 2;
    let mut wa = graph.initializer[0].clone();
    wa.name = "wa".into();
    wa.dims = vec![K as i64, (N / 2) as i64];
    wa.raw_data.clear();
    wa.data_location = 1;
    wa.external_data = vec![
        entry("location", "big.onnx.data".into()),
        entry("offset", "0".into()),
        entry("length", half.to_string()),
    ];
    let mut wb = wa.clone();
    wb.name = "wb".into();
    wb.external_data[1].value = half.to_string();
    graph.initializer = vec![wa, wb];
    let mut node = graph.node[0].clone();
    node.input = vec!["x".into(), "wa".into()];
    node.output = vec!["ya".into()];
    let mut second = node.clone();
    second.input[1] = "wb".into();
    second.output = vec!["yb".into()];
    let mut concat = node.clone();
    concat.op_type = "Concat".into();
    concat.input = vec!["ya".into(), "yb".into()];
    concat.output = vec!["y".into()];
    concat.attribute = vec![anh_runtime::onnx::AttributeProto {
        name: "axis".into(),
        r#type: 2,
        i: 1,
        ..Default::default()
    }];
    graph.node = vec![node, second, concat];
    for (io, n) in [(&mut graph.input[0], K), (&mut graph.output[0], N)] {
        let shape =
            io.r#type.as_mut().unwrap().tensor_type.as_mut().unwrap().shape.as_mut().unwrap();
        shape.dim[1].dim_value = Some(n as i64);
    }
    let graph_bytes = model.encode_to_vec();
    let model_path = write(dir.path(), "big.onnx", &graph_bytes);
    // Random weights: a 16 MiB block of them, written again and again from a moving start (a
    // whole float's: a start inside one would make other, maybe not finite, floats).
    let started = Instant::now();
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let block: Vec<u8> = (0..4 << 20)
        .flat_map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.02).to_le_bytes()
        })
        .collect();
    let mut file =
        std::io::BufWriter::new(std::fs::File::create(dir.path().join("big.onnx.data")).unwrap());
    let (mut written, mut turn) = (0, 0);
    while written < size {
        let start = (turn * 4_099_997 * 4) % block.len();
        for part in [&block[start..], &block[..start]] {
            let n = part.len().min(size - written);
            file.write_all(&part[..n]).unwrap();
            written += n;
        }
        turn += 1;
    }
    file.flush().unwrap();
    drop(file);
    eprintln!("wrote a {size}-byte weight file in {:.1?}", started.elapsed());

    let genesis = anh_evm_host::GenesisConfig { gas_limit: 2_000_000_000, ..Default::default() };
    let mut config = NodeConfig { genesis, ..NodeConfig::test() };
    config.dnn.max_model_size = 4 << 30;
    let node = node_with(config).await;
    let url = node.http_endpoint();
    let started = Instant::now();
    let output = push(&model_path, "big", &url).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    eprintln!("pushed and registered in {:.1?}:\n{stderr}", started.elapsed());
    let model: B256 = String::from_utf8(output.stdout).unwrap().trim().parse().unwrap();
    let info = rpc(&url, "anh_getModel", json!([model])).await["result"].clone();
    assert_eq!(info["registration"]["name"], "big", "{info}");
    assert!(info["size"].as_u64().unwrap() > size as u64, "{info}");

    // One-hot rows pick rows of w, exactly.
    let rows = [0, 12_345, K - 1];
    let mut x = vec![0f32; rows.len() * K];
    for (r, &i) in rows.iter().enumerate() {
        x[r * K + i] = 1.0;
    }
    let inputs = [f32s(&[rows.len() as u64, K as u64], &x)];
    let mut data = std::fs::File::open(dir.path().join("big.onnx.data")).unwrap();
    let mut want = Vec::new();
    for &i in &rows {
        for start in [0, half] {
            let mut row = vec![0u8; N * 2];
            data.seek(SeekFrom::Start((start + i * N * 2) as u64)).unwrap();
            data.read_exact(&mut row).unwrap();
            want.extend(row.chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())));
        }
    }
    for attempt in ["cold", "warm"] {
        let started = Instant::now();
        let outputs = eth_call_infer(&url, model, &inputs).await.unwrap();
        eprintln!("eth_call infer ({attempt}): {:.1?}; {}", started.elapsed(), memory());
        assert_eq!(outputs[0].shape, vec![rows.len() as u64, N as u64]);
        let got = values(&outputs[0]);
        let wrong: Vec<usize> = (0..want.len()).filter(|&i| got[i] != want[i]).collect();
        assert!(
            wrong.is_empty(),
            "the rows of w, bit for bit: {} of {} differ, first at {:?}: {:?} vs {:?}",
            wrong.len(),
            want.len(),
            wrong.first(),
            wrong.iter().take(4).map(|&i| got[i]).collect::<Vec<_>>(),
            wrong.iter().take(4).map(|&i| want[i]).collect::<Vec<_>>()
        );
    }
    let provider = provider(&node, KEY0);
    let call = IInfer::inferCall { model, inputs: inputs.to_vec() }.abi_encode();
    let tx = TransactionRequest::default()
        .with_to(infer::ADDRESS)
        .with_input(call)
        .with_gas_limit(1_500_000_000);
    let started = Instant::now();
    let receipt = send(&provider, tx).await;
    assert!(receipt.status(), "the mined inference succeeds");
    eprintln!("mined infer: {} gas, {:.1?}; {}", receipt.gas_used, started.elapsed(), memory());
}
