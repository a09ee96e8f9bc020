"""Block-level attestations: the layouts the executor committee signs once per block
(``primitives/src/seal.rs`` is the reference; ``docs/design.md``, "The block-level form").

- A record's **leaf** is ``keccak256(0x00 ‖ job ‖ uint256 kind ‖ model ‖ ruleHash ‖
  keccak256(output) ‖ keccak256(failure))``, each field a 32-byte word, ``kind`` the job's
  code (infer 1, register 2, train 3), ``failure`` the failure text's UTF-8 bytes (empty when
  the job settled; ``output`` is empty when it failed).
- The **root** of a block's leaves, in block order, is the Merkle tree hash of RFC 6962 with
  keccak256: one leaf is its own root; ``n > 1`` leaves split at the largest power of two
  below ``n``, and an inner node is ``keccak256(0x01 ‖ left ‖ right)``. No leaves: the zero
  hash.
- Members sign ``keccak256("\\x19ANH-BLOCK-v1" ‖ uint256 chainId ‖ uint256 number ‖ parentHash ‖
  uint256 count ‖ root)`` with 65-byte ``r ‖ s ‖ v`` signatures (low-s, ``v`` 27 or 28; no
  EIP-191 prefix).

An inclusion proof is the sibling path from a leaf to the root, bottom up (the last element is
the sibling at the top split); :func:`verify_inclusion` checks one record against a signed root
without the block's other records. :meth:`anh.Attestation.verify` does all of it for a record
of ``anh_getAttestations``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_keys.datatypes import Signature
from eth_utils.crypto import keccak
from hexbytes import HexBytes

__all__ = [
    "BLOCK_DOMAIN",
    "JOB_KINDS",
    "block_digest",
    "inclusion_proof",
    "merkle_root",
    "record_leaf",
    "recover_signer",
    "verify_inclusion",
]

#: The domain-separation prefix of block digests.
BLOCK_DOMAIN = b"\x19ANH-BLOCK-v1"

#: A job kind's name (as ``anh_getAttestations`` gives it) and its code in the leaf.
JOB_KINDS = {"infer": 1, "register": 2, "train": 3}

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
#: secp256k1's order, halved: a signature's ``s`` must not exceed it (low-s).
_HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0


def _word32(value: Any, what: str) -> bytes:
    data = bytes(HexBytes(value))
    if len(data) != 32:
        raise ValueError(f"{what} is 32 bytes, not {len(data)}")
    return data


def _uint256(value: int) -> bytes:
    return int(value).to_bytes(32, "big")


def record_leaf(job: Any, kind: int | str, model: Any, rule_hash: Any, output: bytes,
                failure: bytes | str = b"") -> HexBytes:
    """The leaf of a job record: ``job`` and ``model`` 32-byte ids (bytes or hex), ``kind`` the
    job's code or name ("infer" 1, "register" 2, "train" 3), ``rule_hash`` the settled rule's
    hash (:meth:`anh.Rule.hash`), ``output`` the settled output and ``failure`` the failure
    (text or bytes; empty for a settled job)."""
    code = JOB_KINDS[kind] if isinstance(kind, str) else int(kind)
    fail = failure.encode() if isinstance(failure, str) else bytes(failure)
    preimage = (_LEAF_PREFIX + _word32(job, "a job id") + _uint256(code)
                + _word32(model, "a model hash") + _word32(rule_hash, "a rule hash")
                + keccak(bytes(output)) + keccak(fail))
    return HexBytes(keccak(preimage))


def _node(left: bytes, right: bytes) -> bytes:
    return keccak(_NODE_PREFIX + left + right)


def _split(n: int) -> int:
    """The largest power of two below ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def merkle_root(leaves: Sequence[Any]) -> HexBytes:
    """The root of ``leaves`` (32-byte hashes, in block order); the zero hash for none."""
    hashes = [_word32(leaf, "a leaf") for leaf in leaves]

    def root(part: list[bytes]) -> bytes:
        if len(part) == 1:
            return part[0]
        k = _split(len(part))
        return _node(root(part[:k]), root(part[k:]))

    return HexBytes(root(hashes) if hashes else bytes(32))


def inclusion_proof(leaves: Sequence[Any], index: int) -> list[HexBytes]:
    """The sibling hashes that lead from leaf ``index`` of ``leaves`` to their root, bottom
    up. Raises IndexError when ``index`` is out of range."""
    part = [_word32(leaf, "a leaf") for leaf in leaves]
    if not 0 <= index < len(part):
        raise IndexError(f"leaf {index} of {len(part)}")
    proof: list[HexBytes] = []
    at = index
    while len(part) > 1:
        k = _split(len(part))
        if at < k:
            proof.append(merkle_root(part[k:]))
            part = part[:k]
        else:
            proof.append(merkle_root(part[:k]))
            part, at = part[k:], at - k
    proof.reverse()
    return proof


def verify_inclusion(leaf: Any, index: int, count: int, proof: Sequence[Any], root: Any) -> bool:
    """Whether ``leaf``, at ``index`` of a block's ``count`` leaves, is in the tree of
    ``root`` by ``proof`` (:func:`inclusion_proof`). The index is part of the check: a proof of
    one place does not prove another. Take ``count`` and ``root`` from what the committee
    signed (:func:`block_digest` commits to both)."""
    try:
        path = [_word32(p, "a proof element") for p in proof]
        start, want = _word32(leaf, "a leaf"), _word32(root, "a root")
    except ValueError:
        return False

    def walk(node: bytes, index: int, count: int, path: list[bytes]) -> bytes | None:
        if count == 1:
            return node if not path else None
        if not path:
            return None
        sibling, rest = path[-1], path[:-1]
        k = _split(count)
        if index < k:
            below = walk(node, index, k, rest)
            return None if below is None else _node(below, sibling)
        below = walk(node, index - k, count - k, rest)
        return None if below is None else _node(sibling, below)

    return 0 <= index < count and walk(start, index, count, path) == want


def block_digest(chain_id: int, number: int, parent_hash: Any, count: int, root: Any) -> HexBytes:
    """What members sign for block ``number`` (child of ``parent_hash``) on chain
    ``chain_id``, whose ``count`` records have root ``root``."""
    preimage = (BLOCK_DOMAIN + _uint256(chain_id) + _uint256(number)
                + _word32(parent_hash, "a parent hash") + _uint256(count) + _word32(root, "a root"))
    return HexBytes(keccak(preimage))


def recover_signer(digest: Any, signature: Any) -> str:
    """The checksummed address that signed the 32-byte ``digest`` (no prefix) with the 65-byte
    ``r ‖ s ‖ v`` ``signature``. Raises ValueError, as the node refuses them, for a signature
    that is not 65 bytes, is high-s, has a recovery id other than 27, 28, 0 or 1, or does not
    recover."""
    sig = bytes(HexBytes(signature))
    if len(sig) != 65:
        raise ValueError(f"a signature has {len(sig)} bytes, not 65")
    r, s, v = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"), sig[64]
    if s > _HALF_ORDER:
        raise ValueError("high-s signature")
    if v not in (27, 28, 0, 1):
        raise ValueError(f"recovery id {v}")
    try:
        key = Signature(vrs=(v - 27 if v >= 27 else v, r, s)).recover_public_key_from_msg_hash(
            _word32(digest, "a digest"))
    except Exception as e:  # noqa: BLE001 - eth_keys raises several kinds for a bad signature
        raise ValueError(f"the signature does not recover ({e})") from e
    return key.to_checksum_address()
