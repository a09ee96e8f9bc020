// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {Tensor, TrainParams, ModelInfo, IDnnErrors} from "../dnn/IDnn.sol";
import {Dnn} from "../dnn/Dnn.sol";
import {TensorLib} from "../dnn/TensorLib.sol";

/// @title DnnLibHarness
/// @notice Test fixture: exposes the `Dnn` and `TensorLib` libraries so the node's integration
///         tests can call them, and uses them as an application would (classify with fixed-point
///         features, train and keep the newest model, catch a precompile revert).
contract DnnLibHarness {
    using TensorLib for Tensor;

    /// @notice The newest model `trainAndKeep` produced.
    bytes32 public model;
    /// @notice The loss `trainAndKeep` reported last, fixed-point ×1e18.
    int256 public lastLoss;
    /// @notice The selector of the last error `tryClassify` caught.
    bytes4 public lastErrorSelector;

    /// @notice Emitted by `trainAndKeep`.
    event Trained(bytes32 indexed model, int256 loss);

    /// @notice Sets the model `trainAndKeep` starts from.
    function setModel(bytes32 m) external {
        model = m;
    }

    /// @notice The classes of `rows` samples of fixed-point features (`decimals` decimals,
    ///         row-major), by the arg-max of the model's logits.
    function classify(bytes32 m, int256[] calldata features, uint64 rows, uint8 decimals)
        public
        view
        returns (uint256[] memory)
    {
        uint64 cols = uint64(features.length) / rows;
        Tensor memory x = TensorLib.fromFixed(features, TensorLib.shape(rows, cols), decimals);
        Tensor[] memory out = Dnn.infer(m, x);
        return out[0].argmaxRows();
    }

    /// @notice The first output's elements as fixed-point with `decimals` decimals, through
    ///         `inferAs` (converted by the precompile) and through `toFixed` on float outputs
    ///         (converted here), side by side.
    function logits(bytes32 m, int256[] calldata features, uint64 rows, uint8 decimals)
        external
        view
        returns (int256[] memory viaPrecompile, int256[] memory viaLibrary)
    {
        uint64 cols = uint64(features.length) / rows;
        Tensor memory x = TensorLib.fromFixed(features, TensorLib.shape(rows, cols), decimals);
        viaPrecompile = Dnn.inferAs(m, x, Dnn.FIXED + decimals)[0].toInts();
        Tensor memory raw = Dnn.infer(m, x)[0];
        viaLibrary = new int256[](raw.numel());
        for (uint256 i = 0; i < viaLibrary.length; i++) {
            viaLibrary[i] = raw.toFixed(i, decimals);
        }
    }

    /// @notice Trains the kept model on fixed-point features and integer labels, keeps the
    ///         new model, and returns it with its loss.
    function trainAndKeep(int256[] calldata features, int256[] calldata labels, uint32 steps, uint64 learningRate)
        external
        returns (bytes32, int256)
    {
        uint64 rows = uint64(labels.length);
        Tensor[] memory batch = new Tensor[](2);
        batch[0] = TensorLib.fromFixed(features, TensorLib.shape(rows, uint64(features.length) / rows), 6);
        batch[1] = TensorLib.fromInt64(labels, TensorLib.shape(rows));
        (bytes32 next, int256 loss) =
            Dnn.train(model, batch, Dnn.trainParams(steps, learningRate, Dnn.CROSS_ENTROPY, Dnn.SGD));
        (model, lastLoss) = (next, loss);
        emit Trained(next, loss);
        return (next, loss);
    }

    /// @notice `classify` through an external self-call, catching a precompile revert and
    ///         recording its selector.
    function tryClassify(bytes32 m, int256[] calldata features, uint64 rows) external returns (bool ok) {
        try this.classify(m, features, rows, 6) returns (uint256[] memory) {
            lastErrorSelector = bytes4(0);
            return true;
        } catch (bytes memory reason) {
            lastErrorSelector = Dnn.errorSelector(reason);
            return false;
        }
    }

    /// @notice The registry's record of `m`, through the library.
    function info(bytes32 m) external view returns (ModelInfo memory) {
        return Dnn.info(m);
    }

    /// @notice Whether `m` is registered, through the library.
    function isRegistered(bytes32 m) external view returns (bool) {
        return Dnn.isRegistered(m);
    }

    /// @notice `TensorLib` round trips, for the tests: int64 and fixed-point built and read
    ///         back, reshaped, and the arg-max of each.
    function roundTrip(int256[] calldata values, uint8 decimals)
        external
        pure
        returns (int256[] memory ints, int256[] memory fixeds, uint256 best, uint64[] memory reshaped)
    {
        uint64 n = uint64(values.length);
        Tensor memory a = TensorLib.fromInt64(values, TensorLib.shape(n));
        Tensor memory b = TensorLib.fromFixed(values, TensorLib.shape(1, n), decimals);
        ints = a.toInts();
        fixeds = new int256[](n);
        for (uint256 i = 0; i < n; i++) {
            fixeds[i] = b.toFixed(i, 18);
        }
        best = a.argmax();
        reshaped = b.reshape(TensorLib.shape(n, 1)).shape;
    }

    /// @notice The arg-max of a raw tensor (any dtype), for the tests.
    function argmaxOf(Tensor calldata t) external pure returns (uint256) {
        return TensorLib.argmax(t);
    }

    /// @notice The arg-max of row `r` of a raw tensor along its last axis, for the tests.
    function argmaxRowOf(Tensor calldata t, uint256 r) external pure returns (uint256) {
        return TensorLib.argmaxRow(t, r);
    }

    /// @notice Building an out-of-range tensor, for the tests (reverts `ValueOutOfRange`).
    function badInt64(int256 v) external pure returns (Tensor memory) {
        int256[] memory values = new int256[](1);
        values[0] = v;
        return TensorLib.fromInt64(values, TensorLib.shape(1));
    }

    /// @notice Reshaping to a wrong size, for the tests (reverts `ShapeMismatch`).
    function badReshape() external pure returns (Tensor memory) {
        int256[] memory values = new int256[](4);
        return TensorLib.fromInt64(values, TensorLib.shape(4)).reshape(TensorLib.shape(3));
    }

    /// @notice `NoQuorum`'s selector, for the tests.
    function noQuorumSelector() external pure returns (bytes4) {
        return IDnnErrors.NoQuorum.selector;
    }
}
