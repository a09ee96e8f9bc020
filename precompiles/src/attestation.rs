//! Settlement by a committee of executors: rules, job ids, the signed digest, attestations,
//! and their verification — everything a replaying node needs, with no networking and no
//! model.
//!
//! - A **job** is content-addressed: `job = keccak256(abi.encode(kind, model, keccak256(payload),
//!   ruleHash))`, where the payload is the ABI encoding of the inputs in the model's own
//!   dtypes (inference) or empty (registration). Identical calls are the same job.
//! - Each executor computes the job, checks the [`Rule`]'s property of the leader's candidate
//!   output against its own result, and signs
//!   `digest = keccak256("\x19ANH-ATTEST-v1" ‖ chainId ‖ job ‖ keccak256(output) ‖ ruleHash)`
//!   (32-byte big-endian fields, EIP-191 style domain separation) with a low-s secp256k1
//!   signature.
//! - A [`JobRecord`] is settled when at least `threshold` distinct committee members signed
//!   the same digest. Blocks carry the records of their jobs — also of jobs that failed, so a
//!   replay reverts exactly as the builder did.
//! - A **failure** changes what a contract sees as much as an output does, so it is signed too:
//!   a member that fails a job deterministically (a model error, a model it cannot get) signs
//!   `failureDigest = keccak256("\x19ANH-FAIL-v1" ‖ chainId ‖ job ‖ keccak256(failure) ‖
//!   ruleHash)`, and a failure record needs `threshold` such signatures, like a result. A
//!   failure nobody can prove (no quorum: members down, slow or disagreeing) is never
//!   recorded: the builder leaves the transaction that asked for it out of the block
//!   ([`JobLedger::take_unprovable`](crate::oracle::JobLedger)), and a replaying node refuses a
//!   no-quorum record.

use crate::{
    abi,
    dtype::{self, Dtype},
    model::ModelInfo,
    oracle::{DnnOracle, InferRequest, OracleError, TrainParams, TrainRequest, Trained},
    tensor::{HostTensor, TensorData},
};
use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_rlp::{RlpDecodable, RlpEncodable};
use alloy_sol_types::SolValue;
use k256::ecdsa::SigningKey;
use serde::{Deserialize, Serialize};
use std::{
    collections::{HashMap, HashSet},
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

/// The domain-separation prefix of attestation digests.
pub const ATTEST_DOMAIN: &[u8] = b"\x19ANH-ATTEST-v1";

/// The domain-separation prefix of failure digests: a member's signature of a failure can
/// never stand for a result, nor the other way round.
pub const FAILURE_DOMAIN: &[u8] = b"\x19ANH-FAIL-v1";

/// How executors agree on a result.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, RlpEncodable, RlpDecodable,
)]
pub struct Rule {
    /// 0 default, 1 exact, 2 tolerance, 3 argmax.
    pub kind: u8,
    /// Absolute tolerance, in units of 1e-9 (kind 2).
    pub abs: u64,
    /// Relative tolerance, in units of 1e-9 (kind 2).
    pub rel: u64,
}

impl Rule {
    /// "Use the committee's default rule."
    pub const DEFAULT: Self = Self { kind: 0, abs: 0, rel: 0 };
    /// The same output bytes.
    pub const EXACT: Self = Self { kind: 1, abs: 0, rel: 0 };
    /// The same arg-max along the last axis of every output.
    pub const ARGMAX: Self = Self { kind: 3, abs: 0, rel: 0 };
    /// The rule a `train` call without one settles by: train-loss within 10^-4.
    pub const DEFAULT_TRAIN: Self = Self::train_loss(100_000);

    /// Every element within `abs + rel × |candidate|` (both in units of 1e-9).
    pub const fn tolerance(abs: u64, rel: u64) -> Self {
        Self { kind: 2, abs, rel }
    }

    /// Training: the new weights' loss on the batch is the claimed loss within `eps`, and not
    /// above the old weights' loss by more than `eps` (units of 1e-9).
    pub const fn train_loss(eps: u64) -> Self {
        Self { kind: 4, abs: eps, rel: 0 }
    }

    /// Training: each executor trains too, and every new weight is within
    /// `abs + rel × |candidate|` of its own (units of 1e-9).
    pub const fn recompute(abs: u64, rel: u64) -> Self {
        Self { kind: 5, abs, rel }
    }

    /// The train-loss rule's second property (other rules: none): training did not raise the
    /// batch's loss from `old` to `new` by more than the tolerance. Leaders check it before
    /// they answer, so that a run the committee would refuse fails with this reason rather
    /// than with no quorum.
    pub fn check_loss_rise(&self, old: f64, new: f64) -> Result<(), String> {
        if self.kind != 4 {
            return Ok(());
        }
        let eps = self.abs as f64 * 1e-9;
        // NaN compares as nothing, so a NaN loss never passes.
        if matches!(
            new.partial_cmp(&(old + eps)),
            Some(core::cmp::Ordering::Less | core::cmp::Ordering::Equal)
        ) {
            return Ok(());
        }
        Err(format!(
            "training raised the batch's loss from {old} to {new}, more than the train-loss rule allows ({eps}): lower the learning rate or the steps"
        ))
    }

    /// Whether the rule settles training (kinds 4 and 5) rather than inference.
    pub const fn is_training(&self) -> bool {
        matches!(self.kind, 4 | 5)
    }

    /// Whether this is a known rule (kinds 0–5; tolerances only with kinds 2, 4 (absolute
    /// only) and 5).
    pub fn validate(&self) -> Result<(), String> {
        match self.kind {
            0 | 1 | 3 if self.abs == 0 && self.rel == 0 => Ok(()),
            0 | 1 | 3 => Err(format!("rule kind {} takes no tolerances", self.kind)),
            2 | 5 => Ok(()),
            4 if self.rel == 0 => Ok(()),
            4 => Err("rule kind 4 (train-loss) takes an absolute tolerance only".into()),
            k => Err(format!(
                "unknown rule kind {k}: expected 0 (default), 1 (exact), 2 (tolerance), \
                 3 (argmax), 4 (train-loss) or 5 (recompute)"
            )),
        }
    }

    /// Whether this is a known rule ([`Self::validate`]) that can settle jobs of `kind`: the
    /// default (kind 0), or kinds 1–3 for inference (a registered rule settles its model's
    /// inference: pass [`JobKind::Infer`] for registrations too), 4 and 5 for training.
    pub fn validate_for(&self, kind: JobKind) -> Result<(), String> {
        self.validate()?;
        match kind {
            JobKind::Train if self.kind != 0 && !self.is_training() => Err(format!(
                "rule kind {} settles inference, not training: train takes 0 (default), \
                 4 (train-loss) or 5 (recompute)",
                self.kind
            )),
            JobKind::Infer | JobKind::Register if self.is_training() => Err(format!(
                "rule kind {} settles training, not inference: inference takes 0 (default), \
                 1 (exact), 2 (tolerance) or 3 (argmax)",
                self.kind
            )),
            _ => Ok(()),
        }
    }

    /// `self`, or `default` if `self` is the default rule.
    pub fn or(self, default: Self) -> Self {
        if self.kind == 0 { default } else { self }
    }

    /// `keccak256(abi.encode(uint8 kind, uint64 abs, uint64 rel))`.
    pub fn hash(&self) -> B256 {
        keccak256(words(&[U256::from(self.kind), U256::from(self.abs), U256::from(self.rel)]))
    }

    /// The rule as the Solidity struct.
    pub fn to_abi(self) -> abi::Rule {
        abi::Rule { kind: self.kind, absTolerance: self.abs, relTolerance: self.rel }
    }

    /// The rule from the Solidity struct.
    pub fn from_abi(rule: &abi::Rule) -> Self {
        Self { kind: rule.kind, abs: rule.absTolerance, rel: rule.relTolerance }
    }

    /// Checks this rule's property of `candidate` (the leader's output) against `own` (this
    /// executor's). The rule must not be the default one.
    pub fn check(&self, candidate: &[HostTensor], own: &[HostTensor]) -> Result<(), String> {
        if candidate.len() != own.len() {
            return Err(format!("{} outputs against {}", candidate.len(), own.len()));
        }
        for (i, (c, o)) in candidate.iter().zip(own).enumerate() {
            if c.shape() != o.shape() || c.elem_type() != o.elem_type() {
                return Err(format!(
                    "output {i}: {} {:?} against {} {:?}",
                    c.elem_type(),
                    c.shape(),
                    o.elem_type(),
                    o.shape()
                ));
            }
            match self.kind {
                1 => {
                    let (a, b) = (encode(c), encode(o));
                    if a != b {
                        return Err(format!("output {i} differs"));
                    }
                }
                2 => {
                    let (abs, rel) = (self.abs as f64 * 1e-9, self.rel as f64 * 1e-9);
                    for (j, (x, y)) in values(c.data()).zip(values(o.data())).enumerate() {
                        let bound = abs + rel * x.abs();
                        // NaN compares as nothing, so it is never within the bound.
                        let within = matches!(
                            (x - y).abs().partial_cmp(&bound),
                            Some(core::cmp::Ordering::Less | core::cmp::Ordering::Equal)
                        );
                        if !within {
                            return Err(format!(
                                "output {i} element {j}: {y} is not within {bound} of {x}"
                            ));
                        }
                    }
                }
                3 => {
                    if argmax(c) != argmax(o) {
                        return Err(format!("output {i}: the arg-max differs"));
                    }
                }
                k => return Err(format!("rule kind {k} cannot be checked")),
            }
        }
        Ok(())
    }
}

fn encode(t: &HostTensor) -> Bytes {
    dtype::encode(t, None).map(|t| t.data).unwrap_or_default()
}

fn values(data: &TensorData) -> Box<dyn Iterator<Item = f64> + '_> {
    match data {
        TensorData::F32(v) => Box::new(v.iter().map(|&x| x as f64)),
        TensorData::F64(v) => Box::new(v.iter().copied()),
        TensorData::I32(v) => Box::new(v.iter().map(|&x| x as f64)),
        TensorData::I64(v) => Box::new(v.iter().map(|&x| x as f64)),
        TensorData::U8(v) => Box::new(v.iter().map(|&x| x as f64)),
        TensorData::I8(v) => Box::new(v.iter().map(|&x| x as f64)),
        TensorData::Bool(v) => Box::new(v.iter().map(|&x| x as u8 as f64)),
    }
}

/// Arg-max of each row along the last axis (first maximum; NaN never wins).
fn argmax(t: &HostTensor) -> Vec<usize> {
    let row = t.shape().last().copied().unwrap_or(1).max(1) as usize;
    let all: Vec<f64> = values(t.data()).collect();
    all.chunks(row)
        .map(|r| {
            r.iter()
                .enumerate()
                .fold(
                    (0, f64::NEG_INFINITY),
                    |(bi, bv), (i, &v)| if v > bv { (i, v) } else { (bi, bv) },
                )
                .0
        })
        .collect()
}

/// What a job computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum JobKind {
    /// Inference: the output is the ABI encoding of `Tensor[]` in the model's dtypes.
    Infer = 1,
    /// Registration: the output is the ABI encoding of the model's analysis (`ModelInfo`
    /// with empty name, owner and block).
    Register = 2,
    /// Training: the payload is [`encode_train_payload`], the output [`Trained::encode`].
    Train = 3,
}

impl JobKind {
    /// The kind with code `code`.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Infer),
            2 => Some(Self::Register),
            3 => Some(Self::Train),
            _ => None,
        }
    }
}

/// `abi.encode` of static words: each one 32 bytes, big-endian.
fn words(values: &[U256]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes::<32>()).collect()
}

/// A job's id: `keccak256(abi.encode(kind, model, keccak256(payload), ruleHash))`.
pub fn job_id(kind: JobKind, model: B256, payload: &[u8], rule: &Rule) -> B256 {
    keccak256(words(&[
        U256::from(kind as u8),
        model.into(),
        keccak256(payload).into(),
        rule.hash().into(),
    ]))
}

/// What an executor signs for `output` of `job` under `rule` on chain `chain_id`.
pub fn digest(chain_id: u64, job: B256, output: &[u8], rule: &Rule) -> B256 {
    domain_digest(ATTEST_DOMAIN, chain_id, job, output, rule)
}

/// What an executor signs when `job` fails with `failure` (the bytes of
/// [`JobRecord::failure_of`]) under `rule` on chain `chain_id`.
pub fn failure_digest(chain_id: u64, job: B256, failure: &[u8], rule: &Rule) -> B256 {
    domain_digest(FAILURE_DOMAIN, chain_id, job, failure, rule)
}

fn domain_digest(domain: &[u8], chain_id: u64, job: B256, bytes: &[u8], rule: &Rule) -> B256 {
    let mut preimage = Vec::with_capacity(domain.len() + 128);
    preimage.extend_from_slice(domain);
    preimage.extend_from_slice(&U256::from(chain_id).to_be_bytes::<32>());
    preimage.extend_from_slice(job.as_slice());
    preimage.extend_from_slice(keccak256(bytes).as_slice());
    preimage.extend_from_slice(rule.hash().as_slice());
    keccak256(preimage)
}

/// The ABI encoding of inference inputs or outputs (`Tensor[]` in their own dtypes).
pub fn encode_tensors(tensors: &[HostTensor]) -> Result<Bytes, String> {
    let encoded = tensors
        .iter()
        .map(|t| dtype::encode(t, None).map_err(|e| format!("{e:?}")))
        .collect::<Result<Vec<abi::Tensor>, _>>()?;
    Ok(encoded.abi_encode().into())
}

/// The payload of a training job: `abi.encode(Tensor[] batch, TrainParams params)`, the batch
/// in the element types the model and loss take; for `trainOnly`,
/// `abi.encode(Tensor[] batch, TrainParams params, string[] trainable)`, for `trainAdapters`
/// `abi.encode(Tensor[] batch, TrainParams params, string[] targets, uint32 rank)` (so the job
/// id commits to which weights train, and how).
pub fn encode_train_payload(batch: &[HostTensor], params: &TrainParams) -> Result<Bytes, String> {
    let encoded = batch
        .iter()
        .map(|t| dtype::encode(t, None).map_err(|e| format!("{e:?}")))
        .collect::<Result<Vec<abi::Tensor>, _>>()?;
    Ok(if params.trainable.is_empty() {
        (encoded, params.to_abi()).abi_encode_params()
    } else if params.rank == 0 {
        (encoded, params.to_abi(), params.trainable.clone()).abi_encode_params()
    } else {
        (encoded, params.to_abi(), params.trainable.clone(), u32::from(params.rank))
            .abi_encode_params()
    }
    .into())
}

/// Decodes what [`encode_train_payload`] wrote. ABI encodings of these types are canonical, so
/// a payload is of a form (`train`, `trainOnly`, `trainAdapters`) exactly when it decodes as
/// that form and re-encodes to itself.
pub fn decode_train_payload(bytes: &[u8]) -> Result<(Vec<HostTensor>, TrainParams), String> {
    type Plain = (Vec<abi::Tensor>, abi::TrainParams);
    type Only = (Vec<abi::Tensor>, abi::TrainParams, Vec<String>);
    type Adapters = (Vec<abi::Tensor>, abi::TrainParams, Vec<String>, u32);
    let canonical = |encoded: Vec<u8>| encoded == bytes;
    let (tensors, params, names, rank) = if let Ok(p) =
        Plain::abi_decode_params(bytes).filter_canonical(|p| canonical(p.abi_encode_params()))
    {
        (p.0, p.1, None, 0)
    } else if let Ok(p) =
        Only::abi_decode_params(bytes).filter_canonical(|p| canonical(p.abi_encode_params()))
    {
        (p.0, p.1, Some(p.2), 0)
    } else {
        let p = Adapters::abi_decode_params(bytes)
            .filter_canonical(|p| canonical(p.abi_encode_params()))
            .map_err(|e| format!("not a training payload: {e}"))?;
        let rank = u8::try_from(p.3).map_err(|_| format!("rank is {}: expected 1 to 64", p.3))?;
        (p.0, p.1, Some(p.2), rank)
    };
    let batch = decode_tensors(&tensors.abi_encode())?;
    let params = TrainParams::from_abi(&params)?;
    let params = match (names, rank) {
        (Some(names), 0) => params.only(names)?,
        (Some(names), rank) => params.adapters(names, rank)?,
        (None, _) => params,
    };
    Ok((batch, params))
}

/// A decoding kept only when its value re-encodes to the input (the one canonical form).
trait FilterCanonical<T> {
    fn filter_canonical(self, keep: impl FnOnce(&T) -> bool) -> Result<T, String>;
}

impl<T, E: std::fmt::Display> FilterCanonical<T> for Result<T, E> {
    fn filter_canonical(self, keep: impl FnOnce(&T) -> bool) -> Result<T, String> {
        match self {
            Ok(v) if keep(&v) => Ok(v),
            Ok(_) => Err("not the canonical encoding".into()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Decodes what [`encode_tensors`] wrote.
pub fn decode_tensors(bytes: &[u8]) -> Result<Vec<HostTensor>, String> {
    let tensors = <Vec<abi::Tensor>>::abi_decode(bytes).map_err(|e| e.to_string())?;
    tensors
        .iter()
        .map(|t| {
            let elem = match Dtype::from_code(t.dtype) {
                Some(Dtype::Elem(e)) => e,
                _ => return Err(format!("tensor dtype {} is not a plain element type", t.dtype)),
            };
            dtype::decode(t, elem, u64::MAX).map_err(|e| format!("{e:?}"))
        })
        .collect()
}

/// The output of a registration job: the model's analysis, from its bytes alone (so every
/// executor computes the same: the parent of a trained model is not in its bytes, and is
/// recorded by the `train` precompile instead).
pub fn encode_analysis(info: &ModelInfo) -> Bytes {
    let registration = crate::model::Registration {
        info: ModelInfo { parent: None, ..info.clone() },
        name: String::new(),
        owner: Address::ZERO,
        registered_at: 0,
        rule: Rule::DEFAULT,
    };
    registration.to_abi().abi_encode().into()
}

/// Decodes what [`encode_analysis`] wrote.
pub fn decode_analysis(bytes: &[u8]) -> Result<ModelInfo, String> {
    let record = abi::ModelInfo::abi_decode(bytes).map_err(|e| e.to_string())?;
    crate::model::Registration::from_abi(record).map(|r| r.info)
}

/// Half the order of secp256k1's group: a signature's `s` must not exceed it (low-s, EIP-2).
const HALF_ORDER: U256 = alloy_primitives::uint!(
    0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0_U256
);

/// Signs `digest` with a low-s recoverable signature: `r ‖ s ‖ v` with `v` 27 or 28
/// (libsecp256k1, which produces low-s signatures).
pub fn sign(key: &SigningKey, digest: &B256) -> Result<[u8; 65], String> {
    let secret =
        secp256k1::SecretKey::from_byte_array(key.to_bytes().into()).map_err(|e| e.to_string())?;
    let message = secp256k1::Message::from_digest(digest.0);
    let signature = secp256k1::SECP256K1.sign_ecdsa_recoverable(message, &secret);
    let (recovery, compact) = signature.serialize_compact();
    let mut out = [0u8; 65];
    out[..64].copy_from_slice(&compact);
    out[64] = 27 + i32::from(recovery) as u8;
    Ok(out)
}

/// The address that signed `digest`, refusing high-s and malformed signatures.
pub fn recover(digest: &B256, signature: &[u8]) -> Result<Address, String> {
    let bytes: &[u8; 65] = signature
        .try_into()
        .map_err(|_| format!("a signature has {} bytes, not 65", signature.len()))?;
    if U256::from_be_slice(&bytes[32..64]) > HALF_ORDER {
        return Err("high-s signature".into());
    }
    let v = match bytes[64] {
        27 | 28 => bytes[64] - 27,
        0 | 1 => bytes[64],
        v => return Err(format!("recovery id {v}")),
    };
    let signature = alloy_primitives::Signature::from_bytes_and_parity(&bytes[..64], v == 1);
    signature.recover_address_from_prehash(digest).map_err(|e| e.to_string())
}

/// The address of a signing key.
pub fn address_of(key: &SigningKey) -> Address {
    Address::from_public_key(key.verifying_key())
}

/// What a block records about one job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, RlpEncodable, RlpDecodable)]
#[serde(rename_all = "camelCase")]
pub struct JobRecord {
    /// The job id.
    pub job: B256,
    /// [`JobKind`] code.
    pub kind: u8,
    /// The model.
    pub model: B256,
    /// The rule it was settled by (never the default one).
    pub rule: Rule,
    /// The settled output (empty when the job failed).
    pub output: Bytes,
    /// The committee's signatures (65 bytes each) of the digest, or of the failure digest
    /// when the job failed.
    pub signatures: Vec<Bytes>,
    /// Why the job failed (empty when it settled): replays revert with this.
    pub failure: Bytes,
}

impl JobRecord {
    /// Whether the job settled.
    pub fn is_settled(&self) -> bool {
        self.failure.is_empty()
    }

    /// Whether the job failed with no quorum: a failure no member can sign, which a block
    /// never carries (its transaction is left out instead).
    pub fn is_no_quorum(&self) -> bool {
        self.failure.starts_with(NO_QUORUM.as_bytes())
    }

    /// What the committee signed for this record: the digest of its output, or the failure
    /// digest of its failure.
    pub fn signed_digest(&self, chain_id: u64) -> B256 {
        if self.is_settled() {
            digest(chain_id, self.job, &self.output, &self.rule)
        } else {
            failure_digest(chain_id, self.job, &self.failure, &self.rule)
        }
    }

    /// The revert a failed job replays as (the same the builder reverted with).
    pub fn failure_error(&self) -> OracleError {
        let reason = String::from_utf8_lossy(&self.failure).into_owned();
        if let Some(counts) = reason.strip_prefix(NO_QUORUM) {
            let mut parts = counts.split('/').map(|n| n.trim().parse().unwrap_or(0));
            return OracleError::NoQuorum {
                job: self.job,
                signatures: parts.next().unwrap_or(0),
                threshold: parts.next().unwrap_or(0),
            };
        }
        if reason.starts_with("model unavailable") {
            return OracleError::ModelUnavailable(self.model);
        }
        OracleError::Failed(reason.strip_prefix("failed: ").unwrap_or(&reason).to_string())
    }

    /// The bytes of a failure that replays as `error`.
    pub fn failure_of(error: &OracleError) -> Bytes {
        let text = match error {
            OracleError::NoQuorum { signatures, threshold, .. } => {
                format!("{NO_QUORUM}{signatures}/{threshold}")
            }
            OracleError::ModelUnavailable(model) => format!("model unavailable: {model}"),
            OracleError::Failed(reason) => format!("failed: {reason}"),
        };
        Bytes::from(text.into_bytes())
    }
}

/// How a no-quorum failure starts.
const NO_QUORUM: &str = "no quorum: ";

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
        if rule.kind == 0 || rule.is_training() {
            return Err(format!(
                "the committee's default rule must be a concrete inference rule (exact, \
                 tolerance or argmax), not kind {}",
                rule.kind
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
        if record.rule.kind == 0 || record.rule.validate().is_err() {
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

/// An oracle that answers from a block's job records, verifying the committee's signatures:
/// it never runs a model. A job without a valid record is noted as a replay failure (the
/// importer then refuses the block) and answered as failed.
#[derive(Debug)]
pub struct ReplayOracle {
    committee: Committee,
    chain_id: u64,
    records: HashMap<B256, JobRecord>,
    failures: Mutex<Vec<String>>,
    /// Records whose signatures were checked (each is checked once, however often it is used).
    checked: Mutex<HashSet<B256>>,
    verified: AtomicU64,
}

impl ReplayOracle {
    /// An oracle over `records`, signed by `committee` on chain `chain_id`.
    pub fn new(committee: Committee, chain_id: u64, records: Vec<JobRecord>) -> Self {
        Self {
            committee,
            chain_id,
            records: records.into_iter().map(|r| (r.job, r)).collect(),
            failures: Mutex::default(),
            checked: Mutex::default(),
            verified: AtomicU64::new(0),
        }
    }

    /// Why the replay went wrong, if it did.
    pub fn failures(&self) -> Vec<String> {
        self.failures.lock().map(|f| f.clone()).unwrap_or_default()
    }

    /// Verifies every record (results and failures) now, spread over the available cores
    /// (replaying then finds them checked). A block with a bad attestation is refused whether
    /// or not its transactions would have used it.
    pub fn verify_all(&self) -> Result<(), AttestationError> {
        let records: Vec<&JobRecord> = self.records.values().collect();
        let threads =
            std::thread::available_parallelism().map_or(1, usize::from).min(records.len()).max(1);
        let chunk = records.len().div_ceil(threads).max(1);
        let results: Vec<Result<(), AttestationError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = records
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter().try_for_each(|r| self.committee.verify(self.chain_id, r))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    // A verification that panicked verified nothing.
                    h.join().unwrap_or_else(|_| {
                        Err(AttestationError::Malformed {
                            job: B256::ZERO,
                            reason: "a verification thread panicked".into(),
                        })
                    })
                })
                .collect()
        });
        results.into_iter().collect::<Result<(), _>>()?;
        if let Ok(mut checked) = self.checked.lock() {
            checked.extend(records.iter().map(|r| r.job));
        }
        self.verified.fetch_add(records.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Distinct attestations verified so far.
    pub fn verified(&self) -> u64 {
        self.verified.load(Ordering::Relaxed)
    }

    fn fail(&self, reason: String) -> OracleError {
        if let Ok(mut failures) = self.failures.lock() {
            failures.push(reason.clone());
        }
        OracleError::Failed(format!("replay: {reason}"))
    }

    fn settled(&self, job: B256) -> Result<&JobRecord, OracleError> {
        let Some(record) = self.records.get(&job) else {
            return Err(self.fail(format!("the block has no record of job {job}")));
        };
        let fresh = self.checked.lock().map(|checked| !checked.contains(&job)).unwrap_or(true);
        if fresh {
            self.committee.verify(self.chain_id, record).map_err(|e| self.fail(e.to_string()))?;
            if let Ok(mut checked) = self.checked.lock() {
                checked.insert(job);
            }
            self.verified.fetch_add(1, Ordering::Relaxed);
        }
        if !record.is_settled() {
            // A failure the committee signed: the call reverts as the builder's did.
            return Err(record.failure_error());
        }
        Ok(record)
    }
}

impl DnnOracle for ReplayOracle {
    fn model_info(&self, model: B256) -> Result<ModelInfo, OracleError> {
        let rule = Rule::EXACT;
        let job = job_id(JobKind::Register, model, &[], &rule);
        let record = self.settled(job)?;
        decode_analysis(&record.output)
            .map_err(|e| self.fail(format!("job {job}: undecodable analysis: {e}")))
    }

    fn infer(&self, request: InferRequest<'_>) -> Result<Vec<HostTensor>, OracleError> {
        let rule = request.rule.or(self.committee.default_rule);
        let payload = encode_tensors(&request.inputs).map_err(OracleError::Failed)?;
        let job = job_id(JobKind::Infer, request.model, &payload, &rule);
        let record = self.settled(job)?;
        decode_tensors(&record.output)
            .map_err(|e| self.fail(format!("job {job}: undecodable output: {e}")))
    }

    fn train(&self, request: TrainRequest<'_>) -> Result<Trained, OracleError> {
        let rule = request.rule.or(Rule::DEFAULT_TRAIN);
        let payload =
            encode_train_payload(&request.batch, &request.params).map_err(OracleError::Failed)?;
        let job = job_id(JobKind::Train, request.model, &payload, &rule);
        let record = self.settled(job)?;
        Trained::decode(&record.output)
            .map_err(|e| self.fail(format!("job {job}: undecodable training result: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The order of secp256k1's group.
    const N: U256 = alloy_primitives::uint!(
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141_U256
    );

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

    /// Inference takes the default and kinds 1–3, training the default and kinds 4–5; an
    /// unknown rule is refused as such whatever the job.
    #[test]
    fn rules_fit_their_jobs() {
        for kind in [JobKind::Infer, JobKind::Register, JobKind::Train] {
            assert_eq!(Rule::DEFAULT.validate_for(kind), Ok(()));
            let unknown = Rule { kind: 9, abs: 0, rel: 0 }.validate_for(kind).unwrap_err();
            assert!(unknown.starts_with("unknown rule kind 9"), "{unknown}");
        }
        for rule in [Rule::EXACT, Rule::tolerance(1, 2), Rule { kind: 3, abs: 0, rel: 0 }] {
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

    /// Signatures are low-s and recover to the signer.
    #[test]
    fn sign_recover_low_s() {
        for i in 1..50u8 {
            let d = keccak256([i]);
            let sig = sign(&key(i), &d).unwrap();
            assert_eq!(recover(&d, &sig).unwrap(), address_of(&key(i)));
            let s = U256::from_be_slice(&sig[32..64]);
            assert!(s <= N >> 1, "low-s");
            assert_eq!(N >> 1, HALF_ORDER);
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
        sig[32..64].copy_from_slice(&(N - s).to_be_bytes::<32>());
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
        for kind in [0u8, 4] {
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
        assert_eq!(oracle.settled(signed.job).unwrap_err(), model_error);
        assert!(oracle.failures().is_empty());
        let unsigned = failure(&[], &model_error, false);
        let oracle = ReplayOracle::new(c, 31337, vec![unsigned.clone()]);
        assert!(oracle.verify_all().is_err());
        assert!(matches!(oracle.settled(unsigned.job), Err(OracleError::Failed(_))));
        assert_eq!(oracle.failures().len(), 1, "{:?}", oracle.failures());
    }

    /// Each rule's property: exact bytes, tolerance bounds, arg-max per row.
    #[test]
    fn rule_properties() {
        let t = |v: Vec<f32>| vec![HostTensor::new(vec![2, 2], TensorData::F32(v)).unwrap()];
        let a = t(vec![1.0, 2.0, 3.0, 0.5]);
        let close = t(vec![1.000001, 2.0, 3.0, 0.5]);
        let swapped = t(vec![2.0, 1.0, 3.0, 0.5]);
        assert!(Rule::EXACT.check(&a, &a).is_ok());
        assert!(Rule::EXACT.check(&a, &close).is_err());
        assert!(Rule::tolerance(0, 10_000).check(&a, &close).is_ok(), "rel 1e-5");
        assert!(Rule::tolerance(0, 100).check(&a, &close).is_err(), "rel 1e-7");
        assert!(Rule::ARGMAX.check(&a, &close).is_ok());
        assert!(Rule::ARGMAX.check(&a, &swapped).is_err());
        let nan = t(vec![f32::NAN, 2.0, 3.0, 0.5]);
        assert!(Rule::tolerance(1_000_000_000, 0).check(&a, &nan).is_err(), "NaN is never within");
        assert!(Rule { kind: 7, abs: 0, rel: 0 }.validate().is_err());
        assert!(Rule { kind: 1, abs: 5, rel: 0 }.validate().is_err());
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
