export { canonicalJson } from '@drover/core';
export {
  ARTIFACT_MEDIA_TYPES,
  BUILD_STEPS,
  build,
  DROVER_BUILDER_VERSION,
  deriveVerityUuid,
  STEP_VERSIONS,
} from './build/build.js';
export type { CacheEntry, PlaceMethod } from './build/cache.js';
export { copySparse, defaultCacheDir, placeFile, StepCache, stepKey } from './build/cache.js';
export { IMAGE_RECORD_SCHEMA_VERSION, imageRecordJsonSchema } from './build/record-schema.js';
export {
  checkReproducible,
  compareVariantBuilds,
  firstDifference,
} from './build/reproducible.js';
export type { VeritySigner } from './build/signing-key.js';
export { loadVeritySigner } from './build/signing-key.js';
export type {
  BuildOptions,
  BuildResult,
  BuildStep,
  ReproducibilityDifference,
  ReproducibilityReport,
  VariantBuild,
} from './build/types.js';
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
  StartDiskDigestOptions,
  WriteDiskOptions,
  WriteGptPrioOptions,
} from './gpt/disk.js';
export {
  DiskDigest,
  diskLayoutOf,
  readDisk,
  readGptPrio,
  startDiskDigest,
  writeDisk,
  writeGptPrio,
} from './gpt/disk.js';
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
export type {
  ArtifactChange,
  DiffImagesOptions,
  FileChange,
  FileChangeKind,
  ImageDiff,
  ImageSide,
  PackageChange,
  PartitionChange,
  RenderImageDiffOptions,
} from './report/diff.js';
export { diffImages, formatBytes, renderImageDiff } from './report/diff.js';
export type {
  ArtifactCheck,
  DiskInspection,
  FilesystemInfo,
  ImageInspectionReport,
  InspectImageFileOptions,
  PartitionInspection,
  VerityInfo,
} from './report/inspect.js';
export { inspectImageFile, readImageRecord } from './report/inspect.js';
export type { TreeFromDirectoryOptions, TreeFromTarOptions } from './rootfs/base.js';
export { treeFromDirectory, treeFromTar } from './rootfs/base.js';
export type { FilesystemResult, WriteFilesystemOptions } from './rootfs/filesystem.js';
export { writeFilesystem } from './rootfs/filesystem.js';
export type { ApplyLayersOptions, ApplyLayersResult } from './rootfs/layers.js';
export { applyLayers } from './rootfs/layers.js';
export type { NormalizeTreeOptions, NormalizeTreeResult } from './rootfs/normalize.js';
export { normalizeTree } from './rootfs/normalize.js';
export type { WriteRootfsTarOptions } from './rootfs/tar-output.js';
export { writeRootfsTar } from './rootfs/tar-output.js';
export type { FileDigest, FileDigests } from './rootfs/types.js';
export type { FileEntry, FileManifest, FileManifestOptions } from './sbom/files.js';
export { EMPTY_SHA1, EMPTY_SHA256, FILE_MANIFEST_MEDIA_TYPE, fileManifest } from './sbom/files.js';
export type { FindPackagesOptions, PackageDatabase, PackageInfo, PackageScan } from './sbom/packages.js';
export { findPackages, scanPackageDatabases } from './sbom/packages.js';
export type { GenerateSbomOptions, SpdxDocument } from './sbom/spdx.js';
export { generateSbom, SPDX_MEDIA_TYPE, sbomPackages } from './sbom/spdx.js';
