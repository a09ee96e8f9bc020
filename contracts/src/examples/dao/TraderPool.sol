// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {DevToken} from "../../DevToken.sol";

/// @title TraderPool
/// @notice A constant-product AMM (x · y = k, Uniswap-v2 style) between a stable token
///         (`stable`, the quote) and a risky token (`risky`), with a swap fee that stays in the
///         pool. The price of `risky` in `stable` is `reserveStable / reserveRisky`.
contract TraderPool {
    /// @notice The quote token.
    DevToken public immutable stable;
    /// @notice The traded token.
    DevToken public immutable risky;
    /// @notice The swap fee in basis points of the input (10 = 0.1 %).
    uint256 public immutable feeBps;
    /// @notice Reserve of `stable`.
    uint256 public reserveStable;
    /// @notice Reserve of `risky`.
    uint256 public reserveRisky;

    /// @notice Emitted by every swap.
    event Swap(address indexed trader, bool stableIn, uint256 amountIn, uint256 amountOut);

    /// @param stable_ The quote token.
    /// @param risky_ The traded token.
    /// @param feeBps_ The swap fee in basis points (below 1 000).
    constructor(DevToken stable_, DevToken risky_, uint256 feeBps_) {
        require(feeBps_ < 1000, "TraderPool: fee must be below 10%");
        stable = stable_;
        risky = risky_;
        feeBps = feeBps_;
    }

    /// @notice Adds liquidity at any ratio (the example's pools have one provider, the
    ///         deployer, who seeds them once); pulls the tokens from the caller.
    /// @param amountStable Stable tokens to add.
    /// @param amountRisky Risky tokens to add.
    function addLiquidity(uint256 amountStable, uint256 amountRisky) external {
        require(amountStable > 0 && amountRisky > 0, "TraderPool: add both tokens");
        require(stable.transferFrom(msg.sender, address(this), amountStable), "TraderPool: stable transfer failed");
        require(risky.transferFrom(msg.sender, address(this), amountRisky), "TraderPool: risky transfer failed");
        reserveStable += amountStable;
        reserveRisky += amountRisky;
    }

    /// @notice The price of one risky token in stable tokens, fixed-point ×1e18.
    /// @return The price.
    function price() public view returns (uint256) {
        require(reserveRisky > 0, "TraderPool: no liquidity");
        return reserveStable * 1e18 / reserveRisky;
    }

    /// @notice What a swap of `amountIn` would pay out.
    /// @param stableIn Whether the input is the stable token (buying risky) or risky (selling).
    /// @param amountIn The input amount.
    /// @return The output amount.
    function quote(bool stableIn, uint256 amountIn) public view returns (uint256) {
        (uint256 rIn, uint256 rOut) = stableIn ? (reserveStable, reserveRisky) : (reserveRisky, reserveStable);
        uint256 inAfterFee = amountIn * (10_000 - feeBps);
        return inAfterFee * rOut / (rIn * 10_000 + inAfterFee);
    }

    /// @notice Swaps `amountIn` of one token for the other; pulls the input from the caller
    ///         (approve first) and sends the output to the caller.
    /// @param stableIn Whether the input is the stable token (buying risky) or risky (selling).
    /// @param amountIn The input amount.
    /// @param minOut The least output the caller accepts.
    /// @return amountOut The output amount.
    function swap(bool stableIn, uint256 amountIn, uint256 minOut) external returns (uint256 amountOut) {
        require(amountIn > 0, "TraderPool: nothing to swap");
        amountOut = quote(stableIn, amountIn);
        require(amountOut >= minOut, "TraderPool: output below minOut");
        (DevToken tokenIn, DevToken tokenOut) = stableIn ? (stable, risky) : (risky, stable);
        require(tokenIn.transferFrom(msg.sender, address(this), amountIn), "TraderPool: input transfer failed");
        require(tokenOut.transfer(msg.sender, amountOut), "TraderPool: output transfer failed");
        if (stableIn) {
            reserveStable += amountIn;
            reserveRisky -= amountOut;
        } else {
            reserveRisky += amountIn;
            reserveStable -= amountOut;
        }
        emit Swap(msg.sender, stableIn, amountIn, amountOut);
    }
}
