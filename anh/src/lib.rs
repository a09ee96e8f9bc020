//! The ANH node as a library: [`NodeConfig`] and [`spawn`], which the `anh` binary and the
//! integration tests share (like anvil's `spawn(NodeConfig)`).
//!
//! `spawn` opens the model store and ONNX Runtime, opens the chain with ANH's precompiles
//! installed, starts the miner and serves JSON-RPC over HTTP and WebSocket on one port.
//! Everything else lives in the crates it wires together: `anh-evm-host` (the chain),
//! `anh-rpc` (the API), `anh-precompiles` (the EVM extension) and `anh-runtime` (ONNX
//! Runtime, the model store).

pub mod chain_api;
pub mod follow;
pub mod models;
pub mod push;
pub mod spec;

use alloy_primitives::{Address, B256};
use anh_evm_host::{
    Backend, EvmConfig, GenesisConfig, HostError, Miner, MiningMode, evm::DnnModes,
};
use anh_executor::{
    CommitteeConfig, CommitteeOracle, Executor, LocalMember, Member, RemoteMember,
    dev_executor_keys,
};
use anh_precompiles::{Committee, Dnn, Rule};
use anh_rpc::{ApiConfig, EthApi, RpcExtension, ServerConfig};
use anh_runtime::{
    Device, Limits as ModelLimits, LocalOracle, ModelRuntime, ModelSource, ModelStore, OrtRuntime,
    RuntimeConfig, RuntimeError,
};
use chain_api::ChainApi;
use k256::ecdsa::SigningKey;
use models::ModelApi;
pub use models::UploadLimits;
pub use spec::ChainSpec;
use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

/// Everything `anh node` can be told.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Interface to listen on.
    pub host: IpAddr,
    /// Port to listen on (0 picks a free one).
    pub port: u16,
    /// Genesis parameters (chain id, accounts, gas limit, …).
    pub genesis: GenesisConfig,
    /// Data directory; `None` keeps the chain in memory.
    pub data_dir: Option<PathBuf>,
    /// When blocks are produced.
    pub mining: MiningMode,
    /// Transport limits.
    pub server: ServerConfig,
    /// How many expensive requests (calls, log queries, traces) run and wait at once.
    pub heavy: anh_rpc::HeavyLimits,
    /// How much the transaction pool holds.
    pub pool: anh_evm_host::txpool::PoolLimits,
    /// What model uploads may take.
    pub uploads: models::UploadLimits,
    /// How models run.
    pub dnn: DnnOptions,
    /// The executor committee that settles DNN results in blocks.
    pub committee: CommitteeOptions,
    /// Follow the node at this URL instead of producing blocks.
    pub follow: Option<String>,
    /// The hash block 0 must have: the trust anchor a follower pins ([`Self::follow`] needs
    /// it or [`Self::chain`]). The follower builds genesis from the followed node's chain
    /// configuration and refuses to start unless its own block 0 has this hash, so the
    /// genesis parameters and the committee (which genesis commits to) are the pinned ones.
    pub genesis_hash: Option<B256>,
    /// The chain spec to start from (`--chain FILE`): it replaces [`Self::genesis`], the
    /// committee's threshold and default rule (the DNN parameters are genesis'). A producer's
    /// executors must be the spec's members, in order; a follower builds genesis from it (and
    /// takes nothing from the followed node but blocks).
    pub chain: Option<ChainSpec>,
}

/// Why a follower without a pinned genesis does not start.
pub const PIN_REQUIRED: &str = "a follower must pin the chain it follows: pass --genesis-hash \
     HASH (the hash of block 0, `cast block 0 -f hash` on a node you trust) or --chain FILE";

/// The executor committee of a block-producing node.
#[derive(Debug, Clone)]
pub struct CommitteeOptions {
    /// Executors in this process, with dev keys (`m/44'/60'/1'/0/i` of the mnemonic);
    /// `None`: 3 when there are no remote ones, else 0.
    pub in_process: Option<usize>,
    /// Remote executors: `URL` (its address is asked from it) or `ADDRESS@URL`.
    pub remote: Vec<String>,
    /// Signatures needed.
    pub threshold: usize,
    /// How long one member may take for one call.
    pub timeout: Duration,
    /// The rule for models registered without one.
    pub default_rule: Rule,
    /// The key this node signs executor requests with (`None`: `m/44'/60'/2'/0/0`).
    pub node_key: Option<SigningKey>,
    /// Further members, after the in-process and remote ones. A test aid: faulty members
    /// (`anh_executor::FaultyMember`) for Byzantine tests of a whole node.
    pub extra: Vec<Arc<dyn Member>>,
}

impl CommitteeOptions {
    /// The default rule: every element within 10^-6 + 10^-5 × |own| of each member's own.
    pub const DEFAULT_RULE: Rule = Rule::tolerance(1_000, 10_000);
}

impl Default for CommitteeOptions {
    fn default() -> Self {
        Self {
            in_process: None,
            remote: Vec::new(),
            threshold: 2,
            timeout: Duration::from_secs(30),
            default_rule: Self::DEFAULT_RULE,
            node_key: None,
            extra: Vec::new(),
        }
    }
}

/// How the node runs models.
#[derive(Debug, Clone)]
pub struct DnnOptions {
    /// CPU, or CUDA with a fallback to CPU.
    pub device: Device,
    /// ONNX Runtime threads inside one operator (1 suits small models on few cores).
    pub intra_op_threads: usize,
    /// Largest model accepted, in bytes: its file and the weight blobs it names together (this
    /// node's upload limit, not consensus). `anh node` defaults it to
    /// [`ModelLimits::machine_max_model_bytes`].
    pub max_model_size: u64,
    /// How long one ONNX Runtime run (an inference or a training step) may take, in Call mode
    /// and in the in-process executors, before it is stopped.
    pub max_run_time: std::time::Duration,
}

impl Default for DnnOptions {
    fn default() -> Self {
        Self {
            device: Device::Cpu,
            intra_op_threads: 1,
            max_model_size: ModelLimits::DEFAULT_MAX_MODEL_BYTES,
            max_run_time: RuntimeConfig::DEFAULT_MAX_RUN_TIME,
        }
    }
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 8545,
            genesis: GenesisConfig::default(),
            data_dir: None,
            mining: MiningMode::Auto,
            server: ServerConfig::default(),
            heavy: anh_rpc::HeavyLimits::default(),
            pool: anh_evm_host::txpool::PoolLimits::default(),
            uploads: models::UploadLimits::default(),
            dnn: DnnOptions::default(),
            committee: CommitteeOptions::default(),
            follow: None,
            genesis_hash: None,
            chain: None,
        }
    }
}

impl NodeConfig {
    /// A configuration for tests: a free port on 127.0.0.1.
    pub fn test() -> Self {
        Self { port: 0, ..Self::default() }
    }
}

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The chain could not be opened.
    #[error(transparent)]
    Host(#[from] HostError),
    /// The model store or ONNX Runtime could not be set up.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The chain spec is not usable.
    #[error("chain spec: {0}")]
    Chain(String),
    /// The executor committee could not be set up.
    #[error("executor committee: {0}")]
    Committee(String),
    /// The node to follow could not be followed.
    #[error("follow: {0}")]
    Follow(String),
    /// The chain spec (`--chain`) is not the followed node's chain.
    #[error(
        "genesis mismatch: --chain gives block 0 {ours}, but {url} serves block 0 {theirs}; \
         refusing to start"
    )]
    ChainMismatch {
        /// This node's block 0, from the spec.
        ours: B256,
        /// The followed node's.
        theirs: B256,
        /// The followed node.
        url: String,
    },
    /// Block 0 is not the pinned one (`--genesis-hash`).
    #[error(
        "genesis mismatch: --genesis-hash pins block 0 {pinned}, but {from} gives block 0 {ours}; \
         refusing to start"
    )]
    GenesisMismatch {
        /// The pinned hash.
        pinned: B256,
        /// This node's block 0.
        ours: B256,
        /// Where this node's genesis came from.
        from: String,
    },
    /// The port could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// A running node.
#[derive(Debug)]
pub struct NodeHandle {
    addr: SocketAddr,
    api: EthApi,
    models: ModelApi,
    committee: Option<Arc<CommitteeOracle>>,
    follower: Option<follow::Follower>,
    executor_keys: Vec<(Address, String)>,
    node_address: Address,
    shutdown: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
}

impl NodeHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://host:port`.
    pub fn http_endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `ws://host:port`.
    pub fn ws_endpoint(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// The chain.
    pub fn backend(&self) -> &Arc<Backend> {
        self.api.backend()
    }

    /// The JSON-RPC API (to call methods in-process).
    pub fn api(&self) -> &EthApi {
        &self.api
    }

    /// The model store and oracle.
    pub fn models(&self) -> &ModelApi {
        &self.models
    }

    /// The executor committee (a block-producing node).
    pub fn committee(&self) -> Option<&Arc<CommitteeOracle>> {
        self.committee.as_ref()
    }

    /// The follower (a following node).
    pub fn follower(&self) -> Option<&follow::Follower> {
        self.follower.as_ref()
    }

    /// The in-process executors' addresses and dev keys (printed at start).
    pub fn executor_keys(&self) -> &[(Address, String)] {
        &self.executor_keys
    }

    /// The address this node signs executor requests as.
    pub fn node_address(&self) -> Address {
        self.node_address
    }

    /// Stops accepting connections, finishes requests in flight, and stops mining.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.server).await;
    }
}

/// Opens the model store and ONNX Runtime, sets up the executor committee (or, following
/// another node, takes its chain configuration and validates its committee), opens the chain,
/// checks block 0 against [`NodeConfig::genesis_hash`] (required when following), starts the
/// miner or the follower, and serves JSON-RPC.
pub async fn spawn(mut config: NodeConfig) -> Result<NodeHandle, NodeError> {
    if config.follow.is_some() && config.genesis_hash.is_none() && config.chain.is_none() {
        return Err(NodeError::Follow(PIN_REQUIRED.into()));
    }
    if let Some(spec) = &config.chain {
        spec.validate().map_err(|e| NodeError::Chain(format!("--chain: {e}")))?;
        config.genesis = spec.genesis();
        config.committee.threshold = spec.committee.threshold;
        config.committee.default_rule = spec.committee.default_rule;
    }
    let DnnParts { store, runtime, oracle: local } = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || open_dnn(&config))
            .await
            .map_err(|e| HostError::Internal(e.to_string()))??
    };
    let mut genesis = config.genesis.clone();
    let node_key = match &config.committee.node_key {
        Some(key) => key.clone(),
        None => dev_node_key(&genesis.mnemonic)?,
    };
    let node_address = anh_primitives::signature::address_of(&node_key);

    let upstream = config.follow.as_deref().map(follow::Upstream::new);
    let mut upstream_genesis = None;
    let (modes, committee_oracle, executor_keys) = match &upstream {
        Some(upstream) => {
            // The followed node's answer is not trusted: genesis comes from the chain spec,
            // or is rebuilt from the answer and must hash to the pinned block 0, which commits
            // to the committee too.
            let (theirs, claimed) = upstream.chain_config().await.map_err(NodeError::Follow)?;
            if config.chain.is_none() {
                genesis = theirs;
            }
            upstream_genesis = Some(claimed);
            let committee = genesis.committee.clone().ok_or_else(|| {
                NodeError::Follow(format!("{} has no executor committee to verify", upstream.url()))
            })?;
            // A spec's committee was validated above; this refuses a followed one.
            committee.validate().map_err(|e| {
                NodeError::Follow(format!(
                    "{} has an executor committee this node cannot trust: {e}",
                    upstream.url()
                ))
            })?;
            // The DNN parameters are the pinned genesis' (block 0 commits to them).
            let dnn = Arc::new(Dnn::new(local.clone()).with_params(genesis.dnn));
            let modes = DnnModes { call: dnn.clone(), build: dnn, ledger: None, committee };
            (modes, None, Vec::new())
        }
        None => {
            let (committee, oracle, keys) = open_committee(
                &config.committee,
                &genesis,
                store.clone(),
                runtime.clone(),
                Arc::new(node_key.clone()),
                config.chain.as_ref().map(|spec| &spec.committee),
            )
            .await?;
            genesis.committee = Some(committee.clone());
            let dnn = Arc::new(Dnn::new(local.clone()).with_params(genesis.dnn));
            let modes = DnnModes {
                call: dnn.clone(),
                build: Arc::new(dnn.with_oracle(oracle.clone())),
                ledger: Some(oracle.clone()),
                committee,
            };
            (modes, Some(oracle), keys)
        }
    };

    let chain_id = genesis.chain_id;
    // Whether this is a dev chain is genesis' (block 0 commits to it): `anh node` without
    // `--chain` runs today's dev chain; a follower takes it from the spec or from the followed
    // node's configuration, which the pinned block 0 hash vouches for.
    let backend_config = anh_evm_host::NodeConfig {
        genesis,
        data_dir: config.data_dir.clone(),
        pool: config.pool,
        ..Default::default()
    };
    let backend = tokio::task::spawn_blocking(move || {
        Backend::new(backend_config, EvmConfig::new(chain_id, modes))
    })
    .await
    .map_err(|e| HostError::Internal(e.to_string()))??;

    let mut extensions: Vec<Arc<dyn RpcExtension>> = Vec::new();
    let ours = backend.block(0).map(|b| b.hash).unwrap_or_default();
    if let Some(pinned) = config.genesis_hash
        && ours != pinned
    {
        let from = match (&config.chain, &upstream) {
            (Some(_), _) => "the chain spec (--chain)".to_string(),
            (None, Some(upstream)) => format!("the chain configuration of {}", upstream.url()),
            (None, None) => "this node's genesis flags".to_string(),
        };
        return Err(NodeError::GenesisMismatch { pinned, ours, from });
    }
    if let (Some(_), Some(upstream), Some(theirs)) = (&config.chain, &upstream, upstream_genesis)
        && ours != theirs
    {
        return Err(NodeError::ChainMismatch { ours, theirs, url: upstream.url().to_string() });
    }
    let (follower, mining) = match upstream {
        Some(upstream) => {
            follow::log_genesis(&upstream, ours);
            let follower = follow::Follower::spawn(backend.clone(), upstream);
            extensions.push(Arc::new(follower.api()));
            (Some(follower), MiningMode::Manual)
        }
        None => (None, config.mining),
    };
    let miner = Arc::new(Miner::spawn(backend.clone(), mining));
    let models = ModelApi::new(store, runtime, backend.clone(), config.uploads.clone());
    let executors = match &committee_oracle {
        Some(c) => c.members().iter().map(|m| m.describe()).collect(),
        None => Vec::new(),
    };
    let chain =
        ChainApi::new(backend.clone(), executors, committee_oracle.as_ref().map(|_| node_address));
    extensions.push(Arc::new(models.clone()));
    extensions.push(Arc::new(chain));
    let api_config = ApiConfig { heavy: config.heavy, ..ApiConfig::default() };
    let api = EthApi::new(backend, miner, api_config, extensions);

    let addr = SocketAddr::new(config.host, config.port);
    let listener =
        TcpListener::bind(addr).await.map_err(|source| NodeError::Bind { addr, source })?;
    let addr = listener.local_addr().map_err(|source| NodeError::Bind { addr, source })?;
    let app = anh_rpc::router(api.clone(), config.server.clone()).merge(models.router());
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = rx.await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "server stopped");
        }
    });
    Ok(NodeHandle {
        addr,
        api,
        models,
        committee: committee_oracle,
        follower,
        executor_keys,
        node_address,
        shutdown: Some(tx),
        server,
    })
}

/// The chain spec a producer started with `config` would run (`anh chain spec`): its genesis
/// (timestamp now unless set), its committee (in-process executors' dev addresses, remote
/// executors' addresses — a `URL` executor is asked — then the extra members), validated, and
/// its tensor limit.
pub async fn chain_spec(config: &NodeConfig) -> Result<ChainSpec, NodeError> {
    let options = &config.committee;
    let genesis = &config.genesis;
    let node_key = match &options.node_key {
        Some(key) => key.clone(),
        None => dev_node_key(&genesis.mnemonic)?,
    };
    let node_key = Arc::new(node_key);
    let in_process = options.in_process.unwrap_or(if options.remote.is_empty() { 3 } else { 0 });
    let mut members: Vec<Address> = dev_executor_keys(&genesis.mnemonic, in_process)
        .map_err(|e| NodeError::Committee(e.to_string()))?
        .iter()
        .map(|key| key.address())
        .collect();
    for spec in &options.remote {
        members.push(connect_remote(spec, node_key.clone()).await?.address());
    }
    members.extend(options.extra.iter().map(|m| m.address()));
    let committee =
        Committee { members, threshold: options.threshold, default_rule: options.default_rule };
    committee.validate().map_err(NodeError::Committee)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    Ok(ChainSpec::new(genesis, committee, now))
}

/// The key this node signs executor requests with, for a dev chain: `m/44'/60'/2'/0/0` of
/// the mnemonic (so that `anh executor` can be told the node's address in advance).
fn dev_node_key(mnemonic: &str) -> Result<SigningKey, NodeError> {
    let signer = alloy_signer_local::MnemonicBuilder::english()
        .phrase(mnemonic)
        .derivation_path("m/44'/60'/2'/0/0")
        .and_then(|b| b.build())
        .map_err(|e| NodeError::Committee(format!("cannot derive the node key: {e}")))?;
    Ok(signer.into_credential())
}

/// The committee: in-process executors with dev keys, then remote ones; with a chain spec,
/// they must be its `expected` members, in order.
async fn open_committee(
    options: &CommitteeOptions,
    genesis: &GenesisConfig,
    store: Arc<ModelStore>,
    runtime: Arc<OrtRuntime>,
    node_key: Arc<SigningKey>,
    expected: Option<&Committee>,
) -> Result<(Committee, Arc<CommitteeOracle>, Vec<(Address, String)>), NodeError> {
    let in_process = options.in_process.unwrap_or(if options.remote.is_empty() { 3 } else { 0 });
    let keys = dev_executor_keys(&genesis.mnemonic, in_process)
        .map_err(|e| NodeError::Committee(e.to_string()))?;
    let mut members: Vec<Arc<dyn Member>> = Vec::new();
    let mut printed = Vec::new();
    for key in keys {
        printed.push((key.address(), key.secret_hex()));
        let runtime: Arc<dyn ModelRuntime> = runtime.clone();
        let source: Arc<dyn ModelSource> = store.clone();
        members.push(Arc::new(LocalMember::new(Arc::new(Executor::new(key, runtime, source)))));
    }
    for spec in &options.remote {
        members.push(connect_remote(spec, node_key.clone()).await?);
    }
    members.extend(options.extra.iter().cloned());
    let committee = Committee {
        members: members.iter().map(|m| m.address()).collect(),
        threshold: options.threshold,
        default_rule: options.default_rule,
    };
    if let Some(expected) = expected
        && expected.members != committee.members
    {
        return Err(NodeError::Committee(format!(
            "--chain names the members {:?}, but this node's executors are {:?}: start it with \
             the executors of the chain spec (--executors, --executor)",
            expected.members, committee.members
        )));
    }
    committee.validate().map_err(NodeError::Committee)?;
    let config = CommitteeConfig {
        committee: committee.clone(),
        members,
        chain_id: genesis.chain_id,
        timeout: options.timeout,
    };
    let oracle = CommitteeOracle::new(config, tokio::runtime::Handle::current())
        .map_err(|e| NodeError::Committee(e.to_string()))?
        .optimistic()
        .with_model_store(store);
    Ok((committee, Arc::new(oracle), printed))
}

/// A remote executor from `URL` (its address asked from it, for up to 10 s) or `ADDRESS@URL`.
async fn connect_remote(
    spec: &str,
    node_key: Arc<SigningKey>,
) -> Result<Arc<dyn Member>, NodeError> {
    if let Some((address, url)) = spec.split_once('@') {
        let address: Address = address
            .parse()
            .map_err(|e| NodeError::Committee(format!("--executor {spec}: bad address: {e}")))?;
        let member = RemoteMember::new(url, address, node_key)
            .map_err(|e| NodeError::Committee(e.to_string()))?;
        return Ok(Arc::new(member));
    }
    let mut last = String::new();
    for _ in 0..50 {
        match RemoteMember::connect(spec, node_key.clone()).await {
            Ok(member) => return Ok(Arc::new(member)),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    Err(NodeError::Committee(format!(
        "executor {spec} did not answer ({last}): start it first, or name its address as ADDRESS@URL"
    )))
}

/// The node's DNN side: model store, ONNX Runtime, and the oracle running its models (the
/// precompiles' configuration over it comes from genesis' DNN parameters).
struct DnnParts {
    store: Arc<ModelStore>,
    runtime: Arc<OrtRuntime>,
    oracle: Arc<LocalOracle>,
}

/// Models whose sessions a runtime keeps for a chain that keeps `warm_models` warm: the
/// default, or more if the chain's warm set is larger.
fn cached_models(warm_models: u64) -> usize {
    let default = RuntimeConfig::default().max_cached_models;
    usize::try_from(warm_models).map_or(usize::MAX, |warm| warm.max(default))
}

/// The model store (under the data directory, else a temporary folder), ONNX Runtime, and
/// the oracle over them (Call mode: the node runs models itself).
fn open_dnn(config: &NodeConfig) -> Result<DnnParts, RuntimeError> {
    let limits =
        ModelLimits { max_model_bytes: config.dnn.max_model_size, ..ModelLimits::default() };
    let store = Arc::new(match &config.data_dir {
        Some(dir) => ModelStore::open_with_limits(dir.join("models"), limits)?,
        None => ModelStore::temporary_with_limits(limits)?,
    });
    let runtime_config = RuntimeConfig {
        device: config.dnn.device,
        intra_op_threads: config.dnn.intra_op_threads.max(1),
        max_run_time: config.dnn.max_run_time,
        // The in-process executors keep every model the chain counts as warm.
        max_cached_models: cached_models(config.genesis.dnn.gas.warm_models),
        gas_per_mmac: config.genesis.dnn.gas.gas_per_mmac,
        ..RuntimeConfig::default()
    };
    let runtime = Arc::new(OrtRuntime::new(store.clone(), runtime_config)?);
    // Call mode: what eth_call trains stays in memory (a block that trains it stores it).
    let oracle = Arc::new(
        LocalOracle::new(store.clone(), Arc::new(runtime.call_lane()))
            .with_scratch_store(store.clone()),
    );
    Ok(DnnParts { store, runtime, oracle })
}
