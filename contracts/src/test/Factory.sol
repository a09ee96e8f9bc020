// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

/// @title Child
/// @notice The contract that `Factory` deploys.
contract Child {
    /// @notice The account that created this contract (the factory).
    address public immutable creator;

    /// @notice The value passed to the constructor.
    uint256 public immutable value;

    /// @param initialValue The value to store.
    constructor(uint256 initialValue) payable {
        creator = msg.sender;
        value = initialValue;
    }
}

/// @title Factory
/// @notice Test fixture for ANH's integration tests: deploys `Child` contracts with CREATE and
///         CREATE2 and emits their addresses.
contract Factory {
    /// @notice Emitted for each child deployed.
    /// @param child The new contract's address.
    /// @param create2 True for CREATE2, false for CREATE.
    /// @param salt The CREATE2 salt; zero for CREATE.
    /// @param value The child's constructor argument.
    event ChildDeployed(address indexed child, bool indexed create2, bytes32 salt, uint256 value);

    /// @notice Deploys a `Child` with CREATE.
    /// @param value The child's constructor argument.
    /// @return child The new contract's address.
    function deploy(uint256 value) public returns (address child) {
        child = address(new Child(value));
        emit ChildDeployed(child, false, bytes32(0), value);
    }

    /// @notice Deploys a `Child` with CREATE2. Reverts if that salt and value were used before.
    /// @param salt The CREATE2 salt.
    /// @param value The child's constructor argument.
    /// @return child The new contract's address (equal to `predict(salt, value)`).
    function deploy2(bytes32 salt, uint256 value) public returns (address child) {
        child = address(new Child{salt: salt}(value));
        emit ChildDeployed(child, true, salt, value);
    }

    /// @notice Deploys one `Child` with CREATE and one with CREATE2 in the same call.
    /// @param salt The CREATE2 salt.
    /// @param value The constructor argument of both children.
    /// @return created The CREATE child's address.
    /// @return created2 The CREATE2 child's address.
    function deployBoth(bytes32 salt, uint256 value) external returns (address created, address created2) {
        created = deploy(value);
        created2 = deploy2(salt, value);
    }

    /// @notice Computes the address `deploy2(salt, value)` deploys to.
    /// @param salt The CREATE2 salt.
    /// @param value The child's constructor argument.
    /// @return The address.
    function predict(bytes32 salt, uint256 value) external view returns (address) {
        bytes32 initCodeHash = keccak256(abi.encodePacked(type(Child).creationCode, abi.encode(value)));
        return address(uint160(uint256(keccak256(abi.encodePacked(bytes1(0xff), address(this), salt, initCodeHash)))));
    }
}
