"""web3.py against the node at ANH_RPC_URL: deploy, transact (signed locally and with the node's
unlocked accounts), events (process_receipt, get_logs, filters, eth_subscribe over WebSocket),
revert reasons (ContractLogicError and its Panic / custom-error subclasses), gas and fees, the
receipt being there as soon as a send answers, and the unknown-method error.

Every value the tests see is recorded (record.py) for lib/compare-values.mjs, which compares them
between anh and anvil field by field.

    ANH_RPC_URL=http://127.0.0.1:8545 python -m pytest clients/python
"""

import asyncio
import json
import os
import secrets
from pathlib import Path

import pytest
from eth_abi import decode
from eth_account import Account
from eth_utils import function_abi_to_4byte_selector, keccak, to_checksum_address
from web3 import AsyncWeb3, Web3
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    ContractPanicError,
    MethodUnavailable,
    Web3RPCError,
)
from web3.middleware import SignAndSendRawMiddlewareBuilder
from web3.providers.persistent import WebSocketProvider

from record import record

ROOT = Path(__file__).resolve().parents[2]
RPC_URL = os.environ.get("ANH_RPC_URL", "http://127.0.0.1:8545")
WS_URL = os.environ.get("ANH_WS_URL", RPC_URL.replace("http", "ws", 1))
CHAIN_ID = 31337
MNEMONIC = "test test test test test test test test test test test junk"
LOCAL_INDEX, NODE_INDEX = 5, 6  # dev accounts of this client (clients/lib/env.mjs ACCOUNTS.web3py)
SUPPLY = 1_000_000 * 10**18
RECEIPT_TIMEOUT = 10

Account.enable_unaudited_hdwallet_features()


def dev_account(index):
    return Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")


def artifact(name):
    return json.loads((ROOT / "contracts" / "out" / f"{name}.json").read_text())


# Fresh addresses and keys, derived as lib/env.mjs freshAccounts() derives them: from
# ANH_CLIENTS_SEED (one value for both nodes of a compare, so that both see the same recipients
# and transactions) and this client's name.
SEED = os.environ.get("ANH_CLIENTS_SEED") or secrets.token_hex(8)
_fresh = {"n": 0}


def _fresh_digest(kind):
    digest = keccak(text=f"anh-clients/{SEED}/web3py/{kind}/{_fresh['n']}")
    _fresh["n"] += 1
    return digest


def random_address():
    """A fresh address (see SEED)."""
    return to_checksum_address(_fresh_digest("address")[12:])


def is_anvil(client_version):
    """True for anvil's own web3_clientVersion ("anvil/v1.7.1"), not for "anvil/anh-v…"."""
    return client_version.lower().startswith("anvil/v")


def rpc_error(err):
    """The node's JSON-RPC error inside web3.py exception `err`."""
    response = getattr(err, "rpc_response", None) or {}
    return response.get("error") if isinstance(response, dict) else None


def error_selector(abi, name):
    """The 4-byte selector of custom error `name` in `abi`, as 0x-hex."""
    item = next(x for x in abi if x["type"] == "error" and x["name"] == name)
    return "0x" + function_abi_to_4byte_selector(item).hex()


def decode_error(abi, data):
    """(name, args) of the custom error `data` (0x-hex) of `abi`."""
    for item in abi:
        if item["type"] == "error" and data.startswith(error_selector(abi, item["name"])):
            types = [i["type"] for i in item["inputs"]]
            return item["name"], list(decode(types, bytes.fromhex(data[10:])))
    raise AssertionError(f"no error of the ABI matches {data}")


TOKEN = artifact("DevToken")
REVERTER = artifact("Reverter")


@pytest.fixture(scope="module")
def w3():
    w3 = Web3(Web3.HTTPProvider(RPC_URL, request_kwargs={"timeout": 30}))
    assert w3.is_connected()
    return w3


@pytest.fixture(scope="module")
def local():
    return dev_account(LOCAL_INDEX)


@pytest.fixture(scope="module")
def node_address():
    return dev_account(NODE_INDEX).address


@pytest.fixture(scope="module")
def signing_w3(local):
    """A client whose `transact` signs locally with `local` (eth_sendRawTransaction)."""
    w3 = Web3(Web3.HTTPProvider(RPC_URL, request_kwargs={"timeout": 30}))
    w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(local), layer=0)
    w3.eth.default_account = local.address
    return w3


def wait(w3, tx_hash):
    return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT, poll_latency=0.05)


def sign_and_send(w3, account, tx):
    """Fills nonce, fees, gas and chain id, signs with `account` and sends the raw transaction."""
    tx = dict(tx)
    tx.setdefault("from", account.address)
    tx.setdefault("nonce", w3.eth.get_transaction_count(account.address, "pending"))
    tx.setdefault("chainId", CHAIN_ID)
    if "gas" not in tx:
        tx["gas"] = w3.eth.estimate_gas(tx)
    if "gasPrice" not in tx and "maxFeePerGas" not in tx:
        tx["maxPriorityFeePerGas"] = w3.eth.max_priority_fee
        tx["maxFeePerGas"] = 2 * w3.eth.get_block("latest")["baseFeePerGas"] + tx["maxPriorityFeePerGas"]
    signed = account.sign_transaction(tx)
    return w3.eth.send_raw_transaction(signed.raw_transaction)


@pytest.fixture(scope="module")
def token(w3, local):
    factory = w3.eth.contract(abi=TOKEN["abi"], bytecode=TOKEN["bytecode"])
    tx = factory.constructor("Py Token", "PYT", SUPPLY).build_transaction({"from": local.address})
    receipt = record("token.receipt", wait(w3, sign_and_send(w3, local, tx)))
    assert receipt["status"] == 1
    return w3.eth.contract(address=receipt["contractAddress"], abi=TOKEN["abi"])


@pytest.fixture(scope="module")
def reverter(w3, node_address):
    factory = w3.eth.contract(abi=REVERTER["abi"], bytecode=REVERTER["bytecode"])
    receipt = record("reverter.receipt", wait(w3, factory.constructor().transact({"from": node_address})))
    assert receipt["status"] == 1
    record("reverter.tx", w3.eth.get_transaction(receipt["transactionHash"]))
    return w3.eth.contract(address=receipt["contractAddress"], abi=REVERTER["abi"])


def test_connects_and_reads_chain(w3, local):
    assert record("chain_id", w3.eth.chain_id) == CHAIN_ID
    assert record("net.version", w3.net.version) == str(CHAIN_ID)
    assert record("clientVersion", w3.client_version)
    block = record("block", w3.eth.get_block("latest"))
    assert block["number"] == record("block_number", w3.eth.block_number)
    assert block["baseFeePerGas"] > 0
    assert w3.eth.get_block(block["hash"]) == block
    assert record("balance", w3.eth.get_balance(local.address)) > 10**18


def test_deploys_and_reads(w3, token, local):
    assert record("name", token.functions.name().call()) == "Py Token"
    assert record("symbol", token.functions.symbol().call()) == "PYT"
    assert record("decimals", token.functions.decimals().call()) == 18
    assert record("totalSupply", token.functions.totalSupply().call()) == SUPPLY
    assert record("balanceOf", token.functions.balanceOf(local.address).call()) == SUPPLY
    code = record("code", w3.eth.get_code(token.address))
    assert len(code) == (len(TOKEN["deployedBytecode"]) - 2) // 2


def test_transacts_signed_locally_and_processes_receipt(w3, token, local):
    to = random_address()
    tx = token.functions.transfer(to, 1234).build_transaction({"from": local.address})
    receipt = record("receipt", wait(w3, sign_and_send(w3, local, tx)))
    assert receipt["status"] == 1
    (event,) = record("events", token.events.Transfer().process_receipt(receipt))
    assert event["event"] == "Transfer"
    assert dict(event["args"]) == {"from": local.address, "to": to, "value": 1234}
    assert record("balanceOf", token.functions.balanceOf(to).call()) == 1234
    tx = record("tx", w3.eth.get_transaction(receipt["transactionHash"]))
    assert tx["from"] == local.address
    assert tx["blockNumber"] == receipt["blockNumber"]


def test_transacts_with_signing_middleware(signing_w3, token):
    to = random_address()
    contract = signing_w3.eth.contract(address=token.address, abi=TOKEN["abi"])
    receipt = record("receipt", wait(signing_w3, contract.functions.transfer(to, 55).transact()))
    assert receipt["status"] == 1
    record("tx", signing_w3.eth.get_transaction(receipt["transactionHash"]))
    assert record("balanceOf", contract.functions.balanceOf(to).call()) == 55


def test_transacts_with_unlocked_node_account(w3, node_address):
    to = random_address()
    assert node_address in record("accounts", w3.eth.accounts)
    receipt = record("send.receipt", wait(w3, w3.eth.send_transaction({"from": node_address, "to": to, "value": 10**17})))
    assert receipt["status"] == 1
    record("send.tx", w3.eth.get_transaction(receipt["transactionHash"]))
    assert record("balance", w3.eth.get_balance(to)) == 10**17
    factory = w3.eth.contract(abi=TOKEN["abi"], bytecode=TOKEN["bytecode"])
    receipt = record("deploy.receipt", wait(w3, factory.constructor("Node", "NOD", 500).transact({"from": node_address})))
    deployed = w3.eth.contract(address=receipt["contractAddress"], abi=TOKEN["abi"])
    record("transfer.receipt", wait(w3, deployed.functions.transfer(to, 20).transact({"from": node_address})))
    assert record("balanceOf", deployed.functions.balanceOf(to).call()) == 20


def test_get_logs(w3, token, local):
    to = random_address()
    tx = token.functions.transfer(to, 5).build_transaction({"from": local.address})
    receipt = wait(w3, sign_and_send(w3, local, tx))
    events = record("events", token.events.Transfer.get_logs(argument_filters={"to": to}, from_block=0))
    assert [e["args"]["value"] for e in events] == [5]
    assert events[0]["transactionHash"] == receipt["transactionHash"]
    raw = w3.eth.get_logs(
        {
            "address": token.address,
            "fromBlock": receipt["blockNumber"],
            "toBlock": receipt["blockNumber"],
            "topics": [keccak(text="Transfer(address,address,uint256)")],
        }
    )
    assert len(record("logs", raw)) == 1
    assert w3.eth.get_logs({"blockHash": receipt["blockHash"], "address": token.address}) == raw


def test_filters(w3, token, local):
    to = random_address()
    event_filter = token.events.Transfer.create_filter(from_block="latest", argument_filters={"to": to})
    block_filter = w3.eth.filter("latest")
    tx = token.functions.transfer(to, 6).build_transaction({"from": local.address})
    receipt = wait(w3, sign_and_send(w3, local, tx))
    entries = record("entries", event_filter.get_new_entries())
    assert [e["args"]["value"] for e in entries] == [6]
    assert event_filter.get_new_entries() == []
    assert [e["args"]["value"] for e in record("all_entries", event_filter.get_all_entries())] == [6]
    assert record("blockHashes", block_filter.get_new_entries()) == [receipt["blockHash"]]
    assert w3.eth.uninstall_filter(event_filter.filter_id)
    assert w3.eth.uninstall_filter(block_filter.filter_id)


def test_subscribes_over_websocket(w3, token, local):
    to = random_address()

    async def run():
        async with AsyncWeb3(WebSocketProvider(WS_URL)) as aw3:
            topic = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
            to_topic = "0x" + "00" * 12 + to[2:].lower()
            logs_id = await aw3.eth.subscribe("logs", {"address": token.address, "topics": [topic, None, to_topic]})
            heads_id = await aw3.eth.subscribe("newHeads")
            tx = token.functions.transfer(to, 7).build_transaction({"from": local.address})
            await asyncio.to_thread(lambda: wait(w3, sign_and_send(w3, local, tx)))
            got = {}
            async def collect():
                async for message in aw3.socket.process_subscriptions():
                    got.setdefault(message["subscription"], message["result"])
                    if logs_id in got and heads_id in got:
                        return
            await asyncio.wait_for(collect(), timeout=10)
            assert await aw3.eth.unsubscribe(logs_id)
            assert await aw3.eth.unsubscribe(heads_id)
            return got[logs_id], got[heads_id]

    log, head = asyncio.run(run())
    record("log", log)
    record("head", head)
    assert log["address"] == token.address
    assert int.from_bytes(log["data"], "big") == 7
    assert head["number"] == log["blockNumber"], "the first head is the block of the transfer"


def seen(key, err):
    """Records what web3.py shows of a revert: the exception's class, message and data."""
    record(key, {"class": type(err).__name__, "message": err.message, "data": err.data})


def test_revert_string(reverter, node_address):
    with pytest.raises(ContractLogicError) as err:
        reverter.functions.failStringView("nope").call()
    seen("call", err.value)
    assert err.value.message == "execution reverted: nope"
    assert err.value.data.startswith("0x08c379a0")
    with pytest.raises(ContractLogicError) as err:
        reverter.functions.failString("boom").estimate_gas({"from": node_address})
    seen("estimate_gas", err.value)
    assert err.value.message == "execution reverted: boom"
    with pytest.raises(ContractLogicError) as err:
        reverter.functions.failRequire().call({"from": node_address})
    seen("require", err.value)
    assert err.value.message == "execution reverted: require failed"


def test_revert_panic(reverter, node_address):
    with pytest.raises(ContractPanicError) as err:
        reverter.functions.panicDivideView(1, 0).call()
    seen("divide", err.value)
    assert err.value.message == "Panic error 0x12: Division by zero."
    with pytest.raises(ContractPanicError) as err:
        reverter.functions.panicOverflow(1).estimate_gas({"from": node_address})
    seen("overflow", err.value)
    assert err.value.message.startswith("Panic error 0x11")


def test_revert_custom_error(reverter, token, node_address, local):
    with pytest.raises(ContractCustomError) as err:
        reverter.functions.failCustomView(42, "why").call({"from": node_address})
    seen("failure", err.value)
    assert decode_error(REVERTER["abi"], err.value.data) == ("Failure", [42, node_address.lower(), "why"])
    with pytest.raises(ContractCustomError) as err:
        reverter.functions.failUnauthorized().estimate_gas({"from": node_address})
    seen("unauthorized", err.value)
    assert err.value.data == error_selector(REVERTER["abi"], "Unauthorized")
    with pytest.raises(ContractCustomError) as err:
        token.functions.transfer(local.address, 1).transact({"from": node_address})
    seen("insufficient_balance", err.value)
    assert decode_error(TOKEN["abi"], err.value.data) == ("InsufficientBalance", [node_address.lower(), 0, 1])


def test_failed_transaction_is_mined_with_status_0(w3, reverter, node_address):
    before = record("pokes", reverter.functions.pokes().call())
    tx_hash = reverter.functions.failCustom(7, "mined").transact({"from": node_address, "gas": 200_000})
    receipt = record("receipt", wait(w3, tx_hash))
    assert receipt["status"] == 0
    assert record("pokes", reverter.functions.pokes().call()) == before


def test_gas_and_fees(w3, token, local):
    assert record("value", w3.eth.estimate_gas({"from": local.address, "to": random_address(), "value": 1})) == 21000
    # A transfer to an empty account; then the gas it uses (it refunds nothing).
    to = random_address()
    gas = record("transfer", token.functions.transfer(to, 1).estimate_gas({"from": local.address}))
    tx = token.functions.transfer(to, 1).build_transaction({"from": local.address})
    used = record("transfer_used", wait(w3, sign_and_send(w3, local, tx))["gasUsed"])
    assert gas >= used
    assert record("gas_price", w3.eth.gas_price) > 0
    assert record("max_priority_fee", w3.eth.max_priority_fee) == 10**9
    history = record("fee_history", w3.eth.fee_history(4, "latest", [25.0, 75.0]))
    assert len(history["baseFeePerGas"]) == 5
    assert len(history["reward"]) == 4
    assert len(history["reward"][0]) == 2


def test_node_errors(w3, local):
    tx = {"to": random_address(), "value": 1, "gas": 21000, "nonce": 0}
    with pytest.raises(Web3RPCError) as err:
        sign_and_send(w3, local, tx)
    record("nonce_too_low", {"class": type(err.value).__name__, "refusal": rpc_error(err.value)})
    assert "nonce" in str(err.value).lower()


def test_send_answers_once_mined(w3, local, node_address):
    """anh answers a send once the transaction is in a block (automine), as Hardhat Network does
    (docs/rpc.md, "Transactions and mining"): one eth_getTransactionReceipt, no polling, finds it.
    anvil answers on pool entry: recorded there, not asserted ("send-answers-once-mined" in
    lib/compare-values.mjs)."""
    anvil = is_anvil(w3.client_version)
    sends = {
        "eth_sendRawTransaction": lambda: sign_and_send(w3, local, {"to": random_address(), "value": 1}),
        "eth_sendTransaction": lambda: w3.eth.send_transaction({"from": node_address, "to": random_address(), "value": 1}),
    }
    for how, send in sends.items():
        tx_hash = send()
        receipt = w3.provider.make_request("eth_getTransactionReceipt", ["0x" + bytes(tx_hash).hex()])["result"]
        record(f"receiptAtOnce {how}", receipt is not None)
        if not anvil:
            assert receipt is not None, f"{how}: no receipt right after the send answered"
        assert wait(w3, tx_hash)["status"] == 1


def test_unknown_method(w3):
    """An unknown method is -32601 "Method not found": web3.py raises MethodUnavailable."""
    for method in ["anh_noSuchMethod", "eth_noSuchMethod"]:
        with pytest.raises(Web3RPCError) as err:
            w3.manager.request_blocking(method, [])
        record(method, {"class": type(err.value).__name__, "message": err.value.message, "error": rpc_error(err.value)})
        assert isinstance(err.value, MethodUnavailable)
        assert rpc_error(err.value) == {"code": -32601, "message": "Method not found"}
