export { temporaryPathFor, writeAtomically } from './atomic.js';
export type { Context, LogFields, Logger, ResolvedContext } from './context.js';
export { resolveContext, silentLogger, throwIfAborted } from './context.js';
export type {
  Digest,
  DigestAlgorithm,
  DigestFileOptions,
  DigestResult,
  DigestStreamOptions,
  DigestString,
} from './digest.js';
export {
  assertDigest,
  digestBytes,
  digestFile,
  digestStream,
  formatDigest,
  isDigest,
  isDigestAlgorithm,
  parseDigest,
} from './digest.js';
export type { DroverErrorJSON, DroverErrorKind, DroverErrorOptions } from './error.js';
export { DROVER_ERROR_KINDS, DroverError, isDroverError, toDroverError } from './error.js';
export { fileIdentity } from './file-identity.js';
export type { BatchHasher, HashSession } from './hash-worker.js';
export { sharedWorkerHasher, WorkerHasher } from './hash-worker.js';
export { canonicalJson } from './json.js';
export type {
  ProgressAdvance,
  ProgressDone,
  ProgressEvent,
  ProgressStart,
  ProgressTask,
  ProgressUnit,
  StartProgressOptions,
} from './progress.js';
export { startProgress } from './progress.js';
export type { CreateRegistryOptions, Registry } from './registry.js';
export { createRegistry } from './registry.js';
export { didYouMean, editDistance } from './suggest.js';
export type {
  Artifact,
  ArtifactSource,
  Fleet,
  FleetConstraints,
  FleetMember,
  HealthResult,
  ImageRecord,
  ImageRef,
  Lease,
  MemberState,
  PartitionRecord,
  Publisher,
  StateStore,
  VerityRecord,
} from './types.js';
