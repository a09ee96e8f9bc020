//! The committee — who signs, how many must, the default rule — and the verification of a
//! job's record against it.

use crate::{
    job::JobRecord,
    rule::{Rule, RuleKind},
    seal::{BlockAttestation, SealError, leaf},
    signature::recover,
};
use alloy_primitives::{Address, B256, U256, keccak256};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// The committee: who signs, how many must, and the default rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Committee {
    /// Members' addresses, in leader order.
    pub members: Vec<Address>,
    /// Signatures needed.
    pub threshold: usize,
    /// The rule for models registered without one.
    pub default_rule: Rule,
}

/// Why an attestation does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttestationError {
    /// A signature is malformed, high-s, or does not recover.
    #[error("job {job}: signature {index}: {reason}")]
    BadSignature {
        /// The job.
        job: B256,
        /// Index of the signature.
        index: usize,
        /// Why.
        reason: String,
    },
    /// A signer is not a committee member.
    #[error("job {job}: signature {index} is by {signer}, who is not in the committee")]
    NotMember {
        /// The job.
        job: B256,
        /// Index of the signature.
        index: usize,
        /// The signer.
        signer: Address,
    },
    /// A member signed twice.
    #[error("job {job}: {signer} signed more than once")]
    Duplicate {
        /// The job.
        job: B256,
        /// The signer.
        signer: Address,
    },
    /// Too few signatures.
    #[error("job {job}: {signatures} signature(s), the committee needs {threshold}")]
    BelowThreshold {
        /// The job.
        job: B256,
        /// Valid signatures.
        signatures: usize,
        /// Threshold.
        threshold: usize,
    },
    /// The committee cannot settle anything (a threshold of 0 would count a record with no
    /// signature as settled).
    #[error("job {job}: the committee's threshold is 0, so no record can settle")]
    NoThreshold {
        /// The job.
        job: B256,
    },
    /// The record is inconsistent (kind, rule).
    #[error("job {job}: {reason}")]
    Malformed {
        /// The job.
        job: B256,
        /// Why.
        reason: String,
    },
    /// The block-level attestation does not verify ([`Committee::verify_block`]).
    #[error(transparent)]
    Block(#[from] SealError),
}

impl Committee {
    /// What genesis commits to: `keccak256(members ‖ threshold ‖ defaultRuleHash)` (addresses
    /// 20 bytes each, threshold a 32-byte word).
    pub fn hash(&self) -> B256 {
        let mut preimage = Vec::with_capacity(self.members.len() * 20 + 64);
        for member in &self.members {
            preimage.extend_from_slice(member.as_slice());
        }
        preimage.extend_from_slice(&U256::from(self.threshold).to_be_bytes::<32>());
        preimage.extend_from_slice(self.default_rule.hash().as_slice());
        keccak256(preimage)
    }

    /// Checks the configuration: at least one member, members distinct, `1 ≤ threshold ≤
    /// members`, and a concrete inference default rule (exact, tolerance or argmax). Every
    /// node runs it on the committee it uses, its own or the one it follows.
    pub fn validate(&self) -> Result<(), String> {
        let n = self.members.len();
        if n == 0 {
            return Err("the committee has no members".into());
        }
        if self.threshold == 0 || self.threshold > n {
            return Err(format!(
                "a committee of {n} needs a threshold between 1 and {n}, not {}",
                self.threshold
            ));
        }
        let mut seen = HashSet::new();
        for member in &self.members {
            if !seen.insert(member) {
                return Err(format!(
                    "committee members must be distinct: {member} is listed twice"
                ));
            }
        }
        let rule = &self.default_rule;
        if rule.kind == RuleKind::Default || rule.is_training() {
            return Err(format!(
                "the committee's default rule must be a concrete inference rule (exact, \
                 tolerance or argmax), not kind {}",
                rule.kind.code()
            ));
        }
        rule.validate()
    }

    /// [`Self::validate`], and for a non-dev chain (`dev` false) also a majority threshold
    /// (`threshold > n/2`): on a dev chain the producer edits state anyway, on a non-dev one
    /// the committee is what a follower trusts, so two disjoint groups must not both settle.
    pub fn validate_for_chain(&self, dev: bool) -> Result<(), String> {
        self.validate()?;
        let n = self.members.len();
        if !dev && self.threshold * 2 <= n {
            return Err(format!(
                "a non-dev chain (\"dev\": false) needs a majority threshold: a committee of \
                 {n} needs a threshold above {}, not {}",
                n / 2,
                self.threshold
            ));
        }
        Ok(())
    }

    /// Verifies a record: at least `threshold` distinct members signed its digest (a settled
    /// record) or its failure digest (a failed one). Any bad, foreign or repeated signature
    /// makes the record invalid: a builder that adds junk to an attestation has tampered with
    /// it. A no-quorum failure is refused: no member signs one, and its transaction belongs
    /// out of the block.
    pub fn verify(&self, chain_id: u64, record: &JobRecord) -> Result<(), AttestationError> {
        let job = record.job;
        if self.threshold == 0 {
            // Defence in depth: `validate` refuses such a committee, but a record must never
            // settle without a signature whatever committee a caller built.
            return Err(AttestationError::NoThreshold { job });
        }
        if record.rule.kind == RuleKind::Default || record.rule.validate().is_err() {
            return Err(AttestationError::Malformed {
                job,
                reason: "the rule is not a concrete rule".into(),
            });
        }
        if record.is_no_quorum() {
            return Err(AttestationError::Malformed {
                job,
                reason: "a no-quorum failure is recorded, but nobody can prove one: its \
                         transaction belongs out of the block"
                    .into(),
            });
        }
        if !record.is_settled() && !record.output.is_empty() {
            return Err(AttestationError::Malformed {
                job,
                reason: "a failed job's record carries an output".into(),
            });
        }
        let digest = record.signed_digest(chain_id);
        let mut seen = HashSet::new();
        for (index, signature) in record.signatures.iter().enumerate() {
            let signer = recover(&digest, signature)
                .map_err(|reason| AttestationError::BadSignature { job, index, reason })?;
            if !self.members.contains(&signer) {
                return Err(AttestationError::NotMember { job, index, signer });
            }
            if !seen.insert(signer) {
                return Err(AttestationError::Duplicate { job, signer });
            }
        }
        if seen.len() < self.threshold {
            return Err(AttestationError::BelowThreshold {
                job,
                signatures: seen.len(),
                threshold: self.threshold,
            });
        }
        Ok(())
    }
}

impl Committee {
    /// Verifies block `number` (child of `parent`) on chain `chain_id`: at least `threshold`
    /// distinct members signed the block digest of the attestation's leaves (any bad, foreign
    /// or repeated signature fails it), and `records` are exactly the signed leaves, in order.
    /// The error names the first signature or record at fault.
    pub fn verify_block(
        &self,
        chain_id: u64,
        number: u64,
        parent: B256,
        records: &[JobRecord],
        attestation: &BlockAttestation,
    ) -> Result<(), SealError> {
        if self.threshold == 0 {
            return Err(SealError::NoThreshold { number });
        }
        let digest = attestation.digest(chain_id, number, parent);
        let mut seen = HashSet::new();
        for (index, signature) in attestation.signatures.iter().enumerate() {
            let signer = recover(&digest, signature).map_err(|reason| SealError::BadSignature {
                number,
                index,
                reason,
            })?;
            if !self.members.contains(&signer) {
                return Err(SealError::NotMember { number, index, signer });
            }
            if !seen.insert(signer) {
                return Err(SealError::Duplicate { number, signer });
            }
        }
        if seen.len() < self.threshold {
            return Err(SealError::BelowThreshold {
                number,
                signatures: seen.len(),
                threshold: self.threshold,
            });
        }
        for record in records {
            check_record(number, record)?;
        }
        match_leaves(number, records, &attestation.leaves)
    }
}

/// A record's own consistency: a concrete rule, no no-quorum failure, no output on a failure,
/// no signatures of its own (the block's signatures stand for it).
fn check_record(number: u64, record: &JobRecord) -> Result<(), SealError> {
    let malformed =
        |reason: &str| SealError::Malformed { number, job: record.job, reason: reason.to_owned() };
    if record.rule.kind == RuleKind::Default || record.rule.validate().is_err() {
        return Err(malformed("the rule is not a concrete rule"));
    }
    if record.is_no_quorum() {
        return Err(malformed(
            "a no-quorum failure is recorded, but nobody can prove one: its transaction belongs \
             out of the block",
        ));
    }
    if !record.is_settled() && !record.output.is_empty() {
        return Err(malformed("a failed job's record carries an output"));
    }
    if !record.signatures.is_empty() {
        return Err(malformed(
            "the record carries signatures of its own in a block-attested block",
        ));
    }
    Ok(())
}

/// Checks that `records` are exactly `signed`, in order, naming the first that is not.
fn match_leaves(number: u64, records: &[JobRecord], signed: &[B256]) -> Result<(), SealError> {
    let mut signed_at: HashMap<B256, usize> = HashMap::with_capacity(signed.len());
    for (index, leaf) in signed.iter().enumerate() {
        // A leaf signed twice: the block cannot hold a record at both places.
        if let Some(first) = signed_at.insert(*leaf, index) {
            return Err(SealError::SignedTwice { number, leaf: *leaf, first, index });
        }
    }
    let leaves: Vec<B256> = records.iter().map(leaf).collect();
    let mut found = HashSet::with_capacity(leaves.len());
    for (index, (record, leaf)) in records.iter().zip(&leaves).enumerate() {
        if !signed_at.contains_key(leaf) {
            return Err(SealError::Tampered { number, index, job: record.job });
        }
        if !found.insert(*leaf) {
            return Err(SealError::Repeated { number, job: record.job, index });
        }
    }
    if let Some((index, leaf)) = signed.iter().enumerate().find(|(_, l)| !found.contains(*l)) {
        return Err(SealError::Missing { number, index, leaf: *leaf });
    }
    for (index, (record, leaf)) in records.iter().zip(&leaves).enumerate() {
        let at = signed_at[leaf];
        if at != index {
            return Err(SealError::Reordered { number, job: record.job, index, signed: at });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        job::{JobKind, digest, failure_digest, job_id},
        oracle::OracleError,
        replay::ReplayOracle,
        signature::{address_of, sign},
    };
    use alloy_primitives::Bytes;
    use k256::ecdsa::SigningKey;

    fn key(i: u8) -> SigningKey {
        SigningKey::from_slice(&[i; 32]).unwrap()
    }

    fn committee(n: u8, threshold: usize) -> Committee {
        Committee {
            members: (1..=n).map(|i| address_of(&key(i))).collect(),
            threshold,
            default_rule: Rule::EXACT,
        }
    }

    fn record(signers: &[u8]) -> JobRecord {
        let rule = Rule::EXACT;
        let job = job_id(JobKind::Infer, B256::repeat_byte(1), b"in", &rule);
        let output = Bytes::from_static(b"out");
        let d = digest(31337, job, &output, &rule);
        let signatures =
            signers.iter().map(|&i| Bytes::from(sign(&key(i), &d).unwrap().to_vec())).collect();
        JobRecord {
            job,
            kind: 1,
            model: B256::repeat_byte(1),
            rule,
            output,
            signatures,
            failure: Bytes::new(),
        }
    }

    /// Inference takes the default and kinds 1–3, training the default and kinds 4–5 (an
    /// unknown kind does not decode: `rule::tests::kinds_round_trip_as_codes`).
    #[test]
    fn rules_fit_their_jobs() {
        for kind in [JobKind::Infer, JobKind::Register, JobKind::Train] {
            assert_eq!(Rule::DEFAULT.validate_for(kind), Ok(()));
        }
        for rule in
            [Rule::EXACT, Rule::tolerance(1, 2), Rule { kind: RuleKind::Argmax, abs: 0, rel: 0 }]
        {
            assert_eq!(rule.validate_for(JobKind::Infer), Ok(()));
            assert_eq!(rule.validate_for(JobKind::Register), Ok(()));
            let e = rule.validate_for(JobKind::Train).unwrap_err();
            assert!(e.contains("settles inference, not training"), "{e}");
        }
        for rule in [Rule::DEFAULT_TRAIN, Rule::recompute(1, 2)] {
            assert_eq!(rule.validate_for(JobKind::Train), Ok(()));
            let e = rule.validate_for(JobKind::Infer).unwrap_err();
            assert!(e.contains("settles training, not inference"), "{e}");
        }
    }

    /// t of n distinct members settle; fewer, foreign, duplicated or tampered do not.
    #[test]
    fn quorum_rules() {
        let c = committee(3, 2);
        assert_eq!(c.verify(31337, &record(&[1, 2])), Ok(()));
        assert_eq!(c.verify(31337, &record(&[3, 1, 2])), Ok(()));
        assert!(matches!(
            c.verify(31337, &record(&[1])),
            Err(AttestationError::BelowThreshold { signatures: 1, .. })
        ));
        assert!(matches!(
            c.verify(31337, &record(&[1, 9])),
            Err(AttestationError::NotMember { .. })
        ));
        assert!(matches!(
            c.verify(31337, &record(&[1, 1])),
            Err(AttestationError::Duplicate { .. })
        ));
        assert!(c.verify(1, &record(&[1, 2])).is_err(), "another chain's digest");
        let mut tampered = record(&[1, 2]);
        tampered.output = Bytes::from_static(b"other");
        assert!(c.verify(31337, &tampered).is_err());
        let mut high_s = record(&[1, 2]);
        let mut sig = high_s.signatures[0].to_vec();
        let s = U256::from_be_slice(&sig[32..64]);
        sig[32..64].copy_from_slice(&(crate::signature::ORDER - s).to_be_bytes::<32>());
        sig[64] ^= 1;
        high_s.signatures[0] = sig.into();
        assert!(matches!(c.verify(31337, &high_s), Err(AttestationError::BadSignature { .. })));
    }

    /// A committee with threshold 0 settles nothing, not even a record without signatures,
    /// and `validate` says what is wrong with a bad committee.
    #[test]
    fn threshold_zero_settles_nothing() {
        let zero = committee(3, 0);
        assert_eq!(
            zero.verify(31337, &record(&[])),
            Err(AttestationError::NoThreshold { job: record(&[]).job })
        );
        assert!(matches!(
            zero.verify(31337, &record(&[1, 2])),
            Err(AttestationError::NoThreshold { .. })
        ));
        let e = zero.validate().unwrap_err();
        assert_eq!(e, "a committee of 3 needs a threshold between 1 and 3, not 0");
        assert_eq!(
            committee(3, 4).validate().unwrap_err(),
            "a committee of 3 needs a threshold between 1 and 3, not 4"
        );
        assert_eq!(committee(0, 1).validate().unwrap_err(), "the committee has no members");
        let mut twice = committee(2, 1);
        twice.members.push(twice.members[0]);
        let e = twice.validate().unwrap_err();
        assert!(
            e.starts_with("committee members must be distinct: ")
                && e.ends_with(" is listed twice"),
            "{e}"
        );
        for kind in [RuleKind::Default, RuleKind::TrainLoss] {
            let rule = Committee { default_rule: Rule { kind, abs: 0, rel: 0 }, ..committee(2, 1) };
            let e = rule.validate().unwrap_err();
            assert!(e.contains("concrete inference rule"), "{e}");
        }
        assert_eq!(committee(3, 2).validate(), Ok(()));
    }

    fn failure(signers: &[u8], failure: &OracleError, sign_as_result: bool) -> JobRecord {
        let failure = JobRecord::failure_of(failure);
        let base = record(&[]);
        let d = if sign_as_result {
            digest(31337, base.job, &failure, &base.rule)
        } else {
            failure_digest(31337, base.job, &failure, &base.rule)
        };
        let signatures =
            signers.iter().map(|&i| Bytes::from(sign(&key(i), &d).unwrap().to_vec())).collect();
        JobRecord { output: Bytes::new(), signatures, failure, ..base }
    }

    /// A failure settles like a result: `t` members' signatures of its failure digest. An
    /// unsigned failure, one signed as a result, one with an output, and any no-quorum record
    /// are refused, so a builder cannot choose the branch a contract takes.
    #[test]
    fn failures_need_signatures() {
        let c = committee(3, 2);
        let model_error = OracleError::Failed("Gemm: shapes do not match".into());
        assert_eq!(c.verify(31337, &failure(&[1, 2], &model_error, false)), Ok(()));
        let unavailable = OracleError::ModelUnavailable(B256::repeat_byte(1));
        assert_eq!(c.verify(31337, &failure(&[3, 2], &unavailable, false)), Ok(()));
        assert!(matches!(
            c.verify(31337, &failure(&[], &model_error, false)),
            Err(AttestationError::BelowThreshold { signatures: 0, threshold: 2, .. })
        ));
        assert!(matches!(
            c.verify(31337, &failure(&[1], &model_error, false)),
            Err(AttestationError::BelowThreshold { signatures: 1, .. })
        ));
        // A signature of the result digest over the failure bytes recovers to someone else.
        assert!(matches!(
            c.verify(31337, &failure(&[1, 2], &model_error, true)),
            Err(AttestationError::NotMember { .. })
        ));
        // Signatures of one failure do not carry over to another.
        let mut other = failure(&[1, 2], &model_error, false);
        other.failure = JobRecord::failure_of(&OracleError::Failed("another reason".into()));
        assert!(c.verify(31337, &other).is_err());
        let mut with_output = failure(&[1, 2], &model_error, false);
        with_output.output = Bytes::from_static(b"out");
        assert_eq!(
            c.verify(31337, &with_output),
            Err(AttestationError::Malformed {
                job: with_output.job,
                reason: "a failed job's record carries an output".into()
            })
        );
        let no_quorum = OracleError::NoQuorum { job: B256::ZERO, signatures: 1, threshold: 2 };
        let e = c.verify(31337, &failure(&[1, 2], &no_quorum, false)).unwrap_err();
        assert!(
            e.to_string().contains("a no-quorum failure is recorded, but nobody can prove one")
        );
        assert_ne!(
            failure_digest(31337, B256::ZERO, b"x", &Rule::EXACT),
            digest(31337, B256::ZERO, b"x", &Rule::EXACT),
            "the two domains differ"
        );
    }

    /// Replay answers a signed failure with the builder's revert, and refuses an unsigned one
    /// (a replay failure, so the importer refuses the block).
    #[test]
    fn replay_verifies_failures() {
        let c = committee(3, 2);
        let model_error = OracleError::Failed("Gemm: shapes do not match".into());
        let signed = failure(&[1, 2], &model_error, false);
        let oracle = ReplayOracle::new(c.clone(), 31337, vec![signed.clone()]);
        assert_eq!(oracle.verify_all(), Ok(()));
        let infer = JobKind::Infer;
        assert_eq!(oracle.settled(signed.job, infer, signed.model).unwrap_err(), model_error);
        assert!(oracle.failures().is_empty());
        let unsigned = failure(&[], &model_error, false);
        let oracle = ReplayOracle::new(c, 31337, vec![unsigned.clone()]);
        assert!(oracle.verify_all().is_err());
        assert!(matches!(
            oracle.settled(unsigned.job, infer, unsigned.model),
            Err(OracleError::Failed(_))
        ));
        assert_eq!(oracle.failures().len(), 1, "{:?}", oracle.failures());
    }

    /// A per-job signature covers the job id (which commits to the kind and the model) but not
    /// the record's copies of them: a relay that rewrites them — so that a signed "model
    /// unavailable" failure reverts naming a model of its choice — keeps valid signatures, and
    /// replay refuses the record when a call asks for its job, naming both.
    #[test]
    fn replay_refuses_a_record_whose_kind_or_model_is_not_the_calls() {
        let c = committee(3, 2);
        let model = B256::repeat_byte(1);
        let signed = failure(&[1, 2], &OracleError::ModelUnavailable(model), false);
        let mut forged = signed.clone();
        forged.model = B256::repeat_byte(0xee);
        assert_eq!(c.verify(31337, &forged), Ok(()), "the signatures do not cover the field");
        let oracle = ReplayOracle::new(c.clone(), 31337, vec![forged.clone()]);
        assert_eq!(oracle.verify_all(), Ok(()));
        let e = oracle.settled(forged.job, JobKind::Infer, model).unwrap_err();
        let reason = format!(
            "the record of job {} names kind 1 and model {}, the call asked for kind 1 and model \
             {model}",
            forged.job, forged.model
        );
        assert_eq!(e, OracleError::Failed(format!("replay: {reason}")));
        assert_eq!(oracle.failures(), vec![reason]);

        let mut retyped = signed.clone();
        retyped.kind = JobKind::Train as u8;
        let oracle = ReplayOracle::new(c.clone(), 31337, vec![retyped.clone()]);
        assert!(oracle.settled(retyped.job, JobKind::Infer, model).is_err());
        assert_eq!(oracle.failures().len(), 1);
        // The genuine record replays as the builder's revert, with the call's model.
        let oracle = ReplayOracle::new(c, 31337, vec![signed.clone()]);
        assert_eq!(
            oracle.settled(signed.job, JobKind::Infer, model).unwrap_err(),
            OracleError::ModelUnavailable(model)
        );
        assert!(oracle.failures().is_empty());
    }

    /// A record survives RLP, and job ids depend on every part of the job.
    #[test]
    fn encoding_and_ids() {
        let r = record(&[1, 2]);
        let bytes = alloy_rlp::encode(&r);
        assert_eq!(<JobRecord as alloy_rlp::Decodable>::decode(&mut bytes.as_slice()).unwrap(), r);
        let m = B256::repeat_byte(1);
        let base = job_id(JobKind::Infer, m, b"x", &Rule::EXACT);
        assert_ne!(base, job_id(JobKind::Register, m, b"x", &Rule::EXACT));
        assert_ne!(base, job_id(JobKind::Infer, B256::ZERO, b"x", &Rule::EXACT));
        assert_ne!(base, job_id(JobKind::Infer, m, b"y", &Rule::EXACT));
        assert_ne!(base, job_id(JobKind::Infer, m, b"x", &Rule::ARGMAX));
        let failed = JobRecord::failure_of(&OracleError::NoQuorum {
            job: base,
            signatures: 1,
            threshold: 2,
        });
        let rec = JobRecord { failure: failed, ..record(&[]) };
        assert!(matches!(
            rec.failure_error(),
            OracleError::NoQuorum { signatures: 1, threshold: 2, .. }
        ));
    }
}
