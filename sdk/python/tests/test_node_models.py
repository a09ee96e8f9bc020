"""Uploading and registering models: push_model end to end, its parts, what the node refuses, and
the registry's records."""

from __future__ import annotations

import secrets

import pytest
from conftest import RPC_URL, TESTDATA, unique_model
from eth_account import Account

import anh
from anh import abi


def test_push_uploads_and_registers(w3, account):
    data = unique_model()
    seen: list[tuple[int, int]] = []
    before = w3.eth.block_number
    model = anh.push_model(w3, data, "sdk-mlp", account=account,
                           progress=lambda sent, total: seen.append((sent, total)))
    assert model == anh.model_hash(data)  # keccak256 of the file
    assert seen and seen[-1] == (len(data), len(data))
    assert w3.eth.block_number == before + 1  # the registration transaction
    assert anh.is_registered(w3, model)

    info = anh.model_info(w3, model)
    assert (info.model, info.name, info.owner, info.size) == (model, "sdk-mlp", account.address, len(data))
    assert info.registered_at == before + 1 and not info.is_trained
    [x] = info.inputs
    assert (x.name, x.dtype, x.shape, x.dim_params, x.dims) == ("x", 1, (-1, 4), ("batch", ""), ("batch", 4))
    assert info.outputs[0].dims == ("batch", 3)
    assert info.cost.macs(1) == info.macs and info.cost.macs(32) == 32 * info.macs

    node = anh.get_model(w3, model)
    assert node is not None
    assert node["registration"] == {"name": "sdk-mlp", "owner": account.address.lower(),
                                    "block": before + 1}
    assert node["url"] == f"/models/{model.to_0x_hex()}"

    # Pushing again only uploads: no transaction.
    assert anh.push_model(w3, data, "sdk-mlp", account=account) == model
    assert w3.eth.block_number == before + 1


def test_upload_then_register_with_a_rule(account, w3):
    data = unique_model()
    # A URL works wherever a Web3 does for the upload.
    model = anh.upload_model(RPC_URL, data)
    assert not anh.is_registered(w3, model)
    assert anh.get_model(w3, model)["registration"] is None
    receipt = anh.register_model(w3, model, "argmax-mlp", account=account, rule=anh.Rule.argmax())
    [log] = receipt["logs"]
    assert log["address"] == abi.REGISTRY_ADDRESS
    assert bytes(log["topics"][0]) == abi.MODEL_REGISTERED_TOPIC and bytes(log["topics"][1]) == model
    assert anh.model_info(w3, model).rule == anh.Rule.argmax()
    with pytest.raises(anh.AlreadyRegistered) as info:
        anh.register_model(w3, model, "again", account=account)
    assert info.value.model == model


def test_upload_from_a_path_and_through_anh_put_model(w3, monkeypatch):
    path = TESTDATA / "mlp.onnx"
    assert anh.upload_model(w3, path) == anh.model_hash(path)
    # A provider without an HTTP endpoint (e.g. IPC) falls back to anh_putModel.
    monkeypatch.setattr("anh.client._http_url", lambda _: None)
    seen: list[tuple[int, int]] = []
    data = unique_model()
    assert anh.upload_model(w3, data, progress=lambda s, t: seen.append((s, t))) == anh.model_hash(data)
    assert seen == [(len(data), len(data))]
    with pytest.raises(anh.UploadError, match="model refused"):
        anh.upload_model(w3, (TESTDATA / "not_onnx.bin").read_bytes())


@pytest.mark.parametrize("name,reason", [
    ("not_onnx.bin", "model refused: "),
    ("custom_domain.onnx", "com.microsoft"),
    ("external_data.onnx", "external data location"),
    ("local_function.onnx", "model-local functions are not allowed"),
    ("nested_bomb.onnx", "nests subgraphs deeper"),
    ("overflow_shape.onnx", "more elements than fit in 64 bits"),
])
def test_the_node_refuses_bad_models(w3, name, reason):
    with pytest.raises(anh.UploadError) as info:
        anh.upload_model(w3, TESTDATA / name)
    assert info.value.status == 400
    assert info.value.reason.startswith("model refused: ") and reason in info.value.reason


def test_register_what_was_never_uploaded(w3, account):
    model = secrets.token_bytes(32)
    with pytest.raises(anh.ModelUnavailable) as info:
        anh.register_model(w3, model, "ghost", account=account)
    assert info.value.model == model and str(info.value).startswith("ModelUnavailable(0x")
    with pytest.raises(anh.UnknownModel):
        anh.model_info(w3, model)
    assert not anh.is_registered(w3, model)
    assert anh.get_model(w3, model) is None


def test_register_through_an_unlocked_account(w3):
    """account= an address: the node signs (eth_sendTransaction), here for an impersonated one."""
    sender = Account.create().address
    assert "error" not in w3.provider.make_request("anvil_setBalance", [sender, hex(10**20)])
    assert "error" not in w3.provider.make_request("anvil_impersonateAccount", [sender])
    try:
        model = anh.upload_model(w3, unique_model())
        anh.register_model(w3, model, "impersonated", account=sender)
        assert anh.model_info(w3, model).owner == sender
    finally:
        w3.provider.make_request("anvil_stopImpersonatingAccount", [sender])


def test_register_with_a_private_key(w3, account):
    model = anh.upload_model(w3, unique_model())
    receipt = anh.register_model(w3, model, "by-key", account="0x" + bytes(account.key).hex())
    assert receipt["from"] == account.address


def test_upload_progress_of_a_larger_file(w3):
    seen: list[tuple[int, int]] = []
    path = TESTDATA / "mlp_784_256_10.onnx"  # 814 369 bytes: four pieces of 256 KiB
    assert anh.upload_model(w3, path, progress=lambda s, t: seen.append((s, t))) == anh.model_hash(path)
    size = path.stat().st_size
    assert seen == [(262144, size), (524288, size), (786432, size), (size, size)]
