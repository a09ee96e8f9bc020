//! A DAO treasury that trades with a policy network it trains on chain.
//!
//! Deploys two tokens (`DevToken`: a stable `tUSD` and a risky `tRISK`), two identical
//! constant-product pools (`TraderPool`, 0.05 % fee, 100 M tUSD / 1 M tRISK), a market
//! (`TraderMarket`) that moves both pools to the same price, and two `DaoTreasury`s funded
//! with 10 000 tUSD, each with a trading book of 10 000 tUSD: one follows a policy network (a
//! 4-16-3 MLP classifier uploaded and registered here) and trains it after every episode, the
//! other acts uniformly at random (the baseline, on the same price path).
//!
//! The price follows a simulated process the policy can learn: its returns between decisions
//! are an AR(1) process with coefficient −0.6 and a standard deviation of 2 % (a market that
//! over-reacts and takes back part of every move), so a drop tends to be followed by a rise.
//! Each step, the market moves both pools to the next price, then each treasury `decide`s:
//! the contract observes its pool, runs the policy on the last three returns and its risky
//! position, samples one of three target positions (0 %, 50 %, 100 % of the book in tRISK)
//! from the softmax of the logits and rebalances. After [`EPISODE_STEPS`] decisions,
//! `endEpisode` realises the rewards (value changes between decisions) and the learning
//! treasury trains its policy with one `train` call (weighted cross-entropy, the advantages
//! as sample weights). The demo prints each episode's return for both treasuries and the gas
//! used, and draws the reward curves.

use crate::{
    charts::{Legend, LineChart, Series, Style},
    common::{Devnet, Result, Rng},
};
use alloy::{
    network::TransactionBuilder,
    primitives::{Address, B256, U256},
    providers::Provider,
    rpc::types::{TransactionReceipt, TransactionRequest},
    sol,
    sol_types::{SolCall, SolEvent, SolValue},
};
use anh_primitives::abi::TrainParams;
use std::path::Path;

sol! {
    /// `contracts/src/DevToken.sol`, as far as the demo calls it.
    interface ITraderToken {
        function mint(address to, uint256 amount) external;
        function approve(address spender, uint256 amount) external returns (bool);
    }

    /// `contracts/src/examples/dao/TraderPool.sol`.
    interface ITraderPool {
        function addLiquidity(uint256 amountStable, uint256 amountRisky) external;
        function price() external view returns (uint256);
    }

    /// `contracts/src/examples/dao/TraderMarket.sol`.
    interface ITraderMarket {
        function moveTo(address[] calldata pools, uint256 targetPrice) external;
    }

    /// `contracts/src/examples/dao/DaoTreasury.sol`.
    interface IDaoTreasury {
        event Decided(
            uint256 indexed episode, uint256 step, uint8 action, int64[4] features, uint256 value, uint256 price
        );
        event EpisodeEnded(uint256 indexed episode, uint256 steps, uint256 startValue, uint256 endValue, int256 reward);
        event PolicyTrained(uint256 indexed episode, bytes32 parent, bytes32 model, int256 loss);
        event TrainingSkipped(uint256 indexed episode, bytes reason);

        function decide() external returns (uint8 action);
        function endEpisode() external returns (int256 reward);
        function model() external view returns (bytes32);
    }
}

/// Decisions per episode (the batch of each training step).
pub const EPISODE_STEPS: usize = 32;
/// The AR(1) coefficient of the price's returns (negative: moves are partly taken back).
pub const RETURN_AR: f64 = -0.6;
/// The standard deviation of the price's returns between decisions.
pub const RETURN_SD: f64 = 0.02;
/// The training step after each episode: 8 SGD steps at learning rate 0.3 on weighted
/// cross-entropy.
pub const TRAIN_PARAMS: TrainParams =
    TrainParams { steps: 8, learningRate: 3 * 10u64.pow(17), loss: 3, optimizer: 1 };
/// How much the policy's mean episode return over the last episodes must exceed the random
/// treasury's over the same episodes, in percentage points.
pub const MARGIN_PCT: f64 = 4.0;

/// Episodes in the reward curve's running mean.
const SMOOTHING: usize = 5;

const TOKEN: u128 = 1_000_000_000_000_000_000;
const POOL_STABLE: u128 = 100_000_000;
const POOL_RISKY: u128 = 1_000_000;
const TREASURY_STABLE: u128 = 10_000;
const POOL_FEE_BPS: u64 = 5;
const POLICY_SEED: u64 = 11;
const PRICE_SEED: u64 = 2024;
const SAMPLING_SEED: u64 = 7;

/// Gas used by the demo's transactions (means over the run).
#[derive(Debug, Clone, Copy, Default)]
pub struct Gas {
    /// A learning treasury's `decide` (policy inference, sampling, a swap).
    pub decide_policy: u64,
    /// The random treasury's `decide` (no inference).
    pub decide_random: u64,
    /// A learning treasury's `endEpisode` that trained the policy (one `train` call).
    pub train: u64,
    /// The random treasury's `endEpisode` (settlement only).
    pub end_random: u64,
    /// The market's `moveTo` on both pools.
    pub market_move: u64,
}

/// What the demo did.
#[derive(Debug, Clone)]
pub struct Report {
    /// The learning treasury's return per episode: its value change in % of the book.
    pub policy: Vec<f64>,
    /// The random treasury's return per episode on the same price path, in % of the book.
    pub random: Vec<f64>,
    /// The number of last episodes compared.
    pub last: usize,
    /// Episodes whose training step the committee settled.
    pub trained: usize,
    /// Episodes whose training step was refused or skipped (the policy was kept).
    pub skipped: usize,
    /// Gas of the main transactions.
    pub gas: Gas,
    /// The policy at the end.
    pub model: B256,
}

impl Report {
    /// The mean of the last `self.last` values of `series`.
    fn tail_mean(&self, series: &[f64]) -> f64 {
        let tail = &series[series.len().saturating_sub(self.last)..];
        tail.iter().sum::<f64>() / tail.len().max(1) as f64
    }

    /// The policy's mean return over the last episodes, in %.
    pub fn policy_last(&self) -> f64 {
        self.tail_mean(&self.policy)
    }

    /// The random treasury's mean return over the same episodes, in %.
    pub fn random_last(&self) -> f64 {
        self.tail_mean(&self.random)
    }

    /// Whether the policy beat the random baseline by [`MARGIN_PCT`] over the last episodes.
    pub fn beats_random(&self) -> bool {
        self.policy_last() > self.random_last() + MARGIN_PCT
    }
}

/// The contracts of one run.
struct Deployment {
    pools: [Address; 2],
    market: Address,
    policy: Address,
    random: Address,
}

/// Deploys tokens, pools, market and both treasuries, with the policy `model`.
async fn deploy(devnet: &Devnet, model: B256) -> Result<Deployment> {
    let amount = |n: u128| U256::from(n) * U256::from(TOKEN);
    // No initial supply: the demo mints what each account needs.
    let token = |name: &str, symbol: &str| {
        (name.to_string(), symbol.to_string(), U256::ZERO).abi_encode_params()
    };
    let stable = devnet.deploy("DevToken", &token("Treasury USD", "tUSD")).await?;
    let risky = devnet.deploy("DevToken", &token("Trader Risk", "tRISK")).await?;
    let mint = |to: Address, n: u128| ITraderToken::mintCall { to, amount: amount(n) }.abi_encode();
    let approve =
        |spender: Address| ITraderToken::approveCall { spender, amount: U256::MAX }.abi_encode();
    let mut pools = [Address::ZERO; 2];
    for pool in &mut pools {
        let args = (stable, risky, U256::from(POOL_FEE_BPS)).abi_encode_params();
        *pool = devnet.deploy("TraderPool", &args).await?;
        devnet.send(stable, mint(devnet.account, POOL_STABLE)).await?;
        devnet.send(risky, mint(devnet.account, POOL_RISKY)).await?;
        devnet.send(stable, approve(*pool)).await?;
        devnet.send(risky, approve(*pool)).await?;
        let add = ITraderPool::addLiquidityCall {
            amountStable: amount(POOL_STABLE),
            amountRisky: amount(POOL_RISKY),
        };
        devnet.send(*pool, add.abi_encode()).await?;
    }
    let market = devnet.deploy("TraderMarket", &[]).await?;
    devnet.send(stable, mint(market, 100 * POOL_STABLE)).await?;
    devnet.send(risky, mint(market, 100 * POOL_RISKY)).await?;
    let treasury = |pool: Address, model: B256, seed: u64| {
        (pool, model, U256::from(seed), amount(TREASURY_STABLE), TRAIN_PARAMS).abi_encode_params()
    };
    let policy = devnet.deploy("DaoTreasury", &treasury(pools[0], model, SAMPLING_SEED)).await?;
    let random =
        devnet.deploy("DaoTreasury", &treasury(pools[1], B256::ZERO, SAMPLING_SEED + 1)).await?;
    devnet.send(stable, mint(policy, TREASURY_STABLE)).await?;
    devnet.send(stable, mint(random, TREASURY_STABLE)).await?;
    Ok(Deployment { pools, market, policy, random })
}

/// The first log of `E` that `receipt` carries.
fn event<E: SolEvent>(receipt: &TransactionReceipt) -> Option<E> {
    receipt.inner.logs().iter().find_map(|log| E::decode_log_data(log.data()).ok())
}

/// The price process: returns between decisions follow `r' = a·r + s·√(1−a²)·ε`.
#[derive(Debug)]
struct PricePath {
    rng: Rng,
    price: f64,
    ret: f64,
}

impl PricePath {
    fn next(&mut self) -> U256 {
        let noise = RETURN_SD * (1.0 - RETURN_AR * RETURN_AR).sqrt() * self.rng.normal();
        self.ret = (RETURN_AR * self.ret + noise).clamp(-0.2, 0.2);
        self.price *= 1.0 + self.ret;
        U256::from((self.price * 1e12) as u128) * U256::from(1_000_000u64)
    }
}

/// A running mean.
#[derive(Debug, Default)]
struct Mean(u64, u64);

impl Mean {
    fn add(&mut self, gas: u64) {
        (self.0, self.1) = (self.0 + gas, self.1 + 1);
    }

    fn get(&self) -> u64 {
        self.0 / self.1.max(1)
    }
}

/// Runs `episodes` episodes of [`EPISODE_STEPS`] decisions for the learning and the random
/// treasury on the same price path and writes `reward-curve.svg` into `out`.
pub async fn run(devnet: &Devnet, out: &Path, episodes: usize) -> Result<Report> {
    let bytes = anh_runtime::synth::classifier(4, &[16], 3, POLICY_SEED);
    let model = devnet.upload_model(&bytes, "dao-policy").await?;
    let d = deploy(devnet, model).await?;
    println!(
        "policy {model}\npools {} {}  treasuries: policy {}  random {}",
        d.pools[0], d.pools[1], d.policy, d.random
    );
    let mut path = PricePath { rng: Rng::new(PRICE_SEED), price: 100.0, ret: 0.0 };
    let move_call = |price: U256| {
        ITraderMarket::moveToCall { pools: d.pools.to_vec(), targetPrice: price }.abi_encode()
    };
    let (mut decide_policy, mut decide_random, mut train, mut end_random, mut market_move) =
        (Mean::default(), Mean::default(), Mean::default(), Mean::default(), Mean::default());
    let (mut policy, mut random) = (Vec::new(), Vec::new());
    let (mut trained, mut skipped) = (0, 0);
    let decide = IDaoTreasury::decideCall {}.abi_encode();
    let end = IDaoTreasury::endEpisodeCall {}.abi_encode();
    for episode in 0..episodes {
        let mut actions = [0usize; 3];
        for _ in 0..EPISODE_STEPS {
            market_move.add(devnet.send(d.market, move_call(path.next())).await?.gas_used);
            let receipt = devnet.send(d.policy, decide.clone()).await?;
            decide_policy.add(receipt.gas_used);
            let decided: IDaoTreasury::Decided = event(&receipt).ok_or("no Decided event")?;
            actions[usize::from(decided.action).min(2)] += 1;
            decide_random.add(devnet.send(d.random, decide.clone()).await?.gas_used);
        }
        market_move.add(devnet.send(d.market, move_call(path.next())).await?.gas_used);
        let receipt = devnet.send(d.policy, end.clone()).await?;
        let ended: IDaoTreasury::EpisodeEnded = event(&receipt).ok_or("no EpisodeEnded event")?;
        let outcome = if let Some(t) = event::<IDaoTreasury::PolicyTrained>(&receipt) {
            trained += 1;
            train.add(receipt.gas_used);
            format!("trained, loss {:+.4}", i128::try_from(t.loss)? as f64 / 1e18)
        } else {
            skipped += 1;
            let s: Option<IDaoTreasury::TrainingSkipped> = event(&receipt);
            format!("training skipped: {}", s.map(|s| s.reason.to_string()).unwrap_or_default())
        };
        let baseline = devnet.send(d.random, end.clone()).await?;
        end_random.add(baseline.gas_used);
        let rand: IDaoTreasury::EpisodeEnded = event(&baseline).ok_or("no EpisodeEnded event")?;
        let pct = |e: &IDaoTreasury::EpisodeEnded| -> Result<f64> {
            let reward = i128::try_from(e.reward)? as f64;
            Ok(100.0 * reward / (TREASURY_STABLE * TOKEN) as f64)
        };
        let (p, r) = (pct(&ended)?, pct(&rand)?);
        println!(
            "episode {:>3}  policy {p:+7.2} %  random {r:+7.2} %  actions 0%/50%/100% {:>2}/{:>2}/{:>2}  {outcome}",
            episode + 1,
            actions[0],
            actions[1],
            actions[2],
        );
        policy.push(p);
        random.push(r);
    }
    let out_model = {
        let call = IDaoTreasury::modelCall {}.abi_encode();
        let tx = TransactionRequest::default().with_to(d.policy).with_input(call);
        let raw = devnet.provider.call(tx).await?;
        IDaoTreasury::modelCall::abi_decode_returns(&raw)?
    };
    let gas = Gas {
        decide_policy: decide_policy.get(),
        decide_random: decide_random.get(),
        train: train.get(),
        end_random: end_random.get(),
        market_move: market_move.get(),
    };
    let report = Report {
        last: (episodes / 4).max(5).min(episodes),
        policy,
        random,
        trained,
        skipped,
        gas,
        model: out_model,
    };
    let path = out.join("reward-curve.svg");
    let smooth = |v: &[f64]| -> Vec<f64> {
        (0..v.len())
            .map(|i| {
                let w = &v[i.saturating_sub(SMOOTHING - 1)..=i];
                w.iter().sum::<f64>() / w.len() as f64
            })
            .collect()
    };
    let mean = format!("mean of the last {SMOOTHING} episodes");
    LineChart {
        title: "DAO treasuries: a policy trained on chain vs random trading".into(),
        x_label: format!("episode ({EPISODE_STEPS} decisions, then a training step)"),
        y_label: format!("return in the episode (% of the {TREASURY_STABLE} tUSD book)"),
        series: vec![
            Series::level("break-even", [120, 120, 120], 0.0, 1.0, episodes as f64),
            Series::numbered(
                "random treasury, each episode",
                [160, 195, 235],
                Style::Line(1),
                &report.random,
            ),
            Series::numbered(
                "policy treasury, each episode",
                [240, 170, 170],
                Style::Line(1),
                &report.policy,
            ),
            Series::numbered(
                &format!("random treasury, {mean}"),
                [30, 80, 200],
                Style::Line(3),
                &smooth(&report.random),
            ),
            Series::numbered(
                &format!("policy treasury, {mean}"),
                [200, 30, 30],
                Style::Line(3),
                &smooth(&report.policy),
            ),
        ],
        legend: Legend::UpperLeft,
        y_from_zero: false,
    }
    .save(&path)?;
    println!("wrote {}", path.display());
    Ok(report)
}
