//! A flash-loan guard: an anomaly detector, trained on chain, that blocks a price manipulation.
//!
//! Deploys two tokens (`DevToken`: `gETH` and `gUSD`), a constant-product pool
//! (`GuardedPool`, 1 000 gETH / 2 000 000 gUSD) and a lender (`FlashLender`) that offers flash
//! loans and lends gUSD against gETH collateral valued at the pool's spot price — the oracle
//! a flash-loan attack manipulates. `PriceAttacker` runs that attack (flash-borrow 4 M gUSD,
//! pump gETH in the pool, borrow against over-valued collateral, swap back, repay); a dry run
//! (`eth_call`) shows it profitable while the pool has no detector.
//!
//! The detector is an 8-16-2 MLP classifier (`anh_runtime::synth::classifier`) trained on
//! chain with `train` transactions on data this module generates by simulating the pool
//! ([`Market`]): ordinary trading (trades of 0.01–4 % of the reserves, mostly one per block)
//! against manipulations (flash-loan-sized swaps of 25–400 % of the reserves, possibly split
//! into several swaps in one transaction, and the swap back). Each sample is the window the
//! pool builds before a swap ([`Market::window`], the same formula as
//! `GuardedPool._window`). Once the pool points to the trained model (`setDetector`), every
//! swap runs it through the inference precompile, settled by the committee under the arg-max
//! rule: ordinary trades and an honest flash loan (`LeverageLooper`) pass, the attack reverts
//! `ManipulationDetected(score, window)`, and its inference job is still in the block's
//! attestations.

use crate::common::{Devnet, Result, Rng, f32_tensor, f32_values, i64_tensor};
use alloy::{
    network::TransactionBuilder,
    primitives::{Address, B256, U256},
    providers::Provider,
    rpc::types::{TransactionReceipt, TransactionRequest},
    sol,
    sol_types::{SolCall, SolError, SolEvent, SolValue},
};
use anh_precompiles::infer;
use anh_primitives::abi::{IInfer, TrainParams};
use serde_json::{Value, json};
use std::path::Path;

sol! {
    /// `contracts/src/DevToken.sol`, as far as the demo calls it.
    interface IGuardToken {
        function mint(address to, uint256 value) external;
        function approve(address spender, uint256 value) external returns (bool);
    }

    /// `contracts/src/examples/flashloan/GuardedPool.sol`.
    interface IGuardedPool {
        event Swap(
            address indexed sender,
            address indexed tokenIn,
            uint256 amountIn,
            uint256 amountOut,
            uint256 price,
            int256 score
        );
        error ManipulationDetected(uint256 score, int256[] window);

        function addLiquidity(uint256 amount0, uint256 amount1) external;
        function setDetector(bytes32 model) external;
        function swap(address tokenIn, uint256 amountIn, uint256 minOut, address to)
            external returns (uint256 amountOut);
        function spotPrice() external view returns (uint256);
        function reserve0() external view returns (uint256);
        function reserve1() external view returns (uint256);
        function features(address tokenIn, uint256 amountIn) external view returns (int256[] memory);
    }

    /// `contracts/src/examples/flashloan/PriceAttacker.sol`.
    interface IPriceAttacker {
        function attack(uint256 loan, uint256 collateral) external returns (uint256 profit);
    }

    /// `contracts/src/examples/flashloan/LeverageLooper.sol`.
    interface ILeverageLooper {
        event Opened(uint256 loan, uint256 bought, uint256 collateral, uint256 debt);
        function open(uint256 loan) external;
    }
}

/// Values in the detector's input window.
pub const FEATURES: usize = 8;
/// Prices the pool keeps for the window (`GuardedPool.OBSERVATIONS`).
pub const OBSERVATIONS: usize = 6;
/// The squashing scale of the window's values (`GuardedPool.SCALE`, 5 %).
pub const SCALE: f64 = 0.05;
/// The detector's class of a manipulation.
pub const MANIPULATION: i64 = 1;
/// `train` transactions that train the detector.
pub const TRAIN_ROUNDS: usize = 6;
/// Samples per `train` transaction (half ordinary trades, half manipulations).
pub const BATCH: usize = 128;
/// Each `train` transaction: 100 SGD steps at learning rate 0.5 on cross-entropy.
pub const TRAIN_PARAMS: TrainParams =
    TrainParams { steps: 100, learningRate: 5 * 10u64.pow(17), loss: 2, optimizer: 1 };
/// The pool's opening reserves: 1 000 gETH and 2 000 000 gUSD (a price of 2 000).
pub const POOL_LIQUIDITY: (u64, u64) = (1_000, 2_000_000);
/// The attack: a flash loan of 4 000 000 gUSD (twice the pool's gUSD) and 100 gETH pledged.
pub const ATTACK: (u64, u64) = (4_000_000, 100);
/// The honest flash loan (`LeverageLooper.open`): 30 000 gUSD, 1.5 % of the pool's gUSD.
pub const LEVERAGE_LOAN: u64 = 30_000;
/// Ordinary swaps the demo sends once the detector is set.
pub const HONEST_TRADES: usize = 6;

/// The pool as the generator simulates it: reserves, recorded prices and the block's
/// opening price, updated like `GuardedPool` updates them (in floating point).
#[derive(Debug, Clone)]
pub struct Market {
    /// Reserve of the asset (token 0).
    pub reserve0: f64,
    /// Reserve of the stable (token 1).
    pub reserve1: f64,
    prices: [f64; OBSERVATIONS],
    newest: usize,
    block: u64,
    open_block: u64,
    open_price: f64,
}

impl Market {
    /// A pool opened with these reserves; its history is the opening price.
    pub fn new(reserve0: f64, reserve1: f64) -> Self {
        let price = reserve1 / reserve0;
        Self {
            reserve0,
            reserve1,
            prices: [price; OBSERVATIONS],
            newest: 0,
            block: 1,
            open_block: 0,
            open_price: price,
        }
    }

    /// The reserves (in, out) of a swap paying in the asset (`asset_in`) or the stable.
    fn reserves(&self, asset_in: bool) -> (f64, f64) {
        if asset_in { (self.reserve0, self.reserve1) } else { (self.reserve1, self.reserve0) }
    }

    /// The output of swapping `amount_in`, fee (0.3 %) included.
    pub fn quote(&self, asset_in: bool, amount_in: f64) -> f64 {
        let (reserve_in, reserve_out) = self.reserves(asset_in);
        amount_in * 0.997 * reserve_out / (reserve_in + amount_in * 0.997)
    }

    fn after(&self, asset_in: bool, amount_in: f64) -> (f64, f64) {
        let out = self.quote(asset_in, amount_in);
        if asset_in {
            (self.reserve0 + amount_in, self.reserve1 - out)
        } else {
            (self.reserve0 - out, self.reserve1 + amount_in)
        }
    }

    /// The detector's input for this swap, as `GuardedPool._window` computes it: the changes
    /// between the recorded prices (oldest first), the change the swap causes, the change
    /// from the block's opening price, the swap's share of the input reserve; each squashed
    /// by x / (5 % + |x|) and truncated to 6 decimals.
    pub fn window(&self, asset_in: bool, amount_in: f64) -> [f32; FEATURES] {
        let (new0, new1) = self.after(asset_in, amount_in);
        let price = new1 / new0;
        let change = |a: f64, b: f64| ((b - a) / a * 1e6).trunc() / 1e6;
        let squash = |x: f64| (x / (SCALE + x.abs()) * 1e6).trunc() / 1e6;
        let mut f = [0f32; FEATURES];
        let oldest = (self.newest + 1) % OBSERVATIONS;
        for k in 1..OBSERVATIONS {
            let before = self.prices[(oldest + k - 1) % OBSERVATIONS];
            let next = self.prices[(oldest + k) % OBSERVATIONS];
            f[k - 1] = squash(change(before, next)) as f32;
        }
        let last = self.prices[self.newest];
        let open = if self.block == self.open_block { self.open_price } else { last };
        f[5] = squash(change(last, price)) as f32;
        f[6] = squash(change(open, price)) as f32;
        f[7] = squash(amount_in / self.reserves(asset_in).0) as f32;
        f
    }

    /// Swaps `amount_in` and records the new price; returns the output.
    pub fn swap(&mut self, asset_in: bool, amount_in: f64) -> f64 {
        let out = self.quote(asset_in, amount_in);
        (self.reserve0, self.reserve1) = self.after(asset_in, amount_in);
        if self.block != self.open_block {
            self.open_block = self.block;
            self.open_price = self.prices[self.newest];
        }
        self.newest = (self.newest + 1) % OBSERVATIONS;
        self.prices[self.newest] = self.reserve1 / self.reserve0;
        out
    }

    /// Moves on to the next block.
    pub fn next_block(&mut self) {
        self.block += 1;
    }
}

/// The size of an ordinary trade as a share of the input reserve: log-normal around 0.5 %,
/// within 0.01–4 %.
pub fn honest_size(rng: &mut Rng) -> f64 {
    (0.005 * (0.9 * rng.normal()).exp()).clamp(0.0001, 0.04)
}

/// One step of ordinary trading: usually a new block, a trade of [`honest_size`] in a random
/// direction. Returns the trade's window (before it is applied).
fn honest_step(market: &mut Market, rng: &mut Rng) -> [f32; FEATURES] {
    if rng.uniform() < 0.8 {
        market.next_block();
    }
    let asset_in = rng.uniform() < 0.5;
    let amount = honest_size(rng) * market.reserves(asset_in).0;
    let window = market.window(asset_in, amount);
    market.swap(asset_in, amount);
    window
}

/// A manipulation from `market`'s state, in a new block: swaps worth 25–400 % of the input
/// reserve, split into 1–3 swaps, then the swap back; returns the window of one of them.
fn manipulation(market: &Market, rng: &mut Rng) -> [f32; FEATURES] {
    let mut m = market.clone();
    m.next_block();
    let asset_in = rng.uniform() < 0.5;
    let total = (0.25f64.ln() + rng.uniform() * (16f64).ln()).exp() * m.reserves(asset_in).0;
    let pieces = 1 + rng.below(3);
    let mut windows = Vec::new();
    let mut bought = 0.0;
    for _ in 0..pieces {
        let amount = total / pieces as f64;
        windows.push(m.window(asset_in, amount));
        bought += m.swap(asset_in, amount);
    }
    windows.push(m.window(!asset_in, bought));
    windows[rng.below(windows.len() as u64) as usize]
}

/// `n` labelled windows, half ordinary trades (class 0) and half manipulations (class 1),
/// interleaved, from a market that trades ordinarily all along.
pub fn dataset(market: &mut Market, rng: &mut Rng, n: usize) -> (Vec<f32>, Vec<i64>) {
    let (mut x, mut y) = (Vec::with_capacity(n * FEATURES), Vec::with_capacity(n));
    for i in 0..n {
        if i % 2 == 0 {
            x.extend(honest_step(market, rng));
            y.push(0);
        } else {
            x.extend(manipulation(market, rng));
            y.push(MANIPULATION);
        }
    }
    (x, y)
}

/// An ordinary swap the demo sent through the guarded pool.
#[derive(Debug, Clone)]
pub struct Trade {
    /// Whether gETH was paid in (else gUSD).
    pub asset_in: bool,
    /// Its share of the input reserve.
    pub size: f64,
    /// The detector's manipulation logit minus its normal logit (negative: ordinary).
    pub score: f64,
    /// Gas used.
    pub gas: u64,
    /// Its block.
    pub block: u64,
}

/// The attack, once the detector guards the pool.
#[derive(Debug, Clone)]
pub struct Blocked {
    /// Whether the transaction reverted.
    pub reverted: bool,
    /// Whether its revert was `ManipulationDetected`.
    pub detected: bool,
    /// The revert as the node words it (`execution reverted: custom error 0x…`).
    pub reason: String,
    /// The detector's score from the revert (6 decimals, as a number).
    pub score: f64,
    /// The window the detector saw, from the revert.
    pub window: Vec<f64>,
    /// Gas used by the reverted transaction.
    pub gas: u64,
    /// Its block.
    pub block: u64,
}

/// What the demo did.
#[derive(Debug, Clone)]
pub struct Report {
    /// The trained detector.
    pub detector: B256,
    /// The loss after each `train` transaction.
    pub losses: Vec<f64>,
    /// Gas of each `train` transaction.
    pub train_gas: Vec<u64>,
    /// The detector's accuracy on fresh generated windows (1 024, half manipulations), run
    /// through the inference precompile.
    pub holdout_accuracy: f64,
    /// The gUSD the attack makes while the pool has no detector (a dry run), its pledged
    /// collateral at the fair price deducted.
    pub unguarded_profit: f64,
    /// The ordinary swaps, all of which went through.
    pub trades: Vec<Trade>,
    /// Gas of the honest flash loan (`LeverageLooper.open`), which went through.
    pub leverage_gas: u64,
    /// The detector's score on the honest flash loan's swap.
    pub leverage_score: f64,
    /// The attack with the detector set.
    pub attack: Blocked,
    /// The attack's window as [`Market`] computes it, replaying the demo's swaps: the
    /// generator's features must be the contract's (within rounding).
    pub simulated_window: Vec<f64>,
    /// Gas the detector adds to a swap (`eth_estimateGas` of the same swap before and after
    /// `setDetector`).
    pub guard_overhead: i64,
    /// Single gUSD-in swaps of a share of the reserve, dry-run once the detector is set: the
    /// share and whether the detector flagged it.
    pub boundary: Vec<(f64, bool)>,
    /// The logits the committee attested for the blocked attack (normal, manipulation).
    pub attested_logits: Vec<f32>,
    /// The attack block's inference job, as `anh_getAttestations` lists it.
    pub attack_attestation: Value,
    /// The last ordinary swap's inference job, as `anh_getAttestations` lists it.
    pub trade_attestation: Value,
}

/// `n` whole tokens (18 decimals).
fn tokens(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18))
}

/// A token amount (18 decimals) as a number of tokens.
fn amount(value: U256) -> f64 {
    f64::from(value) / 1e18
}

/// A 6-decimal fixed-point value as a number.
fn fixed(value: alloy::primitives::I256) -> f64 {
    value.as_i64() as f64 / 1e6
}

/// `eth_call` of `data` on `to`; its return data, or the revert data (`Err`) when it reverts.
async fn call(devnet: &Devnet, to: Address, data: Vec<u8>) -> Result<Result<Vec<u8>, Vec<u8>>> {
    let tx = TransactionRequest::default().with_from(devnet.account).with_to(to).with_input(data);
    match devnet.provider.call(tx).await {
        Ok(out) => Ok(Ok(out.to_vec())),
        Err(e) => match e.as_error_resp().and_then(|p| p.as_revert_data()) {
            Some(data) => Ok(Err(data.to_vec())),
            None => Err(e.into()),
        },
    }
}

/// `eth_estimateGas` of `data` on `to`.
async fn estimate(devnet: &Devnet, to: Address, data: Vec<u8>) -> Result<u64> {
    let tx = TransactionRequest::default().with_from(devnet.account).with_to(to).with_input(data);
    Ok(devnet.provider.estimate_gas(tx).await?)
}

/// A view's return data (failing if it reverts).
async fn view(devnet: &Devnet, to: Address, data: Vec<u8>) -> Result<Vec<u8>> {
    call(devnet, to, data)
        .await?
        .map_err(|revert| format!("call to {to} reverted: 0x{}", alloy::hex::encode(revert)).into())
}

/// The inference job of `model` in `block`, as `anh_getAttestations` lists it.
async fn attestation(devnet: &Devnet, block: u64, model: B256) -> Result<Value> {
    let request = json!({
        "jsonrpc": "2.0", "id": 1, "method": "anh_getAttestations", "params": [format!("{block:#x}")]
    });
    let reply: Value =
        reqwest::Client::new().post(&devnet.url).json(&request).send().await?.json().await?;
    let jobs = reply["result"].as_array().ok_or_else(|| format!("anh_getAttestations: {reply}"))?;
    jobs.iter()
        .find(|j| j["kind"] == "infer" && j["model"] == json!(model))
        .cloned()
        .ok_or_else(|| format!("block {block} has no inference job of {model}: {reply}").into())
}

/// The `score` of the pool's `Swap` events in `receipt` (the last one).
fn swap_score(receipt: &TransactionReceipt, pool: Address) -> Result<f64> {
    let log = receipt
        .inner
        .logs()
        .iter()
        .rev()
        .find(|l| l.address() == pool && l.topic0() == Some(&IGuardedPool::Swap::SIGNATURE_HASH))
        .ok_or("no Swap event")?;
    Ok(fixed(IGuardedPool::Swap::decode_log_data(log.data())?.score))
}

/// Trains the detector with [`TRAIN_ROUNDS`] `train` transactions; returns the model, the
/// losses and the gas.
async fn train_detector(devnet: &Devnet, rng: &mut Rng) -> Result<(B256, Vec<f64>, Vec<u64>)> {
    let bytes = anh_runtime::synth::classifier(FEATURES as i64, &[16], 2, 11);
    let mut model = devnet.upload_model(&bytes, "flashloan-detector").await?;
    let mut market = Market::new(1_000.0, 2_000_000.0);
    let (mut losses, mut gas) = (Vec::new(), Vec::new());
    for round in 0..TRAIN_ROUNDS {
        let (x, y) = dataset(&mut market, rng, BATCH);
        let batch =
            vec![f32_tensor(&[BATCH as u64, FEATURES as u64], &x), i64_tensor(&[BATCH as u64], &y)];
        let (receipt, next, loss) = devnet.train(model, batch, TRAIN_PARAMS).await?;
        println!(
            "train tx {:>2}  block {:>3}  gas {:>9}  loss {loss:.4}  model {}",
            round + 1,
            receipt.block_number.unwrap_or_default(),
            receipt.gas_used,
            next
        );
        losses.push(loss);
        gas.push(receipt.gas_used);
        model = next;
    }
    Ok((model, losses, gas))
}

/// The detector's accuracy on `n` fresh windows, run with `eth_call` on the inference
/// precompile.
async fn holdout_accuracy(devnet: &Devnet, model: B256, rng: &mut Rng, n: usize) -> Result<f64> {
    let (x, y) = dataset(&mut Market::new(1_000.0, 2_000_000.0), rng, n);
    let inputs = vec![f32_tensor(&[n as u64, FEATURES as u64], &x)];
    let out =
        view(devnet, infer::ADDRESS, IInfer::inferCall { model, inputs }.abi_encode()).await?;
    let outputs = IInfer::inferCall::abi_decode_returns(&out)?;
    let logits = f32_values(outputs.first().ok_or("no output")?);
    let right = logits
        .chunks_exact(2)
        .zip(&y)
        .filter(|(l, label)| i64::from(l[1] > l[0]) == **label)
        .count();
    Ok(right as f64 / n as f64)
}

/// Runs the demo: deploys, seeds liquidity, dry-runs the attack, trains the detector, sends
/// ordinary trades, an honest flash loan and the attack. `out` receives `last-run.json` (the
/// figures and both attestations).
pub async fn run(devnet: &Devnet, out: &Path) -> Result<Report> {
    let me = devnet.account;
    let mut rng = Rng::new(2024);

    // Tokens, pool, lender and the two flash borrowers.
    // No initial supply: the demo mints what each account needs.
    let name = |n: &str, s: &str| (n.to_string(), s.to_string(), U256::ZERO).abi_encode_params();
    let geth = devnet.deploy("DevToken", &name("Guard Ether", "gETH")).await?;
    let gusd = devnet.deploy("DevToken", &name("Guard USD", "gUSD")).await?;
    let pool = devnet.deploy("GuardedPool", &(geth, gusd).abi_encode_params()).await?;
    let lender = devnet.deploy("FlashLender", &pool.abi_encode()).await?;
    let attacker = devnet.deploy("PriceAttacker", &lender.abi_encode()).await?;
    let looper = devnet.deploy("LeverageLooper", &lender.abi_encode()).await?;
    println!("gETH {geth}\ngUSD {gusd}\npool {pool}\nlender {lender}");

    let mint = |token: Address, to: Address, n: u64| async move {
        devnet.send(token, IGuardToken::mintCall { to, value: tokens(n) }.abi_encode()).await
    };
    let (liquidity0, liquidity1) = POOL_LIQUIDITY;
    mint(geth, me, liquidity0 + 100).await?;
    mint(gusd, me, liquidity1 + 200_000).await?;
    mint(gusd, lender, 10_000_000).await?;
    mint(geth, lender, 1_000).await?;
    mint(geth, attacker, ATTACK.1).await?;
    mint(geth, looper, 10).await?;
    for token in [geth, gusd] {
        let approve = IGuardToken::approveCall { spender: pool, value: U256::MAX };
        devnet.send(token, approve.abi_encode()).await?;
    }
    let seed =
        IGuardedPool::addLiquidityCall { amount0: tokens(liquidity0), amount1: tokens(liquidity1) };
    devnet.send(pool, seed.abi_encode()).await?;
    println!("pool seeded: {liquidity0} gETH / {liquidity1} gUSD (price 2000)");

    // The attack works while nothing guards the pool.
    let attack =
        IPriceAttacker::attackCall { loan: tokens(ATTACK.0), collateral: tokens(ATTACK.1) };
    let gain = match call(devnet, attacker, attack.abi_encode()).await? {
        Ok(out) => amount(IPriceAttacker::attackCall::abi_decode_returns(&out)?),
        Err(revert) => {
            return Err(
                format!("the unguarded attack reverted: 0x{}", alloy::hex::encode(revert)).into()
            );
        }
    };
    let unguarded_profit = gain - ATTACK.1 as f64 * 2_000.0;
    println!(
        "unguarded dry run: the attack nets {unguarded_profit:.0} gUSD ({gain:.0} gUSD kept, {} gETH pledged)",
        ATTACK.1
    );

    // Train the detector on chain and point the pool to it.
    let (detector, losses, train_gas) = train_detector(devnet, &mut rng).await?;
    let holdout_accuracy = holdout_accuracy(devnet, detector, &mut rng, 1024).await?;
    println!("detector {detector}: {:.1} % right on 1024 fresh windows", holdout_accuracy * 100.0);
    let probe = IGuardedPool::swapCall {
        tokenIn: gusd,
        amountIn: tokens(liquidity1 / 100),
        minOut: U256::ZERO,
        to: me,
    };
    let unguarded_gas = estimate(devnet, pool, probe.abi_encode()).await?;
    devnet.send(pool, IGuardedPool::setDetectorCall { model: detector }.abi_encode()).await?;
    let guard_overhead =
        estimate(devnet, pool, probe.abi_encode()).await? as i64 - unguarded_gas as i64;
    println!(
        "the pool's detector is set: a swap of 1 % of the gUSD reserve now costs {guard_overhead} more gas"
    );

    // Ordinary trades pass. `mirror` replays them, to check the generator against the pool.
    let mut mirror = Market::new(liquidity0 as f64, liquidity1 as f64);
    let mut trades = Vec::new();
    for i in 0..HONEST_TRADES {
        let asset_in = i % 2 == 1;
        let reserve = if asset_in {
            IGuardedPool::reserve0Call {}.abi_encode()
        } else {
            IGuardedPool::reserve1Call {}.abi_encode()
        };
        let reserve = U256::abi_decode(&view(devnet, pool, reserve).await?)?;
        let size = honest_size(&mut rng);
        let amount_in = reserve * U256::from((size * 1e6) as u64) / U256::from(1_000_000u64);
        let token_in = if asset_in { geth } else { gusd };
        let swap = IGuardedPool::swapCall {
            tokenIn: token_in,
            amountIn: amount_in,
            minOut: U256::ZERO,
            to: me,
        };
        let receipt = devnet.send(pool, swap.abi_encode()).await?;
        let score = swap_score(&receipt, pool)?;
        mirror.next_block();
        mirror.swap(asset_in, amount(amount_in));
        let block = receipt.block_number.unwrap_or_default();
        println!(
            "trade {}: {:>9.3} {} in ({:.2} % of the reserve)  score {score:+.3}  gas {}  ok",
            i + 1,
            amount(amount_in),
            if asset_in { "gETH" } else { "gUSD" },
            size * 100.0,
            receipt.gas_used
        );
        trades.push(Trade { asset_in, size, score, gas: receipt.gas_used, block });
    }

    // An honest flash loan passes.
    let open = ILeverageLooper::openCall { loan: tokens(LEVERAGE_LOAN) };
    let receipt = devnet.send(looper, open.abi_encode()).await?;
    let leverage_score = swap_score(&receipt, pool)?;
    let leverage_gas = receipt.gas_used;
    mirror.next_block();
    mirror.swap(false, LEVERAGE_LOAN as f64);
    println!(
        "honest flash loan ({LEVERAGE_LOAN} gUSD leverage loop): score {leverage_score:+.3}  gas {leverage_gas}  ok"
    );

    // Where the detector draws the line for a single swap.
    let mut boundary = Vec::new();
    let reserve1 =
        U256::abi_decode(&view(devnet, pool, IGuardedPool::reserve1Call {}.abi_encode()).await?)?;
    for pct in [1u64, 2, 4, 6, 8, 10, 15, 20, 30, 50, 100] {
        let amount_in = reserve1 * U256::from(pct) / U256::from(100u64);
        let swap = IGuardedPool::swapCall {
            tokenIn: gusd,
            amountIn: amount_in,
            minOut: U256::ZERO,
            to: me,
        };
        let flagged = match call(devnet, pool, swap.abi_encode()).await? {
            Ok(_) => false,
            Err(revert) if IGuardedPool::ManipulationDetected::abi_decode(&revert).is_ok() => true,
            Err(revert) => {
                return Err(
                    format!("a {pct} % swap reverted: 0x{}", alloy::hex::encode(revert)).into()
                );
            }
        };
        boundary.push((pct as f64 / 100.0, flagged));
    }
    let line: Vec<String> = boundary
        .iter()
        .map(|(s, f)| format!("{:.0}%:{}", s * 100.0, if *f { "BLOCKED" } else { "ok" }))
        .collect();
    println!("single gUSD-in swap, share of the reserve (dry runs): {}", line.join(" "));

    // The attack is blocked.
    mirror.next_block();
    let simulated_window =
        mirror.window(false, ATTACK.0 as f64).iter().map(|v| f64::from(*v)).collect();
    let (reason, detected, score, window) =
        match call(devnet, attacker, attack.abi_encode()).await? {
            Ok(_) => ("the attack went through".to_string(), false, 0.0, Vec::new()),
            Err(revert) => match IGuardedPool::ManipulationDetected::abi_decode(&revert) {
                Ok(e) => (
                    format!("ManipulationDetected(score {}, window {:?})", e.score, e.window),
                    true,
                    f64::from(e.score) / 1e6,
                    e.window.iter().map(|v| fixed(*v)).collect(),
                ),
                Err(_) => (
                    format!("reverted otherwise: 0x{}", alloy::hex::encode(&revert)),
                    false,
                    0.0,
                    Vec::new(),
                ),
            },
        };
    let tx = TransactionRequest::default()
        .with_to(attacker)
        .with_input(attack.abi_encode())
        .with_gas_limit(25_000_000);
    let receipt = devnet.provider.send_transaction(tx).await?.get_receipt().await?;
    let block = receipt.block_number.unwrap_or_default();
    let attack = Blocked {
        reverted: !receipt.status(),
        detected,
        reason,
        score,
        window,
        gas: receipt.gas_used,
        block,
    };
    println!(
        "attack ({} gUSD flash loan, {} gETH pledged): {}  block {block}  gas {}  {}",
        ATTACK.0,
        ATTACK.1,
        if attack.reverted { "reverted" } else { "WENT THROUGH" },
        attack.gas,
        attack.reason
    );

    let attack_attestation = attestation(devnet, block, detector).await?;
    let output: alloy::primitives::Bytes =
        serde_json::from_value(attack_attestation["output"].clone())?;
    let attested = <Vec<anh_primitives::abi::Tensor>>::abi_decode(&output)?;
    let attested_logits = f32_values(attested.first().ok_or("the attested output is empty")?);
    println!(
        "the committee attested logits {attested_logits:?} (normal, manipulation) for the attack's window"
    );
    let last = trades.last().ok_or("no trades")?;
    let trade_attestation = attestation(devnet, last.block, detector).await?;
    println!(
        "attestation of the blocked attack's inference (block {block}):\n{}",
        serde_json::to_string_pretty(&attack_attestation)?
    );

    let report = Report {
        detector,
        losses,
        train_gas,
        holdout_accuracy,
        unguarded_profit,
        trades,
        leverage_gas,
        leverage_score,
        attack,
        simulated_window,
        guard_overhead,
        boundary,
        attested_logits,
        attack_attestation,
        trade_attestation,
    };
    let summary = json!({
        "detector": report.detector,
        "losses": report.losses,
        "trainGas": report.train_gas,
        "holdoutAccuracy": report.holdout_accuracy,
        "unguardedProfit": report.unguarded_profit,
        "trades": report.trades.iter().map(|t| json!({"gas": t.gas, "score": t.score, "size": t.size})).collect::<Vec<_>>(),
        "leverageGas": report.leverage_gas,
        "guardOverhead": report.guard_overhead,
        "boundary": report.boundary,
        "attestedLogits": report.attested_logits,
        "attack": {"reverted": report.attack.reverted, "detected": report.attack.detected, "gas": report.attack.gas, "score": report.attack.score, "window": report.attack.window},
        "attackAttestation": report.attack_attestation,
        "tradeAttestation": report.trade_attestation,
    });
    let path = out.join("last-run.json");
    std::fs::write(&path, serde_json::to_string_pretty(&summary)?)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(report)
}
