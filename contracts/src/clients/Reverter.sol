// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

/// @title Reverter
/// @notice Fixture of the client-compatibility suite (`clients/`): every way a call can fail, each
///         in a `view` variant (for `eth_call`) and a state-changing one (for `eth_estimateGas`,
///         `eth_sendTransaction` and mined failed transactions).
/// @dev The state-changing variants write to storage before failing, so a test can check that the
///      revert rolled the write back.
contract Reverter {
    /// @notice Counts successful `poke` calls; the failing functions bump it before reverting.
    uint256 public pokes;

    /// @notice Emitted by `poke`.
    /// @param by The caller.
    /// @param count `pokes` after the call.
    event Poked(address indexed by, uint256 count);

    /// @notice The custom error raised by `failCustom` and `failCustomView`.
    /// @param code The caller's code.
    /// @param who The caller.
    /// @param note A copy of the caller's note.
    error Failure(uint256 code, address who, string note);

    /// @notice A custom error without arguments.
    error Unauthorized();

    /// @notice Succeeds: bumps `pokes` and emits `Poked`.
    /// @return count `pokes` after the call.
    function poke() external returns (uint256 count) {
        count = ++pokes;
        emit Poked(msg.sender, count);
    }

    /// @notice Reverts with `Error(reason)`.
    function failString(string calldata reason) external {
        pokes += 1;
        revert(reason);
    }

    /// @notice Reverts with `Error(reason)` (view).
    function failStringView(string calldata reason) external pure returns (uint256) {
        revert(reason);
    }

    /// @notice Reverts through `require(false, "require failed")`.
    function failRequire() external {
        pokes += 1;
        require(pokes == 0, "require failed");
    }

    /// @notice Panics with 0x11 (checked arithmetic overflow): returns `type(uint256).max + x`.
    function panicOverflow(uint256 x) external {
        pokes += 1;
        pokes = type(uint256).max + x + pokes;
    }

    /// @notice Panics with 0x11 when `x > 0` (view).
    function panicOverflowView(uint256 x) external pure returns (uint256) {
        return type(uint256).max + x;
    }

    /// @notice Panics with 0x12 (division by zero) when `d == 0`.
    function panicDivide(uint256 d) external {
        pokes += 1;
        pokes = pokes / d;
    }

    /// @notice Returns `n / d`; panics with 0x12 when `d == 0` (view).
    function panicDivideView(uint256 n, uint256 d) external pure returns (uint256) {
        return n / d;
    }

    /// @notice Reverts with `Failure(code, msg.sender, note)`.
    function failCustom(uint256 code, string calldata note) external {
        pokes += 1;
        revert Failure(code, msg.sender, note);
    }

    /// @notice Reverts with `Failure(code, msg.sender, note)` (view).
    function failCustomView(uint256 code, string calldata note) external view returns (uint256) {
        revert Failure(code, msg.sender, note);
    }

    /// @notice Reverts with `Unauthorized()`.
    function failUnauthorized() external {
        pokes += 1;
        revert Unauthorized();
    }

    /// @notice Reverts with no data at all (`revert()`).
    function failEmpty() external {
        pokes += 1;
        revert();
    }
}
