// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {Tensor} from "anh/dnn/IDnn.sol";

/// @notice The cheatcodes these tests use (forge-std's `Vm` signatures). forge-std itself is not
///         used: npm's `forge-std` is an unofficial 2022 copy without `vm.rpc`, and only npm and
///         PyPI are reachable from CI. With forge-std installed, `Test` gives you all of these.
interface TestVm {
    struct Log {
        bytes32[] topics;
        bytes data;
        address emitter;
    }

    function recordLogs() external;
    function getRecordedLogs() external returns (Log[] memory logs);
    function expectRevert() external;
    function readFile(string calldata path) external view returns (string memory);
    function readFileBinary(string calldata path) external view returns (bytes memory);
    function parseJsonBytes(string calldata json, string calldata key) external pure returns (bytes memory);
    function parseJsonUint(string calldata json, string calldata key) external pure returns (uint256);
    function parseJsonUintArray(string calldata json, string calldata key) external pure returns (uint256[] memory);
    function parseJsonIntArray(string calldata json, string calldata key) external pure returns (int256[] memory);
    function toString(uint256 value) external pure returns (string memory);
    function toString(bytes32 value) external pure returns (string memory);
    function toString(address value) external pure returns (string memory);
    function rpc(string calldata method, string calldata params) external returns (bytes memory data);
    function rpc(string calldata urlOrAlias, string calldata method, string calldata params)
        external
        returns (bytes memory data);
    function pauseGasMetering() external;
    function resumeGasMetering() external;
    function expectRevert(bytes calldata revertData) external;
    function expectEmit(bool checkTopic1, bool checkTopic2, bool checkTopic3, bool checkData) external;
    function roll(uint256 newHeight) external;
    function assertTrue(bool condition, string calldata err) external pure;
    function assertFalse(bool condition, string calldata err) external pure;
    function assertEq(bool left, bool right, string calldata err) external pure;
    function assertEq(uint256 left, uint256 right, string calldata err) external pure;
    function assertEq(int256 left, int256 right, string calldata err) external pure;
    function assertEq(bytes32 left, bytes32 right, string calldata err) external pure;
    function assertEq(string calldata left, string calldata right, string calldata err) external pure;
    function assertEq(bytes calldata left, bytes calldata right, string calldata err) external pure;
    function assertNotEq(bytes32 left, bytes32 right, string calldata err) external pure;
    function assertGt(uint256 left, uint256 right, string calldata err) external pure;
    function assertLt(uint256 left, uint256 right, string calldata err) external pure;
    function assertLe(uint256 left, uint256 right, string calldata err) external pure;
    function assertGe(uint256 left, uint256 right, string calldata err) external pure;
    function assertApproxEqAbs(int256 left, int256 right, uint256 maxDelta, string calldata err) external pure;
    function assertApproxEqAbs(uint256 left, uint256 right, uint256 maxDelta, string calldata err) external pure;
}

/// @notice Shared set-up: the cheatcodes, the models' hashes (keccak256 of the files the runner
///         pushed to the node) and small tensor helpers.
abstract contract AnhTest {
    TestVm internal constant vm = TestVm(address(uint160(uint256(keccak256("hevm cheat code")))));

    /// @dev forge reads this to know the contract is a test.
    bool public constant IS_TEST = true;

    /// @notice runtime/testdata/mlp.onnx: float32 [batch, 4] -> [batch, 3].
    bytes32 internal immutable MLP = keccak256(vm.readFileBinary("../../runtime/testdata/mlp.onnx"));
    /// @notice models/guard.onnx: GuardedPool's window float32 [batch, 8] -> logits [batch, 2].
    bytes32 internal immutable GUARD = keccak256(vm.readFileBinary("models/guard.onnx"));

    /// @notice One float32 tensor of shape [rows, cols] with the given big-endian bytes.
    function f32(uint64 rows, uint64 cols, bytes memory data) internal pure returns (Tensor[] memory ts) {
        uint64[] memory shape = new uint64[](2);
        shape[0] = rows;
        shape[1] = cols;
        ts = new Tensor[](1);
        ts[0] = Tensor({dtype: 1, shape: shape, data: data});
    }

    /// @notice The first 4-byte selector of `data`.
    function selectorOf(bytes memory data) internal pure returns (bytes4 s) {
        if (data.length >= 4) s = bytes4(data);
    }

    /// @notice `data` without its 4-byte selector.
    function argsOf(bytes memory data) internal pure returns (bytes memory args) {
        args = new bytes(data.length - 4);
        for (uint256 i = 0; i < args.length; i++) args[i] = data[i + 4];
    }
}
