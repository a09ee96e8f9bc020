"""The precompiles' custom errors from a real node: each raised as its exception class with its
fields, its message word for word the node's own JSON-RPC message, and decodable from web3.py's
own exception of a raw call."""

from __future__ import annotations

import secrets

import numpy as np
import pytest
from web3.exceptions import ContractCustomError

import anh
from anh import Tensor, abi

X = np.zeros((2, 4), np.float32)
Y = np.array([0, 1])
PARAMS = anh.TrainParams(steps=2, learning_rate=0.1)
UNKNOWN = bytes.fromhex("ab" * 32)

# (id, call(w3, models) -> (precompile address, calldata), expected exception)
CASES = [
    ("UnknownModel", lambda m: (abi.INFER_ADDRESS, abi.calldata("infer", [UNKNOWN, [Tensor.from_numpy(X).to_abi()]])),
     anh.UnknownModel(UNKNOWN)),
    ("InputMismatch", lambda m: (abi.INFER_ADDRESS, abi.calldata("infer", [m["mlp"], [Tensor.from_numpy(np.zeros((1, 5), np.float32)).to_abi()]])),
     anh.InputMismatch(0, "float32 [batch, 4]", "float32 [1, 5]")),
    ("WrongInputCount", lambda m: (abi.INFER_ADDRESS, abi.calldata("infer", [m["mlp"], [Tensor.from_numpy(X).to_abi()] * 2])),
     anh.WrongInputCount(1, 2)),
    ("BadTensor-length", lambda m: (abi.INFER_ADDRESS, abi.calldata("infer", [m["mlp"], [(1, [1, 4], b"1234")]])),
     anh.BadTensor(0, "data has 4 bytes, but shape [1, 4] of float32 needs 16")),
    ("BadTensor-dtype", lambda m: (abi.INFER_ADDRESS, abi.calldata("infer", [m["mlp"], [(9, [1, 4], b"")]])),
     anh.BadTensor(0, "unknown dtype 0x09: expected 1-7 or 0x40-0x52 (fixed-point)")),
    ("TensorTooLarge", lambda m: (abi.INFER_ADDRESS, abi.calldata("infer", [m["mlp"], [(1, [1 << 23, 4], b"")]])),
     anh.TensorTooLarge(0, 1 << 25, 1 << 24)),
    ("ConversionFailed", lambda m: (abi.INFER_ADDRESS, abi.calldata("inferAs", [m["int64"], [Tensor.from_numpy(np.array([[1, 2, 3, 4, np.nan]])).to_abi()], 4])),
     anh.ConversionFailed(0, 4, "NaN cannot be converted to int64")),
    ("UnknownSelector", lambda m: (abi.INFER_ADDRESS, bytes.fromhex("12345678")),
     anh.UnknownSelector(bytes.fromhex("12345678"))),
    ("MalformedCall-rule", lambda m: (abi.INFER_ADDRESS, abi.calldata("inferWith", [m["mlp"], [Tensor.from_numpy(X).to_abi()], 0, (9, 0, 0)])),
     anh.MalformedCall("unknown rule kind 9: expected 0 (default), 1 (exact), 2 (tolerance), 3 (argmax), 4 (train-loss) or 5 (recompute)")),
    ("MalformedCall-steps", lambda m: (abi.TRAIN_ADDRESS, abi.calldata("train", [m["mlp"], [Tensor.from_numpy(X).to_abi(), Tensor.from_numpy(Y).to_abi()], (0, 10**17, 2, 1)])),
     anh.MalformedCall("steps is 0: expected 1 to 1000")),
    ("BadTensor-label", lambda m: (abi.TRAIN_ADDRESS, abi.calldata("train", [m["mlp"], [Tensor.from_numpy(X).to_abi(), Tensor.from_numpy(np.array([0, 7])).to_abi()], PARAMS.to_abi()])),
     anh.BadTensor(1, "label 7 of sample 1 is not a class index: the model has 3 classes")),
    ("TrainingFailed", lambda m: (abi.TRAIN_ADDRESS, abi.calldata("trainOnly", [m["mlp"], [Tensor.from_numpy(X).to_abi(), Tensor.from_numpy(Y).to_abi()], PARAMS.to_abi(), ["nope"]])),
     anh.TrainingFailed('"nope" is not a float32/float64 initializer of the model, so it cannot be trained')),
]


@pytest.mark.parametrize("build,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_node_errors_decode_exactly(w3, models, build, expected):
    to, data = build(models)
    # The node's own JSON-RPC answer: code 3, the revert data, and its sentence.
    response = w3.provider.make_request("eth_call", [{"to": to, "data": "0x" + data.hex()}, "latest"])
    error = response["error"]
    decoded = anh.decode_revert(error["data"])
    assert decoded == expected
    assert error["message"] == f"execution reverted: {expected}"
    # web3.py's exception of the same call decodes to it too.
    with pytest.raises(ContractCustomError) as info:
        w3.eth.call({"to": to, "data": data})
    assert anh.error_from_exception(info.value) == expected


def test_sdk_calls_raise_the_decoded_errors(w3, models):
    with pytest.raises(anh.UnknownModel) as unknown:
        anh.infer(w3, UNKNOWN, [X])
    assert unknown.value.model == UNKNOWN and isinstance(unknown.value, anh.DnnError)
    with pytest.raises(anh.InputMismatch) as mismatch:
        anh.infer(w3, models["mlp"], [np.zeros((1, 5), np.float32)])
    assert (mismatch.value.input, mismatch.value.expected, mismatch.value.got) == (0, "float32 [batch, 4]", "float32 [1, 5]")
    with pytest.raises(anh.WrongInputCount):
        anh.infer_as(w3, models["mlp"], [X, X], "fixed6")
    with pytest.raises(anh.BadTensor, match=r"input 0: element 5 is NaN or infinite"):
        x = X.copy().reshape(-1)
        x[5] = np.nan
        anh.train(w3, models["mlp"], [x.reshape(2, 4), Y], PARAMS)
    with pytest.raises(anh.MalformedCall, match="trainable names 0 initializers"):
        anh.train(w3, models["mlp"], [X, Y], PARAMS, trainable=[])
    with pytest.raises(anh.ModelUnavailable):
        anh.register_model(w3, secrets.token_bytes(32), "x", account=anh.dev_account(0))


def test_errors_before_a_transaction_is_sent(w3, models, account):
    """send_* estimate gas first: a call that would revert raises its error and sends nothing."""
    nonce = w3.eth.get_transaction_count(account.address)
    with pytest.raises(anh.InputMismatch):
        anh.send_infer(w3, models["mlp"], [np.zeros((1, 5), np.float32)], account=account)
    with pytest.raises(anh.TrainingFailed):
        anh.send_train(w3, models["mlp"], [X, Y], PARAMS, account=account, trainable=["nope"])
    assert w3.eth.get_transaction_count(account.address) == nonce
