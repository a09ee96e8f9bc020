//! The errors of the chain.
//!
//! Transaction-validation messages use geth's wording, because ethers.js, viem and web3.py
//! recognise failures by matching on it ("nonce too low", "insufficient funds for gas * price
//! + value", "replacement transaction underpriced", …).

use alloy_primitives::{Address, Bytes, U256};

/// A `Result` with [`HostError`].
pub type HostResult<T> = Result<T, HostError>;

/// Why a transaction was not accepted into the pool.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidTx {
    /// The signature does not recover to a sender.
    #[error("invalid sender: {0}")]
    InvalidSender(String),
    /// The transaction's chain id is not this chain's.
    #[error("invalid chain id for signer: have {have} want {want}")]
    ChainId {
        /// The transaction's chain id.
        have: u64,
        /// This chain's id.
        want: u64,
    },
    /// A transaction type this chain does not take.
    #[error("transaction type not supported: {0}")]
    UnsupportedType(u8),
    /// The nonce was already used.
    #[error("nonce too low: next nonce {next}, tx nonce {got}")]
    NonceTooLow {
        /// The sender's next nonce.
        next: u64,
        /// The transaction's nonce.
        got: u64,
    },
    /// The gas limit does not cover the intrinsic gas.
    #[error("intrinsic gas too low: gas {have}, minimum needed {want}")]
    IntrinsicGas {
        /// The transaction's gas limit.
        have: u64,
        /// The intrinsic gas.
        want: u64,
    },
    /// The gas limit is above the block gas limit.
    #[error("exceeds block gas limit: gas {gas}, block gas limit {limit}")]
    GasLimit {
        /// The transaction's gas limit.
        gas: u64,
        /// The block gas limit.
        limit: u64,
    },
    /// The fee cap is below the next block's base fee.
    #[error(
        "max fee per gas less than block base fee: address {sender}, maxFeePerGas: {fee_cap}, baseFee: {base_fee}"
    )]
    FeeCapTooLow {
        /// The sender.
        sender: Address,
        /// The transaction's fee cap.
        fee_cap: u128,
        /// The next block's base fee.
        base_fee: u64,
    },
    /// The priority fee is above the fee cap.
    #[error(
        "max priority fee per gas higher than max fee per gas: address {sender}, maxPriorityFeePerGas: {tip}, maxFeePerGas: {fee_cap}"
    )]
    TipAboveFeeCap {
        /// The sender.
        sender: Address,
        /// The priority fee.
        tip: u128,
        /// The fee cap.
        fee_cap: u128,
    },
    /// The sender cannot pay for gas and value.
    #[error("insufficient funds for gas * price + value: balance {balance}, tx cost {cost}, overshot {}", cost - balance)]
    InsufficientFunds {
        /// The sender's balance.
        balance: U256,
        /// gas limit × fee cap + value.
        cost: U256,
    },
    /// A transaction with this hash is already in the pool.
    #[error("already known")]
    AlreadyKnown,
    /// A pool transaction with the same sender and nonce pays at least as much.
    #[error("replacement transaction underpriced")]
    ReplacementUnderpriced,
    /// The encoded transaction is too large.
    #[error("oversized data: transaction size {size}, limit {limit}")]
    Oversized {
        /// Encoded size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The pool holds as many transactions (or bytes) as it may.
    #[error("txpool is full: {0}")]
    PoolFull(String),
    /// The sender has as many transactions waiting behind a nonce gap as the pool keeps.
    #[error(
        "account limit exceeded: {queued} transactions of this sender already wait behind a \
         nonce gap; send nonce {next} first"
    )]
    QueueFull {
        /// Transactions of the sender behind the gap.
        queued: usize,
        /// The nonce that would close the gap.
        next: u64,
    },
    /// Contract-creation code above the EIP-3860 limit.
    #[error("max initcode size exceeded: code size {size}, limit {limit}")]
    InitcodeTooLarge {
        /// Initcode size.
        size: usize,
        /// The limit.
        limit: usize,
    },
}

/// Errors of the chain.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The node's configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// A raw transaction could not be decoded.
    #[error("failed to decode signed transaction: {0}")]
    Decode(String),
    /// A transaction was refused by validation.
    #[error(transparent)]
    InvalidTx(#[from] InvalidTx),
    /// A call reverted.
    #[error("execution reverted{}", reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    Reverted {
        /// Decoded reason (`Error(string)` or `Panic(uint256)`), if any.
        reason: Option<String>,
        /// The revert data.
        output: Bytes,
    },
    /// A call halted (out of gas, invalid opcode, …).
    #[error("{0}")]
    Halted(String),
    /// The call cannot succeed with any gas up to the cap.
    #[error("gas required exceeds allowance ({0})")]
    GasExceedsAllowance(u64),
    /// The call's transaction is invalid for the EVM (e.g. not enough balance for the value).
    #[error("{0}")]
    CallInvalid(String),
    /// A block that does not exist.
    #[error("unknown block")]
    UnknownBlock,
    /// `eth_sendTransaction` from an account the node holds no key for.
    #[error("unknown account {0}: the node only signs for its dev accounts")]
    UnknownAccount(Address),
    /// A request with inconsistent fields.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The embedded database failed.
    #[error("storage: {0}")]
    Storage(String),
    /// A broken invariant of the node itself.
    #[error("internal error: {0}")]
    Internal(String),
    /// A query would return more than the node answers (JSON-RPC -32005, "limit exceeded").
    #[error("{0}")]
    LimitExceeded(String),
    /// A dev method that changes state, time, fees, coinbase or senders, called on a chain
    /// whose spec says `"dev": false`.
    #[error(
        "{0} is disabled on this chain: its chain spec says \"dev\": false (dev methods that \
         change state, time, fees or senders would not be consensus)"
    )]
    DevDisabled(String),
}

macro_rules! storage_error {
    ($($t:ty),*) => {$(
        impl From<$t> for HostError {
            fn from(e: $t) -> Self {
                Self::Storage(e.to_string())
            }
        }
    )*};
}

storage_error!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);
