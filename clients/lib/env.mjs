// Shared set-up of the JavaScript suites: the node's URL, the dev accounts, the contract artifacts.
//
// Every suite takes the node from ANH_RPC_URL (HTTP; the WebSocket URL is the same host and port
// with ws://, as on anvil and `anh node`, unless ANH_WS_URL says otherwise). Each client signs with
// its own dev accounts, so that suites never race for a nonce.

import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HDNodeWallet, Mnemonic } from 'ethers';

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

/** A fresh random address (for recipients that must start empty). */
export function randomAddress() {
  return HDNodeWallet.createRandom().address;
}
