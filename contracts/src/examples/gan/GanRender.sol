// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

/// @title GanRender
/// @notice Renders an 8×8 grayscale image as an SVG of 64 squares and wraps it in the
///         `data:application/json;base64,…` token URI that wallets and marketplaces show.
/// @dev Every function is `internal` and `pure`; the JSON and the SVG are written into buffers
///      allocated once at their final size.
library GanRender {
    /// @notice The image is not 64 pixels.
    error BadImage(uint256 length);

    /// @notice Pixels per side.
    uint256 internal constant SIDE = 8;

    /// @dev One square: `<rect x="X" y="Y" width="1" height="1" fill="#RRGGBB"/>`, the
    ///      digits and the colour written in place.
    bytes internal constant RECT = '<rect x="0" y="0" width="1" height="1" fill="#000000"/>';
    /// @dev Offsets of x, y and the colour's first hex digit inside `RECT`.
    uint256 private constant RECT_X = 9;
    uint256 private constant RECT_Y = 15;
    uint256 private constant RECT_FILL = 46;

    bytes internal constant SVG_HEAD = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8" width="256" '
        'height="256" shape-rendering="crispEdges">';
    bytes internal constant SVG_TAIL = "</svg>";

    bytes private constant HEX = "0123456789abcdef";
    bytes private constant BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    /// @notice The SVG of `pixels` (64 bytes, row-major, 0 black … 255 white): one grey
    ///         square per pixel on an 8×8 view box, shown at 256×256.
    /// @param pixels The image.
    /// @return doc The SVG document.
    function svg(bytes memory pixels) internal pure returns (bytes memory doc) {
        if (pixels.length != SIDE * SIDE) revert BadImage(pixels.length);
        bytes memory rect = RECT;
        bytes memory hexDigits = HEX;
        uint256 head = SVG_HEAD.length;
        uint256 body = pixels.length * rect.length;
        doc = new bytes(head + body + SVG_TAIL.length);
        _copy(doc, 0, SVG_HEAD);
        uint256 rectLen = rect.length;
        (uint256 x, uint256 y, uint256 fill) = (RECT_X, RECT_Y, RECT_FILL);
        assembly ("memory-safe") {
            let src := add(rect, 0x20)
            let dst := add(add(doc, 0x20), head)
            let digits := add(hexDigits, 0x20)
            let px := add(pixels, 0x20)
            for { let i := 0 } lt(i, 64) { i := add(i, 1) } {
                let p := add(dst, mul(i, rectLen))
                mcopy(p, src, rectLen)
                mstore8(add(p, x), add(48, mod(i, 8)))
                mstore8(add(p, y), add(48, div(i, 8)))
                let v := byte(0, mload(add(px, i)))
                let hi := byte(0, mload(add(digits, shr(4, v))))
                let lo := byte(0, mload(add(digits, and(v, 15))))
                for { let c := 0 } lt(c, 6) { c := add(c, 2) } {
                    mstore8(add(p, add(fill, c)), hi)
                    mstore8(add(p, add(fill, add(c, 1))), lo)
                }
            }
        }
        _copy(doc, head + body, SVG_TAIL);
    }

    /// @notice The ERC-721 metadata of a token as a data URI:
    ///         `data:application/json;base64,` + base64 of
    ///         `{"name","description","attributes":[seed, ink],"image":"data:image/svg+xml;base64,…"}`.
    /// @param id The token id.
    /// @param seed The seed it was minted from.
    /// @param pixels Its image (64 bytes).
    /// @return The data URI.
    function tokenURI(uint256 id, uint256 seed, bytes memory pixels) internal pure returns (string memory) {
        uint256 ink = 0;
        for (uint256 i = 0; i < pixels.length; i++) {
            ink += uint8(pixels[i]);
        }
        bytes memory json = abi.encodePacked(
            '{"name":"GAN Art #',
            toString(id),
            '","description":"An 8x8 image drawn on chain by a GAN generator (ONNX) from seed ',
            toString(seed),
            '.","attributes":[{"trait_type":"seed","value":"',
            toString(seed),
            '"},{"trait_type":"ink","value":',
            toString(ink * 100 / (255 * SIDE * SIDE)),
            '}],"image":"data:image/svg+xml;base64,',
            base64(svg(pixels)),
            '"}'
        );
        return string.concat("data:application/json;base64,", string(base64(json)));
    }

    /// @notice `data` in standard base64 (RFC 4648, with `=` padding).
    /// @dev Three bytes at a time: each step loads the word whose last three bytes are the
    ///      next input bytes (reading up to two bytes past the end, which the padding then
    ///      overwrites) and writes four characters.
    /// @param data The bytes.
    /// @return out Their base64 text.
    function base64(bytes memory data) internal pure returns (bytes memory out) {
        uint256 n = data.length;
        out = new bytes(4 * ((n + 2) / 3));
        if (n == 0) return out;
        bytes memory table = BASE64;
        assembly ("memory-safe") {
            let lookup := add(table, 1)
            let o := add(out, 0x20)
            let d := data
            let end := add(data, n)
            for {} lt(d, end) {} {
                d := add(d, 3)
                let chunk := mload(d)
                mstore8(o, mload(add(lookup, and(shr(18, chunk), 0x3f))))
                mstore8(add(o, 1), mload(add(lookup, and(shr(12, chunk), 0x3f))))
                mstore8(add(o, 2), mload(add(lookup, and(shr(6, chunk), 0x3f))))
                mstore8(add(o, 3), mload(add(lookup, and(chunk, 0x3f))))
                o := add(o, 4)
            }
            switch mod(n, 3)
            case 1 {
                mstore8(sub(o, 1), 0x3d)
                mstore8(sub(o, 2), 0x3d)
            }
            case 2 { mstore8(sub(o, 1), 0x3d) }
        }
    }

    /// @notice `value` in decimal.
    /// @param value The number.
    /// @return Its digits.
    function toString(uint256 value) internal pure returns (string memory) {
        if (value == 0) return "0";
        uint256 digits = 0;
        for (uint256 v = value; v != 0; v /= 10) {
            digits++;
        }
        bytes memory out = new bytes(digits);
        for (uint256 v = value; v != 0; v /= 10) {
            out[--digits] = bytes1(uint8(48 + (v % 10)));
        }
        return string(out);
    }

    /// @dev Copies `src` into `dst` from byte `at`.
    function _copy(bytes memory dst, uint256 at, bytes memory src) private pure {
        require(at + src.length <= dst.length, "GanRender: copy past the end");
        assembly ("memory-safe") {
            mcopy(add(add(dst, 0x20), at), add(src, 0x20), mload(src))
        }
    }
}
