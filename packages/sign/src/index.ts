export type { SerializedBundle, SignArtifactOptions, SignArtifactResult, SignDsseOptions } from './bundle.js';
export {
  ARTIFACT_PREDICATE_TYPE,
  BUNDLE_V03_MEDIA_TYPE,
  IN_TOTO_PAYLOAD_TYPE,
  IN_TOTO_STATEMENT_V1,
  parseBundle,
  preAuthEncoding,
  serializeBundle,
  signArtifact,
  signDsse,
} from './bundle.js';
export type { KeylessSignerOptions } from './keyless.js';
export { DEFAULT_FULCIO_URL, DEFAULT_REKOR_URL, keylessSigner } from './keyless.js';
export type {
  GeneratedKeyPair,
  GenerateKeyPairOptions,
  KeyAlgorithm,
  LoadPrivateKeyOptions,
} from './keys.js';
export {
  generateKeyPair,
  KEY_ALGORITHMS,
  keyAlgorithmOf,
  loadPrivateKey,
  loadPublicKey,
  publicKeyHint,
} from './keys.js';
export type { KmsSignerOptions } from './kms.js';
export { kmsSigner } from './kms.js';
export type { ManifestUpdate, UpdateManifest, Waves } from './manifest.js';
export {
  addUpdate,
  compareVersions,
  isWaveReady,
  MAX_SEED,
  parseUpdateManifest,
  parseWaves,
  planWaves,
  selectUpdate,
  waveStartFor,
} from './manifest.js';
export type { Policy, PolicyDocument, PolicyIdentity, PolicyKey } from './policy.js';
export { loadPolicy, parsePolicy } from './policy.js';
export type {
  AttestProvenanceOptions,
  AttestProvenanceResult,
  BuildProvenanceOptions,
  ProvenanceStatement,
  ResourceDescriptor,
} from './provenance.js';
export {
  attestProvenance,
  buildProvenance,
  DROVER_BUILD_TYPE,
  LOCAL_BUILDER_ID,
  SLSA_PROVENANCE_V1,
} from './provenance.js';
export type { Signature, Signer, SignInput, Witnessed } from './signer.js';
export { fileSigner, keySigner } from './signer.js';
export type { TrustedLog, VerifiedLogEntry } from './tlog.js';
export { trustedLogs, verifyLogEntries } from './tlog.js';
export type { TrustedTimestampAuthority, VerifiedTimestamp } from './tsa.js';
export { requestTimestamp, trustedTimestampAuthorities, verifyTimestamps } from './tsa.js';
export type {
  FetchUpdateManifestResult,
  VerifyRepositoryOptions,
  VerifyRepositoryResult,
} from './tuf/client.js';
export { fetchUpdateManifest, verifyRepository } from './tuf/client.js';
export type { LoadRoleKeysOptions } from './tuf/keyfiles.js';
export { generateRoleKeys, loadRoleKeys } from './tuf/keyfiles.js';
export type { TufKey } from './tuf/keys.js';
export { tufKeyFor } from './tuf/keys.js';
export type { PublishUpdateOptions, PublishUpdateResult } from './tuf/manifest-target.js';
export { publishUpdate, UPDATE_MANIFEST_TARGET } from './tuf/manifest-target.js';
export type {
  AddTargetsOptions,
  InitRepositoryOptions,
  RefreshRepositoryOptions,
  RemoveTargetsOptions,
  RepositorySettings,
  RepositoryStatus,
  RoleKeys,
  RoleSettings,
  RotateRootOptions,
  TargetInput,
  TufRole,
} from './tuf/repo.js';
export {
  addTargets,
  DEFAULT_ROLE_SETTINGS,
  initRepository,
  readRepository,
  refreshRepository,
  removeTargets,
  rotateRoot,
  TUF_ROLES,
} from './tuf/repo.js';
export type { ServedDirectory } from './tuf/serve.js';
export { serveDirectory } from './tuf/serve.js';
export type { VerifyArtifactOptions, VerifyArtifactResult } from './verify.js';
export { verifyArtifact } from './verify.js';
