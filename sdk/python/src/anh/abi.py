"""Addresses, function signatures and calldata of ANH's DNN precompiles (``IDnn.sol``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from .structs import RULE_ABI, TRAIN_PARAMS_ABI
from .tensor import TENSOR_ABI, TENSORS_ABI

__all__ = [
    "INFER_ADDRESS",
    "INFO_ADDRESS",
    "MODEL_REGISTERED_TOPIC",
    "MODEL_TRAINED_TOPIC",
    "REGISTRY_ADDRESS",
    "SIGNATURES",
    "TRAIN_ADDRESS",
    "calldata",
    "selector",
]

#: ``IModelRegistry``: register, registerWithRule.
REGISTRY_ADDRESS = to_checksum_address("0x0000000000000000000000000000000000000d00")
#: ``IInfer``: infer, inferAs, inferWith.
INFER_ADDRESS = to_checksum_address("0x0000000000000000000000000000000000000d01")
#: ``ITrain``: train, trainWith, trainOnly, trainAdapters.
TRAIN_ADDRESS = to_checksum_address("0x0000000000000000000000000000000000000d02")
#: ``IModelInfo``: modelInfo, isRegistered.
INFO_ADDRESS = to_checksum_address("0x0000000000000000000000000000000000000d03")

_T = TENSORS_ABI
_P = TRAIN_PARAMS_ABI
_R = RULE_ABI

#: Each precompile function's argument types, by name.
SIGNATURES: dict[str, list[str]] = {
    "register": ["bytes32", "string"],
    "registerWithRule": ["bytes32", "string", _R],
    "infer": ["bytes32", _T],
    "inferAs": ["bytes32", _T, "uint8"],
    "inferWith": ["bytes32", _T, "uint8", _R],
    "train": ["bytes32", _T, _P],
    "trainWith": ["bytes32", _T, _P, _R],
    "trainOnly": ["bytes32", _T, _P, "string[]"],
    "trainAdapters": ["bytes32", _T, _P, "string[]", "uint8"],
    "modelInfo": ["bytes32"],
    "isRegistered": ["bytes32"],
}

#: ``ModelTrained(bytes32 indexed parent, bytes32 indexed model, address indexed trainer,
#: int256 loss)``'s topic.
MODEL_TRAINED_TOPIC = keccak(text="ModelTrained(bytes32,bytes32,address,int256)")
#: ``ModelRegistered(bytes32 indexed model, address indexed owner, string name)``'s topic.
MODEL_REGISTERED_TOPIC = keccak(text="ModelRegistered(bytes32,address,string)")

assert TENSOR_ABI in TENSORS_ABI


def selector(function: str) -> bytes:
    """The 4-byte selector of precompile ``function`` (a key of :data:`SIGNATURES`)."""
    return function_signature_to_4byte_selector(f"{function}({','.join(SIGNATURES[function])})")


def calldata(function: str, args: Sequence[Any]) -> bytes:
    """The calldata of precompile ``function`` with ABI-ready ``args``."""
    return selector(function) + abi_encode(SIGNATURES[function], list(args))
