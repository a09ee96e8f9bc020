//! WebSocket subscriptions: `eth_subscribe` / `eth_unsubscribe` for `newHeads`, `logs` and
//! `newPendingTransactions`.
//!
//! Each subscription is a task that forwards the node's broadcasts to its connection's
//! outgoing queue. The task is created with its receiver already listening, but forwards
//! only after the `eth_subscribe` answer has been queued, so the id always arrives first. A
//! connection holds at most [`MAX_SUBSCRIPTIONS`]; closing it ends all of them. A client
//! that does not read its socket stalls only its own connection: its subscriptions skip the
//! broadcasts they fell behind on, so nothing grows without bound.

use crate::{api::EthApi, convert, error::RpcError, filters::fresh_id, params::parse};
use alloy_primitives::U128;
use alloy_rpc_types_eth::Filter;
use anh_evm_host::{TxLocation, backend::logs_in};
use serde_json::{Value, json};
use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};
use tokio::{
    sync::{
        broadcast::{self, error::RecvError},
        mpsc, oneshot,
    },
    task::JoinHandle,
};

/// The most subscriptions one connection may hold.
pub const MAX_SUBSCRIPTIONS: usize = 1024;

/// Subscriptions alive across all connections (for tests and `anvil_metadata`-like stats).
#[derive(Debug, Default)]
pub(crate) struct SubscriptionCount(AtomicUsize);

impl SubscriptionCount {
    /// How many subscription tasks are alive.
    pub(crate) fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// Decrements the count when a subscription task ends, however it ends.
struct Alive(Arc<SubscriptionCount>);

impl Alive {
    fn new(count: Arc<SubscriptionCount>) -> Self {
        count.0.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The subscriptions of one WebSocket connection.
#[derive(Debug)]
pub(crate) struct Session {
    api: EthApi,
    outgoing: mpsc::Sender<Vec<u8>>,
    tasks: HashMap<U128, JoinHandle<()>>,
    /// Subscriptions waiting for their id to be sent before they forward anything.
    starting: Vec<oneshot::Sender<()>>,
}

impl Session {
    /// A session sending notifications to `outgoing`.
    pub(crate) fn new(api: EthApi, outgoing: mpsc::Sender<Vec<u8>>) -> Self {
        Self { api, outgoing, tasks: HashMap::new(), starting: Vec::new() }
    }

    /// Whether a session serves `method` (else the API does).
    pub(crate) fn serves(method: &str) -> bool {
        matches!(method, "eth_subscribe" | "eth_unsubscribe")
    }

    /// Handles `eth_subscribe` and `eth_unsubscribe`.
    pub(crate) fn handle(&mut self, method: &str, params: Value) -> Result<Value, RpcError> {
        if method == "eth_subscribe" {
            return self.subscribe(params);
        }
        let (id,) = parse::<(U128,)>(params, 1)?;
        let removed = self.tasks.remove(&id);
        if let Some(task) = &removed {
            task.abort();
        }
        Ok(Value::Bool(removed.is_some()))
    }

    /// Lets subscriptions created by the requests just answered start forwarding.
    pub(crate) fn start_pending(&mut self) {
        for start in self.starting.drain(..) {
            let _ = start.send(());
        }
    }

    fn subscribe(&mut self, params: Value) -> Result<Value, RpcError> {
        self.tasks.retain(|_, task| !task.is_finished());
        if self.tasks.len() >= MAX_SUBSCRIPTIONS {
            return Err(RpcError::new(
                crate::error::SERVER_ERROR,
                format!(
                    "too many subscriptions on this connection (limit {MAX_SUBSCRIPTIONS}); \
                     eth_unsubscribe some first"
                ),
            ));
        }
        let (kind, options): (String, Option<Value>) = parse(params, 1)?;
        let id = fresh_id();
        let (start, started) = oneshot::channel();
        let out = Notifier { id, outgoing: self.outgoing.clone() };
        let alive = Alive::new(self.api.subscription_count().clone());
        let backend = self.api.backend().clone();
        let task = match kind.as_str() {
            "newHeads" => {
                if options.as_ref().is_some_and(|o| !o.is_null()) {
                    return Err(RpcError::invalid_params("newHeads takes no options"));
                }
                forward(alive, started, out, backend.subscribe_blocks(), |block| {
                    // The block without its body, as anvil sends it: the header's fields,
                    // transaction hashes, and the empty uncles and withdrawals.
                    vec![json!(convert::block(&block, false))]
                })
            }
            "logs" => {
                let filter: Filter = match options {
                    None | Some(Value::Null) => Filter::default(),
                    Some(value) => serde_json::from_value(value).map_err(|e| {
                        RpcError::invalid_params(format!("invalid logs filter: {e}"))
                    })?,
                };
                forward(alive, started, out, backend.subscribe_blocks(), move |block| {
                    logs_in(&block, &filter).iter().map(|log| json!(log)).collect()
                })
            }
            "newPendingTransactions" => {
                let full = match options {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(full)) => full,
                    Some(other) => {
                        return Err(RpcError::invalid_params(format!(
                            "newPendingTransactions takes an optional boolean (full \
                             transactions), not {other}"
                        )));
                    }
                };
                let hashes = backend.subscribe_pending();
                forward(alive, started, out, hashes, move |hash| {
                    if !full {
                        return vec![json!(hash)];
                    }
                    match backend.transaction(&hash) {
                        Some(TxLocation::Pending(tx)) => {
                            vec![json!(convert::pending_transaction(&tx))]
                        }
                        Some(TxLocation::Mined(block, i)) => {
                            vec![json!(convert::mined_transaction(
                                &block,
                                i,
                                &block.transactions[i]
                            ))]
                        }
                        None => Vec::new(),
                    }
                })
            }
            other => {
                return Err(RpcError::invalid_params(format!(
                    "unknown subscription \"{other}\": expected newHeads, logs or \
                     newPendingTransactions"
                )));
            }
        };
        self.tasks.insert(id, task);
        self.starting.push(start);
        Ok(serde_json::to_value(id).unwrap_or_default())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        for task in self.tasks.values() {
            task.abort();
        }
    }
}

/// Sends one subscription's notifications.
/// The task of one subscription: once `started` (its id is sent), forwards each broadcast of
/// `rx` as the notifications `notify` makes of it, skipping what it fell behind on, until the
/// connection or the broadcast closes.
fn forward<T, F>(
    alive: Alive,
    started: oneshot::Receiver<()>,
    out: Notifier,
    mut rx: broadcast::Receiver<T>,
    mut notify: F,
) -> JoinHandle<()>
where
    T: Clone + Send + 'static,
    F: FnMut(T) -> Vec<Value> + Send + 'static,
{
    tokio::spawn(async move {
        let _alive = alive;
        if started.await.is_err() {
            return;
        }
        loop {
            match rx.recv().await {
                Ok(item) => {
                    for notification in notify(item) {
                        if !out.send(&notification).await {
                            return;
                        }
                    }
                }
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            }
        }
    })
}

struct Notifier {
    id: U128,
    outgoing: mpsc::Sender<Vec<u8>>,
}

impl Notifier {
    /// Queues a notification; `false` when the connection is gone.
    async fn send(&self, result: &Value) -> bool {
        let message = json!({
            "jsonrpc": "2.0",
            "method": "eth_subscription",
            "params": { "subscription": self.id, "result": result },
        });
        let bytes = serde_json::to_vec(&message).unwrap_or_default();
        self.outgoing.send(bytes).await.is_ok()
    }
}
