// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

/// @title TraderToken
/// @notice A minimal ERC-20 for the dao-trader example: the treasury's stable token and the
///         risky token it trades, both minted by their deployer.
contract TraderToken {
    /// @notice The token's name.
    string public name;
    /// @notice The token's symbol.
    string public symbol;
    /// @notice Decimals (18, like ether).
    uint8 public constant decimals = 18;
    /// @notice All tokens minted.
    uint256 public totalSupply;
    /// @notice The account that may mint.
    address public immutable minter;
    /// @notice Balances.
    mapping(address => uint256) public balanceOf;
    /// @notice Allowances: owner => spender => amount.
    mapping(address => mapping(address => uint256)) public allowance;

    /// @notice ERC-20 transfer.
    event Transfer(address indexed from, address indexed to, uint256 value);
    /// @notice ERC-20 approval.
    event Approval(address indexed owner, address indexed spender, uint256 value);

    /// @param name_ The token's name.
    /// @param symbol_ The token's symbol.
    constructor(string memory name_, string memory symbol_) {
        name = name_;
        symbol = symbol_;
        minter = msg.sender;
    }

    /// @notice Mints `amount` to `to`; only the minter.
    /// @param to The receiver.
    /// @param amount The amount.
    function mint(address to, uint256 amount) external {
        require(msg.sender == minter, "TraderToken: only the minter mints");
        totalSupply += amount;
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    /// @notice Lets `spender` move up to `amount` of the caller's tokens.
    /// @param spender The spender.
    /// @param amount The allowance.
    /// @return Always true.
    function approve(address spender, uint256 amount) external returns (bool) {
        allowance[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
        return true;
    }

    /// @notice Moves `amount` of the caller's tokens to `to`.
    /// @param to The receiver.
    /// @param amount The amount.
    /// @return Always true.
    function transfer(address to, uint256 amount) external returns (bool) {
        _move(msg.sender, to, amount);
        return true;
    }

    /// @notice Moves `amount` of `from`'s tokens to `to`, spending the caller's allowance.
    /// @param from The owner.
    /// @param to The receiver.
    /// @param amount The amount.
    /// @return Always true.
    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            require(allowed >= amount, "TraderToken: allowance too small");
            allowance[from][msg.sender] = allowed - amount;
        }
        _move(from, to, amount);
        return true;
    }

    function _move(address from, address to, uint256 amount) private {
        require(balanceOf[from] >= amount, "TraderToken: balance too small");
        balanceOf[from] -= amount;
        balanceOf[to] += amount;
        emit Transfer(from, to, amount);
    }
}
