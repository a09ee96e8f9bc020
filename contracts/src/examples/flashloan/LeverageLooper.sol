// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {DevToken} from "../../DevToken.sol";
import {GuardedPool} from "./GuardedPool.sol";
import {FlashLender, IFlashBorrower} from "./FlashLender.sol";

/// @title LeverageLooper
/// @notice An honest use of a flash loan, the leverage loop: with some `asset` of its own, it
///         flash-borrows `stable`, buys more `asset` in the pool, pledges everything with the
///         lender and borrows back what it owes the flash loan. The result is a leveraged long
///         position in one transaction. Its swap is an ordinary trade, which `GuardedPool`'s
///         detector lets through.
contract LeverageLooper is IFlashBorrower {
    /// @notice The lender.
    FlashLender public immutable lender;
    /// @notice The pool the `asset` is bought in.
    GuardedPool public immutable pool;
    /// @notice The pool's token 0 (collateral).
    DevToken public immutable asset;
    /// @notice The pool's token 1 (borrowed).
    DevToken public immutable stable;
    /// @notice The deployer, the only account that may `open`.
    address public immutable owner;

    /// @notice A leveraged position was opened: `collateral` of `asset` pledged, `debt` of
    ///         `stable` owed to the lender.
    event Opened(uint256 loan, uint256 bought, uint256 collateral, uint256 debt);

    /// @notice `caller` may not do this.
    error Unauthorized(address caller);

    /// @param lender_ The lender (its pool and tokens follow).
    constructor(FlashLender lender_) {
        lender = lender_;
        pool = lender_.pool();
        asset = lender_.asset();
        stable = lender_.stable();
        owner = msg.sender;
    }

    /// @notice Opens the position with a flash loan of `loan` `stable`.
    /// @param loan The flash loan, in `stable`.
    function open(uint256 loan) external {
        if (msg.sender != owner) revert Unauthorized(msg.sender);
        lender.flashLoan(this, address(stable), loan, "");
    }

    /// @inheritdoc IFlashBorrower
    function onFlashLoan(address initiator, address, uint256 amount, uint256 fee, bytes calldata)
        external
        returns (bytes32)
    {
        if (msg.sender != address(lender) || initiator != address(this)) revert Unauthorized(msg.sender);
        stable.approve(address(pool), amount);
        uint256 bought = pool.swap(address(stable), amount, 0, address(this));
        uint256 pledged = asset.balanceOf(address(this));
        asset.approve(address(lender), pledged);
        lender.deposit(pledged);
        lender.borrow(amount + fee);
        stable.approve(address(lender), amount + fee);
        emit Opened(amount, bought, lender.collateral(address(this)), lender.debt(address(this)));
        return lender.CALLBACK_SUCCESS();
    }
}
