//! How executors agree on a result: a [`Rule`] names the property of the leader's candidate
//! output that every member checks against its own (equal bytes, within a tolerance, the same
//! arg-max, a training loss), and its hash is part of every job id and digest.

use crate::{
    abi, dtype,
    job::JobKind,
    tensor::{HostTensor, TensorData},
};
use alloy_primitives::{B256, Bytes, U256, keccak256};
use alloy_rlp::{RlpDecodable, RlpEncodable};
use serde::{Deserialize, Serialize};

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

/// `abi.encode` of static words: each one 32 bytes, big-endian.
pub(crate) fn words(values: &[U256]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes::<32>()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
