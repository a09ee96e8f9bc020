// The DNN precompiles' addresses (contracts/src/dnn/IDnn.sol), EIP-55 checksummed as viem
// expects. Types and docs: addresses.d.ts.

/** IModelRegistry: `register`, `registerWithRule`. */
export const REGISTRY_ADDRESS = '0x0000000000000000000000000000000000000d00';
/** IInfer: `infer`, `inferAs`, `inferWith`. */
export const INFER_ADDRESS = '0x0000000000000000000000000000000000000d01';
/** ITrain: `train`, `trainWith`, `trainOnly`, `trainAdapters`. */
export const TRAIN_ADDRESS = '0x0000000000000000000000000000000000000d02';
/** IModelInfo: `modelInfo`, `isRegistered`. */
export const INFO_ADDRESS = '0x0000000000000000000000000000000000000D03';

/** The four addresses by role. */
export const ADDRESSES = Object.freeze({
  REGISTRY: REGISTRY_ADDRESS,
  INFER: INFER_ADDRESS,
  TRAIN: TRAIN_ADDRESS,
  INFO: INFO_ADDRESS,
});
