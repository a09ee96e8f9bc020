// Shared set-up of the JavaScript suites: the node's URL, the dev accounts, the contract artifacts.
//
// Every suite takes the node from ANH_RPC_URL (HTTP; the WebSocket URL is the same host and port
// with ws://, as on anvil and `anh node`, unless ANH_WS_URL says otherwise). Each client signs with
// its own dev accounts, so that suites never race for a nonce.

import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { HDNodeWallet, Mnemonic, dataSlice, getAddress, keccak256, toUtf8Bytes } from 'ethers';

/** clients/ */
export const CLIENTS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The repository root. */
export const ROOT = resolve(CLIENTS_DIR, '..');

/** The node under test (HTTP). */
export const RPC_URL = process.env.ANH_RPC_URL || 'http://127.0.0.1:8545';
/** The same node over WebSocket. */
export const WS_URL = process.env.ANH_WS_URL || RPC_URL.replace(/^http/, 'ws');
/** The devnet chain id (anvil's and `anh node`'s default). */
export const CHAIN_ID = 31337;

/** anvil's and `anh node`'s default mnemonic. */
export const MNEMONIC = 'test test test test test test test test test test test junk';

/** Dev account `index`: `{ address, privateKey }` (m/44'/60'/0'/0/index). */
export function devAccount(index) {
  const wallet = HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(MNEMONIC), `m/44'/60'/0'/0/${index}`);
  return { address: wallet.address, privateKey: wallet.privateKey };
}

/**
 * Which dev accounts each client uses: `local` signs in the client (raw transactions),
 * `node` is one of the node's unlocked accounts (eth_sendTransaction).
 */
export const ACCOUNTS = {
  ethers: { local: 1, node: 2 },
  viem: { local: 3, node: 4 },
  web3py: { local: 5, node: 6 },
  foundry: { local: 7, node: 8 },
  hardhat: { local: 0, node: 9 }, // hardhat-ethers signs through the node: signers 0 and 9
};

/** The artifact `contracts/out/<name>.json` built by contracts/build.mjs. */
export function artifact(name) {
  return JSON.parse(readFileSync(join(ROOT, 'contracts', 'out', `${name}.json`), 'utf8'));
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

/** `promise`, or a rejection naming `what` if it has not settled after `ms` milliseconds. */
export function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The seed of the suite's fresh addresses and keys: ANH_CLIENTS_SEED, which compare.sh sets to
 * one value for both nodes (so that both see the same recipients, calldata and transaction
 * hashes, and the recorded values compare), and run.sh to a new one per run (so that a second
 * run on the same node starts from empty recipients again); random when unset.
 */
export const SEED = process.env.ANH_CLIENTS_SEED || randomBytes(8).toString('hex');

/**
 * Fresh accounts for `client`: `address()` and `privateKey()` give the next one of a sequence
 * derived from SEED and the client's name (keccak256 of "anh-clients/<seed>/<client>/<kind>/<n>";
 * python/test_web3.py derives its own the same way), so they are new to the chain, differ between
 * clients, and are the same on both nodes of a compare.
 */
export function freshAccounts(client) {
  let n = 0;
  const next = (kind) => keccak256(toUtf8Bytes(`anh-clients/${SEED}/${client}/${kind}/${n++}`));
  return {
    address: () => getAddress(dataSlice(next('address'), 12)),
    privateKey: () => next('key'),
  };
}

/** True when `clientVersion` (web3_clientVersion) is anvil's own ("anvil/v1.7.1"), not a node
 *  that names itself after anvil for the Hardhat network helpers ("anvil/anh-v0.1.0"). */
export const isAnvil = (clientVersion) => /^anvil\/v\d/i.test(clientVersion);
