// ethers.js v6 against the node at ANH_RPC_URL: deploy, read, write, receipts, logs, events over
// HTTP filters and WebSocket subscriptions, revert reasons decoded by ethers (Error(string),
// Panic, custom errors), gas estimation, fee data, and the node's unlocked accounts through a
// JsonRpcSigner (eth_sendTransaction, personal_sign, eth_signTypedData_v4).
//
//   ANH_RPC_URL=http://127.0.0.1:8545 node --test clients/ethers/

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  Contract,
  ContractFactory,
  JsonRpcProvider,
  Wallet,
  WebSocketProvider,
  isError,
  parseEther,
  verifyMessage,
  verifyTypedData,
} from 'ethers';
import { ACCOUNTS, CHAIN_ID, RPC_URL, WS_URL, artifact, devAccount, randomAddress, sleep, within } from '../lib/env.mjs';

const TOKEN = artifact('DevToken');
const REVERTER = artifact('Reverter');
const SUPPLY = 1_000_000n * 10n ** 18n;
const EVENT_TIMEOUT_MS = 10_000;

/** Runs `fn`, which must throw; returns the error. */
async function rejects(fn) {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  assert.fail('expected an error');
}

describe('ethers.js v6', () => {
  let provider;
  let wallet; // local key: eth_sendRawTransaction
  let nodeSigner; // unlocked on the node: eth_sendTransaction
  let token;
  let reverter;

  before(async () => {
    provider = new JsonRpcProvider(RPC_URL, undefined, { pollingInterval: 100, cacheTimeout: -1 });
    wallet = new Wallet(devAccount(ACCOUNTS.ethers.local).privateKey, provider);
    nodeSigner = await provider.getSigner(devAccount(ACCOUNTS.ethers.node).address);
  });

  after(() => provider.destroy());

  test('detects the network and reads the latest block', async () => {
    const network = await provider.getNetwork();
    assert.equal(network.chainId, BigInt(CHAIN_ID));
    const number = await provider.getBlockNumber();
    const block = await provider.getBlock('latest');
    assert.ok(block.number >= number);
    assert.equal(typeof block.hash, 'string');
    assert.ok(block.baseFeePerGas > 0n, 'an EIP-1559 chain has a base fee');
    const byHash = await provider.getBlock(block.hash);
    assert.equal(byHash.number, block.number);
    assert.ok((await provider.getBalance(wallet.address)) > parseEther('1'));
  });

  test('deploys a contract with a local wallet and waits for it', async () => {
    const factory = new ContractFactory(TOKEN.abi, TOKEN.bytecode, wallet);
    token = await factory.deploy('Client Token', 'CLT', SUPPLY);
    await token.waitForDeployment();
    const receipt = await token.deploymentTransaction().wait();
    assert.equal(receipt.status, 1);
    assert.equal(receipt.contractAddress, await token.getAddress());
    const code = await provider.getCode(await token.getAddress());
    // The runtime code is the artifact's, with the `owner` immutable filled in.
    assert.equal(code.length, TOKEN.deployedBytecode.length);
    assert.equal(code.slice(0, 66), TOKEN.deployedBytecode.slice(0, 66));

    reverter = await new ContractFactory(REVERTER.abi, REVERTER.bytecode, wallet).deploy();
    await reverter.waitForDeployment();
  });

  test('reads contract state', async () => {
    assert.equal(await token.name(), 'Client Token');
    assert.equal(await token.symbol(), 'CLT');
    assert.equal(await token.decimals(), 18n);
    assert.equal(await token.totalSupply(), SUPPLY);
    assert.equal(await token.balanceOf(wallet.address), SUPPLY);
  });

  test('writes, waits for the receipt and parses its logs', async () => {
    const to = randomAddress();
    const tx = await token.transfer(to, 1234n);
    const receipt = await tx.wait();
    assert.equal(receipt.status, 1);
    assert.equal(receipt.hash, tx.hash);
    assert.equal(receipt.logs.length, 1);
    const log = token.interface.parseLog(receipt.logs[0]);
    assert.equal(log.name, 'Transfer');
    assert.deepEqual([...log.args], [wallet.address, to, 1234n]);
    assert.equal(await token.balanceOf(to), 1234n);

    const fetched = await provider.getTransaction(tx.hash);
    assert.equal(fetched.from, wallet.address);
    assert.equal(fetched.blockNumber, receipt.blockNumber);
    const block = await provider.getBlock(receipt.blockNumber);
    assert.ok(block.transactions.includes(tx.hash));
    assert.equal(await provider.getTransactionCount(wallet.address, 'pending'), fetched.nonce + 1);
  });

  test('queries logs with getLogs and queryFilter', async () => {
    const to = randomAddress();
    const receipt = await (await token.transfer(to, 5n)).wait();
    const logs = await provider.getLogs({
      address: await token.getAddress(),
      topics: [token.interface.getEvent('Transfer').topicHash, null, '0x' + to.slice(2).toLowerCase().padStart(64, '0')],
      fromBlock: 0,
      toBlock: 'latest',
    });
    assert.equal(logs.length, 1);
    assert.equal(logs[0].transactionHash, receipt.hash);
    assert.equal(logs[0].blockNumber, receipt.blockNumber);

    const events = await token.queryFilter(token.filters.Transfer(null, to), receipt.blockNumber, receipt.blockNumber);
    assert.equal(events.length, 1);
    assert.equal(events[0].args.value, 5n);
    const byHash = await provider.getLogs({ blockHash: receipt.blockHash, address: await token.getAddress() });
    assert.equal(byHash.length, 1);
  });

  test('contract.on delivers events over HTTP (eth_newFilter + eth_getFilterChanges)', async () => {
    const to = randomAddress();
    // With a topic filter ethers passes only the ContractEventPayload, whose `args` are decoded.
    const seen = new Promise((resolve) => {
      token.on(token.filters.Transfer(null, to), (payload) => resolve(payload.args));
    });
    // Give the subscriber time to install its filter before the event.
    await sleep(300);
    await (await token.transfer(to, 77n)).wait();
    const got = await within(EVENT_TIMEOUT_MS, 'the Transfer event over HTTP', seen);
    await token.removeAllListeners();
    assert.deepEqual([...got], [wallet.address, to, 77n]);
  });

  test('contract.on and block events over WebSocket (eth_subscribe)', async () => {
    const ws = new WebSocketProvider(WS_URL);
    try {
      // ethers reports a refused eth_subscribe only as an unhandled rejection, after the test
      // has moved on: ask once directly, so that a refusal fails here and at once.
      const probe = await ws.send('eth_subscribe', ['newHeads']);
      assert.equal(await ws.send('eth_unsubscribe', [probe]), true);
      const wsToken = new Contract(await token.getAddress(), TOKEN.abi, ws);
      const to = randomAddress();
      const seen = new Promise((resolve) => wsToken.on(wsToken.filters.Transfer(null, to), (payload) => resolve(payload.args)));
      const block = new Promise((resolve) => ws.once('block', resolve));
      await sleep(300);
      const receipt = await (await token.transfer(to, 9n)).wait();
      const args = await within(EVENT_TIMEOUT_MS, 'the Transfer event over WebSocket', seen);
      assert.equal(args[1], to);
      assert.equal(args[2], 9n);
      assert.ok((await within(EVENT_TIMEOUT_MS, 'a block over WebSocket', block)) >= receipt.blockNumber - 1);
      await wsToken.removeAllListeners();
    } finally {
      await ws.destroy();
    }
  });

  test('decodes Error(string) reverts from eth_call and eth_estimateGas', async () => {
    let err = await rejects(() => reverter.failStringView('nope'));
    assert.ok(isError(err, 'CALL_EXCEPTION'), err.message);
    assert.equal(err.reason, 'nope');
    assert.equal(err.revert.name, 'Error');
    assert.deepEqual([...err.revert.args], ['nope']);

    err = await rejects(() => reverter.failString.estimateGas('boom'));
    assert.ok(isError(err, 'CALL_EXCEPTION'), err.message);
    assert.equal(err.reason, 'boom');

    err = await rejects(() => reverter.failRequire.staticCall());
    assert.equal(err.reason, 'require failed');
  });

  test('decodes Panic reverts (0x11 overflow, 0x12 division by zero)', async () => {
    let err = await rejects(() => reverter.panicDivideView(1, 0));
    assert.ok(isError(err, 'CALL_EXCEPTION'), err.message);
    assert.equal(err.revert.name, 'Panic');
    assert.equal(BigInt(err.revert.args[0]), 0x12n);
    assert.match(err.reason, /DIVIDE_BY_ZERO/);

    err = await rejects(() => reverter.panicOverflow.estimateGas(1));
    assert.equal(err.revert.name, 'Panic');
    assert.equal(BigInt(err.revert.args[0]), 0x11n);
    assert.match(err.reason, /OVERFLOW/);
  });

  test('decodes custom errors with arguments', async () => {
    let err = await rejects(() => reverter.failCustomView(42, 'why'));
    assert.ok(isError(err, 'CALL_EXCEPTION'), err.message);
    assert.equal(err.revert.name, 'Failure');
    assert.deepEqual([...err.revert.args], [42n, wallet.address, 'why']);
    assert.equal(reverter.interface.parseError(err.data).name, 'Failure');

    // Sending: the revert surfaces in gas estimation; ethers leaves custom errors to the
    // contract's interface (err.data holds the revert bytes).
    err = await rejects(() => reverter.failUnauthorized());
    assert.ok(isError(err, 'CALL_EXCEPTION'), err.message);
    assert.equal(reverter.interface.parseError(err.data).name, 'Unauthorized');

    // An ERC-20 transfer beyond the balance fails with InsufficientBalance(from, 0, 1).
    const poor = token.connect(nodeSigner);
    err = await rejects(() => poor.transfer(wallet.address, 1n));
    assert.ok(isError(err, 'CALL_EXCEPTION'), err.message);
    const decoded = token.interface.parseError(err.data);
    assert.equal(decoded.name, 'InsufficientBalance');
    assert.deepEqual([...decoded.args], [nodeSigner.address, 0n, 1n]);
    err = await rejects(() => token.checkTransfer(nodeSigner.address, wallet.address, 1n));
    assert.equal(err.revert.name, 'InsufficientBalance');
  });

  test('a transaction mined as failed has status 0 and rolls back its writes', async () => {
    const before = await reverter.pokes();
    const tx = await reverter.failCustom(7, 'mined', { gasLimit: 200_000 });
    const err = await rejects(() => tx.wait());
    assert.ok(isError(err, 'CALL_EXCEPTION'), err.message);
    assert.equal(err.receipt.status, 0);
    assert.equal(await reverter.pokes(), before);
  });

  test('reverts with empty data are a CALL_EXCEPTION with data 0x', async () => {
    const err = await rejects(() => reverter.failEmpty.staticCall());
    assert.ok(isError(err, 'CALL_EXCEPTION'), err.message);
    assert.equal(err.data, '0x');
    assert.equal(err.revert, null);
  });

  test('estimates gas', async () => {
    const plain = await provider.estimateGas({ from: wallet.address, to: randomAddress(), value: 1n });
    assert.equal(plain, 21000n);
    const transfer = await token.transfer.estimateGas(randomAddress(), 1n);
    assert.ok(transfer > 21000n && transfer < 100000n, `transfer estimate ${transfer}`);
    const deploy = await new ContractFactory(REVERTER.abi, REVERTER.bytecode, wallet).getDeployTransaction();
    assert.ok((await provider.estimateGas({ ...deploy, from: wallet.address })) > 53000n);
  });

  test('reads fee data', async () => {
    const fees = await provider.getFeeData();
    const block = await provider.getBlock('latest');
    assert.ok(fees.gasPrice > 0n);
    assert.ok(fees.maxPriorityFeePerGas > 0n);
    assert.ok(fees.maxFeePerGas >= block.baseFeePerGas + fees.maxPriorityFeePerGas);
  });

  test('maps node errors: nonce too low, insufficient funds', async () => {
    let err = await rejects(() =>
      wallet.sendTransaction({ to: randomAddress(), value: 1n, nonce: 0, gasLimit: 21000 }),
    );
    assert.ok(isError(err, 'NONCE_EXPIRED'), `${err.code}: ${err.message}`);

    const empty = Wallet.createRandom(provider);
    err = await rejects(() => empty.sendTransaction({ to: randomAddress(), value: 1n, gasLimit: 21000 }));
    assert.ok(isError(err, 'INSUFFICIENT_FUNDS'), `${err.code}: ${err.message}`);
  });

  test('JsonRpcSigner: lists accounts and sends with eth_sendTransaction', async () => {
    const accounts = await provider.listAccounts();
    assert.ok(accounts.some((s) => s.address === nodeSigner.address));
    const to = randomAddress();
    const tx = await nodeSigner.sendTransaction({ to, value: parseEther('0.5') });
    const receipt = await tx.wait();
    assert.equal(receipt.status, 1);
    assert.equal(receipt.from, nodeSigner.address);
    assert.equal(await provider.getBalance(to), parseEther('0.5'));
  });

  test('JsonRpcSigner: deploys and writes through the node', async () => {
    const deployed = await new ContractFactory(TOKEN.abi, TOKEN.bytecode, nodeSigner).deploy('Node', 'NOD', 1000n);
    await deployed.waitForDeployment();
    const receipt = await (await deployed.transfer(wallet.address, 10n)).wait();
    assert.equal(receipt.status, 1);
    assert.equal(await deployed.balanceOf(wallet.address), 10n);
    assert.equal(await deployed.owner(), nodeSigner.address);
  });

  test('JsonRpcSigner: personal_sign and eth_signTypedData_v4', async () => {
    const signature = await nodeSigner.signMessage('hello anh');
    assert.equal(verifyMessage('hello anh', signature), nodeSigner.address);

    const domain = { name: 'ANH', version: '1', chainId: CHAIN_ID, verifyingContract: await token.getAddress() };
    const types = { Mail: [{ name: 'to', type: 'address' }, { name: 'contents', type: 'string' }] };
    const value = { to: wallet.address, contents: 'typed' };
    const typed = await nodeSigner.signTypedData(domain, types, value);
    assert.equal(verifyTypedData(domain, types, value, typed), nodeSigner.address);
  });
});
