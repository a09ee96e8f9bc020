//! Logs: `eth_getLogs` over a block range, and the logs of one block that match a filter.

use super::Backend;
use crate::{
    block::Block,
    error::{HostError, HostResult},
};
use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_rpc_types_eth::{Filter, FilterBlockOption, Log as RpcLog};
use std::sync::Arc;

impl Backend {
    /// `eth_getLogs`: the logs matching `filter`, with their positions.
    pub fn logs(&self, filter: &Filter, max_range: u64) -> HostResult<Vec<RpcLog>> {
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
        Ok(blocks.iter().flat_map(|block| logs_in(block, filter)).collect())
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
