"""Talking to an ANH node: upload and register models, run and train them, read the registry
and the committee's attestations.

Every function takes a connected :class:`web3.Web3` (or, where noted, a node URL). Reads go
through ``eth_call`` (the node runs the model itself, no gas is paid and nothing is recorded);
the ``send_*`` functions send transactions, which the executor committee settles and the block
records. A precompile revert raises the matching :class:`~anh.errors.DnnError` subclass.

Transactions need a sender, ``account=``: an eth-account ``LocalAccount`` or a private key (the
SDK signs locally), or the address of an account the node has unlocked (the node signs, with
``eth_sendTransaction``). Without one, ``w3.eth.default_account`` is used if set; the SDK never
falls back to a dev key on its own: pass ``account=anh.dev_account(0)`` for the devnet's first
account.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Union, cast

import requests
from eth_abi.abi import decode as abi_decode
from eth_account import Account
from eth_account.hdaccount import key_from_seed, seed_from_mnemonic
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractLogicError, Web3RPCError
from web3.types import BlockIdentifier, TxReceipt

from . import abi
from .dtypes import DtypeLike, dtype_code
from .errors import AnhError, TransactionFailed, UploadError, error_from_exception
from .structs import Attestation, InferReceipt, ModelInfo, Rule, TrainParams, TrainResult
from .tensor import Tensor, TensorLike, as_tensor, decode_tensors

__all__ = [
    "DEFAULT_RPC_URL",
    "DEV_MNEMONIC",
    "AccountLike",
    "ModelRef",
    "ModelSource",
    "committee",
    "connect",
    "dev_account",
    "get_attestations",
    "get_model",
    "infer",
    "infer_as",
    "infer_with",
    "is_registered",
    "model_hash",
    "model_info",
    "push_model",
    "register_model",
    "send_infer",
    "send_train",
    "train",
    "upload_model",
]

#: The node URL when neither an argument nor ``ANH_RPC_URL`` gives one.
DEFAULT_RPC_URL = "http://127.0.0.1:8545"
#: The devnet's mnemonic (``anh node``'s default, like anvil's).
DEV_MNEMONIC = "test test test test test test test test test test test junk"

#: A model hash: 32 bytes, or 0x-hex.
ModelRef = Union[bytes, str]
#: A model file: a path, or its bytes.
ModelSource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview]
#: A transaction's sender (see the module docs).
AccountLike = Union[LocalAccount, str, bytes, None]
#: ``progress(sent, total)``: bytes of the upload sent so far, of ``total``.
Progress = Callable[[int, int], None]

_UPLOAD_PIECE = 256 << 10


# ----------------------------------------------------------------------------------------------
# Connections, accounts, arguments


def connect(url: str | None = None, *, timeout: float = 120.0) -> Web3:
    """A :class:`Web3` over HTTP to ``url`` (default ``$ANH_RPC_URL``, else
    ``http://127.0.0.1:8545``); ``timeout`` is each request's, in seconds."""
    url = url or os.environ.get("ANH_RPC_URL") or DEFAULT_RPC_URL
    return Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout}))


def _web3(w3_or_url: Web3 | str) -> Web3:
    return connect(w3_or_url) if isinstance(w3_or_url, str) else w3_or_url


def dev_account(index: int = 0, mnemonic: str = DEV_MNEMONIC) -> LocalAccount:
    """Dev account ``index`` (``m/44'/60'/0'/0/index``) of ``mnemonic``: by default the
    devnet's well-known, funded accounts. Never use them on a chain that matters."""
    key = key_from_seed(seed_from_mnemonic(mnemonic, ""), f"m/44'/60'/0'/0/{index}")
    return cast(LocalAccount, Account.from_key(key))


def _model(model: ModelRef) -> bytes:
    raw = bytes(HexBytes(model)) if isinstance(model, str) else bytes(model)
    if len(raw) != 32:
        raise ValueError(f"a model hash is 32 bytes, got {len(raw)}")
    return raw


def model_hash(source: ModelSource) -> HexBytes:
    """A model's hash: ``keccak256`` of its file (what the node and the registry name it by)."""
    return HexBytes(keccak(_read(source)))


def _read(source: ModelSource) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    return Path(source).read_bytes()


def _tensors(values: Sequence[TensorLike]) -> list[tuple[int, list[int], bytes]]:
    if isinstance(values, (Tensor, str, bytes)) or not isinstance(values, Sequence):
        raise TypeError("inputs are a list of tensors (one per model input)")
    return [as_tensor(v).to_abi() for v in values]


def _raise_dnn(e: Exception) -> None:
    err = error_from_exception(e)
    if err is not None:
        raise err from e


def _call(w3: Web3, to: str, data: bytes, block: BlockIdentifier = "latest",
          sender: str | None = None) -> bytes:
    tx: dict[str, Any] = {"to": to, "data": data}
    if sender is not None:
        tx["from"] = to_checksum_address(sender)
    try:
        return bytes(w3.eth.call(cast(Any, tx), block))
    except (ContractLogicError, Web3RPCError) as e:
        _raise_dnn(e)
        raise


def _rpc(w3: Web3, method: str, params: list[Any]) -> Any:
    return _plain(w3.manager.request_blocking(cast(Any, method), params))


def _plain(value: Any) -> Any:
    """web3.py's AttributeDicts as plain dicts and lists, recursively."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# ----------------------------------------------------------------------------------------------
# Reads: eth_call


def infer(w3: Web3, model: ModelRef, inputs: Sequence[TensorLike], *,
          block: BlockIdentifier = "latest") -> list[Tensor]:
    """Runs ``model`` on ``inputs`` (one tensor per model input: :class:`Tensor` objects, or
    arrays sent in their own dtype) with ``eth_call``; the node converts each input to the
    model's declared dtype. Returns the outputs in the model's own dtypes."""
    data = abi.calldata("infer", [_model(model), _tensors(inputs)])
    return decode_tensors(_call(w3, abi.INFER_ADDRESS, data, block))


def infer_as(w3: Web3, model: ModelRef, inputs: Sequence[TensorLike], output_dtype: DtypeLike,
             *, block: BlockIdentifier = "latest") -> list[Tensor]:
    """Like :func:`infer`, with every output converted to ``output_dtype`` by the node (e.g.
    ``anh.fixed(6)`` or ``"fixed6"``: fixed-point, rounded to nearest, ties to even)."""
    data = abi.calldata("inferAs", [_model(model), _tensors(inputs), dtype_code(output_dtype)])
    return decode_tensors(_call(w3, abi.INFER_ADDRESS, data, block))


def infer_with(w3: Web3, model: ModelRef, inputs: Sequence[TensorLike], rule: Rule, *,
               output_dtype: DtypeLike | None = None,
               block: BlockIdentifier = "latest") -> list[Tensor]:
    """Like :func:`infer_as` (``output_dtype`` None: the model's own dtypes), settled by
    ``rule`` rather than the model's registered rule (what matters in a transaction; an
    ``eth_call`` runs on the node alone, but the rule is still checked)."""
    code = 0 if output_dtype is None else dtype_code(output_dtype)
    data = abi.calldata("inferWith", [_model(model), _tensors(inputs), code, rule.to_abi()])
    return decode_tensors(_call(w3, abi.INFER_ADDRESS, data, block))


def _train_call(model: ModelRef, batch: Sequence[TensorLike], params: TrainParams,
                trainable: Sequence[str] | None, lora_targets: Sequence[str] | None,
                lora_rank: int | None, rule: Rule | None) -> bytes:
    given = [x is not None for x in (trainable, lora_targets, rule)]
    if sum(given) > 1:
        raise ValueError("trainable, lora_targets and rule do not combine: pass one of them")
    if (lora_targets is None) != (lora_rank is None):
        raise ValueError("lora_targets and lora_rank go together")
    base = [_model(model), _tensors(batch), params.to_abi()]
    if trainable is not None:
        return abi.calldata("trainOnly", base + [list(trainable)])
    if lora_targets is not None:
        return abi.calldata("trainAdapters", base + [list(lora_targets), int(cast(int, lora_rank))])
    if rule is not None:
        return abi.calldata("trainWith", base + [rule.to_abi()])
    return abi.calldata("train", base)


def train(w3: Web3, model: ModelRef, batch: Sequence[TensorLike], params: TrainParams, *,
          trainable: Sequence[str] | None = None, lora_targets: Sequence[str] | None = None,
          lora_rank: int | None = None, rule: Rule | None = None, sender: str | None = None,
          block: BlockIdentifier = "latest") -> TrainResult:
    """Trains ``model`` on ``batch`` with ``eth_call``: the model's inputs in order, then the
    labels (int64 class indices ``[batch]`` for cross-entropy; targets shaped like output 0 for
    MSE), then for weighted cross-entropy one weight per sample. Nothing is recorded: the node
    trains, keeps the new model in memory for the call, and answers its hash and loss (what a
    transaction would register; :func:`send_train` sends one).

    ``trainable``: only these initializers train (``trainOnly``); ``lora_targets`` and
    ``lora_rank``: LoRA adapters on these weights (``trainAdapters``); ``rule``: settled by
    this rule (``trainWith``). ``sender`` is the call's ``from`` (the trainer)."""
    data = _train_call(model, batch, params, trainable, lora_targets, lora_rank, rule)
    new_model, loss = abi_decode(["bytes32", "int256"], _call(w3, abi.TRAIN_ADDRESS, data, block, sender))
    return TrainResult(HexBytes(new_model), int(loss), HexBytes(_model(model)))


def model_info(w3: Web3, model: ModelRef, *, block: BlockIdentifier = "latest") -> ModelInfo:
    """The registry's record of ``model`` (``IModelInfo.modelInfo``); raises
    :class:`~anh.errors.UnknownModel` if it is not registered."""
    return ModelInfo.decode(_call(w3, abi.INFO_ADDRESS, abi.calldata("modelInfo", [_model(model)]), block))


def is_registered(w3: Web3, model: ModelRef, *, block: BlockIdentifier = "latest") -> bool:
    """Whether ``model`` is registered (``IModelInfo.isRegistered``)."""
    data = _call(w3, abi.INFO_ADDRESS, abi.calldata("isRegistered", [_model(model)]), block)
    return bool(abi_decode(["bool"], data)[0])


def get_model(w3: Web3, model: ModelRef) -> dict[str, Any] | None:
    """``anh_getModel``: the node's analysis of a model it stores (``hash``, ``size``,
    ``macs``, ``cost``, ``inputs``, ``outputs``, ``parent``), its on-chain ``registration``
    (``name``, ``owner``, ``block``) or None, and ``url``, the file's path on the node; None
    when the node's store does not hold the model."""
    value = _rpc(w3, "anh_getModel", ["0x" + _model(model).hex()])
    return None if value is None else dict(value)


def get_attestations(w3: Web3, block: BlockIdentifier) -> list[Attestation] | None:
    """``anh_getAttestations``: the DNN job records block ``block`` (a number, a tag such as
    "latest", or a block hash) carries, or None for an unknown block."""
    if isinstance(block, int):
        param: Any = hex(block)
    elif isinstance(block, bytes):
        param = "0x" + block.hex()
    else:
        param = block
    value = _rpc(w3, "anh_getAttestations", [param])
    return None if value is None else [Attestation.from_json(r) for r in value]


def committee(w3: Web3) -> dict[str, Any] | None:
    """``anh_committee``: ``{members, threshold, defaultRule, executors, nodeAddress}``, or None
    on a node without a committee."""
    value = _rpc(w3, "anh_committee", [])
    return None if value is None else dict(value)


# ----------------------------------------------------------------------------------------------
# Upload


class _Upload:
    """A request body that reports its progress as the HTTP client reads it."""

    def __init__(self, data: bytes, progress: Progress | None) -> None:
        self._data = memoryview(data)
        self._at = 0
        self._reported = 0
        self._progress = progress

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Any:
        while chunk := self.read(_UPLOAD_PIECE):
            yield chunk

    def read(self, size: int = -1) -> bytes:
        end = len(self._data) if size is None or size < 0 else min(len(self._data), self._at + size)
        chunk = bytes(self._data[self._at:end])
        self._at = end
        due = end - self._reported >= _UPLOAD_PIECE or (end == len(self._data) and end != self._reported)
        if self._progress is not None and due:
            self._reported = end
            self._progress(end, len(self._data))
        return chunk


def _http_url(w3: Web3) -> str | None:
    url = getattr(w3.provider, "endpoint_uri", None)
    if not isinstance(url, str):
        return None
    if url.startswith("ws://") or url.startswith("wss://"):  # the node serves both on one port
        url = "http" + url[2:]
    return url if url.startswith(("http://", "https://")) else None


def upload_model(w3_or_url: Web3 | str, source: ModelSource, *, progress: Progress | None = None,
                 upload_token: str | None = None, http_url: str | None = None,
                 timeout: float = 600.0) -> HexBytes:
    """Uploads a model file (a path or its bytes) to the node's model store and returns its
    hash. The node analyses it and refuses what must not run (external data, custom operator
    domains, files that are not ONNX, …): :class:`~anh.errors.UploadError` with its reason.

    Sent as ``PUT {url}/models`` with the raw file (any size up to the node's limit; with
    ``upload_token`` as ``Authorization: Bearer``), ``progress(sent, total)`` called as it goes.
    The URL is ``http_url``, else the provider's (an HTTP or WebSocket endpoint); a provider
    without one (IPC) falls back to ``anh_putModel`` (hex in JSON-RPC, for small files).

    Models that keep weights in external data files (every model past 2 GB) are out of scope:
    push them with ``anh model push``, which uploads the weight blobs first."""
    data = _read(source)
    expected = HexBytes(keccak(data))
    w3: Web3 | None = None
    if isinstance(w3_or_url, str):
        url: str | None = http_url or w3_or_url
    else:
        w3 = w3_or_url
        url = http_url or _http_url(w3)
    if url is None:
        if upload_token is not None:
            raise UploadError("anh_putModel cannot carry an upload token: pass http_url=")
        try:
            answer = _rpc(cast(Web3, w3), "anh_putModel", ["0x" + data.hex()])
        except Web3RPCError as e:
            raise UploadError(str(e)) from e
        if progress is not None:
            progress(len(data), len(data))
        got = HexBytes(answer)
    else:
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(len(data))}
        if upload_token is not None:
            headers["Authorization"] = f"Bearer {upload_token}"
        try:
            response = requests.put(url.rstrip("/") + "/models", data=_Upload(data, progress),
                                    headers=headers, timeout=timeout)
        except requests.RequestException as e:
            raise UploadError(f"cannot reach the node at {url}: {e}") from e
        try:
            body = response.json()
        except ValueError:
            body = {"error": response.text.strip() or "the node's answer is not JSON"}
        if not response.ok:
            raise UploadError(str(body.get("error", body)), response.status_code)
        got = HexBytes(body["hash"])
    if got != expected:
        raise UploadError(f"the node answered hash {got.to_0x_hex()} for a file whose keccak256 is "
                          f"{expected.to_0x_hex()}")
    return got


# ----------------------------------------------------------------------------------------------
# Transactions


def _sender(w3: Web3, account: AccountLike) -> tuple[LocalAccount | None, str]:
    if account is None:
        default = w3.eth.default_account
        if isinstance(default, str) and Web3.is_address(default):
            return None, to_checksum_address(default)
        if isinstance(default, LocalAccount):
            return default, default.address
        raise ValueError(
            "this sends a transaction: pass account= (a private key, an eth-account LocalAccount, "
            "or an address the node has unlocked; anh.dev_account(0) on a devnet), or set "
            "w3.eth.default_account"
        )
    if isinstance(account, LocalAccount):
        return account, account.address
    if isinstance(account, bytes) and len(account) == 32:
        signer = cast(LocalAccount, Account.from_key(account))
        return signer, signer.address
    if isinstance(account, str):
        text = account.strip()
        if Web3.is_address(text):
            return None, to_checksum_address(text)
        if len(text.removeprefix("0x")) == 64:
            signer = cast(LocalAccount, Account.from_key(text))
            return signer, signer.address
    if hasattr(account, "sign_transaction") and hasattr(account, "address"):
        return cast(LocalAccount, account), cast(LocalAccount, account).address
    raise ValueError("account= is a private key, an eth-account LocalAccount or an address")


def _transact(w3: Web3, to: str, data: bytes, account: AccountLike, timeout: float,
              model: bytes | None = None) -> TxReceipt:
    signer, sender = _sender(w3, account)
    tx: dict[str, Any] = {"from": sender, "to": to, "data": data, "value": 0}
    try:
        gas = w3.eth.estimate_gas(cast(Any, tx))
    except (ContractLogicError, Web3RPCError) as e:
        _raise_dnn(e)
        raise
    tx["gas"] = gas + gas // 5
    try:
        if signer is None:
            tx_hash = w3.eth.send_transaction(cast(Any, tx))
        else:
            tip = w3.eth.max_priority_fee
            base = int(w3.eth.get_block("latest").get("baseFeePerGas") or 0)
            del tx["from"]
            tx.update(
                type=2,
                chainId=w3.eth.chain_id,
                nonce=w3.eth.get_transaction_count(cast(ChecksumAddress, sender), "pending"),
                maxPriorityFeePerGas=tip,
                maxFeePerGas=2 * base + tip,
            )
            signed = signer.sign_transaction(tx)
            tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    except (ContractLogicError, Web3RPCError) as e:
        _raise_dnn(e)
        raise
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout, poll_latency=0.1)
    if receipt["status"] != 1:
        reason = None
        if model is not None:
            records = get_attestations(w3, receipt["blockNumber"]) or []
            failures = [a.failure for a in records if a.model == model and not a.settled and a.failure]
            reason = "; ".join(failures) or None
        raise TransactionFailed(f"transaction {HexBytes(tx_hash).to_0x_hex()} reverted", receipt, reason)
    return receipt


def register_model(w3: Web3, model: ModelRef, name: str, *, account: AccountLike = None,
                   rule: Rule | None = None, timeout: float = 120.0) -> TxReceipt:
    """Registers a model the node's store holds under ``name`` (a transaction to
    ``IModelRegistry.register`` at 0x…0D00, or ``registerWithRule`` with ``rule``) and returns
    the receipt. Raises :class:`~anh.errors.AlreadyRegistered`,
    :class:`~anh.errors.ModelUnavailable` (not uploaded), … before sending."""
    m = _model(model)
    data = (abi.calldata("register", [m, name]) if rule is None
            else abi.calldata("registerWithRule", [m, name, rule.to_abi()]))
    return _transact(w3, abi.REGISTRY_ADDRESS, data, account, timeout, m)


def push_model(w3_or_url: Web3 | str, source: ModelSource, name: str, *,
               account: AccountLike = None, progress: Progress | None = None,
               rule: Rule | None = None, upload_token: str | None = None,
               timeout: float = 600.0) -> HexBytes:
    """Uploads a model (a path or its bytes) and registers it as ``name``, like ``anh model
    push``; returns the model hash. Idempotent: a model registered already is only uploaded
    (so the node's store holds it) and no transaction is sent. The registration is signed by
    ``account`` (see the module docs; required unless ``w3.eth.default_account`` is set).

    ``progress(sent, total)`` follows the upload. Models with external data (past 2 GB) are
    not supported here: use ``anh model push``."""
    w3 = _web3(w3_or_url)
    model = upload_model(w3, source, progress=progress, upload_token=upload_token, timeout=timeout)
    if not is_registered(w3, model):
        register_model(w3, model, name, account=account, rule=rule, timeout=timeout)
    return model


def send_infer(w3: Web3, model: ModelRef, inputs: Sequence[TensorLike], *,
               account: AccountLike = None, output_dtype: DtypeLike | None = None,
               rule: Rule | None = None, timeout: float = 120.0) -> InferReceipt:
    """Runs ``model`` in a transaction (``infer``, ``inferAs`` with ``output_dtype``,
    ``inferWith`` with ``rule``): the committee settles it and the block records its
    attestation. A transaction has no return data, so this returns the receipt with the block's
    attestation records of this model's inference, whose ``outputs`` are the settled outputs
    (in the model's own dtypes; ``output_dtype`` converts only what the EVM saw)."""
    m = _model(model)
    tensors = _tensors(inputs)
    if rule is not None:
        code = 0 if output_dtype is None else dtype_code(output_dtype)
        data = abi.calldata("inferWith", [m, tensors, code, rule.to_abi()])
    elif output_dtype is not None:
        data = abi.calldata("inferAs", [m, tensors, dtype_code(output_dtype)])
    else:
        data = abi.calldata("infer", [m, tensors])
    receipt = _transact(w3, abi.INFER_ADDRESS, data, account, timeout, m)
    records = get_attestations(w3, receipt["blockNumber"]) or []
    return InferReceipt(receipt, tuple(a for a in records if a.kind == "infer" and a.model == m))


def send_train(w3: Web3, model: ModelRef, batch: Sequence[TensorLike], params: TrainParams, *,
               account: AccountLike = None, trainable: Sequence[str] | None = None,
               lora_targets: Sequence[str] | None = None, lora_rank: int | None = None,
               rule: Rule | None = None, timeout: float = 300.0) -> TrainResult:
    """Trains ``model`` in a transaction (arguments as :func:`train`): the committee settles
    it and the new model is registered on chain with ``model`` as its parent. Returns the new
    model and its loss from the transaction's ``ModelTrained`` event, with the receipt."""
    m = _model(model)
    data = _train_call(m, batch, params, trainable, lora_targets, lora_rank, rule)
    receipt = _transact(w3, abi.TRAIN_ADDRESS, data, account, timeout, m)
    for log in receipt["logs"]:
        topics = [bytes(t) for t in log["topics"]]
        if (to_checksum_address(log["address"]) == abi.TRAIN_ADDRESS and topics
                and topics[0] == abi.MODEL_TRAINED_TOPIC and topics[1] == m):
            (loss,) = abi_decode(["int256"], bytes(log["data"]))
            return TrainResult(HexBytes(topics[2]), int(loss), HexBytes(m), receipt)
    raise AnhError(f"the train transaction {receipt['transactionHash'].to_0x_hex()} emitted no "
                   "ModelTrained event")
