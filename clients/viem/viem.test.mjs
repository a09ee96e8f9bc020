// viem v2 against the node at ANH_RPC_URL: deploy, read, simulate, write, receipts, logs, event
// filters, watchContractEvent over HTTP (polling) and WebSocket (eth_subscribe), revert reasons
// decoded by viem (Error(string), Panic, custom errors), gas estimation, fee estimation, and a
// JSON-RPC account (the node's unlocked dev account: eth_sendTransaction, personal_sign), the
// receipt being there as soon as a send answers, and the unknown-method error.
//
// Every value the tests see is recorded (lib/record.mjs) for compare-values.mjs, which compares
// them between anh and anvil field by field.
//
//   ANH_RPC_URL=http://127.0.0.1:8545 node --test clients/viem/

import assert from 'node:assert/strict';
import { before, beforeEach, describe, test } from 'node:test';
import {
  BaseError,
  ContractFunctionRevertedError,
  MethodNotFoundRpcError,
  createPublicClient,
  createWalletClient,
  decodeErrorResult,
  http,
  parseEther,
  parseEventLogs,
  verifyMessage,
  webSocket,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';
import { ACCOUNTS, CHAIN_ID, RPC_URL, WS_URL, artifact, devAccount, freshAccounts, isAnvil, sleep, within } from '../lib/env.mjs';
import { recorder } from '../lib/record.mjs';

const TOKEN = artifact('DevToken');
const REVERTER = artifact('Reverter');
const SUPPLY = 1_000_000n * 10n ** 18n;
const EVENT_TIMEOUT_MS = 10_000;
const chain = { ...foundry, rpcUrls: { default: { http: [RPC_URL], webSocket: [WS_URL] } } };
const record = recorder('viem');
const randomAddress = freshAccounts('viem').address;

/** The ContractFunctionRevertedError inside the error `fn` throws. */
async function revertOf(fn) {
  let err;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err, 'expected an error');
  assert.ok(err instanceof BaseError, `not a viem error: ${err}`);
  const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError);
  assert.ok(reverted, `no ContractFunctionRevertedError in: ${err.message}`);
  return reverted;
}

/** What viem shows of a revert: the error's name and reason, the decoded error, the raw data,
 *  and the node's own message (`details` of the innermost error). */
const revertSeen = (r, outer) => ({
  name: r.name,
  reason: r.reason,
  errorName: r.data?.errorName,
  args: r.data?.args,
  raw: r.raw,
  signature: r.signature,
  details: outer?.walk?.().details,
});

describe('viem', () => {
  const local = privateKeyToAccount(devAccount(ACCOUNTS.viem.local).privateKey);
  const nodeAccount = devAccount(ACCOUNTS.viem.node).address; // JSON-RPC account
  let client; // public
  let wallet; // local account: eth_sendRawTransaction
  let nodeWallet; // JSON-RPC account: eth_sendTransaction
  let token;
  let reverter;

  before(() => {
    client = createPublicClient({ chain, transport: http(RPC_URL), pollingInterval: 100 });
    wallet = createWalletClient({ chain, account: local, transport: http(RPC_URL), pollingInterval: 100 });
    nodeWallet = createWalletClient({ chain, account: nodeAccount, transport: http(RPC_URL), pollingInterval: 100 });
  });
  beforeEach((t) => record.begin(t.name));

  /** The revert viem shows for `fn`, recorded under `key`. */
  const revert = async (key, fn) => {
    let outer;
    const r = await revertOf(async () => {
      try {
        return await fn();
      } catch (e) {
        outer = e;
        throw e;
      }
    });
    record(key, revertSeen(r, outer));
    return r;
  };

  /** Waits for the receipt of transaction `hash`. */
  const mined = (hash) => client.waitForTransactionReceipt({ hash, pollingInterval: 50 });

  test('reads chain id, block number and the latest block', async () => {
    assert.equal(record('chainId', await client.getChainId()), CHAIN_ID);
    const number = record('blockNumber', await client.getBlockNumber());
    const block = record('block', await client.getBlock());
    assert.equal(block.number, number);
    assert.ok(block.baseFeePerGas > 0n);
    const again = record('blockWithTransactions', await client.getBlock({ blockHash: block.hash, includeTransactions: true }));
    assert.equal(again.number, block.number);
    assert.deepEqual(again.transactions.map((tx) => tx.hash), block.transactions);
    assert.ok(record('balance', await client.getBalance({ address: local.address })) > parseEther('1'));
  });

  test('deploys with a local account and waits for the receipt', async () => {
    const hash = await wallet.deployContract({ abi: TOKEN.abi, bytecode: TOKEN.bytecode, args: ['Viem Token', 'VTK', SUPPLY] });
    const receipt = record('receipt', await mined(hash));
    assert.equal(receipt.status, 'success');
    token = { address: receipt.contractAddress, abi: TOKEN.abi };
    const code = record('code', await client.getCode({ address: token.address }));
    assert.equal(code.length, TOKEN.deployedBytecode.length);

    const rHash = await wallet.deployContract({ abi: REVERTER.abi, bytecode: REVERTER.bytecode });
    reverter = { address: record('reverter', await mined(rHash)).contractAddress, abi: REVERTER.abi };
    record('tx', await client.getTransaction({ hash: rHash }));
  });

  test('reads with readContract', async () => {
    assert.equal(record('name', await client.readContract({ ...token, functionName: 'name' })), 'Viem Token');
    assert.equal(record('decimals', await client.readContract({ ...token, functionName: 'decimals' })), 18);
    const [supply, balance] = await Promise.all([
      client.readContract({ ...token, functionName: 'totalSupply' }),
      client.readContract({ ...token, functionName: 'balanceOf', args: [local.address] }),
    ]);
    assert.equal(record('totalSupply', supply), SUPPLY);
    assert.equal(record('balanceOf', balance), SUPPLY);
  });

  test('simulates, writes and decodes the receipt logs', async () => {
    const to = randomAddress();
    const { request, result } = await client.simulateContract({ ...token, account: local, functionName: 'transfer', args: [to, 500n] });
    assert.equal(record('result', result), true);
    record('request.gas', request.gas);
    const hash = await wallet.writeContract(request);
    const receipt = record('receipt', await mined(hash));
    assert.equal(receipt.status, 'success');
    const [log] = parseEventLogs({ abi: TOKEN.abi, logs: receipt.logs });
    assert.equal(log.eventName, 'Transfer');
    assert.deepEqual(record('log.args', log.args), { from: local.address, to, value: 500n });
    assert.equal(record('balanceOf', await client.readContract({ ...token, functionName: 'balanceOf', args: [to] })), 500n);

    const tx = record('tx', await client.getTransaction({ hash }));
    assert.equal(tx.from.toLowerCase(), local.address.toLowerCase());
    assert.equal(tx.blockNumber, receipt.blockNumber);
    assert.equal(record('pendingNonce', await client.getTransactionCount({ address: local.address, blockTag: 'pending' })), tx.nonce + 1);
    const confirmations = record('confirmations', await client.getTransactionConfirmations({ hash }));
    assert.equal(confirmations, 1n);
  });

  test('queries logs with getLogs and getContractEvents', async () => {
    const to = randomAddress();
    const receipt = await mined(await wallet.writeContract({ ...token, functionName: 'transfer', args: [to, 3n] }));
    const transferEvent = TOKEN.abi.find((x) => x.type === 'event' && x.name === 'Transfer');
    const logs = record('logs', await client.getLogs({ address: token.address, event: transferEvent, args: { to }, fromBlock: 0n, toBlock: 'latest' }));
    assert.equal(logs.length, 1);
    assert.equal(logs[0].transactionHash, receipt.transactionHash);
    assert.equal(logs[0].args.value, 3n);
    const events = record('events', await client.getContractEvents({ ...token, eventName: 'Transfer', fromBlock: receipt.blockNumber, toBlock: receipt.blockNumber }));
    assert.equal(events.length, 1);
    const byHash = record('byHash', await client.getLogs({ address: token.address, blockHash: receipt.blockHash }));
    assert.equal(byHash.length, 1);
  });

  test('event and block filters (eth_newFilter, eth_newBlockFilter, eth_getFilterChanges, eth_getFilterLogs)', async () => {
    const to = randomAddress();
    const filter = await client.createContractEventFilter({ ...token, eventName: 'Transfer', args: { to } });
    const blocks = await client.createBlockFilter();
    const receipt = await mined(await wallet.writeContract({ ...token, functionName: 'transfer', args: [to, 4n] }));
    const changes = record('changes', await client.getFilterChanges({ filter }));
    assert.equal(changes.length, 1);
    assert.equal(changes[0].args.value, 4n);
    assert.deepEqual(await client.getFilterChanges({ filter }), [], 'changes are drained');
    const all = record('filterLogs', await client.getFilterLogs({ filter }));
    assert.equal(all.length, 1);
    const hashes = record('blockHashes', await client.getFilterChanges({ filter: blocks }));
    assert.deepEqual(hashes, [receipt.blockHash], 'the block filter saw the block, and only it');
    assert.equal(await client.uninstallFilter({ filter }), true);
    assert.equal(await client.uninstallFilter({ filter: blocks }), true);
  });

  test('watchContractEvent over HTTP', async () => {
    const to = randomAddress();
    let unwatch;
    const seen = new Promise((resolve, reject) => {
      unwatch = client.watchContractEvent({ ...token, eventName: 'Transfer', args: { to }, pollingInterval: 100, onLogs: resolve, onError: reject });
    });
    try {
      await sleep(300);
      await mined(await wallet.writeContract({ ...token, functionName: 'transfer', args: [to, 6n] }));
      const logs = record('logs', await within(EVENT_TIMEOUT_MS, 'Transfer over HTTP', seen));
      assert.equal(logs[0].args.to, to);
      assert.equal(logs[0].args.value, 6n);
    } finally {
      unwatch();
    }
  });

  test('watchContractEvent and watchBlockNumber over WebSocket (eth_subscribe)', async () => {
    const ws = createPublicClient({ chain, transport: webSocket(WS_URL) });
    const unwatch = [];
    try {
      const to = randomAddress();
      const logsSeen = new Promise((resolve, reject) => {
        unwatch.push(ws.watchContractEvent({ ...token, eventName: 'Transfer', args: { to }, onLogs: resolve, onError: reject }));
      });
      const blockSeen = new Promise((resolve, reject) => {
        unwatch.push(ws.watchBlockNumber({ onBlockNumber: resolve, onError: reject, emitOnBegin: false }));
      });
      await sleep(300);
      const receipt = await mined(await wallet.writeContract({ ...token, functionName: 'transfer', args: [to, 8n] }));
      const logs = record('logs', await within(EVENT_TIMEOUT_MS, 'Transfer over WebSocket', logsSeen));
      assert.equal(logs[0].args.value, 8n);
      // The first block announced is the one that mined the transfer.
      assert.equal(record('blockNumber', await within(EVENT_TIMEOUT_MS, 'a block over WebSocket', blockSeen)), receipt.blockNumber);
    } finally {
      for (const u of unwatch) u();
      const transport = await ws.transport.getRpcClient?.();
      transport?.close?.();
    }
  });

  test('decodes Error(string) reverts', async () => {
    let r = await revert('readContract', () => client.readContract({ ...reverter, functionName: 'failStringView', args: ['nope'] }));
    assert.equal(r.reason, 'nope');
    assert.equal(r.data.errorName, 'Error');
    r = await revert('simulateContract', () => client.simulateContract({ ...reverter, account: local, functionName: 'failString', args: ['boom'] }));
    assert.equal(r.reason, 'boom');
    r = await revert('require', () => client.simulateContract({ ...reverter, account: local, functionName: 'failRequire' }));
    assert.equal(r.reason, 'require failed');
  });

  test('decodes Panic reverts (0x11, 0x12)', async () => {
    let r = await revert('divide', () => client.readContract({ ...reverter, functionName: 'panicDivideView', args: [1n, 0n] }));
    assert.equal(r.data.errorName, 'Panic');
    assert.equal(r.data.args[0], 0x12n);
    assert.match(r.reason, /divide|division/i);
    r = await revert('overflow', () => client.simulateContract({ ...reverter, account: local, functionName: 'panicOverflow', args: [1n] }));
    assert.equal(r.data.errorName, 'Panic');
    assert.equal(r.data.args[0], 0x11n);
  });

  test('decodes custom errors with arguments', async () => {
    let r = await revert('failure', () => client.readContract({ ...reverter, account: local, functionName: 'failCustomView', args: [42n, 'why'] }));
    assert.equal(r.data.errorName, 'Failure');
    assert.deepEqual(r.data.args, [42n, local.address, 'why']);
    r = await revert('unauthorized', () => client.simulateContract({ ...reverter, account: local, functionName: 'failUnauthorized' }));
    assert.equal(r.data.errorName, 'Unauthorized');
    r = await revert('insufficientBalance', () =>
      client.simulateContract({ ...token, account: nodeAccount, functionName: 'transfer', args: [local.address, 1n] }),
    );
    assert.equal(r.data.errorName, 'InsufficientBalance');
    assert.deepEqual(r.data.args, [nodeAccount, 0n, 1n]);
    // The same error out of eth_estimateGas.
    r = await revert('estimateContractGas', () =>
      client.estimateContractGas({ ...token, account: nodeAccount, functionName: 'transfer', args: [local.address, 1n] }),
    );
    assert.equal(r.data.errorName, 'InsufficientBalance');
    // The raw revert bytes decode with decodeErrorResult.
    assert.equal(decodeErrorResult({ abi: TOKEN.abi, data: r.raw }).errorName, 'InsufficientBalance');
  });

  test('a transaction mined as failed has status reverted and rolls back', async () => {
    const before = record('pokes', await client.readContract({ ...reverter, functionName: 'pokes' }));
    const hash = await wallet.writeContract({ ...reverter, functionName: 'failCustom', args: [7n, 'mined'], gas: 200_000n });
    const receipt = record('receipt', await mined(hash));
    assert.equal(receipt.status, 'reverted');
    assert.equal(record('pokes', await client.readContract({ ...reverter, functionName: 'pokes' })), before);
  });

  test('estimates gas', async () => {
    assert.equal(record('value', await client.estimateGas({ account: local, to: randomAddress(), value: 1n })), 21000n);
    // A transfer to an empty account; then the gas it uses (it refunds nothing).
    const to = randomAddress();
    const gas = record('transfer', await client.estimateContractGas({ ...token, account: local, functionName: 'transfer', args: [to, 1n] }));
    const used = record('transferUsed', (await mined(await wallet.writeContract({ ...token, functionName: 'transfer', args: [to, 1n] }))).gasUsed);
    assert.ok(gas >= used, `estimate ${gas} < used ${used}`);
  });

  test('estimates fees (EIP-1559 and legacy)', async () => {
    const fees = record('fees', await client.estimateFeesPerGas());
    const block = await client.getBlock();
    record('baseFeePerGas', block.baseFeePerGas);
    assert.equal(fees.maxPriorityFeePerGas, 10n ** 9n, 'a 1 gwei tip');
    // viem: maxFeePerGas = 1.2 × the latest base fee + the tip.
    assert.equal(fees.maxFeePerGas, (block.baseFeePerGas * 12n) / 10n + fees.maxPriorityFeePerGas);
    assert.equal(record('maxPriorityFeePerGas', await client.estimateMaxPriorityFeePerGas()), 10n ** 9n);
    assert.ok(record('gasPrice', await client.getGasPrice()) > 0n);
    const legacy = record('legacy', await client.estimateFeesPerGas({ type: 'legacy' }));
    assert.ok(legacy.gasPrice > 0n);
    const history = record('feeHistory', await client.getFeeHistory({ blockCount: 4, rewardPercentiles: [25, 75] }));
    assert.equal(history.baseFeePerGas.length, 5, '4 blocks and the next');
    assert.equal(history.reward.length, 4);
  });

  test('JSON-RPC account: sends and writes with eth_sendTransaction', async () => {
    assert.ok(record('addresses', await nodeWallet.getAddresses()).map((a) => a.toLowerCase()).includes(nodeAccount.toLowerCase()));
    const to = randomAddress();
    const hash = await nodeWallet.sendTransaction({ to, value: parseEther('0.25') });
    const receipt = record('receipt', await mined(hash));
    record('tx', await client.getTransaction({ hash }));
    assert.equal(receipt.status, 'success');
    assert.equal(receipt.from.toLowerCase(), nodeAccount.toLowerCase());
    assert.equal(record('balance', await client.getBalance({ address: to })), parseEther('0.25'));

    const deployed = record('deployed', await mined(await nodeWallet.deployContract({ abi: TOKEN.abi, bytecode: TOKEN.bytecode, args: ['N', 'N', 100n] })));
    const mine = { address: deployed.contractAddress, abi: TOKEN.abi };
    record('transfer', await mined(await nodeWallet.writeContract({ ...mine, functionName: 'transfer', args: [to, 40n] })));
    assert.equal(record('balanceOf', await client.readContract({ ...mine, functionName: 'balanceOf', args: [to] })), 40n);
  });

  test('JSON-RPC account: personal_sign', async () => {
    const signature = record('signature', await nodeWallet.signMessage({ message: 'hello anh' }));
    assert.equal(await verifyMessage({ address: nodeAccount, message: 'hello anh', signature }), true);
  });

  test('eth_sendRawTransaction and eth_sendTransaction answer once mined: the receipt is there at once', async () => {
    // anh answers a send once the transaction is in a block (automine), as Hardhat Network does
    // (docs/rpc.md, "Transactions and mining"): one eth_getTransactionReceipt, no polling, finds
    // it. anvil answers on pool entry: recorded there, not asserted ("send-answers-once-mined" in
    // lib/compare-values.mjs).
    const anvil = isAnvil(await client.request({ method: 'web3_clientVersion' }));
    const sends = {
      'local account (eth_sendRawTransaction)': () => wallet.sendTransaction({ to: randomAddress(), value: 1n }),
      'JSON-RPC account (eth_sendTransaction)': () => nodeWallet.sendTransaction({ to: randomAddress(), value: 1n }),
    };
    for (const [how, send] of Object.entries(sends)) {
      const hash = await send();
      const receipt = await client.request({ method: 'eth_getTransactionReceipt', params: [hash] });
      record(`receiptAtOnce ${how}`, receipt !== null);
      if (!anvil) assert.ok(receipt, `${how}: no receipt right after the send answered`);
      assert.equal((await mined(hash)).status, 'success');
    }
  });

  test('an unknown method is MethodNotFoundRpcError (-32601 "Method not found")', async () => {
    for (const method of ['anh_noSuchMethod', 'eth_noSuchMethod']) {
      let err;
      try {
        await client.request({ method, params: [] });
      } catch (e) {
        err = e;
      }
      assert.ok(err, `${method} succeeded`);
      record(method, { name: err.name, code: err.code, shortMessage: err.shortMessage, details: err.details });
      assert.ok(err instanceof MethodNotFoundRpcError, `${err.name}: ${err.message}`);
      assert.equal(err.code, -32601);
      assert.equal(err.details, 'Method not found');
    }
  });
});
