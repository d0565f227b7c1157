import type { Context } from './context.js';
import type { DigestString } from './digest.js';

// The documents and interfaces that hold drover together. They start small here; the issues that own each part
// (image, verity, sign, rollout, providers) fill them in. Every field added later must be optional or come with a
// schema version bump.

/** A file drover produced or consumed, addressed by content. */
export interface Artifact {
  /** Role in the image: `disk`, `root`, `root-verity`, `sbom`, `record`, `rootfs-tar`, … */
  name: string;
  /** File name relative to the output directory. */
  path: string;
  digest: DigestString;
  size: number;
  mediaType: string;
}

/** One partition of a built disk. Offsets and sizes in bytes. */
export interface PartitionRecord {
  /** 1-based GPT entry number. */
  number: number;
  label: string;
  typeGuid: string;
  uuid: string;
  offset: number;
  size: number;
  /** GPT attribute bits, as a decimal string (u64 does not fit a JSON number). */
  attributes?: string;
  digest?: DigestString;
}

/** dm-verity parameters of an image, enough to rebuild the dm table. */
export interface VerityRecord {
  hashType: 0 | 1;
  algorithm: string;
  dataBlockSize: number;
  hashBlockSize: number;
  dataBlocks: number;
  /** Hex, or `-` for none. */
  salt: string;
  rootHash: string;
  hashOffset?: number;
  superblock?: boolean;
  fecRoots?: number;
  /** Byte offset of the FEC data in its device, and the number of blocks it covers (for the dm table). */
  fecOffset?: number;
  fecBlocks?: number;
  /** The superblock's uuid, when there is one. */
  uuid?: string;
}

/** The versioned document describing a built image: what gets signed, published and rolled out. */
export interface ImageRecord {
  schemaVersion: 1;
  name: string;
  version: string;
  variant?: string;
  arch?: string;
  recipeDigest?: DigestString;
  lockDigest?: DigestString;
  baseImages?: { ref: string; digest: DigestString; platform?: string }[];
  filesystem?: { type: 'erofs' | 'squashfs' | 'ext4'; size: number; digest?: DigestString };
  verity?: VerityRecord;
  partitions?: PartitionRecord[];
  artifacts: Artifact[];
  kernelArguments?: string[];
  sbom?: { path: string; digest: DigestString; format: 'spdx-2.3' };
  builder?: { name: 'drover'; version: string };
  /** RFC 3339, derived from sourceDateEpoch so records are reproducible. */
  created?: string;
}

/** A reference to a published image: where it lives and its content address. */
export interface ImageRef {
  /** Provider-specific location (`local:sha256:…`, `oci://registry/repo@sha256:…`). */
  uri: string;
  /** Digest of the image record. */
  digest: DigestString;
  version?: string;
}

/** Where a fleet member stands. */
export type MemberState =
  | 'ready'
  | 'updating'
  | 'rebooting'
  | 'unhealthy'
  | 'unavailable'
  | 'replacing'
  | 'gone';

/** One node of a fleet as the rollout engine sees it. */
export interface FleetMember {
  id: string;
  region?: string;
  zone?: string;
  group?: string;
  /** The image the member currently runs. */
  image?: ImageRef;
  state: MemberState;
  /** 0..2047, for seeded time waves. */
  seed?: number;
  labels?: Record<string, string>;
}

/** The outcome of a health check on one member. */
export interface HealthResult {
  healthy: boolean;
  reason?: string;
  /** When the check ran, RFC 3339. */
  checkedAt: string;
}

/** Disruption limits a fleet imposes on top of the rollout's own budget. */
export interface FleetConstraints {
  /** Members that may be unavailable at once, fleet-wide (absent: no extra limit). */
  maxUnavailable?: number;
  /** Per-zone limits. */
  maxUnavailablePerZone?: Record<string, number>;
  /** Extra members that can be created during replacement. */
  surgeCapacity?: number;
}

/** A set of machines a rollout can change: local A/B nodes, a Kubernetes node pool, an Auto Scaling group. */
export interface Fleet {
  id: string;
  members(ctx?: Context): Promise<FleetMember[]>;
  /** Update in place (A/B). Optional: some fleets only replace. */
  update?(member: FleetMember, image: ImageRef, ctx?: Context): Promise<FleetMember>;
  /** Replace the member with a new one running `image`. Optional: some fleets only update in place. */
  replace?(member: FleetMember, image: ImageRef, ctx?: Context): Promise<FleetMember>;
  health(member: FleetMember, ctx?: Context): Promise<HealthResult>;
  constraints?(ctx?: Context): Promise<FleetConstraints>;
}

/** A local path or stream to an artifact file handed to a publisher. */
export interface ArtifactSource extends Artifact {
  /** Absolute path of the file on this machine. */
  file: string;
}

/** Where images are published and channels point: a local store, an OCI registry, GitHub releases, AWS. */
export interface Publisher {
  id: string;
  /** Idempotent: publishing the same record twice returns the same reference. */
  publish(record: ImageRecord, artifacts: ArtifactSource[], ctx?: Context): Promise<ImageRef>;
  resolve(channel: string, ctx?: Context): Promise<ImageRef | undefined>;
  promote(channel: string, ref: ImageRef, ctx?: Context): Promise<void>;
  list(ctx?: Context): Promise<ImageRef[]>;
  retire(ref: ImageRef, ctx?: Context): Promise<void>;
}

/** A lease on a rollout, so two controllers never drive it at once. */
export interface Lease {
  holder: string;
  /** Epoch milliseconds after which the lease may be taken over. */
  expiresAt: number;
  release(): Promise<void>;
  renew(ttlMs: number): Promise<void>;
}

/** Durable journal plus lock for rollouts: file by default, Kubernetes or S3 where the fleet lives. */
export interface StateStore {
  id: string;
  /** Append one entry durably (fsync or equivalent) before returning. */
  append(rolloutId: string, entry: Record<string, unknown>, ctx?: Context): Promise<void>;
  read(rolloutId: string, ctx?: Context): Promise<Record<string, unknown>[]>;
  /** Take the rollout's lease or throw `LOCK_HELD` naming the holder. */
  acquire(rolloutId: string, holder: string, ttlMs: number, ctx?: Context): Promise<Lease>;
}
