//! `anh`: the command-line entry point. It parses flags and wires crates together; the
//! work happens in the library crates.

use alloy_primitives::{U256, utils::format_ether};
use anh::{CommitteeOptions, DnnOptions, NodeConfig, NodeHandle, push};
use anh_evm_host::{
    GenesisConfig, MiningMode,
    genesis::{
        DEFAULT_BALANCE_ETH, DEFAULT_CHAIN_ID, DEFAULT_GAS_LIMIT, DEV_DERIVATION_PATH,
        DEV_MNEMONIC, INITIAL_BASE_FEE, private_key_hex,
    },
    txpool::PoolLimits,
};
use anh_precompiles::Rule;
use anh_rpc::ServerConfig;
use clap::{Args, Parser, Subcommand};
use std::{net::IpAddr, path::PathBuf, process::ExitCode, time::Duration};

#[derive(Debug, Parser)]
#[command(
    name = "anh",
    version,
    about = "ANH: an EVM devnet whose Solidity contracts run and train DNNs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a local devnet node (like anvil).
    Node(NodeArgs),
    /// Chain specs: the chain configuration as a file.
    #[command(subcommand)]
    Chain(ChainCommand),
    /// Work with models on a node.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Run an executor: compute DNN jobs for a node and sign the results.
    Executor(anh_executor::cli::ExecutorArgs),
}

#[derive(Debug, Subcommand)]
enum ChainCommand {
    /// Print the chain spec (JSON) of the chain `anh node` with these flags would start:
    /// genesis (timestamp now), committee, tensor limit. Start nodes from it with
    /// `anh node --chain FILE`.
    Spec(SpecArgs),
}

#[derive(Debug, Args)]
struct SpecArgs {
    /// Print a non-dev chain (`"dev": false`): its nodes refuse the dev methods that change
    /// state, time, fees or senders, its followers refuse blocks with a dev record, and its
    /// committee needs a majority threshold.
    #[arg(long)]
    no_dev: bool,
    #[command(flatten)]
    node: NodeArgs,
}

#[derive(Debug, Subcommand)]
enum ModelCommand {
    /// Upload an ONNX model to a node and register it on chain; prints the model hash.
    Push {
        /// The ONNX file.
        file: PathBuf,
        /// The name to register it under.
        #[arg(long)]
        name: String,
        /// The node's JSON-RPC URL.
        #[arg(long, default_value = "http://127.0.0.1:8545", env = "ANH_RPC_URL")]
        rpc_url: String,
        /// Key that signs the registration (default: dev account 0).
        #[arg(long, env = "ANH_PRIVATE_KEY", hide_env_values = true)]
        private_key: Option<String>,
        /// The node's upload token, if it has one (sent as `Authorization: Bearer`).
        #[arg(long, env = "ANH_UPLOAD_TOKEN", hide_env_values = true)]
        upload_token: Option<String>,
    },
}

/// Where models run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DeviceArg {
    /// ONNX Runtime's CPU execution provider.
    Cpu,
    /// ONNX Runtime's CUDA execution provider (GPU 0), falling back to CPU if unusable.
    Cuda,
}

#[derive(Debug, Args)]
struct NodeArgs {
    /// Interface to listen on.
    #[arg(long, default_value = "127.0.0.1", env = "ANH_HOST")]
    host: IpAddr,
    /// Port for JSON-RPC over HTTP and WebSocket.
    #[arg(long, short, default_value_t = 8545, env = "ANH_PORT")]
    port: u16,
    /// Chain id.
    #[arg(long, default_value_t = DEFAULT_CHAIN_ID)]
    chain_id: u64,
    /// Keep the chain in this directory and resume from it; in memory without it.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Mine a block every SECS seconds instead of on each transaction.
    #[arg(long, short, value_name = "SECS", conflicts_with = "no_mining")]
    block_time: Option<f64>,
    /// Mine only on request (`evm_mine`).
    #[arg(long)]
    no_mining: bool,
    /// Number of dev accounts.
    #[arg(long, short, default_value_t = 10)]
    accounts: u32,
    /// Balance of each dev account, in ETH.
    #[arg(long, default_value_t = DEFAULT_BALANCE_ETH)]
    balance: u64,
    /// Mnemonic the dev accounts derive from.
    #[arg(long, short, default_value = DEV_MNEMONIC)]
    mnemonic: String,
    /// Block gas limit.
    #[arg(long, default_value_t = DEFAULT_GAS_LIMIT)]
    gas_limit: u64,
    /// Base fee of the genesis block, in wei.
    #[arg(long, default_value_t = INITIAL_BASE_FEE)]
    base_fee: u64,
    /// Largest JSON-RPC request body, in bytes.
    #[arg(long, default_value_t = ServerConfig::default().max_request_size)]
    max_request_size: usize,
    /// Where models run (the CUDA provider needs the GPU build: `scripts/setup-ort.sh --gpu`).
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu, env = "ANH_DEVICE")]
    device: DeviceArg,
    /// ONNX Runtime threads inside one operator.
    #[arg(long, default_value_t = 1)]
    intra_op_threads: usize,
    /// Seconds one ONNX Runtime run (an inference or a training step) may take before it is
    /// stopped: an `eth_call` then reverts, an executor answers a timeout.
    #[arg(long, value_name = "SECS", default_value_t = anh_runtime::RuntimeConfig::DEFAULT_MAX_RUN_TIME.as_secs())]
    max_run_time: u64,
    /// Token that model uploads (`PUT /models`) must present as `Authorization: Bearer`;
    /// without one, uploads are open on a dev chain and closed on a non-dev one.
    #[arg(long, env = "ANH_UPLOAD_TOKEN", hide_env_values = true)]
    upload_token: Option<String>,
    /// Bytes of model files the store may hold after an upload (then HTTP 507).
    #[arg(long, default_value_t = anh::UploadLimits::default().max_store_bytes)]
    max_store_size: u64,
    /// Expensive requests (eth_call, eth_estimateGas, eth_getLogs, debug_trace*, …) that run
    /// at once, over all clients; further ones wait (default: half the cores, at least 1).
    #[arg(long, default_value_t = anh_rpc::HeavyLimits::default().concurrent)]
    max_heavy_requests: usize,
    /// Expensive requests that may wait for a turn (then -32005).
    #[arg(long, default_value_t = anh_rpc::HeavyLimits::default().queued)]
    max_heavy_queued: usize,
    /// Most transactions the pool holds (then `txpool is full`).
    #[arg(long, default_value_t = PoolLimits::default().max_txs)]
    txpool_max_txs: usize,
    /// Most transactions of one sender waiting behind a nonce gap (then `account limit
    /// exceeded`).
    #[arg(long, default_value_t = PoolLimits::default().max_queued_per_sender)]
    txpool_max_queued: usize,
    /// Largest model accepted, in bytes: its file and its weight blobs together (default: a
    /// quarter of this machine's memory, at least 512 MiB; a file alone is also held to 2 GiB).
    #[arg(long, default_value_t = anh_runtime::Limits::machine_max_model_bytes())]
    max_model_size: u64,
    /// Most elements in one tensor passed to `infer` (chain configuration: block 0 commits to
    /// a value other than the default).
    #[arg(long, default_value_t = anh_precompiles::DnnParams::default().max_tensor_elements)]
    max_tensor_elements: u64,
    /// Executors in this process, with dev keys (default: 3 without --executor, else 0).
    #[arg(long, value_name = "N")]
    executors: Option<usize>,
    /// Executor signatures needed to settle a result.
    #[arg(long, value_name = "T", default_value_t = CommitteeOptions::default().threshold)]
    threshold: usize,
    /// A remote executor, `URL` or `ADDRESS@URL` (repeatable; members after the in-process ones).
    #[arg(long = "executor", value_name = "URL")]
    executor: Vec<String>,
    /// Seconds one executor may take for one call.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    executor_timeout: f64,
    /// Rule for models registered without one: `exact`, `argmax` or `tolerance:ABS,REL`.
    #[arg(long, value_name = "RULE", default_value = "tolerance:1e-6,1e-5", value_parser = parse_rule)]
    default_rule: Rule,
    /// Follow the node at URL: import and replay its blocks (no mining, no DNN runs).
    #[arg(long, value_name = "URL")]
    follow: Option<String>,
    /// The hash block 0 must have (required with --follow: the follower builds genesis from
    /// the followed node's configuration and refuses to start unless it hashes to this).
    #[arg(long, value_name = "HASH")]
    genesis_hash: Option<alloy_primitives::B256>,
    /// Start from this chain spec (`anh chain spec > FILE`) instead of the genesis flags; with
    /// --follow, build genesis from it rather than from the followed node's answer.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = [
            "chain_id", "gas_limit", "base_fee", "mnemonic", "accounts", "balance",
            "threshold", "default_rule", "max_tensor_elements",
        ]
    )]
    chain: Option<PathBuf>,
}

/// `exact`, `argmax` or `tolerance:ABS,REL` (decimals, stored in units of 1e-9).
fn parse_rule(text: &str) -> Result<Rule, String> {
    match text {
        "exact" => Ok(Rule::EXACT),
        "argmax" => Ok(Rule::ARGMAX),
        other => {
            let Some(values) = other.strip_prefix("tolerance:") else {
                return Err(format!(
                    "unknown rule {other:?}: expected exact, argmax or tolerance:ABS,REL"
                ));
            };
            let (abs, rel) = values.split_once(',').ok_or("tolerance:ABS,REL takes two numbers")?;
            let nano = |v: &str| -> Result<u64, String> {
                let x: f64 = v.trim().parse().map_err(|e| format!("{v:?}: {e}"))?;
                if !(0.0..=1e9).contains(&x) {
                    return Err(format!("tolerance {x} out of range"));
                }
                Ok((x * 1e9).round() as u64)
            };
            Ok(Rule::tolerance(nano(abs)?, nano(rel)?))
        }
    }
}

impl NodeArgs {
    fn config(&self) -> Result<NodeConfig, String> {
        let mining = match (self.block_time, self.no_mining) {
            (_, true) => MiningMode::Manual,
            (Some(secs), _) if secs > 0.0 && secs.is_finite() => {
                MiningMode::Interval(Duration::from_secs_f64(secs))
            }
            (Some(secs), _) => {
                return Err(format!(
                    "--block-time must be a positive number of seconds, got {secs}"
                ));
            }
            (None, false) => MiningMode::Auto,
        };
        Ok(NodeConfig {
            host: self.host,
            port: self.port,
            genesis: GenesisConfig {
                chain_id: self.chain_id,
                gas_limit: self.gas_limit,
                base_fee: self.base_fee,
                mnemonic: self.mnemonic.clone(),
                accounts: self.accounts,
                balance: U256::from(self.balance) * U256::from(10u64).pow(U256::from(18)),
                timestamp: None,
                committee: None,
                // Flags give a dev chain; a non-dev one comes from a spec (`--chain`).
                dev: true,
                dnn: anh_precompiles::DnnParams {
                    max_tensor_elements: self.max_tensor_elements,
                    ..Default::default()
                },
            },
            data_dir: self.data_dir.clone(),
            mining,
            uploads: anh::UploadLimits {
                token: self.upload_token.clone(),
                max_store_bytes: self.max_store_size,
                ..anh::UploadLimits::default()
            },
            pool: PoolLimits {
                max_txs: self.txpool_max_txs,
                max_queued_per_sender: self.txpool_max_queued,
                ..PoolLimits::default()
            },
            server: ServerConfig {
                max_request_size: self.max_request_size,
                ..ServerConfig::default()
            },
            heavy: anh_rpc::HeavyLimits {
                concurrent: self.max_heavy_requests.max(1),
                queued: self.max_heavy_queued,
            },
            dnn: DnnOptions {
                device: match self.device {
                    DeviceArg::Cpu => anh_runtime::Device::Cpu,
                    DeviceArg::Cuda => anh_runtime::Device::Cuda { device_id: 0 },
                },
                intra_op_threads: self.intra_op_threads,
                max_model_size: self.max_model_size,
                max_run_time: Duration::from_secs(self.max_run_time.max(1)),
            },
            committee: CommitteeOptions {
                in_process: self.executors,
                remote: self.executor.clone(),
                threshold: self.threshold,
                timeout: Duration::from_secs_f64(self.executor_timeout.max(0.001)),
                default_rule: self.default_rule,
                node_key: node_key_from_env()?,
                extra: Vec::new(),
            },
            follow: self.follow.clone(),
            genesis_hash: self.genesis_hash,
            chain: match &self.chain {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .map_err(|e| format!("--chain {}: {e}", path.display()))?;
                    Some(
                        anh::ChainSpec::parse(&text)
                            .map_err(|e| format!("--chain {}: {e}", path.display()))?,
                    )
                }
                None => None,
            },
        })
    }
}

/// The node key from `ANH_NODE_KEY` (hex), if set.
fn node_key_from_env() -> Result<Option<k256::ecdsa::SigningKey>, String> {
    match std::env::var("ANH_NODE_KEY") {
        Ok(hex) => {
            let bytes = alloy_primitives::hex::decode(hex.trim())
                .map_err(|e| format!("ANH_NODE_KEY: not hex: {e}"))?;
            k256::ecdsa::SigningKey::from_slice(&bytes)
                .map(Some)
                .map_err(|e| format!("ANH_NODE_KEY: not a secp256k1 key: {e}"))
        }
        Err(_) => Ok(None),
    }
}

/// Caps glibc's malloc arenas at the number of cores (unless `MALLOC_ARENA_MAX` says
/// otherwise). glibc's default, 8 per core, lets every thread that allocates a large answer
/// (a trace, a log query, a model) keep its own arena of freed memory: measured with the soak
/// benchmark, traces alone left +728 MiB resident, half that with 2 arenas.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let arenas = libc::c_int::try_from(cores.max(2)).unwrap_or(libc::c_int::MAX);
        // SAFETY: `mallopt` takes two integers; it runs before any other thread starts.
        unsafe { libc::mallopt(libc::M_ARENA_MAX, arenas) };
    }
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Node(args) => runtime.block_on(run_node(args)),
        Command::Chain(ChainCommand::Spec(args)) => runtime.block_on(print_chain_spec(args)),
        Command::Executor(args) => {
            runtime.block_on(anh_executor::cli::run(args)).map_err(|e| e.to_string())
        }
        Command::Model(ModelCommand::Push { file, name, rpc_url, private_key, upload_token }) => {
            let key = private_key.unwrap_or_else(|| push::DEV_KEY_0.to_string());
            runtime.block_on(async {
                let token = upload_token.as_deref();
                let pushed = push::push(&file, &name, &rpc_url, &key, token).await?;
                println!("{}", pushed.model);
                Ok(())
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
}

async fn run_node(args: NodeArgs) -> Result<(), String> {
    let config = args.config()?;
    let node = anh::spawn(config.clone()).await.map_err(|e| e.to_string())?;
    print_banner(&node, &config);
    wait_for_shutdown().await;
    println!("\nShutting down...");
    node.shutdown().await;
    Ok(())
}

async fn print_chain_spec(SpecArgs { no_dev, node: args }: SpecArgs) -> Result<(), String> {
    if args.follow.is_some() || args.chain.is_some() {
        return Err("anh chain spec prints the spec of the chain these flags start: drop \
                    --follow and --chain"
            .into());
    }
    let mut spec = anh::chain_spec(&args.config()?).await.map_err(|e| e.to_string())?;
    spec.dev = !no_dev;
    spec.validate().map_err(|e| format!("chain spec: {e}"))?;
    let text = serde_json::to_string_pretty(&spec).map_err(|e| e.to_string())?;
    println!("{text}");
    Ok(())
}

fn print_banner(node: &NodeHandle, config: &NodeConfig) {
    let backend = node.backend();
    let genesis = backend.genesis();
    let mut out = String::new();
    out.push_str("\n    _    _   _ _   _\n   / \\  | \\ | | | | |\n  / _ \\ |  \\| | |_| |\n / ___ \\| |\\  |  _  |\n/_/   \\_\\_| \\_|_| |_|   A New Hope: DNNs in smart contracts\n\n");
    out.push_str(&format!("anh v{}\n\n", env!("CARGO_PKG_VERSION")));
    out.push_str("Available Accounts\n==================\n");
    for (i, account) in backend.dev_accounts().iter().enumerate() {
        out.push_str(&format!(
            "({i}) {} ({} ETH)\n",
            account.address,
            format_ether(genesis.balance)
        ));
    }
    out.push_str("\nPrivate Keys\n==================\n");
    for (i, account) in backend.dev_accounts().iter().enumerate() {
        out.push_str(&format!("({i}) {}\n", private_key_hex(&account.signer)));
    }
    out.push_str(&format!(
        "\nWallet\n==================\nMnemonic:          {}\nDerivation path:   {DEV_DERIVATION_PATH}\n",
        genesis.mnemonic
    ));
    out.push_str(&format!("\nChain ID\n==================\n\n{}\n", genesis.chain_id));
    out.push_str(&format!("\nBase Fee\n==================\n\n{}\n", genesis.base_fee));
    out.push_str(&format!("\nGas Limit\n==================\n\n{}\n", genesis.gas_limit));
    let mining = match config.mining {
        MiningMode::Auto => "automine (a block per transaction)".to_string(),
        MiningMode::Interval(d) => format!("every {:?}", d),
        MiningMode::Manual => "on request (evm_mine)".to_string(),
    };
    out.push_str(&format!("\nMining\n==================\n\n{mining}\n"));
    let storage = match &config.data_dir {
        Some(dir) => format!("{} (block {} on disk)", dir.display(), backend.best_number()),
        None => "in memory".to_string(),
    };
    out.push_str(&format!("\nState\n==================\n\n{storage}\n"));
    if let Some(follower) = node.follower() {
        out.push_str(&format!(
            "\nFollowing\n==================\n\n{} (importing and replaying its blocks; this node mines nothing)\n",
            follower.status().following
        ));
    }
    if let Some(committee) = &genesis.committee {
        out.push_str(&format!(
            "\nExecutor Committee ({} of {})\n==================\n",
            committee.threshold,
            committee.members.len()
        ));
        let keys = node.executor_keys();
        let executors = node
            .committee()
            .map(|c| c.members().iter().map(|m| m.describe()).collect::<Vec<_>>())
            .unwrap_or_default();
        for (i, member) in committee.members.iter().enumerate() {
            let place = executors.get(i).cloned().unwrap_or_else(|| "remote".into());
            match keys.iter().find(|(a, _)| a == member) {
                Some((_, key)) => out.push_str(&format!("({i}) {member} {place} key {key}\n")),
                None => out.push_str(&format!("({i}) {member} {place}\n")),
            }
        }
        out.push_str(&format!(
            "Default rule: {}\n",
            anh::chain_api::rule_json(&committee.default_rule)
        ));
        if node.committee().is_some() {
            out.push_str(&format!(
                "Node address (signs executor requests): {}\n",
                node.node_address()
            ));
        }
    }
    out.push_str(&format!(
        "\nDNN precompiles\n==================\n\nregistry 0x…0D00, infer 0x…0D01, train 0x…0D02, model info 0x…0D03\nONNX Runtime {} on {:?}, {} intra-op thread(s)\n",
        anh_runtime::ORT_VERSION,
        node.models().device(),
        config.dnn.intra_op_threads
    ));
    out.push_str(&format!(
        "\nRPC URL\n==================\n\n{}\n{}\n",
        node.http_endpoint(),
        node.ws_endpoint()
    ));
    out.push_str(&format!("\nListening on {}\n", node.local_addr()));
    println!("{out}");
}

async fn wait_for_shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
