// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {Tensor, Rule} from "../../dnn/IDnn.sol";
import {Dnn} from "../../dnn/Dnn.sol";
import {TensorLib} from "../../dnn/TensorLib.sol";
import {DevToken} from "../../DevToken.sol";

/// @title GuardedPool
/// @notice A constant-product AMM (x·y = k, 0.3 % fee) between `asset` (token 0, e.g. gETH) and
///         `stable` (token 1, e.g. gUSD) whose swaps are screened by an anomaly detector: an
///         ONNX classifier run through ANH's inference precompile. Before a swap changes
///         anything, the pool builds a window of its recent price history and of the move the
///         swap would cause, and asks the detector whether that looks like ordinary trading
///         (class 0) or a price manipulation (class 1, e.g. a flash-loan-sized swap that pumps
///         the price so that a lender reading it as an oracle over-values collateral). A
///         manipulation reverts with `ManipulationDetected`, which takes the whole transaction
///         down, flash loan included.
/// @dev The window (`FEATURES` fixed-point values with 6 decimals, each squashed into (−1, 1)
///      by x / (s + |x|), s = 5 %):
///        0–4  the relative price changes between the last `OBSERVATIONS` recorded prices,
///             oldest first;
///        5    the change this swap would cause, from the last recorded price;
///        6    the change from the block's opening price (the price before its first swap), so
///             a manipulation split over several swaps in one transaction still shows;
///        7    the swap's size as a fraction of the input token's reserve.
///      The price is `stable` per `asset`, 18 decimals. Every swap records its resulting price.
///      The detector's decision is settled by the executor committee under the arg-max rule
///      (every signer gets the same class). With no detector set (`detector == 0`) swaps are
///      not screened. Liquidity is provided by the owner only (no LP shares): the example is
///      about the guard, not about liquidity provision.
contract GuardedPool {
    using TensorLib for Tensor;

    /// @notice Recorded prices the window is built from.
    uint256 public constant OBSERVATIONS = 6;
    /// @notice Features per window.
    uint256 public constant FEATURES = 8;
    /// @notice Fixed-point one of the window's values (6 decimals).
    int256 public constant ONE = 1e6;
    /// @notice The squashing scale s of x / (s + |x|): 5 %.
    int256 public constant SCALE = 50_000;
    /// @notice The class the detector gives a manipulation.
    uint256 public constant MANIPULATION = 1;

    /// @notice Token 0: the risky asset.
    DevToken public immutable asset;
    /// @notice Token 1: the stable token prices are quoted in.
    DevToken public immutable stable;
    /// @notice The deployer: provides liquidity and sets the detector.
    address public immutable owner;
    /// @notice The anomaly detector's model hash (0: swaps are not screened).
    bytes32 public detector;
    /// @notice Reserve of `asset`.
    uint256 public reserve0;
    /// @notice Reserve of `stable`.
    uint256 public reserve1;

    /// @notice The recorded prices, a ring; `newest` indexes the latest.
    uint256[OBSERVATIONS] public prices;
    /// @notice Index of the latest recorded price in `prices`.
    uint256 public newest;
    /// @notice The block of the last swap.
    uint256 public openBlock;
    /// @notice The price before the first swap of `openBlock`.
    uint256 public openPrice;

    /// @notice A swap went through; `score` is the detector's manipulation logit minus its
    ///         normal logit (6 decimals; 0 when no detector is set).
    event Swap(
        address indexed sender,
        address indexed tokenIn,
        uint256 amountIn,
        uint256 amountOut,
        uint256 price,
        int256 score
    );
    /// @notice The owner added liquidity.
    event LiquidityAdded(uint256 amount0, uint256 amount1, uint256 price);
    /// @notice The owner pointed the pool to a new detector.
    event DetectorSet(bytes32 indexed model);

    /// @notice The detector classified this swap as a price manipulation: `score` is its
    ///         manipulation logit minus its normal logit (6 decimals), `window` the features it
    ///         saw (6 decimals).
    error ManipulationDetected(uint256 score, int256[] window);
    /// @notice `caller` is not the owner.
    error NotOwner(address caller);
    /// @notice `token` is neither of the pool's tokens.
    error UnknownToken(address token);
    /// @notice The swap would pay `amountOut`, less than the caller's `minOut`.
    error Slippage(uint256 amountOut, uint256 minOut);
    /// @notice The pool has no liquidity yet, or the amount is zero.
    error EmptyPool();
    /// @notice `model` is not registered on chain, so it cannot be the detector.
    error DetectorNotRegistered(bytes32 model);

    /// @param asset_ Token 0 (risky).
    /// @param stable_ Token 1 (stable).
    constructor(DevToken asset_, DevToken stable_) {
        asset = asset_;
        stable = stable_;
        owner = msg.sender;
    }

    /// @notice Adds `amount0` of `asset` and `amount1` of `stable` (owner only, approved first);
    ///         the first call fills the price history with the opening price.
    /// @param amount0 Amount of `asset`.
    /// @param amount1 Amount of `stable`.
    function addLiquidity(uint256 amount0, uint256 amount1) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        if (amount0 == 0 || amount1 == 0) revert EmptyPool();
        asset.transferFrom(msg.sender, address(this), amount0);
        stable.transferFrom(msg.sender, address(this), amount1);
        bool first = reserve0 == 0;
        reserve0 += amount0;
        reserve1 += amount1;
        uint256 price = spotPrice();
        if (first) {
            for (uint256 i = 0; i < OBSERVATIONS; i++) {
                prices[i] = price;
            }
        } else {
            _record(price);
        }
        emit LiquidityAdded(amount0, amount1, price);
    }

    /// @notice Points the pool to `model` as its detector (owner only; 0 turns screening off).
    /// @param model A registered classifier: input `[batch, FEATURES]`, output `[batch, 2]`
    ///        logits (0 normal, 1 manipulation).
    function setDetector(bytes32 model) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        if (model != bytes32(0) && !Dnn.isRegistered(model)) revert DetectorNotRegistered(model);
        detector = model;
        emit DetectorSet(model);
    }

    /// @notice The price: `stable` per `asset`, 18 decimals.
    /// @return The spot price (0 before liquidity).
    function spotPrice() public view returns (uint256) {
        if (reserve0 == 0) return 0;
        return reserve1 * 1e18 / reserve0;
    }

    /// @notice What swapping `amountIn` of `tokenIn` would pay out (fee included).
    /// @param tokenIn `asset` or `stable`.
    /// @param amountIn The input amount.
    /// @return amountOut The output amount.
    function quote(address tokenIn, uint256 amountIn) public view returns (uint256 amountOut) {
        (uint256 reserveIn, uint256 reserveOut) = _reserves(tokenIn);
        if (reserveIn == 0 || amountIn == 0) revert EmptyPool();
        uint256 withFee = amountIn * 997;
        amountOut = withFee * reserveOut / (reserveIn * 1000 + withFee);
    }

    /// @notice The window the detector would see for swapping `amountIn` of `tokenIn` now.
    /// @param tokenIn `asset` or `stable`.
    /// @param amountIn The input amount.
    /// @return window `FEATURES` values, fixed-point with 6 decimals.
    function features(address tokenIn, uint256 amountIn) public view returns (int256[] memory window) {
        uint256 amountOut = quote(tokenIn, amountIn);
        (uint256 new0, uint256 new1) = _after(tokenIn, amountIn, amountOut);
        (uint256 reserveIn,) = _reserves(tokenIn);
        window = _window(new1 * 1e18 / new0, amountIn, reserveIn);
    }

    /// @notice Swaps `amountIn` of `tokenIn` (approved first) for the other token, paid to `to`,
    ///         after the detector (if set) has classified the swap as ordinary trading.
    /// @param tokenIn `asset` or `stable`.
    /// @param amountIn The input amount.
    /// @param minOut The least output accepted.
    /// @param to The recipient of the output.
    /// @return amountOut The output amount.
    function swap(address tokenIn, uint256 amountIn, uint256 minOut, address to) external returns (uint256 amountOut) {
        amountOut = quote(tokenIn, amountIn);
        if (amountOut < minOut) revert Slippage(amountOut, minOut);
        (uint256 new0, uint256 new1) = _after(tokenIn, amountIn, amountOut);
        uint256 price = new1 * 1e18 / new0;
        int256 score = 0;
        if (detector != bytes32(0)) {
            (uint256 reserveIn,) = _reserves(tokenIn);
            score = _screen(_window(price, amountIn, reserveIn));
        }
        (reserve0, reserve1) = (new0, new1);
        _record(price);
        DevToken(tokenIn).transferFrom(msg.sender, address(this), amountIn);
        DevToken(tokenIn == address(asset) ? address(stable) : address(asset)).transfer(to, amountOut);
        emit Swap(msg.sender, tokenIn, amountIn, amountOut, price, score);
    }

    /// @dev Runs the detector on `window`; reverts `ManipulationDetected` on class 1.
    function _screen(int256[] memory window) private view returns (int256 score) {
        Tensor memory input = TensorLib.fromFixed(window, TensorLib.shape(1, uint64(FEATURES)), 6);
        Tensor[] memory inputs = new Tensor[](1);
        inputs[0] = input;
        Rule memory argmax = Rule({kind: 3, absTolerance: 0, relTolerance: 0});
        Tensor[] memory outputs = Dnn.inferWith(detector, inputs, Dnn.FIXED + 6, argmax);
        Tensor memory logits = outputs[0];
        score = logits.getInt(1) - logits.getInt(0);
        if (logits.argmaxRows()[0] == MANIPULATION) revert ManipulationDetected(uint256(score), window);
    }

    /// @dev The detector's input for a swap that moves the price to `price`.
    function _window(uint256 price, uint256 amountIn, uint256 reserveIn) private view returns (int256[] memory f) {
        f = new int256[](FEATURES);
        uint256 oldest = (newest + 1) % OBSERVATIONS;
        for (uint256 k = 1; k < OBSERVATIONS; k++) {
            uint256 before = prices[(oldest + k - 1) % OBSERVATIONS];
            uint256 next = prices[(oldest + k) % OBSERVATIONS];
            f[k - 1] = _squash(_change(before, next));
        }
        uint256 last = prices[newest];
        f[5] = _squash(_change(last, price));
        f[6] = _squash(_change(block.number == openBlock ? openPrice : last, price));
        f[7] = _squash(int256(amountIn * uint256(ONE) / reserveIn));
    }

    /// @dev Records `price` as the newest observation and tracks the block's opening price.
    function _record(uint256 price) private {
        if (block.number != openBlock) {
            openBlock = block.number;
            openPrice = prices[newest];
        }
        newest = (newest + 1) % OBSERVATIONS;
        prices[newest] = price;
    }

    /// @dev The relative change from `a` to `b`, 6 decimals.
    function _change(uint256 a, uint256 b) private pure returns (int256) {
        return (int256(b) - int256(a)) * ONE / int256(a);
    }

    /// @dev x / (SCALE + |x|), 6 decimals: into (−1, 1), monotonic, linear near 0.
    function _squash(int256 x) private pure returns (int256) {
        return x * ONE / (SCALE + (x < 0 ? -x : x));
    }

    function _reserves(address tokenIn) private view returns (uint256 reserveIn, uint256 reserveOut) {
        if (tokenIn == address(asset)) return (reserve0, reserve1);
        if (tokenIn == address(stable)) return (reserve1, reserve0);
        revert UnknownToken(tokenIn);
    }

    function _after(address tokenIn, uint256 amountIn, uint256 amountOut) private view returns (uint256, uint256) {
        if (tokenIn == address(asset)) return (reserve0 + amountIn, reserve1 - amountOut);
        return (reserve0 - amountOut, reserve1 + amountIn);
    }
}
