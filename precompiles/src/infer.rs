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
//! [`crate::gas::GasSchedule::infer`] (out of gas: the model never runs), convert each input
//! to the model's declared element type (`ConversionFailed`), ask the
//! oracle (`ModelUnavailable`, `InferenceFailed`), and encode the outputs in the model's own
//! dtypes or the one asked for (`ConversionFailed`). It changes no state, so it works under
//! STATICCALL.

use crate::{
    Dnn,
    abi::{IInfer, Tensor},
    attestation::Rule,
    dtype::{self, Dtype, TensorError},
    error::DnnError,
    model::ModelInfo,
    oracle::{CallContext, InferRequest},
    registry,
    validate::bind_shapes,
};
use alloy_primitives::{Address, address};
use alloy_sol_types::{SolCall, SolInterface};
use revm::{
    context_interface::{Block, Cfg, ContextTr},
    interpreter::CallInputs,
    precompile::{PrecompileHalt, PrecompileOutput},
};

/// Address of the inference precompile.
pub const ADDRESS: Address = address!("0x0000000000000000000000000000000000000d01");

/// Runs inference. `Err` only for a broken host.
pub(crate) fn run<CTX: ContextTr>(
    ctx: &mut CTX,
    call: &CallInputs,
    input: &[u8],
    dnn: &Dnn,
) -> Result<PrecompileOutput, String> {
    let reservoir = call.reservoir;
    let gas = dnn.gas();
    let mut charged = gas.infer_base;
    if call.gas_limit < charged {
        return Ok(PrecompileOutput::halt(PrecompileHalt::OutOfGas, reservoir));
    }
    macro_rules! revert {
        ($e:expr) => {
            return Ok(PrecompileOutput::revert(charged, $e.abi_encode(), reservoir))
        };
    }
    let unknown_dtype = |code: u8| {
        DnnError::MalformedCall(format!(
            "unknown output dtype {code:#04x}: expected 1-7 or 0x40-0x52 (fixed-point)"
        ))
    };
    let (model, inputs, output_dtype, rule, function) = match IInfer::IInferCalls::abi_decode(input)
    {
        Ok(IInfer::IInferCalls::infer(c)) => (c.model, c.inputs, None, None, Function::Infer),
        Ok(IInfer::IInferCalls::inferAs(c)) => match Dtype::from_code(c.outputDtype) {
            Some(d) => (c.model, c.inputs, Some(d), None, Function::InferAs),
            None => revert!(unknown_dtype(c.outputDtype)),
        },
        Ok(IInfer::IInferCalls::inferWith(c)) => {
            let dtype = match c.outputDtype {
                0 => None,
                code => match Dtype::from_code(code) {
                    Some(d) => Some(d),
                    None => revert!(unknown_dtype(code)),
                },
            };
            let rule = Rule::from_abi(&c.rule);
            if let Err(reason) = rule.validate() {
                revert!(DnnError::MalformedCall(reason));
            }
            if rule.is_training() {
                revert!(DnnError::MalformedCall(format!(
                    "rule kind {} settles training, not inference",
                    rule.kind
                )));
            }
            (c.model, c.inputs, dtype, Some(rule), Function::InferWith)
        }
        Err(e) => revert!(crate::provider::call_error::<IInfer::IInferCalls>(input, &e)),
    };

    let Some(located) = registry::locate(ctx, model)? else {
        revert!(DnnError::UnknownModel(model))
    };
    let registry_gas = located.read_gas(gas);
    charged = charged.saturating_add(registry_gas);
    if call.gas_limit < charged {
        return Ok(PrecompileOutput::halt(PrecompileHalt::OutOfGas, reservoir));
    }
    let (info, model_rule) = match dnn.cached_info(model) {
        Some(info) => (info, registry::read_rule(ctx, model, located)?),
        None => match registry::read_registration(ctx, model, located)? {
            Ok(registration) => (dnn.cache_info(model, registration.info), registration.rule),
            Err(e) => revert!(e),
        },
    };
    let rule = rule.unwrap_or(model_rule);

    // Shapes first (cheap, and they bind the symbolic dimensions that scale the cost).
    if inputs.len() != info.inputs.len() {
        revert!(DnnError::WrongInputCount { expected: info.inputs.len(), got: inputs.len() });
    }
    let mut shapes = Vec::with_capacity(inputs.len());
    for (i, tensor) in inputs.iter().enumerate() {
        match check_tensor(i, tensor, dnn.limits().max_tensor_elements) {
            Ok(dtype) => shapes.push((tensor.shape.as_slice(), dtype)),
            Err(e) => revert!(e),
        }
    }
    let multiplier = match bind_shapes(&info.inputs, &shapes) {
        Ok(m) => m,
        Err(e) => revert!(e),
    };
    let input_bytes: u64 = inputs.iter().map(|t| t.data.len() as u64).sum();
    let Some(total) = gas.infer(registry_gas, input_bytes, info.macs, multiplier) else {
        return Ok(PrecompileOutput::halt(PrecompileHalt::OutOfGas, reservoir));
    };
    if call.gas_limit < total {
        return Ok(PrecompileOutput::halt(PrecompileHalt::OutOfGas, reservoir));
    }
    charged = total;

    let mut host = Vec::with_capacity(inputs.len());
    for (i, (tensor, spec)) in inputs.iter().zip(&info.inputs).enumerate() {
        match dtype::decode(tensor, spec.elem, dnn.limits().max_tensor_elements) {
            Ok(t) => host.push(t),
            Err(e) => revert!(input_error(i, e)),
        }
    }
    let context = CallContext {
        chain_id: ctx.cfg().chain_id(),
        block_number: u64::try_from(ctx.block().number()).unwrap_or(u64::MAX),
    };
    let request = InferRequest { model, info: &info, inputs: host, context, rule };
    let outputs = match dnn.oracle().infer(request) {
        Ok(outputs) => outputs,
        Err(e) => revert!(DnnError::from(e)),
    };
    if let Err(e) = check_outputs(&info, &outputs) {
        revert!(e);
    }
    let mut encoded: Vec<Tensor> = Vec::with_capacity(outputs.len());
    for (i, output) in outputs.iter().enumerate() {
        match dtype::encode(output, output_dtype) {
            Ok(t) => encoded.push(t),
            Err(TensorError::Conversion { element, reason }) => {
                revert!(DnnError::ConversionFailed { tensor: i, element, reason })
            }
            Err(e) => revert!(DnnError::InferenceFailed(format!("output {i}: {e:?}"))),
        }
    }
    let bytes = match function {
        Function::Infer => IInfer::inferCall::abi_encode_returns(&encoded),
        Function::InferAs => IInfer::inferAsCall::abi_encode_returns(&encoded),
        Function::InferWith => IInfer::inferWithCall::abi_encode_returns(&encoded),
    };
    Ok(PrecompileOutput::new(charged, bytes.into(), reservoir))
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
fn check_outputs(info: &ModelInfo, outputs: &[crate::HostTensor]) -> Result<(), DnnError> {
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
    }
    Ok(())
}
