//! How executors agree on a result: a [`Rule`] names the property of the leader's candidate
//! output that every member checks against its own (equal bytes, within a tolerance, the same
//! arg-max, a training loss), and its hash is part of every job id and digest.

use crate::{
    abi, dtype,
    tensor::{HostTensor, TensorData},
};
use alloy_primitives::{B256, Bytes, U256, keccak256};
use alloy_rlp::{RlpDecodable, RlpEncodable};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Which property a [`Rule`] checks. On the wire (ABI, RLP, JSON) it is its code, a `uint8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RuleKind {
    /// "Use the committee's default rule" (inference) or [`Rule::DEFAULT_TRAIN`] (training).
    Default = 0,
    /// The same output bytes.
    Exact = 1,
    /// Every element within `abs + rel × |own|` of the checking member's own ([`within`]).
    Tolerance = 2,
    /// The same arg-max along the last axis of every output.
    Argmax = 3,
    /// Training: the claimed loss, and a loss that did not rise, within `abs`.
    TrainLoss = 4,
    /// Training: every new weight within `abs + rel × |own|` of the member's own ([`within`]).
    Recompute = 5,
}

impl RuleKind {
    /// The kind's code (`Rule.kind` in Solidity).
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The kind with code `code`, or why there is none.
    pub fn from_code(code: u8) -> Result<Self, String> {
        Ok(match code {
            0 => Self::Default,
            1 => Self::Exact,
            2 => Self::Tolerance,
            3 => Self::Argmax,
            4 => Self::TrainLoss,
            5 => Self::Recompute,
            k => {
                return Err(format!(
                    "unknown rule kind {k}: expected 0 (default), 1 (exact), 2 (tolerance), \
                     3 (argmax), 4 (train-loss) or 5 (recompute)"
                ));
            }
        })
    }

    /// The kind's name as `anh_` methods show it: `exact`, `train-loss`, ….
    pub const fn name(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Exact => "exact",
            Self::Tolerance => "tolerance",
            Self::Argmax => "argmax",
            Self::TrainLoss => "train-loss",
            Self::Recompute => "recompute",
        }
    }

    /// Whether the kind settles training rather than inference.
    pub const fn is_training(self) -> bool {
        matches!(self, Self::TrainLoss | Self::Recompute)
    }
}

impl Serialize for RuleKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(self.code())
    }
}

impl<'de> Deserialize<'de> for RuleKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::from_code(u8::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

impl alloy_rlp::Encodable for RuleKind {
    fn encode(&self, out: &mut dyn alloy_rlp::BufMut) {
        self.code().encode(out);
    }

    fn length(&self) -> usize {
        self.code().length()
    }
}

impl alloy_rlp::Decodable for RuleKind {
    fn decode(buf: &mut &[u8]) -> alloy_rlp::Result<Self> {
        Self::from_code(u8::decode(buf)?).map_err(|_| alloy_rlp::Error::Custom("unknown rule kind"))
    }
}

/// How executors agree on a result.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, RlpEncodable, RlpDecodable,
)]
pub struct Rule {
    /// The property checked.
    pub kind: RuleKind,
    /// Absolute tolerance, in units of 1e-9 (tolerance, train-loss, recompute).
    pub abs: u64,
    /// Relative tolerance, in units of 1e-9 (tolerance, recompute).
    pub rel: u64,
}

impl Rule {
    /// "Use the committee's default rule."
    pub const DEFAULT: Self = Self { kind: RuleKind::Default, abs: 0, rel: 0 };
    /// The same output bytes.
    pub const EXACT: Self = Self { kind: RuleKind::Exact, abs: 0, rel: 0 };
    /// The same arg-max along the last axis of every output.
    pub const ARGMAX: Self = Self { kind: RuleKind::Argmax, abs: 0, rel: 0 };
    /// The rule a `train` call without one settles by: train-loss within 10^-4.
    pub const DEFAULT_TRAIN: Self = Self::train_loss(100_000);

    /// Every element within `abs + rel × |own|` of the checking member's own (both in units
    /// of 1e-9; see [`within`]).
    pub const fn tolerance(abs: u64, rel: u64) -> Self {
        Self { kind: RuleKind::Tolerance, abs, rel }
    }

    /// Training: the new weights' loss on the batch is the claimed loss within `eps`, and not
    /// above the old weights' loss by more than `eps` (units of 1e-9).
    pub const fn train_loss(eps: u64) -> Self {
        Self { kind: RuleKind::TrainLoss, abs: eps, rel: 0 }
    }

    /// Training: each executor trains too, and every new weight is within
    /// `abs + rel × |own|` of its own (units of 1e-9; see [`within`]).
    pub const fn recompute(abs: u64, rel: u64) -> Self {
        Self { kind: RuleKind::Recompute, abs, rel }
    }

    /// The train-loss rule's second property (other rules: none): training did not raise the
    /// batch's loss from `old` to `new` by more than the tolerance. Leaders check it before
    /// they answer, so that a run the committee would refuse fails with this reason rather
    /// than with no quorum.
    pub fn check_loss_rise(&self, old: f64, new: f64) -> Result<(), String> {
        if self.kind != RuleKind::TrainLoss {
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
        self.kind.is_training()
    }

    /// Whether the tolerances fit the kind: none with default, exact and argmax, an absolute
    /// one only with train-loss.
    pub fn validate(&self) -> Result<(), String> {
        use RuleKind::*;
        match self.kind {
            Default | Exact | Argmax if self.abs == 0 && self.rel == 0 => Ok(()),
            Default | Exact | Argmax => {
                Err(format!("rule kind {} takes no tolerances", self.kind.code()))
            }
            Tolerance | Recompute => Ok(()),
            TrainLoss if self.rel == 0 => Ok(()),
            TrainLoss => Err("rule kind 4 (train-loss) takes an absolute tolerance only".into()),
        }
    }

    /// `self`, or `default` if `self` is the default rule.
    pub fn or(self, default: Self) -> Self {
        if self.kind == RuleKind::Default { default } else { self }
    }

    /// `keccak256(abi.encode(uint8 kind, uint64 abs, uint64 rel))`.
    pub fn hash(&self) -> B256 {
        keccak256(words(&[
            U256::from(self.kind.code()),
            U256::from(self.abs),
            U256::from(self.rel),
        ]))
    }

    /// The rule as the Solidity struct.
    pub fn to_abi(self) -> abi::Rule {
        abi::Rule { kind: self.kind.code(), absTolerance: self.abs, relTolerance: self.rel }
    }

    /// The rule from the Solidity struct, or why its kind is unknown.
    pub fn from_abi(rule: &abi::Rule) -> Result<Self, String> {
        Ok(Self {
            kind: RuleKind::from_code(rule.kind)?,
            abs: rule.absTolerance,
            rel: rule.relTolerance,
        })
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
                RuleKind::Exact => {
                    let (a, b) = (encode(c), encode(o));
                    if a != b {
                        return Err(format!("output {i} differs"));
                    }
                }
                RuleKind::Tolerance => {
                    let (abs, rel) = (self.abs as f64 * 1e-9, self.rel as f64 * 1e-9);
                    for (j, (x, y)) in values(c.data()).zip(values(o.data())).enumerate() {
                        if !within(x, y, abs, rel) {
                            return Err(format!(
                                "output {i} element {j}: {x} is not within {} of {y}",
                                abs + rel * y.abs()
                            ));
                        }
                    }
                }
                RuleKind::Argmax => {
                    if argmax(c) != argmax(o) {
                        return Err(format!("output {i}: the arg-max differs"));
                    }
                }
                k => return Err(format!("rule kind {} cannot be checked", k.code())),
            }
        }
        Ok(())
    }
}

/// Whether `candidate` agrees with `own` (the checking member's value) under a tolerance of
/// `abs + rel × |own|`. The bound scales with the member's own value, never the candidate's:
/// a candidate of ±∞ would otherwise widen its own bound to ∞. Values that are not finite agree
/// only with the same value (NaN with NaN, +∞ with +∞), so identical results always settle and
/// no finite value passes for an infinite one.
pub fn within(candidate: f64, own: f64, abs: f64, rel: f64) -> bool {
    if !candidate.is_finite() || !own.is_finite() {
        return (candidate.is_nan() && own.is_nan()) || candidate == own;
    }
    (candidate - own).abs() <= abs + rel * own.abs()
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
        assert!(Rule::tolerance(1_000_000_000, 0).check(&a, &nan).is_err(), "NaN against 1");
        assert!(Rule::tolerance(1_000_000_000, 0).check(&nan, &a).is_err(), "1 against NaN");
        assert!(Rule::tolerance(0, 10_000).check(&nan, &nan).is_ok(), "the same NaN settles");
        let inf = t(vec![f32::INFINITY, 2.0, 3.0, 0.5]);
        assert!(Rule::tolerance(0, 10_000).check(&inf, &inf).is_ok(), "the same ∞ settles");
        let minus_inf = t(vec![f32::NEG_INFINITY, 2.0, 3.0, 0.5]);
        assert!(Rule::tolerance(0, 10_000).check(&minus_inf, &inf).is_err());
        // A candidate of ±∞ does not widen its own bound (it scales with the member's value).
        let e = Rule::tolerance(0, 1).check(&inf, &a).unwrap_err();
        assert_eq!(e, "output 0 element 0: inf is not within 0.000000001 of 1");
        assert!(Rule::tolerance(0, 1).check(&minus_inf, &a).is_err());
        // Nor does a huge one, at a relative tolerance of 100 %.
        let huge = t(vec![1e30, 2.0, 3.0, 0.5]);
        assert!(Rule::tolerance(0, 1_000_000_000).check(&huge, &a).is_err());
        assert!(Rule::tolerance(0, 1_000_000_000).check(&t(vec![1.9, 2.0, 3.0, 0.5]), &a).is_ok());
        assert!(Rule { kind: RuleKind::Exact, abs: 5, rel: 0 }.validate().is_err());
        assert!(Rule { kind: RuleKind::TrainLoss, abs: 5, rel: 1 }.validate().is_err());
    }

    /// Kinds travel as their codes (ABI, RLP, JSON); an unknown code is refused with the list
    /// of known ones, whichever way it comes in.
    #[test]
    fn kinds_round_trip_as_codes() {
        for code in 0..=5u8 {
            let kind = RuleKind::from_code(code).unwrap();
            assert_eq!(kind.code(), code);
            let rule = Rule { kind, abs: 0, rel: 0 };
            assert_eq!(Rule::from_abi(&rule.to_abi()), Ok(rule));
            let rlp = alloy_rlp::encode(rule);
            assert_eq!(<Rule as alloy_rlp::Decodable>::decode(&mut rlp.as_slice()), Ok(rule));
        }
        let e = RuleKind::from_code(9).unwrap_err();
        assert_eq!(
            e,
            "unknown rule kind 9: expected 0 (default), 1 (exact), 2 (tolerance), 3 (argmax), \
             4 (train-loss) or 5 (recompute)"
        );
        let abi = abi::Rule { kind: 9, absTolerance: 0, relTolerance: 0 };
        assert_eq!(Rule::from_abi(&abi), Err(e));
        // `rlp([kind, abs, rel])` with kind 9: the RLP of Argmax with its code byte changed.
        let mut rlp = alloy_rlp::encode(Rule::ARGMAX);
        assert_eq!(rlp[1], 3, "the kind is the list's first item");
        rlp[1] = 9;
        assert!(<Rule as alloy_rlp::Decodable>::decode(&mut rlp.as_slice()).is_err());
        let json = serde_json::json!({ "kind": 9, "abs": 0, "rel": 0 });
        let e = serde_json::from_value::<Rule>(json).unwrap_err().to_string();
        assert!(e.starts_with("unknown rule kind 9"), "{e}");
        assert_eq!(serde_json::to_value(Rule::ARGMAX).unwrap()["kind"], 3);
    }
}
