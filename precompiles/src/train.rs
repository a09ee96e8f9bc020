//! `0x…0D02`: training.
//!
//! - `train(bytes32 model, Tensor[] batch, TrainParams params) returns (bytes32 newModel,
//!   int256 loss)`
//! - `trainWith(bytes32, Tensor[], TrainParams, Rule rule)`: settled by `rule` (kind 0, 4
//!   train-loss or 5 recompute) instead of [`Rule::DEFAULT_TRAIN`].
//! - `trainOnly(bytes32, Tensor[], TrainParams, string[] trainable)`: only the initializers
//!   named train ([`TrainParams::only`] checks the list: `MalformedCall`); the others are frozen,
//!   which the committee checks (the new model holds them byte for byte). Priced as `train`:
//!   the frozen weights' gradients are not computed, so the price is an upper bound.
//! - `trainAdapters(bytes32, Tensor[], TrainParams, string[] targets, uint8 rank)`: rank-`rank`
//!   LoRA adapters on the weights named, merged into them after the steps (every other weight
//!   frozen, checked alike). Priced as `train` on twice the model's MACs (an adapter costs at
//!   most its product's own work) plus [`crate::gas::GasSchedule::adapter_merge`]; the model
//!   it writes pays a cold load of the parent's size (no optimiser state is kept).
//!
//! The batch is the model's inputs in order, then the labels — class indices `[batch]`
//! (converted to int64) for the cross-entropy losses, targets shaped like the model's first
//! output (converted to its element type) for MSE — then, for the weighted cross-entropy, one
//! weight per sample `[batch]` (converted to float32). `batch` is the first input's leading
//! dimension. A model whose first output is sequence logits `[batch, positions…, classes]`
//! (a language model's `[batch, seq, vocab]`) trains with cross-entropy on one class index per
//! position, `[batch, positions…]`, shaped like the output without its last axis; a label of
//! [`IGNORE_LABEL`] (−100, PyTorch's `ignore_index`) marks a position the loss skips, such as
//! padding.
//!
//! Order of work, so that gas is known before any training: decode and check the parameters
//! (`MalformedCall`), refuse STATICCALL (`WriteInStaticCall`) and DELEGATECALL, read the
//! registry record (`UnknownModel`), check the batch's count, sizes and shapes
//! (`WrongInputCount`, `BadTensor`, `TensorTooLarge`, `InputMismatch`), charge
//! [`crate::gas::GasSchedule::train`] and the cold loads (the parent's if it is outside the
//! warm set, and the new model's, which joins it: [`crate::registry`]), convert
//! (`ConversionFailed`), ask the oracle
//! (`TrainingFailed`, `ModelUnavailable`, `NoQuorum`), then register the new model — its
//! parent's record with the new hash, size, parent, trainer and block — unless that exact
//! model is registered already, and emit `ModelTrained`.

use crate::{
    Dnn, IGNORE_LABEL, JobKind, Rule, TrainParams,
    abi::{ITrain, Tensor},
    dtype::{self, Dtype},
    error::DnnError,
    infer::{bind_shapes, check_tensor, input_error},
    meter::{Meter, Stop},
    model::{Dim, ModelInfo},
    oracle::{CallContext, TrainRequest},
    registry,
    tensor::ElemType,
};
use alloy_primitives::{Address, Log, address};
use alloy_sol_types::{SolCall, SolEvent, SolInterface};
use revm::{
    context_interface::{Block, Cfg, ContextTr, JournalTr},
    interpreter::CallInputs,
};

/// Address of the training precompile.
pub const ADDRESS: Address = address!("0x0000000000000000000000000000000000000d02");

/// Trains, under a [`Meter`] that charged `infer_base`.
pub(crate) fn run<CTX: ContextTr>(
    ctx: &mut CTX,
    call: &CallInputs,
    input: &[u8],
    dnn: &Dnn,
    meter: &mut Meter,
) -> Result<Vec<u8>, Stop> {
    let gas = dnn.gas();
    let (model, batch, params, rule, names) = match ITrain::ITrainCalls::abi_decode(input) {
        Ok(ITrain::ITrainCalls::train(c)) => (c.model, c.batch, c.params, Ok(Rule::DEFAULT), None),
        Ok(ITrain::ITrainCalls::trainWith(c)) => {
            (c.model, c.batch, c.params, Rule::from_abi(&c.rule), None)
        }
        Ok(ITrain::ITrainCalls::trainOnly(c)) => {
            (c.model, c.batch, c.params, Ok(Rule::DEFAULT), Some((c.trainable, None)))
        }
        Ok(ITrain::ITrainCalls::trainAdapters(c)) => {
            (c.model, c.batch, c.params, Ok(Rule::DEFAULT), Some((c.targets, Some(c.rank))))
        }
        Err(e) => return Err(crate::provider::call_error::<ITrain::ITrainCalls>(input, &e).into()),
    };
    let mut params = TrainParams::from_abi(&params).map_err(DnnError::MalformedCall)?;
    params = match names {
        Some((names, None)) => params.only(names),
        Some((names, Some(rank))) => params.adapters(names, rank),
        None => Ok(params),
    }
    .map_err(DnnError::MalformedCall)?;
    let rule = rule.map_err(DnnError::MalformedCall)?;
    rule.validate_for(JobKind::Train).map_err(DnnError::MalformedCall)?;
    crate::provider::refuse_static_and_delegate(call, "train")?;

    let located = registry::locate(ctx, model)?.ok_or(DnnError::UnknownModel(model))?;
    let registry_gas = located.read_gas(gas);
    meter.charge(registry_gas)?;
    let parent = registry::read_registration(ctx, model, located)??;
    let info = &parent.info;

    // Shapes first: they bind the batch, which scales the cost.
    let expected = info.inputs.len() + params.extra_tensors();
    if batch.len() != expected {
        return Err(DnnError::WrongInputCount { expected, got: batch.len() }.into());
    }
    let limit = dnn.limits().max_tensor_elements;
    let dtypes = batch
        .iter()
        .enumerate()
        .map(|(i, tensor)| check_tensor(i, tensor, limit))
        .collect::<Result<Vec<_>, _>>()?;
    let n = info.inputs.len();
    let shapes: Vec<(&[u64], Dtype)> =
        batch[..n].iter().zip(&dtypes).map(|(t, d)| (t.shape.as_slice(), *d)).collect();
    let sizes = bind_shapes(&info.inputs, &shapes)?;
    let samples = batch.first().and_then(|t| t.shape.first()).copied().unwrap_or(1);
    let targets = target_types(info, &params, samples, &batch[..n], &batch[n..])
        .map_err(|(offset, e)| mismatch(n + offset, e, &batch[n + offset], dtypes[n + offset]))?;
    let batch_bytes: u64 = batch.iter().map(|t| t.data.len() as u64).sum();
    let new_record = registry::record_words(registry::LINEAGE_LEN);
    let macs = info.cost.macs_at(&sizes);
    // Adapters at most double a step's work (`anh_runtime::train::adapt`), and merging them
    // into their weights is paid apart.
    let macs = if params.rank > 0 { macs.and_then(|m| m.checked_mul(2)) } else { macs };
    let merge = if params.rank > 0 { gas.adapter_merge(info.size, params.rank) } else { Some(0) };
    meter.charge_total(macs.and_then(|macs| {
        gas.train(registry_gas, batch_bytes, macs, params.steps, new_record)?.checked_add(merge?)
    }))?;
    // The parent is loaded (cold unless warm); the new model is written, and loaded by its first
    // run: it pays a cold load of its size now, and joins the warm set once trained.
    registry::load(ctx, meter, gas, model, info.size)?;
    // Adapters are merged into the parent's file with no optimiser state: at most its size.
    meter.charge(if params.rank > 0 {
        gas.cold_model(info.size)
    } else {
        gas.trained_model(info.size, params.optimizer)
    })?;

    let elems = info.inputs.iter().map(|s| s.elem).chain(targets);
    let host = batch
        .iter()
        .zip(elems)
        .enumerate()
        .map(|(i, (tensor, elem))| {
            dtype::decode(tensor, elem, limit).map_err(|e| input_error(i, e))
        })
        .collect::<Result<Vec<_>, DnnError>>()?;
    if let Some((input, reason)) =
        host.iter().enumerate().find_map(|(i, t)| not_finite(t).map(|r| (i, r)))
    {
        return Err(DnnError::BadTensor { input, reason }.into());
    }
    if params.loss != 1 {
        check_classes(info, &host[n]).map_err(|reason| DnnError::BadTensor { input: n, reason })?;
    }
    let context = CallContext {
        chain_id: ctx.cfg().chain_id(),
        block_number: u64::try_from(ctx.block().number()).unwrap_or(u64::MAX),
    };
    let request = TrainRequest { model, info, batch: host, params, context, rule };
    let trained = dnn.oracle().train(request).map_err(|e| match e {
        crate::oracle::OracleError::Failed(reason) => DnnError::TrainingFailed(reason),
        e => DnnError::from(e),
    })?;

    // Paid for above (`trained_model`): it joins the warm set.
    registry::warm_up(ctx, trained.model, gas.warm_models)?;
    if registry::record_len(ctx, trained.model)?.is_none() {
        // A lineage record: the root's registration with this model's own fields.
        let lineage = registry::Lineage {
            root: located.root.map_or(model, |(root, _)| root),
            parent: model,
            size: trained.size,
            owner: call.caller,
            registered_at: context.block_number,
        };
        registry::write_lineage(ctx, trained.model, &lineage)?;
    }
    let event = ITrain::ModelTrained {
        parent: model,
        model: trained.model,
        trainer: call.caller,
        loss: trained.loss,
    };
    ctx.journal_mut().log(Log { address: ADDRESS, data: event.encode_log_data() });
    // `train` and `trainWith` return alike.
    Ok(ITrain::trainCall::abi_encode_returns(&ITrain::trainReturn {
        newModel: trained.model,
        loss: trained.loss,
    }))
}

/// What a batch tensor after the model's inputs must be.
#[derive(Debug)]
struct TargetError {
    expected: String,
}

/// The size the model's inputs give symbolic dimension `name`, if one of them has it.
fn bound(info: &ModelInfo, inputs: &[Tensor], name: &str) -> Option<u64> {
    info.inputs.iter().zip(inputs).find_map(|(spec, t)| {
        spec.shape
            .iter()
            .zip(&t.shape)
            .find_map(|(d, &size)| matches!(d, Dim::Symbolic(n) if n == name).then_some(size))
    })
}

/// The element types the labels (and sample weights) convert to, after checking their shapes
/// against `samples`, the batch size, and the sizes `inputs` give the symbolic dimensions; on a
/// mismatch, the offset of the tensor after the model's inputs and what was expected.
fn target_types(
    info: &ModelInfo,
    params: &TrainParams,
    samples: u64,
    inputs: &[Tensor],
    extra: &[Tensor],
) -> Result<Vec<ElemType>, (usize, TargetError)> {
    let labels = &extra[0];
    // A target's dimension fits the output's: a fixed size, the batch size on axis 0, or the
    // size the inputs give a symbol (any, for a symbol only outputs have).
    let fits = |axis: usize, d: &Dim, got: u64| match d {
        Dim::Fixed(n) => *n == got,
        Dim::Symbolic(_) if axis == 0 => got == samples,
        Dim::Symbolic(name) => bound(info, inputs, name).is_none_or(|b| b == got),
    };
    let mut types = Vec::with_capacity(extra.len());
    if params.loss == 1 {
        let Some(output) = info.outputs.first() else {
            return Err((0, TargetError { expected: "a model with an output".into() }));
        };
        let fits = output.shape.len() == labels.shape.len()
            && output.shape.iter().zip(&labels.shape).enumerate().all(|(a, (d, &g))| fits(a, d, g));
        if !fits {
            return Err((
                0,
                TargetError { expected: format!("targets shaped like output 0: {output}") },
            ));
        }
        types.push(output.elem);
    } else if let Some(output) = info.outputs.first().filter(|o| o.shape.len() > 2) {
        if params.loss == 3 {
            let shape = output.to_string();
            return Err((
                0,
                TargetError {
                    expected: format!(
                        "a model whose output 0 is [batch, classes] logits (weighted \
                         cross-entropy weighs samples); output 0 is {shape}"
                    ),
                },
            ));
        }
        // Sequence logits: one class index per position.
        let positions = &output.shape[..output.shape.len() - 1];
        let fits = positions.len() == labels.shape.len()
            && (3..=6).contains(&labels.dtype)
            && positions.iter().zip(&labels.shape).enumerate().all(|(a, (d, &g))| fits(a, d, g));
        if !fits {
            let dims: Vec<String> = positions.iter().map(ToString::to_string).collect();
            return Err((
                0,
                TargetError {
                    expected: format!(
                        "integer class indices, one per position: [{}] (output 0 without its \
                         classes)",
                        dims.join(", ")
                    ),
                },
            ));
        }
        types.push(ElemType::I64);
    } else {
        // int32, int64, uint8 or int8: class indices are integers, never rounded.
        if labels.shape != [samples] || !(3..=6).contains(&labels.dtype) {
            return Err((
                0,
                TargetError {
                    expected: format!("integer class indices, one per sample: [{samples}]"),
                },
            ));
        }
        types.push(ElemType::I64);
    }
    if params.loss == 3 {
        if extra[1].shape != [samples] {
            return Err((
                1,
                TargetError { expected: format!("sample weights, one per sample: [{samples}]") },
            ));
        }
        types.push(ElemType::F32);
    }
    Ok(types)
}

/// Why a float tensor of the batch cannot be trained on: an element that is NaN or infinite.
fn not_finite(t: &crate::HostTensor) -> Option<String> {
    let bad = match t.data() {
        crate::TensorData::F32(v) => v.iter().position(|x| !x.is_finite()),
        crate::TensorData::F64(v) => v.iter().position(|x| !x.is_finite()),
        _ => None,
    }?;
    Some(format!("element {bad} is NaN or infinite: training data must be finite"))
}

/// Every class index names one of the first output's classes (its last dimension, when that
/// is fixed), or is [`IGNORE_LABEL`] for sequence logits.
fn check_classes(info: &ModelInfo, labels: &crate::HostTensor) -> Result<(), String> {
    let Some(output) = info.outputs.first() else { return Ok(()) };
    let Some(Dim::Fixed(classes)) = output.shape.last() else {
        return Ok(());
    };
    let crate::TensorData::I64(labels) = labels.data() else {
        return Err("labels did not convert to int64".into());
    };
    let sequence = output.shape.len() > 2;
    let bad = |l: i64| (l < 0 || l as u64 >= *classes) && !(sequence && l == IGNORE_LABEL);
    match labels.iter().enumerate().find(|(_, l)| bad(**l)) {
        Some((at, label)) if sequence => Err(format!(
            "label {label} at position {at} is not a class index: the model has {classes} \
             classes (and {IGNORE_LABEL} skips a position)"
        )),
        Some((sample, label)) => Err(format!(
            "label {label} of sample {sample} is not a class index: the model has {classes} classes"
        )),
        None => Ok(()),
    }
}

fn mismatch(input: usize, error: TargetError, got: &Tensor, dtype: Dtype) -> DnnError {
    DnnError::InputMismatch {
        input,
        expected: error.expected,
        got: format!("{dtype} {:?}", got.shape),
    }
}
