"""The SDK's ABI against contracts/src/dnn/IDnn.sol, the custom errors' decoding, and the
settlement's byte layouts against the known-answer vectors of the Rust side — offline."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT
from eth_abi import encode
from hexbytes import HexBytes
from web3.exceptions import ContractCustomError, Web3RPCError

import anh
from anh import abi
from anh.structs import Attestation

IDNN = (ROOT / "contracts" / "src" / "dnn" / "IDnn.sol").read_text()

STRUCTS = {
    "Tensor": "(uint8,uint64[],bytes)",
    "Rule": "(uint8,uint64,uint64)",
    "TrainParams": "(uint32,uint64,uint8,uint8)",
}


def solidity_types(params: str) -> list[str]:
    """The ABI types of a Solidity parameter list ("bytes32 model, Tensor[] calldata x")."""
    out = []
    for param in filter(None, (p.strip() for p in params.split(","))):
        t = param.split()[0]
        base, arrays = re.match(r"(\w+)((?:\[\])*)", t).groups()  # type: ignore[union-attr]
        out.append(STRUCTS.get(base, base) + arrays)
    return out


def test_every_custom_error_matches_idnn_sol():
    declared = {name: f"{name}({','.join(solidity_types(params))})"
                for name, params in re.findall(r"error (\w+)\(([^)]*)\);", IDNN)}
    assert declared == {cls.__name__: cls.signature for cls in anh.DNN_ERRORS}


def test_every_precompile_function_matches_idnn_sol():
    declared = {name: solidity_types(params)
                for name, params in re.findall(r"function (\w+)\(([^)]*)\)", IDNN, re.S)}
    assert declared == abi.SIGNATURES


ERRORS = [
    (anh.UnknownModel, [HexBytes(b"\x11" * 32)],
     "UnknownModel(0x" + "11" * 32 + "): the model is not registered; register it with `anh model push FILE --name NAME`"),
    (anh.ModelUnavailable, [HexBytes(b"\x22" * 32)],
     "ModelUnavailable(0x" + "22" * 32 + "): this node's model store does not hold the model; upload it with `anh model push` or anh_putModel"),
    (anh.AlreadyRegistered, [HexBytes(b"\x33" * 32)], "AlreadyRegistered(0x" + "33" * 32 + "): the model is registered already"),
    (anh.WrongInputCount, [1, 2], "WrongInputCount: the model takes 1 input(s), got 2"),
    (anh.InputMismatch, [0, "float32 [batch, 4]", "float32 [1, 5]"],
     "InputMismatch: input 0: expected float32 [batch, 4], got float32 [1, 5]"),
    (anh.BadTensor, [3, "why"], "BadTensor: input 3: why"),
    (anh.TensorTooLarge, [0, 2**25, 2**24], "TensorTooLarge: input 0 has 33554432 elements, the limit is 16777216"),
    (anh.ConversionFailed, [1, 7, "NaN cannot be converted to int64"],
     "ConversionFailed: tensor 1, element 7: NaN cannot be converted to int64"),
    (anh.InferenceFailed, ["boom"], "InferenceFailed: boom"),
    (anh.WriteInStaticCall, [], "WriteInStaticCall: this function changes state and cannot run under STATICCALL"),
    (anh.UnknownSelector, [HexBytes("0x12345678")], "UnknownSelector(0x12345678): no such function in this precompile"),
    (anh.MalformedCall, ["short"], "MalformedCall: short"),
    (anh.NoQuorum, [HexBytes(b"\x44" * 32), 1, 2],
     "NoQuorum(0x" + "44" * 32 + "): no quorum: 1 executor signature(s), the committee needs 2"),
    (anh.TrainingFailed, ["diverged"], "TrainingFailed: diverged"),
]


@pytest.mark.parametrize("cls,args,message", ERRORS, ids=[e[0].__name__ for e in ERRORS])
def test_custom_errors_decode_with_fields_and_the_nodes_wording(cls, args, message):
    types = re.search(r"\((.*)\)", cls.signature).group(1)  # type: ignore[union-attr]
    data = cls.error_selector() + encode(types.split(",") if types else [], args)
    err = anh.decode_revert(data)
    assert type(err) is cls and isinstance(err, anh.DnnError)
    assert [getattr(err, f) for f in cls.fields] == args
    assert str(err) == message and err.data == data
    assert err == cls(*args)
    # From web3.py's exceptions, as eth_call raises them.
    assert anh.error_from_exception(ContractCustomError("0x" + data.hex(), data="0x" + data.hex())) == err
    rpc = Web3RPCError("execution reverted", rpc_response={"error": {"code": 3, "data": "0x" + data.hex()}})
    assert anh.error_from_exception(rpc) == err


def test_other_reverts_are_not_dnn_errors():
    error_string = bytes.fromhex("08c379a0") + encode(["string"], ["nope"])
    assert anh.decode_revert(error_string) is None
    assert anh.decode_revert(b"") is None and anh.decode_revert(None) is None
    assert anh.decode_revert(anh.UnknownModel.error_selector() + b"\x01") is None  # truncated


def test_rule_hashes_match_the_rust_vectors():
    # primitives/tests/vectors.rs (computed from the documented layout outside the code base).
    assert anh.Rule.exact().hash() == HexBytes("0x255ace0592d6d0057743ec81f2494d71fe5466986a2fd6f28c632dc1ef83d48b")
    assert anh.Rule(2, 1000, 5).hash() == HexBytes("0xeed026e9374fd0a3d505efa8f91e9d036d0617cf14e8b1997798ac90d1d35e8b")


def test_attestation_digests_match_the_rust_vectors():
    job = "0xcecbbc195664d8ea7828d550de2f3ed4a90e171486c3c77e5f16ddd66d69d4e0"
    base = {"job": job, "kind": "infer", "model": "0x" + "11" * 32,
            "rule": {"kind": "exact", "absTolerance": 0, "relTolerance": 0}, "signatures": []}
    settled = Attestation.from_json({**base, "output": "0x" + b"out".hex(), "settled": True, "failure": None})
    failed = Attestation.from_json({**base, "output": "0x", "settled": False, "failure": "fail"})
    assert settled.digest(31337) == HexBytes("0x1749562f65a47dcb895d68f3b0472f44fd39b55c61846744ac0fe59bf027e0b9")
    assert failed.digest(31337) == HexBytes("0x79175cf327e279104fd11323dc56fc8f06c5bf5fc93b794cee35b73c1235488f")
    assert settled.rule == anh.Rule.exact()


def test_cost_polynomial():
    # 147 MACs per sample, linear in the batch: MACs(s) = 147 + 147 (s - 1).
    cost = anh.Cost((1,), (147, 147))
    assert [cost.macs(s) for s in (1, 2, 32)] == [147, 294, 4704]
    # x·xᵀ over a sequence: quadratic, C(s-1, 2) terms.
    quad = anh.Cost((2,), (10, 30, 20))
    assert quad.macs(4) == 10 + 30 * 3 + 20 * 3


def test_train_params_and_rules():
    p = anh.TrainParams(steps=8, learning_rate=0.2, loss=anh.Loss.CROSS_ENTROPY, optimizer=anh.Optimizer.ADAM)
    assert p.to_abi() == (8, 2 * 10**17, 2, 3)
    assert anh.TrainParams(1, "0.000000000000000001").learning_rate_raw == 1
    with pytest.raises(ValueError, match="does not fit the ABI's uint64"):
        anh.TrainParams(1, 1000)
    assert anh.Rule.tolerance(1e-6, 1e-5).to_abi() == (2, 1000, 10000)
    assert anh.Rule.train_loss().to_abi() == (4, 100000, 0)


def test_dev_account_and_senders():
    assert anh.dev_account(0).address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert anh.dev_account(1).address == "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    w3 = anh.connect("http://127.0.0.1:1")  # never contacted: the sender is refused first
    with pytest.raises(ValueError, match=r"pass account= .*anh.dev_account\(0\)"):
        anh.register_model(w3, b"\x01" * 32, "x")

