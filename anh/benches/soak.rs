//! Soak: honest traffic through minutes of mixed hostile load, against a quiet run, and the
//! node's memory all along. A benchmark, not a test: it prints what it saw and fails only if
//! the node cannot be set up.
//!
//! One `anh node` process (the release binary cargo builds for the benches, so its memory in
//! `/proc/<pid>/status` is the node's alone), automine, a committee of four with threshold 2:
//! three in-process executors and one remote member at a TCP proxy in this benchmark. In the
//! quiet phase the proxy forwards to a real `anh executor` process, so the committee is
//! healthy; in the hostile phase it becomes the **slow executor**: it accepts every connection
//! and never answers, so the node's calls to it time out (`--executor-timeout`, here 2 s
//! unless `ANH_SOAK_EXECUTOR_TIMEOUT` says otherwise) and the committee's back-off is exercised.
//! The node's store quota is 64 MiB (`--max-store-size`), so the uploads below reach it.
//!
//! **Honest load**, all along: dev accounts 0–7 each send a signed ETH transfer
//! (`eth_sendRawTransaction`), wait until its receipt is there, and send the next; dev account
//! 8 sends `infer` transactions (a one-row input for the registered 4-16-3 MLP,
//! `runtime/testdata/mlp.onnx`, straight to the precompile `0x…0D01`: the committee settles
//! each) the same way. A transaction the node leaves out of a block is followed with
//! `anh_transactionStatus` until it is mined or dropped.
//!
//! **Hostile load**, the hostile phase only, each kind one client sending back to back:
//!
//! - *uploads*: two clients `PUT /models` distinct 784-512-10 classifiers (1.6 MB; every tenth
//!   a file that is not ONNX) until the store quota answers 507, and a third holds one of the
//!   node's two upload slots with a body that never ends (10 s per connection), so the others
//!   also meet 503;
//! - *big batches*: `eth_call`s of `infer` with the largest batch the call gas cap (the block
//!   gas limit, 30 M) pays for — 131 072 rows, 2 MiB of input, 1.5 MiB of output — alternating
//!   with a tensor one row past the tensor limit (2^24 elements: `TensorTooLarge`);
//! - *future-nonce flood*: dev account 9 sends transactions far ahead of its nonce in JSON-RPC
//!   batches of 1 000 (the batch cap; every sixth batch has 1 001 and is refused whole): 64 wait
//!   behind the gap, the rest meet the per-sender cap;
//! - *wide `eth_getLogs`*: the whole chain's logs (a contract emitted 10 001 in one transaction
//!   at set-up: the 10 000-result cap), alternating with a topic no log has over the whole
//!   chain (every block's bloom is read);
//! - *traces*: `debug_traceTransaction` of the 10 001-log transaction with the struct logger
//!   (about 130 000 steps: a 12 MB answer), alternating with a trace with `enableMemory` of a
//!   transaction that holds 1 MiB of memory for thousands of steps (refused by the trace
//!   budget);
//! - *slow executor*: as above; its row counts the connections it accepted and never answered.
//!
//! The node's RSS and the CPU time of the node, this benchmark (all the clients) and the
//! executor are sampled every second: they share the machine's cores. It prints a table of both
//! phases (honest transfers and inferences per second, latency, hostile requests, node memory,
//! cores used), the ratio hostile/quiet (the aim is ≥ 50 %), every hostile kind's answers by
//! message, and the memory over time with the chain height. The chain is kept in memory, so
//! RSS grows with blocks in both phases; "flat" means the hostile phase adds nothing beyond the
//! chain's growth at the quiet phase's rate per block, and the last line says how much it
//! added.
//!
//! Run: `./dev bench soak` (or `cargo bench -p anh --bench soak`); it takes the quiet and the
//! hostile phase plus set-up, 6 minutes by default, so `./dev bench` alone does not run it.
//! Environment: `ANH_SOAK_SECS` (hostile phase, default 300), `ANH_SOAK_QUIET_SECS` (quiet
//! phase, default 60), `ANH_SOAK_EXECUTOR_TIMEOUT` (seconds, default 2), `ANH_SOAK_KINDS`
//! (the hostile kinds to run, comma-separated, default all: `uploads`, `batches`, `flood`,
//! `logs`, `traces`, `slow`; `none` for a control run whose "hostile" phase is the quiet load
//! on a longer chain).

mod common;

use alloy::{
    primitives::{Address, B256, Bytes, hex, keccak256},
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
};
use anh_precompiles::{
    abi::{IInfer, IModelRegistry, Tensor},
    infer, registry,
};
use anh_runtime::synth;
use common::{dev_signer, sign, start};
use serde_json::{Value, json};
use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
};

/// Dev accounts 0–7 send transfers.
const TRANSFER_SENDERS: u32 = 8;
/// Dev account 8 sends `infer` transactions.
const INFER_SENDER: u32 = 8;
/// Dev account 9 floods the pool with future nonces.
const FLOODER: u32 = 9;
/// The node's model store quota.
const STORE_QUOTA: u64 = 64 << 20;
/// The largest `infer` batch of the 4-input MLP an `eth_call` can pay for under the 30 M gas
/// cap: 2 MiB of zero bytes cost 21 M gas of calldata floor (EIP-7623).
const BIG_BATCH_ROWS: u64 = 1 << 17;
/// The chain's tensor limit (the default, 2^24 elements).
const TENSOR_LIMIT: u64 = 1 << 24;
/// Answers longer than this are not parsed (a result, not an error).
const PARSE_LIMIT: usize = 256 << 10;

/// Runtime code that emits `LOG0` 10 001 times (a loop on a counter), then stops.
const LOGGER_10001: [u8; 23] = [
    0x61, 0x27, 0x11, // PUSH2 10001
    0x5b, // JUMPDEST (3)
    0x80, 0x15, 0x60, 0x15, 0x57, // DUP1 ISZERO PUSH1 end JUMPI
    0x60, 0x00, 0x60, 0x00, 0xa0, // LOG0(0, 0)
    0x60, 0x01, 0x90, 0x03, // counter - 1
    0x60, 0x03, 0x56, // JUMP loop
    0x5b, 0x00, // JUMPDEST (21): STOP
];

/// Runtime code that touches memory at 1 MiB, then loops 300 times.
const MEMORY_LOOP: [u8; 25] = [
    0x60, 0x01, 0x62, 0x0f, 0xff, 0xff, 0x53, // MSTORE8(0x0fffff, 1)
    0x61, 0x01, 0x2c, // PUSH2 300
    0x5b, // JUMPDEST (10)
    0x80, 0x15, 0x60, 0x17, 0x57, // DUP1 ISZERO PUSH1 end JUMPI
    0x60, 0x01, 0x90, 0x03, // counter - 1
    0x60, 0x0a, 0x56, // JUMP loop
    0x5b, 0x00, // JUMPDEST (23): STOP
];

fn env_secs(name: &str, default: f64) -> f64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Numbers (decimal runs, `0x…` hex) replaced, so that answers group by message.
fn normalise(message: &str) -> String {
    let mut out = String::new();
    let mut chars = message.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '0' && chars.peek() == Some(&'x') {
            chars.next();
            while chars.peek().is_some_and(char::is_ascii_hexdigit) {
                chars.next();
            }
            out.push_str("0x…");
        } else if c.is_ascii_digit() {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
            out.push('N');
        } else {
            out.push(c);
        }
    }
    if out.chars().count() > 110 {
        out = out.chars().take(109).collect::<String>() + "…";
    }
    out
}

/// One JSON-RPC answer object as an outcome: `ok` or `CODE: message`.
fn outcome_of(reply: &Value) -> String {
    match reply.get("error") {
        Some(error) => format!(
            "{}: {}",
            error["code"],
            normalise(error["message"].as_str().unwrap_or_default())
        ),
        None => "ok".into(),
    }
}

/// A transport error with its causes (no URL, numbers replaced).
fn transport(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    format!("transport: {}", normalise(&text))
}

/// A hostile kind's requests and its answers by message.
struct Kind {
    name: &'static str,
    what: &'static str,
    requests: AtomicU64,
    outcomes: Mutex<BTreeMap<String, u64>>,
}

impl Kind {
    fn new(name: &'static str, what: &'static str) -> Arc<Self> {
        Arc::new(Self { name, what, requests: AtomicU64::new(0), outcomes: Mutex::default() })
    }

    fn record(&self, outcome: impl Into<String>, requests: u64) {
        self.requests.fetch_add(requests, Ordering::Relaxed);
        *self.outcomes.lock().unwrap().entry(outcome.into()).or_default() += requests;
    }
}

/// What the honest clients did.
#[derive(Default)]
struct Honest {
    transfers: AtomicU64,
    inferences: AtomicU64,
    /// Errors answered to honest requests, by message.
    errors: Mutex<BTreeMap<String, u64>>,
    /// Send-to-receipt times (µs) since the phase began.
    transfer_latency: Mutex<Vec<u32>>,
    infer_latency: Mutex<Vec<u32>>,
}

impl Honest {
    fn error(&self, message: String) {
        *self.errors.lock().unwrap().entry(message).or_default() += 1;
    }
}

/// A JSON-RPC call; the error's code and message on an error answer.
async fn rpc(
    client: &reqwest::Client,
    url: &str,
    method: &str,
    params: Value,
) -> Result<Value, String> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let response = client.post(url).json(&body).send().await.map_err(transport)?;
    let reply: Value = response.json().await.map_err(transport)?;
    match reply.get("error") {
        Some(_) => Err(outcome_of(&reply)),
        None => Ok(reply["result"].clone()),
    }
}

async fn nonce_of(client: &reqwest::Client, url: &str, address: Address) -> u64 {
    loop {
        if let Ok(n) = rpc(client, url, "eth_getTransactionCount", json!([address, "latest"])).await
            && let Some(n) = n.as_str().and_then(|n| u64::from_str_radix(&n[2..], 16).ok())
        {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends `raw` and waits until it is mined (`Some(status is 1)`), or the node has no more of it
/// (`None`: the nonce is to be read again).
async fn settle(
    client: &reqwest::Client,
    url: &str,
    raw: &str,
    hash: B256,
    honest: &Honest,
) -> Option<bool> {
    if let Err(message) = rpc(client, url, "eth_sendRawTransaction", json!([raw])).await {
        honest.error(message);
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    while Instant::now() < deadline {
        match rpc(client, url, "eth_getTransactionReceipt", json!([hash])).await {
            Ok(receipt) if !receipt.is_null() => return Some(receipt["status"] == "0x1"),
            Ok(_) => {}
            Err(message) => honest.error(message),
        }
        if let Ok(status) = rpc(client, url, "anh_transactionStatus", json!([hash])).await
            && matches!(status["status"].as_str(), Some("dropped" | "unknown"))
        {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    None
}

/// One honest sender: a transfer (or an `infer` transaction) at a time, each waited for.
async fn honest_sender(
    url: String,
    index: u32,
    model: Option<B256>,
    honest: Arc<Honest>,
    stop: Arc<AtomicBool>,
) {
    let client = reqwest::Client::new();
    let signer = dev_signer(index);
    let mut nonce = nonce_of(&client, &url, signer.address()).await;
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let (raw, hash) = match model {
            None => sign(&signer, nonce, Address::with_last_byte(0xee), Bytes::new(), 21_000),
            Some(model) => {
                let data: Vec<u8> = (0..4u64)
                    .flat_map(|k| (((i * 7 + k) % 13) as f32 * 0.25 - 1.5).to_be_bytes())
                    .collect();
                let inputs = vec![Tensor { dtype: 1, shape: vec![1, 4], data: data.into() }];
                let call = IInfer::inferCall { model, inputs }.abi_encode();
                sign(&signer, nonce, infer::ADDRESS, call.into(), 1_000_000)
            }
        };
        let started = Instant::now();
        match settle(&client, &url, &raw, hash, &honest).await {
            Some(ok) => {
                nonce += 1;
                let micros = started.elapsed().as_micros().min(u32::MAX as u128) as u32;
                if !ok {
                    honest.error("mined, status 0 (reverted)".into());
                } else if model.is_some() {
                    honest.inferences.fetch_add(1, Ordering::Relaxed);
                    honest.infer_latency.lock().unwrap().push(micros);
                } else {
                    honest.transfers.fetch_add(1, Ordering::Relaxed);
                    honest.transfer_latency.lock().unwrap().push(micros);
                }
            }
            None => nonce = nonce_of(&client, &url, signer.address()).await,
        }
    }
}

/// An answer: its bytes, or only its length when it is too long to be worth parsing (a result).
enum Answer {
    Short(Vec<u8>),
    Long(usize),
}

/// POSTs a prepared JSON-RPC body; the answer, or the HTTP status and error of a refusal.
async fn post(client: &reqwest::Client, url: &str, body: &'static [u8]) -> Result<Answer, String> {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(transport)?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.map_err(transport)?;
    if status != 200 && bytes.len() < PARSE_LIMIT {
        let reply: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        return Err(format!("HTTP {status}: {}", outcome_of(&reply)));
    }
    Ok(if bytes.len() < PARSE_LIMIT {
        Answer::Short(bytes.to_vec())
    } else {
        Answer::Long(bytes.len())
    })
}

/// Records the answer to a prepared request: a long answer as `big` with its size, else each
/// answer object's outcome (`requests` elements for a batch).
fn record_answer(kind: &Kind, answer: Result<Answer, String>, requests: u64, big: &str) {
    match answer {
        Err(message) => kind.record(message, requests),
        Ok(Answer::Long(len)) => {
            kind.record(format!("{big}, {:.1} MB", len as f64 / 1e6), requests)
        }
        Ok(Answer::Short(bytes)) => match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Array(replies)) => {
                for reply in &replies {
                    kind.record(outcome_of(reply), 1);
                }
            }
            Ok(reply) if reply["result"] == json!([]) => kind.record("ok: no logs", requests),
            Ok(reply) => kind.record(outcome_of(&reply), requests),
            Err(e) => kind.record(format!("unparsable answer: {e}"), requests),
        },
    }
}

fn leak(value: Value) -> &'static [u8] {
    Box::leak(serde_json::to_vec(&value).unwrap().into_boxed_slice())
}

/// Sends `bodies` in turn, back to back, until `stop`.
async fn hammer(
    url: String,
    kind: Arc<Kind>,
    bodies: Vec<(&'static [u8], u64)>,
    big: &'static str,
    stop: Arc<AtomicBool>,
) {
    let client = reqwest::Client::new();
    for (body, requests) in bodies.iter().cycle() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let answer = post(&client, &url, body).await;
        record_answer(&kind, answer, *requests, big);
    }
}

/// Uploads classifiers back to back (every tenth upload a file that is not ONNX); a new model
/// once the last one is stored, else the same one again (its bytes are not made anew).
async fn uploader(url: String, kind: Arc<Kind>, first_seed: u64, stop: Arc<AtomicBool>) {
    let client = reqwest::Client::new();
    let mut seed = first_seed;
    let mut model = axum::body::Bytes::from(synth::classifier(784, &[512], 10, seed));
    let not_onnx = axum::body::Bytes::from_static(b"this is not an ONNX model");
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let body = if n.is_multiple_of(10) { not_onnx.clone() } else { model.clone() };
        match client.put(format!("{url}/models")).body(body).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let answer: Value = response.json().await.unwrap_or(Value::Null);
                match answer["error"].as_str() {
                    Some(error) => kind.record(format!("HTTP {status}: {}", normalise(error)), 1),
                    None => kind.record(format!("HTTP {status}: stored"), 1),
                }
                if status == 200 && !n.is_multiple_of(10) {
                    seed += 1;
                    model = synth::classifier(784, &[512], 10, seed).into();
                }
            }
            Err(e) => kind.record(transport(e), 1),
        }
    }
}

/// Holds one upload slot with a body that never ends, 10 s per connection.
async fn stalled_upload(url: String, kind: Arc<Kind>, stop: Arc<AtomicBool>) {
    let host = url.trim_start_matches("http://").to_string();
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut stream) = TcpStream::connect(&host).await else {
            kind.record("stalled upload: cannot connect", 1);
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let head =
            format!("PUT /models HTTP/1.1\r\nhost: {host}\r\ncontent-length: 1000000\r\n\r\nONNX");
        let _ = stream.write_all(head.as_bytes()).await;
        let held = Instant::now();
        while !stop.load(Ordering::Relaxed) && held.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        kind.record("stalled upload: body never finished, connection held 10 s", 1);
    }
}

/// The remote committee member: forwards to the real executor until `hung`, then accepts every
/// connection and never answers (connections forwarded so far are cut).
async fn proxy(
    listener: TcpListener,
    upstream: SocketAddr,
    hung: watch::Receiver<bool>,
    kind: Arc<Kind>,
) {
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else { continue };
        let mut hung = hung.clone();
        if *hung.borrow() {
            kind.record("connection accepted, never answered", 1);
            tokio::spawn(async move {
                let mut buf = [0u8; 16384];
                while let Ok(n) = inbound.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
            });
        } else {
            tokio::spawn(async move {
                let Ok(mut outbound) = TcpStream::connect(upstream).await else { return };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    _ = hung.wait_for(|h| *h) => {}
                }
            });
        }
    }
}

/// A child process killed on drop.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `anh executor` with `key` on `listen`, serving the node at `node`; waits until it
/// listens.
fn start_executor(
    anh: &PathBuf,
    key: &std::path::Path,
    listen: SocketAddr,
    node: &str,
    models: &std::path::Path,
) -> Process {
    let mut child = Command::new(anh)
        .arg("executor")
        .arg("--key-file")
        .arg(key)
        .args(["--listen", &listen.to_string(), "--node", node])
        .arg("--model-dir")
        .arg(models)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("anh executor starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("the executor exited before it listened").unwrap();
        if line.contains("listening on") {
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    Process(child)
}

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// User and system CPU time of `pid`, in clock ticks (`/proc/<pid>/stat` fields 14 and 15).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses: state is field 3.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map_or("", |(_, r)| r).split_whitespace().collect();
    let field = |i: usize| fields.get(i - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    field(14) + field(15)
}

/// Busy CPU time of the whole machine, in clock ticks (`/proc/stat`: all but idle and iowait).
fn machine_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let times: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    times.iter().sum::<u64>() - times.get(3).unwrap_or(&0) - times.get(4).unwrap_or(&0)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux).
const TICKS: f64 = 100.0;

/// VmRSS and VmHWM of `pid`, in KiB.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Deploys `runtime` (under 256 bytes) from dev account 0; its address.
async fn deploy_runtime(
    client: &reqwest::Client,
    url: &str,
    from: Address,
    runtime: &[u8],
) -> Address {
    let len = u8::try_from(runtime.len()).unwrap();
    // CODECOPY(0, 12, len); RETURN(0, len); then the runtime.
    let mut initcode = vec![0x60, len, 0x60, 12, 0x60, 0x00, 0x39, 0x60, len, 0x60, 0x00, 0xf3];
    initcode.extend(runtime);
    let tx = json!([{ "from": from, "data": Bytes::from(initcode), "gas": "0x100000" }]);
    let hash = rpc(client, url, "eth_sendTransaction", tx).await.expect("deploys");
    let receipt = rpc(client, url, "eth_getTransactionReceipt", json!([hash])).await.unwrap();
    serde_json::from_value(receipt["contractAddress"].clone()).expect("deployed")
}

/// Sends a transaction from dev account 0 and checks it succeeded; its hash.
async fn transact(client: &reqwest::Client, url: &str, tx: Value) -> B256 {
    let hash = rpc(client, url, "eth_sendTransaction", json!([tx])).await.expect("sent");
    let receipt = rpc(client, url, "eth_getTransactionReceipt", json!([hash])).await.unwrap();
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    serde_json::from_value(hash).unwrap()
}

/// What set-up made: the registered model and the transactions to trace.
struct Setup {
    model: B256,
    logger_tx: B256,
    memory_tx: B256,
}

async fn set_up(client: &reqwest::Client, url: &str) -> Setup {
    let from = dev_signer(0).address();
    let mlp = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../runtime/testdata/mlp.onnx"),
    )
    .unwrap();
    let put: Value =
        client.put(format!("{url}/models")).body(mlp).send().await.unwrap().json().await.unwrap();
    let model: B256 = put["hash"].as_str().expect("uploaded").parse().unwrap();
    let register = IModelRegistry::registerCall { model, name: "mlp".into() }.abi_encode();
    let tx = json!({ "from": from, "to": registry::ADDRESS, "data": Bytes::from(register), "gas": "0x2dc6c0" });
    transact(client, url, tx).await;
    let logger = deploy_runtime(client, url, from, &LOGGER_10001).await;
    let logger_tx =
        transact(client, url, json!({ "from": from, "to": logger, "gas": "0x7a1200" })).await;
    let looper = deploy_runtime(client, url, from, &MEMORY_LOOP).await;
    let memory_tx =
        transact(client, url, json!({ "from": from, "to": looper, "gas": "0x4c4b40" })).await;
    Setup { model, logger_tx, memory_tx }
}

/// One sample of the node, once a second.
struct Sample {
    at: f64,
    rss: u64,
    /// CPU time (user + system, clock ticks) of the node, this benchmark, the executor, and
    /// of the whole machine.
    cpu: [u64; 4],
    block: u64,
    transfers: u64,
    inferences: u64,
}

/// Samples the node every second for `secs`, printing progress every 10 s.
async fn observe(
    secs: f64,
    hostile: bool,
    start: Instant,
    pids: [u32; 3],
    url: &str,
    honest: &Honest,
    samples: &mut Vec<Sample>,
) {
    let client = reqwest::Client::new();
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let block = rpc(&client, url, "eth_blockNumber", json!([]))
            .await
            .ok()
            .and_then(|b| b.as_str().and_then(|b| u64::from_str_radix(&b[2..], 16).ok()))
            .unwrap_or_else(|| samples.last().map_or(0, |s| s.block));
        let sample = Sample {
            at: start.elapsed().as_secs_f64(),
            rss: memory(pids[0]).0,
            cpu: [cpu_ticks(pids[0]), cpu_ticks(pids[1]), cpu_ticks(pids[2]), machine_ticks()],
            block,
            transfers: honest.transfers.load(Ordering::Relaxed),
            inferences: honest.inferences.load(Ordering::Relaxed),
        };
        if samples.len() >= 10 && samples.len().is_multiple_of(10) {
            let before = &samples[samples.len() - 10];
            let span = sample.at - before.at;
            eprintln!(
                "[{:>4.0} s] {:<7} transfers {:>6.0}/s  inferences {:>5.1}/s  block {:>7}  node RSS {:>6.1} MiB",
                sample.at,
                if hostile { "hostile" } else { "quiet" },
                (sample.transfers - before.transfers) as f64 / span,
                (sample.inferences - before.inferences) as f64 / span,
                sample.block,
                sample.rss as f64 / 1024.0
            );
        }
        samples.push(sample);
        if Instant::now() >= end {
            break;
        }
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0
}

/// One phase's figures.
struct Phase {
    secs: f64,
    transfers: u64,
    inferences: u64,
    transfer_latency: Vec<u32>,
    infer_latency: Vec<u32>,
    rss_end: u64,
    rss_peak: u64,
    hwm: u64,
    blocks: u64,
    rss_growth: i64,
    /// CPU cores used on average: the node, this benchmark, the executor, anything else.
    cores: [f64; 4],
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn main() {
    let hostile_secs = env_secs("ANH_SOAK_SECS", 300.0);
    let quiet_secs = env_secs("ANH_SOAK_QUIET_SECS", 60.0);
    let executor_timeout = env_secs("ANH_SOAK_EXECUTOR_TIMEOUT", 2.0);
    let selected: Option<Vec<String>> = std::env::var("ANH_SOAK_KINDS")
        .ok()
        .map(|v| v.split(',').map(|k| k.trim().to_string()).filter(|k| !k.is_empty()).collect())
        .filter(|names: &Vec<String>| !names.is_empty());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let anh = PathBuf::from(env!("CARGO_BIN_EXE_anh"));
    let scratch = tempfile::tempdir().unwrap();

    // The remote member: its key, the proxy in front of it, then the node, then the executor.
    let executor_key = PrivateKeySigner::from_bytes(&keccak256("anh soak executor")).unwrap();
    let key_file = scratch.path().join("executor.key");
    std::fs::write(&key_file, hex::encode(keccak256("anh soak executor"))).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let executor_addr = free_addr();
    let slow = Kind::new("slow executor", "the remote committee member, hung");
    let (hang, hung) = watch::channel(false);
    let proxy_listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let proxy_url = format!("http://{}", proxy_listener.local_addr().unwrap());
    runtime.spawn(proxy(proxy_listener, executor_addr, hung, slow.clone()));

    let member = format!("{}@{proxy_url}", executor_key.address());
    let timeout = executor_timeout.to_string();
    let quota = STORE_QUOTA.to_string();
    let args = [
        "node",
        "--executors",
        "3",
        "--executor",
        &member,
        "--threshold",
        "2",
        "--executor-timeout",
        &timeout,
        "--max-store-size",
        &quota,
    ];
    let node = start(&anh, &args, "Listening on");
    let url = node.url.clone();
    let pid = node.pid();
    let executor =
        start_executor(&anh, &key_file, executor_addr, &url, &scratch.path().join("models"));
    let pids = [pid, std::process::id(), executor.0.id()];
    let (rss_started, _) = memory(pid);

    let client = reqwest::Client::new();
    let setup = runtime.block_on(set_up(&client, &url));
    eprintln!("set-up done: model {} registered, 10 001 logs emitted", setup.model);

    let honest = Arc::new(Honest::default());
    let honest_stop = Arc::new(AtomicBool::new(false));
    let mut honest_tasks = Vec::new();
    let senders =
        (0..TRANSFER_SENDERS).map(|i| (i, None)).chain([(INFER_SENDER, Some(setup.model))]);
    for (index, model) in senders {
        honest_tasks.push(runtime.spawn(honest_sender(
            url.clone(),
            index,
            model,
            honest.clone(),
            honest_stop.clone(),
        )));
    }
    let started = Instant::now();
    let mut samples = Vec::new();

    // Warm-up, then the quiet phase.
    runtime.block_on(observe(2.0, false, started, pids, &url, &honest, &mut samples));
    honest.transfer_latency.lock().unwrap().clear();
    honest.infer_latency.lock().unwrap().clear();
    let quiet_from = samples.len() - 1;
    runtime.block_on(observe(quiet_secs, false, started, pids, &url, &honest, &mut samples));
    let quiet_to = samples.len() - 1;
    let quiet_latency = (
        std::mem::take(&mut *honest.transfer_latency.lock().unwrap()),
        std::mem::take(&mut *honest.infer_latency.lock().unwrap()),
    );
    let hwm_quiet = memory(pid).1;

    // The hostile phase.
    let flooder = dev_signer(FLOODER);
    let flood_txs: Vec<String> = (0..6_000u64)
        .map(|i| sign(&flooder, 1_000 + i, Address::with_last_byte(0xbb), Bytes::new(), 21_000).0)
        .collect();
    let mut flood_bodies: Vec<(&'static [u8], u64)> = Vec::new();
    for chunk in flood_txs.chunks(1_000).take(5) {
        let batch: Vec<Value> = chunk
            .iter()
            .enumerate()
            .map(|(i, raw)| json!({"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": [raw]}))
            .collect();
        flood_bodies.push((leak(Value::Array(batch)), 1_000));
    }
    let over: Vec<Value> = flood_txs[5_000..6_000]
        .iter()
        .chain(&flood_txs[..1])
        .enumerate()
        .map(|(i, raw)| json!({"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": [raw]}))
        .collect();
    flood_bodies.push((leak(Value::Array(over)), 1_001));

    let infer_call = |shape: Vec<u64>, data: Vec<u8>| {
        let inputs = vec![Tensor { dtype: 1, shape, data: data.into() }];
        let data = Bytes::from(IInfer::inferCall { model: setup.model, inputs }.abi_encode());
        leak(
            json!({"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [{ "to": infer::ADDRESS, "data": data }, "latest"]}),
        )
    };
    let batch_bodies = vec![
        (infer_call(vec![BIG_BATCH_ROWS, 4], vec![0; BIG_BATCH_ROWS as usize * 16]), 1),
        (infer_call(vec![TENSOR_LIMIT / 4 + 1, 4], Vec::new()), 1),
    ];
    let request = |method: &str, params: Value| {
        leak(json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
    };
    let logs_bodies = vec![
        (request("eth_getLogs", json!([{ "fromBlock": "0x0", "toBlock": "latest" }])), 1),
        (
            request(
                "eth_getLogs",
                json!([{ "fromBlock": "0x0", "toBlock": "latest", "topics": [keccak256("no such event")] }]),
            ),
            1,
        ),
    ];
    let trace_bodies = vec![
        (request("debug_traceTransaction", json!([setup.logger_tx, {}])), 1),
        (request("debug_traceTransaction", json!([setup.memory_tx, { "enableMemory": true }])), 1),
    ];

    let uploads =
        Kind::new("uploads", "PUT /models: 2 clients of distinct 1.6 MB models, 1 stalled body");
    let batches =
        Kind::new("big batches", "eth_call infer: 131 072 rows / one row past the tensor limit");
    let flood = Kind::new(
        "future-nonce flood",
        "eth_sendRawTransaction, nonce gap, JSON-RPC batches of 1 000 / 1 001",
    );
    let logs = Kind::new("wide eth_getLogs", "block 0 to latest: every log / an absent topic");
    let traces =
        Kind::new("traces", "debug_traceTransaction: 10 001-log tx / enableMemory on a 1 MiB loop");

    let hostile_stop = Arc::new(AtomicBool::new(false));
    let stop = || hostile_stop.clone();
    let on = |kind: &str| selected.as_ref().is_none_or(|names| names.iter().any(|n| n == kind));
    if on("slow") {
        hang.send(true).unwrap();
    }
    let mut hostile_tasks = Vec::new();
    if on("uploads") {
        hostile_tasks.push(runtime.spawn(uploader(url.clone(), uploads.clone(), 0, stop())));
        hostile_tasks.push(runtime.spawn(uploader(url.clone(), uploads.clone(), 1 << 40, stop())));
        hostile_tasks.push(runtime.spawn(stalled_upload(url.clone(), uploads.clone(), stop())));
    }
    let hammered = [
        ("batches", &batches, batch_bodies, "ok: outputs of 131 072 rows"),
        ("flood", &flood, flood_bodies, "ok"),
        ("logs", &logs, logs_bodies, "ok"),
        ("traces", &traces, trace_bodies, "ok: the struct logs of ~130 000 steps"),
    ];
    for (name, kind, bodies, big) in hammered {
        if on(name) {
            let task = hammer(url.clone(), kind.clone(), bodies, big, stop());
            hostile_tasks.push(runtime.spawn(task));
        }
    }
    let kinds = [uploads, batches, flood, logs, traces, slow];
    let hostile_from = samples.len() - 1;
    runtime.block_on(observe(hostile_secs, true, started, pids, &url, &honest, &mut samples));
    let hostile_to = samples.len() - 1;
    let hostile_latency = (
        std::mem::take(&mut *honest.transfer_latency.lock().unwrap()),
        std::mem::take(&mut *honest.infer_latency.lock().unwrap()),
    );
    let (_, hwm_end) = memory(pid);

    // The pool after the flood, and the end.
    let pool = runtime.block_on(rpc(&client, &url, "txpool_status", json!([]))).unwrap_or_default();
    let stats = runtime.block_on(rpc(&client, &url, "anh_stats", json!([]))).unwrap_or_default();
    hostile_stop.store(true, Ordering::Relaxed);
    honest_stop.store(true, Ordering::Relaxed);
    runtime.block_on(async {
        tokio::time::sleep(Duration::from_secs(3)).await;
    });
    for task in hostile_tasks.iter().chain(&honest_tasks) {
        task.abort();
    }

    let phase = |from: usize, to: usize, latency: (Vec<u32>, Vec<u32>), hwm: u64| {
        let (a, b) = (&samples[from], &samples[to]);
        let (mut transfer_latency, mut infer_latency) = latency;
        transfer_latency.sort_unstable();
        infer_latency.sort_unstable();
        Phase {
            secs: b.at - a.at,
            transfers: b.transfers - a.transfers,
            inferences: b.inferences - a.inferences,
            transfer_latency,
            infer_latency,
            rss_end: b.rss,
            rss_peak: samples[from..=to].iter().map(|s| s.rss).max().unwrap_or(0),
            hwm,
            blocks: b.block - a.block,
            rss_growth: b.rss as i64 - a.rss as i64,
            cores: {
                let [node, bench, executor, machine] =
                    [0, 1, 2, 3].map(|i| (b.cpu[i] - a.cpu[i]) as f64 / TICKS / (b.at - a.at));
                [node, bench, executor, (machine - node - bench - executor).max(0.0)]
            },
        }
    };
    let quiet = phase(quiet_from, quiet_to, quiet_latency, hwm_quiet);
    let hostile = phase(hostile_from, hostile_to, hostile_latency, hwm_end);

    let hostile_total: u64 = kinds.iter().map(|k| k.requests.load(Ordering::Relaxed)).sum();
    println!(
        "\nSoak: `anh node` (release), automine, committee of 4 (3 in process, 1 remote), threshold 2, \
         --executor-timeout {executor_timeout} s; node RSS {:.0} MiB after start\n",
        mib(rss_started)
    );
    println!(
        "| phase | duration (s) | honest transfers/s | honest inferences/s | transfer latency p50 / p99 / max (ms) | inference latency p50 / p99 / max (ms) | hostile requests | node RSS at end (MiB) | node peak RSS, sampled / VmHWM (MiB) | CPU cores: node / bench / executor / other |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let row = |name: &str, p: &Phase, requests: u64| {
        println!(
            "| {name} | {:.0} | {:.0} | {:.1} | {:.1} / {:.1} / {:.0} | {:.1} / {:.1} / {:.0} | {requests} | {:.0} | {:.0} / {:.0} | {:.2} / {:.2} / {:.2} / {:.2} |",
            p.secs,
            p.transfers as f64 / p.secs,
            p.inferences as f64 / p.secs,
            percentile(&p.transfer_latency, 0.5),
            percentile(&p.transfer_latency, 0.99),
            percentile(&p.transfer_latency, 1.0),
            percentile(&p.infer_latency, 0.5),
            percentile(&p.infer_latency, 0.99),
            percentile(&p.infer_latency, 1.0),
            mib(p.rss_end),
            mib(p.rss_peak),
            mib(p.hwm),
            p.cores[0],
            p.cores[1],
            p.cores[2],
            p.cores[3],
        );
    };
    row("quiet", &quiet, 0);
    row("hostile", &hostile, hostile_total);
    let rate = |n: u64, p: &Phase| n as f64 / p.secs;
    println!(
        "| hostile / quiet | | {:.0} % | {:.0} % | | | | | | |",
        100.0 * rate(hostile.transfers, &hostile) / rate(quiet.transfers, &quiet),
        100.0 * rate(hostile.inferences, &hostile) / rate(quiet.inferences, &quiet),
    );

    println!("\nHostile requests by kind and answer:\n");
    println!("| kind | what | requests | answer | count |");
    println!("|---|---|---:|---|---:|");
    for kind in &kinds {
        let outcomes = kind.outcomes.lock().unwrap();
        let mut first = true;
        for (outcome, count) in outcomes.iter() {
            let (name, what, requests) = if first {
                (kind.name, kind.what, kind.requests.load(Ordering::Relaxed).to_string())
            } else {
                ("", "", String::new())
            };
            first = false;
            println!(
                "| {name} | {what} | {requests} | {} | {count} |",
                outcome.replace('|', "\\|")
            );
        }
        if first {
            println!("| {} | {} | 0 | | |", kind.name, kind.what);
        }
    }

    println!("\nNode memory and chain height over the run:\n");
    println!("| at (s) | phase | block | node RSS (MiB) |");
    println!("|---:|---|---:|---:|");
    let marks = [
        quiet_from,
        (quiet_from + quiet_to) / 2,
        hostile_from,
        hostile_from + (hostile_to - hostile_from) / 4,
        (hostile_from + hostile_to) / 2,
        hostile_from + 3 * (hostile_to - hostile_from) / 4,
        hostile_to,
    ];
    for &i in &marks {
        let s = &samples[i];
        println!(
            "| {:.0} | {} | {} | {:.1} |",
            s.at,
            match i.cmp(&hostile_from) {
                std::cmp::Ordering::Less => "quiet",
                std::cmp::Ordering::Equal => "hostile starts",
                std::cmp::Ordering::Greater => "hostile",
            },
            s.block,
            mib(s.rss)
        );
    }
    let per_kblock = |p: &Phase| p.rss_growth as f64 / 1024.0 / (p.blocks.max(1) as f64 / 1000.0);
    let chain_share = per_kblock(&quiet) * hostile.blocks as f64 / 1000.0;
    println!(
        "\nRSS growth: quiet {:+.1} MiB over {} blocks ({:+.2} MiB per 1 000 blocks: the chain, kept in memory); \
         hostile {:+.1} MiB over {} blocks, of which the chain at the quiet rate {:+.1} MiB and the rest {:+.1} MiB",
        quiet.rss_growth as f64 / 1024.0,
        quiet.blocks,
        per_kblock(&quiet),
        hostile.rss_growth as f64 / 1024.0,
        hostile.blocks,
        chain_share,
        hostile.rss_growth as f64 / 1024.0 - chain_share,
    );
    println!("Pool at the end: {pool}; anh_stats: {stats}");
    let errors = honest.errors.lock().unwrap();
    if errors.is_empty() {
        println!("Honest requests answered no error.");
    } else {
        println!("Errors answered to honest requests:");
        for (message, count) in errors.iter() {
            println!("- {count} × {message}");
        }
    }
    drop(node);
}
