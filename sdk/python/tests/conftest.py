"""Fixtures of the SDK's tests: the node at ANH_RPC_URL (the tests never start one), a fresh
funded account, the test models of runtime/testdata pushed once, and ONNX Runtime run directly
as the reference.

    ANH_RPC_URL=http://127.0.0.1:8545 sdk/python/test.sh
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from eth_account import Account
from web3 import Web3

import anh

ROOT = Path(__file__).resolve().parents[3]
TESTDATA = ROOT / "runtime" / "testdata"
RPC_URL = os.environ.get("ANH_RPC_URL", "http://127.0.0.1:8545")

#: The models of runtime/testdata the tests push (see runtime/testdata/gen_fixtures.py).
MODELS = ("mlp", "dtypes", "int64", "multi_io", "cnn")


@pytest.fixture(scope="session")
def w3() -> Web3:
    """The node at ANH_RPC_URL; the run stops at once, saying so, if none answers."""
    w3 = anh.connect(RPC_URL, timeout=120)
    problem = None
    try:
        version = w3.client_version
    except Exception as e:  # noqa: BLE001 - any failure means the same thing here
        problem = (f"no ANH node answers at ANH_RPC_URL={RPC_URL} ({type(e).__name__}); "
                   "start one with ./dev node")
    else:
        if "anh" not in version:
            problem = f"the node at ANH_RPC_URL={RPC_URL} is not ANH ({version})"
    if problem is not None:
        pytest.exit(problem, returncode=1)
    return w3


@pytest.fixture(scope="session")
def account(w3: Web3) -> Any:
    """A fresh key, funded with anvil_setBalance: no other suite shares its nonces."""
    acct = Account.from_key(secrets.token_bytes(32))
    response = w3.provider.make_request("anvil_setBalance", [acct.address, hex(10**21)])
    assert "error" not in response, response
    return acct


@pytest.fixture(scope="session")
def models(w3: Web3, account: Any) -> dict[str, bytes]:
    """The test models, uploaded and registered (pushing is idempotent: a model another run
    registered is only uploaded)."""
    return {
        name: bytes(anh.push_model(w3, TESTDATA / f"{name}.onnx", name, account=account))
        for name in MODELS
    }


def ort_session(name: str) -> ort.InferenceSession:
    """ONNX Runtime on ``name``.onnx with the node's settings (CPU, one intra-op thread, all
    graph optimisations)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(TESTDATA / f"{name}.onnx"), options,
                                providers=["CPUExecutionProvider"])


def ort_run(name: str, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """ONNX Runtime's outputs of ``name`` on ``inputs`` (in the model's input order)."""
    session = ort_session(name)
    feeds = {i.name: x for i, x in zip(session.get_inputs(), inputs)}
    return [np.asarray(y) for y in session.run(None, feeds)]


def unique_model() -> bytes:
    """mlp.onnx with a random ``doc_string`` appended (ModelProto field 6): a model no node has
    seen, so that registering it really sends a transaction."""
    text = f"anh-sdk test {secrets.token_hex(16)}".encode()
    return (TESTDATA / "mlp.onnx").read_bytes() + b"\x32" + bytes([len(text)]) + text
