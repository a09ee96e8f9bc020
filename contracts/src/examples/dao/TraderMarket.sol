// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {TraderPool} from "./TraderPool.sol";
import {DevToken} from "../../DevToken.sol";
import {DaoMath} from "./DaoMath.sol";

/// @title TraderMarket
/// @notice "The rest of the market" in the dao-trader example: a trader with deep pockets
///         that moves AMM pools to the price its owner's off-chain price process says, by
///         ordinary swaps. Moving several pools to the same price in one transaction gives
///         every treasury of the example the same price path.
contract TraderMarket {
    /// @notice The account that sets prices.
    address public immutable owner;

    /// @notice Emitted for each pool moved.
    event Moved(address indexed pool, uint256 fromPrice, uint256 toPrice);

    constructor() {
        owner = msg.sender;
    }

    /// @notice Swaps on each pool so that its price becomes `targetPrice` (fixed-point ×1e18,
    ///         stable per risky), up to the swap fee's effect on the last digits. The trader
    ///         pays from its own balances (mint it both tokens first).
    /// @param pools The pools to move.
    /// @param targetPrice The price after the move.
    function moveTo(TraderPool[] calldata pools, uint256 targetPrice) external {
        require(msg.sender == owner, "TraderMarket: only the owner moves prices");
        require(targetPrice > 0, "TraderMarket: the price must be positive");
        for (uint256 i = 0; i < pools.length; i++) {
            _move(pools[i], targetPrice);
        }
    }

    function _move(TraderPool pool, uint256 targetPrice) private {
        uint256 x = pool.reserveStable();
        uint256 y = pool.reserveRisky();
        uint256 before = pool.price();
        // At price p = x'/y' with x'·y' = x·y: x' = sqrt(x·y·p), y' = sqrt(x·y / p).
        if (targetPrice > before) {
            uint256 stableAfter = DaoMath.sqrt(x * y / 1e18 * targetPrice);
            if (stableAfter > x) _swap(pool, pool.stable(), true, stableAfter - x);
        } else if (targetPrice < before) {
            uint256 riskyAfter = DaoMath.sqrt(x * y / targetPrice * 1e18);
            if (riskyAfter > y) _swap(pool, pool.risky(), false, riskyAfter - y);
        }
        emit Moved(address(pool), before, pool.price());
    }

    function _swap(TraderPool pool, DevToken tokenIn, bool stableIn, uint256 amountIn) private {
        if (tokenIn.allowance(address(this), address(pool)) < amountIn) {
            tokenIn.approve(address(pool), type(uint256).max);
        }
        pool.swap(stableIn, amountIn, 0);
    }
}
