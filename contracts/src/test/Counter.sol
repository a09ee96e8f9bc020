// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

/// @title Counter
/// @notice Test fixture for ANH's integration tests: a counter with events, string and custom-error
///         reverts, a panic, a constructor argument and a payable `receive`.
/// @dev Every function that reverts writes to storage first, so tests can check that the revert
///      rolled the write back.
contract Counter {
    /// @notice The current count.
    uint256 public count;

    /// @notice Emitted once, by the constructor.
    /// @param deployer The account that deployed the contract.
    /// @param initialCount The count the contract started with.
    event Deployed(address indexed deployer, uint256 initialCount);

    /// @notice Emitted by `increment`.
    /// @param by The caller.
    /// @param newCount The count after the increment.
    /// @param note The caller's note, unindexed so that it stays readable in the log data.
    event Incremented(address indexed by, uint256 indexed newCount, string note);

    /// @notice Emitted by `add`.
    /// @param by The caller.
    /// @param amount The amount added.
    /// @param newCount The count after the addition.
    event Added(address indexed by, uint256 amount, uint256 newCount);

    /// @notice Emitted when the contract receives plain ether.
    /// @param from The sender.
    /// @param amount The value received, in wei.
    event Received(address indexed from, uint256 amount);

    /// @notice The custom error raised by `failCustom`.
    /// @param code The code the caller passed.
    /// @param sender The caller.
    error CustomFailure(uint256 code, address sender);

    /// @param initialCount The count to start from.
    constructor(uint256 initialCount) {
        count = initialCount;
        emit Deployed(msg.sender, initialCount);
    }

    /// @notice Accepts plain ether transfers.
    receive() external payable {
        emit Received(msg.sender, msg.value);
    }

    /// @notice Adds one to the count and emits `Incremented`.
    /// @param note Free text copied into the event.
    /// @return newCount The count after the increment.
    function increment(string calldata note) external returns (uint256 newCount) {
        newCount = ++count;
        emit Incremented(msg.sender, newCount, note);
    }

    /// @notice Adds `amount` to the count (checked arithmetic: overflow panics with code 0x11).
    /// @param amount The amount to add.
    /// @return newCount The count after the addition.
    function add(uint256 amount) external returns (uint256 newCount) {
        newCount = count + amount;
        count = newCount;
        emit Added(msg.sender, amount, newCount);
    }

    /// @notice Returns the current count.
    /// @return The current count.
    function get() external view returns (uint256) {
        return count;
    }

    /// @notice Always reverts with `Error(string)` carrying `reason`.
    /// @param reason The revert reason.
    function fail(string calldata reason) external {
        count += 1;
        revert(reason);
    }

    /// @notice Always reverts with `CustomFailure(code, msg.sender)`.
    /// @param code A code copied into the error.
    function failCustom(uint256 code) external {
        count += 1;
        revert CustomFailure(code, msg.sender);
    }

    /// @notice Always reverts with `Panic(0x12)` (division by zero).
    /// @dev The divisor comes from storage, so the compiler cannot reject the division.
    function panic() external {
        uint256 divisor = count - count;
        count = count / divisor;
    }
}
