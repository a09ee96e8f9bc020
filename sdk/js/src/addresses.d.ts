/**
 * The DNN precompiles' addresses (contracts/src/dnn/IDnn.sol), EIP-55 checksummed, so that
 * viem's strict address checks accept them.
 *
 * @module
 */

/** 0x…0D00, IModelRegistry (`registryAbi`): `register`, `registerWithRule`. */
export declare const REGISTRY_ADDRESS: '0x0000000000000000000000000000000000000d00';
/** 0x…0D01, IInfer (`inferAbi`): `infer`, `inferAs`, `inferWith`. */
export declare const INFER_ADDRESS: '0x0000000000000000000000000000000000000d01';
/** 0x…0D02, ITrain (`trainAbi`): `train`, `trainWith`, `trainOnly`, `trainAdapters`. */
export declare const TRAIN_ADDRESS: '0x0000000000000000000000000000000000000d02';
/** 0x…0D03, IModelInfo (`modelInfoAbi`): `modelInfo`, `isRegistered`. */
export declare const INFO_ADDRESS: '0x0000000000000000000000000000000000000D03';

/** The four addresses by role. */
export declare const ADDRESSES: {
  readonly REGISTRY: typeof REGISTRY_ADDRESS;
  readonly INFER: typeof INFER_ADDRESS;
  readonly TRAIN: typeof TRAIN_ADDRESS;
  readonly INFO: typeof INFO_ADDRESS;
};
