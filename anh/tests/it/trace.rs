//! Tracing (`debug_traceTransaction`, `debug_traceCall`, `debug_traceBlockBy*`): geth's struct
//! logger and built-in tracers against receipts, nested frames, historical state, Replay mode
//! for DNN transactions, bad input, and Foundry's `cast run`. Parity traces (`trace_transaction`,
//! `trace_block`): the flat call tree, reverts, whole blocks, bad input, and `cast trace`.

use crate::{dnn::consumer::DnnConsumer, utils::*};
use alloy::{
    consensus::Transaction as _,
    network::TransactionBuilder,
    primitives::{Address, B256, Bytes, U256, address, keccak256},
    providers::{DynProvider, Provider},
    rpc::types::{TransactionReceipt, TransactionRequest},
    sol,
    sol_types::{SolCall, SolValue},
};
use anh::NodeConfig;
use anh_evm_host::MiningMode;
use serde_json::{Value, json};
use std::process::Command;

sol! {
    #[sol(rpc)]
    contract Factory {
        event ChildDeployed(address indexed child, bool indexed create2, bytes32 salt, uint256 value);
        function deploy(uint256 value) public returns (address child);
        function deployBoth(bytes32 salt, uint256 value) external returns (address created, address created2);
        function predict(bytes32 salt, uint256 value) external view returns (address);
    }
}

/// The `result` of a JSON-RPC call, failing the test on an error.
async fn result(url: &str, method: &str, params: Value) -> Value {
    let reply = rpc(url, method, params.clone()).await;
    match reply.get("result") {
        Some(result) if reply.get("error").is_none() => result.clone(),
        _ => panic!("{method} {params}: {reply}"),
    }
}

/// Deploys `Counter(initial)` from dev account 0.
async fn deploy_counter(provider: &DynProvider, initial: u64) -> Address {
    let mut code = bytecode("Counter").to_vec();
    code.extend_from_slice(&U256::from(initial).abi_encode());
    let request = TransactionRequest::default().with_deploy_code(code);
    let receipt = send(provider, request).await;
    receipt.contract_address.expect("a creation receipt has the address")
}

/// A call transaction to `to` with `data` (and an explicit gas limit, so that a reverting
/// call is mined rather than refused by the estimate).
fn call_tx(to: Address, data: Vec<u8>) -> TransactionRequest {
    TransactionRequest::default().with_to(to).with_input(data).with_gas_limit(500_000)
}

/// A quantity field of a trace (`"0x…"`) as a number.
#[track_caller]
fn quantity(value: &Value) -> u64 {
    let text = value.as_str().unwrap_or_else(|| panic!("not a quantity: {value}"));
    u64::from_str_radix(text.trim_start_matches("0x"), 16).expect("hex quantity")
}

/// The intrinsic gas of a plain call with `calldata` (no access list).
fn intrinsic_gas(calldata: &[u8]) -> u64 {
    21_000 + calldata.iter().map(|b| if *b == 0 { 4 } else { 16 }).sum::<u64>()
}

/// The struct logger's trace of a simple call: every step carries geth's fields, execution
/// starts at pc 0 with the gas left after intrinsic gas, each step's gas is the previous
/// step's minus its cost, it ends with RETURN, and the frame's gas is the receipt's gasUsed.
/// The options drop or add the stack, storage and memory.
#[tokio::test(flavor = "multi_thread")]
async fn struct_logs_match_the_receipt() {
    let node = node().await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    let counter = deploy_counter(&provider, 41).await;
    let data = Counter::incrementCall { note: "hello".into() }.abi_encode();
    let receipt = send(&provider, call_tx(counter, data.clone())).await;
    assert!(receipt.status());
    let hash = receipt.transaction_hash;
    let tx = provider.get_transaction_by_hash(hash).await.unwrap().unwrap();

    let trace = result(&url, "debug_traceTransaction", json!([hash])).await;
    assert_eq!(trace["failed"], false);
    assert_eq!(trace["gas"], receipt.gas_used);
    let returned: Bytes = serde_json::from_value(trace["returnValue"].clone()).unwrap();
    assert_eq!(U256::abi_decode(&returned).unwrap(), U256::from(42), "increment returns 42");
    let logs = trace["structLogs"].as_array().expect("structLogs");
    assert!(logs.len() > 50, "{} steps", logs.len());
    for step in logs {
        for field in ["pc", "op", "gas", "gasCost", "depth", "stack"] {
            assert!(step.get(field).is_some(), "step without {field}: {step}");
        }
        assert_eq!(step["depth"], 1, "no sub-calls");
        assert!(step.get("memory").is_none(), "memory is off by default");
    }
    assert_eq!(logs[0]["pc"], 0);
    assert_eq!(logs[0]["gas"].as_u64().unwrap(), tx.gas_limit() - intrinsic_gas(&data));
    for pair in logs.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert_eq!(
            b["gas"].as_u64().unwrap(),
            a["gas"].as_u64().unwrap() - a["gasCost"].as_u64().unwrap(),
            "gas after {a}"
        );
    }
    let last = logs.last().unwrap();
    assert_eq!(last["op"], "RETURN");
    let left = last["gas"].as_u64().unwrap() - last["gasCost"].as_u64().unwrap();
    let refund = last.get("refund").and_then(Value::as_u64).unwrap_or(0);
    assert_eq!(receipt.gas_used, tx.gas_limit() - left - refund, "receipt gasUsed");
    // The SSTORE of the count shows the slot's new value.
    let sstore = logs.iter().find(|s| s["op"] == "SSTORE").expect("increment stores");
    let slot0 = format!("0x{:064x}", 0);
    assert_eq!(sstore["storage"][&slot0], format!("0x{:064x}", 42), "{sstore}");

    // Options: no stack, no storage; memory on.
    let opts = json!({"disableStack": true, "disableStorage": true, "enableMemory": true,
                      "enableReturnData": true});
    let trimmed = result(&url, "debug_traceTransaction", json!([hash, opts])).await;
    let trimmed_logs = trimmed["structLogs"].as_array().unwrap();
    assert_eq!(trimmed_logs.len(), logs.len());
    assert!(trimmed_logs.iter().all(|s| s.get("stack").is_none() && s.get("storage").is_none()));
    assert!(trimmed_logs.iter().any(|s| s["memory"].as_array().is_some_and(|m| !m.is_empty())));
    // `limit` keeps the first steps.
    let limited = result(&url, "debug_traceTransaction", json!([hash, {"limit": 5}])).await;
    assert_eq!(limited["structLogs"].as_array().unwrap().len(), 5);
}

/// `callTracer` on a factory that deploys two children (CREATE and CREATE2): the top frame
/// and the nested frames with their from, to, value, gas, input and output; `withLog` adds
/// the logs, `onlyTopCall` drops the children. A value transfer shows its value.
#[tokio::test(flavor = "multi_thread")]
async fn call_tracer_nested_frames() {
    let node = node().await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    let factory = deploy(&provider, "Factory").await;
    let salt = B256::with_last_byte(7);
    let data = Factory::deployBothCall { salt, value: U256::from(5) }.abi_encode();
    let receipt = send(&provider, call_tx(factory, data.clone())).await;
    assert!(receipt.status());
    let created = factory.create(1);
    let created2 =
        Factory::new(factory, &provider).predict(salt, U256::from(5)).call().await.unwrap();

    let opts = json!({"tracer": "callTracer", "tracerConfig": {"withLog": true}});
    let top = result(&url, "debug_traceTransaction", json!([receipt.transaction_hash, opts])).await;
    assert_eq!(top["type"], "CALL");
    assert_eq!(top["from"], json!(ADDR0.to_string().to_lowercase()));
    assert_eq!(top["to"], json!(factory.to_string().to_lowercase()));
    assert_eq!(quantity(&top["value"]), 0);
    assert_eq!(quantity(&top["gas"]), 500_000);
    assert_eq!(quantity(&top["gasUsed"]), receipt.gas_used);
    assert_eq!(top["input"], json!(Bytes::from(data)));
    assert_eq!(top["output"], json!(Bytes::from((created, created2).abi_encode_params())));
    assert!(top.get("error").is_none(), "{top}");
    assert_eq!(top["logs"].as_array().unwrap().len(), 2, "two ChildDeployed logs");

    let calls = top["calls"].as_array().expect("nested frames");
    assert_eq!(calls.len(), 2);
    for (frame, kind, child) in [(&calls[0], "CREATE", created), (&calls[1], "CREATE2", created2)] {
        assert_eq!(frame["type"], kind, "{frame}");
        assert_eq!(frame["from"], json!(factory.to_string().to_lowercase()));
        assert_eq!(frame["to"], json!(child.to_string().to_lowercase()));
        assert_eq!(quantity(&frame["value"]), 0);
        assert!(quantity(&frame["gasUsed"]) > 0);
        assert!(quantity(&frame["gasUsed"]) < quantity(&top["gasUsed"]));
        // A creation frame's input is the initcode, its output the deployed code.
        let code: Bytes = serde_json::from_value(frame["output"].clone()).unwrap();
        assert_eq!(code, provider.get_code_at(child).await.unwrap());
    }

    let only_top = json!({"tracer": "callTracer", "tracerConfig": {"onlyTopCall": true}});
    let top_only =
        result(&url, "debug_traceTransaction", json!([receipt.transaction_hash, only_top])).await;
    assert!(top_only.get("calls").is_none() && top_only.get("logs").is_none(), "{top_only}");
    assert_eq!(top_only["gasUsed"], top["gasUsed"]);

    // Plain ether into Counter's receive().
    let counter = deploy_counter(&provider, 0).await;
    let receipt =
        send(&provider, TransactionRequest::default().with_to(counter).with_value(U256::from(123)))
            .await;
    let frame = result(
        &url,
        "debug_traceTransaction",
        json!([receipt.transaction_hash, {"tracer": "callTracer"}]),
    )
    .await;
    assert_eq!(quantity(&frame["value"]), 123);
    assert_eq!(frame["input"], "0x");
}

/// A node with a `Counter` and a mined transaction that reverted with "nope": the node, a
/// provider, the counter, the calldata and the transaction's receipt.
async fn mined_revert() -> (anh::NodeHandle, DynProvider, Address, Vec<u8>, TransactionReceipt) {
    let node = node().await;
    let provider = provider(&node, KEY0);
    let counter = deploy_counter(&provider, 1).await;
    let data = Counter::failCall { reason: "nope".into() }.abi_encode();
    let receipt = send(&provider, call_tx(counter, data.clone())).await;
    assert!(!receipt.status());
    (node, provider, counter, data, receipt)
}

/// A mined revert: `callTracer` gives error and revertReason with the revert data as output;
/// the struct logger says failed and ends at REVERT. `debug_traceCall` of the same call
/// returns the trace (not an error), as geth does.
#[tokio::test(flavor = "multi_thread")]
async fn reverts_are_traced() {
    let (node, _, counter, data, receipt) = mined_revert().await;
    let (url, hash) = (node.http_endpoint(), receipt.transaction_hash);

    let frame =
        result(&url, "debug_traceTransaction", json!([hash, {"tracer": "callTracer"}])).await;
    assert_eq!(frame["error"], "execution reverted");
    assert_eq!(frame["revertReason"], "nope");
    let output: Bytes = serde_json::from_value(frame["output"].clone()).unwrap();
    assert_eq!(&output[..4], &[0x08, 0xc3, 0x79, 0xa0], "Error(string) data");
    assert_eq!(quantity(&frame["gasUsed"]), receipt.gas_used);

    let trace = result(&url, "debug_traceTransaction", json!([hash])).await;
    assert_eq!(trace["failed"], true);
    assert_eq!(trace["gas"], receipt.gas_used);
    assert_eq!(trace["structLogs"].as_array().unwrap().last().unwrap()["op"], "REVERT");

    let request = json!({"from": ADDR0, "to": counter, "data": Bytes::from(data)});
    let called =
        result(&url, "debug_traceCall", json!([request, "latest", {"tracer": "callTracer"}])).await;
    assert_eq!(called["revertReason"], "nope");
    assert_eq!(called["output"], frame["output"]);
    let called = result(&url, "debug_traceCall", json!([request])).await;
    assert_eq!(called["failed"], true);
}

/// Historical state: a transaction traced after later blocks changed the same storage gives
/// the trace it gave right after it was mined, for every tracer, also when it is the second
/// transaction of its block; `debug_traceBlockBy*` give the block's traces in order.
#[tokio::test(flavor = "multi_thread")]
async fn old_transactions_trace_as_when_mined() {
    let node = node_with(NodeConfig { mining: MiningMode::Manual, ..NodeConfig::test() }).await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    let mine = || async { result(&url, "evm_mine", json!([])).await };
    let pending = provider
        .send_transaction(
            TransactionRequest::default()
                .with_deploy_code(bytecode("Storage"))
                .with_gas_limit(1_000_000),
        )
        .await
        .unwrap();
    let storage_hash = *pending.tx_hash();
    mine().await;
    let storage = provider
        .get_transaction_receipt(storage_hash)
        .await
        .unwrap()
        .unwrap()
        .contract_address
        .unwrap();
    let set = |value: u64| {
        call_tx(
            storage,
            Storage::setCall { key: U256::from(1), value: U256::from(value) }.abi_encode(),
        )
    };
    // Block 2: two transactions on the same slot.
    let first = *provider.send_transaction(set(100)).await.unwrap().tx_hash();
    let second = *provider.send_transaction(set(200)).await.unwrap().tx_hash();
    mine().await;
    let block = provider.get_block_by_number(2u64.into()).await.unwrap().unwrap();
    assert_eq!(block.transactions.hashes().collect::<Vec<_>>(), vec![first, second]);

    let tracers = [
        json!({}),
        json!({"enableMemory": true}),
        json!({"tracer": "callTracer", "tracerConfig": {"withLog": true}}),
        json!({"tracer": "prestateTracer"}),
        json!({"tracer": "prestateTracer", "tracerConfig": {"diffMode": true}}),
        json!({"tracer": "4byteTracer"}),
        json!({"tracer": "flatCallTracer"}),
    ];
    let mut fresh = Vec::new();
    for opts in &tracers {
        let a = result(&url, "debug_traceTransaction", json!([first, opts])).await;
        let b = result(&url, "debug_traceTransaction", json!([second, opts])).await;
        fresh.push((a, b));
    }
    // The slot of `values[1]` (a mapping) before and after the second transaction.
    let prestate = &fresh[4].1;
    let address = storage.to_string().to_lowercase();
    let slot_value = |side: &str| -> Value {
        let slots = prestate[side][&address]["storage"].as_object().expect("storage").clone();
        assert_eq!(slots.len(), 1, "{prestate}");
        slots.into_iter().next().unwrap().1
    };
    assert_eq!(
        slot_value("pre"),
        format!("0x{:064x}", 100),
        "the second transaction starts from the first one's write"
    );
    assert_eq!(slot_value("post"), format!("0x{:064x}", 200));
    let by_number = result(&url, "debug_traceBlockByNumber", json!(["0x2", tracers[2]])).await;

    // Later blocks overwrite the slot.
    for value in [300, 400] {
        let _ = provider.send_transaction(set(value)).await.unwrap();
        mine().await;
    }
    let now = Storage::new(storage, &provider).get(U256::from(1)).call().await.unwrap();
    assert_eq!(now, U256::from(400));

    for (opts, (a, b)) in tracers.iter().zip(&fresh) {
        let again_a = result(&url, "debug_traceTransaction", json!([first, opts])).await;
        let again_b = result(&url, "debug_traceTransaction", json!([second, opts])).await;
        assert_eq!(&again_a, a, "{opts}: first transaction");
        assert_eq!(&again_b, b, "{opts}: second transaction");
    }
    let expected = json!([
        {"txHash": first, "result": fresh[2].0},
        {"txHash": second, "result": fresh[2].1},
    ]);
    assert_eq!(by_number, expected);
    let again = result(&url, "debug_traceBlockByNumber", json!(["0x2", tracers[2]])).await;
    assert_eq!(again, expected);
    let by_hash =
        result(&url, "debug_traceBlockByHash", json!([block.header.hash, tracers[2]])).await;
    assert_eq!(by_hash, expected);
    // Blocks without transactions (genesis) trace to an empty list.
    assert_eq!(result(&url, "debug_traceBlockByNumber", json!(["earliest"])).await, json!([]));
}

/// A mined `DnnConsumer.run` traces in Replay mode: the `infer` precompile's frame returns the
/// attested outputs, the Parity trace is the consumer's call alone, and
/// `anh_stats().inferencesRun` does not move; `debug_traceCall` of the
/// same call runs the model (Call mode) and gives the same outputs.
#[tokio::test(flavor = "multi_thread")]
async fn dnn_transactions_trace_in_replay_mode() {
    let node = node().await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    let consumer = deploy(&provider, "DnnConsumer").await;
    let bytes = std::fs::read(testdata("mlp.onnx")).expect("mlp fixture");
    let model: B256 =
        serde_json::from_value(result(&url, "anh_putModel", json!([Bytes::from(bytes)])).await)
            .unwrap();
    let register = anh_precompiles::abi::IModelRegistry::registerCall { model, name: "mlp".into() };
    let request = TransactionRequest::default()
        .with_to(anh_precompiles::registry::ADDRESS)
        .with_input(register.abi_encode());
    let receipt = send(&provider, request).await;
    assert!(receipt.status(), "registering mlp");

    let features: Vec<u8> =
        [0.5f32, -0.25, 1.0, 2.0].iter().flat_map(|v| v.to_be_bytes()).collect();
    let inputs =
        vec![crate::dnn::consumer::Tensor { dtype: 1, shape: vec![1, 4], data: features.into() }];
    let data = DnnConsumer::runCall { model, inputs }.abi_encode();
    let receipt = send(&provider, call_tx(consumer, data.clone())).await;
    assert!(receipt.status(), "run");
    let stored = DnnConsumer::new(consumer, &provider).lastOutputs().call().await.unwrap();

    let inferences = || async {
        result(&url, "anh_stats", json!([])).await["inferencesRun"].as_u64().expect("count")
    };
    let before = inferences().await;
    let hash = receipt.transaction_hash;
    let frame =
        result(&url, "debug_traceTransaction", json!([hash, {"tracer": "callTracer"}])).await;
    assert_eq!(quantity(&frame["gasUsed"]), receipt.gas_used);
    let infer = frame["calls"]
        .as_array()
        .expect("the consumer calls the precompile")
        .iter()
        .find(|c| c["to"] == json!(anh_precompiles::infer::ADDRESS.to_string().to_lowercase()))
        .expect("a frame into 0x…0d01");
    let output: Bytes = serde_json::from_value(infer["output"].clone()).unwrap();
    assert_eq!(output, stored, "the precompile returned the attested outputs");
    let logs = result(&url, "debug_traceTransaction", json!([hash])).await;
    assert_eq!(logs["failed"], false);
    assert_eq!(logs["gas"], receipt.gas_used);
    let block = format!("{:#x}", receipt.block_number.unwrap());
    let traced = result(&url, "debug_traceBlockByNumber", json!([block])).await;
    assert_eq!(traced[0]["result"], logs);
    // Parity traces leave out the precompile's frame (as for every precompile).
    let parity = result(&url, "trace_transaction", json!([hash])).await;
    assert_eq!(parity.as_array().map(Vec::len), Some(1), "{parity}");
    assert_eq!(parity[0]["action"]["to"], lower(consumer));
    assert_eq!(parity[0]["result"]["output"], frame["output"]);
    assert_eq!(parity[0]["subtraces"], 0);
    assert_eq!(inferences().await, before, "Replay mode: no model ran");

    // debug_traceCall runs the model on the node (Call mode).
    let request = json!({"from": ADDR0, "to": consumer, "data": Bytes::from(data)});
    let called =
        result(&url, "debug_traceCall", json!([request, "latest", {"tracer": "callTracer"}])).await;
    assert!(called.get("error").is_none(), "{called}");
    assert_eq!(inferences().await, before + 1, "Call mode runs the model");
}

/// `debug_traceCall` at a past block, with state overrides (storage, code, balance) and block
/// overrides (number, time, fee recipient).
#[tokio::test(flavor = "multi_thread")]
async fn trace_call_state_and_block_overrides() {
    let node = node().await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    let counter = deploy_counter(&provider, 41).await;
    let at_deploy = provider.get_block_number().await.unwrap();
    send(&provider, call_tx(counter, Counter::addCall { amount: U256::from(9) }.abi_encode()))
        .await;
    let get = |to: Address| json!({"from": ADDR0, "to": to, "data": Bytes::from(Counter::getCall {}.abi_encode())});
    let call_tracer = json!({"tracer": "callTracer"});
    let output = |frame: &Value| -> U256 {
        let bytes: Bytes = serde_json::from_value(frame["output"].clone()).unwrap();
        U256::abi_decode(&bytes).unwrap()
    };

    let now = result(&url, "debug_traceCall", json!([get(counter), "latest", call_tracer])).await;
    assert_eq!(output(&now), U256::from(50));
    let then = result(
        &url,
        "debug_traceCall",
        json!([get(counter), format!("{at_deploy:#x}"), call_tracer]),
    )
    .await;
    assert_eq!(output(&then), U256::from(41), "the state of the deployment block");

    // Storage replaced whole, and slot by slot.
    let slot0 = B256::ZERO;
    let with_state = json!({"tracer": "callTracer",
        "stateOverrides": {counter.to_string(): {"state": {slot0.to_string(): B256::from(U256::from(7)).to_string()}}}});
    let frame = result(&url, "debug_traceCall", json!([get(counter), "latest", with_state])).await;
    assert_eq!(output(&frame), U256::from(7));
    let with_diff = json!({"tracer": "callTracer",
        "stateOverrides": {counter.to_string(): {"stateDiff": {slot0.to_string(): B256::from(U256::from(8)).to_string()}}}});
    let frame = result(&url, "debug_traceCall", json!([get(counter), "latest", with_diff])).await;
    assert_eq!(output(&frame), U256::from(8));

    // Code at an empty address, with storage; and a balance for a value transfer.
    let elsewhere = address!("0x00000000000000000000000000000000000c0de1");
    let code = provider.get_code_at(counter).await.unwrap();
    let with_code = json!({"tracer": "callTracer",
        "stateOverrides": {elsewhere.to_string(): {"code": code, "state": {slot0.to_string(): B256::from(U256::from(5)).to_string()}}}});
    let frame = result(&url, "debug_traceCall", json!([get(elsewhere), "latest", with_code])).await;
    assert_eq!(output(&frame), U256::from(5));
    let poor = address!("0x0000000000000000000000000000000000009999");
    let transfer = json!({"from": poor, "to": ADDR1, "value": "0xde0b6b3a7640000"});
    let reply = rpc(&url, "debug_traceCall", json!([transfer, "latest", call_tracer])).await;
    assert!(reply.get("error").is_some(), "no balance: {reply}");
    let rich = json!({"tracer": "callTracer",
        "stateOverrides": {poor.to_string(): {"balance": "0xffffffffffffffffffff"}}});
    let frame = result(&url, "debug_traceCall", json!([transfer, "latest", rich])).await;
    assert_eq!(frame["value"], "0xde0b6b3a7640000");

    // Block overrides reach the EVM's environment.
    let storage = deploy(&provider, "Storage").await;
    let info = json!({"to": storage, "data": Bytes::from(Storage::blockInfoCall {}.abi_encode())});
    let coinbase = address!("0x00000000000000000000000000000000000000cb");
    let block = json!({"tracer": "callTracer",
        "blockOverrides": {"number": "0x1234", "time": "0x77777777", "feeRecipient": coinbase}});
    let frame = result(&url, "debug_traceCall", json!([info, "latest", block])).await;
    let bytes: Bytes = serde_json::from_value(frame["output"].clone()).unwrap();
    let decoded = Storage::blockInfoCall::abi_decode_returns(&bytes).unwrap();
    assert_eq!(decoded.number, U256::from(0x1234));
    assert_eq!(decoded.timestamp, U256::from(0x7777_7777u64));
    assert_eq!(decoded.coinbase, coinbase);
}

/// A node that mines on request, with one transfer waiting in its pool.
async fn node_with_a_pending_transfer() -> (anh::NodeHandle, B256) {
    let node = node_with(NodeConfig { mining: MiningMode::Manual, ..NodeConfig::test() }).await;
    let provider = provider(&node, KEY0);
    let pending = *provider
        .send_transaction(TransactionRequest::default().with_to(ADDR1).with_value(U256::from(1)))
        .await
        .unwrap()
        .tx_hash();
    (node, pending)
}

/// Bad input: an unknown hash is geth's -32000 "transaction not found", a pooled one says it
/// is pending; unknown and JavaScript tracers, ill-typed options and configs, wrong
/// parameter types and counts, unsupported overrides are -32602; unknown blocks -32001. The
/// node goes on tracing afterwards.
#[tokio::test(flavor = "multi_thread")]
async fn bad_inputs_are_refused() {
    let (node, pending) = node_with_a_pending_transfer().await;
    let url = node.http_endpoint();
    let error = |method, params| rpc_error(&url, method, params);

    let unknown = keccak256("no such transaction");
    assert_eq!(
        error("debug_traceTransaction", json!([unknown])).await,
        (-32000, "transaction not found".to_string())
    );
    let (code, message) = error("debug_traceTransaction", json!([pending])).await;
    assert_eq!(code, -32000);
    assert!(message.contains("is pending"), "{message}");

    result(&url, "evm_mine", json!([])).await;
    let mined = pending;
    let invalid = [
        (json!([mined, {"tracer": "fooTracer"}]), "unknown tracer \"fooTracer\""),
        (json!([mined, {"tracer": "{result: function() { return 1; }}"}]), "JavaScript tracers"),
        (
            json!([mined, {"tracer": "callTracer", "tracerConfig": {"onlyTopCall": "yes"}}]),
            "invalid tracerConfig for callTracer",
        ),
        (json!([mined, {"disableStack": "yes"}]), "invalid argument 1"),
        (json!([mined, "callTracer"]), "invalid argument 1"),
        (json!(["0x1234"]), "invalid argument 0"),
        (json!([]), "missing value for required argument 0"),
        (json!([mined, {}, 3]), "too many arguments"),
    ];
    for (params, expected) in invalid {
        let (code, message) = error("debug_traceTransaction", params.clone()).await;
        assert_eq!(code, -32602, "{params}: {message}");
        assert!(message.contains(expected), "{params}: {message}");
    }

    let call = json!({"from": ADDR0, "to": ADDR1});
    let invalid_calls = [
        (
            json!([call, "latest", {"blockOverrides": {"blockHash": {"1": B256::ZERO}}}]),
            "blockHash",
        ),
        (
            json!([call, "latest", {"stateOverrides": {ADDR1.to_string(): {
                "state": {}, "stateDiff": {}}}}]),
            "has both 'state' and 'stateDiff'",
        ),
        (json!([call, "latest", {"txIndex": "0x0"}]), "txIndex is not supported"),
        (json!([call, "latest", {"tracer": "fooTracer"}]), "unknown tracer"),
        (json!(["0x12"]), "invalid argument 0"),
    ];
    for (params, expected) in invalid_calls {
        let (code, message) = error("debug_traceCall", params.clone()).await;
        assert_eq!(code, -32602, "{params}: {message}");
        assert!(message.contains(expected), "{params}: {message}");
    }
    assert_eq!(error("debug_traceCall", json!([call, "0x99"])).await.0, -32001);
    assert_eq!(error("debug_traceBlockByNumber", json!(["0x99"])).await.0, -32001);
    assert_eq!(error("debug_traceBlockByHash", json!([unknown])).await.0, -32001);
    let (code, message) = error("debug_traceBlockByNumber", json!(["pending"])).await;
    assert_eq!(code, -32602, "{message}");
    assert_eq!(error("debug_traceBlockByNumber", json!([1])).await.0, -32602);
    assert_eq!(error("debug_noSuchMethod", json!([])).await.0, -32601);

    // Nothing was lost: the mined transfer still traces.
    let frame =
        result(&url, "debug_traceTransaction", json!([mined, {"tracer": "callTracer"}])).await;
    assert_eq!(frame["value"], "0x1");
}

/// An address as traces write it (lower-case hex).
fn lower(address: Address) -> Value {
    json!(address.to_string().to_lowercase())
}

/// `trace_transaction` of a call into a factory that deploys two children: one trace per
/// frame in call order, the call then its CREATE and CREATE2 (`traceAddress` [0] and [1],
/// `subtraces` counting the children), each located in its block. The top call's gas is the
/// limit less intrinsic gas, its gasUsed the receipt's less intrinsic gas (Parity's
/// convention); the creations agree with callTracer's frames and the code on chain. A
/// deployment is one create trace.
#[tokio::test(flavor = "multi_thread")]
async fn parity_traces_of_nested_frames() {
    let node = node().await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    let deployment =
        send(&provider, TransactionRequest::default().with_deploy_code(bytecode("Factory"))).await;
    let factory = deployment.contract_address.expect("a creation receipt has the address");
    let salt = B256::with_last_byte(7);
    let data = Factory::deployBothCall { salt, value: U256::from(5) }.abi_encode();
    let receipt = send(&provider, call_tx(factory, data.clone())).await;
    assert!(receipt.status());
    let hash = receipt.transaction_hash;
    let created = factory.create(1);
    let created2 =
        Factory::new(factory, &provider).predict(salt, U256::from(5)).call().await.unwrap();

    let traces = result(&url, "trace_transaction", json!([hash])).await;
    let traces = traces.as_array().expect("a list of traces");
    assert_eq!(traces.len(), 3, "{traces:?}");
    for trace in traces {
        assert_eq!(trace["transactionHash"], json!(hash));
        assert_eq!(trace["transactionPosition"], 0);
        assert_eq!(trace["blockHash"], json!(receipt.block_hash.unwrap()));
        assert_eq!(trace["blockNumber"], receipt.block_number.unwrap());
        assert!(trace.get("error").is_none(), "{trace}");
    }
    let top = &traces[0];
    assert_eq!(top["type"], "call");
    assert_eq!(top["action"]["callType"], "call");
    assert_eq!(top["action"]["from"], lower(ADDR0));
    assert_eq!(top["action"]["to"], lower(factory));
    assert_eq!(quantity(&top["action"]["value"]), 0);
    assert_eq!(top["action"]["input"], json!(Bytes::from(data.clone())));
    assert_eq!(quantity(&top["action"]["gas"]), 500_000 - intrinsic_gas(&data));
    assert_eq!(
        quantity(&top["result"]["gasUsed"]) + intrinsic_gas(&data),
        receipt.gas_used,
        "no refunds: the receipt's gas is intrinsic gas plus the frame's"
    );
    let output = Bytes::from((created, created2).abi_encode_params());
    assert_eq!(top["result"]["output"], json!(output));
    assert_eq!(top["traceAddress"], json!([]));
    assert_eq!(top["subtraces"], 2);

    let opts = json!({"tracer": "callTracer"});
    let frames = result(&url, "debug_traceTransaction", json!([hash, opts])).await;
    let frames = frames["calls"].as_array().expect("nested frames");
    for (i, (method, child)) in [("create", created), ("create2", created2)].into_iter().enumerate()
    {
        let (trace, frame) = (&traces[i + 1], &frames[i]);
        assert_eq!(trace["type"], "create", "{trace}");
        assert_eq!(trace["action"]["creationMethod"], method);
        assert_eq!(trace["action"]["from"], lower(factory));
        assert_eq!(quantity(&trace["action"]["value"]), 0);
        assert_eq!(quantity(&trace["action"]["gas"]), quantity(&frame["gas"]));
        assert_eq!(trace["action"]["init"], frame["input"]);
        assert_eq!(trace["result"]["address"], lower(child));
        assert_eq!(quantity(&trace["result"]["gasUsed"]), quantity(&frame["gasUsed"]));
        let code: Bytes = serde_json::from_value(trace["result"]["code"].clone()).unwrap();
        assert_eq!(code, provider.get_code_at(child).await.unwrap());
        assert_eq!(trace["traceAddress"], json!([i]));
        assert_eq!(trace["subtraces"], 0);
    }

    let deployed = result(&url, "trace_transaction", json!([deployment.transaction_hash])).await;
    assert_eq!(deployed.as_array().map(Vec::len), Some(1), "{deployed}");
    let create = &deployed[0];
    assert_eq!(create["type"], "create");
    assert_eq!(create["action"]["creationMethod"], "create");
    assert_eq!(create["action"]["from"], lower(ADDR0));
    assert_eq!(create["action"]["init"], json!(bytecode("Factory")));
    assert_eq!(create["result"]["address"], lower(factory));
    let code: Bytes = serde_json::from_value(create["result"]["code"].clone()).unwrap();
    assert_eq!(code, provider.get_code_at(factory).await.unwrap());
    assert_eq!(create["traceAddress"], json!([]));
}

/// Reverts in Parity traces: a reverted transaction's trace has error "Reverted" with the
/// revert data as output and its gas used; under a factory call the failing frame is the one
/// marked: the CREATE2 into an occupied address has error "Contract address collision" and
/// no result, the CREATE before it succeeded (and was rolled back with the transaction).
#[tokio::test(flavor = "multi_thread")]
async fn parity_traces_of_reverts() {
    let (node, provider, counter, data, receipt) = mined_revert().await;
    let (url, hash) = (node.http_endpoint(), receipt.transaction_hash);
    let traces = result(&url, "trace_transaction", json!([hash])).await;
    assert_eq!(traces.as_array().map(Vec::len), Some(1), "{traces}");
    let top = &traces[0];
    assert_eq!(top["error"], "Reverted");
    assert_eq!(top["action"]["to"], lower(counter));
    assert_eq!(quantity(&top["result"]["gasUsed"]) + intrinsic_gas(&data), receipt.gas_used);
    let output: Bytes = serde_json::from_value(top["result"]["output"].clone()).unwrap();
    assert_eq!(&output[..4], &[0x08, 0xc3, 0x79, 0xa0], "Error(string) data");
    let frame =
        result(&url, "debug_traceTransaction", json!([hash, {"tracer": "callTracer"}])).await;
    assert_eq!(top["result"]["output"], frame["output"]);

    // The same CREATE2 salt twice: the second call reverts at its CREATE2.
    let factory = deploy(&provider, "Factory").await;
    let data = Factory::deployBothCall { salt: B256::ZERO, value: U256::from(5) }.abi_encode();
    assert!(send(&provider, call_tx(factory, data.clone())).await.status());
    let receipt = send(&provider, call_tx(factory, data)).await;
    assert!(!receipt.status());
    let traces = result(&url, "trace_transaction", json!([receipt.transaction_hash])).await;
    let traces = traces.as_array().expect("a list of traces");
    assert_eq!(traces.len(), 3, "{traces:?}");
    assert_eq!(traces[0]["error"], "Reverted");
    assert_eq!(traces[0]["subtraces"], 2);
    assert_eq!(traces[0]["result"]["output"], "0x");
    assert!(traces[1].get("error").is_none(), "{}", traces[1]);
    let rolled_back: Address = serde_json::from_value(traces[1]["result"]["address"].clone())
        .expect("the CREATE succeeded");
    assert!(provider.get_code_at(rolled_back).await.unwrap().is_empty(), "rolled back");
    assert_eq!(traces[2]["action"]["creationMethod"], "create2");
    assert_eq!(traces[2]["error"], "Contract address collision");
    assert_eq!(traces[2]["result"], Value::Null);
    assert_eq!(traces[2]["traceAddress"], json!([1]));
}

/// `trace_block` gives the traces of every transaction of a block in order, each with its
/// transactionPosition and hash, equal to `trace_transaction`'s, by number, tag and hash,
/// and the same after later blocks changed the same storage; a plain transfer is one call
/// trace; a block without transactions has none.
#[tokio::test(flavor = "multi_thread")]
async fn trace_block_lists_every_transaction() {
    let node = node_with(NodeConfig { mining: MiningMode::Manual, ..NodeConfig::test() }).await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    let mine = || async { result(&url, "evm_mine", json!([])).await };
    let deployment = TransactionRequest::default()
        .with_deploy_code(bytecode("Storage"))
        .with_gas_limit(1_000_000);
    let storage = ADDR0.create(0);
    let _ = provider.send_transaction(deployment).await.unwrap();
    mine().await;
    let set = |value: u64| {
        call_tx(
            storage,
            Storage::setCall { key: U256::from(1), value: U256::from(value) }.abi_encode(),
        )
    };
    let transfer = TransactionRequest::default().with_to(ADDR1).with_value(U256::from(7));
    // Block 2: a write, a transfer, a second write to the same slot.
    let mut hashes = Vec::new();
    for request in [set(100), transfer, set(200)] {
        hashes.push(*provider.send_transaction(request).await.unwrap().tx_hash());
    }
    mine().await;
    let block = provider.get_block_by_number(2u64.into()).await.unwrap().unwrap();
    assert_eq!(block.transactions.hashes().collect::<Vec<_>>(), hashes);

    let traces = result(&url, "trace_block", json!(["0x2"])).await;
    let list = traces.as_array().expect("a list of traces");
    assert_eq!(list.len(), 3, "one frame per transaction: {traces}");
    let mut expected = Vec::new();
    for (position, (trace, hash)) in list.iter().zip(&hashes).enumerate() {
        assert_eq!(trace["transactionPosition"], position, "{trace}");
        assert_eq!(trace["transactionHash"], json!(hash));
        assert_eq!(trace["blockNumber"], 2);
        assert_eq!(trace["blockHash"], json!(block.header.hash));
        let own = result(&url, "trace_transaction", json!([hash])).await;
        expected.extend(own.as_array().unwrap().iter().cloned());
    }
    assert_eq!(traces, Value::Array(expected), "trace_block is the transactions' traces");
    let sent = &list[1];
    assert_eq!(sent["type"], "call");
    assert_eq!(sent["action"]["to"], lower(ADDR1));
    assert_eq!(quantity(&sent["action"]["value"]), 7);
    assert_eq!(sent["action"]["input"], "0x");
    assert_eq!(quantity(&sent["result"]["gasUsed"]), 0);

    let hash = block.header.hash;
    assert_eq!(result(&url, "trace_block", json!([hash])).await, traces);
    assert_eq!(result(&url, "trace_block", json!([{"blockHash": hash}])).await, traces);
    // A later block writes the same slot; block 2 traces as before.
    let later = *provider.send_transaction(set(300)).await.unwrap().tx_hash();
    mine().await;
    assert_eq!(result(&url, "trace_block", json!(["0x2"])).await, traces);
    let latest = result(&url, "trace_block", json!(["latest"])).await;
    assert_eq!(latest.as_array().map(Vec::len), Some(1), "{latest}");
    assert_eq!(latest[0]["transactionHash"], json!(later));
    assert_eq!(result(&url, "trace_block", json!(["earliest"])).await, json!([]));
}

/// Bad input to `trace_transaction` and `trace_block`: an unknown or pending transaction has
/// no traces (`[]`, anvil's answer); wrong parameter types and counts are -32602 naming the
/// argument; an unknown block is -32001, the pending block -32602 saying to mine it; an
/// unknown `trace_` method is -32601. The pending transaction traces once mined.
#[tokio::test(flavor = "multi_thread")]
async fn parity_bad_inputs_are_refused() {
    let (node, pending) = node_with_a_pending_transfer().await;
    let url = node.http_endpoint();
    let error = |method, params| rpc_error(&url, method, params);

    let unknown = keccak256("no such transaction");
    assert_eq!(result(&url, "trace_transaction", json!([unknown])).await, json!([]));
    assert_eq!(result(&url, "trace_transaction", json!([pending])).await, json!([]));
    let invalid = [
        ("trace_transaction", json!(["0x1234"]), "invalid argument 0"),
        ("trace_transaction", json!([1]), "invalid argument 0"),
        ("trace_transaction", json!([]), "missing value for required argument 0"),
        ("trace_transaction", json!([pending, ["trace"]]), "too many arguments"),
        ("trace_block", json!([1]), "invalid argument 0"),
        ("trace_block", json!(["soon"]), "invalid argument 0"),
        ("trace_block", json!([]), "missing value for required argument 0"),
        ("trace_block", json!(["latest", {}]), "too many arguments"),
        ("trace_block", json!(["pending"]), "mine it first"),
    ];
    for (method, params, expected) in invalid {
        let (code, message) = error(method, params.clone()).await;
        assert_eq!(code, -32602, "{method} {params}: {message}");
        assert!(message.contains(expected), "{method} {params}: {message}");
    }
    assert_eq!(error("trace_block", json!(["0x99"])).await.0, -32001);
    assert_eq!(error("trace_block", json!([unknown])).await.0, -32001);
    assert_eq!(error("trace_noSuchMethod", json!([])).await.0, -32601);

    // Nothing was lost: once mined, the transfer traces.
    result(&url, "evm_mine", json!([])).await;
    let traces = result(&url, "trace_transaction", json!([pending])).await;
    assert_eq!(traces[0]["action"]["value"], "0x1", "{traces}");
    assert_eq!(result(&url, "trace_block", json!(["latest"])).await, traces);
}

/// Runs Foundry's `cast` with `args` (off the async runtime); returns stdout, failing the test
/// with stdout and stderr on a non-zero exit.
async fn cast(args: Vec<String>) -> String {
    let cast = std::env::var("ANH_CAST")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("node_modules/@foundry-rs/cast-linux-amd64/bin/cast"));
    assert!(cast.exists(), "Foundry's cast is not installed: run `./dev setup`");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(cast).args(&args).output().expect("cast runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "cast failed: {stdout}{stderr}");
    stdout
}

/// Foundry's `cast run` replays a mined transaction against the node and prints its trace.
#[tokio::test(flavor = "multi_thread")]
async fn cast_run_replays_a_transaction() {
    let node = node().await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    let counter = deploy_counter(&provider, 41).await;
    let receipt = send(
        &provider,
        call_tx(counter, Counter::incrementCall { note: "cast".into() }.abi_encode()),
    )
    .await;
    let hash = receipt.transaction_hash.to_string();
    let stdout = cast(vec!["run".into(), hash, "--rpc-url".into(), url]).await;
    assert!(stdout.contains("Transaction successfully executed"), "{stdout}");
    assert!(stdout.contains(&counter.to_string()), "the trace names the contract: {stdout}");
}

/// Foundry's `cast trace` (`trace_transaction`) prints the Parity traces of a mined call
/// into a factory: the call and the two creations under it.
#[tokio::test(flavor = "multi_thread")]
async fn cast_trace_prints_parity_traces() {
    let node = node().await;
    let url = node.http_endpoint();
    let provider = provider(&node, KEY0);
    let factory = deploy(&provider, "Factory").await;
    let data = Factory::deployBothCall { salt: B256::ZERO, value: U256::from(1) }.abi_encode();
    let receipt = send(&provider, call_tx(factory, data)).await;
    let hash = receipt.transaction_hash;
    let stdout = cast(vec!["trace".into(), hash.to_string(), "--rpc-url".into(), url]).await;
    let traces: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let traces = traces.as_array().expect("a list of traces");
    assert_eq!(traces.len(), 3, "{stdout}");
    assert_eq!(traces[0]["action"]["to"], json!(factory.to_string().to_lowercase()));
    assert_eq!(traces[0]["transactionHash"], json!(hash));
    assert_eq!(traces[1]["type"], "create");
    assert_eq!(traces[2]["action"]["creationMethod"], "create2");
}
