//! The ANH node as a library: [`NodeConfig`] and [`spawn`], which the `anh` binary and the
//! integration tests share (like anvil's `spawn(NodeConfig)`).
//!
//! `spawn` opens the chain, starts the miner and serves JSON-RPC over HTTP and WebSocket on
//! one port. Everything else lives in the crates it wires together: `anh-evm-host` (the
//! chain), `anh-rpc` (the API) and `anh-precompiles` (the EVM extension).

use anh_evm_host::{Backend, EvmConfig, GenesisConfig, HostError, Miner, MiningMode};
use anh_rpc::{ApiConfig, EthApi, ServerConfig};
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

    /// Stops accepting connections, finishes requests in flight, and stops mining.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.server).await;
    }
}

/// Opens the chain, starts the miner and serves JSON-RPC.
pub async fn spawn(config: NodeConfig) -> Result<NodeHandle, NodeError> {
    let chain_id = config.genesis.chain_id;
    let backend_config = anh_evm_host::NodeConfig {
        genesis: config.genesis.clone(),
        data_dir: config.data_dir.clone(),
        ..Default::default()
    };
    let backend =
        tokio::task::spawn_blocking(move || Backend::new(backend_config, EvmConfig::new(chain_id)))
            .await
            .map_err(|e| HostError::Internal(e.to_string()))??;
    let miner = Arc::new(Miner::spawn(backend.clone(), config.mining));
    let api = EthApi::new(backend, miner, ApiConfig::default(), Vec::new());

    let addr = SocketAddr::new(config.host, config.port);
    let listener =
        TcpListener::bind(addr).await.map_err(|source| NodeError::Bind { addr, source })?;
    let addr = listener.local_addr().map_err(|source| NodeError::Bind { addr, source })?;
    let app = anh_rpc::router(api.clone(), config.server.clone());
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = rx.await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "server stopped");
        }
    });
    Ok(NodeHandle { addr, api, shutdown: Some(tx), server })
}
