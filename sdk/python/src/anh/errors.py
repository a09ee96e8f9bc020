"""The SDK's exceptions, and the precompiles' custom errors (``IDnnErrors`` in
``contracts/src/dnn/IDnn.sol``) decoded from revert data.

Every revert of a DNN precompile is one of the :class:`DnnError` subclasses below, with the
error's fields as attributes and the node's wording as its message. The SDK's own calls raise
them directly; :func:`decode_revert` and :func:`error_from_exception` decode them from revert
bytes or from a web3.py exception (``ContractCustomError``, ``ContractLogicError``,
``Web3RPCError``) of your own calls, e.g. of a contract that calls the precompiles and lets their
error through::

    try:
        contract.functions.classify(model, features).call()
    except ContractCustomError as e:
        err = anh.error_from_exception(e)   # e.g. InputMismatch(input=0, expected=…, got=…)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from eth_abi.abi import decode as abi_decode
from eth_utils.abi import function_signature_to_4byte_selector
from hexbytes import HexBytes

__all__ = [
    "AlreadyRegistered",
    "AnhError",
    "AttestationError",
    "BadTensor",
    "ConversionError",
    "ConversionFailed",
    "DnnError",
    "InferenceFailed",
    "InputMismatch",
    "MalformedCall",
    "ModelUnavailable",
    "NoQuorum",
    "TensorError",
    "TensorTooLarge",
    "TrainingFailed",
    "TransactionFailed",
    "UnknownModel",
    "UnknownSelector",
    "UploadError",
    "WriteInStaticCall",
    "WrongInputCount",
    "DNN_ERRORS",
    "decode_revert",
    "error_from_exception",
]


class AnhError(Exception):
    """Base class of every exception the SDK raises on purpose."""


class TensorError(AnhError, ValueError):
    """A tensor that cannot be built: unknown dtype, data length that does not fit the shape,
    an array of something other than numbers."""


class ConversionError(AnhError, ValueError):
    """An element does not fit the type it is converted to (NaN or an infinity into an integer
    or fixed-point type, a value out of range, a bool other than 0 or 1).

    The local twin of the node's :class:`ConversionFailed` revert: the same rules, the same
    ``reason`` wording. ``element`` is the element's row-major index."""

    def __init__(self, element: int, reason: str) -> None:
        super().__init__(f"element {element}: {reason}")
        self.element = element
        self.reason = reason


class UploadError(AnhError):
    """The node refused a model upload (``PUT /models`` or ``anh_putModel``): ``reason`` is the
    node's message ("model refused: …"), ``status`` the HTTP status (None over JSON-RPC)."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason if status is None else f"{reason} (HTTP {status})")
        self.reason = reason
        self.status = status


class TransactionFailed(AnhError):
    """A transaction the SDK sent was mined with status 0. ``receipt`` is its receipt;
    ``reason`` what the block's attestations say about the job, if they say anything."""

    def __init__(self, message: str, receipt: Any, reason: str | None = None) -> None:
        super().__init__(message if reason is None else f"{message}: {reason}")
        self.receipt = receipt
        self.reason = reason


class AttestationError(AnhError, ValueError):
    """An attestation record that does not check out (:meth:`anh.Attestation.verify`,
    :meth:`anh.Attestation.signers`): a record that is not the leaf the committee signed, an
    inclusion proof that does not lead to the signed root, a malformed signature or one by a
    stranger, a signer counted twice, too few signers. ``job`` is the record's job id,
    ``reason`` the sentence (the message is ``"job 0x…: " + reason``)."""

    def __init__(self, job: bytes, reason: str) -> None:
        super().__init__(f"job 0x{bytes(job).hex()}: {reason}")
        self.job = HexBytes(job)
        self.reason = reason


class DnnError(AnhError):
    """A revert of a DNN precompile: one of the custom errors of ``IDnnErrors``.

    ``data`` is the revert data (selector and ABI-encoded fields); the message is the node's
    own sentence for it, word for word ("InputMismatch: input 0: expected float32 [batch, 4],
    got float32 [1, 5]"), as its JSON-RPC error says after "execution reverted: "."""

    #: The Solidity signature, e.g. ``"UnknownModel(bytes32)"``.
    signature: ClassVar[str] = ""
    #: The fields' names, in the signature's order.
    fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *args: Any, data: bytes | None = None) -> None:
        if len(args) != len(self.fields):
            raise TypeError(f"{type(self).__name__} takes {len(self.fields)} field(s): {self.fields}")
        for name, value in zip(self.fields, args):
            setattr(self, name, value)
        self.data = HexBytes(data) if data is not None else None
        super().__init__(self._message())

    @classmethod
    def error_selector(cls) -> bytes:
        """The error's 4-byte selector."""
        return function_signature_to_4byte_selector(cls.signature)

    def _message(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.fields)
        return f"{type(self).__name__}({fields})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and all(
            getattr(self, n) == getattr(other, n) for n in self.fields
        )

    def __hash__(self) -> int:
        return hash((type(self), tuple(getattr(self, n) for n in self.fields)))


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


class UnknownModel(DnnError):
    """The model is not registered on chain."""

    signature = "UnknownModel(bytes32)"
    fields = ("model",)
    model: HexBytes

    def _message(self) -> str:
        return (f"UnknownModel({_hex(self.model)}): the model is not registered; register it "
                "with `anh model push FILE --name NAME`")


class ModelUnavailable(DnnError):
    """The node's model store does not hold the model's bytes (upload it first)."""

    signature = "ModelUnavailable(bytes32)"
    fields = ("model",)
    model: HexBytes

    def _message(self) -> str:
        return (f"ModelUnavailable({_hex(self.model)}): this node's model store does not hold "
                "the model; upload it with `anh model push` or anh_putModel")


class AlreadyRegistered(DnnError):
    """The model is registered already."""

    signature = "AlreadyRegistered(bytes32)"
    fields = ("model",)
    model: HexBytes

    def _message(self) -> str:
        return f"AlreadyRegistered({_hex(self.model)}): the model is registered already"


class WrongInputCount(DnnError):
    """The call passed a different number of inputs than the model takes."""

    signature = "WrongInputCount(uint256,uint256)"
    fields = ("expected", "got")
    expected: int
    got: int

    def _message(self) -> str:
        return f"WrongInputCount: the model takes {self.expected} input(s), got {self.got}"


class InputMismatch(DnnError):
    """An input's type or shape does not fit the model's declared one (``expected`` and ``got``
    are the node's descriptions, e.g. ``"float32 [batch, 4]"``)."""

    signature = "InputMismatch(uint256,string,string)"
    fields = ("input", "expected", "got")
    input: int
    expected: str
    got: str

    def _message(self) -> str:
        return f"InputMismatch: input {self.input}: expected {self.expected}, got {self.got}"


class BadTensor(DnnError):
    """An input tensor is malformed (unknown dtype, data length, shape overflow, NaN in a
    training batch, …)."""

    signature = "BadTensor(uint256,string)"
    fields = ("input", "reason")
    input: int
    reason: str

    def _message(self) -> str:
        return f"BadTensor: input {self.input}: {self.reason}"


class TensorTooLarge(DnnError):
    """A tensor has more elements than the node's limit."""

    signature = "TensorTooLarge(uint256,uint256,uint256)"
    fields = ("input", "elements", "limit")
    input: int
    elements: int
    limit: int

    def _message(self) -> str:
        return (f"TensorTooLarge: input {self.input} has {self.elements} elements, the limit is "
                f"{self.limit}")


class ConversionFailed(DnnError):
    """An element does not fit the type it is converted to: ``tensor`` is the input's index
    (or the output's, for outputs), ``element`` the element's row-major index."""

    signature = "ConversionFailed(uint256,uint256,string)"
    fields = ("tensor", "element", "reason")
    tensor: int
    element: int
    reason: str

    def _message(self) -> str:
        return f"ConversionFailed: tensor {self.tensor}, element {self.element}: {self.reason}"


class InferenceFailed(DnnError):
    """ONNX Runtime (or the executors) failed to compute the result."""

    signature = "InferenceFailed(string)"
    fields = ("reason",)
    reason: str

    def _message(self) -> str:
        return f"InferenceFailed: {self.reason}"


class WriteInStaticCall(DnnError):
    """A state-changing precompile function was called under STATICCALL."""

    signature = "WriteInStaticCall()"
    fields = ()

    def _message(self) -> str:
        return "WriteInStaticCall: this function changes state and cannot run under STATICCALL"


class UnknownSelector(DnnError):
    """The calldata does not select a function of this precompile."""

    signature = "UnknownSelector(bytes4)"
    fields = ("selector",)
    selector: HexBytes

    def _message(self) -> str:
        return f"UnknownSelector({_hex(self.selector)}): no such function in this precompile"


class MalformedCall(DnnError):
    """The calldata could not be decoded, or the call is not allowed as made."""

    signature = "MalformedCall(string)"
    fields = ("reason",)
    reason: str

    def _message(self) -> str:
        return f"MalformedCall: {self.reason}"


class NoQuorum(DnnError):
    """Fewer than ``threshold`` executors of the committee signed the result of ``job``."""

    signature = "NoQuorum(bytes32,uint256,uint256)"
    fields = ("job", "signatures", "threshold")
    job: HexBytes
    signatures: int
    threshold: int

    def _message(self) -> str:
        return (f"NoQuorum({_hex(self.job)}): no quorum: {self.signatures} executor signature(s), "
                f"the committee needs {self.threshold}")


class TrainingFailed(DnnError):
    """Training failed (a model that cannot be trained, a loss that is not finite, …); no model
    was registered."""

    signature = "TrainingFailed(string)"
    fields = ("reason",)
    reason: str

    def _message(self) -> str:
        return f"TrainingFailed: {self.reason}"


#: Every custom error of ``IDnnErrors``, in the order IDnn.sol declares them.
DNN_ERRORS: tuple[type[DnnError], ...] = (
    UnknownModel,
    ModelUnavailable,
    AlreadyRegistered,
    WrongInputCount,
    InputMismatch,
    BadTensor,
    TensorTooLarge,
    ConversionFailed,
    InferenceFailed,
    WriteInStaticCall,
    UnknownSelector,
    MalformedCall,
    NoQuorum,
    TrainingFailed,
)

_BY_SELECTOR: dict[bytes, type[DnnError]] = {cls.error_selector(): cls for cls in DNN_ERRORS}


def _arg_types(signature: str) -> list[str]:
    inner = signature[signature.index("(") + 1 : -1]
    return inner.split(",") if inner else []


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "bytes32": HexBytes,
    "bytes4": HexBytes,
    "uint256": int,
    "string": str,
}


def decode_revert(data: bytes | str | None) -> DnnError | None:
    """The :class:`DnnError` that revert ``data`` (bytes or 0x-hex) encodes, or None when it is
    not one of ``IDnnErrors`` (an ``Error(string)``, another contract's error, empty data)."""
    if data is None:
        return None
    raw = bytes(HexBytes(data)) if isinstance(data, str) else bytes(data)
    cls = _BY_SELECTOR.get(raw[:4])
    if cls is None:
        return None
    types = _arg_types(cls.signature)
    try:
        values = abi_decode(types, raw[4:]) if types else ()
    except Exception:  # noqa: BLE001 - malformed data is simply not one of ours
        return None
    return cls(*(_CONVERT[t](v) for t, v in zip(types, values)), data=raw)


def _revert_data(exc: BaseException) -> Any:
    data = getattr(exc, "data", None)
    if isinstance(data, dict):  # some providers nest it: {"data": "0x…"}
        data = data.get("data")
    if data is not None:
        return data
    response = getattr(exc, "rpc_response", None)
    if isinstance(response, dict):
        error = response.get("error")
        if isinstance(error, dict):
            return error.get("data")
    for arg in getattr(exc, "args", ()):
        if isinstance(arg, dict) and "data" in arg:
            return arg["data"]
    return None


def error_from_exception(exc: BaseException) -> DnnError | None:
    """The :class:`DnnError` inside a web3.py exception (``ContractCustomError``,
    ``ContractLogicError``, ``Web3RPCError``; also its ``__cause__``), or None."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, DnnError):
            return seen
        data = _revert_data(seen)
        if isinstance(data, (str, bytes)):
            try:
                found = decode_revert(data)
            except ValueError:
                found = None
            if found is not None:
                return found
        seen = seen.__cause__ or seen.__context__
    return None
