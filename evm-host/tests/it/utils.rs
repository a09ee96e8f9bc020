//! A `Backend` with a fixed genesis and a stub DNN oracle, and helpers to sign, deploy and
//! mine.

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::BlockId;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, keccak256};
use alloy_rlp::RlpEncodable;
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use alloy_trie::{EMPTY_ROOT_HASH, HashBuilder, KECCAK_EMPTY, Nibbles};
use anh_evm_host::{
    Backend, Block, EvmConfig, GenesisConfig, MineOptions, NodeConfig, evm::DnnModes,
};
use anh_precompiles::{
    Committee, Dnn, DnnOracle, HostTensor, InferRequest, ModelInfo, OracleError, Rule,
};
use std::sync::Arc;

/// Genesis' timestamp: fixed, so that every backend of a test has the same genesis block.
pub(crate) const GENESIS_TIMESTAMP: u64 = 1_700_000_000;

/// The base fee of block 1: genesis' 1 gwei, kept as anvil keeps it (EIP-1559's update rule
/// starts from block 1).
pub(crate) const BLOCK_1_BASE_FEE: u64 = 1_000_000_000;

/// The fee cap the helpers' transactions offer: 10 gwei.
pub(crate) const FEE_CAP: u128 = 10_000_000_000;

/// The tip the helpers' transactions offer: 1 gwei.
pub(crate) const TIP: u128 = 1_000_000_000;

/// A DNN oracle that knows no model: every request fails as "model unavailable". The tests
/// run no model; the oracle only lets the backend be configured as a node's is, with the DNN
/// precompiles and an executor committee.
#[derive(Debug)]
pub(crate) struct NoModels;

impl DnnOracle for NoModels {
    fn model_info(&self, model: B256) -> Result<ModelInfo, OracleError> {
        Err(OracleError::ModelUnavailable(model))
    }

    fn infer(&self, request: InferRequest<'_>) -> Result<Vec<HostTensor>, OracleError> {
        Err(OracleError::ModelUnavailable(request.model))
    }
}

/// The genesis every test starts from: anvil's defaults (chain id 31337, 30 M gas, 1 gwei,
/// 10 000 ETH each) with four dev accounts, a fixed timestamp and a one-member committee.
pub(crate) fn genesis() -> GenesisConfig {
    GenesisConfig {
        accounts: 4,
        timestamp: Some(GENESIS_TIMESTAMP),
        committee: Some(Committee {
            members: vec![Address::repeat_byte(0xc0)],
            threshold: 1,
            default_rule: Rule::EXACT,
        }),
        ..Default::default()
    }
}

/// An in-memory backend on [`genesis`], its DNN precompiles asking [`NoModels`].
pub(crate) fn backend() -> Arc<Backend> {
    backend_with(true)
}

/// [`backend`] on a dev chain (`dev`) or a non-dev one.
pub(crate) fn backend_with(dev: bool) -> Arc<Backend> {
    open_backend(genesis(), dev, None).expect("the backend opens")
}

/// A backend on `genesis` (which has a committee), a dev chain or not, in memory or in
/// `data_dir`, its DNN precompiles asking [`NoModels`].
pub(crate) fn open_backend(
    genesis: GenesisConfig,
    dev: bool,
    data_dir: Option<&std::path::Path>,
) -> anh_evm_host::HostResult<Arc<Backend>> {
    let dnn = Arc::new(Dnn::new(Arc::new(NoModels)));
    let modes = DnnModes {
        call: dnn.clone(),
        build: dnn,
        ledger: None,
        committee: genesis.committee.clone().expect("genesis has a committee"),
    };
    let evm = EvmConfig::new(genesis.chain_id, modes);
    let data_dir = data_dir.map(std::path::Path::to_path_buf);
    let genesis = GenesisConfig { dev, ..genesis };
    Backend::new(NodeConfig { genesis, data_dir, ..Default::default() }, evm)
}

/// Dev account `index`'s address.
pub(crate) fn account(backend: &Backend, index: usize) -> Address {
    backend.dev_accounts()[index].address
}

/// `tx` signed by dev account `index`.
pub(crate) fn sign(backend: &Backend, index: usize, tx: TxEip1559) -> TxEnvelope {
    sign_with(&backend.dev_accounts()[index].signer, tx)
}

/// `tx` signed by `signer`.
pub(crate) fn sign_with(signer: &PrivateKeySigner, tx: TxEip1559) -> TxEnvelope {
    let signature = signer.sign_hash_sync(&tx.signature_hash()).expect("signs");
    TxEnvelope::from(tx.into_signed(signature))
}

/// A transfer of `value` wei to `to` with `nonce`, 21 000 gas, [`FEE_CAP`] and [`TIP`].
pub(crate) fn transfer(nonce: u64, to: Address, value: u64) -> TxEip1559 {
    TxEip1559 {
        chain_id: 31337,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: FEE_CAP,
        max_priority_fee_per_gas: TIP,
        to: TxKind::Call(to),
        value: U256::from(value),
        ..Default::default()
    }
}

/// A call of `to` with `input` and `gas`.
pub(crate) fn call_tx(nonce: u64, to: Address, input: Bytes, gas: u64) -> TxEip1559 {
    TxEip1559 { gas_limit: gas, input, ..transfer(nonce, to, 0) }
}

/// Mines a block, empty or not.
pub(crate) fn mine(backend: &Backend) -> Arc<Block> {
    backend
        .mine(MineOptions { allow_empty: true, timestamp: None })
        .expect("mines")
        .expect("an empty block is allowed")
}

/// The code that deploys `runtime`: copies it to memory and returns it.
pub(crate) fn initcode(runtime: &[u8]) -> Bytes {
    let n = u8::try_from(runtime.len()).expect("short runtime code");
    // PUSH1 n, PUSH1 10, PUSH0, CODECOPY, PUSH1 n, PUSH0, RETURN: 10 bytes, then the runtime.
    let mut code = vec![0x60, n, 0x60, 0x0a, 0x5f, 0x39, 0x60, n, 0x5f, 0xf3];
    code.extend_from_slice(runtime);
    code.into()
}

/// Deploys `runtime` from dev account `index` (whose next nonce is `nonce`), mining a block
/// with it and whatever else is ready; returns the contract's address.
pub(crate) fn deploy(backend: &Backend, index: usize, nonce: u64, runtime: &[u8]) -> Address {
    let tx = TxEip1559 {
        to: TxKind::Create,
        gas_limit: 200_000,
        input: initcode(runtime),
        ..transfer(nonce, Address::ZERO, 0)
    };
    let hash = backend.submit(sign(backend, index, tx)).expect("the deployment is pooled");
    let block = mine(backend);
    let mined = block.transactions.iter().find(|t| t.hash == hash).expect("mined");
    assert!(mined.receipt.status(), "the deployment succeeds");
    let address = mined.contract_address.expect("a creation");
    let state = backend.state_at(BlockId::latest()).expect("latest");
    assert_eq!(state.account(&address).map(|a| a.code_hash), Some(keccak256(runtime)));
    address
}

/// Runtime code that logs its first calldata word as topic 0 of a LOG1 over 32 bytes of
/// memory and stops: no storage, no call, no refund, so the least gas it succeeds with is the
/// gas it uses.
pub(crate) const LOGGER: [u8; 7] = [0x5f, 0x35, 0x60, 0x20, 0x5f, 0xa1, 0x00];

/// Runtime code that adds one to storage slot 0 and stops (SSTORE needs more than 2 300 gas
/// left, so its least gas exceeds what it uses).
pub(crate) const COUNTER: [u8; 8] = [0x5f, 0x54, 0x60, 0x01, 0x01, 0x5f, 0x55, 0x00];

/// Runtime code that reverts with no data.
pub(crate) const REVERTER: [u8; 3] = [0x5f, 0x5f, 0xfd];

/// Balance of `address` in the head state.
pub(crate) fn balance(backend: &Backend, address: &Address) -> U256 {
    let state = backend.state_at(BlockId::latest()).expect("latest");
    state.account(address).map(|a| a.balance).unwrap_or_default()
}

/// The hashes of the pool's pending and queued transactions, each sorted.
pub(crate) fn pool_hashes(backend: &Backend) -> (Vec<B256>, Vec<B256>) {
    let (pending, queued) = backend.pool_content();
    let sorted = |txs: Vec<Arc<anh_evm_host::txpool::PoolTx>>| {
        let mut hashes: Vec<B256> = txs.iter().map(|t| t.hash).collect();
        hashes.sort();
        hashes
    };
    (sorted(pending), sorted(queued))
}

/// The head state's root computed from scratch, from `anvil_dumpState`'s accounts, with
/// alloy-trie's hash builder rather than the chain's own trie.
pub(crate) fn independent_state_root(backend: &Backend) -> B256 {
    #[derive(RlpEncodable)]
    struct TrieAccount {
        nonce: u64,
        balance: U256,
        storage_root: B256,
        code_hash: B256,
    }
    let dump = backend.dump_state();
    let mut leaves: Vec<(B256, Vec<u8>)> = dump
        .accounts
        .iter()
        .map(|(address, account)| {
            // The dump lists non-zero slots only, as the trie holds them.
            let slots = account.storage.iter().map(|(slot, value)| {
                (keccak256(slot.to_be_bytes::<32>()), alloy_rlp::encode(value))
            });
            let code_hash =
                if account.code.is_empty() { KECCAK_EMPTY } else { keccak256(&account.code) };
            let trie_account = TrieAccount {
                nonce: account.nonce,
                balance: account.balance,
                storage_root: trie_root(slots.collect()),
                code_hash,
            };
            (keccak256(address), alloy_rlp::encode(&trie_account))
        })
        .collect();
    leaves.sort();
    trie_root(leaves)
}

/// The root of the trie with these hashed keys and encoded values.
fn trie_root(mut leaves: Vec<(B256, Vec<u8>)>) -> B256 {
    if leaves.is_empty() {
        return EMPTY_ROOT_HASH;
    }
    leaves.sort();
    let mut builder = HashBuilder::default();
    for (key, value) in leaves {
        builder.add_leaf(Nibbles::unpack(key), &value);
    }
    builder.root()
}
