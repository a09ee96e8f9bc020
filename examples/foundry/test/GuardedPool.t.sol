// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {Tensor, Rule, IInfer, IDnnErrors} from "anh/dnn/IDnn.sol";
import {TensorLib} from "anh/dnn/TensorLib.sol";
import {DevToken} from "anh/DevToken.sol";
import {GuardedPool} from "anh/examples/flashloan/GuardedPool.sol";
import {AnhPrecompiles, AnhNodeResult} from "anh/foundry/AnhPrecompiles.sol";
import {AnhTest, TestVm} from "./AnhTest.sol";

/// @notice GuardedPool (contracts/src/examples/flashloan), the AMM whose swaps an ONNX detector
///         screens, tested with forge: its `inferWith` call is answered by the node's ONNX
///         Runtime running models/guard.onnx (a hand-set 8-5-2 MLP: logits [0, 2 (|f5| + |f6| +
///         f7) - 4], see models/gen_guard.py). Each test compares the pool's score with a direct
///         eth_call of the precompile and with that closed form.
contract GuardedPoolTest is AnhTest {
    using TensorLib for Tensor;

    DevToken internal asset;
    DevToken internal stable;
    GuardedPool internal pool;

    function setUp() public {
        AnhPrecompiles.install();
        asset = new DevToken("Guarded ETH", "gETH", 1_000_000e18);
        stable = new DevToken("Guarded USD", "gUSD", 1_000_000_000e18);
        pool = new GuardedPool(asset, stable);
        asset.approve(address(pool), type(uint256).max);
        stable.approve(address(pool), type(uint256).max);
        pool.addLiquidity(1_000e18, 2_000_000e18); // price 2000
        pool.setDetector(GUARD); // isRegistered (0x…0D03), answered by the node
        vm.roll(block.number + 1);
    }

    /// The node's logits for `window`, asked directly (not through the pool), and the score.
    function _nodeScore(int256[] memory window) internal returns (int256 score, bytes memory call) {
        call = abi.encodeCall(IInfer.inferWith, (GUARD, _inputs(window), 0x46, Rule(3, 0, 0)));
        AnhNodeResult memory r = AnhPrecompiles.callNode(AnhPrecompiles.INFER, call);
        vm.assertTrue(r.ok, "the node runs the detector");
        Tensor[] memory logits = abi.decode(r.output, (Tensor[]));
        score = logits[0].getInt(1) - logits[0].getInt(0);
    }

    /// guard.onnx's score in closed form, 6 decimals.
    function _closedForm(int256[] memory f) internal pure returns (int256) {
        return 2 * (_abs(f[5]) + _abs(f[6]) + f[7]) - 4e6;
    }

    function _inputs(int256[] memory window) internal pure returns (Tensor[] memory inputs) {
        inputs = new Tensor[](1);
        inputs[0] = TensorLib.fromFixed(window, TensorLib.shape(1, 8), 6);
    }

    function _abs(int256 x) internal pure returns (int256) {
        return x < 0 ? -x : x;
    }

    function test_setDetectorRejectsUnregisteredModel() public {
        bytes32 bogus = keccak256("no such model");
        vm.expectRevert(abi.encodeWithSelector(GuardedPool.DetectorNotRegistered.selector, bogus));
        pool.setDetector(bogus);
        vm.assertEq(pool.detector(), GUARD, "detector unchanged");
    }

    /// An ordinary swap (1 % of the gUSD reserve) passes; the Swap event carries the real
    /// model's score.
    function test_ordinarySwapPassesWithTheRealScore() public {
        uint256 amountIn = 20_000e18;
        int256[] memory window = pool.features(address(stable), amountIn);
        (int256 want,) = _nodeScore(window);
        vm.assertLt(uint256(-want), 4e6, "negative score: normal");
        vm.assertApproxEqAbs(want, _closedForm(window), 4, "the closed form of guard.onnx");

        vm.recordLogs();
        uint256 out = pool.swap(address(stable), amountIn, 0, address(this));
        TestVm.Log[] memory logs = vm.getRecordedLogs();
        TestVm.Log memory swapLog = logs[logs.length - 1];
        vm.assertEq(swapLog.topics[0], GuardedPool.Swap.selector, "the pool's Swap event");
        (uint256 amountIn_, uint256 amountOut,, int256 score) =
            abi.decode(swapLog.data, (uint256, uint256, uint256, int256));
        vm.assertEq(amountIn_, amountIn, "amount in");
        vm.assertEq(amountOut, out, "amount out");
        vm.assertEq(score, want, "the pool got the node's score");
        vm.assertGt(asset.balanceOf(address(this)), 999_000e18, "gETH paid out");
    }

    /// A manipulation-sized swap (half the gUSD reserve) reverts ManipulationDetected with the
    /// real model's score and the window it saw.
    function test_manipulationRevertsManipulationDetected() public {
        uint256 amountIn = 1_000_000e18;
        int256[] memory window = pool.features(address(stable), amountIn);
        (int256 score,) = _nodeScore(window);
        vm.assertGt(uint256(score), 0, "positive score: manipulation");
        vm.assertApproxEqAbs(score, _closedForm(window), 4, "the closed form of guard.onnx");
        vm.expectRevert(abi.encodeWithSelector(GuardedPool.ManipulationDetected.selector, uint256(score), window));
        pool.swap(address(stable), amountIn, 0, address(this));
        vm.assertEq(pool.reserve1(), 2_000_000e18, "nothing changed");
    }

    /// Ordinary trading over several blocks, both directions, then a 10 % pump: the detector lets
    /// the first through and stops the last (compare examples/flashloan-guard).
    function test_tradingThenPump() public {
        for (uint256 i = 0; i < 4; i++) {
            address tokenIn = i % 2 == 0 ? address(stable) : address(asset);
            uint256 amountIn = i % 2 == 0 ? 10_000e18 : 5e18;
            (int256 want,) = _nodeScore(pool.features(tokenIn, amountIn));
            vm.recordLogs();
            pool.swap(tokenIn, amountIn, 0, address(this));
            TestVm.Log[] memory logs = vm.getRecordedLogs();
            (,,, int256 score) = abi.decode(logs[logs.length - 1].data, (uint256, uint256, uint256, int256));
            vm.assertEq(score, want, "each swap gets the node's score");
            vm.roll(block.number + 1);
        }
        uint256 pump = pool.reserve1() / 10;
        int256[] memory window = pool.features(address(stable), pump);
        (int256 score,) = _nodeScore(window);
        vm.expectRevert(abi.encodeWithSelector(GuardedPool.ManipulationDetected.selector, uint256(score), window));
        pool.swap(address(stable), pump, 0, address(this));
    }

    /// A precompile error reaches the caller through the pool: pointed at mlp.onnx (registered,
    /// but 4 inputs, not 8), a swap reverts with the node's InputMismatch.
    function test_precompileErrorSurfacesThroughThePool() public {
        pool.setDetector(MLP);
        uint256 amountIn = 20_000e18;
        int256[] memory window = pool.features(address(stable), amountIn);
        bytes memory call = abi.encodeCall(IInfer.inferWith, (MLP, _inputs(window), 0x46, Rule(3, 0, 0)));
        AnhNodeResult memory direct = AnhPrecompiles.callNode(AnhPrecompiles.INFER, call);
        vm.assertFalse(direct.ok, "the node refuses");
        bytes memory want = abi.encodeWithSelector(
            IDnnErrors.InputMismatch.selector, 0, "float32 [batch, 4]", "fixed-point (10^-6) [1, 8]"
        );
        vm.assertEq(direct.output, want, "InputMismatch(0, float32 [batch, 4], fixed-point (10^-6) [1, 8])");
        vm.expectRevert(want);
        pool.swap(address(stable), amountIn, 0, address(this));
    }

    /// The vm.mockCall way: no forwarder; the test fetches the node's answer to the exact call
    /// the pool will make and mocks it.
    function test_mockedDetectorCall() public {
        AnhPrecompiles.uninstall();
        uint256 amountIn = 20_000e18;
        int256[] memory window = pool.features(address(stable), amountIn);
        (int256 want,) = _nodeScore(window);
        AnhNodeResult memory r = AnhPrecompiles.mockInferWith(GUARD, _inputs(window), 0x46, Rule(3, 0, 0));
        vm.assertTrue(r.ok, "mocked with the node's logits");
        vm.recordLogs();
        pool.swap(address(stable), amountIn, 0, address(this));
        TestVm.Log[] memory logs = vm.getRecordedLogs();
        (,,, int256 score) = abi.decode(logs[logs.length - 1].data, (uint256, uint256, uint256, int256));
        vm.assertEq(score, want, "the pool got the node's score");

        // The next swap sends another window, which nothing answers.
        vm.roll(block.number + 1);
        vm.expectRevert();
        pool.swap(address(stable), amountIn, 0, address(this));
    }
}
