//! `0x…0D01`: inference.
//!
//! - `infer(bytes32 model, Tensor[] inputs) returns (Tensor[] outputs)`
//! - `inferAs(bytes32 model, Tensor[] inputs, uint8 outputDtype) returns (Tensor[] outputs)`
//! - `inferWith(bytes32 model, Tensor[] inputs, uint8 outputDtype, Rule rule) returns (Tensor[])`
//!   (`outputDtype` 0: the model's own; `rule` settles this call instead of the model's rule)
//!
//! Order of work, so that gas is known before any inference: read the registry record
//! (`UnknownModel`), check the input count, sizes and shapes and bind the symbolic dimensions
//! (`WrongInputCount`, `BadTensor`, `TensorTooLarge`, `InputMismatch`), charge the gas of
//! [`crate::gas::GasSchedule::infer`] for the model's cost at those sizes, and
//! [`crate::gas::GasSchedule::cold_model`] if the model is outside the chain's warm set
//! ([`crate::registry`]; it joins it) (out of gas: the model never runs), convert each input
//! to the model's declared element type (`ConversionFailed`), ask the
//! oracle (`ModelUnavailable`, `InferenceFailed`), and encode the outputs in the model's own
//! dtypes or the one asked for (`ConversionFailed`). It changes no state but the registry's warm
//! set, so it works under STATICCALL.

use crate::{
    Dnn, JobKind, Rule,
    abi::{IInfer, Tensor},
    dtype::{self, Dtype, TensorError},
    error::DnnError,
    meter::{Meter, Stop},
    model::ModelInfo,
    oracle::{CallContext, InferRequest},
    registry,
};
use alloy_primitives::{Address, address};
use alloy_sol_types::{SolCall, SolInterface};
use anh_primitives::{ShapeError, shapes::EmptyDims};
use revm::context_interface::{Block, Cfg, ContextTr};

/// Address of the inference precompile.
pub const ADDRESS: Address = address!("0x0000000000000000000000000000000000000d01");

/// Runs inference, under a [`Meter`] that charged `infer_base`.
pub(crate) fn run<CTX: ContextTr>(
    ctx: &mut CTX,
    input: &[u8],
    dnn: &Dnn,
    meter: &mut Meter,
) -> Result<Vec<u8>, Stop> {
    let gas = dnn.gas();
    let output_dtype = |code: u8| {
        Dtype::from_code(code).ok_or_else(|| {
            DnnError::MalformedCall(format!(
                "unknown output dtype {code:#04x}: expected 1-7 or 0x40-0x52 (fixed-point)"
            ))
        })
    };
    let (model, inputs, output_dtype, rule, function) = match IInfer::IInferCalls::abi_decode(input)
    {
        Ok(IInfer::IInferCalls::infer(c)) => (c.model, c.inputs, None, None, Function::Infer),
        Ok(IInfer::IInferCalls::inferAs(c)) => {
            (c.model, c.inputs, Some(output_dtype(c.outputDtype)?), None, Function::InferAs)
        }
        Ok(IInfer::IInferCalls::inferWith(c)) => {
            let dtype = match c.outputDtype {
                0 => None,
                code => Some(output_dtype(code)?),
            };
            let rule = Rule::from_abi(&c.rule).map_err(DnnError::MalformedCall)?;
            rule.validate_for(JobKind::Infer).map_err(DnnError::MalformedCall)?;
            (c.model, c.inputs, dtype, Some(rule), Function::InferWith)
        }
        Err(e) => return Err(crate::provider::call_error::<IInfer::IInferCalls>(input, &e).into()),
    };

    let located = registry::locate(ctx, model)?.ok_or(DnnError::UnknownModel(model))?;
    let registry_gas = located.read_gas(gas);
    meter.charge(registry_gas)?;
    let registration = registry::read_registration_cached(ctx, model, located, dnn)??;
    let (info, model_rule) = (&registration.info, registration.rule);
    let rule = rule.unwrap_or(model_rule);

    // Shapes first (cheap, and they bind the symbolic dimensions that scale the cost).
    if inputs.len() != info.inputs.len() {
        return Err(
            DnnError::WrongInputCount { expected: info.inputs.len(), got: inputs.len() }.into()
        );
    }
    let limit = dnn.limits().max_tensor_elements;
    let shapes = inputs
        .iter()
        .enumerate()
        .map(|(i, tensor)| Ok((tensor.shape.as_slice(), check_tensor(i, tensor, limit)?)))
        .collect::<Result<Vec<_>, DnnError>>()?;
    let sizes = bind_shapes(&info.inputs, &shapes)?;
    let input_bytes: u64 = inputs.iter().map(|t| t.data.len() as u64).sum();
    let macs = info.cost.macs_at(&sizes);
    meter.charge_total(macs.and_then(|macs| gas.infer(registry_gas, input_bytes, macs)))?;
    registry::load(ctx, meter, gas, model, info.size)?;

    let host = inputs
        .iter()
        .zip(&info.inputs)
        .enumerate()
        .map(|(i, (tensor, spec))| {
            dtype::decode(tensor, spec.elem, limit).map_err(|e| input_error(i, e))
        })
        .collect::<Result<Vec<_>, DnnError>>()?;
    let context = CallContext {
        chain_id: ctx.cfg().chain_id(),
        block_number: u64::try_from(ctx.block().number()).unwrap_or(u64::MAX),
    };
    let request = InferRequest { model, info, inputs: host, context, rule };
    let outputs = dnn.oracle().infer(request).map_err(DnnError::from)?;
    check_outputs(info, &outputs, limit)?;
    let encoded = outputs
        .iter()
        .enumerate()
        .map(|(i, output)| {
            dtype::encode(output, output_dtype).map_err(|e| match e {
                TensorError::Conversion { element, reason } => {
                    DnnError::ConversionFailed { tensor: i, element, reason }
                }
                e => DnnError::InferenceFailed(format!("output {i}: {e:?}")),
            })
        })
        .collect::<Result<Vec<Tensor>, DnnError>>()?;
    Ok(match function {
        Function::Infer => IInfer::inferCall::abi_encode_returns(&encoded),
        Function::InferAs => IInfer::inferAsCall::abi_encode_returns(&encoded),
        Function::InferWith => IInfer::inferWithCall::abi_encode_returns(&encoded),
    })
}

/// Which function was called (their returns encode alike, but each has its own encoder).
#[derive(Clone, Copy)]
enum Function {
    Infer,
    InferAs,
    InferWith,
}

/// Checks what needs no conversion: a known dtype, an element count within `limit`, and data
/// of the length the shape needs. These come before gas, so that a shape too large to pay
/// for is refused with a reason rather than running out of gas.
pub(crate) fn check_tensor(input: usize, tensor: &Tensor, limit: u64) -> Result<Dtype, DnnError> {
    let Some(dtype) = Dtype::from_code(tensor.dtype) else {
        return Err(DnnError::BadTensor {
            input,
            reason: format!(
                "unknown dtype {:#04x}: expected 1-7 or 0x40-0x52 (fixed-point)",
                tensor.dtype
            ),
        });
    };
    let Some(elements) = dtype::element_count(&tensor.shape) else {
        return Err(DnnError::BadTensor {
            input,
            reason: format!("shape {:?} overflows", tensor.shape),
        });
    };
    if elements > limit {
        return Err(DnnError::TensorTooLarge { input, elements, limit });
    }
    let needed = elements as u128 * dtype.size() as u128;
    if tensor.data.len() as u128 != needed {
        return Err(DnnError::BadTensor {
            input,
            reason: format!(
                "data has {} bytes, but shape {:?} of {dtype} needs {needed}",
                tensor.data.len(),
                tensor.shape
            ),
        });
    }
    Ok(dtype)
}

pub(crate) fn input_error(input: usize, error: TensorError) -> DnnError {
    match error {
        TensorError::Malformed(reason) => DnnError::BadTensor { input, reason },
        TensorError::TooLarge { elements, limit } => {
            DnnError::TensorTooLarge { input, elements, limit }
        }
        TensorError::Conversion { element, reason } => {
            DnnError::ConversionFailed { tensor: input, element, reason }
        }
    }
}

/// The oracle's answer has the declared number of outputs in the declared element types.
/// Checks the outputs against the model's declaration, and each against the chain's tensor
/// limit (a model whose output shape depends on its input values could otherwise answer more
/// than a caller can be given; outputs come from the record in Replay, so every node decides
/// alike).
fn check_outputs(
    info: &ModelInfo,
    outputs: &[crate::HostTensor],
    limit: u64,
) -> Result<(), DnnError> {
    if outputs.len() != info.outputs.len() {
        return Err(DnnError::InferenceFailed(format!(
            "the model declares {} output(s), the computation returned {}",
            info.outputs.len(),
            outputs.len()
        )));
    }
    for (i, (output, spec)) in outputs.iter().zip(&info.outputs).enumerate() {
        if output.elem_type() != spec.elem {
            return Err(DnnError::InferenceFailed(format!(
                "output {i} ({:?}) is {}, the model declares {}",
                spec.name,
                output.elem_type(),
                spec.elem
            )));
        }
        if output.len() as u64 > limit {
            return Err(DnnError::InferenceFailed(format!(
                "output {i} ({:?}) has {} elements, more than the limit of {limit}",
                spec.name,
                output.len()
            )));
        }
    }
    Ok(())
}

/// Checks a call's input shapes (with its dtypes, for messages) against `specs` with the one
/// binder ([`anh_primitives::shapes::bind`]); returns the sizes of the symbols, in order.
pub(crate) fn bind_shapes(
    specs: &[crate::TensorSpec],
    shapes: &[(&[u64], Dtype)],
) -> Result<Vec<u64>, DnnError> {
    anh_primitives::shapes::bind(specs, shapes.iter().map(|(shape, _)| *shape), EmptyDims::Refused)
        .map_err(|e| {
            let Some(input) = e.input() else {
                return DnnError::WrongInputCount { expected: specs.len(), got: shapes.len() };
            };
            let (spec, (shape, dtype)) = (&specs[input], &shapes[input]);
            let expected = match e {
                ShapeError::Empty { .. } => format!("{spec} (symbolic dimensions of at least 1)"),
                _ => spec.to_string(),
            };
            DnnError::InputMismatch { input, expected, got: format!("{dtype} {shape:?}") }
        })
}
