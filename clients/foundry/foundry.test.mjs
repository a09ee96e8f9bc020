// Foundry (forge and cast 1.7.1, the native binaries from npm) against the node at ANH_RPC_URL:
// `forge create`, `forge script --broadcast` with the offline compiler (solc.mjs), and
// `cast send / call / estimate / receipt / logs / run / trace / rpc debug_traceTransaction`,
// including the revert reasons cast prints.
//
// Every value the tests see is recorded (lib/record.mjs) for compare-values.mjs, which compares
// them between anh and anvil field by field.
//
//   ANH_RPC_URL=http://127.0.0.1:8545 ANH_CAST=… ANH_FORGE=… node --test clients/foundry/
//   (ANH_CAST / ANH_FORGE default to the binaries under the repository's node_modules.)

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, beforeEach, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { ACCOUNTS, CLIENTS_DIR, ROOT, RPC_URL, devAccount, freshAccounts } from '../lib/env.mjs';
import { recorder } from '../lib/record.mjs';

const run = promisify(execFile);
const PROJECT = join(CLIENTS_DIR, 'foundry');
const native = (tool) => join(ROOT, 'node_modules', '@foundry-rs', `${tool}-linux-amd64`, 'bin', tool);
const CAST = process.env.ANH_CAST || native('cast');
const FORGE = process.env.ANH_FORGE || native('forge');
const TOKEN_SOURCE = '../../contracts/src/DevToken.sol:DevToken';
const REVERTER_SOURCE = '../../contracts/src/clients/Reverter.sol:Reverter';

const record = recorder('foundry');
const randomAddress = freshAccounts('foundry').address;
const local = devAccount(ACCOUNTS.foundry.local);
const nodeAccount = devAccount(ACCOUNTS.foundry.node).address;

/** Runs a Foundry binary in the forge project against the node; resolves { stdout, stderr }. */
async function foundry(bin, args, env = {}) {
  try {
    return await run(bin, args, {
      cwd: PROJECT,
      env: { ...process.env, ETH_RPC_URL: RPC_URL, FOUNDRY_DISABLE_NIGHTLY_WARNING: '1', NO_COLOR: '1', ...env },
      maxBuffer: 64 * 1024 * 1024,
      timeout: 120_000,
    });
  } catch (err) {
    err.message = `${bin.split('/').pop()} ${args.join(' ')} exited ${err.code}\n${err.stderr || ''}${err.stdout || ''}`;
    throw err;
  }
}
const cast = (...args) => foundry(CAST, args);
const forge = (args, env) => foundry(FORGE, args, env);

/** Runs cast, which must fail; returns its stderr. */
async function castFails(...args) {
  try {
    await cast(...args);
  } catch (err) {
    return `${err.stderr}`;
  }
  assert.fail(`cast ${args.join(' ')} succeeded`);
}

/** `cast <args> --json`, parsed. */
async function castJson(...args) {
  return JSON.parse((await cast(...args, '--json')).stdout);
}

describe('Foundry (forge, cast)', () => {
  let token; // deployed by forge create
  let reverter;
  let transferHash;

  before(async () => {
    for (const bin of [CAST, FORGE]) assert.ok(existsSync(bin), `${bin} is missing: run scripts/setup-node.sh`);
  });
  beforeEach((t) => record.begin(t.name));

  /** `cast <args>`'s output, trimmed and recorded under `key`. */
  const castOut = async (key, ...args) => record(key, (await cast(...args)).stdout.trim());

  test('forge build compiles offline with the solc.mjs wrapper', async () => {
    const { stdout, stderr } = await forge(['build']);
    assert.match(stdout + stderr, /Compiler run successful|No files changed/);
    assert.ok(existsSync(join(PROJECT, 'out', 'DevToken.sol', 'DevToken.json')));
  });

  test('forge create deploys with a private key', async () => {
    const { stdout } = await forge([
      'create', TOKEN_SOURCE, '--broadcast', '--json', '--private-key', local.privateKey,
      '--constructor-args', 'Forge Token', 'FRG', '1000000000000000000000',
    ]);
    const created = record('created', JSON.parse(stdout.slice(stdout.indexOf('{'))));
    assert.equal(created.deployer.toLowerCase(), local.address.toLowerCase());
    token = created.deployedTo;
    const receipt = record('receipt', await castJson('receipt', created.transactionHash));
    assert.equal(receipt.status, '0x1');
    assert.equal(receipt.contractAddress.toLowerCase(), token.toLowerCase());
    assert.equal(await castOut('symbol', 'call', token, 'symbol()(string)'), '"FRG"');

    const r = record('reverter', JSON.parse((await forge(['create', REVERTER_SOURCE, '--broadcast', '--json', '--private-key', local.privateKey])).stdout));
    reverter = r.deployedTo;
    assert.notEqual(await castOut('code', 'code', reverter), '0x');
  });

  test('forge create deploys from an unlocked node account', async () => {
    const { stdout } = await forge(['create', REVERTER_SOURCE, '--broadcast', '--json', '--unlocked', '--from', nodeAccount]);
    const created = record('created', JSON.parse(stdout.slice(stdout.indexOf('{'))));
    assert.equal(record('receipt', await castJson('receipt', created.transactionHash)).status, '0x1');
  });

  test('forge script --broadcast deploys and transacts', async () => {
    const recipient = randomAddress();
    const { stdout } = await forge(
      // --slow: each transaction is sent once the previous one is mined, so each gets a block of its
      // own on both nodes (anh mines transactions that arrive together into one block, docs/rpc.md;
      // anvil one block per transaction) and later blocks have the same numbers on both.
      ['script', 'script/Deploy.s.sol:Deploy', '--broadcast', '--slow', '--private-key', local.privateKey, '--rpc-url', RPC_URL],
      { RECIPIENT: recipient },
    );
    assert.match(stdout, /ONCHAIN EXECUTION COMPLETE & SUCCESSFUL/);
    const broadcast = JSON.parse(readFileSync(join(PROJECT, 'broadcast', 'Deploy.s.sol', '31337', 'run-latest.json'), 'utf8'));
    assert.equal(broadcast.receipts.length, 4);
    for (const receipt of broadcast.receipts) assert.equal(receipt.status, '0x1');
    record('receipts', broadcast.receipts);
    record('transactions', broadcast.transactions);
    const scriptToken = broadcast.transactions[0].contractAddress;
    const balance = await castOut('balanceOf', 'call', scriptToken, 'balanceOf(address)(uint256)', recipient);
    assert.equal(balance, '25000000000000000000 [2.5e19]');
  });

  test('cast send with a private key, then call', async () => {
    const to = randomAddress();
    const receipt = record('receipt', await castJson('send', '--private-key', local.privateKey, token, 'transfer(address,uint256)', to, '100'));
    assert.equal(receipt.status, '0x1');
    assert.equal(receipt.logs.length, 1);
    transferHash = receipt.transactionHash;
    assert.equal(await castOut('balanceOf', 'call', token, 'balanceOf(address)(uint256)', to), '100');
  });

  test('cast send from an unlocked node account (eth_sendTransaction)', async () => {
    const to = randomAddress();
    const receipt = record('receipt', await castJson('send', '--unlocked', '--from', nodeAccount, to, '--value', '1000'));
    assert.equal(receipt.status, '0x1');
    assert.equal(await castOut('balance', 'balance', to), '1000');
  });

  test('cast receipt, tx, block and logs', async () => {
    const receipt = record('receipt', await castJson('receipt', transferHash));
    assert.equal(receipt.status, '0x1');
    const tx = record('tx', await castJson('tx', transferHash));
    assert.equal(tx.from.toLowerCase(), local.address.toLowerCase());
    const block = record('block', await castJson('block', receipt.blockNumber));
    assert.deepEqual(block.transactions, [transferHash]);
    const logs = record('logs', await castJson(
      'logs', '--from-block', receipt.blockNumber, '--to-block', receipt.blockNumber, '--address', token,
      'Transfer(address indexed from, address indexed to, uint256 value)',
    ));
    assert.equal(logs.length, 1);
    assert.equal(logs[0].transactionHash, transferHash);
    const all = record('allLogs', await castJson('logs', '--from-block', '0', '--address', token));
    assert.equal(all.length, 2, 'the mint and the transfer');
  });

  test('cast estimate, gas-price, base-fee, chain-id, nonce', async () => {
    // A transfer to an account that holds tokens already (no new storage slot): what the
    // transfer then uses.
    const to = randomAddress();
    await cast('send', '--private-key', local.privateKey, token, 'transfer(address,uint256)', to, '1');
    const gas = Number(await castOut('estimate', 'estimate', token, 'transfer(address,uint256)', to, '1', '--from', local.address));
    const sent = await castJson('send', '--private-key', local.privateKey, token, 'transfer(address,uint256)', to, '1');
    assert.ok(gas >= Number(record('used', sent.gasUsed)), `estimate ${gas} < used ${Number(sent.gasUsed)}`);
    assert.ok(BigInt(await castOut('gas-price', 'gas-price')) > 0n);
    assert.ok(BigInt(await castOut('base-fee', 'base-fee')) > 0n);
    assert.equal(await castOut('chain-id', 'chain-id'), '31337');
    // This key sent: forge create ×2, forge script ×4, cast send ×3 (one test ago, and two here).
    assert.equal(await castOut('nonce', 'nonce', local.address), '9');
  });

  test('cast call shows revert reasons (string, panic, custom error)', async () => {
    let err = record('string.stderr', await castFails('call', reverter, 'failStringView(string)', 'nope'));
    assert.match(err, /execution reverted: nope/);
    err = record('panic.stderr', await castFails('call', reverter, 'panicDivideView(uint256,uint256)', '1', '0'));
    assert.match(err, /error code 3/);
    assert.match(err, /data: "0x4e487b710{62}12"/);
    err = record('custom.stderr', await castFails('call', reverter, 'failCustomView(uint256,string)', '42', 'why'));
    assert.match(err, /error code 3/);
    const selector = (await cast('sig', 'Failure(uint256,address,string)')).stdout.trim();
    assert.match(err, new RegExp(`data: "${selector}0{62}2a`));
  });

  test('cast send that reverts fails in estimation with the decoded custom error', async () => {
    const err = record('stderr', await castFails('send', '--private-key', local.privateKey, reverter, 'failCustom(uint256,string)', '7', 'x'));
    assert.match(err, /execution reverted/);
    assert.match(err, new RegExp(`Failure\\(7, ${local.address}, "x"\\)`, 'i'));
  });

  test('cast run replays a transaction with its trace', async () => {
    const { stdout } = await cast('run', transferHash);
    record('stdout', stdout);
    assert.match(stdout, /Transaction successfully executed/);
    assert.match(stdout, /transfer\(/);
    assert.match(stdout, /emit Transfer/);
  });

  test('cast trace (trace_transaction)', async () => {
    const traces = record('traces', JSON.parse((await cast('trace', transferHash)).stdout));
    assert.equal(traces[0].action.to.toLowerCase(), token.toLowerCase());
    assert.equal(traces[0].transactionHash, transferHash);
  });

  test('debug_traceTransaction: callTracer and the default struct logger', async () => {
    const call = record('callTracer', JSON.parse((await cast('rpc', 'debug_traceTransaction', transferHash, '{"tracer":"callTracer"}')).stdout));
    assert.equal(call.type, 'CALL');
    assert.equal(call.to.toLowerCase(), token.toLowerCase());
    assert.ok(call.input.startsWith('0xa9059cbb'));
    const receipt = await castJson('receipt', transferHash);
    assert.equal(BigInt(call.gasUsed), BigInt(receipt.gasUsed));
    // The struct logger, compared whole (every step: pc, op, gas, gasCost, depth, stack, ...).
    const struct = record('structLogger', JSON.parse((await cast('rpc', 'debug_traceTransaction', transferHash)).stdout));
    assert.equal(struct.failed, false);
    assert.equal(BigInt(struct.gas), BigInt(receipt.gasUsed));
    assert.ok(struct.structLogs.length > 100, `${struct.structLogs.length} steps`);
    assert.equal(struct.structLogs.at(-1).op, 'RETURN');
  });

  test('debug_traceCall with callTracer shows a revert', async () => {
    const data = (await cast('calldata', 'failString(string)', 'traced')).stdout.trim();
    const trace = record('trace', JSON.parse(
      (await cast('rpc', 'debug_traceCall', JSON.stringify({ from: local.address, to: reverter, data }), 'latest', '{"tracer":"callTracer"}')).stdout,
    ));
    assert.equal(trace.type, 'CALL');
    assert.ok(trace.error, 'the trace records the revert');
    assert.ok(trace.output.startsWith('0x08c379a0'));
  });
});
