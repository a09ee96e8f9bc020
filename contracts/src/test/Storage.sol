// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

/// @title Storage
/// @notice Test fixture for ANH's integration tests: mapping reads and writes, a gas burner and a
///         view of the block environment.
contract Storage {
    /// @notice The key-value store behind `set` and `get`.
    mapping(uint256 => uint256) public values;

    /// @notice Slots that `burn` writes; kept apart from `values`.
    mapping(uint256 => uint256) public scratch;

    /// @notice The first `scratch` key that the next `burn` writes.
    uint256 public burnCursor;

    /// @notice Emitted by `set`.
    /// @param key The key written.
    /// @param value The value stored.
    event ValueSet(uint256 indexed key, uint256 value);

    /// @notice Emitted by `burn`.
    /// @param iterations The number of slots written.
    /// @param gasUsed The gas the loop consumed, as measured inside the call.
    event Burned(uint256 iterations, uint256 gasUsed);

    /// @notice Stores `value` under `key`.
    /// @param key The key.
    /// @param value The value.
    function set(uint256 key, uint256 value) external {
        values[key] = value;
        emit ValueSet(key, value);
    }

    /// @notice Returns the value stored under `key` (zero if never set).
    /// @param key The key.
    /// @return The stored value.
    function get(uint256 key) external view returns (uint256) {
        return values[key];
    }

    /// @notice Consumes gas by writing `iterations` storage slots that were never written before
    ///         (about 22,100 gas each), so every call costs about the same.
    /// @param iterations The number of slots to write.
    /// @return gasUsed The gas the loop consumed, as measured inside the call.
    function burn(uint256 iterations) external returns (uint256 gasUsed) {
        uint256 start = gasleft();
        uint256 cursor = burnCursor;
        for (uint256 i = 0; i < iterations; ++i) {
            scratch[cursor + i] = i + 1;
        }
        burnCursor = cursor + iterations;
        gasUsed = start - gasleft();
        emit Burned(iterations, gasUsed);
    }

    /// @notice Returns the block environment the call executes in.
    /// @return number `block.number`.
    /// @return timestamp `block.timestamp`.
    /// @return basefee `block.basefee`.
    /// @return chainid `block.chainid`.
    /// @return coinbase `block.coinbase`.
    /// @return parentHash `blockhash(block.number - 1)`; zero in the genesis block.
    function blockInfo()
        external
        view
        returns (
            uint256 number,
            uint256 timestamp,
            uint256 basefee,
            uint256 chainid,
            address coinbase,
            bytes32 parentHash
        )
    {
        number = block.number;
        timestamp = block.timestamp;
        basefee = block.basefee;
        chainid = block.chainid;
        coinbase = block.coinbase;
        parentHash = number == 0 ? bytes32(0) : blockhash(number - 1);
    }
}
