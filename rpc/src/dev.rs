//! Dev methods, with anvil's names (and Hardhat's aliases) and anvil's answers: snapshots,
//! mining control, time travel, state edits, impersonation, reset, state dumps.
//!
//! Differences from anvil, by design:
//! - `evm_setNextBlockTimestamp` must be after the latest block's timestamp (ANH's
//!   timestamps are strictly increasing; anvil allows equal ones).
//! - `anvil_mine` mines at most [`MAX_MINE_BLOCKS`] blocks per call.
//! - `anvil_reset` goes back to genesis; forking is not supported.
//! - `anvil_loadState` merges accounts only: a dump's blocks and transactions are not
//!   replayed into the chain's history.
//!
//! On a chain whose spec says `"dev": false`, the methods in [`NON_CONSENSUS`] are refused
//! (the chain itself refuses them too: `Backend::require_dev`).

use crate::{
    api::{EthApi, RpcResult, blocking, ok},
    error::RpcError,
    params::{none, parse},
};
use alloy_primitives::{Address, B256, Bytes, U64, U256};
use anh_evm_host::{DumpedState, MAX_MINE_BLOCKS, MineOptions, MiningMode, genesis::SPEC};
use flate2::{Compression, read::GzDecoder, write::GzEncoder};
use serde::Deserialize;
use serde_json::{Value, json};
use std::{
    io::{Read, Write},
    time::Duration,
};

/// Largest state a `anvil_loadState` dump may inflate to.
pub const MAX_STATE_DUMP: u64 = 512 * 1024 * 1024;

/// `evm_mine`'s optional parameter: a timestamp, or anvil's `{ timestamp, blocks }`.
#[derive(Deserialize)]
#[serde(untagged)]
enum EvmMineOptions {
    Timestamp(U64),
    Options {
        #[serde(default)]
        timestamp: Option<U64>,
        #[serde(default)]
        blocks: Option<U64>,
    },
}

fn to_u64(value: U256, what: &str) -> Result<u64, RpcError> {
    u64::try_from(value)
        .map_err(|_| RpcError::invalid_params(format!("{what} {value} does not fit in 64 bits")))
}

/// The dev methods that change state, time, base fee, coinbase or senders (and
/// `evm_snapshot`/`evm_revert`, `anvil_reset`, which rewind the chain): on a chain whose spec
/// says `"dev": false` they answer [`HostError::DevDisabled`](anh_evm_host::HostError) (-32000),
/// because a follower of such a chain refuses blocks with a dev record. `evm_mine` with a
/// timestamp and `anvil_mine` with an interval are refused there too. Mining control, pool
/// edits (`anvil_dropTransaction`), `anvil_stopImpersonatingAccount`, `anvil_dumpState` and the
/// read methods stay.
pub(crate) const NON_CONSENSUS: &[&str] = &[
    "evm_snapshot",
    "anvil_snapshot",
    "evm_revert",
    "anvil_revert",
    "evm_increaseTime",
    "anvil_increaseTime",
    "evm_setNextBlockTimestamp",
    "anvil_setNextBlockTimestamp",
    "anvil_setTime",
    "evm_setTime",
    "anvil_setBalance",
    "hardhat_setBalance",
    "anvil_addBalance",
    "hardhat_addBalance",
    "anvil_setCode",
    "hardhat_setCode",
    "anvil_setNonce",
    "hardhat_setNonce",
    "evm_setAccountNonce",
    "anvil_setStorageAt",
    "hardhat_setStorageAt",
    "anvil_impersonateAccount",
    "hardhat_impersonateAccount",
    "anvil_autoImpersonateAccount",
    "hardhat_autoImpersonateAccount",
    "anvil_setNextBlockBaseFeePerGas",
    "hardhat_setNextBlockBaseFeePerGas",
    "anvil_setCoinbase",
    "hardhat_setCoinbase",
    "anvil_reset",
    "hardhat_reset",
    "anvil_loadState",
    "hardhat_loadState",
];

/// Executes dev method `method`; `None` if there is no such method.
pub(crate) async fn execute(api: &EthApi, method: &str, params: Value) -> Option<RpcResult> {
    let backend = api.backend().clone();
    let miner = api.miner();
    if NON_CONSENSUS.contains(&method)
        && let Err(e) = backend.require_dev(method)
    {
        return Some(Err(e.into()));
    }
    let result = match method {
        // Snapshots and state edits wait for a block being built: off the async workers.
        "evm_snapshot" | "anvil_snapshot" => match none(&params) {
            Ok(()) => blocking(move || backend.snapshot().map(U64::from)).await.and_then(ok),
            Err(e) => Err(e),
        },
        "evm_revert" | "anvil_revert" => match parse::<(U64,)>(params, 1) {
            Ok((id,)) => blocking(move || backend.revert(id.to::<u64>())).await.and_then(ok),
            Err(e) => Err(e),
        },
        "evm_mine" => evm_mine(api, params).await,
        "anvil_mine" | "hardhat_mine" => anvil_mine(api, params).await,
        "evm_setAutomine" | "anvil_setAutomine" => parse::<(bool,)>(params, 1).and_then(|(on,)| {
            miner.set_mode(if on { MiningMode::Auto } else { MiningMode::Manual });
            if on {
                backend.tx_ready().notify_one();
            }
            ok(true)
        }),
        "evm_setIntervalMining" | "anvil_setIntervalMining" => {
            parse::<(U64,)>(params, 1).and_then(|(seconds,)| {
                let seconds = seconds.to::<u64>();
                miner.set_mode(if seconds == 0 {
                    MiningMode::Manual
                } else {
                    MiningMode::Interval(Duration::from_secs(seconds))
                });
                ok(true)
            })
        }
        "anvil_getAutomine" | "hardhat_getAutomine" => {
            none(&params).and_then(|()| ok(miner.mode() == MiningMode::Auto))
        }
        "anvil_getIntervalMining" => none(&params).and_then(|()| {
            ok(match miner.mode() {
                MiningMode::Interval(interval) => Some(interval.as_secs()),
                _ => None,
            })
        }),
        "evm_increaseTime" | "anvil_increaseTime" => parse::<(U256,)>(params, 1)
            .and_then(|(seconds,)| ok(backend.increase_time(to_u64(seconds, "time increase")?)?)),
        "evm_setNextBlockTimestamp" | "anvil_setNextBlockTimestamp" => parse::<(U256,)>(params, 1)
            .and_then(|(timestamp,)| {
                backend.set_next_block_timestamp(to_u64(timestamp, "timestamp")?)?;
                ok(Value::Null)
            }),
        "anvil_setTime" | "evm_setTime" => parse::<(U256,)>(params, 1)
            .and_then(|(timestamp,)| ok(backend.set_time(to_u64(timestamp, "timestamp")?)?)),
        "anvil_setBalance" | "hardhat_setBalance" => match parse::<(Address, U256)>(params, 2) {
            Ok((address, balance)) => edit(move || backend.set_balance(address, balance)).await,
            Err(e) => Err(e),
        },
        "anvil_addBalance" | "hardhat_addBalance" => match parse::<(Address, U256)>(params, 2) {
            Ok((address, amount)) => edit(move || backend.add_balance(address, amount)).await,
            Err(e) => Err(e),
        },
        "anvil_setCode" | "hardhat_setCode" => match parse::<(Address, Bytes)>(params, 2) {
            Ok((_, code)) if code.len() > anh_evm_host::backend::MAX_TX_SIZE => {
                Err(RpcError::invalid_params(format!(
                    "code of {} bytes exceeds the limit of {}",
                    code.len(),
                    anh_evm_host::backend::MAX_TX_SIZE
                )))
            }
            Ok((address, code)) => edit(move || backend.set_code(address, code)).await,
            Err(e) => Err(e),
        },
        "anvil_setNonce" | "hardhat_setNonce" | "evm_setAccountNonce" => {
            match parse::<(Address, U256)>(params, 2)
                .and_then(|(address, nonce)| Ok((address, to_u64(nonce, "nonce")?)))
            {
                Ok((address, nonce)) => edit(move || backend.set_nonce(address, nonce)).await,
                Err(e) => Err(e),
            }
        }
        "anvil_setStorageAt" | "hardhat_setStorageAt" => {
            match parse::<(Address, U256, B256)>(params, 3) {
                Ok((address, slot, value)) => {
                    edit(move || backend.set_storage_at(address, slot, value.into()))
                        .await
                        .and_then(|_| ok(true))
                }
                Err(e) => Err(e),
            }
        }
        "anvil_impersonateAccount" | "hardhat_impersonateAccount" => parse::<(Address,)>(params, 1)
            .and_then(|(address,)| {
                backend.impersonate(address)?;
                ok(Value::Null)
            }),
        "anvil_stopImpersonatingAccount" | "hardhat_stopImpersonatingAccount" => {
            parse::<(Address,)>(params, 1).and_then(|(address,)| {
                backend.stop_impersonating(address);
                ok(Value::Null)
            })
        }
        "anvil_autoImpersonateAccount" | "hardhat_autoImpersonateAccount" => {
            parse::<(bool,)>(params, 1).and_then(|(enabled,)| {
                backend.set_auto_impersonate(enabled)?;
                ok(Value::Null)
            })
        }
        "anvil_setNextBlockBaseFeePerGas" | "hardhat_setNextBlockBaseFeePerGas" => {
            parse::<(U256,)>(params, 1).and_then(|(fee,)| {
                backend.set_next_block_base_fee(to_u64(fee, "base fee")?)?;
                ok(Value::Null)
            })
        }
        "anvil_setCoinbase" | "hardhat_setCoinbase" => {
            parse::<(Address,)>(params, 1).and_then(|(address,)| {
                backend.set_coinbase(address)?;
                ok(Value::Null)
            })
        }
        "anvil_dropTransaction" | "hardhat_dropTransaction" => parse::<(B256,)>(params, 1)
            .and_then(|(hash,)| ok(backend.drop_transaction(&hash).then_some(hash))),
        "anvil_dropAllTransactions" | "hardhat_dropAllTransactions" => {
            none(&params).and_then(|()| {
                backend.drop_all_transactions();
                ok(Value::Null)
            })
        }
        "anvil_reset" | "hardhat_reset" => {
            match parse::<(Option<serde_json::Map<String, Value>>,)>(params, 0) {
                Ok((options,)) => {
                    let forking =
                        options.as_ref().and_then(|o| o.get("forking")).filter(|f| !f.is_null());
                    if forking.is_some() {
                        Err(RpcError::invalid_params(
                            "forking is not supported: anh node resets to its own genesis only",
                        ))
                    } else {
                        blocking(move || backend.reset()).await.and_then(|()| ok(Value::Null))
                    }
                }
                Err(e) => Err(e),
            }
        }
        "anvil_dumpState" | "hardhat_dumpState" => match parse::<(Option<bool>,)>(params, 0) {
            Ok(_) => blocking(move || Ok(backend.dump_state())).await.and_then(|dump| {
                let json = serde_json::to_vec(&dump).map_err(RpcError::internal)?;
                let mut gz = GzEncoder::new(Vec::new(), Compression::default());
                gz.write_all(&json).map_err(RpcError::internal)?;
                ok(Bytes::from(gz.finish().map_err(RpcError::internal)?))
            }),
            Err(e) => Err(e),
        },
        "anvil_loadState" | "hardhat_loadState" => match parse::<(Bytes,)>(params, 1) {
            Ok((bytes,)) => match decode_state(&bytes) {
                Ok(dump) => blocking(move || backend.load_state(dump)).await.and_then(|_| ok(true)),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        },
        "anvil_nodeInfo" => none(&params).and_then(|()| ok(node_info(api))),
        "anvil_metadata" | "hardhat_metadata" => none(&params).and_then(|()| ok(metadata(api))),
        _ => return None,
    };
    Some(result)
}

/// `evm_mine`: one block (or anvil's `{ blocks }`), optionally at a timestamp; answers "0x0".
/// Runs a state edit on the blocking pool (it waits for a block being built); answers null.
async fn edit(f: impl FnOnce() -> anh_evm_host::HostResult<()> + Send + 'static) -> RpcResult {
    blocking(f).await.and_then(|()| ok(Value::Null))
}

async fn evm_mine(api: &EthApi, params: Value) -> RpcResult {
    let (options,): (Option<EvmMineOptions>,) = parse(params, 0)?;
    let (timestamp, blocks) = match options {
        None => (None, 1),
        Some(EvmMineOptions::Timestamp(t)) => (Some(t.to::<u64>()), 1),
        Some(EvmMineOptions::Options { timestamp, blocks }) => {
            (timestamp.map(|t| t.to::<u64>()), blocks.map_or(1, |b| b.to::<u64>()))
        }
    };
    mine_blocks(api, blocks, timestamp, None).await?;
    ok("0x0")
}

/// `anvil_mine(blocks = 1, interval)`: `blocks` blocks, `interval` seconds apart when given.
async fn anvil_mine(api: &EthApi, params: Value) -> RpcResult {
    let (blocks, interval): (Option<U256>, Option<U256>) = parse(params, 0)?;
    let blocks = blocks.map(|b| to_u64(b, "block count")).transpose()?.unwrap_or(1);
    let interval = interval.map(|i| to_u64(i, "interval")).transpose()?;
    if interval.is_some() {
        api.backend().require_dev("anvil_mine with an interval")?;
    }
    mine_blocks(api, blocks, None, interval).await?;
    ok(Value::Null)
}

async fn mine_blocks(
    api: &EthApi,
    blocks: u64,
    timestamp: Option<u64>,
    interval: Option<u64>,
) -> Result<(), RpcError> {
    if blocks > MAX_MINE_BLOCKS {
        return Err(RpcError::invalid_params(format!(
            "cannot mine {blocks} blocks in one call: the limit is {MAX_MINE_BLOCKS}"
        )));
    }
    let backend = api.backend().clone();
    blocking(move || {
        let mut next = timestamp;
        for _ in 0..blocks {
            let block = backend.mine(MineOptions { allow_empty: true, timestamp: next })?;
            if let (Some(block), Some(interval)) = (block, interval) {
                next = Some(block.header.timestamp.saturating_add(interval.max(1)));
            } else {
                next = None;
            }
        }
        Ok(())
    })
    .await
}

/// A dump as `anvil_dumpState` writes it (gzip of JSON), or plain JSON.
fn decode_state(bytes: &[u8]) -> Result<DumpedState, RpcError> {
    let json = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        GzDecoder::new(bytes)
            .take(MAX_STATE_DUMP + 1)
            .read_to_end(&mut out)
            .map_err(|e| RpcError::invalid_params(format!("state dump is not valid gzip: {e}")))?;
        if out.len() as u64 > MAX_STATE_DUMP {
            return Err(RpcError::invalid_params(format!(
                "state dump inflates beyond the limit of {MAX_STATE_DUMP} bytes"
            )));
        }
        out
    } else {
        bytes.to_vec()
    };
    serde_json::from_slice(&json)
        .map_err(|e| RpcError::invalid_params(format!("state dump is not valid: {e}")))
}

fn node_info(api: &EthApi) -> Value {
    let backend = api.backend();
    let latest = backend.latest();
    let mode = match api.miner().mode() {
        MiningMode::Auto => "automine".to_string(),
        MiningMode::Manual => "manual".to_string(),
        MiningMode::Interval(d) => format!("interval ({}s)", d.as_secs()),
    };
    json!({
        "currentBlockNumber": latest.number(),
        "currentBlockTimestamp": latest.header.timestamp,
        "currentBlockHash": latest.hash,
        "hardFork": format!("{SPEC:?}").to_lowercase(),
        "transactionOrder": "fees",
        "environment": {
            "baseFee": backend.next_base_fee(),
            "chainId": backend.chain_id(),
            "gasLimit": latest.header.gas_limit,
            "gasPrice": backend.gas_price(),
        },
        "forkConfig": {
            "forkUrl": null,
            "forkBlockNumber": null,
            "forkRetryBackoff": null,
        },
        "miningMode": mode,
    })
}

fn metadata(api: &EthApi) -> Value {
    let backend = api.backend();
    let latest = backend.latest();
    json!({
        "clientVersion": api.client_version(),
        "chainId": backend.chain_id(),
        "instanceId": backend.genesis_hash(),
        "latestBlockNumber": latest.number(),
        "latestBlockHash": latest.hash,
        "forkedNetwork": null,
        "snapshots": backend.snapshot_ids().into_iter().map(|(id, number, hash)| {
            (id.to_string(), json!([number, hash]))
        }).collect::<serde_json::Map<_, _>>(),
    })
}
