//! The ANH node as a library: [`NodeConfig`] and [`spawn`], which the `anh` binary and the
//! integration tests share (like anvil's `spawn(NodeConfig)`).
//!
//! `spawn` opens the model store and ONNX Runtime, opens the chain with ANH's precompiles
//! installed, starts the miner and serves JSON-RPC over HTTP and WebSocket on one port.
//! Everything else lives in the crates it wires together: `anh-evm-host` (the chain),
//! `anh-rpc` (the API), `anh-precompiles` (the EVM extension) and `anh-runtime` (ONNX
//! Runtime, the model store).

pub mod models;
pub mod push;

use anh_evm_host::{Backend, EvmConfig, GenesisConfig, HostError, Miner, MiningMode};
use anh_precompiles::{AnhPrecompiles, Dnn};
use anh_rpc::{ApiConfig, EthApi, RpcExtension, ServerConfig};
use anh_runtime::{
    Device, Limits as ModelLimits, LocalOracle, ModelStore, OrtRuntime, RuntimeConfig, RuntimeError,
};
use models::ModelApi;
use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::PathBuf,
    sync::Arc,
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
    /// How models run.
    pub dnn: DnnOptions,
}

/// How the node runs models.
#[derive(Debug, Clone)]
pub struct DnnOptions {
    /// CPU, or CUDA with a fallback to CPU.
    pub device: Device,
    /// ONNX Runtime threads inside one operator (1 suits small models on few cores).
    pub intra_op_threads: usize,
    /// Largest model file accepted, in bytes.
    pub max_model_size: u64,
    /// Most elements in one tensor passed to `infer`.
    pub max_tensor_elements: u64,
}

impl Default for DnnOptions {
    fn default() -> Self {
        Self {
            device: Device::Cpu,
            intra_op_threads: 1,
            max_model_size: ModelLimits::DEFAULT_MAX_MODEL_BYTES,
            max_tensor_elements: anh_precompiles::Limits::default().max_tensor_elements,
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
            dnn: DnnOptions::default(),
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

    /// Stops accepting connections, finishes requests in flight, and stops mining.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.server).await;
    }
}

/// Opens the model store and ONNX Runtime, opens the chain, starts the miner and serves
/// JSON-RPC.
pub async fn spawn(config: NodeConfig) -> Result<NodeHandle, NodeError> {
    let chain_id = config.genesis.chain_id;
    let DnnParts { store, oracle, runtime, dnn } = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || open_dnn(&config))
            .await
            .map_err(|e| HostError::Internal(e.to_string()))??
    };
    let backend_config = anh_evm_host::NodeConfig {
        genesis: config.genesis.clone(),
        data_dir: config.data_dir.clone(),
        ..Default::default()
    };
    let precompiles = AnhPrecompiles::with_dnn(anh_evm_host::genesis::SPEC, dnn);
    let backend = tokio::task::spawn_blocking(move || {
        Backend::new(backend_config, EvmConfig::new(chain_id, precompiles))
    })
    .await
    .map_err(|e| HostError::Internal(e.to_string()))??;
    let miner = Arc::new(Miner::spawn(backend.clone(), config.mining));
    let models = ModelApi::new(store, oracle, runtime, backend.clone());
    let extensions: Vec<Arc<dyn RpcExtension>> = vec![Arc::new(models.clone())];
    let api = EthApi::new(backend, miner, ApiConfig::default(), extensions);

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
    Ok(NodeHandle { addr, api, models, shutdown: Some(tx), server })
}

/// The node's DNN side: model store, the oracle running its models, the precompiles' config.
struct DnnParts {
    store: Arc<ModelStore>,
    oracle: Arc<LocalOracle>,
    runtime: Arc<OrtRuntime>,
    dnn: Arc<Dnn>,
}

/// The model store (under the data directory, else a temporary folder), ONNX Runtime, and
/// the DNN precompiles' configuration over them.
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
        ..RuntimeConfig::default()
    };
    let runtime = Arc::new(OrtRuntime::new(store.clone(), runtime_config)?);
    let oracle = Arc::new(LocalOracle::new(store.clone(), runtime.clone()));
    let limits = anh_precompiles::Limits { max_tensor_elements: config.dnn.max_tensor_elements };
    let dnn = Arc::new(Dnn::new(oracle.clone()).with_limits(limits));
    Ok(DnnParts { store, oracle, runtime, dnn })
}
