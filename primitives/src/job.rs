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
    model::{ModelInfo, Registration},
    rule::{Rule, RuleKind, words},
    tensor::HostTensor,
    train::TrainParams,
};
use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_rlp::{RlpDecodable, RlpEncodable};
use alloy_sol_types::SolValue;
use serde::{Deserialize, Serialize};

/// The domain-separation prefix of attestation digests.
pub const ATTEST_DOMAIN: &[u8] = b"\x19ANH-ATTEST-v1";

/// The domain-separation prefix of failure digests: a member's signature of a failure can
/// never stand for a result, nor the other way round.
pub const FAILURE_DOMAIN: &[u8] = b"\x19ANH-FAIL-v1";
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

impl Rule {
    /// Whether this is a known rule ([`Self::validate`]) that can settle jobs of `kind`: the
    /// default (kind 0), or kinds 1–3 for inference (a registered rule settles its model's
    /// inference: pass [`JobKind::Infer`] for registrations too), 4 and 5 for training.
    pub fn validate_for(&self, kind: JobKind) -> Result<(), String> {
        self.validate()?;
        match kind {
            JobKind::Train if self.kind != RuleKind::Default && !self.is_training() => {
                Err(format!(
                    "rule kind {} settles inference, not training: train takes 0 (default), \
                     4 (train-loss) or 5 (recompute)",
                    self.kind.code()
                ))
            }
            JobKind::Infer | JobKind::Register if self.is_training() => Err(format!(
                "rule kind {} settles training, not inference: inference takes 0 (default), \
                 1 (exact), 2 (tolerance) or 3 (argmax)",
                self.kind.code()
            )),
            _ => Ok(()),
        }
    }
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
    let registration = Registration {
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
    Registration::from_abi(record).map(|r| r.info)
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
}

/// How a no-quorum failure starts.
pub(crate) const NO_QUORUM: &str = "no quorum: ";
