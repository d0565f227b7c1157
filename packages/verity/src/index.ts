export type { ReadVeritySuperblockOptions, VerityDump } from './dump.js';
export { readVeritySuperblock } from './dump.js';
export type { FecResult } from './fec.js';
export type { FormatResult, FormatVerityOptions } from './format.js';
export { formatVerity } from './format.js';
export type { FecBlock, FecReport, RepairResult, RepairVerityOptions } from './repair.js';
export { repairVerity } from './repair.js';
export type {
  RootHashSignature,
  RootHashSignatureCheck,
  SignRootHashOptions,
  VerifyRootHashSignatureOptions,
} from './sign.js';
export { parseDpsSignature, renderDpsSignature, signRootHash, verifyRootHashSignature } from './sign.js';
export type { VeritySuperblock } from './superblock.js';
export type { RenderVerityTableOptions, VerityCorruptionMode, VerityTable } from './table.js';
export { renderVerityTable, verityKernelArgument, verityPartitionUuids } from './table.js';
export type {
  VerifyFecOptions,
  VerifyResult,
  VerifyVerityOptions,
  VerityIssue,
  VerityIssueCounts,
} from './verify.js';
export { verifyVerity } from './verify.js';
