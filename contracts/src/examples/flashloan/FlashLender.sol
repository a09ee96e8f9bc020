// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {DevToken} from "../../DevToken.sol";
import {GuardedPool} from "./GuardedPool.sol";

/// @title IFlashBorrower
/// @notice What `FlashLender.flashLoan` calls back (ERC-3156's borrower interface).
interface IFlashBorrower {
    /// @notice Called with `amount` of `token` already transferred to the borrower; the lender
    ///         pulls `amount + fee` back (approve it) once this returns.
    /// @param initiator Who called `flashLoan`.
    /// @param token The token lent.
    /// @param amount The amount lent.
    /// @param fee The fee due on top.
    /// @param data The data passed to `flashLoan`.
    /// @return `keccak256("ERC3156FlashBorrower.onFlashLoan")`.
    function onFlashLoan(address initiator, address token, uint256 amount, uint256 fee, bytes calldata data)
        external
        returns (bytes32);
}

/// @title FlashLender
/// @notice The lending pool of the flash-loan-guard example. It offers
///         - flash loans of either token (ERC-3156 style, fee 0.09 %), repaid in the same
///           transaction, and
///         - loans of `stable` against `asset` collateral, at most 80 % of the collateral's
///           value, valued at the AMM's spot price (`GuardedPool.spotPrice`).
///         Reading a spot price as an oracle is what makes the textbook flash-loan attack
///         possible: borrow a lot, pump the pool's price, borrow against over-valued collateral,
///         swap back, repay. `GuardedPool`'s detector is what stops it.
/// @dev Liquidity is whatever the lender holds (the demo transfers it in). No interest, no
///      liquidations: the example is about the guard.
contract FlashLender {
    /// @notice What `onFlashLoan` must return.
    bytes32 public constant CALLBACK_SUCCESS = keccak256("ERC3156FlashBorrower.onFlashLoan");
    /// @notice Flash-loan fee in basis points.
    uint256 public constant FEE_BPS = 9;
    /// @notice Loan-to-value limit in basis points.
    uint256 public constant LTV_BPS = 8_000;

    /// @notice The pool whose spot price values collateral.
    GuardedPool public immutable pool;
    /// @notice The collateral token (the pool's token 0).
    DevToken public immutable asset;
    /// @notice The token lent against collateral (the pool's token 1).
    DevToken public immutable stable;
    /// @notice Collateral deposited per account, in `asset`.
    mapping(address => uint256) public collateral;
    /// @notice Debt per account, in `stable`.
    mapping(address => uint256) public debt;

    /// @notice A flash loan was made and repaid.
    event FlashLoan(address indexed receiver, address indexed token, uint256 amount, uint256 fee);
    /// @notice `account` deposited `amount` of collateral.
    event Deposited(address indexed account, uint256 amount);
    /// @notice `account` borrowed `amount` of `stable` against collateral valued at `price`.
    event Borrowed(address indexed account, uint256 amount, uint256 price);

    /// @notice `token` cannot be flash-borrowed here.
    error UnsupportedToken(address token);
    /// @notice The borrower's callback did not return `CALLBACK_SUCCESS`.
    error CallbackFailed();
    /// @notice Borrowing `amount` would take `account`'s debt past `limit` (80 % of its
    ///         collateral's value).
    error InsufficientCollateral(address account, uint256 amount, uint256 limit);

    /// @param pool_ The AMM pool used as price oracle; its tokens are the lender's.
    constructor(GuardedPool pool_) {
        pool = pool_;
        asset = pool_.asset();
        stable = pool_.stable();
    }

    /// @notice The fee on a flash loan of `amount`.
    /// @param amount The amount lent.
    /// @return The fee (0.09 %, rounded up).
    function flashFee(uint256 amount) public pure returns (uint256) {
        return (amount * FEE_BPS + 9_999) / 10_000;
    }

    /// @notice Lends `amount` of `token` to `receiver`, calls its `onFlashLoan`, and pulls back
    ///         `amount` plus the fee.
    /// @param receiver The borrower contract.
    /// @param token `asset` or `stable`.
    /// @param amount The amount.
    /// @param data Passed through to `onFlashLoan`.
    /// @return Always true (failures revert).
    function flashLoan(IFlashBorrower receiver, address token, uint256 amount, bytes calldata data)
        external
        returns (bool)
    {
        if (token != address(asset) && token != address(stable)) revert UnsupportedToken(token);
        uint256 fee = flashFee(amount);
        DevToken(token).transfer(address(receiver), amount);
        if (receiver.onFlashLoan(msg.sender, token, amount, fee, data) != CALLBACK_SUCCESS) revert CallbackFailed();
        DevToken(token).transferFrom(address(receiver), address(this), amount + fee);
        emit FlashLoan(address(receiver), token, amount, fee);
        return true;
    }

    /// @notice Deposits `amount` of `asset` (approved first) as the caller's collateral.
    /// @param amount The amount.
    function deposit(uint256 amount) external {
        asset.transferFrom(msg.sender, address(this), amount);
        collateral[msg.sender] += amount;
        emit Deposited(msg.sender, amount);
    }

    /// @notice The most `stable` `account` may owe: 80 % of its collateral at the pool's price.
    /// @param account The borrower.
    /// @return The limit.
    function borrowLimit(address account) public view returns (uint256) {
        return collateral[account] * pool.spotPrice() / 1e18 * LTV_BPS / 10_000;
    }

    /// @notice Lends `amount` of `stable` to the caller against its collateral.
    /// @param amount The amount.
    function borrow(uint256 amount) external {
        uint256 limit = borrowLimit(msg.sender);
        if (debt[msg.sender] + amount > limit) revert InsufficientCollateral(msg.sender, amount, limit);
        debt[msg.sender] += amount;
        stable.transfer(msg.sender, amount);
        emit Borrowed(msg.sender, amount, pool.spotPrice());
    }
}
