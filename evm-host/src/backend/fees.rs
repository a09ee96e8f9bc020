//! Fees: the EIP-1559 base fee of the next block, the suggested gas price, and
//! `eth_feeHistory`.

use super::Backend;
use crate::{
    block::Block,
    error::{HostError, HostResult},
};
use alloy_consensus::{Header, Transaction};
use alloy_eips::{
    BlockId, BlockNumberOrTag,
    eip1559::{BaseFeeParams, calc_next_block_base_fee},
};
use alloy_rpc_types_eth::FeeHistory;

/// Priority fee suggested to clients (`eth_maxPriorityFeePerGas`): 1 gwei.
pub const SUGGESTED_PRIORITY_FEE: u128 = 1_000_000_000;

impl Backend {
    /// Base fee of the next block (as set with `anvil_setNextBlockBaseFeePerGas`, or by
    /// EIP-1559).
    pub fn next_base_fee(&self) -> u64 {
        self.next_base_fee_after(&self.chain.read().head().header)
    }

    pub(super) fn next_base_fee_after(&self, head: &Header) -> u64 {
        self.next_base_fee.lock().unwrap_or_else(|| next_base_fee(head))
    }

    /// `eth_gasPrice`: the next base fee plus the suggested tip.
    pub fn gas_price(&self) -> u128 {
        self.next_base_fee() as u128 + SUGGESTED_PRIORITY_FEE
    }

    /// `eth_feeHistory` over `count` blocks ending at `newest`, with priority-fee
    /// percentiles weighted by gas used (geth's method).
    pub fn fee_history(
        &self,
        count: u64,
        newest: BlockNumberOrTag,
        percentiles: &[f64],
    ) -> HostResult<FeeHistory> {
        if percentiles.windows(2).any(|w| w[0] > w[1])
            || percentiles.iter().any(|p| !(0.0..=100.0).contains(p))
        {
            return Err(HostError::InvalidRequest(
                "invalid reward percentiles: must be ascending and within [0, 100]".into(),
            ));
        }
        let newest = match self.resolve_number(BlockId::Number(newest))? {
            Some(n) => n,
            None => self.best_number(),
        };
        let count = count.min(1024).min(newest + 1);
        let oldest = newest + 1 - count;
        let mut history = FeeHistory { oldest_block: oldest, ..Default::default() };
        let mut rewards = Vec::new();
        for number in oldest..=newest {
            let block = self.block(number).ok_or(HostError::UnknownBlock)?;
            let base_fee = block.header.base_fee_per_gas.unwrap_or_default();
            history.base_fee_per_gas.push(base_fee as u128);
            history
                .gas_used_ratio
                .push(block.header.gas_used as f64 / block.header.gas_limit as f64);
            history.base_fee_per_blob_gas.push(1);
            history.blob_gas_used_ratio.push(0.0);
            if !percentiles.is_empty() {
                rewards.push(block_rewards(&block, base_fee, percentiles));
            }
        }
        if count > 0 {
            let newest_block = self.block(newest).ok_or(HostError::UnknownBlock)?;
            history.base_fee_per_gas.push(next_base_fee(&newest_block.header) as u128);
            history.base_fee_per_blob_gas.push(1);
        }
        if !percentiles.is_empty() {
            history.reward = Some(rewards);
        }
        Ok(history)
    }
}

/// The EIP-1559 base fee of the block after `parent`. Block 1 keeps genesis' base fee, as on
/// anvil: the update rule starts from the first mined block, so a fresh devnet's first block
/// charges the `--base-fee` it was started with.
pub fn next_base_fee(parent: &Header) -> u64 {
    if parent.number == 0 {
        return parent.base_fee_per_gas.unwrap_or_default();
    }
    calc_next_block_base_fee(
        parent.gas_used,
        parent.gas_limit,
        parent.base_fee_per_gas.unwrap_or_default(),
        BaseFeeParams::ethereum(),
    )
}

/// The priority fees paid in `block` at `percentiles`, weighted by gas used.
fn block_rewards(block: &Block, base_fee: u64, percentiles: &[f64]) -> Vec<u128> {
    if block.transactions.is_empty() {
        return vec![0; percentiles.len()];
    }
    let mut tips: Vec<(u128, u64)> = block
        .transactions
        .iter()
        .map(|t| (t.tx.effective_tip_per_gas(base_fee).unwrap_or(0), t.gas_used))
        .collect();
    tips.sort_unstable();
    let total: u64 = tips.iter().map(|(_, g)| g).sum();
    percentiles
        .iter()
        .map(|p| {
            let threshold = (total as f64 * p / 100.0) as u64;
            let mut cumulative = 0;
            for (tip, gas) in &tips {
                cumulative += gas;
                if cumulative >= threshold {
                    return *tip;
                }
            }
            tips.last().map(|(t, _)| *t).unwrap_or(0)
        })
        .collect()
}
