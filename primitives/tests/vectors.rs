//! Known-answer vectors for the settlement's byte layouts (docs/design.md, "The digest members
//! sign"): the rule hash, job ids, result and failure digests, the committee hash and a
//! member's signature, and the block-level attestation's leaf, root and digest. The expected
//! values were computed outside this code base — by a Keccak-256 written from the
//! specification (and, for the block-level layouts, Python's `eth_hash`) and python-ecdsa's
//! RFC 6979 signing — from the documented layouts, so a change to a layout (a field's width, order or domain) fails here
//! even where signing and verifying would still agree with each other.

use alloy_primitives::{Address, B256, Bytes, address, b256, hex, keccak256};
use anh_primitives::{
    Committee, JobKind, JobRecord, Rule,
    job::{digest, failure_digest, job_id},
    seal,
    signature::{address_of, recover, sign},
};

const CHAIN_ID: u64 = 31337;

/// `keccak256(abi.encode(uint8 kind, uint64 abs, uint64 rel))`.
#[test]
fn rule_hashes() {
    assert_eq!(
        Rule::EXACT.hash(),
        b256!("0x255ace0592d6d0057743ec81f2494d71fe5466986a2fd6f28c632dc1ef83d48b")
    );
    assert_eq!(
        Rule::tolerance(1000, 5).hash(),
        b256!("0xeed026e9374fd0a3d505efa8f91e9d036d0617cf14e8b1997798ac90d1d35e8b")
    );
}

/// `job = keccak256(abi.encode(kind, model, keccak256(payload), ruleHash))`.
#[test]
fn job_ids() {
    let model = B256::repeat_byte(0x11);
    assert_eq!(
        job_id(JobKind::Infer, model, &[1, 2, 3], &Rule::EXACT),
        b256!("0xcecbbc195664d8ea7828d550de2f3ed4a90e171486c3c77e5f16ddd66d69d4e0")
    );
    assert_eq!(
        job_id(JobKind::Register, model, &[], &Rule::tolerance(1000, 5)),
        b256!("0x463daa950ca8d0c8c2e096877df1ae8f37577228c2bde7c4604097169bef4ccc")
    );
}

/// `keccak256("\x19ANH-ATTEST-v1" ‖ chainId ‖ job ‖ keccak256(output) ‖ ruleHash)`, and the
/// failure digest with `"\x19ANH-FAIL-v1"`.
#[test]
fn digests() {
    let job = job_id(JobKind::Infer, B256::repeat_byte(0x11), &[1, 2, 3], &Rule::EXACT);
    assert_eq!(
        digest(CHAIN_ID, job, b"out", &Rule::EXACT),
        b256!("0x1749562f65a47dcb895d68f3b0472f44fd39b55c61846744ac0fe59bf027e0b9")
    );
    assert_eq!(
        failure_digest(CHAIN_ID, job, b"fail", &Rule::EXACT),
        b256!("0x79175cf327e279104fd11323dc56fc8f06c5bf5fc93b794cee35b73c1235488f")
    );
}

/// `keccak256(member₁ ‖ … ‖ memberₙ ‖ uint256 threshold ‖ defaultRuleHash)`.
#[test]
fn committee_hash() {
    let committee = Committee {
        members: vec![Address::repeat_byte(0xc0), Address::repeat_byte(0xc1)],
        threshold: 2,
        default_rule: Rule::EXACT,
    };
    assert_eq!(
        committee.hash(),
        b256!("0x060ed1896e86be2cc3316ed69aee2fc18af0a8f4a6aaa016579f60557f5ab1e8")
    );
}

/// A member signs `r ‖ s ‖ v` (low s, `v` 27 or 28) with RFC 6979's deterministic nonce; the
/// key 1's address is the well-known `0x7E5F…5Bdf`.
#[test]
fn member_signature() {
    let mut secret = [0u8; 32];
    secret[31] = 1;
    let key = k256::ecdsa::SigningKey::from_slice(&secret).unwrap();
    assert_eq!(address_of(&key), address!("0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"));
    let job = job_id(JobKind::Infer, B256::repeat_byte(0x11), &[1, 2, 3], &Rule::EXACT);
    let digest = digest(CHAIN_ID, job, b"out", &Rule::EXACT);
    let signature = sign(&key, &digest).unwrap();
    assert_eq!(
        signature,
        hex!(
            "3a8c54d4134651b9e5f210012d91947646dd9b96370431308b4b108560e330e5"
            "43793d02c0417c48aaaa829deb06d2de5562d1b703f8a638143b61fa2b1681eb1b"
        )
    );
    assert_eq!(recover(&digest, &signature).unwrap(), address_of(&key));
}

/// A block-level attestation's layouts (`seal.rs`): a record's leaf `keccak256(0x00 ‖
/// abi.encode(job, kind, model, ruleHash, keccak256(output), keccak256(failure)))`, the
/// RFC 6962 root with inner nodes `keccak256(0x01 ‖ left ‖ right)`, and the block digest
/// `keccak256("\x19ANH-BLOCK-v1" ‖ chainId ‖ number ‖ parentHash ‖ count ‖ root)`.
#[test]
fn block_attestation_layouts() {
    let job = job_id(JobKind::Infer, B256::repeat_byte(0x11), &[1, 2, 3], &Rule::EXACT);
    let record = JobRecord {
        job,
        kind: JobKind::Infer as u8,
        model: B256::repeat_byte(0x11),
        rule: Rule::EXACT,
        output: Bytes::from_static(b"out"),
        signatures: Vec::new(),
        failure: Bytes::new(),
    };
    let first = seal::leaf(&record);
    assert_eq!(first, b256!("0xbe1f38713da3303b099877aa5736ca08aa9b1561132fe2b5157518d6b84a8771"));
    let leaves = [first, keccak256(b"b"), keccak256(b"c")];
    let root = seal::root(&leaves);
    assert_eq!(root, b256!("0x1dba2dfd32339c715d41ac9ea2a613787a2c2e1a9155618b0f00c18794f5fc18"));
    assert_eq!(
        seal::block_digest(CHAIN_ID, 7, B256::repeat_byte(0xaa), 3, root),
        b256!("0x56f4fe39bb75b78c496536f6c429246c6ea60f8e388ee71dbf8e3dd64e2efd2d")
    );
}
