//! Settlement by the executor committee, end to end: attestations in blocks, a follower that
//! replays the chain without running a model, tampered or forged attestations refused, and a
//! committee with remote `anh executor` processes.

use crate::{dnn::consumer, utils::*};
use alloy::{
    network::TransactionBuilder,
    primitives::{Address, B256, Bytes, U256},
    providers::{DynProvider, Provider},
    rpc::types::{TransactionReceipt, TransactionRequest},
    signers::local::MnemonicBuilder,
    sol_types::SolCall,
};
use anh::{CommitteeOptions, NodeConfig, NodeHandle};
use anh_evm_host::{Block, MiningMode, block::jobs_root};
use anh_executor::{Executor, ExecutorError, ExecutorKey, Job, LocalMember, Member, MemberFuture};
use anh_precompiles::{abi::IModelRegistry, registry};
use anh_primitives::{
    BlockAttestation, Committee, JobRecord, Rule, seal,
    signature::{address_of, sign},
};
use anh_runtime::{ModelRuntime, ModelSource, ModelStore, OrtRuntime, RuntimeConfig};
use axum::{Router, body::Bytes as Body, extract::State, routing::post};
use k256::ecdsa::SigningKey;
use serde_json::{Value, json};
use std::{
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

/// The mlp fixture's bytes and hash.
fn mlp() -> (Vec<u8>, B256) {
    let bytes = std::fs::read(testdata("mlp.onnx")).expect("fixture");
    let hash = alloy::primitives::keccak256(&bytes);
    (bytes, hash)
}

fn input(values: [f32; 4]) -> Vec<consumer::Tensor> {
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_be_bytes()).collect();
    vec![consumer::Tensor { dtype: 1, shape: vec![1, 4], data: data.into() }]
}

pub(crate) async fn submit(provider: &DynProvider, to: Address, data: Vec<u8>) -> B256 {
    let tx = TransactionRequest::default().with_to(to).with_input(data).with_gas_limit(3_000_000);
    *provider.send_transaction(tx).await.expect("sent").tx_hash()
}

pub(crate) async fn receipt(provider: &DynProvider, hash: B256) -> TransactionReceipt {
    wait_receipt(provider, hash).await
}

/// Uploads and registers the mlp, deploys `DnnConsumer`; returns (model, consumer).
pub(crate) async fn setup(url: &str, provider: &DynProvider) -> (B256, Address) {
    let (bytes, model) = mlp();
    let put = rpc(url, "anh_putModel", json!([Bytes::from(bytes)])).await;
    assert_eq!(put["result"], json!(model), "{put}");
    let register = IModelRegistry::registerCall { model, name: "mlp".into() }.abi_encode();
    let hash = submit(provider, registry::ADDRESS, register).await;
    assert!(receipt(provider, hash).await.status(), "registered");
    let consumer = deploy(provider, "DnnConsumer").await;
    (model, consumer)
}

pub(crate) fn run_call(model: B256, values: [f32; 4]) -> Vec<u8> {
    consumer::DnnConsumer::runCall { model, inputs: input(values) }.abi_encode()
}

async fn committee_of(url: &str) -> Committee {
    let c = rpc(url, "anh_committee", json!([])).await["result"].clone();
    Committee {
        members: serde_json::from_value(c["members"].clone()).unwrap(),
        threshold: c["threshold"].as_u64().unwrap() as usize,
        default_rule: CommitteeOptions::DEFAULT_RULE,
    }
}

pub(crate) async fn raw_block(url: &str, number: u64) -> Block {
    let raw = rpc(url, "anh_getRawBlock", json!([format!("{number:#x}")])).await;
    let raw: Bytes = serde_json::from_value(raw["result"].clone()).unwrap();
    Block::decode(&raw).unwrap()
}

async fn follower(url: &str) -> NodeHandle {
    node_with(follower_config(url).await).await
}

/// Polls the follower until it reaches `height` or halts; returns its sync status.
async fn sync_status(url: &str, height: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = rpc(url, "anh_syncStatus", json!([])).await["result"].clone();
        if status["state"] == "halted" || status["currentBlock"].as_u64() >= Some(height) {
            return status;
        }
        assert!(Instant::now() < deadline, "the follower did not reach block {height}: {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn stats(url: &str) -> Value {
    rpc(url, "anh_stats", json!([])).await["result"].clone()
}

/// Blocks carry verifiable attestations (identical calls in one block settle once), and a
/// follower replays the chain to the same blocks and state without running any model.
#[tokio::test(flavor = "multi_thread")]
async fn follower_replays_without_running_models() {
    let builder = node().await;
    let url = builder.http_endpoint();
    let provider = provider(&builder, KEY0);
    let (model, consumer_address) = setup(&url, &provider).await;

    // Two identical calls and a different one, in one block.
    rpc(&url, "evm_setAutomine", json!([false])).await;
    let p1 = provider_at(&url, KEY1);
    let same = [0.5, -1.0, 2.0, 0.25];
    let a = submit(&provider, consumer_address, run_call(model, same)).await;
    let b = submit(&p1, consumer_address, run_call(model, same)).await;
    let c = submit(&provider, consumer_address, run_call(model, [1.0, 1.0, 1.0, 1.0])).await;
    rpc(&url, "evm_mine", json!([])).await;
    rpc(&url, "evm_setAutomine", json!([true])).await;
    let block_number = receipt(&provider, a).await.block_number.unwrap();
    for hash in [a, b, c] {
        let r = receipt(&provider, hash).await;
        assert!(r.status());
        assert_eq!(r.block_number, Some(block_number));
    }

    let committee = committee_of(&url).await;
    assert_eq!((committee.members.len(), committee.threshold), (3, 2));
    let block = raw_block(&url, block_number).await;
    assert_eq!(block.jobs.len(), 2, "identical jobs settle once");
    // Sealed as a whole: t signatures for the block, none on the records.
    assert!(block.attestation.signatures.len() >= 2, "{:?}", block.attestation);
    for job in &block.jobs {
        assert!(job.is_settled());
        assert!(job.signatures.is_empty(), "the block's signatures stand for the record");
    }
    let parent = block.header.parent_hash;
    committee
        .verify_block(31337, block_number, parent, &block.jobs, &block.attestation)
        .expect("the block's attestation verifies");
    assert_eq!(
        block.header.extra_data,
        jobs_root(&block.jobs, &block.attestation),
        "the header commits to the jobs and their attestation"
    );
    let listed = rpc(&url, "anh_getAttestations", json!([format!("{block_number:#x}")])).await;
    let listed = listed["result"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["model"], json!(model));
    assert_eq!(listed[0]["rule"]["kind"], "tolerance");
    // Each job with its inclusion proof: checked alone against the signed root.
    for (index, (entry, record)) in listed.iter().zip(&block.jobs).enumerate() {
        let sealed = &entry["sealed"];
        assert_eq!(sealed["index"], index);
        assert_eq!(sealed["count"], 2);
        let leaf: B256 = serde_json::from_value(sealed["leaf"].clone()).unwrap();
        let root: B256 = serde_json::from_value(sealed["root"].clone()).unwrap();
        let proof: Vec<B256> = serde_json::from_value(sealed["proof"].clone()).unwrap();
        assert_eq!(leaf, seal::leaf(record));
        assert!(seal::verify_inclusion(leaf, index, 2, &proof, root));
        let digest: B256 = serde_json::from_value(sealed["digest"].clone()).unwrap();
        assert_eq!(digest, seal::block_digest(31337, block_number, parent, 2, root));
        let signatures: Vec<Bytes> = serde_json::from_value(sealed["signatures"].clone()).unwrap();
        for signature in &signatures {
            let signer = anh_primitives::signature::recover(&digest, signature).unwrap();
            assert!(committee.members.contains(&signer));
        }
        assert_eq!(entry["signatures"], json!([]));
    }

    let follower = follower(&url).await;
    let furl = follower.http_endpoint();
    let head = provider.get_block_number().await.unwrap();
    let status = sync_status(&furl, head).await;
    assert_eq!(status["state"], "synced", "{status}");
    for n in 0..=head {
        let ours = raw_block(&url, n).await;
        let theirs = raw_block(&furl, n).await;
        assert_eq!(
            (ours.hash, ours.header.state_root),
            (theirs.hash, theirs.header.state_root),
            "block {n}"
        );
    }
    let f = stats(&furl).await;
    assert_eq!(f["inferencesRun"], 0, "the follower ran no model: {f}");
    assert_eq!(f["attestationsVerified"], 3, "register + 2 inference jobs: {f}");
    let out = Bytes::from(consumer::DnnConsumer::lastOutputsCall {}.abi_encode());
    let request = json!([{ "to": consumer_address, "data": out }]);
    let ours = rpc(&url, "eth_call", request.clone()).await["result"].clone();
    let theirs = rpc(&furl, "eth_call", request).await["result"].clone();
    assert!(ours.as_str().is_some_and(|s| s.len() > 2), "{ours}");
    assert_eq!(ours, theirs, "the same stored output");
    assert_eq!(rpc(&furl, "eth_syncing", json!([])).await["result"], false);
}

/// A proxy in front of `upstream` that rewrites the raw block `target` with `tamper`.
async fn tampering_proxy(
    upstream: String,
    target: u64,
    tamper: Arc<dyn Fn(Block) -> Block + Send + Sync>,
) -> String {
    #[derive(Clone)]
    struct Proxy {
        upstream: String,
        target: u64,
        tamper: Arc<dyn Fn(Block) -> Block + Send + Sync>,
    }
    async fn forward(State(p): State<Proxy>, body: Body) -> axum::Json<Value> {
        let request: Value = serde_json::from_slice(&body).unwrap();
        let mut reply: Value = reqwest::Client::new()
            .post(&p.upstream)
            .json(&request)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if request["method"] == "anh_getRawBlock"
            && request["params"][0] == json!(format!("{:#x}", p.target))
        {
            let raw: Bytes = serde_json::from_value(reply["result"].clone()).unwrap();
            let block = (p.tamper)(Block::decode(&raw).unwrap());
            reply["result"] = json!(Bytes::from(block.encode()));
        }
        axum::Json(reply)
    }
    let app =
        Router::new().route("/", post(forward)).with_state(Proxy { upstream, target, tamper });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// Replaces the jobs of `block` and makes its header commit to them again (so only the
/// signatures can give the forgery away).
fn with_jobs(block: Block, jobs: Vec<JobRecord>) -> Block {
    let attestation = block.attestation.clone();
    with_sealed(block, jobs, attestation)
}

/// Replaces the jobs and the block-level attestation of `block`, and makes its header commit
/// to them again.
fn with_sealed(mut block: Block, jobs: Vec<JobRecord>, attestation: BlockAttestation) -> Block {
    block.header.extra_data = jobs_root(&jobs, &attestation);
    block.jobs = jobs;
    block.attestation = attestation;
    block
}

/// `block`'s attestation of `jobs`, signed with `keys` as block `number`.
fn signed(block: &Block, jobs: &[JobRecord], number: u64, keys: &[SigningKey]) -> BlockAttestation {
    let mut attestation = BlockAttestation::unsigned(jobs);
    let digest = attestation.digest(31337, number, block.header.parent_hash);
    attestation.signatures =
        keys.iter().map(|k| Bytes::from(sign(k, &digest).unwrap().to_vec())).collect();
    attestation
}

/// The in-process members' keys of a dev node (`anh node`'s default committee).
fn member_keys() -> Vec<SigningKey> {
    anh_executor::dev_executor_keys(
        "test test test test test test test test test test test junk",
        3,
    )
    .unwrap()
    .iter()
    .map(|k| k.signing_key().clone())
    .collect()
}

/// A follower checks a sealed block's `t` signatures once and every job against them, and
/// refuses — naming the job or the signature, in its sync status — a block whose record was
/// tampered with, left out, moved or recorded as a failure nobody signed; whose signatures were
/// flipped, made by keys outside the committee or made for another block; whose block-level
/// attestation was stripped from records that carry no signatures of their own; whose sealed
/// record carries a signature of its own; which records a job twice; or whose per-job signed
/// record names another model or a kind no job has (fields its signatures do not cover); or
/// which carries a signed record that no transaction of the block asks for.
#[tokio::test(flavor = "multi_thread")]
async fn follower_refuses_tampered_attestations() {
    let builder = node().await;
    let url = builder.http_endpoint();
    let provider = provider(&builder, KEY0);
    let (model, consumer_address) = setup(&url, &provider).await;
    rpc(&url, "evm_setAutomine", json!([false])).await;
    let first = submit(&provider, consumer_address, run_call(model, [0.5, -1.0, 2.0, 0.25])).await;
    let p1 = provider_at(&url, KEY1);
    submit(&p1, consumer_address, run_call(model, [1.0, 1.0, 1.0, 1.0])).await;
    rpc(&url, "evm_mine", json!([])).await;
    rpc(&url, "evm_setAutomine", json!([true])).await;
    let target = receipt(&provider, first).await.block_number.unwrap();
    let sealed = raw_block(&url, target).await;
    assert_eq!(sealed.jobs.len(), 2);
    let (job0, job1) = (sealed.jobs[0].job, sealed.jobs[1].job);

    type Tamper = Arc<dyn Fn(Block) -> Block + Send + Sync>;
    let flip: Tamper = Arc::new(|mut block: Block| {
        let mut sig = block.attestation.signatures[0].to_vec();
        sig[10] ^= 0xff;
        block.attestation.signatures[0] = sig.into();
        let (jobs, attestation) = (block.jobs.clone(), block.attestation.clone());
        with_sealed(block, jobs, attestation)
    });
    let changed = |mut job: JobRecord| {
        let mut output = job.output.to_vec();
        let last = output.len() - 1;
        output[last] ^= 1;
        job.output = output.into();
        job
    };
    let tamper: Tamper = Arc::new(move |block: Block| {
        let jobs = vec![changed(block.jobs[0].clone()), block.jobs[1].clone()];
        with_jobs(block, jobs)
    });
    let forge: Tamper = Arc::new(move |block: Block| {
        let jobs = vec![changed(block.jobs[0].clone()), block.jobs[1].clone()];
        let keys = [7u8, 8].map(|i| SigningKey::from_slice(&[i; 32]).unwrap());
        let attestation = signed(&block, &jobs, block.number(), &keys);
        with_sealed(block, jobs, attestation)
    });
    let other_block: Tamper = Arc::new(|block: Block| {
        let jobs = block.jobs.clone();
        let attestation = signed(&block, &jobs, block.number() + 1, &member_keys());
        with_sealed(block, jobs, attestation)
    });
    let missing: Tamper = Arc::new(|block: Block| {
        let jobs = vec![block.jobs[0].clone()];
        with_jobs(block, jobs)
    });
    let reorder: Tamper = Arc::new(|block: Block| {
        let jobs = vec![block.jobs[1].clone(), block.jobs[0].clone()];
        with_jobs(block, jobs)
    });
    // The producer picks the branch: the settled job recorded as failed…
    let claim_failure: Tamper = Arc::new(|block: Block| {
        let job = JobRecord {
            output: Bytes::new(),
            failure: Bytes::from_static(b"failed: the producer says so"),
            ..block.jobs[0].clone()
        };
        let jobs = vec![job, block.jobs[1].clone()];
        with_jobs(block, jobs)
    });
    // …or as a no-quorum failure, which nobody can sign, even when the members signed it.
    let claim_no_quorum: Tamper = Arc::new(|block: Block| {
        let job = JobRecord {
            output: Bytes::new(),
            failure: Bytes::from_static(b"no quorum: 1/2"),
            ..block.jobs[0].clone()
        };
        let jobs = vec![job, block.jobs[1].clone()];
        let attestation = signed(&block, &jobs, block.number(), &member_keys());
        with_sealed(block, jobs, attestation)
    });
    let strip: Tamper = Arc::new(|block: Block| {
        let jobs = block.jobs.clone();
        with_sealed(block, jobs, BlockAttestation::default())
    });
    // An attestation on a block without jobs, which extraData does not commit to.
    let jobless: Tamper = Arc::new(|block: Block| {
        let attestation = block.attestation.clone();
        with_sealed(block, Vec::new(), attestation)
    });
    // A signature of its own on a sealed record: the leaf does not cover it, the check does.
    let own_signature: Tamper = Arc::new(|block: Block| {
        let mut jobs = block.jobs.clone();
        jobs[0].signatures.push(Bytes::from(vec![1u8; 65]));
        with_jobs(block, jobs)
    });
    // A job recorded twice in a block of per-job signatures, a forged copy before the signed
    // one (a replay that looked up the signed one would keep the forged one unchecked).
    let twice: Tamper = Arc::new(move |block: Block| {
        let honest = per_job_signed(&block.jobs);
        let jobs = vec![changed(block.jobs[0].clone()), honest[0].clone(), honest[1].clone()];
        with_sealed(block, jobs, BlockAttestation::default())
    });
    // Per-job signatures cover the job id, not the record's copy of its model: a record that
    // names another model (a failure would revert naming it) is refused when its job is asked.
    let other_model: Tamper = Arc::new(move |block: Block| {
        let mut jobs = per_job_signed(&block.jobs);
        jobs[0].model = B256::repeat_byte(0xee);
        with_sealed(block, jobs, BlockAttestation::default())
    });
    // …nor its kind: a kind no job has is refused before anything executes.
    let unknown_kind: Tamper = Arc::new(move |block: Block| {
        let mut jobs = per_job_signed(&block.jobs);
        jobs[1].kind = 9;
        with_sealed(block, jobs, BlockAttestation::default())
    });
    // Every attestation holds, the state root does not: refused after the records were
    // verified, which are not counted then.
    let wrong_root: Tamper = Arc::new(|mut block: Block| {
        block.header.state_root = B256::repeat_byte(1);
        block
    });
    // A record no transaction of the block asks for (signed all the same).
    let unused: Tamper = Arc::new(move |block: Block| {
        let mut jobs = per_job_signed(&block.jobs);
        let stray = JobRecord { job: B256::repeat_byte(0x77), ..block.jobs[0].clone() };
        jobs.extend(per_job_signed(&[stray]));
        with_sealed(block, jobs, BlockAttestation::default())
    });
    let cases = [
        (flip, "signature 0".to_string()),
        (tamper, format!("job {job0} at index 0 is not a record the committee signed")),
        (forge, "who is not in the committee (a root signed for another block".into()),
        (other_block, "who is not in the committee (a root signed for another block".into()),
        (missing, format!("signed a record at index 1 (leaf {})", seal::leaf(&sealed.jobs[1]))),
        (reorder, format!("job {job1} is at index 0, the committee signed it at index 1")),
        (claim_failure, format!("job {job0} at index 0 is not a record the committee signed")),
        (claim_no_quorum, "a no-quorum failure is recorded, but nobody can prove one".into()),
        (strip, "0 signature(s), the committee needs 2".into()),
        (jobless, "it carries a block attestation but no job records".into()),
        (
            own_signature,
            "the record carries signatures of its own in a block-attested block".into(),
        ),
        (twice, format!("job {job0} is recorded twice")),
        (
            other_model,
            format!(
                "the record of job {job0} names kind 1 and model {}, the call asked for kind 1 \
                 and model {model}",
                B256::repeat_byte(0xee)
            ),
        ),
        (
            unknown_kind,
            format!("job {job1} has kind 9, none of infer (1), register (2) and train (3)"),
        ),
        (wrong_root, "state root mismatch: computed".into()),
        (
            unused,
            format!(
                "job {} is recorded, but no transaction of the block asks for it",
                B256::repeat_byte(0x77)
            ),
        ),
    ];
    // What a follower verified before the target block: the records of the blocks it kept.
    let mut kept_records = 0;
    for number in 1..target {
        kept_records += raw_block(&url, number).await.jobs.len();
    }
    for (tamper, expected) in cases {
        let proxy = tampering_proxy(url.clone(), target, tamper).await;
        let follower = follower(&proxy).await;
        let furl = follower.http_endpoint();
        let status = sync_status(&furl, target).await;
        assert_eq!(status["state"], "halted", "{expected}: {status}");
        let error = status["error"].as_str().unwrap();
        assert!(
            error.contains(&format!("block {target} refused")) && error.contains(&expected),
            "wanted {expected:?} in {error}"
        );
        assert_eq!(status["currentBlock"], target - 1, "nothing past the refused block");
        let syncing = rpc(&furl, "eth_syncing", json!([])).await["result"].clone();
        assert_eq!(syncing["currentBlock"], json!(format!("{:#x}", target - 1)));
        assert_eq!(stats(&furl).await["inferencesRun"], 0);
        assert_eq!(stats(&furl).await["attestationsVerified"], kept_records, "{expected}");
    }
}

/// `jobs` as a block of per-job signatures carries them: each signed by the first two members.
fn per_job_signed(jobs: &[JobRecord]) -> Vec<JobRecord> {
    let keys = member_keys();
    jobs.iter()
        .map(|job| {
            let digest = anh_primitives::job::digest(31337, job.job, &job.output, &job.rule);
            let signatures =
                keys[..2].iter().map(|k| Bytes::from(sign(k, &digest).unwrap().to_vec()));
            JobRecord { signatures: signatures.collect(), ..job.clone() }
        })
        .collect()
}

/// The address of the dev node key (`m/44'/60'/2'/0/0` of the test mnemonic).
fn dev_node_address() -> Address {
    MnemonicBuilder::english()
        .phrase("test test test test test test test test test test test junk")
        .derivation_path("m/44'/60'/2'/0/0")
        .unwrap()
        .build()
        .unwrap()
        .address()
}

struct ExecutorProcess {
    child: Child,
    url: String,
    address: Address,
    _dir: tempfile::TempDir,
}

impl Drop for ExecutorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_executor(node_url: &str, seed: u8) -> ExecutorProcess {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::from_slice(&[seed; 32]).unwrap();
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, alloy::primitives::hex::encode(key.to_bytes())).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_anh"))
        .args(["executor", "--listen", &format!("127.0.0.1:{port}"), "--node", node_url])
        .args(["--node-address", &dev_node_address().to_string()])
        .arg("--key-file")
        .arg(&key_file)
        .arg("--model-dir")
        .arg(dir.path().join("models"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("anh executor starts");
    ExecutorProcess {
        child,
        url: format!("http://127.0.0.1:{port}"),
        address: address_of(&key),
        _dir: dir,
    }
}

/// A committee of one in-process and two remote `anh executor` processes (threshold 3, so
/// all sign) settles a transaction's inference; a follower syncs to the same state root and
/// runs no model.
#[tokio::test(flavor = "multi_thread")]
async fn remote_executor_processes() {
    let port = free_port();
    let node_url = format!("http://127.0.0.1:{port}");
    let executors = [start_executor(&node_url, 0x31), start_executor(&node_url, 0x32)];
    let config = NodeConfig {
        port,
        committee: CommitteeOptions {
            in_process: Some(1),
            remote: executors.iter().map(|e| e.url.clone()).collect(),
            threshold: 3,
            ..CommitteeOptions::default()
        },
        mining: MiningMode::Auto,
        ..NodeConfig::test()
    };
    let builder = node_with(config).await;
    let url = builder.http_endpoint();
    let committee = committee_of(&url).await;
    assert_eq!(committee.members[1..], [executors[0].address, executors[1].address]);
    let described = rpc(&url, "anh_committee", json!([])).await["result"]["executors"].clone();
    assert_eq!(described, json!(["in-process", executors[0].url, executors[1].url]));

    let provider = provider(&builder, KEY0);
    let (model, consumer_address) = setup(&url, &provider).await;
    let hash = submit(&provider, consumer_address, run_call(model, [0.5, -1.0, 2.0, 0.25])).await;
    let r = receipt(&provider, hash).await;
    assert!(r.status());
    let block = raw_block(&url, r.block_number.unwrap()).await;
    assert_eq!(block.jobs.len(), 1);
    let parent = block.header.parent_hash;
    committee.verify_block(31337, block.number(), parent, &block.jobs, &block.attestation).unwrap();
    assert_eq!(
        block.attestation.signatures.len(),
        3,
        "every member signed the block, the two processes included (/v1/attest-block)"
    );

    // Training through the same committee, three jobs so that the processes lead too: the
    // leader's model file reaches the node (over `/v1/artifact` from a process), the others
    // fetch it from the node and check its loss, and all three sign.
    let mut remote_leaders = 0;
    for seed in 0..3u64 {
        let bytes = anh_runtime::synth::classifier(2, &[], 2, seed);
        let model = alloy::primitives::keccak256(&bytes);
        rpc(&url, "anh_putModel", json!([Bytes::from(bytes)])).await;
        let register = IModelRegistry::registerCall { model, name: "clf".into() }.abi_encode();
        assert!(
            receipt(&provider, submit(&provider, registry::ADDRESS, register).await).await.status()
        );
        let x: Vec<u8> = [-1.0f32, -1.0, 1.0, 1.0].iter().flat_map(|v| v.to_be_bytes()).collect();
        let y: Vec<u8> = [0i64, 1].iter().flat_map(|v| v.to_be_bytes()).collect();
        let call = anh_precompiles::abi::ITrain::trainCall {
            model,
            batch: vec![
                anh_precompiles::abi::Tensor { dtype: 1, shape: vec![2, 2], data: x.into() },
                anh_precompiles::abi::Tensor { dtype: 4, shape: vec![2], data: y.into() },
            ],
            params: anh_precompiles::abi::TrainParams {
                steps: 3,
                learningRate: 10u64.pow(17),
                loss: 2,
                optimizer: 1,
            },
        };
        let r = receipt(
            &provider,
            submit(&provider, anh_precompiles::train::ADDRESS, call.abi_encode()).await,
        )
        .await;
        assert!(r.status(), "training settled by the mixed committee (seed {seed})");
        let block = raw_block(&url, r.block_number.unwrap()).await;
        let (number, parent) = (block.number(), block.header.parent_hash);
        committee.verify_block(31337, number, parent, &block.jobs, &block.attestation).unwrap();
        assert_eq!(block.attestation.signatures.len(), 3);
        let job = U256::from_be_bytes(block.jobs[0].job.0);
        remote_leaders += usize::from(job % U256::from(3) != U256::ZERO);
    }
    assert!(remote_leaders > 0, "a process led at least one training job");

    let follower = follower(&url).await;
    let furl = follower.http_endpoint();
    let head = provider.get_block_number().await.unwrap();
    assert_eq!(sync_status(&furl, head).await["state"], "synced");
    let ours = raw_block(&url, head).await;
    let theirs = raw_block(&furl, head).await;
    assert_eq!(ours.header.state_root, theirs.header.state_root);
    assert_eq!(stats(&furl).await["inferencesRun"], 0);
}

/// A member that can be switched off (a test aid): then every call fails as a refused
/// connection would.
#[derive(Debug)]
struct Switchable {
    inner: Arc<dyn Member>,
    down: Arc<AtomicBool>,
}

impl Member for Switchable {
    fn address(&self) -> Address {
        self.inner.address()
    }

    fn describe(&self) -> String {
        "test: switchable".into()
    }

    fn compute(&self, job: Arc<Job>) -> MemberFuture<'_, Bytes> {
        if self.down.load(Ordering::Relaxed) {
            return Box::pin(async { Err(down()) });
        }
        self.inner.compute(job)
    }

    fn attest(&self, job: Arc<Job>, candidate: Bytes) -> MemberFuture<'_, Bytes> {
        if self.down.load(Ordering::Relaxed) {
            return Box::pin(async { Err(down()) });
        }
        self.inner.attest(job, candidate)
    }

    fn attest_failure(&self, job: Arc<Job>, failure: Bytes) -> MemberFuture<'_, Bytes> {
        if self.down.load(Ordering::Relaxed) {
            return Box::pin(async { Err(down()) });
        }
        self.inner.attest_failure(job, failure)
    }

    fn attest_block(&self, block: Arc<anh_executor::BlockRound>) -> MemberFuture<'_, Bytes> {
        if self.down.load(Ordering::Relaxed) {
            return Box::pin(async { Err(down()) });
        }
        self.inner.attest_block(block)
    }

    fn artifact(&self, model: B256) -> MemberFuture<'_, Bytes> {
        if self.down.load(Ordering::Relaxed) {
            return Box::pin(async { Err(down()) });
        }
        self.inner.artifact(model)
    }
}

fn down() -> ExecutorError {
    ExecutorError::Transport { member: "switchable".into(), reason: "switched off".into() }
}

/// With more than n − t members down nobody can settle (or prove the failure of) a job, so
/// the transaction that asks for one is left out of the block: its sender gets an error with
/// the reason, it stays in the pool, other transactions go on, and once the members are back
/// it is mined with a settled record; no block carries an unsigned record, and a follower
/// replays the chain. A call's own rule is what the committee settles by.
#[tokio::test(flavor = "multi_thread")]
async fn no_quorum_leaves_the_transaction_out() {
    let (bytes, _) = mlp();
    let store = Arc::new(ModelStore::temporary().unwrap());
    store.put(&bytes).unwrap();
    let runtime: Arc<dyn ModelRuntime> =
        Arc::new(OrtRuntime::new(store.clone(), RuntimeConfig::default()).unwrap());
    let down = Arc::new(AtomicBool::new(false));
    let extra: Vec<Arc<dyn Member>> = [0x41u8, 0x42]
        .iter()
        .map(|&seed| {
            let key = ExecutorKey::new(SigningKey::from_slice(&[seed; 32]).unwrap());
            let source: Arc<dyn ModelSource> = store.clone();
            let member = LocalMember::new(Arc::new(Executor::new(key, runtime.clone(), source)));
            Arc::new(Switchable { inner: Arc::new(member), down: down.clone() }) as Arc<dyn Member>
        })
        .collect();
    let config = NodeConfig {
        committee: CommitteeOptions {
            in_process: Some(1),
            extra,
            threshold: 2,
            ..CommitteeOptions::default()
        },
        ..NodeConfig::test()
    };
    let builder = node_with(config).await;
    let url = builder.http_endpoint();
    let provider = provider(&builder, KEY0);
    let (model, consumer_address) = setup(&url, &provider).await;
    let contract = consumer::DnnConsumer::new(consumer_address, &provider);
    let default = consumer::Rule { kind: 0, absTolerance: 0, relTolerance: 0 };
    let values = [0.5, -1.0, 2.0, 0.25];

    let ok = consumer::DnnConsumer::runOrCatchCall {
        model,
        inputs: input(values),
        rule: default.clone(),
    };
    let r = receipt(&provider, submit(&provider, consumer_address, ok.abi_encode()).await).await;
    assert!(r.status());
    assert!(contract.lastError().call().await.unwrap().is_empty(), "settled with everyone up");

    // Two of three down: no quorum. The send answers why, and the transaction waits.
    down.store(true, Ordering::Relaxed);
    let head = provider.get_block_number().await.unwrap();
    let failing = consumer::DnnConsumer::runOrCatchCall {
        model,
        inputs: input([1.0, 2.0, 3.0, 4.0]),
        rule: default.clone(),
    };
    let tx = TransactionRequest::default()
        .with_to(consumer_address)
        .with_input(failing.abi_encode())
        .with_gas_limit(3_000_000);
    let error = provider.send_transaction(tx).await.expect_err("left out of the block");
    let payload = error.as_error_resp().expect("a JSON-RPC error").clone();
    assert_eq!(payload.code, -32000);
    let hash: B256 = serde_json::from_str(payload.data.expect("the hash in data").get()).unwrap();
    assert!(
        payload.message.starts_with(&format!(
            "transaction {hash} was left out of the block: no quorum for job 0x"
        )) && payload.message.ends_with(
            ": 1 signature(s), 2 needed; it stays in the pool and is tried again with the next \
             block (try 1 of 3)"
        ),
        "{}",
        payload.message
    );
    assert_eq!(provider.get_block_number().await.unwrap(), head, "no empty block for it");
    let pending = rpc(&url, "eth_getTransactionByHash", json!([hash])).await;
    assert_eq!(pending["result"]["blockNumber"], Value::Null, "{pending}");
    let status = rpc(&url, "anh_transactionStatus", json!([hash])).await["result"].clone();
    assert_eq!(status["status"], "pending", "{status}");
    assert_eq!(status["leftOut"]["attempts"], 1, "{status}");
    let reason = status["leftOut"]["reason"].as_str().unwrap();
    assert!(reason.starts_with("no quorum for job 0x"), "{reason}");

    // The chain goes on without it (another sender: the first one's next nonce waits).
    let other = provider_at(&url, KEY1);
    let transfer = TransactionRequest::default().with_to(ADDR1).with_value(U256::from(1));
    let t = send(&other, transfer).await;
    assert!(t.status());
    let block = raw_block(&url, t.block_number.unwrap()).await;
    assert_eq!(block.transactions.len(), 1, "the transfer only: the job is still unsettled");
    // Whatever the block records, the committee vouched for.
    let (number, parent) = (block.number(), block.header.parent_hash);
    let committee = committee_of(&url).await;
    if block.attestation == BlockAttestation::default() {
        assert!(block.jobs.iter().all(|j| committee.verify(31337, j).is_ok()));
    } else {
        committee.verify_block(31337, number, parent, &block.jobs, &block.attestation).unwrap();
    }

    // Back up: the next block settles it.
    down.store(false, Ordering::Relaxed);
    rpc(&url, "evm_mine", json!([])).await;
    let r = receipt(&provider, hash).await;
    assert!(r.status());
    assert!(contract.lastError().call().await.unwrap().is_empty(), "settled, nothing caught");
    let block = raw_block(&url, r.block_number.unwrap()).await;
    assert!(block.jobs[0].is_settled() && block.attestation.signatures.len() >= 2);
    let status = rpc(&url, "anh_transactionStatus", json!([hash])).await["result"].clone();
    assert_eq!(status["status"], "mined", "{status}");
    let unknown = rpc(&url, "anh_transactionStatus", json!([B256::ZERO])).await["result"].clone();
    assert_eq!(unknown, json!({ "status": "unknown" }));

    // A call settled by its own rule (argmax) records that rule.
    let argmax = consumer::Rule { kind: 3, absTolerance: 0, relTolerance: 0 };
    let with_rule = consumer::DnnConsumer::runOrCatchCall {
        model,
        inputs: input([2.0, 2.0, 2.0, 2.0]),
        rule: argmax,
    };
    let r =
        receipt(&provider, submit(&provider, consumer_address, with_rule.abi_encode()).await).await;
    let block = raw_block(&url, r.block_number.unwrap()).await;
    assert!(block.jobs[0].is_settled());
    assert_eq!(block.jobs[0].rule, Rule::ARGMAX);

    // A follower replays all of it to the same state.
    let follower = follower(&url).await;
    let furl = follower.http_endpoint();
    let head = provider.get_block_number().await.unwrap();
    assert_eq!(sync_status(&furl, head).await["state"], "synced");
    assert_eq!(raw_block(&url, head).await.hash, raw_block(&furl, head).await.hash);
    assert_eq!(stats(&furl).await["inferencesRun"], 0);
}

/// The committee-block part of `scripts/gpu-check.sh`, run only with `ANH_REQUIRE_CUDA=1` (a
/// GPU machine, a `--features cuda` build, the GPU library): a node whose in-process executors
/// run on CUDA mines an inference transaction with a settled record, and a follower replays
/// it to the same block; the time of the mined transaction is printed.
#[tokio::test(flavor = "multi_thread")]
async fn committee_block_on_cuda() {
    if std::env::var("ANH_REQUIRE_CUDA").as_deref() != Ok("1") {
        eprintln!("committee_block_on_cuda: skipped (set ANH_REQUIRE_CUDA=1 on a GPU machine)");
        return;
    }
    let mut config = NodeConfig::test();
    config.dnn.device = anh_runtime::Device::Cuda { device_id: 0 };
    let builder = node_with(config).await;
    assert!(
        matches!(builder.models().device(), anh_runtime::Device::Cuda { .. }),
        "fell back to CPU"
    );
    let url = builder.http_endpoint();
    let provider = provider(&builder, KEY0);
    let (model, consumer_address) = setup(&url, &provider).await;
    let started = Instant::now();
    let hash = submit(&provider, consumer_address, run_call(model, [0.5, -1.0, 2.0, 0.25])).await;
    let r = receipt(&provider, hash).await;
    let elapsed = started.elapsed();
    assert!(r.status());
    let block = raw_block(&url, r.block_number.unwrap()).await;
    assert!(block.jobs[0].is_settled() && block.attestation.signatures.len() >= 2);
    let follower = follower(&url).await;
    let head = provider.get_block_number().await.unwrap();
    assert_eq!(sync_status(&follower.http_endpoint(), head).await["state"], "synced");
    assert_eq!(
        raw_block(&follower.http_endpoint(), head).await.hash,
        raw_block(&url, head).await.hash
    );
    println!("| mined inference transaction, 3 CUDA executors | {elapsed:?} |");
}
