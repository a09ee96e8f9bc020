"""Training on chain: train (eth_call) and send_train (a transaction), checked against ONNX
Runtime: the losses the node reports are ONNX Runtime's losses of the models it writes."""

from __future__ import annotations

import secrets

import numpy as np
import onnxruntime as ort
import pytest
import requests
from conftest import RPC_URL, ort_run

import anh

P = anh.TrainParams


def batch(seed: int | None = None, n: int = 16) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(secrets.randbits(64) if seed is None else seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    return x, rng.integers(0, 3, size=n).astype(np.int64)


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    log_softmax = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_softmax[np.arange(len(labels)), labels].mean())


def test_train_call_reports_onnx_runtimes_loss(w3, models):
    """With a learning rate of 1e-12 the weights barely move: the reported loss is the batch's
    cross-entropy on ONNX Runtime's logits."""
    x, y = batch(1)
    result = anh.train(w3, models["mlp"], [x, y], P(steps=1, learning_rate="0.000000000001"))
    assert result.parent == models["mlp"] and result.model != models["mlp"]
    assert result.loss == pytest.approx(cross_entropy(ort_run("mlp", [x])[0], y), rel=1e-5)
    # An eth_call registers nothing.
    assert not anh.is_registered(w3, result.model)


def test_train_call_mse(w3, models):
    x, _ = batch(2)
    targets = np.random.default_rng(3).standard_normal((16, 3)).astype(np.float32)
    result = anh.train(w3, models["mlp"], [x, targets],
                       P(steps=1, learning_rate="0.000000000001", loss=anh.Loss.MSE))
    mse = float(((ort_run("mlp", [x])[0].astype(np.float64) - targets) ** 2).mean())
    assert result.loss == pytest.approx(mse, rel=1e-5)


def test_train_call_lowers_the_loss(w3, models):
    x, y = batch(4)
    before = cross_entropy(ort_run("mlp", [x])[0], y)
    result = anh.train(w3, models["mlp"], [x, y], P(steps=20, learning_rate=0.2))
    assert result.loss < before - 0.05
    adam = anh.train(w3, models["mlp"], [x, y], P(steps=20, learning_rate=0.01, optimizer=anh.Optimizer.ADAM))
    assert adam.loss < before and adam.model != result.model


@pytest.mark.parametrize("how", [
    {"trainable": ["w1", "b1"]},
    {"lora_targets": ["w0"], "lora_rank": 1},
    {"rule": anh.Rule.recompute(1e-4, 1e-4)},
])
def test_train_variants(w3, models, how):
    x, y = batch(5)
    result = anh.train(w3, models["mlp"], [x, y], P(steps=5, learning_rate=0.1), **how)
    assert result.model not in (models["mlp"], bytes(32))
    assert 0 < result.loss < cross_entropy(ort_run("mlp", [x])[0], y)


def test_train_arguments_that_do_not_combine(w3, models):
    x, y = batch(6)
    with pytest.raises(ValueError, match="do not combine"):
        anh.train(w3, models["mlp"], [x, y], P(1, 0.1), trainable=["w1"], rule=anh.Rule.train_loss())
    with pytest.raises(ValueError, match="go together"):
        anh.train(w3, models["mlp"], [x, y], P(1, 0.1), lora_targets=["w0"])


def test_send_train_registers_the_new_model(w3, models, account):
    x, y = batch()  # a batch no earlier run trained on, so the new model is new
    predicted = anh.train(w3, models["mlp"], [x, y], P(steps=8, learning_rate=0.2))
    result = anh.send_train(w3, models["mlp"], [x, y], P(steps=8, learning_rate=0.2), account=account)
    assert result.receipt["status"] == 1 and result.parent == models["mlp"]
    assert result.loss == pytest.approx(predicted.loss, abs=1e-4)

    info = anh.model_info(w3, result.model)
    assert info.is_trained and info.parent == models["mlp"] and info.inputs == anh.model_info(w3, models["mlp"]).inputs

    [record] = [a for a in anh.get_attestations(w3, result.receipt["blockNumber"]) or [] if a.kind == "train"]
    trained = record.trained()
    assert (trained.model, trained.loss_raw) == (result.model, result.loss_raw)
    committee = anh.committee(w3)
    assert committee is not None and record.sealed is not None
    block = w3.eth.get_block(result.receipt["blockNumber"])
    assert len(record.verify(w3.eth.chain_id, committee, block)) >= committee["threshold"]

    # The node serves the new file: ONNX Runtime on it gives the node's outputs and its loss.
    node = anh.get_model(w3, result.model)
    assert node is not None
    data = requests.get(RPC_URL.rstrip("/") + node["url"], timeout=60).content
    assert anh.model_hash(data) == result.model and trained.size == len(data)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    [logits] = session.run(None, {"x": x})
    [got] = anh.infer(w3, result.model, [x])
    np.testing.assert_allclose(got.to_numpy(), logits, rtol=1e-6, atol=1e-6)
    assert cross_entropy(logits, y) == pytest.approx(result.loss, abs=1e-4)
    assert result.loss < cross_entropy(ort_run("mlp", [x])[0], y)
