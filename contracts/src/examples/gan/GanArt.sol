// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {Tensor} from "../../dnn/IDnn.sol";
import {Dnn} from "../../dnn/Dnn.sol";
import {TensorLib} from "../../dnn/TensorLib.sol";
import {GanRender} from "./GanRender.sol";

/// @title IERC721TokenReceiver
/// @notice What a contract implements to accept ERC-721 tokens through `safeTransferFrom`.
interface IERC721TokenReceiver {
    /// @notice Called by the token contract after a safe transfer to this contract.
    /// @return `IERC721TokenReceiver.onERC721Received.selector` to accept the token.
    function onERC721Received(address operator, address from, uint256 tokenId, bytes calldata data)
        external
        returns (bytes4);
}

/// @title GanArt
/// @notice An ERC-721 whose images a GAN generator draws on chain: `mint(seed)` turns the seed
///         into a latent vector, runs the generator (an ONNX model registered with ANH's DNN
///         precompiles) through `Dnn.inferAs`, and stores the 8×8 grayscale image it returns.
///         `tokenURI` builds the metadata and an SVG of the image in Solidity, as a data URI.
/// @dev A minimal ERC-721 (with ERC-165 and the metadata extension), written for this example.
///      The generator maps `z[1, LATENT]` (float32, from fixed-point) to `pixels[1, 64]` in
///      [0, 255] (a sigmoid scaled by 255), which the precompile returns as uint8.
///      In a transaction the executor committee settles the inference (the model's rule, or
///      the committee's default tolerance rule); the image stored is the settled output.
contract GanArt {
    using TensorLib for Tensor;

    /// @notice Latent dimensions the generator takes.
    uint256 public constant LATENT = 16;
    /// @notice Pixels of an image (8 × 8, row-major).
    uint256 public constant PIXELS = 64;
    /// @notice Decimals of the fixed-point latent values (±1.000000).
    uint8 internal constant LATENT_DECIMALS = 6;

    /// @notice The generator model (keccak256 of its ONNX file), registered on chain.
    bytes32 public immutable generator;
    /// @notice The collection's name.
    string public constant name = "GAN Art";
    /// @notice The collection's symbol.
    string public constant symbol = "GANART";
    /// @notice Tokens minted so far; ids run from 1 to `totalSupply`.
    uint256 public totalSupply;

    mapping(uint256 id => address) private _owners;
    mapping(address owner => uint256) private _balances;
    mapping(uint256 id => address) private _approvals;
    mapping(address owner => mapping(address operator => bool)) private _operators;
    mapping(uint256 id => bytes) private _images;
    mapping(uint256 id => uint256) private _seeds;
    /// @notice The token minted from a seed (0: none yet).
    mapping(uint256 seed => uint256 id) public tokenOfSeed;

    /// @notice ERC-721: `id` moved from `from` to `to` (from 0 when minted).
    event Transfer(address indexed from, address indexed to, uint256 indexed id);
    /// @notice ERC-721: `approved` may transfer `id`.
    event Approval(address indexed owner, address indexed approved, uint256 indexed id);
    /// @notice ERC-721: `operator` may (or may no longer) transfer all of `owner`'s tokens.
    event ApprovalForAll(address indexed owner, address indexed operator, bool approved);
    /// @notice Token `id` was drawn by the generator from `seed`.
    event Drawn(uint256 indexed id, uint256 indexed seed, bytes image);

    /// @param generator_ The generator model; it must be registered (`Dnn.isRegistered`).
    constructor(bytes32 generator_) {
        require(Dnn.isRegistered(generator_), "GanArt: the generator model is not registered");
        generator = generator_;
    }

    /// @notice Mints a token to the caller whose image the generator draws from `seed`. Each
    ///         seed can be minted once.
    /// @param seed Any number; the same seed always gives the same latent vector.
    /// @return id The new token's id.
    function mint(uint256 seed) external returns (uint256 id) {
        require(tokenOfSeed[seed] == 0, "GanArt: seed already minted");
        bytes memory image = draw(seed);
        id = ++totalSupply;
        tokenOfSeed[seed] = id;
        _seeds[id] = seed;
        _images[id] = image;
        _owners[id] = msg.sender;
        _balances[msg.sender] += 1;
        emit Transfer(address(0), msg.sender, id);
        emit Drawn(id, seed, image);
    }

    /// @notice The image the generator draws from `seed`, without minting: 64 grayscale
    ///         pixels, row-major, 0 black … 255 white.
    /// @dev The generator's output is in pixel units already (a sigmoid scaled by 255), so the
    ///      precompile converts it to uint8 (rounding to nearest) and its data is the image.
    /// @param seed The seed.
    /// @return image The pixels.
    function draw(uint256 seed) public view returns (bytes memory image) {
        Tensor memory z = TensorLib.fromFixed(latentOf(seed), TensorLib.shape(1, uint64(LATENT)), LATENT_DECIMALS);
        Tensor memory out = Dnn.inferAs(generator, z, Dnn.UINT8)[0];
        require(out.numel() == PIXELS && out.data.length == PIXELS, "GanArt: the generator did not return 64 pixels");
        return out.data;
    }

    /// @notice The latent vector of `seed`: `LATENT` values uniform in [-1, 1], fixed-point
    ///         with 6 decimals, element i from `keccak256(abi.encode(seed, i))`.
    /// @param seed The seed.
    /// @return z The raw fixed-point values (`z[i] / 1e6` is the number).
    function latentOf(uint256 seed) public pure returns (int256[] memory z) {
        z = new int256[](LATENT);
        for (uint256 i = 0; i < LATENT; i++) {
            uint256 h = uint256(keccak256(abi.encode(seed, i)));
            z[i] = int256(h % 2_000_001) - 1_000_000;
        }
    }

    /// @notice Token `id`'s image: 64 grayscale pixels, row-major.
    /// @param id The token.
    /// @return The pixels.
    function imageOf(uint256 id) external view returns (bytes memory) {
        _requireMinted(id);
        return _images[id];
    }

    /// @notice The seed token `id` was minted from.
    /// @param id The token.
    /// @return The seed.
    function seedOf(uint256 id) external view returns (uint256) {
        _requireMinted(id);
        return _seeds[id];
    }

    /// @notice ERC-721 metadata: a `data:application/json;base64,…` URI whose `image` is a
    ///         `data:image/svg+xml;base64,…` SVG of the token's 8×8 image.
    /// @param id The token.
    /// @return The data URI.
    function tokenURI(uint256 id) external view returns (string memory) {
        _requireMinted(id);
        return GanRender.tokenURI(id, _seeds[id], _images[id]);
    }

    /// @notice ERC-165: ERC-165 itself, ERC-721 and ERC-721 metadata.
    /// @param interfaceId The interface.
    /// @return Whether this contract implements it.
    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == 0x01ffc9a7 || interfaceId == 0x80ac58cd || interfaceId == 0x5b5e139f;
    }

    /// @notice ERC-721: how many tokens `owner` holds.
    /// @param owner The account (not the zero address).
    /// @return Its balance.
    function balanceOf(address owner) external view returns (uint256) {
        require(owner != address(0), "GanArt: the zero address owns no tokens");
        return _balances[owner];
    }

    /// @notice ERC-721: who holds token `id`.
    /// @param id The token.
    /// @return owner Its owner.
    function ownerOf(uint256 id) public view returns (address owner) {
        owner = _owners[id];
        require(owner != address(0), "GanArt: unknown token id");
    }

    /// @notice ERC-721: lets `to` transfer token `id` (the zero address: nobody).
    /// @param to The approved account.
    /// @param id The token.
    function approve(address to, uint256 id) external {
        address owner = ownerOf(id);
        require(msg.sender == owner || _operators[owner][msg.sender], "GanArt: not the owner nor an operator");
        _approvals[id] = to;
        emit Approval(owner, to, id);
    }

    /// @notice ERC-721: the account approved for token `id`.
    /// @param id The token.
    /// @return The approved account (zero: none).
    function getApproved(uint256 id) external view returns (address) {
        _requireMinted(id);
        return _approvals[id];
    }

    /// @notice ERC-721: lets `operator` transfer all of the caller's tokens, or no longer.
    /// @param operator The operator.
    /// @param approved Whether it may.
    function setApprovalForAll(address operator, bool approved) external {
        _operators[msg.sender][operator] = approved;
        emit ApprovalForAll(msg.sender, operator, approved);
    }

    /// @notice ERC-721: whether `operator` may transfer all of `owner`'s tokens.
    /// @param owner The owner.
    /// @param operator The operator.
    /// @return Whether it may.
    function isApprovedForAll(address owner, address operator) external view returns (bool) {
        return _operators[owner][operator];
    }

    /// @notice ERC-721: moves token `id` from `from` to `to` (no receiver check).
    /// @param from The owner.
    /// @param to The recipient (not the zero address).
    /// @param id The token.
    function transferFrom(address from, address to, uint256 id) public {
        address owner = ownerOf(id);
        require(owner == from, "GanArt: from is not the owner");
        require(to != address(0), "GanArt: transfer to the zero address");
        require(
            msg.sender == owner || _approvals[id] == msg.sender || _operators[owner][msg.sender],
            "GanArt: not the owner, approved nor an operator"
        );
        delete _approvals[id];
        _balances[from] -= 1;
        _balances[to] += 1;
        _owners[id] = to;
        emit Transfer(from, to, id);
    }

    /// @notice ERC-721: `transferFrom`, then, if `to` is a contract, asks it to accept.
    /// @param from The owner.
    /// @param to The recipient.
    /// @param id The token.
    function safeTransferFrom(address from, address to, uint256 id) external {
        safeTransferFrom(from, to, id, "");
    }

    /// @notice ERC-721: `transferFrom`, then, if `to` is a contract, asks it to accept with
    ///         `data`.
    /// @param from The owner.
    /// @param to The recipient.
    /// @param id The token.
    /// @param data Passed to `onERC721Received`.
    function safeTransferFrom(address from, address to, uint256 id, bytes memory data) public {
        transferFrom(from, to, id);
        if (to.code.length > 0) {
            bytes4 answer = IERC721TokenReceiver(to).onERC721Received(msg.sender, from, id, data);
            require(
                answer == IERC721TokenReceiver.onERC721Received.selector, "GanArt: the recipient refused the token"
            );
        }
    }

    function _requireMinted(uint256 id) private view {
        require(_owners[id] != address(0), "GanArt: unknown token id");
    }
}
