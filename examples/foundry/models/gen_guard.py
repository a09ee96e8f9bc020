#!/usr/bin/env python3
"""Writes guard.onnx: a hand-set swap screener for GuardedPool (examples/foundry).

Run it with the venv of scripts/setup-python.sh (onnx, numpy, onnxruntime 1.31.1):

    "$(scripts/setup-python.sh)" examples/foundry/models/gen_guard.py

The model takes GuardedPool's window (float32 [batch, 8]; see GuardedPool._window) and returns
two logits (float32 [batch, 2]): normal, manipulation. It is a 8-5-2 MLP whose weights are set
by hand, not trained, so its output has a closed form the tests can check:

    hidden = Relu(window @ W1)  = [relu(f5), relu(-f5), relu(f6), relu(-f6), relu(f7)]
    logits = hidden @ W2 + b2   = [0, 2 * (|f5| + |f6| + f7) - 4]

f5 is the price move of the swap, f6 the move from the block's opening price, f7 the swap's
size as a share of the reserve (all squashed into (-1, 1)). A swap of about 1 % of the reserve
scores about -2.5 (normal); from about 7 % on the manipulation logit is positive. Every weight is
a small integer, so float32 computes it exactly up to the rounding of the inputs.

(The flashloan-guard demo trains its detector on chain; this stand-in keeps the Foundry
example's set-up to one upload.)
"""

from __future__ import annotations

import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


def build() -> onnx.ModelProto:
    w1 = np.zeros((8, 5), dtype=np.float32)
    w1[5, 0], w1[5, 1] = 1.0, -1.0
    w1[6, 2], w1[6, 3] = 1.0, -1.0
    w1[7, 4] = 1.0
    w2 = np.zeros((5, 2), dtype=np.float32)
    w2[:, 1] = 2.0
    b2 = np.array([0.0, -4.0], dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["window", "W1"], ["pre"]),
            helper.make_node("Relu", ["pre"], ["hidden"]),
            helper.make_node("MatMul", ["hidden", "W2"], ["mm"]),
            helper.make_node("Add", ["mm", "b2"], ["logits"]),
        ],
        "guard",
        [helper.make_tensor_value_info("window", TensorProto.FLOAT, ["batch", 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2])],
        initializer=[
            numpy_helper.from_array(w1, "W1"),
            numpy_helper.from_array(w2, "W2"),
            numpy_helper.from_array(b2, "b2"),
        ],
    )
    m = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17)],
        producer_name="anh-examples-foundry",
        producer_version="1",
    )
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    return m


def main() -> None:
    m = build()
    data = m.SerializeToString(deterministic=True)
    path = os.path.join(HERE, "guard.onnx")
    with open(path, "wb") as f:
        f.write(data)
    # Check the closed form against ONNX Runtime.
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(7).uniform(-0.99, 0.99, size=(64, 8)).astype(np.float32)
    x[:, 7] = np.abs(x[:, 7])
    (got,) = sess.run(None, {"window": x})
    want = np.stack([np.zeros(64), 2 * (np.abs(x[:, 5]) + np.abs(x[:, 6]) + x[:, 7]) - 4], axis=1)
    assert np.allclose(got, want, atol=1e-6), (got, want)
    print(f"wrote {path} ({len(data)} bytes); ONNX Runtime agrees with the closed form", file=sys.stderr)


if __name__ == "__main__":
    main()
