// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {
    Tensor,
    Rule,
    ModelInfo,
    TrainParams,
    IModelRegistry,
    IInfer,
    ITrain,
    IModelInfo,
    IDnnErrors
} from "./IDnn.sol";

/// @title Dnn
/// @notice Typed wrappers of ANH's DNN precompiles: register, run and train ONNX models from
///         Solidity. Every function is `internal`, so it compiles into the calling contract
///         (no deployment, no linking).
/// @dev Failures revert with the precompiles' custom errors (`IDnnErrors`: `UnknownModel`,
///      `InputMismatch`, `TrainingFailed`, `NoQuorum`, …), which bubble up unchanged through
///      these wrappers; catch them with `try`/`catch` on an external call, or let them revert
///      the transaction (JSON-RPC clients then show `execution reverted: InputMismatch: …`).
///      Results computed in a transaction are settled by the executor committee; in `eth_call`
///      and gas estimation the node computes them itself.
library Dnn {
    /// @notice The model registry precompile.
    IModelRegistry internal constant REGISTRY = IModelRegistry(0x0000000000000000000000000000000000000d00);
    /// @notice The inference precompile.
    IInfer internal constant INFER = IInfer(0x0000000000000000000000000000000000000d01);
    /// @notice The training precompile.
    ITrain internal constant TRAIN = ITrain(0x0000000000000000000000000000000000000d02);
    /// @notice The model-info precompile.
    IModelInfo internal constant INFO = IModelInfo(0x0000000000000000000000000000000000000D03);

    /// @notice dtype float32.
    uint8 internal constant FLOAT32 = 1;
    /// @notice dtype float64.
    uint8 internal constant FLOAT64 = 2;
    /// @notice dtype int32.
    uint8 internal constant INT32 = 3;
    /// @notice dtype int64.
    uint8 internal constant INT64 = 4;
    /// @notice dtype uint8.
    uint8 internal constant UINT8 = 5;
    /// @notice dtype int8.
    uint8 internal constant INT8 = 6;
    /// @notice dtype bool.
    uint8 internal constant BOOL = 7;
    /// @notice dtype of fixed-point with `k` decimals is `FIXED + k` (k ≤ 18).
    uint8 internal constant FIXED = 0x40;

    /// @notice Loss codes of `TrainParams.loss`.
    uint8 internal constant MSE = 1;
    /// @notice Cross-entropy on logits, integer class labels.
    uint8 internal constant CROSS_ENTROPY = 2;
    /// @notice Cross-entropy weighted per sample (policy gradient).
    uint8 internal constant WEIGHTED_CROSS_ENTROPY = 3;

    /// @notice Optimizer codes of `TrainParams.optimizer`.
    uint8 internal constant SGD = 1;
    /// @notice Momentum 0.9.
    uint8 internal constant MOMENTUM = 2;
    /// @notice Adam (0.9, 0.999).
    uint8 internal constant ADAM = 3;

    /// @notice Records `model` (uploaded to the node's store first) under `name`.
    /// @param model keccak256 of the ONNX file.
    /// @param name A name for people.
    function register(bytes32 model, string memory name) internal {
        REGISTRY.register(model, name);
    }

    /// @notice Runs `model` on `inputs`; outputs come in the model's own dtypes.
    /// @param model The model.
    /// @param inputs Its inputs, in order (converted to the dtypes it declares).
    /// @return outputs Its outputs, in order.
    function infer(bytes32 model, Tensor[] memory inputs) internal view returns (Tensor[] memory outputs) {
        return INFER.infer(model, inputs);
    }

    /// @notice Runs `model` on one input.
    /// @param model The model.
    /// @param input Its only input.
    /// @return outputs Its outputs, in order.
    function infer(bytes32 model, Tensor memory input) internal view returns (Tensor[] memory outputs) {
        Tensor[] memory inputs = new Tensor[](1);
        inputs[0] = input;
        return INFER.infer(model, inputs);
    }

    /// @notice Runs `model` with every output converted to `dtype` (e.g. `FIXED + 6`).
    /// @param model The model.
    /// @param inputs Its inputs.
    /// @param dtype The dtype of every output.
    /// @return outputs Its outputs, in order.
    function inferAs(bytes32 model, Tensor[] memory inputs, uint8 dtype)
        internal
        view
        returns (Tensor[] memory outputs)
    {
        return INFER.inferAs(model, inputs, dtype);
    }

    /// @notice Runs `model` on one input, every output converted to `dtype`.
    /// @param model The model.
    /// @param input Its only input.
    /// @param dtype The dtype of every output.
    /// @return outputs Its outputs, in order.
    function inferAs(bytes32 model, Tensor memory input, uint8 dtype) internal view returns (Tensor[] memory outputs) {
        Tensor[] memory inputs = new Tensor[](1);
        inputs[0] = input;
        return INFER.inferAs(model, inputs, dtype);
    }

    /// @notice Like `inferAs`, settled by `rule` instead of the model's registered rule.
    /// @param model The model.
    /// @param inputs Its inputs.
    /// @param dtype The dtype of every output (0: the model's own).
    /// @param rule How the committee agrees on the result.
    /// @return outputs Its outputs, in order.
    function inferWith(bytes32 model, Tensor[] memory inputs, uint8 dtype, Rule memory rule)
        internal
        view
        returns (Tensor[] memory outputs)
    {
        return INFER.inferWith(model, inputs, dtype, rule);
    }

    /// @notice Trains `model` on `batch`; the new weights are registered as a new model whose
    ///         parent is `model`.
    /// @param model The model to train from.
    /// @param batch Its inputs, then the labels, then (weighted cross-entropy) sample weights.
    /// @param params Steps, learning rate (×1e18), loss and optimizer codes.
    /// @return newModel The trained model.
    /// @return loss Its loss on the batch, fixed-point ×1e18.
    function train(bytes32 model, Tensor[] memory batch, TrainParams memory params)
        internal
        returns (bytes32 newModel, int256 loss)
    {
        return TRAIN.train(model, batch, params);
    }

    /// @notice Trains only the initializers named in `trainable` (1 to 64) of `model`; the rest
    ///         stay as they are. Otherwise like `train`.
    /// @param model The model to train from.
    /// @param batch Its inputs, then the labels, then (weighted cross-entropy) sample weights.
    /// @param params Steps, learning rate (×1e18), loss and optimizer codes.
    /// @param trainable The initializers that train.
    /// @return newModel The trained model.
    /// @return loss Its loss on the batch, fixed-point ×1e18.
    function trainOnly(bytes32 model, Tensor[] memory batch, TrainParams memory params, string[] memory trainable)
        internal
        returns (bytes32 newModel, int256 loss)
    {
        return TRAIN.trainOnly(model, batch, params, trainable);
    }

    /// @notice `TrainParams` from its parts.
    /// @param steps Optimizer steps (1 to 1000).
    /// @param learningRate Fixed-point ×1e18 (0.01 is 1e16).
    /// @param loss `MSE`, `CROSS_ENTROPY` or `WEIGHTED_CROSS_ENTROPY`.
    /// @param optimizer `SGD`, `MOMENTUM` or `ADAM`.
    /// @return The struct.
    function trainParams(uint32 steps, uint64 learningRate, uint8 loss, uint8 optimizer)
        internal
        pure
        returns (TrainParams memory)
    {
        return TrainParams({steps: steps, learningRate: learningRate, loss: loss, optimizer: optimizer});
    }

    /// @notice What the registry recorded about `model`; reverts `UnknownModel` if nothing.
    /// @param model The model.
    /// @return Its record.
    function info(bytes32 model) internal view returns (ModelInfo memory) {
        return INFO.modelInfo(model);
    }

    /// @notice Whether `model` is registered.
    /// @param model The model.
    /// @return Whether it is.
    function isRegistered(bytes32 model) internal view returns (bool) {
        return INFO.isRegistered(model);
    }

    /// @notice The selector of a precompile revert, to branch on it in a `catch (bytes memory
    ///         reason)` block: compare with `IDnnErrors.NoQuorum.selector` and the like.
    /// @param reason Revert data.
    /// @return selector Its first four bytes (zero if shorter).
    function errorSelector(bytes memory reason) internal pure returns (bytes4 selector) {
        if (reason.length < 4) return bytes4(0);
        assembly {
            selector := mload(add(reason, 0x20))
        }
    }

    /// @notice Whether `reason` is a `NoQuorum` revert (the committee did not settle), which a
    ///         contract may want to retry later rather than treat as bad input.
    /// @param reason Revert data.
    /// @return Whether it is.
    function isNoQuorum(bytes memory reason) internal pure returns (bool) {
        return errorSelector(reason) == IDnnErrors.NoQuorum.selector;
    }
}
