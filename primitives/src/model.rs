//! What the chain records about a model: its I/O signature and its cost.
//!
//! A [`ModelInfo`] is produced by model analysis when a model is uploaded, written into
//! chain state by the registry precompile (as a [`Registration`]), and read back for gas and
//! input checks. It is all a replaying node needs: no model bytes.

use crate::{
    abi,
    cost::Cost,
    dtype::{Dtype, elem_code},
    rule::Rule,
    tensor::ElemType,
};
use alloy_primitives::{Address, B256};
use core::fmt;
use serde::{Deserialize, Serialize};

/// One dimension of a declared tensor shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Dim {
    /// A fixed size.
    Fixed(u64),
    /// A symbolic size (ONNX `dim_param`, e.g. `"batch"`), or an unnamed free dimension
    /// (empty string), bound by the caller's input.
    Symbolic(String),
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fixed(n) => write!(f, "{n}"),
            Self::Symbolic(s) if s.is_empty() => f.write_str("?"),
            Self::Symbolic(s) => f.write_str(s),
        }
    }
}

/// A declared model input or output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorSpec {
    /// The graph's name for it.
    pub name: String,
    /// Element type.
    pub elem: ElemType,
    /// Declared shape.
    pub shape: Vec<Dim>,
}

impl fmt::Display for TensorSpec {
    /// `float32 [batch, 4]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [", self.elem)?;
        for (i, d) in self.shape.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

/// What analysis found in a model file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// keccak256 of the model file's bytes.
    pub hash: B256,
    /// Size of the model file in bytes.
    pub size: u64,
    /// Multiply-accumulates of one evaluation, as a function of the symbolic dimensions'
    /// sizes ([`crate::cost`]).
    pub cost: Cost,
    /// Declared inputs, in graph order (initializers excluded).
    pub inputs: Vec<TensorSpec>,
    /// Declared outputs, in graph order.
    pub outputs: Vec<TensorSpec>,
    /// The model this one was trained from, if any.
    pub parent: Option<B256>,
}

impl ModelInfo {
    /// Multiply-accumulates of one evaluation with every symbolic dimension 1.
    pub fn macs(&self) -> u64 {
        self.cost.macs()
    }

    /// Multiply-accumulates of one evaluation on inputs of `shapes` (already checked against
    /// the inputs), or `None` if the count does not fit in `u64`.
    pub fn macs_for<'a>(&self, shapes: impl IntoIterator<Item = &'a [u64]>) -> Option<u64> {
        self.cost.macs_at(&crate::shapes::symbol_sizes(&self.inputs, shapes))
    }
}

/// A model's registry record: its analysis, and who registered it when under which name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The analysis.
    pub info: ModelInfo,
    /// The name given at registration.
    pub name: String,
    /// The account that registered it.
    pub owner: Address,
    /// Block of the registration.
    pub registered_at: u64,
    /// How the committee settles its results ([`Rule::DEFAULT`]: the committee's default).
    pub rule: Rule,
}

fn spec_to_abi(spec: &TensorSpec) -> abi::TensorSpec {
    abi::TensorSpec {
        name: spec.name.clone(),
        dtype: elem_code(spec.elem),
        shape: spec
            .shape
            .iter()
            .map(|d| match d {
                Dim::Fixed(n) => i64::try_from(*n).unwrap_or(i64::MAX),
                Dim::Symbolic(_) => -1,
            })
            .collect(),
        dimParams: spec
            .shape
            .iter()
            .map(|d| match d {
                Dim::Fixed(_) => String::new(),
                Dim::Symbolic(s) => s.clone(),
            })
            .collect(),
    }
}

fn spec_from_abi(spec: abi::TensorSpec) -> Result<TensorSpec, String> {
    let elem = match Dtype::from_code(spec.dtype) {
        Some(Dtype::Elem(e)) => e,
        _ => {
            return Err(format!("tensor {:?} has dtype {} in the registry", spec.name, spec.dtype));
        }
    };
    if spec.shape.len() != spec.dimParams.len() {
        return Err(format!("tensor {:?} has a malformed shape in the registry", spec.name));
    }
    let shape = spec
        .shape
        .iter()
        .zip(spec.dimParams)
        .map(|(&d, p)| match d {
            -1 => Ok(Dim::Symbolic(p)),
            d if d >= 0 => Ok(Dim::Fixed(d as u64)),
            d => Err(format!("tensor {:?} has dimension {d} in the registry", spec.name)),
        })
        .collect::<Result<_, _>>()?;
    Ok(TensorSpec { name: spec.name, elem, shape })
}

impl Registration {
    /// The record as the Solidity `ModelInfo` struct.
    pub fn to_abi(&self) -> abi::ModelInfo {
        abi::ModelInfo {
            model: self.info.hash,
            name: self.name.clone(),
            owner: self.owner,
            registeredAt: self.registered_at,
            parent: self.info.parent.unwrap_or_default(),
            macs: self.info.macs(),
            cost: abi::Cost {
                degrees: self.info.cost.degrees().to_vec(),
                coefficients: self.info.cost.coefficients().to_vec(),
            },
            size: self.info.size,
            inputs: self.info.inputs.iter().map(spec_to_abi).collect(),
            outputs: self.info.outputs.iter().map(spec_to_abi).collect(),
            rule: self.rule.to_abi(),
        }
    }

    /// The record from the Solidity `ModelInfo` struct.
    pub fn from_abi(record: abi::ModelInfo) -> Result<Self, String> {
        let inputs: Vec<TensorSpec> =
            record.inputs.into_iter().map(spec_from_abi).collect::<Result<_, _>>()?;
        let cost = Cost::new(record.cost.degrees, record.cost.coefficients)?;
        let symbols = crate::shapes::symbols(&inputs);
        if cost.degrees().len() != symbols {
            return Err(format!(
                "cost has {} symbols, the inputs have {symbols} symbolic dimensions",
                cost.degrees().len()
            ));
        }
        if cost.macs() != record.macs {
            return Err(format!(
                "macs is {}, the cost of one sample is {}",
                record.macs,
                cost.macs()
            ));
        }
        Ok(Self {
            info: ModelInfo {
                hash: record.model,
                size: record.size,
                cost,
                inputs,
                outputs: record.outputs.into_iter().map(spec_from_abi).collect::<Result<_, _>>()?,
                parent: (record.parent != B256::ZERO).then_some(record.parent),
            },
            name: record.name,
            owner: record.owner,
            registered_at: record.registeredAt,
            rule: Rule::from_abi(&record.rule)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A registration survives the trip through its Solidity struct.
    #[test]
    fn abi_round_trip() {
        let reg = Registration {
            info: ModelInfo {
                hash: B256::repeat_byte(7),
                size: 1234,
                cost: Cost::new(vec![1, 0], vec![99, 7]).unwrap(),
                inputs: vec![TensorSpec {
                    name: "x".into(),
                    elem: ElemType::F32,
                    shape: vec![
                        Dim::Symbolic("batch".into()),
                        Dim::Fixed(4),
                        Dim::Symbolic(String::new()),
                    ],
                }],
                outputs: vec![TensorSpec {
                    name: "y".into(),
                    elem: ElemType::I64,
                    shape: vec![Dim::Fixed(1)],
                }],
                parent: Some(B256::repeat_byte(1)),
            },
            name: "mlp".into(),
            owner: Address::repeat_byte(9),
            registered_at: 42,
            rule: Rule::tolerance(5, 7),
        };
        assert_eq!(Registration::from_abi(reg.to_abi()).unwrap(), reg);
        assert_eq!(reg.info.inputs[0].to_string(), "float32 [batch, 4, ?]");

        // A record whose cost does not fit its inputs, or disagrees with its `macs`, is corrupt.
        let mut record = reg.to_abi();
        record.cost.degrees = vec![1];
        record.cost.coefficients = vec![99, 7];
        assert_eq!(
            Registration::from_abi(record).unwrap_err(),
            "cost has 1 symbols, the inputs have 2 symbolic dimensions"
        );
        let mut record = reg.to_abi();
        record.macs = 100;
        assert_eq!(
            Registration::from_abi(record).unwrap_err(),
            "macs is 100, the cost of one sample is 99"
        );
    }
}
