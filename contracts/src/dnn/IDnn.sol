// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

/// @title ANH DNN precompile interface
/// @notice The types, interfaces and errors of ANH's DNN precompiles. The Rust side binds this
///         file with `sol!`, so it is the one definition of the precompiles' ABI.
///
/// Addresses:
///   0x0000000000000000000000000000000000000D00  IModelRegistry
///   0x0000000000000000000000000000000000000D01  IInfer
///   0x0000000000000000000000000000000000000D02  ITrain
///   0x0000000000000000000000000000000000000D03  IModelInfo

/// @notice A tensor: an element type, a shape, and the elements packed row-major,
///         big-endian, like the rest of the ABI.
/// @dev dtype: 1 float32, 2 float64, 3 int32, 4 int64, 5 uint8, 6 int8, 7 bool (1 byte),
///      0x40 + k (k = 0..18) fixed-point: int64 v meaning v / 10^k (8 bytes).
///      Element i of an int64 tensor is `int64(uint64(bytes8(data[8*i:8*i+8])))`.
struct Tensor {
    uint8 dtype;
    uint64[] shape;
    bytes data;
}

/// @notice A model input or output as the registry recorded it.
/// @dev shape[i] == -1 is a symbolic dimension named dimParams[i] (e.g. "batch"; "" if
///      unnamed); dtype uses the Tensor codes 1..7.
struct TensorSpec {
    string name;
    uint8 dtype;
    int64[] shape;
    string[] dimParams;
}

/// @notice How the executor committee agrees on a result. Each executor checks the property
///         against its own computation before it signs.
/// @dev kind: 0 the committee's default rule, 1 exact (the same output bytes), 2 tolerance
///      (every element within absTolerance + relTolerance × |own| of the checking executor's
///      own value, both in units of 1e-9; NaN and ±infinity agree only with the same
///      value), 3 argmax (the same arg-max along the last axis of every output); for `train`:
///      4 train-loss (the new weights' loss on the batch is the claimed loss within
///      absTolerance, and not above the old weights' loss by more than absTolerance, in units
///      of 1e-9), 5 recompute (each executor trains too; every new weight within
///      absTolerance + relTolerance × |own| of its own).
struct Rule {
    uint8 kind;
    uint64 absTolerance;
    uint64 relTolerance;
}

/// @notice A model's multiply-accumulates as a polynomial in its symbolic dimensions, which
///         the gas of a call is computed from.
/// @dev With s the sizes a call gives the symbolic dimensions (in order of first appearance
///      in the inputs; a named one once, each unnamed one on its own):
///      MACs(s) = sum over j in [0, degrees[0]] x [0, degrees[1]] x ... (row-major, last
///      fastest) of coefficients[j] * prod_v binomial(s_v - 1, j_v). coefficients[0] is the
///      count for one sample (every s_v = 1), equal to ModelInfo.macs.
struct Cost {
    uint8[] degrees;
    int128[] coefficients;
}

/// @notice What the registry records about a model: enough for gas and for replay, without
///         the model's bytes.
struct ModelInfo {
    bytes32 model;
    string name;
    address owner;
    uint64 registeredAt;
    bytes32 parent;
    uint64 macs;
    Cost cost;
    uint64 size;
    TensorSpec[] inputs;
    TensorSpec[] outputs;
    Rule rule;
}

/// @notice How `train` trains.
/// @dev steps: optimiser steps on the whole batch (1 to 1000). learningRate: fixed-point
///      ×10^18. loss: 1 mean squared error, 2 cross-entropy on logits, 3 weighted
///      cross-entropy (policy gradient). optimizer: 1 SGD, 2 momentum 0.9, 3 Adam (0.9, 0.999).
struct TrainParams {
    uint32 steps;
    uint64 learningRate;
    uint8 loss;
    uint8 optimizer;
}

/// @notice The errors the DNN precompiles revert with.
interface IDnnErrors {
    /// @notice The model is not registered on chain.
    error UnknownModel(bytes32 model);
    /// @notice The node's model store does not hold the model's bytes (upload it first).
    error ModelUnavailable(bytes32 model);
    /// @notice The model is registered already.
    error AlreadyRegistered(bytes32 model);
    /// @notice The call passed a different number of inputs than the model takes.
    error WrongInputCount(uint256 expected, uint256 got);
    /// @notice An input's shape does not fit the model's declared shape.
    error InputMismatch(uint256 input, string expected, string got);
    /// @notice An input tensor is malformed (unknown dtype, data length, shape overflow).
    error BadTensor(uint256 input, string reason);
    /// @notice A tensor has more elements than the node's limit.
    error TensorTooLarge(uint256 input, uint256 elements, uint256 limit);
    /// @notice An element does not fit the type it is converted to.
    error ConversionFailed(uint256 tensor, uint256 element, string reason);
    /// @notice ONNX Runtime (or the executors) failed to compute the result.
    error InferenceFailed(string reason);
    /// @notice A state-changing precompile function was called under STATICCALL.
    error WriteInStaticCall();
    /// @notice The calldata does not select a function of this precompile.
    error UnknownSelector(bytes4 selector);
    /// @notice The calldata could not be decoded, or the call is not allowed as made.
    error MalformedCall(string reason);
    /// @notice Fewer than `threshold` executors of the committee signed the result of `job`.
    error NoQuorum(bytes32 job, uint256 signatures, uint256 threshold);
    /// @notice Training failed: a model that cannot be trained, a loss that is not finite, …
    ///         No model was registered.
    error TrainingFailed(string reason);
}

/// @notice 0x…0D00: the model registry.
interface IModelRegistry {
    /// @notice Emitted when a model is registered.
    event ModelRegistered(bytes32 indexed model, address indexed owner, string name);

    /// @notice Records `model` (keccak256 of the ONNX file, uploaded to the node's model store
    ///         first) in chain state under `name`, with its I/O signature and cost.
    function register(bytes32 model, string calldata name) external;

    /// @notice Like `register`, with the rule the committee settles this model's results by
    ///         (kind 0: the committee's default).
    function registerWithRule(bytes32 model, string calldata name, Rule calldata rule) external;
}

/// @notice 0x…0D01: inference.
interface IInfer {
    /// @notice Runs `model` on `inputs` (converted to the model's declared dtypes); outputs
    ///         come in the model's own dtypes.
    function infer(bytes32 model, Tensor[] calldata inputs) external view returns (Tensor[] memory outputs);

    /// @notice Like `infer`, with every output converted to `outputDtype` (e.g. 0x46 for
    ///         fixed-point with 6 decimals; rounding to nearest, ties to even).
    function inferAs(bytes32 model, Tensor[] calldata inputs, uint8 outputDtype)
        external
        view
        returns (Tensor[] memory outputs);

    /// @notice Like `inferAs` (outputDtype 0: the model's own dtypes), settled by `rule`
    ///         instead of the model's registered rule.
    function inferWith(bytes32 model, Tensor[] calldata inputs, uint8 outputDtype, Rule calldata rule)
        external
        view
        returns (Tensor[] memory outputs);
}

/// @notice 0x…0D02: training.
interface ITrain {
    /// @notice Emitted when `train` registers the new model `model`, trained from `parent`.
    event ModelTrained(bytes32 indexed parent, bytes32 indexed model, address indexed trainer, int256 loss);

    /// @notice Trains `model` on `batch` (the model's inputs in order, then the labels: class
    ///         indices as int64 [batch] for cross-entropy, targets shaped like the first output
    ///         for MSE; then, for loss 3, one weight per sample) for `params.steps` steps. The
    ///         new weights, with the optimiser's state, are a new model registered with
    ///         `model` as its parent; `loss` is the new weights' loss on the batch, fixed-point
    ///         ×10^18.
    function train(bytes32 model, Tensor[] calldata batch, TrainParams calldata params)
        external
        returns (bytes32 newModel, int256 loss);

    /// @notice Like `train`, settled by `rule` (kind 0, 4 or 5) instead of the default.
    function trainWith(bytes32 model, Tensor[] calldata batch, TrainParams calldata params, Rule calldata rule)
        external
        returns (bytes32 newModel, int256 loss);

    /// @notice Like `train`, updating only the initializers named in `trainable` (1 to 64
    ///         names; every other weight is frozen: the new model holds it unchanged, and the
    ///         committee checks that it does). A name that is not a float initializer of the
    ///         model, or one that does not reach the loss, reverts `TrainingFailed`.
    function trainOnly(bytes32 model, Tensor[] calldata batch, TrainParams calldata params, string[] calldata trainable)
        external
        returns (bytes32 newModel, int256 loss);

    /// @notice Like `train`, training rank-`rank` LoRA adapters (1 to 64) on the weights named
    ///         in `targets` (1 to 64 names; each the weight operand of MatMuls, or of Gemms with
    ///         transA 0 and alpha 1): `x·W` becomes `x·W + (x·A)·B`, `B` starting at zero, and
    ///         after the steps `W + A·B` is written into the new model, whose architecture is
    ///         the parent's; every other weight is frozen. Priced as `train` on twice the
    ///         model's work, plus the merge.
    function trainAdapters(
        bytes32 model,
        Tensor[] calldata batch,
        TrainParams calldata params,
        string[] calldata targets,
        uint8 rank
    ) external returns (bytes32 newModel, int256 loss);
}

/// @notice 0x…0D03: what the registry recorded.
interface IModelInfo {
    /// @notice The registry's record of `model`; reverts `UnknownModel` if there is none.
    function modelInfo(bytes32 model) external view returns (ModelInfo memory info);

    /// @notice Whether `model` is registered.
    function isRegistered(bytes32 model) external view returns (bool);
}
