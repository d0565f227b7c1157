export type { CreateTestImageOptions, TestImage } from './fixture.js';
export { createTestImage } from './fixture.js';
export type {
  Bank,
  BootRecord,
  InitLocalFleetOptions,
  InjectFaultOptions,
  LocalFleetFile,
  LocalNodeSpec,
  LocalNodeState,
} from './fleet.js';
export { bankArtifactsOf, LocalFleet, seedOfNode, verityTreeBytes } from './fleet.js';
export type { ChannelPointer, LocalStoreOptions } from './store.js';
export { canonicalJson, digestOfRef, LocalStore, localRefOf } from './store.js';
export type { DiskRange, VerifyPartitionsOptions } from './verify.js';
export { verifyPartitions } from './verify.js';
