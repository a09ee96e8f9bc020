"""The precompiles' structs (``IDnn.sol``) and the node's records, as typed dataclasses."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import IntEnum
from itertools import product
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes

from .errors import AttestationError
from .seal import JOB_KINDS, block_digest, record_leaf, recover_signer, verify_inclusion
from .tensor import Tensor, decode_tensors

__all__ = [
    "Attestation",
    "Cost",
    "InferReceipt",
    "Loss",
    "ModelInfo",
    "Optimizer",
    "Rule",
    "RuleKind",
    "Sealed",
    "TensorSpec",
    "TrainParams",
    "TrainResult",
    "Trained",
]

#: ABI types of the structs.
RULE_ABI = "(uint8,uint64,uint64)"
TRAIN_PARAMS_ABI = "(uint32,uint64,uint8,uint8)"
TENSOR_SPEC_ABI = "(string,uint8,int64[],string[])"
COST_ABI = "(uint8[],int128[])"
MODEL_INFO_ABI = (
    f"(bytes32,string,address,uint64,bytes32,uint64,{COST_ABI},uint64,{TENSOR_SPEC_ABI}[],"
    f"{TENSOR_SPEC_ABI}[],{RULE_ABI})"
)

ATTEST_DOMAIN = b"\x19ANH-ATTEST-v1"
FAILURE_DOMAIN = b"\x19ANH-FAIL-v1"
#: How a no-quorum failure starts: a failure nobody can sign, which a block never carries.
NO_QUORUM = "no quorum: "


class RuleKind(IntEnum):
    """How the executor committee agrees on a result (``Rule.kind``)."""

    DEFAULT = 0
    EXACT = 1
    TOLERANCE = 2
    ARGMAX = 3
    TRAIN_LOSS = 4
    RECOMPUTE = 5


_RULE_NAMES = {
    "default": RuleKind.DEFAULT,
    "exact": RuleKind.EXACT,
    "tolerance": RuleKind.TOLERANCE,
    "argmax": RuleKind.ARGMAX,
    "train-loss": RuleKind.TRAIN_LOSS,
    "recompute": RuleKind.RECOMPUTE,
}


@dataclass(frozen=True)
class Rule:
    """``struct Rule``: how the committee settles a result. Tolerances are in units of 1e-9
    (``Rule.tolerance(1e-6, 1e-5)`` builds them from real numbers)."""

    kind: int = RuleKind.DEFAULT
    abs_tolerance: int = 0
    rel_tolerance: int = 0

    @classmethod
    def default(cls) -> Rule:
        """The committee's (or the model's registered) rule."""
        return cls(RuleKind.DEFAULT)

    @classmethod
    def exact(cls) -> Rule:
        """The same output bytes."""
        return cls(RuleKind.EXACT)

    @classmethod
    def argmax(cls) -> Rule:
        """The same arg-max along the last axis of every output."""
        return cls(RuleKind.ARGMAX)

    @classmethod
    def tolerance(cls, absolute: float, relative: float = 0.0) -> Rule:
        """Every element within ``absolute + relative × |own|`` of each executor's own value."""
        return cls(RuleKind.TOLERANCE, _nano(absolute), _nano(relative))

    @classmethod
    def train_loss(cls, epsilon: float = 1e-4) -> Rule:
        """Training: the claimed loss within ``epsilon``, not above the parent's by more."""
        return cls(RuleKind.TRAIN_LOSS, _nano(epsilon), 0)

    @classmethod
    def recompute(cls, absolute: float, relative: float = 0.0) -> Rule:
        """Training: every signer trains; every new weight within the tolerances."""
        return cls(RuleKind.RECOMPUTE, _nano(absolute), _nano(relative))

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Rule:
        """From the node's JSON ``{kind: "tolerance", absTolerance, relTolerance}``."""
        kind = value["kind"]
        code = _RULE_NAMES[kind] if isinstance(kind, str) else _rule_kind(int(kind))
        return cls(code, int(value.get("absTolerance", 0)), int(value.get("relTolerance", 0)))

    def to_abi(self) -> tuple[int, int, int]:
        """The ABI tuple."""
        return (int(self.kind), int(self.abs_tolerance), int(self.rel_tolerance))

    def hash(self) -> HexBytes:
        """``keccak256(abi.encode(kind, abs, rel))``: the rule hash attestations sign."""
        words = b"".join(int(v).to_bytes(32, "big") for v in self.to_abi())
        return HexBytes(keccak(words))


def _rule_kind(kind: int) -> int:
    return RuleKind(kind) if kind in RuleKind._value2member_map_ else kind


def _nano(value: float) -> int:
    if value < 0 or not math.isfinite(value):
        raise ValueError(f"a tolerance is finite and not negative, not {value}")
    return int((Decimal(str(value)) * 10**9).to_integral_value())


@dataclass(frozen=True)
class Cost:
    """``struct Cost``: a model's multiply-accumulates as a polynomial in its symbolic
    dimensions (see IDnn.sol); ``coefficients[0]`` is the count for one sample."""

    degrees: tuple[int, ...]
    coefficients: tuple[int, ...]

    def macs(self, *sizes: int) -> int:
        """The MACs of a call whose symbolic dimensions have these sizes (in order of first
        appearance in the inputs; 1 for each one not given)."""
        full = list(sizes) + [1] * (len(self.degrees) - len(sizes))
        if len(full) != len(self.degrees):
            raise ValueError(f"the model has {len(self.degrees)} symbolic dimension(s)")
        total = 0
        for index, js in enumerate(product(*(range(d + 1) for d in self.degrees))):
            term = self.coefficients[index]
            for s, j in zip(full, js):
                term *= math.comb(s - 1, j) if s >= 1 else 0
            total += term
        return total


@dataclass(frozen=True)
class TensorSpec:
    """``struct TensorSpec``: a model input or output as the registry recorded it. ``shape[i] ==
    -1`` is a symbolic dimension named ``dim_params[i]`` ("" when unnamed)."""

    name: str
    dtype: int
    shape: tuple[int, ...]
    dim_params: tuple[str, ...]

    @property
    def dims(self) -> tuple[int | str, ...]:
        """The shape with symbolic dimensions by name ("?" when unnamed)."""
        return tuple(
            (self.dim_params[i] or "?") if d == -1 else d for i, d in enumerate(self.shape)
        )


@dataclass(frozen=True)
class ModelInfo:
    """``struct ModelInfo``: what the registry records about a model."""

    model: HexBytes
    name: str
    owner: str
    registered_at: int
    parent: HexBytes
    macs: int
    cost: Cost
    size: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    rule: Rule

    @classmethod
    def from_abi(cls, value: Sequence[Any]) -> ModelInfo:
        """From the ABI tuple of ``ModelInfo``."""
        model, name, owner, at, parent, macs, cost, size, inputs, outputs, rule = value

        def spec(s: Sequence[Any]) -> TensorSpec:
            return TensorSpec(s[0], int(s[1]), tuple(int(d) for d in s[2]), tuple(s[3]))

        return cls(
            model=HexBytes(model),
            name=name,
            owner=to_checksum_address(owner),
            registered_at=int(at),
            parent=HexBytes(parent),
            macs=int(macs),
            cost=Cost(tuple(int(d) for d in cost[0]), tuple(int(c) for c in cost[1])),
            size=int(size),
            inputs=tuple(spec(s) for s in inputs),
            outputs=tuple(spec(s) for s in outputs),
            rule=Rule(_rule_kind(int(rule[0])), int(rule[1]), int(rule[2])),
        )

    @classmethod
    def decode(cls, data: bytes) -> ModelInfo:
        """From ``abi.encode(ModelInfo)`` (``modelInfo``'s return data)."""
        (value,) = abi_decode([MODEL_INFO_ABI], bytes(data))
        return cls.from_abi(value)

    @property
    def is_trained(self) -> bool:
        """Whether the model was written by ``train`` (it has a parent)."""
        return any(self.parent)


class Loss(IntEnum):
    """``TrainParams.loss``."""

    MSE = 1
    CROSS_ENTROPY = 2
    WEIGHTED_CROSS_ENTROPY = 3


class Optimizer(IntEnum):
    """``TrainParams.optimizer``."""

    SGD = 1
    MOMENTUM = 2
    ADAM = 3


@dataclass(frozen=True)
class TrainParams:
    """``struct TrainParams``: ``steps`` (1 to 1000) optimiser steps on the whole batch at
    ``learning_rate`` (a real number; sent as fixed-point ×10^18, exactly for decimal input such
    as ``0.2`` or ``"0.2"``), with ``loss`` and ``optimizer``."""

    steps: int
    learning_rate: float | Decimal | str | int
    loss: int = Loss.CROSS_ENTROPY
    optimizer: int = Optimizer.SGD

    def __post_init__(self) -> None:
        if not 0 <= int(self.steps) < 2**32:
            raise ValueError(f"steps is a uint32 (the node takes 1 to 1000), not {self.steps}")
        raw = self.learning_rate_raw
        if not 0 <= raw < 2**64:
            raise ValueError(f"the learning rate {self.learning_rate} does not fit the ABI's "
                             "uint64 ×10^18 (0 to about 18.4)")

    @property
    def learning_rate_raw(self) -> int:
        """The learning rate as the ABI carries it: fixed-point ×10^18."""
        return int((Decimal(str(self.learning_rate)) * 10**18).to_integral_value())

    def to_abi(self) -> tuple[int, int, int, int]:
        """The ABI tuple."""
        return (int(self.steps), self.learning_rate_raw, int(self.loss), int(self.optimizer))


@dataclass(frozen=True)
class TrainResult:
    """What ``train`` returns: the new model's hash and its loss on the batch. ``receipt`` is
    the transaction's receipt (:func:`anh.send_train`; None for an ``eth_call``)."""

    model: HexBytes
    loss_raw: int
    parent: HexBytes
    receipt: Any = None

    @property
    def loss(self) -> float:
        """The loss as a float (``loss_raw`` is fixed-point ×10^18)."""
        return self.loss_raw / 1e18


@dataclass(frozen=True)
class Trained:
    """A training attestation's output: ``abi.encode(bytes32 model, uint64 size, int256 loss)``."""

    model: HexBytes
    size: int
    loss_raw: int

    @property
    def loss(self) -> float:
        """The loss as a float."""
        return self.loss_raw / 1e18


@dataclass(frozen=True)
class Sealed:
    """A record's share of its block's attestation (``anh_getAttestations``' ``sealed``): the
    committee signed the block once, ``digest`` = ``keccak256("\\x19ANH-BLOCK-v1" ‖ chainId ‖
    block_number ‖ parent_hash ‖ count ‖ root)``, and this record is leaf ``index`` of the
    block's ``count`` leaves, ``leaf`` as signed, with ``proof`` the sibling path (bottom up)
    from it to ``root``. ``signatures`` are the members' 65-byte signatures of ``digest``, the
    same for every record of the block. See :mod:`anh.seal` for the layouts."""

    block_number: int
    parent_hash: HexBytes
    index: int
    count: int
    leaf: HexBytes
    root: HexBytes
    proof: tuple[HexBytes, ...]
    digest: HexBytes
    signatures: tuple[HexBytes, ...]

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Sealed:
        """From a record's ``sealed`` object of ``anh_getAttestations``."""
        return cls(
            block_number=int(value["blockNumber"]),
            parent_hash=HexBytes(value["parentHash"]),
            index=int(value["index"]),
            count=int(value["count"]),
            leaf=HexBytes(value["leaf"]),
            root=HexBytes(value["root"]),
            proof=tuple(HexBytes(p) for p in value.get("proof") or ()),
            digest=HexBytes(value["digest"]),
            signatures=tuple(HexBytes(s) for s in value.get("signatures") or ()),
        )

    def block_digest(self, chain_id: int) -> HexBytes:
        """The block digest recomputed for chain ``chain_id`` from ``block_number``,
        ``parent_hash``, ``count`` and ``root`` (``digest`` is the node's word for it)."""
        return block_digest(chain_id, self.block_number, self.parent_hash, self.count, self.root)

    def includes(self, leaf: bytes) -> bool:
        """Whether ``leaf`` is leaf ``index`` of the tree of ``root`` by ``proof``."""
        return verify_inclusion(leaf, self.index, self.count, self.proof, self.root)


@dataclass(frozen=True)
class Attestation:
    """A DNN job record of a block, as ``anh_getAttestations`` lists it: the job, its kind
    ("infer", "register" or "train"), the model, the rule it settled by, the settled output
    (ABI bytes; empty when it failed) and, for a failed job, why (its transaction reverted
    with that).

    Who vouches for it comes in one of two forms. In a block the committee sealed as a whole,
    ``sealed`` (:class:`Sealed`) holds the record's place in the block, its inclusion proof,
    the block digest and the members' signatures of it, and the record's own ``signatures``
    are empty. In a block without a block-level attestation, ``sealed`` is None and
    ``signatures`` are the members' signatures of this job's own digest. :meth:`signers` and
    :meth:`verify` handle both."""

    job: HexBytes
    kind: str
    model: HexBytes
    rule: Rule
    output: HexBytes
    signatures: tuple[HexBytes, ...]
    settled: bool
    failure: str | None = None
    sealed: Sealed | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Attestation:
        """From one record of ``anh_getAttestations``."""
        sealed = value.get("sealed")
        return cls(
            job=HexBytes(value["job"]),
            kind=str(value["kind"]),
            model=HexBytes(value["model"]),
            rule=Rule.from_json(value["rule"]),
            output=HexBytes(value.get("output") or b""),
            signatures=tuple(HexBytes(s) for s in value.get("signatures") or ()),
            settled=bool(value["settled"]),
            failure=value.get("failure"),
            sealed=None if sealed is None else Sealed.from_json(sealed),
            raw=dict(value),
        )

    def outputs(self) -> list[Tensor]:
        """An inference's settled outputs, in the model's own dtypes."""
        if self.kind != "infer" or not self.settled:
            raise ValueError(f"a settled infer record has outputs; this is a {self.kind} record"
                             + ("" if self.settled else " that failed"))
        return decode_tensors(self.output)

    def trained(self) -> Trained:
        """A training job's settled output: the new model, its file size and its loss."""
        if self.kind != "train" or not self.settled:
            raise ValueError(f"a settled train record has a trained model; this is a {self.kind} "
                             "record" + ("" if self.settled else " that failed"))
        model, size, loss = abi_decode(["bytes32", "uint64", "int256"], bytes(self.output))
        return Trained(HexBytes(model), int(size), int(loss))

    def _failure_bytes(self) -> bytes:
        return b"" if self.settled else (self.failure or "").encode()

    def leaf(self) -> HexBytes:
        """This record's leaf in its block's tree, computed from the record itself (not the
        node's ``sealed.leaf``): ``keccak256(0x00 ‖ job ‖ kind ‖ model ‖ ruleHash ‖
        keccak256(output) ‖ keccak256(failure))``."""
        if self.kind not in JOB_KINDS:
            raise AttestationError(self.job, f"a record of unknown kind {self.kind!r} has no leaf")
        return record_leaf(self.job, self.kind, self.model, self.rule.hash(),
                           bytes(self.output), self._failure_bytes())

    def job_digest(self, chain_id: int) -> HexBytes:
        """The per-job digest (the form of blocks without a block-level attestation):
        ``keccak256("\\x19ANH-ATTEST-v1" ‖ chainId ‖ job ‖ keccak256(output) ‖ ruleHash)``, or
        for a failure the ANH-FAIL domain over the failure text."""
        domain, body = (
            (ATTEST_DOMAIN, bytes(self.output)) if self.settled
            else (FAILURE_DOMAIN, self._failure_bytes())
        )
        preimage = (domain + chain_id.to_bytes(32, "big") + bytes(self.job) + keccak(body)
                    + bytes(self.rule.hash()))
        return HexBytes(keccak(preimage))

    def digest(self, chain_id: int) -> HexBytes:
        """What the committee signed for this record on chain ``chain_id``, recomputed: the
        block digest (:meth:`Sealed.block_digest`) for a sealed record, else
        :meth:`job_digest`. It does not check that the record is in the block's tree
        (:meth:`signers` does)."""
        return self.sealed.block_digest(chain_id) if self.sealed else self.job_digest(chain_id)

    def check_inclusion(self) -> None:
        """For a sealed record: that its leaf, computed from the record, is the leaf the
        committee signed at ``sealed.index`` and that ``sealed.proof`` leads from it to
        ``sealed.root``. Raises :class:`AttestationError` if not; does nothing for a record
        without ``sealed``."""
        if self.sealed is None:
            return
        leaf, sealed = self.leaf(), self.sealed
        if leaf != sealed.leaf:
            raise AttestationError(self.job, f"the record's leaf {leaf.to_0x_hex()} is not the "
                                   f"signed leaf {sealed.leaf.to_0x_hex()} (the record was "
                                   "changed)")
        if not sealed.includes(leaf):
            raise AttestationError(self.job, f"the proof does not lead from leaf {sealed.index} "
                                   f"of {sealed.count} to root {sealed.root.to_0x_hex()}")

    def signers(self, chain_id: int) -> list[str]:
        """The addresses (checksummed) that signed this record on chain ``chain_id``, in
        signature order: for a sealed record, after :meth:`check_inclusion`, those that signed
        the recomputed block digest; else those that signed the job's own digest. Raises
        :class:`AttestationError` for a record not in the signed tree or a malformed
        signature. It does not consult the committee: :meth:`verify` does."""
        self.check_inclusion()
        digest = self.digest(chain_id)
        signatures = self.sealed.signatures if self.sealed else self.signatures
        out: list[str] = []
        for index, signature in enumerate(signatures):
            try:
                out.append(recover_signer(digest, signature))
            except ValueError as e:
                raise AttestationError(self.job, f"signature {index}: {e}") from None
        return out

    def verify(self, chain_id: int, committee: Mapping[str, Any],
               block: Mapping[str, Any] | None = None) -> list[str]:
        """Checks this one record on its own, as a follower does, and returns its distinct
        signers (the committee's members that vouch for it).

        ``committee`` is ``{members, threshold}`` (what :func:`anh.committee` returns). The
        record must be consistent in itself (a concrete rule, no output on a failure, no
        no-quorum failure; a sealed record carries no signatures of its own); a sealed record
        must be the leaf signed at its place, its proof must lead to the signed root, and the
        node's ``sealed.digest`` must be the digest recomputed for ``chain_id``; every signature
        must recover (65 bytes, low-s) to a member, each member once, and at least
        ``threshold`` members must sign. With ``block`` (a block as ``w3.eth.get_block``
        returns it), a sealed record's ``block_number`` and ``parent_hash`` must be that
        block's. Raises :class:`AttestationError` naming the first thing at fault."""
        fail = lambda reason: AttestationError(self.job, reason)  # noqa: E731
        members = {to_checksum_address(m) for m in committee["members"]}
        threshold = int(committee["threshold"])
        if threshold == 0:
            raise fail("the committee's threshold is 0, so no record can settle")
        if self.rule.kind == RuleKind.DEFAULT or self.rule.kind not in RuleKind._value2member_map_:
            raise fail("the rule is not a concrete rule")
        if not self.settled and (self.failure or "").startswith(NO_QUORUM):
            raise fail("a no-quorum failure is recorded, but nobody can prove one: its "
                       "transaction belongs out of the block")
        if not self.settled and self.output:
            raise fail("a failed job's record carries an output")
        if self.sealed is not None:
            if self.signatures:
                raise fail("the record carries signatures of its own in a block-attested block")
            if block is not None:
                number, parent = int(block["number"]), HexBytes(block["parentHash"])
                if (self.sealed.block_number, self.sealed.parent_hash) != (number, parent):
                    raise fail(f"sealed for block {self.sealed.block_number} (parent "
                               f"{self.sealed.parent_hash.to_0x_hex()}), not block {number} "
                               f"(parent {parent.to_0x_hex()})")
            self.check_inclusion()
            digest = self.sealed.block_digest(chain_id)
            if digest != self.sealed.digest:
                raise fail(f"the block digest recomputed for chain {chain_id} is "
                           f"{digest.to_0x_hex()}, the node says {self.sealed.digest.to_0x_hex()}")
        seen: list[str] = []
        for index, signer in enumerate(self.signers(chain_id)):
            if signer not in members:
                raise fail(f"signature {index} recovers to {signer}, who is not in the "
                           "committee (signed for another record, block or chain, or by "
                           "another key)")
            if signer in seen:
                raise fail(f"{signer} signed more than once")
            seen.append(signer)
        if len(seen) < threshold:
            raise fail(f"{len(seen)} signature(s), the committee needs {threshold}")
        return seen


@dataclass(frozen=True)
class InferReceipt:
    """What :func:`anh.send_infer` returns: the mined transaction's ``receipt`` and the block's
    attestation records of this model's inference (a precompile call leaves no return data in a
    receipt; the committee's settled output is in the block)."""

    receipt: Any
    attestations: tuple[Attestation, ...]

    @property
    def outputs(self) -> list[Tensor] | None:
        """The committee's settled outputs (in the model's own dtypes), when the block holds
        exactly one settled inference of the model; else None (ask :attr:`attestations`)."""
        settled = [a for a in self.attestations if a.settled]
        return settled[0].outputs() if len(settled) == 1 else None
