// Hardhat 2.29 with hardhat-ethers, hardhat-chai-matchers and hardhat-network-helpers against the
// node: fixtures and snapshots (evm_snapshot / evm_revert), time and mining helpers
// (evm_setNextBlockTimestamp, hardhat_mine, ...), impersonation, state setters, and the chai
// matchers' event and revert assertions.
//
// Every value the tests see is recorded (lib/record.mjs, loaded with a dynamic import: this file is
// CommonJS) for compare-values.mjs, which compares them between anh and anvil field by field.

const { expect } = require('chai');
const { ethers } = require('hardhat');
const helpers = require('@nomicfoundation/hardhat-network-helpers');
const path = require('node:path');

const { loadFixture, mine, mineUpTo, takeSnapshot, time } = helpers;
const OUT = path.join(__dirname, '..', '..', '..', 'contracts', 'out');
const TOKEN = require(path.join(OUT, 'DevToken.json'));
const REVERTER = require(path.join(OUT, 'Reverter.json'));
const SUPPLY = ethers.parseEther('1000000');

/** record(key, value) of lib/record.mjs, and fresh addresses of lib/env.mjs: set in before(). */
let record;
let randomAddress;
/** Whether the node is anvil itself (it answers a send before mining it: see mined()). */
let anvil;

/**
 * The transaction `sending` sends, once mined. The chai matchers (`emit`, `changeTokenBalances`)
 * read the receipt as soon as the transaction is sent, which assumes that the node mined it
 * before eth_sendTransaction answered. Hardhat Network does, and so does anh: with automine it
 * answers once the transaction is in a block (docs/rpc.md, "Transactions and mining"), so one
 * eth_getTransactionReceipt right after the send finds it — asserted here on anh, recorded on
 * both. anvil answers when the transaction enters its pool and mines just after, so a matcher can
 * race it: on anvil this waits for the receipt.
 */
async function mined(sending) {
  const tx = await sending;
  const receipt = await ethers.provider.send('eth_getTransactionReceipt', [tx.hash]);
  record('receiptAtOnce eth_sendTransaction', receipt !== null);
  if (!anvil) expect(receipt, `no receipt right after eth_sendTransaction answered ${tx.hash}`).to.not.equal(null);
  await tx.wait();
  return tx;
}

/** The parts of a receipt that do not depend on the transaction's hash (see the impersonation test). */
const receiptSeen = (r) => ({
  status: r.status,
  gasUsed: r.gasUsed,
  cumulativeGasUsed: r.cumulativeGasUsed,
  from: r.from,
  to: r.to,
  blockNumber: r.blockNumber,
  logs: r.logs.map((l) => ({ address: l.address, topics: l.topics, data: l.data, index: l.index })),
});

/**
 * After a revert, gives the next block the base fee EIP-1559 derives from the restored head.
 * anh does that itself (a no-op there); anvil keeps its fee state across evm_revert and derives
 * the next base fee from the last block mined before the revert (measured: after 20 blocks mined
 * and reverted, its next block had 786 wei instead of 1 046 717). Pinning it makes both nodes mine
 * the same blocks after loadFixture and restore, so that their values compare.
 */
async function pinBaseFee() {
  const head = await ethers.provider.getBlock('latest');
  const target = head.gasLimit / 2n;
  let next = head.baseFeePerGas;
  if (head.gasUsed > target) {
    const delta = (head.baseFeePerGas * (head.gasUsed - target)) / target / 8n;
    next += delta > 1n ? delta : 1n;
  } else {
    next -= (head.baseFeePerGas * (target - head.gasUsed)) / target / 8n;
  }
  await helpers.setNextBlockBaseFeePerGas(next);
}

/** loadFixture(deployFixture), then pinBaseFee(). */
async function fixture() {
  const deployed = await loadFixture(deployFixture);
  await pinBaseFee();
  return deployed;
}

async function deployFixture() {
  const signers = await ethers.getSigners();
  const [owner, other] = [signers[0], signers[9]];
  const token = await new ethers.ContractFactory(TOKEN.abi, TOKEN.bytecode, owner).deploy('Hardhat Token', 'HHT', SUPPLY);
  const reverter = await new ethers.ContractFactory(REVERTER.abi, REVERTER.bytecode, owner).deploy();
  await Promise.all([token.waitForDeployment(), reverter.waitForDeployment()]);
  return { token, reverter, owner, other, deployedAt: await ethers.provider.getBlockNumber() };
}

describe('Hardhat 2 with network helpers', function () {
  // Leave the node as found (time, base fee, balances), so that the suite can run again on it.
  let outer;
  before(async function () {
    const { recorder } = await import('../../lib/record.mjs');
    const { freshAccounts, isAnvil } = await import('../../lib/env.mjs');
    record = recorder('hardhat');
    randomAddress = freshAccounts('hardhat').address;
    anvil = isAnvil(await ethers.provider.send('web3_clientVersion', []));
    outer = await takeSnapshot();
  });
  after(async function () {
    await outer?.restore();
  });
  beforeEach(function () {
    record.begin(this.currentTest.fullTitle());
  });

  it('is accepted by the network helpers (web3_clientVersion) and lists the dev accounts', async function () {
    const version = record('clientVersion', await ethers.provider.send('web3_clientVersion', []));
    expect(version.toLowerCase()).to.match(/^(anvil|hardhatnetwork)/);
    const signers = await ethers.getSigners();
    record('signers', signers.map((s) => s.address));
    expect(signers.length).to.equal(10);
    expect(signers[0].address).to.equal('0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266');
  });

  it('eth_sendTransaction answers once the transaction is mined: the receipt is there at once', async function () {
    // As Hardhat Network, anh answers a send in automine once the transaction is in a block
    // (docs/rpc.md, "Transactions and mining"); anvil answers on pool entry, so there the receipt
    // is recorded, not asserted ("send-answers-once-mined" in lib/compare-values.mjs).
    const [, , , , , , , , , signer] = await ethers.getSigners();
    const tx = await signer.sendTransaction({ to: randomAddress(), value: 1n });
    const receipt = await ethers.provider.send('eth_getTransactionReceipt', [tx.hash]);
    record('receiptAtOnce eth_sendTransaction', receipt !== null);
    if (!anvil) expect(receipt, 'no receipt right after eth_sendTransaction answered').to.not.equal(null);
    expect((await tx.wait()).status).to.equal(1);
  });

  describe('fixtures and snapshots', function () {
    it('loadFixture: a test changes state', async function () {
      const { token, owner, other, deployedAt } = await fixture();
      record('deployedAt', deployedAt);
      record('token', await token.getAddress());
      await expect(mined(token.transfer(other.address, 10n))).to.changeTokenBalances(token, [owner, other], [-10n, 10n]);
      await mine(3);
      expect(record('blockNumber', await ethers.provider.getBlockNumber())).to.equal(deployedAt + 4);
    });

    it('loadFixture: the next test starts from the fixture again (evm_revert)', async function () {
      const { token, other, deployedAt } = await fixture();
      expect(record('balanceOf', await token.balanceOf(other.address))).to.equal(0n);
      expect(record('blockNumber', await ethers.provider.getBlockNumber())).to.equal(deployedAt);
    });

    it('takeSnapshot restores balances and the block number, and can restore twice', async function () {
      const { token, other } = await fixture();
      const snapshot = await takeSnapshot();
      const block = record('blockNumber', await ethers.provider.getBlockNumber());
      await mined(token.transfer(other.address, 5n));
      await mine(4);
      expect(record('blockNumber', await ethers.provider.getBlockNumber())).to.equal(block + 5);
      await snapshot.restore();
      await pinBaseFee();
      expect(record('blockNumber', await ethers.provider.getBlockNumber())).to.equal(block);
      expect(record('balanceOf', await token.balanceOf(other.address))).to.equal(0n);
      await mined(token.transfer(other.address, 6n));
      expect(record('balanceOf', await token.balanceOf(other.address))).to.equal(6n);
      await snapshot.restore();
      expect(record('balanceOf', await token.balanceOf(other.address))).to.equal(0n);
    });

    it('evm_revert of an unknown or consumed snapshot returns false', async function () {
      const id = await ethers.provider.send('evm_snapshot', []);
      expect(record('revert', await ethers.provider.send('evm_revert', [id]))).to.equal(true);
      expect(record('revertAgain', await ethers.provider.send('evm_revert', [id]))).to.equal(false);
      expect(record('unknown', await ethers.provider.send('evm_revert', ['0x7fffffff']))).to.equal(false);
    });
  });

  describe('time and mining', function () {
    it('time.increase moves the next block forward', async function () {
      // The step is 3600 s plus the wall-clock seconds that pass meanwhile (0 or 1): not recorded.
      const before = await time.latest();
      const after = await time.increase(3600);
      expect(after).to.be.at.least(before + 3600);
      expect(after).to.be.at.most(before + 3600 + 5);
      expect(await time.latest()).to.equal(after);
    });

    it('time.setNextBlockTimestamp and time.increaseTo set exact timestamps', async function () {
      const target = (await time.latest()) + 1000;
      await time.setNextBlockTimestamp(target);
      await mine();
      expect(record('latest - target', (await time.latest()) - target)).to.equal(0);
      await time.increaseTo(target + 500);
      expect(record('latest - target after increaseTo(target + 500)', (await time.latest()) - target)).to.equal(500);
    });

    it('mine(n, interval) and mineUpTo', async function () {
      const start = await time.latestBlock();
      await mine(10, { interval: 60 });
      expect(await time.latestBlock()).to.equal(start + 10);
      const stamps = [];
      for (let n = start + 1; n <= start + 10; n++) stamps.push((await ethers.provider.getBlock(n)).timestamp);
      // 60 s between the blocks mined (the first one's own time follows the clock: not recorded).
      const steps = record('steps', stamps.slice(1).map((t, i) => t - stamps[i]));
      expect(steps).to.deep.equal(Array(9).fill(60));
      await mineUpTo(start + 15);
      expect(record('mineUpTo', (await time.latestBlock()) - start)).to.equal(15);
    });
  });

  describe('impersonation and state setters', function () {
    it('impersonates an account funded with setBalance', async function () {
      const { token } = await fixture();
      const whale = randomAddress();
      await helpers.setBalance(whale, ethers.parseEther('3'));
      expect(record('balance', await ethers.provider.getBalance(whale))).to.equal(ethers.parseEther('3'));
      await mined(token.transfer(whale, 100n));

      await helpers.impersonateAccount(whale);
      const signer = await ethers.getImpersonatedSigner(whale);
      const to = randomAddress();
      const tx = await mined(token.connect(signer).transfer(to, 40n));
      await expect(tx).to.emit(token, 'Transfer').withArgs(whale, to, 40n);
      // The hash of an impersonated transaction is not compared: anh's covers a placeholder
      // signature that depends on the sender (docs/rpc.md), anvil's its own.
      record('impersonated', receiptSeen(await tx.wait()));
      expect(record('balanceOf', await token.balanceOf(to))).to.equal(40n);
      expect(record('whaleBalance', await ethers.provider.getBalance(whale))).to.be.below(ethers.parseEther('3'));
      await helpers.stopImpersonatingAccount(whale);
      const err = await token
        .connect(signer)
        .transfer(to, 1n)
        .then(() => expect.fail('a transfer from a no longer impersonated account went through'), (e) => e);
      record('afterStop', { refusal: { code: err.code, message: err.message } });
    });

    it('setCode, setStorageAt, setNonce and getStorageAt', async function () {
      const target = randomAddress();
      await helpers.setCode(target, REVERTER.deployedBytecode);
      expect(await ethers.provider.getCode(target)).to.equal(REVERTER.deployedBytecode);
      const reverter = new ethers.Contract(target, REVERTER.abi, ethers.provider);
      await helpers.setStorageAt(target, 0, 5);
      expect(record('pokes', await reverter.pokes())).to.equal(5n);
      expect(BigInt(record('storage', await helpers.getStorageAt(target, 0)))).to.equal(5n);
      await helpers.setNonce(target, 10);
      expect(record('nonce', await ethers.provider.getTransactionCount(target))).to.equal(10);
    });

    it('setNextBlockBaseFeePerGas and setCoinbase shape the next block', async function () {
      const coinbase = randomAddress();
      const baseFee = record('baseFee', (await ethers.provider.getBlock('latest')).baseFeePerGas);
      try {
        await helpers.setNextBlockBaseFeePerGas(ethers.parseUnits('3', 'gwei'));
        await helpers.setCoinbase(coinbase);
        await mine();
        const block = await ethers.provider.getBlock('latest');
        record('block', block.toJSON());
        expect(block.baseFeePerGas).to.equal(ethers.parseUnits('3', 'gwei'));
        expect(block.miner).to.equal(coinbase);
        record('nextBlock', (await ethers.provider.send('eth_feeHistory', ['0x1', 'latest', []])).baseFeePerGas);
      } finally {
        // anvil keeps its next base fee across evm_revert: bring it back down before the
        // suite's final revert, or the next run's fee estimates fall below it.
        await helpers.setNextBlockBaseFeePerGas(baseFee);
        await mine();
      }
    });
  });

  describe('chai matchers on events and reverts', function () {
    it('emit().withArgs()', async function () {
      const { token, owner, other } = await fixture();
      const approve = await mined(token.approve(other.address, 9n));
      await expect(approve).to.emit(token, 'Approval').withArgs(owner.address, other.address, 9n);
      record('approve', (await approve.wait()).toJSON());
      const transfer = await mined(token.connect(other).transferFrom(owner.address, other.address, 9n));
      await expect(transfer).to.emit(token, 'Transfer').withArgs(owner.address, other.address, 9n);
      record('transferFrom', (await transfer.wait()).toJSON());
      expect(record('allowance', await token.allowance(owner.address, other.address))).to.equal(0n);
    });

    it('revertedWith, revertedWithPanic, revertedWithCustomError', async function () {
      const { token, reverter, owner, other } = await fixture();
      await expect(reverter.failString('nope')).to.be.revertedWith('nope');
      await expect(reverter.failRequire()).to.be.revertedWith('require failed');
      await expect(reverter.panicDivide(0)).to.be.revertedWithPanic(0x12);
      await expect(reverter.panicOverflow(1)).to.be.revertedWithPanic(0x11);
      await expect(reverter.failCustom(7, 'n')).to.be.revertedWithCustomError(reverter, 'Failure').withArgs(7n, owner.address, 'n');
      await expect(reverter.failUnauthorized()).to.be.revertedWithCustomError(reverter, 'Unauthorized');
      await expect(reverter.failEmpty()).to.be.revertedWithoutReason();
      await expect(token.connect(other).transfer(owner.address, 1n))
        .to.be.revertedWithCustomError(token, 'InsufficientBalance')
        .withArgs(other.address, 0n, 1n);
      await expect(reverter.failStringView('view')).to.be.revertedWith('view');
    });
  });
});
