//! The chain side of the `anh_` namespace: attestations, the committee, and what a follower
//! needs to import the chain.
//!
//! - `anh_getAttestations(block) -> [object] | null`: the block's DNN job records, each
//!   `{job, kind, model, rule: {kind, absTolerance, relTolerance}, output, signatures,
//!   settled, failure, sealed}`, signatures 65-byte hex (`r ‖ s ‖ v`, low-s). In a block the
//!   committee sealed as a whole, a record's own `signatures` are empty and `sealed` is
//!   `{blockNumber, parentHash, index, count, leaf, root, proof, digest, signatures}`: the
//!   record's leaf, its Merkle path to the signed root (`anh_primitives::seal`), the block
//!   digest and the committee's signatures of it — enough to check one job without the others.
//!   `sealed` is `null` in a block whose records carry their own signatures. `block` is a
//!   number, a tag or a block hash.
//! - `anh_committee() -> object`: `{members, threshold, defaultRule, executors, nodeAddress}`
//!   (`executors` describes how this node reaches each member: "in-process" or a URL;
//!   `nodeAddress` is the key this node signs executor requests with).
//! - `anh_chainConfig() -> object`: `{genesis, genesisHash}` — everything another node needs
//!   to build the same genesis (a follower checks it gets the same hash).
//! - `anh_getRawBlock(number) -> hex | null`: the block as stored (header, transactions,
//!   senders, receipts, job records), for followers.
//! - `anh_transactionStatus(hash) -> object`: `{status, blockNumber?, leftOut?}` where status is
//!   `mined`, `pending`, `dropped` (left out of
//!   [`MAX_EXCLUSIONS`](anh_evm_host::txpool::MAX_EXCLUSIONS) blocks and out of the pool)
//!   or `unknown`, and `leftOut` `{reason, attempts}` says why the block builder left the
//!   pending or dropped transaction out of blocks (a DNN job nobody could settle provably), if
//!   it did.

use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, B256, Bytes};
use anh_evm_host::{Backend, Block, HostError, TxLocation, txpool::Exclusion};
use anh_primitives::{BlockAttestation, JobKind, JobRecord, Rule, seal};
use anh_rpc::{
    RpcError, RpcExtension, RpcFuture,
    params::{none, parse},
};
use serde_json::{Value, json};
use std::sync::Arc;

/// The chain's `anh_` methods.
#[derive(Debug, Clone)]
pub struct ChainApi {
    backend: Arc<Backend>,
    executors: Vec<String>,
    node_address: Option<Address>,
}

impl ChainApi {
    /// The API over `backend`; `executors` describes how each committee member is reached,
    /// `node_address` is the key this node signs executor requests with.
    pub fn new(
        backend: Arc<Backend>,
        executors: Vec<String>,
        node_address: Option<Address>,
    ) -> Self {
        Self { backend, executors, node_address }
    }

    fn block(&self, id: BlockId) -> Result<Option<Arc<Block>>, RpcError> {
        if let BlockId::Hash(hash) = id {
            return Ok(self.backend.block_by_hash(&hash.block_hash));
        }
        match self.backend.resolve_number(id) {
            Ok(Some(n)) => Ok(self.backend.block(n)),
            Ok(None) => Ok(Some(self.backend.latest())),
            Err(HostError::UnknownBlock) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn committee(&self) -> Value {
        match &self.backend.genesis().committee {
            Some(c) => json!({
                "members": c.members,
                "threshold": c.threshold,
                "defaultRule": rule_json(&c.default_rule),
                "executors": self.executors,
                "nodeAddress": self.node_address,
            }),
            None => Value::Null,
        }
    }
}

/// A rule as JSON: its kind by name and its tolerances (units of 1e-9).
pub fn rule_json(rule: &Rule) -> Value {
    json!({ "kind": rule.kind.name(), "absTolerance": rule.abs, "relTolerance": rule.rel })
}

/// A job record as `anh_getAttestations` shows it.
pub fn record_json(record: &JobRecord) -> Value {
    let kind = match JobKind::from_code(record.kind) {
        Some(JobKind::Infer) => "infer",
        Some(JobKind::Register) => "register",
        Some(JobKind::Train) => "train",
        None => "unknown",
    };
    json!({
        "job": record.job,
        "kind": kind,
        "model": record.model,
        "rule": rule_json(&record.rule),
        "output": record.output,
        "signatures": record.signatures,
        "settled": record.is_settled(),
        "failure": (!record.is_settled()).then(|| String::from_utf8_lossy(&record.failure).into_owned()),
    })
}

/// `anh_getAttestations`: each record ([`record_json`]) and, in a block the committee sealed
/// as a whole, the record's `sealed` proof: its place and leaf, the Merkle path to the signed
/// root, the block digest and the committee's signatures of it (`null` in a block whose
/// records carry their own signatures).
pub fn attestations_json(block: &Block, chain_id: u64) -> Value {
    let sealed = block.attestation != BlockAttestation::default();
    let (root, digest) = (
        block.attestation.root(),
        block.attestation.digest(chain_id, block.number(), block.header.parent_hash),
    );
    let leaves = &block.attestation.leaves;
    // Every proof in one pass over the tree (a proof apiece would hash the tree once per job).
    let mut proofs = if sealed { seal::inclusion_proofs(leaves) } else { Vec::new() }.into_iter();
    Value::Array(
        block
            .jobs
            .iter()
            .enumerate()
            .map(|(index, record)| {
                let mut value = record_json(record);
                value["sealed"] = match proofs.next() {
                    Some(proof) => json!({
                        "blockNumber": block.number(),
                        "parentHash": block.header.parent_hash,
                        "index": index,
                        "count": leaves.len(),
                        "leaf": leaves[index],
                        "root": root,
                        "proof": proof,
                        "digest": digest,
                        "signatures": block.attestation.signatures,
                    }),
                    _ => Value::Null,
                };
                value
            })
            .collect(),
    )
}

impl ChainApi {
    /// `anh_transactionStatus` (see the module docs).
    fn transaction_status(&self, hash: &B256) -> Value {
        let left_out = self
            .backend
            .exclusion(hash)
            .map(|e: Exclusion| json!({ "reason": e.reason, "attempts": e.attempts }));
        match self.backend.transaction(hash) {
            Some(TxLocation::Mined(block, _)) => {
                json!({ "status": "mined", "blockNumber": block.number(), "leftOut": left_out })
            }
            Some(TxLocation::Pending(_)) => json!({ "status": "pending", "leftOut": left_out }),
            None if left_out.is_some() => json!({ "status": "dropped", "leftOut": left_out }),
            None => json!({ "status": "unknown" }),
        }
    }
}

impl RpcExtension for ChainApi {
    fn call(&self, method: &str, params_value: Value) -> Option<RpcFuture> {
        let api = self.clone();
        let future: RpcFuture = match method {
            "anh_getAttestations" => Box::pin(async move {
                let (id,): (BlockId,) = parse(params_value, 1)?;
                Ok(match api.block(id)? {
                    Some(block) => attestations_json(&block, api.backend.chain_id()),
                    None => Value::Null,
                })
            }),
            "anh_committee" => Box::pin(async move {
                none(&params_value)?;
                Ok(api.committee())
            }),
            "anh_chainConfig" => Box::pin(async move {
                none(&params_value)?;
                let genesis_hash: Option<B256> = api.backend.block(0).map(|b| b.hash);
                Ok(json!({ "genesis": api.backend.genesis(), "genesisHash": genesis_hash }))
            }),
            "anh_transactionStatus" => Box::pin(async move {
                let (hash,): (B256,) = parse(params_value, 1)?;
                Ok(api.transaction_status(&hash))
            }),
            "anh_getRawBlock" => Box::pin(async move {
                let (number,): (BlockNumberOrTag,) = parse(params_value, 1)?;
                Ok(match api.block(BlockId::Number(number))? {
                    Some(block) => json!(Bytes::from(block.encode())),
                    None => Value::Null,
                })
            }),
            _ => return None,
        };
        Some(future)
    }
}
