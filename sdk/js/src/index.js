// @anh/sdk: ANH's DNN precompiles from JavaScript, for viem and ethers v6, with no runtime
// dependencies. Types and docs: index.d.ts and the files it re-exports; README.md.

export * from './abi.js';
export * from './addresses.js';
export * from './tensor.js';
export * from './errors.js';
export * from './node.js';
export * from './attest.js';
