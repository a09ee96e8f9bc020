"""Block-level attestations offline: the leaf, root and digest layouts against the Rust
known-answer vectors (primitives/tests/vectors.rs, ``block_attestation_layouts``), inclusion
proofs of every tree size, and records checked on their own — sealed and per-job signed —
with every kind of tampering refused."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from eth_keys import keys
from eth_utils.crypto import keccak
from hexbytes import HexBytes

import anh
from anh import seal
from anh.seal import _HALF_ORDER  # noqa: PLC2701 - the tests build high-s signatures

CHAIN = 31337
JOB = "0xcecbbc195664d8ea7828d550de2f3ed4a90e171486c3c77e5f16ddd66d69d4e0"
EXACT = {"kind": "exact", "absTolerance": 0, "relTolerance": 0}
LEAF = HexBytes("0xbe1f38713da3303b099877aa5736ca08aa9b1561132fe2b5157518d6b84a8771")
ROOT = HexBytes("0x1dba2dfd32339c715d41ac9ea2a613787a2c2e1a9155618b0f00c18794f5fc18")
DIGEST = HexBytes("0x56f4fe39bb75b78c496536f6c429246c6ea60f8e388ee71dbf8e3dd64e2efd2d")
PARENT = HexBytes(b"\xaa" * 32)

KEYS = [keys.PrivateKey(bytes([i]) * 32) for i in (1, 2, 3)]
STRANGER = keys.PrivateKey(b"\x09" * 32)
COMMITTEE = {"members": [k.public_key.to_checksum_address() for k in KEYS], "threshold": 2}


def sign(key: keys.PrivateKey, digest: bytes) -> str:
    """A 65-byte r ‖ s ‖ v (v 27/28) signature, low-s, as members sign."""
    sig = key.sign_msg_hash(bytes(digest))
    r, s, v = sig.r, sig.s, sig.v
    if s > _HALF_ORDER:
        s, v = 2 * _HALF_ORDER + 1 - s, 1 - v  # n - s, the other parity
    return "0x" + (r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([27 + v])).hex()


def record_json(output: bytes = b"out", **changes: Any) -> dict[str, Any]:
    """The known-answer record, as anh_getAttestations shows it (no ``sealed``)."""
    return {"job": JOB, "kind": "infer", "model": "0x" + "11" * 32, "rule": EXACT,
            "output": "0x" + output.hex(), "signatures": [], "settled": True, "failure": None,
            **changes}


def sealed_block(records: list[dict[str, Any]], signers: list[keys.PrivateKey], number: int = 7,
                 parent: bytes = PARENT, chain: int = CHAIN) -> list[anh.Attestation]:
    """``records`` sealed as block ``number``, as the node serves them."""
    plain = [anh.Attestation.from_json(r) for r in records]
    leaves = [a.leaf() for a in plain]
    root = seal.merkle_root(leaves)
    digest = seal.block_digest(chain, number, parent, len(leaves), root)
    signatures = [sign(k, digest) for k in signers]
    return [anh.Attestation.from_json({**r, "sealed": {
        "blockNumber": number, "parentHash": "0x" + bytes(parent).hex(), "index": i,
        "count": len(leaves), "leaf": leaves[i].to_0x_hex(), "root": root.to_0x_hex(),
        "proof": [p.to_0x_hex() for p in seal.inclusion_proof(leaves, i)],
        "digest": digest.to_0x_hex(), "signatures": signatures}})
        for i, r in enumerate(records)]


def three_records() -> list[dict[str, Any]]:
    return [record_json(),
            record_json(b"two", job="0x" + "22" * 32),
            record_json(b"", job="0x" + "33" * 32, kind="train", settled=False,
                        failure="Gemm: bad shapes")]


def test_known_answers_match_the_rust_vectors():
    record = anh.Attestation.from_json(record_json())
    assert record.sealed is None and record.leaf() == LEAF
    assert seal.record_leaf(JOB, 1, b"\x11" * 32, anh.Rule.exact().hash(), b"out") == LEAF
    leaves = [LEAF, keccak(b"b"), keccak(b"c")]
    assert seal.merkle_root(leaves) == ROOT
    assert seal.block_digest(CHAIN, 7, PARENT, 3, ROOT) == DIGEST
    # The leaf's proof: the sibling leaf below, the right subtree on top.
    proof = seal.inclusion_proof(leaves, 0)
    assert proof == [HexBytes(leaves[1]), HexBytes(keccak(b"c"))]
    assert seal.verify_inclusion(LEAF, 0, 3, proof, ROOT)


def test_sealed_parses_into_a_dataclass():
    [record] = sealed_block([record_json()], KEYS[:2])
    s = record.sealed
    assert isinstance(s, anh.Sealed)
    assert (s.block_number, s.parent_hash, s.index, s.count) == (7, PARENT, 0, 1)
    assert s.leaf == s.root == LEAF and s.proof == () and len(s.signatures) == 2
    assert s.digest == seal.block_digest(CHAIN, 7, PARENT, 1, LEAF) == s.block_digest(CHAIN)
    assert record.digest(CHAIN) == s.digest != record.job_digest(CHAIN)


@pytest.mark.parametrize("n", range(1, 10))
def test_every_leaf_proves_its_place_and_no_other(n):
    leaves = [keccak(bytes([i])) for i in range(n)]
    root = seal.merkle_root(leaves)
    for i, leaf in enumerate(leaves):
        proof = seal.inclusion_proof(leaves, i)
        assert seal.verify_inclusion(leaf, i, n, proof, root)
        if n > 1:
            assert not seal.verify_inclusion(leaf, (i + 1) % n, n, proof, root)
            assert not seal.verify_inclusion(leaf, i, n, proof[:-1], root)
        assert not seal.verify_inclusion(keccak(b"other"), i, n, proof, root)
        assert not seal.verify_inclusion(leaf, i, n, [*proof, root], root)
        assert not seal.verify_inclusion(leaf, n, n, proof, root)
    with pytest.raises(IndexError):
        seal.inclusion_proof(leaves, n)
    assert seal.merkle_root([]) == HexBytes(bytes(32))
    # A leaf never passes for an inner node.
    a, b = keccak(b"a"), keccak(b"b")
    assert seal.merkle_root([a, b]) != keccak(a + b)


def test_a_sealed_record_verifies_on_its_own():
    block = sealed_block(three_records(), [KEYS[0], KEYS[2]])
    expected = [COMMITTEE["members"][0], COMMITTEE["members"][2]]
    for record in block:
        assert record.signatures == () and record.sealed is not None
        assert record.signers(CHAIN) == expected
        assert record.verify(CHAIN, COMMITTEE) == expected
        assert record.verify(CHAIN, COMMITTEE, {"number": 7, "parentHash": PARENT}) == expected
    assert block[2].failure == "Gemm: bad shapes" and block[2].leaf() == block[2].sealed.leaf


def fails(record: anh.Attestation, match: str, committee: dict[str, Any] = COMMITTEE,
          chain: int = CHAIN, **kwargs: Any) -> None:
    with pytest.raises(anh.AttestationError, match=match) as info:
        record.verify(chain, committee, **kwargs)
    assert info.value.job == record.job


def test_a_changed_output_fails():
    record = sealed_block(three_records(), KEYS[:2])[1]
    forged = dataclasses.replace(record, output=HexBytes(b"forged"))
    fails(forged, r"the record's leaf 0x[0-9a-f]{64} is not the signed leaf .* \(the record was changed\)")
    with pytest.raises(anh.AttestationError, match="is not the signed leaf"):
        forged.signers(CHAIN)
    # Also with the node's leaf rewritten to match: the proof no longer reaches the root.
    both = dataclasses.replace(forged, sealed=dataclasses.replace(record.sealed, leaf=forged.leaf()))
    fails(both, "the proof does not lead from leaf 1 of 3 to root")
    # A changed failure text, rule or model, likewise.
    failed = sealed_block(three_records(), KEYS[:2])[2]
    fails(dataclasses.replace(failed, failure="other"), "is not the signed leaf")
    fails(dataclasses.replace(record, rule=anh.Rule.argmax()), "is not the signed leaf")
    fails(dataclasses.replace(record, model=HexBytes(b"\x12" * 32)), "is not the signed leaf")


def test_a_wrong_index_fails():
    record = sealed_block(three_records(), KEYS[:2])[0]
    for index in (1, 2, 3):
        moved = dataclasses.replace(record, sealed=dataclasses.replace(record.sealed, index=index))
        fails(moved, f"the proof does not lead from leaf {index} of 3")
    # The proof of leaf 0 of 3 also leads to the root as leaf 0 of 4 (the right subtree is one
    # hash either way): that is why the count is signed. The digest gives it away, and with the
    # node's digest rewritten too, the signatures do.
    wrong_count = dataclasses.replace(record, sealed=dataclasses.replace(record.sealed, count=4))
    assert wrong_count.sealed.includes(record.leaf())
    fails(wrong_count, "the block digest recomputed for chain 31337 is .*, the node says")
    wrong_count = dataclasses.replace(wrong_count, sealed=dataclasses.replace(
        wrong_count.sealed, digest=wrong_count.sealed.block_digest(CHAIN)))
    fails(wrong_count, "signature 0 recovers to .* not in the committee")


def test_a_proof_of_another_leaf_fails():
    block = sealed_block(three_records(), KEYS[:2])
    borrowed = dataclasses.replace(block[0], sealed=block[1].sealed)  # leaf, index, proof of #1
    fails(borrowed, "is not the signed leaf")
    only_proof = dataclasses.replace(block[0], sealed=dataclasses.replace(
        block[0].sealed, proof=block[1].sealed.proof))
    fails(only_proof, "the proof does not lead from leaf 0 of 3")
    # A record of another block, with that block's whole seal: not the signed leaf here either.
    other = sealed_block([record_json(b"else")], KEYS[:2])[0]
    fails(dataclasses.replace(block[0], sealed=other.sealed), "is not the signed leaf")


def test_signatures_are_checked_against_the_committee():
    records = three_records()
    record = sealed_block(records, KEYS[:2])[0]
    fails(sealed_block(records, KEYS[:1])[0], r"1 signature\(s\), the committee needs 2")
    fails(sealed_block(records, [KEYS[0], KEYS[0]])[0], "signed more than once")
    fails(sealed_block(records, [KEYS[0], STRANGER])[0], "signature 1 recovers to 0x.*not in the committee")
    # A root signed for another block, parent or chain recovers to strangers.
    for kwargs in ({"number": 8}, {"parent": b"\xbb" * 32}, {"chain": 1}):
        resigned = sealed_block(records, KEYS[:2], **kwargs)[0]
        claimed = dataclasses.replace(record, sealed=dataclasses.replace(
            resigned.sealed, block_number=7, parent_hash=PARENT, digest=record.sealed.digest))
        fails(claimed, "signature 0 recovers to .* not in the committee")
    # The wrong chain id: the node's digest is not the one recomputed.
    fails(record, "the block digest recomputed for chain 1 is 0x[0-9a-f]{64}, the node says", chain=1)
    # The block it claims to be in.
    fails(record, "sealed for block 7 .*, not block 8", block={"number": 8, "parentHash": PARENT})
    fails(record, "not block 7", block={"number": 7, "parentHash": b"\xbb" * 32})
    # Malformed signatures, refused as the node refuses them.
    sig = bytes(record.sealed.signatures[0])
    r, s = sig[:32], int.from_bytes(sig[32:64], "big")
    high_s = r + (2 * _HALF_ORDER + 1 - s).to_bytes(32, "big") + bytes([55 - sig[64]])
    for bad, reason in [(sig[:64], "a signature has 64 bytes, not 65"), (high_s, "high-s signature"),
                        (sig[:64] + b"\x05", "recovery id 5")]:
        tampered = dataclasses.replace(record, sealed=dataclasses.replace(
            record.sealed, signatures=(HexBytes(bad), *record.sealed.signatures[1:])))
        fails(tampered, f"signature 0: {reason}")
    # A record's own consistency.
    fails(dataclasses.replace(record, signatures=(HexBytes(sig),)), "signatures of its own")
    fails(dataclasses.replace(record, rule=anh.Rule.default()), "not a concrete rule")
    fails(record, "threshold is 0", committee={**COMMITTEE, "threshold": 0})
    failed = sealed_block(records, KEYS[:2])[2]
    fails(dataclasses.replace(failed, output=HexBytes(b"x")), "a failed job's record carries an output")
    no_quorum = sealed_block([record_json(b"", settled=False, failure="no quorum: 1 executor signature(s)")],
                             KEYS[:2])[0]
    fails(no_quorum, "nobody can prove one")


def test_per_job_signed_records_keep_working():
    """``sealed: null``: the record's own signatures over its own digest (the old form)."""
    plain = anh.Attestation.from_json(record_json())
    digest = plain.job_digest(CHAIN)
    assert digest == plain.digest(CHAIN)
    assert digest == HexBytes("0x1749562f65a47dcb895d68f3b0472f44fd39b55c61846744ac0fe59bf027e0b9")
    record = anh.Attestation.from_json({**record_json(), "sealed": None,
                                        "signatures": [sign(k, digest) for k in KEYS[1:]]})
    assert record.sealed is None
    assert record.signers(CHAIN) == COMMITTEE["members"][1:]
    assert record.verify(CHAIN, COMMITTEE, {"number": 5, "parentHash": PARENT}) == COMMITTEE["members"][1:]
    fails(dataclasses.replace(record, output=HexBytes(b"forged")), "recovers to .* not in the committee")
    fails(dataclasses.replace(record, signatures=record.signatures[:1]), r"1 signature\(s\)")
    fails(record, "not in the committee", chain=1)
