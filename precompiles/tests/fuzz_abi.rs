//! Fuzzes the tensor ABI decoder on whole `infer` calldata: random bytes and mutations of
//! valid calls go through `abi_decode` and, when that succeeds, tensor decoding into every
//! element type. Nothing may panic, and decoding allocates only within the element limit.
//!
//! `ANH_FUZZ_CASES` sets the cases per property (default 2 000); the README's command runs
//! 10^5: `ANH_FUZZ_CASES=100000 cargo test --release -p anh-precompiles --test fuzz_abi`.

use alloy_primitives::B256;
use alloy_sol_types::{SolCall, SolInterface};
use anh_precompiles::{
    ElemType,
    abi::{IInfer, Tensor},
    dtype,
};
use proptest::prelude::*;

const LIMIT: u64 = 1 << 16;
const TARGETS: [ElemType; 7] = [
    ElemType::F32,
    ElemType::F64,
    ElemType::I32,
    ElemType::I64,
    ElemType::U8,
    ElemType::I8,
    ElemType::Bool,
];

fn cases() -> u32 {
    std::env::var("ANH_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000)
}

fn decode_all(calldata: &[u8]) {
    if let Ok(call) = IInfer::IInferCalls::abi_decode(calldata) {
        let inputs = match call {
            IInfer::IInferCalls::infer(c) => c.inputs,
            IInfer::IInferCalls::inferAs(c) => c.inputs,
            IInfer::IInferCalls::inferWith(c) => c.inputs,
        };
        for tensor in &inputs {
            for target in TARGETS {
                if let Ok(host) = dtype::decode(tensor, target, LIMIT) {
                    assert!(host.len() as u64 <= LIMIT);
                    let _ = dtype::encode(&host, dtype::Dtype::from_code(tensor.dtype));
                }
            }
        }
    }
}

fn valid_call(dtype: u8, shape: Vec<u64>, data: Vec<u8>) -> Vec<u8> {
    let tensor = Tensor { dtype, shape, data: data.into() };
    IInfer::inferCall { model: B256::repeat_byte(7), inputs: vec![tensor.clone(), tensor] }
        .abi_encode()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// Arbitrary bytes after a valid selector never panic the decoder.
    #[test]
    fn random_calldata(body in prop::collection::vec(any::<u8>(), 0..512), as_variant: bool) {
        let mut calldata = if as_variant {
            IInfer::inferAsCall::SELECTOR.to_vec()
        } else {
            IInfer::inferCall::SELECTOR.to_vec()
        };
        calldata.extend(body);
        decode_all(&calldata);
    }

    /// Valid calls with bytes overwritten, cut or extended never panic the decoder.
    #[test]
    fn mutated_calldata(
        dtype in prop_oneof![1u8..=7, 0x40u8..=0x52, any::<u8>()],
        shape in prop::collection::vec(0u64..6, 0..4),
        data in prop::collection::vec(any::<u8>(), 0..96),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
        truncate: bool,
    ) {
        let mut calldata = valid_call(dtype, shape, data);
        for (at, byte) in edits {
            let i = at.index(calldata.len());
            calldata[i] = byte;
        }
        if truncate {
            calldata.truncate(cut.index(calldata.len() + 1));
        }
        decode_all(&calldata);
    }
}
