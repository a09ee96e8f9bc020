// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {Tensor} from "../../dnn/IDnn.sol";
import {Dnn} from "../../dnn/Dnn.sol";
import {TensorLib} from "../../dnn/TensorLib.sol";

/// @title CharGpt
/// @notice A character-level language model that lives on chain. Anyone adds text to its
///         corpus (`write`); anyone pays to train the model on windows of the corpus
///         (`trainOn`: next-token cross-entropy and Adam through the `train` precompile, settled
///         by the executor committee, the new model replacing the old); anyone reads what it
///         writes (`generate`, greedy, one `infer` per character; `sample`, seeded sampling at a
///         temperature, whose text a transaction records with `write`-like permanence).
/// @dev The model is a GPT-style ONNX export: int64 `tokens [batch, seq]` to float32
///      `logits [batch, seq, vocab]`, causal, with a position table of `context` rows. Its
///      vocabulary is `ALPHABET`: token `i` is `ALPHABET[i]`; capitals are read as lower case.
contract CharGpt {
    using TensorLib for Tensor;

    /// @notice The characters the model reads and writes, in token order.
    bytes public constant ALPHABET = " abcdefghijklmnopqrstuvwxyz.,;'!?-";
    /// @notice Most characters one `write` adds.
    uint256 public constant MAX_WRITE = 512;
    /// @notice Most characters the corpus holds.
    uint256 public constant MAX_CORPUS = 16_384;
    /// @notice Most characters one `generate` or `sample` writes.
    uint256 public constant MAX_GENERATE = 64;
    /// @notice Most windows one `trainOn` batch holds.
    uint256 public constant MAX_ROWS = 32;
    /// @notice Decimals of the logits `sample` reads (`inferAs` to fixed-point).
    uint8 internal constant DECIMALS = 6;
    /// @notice One, in those decimals.
    int256 internal constant ONE = 1e6;

    /// @notice The model now (each `trainOn` replaces it with the model it trained).
    bytes32 public model;
    /// @notice Tokens the model reads at most (its position table's rows).
    uint256 public immutable context;
    /// @notice The text submitted so far.
    bytes public corpus;
    /// @notice `trainOn` transactions so far.
    uint256 public trainings;
    /// @notice The loss the last `trainOn` reported (fixed-point ×1e18).
    int256 public lastLoss;

    /// @notice `author` added `length` characters at `offset` of the corpus.
    event Written(address indexed author, uint256 offset, uint256 length);
    /// @notice The model `parent` was trained into `model` on the windows from `offset`; `loss`
    ///         is the new model's loss on that batch (×1e18).
    event Trained(bytes32 indexed parent, bytes32 indexed model, int256 loss, uint256 offset);
    /// @notice `by` sampled `text` (prompt included) with `seed`.
    event Sampled(address indexed by, uint256 seed, string text);

    /// @param model_ The model (registered, its vocabulary `ALPHABET.length`).
    /// @param context_ Its position table's rows.
    constructor(bytes32 model_, uint256 context_) {
        require(Dnn.isRegistered(model_), "CharGpt: the model is not registered");
        require(context_ >= 2, "CharGpt: the context must be at least 2 tokens");
        model = model_;
        context = context_;
    }

    /// @notice Adds `text` to the corpus.
    /// @param text 1 to `MAX_WRITE` characters of `ALPHABET` (capitals count as lower case).
    function write(string calldata text) external {
        bytes memory b = bytes(text);
        require(b.length >= 1 && b.length <= MAX_WRITE, "CharGpt: write 1 to 512 characters");
        require(corpus.length + b.length <= MAX_CORPUS, "CharGpt: the corpus is full");
        for (uint256 i = 0; i < b.length; i++) {
            b[i] = ALPHABET[tokenOf(b[i], i)];
        }
        emit Written(msg.sender, corpus.length, b.length);
        corpus = bytes.concat(corpus, b);
    }

    /// @notice Trains the model on `rows` windows of `seq` characters of the corpus, from
    ///         `offset` every `stride` characters, each labelled with its next characters.
    /// @param offset Where the first window starts.
    /// @param rows Windows in the batch, 1 to `MAX_ROWS`.
    /// @param seq Characters per window, 1 to the context.
    /// @param stride Characters between window starts.
    /// @param steps Adam steps on the batch.
    /// @param learningRate Fixed-point ×1e18.
    /// @return loss The new model's loss on the batch (×1e18).
    function trainOn(uint256 offset, uint256 rows, uint256 seq, uint256 stride, uint32 steps, uint64 learningRate)
        external
        returns (int256 loss)
    {
        require(rows >= 1 && rows <= MAX_ROWS, "CharGpt: 1 to 32 windows");
        require(seq >= 1 && seq <= context, "CharGpt: a window holds 1 to context characters");
        // Bounded first, so that the sum cannot overflow.
        require(
            offset < MAX_CORPUS && stride < MAX_CORPUS && seq < MAX_CORPUS
                && offset + (rows - 1) * stride + seq < corpus.length,
            "CharGpt: the windows run past the corpus"
        );
        bytes32 parent = model;
        bytes32 next;
        (next, loss) = Dnn.train(
            parent, _windows(offset, rows, seq, stride), Dnn.trainParams(steps, learningRate, Dnn.CROSS_ENTROPY, Dnn.ADAM)
        );
        model = next;
        lastLoss = loss;
        trainings += 1;
        emit Trained(parent, next, loss, offset);
    }

    /// @notice `prompt` continued by `length` characters, each the model's most likely next
    ///         one (greedy decoding; the model reads the last `context` characters).
    /// @param prompt At least one character of `ALPHABET`.
    /// @param length Characters to add, at most `MAX_GENERATE`.
    /// @return The prompt and its continuation.
    function generate(string calldata prompt, uint256 length) public view returns (string memory) {
        bytes memory text = _start(prompt, length);
        for (uint256 k = 0; k < length; k++) {
            (Tensor memory logits, uint256 last) = _logits(text, Dnn.FLOAT32);
            text = bytes.concat(text, ALPHABET[logits.argmaxRow(last)]);
        }
        return string(text);
    }

    /// @notice `prompt` continued by `length` characters drawn from the model's next-character
    ///         distribution at `temperature`, with randomness from `seed` (the same seed gives
    ///         the same text). The softmax is computed in Solidity on fixed-point logits.
    /// @param prompt At least one character of `ALPHABET`.
    /// @param length Characters to add, at most `MAX_GENERATE`.
    /// @param seed The randomness.
    /// @param temperature Fixed-point ×1e6, above 0 (1e6: the model's own distribution; lower
    ///        is more conservative).
    /// @return The prompt and its continuation.
    function sampleView(string calldata prompt, uint256 length, uint256 seed, uint256 temperature)
        public
        view
        returns (string memory)
    {
        require(temperature >= 1e4 && temperature <= 1e7, "CharGpt: temperature 0.01 to 10 (x 1e6)");
        bytes memory text = _start(prompt, length);
        for (uint256 k = 0; k < length; k++) {
            (Tensor memory logits, uint256 last) = _logits(text, Dnn.FIXED + DECIMALS);
            uint256 vocab = ALPHABET.length;
            uint256[] memory weights = new uint256[](vocab);
            int256 top = type(int256).min;
            for (uint256 i = 0; i < vocab; i++) {
                int256 l = logits.getInt(last * vocab + i);
                if (l > top) top = l;
            }
            uint256 total = 0;
            for (uint256 i = 0; i < vocab; i++) {
                int256 d = ((logits.getInt(last * vocab + i) - top) * ONE) / int256(temperature);
                weights[i] = _expNeg(d);
                total += weights[i];
            }
            uint256 draw = uint256(keccak256(abi.encode(seed, k))) % total;
            uint256 pick = 0;
            while (draw >= weights[pick]) {
                draw -= weights[pick];
                pick += 1;
            }
            text = bytes.concat(text, ALPHABET[pick]);
        }
        return string(text);
    }

    /// @notice `sampleView`, recorded: the committee settles each inference and the text is
    ///         emitted in `Sampled`.
    /// @return text The prompt and its continuation.
    function sample(string calldata prompt, uint256 length, uint256 seed, uint256 temperature)
        external
        returns (string memory text)
    {
        text = sampleView(prompt, length, seed, temperature);
        emit Sampled(msg.sender, seed, text);
    }

    /// @notice The characters the corpus holds.
    function corpusLength() external view returns (uint256) {
        return corpus.length;
    }

    /// @notice The token of character `c` (position `at`, for the message); reverts on a
    ///         character outside `ALPHABET`.
    function tokenOf(bytes1 c, uint256 at) public pure returns (uint256) {
        uint8 v = uint8(c);
        if (v >= 0x41 && v <= 0x5a) v += 0x20; // capitals as lower case
        if (v == 0x20) return 0;
        if (v >= 0x61 && v <= 0x7a) return v - 0x60;
        bytes memory alphabet = ALPHABET;
        for (uint256 i = 27; i < alphabet.length; i++) {
            if (uint8(alphabet[i]) == v) return i;
        }
        revert(
            string.concat(
                "CharGpt: character ", _hex(uint8(c)), " at ", _decimal(at), " is not in the alphabet"
            )
        );
    }

    /// @dev The batch of `trainOn`: the windows' tokens, and their next characters' as labels.
    function _windows(uint256 offset, uint256 rows, uint256 seq, uint256 stride)
        private
        view
        returns (Tensor[] memory batch)
    {
        int256[] memory x = new int256[](rows * seq);
        int256[] memory y = new int256[](rows * seq);
        bytes memory text = corpus;
        for (uint256 r = 0; r < rows; r++) {
            uint256 start = offset + r * stride;
            for (uint256 t = 0; t < seq; t++) {
                x[r * seq + t] = int256(tokenOf(text[start + t], start + t));
                y[r * seq + t] = int256(tokenOf(text[start + t + 1], start + t + 1));
            }
        }
        batch = new Tensor[](2);
        uint64[] memory shape = TensorLib.shape(uint64(rows), uint64(seq));
        batch[0] = TensorLib.fromInt64(x, shape);
        batch[1] = TensorLib.fromInt64(y, shape);
    }

    /// @dev The prompt as lower-case alphabet characters, after checking the lengths.
    function _start(string calldata prompt, uint256 length) private pure returns (bytes memory text) {
        text = bytes(prompt);
        require(text.length >= 1, "CharGpt: the prompt is empty");
        require(length <= MAX_GENERATE, "CharGpt: at most 64 characters at once");
        for (uint256 i = 0; i < text.length; i++) {
            text[i] = ALPHABET[tokenOf(text[i], i)];
        }
    }

    /// @dev The model's logits on the last `context` characters of `text`, as `dtype`, and the
    ///      row of the last position.
    function _logits(bytes memory text, uint8 dtype) private view returns (Tensor memory logits, uint256 last) {
        uint256 n = text.length < context ? text.length : context;
        uint256 from = text.length - n;
        int256[] memory ids = new int256[](n);
        for (uint256 i = 0; i < n; i++) {
            ids[i] = int256(tokenOf(text[from + i], from + i));
        }
        Tensor memory tokens = TensorLib.fromInt64(ids, TensorLib.shape(1, uint64(n)));
        logits = Dnn.inferAs(model, tokens, dtype)[0];
        require(logits.numel() == n * ALPHABET.length, "CharGpt: the model's vocabulary is not the alphabet");
        last = n - 1;
    }

    /// @dev `e^(d / 1e6) × 1e6` for `d ≤ 0`, within a few units of 1e-6 (absolute):
    ///      `e^d = 2^-k · e^r` with `r` in (−ln 2, 0], `e^r` by its Taylor series to the 8th
    ///      power; below e^-40 it is 0.
    function _expNeg(int256 d) private pure returns (uint256) {
        if (d < -40 * ONE) return 0;
        int256 ln2 = 693_147;
        int256 k = -d / ln2;
        int256 r = d + k * ln2;
        int256 term = ONE;
        int256 sum = ONE;
        for (int256 i = 1; i <= 8; i++) {
            term = (term * r) / (ONE * i);
            sum += term;
        }
        return uint256(sum) >> uint256(k);
    }

    function _hex(uint8 v) private pure returns (string memory) {
        bytes memory digits = "0123456789abcdef";
        return string(abi.encodePacked("0x", digits[v >> 4], digits[v & 15]));
    }

    function _decimal(uint256 v) private pure returns (string memory) {
        if (v == 0) return "0";
        bytes memory out;
        while (v > 0) {
            out = abi.encodePacked(bytes1(uint8(48 + (v % 10))), out);
            v /= 10;
        }
        return string(out);
    }
}
