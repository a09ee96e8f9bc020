// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {DevToken} from "anh/DevToken.sol";
import {Reverter} from "anh/clients/Reverter.sol";

/// @dev The part of forge's cheatcode interface this script uses (forge-std is not on npm).
interface Vm {
    function envAddress(string calldata name) external view returns (address);
    function startBroadcast() external;
    function stopBroadcast() external;
}

/// @notice `forge script --broadcast` fixture of the client-compatibility suite: deploys a
///         DevToken and a Reverter, then transfers tokens to RECIPIENT and pokes the Reverter.
contract Deploy {
    Vm private constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    function run() external returns (DevToken token, Reverter reverter) {
        address recipient = vm.envAddress("RECIPIENT");
        vm.startBroadcast();
        token = new DevToken("Script Token", "SCR", 1_000 ether);
        require(token.transfer(recipient, 25 ether), "transfer failed");
        reverter = new Reverter();
        reverter.poke();
        vm.stopBroadcast();
        require(token.balanceOf(recipient) == 25 ether, "transfer did not land");
    }
}
