// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

/// @title DaoMath
/// @notice Integer and fixed-point (×1e18) helpers for the dao-trader example: square roots
///         for the AMM and the advantage normalisation, `exp` for the policy's softmax.
library DaoMath {
    /// @notice One in fixed-point ×1e18.
    int256 internal constant ONE = 1e18;
    /// @notice ln 2 in fixed-point ×1e18.
    int256 internal constant LN2 = 693147180559945309;

    /// @notice The integer square root of `x` (rounded down).
    /// @param x The radicand.
    /// @return r The largest `r` with `r * r <= x`.
    function sqrt(uint256 x) internal pure returns (uint256 r) {
        if (x == 0) return 0;
        r = x;
        uint256 next = (x >> 1) + 1;
        while (next < r) {
            r = next;
            next = (x / next + next) >> 1;
        }
    }

    /// @notice `e^x` for `x <= 0`, both fixed-point ×1e18 (relative error below 1e-15; 0 below
    ///         x = -41, where e^x < 1e-18).
    /// @dev Range reduction `x = r - n·ln2` with `r` in (-ln2, 0], a Taylor series for `e^r`,
    ///      then a right shift by `n`.
    /// @param x The exponent, at most 0.
    /// @return The power.
    function expNeg(int256 x) internal pure returns (int256) {
        require(x <= 0, "DaoMath: expNeg takes x <= 0");
        if (x < -41 * ONE) return 0;
        uint256 n = uint256(-x / LN2);
        int256 r = x + int256(n) * LN2;
        int256 term = ONE;
        int256 sum = ONE;
        for (int256 i = 1; i <= 20; i++) {
            term = term * r / (ONE * i);
            if (term == 0) break;
            sum += term;
        }
        return sum >> n;
    }
}
