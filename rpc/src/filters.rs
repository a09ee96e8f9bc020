//! Polled filters: `eth_newFilter`, `eth_newBlockFilter`, `eth_newPendingTransactionFilter`,
//! `eth_getFilterChanges`, `eth_getFilterLogs`, `eth_uninstallFilter`.
//!
//! As in geth, a filter reports what happened after it was installed — logs and blocks from
//! blocks mined since the previous poll, hashes of transactions pooled since then — and is
//! removed when it has not been polled for [`FILTER_TIMEOUT`]. At most [`MAX_FILTERS`] are
//! installed at once. A pending-transaction filter buffers up to 4096 hashes between polls;
//! beyond that the oldest are dropped.

use crate::error::{RpcError, SERVER_ERROR};
use alloy_eips::BlockNumberOrTag;
use alloy_primitives::{B256, U128, keccak256};
use alloy_rpc_types_eth::{Filter, FilterBlockOption, Log as RpcLog};
use anh_evm_host::{Backend, backend::logs_in};
use parking_lot::Mutex;
use std::{
    collections::HashMap,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant, SystemTime},
};
use tokio::sync::broadcast::{self, error::TryRecvError};

/// How long a filter lives without being polled (geth's default).
pub const FILTER_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// The most filters installed at once.
pub const MAX_FILTERS: usize = 10_000;

/// What a filter watches.
#[derive(Debug)]
enum Kind {
    /// Logs matching a filter, from blocks numbered `next` and up.
    Logs { filter: Box<Filter>, next: u64 },
    /// Hashes of blocks numbered `next` and up.
    Blocks { next: u64 },
    /// Hashes of transactions entering the pool.
    Pending(broadcast::Receiver<B256>),
}

#[derive(Debug)]
struct Installed {
    kind: Kind,
    polled: Instant,
}

/// What `eth_getFilterChanges` returns: logs, or hashes.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub(crate) enum Changes {
    Logs(Vec<RpcLog>),
    Hashes(Vec<B256>),
}

/// The installed filters of an API.
#[derive(Debug, Default)]
pub(crate) struct Filters {
    installed: Mutex<HashMap<U128, Installed>>,
}

/// A fresh id for a filter or a subscription: 128 bits that are hard to guess, like geth's
/// random ids, so that one client cannot easily poll or cancel another's.
pub(crate) fn fresh_id() -> U128 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let hash = keccak256([n.to_be_bytes().as_slice(), &nanos.to_be_bytes()].concat());
    U128::from_be_slice(&hash[..16])
}

fn not_found() -> RpcError {
    RpcError::new(SERVER_ERROR, "filter not found")
}

impl Filters {
    fn install(&self, kind: Kind) -> Result<U128, RpcError> {
        let mut installed = self.installed.lock();
        let now = Instant::now();
        installed.retain(|_, f| now.duration_since(f.polled) < FILTER_TIMEOUT);
        if installed.len() >= MAX_FILTERS {
            return Err(RpcError::new(
                SERVER_ERROR,
                format!("too many filters installed (limit {MAX_FILTERS}); uninstall some first"),
            ));
        }
        let id = fresh_id();
        installed.insert(id, Installed { kind, polled: now });
        Ok(id)
    }

    /// `eth_newFilter`.
    pub(crate) fn new_logs(&self, backend: &Backend, filter: Filter) -> Result<U128, RpcError> {
        if let FilterBlockOption::AtBlockHash(_) = filter.block_option {
            return Err(RpcError::invalid_params(
                "a filter to poll cannot name a block hash; use eth_getLogs",
            ));
        }
        let next = backend.best_number() + 1;
        self.install(Kind::Logs { filter: Box::new(filter), next })
    }

    /// `eth_newBlockFilter`.
    pub(crate) fn new_blocks(&self, backend: &Backend) -> Result<U128, RpcError> {
        self.install(Kind::Blocks { next: backend.best_number() + 1 })
    }

    /// `eth_newPendingTransactionFilter`.
    pub(crate) fn new_pending(&self, backend: &Backend) -> Result<U128, RpcError> {
        self.install(Kind::Pending(backend.subscribe_pending()))
    }

    /// `eth_uninstallFilter`.
    pub(crate) fn uninstall(&self, id: U128) -> bool {
        self.installed.lock().remove(&id).is_some()
    }

    /// `eth_getFilterChanges`: what happened since the last poll. The filters' lock is held
    /// only to read and advance the filter; the blocks are scanned after.
    pub(crate) fn changes(&self, backend: &Backend, id: U128) -> Result<Changes, RpcError> {
        let head = backend.best_number();
        let scan = {
            let mut installed = self.installed.lock();
            let now = Instant::now();
            installed.retain(|_, f| now.duration_since(f.polled) < FILTER_TIMEOUT);
            let entry = installed.get_mut(&id).ok_or_else(not_found)?;
            entry.polled = now;
            match &mut entry.kind {
                Kind::Logs { filter, next } => {
                    // After `evm_revert` the chain may be shorter than when we last looked.
                    let from = (*next).min(head + 1);
                    let to = match filter.block_option.get_to_block() {
                        Some(BlockNumberOrTag::Number(n)) => head.min(*n),
                        _ => head,
                    };
                    let from = match filter.block_option.get_from_block() {
                        Some(BlockNumberOrTag::Number(n)) => from.max(*n),
                        _ => from,
                    };
                    *next = head + 1;
                    Scan::Logs(filter.clone(), from, to)
                }
                Kind::Blocks { next } => {
                    let from = (*next).min(head + 1);
                    *next = head + 1;
                    Scan::Blocks(from)
                }
                Kind::Pending(receiver) => {
                    let mut hashes = Vec::new();
                    loop {
                        match receiver.try_recv() {
                            Ok(hash) => hashes.push(hash),
                            Err(TryRecvError::Lagged(_)) => continue,
                            Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                        }
                    }
                    return Ok(Changes::Hashes(hashes));
                }
            }
        };
        Ok(match scan {
            Scan::Logs(filter, from, to) => Changes::Logs(
                (from..=to)
                    .filter_map(|n| backend.block(n))
                    .flat_map(|block| logs_in(&block, &filter))
                    .collect(),
            ),
            Scan::Blocks(from) => Changes::Hashes(
                (from..=head).filter_map(|n| backend.block(n)).map(|b| b.hash).collect(),
            ),
        })
    }

    /// The log filter `id`, for `eth_getFilterLogs`.
    pub(crate) fn log_filter(&self, id: U128) -> Result<Filter, RpcError> {
        let mut installed = self.installed.lock();
        let entry = installed.get_mut(&id).ok_or_else(not_found)?;
        entry.polled = Instant::now();
        match &entry.kind {
            Kind::Logs { filter, .. } => Ok((**filter).clone()),
            _ => Err(not_found()),
        }
    }

    /// How many filters are installed.
    pub(crate) fn len(&self) -> usize {
        self.installed.lock().len()
    }
}

/// What a poll scans once the filters' lock is released.
enum Scan {
    Logs(Box<Filter>, u64, u64),
    Blocks(u64),
}
