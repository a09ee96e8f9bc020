// Hardhat 2 project of the client-compatibility suite: runs test/ against the node at
// ANH_RPC_URL as network `anh`:
//
//   ANH_RPC_URL=http://127.0.0.1:8545 npx hardhat test --network anh --no-compile   (in clients/hardhat)
//
// Nothing is compiled here: the tests deploy the repository's artifacts (contracts/out, built by
// contracts/build.mjs with solc-js), so Hardhat never needs to download a compiler.

require('@nomicfoundation/hardhat-ethers');
require('@nomicfoundation/hardhat-chai-matchers');

/** @type import('hardhat/config').HardhatUserConfig */
module.exports = {
  solidity: '0.8.28',
  defaultNetwork: 'anh',
  networks: {
    anh: { url: process.env.ANH_RPC_URL || 'http://127.0.0.1:8545', timeout: 60_000 },
  },
  mocha: { timeout: 60_000 },
};
