"""Inference on the node against ONNX Runtime run directly, and the node's conversions against
the SDK's: every dtype in and out, fixed-point rounding with ties to even, and the refusals
(the node's ConversionFailed must name the same tensor, element and reason as the SDK's
ConversionError for the same values)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import ort_run, ort_session, unique_model
from hexbytes import HexBytes
from web3 import Web3

import anh
from anh import Tensor, abi

RNG = np.random.default_rng(20240917)


def random_inputs(name: str, batch: int = 3) -> list[np.ndarray]:
    """Seeded inputs for model ``name`` with ``batch`` for its symbolic dimensions."""
    out = []
    for spec in ort_session(name).get_inputs():
        shape = [d if isinstance(d, int) else (3 if d == "n" else batch) for d in spec.shape]
        if spec.type == "tensor(float)":
            out.append(RNG.standard_normal(shape).astype(np.float32))
        elif spec.type == "tensor(int64)":
            out.append(RNG.integers(0, 10, size=shape, dtype=np.int64))
        elif spec.type == "tensor(int32)":
            out.append(RNG.integers(-3, 4, size=shape, dtype=np.int32))
        else:
            raise AssertionError(spec.type)
    return out


@pytest.mark.parametrize("name", ["mlp", "cnn", "int64", "multi_io"])
def test_inference_matches_onnx_runtime(w3, models, name):
    inputs = random_inputs(name)
    outputs = anh.infer(w3, models[name], inputs)
    expected = ort_run(name, inputs)
    assert len(outputs) == len(expected)
    for got, want in zip(outputs, expected):
        assert got.dtype == anh.dtype_code(want.dtype)
        # The same engine and settings as the node: the same bits.
        np.testing.assert_array_equal(got.to_numpy(), want)


# dtypes.onnx: one input and one output per element type (Neg, or Identity for uint8, Not for
# bool), inputs and outputs [2, n].
DTYPE_INPUTS = [
    np.array([[0.5, -1.5, 2.5], [1e-3, -0.0, 3.25]], dtype=np.float32),
    np.array([[0.5, -1.5, 2.5], [1e300, -0.0, 3.25]], dtype=np.float64),
    np.array([[0, -(2**31), 2**31 - 1], [5, -5, 100]], dtype=np.int32),
    np.array([[0, -(2**63) + 1, 2**63 - 1], [5, -5, 100]], dtype=np.int64),
    np.array([[0, 1, 255], [128, 127, 42]], dtype=np.uint8),
    np.array([[0, -127, 127], [5, -5, 100]], dtype=np.int8),
    np.array([[True, False, True], [False, False, True]]),
]


def test_every_dtype_round_trips_through_the_node(w3, models):
    outputs = anh.infer(w3, models["dtypes"], DTYPE_INPUTS)
    expected = ort_run("dtypes", DTYPE_INPUTS)
    assert [t.dtype for t in outputs] == list(range(1, 8))
    for got, want in zip(outputs, expected):
        assert got.to_numpy().dtype == want.dtype
        np.testing.assert_array_equal(got.to_numpy(), want)


# Values most targets take (no 1e300, int8-sized integers): the conversions reach every output.
MODEST_INPUTS = [
    np.array([[0.5, -1.5, 2.5], [1e-3, -0.0, 3.25]], dtype=np.float32),
    np.array([[0.25, -1.5, 2.5], [4.5, -0.0, 3.75]], dtype=np.float64),
    np.array([[0, -5, 7], [5, -5, 100]], dtype=np.int32),
    np.array([[0, -5, 7], [5, -5, 100]], dtype=np.int64),
    np.array([[0, 1, 0], [1, 127, 42]], dtype=np.uint8),
    np.array([[0, -127, 127], [5, -5, 100]], dtype=np.int8),
    np.array([[True, False, True], [False, False, True]]),
]


def dnn_error(call):
    try:
        return call(), None
    except anh.DnnError as e:
        return None, e


@pytest.mark.parametrize("inputs", [DTYPE_INPUTS, MODEST_INPUTS], ids=["extreme", "modest"])
@pytest.mark.parametrize("code", [1, 2, 3, 4, 5, 6, 7, 0x40, 0x42, 0x46, 0x52],
                         ids=lambda c: anh.dtype_name(c).replace(" ", ""))
def test_output_conversions_match_the_node(w3, models, code, inputs):
    """inferAs(dtypes, …, code): the node converts each output; the SDK converts ONNX Runtime's
    outputs the same way, to the same bytes or the same first refusal."""
    expected, refusal = [], None
    for i, y in enumerate(ort_run("dtypes", inputs)):
        try:
            expected.append(Tensor.from_numpy(y, dtype=code))
        except anh.ConversionError as e:
            refusal = anh.ConversionFailed(i, e.element, e.reason)
            break
    outputs, error = dnn_error(lambda: anh.infer_as(w3, models["dtypes"], inputs, code))
    assert error == refusal
    if refusal is None:
        assert outputs == expected
    else:
        assert isinstance(error, anh.ConversionFailed) and error.reason == refusal.reason


HALVES = [[0.5, 1.5, 2.5], [-0.5, -1.5, -2.5]]
# (id, per input: (values, dtype they are sent in)); inputs are f32, f64, i32, i64, u8, i8, bool.
INPUT_CASES = [
    ("float64-halves", [(HALVES, "float64")] * 4 + [([[0.5, 1.5, 2.5], [254.5, 253.5, -0.5]], "float64"),
                                                  (HALVES, "float64"), ([[0, 1, 1], [0, 0, 1]], "float64")]),
    ("fixed1-halves", [(HALVES, "fixed1")] * 4 + [([[0.5, 1.5, 2.5], [254.5, 253.5, -0.5]], "fixed1"),
                                                (HALVES, "fixed1"), ([[0, 1, 1], [0, 0, 1]], "fixed1")]),
    ("fixed18", [([[0.1, -0.2, 9.2], [1e-18, -1e-18, 0]], "fixed18")] * 7),
    ("int64", [([[1, -2, 3], [0, 1, 100]], "int64")] * 4 + [([[1, 2, 3], [0, 1, 255]], "int64"),
                                                           ([[1, -2, 3], [0, 1, 100]], "int64"),
                                                           ([[1, 0, 1], [0, 1, 1]], "int64")]),
    ("float32-as-everything", [([[0.25, 1.75, -3.5], [2.5, 0, 1]], "float32")] * 4
     + [([[0.25, 1.75, 3.5], [2.5, 0, 1]], "float32"), ([[0.25, 1.75, -3.5], [2.5, 0, 1]], "float32"),
        ([[0, 1, 0], [1, 0, 1]], "float32")]),
    ("nan-into-int32", {2: ([[1, np.nan, 3], [0, 0, 0]], "float64")}),
    ("2^63-into-int64", {3: ([[1, 2, 3], [0, 0, 2.0**63]], "float64")}),
    ("256-into-uint8", {4: ([[1, 2, 3], [255, 256, 0]], "int32")}),
    ("-0.51-into-uint8", {4: ([[0.49, -0.49, -0.51], [0, 0, 0]], "fixed2")}),
    ("-300.0-into-int8", {5: ([[-300, 0, 0], [0, 0, 0]], "fixed1")}),
    ("2-into-bool", {6: ([[0, 1, 2], [0, 0, 0]], "uint8")}),
    ("0.5-into-bool", {6: ([[0, 1, 0.5], [0, 0, 0]], "float32")}),
    ("1e39-into-float32", {0: ([[1, 2, 1e39], [0, 0, 0]], "float64")}),
    ("inf-into-int64", {3: ([[np.inf, 2, 3], [0, 0, 0]], "float64")}),
]


@pytest.mark.parametrize("case", [c[1] for c in INPUT_CASES], ids=[c[0] for c in INPUT_CASES])
def test_input_conversions_match_the_node(w3, models, case):
    """Inputs sent in other dtypes: the node converts each to the model's dtype, as
    Tensor.astype does; the outputs must be ONNX Runtime's on the converted inputs, or the
    refusal the SDK predicts."""
    given = dict(enumerate(case)) if isinstance(case, list) else case
    sent = [Tensor.from_numpy(given[i][0], dtype=given[i][1]) if i in given else Tensor.from_numpy(x)
            for i, x in enumerate(DTYPE_INPUTS)]
    converted, refusal = [], None
    for i, (t, native) in enumerate(zip(sent, DTYPE_INPUTS)):
        try:
            converted.append(t.astype(native.dtype).to_numpy())
        except anh.ConversionError as e:
            refusal = anh.ConversionFailed(i, e.element, e.reason)
            break
    outputs, error = dnn_error(lambda: anh.infer(w3, models["dtypes"], sent))
    assert error == refusal
    if refusal is None:
        for got, want in zip(outputs, ort_run("dtypes", converted)):
            np.testing.assert_array_equal(got.to_numpy(), want)


def test_fixed_point_outputs_round_like_the_sdk(w3, models):
    x = random_inputs("mlp", batch=16)
    [y] = ort_run("mlp", x)
    for k in (0, 3, 6, 9):
        [got] = anh.infer_as(w3, models["mlp"], x, anh.fixed(k))
        assert got == Tensor.from_numpy(y, scale=k)  # the same int64s, bit for bit
        np.testing.assert_allclose(got.to_numpy(), y, atol=0.5 * 10.0**-k + 1e-12)


def test_fixed_point_inputs(w3, models):
    x = np.round(random_inputs("mlp", batch=4)[0].astype(np.float64), 4)
    sent = Tensor.from_numpy(x, scale=6)
    [got] = anh.infer(w3, models["mlp"], [sent])
    # The node reads v / 10^6 as float64, then float32: ONNX Runtime on the same numbers.
    [want] = ort_run("mlp", [sent.to_numpy().astype(np.float32)])
    np.testing.assert_array_equal(got.to_numpy(), want)


def test_infer_with_a_rule(w3, models):
    x = random_inputs("mlp")
    [a] = anh.infer_with(w3, models["mlp"], x, anh.Rule.argmax())
    [b] = anh.infer_with(w3, models["mlp"], x, anh.Rule.tolerance(1e-6, 1e-5), output_dtype="fixed6")
    assert a == Tensor.from_numpy(ort_run("mlp", x)[0]) and b.dtype == 0x46


def test_send_infer_returns_the_committees_attested_outputs(w3, models, account):
    x = random_inputs("mlp", batch=5)
    receipt = anh.send_infer(w3, models["mlp"], x, account=account)
    assert receipt.receipt["status"] == 1
    [record] = receipt.attestations
    assert record.kind == "infer" and record.settled and record.model == models["mlp"]
    [y] = receipt.outputs or []
    np.testing.assert_allclose(y.to_numpy(), ort_run("mlp", x)[0], rtol=1e-5, atol=1e-6)
    # The block is sealed: the record's own signatures are empty, and the block's signatures,
    # over the documented block digest, are the committee's.
    committee = anh.committee(w3)
    assert committee is not None
    assert record.signatures == () and record.sealed is not None
    assert record.sealed.block_number == receipt.receipt["blockNumber"]
    block = w3.eth.get_block(receipt.receipt["blockNumber"])
    signers = record.verify(w3.eth.chain_id, committee, block)
    members = {Web3.to_checksum_address(m) for m in committee["members"]}
    assert len(set(signers)) == len(signers) >= committee["threshold"] and set(signers) <= members
    assert record.signers(w3.eth.chain_id) == signers


def send_together(w3, account, calls):
    """Sends ``calls`` ((to, data) pairs) as transactions mined in one block (automine off
    while they are sent, then on again, which mines the pool) and returns their receipts."""
    nonce = w3.eth.get_transaction_count(account.address, "pending")
    base, tip = int(w3.eth.get_block("latest")["baseFeePerGas"]), w3.eth.max_priority_fee
    hashes = []
    assert w3.provider.make_request("evm_setAutomine", [False]).get("result") is True
    try:
        for i, (to, data) in enumerate(calls):
            tx = {"type": 2, "chainId": w3.eth.chain_id, "nonce": nonce + i, "to": to, "data": data,
                  "value": 0, "gas": 5_000_000, "maxFeePerGas": 2 * base + tip,
                  "maxPriorityFeePerGas": tip}  # gas not estimated: the last call reverts
            hashes.append(w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction))
    finally:
        assert w3.provider.make_request("evm_setAutomine", [True]).get("result") is True
    return [w3.eth.wait_for_transaction_receipt(h, timeout=300, poll_latency=0.1) for h in hashes]


def test_each_record_of_a_sealed_block_verifies_on_its_own(w3, models, account):
    """Three inferences and a training job that fails, mined in one block: every record has
    ``sealed``, its leaf (computed from the record) is the signed one, its proof reaches the
    signed root, the digest recomputed for the chain is the node's, and at least ``threshold``
    distinct members of ``anh_committee`` signed it. Changed records, wrong places and borrowed
    proofs fail."""
    inputs = [random_inputs("mlp", batch=2) for _ in range(3)]
    calls = [(anh.INFER_ADDRESS, abi.calldata("infer", [models["mlp"], [Tensor.from_numpy(x).to_abi() for x in xs]]))
             for xs in inputs]
    calls.append((anh.TRAIN_ADDRESS, abi.calldata("trainOnly", [
        models["mlp"], [Tensor.from_numpy(np.zeros((2, 4), np.float32)).to_abi(), Tensor.from_numpy(np.array([0, 1])).to_abi()],
        anh.TrainParams(2, 0.1).to_abi(), ["nope"]])))
    receipts = send_together(w3, account, calls)
    assert [r["status"] for r in receipts] == [1, 1, 1, 0]
    number = receipts[0]["blockNumber"]
    assert {r["blockNumber"] for r in receipts} == {number}, "the four transactions share a block"

    records = anh.get_attestations(w3, number)
    assert records is not None and len(records) >= 4
    chain_id, committee, block = w3.eth.chain_id, anh.committee(w3), w3.eth.get_block(number)
    assert committee is not None
    members = {Web3.to_checksum_address(m) for m in committee["members"]}
    leaves = [r.leaf() for r in records]
    root = anh.seal.merkle_root(leaves)
    for index, record in enumerate(records):
        sealed = record.sealed
        assert sealed is not None and record.signatures == ()
        assert (sealed.block_number, sealed.parent_hash) == (number, block["parentHash"])
        assert (sealed.index, sealed.count, sealed.leaf, sealed.root) == (index, len(records), leaves[index], root)
        assert anh.seal.verify_inclusion(record.leaf(), index, len(records), sealed.proof, root)
        assert sealed.digest == anh.seal.block_digest(chain_id, number, block["parentHash"], len(records), root)
        signers = record.verify(chain_id, committee, block)
        assert len(set(signers)) == len(signers) >= committee["threshold"] and set(signers) <= members

    ours = [r for r in records if r.model == models["mlp"]]
    infers, [failed] = [r for r in ours if r.kind == "infer"], [r for r in ours if r.kind == "train"]
    for xs in inputs:  # each inference's settled outputs are ONNX Runtime's (within the rule)
        want = ort_run("mlp", xs)[0]
        assert any(np.allclose(r.outputs()[0].to_numpy(), want, rtol=1e-5, atol=1e-6) for r in infers)
    assert not failed.settled and failed.output == b"" and "is not a float32/float64 initializer" in (failed.failure or "")

    first, other = infers[0], failed
    forged = dataclasses.replace(first, output=HexBytes(bytes(first.output[:-1]) + b"\x01"))
    with pytest.raises(anh.AttestationError, match="is not the signed leaf"):
        forged.verify(chain_id, committee, block)
    with pytest.raises(anh.AttestationError, match="is not the signed leaf"):
        dataclasses.replace(other, failure="forged").verify(chain_id, committee, block)
    assert first.sealed is not None and other.sealed is not None
    wrong = (first.sealed.index + 1) % len(records)
    moved = dataclasses.replace(first, sealed=dataclasses.replace(first.sealed, index=wrong))
    with pytest.raises(anh.AttestationError, match=f"the proof does not lead from leaf {wrong} of {len(records)}"):
        moved.verify(chain_id, committee, block)
    borrowed = dataclasses.replace(first, sealed=dataclasses.replace(first.sealed, proof=other.sealed.proof))
    with pytest.raises(anh.AttestationError, match="the proof does not lead"):
        borrowed.verify(chain_id, committee, block)
    with pytest.raises(anh.AttestationError, match="the block digest recomputed for chain 1 is"):
        first.verify(1, committee, block)
    with pytest.raises(anh.AttestationError, match=f"not block {number - 1}"):
        first.verify(chain_id, committee, w3.eth.get_block(number - 1))


def test_attestations_of_blocks(w3):
    assert anh.get_attestations(w3, 0) == []
    assert anh.get_attestations(w3, w3.eth.block_number + 1000) is None


def test_infer_at_an_older_block(w3, account):
    before = w3.eth.block_number
    model = anh.push_model(w3, unique_model(), "later", account=account)
    assert anh.infer(w3, model, [np.zeros((1, 4), np.float32)])[0].shape == (1, 3)
    with pytest.raises(anh.UnknownModel) as info:
        anh.infer(w3, model, [np.zeros((1, 4), np.float32)], block=before)
    assert info.value.model == model
