//! The miner: produces blocks automatically (on each ready transaction), at an interval, or
//! only on request.

use crate::backend::{Backend, MineOptions};
use std::{sync::Arc, time::Duration};
use tokio::{sync::watch, task::JoinHandle};
use tracing::error;

/// When blocks are produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MiningMode {
    /// A block as soon as transactions are ready (anvil's default). Transactions that arrive
    /// while a block is being built go into the next one.
    Auto,
    /// A block every interval, empty or not.
    Interval(Duration),
    /// Only on request (`evm_mine`).
    Manual,
}

/// Controls the miner task.
#[derive(Debug)]
pub struct Miner {
    mode: watch::Sender<MiningMode>,
    task: JoinHandle<()>,
}

impl Miner {
    /// Starts the miner task for `backend` (on the current tokio runtime).
    pub fn spawn(backend: Arc<Backend>, mode: MiningMode) -> Self {
        let (tx, rx) = watch::channel(mode);
        let task = tokio::spawn(run(backend, rx));
        Self { mode: tx, task }
    }

    /// The current mode.
    pub fn mode(&self) -> MiningMode {
        *self.mode.borrow()
    }

    /// Switches mode.
    pub fn set_mode(&self, mode: MiningMode) {
        self.mode.send_replace(mode);
    }
}

impl Drop for Miner {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(backend: Arc<Backend>, mut mode: watch::Receiver<MiningMode>) {
    loop {
        let current = *mode.borrow_and_update();
        match current {
            MiningMode::Auto => {
                tokio::select! {
                    _ = backend.tx_ready().notified() => mine_ready(&backend).await,
                    changed = mode.changed() => if changed.is_err() { return },
                }
            }
            MiningMode::Interval(every) => {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {
                        mine_blocking(&backend, MineOptions { allow_empty: true, timestamp: None }).await;
                    }
                    changed = mode.changed() => if changed.is_err() { return },
                }
            }
            MiningMode::Manual => {
                if mode.changed().await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Mines until no transaction is ready.
async fn mine_ready(backend: &Arc<Backend>) {
    while backend.has_ready() {
        if !mine_blocking(backend, MineOptions::default()).await {
            break;
        }
    }
}

/// Mines one block on the blocking pool; returns whether a block was produced.
async fn mine_blocking(backend: &Arc<Backend>, options: MineOptions) -> bool {
    let backend = backend.clone();
    match tokio::task::spawn_blocking(move || backend.mine(options)).await {
        Ok(Ok(block)) => block.is_some(),
        Ok(Err(e)) => {
            error!(error = %e, "block production failed");
            false
        }
        Err(e) => {
            error!(error = %e, "block production panicked");
            false
        }
    }
}
