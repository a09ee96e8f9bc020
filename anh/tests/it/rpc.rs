//! The rest of the eth namespace: raw transactions, proofs, signing, filling, access lists,
//! call overrides, block tags and history, the pool's views — and polled filters.

use crate::utils::*;
use alloy::{
    consensus::{Transaction as _, TxEnvelope, transaction::SignerRecoverable},
    eips::eip2718::Decodable2718,
    network::TransactionBuilder,
    primitives::{B256, Bytes, Signature, U64, U256, address, keccak256},
    providers::Provider,
    rpc::types::TransactionRequest,
    sol,
    sol_types::{SolCall, SolStruct, eip712_domain},
};
use alloy_trie::{Nibbles, TrieAccount, proof::verify_proof};
use serde_json::{Value, json};

sol! {
    struct Mail {
        address to;
        string contents;
    }
}

async fn result(url: &str, method: &str, params: Value) -> Value {
    let reply = rpc(url, method, params).await;
    assert!(reply.get("error").is_none(), "{method}: {reply}");
    reply["result"].clone()
}

fn parse<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("a well-formed answer")
}

/// A 65-byte `r ‖ s ‖ v` signature.
fn signature(value: Value) -> Signature {
    let bytes: Bytes = parse(value);
    assert_eq!(bytes.len(), 65);
    assert!(matches!(bytes[64], 27 | 28), "v is 27 or 28");
    Signature::try_from(&bytes[..]).expect("a valid signature")
}

/// `values[key]` of Storage's first mapping.
fn values_slot(key: u64) -> B256 {
    keccak256([U256::from(key).to_be_bytes::<32>(), [0u8; 32]].concat())
}

/// Raw transactions by hash and by position; EIP-1186 proofs that verify against the block's
/// state root; `eth_getAccount`/`eth_getAccountInfo`; headers; uncles.
#[tokio::test(flavor = "multi_thread")]
async fn raw_transactions_proofs_and_accounts() {
    let node = node().await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    let storage = deploy(&provider, "Storage").await;
    let call = Storage::setCall { key: U256::from(7), value: U256::from(49) };
    let tx = TransactionRequest::default().with_to(storage).with_input(call.abi_encode());
    let receipt = send(&provider, tx).await;
    let hash = receipt.transaction_hash;

    let raw: Bytes = parse(result(&url, "eth_getRawTransactionByHash", json!([hash])).await);
    assert_eq!(keccak256(&raw), hash);
    let decoded = TxEnvelope::decode_2718_exact(&raw).unwrap();
    assert_eq!(decoded.recover_signer().unwrap(), ADDR0);
    let number = format!("{:#x}", receipt.block_number.unwrap());
    let block_hash = receipt.block_hash.unwrap();
    for (method, block) in [
        ("eth_getRawTransactionByBlockNumberAndIndex", json!(number)),
        ("eth_getRawTransactionByBlockHashAndIndex", json!(block_hash)),
    ] {
        assert_eq!(parse::<Bytes>(result(&url, method, json!([block, "0x0"])).await), raw);
        assert_eq!(result(&url, method, json!([block, "0x5"])).await, Value::Null);
    }
    assert_eq!(result(&url, "eth_getRawTransactionByHash", json!([B256::ZERO])).await, Value::Null);

    // eth_getProof: the account and the slot prove against the block's state root.
    let slot = values_slot(7);
    let proof = result(&url, "eth_getProof", json!([storage, [slot], number])).await;
    let header =
        provider.get_block_by_number(receipt.block_number.unwrap().into()).await.unwrap().unwrap();
    let account = TrieAccount {
        nonce: parse::<U64>(proof["nonce"].clone()).to(),
        balance: parse(proof["balance"].clone()),
        storage_root: parse(proof["storageHash"].clone()),
        code_hash: parse(proof["codeHash"].clone()),
    };
    assert_eq!(account.code_hash, keccak256(provider.get_code_at(storage).await.unwrap()));
    let account_proof: Vec<Bytes> = parse(proof["accountProof"].clone());
    verify_proof(
        header.header.state_root,
        Nibbles::unpack(keccak256(storage)),
        Some(alloy_rlp::encode(account)),
        &account_proof,
    )
    .expect("the account proof verifies");
    let entry = &proof["storageProof"][0];
    assert_eq!(parse::<U256>(entry["value"].clone()), U256::from(49));
    let slot_proof: Vec<Bytes> = parse(entry["proof"].clone());
    verify_proof(
        account.storage_root,
        Nibbles::unpack(keccak256(slot)),
        Some(alloy_rlp::encode(U256::from(49))),
        &slot_proof,
    )
    .expect("the storage proof verifies");
    // An absent account proves its absence.
    let nobody = address!("0x00000000000000000000000000000000deadbeef");
    let absent = result(&url, "eth_getProof", json!([nobody, [], "latest"])).await;
    let latest = provider.get_block_by_number(Default::default()).await.unwrap().unwrap();
    verify_proof(
        latest.header.state_root,
        Nibbles::unpack(keccak256(nobody)),
        None,
        &parse::<Vec<Bytes>>(absent["accountProof"].clone()),
    )
    .expect("the exclusion proof verifies");
    let too_many: Vec<B256> = (0..1025u64).map(|i| B256::from(U256::from(i))).collect();
    let (code, message) = rpc_error(&url, "eth_getProof", json!([storage, too_many])).await;
    assert_eq!(code, -32602);
    assert!(message.contains("too many storage keys: 1025 (limit 1024)"), "{message}");

    let info = result(&url, "eth_getAccountInfo", json!([storage])).await;
    assert_eq!(parse::<Bytes>(info["code"].clone()), provider.get_code_at(storage).await.unwrap());
    assert_eq!(info["nonce"], "0x1");
    let account = result(&url, "eth_getAccount", json!([storage, "latest"])).await;
    assert_eq!(account["storageRoot"], proof["storageHash"]);

    let header = result(&url, "eth_getHeaderByNumber", json!([number])).await;
    assert_eq!(header["hash"], json!(block_hash));
    assert_eq!(result(&url, "eth_getHeaderByHash", json!([block_hash])).await, header);
    assert_eq!(result(&url, "eth_getUncleCountByBlockNumber", json!([number])).await, "0x0");
    assert_eq!(
        result(&url, "eth_getUncleCountByBlockHash", json!([B256::ZERO])).await,
        Value::Null
    );
    assert_eq!(
        result(&url, "eth_getUncleByBlockNumberAndIndex", json!([number, "0x0"])).await,
        Value::Null
    );
}

/// `eth_sign`/`personal_sign` (EIP-191), `eth_signTypedData_v4` (EIP-712; object or JSON
/// string), `eth_signTransaction` (signed, not sent), `eth_fillTransaction`.
#[tokio::test(flavor = "multi_thread")]
async fn signing_and_filling() {
    let node = node().await;
    let url = node.http_endpoint();

    let message = b"hello ANH";
    let a = signature(result(&url, "eth_sign", json!([ADDR0, Bytes::from(&message[..])])).await);
    let b =
        signature(result(&url, "personal_sign", json!([Bytes::from(&message[..]), ADDR0])).await);
    assert_eq!(a, b);
    assert_eq!(a.recover_address_from_msg(message).unwrap(), ADDR0);

    let domain = eip712_domain! { name: "ANH", version: "1", chain_id: 31337, };
    let mail = Mail { to: ADDR1, contents: "gm".into() };
    let typed = json!({
        "types": {
            "EIP712Domain": [
                { "name": "name", "type": "string" },
                { "name": "version", "type": "string" },
                { "name": "chainId", "type": "uint256" },
            ],
            "Mail": [
                { "name": "to", "type": "address" },
                { "name": "contents", "type": "string" },
            ],
        },
        "primaryType": "Mail",
        "domain": { "name": "ANH", "version": "1", "chainId": 31337 },
        "message": { "to": ADDR1, "contents": "gm" },
    });
    let hash = mail.eip712_signing_hash(&domain);
    for data in [typed.clone(), Value::String(typed.to_string())] {
        let signature = signature(result(&url, "eth_signTypedData_v4", json!([ADDR0, data])).await);
        assert_eq!(signature.recover_address_from_prehash(&hash).unwrap(), ADDR0);
    }
    let (code, message) =
        rpc_error(&url, "eth_signTypedData_v4", json!([ADDR0, { "types": 1 }])).await;
    assert_eq!(code, -32602);
    assert!(message.contains("invalid typed data"), "{message}");
    let stranger = address!("0x00000000000000000000000000000000000fee11");
    let (code, message) = rpc_error(&url, "eth_sign", json!([stranger, "0x00"])).await;
    assert_eq!(code, -32000);
    assert!(message.contains("unknown account"), "{message}");

    let request = json!({ "from": ADDR0, "to": ADDR1, "value": "0x10" });
    let raw: Bytes = parse(result(&url, "eth_signTransaction", json!([request])).await);
    let tx = TxEnvelope::decode_2718_exact(&raw).unwrap();
    assert_eq!(tx.recover_signer().unwrap(), ADDR0);
    assert_eq!((tx.nonce(), tx.gas_limit(), tx.chain_id()), (0, 21_000, Some(31337)));
    assert_eq!(result(&url, "txpool_status", json!([])).await["pending"], "0x0", "not sent");
    assert_eq!(result(&url, "eth_blockNumber", json!([])).await, "0x0");

    let filled = result(&url, "eth_fillTransaction", json!([request])).await;
    assert_eq!(filled["tx"]["gas"], "0x5208");
    assert_eq!(filled["tx"]["nonce"], "0x0");
    assert_eq!(filled["tx"]["chainId"], "0x7a69");
    assert!(filled["tx"]["maxFeePerGas"].is_string());
    let raw: Bytes = parse(filled["raw"].clone());
    assert_eq!(TxEnvelope::decode_2718_exact(&raw).unwrap().value(), U256::from(0x10));
    let (code, _) = rpc_error(&url, "eth_fillTransaction", json!([{ "to": ADDR1 }])).await;
    assert_eq!(code, -32602);
}

/// `eth_createAccessList` finds the slots a call touches (and reports a revert);
/// `eth_call`/`eth_estimateGas` take state and block overrides; block tags and EIP-1898
/// objects name blocks, and past blocks have their own state.
#[tokio::test(flavor = "multi_thread")]
async fn access_lists_overrides_and_history() {
    let node = node().await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    let storage = deploy(&provider, "Storage").await;
    store(&provider, storage, 1, 10).await;
    let before = provider.get_block_number().await.unwrap();
    store(&provider, storage, 1, 11).await;

    let data = Storage::setCall { key: U256::from(2), value: U256::from(3) }.abi_encode();
    let call = json!({ "from": ADDR0, "to": storage, "data": Bytes::from(data) });
    let list = result(&url, "eth_createAccessList", json!([call])).await;
    assert_eq!(list["accessList"][0]["address"], json!(storage));
    let keys: Vec<B256> = parse(list["accessList"][0]["storageKeys"].clone());
    assert!(keys.contains(&values_slot(2)), "{list}");
    assert!(list.get("error").is_none_or(Value::is_null), "{list}");
    let failing = json!({ "from": ADDR0, "to": storage, "data": "0xdeadbeef" });
    let list = result(&url, "eth_createAccessList", json!([failing])).await;
    assert_eq!(list["error"], "execution reverted", "{list}");

    // History: the value before the second write, by number, tag and EIP-1898 object.
    let get = |key: u64| json!({ "to": storage, "data": Bytes::from(Storage::getCall { key: U256::from(key) }.abi_encode()) });
    let word = |v: u64| json!(Bytes::from(U256::from(v).to_be_bytes::<32>().to_vec()));
    assert_eq!(result(&url, "eth_call", json!([get(1), format!("{before:#x}")])).await, word(10));
    let past = provider.get_block_by_number(before.into()).await.unwrap().unwrap();
    assert_eq!(
        result(&url, "eth_call", json!([get(1), { "blockHash": past.header.hash }])).await,
        word(10)
    );
    assert_eq!(
        result(&url, "eth_call", json!([get(1), { "blockNumber": format!("{before:#x}") }])).await,
        word(10)
    );
    for tag in ["latest", "safe", "finalized", "pending"] {
        assert_eq!(result(&url, "eth_call", json!([get(1), tag])).await, word(11), "{tag}");
    }
    assert_eq!(result(&url, "eth_getCode", json!([storage, "earliest"])).await, "0x");
    let balance_then = result(&url, "eth_getBalance", json!([ADDR0, "0x0"])).await;
    assert_eq!(
        parse::<U256>(balance_then),
        U256::from(10_000u64) * U256::from(10).pow(U256::from(18))
    );
    let (code, _) = rpc_error(&url, "eth_call", json!([get(1), "0x999"])).await;
    assert_eq!(code, -32001);
    let (code, _) = rpc_error(&url, "eth_call", json!([get(1), { "blockHash": B256::ZERO }])).await;
    assert_eq!(code, -32001);

    // State overrides: code at a fresh address, a storage diff, a balance.
    let ghost = address!("0x0000000000000000000000000000000000000999");
    let code = provider.get_code_at(storage).await.unwrap();
    let mut at_ghost = get(5);
    at_ghost["to"] = json!(ghost);
    let overrides = json!({ ghost.to_string(): {
        "code": code,
        "stateDiff": { values_slot(5).to_string(): B256::from(U256::from(77)) },
        "balance": "0x1",
    }});
    assert_eq!(result(&url, "eth_call", json!([at_ghost, "latest", overrides])).await, word(77));
    assert_eq!(provider.get_code_at(ghost).await.unwrap(), Bytes::new(), "nothing kept");
    let both = json!({ ghost.to_string(): { "state": {}, "stateDiff": {} } });
    let (code, message) = rpc_error(&url, "eth_call", json!([at_ghost, "latest", both])).await;
    assert_eq!(code, -32602);
    assert!(message.contains("both 'state' and 'stateDiff'"), "{message}");
    // `state` replaces the whole storage.
    let wipe = json!({ storage.to_string(): { "state": {} } });
    assert_eq!(result(&url, "eth_call", json!([get(1), "latest", wipe])).await, word(0));
    // Block overrides: the timestamp and coinbase a call sees.
    let info =
        json!({ "to": storage, "data": Bytes::from(Storage::blockInfoCall {}.abi_encode()) });
    let block = json!({ "time": "0x64", "coinbase": ghost, "number": "0x4d2" });
    let out: Bytes = parse(result(&url, "eth_call", json!([info, "latest", null, block])).await);
    let decoded = Storage::blockInfoCall::abi_decode_returns(&out).unwrap();
    assert_eq!((decoded.number, decoded.timestamp), (U256::from(1234), U256::from(100)));
    assert_eq!(decoded.coinbase, ghost);
    // eth_estimateGas takes overrides too: a sender without funds made rich.
    let poor = address!("0x0000000000000000000000000000000000000bad");
    let transfer = json!({ "from": poor, "to": ADDR1, "value": "0xde0b6b3a7640000" });
    let (code, _) = rpc_error(&url, "eth_estimateGas", json!([transfer])).await;
    assert_eq!(code, -32000);
    let rich = json!({ poor.to_string(): { "balance": "0xffffffffffffffffffff" } });
    assert_eq!(result(&url, "eth_estimateGas", json!([transfer, "latest", rich])).await, "0x5208");
}

/// The pool's views: `eth_pendingTransactions`, `txpool_status`/`content`/`inspect`, with
/// pending and queued (nonce-gapped) transactions.
#[tokio::test(flavor = "multi_thread")]
async fn pool_views() {
    let node = node().await;
    let url = node.http_endpoint();
    result(&url, "evm_setAutomine", json!([false])).await;
    for nonce in [0u64, 1, 5] {
        let tx = json!({ "from": ADDR0, "to": ADDR1, "value": "0x1", "nonce": format!("{nonce:#x}"), "gas": "0x5208" });
        result(&url, "eth_sendTransaction", json!([tx])).await;
    }
    let status = result(&url, "txpool_status", json!([])).await;
    assert_eq!(status, json!({ "pending": "0x2", "queued": "0x1" }));
    let content = result(&url, "txpool_content", json!([])).await;
    let sender = ADDR0.to_string();
    assert_eq!(content["pending"][&sender]["1"]["nonce"], "0x1");
    assert_eq!(content["queued"][&sender]["5"]["nonce"], "0x5");
    let inspect = result(&url, "txpool_inspect", json!([])).await;
    let line = inspect["pending"][&sender]["0"].as_str().unwrap().to_string();
    assert!(line.starts_with(&format!("{ADDR1}: 1 wei + 21000 gas × ")), "{line}");
    let all = result(&url, "eth_pendingTransactions", json!([])).await;
    assert_eq!(all.as_array().unwrap().len(), 3);
    result(&url, "evm_mine", json!([])).await;
    assert_eq!(
        result(&url, "txpool_status", json!([])).await,
        json!({ "pending": "0x0", "queued": "0x1" })
    );
}

/// Polled filters: logs (with an address and topic filter), blocks and pending transactions
/// since the last poll; `eth_getFilterLogs`; uninstalling; unknown ids.
#[tokio::test(flavor = "multi_thread")]
async fn polled_filters() {
    let node = node().await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    let storage = deploy(&provider, "Storage").await;
    let other = deploy(&provider, "Storage").await;
    let topic = keccak256("ValueSet(uint256,uint256)");
    let logs =
        result(&url, "eth_newFilter", json!([{ "address": storage, "topics": [topic] }])).await;
    let blocks = result(&url, "eth_newBlockFilter", json!([])).await;
    assert_ne!(logs, blocks);
    assert_eq!(result(&url, "eth_getFilterChanges", json!([logs])).await, json!([]));

    store(&provider, storage, 1, 1).await;
    store(&provider, other, 1, 1).await;
    store(&provider, storage, 2, 2).await;
    let changes = result(&url, "eth_getFilterChanges", json!([logs])).await;
    let changes = changes.as_array().unwrap();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(changes.iter().all(|l| l["address"] == json!(storage)));
    assert_eq!(result(&url, "eth_getFilterChanges", json!([logs])).await, json!([]), "drained");
    let hashes = result(&url, "eth_getFilterChanges", json!([blocks])).await;
    assert_eq!(hashes.as_array().unwrap().len(), 3);
    let latest = provider.get_block_by_number(Default::default()).await.unwrap().unwrap();
    assert_eq!(hashes[2], json!(latest.header.hash));

    // eth_getFilterLogs: everything the filter matches in its range (here: all blocks).
    let ranged = result(
        &url,
        "eth_newFilter",
        json!([{ "address": storage, "fromBlock": "0x0", "toBlock": "latest" }]),
    )
    .await;
    assert_eq!(
        result(&url, "eth_getFilterLogs", json!([ranged])).await.as_array().unwrap().len(),
        2
    );
    let (code, message) = rpc_error(&url, "eth_getFilterLogs", json!([blocks])).await;
    assert_eq!((code, message.as_str()), (-32000, "filter not found"));

    // Pending transactions, with mining off.
    result(&url, "evm_setAutomine", json!([false])).await;
    let pending = result(&url, "eth_newPendingTransactionFilter", json!([])).await;
    let tx = TransactionRequest::default().with_to(ADDR1).with_value(U256::from(1));
    let hash = *provider.send_transaction(tx).await.unwrap().tx_hash();
    assert_eq!(result(&url, "eth_getFilterChanges", json!([pending])).await, json!([hash]));
    assert_eq!(result(&url, "eth_getFilterChanges", json!([pending])).await, json!([]));

    assert_eq!(node.api().installed_filters(), 4);
    assert_eq!(result(&url, "eth_uninstallFilter", json!([logs])).await, true);
    assert_eq!(result(&url, "eth_uninstallFilter", json!([logs])).await, false);
    let (code, message) = rpc_error(&url, "eth_getFilterChanges", json!([logs])).await;
    assert_eq!((code, message.as_str()), (-32000, "filter not found"));
    let (code, _) = rpc_error(&url, "eth_getFilterChanges", json!(["not-an-id"])).await;
    assert_eq!(code, -32602);
    let (code, message) =
        rpc_error(&url, "eth_newFilter", json!([{ "blockHash": B256::ZERO }])).await;
    assert_eq!(code, -32602);
    assert!(message.contains("use eth_getLogs"), "{message}");
    assert_eq!(node.api().installed_filters(), 3);
}
