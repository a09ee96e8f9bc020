//! Training's parameters, as a `train` call gives them and a training job commits to, and what
//! training produces.

use crate::abi;
use alloy_primitives::{B256, Bytes, I256};
use alloy_sol_types::SolValue;

/// The class index that marks a position sequence cross-entropy skips (padding): −100, as
/// PyTorch's `ignore_index`. Accepted only for sequence logits (`[batch, positions…, classes]`).
pub const IGNORE_LABEL: i64 = -100;

/// Most optimiser steps one `train` call may ask for.
pub const MAX_TRAIN_STEPS: u32 = 1000;

/// Most initializers one `trainOnly` call may name.
pub const MAX_TRAINABLE: usize = 64;

/// Longest initializer name `trainOnly` takes, in bytes.
pub const MAX_TRAINABLE_NAME: usize = 256;

/// Largest rank of a `trainAdapters` adapter.
pub const MAX_ADAPTER_RANK: u32 = 64;

/// How to train: the Solidity `TrainParams`, checked, and which weights train.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrainParams {
    /// Optimiser steps on the whole batch, 1 to [`MAX_TRAIN_STEPS`].
    pub steps: u32,
    /// Learning rate, fixed-point ×10^18.
    pub learning_rate: u64,
    /// 1 mean squared error, 2 cross-entropy on logits, 3 weighted cross-entropy.
    pub loss: u8,
    /// 1 SGD, 2 momentum 0.9, 3 Adam (0.9, 0.999).
    pub optimizer: u8,
    /// The initializers that train (`trainOnly`), every other one frozen; empty: every float
    /// initializer on a path to the loss (`train`). With a `rank`, the weights that get
    /// adapters (`trainAdapters`).
    pub trainable: Vec<String>,
    /// 0, or the rank of the LoRA adapters `trainAdapters` trains on each weight of
    /// `trainable` (merged into those weights afterwards; every other weight frozen).
    pub rank: u8,
}

impl TrainParams {
    /// The parameters of a call, or why they are not acceptable.
    pub fn from_abi(params: &abi::TrainParams) -> Result<Self, String> {
        if params.steps == 0 || params.steps > MAX_TRAIN_STEPS {
            return Err(format!("steps is {}: expected 1 to {MAX_TRAIN_STEPS}", params.steps));
        }
        if params.learningRate == 0 {
            return Err("learningRate is 0: it is fixed-point ×10^18, e.g. 1e16 for 0.01".into());
        }
        if !(1..=3).contains(&params.loss) {
            return Err(format!(
                "unknown loss {}: expected 1 (MSE), 2 (cross-entropy) or 3 (weighted cross-entropy)",
                params.loss
            ));
        }
        if !(1..=3).contains(&params.optimizer) {
            return Err(format!(
                "unknown optimizer {}: expected 1 (SGD), 2 (momentum) or 3 (Adam)",
                params.optimizer
            ));
        }
        Ok(Self {
            steps: params.steps,
            learning_rate: params.learningRate,
            loss: params.loss,
            optimizer: params.optimizer,
            trainable: Vec::new(),
            rank: 0,
        })
    }

    /// These parameters training only `names` (`trainOnly`), or why the names are not
    /// acceptable: 1 to [`MAX_TRAINABLE`] distinct names of 1 to [`MAX_TRAINABLE_NAME`] bytes,
    /// none of them optimiser state (`anh.opt.*`). Whether each names a weight of the model is
    /// for the trainer to say.
    pub fn only(self, names: Vec<String>) -> Result<Self, String> {
        if names.is_empty() || names.len() > MAX_TRAINABLE {
            return Err(format!(
                "trainable names {} initializers: expected 1 to {MAX_TRAINABLE}",
                names.len()
            ));
        }
        for (i, name) in names.iter().enumerate() {
            if name.is_empty() || name.len() > MAX_TRAINABLE_NAME {
                return Err(format!(
                    "trainable[{i}] is {} bytes long: expected 1 to {MAX_TRAINABLE_NAME}",
                    name.len()
                ));
            }
            if name.starts_with("anh.opt.") {
                return Err(format!(
                    "trainable[{i}] \"{name}\" is optimiser state (anh.opt.*), not a weight"
                ));
            }
            if names[..i].contains(name) {
                return Err(format!("trainable[{i}] \"{name}\" is named twice"));
            }
        }
        Ok(Self { trainable: names, ..self })
    }

    /// These parameters training rank-`rank` adapters on the weights `targets`
    /// (`trainAdapters`), or why not: the names as [`TrainParams::only`] takes them, the rank
    /// 1 to [`MAX_ADAPTER_RANK`].
    pub fn adapters(self, targets: Vec<String>, rank: u8) -> Result<Self, String> {
        if rank == 0 || u32::from(rank) > MAX_ADAPTER_RANK {
            return Err(format!("rank is {rank}: expected 1 to {MAX_ADAPTER_RANK}"));
        }
        Ok(Self { rank, ..self.only(targets)? })
    }

    /// The Solidity struct.
    pub fn to_abi(&self) -> abi::TrainParams {
        abi::TrainParams {
            steps: self.steps,
            learningRate: self.learning_rate,
            loss: self.loss,
            optimizer: self.optimizer,
        }
    }

    /// The learning rate as a float.
    pub fn learning_rate(&self) -> f64 {
        self.learning_rate as f64 / 1e18
    }

    /// Tensors the batch holds besides the model's inputs: labels, and sample weights for
    /// the weighted cross-entropy.
    pub fn extra_tensors(&self) -> usize {
        if self.loss == 3 { 2 } else { 1 }
    }
}

/// What training produced: the new model (stored by hash where the node can serve it) and
/// its loss on the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trained {
    /// keccak256 of the new model file.
    pub model: B256,
    /// Its size in bytes.
    pub size: u64,
    /// The new weights' loss on the batch, fixed-point ×10^18.
    pub loss: I256,
}

impl Trained {
    /// `abi.encode(bytes32 model, uint64 size, int256 loss)`: what a training attestation
    /// signs.
    pub fn encode(&self) -> Bytes {
        (self.model, self.size, self.loss).abi_encode_params().into()
    }

    /// Decodes what [`Trained::encode`] wrote.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let (model, size, loss) =
            <(B256, u64, I256)>::abi_decode_params(bytes).map_err(|e| e.to_string())?;
        Ok(Self { model, size, loss })
    }

    /// `loss` as fixed-point ×10^18, or why it cannot be (not finite, too large).
    pub fn fixed_loss(loss: f64) -> Result<I256, String> {
        if !loss.is_finite() {
            return Err(format!("the loss is {loss}: training diverged"));
        }
        let scaled = (loss * 1e18).round();
        if scaled.abs() >= 1.7e38 {
            return Err(format!("the loss {loss:e} is too large to return"));
        }
        Ok(I256::try_from(scaled as i128).unwrap_or_default())
    }
}
