/**
 * `@anh/sdk`: ANH's DNN precompiles from JavaScript and TypeScript, for viem 2 and ethers 6,
 * with no runtime dependencies.
 *
 * - tensors: `encodeTensor`, `decodeTensor`, `encodeTensors`, `decodeTensors`, `toNumbers`,
 *   fixed-point `toFixed`, `fromFixed`, `formatFixed`, `DTYPE`, `fixedDtype`;
 * - the precompiles: `registryAbi`, `inferAbi`, `trainAbi`, `modelInfoAbi`, `dnnErrorsAbi`
 *   (literal types: viem infers arguments and results) and `REGISTRY_ADDRESS`, `INFER_ADDRESS`,
 *   `TRAIN_ADDRESS`, `INFO_ADDRESS`;
 * - the node: `pushModel`, `uploadModel`, `registerModel`, `isRegistered`, `getAttestations`, `rpc`;
 * - attestations, one job at a time: `verifyAttestation`, `attestationLeaf`, `verifyInclusion`,
 *   `blockDigest`, `attestationDigest`, `ruleHash`, `merkleRoot`, `inclusionProof` (with the
 *   caller's keccak256 and recoverAddress, from viem or ethers);
 * - errors: `decodeDnnError`, `dnnErrorOf`, `revertDataOf`, `AnhError`.
 *
 * @packageDocumentation
 */

export * from './abi.js';
export * from './addresses.js';
export * from './tensor.js';
export * from './errors.js';
export * from './node.js';
export * from './attest.js';
