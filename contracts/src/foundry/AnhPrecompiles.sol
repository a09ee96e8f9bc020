// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {Tensor, Rule, TrainParams, IInfer, ITrain, IModelInfo} from "../dnn/IDnn.sol";

// ANH precompiles in `forge test`.
//
// Foundry's EVM has no DNN precompiles (0x…0D00–0x…0D03), so a contract that calls `Dnn.infer`
// reads nothing there. This file lets a Foundry test give such a contract the real model's
// output, computed by an ANH node:
//
//     import {AnhPrecompiles} from "anh/foundry/AnhPrecompiles.sol";
//     function setUp() public { AnhPrecompiles.install(); }   // then test as usual
//
//     forge test --fork-url $ANH_RPC_URL      (or no fork: ANH_RPC_URL=… forge test)
//
// `install` etches a forwarder (`AnhPrecompileStub`) at each of the four precompile addresses.
// Its fallback sends the exact calldata to the node as an `eth_call` (the `vm.rpc` cheatcode, at
// the fork's block) and returns the node's bytes, or reverts with the node's revert data, so
// custom errors such as `InputMismatch` reach the contract under test unchanged. It works under
// STATICCALL (view functions), and makes the node's call the same kind: a `train` under
// STATICCALL gets the node's `WriteInStaticCall`. Without `install`, `mockInfer` & co.
// (`vm.mockCall`) fetch one call's result from the node and install it for that exact calldata.
//
// Limits (examples/foundry/README.md has them all):
// - Results are the node's at one block (in a fork: the fork's block when `install` or `bridge`
//   first ran; without a fork: `latest` of ANH_RPC_URL). The model must be uploaded and
//   registered on the node first (`anh model push`).
// - Nothing is written on the node: `register` and `train` run as `eth_call`, so their checks and
//   results (the new model's hash, the loss) are the node's, but the new model is not
//   registered anywhere and no event is emitted in the test.
// - Gas: the forwarding itself runs with gas metering paused (`vm.pauseGasMetering`), then the
//   forwarder burns the gas that call used on the node at that block (measured there, around the
//   call; a cold model's load included when the model is outside the node's warm set there). A
//   call costs the node's gas plus a few hundred (the stub's entry and return: ≈500 with the
//   optimizer, ≈730 without), plus 2 500 on an address's first call in a transaction (cold in
//   Foundry, warm on the node). The node's warm set is not updated by the test: each call of a
//   model cold at that block pays the load. With `chargeGas` off a call costs the few hundred
//   only. If the test paused metering, the forwarder leaves it paused. Mocked calls cost nothing.
// - In a fork, the bridge and the stubs need cheatcode access; `install`/`bridge` grant it
//   (vm.allowCheatcodes).
// No forge-std needed: the few cheatcodes used are declared in `IAnhVm`, with forge-std's
// signatures, so this file works beside any forge-std version.

/// @notice The cheatcodes this file uses: a subset of forge-std's `Vm`, same signatures.
interface IAnhVm {
    /// @notice JSON-RPC request to the active fork's URL; the `result`, hex decoded to bytes.
    function rpc(string calldata method, string calldata params) external returns (bytes memory data);
    /// @notice JSON-RPC request to `urlOrAlias` (a URL or an `[rpc_endpoints]` alias).
    function rpc(string calldata urlOrAlias, string calldata method, string calldata params)
        external
        returns (bytes memory data);
    /// @notice Sets the runtime code of `target`.
    function etch(address target, bytes calldata newRuntimeBytecode) external;
    /// @notice In fork mode, lets `account` call cheatcodes.
    function allowCheatcodes(address account) external;
    /// @notice The active fork's id; reverts when no fork is active.
    function activeFork() external view returns (uint256 forkId);
    /// @notice An environment variable, or `defaultValue` when it is not set.
    function envOr(string calldata name, string calldata defaultValue) external view returns (string memory value);
    /// @notice `value` as 0x-prefixed lowercase hex.
    function toString(bytes calldata value) external pure returns (string memory);
    /// @notice `value` as a checksummed address.
    function toString(address value) external pure returns (string memory);
    /// @notice Calls to `callee` with calldata `data` return `returnData`.
    function mockCall(address callee, bytes calldata data, bytes calldata returnData) external;
    /// @notice Calls to `callee` with calldata `data` revert with `revertData`.
    function mockCallRevert(address callee, bytes calldata data, bytes calldata revertData) external;
    /// @notice Reads storage slot `slot` of `target`.
    function load(address target, bytes32 slot) external view returns (bytes32 data);
    /// @notice Writes storage slot `slot` of `target`.
    function store(address target, bytes32 slot, bytes32 value) external;
    /// @notice Names `account` in traces.
    function label(address account, string calldata newLabel) external;
    /// @notice Stops gas metering: gas left stays constant until `resumeGasMetering`.
    function pauseGasMetering() external;
    /// @notice Resumes gas metering.
    function resumeGasMetering() external;
}

/// @notice Where and how the forwarder asks the node.
/// @param rpc A URL or `[rpc_endpoints]` alias; "" for the active fork's URL.
/// @param blockTag The block the node computes at: "latest" or a 0x-hex block number.
/// @param chargeGas Whether the forwarder burns the gas the precompile used on the node (if not,
///        a forwarded call costs only the forwarder's few hundred gas).
struct AnhNodeConfig {
    string rpc;
    string blockTag;
    bool chargeGas;
}

/// @notice What the node answered for one precompile call.
/// @param ok Whether the precompile returned (false: it reverted with `output`).
/// @param gasUsed Gas the call to the precompile used on the node (CALL overhead included).
/// @param output The return data, or the revert data.
struct AnhNodeResult {
    bool ok;
    uint256 gasUsed;
    bytes output;
}

/// @title AnhNode
/// @notice Asks an ANH node what a precompile call returns, by `eth_call` through `vm.rpc`.
library AnhNode {
    /// @notice The cheatcode address.
    IAnhVm internal constant VM = IAnhVm(address(uint160(uint256(keccak256("hevm cheat code")))));
    /// @notice Where the request puts `AnhProbe`'s code (a state override; nothing is deployed).
    address internal constant PROBE = address(uint160(uint256(keccak256("anh.foundry.probe"))));

    /// @notice Runs `data` against `precompile` on the node described by `cfg`.
    /// @dev One `eth_call` to `AnhProbe`, placed at `PROBE` by a state override, which calls the
    ///      precompile (STATICCALL if `isStatic`) and returns (ok, gas used, output); so a revert
    ///      comes back as data, not as a JSON-RPC error. Reverts with `vm.rpc`'s message if the
    ///      node cannot be reached or refuses the request (e.g. an unknown block).
    /// @param cfg The node and block.
    /// @param precompile The precompile address (or any address: the probe just calls it).
    /// @param isStatic Whether to call it with STATICCALL.
    /// @param data The calldata.
    /// @return result The node's answer.
    function call(AnhNodeConfig memory cfg, address precompile, bool isStatic, bytes memory data)
        internal
        returns (AnhNodeResult memory result)
    {
        string memory probe = VM.toString(PROBE);
        string memory params = string.concat(
            '[{"to":"',
            probe,
            '","data":"',
            VM.toString(abi.encodePacked(precompile, isStatic, data)),
            '"},"',
            cfg.blockTag,
            '",{"',
            probe,
            '":{"code":"',
            VM.toString(type(AnhProbe).runtimeCode),
            '"}}]'
        );
        bytes memory answer =
            bytes(cfg.rpc).length == 0 ? VM.rpc("eth_call", params) : VM.rpc(cfg.rpc, "eth_call", params);
        (result.ok, result.gasUsed, result.output) = abi.decode(answer, (bool, uint256, bytes));
    }

    /// @notice `n` as a JSON-RPC quantity ("0x1f").
    function quantity(uint256 n) internal pure returns (string memory) {
        if (n == 0) return "0x0";
        uint256 digits;
        for (uint256 m = n; m != 0; m >>= 4) digits++;
        bytes memory s = new bytes(digits + 2);
        s[0] = "0";
        s[1] = "x";
        for (uint256 i = digits + 1; i >= 2; i--) {
            s[i] = bytes16("0123456789abcdef")[n & 15];
            n >>= 4;
        }
        return string(s);
    }
}

/// @title AnhProbe
/// @notice Runs on the node only, inside the `eth_call` of `AnhNode.call` (state override):
///         calldata `abi.encodePacked(address target, bool isStatic, bytes data)`; returns
///         `abi.encode(bool ok, uint256 gasUsed, bytes output)` and never reverts.
contract AnhProbe {
    fallback(bytes calldata input) external returns (bytes memory) {
        address target = address(bytes20(input[:20]));
        bool isStatic = input[20] != 0;
        bytes memory data = input[21:];
        bool ok;
        bytes memory output;
        uint256 gasBefore = gasleft();
        if (isStatic) (ok, output) = target.staticcall(data);
        else (ok, output) = target.call(data);
        uint256 gasUsed = gasBefore - gasleft();
        return abi.encode(ok, gasUsed, output);
    }
}

/// @title AnhNodeBridge
/// @notice Holds the node's address (URL or alias, and block) for the forwarders and asks the
///         node on their behalf. Deployed by `AnhPrecompiles.install`; needs cheatcode access.
contract AnhNodeBridge {
    /// @notice A URL or `[rpc_endpoints]` alias; "" for the active fork's URL.
    string public rpc;
    /// @notice The block the node computes at.
    string public blockTag;

    /// @param rpc_ See `rpc`.
    /// @param blockTag_ See `blockTag`.
    constructor(string memory rpc_, string memory blockTag_) {
        rpc = rpc_;
        blockTag = blockTag_;
    }

    /// @notice The node and block, as an `AnhNodeConfig` (`chargeGas` is the stubs' business:
    ///         false here).
    function config() external view returns (AnhNodeConfig memory) {
        return AnhNodeConfig(rpc, blockTag, false);
    }

    /// @notice The node's answer to `data` sent to `precompile` (see `AnhNode.call`).
    function forward(address precompile, bool isStatic, bytes calldata data)
        external
        returns (AnhNodeResult memory)
    {
        return AnhNode.call(AnhNodeConfig(rpc, blockTag, false), precompile, isStatic, data);
    }
}

/// @title AnhPrecompileStub
/// @notice The code `AnhPrecompiles.install` etches at a precompile address: forwards every call
///         to the node (through its `AnhNodeBridge`) and answers with the node's bytes.
contract AnhPrecompileStub {
    /// @dev The calldata of the self-call that tells a CALL from a STATICCALL context.
    bytes4 private constant STATIC_TEST = 0x5a7e5a7e;

    AnhNodeBridge private immutable bridge;
    bool private immutable chargeGas;
    bool private transient written;

    /// @param bridge_ The bridge that asks the node.
    /// @param chargeGas_ Whether to burn the gas the precompile used on the node.
    constructor(AnhNodeBridge bridge_, bool chargeGas_) {
        bridge = bridge_;
        chargeGas = chargeGas_;
    }

    /// @notice Returns what the node's precompile at this address returns for this calldata, or
    ///         reverts with what it reverts with.
    /// @dev Gas: the forwarding (the static-context probe, which burns its 10 000 under
    ///      STATICCALL, the bridge, `vm.rpc`, decoding: about 23 000 gas of Foundry's) runs with
    ///      gas metering paused, so it costs the caller nothing; then, metering resumed, the stub
    ///      burns the gas the call used on the node less what it spent metered since entry (the
    ///      two cheatcode calls and the code around them). The caller pays the node's gas plus
    ///      the stub's entry and return (a few hundred), plus Foundry's CALL cost (2 600 for a
    ///      cold address; the node's measure includes a warm access, 100). If the test paused
    ///      metering itself, the stub leaves it paused and burns nothing.
    fallback(bytes calldata data) external returns (bytes memory) {
        uint256 start = gasleft();
        if (msg.sender == address(this) && data.length == 4 && bytes4(data) == STATIC_TEST) {
            written = true; // a write (to transient storage): fails under STATICCALL
            return "";
        }
        bool metered;
        assembly {
            metered := iszero(eq(gas(), gas())) // paused metering keeps gas() constant
        }
        if (metered) AnhNode.VM.pauseGasMetering();
        (bool writable,) = address(this).call{gas: 10_000}(abi.encodePacked(STATIC_TEST));
        (bool reached, bytes memory answer) =
            address(bridge).call(abi.encodeCall(AnhNodeBridge.forward, (address(this), !writable, data)));
        AnhNodeResult memory result;
        if (reached) result = abi.decode(answer, (AnhNodeResult));
        if (metered) {
            AnhNode.VM.resumeGasMetering(); // also before the revert below
            if (reached && chargeGas) _burn(result.gasUsed, start);
        }
        if (!reached) {
            assembly {
                revert(add(answer, 32), mload(answer)) // vm.rpc's error (node unreachable, …)
            }
        }
        bytes memory output = result.output;
        if (!result.ok) {
            assembly {
                revert(add(output, 32), mload(output))
            }
        }
        return output;
    }

    /// @dev Burns gas until `gasUsed` were spent since `start` (nothing if that is passed
    ///      already); runs out of gas, as the precompile would, if there is not enough left.
    function _burn(uint256 gasUsed, uint256 start) private view {
        uint256 spent = start - gasleft();
        if (gasUsed <= spent) return;
        uint256 burn = gasUsed - spent;
        uint256 left = gasleft();
        if (left <= burn) {
            assembly {
                invalid() // out of gas, as the precompile would be
            }
        }
        uint256 stop = left - burn;
        while (gasleft() > stop) {}
    }
}

/// @title AnhPrecompiles
/// @notice Installs the node-backed precompiles in a Foundry test, and mocks single calls with
///         the node's results. All functions are internal: call them from a test contract.
library AnhPrecompiles {
    /// @notice The model registry precompile.
    address internal constant REGISTRY = 0x0000000000000000000000000000000000000d00;
    /// @notice The inference precompile.
    address internal constant INFER = 0x0000000000000000000000000000000000000d01;
    /// @notice The training precompile.
    address internal constant TRAIN = 0x0000000000000000000000000000000000000d02;
    /// @notice The model-info precompile.
    address internal constant INFO = 0x0000000000000000000000000000000000000D03;
    /// @notice The node used without a fork when `ANH_RPC_URL` is not set.
    string internal constant DEFAULT_RPC_URL = "http://127.0.0.1:8545";

    IAnhVm private constant VM = AnhNode.VM;
    /// @dev Where `bridge()` keeps the bridge's address (in 0x…0D00's storage).
    bytes32 private constant BRIDGE_SLOT = keccak256("anh.foundry.bridge");

    /// @notice Whether the test runs in a fork (`--fork-url` or `vm.createSelectFork`).
    function forked() internal view returns (bool) {
        try VM.activeFork() returns (uint256) {
            return true;
        } catch {
            return false;
        }
    }

    /// @notice The default node: in a fork, the fork's URL at the current block (the fork's
    ///         block, unless the test rolled it before); otherwise `ANH_RPC_URL` (default
    ///         http://127.0.0.1:8545) at `latest`. Gas is charged.
    function defaultConfig() internal view returns (AnhNodeConfig memory cfg) {
        if (forked()) return AnhNodeConfig("", AnhNode.quantity(block.number), true);
        return AnhNodeConfig(VM.envOr("ANH_RPC_URL", DEFAULT_RPC_URL), "latest", true);
    }

    /// @notice The bridge in use: the last one `install` made, or, if none, a new one with
    ///         `defaultConfig()` (made on first use, so call `install()` or `bridge()` in
    ///         `setUp`, before any `vm.roll`, to pin the fork's block).
    /// @dev Its address is kept in a storage slot of 0x…0D00 (no contract's storage in Foundry's
    ///      EVM), so it lasts for the test, across `uninstall`.
    function bridge() internal returns (AnhNodeBridge b) {
        b = AnhNodeBridge(address(uint160(uint256(VM.load(REGISTRY, BRIDGE_SLOT)))));
        if (address(b) == address(0)) b = _newBridge(defaultConfig());
    }

    /// @notice Etches node-backed forwarders at 0x…0D00–0x…0D03 with `defaultConfig()`.
    /// @return b The bridge the forwarders ask the node through.
    function install() internal returns (AnhNodeBridge b) {
        return install(defaultConfig());
    }

    /// @notice Etches node-backed forwarders at 0x…0D00–0x…0D03, asking the node `cfg` names
    ///         (also for `callNode` and the mocks from then on).
    /// @dev Call it again after selecting another fork (etched code and the bridge live in the
    ///      fork they were made in, unless made persistent). In a fork it grants the four
    ///      addresses cheatcode access: the stubs pause and resume gas metering.
    /// @param cfg The node, block and gas choice.
    /// @return b The bridge the forwarders ask the node through.
    function install(AnhNodeConfig memory cfg) internal returns (AnhNodeBridge b) {
        b = _newBridge(cfg);
        bytes memory code = address(new AnhPrecompileStub(b, cfg.chargeGas)).code;
        VM.etch(REGISTRY, code);
        VM.etch(INFER, code);
        VM.etch(TRAIN, code);
        VM.etch(INFO, code);
        if (forked()) {
            // the stubs pause and resume gas metering (cheatcodes) around the forwarding
            VM.allowCheatcodes(REGISTRY);
            VM.allowCheatcodes(INFER);
            VM.allowCheatcodes(TRAIN);
            VM.allowCheatcodes(INFO);
        }
        VM.label(REGISTRY, "ANH.REGISTRY");
        VM.label(INFER, "ANH.INFER");
        VM.label(TRAIN, "ANH.TRAIN");
        VM.label(INFO, "ANH.INFO");
    }

    /// @notice Removes the forwarders (the four addresses have no code again).
    function uninstall() internal {
        VM.etch(REGISTRY, "");
        VM.etch(INFER, "");
        VM.etch(TRAIN, "");
        VM.etch(INFO, "");
    }

    /// @notice What the node's `precompile` answers to `data` (`bridge()`'s node; STATICCALL for
    ///         0x…0D01 and 0x…0D03, CALL otherwise), without installing anything. Use it to
    ///         compare a contract's result with the precompile's own.
    /// @param precompile One of the four addresses.
    /// @param data The calldata.
    /// @return result Whether it returned, the gas it used on the node, and its bytes.
    function callNode(address precompile, bytes memory data) internal returns (AnhNodeResult memory result) {
        return AnhNode.call(bridge().config(), precompile, _isView(precompile), data);
    }

    /// @notice Fetches the node's answer to `data` at `precompile` and installs it with
    ///         `vm.mockCall` (or `vm.mockCallRevert` when the node reverts) for that exact
    ///         calldata. No forwarder, no cheatcode access needed; the mocked call costs no gas.
    /// @param precompile One of the four addresses.
    /// @param data The exact calldata the contract under test will send.
    /// @return result The node's answer.
    function mock(address precompile, bytes memory data) internal returns (AnhNodeResult memory result) {
        result = callNode(precompile, data);
        if (result.ok) VM.mockCall(precompile, data, result.output);
        else VM.mockCallRevert(precompile, data, result.output);
    }

    /// @notice `mock` of `IInfer.infer(model, inputs)`.
    function mockInfer(bytes32 model, Tensor[] memory inputs) internal returns (AnhNodeResult memory) {
        return mock(INFER, abi.encodeCall(IInfer.infer, (model, inputs)));
    }

    /// @notice `mock` of `IInfer.inferAs(model, inputs, outputDtype)`.
    function mockInferAs(bytes32 model, Tensor[] memory inputs, uint8 outputDtype)
        internal
        returns (AnhNodeResult memory)
    {
        return mock(INFER, abi.encodeCall(IInfer.inferAs, (model, inputs, outputDtype)));
    }

    /// @notice `mock` of `IInfer.inferWith(model, inputs, outputDtype, rule)`.
    function mockInferWith(bytes32 model, Tensor[] memory inputs, uint8 outputDtype, Rule memory rule)
        internal
        returns (AnhNodeResult memory)
    {
        return mock(INFER, abi.encodeCall(IInfer.inferWith, (model, inputs, outputDtype, rule)));
    }

    /// @notice `mock` of `IModelInfo.modelInfo(model)`.
    function mockModelInfo(bytes32 model) internal returns (AnhNodeResult memory) {
        return mock(INFO, abi.encodeCall(IModelInfo.modelInfo, (model)));
    }

    /// @notice `mock` of `IModelInfo.isRegistered(model)`.
    function mockIsRegistered(bytes32 model) internal returns (AnhNodeResult memory) {
        return mock(INFO, abi.encodeCall(IModelInfo.isRegistered, (model)));
    }

    /// @notice `mock` of `ITrain.train(model, batch, params)`, computed as an `eth_call` (the new
    ///         model is not registered on the node).
    function mockTrain(bytes32 model, Tensor[] memory batch, TrainParams memory params)
        internal
        returns (AnhNodeResult memory)
    {
        return mock(TRAIN, abi.encodeCall(ITrain.train, (model, batch, params)));
    }

    function _newBridge(AnhNodeConfig memory cfg) private returns (AnhNodeBridge b) {
        b = new AnhNodeBridge(cfg.rpc, cfg.blockTag);
        if (forked()) VM.allowCheatcodes(address(b));
        VM.store(REGISTRY, BRIDGE_SLOT, bytes32(uint256(uint160(address(b)))));
        VM.label(address(b), "AnhNodeBridge");
    }

    function _isView(address precompile) private pure returns (bool) {
        return precompile == INFER || precompile == INFO;
    }
}
