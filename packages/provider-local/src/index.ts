export { canonicalJson } from '@drover/core';
export type { CreateTestImageOptions, TestImage } from './fixture.js';
export { createTestImage } from './fixture.js';
export type {
  ActiveSet,
  Bank,
  BankSizes,
  BootRecord,
  InitLocalFleetOptions,
  InjectFaultOptions,
  LocalFleetFile,
  LocalNodeSpec,
  LocalNodeState,
} from './fleet.js';
export { bankArtifactsOf, bankSizesFor, LocalFleet, seedOfNode, verityTreeBytes } from './fleet.js';
export type {
  AttachSignatureOptions,
  ChannelPointer,
  ImageSignature,
  LocalStoreOptions,
  StoredSignature,
} from './store.js';
export { digestOfRef, LocalStore, localRefOf } from './store.js';
export type { DiskRange, VerifyPartitionsOptions } from './verify.js';
export { verifyPartitions } from './verify.js';
