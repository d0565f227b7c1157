export { crc32, crc32c, erofsChecksum } from './crc.js';
export type { ErofsTreeFromDirectoryOptions } from './erofs/from-directory.js';
export { erofsTreeFromDirectory } from './erofs/from-directory.js';
export type { ErofsSuperblockInfo, ReadErofsSuperblockOptions } from './erofs/superblock.js';
export { readErofsSuperblock } from './erofs/superblock.js';
export type {
  ErofsContent,
  ErofsContentSource,
  ErofsDevice,
  ErofsDirectory,
  ErofsFile,
  ErofsHostFile,
  ErofsNode,
  ErofsNodeBase,
  ErofsNodeType,
  ErofsSpecial,
  ErofsSymlink,
  ErofsTime,
  ErofsXattrs,
} from './erofs/types.js';
export type { ErofsContentReader, ErofsResult, WriteErofsOptions } from './erofs/write.js';
export { writeErofs } from './erofs/write.js';
export type {
  ChunkSource,
  DiskInfo,
  DiskResult,
  PartitionSelector,
  PartitionSource,
  ReadDiskOptions,
  ReadGptPrioOptions,
  WriteDiskOptions,
  WriteGptPrioOptions,
} from './gpt/disk.js';
export { diskLayoutOf, readDisk, readGptPrio, writeDisk, writeGptPrio } from './gpt/disk.js';
export { decodeGptGuid, encodeGptGuid, isGuid } from './gpt/guid.js';
export type {
  AbLayoutOptions,
  DiskLayout,
  DiskPlan,
  DpsArch,
  DpsLayoutOptions,
  GptPrio,
  PartitionSpec,
} from './gpt/layout.js';
export {
  abLabels,
  abLayout,
  BOTTLEROCKET_TYPES,
  DPS_COMMON_TYPES,
  DPS_TYPES,
  decodeGptPrio,
  dpsArch,
  dpsLayout,
  encodeGptPrio,
  GPT_ATTR_GROWFS,
  GPT_ATTR_NO_AUTO,
  GPT_ATTR_READ_ONLY,
  planDisk,
} from './gpt/layout.js';
