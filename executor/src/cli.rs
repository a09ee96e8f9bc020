//! `anh executor`: the flags ([`ExecutorArgs`]) and the process ([`run`]).
//!
//! The process loads its key (`--key-file`, else `ANH_EXECUTOR_KEY`), learns which node(s) it
//! serves (`--node-address`, else the node's `anh_committee` answer's `nodeAddress`), opens
//! its model cache (`--model-dir`), loads ONNX Runtime, prints its address (never its key) and
//! serves [`crate::server`]'s protocol on `--listen` until Ctrl-C or SIGTERM. Models are
//! fetched from `--node` on first use and checked against their hash.

use crate::{
    auth::NodeAuth,
    error::{ExecutorError, Result},
    executor::{Executor, ExecutorConfig},
    key::{ExecutorKey, KEY_ENV},
    server::{ServerLimits, router},
    source::NodeModelSource,
};
use alloy_primitives::Address;
use anh_runtime::{Device, ModelStore, OrtRuntime, RuntimeConfig};
use std::{net::SocketAddr, path::PathBuf, sync::Arc};

/// Where an executor runs models.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum DeviceArg {
    /// ONNX Runtime's CPU execution provider.
    #[default]
    Cpu,
    /// ONNX Runtime's CUDA execution provider (GPU 0), falling back to CPU if unusable.
    Cuda,
}

/// The flags of `anh executor`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExecutorArgs {
    /// File holding the executor's private key (one line of hex, mode 600); without it, the
    /// key comes from the ANH_EXECUTOR_KEY environment variable.
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Address to serve the executor protocol on.
    #[arg(long, default_value = "127.0.0.1:9545", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// The node whose jobs this executor runs; models are fetched from it.
    #[arg(long, default_value = "http://127.0.0.1:8545", value_name = "URL")]
    pub node: String,
    /// Address of a node allowed to send jobs (repeatable); without it, the node at --node is
    /// asked for its address (`anh_committee`).
    #[arg(long = "node-address", value_name = "ADDR")]
    pub node_address: Vec<Address>,
    /// Where models run (the CUDA provider needs the GPU build: `scripts/setup-ort.sh --gpu`).
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu, env = "ANH_DEVICE")]
    pub device: DeviceArg,
    /// ONNX Runtime threads inside one operator.
    #[arg(long, default_value_t = 1)]
    pub intra_op_threads: usize,
    /// Seconds one ONNX Runtime run may take before it is stopped (the job then answers a
    /// timeout, never a failure to sign).
    #[arg(long, value_name = "SECS", default_value_t = RuntimeConfig::DEFAULT_MAX_RUN_TIME.as_secs())]
    pub max_run_time: u64,
    /// Largest model fetched, in bytes: its file and its weight blobs together (default: a
    /// quarter of this machine's memory, at least 512 MiB). At least the node's, or models past
    /// it are never run here.
    #[arg(long, default_value_t = anh_runtime::Limits::machine_max_model_bytes())]
    pub max_model_size: u64,
    /// Folder of the model cache (default: `models/` under the executor's cache folder,
    /// `~/.cache/anh/executor/`).
    #[arg(long, value_name = "DIR")]
    pub model_dir: Option<PathBuf>,
    /// Signed request bodies read at once, before each is checked against its signed hash.
    #[arg(long, default_value_t = ServerLimits::default().max_unauthenticated)]
    pub max_unauthenticated: usize,
    /// Jobs running at once (default: the number of cores).
    #[arg(long)]
    pub max_concurrent: Option<usize>,
    /// Jobs waiting for a slot before the executor answers "busy".
    #[arg(long, default_value_t = ServerLimits::default().max_queue)]
    pub max_queue: usize,
    /// Largest request body, in bytes.
    #[arg(long, default_value_t = ServerLimits::default().max_body_bytes)]
    pub max_body_bytes: usize,
    /// The chain's price of 10^6 MACs in gas (its chain spec's `gas.gasPerMmac`): a run may
    /// take 20 times the time it paid for, plus 2 s, at most --max-run-time.
    #[arg(long, default_value_t = RuntimeConfig::default().gas_per_mmac)]
    pub gas_per_mmac: u64,
    /// Models whose sessions stay loaded. It must be at least the chain's `warmModels` (16 unless
    /// its chain spec says otherwise): the chain charges no load for a warm model.
    #[arg(long, default_value_t = RuntimeConfig::default().max_cached_models)]
    pub max_cached_models: usize,
    /// Largest job accepted: the model's MACs × batch.
    #[arg(long, default_value_t = ExecutorConfig::DEFAULT_MAX_JOB_MACS)]
    pub max_job_macs: u64,
}

/// The default model cache folder: `<anh cache>/executor/models`.
pub fn default_model_dir() -> PathBuf {
    anh_runtime::cache_dir().join("executor").join("models")
}

/// Asks the node at `node` for its address: JSON-RPC `anh_committee`, field `nodeAddress`.
pub async fn node_address(node: &str) -> Result<Address> {
    let fail = |reason: String| {
        ExecutorError::Config(format!(
            "cannot learn the address of the node at {node} from anh_committee ({reason}): pass --node-address ADDR"
        ))
    };
    let request = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "anh_committee", "params": []
    });
    let response = reqwest::Client::new()
        .post(node)
        .json(&request)
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| fail(e.to_string()))?;
    let answer: serde_json::Value = response.json().await.map_err(|e| fail(e.to_string()))?;
    if let Some(error) = answer.get("error") {
        return Err(fail(format!("the node answered {error}")));
    }
    let address = answer.pointer("/result/nodeAddress").and_then(|v| v.as_str());
    address
        .ok_or_else(|| fail("the answer has no result.nodeAddress".into()))?
        .parse()
        .map_err(|e| fail(format!("result.nodeAddress: {e}")))
}

/// Runs an executor until Ctrl-C or SIGTERM (see the module docs).
pub async fn run(args: ExecutorArgs) -> Result<()> {
    let key = match &args.key_file {
        Some(path) => ExecutorKey::from_file(path)?,
        None => ExecutorKey::from_env()?,
    };
    let nodes = if args.node_address.is_empty() {
        vec![node_address(&args.node).await?]
    } else {
        args.node_address.clone()
    };
    let model_dir = args.model_dir.clone().unwrap_or_else(default_model_dir);
    let limits = anh_runtime::Limits {
        max_model_bytes: args.max_model_size,
        ..anh_runtime::Limits::default()
    };
    let store = Arc::new(ModelStore::open_with_limits(&model_dir, limits)?);
    let source =
        Arc::new(NodeModelSource::new(&args.node, store, tokio::runtime::Handle::current())?);
    let config = RuntimeConfig {
        device: match args.device {
            DeviceArg::Cpu => Device::Cpu,
            DeviceArg::Cuda => Device::Cuda { device_id: 0 },
        },
        intra_op_threads: args.intra_op_threads.max(1),
        max_run_time: std::time::Duration::from_secs(args.max_run_time.max(1)),
        max_cached_models: args.max_cached_models.max(1),
        gas_per_mmac: args.gas_per_mmac,
        ..RuntimeConfig::default()
    };
    let runtime_source = source.clone();
    let runtime = tokio::task::spawn_blocking(move || OrtRuntime::new(runtime_source, config))
        .await
        .map_err(|e| ExecutorError::Config(format!("loading ONNX Runtime failed: {e}")))??;
    let device = runtime.active_device();
    let executor = Arc::new(Executor::with_config(
        key,
        Arc::new(runtime),
        source,
        ExecutorConfig { max_job_macs: args.max_job_macs, ..ExecutorConfig::default() },
    ));
    let defaults = ServerLimits::default();
    let limits = ServerLimits {
        max_concurrent: args.max_concurrent.unwrap_or(defaults.max_concurrent).max(1),
        max_queue: args.max_queue,
        max_body_bytes: args.max_body_bytes,
        max_unauthenticated: args.max_unauthenticated.max(1),
    };
    let listener = tokio::net::TcpListener::bind(args.listen).await.map_err(|source| {
        ExecutorError::Io { context: format!("cannot listen on {}", args.listen), source }
    })?;
    let local = listener.local_addr().map_err(|source| ExecutorError::Io {
        context: "cannot read the listening address".into(),
        source,
    })?;
    println!("anh executor {}", executor.address());
    println!("  listening on  http://{local}");
    println!("  serving node  {} ({})", args.node, join(&nodes));
    println!("  models in     {}", model_dir.display());
    println!("  device        {device:?}");
    println!(
        "  limits        {} concurrent, {} queued, {} body bytes, {} MACs per job",
        limits.max_concurrent, limits.max_queue, limits.max_body_bytes, args.max_job_macs
    );
    if args.key_file.is_none() {
        println!("  key from      ${KEY_ENV}");
    }
    let app = router(executor, limits, NodeAuth::new(nodes));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await
        .map_err(|source| ExecutorError::Io { context: "the HTTP server failed".into(), source })?;
    println!("anh executor stopped");
    Ok(())
}

fn join(addresses: &[Address]) -> String {
    addresses.iter().map(Address::to_string).collect::<Vec<_>>().join(", ")
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
