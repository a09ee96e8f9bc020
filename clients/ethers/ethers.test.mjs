// ethers.js v6 against the node at ANH_RPC_URL: deploy, read, write, receipts, logs, events over
// HTTP filters and WebSocket subscriptions, revert reasons decoded by ethers (Error(string),
// Panic, custom errors), gas estimation, fee data, and the node's unlocked accounts through a
// JsonRpcSigner (eth_sendTransaction, personal_sign, eth_signTypedData_v4), the receipt being
// there as soon as a send answers, and the unknown-method error.
//
// Every value the tests see is recorded (lib/record.mjs) for compare-values.mjs, which compares
// them between anh and anvil field by field.
//
//   ANH_RPC_URL=http://127.0.0.1:8545 node --test clients/ethers/

import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
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
import { ACCOUNTS, CHAIN_ID, RPC_URL, WS_URL, artifact, devAccount, freshAccounts, isAnvil, sleep, within } from '../lib/env.mjs';
import { recorder } from '../lib/record.mjs';

const TOKEN = artifact('DevToken');
const REVERTER = artifact('Reverter');
const SUPPLY = 1_000_000n * 10n ** 18n;
const EVENT_TIMEOUT_MS = 10_000;
const record = recorder('ethers');
const fresh = freshAccounts('ethers');
const randomAddress = fresh.address;

/** What a revert error shows: ethers' code, reason, decoded revert, data, and the node's error. */
const revertSeen = (err) => ({
  code: err.code,
  reason: err.reason,
  revert: err.revert && { name: err.revert.name, signature: err.revert.signature, args: [...err.revert.args] },
  data: err.data,
  rpcError: err.info?.error,
});

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
  beforeEach((t) => record.begin(t.name));

  /** The node's own JSON of transaction `hash` and of its receipt. */
  const raw = async (hash) => ({
    tx: await provider.send('eth_getTransactionByHash', [hash]),
    receipt: await provider.send('eth_getTransactionReceipt', [hash]),
  });

  test('detects the network and reads the latest block', async () => {
    const network = await provider.getNetwork();
    assert.equal(record('chainId', network.chainId), BigInt(CHAIN_ID));
    record('clientVersion', await provider.send('web3_clientVersion', []));
    const number = record('blockNumber', await provider.getBlockNumber());
    const block = await provider.getBlock('latest');
    record('latestBlock', block.toJSON());
    assert.equal(block.number, number);
    assert.equal(typeof block.hash, 'string');
    assert.ok(block.baseFeePerGas > 0n, 'an EIP-1559 chain has a base fee');
    const byHash = await provider.getBlock(block.hash);
    assert.deepEqual(byHash.toJSON(), block.toJSON());
    record('rawLatestBlock', await provider.send('eth_getBlockByNumber', ['latest', false]));
    const balance = record('balance', await provider.getBalance(wallet.address));
    assert.ok(balance > parseEther('1'));
  });

  test('deploys a contract with a local wallet and waits for it', async () => {
    const factory = new ContractFactory(TOKEN.abi, TOKEN.bytecode, wallet);
    token = await factory.deploy('Client Token', 'CLT', SUPPLY);
    await token.waitForDeployment();
    const receipt = await token.deploymentTransaction().wait();
    assert.equal(receipt.status, 1);
    assert.equal(receipt.contractAddress, await token.getAddress());
    record('token', await raw(receipt.hash));
    const code = record('code', await provider.getCode(await token.getAddress()));
    // The runtime code is the artifact's, with the `owner` immutable filled in.
    assert.equal(code.length, TOKEN.deployedBytecode.length);
    assert.equal(code.slice(0, 66), TOKEN.deployedBytecode.slice(0, 66));

    reverter = await new ContractFactory(REVERTER.abi, REVERTER.bytecode, wallet).deploy();
    await reverter.waitForDeployment();
    record('reverter', await raw(reverter.deploymentTransaction().hash));
  });

  test('reads contract state', async () => {
    assert.equal(record('name', await token.name()), 'Client Token');
    assert.equal(record('symbol', await token.symbol()), 'CLT');
    assert.equal(record('decimals', await token.decimals()), 18n);
    assert.equal(record('totalSupply', await token.totalSupply()), SUPPLY);
    assert.equal(record('balanceOf', await token.balanceOf(wallet.address)), SUPPLY);
    assert.equal(record('owner', await token.owner()), wallet.address);
  });

  test('writes, waits for the receipt and parses its logs', async () => {
    const to = randomAddress();
    const tx = await token.transfer(to, 1234n);
    const receipt = await tx.wait();
    assert.equal(receipt.status, 1);
    assert.equal(receipt.hash, tx.hash);
    assert.equal(receipt.logs.length, 1);
    record('receipt', receipt.toJSON());
    const log = token.interface.parseLog(receipt.logs[0]);
    assert.equal(log.name, 'Transfer');
    assert.deepEqual(record('log', [log.name, ...log.args]), ['Transfer', wallet.address, to, 1234n]);
    assert.equal(record('balanceOf', await token.balanceOf(to)), 1234n);

    const fetched = await provider.getTransaction(tx.hash);
    record('tx', fetched.toJSON());
    assert.equal(fetched.from, wallet.address);
    assert.equal(fetched.blockNumber, receipt.blockNumber);
    const block = await provider.getBlock(receipt.blockNumber);
    record('block', block.toJSON());
    assert.deepEqual(block.transactions, [tx.hash]);
    assert.equal(record('pendingNonce', await provider.getTransactionCount(wallet.address, 'pending')), fetched.nonce + 1);
    record('raw', await raw(tx.hash));
    record('rawBlock', await provider.send('eth_getBlockByNumber', [`0x${receipt.blockNumber.toString(16)}`, true]));
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
    record('logs', logs.map((l) => l.toJSON()));
    assert.equal(logs.length, 1);
    assert.equal(logs[0].transactionHash, receipt.hash);
    assert.equal(logs[0].blockNumber, receipt.blockNumber);

    const events = await token.queryFilter(token.filters.Transfer(null, to), receipt.blockNumber, receipt.blockNumber);
    record('events', events.map((e) => [e.eventName, ...e.args]));
    assert.equal(events.length, 1);
    assert.equal(events[0].args.value, 5n);
    const byHash = await provider.getLogs({ blockHash: receipt.blockHash, address: await token.getAddress() });
    assert.deepEqual(byHash.map((l) => l.toJSON()), logs.map((l) => l.toJSON()));
    const all = await provider.getLogs({ address: await token.getAddress(), fromBlock: 0, toBlock: 'latest' });
    record('allTokenLogs', all.map((l) => l.toJSON()));
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
    assert.deepEqual(record('args', [...got]), [wallet.address, to, 77n]);
  });

  test('contract.on and block events over WebSocket (eth_subscribe)', async () => {
    const ws = new WebSocketProvider(WS_URL);
    // ethers unsubscribes (eth_unsubscribe) without waiting for the answer: track the requests,
    // so that the provider is destroyed only once they are answered (else the cancelled request
    // is an unhandled rejection after the test).
    const pending = new Set();
    const send = ws.send.bind(ws);
    ws.send = (method, params) => {
      const answer = send(method, params);
      pending.add(answer);
      answer.then(() => pending.delete(answer), () => pending.delete(answer));
      return answer;
    };
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
      assert.deepEqual(record('args', [...args]), [wallet.address, to, 9n]);
      // The first block announced is the one that mined the transfer.
      assert.equal(record('block', await within(EVENT_TIMEOUT_MS, 'a block over WebSocket', block)), receipt.blockNumber);
      await wsToken.removeAllListeners();
    } finally {
      await ws.removeAllListeners();
      await sleep(20);
      await Promise.allSettled([...pending]);
      await ws.destroy();
    }
  });

  test('decodes Error(string) reverts from eth_call and eth_estimateGas', async () => {
    let err = await rejects(() => reverter.failStringView('nope'));
    record('call', revertSeen(err));
    assert.ok(isError(err, 'CALL_EXCEPTION'), err.message);
    assert.equal(err.reason, 'nope');
    assert.equal(err.revert.name, 'Error');
    assert.deepEqual([...err.revert.args], ['nope']);

    err = await rejects(() => reverter.failString.estimateGas('boom'));
    record('estimateGas', revertSeen(err));
    assert.ok(isError(err, 'CALL_EXCEPTION'), err.message);
    assert.equal(err.reason, 'boom');

    err = await rejects(() => reverter.failRequire.staticCall());
    record('require', revertSeen(err));
    assert.equal(err.reason, 'require failed');
  });

  test('decodes Panic reverts (0x11 overflow, 0x12 division by zero)', async () => {
    let err = await rejects(() => reverter.panicDivideView(1, 0));
    record('divide', revertSeen(err));
    assert.ok(isError(err, 'CALL_EXCEPTION'), err.message);
    assert.equal(err.revert.name, 'Panic');
    assert.equal(BigInt(err.revert.args[0]), 0x12n);
    assert.match(err.reason, /DIVIDE_BY_ZERO/);

    err = await rejects(() => reverter.panicOverflow.estimateGas(1));
    record('overflow', revertSeen(err));
    assert.equal(err.revert.name, 'Panic');
    assert.equal(BigInt(err.revert.args[0]), 0x11n);
    assert.match(err.reason, /OVERFLOW/);
  });

  test('decodes custom errors with arguments', async () => {
    let err = await rejects(() => reverter.failCustomView(42, 'why'));
    record('failure', revertSeen(err));
    assert.ok(isError(err, 'CALL_EXCEPTION'), err.message);
    assert.equal(err.revert.name, 'Failure');
    assert.deepEqual([...err.revert.args], [42n, wallet.address, 'why']);
    assert.equal(reverter.interface.parseError(err.data).name, 'Failure');

    // Sending: the revert surfaces in gas estimation; ethers leaves custom errors to the
    // contract's interface (err.data holds the revert bytes).
    err = await rejects(() => reverter.failUnauthorized());
    record('unauthorized', revertSeen(err));
    assert.ok(isError(err, 'CALL_EXCEPTION'), err.message);
    assert.equal(reverter.interface.parseError(err.data).name, 'Unauthorized');

    // An ERC-20 transfer beyond the balance fails with InsufficientBalance(from, 0, 1).
    const poor = token.connect(nodeSigner);
    err = await rejects(() => poor.transfer(wallet.address, 1n));
    record('insufficientBalance', revertSeen(err));
    assert.ok(isError(err, 'CALL_EXCEPTION'), err.message);
    const decoded = token.interface.parseError(err.data);
    assert.equal(decoded.name, 'InsufficientBalance');
    assert.deepEqual([...decoded.args], [nodeSigner.address, 0n, 1n]);
    err = await rejects(() => token.checkTransfer(nodeSigner.address, wallet.address, 1n));
    record('checkTransfer', revertSeen(err));
    assert.equal(err.revert.name, 'InsufficientBalance');
  });

  test('a transaction mined as failed has status 0 and rolls back its writes', async () => {
    const before = record('pokes', await reverter.pokes());
    const tx = await reverter.failCustom(7, 'mined', { gasLimit: 200_000 });
    const err = await rejects(() => tx.wait());
    record('error', { code: err.code, reason: err.reason, data: err.data, status: err.receipt.status });
    assert.ok(isError(err, 'CALL_EXCEPTION'), err.message);
    assert.equal(err.receipt.status, 0);
    record('raw', await raw(tx.hash));
    assert.equal(record('pokes', await reverter.pokes()), before);
  });

  test('reverts with empty data are a CALL_EXCEPTION with data 0x', async () => {
    const err = await rejects(() => reverter.failEmpty.staticCall());
    record('error', revertSeen(err));
    assert.ok(isError(err, 'CALL_EXCEPTION'), err.message);
    assert.equal(err.data, '0x');
    assert.equal(err.revert, null);
  });

  test('estimates gas', async () => {
    const plain = await provider.estimateGas({ from: wallet.address, to: randomAddress(), value: 1n });
    assert.equal(record('value', plain), 21000n);
    // A transfer to an empty account, then the gas it uses (it refunds nothing): an estimate is
    // enough gas; how close it comes (anvil: exactly) is compared between the nodes.
    const to = randomAddress();
    const transfer = record('transfer', await token.transfer.estimateGas(to, 1n));
    const used = record('transferUsed', (await (await token.transfer(to, 1n)).wait()).gasUsed);
    assert.ok(transfer >= used, `estimate ${transfer} < used ${used}`);
    const deploy = await new ContractFactory(REVERTER.abi, REVERTER.bytecode, wallet).getDeployTransaction();
    const deployGas = record('deploy', await provider.estimateGas({ ...deploy, from: wallet.address }));
    assert.ok(deployGas > 53000n);
  });

  test('reads fee data', async () => {
    const fees = await provider.getFeeData();
    const block = await provider.getBlock('latest');
    record('fees', fees.toJSON());
    record('baseFeePerGas', block.baseFeePerGas);
    assert.ok(fees.gasPrice > 0n);
    assert.equal(fees.maxPriorityFeePerGas, 10n ** 9n, 'a 1 gwei tip');
    // ethers: maxFeePerGas = 2 × the latest base fee + the tip.
    assert.equal(fees.maxFeePerGas, 2n * block.baseFeePerGas + fees.maxPriorityFeePerGas);
    record('eth_gasPrice', await provider.send('eth_gasPrice', []));
    record('eth_maxPriorityFeePerGas', await provider.send('eth_maxPriorityFeePerGas', []));
    record('eth_feeHistory', await provider.send('eth_feeHistory', ['0x4', 'latest', [25, 75]]));
  });

  test('maps node errors: nonce too low, insufficient funds', async () => {
    let err = await rejects(() =>
      wallet.sendTransaction({ to: randomAddress(), value: 1n, nonce: 0, gasLimit: 21000 }),
    );
    record('nonceTooLow', { code: err.code, refusal: err.info?.error });
    assert.ok(isError(err, 'NONCE_EXPIRED'), `${err.code}: ${err.message}`);

    const empty = new Wallet(fresh.privateKey(), provider);
    err = await rejects(() => empty.sendTransaction({ to: randomAddress(), value: 1n, gasLimit: 21000 }));
    record('insufficientFunds', { code: err.code, refusal: err.info?.error });
    assert.ok(isError(err, 'INSUFFICIENT_FUNDS'), `${err.code}: ${err.message}`);
  });

  test('JsonRpcSigner: lists accounts and sends with eth_sendTransaction', async () => {
    const accounts = await provider.listAccounts();
    record('accounts', accounts.map((s) => s.address));
    assert.ok(accounts.some((s) => s.address === nodeSigner.address));
    const to = randomAddress();
    const tx = await nodeSigner.sendTransaction({ to, value: parseEther('0.5') });
    const receipt = await tx.wait();
    assert.equal(receipt.status, 1);
    assert.equal(receipt.from, nodeSigner.address);
    record('raw', await raw(tx.hash));
    assert.equal(record('balance', await provider.getBalance(to)), parseEther('0.5'));
  });

  test('JsonRpcSigner: deploys and writes through the node', async () => {
    const deployed = await new ContractFactory(TOKEN.abi, TOKEN.bytecode, nodeSigner).deploy('Node', 'NOD', 1000n);
    await deployed.waitForDeployment();
    record('deploy', await raw(deployed.deploymentTransaction().hash));
    const receipt = await (await deployed.transfer(wallet.address, 10n)).wait();
    assert.equal(receipt.status, 1);
    record('transfer', await raw(receipt.hash));
    assert.equal(record('balanceOf', await deployed.balanceOf(wallet.address)), 10n);
    assert.equal(record('owner', await deployed.owner()), nodeSigner.address);
  });

  test('JsonRpcSigner: personal_sign and eth_signTypedData_v4', async () => {
    const signature = record('personal_sign', await nodeSigner.signMessage('hello anh'));
    assert.equal(verifyMessage('hello anh', signature), nodeSigner.address);

    const domain = { name: 'ANH', version: '1', chainId: CHAIN_ID, verifyingContract: await token.getAddress() };
    const types = { Mail: [{ name: 'to', type: 'address' }, { name: 'contents', type: 'string' }] };
    const value = { to: wallet.address, contents: 'typed' };
    const typed = record('eth_signTypedData_v4', await nodeSigner.signTypedData(domain, types, value));
    assert.equal(verifyTypedData(domain, types, value, typed), nodeSigner.address);
  });

  test('eth_sendRawTransaction and eth_sendTransaction answer once mined: the receipt is there at once', async () => {
    // anh answers a send once the transaction is in a block (automine), as Hardhat Network does
    // (docs/rpc.md, "Transactions and mining"): one eth_getTransactionReceipt, no polling, finds
    // it. anvil answers when the transaction enters its pool and mines just after, so there the
    // receipt may or may not be there yet: recorded, not asserted (compare-values.mjs names this
    // difference "send-answers-once-mined").
    const anvil = isAnvil(await provider.send('web3_clientVersion', []));
    const sends = {
      'Wallet (eth_sendRawTransaction)': () => wallet.sendTransaction({ to: randomAddress(), value: 1n }),
      'JsonRpcSigner (eth_sendTransaction)': () => nodeSigner.sendTransaction({ to: randomAddress(), value: 1n }),
    };
    for (const [how, send] of Object.entries(sends)) {
      const tx = await send();
      const receipt = await provider.send('eth_getTransactionReceipt', [tx.hash]);
      record(`receiptAtOnce ${how}`, receipt !== null);
      if (!anvil) assert.ok(receipt, `${how}: no receipt right after the send answered`);
      const mined = await tx.wait();
      assert.equal(mined.status, 1);
      if (receipt) assert.equal(receipt.blockNumber, `0x${mined.blockNumber.toString(16)}`);
    }
  });

  test('an unknown method is -32601 "Method not found" (UNKNOWN_ERROR in ethers)', async () => {
    for (const method of ['anh_noSuchMethod', 'eth_noSuchMethod']) {
      const err = await rejects(() => provider.send(method, []));
      record(method, { code: err.code, shortMessage: err.shortMessage, error: err.error });
      // ethers coalesces only "the method … does not exist" into UNSUPPORTED_OPERATION; a
      // -32601 "Method not found" stays UNKNOWN_ERROR with the node's error attached.
      assert.ok(isError(err, 'UNKNOWN_ERROR'), `${err.code}: ${err.message}`);
      assert.ok(!isError(err, 'UNSUPPORTED_OPERATION'));
      assert.deepEqual(err.error, { code: -32601, message: 'Method not found' });
    }
  });
});
