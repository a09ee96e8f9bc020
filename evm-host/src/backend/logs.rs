//! Logs: `eth_getLogs` over a block range, and the logs of one block that match a filter.

use super::Backend;
use crate::{
    block::Block,
    error::{HostError, HostResult},
};
use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_rpc_types_eth::{Filter, FilterBlockOption, Log as RpcLog};
use std::sync::Arc;

/// What one `eth_getLogs` may scan and return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimits {
    /// Largest block range scanned (100 000 by default).
    pub max_range: u64,
    /// Most logs returned (10 000 by default, as geth and Infura): a query that matches more
    /// is refused, naming its range, rather than answered with an unbounded array.
    pub max_results: usize,
}

impl Default for LogLimits {
    fn default() -> Self {
        Self { max_range: 100_000, max_results: 10_000 }
    }
}

impl Backend {
    /// `eth_getLogs`: the logs matching `filter`, with their positions, within `limits`.
    pub fn logs(&self, filter: &Filter, limits: LogLimits) -> HostResult<Vec<RpcLog>> {
        let max_range = limits.max_range;
        let blocks: Vec<Arc<Block>> = match filter.block_option {
            FilterBlockOption::AtBlockHash(hash) => {
                vec![self.block_by_hash(&hash).ok_or(HostError::UnknownBlock)?]
            }
            FilterBlockOption::Range { from_block, to_block } => {
                // Resolved and sliced under one lock guard (a revert in between cannot strand
                // the range).
                let chain = self.chain.read();
                let head = chain.head().number();
                let resolve = |tag: Option<BlockNumberOrTag>| -> HostResult<u64> {
                    match tag {
                        None => Ok(head),
                        Some(tag) => Ok(chain.resolve(BlockId::Number(tag))?.unwrap_or(head)),
                    }
                };
                let from = resolve(from_block)?;
                let to = resolve(to_block)?;
                if from > to {
                    return Err(HostError::InvalidRequest(format!(
                        "invalid block range params: fromBlock {from} is after toBlock {to}"
                    )));
                }
                if to - from >= max_range {
                    return Err(HostError::InvalidRequest(format!(
                        "query exceeds max block range {max_range}: fromBlock {from}, toBlock {to}"
                    )));
                }
                chain.blocks[from as usize..=to as usize].to_vec()
            }
        };
        let mut logs = Vec::new();
        for block in &blocks {
            logs.extend(logs_in(block, filter));
            if logs.len() > limits.max_results {
                let (first, last) = (blocks[0].number(), blocks[blocks.len() - 1].number());
                return Err(HostError::LimitExceeded(format!(
                    "query returned more than {} results (blocks {first:#x} to {last:#x}): \
                     narrow the block range or the filter",
                    limits.max_results
                )));
            }
        }
        Ok(logs)
    }
}

/// The logs of `block` that match `filter`'s addresses and topics (its block range is not
/// looked at), with their positions.
pub fn logs_in(block: &Block, filter: &Filter) -> Vec<RpcLog> {
    let mut out = Vec::new();
    if !filter.matches_bloom(block.header.logs_bloom) {
        return out;
    }
    let mut log_index = 0u64;
    for (tx_index, tx) in block.transactions.iter().enumerate() {
        for log in tx.receipt.logs() {
            if filter.matches_address(log.address) && filter.matches_topics(log.topics()) {
                out.push(RpcLog {
                    inner: log.clone(),
                    block_hash: Some(block.hash),
                    block_number: Some(block.number()),
                    block_timestamp: Some(block.header.timestamp),
                    transaction_hash: Some(tx.hash),
                    transaction_index: Some(tx_index as u64),
                    log_index: Some(log_index),
                    removed: false,
                });
            }
            log_index += 1;
        }
    }
    out
}
