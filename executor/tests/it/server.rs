//! The executor's HTTP server on a free port, a mock node serving model files, and
//! [`RemoteMember`] as the committee's client: authentication, limits, model fetching with
//! hash checks, and a committee mixing remote and in-process members.

use crate::common::*;
use alloy_primitives::{Address, B256, Bytes};
use anh_executor::{
    Executor, ExecutorError, ExecutorKey, Member, NodeAuth, NodeModelSource, RemoteMember,
    ServerLimits,
    auth::{
        BODY_HASH_HEADER, RequestHeaders, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign_request,
        unix_now,
    },
    router,
};
use anh_primitives::{DnnOracle, JobLedger, Rule, job::encode_tensors, signature::address_of};
use anh_runtime::{ModelRuntime, ModelStore};
use axum::{
    Router,
    extract::{Path, State},
    http::StatusCode,
    response::IntoResponse,
    routing::get,
};
use k256::ecdsa::SigningKey;
use parking_lot::Mutex;
use serde_json::Value;
use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

/// The node's key (its requests to executors are signed with it).
fn node_key() -> SigningKey {
    signing_key(200)
}

/// A node that serves model files at `GET /models/{hash}`: whatever bytes it is given for a
/// hash, right or wrong.
#[derive(Debug, Default)]
struct MockNode {
    files: Mutex<HashMap<B256, Vec<u8>>>,
    gets: AtomicUsize,
}

async fn serve_model(
    State(node): State<Arc<MockNode>>,
    Path(hash): Path<String>,
) -> impl IntoResponse {
    node.gets.fetch_add(1, Ordering::SeqCst);
    let hash: B256 = hash.parse().unwrap();
    match node.files.lock().get(&hash) {
        Some(bytes) => (StatusCode::OK, bytes.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, "no such model").into_response(),
    }
}

/// Serves `app` on a free port of 127.0.0.1; returns its URL.
fn serve(rt: &tokio::runtime::Runtime, app: Router) -> String {
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    })
}

/// A mock node serving mlp.onnx and int64.onnx under their hashes.
fn start_node(world: &World) -> (Arc<MockNode>, String) {
    let node = Arc::new(MockNode::default());
    node.files.lock().insert(world.mlp.hash, fixture("mlp.onnx"));
    node.files.lock().insert(world.int64.hash, fixture("int64.onnx"));
    let app = Router::new()
        .route("/models/{hash}", get(serve_model))
        .route("/blobs/{hash}", get(serve_model))
        .with_state(node.clone());
    let url = serve(&world.rt, app);
    (node, url)
}

/// An `anh executor` with key `i`, fetching models from `node_url`, serving the node key.
struct RemoteExecutor {
    url: String,
    executor: Arc<Executor>,
    store: Arc<ModelStore>,
}

fn start_executor(
    world: &World,
    node_url: &str,
    i: u8,
    limits: ServerLimits,
    delay: Option<Duration>,
) -> RemoteExecutor {
    let store = Arc::new(ModelStore::temporary().unwrap());
    let source =
        Arc::new(NodeModelSource::new(node_url, store.clone(), world.rt.handle().clone()).unwrap());
    let mut runtime: Arc<dyn ModelRuntime> = ort(source.clone());
    if let Some(delay) = delay {
        runtime = Arc::new(SlowRuntime { inner: runtime, delay });
    }
    let executor = Arc::new(Executor::new(ExecutorKey::new(signing_key(i)), runtime, source));
    let auth = NodeAuth::new([address_of(&node_key())]);
    let url = serve(&world.rt, router(executor.clone(), limits, auth));
    RemoteExecutor { url, executor, store }
}

/// POSTs `body` to `url` with the given signature headers; the status and JSON answer.
fn post(
    world: &World,
    url: &str,
    body: Vec<u8>,
    headers: Option<RequestHeaders>,
) -> (StatusCode, Value) {
    world.rt.block_on(async {
        let mut request = reqwest::Client::new().post(url).body(body);
        if let Some(RequestHeaders { timestamp, signature, body_hash }) = headers {
            request =
                request.header(TIMESTAMP_HEADER, timestamp).header(SIGNATURE_HEADER, signature);
            if !body_hash.is_empty() {
                request = request.header(BODY_HASH_HEADER, body_hash);
            }
        }
        let response = request.send().await.unwrap();
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        (status, response.json().await.unwrap_or(Value::Null))
    })
}

fn signed(key: &SigningKey, timestamp: u64, body: &[u8]) -> Option<RequestHeaders> {
    Some(sign_request(key, timestamp, body).unwrap())
}

/// Only requests signed by a served node's key, with a fresh timestamp, are served: an
/// unsigned request, another key, and a stale timestamp get 401 with the reason.
#[test]
fn requests_must_be_signed_by_a_served_node() {
    let world = World::new(0);
    let (_node, node_url) = start_node(&world);
    let remote = start_executor(&world, &node_url, 1, ServerLimits::default(), None);
    let compute = format!("{}/v1/compute", remote.url);
    let job = infer_job(&world.mlp, &mlp_input(0.0), Rule::EXACT);
    let body = serde_json::to_vec(&job).unwrap();
    let now = unix_now();
    let cases = [
        ("unsigned", None, "missing"),
        (
            "wrong node key",
            signed(&signing_key(201), now, &body),
            "not a node this executor serves",
        ),
        ("stale timestamp", signed(&node_key(), now - 1_000, &body), "away from"),
        ("future timestamp", signed(&node_key(), now + 1_000, &body), "away from"),
        (
            "signature of another body",
            signed(&node_key(), now, b"{}"),
            "not to the signed x-anh-body-hash",
        ),
        (
            "no body hash",
            signed(&node_key(), now, &body)
                .map(|h| RequestHeaders { body_hash: String::new(), ..h }),
            "missing or malformed x-anh-body-hash",
        ),
        (
            "the hash of another body",
            signed(&node_key(), now, &body).map(|h| RequestHeaders {
                body_hash: alloy_primitives::keccak256(b"{}").to_string(),
                ..h
            }),
            "not a node this executor serves",
        ),
    ];
    for (name, headers, want) in cases {
        let (status, answer) = post(&world, &compute, body.clone(), headers);
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {answer}");
        assert_eq!(answer["code"], "unauthorized", "{name}");
        assert!(answer["error"].as_str().unwrap().contains(want), "{name}: {answer}");
    }
    assert_eq!(remote.executor.stats().computed, 0, "nothing ran");
    let (status, answer) = post(&world, &compute, body.clone(), signed(&node_key(), now, &body));
    assert_eq!(status, StatusCode::OK, "{answer}");
    let want = encode_tensors(&world.runtime.run(world.mlp.hash, mlp_input(0.0)).unwrap()).unwrap();
    assert_eq!(answer["job"], job.id().to_string());
    assert_eq!(answer["output"], want.to_string());
    // Health is open, and shows the executor's address.
    let member =
        world.rt.block_on(RemoteMember::connect(&remote.url, Arc::new(node_key()))).unwrap();
    assert_eq!(member.address(), remote.executor.address());
    // A RemoteMember with a key the executor does not serve is told so.
    let stranger =
        RemoteMember::new(&remote.url, remote.executor.address(), Arc::new(signing_key(201)))
            .unwrap();
    let error = world.rt.block_on(stranger.compute(Arc::new(job))).unwrap_err();
    assert!(matches!(error, ExecutorError::Unauthorized(_)), "{error}");
}

/// A body over the limit gets 413 (after the headers were checked), and nothing runs.
#[test]
fn oversized_body_is_refused() {
    let world = World::new(0);
    let (_node, node_url) = start_node(&world);
    let limits = ServerLimits { max_body_bytes: 1024, ..ServerLimits::default() };
    let remote = start_executor(&world, &node_url, 1, limits, None);
    let compute = format!("{}/v1/compute", remote.url);
    let job = infer_job(&world.mlp, &mlp_input(0.0), Rule::EXACT);
    let mut big = job.clone();
    big.payload = Bytes::from(vec![0u8; 4096]);
    let body = serde_json::to_vec(&big).unwrap();
    let (status, answer) =
        post(&world, &compute, body.clone(), signed(&node_key(), unix_now(), &body));
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(answer["code"], "too-large");
    let (status, _) = post(&world, &compute, body, None);
    assert_eq!(status, StatusCode::UNAUTHORIZED, "headers are checked before the body is read");
    let member =
        RemoteMember::new(&remote.url, remote.executor.address(), Arc::new(node_key())).unwrap();
    let error = world.rt.block_on(member.compute(Arc::new(big))).unwrap_err();
    assert!(matches!(error, ExecutorError::TooLarge(_)), "{error}");
    assert_eq!(remote.executor.stats().computed, 0);
    // A job within the limit runs.
    assert!(world.rt.block_on(member.compute(Arc::new(job))).is_ok());
}

/// With its slot taken by a slow job and no queue, an executor answers 503 "busy"; the slow
/// job still completes.
#[test]
fn busy_executor_answers_503() {
    let world = World::new(0);
    let (_node, node_url) = start_node(&world);
    let limits = ServerLimits { max_concurrent: 1, max_queue: 0, ..ServerLimits::default() };
    let remote = start_executor(&world, &node_url, 1, limits, Some(Duration::from_secs(2)));
    let member = Arc::new(
        RemoteMember::new(&remote.url, remote.executor.address(), Arc::new(node_key())).unwrap(),
    );
    let slow_job = Arc::new(infer_job(&world.mlp, &mlp_input(0.0), Rule::EXACT));
    let slow = {
        let member = member.clone();
        world.rt.spawn(async move { member.compute(slow_job).await })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while world.rt.block_on(member.health()).unwrap().busy == 0 {
        assert!(std::time::Instant::now() < deadline, "the slow job never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let other = Arc::new(infer_job(&world.mlp, &mlp_input(1.0), Rule::EXACT));
    let error = world.rt.block_on(member.compute(other.clone())).unwrap_err();
    assert!(matches!(&error, ExecutorError::Busy(m) if m.contains("running")), "{error}");
    let body = serde_json::to_vec(&*other).unwrap();
    let (status, answer) = post(
        &world,
        &format!("{}/v1/compute", remote.url),
        body.clone(),
        signed(&node_key(), unix_now(), &body),
    );
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert!(world.rt.block_on(slow).unwrap().is_ok(), "the slow job completes");
    assert_eq!(world.rt.block_on(member.health()).unwrap().busy, 0);
}

/// A model whose bytes from the node do not hash to its name is refused, and nothing is
/// stored; the real bytes are fetched once and cached.
#[test]
fn model_with_wrong_hash_is_refused() {
    let world = World::new(0);
    let (node, node_url) = start_node(&world);
    node.files.lock().insert(world.mlp.hash, fixture("int64.onnx"));
    let remote = start_executor(&world, &node_url, 1, ServerLimits::default(), None);
    let member =
        RemoteMember::new(&remote.url, remote.executor.address(), Arc::new(node_key())).unwrap();
    let job = Arc::new(infer_job(&world.mlp, &mlp_input(0.0), Rule::EXACT));
    let error = world.rt.block_on(member.compute(job.clone())).unwrap_err();
    match &error {
        ExecutorError::ModelUnavailable { model, reason } => {
            assert_eq!(*model, world.mlp.hash);
            assert!(reason.contains("keccak256"), "{reason}");
        }
        other => panic!("expected a refused model, got {other}"),
    }
    assert!(remote.store.models().unwrap().is_empty(), "nothing stored");
    // The node serves the right bytes now: fetched once, then from the executor's store.
    node.files.lock().insert(world.mlp.hash, fixture("mlp.onnx"));
    let gets = node.gets.load(Ordering::SeqCst);
    world.rt.block_on(member.compute(job)).unwrap();
    let again = Arc::new(infer_job(&world.mlp, &mlp_input(5.0), Rule::EXACT));
    world.rt.block_on(member.compute(again)).unwrap();
    assert_eq!(node.gets.load(Ordering::SeqCst), gets + 1);
    assert_eq!(remote.store.models().unwrap(), vec![world.mlp.hash]);
    // A model the node does not have.
    let unknown = Arc::new(infer_job(&world.mlp, &mlp_input(0.0), Rule::EXACT));
    let unknown = Arc::new(anh_executor::Job { model: B256::repeat_byte(9), ..(*unknown).clone() });
    let error = world.rt.block_on(member.compute(unknown)).unwrap_err();
    assert!(matches!(error, ExecutorError::ModelUnavailable { .. }), "{error}");
}

/// A model whose weights are in a blob: the executor fetches the model, then the blob it
/// names, checks both against their hashes, and runs it as the one-file model; a blob whose
/// bytes are not its name is refused and not kept.
#[test]
fn a_model_with_external_weights_is_fetched_with_its_blob() {
    use anh_runtime::external::{externalize, name_blobs};
    let world = World::new(0);
    let (node, node_url) = start_node(&world);
    let (graph, data) = externalize(&fixture("mlp.onnx"), "w.bin", 16).unwrap();
    let blob = alloy_primitives::keccak256(&data);
    let graph = name_blobs(&graph, |_| Ok(blob)).unwrap();
    let staging = ModelStore::temporary().unwrap();
    staging.put_blob(&data).unwrap();
    let info = staging.put(&graph).unwrap();
    node.files.lock().insert(info.hash, graph);
    // First the node serves wrong bytes under the blob's name.
    node.files.lock().insert(blob, vec![0; data.len()]);
    let remote = start_executor(&world, &node_url, 1, ServerLimits::default(), None);
    let member =
        RemoteMember::new(&remote.url, remote.executor.address(), Arc::new(node_key())).unwrap();
    let job = Arc::new(infer_job(&info, &mlp_input(0.5), Rule::EXACT));
    let error = world.rt.block_on(member.compute(job.clone())).unwrap_err();
    assert!(
        matches!(&error, ExecutorError::ModelUnavailable { reason, .. } if reason.contains("blob upload dropped")),
        "{error}"
    );
    assert!(remote.store.models().unwrap().is_empty(), "nothing stored");
    assert_eq!(remote.store.blob_status(&blob), anh_runtime::BlobStatus::Absent);
    // No bytes at all under its name: refused alike (not fetched again and again).
    node.files.lock().insert(blob, Vec::new());
    let gets = node.gets.load(Ordering::SeqCst);
    let error = world.rt.block_on(member.compute(job.clone())).unwrap_err();
    assert!(
        matches!(&error, ExecutorError::ModelUnavailable { reason, .. } if reason.contains("its 0 bytes hash to")),
        "{error}"
    );
    // The model, then its blob, once per look-up (the analysis, then the run): no loop.
    assert!(node.gets.load(Ordering::SeqCst) - gets <= 4, "fetched again and again");

    node.files.lock().insert(blob, data);
    let output = world.rt.block_on(member.compute(job)).unwrap();
    let want = world.runtime.run(world.mlp.hash, mlp_input(0.5)).unwrap();
    assert_eq!(output, encode_tensors(&want).unwrap());
    assert_eq!(remote.store.models().unwrap(), vec![info.hash]);
    assert!(remote.store.verified_blob(&blob).is_some());
}

/// A committee of two in-process executors and one `anh executor` over HTTP (t = 3, so the
/// remote one must sign) settles; a deterministic failure reads the same through HTTP as in
/// process; a refusal comes back as a refusal.
#[test]
fn remote_member_settles_with_in_process_members() {
    let world = World::new(2);
    let (_node, node_url) = start_node(&world);
    let remote = start_executor(&world, &node_url, 3, ServerLimits::default(), None);
    let member = Arc::new(
        world.rt.block_on(RemoteMember::connect(&remote.url, Arc::new(node_key()))).unwrap(),
    );
    assert_eq!(member.describe(), remote.url);
    let mut members = world.members();
    members.push(member.clone());
    let oracle = world.oracle(members, 3, Duration::from_secs(10));
    let inputs = mlp_input(0.25);
    let want = world.runtime.run(world.mlp.hash, inputs.clone()).unwrap();
    assert_eq!(infer(&oracle, &world.mlp, inputs.clone(), Rule::DEFAULT).unwrap(), want);
    let records = oracle.take_records();
    assert_eq!(records[0].signatures.len(), 3);
    oracle.committee().verify(CHAIN_ID, &records[0]).unwrap();
    assert_eq!(remote.executor.stats().signed, 1);

    // ONNX Runtime's failure is the same message over HTTP: t = 3 agree and sign it (the
    // remote one through /v1/attest-failure).
    let error =
        infer(&oracle, &world.int64, int64_input([0, 11, 0, 0, 0]), Rule::DEFAULT).unwrap_err();
    assert!(error.to_string().contains("Gather"), "{error}");
    let record = &oracle.take_records()[0];
    assert!(!record.is_settled());
    assert_eq!(record.signatures.len(), 3);
    oracle.committee().verify(CHAIN_ID, record).expect("a signed failure verifies");
    assert_eq!(remote.executor.stats().signed, 2);

    // A block of an output and a failure, sealed in one round: the remote executor signs both
    // outcomes at once through /v1/attest-block (from its cache: nothing is computed again).
    infer(&oracle, &world.mlp, inputs.clone(), Rule::DEFAULT).unwrap();
    infer(&oracle, &world.int64, int64_input([0, 11, 0, 0, 0]), Rule::DEFAULT).unwrap_err();
    let (computed, signed) = (remote.executor.stats().computed, remote.executor.stats().signed);
    let parent = B256::repeat_byte(7);
    let (records, attestation) = oracle.seal(12, parent).expect("not optimistic: sealed");
    assert_eq!(records.len(), 2);
    assert_eq!(attestation.signatures.len(), 3, "the remote member signed the block too");
    oracle.committee().verify_block(CHAIN_ID, 12, parent, &records, &attestation).unwrap();
    assert_eq!(remote.executor.stats().signed, signed + 1, "one signature for the block");
    assert_eq!(remote.executor.stats().computed, computed, "answered from its cache");

    // A block with a forged output: 409, a refusal naming the job, and no signature.
    let mut block = anh_executor::BlockJobs {
        chain_id: CHAIN_ID,
        number: 13,
        parent,
        jobs: vec![anh_executor::Settled {
            job: infer_job(&world.mlp, &mlp_input(0.25), Rule::EXACT),
            output: records[0].output.clone(),
            failure: Bytes::new(),
        }],
    };
    block.jobs[0].output = Bytes::from_static(b"forged");
    let job = block.jobs[0].job.id();
    match world.rt.block_on(member.attest_block(Arc::new(anh_executor::BlockRound::new(block)))) {
        Err(ExecutorError::Refused { job: refused, reason, .. }) => {
            assert_eq!(refused, job);
            assert!(reason.starts_with("block 13, job 0 of 1: "), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }

    // A failure the remote executor did not reach: 409, a refusal naming its own outcome.
    let job = Arc::new(infer_job(&world.int64, &int64_input([0, 1, 0, 0, 0]), Rule::EXACT));
    let forged = Bytes::from_static(b"failed: a failure the producer made up");
    let refused = world.rt.block_on(member.attest_failure(job, forged)).unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("this executor computed an output for the job: it did not fail"),
        "{refused}"
    );

    // The registration job settles over HTTP too.
    assert_eq!(oracle.model_info(world.int64.hash).unwrap(), world.int64);

    // A candidate the remote executor disagrees with: 409, a refusal.
    let job = Arc::new(infer_job(&world.mlp, &inputs, Rule::EXACT));
    let error =
        world.rt.block_on(member.attest(job.clone(), Bytes::from_static(b"junk"))).unwrap_err();
    match error {
        ExecutorError::Refused { executor, job: id, reason } => {
            assert_eq!(executor, remote.executor.address());
            assert_eq!(id, job.id());
            assert!(reason.contains("differs"), "{reason}");
        }
        other => panic!("expected a refusal, got {other}"),
    }
    // An unreachable executor is a transport error.
    let gone =
        RemoteMember::new("http://127.0.0.1:9", Address::ZERO, Arc::new(node_key())).unwrap();
    let error = world.rt.block_on(gone.compute(job)).unwrap_err();
    assert!(matches!(error, ExecutorError::Transport { .. }), "{error}");
}

/// JSON-RPC `anh_committee` of the mock node: its address.
async fn committee_rpc() -> axum::Json<Value> {
    axum::Json(serde_json::json!({
        "jsonrpc": "2.0",
        "id": 1,
        "result": { "nodeAddress": address_of(&node_key()) },
    }))
}

/// `anh executor`'s `run`: loads the key file, asks the node for its address
/// (`anh_committee`), listens, fetches models from the node and serves its signed requests.
#[test]
fn cli_run_serves_the_node_it_asks_about() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: anh_executor::cli::ExecutorArgs,
    }
    let world = World::new(0);
    let node = Arc::new(MockNode::default());
    node.files.lock().insert(world.mlp.hash, fixture("mlp.onnx"));
    let app = Router::new()
        .route("/", axum::routing::post(committee_rpc))
        .route("/models/{hash}", get(serve_model))
        .with_state(node);
    let node_url = serve(&world.rt, app);
    let key = ExecutorKey::new(signing_key(7));
    let mut key_file = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut key_file, key.secret_hex().as_bytes()).unwrap();
    let models = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let cli = Cli::try_parse_from([
        "anh-executor",
        "--key-file",
        key_file.path().to_str().unwrap(),
        "--listen",
        &listen,
        "--node",
        &node_url,
        "--model-dir",
        models.path().to_str().unwrap(),
        "--device",
        "cpu",
    ])
    .unwrap();
    assert_eq!(cli.args.max_queue, 64);
    assert_eq!(cli.args.max_job_macs, 1_000_000_000_000);
    let server = world.rt.spawn(anh_executor::cli::run(cli.args));
    let url = format!("http://{listen}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let member = loop {
        match world.rt.block_on(RemoteMember::connect(&url, Arc::new(node_key()))) {
            Ok(member) => break member,
            Err(e) => {
                assert!(!server.is_finished(), "run ended: {e}");
                assert!(std::time::Instant::now() < deadline, "never served: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    };
    assert_eq!(member.address(), key.address());
    let job = Arc::new(infer_job(&world.mlp, &mlp_input(0.0), Rule::EXACT));
    let output = world.rt.block_on(member.compute(job)).unwrap();
    let want = encode_tensors(&world.runtime.run(world.mlp.hash, mlp_input(0.0)).unwrap()).unwrap();
    assert_eq!(output, want);
    assert!(models.path().read_dir().unwrap().count() > 0, "the model is cached in --model-dir");
    server.abort();
}

/// A body is read only once its headers' signature is checked: a client without a served
/// node's key that sends headers and then stalls is answered 401 at once and holds nothing.
/// Signed bodies read at once are bounded: with one reader, a client replaying a signed
/// request's headers that then stalls holds it, and the next request answers 503 "busy" at
/// once, before its body is read; once the stalled connection is gone, a signed job runs.
#[test]
fn unauthenticated_bodies_are_bounded() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let world = World::new(0);
    let (_node, node_url) = start_node(&world);
    let limits = ServerLimits { max_unauthenticated: 1, ..ServerLimits::default() };
    let remote = start_executor(&world, &node_url, 1, limits, None);
    let job = infer_job(&world.mlp, &mlp_input(0.0), Rule::EXACT);
    let body = serde_json::to_vec(&job).unwrap();
    let host = remote.url.trim_start_matches("http://").to_string();
    let stall = |headers: RequestHeaders| {
        let RequestHeaders { timestamp, signature, body_hash } = headers;
        world.rt.block_on(async {
            let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
            let head = format!(
                "POST /v1/compute HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n\
                 content-length: 1000000\r\n{TIMESTAMP_HEADER}: {timestamp}\r\n\
                 {SIGNATURE_HEADER}: {signature}\r\n{BODY_HASH_HEADER}: {body_hash}\r\n\r\n{{"
            );
            stream.write_all(head.as_bytes()).await.unwrap();
            stream.flush().await.unwrap();
            stream
        })
    };
    // A stranger's stalled upload: refused before its body is read.
    let mut stranger = stall(sign_request(&signing_key(201), unix_now(), &body).unwrap());
    let answer = world.rt.block_on(async {
        let mut answer = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), stranger.read(&mut answer))
            .await
            .expect("answered without waiting for the body")
            .unwrap();
        String::from_utf8_lossy(&answer[..n]).into_owned()
    });
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("not a node this executor serves"), "{answer}");
    let stalled = stall(sign_request(&node_key(), unix_now(), &body).unwrap());
    let compute = format!("{}/v1/compute", remote.url);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let answer = loop {
        let (status, answer) =
            post(&world, &compute, body.clone(), signed(&node_key(), unix_now(), &body));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            break answer;
        }
        // The stalled request may not have reached the server yet.
        assert!(std::time::Instant::now() < deadline, "never busy: {status} {answer}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(answer["code"], "busy");
    assert!(
        answer["error"].as_str().unwrap().contains("1 request bodies are being read already"),
        "{answer}"
    );
    assert_eq!(remote.executor.stats().computed, 0);
    drop(stalled);
    let member =
        RemoteMember::new(&remote.url, remote.executor.address(), Arc::new(node_key())).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while world.rt.block_on(member.compute(Arc::new(job.clone()))).is_err() {
        assert!(std::time::Instant::now() < deadline, "the slot never came back");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A member's answer is not trusted to be small: past the node's cap the call fails as a
/// transport error (not counted for anything), whatever the member declares or streams.
#[test]
fn oversized_answers_are_refused() {
    let world = World::new(0);
    async fn huge() -> impl IntoResponse {
        let output = format!("0x{}", "00".repeat(2 << 20));
        axum::Json(serde_json::json!({ "job": B256::ZERO, "output": output }))
    }
    async fn health() -> impl IntoResponse {
        axum::Json(serde_json::json!({ "address": Address::ZERO, "busy": 0, "queued": 0 }))
    }
    let app = Router::new()
        .route("/v1/compute", axum::routing::post(huge))
        .route("/v1/health", get(health));
    let url = serve(&world.rt, app);
    let member = RemoteMember::new(&url, Address::ZERO, Arc::new(node_key()))
        .unwrap()
        .with_max_answer_bytes(1 << 20);
    let job = Arc::new(infer_job(&world.mlp, &mlp_input(0.0), Rule::EXACT));
    let error = world.rt.block_on(member.compute(job)).unwrap_err();
    assert!(
        matches!(&error, ExecutorError::Transport { reason, .. }
            if reason == "the answer is larger than 1048576 bytes"),
        "{error}"
    );
    assert_eq!(world.rt.block_on(member.health()).unwrap().busy, 0, "small answers still read");
}

/// A job over a remote executor's `max_job_macs` comes back as `JobTooLarge` with the job, its
/// cost and the limit: the member answered (not a transport error, so no back-off), and the
/// job did not fail (no failure to sign).
#[test]
fn a_job_too_large_for_a_remote_member_says_so() {
    let world = World::new(0);
    let (_node, node_url) = start_node(&world);
    let store = Arc::new(ModelStore::temporary().unwrap());
    let source =
        Arc::new(NodeModelSource::new(&node_url, store, world.rt.handle().clone()).unwrap());
    let runtime: Arc<dyn ModelRuntime> = ort(source.clone());
    let config = anh_executor::ExecutorConfig { max_job_macs: 1, ..Default::default() };
    let key = ExecutorKey::new(signing_key(1));
    let executor = Arc::new(Executor::with_config(key, runtime, source, config));
    let auth = NodeAuth::new([address_of(&node_key())]);
    let url = serve(&world.rt, router(executor.clone(), ServerLimits::default(), auth));
    let member = RemoteMember::new(&url, executor.address(), Arc::new(node_key())).unwrap();
    let job = infer_job(&world.mlp, &mlp_input(0.0), Rule::EXACT);
    match world.rt.block_on(member.compute(Arc::new(job.clone()))) {
        Err(ExecutorError::JobTooLarge { job: id, macs, limit }) => {
            assert_eq!((id, limit), (job.id(), 1));
            let batch = mlp_input(0.0)[0].shape()[0];
            assert_eq!(macs, world.mlp.macs() * batch, "the model's cost at the input's batch");
        }
        other => panic!("expected JobTooLarge, got {other:?}"),
    }
    assert_eq!(executor.stats().computed, 0);
}
