//! What every demo needs: a signing connection to the node, contract deployment from
//! `contracts/out`, model upload and registration, tensors, and a deterministic random number
//! generator. The figures, charts and images, are drawn by [`crate::charts`].

use alloy::sol_types::SolEvent;
use alloy::{
    network::{EthereumWallet, TransactionBuilder},
    primitives::{Address, B256, Bytes, keccak256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::{TransactionReceipt, TransactionRequest},
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
};
use anh_precompiles::{
    abi::{IModelRegistry, ITrain, Tensor, TrainParams},
    registry, train,
};
use std::path::Path;

/// A demo's failure, for people.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// A demo's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The dev accounts' private keys (the "test test … junk" mnemonic), as `anh node` and anvil
/// print them.
pub const DEV_KEYS: [&str; 4] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9ad8a4eeb6a1d",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
];

/// The URL of the node the demos talk to: `ANH_RPC_URL`, or `http://127.0.0.1:8545`.
pub fn rpc_url() -> String {
    std::env::var("ANH_RPC_URL").unwrap_or_else(|_| "http://127.0.0.1:8545".into())
}

/// A connection to a node, signing as one dev account.
#[derive(Debug, Clone)]
pub struct Devnet {
    /// The node's JSON-RPC URL.
    pub url: String,
    /// A provider that signs with the account's key.
    pub provider: DynProvider,
    /// The account.
    pub account: Address,
}

impl Devnet {
    /// Connects to `url` as dev account `index` (0–3).
    pub fn connect(url: &str, index: usize) -> Result<Self> {
        let signer: PrivateKeySigner = DEV_KEYS[index].parse()?;
        let account = signer.address();
        let provider = ProviderBuilder::new()
            .wallet(EthereumWallet::from(signer))
            .connect_http(url.parse()?)
            .erased();
        Ok(Self { url: url.to_string(), provider, account })
    }

    /// Sends a transaction to `to` with `data` and waits for its receipt (failing if it
    /// reverted, with the reason an `eth_call` replay gives).
    pub async fn send(&self, to: Address, data: Vec<u8>) -> Result<TransactionReceipt> {
        let tx = TransactionRequest::default()
            .with_to(to)
            .with_input(data.clone())
            .with_gas_limit(25_000_000);
        let receipt = self.provider.send_transaction(tx).await?.get_receipt().await?;
        if !receipt.status() {
            let replay = TransactionRequest::default().with_to(to).with_input(data);
            let reason = match self.provider.call(replay).await {
                Err(e) => e.to_string(),
                Ok(_) => "the replay as a call succeeded".into(),
            };
            return Err(
                format!("transaction {} reverted: {reason}", receipt.transaction_hash).into()
            );
        }
        Ok(receipt)
    }

    /// Sends a transaction that is expected to revert; returns its receipt and the revert
    /// reason an `eth_call` replay gives (before the transaction, at the latest block).
    pub async fn send_expecting_revert(
        &self,
        to: Address,
        data: Vec<u8>,
    ) -> Result<(TransactionReceipt, String)> {
        let replay = TransactionRequest::default().with_to(to).with_input(data.clone());
        let reason = match self.provider.call(replay).await {
            Err(e) => e.to_string(),
            Ok(_) => String::new(),
        };
        let tx =
            TransactionRequest::default().with_to(to).with_input(data).with_gas_limit(25_000_000);
        let receipt = self.provider.send_transaction(tx).await?.get_receipt().await?;
        Ok((receipt, reason))
    }

    /// Sends one `train` transaction (precompile `0x…0D02`) for `model` on `batch`; returns
    /// its receipt, the new model and the new weights' loss on the batch (from the
    /// `ModelTrained` event).
    pub async fn train(
        &self,
        model: B256,
        batch: Vec<Tensor>,
        params: TrainParams,
    ) -> Result<(TransactionReceipt, B256, f64)> {
        let call = ITrain::trainCall { model, batch, params };
        let receipt = self.send(train::ADDRESS, call.abi_encode()).await?;
        let log = receipt
            .inner
            .logs()
            .iter()
            .find(|l| l.address() == train::ADDRESS)
            .ok_or("the train transaction emitted no ModelTrained")?;
        let event = ITrain::ModelTrained::decode_log_data(log.data())?;
        let loss = i128::try_from(event.loss)? as f64 / 1e18;
        Ok((receipt, event.model, loss))
    }

    /// An `eth_call` of `call` on `to`, decoded.
    pub async fn view<C: SolCall>(&self, to: Address, call: C) -> Result<C::Return> {
        let tx = TransactionRequest::default().with_to(to).with_input(call.abi_encode());
        let out = self.provider.call(tx).await?;
        Ok(C::abi_decode_returns(&out)?)
    }

    /// The revert reason of an `eth_call` of `data` on `to`; an error if it does not revert.
    pub async fn revert_of(&self, to: Address, data: Vec<u8>) -> Result<String> {
        let tx = TransactionRequest::default().with_to(to).with_input(data);
        match self.provider.call(tx).await {
            Ok(_) => Err("the call did not revert".into()),
            Err(e) => Ok(e.to_string()),
        }
    }

    /// Deploys contract `name` from `contracts/out/<name>.json` with ABI-encoded constructor
    /// arguments `args`.
    pub async fn deploy(&self, name: &str, args: &[u8]) -> Result<Address> {
        let mut code = artifact_bytecode(name)?.to_vec();
        code.extend_from_slice(args);
        let tx = TransactionRequest::default().with_deploy_code(code).with_gas_limit(25_000_000);
        let receipt = self.provider.send_transaction(tx).await?.get_receipt().await?;
        if !receipt.status() {
            return Err(format!("deploying {name} reverted").into());
        }
        receipt.contract_address.ok_or_else(|| format!("deploying {name}: no address").into())
    }

    /// Uploads an ONNX model to the node's store (`anh_putModel`) and registers it under
    /// `name`; returns its hash.
    pub async fn upload_model(&self, bytes: &[u8], name: &str) -> Result<B256> {
        let model = keccak256(bytes);
        let request = serde_json::json!({
            "jsonrpc": "2.0", "id": 1, "method": "anh_putModel", "params": [Bytes::from(bytes.to_vec())]
        });
        let reply: serde_json::Value =
            reqwest::Client::new().post(&self.url).json(&request).send().await?.json().await?;
        if reply["result"] != serde_json::json!(model) {
            return Err(format!("anh_putModel: {reply}").into());
        }
        let registered = {
            let call = anh_precompiles::abi::IModelInfo::isRegisteredCall { model }.abi_encode();
            let tx = TransactionRequest::default()
                .with_to(anh_precompiles::info::ADDRESS)
                .with_input(call);
            let out = self.provider.call(tx).await?;
            anh_precompiles::abi::IModelInfo::isRegisteredCall::abi_decode_returns(&out)?
        };
        if !registered {
            let call = IModelRegistry::registerCall { model, name: name.into() }.abi_encode();
            self.send(registry::ADDRESS, call).await?;
        }
        Ok(model)
    }
}

/// The creation bytecode of `contracts/out/<name>.json`.
pub fn artifact_bytecode(name: &str) -> Result<Bytes> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts/out").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text)?;
    let code = json["bytecode"].as_str().ok_or("the artifact has no bytecode")?;
    Ok(code.parse()?)
}

/// A float32 tensor of `values` shaped `shape`.
pub fn f32_tensor(shape: &[u64], values: &[f32]) -> Tensor {
    Tensor {
        dtype: 1,
        shape: shape.to_vec(),
        data: values.iter().flat_map(|v| v.to_be_bytes()).collect::<Vec<u8>>().into(),
    }
}

/// An int64 tensor of `values` shaped `shape`.
pub fn i64_tensor(shape: &[u64], values: &[i64]) -> Tensor {
    Tensor {
        dtype: 4,
        shape: shape.to_vec(),
        data: values.iter().flat_map(|v| v.to_be_bytes()).collect::<Vec<u8>>().into(),
    }
}

/// The elements of a float32 tensor.
pub fn f32_values(t: &Tensor) -> Vec<f32> {
    t.data.chunks_exact(4).map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// A small deterministic random number generator (PCG-style LCG), so that demos and their
/// tests see the same data on every run.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407))
    }

    /// A uniform number in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A standard normal number (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-12), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    /// A uniform integer in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        (self.uniform() * n as f64) as u64 % n.max(1)
    }
}

/// The gas an example's README states in its gas table for the row whose first cell starts
/// with `row`: the first number of the row's second cell (`320 053`, `~331 000`), read with its
/// digit groups joined. The examples' tests hold their measured gas against it.
pub fn readme_gas(readme: &str, row: &str) -> Result<u64> {
    let line = readme
        .lines()
        .find(|l| l.strip_prefix("| ").is_some_and(|rest| rest.starts_with(row)))
        .ok_or_else(|| format!("the README has no gas row starting with {row:?}"))?;
    let cell = line.split('|').nth(2).ok_or_else(|| format!("no gas cell in {line:?}"))?;
    let digits: String = cell
        .trim()
        .trim_start_matches('~')
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ' ')
        .filter(char::is_ascii_digit)
        .collect();
    Ok(digits.parse().map_err(|e| format!("no number in {cell:?}: {e}"))?)
}

/// Whether `measured` gas is within 1 % of what the README's `row` states.
pub fn check_readme_gas(readme: &str, row: &str, measured: u64) -> Result<()> {
    let stated = readme_gas(readme, row)?;
    let off = measured.abs_diff(stated) as f64 / stated as f64;
    if off > 0.01 {
        return Err(format!(
            "the README says {stated} gas for {row:?}, the run used {measured} ({:.1} % off): \
             update the README",
            off * 100.0
        )
        .into());
    }
    Ok(())
}

/// The rows of `measured` (row, gas) that are not within 1 % of the README: every one of
/// them, so that one run shows all the figures to update.
pub fn readme_gas_off<'a>(
    readme: &str,
    measured: impl IntoIterator<Item = (&'a str, u64)>,
) -> Vec<String> {
    measured
        .into_iter()
        .filter_map(|(row, gas)| check_readme_gas(readme, row, gas).err())
        .map(|e| e.to_string())
        .collect()
}

#[cfg(test)]
mod readme_tests {
    use super::*;

    /// Rows are found by their first cell's start; grouped digits and a `~` read as a number.
    #[test]
    fn reads_gas_rows() {
        let readme = "| transaction | gas |\n|---|---|\n| guarded flash loan (`open`) | 320 053 |\n\
                      | `train` transaction (mean) | ~331 140 (100 steps) |\n";
        assert_eq!(readme_gas(readme, "guarded flash loan").unwrap(), 320_053);
        assert_eq!(readme_gas(readme, "`train` transaction").unwrap(), 331_140);
        assert!(readme_gas(readme, "missing").is_err());
        assert!(check_readme_gas(readme, "guarded flash loan", 322_000).is_ok());
        let e = check_readme_gas(readme, "guarded flash loan", 330_000).unwrap_err();
        assert!(e.to_string().contains("3.1 % off"), "{e}");
        let rows =
            [("guarded flash loan", 330_000), ("`train` transaction", 331_140), ("missing", 1)];
        let off = readme_gas_off(readme, rows);
        assert_eq!(off.len(), 2, "{off:?}");
        assert!(off[0].contains("3.1 % off") && off[1].contains("no gas row"), "{off:?}");
    }
}
