// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {Tensor, TrainParams} from "../../dnn/IDnn.sol";
import {Dnn} from "../../dnn/Dnn.sol";
import {TensorLib} from "../../dnn/TensorLib.sol";
import {DaoMath} from "./DaoMath.sol";
import {TraderPool} from "./TraderPool.sol";
import {DevToken} from "../../DevToken.sol";

/// @title DaoTreasury
/// @notice A DAO treasury that trades between a stable and a risky token on a `TraderPool`
///         with a policy network it trains on chain (REINFORCE: policy gradient through the
///         training precompile's weighted cross-entropy).
///
///         Each `decide` observes the pool price, builds the state (the last three returns of
///         the price between decisions, scaled ×50 so a 2 % move reads 1.0, and the risky
///         position as a share of the trading book), runs the policy (a classifier whose
///         three logits are the actions), samples an action from the softmax with the
///         treasury's seed, and rebalances to the action's target position: 0 %, 50 % or
///         100 % of the book in the risky token. The book is the fixed capital governance
///         lets the trader use, so the problem does not change as profits accumulate (and the
///         treasury's trades stay small next to the pool). The reward of a decision is the realised change in
///         the treasury's value (in stable tokens, at the pool price) until the next decision.
///
///         `endEpisode` settles the last reward and trains the policy on the episode's batch
///         (states, actions as class labels, advantages as sample weights: each reward minus
///         the episode's mean, divided by their standard deviation, clipped to ±2). The new
///         weights become the policy. A treasury deployed with model 0 acts uniformly at random
///         and never trains: the baseline the learned policy is measured against.
/// @dev A training step the committee refuses (e.g. `TrainingFailed` when a step would raise
///      the batch's loss, or `NoQuorum`) is caught: the treasury keeps its policy, counts the
///      skip and emits `TrainingSkipped` with the revert data, so an episode always settles.
contract DaoTreasury {
    using TensorLib for Tensor;

    /// @notice State features per decision: three returns and the risky allocation.
    uint256 public constant FEATURES = 4;
    /// @notice Actions: target risky allocation 0 %, 50 %, 100 %.
    uint256 public constant ACTIONS = 3;
    /// @notice The most decisions in one episode.
    uint256 public constant MAX_STEPS = 64;
    /// @notice Decimals of the fixed-point features, logits and sample weights.
    uint8 public constant DECIMALS = 6;
    /// @notice A return feature is the return × this (a 2 % move reads 1.0).
    int256 public constant RETURN_SCALE = 50;
    /// @notice Return features are clipped to ±5.0.
    int256 public constant FEATURE_CLIP = 5e6;
    /// @notice Advantages (sample weights) are clipped to ±2.0.
    int256 public constant ADVANTAGE_CLIP = 2e6;
    /// @notice Trades smaller than 1/DUST_DIVISOR of the book are skipped.
    uint256 public constant DUST_DIVISOR = 1000;
    /// @notice The worst price a rebalance accepts, in basis points below the pool's price.
    uint256 public constant MAX_SLIPPAGE_BPS = 200;

    /// @notice One decision of the current episode.
    struct Step {
        int64[4] features;
        uint8 action;
        uint192 valueBefore;
    }

    /// @notice The DAO's executor: the only account that decides, ends episodes and tunes.
    address public immutable governor;
    /// @notice The pool the treasury trades on.
    TraderPool public immutable pool;
    /// @notice The pool's stable token (the unit of value and reward).
    DevToken public immutable stable;
    /// @notice The pool's risky token.
    DevToken public immutable risky;
    /// @notice Whether the treasury follows (and trains) a policy network; false: random actions.
    bool public immutable learns;
    /// @notice Seed of the action sampling.
    uint256 public immutable seed;
    /// @notice The trading book: the stable value the largest position (action 2) holds.
    uint256 public immutable book;

    /// @notice The current policy network (replaced by every training step).
    bytes32 public model;
    /// @notice How `endEpisode` trains.
    TrainParams public trainParams;
    /// @notice Episodes ended so far (the current episode's number).
    uint256 public episode;
    /// @notice Decisions in the current episode.
    uint256 public stepCount;
    /// @notice Training steps the committee refused (the policy was kept).
    uint256 public trainingsSkipped;
    /// @notice The treasury's value when the current episode's first decision was made.
    uint256 public episodeStartValue;
    /// @notice The pool price at the last observation, ×1e18.
    uint256 public lastPrice;
    /// @notice The last three return features, most recent first (fixed-point, 6 decimals).
    int64[3] public recentReturns;

    Step[MAX_STEPS] private steps;

    /// @notice A decision: the state the policy saw, the action it took, the value before.
    event Decided(
        uint256 indexed episode, uint256 step, uint8 action, int64[4] features, uint256 value, uint256 price
    );
    /// @notice An episode settled: `reward` is `endValue - startValue`, in stable tokens.
    event EpisodeEnded(uint256 indexed episode, uint256 steps, uint256 startValue, uint256 endValue, int256 reward);
    /// @notice The policy was trained on the episode: `model` replaces `parent`.
    event PolicyTrained(uint256 indexed episode, bytes32 parent, bytes32 model, int256 loss);
    /// @notice The training step was refused or not attempted; the policy is unchanged.
    event TrainingSkipped(uint256 indexed episode, bytes reason);

    modifier onlyGovernor() {
        require(msg.sender == governor, "DaoTreasury: only the governor");
        _;
    }

    /// @param pool_ The pool to trade on.
    /// @param model_ The initial policy (a registered classifier: `x` [batch, 4] →
    ///        `logits` [batch, 3]), or 0 for the random baseline.
    /// @param seed_ Seed of the action sampling.
    /// @param book_ The trading book, in stable tokens (fund the treasury with at least this).
    /// @param params_ How to train (loss must be weighted cross-entropy).
    constructor(TraderPool pool_, bytes32 model_, uint256 seed_, uint256 book_, TrainParams memory params_) {
        require(book_ > 0, "DaoTreasury: the book must be positive");
        require(params_.loss == Dnn.WEIGHTED_CROSS_ENTROPY, "DaoTreasury: policy gradient needs loss 3");
        governor = msg.sender;
        pool = pool_;
        stable = pool_.stable();
        risky = pool_.risky();
        learns = model_ != bytes32(0);
        model = model_;
        seed = seed_;
        book = book_;
        trainParams = params_;
        stable.approve(address(pool_), type(uint256).max);
        risky.approve(address(pool_), type(uint256).max);
    }

    /// @notice Changes how `endEpisode` trains (a governance decision).
    /// @param params_ Steps, learning rate, loss (must be 3) and optimizer.
    function setTrainParams(TrainParams calldata params_) external onlyGovernor {
        require(params_.loss == Dnn.WEIGHTED_CROSS_ENTROPY, "DaoTreasury: policy gradient needs loss 3");
        trainParams = params_;
    }

    /// @notice The treasury's value in stable tokens at the pool price `price` (×1e18).
    /// @param price The price of the risky token.
    /// @return Stable balance plus risky balance × price.
    function valueAt(uint256 price) public view returns (uint256) {
        return stable.balanceOf(address(this)) + risky.balanceOf(address(this)) * price / 1e18;
    }

    /// @notice The treasury's value in stable tokens at the pool's current price.
    /// @return The value.
    function value() external view returns (uint256) {
        return valueAt(pool.price());
    }

    /// @notice Observes the pool, picks an action with the policy (or at random for the
    ///         baseline), records the decision and rebalances to its target allocation.
    /// @return action The action: 0, 1, 2 for a 0 %, 50 %, 100 % risky allocation.
    function decide() external onlyGovernor returns (uint8 action) {
        require(stepCount < MAX_STEPS, "DaoTreasury: the episode is full: call endEpisode");
        uint256 price = _observe();
        uint256 v = valueAt(price);
        require(v > 0, "DaoTreasury: the treasury is empty: fund it first");
        if (stepCount == 0) episodeStartValue = v;
        int64[4] memory x = _features(price);
        action = learns ? _sample(x) : uint8(_random() % ACTIONS);
        steps[stepCount] = Step({features: x, action: action, valueBefore: uint192(v)});
        emit Decided(episode, stepCount, action, x, v, price);
        stepCount += 1;
        _rebalance(price, action);
    }

    /// @notice Settles the episode: the last decision's reward at the current price, the
    ///         episode's reward, and (for a learning treasury) one training step of the policy
    ///         on the episode's decisions.
    /// @return reward The episode's value change, in stable tokens.
    function endEpisode() external onlyGovernor returns (int256 reward) {
        uint256 n = stepCount;
        require(n >= 2, "DaoTreasury: an episode needs at least two decisions");
        uint256 endValue = valueAt(_observe());
        reward = int256(endValue) - int256(episodeStartValue);
        emit EpisodeEnded(episode, n, episodeStartValue, endValue, reward);
        if (learns) _learn(n, endValue);
        episode += 1;
        stepCount = 0;
    }

    /// @notice The decisions of the current episode so far.
    /// @return features Their states; actions Their actions; values The values before each.
    function currentEpisode()
        external
        view
        returns (int64[4][] memory features, uint8[] memory actions, uint256[] memory values)
    {
        uint256 n = stepCount;
        features = new int64[4][](n);
        actions = new uint8[](n);
        values = new uint256[](n);
        for (uint256 i = 0; i < n; i++) {
            Step storage s = steps[i];
            (features[i], actions[i], values[i]) = (s.features, s.action, s.valueBefore);
        }
    }

    /// @dev Reads the pool price and shifts its return since the last observation into
    ///      `recentReturns`.
    function _observe() private returns (uint256 price) {
        price = pool.price();
        uint256 last = lastPrice;
        if (last != 0) {
            int256 ret = (int256(price) - int256(last)) * RETURN_SCALE * 1e6 / int256(last);
            if (ret > FEATURE_CLIP) ret = FEATURE_CLIP;
            if (ret < -FEATURE_CLIP) ret = -FEATURE_CLIP;
            recentReturns[2] = recentReturns[1];
            recentReturns[1] = recentReturns[0];
            recentReturns[0] = int64(ret);
        }
        lastPrice = price;
    }

    /// @dev The state: the three recent return features and the risky position as a share
    ///      of the book (capped at 2.0).
    function _features(uint256 price) private view returns (int64[4] memory x) {
        (x[0], x[1], x[2]) = (recentReturns[0], recentReturns[1], recentReturns[2]);
        uint256 position = risky.balanceOf(address(this)) * price / 1e18 * 1e6 / book;
        x[3] = int64(int256(position > 2e6 ? 2e6 : position));
    }

    /// @dev A uniform pseudo-random word for this treasury, episode and step.
    function _random() private view returns (uint256) {
        return uint256(keccak256(abi.encode(seed, episode, stepCount)));
    }

    /// @dev Runs the policy on `x` and samples an action from the softmax of its logits.
    function _sample(int64[4] memory x) private view returns (uint8) {
        int256[] memory values = new int256[](FEATURES);
        for (uint256 i = 0; i < FEATURES; i++) {
            values[i] = x[i];
        }
        Tensor memory input = TensorLib.fromFixed(values, TensorLib.shape(1, uint64(FEATURES)), DECIMALS);
        int256[] memory logits = Dnn.inferAs(model, input, Dnn.FIXED + DECIMALS)[0].toInts();
        require(logits.length == ACTIONS, "DaoTreasury: the policy must output 3 logits");
        int256 top = logits[0];
        for (uint256 a = 1; a < ACTIONS; a++) {
            if (logits[a] > top) top = logits[a];
        }
        // Unnormalised softmax weights, ×1e18: e^(logit - max).
        uint256[] memory weights = new uint256[](ACTIONS);
        uint256 total = 0;
        for (uint256 a = 0; a < ACTIONS; a++) {
            weights[a] = uint256(DaoMath.expNeg((logits[a] - top) * 1e12));
            total += weights[a];
        }
        uint256 u = _random() % total;
        for (uint256 a = 0; a < ACTIONS; a++) {
            if (u < weights[a]) return uint8(a);
            u -= weights[a];
        }
        return uint8(ACTIONS - 1);
    }

    /// @dev Trades toward `action`'s target position (a share of the book) at `price`.
    function _rebalance(uint256 price, uint8 action) private {
        uint256 target = book * action / (ACTIONS - 1);
        uint256 held = risky.balanceOf(address(this)) * price / 1e18;
        uint256 dust = book / DUST_DIVISOR;
        if (target > held + dust) {
            uint256 spend = target - held;
            uint256 cash = stable.balanceOf(address(this));
            if (spend > cash) spend = cash;
            if (spend == 0) return;
            uint256 fair = spend * 1e18 / price;
            pool.swap(true, spend, fair * (10_000 - MAX_SLIPPAGE_BPS) / 10_000);
        } else if (held > target + dust) {
            uint256 sell = (held - target) * 1e18 / price;
            uint256 balance = risky.balanceOf(address(this));
            if (sell > balance) sell = balance;
            if (sell == 0) return;
            uint256 fair = sell * price / 1e18;
            pool.swap(false, sell, fair * (10_000 - MAX_SLIPPAGE_BPS) / 10_000);
        }
    }

    /// @dev One policy-gradient step on the episode's `n` decisions, the last one's reward
    ///      measured against `endValue`.
    function _learn(uint256 n, uint256 endValue) private {
        int256[] memory advantages = _advantages(n, endValue);
        if (advantages.length == 0) {
            trainingsSkipped += 1;
            emit TrainingSkipped(episode, bytes("DaoTreasury: every reward was the same, nothing to learn"));
            return;
        }
        Tensor[] memory batch = _batch(n, advantages);
        bytes32 parent = model;
        try Dnn.TRAIN.train(parent, batch, trainParams) returns (bytes32 next, int256 loss) {
            model = next;
            emit PolicyTrained(episode, parent, next, loss);
        } catch (bytes memory reason) {
            trainingsSkipped += 1;
            emit TrainingSkipped(episode, reason);
        }
    }

    /// @dev Each decision's reward minus the episode's mean, over their standard deviation,
    ///      clipped, fixed-point 6 decimals; empty when the deviation is 0.
    function _advantages(uint256 n, uint256 endValue) private view returns (int256[] memory adv) {
        int256[] memory rewards = new int256[](n);
        int256 sum = 0;
        for (uint256 i = 0; i < n; i++) {
            uint256 next = i + 1 < n ? steps[i + 1].valueBefore : endValue;
            rewards[i] = int256(next) - int256(uint256(steps[i].valueBefore));
            sum += rewards[i];
        }
        int256 mean = sum / int256(n);
        uint256 squares = 0;
        for (uint256 i = 0; i < n; i++) {
            int256 d = rewards[i] - mean;
            squares += uint256(d * d);
        }
        int256 std = int256(DaoMath.sqrt(squares / n));
        if (std == 0) return adv;
        adv = new int256[](n);
        for (uint256 i = 0; i < n; i++) {
            int256 a = (rewards[i] - mean) * 1e6 / std;
            if (a > ADVANTAGE_CLIP) a = ADVANTAGE_CLIP;
            if (a < -ADVANTAGE_CLIP) a = -ADVANTAGE_CLIP;
            adv[i] = a;
        }
    }

    /// @dev The training batch: states [n, 4], actions [n] as labels, advantages [n] as weights.
    function _batch(uint256 n, int256[] memory advantages) private view returns (Tensor[] memory batch) {
        int256[] memory x = new int256[](n * FEATURES);
        int256[] memory actions = new int256[](n);
        for (uint256 i = 0; i < n; i++) {
            Step storage s = steps[i];
            for (uint256 j = 0; j < FEATURES; j++) {
                x[i * FEATURES + j] = s.features[j];
            }
            actions[i] = int256(uint256(s.action));
        }
        batch = new Tensor[](3);
        batch[0] = TensorLib.fromFixed(x, TensorLib.shape(uint64(n), uint64(FEATURES)), DECIMALS);
        batch[1] = TensorLib.fromInt64(actions, TensorLib.shape(uint64(n)));
        batch[2] = TensorLib.fromFixed(advantages, TensorLib.shape(uint64(n)), DECIMALS);
    }
}
