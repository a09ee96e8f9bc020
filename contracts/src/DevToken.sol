// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

/// @title DevToken
/// @notice A minimal ERC-20 whose failures are custom errors with arguments. The examples deploy
///         it (`examples/flashloan-guard`: `gETH`, `gUSD`; `examples/dao-trader`: `tUSD`, `tRISK`)
///         and so does the client-compatibility suite (`clients/`), which checks that ethers.js,
///         viem, web3.py, Foundry and Hardhat each decode its errors.
/// @dev 18 decimals. The initial supply is minted to the deployer, the owner, the only account
///      allowed to `mint` more.
contract DevToken {
    /// @notice Token name.
    string public name;
    /// @notice Token symbol.
    string public symbol;
    /// @notice Decimals (always 18).
    uint8 public constant decimals = 18;
    /// @notice Total supply.
    uint256 public totalSupply;
    /// @notice The deployer: the only account allowed to `mint`.
    address public immutable owner;
    /// @notice Balances.
    mapping(address => uint256) public balanceOf;
    /// @notice Allowances: owner => spender => amount.
    mapping(address => mapping(address => uint256)) public allowance;

    /// @notice ERC-20 transfer (also mint, from the zero address).
    event Transfer(address indexed from, address indexed to, uint256 value);
    /// @notice ERC-20 approval.
    event Approval(address indexed owner, address indexed spender, uint256 value);

    /// @notice `from` holds `balance`, less than the `needed` amount.
    error InsufficientBalance(address from, uint256 balance, uint256 needed);
    /// @notice `spender` may spend `allowance` of `from`'s tokens, less than `needed`.
    error InsufficientAllowance(address from, address spender, uint256 allowance, uint256 needed);
    /// @notice Transfers and approvals to the zero address are refused.
    error ZeroAddress();
    /// @notice `caller` is not the owner.
    error NotOwner(address caller);

    /// @param name_ Token name.
    /// @param symbol_ Token symbol.
    /// @param supply Initial supply, minted to the deployer.
    constructor(string memory name_, string memory symbol_, uint256 supply) {
        name = name_;
        symbol = symbol_;
        owner = msg.sender;
        _mint(msg.sender, supply);
    }

    /// @notice Moves `value` tokens from the caller to `to`.
    /// @param to The recipient.
    /// @param value The amount.
    /// @return Always true (failures revert).
    function transfer(address to, uint256 value) external returns (bool) {
        _transfer(msg.sender, to, value);
        return true;
    }

    /// @notice Lets `spender` move up to `value` of the caller's tokens.
    /// @param spender The spender.
    /// @param value The allowance (`type(uint256).max`: unlimited, never decreased).
    /// @return Always true.
    function approve(address spender, uint256 value) external returns (bool) {
        if (spender == address(0)) revert ZeroAddress();
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    /// @notice Moves `value` tokens from `from` to `to` out of the caller's allowance.
    /// @param from The holder.
    /// @param to The recipient.
    /// @param value The amount.
    /// @return Always true (failures revert).
    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed < value) revert InsufficientAllowance(from, msg.sender, allowed, value);
        if (allowed != type(uint256).max) allowance[from][msg.sender] = allowed - value;
        _transfer(from, to, value);
        return true;
    }

    /// @notice Mints `value` new tokens to `to` (owner only).
    /// @param to The recipient.
    /// @param value The amount.
    function mint(address to, uint256 value) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _mint(to, value);
    }

    /// @notice Reverts exactly as `transfer(to, value)` from `from` would, without changing state.
    /// @return True when the transfer would succeed.
    function checkTransfer(address from, address to, uint256 value) external view returns (bool) {
        if (to == address(0)) revert ZeroAddress();
        uint256 balance = balanceOf[from];
        if (balance < value) revert InsufficientBalance(from, balance, value);
        return true;
    }

    function _transfer(address from, address to, uint256 value) private {
        if (to == address(0)) revert ZeroAddress();
        uint256 balance = balanceOf[from];
        if (balance < value) revert InsufficientBalance(from, balance, value);
        unchecked {
            balanceOf[from] = balance - value;
        }
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }

    function _mint(address to, uint256 value) private {
        if (to == address(0)) revert ZeroAddress();
        totalSupply += value;
        balanceOf[to] += value;
        emit Transfer(address(0), to, value);
    }
}
