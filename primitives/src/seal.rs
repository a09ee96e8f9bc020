//! Block-level attestations: the committee signs one digest per block that commits to every
//! job record in it, so a follower recovers `t` signatures per block instead of `t` per job,
//! and checks each record against what was signed.
//!
//! - A record's **leaf** is `keccak256(0x00 ‖ abi.encode(job, kind, model, ruleHash,
//!   keccak256(output), keccak256(failure)))`: everything a replay takes from the record.
//! - The **root** of a block's leaves (in block order) is the Merkle tree hash of RFC 6962
//!   with keccak256: one leaf is its own root; `n > 1` leaves split at the largest power of two
//!   below `n`, and an inner node is `keccak256(0x01 ‖ left ‖ right)`. The `0x00`/`0x01`
//!   prefixes keep a leaf from passing for an inner node. No leaves: the zero hash.
//! - Members sign `keccak256("\x19ANH-BLOCK-v1" ‖ chainId ‖ number ‖ parentHash ‖ count ‖
//!   root)` (32-byte big-endian words; `count` the number of leaves): a root signed for another
//!   chain, height or parent recovers to other addresses, and the count, which an inclusion
//!   proof needs and a root alone does not fix, is signed too.
//! - A [`BlockAttestation`] carries the signed leaves as well as the signatures, so a follower
//!   that finds a record not matching names it: tampered, missing, reordered or added.
//! - [`inclusion_proof`] and [`verify_inclusion`] let a light client or a contract check one
//!   job against a block's root without the other records.
//!
//! The builder seals every block this way when `t` members sign all of it
//! (`JobLedger::seal`); [`crate::Committee::verify_block`] checks a sealed block and
//! [`crate::ReplayOracle::for_block`] replays it. A block that no `t` members signed as a whole
//! keeps per-job signatures (`committee.rs`).

use crate::job::JobRecord;
use alloy_primitives::{Address, B256, Bytes, KECCAK256_EMPTY, U256, keccak256};
use alloy_rlp::{RlpDecodable, RlpEncodable};
use serde::{Deserialize, Serialize};

/// The domain-separation prefix of block digests.
pub const BLOCK_DOMAIN: &[u8] = b"\x19ANH-BLOCK-v1";

/// A leaf's first byte.
const LEAF_PREFIX: u8 = 0x00;

/// An inner node's first byte.
const NODE_PREFIX: u8 = 0x01;

/// The leaf of `record` (see the module docs).
pub fn leaf(record: &JobRecord) -> B256 {
    let mut preimage = Vec::with_capacity(1 + 6 * 32);
    preimage.push(LEAF_PREFIX);
    preimage.extend_from_slice(record.job.as_slice());
    preimage.extend_from_slice(&U256::from(record.kind).to_be_bytes::<32>());
    preimage.extend_from_slice(record.model.as_slice());
    preimage.extend_from_slice(record.rule.hash().as_slice());
    preimage.extend_from_slice(hash(&record.output).as_slice());
    preimage.extend_from_slice(hash(&record.failure).as_slice());
    keccak256(preimage)
}

/// keccak256 of `bytes` (a record's output or failure, one of which is always empty).
fn hash(bytes: &[u8]) -> B256 {
    if bytes.is_empty() { KECCAK256_EMPTY } else { keccak256(bytes) }
}

fn node(left: &B256, right: &B256) -> B256 {
    let mut preimage = [0u8; 65];
    preimage[0] = NODE_PREFIX;
    preimage[1..33].copy_from_slice(left.as_slice());
    preimage[33..].copy_from_slice(right.as_slice());
    keccak256(preimage)
}

/// The largest power of two below `n` (`n ≥ 2`).
const fn split(n: usize) -> usize {
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The root of `leaves` (see the module docs).
pub fn root(leaves: &[B256]) -> B256 {
    match leaves {
        [] => B256::ZERO,
        [only] => *only,
        _ => {
            let k = split(leaves.len());
            node(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The sibling hashes that lead from leaf `index` of `leaves` to their root, bottom up, or
/// `None` when `index` is out of range.
pub fn inclusion_proof(leaves: &[B256], index: usize) -> Option<Vec<B256>> {
    inclusion_proofs(leaves).into_iter().nth(index)
}

/// Every leaf's [`inclusion_proof`], in one pass over the tree: each inner node is hashed once
/// (`n − 1` hashes for `n` leaves), not once per proof.
pub fn inclusion_proofs(leaves: &[B256]) -> Vec<Vec<B256>> {
    /// The root of `part`, after pushing onto each of its leaves' proofs the siblings below it.
    fn walk(part: &[B256], proofs: &mut [Vec<B256>]) -> B256 {
        if let [only] = part {
            return *only;
        }
        let k = split(part.len());
        let (left_proofs, right_proofs) = proofs.split_at_mut(k);
        let left = walk(&part[..k], left_proofs);
        let right = walk(&part[k..], right_proofs);
        left_proofs.iter_mut().for_each(|p| p.push(right));
        right_proofs.iter_mut().for_each(|p| p.push(left));
        node(&left, &right)
    }
    let mut proofs = vec![Vec::new(); leaves.len()];
    if !leaves.is_empty() {
        walk(leaves, &mut proofs);
    }
    proofs
}

/// Whether `leaf`, at `index` of a block's `count` leaves, is in the tree of `root` by
/// `proof` ([`inclusion_proof`]). The index is part of the check: a proof for one position
/// does not prove another. Take `count` and `root` from what the committee signed
/// ([`block_digest`] commits to both): a root alone does not fix the count.
pub fn verify_inclusion(
    leaf: B256,
    index: usize,
    count: usize,
    proof: &[B256],
    root: B256,
) -> bool {
    fn walk(leaf: B256, index: usize, count: usize, proof: &[B256]) -> Option<B256> {
        if count == 1 {
            return proof.is_empty().then_some(leaf);
        }
        let (sibling, rest) = proof.split_last()?;
        let k = split(count);
        Some(if index < k {
            node(&walk(leaf, index, k, rest)?, sibling)
        } else {
            node(sibling, &walk(leaf, index - k, count - k, rest)?)
        })
    }
    index < count && walk(leaf, index, count, proof) == Some(root)
}

/// What members sign for block `number`, child of `parent`, whose `count` records have root
/// `root`.
pub fn block_digest(chain_id: u64, number: u64, parent: B256, count: usize, root: B256) -> B256 {
    let mut preimage = Vec::with_capacity(BLOCK_DOMAIN.len() + 5 * 32);
    preimage.extend_from_slice(BLOCK_DOMAIN);
    preimage.extend_from_slice(&U256::from(chain_id).to_be_bytes::<32>());
    preimage.extend_from_slice(&U256::from(number).to_be_bytes::<32>());
    preimage.extend_from_slice(parent.as_slice());
    preimage.extend_from_slice(&U256::from(count).to_be_bytes::<32>());
    preimage.extend_from_slice(root.as_slice());
    keccak256(preimage)
}

/// The committee's signatures of a block's records: the leaves they signed, in block order,
/// and at least `threshold` members' signatures of [`block_digest`] over their root.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, RlpEncodable, RlpDecodable,
)]
#[serde(rename_all = "camelCase")]
pub struct BlockAttestation {
    /// The records' leaves, in block order.
    pub leaves: Vec<B256>,
    /// Members' 65-byte signatures of the block digest.
    pub signatures: Vec<Bytes>,
}

impl BlockAttestation {
    /// The attestation of `records` so far unsigned: their leaves, no signatures.
    pub fn unsigned(records: &[JobRecord]) -> Self {
        Self { leaves: records.iter().map(leaf).collect(), signatures: Vec::new() }
    }

    /// The root of the signed leaves.
    pub fn root(&self) -> B256 {
        root(&self.leaves)
    }

    /// What members sign for these leaves as block `number`, child of `parent`.
    pub fn digest(&self, chain_id: u64, number: u64, parent: B256) -> B256 {
        block_digest(chain_id, number, parent, self.leaves.len(), self.root())
    }
}

/// Why a block's records do not verify against its attestation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// A signature is malformed, high-s, or does not recover.
    #[error("block {number}: signature {index}: {reason}")]
    BadSignature {
        /// The block.
        number: u64,
        /// Index of the signature.
        index: usize,
        /// Why.
        reason: String,
    },
    /// A signature recovers to someone outside the committee: signed for another block,
    /// chain or set of records, or by a stranger.
    #[error(
        "block {number}: signature {index} recovers to {signer}, who is not in the committee \
         (a root signed for another block, or another key)"
    )]
    NotMember {
        /// The block.
        number: u64,
        /// Index of the signature.
        index: usize,
        /// Whom it recovers to.
        signer: Address,
    },
    /// A member's signature appears twice.
    #[error("block {number}: {signer} signed more than once")]
    Duplicate {
        /// The block.
        number: u64,
        /// The signer.
        signer: Address,
    },
    /// Too few members signed.
    #[error("block {number}: {signatures} signature(s), the committee needs {threshold}")]
    BelowThreshold {
        /// The block.
        number: u64,
        /// Valid signatures.
        signatures: usize,
        /// Threshold.
        threshold: usize,
    },
    /// The committee cannot settle anything (threshold 0).
    #[error("block {number}: the committee's threshold is 0, so no record can settle")]
    NoThreshold {
        /// The block.
        number: u64,
    },
    /// A record is not the one signed at its place, nor anywhere else in the block.
    #[error("block {number}: job {job} at index {index} is not a record the committee signed")]
    Tampered {
        /// The block.
        number: u64,
        /// Its place in the block.
        index: usize,
        /// Its job id.
        job: B256,
    },
    /// A signed leaf has no record in the block.
    #[error(
        "block {number}: the committee signed a record at index {index} (leaf {leaf}) that the block lacks"
    )]
    Missing {
        /// The block.
        number: u64,
        /// The signed place.
        index: usize,
        /// The signed leaf.
        leaf: B256,
    },
    /// A leaf signed at two places: no block can hold one record at both.
    #[error(
        "block {number}: the committee signed leaf {leaf} at index {first} and again at index \
         {index}; a block cannot hold one record twice"
    )]
    SignedTwice {
        /// The block.
        number: u64,
        /// The leaf.
        leaf: B256,
        /// Its first place.
        first: usize,
        /// The later place.
        index: usize,
    },
    /// A record the committee signed at another place.
    #[error(
        "block {number}: job {job} is at index {index}, the committee signed it at index {signed}"
    )]
    Reordered {
        /// The block.
        number: u64,
        /// Its job id.
        job: B256,
        /// Its place in the block.
        index: usize,
        /// The place it was signed at.
        signed: usize,
    },
    /// A record that appears more than once.
    #[error("block {number}: job {job} appears again at index {index}")]
    Repeated {
        /// The block.
        number: u64,
        /// Its job id.
        job: B256,
        /// The later place.
        index: usize,
    },
    /// A record inconsistent in itself (rule, failure with an output, signatures of its own).
    #[error("block {number}: job {job}: {reason}")]
    Malformed {
        /// The block.
        number: u64,
        /// Its job id.
        job: B256,
        /// Why.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        committee::Committee,
        job::{JobKind, job_id},
        oracle::OracleError,
        rule::Rule,
        signature::{address_of, sign},
    };
    use k256::ecdsa::SigningKey;

    const CHAIN: u64 = 31337;

    fn key(i: u8) -> SigningKey {
        SigningKey::from_slice(&[i; 32]).unwrap()
    }

    fn committee() -> Committee {
        Committee {
            members: (1..=3).map(|i| address_of(&key(i))).collect(),
            threshold: 2,
            default_rule: Rule::EXACT,
        }
    }

    fn record(i: u8) -> JobRecord {
        let rule = Rule::EXACT;
        JobRecord {
            job: job_id(JobKind::Infer, B256::repeat_byte(1), &[i], &rule),
            kind: JobKind::Infer as u8,
            model: B256::repeat_byte(1),
            rule,
            output: Bytes::from(vec![i; 3]),
            signatures: Vec::new(),
            failure: Bytes::new(),
        }
    }

    fn attest(
        records: &[JobRecord],
        number: u64,
        parent: B256,
        signers: &[u8],
    ) -> BlockAttestation {
        let mut attestation = BlockAttestation::unsigned(records);
        let digest = attestation.digest(CHAIN, number, parent);
        attestation.signatures = signers
            .iter()
            .map(|&i| Bytes::from(sign(&key(i), &digest).unwrap().to_vec()))
            .collect();
        attestation
    }

    /// Every leaf of every tree size proves its place and no other.
    #[test]
    fn inclusion_proofs() {
        assert_eq!(root(&[]), B256::ZERO);
        for n in 1..=9usize {
            let leaves: Vec<B256> = (0..n).map(|i| keccak256([i as u8])).collect();
            let r = root(&leaves);
            for (i, l) in leaves.iter().enumerate() {
                let proof = inclusion_proof(&leaves, i).unwrap();
                assert!(verify_inclusion(*l, i, n, &proof, r), "n {n} leaf {i}");
                assert!(!verify_inclusion(*l, (i + 1) % n.max(2), n, &proof, r) || n == 1);
                assert!(!verify_inclusion(keccak256(b"other"), i, n, &proof, r));
            }
            assert_eq!(inclusion_proof(&leaves, n), None);
        }
        // A leaf never passes for an inner node: the two-leaf root is not a leaf of one.
        let (a, b) = (keccak256(b"a"), keccak256(b"b"));
        assert_ne!(root(&[a, b]), keccak256([a.as_slice(), b.as_slice()].concat()));
    }

    /// Signed records verify; a tampered, missing, reordered or repeated record, a root signed
    /// for another block, and too few or foreign signatures are refused, naming the culprit.
    #[test]
    fn verify_block_names_what_is_wrong() {
        let c = committee();
        let parent = B256::repeat_byte(0xaa);
        let records: Vec<JobRecord> = (0..4).map(record).collect();
        let good = attest(&records, 7, parent, &[1, 3]);
        assert_eq!(c.verify_block(CHAIN, 7, parent, &records, &good), Ok(()));

        let mut tampered = records.clone();
        tampered[2].output = Bytes::from_static(b"forged");
        assert_eq!(
            c.verify_block(CHAIN, 7, parent, &tampered, &good),
            Err(SealError::Tampered { number: 7, index: 2, job: records[2].job })
        );
        let mut missing = records.clone();
        missing.remove(1);
        assert_eq!(
            c.verify_block(CHAIN, 7, parent, &missing, &good),
            Err(SealError::Missing { number: 7, index: 1, leaf: leaf(&records[1]) })
        );
        let mut reordered = records.clone();
        reordered.swap(0, 3);
        assert_eq!(
            c.verify_block(CHAIN, 7, parent, &reordered, &good),
            Err(SealError::Reordered { number: 7, job: records[3].job, index: 0, signed: 3 })
        );
        let mut repeated = records.clone();
        repeated.push(records[0].clone());
        assert_eq!(
            c.verify_block(CHAIN, 7, parent, &repeated, &good),
            Err(SealError::Repeated { number: 7, job: records[0].job, index: 4 })
        );
        // A leaf signed twice (a root over the same record at two places) does not pass for a
        // block holding the record once.
        let twice = attest(&[records[0].clone(), records[0].clone()], 7, parent, &[1, 3]);
        assert_eq!(
            c.verify_block(CHAIN, 7, parent, &records[..1], &twice),
            Err(SealError::SignedTwice { number: 7, leaf: leaf(&records[0]), first: 0, index: 1 })
        );
        for (number, parent) in [(8, parent), (7, B256::repeat_byte(0xbb))] {
            let e = c.verify_block(CHAIN, number, parent, &records, &good).unwrap_err();
            assert!(matches!(e, SealError::NotMember { index: 0, .. }), "{e}");
            assert!(e.to_string().contains("a root signed for another block"), "{e}");
        }
        assert!(matches!(
            c.verify_block(1, 7, parent, &records, &good),
            Err(SealError::NotMember { .. })
        ));
        assert_eq!(
            c.verify_block(CHAIN, 7, parent, &records, &attest(&records, 7, parent, &[2])),
            Err(SealError::BelowThreshold { number: 7, signatures: 1, threshold: 2 })
        );
        assert!(matches!(
            c.verify_block(CHAIN, 7, parent, &records, &attest(&records, 7, parent, &[1, 1])),
            Err(SealError::Duplicate { .. })
        ));
        assert!(matches!(
            c.verify_block(CHAIN, 7, parent, &records, &attest(&records, 7, parent, &[1, 9])),
            Err(SealError::NotMember { index: 1, .. })
        ));
        let mut short = good;
        short.signatures[0] = Bytes::from_static(b"short");
        assert!(matches!(
            c.verify_block(CHAIN, 7, parent, &records, &short),
            Err(SealError::BadSignature { index: 0, .. })
        ));
        let none = Committee { threshold: 0, ..c };
        assert_eq!(
            none.verify_block(CHAIN, 7, parent, &[], &BlockAttestation::default()),
            Err(SealError::NoThreshold { number: 7 })
        );
    }

    /// A record must be consistent in itself, whatever the signatures say.
    #[test]
    fn records_are_checked_in_themselves() {
        let c = committee();
        let parent = B256::ZERO;
        let check = |r: JobRecord| {
            let records = vec![r];
            c.verify_block(CHAIN, 1, parent, &records, &attest(&records, 1, parent, &[1, 2]))
        };
        let mut own = record(0);
        own.signatures.push(Bytes::from_static(b"x"));
        assert!(matches!(check(own), Err(SealError::Malformed { .. })));
        let mut default_rule = record(0);
        default_rule.rule = Rule::DEFAULT;
        assert!(matches!(check(default_rule), Err(SealError::Malformed { .. })));
        let mut no_quorum = record(0);
        no_quorum.output = Bytes::new();
        no_quorum.failure = JobRecord::failure_of(&OracleError::NoQuorum {
            job: B256::ZERO,
            signatures: 1,
            threshold: 2,
        });
        let e = check(no_quorum).unwrap_err();
        assert!(e.to_string().contains("nobody can prove one"), "{e}");
        let mut failed_with_output = record(0);
        failed_with_output.failure = JobRecord::failure_of(&OracleError::Failed("x".into()));
        let e = check(failed_with_output).unwrap_err();
        assert!(e.to_string().contains("carries an output"), "{e}");
        let mut failed = record(0);
        failed.output = Bytes::new();
        failed.failure = JobRecord::failure_of(&OracleError::Failed("Gemm: bad shapes".into()));
        assert_eq!(check(failed), Ok(()));
    }

    /// An attestation survives RLP and JSON.
    #[test]
    fn encodings() {
        let records: Vec<JobRecord> = (0..3).map(record).collect();
        let a = attest(&records, 3, B256::ZERO, &[1, 2]);
        let rlp = alloy_rlp::encode(&a);
        assert_eq!(
            <BlockAttestation as alloy_rlp::Decodable>::decode(&mut rlp.as_slice()),
            Ok(a.clone())
        );
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(json["leaves"].as_array().unwrap().len(), 3);
        assert_eq!(serde_json::from_value::<BlockAttestation>(json).unwrap(), a);
    }

    /// A follower's oracle checks a sealed block once, as a whole, and answers from it; a
    /// tampered record fails the block, naming the record, and every answer from it.
    #[test]
    fn replay_checks_a_sealed_block_once() {
        use crate::replay::ReplayOracle;
        let (c, parent) = (committee(), B256::repeat_byte(3));
        let records: Vec<JobRecord> = (0..3).map(record).collect();
        let sealed = attest(&records, 5, parent, &[1, 2]);
        let oracle =
            ReplayOracle::for_block(c.clone(), CHAIN, 5, parent, records.clone(), sealed.clone());
        assert_eq!(oracle.verify_all(), Ok(()));
        assert_eq!(oracle.verified(), 3);
        let (infer, model) = (JobKind::Infer, records[1].model);
        assert_eq!(oracle.settled(records[1].job, infer, model).unwrap(), &records[1]);
        assert_eq!(oracle.verified(), 3, "each record checked once");

        let mut tampered = records.clone();
        tampered[1].output = Bytes::from_static(b"forged");
        let oracle = ReplayOracle::for_block(c.clone(), CHAIN, 5, parent, tampered, sealed);
        let e = oracle.verify_all().unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "block 5: job {} at index 1 is not a record the committee signed",
                records[1].job
            )
        );
        assert!(oracle.settled(records[0].job, infer, model).is_err());
        assert_eq!(oracle.failures(), vec![e]);

        // Without a block-level attestation, records need their own signatures.
        let oracle =
            ReplayOracle::for_block(c, CHAIN, 5, parent, records, BlockAttestation::default());
        assert!(oracle.verify_all().is_err(), "unsigned records, no block signatures");
    }
}
