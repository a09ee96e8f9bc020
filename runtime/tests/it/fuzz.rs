//! Property test: `analyze` never panics (nor overflows its stack) on mutated fixtures or
//! random bytes, and whatever it accepts is self-consistent.
//!
//! Cases per property: `ANH_FUZZ_CASES` (default 2000), e.g.
//! `ANH_FUZZ_CASES=100000 cargo test -p anh-runtime fuzz` for 10^5.

use crate::common::fixture;
use alloy_primitives::keccak256;
use anh_runtime::{Limits, analyze};
use proptest::prelude::*;
use std::sync::LazyLock;

const SEEDS: [&str; 14] = [
    "mlp.onnx",
    "cnn.onnx",
    "int64.onnx",
    "multi_io.onnx",
    "dtypes.onnx",
    "external_data.onnx",
    "external_data_constant.onnx",
    "external_data_subgraph.onnx",
    "custom_domain.onnx",
    "local_function.onnx",
    "overflow_shape.onnx",
    "float16_input.onnx",
    "not_onnx.bin",
    "nested_bomb.onnx",
];

static SEED_BYTES: LazyLock<Vec<Vec<u8>>> =
    LazyLock::new(|| SEEDS.iter().map(|s| fixture(s)).collect());

fn cases() -> u32 {
    std::env::var("ANH_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000)
}

/// One edit of a byte string.
#[derive(Debug, Clone)]
enum Mutation {
    /// Overwrite the byte at (position mod len).
    Set(usize, u8),
    /// Flip one bit.
    Flip(usize, u8),
    /// Insert bytes.
    Insert(usize, Vec<u8>),
    /// Remove up to n bytes.
    Remove(usize, usize),
    /// Cut the tail.
    Truncate(usize),
    /// Copy a slice of the file to another place (duplicates fields and messages).
    Splice(usize, usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Mutation::Set(p, b)),
        (any::<usize>(), 0u8..8).prop_map(|(p, b)| Mutation::Flip(p, b)),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..12))
            .prop_map(|(p, v)| Mutation::Insert(p, v)),
        (any::<usize>(), 1usize..16).prop_map(|(p, n)| Mutation::Remove(p, n)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<usize>(), 1usize..64)
            .prop_map(|(f, t, n)| Mutation::Splice(f, t, n)),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len();
    let at = |p: usize| if len == 0 { 0 } else { p % len };
    match m {
        Mutation::Set(p, b) if len > 0 => bytes[at(*p)] = *b,
        Mutation::Flip(p, bit) if len > 0 => bytes[at(*p)] ^= 1 << bit,
        Mutation::Insert(p, v) => {
            let p = if len == 0 { 0 } else { p % (len + 1) };
            bytes.splice(p..p, v.iter().copied());
        }
        Mutation::Remove(p, n) if len > 0 => {
            let p = at(*p);
            bytes.drain(p..(p + n).min(len));
        }
        Mutation::Truncate(p) => bytes.truncate(if len == 0 { 0 } else { p % len }),
        Mutation::Splice(from, to, n) if len > 0 => {
            let from = at(*from);
            let piece = bytes[from..(from + n).min(len)].to_vec();
            let to = to % (len + 1);
            bytes.splice(to..to, piece);
        }
        _ => {}
    }
}

/// What holds for any accepted model.
fn check_accepted(bytes: &[u8]) {
    if let Ok(info) = analyze(bytes, &Limits::default()) {
        assert_eq!(info.hash, keccak256(bytes));
        assert_eq!(info.size, bytes.len() as u64);
        assert!(!info.outputs.is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    /// Mutated fixtures never make `analyze` panic.
    #[test]
    fn fuzz_analyze_mutated_fixtures(
        seed in 0..SEEDS.len(),
        mutations in proptest::collection::vec(mutation(), 1..8),
    ) {
        let mut bytes = SEED_BYTES[seed].clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        check_accepted(&bytes);
    }

    /// Random bytes never make `analyze` panic.
    #[test]
    fn fuzz_analyze_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        check_accepted(&bytes);
    }

    /// Random bytes behind a valid model header (ir_version, then a graph of random content)
    /// reach deeper into the decoder and never make it panic.
    #[test]
    fn fuzz_analyze_random_graphs(graph in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut bytes = vec![0x08, 0x08, 7 << 3 | 2];
        let mut len = graph.len();
        while len >= 0x80 {
            bytes.push((len as u8) | 0x80);
            len >>= 7;
        }
        bytes.push(len as u8);
        bytes.extend_from_slice(&graph);
        check_accepted(&bytes);
    }
}
