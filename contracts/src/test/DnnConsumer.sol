// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {Tensor, Rule, IInfer, IModelRegistry} from "../dnn/IDnn.sol";

/// @title DnnConsumer
/// @notice Test fixture for ANH's integration tests: a contract that uses the DNN precompiles the
///         way an application would — inference in a transaction and in a view, registration,
///         a forbidden registration under STATICCALL, and a caught precompile revert.
/// @dev `register` returns nothing, so Solidity checks the target's code size before a
///      high-level call to it; that check passes because the node gives the precompile
///      addresses the code `0xfe`. `registerInView` needs a low-level STATICCALL, since a view
///      may not make a high-level call to a state-changing function.
contract DnnConsumer {
    /// @notice The inference precompile.
    IInfer public constant INFER = IInfer(0x0000000000000000000000000000000000000d01);

    /// @notice The model registry precompile.
    IModelRegistry public constant REGISTRY = IModelRegistry(0x0000000000000000000000000000000000000d00);

    /// @notice `abi.encode(outputs)` of the last `run` or `runAs`.
    bytes public lastOutputs;

    /// @notice The first element of the first output of the last `runAs`, read as int64 (the
    ///         raw value of a fixed-point output).
    int64 public lastFixed;

    /// @notice The revert data of the last `runOrCatch` that failed (empty after a success).
    bytes public lastError;

    /// @notice Emitted by `run` and `runAs`.
    /// @param model The model that ran.
    /// @param outputs How many output tensors it returned.
    event Inferred(bytes32 indexed model, uint256 outputs);

    /// @notice Runs `model` on `inputs` in a transaction and stores the encoded outputs.
    /// @param model The model's hash.
    /// @param inputs The input tensors.
    /// @return count The number of outputs.
    function run(bytes32 model, Tensor[] calldata inputs) external returns (uint256 count) {
        Tensor[] memory outputs = INFER.infer(model, inputs);
        lastOutputs = abi.encode(outputs);
        count = outputs.length;
        emit Inferred(model, count);
    }

    /// @notice Like `run`, with every output converted to `dtype`; also stores the first element
    ///         of the first output as int64 in `lastFixed`.
    /// @param model The model's hash.
    /// @param inputs The input tensors.
    /// @param dtype The output dtype code (e.g. 0x46: fixed-point with 6 decimals).
    /// @return count The number of outputs.
    function runAs(bytes32 model, Tensor[] calldata inputs, uint8 dtype) external returns (uint256 count) {
        Tensor[] memory outputs = INFER.inferAs(model, inputs, dtype);
        lastOutputs = abi.encode(outputs);
        bytes memory first = outputs[0].data;
        require(first.length >= 8, "first output is shorter than 8 bytes");
        bytes32 word;
        assembly {
            word := mload(add(first, 0x20))
        }
        lastFixed = int64(uint64(bytes8(word)));
        count = outputs.length;
        emit Inferred(model, count);
    }

    /// @notice Runs `model` on `inputs` in a view: the precompile is reached through STATICCALL.
    /// @param model The model's hash.
    /// @param inputs The input tensors.
    /// @return The output tensors.
    function predict(bytes32 model, Tensor[] calldata inputs) external view returns (Tensor[] memory) {
        return INFER.infer(model, inputs);
    }

    /// @notice Registers `model` under `name`; the registry records this contract as the owner.
    /// @param model The model's hash (uploaded to the node first).
    /// @param name The model's name.
    function registerModel(bytes32 model, string calldata name) external {
        REGISTRY.register(model, name);
    }

    /// @notice Calls `register` through STATICCALL, which the registry must refuse with
    ///         `WriteInStaticCall`; that revert is bubbled up.
    /// @param model The model's hash.
    /// @param name The model's name.
    function registerInView(bytes32 model, string calldata name) external view {
        (bool ok, bytes memory ret) =
            address(REGISTRY).staticcall(abi.encodeCall(IModelRegistry.register, (model, name)));
        if (!ok) {
            assembly {
                revert(add(ret, 0x20), mload(ret))
            }
        }
    }

    /// @notice Runs `model` on `inputs` and catches a failure instead of reverting.
    /// @param model The model's hash.
    /// @param inputs The input tensors.
    /// @return ok Whether the inference succeeded.
    /// @return revertData The precompile's revert data if it failed (empty when it ran out of gas).
    function tryInfer(bytes32 model, Tensor[] calldata inputs)
        external
        view
        returns (bool ok, bytes memory revertData)
    {
        try INFER.infer(model, inputs) returns (Tensor[] memory) {
            ok = true;
        } catch (bytes memory reason) {
            revertData = reason;
        }
    }

    /// @notice Runs `model` in a transaction and, instead of reverting, records why it failed
    ///         (e.g. `IDnnErrors.NoQuorum` when the executor committee did not settle).
    /// @param model The model hash.
    /// @param inputs The inputs.
    /// @param rule How the committee settles this call (kind 0: the model's rule).
    /// @return ok Whether the inference succeeded.
    function runOrCatch(bytes32 model, Tensor[] calldata inputs, Rule calldata rule) external returns (bool ok) {
        try INFER.inferWith(model, inputs, 0, rule) returns (Tensor[] memory outputs) {
            lastOutputs = abi.encode(outputs);
            delete lastError;
            return true;
        } catch (bytes memory reason) {
            lastError = reason;
            return false;
        }
    }
}
