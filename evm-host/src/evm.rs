//! The one place where the chain builds a revm EVM, with ANH's precompiles installed.
//!
//! Everything that executes (block building, block import, `eth_call`, `eth_estimateGas`)
//! goes through [`EvmConfig::evm`], so a new precompile module is added in `anh-precompiles`
//! and nowhere here. The DNN precompiles take their results in one of three modes
//! (docs/design.md, "Architecture"): Build (the executor committee, sealing a block), Replay
//! (a block's attested records, importing it: no model runs), Call (the node's own runtime, no
//! quorum).

use crate::Block;
use crate::genesis::SPEC;
use alloy_consensus::{Transaction, TxEnvelope};
use alloy_eips::eip7702::SignedAuthorization;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_rpc_types_eth::TransactionRequest;
use anh_precompiles::{AnhPrecompiles, Dnn};
use anh_primitives::{BlockAttestation, Committee, JobLedger, JobRecord, ReplayOracle};
use revert_decode::decode_revert;
use revm::{
    Context, MainBuilder, MainContext,
    context::{BlockEnv, CfgEnv, Evm, Journal, TxEnv, either::Either},
    context_interface::block::BlobExcessGasAndPrice,
    database_interface::Database,
    handler::{EthFrame, instructions::EthInstructions},
    interpreter::interpreter::EthInterpreter,
};
use std::sync::Arc;

/// The revm context ANH executes in.
pub type AnhContext<DB> = Context<BlockEnv, TxEnv, CfgEnv, DB, Journal<DB>, ()>;

/// The revm EVM with ANH's precompiles.
pub type AnhEvm<DB> = Evm<
    AnhContext<DB>,
    (),
    EthInstructions<EthInterpreter, AnhContext<DB>>,
    AnhPrecompiles,
    EthFrame<EthInterpreter>,
>;

/// The revm EVM with ANH's precompiles and an inspector `I` (tracing: `debug_trace*`).
pub type AnhInspectingEvm<DB, I> = Evm<
    AnhContext<DB>,
    I,
    EthInstructions<EthInterpreter, AnhContext<DB>>,
    AnhPrecompiles,
    EthFrame<EthInterpreter>,
>;

/// Where the DNN precompiles get results, in each of the three modes.
#[derive(Clone)]
pub struct DnnModes {
    /// Call mode (`eth_call`, `eth_estimateGas`): the node runs the model itself, no quorum.
    pub call: Arc<Dnn>,
    /// Build mode (sealing a block): the executor committee.
    pub build: Arc<Dnn>,
    /// Build mode's ledger (the committee): the block's records and its unprovable jobs;
    /// `None` where this node builds no blocks with DNN jobs (a follower).
    pub ledger: Option<Arc<dyn JobLedger>>,
    /// Replay mode (importing or re-executing a block): its job records, verified against
    /// this committee; no model runs.
    pub committee: Committee,
}

impl core::fmt::Debug for DnnModes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DnnModes").field("committee", &self.committee).finish_non_exhaustive()
    }
}

/// Chain-wide execution settings and the precompiles of each mode.
#[derive(Debug, Clone)]
pub struct EvmConfig {
    /// Chain id.
    pub chain_id: u64,
    dnn: Option<DnnModes>,
}

impl EvmConfig {
    /// A configuration for `chain_id` with the DNN precompiles of `dnn`.
    pub fn new(chain_id: u64, dnn: DnnModes) -> Self {
        Self { chain_id, dnn: Some(dnn) }
    }

    /// A configuration for `chain_id` with Ethereum's precompiles only (no DNN).
    pub fn without_dnn(chain_id: u64) -> Self {
        Self { chain_id, dnn: None }
    }

    /// The committee, if the DNN precompiles are installed.
    pub fn committee(&self) -> Option<&Committee> {
        self.dnn.as_ref().map(|d| &d.committee)
    }

    /// Precompiles for calls.
    pub fn call_precompiles(&self) -> AnhPrecompiles {
        match &self.dnn {
            Some(d) => AnhPrecompiles::with_dnn(SPEC, d.call.clone()),
            None => AnhPrecompiles::new(SPEC),
        }
    }

    /// Precompiles for one gas search (`eth_estimateGas`): the call oracle, remembering its
    /// answers, so that the search's many executions run each model once.
    pub fn estimate_precompiles(&self) -> AnhPrecompiles {
        match &self.dnn {
            Some(d) => {
                let oracle = Arc::new(anh_precompiles::Remembering::new(d.call.oracle().clone()));
                AnhPrecompiles::with_dnn(SPEC, Arc::new(d.call.with_oracle(oracle)))
            }
            None => AnhPrecompiles::new(SPEC),
        }
    }

    /// Precompiles for building a block.
    pub fn build_precompiles(&self) -> AnhPrecompiles {
        match &self.dnn {
            Some(d) => AnhPrecompiles::with_dnn(SPEC, d.build.clone()),
            None => AnhPrecompiles::new(SPEC),
        }
    }

    /// The job records settled while building the last block.
    pub fn take_records(&self) -> Vec<JobRecord> {
        self.ledger().map(|l| l.take_records()).unwrap_or_default()
    }

    /// The job records of block `number` (child of `parent`) being sealed, and the
    /// committee's block-level attestation of them, or `None` when the block must be executed
    /// again (see [`JobLedger::seal`]).
    pub fn seal(&self, number: u64, parent: B256) -> Option<(Vec<JobRecord>, BlockAttestation)> {
        self.ledger().map_or_else(|| Some(Default::default()), |l| l.seal(number, parent))
    }

    /// Why jobs asked for since the last call could not be settled provably (see
    /// [`JobLedger::take_unprovable`]).
    pub fn take_unprovable(&self) -> Vec<String> {
        self.ledger().map(|l| l.take_unprovable()).unwrap_or_default()
    }

    /// A mark of the jobs the block being built has recorded ([`JobLedger::mark`]).
    pub fn ledger_mark(&self) -> usize {
        self.ledger().map_or(0, |l| l.mark())
    }

    /// Forgets the jobs recorded since `mark` ([`JobLedger::forget_since`]).
    pub fn forget_records_since(&self, mark: usize) {
        if let Some(ledger) = self.ledger() {
            ledger.forget_since(mark);
        }
    }

    fn ledger(&self) -> Option<&Arc<dyn JobLedger>> {
        self.dnn.as_ref().and_then(|d| d.ledger.as_ref())
    }

    /// Precompiles replaying `block`'s records, and the oracle that tells whether the replay
    /// found everything it needed.
    pub fn replay_precompiles(&self, block: &Block) -> (AnhPrecompiles, Option<Arc<ReplayOracle>>) {
        match &self.dnn {
            Some(d) => {
                let oracle = Arc::new(ReplayOracle::for_block(
                    d.committee.clone(),
                    self.chain_id,
                    block.number(),
                    block.header.parent_hash,
                    block.jobs.clone(),
                    block.attestation.clone(),
                ));
                let dnn = Arc::new(d.call.with_oracle(oracle.clone()));
                (AnhPrecompiles::with_dnn(SPEC, dnn), Some(oracle))
            }
            None => (AnhPrecompiles::new(SPEC), None),
        }
    }

    /// The configuration for transactions in blocks: the latest hard fork, with the
    /// per-transaction gas cap of EIP-7825 lifted, as on anvil.
    pub fn cfg(&self) -> CfgEnv {
        let mut cfg = CfgEnv::new_with_spec(SPEC);
        cfg.chain_id = self.chain_id;
        cfg.tx_gas_limit_cap = Some(u64::MAX);
        // EIP-3607 refuses transactions from accounts with code; anvil turns it off so that
        // impersonated contracts (a multisig, a DAO) can send. A signed transaction cannot
        // come from such an account anyway, except through EIP-7702 delegation, which the
        // rule exempts.
        cfg.disable_eip3607 = true;
        cfg
    }

    /// An EVM over `db` for a block with `block` settings and `precompiles`.
    pub fn evm<DB: Database>(
        &self,
        db: DB,
        cfg: CfgEnv,
        block: BlockEnv,
        precompiles: AnhPrecompiles,
    ) -> AnhEvm<DB> {
        Context::mainnet()
            .with_cfg(cfg)
            .with_block(block)
            .with_db(db)
            .build_mainnet()
            .with_precompiles(precompiles)
    }

    /// Like [`EvmConfig::evm`], with `inspector` watching execution: revm calls it only from
    /// `inspect_*` (`InspectEvm`); `transact*` still runs without it.
    pub fn evm_with_inspector<DB: Database, I>(
        &self,
        db: DB,
        cfg: CfgEnv,
        block: BlockEnv,
        precompiles: AnhPrecompiles,
        inspector: I,
    ) -> AnhInspectingEvm<DB, I> {
        Context::mainnet()
            .with_cfg(cfg)
            .with_block(block)
            .with_db(db)
            .build_mainnet_with_inspector(inspector)
            .with_precompiles(precompiles)
    }
}

/// The block environment for a block with these header fields.
pub fn block_env(
    number: u64,
    timestamp: u64,
    gas_limit: u64,
    base_fee: u64,
    beneficiary: Address,
    prevrandao: B256,
) -> BlockEnv {
    BlockEnv {
        number: U256::from(number),
        beneficiary,
        timestamp: U256::from(timestamp),
        gas_limit,
        basefee: base_fee,
        difficulty: U256::ZERO,
        prevrandao: Some(prevrandao),
        blob_excess_gas_and_price: Some(BlobExcessGasAndPrice::new(0, SPEC_BLOB_UPDATE_FRACTION)),
        ..Default::default()
    }
}

/// Blob base fee update fraction of Prague/Osaka (EIP-7691).
const SPEC_BLOB_UPDATE_FRACTION: u64 = 5_007_716;

/// The revm transaction for a signed transaction from `sender`.
pub fn tx_env(tx: &TxEnvelope, sender: Address) -> TxEnv {
    let mut env = TxEnv {
        tx_type: tx.tx_type() as u8,
        caller: sender,
        gas_limit: tx.gas_limit(),
        gas_price: tx.max_fee_per_gas(),
        kind: tx.kind(),
        value: tx.value(),
        data: tx.input().clone(),
        nonce: tx.nonce(),
        chain_id: tx.chain_id(),
        access_list: tx.access_list().cloned().unwrap_or_default(),
        gas_priority_fee: tx.max_priority_fee_per_gas(),
        ..Default::default()
    };
    if let Some(list) = tx.authorization_list() {
        env.authorization_list = list.iter().cloned().map(Either::Left).collect();
    }
    env
}

/// The revm transaction for an `eth_call`/`eth_estimateGas` request.
///
/// As in geth: the sender defaults to the zero address, the gas to `gas_cap`; without any
/// fee field the call pays no fee (gas price zero, base fee check off — see
/// [`call_cfg`]); the nonce is the sender's current one.
pub fn call_tx_env(
    req: &TransactionRequest,
    gas_cap: u64,
    state_nonce: u64,
    chain_id: u64,
) -> Result<TxEnv, String> {
    if req.max_fee_per_gas.is_some() && req.gas_price.is_some() {
        return Err("both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified".into());
    }
    let data = req.input.input().cloned().unwrap_or_default();
    let gas_price = req.gas_price.or(req.max_fee_per_gas).unwrap_or(0);
    let kind = req.to.unwrap_or(TxKind::Create);
    let authorization_list: Vec<SignedAuthorization> =
        req.authorization_list.clone().unwrap_or_default();
    let tx_type = if !authorization_list.is_empty() {
        4
    } else if req.max_fee_per_gas.is_some() || req.max_priority_fee_per_gas.is_some() {
        2
    } else if req.access_list.is_some() {
        1
    } else {
        0
    };
    Ok(TxEnv {
        tx_type,
        caller: req.from.unwrap_or_default(),
        gas_limit: req.gas.unwrap_or(gas_cap).min(gas_cap),
        gas_price,
        kind,
        value: req.value.unwrap_or_default(),
        data,
        nonce: state_nonce,
        chain_id: Some(req.chain_id.unwrap_or(chain_id)),
        access_list: req.access_list.clone().unwrap_or_default(),
        gas_priority_fee: req.max_priority_fee_per_gas.or((tx_type >= 2).then_some(0)),
        authorization_list: authorization_list.into_iter().map(Either::Left).collect(),
        ..Default::default()
    })
}

/// The configuration for a call: no nonce check, and no base-fee check for a call that
/// pays no fee.
pub fn call_cfg(config: &EvmConfig, tx: &TxEnv) -> CfgEnv {
    let mut cfg = config.cfg();
    cfg.disable_nonce_check = true;
    if tx.gas_price == 0 {
        cfg.disable_base_fee = true;
    }
    cfg
}

/// The reason reported for revert data: the `Error(string)` message, the meaning of a
/// `Panic(uint256)` code (geth's words), the sentence for one of ANH's precompile errors, or
/// `custom error 0x<selector>` for any other error.
pub fn revert_reason(output: &[u8]) -> Option<String> {
    decode_revert(output).or_else(|| anh_precompiles::error::describe(output)).or_else(|| {
        // Another custom error: its selector, as anvil reports it (clients decode the
        // arguments from the revert data).
        let selector = output.get(..4)?;
        let builtin = [[0x08, 0xc3, 0x79, 0xa0], [0x4e, 0x48, 0x7b, 0x71]];
        if builtin.iter().any(|b| b == selector) {
            // A malformed Error(string) or Panic(uint256): nothing to say about it.
            return None;
        }
        Some(format!("custom error {}", alloy_primitives::hex::encode_prefixed(selector)))
    })
}

/// Re-export used by the rpc layer to format revert data.
pub fn revert_data(output: &Bytes) -> String {
    alloy_primitives::hex::encode_prefixed(output)
}

mod revert_decode {
    use alloy_primitives::U256 as Word;

    const ERROR_SELECTOR: [u8; 4] = [0x08, 0xc3, 0x79, 0xa0];
    const PANIC_SELECTOR: [u8; 4] = [0x4e, 0x48, 0x7b, 0x71];

    /// Decodes `Error(string)` and `Panic(uint256)` revert data.
    pub(super) fn decode_revert(output: &[u8]) -> Option<String> {
        let (selector, body) = (output.get(..4)?, &output[4..]);
        if selector == ERROR_SELECTOR {
            let offset = usize::try_from(Word::from_be_slice(body.get(..32)?)).ok()?;
            let len_word = body.get(offset..offset.checked_add(32)?)?;
            let len = usize::try_from(Word::from_be_slice(len_word)).ok()?;
            let start = offset + 32;
            let bytes = body.get(start..start.checked_add(len)?)?;
            return Some(String::from_utf8_lossy(bytes).into_owned());
        }
        if selector == PANIC_SELECTOR && body.len() == 32 {
            let code = Word::from_be_slice(body);
            let reason = match u64::try_from(code).unwrap_or(u64::MAX) {
                0x00 => "generic panic",
                0x01 => "assert(false)",
                0x11 => "arithmetic underflow or overflow",
                0x12 => "division or modulo by zero",
                0x21 => "enum overflow",
                0x22 => "invalid encoded storage byte array accessed",
                0x31 => "out-of-bounds array access; popping on an empty array",
                0x32 => "out-of-bounds access of an array or bytesN",
                0x41 => "out of memory",
                0x51 => "uninitialized function",
                _ => return Some(format!("panic: unknown code {code:#x}")),
            };
            // anvil's wording.
            return Some(format!("panic: {reason} ({code:#x})"));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::hex;

    /// `Error(string)` decodes to its message, `Panic(0x12)` to geth's text, garbage to none.
    #[test]
    fn revert_reasons() {
        let error = hex!(
            "08c379a0000000000000000000000000000000000000000000000000000000000000002000000000000000000000000000000000000000000000000000000000000000046e6f706500000000000000000000000000000000000000000000000000000000"
        );
        assert_eq!(revert_reason(&error).as_deref(), Some("nope"));
        let panic =
            hex!("4e487b710000000000000000000000000000000000000000000000000000000000000012");
        assert_eq!(
            revert_reason(&panic).as_deref(),
            Some("panic: division or modulo by zero (0x12)")
        );
        assert_eq!(revert_reason(&[0x08, 0xc3, 0x79, 0xa0, 1]), None);
        assert_eq!(revert_reason(&[]), None);
        assert_eq!(revert_reason(&hex!("deadbeef")).as_deref(), Some("custom error 0xdeadbeef"));
        assert_eq!(revert_reason(&hex!("deadbe")), None);
    }
}
