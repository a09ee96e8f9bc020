// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {
    Tensor, ModelInfo, TrainParams, IInfer, ITrain, IModelInfo, IDnnErrors
} from "anh/dnn/IDnn.sol";
import {DnnConsumer} from "anh/test/DnnConsumer.sol";
import {AnhPrecompiles, AnhNodeBridge, AnhNodeConfig, AnhNodeResult} from "anh/foundry/AnhPrecompiles.sol";
import {AnhTest} from "./AnhTest.sol";

/// @notice The four precompiles through the forwarders, called by DnnConsumer (a contract that
///         uses them as an application would), against runtime/testdata/mlp.onnx. Expected
///         outputs: fixtures/mlp.json (Python onnxruntime 1.31.1, from runtime/testdata/mlp.json)
///         and the node's own answer to a direct eth_call of the precompile.
contract PrecompilesTest is AnhTest {
    DnnConsumer internal consumer;
    string internal fixture;

    IInfer internal constant INFER = IInfer(AnhPrecompiles.INFER);
    IModelInfo internal constant INFO = IModelInfo(AnhPrecompiles.INFO);
    ITrain internal constant TRAIN = ITrain(AnhPrecompiles.TRAIN);

    function setUp() public {
        AnhPrecompiles.install();
        consumer = new DnnConsumer();
        fixture = vm.readFile("fixtures/mlp.json");
    }

    function _case(uint256 i) internal view returns (Tensor[] memory inputs, bytes memory output, uint256[] memory outShape) {
        string memory key = string.concat(".cases[", vm.toString(i), "]");
        uint256[] memory inShape = vm.parseJsonUintArray(fixture, string.concat(key, ".inputShape"));
        inputs = f32(uint64(inShape[0]), uint64(inShape[1]), vm.parseJsonBytes(fixture, string.concat(key, ".input")));
        output = vm.parseJsonBytes(fixture, string.concat(key, ".output"));
        outShape = vm.parseJsonUintArray(fixture, string.concat(key, ".outputShape"));
    }

    /// A view (STATICCALL) gets the node's ONNX Runtime result: bit-equal to Python onnxruntime's,
    /// and to the node's answer to a direct eth_call of the precompile.
    function test_viewGetsRealOutputs() public {
        uint256 count = vm.parseJsonUint(fixture, ".count");
        vm.assertGt(count, 0, "fixture has cases");
        for (uint256 i = 0; i < count; i++) {
            (Tensor[] memory inputs, bytes memory want, uint256[] memory shape) = _case(i);
            Tensor[] memory outputs = consumer.predict(MLP, inputs);
            vm.assertEq(outputs.length, 1, "one output");
            vm.assertEq(outputs[0].dtype, 1, "float32");
            vm.assertEq(outputs[0].shape.length, 2, "rank 2");
            vm.assertEq(outputs[0].shape[0], shape[0], "batch");
            vm.assertEq(outputs[0].shape[1], shape[1], "classes");
            vm.assertEq(outputs[0].data, want, "output bytes = onnxruntime's (fixtures/mlp.json)");
            AnhNodeResult memory direct =
                AnhPrecompiles.callNode(AnhPrecompiles.INFER, abi.encodeCall(IInfer.infer, (MLP, inputs)));
            vm.assertTrue(direct.ok, "direct eth_call succeeds");
            vm.assertEq(abi.encode(outputs), direct.output, "same bytes as the direct eth_call");
        }
    }

    /// inferAs in a transaction: fixed-point with 9 decimals, within 1e-9 of onnxruntime's float.
    function test_transactionInferAsFixedPoint() public {
        (Tensor[] memory inputs,,) = _case(1);
        int256[] memory want = vm.parseJsonIntArray(fixture, ".cases[1].fixed9");
        vm.assertEq(consumer.runAs(MLP, inputs, 0x49), 1, "one output");
        Tensor[] memory outputs = abi.decode(consumer.lastOutputs(), (Tensor[]));
        vm.assertEq(outputs[0].dtype, 0x49, "fixed-point, 9 decimals");
        vm.assertEq(outputs[0].data.length, 8 * want.length, "int64 per element");
        for (uint256 i = 0; i < want.length; i++) {
            int256 got = int64(uint64(bytes8(_slice8(outputs[0].data, 8 * i))));
            vm.assertApproxEqAbs(got, want[i], 1, "within 1e-9 of onnxruntime");
        }
        vm.assertEq(int256(consumer.lastFixed()), int256(int64(uint64(bytes8(_slice8(outputs[0].data, 0))))), "lastFixed");
    }

    /// 0x…0D03: what the registry recorded about mlp.onnx, and isRegistered.
    function test_modelInfoAndIsRegistered() public {
        ModelInfo memory info = INFO.modelInfo(MLP);
        vm.assertEq(info.model, MLP, "model hash");
        vm.assertEq(info.size, vm.readFileBinary("../../runtime/testdata/mlp.onnx").length, "size");
        vm.assertGt(info.macs, 0, "macs");
        vm.assertEq(info.inputs.length, 1, "one input");
        vm.assertEq(info.inputs[0].dtype, 1, "input float32");
        vm.assertEq(info.inputs[0].shape.length, 2, "input rank");
        vm.assertEq(int256(info.inputs[0].shape[0]), -1, "symbolic batch");
        vm.assertEq(int256(info.inputs[0].shape[1]), 4, "4 features");
        vm.assertEq(int256(info.outputs[0].shape[1]), 3, "3 outputs");
        AnhNodeResult memory direct =
            AnhPrecompiles.callNode(AnhPrecompiles.INFO, abi.encodeCall(IModelInfo.modelInfo, (MLP)));
        vm.assertEq(abi.encode(info), direct.output, "same as the direct eth_call");
        vm.assertTrue(INFO.isRegistered(MLP), "mlp is registered");
        vm.assertFalse(INFO.isRegistered(keccak256("no such model")), "unknown model");
    }

    /// The node's custom errors reach the contract with their data.
    function test_unknownModelRevertsUnknownModel() public {
        bytes32 bogus = keccak256("no such model");
        (Tensor[] memory inputs,,) = _case(0);
        vm.expectRevert(abi.encodeWithSelector(IDnnErrors.UnknownModel.selector, bogus));
        consumer.predict(bogus, inputs);
        vm.expectRevert(abi.encodeWithSelector(IDnnErrors.UnknownModel.selector, bogus));
        INFO.modelInfo(bogus);
    }

    function test_wrongShapeRevertsInputMismatch() public {
        vm.expectRevert(
            abi.encodeWithSelector(IDnnErrors.InputMismatch.selector, 0, "float32 [batch, 4]", "float32 [1, 5]")
        );
        consumer.predict(MLP, f32(1, 5, new bytes(20)));
    }

    function test_wrongInputCountRevertsWrongInputCount() public {
        Tensor[] memory two = new Tensor[](2);
        two[0] = f32(1, 4, new bytes(16))[0];
        two[1] = two[0];
        vm.expectRevert(abi.encodeWithSelector(IDnnErrors.WrongInputCount.selector, 1, 2));
        consumer.predict(MLP, two);
    }

    /// A contract that catches the precompile's revert (try/catch) sees the node's revert data.
    function test_badTensorCaughtByContract() public {
        Tensor[] memory bad = f32(1, 4, new bytes(15)); // 4 float32 need 16 bytes
        (bool ok, bytes memory reason) = consumer.tryInfer(MLP, bad);
        vm.assertFalse(ok, "fails");
        vm.assertEq(uint256(uint32(selectorOf(reason))), uint256(uint32(IDnnErrors.BadTensor.selector)), "BadTensor");
        (uint256 input, string memory why) = abi.decode(argsOf(reason), (uint256, string));
        vm.assertEq(input, 0, "input 0");
        vm.assertEq(why, "data has 15 bytes, but shape [1, 4] of float32 needs 16", "reason");
        AnhNodeResult memory direct =
            AnhPrecompiles.callNode(AnhPrecompiles.INFER, abi.encodeCall(IInfer.infer, (MLP, bad)));
        vm.assertEq(reason, direct.output, "same revert data as the direct eth_call");
    }

    /// The forwarder calls the node with the same kind of call it got: a registration under
    /// STATICCALL gets the node's WriteInStaticCall.
    function test_registerInViewRevertsWriteInStaticCall() public {
        vm.expectRevert(abi.encodeWithSelector(IDnnErrors.WriteInStaticCall.selector));
        consumer.registerInView(MLP, "again");
    }

    /// register runs as an eth_call: the node's checks, nothing recorded.
    function test_registerAgainRevertsAlreadyRegistered() public {
        vm.expectRevert(abi.encodeWithSelector(IDnnErrors.AlreadyRegistered.selector, MLP));
        consumer.registerModel(MLP, "again");
    }

    /// train (0x…0D02) in eth_call form: the node trains and answers (new model, loss); the new
    /// model is not registered (nothing is written on the node).
    function test_trainAsEthCall() public {
        (Tensor[] memory inputs,,) = _case(1); // x: [3, 4]
        Tensor[] memory batch = new Tensor[](2);
        batch[0] = inputs[0];
        batch[1] = f32(3, 3, new bytes(36))[0]; // MSE targets: zeros [3, 3]
        TrainParams memory params = TrainParams({steps: 5, learningRate: 0.1e18, loss: 1, optimizer: 1});
        (bytes32 newModel, int256 loss) = TRAIN.train(MLP, batch, params);
        vm.assertNotEq(newModel, bytes32(0), "a new model");
        vm.assertNotEq(newModel, MLP, "not the parent");
        vm.assertGt(uint256(loss), 0, "a positive MSE");
        AnhNodeResult memory direct =
            AnhPrecompiles.callNode(AnhPrecompiles.TRAIN, abi.encodeCall(ITrain.train, (MLP, batch, params)));
        vm.assertEq(abi.encode(newModel, loss), direct.output, "same as the direct eth_call");
        vm.assertFalse(INFO.isRegistered(newModel), "the trained model is not registered on the node");
        params.steps = 0;
        vm.expectRevert(
            abi.encodeWithSelector(IDnnErrors.MalformedCall.selector, "steps is 0: expected 1 to 1000")
        );
        TRAIN.train(MLP, batch, params);
    }

    /// The forwarder's own cost beyond the node's gas, at most: the stub's entry and return
    /// around the burn (measured ≈ 540 with this project's settings, optimizer 200 runs).
    uint256 internal constant OVERHEAD = 1_000;
    /// Extra cost of the first call to a precompile address in a transaction: the address is cold
    /// in Foundry (2 600), warm on the node (100, in the node's measure).
    uint256 internal constant COLD_ACCESS = 2_500;
    /// What the node charges for loading mlp.onnx (752 bytes) when it is outside the chain's warm
    /// set: `coldModelBase + coldModelKib × ⌈size / 1024⌉` of the dev chain's schedule
    /// (primitives/src/gas.rs; `anh_chainConfig` shows it), 30 000 + 200 × 1.
    uint256 internal constant MLP_COLD_LOAD = 30_200;
    /// The dev chain's warm set size (`warmModels`).
    uint256 internal constant WARM_MODELS = 16;

    /// The gas a STATICCALL of `target` with `data` costs the caller (return data not copied).
    function _gasOf(address target, bytes memory data) internal view returns (bool ok, uint256 used) {
        used = gasleft();
        assembly {
            ok := staticcall(gas(), target, add(data, 32), mload(data), 0, 0)
        }
        used -= gasleft();
    }

    /// A storage word of the node's 0x…0D00 (the registry, which keeps the warm set) at the
    /// block the forwarders ask at.
    function _nodeRegistrySlot(bytes32 slot) internal returns (uint256) {
        AnhNodeBridge b = AnhPrecompiles.bridge();
        string memory params = string.concat(
            '["', vm.toString(AnhPrecompiles.REGISTRY), '","', vm.toString(slot), '","', b.blockTag(), '"]'
        );
        string memory url = b.rpc();
        bytes memory word = bytes(url).length == 0
            ? vm.rpc("eth_getStorageAt", params)
            : vm.rpc(url, "eth_getStorageAt", params);
        return uint256(bytes32(word));
    }

    /// Whether `model` is outside the node's warm set at that block, by the rule of
    /// precompiles/src/registry.rs: `loads` at slot 1, `loadedAt[model]` in a mapping at slot 2.
    function _coldOnNode(bytes32 model) internal returns (bool) {
        uint256 loads = _nodeRegistrySlot(bytes32(uint256(1)));
        uint256 at = _nodeRegistrySlot(keccak256(abi.encode(model, uint256(2))));
        return at == 0 || at > loads || loads - at >= WARM_MODELS;
    }

    /// The forwarder burns the gas the precompile used on the node, for this call at this block:
    /// the cold-model load included when mlp.onnx is cold there, not when it is warm. A call
    /// costs that plus at most OVERHEAD (plus COLD_ACCESS on the address's first call), whichever
    /// state the node is in; a forwarder that charged nothing, or twice, fails here.
    function test_gasIsCloseToTheNodes() public {
        (Tensor[] memory inputs,,) = _case(1);
        bytes memory data = abi.encodeCall(IInfer.infer, (MLP, inputs));
        uint256 nodeGas = AnhPrecompiles.callNode(AnhPrecompiles.INFER, data).gasUsed;
        if (_coldOnNode(MLP)) {
            vm.assertGt(nodeGas, MLP_COLD_LOAD + 5_000, "mlp cold on the node: its gas includes the load");
        } else {
            vm.assertLt(nodeGas, MLP_COLD_LOAD, "mlp warm on the node: no load in its gas");
        }
        vm.assertGt(nodeGas, 5_000, "inference costs gas on the node");

        (bool ok, uint256 first) = _gasOf(AnhPrecompiles.INFER, data);
        vm.assertTrue(ok, "the call succeeds");
        vm.assertGe(first, nodeGas + COLD_ACCESS, "first call: at least the node's gas + the cold access");
        vm.assertLe(first, nodeGas + COLD_ACCESS + OVERHEAD, "first call: at most OVERHEAD more");

        uint256 again;
        (ok, again) = _gasOf(AnhPrecompiles.INFER, data);
        vm.assertTrue(ok, "the second call succeeds");
        vm.assertGe(again, nodeGas, "second call: at least the node's gas");
        vm.assertLe(again, nodeGas + OVERHEAD, "second call: at most OVERHEAD more");
    }

    /// With chargeGas off the forwarder burns nothing: a call costs only the forwarder's own
    /// work (at most OVERHEAD), and turning the charge on adds the node's gas to that.
    function test_chargeGasOff() public {
        (Tensor[] memory inputs,,) = _case(1);
        bytes memory data = abi.encodeCall(IInfer.infer, (MLP, inputs));
        uint256 nodeGas = AnhPrecompiles.callNode(AnhPrecompiles.INFER, data).gasUsed;
        AnhNodeConfig memory cfg = AnhPrecompiles.defaultConfig();
        cfg.chargeGas = false;
        AnhPrecompiles.install(cfg);
        (bool ok,) = _gasOf(AnhPrecompiles.INFER, data); // the address is warm from here on
        vm.assertTrue(ok, "the call succeeds");
        (, uint256 off) = _gasOf(AnhPrecompiles.INFER, data);
        (bool ok2, bytes memory ret) = AnhPrecompiles.INFER.staticcall(data);
        vm.assertTrue(ok2, "the call succeeds");
        vm.assertEq(ret, AnhPrecompiles.callNode(AnhPrecompiles.INFER, data).output, "the node's outputs");
        vm.assertLe(off, OVERHEAD, "chargeGas off: only the forwarder's own work");

        AnhPrecompiles.install(); // chargeGas on
        (, uint256 on) = _gasOf(AnhPrecompiles.INFER, data);
        vm.assertGe(on, nodeGas, "chargeGas on: at least the node's gas");
        vm.assertLe(on, nodeGas + OVERHEAD, "chargeGas on: at most OVERHEAD more");
        vm.assertGe(on - off + OVERHEAD, nodeGas, "turning it off saves the node's gas");
    }

    /// If the test paused gas metering, the forwarder leaves it paused (and burns nothing: a burn
    /// loop would never end), and still answers with the node's outputs.
    function test_pausedGasMeteringStaysPaused() public {
        (Tensor[] memory inputs, bytes memory want,) = _case(1);
        vm.pauseGasMetering();
        uint256 before = gasleft();
        Tensor[] memory outputs = consumer.predict(MLP, inputs);
        uint256 afterwards = gasleft();
        vm.resumeGasMetering();
        vm.assertEq(outputs[0].data, want, "output bytes = onnxruntime's (fixtures/mlp.json)");
        vm.assertEq(afterwards, before, "metering still paused after the forwarded call");
    }

    /// Without install(), vm.mockCall with the node's answer (mockInfer) serves one exact call.
    function test_mockInferWithoutForwarder() public {
        AnhPrecompiles.uninstall();
        (Tensor[] memory inputs, bytes memory want,) = _case(0);
        vm.expectRevert(); // no precompile in Foundry's EVM
        consumer.predict(MLP, inputs);

        AnhNodeResult memory r = AnhPrecompiles.mockInfer(MLP, inputs);
        vm.assertTrue(r.ok, "the node answered");
        vm.assertEq(consumer.predict(MLP, inputs)[0].data, want, "mocked with onnxruntime's output");

        Tensor[] memory wrong = f32(1, 5, new bytes(20));
        vm.assertFalse(AnhPrecompiles.mockInfer(MLP, wrong).ok, "the node reverted");
        vm.expectRevert(
            abi.encodeWithSelector(IDnnErrors.InputMismatch.selector, 0, "float32 [batch, 4]", "float32 [1, 5]")
        );
        consumer.predict(MLP, wrong);

        AnhPrecompiles.mockIsRegistered(MLP);
        vm.assertTrue(INFO.isRegistered(MLP), "mocked isRegistered");
    }

    function _slice8(bytes memory b, uint256 at) private pure returns (bytes memory s) {
        s = new bytes(8);
        for (uint256 i = 0; i < 8; i++) s[i] = b[at + i];
    }
}
