// Type test (tsc --noEmit, run by test.sh; never executed): the SDK's declarations with viem's
// inference and with ethers. Each `Expect<Equal<…>>` fails compilation if the inferred type is
// not exactly the one written; each `@ts-expect-error` fails it if the line compiles.

import { Contract, JsonRpcProvider, Wallet, keccak256 as ethersKeccak256, recoverAddress as ethersRecoverAddress } from 'ethers';
import { createPublicClient, createWalletClient, http, keccak256, recoverAddress } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import {
  INFER_ADDRESS,
  INFO_ADDRESS,
  TRAIN_ADDRESS,
  type Attestation,
  type SealedAttestation,
  type Verified,
  attestationLeaf,
  blockDigest,
  verifyAttestation,
  verifyInclusion,
  type DecodedTensor,
  type Hex,
  type Tensor,
  decodeDnnError,
  decodeTensor,
  dnnErrorOf,
  encodeTensor,
  fixedDtype,
  getAttestations,
  inferAbi,
  modelInfoAbi,
  pushModel,
  toFixed,
  trainAbi,
} from '@anh/sdk';

type Equal<X, Y> = (<T>() => T extends X ? 1 : 2) extends <T>() => T extends Y ? 1 : 2 ? true : false;
type Expect<T extends true> = T;

declare const model: Hex;
const client = createPublicClient({ transport: http('http://127.0.0.1:8545') });
const x: Tensor = encodeTensor(new Float32Array([1, 2, 3, 4]), { shape: [1, 4] });

export async function viemInference() {
  const outputs = await client.readContract({ address: INFER_ADDRESS, abi: inferAbi, functionName: 'infer', args: [model, [x]] });
  type _outputs = Expect<Equal<typeof outputs, readonly { dtype: number; shape: readonly bigint[]; data: `0x${string}` }[]>>;

  const fixed = await client.readContract({
    address: INFER_ADDRESS,
    abi: inferAbi,
    functionName: 'inferAs',
    args: [model, [encodeTensor(['0.5', '1.25'], { dtype: fixedDtype(6), shape: [1, 2] })], 0x46],
  });
  const decoded: DecodedTensor = decodeTensor(fixed[0]);
  if (decoded.dtype === 1) {
    type _f32 = Expect<Equal<typeof decoded.data, Float32Array>>;
  }

  const { result } = await client.simulateContract({
    address: TRAIN_ADDRESS,
    abi: trainAbi,
    functionName: 'train',
    args: [model, [x, x], { steps: 1, learningRate: toFixed('0.1', 18), loss: 1, optimizer: 1 }],
  });
  type _train = Expect<Equal<typeof result, readonly [`0x${string}`, bigint]>>;

  const info = await client.readContract({ address: INFO_ADDRESS, abi: modelInfoAbi, functionName: 'modelInfo', args: [model] });
  type _owner = Expect<Equal<typeof info.owner, `0x${string}`>>;
  type _inputs = Expect<Equal<typeof info.inputs, readonly { name: string; dtype: number; shape: readonly bigint[]; dimParams: readonly string[] }[]>>;

  // @ts-expect-error: IInfer has no function `predict`.
  await client.readContract({ address: INFER_ADDRESS, abi: inferAbi, functionName: 'predict', args: [model, [x]] });
  // @ts-expect-error: a Tensor's shape is uint64[] (bigint), not numbers.
  await client.readContract({ address: INFER_ADDRESS, abi: inferAbi, functionName: 'infer', args: [model, [{ dtype: 1, shape: [1, 4], data: '0x' }]] });
}

export async function errorsAndNode() {
  const e = decodeDnnError('0x');
  if (e?.name === 'InputMismatch') {
    type _args = Expect<Equal<typeof e.args, { input: bigint; expected: string; got: string }>>;
  }
  if (e?.name === 'UnknownModel') {
    const m: Hex = e.args.model;
    // @ts-expect-error: UnknownModel has no `reason`.
    e.args.reason;
  }
  const fromViem = dnnErrorOf(new Error('x'));
  fromViem?.message satisfies string | undefined;

  const account = privateKeyToAccount('0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d');
  const walletClient = createWalletClient({ account, transport: http('http://127.0.0.1:8545') });
  const pushed = await pushModel('http://127.0.0.1:8545', new Uint8Array(), { name: 'm', walletClient });
  type _tx = Expect<Equal<typeof pushed.transactionHash, Hex | null>>;

  const provider = new JsonRpcProvider('http://127.0.0.1:8545');
  const signer = new Wallet('0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d', provider);
  await pushModel('http://127.0.0.1:8545', new Uint8Array(), { name: 'm', signer, rule: { kind: 1 } });
  // @ts-expect-error: a name is required.
  await pushModel('http://127.0.0.1:8545', new Uint8Array(), { signer });
  // @ts-expect-error: one signer, not both.
  await pushModel('http://127.0.0.1:8545', new Uint8Array(), { name: 'm', signer, walletClient });

  const fromUrl: Attestation[] | null = await getAttestations('http://127.0.0.1:8545', 1n);
  await getAttestations(client, 'latest');
  await getAttestations(provider, 3);

  // Attestations: the seal is typed; viem's and ethers' keccak256 and ethers' recoverAddress fit as they are.
  const record = fromUrl?.[0];
  if (record?.sealed) {
    const sealed: SealedAttestation = record.sealed;
    type _number = Expect<Equal<typeof sealed.blockNumber, bigint>>;
    type _proof = Expect<Equal<typeof sealed.proof, Hex[]>>;
    const leaf: Hex = attestationLeaf(record, keccak256);
    const ok: boolean = verifyInclusion(leaf, sealed.index, sealed.count, sealed.proof, sealed.root, ethersKeccak256);
    const digest: Hex = blockDigest(31337, sealed.blockNumber, sealed.parentHash, sealed.count, sealed.root, { keccak256 });
    const committee = { members: ['0x8c8d35429f74ec245f8ef2f4fd1e551cff97d650'], threshold: 1 };
    const byViem: Verified = await verifyAttestation(record, { chainId: 31337, committee, keccak256, recoverAddress: (hash, signature) => recoverAddress({ hash, signature }) });
    const byEthers: Verified = await verifyAttestation(record, { chainId: 31337n, committee, keccak256: ethersKeccak256, recoverAddress: ethersRecoverAddress });
    // @ts-expect-error: viem's recoverAddress takes one object, not (digest, signature): wrap it.
    await verifyAttestation(record, { chainId: 31337, committee, keccak256, recoverAddress });
    // @ts-expect-error: keccak256 is required.
    await verifyAttestation(record, { chainId: 31337, committee, recoverAddress: ethersRecoverAddress });
    void [ok, digest, byViem, byEthers];
  }

  // ethers takes the ABIs as they are.
  const infer = new Contract(INFER_ADDRESS, inferAbi, provider);
  const out = await infer.infer.staticCall(model, [x]);
  decodeTensor(out[0]);
  return fromUrl;
}
