// Hardhat 2.29 with hardhat-ethers, hardhat-chai-matchers and hardhat-network-helpers against the
// node: fixtures and snapshots (evm_snapshot / evm_revert), time and mining helpers
// (evm_setNextBlockTimestamp, hardhat_mine, ...), impersonation, state setters, and the chai
// matchers' event and revert assertions.

const { expect } = require('chai');
const { ethers } = require('hardhat');
const helpers = require('@nomicfoundation/hardhat-network-helpers');
const path = require('node:path');

const { loadFixture, mine, mineUpTo, takeSnapshot, time } = helpers;
const OUT = path.join(__dirname, '..', '..', '..', 'contracts', 'out');
const TOKEN = require(path.join(OUT, 'DevToken.json'));
const REVERTER = require(path.join(OUT, 'Reverter.json'));
const SUPPLY = ethers.parseEther('1000000');

/**
 * The transaction `sending` sends, once mined. The chai matchers read the receipt as soon as the
 * transaction is sent, which assumes that the node mined it before eth_sendTransaction returned
 * (Hardhat Network does; anvil and anh mine just after, so a matcher can race them).
 */
async function mined(sending) {
  const tx = await sending;
  await tx.wait();
  return tx;
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
    outer = await takeSnapshot();
  });
  after(async function () {
    await outer?.restore();
  });

  it('is accepted by the network helpers (web3_clientVersion) and lists the dev accounts', async function () {
    const version = await ethers.provider.send('web3_clientVersion', []);
    expect(version.toLowerCase()).to.match(/^(anvil|hardhatnetwork)/);
    const signers = await ethers.getSigners();
    expect(signers.length).to.be.at.least(10);
    expect(signers[0].address).to.equal('0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266');
  });

  describe('fixtures and snapshots', function () {
    it('loadFixture: a test changes state', async function () {
      const { token, owner, other } = await loadFixture(deployFixture);
      await expect(mined(token.transfer(other.address, 10n))).to.changeTokenBalances(token, [owner, other], [-10n, 10n]);
      await mine(3);
    });

    it('loadFixture: the next test starts from the fixture again (evm_revert)', async function () {
      const { token, other, deployedAt } = await loadFixture(deployFixture);
      expect(await token.balanceOf(other.address)).to.equal(0n);
      expect(await ethers.provider.getBlockNumber()).to.equal(deployedAt);
    });

    it('takeSnapshot restores balances and the block number, and can restore twice', async function () {
      const { token, other } = await loadFixture(deployFixture);
      const snapshot = await takeSnapshot();
      const block = await ethers.provider.getBlockNumber();
      await (await token.transfer(other.address, 5n)).wait();
      await mine(4);
      await snapshot.restore();
      expect(await ethers.provider.getBlockNumber()).to.equal(block);
      expect(await token.balanceOf(other.address)).to.equal(0n);
      await (await token.transfer(other.address, 6n)).wait();
      await snapshot.restore();
      expect(await token.balanceOf(other.address)).to.equal(0n);
    });

    it('evm_revert of an unknown or consumed snapshot returns false', async function () {
      const id = await ethers.provider.send('evm_snapshot', []);
      expect(await ethers.provider.send('evm_revert', [id])).to.equal(true);
      expect(await ethers.provider.send('evm_revert', [id])).to.equal(false);
    });
  });

  describe('time and mining', function () {
    it('time.increase moves the next block forward', async function () {
      const before = await time.latest();
      const after = await time.increase(3600);
      expect(after).to.be.at.least(before + 3600);
      expect(await time.latest()).to.equal(after);
    });

    it('time.setNextBlockTimestamp and time.increaseTo set exact timestamps', async function () {
      const target = (await time.latest()) + 1000;
      await time.setNextBlockTimestamp(target);
      await mine();
      expect(await time.latest()).to.equal(target);
      await time.increaseTo(target + 500);
      expect(await time.latest()).to.equal(target + 500);
    });

    it('mine(n, interval) and mineUpTo', async function () {
      const start = await time.latestBlock();
      const t0 = await time.latest();
      await mine(10, { interval: 60 });
      expect(await time.latestBlock()).to.equal(start + 10);
      expect(await time.latest()).to.be.at.least(t0 + 9 * 60);
      await mineUpTo(start + 15);
      expect(await time.latestBlock()).to.equal(start + 15);
    });
  });

  describe('impersonation and state setters', function () {
    it('impersonates an account funded with setBalance', async function () {
      const { token } = await loadFixture(deployFixture);
      const whale = ethers.Wallet.createRandom().address;
      await helpers.setBalance(whale, ethers.parseEther('3'));
      expect(await ethers.provider.getBalance(whale)).to.equal(ethers.parseEther('3'));
      await (await token.transfer(whale, 100n)).wait();

      await helpers.impersonateAccount(whale);
      const signer = await ethers.getImpersonatedSigner(whale);
      const to = ethers.Wallet.createRandom().address;
      await expect(mined(token.connect(signer).transfer(to, 40n))).to.emit(token, 'Transfer').withArgs(whale, to, 40n);
      expect(await token.balanceOf(to)).to.equal(40n);
      await helpers.stopImpersonatingAccount(whale);
      await expect(token.connect(signer).transfer(to, 1n)).to.be.rejected;
    });

    it('setCode, setStorageAt, setNonce and getStorageAt', async function () {
      const target = ethers.Wallet.createRandom().address;
      await helpers.setCode(target, REVERTER.deployedBytecode);
      expect(await ethers.provider.getCode(target)).to.equal(REVERTER.deployedBytecode);
      const reverter = new ethers.Contract(target, REVERTER.abi, ethers.provider);
      await helpers.setStorageAt(target, 0, 5);
      expect(await reverter.pokes()).to.equal(5n);
      expect(BigInt(await helpers.getStorageAt(target, 0))).to.equal(5n);
      await helpers.setNonce(target, 10);
      expect(await ethers.provider.getTransactionCount(target)).to.equal(10);
    });

    it('setNextBlockBaseFeePerGas and setCoinbase shape the next block', async function () {
      const coinbase = ethers.Wallet.createRandom().address;
      const baseFee = (await ethers.provider.getBlock('latest')).baseFeePerGas;
      try {
        await helpers.setNextBlockBaseFeePerGas(ethers.parseUnits('3', 'gwei'));
        await helpers.setCoinbase(coinbase);
        await mine();
        const block = await ethers.provider.getBlock('latest');
        expect(block.baseFeePerGas).to.equal(ethers.parseUnits('3', 'gwei'));
        expect(block.miner).to.equal(coinbase);
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
      const { token, owner, other } = await loadFixture(deployFixture);
      await expect(mined(token.approve(other.address, 9n))).to.emit(token, 'Approval').withArgs(owner.address, other.address, 9n);
      await expect(mined(token.connect(other).transferFrom(owner.address, other.address, 9n)))
        .to.emit(token, 'Transfer')
        .withArgs(owner.address, other.address, 9n);
    });

    it('revertedWith, revertedWithPanic, revertedWithCustomError', async function () {
      const { token, reverter, owner, other } = await loadFixture(deployFixture);
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
