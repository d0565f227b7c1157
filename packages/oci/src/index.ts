export type { OpenBlobOptions, PutBlobResult } from './blob-store.js';
export { BlobStore } from './blob-store.js';
export type { Compression } from './decompress.js';
export {
  compressionOf,
  decompress,
  decompressChunks,
  sniffCompression,
  ZstdDecompressStream,
} from './decompress.js';
export type { FlattenLimits, FlattenOptions } from './flatten.js';
export { DEFAULT_FLATTEN_LIMITS, flattenLayers } from './flatten.js';
export type { FlattenedImage, FlattenImageOptions } from './image.js';
export { flattenImage, layoutLayerSources } from './image.js';
export type {
  FlattenSourceOptions,
  ImageInspection,
  ImageSource,
  InspectImageOptions,
  TreeListingEntry,
} from './inspect.js';
export { flattenSource, inspectImage, listTree, resolveImageSource } from './inspect.js';
export type { OpenLayoutOptions, ResolvedImage } from './layout.js';
export { checkTagName, ImageLayout, manifestDigest, openLayout, parseLayoutReference } from './layout.js';
export type { ParsedManifest } from './manifest.js';
export {
  checkDescriptor,
  manifestMediaType,
  parseConfig,
  parseManifest,
  serializeManifest,
} from './manifest.js';
export type { Descriptor, ImageConfig, ImageIndex, ImageManifest, Platform } from './media-types.js';
export {
  EMPTY_DESCRIPTOR,
  INDEX_MEDIA_TYPES,
  isIndexMediaType,
  isManifestMediaType,
  MANIFEST_MEDIA_TYPES,
  MediaType,
  REF_NAME_ANNOTATION,
} from './media-types.js';
export {
  formatPlatform,
  hostPlatform,
  normalizePlatform,
  parsePlatform,
  platformMatches,
  selectPlatform,
} from './platform.js';
export type { PullImageOptions, PullResult, RegistryAccess } from './pull.js';
export { pullImage } from './pull.js';
export type { PushImageOptions, PushResult } from './push.js';
export { pushImage } from './push.js';
export type {
  BlobPushOutcome,
  FetchedManifest,
  PushBlobOptions,
  ReferrersResult,
  RegistryClientOptions,
  RetryOptions,
} from './registry/client.js';
export { isTransient, MANIFEST_ACCEPT, RegistryClient, referrersTag } from './registry/client.js';
export type { LoadCredentialsOptions, RegistryCredentials } from './registry/credentials.js';
export { dockerConfigPath, loadDockerCredentials, runCredentialHelper } from './registry/credentials.js';
export { parseChallenges, parseRetryAfter } from './registry/http.js';
export type { ImageReference } from './registry/reference.js';
export {
  formatImageReference,
  isLoopback,
  parseImageReference,
  registryApiHost,
} from './registry/reference.js';
export type { ReadTarOptions, TarEntry, TarEntryType, TarHeader, Timespec } from './tar.js';
export { ByteReader, parsePax, readTar } from './tar.js';
export type { TarWriteEntry, TarWriteOptions } from './tar-writer.js';
export { writeTar } from './tar-writer.js';
export type {
  FileContent,
  HostFileContent,
  InlineContent,
  LayerContent,
  LayerSource,
  TreeInode,
  TreeNode,
  TreeNodeType,
  TreeSummary,
  WalkEntry,
} from './tree.js';
export { RootfsTree } from './tree.js';
export type { OpenVerifiedFileOptions } from './verify.js';
export { openVerifiedFile, VerifyingStream } from './verify.js';
export type { LayerInput, WriteImageOptions, WrittenLayer } from './write-image.js';
export { writeImage, writeLayer } from './write-image.js';
